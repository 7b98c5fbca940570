//! Release: the only path from an authorization to money. It pays at most
//! once per authorization:
//!
//! 1. Deciding and executing are separate steps. In one write transaction,
//!    a READY authorization gets one signed release order and becomes
//!    RELEASING; the order is stored before anything is sent. Of two
//!    replicas deciding at once, one commits; the other's transaction runs
//!    again, finds RELEASING, and sends the stored order.
//! 2. The stored order, byte for byte, is sent to deposit-status, which
//!    executes each order id at most once and returns the first payout to
//!    every repeat. Concurrent callers, retries, and the recovery pass after
//!    a crash all send that same order, so they all get the same payout.
//! 3. A deposit-status that is down or slow leaves the authorization
//!    RELEASING with the order kept; the caller gets UNAVAILABLE and the
//!    recovery pass keeps trying. A refusal marks it FAILED.

use std::time::Duration;

use bank_proto::deposit::ExecuteWithdrawalResponse;
use bank_proto::withdrawal::{
    AuditEventType, ReleaseAuthorizationRequest, ReleaseAuthorizationResponse, ReleaseOrder, RequirementKind,
};
use chrono::{DateTime, Utc};
use grpc_support::convert::{envelope_to_proto, money, parse_request_id, require_identifier, to_timestamp};
use grpc_support::error::Violations;
use prost::Message;
use serde_json::json;
use sqlx::AnyConnection;
use storage::Committed;

use super::{AppState, SharedState, authorization_view, load};
use crate::audit::{self, Event};
use crate::deposit_client::DepositCallError;
use crate::error::AuthorizationError;
use crate::store::{self, AuthorizationRow, AuthorizationState};
use crate::view::missing_requirements;

/// Most unfinished releases one recovery pass resumes.
const RECOVERY_BATCH: i64 = 100;

pub async fn release(
    state: &AppState,
    request: ReleaseAuthorizationRequest,
) -> Result<ReleaseAuthorizationResponse, AuthorizationError> {
    let mut violations = Violations::new();
    violations.check(parse_request_id("request_id", &request.request_id));
    violations.check(require_identifier("authorization_id", &request.authorization_id));
    violations.finish()?;

    let now = state.now();
    let authorization_id = request.authorization_id.as_str();
    let step = state
        .store
        .write(|transaction| Box::pin(decide(state, transaction, authorization_id, now)))
        .await?;
    if let ReleaseStep::Respond(response) = step {
        return Ok(*response);
    }

    let row = execute_order(state, authorization_id).await?;
    // A concurrent caller or replica may have recorded a refusal between
    // this request's decision and its call: the request then fails as a
    // new request for the FAILED authorization would, instead of returning
    // OK without a payout.
    if row.state != AuthorizationState::Released {
        return Err(AuthorizationError::AuthorizationClosed {
            authorization_id: row.authorization_id,
            state: row.state.as_str(),
        });
    }
    let mut connection = state.store.pool().acquire().await?;
    let authorization = authorization_view(&mut connection, &row).await?;
    Ok(ReleaseAuthorizationResponse {
        payout: authorization.payout.clone(),
        authorization: Some(authorization),
    })
}

/// The step of [`release`] after its write transaction.
enum ReleaseStep {
    /// Return at once, because the authorization was released before.
    Respond(Box<ReleaseAuthorizationResponse>),
    /// Send the stored release order to deposit-status.
    Execute,
}

/// Decides inside the write transaction of `connection` what a release
/// request does. A READY authorization gets its one signed order and becomes
/// RELEASING, and a RELEASING one is executed again. A RELEASED one returns
/// its payout, and any other fails.
async fn decide(
    state: &AppState,
    connection: &mut AnyConnection,
    authorization_id: &str,
    now: DateTime<Utc>,
) -> Result<ReleaseStep, AuthorizationError> {
    let mut row = load(connection, authorization_id).await?;
    match row.state {
        AuthorizationState::Released => {
            let authorization = authorization_view(connection, &row).await?;
            Ok(ReleaseStep::Respond(Box::new(ReleaseAuthorizationResponse {
                payout: authorization.payout.clone(),
                authorization: Some(authorization),
            })))
        }
        AuthorizationState::Rejected | AuthorizationState::Failed | AuthorizationState::Expired => {
            Err(AuthorizationError::AuthorizationClosed {
                authorization_id: row.authorization_id,
                state: row.state.as_str(),
            })
        }
        AuthorizationState::Pending => {
            let decisions = store::list_decisions(connection, &row.authorization_id).await?;
            let missing = missing_requirements(&row, &decisions);
            let error = if missing.contains(&RequirementKind::DisclosureAcknowledgement) {
                AuthorizationError::DisclosureNotAcknowledged(row.authorization_id.clone())
            } else {
                AuthorizationError::CoSignatureRequired(row.authorization_id.clone())
            };
            let mut api_error = error.into_api_error();
            for kind in missing {
                if !api_error
                    .precondition_violations()
                    .iter()
                    .any(|violation| violation.subject.ends_with(requirement_name(kind)))
                {
                    api_error = api_error.with_precondition_violation(
                        crate::error::precondition::REQUIREMENT,
                        format!(
                            "authorizations/{}/{}",
                            row.authorization_id,
                            requirement_name(kind)
                        ),
                        format!("requirement {kind:?} is not met"),
                    );
                }
            }
            Err(AuthorizationError::Invalid(api_error))
        }
        AuthorizationState::Ready => {
            sign_order(state, connection, &mut row, now).await?;
            Ok(ReleaseStep::Execute)
        }
        AuthorizationState::Releasing => Ok(ReleaseStep::Execute),
    }
}

fn requirement_name(kind: RequirementKind) -> &'static str {
    match kind {
        RequirementKind::Cosignature => "cosignature",
        RequirementKind::DisclosureAcknowledgement => "disclosure_acknowledgement",
        RequirementKind::IdentityCheck => "identity_check",
        RequirementKind::Unspecified => "unspecified",
    }
}

/// Signs the one release order of a READY authorization and marks it
/// RELEASING, inside the caller's transaction.
async fn sign_order(
    state: &AppState,
    transaction: &mut AnyConnection,
    row: &mut AuthorizationRow,
    now: DateTime<Utc>,
) -> Result<(), AuthorizationError> {
    let authorized_at = row
        .requirements_met_at
        .ok_or_else(|| AuthorizationError::CoSignatureRequired(row.authorization_id.clone()))?;
    let decisions = store::list_decisions(transaction, &row.authorization_id).await?;
    let supervisors: Vec<String> = decisions
        .iter()
        .filter(|decision| decision.approved)
        .map(|decision| decision.supervisor_staff_id.clone())
        .collect();
    let attestation = crate::view::attestation_of(row);
    let order = ReleaseOrder {
        order_id: uuid::Uuid::new_v4().to_string(),
        authorization_id: row.authorization_id.clone(),
        maturity_attestation: Some(envelope_to_proto(&row.attestation)),
        attestation_id: row.attestation_id.clone(),
        deposit_id: row.deposit_id.clone(),
        passbook_number: row.passbook_number.clone(),
        deposit_version: attestation.deposit_version,
        amount: attestation
            .requested_amount
            .clone()
            .or_else(|| Some(money(row.amount, &row.currency_code))),
        whole_deposit: row.whole_deposit,
        authorized_at: Some(to_timestamp(authorized_at)),
        teller_staff_id: row.teller_staff_id.clone(),
        supervisor_staff_ids: supervisors,
        issued_at: Some(to_timestamp(now)),
    };
    let envelope = state.signer.sign_order(order.encode_to_vec());
    row.order_id = Some(order.order_id.clone());
    row.order = Some(envelope.clone());
    row.state = AuthorizationState::Releasing;
    row.updated_at = now;
    store::save_authorization(transaction, row).await?;
    audit::record(
        transaction,
        AuditEventType::ReleaseOrdered,
        now,
        Event {
            authorization_id: &row.authorization_id,
            passbook_number: &row.passbook_number,
            deposit_id: &row.deposit_id,
            details: Some(json!({ "order_id": order.order_id })),
            envelopes: vec![&envelope],
            ..Event::default()
        },
    )
    .await?;
    tracing::info!(authorization_id = %row.authorization_id, order_id = %order.order_id, "release order signed");
    Ok(())
}

/// Sends a RELEASING authorization's stored order to deposit-status and
/// records the outcome. Returns the authorization as it then stands.
pub async fn execute_order(
    state: &AppState,
    authorization_id: &str,
) -> Result<AuthorizationRow, AuthorizationError> {
    let row = {
        let mut connection = state.store.pool().acquire().await?;
        load(&mut connection, authorization_id).await?
    };
    if row.state != AuthorizationState::Releasing {
        return Ok(row);
    }
    let order = row.order.clone().ok_or_else(|| {
        AuthorizationError::Store(store::StoreError::Corrupt {
            table: "authorizations",
            column: "order_payload",
            value: row.authorization_id.clone(),
        })
    })?;

    let result = state.deposit.execute_withdrawal(envelope_to_proto(&order)).await;

    let now = state.now();
    let result = &result;
    let outcome = state
        .store
        .write_committed(|transaction| Box::pin(record_outcome(transaction, authorization_id, result, now)))
        .await;
    match outcome {
        Ok(Recorded::Released(row)) => {
            tracing::info!(%authorization_id, "released");
            Ok(row)
        }
        Ok(Recorded::Before(row)) => Ok(row),
        Err(AuthorizationError::DepositStatusUnavailable(detail)) => {
            tracing::warn!(%authorization_id, %detail, "release pending: deposit-status unavailable");
            Err(AuthorizationError::DepositStatusUnavailable(detail))
        }
        Err(AuthorizationError::ReleaseFailed(summary)) => {
            tracing::warn!(
                %authorization_id,
                reason = summary.reason.as_deref().unwrap_or_default(),
                "release refused by deposit-status"
            );
            Err(AuthorizationError::ReleaseFailed(summary))
        }
        Err(error) => Err(error),
    }
}

/// The result of recording a release order's outcome.
enum Recorded {
    /// The payout was recorded now and the authorization is RELEASED.
    Released(AuthorizationRow),
    /// Another caller or replica had recorded the outcome already.
    Before(AuthorizationRow),
}

/// Records the response of deposit-status to a RELEASING authorization's
/// order inside the write transaction of `connection`: the payout, or a
/// retry that keeps it RELEASING, or a refusal that makes it FAILED. The
/// last two commit and then fail the request.
async fn record_outcome(
    connection: &mut AnyConnection,
    authorization_id: &str,
    result: &Result<ExecuteWithdrawalResponse, DepositCallError>,
    now: DateTime<Utc>,
) -> Result<Committed<Recorded, AuthorizationError>, AuthorizationError> {
    let mut row = load(connection, authorization_id).await?;
    if row.state != AuthorizationState::Releasing {
        // Another caller or replica recorded the outcome meanwhile.
        return Ok(Committed::Value(Recorded::Before(row)));
    }
    let envelopes = release_envelopes(connection, &row).await?;
    match result {
        Ok(response) => {
            let payout = response.payout.clone().unwrap_or_default();
            row.payout = Some(payout.encode_to_vec());
            row.state = AuthorizationState::Released;
            row.last_error_reason = None;
            row.updated_at = now;
            store::save_authorization(connection, &row).await?;
            audit::record(
                connection,
                AuditEventType::Released,
                now,
                Event {
                    authorization_id: &row.authorization_id,
                    passbook_number: &row.passbook_number,
                    deposit_id: &row.deposit_id,
                    details: Some(json!({
                        "order_id": row.order_id,
                        "principal": payout.principal.as_ref().map(|money| money.amount.clone()),
                        "interest": payout.interest.as_ref().map(|money| money.amount.clone()),
                        "total": payout.total.as_ref().map(|money| money.amount.clone()),
                        "replayed_by_deposit_status": response.replayed,
                    })),
                    envelopes: envelopes.iter().collect(),
                    ..Event::default()
                },
            )
            .await?;
            Ok(Committed::Value(Recorded::Released(row)))
        }
        Err(DepositCallError::Unavailable(detail)) => {
            if row.last_error_reason.as_deref() != Some("DEPOSIT_STATUS_UNAVAILABLE") {
                row.last_error_reason = Some("DEPOSIT_STATUS_UNAVAILABLE".to_owned());
                row.updated_at = now;
                store::save_authorization(connection, &row).await?;
                audit::record(
                    connection,
                    AuditEventType::Retried,
                    now,
                    Event {
                        authorization_id: &row.authorization_id,
                        passbook_number: &row.passbook_number,
                        deposit_id: &row.deposit_id,
                        reason: "DEPOSIT_STATUS_UNAVAILABLE",
                        details: Some(json!({ "detail": detail })),
                        ..Event::default()
                    },
                )
                .await?;
            }
            Ok(Committed::Error(AuthorizationError::DepositStatusUnavailable(
                detail.clone(),
            )))
        }
        Err(DepositCallError::Refused(summary)) => {
            let reason = summary
                .reason
                .clone()
                .unwrap_or_else(|| format!("{:?}", summary.code));
            row.state = AuthorizationState::Failed;
            row.last_error_reason = Some(reason.clone());
            row.updated_at = now;
            store::save_authorization(connection, &row).await?;
            audit::record(
                connection,
                AuditEventType::Failed,
                now,
                Event {
                    authorization_id: &row.authorization_id,
                    passbook_number: &row.passbook_number,
                    deposit_id: &row.deposit_id,
                    reason: &reason,
                    details: Some(json!({ "message": summary.message })),
                    ..Event::default()
                },
            )
            .await?;
            Ok(Committed::Error(AuthorizationError::ReleaseFailed(Box::new(
                summary.clone(),
            ))))
        }
    }
}

/// The envelopes a RELEASED audit record carries so that it verifies from
/// public keys alone: the teller's instruction (which carries the
/// attestation), every co-signature, and the release order.
async fn release_envelopes(
    transaction: &mut AnyConnection,
    row: &AuthorizationRow,
) -> Result<Vec<attestation::Envelope>, AuthorizationError> {
    let mut envelopes = vec![row.instruction.clone()];
    for decision in store::list_decisions(transaction, &row.authorization_id).await? {
        if decision.approved {
            envelopes.push(decision.envelope);
        }
    }
    if let Some(order) = &row.order {
        envelopes.push(order.clone());
    }
    Ok(envelopes)
}

/// Resumes, every `interval`, the releases whose outcome was never recorded
/// (the process died after signing the order, or deposit-status was down),
/// until `stop` resolves. Each pass handles at most a fixed batch.
pub async fn resume_releases(
    state: SharedState,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let pending = {
            match state.store.pool().acquire().await {
                Ok(mut connection) => {
                    store::list_releasing_authorizations(&mut connection, RECOVERY_BATCH).await
                }
                Err(error) => Err(store::StoreError::Database(error)),
            }
        };
        match pending {
            Ok(rows) => {
                for row in rows {
                    match execute_order(&state, &row.authorization_id).await {
                        Ok(row) => {
                            tracing::info!(authorization_id = %row.authorization_id, state = row.state.as_str(), "resumed release")
                        }
                        Err(error) => {
                            tracing::warn!(authorization_id = %row.authorization_id, %error, "resumed release not finished")
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "failed to list unfinished releases"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}
