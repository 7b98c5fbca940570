//! Issued attestations and executed release orders.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{StoreError, format_instant, parse_instant};

/// An issued attestation: the exact signed bytes and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationRow {
    pub attestation_id: String,
    pub deposit_id: String,
    pub deposit_version: i64,
    pub payload: Vec<u8>,
    pub key_id: String,
    pub signature: Vec<u8>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An executed release order and the payout it produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRow {
    pub order_id: String,
    pub attestation_id: String,
    pub deposit_id: String,
    pub order_payload: Vec<u8>,
    pub order_key_id: String,
    pub order_signature: Vec<u8>,
    /// The protobuf encoding of the `Payout` returned the first time.
    pub payout: Vec<u8>,
    pub executed_at: DateTime<Utc>,
}

/// Records an issued attestation.
pub async fn insert_attestation(
    connection: &mut AnyConnection,
    row: &AttestationRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO attestations (attestation_id, deposit_id, deposit_version, payload, key_id, signature, \
         issued_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.attestation_id)
    .bind(&row.deposit_id)
    .bind(row.deposit_version)
    .bind(&row.payload)
    .bind(&row.key_id)
    .bind(&row.signature)
    .bind(format_instant(row.issued_at))
    .bind(format_instant(row.expires_at))
    .execute(connection)
    .await?;
    Ok(())
}

/// Returns the attestation `attestation_id` if this service issued it.
pub async fn find_attestation(
    connection: &mut AnyConnection,
    attestation_id: &str,
) -> Result<Option<AttestationRow>, StoreError> {
    let row = sqlx::query(
        "SELECT attestation_id, deposit_id, deposit_version, payload, key_id, signature, issued_at, expires_at \
         FROM attestations WHERE attestation_id = $1",
    )
    .bind(attestation_id)
    .fetch_optional(connection)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(AttestationRow {
        attestation_id: row.try_get("attestation_id")?,
        deposit_id: row.try_get("deposit_id")?,
        deposit_version: row.try_get("deposit_version")?,
        payload: row.try_get("payload")?,
        key_id: row.try_get("key_id")?,
        signature: row.try_get("signature")?,
        issued_at: parse_instant(
            "attestations",
            "issued_at",
            &row.try_get::<String, _>("issued_at")?,
        )?,
        expires_at: parse_instant(
            "attestations",
            "expires_at",
            &row.try_get::<String, _>("expires_at")?,
        )?,
    }))
}

fn execution_from_row(row: &AnyRow) -> Result<ExecutionRow, StoreError> {
    Ok(ExecutionRow {
        order_id: row.try_get("order_id")?,
        attestation_id: row.try_get("attestation_id")?,
        deposit_id: row.try_get("deposit_id")?,
        order_payload: row.try_get("order_payload")?,
        order_key_id: row.try_get("order_key_id")?,
        order_signature: row.try_get("order_signature")?,
        payout: row.try_get("payout")?,
        executed_at: parse_instant(
            "executions",
            "executed_at",
            &row.try_get::<String, _>("executed_at")?,
        )?,
    })
}

const EXECUTION_COLUMNS: &str =
    "order_id, attestation_id, deposit_id, order_payload, order_key_id, order_signature, payout, executed_at";

/// Returns the execution of order `order_id`, if it was executed.
pub async fn find_execution_by_order(
    connection: &mut AnyConnection,
    order_id: &str,
) -> Result<Option<ExecutionRow>, StoreError> {
    let sql = format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE order_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(order_id)
        .fetch_optional(connection)
        .await?;
    row.as_ref().map(execution_from_row).transpose()
}

/// Returns the execution that used attestation `attestation_id`, if any.
pub async fn find_execution_by_attestation(
    connection: &mut AnyConnection,
    attestation_id: &str,
) -> Result<Option<ExecutionRow>, StoreError> {
    let sql = format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE attestation_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(attestation_id)
        .fetch_optional(connection)
        .await?;
    row.as_ref().map(execution_from_row).transpose()
}

/// Records an executed order.
pub async fn insert_execution(connection: &mut AnyConnection, row: &ExecutionRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO executions (order_id, attestation_id, deposit_id, order_payload, order_key_id, \
         order_signature, payout, executed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.order_id)
    .bind(&row.attestation_id)
    .bind(&row.deposit_id)
    .bind(&row.order_payload)
    .bind(&row.order_key_id)
    .bind(&row.order_signature)
    .bind(&row.payout)
    .bind(format_instant(row.executed_at))
    .execute(connection)
    .await?;
    Ok(())
}
