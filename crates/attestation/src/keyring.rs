//! Published verifying keys with their validity periods.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::envelope::Envelope;
use crate::error::{KeyringError, VerifyError, quote_untrusted};
use crate::verify::{check_key_and_signature, check_payload_type};
use crate::verifying_key::VerifyingKey;

/// Verifying key in a [`Keyring`] with the period in which it is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyringEntry {
    key: VerifyingKey,
    valid_from: DateTime<Utc>,
    valid_until: Option<DateTime<Utc>>,
}

impl KeyringEntry {
    /// Returns the verifying key.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Returns the first instant at which the key is valid.
    pub fn valid_from(&self) -> DateTime<Utc> {
        self.valid_from
    }

    /// Returns the first instant at which the key is no longer valid, or
    /// `None` if its validity has no end.
    pub fn valid_until(&self) -> Option<DateTime<Utc>> {
        self.valid_until
    }

    /// Returns whether `at` lies in `[valid_from, valid_until)`.
    pub fn is_valid_at(&self, at: DateTime<Utc>) -> bool {
        let started = self.valid_from <= at;
        let ended = self.valid_until.is_some_and(|valid_until| at >= valid_until);
        started && !ended
    }
}

/// Verifying keys by key id, each with its validity period.
///
/// Several keys can be valid at once, so during a key rotation the old and the
/// new key are both published and envelopes signed by either verify. Each key
/// is stored under the id derived from it, so a keyring entry can never sit
/// under the id of another key.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    entries: HashMap<String, KeyringEntry>,
}

impl Keyring {
    /// Creates an empty keyring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key`, valid from `valid_from` (inclusive) until `valid_until`
    /// (exclusive, or no end if `None`), and returns its key id.
    ///
    /// Rejects a key that is already present and a period that is empty
    /// because `valid_until` is not after `valid_from`.
    pub fn insert(
        &mut self,
        key: VerifyingKey,
        valid_from: DateTime<Utc>,
        valid_until: Option<DateTime<Utc>>,
    ) -> Result<String, KeyringError> {
        let key_id = key.key_id();

        if let Some(valid_until) = valid_until
            && valid_until <= valid_from
        {
            return Err(KeyringError::EmptyValidityPeriod {
                key_id,
                valid_from,
                valid_until,
            });
        }
        if self.entries.contains_key(&key_id) {
            return Err(KeyringError::DuplicateKeyId { key_id });
        }

        let entry = KeyringEntry {
            key,
            valid_from,
            valid_until,
        };
        self.entries.insert(key_id.clone(), entry);
        Ok(key_id)
    }

    /// Removes the key with id `key_id` and returns its entry, if it was present.
    pub fn remove(&mut self, key_id: &str) -> Option<KeyringEntry> {
        self.entries.remove(key_id)
    }

    /// Returns the entry of the key with id `key_id`.
    pub fn get(&self, key_id: &str) -> Option<&KeyringEntry> {
        self.entries.get(key_id)
    }

    /// Returns the number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns whether the keyring has no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Verifies `envelope` as of instant `at` and returns the verified payload bytes.
    ///
    /// The checks run in this order, and each failure has its own [`VerifyError`] variant:
    /// 1. the payload type is `expected_payload_type`,
    /// 2. the key id is in the keyring,
    /// 3. the key is valid at `at`,
    /// 4. the envelope's key id is the key's derived id,
    /// 5. the signature is 64 bytes long,
    /// 6. the signature verifies under the key (with `verify_strict`).
    ///
    /// Decode only the returned bytes, and only after this returns `Ok`.
    pub fn verify<'e>(
        &self,
        envelope: &'e Envelope,
        expected_payload_type: &str,
        at: DateTime<Utc>,
    ) -> Result<&'e [u8], VerifyError> {
        check_payload_type(envelope, expected_payload_type)?;

        let entry = self
            .entries
            .get(&envelope.key_id)
            .ok_or_else(|| VerifyError::UnknownKeyId {
                key_id: quote_untrusted(&envelope.key_id),
            })?;

        if !entry.is_valid_at(at) {
            return Err(VerifyError::KeyNotValidAt {
                key_id: envelope.key_id.clone(),
                at,
                valid_from: entry.valid_from,
                valid_until: entry.valid_until,
            });
        }

        // Entries are stored under their derived ids, so the key id check in here
        // cannot fail today. It guards against a later change to how entries are stored.
        check_key_and_signature(&entry.key, envelope)?;
        Ok(&envelope.payload)
    }
}
