//! Starting and stopping deposit-status and withdrawal-authorization as
//! child processes on 127.0.0.1 port 0, as an operator runs them: keys from
//! their `generate-key` commands, settings in environment variables, and
//! the listen addresses read from their output.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use tokio::process::{Child, Command};

use crate::setup::StackUrls;

/// Maximum time a service may take from its start to printing its
/// addresses, migrations included.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Interval between two reads of a starting service's log.
const START_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Maximum time a service may take to stop after SIGTERM before it is
/// killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Lines of a service's log shown when it fails to start.
const LOG_TAIL_LINES: usize = 20;

/// A failure to start or stop a service.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(
        "{service} binary not found at {path}: build it first (cargo build --release --bin {service}) or pass \
         --{flag} PATH"
    )]
    MissingBinary {
        service: &'static str,
        path: PathBuf,
        flag: &'static str,
    },
    #[error("failed to run {command}: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed ({status}): {output}")]
    Command {
        command: String,
        status: ExitStatus,
        output: String,
    },
    #[error("{service} exited ({status}) before printing its addresses; last lines of {log}:\n{tail}")]
    Exited {
        service: &'static str,
        status: ExitStatus,
        log: String,
        tail: String,
    },
    #[error("{service} printed no listen addresses within {timeout_secs} s; last lines of {log}:\n{tail}")]
    NoAddresses {
        service: &'static str,
        timeout_secs: u64,
        log: String,
        tail: String,
    },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The two service binaries.
#[derive(Debug, Clone)]
pub struct ServiceBinaries {
    pub deposit_status: PathBuf,
    pub authorization: PathBuf,
}

impl ServiceBinaries {
    /// Takes the paths given, or else the binaries next to this executable,
    /// where cargo puts every binary of the workspace.
    pub fn locate(
        deposit_status: Option<PathBuf>,
        authorization: Option<PathBuf>,
    ) -> Result<Self, StackError> {
        let own_dir = std::env::current_exe()
            .ok()
            .and_then(|path| path.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let deposit_status = deposit_status.unwrap_or_else(|| own_dir.join(DEPOSIT_STATUS));
        let authorization = authorization.unwrap_or_else(|| own_dir.join(AUTHORIZATION));
        for (service, path, flag) in [
            (DEPOSIT_STATUS, &deposit_status, "deposit-status-bin"),
            (AUTHORIZATION, &authorization, "authorization-bin"),
        ] {
            if !path.is_file() {
                return Err(StackError::MissingBinary {
                    service,
                    path: path.clone(),
                    flag,
                });
            }
        }
        Ok(ServiceBinaries {
            deposit_status,
            authorization,
        })
    }
}

/// Name of the deposit-status binary and of its output lines.
pub const DEPOSIT_STATUS: &str = "deposit-status";
/// Name of the withdrawal-authorization binary and of its output lines.
pub const AUTHORIZATION: &str = "withdrawal-authorization";

/// The addresses of a service's two listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddresses {
    pub public: SocketAddr,
    pub admin: SocketAddr,
}

/// Parses the line both services print on stdout once their listeners are
/// bound: `SERVICE listening public=ADDR admin=ADDR`.
pub fn parse_listening_line(service: &str, line: &str) -> Option<ListenAddresses> {
    let marker = format!("{service} listening ");
    let rest = line.find(&marker).map(|at| &line[at + marker.len()..])?;
    let mut public = None;
    let mut admin = None;
    for token in rest.split_whitespace() {
        if let Some(value) = token.strip_prefix("public=") {
            public = value.parse().ok();
        } else if let Some(value) = token.strip_prefix("admin=") {
            admin = value.parse().ok();
        }
    }
    Some(ListenAddresses {
        public: public?,
        admin: admin?,
    })
}

/// Settings of a stack that bank-load starts.
#[derive(Debug, Clone)]
pub struct StackSettings {
    pub binaries: ServiceBinaries,
    /// Directory for keys and logs (and SQLite files, by the URLs).
    pub directory: PathBuf,
    pub deposit_status_database_url: String,
    pub authorization_database_url: String,
    pub business_date: NaiveDate,
    pub rust_log: String,
}

/// A running service process.
pub struct ServiceProcess {
    pub name: &'static str,
    pub pid: u32,
    pub addresses: ListenAddresses,
    pub log: PathBuf,
    child: Child,
}

impl ServiceProcess {
    /// Stops the service with SIGTERM, as an operator would, and kills it
    /// when it has not exited within [`STOP_TIMEOUT`].
    pub async fn stop(mut self) -> Result<ExitStatus, StackError> {
        let io_error = |source| StackError::Io {
            path: format!("process {}", self.pid),
            source,
        };
        // tokio's Child can only send SIGKILL, and this crate forbids the
        // unsafe code that libc::kill needs, so kill(1) sends SIGTERM.
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await
            .map_err(io_error)?;
        if sent.success()
            && let Ok(status) = tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await
        {
            return status.map_err(io_error);
        }
        self.child.kill().await.map_err(io_error)?;
        self.child.wait().await.map_err(io_error)
    }
}

/// Both services, started by bank-load.
pub struct Stack {
    pub deposit_status: ServiceProcess,
    pub authorization: ServiceProcess,
}

impl Stack {
    /// Generates both services' keys, then starts deposit-status and
    /// withdrawal-authorization and waits until each prints its addresses.
    pub async fn start(settings: &StackSettings) -> Result<Stack, StackError> {
        let directory = &settings.directory;
        let attestation_key = directory.join("attestation.pem");
        let release_key = directory.join("release.pem");
        generate_key(&settings.binaries.deposit_status, &attestation_key).await?;
        generate_key(&settings.binaries.authorization, &release_key).await?;
        let release_public_key = directory.join("release.pem.pub");

        let mut command = service_command(&settings.binaries.deposit_status, &settings.rust_log);
        command.envs([
            ("DEPOSIT_STATUS_LISTEN_ADDR", "127.0.0.1:0".to_owned()),
            ("DEPOSIT_STATUS_ADMIN_LISTEN_ADDR", "127.0.0.1:0".to_owned()),
            (
                "DEPOSIT_STATUS_DATABASE_URL",
                settings.deposit_status_database_url.clone(),
            ),
            (
                "DEPOSIT_STATUS_SIGNING_KEY_FILE",
                attestation_key.display().to_string(),
            ),
            (
                "DEPOSIT_STATUS_TRUSTED_RELEASE_KEY_FILES",
                release_public_key.display().to_string(),
            ),
            (
                "DEPOSIT_STATUS_BUSINESS_DATE",
                settings.business_date.format("%Y-%m-%d").to_string(),
            ),
        ]);
        let deposit_status = spawn(DEPOSIT_STATUS, command, directory).await?;

        let mut command = service_command(&settings.binaries.authorization, &settings.rust_log);
        command.envs([
            ("WITHDRAWAL_AUTHORIZATION_LISTEN_ADDR", "127.0.0.1:0".to_owned()),
            (
                "WITHDRAWAL_AUTHORIZATION_ADMIN_LISTEN_ADDR",
                "127.0.0.1:0".to_owned(),
            ),
            (
                "WITHDRAWAL_AUTHORIZATION_DATABASE_URL",
                settings.authorization_database_url.clone(),
            ),
            (
                "WITHDRAWAL_AUTHORIZATION_SIGNING_KEY_FILE",
                release_key.display().to_string(),
            ),
            (
                "WITHDRAWAL_AUTHORIZATION_DEPOSIT_STATUS_URL",
                format!("http://{}", deposit_status.addresses.public),
            ),
        ]);
        let authorization = match spawn(AUTHORIZATION, command, directory).await {
            Ok(authorization) => authorization,
            Err(error) => {
                let _ = deposit_status.stop().await;
                return Err(error);
            }
        };
        Ok(Stack {
            deposit_status,
            authorization,
        })
    }

    /// Returns the services' URLs.
    pub fn urls(&self) -> StackUrls {
        StackUrls {
            deposit_status: format!("http://{}", self.deposit_status.addresses.public),
            deposit_admin: format!("http://{}", self.deposit_status.addresses.admin),
            authorization: format!("http://{}", self.authorization.addresses.public),
            authorization_admin: format!("http://{}", self.authorization.addresses.admin),
        }
    }

    /// Stops withdrawal-authorization first, so that no release is left
    /// calling a stopped deposit-status, then deposit-status.
    pub async fn stop(self) -> Result<(), StackError> {
        let authorization = self.authorization.stop().await;
        let deposit_status = self.deposit_status.stop().await;
        authorization?;
        deposit_status?;
        Ok(())
    }
}

/// Builds the command that runs `binary serve`, with plain-text logs at
/// `rust_log`. Other settings come from the environment.
fn service_command(binary: &Path, rust_log: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .arg("serve")
        .env("RUST_LOG", rust_log)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs `binary generate-key --out path`.
async fn generate_key(binary: &Path, path: &Path) -> Result<(), StackError> {
    let description = format!("{} generate-key --out {}", binary.display(), path.display());
    let output = Command::new(binary)
        .arg("generate-key")
        .arg("--out")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| StackError::Spawn {
            command: description.clone(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(StackError::Command {
        command: description,
        status: output.status,
        output: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

/// Starts `command` with its output in DIRECTORY/SERVICE.log and waits for
/// the line with its addresses.
async fn spawn(
    service: &'static str,
    mut command: Command,
    directory: &Path,
) -> Result<ServiceProcess, StackError> {
    let log = directory.join(format!("{service}.log"));
    let io_error = |source| StackError::Io {
        path: log.display().to_string(),
        source,
    };
    // A file rather than a pipe: nothing in this process has to keep
    // reading the services' logs while the load runs.
    let stdout = std::fs::File::create(&log).map_err(io_error)?;
    let stderr = stdout.try_clone().map_err(io_error)?;
    command.stdout(stdout).stderr(stderr);
    let mut child = command.spawn().map_err(|source| StackError::Spawn {
        command: service.to_owned(),
        source,
    })?;
    let pid = child.id().unwrap_or_default();

    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(addresses) = text.lines().find_map(|line| parse_listening_line(service, line)) {
            return Ok(ServiceProcess {
                name: service,
                pid,
                addresses,
                log,
                child,
            });
        }
        if let Some(status) = child.try_wait().map_err(io_error)? {
            return Err(StackError::Exited {
                service,
                status,
                log: log.display().to_string(),
                tail: tail(&text),
            });
        }
        if Instant::now() >= deadline {
            let _ = child.kill().await;
            return Err(StackError::NoAddresses {
                service,
                timeout_secs: START_TIMEOUT.as_secs(),
                log: log.display().to_string(),
                tail: tail(&text),
            });
        }
        tokio::time::sleep(START_POLL_INTERVAL).await;
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_line_parsed() {
        let line = "deposit-status listening public=127.0.0.1:40001 admin=127.0.0.1:40002";
        let addresses = parse_listening_line(DEPOSIT_STATUS, line).unwrap();
        assert_eq!(addresses.public, "127.0.0.1:40001".parse().unwrap());
        assert_eq!(addresses.admin, "127.0.0.1:40002".parse().unwrap());
    }

    #[test]
    fn authorization_listening_line_parsed() {
        let line = "withdrawal-authorization listening public=127.0.0.1:40003 admin=127.0.0.1:40004";
        let addresses = parse_listening_line(AUTHORIZATION, line).unwrap();
        assert_eq!(addresses.public, "127.0.0.1:40003".parse().unwrap());
        assert_eq!(addresses.admin, "127.0.0.1:40004".parse().unwrap());
    }

    #[test]
    fn ipv6_addresses_parsed() {
        let line = "deposit-status listening public=[::1]:40001 admin=[::1]:40002";
        let addresses = parse_listening_line(DEPOSIT_STATUS, line).unwrap();
        assert_eq!(addresses.public, "[::1]:40001".parse().unwrap());
    }

    #[test]
    fn other_service_line_ignored() {
        let line = "deposit-status listening public=127.0.0.1:40001 admin=127.0.0.1:40002";
        assert_eq!(parse_listening_line(AUTHORIZATION, line), None);
    }

    #[test]
    fn line_missing_an_address_ignored() {
        assert_eq!(
            parse_listening_line(DEPOSIT_STATUS, "deposit-status listening public=127.0.0.1:1"),
            None
        );
        assert_eq!(
            parse_listening_line(
                DEPOSIT_STATUS,
                "deposit-status listening public=nowhere admin=127.0.0.1:2"
            ),
            None
        );
        assert_eq!(
            parse_listening_line(DEPOSIT_STATUS, "gRPC server listening addr=127.0.0.1:1"),
            None
        );
    }
}
