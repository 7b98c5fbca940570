//! Opening and migrating the database, and write transactions on either
//! backend.
//!
//! SQLite serializes writers with its one write lock: a write transaction
//! starts with `BEGIN IMMEDIATE`, which takes the lock before the first read.
//! PostgreSQL runs write transactions at SERIALIZABLE isolation, where a
//! transaction that conflicts with a concurrent one fails with
//! serialization_failure (SQLSTATE 40001) instead of blocking. So every write
//! is a body that [`Database::write`] can run again from the start, and
//! does, a bounded number of times with jittered backoff.

use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Any, AnyConnection, AnyPool, Connection, SqliteConnection};

use crate::backend::Backend;
use crate::errors::{TransactionError, error_code, is_serialization_failure, is_unique_violation};

/// Delay cap before the first rerun of a conflicted write transaction. Each
/// further rerun doubles the cap up to [`MAX_RETRY_DELAY`]. The actual pause
/// is a random fraction of the cap, so that conflicting transactions spread
/// out.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(4);
/// Maximum delay between two runs of a conflicted write transaction.
const MAX_RETRY_DELAY: Duration = Duration::from_millis(250);

/// How to open the database. Each field is a service setting.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// Maximum number of pooled connections.
    pub max_connections: u32,
    /// Maximum time to wait for a connection from the pool, opening one
    /// included. A database that is down fails requests after this long with
    /// a transient error.
    pub connect_timeout: Duration,
    /// SQLite only: how long a statement waits for another writer's lock.
    pub sqlite_busy_timeout: Duration,
    /// PostgreSQL only: `statement_timeout` of every connection; zero turns
    /// the limit off.
    pub statement_timeout: Duration,
    /// PostgreSQL only: how many times a write transaction that failed with
    /// a serialization failure, a deadlock or a unique violation is run
    /// again before the failure is returned.
    pub serialization_retries: u32,
}

/// The migrations of one service, one folder per backend with the same
/// versions and the same schema in each dialect.
#[derive(Debug, Clone, Copy)]
pub struct Migrators {
    /// Migrations applied to a SQLite database.
    pub sqlite: &'static Migrator,
    /// Migrations applied to a PostgreSQL database.
    pub postgres: &'static Migrator,
}

impl Migrators {
    fn for_backend(self, backend: Backend) -> &'static Migrator {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }
}

/// The result of a write transaction body whose request may fail after its
/// changes are committed, for example when an authorization is marked
/// expired and the request then fails with the expiry.
#[derive(Debug)]
pub enum Committed<T, E> {
    /// Commit, then return the value.
    Value(T),
    /// Commit, then return the error.
    Error(E),
}

/// A pool of connections to one service's database and the rules for
/// writing to it. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
    serialization_retries: u32,
    /// PostgreSQL only: the statement that starts every write transaction,
    /// set by [`Database::serialize_writes_on`].
    write_lock: Option<String>,
}

impl Database {
    /// Opens the database at `url` and applies the pending migrations of its
    /// backend. A SQLite file is created if missing and switched to WAL mode
    /// with full synchronous commits, so a committed payout survives a
    /// crash. Foreign keys are enforced on both backends.
    pub async fn open(
        url: &str,
        options: &DatabaseOptions,
        migrators: Migrators,
    ) -> Result<Database, sqlx::Error> {
        let backend = backend_of(url)?;
        if backend == Backend::Sqlite {
            prepare_sqlite_file(url).await?;
        }
        let pool = pool_options(backend, options)
            .connect_with(AnyConnectOptions::from_str(url)?)
            .await?;
        migrators.for_backend(backend).run(&pool).await?;
        Ok(Database {
            pool,
            backend,
            serialization_retries: options.serialization_retries,
            write_lock: None,
        })
    }

    /// Opens the database at `url` for reading only, without migrating it:
    /// SQLite opens the file read-only and PostgreSQL sessions default to
    /// read-only transactions.
    pub async fn open_read_only(url: &str) -> Result<Database, sqlx::Error> {
        let backend = backend_of(url)?;
        let url = match backend {
            Backend::Sqlite if url.contains('?') => format!("{url}&mode=ro"),
            Backend::Sqlite => format!("{url}?mode=ro"),
            Backend::Postgres => url.to_owned(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if backend == Backend::Postgres {
                        sqlx::query("SET default_transaction_read_only = on")
                            .execute(connection)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(AnyConnectOptions::from_str(&url)?)
            .await?;
        Ok(Database {
            pool,
            backend,
            serialization_retries: 0,
            write_lock: None,
        })
    }

    /// Makes every write transaction on PostgreSQL start by locking `table`
    /// in SHARE ROW EXCLUSIVE mode, which conflicts with itself and with
    /// inserts. So write transactions take effect one at a time: they wait
    /// for each other instead of failing with serialization errors and
    /// running again. Reads outside write transactions are not blocked.
    ///
    /// Use it when every write transaction touches `table` anyway, as
    /// withdrawal-authorization's writes all append to its audit log: there
    /// the transactions conflict whatever runs them, and a rerun after an
    /// abort costs more than the wait. SQLite's `BEGIN IMMEDIATE` already
    /// serializes writers, so it is not changed. `table` must be a plain
    /// SQL identifier from the code, never input.
    pub fn serialize_writes_on(mut self, table: &'static str) -> Self {
        debug_assert!(
            table
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte == b'_'),
            "{table:?} is not a plain identifier"
        );
        self.write_lock = Some(format!("LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"));
        self
    }

    /// Returns the backend this database runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Returns the pool, for reads outside a transaction.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Takes a connection from the pool, for reads outside a transaction.
    pub async fn acquire(&self) -> Result<PoolConnection<Any>, sqlx::Error> {
        self.pool.acquire().await
    }

    /// Runs `body` in a write transaction and commits when it returns `Ok`;
    /// an `Err` rolls the transaction back.
    ///
    /// `body` returns its work as a boxed future:
    /// `database.write(|transaction| Box::pin(async move { ... }))`. The
    /// future may borrow what the closure captures, so capture references
    /// (`let row = &row;` first) and copies, not values to move.
    ///
    /// On PostgreSQL the transaction is SERIALIZABLE. When it fails with a
    /// serialization failure, a deadlock or a unique violation (a concurrent
    /// transaction committed the same key first), `body` runs again in a new
    /// transaction, up to the configured number of retries, and reads what
    /// the other transaction committed. So `body` must do nothing outside
    /// the database that cannot be done twice. On SQLite the transaction
    /// holds the write lock from its start and is never run again.
    pub async fn write<'scope, T, E, F>(&self, mut body: F) -> Result<T, E>
    where
        F: for<'c> FnMut(&'c mut WriteTransaction<'scope>) -> WriteFuture<'c, T, E>,
        E: TransactionError,
    {
        let mut retries = 0;
        loop {
            let result = self.write_once(&mut body).await;
            let conflict = match &result {
                Err(error) if self.backend == Backend::Postgres => {
                    error.database_error().filter(|error| is_conflict(error))
                }
                _ => None,
            };
            let Some(conflict) = conflict else {
                return result;
            };
            if retries >= self.serialization_retries {
                tracing::warn!(
                    retries,
                    code = error_code(conflict).as_deref().unwrap_or_default(),
                    error = %conflict,
                    "write transaction still conflicts with concurrent transactions; giving up"
                );
                return result;
            }
            retries += 1;
            let delay = retry_delay(retries);
            tracing::debug!(
                retry = retries,
                delay_ms = delay.as_millis() as u64,
                code = error_code(conflict).as_deref().unwrap_or_default(),
                "write transaction conflicted with a concurrent one; running it again"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Like [`Database::write`], for a body that may fail after its changes
    /// are committed: [`Committed::Error`] commits and then returns the
    /// error.
    pub async fn write_committed<'scope, T, E, F>(&self, body: F) -> Result<T, E>
    where
        F: for<'c> FnMut(&'c mut WriteTransaction<'scope>) -> WriteFuture<'c, Committed<T, E>, E>,
        E: TransactionError,
    {
        match self.write(body).await? {
            Committed::Value(value) => Ok(value),
            Committed::Error(error) => Err(error),
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn write_once<'scope, T, E, F>(&self, body: &mut F) -> Result<T, E>
    where
        F: for<'c> FnMut(&'c mut WriteTransaction<'scope>) -> WriteFuture<'c, T, E>,
        E: From<sqlx::Error>,
    {
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN ISOLATION LEVEL SERIALIZABLE",
        };
        let mut transaction = WriteTransaction {
            inner: self.pool.begin_with(begin).await?,
            _scope: PhantomData,
        };
        if let (Backend::Postgres, Some(lock)) = (self.backend, &self.write_lock) {
            // The statement is built from a `&'static str` identifier only.
            sqlx::query(sqlx::AssertSqlSafe(lock.as_str()))
                .execute(&mut *transaction.inner)
                .await?;
        }
        let value = body(&mut transaction).await?;
        transaction.inner.commit().await?;
        Ok(value)
    }
}

/// The future a write transaction's body returns.
pub type WriteFuture<'c, T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>;

/// An open write transaction, handed to the body of [`Database::write`]. It
/// dereferences to the connection, so it goes wherever a `&mut
/// AnyConnection` does.
///
/// `'scope` is a lower bound of every lifetime the body captures. Because a
/// `&'c mut WriteTransaction<'scope>` can exist only for `'c` shorter than
/// `'scope`, the body's future may borrow those captures, as in
/// `std::thread::scope`.
pub struct WriteTransaction<'scope> {
    inner: sqlx::Transaction<'static, Any>,
    _scope: PhantomData<&'scope ()>,
}

impl Deref for WriteTransaction<'_> {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.inner
    }
}

impl DerefMut for WriteTransaction<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }
}

/// True for the failures that running a PostgreSQL write transaction again
/// resolves. A unique violation is one of them: both transactions checked
/// that a key was free, one committed it first, and the rerun finds it and
/// returns what a sequential run would (a replayed response, or the
/// business error for an existing key).
fn is_conflict(error: &sqlx::Error) -> bool {
    is_serialization_failure(error) || is_unique_violation(error)
}

/// Returns the backend of `url`, after installing the `Any` driver's
/// backends, which every connection through it needs.
fn backend_of(url: &str) -> Result<Backend, sqlx::Error> {
    sqlx::any::install_default_drivers();
    Backend::from_url(url).ok_or_else(|| {
        sqlx::Error::Configuration(
            format!("unsupported database URL {url:?}: expected sqlite://PATH or postgres://HOST/DATABASE")
                .into(),
        )
    })
}

/// Creates the SQLite file if it is missing and switches it to WAL mode,
/// which the file keeps. The `Any` driver opens connections from the URL
/// alone, so these options cannot be set on its pool.
async fn prepare_sqlite_file(url: &str) -> Result<(), sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    SqliteConnection::connect_with(&options).await?.close().await
}

/// Builds the pool options with the per-connection settings of `backend`.
fn pool_options(backend: Backend, options: &DatabaseOptions) -> AnyPoolOptions {
    let busy_timeout_ms = options.sqlite_busy_timeout.as_millis();
    let statement_timeout_ms = options.statement_timeout.as_millis();
    AnyPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.connect_timeout)
        .after_connect(move |connection, _| {
            Box::pin(async move {
                let statements = match backend {
                    Backend::Sqlite => vec![
                        format!("PRAGMA busy_timeout = {busy_timeout_ms}"),
                        "PRAGMA synchronous = FULL".to_owned(),
                        "PRAGMA foreign_keys = ON".to_owned(),
                    ],
                    Backend::Postgres => vec![format!("SET statement_timeout = {statement_timeout_ms}")],
                };
                for statement in statements {
                    sqlx::query(sqlx::AssertSqlSafe(statement))
                        .execute(&mut *connection)
                        .await?;
                }
                Ok(())
            })
        })
}

/// Returns how long to wait before the `retry`-th rerun: a random duration
/// up to the exponential cap (full jitter), at least one millisecond.
fn retry_delay(retry: u32) -> Duration {
    let cap = FIRST_RETRY_DELAY
        .saturating_mul(1 << retry.saturating_sub(1).min(16))
        .min(MAX_RETRY_DELAY);
    let cap_micros = cap.as_micros() as u64;
    let micros = OsRng.next_u64() % (cap_micros + 1);
    Duration::from_micros(micros).max(Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_is_bounded() {
        for retry in 1..40 {
            let delay = retry_delay(retry);
            assert!(delay >= Duration::from_millis(1), "retry {retry}: {delay:?}");
            assert!(delay <= MAX_RETRY_DELAY, "retry {retry}: {delay:?}");
        }
        assert!(retry_delay(1) <= FIRST_RETRY_DELAY);
    }
}
