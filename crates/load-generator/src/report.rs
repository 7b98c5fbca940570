//! The report printed at the end of a run: throughput, latency
//! percentiles, errors by reason, memory, CPU, the floors, and the ratios of
//! the flow's demand to each floor.
//!
//! Rates, percentages and ratios are measurements, so they are `f64`; money
//! stays `Decimal`.
#![allow(
    clippy::float_arithmetic,
    reason = "rates, latencies and ratios are measurements, not money"
)]

use std::fmt::{self, Display, Write as _};
use std::time::Duration;

use grpc_support::convert::format_amount_grouped;

use crate::cli::{Pacing, Stop};
use crate::drive::PhaseResult;
use crate::floors::FloorResult;
use crate::flow::STEPS;
use crate::procfs::MachineTicks;
use crate::service_log::Reruns;
use crate::stats::{LatencyHistogram, QUANTILES};

/// RPCs one flow makes: the six calls of the teller's client, and the
/// ExecuteWithdrawal call that withdrawal-authorization makes to
/// deposit-status during ReleaseAuthorization. withdrawal-authorization
/// fetches deposit-status's keys (ListVerificationKeys) once per process,
/// not per flow, so that call is not counted.
pub const RPCS_PER_FLOW: u32 = 7;

/// Write transactions committed per flow, counted from the services'
/// `Database::write` calls on the flow's path. deposit-status commits one
/// in IssueMaturityAttestation and one in ExecuteWithdrawal.
/// withdrawal-authorization commits one each in SubmitWithdrawal,
/// AcknowledgeDisclosure and CoSignAuthorizations, and two in
/// ReleaseAuthorization: signing the release order, then recording the
/// payout. Reads outside write transactions are not counted, although
/// PostgreSQL runs each of them as a transaction of its own, and a write
/// transaction run again after a serialization failure commits only once.
pub const COMMITS_PER_FLOW: u32 = 7;

/// Width of the label column.
const LABEL_WIDTH: usize = 28;

/// CPU time used while the measured phase ran.
#[derive(Debug, Clone)]
pub struct CpuUsage {
    pub wall: Duration,
    pub ticks_per_sec: u64,
    /// Each process and its user plus system ticks, where they could be
    /// read.
    pub processes: Vec<(&'static str, Option<u64>)>,
    pub machine: Option<MachineTicks>,
    pub cores: usize,
}

/// Both floors.
#[derive(Debug, Clone)]
pub struct Floors {
    pub echo: FloorResult,
    pub commit: FloorResult,
}

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// "SQLite" or "PostgreSQL".
    pub backend: &'static str,
    /// A short description of the stack that ran.
    pub stack: String,
    pub tellers: u32,
    pub pacing: Pacing,
    pub stop: Stop,
    pub warmup: Option<PhaseResult>,
    pub measured: PhaseResult,
    /// Peak resident set size of each service in bytes, where known.
    pub memory: Vec<(&'static str, Option<u64>)>,
    /// Write transactions each started service ran again after a conflict
    /// during the measured phase, where its log could be read. Empty for a
    /// stack bank-load did not start.
    pub reruns: Vec<(&'static str, Option<Reruns>)>,
    pub cpu: Option<CpuUsage>,
    pub floors: Option<Floors>,
}

impl Report {
    /// Returns complete flows per second in the measured phase.
    pub fn flows_per_sec(&self) -> f64 {
        per_sec(self.measured.tally.completed, self.measured.elapsed)
    }
}

/// Returns `count` per second over `elapsed`, or zero for no time.
pub fn per_sec(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// Returns the share of a floor's capacity that the flows use:
/// `flows_per_sec` times `per_flow` operations, divided by the floor's
/// operations per second. Zero when the floor is zero.
pub fn floor_ratio(flows_per_sec: f64, per_flow: u32, floor_per_sec: f64) -> f64 {
    if floor_per_sec > 0.0 {
        flows_per_sec * f64::from(per_flow) / floor_per_sec
    } else {
        0.0
    }
}

/// Formats a duration in milliseconds with two decimals.
pub fn millis(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

/// Formats a byte count in MiB with one decimal.
pub fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Returns the header of the latency table.
pub fn latency_header() -> String {
    let mut line = format!("  {:<LABEL_WIDTH$}{:>9}", "latency (ms)", "count");
    for quantile in QUANTILES {
        let _ = write!(line, "{:>10}", quantile.label);
    }
    let _ = write!(line, "{:>10}", "max");
    line
}

/// Returns one row of the latency table.
pub fn latency_row(label: &str, histogram: &LatencyHistogram) -> String {
    let mut line = format!("  {label:<LABEL_WIDTH$}{:>9}", histogram.count());
    for quantile in QUANTILES {
        let _ = write!(line, "{:>10}", millis(histogram.quantile(quantile.value)));
    }
    let _ = write!(line, "{:>10}", millis(histogram.max()));
    line
}

fn describe_load(report: &Report) -> String {
    let pacing = match report.pacing {
        Pacing::ClosedLoop => format!("closed loop, {} tellers", report.tellers),
        Pacing::OpenLoop {
            flows_per_sec,
            max_in_flight,
        } => format!(
            "open loop at {flows_per_sec} flows/s over {} tellers (at most {max_in_flight} in flight)",
            report.tellers
        ),
    };
    let stop = match report.stop {
        Stop::After(duration) => format!("{} s", duration.as_secs_f64()),
        Stop::Flows(flows) => format!("{flows} flows"),
    };
    let warmup = match &report.warmup {
        Some(phase) => format!(
            ", after {} warm-up flows ({:.1} flows/s)",
            phase.tally.completed + phase.tally.failed,
            per_sec(phase.tally.completed, phase.elapsed)
        ),
        None => ", no warm-up".to_owned(),
    };
    format!("{pacing}, {stop} measured{warmup}")
}

impl Display for Report {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tally = &self.measured.tally;
        writeln!(out, "bank-load report")?;
        writeln!(out, "  {:<LABEL_WIDTH$}{}", "backend", self.backend)?;
        writeln!(out, "  {:<LABEL_WIDTH$}{}", "stack", self.stack)?;
        writeln!(out, "  {:<LABEL_WIDTH$}{}", "load", describe_load(self))?;
        writeln!(
            out,
            "  {:<LABEL_WIDTH$}{} complete, {} failed, {} skipped in {:.2} s",
            "flows",
            tally.completed,
            tally.failed,
            tally.skipped,
            self.measured.elapsed.as_secs_f64()
        )?;
        if self.measured.ran_out_of_deposits {
            writeln!(
                out,
                "  {:<LABEL_WIDTH$}the phase ended early: every fed deposit was used (rerun with a larger \
                 --deposits)",
                "note"
            )?;
        }
        writeln!(
            out,
            "  {:<LABEL_WIDTH$}{:.1} complete flows/s",
            "throughput",
            self.flows_per_sec()
        )?;
        writeln!(
            out,
            "  {:<LABEL_WIDTH$}{} CNY, of which the customers lost {} CNY of interest",
            "paid out",
            format_amount_grouped(tally.paid_out, 2),
            format_amount_grouped(tally.interest_lost, 2)
        )?;

        writeln!(out)?;
        writeln!(out, "{}", latency_header())?;
        writeln!(out, "{}", latency_row("whole flow", &tally.flow))?;
        for step in STEPS {
            writeln!(out, "{}", latency_row(step.method(), &tally.step(step)))?;
        }

        writeln!(out)?;
        writeln!(out, "  errors by reason")?;
        if tally.errors.is_empty() {
            writeln!(out, "    none")?;
        }
        for ((step, reason), count) in &tally.errors {
            writeln!(out, "    {count:>8}  {reason} (in {})", step.method())?;
        }

        writeln!(out)?;
        writeln!(out, "  peak RSS (VmHWM)")?;
        for (name, bytes) in &self.memory {
            let value = bytes.map_or_else(|| "unknown (no process id)".to_owned(), mebibytes);
            writeln!(out, "    {name:<26}{value}")?;
        }

        if !self.reruns.is_empty() {
            write_reruns(out, &self.reruns, tally.completed)?;
        }
        if let Some(cpu) = &self.cpu {
            write_cpu(out, cpu, tally.completed)?;
        }
        if let Some(floors) = &self.floors {
            write_floors(out, self, floors)?;
        }
        Ok(())
    }
}

fn write_reruns(
    out: &mut fmt::Formatter<'_>,
    reruns: &[(&'static str, Option<Reruns>)],
    flows: u64,
) -> fmt::Result {
    writeln!(out)?;
    writeln!(
        out,
        "  write transactions run again after a conflict (from the services' logs)"
    )?;
    for (name, counted) in reruns {
        let Some(counted) = counted else {
            writeln!(out, "    {name:<26}unknown (log not readable)")?;
            continue;
        };
        let per_flow = if flows > 0 {
            counted.reruns as f64 / flows as f64
        } else {
            0.0
        };
        writeln!(
            out,
            "    {name:<26}{} reruns ({per_flow:.2} per complete flow), {} gave up",
            counted.reruns, counted.gave_up
        )?;
    }
    Ok(())
}

fn write_cpu(out: &mut fmt::Formatter<'_>, cpu: &CpuUsage, flows: u64) -> fmt::Result {
    let wall_ticks = cpu.wall.as_secs_f64() * cpu.ticks_per_sec as f64;
    writeln!(out)?;
    writeln!(
        out,
        "  CPU while measured ({} cores; 100 % is one core for the whole phase)",
        cpu.cores
    )?;
    for (name, ticks) in &cpu.processes {
        let Some(ticks) = ticks else {
            writeln!(out, "    {name:<26}unknown (no process id)")?;
            continue;
        };
        let secs = *ticks as f64 / cpu.ticks_per_sec as f64;
        let per_flow = if flows > 0 {
            format!("{:.2} ms per complete flow", secs * 1000.0 / flows as f64)
        } else {
            "no complete flow".to_owned()
        };
        writeln!(
            out,
            "    {name:<26}{:>5.0} %   {per_flow}",
            100.0 * *ticks as f64 / wall_ticks.max(1.0)
        )?;
    }
    if let Some(machine) = cpu.machine {
        let total = machine.total.max(1) as f64;
        let known: u64 = cpu.processes.iter().filter_map(|(_, ticks)| *ticks).sum();
        let machine_share = |ticks: u64| 100.0 * cpu.cores as f64 * ticks as f64 / total;
        writeln!(
            out,
            "    {:<26}{:>5.0} %   ({}the kernel and any other work)",
            "everything else",
            machine_share(machine.busy.saturating_sub(known)),
            if cpu
                .processes
                .iter()
                .any(|(name, _)| name.starts_with("PostgreSQL"))
            {
                ""
            } else {
                "a database server, "
            }
        )?;
        writeln!(
            out,
            "    {:<26}{:>5.0} % of {} %",
            "whole machine",
            machine_share(machine.busy),
            100 * cpu.cores
        )?;
    }
    Ok(())
}

fn write_floors(out: &mut fmt::Formatter<'_>, report: &Report, floors: &Floors) -> fmt::Result {
    writeln!(out)?;
    writeln!(
        out,
        "  floors ({} concurrent clients, {:.1} s each)",
        floors.echo.concurrency,
        floors.echo.elapsed.as_secs_f64()
    )?;
    writeln!(
        out,
        "    {:<26}{:.0} RPCs/s (tonic-health Health/Check served in-process on 127.0.0.1; p50 {} ms, \
         p99 {} ms)",
        "gRPC echo",
        per_sec(floors.echo.operations, floors.echo.elapsed),
        millis(floors.echo.latency.quantile(0.5)),
        millis(floors.echo.latency.quantile(0.99)),
    )?;
    writeln!(
        out,
        "    {:<26}{:.0} commits/s ({}, one INSERT per write transaction through the services' storage \
         layer, {} connections; p50 {} ms, p99 {} ms)",
        "database commit",
        per_sec(floors.commit.operations, floors.commit.elapsed),
        report.backend,
        floors.commit.connections,
        millis(floors.commit.latency.quantile(0.5)),
        millis(floors.commit.latency.quantile(0.99)),
    )?;

    write_ratios(out, report.flows_per_sec(), floors)
}

fn write_ratios(out: &mut fmt::Formatter<'_>, flows_per_sec: f64, floors: &Floors) -> fmt::Result {
    let echo_per_sec = per_sec(floors.echo.operations, floors.echo.elapsed);
    let commits_per_sec = per_sec(floors.commit.operations, floors.commit.elapsed);
    writeln!(out)?;
    writeln!(out, "  ratios (share of the floor that the flows use)")?;
    writeln!(
        out,
        "    {:<26}{flows_per_sec:.1} flows/s x {RPCS_PER_FLOW} RPCs per flow / {echo_per_sec:.0} echo RPCs/s = {:.3}",
        "gRPC ratio",
        floor_ratio(flows_per_sec, RPCS_PER_FLOW, echo_per_sec)
    )?;
    writeln!(
        out,
        "    {:<26}{flows_per_sec:.1} flows/s x {COMMITS_PER_FLOW} commits per flow / {commits_per_sec:.0} \
         commits/s = {:.3}",
        "database ratio",
        floor_ratio(flows_per_sec, COMMITS_PER_FLOW, commits_per_sec)
    )?;
    writeln!(
        out,
        "    per flow: {RPCS_PER_FLOW} RPCs = the 6 teller calls above + ExecuteWithdrawal from \
         withdrawal-authorization to deposit-status; {COMMITS_PER_FLOW} write transactions = deposit-status's \
         IssueMaturityAttestation and ExecuteWithdrawal + withdrawal-authorization's SubmitWithdrawal, \
         AcknowledgeDisclosure, CoSignAuthorizations and 2 in ReleaseAuthorization"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_sec_divides_by_elapsed() {
        assert_eq!(per_sec(300, Duration::from_secs(2)), 150.0);
        assert_eq!(per_sec(5, Duration::ZERO), 0.0);
    }

    #[test]
    fn floor_ratio_scales_by_operations_per_flow() {
        let ratio = floor_ratio(100.0, 7, 1400.0);
        assert!((ratio - 0.5).abs() < 1e-12, "{ratio}");
        assert_eq!(floor_ratio(100.0, 7, 0.0), 0.0);
    }

    #[test]
    fn millis_has_two_decimals() {
        assert_eq!(millis(Duration::from_micros(12_345)), "12.35");
        assert_eq!(millis(Duration::ZERO), "0.00");
    }

    #[test]
    fn mebibytes_has_one_decimal() {
        assert_eq!(mebibytes(64 * 1024 * 1024), "64.0 MiB");
        assert_eq!(mebibytes(1_572_864), "1.5 MiB");
    }

    #[test]
    fn latency_row_lists_percentiles_in_order() {
        let mut histogram = LatencyHistogram::new();
        for micros in 1..=1000 {
            histogram.record(Duration::from_micros(micros * 100));
        }
        let header = latency_header();
        let row = latency_row("whole flow", &histogram);
        let header_columns: Vec<&str> = header.split_whitespace().collect();
        assert_eq!(
            header_columns,
            ["latency", "(ms)", "count", "p50", "p99", "p99.9", "max"]
        );
        let values: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(values[..3], ["whole", "flow", "1000"]);
        // hdrhistogram reports the highest value equivalent to the
        // quantile's, within its 0.1 % precision.
        assert_eq!(values[3], "50.01");
        assert_eq!(values[4], "99.01");
        assert_eq!(values[5], "99.90");
        assert_eq!(values[6], "100.03");
    }

    #[test]
    fn latency_columns_line_up() {
        let row = latency_row("GetPassbook", &LatencyHistogram::new());
        assert_eq!(row.len(), latency_header().len());
    }
}
