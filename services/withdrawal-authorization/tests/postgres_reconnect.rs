//! Losing the PostgreSQL server: while it is down, both services fail calls
//! with a retryable UNAVAILABLE (reason STORAGE_UNAVAILABLE), and once it is
//! back they serve again without a restart, because their pools open new
//! connections. These tests use PostgreSQL whatever BANK_TEST_BACKEND is.

mod common;

use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use attestation::SigningKey;
use bank_proto::deposit::{
    GetPassbookRequest, OpenDepositRequest, OpenPassbookRequest, SetBusinessDateRequest, SetDemandRateRequest,
};
use bank_proto::withdrawal::{Authorization, AuthorizationState, GetAuthorizationRequest, StaffRole};
use common::{
    AuthorizationService, BRANCH, DepositService, Staff, authorization_settings, cny, deposit_settings,
    enroll, flow, request_id, start_authorization_with, start_deposit_with,
};
use grpc_support::error::ErrorSummary;
use tempfile::TempDir;
use test_support::PostgresCluster;
use tonic::Code;

/// Connect timeout of both services here, so that a call during the outage
/// fails fast.
const CONNECT_TIMEOUT_MS: u64 = 500;
/// Bound on waiting for the services to serve again after the server is
/// back.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);

/// Both services on databases of the server at `admin_url`, with the
/// incident's unmatured deposit ready to release.
struct Bank {
    _directory: TempDir,
    deposit: DepositService,
    authorization: AuthorizationService,
    deposit_database: String,
    authorization_database: String,
    teller: Staff,
    supervisor: Staff,
}

impl Bank {
    async fn start(admin_url: &str) -> Bank {
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
        let deposit_database = test_support::create_database(admin_url).await;
        let authorization_database = test_support::create_database(admin_url).await;

        let mut settings = deposit_settings(directory.path(), &deposit_database, 600, 0);
        settings.database_connect_timeout_ms = CONNECT_TIMEOUT_MS;
        let deposit = start_deposit_with(settings).await;
        let mut settings = authorization_settings(directory.path(), &authorization_database, &deposit.url);
        settings.database_connect_timeout_ms = CONNECT_TIMEOUT_MS;
        let authorization = start_authorization_with(settings).await;

        let mut admin = authorization.admin.clone();
        let teller = enroll(&mut admin, "T001", BRANCH, StaffRole::Teller, None).await;
        let supervisor = enroll(
            &mut admin,
            "S001",
            BRANCH,
            StaffRole::Supervisor,
            Some("1000000.00"),
        )
        .await;
        let mut admin = deposit.admin.clone();
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
        admin
            .open_deposit(OpenDepositRequest {
                request_id: request_id(),
                passbook_number: "PB-INCIDENT".to_owned(),
                deposit_id: "TD-UNMATURED".to_owned(),
                principal: Some(cny("80000.00")),
                term_months: 36,
                contract_rate_percent: "3.00".to_owned(),
                opened_on: "2022-11-14".to_owned(),
                product: None,
            })
            .await
            .unwrap();
        Bank {
            _directory: directory,
            deposit,
            authorization,
            deposit_database,
            authorization_database,
            teller,
            supervisor,
        }
    }

    /// Attests, submits, acknowledges and co-signs the unmatured deposit.
    async fn ready_authorization(&self) -> Authorization {
        let repeats = AtomicUsize::new(0);
        let client = &self.authorization.client;
        let (attestation, _) = flow::attest(
            &repeats,
            &self.deposit.status,
            "PB-INCIDENT",
            "TD-UNMATURED",
            None,
        )
        .await
        .unwrap();
        let authorization = flow::submit(
            &repeats,
            client,
            &self.teller,
            "PB-INCIDENT",
            "TD-UNMATURED",
            None,
            attestation,
        )
        .await
        .unwrap();
        let authorization = flow::acknowledge(&repeats, client, &self.teller, &authorization)
            .await
            .unwrap();
        flow::co_sign(&repeats, client, &self.supervisor, &authorization)
            .await
            .unwrap()
    }

    async fn get_passbook(&self) -> Result<(), tonic::Status> {
        self.deposit
            .status
            .clone()
            .get_passbook(GetPassbookRequest {
                passbook_number: "PB-INCIDENT".to_owned(),
            })
            .await
            .map(|_| ())
    }

    async fn get_authorization(&self, authorization_id: &str) -> Result<Authorization, tonic::Status> {
        self.authorization
            .client
            .clone()
            .get_authorization(GetAuthorizationRequest {
                authorization_id: authorization_id.to_owned(),
            })
            .await
            .map(|response| response.into_inner().authorization.unwrap())
    }

    /// Polls both services, at most [`RECOVERY_BOUND`], until each serves a
    /// read again.
    async fn wait_until_serving(&self, authorization_id: &str) {
        let deadline = Instant::now() + RECOVERY_BOUND;
        loop {
            let deposit = self.get_passbook().await;
            let authorization = self.get_authorization(authorization_id).await;
            if deposit.is_ok() && authorization.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not serving {RECOVERY_BOUND:?} after the database came back: {deposit:?} {authorization:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn executions(&self) -> i64 {
        let pool = test_support::connect(&self.deposit_database).await;
        let count = sqlx::query_scalar("SELECT COUNT(*) FROM executions")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        count
    }
}

/// Asserts that `result` failed with UNAVAILABLE and reason
/// STORAGE_UNAVAILABLE, with a delay to retry after.
#[track_caller]
fn assert_storage_unavailable<T: std::fmt::Debug>(result: Result<T, tonic::Status>) {
    let status = result.expect_err("the call fails while the database is down");
    let details = ErrorSummary::from_status(&status);
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        details.reason.as_deref(),
        Some("STORAGE_UNAVAILABLE"),
        "{status:?}"
    );
    assert!(details.retry_delay.is_some(), "no RetryInfo in {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_outage_gives_retryable_errors_then_recovers() {
    let cluster = PostgresCluster::start().unwrap_or_else(|error| panic!("{error}"));
    let bank = Bank::start(&cluster.url("postgres")).await;
    let authorization = bank.ready_authorization().await;
    let id = authorization.authorization_id.as_str();

    cluster.stop().unwrap();
    let outage = Instant::now();
    assert_storage_unavailable(bank.get_passbook().await);
    assert_storage_unavailable(bank.get_authorization(id).await);
    assert_storage_unavailable(
        bank.authorization
            .client
            .clone()
            .release_authorization(bank_proto::withdrawal::ReleaseAuthorizationRequest {
                request_id: request_id(),
                authorization_id: id.to_owned(),
            })
            .await,
    );
    println!(
        "three calls failed during the outage within {:?}",
        outage.elapsed()
    );

    cluster.start_again().unwrap();
    bank.wait_until_serving(id).await;
    println!("serving again {:?} after the outage began", outage.elapsed());
    let repeats = AtomicUsize::new(0);
    let released = flow::release(&repeats, &bank.authorization.client, id)
        .await
        .expect("the release completes after the outage");
    assert_eq!(released.payout.unwrap().interest.unwrap().amount, "184.67");
    assert_eq!(
        bank.get_authorization(id).await.unwrap().state(),
        AuthorizationState::Released
    );
    assert_eq!(bank.executions().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_sessions_are_replaced() {
    let bank = Bank::start(&test_support::shared_postgres_url()).await;
    let authorization = bank.ready_authorization().await;
    let id = authorization.authorization_id.as_str();

    let ended = test_support::terminate_connections(&bank.deposit_database).await
        + test_support::terminate_connections(&bank.authorization_database).await;
    assert!(ended > 0, "no session of the services was open");

    // A call may still meet a connection that the server ended; it fails
    // with a retryable status, and the pool replaces the connection.
    for result in [
        bank.get_passbook().await,
        bank.get_authorization(id).await.map(|_| ()),
    ] {
        if let Err(status) = result {
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        }
    }
    bank.wait_until_serving(id).await;
    let repeats = AtomicUsize::new(0);
    let released = flow::release(&repeats, &bank.authorization.client, id)
        .await
        .expect("the release completes with new connections");
    assert_eq!(released.payout.unwrap().interest.unwrap().amount, "184.67");
    assert_eq!(bank.executions().await, 1);
}
