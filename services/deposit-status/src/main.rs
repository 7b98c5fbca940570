//! The deposit-status binary: `serve` runs the service, `generate-key`
//! writes a new Ed25519 signing key, and `health-probe` checks a running
//! service for container health checks.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use deposit_status::config::DEFAULT_LISTEN_ADDR;
use deposit_status::environment::{self, ENV_FILE_FLAG, ENV_FILE_VARIABLE, EnvFile};
use deposit_status::{Application, Settings};
use grpc_support::health_probe::{self, ProbeArgs, ProbeTarget};

#[derive(Debug, Parser)]
#[command(
    name = "deposit-status",
    version,
    about = "System of record for passbooks and time deposits"
)]
struct Cli {
    /// File of KEY=VALUE lines read into the environment before the settings
    /// (variables already set win).
    #[arg(long, env = ENV_FILE_VARIABLE, global = true)]
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
    let probe = health_probe::is_probe_invocation(flags, &[ENV_FILE_FLAG]);
    let usage_error = if probe { health_probe::EXIT_UNHEALTHY } else { 2 };
    let env_file = match EnvFile::find(flags, std::env::var_os(ENV_FILE_VARIABLE)).map(EnvFile::load) {
        None => None,
        Some(Ok(loaded)) => Some(loaded),
        Some(Err(error)) => {
            eprintln!("error: {error}");
            return ExitCode::from(usage_error);
        }
    };
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            let error =
                environment::name_variables_in_error(error, &Cli::command(), flags, env_file.as_ref());
            if probe {
                return health_probe::exit_on_usage_error(&error);
            }
            error.exit()
        }
    };

    match cli.command {
        Command::GenerateKey { out } => generate_key(&out),
        Command::HealthProbe(args) => health_probe::run(
            &args,
            ProbeTarget {
                listen_addr_variable: "DEPOSIT_STATUS_LISTEN_ADDR",
                default_listen_addr: DEFAULT_LISTEN_ADDR,
                service_name: bank_proto::deposit::deposit_status_service_server::SERVICE_NAME,
            },
        ),
        Command::Serve(settings) => {
            grpc_support::server::init_tracing();
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("error: failed to start the async runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(serve(*settings))
        }
    }
}

async fn serve(settings: Settings) -> ExitCode {
    let application = match Application::build(&settings).await {
        Ok(application) => application,
        Err(error) => {
            tracing::error!(%error, "deposit-status failed to start");
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    // Installed before the addresses are printed, so a SIGTERM right after
    // them stops the service cleanly.
    let shutdown = grpc_support::server::shutdown_signal();
    let public_addr = application.public_addr();
    let admin_addr = application.admin_addr();
    tracing::info!(public = %public_addr, admin = %admin_addr, "deposit-status started");
    // A fixed line for scripts and tests that start the service on port 0.
    // The log line above changes with RUST_LOG and the log format.
    println!("deposit-status listening public={public_addr} admin={admin_addr}");

    match application.run_until(shutdown).await {
        Ok(()) => {
            tracing::info!("deposit-status stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(%error, "deposit-status failed");
            ExitCode::FAILURE
        }
    }
}

fn generate_key(out: &std::path::Path) -> ExitCode {
    let mut public_path = out.as_os_str().to_owned();
    public_path.push(".pub");
    let public_path = PathBuf::from(public_path);
    // Both paths are checked first, so that a failure leaves no private key
    // without its public half. The writes below also fail rather than
    // overwrite either file.
    for path in [out, public_path.as_path()] {
        if std::fs::symlink_metadata(path).is_ok() {
            eprintln!(
                "error: key file {} already exists and keys are never overwritten. Move or delete the old file first, or choose another path",
                path.display()
            );
            return ExitCode::FAILURE;
        }
    }
    let key = attestation::SigningKey::generate();
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
