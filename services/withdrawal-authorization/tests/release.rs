//! Exactly-once release: concurrent callers, a deposit-status outage, and a
//! restart between the decision and the payout.

mod common;

use std::time::Duration;

use bank_proto::withdrawal::{AuthorizationState, GetAuthorizationRequest};
use common::{Bank, Staff, assert_error, clone_key, eventually, start_authorization, start_deposit};
use tonic::Code;

async fn ready_authorization(bank: &mut Bank, deposit_id: &str) -> bank_proto::withdrawal::Authorization {
    let mut authorization = bank.submit(deposit_id).await;
    if !authorization.disclosure.is_empty() {
        authorization = bank.acknowledge(&authorization).await.unwrap();
    }
    let supervisor = Staff {
        staff_id: "S001".to_owned(),
        key: clone_key(&bank.supervisor.key),
    };
    bank.co_sign(&supervisor, &[&authorization])
        .await
        .unwrap()
        .remove(0)
}

#[tokio::test]
async fn fifty_concurrent_releases_pay_once() {
    let mut bank = Bank::start().await;
    let authorization = ready_authorization(&mut bank, "TD-UNMATURED").await;

    let mut tasks = Vec::new();
    for _ in 0..50 {
        let mut client = bank.authorization.client.clone();
        let authorization_id = authorization.authorization_id.clone();
        tasks.push(tokio::spawn(async move {
            client
                .release_authorization(bank_proto::withdrawal::ReleaseAuthorizationRequest {
                    request_id: common::request_id(),
                    authorization_id,
                })
                .await
                .map(tonic::Response::into_inner)
        }));
    }
    let mut payouts = Vec::new();
    for task in tasks {
        let response = task
            .await
            .unwrap()
            .expect("every concurrent release returns the payout");
        payouts.push(response.payout.unwrap());
    }
    assert!(
        payouts.windows(2).all(|pair| pair[0] == pair[1]),
        "all callers see one payout"
    );
    assert_eq!(payouts[0].interest.as_ref().unwrap().amount, "184.67");
    assert_eq!(bank.executions().await, 1);
}

#[tokio::test]
async fn refused_release_never_returns_ok() {
    let mut bank = Bank::start().await;
    let authorization = ready_authorization(&mut bank, "TD-UNMATURED").await;
    // The deposit changes after the attestation, so deposit-status refuses
    // the release order.
    bank.deposit
        .admin
        .close_deposit(bank_proto::deposit::CloseDepositRequest {
            request_id: common::request_id(),
            deposit_id: "TD-UNMATURED".to_owned(),
            reason: "closed by the core banking system".to_owned(),
        })
        .await
        .unwrap();

    // Concurrent callers race to record the refusal; those that lose must
    // fail too, never return OK without a payout.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut client = bank.authorization.client.clone();
        let authorization_id = authorization.authorization_id.clone();
        tasks.push(tokio::spawn(async move {
            client
                .release_authorization(bank_proto::withdrawal::ReleaseAuthorizationRequest {
                    request_id: common::request_id(),
                    authorization_id,
                })
                .await
                .map(tonic::Response::into_inner)
        }));
    }
    for task in tasks {
        let result = task.await.unwrap();
        let status = result.expect_err("a refused release must not return OK");
        assert_eq!(status.code(), Code::FailedPrecondition, "status {status:?}");
    }
    let current = get(&mut bank, &authorization.authorization_id).await;
    assert_eq!(current.state(), AuthorizationState::Failed);
    assert!(current.payout.is_none());
    assert_eq!(bank.executions().await, 0);
}

#[tokio::test]
async fn two_requests_for_one_deposit_pay_once() {
    let mut bank = Bank::start().await;
    let first = ready_authorization(&mut bank, "TD-MATURED").await;
    bank.release(&first.authorization_id).await.unwrap();
    // A second attestation for the same deposit after it was paid: the
    // deposit is no longer open, so nothing can be submitted for it.
    let result = bank
        .deposit
        .status
        .issue_maturity_attestation(bank_proto::deposit::IssueMaturityAttestationRequest {
            request_id: common::request_id(),
            passbook_number: "PB-INCIDENT".to_owned(),
            deposit_id: "TD-MATURED".to_owned(),
            amount: None,
            whole_deposit: true,
        })
        .await;
    assert_eq!(result.unwrap_err().code(), Code::FailedPrecondition);
    assert_eq!(bank.executions().await, 1);
}

#[tokio::test]
async fn outage_gives_retryable_error_and_keeps_state() {
    let mut bank = Bank::start().await;
    let authorization = ready_authorization(&mut bank, "TD-MATURED").await;

    // Stop deposit-status, keeping its files, and release.
    let directory = bank.directory.path().to_path_buf();
    let port: u16 = bank.deposit.url.rsplit(':').next().unwrap().parse().unwrap();
    bank.deposit.stop().await;

    let result = bank.release(&authorization.authorization_id).await;
    let details = assert_error(result, Code::Unavailable, "DEPOSIT_STATUS_UNAVAILABLE");
    assert!(details.retry_delay.is_some());
    let current = get(&mut bank, &authorization.authorization_id).await;
    assert_eq!(current.state(), AuthorizationState::Releasing);
    assert_eq!(current.last_error_reason, "DEPOSIT_STATUS_UNAVAILABLE");
    assert!(!current.order_id.is_empty());

    // deposit-status comes back on the same port; the release completes,
    // either through the recovery pass or a retry, and pays once.
    let restarted = start_deposit(&directory, &bank.deposit.database_url, 600, port).await;
    bank.deposit = restarted;
    let released = bank.release(&authorization.authorization_id).await.unwrap();
    assert_eq!(released.authorization.unwrap().order_id, current.order_id);
    assert_eq!(bank.executions().await, 1);
}

#[tokio::test]
async fn restart_between_decision_and_payout_resumes_once() {
    let mut bank = Bank::start().await;
    let authorization = ready_authorization(&mut bank, "TD-UNMATURED").await;

    // deposit-status is down when the release is decided, so the order is
    // signed and stored but not executed.
    let directory = bank.directory.path().to_path_buf();
    let port: u16 = bank.deposit.url.rsplit(':').next().unwrap().parse().unwrap();
    bank.deposit.stop().await;
    assert_error(
        bank.release(&authorization.authorization_id).await,
        Code::Unavailable,
        "DEPOSIT_STATUS_UNAVAILABLE",
    );
    let order_id = get(&mut bank, &authorization.authorization_id).await.order_id;

    // The authorization process dies; both come back.
    let deposit_url = format!("http://127.0.0.1:{port}");
    bank.authorization.stop().await;
    bank.deposit = start_deposit(&directory, &bank.deposit.database_url, 600, port).await;
    bank.authorization =
        start_authorization(&directory, &bank.authorization.database_url, &deposit_url).await;

    // The recovery pass finishes the release with the same order, without
    // any caller asking.
    let mut client = bank.authorization.client.clone();
    let id = authorization.authorization_id.clone();
    let released = eventually(Duration::from_secs(20), || {
        let mut client = client.clone();
        let id = id.clone();
        async move {
            client
                .get_authorization(GetAuthorizationRequest { authorization_id: id })
                .await
                .map(|response| {
                    response.into_inner().authorization.unwrap().state() == AuthorizationState::Released
                })
                .unwrap_or(false)
        }
    })
    .await;
    assert!(released, "the recovery pass released the authorization");
    let current = client
        .get_authorization(GetAuthorizationRequest {
            authorization_id: authorization.authorization_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .authorization
        .unwrap();
    assert_eq!(current.order_id, order_id);
    assert_eq!(current.payout.unwrap().interest.unwrap().amount, "184.67");
    let again = bank.release(&authorization.authorization_id).await.unwrap();
    assert_eq!(again.authorization.unwrap().order_id, order_id);
    assert_eq!(bank.executions().await, 1);
}

async fn get(bank: &mut Bank, authorization_id: &str) -> bank_proto::withdrawal::Authorization {
    bank.authorization
        .client
        .get_authorization(GetAuthorizationRequest {
            authorization_id: authorization_id.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .authorization
        .unwrap()
}
