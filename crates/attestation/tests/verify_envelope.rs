//! Signing and verification of envelopes through a keyring and with a single key.

use attestation::{Envelope, Keyring, KeyringError, SigningKey, VerifyError, VerifyingKey, verify_with_key};
use chrono::{DateTime, Duration, TimeZone, Utc};

const ATTESTATION_TYPE: &str = "application/vnd.bank.deposit-attestation.v1+protobuf";
const RELEASE_ORDER_TYPE: &str = "application/vnd.bank.release-order.v1+protobuf";

fn instant(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 0, 0, 0).unwrap()
}

/// Returns a keyring with `key` valid from 2025-01-01 with no end.
fn keyring_with(key: &SigningKey) -> Keyring {
    let mut keyring = Keyring::new();
    keyring
        .insert(key.verifying_key(), instant(2025, 1, 1), None)
        .unwrap();
    keyring
}

#[test]
fn round_trip_through_keyring() {
    let key = SigningKey::generate();
    let keyring = keyring_with(&key);
    let payload = b"\x08\x96\x01 deposit 42".to_vec();

    let envelope = key.sign(ATTESTATION_TYPE, payload.clone());
    let verified = keyring.verify(&envelope, ATTESTATION_TYPE, instant(2025, 6, 1));

    assert_eq!(verified, Ok(payload.as_slice()));
    assert_eq!(envelope.payload_type, ATTESTATION_TYPE);
    assert_eq!(envelope.key_id, key.key_id());
    assert_eq!(envelope.signature.len(), 64);
}

#[test]
fn round_trip_with_single_key() {
    let key = SigningKey::generate();
    let envelope = key.sign(RELEASE_ORDER_TYPE, b"release 100.00".as_slice());

    let verified = verify_with_key(&key.verifying_key(), &envelope, RELEASE_ORDER_TYPE);

    assert_eq!(verified, Ok(b"release 100.00".as_slice()));
}

#[test]
fn round_trip_empty_payload() {
    let key = SigningKey::generate();
    let keyring = keyring_with(&key);

    let envelope = key.sign(ATTESTATION_TYPE, Vec::new());

    assert_eq!(
        keyring.verify(&envelope, ATTESTATION_TYPE, instant(2025, 6, 1)),
        Ok(&[][..])
    );
}

#[test]
fn signing_is_deterministic() {
    // Ed25519 signatures (RFC 8032) depend only on the key and the message.
    let key = SigningKey::generate();

    let first = key.sign(ATTESTATION_TYPE, b"same".as_slice());
    let second = key.sign(ATTESTATION_TYPE, b"same".as_slice());

    assert_eq!(first, second);
}

#[test]
fn tampered_payload_byte_rejected() {
    let key = SigningKey::generate();
    let keyring = keyring_with(&key);
    let mut envelope = key.sign(ATTESTATION_TYPE, b"amount=100".to_vec());

    envelope.payload[7] = b'9';

    assert_eq!(
        keyring.verify(&envelope, ATTESTATION_TYPE, instant(2025, 6, 1)),
        Err(VerifyError::InvalidSignature { key_id: key.key_id() })
    );
}

#[test]
fn appended_payload_byte_rejected() {
    let key = SigningKey::generate();
    let mut envelope = key.sign(ATTESTATION_TYPE, b"amount=100".to_vec());

    envelope.payload.push(b'0');

    let result = verify_with_key(&key.verifying_key(), &envelope, ATTESTATION_TYPE);
    assert!(
        matches!(result, Err(VerifyError::InvalidSignature { .. })),
        "{result:?}"
    );
}

#[test]
fn payload_type_swap_rejected() {
    // A release order presented as an attestation must not verify, even though
    // the caller asks for exactly the type the envelope now claims.
    let key = SigningKey::generate();
    let keyring = keyring_with(&key);
    let mut envelope = key.sign(RELEASE_ORDER_TYPE, b"payload".to_vec());

    envelope.payload_type = ATTESTATION_TYPE.to_string();

    assert_eq!(
        keyring.verify(&envelope, ATTESTATION_TYPE, instant(2025, 6, 1)),
        Err(VerifyError::InvalidSignature { key_id: key.key_id() })
    );
    assert_eq!(
        verify_with_key(&key.verifying_key(), &envelope, ATTESTATION_TYPE),
        Err(VerifyError::InvalidSignature { key_id: key.key_id() })
    );
}

#[test]
fn payload_type_swap_of_same_length_rejected() {
    // With equal lengths, only the type bytes in the signed message differ.
    let key = SigningKey::generate();
    let mut envelope = key.sign("application/vnd.bank.type-a", b"payload".to_vec());

    envelope.payload_type = "application/vnd.bank.type-b".to_string();

    assert_eq!(
        verify_with_key(&key.verifying_key(), &envelope, "application/vnd.bank.type-b"),
        Err(VerifyError::InvalidSignature { key_id: key.key_id() })
    );
}

#[test]
fn payload_type_mismatch_rejected() {
    let key = SigningKey::generate();
    let keyring = keyring_with(&key);
    let envelope = key.sign(RELEASE_ORDER_TYPE, b"payload".to_vec());

    assert_eq!(
        keyring.verify(&envelope, ATTESTATION_TYPE, instant(2025, 6, 1)),
        Err(VerifyError::PayloadTypeMismatch {
            expected: ATTESTATION_TYPE.to_string(),
            actual: RELEASE_ORDER_TYPE.to_string(),
        })
    );
    assert_eq!(
        verify_with_key(&key.verifying_key(), &envelope, ATTESTATION_TYPE),
        Err(VerifyError::PayloadTypeMismatch {
            expected: ATTESTATION_TYPE.to_string(),
            actual: RELEASE_ORDER_TYPE.to_string(),
        })
    );
}

#[test]
fn payload_type_is_case_sensitive() {
    let key = SigningKey::generate();
    let envelope = key.sign("application/vnd.bank.x", b"p".to_vec());

    let result = verify_with_key(&key.verifying_key(), &envelope, "application/vnd.bank.X");

    assert!(
        matches!(result, Err(VerifyError::PayloadTypeMismatch { .. })),
        "{result:?}"
    );
}

#[test]
fn wrong_key_claiming_known_key_id_rejected() {
    let trusted = SigningKey::generate();
    let attacker = SigningKey::generate();
    let keyring = keyring_with(&trusted);

    let mut envelope = attacker.sign(ATTESTATION_TYPE, b"forged".to_vec());
    envelope.key_id = trusted.key_id();

    assert_eq!(
        keyring.verify(&envelope, ATTESTATION_TYPE, instant(2025, 6, 1)),
        Err(VerifyError::InvalidSignature {
            key_id: trusted.key_id()
        })
    );
    assert_eq!(
        verify_with_key(&trusted.verifying_key(), &envelope, ATTESTATION_TYPE),
        Err(VerifyError::InvalidSignature {
            key_id: trusted.key_id()
        })
    );
}

#[test]
fn single_key_rejects_other_key_id() {
    let teller = SigningKey::generate();
    let supervisor = SigningKey::generate();
    let envelope = supervisor.sign(ATTESTATION_TYPE, b"approve".to_vec());

    assert_eq!(
        verify_with_key(&teller.verifying_key(), &envelope, ATTESTATION_TYPE),
        Err(VerifyError::KeyIdMismatch {
            envelope_key_id: supervisor.key_id(),
            key_id: teller.key_id(),
        })
    );
}

#[test]
fn unknown_key_id_rejected() {
    let published = SigningKey::generate();
    let unpublished = SigningKey::generate();
    let keyring = keyring_with(&published);

    let envelope = unpublished.sign(ATTESTATION_TYPE, b"payload".to_vec());

    assert_eq!(
        keyring.verify(&envelope, ATTESTATION_TYPE, instant(2025, 6, 1)),
        Err(VerifyError::UnknownKeyId {
            key_id: unpublished.key_id()
        })
    );
}

#[test]
fn empty_keyring_rejects_everything() {
    let key = SigningKey::generate();
    let keyring = Keyring::new();
    let envelope = key.sign(ATTESTATION_TYPE, b"payload".to_vec());

    let result = keyring.verify(&envelope, ATTESTATION_TYPE, instant(2025, 6, 1));

    assert!(
        matches!(result, Err(VerifyError::UnknownKeyId { .. })),
        "{result:?}"
    );
}

#[test]
fn expired_key_rejected() {
    let key = SigningKey::generate();
    let valid_from = instant(2025, 1, 1);
    let valid_until = instant(2025, 7, 1);
    let mut keyring = Keyring::new();
    keyring
        .insert(key.verifying_key(), valid_from, Some(valid_until))
        .unwrap();
    let envelope = key.sign(ATTESTATION_TYPE, b"payload".to_vec());

    let expected_error = |at| VerifyError::KeyNotValidAt {
        key_id: key.key_id(),
        at,
        valid_from,
        valid_until: Some(valid_until),
    };

    // valid_until is exclusive.
    assert_eq!(
        keyring.verify(&envelope, ATTESTATION_TYPE, valid_until),
        Err(expected_error(valid_until))
    );
    let later = instant(2026, 1, 1);
    assert_eq!(
        keyring.verify(&envelope, ATTESTATION_TYPE, later),
        Err(expected_error(later))
    );
    let last_valid = valid_until - Duration::nanoseconds(1);
    assert_eq!(
        keyring.verify(&envelope, ATTESTATION_TYPE, last_valid),
        Ok(b"payload".as_slice())
    );
}

#[test]
fn not_yet_valid_key_rejected() {
    let key = SigningKey::generate();
    let valid_from = instant(2025, 1, 1);
    let keyring = keyring_with(&key);
    let envelope = key.sign(ATTESTATION_TYPE, b"payload".to_vec());

    let before = valid_from - Duration::nanoseconds(1);
    assert_eq!(
        keyring.verify(&envelope, ATTESTATION_TYPE, before),
        Err(VerifyError::KeyNotValidAt {
            key_id: key.key_id(),
            at: before,
            valid_from,
            valid_until: None,
        })
    );
    // valid_from is inclusive.
    assert_eq!(
        keyring.verify(&envelope, ATTESTATION_TYPE, valid_from),
        Ok(b"payload".as_slice())
    );
}

#[test]
fn key_not_valid_message_names_period() {
    let key = SigningKey::generate();
    let keyring = keyring_with(&key);
    let envelope = key.sign(ATTESTATION_TYPE, b"payload".to_vec());

    let error = keyring
        .verify(&envelope, ATTESTATION_TYPE, instant(2024, 1, 1))
        .unwrap_err();

    let message = error.to_string();
    assert!(message.contains(&key.key_id()), "{message}");
    assert!(message.contains("2024-01-01 00:00:00 UTC"), "{message}");
    assert!(
        message.contains("valid from 2025-01-01 00:00:00 UTC with no end"),
        "{message}"
    );
}

#[test]
fn rotation_accepts_old_and_new_keys() {
    let old_key = SigningKey::generate();
    let new_key = SigningKey::generate();
    let mut keyring = Keyring::new();
    keyring
        .insert(
            old_key.verifying_key(),
            instant(2024, 1, 1),
            Some(instant(2025, 7, 1)),
        )
        .unwrap();
    keyring
        .insert(new_key.verifying_key(), instant(2025, 6, 1), None)
        .unwrap();
    let from_old = old_key.sign(ATTESTATION_TYPE, b"old".to_vec());
    let from_new = new_key.sign(ATTESTATION_TYPE, b"new".to_vec());

    // During the overlap both keys verify.
    let overlap = instant(2025, 6, 15);
    assert_eq!(
        keyring.verify(&from_old, ATTESTATION_TYPE, overlap),
        Ok(b"old".as_slice())
    );
    assert_eq!(
        keyring.verify(&from_new, ATTESTATION_TYPE, overlap),
        Ok(b"new".as_slice())
    );

    // After the old key's period ends only the new key verifies.
    let after = instant(2025, 8, 1);
    assert!(matches!(
        keyring.verify(&from_old, ATTESTATION_TYPE, after),
        Err(VerifyError::KeyNotValidAt { .. })
    ));
    assert_eq!(
        keyring.verify(&from_new, ATTESTATION_TYPE, after),
        Ok(b"new".as_slice())
    );
    assert_eq!(keyring.len(), 2);
}

#[test]
fn short_signature_is_malformed() {
    let key = SigningKey::generate();
    let keyring = keyring_with(&key);
    let mut envelope = key.sign(ATTESTATION_TYPE, b"payload".to_vec());

    envelope.signature.pop();

    assert_eq!(
        keyring.verify(&envelope, ATTESTATION_TYPE, instant(2025, 6, 1)),
        Err(VerifyError::MalformedSignature {
            expected: 64,
            actual: 63
        })
    );
}

#[test]
fn empty_and_huge_signatures_are_malformed() {
    let key = SigningKey::generate();
    let verifying_key = key.verifying_key();
    let mut envelope = key.sign(ATTESTATION_TYPE, b"payload".to_vec());

    for length in [0, 1, 65, 128, 1 << 20] {
        envelope.signature = vec![0xab; length];

        assert_eq!(
            verify_with_key(&verifying_key, &envelope, ATTESTATION_TYPE),
            Err(VerifyError::MalformedSignature {
                expected: 64,
                actual: length
            }),
            "signature length {length}"
        );
    }
}

#[test]
fn all_zero_signature_rejected() {
    let key = SigningKey::generate();
    let mut envelope = key.sign(ATTESTATION_TYPE, b"payload".to_vec());

    envelope.signature = vec![0; 64];

    assert_eq!(
        verify_with_key(&key.verifying_key(), &envelope, ATTESTATION_TYPE),
        Err(VerifyError::InvalidSignature { key_id: key.key_id() })
    );
}

#[test]
fn checks_run_in_documented_order() {
    let key = SigningKey::generate();
    let mut keyring = Keyring::new();
    keyring
        .insert(
            key.verifying_key(),
            instant(2025, 1, 1),
            Some(instant(2025, 2, 1)),
        )
        .unwrap();
    let expired = instant(2026, 1, 1);
    let valid = instant(2025, 1, 15);
    let mut envelope = key.sign(ATTESTATION_TYPE, b"payload".to_vec());
    envelope.signature.truncate(10);

    // Every check but the first would fail too: the key is expired and the signature short.
    let mut wrong_type_and_unknown_key = envelope.clone();
    wrong_type_and_unknown_key.key_id = "ed25519:unknown".to_string();
    assert!(matches!(
        keyring.verify(&wrong_type_and_unknown_key, RELEASE_ORDER_TYPE, expired),
        Err(VerifyError::PayloadTypeMismatch { .. })
    ));
    assert!(matches!(
        keyring.verify(&wrong_type_and_unknown_key, ATTESTATION_TYPE, expired),
        Err(VerifyError::UnknownKeyId { .. })
    ));
    assert!(matches!(
        keyring.verify(&envelope, ATTESTATION_TYPE, expired),
        Err(VerifyError::KeyNotValidAt { .. })
    ));
    assert!(matches!(
        keyring.verify(&envelope, ATTESTATION_TYPE, valid),
        Err(VerifyError::MalformedSignature { .. })
    ));
}

#[test]
fn long_envelope_strings_are_cut_in_errors() {
    let key = SigningKey::generate();
    let keyring = keyring_with(&key);
    let mut envelope = key.sign(ATTESTATION_TYPE, b"payload".to_vec());
    envelope.key_id = "k".repeat(1 << 20);

    let error = keyring
        .verify(&envelope, ATTESTATION_TYPE, instant(2025, 6, 1))
        .unwrap_err();

    assert_eq!(
        error,
        VerifyError::UnknownKeyId {
            key_id: format!("{}...", "k".repeat(128))
        }
    );
}

#[test]
fn error_messages_are_lower_case() {
    let key = SigningKey::generate();
    let keyring = keyring_with(&key);
    let envelope = key.sign(ATTESTATION_TYPE, b"payload".to_vec());
    let errors = [
        keyring
            .verify(&envelope, RELEASE_ORDER_TYPE, instant(2025, 6, 1))
            .unwrap_err(),
        Keyring::new()
            .verify(&envelope, ATTESTATION_TYPE, instant(2025, 6, 1))
            .unwrap_err(),
        keyring
            .verify(&envelope, ATTESTATION_TYPE, instant(2024, 6, 1))
            .unwrap_err(),
    ];

    for error in errors {
        let message = error.to_string();
        let first = message.chars().next().unwrap();
        assert!(first.is_lowercase(), "{message}");
    }
}

#[test]
fn keyring_rejects_duplicate_key() {
    let key = SigningKey::generate();
    let mut keyring = keyring_with(&key);

    let result = keyring.insert(key.verifying_key(), instant(2026, 1, 1), None);

    assert_eq!(result, Err(KeyringError::DuplicateKeyId { key_id: key.key_id() }));
    assert_eq!(keyring.len(), 1);
}

#[test]
fn keyring_rejects_empty_validity_period() {
    let key = SigningKey::generate();
    let mut keyring = Keyring::new();
    let start = instant(2025, 1, 1);

    for valid_until in [start, start - Duration::days(1)] {
        let result = keyring.insert(key.verifying_key(), start, Some(valid_until));

        assert_eq!(
            result,
            Err(KeyringError::EmptyValidityPeriod {
                key_id: key.key_id(),
                valid_from: start,
                valid_until,
            })
        );
    }
    assert!(keyring.is_empty());
}

#[test]
fn keyring_insert_get_remove() {
    let key = SigningKey::generate();
    let mut keyring = Keyring::new();
    let valid_from = instant(2025, 1, 1);
    let valid_until = Some(instant(2026, 1, 1));

    let key_id = keyring
        .insert(key.verifying_key(), valid_from, valid_until)
        .unwrap();

    assert_eq!(key_id, key.key_id());
    let entry = keyring.get(&key_id).unwrap();
    assert_eq!(*entry.key(), key.verifying_key());
    assert_eq!(entry.valid_from(), valid_from);
    assert_eq!(entry.valid_until(), valid_until);

    let removed = keyring.remove(&key_id).unwrap();
    assert_eq!(removed.key(), &key.verifying_key());
    assert!(keyring.get(&key_id).is_none());
    assert!(keyring.is_empty());
}

#[test]
fn key_id_is_derived_from_public_key() {
    let key = SigningKey::generate();
    let other = SigningKey::generate();

    let key_id = key.key_id();

    assert!(key_id.starts_with("ed25519:"), "{key_id}");
    let hex_part = &key_id["ed25519:".len()..];
    assert_eq!(hex_part.len(), 32);
    assert!(
        hex_part
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{key_id}"
    );
    assert_eq!(key_id, key.verifying_key().key_id());
    let same_key = VerifyingKey::from_bytes(&key.verifying_key().to_bytes()).unwrap();
    assert_eq!(same_key.key_id(), key_id);
    assert_ne!(other.key_id(), key_id);
}

#[test]
fn envelope_fields_are_public_for_transport() {
    // The transport layer copies the fields to and from its own message type.
    let key = SigningKey::generate();
    let signed = key.sign(ATTESTATION_TYPE, b"payload".to_vec());

    let received = Envelope {
        payload_type: signed.payload_type.clone(),
        payload: signed.payload.clone(),
        key_id: signed.key_id.clone(),
        signature: signed.signature.clone(),
    };

    assert_eq!(
        verify_with_key(&key.verifying_key(), &received, ATTESTATION_TYPE),
        Ok(b"payload".as_slice())
    );
}
