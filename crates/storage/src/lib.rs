//! Database plumbing shared by both services: one SQL text for embedded
//! SQLite and for PostgreSQL through sqlx's `Any` driver, a migrator per
//! backend, write transactions that can be run again after a serialization
//! failure, the stored text forms of instants, and request-id idempotency.
//!
//! Money never passes through here as a number: callers bind exact decimal
//! text, which SQLite stores as TEXT and PostgreSQL casts to NUMERIC (see
//! [`decimal_param`]), and read it back as text with `CAST(column AS TEXT)`.
#![forbid(unsafe_code)]

mod backend;
mod database;
mod errors;
pub mod idempotency;
mod instant;
mod redact;

pub use backend::{Backend, BackendSql, decimal_param, with_database};
pub use database::{Committed, Database, DatabaseOptions, Migrators, WriteFuture, WriteTransaction};
pub use errors::{TransactionError, is_serialization_failure, is_transient, is_unique_violation};
pub use idempotency::{IdempotencyError, RequestKey};
pub use instant::{format_instant, parse_instant};
pub use redact::redact_password;
pub use sqlx::AnyConnection;
