//! Test harness: starts the real service on 127.0.0.1 port 0 with a fresh
//! database and generated keys, and hands out generated clients. The
//! database is a SQLite file, or a new PostgreSQL database when
//! BANK_TEST_BACKEND=postgres.

#![allow(dead_code)]

use std::path::PathBuf;

use attestation::SigningKey;
use bank_proto::common::{Money, SignedEnvelope};
use bank_proto::deposit::deposit_admin_service_client::DepositAdminServiceClient;
use bank_proto::deposit::deposit_status_service_client::DepositStatusServiceClient;
use bank_proto::deposit::{
    IssueMaturityAttestationRequest, MaturityAttestation, OpenDepositRequest, OpenPassbookRequest,
    SetBusinessDateRequest, SetDemandRateRequest,
};
use bank_proto::withdrawal::ReleaseOrder;
use chrono::{DateTime, Utc};
use deposit_status::{Application, Settings};
use grpc_support::convert::{envelope_from_proto, envelope_to_proto, to_timestamp};
use grpc_support::error::ErrorSummary;
use prost::Message;
use tempfile::TempDir;
use test_support::TestBackend;
use tonic::transport::Channel;

/// A running service and what a test needs to talk to it.
pub struct TestService {
    pub status: DepositStatusServiceClient<Channel>,
    pub admin: DepositAdminServiceClient<Channel>,
    pub public_addr: std::net::SocketAddr,
    pub admin_addr: std::net::SocketAddr,
    /// The key that plays withdrawal-authorization: its public half is
    /// trusted by the service.
    pub release_key: SigningKey,
    pub directory: TempDir,
    pub database_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestService {
    fn drop(&mut self) {
        if let Some(sender) = self.shutdown.take() {
            let _ = sender.send(());
        }
    }
}

impl TestService {
    /// Stops the service and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(sender) = self.shutdown.take() {
            let _ = sender.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("service task finished cleanly");
        }
    }
}

/// Settings for a service in `directory`, listening on port 0, with a
/// SQLite file there; [`start_with`] replaces the database for the
/// PostgreSQL backend.
pub fn test_settings(directory: &std::path::Path, release_public_key: PathBuf) -> Settings {
    let signing_key_file = directory.join("attestation.pem");
    if !signing_key_file.exists() {
        SigningKey::generate().write_pem_file(&signing_key_file).unwrap();
    }
    Settings {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        admin_listen_addr: "127.0.0.1:0".parse().unwrap(),
        admin_allow_non_loopback: false,
        database_url: format!("sqlite://{}", directory.join("deposit-status.db").display()),
        database_max_connections: 4,
        database_busy_timeout_ms: 5_000,
        database_connect_timeout_ms: deposit_status::config::DEFAULT_DATABASE_CONNECT_TIMEOUT_MS,
        database_statement_timeout_ms: deposit_status::config::DEFAULT_DATABASE_STATEMENT_TIMEOUT_MS,
        database_serialization_retries: deposit_status::config::DEFAULT_DATABASE_SERIALIZATION_RETRIES,
        signing_key_file,
        signing_key_valid_from: DateTime::<Utc>::UNIX_EPOCH,
        previous_public_keys: Vec::new(),
        trusted_release_key_files: vec![release_public_key],
        attestation_lifetime_secs: 600,
        time_zone: chrono_tz::Asia::Shanghai,
        business_date: None,
        allow_business_date_override: true,
        request_timeout_ms: 10_000,
        concurrency_limit: 256,
        max_message_bytes: 4 * 1024 * 1024,
    }
}

/// Starts a service with default test settings.
pub async fn start() -> TestService {
    start_with(|_| {}).await
}

/// Starts a service after `adjust` changed its settings.
pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> TestService {
    let directory = tempfile::tempdir().unwrap();
    let release_key = SigningKey::generate();
    let release_public = directory.path().join("release.pub.pem");
    release_key
        .verifying_key()
        .write_pem_file(&release_public)
        .unwrap();
    let mut settings = test_settings(directory.path(), release_public);
    settings.database_url =
        test_support::database_url(TestBackend::from_env(), directory.path(), "deposit-status").await;
    adjust(&mut settings);
    start_in(directory, release_key, settings).await
}

/// Starts a service on `settings`, keeping `directory` alive with it.
pub async fn start_in(directory: TempDir, release_key: SigningKey, settings: Settings) -> TestService {
    let application = Application::build(&settings).await.expect("service starts");
    let public_addr = application.public_addr();
    let admin_addr = application.admin_addr();
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        application
            .run_until(async {
                let _ = stopped.await;
            })
            .await
            .expect("service runs");
    });
    let status = DepositStatusServiceClient::connect(format!("http://{public_addr}"))
        .await
        .unwrap();
    let admin = DepositAdminServiceClient::connect(format!("http://{admin_addr}"))
        .await
        .unwrap();
    let database_url = settings.database_url.clone();
    TestService {
        status,
        admin,
        public_addr,
        admin_addr,
        release_key,
        directory,
        database_url,
        shutdown: Some(shutdown),
        task: Some(task),
    }
}

impl TestService {
    /// Number of release orders the service executed, read from its
    /// database.
    pub async fn executions(&self) -> i64 {
        let pool = test_support::connect(&self.database_url).await;
        let count = sqlx::query_scalar("SELECT COUNT(*) FROM executions")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        count
    }
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

/// Reads the rich error details of a failed call.
pub fn summary(status: &tonic::Status) -> ErrorSummary {
    ErrorSummary::from_status(status)
}

/// Asserts that `result` failed with `code` and ErrorInfo `reason`, and
/// that it carries a zh-CN message.
#[track_caller]
pub fn assert_error<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: tonic::Code,
    reason: &str,
) -> ErrorSummary {
    let status = result.expect_err("the call should fail");
    let details = summary(&status);
    assert_eq!(status.code(), code, "status {status:?}");
    assert_eq!(details.reason.as_deref(), Some(reason), "status {status:?}");
    assert_eq!(details.domain.as_deref(), Some("deposit-status.bank"));
    assert!(
        details
            .localized_zh_cn
            .as_deref()
            .is_some_and(|text| !text.is_empty()),
        "no zh-CN message in {status:?}"
    );
    details
}

impl TestService {
    pub async fn set_business_date(&mut self, date: &str) {
        self.admin
            .set_business_date(SetBusinessDateRequest {
                request_id: request_id(),
                business_date: date.to_owned(),
            })
            .await
            .unwrap();
    }

    pub async fn post_demand_rate(&mut self, effective_from: &str, rate_percent: &str) {
        self.admin
            .set_demand_rate(SetDemandRateRequest {
                request_id: request_id(),
                effective_from: effective_from.to_owned(),
                rate_percent: rate_percent.to_owned(),
                currency_code: String::new(),
            })
            .await
            .unwrap();
    }

    pub async fn open_passbook(&mut self, passbook_number: &str) {
        self.admin
            .open_passbook(OpenPassbookRequest {
                request_id: request_id(),
                passbook_number: passbook_number.to_owned(),
                customer_id: "C001".to_owned(),
                customer_name: "王芳".to_owned(),
                masked_id_number: "110***********1234".to_owned(),
                branch_id: "BR001".to_owned(),
            })
            .await
            .unwrap();
    }

    /// Opens a deposit with the default product.
    pub async fn open_deposit(
        &mut self,
        passbook_number: &str,
        deposit_id: &str,
        principal: &str,
        rate_percent: &str,
        term_months: i32,
        opened_on: &str,
    ) {
        self.admin
            .open_deposit(OpenDepositRequest {
                request_id: request_id(),
                passbook_number: passbook_number.to_owned(),
                deposit_id: deposit_id.to_owned(),
                principal: Some(cny(principal)),
                term_months,
                contract_rate_percent: rate_percent.to_owned(),
                opened_on: opened_on.to_owned(),
                product: None,
            })
            .await
            .unwrap();
    }

    /// Gets an attestation; `amount` None means the whole deposit.
    pub async fn attest(
        &mut self,
        passbook_number: &str,
        deposit_id: &str,
        amount: Option<&str>,
    ) -> Result<(SignedEnvelope, MaturityAttestation), tonic::Status> {
        let response = self
            .status
            .issue_maturity_attestation(IssueMaturityAttestationRequest {
                request_id: request_id(),
                passbook_number: passbook_number.to_owned(),
                deposit_id: deposit_id.to_owned(),
                amount: amount.map(cny),
                whole_deposit: amount.is_none(),
            })
            .await?
            .into_inner();
        Ok((
            response.attestation.unwrap(),
            response.attestation_payload.unwrap(),
        ))
    }
}

/// Builds a release order for `attestation`, authorized at `authorized_at`.
pub fn release_order(
    envelope: &SignedEnvelope,
    attestation: &MaturityAttestation,
    authorized_at: DateTime<Utc>,
) -> ReleaseOrder {
    ReleaseOrder {
        order_id: request_id(),
        authorization_id: request_id(),
        maturity_attestation: Some(envelope.clone()),
        attestation_id: attestation.attestation_id.clone(),
        deposit_id: attestation.deposit_id.clone(),
        passbook_number: attestation.passbook_number.clone(),
        deposit_version: attestation.deposit_version,
        amount: attestation.requested_amount.clone(),
        whole_deposit: attestation.whole_deposit,
        authorized_at: Some(to_timestamp(authorized_at)),
        teller_staff_id: "T001".to_owned(),
        supervisor_staff_ids: vec!["S001".to_owned()],
        issued_at: Some(to_timestamp(Utc::now())),
    }
}

/// Signs a release order with `key`.
pub fn sign_order(key: &SigningKey, order: &ReleaseOrder) -> SignedEnvelope {
    envelope_to_proto(&key.sign(bank_proto::payload_type::RELEASE_ORDER, order.encode_to_vec()))
}

/// Decodes an attestation envelope's payload after checking it is the
/// attestation type, for tests that only need its fields.
pub fn attestation_payload(envelope: &SignedEnvelope) -> MaturityAttestation {
    let envelope = envelope_from_proto(envelope);
    MaturityAttestation::decode(envelope.payload.as_slice()).unwrap()
}
