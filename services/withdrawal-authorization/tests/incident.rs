//! The incident replayed against both real services: a passbook with one
//! matured deposit and one unmatured 80,000.00 deposit at 3.00 % for 36
//! months opened 2022-11-14, business date 2025-02-22, demand rate 0.10 %.

mod common;

use bank_proto::deposit::{DepositState, GetPassbookRequest};
use bank_proto::withdrawal::{
    AuthorizationState, GetPassbookClosureRequest, RequirementKind, SupervisorFlag,
};
use common::{Bank, assert_error};
use tonic::Code;

fn requirement(authorization: &bank_proto::withdrawal::Authorization, kind: RequirementKind) -> Option<bool> {
    authorization
        .requirements
        .iter()
        .find(|requirement| requirement.kind() == kind)
        .map(|requirement| requirement.satisfied)
}

#[tokio::test]
async fn matured_deposit_needs_cosignature_only() {
    let mut bank = Bank::start().await;
    let authorization = bank.submit("TD-MATURED").await;
    assert_eq!(authorization.state(), AuthorizationState::Pending);
    assert_eq!(
        requirement(&authorization, RequirementKind::Cosignature),
        Some(false)
    );
    assert_eq!(
        requirement(&authorization, RequirementKind::DisclosureAcknowledgement),
        None
    );
    assert!(authorization.disclosure.is_empty());

    // The teller's signature alone releases nothing.
    let result = bank.release(&authorization.authorization_id).await;
    let details = assert_error(result, Code::FailedPrecondition, "COSIGNATURE_REQUIRED");
    assert!(!details.precondition_violations.is_empty());
    assert_eq!(bank.executions().await, 0);

    let supervisor = common::Staff {
        staff_id: "S001".to_owned(),
        key: common::clone_key(&bank.supervisor.key),
    };
    let cosigned = bank.co_sign(&supervisor, &[&authorization]).await.unwrap();
    assert_eq!(cosigned[0].state(), AuthorizationState::Ready);

    let released = bank.release(&authorization.authorization_id).await.unwrap();
    let payout = released.payout.unwrap();
    assert_eq!(payout.principal.unwrap().amount, "50000.00");
    assert_eq!(payout.interest.unwrap().amount, "1125.00");
    assert_eq!(
        released.authorization.unwrap().state(),
        AuthorizationState::Released
    );
    assert_eq!(bank.executions().await, 1);
}

#[tokio::test]
async fn unmatured_deposit_needs_acknowledgement_and_cosignature() {
    let mut bank = Bank::start().await;
    let authorization = bank.submit("TD-UNMATURED").await;
    assert!(authorization.flags.contains(&(SupervisorFlag::Unmatured as i32)));
    assert!(
        authorization
            .flags
            .contains(&(SupervisorFlag::LargeAmount as i32))
    );
    assert_eq!(
        requirement(&authorization, RequirementKind::Cosignature),
        Some(false)
    );
    assert_eq!(
        requirement(&authorization, RequirementKind::DisclosureAcknowledgement),
        Some(false)
    );
    assert_eq!(
        requirement(&authorization, RequirementKind::IdentityCheck),
        Some(true)
    );

    let zh = &authorization
        .disclosure
        .iter()
        .find(|text| text.language == "zh-CN")
        .unwrap()
        .text;
    let en = &authorization
        .disclosure
        .iter()
        .find(|text| text.language == "en")
        .unwrap()
        .text;
    for text in [zh, en] {
        assert!(text.contains("184.67"), "{text}");
        assert!(text.contains("7,200.00"), "{text}");
        assert!(text.contains("7,015.33"), "{text}");
        assert!(text.contains("2025-11-14"), "{text}");
        assert!(text.contains("0.10"), "{text}");
    }
    assert!(zh.contains("未到期"), "{zh}");
    assert!(zh.contains("损失利息：7,015.33 元"), "{zh}");

    // Neither the teller alone nor a co-signature without the customer's
    // acknowledgement releases it.
    let result = bank.release(&authorization.authorization_id).await;
    assert_error(result, Code::FailedPrecondition, "DISCLOSURE_NOT_ACKNOWLEDGED");
    let supervisor = common::Staff {
        staff_id: "S001".to_owned(),
        key: common::clone_key(&bank.supervisor.key),
    };
    let result = bank.co_sign(&supervisor, &[&authorization]).await;
    assert_error(result, Code::FailedPrecondition, "DISCLOSURE_NOT_ACKNOWLEDGED");

    let acknowledged = bank.acknowledge(&authorization).await.unwrap();
    assert_eq!(
        requirement(&acknowledged, RequirementKind::DisclosureAcknowledgement),
        Some(true)
    );
    assert_ne!(
        acknowledged.authorization_digest,
        authorization.authorization_digest
    );
    // A co-signature over the digest from before the acknowledgement is not
    // over the current request.
    let result = bank.co_sign(&supervisor, &[&authorization]).await;
    assert_error(result, Code::FailedPrecondition, "AUTHORIZATION_DIGEST_MISMATCH");
    let result = bank.release(&authorization.authorization_id).await;
    assert_error(result, Code::FailedPrecondition, "COSIGNATURE_REQUIRED");

    bank.co_sign(&supervisor, &[&acknowledged]).await.unwrap();
    let released = bank.release(&authorization.authorization_id).await.unwrap();
    let payout = released.payout.clone().unwrap();
    assert_eq!(payout.principal.unwrap().amount, "80000.00");
    assert_eq!(payout.interest.unwrap().amount, "184.67");
    assert_eq!(payout.total.unwrap().amount, "80184.67");

    // Releasing again returns the same payout and pays nothing more.
    let again = bank.release(&authorization.authorization_id).await.unwrap();
    assert_eq!(again.payout, released.payout);
    assert_eq!(bank.executions().await, 1);
}

#[tokio::test]
async fn closure_must_list_every_deposit() {
    let mut bank = Bank::start().await;
    let (matured, _) = bank.attest("TD-MATURED", None).await;
    let result = bank.submit_closure(vec![matured]).await;
    let details = assert_error(result, Code::FailedPrecondition, "DEPOSIT_MISSING_FROM_CLOSURE");
    assert!(
        details
            .precondition_violations
            .iter()
            .any(|violation| violation.subject.contains("TD-UNMATURED"))
    );
}

#[tokio::test]
async fn closure_releases_unmatured_only_after_its_own_checks() {
    let mut bank = Bank::start().await;
    let (matured, _) = bank.attest("TD-MATURED", None).await;
    let (unmatured, _) = bank.attest("TD-UNMATURED", None).await;
    let closure = bank.submit_closure(vec![matured, unmatured]).await.unwrap();
    assert_eq!(closure.authorizations.len(), 2);
    let find = |id: &str| {
        closure
            .authorizations
            .iter()
            .find(|authorization| authorization.deposit_id == id)
            .unwrap()
            .clone()
    };
    let matured = find("TD-MATURED");
    let unmatured = find("TD-UNMATURED");
    assert!(
        unmatured
            .flags
            .contains(&(SupervisorFlag::PassbookClosure as i32))
    );
    assert_eq!(
        requirement(&unmatured, RequirementKind::DisclosureAcknowledgement),
        Some(false)
    );
    assert_eq!(
        requirement(&matured, RequirementKind::DisclosureAcknowledgement),
        None
    );

    // No co-signature can carry the unmatured deposit along in bulk, even
    // after the customer acknowledged.
    let supervisor = common::Staff {
        staff_id: "S001".to_owned(),
        key: common::clone_key(&bank.supervisor.key),
    };
    let unmatured = bank.acknowledge(&unmatured).await.unwrap();
    let result = bank.co_sign(&supervisor, &[&matured, &unmatured]).await;
    assert_error(result, Code::FailedPrecondition, "BULK_COSIGNATURE_FORBIDDEN");
    let result = bank.release(&unmatured.authorization_id).await;
    assert_error(result, Code::FailedPrecondition, "COSIGNATURE_REQUIRED");

    bank.co_sign(&supervisor, &[&matured]).await.unwrap();
    bank.release(&matured.authorization_id).await.unwrap();
    let result = bank.release(&unmatured.authorization_id).await;
    assert_error(result, Code::FailedPrecondition, "COSIGNATURE_REQUIRED");

    bank.co_sign(&supervisor, &[&unmatured]).await.unwrap();
    let released = bank.release(&unmatured.authorization_id).await.unwrap();
    assert_eq!(released.payout.unwrap().interest.unwrap().amount, "184.67");

    let closure = bank
        .authorization
        .client
        .get_passbook_closure(GetPassbookClosureRequest {
            closure_id: closure.closure_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .closure
        .unwrap();
    assert!(closure.completed);
    assert_eq!(bank.executions().await, 2);

    let view = bank
        .deposit
        .status
        .get_passbook(GetPassbookRequest {
            passbook_number: "PB-INCIDENT".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        view.deposits
            .iter()
            .all(|deposit| deposit.state() == DepositState::Withdrawn)
    );
}

#[tokio::test]
async fn matured_deposits_may_share_a_cosignature() {
    let mut bank = Bank::start().await;
    // Make the unmatured deposit a second matured one by moving the date to
    // its maturity, where the first is overdue.
    bank.deposit
        .admin
        .set_business_date(bank_proto::deposit::SetBusinessDateRequest {
            request_id: common::request_id(),
            business_date: "2025-11-14".to_owned(),
        })
        .await
        .unwrap();
    let (first, _) = bank.attest("TD-MATURED", None).await;
    let (second, _) = bank.attest("TD-UNMATURED", None).await;
    let closure = bank.submit_closure(vec![first, second]).await.unwrap();
    let authorizations: Vec<&bank_proto::withdrawal::Authorization> = closure.authorizations.iter().collect();
    assert!(
        authorizations
            .iter()
            .all(|authorization| authorization.disclosure.is_empty())
    );
    let supervisor = common::Staff {
        staff_id: "S001".to_owned(),
        key: common::clone_key(&bank.supervisor.key),
    };
    let cosigned = bank.co_sign(&supervisor, &authorizations).await.unwrap();
    assert!(
        cosigned
            .iter()
            .all(|authorization| authorization.state() == AuthorizationState::Ready)
    );
    for authorization in &closure.authorizations {
        bank.release(&authorization.authorization_id).await.unwrap();
    }
    assert_eq!(bank.executions().await, 2);
}
