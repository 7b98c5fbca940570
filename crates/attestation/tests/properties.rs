//! Property tests: any single bit flip breaks verification, and no input panics.

use std::sync::LazyLock;

use attestation::{KeyError, SigningKey, VerifyError, VerifyingKey, verify_with_key};
use proptest::prelude::*;

/// One key for all cases, because the properties are about envelopes, not keys.
static KEY: LazyLock<SigningKey> = LazyLock::new(SigningKey::generate);

fn payload_type_strategy() -> impl Strategy<Value = String> {
    "[ -~]{0,64}"
}

fn payload_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..512)
}

proptest! {
    #[test]
    fn payload_bit_flip_fails(
        payload_type in payload_type_strategy(),
        payload in payload_strategy().prop_filter("non-empty", |payload| !payload.is_empty()),
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut envelope = KEY.sign(&payload_type, payload);
        let index = position.index(envelope.payload.len());

        envelope.payload[index] ^= 1 << bit;

        let result = verify_with_key(&KEY.verifying_key(), &envelope, &payload_type);
        prop_assert_eq!(result, Err(VerifyError::InvalidSignature { key_id: KEY.key_id() }));
    }

    #[test]
    fn signature_bit_flip_fails(
        payload_type in payload_type_strategy(),
        payload in payload_strategy(),
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut envelope = KEY.sign(&payload_type, payload);
        let index = position.index(envelope.signature.len());

        envelope.signature[index] ^= 1 << bit;

        let result = verify_with_key(&KEY.verifying_key(), &envelope, &payload_type);
        prop_assert_eq!(result, Err(VerifyError::InvalidSignature { key_id: KEY.key_id() }));
    }

    #[test]
    fn payload_type_bit_flip_fails(
        payload_type in "[ -~]{1,64}",
        payload in payload_strategy(),
        position in any::<prop::sample::Index>(),
        bit in 0u8..7,
    ) {
        // Flipping one of the low 7 bits of an ASCII byte keeps the type valid UTF-8.
        let mut envelope = KEY.sign(&payload_type, payload);
        let mut type_bytes = envelope.payload_type.into_bytes();
        let index = position.index(type_bytes.len());
        type_bytes[index] ^= 1 << bit;
        envelope.payload_type = String::from_utf8(type_bytes).unwrap();

        // The caller expects the altered type, so only the signature can catch it.
        let expected_type = envelope.payload_type.clone();
        let result = verify_with_key(&KEY.verifying_key(), &envelope, &expected_type);
        prop_assert_eq!(result, Err(VerifyError::InvalidSignature { key_id: KEY.key_id() }));
    }

    #[test]
    fn unaltered_envelope_verifies(
        payload_type in payload_type_strategy(),
        payload in payload_strategy(),
    ) {
        let envelope = KEY.sign(&payload_type, payload.clone());

        let result = verify_with_key(&KEY.verifying_key(), &envelope, &payload_type);

        prop_assert_eq!(result, Ok(payload.as_slice()));
    }

    #[test]
    fn arbitrary_text_never_panics_as_pem(text in ".{0,300}") {
        let private_result = SigningKey::from_pkcs8_pem(&text);
        let public_result = VerifyingKey::from_public_key_pem(&text);

        let private_rejected = matches!(private_result, Err(KeyError::InvalidPrivateKey { .. }));
        let public_rejected = matches!(public_result, Err(KeyError::InvalidPublicKey { .. }));
        prop_assert!(private_rejected, "private key input was not rejected");
        prop_assert!(public_rejected, "public key input was not rejected");
    }

    #[test]
    fn arbitrary_base64_body_never_panics(body in "[A-Za-z0-9+/]{0,200}={0,2}") {
        let private_pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
        let public_pem = format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n");

        // Random bytes can form a valid key only with negligible probability,
        // so the property checked is the absence of a panic.
        let _ = SigningKey::from_pkcs8_pem(&private_pem);
        let _ = VerifyingKey::from_public_key_pem(&public_pem);
    }

    #[test]
    fn arbitrary_raw_public_key_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let result = VerifyingKey::from_bytes(&bytes);

        if bytes.len() != 32 {
            let rejected = matches!(result, Err(KeyError::InvalidPublicKey { .. }));
            prop_assert!(rejected, "{} bytes were not rejected", bytes.len());
        }
    }
}
