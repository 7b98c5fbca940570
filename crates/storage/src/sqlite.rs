//! Opening the database and the conventions every table follows.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

/// A write transaction holding SQLite's write lock.
pub type WriteTransaction = Transaction<'static, Sqlite>;

/// Opens (creating if missing) the SQLite database at `url` and applies
/// `migrator`'s pending migrations.
///
/// The database runs in WAL mode with full synchronous commits, so a
/// committed payout survives a crash, and with foreign keys enforced.
/// `busy_timeout` bounds how long a statement waits for another writer.
pub async fn open(
    url: &str,
    max_connections: u32,
    busy_timeout: Duration,
    migrator: &Migrator,
) -> Result<SqlitePool, sqlx::Error> {
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
    migrator.run(&pool).await?;
    Ok(pool)
}

/// Starts a write transaction with `BEGIN IMMEDIATE`, which takes SQLite's
/// write lock at once. Two writers therefore never interleave between a read
/// and the write that depends on it.
pub async fn begin_write(pool: &SqlitePool) -> Result<WriteTransaction, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// Formats an instant the way every instant is stored: RFC 3339 in UTC with
/// microseconds, so text order is time order.
pub fn format_instant(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses an instant stored by [`format_instant`].
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|instant| instant.with_timezone(&Utc))
}

/// True for failures that may pass on retry: a locked database, an exhausted
/// pool or a lost connection.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(error) => {
            // SQLITE_BUSY (5) and SQLITE_LOCKED (6), possibly as extended codes.
            let code = error.code().and_then(|code| code.parse::<i32>().ok());
            matches!(code, Some(code) if code & 0xff == 5 || code & 0xff == 6)
        }
        _ => false,
    }
}

/// True when the failure is a violated unique or primary key constraint.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(error) if error.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_in_text_order() {
        let earlier = DateTime::parse_from_rfc3339("2025-02-22T01:02:03.000004Z")
            .unwrap()
            .with_timezone(&Utc);
        let later = earlier + chrono::Duration::microseconds(1);
        assert_eq!(parse_instant(&format_instant(earlier)), Some(earlier));
        assert!(format_instant(earlier) < format_instant(later));
    }

    #[tokio::test]
    async fn open_creates_and_migrates() {
        let directory = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", directory.path().join("test.db").display());
        let migrator = Migrator::DEFAULT;
        let pool = open(&url, 2, Duration::from_secs(1), &migrator).await.unwrap();
        let mut transaction = begin_write(&pool).await.unwrap();
        sqlx::query("CREATE TABLE t (x TEXT PRIMARY KEY)")
            .execute(&mut *transaction)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES ('a')")
            .execute(&mut *transaction)
            .await
            .unwrap();
        let duplicate = sqlx::query("INSERT INTO t VALUES ('a')")
            .execute(&mut *transaction)
            .await
            .unwrap_err();
        assert!(is_unique_violation(&duplicate));
        assert!(!is_transient(&duplicate));
    }
}
