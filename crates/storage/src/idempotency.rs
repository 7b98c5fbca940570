//! Request-id idempotency (AIP-155, <https://google.aip.dev/155>) for mutating
//! RPCs.
//!
//! A handler looks up its request_id inside the write transaction that makes
//! its change, and stores its response in that same transaction. So a retry
//! either finds the stored response and acts no second time, or finds nothing
//! because the first attempt rolled back. A request_id reused for a different
//! request is an error, never a silent replay.
//!
//! Each service's schema has the table this crate reads and writes:
//!
//! ```sql
//! CREATE TABLE idempotency_keys (
//!     request_id     TEXT PRIMARY KEY,
//!     method         TEXT NOT NULL,
//!     request_sha256 TEXT NOT NULL,
//!     response       BLOB NOT NULL,     -- BYTEA on PostgreSQL
//!     created_at     TEXT NOT NULL
//! );
//! ```
//!
//! Two transactions with the same new request_id can both find nothing on
//! PostgreSQL. The primary key on request_id then rejects the second insert
//! with a unique violation, and [`crate::Database::write`] runs that
//! transaction again, so it finds the first one's response.

use chrono::{DateTime, SecondsFormat, Utc};
use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

/// The reason a lookup or a store failed.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The request_id was used before by another method or other fields.
    #[error("request_id {request_id} was already used for a different request")]
    Reused {
        /// The reused request_id.
        request_id: String,
    },
    /// The stored response does not decode as the method's response type.
    #[error("stored response for request_id {request_id} does not decode")]
    Corrupt {
        /// The request_id whose response is corrupt.
        request_id: String,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// The identity of one request: its request_id, method and the SHA-256 of
/// its protobuf encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey<'a> {
    request_id: &'a str,
    method: &'static str,
    request_sha256: String,
}

impl<'a> RequestKey<'a> {
    /// Fingerprints `request` for `method`. prost encodes the same message
    /// the same way every time, so equal requests get equal fingerprints.
    pub fn new(method: &'static str, request_id: &'a str, request: &impl Message) -> Self {
        RequestKey {
            request_id,
            method,
            request_sha256: hex::encode(Sha256::digest(request.encode_to_vec())),
        }
    }

    /// Returns the response stored for this request_id when the same request
    /// stored it, `None` when the request_id is new, and
    /// [`IdempotencyError::Reused`] when another request used it.
    pub async fn replay<R: Message + Default>(
        &self,
        connection: &mut AnyConnection,
    ) -> Result<Option<R>, IdempotencyError> {
        let row = sqlx::query(
            "SELECT method, request_sha256, response FROM idempotency_keys WHERE request_id = $1",
        )
        .bind(self.request_id)
        .fetch_optional(connection)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let method: String = row.try_get("method")?;
        let request_sha256: String = row.try_get("request_sha256")?;
        if method != self.method || request_sha256 != self.request_sha256 {
            return Err(IdempotencyError::Reused {
                request_id: self.request_id.to_owned(),
            });
        }
        let response: Vec<u8> = row.try_get("response")?;
        R::decode(response.as_slice())
            .map(Some)
            .map_err(|_| IdempotencyError::Corrupt {
                request_id: self.request_id.to_owned(),
            })
    }

    /// Stores `response` for this request. Fails with a unique violation if
    /// the request_id was stored concurrently, which rolls back the caller's
    /// transaction.
    pub async fn remember(
        &self,
        connection: &mut AnyConnection,
        response: &impl Message,
        at: DateTime<Utc>,
    ) -> Result<(), IdempotencyError> {
        sqlx::query(
            "INSERT INTO idempotency_keys (request_id, method, request_sha256, response, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(self.request_id)
        .bind(self.method)
        .bind(&self.request_sha256)
        .bind(response.encode_to_vec())
        .bind(at.to_rfc3339_opts(SecondsFormat::Micros, true))
        .execute(connection)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;

    /// A connection to a new database with the table, on SQLite and then on
    /// PostgreSQL.
    async fn connections() -> Vec<AnyConnection> {
        sqlx::any::install_default_drivers();
        let mut sqlite = AnyConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query(
            "CREATE TABLE idempotency_keys (request_id TEXT PRIMARY KEY, method TEXT NOT NULL, \
             request_sha256 TEXT NOT NULL, response BLOB NOT NULL, created_at TEXT NOT NULL)",
        )
        .execute(&mut sqlite)
        .await
        .unwrap();
        let mut postgres = AnyConnection::connect(&test_support::postgres_database().await)
            .await
            .unwrap();
        sqlx::query(
            "CREATE TABLE idempotency_keys (request_id TEXT PRIMARY KEY, method TEXT NOT NULL, \
             request_sha256 TEXT NOT NULL, response BYTEA NOT NULL, created_at TEXT NOT NULL)",
        )
        .execute(&mut postgres)
        .await
        .unwrap();
        vec![sqlite, postgres]
    }

    fn message(seconds: i64) -> prost_types::Timestamp {
        prost_types::Timestamp { seconds, nanos: 0 }
    }

    #[tokio::test]
    async fn new_request_id_has_no_response() {
        for mut connection in connections().await {
            let key = RequestKey::new("Open", "r1", &message(1));
            let stored: Option<prost_types::Timestamp> = key.replay(&mut connection).await.unwrap();
            assert!(stored.is_none(), "{}", connection.backend_name());
        }
    }

    #[tokio::test]
    async fn same_request_replays_response() {
        for mut connection in connections().await {
            let key = RequestKey::new("Open", "r1", &message(1));
            key.remember(&mut connection, &message(42), Utc::now())
                .await
                .unwrap();
            let stored: Option<prost_types::Timestamp> = key.replay(&mut connection).await.unwrap();
            assert_eq!(stored, Some(message(42)), "{}", connection.backend_name());
        }
    }

    #[tokio::test]
    async fn different_request_is_reuse() {
        for mut connection in connections().await {
            RequestKey::new("Open", "r1", &message(1))
                .remember(&mut connection, &message(42), Utc::now())
                .await
                .unwrap();
            let other_fields = RequestKey::new("Open", "r1", &message(2));
            let result = other_fields
                .replay::<prost_types::Timestamp>(&mut connection)
                .await;
            assert!(matches!(result, Err(IdempotencyError::Reused { .. })));
            let other_method = RequestKey::new("Close", "r1", &message(1));
            let result = other_method
                .replay::<prost_types::Timestamp>(&mut connection)
                .await;
            assert!(matches!(result, Err(IdempotencyError::Reused { .. })));
        }
    }
}
