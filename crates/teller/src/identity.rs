//! The identity check done at the counter: the depositor's document and,
//! when an agent (代理人) acts for them, the agent's.

use bank_proto::withdrawal::{IdDocumentType, IdentityCheck};
use clap::{Args, ValueEnum};
use grpc_support::convert::{require_masked_id_number, require_text};

use crate::error::{Failure, invalid};
use crate::lang::Lang;

/// Maximum length of an agent name in characters, as the service enforces
/// it.
const MAX_AGENT_NAME_CHARS: usize = 100;

/// Kinds of identity document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IdType {
    /// 居民身份证
    ResidentIdCard,
    /// 护照
    Passport,
    /// 港澳居民来往内地通行证
    HkMacaoPermit,
    /// 台湾居民来往大陆通行证
    TaiwanPermit,
    /// 外国人永久居留身份证
    ForeignPermanentResidentCard,
}

impl From<IdType> for IdDocumentType {
    fn from(id_type: IdType) -> Self {
        match id_type {
            IdType::ResidentIdCard => IdDocumentType::ResidentIdCard,
            IdType::Passport => IdDocumentType::Passport,
            IdType::HkMacaoPermit => IdDocumentType::HkMacaoPermit,
            IdType::TaiwanPermit => IdDocumentType::TaiwanPermit,
            IdType::ForeignPermanentResidentCard => IdDocumentType::ForeignPermanentResidentCard,
        }
    }
}

/// Flags of the identity check. Document numbers are masked, for example
/// 110***********1234: the services reject full numbers.
#[derive(Debug, Clone, Args)]
pub struct CustomerIdArgs {
    /// Depositor's document type.
    #[arg(long, value_enum)]
    pub id_type: IdType,
    /// Depositor's masked document number, for example 110***********1234.
    #[arg(long)]
    pub id_number: String,
    /// Agent's name, when an agent acts for the depositor.
    #[arg(long, requires_all = ["agent_id_type", "agent_id_number"])]
    pub agent_name: Option<String>,
    /// Agent's document type.
    #[arg(long, value_enum, requires = "agent_name")]
    pub agent_id_type: Option<IdType>,
    /// Agent's masked document number.
    #[arg(long, requires = "agent_name")]
    pub agent_id_number: Option<String>,
}

impl CustomerIdArgs {
    /// Checks the flags and returns the identity check to sign.
    pub fn identity_check(&self, lang: Lang) -> Result<IdentityCheck, Failure> {
        check_masked(lang, "--id-number", &self.id_number)?;
        let mut check = IdentityCheck {
            depositor_checked: true,
            depositor_id_type: IdDocumentType::from(self.id_type) as i32,
            depositor_masked_id_number: self.id_number.clone(),
            ..IdentityCheck::default()
        };
        if let (Some(name), Some(id_type), Some(number)) =
            (&self.agent_name, self.agent_id_type, &self.agent_id_number)
        {
            require_text("--agent-name", name, MAX_AGENT_NAME_CHARS).map_err(|_| {
                invalid(
                    lang,
                    format!("--agent-name 的值 {name:?} 无效，应为 1 到 {MAX_AGENT_NAME_CHARS} 个字符且不含控制字符。"),
                    format!(
                        "invalid value {name:?} for --agent-name: expected 1 to {MAX_AGENT_NAME_CHARS} characters without control characters."
                    ),
                )
            })?;
            check_masked(lang, "--agent-id-number", number)?;
            check.agent = true;
            check.agent_name = name.trim().to_owned();
            check.agent_id_type = IdDocumentType::from(id_type) as i32;
            check.agent_masked_id_number = number.clone();
        }
        Ok(check)
    }
}

fn check_masked(lang: Lang, flag: &str, number: &str) -> Result<(), Failure> {
    require_masked_id_number(flag, number).map(|_| ()).map_err(|_| {
        invalid(
            lang,
            format!(
                "{flag} 的值无效：应为遮蔽后的证件号码，例如 110***********1234（只含字母、数字和“*”，至少遮蔽一位）。不要输入完整证件号码。"
            ),
            format!(
                "invalid value for {flag}: expected a masked document number such as 110***********1234 (letters, digits and \"*\", at least one masked). Never enter a full number."
            ),
        )
    })
}
