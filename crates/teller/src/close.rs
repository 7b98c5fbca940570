//! `teller close`: a passbook closure (一本通销户). Every deposit still open
//! is withdrawn whole under one teller-signed instruction. Each unmatured
//! deposit gets its own disclosure confirmation and its own co-signature;
//! the others may share one co-signature.

use std::time::Duration;

use bank_proto::withdrawal::{Authorization, PassbookClosureInstruction};
use chrono::Utc;
use clap::Args;
use grpc_support::convert::{format_amount_grouped, to_timestamp};
use rust_decimal::Decimal;
use serde_json::json;

use crate::authorize::{self, ConfirmArgs};
use crate::client::{Api, ServiceUrls, request_id};
use crate::error::Failure;
use crate::identity::CustomerIdArgs;
use crate::json;
use crate::lang::Lang;
use crate::output::Output;
use crate::render;
use crate::signing::{IdentityArgs, check_identifier};
use crate::terms;

/// Flags of `teller close`.
#[derive(Debug, Args)]
pub struct CloseArgs {
    /// Passbook number presented by the customer.
    #[arg(long)]
    pub passbook: String,
    #[command(flatten)]
    pub customer: CustomerIdArgs,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
    /// Print JSON lines on stdout instead of text: one per finished stage,
    /// the last one {"stage": "result", ...}.
    #[arg(long)]
    pub json: bool,
}

/// Runs the closure: passbook view, attestations, signed instruction, the
/// disclosures and co-signatures, then every release with its slip.
pub async fn run(
    args: &CloseArgs,
    urls: &ServiceUrls,
    identity: &IdentityArgs,
    lang: Lang,
) -> Result<(), Failure> {
    let out = Output::new(lang, args.json);
    check_identifier(lang, "--passbook", &args.passbook)?;
    let identity_check = args.customer.identity_check(lang)?;
    let branch = identity.branch(lang)?;
    let teller = identity.signer(lang)?;
    let supervisor = args.confirm.validate(lang, &teller.staff_id)?;
    let api = Api::new(urls, lang)?;

    let view = api.get_passbook(&args.passbook).await?;
    out.say(&render::passbook(&view, lang, out.style));
    out.stage(json!({"stage": "passbook", "passbook": json::passbook(&view)}));
    let open: Vec<&str> = view
        .deposits
        .iter()
        .filter(|deposit| terms::is_open(deposit.state()))
        .map(|deposit| deposit.deposit_id.as_str())
        .collect();
    if open.is_empty() {
        return Err(Failure::Failed(match lang {
            Lang::ZhCn => format!(
                "错误：存折 {} 没有未支取的定期存款，无需销户支取。",
                args.passbook
            ),
            Lang::En => format!(
                "error: passbook {} has no deposit left to withdraw.",
                args.passbook
            ),
        }));
    }

    let mut attestations = Vec::with_capacity(open.len());
    for deposit_id in &open {
        let issued = api.issue_attestation(&args.passbook, deposit_id, None).await?;
        attestations.push(issued.attestation.unwrap_or_default());
    }
    let request_id = request_id();
    let instruction = PassbookClosureInstruction {
        request_id: request_id.clone(),
        teller_staff_id: teller.staff_id.clone(),
        branch_id: branch,
        passbook_number: args.passbook.clone(),
        identity_check: Some(identity_check),
        maturity_attestations: attestations,
        signed_at: Some(to_timestamp(Utc::now())),
    };
    let signed = teller.sign(
        bank_proto::payload_type::PASSBOOK_CLOSURE_INSTRUCTION,
        &instruction,
    );
    let closure = api.submit_closure(request_id, signed).await?;
    out.say(&out.style.bold(&match lang {
        Lang::ZhCn => format!(
            "已提交一本通销户申请 {}，共 {} 笔存款，每笔一个授权：",
            closure.closure_id,
            closure.authorizations.len()
        ),
        Lang::En => format!(
            "Passbook closure {} submitted: {} deposits, one authorization each:",
            closure.closure_id,
            closure.authorizations.len()
        ),
    }));
    for authorization in &closure.authorizations {
        out.say(&summary_line(authorization, lang));
    }
    let values: Vec<serde_json::Value> = closure.authorizations.iter().map(json::authorization).collect();
    out.stage(json!({"stage": "submitted", "closure_id": closure.closure_id, "authorizations": values}));

    let (losing, plain): (Vec<&Authorization>, Vec<&Authorization>) = closure
        .authorizations
        .iter()
        .partition(|authorization| render::loses_interest(authorization));

    // First every customer confirmation, so that a refusal stops the closure
    // before anything is co-signed or paid.
    for (index, authorization) in losing.iter().enumerate() {
        out.say(&out.style.alert(&match lang {
            Lang::ZhCn => format!(
                "第 {}/{} 笔未到期存款 {}：须单独确认利息损失告知",
                index + 1,
                losing.len(),
                authorization.deposit_id
            ),
            Lang::En => format!(
                "Unmatured deposit {}/{} {}: needs its own disclosure confirmation",
                index + 1,
                losing.len(),
                authorization.deposit_id
            ),
        }));
        if render::needs_acknowledgement(authorization) {
            authorize::acknowledge(&api, &out, &teller, authorization, &args.confirm).await?;
        }
    }

    let all_ids: Vec<String> = closure
        .authorizations
        .iter()
        .map(|authorization| authorization.authorization_id.clone())
        .collect();
    match &supervisor {
        Some(supervisor) => {
            // Each authorization that loses interest needs a co-signature
            // of its own; the rest may share one.
            for authorization in &losing {
                let ids = [authorization.authorization_id.clone()];
                authorize::co_sign_on_site(&api, &out, supervisor, &ids, args.confirm.yes).await?;
            }
            if !plain.is_empty() {
                let ids: Vec<String> = plain
                    .iter()
                    .map(|authorization| authorization.authorization_id.clone())
                    .collect();
                authorize::co_sign_on_site(&api, &out, supervisor, &ids, args.confirm.yes).await?;
            }
        }
        None => {
            authorize::wait_for_cosignature(
                &api,
                &out,
                &all_ids,
                Duration::from_secs(args.confirm.wait_secs),
            )
            .await?;
        }
    }

    let mut payouts = Vec::with_capacity(all_ids.len());
    let mut total = Decimal::ZERO;
    for id in &all_ids {
        let payout = authorize::release(&api, &out, id).await?;
        if let Some(value) = payout
            .total
            .as_ref()
            .and_then(|money| Decimal::from_str_exact(&money.amount).ok())
        {
            total += value;
        }
        payouts.push(json::payout(id, &payout));
    }
    let total_text = format_amount_grouped(total, 2);
    out.say(&out.style.good(&match lang {
        Lang::ZhCn => format!(
            "✓ 一本通销户支取完成：共 {} 笔，本息合计 {total_text} 元。",
            payouts.len()
        ),
        Lang::En => format!(
            "✓ Passbook closure paid: {} deposits, {total_text} CNY in total.",
            payouts.len()
        ),
    }));
    out.stage(json!({
        "stage": "result",
        "status": "released",
        "closure_id": closure.closure_id,
        "payouts": payouts,
    }));
    Ok(())
}

fn summary_line(authorization: &Authorization, lang: Lang) -> String {
    let quote = authorization
        .attestation
        .as_ref()
        .and_then(|attestation| attestation.quote.clone())
        .unwrap_or_default();
    let marker = if render::loses_interest(authorization) {
        format!("{} ", render::UNMATURED_MARKER)
    } else {
        String::new()
    };
    match lang {
        Lang::ZhCn => format!(
            "  {marker}{} 存款 {}：{}，利息 {}，利息损失 {}",
            authorization.authorization_id,
            authorization.deposit_id,
            terms::withdrawal_kind(quote.withdrawal_kind(), lang),
            render::money(quote.interest.as_ref(), lang),
            render::money(quote.interest_loss.as_ref(), lang)
        ),
        Lang::En => format!(
            "  {marker}{} deposit {}: {}, interest {}, lost {}",
            authorization.authorization_id,
            authorization.deposit_id,
            terms::withdrawal_kind(quote.withdrawal_kind(), lang),
            render::money(quote.interest.as_ref(), lang),
            render::money(quote.interest_loss.as_ref(), lang)
        ),
    }
}
