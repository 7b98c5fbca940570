//! Start-up: load the signing key, open the database, bind both listeners,
//! resume unfinished releases, and serve until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use attestation::SigningKey;
use bank_proto::withdrawal::withdrawal_admin_service_server::{self, WithdrawalAdminServiceServer};
use bank_proto::withdrawal::withdrawal_authorization_service_server::{
    self, WithdrawalAuthorizationServiceServer,
};
use grpc_support::error::WITHDRAWAL_AUTHORIZATION_DOMAIN;
use grpc_support::server::{ServeError, ServerLimits, reflection_services, serve};
use tokio::net::TcpListener;
use tonic::service::Routes;

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
    #[error("failed to bind {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// A service with its listeners bound, ready to serve.
pub struct Application {
    state: SharedState,
    public_listener: TcpListener,
    admin_listener: TcpListener,
    public_addr: SocketAddr,
    admin_addr: SocketAddr,
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

        let public_listener = bind(settings.listen_addr).await?;
        let admin_listener = bind(settings.admin_listen_addr).await?;
        let public_addr = local_addr(&public_listener, settings.listen_addr)?;
        let admin_addr = local_addr(&admin_listener, settings.admin_listen_addr)?;
        Ok(Application {
            state,
            public_listener,
            admin_listener,
            public_addr,
            admin_addr,
            limits,
            recovery_interval: Duration::from_secs(settings.recovery_interval_secs),
        })
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Serves both listeners, and resumes unfinished releases in the
    /// background, until `shutdown` resolves.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        health_reporter
            .set_serving::<WithdrawalAuthorizationServiceServer<AuthorizationService>>()
            .await;
        health_reporter
            .set_serving::<WithdrawalAdminServiceServer<AdminService>>()
            .await;

        let max_bytes = self.limits.max_message_bytes;
        let authorization =
            WithdrawalAuthorizationServiceServer::new(AuthorizationService::new(self.state.clone()))
                .max_decoding_message_size(max_bytes);
        let admin = WithdrawalAdminServiceServer::new(AdminService::new(self.state.clone()))
            .max_decoding_message_size(max_bytes);
        let (public_v1, public_v1alpha) =
            reflection_services(&[withdrawal_authorization_service_server::SERVICE_NAME])
                .map_err(reflection_failed)?;
        let (admin_v1, admin_v1alpha) = reflection_services(&[withdrawal_admin_service_server::SERVICE_NAME])
            .map_err(reflection_failed)?;
        let public_routes = Routes::new(authorization)
            .add_service(health_service.clone())
            .add_service(public_v1)
            .add_service(public_v1alpha);
        let admin_routes = Routes::new(admin)
            .add_service(health_service)
            .add_service(admin_v1)
            .add_service(admin_v1alpha);

        let (stop_sender, stop_receiver) = tokio::sync::watch::channel(false);
        let stopped = |mut receiver: tokio::sync::watch::Receiver<bool>| async move {
            let _ = receiver.wait_for(|stop| *stop).await;
        };
        let reporter = health_reporter.clone();
        tokio::spawn(async move {
            shutdown.await;
            reporter
                .set_not_serving::<WithdrawalAuthorizationServiceServer<AuthorizationService>>()
                .await;
            let _ = stop_sender.send(true);
        });
        let recovery = tokio::spawn(resume_releases(
            self.state.clone(),
            self.recovery_interval,
            stop_receiver.clone(),
        ));

        let public = serve(
            public_routes,
            self.public_listener,
            &self.limits,
            WITHDRAWAL_AUTHORIZATION_DOMAIN,
            stopped(stop_receiver.clone()),
        );
        let admin = serve(
            admin_routes,
            self.admin_listener,
            &self.limits,
            WITHDRAWAL_AUTHORIZATION_DOMAIN,
            stopped(stop_receiver),
        );
        let (public_result, admin_result) = tokio::join!(public, admin);
        let _ = recovery.await;
        self.state.store.close().await;
        public_result?;
        admin_result?;
        Ok(())
    }
}

async fn bind(address: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind { address, source })
}

fn local_addr(listener: &TcpListener, configured: SocketAddr) -> Result<SocketAddr, StartError> {
    listener.local_addr().map_err(|source| StartError::Bind {
        address: configured,
        source,
    })
}

fn reflection_failed(error: grpc_support::server::ReflectionError) -> StartError {
    StartError::InvalidSettings(format!("reflection setup failed: {error}"))
}
