//! Server wiring that both services use: limits, the middleware stack,
//! serving until shutdown, reflection, and logging setup.
//!
//! [`serve`] puts this middleware around the routes, outermost first:
//!
//! 1. request context: the `x-request-id` header and the tracing span (see
//!    [`RequestId`]), and gRPC statuses for the rejections below;
//! 2. load shedding: a request that finds every slot taken is rejected at
//!    once with `UNAVAILABLE` (reason `SERVER_OVERLOADED`) instead of
//!    waiting;
//! 3. a concurrency limit shared by all connections of the listener;
//! 4. the request timeout, which cancels the handler and returns
//!    `DEADLINE_EXCEEDED` (reason `REQUEST_TIMEOUT`).
//!
//! tonic's own `Server::timeout` is not used, because tonic 0.14.9 reports
//! its expiry as `CANCELLED`. A `grpc-timeout` header sent by the client is
//! still applied by tonic, and its expiry is reported as `CANCELLED`.
//!
//! The concurrency limit and the timeout cover a call until its response
//! headers are ready. For a unary call that is the whole handler. For a
//! server-streaming call it ends when the handler returns the stream, so
//! the messages sent after that are neither counted nor timed.
//!
//! A timed-out handler is dropped at its next `.await`, so handlers must
//! leave no partial change behind when dropped: for example, keep each
//! change inside one database transaction, which rolls back on drop.

use std::future::Future;
use std::time::Duration;

use prost::Message;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_reflection::server::{Builder as ReflectionBuilder, v1, v1alpha};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;

use crate::request_context::RequestContextLayer;
pub use crate::request_context::{MAX_REQUEST_ID_CHARS, REQUEST_ID_HEADER, RequestId, request_id};

/// Default [`ServerLimits::request_timeout`].
///
/// NOTE: an estimate. A handler makes a few database queries and at most one
/// call to the other service, which should take well under a second. No load
/// test backs this value.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Default [`ServerLimits::concurrency_limit`].
///
/// NOTE: an estimate for a branch-level teller workload, not a measured
/// capacity.
pub const DEFAULT_CONCURRENCY_LIMIT: usize = 256;

/// Default [`ServerLimits::max_message_bytes`]: 4 MiB, the decoding limit
/// that tonic 0.14 applies when none is set.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Default [`ServerLimits::shutdown_timeout`]: 25 s, which leaves a margin
/// below the 30 s default termination grace period of a Kubernetes pod,
/// after which SIGKILL follows SIGTERM.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(25);

/// gRPC name of the health service of `tonic_health`.
pub const HEALTH_SERVICE_NAME: &str = "grpc.health.v1.Health";

/// gRPC name of the v1 reflection service.
pub const REFLECTION_V1_SERVICE_NAME: &str = "grpc.reflection.v1.ServerReflection";

/// gRPC name of the v1alpha reflection service, which some grpcurl versions
/// still request.
pub const REFLECTION_V1ALPHA_SERVICE_NAME: &str = "grpc.reflection.v1alpha.ServerReflection";

/// Limits that [`serve`] enforces for one listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Maximum time from a request's arrival to its response headers.
    pub request_timeout: Duration,
    /// Maximum number of requests handled at once, across all connections
    /// of the listener. Further requests are rejected at once.
    pub concurrency_limit: usize,
    /// Maximum size of one encoded message.
    ///
    /// [`serve`] cannot apply it, because the generated servers share no
    /// trait for it. Pass it to each generated server with
    /// `max_decoding_message_size` and `max_encoding_message_size`.
    pub max_message_bytes: usize,
    /// Maximum time that [`serve`] waits for in-flight requests after the
    /// shutdown future resolves. Requests still running then are abandoned.
    pub shutdown_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            concurrency_limit: DEFAULT_CONCURRENCY_LIMIT,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

impl ServerLimits {
    /// Rejects limits under which the server could not handle any request:
    /// a zero timeout, concurrency limit or message size.
    pub fn validate(&self) -> Result<(), ServeError> {
        let invalid = |name: &'static str| ServeError::InvalidLimit {
            name,
            reason: "must be greater than zero".to_string(),
        };
        if self.request_timeout.is_zero() {
            return Err(invalid("request_timeout"));
        }
        if self.concurrency_limit == 0 {
            return Err(invalid("concurrency_limit"));
        }
        if self.concurrency_limit > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(ServeError::InvalidLimit {
                name: "concurrency_limit",
                reason: format!("must be at most {}", tokio::sync::Semaphore::MAX_PERMITS),
            });
        }
        if self.max_message_bytes == 0 {
            return Err(invalid("max_message_bytes"));
        }
        Ok(())
    }
}

/// Failure of [`serve`].
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A [`ServerLimits`] value is unusable.
    #[error("invalid server limit {name}: {reason}")]
    InvalidLimit {
        /// Name of the `ServerLimits` field.
        name: &'static str,
        /// Description of the problem.
        reason: String,
    },
    /// The listener's local address could not be read.
    #[error("failed to read the listener's local address: {0}")]
    LocalAddress(#[source] std::io::Error),
    /// The server failed while serving.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The reflection service could not be built.
    #[error("reflection setup failed: {0}")]
    Reflection(#[source] ReflectionError),
}

/// Failure of [`reflection_services`].
#[derive(Debug, thiserror::Error)]
pub enum ReflectionError {
    /// A service name is not defined in [`bank_proto::FILE_DESCRIPTOR_SET`].
    #[error(
        "service {0:?} is not defined in bank_proto::FILE_DESCRIPTOR_SET. Pass the SERVICE_NAME constant of a generated server module"
    )]
    UnknownService(String),
    /// A descriptor set could not be decoded.
    #[error("failed to build the reflection service: {0}")]
    Build(#[from] tonic_reflection::server::Error),
}

/// Serves `routes` on `listener` until `shutdown` resolves, then waits up to
/// [`ServerLimits::shutdown_timeout`] for in-flight requests and returns.
///
/// `error_domain` is the ErrorInfo domain of the statuses that the
/// middleware itself returns, for example [`crate::DEPOSIT_STATUS_DOMAIN`].
/// The module documentation lists the middleware. On shutdown the listener
/// is closed at once and clients get an HTTP/2 GOAWAY. Connections spawned
/// by the server may outlive this function when the shutdown timeout
/// expires, until the runtime stops.
pub async fn serve(
    routes: Routes,
    listener: TcpListener,
    limits: &ServerLimits,
    error_domain: &'static str,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    limits.validate()?;
    let address = listener.local_addr().map_err(ServeError::LocalAddress)?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));

    let service = ServiceBuilder::new()
        .layer(RequestContextLayer::new(error_domain, limits))
        .load_shed()
        .layer(GlobalConcurrencyLimitLayer::new(limits.concurrency_limit))
        .timeout(limits.request_timeout)
        .service(routes.prepare());

    let (draining_sender, draining) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!(%address, "shutting down: no new connections, waiting for in-flight requests");
        let _ = draining_sender.send(());
    };

    tracing::info!(
        %address,
        request_timeout_ms = limits.request_timeout.as_millis(),
        concurrency_limit = limits.concurrency_limit,
        "gRPC server listening"
    );
    let server = Server::builder().serve_with_incoming_shutdown(service, incoming, signal);

    let shutdown_timeout = limits.shutdown_timeout;
    let drain_deadline = async move {
        match draining.await {
            Ok(()) => tokio::time::sleep(shutdown_timeout).await,
            // The server future ended without a shutdown signal, so the
            // select below has already taken its result.
            Err(_) => std::future::pending().await,
        }
    };

    tokio::select! {
        result = server => {
            result?;
            tracing::info!(%address, "gRPC server stopped");
        }
        () = drain_deadline => {
            tracing::warn!(
                %address,
                shutdown_timeout_ms = shutdown_timeout.as_millis(),
                "gRPC server stopped with requests still in flight: they did not finish within the shutdown timeout"
            );
        }
    }
    Ok(())
}

/// Installs handlers for SIGTERM and SIGINT (Ctrl-C) and returns a future
/// that resolves, and logs which, when the process receives either.
///
/// The handlers are installed by this call, not when the future is first
/// polled, so a signal that arrives between the call and the first poll
/// still stops the server gracefully. Must be called inside a tokio runtime.
/// On platforms other than Unix only Ctrl-C is watched. If a handler cannot
/// be installed, the error is logged and that signal is not watched.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut terminate = {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(stream) => Some(stream),
            Err(error) => {
                tracing::error!(%error, "failed to watch for SIGTERM, so it will not stop the server");
                None
            }
        }
    };
    #[cfg(unix)]
    let mut interrupt = {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::interrupt()) {
            Ok(stream) => Some(stream),
            Err(error) => {
                tracing::error!(%error, "failed to watch for Ctrl-C, so it will not stop the server");
                None
            }
        }
    };

    async move {
        #[cfg(unix)]
        let received = {
            let terminated = async {
                match terminate.as_mut() {
                    Some(stream) => {
                        stream.recv().await;
                        "SIGTERM"
                    }
                    None => std::future::pending().await,
                }
            };
            let interrupted = async {
                match interrupt.as_mut() {
                    Some(stream) => {
                        stream.recv().await;
                        "SIGINT (Ctrl-C)"
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                name = terminated => name,
                name = interrupted => name,
            }
        };
        #[cfg(not(unix))]
        let received = match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            Err(error) => {
                tracing::error!(%error, "failed to watch for Ctrl-C, so it will not stop the server");
                std::future::pending().await
            }
        };
        tracing::info!(signal = received, "shutdown signal received");
    }
}

/// Builds the v1 and v1alpha reflection services for the services named in
/// `service_names`, the health service and reflection itself.
///
/// Each name must be defined in [`bank_proto::FILE_DESCRIPTOR_SET`]: pass the
/// `SERVICE_NAME` constants of the generated server modules, for example
/// `bank_proto::deposit::deposit_status_service_server::SERVICE_NAME`. Only
/// the named services are listed, so a client does not see the other
/// service's contract as if this server offered it.
#[allow(clippy::type_complexity)]
pub fn reflection_services(
    service_names: &[&str],
) -> Result<
    (
        v1::ServerReflectionServer<impl v1::ServerReflection>,
        v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection>,
    ),
    ReflectionError,
> {
    let defined = defined_service_names()?;
    if let Some(unknown) = service_names
        .iter()
        .find(|name| !defined.iter().any(|defined| defined == *name))
    {
        return Err(ReflectionError::UnknownService(unknown.to_string()));
    }

    let v1 = reflection_builder(service_names).build_v1()?;
    let v1alpha = reflection_builder(service_names).build_v1alpha()?;
    Ok((v1, v1alpha))
}

/// Returns a reflection builder with every descriptor set registered and
/// the listed services advertised.
fn reflection_builder(service_names: &[&str]) -> ReflectionBuilder<'static> {
    let mut builder = ReflectionBuilder::configure()
        .include_reflection_service(false)
        .register_encoded_file_descriptor_set(bank_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .with_service_name(HEALTH_SERVICE_NAME)
        .with_service_name(REFLECTION_V1_SERVICE_NAME)
        .with_service_name(REFLECTION_V1ALPHA_SERVICE_NAME);
    for name in service_names {
        builder = builder.with_service_name(*name);
    }
    builder
}

/// Returns the fully qualified names of the services in
/// [`bank_proto::FILE_DESCRIPTOR_SET`].
fn defined_service_names() -> Result<Vec<String>, ReflectionError> {
    let set = prost_types::FileDescriptorSet::decode(bank_proto::FILE_DESCRIPTOR_SET)
        .map_err(|error| ReflectionError::Build(error.into()))?;
    let names = set
        .file
        .iter()
        .flat_map(|file| {
            file.service
                .iter()
                .map(move |service| format!("{}.{}", file.package(), service.name()))
        })
        .collect();
    Ok(names)
}

/// Installs a `tracing` subscriber that writes to standard output, filtered
/// by the `RUST_LOG` environment variable or at level `info` when it is
/// unset.
///
/// An invalid `RUST_LOG` is reported with a warning and `info` is used. A
/// second call, or a call after another subscriber was installed, changes
/// nothing.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;

    let configured = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    let (filter, invalid) = match configured.as_deref().map(EnvFilter::try_new) {
        Some(Ok(filter)) => (filter, None),
        Some(Err(error)) => (EnvFilter::new("info"), Some(error)),
        None => (EnvFilter::new("info"), None),
    };

    // Colour codes only for a terminal: logs piped to a file or a collector
    // stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .try_init()
        .is_ok();
    if installed && let Some(error) = invalid {
        tracing::warn!(
            %error,
            value = configured.as_deref().unwrap_or_default(),
            "invalid RUST_LOG, logging at level info instead"
        );
    }
}
