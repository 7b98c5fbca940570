//! Storage of the staff directory, authorizations, closures, supervisor
//! decisions and the audit log: an embedded SQLite file by default, or a
//! PostgreSQL database shared by several replicas.
//!
//! Every write runs in [`Store::write`](storage::Database::write): under
//! SQLite's write lock, or as a SERIALIZABLE PostgreSQL transaction that is
//! run again when it conflicts with a concurrent one. Either way, concurrent
//! requests for the same authorization take effect one after the other.

mod audit;
mod authorizations;
mod closures;
mod staff;

use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use storage::{DatabaseOptions, Migrators, TransactionError};

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

/// The SQLite migrations in `services/withdrawal-authorization/migrations/sqlite`.
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
/// The PostgreSQL migrations in
/// `services/withdrawal-authorization/migrations/postgres`, the same schema
/// in PostgreSQL's types.
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
    // Every write transaction appends to the hash-chained audit log, reading
    // the last record and inserting the next, so any two of them conflict.
    // On PostgreSQL they take the table lock first and wait for each other.
    let store = Store::open(url, options, migrators).await?;
    Ok(store.serialize_writes_on("audit_log"))
}

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
