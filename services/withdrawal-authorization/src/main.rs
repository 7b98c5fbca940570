//! The withdrawal-authorization binary: `serve` runs the service,
//! `generate-key` writes a new Ed25519 key pair, `verify-audit` checks the
//! audit log's hash chain and every release's signatures offline, and
//! `health-probe` checks a running service for container health checks.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use grpc_support::env_file;
use grpc_support::health_probe::{self, ProbeArgs, ProbeTarget};
use withdrawal_authorization::config::DEFAULT_LISTEN_ADDR;
use withdrawal_authorization::{Application, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "withdrawal-authorization",
    version,
    about = "Four-eyes gate for time-deposit withdrawals"
)]
struct Cli {
    /// File of KEY=VALUE lines read into the environment before the settings
    /// (variables already set win).
    #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_ENV_FILE", global = true)]
    env_file: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service.
    Serve(Box<Settings>),
    /// Write a new Ed25519 key pair: PATH (PKCS#8 PEM, mode 0600) and
    /// PATH.pub (public key PEM).
    GenerateKey {
        /// Path of the private key file; it must not exist.
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify the audit log in a database: the hash chain, and for each
    /// release the attestation, teller and supervisor signatures. Exits 0
    /// when everything verifies and 1 otherwise.
    VerifyAudit {
        /// Database URL, sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE.
        // The value is hidden from --help because it may contain a password.
        #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_DATABASE_URL", hide_env_values = true)]
        database_url: String,
        /// PEM "PUBLIC KEY" files of deposit-status's attestation keys,
        /// comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        attestation_public_keys: Vec<PathBuf>,
        /// The head printed by an earlier run, SEQUENCE:SHA256, kept outside
        /// the database. Without it a log cut off or rewritten from some
        /// record to its end still verifies.
        #[arg(long, value_parser = parse_head)]
        expect_head: Option<(i64, String)>,
    },
    /// Check a running service over the gRPC health protocol, for container
    /// health checks. Exits 0 when it reports SERVING and 1 on any failure,
    /// invalid flags and settings included.
    HealthProbe(ProbeArgs),
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let flags = args.get(1..).unwrap_or_default();
    // A health probe exits with 1 on every failure, because container
    // engines reserve the usual usage-error status 2.
    let probe = health_probe::is_probe_invocation(flags, &["--env-file"]);
    let usage_error = if probe { health_probe::EXIT_UNHEALTHY } else { 2 };
    let env_file = flags
        .iter()
        .skip_while(|arg| *arg != "--env-file")
        .nth(1)
        .cloned()
        .or_else(|| std::env::var_os("WITHDRAWAL_AUTHORIZATION_ENV_FILE"))
        .map(PathBuf::from);
    if let Some(path) = env_file
        && let Err(error) = dotenvy::from_path(&path)
    {
        eprintln!(
            "error: invalid WITHDRAWAL_AUTHORIZATION_ENV_FILE {}: {}",
            path.display(),
            env_file::describe_dotenvy_error(&path, &error)
        );
        return ExitCode::from(usage_error);
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) if probe => return health_probe::exit_on_usage_error(&error),
        Err(error) => error.exit(),
    };
    match cli.command {
        Command::GenerateKey { out } => generate_key(&out),
        Command::HealthProbe(args) => health_probe::run(
            &args,
            ProbeTarget {
                listen_addr_variable: "WITHDRAWAL_AUTHORIZATION_LISTEN_ADDR",
                default_listen_addr: DEFAULT_LISTEN_ADDR,
                service_name: bank_proto::withdrawal::withdrawal_authorization_service_server::SERVICE_NAME,
            },
        ),
        Command::Serve(settings) => {
            grpc_support::server::init_tracing();
            match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime.block_on(serve(*settings)),
                Err(error) => {
                    eprintln!("error: failed to start the async runtime: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::VerifyAudit {
            database_url,
            attestation_public_keys,
            expect_head,
        } => match tokio::runtime::Runtime::new() {
            Ok(runtime) => {
                runtime.block_on(verify_audit(&database_url, &attestation_public_keys, expect_head))
            }
            Err(error) => {
                eprintln!("error: failed to start the async runtime: {error}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve(settings: Settings) -> ExitCode {
    let application = match Application::build(&settings).await {
        Ok(application) => application,
        Err(error) => {
            tracing::error!(%error, "withdrawal-authorization failed to start");
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    // Installed before the addresses are printed, so a SIGTERM right after
    // them stops the service cleanly.
    let shutdown = grpc_support::server::shutdown_signal();
    let public_addr = application.public_addr();
    let admin_addr = application.admin_addr();
    tracing::info!(public = %public_addr, admin = %admin_addr, "withdrawal-authorization started");
    // A fixed line for scripts and tests that start the service on port 0,
    // the same as deposit-status prints. The log line above changes with
    // RUST_LOG and the log format.
    println!("withdrawal-authorization listening public={public_addr} admin={admin_addr}");
    match application.run_until(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "withdrawal-authorization failed");
            ExitCode::FAILURE
        }
    }
}

/// Parses SEQUENCE:SHA256 as printed by `verify-audit`.
fn parse_head(text: &str) -> Result<(i64, String), String> {
    let (sequence, hash) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not SEQUENCE:SHA256, for example 42:3f9a…"))?;
    let sequence = sequence
        .parse()
        .map_err(|_| format!("{sequence:?} is not a sequence number"))?;
    if hash.len() != 64 || !hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(format!("{hash:?} is not 64 hexadecimal digits"));
    }
    Ok((sequence, hash.to_ascii_lowercase()))
}

async fn verify_audit(
    database_url: &str,
    key_files: &[PathBuf],
    expect_head: Option<(i64, String)>,
) -> ExitCode {
    let mut keyring = attestation::Keyring::new();
    for path in key_files {
        let key = match attestation::VerifyingKey::read_pem_file(path) {
            Ok(key) => key,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        };
        if let Err(error) = keyring.insert(key, DateTime::<Utc>::UNIX_EPOCH, None) {
            eprintln!("error: {}: {error}", path.display());
            return ExitCode::from(2);
        }
    }
    match withdrawal_authorization::audit::verify_database(database_url, keyring, expect_head).await {
        Ok(report) => {
            println!(
                "{} records, {} releases verified, {} problems",
                report.records,
                report.releases_verified,
                report.problems.len()
            );
            if let Some((sequence, hash)) = &report.head {
                println!(
                    "head {sequence}:{hash} (keep it outside the database and pass it as --expect-head next time)"
                );
            }
            for problem in &report.problems {
                println!("problem: {problem}");
            }
            if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!(
                "error: failed to read the audit log from {}: {error}",
                storage::redact_password(database_url)
            );
            ExitCode::from(2)
        }
    }
}

fn generate_key(out: &std::path::Path) -> ExitCode {
    let key = attestation::SigningKey::generate();
    let public_path = PathBuf::from(format!("{}.pub", out.display()));
    let result = key
        .write_pem_file(out)
        .and_then(|()| key.verifying_key().write_pem_file(&public_path));
    match result {
        Ok(()) => {
            println!(
                "wrote {} and {} (key id {})",
                out.display(),
                public_path.display(),
                key.key_id()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
