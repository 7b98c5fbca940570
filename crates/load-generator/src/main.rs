//! The `bank-load` binary: parses the flags, runs the benchmark and prints
//! its report on stdout. Progress goes to stderr.

use std::process::ExitCode;

use clap::Parser;
use load_generator::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(load_generator::run(&cli)) {
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
