//! Classifying database errors: which may pass on retry, which mean that a
//! concurrent transaction won, and which are broken unique constraints.

use sqlx::error::DatabaseError;
use sqlx::postgres::PgDatabaseError;
use sqlx::sqlite::SqliteError;

/// An error type that can carry the database error a write transaction
/// failed with, so that [`crate::Database::write`] can tell a serialization
/// failure, which it runs the transaction again for, from a business rule.
pub trait TransactionError: From<sqlx::Error> {
    /// Returns the database error inside, if this error came from the
    /// database.
    fn database_error(&self) -> Option<&sqlx::Error>;
}

impl TransactionError for sqlx::Error {
    fn database_error(&self) -> Option<&sqlx::Error> {
        Some(self)
    }
}

/// PostgreSQL SQLSTATE codes of failures that may pass on retry. Class 08
/// (connection exceptions) is matched separately.
const TRANSIENT_SQLSTATES: &[&str] = &[
    // serialization_failure and deadlock_detected, left after the retries of
    // Database::write or raised outside a write transaction.
    "40001", "40P01",
    // admin_shutdown, crash_shutdown, cannot_connect_now: a restart or a
    // failover is under way.
    "57P01", "57P02", "57P03", // query_canceled: the statement ran into statement_timeout.
    "57014", // lock_not_available, too_many_connections.
    "55P03", "53300",
    // read_only_sql_transaction: the server is a standby, as after a
    // failover before the client reconnects to the new primary.
    "25006",
];

/// True for failures that may pass on retry: a locked SQLite database, an
/// exhausted pool, a lost or refused connection, a PostgreSQL server
/// restarting, a statement timeout, or a serialization failure.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(error) => {
            if let Some(error) = error.try_downcast_ref::<PgDatabaseError>() {
                let code = error.code();
                code.starts_with("08") || TRANSIENT_SQLSTATES.contains(&code)
            } else if let Some(error) = error.try_downcast_ref::<SqliteError>() {
                // SQLITE_BUSY (5) and SQLITE_LOCKED (6), possibly as extended
                // codes.
                let code = error.code().and_then(|code| code.parse::<i32>().ok());
                matches!(code, Some(code) if code & 0xff == 5 || code & 0xff == 6)
            } else {
                false
            }
        }
        _ => false,
    }
}

/// True when a transaction lost to a concurrent one and running it again
/// may succeed: PostgreSQL's serialization_failure (40001) or
/// deadlock_detected (40P01). SQLite reports neither, because its write
/// transactions never overlap.
pub fn is_serialization_failure(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Database(error) if error
            .try_downcast_ref::<PgDatabaseError>()
            .is_some_and(|error| matches!(error.code(), "40001" | "40P01"))
    )
}

/// True when the failure is a violated unique or primary key constraint.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(error) if error.is_unique_violation())
}

/// Returns the SQLSTATE or SQLite code of a database error, for logs.
pub(crate) fn error_code(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(error) => error.code().map(|code| code.into_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_and_io_failures_are_transient() {
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(is_transient(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset
        ))));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(!is_serialization_failure(&sqlx::Error::PoolTimedOut));
    }
}
