//! The `--json` output. Amounts are decimal strings exactly as the services
//! send them ("80184.67"), so no JSON reader turns them into binary floating
//! point. Enum values are lower-case codes; add fields, never rename them.

use bank_proto::common::Money;
use bank_proto::deposit::{GetPassbookResponse, Payout};
use bank_proto::withdrawal::{AuditEntry, AuditRecord, Authorization, SupervisorFlag};
use prost::Message;
use serde_json::{Value, json};

use crate::render;
use crate::terms;

fn amount(money: Option<&Money>) -> Value {
    match money {
        Some(money) => Value::String(money.amount.clone()),
        None => Value::Null,
    }
}

pub fn passbook(view: &GetPassbookResponse) -> Value {
    let passbook = view.passbook.clone().unwrap_or_default();
    let deposits: Vec<Value> = view
        .deposits
        .iter()
        .map(|deposit| {
            let quote = deposit.full_withdrawal_quote.as_ref();
            json!({
                "deposit_id": deposit.deposit_id,
                "state": terms::deposit_state_code(deposit.state()),
                "opened_on": deposit.opened_on,
                "term_months": deposit.term_months,
                "maturity_date": deposit.maturity_date,
                "contract_rate_percent": deposit.contract_rate_percent,
                "principal": amount(deposit.principal.as_ref()),
                "balance": amount(deposit.balance.as_ref()),
                "interest_now": amount(quote.and_then(|quote| quote.interest.as_ref())),
                "interest_at_maturity": amount(quote.and_then(|quote| quote.interest_at_maturity.as_ref())),
                "interest_loss": amount(quote.and_then(|quote| quote.interest_loss.as_ref())),
                "total_payout": amount(quote.and_then(|quote| quote.total_payout.as_ref())),
            })
        })
        .collect();
    json!({
        "passbook_number": passbook.passbook_number,
        "customer_name": passbook.customer_name,
        "masked_id_number": passbook.masked_id_number,
        "branch_id": passbook.branch_id,
        "status": terms::passbook_status_code(passbook.status()),
        "replaced_by_passbook_number": passbook.replaced_by_passbook_number,
        "business_date": view.business_date,
        "deposits": deposits,
    })
}

pub fn authorization(authorization: &Authorization) -> Value {
    let attestation = authorization.attestation.clone().unwrap_or_default();
    let quote = attestation.quote.clone().unwrap_or_default();
    let flags: Vec<&str> = authorization
        .flags
        .iter()
        .map(|flag| terms::flag_code(SupervisorFlag::try_from(*flag).unwrap_or(SupervisorFlag::Unspecified)))
        .collect();
    let requirements: Vec<Value> = authorization
        .requirements
        .iter()
        .map(|requirement| {
            json!({
                "kind": terms::requirement_code(requirement.kind()),
                "satisfied": requirement.satisfied,
            })
        })
        .collect();
    json!({
        "authorization_id": authorization.authorization_id,
        "closure_id": authorization.closure_id,
        "state": terms::authorization_state_code(authorization.state()),
        "teller_staff_id": authorization.teller_staff_id,
        "branch_id": authorization.branch_id,
        "passbook_number": authorization.passbook_number,
        "deposit_id": authorization.deposit_id,
        "amount": amount(authorization.amount.as_ref()),
        "whole_deposit": authorization.whole_deposit,
        "deposit_state": terms::deposit_state_code(attestation.deposit_state()),
        "maturity_date": attestation.maturity_date,
        "business_date": attestation.business_date,
        "contract_rate_percent": attestation.contract_rate_percent,
        "applied_rate_percent": quote.applied_rate_percent,
        "withdrawal_kind": terms::withdrawal_kind_code(quote.withdrawal_kind()),
        "interest": amount(quote.interest.as_ref()),
        "interest_at_maturity": amount(quote.interest_at_maturity.as_ref()),
        "interest_loss": amount(quote.interest_loss.as_ref()),
        "total_payout": amount(quote.total_payout.as_ref()),
        "flags": flags,
        "requirements": requirements,
        "disclosure_required": render::loses_interest(authorization),
        "acknowledged": authorization.acknowledgement.is_some(),
        "authorization_digest": authorization.authorization_digest,
        "order_id": authorization.order_id,
    })
}

pub fn payout(authorization_id: &str, payout: &Payout) -> Value {
    json!({
        "authorization_id": authorization_id,
        "order_id": payout.order_id,
        "passbook_number": payout.passbook_number,
        "deposit_id": payout.deposit_id,
        "withdrawal_kind": terms::withdrawal_kind_code(payout.withdrawal_kind()),
        "principal": amount(payout.principal.as_ref()),
        "interest": amount(payout.interest.as_ref()),
        "total": amount(payout.total.as_ref()),
        "remaining_balance": amount(payout.remaining_balance.as_ref()),
        "business_date": payout.business_date,
    })
}

pub fn audit_records(records: &[AuditRecord]) -> Value {
    let entries: Vec<Value> = records
        .iter()
        .map(|record| {
            let entry = AuditEntry::decode(record.entry.as_slice()).unwrap_or_default();
            json!({
                "sequence": entry.sequence,
                "recorded_at": render::time(entry.recorded_at.as_ref()),
                "event": entry.event_type().as_str_name(),
                "actor_staff_id": entry.actor_staff_id,
                "authorization_id": entry.authorization_id,
                "passbook_number": entry.passbook_number,
                "deposit_id": entry.deposit_id,
                "reason": entry.reason,
                "record_sha256": record.record_sha256,
            })
        })
        .collect();
    Value::Array(entries)
}
