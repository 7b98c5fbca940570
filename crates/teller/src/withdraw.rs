//! `teller withdraw`: one withdrawal from one deposit, from the maturity
//! attestation to the payout slip.

use std::time::Duration;

use bank_proto::withdrawal::WithdrawalInstruction;
use chrono::Utc;
use clap::{ArgGroup, Args};
use grpc_support::convert::to_timestamp;
use rust_decimal::Decimal;
use serde_json::json;

use crate::authorize::{self, ConfirmArgs};
use crate::client::{Api, ServiceUrls, cny, request_id};
use crate::error::Failure;
use crate::identity::CustomerIdArgs;
use crate::json;
use crate::lang::Lang;
use crate::output::Output;
use crate::quote;
use crate::render;
use crate::signing::{IdentityArgs, check_identifier};

/// Flags of `teller withdraw`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("how_much").required(true).args(["amount", "whole"])))]
pub struct WithdrawArgs {
    /// Passbook number presented by the customer.
    #[arg(long)]
    pub passbook: String,
    /// Deposit to withdraw from.
    #[arg(long)]
    pub deposit: String,
    /// Principal to withdraw in CNY, for example 20000.00 (a partial
    /// withdrawal).
    #[arg(long, value_name = "CNY")]
    pub amount: Option<String>,
    /// Withdraw the whole balance.
    #[arg(long)]
    pub whole: bool,
    #[command(flatten)]
    pub customer: CustomerIdArgs,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
    /// Print JSON lines on stdout instead of text: one per finished stage,
    /// the last one {"stage": "result", ...}.
    #[arg(long)]
    pub json: bool,
}

/// Runs the whole withdrawal: attestation, signed instruction, disclosure,
/// co-signature, release and slip.
pub async fn run(
    args: &WithdrawArgs,
    urls: &ServiceUrls,
    identity: &IdentityArgs,
    lang: Lang,
) -> Result<(), Failure> {
    let out = Output::new(lang, args.json);

    // Every input check comes before the first call, so invalid input
    // leaves nothing behind.
    check_identifier(lang, "--passbook", &args.passbook)?;
    check_identifier(lang, "--deposit", &args.deposit)?;
    let amount = match &args.amount {
        Some(text) => Some(
            quote::parse_amount("--amount", text, lang)
                .map_err(|error| Failure::Invalid(error.to_string()))?,
        ),
        None => None,
    };
    let amount_text = amount.map(|value: Decimal| {
        let mut value = value;
        value.rescale(2);
        value.to_string()
    });
    let identity_check = args.customer.identity_check(lang)?;
    let branch = identity.branch(lang)?;
    let teller = identity.signer(lang)?;
    let supervisor = args.confirm.validate(lang, &teller.staff_id)?;
    let api = Api::new(urls, lang)?;

    let issued = api
        .issue_attestation(&args.passbook, &args.deposit, amount_text.as_deref())
        .await?;
    let attestation = issued.attestation.unwrap_or_default();

    let request_id = request_id();
    let instruction = WithdrawalInstruction {
        request_id: request_id.clone(),
        teller_staff_id: teller.staff_id.clone(),
        branch_id: branch,
        passbook_number: args.passbook.clone(),
        deposit_id: args.deposit.clone(),
        amount: amount_text.as_deref().map(cny),
        whole_deposit: amount_text.is_none(),
        identity_check: Some(identity_check),
        maturity_attestation: Some(attestation),
        signed_at: Some(to_timestamp(Utc::now())),
    };
    let signed = teller.sign(bank_proto::payload_type::WITHDRAWAL_INSTRUCTION, &instruction);
    let authorization = api.submit_withdrawal(request_id, signed).await?;
    let authorization_id = authorization.authorization_id.clone();
    out.say(&out.style.bold(&match lang {
        Lang::ZhCn => format!("已提交支取申请，授权编号 {authorization_id}："),
        Lang::En => format!("Withdrawal submitted, authorization {authorization_id}:"),
    }));
    out.say(&render::authorization(&authorization, lang, out.style));
    out.stage(json!({"stage": "submitted", "authorization": json::authorization(&authorization)}));

    if render::needs_acknowledgement(&authorization) {
        authorize::acknowledge(&api, &out, &teller, &authorization, &args.confirm).await?;
    }

    let ids = [authorization_id.clone()];
    match &supervisor {
        Some(supervisor) => {
            authorize::co_sign_on_site(&api, &out, supervisor, &ids, args.confirm.yes).await?;
        }
        None => {
            authorize::wait_for_cosignature(&api, &out, &ids, Duration::from_secs(args.confirm.wait_secs))
                .await?;
        }
    }

    let payout = authorize::release(&api, &out, &authorization_id).await?;
    out.stage(json!({
        "stage": "result",
        "status": "released",
        "authorization_id": authorization_id,
        "payout": json::payout(&authorization_id, &payout),
    }));
    Ok(())
}
