//! `teller staff enroll`: enrolls a staff member with a first public key,
//! through withdrawal-authorization's admin listener.

use std::path::PathBuf;

use attestation::VerifyingKey;
use bank_proto::withdrawal::{EnrollStaffRequest, StaffRole};
use clap::{Args, Subcommand, ValueEnum};
use grpc_support::convert::require_text;

use crate::client::{Api, ServiceUrls, cny, request_id};
use crate::error::{Failure, invalid};
use crate::lang::Lang;
use crate::quote;
use crate::signing::check_identifier;

/// Maximum length of a staff name in characters, as the service enforces it.
const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Enroll a staff member with a first public key.
    Enroll(EnrollArgs),
}

/// Staff role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// 柜员: submits withdrawals.
    Teller,
    /// 营运主管: co-signs or rejects up to an approval limit.
    Supervisor,
    /// Reads audit trails.
    Auditor,
    /// Manages the staff directory.
    Admin,
}

impl From<RoleArg> for StaffRole {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Teller => StaffRole::Teller,
            RoleArg::Supervisor => StaffRole::Supervisor,
            RoleArg::Auditor => StaffRole::Auditor,
            RoleArg::Admin => StaffRole::Admin,
        }
    }
}

/// Flags of `teller staff enroll`. The member's id and branch are the
/// global --staff-id and --branch, which must be given on the command line
/// here: a value from TELLER_STAFF_ID would enroll the wrong person.
#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// Name as shown to colleagues and in the audit trail.
    #[arg(long)]
    pub name: String,
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// For supervisors: the largest payout (principal plus interest) they
    /// may co-sign, in CNY, for example 100000.00.
    #[arg(long, value_name = "CNY")]
    pub approval_limit: Option<String>,
    /// PEM "PUBLIC KEY" file, for example PATH.pub from teller keys generate.
    #[arg(long, value_name = "PATH")]
    pub public_key_file: PathBuf,
}

/// The member to enroll: staff id and branch, each `None` unless given on
/// the command line.
pub struct Member {
    pub staff_id: Option<String>,
    pub branch: Option<String>,
}

pub async fn run(
    command: &StaffCommand,
    member: &Member,
    urls: &ServiceUrls,
    lang: Lang,
) -> Result<(), Failure> {
    let StaffCommand::Enroll(args) = command;
    let (Some(staff_id), Some(branch)) = (&member.staff_id, &member.branch) else {
        return Err(invalid(
            lang,
            "staff enroll 须在命令行给出 --staff-id 和 --branch（不读取环境变量，以免把自己误登记为新员工）。".to_owned(),
            "staff enroll needs --staff-id and --branch on the command line (environment variables are ignored here, so the enrolled member is never you by mistake).".to_owned(),
        ));
    };
    check_identifier(lang, "--staff-id", staff_id)?;
    check_identifier(lang, "--branch", branch)?;
    require_text("--name", &args.name, MAX_NAME_CHARS).map_err(|_| {
        invalid(
            lang,
            format!("--name 无效：应为 1 到 {MAX_NAME_CHARS} 个字符，不含控制字符。"),
            format!("invalid --name: expected 1 to {MAX_NAME_CHARS} characters without control characters."),
        )
    })?;
    let approval_limit = match (&args.approval_limit, args.role) {
        (Some(text), RoleArg::Supervisor) => {
            let mut limit = quote::parse_amount("--approval-limit", text, lang)
                .map_err(|error| Failure::Invalid(error.to_string()))?;
            limit.rescale(2);
            Some(cny(&limit.to_string()))
        }
        (None, RoleArg::Supervisor) => {
            return Err(invalid(
                lang,
                "营运主管须给出 --approval-limit（授权额度，元）。".to_owned(),
                "a supervisor needs --approval-limit (CNY).".to_owned(),
            ));
        }
        (Some(_), _) => {
            return Err(invalid(
                lang,
                "只有营运主管有授权额度，请去掉 --approval-limit。".to_owned(),
                "only supervisors have an approval limit: drop --approval-limit.".to_owned(),
            ));
        }
        (None, _) => None,
    };
    let key = VerifyingKey::read_pem_file(&args.public_key_file).map_err(|error| {
        invalid(
            lang,
            format!("无法读取公钥文件 {}：{error}", args.public_key_file.display()),
            format!(
                "cannot read the public key file {}: {error}",
                args.public_key_file.display()
            ),
        )
    })?;
    let public_key_pem = key.to_public_key_pem().map_err(|error| {
        invalid(
            lang,
            format!("公钥无法编码：{error}"),
            format!("the public key cannot be encoded: {error}"),
        )
    })?;

    let api = Api::new(urls, lang)?;
    let member = api
        .enroll_staff(EnrollStaffRequest {
            request_id: request_id(),
            staff_id: staff_id.clone(),
            name: args.name.trim().to_owned(),
            branch_id: branch.clone(),
            role: StaffRole::from(args.role) as i32,
            approval_limit,
            public_key_pem,
            key_valid_from: None,
            key_valid_until: None,
        })
        .await?;
    match lang {
        Lang::ZhCn => println!(
            "已登记员工 {} {}（网点 {}），密钥编号 {}",
            member.staff_id,
            member.name,
            member.branch_id,
            key.key_id()
        ),
        Lang::En => println!(
            "enrolled {} {} (branch {}), key id {}",
            member.staff_id,
            member.name,
            member.branch_id,
            key.key_id()
        ),
    }
    Ok(())
}
