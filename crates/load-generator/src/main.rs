//! The `bank-load` binary: parses the flags, runs the benchmark and prints
//! its report on stdout. Progress goes to stderr.

use std::process::ExitCode;

use clap::Parser;
use load_generator::cli::Cli;

/// Exit status after SIGINT or SIGTERM, as shells report a process that
/// SIGINT ended: 128 + 2.
const EXIT_INTERRUPTED: u8 = 130;

/// Resolves on the first SIGINT or SIGTERM. When a handler cannot be
/// installed, that signal keeps its default action and never resolves this.
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let wait = |stream: Option<tokio::signal::unix::Signal>| async move {
        match stream {
            Some(mut stream) => {
                stream.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = wait(signal(SignalKind::interrupt()).ok()) => {}
        () = wait(signal(SignalKind::terminate()).ok()) => {}
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // On SIGINT or SIGTERM the run is dropped: the services it started are
    // killed (their handles kill on drop) and its temporary folder is
    // removed, instead of both outliving bank-load.
    let outcome = runtime.block_on(async {
        tokio::select! {
            result = load_generator::run(&cli) => Some(result),
            () = interrupted() => None,
        }
    });
    let Some(result) = outcome else {
        eprintln!(
            "bank-load: interrupted; stopped the services it started and removed its temporary folder. \
             Databases it created on a PostgreSQL server are left behind"
        );
        return ExitCode::from(EXIT_INTERRUPTED);
    };
    match result {
        Ok(report) => {
            print!("{report}");
            if cli.fail_on_error && report.measured.tally.failed > 0 {
                eprintln!(
                    "error: {} flows failed (--fail-on-error)",
                    report.measured.tally.failed
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
