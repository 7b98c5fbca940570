//! The gRPC handlers and the state they share.
//!
//! Each handler parses its request (reporting every bad field at once), does
//! its work in one database transaction, and converts a failure to a status in
//! one place, `From<DepositError> for tonic::Status`.

mod admin;
mod execute;
mod status;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use interest::{Deposit as InterestDeposit, Product, Quote, Rate, Term};
use rust_decimal::Decimal;
use sqlx::AnyConnection;

pub use admin::AdminService;
pub use status::StatusService;

use crate::clock::{BUSINESS_DATE_SETTING, BusinessClock, BusinessDate};
use crate::error::DepositError;
use crate::keys::ServiceKeys;
use crate::store::{self, DepositRow, Store, StoreError};

/// The state every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub store: Store,
    pub keys: ServiceKeys,
    pub clock: BusinessClock,
    pub attestation_lifetime: chrono::Duration,
}

/// Shared handle to the state.
pub type SharedState = Arc<AppState>;

impl AppState {
    /// Returns the business date, reading a stored override if overrides are
    /// allowed.
    pub async fn business_date(&self, connection: &mut AnyConnection) -> Result<BusinessDate, StoreError> {
        let stored = if self.clock.allows_override() {
            store::get_setting(connection, BUSINESS_DATE_SETTING)
                .await?
                .and_then(|text| text.parse::<NaiveDate>().ok())
        } else {
            None
        };
        Ok(self.clock.resolve(stored))
    }

    /// Current instant. One function so that every timestamp comes from the
    /// same clock.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The interest rules' view of a stored deposit: its current balance is the
/// principal that earns interest from here on.
pub fn interest_deposit(deposit: &DepositRow) -> Result<InterestDeposit, DepositError> {
    Ok(InterestDeposit {
        principal: deposit.balance,
        contract_rate: Rate::from_percent(deposit.contract_rate_percent)?,
        term: Term::try_from(deposit.term_months)?,
        opened_on: deposit.opened_on,
        product: Product {
            day_basis: deposit.day_basis,
            min_remaining_principal: deposit.minimum_remaining_principal,
            minor_unit_digits: grpc_support::convert::minor_unit_digits(&deposit.currency_code).unwrap_or(2),
        },
        partial_withdrawal_used: deposit.partial_withdrawal_used,
    })
}

/// Returns the demand rate in force on `on`, or an error naming the gap.
pub async fn demand_rate_on(
    connection: &mut AnyConnection,
    currency_code: &str,
    on: NaiveDate,
) -> Result<Rate, DepositError> {
    let row = store::demand_rate_on(connection, currency_code, on)
        .await?
        .ok_or_else(|| DepositError::DemandRateNotPosted {
            currency_code: currency_code.to_owned(),
            on,
        })?;
    Ok(Rate::from_percent(row.rate_percent)?)
}

/// Quotes withdrawing `amount` (or the whole balance for `None`) from an open
/// deposit on `on`, with the demand rate in force that day.
pub async fn quote_deposit(
    connection: &mut AnyConnection,
    deposit: &DepositRow,
    on: NaiveDate,
    amount: Option<Decimal>,
) -> Result<(Quote, Rate), DepositError> {
    let demand_rate = demand_rate_on(connection, &deposit.currency_code, on).await?;
    let quote = interest::quote(&interest_deposit(deposit)?, on, demand_rate, amount)?;
    Ok((quote, demand_rate))
}
