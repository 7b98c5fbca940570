//! Storage of the system of record: an embedded SQLite file by default, or
//! a PostgreSQL database shared by several replicas. Either is created or
//! migrated on start.
//!
//! Money and rates are exact decimals, never floats: TEXT on SQLite and
//! NUMERIC on PostgreSQL, written from `Decimal`'s text and read back as
//! text with `CAST(column AS TEXT)`. Every write runs in
//! [`Store::write`](storage::Database::write): under SQLite's write lock,
//! or as a SERIALIZABLE PostgreSQL transaction that is run again when it
//! conflicts with a concurrent one, so two writers never interleave between
//! a read and the write that depends on it.

mod attestations;
mod deposits;
mod passbooks;
mod rates;
mod settings;

pub use settings::{get_setting, put_setting};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::migrate::Migrator;
use storage::{DatabaseOptions, Migrators, TransactionError};

pub use attestations::{
    AttestationRow, ExecutionRow, find_attestation, find_execution_by_attestation, find_execution_by_order,
    insert_attestation, insert_execution,
};
pub use deposits::{
    DepositRow, DepositStatus, NewDeposit, apply_withdrawal, close_deposit, find_deposit, insert_deposit,
    list_passbook_deposits,
};
pub use passbooks::{
    NewPassbook, PassbookRow, PassbookStatus, find_passbook, insert_passbook, mark_passbook_lost,
    replace_passbook,
};
pub use rates::{DemandRateRow, demand_rate_on, find_demand_rate, insert_demand_rate, list_demand_rates};

/// The SQLite migrations in `services/deposit-status/migrations/sqlite`,
/// embedded at build time.
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
/// The PostgreSQL migrations in `services/deposit-status/migrations/postgres`,
/// the same schema in PostgreSQL's types.
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Handle to the database; cloning shares the pool.
pub type Store = storage::Database;

/// Opens the database at `url` (sqlite://PATH, created if missing, or
/// postgres://...) and applies its backend's pending migrations.
pub async fn open(url: &str, options: &DatabaseOptions) -> Result<Store, StoreError> {
    let migrators = Migrators {
        sqlite: &SQLITE_MIGRATOR,
        postgres: &POSTGRES_MIGRATOR,
    };
    Ok(Store::open(url, options, migrators).await?)
}

/// Errors from the store: the database failed, or a stored value is not what
/// this code writes (a corrupted or hand-edited row).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database driver failed, migrations included.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value could not be parsed.
    #[error("corrupt value in {table}.{column}: {value:?}")]
    Corrupt {
        /// Table of the bad value.
        table: &'static str,
        /// Column of the bad value.
        column: &'static str,
        /// The value as stored.
        value: String,
    },
}

impl StoreError {
    /// True for failures that may pass on retry: a locked or unreachable
    /// database, an exhausted pool, a lost connection, or a transaction
    /// that kept conflicting with concurrent ones.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Database(error) if storage::is_transient(error))
    }
}

impl TransactionError for StoreError {
    fn database_error(&self) -> Option<&sqlx::Error> {
        match self {
            StoreError::Database(error) => Some(error),
            StoreError::Corrupt { .. } => None,
        }
    }
}

pub use storage::format_instant;

fn parse_instant(table: &'static str, column: &'static str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|instant| instant.with_timezone(&Utc))
        .map_err(|_| corrupt(table, column, text))
}

fn parse_date(table: &'static str, column: &'static str, text: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| corrupt(table, column, text))
}

fn parse_decimal(table: &'static str, column: &'static str, text: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str_exact(text).map_err(|_| corrupt(table, column, text))
}

fn corrupt(table: &'static str, column: &'static str, value: &str) -> StoreError {
    StoreError::Corrupt {
        table,
        column,
        value: value.to_owned(),
    }
}
