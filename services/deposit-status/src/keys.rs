//! The keys the service signs with and the keys it trusts.

use std::path::Path;

use attestation::{Envelope, Keyring, KeyringEntry, SigningKey, VerifyError, VerifyingKey};
use chrono::{DateTime, Utc};

use crate::config::Settings;

/// The attestation signing key, the keys published to verifiers, and the
/// withdrawal-authorization keys whose release orders are executed.
pub struct ServiceKeys {
    signing_key: SigningKey,
    /// Every published attestation key, the signing key first.
    attestation_keyring: Keyring,
    published_order: Vec<String>,
    release_keyring: Keyring,
}

impl std::fmt::Debug for ServiceKeys {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ServiceKeys")
            .field("signing_key_id", &self.signing_key.key_id())
            .field("published", &self.published_order)
            .field("trusted_release_keys", &self.release_keyring.len())
            .finish()
    }
}

/// A key file that could not be used, with the setting that named it.
#[derive(Debug, thiserror::Error)]
#[error("invalid {setting} {path}: {source}")]
pub struct KeyConfigError {
    setting: &'static str,
    path: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

fn key_error(
    setting: &'static str,
    path: &Path,
    source: impl std::error::Error + Send + Sync + 'static,
) -> KeyConfigError {
    KeyConfigError {
        setting,
        path: path.display().to_string(),
        source: Box::new(source),
    }
}

impl ServiceKeys {
    /// Loads every key file the settings name.
    pub fn load(settings: &Settings) -> Result<Self, KeyConfigError> {
        const SIGNING: &str = "DEPOSIT_STATUS_SIGNING_KEY_FILE";
        const PREVIOUS: &str = "DEPOSIT_STATUS_PREVIOUS_PUBLIC_KEYS";
        const TRUSTED: &str = "DEPOSIT_STATUS_TRUSTED_RELEASE_KEY_FILES";

        let signing_key = SigningKey::read_pem_file(&settings.signing_key_file)
            .map_err(|error| key_error(SIGNING, &settings.signing_key_file, error))?;

        let mut attestation_keyring = Keyring::new();
        let mut published_order = Vec::new();
        attestation_keyring
            .insert(signing_key.verifying_key(), settings.signing_key_valid_from, None)
            .map_err(|error| key_error(SIGNING, &settings.signing_key_file, error))?;
        published_order.push(signing_key.key_id());
        for previous in &settings.previous_public_keys {
            let key = VerifyingKey::read_pem_file(&previous.path)
                .map_err(|error| key_error(PREVIOUS, &previous.path, error))?;
            published_order.push(key.key_id());
            attestation_keyring
                .insert(key, DateTime::<Utc>::UNIX_EPOCH, Some(previous.valid_until))
                .map_err(|error| key_error(PREVIOUS, &previous.path, error))?;
        }

        let mut release_keyring = Keyring::new();
        for path in &settings.trusted_release_key_files {
            let key = VerifyingKey::read_pem_file(path).map_err(|error| key_error(TRUSTED, path, error))?;
            release_keyring
                .insert(key, DateTime::<Utc>::UNIX_EPOCH, None)
                .map_err(|error| key_error(TRUSTED, path, error))?;
        }

        Ok(ServiceKeys {
            signing_key,
            attestation_keyring,
            published_order,
            release_keyring,
        })
    }

    /// Signs an attestation payload.
    pub fn sign_attestation(&self, payload: Vec<u8>) -> Envelope {
        self.signing_key
            .sign(bank_proto::payload_type::MATURITY_ATTESTATION, payload)
    }

    /// Verifies that `envelope` is an attestation signed by one of this
    /// service's published keys, valid at `at`. Returns the payload bytes.
    pub fn verify_attestation<'e>(
        &self,
        envelope: &'e Envelope,
        at: DateTime<Utc>,
    ) -> Result<&'e [u8], VerifyError> {
        self.attestation_keyring
            .verify(envelope, bank_proto::payload_type::MATURITY_ATTESTATION, at)
    }

    /// Verifies that `envelope` is a release order signed by a trusted
    /// withdrawal-authorization key valid at `at`. Returns the payload bytes.
    pub fn verify_release_order<'e>(
        &self,
        envelope: &'e Envelope,
        at: DateTime<Utc>,
    ) -> Result<&'e [u8], VerifyError> {
        self.release_keyring
            .verify(envelope, bank_proto::payload_type::RELEASE_ORDER, at)
    }

    /// Published attestation keys, the signing key first.
    pub fn published_keys(&self) -> impl Iterator<Item = (&KeyringEntry, bool)> {
        self.published_order
            .iter()
            .enumerate()
            .filter_map(|(index, key_id)| {
                self.attestation_keyring
                    .get(key_id)
                    .map(|entry| (entry, index == 0))
            })
    }
}
