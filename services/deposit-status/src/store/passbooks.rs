//! Passbook rows.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{StoreError, corrupt, format_instant, parse_date, parse_instant};

/// A passbook's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassbookStatus {
    /// In use.
    Active,
    /// Reported lost: withdrawals are rejected.
    ReportedLost,
    /// Replaced by a reissued passbook: the number is dead.
    Replaced,
}

impl PassbookStatus {
    fn as_str(self) -> &'static str {
        match self {
            PassbookStatus::Active => "active",
            PassbookStatus::ReportedLost => "reported_lost",
            PassbookStatus::Replaced => "replaced",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "active" => Ok(PassbookStatus::Active),
            "reported_lost" => Ok(PassbookStatus::ReportedLost),
            "replaced" => Ok(PassbookStatus::Replaced),
            other => Err(corrupt("passbooks", "status", other)),
        }
    }
}

/// A passbook as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassbookRow {
    pub passbook_number: String,
    pub customer_id: String,
    pub customer_name: String,
    pub masked_id_number: String,
    pub branch_id: String,
    pub status: PassbookStatus,
    pub opened_at: DateTime<Utc>,
    pub reported_lost_at: Option<DateTime<Utc>>,
    pub replaces_passbook_number: Option<String>,
    pub replaced_by_passbook_number: Option<String>,
    pub reissued_on: Option<NaiveDate>,
}

/// The fields of a passbook being opened.
#[derive(Debug, Clone)]
pub struct NewPassbook<'a> {
    pub passbook_number: &'a str,
    pub customer_id: &'a str,
    pub customer_name: &'a str,
    pub masked_id_number: &'a str,
    pub branch_id: &'a str,
    pub opened_at: DateTime<Utc>,
    pub replaces_passbook_number: Option<&'a str>,
    pub reissued_on: Option<NaiveDate>,
}

const COLUMNS: &str = "passbook_number, customer_id, customer_name, masked_id_number, branch_id, status, \
                       opened_at, reported_lost_at, replaces_passbook_number, replaced_by_passbook_number, reissued_on";

fn from_row(row: &AnyRow) -> Result<PassbookRow, StoreError> {
    let optional_instant = |column: &'static str| -> Result<Option<DateTime<Utc>>, StoreError> {
        row.try_get::<Option<String>, _>(column)?
            .map(|text| parse_instant("passbooks", column, &text))
            .transpose()
    };
    Ok(PassbookRow {
        passbook_number: row.try_get("passbook_number")?,
        customer_id: row.try_get("customer_id")?,
        customer_name: row.try_get("customer_name")?,
        masked_id_number: row.try_get("masked_id_number")?,
        branch_id: row.try_get("branch_id")?,
        status: PassbookStatus::parse(&row.try_get::<String, _>("status")?)?,
        opened_at: parse_instant("passbooks", "opened_at", &row.try_get::<String, _>("opened_at")?)?,
        reported_lost_at: optional_instant("reported_lost_at")?,
        replaces_passbook_number: row.try_get("replaces_passbook_number")?,
        replaced_by_passbook_number: row.try_get("replaced_by_passbook_number")?,
        reissued_on: row
            .try_get::<Option<String>, _>("reissued_on")?
            .map(|text| parse_date("passbooks", "reissued_on", &text))
            .transpose()?,
    })
}

/// Returns the passbook numbered `passbook_number`.
pub async fn find_passbook(
    connection: &mut AnyConnection,
    passbook_number: &str,
) -> Result<Option<PassbookRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM passbooks WHERE passbook_number = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(passbook_number)
        .fetch_optional(connection)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Inserts an active passbook. Fails with a unique violation when the number
/// exists.
pub async fn insert_passbook(
    connection: &mut AnyConnection,
    passbook: &NewPassbook<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO passbooks (passbook_number, customer_id, customer_name, masked_id_number, branch_id, \
         status, opened_at, replaces_passbook_number, reissued_on) \
         VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8)",
    )
    .bind(passbook.passbook_number)
    .bind(passbook.customer_id)
    .bind(passbook.customer_name)
    .bind(passbook.masked_id_number)
    .bind(passbook.branch_id)
    .bind(format_instant(passbook.opened_at))
    .bind(passbook.replaces_passbook_number)
    .bind(passbook.reissued_on.map(|date| date.to_string()))
    .execute(connection)
    .await?;
    Ok(())
}

/// Marks an active passbook reported lost at `at`.
pub async fn mark_passbook_lost(
    connection: &mut AnyConnection,
    passbook_number: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE passbooks SET status = $2, reported_lost_at = $3 WHERE passbook_number = $1 AND status = 'active'",
    )
    .bind(passbook_number)
    .bind(PassbookStatus::ReportedLost.as_str())
    .bind(format_instant(at))
    .execute(connection)
    .await?;
    Ok(())
}

/// Marks `old_number` replaced by `new_number` and moves every deposit it
/// holds to the new number. The old number keeps its membership rows, so it
/// still lists what it held.
pub async fn replace_passbook(
    connection: &mut AnyConnection,
    old_number: &str,
    new_number: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE passbooks SET status = $2, replaced_by_passbook_number = $3 WHERE passbook_number = $1",
    )
    .bind(old_number)
    .bind(PassbookStatus::Replaced.as_str())
    .bind(new_number)
    .execute(&mut *connection)
    .await?;
    sqlx::query(
        "INSERT INTO passbook_deposits (passbook_number, deposit_id) \
         SELECT $2, deposit_id FROM deposits WHERE passbook_number = $1",
    )
    .bind(old_number)
    .bind(new_number)
    .execute(&mut *connection)
    .await?;
    // Every change to a deposit bumps its version, which voids attestations
    // issued against the old number.
    sqlx::query("UPDATE deposits SET passbook_number = $2, version = version + 1 WHERE passbook_number = $1")
        .bind(old_number)
        .bind(new_number)
        .execute(connection)
        .await?;
    Ok(())
}
