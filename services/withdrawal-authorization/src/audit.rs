//! Writing audit events, and verifying the log: the hash chain, and for each
//! release the attestation, maker and checker signatures from public keys
//! alone.

use attestation::{Envelope, Keyring, VerifyingKey};
use bank_proto::withdrawal::{
    AuditEntry, AuditEventType, AuditRecord, CoSignature, PassbookClosureInstruction, ReleaseOrder,
    WithdrawalInstruction,
};
use chrono::{DateTime, Utc};
use grpc_support::convert::{envelope_from_proto, envelope_to_proto, to_timestamp};
use prost::Message;
use sqlx::AnyConnection;

use crate::store::{self, AuditRow, GENESIS_SHA256, StaffKeyRow, StoreError, record_sha256};

/// One event to record.
#[derive(Debug, Default)]
pub struct Event<'a> {
    pub actor_staff_id: &'a str,
    pub authorization_id: &'a str,
    pub passbook_number: &'a str,
    pub deposit_id: &'a str,
    pub reason: &'a str,
    pub details: Option<serde_json::Value>,
    pub envelopes: Vec<&'a Envelope>,
}

/// Appends `event` of type `kind` to the audit log inside the caller's
/// transaction.
pub async fn record(
    connection: &mut AnyConnection,
    kind: AuditEventType,
    at: DateTime<Utc>,
    event: Event<'_>,
) -> Result<(), StoreError> {
    let entry = AuditEntry {
        sequence: 0,
        recorded_at: Some(to_timestamp(at)),
        event_type: kind as i32,
        actor_staff_id: event.actor_staff_id.to_owned(),
        authorization_id: event.authorization_id.to_owned(),
        passbook_number: event.passbook_number.to_owned(),
        deposit_id: event.deposit_id.to_owned(),
        reason: event.reason.to_owned(),
        details_json: event
            .details
            .map(|details| details.to_string())
            .unwrap_or_default(),
        envelopes: event.envelopes.into_iter().map(envelope_to_proto).collect(),
    };
    store::append_audit(connection, entry).await?;
    Ok(())
}

/// Converts a stored record to its protobuf message.
pub fn record_to_proto(row: &AuditRow) -> AuditRecord {
    AuditRecord {
        entry: row.entry.clone(),
        entry_decoded: AuditEntry::decode(row.entry.as_slice()).ok(),
        previous_sha256: row.previous_sha256.clone(),
        record_sha256: row.record_sha256.clone(),
    }
}

/// A problem the verifier found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditProblem {
    #[error(
        "record {sequence}: its authorization_id or passbook_number column differs from its entry; \
         the record was moved between trails"
    )]
    IndexMismatch { sequence: i64 },
    #[error(
        "the log does not contain the expected head record {sequence} with hash {expected}; it was truncated or rewritten"
    )]
    HeadMismatch { sequence: i64, expected: String },
    #[error("record {sequence}: expected sequence {expected}; a record is missing or out of order")]
    SequenceGap { sequence: i64, expected: i64 },
    #[error(
        "record {sequence}: previous hash does not match record {previous}'s hash; a record was removed or changed"
    )]
    BrokenChain { sequence: i64, previous: i64 },
    #[error("record {sequence}: stored hash does not match its content; the record was changed")]
    HashMismatch { sequence: i64 },
    #[error("record {sequence}: entry does not decode")]
    Undecodable { sequence: i64 },
    #[error("record {sequence}: entry says sequence {inner}")]
    SequenceMismatch { sequence: i64, inner: i64 },
    #[error("record {sequence}: release of authorization {authorization_id}: {detail}")]
    ReleaseSignature {
        sequence: i64,
        authorization_id: String,
        detail: String,
    },
}

/// The outcome of verifying a log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub records: usize,
    pub releases_verified: usize,
    pub problems: Vec<AuditProblem>,
    /// Sequence and hash of the last record. The chain proves nothing about
    /// records after a point that an attacker rewrote or cut off together, so
    /// auditors keep the head outside the database and pass it back as the
    /// expected head next time.
    pub head: Option<(i64, String)>,
}

/// Public keys the verifier trusts: deposit-status's attestation keys and
/// the staff keys, each with its validity.
pub struct VerificationKeys {
    pub attestation: Keyring,
    pub staff: Vec<StaffKeyRow>,
}

/// Verifies the chain of `rows` (the whole log, in sequence order) and the
/// signatures of every release in it.
pub fn verify_log(rows: &[AuditRow], keys: &VerificationKeys) -> AuditReport {
    let mut report = AuditReport {
        records: rows.len(),
        head: rows.last().map(|row| (row.sequence, row.record_sha256.clone())),
        ..AuditReport::default()
    };
    let mut previous_hash = GENESIS_SHA256.to_owned();
    let mut previous_sequence = 0;
    for row in rows {
        let expected = previous_sequence + 1;
        if row.sequence != expected {
            report.problems.push(AuditProblem::SequenceGap {
                sequence: row.sequence,
                expected,
            });
        }
        if row.previous_sha256 != previous_hash {
            report.problems.push(AuditProblem::BrokenChain {
                sequence: row.sequence,
                previous: previous_sequence,
            });
        }
        if record_sha256(&row.previous_sha256, &row.entry) != row.record_sha256 {
            report.problems.push(AuditProblem::HashMismatch {
                sequence: row.sequence,
            });
        }
        match AuditEntry::decode(row.entry.as_slice()) {
            Err(_) => report.problems.push(AuditProblem::Undecodable {
                sequence: row.sequence,
            }),
            Ok(entry) => {
                if entry.sequence != row.sequence {
                    report.problems.push(AuditProblem::SequenceMismatch {
                        sequence: row.sequence,
                        inner: entry.sequence,
                    });
                }
                if entry.event_type == AuditEventType::Released as i32 {
                    match verify_release(&entry, keys) {
                        Ok(()) => report.releases_verified += 1,
                        Err(detail) => report.problems.push(AuditProblem::ReleaseSignature {
                            sequence: row.sequence,
                            authorization_id: entry.authorization_id.clone(),
                            detail,
                        }),
                    }
                }
            }
        }
        previous_hash = row.record_sha256.clone();
        previous_sequence = row.sequence;
    }
    report
}

/// Verifies the log as WithdrawalAdminService.ListAuditRecords returns it
/// (the whole log, in sequence order) with the checks of [`verify_log`], for
/// clients that have no database access.
///
/// Each record's sequence is read from its entry bytes, never from
/// `entry_decoded`. A record whose entry does not decode takes the next
/// expected sequence, and [`verify_log`] reports it as undecodable.
pub fn verify_records(records: &[AuditRecord], keys: &VerificationKeys) -> AuditReport {
    let mut rows = Vec::with_capacity(records.len());
    let mut previous_sequence = 0;
    for record in records {
        let sequence = AuditEntry::decode(record.entry.as_slice())
            .map(|entry| entry.sequence)
            .unwrap_or(previous_sequence + 1);
        rows.push(AuditRow {
            sequence,
            entry: record.entry.clone(),
            previous_sha256: record.previous_sha256.clone(),
            record_sha256: record.record_sha256.clone(),
        });
        previous_sequence = sequence;
    }
    verify_log(&rows, keys)
}

/// Checks a RELEASED entry's envelopes: the release order's attestation
/// verifies under deposit-status's keys, the teller's instruction under the
/// teller's key and names that attestation, and every co-signature under a
/// supervisor's key and names the authorization.
fn verify_release(entry: &AuditEntry, keys: &VerificationKeys) -> Result<(), String> {
    let envelopes: Vec<Envelope> = entry.envelopes.iter().map(envelope_from_proto).collect();
    let find = |payload_type: &'static str| {
        envelopes
            .iter()
            .filter(move |envelope| envelope.payload_type == payload_type)
    };

    let order_envelope = find(bank_proto::payload_type::RELEASE_ORDER)
        .next()
        .ok_or("no release order")?;
    let order = ReleaseOrder::decode(order_envelope.payload.as_slice())
        .map_err(|_| "release order does not decode")?;
    let attestation = envelope_from_proto(
        order
            .maturity_attestation
            .as_ref()
            .ok_or("order has no attestation")?,
    );
    let issued_at = order
        .authorized_at
        .as_ref()
        .and_then(|at| DateTime::<Utc>::from_timestamp(at.seconds, 0));
    let attestation_time = issued_at.ok_or("order has no authorization time")?;
    keys.attestation
        .verify(
            &attestation,
            bank_proto::payload_type::MATURITY_ATTESTATION,
            attestation_time,
        )
        .map_err(|error| format!("attestation: {error}"))?;

    let maker = find(bank_proto::payload_type::WITHDRAWAL_INSTRUCTION)
        .next()
        .or_else(|| find(bank_proto::payload_type::PASSBOOK_CLOSURE_INSTRUCTION).next())
        .ok_or("no teller instruction")?;
    let maker_key = staff_key(keys, &maker.key_id)?;
    attestation::verify_with_key(&maker_key.1, maker, &maker.payload_type)
        .map_err(|error| format!("teller signature: {error}"))?;
    let names_attestation = if maker.payload_type == bank_proto::payload_type::WITHDRAWAL_INSTRUCTION {
        let instruction = WithdrawalInstruction::decode(maker.payload.as_slice())
            .map_err(|_| "instruction does not decode")?;
        instruction.teller_staff_id == maker_key.0
            && instruction
                .maturity_attestation
                .as_ref()
                .map(envelope_from_proto)
                .as_ref()
                == Some(&attestation)
    } else {
        let instruction = PassbookClosureInstruction::decode(maker.payload.as_slice())
            .map_err(|_| "closure instruction does not decode")?;
        instruction.teller_staff_id == maker_key.0
            && instruction
                .maturity_attestations
                .iter()
                .map(envelope_from_proto)
                .any(|envelope| envelope == attestation)
    };
    if !names_attestation {
        return Err("the teller's instruction does not carry the released attestation".to_owned());
    }

    let mut cosigned = false;
    for checker in find(bank_proto::payload_type::CO_SIGNATURE) {
        let (supervisor_id, key) = staff_key(keys, &checker.key_id)?;
        attestation::verify_with_key(&key, checker, bank_proto::payload_type::CO_SIGNATURE)
            .map_err(|error| format!("supervisor signature: {error}"))?;
        let cosignature =
            CoSignature::decode(checker.payload.as_slice()).map_err(|_| "co-signature does not decode")?;
        if cosignature.supervisor_staff_id != supervisor_id {
            return Err("a co-signature names another supervisor than its signer".to_owned());
        }
        if supervisor_id == maker_key.0 {
            return Err("the teller co-signed their own withdrawal".to_owned());
        }
        if !cosignature
            .authorizations
            .iter()
            .any(|reference| reference.authorization_id == entry.authorization_id)
        {
            return Err("a co-signature does not name this authorization".to_owned());
        }
        cosigned = true;
    }
    if !cosigned {
        return Err("no supervisor co-signature".to_owned());
    }
    Ok(())
}

fn staff_key(keys: &VerificationKeys, key_id: &str) -> Result<(String, VerifyingKey), String> {
    let row = keys
        .staff
        .iter()
        .find(|key| key.key_id == key_id)
        .ok_or_else(|| format!("staff key {key_id} is not in the directory"))?;
    let key =
        VerifyingKey::from_bytes(&row.public_key).map_err(|error| format!("staff key {key_id}: {error}"))?;
    Ok((row.staff_id.clone(), key))
}

/// Reads the whole log and the staff keys from the database at `url`
/// (sqlite://PATH or postgres://...), without migrating or writing
/// anything, and verifies them.
pub async fn verify_database(
    url: &str,
    attestation: Keyring,
    expected_head: Option<(i64, String)>,
) -> Result<AuditReport, StoreError> {
    let database = storage::Database::open_read_only(url).await?;
    let mut connection = database.acquire().await?;
    let mut rows = Vec::new();
    // From the smallest possible sequence, so a record renumbered below 1 is
    // read and reported as out of order rather than skipped.
    let mut from = i64::MIN;
    loop {
        let page = store::list_audit_range(&mut connection, from, 1000).await?;
        let Some(last) = page.last() else { break };
        from = last.sequence + 1;
        rows.extend(page);
    }
    let index: Vec<(i64, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT sequence, authorization_id, passbook_number FROM audit_log ORDER BY sequence")
            .fetch_all(&mut *connection)
            .await?;
    let staff: Vec<StaffKeyRow> = {
        let ids: Vec<String> = sqlx::query_scalar("SELECT staff_id FROM staff ORDER BY staff_id")
            .fetch_all(&mut *connection)
            .await?;
        let mut keys = Vec::new();
        for id in ids {
            keys.extend(store::list_staff_keys(&mut connection, &id).await?);
        }
        keys
    };
    drop(connection);
    database.close().await;

    let mut report = verify_log(&rows, &VerificationKeys { attestation, staff });
    report.problems.extend(check_index_columns(&rows, &index));
    if let Some((sequence, expected)) = expected_head {
        let found = rows
            .iter()
            .any(|row| row.sequence == sequence && row.record_sha256 == expected);
        if !found {
            report
                .problems
                .push(AuditProblem::HeadMismatch { sequence, expected });
        }
    }
    Ok(report)
}

/// Checks that the lookup columns `GetAuditTrail` selects by match the
/// hashed entries, so a record cannot be hidden from one trail or added to
/// another without detection.
fn check_index_columns(
    rows: &[AuditRow],
    index: &[(i64, Option<String>, Option<String>)],
) -> Vec<AuditProblem> {
    let mut problems = Vec::new();
    for row in rows {
        let Ok(entry) = AuditEntry::decode(row.entry.as_slice()) else {
            continue;
        };
        let expected = (
            (!entry.authorization_id.is_empty()).then_some(entry.authorization_id),
            (!entry.passbook_number.is_empty()).then_some(entry.passbook_number),
        );
        let stored = index
            .iter()
            .find(|(sequence, _, _)| *sequence == row.sequence)
            .map(|(_, authorization_id, passbook_number)| {
                (authorization_id.clone(), passbook_number.clone())
            });
        if stored.as_ref() != Some(&expected) {
            problems.push(AuditProblem::IndexMismatch {
                sequence: row.sequence,
            });
        }
    }
    problems
}
