//! Every rejection a supervisor decision or a submission can meet.

mod common;

use bank_proto::withdrawal::{
    AuthorizationState, CoSignAuthorizationsRequest, CoSignature, DeactivateStaffRequest,
    GetAuthorizationRequest, ListPendingAuthorizationsRequest, RevokeStaffKeyRequest,
};
use chrono::Utc;
use common::{Bank, Staff, assert_error, clone_key, request_id, sign};
use grpc_support::convert::{envelope_from_proto, to_timestamp};
use tonic::Code;

fn copy(staff: &Staff) -> Staff {
    Staff {
        staff_id: staff.staff_id.clone(),
        key: clone_key(&staff.key),
    }
}

#[tokio::test]
async fn maker_cannot_cosign_own_request() {
    let mut bank = Bank::start().await;
    let maker = copy(&bank.supervisor_maker);
    let (attestation, _) = bank.attest("TD-MATURED", None).await;
    let authorization = bank
        .submit_as(&maker, "TD-MATURED", None, attestation)
        .await
        .unwrap();
    let result = bank.co_sign(&maker, &[&authorization]).await;
    assert_error(result, Code::PermissionDenied, "SELF_APPROVAL_FORBIDDEN");
    let result = bank.reject(&maker, &authorization).await;
    assert_error(result, Code::PermissionDenied, "SELF_APPROVAL_FORBIDDEN");
}

#[tokio::test]
async fn teller_cannot_cosign() {
    let mut bank = Bank::start().await;
    let authorization = bank.submit("TD-MATURED").await;
    let other_teller = copy(&bank.other_teller);
    let result = bank.co_sign(&other_teller, &[&authorization]).await;
    assert_error(result, Code::PermissionDenied, "NOT_A_SUPERVISOR");
}

#[tokio::test]
async fn inactive_supervisor_rejected() {
    let mut bank = Bank::start().await;
    let authorization = bank.submit("TD-MATURED").await;
    bank.authorization
        .admin
        .deactivate_staff(DeactivateStaffRequest {
            request_id: request_id(),
            staff_id: "S001".to_owned(),
            reason: "调离".to_owned(),
        })
        .await
        .unwrap();
    let supervisor = copy(&bank.supervisor);
    let result = bank.co_sign(&supervisor, &[&authorization]).await;
    assert_error(result, Code::PermissionDenied, "STAFF_INACTIVE");
}

#[tokio::test]
async fn other_branch_supervisor_rejected() {
    let mut bank = Bank::start().await;
    let authorization = bank.submit("TD-MATURED").await;
    let outsider = copy(&bank.other_branch_supervisor);
    let result = bank.co_sign(&outsider, &[&authorization]).await;
    assert_error(result, Code::PermissionDenied, "WRONG_BRANCH");
    let result = bank.reject(&outsider, &authorization).await;
    assert_error(result, Code::PermissionDenied, "WRONG_BRANCH");
}

#[tokio::test]
async fn revoked_key_rejected() {
    let mut bank = Bank::start().await;
    let authorization = bank.submit("TD-MATURED").await;
    let supervisor = copy(&bank.supervisor);
    bank.authorization
        .admin
        .revoke_staff_key(RevokeStaffKeyRequest {
            request_id: request_id(),
            staff_id: "S001".to_owned(),
            key_id: supervisor.key.key_id(),
        })
        .await
        .unwrap();
    let result = bank.co_sign(&supervisor, &[&authorization]).await;
    assert_error(result, Code::PermissionDenied, "KEY_REVOKED");
}

#[tokio::test]
async fn expired_key_rejected() {
    let mut bank = Bank::start().await;
    let authorization = bank.submit("TD-MATURED").await;
    let key = attestation::SigningKey::generate();
    let now = Utc::now();
    bank.authorization
        .admin
        .enroll_staff(bank_proto::withdrawal::EnrollStaffRequest {
            request_id: request_id(),
            staff_id: "S009".to_owned(),
            name: "过期主管".to_owned(),
            branch_id: common::BRANCH.to_owned(),
            role: bank_proto::withdrawal::StaffRole::Supervisor as i32,
            approval_limit: Some(common::cny("1000000.00")),
            public_key_pem: key.verifying_key().to_public_key_pem().unwrap(),
            key_valid_from: Some(to_timestamp(now - chrono::Duration::days(30))),
            key_valid_until: Some(to_timestamp(now - chrono::Duration::days(1))),
        })
        .await
        .unwrap();
    let expired = Staff {
        staff_id: "S009".to_owned(),
        key,
    };
    let result = bank.co_sign(&expired, &[&authorization]).await;
    assert_error(result, Code::PermissionDenied, "KEY_NOT_VALID");
}

#[tokio::test]
async fn limit_below_payout_rejected() {
    let mut bank = Bank::start().await;
    let authorization = bank.submit("TD-MATURED").await;
    let low = copy(&bank.low_limit_supervisor);
    let result = bank.co_sign(&low, &[&authorization]).await;
    assert_error(result, Code::PermissionDenied, "APPROVAL_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn signature_over_other_content_rejected() {
    let mut bank = Bank::start().await;
    let authorization = bank.submit("TD-MATURED").await;
    let supervisor = copy(&bank.supervisor);

    let mut stale = authorization.clone();
    stale.authorization_digest = "0".repeat(64);
    let result = bank.co_sign(&supervisor, &[&stale]).await;
    assert_error(result, Code::FailedPrecondition, "AUTHORIZATION_DIGEST_MISMATCH");

    // A co-signature whose bytes were changed after signing.
    let cosignature = CoSignature {
        supervisor_staff_id: "S001".to_owned(),
        authorizations: vec![bank_proto::withdrawal::AuthorizationReference {
            authorization_id: authorization.authorization_id.clone(),
            authorization_digest: authorization.authorization_digest.clone(),
        }],
        signed_at: Some(to_timestamp(Utc::now())),
    };
    let mut envelope = sign(
        &supervisor.key,
        bank_proto::payload_type::CO_SIGNATURE,
        &cosignature,
    );
    envelope.payload[2] ^= 0x01;
    let result = bank
        .authorization
        .client
        .co_sign_authorizations(CoSignAuthorizationsRequest {
            request_id: request_id(),
            cosignature: Some(envelope),
        })
        .await;
    assert_error(result, Code::PermissionDenied, "SIGNATURE_INVALID");

    // The teller's instruction signature presented as a co-signature.
    let teller_envelope = sign(
        &bank.teller.key,
        bank_proto::payload_type::WITHDRAWAL_INSTRUCTION,
        &cosignature,
    );
    let disguised = bank_proto::common::SignedEnvelope {
        payload_type: bank_proto::payload_type::CO_SIGNATURE.to_owned(),
        ..teller_envelope
    };
    let result = bank
        .authorization
        .client
        .co_sign_authorizations(CoSignAuthorizationsRequest {
            request_id: request_id(),
            cosignature: Some(disguised),
        })
        .await;
    let status = result.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // Nothing moved.
    let current = bank
        .authorization
        .client
        .get_authorization(GetAuthorizationRequest {
            authorization_id: authorization.authorization_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .authorization
        .unwrap();
    assert_eq!(current.state(), AuthorizationState::Pending);
    assert!(current.decisions.is_empty());
}

#[tokio::test]
async fn rejection_is_final() {
    let mut bank = Bank::start().await;
    let authorization = bank.submit("TD-MATURED").await;
    let supervisor = copy(&bank.supervisor);
    let rejected = bank.reject(&supervisor, &authorization).await.unwrap();
    assert_eq!(rejected.state(), AuthorizationState::Rejected);
    assert_eq!(rejected.decisions[0].reason, "客户证件与存折户名不符");
    let result = bank.release(&authorization.authorization_id).await;
    assert_error(result, Code::FailedPrecondition, "AUTHORIZATION_CLOSED");
    let result = bank.co_sign(&supervisor, &[&authorization]).await;
    assert_error(result, Code::FailedPrecondition, "AUTHORIZATION_CLOSED");
    assert_eq!(bank.executions().await, 0);
}

#[tokio::test]
async fn attestation_replay_rejected() {
    let mut bank = Bank::start().await;
    let (attestation, _) = bank.attest("TD-MATURED", None).await;
    let teller = copy(&bank.teller);
    bank.submit_as(&teller, "TD-MATURED", None, attestation.clone())
        .await
        .unwrap();
    let result = bank.submit_as(&teller, "TD-MATURED", None, attestation).await;
    assert_error(result, Code::FailedPrecondition, "ATTESTATION_ALREADY_USED");

    // A fresh attestation for the same deposit while the first is pending.
    let (fresh, _) = bank.attest("TD-MATURED", None).await;
    let result = bank.submit_as(&teller, "TD-MATURED", None, fresh).await;
    assert_error(result, Code::FailedPrecondition, "WITHDRAWAL_ALREADY_PENDING");
}

#[tokio::test]
async fn tampered_attestation_rejected() {
    let mut bank = Bank::start().await;
    let (mut attestation, _) = bank.attest("TD-UNMATURED", None).await;
    let last = attestation.payload.len() - 5;
    attestation.payload[last] ^= 0x04;
    let teller = copy(&bank.teller);
    let result = bank.submit_as(&teller, "TD-UNMATURED", None, attestation).await;
    assert_error(result, Code::PermissionDenied, "ATTESTATION_INVALID");

    // An attestation signed by someone other than deposit-status.
    let (genuine, payload) = bank.attest("TD-UNMATURED", None).await;
    let forged = sign(
        &teller.key,
        bank_proto::payload_type::MATURITY_ATTESTATION,
        &payload,
    );
    assert_ne!(
        envelope_from_proto(&forged).key_id,
        envelope_from_proto(&genuine).key_id
    );
    let result = bank.submit_as(&teller, "TD-UNMATURED", None, forged).await;
    assert_error(result, Code::PermissionDenied, "ATTESTATION_INVALID");
}

#[tokio::test]
async fn attestation_for_other_amount_rejected() {
    let mut bank = Bank::start().await;
    let (attestation, _) = bank.attest("TD-UNMATURED", Some("5000.00")).await;
    let teller = copy(&bank.teller);
    let result = bank
        .submit_as(&teller, "TD-UNMATURED", None, attestation.clone())
        .await;
    assert_error(result, Code::InvalidArgument, "ATTESTATION_MISMATCH");
    let result = bank.submit_as(&teller, "TD-MATURED", None, attestation).await;
    assert_error(result, Code::InvalidArgument, "ATTESTATION_MISMATCH");
}

#[tokio::test]
async fn expired_attestation_rejected() {
    let mut bank = Bank::start_with_lifetime(1).await;
    let (attestation, _) = bank.attest("TD-MATURED", None).await;
    // The attestation's lifetime is one second; let it pass.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let teller = copy(&bank.teller);
    let result = bank.submit_as(&teller, "TD-MATURED", None, attestation).await;
    assert_error(result, Code::FailedPrecondition, "ATTESTATION_EXPIRED");
}

#[tokio::test]
async fn attestation_expiring_before_cosignature_blocks_release() {
    let mut bank = Bank::start_with_lifetime(2).await;
    let authorization = bank.submit("TD-MATURED").await;
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let supervisor = copy(&bank.supervisor);
    let result = bank.co_sign(&supervisor, &[&authorization]).await;
    assert_error(result, Code::FailedPrecondition, "ATTESTATION_EXPIRED");
    let result = bank.release(&authorization.authorization_id).await;
    assert_error(result, Code::FailedPrecondition, "AUTHORIZATION_CLOSED");
    assert_eq!(bank.executions().await, 0);
}

#[tokio::test]
async fn identity_check_required_for_early_withdrawal() {
    let mut bank = Bank::start().await;
    let (attestation, _) = bank.attest("TD-UNMATURED", None).await;
    let request_id = request_id();
    let instruction = bank_proto::withdrawal::WithdrawalInstruction {
        request_id: request_id.clone(),
        teller_staff_id: "T001".to_owned(),
        branch_id: common::BRANCH.to_owned(),
        passbook_number: "PB-INCIDENT".to_owned(),
        deposit_id: "TD-UNMATURED".to_owned(),
        amount: None,
        whole_deposit: true,
        identity_check: None,
        maturity_attestation: Some(attestation),
        signed_at: Some(to_timestamp(Utc::now())),
    };
    let envelope = sign(
        &bank.teller.key,
        bank_proto::payload_type::WITHDRAWAL_INSTRUCTION,
        &instruction,
    );
    let result = bank
        .authorization
        .client
        .submit_withdrawal(bank_proto::withdrawal::SubmitWithdrawalRequest {
            request_id,
            instruction: Some(envelope),
        })
        .await;
    assert_error(result, Code::FailedPrecondition, "IDENTITY_CHECK_REQUIRED");
}

#[tokio::test]
async fn pending_list_shows_branch_work() {
    let mut bank = Bank::start().await;
    let first = bank.submit("TD-MATURED").await;
    let second = bank.submit("TD-UNMATURED").await;
    let page = bank
        .authorization
        .client
        .list_pending_authorizations(ListPendingAuthorizationsRequest {
            branch_id: common::BRANCH.to_owned(),
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.authorizations.len(), 1);
    assert_eq!(page.authorizations[0].authorization_id, first.authorization_id);
    assert!(page.authorizations[0].attestation.is_some());
    let next = bank
        .authorization
        .client
        .list_pending_authorizations(ListPendingAuthorizationsRequest {
            branch_id: common::BRANCH.to_owned(),
            page_size: 1,
            page_token: page.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.authorizations[0].authorization_id, second.authorization_id);
    assert!(next.next_page_token.is_empty());

    let other = bank
        .authorization
        .client
        .list_pending_authorizations(ListPendingAuthorizationsRequest {
            branch_id: "BR002".to_owned(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(other.authorizations.is_empty());
}

#[tokio::test]
async fn pending_list_rejects_forged_page_token() {
    let bank = Bank::start().await;
    // The instant is valid, so only the authorization id is wrong. A NUL
    // byte fails in PostgreSQL, not only a missing separator.
    let tokens = [
        "2025-02-22T01:00:00Z|A\0".to_owned(),
        "2025-02-22T01:00:00Z|\n".to_owned(),
        format!("2025-02-22T01:00:00Z|{}", "A".repeat(10_000)),
        "2025-02-22T01:00:00Z".to_owned(),
    ];

    for page_token in tokens {
        let start: String = page_token.chars().take(40).collect();
        let result = bank
            .authorization
            .client
            .clone()
            .list_pending_authorizations(ListPendingAuthorizationsRequest {
                branch_id: common::BRANCH.to_owned(),
                page_size: 1,
                page_token,
            })
            .await;
        let details = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(details.field_violations.len(), 1, "token {start:?}");
        assert_eq!(details.field_violations[0].field, "page_token", "token {start:?}");
    }
}

#[tokio::test]
async fn acknowledgement_only_by_submitting_teller_over_shown_text() {
    let mut bank = Bank::start().await;
    let authorization = bank.submit("TD-UNMATURED").await;
    let text = authorization
        .disclosure
        .iter()
        .find(|text| text.language == "en")
        .unwrap();
    let mut acknowledgement = bank_proto::withdrawal::DisclosureAcknowledgement {
        authorization_id: authorization.authorization_id.clone(),
        language: "zh-CN".to_owned(),
        disclosure_sha256: text.sha256.clone(),
        capture_method: bank_proto::withdrawal::CaptureMethod::PaperForm as i32,
        capture_reference: "FORM-2025-0001".to_owned(),
        captured_at: Some(to_timestamp(Utc::now())),
        teller_staff_id: "T001".to_owned(),
    };
    // The English text's digest named as the Chinese text's.
    let envelope = sign(
        &bank.teller.key,
        bank_proto::payload_type::DISCLOSURE_ACKNOWLEDGEMENT,
        &acknowledgement,
    );
    let result = bank
        .authorization
        .client
        .acknowledge_disclosure(bank_proto::withdrawal::AcknowledgeDisclosureRequest {
            request_id: request_id(),
            acknowledgement: Some(envelope),
        })
        .await;
    assert_error(result, Code::FailedPrecondition, "DISCLOSURE_DIGEST_MISMATCH");

    acknowledgement.language = "en".to_owned();
    acknowledgement.teller_staff_id = "T002".to_owned();
    let envelope = sign(
        &bank.other_teller.key,
        bank_proto::payload_type::DISCLOSURE_ACKNOWLEDGEMENT,
        &acknowledgement,
    );
    let result = bank
        .authorization
        .client
        .acknowledge_disclosure(bank_proto::withdrawal::AcknowledgeDisclosureRequest {
            request_id: request_id(),
            acknowledgement: Some(envelope),
        })
        .await;
    assert_error(result, Code::PermissionDenied, "NOT_SUBMITTING_TELLER");
}

#[tokio::test]
async fn admin_service_absent_from_public_port() {
    let bank = Bank::start().await;
    // The admin service is routed only on the admin listener, so a client
    // that calls enrollment on the public port finds no such method.
    let mut admin_on_public =
        bank_proto::withdrawal::withdrawal_admin_service_client::WithdrawalAdminServiceClient::connect(
            format!("http://{}", bank.authorization.public_addr),
        )
        .await
        .unwrap();

    let result = admin_on_public
        .list_staff(bank_proto::withdrawal::ListStaffRequest {
            branch_id: String::new(),
        })
        .await;

    assert_error(result, Code::Unimplemented, "METHOD_NOT_FOUND");
}

#[tokio::test]
async fn forged_signature_reveals_nothing_and_records_nothing() {
    let mut bank = Bank::start().await;
    let authorization = bank.submit("TD-MATURED").await;
    let records_before = audit_count(&bank).await;

    // A teller's public key id with a signature that is not the teller's.
    let cosignature = CoSignature {
        supervisor_staff_id: "T001".to_owned(),
        authorizations: vec![bank_proto::withdrawal::AuthorizationReference {
            authorization_id: authorization.authorization_id.clone(),
            authorization_digest: authorization.authorization_digest.clone(),
        }],
        signed_at: Some(to_timestamp(Utc::now())),
    };
    let mut envelope = sign(
        &bank.teller.key,
        bank_proto::payload_type::CO_SIGNATURE,
        &cosignature,
    );
    envelope.signature = vec![0; 64];
    envelope.payload.extend(std::iter::repeat_n(0x0a, 100_000));
    let result = bank
        .authorization
        .client
        .co_sign_authorizations(CoSignAuthorizationsRequest {
            request_id: request_id(),
            cosignature: Some(envelope),
        })
        .await;
    assert_error(result, Code::PermissionDenied, "SIGNATURE_INVALID");
    assert_eq!(
        audit_count(&bank).await,
        records_before,
        "an unverified envelope reached the audit log"
    );
}

async fn audit_count(bank: &Bank) -> usize {
    bank.authorization
        .admin
        .clone()
        .list_audit_records(bank_proto::withdrawal::ListAuditRecordsRequest {
            from_sequence: 0,
            page_size: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .records
        .len()
}

#[tokio::test]
async fn malformed_key_id_rejected_as_unknown() {
    let mut bank = Bank::start().await;
    let pending = bank.submit("TD-UNMATURED").await;
    let records_before = audit_count(&bank).await;
    let teller = copy(&bank.teller);
    let supervisor = copy(&bank.supervisor);
    let teller_key_id = bank.teller.key.key_id();
    // Key ids that no key has: PostgreSQL rejects a NUL byte in text, and
    // the others are control characters, a near miss of the real format and
    // a string far longer than any key id.
    let key_ids = [
        format!("{teller_key_id}\0"),
        "\0".to_owned(),
        format!("{teller_key_id}\n"),
        teller_key_id.to_uppercase(),
        "ed25519:".to_owned() + &"é".repeat(32),
        "x".repeat(100_000),
    ];

    for key_id in key_ids {
        let start: String = key_id.chars().take(50).collect();
        bank.replacement_key_id = Some(key_id);

        let (attestation, _) = bank.attest("TD-MATURED", None).await;
        let result = bank.submit_as(&teller, "TD-MATURED", None, attestation).await;
        let details = assert_error(result, Code::PermissionDenied, "SIGNATURE_INVALID");
        assert!(
            !details.message.contains('\0'),
            "key id {start:?}: {}",
            details.message
        );

        let (matured, _) = bank.attest("TD-MATURED", None).await;
        let (unmatured, _) = bank.attest("TD-UNMATURED", None).await;
        let result = bank.submit_closure(vec![matured, unmatured]).await;
        assert_error(result, Code::PermissionDenied, "SIGNATURE_INVALID");

        let result = bank.acknowledge(&pending).await;
        assert_error(result, Code::PermissionDenied, "SIGNATURE_INVALID");

        let result = bank.co_sign(&supervisor, &[&pending]).await;
        assert_error(result, Code::PermissionDenied, "SIGNATURE_INVALID");

        let result = bank.reject(&supervisor, &pending).await;
        assert_error(result, Code::PermissionDenied, "SIGNATURE_INVALID");
    }

    assert_eq!(
        audit_count(&bank).await,
        records_before,
        "an unverified envelope reached the audit log"
    );
    bank.replacement_key_id = None;
    let acknowledged = bank.acknowledge(&pending).await.expect("acknowledged");
    assert_eq!(acknowledged.state, AuthorizationState::Pending as i32);
}

#[tokio::test]
async fn cosignature_reference_errors_stay_small() {
    let mut bank = Bank::start().await;
    let authorization = bank.submit("TD-MATURED").await;
    let reference = bank_proto::withdrawal::AuthorizationReference {
        authorization_id: authorization.authorization_id.clone(),
        authorization_digest: authorization.authorization_digest.clone(),
    };
    let supervisor = copy(&bank.supervisor);

    for count in [2, 100, 101, 10_000] {
        let cosignature = CoSignature {
            supervisor_staff_id: supervisor.staff_id.clone(),
            authorizations: vec![reference.clone(); count],
            signed_at: Some(to_timestamp(Utc::now())),
        };
        let envelope = sign(
            &supervisor.key,
            bank_proto::payload_type::CO_SIGNATURE,
            &cosignature,
        );
        let result = bank
            .authorization
            .client
            .co_sign_authorizations(CoSignAuthorizationsRequest {
                request_id: request_id(),
                cosignature: Some(envelope),
            })
            .await;

        let status = result.as_ref().expect_err("the call should fail").clone();
        let details = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
        // Clients limit the metadata they accept, often to 8 KiB, and the
        // message and the details both travel in it.
        assert!(
            status.message().len() <= 1024,
            "{count} references: message of {} bytes",
            status.message().len()
        );
        assert!(
            status.details().len() <= 4096,
            "{count} references: details of {} bytes",
            status.details().len()
        );
        let violations = &details.field_violations;
        if count > 100 {
            assert_eq!(violations.len(), 1, "{count} references: {violations:?}");
            assert_eq!(violations[0].field, "authorizations");
            assert!(
                violations[0].description.contains(&count.to_string()),
                "{count} references: {violations:?}"
            );
        } else {
            let duplicates = count - 1;
            let listed = duplicates.min(grpc_support::error::MAX_FIELD_VIOLATIONS);
            assert_eq!(
                violations
                    .iter()
                    .filter(|violation| violation.description == "listed twice")
                    .count(),
                listed,
                "{count} references: {violations:?}"
            );
            let omitted = duplicates - listed;
            if omitted > 0 {
                assert_eq!(violations.len(), listed + 1, "{count} references");
                assert!(
                    violations[listed].description.contains(&omitted.to_string()),
                    "{count} references: {:?}",
                    violations[listed]
                );
            } else {
                assert_eq!(violations.len(), listed, "{count} references");
            }
        }
    }

    let cosigned = bank.co_sign(&supervisor, &[&authorization]).await.unwrap();
    assert_eq!(cosigned.len(), 1);
}
