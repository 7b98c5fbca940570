//! Verification of one envelope against one known key.

use crate::envelope::Envelope;
use crate::error::{VerifyError, quote_untrusted};
use crate::pae::pae;
use crate::verifying_key::{SIGNATURE_LENGTH, VerifyingKey};

/// Verifies `envelope` against a single known key, e.g. a staff member's key,
/// and returns the verified payload bytes.
///
/// The checks run in this order, and each failure has its own [`VerifyError`] variant:
/// 1. the payload type is `expected_payload_type`,
/// 2. the envelope's key id is `key`'s id,
/// 3. the signature is 64 bytes long,
/// 4. the signature verifies under `key` (with `verify_strict`).
///
/// Decode only the returned bytes, and only after this returns `Ok`.
pub fn verify_with_key<'e>(
    key: &VerifyingKey,
    envelope: &'e Envelope,
    expected_payload_type: &str,
) -> Result<&'e [u8], VerifyError> {
    check_payload_type(envelope, expected_payload_type)?;
    check_key_and_signature(key, envelope)?;
    Ok(&envelope.payload)
}

/// Rejects an envelope whose payload type is not `expected_payload_type`.
pub(crate) fn check_payload_type(
    envelope: &Envelope,
    expected_payload_type: &str,
) -> Result<(), VerifyError> {
    if envelope.payload_type != expected_payload_type {
        return Err(VerifyError::PayloadTypeMismatch {
            expected: expected_payload_type.to_string(),
            actual: quote_untrusted(&envelope.payload_type),
        });
    }
    Ok(())
}

/// Checks that the envelope names `key`, that its signature is well-formed and
/// that the signature verifies under `key`.
pub(crate) fn check_key_and_signature(key: &VerifyingKey, envelope: &Envelope) -> Result<(), VerifyError> {
    let key_id = key.key_id();
    if envelope.key_id != key_id {
        return Err(VerifyError::KeyIdMismatch {
            envelope_key_id: quote_untrusted(&envelope.key_id),
            key_id,
        });
    }

    let signature_bytes: &[u8; SIGNATURE_LENGTH] =
        envelope
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| VerifyError::MalformedSignature {
                expected: SIGNATURE_LENGTH,
                actual: envelope.signature.len(),
            })?;
    let signature = ed25519_dalek::Signature::from_bytes(signature_bytes);

    let message = pae(&envelope.payload_type, &envelope.payload);
    if !key.verify_strict(&message, &signature) {
        return Err(VerifyError::InvalidSignature { key_id });
    }
    Ok(())
}
