//! The service's error type: every way a request can fail, each with a stable
//! `ErrorInfo` reason, an English message and a zh-CN message for tellers.
//! `From<DepositError> for tonic::Status` is the one place errors become
//! statuses.

use attestation::VerifyError;
use chrono::NaiveDate;
use grpc_support::error::{ApiError, DEPOSIT_STATUS_DOMAIN, FieldViolation};
use interest::QuoteError;
use storage::TransactionError;
use tonic::Code;

use crate::store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum DepositError {
    /// One or more fields are invalid; the error lists each of them.
    #[error("invalid request: {}", .0.message())]
    Invalid(ApiError),
    #[error("passbook {0} not found")]
    PassbookNotFound(String),
    #[error("deposit {0} not found")]
    DepositNotFound(String),
    #[error("deposit {deposit_id} is not in passbook {passbook_number}")]
    DepositNotInPassbook {
        deposit_id: String,
        passbook_number: String,
    },
    #[error("passbook {0} is reported lost")]
    PassbookReportedLost(String),
    #[error("passbook {passbook_number} was replaced by {replaced_by}")]
    PassbookReplaced {
        passbook_number: String,
        replaced_by: String,
    },
    #[error("passbook {0} is not reported lost")]
    PassbookNotReportedLost(String),
    #[error("deposit {deposit_id} is {state} and cannot be withdrawn")]
    DepositNotActive { deposit_id: String, state: &'static str },
    #[error("passbook {0} already exists")]
    PassbookAlreadyExists(String),
    #[error("deposit {0} already exists")]
    DepositAlreadyExists(String),
    #[error("no demand rate for {currency_code} is posted on or before {on}")]
    DemandRateNotPosted { currency_code: String, on: NaiveDate },
    #[error("a demand rate for {currency_code} from {effective_from} is already posted")]
    DemandRateAlreadyPosted {
        currency_code: String,
        effective_from: NaiveDate,
    },
    #[error("amount currency {given} does not match the deposit's currency {expected}")]
    CurrencyMismatch { given: String, expected: String },
    /// The interest rules do not allow the withdrawal.
    #[error("{0}")]
    Rule(QuoteError),
    #[error("request_id {0} was already used for a different request")]
    RequestIdReused(String),
    #[error("release order signature is invalid: {0}")]
    ReleaseOrderSignatureInvalid(VerifyError),
    #[error("release order is malformed: {0}")]
    ReleaseOrderInvalid(String),
    #[error("attestation signature is invalid: {0}")]
    AttestationSignatureInvalid(VerifyError),
    #[error("attestation {0} was not issued by this service")]
    AttestationNotFound(String),
    #[error("attestation {0} expired before the release order was authorized")]
    AttestationExpired(String),
    #[error("attestation {attestation_id} is for business date {attested}, but today is {today}")]
    AttestationStale {
        attestation_id: String,
        attested: NaiveDate,
        today: NaiveDate,
    },
    #[error("attestation {attestation_id} was already used by release order {order_id}")]
    AttestationAlreadyUsed {
        attestation_id: String,
        order_id: String,
    },
    #[error("deposit {deposit_id} changed since the attestation (version {attested}, now {current})")]
    DepositVersionChanged {
        deposit_id: String,
        attested: i64,
        current: i64,
    },
    #[error("the interest for attestation {0} changed since it was issued")]
    QuoteChanged(String),
    #[error("release order {0} was already executed with different content")]
    OrderIdReused(String),
    #[error("the business date cannot be set: DEPOSIT_STATUS_ALLOW_BUSINESS_DATE_OVERRIDE is off")]
    BusinessDateOverrideDisabled,
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

impl DepositError {
    /// Converts to the rich error sent to callers.
    pub fn into_api_error(self) -> ApiError {
        use DepositError as E;
        let message = self.to_string();
        let failed = |reason: &'static str, zh: String| {
            ApiError::new(Code::FailedPrecondition, reason, message.clone(), zh)
        };
        match self {
            E::Invalid(error) => error,
            E::PassbookNotFound(number) => ApiError::new(
                Code::NotFound,
                "PASSBOOK_NOT_FOUND",
                message.clone(),
                format!("未找到存折 {number}，请核对存折号。"),
            ),
            E::DepositNotFound(id) => ApiError::new(
                Code::NotFound,
                "DEPOSIT_NOT_FOUND",
                message.clone(),
                format!("未找到存款 {id}，请核对存款编号。"),
            ),
            E::DepositNotInPassbook {
                deposit_id,
                passbook_number,
            } => failed(
                "DEPOSIT_NOT_IN_PASSBOOK",
                format!("存款 {deposit_id} 不在存折 {passbook_number} 中。"),
            ),
            E::PassbookReportedLost(number) => failed(
                "PASSBOOK_REPORTED_LOST",
                format!("存折 {number} 已挂失，不能支取；请先办理补发。"),
            ),
            E::PassbookReplaced {
                passbook_number,
                replaced_by,
            } => failed(
                "PASSBOOK_REPLACED",
                format!("存折 {passbook_number} 已补发为新存折 {replaced_by}，原存折号作废。"),
            ),
            E::PassbookNotReportedLost(number) => failed(
                "PASSBOOK_NOT_REPORTED_LOST",
                format!("存折 {number} 未挂失，不能补发。"),
            ),
            E::DepositNotActive { deposit_id, state } => failed(
                "DEPOSIT_NOT_ACTIVE",
                format!("存款 {deposit_id} 状态为{}，不能支取。", state_zh(state)),
            ),
            E::PassbookAlreadyExists(number) => ApiError::new(
                Code::AlreadyExists,
                "PASSBOOK_ALREADY_EXISTS",
                message.clone(),
                format!("存折号 {number} 已存在。"),
            ),
            E::DepositAlreadyExists(id) => ApiError::new(
                Code::AlreadyExists,
                "DEPOSIT_ALREADY_EXISTS",
                message.clone(),
                format!("存款编号 {id} 已存在。"),
            ),
            E::DemandRateNotPosted { currency_code, on } => failed(
                "DEMAND_RATE_NOT_POSTED",
                format!("{on} 没有生效的 {currency_code} 活期利率，请先挂牌活期利率。"),
            ),
            E::DemandRateAlreadyPosted {
                currency_code,
                effective_from,
            } => ApiError::new(
                Code::AlreadyExists,
                "DEMAND_RATE_ALREADY_POSTED",
                message.clone(),
                format!("{effective_from} 起的 {currency_code} 活期利率已挂牌，历史利率不能修改。"),
            ),
            E::CurrencyMismatch { given, expected } => ApiError::invalid_argument(vec![FieldViolation::new(
                "amount.currency_code",
                format!("expected {expected}, got {given}"),
            )]),
            E::Rule(error) => rule_error(&error, message.clone()),
            E::RequestIdReused(request_id) => ApiError::new(
                Code::AlreadyExists,
                "REQUEST_ID_REUSED",
                message.clone(),
                format!("请求编号 {request_id} 已用于另一笔不同的请求，请使用新的请求编号。"),
            ),
            E::ReleaseOrderSignatureInvalid(error) => ApiError::new(
                Code::PermissionDenied,
                if matches!(error, VerifyError::UnknownKeyId { .. }) {
                    "RELEASE_ORDER_KEY_UNTRUSTED"
                } else {
                    "RELEASE_ORDER_SIGNATURE_INVALID"
                },
                message.clone(),
                "放款指令签名无效或签名密钥不受信任，拒绝执行。".to_owned(),
            ),
            E::ReleaseOrderInvalid(_) => ApiError::new(
                Code::InvalidArgument,
                "RELEASE_ORDER_INVALID",
                message.clone(),
                "放款指令内容无效，拒绝执行。".to_owned(),
            ),
            E::AttestationSignatureInvalid(_) => ApiError::new(
                Code::PermissionDenied,
                "ATTESTATION_SIGNATURE_INVALID",
                message.clone(),
                "到期状态证明签名无效，拒绝执行。".to_owned(),
            ),
            E::AttestationNotFound(_) => ApiError::new(
                Code::PermissionDenied,
                "ATTESTATION_NOT_FOUND",
                message.clone(),
                "到期状态证明不是本系统签发的，拒绝执行。".to_owned(),
            ),
            E::AttestationExpired(_) => failed(
                "ATTESTATION_EXPIRED",
                "到期状态证明已过期，请重新获取证明并重新授权。".to_owned(),
            ),
            E::AttestationStale { attested, today, .. } => failed(
                "ATTESTATION_STALE",
                format!("到期状态证明的营业日为 {attested}，今天是 {today}，利息已变化，请重新获取证明。"),
            ),
            E::AttestationAlreadyUsed { .. } => failed(
                "ATTESTATION_ALREADY_USED",
                "该到期状态证明已被另一笔放款指令使用，不能重复支取。".to_owned(),
            ),
            E::DepositVersionChanged { deposit_id, .. } => failed(
                "DEPOSIT_VERSION_CHANGED",
                format!("存款 {deposit_id} 在出具证明后已发生变动，请重新获取证明。"),
            ),
            E::QuoteChanged(_) => failed(
                "QUOTE_CHANGED",
                "出具证明后利息已发生变化（活期利率调整），请重新获取证明。".to_owned(),
            ),
            E::OrderIdReused(_) => ApiError::new(
                Code::AlreadyExists,
                "ORDER_ID_REUSED",
                message.clone(),
                "放款指令编号已用于另一笔内容不同的指令。".to_owned(),
            ),
            E::BusinessDateOverrideDisabled => failed(
                "BUSINESS_DATE_OVERRIDE_DISABLED",
                "本环境不允许设置营业日。".to_owned(),
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

fn state_zh(state: &str) -> &'static str {
    match state {
        "withdrawn" => "已支取",
        "closed" => "已销户",
        _ => "不可用",
    }
}

/// Maps an interest-rule violation to a reason of its own, so a client can
/// tell "amount too large" from "second partial withdrawal" without parsing
/// text.
fn rule_error(error: &QuoteError, message: String) -> ApiError {
    use QuoteError as Q;
    let (code, reason, zh) = match error {
        Q::AmountAboveBalance { amount, balance } => (
            Code::FailedPrecondition,
            "AMOUNT_EXCEEDS_BALANCE",
            format!("支取金额 {amount} 超过存款余额 {balance}。"),
        ),
        Q::RemainderBelowMinimum {
            remaining, minimum, ..
        } => (
            Code::FailedPrecondition,
            "REMAINDER_BELOW_MINIMUM",
            format!("部分支取后剩余本金 {remaining} 低于最低留存 {minimum}，只能全额支取或减少支取金额。"),
        ),
        Q::SecondPartialWithdrawal => (
            Code::FailedPrecondition,
            "PARTIAL_WITHDRAWAL_ALREADY_USED",
            "该笔存款已办理过一次部分提前支取，不能再次部分支取，只能全额支取。".to_owned(),
        ),
        Q::PartialWithdrawalAtOrAfterMaturity { maturity_date, .. } => (
            Code::FailedPrecondition,
            "PARTIAL_WITHDRAWAL_AFTER_MATURITY",
            format!("该笔存款到期日为 {maturity_date}，到期及逾期后只能全额支取。"),
        ),
        Q::DateBeforeOpening { on, opened_on } => (
            Code::FailedPrecondition,
            "DATE_BEFORE_OPENING",
            format!("营业日 {on} 早于开户日 {opened_on}。"),
        ),
        Q::AmountNotPositive { .. } | Q::AmountTooManyDecimalPlaces { .. } => (
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            "支取金额无效：应为正数，且小数位不超过币种的最小单位。".to_owned(),
        ),
        _ => (
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            format!("存款参数无效：{error}"),
        ),
    };
    ApiError::new(code, reason, message, zh)
}

impl From<DepositError> for tonic::Status {
    fn from(error: DepositError) -> Self {
        error.into_api_error().into_status(DEPOSIT_STATUS_DOMAIN)
    }
}

impl From<storage::IdempotencyError> for DepositError {
    fn from(error: storage::IdempotencyError) -> Self {
        match error {
            storage::IdempotencyError::Reused { request_id } => DepositError::RequestIdReused(request_id),
            storage::IdempotencyError::Corrupt { request_id } => DepositError::Store(StoreError::Corrupt {
                table: "idempotency_keys",
                column: "response",
                value: request_id,
            }),
            storage::IdempotencyError::Database(error) => DepositError::from(error),
        }
    }
}

impl TransactionError for DepositError {
    fn database_error(&self) -> Option<&sqlx::Error> {
        match self {
            DepositError::Store(error) => error.database_error(),
            _ => None,
        }
    }
}

impl From<QuoteError> for DepositError {
    fn from(error: QuoteError) -> Self {
        DepositError::Rule(error)
    }
}

impl From<sqlx::Error> for DepositError {
    fn from(error: sqlx::Error) -> Self {
        DepositError::Store(StoreError::Database(error))
    }
}
