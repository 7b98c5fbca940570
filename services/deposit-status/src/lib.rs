//! deposit-status: the system of record for passbooks (一本通) and their
//! lump-sum time deposits. It reports each deposit's maturity state, quotes
//! interest, signs maturity attestations, and applies a withdrawal only when
//! it receives a release order signed by withdrawal-authorization and bound
//! to one of its own attestations.
//!
//! Invariants:
//! - No money leaves a deposit except through `service::execute`, which
//!   needs a trusted release-order signature.
//! - No teller-facing listener serves the feed: DepositAdminService is
//!   routed only on the admin listener, bound to loopback by default.
//! - No amount is ever a float; stored money is exact decimal text.
#![forbid(unsafe_code)]

pub mod app;
pub mod clock;
pub mod config;
pub mod environment;
pub mod error;
pub mod keys;
pub mod service;
pub mod store;
pub mod views;

pub use app::{Application, StartError};
pub use config::Settings;
