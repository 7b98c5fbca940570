//! The customer's acknowledgement of the interest-loss disclosure, recorded
//! and signed by the teller who submitted the withdrawal.

use attestation::Envelope;
use bank_proto::common::SignedEnvelope;
use bank_proto::withdrawal::{
    AcknowledgeDisclosureRequest, AcknowledgeDisclosureResponse, AuditEventType, CaptureMethod,
    DisclosureAcknowledgement,
};
use chrono::{DateTime, Utc};
use grpc_support::convert::{
    envelope_from_proto, parse_request_id, parse_timestamp, require_identifier, require_text,
};
use grpc_support::error::Violations;
use prost::Message;
use serde_json::json;
use sqlx::AnyConnection;
use storage::{Committed, RequestKey};

use super::{AppState, MAX_CLOCK_SKEW, authorization_view, load};
use crate::audit::{self, Event};
use crate::disclosure::{EN, ZH_CN, sha256_hex};
use crate::error::AuthorizationError;
use crate::staff_signature::{require_signer, verify_staff_signature};
use crate::store::{self, AuthorizationState, Role, StaffRow};

/// Maximum length of a capture reference, in characters.
const MAX_CAPTURE_REFERENCE_CHARS: usize = 64;

pub async fn acknowledge(
    state: &AppState,
    request: AcknowledgeDisclosureRequest,
) -> Result<AcknowledgeDisclosureResponse, AuthorizationError> {
    let mut violations = Violations::new();
    violations.check(parse_request_id("request_id", &request.request_id));
    if request.acknowledgement.is_none() {
        violations.add(
            "acknowledgement",
            "missing: the teller-signed acknowledgement is required",
        );
    }
    violations.finish()?;
    let key = RequestKey::new("AcknowledgeDisclosure", &request.request_id, &request);
    {
        let mut connection = state.store.pool().acquire().await?;
        if let Some(response) = key
            .replay::<AcknowledgeDisclosureResponse>(&mut connection)
            .await?
        {
            return Ok(response);
        }
    }

    let now = state.now();
    let envelope = envelope_from_proto(
        request
            .acknowledgement
            .as_ref()
            .unwrap_or(&SignedEnvelope::default()),
    );
    let (teller, payload) = {
        let mut connection = state.store.pool().acquire().await?;
        verify_staff_signature(
            &mut connection,
            &envelope,
            bank_proto::payload_type::DISCLOSURE_ACKNOWLEDGEMENT,
            &[Role::Teller, Role::Supervisor],
            now,
        )
        .await?
    };
    let acknowledgement = DisclosureAcknowledgement::decode(payload.as_slice()).map_err(|_| {
        let mut violations = Violations::new();
        violations.add(
            "acknowledgement",
            "the signed payload does not decode as a DisclosureAcknowledgement",
        );
        AuthorizationError::Invalid(violations.finish().unwrap_err())
    })?;
    require_signer(&teller, &acknowledgement.teller_staff_id, "acknowledgement")?;

    let mut violations = Violations::new();
    violations.check(require_identifier(
        "acknowledgement.authorization_id",
        &acknowledgement.authorization_id,
    ));
    if acknowledgement.language != ZH_CN && acknowledgement.language != EN {
        violations.add("acknowledgement.language", "expected \"zh-CN\" or \"en\"");
    }
    if matches!(
        CaptureMethod::try_from(acknowledgement.capture_method),
        Ok(CaptureMethod::Unspecified) | Err(_)
    ) {
        violations.add(
            "acknowledgement.capture_method",
            "required: signature pad, PIN pad or paper form",
        );
    }
    violations.check(require_text(
        "acknowledgement.capture_reference",
        &acknowledgement.capture_reference,
        MAX_CAPTURE_REFERENCE_CHARS,
    ));
    match parse_timestamp(
        "acknowledgement.captured_at",
        acknowledgement.captured_at.as_ref(),
    ) {
        Ok(captured_at) if captured_at > now + MAX_CLOCK_SKEW => {
            violations.add("acknowledgement.captured_at", "is in the future");
        }
        Ok(_) => {}
        Err(violation) => violations.add(violation.field, violation.description),
    }
    violations.finish()?;

    let (key, teller, envelope, acknowledgement) = (&key, &teller, &envelope, &acknowledgement);
    let (response, authorization_id) = state
        .store
        .write_committed(|transaction| {
            Box::pin(record(transaction, key, teller, envelope, acknowledgement, now))
        })
        .await?;
    if let Some(authorization_id) = authorization_id {
        tracing::info!(%authorization_id, "disclosure acknowledged");
    }
    Ok(response)
}

/// Records the acknowledgement inside the write transaction of
/// `connection`, and returns the response with the authorization id, or no
/// id for a replayed response. An authorization whose attestation expired
/// is marked expired, committed, and then the request fails.
async fn record(
    connection: &mut AnyConnection,
    key: &RequestKey<'_>,
    teller: &StaffRow,
    envelope: &Envelope,
    acknowledgement: &DisclosureAcknowledgement,
    now: DateTime<Utc>,
) -> Result<Committed<(AcknowledgeDisclosureResponse, Option<String>), AuthorizationError>, AuthorizationError>
{
    if let Some(response) = key.replay::<AcknowledgeDisclosureResponse>(connection).await? {
        return Ok(Committed::Value((response, None)));
    }
    let mut row = load(connection, &acknowledgement.authorization_id).await?;
    if row.teller_staff_id != teller.staff_id {
        return Err(AuthorizationError::NotSubmittingTeller(row.authorization_id));
    }
    if row.state.is_final() {
        return Err(AuthorizationError::AuthorizationClosed {
            authorization_id: row.authorization_id,
            state: row.state.as_str(),
        });
    }
    if !row.loses_interest {
        return Err(AuthorizationError::DisclosureNotRequired(row.authorization_id));
    }
    if row.acknowledgement.is_some() || row.state != AuthorizationState::Pending {
        return Err(AuthorizationError::AlreadyAcknowledged(row.authorization_id));
    }
    let shown = if acknowledgement.language == ZH_CN {
        &row.disclosure_zh_cn
    } else {
        &row.disclosure_en
    };
    let digest_matches =
        shown.as_deref().map(sha256_hex).as_deref() == Some(acknowledgement.disclosure_sha256.as_str());
    if !digest_matches {
        return Err(AuthorizationError::DisclosureMismatch);
    }
    if row.attestation_expires_at <= now {
        super::decide::expire(connection, &mut row, now).await?;
        return Ok(Committed::Error(AuthorizationError::AttestationExpired(
            row.attestation_id,
        )));
    }

    row.acknowledgement = Some(envelope.clone());
    row.acknowledgement_recorded_at = Some(now);
    row.updated_at = now;
    store::save_authorization(connection, &row).await?;
    audit::record(
        connection,
        AuditEventType::Acknowledged,
        now,
        Event {
            actor_staff_id: &teller.staff_id,
            authorization_id: &row.authorization_id,
            passbook_number: &row.passbook_number,
            deposit_id: &row.deposit_id,
            details: Some(json!({
                "language": acknowledgement.language,
                "disclosure_sha256": acknowledgement.disclosure_sha256,
                "capture_method": format!("{:?}", acknowledgement.capture_method()),
                "capture_reference": acknowledgement.capture_reference,
            })),
            envelopes: vec![envelope],
            ..Event::default()
        },
    )
    .await?;
    let response = AcknowledgeDisclosureResponse {
        authorization: Some(authorization_view(connection, &row).await?),
    };
    key.remember(connection, &response, now).await?;
    Ok(Committed::Value((response, Some(row.authorization_id))))
}
