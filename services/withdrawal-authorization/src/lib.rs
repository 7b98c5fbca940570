//! withdrawal-authorization: the gate for time-deposit withdrawals. It
//! releases funds only with a maturity attestation signed by deposit-status,
//! the teller's signature (maker), a supervisor's co-signature (checker,
//! always), and, whenever the customer loses interest, the customer's
//! acknowledgement of the interest-loss disclosure.
//!
//! Invariants:
//! - No release order is signed anywhere but `service::release`, and only
//!   for an authorization whose requirements were all met.
//! - No setting switches the co-signature off, and no path lets the teller
//!   who submitted a withdrawal co-sign it.
//! - No co-signature covers more than one authorization that loses interest.
//! - No audit record is ever updated or deleted; each is chained to the one
//!   before it by SHA-256.
//! - No staff enrollment is served on the teller-facing listener.
#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod config;
pub mod deposit_client;
pub mod disclosure;
pub mod error;
pub mod keys;
pub mod service;
pub mod staff_signature;
pub mod store;
pub mod view;

pub use app::{Application, StartError};
pub use config::Settings;
