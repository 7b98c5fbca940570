//! Authorizations and the supervisor decisions on them.

use attestation::Envelope;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use storage::{BackendSql, decimal_param, format_instant};

use super::{StoreError, instant, optional_instant};

/// The state of an authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationState {
    Pending,
    Ready,
    Releasing,
    Released,
    Rejected,
    Failed,
    Expired,
}

impl AuthorizationState {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorizationState::Pending => "pending",
            AuthorizationState::Ready => "ready",
            AuthorizationState::Releasing => "releasing",
            AuthorizationState::Released => "released",
            AuthorizationState::Rejected => "rejected",
            AuthorizationState::Failed => "failed",
            AuthorizationState::Expired => "expired",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "pending" => AuthorizationState::Pending,
            "ready" => AuthorizationState::Ready,
            "releasing" => AuthorizationState::Releasing,
            "released" => AuthorizationState::Released,
            "rejected" => AuthorizationState::Rejected,
            "failed" => AuthorizationState::Failed,
            "expired" => AuthorizationState::Expired,
            other => {
                return Err(StoreError::Corrupt {
                    table: "authorizations",
                    column: "state",
                    value: other.to_owned(),
                });
            }
        })
    }

    /// True for states nothing can change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            AuthorizationState::Released
                | AuthorizationState::Rejected
                | AuthorizationState::Failed
                | AuthorizationState::Expired
        )
    }
}

/// An authorization as stored. Signed envelopes are kept as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRow {
    pub authorization_id: String,
    pub request_id: String,
    pub closure_id: Option<String>,
    pub state: AuthorizationState,
    pub teller_staff_id: String,
    pub branch_id: String,
    pub passbook_number: String,
    pub deposit_id: String,
    pub amount: Decimal,
    pub payout_total: Decimal,
    pub currency_code: String,
    pub whole_deposit: bool,
    pub loses_interest: bool,
    /// The teller's signed instruction (a WithdrawalInstruction, or the
    /// PassbookClosureInstruction for a closure's authorizations).
    pub instruction: Envelope,
    pub attestation_id: String,
    pub attestation: Envelope,
    pub attestation_expires_at: DateTime<Utc>,
    /// The protobuf encoding of the IdentityCheck.
    pub identity_check: Vec<u8>,
    /// Supervisor flags as their enum numbers.
    pub flags: Vec<i32>,
    pub disclosure_zh_cn: Option<String>,
    pub disclosure_en: Option<String>,
    pub acknowledgement: Option<Envelope>,
    pub acknowledgement_recorded_at: Option<DateTime<Utc>>,
    pub requirements_met_at: Option<DateTime<Utc>>,
    pub order_id: Option<String>,
    pub order: Option<Envelope>,
    /// The protobuf encoding of the Payout, once released.
    pub payout: Option<Vec<u8>>,
    pub last_error_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A supervisor's co-signature or rejection of one authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRow {
    pub authorization_id: String,
    pub position: i64,
    pub supervisor_staff_id: String,
    pub approved: bool,
    pub reason: String,
    pub envelope: Envelope,
    pub recorded_at: DateTime<Utc>,
}

/// The columns of an authorization. Money is read as text, which keeps its
/// scale on both backends.
const COLUMNS: &str = "authorization_id, request_id, closure_id, state, teller_staff_id, branch_id, passbook_number, \
    deposit_id, CAST(amount AS TEXT) AS amount, CAST(payout_total AS TEXT) AS payout_total, currency_code, whole_deposit, loses_interest, instruction_payload, \
    instruction_type, instruction_key_id, instruction_signature, attestation_id, attestation_payload, \
    attestation_key_id, attestation_signature, attestation_expires_at, identity_check, flags, disclosure_zh_cn, \
    disclosure_en, ack_payload, ack_key_id, ack_signature, ack_recorded_at, requirements_met_at, order_id, \
    order_payload, order_key_id, order_signature, payout, last_error_reason, created_at, updated_at";

fn decimal(row: &AnyRow, column: &'static str) -> Result<Decimal, StoreError> {
    let text: String = row.try_get(column)?;
    Decimal::from_str_exact(&text).map_err(|_| StoreError::Corrupt {
        table: "authorizations",
        column,
        value: text,
    })
}

fn envelope(
    row: &AnyRow,
    payload_type: String,
    payload: &str,
    key_id: &str,
    signature: &str,
) -> Result<Option<Envelope>, StoreError> {
    let payload: Option<Vec<u8>> = row.try_get(payload)?;
    let key_id: Option<String> = row.try_get(key_id)?;
    let signature: Option<Vec<u8>> = row.try_get(signature)?;
    Ok(match (payload, key_id, signature) {
        (Some(payload), Some(key_id), Some(signature)) => Some(Envelope {
            payload_type,
            payload,
            key_id,
            signature,
        }),
        _ => None,
    })
}

fn from_row(row: &AnyRow) -> Result<AuthorizationRow, StoreError> {
    let authorization_id: String = row.try_get("authorization_id")?;
    let missing = |column: &'static str| StoreError::Corrupt {
        table: "authorizations",
        column,
        value: authorization_id.clone(),
    };
    let flags_text: String = row.try_get("flags")?;
    let flags = flags_text
        .split(',')
        .filter(|flag| !flag.is_empty())
        .map(|flag| flag.parse::<i32>().map_err(|_| missing("flags")))
        .collect::<Result<Vec<_>, _>>()?;
    let instruction_type: String = row.try_get("instruction_type")?;
    Ok(AuthorizationRow {
        request_id: row.try_get("request_id")?,
        closure_id: row.try_get("closure_id")?,
        state: AuthorizationState::parse(&row.try_get::<String, _>("state")?)?,
        teller_staff_id: row.try_get("teller_staff_id")?,
        branch_id: row.try_get("branch_id")?,
        passbook_number: row.try_get("passbook_number")?,
        deposit_id: row.try_get("deposit_id")?,
        amount: decimal(row, "amount")?,
        payout_total: decimal(row, "payout_total")?,
        currency_code: row.try_get("currency_code")?,
        whole_deposit: row.try_get::<i64, _>("whole_deposit")? != 0,
        loses_interest: row.try_get::<i64, _>("loses_interest")? != 0,
        instruction: envelope(
            row,
            instruction_type,
            "instruction_payload",
            "instruction_key_id",
            "instruction_signature",
        )?
        .ok_or_else(|| missing("instruction_payload"))?,
        attestation_id: row.try_get("attestation_id")?,
        attestation: envelope(
            row,
            bank_proto::payload_type::MATURITY_ATTESTATION.to_owned(),
            "attestation_payload",
            "attestation_key_id",
            "attestation_signature",
        )?
        .ok_or_else(|| missing("attestation_payload"))?,
        attestation_expires_at: instant(
            "authorizations",
            "attestation_expires_at",
            &row.try_get::<String, _>("attestation_expires_at")?,
        )?,
        identity_check: row.try_get("identity_check")?,
        flags,
        disclosure_zh_cn: row.try_get("disclosure_zh_cn")?,
        disclosure_en: row.try_get("disclosure_en")?,
        acknowledgement: envelope(
            row,
            bank_proto::payload_type::DISCLOSURE_ACKNOWLEDGEMENT.to_owned(),
            "ack_payload",
            "ack_key_id",
            "ack_signature",
        )?,
        acknowledgement_recorded_at: optional_instant(
            "authorizations",
            "ack_recorded_at",
            row.try_get("ack_recorded_at")?,
        )?,
        requirements_met_at: optional_instant(
            "authorizations",
            "requirements_met_at",
            row.try_get("requirements_met_at")?,
        )?,
        order_id: row.try_get("order_id")?,
        order: envelope(
            row,
            bank_proto::payload_type::RELEASE_ORDER.to_owned(),
            "order_payload",
            "order_key_id",
            "order_signature",
        )?,
        payout: row.try_get("payout")?,
        last_error_reason: row.try_get("last_error_reason")?,
        created_at: instant(
            "authorizations",
            "created_at",
            &row.try_get::<String, _>("created_at")?,
        )?,
        updated_at: instant(
            "authorizations",
            "updated_at",
            &row.try_get::<String, _>("updated_at")?,
        )?,
        authorization_id,
    })
}

fn flags_text(flags: &[i32]) -> String {
    flags.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

static INSERT_AUTHORIZATION: BackendSql = BackendSql::new(|backend| {
    format!(
        "INSERT INTO authorizations (authorization_id, request_id, closure_id, state, teller_staff_id, branch_id, \
         passbook_number, deposit_id, amount, payout_total, currency_code, whole_deposit, loses_interest, \
         instruction_payload, instruction_type, instruction_key_id, instruction_signature, attestation_id, \
         attestation_payload, attestation_key_id, attestation_signature, attestation_expires_at, identity_check, \
         flags, disclosure_zh_cn, disclosure_en, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {amount}, {payout_total}, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)",
        amount = decimal_param(backend, 9),
        payout_total = decimal_param(backend, 10),
    )
});

/// Inserts a new authorization. Fails with a unique violation when its
/// attestation was used before, or when another authorization for the same
/// deposit is still open.
pub async fn insert_authorization(
    connection: &mut AnyConnection,
    row: &AuthorizationRow,
) -> Result<(), StoreError> {
    sqlx::query(INSERT_AUTHORIZATION.for_connection(connection))
        .bind(&row.authorization_id)
        .bind(&row.request_id)
        .bind(&row.closure_id)
        .bind(row.state.as_str())
        .bind(&row.teller_staff_id)
        .bind(&row.branch_id)
        .bind(&row.passbook_number)
        .bind(&row.deposit_id)
        .bind(row.amount.to_string())
        .bind(row.payout_total.to_string())
        .bind(&row.currency_code)
        .bind(i64::from(row.whole_deposit))
        .bind(i64::from(row.loses_interest))
        .bind(&row.instruction.payload)
        .bind(&row.instruction.payload_type)
        .bind(&row.instruction.key_id)
        .bind(&row.instruction.signature)
        .bind(&row.attestation_id)
        .bind(&row.attestation.payload)
        .bind(&row.attestation.key_id)
        .bind(&row.attestation.signature)
        .bind(format_instant(row.attestation_expires_at))
        .bind(&row.identity_check)
        .bind(flags_text(&row.flags))
        .bind(&row.disclosure_zh_cn)
        .bind(&row.disclosure_en)
        .bind(format_instant(row.created_at))
        .bind(format_instant(row.updated_at))
        .execute(connection)
        .await?;
    Ok(())
}

/// Writes the columns that change after submission: state, acknowledgement,
/// requirements, order, payout and error.
pub async fn save_authorization(
    connection: &mut AnyConnection,
    row: &AuthorizationRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE authorizations SET state = $2, ack_payload = $3, ack_key_id = $4, ack_signature = $5, \
         ack_recorded_at = $6, requirements_met_at = $7, order_id = $8, order_payload = $9, order_key_id = $10, \
         order_signature = $11, payout = $12, last_error_reason = $13, updated_at = $14 \
         WHERE authorization_id = $1",
    )
    .bind(&row.authorization_id)
    .bind(row.state.as_str())
    .bind(row.acknowledgement.as_ref().map(|envelope| envelope.payload.clone()))
    .bind(row.acknowledgement.as_ref().map(|envelope| envelope.key_id.clone()))
    .bind(row.acknowledgement.as_ref().map(|envelope| envelope.signature.clone()))
    .bind(row.acknowledgement_recorded_at.map(format_instant))
    .bind(row.requirements_met_at.map(format_instant))
    .bind(&row.order_id)
    .bind(row.order.as_ref().map(|envelope| envelope.payload.clone()))
    .bind(row.order.as_ref().map(|envelope| envelope.key_id.clone()))
    .bind(row.order.as_ref().map(|envelope| envelope.signature.clone()))
    .bind(&row.payout)
    .bind(&row.last_error_reason)
    .bind(format_instant(row.updated_at))
    .execute(connection)
    .await?;
    Ok(())
}

pub async fn find_authorization(
    connection: &mut AnyConnection,
    authorization_id: &str,
) -> Result<Option<AuthorizationRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM authorizations WHERE authorization_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(authorization_id)
        .fetch_optional(connection)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Lists a branch's pending and ready authorizations, oldest first, starting
/// after the (created_at, authorization_id) position `after`.
pub async fn list_pending_authorizations(
    connection: &mut AnyConnection,
    branch_id: &str,
    after: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<AuthorizationRow>, StoreError> {
    let (after_created, after_id) = after.unwrap_or(("", ""));
    let sql = format!(
        "SELECT {COLUMNS} FROM authorizations WHERE branch_id = $1 AND state IN ('pending', 'ready') \
         AND (created_at > $2 OR (created_at = $2 AND authorization_id > $3)) \
         ORDER BY created_at, authorization_id LIMIT $4"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(branch_id)
        .bind(after_created)
        .bind(after_id)
        .bind(limit)
        .fetch_all(connection)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Lists a closure's authorizations in submission order.
pub async fn list_authorizations_by_closure(
    connection: &mut AnyConnection,
    closure_id: &str,
) -> Result<Vec<AuthorizationRow>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM authorizations WHERE closure_id = $1 ORDER BY created_at, deposit_id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(closure_id)
        .fetch_all(connection)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Lists the authorizations whose release order was signed but whose payout
/// is not recorded, oldest first.
pub async fn list_releasing_authorizations(
    connection: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<AuthorizationRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM authorizations WHERE state = 'releasing' ORDER BY updated_at LIMIT $1"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(connection)
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn insert_decision(
    connection: &mut AnyConnection,
    decision: &DecisionRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO decisions (authorization_id, position, supervisor_staff_id, approved, reason, payload_type, \
         payload, key_id, signature, recorded_at) \
         VALUES ($1, (SELECT COUNT(*) + 1 FROM decisions WHERE authorization_id = $1), $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&decision.authorization_id)
    .bind(&decision.supervisor_staff_id)
    .bind(i64::from(decision.approved))
    .bind(&decision.reason)
    .bind(&decision.envelope.payload_type)
    .bind(&decision.envelope.payload)
    .bind(&decision.envelope.key_id)
    .bind(&decision.envelope.signature)
    .bind(format_instant(decision.recorded_at))
    .execute(connection)
    .await?;
    Ok(())
}

pub async fn list_decisions(
    connection: &mut AnyConnection,
    authorization_id: &str,
) -> Result<Vec<DecisionRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT authorization_id, position, supervisor_staff_id, approved, reason, payload_type, payload, key_id, \
         signature, recorded_at FROM decisions WHERE authorization_id = $1 ORDER BY position",
    )
    .bind(authorization_id)
    .fetch_all(connection)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(DecisionRow {
                authorization_id: row.try_get("authorization_id")?,
                position: row.try_get("position")?,
                supervisor_staff_id: row.try_get("supervisor_staff_id")?,
                approved: row.try_get::<i64, _>("approved")? != 0,
                reason: row.try_get("reason")?,
                envelope: Envelope {
                    payload_type: row.try_get("payload_type")?,
                    payload: row.try_get("payload")?,
                    key_id: row.try_get("key_id")?,
                    signature: row.try_get("signature")?,
                },
                recorded_at: instant(
                    "decisions",
                    "recorded_at",
                    &row.try_get::<String, _>("recorded_at")?,
                )?,
            })
        })
        .collect()
}

/// Returns the id of the authorization that used `attestation_id`, if any.
pub async fn find_authorization_by_attestation(
    connection: &mut AnyConnection,
    attestation_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT authorization_id FROM authorizations WHERE attestation_id = $1")
            .bind(attestation_id)
            .fetch_optional(connection)
            .await?,
    )
}

/// Returns the id of the deposit's authorization that is still on its way to
/// release, if any.
pub async fn find_open_authorization_for_deposit(
    connection: &mut AnyConnection,
    deposit_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT authorization_id FROM authorizations WHERE deposit_id = $1 \
         AND state IN ('pending', 'ready', 'releasing')",
    )
    .bind(deposit_id)
    .fetch_optional(connection)
    .await?)
}
