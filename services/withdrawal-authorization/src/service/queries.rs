//! Reads: one authorization, one closure, a branch's pending list, audit
//! trails and the release-order keys.

use bank_proto::withdrawal::{
    GetAuditTrailRequest, GetAuditTrailResponse, GetAuthorizationRequest, GetAuthorizationResponse,
    GetPassbookClosureRequest, GetPassbookClosureResponse, ListPendingAuthorizationsRequest,
    ListPendingAuthorizationsResponse, ListVerificationKeysResponse, PassbookClosure,
};
use grpc_support::convert::{require_identifier, verification_key_to_proto};
use grpc_support::error::{ApiError, Violations};

use super::{AppState, authorization_view, load};
use crate::audit::record_to_proto;
use crate::error::AuthorizationError;
use crate::store::{self, AuthorizationState};

/// Page size when a request leaves it 0.
pub const DEFAULT_PAGE_SIZE: i64 = 20;
/// Largest page size accepted.
pub const MAX_PAGE_SIZE: i64 = 100;

pub async fn get_authorization(
    state: &AppState,
    request: GetAuthorizationRequest,
) -> Result<GetAuthorizationResponse, AuthorizationError> {
    let mut violations = Violations::new();
    violations.check(require_identifier("authorization_id", &request.authorization_id));
    violations.finish()?;
    let mut connection = state.store.pool().acquire().await?;
    let row = load(&mut connection, &request.authorization_id).await?;
    Ok(GetAuthorizationResponse {
        authorization: Some(authorization_view(&mut connection, &row).await?),
    })
}

pub async fn get_closure(
    state: &AppState,
    request: GetPassbookClosureRequest,
) -> Result<GetPassbookClosureResponse, AuthorizationError> {
    let mut violations = Violations::new();
    violations.check(require_identifier("closure_id", &request.closure_id));
    violations.finish()?;
    let mut connection = state.store.pool().acquire().await?;
    let closure = store::find_closure(&mut connection, &request.closure_id)
        .await?
        .ok_or_else(|| AuthorizationError::ClosureNotFound(request.closure_id.clone()))?;
    let rows = store::list_authorizations_by_closure(&mut connection, &closure.closure_id).await?;
    let completed = !rows.is_empty() && rows.iter().all(|row| row.state == AuthorizationState::Released);
    let mut authorizations = Vec::with_capacity(rows.len());
    for row in &rows {
        authorizations.push(authorization_view(&mut connection, row).await?);
    }
    Ok(GetPassbookClosureResponse {
        closure: Some(PassbookClosure {
            closure_id: closure.closure_id,
            request_id: closure.request_id,
            passbook_number: closure.passbook_number,
            teller_staff_id: closure.teller_staff_id,
            authorizations,
            completed,
        }),
    })
}

/// Page tokens are "created_at|authorization_id" of the last item returned:
/// opaque to clients, and stable while new authorizations arrive.
pub async fn list_pending(
    state: &AppState,
    request: ListPendingAuthorizationsRequest,
) -> Result<ListPendingAuthorizationsResponse, AuthorizationError> {
    let mut violations = Violations::new();
    violations.check(require_identifier("branch_id", &request.branch_id));
    let page_size = match i64::from(request.page_size) {
        0 => DEFAULT_PAGE_SIZE,
        size if (1..=MAX_PAGE_SIZE).contains(&size) => size,
        _ => {
            violations.add("page_size", format!("expected 0 to {MAX_PAGE_SIZE}"));
            DEFAULT_PAGE_SIZE
        }
    };
    let after = if request.page_token.is_empty() {
        None
    } else {
        match request.page_token.split_once('|') {
            // The id is checked like any authorization id, which also keeps
            // a NUL byte (an error in PostgreSQL) out of the query.
            Some((created_at, id))
                if storage::parse_instant(created_at).is_some()
                    && require_identifier("page_token", id).is_ok() =>
            {
                Some((created_at.to_owned(), id.to_owned()))
            }
            _ => {
                violations.add("page_token", "not a token returned by this method");
                None
            }
        }
    };
    violations.finish()?;

    let mut connection = state.store.pool().acquire().await?;
    let rows = store::list_pending_authorizations(
        &mut connection,
        &request.branch_id,
        after
            .as_ref()
            .map(|(created_at, id)| (created_at.as_str(), id.as_str())),
        page_size + 1,
    )
    .await?;
    let more = rows.len() as i64 > page_size;
    let mut authorizations = Vec::with_capacity(rows.len());
    for row in rows.iter().take(page_size as usize) {
        authorizations.push(authorization_view(&mut connection, row).await?);
    }
    let next_page_token = if more {
        rows.get(page_size as usize - 1)
            .map(|row| {
                format!(
                    "{}|{}",
                    storage::format_instant(row.created_at),
                    row.authorization_id
                )
            })
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(ListPendingAuthorizationsResponse {
        authorizations,
        next_page_token,
    })
}

pub async fn audit_trail(
    state: &AppState,
    request: GetAuditTrailRequest,
) -> Result<GetAuditTrailResponse, AuthorizationError> {
    let mut violations = Violations::new();
    match (
        request.authorization_id.is_empty(),
        request.passbook_number.is_empty(),
    ) {
        (false, true) => {
            violations.check(require_identifier("authorization_id", &request.authorization_id));
        }
        (true, false) => {
            violations.check(require_identifier("passbook_number", &request.passbook_number));
        }
        _ => violations.add(
            "authorization_id",
            "set exactly one of authorization_id and passbook_number",
        ),
    }
    violations.finish()?;
    let mut connection = state.store.pool().acquire().await?;
    let rows = if request.authorization_id.is_empty() {
        store::list_audit_by_passbook(&mut connection, &request.passbook_number).await?
    } else {
        store::list_audit_by_authorization(&mut connection, &request.authorization_id).await?
    };
    Ok(GetAuditTrailResponse {
        records: rows.iter().map(record_to_proto).collect(),
    })
}

pub fn verification_keys(state: &AppState) -> Result<ListVerificationKeysResponse, AuthorizationError> {
    let key = verification_key_to_proto(
        &state.signer.verifying_key(),
        state.signer.valid_from(),
        None,
        true,
    )
    .map_err(|error| {
        AuthorizationError::Invalid(ApiError::internal("encoding a public key failed", &error))
    })?;
    Ok(ListVerificationKeysResponse { keys: vec![key] })
}
