//! `bank-dev`: deposit-status and withdrawal-authorization in one process,
//! on 127.0.0.1, with SQLite files, keys, demo staff and demo passbooks in a
//! data folder (default `.bank-dev/`), for development and teller training.
//!
//! The first start generates the keys and loads the demo data; later starts
//! reuse both. The business date is fixed (2025-02-22 by default). The
//! process runs until Ctrl-C or SIGTERM and then stops both services and
//! exits 0.
#![forbid(unsafe_code)]

mod banner;
mod keys;
mod seed;
mod stack;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use bank_proto::deposit::deposit_admin_service_client::DepositAdminServiceClient;
use bank_proto::withdrawal::withdrawal_admin_service_client::WithdrawalAdminServiceClient;
use chrono::NaiveDate;
use clap::{Parser, ValueEnum};

use crate::keys::DataDir;
use crate::stack::{Ports, Stack};

/// Exit status when the stack could not start.
const EXIT_START_FAILED: u8 = 1;
/// Exit status for invalid flags, as clap uses.
const EXIT_INVALID_INPUT: u8 = 2;

/// Language of the banner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    #[value(name = "zh-CN")]
    ZhCn,
    #[value(name = "en")]
    En,
}

impl Lang {
    pub fn pick<'a>(self, zh_cn: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::ZhCn => zh_cn,
            Lang::En => en,
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "bank-dev",
    version,
    about = "Both bank services in one process with demo data, for development and training (本地演示环境)"
)]
struct Cli {
    /// Folder of the databases and keys; created on first start and reused
    /// after. Delete it to start over.
    #[arg(long, default_value = ".bank-dev", value_name = "PATH")]
    data_dir: PathBuf,
    /// Port base: deposit-status listens on BASE+1 (admin BASE+2),
    /// withdrawal-authorization on BASE+11 (admin BASE+12). 0 picks free
    /// ports and prints them.
    #[arg(long, default_value_t = 50050)]
    port_base: u16,
    /// Port of deposit-status's teller-facing listener; overrides the base.
    #[arg(long)]
    deposit_status_port: Option<u16>,
    /// Port of deposit-status's admin listener; overrides the base.
    #[arg(long)]
    deposit_admin_port: Option<u16>,
    /// Port of withdrawal-authorization's teller-facing listener; overrides
    /// the base.
    #[arg(long)]
    authorization_port: Option<u16>,
    /// Port of withdrawal-authorization's admin listener; overrides the base.
    #[arg(long)]
    authorization_admin_port: Option<u16>,
    /// Fixed business date, YYYY-MM-DD; not before 2024-11-22, the latest
    /// opening date in the demo data.
    #[arg(long, default_value = "2025-02-22")]
    business_date: NaiveDate,
    /// Language of the banner: zh-CN (default) or en.
    #[arg(long, value_enum, default_value_t = Lang::ZhCn, env = "TELLER_LANG")]
    lang: Lang,
}

impl Cli {
    /// Works out the four ports, or explains why the base is too high.
    fn ports(&self) -> Result<Ports, String> {
        let offset = |delta: u16| -> Result<u16, String> {
            if self.port_base == 0 {
                return Ok(0);
            }
            self.port_base.checked_add(delta).ok_or_else(|| {
                format!(
                    "invalid --port-base {}: BASE+12 must be at most 65535",
                    self.port_base
                )
            })
        };
        Ok(Ports {
            deposit_status: self.deposit_status_port.map_or_else(|| offset(1), Ok)?,
            deposit_admin: self.deposit_admin_port.map_or_else(|| offset(2), Ok)?,
            authorization: self.authorization_port.map_or_else(|| offset(11), Ok)?,
            authorization_admin: self.authorization_admin_port.map_or_else(|| offset(12), Ok)?,
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ports = match cli.ports() {
        Ok(ports) => ports,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_INVALID_INPUT);
        }
    };
    init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::from(EXIT_START_FAILED);
        }
    };
    runtime.block_on(run(&cli, ports))
}

/// Logs to stderr, by RUST_LOG or else warnings of the services and this
/// binary's own start and stop.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,bank_dev=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

async fn run(cli: &Cli, ports: Ports) -> ExitCode {
    // Installed before anything starts, so a signal during start-up still
    // stops the stack cleanly once it is up.
    let shutdown = grpc_support::server::shutdown_signal();
    let data_dir = DataDir::new(&cli.data_dir);
    let reused = data_dir.has_data();

    let stack = match Stack::start(&data_dir, ports, cli.business_date).await {
        Ok(stack) => stack,
        Err(error) => {
            tracing::error!(%error, "bank-dev failed to start");
            eprintln!(
                "{}{error}",
                cli.lang
                    .pick("错误：演示环境启动失败：", "error: the stack failed to start: ")
            );
            eprintln!(
                "{}",
                cli.lang.pick(
                    "如端口被占用，请用 --port-base 换一组端口；如数据目录损坏，删除后重新启动。",
                    "If a port is taken, choose others with --port-base; if the data folder is damaged, delete it and start again.",
                )
            );
            return ExitCode::from(EXIT_START_FAILED);
        }
    };
    let addresses = stack.addresses;
    tracing::info!(
        deposit_status = %addresses.deposit_status,
        deposit_admin = %addresses.deposit_admin,
        authorization = %addresses.authorization,
        authorization_admin = %addresses.authorization_admin,
        data_dir = %cli.data_dir.display(),
        "bank-dev started"
    );

    if let Err(error) = load_demo_data(&data_dir, &addresses).await {
        tracing::error!(%error, "loading the demo data failed");
        eprintln!(
            "{}{error}",
            cli.lang.pick(
                "错误：载入演示数据失败：",
                "error: loading the demo data failed: "
            )
        );
        eprintln!(
            "{}",
            cli.lang.pick(
                "数据目录可能来自其他版本或密钥已被替换：删除数据目录后重新启动。",
                "The data folder may come from another version, or its keys were replaced: delete it and start again.",
            )
        );
        let _ = stack.stop().await;
        return ExitCode::from(EXIT_START_FAILED);
    }

    print!(
        "{}",
        banner::text(cli.lang, &cli.data_dir, &addresses, cli.business_date, reused)
    );
    println!("{}", banner::ready_line(&addresses));

    shutdown.await;
    tracing::info!("bank-dev stopping");
    match stack.stop().await {
        Ok(()) => {
            tracing::info!("bank-dev stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(%error, "bank-dev stopped with an error");
            eprintln!("error: {error}");
            ExitCode::from(EXIT_START_FAILED)
        }
    }
}

async fn load_demo_data(
    data_dir: &DataDir,
    addresses: &stack::Addresses,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut deposit_admin =
        DepositAdminServiceClient::connect(format!("http://{}", addresses.deposit_admin)).await?;
    seed::load_deposits(&mut deposit_admin).await?;
    let mut authorization_admin =
        WithdrawalAdminServiceClient::connect(format!("http://{}", addresses.authorization_admin)).await?;
    seed::enroll_staff(data_dir, &mut authorization_admin).await?;
    Ok(())
}
