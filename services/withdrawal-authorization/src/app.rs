//! Start-up: load the signing key, open the database, bind both listeners,
//! resume unfinished releases, and serve until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use attestation::SigningKey;
use bank_proto::withdrawal::withdrawal_admin_service_server::WithdrawalAdminServiceServer;
use bank_proto::withdrawal::withdrawal_authorization_service_server::WithdrawalAuthorizationServiceServer;
use grpc_support::error::WITHDRAWAL_AUTHORIZATION_DOMAIN;
use grpc_support::listeners::{BindError, ServiceListeners, StopSignal};
use grpc_support::server::{ServeError, ServerLimits};

use crate::config::Settings;
use crate::deposit_client::DepositClient;
use crate::keys::{AttestationKeys, ReleaseSigner};
use crate::service::{AdminService, AppState, AuthorizationService, SharedState, resume_releases};
use crate::store::{self, StoreError};

/// The reason the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    InvalidSettings(String),
    #[error("invalid WITHDRAWAL_AUTHORIZATION_SIGNING_KEY_FILE {path}: {source}")]
    SigningKey {
        path: String,
        #[source]
        source: attestation::KeyError,
    },
    #[error("invalid WITHDRAWAL_AUTHORIZATION_DEPOSIT_STATUS_URL: {0}")]
    DepositStatusUrl(#[source] tonic::transport::Error),
    #[error("failed to open the database at WITHDRAWAL_AUTHORIZATION_DATABASE_URL {url}: {source}")]
    Store {
        /// The database URL, password redacted.
        url: String,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// A service with its listeners bound, ready to serve.
pub struct Application {
    state: SharedState,
    listeners: ServiceListeners,
    limits: ServerLimits,
    recovery_interval: Duration,
}

impl Application {
    /// Validates the settings, loads the key, opens and migrates the
    /// database and binds both listeners.
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        settings.validate().map_err(StartError::InvalidSettings)?;
        let limits = settings.server_limits();
        limits.validate()?;
        let key = SigningKey::read_pem_file(&settings.signing_key_file).map_err(|source| {
            StartError::SigningKey {
                path: settings.signing_key_file.display().to_string(),
                source,
            }
        })?;
        let deposit = DepositClient::new(
            &settings.deposit_status_url,
            Duration::from_millis(settings.deposit_status_timeout_ms),
        )
        .map_err(StartError::DepositStatusUrl)?;
        let store = store::open(&settings.database_url, &settings.database_options())
            .await
            .map_err(|source| StartError::Store {
                url: storage::redact_password(&settings.database_url),
                source,
            })?;
        let state = Arc::new(AppState {
            store,
            signer: ReleaseSigner::new(key, settings.signing_key_valid_from),
            attestation_keys: AttestationKeys::new(
                deposit.clone(),
                Duration::from_secs(settings.key_refresh_min_interval_secs),
            ),
            deposit,
            large_amount_threshold: settings.large_amount_threshold,
        });

        let listeners = ServiceListeners::bind(settings.listen_addr, settings.admin_listen_addr).await?;
        Ok(Application {
            state,
            listeners,
            limits,
            recovery_interval: Duration::from_secs(settings.recovery_interval_secs),
        })
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.listeners.public_addr()
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.listeners.admin_addr()
    }

    /// Serves both listeners, and resumes unfinished releases in the
    /// background, until `shutdown` resolves.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let stop = StopSignal::spawn(shutdown);
        let recovery = tokio::spawn(resume_releases(
            self.state.clone(),
            self.recovery_interval,
            stop.receiver(),
        ));

        let max_bytes = self.limits.max_message_bytes;
        let authorization =
            WithdrawalAuthorizationServiceServer::new(AuthorizationService::new(self.state.clone()))
                .max_decoding_message_size(max_bytes);
        let admin = WithdrawalAdminServiceServer::new(AdminService::new(self.state.clone()))
            .max_decoding_message_size(max_bytes);
        let served = self
            .listeners
            .serve(
                authorization,
                admin,
                &self.limits,
                WITHDRAWAL_AUTHORIZATION_DOMAIN,
                stop,
            )
            .await;
        let _ = recovery.await;
        self.state.store.close().await;
        served?;
        Ok(())
    }
}
