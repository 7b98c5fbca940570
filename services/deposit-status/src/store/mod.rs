//! SQLite storage of the system of record: one file, created and migrated on
//! first start.
//!
//! Money and rates are stored as exact decimal text and parsed back into
//! `Decimal`; SQLite's REAL is never used. Every write runs in a transaction
//! opened with `BEGIN IMMEDIATE`, which takes SQLite's write lock up front, so
//! two writers never interleave between a read and the write that depends on
//! it.

mod attestations;
mod deposits;
mod passbooks;
mod rates;
mod settings;

pub use settings::{get_setting, put_setting};

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

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
pub use rates::{DemandRateRow, demand_rate_on, insert_demand_rate, list_demand_rates};

/// The migrations in `services/deposit-status/migrations`, embedded at build
/// time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A write transaction holding SQLite's write lock.
pub type WriteTransaction = Transaction<'static, Sqlite>;

/// Errors from the store: the database failed, or a stored value is not what
/// this code writes (a corrupted or hand-edited row).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database driver failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrating the schema failed.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
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
    /// True for failures that may pass on retry: a locked database, an
    /// exhausted pool or a lost connection.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_),
            ) => true,
            StoreError::Database(sqlx::Error::Database(error)) => {
                // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with extended codes.
                matches!(error.code().as_deref().and_then(|code| code.parse::<i32>().ok()), Some(code) if code & 0xff == 5 || code & 0xff == 6)
            }
            _ => false,
        }
    }

    /// True when the failure is a violated unique or primary key constraint.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(error)) if error.is_unique_violation())
    }
}

/// Handle to the database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if missing) the SQLite database at `url` and applies
    /// pending migrations.
    pub async fn open(url: &str, max_connections: u32, busy_timeout: Duration) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(busy_timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Store { pool })
    }

    /// Starts a write transaction, taking the write lock at once.
    pub async fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The pool, for reads outside a transaction.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Formats an instant the way every instant is stored: RFC 3339 in UTC with
/// microseconds, so text order is time order.
pub fn format_instant(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Micros, true)
}

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
