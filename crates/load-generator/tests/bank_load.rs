//! Runs the `bank-load` binary for a handful of flows against a stack it
//! starts itself on SQLite, with very short floors, and checks that every
//! flow completed and that the report has every section.
//!
//! bank-load starts the deposit-status and withdrawal-authorization
//! binaries next to its own, in the same target directory. `cargo test
//! --workspace` builds them, because the services' own integration tests
//! need them; `cargo test -p load-generator` alone does not.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BANK_LOAD: &str = env!("CARGO_BIN_EXE_bank-load");
/// Flows in the measured phase.
const FLOWS: u32 = 6;
/// Bound on the whole run: starting both services, setup, flows and floors.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Returns the report of a run on SQLite, after checking that it exited 0.
fn run_on_sqlite() -> String {
    let target_dir = Path::new(BANK_LOAD).parent().unwrap();
    for service in ["deposit-status", "withdrawal-authorization"] {
        assert!(
            target_dir.join(service).is_file(),
            "{service} is not built in {}: run cargo build --bin {service}, or cargo test --workspace",
            target_dir.display()
        );
    }
    let started = Instant::now();
    let output = Command::new(BANK_LOAD)
        .args([
            "--backend",
            "sqlite",
            "--tellers",
            "2",
            "--flows",
            &FLOWS.to_string(),
            "--warmup-flows",
            "2",
            "--floor-duration",
            "300ms",
            "--fail-on-error",
        ])
        .env_remove("BANK_LOAD_DATABASE_URL")
        .output()
        .expect("bank-load runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bank-load failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(
        started.elapsed() < RUN_TIMEOUT,
        "bank-load took {:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains("bank-load: starting deposit-status and withdrawal-authorization on SQLite"),
        "no progress on stderr:\n{stderr}"
    );
    stdout
}

/// Returns the first line of `report` that starts, after its indent, with
/// `label`.
fn line<'a>(report: &'a str, label: &str) -> &'a str {
    report
        .lines()
        .find(|line| line.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} line in the report:\n{report}"))
}

#[test]
fn sqlite_run_completes_every_flow() {
    let report = run_on_sqlite();

    let flows = line(&report, "flows ");
    assert!(
        flows.contains(&format!("{FLOWS} complete, 0 failed, 0 skipped")),
        "{flows}"
    );
    assert!(line(&report, "backend").contains("SQLite"));
    assert!(line(&report, "throughput").contains("complete flows/s"));
    assert!(line(&report, "paid out").contains("CNY"));

    let header: Vec<&str> = line(&report, "latency (ms)").split_whitespace().collect();
    assert_eq!(header, ["latency", "(ms)", "count", "p50", "p99", "p99.9", "max"]);
    for label in [
        "whole flow",
        "GetPassbook",
        "IssueMaturityAttestation",
        "SubmitWithdrawal",
        "AcknowledgeDisclosure",
        "CoSignAuthorizations",
        "ReleaseAuthorization",
    ] {
        let row: Vec<&str> = line(&report, label).split_whitespace().collect();
        let count = row[row.len() - 5];
        assert_eq!(count, FLOWS.to_string(), "{label}: {row:?}");
    }

    let errors = report
        .split("errors by reason")
        .nth(1)
        .expect("an errors section");
    assert_eq!(errors.lines().nth(1).map(str::trim), Some("none"));

    assert!(report.contains("peak RSS (VmHWM)"));
    for service in ["deposit-status", "withdrawal-authorization"] {
        let memory = report
            .split("peak RSS (VmHWM)")
            .nth(1)
            .and_then(|section| {
                section
                    .lines()
                    .find(|line| line.trim_start().starts_with(service))
            })
            .unwrap_or_else(|| panic!("no peak RSS of {service}:\n{report}"));
        assert!(memory.ends_with("MiB"), "{memory}");
    }

    let reruns = line(&report, "write transactions run again");
    assert!(!reruns.is_empty());
    assert!(line(&report, "whole machine").contains('%'));
    assert!(line(&report, "gRPC echo").contains("RPCs/s"));
    assert!(line(&report, "database commit").contains("commits/s"));
    assert!(line(&report, "gRPC ratio").contains("x 7 RPCs per flow"));
    assert!(line(&report, "database ratio").contains("x 7 commits per flow"));
}

/// SIGINT in the middle of a run stops it with status 130 and removes the
/// temporary folder with the services' keys and databases.
#[test]
fn interrupt_removes_temporary_folder() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let temp_root = tempfile::tempdir().unwrap();
    let mut child = Command::new(BANK_LOAD)
        .args([
            "--backend",
            "sqlite",
            "--tellers",
            "2",
            "--duration",
            "60",
            "--no-floors",
        ])
        .env("TMPDIR", temp_root.path())
        .env_remove("BANK_LOAD_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bank-load starts");

    // Wait until the services run and setup has begun.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut transcript = String::new();
    loop {
        let mut line = String::new();
        let read = stderr.read_line(&mut line).unwrap();
        assert!(read > 0, "bank-load ended before its setup:\n{transcript}");
        transcript.push_str(&line);
        if line.contains("feeding") {
            break;
        }
    }
    let entries_during_run = std::fs::read_dir(temp_root.path()).unwrap().count();
    assert!(entries_during_run > 0, "no temporary folder under TMPDIR");

    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "bank-load did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };

    assert_eq!(status.code(), Some(130), "{status}");
    let left: Vec<_> = std::fs::read_dir(temp_root.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind under TMPDIR: {left:?}");
}
