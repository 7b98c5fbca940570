//! Posted demand rates, with their history.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use storage::{BackendSql, decimal_param};

use super::{StoreError, format_instant, parse_date, parse_decimal, parse_instant};

/// A posted demand rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemandRateRow {
    pub currency_code: String,
    pub effective_from: NaiveDate,
    pub rate_percent: Decimal,
    pub posted_at: DateTime<Utc>,
}

fn from_row(row: &AnyRow) -> Result<DemandRateRow, StoreError> {
    Ok(DemandRateRow {
        currency_code: row.try_get("currency_code")?,
        effective_from: parse_date(
            "demand_rates",
            "effective_from",
            &row.try_get::<String, _>("effective_from")?,
        )?,
        rate_percent: parse_decimal(
            "demand_rates",
            "rate_percent",
            &row.try_get::<String, _>("rate_percent")?,
        )?,
        posted_at: parse_instant(
            "demand_rates",
            "posted_at",
            &row.try_get::<String, _>("posted_at")?,
        )?,
    })
}

/// Returns the rate in force on `on`: the one with the latest effective date
/// not after `on`.
pub async fn demand_rate_on(
    connection: &mut AnyConnection,
    currency_code: &str,
    on: NaiveDate,
) -> Result<Option<DemandRateRow>, StoreError> {
    let row = sqlx::query(
        "SELECT currency_code, effective_from, CAST(rate_percent AS TEXT) AS rate_percent, posted_at \
         FROM demand_rates WHERE currency_code = $1 AND effective_from <= $2 ORDER BY effective_from DESC LIMIT 1",
    )
    .bind(currency_code)
    .bind(on.to_string())
    .fetch_optional(connection)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Returns every posted rate of a currency, newest effective date first.
pub async fn list_demand_rates(
    connection: &mut AnyConnection,
    currency_code: &str,
) -> Result<Vec<DemandRateRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT currency_code, effective_from, CAST(rate_percent AS TEXT) AS rate_percent, posted_at \
         FROM demand_rates WHERE currency_code = $1 ORDER BY effective_from DESC",
    )
    .bind(currency_code)
    .fetch_all(connection)
    .await?;
    rows.iter().map(from_row).collect()
}

static INSERT_DEMAND_RATE: BackendSql = BackendSql::new(|backend| {
    format!(
        "INSERT INTO demand_rates (currency_code, effective_from, rate_percent, posted_at) VALUES ($1, $2, {}, $4)",
        decimal_param(backend, 3)
    )
});

/// Returns the rate posted for `currency_code` from `effective_from`, if
/// any.
pub async fn find_demand_rate(
    connection: &mut AnyConnection,
    currency_code: &str,
    effective_from: NaiveDate,
) -> Result<Option<DemandRateRow>, StoreError> {
    let row = sqlx::query(
        "SELECT currency_code, effective_from, CAST(rate_percent AS TEXT) AS rate_percent, posted_at \
         FROM demand_rates WHERE currency_code = $1 AND effective_from = $2",
    )
    .bind(currency_code)
    .bind(effective_from.to_string())
    .fetch_optional(connection)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Posts a rate. Fails with a unique violation when one is already posted for
/// that currency and date.
pub async fn insert_demand_rate(
    connection: &mut AnyConnection,
    rate: &DemandRateRow,
) -> Result<(), StoreError> {
    sqlx::query(INSERT_DEMAND_RATE.for_connection(connection))
        .bind(&rate.currency_code)
        .bind(rate.effective_from.to_string())
        .bind(rate.rate_percent.to_string())
        .bind(format_instant(rate.posted_at))
        .execute(connection)
        .await?;
    Ok(())
}
