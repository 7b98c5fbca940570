//! `bank-load`: a load generator for the deposit-status and
//! withdrawal-authorization pair.
//!
//! A run starts the stack (or connects to a running one), creates its own
//! staff and deposits through the admin listeners, runs warm-up flows, then
//! measures complete withdrawal flows from concurrent tellers. After the
//! stack is stopped it measures two floors on the same machine, a trivial
//! gRPC call and a single-row database commit, and reports how much of
//! each the flows use.
#![forbid(unsafe_code)]

pub mod cli;
pub mod drive;
pub mod floors;
pub mod flow;
pub mod postgres;
pub mod procfs;
pub mod report;
pub mod service_log;
pub mod setup;
pub mod stack;
pub mod stats;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::{BackendArg, Cli, Pacing, Stop};
use crate::drive::PhaseResult;
use crate::postgres::RunDatabases;
use crate::report::{CpuUsage, Floors, Report};
use crate::service_log::{LogMark, Reruns};
use crate::setup::{Feeder, RunData, StackUrls};
use crate::stack::{AUTHORIZATION, DEPOSIT_STATUS, ServiceBinaries, Stack, StackSettings};

/// Name of the commit floor's scratch database or SQLite file.
const COMMIT_FLOOR: &str = "commit-floor";
/// The databases of a run, in the order of their names in [`RunDatabases`]:
/// one per service and the commit floor's.
const DATABASES: [&str; 3] = [DEPOSIT_STATUS, AUTHORIZATION, COMMIT_FLOOR];

/// Minimum number of deposits per teller fed for a closed-loop measured
/// phase sized from the warm-up.
const MIN_DEPOSITS_PER_TELLER: u64 = 10;

/// Maximum number of deposits fed for one phase. Each is a passbook opened
/// through the admin listener before the phase starts and kept in memory
/// until a flow takes it, so a larger count means a setup of hours and
/// gigabytes.
pub const MAX_DEPOSITS: u64 = 10_000_000;

/// A run that could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Stack(#[from] stack::StackError),
    #[error(transparent)]
    Setup(#[from] setup::SetupError),
    #[error(transparent)]
    Postgres(#[from] postgres::PostgresError),
    #[error(transparent)]
    Floor(#[from] floors::FloorError),
    #[error("failed to create a temporary directory: {0}")]
    TempDir(std::io::Error),
}

/// Process ids of the two services, where known.
#[derive(Debug, Clone, Copy, Default)]
struct ServicePids {
    deposit_status: Option<u32>,
    authorization: Option<u32>,
    postgres: Option<u32>,
}

/// The figures of the stack-facing part of a run.
struct Measurement {
    warmup: Option<PhaseResult>,
    measured: PhaseResult,
    cpu: CpuUsage,
    memory: Vec<(&'static str, Option<u64>)>,
    reruns: Vec<(&'static str, Option<Reruns>)>,
}

/// Runs the whole benchmark that `cli` describes and returns its report.
pub async fn run(cli: &Cli) -> Result<Report, LoadError> {
    cli.validate().map_err(LoadError::Invalid)?;
    let directory = tempfile::Builder::new()
        .prefix("bank-load-")
        .tempdir()
        .map_err(LoadError::TempDir)?;
    let databases = match (&cli.database_url, cli.backend) {
        (Some(server_url), BackendArg::Postgres) => {
            let tag = &flow::new_request_id()[..6];
            let names = DATABASES.map(|database| format!("bank_load_{tag}_{}", database.replace('-', "_")));
            Some(RunDatabases::create(server_url, &names).await?)
        }
        _ => None,
    };

    let result = run_in(cli, directory.path(), databases.as_ref()).await;

    if let Some(databases) = databases {
        if cli.keep_data {
            eprintln!(
                "bank-load: kept PostgreSQL databases {}",
                databases.names().join(", ")
            );
        } else if let Err(error) = databases.drop_all().await {
            eprintln!("bank-load: warning: {error}");
        }
    }
    if cli.keep_data {
        eprintln!(
            "bank-load: kept keys, SQLite files and service logs in {}",
            directory.keep().display()
        );
    }
    result
}

async fn run_in(cli: &Cli, directory: &Path, databases: Option<&RunDatabases>) -> Result<Report, LoadError> {
    let database_url = |database: &str| match databases {
        Some(databases) => {
            let index = DATABASES
                .iter()
                .position(|name| *name == database)
                .unwrap_or_default();
            databases.url(&databases.names()[index])
        }
        None => format!("sqlite://{}", directory.join(format!("{database}.db")).display()),
    };

    let (stack, urls, business_date, pids) = if cli.connect {
        let urls = StackUrls {
            deposit_status: cli.deposit_status_url.clone(),
            deposit_admin: cli.deposit_admin_url.clone(),
            authorization: cli.authorization_url.clone(),
            authorization_admin: cli.authorization_admin_url.clone(),
        };
        let business_date = setup::business_date(&urls.deposit_status).await?;
        let pids = ServicePids {
            deposit_status: cli.deposit_status_pid,
            authorization: cli.authorization_pid,
            postgres: cli.postgres_pid,
        };
        (None, urls, business_date, pids)
    } else {
        let settings = StackSettings {
            binaries: ServiceBinaries::locate(cli.deposit_status_bin.clone(), cli.authorization_bin.clone())?,
            directory: directory.to_path_buf(),
            deposit_status_database_url: database_url(DEPOSIT_STATUS),
            authorization_database_url: database_url(AUTHORIZATION),
            business_date: cli.business_date,
            rust_log: cli.service_rust_log.clone(),
        };
        eprintln!(
            "bank-load: starting deposit-status and withdrawal-authorization on {}",
            cli.backend.name()
        );
        let stack = Stack::start(&settings).await?;
        eprintln!(
            "bank-load: deposit-status pid {} at {}, withdrawal-authorization pid {} at {}",
            stack.deposit_status.pid,
            stack.deposit_status.addresses.public,
            stack.authorization.pid,
            stack.authorization.addresses.public
        );
        let pids = ServicePids {
            deposit_status: Some(stack.deposit_status.pid),
            authorization: Some(stack.authorization.pid),
            postgres: cli.postgres_pid,
        };
        let urls = stack.urls();
        (Some(stack), urls, cli.business_date, pids)
    };

    let logs = match &stack {
        Some(stack) => vec![
            (DEPOSIT_STATUS, stack.deposit_status.log.clone()),
            (AUTHORIZATION, stack.authorization.log.clone()),
        ],
        None => Vec::new(),
    };
    let measurement = measure(cli, &urls, business_date, pids, &logs).await;
    let stack_description = match &stack {
        Some(stack) => format!(
            "started by bank-load: deposit-status pid {}, withdrawal-authorization pid {}",
            stack.deposit_status.pid, stack.authorization.pid
        ),
        None => format!(
            "already running: deposit-status {}, withdrawal-authorization {}",
            urls.deposit_status, urls.authorization
        ),
    };
    if let Some(stack) = stack {
        stack.stop().await?;
    }
    let measurement = measurement?;

    let floors = if cli.no_floors {
        None
    } else {
        let concurrency = cli.tellers;
        eprintln!("bank-load: measuring the gRPC echo floor with {concurrency} clients");
        let echo = floors::echo_floor(concurrency, cli.floor_duration).await?;
        eprintln!(
            "bank-load: measuring the {} commit floor with {concurrency} tasks",
            cli.backend.name()
        );
        // One connection per task, so that the floor measures the database at
        // the tellers' concurrency rather than a queue for a small pool.
        let commit = floors::commit_floor(
            &database_url(COMMIT_FLOOR),
            concurrency,
            concurrency,
            cli.floor_duration,
        )
        .await?;
        Some(Floors { echo, commit })
    };

    Ok(Report {
        backend: cli.backend.name(),
        stack: stack_description,
        tellers: cli.tellers,
        pacing: cli.pacing(),
        stop: cli.stop(),
        warmup: measurement.warmup,
        measured: measurement.measured,
        memory: measurement.memory,
        reruns: measurement.reruns,
        cpu: Some(measurement.cpu),
        floors,
    })
}

/// Sets up the run's data, runs the warm-up and the measured phase, and
/// reads the services' CPU time, peak memory and, from `logs`, their
/// reruns of conflicted write transactions.
async fn measure(
    cli: &Cli,
    urls: &StackUrls,
    business_date: chrono::NaiveDate,
    pids: ServicePids,
    logs: &[(&'static str, PathBuf)],
) -> Result<Measurement, LoadError> {
    setup::ensure_demand_rate(&urls.deposit_admin).await?;
    let run = RunData::new(business_date);
    eprintln!(
        "bank-load: enrolling {} tellers and {} supervisors at branch {}",
        cli.tellers, cli.tellers, run.branch_id
    );
    let tellers = Arc::new(setup::enroll_tellers(urls, &run, cli.tellers).await?);
    let feeder = Feeder::connect(&urls.deposit_admin, &run).await?;
    let feed_concurrency = cli.tellers as usize;

    let warmup = if cli.warmup_flows > 0 {
        eprintln!("bank-load: feeding {} deposits for the warm-up", cli.warmup_flows);
        let deposits = feeder.feed(cli.warmup_flows, feed_concurrency).await?;
        let stop = Stop::Flows(cli.warmup_flows);
        Some(drive::run_phase("warm-up", &tellers, deposits, stop, Pacing::ClosedLoop).await)
    } else {
        None
    };

    let count = deposits_needed(
        cli.deposits,
        cli.stop(),
        cli.pacing(),
        cli.tellers,
        warmup
            .as_ref()
            .map(|phase| (phase.tally.completed, phase.elapsed)),
    )
    .map_err(LoadError::Invalid)?;
    if count > MAX_DEPOSITS {
        return Err(LoadError::Invalid(format!(
            "the measured phase needs {count} deposits, more than the maximum of {MAX_DEPOSITS}: \
             shorten --duration, lower --rate or --flows, or pass a smaller --deposits"
        )));
    }
    eprintln!("bank-load: feeding {count} deposits for the measured phase");
    let fed_at = Instant::now();
    let deposits = feeder.feed(count, feed_concurrency).await?;
    eprintln!("bank-load: fed in {:.1} s", fed_at.elapsed().as_secs_f32());

    let marks: Vec<LogMark> = logs
        .iter()
        .map(|(service, path)| LogMark::new(service, path))
        .collect();
    let before = CpuSnapshot::take(pids);
    let measured = drive::run_phase("measured", &tellers, deposits, cli.stop(), cli.pacing()).await;
    let cpu = CpuSnapshot::take(pids).since(&before);
    let reruns = marks
        .iter()
        .map(|mark| (mark.service, mark.reruns_since().ok()))
        .collect();
    let memory = vec![
        (DEPOSIT_STATUS, pids.deposit_status.and_then(peak_rss)),
        (AUTHORIZATION, pids.authorization.and_then(peak_rss)),
    ];
    Ok(Measurement {
        warmup,
        measured,
        cpu,
        memory,
        reruns,
    })
}

fn peak_rss(pid: u32) -> Option<u64> {
    procfs::peak_rss_bytes(pid)
        .inspect_err(|error| {
            eprintln!("bank-load: warning: failed to read the peak RSS of process {pid}: {error}")
        })
        .ok()
}

/// Returns how many deposits the measured phase needs. That is `explicit`
/// when given, else the flow count with a flow limit. In open-loop mode it
/// is the rate times the duration plus one second of flows. In closed-loop
/// mode it is 1.5 times what the warm-up's rate would complete in the
/// duration.
pub fn deposits_needed(
    explicit: Option<u64>,
    stop: Stop,
    pacing: Pacing,
    tellers: u32,
    warmup: Option<(u64, Duration)>,
) -> Result<u64, String> {
    if let Some(count) = explicit {
        return Ok(count);
    }
    let duration = match stop {
        Stop::Flows(flows) => return Ok(flows),
        Stop::After(duration) => duration,
    };
    let duration_millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if let Pacing::OpenLoop { flows_per_sec, .. } = pacing {
        let flows_per_sec = u64::from(flows_per_sec);
        return Ok(flows_per_sec.saturating_mul(duration_millis) / 1000 + flows_per_sec);
    }
    let Some((completed, elapsed)) =
        warmup.filter(|(completed, elapsed)| *completed > 0 && !elapsed.is_zero())
    else {
        return Err(
            "a closed-loop run with --duration sizes its deposits from the warm-up's rate, but no warm-up flow \
             completed: pass --warmup-flows with a positive count, or --deposits"
                .to_owned(),
        );
    };
    let elapsed_millis = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX).max(1);
    let estimate =
        completed.saturating_mul(duration_millis).saturating_mul(3) / elapsed_millis.saturating_mul(2);
    Ok(estimate.max(u64::from(tellers) * MIN_DEPOSITS_PER_TELLER))
}

/// CPU ticks of the services, of this process and of the machine at one
/// instant.
struct CpuSnapshot {
    at: Instant,
    processes: Vec<(&'static str, Option<u64>)>,
    machine: Option<procfs::MachineTicks>,
}

impl CpuSnapshot {
    fn take(pids: ServicePids) -> Self {
        let ticks = |pid: Option<u32>| pid.and_then(|pid| procfs::process_cpu_ticks(pid).ok());
        let mut processes = vec![
            (DEPOSIT_STATUS, ticks(pids.deposit_status)),
            (AUTHORIZATION, ticks(pids.authorization)),
            ("bank-load", ticks(Some(std::process::id()))),
        ];
        if let Some(postgres) = pids.postgres {
            processes.push(("PostgreSQL server", procfs::process_tree_cpu_ticks(postgres).ok()));
        }
        CpuSnapshot {
            at: Instant::now(),
            processes,
            machine: procfs::machine_ticks().ok(),
        }
    }

    /// Returns the CPU used between `earlier` and this snapshot.
    fn since(&self, earlier: &CpuSnapshot) -> CpuUsage {
        let processes = self
            .processes
            .iter()
            .zip(&earlier.processes)
            .map(|((name, now), (_, before))| (*name, now.zip(*before).map(|(now, before)| now - before)))
            .collect();
        let machine = self
            .machine
            .zip(earlier.machine)
            .map(|(now, before)| procfs::MachineTicks {
                busy: now.busy - before.busy,
                total: now.total - before.total,
            });
        CpuUsage {
            wall: self.at - earlier.at,
            ticks_per_sec: procfs::clock_ticks_per_sec(),
            processes,
            machine,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOSED: Pacing = Pacing::ClosedLoop;

    #[test]
    fn deposits_needed_explicit_wins() {
        let count = deposits_needed(Some(42), Stop::Flows(10), CLOSED, 4, None);
        assert_eq!(count, Ok(42));
    }

    #[test]
    fn deposits_needed_for_flow_count() {
        assert_eq!(deposits_needed(None, Stop::Flows(10), CLOSED, 4, None), Ok(10));
    }

    #[test]
    fn deposits_needed_for_rate() {
        let pacing = Pacing::OpenLoop {
            flows_per_sec: 500,
            max_in_flight: 100,
        };
        let count = deposits_needed(None, Stop::After(Duration::from_secs(30)), pacing, 4, None);
        assert_eq!(count, Ok(15_500));
    }

    #[test]
    fn deposits_needed_from_warmup_rate() {
        // 100 flows in 0.5 s is 200 flows/s; 30 s of that is 6,000, times 1.5.
        let warmup = Some((100, Duration::from_millis(500)));
        let count = deposits_needed(None, Stop::After(Duration::from_secs(30)), CLOSED, 4, warmup);
        assert_eq!(count, Ok(9_000));
    }

    #[test]
    fn deposits_needed_has_a_minimum_per_teller() {
        let warmup = Some((1, Duration::from_secs(10)));
        let count = deposits_needed(None, Stop::After(Duration::from_secs(1)), CLOSED, 32, warmup);
        assert_eq!(count, Ok(320));
    }

    #[test]
    fn deposits_needed_without_warmup_fails() {
        let result = deposits_needed(None, Stop::After(Duration::from_secs(1)), CLOSED, 4, None);
        assert!(result.unwrap_err().contains("--warmup-flows"));
    }
}
