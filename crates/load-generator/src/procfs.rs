//! Memory and CPU figures of processes and of the machine, read from Linux's
//! /proc.

use std::io;

/// Clock ticks per second assumed when `getconf CLK_TCK` cannot be run: the
/// value of every mainstream Linux architecture.
const DEFAULT_CLOCK_TICKS_PER_SEC: u64 = 100;

/// Returns the peak resident set size of process `pid` in bytes: VmHWM
/// ("high water mark") from /proc/PID/status.
pub fn peak_rss_bytes(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status_kib(&status, "VmHWM")
        .map(|kib| kib * 1024)
        .ok_or_else(|| io::Error::other(format!("/proc/{pid}/status has no VmHWM line")))
}

/// Returns the value in KiB of a `NAME:   1234 kB` line of /proc/PID/status.
pub fn parse_status_kib(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        let number = rest.trim().strip_suffix("kB")?.trim();
        number.parse().ok()
    })
}

/// Returns the CPU time of process `pid` so far, user plus system, in clock
/// ticks, from /proc/PID/stat.
pub fn process_cpu_ticks(pid: u32) -> io::Result<u64> {
    read_process_stat(pid).map(|stat| stat.ticks)
}

/// Returns the CPU time of process `root` and of its children, in clock
/// ticks: the live children's own time, and the time of the children that
/// `root` has already waited for. A PostgreSQL postmaster waits for every
/// backend, so this is the CPU time of the whole server.
pub fn process_tree_cpu_ticks(root: u32) -> io::Result<u64> {
    let root_stat = read_process_stat(root)?;
    let mut ticks = root_stat.ticks + root_stat.waited_children_ticks;
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may exit between the listing and the read.
        if let Ok(stat) = read_process_stat(pid)
            && stat.parent == root
        {
            ticks += stat.ticks;
        }
    }
    Ok(ticks)
}

/// The fields bank-load reads from /proc/PID/stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessStat {
    /// Process id of the parent.
    pub parent: u32,
    /// User plus system time, in clock ticks.
    pub ticks: u64,
    /// User plus system time of the children the process waited for, in
    /// clock ticks.
    pub waited_children_ticks: u64,
}

fn read_process_stat(pid: u32) -> io::Result<ProcessStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_process_stat(&stat)
        .ok_or_else(|| io::Error::other(format!("/proc/{pid}/stat does not have the expected fields")))
}

/// Parses ppid (field 4), utime plus stime (fields 14 and 15), and cutime
/// plus cstime (fields 16 and 17) of a /proc/PID/stat line. The second
/// field is the command name in parentheses, which may itself contain
/// spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_process_stat(stat: &str) -> Option<ProcessStat> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name, so field N is at index
    // N - 3.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| -> Option<u64> { fields.get(number - 3)?.parse().ok() };
    Some(ProcessStat {
        parent: u32::try_from(field(4)?).ok()?,
        ticks: field(14)? + field(15)?,
        waited_children_ticks: field(16)? + field(17)?,
    })
}

/// CPU time of the whole machine, in clock ticks summed over all CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MachineTicks {
    /// Ticks spent running anything: every state except idle and iowait.
    pub busy: u64,
    /// All ticks.
    pub total: u64,
}

/// Reads the machine's CPU ticks from /proc/stat.
pub fn machine_ticks() -> io::Result<MachineTicks> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    parse_machine_ticks(&stat).ok_or_else(|| io::Error::other("/proc/stat has no aggregate cpu line"))
}

/// Parses the aggregate `cpu` line of /proc/stat: user, nice, system, idle,
/// iowait, irq, softirq, steal. Guest time is already part of user and
/// nice, so the later columns are not added.
pub fn parse_machine_ticks(stat: &str) -> Option<MachineTicks> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    if values.len() < 5 {
        return None;
    }
    let total: u64 = values.iter().sum();
    let idle = values[3] + values[4];
    Some(MachineTicks {
        busy: total - idle,
        total,
    })
}

/// Returns the number of clock ticks per second of /proc's CPU times, from
/// `getconf CLK_TCK`.
pub fn clock_ticks_per_sec() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8_lossy(&output.stdout).trim().parse().ok())
        .filter(|ticks| *ticks > 0)
        .unwrap_or(DEFAULT_CLOCK_TICKS_PER_SEC)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str =
        "Name:\tdeposit-status\nVmPeak:\t  123456 kB\nVmHWM:\t   41234 kB\nVmRSS:\t   40000 kB\n";

    #[test]
    fn status_kib_reads_named_line() {
        assert_eq!(parse_status_kib(STATUS, "VmHWM"), Some(41_234));
        assert_eq!(parse_status_kib(STATUS, "VmRSS"), Some(40_000));
        assert_eq!(parse_status_kib(STATUS, "VmSwap"), None);
    }

    #[test]
    fn status_kib_needs_exact_name() {
        // VmHW is a prefix of VmHWM, not a line of its own.
        assert_eq!(parse_status_kib(STATUS, "VmHW"), None);
    }

    #[test]
    fn process_stat_skips_command_name() {
        let stat = "4242 (with (odd) name) S 17 4242 4242 0 -1 4194560 1 0 0 0 250 75 30 12 20 0 9 0";
        let parsed = parse_process_stat(stat).unwrap();
        assert_eq!(parsed.parent, 17);
        assert_eq!(parsed.ticks, 325);
        assert_eq!(parsed.waited_children_ticks, 42);
    }

    #[test]
    fn process_stat_rejects_truncated_line() {
        assert_eq!(parse_process_stat("4242 (x) S 1 2 3"), None);
        assert_eq!(parse_process_stat("no parenthesis"), None);
    }

    #[test]
    fn own_process_tree_includes_own_time() {
        let pid = std::process::id();
        let own = process_cpu_ticks(pid).unwrap();
        assert!(process_tree_cpu_ticks(pid).unwrap() >= own);
    }

    #[test]
    fn machine_ticks_from_aggregate_line() {
        let stat = "cpu  100 5 50 800 20 3 2 10 0 0\ncpu0 50 2 25 400 10 1 1 5 0 0\n";
        let ticks = parse_machine_ticks(stat).unwrap();
        assert_eq!(ticks.total, 990);
        assert_eq!(ticks.busy, 170);
    }
}
