//! Error types for key handling, keyring changes and verification.

use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use thiserror::Error;

/// Maximum number of characters of an envelope's own strings (payload type and
/// key id) kept in a [`VerifyError`]. Envelopes come from other parties, so an
/// error message must not copy an arbitrarily long value into the logs.
const MAX_QUOTED_CHARS: usize = 128;

/// Failure to parse, encode, read or write a key.
#[derive(Debug, Error)]
pub enum KeyError {
    /// The key file could not be opened or read.
    #[error("failed to read key file {}: {source}. Check the path and its permissions", .path.display())]
    ReadFile { path: PathBuf, source: io::Error },

    /// The key file is larger than [`crate::MAX_KEY_FILE_BYTES`].
    #[error(
        "key file {} is larger than {max_bytes} bytes, so it is not a PEM key file. Check the path",
        .path.display()
    )]
    FileTooLarge { path: PathBuf, max_bytes: u64 },

    /// A key file already exists at the path that a new key was to be written to.
    #[error(
        "key file {} already exists and keys are never overwritten. Move or delete the old file first, or choose another path",
        .path.display()
    )]
    FileExists { path: PathBuf },

    /// The key file could not be created or written. A partly written file is removed.
    #[error("failed to write key file {}: {source}. Check that the directory exists and is writable", .path.display())]
    WriteFile { path: PathBuf, source: io::Error },

    /// The PEM text is not an unencrypted PKCS#8 Ed25519 private key.
    #[error(
        "invalid private key in {}: {reason}. Expected an unencrypted PKCS#8 Ed25519 key in PEM form (\"-----BEGIN PRIVATE KEY-----\")",
        describe_source(.path.as_deref())
    )]
    InvalidPrivateKey {
        /// File the PEM text was read from, or `None` for PEM text passed directly.
        path: Option<PathBuf>,
        reason: String,
    },

    /// The PEM text or bytes are not a usable Ed25519 public key.
    #[error(
        "invalid public key in {}: {reason}. Expected an Ed25519 SubjectPublicKeyInfo in PEM form (\"-----BEGIN PUBLIC KEY-----\") or 32 raw bytes",
        describe_source(.path.as_deref())
    )]
    InvalidPublicKey {
        /// File the PEM text was read from, or `None` for input passed directly.
        path: Option<PathBuf>,
        reason: String,
    },

    /// Encoding a key as DER or PEM failed.
    #[error("failed to encode key as PEM: {reason}")]
    Encode { reason: String },
}

impl KeyError {
    /// Attaches the file path to a parse error of PEM text that was read from that file.
    pub(crate) fn with_path(self, file: &Path) -> Self {
        match self {
            KeyError::InvalidPrivateKey { reason, .. } => KeyError::InvalidPrivateKey {
                path: Some(file.to_path_buf()),
                reason,
            },
            KeyError::InvalidPublicKey { reason, .. } => KeyError::InvalidPublicKey {
                path: Some(file.to_path_buf()),
                reason,
            },
            other => other,
        }
    }
}

fn describe_source(path: Option<&Path>) -> String {
    match path {
        Some(path) => format!("key file {}", path.display()),
        None => "input".to_string(),
    }
}

/// Rejected change to a [`crate::Keyring`].
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum KeyringError {
    /// A key with this id is already in the keyring.
    #[error("key {key_id} is already in the keyring. Remove it first to change its validity period")]
    DuplicateKeyId { key_id: String },

    /// `valid_until` is not after `valid_from`, so the key would never be valid.
    #[error(
        "empty validity period for key {key_id}: valid_until {valid_until} is not after valid_from {valid_from}"
    )]
    EmptyValidityPeriod {
        key_id: String,
        valid_from: DateTime<Utc>,
        valid_until: DateTime<Utc>,
    },
}

/// Reason an envelope failed verification.
///
/// The variants are listed in the order in which [`crate::Keyring::verify`]
/// checks them. Strings copied from the envelope keep at most their first 128
/// characters.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum VerifyError {
    /// The envelope's payload type is not the one the caller expects.
    #[error("payload type mismatch: expected {expected:?}, but the envelope has {actual:?}")]
    PayloadTypeMismatch { expected: String, actual: String },

    /// No key with the envelope's key id is in the keyring.
    #[error("unknown key id {key_id:?}: no key with this id is in the keyring")]
    UnknownKeyId { key_id: String },

    /// The key is in the keyring, but `at` is before its `valid_from` or at or
    /// after its `valid_until`.
    #[error(
        "key {key_id} is not valid at {at}: it is valid from {valid_from} {}",
        describe_validity_end(.valid_until)
    )]
    KeyNotValidAt {
        key_id: String,
        at: DateTime<Utc>,
        valid_from: DateTime<Utc>,
        valid_until: Option<DateTime<Utc>>,
    },

    /// The envelope names a key id other than the id of the key that verifies it.
    #[error("key id mismatch: the envelope names key {envelope_key_id:?}, but the verifying key is {key_id}")]
    KeyIdMismatch { envelope_key_id: String, key_id: String },

    /// The signature does not have the Ed25519 length of 64 bytes.
    #[error("malformed signature: expected {expected} bytes, got {actual}")]
    MalformedSignature { expected: usize, actual: usize },

    /// The signature does not verify under the key.
    #[error(
        "invalid signature for key {key_id}: the payload, the payload type or the signature was changed, or another key signed it"
    )]
    InvalidSignature { key_id: String },
}

fn describe_validity_end(valid_until: &Option<DateTime<Utc>>) -> String {
    match valid_until {
        Some(valid_until) => format!("until {valid_until}"),
        None => "with no end".to_string(),
    }
}

/// Returns at most the first [`MAX_QUOTED_CHARS`] characters of `value`, with
/// "..." appended when characters were cut.
pub(crate) fn quote_untrusted(value: &str) -> String {
    match value.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => format!("{}...", &value[..cut]),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::quote_untrusted;

    #[test]
    fn quote_untrusted_keeps_short_values() {
        assert_eq!(quote_untrusted("abc"), "abc");
        assert_eq!(quote_untrusted(""), "");
    }

    #[test]
    fn quote_untrusted_cuts_long_values() {
        let long = "é".repeat(1000);

        let quoted = quote_untrusted(&long);

        assert_eq!(quoted, format!("{}...", "é".repeat(128)));
    }

    #[test]
    fn quote_untrusted_keeps_value_at_limit() {
        let exact = "x".repeat(128);
        assert_eq!(quote_untrusted(&exact), exact);
    }
}
