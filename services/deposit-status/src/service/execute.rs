//! Execution of signed release orders: the only path by which money leaves a
//! deposit.
//!
//! An order is applied only when every check below passes, and all of them
//! run inside one write transaction together with the update, so no two
//! orders can both pass against the same deposit state. On SQLite the
//! transaction holds the write lock. On PostgreSQL it is SERIALIZABLE, and
//! the loser of two conflicting transactions runs again and then reads the
//! winner's execution. The checks:
//!
//! 1. The order is signed by a trusted withdrawal-authorization key.
//! 2. The attestation inside it is signed by this service and is one this
//!    service issued, byte for byte.
//! 3. The order agrees with the attestation (deposit, passbook, version,
//!    amount) and was authorized before the attestation expired.
//! 4. No other order used the attestation.
//! 5. The deposit is still open, still at the attested version, and its
//!    passbook is not reported lost.
//! 6. Today is the attested business date and the interest is unchanged.
//!
//! The same order id again returns the first payout and pays nothing.

use attestation::Envelope;
use bank_proto::common::SignedEnvelope;
use bank_proto::deposit::{ExecuteWithdrawalRequest, ExecuteWithdrawalResponse, MaturityAttestation, Payout};
use bank_proto::withdrawal::ReleaseOrder;
use chrono::{DateTime, NaiveDate, Utc};
use grpc_support::convert::{
    self, envelope_from_proto, format_date, parse_request_id, parse_timestamp, to_timestamp,
};
use grpc_support::error::Violations;
use interest::WithdrawalKind;
use prost::Message;
use rust_decimal::Decimal;
use sqlx::AnyConnection;

use super::status::{require_open_deposit, require_usable_passbook};
use super::{AppState, quote_deposit};
use crate::error::DepositError;
use crate::store::{self, DepositStatus, ExecutionRow};
use crate::views;

/// Largest clock difference tolerated between the two services when an
/// order's authorization instant is compared with this service's clock.
const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(30);

/// Verifies and applies one release order. See the module documentation for
/// the checks.
pub async fn execute_withdrawal(
    state: &AppState,
    request: ExecuteWithdrawalRequest,
) -> Result<ExecuteWithdrawalResponse, DepositError> {
    let mut violations = Violations::new();
    violations.check(parse_request_id("request_id", &request.request_id));
    if request.release_order.is_none() {
        violations.add("release_order", "missing: the signed release order is required");
    }
    violations.finish().map_err(DepositError::Invalid)?;
    let order_envelope = envelope_from_proto(
        request
            .release_order
            .as_ref()
            .unwrap_or(&SignedEnvelope::default()),
    );

    let now = state.now();
    if let Some(response) = replay_executed_order(state, &order_envelope).await? {
        tracing::info!(key_id = %order_envelope.key_id, "release order replayed; nothing paid");
        return Ok(response);
    }
    let order_bytes = state
        .keys
        .verify_release_order(&order_envelope, now)
        .map_err(DepositError::ReleaseOrderSignatureInvalid)?;
    let order = ReleaseOrder::decode(order_bytes)
        .map_err(|error| DepositError::ReleaseOrderInvalid(format!("payload does not decode: {error}")))?;
    let checked = check_order(state, &order, now)?;

    let (order, order_envelope, checked) = (&order, &order_envelope, &checked);
    let response = state
        .store
        .write(|transaction| {
            Box::pin(apply_order(
                state,
                transaction,
                order,
                order_envelope,
                checked,
                now,
            ))
        })
        .await?;
    if response.replayed {
        tracing::info!(order_id = %order.order_id, "release order replayed; nothing paid");
    } else {
        let payout = response.payout.clone().unwrap_or_default();
        tracing::info!(
            order_id = %order.order_id,
            deposit_id = %order.deposit_id,
            principal = %amount_text(&payout.principal),
            interest = %amount_text(&payout.interest),
            "release order executed"
        );
    }
    Ok(response)
}

/// Returns the first payout when this exact signed order (payload, key id
/// and signature, byte for byte) was executed before.
///
/// This runs before any key is checked: the stored copy was verified when it
/// was first executed, so a retry gets its payout even after the signing or
/// the attestation key has been rotated out since. Anything short of an exact
/// match goes through every check.
async fn replay_executed_order(
    state: &AppState,
    envelope: &Envelope,
) -> Result<Option<ExecuteWithdrawalResponse>, DepositError> {
    if envelope.payload_type != bank_proto::payload_type::RELEASE_ORDER {
        return Ok(None);
    }
    let Ok(order) = ReleaseOrder::decode(envelope.payload.as_slice()) else {
        return Ok(None);
    };
    // Only orders with a valid id are executed, so no other id has an
    // execution. Checking first also keeps text such as a NUL byte, which
    // PostgreSQL rejects, out of the query.
    if !is_valid_order_id(&order.order_id) {
        return Ok(None);
    }
    let mut connection = state.store.acquire().await?;
    let Some(execution) = store::find_execution_by_order(&mut connection, &order.order_id).await? else {
        return Ok(None);
    };
    let identical = execution.order_payload == envelope.payload
        && execution.order_key_id == envelope.key_id
        && execution.order_signature == envelope.signature;
    if !identical {
        return Ok(None);
    }
    let payout = Payout::decode(execution.payout.as_slice()).map_err(|_| {
        DepositError::Store(store::StoreError::Corrupt {
            table: "executions",
            column: "payout",
            value: execution.order_id.clone(),
        })
    })?;
    Ok(Some(ExecuteWithdrawalResponse {
        payout: Some(payout),
        replayed: true,
    }))
}

/// Runs the database checks of an order and applies it, inside the write
/// transaction of `connection`. A repeated order id returns the first
/// payout, marked replayed.
async fn apply_order(
    state: &AppState,
    connection: &mut AnyConnection,
    order: &ReleaseOrder,
    order_envelope: &Envelope,
    checked: &CheckedOrder,
    now: DateTime<Utc>,
) -> Result<ExecuteWithdrawalResponse, DepositError> {
    let attestation = &checked.attestation;
    if let Some(execution) = store::find_execution_by_order(connection, &order.order_id).await? {
        if execution.order_payload != order_envelope.payload {
            return Err(DepositError::OrderIdReused(order.order_id.clone()));
        }
        let payout = Payout::decode(execution.payout.as_slice()).map_err(|_| {
            DepositError::Store(store::StoreError::Corrupt {
                table: "executions",
                column: "payout",
                value: execution.order_id.clone(),
            })
        })?;
        return Ok(ExecuteWithdrawalResponse {
            payout: Some(payout),
            replayed: true,
        });
    }

    let issued = store::find_attestation(connection, &attestation.attestation_id)
        .await?
        .filter(|row| row.payload == checked.attestation_bytes)
        .ok_or_else(|| DepositError::AttestationNotFound(attestation.attestation_id.clone()))?;
    if checked.authorized_at >= issued.expires_at {
        return Err(DepositError::AttestationExpired(issued.attestation_id));
    }
    if let Some(other) = store::find_execution_by_attestation(connection, &issued.attestation_id).await? {
        return Err(DepositError::AttestationAlreadyUsed {
            attestation_id: issued.attestation_id,
            order_id: other.order_id,
        });
    }

    let deposit = store::find_deposit(connection, &attestation.deposit_id)
        .await?
        .ok_or_else(|| DepositError::DepositNotFound(attestation.deposit_id.clone()))?;
    let business_date = state.business_date(connection).await?.date;
    require_open_deposit(&deposit, business_date)?;
    if deposit.version != issued.deposit_version {
        return Err(DepositError::DepositVersionChanged {
            deposit_id: deposit.deposit_id,
            attested: issued.deposit_version,
            current: deposit.version,
        });
    }
    require_usable_passbook(
        store::find_passbook(connection, &deposit.passbook_number).await?,
        &deposit.passbook_number,
    )?;
    if business_date != checked.business_date {
        return Err(DepositError::AttestationStale {
            attestation_id: issued.attestation_id,
            attested: checked.business_date,
            today: business_date,
        });
    }

    let amount = (!attestation.whole_deposit).then_some(checked.amount);
    let (quote, demand_rate) = quote_deposit(connection, &deposit, business_date, amount).await?;
    let contract_rate = super::interest_deposit(&deposit)?.contract_rate;
    let quote_message = views::quote_to_proto(
        &quote,
        &deposit.currency_code,
        contract_rate,
        demand_rate,
        deposit.day_basis,
    );
    if Some(&quote_message) != attestation.quote.as_ref() {
        // Same version and date but other figures: a demand rate was posted
        // for today after the attestation. The customer was told the old
        // figures, so nothing is paid on the new ones without a new attestation.
        return Err(DepositError::QuoteChanged(issued.attestation_id));
    }

    let new_balance = deposit.balance - quote.amount_withdrawn;
    let (new_status, partial_used) = if quote.remaining_principal.is_zero() {
        (DepositStatus::Withdrawn, deposit.partial_withdrawal_used)
    } else {
        (
            DepositStatus::Open,
            deposit.partial_withdrawal_used || quote.kind == WithdrawalKind::EarlyPartial,
        )
    };
    let applied = store::apply_withdrawal(
        connection,
        &deposit.deposit_id,
        deposit.version,
        new_balance,
        new_status,
        partial_used,
    )
    .await?;
    if !applied {
        // Unreachable while SQLite's write lock is held or while PostgreSQL's
        // SERIALIZABLE isolation turns a concurrent update into a
        // serialization failure: the version was read in this transaction.
        // Kept as a guard against a weaker isolation level.
        return Err(DepositError::DepositVersionChanged {
            deposit_id: deposit.deposit_id,
            attested: issued.deposit_version,
            current: deposit.version,
        });
    }

    let currency = deposit.currency_code.as_str();
    let payout = Payout {
        order_id: order.order_id.clone(),
        deposit_id: deposit.deposit_id.clone(),
        passbook_number: deposit.passbook_number.clone(),
        withdrawal_kind: views::withdrawal_kind_to_proto(quote.kind) as i32,
        principal: Some(convert::money(quote.amount_withdrawn, currency)),
        interest: Some(convert::money(quote.interest, currency)),
        total: Some(convert::money(quote.amount_withdrawn + quote.interest, currency)),
        remaining_balance: Some(convert::money(new_balance, currency)),
        deposit_state: if new_status == DepositStatus::Withdrawn {
            bank_proto::deposit::DepositState::Withdrawn as i32
        } else {
            attestation.deposit_state
        },
        business_date: format_date(business_date),
        executed_at: Some(to_timestamp(now)),
        quote: Some(quote_message),
    };
    store::insert_execution(
        connection,
        &ExecutionRow {
            order_id: order.order_id.clone(),
            attestation_id: issued.attestation_id.clone(),
            deposit_id: deposit.deposit_id.clone(),
            order_payload: order_envelope.payload.clone(),
            order_key_id: order_envelope.key_id.clone(),
            order_signature: order_envelope.signature.clone(),
            payout: payout.encode_to_vec(),
            executed_at: now,
        },
    )
    .await?;
    Ok(ExecuteWithdrawalResponse {
        payout: Some(payout),
        replayed: false,
    })
}

/// Returns the amount of a money field, or "" when it is missing, for logs.
fn amount_text(money: &Option<bank_proto::common::Money>) -> &str {
    money.as_ref().map_or("", |money| money.amount.as_str())
}

/// The parts of a release order checked before the database is touched.
struct CheckedOrder {
    attestation: MaturityAttestation,
    attestation_bytes: Vec<u8>,
    authorized_at: DateTime<Utc>,
    business_date: NaiveDate,
    amount: Decimal,
}

/// Returns whether `order_id` is a UUID other than the nil UUID, the only
/// order ids that are executed.
fn is_valid_order_id(order_id: &str) -> bool {
    uuid::Uuid::parse_str(order_id).is_ok_and(|id| !id.is_nil())
}

/// Checks the order's own fields, its attestation's signature, and that the
/// two agree.
fn check_order(
    state: &AppState,
    order: &ReleaseOrder,
    now: DateTime<Utc>,
) -> Result<CheckedOrder, DepositError> {
    let invalid = |reason: &str| DepositError::ReleaseOrderInvalid(reason.to_owned());

    if !is_valid_order_id(&order.order_id) {
        return Err(invalid("order_id is not a UUID"));
    }
    let authorized_at = parse_timestamp("authorized_at", order.authorized_at.as_ref())
        .map_err(|_| invalid("authorized_at is missing or invalid"))?;
    if authorized_at > now + MAX_CLOCK_SKEW {
        return Err(invalid("authorized_at is in the future"));
    }

    let envelope = envelope_from_proto(
        order
            .maturity_attestation
            .as_ref()
            .ok_or_else(|| invalid("maturity_attestation is missing"))?,
    );
    let attestation_bytes = state
        .keys
        .verify_attestation(&envelope, now)
        .map_err(DepositError::AttestationSignatureInvalid)?
        .to_vec();
    let attestation = MaturityAttestation::decode(attestation_bytes.as_slice())
        .map_err(|_| invalid("maturity_attestation payload does not decode"))?;

    let issued_at = parse_timestamp("issued_at", attestation.issued_at.as_ref())
        .map_err(|_| invalid("attestation issued_at is missing"))?;
    if authorized_at < issued_at {
        return Err(invalid("authorized_at is before the attestation was issued"));
    }
    let agrees = order.attestation_id == attestation.attestation_id
        && order.deposit_id == attestation.deposit_id
        && order.passbook_number == attestation.passbook_number
        && order.deposit_version == attestation.deposit_version
        && order.whole_deposit == attestation.whole_deposit
        && order.amount == attestation.requested_amount;
    if !agrees {
        return Err(invalid("the order does not match its attestation"));
    }
    let (amount, _) = convert::parse_money("requested_amount", attestation.requested_amount.as_ref())
        .map_err(|_| invalid("attestation requested_amount is invalid"))?;
    let business_date = convert::parse_date("business_date", &attestation.business_date)
        .map_err(|_| invalid("attestation business_date is invalid"))?;

    Ok(CheckedOrder {
        attestation,
        attestation_bytes,
        authorized_at,
        business_date,
        amount,
    })
}
