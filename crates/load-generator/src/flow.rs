//! One complete withdrawal flow, as the teller client runs `teller withdraw`
//! with the supervisor on site: passbook view, maturity attestation, signed
//! instruction, signed disclosure acknowledgement, supervisor co-signature,
//! release.

use std::future::Future;
use std::time::{Duration, Instant};

use attestation::SigningKey;
use bank_proto::common::{Money, SignedEnvelope};
use bank_proto::deposit::deposit_status_service_client::DepositStatusServiceClient;
use bank_proto::deposit::{DepositState, GetPassbookRequest, IssueMaturityAttestationRequest};
use bank_proto::withdrawal::withdrawal_authorization_service_client::WithdrawalAuthorizationServiceClient;
use bank_proto::withdrawal::{
    AcknowledgeDisclosureRequest, Authorization, AuthorizationReference, AuthorizationState, CaptureMethod,
    CoSignAuthorizationsRequest, CoSignature, DisclosureAcknowledgement, IdDocumentType, IdentityCheck,
    ReleaseAuthorizationRequest, RequirementKind, SubmitWithdrawalRequest, WithdrawalInstruction,
};
use chrono::Utc;
use grpc_support::convert::{envelope_to_proto, to_timestamp};
use prost::Message;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::setup::FedDeposit;

/// Masked ID number of every load-test customer, as recorded at the counter.
pub const CUSTOMER_MASKED_ID_NUMBER: &str = "110***********0000";
/// Language of the disclosure shown to the customer: the teller client's
/// default.
const DISCLOSURE_LANGUAGE: &str = "zh-CN";

/// The RPCs a teller's client makes in one flow, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    GetPassbook,
    IssueMaturityAttestation,
    SubmitWithdrawal,
    AcknowledgeDisclosure,
    CoSignAuthorizations,
    ReleaseAuthorization,
}

/// Every step, in flow order.
pub const STEPS: [Step; 6] = [
    Step::GetPassbook,
    Step::IssueMaturityAttestation,
    Step::SubmitWithdrawal,
    Step::AcknowledgeDisclosure,
    Step::CoSignAuthorizations,
    Step::ReleaseAuthorization,
];

impl Step {
    /// Returns the gRPC method name.
    pub fn method(self) -> &'static str {
        match self {
            Step::GetPassbook => "GetPassbook",
            Step::IssueMaturityAttestation => "IssueMaturityAttestation",
            Step::SubmitWithdrawal => "SubmitWithdrawal",
            Step::AcknowledgeDisclosure => "AcknowledgeDisclosure",
            Step::CoSignAuthorizations => "CoSignAuthorizations",
            Step::ReleaseAuthorization => "ReleaseAuthorization",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A staff member's id and signing key.
pub struct Staff {
    pub staff_id: String,
    pub key: SigningKey,
}

impl Staff {
    /// Signs the protobuf encoding of `message` as `payload_type`.
    fn sign(&self, payload_type: &str, message: &impl Message) -> SignedEnvelope {
        envelope_to_proto(&self.key.sign(payload_type, message.encode_to_vec()))
    }
}

/// A teller terminal: the teller, the supervisor who co-signs on site, and
/// the terminal's own connections to both services.
pub struct Teller {
    pub teller: Staff,
    pub supervisor: Staff,
    pub branch_id: String,
    pub deposit_status: DepositStatusServiceClient<Channel>,
    pub authorization: WithdrawalAuthorizationServiceClient<Channel>,
}

/// The amounts a complete flow paid, in CNY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paid {
    /// Principal plus interest.
    pub total: Decimal,
    /// Interest the customer gave up by withdrawing before maturity.
    pub interest_lost: Decimal,
}

/// Why a flow stopped: the step and the ErrorInfo reason, or a description
/// of what the response lacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowError {
    pub step: Step,
    pub reason: String,
}

impl FlowError {
    fn from_status(step: Step, status: &tonic::Status) -> Self {
        FlowError {
            step,
            reason: status_reason(status),
        }
    }

    fn unexpected(step: Step, problem: &str) -> Self {
        FlowError {
            step,
            reason: format!("unexpected response: {problem}"),
        }
    }
}

/// Returns the ErrorInfo reason of a status, or its code when it carries no
/// ErrorInfo (a transport failure, or a status from a proxy).
pub fn status_reason(status: &tonic::Status) -> String {
    match status.get_error_details().error_info() {
        Some(info) if !info.reason.is_empty() => info.reason.clone(),
        _ => format!("{:?} (no ErrorInfo)", status.code()),
    }
}

/// The result and timings of one flow.
#[derive(Debug, Clone)]
pub struct FlowOutcome {
    step_latencies: [Option<Duration>; STEPS.len()],
    /// From the flow's start (its scheduled start in open-loop mode) to its
    /// end.
    pub latency: Duration,
    pub result: Result<Paid, FlowError>,
}

impl FlowOutcome {
    /// Returns how long the call of `step` took, if it was made and
    /// succeeded.
    pub fn step_latency(&self, step: Step) -> Option<Duration> {
        self.step_latencies[step.index()]
    }
}

/// Runs one complete flow on `deposit`. `started` is when the flow started,
/// or was scheduled to start.
pub async fn run_flow(teller: &Teller, deposit: &FedDeposit, started: Instant) -> FlowOutcome {
    let mut step_latencies = [None; STEPS.len()];
    let result = run_steps(teller, deposit, &mut step_latencies).await;
    FlowOutcome {
        step_latencies,
        latency: started.elapsed(),
        result,
    }
}

/// Awaits one call and records its latency when it succeeds.
async fn timed<T>(
    latencies: &mut [Option<Duration>; STEPS.len()],
    step: Step,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, FlowError> {
    let start = Instant::now();
    let response = call
        .await
        .map_err(|status| FlowError::from_status(step, &status))?;
    latencies[step.index()] = Some(start.elapsed());
    Ok(response.into_inner())
}

async fn run_steps(
    teller: &Teller,
    deposit: &FedDeposit,
    latencies: &mut [Option<Duration>; STEPS.len()],
) -> Result<Paid, FlowError> {
    let mut deposit_status = teller.deposit_status.clone();
    let mut authorization_client = teller.authorization.clone();

    let view = timed(
        latencies,
        Step::GetPassbook,
        deposit_status.get_passbook(GetPassbookRequest {
            passbook_number: deposit.passbook_number.clone(),
        }),
    )
    .await?;
    let listed = view
        .deposits
        .iter()
        .find(|listed| listed.deposit_id == deposit.deposit_id);
    if listed.is_none_or(|listed| listed.state() != DepositState::Unmatured) {
        return Err(FlowError::unexpected(
            Step::GetPassbook,
            "the passbook does not list the deposit as unmatured",
        ));
    }

    let issued = timed(
        latencies,
        Step::IssueMaturityAttestation,
        deposit_status.issue_maturity_attestation(IssueMaturityAttestationRequest {
            request_id: new_request_id(),
            passbook_number: deposit.passbook_number.clone(),
            deposit_id: deposit.deposit_id.clone(),
            amount: None,
            whole_deposit: true,
        }),
    )
    .await?;
    let attestation = issued
        .attestation
        .ok_or_else(|| FlowError::unexpected(Step::IssueMaturityAttestation, "no attestation envelope"))?;

    let request_id = new_request_id();
    let instruction = WithdrawalInstruction {
        request_id: request_id.clone(),
        teller_staff_id: teller.teller.staff_id.clone(),
        branch_id: teller.branch_id.clone(),
        passbook_number: deposit.passbook_number.clone(),
        deposit_id: deposit.deposit_id.clone(),
        amount: None,
        whole_deposit: true,
        identity_check: Some(identity_check()),
        maturity_attestation: Some(attestation),
        signed_at: Some(to_timestamp(Utc::now())),
    };
    let signed = teller
        .teller
        .sign(bank_proto::payload_type::WITHDRAWAL_INSTRUCTION, &instruction);
    let submitted = timed(
        latencies,
        Step::SubmitWithdrawal,
        authorization_client.submit_withdrawal(SubmitWithdrawalRequest {
            request_id,
            instruction: Some(signed),
        }),
    )
    .await?
    .authorization
    .ok_or_else(|| FlowError::unexpected(Step::SubmitWithdrawal, "no authorization"))?;

    let acknowledgement = acknowledgement(teller, &submitted)?;
    let acknowledged = timed(
        latencies,
        Step::AcknowledgeDisclosure,
        authorization_client.acknowledge_disclosure(AcknowledgeDisclosureRequest {
            request_id: new_request_id(),
            acknowledgement: Some(acknowledgement),
        }),
    )
    .await?
    .authorization
    .ok_or_else(|| FlowError::unexpected(Step::AcknowledgeDisclosure, "no authorization"))?;

    // The supervisor signs the digest returned with the acknowledgement,
    // which covers it.
    let cosignature = CoSignature {
        supervisor_staff_id: teller.supervisor.staff_id.clone(),
        authorizations: vec![AuthorizationReference {
            authorization_id: acknowledged.authorization_id.clone(),
            authorization_digest: acknowledged.authorization_digest.clone(),
        }],
        signed_at: Some(to_timestamp(Utc::now())),
    };
    let cosigned = timed(
        latencies,
        Step::CoSignAuthorizations,
        authorization_client.co_sign_authorizations(CoSignAuthorizationsRequest {
            request_id: new_request_id(),
            cosignature: Some(
                teller
                    .supervisor
                    .sign(bank_proto::payload_type::CO_SIGNATURE, &cosignature),
            ),
        }),
    )
    .await?;
    if cosigned
        .authorizations
        .first()
        .is_none_or(|authorization| authorization.state() != AuthorizationState::Ready)
    {
        return Err(FlowError::unexpected(
            Step::CoSignAuthorizations,
            "the authorization is not READY after the co-signature",
        ));
    }

    let released = timed(
        latencies,
        Step::ReleaseAuthorization,
        authorization_client.release_authorization(ReleaseAuthorizationRequest {
            request_id: new_request_id(),
            authorization_id: acknowledged.authorization_id.clone(),
        }),
    )
    .await?;
    let state = released
        .authorization
        .as_ref()
        .map(Authorization::state)
        .unwrap_or_default();
    let payout = released.payout.unwrap_or_default();
    if state != AuthorizationState::Released {
        return Err(FlowError::unexpected(
            Step::ReleaseAuthorization,
            "the authorization is not RELEASED",
        ));
    }
    let total = amount(payout.total.as_ref())
        .ok_or_else(|| FlowError::unexpected(Step::ReleaseAuthorization, "the payout has no valid total"))?;
    let interest_lost = amount(
        payout
            .quote
            .as_ref()
            .and_then(|quote| quote.interest_loss.as_ref()),
    )
    .ok_or_else(|| {
        FlowError::unexpected(
            Step::ReleaseAuthorization,
            "the payout quote has no valid interest loss",
        )
    })?;
    Ok(Paid { total, interest_lost })
}

/// Checks that the authorization waits for the customer's acknowledgement,
/// hashes the disclosure text as shown, and signs the acknowledgement as
/// the teller.
fn acknowledgement(teller: &Teller, authorization: &Authorization) -> Result<SignedEnvelope, FlowError> {
    let step = Step::AcknowledgeDisclosure;
    let pending = authorization.requirements.iter().any(|requirement| {
        requirement.kind() == RequirementKind::DisclosureAcknowledgement && !requirement.satisfied
    });
    if !pending {
        return Err(FlowError::unexpected(
            step,
            "the authorization does not wait for a disclosure acknowledgement",
        ));
    }
    let text = authorization
        .disclosure
        .iter()
        .find(|text| text.language == DISCLOSURE_LANGUAGE)
        .ok_or_else(|| FlowError::unexpected(step, "no zh-CN disclosure text"))?;
    // As the teller client does: the acknowledgement names the hash of the
    // text shown, which must match the digest the service sent.
    let shown_sha256 = hex::encode(Sha256::digest(text.text.as_bytes()));
    if shown_sha256 != text.sha256 {
        return Err(FlowError::unexpected(
            step,
            "the disclosure text does not match its SHA-256",
        ));
    }
    let acknowledgement = DisclosureAcknowledgement {
        authorization_id: authorization.authorization_id.clone(),
        language: text.language.clone(),
        disclosure_sha256: shown_sha256,
        capture_method: CaptureMethod::SignaturePad as i32,
        capture_reference: format!("LOAD-{}", &new_request_id()[..8]),
        captured_at: Some(to_timestamp(Utc::now())),
        teller_staff_id: teller.teller.staff_id.clone(),
    };
    Ok(teller.teller.sign(
        bank_proto::payload_type::DISCLOSURE_ACKNOWLEDGEMENT,
        &acknowledgement,
    ))
}

/// Returns the identity check recorded at the counter: the depositor's
/// resident ID card, which early withdrawals require.
fn identity_check() -> IdentityCheck {
    IdentityCheck {
        depositor_checked: true,
        depositor_id_type: IdDocumentType::ResidentIdCard as i32,
        depositor_masked_id_number: CUSTOMER_MASKED_ID_NUMBER.to_owned(),
        ..IdentityCheck::default()
    }
}

/// Returns a new request id for a mutating call (AIP-155).
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Parses a money amount exactly.
fn amount(money: Option<&Money>) -> Option<Decimal> {
    Decimal::from_str_exact(&money?.amount).ok()
}
