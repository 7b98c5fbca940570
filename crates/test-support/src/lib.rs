//! Helpers shared by the services' tests: which database backend a test run
//! uses, fresh databases on it, and throwaway PostgreSQL clusters started
//! from the system's `initdb` and `pg_ctl`.
//!
//! Environment:
//! - `BANK_TEST_BACKEND`: `sqlite` (the default) or `postgres`, the backend
//!   that [`database_url`] gives the services' integration tests.
//! - `BANK_TEST_POSTGRES_URL`: a PostgreSQL server to create test databases
//!   in instead of starting a cluster, for example
//!   `postgres://bank@127.0.0.1:5432/postgres`. Its user needs the CREATEDB
//!   privilege.
//!
//! A test that needs PostgreSQL and cannot get it panics with a message on
//! how to fix that. It is never skipped.
#![forbid(unsafe_code)]

mod cluster;

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AnyPool, Connection, PgConnection};

pub use cluster::PostgresCluster;

/// Environment variable that selects the backend of the integration tests.
pub const BACKEND_VARIABLE: &str = "BANK_TEST_BACKEND";
/// Environment variable naming an existing PostgreSQL server to use.
pub const POSTGRES_URL_VARIABLE: &str = "BANK_TEST_POSTGRES_URL";

/// How to get PostgreSQL for the tests, appended to every failure to get it.
pub const HOW_TO_GET_POSTGRES: &str = "PostgreSQL tests need the server binaries initdb and pg_ctl \
    (Debian: apt-get install postgresql; they are looked up in /usr/lib/postgresql/*/bin and on PATH), \
    or BANK_TEST_POSTGRES_URL=postgres://USER@HOST:PORT/DATABASE naming a server whose user may create \
    databases";

/// The database backend of a test run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    /// A SQLite file in the test's temporary directory.
    Sqlite,
    /// A fresh database on the shared PostgreSQL server of the test binary.
    Postgres,
}

impl TestBackend {
    /// Reads `BANK_TEST_BACKEND`: unset or `sqlite` for SQLite, `postgres`
    /// for PostgreSQL. Panics on any other value.
    pub fn from_env() -> TestBackend {
        match std::env::var(BACKEND_VARIABLE).as_deref() {
            Err(std::env::VarError::NotPresent) | Ok("" | "sqlite") => TestBackend::Sqlite,
            Ok("postgres") => TestBackend::Postgres,
            Ok(other) => panic!("invalid {BACKEND_VARIABLE} {other:?}: expected sqlite or postgres"),
            Err(error) => panic!("invalid {BACKEND_VARIABLE}: {error}"),
        }
    }
}

/// Returns the URL of a new, empty database for one service in one test:
/// on SQLite a file named `name`.db in `directory`, on PostgreSQL a fresh
/// database on the shared server.
pub async fn database_url(backend: TestBackend, directory: &Path, name: &str) -> String {
    match backend {
        TestBackend::Sqlite => format!("sqlite://{}", directory.join(format!("{name}.db")).display()),
        TestBackend::Postgres => postgres_database().await,
    }
}

/// The PostgreSQL server that the tests of one test binary share.
enum SharedServer {
    /// A cluster this process started; stopped when the process exits.
    Cluster(PostgresCluster),
    /// The server named by `BANK_TEST_POSTGRES_URL`.
    External(String),
}

impl SharedServer {
    fn admin_url(&self) -> String {
        match self {
            SharedServer::Cluster(cluster) => cluster.url("postgres"),
            SharedServer::External(url) => url.clone(),
        }
    }
}

static SHARED_SERVER: OnceLock<Result<SharedServer, String>> = OnceLock::new();

/// Returns the admin URL of the shared PostgreSQL server, starting a cluster
/// the first time unless `BANK_TEST_POSTGRES_URL` is set. Panics with
/// [`HOW_TO_GET_POSTGRES`] when there is none.
pub fn shared_postgres_url() -> String {
    let server = SHARED_SERVER.get_or_init(|| match std::env::var(POSTGRES_URL_VARIABLE) {
        Ok(url) if !url.is_empty() => Ok(SharedServer::External(url)),
        _ => PostgresCluster::start().map(SharedServer::Cluster),
    });
    match server {
        Ok(server) => server.admin_url(),
        Err(error) => panic!("{error}"),
    }
}

/// Creates a database with a unique name on the shared PostgreSQL server and
/// returns its URL.
pub async fn postgres_database() -> String {
    create_database(&shared_postgres_url()).await
}

/// Creates a database with a unique name on the server of `admin_url` and
/// returns its URL. Panics when the server refuses.
///
/// NOTE: databases created on a server named by `BANK_TEST_POSTGRES_URL`
/// are left behind, named `bank_test_*`; a cluster started here is removed
/// with everything in it.
pub async fn create_database(admin_url: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default();
    let name = format!(
        "bank_test_{started}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut connection = PgConnection::connect(admin_url).await.unwrap_or_else(|error| {
        panic!("failed to connect to PostgreSQL at {admin_url}: {error}. {HOW_TO_GET_POSTGRES}")
    });
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut connection)
        .await
        .unwrap_or_else(|error| panic!("failed to create database {name} at {admin_url}: {error}"));
    let _ = connection.close().await;
    storage::with_database(admin_url, &name)
}

/// Opens a small pool on `url` through sqlx's `Any` driver, for tests that
/// read or change a service's database directly.
pub async fn connect(url: &str) -> AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::pool::PoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .unwrap_or_else(|error| panic!("failed to connect to {url}: {error}"))
}

/// Ends every other session on the PostgreSQL database of `url`, as a
/// restart of the server or a network failure would, and returns how many
/// it ended.
pub async fn terminate_connections(url: &str) -> usize {
    let mut connection = PgConnection::connect(url)
        .await
        .unwrap_or_else(|error| panic!("failed to connect to {url}: {error}"));
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap_or_else(|error| panic!("failed to end the sessions on {url}: {error}"));
    let _ = connection.close().await;
    ended.into_iter().filter(|ended| *ended).count()
}
