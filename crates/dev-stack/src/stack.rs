//! Both services in this process, on 127.0.0.1, with their SQLite files and
//! keys in the data folder.

use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::keys::{DataDir, KeysError, ensure_key};

/// Ports of the four listeners. Port 0 picks a free port.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub deposit_status: u16,
    pub deposit_admin: u16,
    pub authorization: u16,
    pub authorization_admin: u16,
}

/// Addresses the listeners were bound to.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    pub deposit_status: SocketAddr,
    pub deposit_admin: SocketAddr,
    pub authorization: SocketAddr,
    pub authorization_admin: SocketAddr,
}

/// Failure to start or to stop the stack.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("invalid service settings: {0}")]
    Settings(String),
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error("deposit-status: {0}")]
    DepositStatus(#[from] deposit_status::StartError),
    #[error("withdrawal-authorization: {0}")]
    Authorization(#[from] withdrawal_authorization::StartError),
    #[error("a service task panicked: {0}")]
    Panicked(#[from] tokio::task::JoinError),
}

/// Both services, serving until [`Stack::stop`].
pub struct Stack {
    pub addresses: Addresses,
    stop_deposit: watch::Sender<bool>,
    stop_authorization: watch::Sender<bool>,
    deposit_task: JoinHandle<Result<(), deposit_status::StartError>>,
    authorization_task: JoinHandle<Result<(), withdrawal_authorization::StartError>>,
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}", path.display())
}

impl Stack {
    /// Generates the service keys on first start, then builds and starts
    /// deposit-status and withdrawal-authorization.
    pub async fn start(
        data_dir: &DataDir,
        ports: Ports,
        business_date: NaiveDate,
    ) -> Result<Stack, StackError> {
        ensure_key(data_dir, "attestation")?;
        ensure_key(data_dir, "release")?;

        let mut deposit_settings: deposit_status::Settings =
            default_settings(&data_dir.key_file("attestation"))?;
        deposit_settings.listen_addr = loopback(ports.deposit_status);
        deposit_settings.admin_listen_addr = loopback(ports.deposit_admin);
        deposit_settings.admin_allow_non_loopback = false;
        deposit_settings.database_url = sqlite_url(&data_dir.deposit_database());
        deposit_settings.signing_key_valid_from = DateTime::<Utc>::UNIX_EPOCH;
        deposit_settings.previous_public_keys = Vec::new();
        deposit_settings.trusted_release_key_files = vec![data_dir.public_key_file("release")];
        deposit_settings.time_zone = chrono_tz::Asia::Shanghai;
        // The training date is configuration, so it holds on every start
        // and no admin call can move it.
        deposit_settings.business_date = Some(business_date);
        deposit_settings.allow_business_date_override = false;
        let deposit = deposit_status::Application::build(&deposit_settings).await?;
        let deposit_status_addr = deposit.public_addr();
        let deposit_admin_addr = deposit.admin_addr();

        let mut authorization_settings: withdrawal_authorization::Settings =
            default_settings(&data_dir.key_file("release"))?;
        authorization_settings.listen_addr = loopback(ports.authorization);
        authorization_settings.admin_listen_addr = loopback(ports.authorization_admin);
        authorization_settings.admin_allow_non_loopback = false;
        authorization_settings.database_url = sqlite_url(&data_dir.authorization_database());
        authorization_settings.signing_key_valid_from = DateTime::<Utc>::UNIX_EPOCH;
        authorization_settings.deposit_status_url = format!("http://{deposit_status_addr}");
        // Built before deposit-status serves, which is fine: the client
        // connects lazily.
        let authorization = withdrawal_authorization::Application::build(&authorization_settings).await?;
        let addresses = Addresses {
            deposit_status: deposit_status_addr,
            deposit_admin: deposit_admin_addr,
            authorization: authorization.public_addr(),
            authorization_admin: authorization.admin_addr(),
        };

        let until_stopped = |mut receiver: watch::Receiver<bool>| async move {
            let _ = receiver.wait_for(|stop| *stop).await;
        };
        let (stop_deposit, deposit_stopped) = watch::channel(false);
        let (stop_authorization, authorization_stopped) = watch::channel(false);
        let deposit_task = tokio::spawn(deposit.run_until(until_stopped(deposit_stopped)));
        let authorization_task = tokio::spawn(authorization.run_until(until_stopped(authorization_stopped)));
        Ok(Stack {
            addresses,
            stop_deposit,
            stop_authorization,
            deposit_task,
            authorization_task,
        })
    }

    /// Stops both services: withdrawal-authorization first, so no release
    /// is left calling a stopped deposit-status, then deposit-status.
    pub async fn stop(self) -> Result<(), StackError> {
        let _ = self.stop_authorization.send(true);
        let authorization = self.authorization_task.await;
        let _ = self.stop_deposit.send(true);
        let deposit = self.deposit_task.await;
        authorization??;
        deposit??;
        Ok(())
    }
}

/// Builds a service's settings from their defaults, as its own binary
/// reads them, so that a setting added to a service later gets its default
/// here too. `--signing-key-file` is the one flag without a default.
///
/// NOTE: the services' environment variables (DEPOSIT_STATUS_*,
/// WITHDRAWAL_AUTHORIZATION_*) still apply to the settings that
/// [`Stack::start`] does not set itself, such as timeouts.
fn default_settings<T: clap::Args>(signing_key_file: &Path) -> Result<T, StackError> {
    #[derive(clap::Parser)]
    struct Defaults<T: clap::Args> {
        #[command(flatten)]
        settings: T,
    }

    let parsed = <Defaults<T> as clap::Parser>::try_parse_from([
        OsStr::new("bank-dev"),
        OsStr::new("--signing-key-file"),
        signing_key_file.as_os_str(),
    ])
    .map_err(|error| StackError::Settings(error.to_string()))?;
    Ok(parsed.settings)
}
