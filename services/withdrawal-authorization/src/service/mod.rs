//! The gRPC handlers and the state they share.
//!
//! Each RPC is a function returning `Result<_, AuthorizationError>`; the trait
//! implementations only convert. Signatures and attestations are verified
//! before a write transaction opens, so no network call or signature check
//! holds the database's write lock.

mod acknowledge;
mod admin;
mod decide;
mod queries;
mod release;
mod submit;

use std::sync::Arc;

use bank_proto::withdrawal::withdrawal_authorization_service_server::WithdrawalAuthorizationService;
use bank_proto::withdrawal::{
    AcknowledgeDisclosureRequest, AcknowledgeDisclosureResponse, CoSignAuthorizationsRequest,
    CoSignAuthorizationsResponse, GetAuditTrailRequest, GetAuditTrailResponse, GetAuthorizationRequest,
    GetAuthorizationResponse, GetPassbookClosureRequest, GetPassbookClosureResponse,
    ListPendingAuthorizationsRequest, ListPendingAuthorizationsResponse, ListVerificationKeysRequest,
    ListVerificationKeysResponse, RejectAuthorizationRequest, RejectAuthorizationResponse,
    ReleaseAuthorizationRequest, ReleaseAuthorizationResponse, SubmitPassbookClosureRequest,
    SubmitPassbookClosureResponse, SubmitWithdrawalRequest, SubmitWithdrawalResponse,
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::AnyConnection;
use tonic::{Request, Response, Status};

pub use admin::AdminService;
pub use release::resume_releases;

use crate::deposit_client::DepositClient;
use crate::error::AuthorizationError;
use crate::keys::{AttestationKeys, ReleaseSigner};
use crate::store::{self, AuthorizationRow, Store};
use crate::view;

/// Largest clock difference tolerated between a signer's device and this
/// service when a signed instant is checked against now.
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(60);

/// The state every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub store: Store,
    pub signer: ReleaseSigner,
    pub attestation_keys: AttestationKeys,
    pub deposit: DepositClient,
    pub large_amount_threshold: Decimal,
}

/// Shared handle to the state.
pub type SharedState = Arc<AppState>;

impl AppState {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Loads an authorization or fails with AUTHORIZATION_NOT_FOUND.
async fn load(
    connection: &mut AnyConnection,
    authorization_id: &str,
) -> Result<AuthorizationRow, AuthorizationError> {
    store::find_authorization(connection, authorization_id)
        .await?
        .ok_or_else(|| AuthorizationError::AuthorizationNotFound(authorization_id.to_owned()))
}

/// Builds the protobuf view of a stored authorization, with its decisions
/// and the supervisors' names.
async fn authorization_view(
    connection: &mut AnyConnection,
    row: &AuthorizationRow,
) -> Result<bank_proto::withdrawal::Authorization, AuthorizationError> {
    let decisions = store::list_decisions(connection, &row.authorization_id).await?;
    let mut names = Vec::with_capacity(decisions.len());
    for decision in &decisions {
        let name = store::find_staff(connection, &decision.supervisor_staff_id)
            .await?
            .map(|staff| staff.name)
            .unwrap_or_default();
        names.push((decision.supervisor_staff_id.clone(), name));
    }
    Ok(view::to_proto(row, &decisions, |staff_id| {
        names
            .iter()
            .find(|(id, _)| id == staff_id)
            .map(|(_, name)| name.clone())
            .unwrap_or_default()
    }))
}

/// The WithdrawalAuthorizationService implementation.
#[derive(Debug, Clone)]
pub struct AuthorizationService {
    state: SharedState,
}

impl AuthorizationService {
    pub fn new(state: SharedState) -> Self {
        AuthorizationService { state }
    }
}

#[tonic::async_trait]
impl WithdrawalAuthorizationService for AuthorizationService {
    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn submit_withdrawal(
        &self,
        request: Request<SubmitWithdrawalRequest>,
    ) -> Result<Response<SubmitWithdrawalResponse>, Status> {
        Ok(Response::new(
            submit::submit_withdrawal(&self.state, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn submit_passbook_closure(
        &self,
        request: Request<SubmitPassbookClosureRequest>,
    ) -> Result<Response<SubmitPassbookClosureResponse>, Status> {
        Ok(Response::new(
            submit::submit_closure(&self.state, request.into_inner()).await?,
        ))
    }

    async fn get_authorization(
        &self,
        request: Request<GetAuthorizationRequest>,
    ) -> Result<Response<GetAuthorizationResponse>, Status> {
        Ok(Response::new(
            queries::get_authorization(&self.state, request.into_inner()).await?,
        ))
    }

    async fn get_passbook_closure(
        &self,
        request: Request<GetPassbookClosureRequest>,
    ) -> Result<Response<GetPassbookClosureResponse>, Status> {
        Ok(Response::new(
            queries::get_closure(&self.state, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn acknowledge_disclosure(
        &self,
        request: Request<AcknowledgeDisclosureRequest>,
    ) -> Result<Response<AcknowledgeDisclosureResponse>, Status> {
        Ok(Response::new(
            acknowledge::acknowledge(&self.state, request.into_inner()).await?,
        ))
    }

    async fn list_pending_authorizations(
        &self,
        request: Request<ListPendingAuthorizationsRequest>,
    ) -> Result<Response<ListPendingAuthorizationsResponse>, Status> {
        Ok(Response::new(
            queries::list_pending(&self.state, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn co_sign_authorizations(
        &self,
        request: Request<CoSignAuthorizationsRequest>,
    ) -> Result<Response<CoSignAuthorizationsResponse>, Status> {
        Ok(Response::new(
            decide::co_sign(&self.state, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn reject_authorization(
        &self,
        request: Request<RejectAuthorizationRequest>,
    ) -> Result<Response<RejectAuthorizationResponse>, Status> {
        Ok(Response::new(
            decide::reject(&self.state, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(authorization_id = %request.get_ref().authorization_id))]
    async fn release_authorization(
        &self,
        request: Request<ReleaseAuthorizationRequest>,
    ) -> Result<Response<ReleaseAuthorizationResponse>, Status> {
        Ok(Response::new(
            release::release(&self.state, request.into_inner()).await?,
        ))
    }

    async fn get_audit_trail(
        &self,
        request: Request<GetAuditTrailRequest>,
    ) -> Result<Response<GetAuditTrailResponse>, Status> {
        Ok(Response::new(
            queries::audit_trail(&self.state, request.into_inner()).await?,
        ))
    }

    async fn list_verification_keys(
        &self,
        _request: Request<ListVerificationKeysRequest>,
    ) -> Result<Response<ListVerificationKeysResponse>, Status> {
        Ok(Response::new(queries::verification_keys(&self.state)?))
    }
}
