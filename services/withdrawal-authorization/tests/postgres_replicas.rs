//! Two replicas of each service against one PostgreSQL database per
//! service, as behind a load balancer. Releases raced over both replicas pay
//! once. A thousand concurrent withdrawals leave every balance and the audit
//! log consistent. The audit log stays chained when both replicas append at
//! once. These tests use PostgreSQL whatever BANK_TEST_BACKEND is.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use attestation::{Keyring, SigningKey};
use bank_proto::deposit::{
    GetPassbookRequest, OpenDepositRequest, OpenPassbookRequest, Payout, SetBusinessDateRequest,
    SetDemandRateRequest,
};
use bank_proto::withdrawal::StaffRole;
use chrono::{DateTime, Utc};
use common::{
    AuthorizationService, BRANCH, DepositService, Staff, authorization_settings, cny, deposit_settings,
    enroll, flow, request_id, start_authorization_with, start_deposit_with,
};
use grpc_support::error::ErrorSummary;
use prost::Message;
use rust_decimal::Decimal;
use tempfile::TempDir;

/// Replicas of each service.
const REPLICAS: usize = 2;
/// Pooled connections of each replica.
const REPLICA_CONNECTIONS: u32 = 8;

/// Two replicas of each service; authorization replica `i` calls deposit
/// replica `i`.
struct Deployment {
    directory: TempDir,
    deposits: Vec<DepositService>,
    authorizations: Vec<AuthorizationService>,
    deposit_database: String,
    authorization_database: String,
}

impl Deployment {
    /// Starts the replicas on two new databases, the replicas of a service
    /// at the same time, so that they race to migrate the empty database.
    /// The business date is 2025-02-22 and the CNY demand rate 0.10 %.
    async fn start() -> Deployment {
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
        let deposit_database = test_support::postgres_database().await;
        let authorization_database = test_support::postgres_database().await;

        let deposit_settings = |_| {
            let mut settings = deposit_settings(directory.path(), &deposit_database, 600, 0);
            settings.database_max_connections = REPLICA_CONNECTIONS;
            settings
        };
        let (first, second) = tokio::join!(
            start_deposit_with(deposit_settings(0)),
            start_deposit_with(deposit_settings(1)),
        );
        let deposits = vec![first, second];
        let authorization_settings = |replica: usize| {
            let mut settings =
                authorization_settings(directory.path(), &authorization_database, &deposits[replica].url);
            settings.database_max_connections = REPLICA_CONNECTIONS;
            settings
        };
        let (first, second) = tokio::join!(
            start_authorization_with(authorization_settings(0)),
            start_authorization_with(authorization_settings(1)),
        );
        let authorizations = vec![first, second];

        let mut admin = deposits[0].admin.clone();
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
        Deployment {
            directory,
            deposits,
            authorizations,
            deposit_database,
            authorization_database,
        }
    }

    /// Opens a passbook through deposit replica `replica`.
    async fn open_passbook(&self, replica: usize, passbook_number: &str) {
        self.deposits[replica]
            .admin
            .clone()
            .open_passbook(OpenPassbookRequest {
                request_id: request_id(),
                passbook_number: passbook_number.to_owned(),
                customer_id: format!("C-{passbook_number}"),
                customer_name: "王芳".to_owned(),
                masked_id_number: "110***********1234".to_owned(),
                branch_id: BRANCH.to_owned(),
            })
            .await
            .unwrap();
    }

    /// Opens a CNY deposit through deposit replica `replica`.
    async fn open_deposit(
        &self,
        replica: usize,
        passbook_number: &str,
        deposit_id: &str,
        terms: (&str, &str, i32, &str),
    ) {
        let (principal, rate, term_months, opened_on) = terms;
        self.deposits[replica]
            .admin
            .clone()
            .open_deposit(OpenDepositRequest {
                request_id: request_id(),
                passbook_number: passbook_number.to_owned(),
                deposit_id: deposit_id.to_owned(),
                principal: Some(cny(principal)),
                term_months,
                contract_rate_percent: rate.to_owned(),
                opened_on: opened_on.to_owned(),
                product: None,
            })
            .await
            .unwrap();
    }

    /// Returns every payout deposit-status recorded, by order id.
    async fn executed_payouts(&self) -> BTreeMap<String, Payout> {
        let pool = test_support::connect(&self.deposit_database).await;
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT order_id, payout FROM executions")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows.into_iter()
            .map(|(order_id, payout)| (order_id, Payout::decode(payout.as_slice()).unwrap()))
            .collect()
    }

    /// Returns every payout withdrawal-authorization recorded on a RELEASED
    /// authorization, by order id.
    async fn released_payouts(&self) -> BTreeMap<String, Payout> {
        let pool = test_support::connect(&self.authorization_database).await;
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT order_id, payout FROM authorizations WHERE state = 'released'")
                .fetch_all(&pool)
                .await
                .unwrap();
        pool.close().await;
        rows.into_iter()
            .map(|(order_id, payout)| (order_id, Payout::decode(payout.as_slice()).unwrap()))
            .collect()
    }

    /// Verifies the whole audit log of withdrawal-authorization.
    async fn verify_audit(&self) -> withdrawal_authorization::audit::AuditReport {
        let attestation_key = SigningKey::read_pem_file(self.directory.path().join("attestation.pem"))
            .unwrap()
            .verifying_key();
        let mut keyring = Keyring::new();
        keyring
            .insert(attestation_key, DateTime::<Utc>::UNIX_EPOCH, None)
            .unwrap();
        withdrawal_authorization::audit::verify_database(&self.authorization_database, keyring, None)
            .await
            .unwrap()
    }
}

fn amount(money: &Option<bank_proto::common::Money>) -> Decimal {
    money.as_ref().unwrap().amount.parse().unwrap()
}

/// Returns the ErrorInfo reason of a failed call, or its code when it has
/// none.
fn reason(status: &tonic::Status) -> String {
    ErrorSummary::from_status(status)
        .reason
        .unwrap_or_else(|| format!("{:?}", status.code()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_releases_over_replicas_pay_once() {
    const CALLERS: usize = 100;
    let deployment = Deployment::start().await;
    let mut admin = deployment.authorizations[0].admin.clone();
    let teller = enroll(&mut admin, "T001", BRANCH, StaffRole::Teller, None).await;
    let supervisor = enroll(
        &mut admin,
        "S001",
        BRANCH,
        StaffRole::Supervisor,
        Some("1000000.00"),
    )
    .await;
    deployment.open_passbook(1, "PB-RACE").await;
    deployment
        .open_deposit(0, "PB-RACE", "TD-RACE", ("80000.00", "3.00", 36, "2022-11-14"))
        .await;

    let repeats = AtomicUsize::new(0);
    let clients: Vec<_> = deployment
        .authorizations
        .iter()
        .map(|service| service.client.clone())
        .collect();
    let (attestation, _) = flow::attest(
        &repeats,
        &deployment.deposits[1].status,
        "PB-RACE",
        "TD-RACE",
        None,
    )
    .await
    .unwrap();
    let authorization = flow::submit(
        &repeats,
        &clients[0],
        &teller,
        "PB-RACE",
        "TD-RACE",
        None,
        attestation,
    )
    .await
    .unwrap();
    let authorization = flow::acknowledge(&repeats, &clients[1], &teller, &authorization)
        .await
        .unwrap();
    let authorization = flow::co_sign(&repeats, &clients[0], &supervisor, &authorization)
        .await
        .unwrap();

    let started = Instant::now();
    let repeats = Arc::new(repeats);
    let mut callers = Vec::with_capacity(CALLERS);
    for caller in 0..CALLERS {
        let client = clients[caller % REPLICAS].clone();
        let authorization_id = authorization.authorization_id.clone();
        let repeats = Arc::clone(&repeats);
        callers.push(tokio::spawn(async move {
            flow::release(&repeats, &client, &authorization_id).await
        }));
    }
    let mut payouts = Vec::with_capacity(CALLERS);
    for caller in callers {
        let response = caller
            .await
            .unwrap()
            .expect("every caller gets the payout, after repeats of UNAVAILABLE if any");
        payouts.push(response.payout.expect("a released authorization has a payout"));
    }
    println!(
        "{CALLERS} releases over {REPLICAS} replicas: {:?}, {} calls repeated after UNAVAILABLE",
        started.elapsed(),
        repeats.load(Ordering::Relaxed)
    );

    assert!(
        payouts.windows(2).all(|pair| pair[0] == pair[1]),
        "all callers see one payout"
    );
    assert_eq!(payouts[0].interest.as_ref().unwrap().amount, "184.67");
    let executed = deployment.executed_payouts().await;
    assert_eq!(executed.len(), 1, "deposit-status executed {executed:?}");
    assert_eq!(executed.values().next(), Some(&payouts[0]));
    let report = deployment.verify_audit().await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.releases_verified, 1);
}

/// What the tellers of the thousand-withdrawal test saw.
#[derive(Default)]
struct Tally {
    /// Principal paid out of each deposit, as the callers saw it.
    paid_principal: HashMap<String, Decimal>,
    /// Payouts the callers received, by order id.
    payouts: BTreeMap<String, Payout>,
    partial: usize,
    whole: usize,
    /// Attempts that stopped before a payout, by step and reason.
    refused: BTreeMap<String, usize>,
}

/// One withdrawal from start to payout; on refusal returns the step and the
/// reason.
#[allow(clippy::too_many_arguments)]
async fn withdraw(
    deployment: &Deployment,
    repeats: &AtomicUsize,
    teller: &Staff,
    supervisor: &Staff,
    replica: usize,
    passbook_number: &str,
    deposit_id: &str,
    amount: Option<&str>,
) -> Result<Payout, String> {
    let deposit = &deployment.deposits[replica].status;
    let client = &deployment.authorizations[replica].client;
    let other = &deployment.authorizations[(replica + 1) % REPLICAS].client;
    let step = |name: &str| {
        let name = name.to_owned();
        move |status: tonic::Status| format!("{name}: {}", reason(&status))
    };

    let (attestation, _) = flow::attest(repeats, deposit, passbook_number, deposit_id, amount)
        .await
        .map_err(step("attest"))?;
    let mut authorization = flow::submit(
        repeats,
        client,
        teller,
        passbook_number,
        deposit_id,
        amount,
        attestation,
    )
    .await
    .map_err(step("submit"))?;
    if !authorization.disclosure.is_empty() {
        authorization = flow::acknowledge(repeats, other, teller, &authorization)
            .await
            .map_err(step("acknowledge"))?;
    }
    let authorization = flow::co_sign(repeats, client, supervisor, &authorization)
        .await
        .map_err(step("co-sign"))?;
    let released = flow::release(repeats, other, &authorization.authorization_id)
        .await
        .map_err(step("release"))?;
    Ok(released.payout.expect("a released authorization has a payout"))
}

/// A small deterministic generator (xorshift64*), so that each attempt's
/// choices follow from its number.
fn choices(attempt: usize) -> impl FnMut(u64) -> u64 {
    let mut state = (attempt as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move |bound: u64| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_withdrawals_over_replicas_balance() {
    const PASSBOOKS: usize = 50;
    const DEPOSITS_PER_PASSBOOK: usize = 4;
    const ATTEMPTS: usize = 1_000;
    const TELLERS: usize = 16;
    const PRINCIPAL: &str = "10000.00";
    const PARTIAL_AMOUNTS: [&str; 3] = ["500.00", "1000.00", "2500.00"];

    let deployment = Arc::new(Deployment::start().await);
    let mut admin = deployment.authorizations[0].admin.clone();
    let mut tellers = Vec::with_capacity(TELLERS);
    for teller in 0..TELLERS {
        tellers.push(
            enroll(
                &mut admin,
                &format!("T{teller:03}"),
                BRANCH,
                StaffRole::Teller,
                None,
            )
            .await,
        );
    }
    let mut supervisors = Vec::with_capacity(REPLICAS);
    for supervisor in 0..REPLICAS {
        supervisors.push(
            enroll(
                &mut admin,
                &format!("S{supervisor:03}"),
                BRANCH,
                StaffRole::Supervisor,
                Some("1000000.00"),
            )
            .await,
        );
    }
    // Even deposits mature in August 2025, so they can be withdrawn in part
    // once before they are withdrawn whole. Odd ones matured on the business
    // date and are paid in full.
    let mut deposits = Vec::with_capacity(PASSBOOKS * DEPOSITS_PER_PASSBOOK);
    for passbook in 0..PASSBOOKS {
        let passbook_number = format!("PB-{passbook:03}");
        deployment
            .open_passbook(passbook % REPLICAS, &passbook_number)
            .await;
        for deposit in 0..DEPOSITS_PER_PASSBOOK {
            let deposit_id = format!("TD-{passbook:03}-{deposit}");
            let terms = if deposit.is_multiple_of(2) {
                (PRINCIPAL, "1.75", 12, "2024-08-22")
            } else {
                (PRINCIPAL, "2.25", 12, "2024-02-22")
            };
            deployment
                .open_deposit(deposit % REPLICAS, &passbook_number, &deposit_id, terms)
                .await;
            deposits.push((passbook_number.clone(), deposit_id));
        }
    }

    let started = Instant::now();
    let deposits = Arc::new(deposits);
    let tellers: Arc<Vec<Staff>> = Arc::new(tellers);
    let supervisors: Arc<Vec<Staff>> = Arc::new(supervisors);
    let next_attempt = Arc::new(AtomicUsize::new(0));
    let repeats = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(std::sync::Mutex::new(Tally::default()));
    let mut workers = Vec::with_capacity(TELLERS);
    for teller in 0..TELLERS {
        let (deployment, deposits, tellers, supervisors) = (
            Arc::clone(&deployment),
            Arc::clone(&deposits),
            Arc::clone(&tellers),
            Arc::clone(&supervisors),
        );
        let (next_attempt, repeats, tally) = (
            Arc::clone(&next_attempt),
            Arc::clone(&repeats),
            Arc::clone(&tally),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let attempt = next_attempt.fetch_add(1, Ordering::Relaxed);
                if attempt >= ATTEMPTS {
                    return;
                }
                let mut choose = choices(attempt);
                let index = choose(deposits.len() as u64) as usize;
                let (passbook_number, deposit_id) = &deposits[index];
                // Two in three attempts on an unmatured deposit ask for part
                // of it; a matured deposit is only ever withdrawn whole.
                let unmatured = index.is_multiple_of(2);
                let amount = if unmatured && choose(3) > 0 {
                    Some(PARTIAL_AMOUNTS[choose(PARTIAL_AMOUNTS.len() as u64) as usize])
                } else {
                    None
                };
                let replica = choose(REPLICAS as u64) as usize;
                let supervisor = &supervisors[choose(REPLICAS as u64) as usize];
                let outcome = withdraw(
                    &deployment,
                    &repeats,
                    &tellers[teller],
                    supervisor,
                    replica,
                    passbook_number,
                    deposit_id,
                    amount,
                )
                .await;
                let mut tally = tally.lock().unwrap();
                match outcome {
                    Ok(payout) => {
                        *tally.paid_principal.entry(deposit_id.clone()).or_default() +=
                            self::amount(&payout.principal);
                        if amount.is_some() {
                            tally.partial += 1;
                        } else {
                            tally.whole += 1;
                        }
                        tally.payouts.insert(payout.order_id.clone(), payout);
                    }
                    Err(reason) => *tally.refused.entry(reason).or_default() += 1,
                }
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let elapsed = started.elapsed();
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    let paid_total: Decimal = tally.payouts.values().map(|payout| amount(&payout.total)).sum();
    println!(
        "{ATTEMPTS} withdrawal attempts by {TELLERS} tellers over {} deposits and {REPLICAS} replicas of each \
         service: {elapsed:?}; {} paid ({} partial, {} whole), {paid_total} CNY in total; {} calls repeated \
         after UNAVAILABLE; refused: {:?}",
        deposits.len(),
        tally.payouts.len(),
        tally.partial,
        tally.whole,
        repeats.load(Ordering::Relaxed),
        tally.refused
    );
    assert!(!tally.payouts.is_empty(), "no withdrawal was paid");
    assert!(tally.partial > 0, "no partial withdrawal was paid");
    assert!(tally.whole > 0, "no whole withdrawal was paid");

    // Every balance is its principal less what was paid out of it.
    let principal: Decimal = PRINCIPAL.parse().unwrap();
    let mut status = deployment.deposits[1].status.clone();
    for passbook in 0..PASSBOOKS {
        let view = status
            .get_passbook(GetPassbookRequest {
                passbook_number: format!("PB-{passbook:03}"),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(view.deposits.len(), DEPOSITS_PER_PASSBOOK);
        for deposit in &view.deposits {
            let paid = tally
                .paid_principal
                .get(&deposit.deposit_id)
                .copied()
                .unwrap_or_default();
            assert_eq!(
                amount(&deposit.balance),
                principal - paid,
                "balance of {}",
                deposit.deposit_id
            );
        }
    }

    // deposit-status executed exactly the orders whose payouts the callers
    // and withdrawal-authorization recorded.
    let executed = deployment.executed_payouts().await;
    assert_eq!(executed, tally.payouts, "deposit-status and the callers disagree");
    let released = deployment.released_payouts().await;
    assert_eq!(
        released, tally.payouts,
        "withdrawal-authorization and the callers disagree"
    );
    let executed_total: Decimal = executed.values().map(|payout| amount(&payout.total)).sum();
    assert_eq!(executed_total, paid_total);

    let report = deployment.verify_audit().await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.releases_verified, tally.payouts.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_stays_chained_across_replicas() {
    const ENROLLMENTS: usize = 40;
    let deployment = Deployment::start().await;
    let mut enrollments = Vec::with_capacity(ENROLLMENTS);
    for enrollment in 0..ENROLLMENTS {
        let mut admin = deployment.authorizations[enrollment % REPLICAS].admin.clone();
        enrollments.push(tokio::spawn(async move {
            enroll(
                &mut admin,
                &format!("T{enrollment:03}"),
                BRANCH,
                StaffRole::Teller,
                None,
            )
            .await
        }));
    }
    for enrollment in enrollments {
        enrollment.await.unwrap();
    }

    let report = deployment.verify_audit().await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.records, ENROLLMENTS);
}
