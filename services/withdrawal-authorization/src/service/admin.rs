//! WithdrawalAdminService: the staff directory and the whole audit log.
//! Served only on the admin listener, bound to loopback by default.

use attestation::VerifyingKey;
use bank_proto::withdrawal::withdrawal_admin_service_server::WithdrawalAdminService;
use bank_proto::withdrawal::{
    AddStaffKeyRequest, AddStaffKeyResponse, AuditEventType, DeactivateStaffRequest, DeactivateStaffResponse,
    EnrollStaffRequest, EnrollStaffResponse, GetStaffRequest, GetStaffResponse, ListAuditRecordsRequest,
    ListAuditRecordsResponse, ListStaffRequest, ListStaffResponse, RevokeStaffKeyRequest,
    RevokeStaffKeyResponse, StaffKey, StaffMember, StaffRole,
};
use chrono::{DateTime, Utc};
use grpc_support::convert::{
    parse_positive_money, parse_request_id, parse_timestamp, require_identifier, require_text, to_timestamp,
    verification_key_to_proto,
};
use grpc_support::error::{ApiError, Violations};
use prost_types::Timestamp;
use serde_json::json;
use sqlx::AnyConnection;
use storage::RequestKey;
use tonic::{Request, Response, Status};

use super::SharedState;
use crate::audit::{self, Event, record_to_proto};
use crate::error::AuthorizationError;
use crate::store::{self, Role, StaffKeyRow, StaffRow};

/// Maximum length of a staff name, in characters.
const MAX_NAME_CHARS: usize = 100;
/// Maximum length of a reason, in characters.
const MAX_REASON_CHARS: usize = 500;
/// Page size of ListAuditRecords when a request leaves it 0, and its maximum.
pub const MAX_AUDIT_PAGE: i64 = 1000;

/// The WithdrawalAdminService implementation.
#[derive(Debug, Clone)]
pub struct AdminService {
    state: SharedState,
}

impl AdminService {
    pub fn new(state: SharedState) -> Self {
        AdminService { state }
    }
}

fn role_from_proto(role: i32) -> Option<Role> {
    match StaffRole::try_from(role).ok()? {
        StaffRole::Teller => Some(Role::Teller),
        StaffRole::Supervisor => Some(Role::Supervisor),
        StaffRole::Auditor => Some(Role::Auditor),
        StaffRole::Admin => Some(Role::Admin),
        StaffRole::Unspecified => None,
    }
}

fn role_to_proto(role: Role) -> StaffRole {
    match role {
        Role::Teller => StaffRole::Teller,
        Role::Supervisor => StaffRole::Supervisor,
        Role::Auditor => StaffRole::Auditor,
        Role::Admin => StaffRole::Admin,
    }
}

/// Parses a public key PEM and its validity.
fn parse_key(
    violations: &mut Violations,
    pem: &str,
    valid_from: Option<&Timestamp>,
    valid_until: Option<&Timestamp>,
    now: DateTime<Utc>,
) -> Option<(VerifyingKey, DateTime<Utc>, Option<DateTime<Utc>>)> {
    let key = match VerifyingKey::from_public_key_pem(pem) {
        Ok(key) => Some(key),
        Err(error) => {
            violations.add(
                "public_key_pem",
                format!("not an Ed25519 PEM \"PUBLIC KEY\": {error}"),
            );
            None
        }
    };
    let from = match valid_from {
        None => Some(now),
        Some(_) => violations.check(parse_timestamp("key_valid_from", valid_from)),
    };
    let until = match valid_until {
        None => Some(None),
        Some(_) => violations
            .check(parse_timestamp("key_valid_until", valid_until))
            .map(Some),
    };
    if let (Some(from), Some(Some(until))) = (from, until)
        && until <= from
    {
        violations.add("key_valid_until", "must be after key_valid_from");
    }
    Some((key?, from?, until?))
}

async fn member_view(
    connection: &mut AnyConnection,
    staff: &StaffRow,
) -> Result<StaffMember, AuthorizationError> {
    let now = Utc::now();
    let keys = store::list_staff_keys(connection, &staff.staff_id).await?;
    let mut views = Vec::with_capacity(keys.len());
    for key in &keys {
        let public_key = VerifyingKey::from_bytes(&key.public_key).map_err(|error| {
            AuthorizationError::Store(store::StoreError::Corrupt {
                table: "staff_keys",
                column: "public_key",
                value: format!("{}: {error}", key.key_id),
            })
        })?;
        let usable = key.revoked_at.is_none()
            && key.valid_from <= now
            && key.valid_until.is_none_or(|until| now < until);
        let message = verification_key_to_proto(&public_key, key.valid_from, key.valid_until, usable)
            .map_err(|error| {
                AuthorizationError::Invalid(ApiError::internal("encoding a public key failed", &error))
            })?;
        views.push(StaffKey {
            key: Some(message),
            revoked_at: key.revoked_at.map(to_timestamp),
        });
    }
    Ok(StaffMember {
        staff_id: staff.staff_id.clone(),
        name: staff.name.clone(),
        branch_id: staff.branch_id.clone(),
        role: role_to_proto(staff.role) as i32,
        approval_limit: staff
            .approval_limit
            .as_ref()
            .map(|(limit, currency)| grpc_support::convert::money(*limit, currency)),
        active: staff.active,
        keys: views,
    })
}

async fn load_staff(connection: &mut AnyConnection, staff_id: &str) -> Result<StaffRow, AuthorizationError> {
    store::find_staff(connection, staff_id)
        .await?
        .ok_or_else(|| AuthorizationError::StaffNotEnrolled(staff_id.to_owned()))
}

async fn record_staff_change(
    connection: &mut AnyConnection,
    staff_id: &str,
    change: &str,
    details: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), AuthorizationError> {
    audit::record(
        connection,
        AuditEventType::StaffChanged,
        now,
        Event {
            actor_staff_id: staff_id,
            reason: change,
            details: Some(details),
            ..Event::default()
        },
    )
    .await?;
    Ok(())
}

impl AdminService {
    async fn enroll(&self, request: EnrollStaffRequest) -> Result<EnrollStaffResponse, AuthorizationError> {
        let now = self.state.now();
        let mut violations = Violations::new();
        violations.check(parse_request_id("request_id", &request.request_id));
        violations.check(require_identifier("staff_id", &request.staff_id));
        let name = violations
            .check(require_text("name", &request.name, MAX_NAME_CHARS))
            .map(str::to_owned);
        violations.check(require_identifier("branch_id", &request.branch_id));
        let role = role_from_proto(request.role);
        if role.is_none() {
            violations.add("role", "required: teller, supervisor, auditor or admin");
        }
        let approval_limit = match (role, request.approval_limit.as_ref()) {
            (Some(Role::Supervisor), limit) => {
                violations.check(parse_positive_money("approval_limit", limit))
            }
            (_, Some(_)) => {
                violations.add("approval_limit", "only supervisors have an approval limit");
                None
            }
            (_, None) => None,
        };
        let key = parse_key(
            &mut violations,
            &request.public_key_pem,
            request.key_valid_from.as_ref(),
            request.key_valid_until.as_ref(),
            now,
        );
        violations.finish()?;
        let (Some(role), Some(name), Some((key, valid_from, valid_until))) = (role, name, key) else {
            unreachable!("violations were checked");
        };

        let request_key = RequestKey::new("EnrollStaff", &request.request_id, &request);
        let staff = StaffRow {
            staff_id: request.staff_id.clone(),
            name,
            branch_id: request.branch_id.clone(),
            role,
            approval_limit,
            active: true,
            enrolled_at: now,
            deactivated_at: None,
        };
        let (request_key, staff_ref, key) = (&request_key, &staff, &key);
        let (response, replayed) = self
            .state
            .store
            .write(|transaction| {
                Box::pin(async move {
                    if let Some(response) = request_key.replay::<EnrollStaffResponse>(transaction).await? {
                        return Ok((response, true));
                    }
                    if store::find_staff(transaction, &staff_ref.staff_id).await?.is_some() {
                        return Err(AuthorizationError::StaffAlreadyEnrolled(
                            staff_ref.staff_id.clone(),
                        ));
                    }
                    if store::find_staff_key(transaction, &key.key_id()).await?.is_some() {
                        return Err(AuthorizationError::KeyAlreadyEnrolled(key.key_id()));
                    }
                    store::insert_staff(transaction, staff_ref).await?;
                    store::insert_staff_key(
                        transaction,
                        &StaffKeyRow {
                            key_id: key.key_id(),
                            staff_id: staff_ref.staff_id.clone(),
                            public_key: key.to_bytes().to_vec(),
                            valid_from,
                            valid_until,
                            revoked_at: None,
                        },
                    )
                    .await?;
                    record_staff_change(
                        transaction,
                        &staff_ref.staff_id,
                        "enrolled",
                        json!({ "role": role.as_str(), "branch_id": staff_ref.branch_id, "key_id": key.key_id() }),
                        now,
                    )
                    .await?;
                    let response = EnrollStaffResponse {
                        staff_member: Some(member_view(transaction, staff_ref).await?),
                    };
                    request_key.remember(transaction, &response, now).await?;
                    Ok::<_, AuthorizationError>((response, false))
                })
            })
            .await?;
        if !replayed {
            tracing::info!(staff_id = %staff.staff_id, role = role.as_str(), "staff member enrolled");
        }
        Ok(response)
    }

    async fn add_key(&self, request: AddStaffKeyRequest) -> Result<AddStaffKeyResponse, AuthorizationError> {
        let now = self.state.now();
        let mut violations = Violations::new();
        violations.check(parse_request_id("request_id", &request.request_id));
        violations.check(require_identifier("staff_id", &request.staff_id));
        let key = parse_key(
            &mut violations,
            &request.public_key_pem,
            request.key_valid_from.as_ref(),
            request.key_valid_until.as_ref(),
            now,
        );
        violations.finish()?;
        let Some((key, valid_from, valid_until)) = key else {
            unreachable!("violations were checked");
        };

        let request_key = RequestKey::new("AddStaffKey", &request.request_id, &request);
        let (request_key, request, key) = (&request_key, &request, &key);
        let response = self
            .state
            .store
            .write(|transaction| {
                Box::pin(async move {
                    if let Some(response) = request_key.replay::<AddStaffKeyResponse>(transaction).await? {
                        return Ok(response);
                    }
                    let staff = load_staff(transaction, &request.staff_id).await?;
                    if store::find_staff_key(transaction, &key.key_id()).await?.is_some() {
                        return Err(AuthorizationError::KeyAlreadyEnrolled(key.key_id()));
                    }
                    store::insert_staff_key(
                        transaction,
                        &StaffKeyRow {
                            key_id: key.key_id(),
                            staff_id: staff.staff_id.clone(),
                            public_key: key.to_bytes().to_vec(),
                            valid_from,
                            valid_until,
                            revoked_at: None,
                        },
                    )
                    .await?;
                    record_staff_change(
                        transaction,
                        &staff.staff_id,
                        "key added",
                        json!({ "key_id": key.key_id() }),
                        now,
                    )
                    .await?;
                    let response = AddStaffKeyResponse {
                        staff_member: Some(member_view(transaction, &staff).await?),
                    };
                    request_key.remember(transaction, &response, now).await?;
                    Ok(response)
                })
            })
            .await?;
        Ok(response)
    }

    async fn revoke_key(
        &self,
        request: RevokeStaffKeyRequest,
    ) -> Result<RevokeStaffKeyResponse, AuthorizationError> {
        let now = self.state.now();
        let mut violations = Violations::new();
        violations.check(parse_request_id("request_id", &request.request_id));
        violations.check(require_identifier("staff_id", &request.staff_id));
        violations.check(require_text("key_id", &request.key_id, 100));
        violations.finish()?;

        let request_key = RequestKey::new("RevokeStaffKey", &request.request_id, &request);
        let (request_key, request) = (&request_key, &request);
        let (response, replayed) = self
            .state
            .store
            .write(|transaction| {
                Box::pin(async move {
                    if let Some(response) = request_key.replay::<RevokeStaffKeyResponse>(transaction).await? {
                        return Ok((response, true));
                    }
                    let staff = load_staff(transaction, &request.staff_id).await?;
                    if !store::revoke_staff_key(transaction, &staff.staff_id, &request.key_id, now).await? {
                        return Err(AuthorizationError::KeyNotFound {
                            staff_id: staff.staff_id,
                            key_id: request.key_id.clone(),
                        });
                    }
                    record_staff_change(
                        transaction,
                        &staff.staff_id,
                        "key revoked",
                        json!({ "key_id": request.key_id }),
                        now,
                    )
                    .await?;
                    let response = RevokeStaffKeyResponse {
                        staff_member: Some(member_view(transaction, &staff).await?),
                    };
                    request_key.remember(transaction, &response, now).await?;
                    Ok::<_, AuthorizationError>((response, false))
                })
            })
            .await?;
        if !replayed {
            tracing::info!(staff_id = %request.staff_id, key_id = %request.key_id, "staff key revoked");
        }
        Ok(response)
    }

    async fn deactivate(
        &self,
        request: DeactivateStaffRequest,
    ) -> Result<DeactivateStaffResponse, AuthorizationError> {
        let now = self.state.now();
        let mut violations = Violations::new();
        violations.check(parse_request_id("request_id", &request.request_id));
        violations.check(require_identifier("staff_id", &request.staff_id));
        violations.check(require_text("reason", &request.reason, MAX_REASON_CHARS));
        violations.finish()?;

        let request_key = RequestKey::new("DeactivateStaff", &request.request_id, &request);
        let (request_key, request) = (&request_key, &request);
        let (response, replayed) = self
            .state
            .store
            .write(|transaction| {
                Box::pin(async move {
                    if let Some(response) = request_key.replay::<DeactivateStaffResponse>(transaction).await?
                    {
                        return Ok((response, true));
                    }
                    load_staff(transaction, &request.staff_id).await?;
                    store::deactivate_staff(transaction, &request.staff_id, now).await?;
                    record_staff_change(
                        transaction,
                        &request.staff_id,
                        "deactivated",
                        json!({ "reason": request.reason.trim() }),
                        now,
                    )
                    .await?;
                    let staff = load_staff(transaction, &request.staff_id).await?;
                    let response = DeactivateStaffResponse {
                        staff_member: Some(member_view(transaction, &staff).await?),
                    };
                    request_key.remember(transaction, &response, now).await?;
                    Ok::<_, AuthorizationError>((response, false))
                })
            })
            .await?;
        if !replayed {
            tracing::info!(staff_id = %request.staff_id, "staff member deactivated");
        }
        Ok(response)
    }

    async fn get(&self, request: GetStaffRequest) -> Result<GetStaffResponse, AuthorizationError> {
        let mut violations = Violations::new();
        violations.check(require_identifier("staff_id", &request.staff_id));
        violations.finish()?;
        let mut connection = self.state.store.pool().acquire().await?;
        let staff = load_staff(&mut connection, &request.staff_id).await?;
        Ok(GetStaffResponse {
            staff_member: Some(member_view(&mut connection, &staff).await?),
        })
    }

    async fn list(&self, request: ListStaffRequest) -> Result<ListStaffResponse, AuthorizationError> {
        if !request.branch_id.is_empty() {
            let mut violations = Violations::new();
            violations.check(require_identifier("branch_id", &request.branch_id));
            violations.finish()?;
        }
        let mut connection = self.state.store.pool().acquire().await?;
        let rows = store::list_staff(&mut connection, &request.branch_id).await?;
        let mut staff_members = Vec::with_capacity(rows.len());
        for row in &rows {
            staff_members.push(member_view(&mut connection, row).await?);
        }
        Ok(ListStaffResponse { staff_members })
    }

    async fn audit_records(
        &self,
        request: ListAuditRecordsRequest,
    ) -> Result<ListAuditRecordsResponse, AuthorizationError> {
        let mut violations = Violations::new();
        if request.from_sequence < 0 {
            violations.add("from_sequence", "must be 0 or more");
        }
        let page = match i64::from(request.page_size) {
            0 => MAX_AUDIT_PAGE,
            size if (1..=MAX_AUDIT_PAGE).contains(&size) => size,
            _ => {
                violations.add("page_size", format!("expected 0 to {MAX_AUDIT_PAGE}"));
                MAX_AUDIT_PAGE
            }
        };
        violations.finish()?;
        let mut connection = self.state.store.pool().acquire().await?;
        let rows = store::list_audit_range(&mut connection, request.from_sequence.max(1), page + 1).await?;
        let next_sequence = if rows.len() as i64 > page {
            rows[page as usize].sequence
        } else {
            0
        };
        Ok(ListAuditRecordsResponse {
            records: rows.iter().take(page as usize).map(record_to_proto).collect(),
            next_sequence,
        })
    }
}

#[tonic::async_trait]
impl WithdrawalAdminService for AdminService {
    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id, staff_id = %request.get_ref().staff_id))]
    async fn enroll_staff(
        &self,
        request: Request<EnrollStaffRequest>,
    ) -> Result<Response<EnrollStaffResponse>, Status> {
        Ok(Response::new(self.enroll(request.into_inner()).await?))
    }

    async fn add_staff_key(
        &self,
        request: Request<AddStaffKeyRequest>,
    ) -> Result<Response<AddStaffKeyResponse>, Status> {
        Ok(Response::new(self.add_key(request.into_inner()).await?))
    }

    async fn revoke_staff_key(
        &self,
        request: Request<RevokeStaffKeyRequest>,
    ) -> Result<Response<RevokeStaffKeyResponse>, Status> {
        Ok(Response::new(self.revoke_key(request.into_inner()).await?))
    }

    async fn deactivate_staff(
        &self,
        request: Request<DeactivateStaffRequest>,
    ) -> Result<Response<DeactivateStaffResponse>, Status> {
        Ok(Response::new(self.deactivate(request.into_inner()).await?))
    }

    async fn get_staff(
        &self,
        request: Request<GetStaffRequest>,
    ) -> Result<Response<GetStaffResponse>, Status> {
        Ok(Response::new(self.get(request.into_inner()).await?))
    }

    async fn list_staff(
        &self,
        request: Request<ListStaffRequest>,
    ) -> Result<Response<ListStaffResponse>, Status> {
        Ok(Response::new(self.list(request.into_inner()).await?))
    }

    async fn list_audit_records(
        &self,
        request: Request<ListAuditRecordsRequest>,
    ) -> Result<Response<ListAuditRecordsResponse>, Status> {
        Ok(Response::new(self.audit_records(request.into_inner()).await?))
    }
}
