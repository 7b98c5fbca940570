//! Deposit rows.

use chrono::NaiveDate;
use interest::DayBasis;
use rust_decimal::Decimal;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use storage::{BackendSql, decimal_param};

use super::{StoreError, corrupt, parse_date, parse_decimal};

/// A deposit's lifecycle in the store. Maturity states are derived from the
/// business date and never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepositStatus {
    /// Holds a balance and can be withdrawn.
    Open,
    /// Paid out in full through a release order.
    Withdrawn,
    /// Closed by the core banking system without a payout here.
    Closed,
}

impl DepositStatus {
    fn as_str(self) -> &'static str {
        match self {
            DepositStatus::Open => "open",
            DepositStatus::Withdrawn => "withdrawn",
            DepositStatus::Closed => "closed",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "open" => Ok(DepositStatus::Open),
            "withdrawn" => Ok(DepositStatus::Withdrawn),
            "closed" => Ok(DepositStatus::Closed),
            other => Err(corrupt("deposits", "status", other)),
        }
    }
}

/// A deposit as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositRow {
    pub deposit_id: String,
    pub passbook_number: String,
    pub currency_code: String,
    pub principal: Decimal,
    pub balance: Decimal,
    pub term_months: u32,
    pub contract_rate_percent: Decimal,
    pub opened_on: NaiveDate,
    pub maturity_date: NaiveDate,
    pub product_code: String,
    pub day_basis: DayBasis,
    pub minimum_remaining_principal: Decimal,
    pub status: DepositStatus,
    pub partial_withdrawal_used: bool,
    pub version: i64,
    pub closed_reason: Option<String>,
}

/// The fields of a deposit being opened; it starts open at version 1 with its
/// balance equal to its principal.
#[derive(Debug, Clone)]
pub struct NewDeposit<'a> {
    pub deposit_id: &'a str,
    pub passbook_number: &'a str,
    pub currency_code: &'a str,
    pub principal: Decimal,
    pub term_months: u32,
    pub contract_rate_percent: Decimal,
    pub opened_on: NaiveDate,
    pub maturity_date: NaiveDate,
    pub product_code: &'a str,
    pub day_basis: DayBasis,
    pub minimum_remaining_principal: Decimal,
}

/// The columns of a deposit. Decimals are read as text, which keeps their
/// scale on both backends.
const COLUMNS: &str = "d.deposit_id, d.passbook_number, d.currency_code, \
                       CAST(d.principal AS TEXT) AS principal, CAST(d.balance AS TEXT) AS balance, d.term_months, \
                       CAST(d.contract_rate_percent AS TEXT) AS contract_rate_percent, d.opened_on, d.maturity_date, \
                       d.product_code, d.day_basis, \
                       CAST(d.minimum_remaining_principal AS TEXT) AS minimum_remaining_principal, d.status, \
                       d.partial_withdrawal_used, d.version, d.closed_reason";

static INSERT_DEPOSIT: BackendSql = BackendSql::new(|backend| {
    let decimal = |index| decimal_param(backend, index);
    format!(
        "INSERT INTO deposits (deposit_id, passbook_number, currency_code, principal, balance, term_months, \
         contract_rate_percent, opened_on, maturity_date, product_code, day_basis, minimum_remaining_principal, \
         status, partial_withdrawal_used, version) \
         VALUES ($1, $2, $3, {principal}, {principal}, $5, {rate}, $7, $8, $9, $10, {minimum}, 'open', 0, 1)",
        principal = decimal(4),
        rate = decimal(6),
        minimum = decimal(11),
    )
});

static APPLY_WITHDRAWAL: BackendSql = BackendSql::new(|backend| {
    format!(
        "UPDATE deposits SET balance = {}, status = $4, partial_withdrawal_used = $5, version = version + 1 \
         WHERE deposit_id = $1 AND version = $2 AND status = 'open'",
        decimal_param(backend, 3)
    )
});

fn from_row(row: &AnyRow) -> Result<DepositRow, StoreError> {
    let decimal = |column: &'static str| -> Result<Decimal, StoreError> {
        parse_decimal("deposits", column, &row.try_get::<String, _>(column)?)
    };
    let date = |column: &'static str| -> Result<NaiveDate, StoreError> {
        parse_date("deposits", column, &row.try_get::<String, _>(column)?)
    };
    let day_basis_text: String = row.try_get("day_basis")?;
    let term_months: i64 = row.try_get("term_months")?;
    Ok(DepositRow {
        deposit_id: row.try_get("deposit_id")?,
        passbook_number: row.try_get("passbook_number")?,
        currency_code: row.try_get("currency_code")?,
        principal: decimal("principal")?,
        balance: decimal("balance")?,
        term_months: u32::try_from(term_months)
            .map_err(|_| corrupt("deposits", "term_months", &term_months.to_string()))?,
        contract_rate_percent: decimal("contract_rate_percent")?,
        opened_on: date("opened_on")?,
        maturity_date: date("maturity_date")?,
        product_code: row.try_get("product_code")?,
        day_basis: day_basis_text
            .parse()
            .map_err(|_| corrupt("deposits", "day_basis", &day_basis_text))?,
        minimum_remaining_principal: decimal("minimum_remaining_principal")?,
        status: DepositStatus::parse(&row.try_get::<String, _>("status")?)?,
        partial_withdrawal_used: row.try_get::<i64, _>("partial_withdrawal_used")? != 0,
        version: row.try_get("version")?,
        closed_reason: row.try_get("closed_reason")?,
    })
}

/// Returns the deposit `deposit_id`.
pub async fn find_deposit(
    connection: &mut AnyConnection,
    deposit_id: &str,
) -> Result<Option<DepositRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM deposits d WHERE d.deposit_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(deposit_id)
        .fetch_optional(connection)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Returns every deposit the passbook holds or held, by opening date then id.
pub async fn list_passbook_deposits(
    connection: &mut AnyConnection,
    passbook_number: &str,
) -> Result<Vec<DepositRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM deposits d \
         JOIN passbook_deposits m ON m.deposit_id = d.deposit_id \
         WHERE m.passbook_number = $1 ORDER BY d.opened_on, d.deposit_id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(passbook_number)
        .fetch_all(connection)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Inserts a new open deposit and its passbook membership.
pub async fn insert_deposit(
    connection: &mut AnyConnection,
    deposit: &NewDeposit<'_>,
) -> Result<(), StoreError> {
    sqlx::query(INSERT_DEPOSIT.for_connection(connection))
        .bind(deposit.deposit_id)
        .bind(deposit.passbook_number)
        .bind(deposit.currency_code)
        .bind(deposit.principal.to_string())
        .bind(i64::from(deposit.term_months))
        .bind(deposit.contract_rate_percent.to_string())
        .bind(deposit.opened_on.to_string())
        .bind(deposit.maturity_date.to_string())
        .bind(deposit.product_code)
        .bind(deposit.day_basis.as_str())
        .bind(deposit.minimum_remaining_principal.to_string())
        .execute(&mut *connection)
        .await?;
    sqlx::query("INSERT INTO passbook_deposits (passbook_number, deposit_id) VALUES ($1, $2)")
        .bind(deposit.passbook_number)
        .bind(deposit.deposit_id)
        .execute(connection)
        .await?;
    Ok(())
}

/// Applies a withdrawal to the deposit if it is still at `expected_version`:
/// sets the new balance, status and partial flag and bumps the version.
/// Returns false when the version no longer matches.
pub async fn apply_withdrawal(
    connection: &mut AnyConnection,
    deposit_id: &str,
    expected_version: i64,
    new_balance: Decimal,
    new_status: DepositStatus,
    partial_withdrawal_used: bool,
) -> Result<bool, StoreError> {
    let result = sqlx::query(APPLY_WITHDRAWAL.for_connection(connection))
        .bind(deposit_id)
        .bind(expected_version)
        .bind(new_balance.to_string())
        .bind(new_status.as_str())
        .bind(i64::from(partial_withdrawal_used))
        .execute(connection)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Marks an open deposit closed outside this service and bumps its version.
pub async fn close_deposit(
    connection: &mut AnyConnection,
    deposit_id: &str,
    reason: &str,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE deposits SET status = 'closed', closed_reason = $2, version = version + 1 \
         WHERE deposit_id = $1 AND status = 'open'",
    )
    .bind(deposit_id)
    .bind(reason)
    .execute(connection)
    .await?;
    Ok(result.rows_affected() == 1)
}
