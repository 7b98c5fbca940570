//! SQLite plumbing shared by both services: opening and migrating the
//! database file, write transactions that take the write lock up front,
//! the stored text forms of instants, and request-id idempotency.
//!
//! Money never passes through here as a number: callers store exact decimal
//! text.
#![forbid(unsafe_code)]

pub mod idempotency;
mod sqlite;

pub use idempotency::{IdempotencyError, RequestKey};
pub use sqlite::{
    WriteTransaction, begin_write, format_instant, is_transient, is_unique_violation, open, parse_instant,
};
