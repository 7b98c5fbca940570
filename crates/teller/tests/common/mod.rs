//! Test harness: both real services on 127.0.0.1 port 0 with real SQLite
//! files and keys in a temporary folder, staff enrolled with key files the
//! `teller` binary reads, and helpers that run that binary against them.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use attestation::SigningKey;
use bank_proto::common::Money;
use bank_proto::deposit::deposit_admin_service_client::DepositAdminServiceClient;
use bank_proto::deposit::deposit_status_service_client::DepositStatusServiceClient;
use bank_proto::deposit::{
    OpenDepositRequest, OpenPassbookRequest, SetBusinessDateRequest, SetDemandRateRequest,
};
use bank_proto::withdrawal::withdrawal_admin_service_client::WithdrawalAdminServiceClient;
use bank_proto::withdrawal::withdrawal_authorization_service_client::WithdrawalAuthorizationServiceClient;
use bank_proto::withdrawal::{Authorization, EnrollStaffRequest, GetAuthorizationRequest, StaffRole};
use chrono::{DateTime, Utc};
use tempfile::TempDir;
use tonic::transport::Channel;

pub const BRANCH: &str = "BR001";
/// The incident's passbook: TD-MATURED (50,000.00 at 2.25 % for 12 months,
/// maturing on the business date) and TD-UNMATURED (80,000.00 at 3.00 % for
/// 36 months opened 2022-11-14).
pub const INCIDENT: &str = "PB-INCIDENT";
/// A passbook with two unmatured deposits and one matured, for closures.
pub const TWO_UNMATURED: &str = "PB-TWO";
/// Masked ID number of both customers.
pub const ID_NUMBER: &str = "110***********1234";

/// Maximum time a test waits for the teller binary to print a line.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(60);

struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    fn spawn<F>(run: impl FnOnce(tokio::sync::oneshot::Receiver<()>) -> F) -> Running
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        Running {
            stop: Some(stop),
            task: Some(tokio::spawn(run(stopped))),
        }
    }

    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Both services with staff T001, T002 (tellers), S001 (supervisor, limit
/// 1,000,000.00) and S002 (supervisor, limit 1,000.00), business date
/// 2025-02-22 and demand rate 0.10 %.
pub struct Bank {
    pub directory: TempDir,
    pub deposit_url: String,
    pub deposit_admin_url: String,
    pub authorization_url: String,
    pub authorization_admin_url: String,
    pub authorization: WithdrawalAuthorizationServiceClient<Channel>,
    pub status: DepositStatusServiceClient<Channel>,
    deposit_database: PathBuf,
    authorization_database: PathBuf,
    // Stopped in this order on drop: withdrawal-authorization first.
    authorization_service: Running,
    deposit_service: Running,
}

/// Deposit id, principal, contract rate in percent, term in months and
/// opening date.
type DepositSeed = (&'static str, &'static str, &'static str, i32, &'static str);

/// Builds a service's settings from their defaults, as its binary reads
/// them, so that settings a service adds later need no change here.
/// `--signing-key-file` is the one flag without a default.
fn default_settings<T: clap::Args>(signing_key_file: &Path) -> T {
    #[derive(clap::Parser)]
    struct Defaults<T: clap::Args> {
        #[command(flatten)]
        settings: T,
    }

    let arguments = [
        std::ffi::OsStr::new("test"),
        std::ffi::OsStr::new("--signing-key-file"),
        signing_key_file.as_os_str(),
    ];
    <Defaults<T> as clap::Parser>::try_parse_from(arguments)
        .expect("default settings parse")
        .settings
}

pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn cny(amount: &str) -> Money {
    Money {
        amount: amount.to_owned(),
        currency_code: "CNY".to_owned(),
    }
}

impl Bank {
    pub async fn start() -> Bank {
        let directory = tempfile::tempdir().unwrap();
        let root = directory.path();
        SigningKey::generate()
            .write_pem_file(root.join("attestation.pem"))
            .unwrap();
        let release = SigningKey::generate();
        release.write_pem_file(root.join("release.pem")).unwrap();
        release
            .verifying_key()
            .write_pem_file(root.join("release.pem.pub"))
            .unwrap();

        let deposit_database = root.join("deposit-status.db");
        let mut deposit_settings: deposit_status::Settings = default_settings(&root.join("attestation.pem"));
        deposit_settings.listen_addr = "127.0.0.1:0".parse().unwrap();
        deposit_settings.admin_listen_addr = "127.0.0.1:0".parse().unwrap();
        deposit_settings.database_url = format!("sqlite://{}", deposit_database.display());
        deposit_settings.signing_key_valid_from = DateTime::<Utc>::UNIX_EPOCH;
        deposit_settings.trusted_release_key_files = vec![root.join("release.pem.pub")];
        deposit_settings.attestation_lifetime_secs = 600;
        deposit_settings.time_zone = chrono_tz::Asia::Shanghai;
        deposit_settings.business_date = None;
        deposit_settings.allow_business_date_override = true;
        let deposit = deposit_status::Application::build(&deposit_settings)
            .await
            .expect("deposit-status starts");
        let deposit_url = format!("http://{}", deposit.public_addr());
        let deposit_admin_url = format!("http://{}", deposit.admin_addr());
        let deposit_service = Running::spawn(|stopped| async move {
            deposit
                .run_until(async {
                    let _ = stopped.await;
                })
                .await
                .expect("deposit-status runs");
        });

        let authorization_database = root.join("withdrawal-authorization.db");
        let mut authorization_settings: withdrawal_authorization::Settings =
            default_settings(&root.join("release.pem"));
        authorization_settings.listen_addr = "127.0.0.1:0".parse().unwrap();
        authorization_settings.admin_listen_addr = "127.0.0.1:0".parse().unwrap();
        authorization_settings.database_url = format!("sqlite://{}", authorization_database.display());
        authorization_settings.signing_key_valid_from = DateTime::<Utc>::UNIX_EPOCH;
        authorization_settings.deposit_status_url = deposit_url.clone();
        authorization_settings.recovery_interval_secs = 1;
        authorization_settings.key_refresh_min_interval_secs = 0;
        let authorization = withdrawal_authorization::Application::build(&authorization_settings)
            .await
            .expect("withdrawal-authorization starts");
        let authorization_url = format!("http://{}", authorization.public_addr());
        let authorization_admin_url = format!("http://{}", authorization.admin_addr());
        let authorization_service = Running::spawn(|stopped| async move {
            authorization
                .run_until(async {
                    let _ = stopped.await;
                })
                .await
                .expect("withdrawal-authorization runs");
        });

        let bank = Bank {
            deposit_url: deposit_url.clone(),
            deposit_admin_url: deposit_admin_url.clone(),
            authorization_url: authorization_url.clone(),
            authorization_admin_url: authorization_admin_url.clone(),
            authorization: WithdrawalAuthorizationServiceClient::connect(authorization_url)
                .await
                .unwrap(),
            status: DepositStatusServiceClient::connect(deposit_url).await.unwrap(),
            deposit_database,
            authorization_database,
            authorization_service,
            deposit_service,
            directory,
        };
        bank.load_staff().await;
        bank.load_deposits().await;
        bank
    }

    async fn load_staff(&self) {
        let mut admin = WithdrawalAdminServiceClient::connect(self.authorization_admin_url.clone())
            .await
            .unwrap();
        for (staff_id, role, limit) in [
            ("T001", StaffRole::Teller, None),
            ("T002", StaffRole::Teller, None),
            ("S001", StaffRole::Supervisor, Some("1000000.00")),
            ("S002", StaffRole::Supervisor, Some("1000.00")),
        ] {
            let key = SigningKey::generate();
            key.write_pem_file(self.key_file(staff_id)).unwrap();
            admin
                .enroll_staff(EnrollStaffRequest {
                    request_id: request_id(),
                    staff_id: staff_id.to_owned(),
                    name: format!("员工{staff_id}"),
                    branch_id: BRANCH.to_owned(),
                    role: role as i32,
                    approval_limit: limit.map(cny),
                    public_key_pem: key.verifying_key().to_public_key_pem().unwrap(),
                    key_valid_from: None,
                    key_valid_until: None,
                })
                .await
                .expect("staff enrolled");
        }
    }

    async fn load_deposits(&self) {
        let mut admin = DepositAdminServiceClient::connect(self.deposit_admin_url.clone())
            .await
            .unwrap();
        admin
            .set_business_date(SetBusinessDateRequest {
                request_id: request_id(),
                business_date: "2025-02-22".to_owned(),
            })
            .await
            .unwrap();
        admin
            .set_demand_rate(SetDemandRateRequest {
                request_id: request_id(),
                effective_from: "2020-01-01".to_owned(),
                rate_percent: "0.10".to_owned(),
                currency_code: "CNY".to_owned(),
            })
            .await
            .unwrap();
        let passbooks: [(&str, &[DepositSeed]); 2] = [
            (
                INCIDENT,
                &[
                    ("TD-MATURED", "50000.00", "2.25", 12, "2024-02-22"),
                    ("TD-UNMATURED", "80000.00", "3.00", 36, "2022-11-14"),
                ],
            ),
            (
                TWO_UNMATURED,
                &[
                    ("TD-TWO-MATURED", "10000.00", "1.35", 3, "2024-11-22"),
                    ("TD-TWO-UNMATURED-A", "80000.00", "3.00", 36, "2022-11-14"),
                    ("TD-TWO-UNMATURED-B", "20000.00", "2.00", 24, "2024-01-10"),
                ],
            ),
        ];
        for (passbook, deposits) in passbooks {
            admin
                .open_passbook(OpenPassbookRequest {
                    request_id: request_id(),
                    passbook_number: passbook.to_owned(),
                    customer_id: format!("C-{passbook}"),
                    customer_name: "李秀英".to_owned(),
                    masked_id_number: ID_NUMBER.to_owned(),
                    branch_id: BRANCH.to_owned(),
                })
                .await
                .unwrap();
            for (deposit_id, principal, rate, term, opened) in deposits {
                admin
                    .open_deposit(OpenDepositRequest {
                        request_id: request_id(),
                        passbook_number: passbook.to_owned(),
                        deposit_id: (*deposit_id).to_owned(),
                        principal: Some(cny(principal)),
                        term_months: *term,
                        contract_rate_percent: (*rate).to_owned(),
                        opened_on: (*opened).to_owned(),
                        product: None,
                    })
                    .await
                    .unwrap();
            }
        }
    }

    /// Private key file of a staff member.
    pub fn key_file(&self, staff_id: &str) -> PathBuf {
        self.directory.path().join(format!("{staff_id}.pem"))
    }

    /// Builds a command of the teller binary with the service URLs and
    /// `staff_id`'s identity in its environment, and no inherited TELLER_
    /// variable that could change its behaviour.
    pub fn command(&self, staff_id: &str, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_teller"));
        for (name, _) in std::env::vars() {
            if name.starts_with("TELLER_") || name == "NO_COLOR" {
                command.env_remove(name);
            }
        }
        command
            .args(args)
            .env("TELLER_DEPOSIT_STATUS_URL", &self.deposit_url)
            .env("TELLER_AUTHORIZATION_URL", &self.authorization_url)
            .env("TELLER_AUTHORIZATION_ADMIN_URL", &self.authorization_admin_url)
            .env("TELLER_STAFF_ID", staff_id)
            .env("TELLER_KEY_FILE", self.key_file(staff_id))
            .env("TELLER_BRANCH", BRANCH)
            .stdin(Stdio::null());
        command
    }

    /// Runs the teller binary as `staff_id` to the end, off the async
    /// runtime so the in-process services keep serving.
    pub async fn run(&self, staff_id: &str, args: &[&str]) -> Output {
        let mut command = self.command(staff_id, args);
        tokio::task::spawn_blocking(move || command.output().expect("the teller binary runs"))
            .await
            .unwrap()
    }

    /// Runs the teller binary with `input` on its stdin.
    pub async fn run_with_input(&self, staff_id: &str, args: &[&str], input: &str) -> Output {
        let mut command = self.command(staff_id, args);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let input = input.to_owned();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = command.spawn().expect("the teller binary runs");
            let mut stdin = child.stdin.take().unwrap();
            // The child may exit before reading all input, which is its
            // reply to the prompt and not a test failure.
            let _ = stdin.write_all(input.as_bytes());
            drop(stdin);
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap()
    }

    /// Number of release orders deposit-status executed.
    pub async fn executions(&self) -> i64 {
        count(&self.deposit_database, "SELECT COUNT(*) FROM executions").await
    }

    pub fn authorization_database(&self) -> &Path {
        &self.authorization_database
    }

    pub async fn authorization(&self, authorization_id: &str) -> Authorization {
        self.authorization
            .clone()
            .get_authorization(GetAuthorizationRequest {
                authorization_id: authorization_id.to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
            .authorization
            .unwrap()
    }
}

async fn count(database: &Path, query: &'static str) -> i64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", database.display()))
        .await
        .unwrap();
    let count = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
    pool.close().await;
    count
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit status and shows both streams when it differs.
#[track_caller]
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit status\n--- stdout\n{}\n--- stderr\n{}",
        stdout(output),
        stderr(output)
    );
}

/// Parses the JSON lines a `--json` command prints.
pub fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    stdout(output)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect()
}

/// A teller process that runs on while the test acts from other processes,
/// with its stdout lines arriving on a channel.
pub struct Background {
    child: Child,
    lines: Option<mpsc::Receiver<String>>,
    seen: Vec<String>,
}

impl Background {
    pub fn spawn(mut command: Command) -> Background {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("the teller binary runs");
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Background {
            child,
            lines: Some(receiver),
            seen: Vec::new(),
        }
    }

    /// Waits, at most [`LINE_TIMEOUT`], for a stdout line that satisfies
    /// `wanted`, and returns it.
    pub async fn wait_for_line(&mut self, accept: impl Fn(&str) -> bool + Send + 'static) -> String {
        let receiver = self.lines.take().unwrap();
        let (receiver, found, seen) = tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + LINE_TIMEOUT;
            let mut seen = Vec::new();
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                match receiver.recv_timeout(left) {
                    Ok(line) => {
                        seen.push(line.clone());
                        if accept(&line) {
                            return (receiver, Some(line), seen);
                        }
                    }
                    Err(_) => break,
                }
            }
            (receiver, None, seen)
        })
        .await
        .unwrap();
        self.lines = Some(receiver);
        self.seen.extend(seen);
        match found {
            Some(line) => line,
            None => panic!(
                "no such line within {LINE_TIMEOUT:?}; stdout so far:\n{}",
                self.seen.join("\n")
            ),
        }
    }

    /// Waits for the process to exit and returns its status, the stdout
    /// lines not read yet and stderr.
    pub async fn finish(mut self) -> (std::process::ExitStatus, Vec<String>, String) {
        let receiver = self.lines.take().unwrap();
        let mut child = self.child;
        tokio::task::spawn_blocking(move || {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                use std::io::Read;
                let _ = pipe.read_to_string(&mut stderr);
            }
            let status = child.wait().unwrap();
            let rest: Vec<String> = receiver.iter().collect();
            (status, rest, stderr)
        })
        .await
        .unwrap()
    }
}
