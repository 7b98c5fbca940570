//! `teller audit`: the trail of one authorization or passbook, and the
//! verification of the whole log from public keys alone.

use attestation::Keyring;
use bank_proto::withdrawal::StaffMember;
use clap::{ArgGroup, Args, Subcommand};
use grpc_support::convert::{parse_timestamp, verification_key_from_proto};
use serde_json::json;
use withdrawal_authorization::audit::{VerificationKeys, verify_records};
use withdrawal_authorization::store::StaffKeyRow;

use crate::client::{Api, ServiceUrls};
use crate::error::Failure;
use crate::json;
use crate::lang::Lang;
use crate::output::Output;
use crate::render;
use crate::signing::check_identifier;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the audit trail of one authorization or one passbook.
    Trail(TrailArgs),
    /// Fetch the whole audit log, the staff keys and deposit-status's
    /// attestation keys, and verify the hash chain and every release's
    /// attestation, teller and supervisor signatures. Exits 1 on any
    /// problem.
    Verify {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("subject").required(true).args(["authorization", "passbook"])))]
pub struct TrailArgs {
    /// The authorization whose trail to print.
    #[arg(long, value_name = "AUTHORIZATION_ID")]
    pub authorization: Option<String>,
    /// The passbook whose trail to print.
    #[arg(long, value_name = "PASSBOOK_NUMBER")]
    pub passbook: Option<String>,
    /// Print one JSON array instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(command: &AuditCommand, urls: &ServiceUrls, lang: Lang) -> Result<(), Failure> {
    match command {
        AuditCommand::Trail(args) => trail(args, urls, lang).await,
        AuditCommand::Verify { json } => verify(urls, lang, *json).await,
    }
}

async fn trail(args: &TrailArgs, urls: &ServiceUrls, lang: Lang) -> Result<(), Failure> {
    let authorization = args.authorization.clone().unwrap_or_default();
    let passbook = args.passbook.clone().unwrap_or_default();
    if !authorization.is_empty() {
        check_identifier(lang, "--authorization", &authorization)?;
    }
    if !passbook.is_empty() {
        check_identifier(lang, "--passbook", &passbook)?;
    }
    let api = Api::new(urls, lang)?;
    let records = api.audit_trail(&authorization, &passbook).await?;
    if args.json {
        println!("{}", json::audit_records(&records));
        return Ok(());
    }
    let out = Output::new(lang, false);
    let subject = if authorization.is_empty() {
        match lang {
            Lang::ZhCn => format!("存折 {passbook}"),
            Lang::En => format!("passbook {passbook}"),
        }
    } else {
        match lang {
            Lang::ZhCn => format!("授权 {authorization}"),
            Lang::En => format!("authorization {authorization}"),
        }
    };
    out.say(&match lang {
        Lang::ZhCn => format!("{subject} 的审计记录（{} 条）：", records.len()),
        Lang::En => format!("Audit trail of {subject} ({} records):", records.len()),
    });
    print!("{}", render::audit_trail(&records, lang, out.style));
    Ok(())
}

async fn verify(urls: &ServiceUrls, lang: Lang, json_output: bool) -> Result<(), Failure> {
    let api = Api::new(urls, lang)?;
    let records = api.audit_log().await?;
    let staff = api.list_staff().await?;
    let attestation_keys = api.deposit_status_keys().await?;

    let mut attestation = Keyring::new();
    for (index, key) in attestation_keys.iter().enumerate() {
        let published = verification_key_from_proto(&format!("keys[{index}]"), key)
            .map_err(|violation| bad_key(lang, "deposit-status", &violation.to_string()))?;
        attestation
            .insert(published.key, published.valid_from, published.valid_until)
            .map_err(|error| bad_key(lang, "deposit-status", &error.to_string()))?;
    }
    let keys = VerificationKeys {
        attestation,
        staff: staff_keys(&staff, lang)?,
    };
    let report = verify_records(&records, &keys);

    if json_output {
        let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        println!(
            "{}",
            json!({
                "records": report.records,
                "releases_verified": report.releases_verified,
                "problems": problems,
                "verified": report.problems.is_empty(),
            })
        );
    } else {
        let out = Output::new(lang, false);
        if report.problems.is_empty() {
            out.say(&out.style.good(&match lang {
                Lang::ZhCn => format!(
                    "✓ 审计日志校验通过：共 {} 条记录，哈希链完整，{} 笔放款的到期状态证明、柜员签名和主管授权签名均已核验。",
                    report.records, report.releases_verified
                ),
                Lang::En => format!(
                    "✓ Audit log verified: {} records, the hash chain is intact, and the attestation, teller and supervisor signatures of {} releases verify.",
                    report.records, report.releases_verified
                ),
            }));
        } else {
            out.say(&out.style.alert(&match lang {
                Lang::ZhCn => format!(
                    "✗ 审计日志校验失败：共 {} 条记录，发现 {} 个问题：",
                    report.records,
                    report.problems.len()
                ),
                Lang::En => format!(
                    "✗ Audit log verification failed: {} records, {} problems:",
                    report.records,
                    report.problems.len()
                ),
            }));
            for problem in &report.problems {
                out.say(&format!("  · {problem}"));
            }
        }
    }
    if report.problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(String::new()))
    }
}

/// Converts the published staff directory into the key rows the verifier
/// reads.
fn staff_keys(staff: &[StaffMember], lang: Lang) -> Result<Vec<StaffKeyRow>, Failure> {
    let mut rows = Vec::new();
    for member in staff {
        for (index, staff_key) in member.keys.iter().enumerate() {
            let field = format!("{}.keys[{index}]", member.staff_id);
            let Some(key) = &staff_key.key else {
                return Err(bad_key(lang, &member.staff_id, &format!("{field} has no key")));
            };
            let published = verification_key_from_proto(&field, key)
                .map_err(|violation| bad_key(lang, &member.staff_id, &violation.to_string()))?;
            let revoked_at = match &staff_key.revoked_at {
                Some(at) => Some(
                    parse_timestamp(&field, Some(at))
                        .map_err(|violation| bad_key(lang, &member.staff_id, &violation.to_string()))?,
                ),
                None => None,
            };
            rows.push(StaffKeyRow {
                key_id: published.key.key_id(),
                staff_id: member.staff_id.clone(),
                public_key: published.key.to_bytes().to_vec(),
                valid_from: published.valid_from,
                valid_until: published.valid_until,
                revoked_at,
            });
        }
    }
    Ok(rows)
}

fn bad_key(lang: Lang, owner: &str, detail: &str) -> Failure {
    Failure::Failed(match lang {
        Lang::ZhCn => format!("错误：{owner} 发布的公钥无效，无法校验：{detail}"),
        Lang::En => format!(
            "error: a public key published for {owner} is invalid, so nothing can be verified: {detail}"
        ),
    })
}
