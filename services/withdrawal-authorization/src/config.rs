//! Typed settings, read once at start-up from flags, environment variables
//! and an optional env file. A bad value stops the process with a message that
//! names the setting and the value.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;
use grpc_support::server::ServerLimits;
use rust_decimal::Decimal;
use storage::DatabaseOptions;

/// Default address of the teller-facing listener.
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:50061";
/// Default address of the staff-directory admin listener: loopback, so that
/// no caller on the network can enroll anyone.
pub const DEFAULT_ADMIN_LISTEN_ADDR: &str = "127.0.0.1:50062";
/// Default database: a SQLite file in the working directory. A postgres://
/// URL selects PostgreSQL instead.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://withdrawal-authorization.db";
/// Default deposit-status endpoint.
pub const DEFAULT_DEPOSIT_STATUS_URL: &str = "http://127.0.0.1:50051";
/// Default time in ms one call to deposit-status may take.
pub const DEFAULT_DEPOSIT_STATUS_TIMEOUT_MS: u64 = 5_000;
/// Default large-amount line: 50,000.00, the usual line for cash at PRC
/// banks. Amounts at or above it need a recorded identity check.
pub const DEFAULT_LARGE_AMOUNT_THRESHOLD: &str = "50000.00";
/// Default interval in seconds between passes that resume releases a crash
/// or an outage of deposit-status left unfinished.
pub const DEFAULT_RECOVERY_INTERVAL_SECS: u64 = 5;
/// Default minimum interval in seconds between two fetches of
/// deposit-status's keys caused by unknown key ids, so a stream of forged key
/// ids cannot turn into a stream of fetches.
pub const DEFAULT_KEY_REFRESH_MIN_INTERVAL_SECS: u64 = 5;
/// Default maximum number of pooled database connections.
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 8;
/// Default time in ms a statement waits for a locked SQLite database.
pub const DEFAULT_DATABASE_BUSY_TIMEOUT_MS: u64 = 5_000;
/// Default maximum time in ms to get a database connection, opening one
/// included, before a request fails with UNAVAILABLE.
pub const DEFAULT_DATABASE_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Maximum connect timeout accepted, in ms: one hour.
pub const MAX_DATABASE_CONNECT_TIMEOUT_MS: u64 = 3_600_000;
/// Default PostgreSQL `statement_timeout` in ms for every connection.
pub const DEFAULT_DATABASE_STATEMENT_TIMEOUT_MS: u64 = 5_000;
/// Maximum statement timeout accepted, in ms: PostgreSQL's
/// `statement_timeout` is a 32-bit integer of milliseconds.
pub const MAX_DATABASE_STATEMENT_TIMEOUT_MS: u64 = i32::MAX as u64;
/// Default number of times a PostgreSQL write transaction that conflicted
/// with a concurrent one is run again before the request fails. Every write
/// here appends to the one audit log, so concurrent writes conflict often:
/// with 16 tellers on two replicas, tests/postgres_replicas.rs saw at most 7
/// reruns of one transaction on a 2-core machine.
pub const DEFAULT_DATABASE_SERIALIZATION_RETRIES: u32 = 20;
/// Maximum number of reruns accepted.
pub const MAX_DATABASE_SERIALIZATION_RETRIES: u32 = 1_000;

/// Every setting of the service. Each flag can also be given as the
/// environment variable named in its help.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address of the teller-facing gRPC listener.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_LISTEN_ADDR", default_value = DEFAULT_LISTEN_ADDR)]
    pub listen_addr: SocketAddr,

    /// Address of the staff-directory admin listener (WithdrawalAdminService).
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_ADMIN_LISTEN_ADDR", default_value = DEFAULT_ADMIN_LISTEN_ADDR)]
    pub admin_listen_addr: SocketAddr,

    /// Allow the admin listener on a non-loopback address. Anyone who reaches
    /// that address can enroll staff.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_ADMIN_ALLOW_NON_LOOPBACK")]
    pub admin_allow_non_loopback: bool,

    /// Database URL: sqlite://PATH (created if missing), or
    /// postgres://USER:PASSWORD@HOST:PORT/DATABASE (postgresql:// too) for a
    /// PostgreSQL database that several replicas share.
    // The value is hidden from --help because it may contain a password.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_DATABASE_URL", hide_env_values = true,
          default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,

    /// Maximum number of pooled database connections.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_DATABASE_MAX_CONNECTIONS",
          default_value_t = DEFAULT_DATABASE_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub database_max_connections: u32,

    /// Maximum time in ms a statement waits for a locked SQLite database.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_DATABASE_BUSY_TIMEOUT_MS",
          default_value_t = DEFAULT_DATABASE_BUSY_TIMEOUT_MS)]
    pub database_busy_timeout_ms: u64,

    /// Maximum time in ms to get a database connection, opening one
    /// included, before a request fails with a retryable UNAVAILABLE, 1 to
    /// 3600000.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_DATABASE_CONNECT_TIMEOUT_MS",
          default_value_t = DEFAULT_DATABASE_CONNECT_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(1..=MAX_DATABASE_CONNECT_TIMEOUT_MS))]
    pub database_connect_timeout_ms: u64,

    /// PostgreSQL only: maximum time in ms one SQL statement may run
    /// (statement_timeout) before it fails with a retryable error, 0 for no
    /// limit, up to 2147483647.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_DATABASE_STATEMENT_TIMEOUT_MS",
          default_value_t = DEFAULT_DATABASE_STATEMENT_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(0..=MAX_DATABASE_STATEMENT_TIMEOUT_MS))]
    pub database_statement_timeout_ms: u64,

    /// PostgreSQL only: how many times a write transaction that conflicted
    /// with a concurrent one (serialization failure, deadlock, duplicate
    /// key) is run again before the request fails with a retryable
    /// UNAVAILABLE, 0 to 1000.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_DATABASE_SERIALIZATION_RETRIES",
          default_value_t = DEFAULT_DATABASE_SERIALIZATION_RETRIES,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_DATABASE_SERIALIZATION_RETRIES)))]
    pub database_serialization_retries: u32,

    /// PKCS#8 PEM file of the Ed25519 key that signs release orders (create
    /// one with `withdrawal-authorization generate-key`). deposit-status must
    /// trust its public half.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_SIGNING_KEY_FILE")]
    pub signing_key_file: PathBuf,

    /// First instant, RFC 3339, at which the signing key's release orders are
    /// valid, as published to verifiers.
    #[arg(
        long,
        env = "WITHDRAWAL_AUTHORIZATION_SIGNING_KEY_VALID_FROM",
        default_value = "1970-01-01T00:00:00Z"
    )]
    pub signing_key_valid_from: DateTime<Utc>,

    /// URL of deposit-status's teller-facing listener.
    // Hidden from --help like the database URL, since a URL may contain
    // credentials.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_DEPOSIT_STATUS_URL", hide_env_values = true,
          default_value = DEFAULT_DEPOSIT_STATUS_URL)]
    pub deposit_status_url: String,

    /// Maximum time in ms one call to deposit-status may take before it
    /// counts as unavailable.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_DEPOSIT_STATUS_TIMEOUT_MS",
          default_value_t = DEFAULT_DEPOSIT_STATUS_TIMEOUT_MS)]
    pub deposit_status_timeout_ms: u64,

    /// Large-amount line in the deposit's currency: withdrawals of this
    /// principal or more need a recorded identity check and are flagged.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_LARGE_AMOUNT_THRESHOLD", default_value = DEFAULT_LARGE_AMOUNT_THRESHOLD)]
    pub large_amount_threshold: Decimal,

    /// Interval in seconds between passes that resume unfinished releases.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_RECOVERY_INTERVAL_SECS",
          default_value_t = DEFAULT_RECOVERY_INTERVAL_SECS)]
    pub recovery_interval_secs: u64,

    /// Minimum interval in seconds between key fetches caused by unknown key
    /// ids.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_KEY_REFRESH_MIN_INTERVAL_SECS",
          default_value_t = DEFAULT_KEY_REFRESH_MIN_INTERVAL_SECS)]
    pub key_refresh_min_interval_secs: u64,

    /// Maximum time in ms one request may take before it fails with
    /// DEADLINE_EXCEEDED.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_REQUEST_TIMEOUT_MS",
          default_value_t = grpc_support::server::DEFAULT_REQUEST_TIMEOUT.as_millis() as u64)]
    pub request_timeout_ms: u64,

    /// Maximum number of requests in flight per listener.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_CONCURRENCY_LIMIT",
          default_value_t = grpc_support::server::DEFAULT_CONCURRENCY_LIMIT)]
    pub concurrency_limit: usize,

    /// Maximum size in bytes of one decoded request message.
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_MAX_MESSAGE_BYTES",
          default_value_t = grpc_support::server::DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,
}

impl Settings {
    /// Checks the rules between settings that clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if !self.admin_listen_addr.ip().is_loopback() && !self.admin_allow_non_loopback {
            return Err(format!(
                "invalid WITHDRAWAL_AUTHORIZATION_ADMIN_LISTEN_ADDR {}: the admin listener enrolls staff, so it \
                 binds to loopback unless WITHDRAWAL_AUTHORIZATION_ADMIN_ALLOW_NON_LOOPBACK=true",
                self.admin_listen_addr
            ));
        }
        if storage::Backend::from_url(&self.database_url).is_none() {
            return Err(format!(
                "invalid WITHDRAWAL_AUTHORIZATION_DATABASE_URL {:?}: expected sqlite://PATH or \
                 postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                storage::redact_password(&self.database_url)
            ));
        }
        let ranges = [
            (
                "WITHDRAWAL_AUTHORIZATION_DATABASE_CONNECT_TIMEOUT_MS",
                self.database_connect_timeout_ms,
                1,
                MAX_DATABASE_CONNECT_TIMEOUT_MS,
            ),
            (
                "WITHDRAWAL_AUTHORIZATION_DATABASE_STATEMENT_TIMEOUT_MS",
                self.database_statement_timeout_ms,
                0,
                MAX_DATABASE_STATEMENT_TIMEOUT_MS,
            ),
            (
                "WITHDRAWAL_AUTHORIZATION_DATABASE_SERIALIZATION_RETRIES",
                u64::from(self.database_serialization_retries),
                0,
                u64::from(MAX_DATABASE_SERIALIZATION_RETRIES),
            ),
        ];
        for (setting, value, minimum, maximum) in ranges {
            if !(minimum..=maximum).contains(&value) {
                return Err(format!(
                    "invalid {setting} {value}: expected {minimum} to {maximum}"
                ));
            }
        }
        if !(self.deposit_status_url.starts_with("http://")
            || self.deposit_status_url.starts_with("https://"))
        {
            return Err(format!(
                "invalid WITHDRAWAL_AUTHORIZATION_DEPOSIT_STATUS_URL {:?}: expected http://HOST:PORT",
                self.deposit_status_url
            ));
        }
        if self.large_amount_threshold <= Decimal::ZERO {
            return Err(format!(
                "invalid WITHDRAWAL_AUTHORIZATION_LARGE_AMOUNT_THRESHOLD {}: must be greater than 0",
                self.large_amount_threshold
            ));
        }
        if self.deposit_status_timeout_ms == 0 || self.recovery_interval_secs == 0 {
            return Err("invalid WITHDRAWAL_AUTHORIZATION_DEPOSIT_STATUS_TIMEOUT_MS or \
                 WITHDRAWAL_AUTHORIZATION_RECOVERY_INTERVAL_SECS: must be greater than 0"
                .to_owned());
        }
        Ok(())
    }

    /// Returns the database options: pool size, timeouts and reruns.
    pub fn database_options(&self) -> DatabaseOptions {
        DatabaseOptions {
            max_connections: self.database_max_connections,
            connect_timeout: Duration::from_millis(self.database_connect_timeout_ms),
            sqlite_busy_timeout: Duration::from_millis(self.database_busy_timeout_ms),
            statement_timeout: Duration::from_millis(self.database_statement_timeout_ms),
            serialization_retries: self.database_serialization_retries,
        }
    }

    /// Limits applied to both listeners.
    pub fn server_limits(&self) -> ServerLimits {
        ServerLimits {
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            concurrency_limit: self.concurrency_limit,
            max_message_bytes: self.max_message_bytes,
            ..ServerLimits::default()
        }
    }
}
