//! Conversions from stored rows and interest quotes to protobuf messages.

use bank_proto::common::{
    DayBasis as ProtoDayBasis, InterestQuote, MaturityState as ProtoMaturityState,
    WithdrawalKind as ProtoWithdrawalKind,
};
use bank_proto::deposit::{
    DemandRate, Deposit, DepositProduct, DepositState, Passbook, PassbookStatus as ProtoPassbookStatus,
};
use chrono::NaiveDate;
use grpc_support::convert::{format_date, money, to_timestamp};
use interest::{DayBasis, MaturityState, Quote, Rate, WithdrawalKind};

use crate::store::{DemandRateRow, DepositRow, DepositStatus, PassbookRow, PassbookStatus};

/// Returns the deposit's state on `business_date`.
pub fn deposit_state(deposit: &DepositRow, business_date: NaiveDate) -> DepositState {
    match deposit.status {
        DepositStatus::Withdrawn => DepositState::Withdrawn,
        DepositStatus::Closed => DepositState::Closed,
        DepositStatus::Open => match MaturityState::determine(business_date, deposit.maturity_date) {
            MaturityState::Unmatured => DepositState::Unmatured,
            MaturityState::Matured => DepositState::Matured,
            MaturityState::Overdue => DepositState::Overdue,
        },
    }
}

/// Lower-case name of a deposit state, for messages.
pub fn deposit_state_name(state: DepositState) -> &'static str {
    match state {
        DepositState::Unspecified => "unspecified",
        DepositState::Unmatured => "unmatured",
        DepositState::Matured => "matured",
        DepositState::Overdue => "overdue",
        DepositState::Withdrawn => "withdrawn",
        DepositState::Closed => "closed",
    }
}

pub fn passbook_to_proto(passbook: &PassbookRow) -> Passbook {
    Passbook {
        passbook_number: passbook.passbook_number.clone(),
        customer_id: passbook.customer_id.clone(),
        customer_name: passbook.customer_name.clone(),
        masked_id_number: passbook.masked_id_number.clone(),
        branch_id: passbook.branch_id.clone(),
        status: match passbook.status {
            PassbookStatus::Active => ProtoPassbookStatus::Active,
            PassbookStatus::ReportedLost => ProtoPassbookStatus::ReportedLost,
            PassbookStatus::Replaced => ProtoPassbookStatus::Replaced,
        } as i32,
        opened_at: Some(to_timestamp(passbook.opened_at)),
        reported_lost_at: passbook.reported_lost_at.map(to_timestamp),
        replaces_passbook_number: passbook.replaces_passbook_number.clone().unwrap_or_default(),
        replaced_by_passbook_number: passbook.replaced_by_passbook_number.clone().unwrap_or_default(),
        reissued_on: passbook.reissued_on.map(format_date).unwrap_or_default(),
    }
}

pub fn day_basis_to_proto(day_basis: DayBasis) -> ProtoDayBasis {
    match day_basis {
        DayBasis::Actual360 => ProtoDayBasis::Actual360,
        DayBasis::Actual365 => ProtoDayBasis::Actual365,
    }
}

pub fn deposit_to_proto(
    deposit: &DepositRow,
    business_date: NaiveDate,
    full_quote: Option<InterestQuote>,
) -> Deposit {
    let currency = deposit.currency_code.as_str();
    Deposit {
        deposit_id: deposit.deposit_id.clone(),
        passbook_number: deposit.passbook_number.clone(),
        principal: Some(money(deposit.principal, currency)),
        balance: Some(money(deposit.balance, currency)),
        term_months: deposit.term_months as i32,
        contract_rate_percent: deposit.contract_rate_percent.to_string(),
        opened_on: format_date(deposit.opened_on),
        maturity_date: format_date(deposit.maturity_date),
        product: Some(DepositProduct {
            product_code: deposit.product_code.clone(),
            day_basis: day_basis_to_proto(deposit.day_basis) as i32,
            minimum_remaining_principal: Some(money(deposit.minimum_remaining_principal, currency)),
        }),
        state: deposit_state(deposit, business_date) as i32,
        partial_withdrawal_used: deposit.partial_withdrawal_used,
        version: deposit.version,
        full_withdrawal_quote: full_quote,
    }
}

/// Converts an interest quote for a deposit in `currency`.
pub fn quote_to_proto(
    quote: &Quote,
    currency: &str,
    contract_rate: Rate,
    demand_rate: Rate,
    day_basis: DayBasis,
) -> InterestQuote {
    InterestQuote {
        maturity_state: match quote.state {
            MaturityState::Unmatured => ProtoMaturityState::Unmatured,
            MaturityState::Matured => ProtoMaturityState::Matured,
            MaturityState::Overdue => ProtoMaturityState::Overdue,
        } as i32,
        withdrawal_kind: withdrawal_kind_to_proto(quote.kind) as i32,
        maturity_date: format_date(quote.maturity_date),
        business_date: format_date(quote.on),
        days_held: i64::from(quote.days_held),
        days_overdue: i64::from(quote.days_overdue),
        amount: Some(money(quote.amount_withdrawn, currency)),
        remaining_principal: Some(money(quote.remaining_principal, currency)),
        interest: Some(money(quote.interest, currency)),
        interest_at_maturity: Some(money(quote.interest_at_maturity, currency)),
        interest_loss: Some(money(quote.interest_loss, currency)),
        overdue_interest: Some(money(quote.overdue_interest, currency)),
        remaining_interest_at_maturity: Some(money(quote.remaining_interest_at_maturity, currency)),
        contract_rate_percent: contract_rate.percent().to_string(),
        demand_rate_percent: demand_rate.percent().to_string(),
        applied_rate_percent: quote.rate_applied.percent().to_string(),
        day_basis: day_basis_to_proto(day_basis) as i32,
        total_payout: Some(money(quote.amount_withdrawn + quote.interest, currency)),
    }
}

pub fn withdrawal_kind_to_proto(kind: WithdrawalKind) -> ProtoWithdrawalKind {
    match kind {
        WithdrawalKind::EarlyFull => ProtoWithdrawalKind::EarlyFull,
        WithdrawalKind::EarlyPartial => ProtoWithdrawalKind::EarlyPartial,
        WithdrawalKind::AtMaturity => ProtoWithdrawalKind::AtMaturity,
        WithdrawalKind::Overdue => ProtoWithdrawalKind::Overdue,
    }
}

pub fn demand_rate_to_proto(rate: &DemandRateRow) -> DemandRate {
    DemandRate {
        effective_from: format_date(rate.effective_from),
        rate_percent: rate.rate_percent.to_string(),
        currency_code: rate.currency_code.clone(),
        posted_at: Some(to_timestamp(rate.posted_at)),
    }
}
