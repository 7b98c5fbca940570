//! Supervisor decisions: co-signatures (checker) and rejections.
//!
//! A co-signature is accepted only from an active supervisor of the
//! authorization's branch who did not submit it, whose key is valid and not
//! revoked, whose approval limit covers the payout, over the digest of the
//! authorization as it stands now, after the customer acknowledged any
//! interest loss and before the attestation expires. One co-signature may
//! cover several authorizations only within one passbook closure and only
//! when none of them loses interest.

use std::collections::BTreeSet;

use attestation::Envelope;
use bank_proto::common::SignedEnvelope;
use bank_proto::withdrawal::{
    AuditEventType, AuthorizationReference, CoSignAuthorizationsRequest, CoSignAuthorizationsResponse,
    CoSignature, RejectAuthorizationRequest, RejectAuthorizationResponse, Rejection,
};
use chrono::{DateTime, Utc};
use grpc_support::convert::{
    envelope_from_proto, parse_request_id, parse_timestamp, require_identifier, require_text,
};
use grpc_support::error::Violations;
use prost::Message;
use serde_json::json;
use sqlx::AnyConnection;
use storage::RequestKey;

use super::{AppState, MAX_CLOCK_SKEW, authorization_view, load};
use crate::audit::{self, Event};
use crate::error::AuthorizationError;
use crate::staff_signature::{require_signer, verify_staff_signature};
use crate::store::{self, AuthorizationRow, AuthorizationState, DecisionRow, Role, StaffRow};
use crate::view::authorization_digest;

/// Most authorizations one co-signature may cover.
pub const MAX_COSIGNED_AUTHORIZATIONS: usize = 100;
/// Maximum length of a rejection reason, in characters.
const MAX_REASON_CHARS: usize = 500;

pub async fn co_sign(
    state: &AppState,
    request: CoSignAuthorizationsRequest,
) -> Result<CoSignAuthorizationsResponse, AuthorizationError> {
    let mut violations = Violations::new();
    violations.check(parse_request_id("request_id", &request.request_id));
    if request.cosignature.is_none() {
        violations.add(
            "cosignature",
            "missing: the supervisor-signed co-signature is required",
        );
    }
    violations.finish()?;
    let key = RequestKey::new("CoSignAuthorizations", &request.request_id, &request);
    {
        let mut connection = state.store.pool().acquire().await?;
        if let Some(response) = key
            .replay::<CoSignAuthorizationsResponse>(&mut connection)
            .await?
        {
            return Ok(response);
        }
    }

    let now = state.now();
    let envelope = envelope_from_proto(request.cosignature.as_ref().unwrap_or(&SignedEnvelope::default()));
    let verified = {
        let mut connection = state.store.pool().acquire().await?;
        verify_staff_signature(
            &mut connection,
            &envelope,
            bank_proto::payload_type::CO_SIGNATURE,
            &[Role::Supervisor],
            now,
        )
        .await
    };
    let (supervisor, payload) = match verified {
        Ok(verified) => verified,
        Err(error) => return Err(deny_unverified(state, &envelope, error, now).await),
    };
    let cosignature = CoSignature::decode(payload.as_slice()).map_err(|_| undecodable("cosignature"))?;
    require_signer(&supervisor, &cosignature.supervisor_staff_id, "supervisor")?;
    check_references(&cosignature.authorizations, cosignature.signed_at.as_ref(), now)?;

    let (key, supervisor, envelope, cosignature) = (&key, &supervisor, &envelope, &cosignature);
    let decision = state
        .store
        .write(|transaction| {
            Box::pin(record_cosignature(
                transaction,
                key,
                supervisor,
                envelope,
                cosignature,
                now,
            ))
        })
        .await?;
    match decision {
        Decision::Replayed(response) => Ok(response),
        Decision::Recorded(response) => {
            tracing::info!(
                supervisor = %supervisor.staff_id,
                count = response.authorizations.len(),
                "authorizations co-signed"
            );
            Ok(response)
        }
        Decision::Denied(denial) => {
            let Denial { row, error } = *denial;
            Err(record_denial(state, envelope, row.as_ref(), error, now).await)
        }
    }
}

/// The result of a decision's write transaction.
enum Decision<R> {
    /// The request_id was used before; this is the stored response.
    Replayed(R),
    /// The decision was recorded.
    Recorded(R),
    /// The decision was refused. The transaction committed what it changed
    /// (an authorization marked expired); the denial is recorded after it.
    Denied(Box<Denial>),
}

/// A refused decision: the authorization it named, and why.
struct Denial {
    row: Option<AuthorizationRow>,
    error: AuthorizationError,
}

impl<R> Decision<R> {
    fn denied(row: AuthorizationRow, error: AuthorizationError) -> Self {
        Decision::Denied(Box::new(Denial {
            row: Some(row),
            error,
        }))
    }
}

/// Checks and records a co-signature inside the write transaction of
/// `connection`.
async fn record_cosignature(
    connection: &mut AnyConnection,
    key: &RequestKey<'_>,
    supervisor: &StaffRow,
    envelope: &Envelope,
    cosignature: &CoSignature,
    now: DateTime<Utc>,
) -> Result<Decision<CoSignAuthorizationsResponse>, AuthorizationError> {
    if let Some(response) = key.replay::<CoSignAuthorizationsResponse>(connection).await? {
        return Ok(Decision::Replayed(response));
    }
    let mut rows = Vec::with_capacity(cosignature.authorizations.len());
    for reference in &cosignature.authorizations {
        let mut row = load(connection, &reference.authorization_id).await?;
        let checked = check_decision(connection, supervisor, &mut row, reference, now).await;
        let checked = checked.and_then(|()| check_approval(supervisor, &row));
        if let Err(error) = checked {
            // Expiry is a change of state to keep; the denial is recorded too.
            return Ok(Decision::denied(row, error));
        }
        rows.push(row);
    }
    if rows.len() > 1 {
        let closure = rows[0].closure_id.clone();
        if let Some(row) = rows
            .iter()
            .find(|row| row.loses_interest || row.closure_id.is_none() || row.closure_id != closure)
        {
            // Nothing was changed yet, so committing is the same as rolling
            // back.
            let error = AuthorizationError::BulkCoSignatureForbidden(row.authorization_id.clone());
            return Ok(Decision::denied(row.clone(), error));
        }
    }

    let mut authorizations = Vec::with_capacity(rows.len());
    for row in &mut rows {
        store::insert_decision(
            connection,
            &DecisionRow {
                authorization_id: row.authorization_id.clone(),
                position: 0,
                supervisor_staff_id: supervisor.staff_id.clone(),
                approved: true,
                reason: String::new(),
                envelope: envelope.clone(),
                recorded_at: now,
            },
        )
        .await?;
        // The co-signature is the last requirement: the acknowledgement, when
        // one is needed, was checked above, and the identity check at submit.
        row.state = AuthorizationState::Ready;
        row.requirements_met_at = Some(now);
        row.updated_at = now;
        store::save_authorization(connection, row).await?;
        audit::record(
            connection,
            AuditEventType::Cosigned,
            now,
            Event {
                actor_staff_id: &supervisor.staff_id,
                authorization_id: &row.authorization_id,
                passbook_number: &row.passbook_number,
                deposit_id: &row.deposit_id,
                details: Some(json!({
                    "authorization_digest": authorization_digest(row),
                    "covered": rows_count(cosignature),
                })),
                envelopes: vec![envelope],
                ..Event::default()
            },
        )
        .await?;
        authorizations.push(authorization_view(connection, row).await?);
    }
    let response = CoSignAuthorizationsResponse { authorizations };
    key.remember(connection, &response, now).await?;
    Ok(Decision::Recorded(response))
}

fn rows_count(cosignature: &CoSignature) -> usize {
    cosignature.authorizations.len()
}

pub async fn reject(
    state: &AppState,
    request: RejectAuthorizationRequest,
) -> Result<RejectAuthorizationResponse, AuthorizationError> {
    let mut violations = Violations::new();
    violations.check(parse_request_id("request_id", &request.request_id));
    if request.rejection.is_none() {
        violations.add(
            "rejection",
            "missing: the supervisor-signed rejection is required",
        );
    }
    violations.finish()?;
    let key = RequestKey::new("RejectAuthorization", &request.request_id, &request);
    {
        let mut connection = state.store.pool().acquire().await?;
        if let Some(response) = key.replay::<RejectAuthorizationResponse>(&mut connection).await? {
            return Ok(response);
        }
    }

    let now = state.now();
    let envelope = envelope_from_proto(request.rejection.as_ref().unwrap_or(&SignedEnvelope::default()));
    let verified = {
        let mut connection = state.store.pool().acquire().await?;
        verify_staff_signature(
            &mut connection,
            &envelope,
            bank_proto::payload_type::REJECTION,
            &[Role::Supervisor],
            now,
        )
        .await
    };
    let (supervisor, payload) = match verified {
        Ok(verified) => verified,
        Err(error) => return Err(deny_unverified(state, &envelope, error, now).await),
    };
    let rejection = Rejection::decode(payload.as_slice()).map_err(|_| undecodable("rejection"))?;
    require_signer(&supervisor, &rejection.supervisor_staff_id, "supervisor")?;
    let reference = rejection.authorization.clone().unwrap_or_default();
    let mut violations = Violations::new();
    violations.check(require_text(
        "rejection.reason",
        &rejection.reason,
        MAX_REASON_CHARS,
    ));
    violations.finish()?;
    check_references(
        std::slice::from_ref(&reference),
        rejection.signed_at.as_ref(),
        now,
    )?;

    let (key, supervisor, envelope, rejection, reference) =
        (&key, &supervisor, &envelope, &rejection, &reference);
    let decision = state
        .store
        .write(|transaction| {
            Box::pin(record_rejection(
                transaction,
                key,
                supervisor,
                envelope,
                rejection,
                reference,
                now,
            ))
        })
        .await?;
    match decision {
        Decision::Replayed(response) => Ok(response),
        Decision::Recorded(response) => {
            tracing::info!(
                authorization_id = %reference.authorization_id,
                supervisor = %supervisor.staff_id,
                "authorization rejected"
            );
            Ok(response)
        }
        Decision::Denied(denial) => {
            let Denial { row, error } = *denial;
            Err(record_denial(state, envelope, row.as_ref(), error, now).await)
        }
    }
}

/// Checks and records a rejection inside the write transaction of
/// `connection`.
async fn record_rejection(
    connection: &mut AnyConnection,
    key: &RequestKey<'_>,
    supervisor: &StaffRow,
    envelope: &Envelope,
    rejection: &Rejection,
    reference: &AuthorizationReference,
    now: DateTime<Utc>,
) -> Result<Decision<RejectAuthorizationResponse>, AuthorizationError> {
    if let Some(response) = key.replay::<RejectAuthorizationResponse>(connection).await? {
        return Ok(Decision::Replayed(response));
    }
    let mut row = load(connection, &reference.authorization_id).await?;
    if let Err(error) = check_decision(connection, supervisor, &mut row, reference, now).await {
        return Ok(Decision::denied(row, error));
    }
    let reason = rejection.reason.trim().to_owned();
    store::insert_decision(
        connection,
        &DecisionRow {
            authorization_id: row.authorization_id.clone(),
            position: 0,
            supervisor_staff_id: supervisor.staff_id.clone(),
            approved: false,
            reason: reason.clone(),
            envelope: envelope.clone(),
            recorded_at: now,
        },
    )
    .await?;
    row.state = AuthorizationState::Rejected;
    row.updated_at = now;
    store::save_authorization(connection, &row).await?;
    audit::record(
        connection,
        AuditEventType::Rejected,
        now,
        Event {
            actor_staff_id: &supervisor.staff_id,
            authorization_id: &row.authorization_id,
            passbook_number: &row.passbook_number,
            deposit_id: &row.deposit_id,
            reason: &reason,
            envelopes: vec![envelope],
            ..Event::default()
        },
    )
    .await?;
    let response = RejectAuthorizationResponse {
        authorization: Some(authorization_view(connection, &row).await?),
    };
    key.remember(connection, &response, now).await?;
    Ok(Decision::Recorded(response))
}

fn undecodable(field: &str) -> AuthorizationError {
    let mut violations = Violations::new();
    violations.add(
        field,
        "the signed payload does not decode as the named payload type",
    );
    AuthorizationError::Invalid(violations.finish().unwrap_err())
}

/// Checks the references' form and the signing time.
fn check_references(
    references: &[AuthorizationReference],
    signed_at: Option<&prost_types::Timestamp>,
    now: DateTime<Utc>,
) -> Result<(), AuthorizationError> {
    let mut violations = Violations::new();
    // An over-long list is rejected on its count alone, before its
    // references are checked one by one.
    if references.len() > MAX_COSIGNED_AUTHORIZATIONS {
        violations.add(
            "authorizations",
            format!(
                "at most {MAX_COSIGNED_AUTHORIZATIONS} per co-signature, got {}",
                references.len()
            ),
        );
        return Ok(violations.finish()?);
    }
    if references.is_empty() {
        violations.add("authorizations", "missing: name at least one authorization");
    }
    let mut seen = BTreeSet::new();
    for (index, reference) in references.iter().enumerate() {
        violations.check(require_identifier(
            &format!("authorizations[{index}].authorization_id"),
            &reference.authorization_id,
        ));
        if reference.authorization_digest.len() != 64 {
            violations.add(
                format!("authorizations[{index}].authorization_digest"),
                "expected 64 hex digits",
            );
        }
        if !seen.insert(reference.authorization_id.as_str()) {
            violations.add(
                format!("authorizations[{index}].authorization_id"),
                "listed twice",
            );
        }
    }
    match parse_timestamp("signed_at", signed_at) {
        Ok(at) if at > now + MAX_CLOCK_SKEW => violations.add("signed_at", "is in the future"),
        Ok(_) => {}
        Err(violation) => violations.add(violation.field, violation.description),
    }
    Ok(violations.finish()?)
}

/// Checks what co-signing and rejecting share: the authorization is
/// pending, in the supervisor's branch, not the supervisor's own, the
/// signature is over its current digest, and its attestation has not
/// expired (an expired one is marked so inside `transaction`).
async fn check_decision(
    transaction: &mut AnyConnection,
    supervisor: &StaffRow,
    row: &mut AuthorizationRow,
    reference: &AuthorizationReference,
    now: DateTime<Utc>,
) -> Result<(), AuthorizationError> {
    if row.state.is_final() {
        return Err(AuthorizationError::AuthorizationClosed {
            authorization_id: row.authorization_id.clone(),
            state: row.state.as_str(),
        });
    }
    if row.state != AuthorizationState::Pending {
        return Err(AuthorizationError::AuthorizationNotPending {
            authorization_id: row.authorization_id.clone(),
            state: row.state.as_str(),
        });
    }
    if supervisor.branch_id != row.branch_id {
        return Err(AuthorizationError::WrongBranch {
            staff_id: supervisor.staff_id.clone(),
            staff_branch: supervisor.branch_id.clone(),
            branch_id: row.branch_id.clone(),
        });
    }
    if supervisor.staff_id == row.teller_staff_id {
        return Err(AuthorizationError::SelfApprovalForbidden(
            supervisor.staff_id.clone(),
        ));
    }
    if reference.authorization_digest != authorization_digest(row) {
        return Err(AuthorizationError::DigestMismatch(row.authorization_id.clone()));
    }
    if row.attestation_expires_at <= now {
        expire(transaction, row, now).await?;
        return Err(AuthorizationError::AttestationExpired(row.attestation_id.clone()));
    }
    Ok(())
}

/// Checks what only a co-signature needs: the acknowledgement of any
/// interest loss, and an approval limit that covers the payout.
fn check_approval(supervisor: &StaffRow, row: &AuthorizationRow) -> Result<(), AuthorizationError> {
    if row.loses_interest && row.acknowledgement.is_none() {
        return Err(AuthorizationError::DisclosureNotAcknowledged(
            row.authorization_id.clone(),
        ));
    }
    if let Some((_, limit_currency)) = &supervisor.approval_limit
        && *limit_currency != row.currency_code
    {
        return Err(AuthorizationError::ApprovalLimitCurrency {
            staff_id: supervisor.staff_id.clone(),
            limit_currency: limit_currency.clone(),
            currency: row.currency_code.clone(),
        });
    }
    let covered = matches!(
        &supervisor.approval_limit,
        Some((limit, currency)) if *currency == row.currency_code && *limit >= row.payout_total
    );
    if !covered {
        return Err(AuthorizationError::ApprovalLimitExceeded {
            staff_id: supervisor.staff_id.clone(),
            limit: supervisor
                .approval_limit
                .as_ref()
                .map(|(limit, _)| *limit)
                .unwrap_or_default(),
            total: row.payout_total,
        });
    }
    Ok(())
}

/// Marks an authorization expired because its attestation expired before
/// every requirement was met.
pub async fn expire(
    transaction: &mut AnyConnection,
    row: &mut AuthorizationRow,
    now: DateTime<Utc>,
) -> Result<(), AuthorizationError> {
    row.state = AuthorizationState::Expired;
    row.updated_at = now;
    store::save_authorization(transaction, row).await?;
    audit::record(
        transaction,
        AuditEventType::Expired,
        now,
        Event {
            authorization_id: &row.authorization_id,
            passbook_number: &row.passbook_number,
            deposit_id: &row.deposit_id,
            reason: "ATTESTATION_EXPIRED",
            ..Event::default()
        },
    )
    .await?;
    Ok(())
}

/// Records a refusal of a correctly signed decision by an enrolled key (a
/// deactivated member, a teller, a revoked key). A signature that does not
/// verify, or a key nobody enrolled, is only logged: recording it would let
/// anyone fill the audit log.
async fn deny_unverified(
    state: &AppState,
    envelope: &Envelope,
    error: AuthorizationError,
    now: DateTime<Utc>,
) -> AuthorizationError {
    match error {
        AuthorizationError::SignatureInvalid { .. }
        | AuthorizationError::StaffNotEnrolled(_)
        | AuthorizationError::Store(_) => {
            tracing::warn!(%error, "supervisor decision with an unverifiable signature rejected");
            error
        }
        error => record_denial(state, envelope, None, error, now).await,
    }
}

/// Records a refused decision in the audit log, with the reason and the
/// envelope, and returns the error to send. Failing to record is logged and
/// does not hide the refusal.
async fn record_denial(
    state: &AppState,
    envelope: &Envelope,
    row: Option<&AuthorizationRow>,
    error: AuthorizationError,
    now: DateTime<Utc>,
) -> AuthorizationError {
    let reason = error.to_string();
    let reason_text = reason.as_str();
    let result = state
        .store
        .write(|transaction| {
            Box::pin(async move {
                audit::record(
                    transaction,
                    AuditEventType::Denied,
                    now,
                    Event {
                        authorization_id: row.map(|row| row.authorization_id.as_str()).unwrap_or_default(),
                        passbook_number: row.map(|row| row.passbook_number.as_str()).unwrap_or_default(),
                        deposit_id: row.map(|row| row.deposit_id.as_str()).unwrap_or_default(),
                        reason: reason_text,
                        envelopes: vec![envelope],
                        ..Event::default()
                    },
                )
                .await
            })
        })
        .await;
    if let Err(audit_error) = result {
        tracing::error!(error = %audit_error, denial = %reason, "failed to record a denied decision in the audit log");
    }
    tracing::warn!(denial = %reason, "supervisor decision denied");
    error
}
