//! The service's error type: every way a request can fail, each with a stable
//! `ErrorInfo` reason, an English message and a zh-CN message for tellers and
//! supervisors. `From<AuthorizationError> for tonic::Status` is the one place
//! errors become statuses.

use grpc_support::error::{ApiError, ErrorSummary, WITHDRAWAL_AUTHORIZATION_DOMAIN};
use rust_decimal::Decimal;
use storage::TransactionError;
use tonic::Code;

use crate::store::StoreError;

/// Kinds used in `google.rpc.PreconditionFailure` violations.
pub mod precondition {
    /// A requirement of the authorization that is not met yet.
    pub const REQUIREMENT: &str = "REQUIREMENT";
    /// A deposit that a passbook closure must include.
    pub const DEPOSIT: &str = "DEPOSIT";
}

/// The reason a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizationError {
    /// One or more fields are invalid; the error lists each of them.
    #[error("invalid request: {}", .0.message())]
    Invalid(ApiError),
    #[error("request_id {0} was already used for a different request")]
    RequestIdReused(String),
    #[error("staff member {0} is not enrolled")]
    StaffNotEnrolled(String),
    #[error("staff member {0} is deactivated")]
    StaffInactive(String),
    #[error("staff member {staff_id} is not a {expected}")]
    WrongRole {
        staff_id: String,
        expected: &'static str,
    },
    #[error("{what} signature is invalid: {detail}")]
    SignatureInvalid { what: &'static str, detail: String },
    #[error("key {key_id} of staff member {staff_id} is revoked")]
    KeyRevoked { staff_id: String, key_id: String },
    #[error("key {key_id} of staff member {staff_id} is not valid now")]
    KeyNotValid { staff_id: String, key_id: String },
    #[error("maturity attestation is invalid: {0}")]
    AttestationInvalid(String),
    #[error("maturity attestation {0} has expired")]
    AttestationExpired(String),
    #[error("maturity attestation does not match the request: {0}")]
    AttestationMismatch(String),
    #[error("maturity attestation {0} was already used by another withdrawal")]
    AttestationAlreadyUsed(String),
    #[error("deposit {0} already has a withdrawal on its way to release")]
    WithdrawalAlreadyPending(String),
    #[error("deposit {deposit_id} is {state} and cannot be withdrawn")]
    DepositNotActive { deposit_id: String, state: String },
    #[error("staff member {staff_id} works at branch {staff_branch}, not {branch_id}")]
    WrongBranch {
        staff_id: String,
        staff_branch: String,
        branch_id: String,
    },
    #[error("an identity check is required: {0}")]
    IdentityCheckRequired(String),
    #[error("authorization {0} not found")]
    AuthorizationNotFound(String),
    #[error("passbook closure {0} not found")]
    ClosureNotFound(String),
    #[error("authorization {authorization_id} is {state} and can no longer change")]
    AuthorizationClosed {
        authorization_id: String,
        state: &'static str,
    },
    #[error("authorization {authorization_id} is {state}, not pending")]
    AuthorizationNotPending {
        authorization_id: String,
        state: &'static str,
    },
    #[error("authorization {0} loses no interest, so it has no disclosure to acknowledge")]
    DisclosureNotRequired(String),
    #[error("the acknowledgement names a disclosure text other than the current one")]
    DisclosureMismatch,
    #[error("authorization {0} already has an acknowledgement")]
    AlreadyAcknowledged(String),
    #[error("only the teller who submitted authorization {0} may record its acknowledgement")]
    NotSubmittingTeller(String),
    #[error("staff member {0} submitted the withdrawal and cannot approve it")]
    SelfApprovalForbidden(String),
    #[error("payout {total} exceeds the approval limit {limit} of supervisor {staff_id}")]
    ApprovalLimitExceeded {
        staff_id: String,
        limit: Decimal,
        total: Decimal,
    },
    #[error("the signed digest does not match authorization {0} as it stands now")]
    DigestMismatch(String),
    #[error("authorization {0} still needs the customer's acknowledgement of the interest-loss disclosure")]
    DisclosureNotAcknowledged(String),
    #[error("authorization {0} still needs a supervisor's co-signature")]
    CoSignatureRequired(String),
    #[error(
        "authorization {0} cannot share a co-signature: one co-signature covers several authorizations \
         only within one passbook closure and only when none of them loses interest"
    )]
    BulkCoSignatureForbidden(String),
    #[error("supervisor {staff_id} has an approval limit in {limit_currency}, not in {currency}")]
    ApprovalLimitCurrency {
        staff_id: String,
        limit_currency: String,
        currency: String,
    },
    #[error("the passbook closure leaves out deposits {0:?}")]
    DepositMissingFromClosure(Vec<String>),
    #[error("the passbook closure is invalid: {0}")]
    ClosureInvalid(String),
    #[error("deposit-status is unavailable: {0}")]
    DepositStatusUnavailable(String),
    #[error("deposit-status refused the release order: {0}")]
    ReleaseFailed(Box<ErrorSummary>),
    #[error("deposit-status rejected the request: {0}")]
    DepositStatusRejected(Box<ErrorSummary>),
    #[error("staff member {0} is already enrolled")]
    StaffAlreadyEnrolled(String),
    #[error("key {0} is already enrolled")]
    KeyAlreadyEnrolled(String),
    #[error("staff member {staff_id} has no key {key_id}")]
    KeyNotFound { staff_id: String, key_id: String },
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

impl AuthorizationError {
    /// Converts to the rich error sent to callers.
    pub fn into_api_error(self) -> ApiError {
        use AuthorizationError as E;
        let message = self.to_string();
        let error =
            |code: Code, reason: &'static str, zh: String| ApiError::new(code, reason, message.clone(), zh);
        let denied = |reason: &'static str, zh: String| error(Code::PermissionDenied, reason, zh);
        let failed = |reason: &'static str, zh: String| error(Code::FailedPrecondition, reason, zh);
        match self {
            E::Invalid(error) => error,
            E::RequestIdReused(id) => error(
                Code::AlreadyExists,
                "REQUEST_ID_REUSED",
                format!("请求编号 {id} 已用于另一笔不同的请求，请使用新的请求编号。"),
            ),
            E::StaffNotEnrolled(id) => denied("STAFF_NOT_ENROLLED", format!("员工 {id} 未登记，不能签名。")),
            E::StaffInactive(id) => denied("STAFF_INACTIVE", format!("员工 {id} 已停用，签名无效。")),
            E::WrongRole { staff_id, expected } => denied(
                if expected == "supervisor" {
                    "NOT_A_SUPERVISOR"
                } else {
                    "NOT_A_TELLER"
                },
                format!(
                    "员工 {staff_id} 不是{}，无权执行此操作。",
                    if expected == "supervisor" {
                        "营运主管"
                    } else {
                        "柜员"
                    }
                ),
            ),
            E::SignatureInvalid { what, .. } => denied(
                "SIGNATURE_INVALID",
                format!("{}签名无效，请重新签名。", signature_zh(what)),
            ),
            E::KeyRevoked { key_id, .. } => denied("KEY_REVOKED", format!("签名密钥 {key_id} 已吊销。")),
            E::KeyNotValid { key_id, .. } => {
                denied("KEY_NOT_VALID", format!("签名密钥 {key_id} 不在有效期内。"))
            }
            E::AttestationInvalid(_) => denied(
                "ATTESTATION_INVALID",
                "到期状态证明无效（签名或内容不正确），请重新获取证明。".to_owned(),
            ),
            E::AttestationExpired(_) => failed(
                "ATTESTATION_EXPIRED",
                "到期状态证明已过期，请重新获取证明后重新提交。".to_owned(),
            ),
            E::AttestationMismatch(_) => error(
                Code::InvalidArgument,
                "ATTESTATION_MISMATCH",
                "到期状态证明与本次支取的存款或金额不一致。".to_owned(),
            ),
            E::AttestationAlreadyUsed(_) => failed(
                "ATTESTATION_ALREADY_USED",
                "该到期状态证明已用于另一笔支取，不能重复使用。".to_owned(),
            ),
            E::WithdrawalAlreadyPending(id) => failed(
                "WITHDRAWAL_ALREADY_PENDING",
                format!("存款 {id} 已有一笔支取正在办理中。"),
            ),
            E::DepositNotActive { deposit_id, .. } => failed(
                "DEPOSIT_NOT_ACTIVE",
                format!("存款 {deposit_id} 已支取或已销户，不能支取。"),
            ),
            E::WrongBranch {
                staff_id, branch_id, ..
            } => denied(
                "WRONG_BRANCH",
                format!("员工 {staff_id} 不属于网点 {branch_id}，不能办理或授权。"),
            ),
            E::IdentityCheckRequired(_) => failed(
                "IDENTITY_CHECK_REQUIRED",
                "提前支取和大额支取须核验存款人身份证件（代理人另须核验本人证件）。".to_owned(),
            ),
            E::AuthorizationNotFound(id) => error(
                Code::NotFound,
                "AUTHORIZATION_NOT_FOUND",
                format!("未找到授权 {id}。"),
            ),
            E::ClosureNotFound(id) => error(
                Code::NotFound,
                "CLOSURE_NOT_FOUND",
                format!("未找到销户申请 {id}。"),
            ),
            E::AuthorizationClosed {
                authorization_id,
                state,
            } => failed(
                "AUTHORIZATION_CLOSED",
                format!("授权 {authorization_id} 已{}，不能再变更。", state_zh(state)),
            ),
            E::AuthorizationNotPending {
                authorization_id,
                state,
            } => failed(
                "AUTHORIZATION_NOT_PENDING",
                format!(
                    "授权 {authorization_id} 当前状态为{}，不在待授权状态。",
                    state_zh(state)
                ),
            ),
            E::DisclosureNotRequired(_) => failed(
                "DISCLOSURE_NOT_REQUIRED",
                "本笔支取没有利息损失，无需客户确认利息损失告知。".to_owned(),
            ),
            E::DisclosureMismatch => failed(
                "DISCLOSURE_DIGEST_MISMATCH",
                "客户确认的告知内容与当前利息损失告知不一致，请重新展示告知并确认。".to_owned(),
            ),
            E::AlreadyAcknowledged(_) => {
                failed("ALREADY_ACKNOWLEDGED", "客户已确认过利息损失告知。".to_owned())
            }
            E::NotSubmittingTeller(_) => denied(
                "NOT_SUBMITTING_TELLER",
                "只有提交本笔支取的柜员可以登记客户确认。".to_owned(),
            ),
            E::SelfApprovalForbidden(id) => denied(
                "SELF_APPROVAL_FORBIDDEN",
                format!("员工 {id} 是本笔支取的经办柜员，不能自己授权（双人四眼）。"),
            ),
            E::ApprovalLimitExceeded { limit, total, .. } => denied(
                "APPROVAL_LIMIT_EXCEEDED",
                format!("支付金额 {total} 超过授权人的授权额度 {limit}，请由更高权限主管授权。"),
            ),
            E::ApprovalLimitCurrency {
                limit_currency,
                currency,
                ..
            } => denied(
                "APPROVAL_LIMIT_EXCEEDED",
                format!(
                    "授权人的授权额度以 {limit_currency} 计，不能授权 {currency} 支付，请由相应币种额度的主管授权。"
                ),
            ),
            E::DigestMismatch(_) => failed(
                "AUTHORIZATION_DIGEST_MISMATCH",
                "授权签名对应的内容不是当前待授权内容，请刷新后重新核对并签名。".to_owned(),
            ),
            E::DisclosureNotAcknowledged(id) => failed(
                "DISCLOSURE_NOT_ACKNOWLEDGED",
                "客户尚未确认利息损失告知，不能授权或放款。".to_owned(),
            )
            .with_precondition_violation(
                precondition::REQUIREMENT,
                format!("authorizations/{id}/disclosure_acknowledgement"),
                "the customer must acknowledge the interest-loss disclosure",
            ),
            E::CoSignatureRequired(id) => failed(
                "COSIGNATURE_REQUIRED",
                "每笔定期支取都须营运主管授权后才能放款。".to_owned(),
            )
            .with_precondition_violation(
                precondition::REQUIREMENT,
                format!("authorizations/{id}/cosignature"),
                "a supervisor of the branch must co-sign",
            ),
            E::BulkCoSignatureForbidden(_) => failed(
                "BULK_COSIGNATURE_FORBIDDEN",
                "只有同一销户申请中没有利息损失的存款可以合并授权；有利息损失的未到期存款必须逐笔单独授权。"
                    .to_owned(),
            ),
            E::DepositMissingFromClosure(missing) => {
                let mut error = failed(
                    "DEPOSIT_MISSING_FROM_CLOSURE",
                    format!(
                        "销户申请遗漏了存款：{}。销户必须列明存折中的每一笔存款。",
                        missing.join("、")
                    ),
                );
                for deposit_id in &missing {
                    error = error.with_precondition_violation(
                        precondition::DEPOSIT,
                        format!("deposits/{deposit_id}"),
                        "every open deposit of the passbook needs its own attestation in the closure",
                    );
                }
                error
            }
            E::ClosureInvalid(_) => error(
                Code::InvalidArgument,
                "CLOSURE_INVALID",
                "销户申请内容无效，请核对存折中的存款和到期状态证明。".to_owned(),
            ),
            E::DepositStatusUnavailable(_) => ApiError::unavailable(
                "DEPOSIT_STATUS_UNAVAILABLE",
                message.clone(),
                "存款系统暂时无法连接，授权状态已保留，请稍后重试。",
            ),
            E::ReleaseFailed(summary) => {
                let upstream = summary.reason.clone().unwrap_or_default();
                let zh = summary.localized_zh_cn.clone().unwrap_or_default();
                failed("RELEASE_FAILED", format!("存款系统拒绝执行放款：{zh}"))
                    .with_metadata("deposit_status_reason", upstream)
            }
            E::DepositStatusRejected(summary) => {
                let upstream = summary.reason.clone().unwrap_or_default();
                let zh = summary.localized_zh_cn.clone().unwrap_or_default();
                failed("DEPOSIT_STATUS_REJECTED", format!("存款系统拒绝了请求：{zh}"))
                    .with_metadata("deposit_status_reason", upstream)
            }
            E::StaffAlreadyEnrolled(id) => error(
                Code::AlreadyExists,
                "STAFF_ALREADY_ENROLLED",
                format!("员工 {id} 已登记。"),
            ),
            E::KeyAlreadyEnrolled(id) => error(
                Code::AlreadyExists,
                "KEY_ALREADY_ENROLLED",
                format!("密钥 {id} 已登记。"),
            ),
            E::KeyNotFound { staff_id, key_id } => error(
                Code::NotFound,
                "KEY_NOT_FOUND",
                format!("员工 {staff_id} 没有密钥 {key_id}。"),
            ),
            E::Store(error) if error.is_transient() => ApiError::unavailable(
                "STORAGE_UNAVAILABLE",
                "storage is temporarily unavailable; retry the request",
                "系统存储暂时不可用，请稍后重试。",
            ),
            E::Store(error) => ApiError::internal("storage failed", &error),
        }
    }
}

fn signature_zh(what: &str) -> &'static str {
    match what {
        "teller" => "柜员",
        "supervisor" => "主管",
        "acknowledgement" => "客户确认登记",
        _ => "",
    }
}

fn state_zh(state: &str) -> &'static str {
    match state {
        "pending" => "待授权",
        "ready" => "已授权待放款",
        "releasing" => "放款中",
        "released" => "已放款",
        "rejected" => "已拒绝",
        "failed" => "放款失败",
        "expired" => "已过期",
        _ => "未知",
    }
}

impl From<AuthorizationError> for tonic::Status {
    fn from(error: AuthorizationError) -> Self {
        error
            .into_api_error()
            .into_status(WITHDRAWAL_AUTHORIZATION_DOMAIN)
    }
}

impl TransactionError for AuthorizationError {
    fn database_error(&self) -> Option<&sqlx::Error> {
        match self {
            AuthorizationError::Store(error) => error.database_error(),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for AuthorizationError {
    fn from(error: sqlx::Error) -> Self {
        AuthorizationError::Store(StoreError::Database(error))
    }
}

impl From<storage::IdempotencyError> for AuthorizationError {
    fn from(error: storage::IdempotencyError) -> Self {
        match error {
            storage::IdempotencyError::Reused { request_id } => {
                AuthorizationError::RequestIdReused(request_id)
            }
            storage::IdempotencyError::Corrupt { request_id } => {
                AuthorizationError::Store(StoreError::Corrupt {
                    table: "idempotency_keys",
                    column: "response",
                    value: request_id,
                })
            }
            storage::IdempotencyError::Database(error) => AuthorizationError::from(error),
        }
    }
}

impl From<ApiError> for AuthorizationError {
    fn from(error: ApiError) -> Self {
        AuthorizationError::Invalid(error)
    }
}
