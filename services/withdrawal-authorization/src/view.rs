//! What supervisors and tellers see of an authorization: its requirements,
//! the digest a co-signature must name, and the protobuf message.

use bank_proto::common::Money;
use bank_proto::deposit::{MaturityAttestation, Payout};
use bank_proto::withdrawal::{
    AcknowledgementRecord, Authorization, AuthorizationState as ProtoState, DisclosureAcknowledgement,
    DisclosureText, IdentityCheck, Requirement, RequirementKind, SupervisorDecisionRecord, SupervisorFlag,
};
use grpc_support::convert::{money, to_timestamp};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::disclosure::{self, EN, ZH_CN};
use crate::store::{AuthorizationRow, AuthorizationState, DecisionRow};

/// SHA-256 in lowercase hex over everything a supervisor must check: the
/// authorization id, the teller's signed instruction, the attestation and the
/// acknowledgement (empty before there is one). Each part is hashed first, so
/// no part's bytes can run into the next.
pub fn authorization_digest(row: &AuthorizationRow) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"bank.withdrawal.v1.AuthorizationDigest\n");
    hasher.update(row.authorization_id.as_bytes());
    hasher.update(b"\n");
    hasher.update(Sha256::digest(&row.instruction.payload));
    hasher.update(Sha256::digest(&row.attestation.payload));
    let acknowledgement = row
        .acknowledgement
        .as_ref()
        .map(|envelope| envelope.payload.as_slice())
        .unwrap_or(&[]);
    hasher.update(Sha256::digest(acknowledgement));
    hex::encode(hasher.finalize())
}

/// True when the authorization needs a recorded identity check: early
/// withdrawals (储蓄管理条例, article 29) and large amounts.
pub fn needs_identity_check(flags: &[i32]) -> bool {
    flags.contains(&(SupervisorFlag::Unmatured as i32))
        || flags.contains(&(SupervisorFlag::LargeAmount as i32))
}

/// The decoded attestation of a stored authorization. The payload was
/// verified before it was stored.
pub fn attestation_of(row: &AuthorizationRow) -> MaturityAttestation {
    MaturityAttestation::decode(row.attestation.payload.as_slice()).unwrap_or_default()
}

/// Lists every requirement of the authorization and whether it is met.
pub fn requirements(row: &AuthorizationRow, decisions: &[DecisionRow]) -> Vec<Requirement> {
    let cosigned = decisions.iter().any(|decision| decision.approved);
    let mut requirements = vec![Requirement {
        kind: RequirementKind::Cosignature as i32,
        satisfied: cosigned,
        description_zh_cn: "营运主管授权（双人四眼，每笔定期支取必须）".to_owned(),
        description_en:
            "co-signature by a supervisor of the branch (four eyes, every time-deposit withdrawal)".to_owned(),
    }];
    if row.loses_interest {
        requirements.push(Requirement {
            kind: RequirementKind::DisclosureAcknowledgement as i32,
            satisfied: row.acknowledgement.is_some(),
            description_zh_cn: "客户确认利息损失告知".to_owned(),
            description_en: "the customer's acknowledgement of the interest-loss disclosure".to_owned(),
        });
    }
    if needs_identity_check(&row.flags) {
        // Submission rejects a missing identity check, so a stored
        // authorization always has it.
        requirements.push(Requirement {
            kind: RequirementKind::IdentityCheck as i32,
            satisfied: true,
            description_zh_cn: "核验存款人身份证件（代理人另须核验本人证件）".to_owned(),
            description_en: "check of the depositor's ID, and the agent's own ID for an agent".to_owned(),
        });
    }
    requirements
}

/// Returns the kinds of the requirements not met yet.
pub fn missing_requirements(row: &AuthorizationRow, decisions: &[DecisionRow]) -> Vec<RequirementKind> {
    requirements(row, decisions)
        .into_iter()
        .filter(|requirement| !requirement.satisfied)
        .map(|requirement| requirement.kind())
        .collect()
}

fn state_to_proto(state: AuthorizationState) -> ProtoState {
    match state {
        AuthorizationState::Pending => ProtoState::Pending,
        AuthorizationState::Ready => ProtoState::Ready,
        AuthorizationState::Releasing => ProtoState::Releasing,
        AuthorizationState::Released => ProtoState::Released,
        AuthorizationState::Rejected => ProtoState::Rejected,
        AuthorizationState::Failed => ProtoState::Failed,
        AuthorizationState::Expired => ProtoState::Expired,
    }
}

/// Disclosure texts with their digests; empty when nothing is lost.
pub fn disclosure_texts(row: &AuthorizationRow) -> Vec<DisclosureText> {
    let mut texts = Vec::new();
    if let Some(text) = &row.disclosure_zh_cn {
        texts.push(DisclosureText {
            language: ZH_CN.to_owned(),
            sha256: disclosure::sha256_hex(text),
            text: text.clone(),
        });
    }
    if let Some(text) = &row.disclosure_en {
        texts.push(DisclosureText {
            language: EN.to_owned(),
            sha256: disclosure::sha256_hex(text),
            text: text.clone(),
        });
    }
    texts
}

/// Builds the protobuf message. `staff_name` looks up a supervisor's name.
pub fn to_proto(
    row: &AuthorizationRow,
    decisions: &[DecisionRow],
    staff_name: impl Fn(&str) -> String,
) -> Authorization {
    let acknowledgement = row
        .acknowledgement
        .as_ref()
        .map(|envelope| AcknowledgementRecord {
            acknowledgement: DisclosureAcknowledgement::decode(envelope.payload.as_slice()).ok(),
            recorded_at: row.acknowledgement_recorded_at.map(to_timestamp),
        });
    let amount: Money = money(row.amount, &row.currency_code);
    Authorization {
        authorization_id: row.authorization_id.clone(),
        request_id: row.request_id.clone(),
        closure_id: row.closure_id.clone().unwrap_or_default(),
        state: state_to_proto(row.state) as i32,
        teller_staff_id: row.teller_staff_id.clone(),
        branch_id: row.branch_id.clone(),
        passbook_number: row.passbook_number.clone(),
        deposit_id: row.deposit_id.clone(),
        amount: Some(amount),
        whole_deposit: row.whole_deposit,
        attestation: Some(attestation_of(row)),
        identity_check: IdentityCheck::decode(row.identity_check.as_slice()).ok(),
        flags: row.flags.clone(),
        requirements: requirements(row, decisions),
        disclosure: disclosure_texts(row),
        acknowledgement,
        decisions: decisions
            .iter()
            .map(|decision| SupervisorDecisionRecord {
                supervisor_staff_id: decision.supervisor_staff_id.clone(),
                supervisor_name: staff_name(&decision.supervisor_staff_id),
                approved: decision.approved,
                reason: decision.reason.clone(),
                key_id: decision.envelope.key_id.clone(),
                recorded_at: Some(to_timestamp(decision.recorded_at)),
            })
            .collect(),
        authorization_digest: authorization_digest(row),
        requirements_met_at: row.requirements_met_at.map(to_timestamp),
        order_id: row.order_id.clone().unwrap_or_default(),
        payout: row
            .payout
            .as_ref()
            .and_then(|bytes| Payout::decode(bytes.as_slice()).ok()),
        last_error_reason: row.last_error_reason.clone().unwrap_or_default(),
        created_at: Some(to_timestamp(row.created_at)),
        updated_at: Some(to_timestamp(row.updated_at)),
    }
}
