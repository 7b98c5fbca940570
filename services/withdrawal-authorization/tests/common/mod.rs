//! Test harness: both real services on 127.0.0.1 port 0 with real databases
//! (SQLite files, or new PostgreSQL databases when
//! BANK_TEST_BACKEND=postgres), enrolled staff with generated keys, and
//! helpers that sign what tellers and supervisors sign.

#![allow(dead_code)]

pub mod flow;

use std::path::Path;
use std::time::Duration;

use attestation::SigningKey;
use bank_proto::common::{Money, SignedEnvelope};
use bank_proto::deposit::deposit_admin_service_client::DepositAdminServiceClient;
use bank_proto::deposit::deposit_status_service_client::DepositStatusServiceClient;
use bank_proto::deposit::{
    IssueMaturityAttestationRequest, MaturityAttestation, OpenDepositRequest, OpenPassbookRequest,
    SetBusinessDateRequest, SetDemandRateRequest,
};
use bank_proto::withdrawal::withdrawal_admin_service_client::WithdrawalAdminServiceClient;
use bank_proto::withdrawal::withdrawal_authorization_service_client::WithdrawalAuthorizationServiceClient;
use bank_proto::withdrawal::{
    AcknowledgeDisclosureRequest, Authorization, AuthorizationReference, CaptureMethod,
    CoSignAuthorizationsRequest, CoSignature, DisclosureAcknowledgement, EnrollStaffRequest, IdDocumentType,
    IdentityCheck, PassbookClosureInstruction, RejectAuthorizationRequest, Rejection,
    ReleaseAuthorizationRequest, StaffRole, SubmitPassbookClosureRequest, SubmitWithdrawalRequest,
    WithdrawalInstruction,
};
use chrono::{DateTime, Utc};
use grpc_support::convert::{envelope_to_proto, to_timestamp};
use grpc_support::error::ErrorSummary;
use prost::Message;
use tempfile::TempDir;
use test_support::TestBackend;
use tonic::transport::Channel;

pub const BRANCH: &str = "BR001";

/// A staff member's id and key.
pub struct Staff {
    pub staff_id: String,
    pub key: SigningKey,
}

/// A running deposit-status.
pub struct DepositService {
    pub status: DepositStatusServiceClient<Channel>,
    pub admin: DepositAdminServiceClient<Channel>,
    pub url: String,
    pub database_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl DepositService {
    /// Stops the service and waits until it has; its files stay.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for DepositService {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A running withdrawal-authorization.
pub struct AuthorizationService {
    pub client: WithdrawalAuthorizationServiceClient<Channel>,
    pub admin: WithdrawalAdminServiceClient<Channel>,
    pub database_url: String,
    /// Address of the teller-facing listener.
    pub public_addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl AuthorizationService {
    /// Stops the service and waits until it has; its files stay.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for AuthorizationService {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Both services, staff, and the folder holding their files.
pub struct Bank {
    pub directory: TempDir,
    pub deposit: DepositService,
    pub authorization: AuthorizationService,
    pub teller: Staff,
    pub other_teller: Staff,
    pub supervisor: Staff,
    pub low_limit_supervisor: Staff,
    pub other_branch_supervisor: Staff,
    /// A supervisor who also makes requests, for the self-approval rule.
    pub supervisor_maker: Staff,
    pub attestation_lifetime_secs: u64,
    /// Key id that replaces the signer's in every staff envelope that the
    /// helpers send, for tests of malformed key ids.
    pub replacement_key_id: Option<String>,
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

/// Settings of a deposit-status on `port` (0 for any) with the keys in
/// `directory` and the database at `database_url`.
pub fn deposit_settings(
    directory: &Path,
    database_url: &str,
    lifetime_secs: u64,
    port: u16,
) -> deposit_status::Settings {
    deposit_status::Settings {
        listen_addr: format!("127.0.0.1:{port}").parse().unwrap(),
        admin_listen_addr: "127.0.0.1:0".parse().unwrap(),
        admin_allow_non_loopback: false,
        database_url: database_url.to_owned(),
        database_max_connections: 4,
        database_busy_timeout_ms: 5_000,
        database_connect_timeout_ms: deposit_status::config::DEFAULT_DATABASE_CONNECT_TIMEOUT_MS,
        database_statement_timeout_ms: deposit_status::config::DEFAULT_DATABASE_STATEMENT_TIMEOUT_MS,
        database_serialization_retries: deposit_status::config::DEFAULT_DATABASE_SERIALIZATION_RETRIES,
        signing_key_file: directory.join("attestation.pem"),
        signing_key_valid_from: DateTime::<Utc>::UNIX_EPOCH,
        previous_public_keys: Vec::new(),
        trusted_release_key_files: vec![directory.join("release.pem.pub")],
        attestation_lifetime_secs: lifetime_secs,
        time_zone: chrono_tz::Asia::Shanghai,
        business_date: None,
        allow_business_date_override: true,
        request_timeout_ms: 10_000,
        concurrency_limit: 256,
        max_message_bytes: 4 * 1024 * 1024,
    }
}

/// Settings of a withdrawal-authorization with the keys in `directory`, the
/// database at `database_url`, calling deposit-status at `deposit_url`.
pub fn authorization_settings(
    directory: &Path,
    database_url: &str,
    deposit_url: &str,
) -> withdrawal_authorization::Settings {
    withdrawal_authorization::Settings {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        admin_listen_addr: "127.0.0.1:0".parse().unwrap(),
        admin_allow_non_loopback: false,
        database_url: database_url.to_owned(),
        database_max_connections: 8,
        database_busy_timeout_ms: 10_000,
        database_connect_timeout_ms: withdrawal_authorization::config::DEFAULT_DATABASE_CONNECT_TIMEOUT_MS,
        database_statement_timeout_ms:
            withdrawal_authorization::config::DEFAULT_DATABASE_STATEMENT_TIMEOUT_MS,
        database_serialization_retries:
            withdrawal_authorization::config::DEFAULT_DATABASE_SERIALIZATION_RETRIES,
        signing_key_file: directory.join("release.pem"),
        signing_key_valid_from: DateTime::<Utc>::UNIX_EPOCH,
        deposit_status_url: deposit_url.to_owned(),
        deposit_status_timeout_ms: 2_000,
        large_amount_threshold: "50000.00".parse().unwrap(),
        recovery_interval_secs: 1,
        key_refresh_min_interval_secs: 0,
        request_timeout_ms: 20_000,
        concurrency_limit: 256,
        max_message_bytes: 4 * 1024 * 1024,
    }
}

/// Starts deposit-status on `port` (0 for any) with the keys in `directory`
/// and the database at `database_url`.
pub async fn start_deposit(
    directory: &Path,
    database_url: &str,
    lifetime_secs: u64,
    port: u16,
) -> DepositService {
    start_deposit_with(deposit_settings(directory, database_url, lifetime_secs, port)).await
}

/// Starts deposit-status with `settings`.
pub async fn start_deposit_with(settings: deposit_status::Settings) -> DepositService {
    let application = deposit_status::Application::build(&settings)
        .await
        .expect("deposit-status starts");
    let public = application.public_addr();
    let admin = application.admin_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        application
            .run_until(async {
                let _ = stopped.await;
            })
            .await
            .expect("deposit-status runs");
    });
    DepositService {
        status: DepositStatusServiceClient::connect(format!("http://{public}"))
            .await
            .unwrap(),
        admin: DepositAdminServiceClient::connect(format!("http://{admin}"))
            .await
            .unwrap(),
        url: format!("http://{public}"),
        database_url: settings.database_url.clone(),
        stop: Some(stop),
        task: Some(task),
    }
}

/// Starts withdrawal-authorization against deposit-status at `deposit_url`.
pub async fn start_authorization(
    directory: &Path,
    database_url: &str,
    deposit_url: &str,
) -> AuthorizationService {
    start_authorization_with(authorization_settings(directory, database_url, deposit_url)).await
}

/// Starts withdrawal-authorization with `settings`.
pub async fn start_authorization_with(settings: withdrawal_authorization::Settings) -> AuthorizationService {
    let application = withdrawal_authorization::Application::build(&settings)
        .await
        .expect("withdrawal-authorization starts");
    let public = application.public_addr();
    let admin = application.admin_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        application
            .run_until(async {
                let _ = stopped.await;
            })
            .await
            .expect("withdrawal-authorization runs");
    });
    AuthorizationService {
        client: WithdrawalAuthorizationServiceClient::connect(format!("http://{public}"))
            .await
            .unwrap(),
        admin: WithdrawalAdminServiceClient::connect(format!("http://{admin}"))
            .await
            .unwrap(),
        database_url: settings.database_url.clone(),
        public_addr: public,
        stop: Some(stop),
        task: Some(task),
    }
}

pub async fn enroll(
    admin: &mut WithdrawalAdminServiceClient<Channel>,
    staff_id: &str,
    branch_id: &str,
    role: StaffRole,
    limit: Option<&str>,
) -> Staff {
    let key = SigningKey::generate();
    admin
        .enroll_staff(EnrollStaffRequest {
            request_id: request_id(),
            staff_id: staff_id.to_owned(),
            name: format!("员工{staff_id}"),
            branch_id: branch_id.to_owned(),
            role: role as i32,
            approval_limit: limit.map(cny),
            public_key_pem: key.verifying_key().to_public_key_pem().unwrap(),
            key_valid_from: None,
            key_valid_until: None,
        })
        .await
        .expect("staff enrolled");
    Staff {
        staff_id: staff_id.to_owned(),
        key,
    }
}

impl Bank {
    /// Starts both services with the incident's passbook loaded: one matured
    /// deposit (TD-MATURED, 50,000.00 at 2.25 % for 12 months, maturing on the
    /// business date) and the unmatured TD-UNMATURED (80,000.00 at 3.00 % for
    /// 36 months opened 2022-11-14), business date 2025-02-22, demand rate
    /// 0.10 %.
    pub async fn start() -> Bank {
        Bank::start_with_lifetime(600).await
    }

    pub async fn start_with_lifetime(attestation_lifetime_secs: u64) -> Bank {
        let directory = tempfile::tempdir().unwrap();
        SigningKey::generate()
            .write_pem_file(directory.path().join("attestation.pem"))
            .unwrap();
        let release = SigningKey::generate();
        release
            .write_pem_file(directory.path().join("release.pem"))
            .unwrap();
        release
            .verifying_key()
            .write_pem_file(directory.path().join("release.pem.pub"))
            .unwrap();

        let backend = TestBackend::from_env();
        let deposit_database = test_support::database_url(backend, directory.path(), "deposit-status").await;
        let authorization_database =
            test_support::database_url(backend, directory.path(), "withdrawal-authorization").await;
        let mut deposit =
            start_deposit(directory.path(), &deposit_database, attestation_lifetime_secs, 0).await;
        let mut authorization =
            start_authorization(directory.path(), &authorization_database, &deposit.url).await;
        let admin = &mut authorization.admin;
        let teller = enroll(admin, "T001", BRANCH, StaffRole::Teller, None).await;
        let other_teller = enroll(admin, "T002", BRANCH, StaffRole::Teller, None).await;
        let supervisor = enroll(admin, "S001", BRANCH, StaffRole::Supervisor, Some("1000000.00")).await;
        let low_limit_supervisor =
            enroll(admin, "S002", BRANCH, StaffRole::Supervisor, Some("1000.00")).await;
        let other_branch_supervisor =
            enroll(admin, "S003", "BR002", StaffRole::Supervisor, Some("1000000.00")).await;
        let supervisor_maker = enroll(admin, "S004", BRANCH, StaffRole::Supervisor, Some("1000000.00")).await;

        let admin = &mut deposit.admin;
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
        admin
            .open_passbook(OpenPassbookRequest {
                request_id: request_id(),
                passbook_number: "PB-INCIDENT".to_owned(),
                customer_id: "C001".to_owned(),
                customer_name: "王芳".to_owned(),
                masked_id_number: "110***********1234".to_owned(),
                branch_id: BRANCH.to_owned(),
            })
            .await
            .unwrap();
        for (deposit_id, principal, rate, term, opened) in [
            ("TD-MATURED", "50000.00", "2.25", 12, "2024-02-22"),
            ("TD-UNMATURED", "80000.00", "3.00", 36, "2022-11-14"),
        ] {
            admin
                .open_deposit(OpenDepositRequest {
                    request_id: request_id(),
                    passbook_number: "PB-INCIDENT".to_owned(),
                    deposit_id: deposit_id.to_owned(),
                    principal: Some(cny(principal)),
                    term_months: term,
                    contract_rate_percent: rate.to_owned(),
                    opened_on: opened.to_owned(),
                    product: None,
                })
                .await
                .unwrap();
        }

        Bank {
            directory,
            deposit,
            authorization,
            teller,
            other_teller,
            supervisor,
            low_limit_supervisor,
            other_branch_supervisor,
            supervisor_maker,
            attestation_lifetime_secs,
            replacement_key_id: None,
        }
    }

    /// Gets a maturity attestation for the whole deposit (`amount` None) or
    /// an amount.
    pub async fn attest(
        &mut self,
        deposit_id: &str,
        amount: Option<&str>,
    ) -> (SignedEnvelope, MaturityAttestation) {
        let response = self
            .deposit
            .status
            .issue_maturity_attestation(IssueMaturityAttestationRequest {
                request_id: request_id(),
                passbook_number: "PB-INCIDENT".to_owned(),
                deposit_id: deposit_id.to_owned(),
                amount: amount.map(cny),
                whole_deposit: amount.is_none(),
            })
            .await
            .expect("attestation issued")
            .into_inner();
        (
            response.attestation.unwrap(),
            response.attestation_payload.unwrap(),
        )
    }

    /// Submits a withdrawal signed by `maker`.
    pub async fn submit_as(
        &mut self,
        maker: &Staff,
        deposit_id: &str,
        amount: Option<&str>,
        attestation: SignedEnvelope,
    ) -> Result<Authorization, tonic::Status> {
        let request_id = request_id();
        let instruction = WithdrawalInstruction {
            request_id: request_id.clone(),
            teller_staff_id: maker.staff_id.clone(),
            branch_id: BRANCH.to_owned(),
            passbook_number: "PB-INCIDENT".to_owned(),
            deposit_id: deposit_id.to_owned(),
            amount: amount.map(cny),
            whole_deposit: amount.is_none(),
            identity_check: Some(identity_check()),
            maturity_attestation: Some(attestation),
            signed_at: Some(to_timestamp(Utc::now())),
        };
        let envelope = self.with_replacement_key_id(sign(
            &maker.key,
            bank_proto::payload_type::WITHDRAWAL_INSTRUCTION,
            &instruction,
        ));
        self.authorization
            .client
            .submit_withdrawal(SubmitWithdrawalRequest {
                request_id,
                instruction: Some(envelope),
            })
            .await
            .map(|response| response.into_inner().authorization.unwrap())
    }

    /// Attests and submits the whole deposit as the teller.
    pub async fn submit(&mut self, deposit_id: &str) -> Authorization {
        let (attestation, _) = self.attest(deposit_id, None).await;
        let teller = Staff {
            staff_id: self.teller.staff_id.clone(),
            key: clone_key(&self.teller.key),
        };
        self.submit_as(&teller, deposit_id, None, attestation)
            .await
            .expect("submitted")
    }

    /// Submits a closure of the passbook with the given attestations.
    pub async fn submit_closure(
        &mut self,
        attestations: Vec<SignedEnvelope>,
    ) -> Result<bank_proto::withdrawal::PassbookClosure, tonic::Status> {
        let request_id = request_id();
        let instruction = PassbookClosureInstruction {
            request_id: request_id.clone(),
            teller_staff_id: self.teller.staff_id.clone(),
            branch_id: BRANCH.to_owned(),
            passbook_number: "PB-INCIDENT".to_owned(),
            identity_check: Some(identity_check()),
            maturity_attestations: attestations,
            signed_at: Some(to_timestamp(Utc::now())),
        };
        let envelope = self.with_replacement_key_id(sign(
            &self.teller.key,
            bank_proto::payload_type::PASSBOOK_CLOSURE_INSTRUCTION,
            &instruction,
        ));
        self.authorization
            .client
            .submit_passbook_closure(SubmitPassbookClosureRequest {
                request_id,
                instruction: Some(envelope),
            })
            .await
            .map(|response| response.into_inner().closure.unwrap())
    }

    /// Records the customer's acknowledgement of the zh-CN disclosure.
    pub async fn acknowledge(
        &mut self,
        authorization: &Authorization,
    ) -> Result<Authorization, tonic::Status> {
        let text = authorization
            .disclosure
            .iter()
            .find(|text| text.language == "zh-CN")
            .expect("zh-CN disclosure");
        let acknowledgement = DisclosureAcknowledgement {
            authorization_id: authorization.authorization_id.clone(),
            language: "zh-CN".to_owned(),
            disclosure_sha256: text.sha256.clone(),
            capture_method: CaptureMethod::SignaturePad as i32,
            capture_reference: "PAD-0001".to_owned(),
            captured_at: Some(to_timestamp(Utc::now())),
            teller_staff_id: self.teller.staff_id.clone(),
        };
        let envelope = self.with_replacement_key_id(sign(
            &self.teller.key,
            bank_proto::payload_type::DISCLOSURE_ACKNOWLEDGEMENT,
            &acknowledgement,
        ));
        self.authorization
            .client
            .acknowledge_disclosure(AcknowledgeDisclosureRequest {
                request_id: request_id(),
                acknowledgement: Some(envelope),
            })
            .await
            .map(|response| response.into_inner().authorization.unwrap())
    }

    /// Co-signs `authorizations` (at their current digests) as `supervisor`.
    pub async fn co_sign(
        &mut self,
        supervisor: &Staff,
        authorizations: &[&Authorization],
    ) -> Result<Vec<Authorization>, tonic::Status> {
        let cosignature = CoSignature {
            supervisor_staff_id: supervisor.staff_id.clone(),
            authorizations: authorizations
                .iter()
                .map(|authorization| AuthorizationReference {
                    authorization_id: authorization.authorization_id.clone(),
                    authorization_digest: authorization.authorization_digest.clone(),
                })
                .collect(),
            signed_at: Some(to_timestamp(Utc::now())),
        };
        let envelope = self.with_replacement_key_id(sign(
            &supervisor.key,
            bank_proto::payload_type::CO_SIGNATURE,
            &cosignature,
        ));
        self.authorization
            .client
            .co_sign_authorizations(CoSignAuthorizationsRequest {
                request_id: request_id(),
                cosignature: Some(envelope),
            })
            .await
            .map(|response| response.into_inner().authorizations)
    }

    /// Rejects an authorization as `supervisor`.
    pub async fn reject(
        &mut self,
        supervisor: &Staff,
        authorization: &Authorization,
    ) -> Result<Authorization, tonic::Status> {
        let rejection = Rejection {
            supervisor_staff_id: supervisor.staff_id.clone(),
            authorization: Some(AuthorizationReference {
                authorization_id: authorization.authorization_id.clone(),
                authorization_digest: authorization.authorization_digest.clone(),
            }),
            reason: "客户证件与存折户名不符".to_owned(),
            signed_at: Some(to_timestamp(Utc::now())),
        };
        let envelope = self.with_replacement_key_id(sign(
            &supervisor.key,
            bank_proto::payload_type::REJECTION,
            &rejection,
        ));
        self.authorization
            .client
            .reject_authorization(RejectAuthorizationRequest {
                request_id: request_id(),
                rejection: Some(envelope),
            })
            .await
            .map(|response| response.into_inner().authorization.unwrap())
    }

    pub async fn release(
        &mut self,
        authorization_id: &str,
    ) -> Result<bank_proto::withdrawal::ReleaseAuthorizationResponse, tonic::Status> {
        self.authorization
            .client
            .release_authorization(ReleaseAuthorizationRequest {
                request_id: request_id(),
                authorization_id: authorization_id.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Returns `envelope` with its key id replaced by
    /// [`Bank::replacement_key_id`], when that is set.
    fn with_replacement_key_id(&self, mut envelope: SignedEnvelope) -> SignedEnvelope {
        if let Some(key_id) = &self.replacement_key_id {
            envelope.key_id = key_id.clone();
        }
        envelope
    }

    /// Number of release orders deposit-status executed.
    pub async fn executions(&self) -> i64 {
        let pool = test_support::connect(&self.deposit.database_url).await;
        let count = sqlx::query_scalar("SELECT COUNT(*) FROM executions")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        count
    }
}

/// A copy of a signing key, for helpers that need an owned `Staff`.
pub fn clone_key(key: &SigningKey) -> SigningKey {
    SigningKey::from_pkcs8_pem(&key.to_pkcs8_pem().unwrap()).unwrap()
}

pub fn identity_check() -> IdentityCheck {
    IdentityCheck {
        depositor_checked: true,
        depositor_id_type: IdDocumentType::ResidentIdCard as i32,
        depositor_masked_id_number: "110***********1234".to_owned(),
        agent: false,
        agent_id_type: 0,
        agent_masked_id_number: String::new(),
        agent_name: String::new(),
    }
}

/// Signs a message as an envelope of `payload_type`.
pub fn sign(key: &SigningKey, payload_type: &str, message: &impl Message) -> SignedEnvelope {
    envelope_to_proto(&key.sign(payload_type, message.encode_to_vec()))
}

/// Asserts that `result` failed with `code` and ErrorInfo `reason`, with a
/// zh-CN message, and returns the details.
#[track_caller]
pub fn assert_error<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: tonic::Code,
    reason: &str,
) -> ErrorSummary {
    let status = result.expect_err("the call should fail");
    let details = ErrorSummary::from_status(&status);
    assert_eq!(status.code(), code, "status {status:?}");
    assert_eq!(details.reason.as_deref(), Some(reason), "status {status:?}");
    assert!(
        details
            .localized_zh_cn
            .as_deref()
            .is_some_and(|text| !text.is_empty()),
        "no zh-CN message in {status:?}"
    );
    details
}

/// Polls `check` until it returns true, at most `limit`.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
