//! One withdrawal, step by step, against any pair of clients: the calls a
//! teller's client makes, each retried with the same request while it
//! fails with UNAVAILABLE, as a client of a replicated service does.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bank_proto::common::SignedEnvelope;
use bank_proto::deposit::deposit_status_service_client::DepositStatusServiceClient;
use bank_proto::deposit::{IssueMaturityAttestationRequest, MaturityAttestation};
use bank_proto::withdrawal::withdrawal_authorization_service_client::WithdrawalAuthorizationServiceClient;
use bank_proto::withdrawal::{
    AcknowledgeDisclosureRequest, Authorization, AuthorizationReference, CaptureMethod,
    CoSignAuthorizationsRequest, CoSignature, DisclosureAcknowledgement, ReleaseAuthorizationRequest,
    ReleaseAuthorizationResponse, SubmitWithdrawalRequest, WithdrawalInstruction,
};
use chrono::Utc;
use grpc_support::convert::to_timestamp;
use tonic::transport::Channel;

use super::{BRANCH, Staff, cny, identity_check, request_id, sign};

/// Maximum number of calls of one request before its UNAVAILABLE is
/// returned.
const MAX_CALLS: u32 = 20;
/// Pause before the first repeat of a call; each further repeat waits one
/// step longer.
const REPEAT_STEP: Duration = Duration::from_millis(25);

/// Runs `call` until it returns anything but UNAVAILABLE, at most
/// [`MAX_CALLS`] times, and adds the repeats to `repeats`.
pub async fn with_repeats<T, F, Fut>(repeats: &AtomicUsize, mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let mut calls = 1;
    loop {
        match call().await {
            Err(status) if status.code() == tonic::Code::Unavailable && calls < MAX_CALLS => {
                repeats.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(REPEAT_STEP * calls).await;
                calls += 1;
            }
            other => return other,
        }
    }
}

/// Gets an attestation for the whole deposit (`amount` None) or an amount.
pub async fn attest(
    repeats: &AtomicUsize,
    client: &DepositStatusServiceClient<Channel>,
    passbook_number: &str,
    deposit_id: &str,
    amount: Option<&str>,
) -> Result<(SignedEnvelope, MaturityAttestation), tonic::Status> {
    let request = IssueMaturityAttestationRequest {
        request_id: request_id(),
        passbook_number: passbook_number.to_owned(),
        deposit_id: deposit_id.to_owned(),
        amount: amount.map(cny),
        whole_deposit: amount.is_none(),
    };
    let response = with_repeats(repeats, || {
        let mut client = client.clone();
        let request = request.clone();
        async move { client.issue_maturity_attestation(request).await }
    })
    .await?
    .into_inner();
    Ok((
        response.attestation.unwrap(),
        response.attestation_payload.unwrap(),
    ))
}

/// Submits a withdrawal signed by `teller`.
pub async fn submit(
    repeats: &AtomicUsize,
    client: &WithdrawalAuthorizationServiceClient<Channel>,
    teller: &Staff,
    passbook_number: &str,
    deposit_id: &str,
    amount: Option<&str>,
    attestation: SignedEnvelope,
) -> Result<Authorization, tonic::Status> {
    let request_id = request_id();
    let instruction = WithdrawalInstruction {
        request_id: request_id.clone(),
        teller_staff_id: teller.staff_id.clone(),
        branch_id: BRANCH.to_owned(),
        passbook_number: passbook_number.to_owned(),
        deposit_id: deposit_id.to_owned(),
        amount: amount.map(cny),
        whole_deposit: amount.is_none(),
        identity_check: Some(identity_check()),
        maturity_attestation: Some(attestation),
        signed_at: Some(to_timestamp(Utc::now())),
    };
    let request = SubmitWithdrawalRequest {
        request_id,
        instruction: Some(sign(
            &teller.key,
            bank_proto::payload_type::WITHDRAWAL_INSTRUCTION,
            &instruction,
        )),
    };
    let response = with_repeats(repeats, || {
        let mut client = client.clone();
        let request = request.clone();
        async move { client.submit_withdrawal(request).await }
    })
    .await?;
    Ok(response.into_inner().authorization.unwrap())
}

/// Records, signed by `teller`, that the customer acknowledged the zh-CN
/// disclosure.
pub async fn acknowledge(
    repeats: &AtomicUsize,
    client: &WithdrawalAuthorizationServiceClient<Channel>,
    teller: &Staff,
    authorization: &Authorization,
) -> Result<Authorization, tonic::Status> {
    let text = authorization
        .disclosure
        .iter()
        .find(|text| text.language == "zh-CN")
        .expect("zh-CN disclosure");
    let acknowledgement = DisclosureAcknowledgement {
        authorization_id: authorization.authorization_id.clone(),
        language: "zh-CN".to_owned(),
        disclosure_sha256: text.sha256.clone(),
        capture_method: CaptureMethod::SignaturePad as i32,
        capture_reference: "PAD-0001".to_owned(),
        captured_at: Some(to_timestamp(Utc::now())),
        teller_staff_id: teller.staff_id.clone(),
    };
    let request = AcknowledgeDisclosureRequest {
        request_id: request_id(),
        acknowledgement: Some(sign(
            &teller.key,
            bank_proto::payload_type::DISCLOSURE_ACKNOWLEDGEMENT,
            &acknowledgement,
        )),
    };
    let response = with_repeats(repeats, || {
        let mut client = client.clone();
        let request = request.clone();
        async move { client.acknowledge_disclosure(request).await }
    })
    .await?;
    Ok(response.into_inner().authorization.unwrap())
}

/// Co-signs one authorization at its current digest as `supervisor`.
pub async fn co_sign(
    repeats: &AtomicUsize,
    client: &WithdrawalAuthorizationServiceClient<Channel>,
    supervisor: &Staff,
    authorization: &Authorization,
) -> Result<Authorization, tonic::Status> {
    let cosignature = CoSignature {
        supervisor_staff_id: supervisor.staff_id.clone(),
        authorizations: vec![AuthorizationReference {
            authorization_id: authorization.authorization_id.clone(),
            authorization_digest: authorization.authorization_digest.clone(),
        }],
        signed_at: Some(to_timestamp(Utc::now())),
    };
    let request = CoSignAuthorizationsRequest {
        request_id: request_id(),
        cosignature: Some(sign(
            &supervisor.key,
            bank_proto::payload_type::CO_SIGNATURE,
            &cosignature,
        )),
    };
    let response = with_repeats(repeats, || {
        let mut client = client.clone();
        let request = request.clone();
        async move { client.co_sign_authorizations(request).await }
    })
    .await?;
    Ok(response.into_inner().authorizations.remove(0))
}

/// Releases an authorization.
pub async fn release(
    repeats: &AtomicUsize,
    client: &WithdrawalAuthorizationServiceClient<Channel>,
    authorization_id: &str,
) -> Result<ReleaseAuthorizationResponse, tonic::Status> {
    let request = ReleaseAuthorizationRequest {
        request_id: request_id(),
        authorization_id: authorization_id.to_owned(),
    };
    let response = with_repeats(repeats, || {
        let mut client = client.clone();
        let request = request.clone();
        async move { client.release_authorization(request).await }
    })
    .await?;
    Ok(response.into_inner())
}
