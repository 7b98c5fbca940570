//! The key that signs release orders, and deposit-status's attestation keys,
//! fetched and cached.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use attestation::{Envelope, Keyring, SigningKey, VerifyError};
use chrono::{DateTime, Utc};
use tokio::sync::RwLock;

use crate::deposit_client::{DepositCallError, DepositClient};
use crate::error::AuthorizationError;

/// The release-order signing key with the start of its published validity.
pub struct ReleaseSigner {
    key: SigningKey,
    valid_from: DateTime<Utc>,
}

impl std::fmt::Debug for ReleaseSigner {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ReleaseSigner")
            .field("key_id", &self.key.key_id())
            .finish()
    }
}

impl ReleaseSigner {
    pub fn new(key: SigningKey, valid_from: DateTime<Utc>) -> Self {
        ReleaseSigner { key, valid_from }
    }

    /// Signs a release order payload.
    pub fn sign_order(&self, payload: Vec<u8>) -> Envelope {
        self.key.sign(bank_proto::payload_type::RELEASE_ORDER, payload)
    }

    pub fn verifying_key(&self) -> attestation::VerifyingKey {
        self.key.verifying_key()
    }

    pub fn valid_from(&self) -> DateTime<Utc> {
        self.valid_from
    }
}

/// deposit-status's attestation keys, fetched on first use and again when
/// an attestation names a key id the cache does not know. Fetches caused by
/// unknown key ids are at most one per `min_refresh_interval`.
///
/// Only derived data lives here: any replica rebuilds it from deposit-status.
#[derive(Debug)]
pub struct AttestationKeys {
    client: DepositClient,
    keyring: RwLock<Option<Keyring>>,
    last_refresh: Mutex<Option<Instant>>,
    min_refresh_interval: Duration,
}

impl AttestationKeys {
    pub fn new(client: DepositClient, min_refresh_interval: Duration) -> Self {
        AttestationKeys {
            client,
            keyring: RwLock::new(None),
            last_refresh: Mutex::new(None),
            min_refresh_interval,
        }
    }

    /// Verifies that `envelope` is an attestation signed by deposit-status
    /// with a key valid at `now`, and returns the payload bytes.
    pub async fn verify(
        &self,
        envelope: &Envelope,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, AuthorizationError> {
        let first = {
            let keyring = self.keyring.read().await;
            keyring
                .as_ref()
                .map(|keyring| verify_with(keyring, envelope, now))
        };
        match first {
            Some(Ok(payload)) => return Ok(payload),
            Some(Err(VerifyError::UnknownKeyId { .. })) | None => {}
            Some(Err(error)) => return Err(AuthorizationError::AttestationInvalid(error.to_string())),
        }

        self.refresh().await?;
        let keyring = self.keyring.read().await;
        let keyring = keyring.as_ref().ok_or_else(|| {
            AuthorizationError::DepositStatusUnavailable("no attestation keys fetched yet".to_owned())
        })?;
        verify_with(keyring, envelope, now)
            .map_err(|error| AuthorizationError::AttestationInvalid(error.to_string()))
    }

    /// Fetches the keys again unless a fetch happened within the minimum
    /// interval.
    async fn refresh(&self) -> Result<(), AuthorizationError> {
        {
            let mut last = self
                .last_refresh
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(at) = *last
                && at.elapsed() < self.min_refresh_interval
            {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        let keys = self
            .client
            .list_verification_keys()
            .await
            .map_err(|error| match error {
                DepositCallError::Unavailable(detail) => AuthorizationError::DepositStatusUnavailable(detail),
                DepositCallError::Refused(summary) => {
                    AuthorizationError::DepositStatusRejected(Box::new(summary))
                }
            })?;
        let mut keyring = Keyring::new();
        for key in keys {
            if let Err(error) = keyring.insert(key.key, key.valid_from, key.valid_until) {
                tracing::warn!(%error, "skipping a deposit-status key");
            }
        }
        tracing::info!(keys = keyring.len(), "fetched deposit-status attestation keys");
        *self.keyring.write().await = Some(keyring);
        Ok(())
    }
}

fn verify_with(keyring: &Keyring, envelope: &Envelope, now: DateTime<Utc>) -> Result<Vec<u8>, VerifyError> {
    keyring
        .verify(envelope, bank_proto::payload_type::MATURITY_ATTESTATION, now)
        .map(<[u8]>::to_vec)
}
