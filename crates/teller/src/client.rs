//! Connections to deposit-status and withdrawal-authorization, and every RPC
//! the client makes, each turning an error status into a [`Failure`].

use std::time::Duration;

use bank_proto::common::{Money, SignedEnvelope, VerificationKey};
use bank_proto::deposit::deposit_admin_service_client::DepositAdminServiceClient;
use bank_proto::deposit::deposit_status_service_client::DepositStatusServiceClient;
use bank_proto::deposit::{
    GetBusinessDateRequest, GetPassbookRequest, GetPassbookResponse, IssueMaturityAttestationRequest,
    IssueMaturityAttestationResponse,
};
use bank_proto::withdrawal::withdrawal_admin_service_client::WithdrawalAdminServiceClient;
use bank_proto::withdrawal::withdrawal_authorization_service_client::WithdrawalAuthorizationServiceClient;
use bank_proto::withdrawal::{
    AcknowledgeDisclosureRequest, AuditRecord, Authorization, CoSignAuthorizationsRequest,
    EnrollStaffRequest, GetAuditTrailRequest, GetAuthorizationRequest, ListAuditRecordsRequest,
    ListPendingAuthorizationsRequest, ListStaffRequest, PassbookClosure, RejectAuthorizationRequest,
    ReleaseAuthorizationRequest, ReleaseAuthorizationResponse, StaffMember, SubmitPassbookClosureRequest,
    SubmitWithdrawalRequest,
};
use clap::Args;
use tonic::transport::{Channel, Endpoint};

use crate::error::{Failure, invalid};
use crate::lang::Lang;

/// Maximum time to open a connection before a call fails as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Maximum time one call may take. Releases call deposit-status in turn, so
/// this is longer than the services' own default request timeout.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Page size asked of ListAuditRecords, its maximum.
const AUDIT_PAGE_SIZE: i32 = 1000;
/// Maximum number of audit pages read, a bound on the loop: 10 million
/// records.
const MAX_AUDIT_PAGES: usize = 10_000;
/// Maximum number of pending-list pages read: 10,000 authorizations.
const MAX_PENDING_PAGES: usize = 100;

/// Service URLs. Every flag also reads an environment variable.
#[derive(Debug, Clone, Args)]
pub struct ServiceUrls {
    /// URL of deposit-status (maturity attestations, passbook view).
    #[arg(
        long,
        global = true,
        env = "TELLER_DEPOSIT_STATUS_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub deposit_status_url: String,
    /// URL of withdrawal-authorization (submissions, co-signatures, releases).
    #[arg(
        long,
        global = true,
        env = "TELLER_AUTHORIZATION_URL",
        default_value = "http://127.0.0.1:50061"
    )]
    pub authorization_url: String,
    /// URL of withdrawal-authorization's admin listener (staff directory,
    /// audit log).
    #[arg(
        long,
        global = true,
        env = "TELLER_AUTHORIZATION_ADMIN_URL",
        default_value = "http://127.0.0.1:50062"
    )]
    pub authorization_admin_url: String,
}

/// Connects lazily: the first call opens the connection, so a command that
/// fails on its input never touches the network.
fn channel(url: &str, lang: Lang) -> Result<Channel, Failure> {
    let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|error| {
        invalid(
            lang,
            format!("服务地址 {url:?} 无效（{error}），应为 http://主机:端口。"),
            format!("invalid service URL {url:?} ({error}): expected http://HOST:PORT"),
        )
    })?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(invalid(
            lang,
            format!("服务地址 {url:?} 无效，应为 http://主机:端口。"),
            format!("invalid service URL {url:?}: expected http://HOST:PORT"),
        ));
    }
    Ok(endpoint
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT)
        .connect_lazy())
}

/// Turns a failed call into a failure. A status without ErrorInfo that
/// reports a transport failure means the service was not reached.
fn failure(url: &str, status: tonic::Status) -> Failure {
    let summary = grpc_support::ErrorSummary::from_status(&status);
    if summary.reason.is_none()
        && matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::DeadlineExceeded
        )
    {
        return Failure::Unreachable {
            url: url.to_owned(),
            detail: status.message().to_owned(),
        };
    }
    Failure::service(&status)
}

/// New request id for a mutating call (AIP-155).
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Builds a CNY amount as the contracts carry it.
pub fn cny(amount: &str) -> Money {
    Money {
        amount: amount.to_owned(),
        currency_code: "CNY".to_owned(),
    }
}

/// The RPCs the client makes, over lazily opened connections.
pub struct Api {
    urls: ServiceUrls,
    deposit: DepositStatusServiceClient<Channel>,
    authorization: WithdrawalAuthorizationServiceClient<Channel>,
    admin: WithdrawalAdminServiceClient<Channel>,
}

impl Api {
    /// Prepares the three connections. Fails only on a malformed URL.
    pub fn new(urls: &ServiceUrls, lang: Lang) -> Result<Self, Failure> {
        Ok(Api {
            deposit: DepositStatusServiceClient::new(channel(&urls.deposit_status_url, lang)?),
            authorization: WithdrawalAuthorizationServiceClient::new(channel(&urls.authorization_url, lang)?),
            admin: WithdrawalAdminServiceClient::new(channel(&urls.authorization_admin_url, lang)?),
            urls: urls.clone(),
        })
    }

    fn deposit_error(&self, status: tonic::Status) -> Failure {
        failure(&self.urls.deposit_status_url, status)
    }

    fn authorization_error(&self, status: tonic::Status) -> Failure {
        failure(&self.urls.authorization_url, status)
    }

    fn admin_error(&self, status: tonic::Status) -> Failure {
        failure(&self.urls.authorization_admin_url, status)
    }

    pub async fn get_passbook(&self, passbook_number: &str) -> Result<GetPassbookResponse, Failure> {
        self.deposit
            .clone()
            .get_passbook(GetPassbookRequest {
                passbook_number: passbook_number.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| self.deposit_error(status))
    }

    pub async fn business_date(&self) -> Result<String, Failure> {
        self.deposit
            .clone()
            .get_business_date(GetBusinessDateRequest {})
            .await
            .map(|response| response.into_inner().business_date)
            .map_err(|status| self.deposit_error(status))
    }

    /// Issues an attestation for `amount`, or for the whole balance when
    /// `amount` is `None`.
    pub async fn issue_attestation(
        &self,
        passbook_number: &str,
        deposit_id: &str,
        amount: Option<&str>,
    ) -> Result<IssueMaturityAttestationResponse, Failure> {
        self.deposit
            .clone()
            .issue_maturity_attestation(IssueMaturityAttestationRequest {
                request_id: request_id(),
                passbook_number: passbook_number.to_owned(),
                deposit_id: deposit_id.to_owned(),
                amount: amount.map(cny),
                whole_deposit: amount.is_none(),
            })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| self.deposit_error(status))
    }

    pub async fn deposit_status_keys(&self) -> Result<Vec<VerificationKey>, Failure> {
        self.deposit
            .clone()
            .list_verification_keys(bank_proto::deposit::ListVerificationKeysRequest {})
            .await
            .map(|response| response.into_inner().keys)
            .map_err(|status| self.deposit_error(status))
    }

    pub async fn submit_withdrawal(
        &self,
        request_id: String,
        instruction: SignedEnvelope,
    ) -> Result<Authorization, Failure> {
        self.authorization
            .clone()
            .submit_withdrawal(SubmitWithdrawalRequest {
                request_id,
                instruction: Some(instruction),
            })
            .await
            .map(|response| response.into_inner().authorization.unwrap_or_default())
            .map_err(|status| self.authorization_error(status))
    }

    pub async fn submit_closure(
        &self,
        request_id: String,
        instruction: SignedEnvelope,
    ) -> Result<PassbookClosure, Failure> {
        self.authorization
            .clone()
            .submit_passbook_closure(SubmitPassbookClosureRequest {
                request_id,
                instruction: Some(instruction),
            })
            .await
            .map(|response| response.into_inner().closure.unwrap_or_default())
            .map_err(|status| self.authorization_error(status))
    }

    pub async fn get_authorization(&self, authorization_id: &str) -> Result<Authorization, Failure> {
        self.authorization
            .clone()
            .get_authorization(GetAuthorizationRequest {
                authorization_id: authorization_id.to_owned(),
            })
            .await
            .map(|response| response.into_inner().authorization.unwrap_or_default())
            .map_err(|status| self.authorization_error(status))
    }

    pub async fn acknowledge(&self, acknowledgement: SignedEnvelope) -> Result<Authorization, Failure> {
        self.authorization
            .clone()
            .acknowledge_disclosure(AcknowledgeDisclosureRequest {
                request_id: request_id(),
                acknowledgement: Some(acknowledgement),
            })
            .await
            .map(|response| response.into_inner().authorization.unwrap_or_default())
            .map_err(|status| self.authorization_error(status))
    }

    /// Lists every pending authorization of `branch_id`, following pages.
    pub async fn list_pending(&self, branch_id: &str) -> Result<Vec<Authorization>, Failure> {
        let mut all = Vec::new();
        let mut page_token = String::new();
        for _ in 0..MAX_PENDING_PAGES {
            let page = self
                .authorization
                .clone()
                .list_pending_authorizations(ListPendingAuthorizationsRequest {
                    branch_id: branch_id.to_owned(),
                    page_size: 100,
                    page_token: page_token.clone(),
                })
                .await
                .map_err(|status| self.authorization_error(status))?
                .into_inner();
            all.extend(page.authorizations);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        Ok(all)
    }

    pub async fn co_sign(&self, cosignature: SignedEnvelope) -> Result<Vec<Authorization>, Failure> {
        self.authorization
            .clone()
            .co_sign_authorizations(CoSignAuthorizationsRequest {
                request_id: request_id(),
                cosignature: Some(cosignature),
            })
            .await
            .map(|response| response.into_inner().authorizations)
            .map_err(|status| self.authorization_error(status))
    }

    pub async fn reject(&self, rejection: SignedEnvelope) -> Result<Authorization, Failure> {
        self.authorization
            .clone()
            .reject_authorization(RejectAuthorizationRequest {
                request_id: request_id(),
                rejection: Some(rejection),
            })
            .await
            .map(|response| response.into_inner().authorization.unwrap_or_default())
            .map_err(|status| self.authorization_error(status))
    }

    pub async fn release(&self, authorization_id: &str) -> Result<ReleaseAuthorizationResponse, Failure> {
        self.authorization
            .clone()
            .release_authorization(ReleaseAuthorizationRequest {
                request_id: request_id(),
                authorization_id: authorization_id.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| self.authorization_error(status))
    }

    /// Returns the trail of one authorization or of one passbook: set
    /// exactly one of the two.
    pub async fn audit_trail(
        &self,
        authorization_id: &str,
        passbook_number: &str,
    ) -> Result<Vec<AuditRecord>, Failure> {
        self.authorization
            .clone()
            .get_audit_trail(GetAuditTrailRequest {
                authorization_id: authorization_id.to_owned(),
                passbook_number: passbook_number.to_owned(),
            })
            .await
            .map(|response| response.into_inner().records)
            .map_err(|status| self.authorization_error(status))
    }

    /// Reads the whole audit log, page by page, in sequence order.
    pub async fn audit_log(&self) -> Result<Vec<AuditRecord>, Failure> {
        let mut records = Vec::new();
        let mut from_sequence = 1;
        for _ in 0..MAX_AUDIT_PAGES {
            let page = self
                .admin
                .clone()
                .list_audit_records(ListAuditRecordsRequest {
                    from_sequence,
                    page_size: AUDIT_PAGE_SIZE,
                })
                .await
                .map_err(|status| self.admin_error(status))?
                .into_inner();
            records.extend(page.records);
            if page.next_sequence == 0 {
                break;
            }
            from_sequence = page.next_sequence;
        }
        Ok(records)
    }

    pub async fn list_staff(&self) -> Result<Vec<StaffMember>, Failure> {
        self.admin
            .clone()
            .list_staff(ListStaffRequest {
                branch_id: String::new(),
            })
            .await
            .map(|response| response.into_inner().staff_members)
            .map_err(|status| self.admin_error(status))
    }

    pub async fn enroll_staff(&self, request: EnrollStaffRequest) -> Result<StaffMember, Failure> {
        self.admin
            .clone()
            .enroll_staff(request)
            .await
            .map(|response| response.into_inner().staff_member.unwrap_or_default())
            .map_err(|status| self.admin_error(status))
    }
}

/// Returns a client of deposit-status's admin listener, which only the demo
/// uses, to open a fresh training passbook.
pub fn deposit_admin(url: &str, lang: Lang) -> Result<DepositAdminServiceClient<Channel>, Failure> {
    Ok(DepositAdminServiceClient::new(channel(url, lang)?))
}

/// Turns a failed deposit-status admin call into a failure.
pub fn deposit_admin_error(url: &str, status: tonic::Status) -> Failure {
    failure(url, status)
}
