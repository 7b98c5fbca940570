//! Typed settings, read once at start-up from flags, environment variables
//! and an optional env file. A bad value stops the process with a message that
//! names the setting and the value.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use clap::Args;
use grpc_support::server::ServerLimits;
use storage::DatabaseOptions;

/// Default address of the teller-facing listener.
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:50051";
/// Default address of the feed and admin listener: loopback, so that no
/// teller-facing port can create money.
pub const DEFAULT_ADMIN_LISTEN_ADDR: &str = "127.0.0.1:50052";
/// Default database: a SQLite file in the working directory, created on first
/// start. A postgres:// URL selects PostgreSQL instead.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://deposit-status.db";
/// Default lifetime of a maturity attestation: 10 minutes, long enough for a
/// co-signature at the counter and short enough that the figures are today's.
pub const DEFAULT_ATTESTATION_LIFETIME_SECS: u64 = 600;
/// Longest attestation lifetime accepted: one day, because an attestation's
/// quote is only valid on its business date anyway.
pub const MAX_ATTESTATION_LIFETIME_SECS: u64 = 86_400;
/// Default IANA time zone of the business date.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";
/// Default maximum number of pooled database connections.
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 8;
/// Maximum pool size accepted.
pub const MAX_DATABASE_MAX_CONNECTIONS: u32 = 1024;
/// Default time in ms a request waits for a locked SQLite database.
pub const DEFAULT_DATABASE_BUSY_TIMEOUT_MS: u64 = 5_000;
/// Maximum busy timeout accepted, in ms: SQLite's `sqlite3_busy_timeout`
/// takes a C `int`, and sqlx 0.9 panics on a larger value.
pub const MAX_DATABASE_BUSY_TIMEOUT_MS: u64 = i32::MAX as u64;
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
/// with a concurrent one is run again before the request fails. It is the
/// same as withdrawal-authorization's, whose writes conflict more often.
pub const DEFAULT_DATABASE_SERIALIZATION_RETRIES: u32 = 20;
/// Maximum number of reruns accepted.
pub const MAX_DATABASE_SERIALIZATION_RETRIES: u32 = 1_000;
/// Maximum concurrency limit accepted: the number of permits of a tokio
/// semaphore, which the concurrency limit uses. A larger value panics.
pub const MAX_CONCURRENCY_LIMIT: usize = tokio::sync::Semaphore::MAX_PERMITS;

/// Every setting of the service. Each flag can also be given as the
/// environment variable named in its help.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address of the teller-facing gRPC listener (DepositStatusService,
    /// health, reflection).
    #[arg(long, env = "DEPOSIT_STATUS_LISTEN_ADDR", default_value = DEFAULT_LISTEN_ADDR)]
    pub listen_addr: SocketAddr,

    /// Address of the feed and admin listener (DepositAdminService).
    #[arg(long, env = "DEPOSIT_STATUS_ADMIN_LISTEN_ADDR", default_value = DEFAULT_ADMIN_LISTEN_ADDR)]
    pub admin_listen_addr: SocketAddr,

    /// Allow the admin listener on a non-loopback address, for example inside
    /// a container network. Anyone who reaches that address can feed deposits.
    #[arg(long, env = "DEPOSIT_STATUS_ADMIN_ALLOW_NON_LOOPBACK")]
    pub admin_allow_non_loopback: bool,

    /// Database URL: sqlite://PATH (created if missing), or
    /// postgres://USER:PASSWORD@HOST:PORT/DATABASE (postgresql:// too) for a
    /// PostgreSQL database that several replicas share.
    // The value is hidden from --help because it may contain a password.
    #[arg(long, env = "DEPOSIT_STATUS_DATABASE_URL", hide_env_values = true, default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,

    /// Maximum number of pooled database connections.
    #[arg(long, env = "DEPOSIT_STATUS_DATABASE_MAX_CONNECTIONS", default_value_t = DEFAULT_DATABASE_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_DATABASE_MAX_CONNECTIONS)))]
    pub database_max_connections: u32,

    /// Maximum time in ms a statement waits for a locked SQLite database
    /// before it fails with a retryable error, 0 to 2147483647.
    #[arg(long, env = "DEPOSIT_STATUS_DATABASE_BUSY_TIMEOUT_MS", default_value_t = DEFAULT_DATABASE_BUSY_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(0..=MAX_DATABASE_BUSY_TIMEOUT_MS))]
    pub database_busy_timeout_ms: u64,

    /// Maximum time in ms to get a database connection, opening one
    /// included, before a request fails with a retryable UNAVAILABLE, 1 to
    /// 3600000.
    #[arg(long, env = "DEPOSIT_STATUS_DATABASE_CONNECT_TIMEOUT_MS", default_value_t = DEFAULT_DATABASE_CONNECT_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(1..=MAX_DATABASE_CONNECT_TIMEOUT_MS))]
    pub database_connect_timeout_ms: u64,

    /// PostgreSQL only: maximum time in ms one SQL statement may run
    /// (statement_timeout) before it fails with a retryable error, 0 for no
    /// limit, up to 2147483647.
    #[arg(long, env = "DEPOSIT_STATUS_DATABASE_STATEMENT_TIMEOUT_MS", default_value_t = DEFAULT_DATABASE_STATEMENT_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(0..=MAX_DATABASE_STATEMENT_TIMEOUT_MS))]
    pub database_statement_timeout_ms: u64,

    /// PostgreSQL only: how many times a write transaction that conflicted
    /// with a concurrent one (serialization failure, deadlock, duplicate
    /// key) is run again before the request fails with a retryable
    /// UNAVAILABLE, 0 to 1000.
    #[arg(long, env = "DEPOSIT_STATUS_DATABASE_SERIALIZATION_RETRIES", default_value_t = DEFAULT_DATABASE_SERIALIZATION_RETRIES,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_DATABASE_SERIALIZATION_RETRIES)))]
    pub database_serialization_retries: u32,

    /// PKCS#8 PEM file of the Ed25519 key that signs maturity attestations
    /// (create one with `deposit-status generate-key`).
    #[arg(long, env = "DEPOSIT_STATUS_SIGNING_KEY_FILE")]
    pub signing_key_file: PathBuf,

    /// First instant, RFC 3339, at which the signing key's signatures are
    /// accepted, as published to verifiers.
    #[arg(
        long,
        env = "DEPOSIT_STATUS_SIGNING_KEY_VALID_FROM",
        default_value = "1970-01-01T00:00:00Z"
    )]
    pub signing_key_valid_from: DateTime<Utc>,

    /// Public keys of earlier signing keys still published during a rotation,
    /// comma-separated, each PATH=UNTIL: a PEM "PUBLIC KEY" file and the RFC
    /// 3339 instant its signatures stop being accepted.
    #[arg(long, env = "DEPOSIT_STATUS_PREVIOUS_PUBLIC_KEYS", value_delimiter = ',')]
    pub previous_public_keys: Vec<PreviousPublicKey>,

    /// PEM "PUBLIC KEY" files of the withdrawal-authorization keys whose
    /// release orders this service executes, comma-separated.
    #[arg(long, env = "DEPOSIT_STATUS_TRUSTED_RELEASE_KEY_FILES", value_delimiter = ',')]
    pub trusted_release_key_files: Vec<PathBuf>,

    /// Lifetime of a maturity attestation in seconds, 1 to 86400.
    #[arg(long, env = "DEPOSIT_STATUS_ATTESTATION_LIFETIME_SECS", default_value_t = DEFAULT_ATTESTATION_LIFETIME_SECS,
          value_parser = clap::value_parser!(u64).range(1..=MAX_ATTESTATION_LIFETIME_SECS))]
    pub attestation_lifetime_secs: u64,

    /// IANA time zone whose calendar date is the business date.
    #[arg(long, env = "DEPOSIT_STATUS_TIME_ZONE", default_value = DEFAULT_TIME_ZONE)]
    pub time_zone: Tz,

    /// Fixed business date, YYYY-MM-DD, for test and training environments.
    /// Unset means today in the time zone.
    #[arg(long, env = "DEPOSIT_STATUS_BUSINESS_DATE")]
    pub business_date: Option<NaiveDate>,

    /// Allow DepositAdminService.SetBusinessDate to fix the business date.
    /// Off by default: production follows the calendar.
    #[arg(long, env = "DEPOSIT_STATUS_ALLOW_BUSINESS_DATE_OVERRIDE")]
    pub allow_business_date_override: bool,

    /// Maximum time in ms one request may take before it fails with
    /// DEADLINE_EXCEEDED. At least 1.
    #[arg(long, env = "DEPOSIT_STATUS_REQUEST_TIMEOUT_MS", default_value_t = grpc_support::server::DEFAULT_REQUEST_TIMEOUT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..=u64::MAX))]
    pub request_timeout_ms: u64,

    /// Maximum number of requests in flight per listener; requests beyond it
    /// are rejected at once with a retryable status. 1 to 2305843009213693951
    /// on 64-bit platforms.
    #[arg(long, env = "DEPOSIT_STATUS_CONCURRENCY_LIMIT", default_value_t = grpc_support::server::DEFAULT_CONCURRENCY_LIMIT,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_CONCURRENCY_LIMIT as u64))]
    pub concurrency_limit: usize,

    /// Maximum size in bytes of one decoded request message. At least 1.
    #[arg(long, env = "DEPOSIT_STATUS_MAX_MESSAGE_BYTES", default_value_t = grpc_support::server::DEFAULT_MAX_MESSAGE_BYTES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=usize::MAX as u64))]
    pub max_message_bytes: usize,
}

impl Settings {
    /// Checks the rules between settings that clap cannot express, and
    /// checks the ranges of the value parsers again for settings built in
    /// code.
    pub fn validate(&self) -> Result<(), String> {
        if !self.admin_listen_addr.ip().is_loopback() && !self.admin_allow_non_loopback {
            return Err(format!(
                "invalid DEPOSIT_STATUS_ADMIN_LISTEN_ADDR {}: the admin listener feeds deposits, so it \
                 binds to loopback unless DEPOSIT_STATUS_ADMIN_ALLOW_NON_LOOPBACK=true",
                self.admin_listen_addr
            ));
        }
        if storage::Backend::from_url(&self.database_url).is_none() {
            return Err(format!(
                "invalid DEPOSIT_STATUS_DATABASE_URL {:?}: expected sqlite://PATH or \
                 postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                storage::redact_password(&self.database_url)
            ));
        }
        // The same ranges as the value parsers above, for settings built in
        // code. Each entry is (setting, value, minimum, maximum).
        let ranges = [
            (
                "DEPOSIT_STATUS_DATABASE_MAX_CONNECTIONS",
                u64::from(self.database_max_connections),
                1,
                u64::from(MAX_DATABASE_MAX_CONNECTIONS),
            ),
            (
                "DEPOSIT_STATUS_DATABASE_BUSY_TIMEOUT_MS",
                self.database_busy_timeout_ms,
                0,
                MAX_DATABASE_BUSY_TIMEOUT_MS,
            ),
            (
                "DEPOSIT_STATUS_DATABASE_CONNECT_TIMEOUT_MS",
                self.database_connect_timeout_ms,
                1,
                MAX_DATABASE_CONNECT_TIMEOUT_MS,
            ),
            (
                "DEPOSIT_STATUS_DATABASE_STATEMENT_TIMEOUT_MS",
                self.database_statement_timeout_ms,
                0,
                MAX_DATABASE_STATEMENT_TIMEOUT_MS,
            ),
            (
                "DEPOSIT_STATUS_DATABASE_SERIALIZATION_RETRIES",
                u64::from(self.database_serialization_retries),
                0,
                u64::from(MAX_DATABASE_SERIALIZATION_RETRIES),
            ),
            (
                "DEPOSIT_STATUS_ATTESTATION_LIFETIME_SECS",
                self.attestation_lifetime_secs,
                1,
                MAX_ATTESTATION_LIFETIME_SECS,
            ),
            (
                "DEPOSIT_STATUS_REQUEST_TIMEOUT_MS",
                self.request_timeout_ms,
                1,
                u64::MAX,
            ),
            (
                "DEPOSIT_STATUS_CONCURRENCY_LIMIT",
                self.concurrency_limit as u64,
                1,
                MAX_CONCURRENCY_LIMIT as u64,
            ),
            (
                "DEPOSIT_STATUS_MAX_MESSAGE_BYTES",
                self.max_message_bytes as u64,
                1,
                u64::MAX,
            ),
        ];
        for (setting, value, minimum, maximum) in ranges {
            if !(minimum..=maximum).contains(&value) {
                return Err(format!(
                    "invalid {setting} {value}: expected {minimum} to {maximum}"
                ));
            }
        }
        Ok(())
    }

    /// Attestation lifetime as a duration.
    pub fn attestation_lifetime(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.attestation_lifetime_secs as i64)
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

/// An earlier signing key's public half, published until `valid_until`.
#[derive(Debug, Clone)]
pub struct PreviousPublicKey {
    /// PEM "PUBLIC KEY" file.
    pub path: PathBuf,
    /// Instant from which its signatures are no longer accepted.
    pub valid_until: DateTime<Utc>,
}

impl FromStr for PreviousPublicKey {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (path, until) = text.rsplit_once('=').ok_or_else(|| {
            format!("{text:?} is not PATH=UNTIL, for example old.pub.pem=2027-01-01T00:00:00Z")
        })?;
        let valid_until = DateTime::parse_from_rfc3339(until)
            .map_err(|error| format!("{until:?} is not an RFC 3339 instant: {error}"))?
            .with_timezone(&Utc);
        Ok(PreviousPublicKey {
            path: PathBuf::from(path),
            valid_until,
        })
    }
}
