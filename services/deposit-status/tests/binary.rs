//! Tests of the deposit-status binary run as an operator runs it: key
//! generation, start-up from environment variables and an env file,
//! configuration errors, health, reflection and shutdown on SIGTERM. Every
//! server listens on 127.0.0.1 port 0 and uses a SQLite file in a temporary
//! directory, except the restart test on PostgreSQL, which uses a database
//! on the test binary's PostgreSQL cluster.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use attestation::{SigningKey, VerifyingKey};
use bank_proto::deposit::deposit_admin_service_client::DepositAdminServiceClient;
use bank_proto::deposit::deposit_status_service_client::DepositStatusServiceClient;
use bank_proto::deposit::{
    GetBusinessDateRequest, GetPassbookRequest, ListVerificationKeysRequest, OpenPassbookRequest,
};
use chrono::{DateTime, SubsecRound, Utc};
use tempfile::TempDir;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

const BINARY: &str = env!("CARGO_BIN_EXE_deposit-status");
const STATUS_SERVICE: &str = "bank.deposit.v1.DepositStatusService";
const ADMIN_SERVICE: &str = "bank.deposit.v1.DepositAdminService";
/// Line prefix the binary prints once both listeners are bound.
const LISTENING_PREFIX: &str = "deposit-status listening ";

/// Bound on starting a server: until it prints its addresses and its health
/// check returns SERVING.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on one health or reflection call.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on a process exiting: after SIGTERM, or after a start-up error.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);
/// Exit code of a usage or configuration error.
const USAGE_ERROR: i32 = 2;
/// Exit code of every failed health probe, usage errors included.
const PROBE_FAILURE: i32 = 1;

/// A temporary directory with a signing key, and the environment variables
/// that start a server from it.
struct Deployment {
    directory: TempDir,
    signing_key: SigningKey,
}

impl Deployment {
    fn new() -> Self {
        let directory = tempfile::tempdir().unwrap();
        let signing_key = SigningKey::generate();
        signing_key
            .write_pem_file(directory.path().join("signing.pem"))
            .unwrap();
        Deployment {
            directory,
            signing_key,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.directory.path().join(name)
    }

    /// Settings of a valid server on 127.0.0.1 port 0, as environment
    /// variables.
    fn settings(&self) -> BTreeMap<String, String> {
        let database = self.path("deposit-status.db");
        [
            (
                "DEPOSIT_STATUS_SIGNING_KEY_FILE",
                self.path("signing.pem").display().to_string(),
            ),
            ("DEPOSIT_STATUS_LISTEN_ADDR", "127.0.0.1:0".to_owned()),
            ("DEPOSIT_STATUS_ADMIN_LISTEN_ADDR", "127.0.0.1:0".to_owned()),
            (
                "DEPOSIT_STATUS_DATABASE_URL",
                format!("sqlite://{}", database.display()),
            ),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    /// Writes `settings` as an env file named `name` and returns its path.
    fn write_env_file(&self, name: &str, settings: &BTreeMap<String, String>) -> PathBuf {
        let path = self.path(name);
        let text: String = settings
            .iter()
            .map(|(name, value)| format!("{name}={value}\n"))
            .collect();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Builds a command that runs the binary with `args` in the directory,
    /// with `settings` as its only DEPOSIT_STATUS_* variables.
    fn command(&self, args: &[&str], settings: &BTreeMap<String, String>) -> Command {
        let mut command = binary_command();
        command
            .args(args)
            .current_dir(self.directory.path())
            .envs(settings);
        command
    }
}

/// Builds a command for the binary without the DEPOSIT_STATUS_* variables of
/// the test's own environment, logging at level info without colors.
fn binary_command() -> Command {
    let mut command = Command::new(BINARY);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DEPOSIT_STATUS_") {
            command.env_remove(name);
        }
    }
    command.env("NO_COLOR", "1").env("RUST_LOG", "info");
    command
}

/// One line of output from a child process.
struct OutputLine {
    stream: &'static str,
    text: String,
}

/// Forwards each line of `source` to `sender` from a new thread, so the
/// child never blocks on a full pipe.
fn forward_lines(source: impl Read + Send + 'static, stream: &'static str, sender: mpsc::Sender<OutputLine>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(source);
        let mut bytes = Vec::new();
        while reader.read_until(b'\n', &mut bytes).is_ok_and(|read| read > 0) {
            let text = String::from_utf8_lossy(&bytes).trim_end().to_owned();
            bytes.clear();
            if sender.send(OutputLine { stream, text }).is_err() {
                break;
            }
        }
    });
}

/// Sends `signal` (for example "-TERM") to the process `pid` with kill(1).
fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(signal)
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid} failed: {status}");
}

/// Waits up to `timeout` for `child` to exit. Kills it and panics if it
/// does not.
fn wait_for_exit(child: Child, timeout: Duration) -> Output {
    let pid = child.id();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(timeout) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            send_signal(pid, "-KILL");
            panic!("process {pid} did not exit within {timeout:?}");
        }
    }
}

/// Runs `command` to completion, bounded by [`EXIT_TIMEOUT`].
fn run(mut command: Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_exit(child, EXIT_TIMEOUT)
}

fn stderr_text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A running deposit-status process and the addresses it printed.
struct Server {
    child: Option<Child>,
    lines: Receiver<OutputLine>,
    /// Every line read so far, for failure messages.
    transcript: Vec<String>,
    public_addr: SocketAddr,
    admin_addr: SocketAddr,
}

impl Server {
    /// Starts `command` and waits until it prints its addresses and its
    /// health check returns SERVING.
    async fn start(mut command: Command) -> Server {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (sender, lines) = mpsc::channel();
        forward_lines(child.stdout.take().unwrap(), "stdout", sender.clone());
        forward_lines(child.stderr.take().unwrap(), "stderr", sender);

        let mut server = Server {
            child: Some(child),
            lines,
            transcript: Vec::new(),
            public_addr: "0.0.0.0:0".parse().unwrap(),
            admin_addr: "0.0.0.0:0".parse().unwrap(),
        };
        let (public_addr, admin_addr) = server.read_addresses();
        server.public_addr = public_addr;
        server.admin_addr = admin_addr;
        server.wait_until_serving().await;
        server
    }

    /// Reads output until the line with both addresses, bounded by
    /// [`START_TIMEOUT`].
    fn read_addresses(&mut self) -> (SocketAddr, SocketAddr) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(remaining) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no addresses within {START_TIMEOUT:?}; output:\n{}",
                    self.transcript.join("\n")
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "the server exited before printing its addresses; output:\n{}",
                        self.transcript.join("\n")
                    )
                }
            };
            self.transcript.push(format!("[{}] {}", line.stream, line.text));
            if line.stream == "stdout"
                && let Some(addresses) = line.text.strip_prefix(LISTENING_PREFIX)
            {
                return parse_addresses(addresses);
            }
        }
    }

    /// Polls the health service on the public port until it returns SERVING,
    /// bounded by [`START_TIMEOUT`].
    async fn wait_until_serving(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            poll.tick().await;
            let last = check_health(self.public_addr, STATUS_SERVICE).await;
            if matches!(last, Ok(ServingStatus::Serving)) {
                return;
            }
            if Instant::now() >= deadline {
                self.drain_output();
                panic!(
                    "not SERVING within {START_TIMEOUT:?}, last result {last:?}; output:\n{}",
                    self.transcript.join("\n")
                );
            }
        }
    }

    fn drain_output(&mut self) {
        for line in self.lines.try_iter() {
            self.transcript.push(format!("[{}] {}", line.stream, line.text));
        }
    }

    /// Sends SIGTERM and waits up to [`EXIT_TIMEOUT`] for the process to
    /// exit. Returns the exit status and the whole output.
    ///
    /// The wait runs on the blocking pool, so that the test's client
    /// connections, which run on the test's runtime, can still receive the
    /// server's GOAWAY and close. A blocked runtime would keep them open and
    /// hold the server in its shutdown drain.
    async fn terminate(mut self) -> (ExitStatus, String) {
        let child = self.child.take().expect("the server is running");
        let pid = child.id();
        send_signal(pid, "-TERM");
        let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
        let output = match tokio::time::timeout(EXIT_TIMEOUT, waiting).await {
            Ok(joined) => joined.unwrap().unwrap(),
            Err(_) => {
                send_signal(pid, "-KILL");
                panic!("process {pid} did not exit within {EXIT_TIMEOUT:?} of SIGTERM");
            }
        };
        // The reader threads end when the pipes close, so this receives the
        // last lines too.
        for line in self.lines.iter() {
            self.transcript.push(format!("[{}] {}", line.stream, line.text));
        }
        (output.status, self.transcript.join("\n"))
    }

    fn public_url(&self) -> String {
        format!("http://{}", self.public_addr)
    }

    fn admin_url(&self) -> String {
        format!("http://{}", self.admin_addr)
    }
}

impl Drop for Server {
    /// Kills a server that a failed test left running.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Parses `public=ADDR admin=ADDR`.
fn parse_addresses(text: &str) -> (SocketAddr, SocketAddr) {
    let fields: BTreeMap<&str, &str> = text
        .split_whitespace()
        .filter_map(|field| field.split_once('='))
        .collect();
    let address = |name: &str| -> SocketAddr {
        fields
            .get(name)
            .unwrap_or_else(|| panic!("no {name}= in {text:?}"))
            .parse()
            .unwrap_or_else(|error| panic!("invalid {name} address in {text:?}: {error}"))
    };
    (address("public"), address("admin"))
}

async fn connect(address: SocketAddr) -> Result<Channel, tonic::transport::Error> {
    Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_timeout(CALL_TIMEOUT)
        .timeout(CALL_TIMEOUT)
        .connect()
        .await
}

/// Returns the health status of `service` at `address`, or why the check
/// failed.
async fn check_health(address: SocketAddr, service: &str) -> Result<ServingStatus, String> {
    let channel = connect(address).await.map_err(|error| error.to_string())?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map_err(|status| status.to_string())?;
    Ok(response.into_inner().status())
}

/// Returns the service names that v1 server reflection lists at `address`.
async fn reflected_services(address: SocketAddr) -> Vec<String> {
    let channel = connect(address).await.unwrap();
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses
        .message()
        .await
        .unwrap()
        .expect("one reflection response");
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|service| service.name).collect()
        }
        other => panic!("expected a list of services, got {other:?}"),
    }
}

async fn business_date(server: &Server) -> String {
    let mut status = DepositStatusServiceClient::connect(server.public_url())
        .await
        .unwrap();
    status
        .get_business_date(GetBusinessDateRequest {})
        .await
        .unwrap()
        .into_inner()
        .business_date
}

#[test]
fn generate_key_writes_pair_once() {
    let directory = tempfile::tempdir().unwrap();
    let key_path = directory.path().join("key.pem");
    let public_path = directory.path().join("key.pem.pub");
    let generate = || {
        let mut command = binary_command();
        command.arg("generate-key").arg("--out").arg(&key_path);
        run(command)
    };

    let first = generate();
    assert!(
        first.status.success(),
        "generate-key failed: {}",
        stderr_text(&first)
    );
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private key mode {mode:o}");
    let key = SigningKey::read_pem_file(&key_path).unwrap();
    let public = VerifyingKey::read_pem_file(&public_path).unwrap();
    assert_eq!(public, key.verifying_key());
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains(&key.key_id()), "key id missing from {stdout:?}");

    let private_text = std::fs::read(&key_path).unwrap();
    let second = generate();
    assert!(
        !second.status.success(),
        "a second generate-key to the same path succeeded"
    );
    let stderr = stderr_text(&second);
    assert!(
        stderr.contains(&key_path.display().to_string()),
        "path missing from {stderr:?}"
    );
    assert_eq!(
        std::fs::read(&key_path).unwrap(),
        private_text,
        "the private key was overwritten"
    );
}

#[test]
fn generate_key_rejects_existing_public_file() {
    let directory = tempfile::tempdir().unwrap();
    let key_path = directory.path().join("key.pem");
    let public_path = directory.path().join("key.pem.pub");
    std::fs::write(&public_path, "old public key").unwrap();

    let mut command = binary_command();
    command.arg("generate-key").arg("--out").arg(&key_path);
    let output = run(command);

    assert!(
        !output.status.success(),
        "generate-key overwrote an existing public key file"
    );
    let stderr = stderr_text(&output);
    assert!(
        stderr.contains(&public_path.display().to_string()),
        "path missing from {stderr:?}"
    );
    assert!(
        !key_path.exists(),
        "a private key was written without its public half"
    );
    assert_eq!(std::fs::read_to_string(&public_path).unwrap(), "old public key");
}

#[tokio::test]
async fn serve_reports_health_and_stops_on_sigterm() {
    let deployment = Deployment::new();
    let server = Server::start(deployment.command(&["serve"], &deployment.settings())).await;

    let status = check_health(server.public_addr, STATUS_SERVICE).await;
    assert_eq!(status, Ok(ServingStatus::Serving));
    assert_ne!(server.public_addr.port(), 0);
    assert_ne!(server.admin_addr.port(), 0);
    assert_ne!(server.public_addr, server.admin_addr);

    let (status, output) = server.terminate().await;
    assert_eq!(status.code(), Some(0), "exit status {status}; output:\n{output}");
    assert!(
        output.contains("deposit-status stopped"),
        "no stop log line in:\n{output}"
    );
}

#[tokio::test]
async fn health_probe_reports_serving_then_stopped() {
    let deployment = Deployment::new();
    let server = Server::start(deployment.command(&["serve"], &deployment.settings())).await;
    let public_addr = server.public_addr.to_string();

    let output = run(deployment.command(&["health-probe", "--addr", &public_addr], &BTreeMap::new()));
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr_text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("SERVING"), "stdout: {stdout}");
    assert!(stdout.contains(STATUS_SERVICE), "stdout: {stdout}");

    // Without --addr the probe reads the listen address setting, and a
    // listener on every interface is probed on loopback.
    let any_interface = BTreeMap::from([(
        "DEPOSIT_STATUS_LISTEN_ADDR".to_string(),
        format!("0.0.0.0:{}", server.public_addr.port()),
    )]);
    let output = run(deployment.command(&["health-probe"], &any_interface));
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr_text(&output));

    let output = run(deployment.command(
        &[
            "health-probe",
            "--addr",
            &public_addr,
            "--service",
            "bank.unknown.v1.Service",
        ],
        &BTreeMap::new(),
    ));
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr_text(&output));
    assert!(
        stderr_text(&output).contains("NotFound"),
        "stderr: {}",
        stderr_text(&output)
    );

    let (status, output) = server.terminate().await;
    assert_eq!(status.code(), Some(0), "exit status {status}; output:\n{output}");
    let output = run(deployment.command(&["health-probe", "--addr", &public_addr], &BTreeMap::new()));
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr_text(&output));
    assert!(
        stderr_text(&output).contains("failed to connect"),
        "stderr: {}",
        stderr_text(&output)
    );
}

#[test]
fn health_probe_rejects_invalid_listen_address() {
    let deployment = Deployment::new();
    let settings = BTreeMap::from([("DEPOSIT_STATUS_LISTEN_ADDR".to_string(), "localhost".to_string())]);

    let output = run(deployment.command(&["health-probe"], &settings));

    // Docker reserves exit status 2 of a health check.
    assert_eq!(
        output.status.code(),
        Some(PROBE_FAILURE),
        "stderr: {}",
        stderr_text(&output)
    );
    let stderr = stderr_text(&output);
    assert!(stderr.contains("DEPOSIT_STATUS_LISTEN_ADDR"), "stderr: {stderr}");
    assert!(stderr.contains("\"localhost\""), "stderr: {stderr}");
}

#[test]
fn health_probe_usage_errors_exit_1() {
    let deployment = Deployment::new();
    let missing_env_file = deployment.path("missing.env");
    let missing_env_file = missing_env_file.to_str().unwrap();
    // (arguments, text that stderr must contain)
    let cases: [(&[&str], &str); 5] = [
        (&["health-probe", "--timeout-ms", "0"], "--timeout-ms"),
        (&["health-probe", "--addr", "nonsense"], "--addr"),
        (&["health-probe", "--no-such-flag"], "--no-such-flag"),
        (
            &["--env-file", missing_env_file, "health-probe"],
            missing_env_file,
        ),
        (
            &["health-probe", "--env-file", missing_env_file],
            missing_env_file,
        ),
    ];

    for (args, expected) in cases {
        let output = run(deployment.command(args, &BTreeMap::new()));

        let stderr = stderr_text(&output);
        assert_eq!(
            output.status.code(),
            Some(PROBE_FAILURE),
            "args {args:?}: {stderr}"
        );
        assert!(
            stderr.contains(expected),
            "args {args:?}: {expected:?} missing from {stderr:?}"
        );
    }

    let help = run(deployment.command(&["health-probe", "--help"], &BTreeMap::new()));
    assert_eq!(help.status.code(), Some(0), "{}", stderr_text(&help));
    // Other subcommands keep clap's usage-error status.
    let serve = run(deployment.command(&["serve", "--no-such-flag"], &BTreeMap::new()));
    assert_eq!(serve.status.code(), Some(USAGE_ERROR), "{}", stderr_text(&serve));
}

#[tokio::test]
async fn reflection_lists_each_service_on_its_port() {
    let deployment = Deployment::new();
    let server = Server::start(deployment.command(&["serve"], &deployment.settings())).await;

    let public = reflected_services(server.public_addr).await;
    assert!(
        public.iter().any(|name| name == STATUS_SERVICE),
        "public port lists {public:?}"
    );
    assert!(
        !public.iter().any(|name| name == ADMIN_SERVICE),
        "public port lists {public:?}"
    );

    let admin = reflected_services(server.admin_addr).await;
    assert!(
        admin.iter().any(|name| name == ADMIN_SERVICE),
        "admin port lists {admin:?}"
    );
    assert!(
        !admin.iter().any(|name| name == STATUS_SERVICE),
        "admin port lists {admin:?}"
    );

    let (status, output) = server.terminate().await;
    assert_eq!(status.code(), Some(0), "exit status {status}; output:\n{output}");
}

#[test]
fn invalid_setting_exits_with_usage_error() {
    let deployment = Deployment::new();
    let missing_key = deployment.path("missing.pem");
    let missing_key = missing_key.display().to_string();
    // (variable, invalid value, texts that stderr must contain)
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "DEPOSIT_STATUS_ATTESTATION_LIFETIME_SECS",
            "0",
            &["--attestation-lifetime-secs", "'0'"],
        ),
        ("DEPOSIT_STATUS_ATTESTATION_LIFETIME_SECS", "86401", &["'86401'"]),
        (
            "DEPOSIT_STATUS_LISTEN_ADDR",
            "nonsense",
            &["--listen-addr", "'nonsense'"],
        ),
        ("DEPOSIT_STATUS_SIGNING_KEY_FILE", &missing_key, &[]),
        (
            "DEPOSIT_STATUS_ADMIN_LISTEN_ADDR",
            "0.0.0.0:0",
            &["DEPOSIT_STATUS_ADMIN_ALLOW_NON_LOOPBACK"],
        ),
        (
            "DEPOSIT_STATUS_DATABASE_URL",
            "mysql://127.0.0.1:1/bank",
            &["sqlite://PATH", "postgres://"],
        ),
        (
            "DEPOSIT_STATUS_DATABASE_CONNECT_TIMEOUT_MS",
            "0",
            &["--database-connect-timeout-ms", "'0'"],
        ),
        (
            "DEPOSIT_STATUS_DATABASE_STATEMENT_TIMEOUT_MS",
            "2147483648",
            &["'2147483648'"],
        ),
        (
            "DEPOSIT_STATUS_DATABASE_SERIALIZATION_RETRIES",
            "1001",
            &["'1001'"],
        ),
        (
            "DEPOSIT_STATUS_DATABASE_BUSY_TIMEOUT_MS",
            "2147483648",
            &["'2147483648'"],
        ),
        ("DEPOSIT_STATUS_CONCURRENCY_LIMIT", "0", &["'0'"]),
        ("DEPOSIT_STATUS_REQUEST_TIMEOUT_MS", "0", &["'0'"]),
        (
            "DEPOSIT_STATUS_TIME_ZONE",
            "Mars/Olympus_Mons",
            &["'Mars/Olympus_Mons'"],
        ),
        ("DEPOSIT_STATUS_BUSINESS_DATE", "2025-02-30", &["'2025-02-30'"]),
        (
            "DEPOSIT_STATUS_PREVIOUS_PUBLIC_KEYS",
            "old.pub.pem",
            &["PATH=UNTIL"],
        ),
        (
            "DEPOSIT_STATUS_ALLOW_BUSINESS_DATE_OVERRIDE",
            "maybe",
            &["'maybe'"],
        ),
    ];

    for (variable, value, expected) in cases {
        let mut settings = deployment.settings();
        settings.insert(variable.to_string(), value.to_string());
        let output = run(deployment.command(&["serve"], &settings));

        let stderr = stderr_text(&output);
        assert_eq!(
            output.status.code(),
            Some(USAGE_ERROR),
            "{variable}={value}: {stderr}"
        );
        assert!(
            stderr.contains(variable),
            "{variable}={value}: variable missing from {stderr:?}"
        );
        assert!(
            stderr.contains(value),
            "{variable}={value}: value missing from {stderr:?}"
        );
        for text in *expected {
            assert!(
                stderr.contains(text),
                "{variable}={value}: {text:?} missing from {stderr:?}"
            );
        }
    }
}

#[test]
fn invalid_flag_value_names_only_flag() {
    let deployment = Deployment::new();
    let output = run(deployment.command(
        &["serve", "--attestation-lifetime-secs", "0"],
        &deployment.settings(),
    ));

    let stderr = stderr_text(&output);
    assert_eq!(output.status.code(), Some(USAGE_ERROR), "{stderr}");
    assert!(stderr.contains("--attestation-lifetime-secs"), "{stderr}");
    assert!(stderr.contains("'0'"), "{stderr}");
    // The value came from the flag, so no tip points at the variable.
    assert!(
        !stderr.contains("DEPOSIT_STATUS_ATTESTATION_LIFETIME_SECS"),
        "{stderr}"
    );
}

#[test]
fn missing_signing_key_setting_names_flag_and_variable() {
    let deployment = Deployment::new();
    let mut settings = deployment.settings();
    settings.remove("DEPOSIT_STATUS_SIGNING_KEY_FILE");
    let output = run(deployment.command(&["serve"], &settings));

    let stderr = stderr_text(&output);
    assert_eq!(output.status.code(), Some(USAGE_ERROR), "{stderr}");
    assert!(stderr.contains("--signing-key-file"), "{stderr}");
    assert!(stderr.contains("DEPOSIT_STATUS_SIGNING_KEY_FILE"), "{stderr}");
}

#[tokio::test]
async fn env_file_read_in_each_position() {
    let deployment = Deployment::new();
    let mut file_settings = deployment.settings();
    file_settings.insert("DEPOSIT_STATUS_BUSINESS_DATE".to_owned(), "2020-01-01".to_owned());
    let env_file = deployment.write_env_file("deposit-status.env", &file_settings);
    let env_file = env_file.to_str().unwrap();

    let only_env_file = |name: &str, value: &str| BTreeMap::from([(name.to_owned(), value.to_owned())]);
    let no_settings = BTreeMap::new();
    let inline_flag = format!("--env-file={env_file}");
    let variable = only_env_file("DEPOSIT_STATUS_ENV_FILE", env_file);
    let cases: [(&[&str], &BTreeMap<String, String>); 4] = [
        (&["--env-file", env_file, "serve"], &no_settings),
        (&["serve", "--env-file", env_file], &no_settings),
        (&["serve", inline_flag.as_str()], &no_settings),
        (&["serve"], &variable),
    ];

    for (args, settings) in cases {
        let server = Server::start(deployment.command(args, settings)).await;
        assert_eq!(business_date(&server).await, "2020-01-01", "args {args:?}");
        let (status, output) = server.terminate().await;
        assert_eq!(
            status.code(),
            Some(0),
            "args {args:?}: exit status {status}; output:\n{output}"
        );
    }
}

#[tokio::test]
async fn environment_wins_over_env_file() {
    let deployment = Deployment::new();
    let mut file_settings = deployment.settings();
    file_settings.insert("DEPOSIT_STATUS_BUSINESS_DATE".to_owned(), "2020-01-01".to_owned());
    let env_file = deployment.write_env_file("deposit-status.env", &file_settings);
    let environment = BTreeMap::from([
        (
            "DEPOSIT_STATUS_ENV_FILE".to_owned(),
            env_file.display().to_string(),
        ),
        ("DEPOSIT_STATUS_BUSINESS_DATE".to_owned(), "2025-02-22".to_owned()),
    ]);

    let server = Server::start(deployment.command(&["serve"], &environment)).await;
    assert_eq!(business_date(&server).await, "2025-02-22");
    let (status, output) = server.terminate().await;
    assert_eq!(status.code(), Some(0), "exit status {status}; output:\n{output}");
}

#[test]
fn missing_env_file_exits_with_usage_error() {
    let deployment = Deployment::new();
    let missing = deployment.path("missing.env");
    let missing = missing.to_str().unwrap();
    let variable = BTreeMap::from([("DEPOSIT_STATUS_ENV_FILE".to_owned(), missing.to_owned())]);
    // (arguments, environment, the flag or variable the message names)
    let cases: [(&[&str], BTreeMap<String, String>, &str); 3] = [
        (
            &["--env-file", missing, "serve"],
            deployment.settings(),
            "--env-file",
        ),
        (
            &["serve", "--env-file", missing],
            deployment.settings(),
            "--env-file",
        ),
        (&["serve"], variable, "DEPOSIT_STATUS_ENV_FILE"),
    ];

    for (args, settings, source) in cases {
        let output = run(deployment.command(args, &settings));

        let stderr = stderr_text(&output);
        assert_eq!(output.status.code(), Some(USAGE_ERROR), "args {args:?}: {stderr}");
        assert!(
            stderr.contains(missing),
            "args {args:?}: path missing from {stderr:?}"
        );
        assert!(
            stderr.contains(source),
            "args {args:?}: {source} missing from {stderr:?}"
        );
    }
}

#[test]
fn invalid_env_file_value_names_file() {
    let deployment = Deployment::new();
    let mut file_settings = deployment.settings();
    file_settings.insert(
        "DEPOSIT_STATUS_ATTESTATION_LIFETIME_SECS".to_owned(),
        "0".to_owned(),
    );
    let env_file = deployment.write_env_file("deposit-status.env", &file_settings);
    let env_file = env_file.to_str().unwrap();

    let output = run(deployment.command(&["--env-file", env_file, "serve"], &BTreeMap::new()));

    let stderr = stderr_text(&output);
    assert_eq!(output.status.code(), Some(USAGE_ERROR), "{stderr}");
    assert!(
        stderr.contains("DEPOSIT_STATUS_ATTESTATION_LIFETIME_SECS"),
        "{stderr}"
    );
    assert!(stderr.contains("'0'"), "{stderr}");
    assert!(stderr.contains(env_file), "{stderr}");
}

#[test]
fn help_hides_database_password() {
    let deployment = Deployment::new();
    let password = "S3cret-Pw";
    let url = format!("postgres://bank:{password}@127.0.0.1:1/bank");
    let variable = BTreeMap::from([("DEPOSIT_STATUS_DATABASE_URL".to_owned(), url.clone())]);
    let env_file = deployment.write_env_file("deposit-status.env", &variable);
    let env_file = env_file.to_str().unwrap();
    // (arguments, environment): the URL set as a variable, and in an env file.
    let cases: [(&[&str], &BTreeMap<String, String>); 2] = [
        (&["serve", "--help"], &variable),
        (&["--env-file", env_file, "serve", "--help"], &BTreeMap::new()),
    ];

    for (args, settings) in cases {
        let output = run(deployment.command(args, settings));

        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(0),
            "args {args:?}: {}",
            stderr_text(&output)
        );
        assert!(
            stdout.contains("[env: DEPOSIT_STATUS_DATABASE_URL"),
            "args {args:?}: {stdout}"
        );
        assert!(
            !stdout.contains(password),
            "args {args:?}: the password was printed: {stdout}"
        );
        assert!(!stderr_text(&output).contains(password), "args {args:?}");
    }
}

#[test]
fn unparsable_env_file_line_hides_value() {
    let deployment = Deployment::new();
    let password = "S3cret-Pw";
    let env_file = deployment.path("deposit-status.env");
    // Unquoted whitespace ends a value, so line 3 does not parse.
    let text = format!(
        "# deposit-status\nDEPOSIT_STATUS_LISTEN_ADDR=127.0.0.1:0\n\
         DEPOSIT_STATUS_DATABASE_URL=postgres://bank:{password} x@db/bank\n"
    );
    std::fs::write(&env_file, text).unwrap();
    let env_file = env_file.to_str().unwrap();

    let output = run(deployment.command(&["--env-file", env_file, "serve"], &BTreeMap::new()));

    let stderr = stderr_text(&output);
    assert_eq!(output.status.code(), Some(USAGE_ERROR), "{stderr}");
    assert!(stderr.contains(env_file), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(stderr.contains("DEPOSIT_STATUS_DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains(password), "the password was printed: {stderr}");
    assert!(!stderr.contains("postgres://"), "the value was printed: {stderr}");
}

#[tokio::test]
async fn rotation_publishes_previous_key_until_it_expires() {
    let deployment = Deployment::new();
    let previous = SigningKey::generate().verifying_key();
    let previous_path = deployment.path("previous.pub.pem");
    previous.write_pem_file(&previous_path).unwrap();
    let expired = SigningKey::generate().verifying_key();
    let expired_path = deployment.path("expired.pub.pem");
    expired.write_pem_file(&expired_path).unwrap();
    let valid_until: DateTime<Utc> = (Utc::now() + chrono::Duration::days(30)).trunc_subsecs(0);

    let mut settings = deployment.settings();
    settings.insert(
        "DEPOSIT_STATUS_PREVIOUS_PUBLIC_KEYS".to_owned(),
        format!(
            "{}={},{}=2020-01-01T00:00:00Z",
            previous_path.display(),
            valid_until.to_rfc3339(),
            expired_path.display()
        ),
    );
    let server = Server::start(deployment.command(&["serve"], &settings)).await;
    let mut status = DepositStatusServiceClient::connect(server.public_url())
        .await
        .unwrap();
    let keys = status
        .list_verification_keys(ListVerificationKeysRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys;

    assert_eq!(
        keys.len(),
        2,
        "expected the signing key and the unexpired previous key: {keys:?}"
    );
    let signing = &keys[0];
    assert_eq!(signing.key_id, deployment.signing_key.key_id());
    assert!(signing.active);
    assert_eq!(signing.valid_until, None);
    let published = &keys[1];
    assert_eq!(published.key_id, previous.key_id());
    assert!(!published.active);
    let published_until = published.valid_until.as_ref().expect("valid_until set");
    assert_eq!(published_until.seconds, valid_until.timestamp());
    assert!(
        !keys.iter().any(|key| key.key_id == expired.key_id()),
        "the expired key is published"
    );

    let (status, output) = server.terminate().await;
    assert_eq!(status.code(), Some(0), "exit status {status}; output:\n{output}");
}

#[tokio::test]
async fn restart_keeps_data() {
    let deployment = Deployment::new();
    restart_keeps_data_in(&deployment, deployment.settings()).await;
}

#[tokio::test]
async fn restart_keeps_data_on_postgres() {
    let deployment = Deployment::new();
    let mut settings = deployment.settings();
    settings.insert(
        "DEPOSIT_STATUS_DATABASE_URL".to_owned(),
        test_support::postgres_database().await,
    );
    restart_keeps_data_in(&deployment, settings).await;
}

/// Starts the binary with `settings`, opens a passbook, stops it, starts it
/// again and reads the passbook back.
async fn restart_keeps_data_in(deployment: &Deployment, settings: BTreeMap<String, String>) {
    let server = Server::start(deployment.command(&["serve"], &settings)).await;
    let mut admin = DepositAdminServiceClient::connect(server.admin_url())
        .await
        .unwrap();
    admin
        .open_passbook(OpenPassbookRequest {
            request_id: uuid::Uuid::new_v4().to_string(),
            passbook_number: "PB-RESTART".to_owned(),
            customer_id: "C001".to_owned(),
            customer_name: "王芳".to_owned(),
            masked_id_number: "110***********1234".to_owned(),
            branch_id: "BR001".to_owned(),
        })
        .await
        .unwrap();
    drop(admin);
    let (status, output) = server.terminate().await;
    assert_eq!(status.code(), Some(0), "exit status {status}; output:\n{output}");

    let restarted = Server::start(deployment.command(&["serve"], &settings)).await;
    let mut status = DepositStatusServiceClient::connect(restarted.public_url())
        .await
        .unwrap();
    let passbook = status
        .get_passbook(GetPassbookRequest {
            passbook_number: "PB-RESTART".to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .passbook
        .unwrap();
    assert_eq!(passbook.customer_id, "C001");

    let (status, output) = restarted.terminate().await;
    assert_eq!(status.code(), Some(0), "exit status {status}; output:\n{output}");
}

#[test]
fn unreachable_postgres_exits_with_error() {
    let deployment = Deployment::new();
    let mut settings = deployment.settings();
    // Nothing listens on port 1, and the password must not be printed.
    let url = "postgres://bank:secret@127.0.0.1:1/bank";
    settings.insert("DEPOSIT_STATUS_DATABASE_URL".to_owned(), url.to_owned());
    settings.insert(
        "DEPOSIT_STATUS_DATABASE_CONNECT_TIMEOUT_MS".to_owned(),
        "300".to_owned(),
    );
    let output = run(deployment.command(&["serve"], &settings));

    let stderr = stderr_text(&output);
    assert_eq!(output.status.code(), Some(USAGE_ERROR), "{stderr}");
    assert!(stderr.contains("DEPOSIT_STATUS_DATABASE_URL"), "{stderr}");
    assert!(
        stderr.contains("postgres://bank:***@127.0.0.1:1/bank"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "the password was printed: {stderr}");
}
