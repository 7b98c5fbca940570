//! Start-up: load keys, open the database, bind both listeners, serve until
//! shutdown. Tests call [`Application::build`] with port 0 and a shutdown
//! future of their own; the binary passes the SIGTERM/Ctrl-C signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bank_proto::deposit::deposit_admin_service_server::DepositAdminServiceServer;
use bank_proto::deposit::deposit_status_service_server::DepositStatusServiceServer;
use grpc_support::error::DEPOSIT_STATUS_DOMAIN;
use grpc_support::listeners::{BindError, ServiceListeners, StopSignal};
use grpc_support::server::{ServeError, ServerLimits};

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

        let listeners = ServiceListeners::bind(settings.listen_addr, settings.admin_listen_addr).await?;

        Ok(Application {
            state,
            listeners,
            limits,
        })
    }

    /// Address of the teller-facing listener (with the real port when 0 was
    /// configured).
    pub fn public_addr(&self) -> SocketAddr {
        self.listeners.public_addr()
    }

    /// Address of the admin listener.
    pub fn admin_addr(&self) -> SocketAddr {
        self.listeners.admin_addr()
    }

    /// Serves both listeners until `shutdown` resolves, then closes the
    /// database.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let stop = StopSignal::spawn(shutdown);
        let max_bytes = self.limits.max_message_bytes;
        let status = DepositStatusServiceServer::new(StatusService::new(self.state.clone()))
            .max_decoding_message_size(max_bytes);
        let admin = DepositAdminServiceServer::new(AdminService::new(self.state.clone()))
            .max_decoding_message_size(max_bytes);

        let served = self
            .listeners
            .serve(status, admin, &self.limits, DEPOSIT_STATUS_DOMAIN, stop)
            .await;
        self.state.store.close().await;
        served?;
        Ok(())
    }
}
