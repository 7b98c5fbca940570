//! The withdrawal-authorization binary: `serve` runs the service,
//! `generate-key` writes a new Ed25519 key pair, `verify-audit` checks the
//! audit log's hash chain and every release's signatures offline, and
//! `health-probe` checks a running service for container health checks.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
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
        #[arg(long, env = "WITHDRAWAL_AUTHORIZATION_DATABASE_URL")]
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
    /// health checks. Exits 0 when it reports SERVING and 1 otherwise.
    HealthProbe(ProbeArgs),
}

fn main() -> ExitCode {
    let env_file = std::env::args()
        .skip_while(|arg| arg != "--env-file")
        .nth(1)
        .or_else(|| std::env::var("WITHDRAWAL_AUTHORIZATION_ENV_FILE").ok());
    if let Some(path) = env_file
        && let Err(error) = dotenvy::from_path(&path)
    {
        eprintln!("error: invalid WITHDRAWAL_AUTHORIZATION_ENV_FILE {path}: {error}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
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
    tracing::info!(
        public = %application.public_addr(),
        admin = %application.admin_addr(),
        "withdrawal-authorization started"
    );
    match application
        .run_until(grpc_support::server::shutdown_signal())
        .await
    {
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
