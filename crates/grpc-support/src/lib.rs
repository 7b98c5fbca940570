//! gRPC plumbing shared by the deposit-status and withdrawal-authorization
//! services and their clients.
//!
//! - [`error`]: [`ApiError`], the one error type that handlers return,
//!   converted to a `tonic::Status` with ErrorInfo, BadRequest,
//!   PreconditionFailure, a zh-CN LocalizedMessage and RetryInfo details, and
//!   [`ErrorSummary`], which reads those details back on the client side.
//! - [`convert`]: strict parsing of request fields (money, dates,
//!   timestamps, request ids, text, identifiers, masked ID numbers, signed
//!   envelopes and verification keys), each failure a [`FieldViolation`]
//!   that names the field.
//! - [`server`]: [`server::serve`], which adds request ids, tracing spans,
//!   load shedding, a concurrency limit and a request timeout, and stops
//!   gracefully on SIGTERM or Ctrl-C. It also builds the reflection services
//!   and sets up logging.
//! - [`listeners`]: a service's teller-facing and admin listeners, bound
//!   together and served until one shutdown signal, each with health and
//!   reflection.
//! - [`health_probe`]: the gRPC health check that the services'
//!   `health-probe` subcommand runs for container health checks.
//! - [`env_file`]: messages for env file lines that fail to parse, which
//!   never show the line's value.
//!
//! A service's `main` wires them up like this:
//!
//! ```no_run
//! use grpc_support::server::{self, ServerLimits};
//! use tonic::service::Routes;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! server::init_tracing();
//! let limits = ServerLimits::default();
//!
//! // The health reporter marks services as serving or not serving.
//! let (_health_reporter, health_service) = tonic_health::server::health_reporter();
//! let (reflection_v1, reflection_v1alpha) = server::reflection_services(&[
//!     bank_proto::deposit::deposit_status_service_server::SERVICE_NAME,
//! ])?;
//! // Add the service's own generated servers here, each with
//! // `.max_decoding_message_size(limits.max_message_bytes)`.
//! let routes = Routes::new(health_service)
//!     .add_service(reflection_v1)
//!     .add_service(reflection_v1alpha);
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
//! server::serve(
//!     routes,
//!     listener,
//!     &limits,
//!     grpc_support::DEPOSIT_STATUS_DOMAIN,
//!     server::shutdown_signal(),
//! )
//! .await?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod convert;
pub mod env_file;
pub mod error;
pub mod health_probe;
pub mod listeners;
mod request_context;
pub mod server;

pub use error::{
    ApiError, DEPOSIT_STATUS_DOMAIN, ErrorSummary, FieldViolation, PreconditionViolation, Violations,
    WITHDRAWAL_AUTHORIZATION_DOMAIN,
};
