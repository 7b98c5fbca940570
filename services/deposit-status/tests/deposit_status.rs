//! Integration tests of deposit-status through gRPC: a real server on
//! 127.0.0.1 port 0 with a real SQLite file.

mod common;

use attestation::{Keyring, SigningKey, VerifyingKey};
use bank_proto::common::{DayBasis, MaturityState};
use bank_proto::deposit::{
    CloseDepositRequest, DepositProduct, DepositState, ExecuteWithdrawalRequest, GetBusinessDateRequest,
    GetPassbookRequest, ListDemandRatesRequest, ListVerificationKeysRequest, OpenDepositRequest,
    OpenPassbookRequest, PassbookStatus, QuoteWithdrawalRequest, ReissuePassbookRequest,
    ReportPassbookLostRequest, SetBusinessDateRequest,
};
use chrono::{Duration, Utc};
use common::{assert_error, cny, release_order, request_id, sign_order, start, start_with};
use grpc_support::convert::envelope_from_proto;
use tonic::Code;

/// Opens the incident's passbook: one matured deposit and the unmatured
/// 80,000.00 at 3.00 % for 36 months opened 2022-11-14, on business date
/// 2025-02-22 with demand rate 0.10 %.
async fn incident_passbook(service: &mut common::TestService) {
    service.set_business_date("2025-02-22").await;
    service.post_demand_rate("2020-01-01", "0.10").await;
    service.open_passbook("PB-INCIDENT").await;
    service
        .open_deposit("PB-INCIDENT", "TD-MATURED", "50000.00", "2.25", 12, "2024-02-22")
        .await;
    service
        .open_deposit(
            "PB-INCIDENT",
            "TD-UNMATURED",
            "80000.00",
            "3.00",
            36,
            "2022-11-14",
        )
        .await;
}

async fn quote(
    service: &mut common::TestService,
    deposit_id: &str,
    amount: Option<&str>,
) -> bank_proto::common::InterestQuote {
    service
        .status
        .quote_withdrawal(QuoteWithdrawalRequest {
            deposit_id: deposit_id.to_owned(),
            amount: amount.map(cny),
            whole_deposit: amount.is_none(),
        })
        .await
        .unwrap()
        .into_inner()
        .quote
        .unwrap()
}

fn amount(money: &Option<bank_proto::common::Money>) -> &str {
    &money.as_ref().expect("amount present").amount
}

#[tokio::test]
async fn passbook_view_shows_incident_figures() {
    let mut service = start().await;
    incident_passbook(&mut service).await;

    let view = service
        .status
        .get_passbook(GetPassbookRequest {
            passbook_number: "PB-INCIDENT".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.business_date, "2025-02-22");
    assert_eq!(view.deposits.len(), 2);

    // Ordered by opening date: the 2022 deposit comes first.
    let matured = &view.deposits[1];
    assert_eq!(matured.deposit_id, "TD-MATURED");
    assert_eq!(matured.state(), DepositState::Matured);
    let matured_quote = matured.full_withdrawal_quote.as_ref().unwrap();
    assert_eq!(amount(&matured_quote.interest), "1125.00");
    assert_eq!(amount(&matured_quote.interest_loss), "0.00");

    let unmatured = &view.deposits[0];
    assert_eq!(unmatured.deposit_id, "TD-UNMATURED");
    assert_eq!(unmatured.state(), DepositState::Unmatured);
    assert_eq!(unmatured.maturity_date, "2025-11-14");
    let unmatured_quote = unmatured.full_withdrawal_quote.as_ref().unwrap();
    assert_eq!(unmatured_quote.days_held, 831);
    assert_eq!(amount(&unmatured_quote.interest), "184.67");
    assert_eq!(amount(&unmatured_quote.interest_at_maturity), "7200.00");
    assert_eq!(amount(&unmatured_quote.interest_loss), "7015.33");
}

#[tokio::test]
async fn quotes_match_reference_vectors() {
    let mut service = start().await;
    service.post_demand_rate("2015-01-01", "0.35").await;
    service.open_passbook("PB-VECTORS").await;
    service
        .open_deposit("PB-VECTORS", "TD-A", "10000.00", "2.25", 12, "2015-07-01")
        .await;
    service
        .admin
        .open_deposit(OpenDepositRequest {
            request_id: request_id(),
            passbook_number: "PB-VECTORS".to_owned(),
            deposit_id: "TD-365".to_owned(),
            principal: Some(cny("10000.00")),
            term_months: 12,
            contract_rate_percent: "2.25".to_owned(),
            opened_on: "2015-07-01".to_owned(),
            product: Some(DepositProduct {
                product_code: "TD-365".to_owned(),
                day_basis: DayBasis::Actual365 as i32,
                minimum_remaining_principal: None,
            }),
        })
        .await
        .unwrap();

    service.set_business_date("2016-07-01").await;
    let matured = quote(&mut service, "TD-A", None).await;
    assert_eq!(matured.maturity_state(), MaturityState::Matured);
    assert_eq!(amount(&matured.interest), "225.00");

    service.set_business_date("2016-01-15").await;
    let early = quote(&mut service, "TD-A", None).await;
    assert_eq!(early.days_held, 198);
    assert_eq!(amount(&early.interest), "19.25");
    let early_365 = quote(&mut service, "TD-365", None).await;
    assert_eq!(amount(&early_365.interest), "18.99");

    service.set_business_date("2016-08-10").await;
    let overdue = quote(&mut service, "TD-A", None).await;
    assert_eq!(overdue.maturity_state(), MaturityState::Overdue);
    assert_eq!(overdue.days_overdue, 40);
    assert_eq!(amount(&overdue.overdue_interest), "3.89");
    assert_eq!(amount(&overdue.interest), "228.89");
}

#[tokio::test]
async fn partial_withdrawal_executes_once() {
    let mut service = start().await;
    service.set_business_date("2016-01-15").await;
    service.post_demand_rate("2015-01-01", "0.35").await;
    service.open_passbook("PB-PARTIAL").await;
    service
        .open_deposit("PB-PARTIAL", "TD-P", "20000.00", "2.25", 12, "2015-07-01")
        .await;

    let (envelope, attestation) = service
        .attest("PB-PARTIAL", "TD-P", Some("5000.00"))
        .await
        .unwrap();
    assert_eq!(amount(&attestation.quote.as_ref().unwrap().interest), "9.63");
    let order = sign_order(
        &service.release_key,
        &release_order(&envelope, &attestation, Utc::now()),
    );
    let payout = service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(order),
        })
        .await
        .unwrap()
        .into_inner()
        .payout
        .unwrap();
    assert_eq!(amount(&payout.principal), "5000.00");
    assert_eq!(amount(&payout.interest), "9.63");
    assert_eq!(amount(&payout.total), "5009.63");
    assert_eq!(amount(&payout.remaining_balance), "15000.00");

    let view = service
        .status
        .get_passbook(GetPassbookRequest {
            passbook_number: "PB-PARTIAL".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    let deposit = &view.deposits[0];
    assert_eq!(amount(&deposit.balance), "15000.00");
    assert!(deposit.partial_withdrawal_used);
    assert_eq!(deposit.version, 2);

    // The remainder keeps its contract rate and maturity date.
    service.set_business_date("2016-07-01").await;
    let at_maturity = quote(&mut service, "TD-P", None).await;
    assert_eq!(amount(&at_maturity.interest), "337.50");

    // A second partial early withdrawal is rejected.
    service.set_business_date("2016-02-01").await;
    let second = service.attest("PB-PARTIAL", "TD-P", Some("1000.00")).await;
    assert_error(
        second,
        Code::FailedPrecondition,
        "PARTIAL_WITHDRAWAL_ALREADY_USED",
    );
}

#[tokio::test]
async fn attestation_verifies_from_published_keys() {
    let mut service = start().await;
    incident_passbook(&mut service).await;
    let (envelope, attestation) = service.attest("PB-INCIDENT", "TD-UNMATURED", None).await.unwrap();
    assert_eq!(attestation.deposit_state(), DepositState::Unmatured);
    assert_eq!(attestation.business_date, "2025-02-22");
    assert_eq!(attestation.demand_rate_percent, "0.10");
    assert_eq!(attestation.contract_rate_percent, "3.00");
    assert_eq!(attestation.maturity_date, "2025-11-14");
    assert_eq!(attestation.deposit_version, 1);
    assert_eq!(attestation.open_deposits_in_passbook, 2);
    let issued = attestation.issued_at.unwrap().seconds;
    assert_eq!(attestation.expires_at.unwrap().seconds - issued, 600);

    let keys = service
        .status
        .list_verification_keys(ListVerificationKeysRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(keys.len(), 1);
    assert!(keys[0].active);
    let mut keyring = Keyring::new();
    let key = VerifyingKey::from_bytes(&keys[0].public_key).unwrap();
    assert_eq!(
        VerifyingKey::from_public_key_pem(&keys[0].public_key_pem).unwrap(),
        key
    );
    keyring
        .insert(key, chrono::DateTime::<Utc>::UNIX_EPOCH, None)
        .unwrap();

    let received = envelope_from_proto(&envelope);
    keyring
        .verify(
            &received,
            bank_proto::payload_type::MATURITY_ATTESTATION,
            Utc::now(),
        )
        .expect("the attestation verifies offline");

    let mut tampered = received.clone();
    let last = tampered.payload.len() - 1;
    tampered.payload[last] ^= 0x01;
    assert!(
        keyring
            .verify(
                &tampered,
                bank_proto::payload_type::MATURITY_ATTESTATION,
                Utc::now()
            )
            .is_err()
    );

    let mut other_keyring = Keyring::new();
    other_keyring
        .insert(
            SigningKey::generate().verifying_key(),
            chrono::DateTime::<Utc>::UNIX_EPOCH,
            None,
        )
        .unwrap();
    assert!(
        other_keyring
            .verify(
                &received,
                bank_proto::payload_type::MATURITY_ATTESTATION,
                Utc::now()
            )
            .is_err()
    );

    // The same bytes presented as a release order do not verify.
    assert!(
        keyring
            .verify(&received, bank_proto::payload_type::RELEASE_ORDER, Utc::now())
            .is_err()
    );
}

#[tokio::test]
async fn same_order_twice_pays_once() {
    let mut service = start().await;
    incident_passbook(&mut service).await;
    let (envelope, attestation) = service.attest("PB-INCIDENT", "TD-UNMATURED", None).await.unwrap();
    let order = sign_order(
        &service.release_key,
        &release_order(&envelope, &attestation, Utc::now()),
    );

    let first = service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(order.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!first.replayed);
    let payout = first.payout.unwrap();
    assert_eq!(amount(&payout.principal), "80000.00");
    assert_eq!(amount(&payout.interest), "184.67");
    assert_eq!(amount(&payout.total), "80184.67");
    assert_eq!(payout.deposit_state(), DepositState::Withdrawn);

    let second = service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(order),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(second.replayed);
    assert_eq!(second.payout.unwrap(), payout);

    let view = service
        .status
        .get_passbook(GetPassbookRequest {
            passbook_number: "PB-INCIDENT".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    let deposit = view
        .deposits
        .iter()
        .find(|deposit| deposit.deposit_id == "TD-UNMATURED")
        .unwrap();
    assert_eq!(deposit.state(), DepositState::Withdrawn);
    assert_eq!(amount(&deposit.balance), "0.00");
    assert_eq!(deposit.version, 2);
    assert!(deposit.full_withdrawal_quote.is_none());

    assert_eq!(service.executions().await, 1);
}

#[tokio::test]
async fn concurrent_orders_for_one_attestation_pay_once() {
    let mut service = start().await;
    incident_passbook(&mut service).await;
    let (envelope, attestation) = service.attest("PB-INCIDENT", "TD-MATURED", None).await.unwrap();

    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mut client = service.status.clone();
        let order = sign_order(
            &service.release_key,
            &release_order(&envelope, &attestation, Utc::now()),
        );
        tasks.push(tokio::spawn(async move {
            client
                .execute_withdrawal(ExecuteWithdrawalRequest {
                    request_id: request_id(),
                    release_order: Some(order),
                })
                .await
        }));
    }
    let mut paid = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => paid += 1,
            Err(status) => {
                let details = common::summary(&status);
                assert!(
                    matches!(
                        details.reason.as_deref(),
                        Some("ATTESTATION_ALREADY_USED" | "DEPOSIT_NOT_ACTIVE")
                    ),
                    "unexpected failure {status:?}"
                );
            }
        }
    }
    assert_eq!(paid, 1);
}

#[tokio::test]
async fn second_order_for_attestation_rejected() {
    let mut service = start().await;
    incident_passbook(&mut service).await;
    let (envelope, attestation) = service.attest("PB-INCIDENT", "TD-MATURED", None).await.unwrap();
    let first = sign_order(
        &service.release_key,
        &release_order(&envelope, &attestation, Utc::now()),
    );
    let second = sign_order(
        &service.release_key,
        &release_order(&envelope, &attestation, Utc::now()),
    );
    service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(first),
        })
        .await
        .unwrap();
    let result = service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(second),
        })
        .await;
    assert_error(result, Code::FailedPrecondition, "ATTESTATION_ALREADY_USED");
}

#[tokio::test]
async fn untrusted_or_tampered_order_rejected() {
    let mut service = start().await;
    incident_passbook(&mut service).await;
    let (envelope, attestation) = service.attest("PB-INCIDENT", "TD-MATURED", None).await.unwrap();
    let order = release_order(&envelope, &attestation, Utc::now());

    let untrusted = sign_order(&SigningKey::generate(), &order);
    let result = service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(untrusted),
        })
        .await;
    assert_error(result, Code::PermissionDenied, "RELEASE_ORDER_KEY_UNTRUSTED");

    let mut tampered = sign_order(&service.release_key, &order);
    tampered.payload[3] ^= 0x20;
    let result = service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(tampered),
        })
        .await;
    assert_error(result, Code::PermissionDenied, "RELEASE_ORDER_SIGNATURE_INVALID");

    // An attestation signed as if by the release key is not this service's.
    let forged_attestation = common::sign_order(&service.release_key, &order);
    let mut forged_order = order.clone();
    forged_order.maturity_attestation = Some(bank_proto::common::SignedEnvelope {
        payload_type: bank_proto::payload_type::MATURITY_ATTESTATION.to_owned(),
        ..forged_attestation
    });
    let result = service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(sign_order(&service.release_key, &forged_order)),
        })
        .await;
    assert_error(result, Code::PermissionDenied, "ATTESTATION_SIGNATURE_INVALID");

    // Nothing was paid.
    let view = service
        .status
        .get_passbook(GetPassbookRequest {
            passbook_number: "PB-INCIDENT".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(view.deposits.iter().all(|deposit| deposit.version == 1));
}

#[tokio::test]
async fn order_with_malformed_order_id_rejected() {
    let mut service = start().await;
    incident_passbook(&mut service).await;
    let (envelope, attestation) = service.attest("PB-INCIDENT", "TD-MATURED", None).await.unwrap();
    // PostgreSQL rejects a NUL byte in text, and the order id is read from
    // the payload before its signature is checked, to find an earlier
    // execution of the same order.
    let mut order = release_order(&envelope, &attestation, Utc::now());
    order.order_id = format!("{}\0", order.order_id);

    let untrusted = sign_order(&SigningKey::generate(), &order);
    let result = service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(untrusted),
        })
        .await;
    assert_error(result, Code::PermissionDenied, "RELEASE_ORDER_KEY_UNTRUSTED");

    let trusted = sign_order(&service.release_key, &order);
    let result = service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(trusted),
        })
        .await;
    assert_error(result, Code::InvalidArgument, "RELEASE_ORDER_INVALID");

    let view = service
        .status
        .get_passbook(GetPassbookRequest {
            passbook_number: "PB-INCIDENT".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(view.deposits.iter().all(|deposit| deposit.version == 1));
}

#[tokio::test]
async fn order_not_matching_attestation_rejected() {
    let mut service = start().await;
    incident_passbook(&mut service).await;
    let (envelope, attestation) = service.attest("PB-INCIDENT", "TD-UNMATURED", None).await.unwrap();
    let mut order = release_order(&envelope, &attestation, Utc::now());
    order.deposit_id = "TD-MATURED".to_owned();
    let result = service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(sign_order(&service.release_key, &order)),
        })
        .await;
    assert_error(result, Code::InvalidArgument, "RELEASE_ORDER_INVALID");
}

#[tokio::test]
async fn expired_attestation_rejected() {
    let mut service = start_with(|settings| settings.attestation_lifetime_secs = 1).await;
    incident_passbook(&mut service).await;
    let (envelope, attestation) = service.attest("PB-INCIDENT", "TD-MATURED", None).await.unwrap();
    let expires_at = attestation.expires_at.unwrap();
    // Authorized one second after expiry; the attestation has really expired
    // by then, so the order is not from the future either.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let authorized_at = chrono::DateTime::<Utc>::from_timestamp(expires_at.seconds + 1, 0).unwrap();
    let order = sign_order(
        &service.release_key,
        &release_order(&envelope, &attestation, authorized_at),
    );
    let result = service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(order),
        })
        .await;
    assert_error(result, Code::FailedPrecondition, "ATTESTATION_EXPIRED");
}

#[tokio::test]
async fn deposit_changed_after_attesting_rejected() {
    let mut service = start().await;
    service.set_business_date("2016-01-15").await;
    service.post_demand_rate("2015-01-01", "0.35").await;
    service.open_passbook("PB-CHANGE").await;
    service
        .open_deposit("PB-CHANGE", "TD-C", "20000.00", "2.25", 12, "2015-07-01")
        .await;

    let (partial_envelope, partial) = service
        .attest("PB-CHANGE", "TD-C", Some("5000.00"))
        .await
        .unwrap();
    let (whole_envelope, whole) = service.attest("PB-CHANGE", "TD-C", None).await.unwrap();
    let partial_order = sign_order(
        &service.release_key,
        &release_order(&partial_envelope, &partial, Utc::now()),
    );
    service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(partial_order),
        })
        .await
        .unwrap();

    let whole_order = sign_order(
        &service.release_key,
        &release_order(&whole_envelope, &whole, Utc::now()),
    );
    let result = service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(whole_order),
        })
        .await;
    assert_error(result, Code::FailedPrecondition, "DEPOSIT_VERSION_CHANGED");
}

#[tokio::test]
async fn lost_passbook_rejects_then_reissue_takes_over() {
    let mut service = start().await;
    incident_passbook(&mut service).await;
    let (envelope, attestation) = service.attest("PB-INCIDENT", "TD-MATURED", None).await.unwrap();

    let lost = service
        .admin
        .report_passbook_lost(ReportPassbookLostRequest {
            request_id: request_id(),
            passbook_number: "PB-INCIDENT".to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .passbook
        .unwrap();
    assert_eq!(lost.status(), PassbookStatus::ReportedLost);

    let result = service.attest("PB-INCIDENT", "TD-MATURED", None).await;
    assert_error(result, Code::FailedPrecondition, "PASSBOOK_REPORTED_LOST");
    // An attestation issued before the loss report no longer pays either.
    let order = sign_order(
        &service.release_key,
        &release_order(&envelope, &attestation, Utc::now()),
    );
    let result = service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(order),
        })
        .await;
    assert_error(result, Code::FailedPrecondition, "PASSBOOK_REPORTED_LOST");

    let reissued = service
        .admin
        .reissue_passbook(ReissuePassbookRequest {
            request_id: request_id(),
            passbook_number: "PB-INCIDENT".to_owned(),
            new_passbook_number: "PB-REISSUED".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    let new = reissued.passbook.unwrap();
    assert_eq!(new.passbook_number, "PB-REISSUED");
    assert_eq!(new.replaces_passbook_number, "PB-INCIDENT");
    assert_eq!(new.reissued_on, "2025-02-22");
    assert_eq!(
        reissued.replaced_passbook.unwrap().status(),
        PassbookStatus::Replaced
    );

    let result = service.attest("PB-INCIDENT", "TD-MATURED", None).await;
    assert_error(result, Code::FailedPrecondition, "PASSBOOK_REPLACED");

    let view = service
        .status
        .get_passbook(GetPassbookRequest {
            passbook_number: "PB-REISSUED".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.deposits.len(), 2);
    assert!(
        view.deposits
            .iter()
            .all(|deposit| deposit.passbook_number == "PB-REISSUED")
    );

    let (_, attestation) = service.attest("PB-REISSUED", "TD-MATURED", None).await.unwrap();
    assert_eq!(attestation.passbook_reissued_on, "2025-02-22");
    assert_eq!(attestation.deposit_version, 2);
}

#[tokio::test]
async fn demand_rate_history_applies_by_date() {
    let mut service = start().await;
    service.post_demand_rate("2015-01-01", "0.35").await;
    service.post_demand_rate("2016-01-10", "0.30").await;
    service.open_passbook("PB-RATES").await;
    service
        .open_deposit("PB-RATES", "TD-R", "10000.00", "2.25", 12, "2015-07-01")
        .await;

    service.set_business_date("2016-01-09").await;
    assert_eq!(
        quote(&mut service, "TD-R", None).await.demand_rate_percent,
        "0.35"
    );
    service.set_business_date("2016-01-10").await;
    assert_eq!(
        quote(&mut service, "TD-R", None).await.demand_rate_percent,
        "0.30"
    );

    let rates = service
        .admin
        .list_demand_rates(ListDemandRatesRequest {
            currency_code: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .demand_rates;
    let dates: Vec<&str> = rates.iter().map(|rate| rate.effective_from.as_str()).collect();
    assert_eq!(dates, ["2016-01-10", "2015-01-01"]);

    let repeated = service
        .admin
        .set_demand_rate(bank_proto::deposit::SetDemandRateRequest {
            request_id: request_id(),
            effective_from: "2016-01-10".to_owned(),
            rate_percent: "0.25".to_owned(),
            currency_code: "CNY".to_owned(),
        })
        .await;
    assert_error(repeated, Code::AlreadyExists, "DEMAND_RATE_ALREADY_POSTED");
}

#[tokio::test]
async fn missing_demand_rate_is_reported() {
    let mut service = start().await;
    service.set_business_date("2016-01-15").await;
    service.open_passbook("PB-NORATE").await;
    service
        .open_deposit("PB-NORATE", "TD-N", "10000.00", "2.25", 12, "2015-07-01")
        .await;
    let result = service.attest("PB-NORATE", "TD-N", None).await;
    assert_error(result, Code::FailedPrecondition, "DEMAND_RATE_NOT_POSTED");

    // The passbook view still lists the deposit.
    let view = service
        .status
        .get_passbook(GetPassbookRequest {
            passbook_number: "PB-NORATE".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.deposits.len(), 1);
    assert!(view.deposits[0].full_withdrawal_quote.is_none());
}

#[tokio::test]
async fn invalid_deposit_feed_lists_each_field() {
    let mut service = start().await;
    service.open_passbook("PB-BAD").await;
    let result = service
        .admin
        .open_deposit(OpenDepositRequest {
            request_id: "not-a-uuid".to_owned(),
            passbook_number: "PB-BAD".to_owned(),
            deposit_id: "TD 1".to_owned(),
            principal: Some(cny("1e5")),
            term_months: 7,
            contract_rate_percent: "101".to_owned(),
            opened_on: "2025-02-30".to_owned(),
            product: None,
        })
        .await;
    let details = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    let fields: Vec<&str> = details
        .field_violations
        .iter()
        .map(|violation| violation.field.as_str())
        .collect();
    for expected in [
        "request_id",
        "deposit_id",
        "principal.amount",
        "term_months",
        "contract_rate_percent",
        "opened_on",
    ] {
        assert!(fields.contains(&expected), "{expected} missing from {fields:?}");
    }

    let view = service
        .status
        .get_passbook(GetPassbookRequest {
            passbook_number: "PB-BAD".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(view.deposits.is_empty(), "an invalid feed wrote nothing");
}

#[tokio::test]
async fn full_id_number_rejected() {
    let mut service = start().await;
    let result = service
        .admin
        .open_passbook(OpenPassbookRequest {
            request_id: request_id(),
            passbook_number: "PB-ID".to_owned(),
            customer_id: "C1".to_owned(),
            customer_name: "李雷".to_owned(),
            masked_id_number: "110101199001011234".to_owned(),
            branch_id: "BR001".to_owned(),
        })
        .await;
    let details = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(details.field_violations[0].field, "masked_id_number");
}

#[tokio::test]
async fn request_id_replays_and_rejects_reuse() {
    let mut service = start().await;
    let request = OpenPassbookRequest {
        request_id: request_id(),
        passbook_number: "PB-IDEM".to_owned(),
        customer_id: "C1".to_owned(),
        customer_name: "李雷".to_owned(),
        masked_id_number: "110***********1234".to_owned(),
        branch_id: "BR001".to_owned(),
    };
    let first = service
        .admin
        .open_passbook(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = service
        .admin
        .open_passbook(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, again);

    let different = OpenPassbookRequest {
        customer_name: "韩梅梅".to_owned(),
        ..request
    };
    let result = service.admin.open_passbook(different).await;
    assert_error(result, Code::AlreadyExists, "REQUEST_ID_REUSED");

    let duplicate = OpenPassbookRequest {
        request_id: request_id(),
        passbook_number: "PB-IDEM".to_owned(),
        customer_id: "C2".to_owned(),
        customer_name: "韩梅梅".to_owned(),
        masked_id_number: "110***********9999".to_owned(),
        branch_id: "BR001".to_owned(),
    };
    let result = service.admin.open_passbook(duplicate).await;
    assert_error(result, Code::AlreadyExists, "PASSBOOK_ALREADY_EXISTS");
}

#[tokio::test]
async fn attestation_request_id_returns_same_attestation() {
    let mut service = start().await;
    incident_passbook(&mut service).await;
    let request = bank_proto::deposit::IssueMaturityAttestationRequest {
        request_id: request_id(),
        passbook_number: "PB-INCIDENT".to_owned(),
        deposit_id: "TD-MATURED".to_owned(),
        amount: None,
        whole_deposit: true,
    };
    let first = service
        .status
        .issue_maturity_attestation(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = service
        .status
        .issue_maturity_attestation(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.attestation, again.attestation);
}

#[tokio::test]
async fn amount_selection_must_be_exactly_one() {
    let mut service = start().await;
    incident_passbook(&mut service).await;
    for (amount, whole_deposit) in [(Some(cny("100.00")), true), (None, false)] {
        let result = service
            .status
            .quote_withdrawal(QuoteWithdrawalRequest {
                deposit_id: "TD-UNMATURED".to_owned(),
                amount,
                whole_deposit,
            })
            .await;
        assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    }
    let result = service
        .status
        .quote_withdrawal(QuoteWithdrawalRequest {
            deposit_id: "TD-UNMATURED".to_owned(),
            amount: Some(cny("80000.01")),
            whole_deposit: false,
        })
        .await;
    assert_error(result, Code::FailedPrecondition, "AMOUNT_EXCEEDS_BALANCE");
    let result = service
        .status
        .quote_withdrawal(QuoteWithdrawalRequest {
            deposit_id: "TD-UNMATURED".to_owned(),
            amount: Some(cny("79990.00")),
            whole_deposit: false,
        })
        .await;
    assert_error(result, Code::FailedPrecondition, "REMAINDER_BELOW_MINIMUM");
    let result = service
        .status
        .quote_withdrawal(QuoteWithdrawalRequest {
            deposit_id: "TD-MISSING".to_owned(),
            amount: None,
            whole_deposit: true,
        })
        .await;
    assert_error(result, Code::NotFound, "DEPOSIT_NOT_FOUND");
}

#[tokio::test]
async fn admin_service_absent_from_public_port() {
    let service = start().await;
    let mut admin_on_public =
        bank_proto::deposit::deposit_admin_service_client::DepositAdminServiceClient::connect(format!(
            "http://{}",
            service.public_addr
        ))
        .await
        .unwrap();
    let result = admin_on_public
        .open_passbook(OpenPassbookRequest {
            request_id: request_id(),
            passbook_number: "PB-EVIL".to_owned(),
            customer_id: "C1".to_owned(),
            customer_name: "X".to_owned(),
            masked_id_number: "11**34".to_owned(),
            branch_id: "BR001".to_owned(),
        })
        .await;
    let status = result.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    let summary = grpc_support::ErrorSummary::from_status(&status);
    assert_eq!(summary.reason.as_deref(), Some("METHOD_NOT_FOUND"));
}

#[tokio::test]
async fn health_reports_serving() {
    let service = start().await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", service.public_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let response = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "bank.deposit.v1.DepositStatusService".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        response.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
}

#[tokio::test]
async fn data_survives_restart() {
    let mut service = start().await;
    incident_passbook(&mut service).await;
    let directory = std::mem::replace(&mut service.directory, tempfile::tempdir().unwrap());
    let release_key = SigningKey::from_pkcs8_pem(&service.release_key.to_pkcs8_pem().unwrap()).unwrap();
    let database_url = service.database_url.clone();
    service.stop().await;

    let mut settings = common::test_settings(directory.path(), directory.path().join("release.pub.pem"));
    settings.database_url = database_url;
    let mut restarted = common::start_in(directory, release_key, settings).await;
    let view = restarted
        .status
        .get_passbook(GetPassbookRequest {
            passbook_number: "PB-INCIDENT".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.deposits.len(), 2);
    assert_eq!(view.business_date, "2025-02-22");
}

#[test]
fn non_loopback_admin_rejected() {
    let directory = tempfile::tempdir().unwrap();
    let mut settings = common::test_settings(directory.path(), directory.path().join("none.pem"));
    settings.admin_listen_addr = "0.0.0.0:0".parse().unwrap();
    let error = settings.validate().unwrap_err();
    assert!(error.contains("DEPOSIT_STATUS_ADMIN_LISTEN_ADDR"), "{error}");
    let _ = Duration::zero();
}

#[tokio::test]
async fn closed_deposit_rejects_attestation_and_payout() {
    let mut service = start().await;
    incident_passbook(&mut service).await;
    let (envelope, attestation) = service.attest("PB-INCIDENT", "TD-MATURED", None).await.unwrap();

    let request = CloseDepositRequest {
        request_id: request_id(),
        deposit_id: "TD-MATURED".to_owned(),
        reason: "paid out at the core banking counter".to_owned(),
    };
    let closed = service
        .admin
        .close_deposit(request.clone())
        .await
        .unwrap()
        .into_inner()
        .deposit
        .unwrap();
    assert_eq!(closed.deposit_id, "TD-MATURED");
    assert_eq!(closed.state(), DepositState::Closed);
    let replayed = service
        .admin
        .close_deposit(request)
        .await
        .unwrap()
        .into_inner()
        .deposit
        .unwrap();
    assert_eq!(replayed, closed);

    let result = service.attest("PB-INCIDENT", "TD-MATURED", None).await;
    assert_error(result, Code::FailedPrecondition, "DEPOSIT_NOT_ACTIVE");
    // An attestation issued before the close no longer pays either.
    let order = sign_order(
        &service.release_key,
        &release_order(&envelope, &attestation, Utc::now()),
    );
    let result = service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(order),
        })
        .await;
    assert_error(result, Code::FailedPrecondition, "DEPOSIT_NOT_ACTIVE");
    let second_close = service
        .admin
        .close_deposit(CloseDepositRequest {
            request_id: request_id(),
            deposit_id: "TD-MATURED".to_owned(),
            reason: "closed twice".to_owned(),
        })
        .await;
    assert_error(second_close, Code::FailedPrecondition, "DEPOSIT_NOT_ACTIVE");

    let view = service
        .status
        .get_passbook(GetPassbookRequest {
            passbook_number: "PB-INCIDENT".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    let state_of = |deposit_id: &str| {
        view.deposits
            .iter()
            .find(|deposit| deposit.deposit_id == deposit_id)
            .unwrap_or_else(|| panic!("{deposit_id} missing from the passbook view"))
            .state()
    };
    assert_eq!(state_of("TD-MATURED"), DepositState::Closed);
    assert_eq!(state_of("TD-UNMATURED"), DepositState::Unmatured);
}

#[tokio::test]
async fn business_date_override_rejected_when_disabled() {
    let mut service = start_with(|settings| settings.allow_business_date_override = false).await;

    let result = service
        .admin
        .set_business_date(SetBusinessDateRequest {
            request_id: request_id(),
            business_date: "2016-01-15".to_owned(),
        })
        .await;
    assert_error(
        result,
        Code::FailedPrecondition,
        "BUSINESS_DATE_OVERRIDE_DISABLED",
    );

    let current = service
        .status
        .get_business_date(GetBusinessDateRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_ne!(current.business_date, "2016-01-15");
    assert!(!current.fixed, "the business date follows the clock");
}

#[tokio::test]
async fn executed_order_replays_after_key_rotation() {
    let mut service = start().await;
    incident_passbook(&mut service).await;
    let (envelope, attestation) = service.attest("PB-INCIDENT", "TD-MATURED", None).await.unwrap();
    let order = sign_order(
        &service.release_key,
        &release_order(&envelope, &attestation, Utc::now()),
    );
    let first = service
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(order.clone()),
        })
        .await
        .unwrap()
        .into_inner();

    // Restart with a new attestation key and a new trusted release key: the
    // old ones are retired. A retry of the executed order, byte for byte,
    // still gets its first payout.
    let directory = std::mem::replace(&mut service.directory, tempfile::tempdir().unwrap());
    let database_url = service.database_url.clone();
    service.stop().await;
    std::fs::remove_file(directory.path().join("attestation.pem")).unwrap();
    let new_release = SigningKey::generate();
    let new_release_public = directory.path().join("new-release.pub.pem");
    new_release
        .verifying_key()
        .write_pem_file(&new_release_public)
        .unwrap();
    let mut settings = common::test_settings(directory.path(), new_release_public);
    settings.database_url = database_url;
    let mut restarted = common::start_in(directory, new_release, settings).await;

    let again = restarted
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(order.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(again.replayed);
    assert_eq!(again.payout, first.payout);

    // A changed byte is not a replay: it goes through every check and fails.
    let mut altered = order;
    altered.signature[0] ^= 0x01;
    let result = restarted
        .status
        .execute_withdrawal(ExecuteWithdrawalRequest {
            request_id: request_id(),
            release_order: Some(altered),
        })
        .await;
    assert_eq!(result.unwrap_err().code(), Code::PermissionDenied);
}

#[tokio::test]
async fn passbook_lists_deposit_opened_after_business_date() {
    let mut service = start().await;
    incident_passbook(&mut service).await;
    // A training date before one deposit's opening date: that deposit
    // cannot be quoted, and the view still lists both.
    service.set_business_date("2023-01-01").await;
    let view = service
        .status
        .get_passbook(GetPassbookRequest {
            passbook_number: "PB-INCIDENT".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.deposits.len(), 2);
    let later = view
        .deposits
        .iter()
        .find(|deposit| deposit.deposit_id == "TD-MATURED")
        .unwrap();
    assert!(later.full_withdrawal_quote.is_none());
    let earlier = view
        .deposits
        .iter()
        .find(|deposit| deposit.deposit_id == "TD-UNMATURED")
        .unwrap();
    assert!(earlier.full_withdrawal_quote.is_some());
}
