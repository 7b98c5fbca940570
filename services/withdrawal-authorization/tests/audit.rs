//! The audit log: every event recorded, the chain and the release
//! signatures verifiable from public keys alone, edits and deletions found.

mod common;

use attestation::{Keyring, VerifyingKey};
use bank_proto::withdrawal::{AuditEventType, GetAuditTrailRequest};
use chrono::{DateTime, Utc};
use common::{Bank, Staff, clone_key};
use withdrawal_authorization::audit::{AuditProblem, verify_database};

async fn attestation_keyring(bank: &Bank) -> Keyring {
    let mut keyring = Keyring::new();
    let key =
        VerifyingKey::read_pem_file(bank.directory.path().join("attestation.pem.pub")).unwrap_or_else(|_| {
            attestation::SigningKey::read_pem_file(bank.directory.path().join("attestation.pem"))
                .unwrap()
                .verifying_key()
        });
    keyring.insert(key, DateTime::<Utc>::UNIX_EPOCH, None).unwrap();
    keyring
}

async fn released_incident(bank: &mut Bank) -> String {
    let authorization = bank.submit("TD-UNMATURED").await;
    let authorization = bank.acknowledge(&authorization).await.unwrap();
    let supervisor = Staff {
        staff_id: "S001".to_owned(),
        key: clone_key(&bank.supervisor.key),
    };
    bank.co_sign(&supervisor, &[&authorization]).await.unwrap();
    bank.release(&authorization.authorization_id).await.unwrap();
    authorization.authorization_id
}

fn url(bank: &Bank) -> String {
    bank.authorization.database_url.clone()
}

#[tokio::test]
async fn trail_records_every_step() {
    let mut bank = Bank::start().await;
    let authorization_id = released_incident(&mut bank).await;
    let records = bank
        .authorization
        .client
        .get_audit_trail(GetAuditTrailRequest {
            authorization_id: authorization_id.clone(),
            passbook_number: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    let events: Vec<AuditEventType> = records
        .iter()
        .map(|record| record.entry_decoded.as_ref().unwrap().event_type())
        .collect();
    assert_eq!(
        events,
        [
            AuditEventType::Submitted,
            AuditEventType::RequirementsSet,
            AuditEventType::Acknowledged,
            AuditEventType::Cosigned,
            AuditEventType::ReleaseOrdered,
            AuditEventType::Released,
        ]
    );
    let cosigned = records[3].entry_decoded.as_ref().unwrap();
    assert_eq!(cosigned.actor_staff_id, "S001");
    assert_eq!(cosigned.envelopes.len(), 1);

    let by_passbook = bank
        .authorization
        .client
        .get_audit_trail(GetAuditTrailRequest {
            authorization_id: String::new(),
            passbook_number: "PB-INCIDENT".to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(by_passbook.len(), records.len());
}

#[tokio::test]
async fn verifier_accepts_untouched_log() {
    let mut bank = Bank::start().await;
    released_incident(&mut bank).await;
    let report = verify_database(&url(&bank), attestation_keyring(&bank).await, None)
        .await
        .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.releases_verified, 1);
    assert!(
        report.records >= 12,
        "staff enrollments and six events: {}",
        report.records
    );
}

#[tokio::test]
async fn verifier_catches_edited_row() {
    let mut bank = Bank::start().await;
    released_incident(&mut bank).await;
    let pool = test_support::connect(&url(&bank)).await;
    // Change one byte of the last record's entry, as someone editing the
    // stored amount would.
    let (sequence, mut entry): (i64, Vec<u8>) =
        sqlx::query_as("SELECT sequence, entry FROM audit_log ORDER BY sequence DESC LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    let middle = entry.len() / 2;
    entry[middle] ^= 0x01;
    sqlx::query("UPDATE audit_log SET entry = $1 WHERE sequence = $2")
        .bind(&entry)
        .bind(sequence)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let report = verify_database(&url(&bank), attestation_keyring(&bank).await, None)
        .await
        .unwrap();
    assert!(
        report.problems.contains(&AuditProblem::HashMismatch { sequence }),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn verifier_catches_deleted_row() {
    let mut bank = Bank::start().await;
    released_incident(&mut bank).await;
    let pool = test_support::connect(&url(&bank)).await;
    let sequence: i64 = sqlx::query_scalar("SELECT MAX(sequence) - 2 FROM audit_log")
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_log WHERE sequence = $1")
        .bind(sequence)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let report = verify_database(&url(&bank), attestation_keyring(&bank).await, None)
        .await
        .unwrap();
    assert!(
        report.problems.iter().any(|problem| matches!(problem, AuditProblem::SequenceGap { sequence: found, .. } if *found == sequence + 1)),
        "{:?}",
        report.problems
    );
    assert!(
        report.problems.iter().any(|problem| matches!(problem, AuditProblem::BrokenChain { sequence: found, .. } if *found == sequence + 1)),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn verifier_catches_forged_release_signature() {
    let mut bank = Bank::start().await;
    released_incident(&mut bank).await;
    // A verifier that trusts another attestation key rejects the release.
    let mut wrong = Keyring::new();
    wrong
        .insert(
            attestation::SigningKey::generate().verifying_key(),
            DateTime::<Utc>::UNIX_EPOCH,
            None,
        )
        .unwrap();
    let report = verify_database(&url(&bank), wrong, None).await.unwrap();
    assert_eq!(report.releases_verified, 0);
    assert!(
        report
            .problems
            .iter()
            .any(|problem| matches!(problem, AuditProblem::ReleaseSignature { .. }))
    );
}

#[tokio::test]
async fn verifier_catches_moved_index_and_cut_tail() {
    let mut bank = Bank::start().await;
    released_incident(&mut bank).await;
    let report = verify_database(&url(&bank), attestation_keyring(&bank).await, None)
        .await
        .unwrap();
    let head = report.head.clone().expect("a non-empty log has a head");

    let pool = test_support::connect(&url(&bank)).await;
    // Hide the release from its authorization's trail.
    sqlx::query("UPDATE audit_log SET authorization_id = 'elsewhere' WHERE sequence = $1")
        .bind(head.0)
        .execute(&pool)
        .await
        .unwrap();
    let report = verify_database(&url(&bank), attestation_keyring(&bank).await, None)
        .await
        .unwrap();
    assert!(
        report
            .problems
            .contains(&AuditProblem::IndexMismatch { sequence: head.0 }),
        "{:?}",
        report.problems
    );

    // Cut off the last record: the chain alone still verifies, the kept head
    // does not.
    sqlx::query("DELETE FROM audit_log WHERE sequence = $1")
        .bind(head.0)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let report = verify_database(&url(&bank), attestation_keyring(&bank).await, Some(head.clone()))
        .await
        .unwrap();
    assert!(
        report.problems.contains(&AuditProblem::HeadMismatch {
            sequence: head.0,
            expected: head.1
        }),
        "{:?}",
        report.problems
    );
}
