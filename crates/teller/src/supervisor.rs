//! `teller supervisor`: the operations supervisor's (营运主管) commands:
//! list a branch's pending authorizations, show one with everything to
//! check, co-sign, reject.

use bank_proto::withdrawal::{Authorization, SupervisorFlag};
use clap::{Args, Subcommand};
use grpc_support::convert::require_text;
use serde_json::json;

use crate::client::{Api, ServiceUrls};
use crate::error::{Failure, invalid};
use crate::json;
use crate::lang::Lang;
use crate::output::Output;
use crate::render;
use crate::signing::{IdentityArgs, check_identifier};
use crate::terms;

/// Maximum length of a rejection reason in characters, as the service
/// enforces it.
const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, Subcommand)]
pub enum SupervisorCommand {
    /// List the pending authorizations of --branch, oldest first.
    List {
        /// Print one JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Show one authorization with everything to check before co-signing.
    Show {
        authorization_id: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Co-sign one or more authorizations as --staff-id with --key-file.
    /// Several authorizations share one co-signature only when none of them
    /// loses interest.
    Cosign {
        #[arg(required = true, num_args = 1..)]
        authorization_ids: Vec<String>,
        /// Print one JSON array instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Reject an authorization as --staff-id with --key-file. Final.
    Reject(RejectArgs),
}

#[derive(Debug, Args)]
pub struct RejectArgs {
    pub authorization_id: String,
    /// Why, in words the teller can pass on to the customer.
    #[arg(long)]
    pub reason: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(
    command: &SupervisorCommand,
    urls: &ServiceUrls,
    identity: &IdentityArgs,
    lang: Lang,
) -> Result<(), Failure> {
    match command {
        SupervisorCommand::List { json } => list(urls, identity, lang, *json).await,
        SupervisorCommand::Show {
            authorization_id,
            json,
        } => show(urls, lang, authorization_id, *json).await,
        SupervisorCommand::Cosign {
            authorization_ids,
            json,
        } => cosign(urls, identity, lang, authorization_ids, *json).await,
        SupervisorCommand::Reject(args) => reject(urls, identity, lang, args).await,
    }
}

async fn list(
    urls: &ServiceUrls,
    identity: &IdentityArgs,
    lang: Lang,
    json_output: bool,
) -> Result<(), Failure> {
    let branch = identity.branch(lang)?;
    let api = Api::new(urls, lang)?;
    let pending = api.list_pending(&branch).await?;
    if json_output {
        let values: Vec<serde_json::Value> = pending.iter().map(json::authorization).collect();
        println!("{}", serde_json::Value::Array(values));
        return Ok(());
    }
    let out = Output::new(lang, false);
    if pending.is_empty() {
        out.say(&match lang {
            Lang::ZhCn => format!("网点 {branch} 没有待授权的支取。"),
            Lang::En => format!("Branch {branch} has no authorization waiting for a supervisor."),
        });
        return Ok(());
    }
    out.say(&match lang {
        Lang::ZhCn => format!("网点 {branch} 待授权支取 {} 笔（先提交的在前）：", pending.len()),
        Lang::En => format!(
            "Branch {branch}: {} authorization(s) waiting, oldest first:",
            pending.len()
        ),
    });
    let headers = [
        lang.pick("授权编号", "Authorization"),
        lang.pick("提交时间", "Submitted"),
        lang.pick("柜员", "Teller"),
        lang.pick("存折", "Passbook"),
        lang.pick("存款", "Deposit"),
        lang.pick("支取本金", "Amount"),
        lang.pick("利息损失", "Interest lost"),
        lang.pick("客户确认", "Customer"),
        lang.pick("状态", "State"),
        lang.pick("重点核对", "Flags"),
    ];
    let rows: Vec<(Vec<String>, bool)> = pending
        .iter()
        .map(|authorization| {
            let quote = authorization
                .attestation
                .as_ref()
                .and_then(|attestation| attestation.quote.clone())
                .unwrap_or_default();
            let customer = if !render::loses_interest(authorization) {
                lang.pick("无需", "not needed")
            } else if authorization.acknowledgement.is_some() {
                lang.pick("已确认", "acknowledged")
            } else {
                lang.pick("未确认", "not yet")
            };
            let unmatured = authorization.flags.contains(&(SupervisorFlag::Unmatured as i32));
            (
                vec![
                    authorization.authorization_id.clone(),
                    render::time(authorization.created_at.as_ref()),
                    authorization.teller_staff_id.clone(),
                    authorization.passbook_number.clone(),
                    authorization.deposit_id.clone(),
                    render::amount(authorization.amount.as_ref()),
                    render::amount(quote.interest_loss.as_ref()),
                    customer.to_owned(),
                    terms::authorization_state(authorization.state(), lang).to_owned(),
                    flags(authorization, lang),
                ],
                unmatured,
            )
        })
        .collect();
    let right = [false, false, false, false, false, true, true, false, false, false];
    print!("{}", render::table(&headers, &rows, &right, out.style));
    Ok(())
}

fn flags(authorization: &Authorization, lang: Lang) -> String {
    let names: Vec<&str> = authorization
        .flags
        .iter()
        .map(|flag| {
            let flag = SupervisorFlag::try_from(*flag).unwrap_or(SupervisorFlag::Unspecified);
            match flag {
                SupervisorFlag::Unmatured => lang.pick("⚠ 未到期", "⚠ unmatured"),
                other => terms::flag(other, lang),
            }
        })
        .collect();
    names.join(lang.pick("、", ", "))
}

async fn show(
    urls: &ServiceUrls,
    lang: Lang,
    authorization_id: &str,
    json_output: bool,
) -> Result<(), Failure> {
    check_identifier(lang, "AUTHORIZATION_ID", authorization_id)?;
    let api = Api::new(urls, lang)?;
    let authorization = api.get_authorization(authorization_id).await?;
    if json_output {
        let mut value = json::authorization(&authorization);
        if let Some(text) = render::disclosure(&authorization, lang) {
            value["disclosure_text"] = json!(text.text);
        }
        println!("{value}");
        return Ok(());
    }
    let out = Output::new(lang, false);
    out.say(&render::authorization(&authorization, lang, out.style));
    if let Some(text) = render::disclosure(&authorization, lang) {
        out.say(
            &out.style
                .bold(lang.pick("—— 利息损失告知全文 ——", "—— Disclosure shown to the customer ——")),
        );
        out.say(text.text.trim_end());
    }
    Ok(())
}

async fn cosign(
    urls: &ServiceUrls,
    identity: &IdentityArgs,
    lang: Lang,
    authorization_ids: &[String],
    json_output: bool,
) -> Result<(), Failure> {
    for id in authorization_ids {
        check_identifier(lang, "AUTHORIZATION_ID", id)?;
    }
    let supervisor = identity.signer(lang)?;
    let api = Api::new(urls, lang)?;
    let out = Output::new(lang, json_output);
    let mut current = Vec::with_capacity(authorization_ids.len());
    for id in authorization_ids {
        current.push(api.get_authorization(id).await?);
    }
    // The supervisor signs the digests of exactly the content shown here.
    for authorization in &current {
        out.say(&render::authorization(authorization, lang, out.style));
    }
    let references: Vec<&Authorization> = current.iter().collect();
    let cosigned = api.co_sign(supervisor.co_sign(&references)).await?;
    if json_output {
        let values: Vec<serde_json::Value> = cosigned.iter().map(json::authorization).collect();
        println!("{}", serde_json::Value::Array(values));
    } else {
        for authorization in &cosigned {
            out.say(&out.style.good(&match lang {
                Lang::ZhCn => format!(
                    "✓ 营运主管 {} 已授权 {}，当前状态：{}",
                    supervisor.staff_id,
                    authorization.authorization_id,
                    terms::authorization_state(authorization.state(), lang)
                ),
                Lang::En => format!(
                    "✓ Supervisor {} co-signed {}, now {}",
                    supervisor.staff_id,
                    authorization.authorization_id,
                    terms::authorization_state(authorization.state(), lang)
                ),
            }));
        }
    }
    Ok(())
}

async fn reject(
    urls: &ServiceUrls,
    identity: &IdentityArgs,
    lang: Lang,
    args: &RejectArgs,
) -> Result<(), Failure> {
    check_identifier(lang, "AUTHORIZATION_ID", &args.authorization_id)?;
    require_text("--reason", &args.reason, MAX_REASON_CHARS).map_err(|_| {
        invalid(
            lang,
            format!("--reason 无效：须写明拒绝原因，1 到 {MAX_REASON_CHARS} 个字符，不含控制字符。"),
            format!("invalid --reason: give the reason in 1 to {MAX_REASON_CHARS} characters without control characters."),
        )
    })?;
    let supervisor = identity.signer(lang)?;
    let api = Api::new(urls, lang)?;
    let authorization = api.get_authorization(&args.authorization_id).await?;
    let rejected = api
        .reject(supervisor.reject(&authorization, args.reason.trim()))
        .await?;
    if args.json {
        println!("{}", json::authorization(&rejected));
    } else {
        println!(
            "{}",
            match lang {
                Lang::ZhCn => format!(
                    "营运主管 {} 已拒绝授权 {}，原因：{}",
                    supervisor.staff_id,
                    rejected.authorization_id,
                    args.reason.trim()
                ),
                Lang::En => format!(
                    "Supervisor {} rejected authorization {}: {}",
                    supervisor.staff_id,
                    rejected.authorization_id,
                    args.reason.trim()
                ),
            }
        );
    }
    Ok(())
}
