//! Passbook closures: one teller instruction covering every deposit.

use attestation::Envelope;
use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};
use storage::format_instant;

use super::{StoreError, instant};

/// A closure as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosureRow {
    pub closure_id: String,
    pub request_id: String,
    pub passbook_number: String,
    pub teller_staff_id: String,
    pub instruction: Envelope,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_closure(connection: &mut AnyConnection, closure: &ClosureRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO closures (closure_id, request_id, passbook_number, teller_staff_id, instruction_payload, \
         instruction_key_id, instruction_signature, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&closure.closure_id)
    .bind(&closure.request_id)
    .bind(&closure.passbook_number)
    .bind(&closure.teller_staff_id)
    .bind(&closure.instruction.payload)
    .bind(&closure.instruction.key_id)
    .bind(&closure.instruction.signature)
    .bind(format_instant(closure.created_at))
    .execute(connection)
    .await?;
    Ok(())
}

pub async fn find_closure(
    connection: &mut AnyConnection,
    closure_id: &str,
) -> Result<Option<ClosureRow>, StoreError> {
    let row = sqlx::query(
        "SELECT closure_id, request_id, passbook_number, teller_staff_id, instruction_payload, instruction_key_id, \
         instruction_signature, created_at FROM closures WHERE closure_id = $1",
    )
    .bind(closure_id)
    .fetch_optional(connection)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(ClosureRow {
        closure_id: row.try_get("closure_id")?,
        request_id: row.try_get("request_id")?,
        passbook_number: row.try_get("passbook_number")?,
        teller_staff_id: row.try_get("teller_staff_id")?,
        instruction: Envelope {
            payload_type: bank_proto::payload_type::PASSBOOK_CLOSURE_INSTRUCTION.to_owned(),
            payload: row.try_get("instruction_payload")?,
            key_id: row.try_get("instruction_key_id")?,
            signature: row.try_get("instruction_signature")?,
        },
        created_at: instant("closures", "created_at", &row.try_get::<String, _>("created_at")?)?,
    }))
}
