//! SQLite storage of the staff directory, authorizations, closures,
//! supervisor decisions and the audit log.
//!
//! Every write runs in a transaction from [`Store::begin_write`], which takes
//! SQLite's write lock up front, so concurrent requests for the same
//! authorization are applied one after the other.

mod audit;
mod authorizations;
mod closures;
mod staff;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

pub use audit::{
    AuditRow, GENESIS_SHA256, append_audit, list_audit_by_authorization, list_audit_by_passbook,
    list_audit_range, record_sha256,
};
pub use authorizations::{
    AuthorizationRow, AuthorizationState, DecisionRow, find_authorization, find_authorization_by_attestation,
    find_open_authorization_for_deposit, insert_authorization, insert_decision,
    list_authorizations_by_closure, list_decisions, list_pending_authorizations,
    list_releasing_authorizations, save_authorization,
};
pub use closures::{ClosureRow, find_closure, insert_closure};
pub use staff::{
    Role, StaffKeyRow, StaffRow, deactivate_staff, find_staff, find_staff_key, insert_staff,
    insert_staff_key, list_staff, list_staff_keys, revoke_staff_key,
};
pub use storage::WriteTransaction;

/// The migrations in `services/withdrawal-authorization/migrations`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database driver failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value is not what this code writes.
    #[error("corrupt value in {table}.{column}: {value:?}")]
    Corrupt {
        /// Table of the bad value.
        table: &'static str,
        /// Column of the bad value.
        column: &'static str,
        /// The value as stored, or the row's key.
        value: String,
    },
}

impl StoreError {
    /// True for failures that may pass on retry.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Database(error) if storage::is_transient(error))
    }

    /// True when a unique or primary key constraint was violated.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(error) if storage::is_unique_violation(error))
    }
}

/// Handle to the database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens and migrates the SQLite database at `url`.
    pub async fn open(url: &str, max_connections: u32, busy_timeout: Duration) -> Result<Self, StoreError> {
        let pool = storage::open(url, max_connections, busy_timeout, &MIGRATOR).await?;
        Ok(Store { pool })
    }

    /// Starts a write transaction holding the write lock.
    pub async fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        Ok(storage::begin_write(&self.pool).await?)
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

fn instant(table: &'static str, column: &'static str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    storage::parse_instant(text).ok_or_else(|| StoreError::Corrupt {
        table,
        column,
        value: text.to_owned(),
    })
}

fn optional_instant(
    table: &'static str,
    column: &'static str,
    text: Option<String>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    text.map(|text| instant(table, column, &text)).transpose()
}
