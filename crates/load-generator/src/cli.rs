//! Command-line flags of `bank-load`, and the run plan they select.

use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;
use clap::{Parser, ValueEnum};

/// Business date of a stack that bank-load starts: the incident's date,
/// the one bank-dev and the tests fix.
pub const DEFAULT_BUSINESS_DATE: &str = "2025-02-22";
/// Length of the measured phase when neither `--duration` nor `--flows` is
/// given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(30);

/// Drives complete teller withdrawal flows against deposit-status and
/// withdrawal-authorization: GetPassbook, maturity attestation, signed
/// submission, signed disclosure acknowledgement, supervisor co-signature
/// and release. Then reports throughput, latency percentiles, errors by
/// reason, the services' peak memory, and the gRPC and database floors
/// measured on the same machine.
///
/// By default it starts both services from the binaries next to its own
/// executable, on 127.0.0.1 port 0, with fresh databases, and stops them at
/// the end. DEPOSIT_STATUS_* and WITHDRAWAL_AUTHORIZATION_* variables in its
/// environment pass through to the services it starts (for example
/// WITHDRAWAL_AUTHORIZATION_DATABASE_MAX_CONNECTIONS), except the addresses,
/// databases, keys and business date, which it sets itself.
#[derive(Debug, Clone, Parser)]
#[command(name = "bank-load", version)]
pub struct Cli {
    /// Concurrent tellers. Each has its own connections, key and
    /// supervisor; in closed-loop mode each runs one flow at a time.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub tellers: u32,

    /// Length of the measured phase, for example 30, 30s, 500ms or 2m. The
    /// default is 30 s when --flows is not given either.
    #[arg(long, value_parser = parse_duration, conflicts_with = "flows")]
    pub duration: Option<Duration>,

    /// Number of flows in the measured phase, instead of a duration.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=crate::MAX_DEPOSITS))]
    pub flows: Option<u64>,

    /// Open-loop mode: start this many flows per second, whatever the
    /// latency, and measure each flow's latency from its scheduled start.
    /// Without it every teller starts its next flow when the last one ends.
    #[arg(long, value_name = "FLOWS_PER_SEC", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rate: Option<u32>,

    /// Open-loop mode: maximum flows in flight. A scheduled flow that would
    /// exceed it is not started and is counted as skipped.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,

    /// Flows run before the measured phase and left out of the report, so
    /// that connections, caches and the databases are warm.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=crate::MAX_DEPOSITS))]
    pub warmup_flows: u64,

    /// Deposits fed for the measured phase. The default is the flow count
    /// with --flows, the rate times the duration plus one second with --rate, and otherwise
    /// 1.5 times the warm-up's rate times the duration. A closed-loop run
    /// that uses them all up ends early, and the report notes it.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=crate::MAX_DEPOSITS))]
    pub deposits: Option<u64>,

    /// Database backend of the services that bank-load starts, and of the
    /// commit floor.
    #[arg(long, value_enum, default_value_t = BackendArg::Sqlite)]
    pub backend: BackendArg,

    /// PostgreSQL server for --backend postgres, for example
    /// postgres://postgres@127.0.0.1:5432/postgres. Its user must be allowed
    /// to create databases: bank-load creates one per service and a scratch
    /// one for the commit floor, and drops them at the end.
    #[arg(long, env = "BANK_LOAD_DATABASE_URL")]
    pub database_url: Option<String>,

    /// deposit-status binary to start. Default: deposit-status next to the
    /// bank-load executable.
    #[arg(long, value_name = "PATH")]
    pub deposit_status_bin: Option<PathBuf>,

    /// withdrawal-authorization binary to start. Default:
    /// withdrawal-authorization next to the bank-load executable.
    #[arg(long, value_name = "PATH")]
    pub authorization_bin: Option<PathBuf>,

    /// RUST_LOG of the services that bank-load starts. The default is the
    /// services' own level, info, plus debug for the storage layer, whose
    /// line for each write transaction run again after a conflict the report
    /// counts. withdrawal-authorization's listen addresses are read from its
    /// info-level start line, so keep info for it.
    #[arg(long, default_value = "info,storage=debug")]
    pub service_rust_log: String,

    /// Fixed business date of the deposit-status that bank-load starts.
    #[arg(long, default_value = DEFAULT_BUSINESS_DATE)]
    pub business_date: NaiveDate,

    /// Drive an already running stack at the URLs below instead of
    /// starting one. Its business date is read from deposit-status.
    #[arg(long)]
    pub connect: bool,

    /// With --connect: deposit-status's teller-facing URL.
    #[arg(long, default_value = "http://127.0.0.1:50051", requires = "connect")]
    pub deposit_status_url: String,

    /// With --connect: deposit-status's admin URL, for feeding deposits.
    #[arg(long, default_value = "http://127.0.0.1:50052", requires = "connect")]
    pub deposit_admin_url: String,

    /// With --connect: withdrawal-authorization's teller-facing URL.
    #[arg(long, default_value = "http://127.0.0.1:50061", requires = "connect")]
    pub authorization_url: String,

    /// With --connect: withdrawal-authorization's admin URL, for enrolling
    /// staff.
    #[arg(long, default_value = "http://127.0.0.1:50062", requires = "connect")]
    pub authorization_admin_url: String,

    /// With --connect: process id of deposit-status, to report its peak
    /// memory.
    #[arg(long, requires = "connect")]
    pub deposit_status_pid: Option<u32>,

    /// With --connect: process id of withdrawal-authorization, to report
    /// its peak memory.
    #[arg(long, requires = "connect")]
    pub authorization_pid: Option<u32>,

    /// Process id of the PostgreSQL server (its postmaster), to report the
    /// CPU time of the server and its backends.
    #[arg(long)]
    pub postgres_pid: Option<u32>,

    /// Length of each floor measurement, in the same form as --duration.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub floor_duration: Duration,

    /// Skip the floor measurements and the ratios.
    #[arg(long)]
    pub no_floors: bool,

    /// Keep the temporary directory (keys, SQLite files, service logs) and
    /// the PostgreSQL databases, and print where they are.
    #[arg(long)]
    pub keep_data: bool,

    /// Exit with status 1 when any flow failed.
    #[arg(long)]
    pub fail_on_error: bool,
}

/// Database backend named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// SQLite files in a temporary directory.
    Sqlite,
    /// Databases on the PostgreSQL server of --database-url.
    Postgres,
}

impl BackendArg {
    /// Returns the name used in the report.
    pub fn name(self) -> &'static str {
        match self {
            BackendArg::Sqlite => "SQLite",
            BackendArg::Postgres => "PostgreSQL",
        }
    }
}

/// When the measured phase ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// No flow starts after this long.
    After(Duration),
    /// This many flows start, then the phase ends when they finish.
    Flows(u64),
}

/// The way flows are started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Every teller starts its next flow when its last one ends.
    ClosedLoop,
    /// Flows start at this many per second, round-robin over the tellers.
    OpenLoop { flows_per_sec: u32, max_in_flight: u32 },
}

impl Cli {
    /// Returns when the measured phase ends.
    pub fn stop(&self) -> Stop {
        match (self.flows, self.duration) {
            (Some(flows), _) => Stop::Flows(flows),
            (None, Some(duration)) => Stop::After(duration),
            (None, None) => Stop::After(DEFAULT_DURATION),
        }
    }

    /// Returns how flows are started.
    pub fn pacing(&self) -> Pacing {
        match self.rate {
            Some(flows_per_sec) => Pacing::OpenLoop {
                flows_per_sec,
                max_in_flight: self.max_in_flight,
            },
            None => Pacing::ClosedLoop,
        }
    }

    /// Checks the rules between flags that clap does not express.
    pub fn validate(&self) -> Result<(), String> {
        if self.backend == BackendArg::Postgres && self.database_url.is_none() {
            return Err(
                "--backend postgres needs --database-url postgres://USER@HOST:PORT/DATABASE (or \
                 BANK_LOAD_DATABASE_URL), a server whose user may create databases"
                    .to_owned(),
            );
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(format!(
                "invalid --database-url {:?}: expected postgres://USER@HOST:PORT/DATABASE",
                storage::redact_password(url)
            ));
        }
        if self.database_url.is_some() && self.backend != BackendArg::Postgres {
            return Err("--database-url is used only with --backend postgres".to_owned());
        }
        if self.stop() == Stop::After(Duration::ZERO) {
            return Err("invalid --duration 0: expected a positive duration".to_owned());
        }
        if self.floor_duration.is_zero() && !self.no_floors {
            return Err(
                "invalid --floor-duration 0: expected a positive duration, or --no-floors".to_owned(),
            );
        }
        Ok(())
    }
}

/// Maximum duration accepted: one day, far beyond any benchmark phase.
pub const MAX_DURATION: Duration = Duration::from_secs(86_400);

/// Parses a duration: a number of seconds (`30`), or a number with the unit
/// `ms`, `s` or `m` (`500ms`, `30s`, `2m`), at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit_millis) = if let Some(number) = text.strip_suffix("ms") {
        (number, 1)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1_000)
    } else if let Some(number) = text.strip_suffix('m') {
        (number, 60_000)
    } else {
        (text, 1_000)
    };
    let value: u64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected for example 30, 30s, 500ms or 2m"))?;
    value
        .checked_mul(unit_millis)
        .map(Duration::from_millis)
        .filter(|duration| *duration <= MAX_DURATION)
        .ok_or_else(|| format!("invalid duration {text:?}: longer than the maximum of 1440m (one day)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let mut all = vec!["bank-load"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap()
    }

    #[test]
    fn parse_duration_units() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn parse_duration_rejects_over_one_day() {
        assert_eq!(parse_duration("1440m"), Ok(MAX_DURATION));
        let error = parse_duration("86401s").unwrap_err();
        assert!(error.contains("maximum"), "{error}");
        assert!(parse_duration("1000000000000s").is_err());
    }

    #[test]
    fn parse_duration_rejects_garbage() {
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("-3s").is_err());
    }

    #[test]
    fn default_plan_is_closed_loop_for_30_seconds() {
        let cli = parse(&[]);
        assert_eq!(cli.stop(), Stop::After(DEFAULT_DURATION));
        assert_eq!(cli.pacing(), Pacing::ClosedLoop);
        assert_eq!(cli.validate(), Ok(()));
    }

    #[test]
    fn rate_selects_open_loop() {
        let cli = parse(&["--rate", "500", "--flows", "1000"]);
        assert_eq!(cli.stop(), Stop::Flows(1000));
        assert_eq!(
            cli.pacing(),
            Pacing::OpenLoop {
                flows_per_sec: 500,
                max_in_flight: 1024
            }
        );
    }

    #[test]
    fn postgres_needs_database_url() {
        let cli = parse(&["--backend", "postgres"]);
        assert!(cli.validate().unwrap_err().contains("--database-url"));
        let cli = parse(&[
            "--backend",
            "postgres",
            "--database-url",
            "postgres://postgres@127.0.0.1:5432/postgres",
        ]);
        assert_eq!(cli.validate(), Ok(()));
    }

    #[test]
    fn duration_and_flows_conflict() {
        let result = Cli::try_parse_from(["bank-load", "--duration", "5", "--flows", "10"]);
        assert!(result.is_err());
    }
}
