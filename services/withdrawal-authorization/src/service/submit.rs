//! Submission: a teller's signed instruction for one deposit, or for every
//! deposit of a passbook, becomes authorizations with their requirements.

use std::collections::BTreeSet;

use attestation::Envelope;
use bank_proto::common::{InterestQuote, SignedEnvelope, WithdrawalKind};
use bank_proto::deposit::{DepositState, MaturityAttestation};
use bank_proto::withdrawal::{
    AuditEventType, IdDocumentType, IdentityCheck, PassbookClosure, PassbookClosureInstruction,
    SubmitPassbookClosureRequest, SubmitPassbookClosureResponse, SubmitWithdrawalRequest,
    SubmitWithdrawalResponse, SupervisorFlag, WithdrawalInstruction,
};
use chrono::{DateTime, Utc};
use grpc_support::convert::{
    envelope_from_proto, parse_money, parse_request_id, parse_timestamp, require_identifier,
    require_masked_id_number, require_text,
};
use grpc_support::error::Violations;
use prost::Message;
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::AnyConnection;
use storage::RequestKey;

use super::{AppState, authorization_view};
use crate::audit::{self, Event};
use crate::disclosure;
use crate::error::AuthorizationError;
use crate::staff_signature::{require_signer, verify_staff_signature};
use crate::store::{self, AuthorizationRow, AuthorizationState, ClosureRow, Role, StaffRow};
use crate::view::needs_identity_check;

/// Most deposits one passbook closure may list.
pub const MAX_CLOSURE_DEPOSITS: usize = 100;
/// Maximum length of an agent's name, in characters.
const MAX_AGENT_NAME_CHARS: usize = 100;

/// A teller's parsed request for one deposit.
struct DepositRequest<'a> {
    passbook_number: &'a str,
    deposit_id: &'a str,
    /// `None` for the whole balance.
    /// The amount and its currency, or `None` for the whole balance.
    amount: Option<(Decimal, String)>,
    identity_check: &'a IdentityCheck,
    attestation: Envelope,
}

pub async fn submit_withdrawal(
    state: &AppState,
    request: SubmitWithdrawalRequest,
) -> Result<SubmitWithdrawalResponse, AuthorizationError> {
    let mut violations = Violations::new();
    violations.check(parse_request_id("request_id", &request.request_id));
    if request.instruction.is_none() {
        violations.add(
            "instruction",
            "missing: the teller-signed instruction is required",
        );
    }
    violations.finish()?;
    let key = RequestKey::new("SubmitWithdrawal", &request.request_id, &request);
    if let Some(response) = replay::<SubmitWithdrawalResponse>(state, &key).await? {
        return Ok(response);
    }

    let now = state.now();
    let envelope = envelope_from_proto(request.instruction.as_ref().unwrap_or(&SignedEnvelope::default()));
    let (teller, payload) = verify_maker(
        state,
        &envelope,
        bank_proto::payload_type::WITHDRAWAL_INSTRUCTION,
        now,
    )
    .await?;
    let instruction =
        WithdrawalInstruction::decode(payload.as_slice()).map_err(|_| invalid_payload("instruction"))?;
    require_signer(&teller, &instruction.teller_staff_id, "teller")?;
    check_instruction_header(
        &teller,
        &request.request_id,
        &instruction.request_id,
        &instruction.branch_id,
    )?;

    let mut violations = Violations::new();
    violations.check(require_identifier(
        "instruction.passbook_number",
        &instruction.passbook_number,
    ));
    violations.check(require_identifier(
        "instruction.deposit_id",
        &instruction.deposit_id,
    ));
    let amount = match (instruction.amount.as_ref(), instruction.whole_deposit) {
        (Some(_), true) => {
            violations.add(
                "instruction.amount",
                "set either amount or whole_deposit, not both",
            );
            None
        }
        (None, false) => {
            violations.add(
                "instruction.amount",
                "missing: set amount, or whole_deposit for the whole balance",
            );
            None
        }
        (None, true) => None,
        (Some(money), false) => violations.check(parse_money("instruction.amount", Some(money))),
    };
    check_signed_at(&mut violations, instruction.signed_at.as_ref(), now);
    if instruction.maturity_attestation.is_none() {
        violations.add(
            "instruction.maturity_attestation",
            "missing: the attestation from deposit-status is required",
        );
    }
    let identity_check = instruction.identity_check.clone().unwrap_or_default();
    check_identity_format(&mut violations, "instruction.identity_check", &identity_check);
    violations.finish()?;

    let deposit_request = DepositRequest {
        passbook_number: &instruction.passbook_number,
        deposit_id: &instruction.deposit_id,
        amount,
        identity_check: &identity_check,
        attestation: envelope_from_proto(
            instruction
                .maturity_attestation
                .as_ref()
                .unwrap_or(&SignedEnvelope::default()),
        ),
    };
    let row = prepare_authorization(
        state,
        &teller,
        &request.request_id,
        &envelope,
        deposit_request,
        None,
        now,
    )
    .await?;

    let (key, row_ref) = (&key, &row);
    let (response, replayed) = state
        .store
        .write(|transaction| {
            Box::pin(async move {
                if let Some(response) = key.replay::<SubmitWithdrawalResponse>(transaction).await? {
                    return Ok((response, true));
                }
                insert_with_audit(transaction, row_ref, now).await?;
                let response = SubmitWithdrawalResponse {
                    authorization: Some(authorization_view(transaction, row_ref).await?),
                };
                key.remember(transaction, &response, now).await?;
                Ok::<_, AuthorizationError>((response, false))
            })
        })
        .await?;
    if !replayed {
        tracing::info!(authorization_id = %row.authorization_id, deposit_id = %row.deposit_id, "withdrawal submitted");
    }
    Ok(response)
}

pub async fn submit_closure(
    state: &AppState,
    request: SubmitPassbookClosureRequest,
) -> Result<SubmitPassbookClosureResponse, AuthorizationError> {
    let mut violations = Violations::new();
    violations.check(parse_request_id("request_id", &request.request_id));
    if request.instruction.is_none() {
        violations.add(
            "instruction",
            "missing: the teller-signed closure instruction is required",
        );
    }
    violations.finish()?;
    let key = RequestKey::new("SubmitPassbookClosure", &request.request_id, &request);
    if let Some(response) = replay::<SubmitPassbookClosureResponse>(state, &key).await? {
        return Ok(response);
    }

    let now = state.now();
    let envelope = envelope_from_proto(request.instruction.as_ref().unwrap_or(&SignedEnvelope::default()));
    let (teller, payload) = verify_maker(
        state,
        &envelope,
        bank_proto::payload_type::PASSBOOK_CLOSURE_INSTRUCTION,
        now,
    )
    .await?;
    let instruction =
        PassbookClosureInstruction::decode(payload.as_slice()).map_err(|_| invalid_payload("instruction"))?;
    require_signer(&teller, &instruction.teller_staff_id, "teller")?;
    check_instruction_header(
        &teller,
        &request.request_id,
        &instruction.request_id,
        &instruction.branch_id,
    )?;

    let mut violations = Violations::new();
    violations.check(require_identifier(
        "instruction.passbook_number",
        &instruction.passbook_number,
    ));
    let identity_check = instruction.identity_check.clone().unwrap_or_default();
    check_identity_format(&mut violations, "instruction.identity_check", &identity_check);
    check_signed_at(&mut violations, instruction.signed_at.as_ref(), now);
    if instruction.maturity_attestations.is_empty() {
        violations.add(
            "instruction.maturity_attestations",
            "missing: one attestation per deposit is required",
        );
    }
    if instruction.maturity_attestations.len() > MAX_CLOSURE_DEPOSITS {
        violations.add(
            "instruction.maturity_attestations",
            format!("at most {MAX_CLOSURE_DEPOSITS} deposits per closure"),
        );
    }
    violations.finish()?;

    // Every deposit the passbook holds that is not withdrawn or closed must
    // be in the closure: this is the check whose absence cost the customer
    // her interest.
    let passbook = state
        .deposit
        .get_passbook(&instruction.passbook_number)
        .await
        .map_err(deposit_call_error)?;
    let open: BTreeSet<String> = passbook
        .deposits
        .iter()
        .filter(|deposit| {
            deposit.passbook_number == instruction.passbook_number
                && matches!(
                    deposit.state(),
                    DepositState::Unmatured | DepositState::Matured | DepositState::Overdue
                )
        })
        .map(|deposit| deposit.deposit_id.clone())
        .collect();

    let closure_id = uuid::Uuid::new_v4().to_string();
    let mut rows = Vec::with_capacity(instruction.maturity_attestations.len());
    let mut covered = BTreeSet::new();
    for attestation_envelope in &instruction.maturity_attestations {
        let attestation = envelope_from_proto(attestation_envelope);
        let decoded = decode_verified_attestation(state, &attestation, now).await?;
        if !covered.insert(decoded.deposit_id.clone()) {
            return Err(AuthorizationError::ClosureInvalid(format!(
                "deposit {} is listed twice",
                decoded.deposit_id
            )));
        }
        if !open.contains(&decoded.deposit_id) {
            return Err(AuthorizationError::ClosureInvalid(format!(
                "deposit {} is not an open deposit of passbook {}",
                decoded.deposit_id, instruction.passbook_number
            )));
        }
        let deposit_request = DepositRequest {
            passbook_number: &instruction.passbook_number,
            deposit_id: &decoded.deposit_id,
            amount: None,
            identity_check: &identity_check,
            attestation,
        };
        let row = prepare_authorization(
            state,
            &teller,
            &format!("{}/{}", request.request_id, decoded.deposit_id),
            &envelope,
            deposit_request,
            Some(&closure_id),
            now,
        )
        .await?;
        rows.push(row);
    }
    let missing: Vec<String> = open.difference(&covered).cloned().collect();
    if !missing.is_empty() {
        return Err(AuthorizationError::DepositMissingFromClosure(missing));
    }

    let (key, request, instruction, teller, envelope, closure_id, covered, rows) = (
        &key,
        &request,
        &instruction,
        &teller,
        &envelope,
        &closure_id,
        &covered,
        &rows,
    );
    let (response, replayed) = state
        .store
        .write(|transaction| {
            Box::pin(async move {
                if let Some(response) = key.replay::<SubmitPassbookClosureResponse>(transaction).await? {
                    return Ok((response, true));
                }
                store::insert_closure(
                    transaction,
                    &ClosureRow {
                        closure_id: closure_id.clone(),
                        request_id: request.request_id.clone(),
                        passbook_number: instruction.passbook_number.clone(),
                        teller_staff_id: teller.staff_id.clone(),
                        instruction: envelope.clone(),
                        created_at: now,
                    },
                )
                .await?;
                audit::record(
                    transaction,
                    AuditEventType::ClosureSubmitted,
                    now,
                    Event {
                        actor_staff_id: &teller.staff_id,
                        passbook_number: &instruction.passbook_number,
                        details: Some(json!({ "closure_id": closure_id, "deposits": covered })),
                        envelopes: vec![envelope],
                        ..Event::default()
                    },
                )
                .await?;
                let mut authorizations = Vec::with_capacity(rows.len());
                for row in rows {
                    insert_with_audit(transaction, row, now).await?;
                    authorizations.push(authorization_view(transaction, row).await?);
                }
                let response = SubmitPassbookClosureResponse {
                    closure: Some(PassbookClosure {
                        closure_id: closure_id.clone(),
                        request_id: request.request_id.clone(),
                        passbook_number: instruction.passbook_number.clone(),
                        teller_staff_id: teller.staff_id.clone(),
                        authorizations,
                        completed: false,
                    }),
                };
                key.remember(transaction, &response, now).await?;
                Ok::<_, AuthorizationError>((response, false))
            })
        })
        .await?;
    if !replayed {
        tracing::info!(%closure_id, deposits = rows.len(), "passbook closure submitted");
    }
    Ok(response)
}

/// Verifies the maker's signature on a submitted instruction: a teller's, or
/// a supervisor's acting as maker. Returns the signer and the payload.
async fn verify_maker(
    state: &AppState,
    envelope: &Envelope,
    payload_type: &str,
    now: DateTime<Utc>,
) -> Result<(StaffRow, Vec<u8>), AuthorizationError> {
    let mut connection = state.store.pool().acquire().await?;
    verify_staff_signature(
        &mut connection,
        envelope,
        payload_type,
        &[Role::Teller, Role::Supervisor],
        now,
    )
    .await
}

/// Returns the stored response when `key` was used before, outside a write
/// transaction.
async fn replay<R: Message + Default>(
    state: &AppState,
    key: &RequestKey<'_>,
) -> Result<Option<R>, AuthorizationError> {
    let mut connection = state.store.pool().acquire().await?;
    Ok(key.replay::<R>(&mut connection).await?)
}

fn invalid_payload(field: &str) -> AuthorizationError {
    let mut violations = Violations::new();
    violations.add(
        field,
        "the signed payload does not decode as the named payload type",
    );
    AuthorizationError::Invalid(violations.finish().unwrap_err())
}

/// Checks that an instruction carries its signing time, and that the time is
/// not in the future beyond the tolerated clock difference.
fn check_signed_at(
    violations: &mut Violations,
    signed_at: Option<&prost_types::Timestamp>,
    now: DateTime<Utc>,
) {
    match parse_timestamp("instruction.signed_at", signed_at) {
        Ok(at) if at > now + super::MAX_CLOCK_SKEW => violations.add(
            "instruction.signed_at",
            "is in the future; check the teller terminal's clock",
        ),
        Ok(_) => {}
        Err(violation) => violations.add(violation.field, violation.description),
    }
}

/// Checks the instruction's request_id and branch against the request and
/// the signing teller.
fn check_instruction_header(
    teller: &StaffRow,
    request_id: &str,
    instruction_request_id: &str,
    branch_id: &str,
) -> Result<(), AuthorizationError> {
    if instruction_request_id != request_id {
        let mut violations = Violations::new();
        violations.add("instruction.request_id", "must equal the request's request_id");
        violations.finish()?;
    }
    if branch_id != teller.branch_id {
        return Err(AuthorizationError::WrongBranch {
            staff_id: teller.staff_id.clone(),
            staff_branch: teller.branch_id.clone(),
            branch_id: branch_id.to_owned(),
        });
    }
    Ok(())
}

/// Checks the form of whatever identity check was recorded. Whether one is
/// required is decided later, from the attested state and amount.
fn check_identity_format(violations: &mut Violations, field: &str, check: &IdentityCheck) {
    if !check.depositor_masked_id_number.is_empty() {
        violations.check(require_masked_id_number(
            &format!("{field}.depositor_masked_id_number"),
            &check.depositor_masked_id_number,
        ));
    }
    if IdDocumentType::try_from(check.depositor_id_type).is_err() {
        violations.add(format!("{field}.depositor_id_type"), "unknown document type");
    }
    if check.agent {
        if matches!(
            IdDocumentType::try_from(check.agent_id_type),
            Ok(IdDocumentType::Unspecified) | Err(_)
        ) {
            violations.add(format!("{field}.agent_id_type"), "required when agent is true");
        }
        violations.check(require_masked_id_number(
            &format!("{field}.agent_masked_id_number"),
            &check.agent_masked_id_number,
        ));
        violations.check(require_text(
            &format!("{field}.agent_name"),
            &check.agent_name,
            MAX_AGENT_NAME_CHARS,
        ));
    }
}

/// True when the depositor's document (and the agent's, for an agent) was
/// recorded.
fn identity_recorded(check: &IdentityCheck) -> bool {
    let depositor = check.depositor_checked
        && !matches!(
            IdDocumentType::try_from(check.depositor_id_type),
            Ok(IdDocumentType::Unspecified) | Err(_)
        )
        && !check.depositor_masked_id_number.is_empty();
    depositor && (!check.agent || !check.agent_masked_id_number.is_empty())
}

/// Verifies an attestation's signature and decodes it.
async fn decode_verified_attestation(
    state: &AppState,
    attestation: &Envelope,
    now: DateTime<Utc>,
) -> Result<MaturityAttestation, AuthorizationError> {
    let payload = state.attestation_keys.verify(attestation, now).await?;
    MaturityAttestation::decode(payload.as_slice())
        .map_err(|_| AuthorizationError::AttestationInvalid("payload does not decode".to_owned()))
}

/// Verifies the attestation for one deposit, checks it against what the
/// teller asked, and builds the authorization with its flags, requirements
/// and disclosure.
async fn prepare_authorization(
    state: &AppState,
    teller: &StaffRow,
    request_id: &str,
    instruction: &Envelope,
    request: DepositRequest<'_>,
    closure_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<AuthorizationRow, AuthorizationError> {
    let attestation = decode_verified_attestation(state, &request.attestation, now).await?;
    let expires_at = parse_timestamp("expires_at", attestation.expires_at.as_ref())
        .map_err(|_| AuthorizationError::AttestationInvalid("expires_at is missing".to_owned()))?;
    if expires_at <= now {
        return Err(AuthorizationError::AttestationExpired(attestation.attestation_id));
    }
    if attestation.deposit_id != request.deposit_id || attestation.passbook_number != request.passbook_number
    {
        return Err(AuthorizationError::AttestationMismatch(format!(
            "the attestation is for deposit {} in passbook {}",
            attestation.deposit_id, attestation.passbook_number
        )));
    }
    if !matches!(
        attestation.deposit_state(),
        DepositState::Unmatured | DepositState::Matured | DepositState::Overdue
    ) {
        return Err(AuthorizationError::DepositNotActive {
            state: format!("{:?}", attestation.deposit_state()),
            deposit_id: attestation.deposit_id,
        });
    }
    let (attested_amount, currency) = parse_money("requested_amount", attestation.requested_amount.as_ref())
        .map_err(|_| AuthorizationError::AttestationInvalid("requested_amount is invalid".to_owned()))?;
    let amount_matches = match &request.amount {
        None => attestation.whole_deposit,
        Some((amount, amount_currency)) => {
            !attestation.whole_deposit && *amount == attested_amount && *amount_currency == currency
        }
    };
    if !amount_matches {
        return Err(AuthorizationError::AttestationMismatch(
            "the attestation covers another amount; get an attestation for this amount".to_owned(),
        ));
    }
    let quote: &InterestQuote = attestation
        .quote
        .as_ref()
        .ok_or_else(|| AuthorizationError::AttestationInvalid("the attestation has no quote".to_owned()))?;
    let loss = money_value(&quote.interest_loss)?;
    let total = money_value(&quote.total_payout)?;
    let loses_interest = loss > Decimal::ZERO;

    let mut flags = Vec::new();
    if attestation.deposit_state() == DepositState::Unmatured {
        flags.push(SupervisorFlag::Unmatured as i32);
    }
    // The large-amount line applies to what is paid out, principal plus
    // interest, as the LARGE_AMOUNT flag's contract says.
    if total >= state.large_amount_threshold {
        flags.push(SupervisorFlag::LargeAmount as i32);
    }
    if !attestation.passbook_reissued_on.is_empty()
        && attestation.passbook_reissued_on == attestation.business_date
    {
        flags.push(SupervisorFlag::ReissuedAfterLossToday as i32);
    }
    if request.identity_check.agent {
        flags.push(SupervisorFlag::Agent as i32);
    }
    if quote.withdrawal_kind() == WithdrawalKind::EarlyPartial {
        flags.push(SupervisorFlag::PartialEarlyWithdrawal as i32);
    }
    if closure_id.is_some() {
        flags.push(SupervisorFlag::PassbookClosure as i32);
    }
    if needs_identity_check(&flags) && !identity_recorded(request.identity_check) {
        return Err(AuthorizationError::IdentityCheckRequired(
            "record the depositor's ID document (and the agent's) for early and large withdrawals".to_owned(),
        ));
    }

    let (disclosure_zh_cn, disclosure_en) = if loses_interest {
        let (zh, en) = disclosure::write(&attestation, quote);
        (Some(zh), Some(en))
    } else {
        (None, None)
    };

    Ok(AuthorizationRow {
        authorization_id: uuid::Uuid::new_v4().to_string(),
        request_id: request_id.to_owned(),
        closure_id: closure_id.map(str::to_owned),
        state: AuthorizationState::Pending,
        teller_staff_id: teller.staff_id.clone(),
        branch_id: teller.branch_id.clone(),
        passbook_number: request.passbook_number.to_owned(),
        deposit_id: request.deposit_id.to_owned(),
        amount: attested_amount,
        payout_total: total,
        currency_code: currency,
        whole_deposit: attestation.whole_deposit,
        loses_interest,
        instruction: instruction.clone(),
        attestation_id: attestation.attestation_id.clone(),
        attestation: request.attestation,
        attestation_expires_at: expires_at,
        identity_check: request.identity_check.encode_to_vec(),
        flags,
        disclosure_zh_cn,
        disclosure_en,
        acknowledgement: None,
        acknowledgement_recorded_at: None,
        requirements_met_at: None,
        order_id: None,
        order: None,
        payout: None,
        last_error_reason: None,
        created_at: now,
        updated_at: now,
    })
}

fn money_value(money: &Option<bank_proto::common::Money>) -> Result<Decimal, AuthorizationError> {
    parse_money("quote", money.as_ref())
        .map(|(value, _)| value)
        .map_err(|_| {
            AuthorizationError::AttestationInvalid("the attestation's quote has an invalid amount".to_owned())
        })
}

/// Inserts an authorization after checking that its attestation is unused
/// and its deposit has no other authorization under way, and records the
/// submission and its requirements in the audit log.
async fn insert_with_audit(
    transaction: &mut AnyConnection,
    row: &AuthorizationRow,
    now: DateTime<Utc>,
) -> Result<(), AuthorizationError> {
    if store::find_authorization_by_attestation(transaction, &row.attestation_id)
        .await?
        .is_some()
    {
        return Err(AuthorizationError::AttestationAlreadyUsed(
            row.attestation_id.clone(),
        ));
    }
    if store::find_open_authorization_for_deposit(transaction, &row.deposit_id)
        .await?
        .is_some()
    {
        return Err(AuthorizationError::WithdrawalAlreadyPending(
            row.deposit_id.clone(),
        ));
    }
    store::insert_authorization(transaction, row).await?;

    audit::record(
        transaction,
        AuditEventType::Submitted,
        now,
        Event {
            actor_staff_id: &row.teller_staff_id,
            authorization_id: &row.authorization_id,
            passbook_number: &row.passbook_number,
            deposit_id: &row.deposit_id,
            details: Some(json!({
                "amount": row.amount.to_string(),
                "currency_code": row.currency_code,
                "whole_deposit": row.whole_deposit,
                "attestation_id": row.attestation_id,
            })),
            envelopes: vec![&row.instruction, &row.attestation],
            ..Event::default()
        },
    )
    .await?;
    let requirements: Vec<String> = crate::view::requirements(row, &[])
        .iter()
        .map(|requirement| format!("{:?}", requirement.kind()))
        .collect();
    let flags: Vec<String> = row
        .flags
        .iter()
        .map(|flag| {
            format!(
                "{:?}",
                SupervisorFlag::try_from(*flag).unwrap_or(SupervisorFlag::Unspecified)
            )
        })
        .collect();
    audit::record(
        transaction,
        AuditEventType::RequirementsSet,
        now,
        Event {
            authorization_id: &row.authorization_id,
            passbook_number: &row.passbook_number,
            deposit_id: &row.deposit_id,
            details: Some(json!({
                "requirements": requirements,
                "flags": flags,
                "payout_total": row.payout_total.to_string(),
                "loses_interest": row.loses_interest,
            })),
            ..Event::default()
        },
    )
    .await?;
    Ok(())
}

/// Maps a failed call to deposit-status during submission.
pub fn deposit_call_error(error: crate::deposit_client::DepositCallError) -> AuthorizationError {
    match error {
        crate::deposit_client::DepositCallError::Unavailable(detail) => {
            AuthorizationError::DepositStatusUnavailable(detail)
        }
        crate::deposit_client::DepositCallError::Refused(summary) => {
            AuthorizationError::DepositStatusRejected(Box::new(summary))
        }
    }
}
