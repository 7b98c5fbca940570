//! The append-only, hash-chained audit log.
//!
//! record_sha256 = SHA-256(previous record_sha256 as ASCII hex || entry bytes),
//! with 64 zeros before the first record. Rows are only ever inserted, and
//! always inside the transaction of the change they record.

use bank_proto::withdrawal::AuditEntry;
use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::StoreError;

/// The previous hash of the first record.
pub const GENESIS_SHA256: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub sequence: i64,
    pub entry: Vec<u8>,
    pub previous_sha256: String,
    pub record_sha256: String,
}

/// Computes a record's hash from the previous hash and its entry bytes.
pub fn record_sha256(previous_sha256: &str, entry: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(previous_sha256.as_bytes());
    hasher.update(entry);
    hex::encode(hasher.finalize())
}

/// Appends `entry` with the next sequence number and returns the stored
/// record. The caller's write transaction serializes appends.
pub async fn append_audit(
    connection: &mut AnyConnection,
    mut entry: AuditEntry,
) -> Result<AuditRow, StoreError> {
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT sequence, record_sha256 FROM audit_log ORDER BY sequence DESC LIMIT 1")
            .fetch_optional(&mut *connection)
            .await?;
    let (sequence, previous_sha256) = match last {
        Some((sequence, hash)) => (sequence + 1, hash),
        None => (1, GENESIS_SHA256.to_owned()),
    };
    entry.sequence = sequence;
    let bytes = entry.encode_to_vec();
    let hash = record_sha256(&previous_sha256, &bytes);
    let authorization_id = (!entry.authorization_id.is_empty()).then_some(entry.authorization_id.as_str());
    let passbook_number = (!entry.passbook_number.is_empty()).then_some(entry.passbook_number.as_str());
    sqlx::query(
        "INSERT INTO audit_log (sequence, entry, previous_sha256, record_sha256, authorization_id, passbook_number) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(sequence)
    .bind(&bytes)
    .bind(&previous_sha256)
    .bind(&hash)
    .bind(authorization_id)
    .bind(passbook_number)
    .execute(connection)
    .await?;
    Ok(AuditRow {
        sequence,
        entry: bytes,
        previous_sha256,
        record_sha256: hash,
    })
}

fn from_row(row: &AnyRow) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        sequence: row.try_get("sequence")?,
        entry: row.try_get("entry")?,
        previous_sha256: row.try_get("previous_sha256")?,
        record_sha256: row.try_get("record_sha256")?,
    })
}

pub async fn list_audit_by_authorization(
    connection: &mut AnyConnection,
    authorization_id: &str,
) -> Result<Vec<AuditRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT sequence, entry, previous_sha256, record_sha256 FROM audit_log WHERE authorization_id = $1 \
         ORDER BY sequence",
    )
    .bind(authorization_id)
    .fetch_all(connection)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn list_audit_by_passbook(
    connection: &mut AnyConnection,
    passbook_number: &str,
) -> Result<Vec<AuditRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT sequence, entry, previous_sha256, record_sha256 FROM audit_log WHERE passbook_number = $1 \
         ORDER BY sequence",
    )
    .bind(passbook_number)
    .fetch_all(connection)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Lists up to `limit` records from sequence `from` on.
pub async fn list_audit_range(
    connection: &mut AnyConnection,
    from: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT sequence, entry, previous_sha256, record_sha256 FROM audit_log WHERE sequence >= $1 \
         ORDER BY sequence LIMIT $2",
    )
    .bind(from)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    rows.iter().map(from_row).collect()
}
