//! Ed25519 public keys, their key ids and their PEM form.

use std::fmt;
use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::{self, LineEnding};
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use sha2::{Digest, Sha256};

use crate::error::KeyError;
use crate::key_file::{create_key_file, read_key_file};

/// Prefix of every key id. It names the algorithm, so that keys of another
/// algorithm added later cannot share an id with an Ed25519 key.
pub const KEY_ID_PREFIX: &str = "ed25519:";

/// Length in bytes of an Ed25519 signature.
pub const SIGNATURE_LENGTH: usize = ed25519_dalek::SIGNATURE_LENGTH;

/// Number of leading SHA-256 bytes of the public key that form a key id.
const KEY_ID_DIGEST_BYTES: usize = 16;

/// Returns whether `text` has the form of a key id: [`KEY_ID_PREFIX`]
/// followed by 32 lowercase hex digits, as [`VerifyingKey::key_id`] writes it.
///
/// No key has an id of any other form, so a verifier can treat any other
/// text as an unknown key id without looking it up. That keeps NUL bytes,
/// control characters and huge strings out of database queries.
pub fn is_well_formed_key_id(text: &str) -> bool {
    text.strip_prefix(KEY_ID_PREFIX).is_some_and(|digest| {
        digest.len() == 2 * KEY_ID_DIGEST_BYTES
            && digest
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// PEM label of a SubjectPublicKeyInfo (RFC 7468, section 13).
const PUBLIC_KEY_PEM_LABEL: &str = "PUBLIC KEY";

/// Permission bits of a public key file written on Unix.
const PUBLIC_KEY_FILE_MODE: u32 = 0o644;

/// Ed25519 public key that verifies envelopes.
///
/// Construction rejects byte strings that are not a point on the curve and
/// weak (small-order) keys, under which a forged signature could verify.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifyingKey {
    inner: ed25519_dalek::VerifyingKey,
}

impl VerifyingKey {
    /// Parses a raw 32-byte Ed25519 public key (the compressed Edwards point of RFC 8032).
    ///
    /// Takes a slice so that bytes from a message field can be passed as they
    /// are. A length other than 32 is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let invalid = |reason: String| KeyError::InvalidPublicKey { path: None, reason };

        let bytes: &[u8; ed25519_dalek::PUBLIC_KEY_LENGTH] = bytes.try_into().map_err(|_| {
            invalid(format!(
                "expected {} bytes, got {}",
                ed25519_dalek::PUBLIC_KEY_LENGTH,
                bytes.len()
            ))
        })?;
        let inner = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| invalid("the bytes are not a point on the Ed25519 curve".to_string()))?;
        Self::from_dalek(inner).map_err(invalid)
    }

    /// Returns the raw 32-byte form of the key.
    pub fn to_bytes(&self) -> [u8; ed25519_dalek::PUBLIC_KEY_LENGTH] {
        self.inner.to_bytes()
    }

    /// Parses an Ed25519 SubjectPublicKeyInfo in PEM form ("-----BEGIN PUBLIC KEY-----").
    pub fn from_public_key_pem(pem_text: &str) -> Result<Self, KeyError> {
        let invalid = |reason: String| KeyError::InvalidPublicKey { path: None, reason };

        // Checking the label first gives a clear error for a private key passed
        // by mistake, without decoding the private key material.
        let label = pem::decode_label(pem_text.as_bytes())
            .map_err(|error| invalid(format!("not PEM text ({error})")))?;
        if label != PUBLIC_KEY_PEM_LABEL {
            return Err(invalid(format!(
                "unexpected PEM label {label:?}, expected {PUBLIC_KEY_PEM_LABEL:?}"
            )));
        }

        let inner = ed25519_dalek::VerifyingKey::from_public_key_pem(pem_text)
            .map_err(|error| invalid(format!("not an Ed25519 public key ({error})")))?;
        Self::from_dalek(inner).map_err(invalid)
    }

    /// Encodes the key as an SPKI PEM document ("-----BEGIN PUBLIC KEY-----") with LF line endings.
    pub fn to_public_key_pem(&self) -> Result<String, KeyError> {
        self.inner
            .to_public_key_pem(LineEnding::LF)
            .map_err(|error| KeyError::Encode {
                reason: error.to_string(),
            })
    }

    /// Reads a public key PEM file written by [`VerifyingKey::write_pem_file`]
    /// or by `openssl pkey -pubout`.
    pub fn read_pem_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let text = read_key_file(path)?;
        Self::from_public_key_pem(&text).map_err(|error| error.with_path(path))
    }

    /// Writes the key as a new PEM file, readable by everyone (mode 0644 on Unix).
    ///
    /// Fails with [`KeyError::FileExists`] if anything already exists at `path`.
    pub fn write_pem_file(&self, path: impl AsRef<Path>) -> Result<(), KeyError> {
        let text = self.to_public_key_pem()?;
        create_key_file(path.as_ref(), text.as_bytes(), PUBLIC_KEY_FILE_MODE)
    }

    /// Returns the key id: [`KEY_ID_PREFIX`] followed by the first 16 bytes of
    /// SHA-256 over the raw 32-byte public key, as 32 lowercase hex digits.
    ///
    /// The id is derived from the key rather than assigned, so the same id can
    /// never be given to two different keys by mistake. Finding a second key with
    /// a given id takes about 2^128 hash evaluations. An attacker who makes two
    /// keys with one id (about 2^64 evaluations) gains nothing, because each
    /// signature is still checked against the key's own bytes.
    pub fn key_id(&self) -> String {
        let digest = Sha256::digest(self.inner.as_bytes());
        format!("{KEY_ID_PREFIX}{}", hex::encode(&digest[..KEY_ID_DIGEST_BYTES]))
    }

    /// Verifies an Ed25519 signature over `message` with `verify_strict`, which
    /// also rejects non-canonical signatures.
    pub(crate) fn verify_strict(&self, message: &[u8], signature: &ed25519_dalek::Signature) -> bool {
        self.inner.verify_strict(message, signature).is_ok()
    }

    /// Returns the public half of `signing_key`.
    ///
    /// Skips the weak-key check, because this key cannot be weak. It is the base
    /// point, of prime order l, times a clamped scalar: a multiple of 8 in
    /// [2^254, 2^255). No such scalar is a multiple of l, so the point has order l.
    pub(crate) fn of_signing_key(signing_key: &ed25519_dalek::SigningKey) -> Self {
        Self {
            inner: signing_key.verifying_key(),
        }
    }

    /// Wraps a key of the underlying library, rejecting weak keys.
    pub(crate) fn from_dalek(inner: ed25519_dalek::VerifyingKey) -> Result<Self, String> {
        if inner.is_weak() {
            return Err("the key is a weak (small-order) point".to_string());
        }
        Ok(Self { inner })
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_tuple("VerifyingKey")
            .field(&self.key_id())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_is_prefix_and_hex_of_sha256() {
        // RFC 8032, section 7.1, test 1 public key.
        let bytes = hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a").unwrap();
        let key = VerifyingKey::from_bytes(&bytes).unwrap();

        let digest = Sha256::digest(&bytes);
        let expected = format!("ed25519:{}", hex::encode(&digest[..16]));
        assert_eq!(key.key_id(), expected);
        assert_eq!(key.key_id().len(), "ed25519:".len() + 32);
    }

    #[test]
    fn well_formed_key_id_accepts_derived_ids() {
        for _ in 0..20 {
            let key_id = crate::SigningKey::generate().key_id();
            assert!(is_well_formed_key_id(&key_id), "{key_id}");
        }
    }

    #[test]
    fn well_formed_key_id_rejects_other_text() {
        let valid = format!("ed25519:{}", "0123456789abcdef".repeat(2));
        assert!(is_well_formed_key_id(&valid));

        let long = "x".repeat(100_000);
        let cases = [
            String::new(),
            "ed25519:".to_owned(),
            format!("{valid}\0"),
            format!("\0{valid}"),
            format!("{valid}\n"),
            valid.to_uppercase(),
            valid.replace("ed25519:", "ED25519:"),
            valid.replace("ed25519:", "rsa:"),
            format!("{valid}0"),
            valid[..valid.len() - 1].to_owned(),
            format!("ed25519:{}", "g".repeat(32)),
            format!("ed25519:{}", "é".repeat(16)),
            long,
        ];
        for case in cases {
            let start: String = case.chars().take(50).collect();
            assert!(!is_well_formed_key_id(&case), "{start:?} accepted");
        }
    }

    #[test]
    fn from_bytes_rejects_wrong_length() {
        let error = VerifyingKey::from_bytes(&[0u8; 31]).unwrap_err();
        assert!(error.to_string().contains("expected 32 bytes, got 31"), "{error}");
    }

    #[test]
    fn from_bytes_rejects_weak_key() {
        // The identity point (y = 1) has order 1, so it is a weak key.
        let mut identity = [0u8; 32];
        identity[0] = 1;

        let error = VerifyingKey::from_bytes(&identity).unwrap_err();

        assert!(error.to_string().contains("weak"), "{error}");
    }
}
