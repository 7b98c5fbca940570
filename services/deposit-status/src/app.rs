//! Start-up: load keys, open the database, bind both listeners, serve until
//! shutdown. Tests call [`Application::build`] with port 0 and a shutdown
//! future of their own; the binary passes the SIGTERM/Ctrl-C signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bank_proto::deposit::deposit_admin_service_server::{self, DepositAdminServiceServer};
use bank_proto::deposit::deposit_status_service_server::{self, DepositStatusServiceServer};
use grpc_support::error::DEPOSIT_STATUS_DOMAIN;
use grpc_support::server::{ServeError, ServerLimits, reflection_services, serve};
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::clock::BusinessClock;
use crate::config::Settings;
use crate::keys::{KeyConfigError, ServiceKeys};
use crate::service::{AdminService, AppState, SharedState, StatusService};
use crate::store::{self, StoreError};

/// The reason the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    InvalidSettings(String),
    #[error(transparent)]
    Keys(#[from] KeyConfigError),
    #[error("failed to open the database at DEPOSIT_STATUS_DATABASE_URL {url}: {source}")]
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
}

impl Application {
    /// Validates the settings, loads the keys, opens and migrates the
    /// database and binds both listeners.
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        settings.validate().map_err(StartError::InvalidSettings)?;
        let limits = settings.server_limits();
        limits.validate()?;
        let keys = ServiceKeys::load(settings)?;
        let store = store::open(&settings.database_url, &settings.database_options())
            .await
            .map_err(|source| StartError::Store {
                url: storage::redact_password(&settings.database_url),
                source,
            })?;
        let state = Arc::new(AppState {
            store,
            keys,
            clock: BusinessClock::new(
                settings.time_zone,
                settings.business_date,
                settings.allow_business_date_override,
            ),
            attestation_lifetime: settings.attestation_lifetime(),
        });

        let bind = |address: SocketAddr| async move {
            TcpListener::bind(address)
                .await
                .map_err(|source| StartError::Bind { address, source })
        };
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
        })
    }

    /// Address of the teller-facing listener (with the real port when 0 was
    /// configured).
    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    /// Address of the admin listener.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Serves both listeners until `shutdown` resolves, then closes the
    /// database.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        health_reporter
            .set_serving::<DepositStatusServiceServer<StatusService>>()
            .await;
        health_reporter
            .set_serving::<DepositAdminServiceServer<AdminService>>()
            .await;

        let max_bytes = self.limits.max_message_bytes;
        let status = DepositStatusServiceServer::new(StatusService::new(self.state.clone()))
            .max_decoding_message_size(max_bytes);
        let admin = DepositAdminServiceServer::new(AdminService::new(self.state.clone()))
            .max_decoding_message_size(max_bytes);

        let (public_reflection_v1, public_reflection_v1alpha) =
            reflection_services(&[deposit_status_service_server::SERVICE_NAME]).map_err(reflection_failed)?;
        let (admin_reflection_v1, admin_reflection_v1alpha) =
            reflection_services(&[deposit_admin_service_server::SERVICE_NAME]).map_err(reflection_failed)?;

        let public_routes = Routes::new(status)
            .add_service(health_service.clone())
            .add_service(public_reflection_v1)
            .add_service(public_reflection_v1alpha);
        let admin_routes = Routes::new(admin)
            .add_service(health_service)
            .add_service(admin_reflection_v1)
            .add_service(admin_reflection_v1alpha);

        // One shutdown signal stops both listeners.
        let (stop_sender, stop_receiver) = tokio::sync::watch::channel(false);
        let stopped = |mut receiver: tokio::sync::watch::Receiver<bool>| async move {
            let _ = receiver.wait_for(|stop| *stop).await;
        };
        let reporter = health_reporter.clone();
        tokio::spawn(async move {
            shutdown.await;
            reporter
                .set_not_serving::<DepositStatusServiceServer<StatusService>>()
                .await;
            let _ = stop_sender.send(true);
        });

        let public = serve(
            public_routes,
            self.public_listener,
            &self.limits,
            DEPOSIT_STATUS_DOMAIN,
            stopped(stop_receiver.clone()),
        );
        let admin = serve(
            admin_routes,
            self.admin_listener,
            &self.limits,
            DEPOSIT_STATUS_DOMAIN,
            stopped(stop_receiver),
        );
        let (public_result, admin_result) = tokio::join!(public, admin);
        self.state.store.close().await;
        public_result?;
        admin_result?;
        Ok(())
    }
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
