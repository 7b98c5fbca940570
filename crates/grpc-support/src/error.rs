//! One rich error type for both services, converted to a [`tonic::Status`]
//! in one place, and [`ErrorSummary`], which reads such a status on the
//! client side.
//!
//! Every error status carries a `google.rpc.ErrorInfo` with a stable reason
//! and the service's domain, a `google.rpc.LocalizedMessage` in zh-CN for the
//! teller's screen, and where they apply a `google.rpc.BadRequest`, a
//! `google.rpc.PreconditionFailure` and a `google.rpc.RetryInfo`. The status
//! message itself is English.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

/// ErrorInfo domain of the deposit-status service.
pub const DEPOSIT_STATUS_DOMAIN: &str = "deposit-status.bank";

/// ErrorInfo domain of the withdrawal-authorization service.
pub const WITHDRAWAL_AUTHORIZATION_DOMAIN: &str = "withdrawal-authorization.bank";

/// Locale of the `google.rpc.LocalizedMessage` that every error carries.
pub const LOCALE_ZH_CN: &str = "zh-CN";

/// Retry delay that [`ApiError::unavailable`] suggests until the caller sets
/// another with [`ApiError::with_retry_delay`].
///
/// NOTE: an estimate of how long a transient outage (a restart, a dropped
/// database connection) lasts, not a measured value.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Maximum number of field violations in the BadRequest detail of one
/// status. Further violations are counted in one last violation, with an
/// empty field name, so that a request with thousands of invalid fields
/// still gets a small status.
pub const MAX_FIELD_VIOLATIONS: usize = 20;

/// Maximum total bytes of the field names and descriptions in one
/// BadRequest detail. Violations past it are counted like those past
/// [`MAX_FIELD_VIOLATIONS`].
///
/// NOTE: sized so that a status stays inside 8 KiB of response metadata, a
/// common default limit of gRPC clients. The details travel in base64 in
/// grpc-status-details-bin, with the message in them and again in
/// grpc-message (a unit test checks the total).
pub const MAX_FIELD_VIOLATION_BYTES: usize = 2 * 1024;

/// Maximum number of violations that the English message lists and whose
/// fields the Chinese message names. The BadRequest detail has the rest.
const MAX_VIOLATIONS_IN_MESSAGE: usize = 3;

/// Maximum bytes of the English message of [`ApiError::invalid_argument`].
/// Longer messages are cut.
const MAX_INVALID_ARGUMENT_MESSAGE_BYTES: usize = 512;

/// Maximum bytes of a violation's field name. Longer names are cut.
const MAX_FIELD_NAME_BYTES: usize = 128;

/// Maximum bytes of a violation's description. Longer descriptions are cut.
const MAX_DESCRIPTION_BYTES: usize = 256;

/// ErrorInfo reasons set by this crate. Services define their own reasons
/// next to these.
pub mod reason {
    /// One or more request fields are invalid. The BadRequest detail lists them.
    pub const INVALID_ARGUMENT: &str = "INVALID_ARGUMENT";
    /// An unexpected server-side failure. The details are only in the server log.
    pub const INTERNAL: &str = "INTERNAL";
    /// The server already handles its maximum number of requests, so it
    /// rejected this one without processing it.
    pub const SERVER_OVERLOADED: &str = "SERVER_OVERLOADED";
    /// The request did not finish within the server's request timeout.
    pub const REQUEST_TIMEOUT: &str = "REQUEST_TIMEOUT";
    /// The request message is larger than the server's maximum message size.
    pub const MESSAGE_TOO_LARGE: &str = "MESSAGE_TOO_LARGE";
    /// The listener serves no such method, for example an admin method
    /// called on a teller-facing listener.
    pub const METHOD_NOT_FOUND: &str = "METHOD_NOT_FOUND";
    /// The request message is not a valid protobuf encoding of the
    /// method's request type.
    pub const MALFORMED_REQUEST: &str = "MALFORMED_REQUEST";
}

/// A problem with one request field, sent as a `google.rpc.BadRequest`
/// field violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request, with dots between names, for
    /// example `principal.amount`.
    pub field: String,
    /// Description of the problem with the value, in English.
    pub description: String,
}

impl FieldViolation {
    /// Creates a violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.field, self.description)
    }
}

/// A precondition that the request does not meet, sent as a
/// `google.rpc.PreconditionFailure` violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreconditionViolation {
    /// Service-specific type of the precondition, for example
    /// `COSIGNATURE`. Sent as the violation's `type` field.
    pub kind: String,
    /// Subject of the precondition, relative to `kind`, for example an
    /// authorization id.
    pub subject: String,
    /// Description of the failure, in English.
    pub description: String,
}

impl PreconditionViolation {
    /// Creates a precondition violation.
    pub fn new(kind: impl Into<String>, subject: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            subject: subject.into(),
            description: description.into(),
        }
    }
}

/// An error that a handler returns, with everything its status carries.
///
/// Build it with [`ApiError::new`] or one of the shorthands, add details with
/// the `with_` methods, and convert it with [`ApiError::into_status`].
///
/// The contents are boxed, so `Result<T, ApiError>` stays as small as `T`
/// plus a pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    details: Box<ApiErrorDetails>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ApiErrorDetails {
    code: Code,
    reason: &'static str,
    message: String,
    localized_zh_cn: String,
    field_violations: Vec<FieldViolation>,
    precondition_violations: Vec<PreconditionViolation>,
    metadata: BTreeMap<String, String>,
    retry_delay: Option<Duration>,
}

impl ApiError {
    /// Creates an error with a gRPC code, a stable SCREAMING_SNAKE_CASE
    /// reason, an English message and the same message in Chinese.
    ///
    /// `code` should not be [`Code::Ok`], because clients treat an OK status
    /// as success whatever its details contain.
    pub fn new(
        code: Code,
        reason: &'static str,
        message: impl Into<String>,
        localized_zh_cn: impl Into<String>,
    ) -> Self {
        Self {
            details: Box::new(ApiErrorDetails {
                code,
                reason,
                message: message.into(),
                localized_zh_cn: localized_zh_cn.into(),
                field_violations: Vec::new(),
                precondition_violations: Vec::new(),
                metadata: BTreeMap::new(),
                retry_delay: None,
            }),
        }
    }

    /// Creates an `INVALID_ARGUMENT` error that sends the violations as a
    /// BadRequest detail. The English message lists the first
    /// [`MAX_VIOLATIONS_IN_MESSAGE`] violations and the Chinese message
    /// names their fields, and both count the rest.
    ///
    /// The status carries at most [`MAX_FIELD_VIOLATIONS`] of them (see
    /// [`ApiError::into_status`]), but [`ApiError::field_violations`]
    /// returns all.
    pub fn invalid_argument(violations: Vec<FieldViolation>) -> Self {
        let listed = &violations[..violations.len().min(MAX_VIOLATIONS_IN_MESSAGE)];
        let unlisted = violations.len() - listed.len();

        let message = if violations.is_empty() {
            "invalid request".to_string()
        } else {
            let problems: Vec<String> = listed
                .iter()
                .map(|violation| cut_violation(violation).to_string())
                .collect();
            let more = if unlisted > 0 {
                format!("; and {unlisted} more, see the BadRequest details")
            } else {
                String::new()
            };
            let prefix = "invalid request: ";
            let listed_text = cut_text(
                &problems.join("; "),
                MAX_INVALID_ARGUMENT_MESSAGE_BYTES - prefix.len() - more.len(),
            );
            format!("{prefix}{listed_text}{more}")
        };

        let fields: Vec<String> = listed
            .iter()
            .map(|violation| cut_violation(violation).field)
            .collect();
        let localized = if fields.is_empty() {
            "请求参数无效".to_string()
        } else if unlisted > 0 {
            format!(
                "请求参数无效：{} 等，共 {} 处问题",
                fields.join("、"),
                violations.len()
            )
        } else {
            format!("请求参数无效：{}", fields.join("、"))
        };

        let mut error = Self::new(
            Code::InvalidArgument,
            reason::INVALID_ARGUMENT,
            message,
            localized,
        );
        error.details.field_violations = violations;
        error
    }

    /// Logs `error` with its source chain once, at error level, and returns
    /// a generic `INTERNAL` error whose messages contain nothing of it.
    ///
    /// `context` names the failed operation for the log, for example
    /// "loading deposit".
    pub fn internal(context: &str, error: &dyn std::error::Error) -> Self {
        tracing::error!(context, error = %ErrorChain(error), "internal error");
        Self::new(
            Code::Internal,
            reason::INTERNAL,
            "internal server error. Retry later, and report the x-request-id response header if it persists",
            "系统内部错误，请稍后重试。如果问题持续出现，请提供响应中的请求编号（x-request-id）联系技术支持。",
        )
    }

    /// Creates an `UNAVAILABLE` error, the code that marks a failure as
    /// transient and safe to retry. It suggests [`DEFAULT_RETRY_DELAY`] until
    /// [`ApiError::with_retry_delay`] sets another delay.
    pub fn unavailable(
        reason: &'static str,
        message: impl Into<String>,
        localized_zh_cn: impl Into<String>,
    ) -> Self {
        Self::new(Code::Unavailable, reason, message, localized_zh_cn).with_retry_delay(DEFAULT_RETRY_DELAY)
    }

    /// Adds a BadRequest field violation.
    pub fn with_field_violation(mut self, field: impl Into<String>, description: impl Into<String>) -> Self {
        self.details
            .field_violations
            .push(FieldViolation::new(field, description));
        self
    }

    /// Adds a PreconditionFailure violation.
    pub fn with_precondition_violation(
        mut self,
        kind: impl Into<String>,
        subject: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.details
            .precondition_violations
            .push(PreconditionViolation::new(kind, subject, description));
        self
    }

    /// Adds an ErrorInfo metadata entry, replacing an earlier value of `key`.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.details.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the delay that the RetryInfo detail suggests before a retry.
    pub fn with_retry_delay(mut self, delay: Duration) -> Self {
        self.details.retry_delay = Some(delay);
        self
    }

    /// Returns the gRPC status code.
    pub fn code(&self) -> Code {
        self.details.code
    }

    /// Returns the ErrorInfo reason.
    pub fn reason(&self) -> &'static str {
        self.details.reason
    }

    /// Returns the English message.
    pub fn message(&self) -> &str {
        &self.details.message
    }

    /// Returns the Chinese (zh-CN) message.
    pub fn localized_zh_cn(&self) -> &str {
        &self.details.localized_zh_cn
    }

    /// Returns the BadRequest field violations.
    pub fn field_violations(&self) -> &[FieldViolation] {
        &self.details.field_violations
    }

    /// Returns the PreconditionFailure violations.
    pub fn precondition_violations(&self) -> &[PreconditionViolation] {
        &self.details.precondition_violations
    }

    /// Returns the ErrorInfo metadata.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.details.metadata
    }

    /// Returns the suggested retry delay, if any.
    pub fn retry_delay(&self) -> Option<Duration> {
        self.details.retry_delay
    }

    /// Converts the error to a status with the English message and the
    /// details ErrorInfo (with `domain`), BadRequest and PreconditionFailure
    /// when they have violations, LocalizedMessage (zh-CN) and RetryInfo
    /// when a delay is set.
    ///
    /// The BadRequest detail keeps the first violations within
    /// [`MAX_FIELD_VIOLATIONS`] and [`MAX_FIELD_VIOLATION_BYTES`], and one
    /// more violation counts those left out.
    pub fn into_status(self, domain: &str) -> tonic::Status {
        let ApiErrorDetails {
            code,
            reason,
            message,
            localized_zh_cn,
            field_violations,
            precondition_violations,
            metadata,
            retry_delay,
        } = *self.details;
        let mut details = ErrorDetails::new();

        let metadata: HashMap<String, String> = metadata.into_iter().collect();
        details.set_error_info(reason, domain, metadata);

        if !field_violations.is_empty() {
            let violations: Vec<tonic_types::FieldViolation> = limit_field_violations(field_violations)
                .into_iter()
                .map(|violation| tonic_types::FieldViolation::new(violation.field, violation.description))
                .collect();
            details.set_bad_request(violations);
        }

        if !precondition_violations.is_empty() {
            let violations: Vec<tonic_types::PreconditionViolation> = precondition_violations
                .into_iter()
                .map(|violation| {
                    tonic_types::PreconditionViolation::new(
                        violation.kind,
                        violation.subject,
                        violation.description,
                    )
                })
                .collect();
            details.set_precondition_failure(violations);
        }

        details.set_localized_message(LOCALE_ZH_CN, localized_zh_cn);

        if let Some(delay) = retry_delay {
            details.set_retry_info(Some(delay));
        }

        tonic::Status::with_error_details(code, message, details)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} (code {:?}, reason {})",
            self.details.message, self.details.code, self.details.reason
        )
    }
}

impl std::error::Error for ApiError {}

/// Returns the first violations within [`MAX_FIELD_VIOLATIONS`] and
/// [`MAX_FIELD_VIOLATION_BYTES`], each cut by [`cut_violation`], followed by
/// one violation that counts the rest, if any.
fn limit_field_violations(violations: Vec<FieldViolation>) -> Vec<FieldViolation> {
    let total = violations.len();
    let mut included = Vec::new();
    let mut included_bytes = 0;
    for violation in &violations {
        let violation = cut_violation(violation);
        let bytes = violation.field.len() + violation.description.len();
        if included.len() == MAX_FIELD_VIOLATIONS || included_bytes + bytes > MAX_FIELD_VIOLATION_BYTES {
            break;
        }
        included_bytes += bytes;
        included.push(violation);
    }

    let omitted = total - included.len();
    if omitted > 0 {
        included.push(FieldViolation::new(
            "",
            format!(
                "{omitted} more violations left out of this list. Fix the ones listed and send the request again to see the rest"
            ),
        ));
    }
    included
}

/// Returns a copy of `violation` with the field name cut to
/// [`MAX_FIELD_NAME_BYTES`] and the description to [`MAX_DESCRIPTION_BYTES`].
fn cut_violation(violation: &FieldViolation) -> FieldViolation {
    FieldViolation::new(
        cut_text(&violation.field, MAX_FIELD_NAME_BYTES),
        cut_text(&violation.description, MAX_DESCRIPTION_BYTES),
    )
}

/// Returns `text` cut to at most `max_bytes` bytes at a character boundary,
/// with "..." in place of the end when it was cut.
fn cut_text(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let end = text.floor_char_boundary(max_bytes.saturating_sub(3));
    format!("{}...", &text[..end])
}

/// Collects field violations so that a handler reports every invalid field
/// of a request at once.
///
/// ```
/// use grpc_support::convert::{parse_request_id, require_identifier};
/// use grpc_support::{ApiError, Violations};
///
/// fn check(request_id: &str, deposit_id: &str) -> Result<(), ApiError> {
///     let mut violations = Violations::new();
///     let request_id = violations.check(parse_request_id("request_id", request_id));
///     let deposit_id = violations.check(require_identifier("deposit_id", deposit_id));
///     violations.finish()?;
///     // Each value is Some here, because finish returned Ok.
///     let (_request_id, _deposit_id) = (request_id.unwrap(), deposit_id.unwrap());
///     Ok(())
/// }
///
/// let error = check("not-a-uuid", "bad id!").unwrap_err();
/// assert_eq!(error.field_violations().len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Violations {
    violations: Vec<FieldViolation>,
}

impl Violations {
    /// Creates an empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the value of `result`, or records its violation and returns `None`.
    pub fn check<T>(&mut self, result: Result<T, FieldViolation>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(violation) => {
                self.violations.push(violation);
                None
            }
        }
    }

    /// Records a violation found by the handler itself.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.violations.push(FieldViolation::new(field, description));
    }

    /// Returns whether no violation was recorded.
    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    /// Returns the violations recorded so far.
    pub fn as_slice(&self) -> &[FieldViolation] {
        &self.violations
    }

    /// Returns `Ok` if no violation was recorded, otherwise one
    /// [`ApiError::invalid_argument`] with all of them.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid_argument(self.violations))
        }
    }
}

/// The parts of an error status that a client acts on, read from the
/// status details.
///
/// Details that are missing or fail to decode are left empty, so a status
/// from another server or a proxy still yields its code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorSummary {
    /// gRPC status code.
    pub code: Code,
    /// Status message, in English for statuses built by [`ApiError`].
    pub message: String,
    /// ErrorInfo reason.
    pub reason: Option<String>,
    /// ErrorInfo domain.
    pub domain: Option<String>,
    /// ErrorInfo metadata.
    pub metadata: BTreeMap<String, String>,
    /// The LocalizedMessage text when its locale is zh-CN.
    pub localized_zh_cn: Option<String>,
    /// BadRequest field violations.
    pub field_violations: Vec<FieldViolation>,
    /// PreconditionFailure violations.
    pub precondition_violations: Vec<PreconditionViolation>,
    /// RetryInfo delay.
    pub retry_delay: Option<Duration>,
}

impl ErrorSummary {
    /// Reads the code, message and standard error details of `status`.
    pub fn from_status(status: &tonic::Status) -> Self {
        let details = status.get_error_details();

        let (reason, domain, metadata) = match details.error_info() {
            Some(info) => (
                Some(info.reason.clone()),
                Some(info.domain.clone()),
                info.metadata
                    .iter()
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect(),
            ),
            None => (None, None, BTreeMap::new()),
        };

        let localized_zh_cn = details
            .localized_message()
            .filter(|localized| localized.locale == LOCALE_ZH_CN)
            .map(|localized| localized.message.clone());

        let field_violations = details
            .bad_request()
            .map(|bad_request| {
                bad_request
                    .field_violations
                    .iter()
                    .map(|violation| {
                        FieldViolation::new(violation.field.clone(), violation.description.clone())
                    })
                    .collect()
            })
            .unwrap_or_default();

        let precondition_violations = details
            .precondition_failure()
            .map(|failure| {
                failure
                    .violations
                    .iter()
                    .map(|violation| {
                        PreconditionViolation::new(
                            violation.r#type.clone(),
                            violation.subject.clone(),
                            violation.description.clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();

        let retry_delay = details.retry_info().and_then(|info| info.retry_delay);

        Self {
            code: status.code(),
            message: status.message().to_string(),
            reason,
            domain,
            metadata,
            localized_zh_cn,
            field_violations,
            precondition_violations,
            retry_delay,
        }
    }
}

impl fmt::Display for ErrorSummary {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:?}: {}", self.code, self.message)?;
        if let Some(reason) = &self.reason {
            write!(formatter, " (reason {reason})")?;
        }
        Ok(())
    }
}

/// Displays an error followed by each of its sources, separated by ": ".
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(formatter, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(error: ApiError, domain: &str) -> ErrorSummary {
        ErrorSummary::from_status(&error.into_status(domain))
    }

    #[test]
    fn invalid_argument_round_trip() {
        let error = ApiError::invalid_argument(vec![
            FieldViolation::new("principal.amount", "has 3 decimal places"),
            FieldViolation::new("request_id", "must be a UUID"),
        ]);

        let summary = round_trip(error, DEPOSIT_STATUS_DOMAIN);

        assert_eq!(summary.code, Code::InvalidArgument);
        assert_eq!(
            summary.message,
            "invalid request: principal.amount: has 3 decimal places; request_id: must be a UUID"
        );
        assert_eq!(summary.reason.as_deref(), Some("INVALID_ARGUMENT"));
        assert_eq!(summary.domain.as_deref(), Some("deposit-status.bank"));
        assert_eq!(
            summary.localized_zh_cn.as_deref(),
            Some("请求参数无效：principal.amount、request_id")
        );
        assert_eq!(
            summary.field_violations,
            vec![
                FieldViolation::new("principal.amount", "has 3 decimal places"),
                FieldViolation::new("request_id", "must be a UUID"),
            ]
        );
        assert!(summary.precondition_violations.is_empty());
        assert_eq!(summary.retry_delay, None);
    }

    #[test]
    fn invalid_argument_without_violations() {
        let error = ApiError::invalid_argument(Vec::new());

        assert_eq!(error.message(), "invalid request");
        assert_eq!(error.localized_zh_cn(), "请求参数无效");
    }

    #[test]
    fn precondition_metadata_and_retry_round_trip() {
        let error = ApiError::new(
            Code::FailedPrecondition,
            "REQUIREMENTS_NOT_MET",
            "authorization is not ready",
            "授权尚未满足全部条件",
        )
        .with_precondition_violation("COSIGNATURE", "auth-1", "no supervisor co-signature")
        .with_precondition_violation("IDENTITY_CHECK", "auth-1", "no identity check")
        .with_metadata("authorization_id", "auth-1")
        .with_metadata("state", "PENDING")
        .with_retry_delay(Duration::from_millis(1500));

        let summary = round_trip(error, WITHDRAWAL_AUTHORIZATION_DOMAIN);

        assert_eq!(summary.code, Code::FailedPrecondition);
        assert_eq!(summary.message, "authorization is not ready");
        assert_eq!(summary.reason.as_deref(), Some("REQUIREMENTS_NOT_MET"));
        assert_eq!(summary.domain.as_deref(), Some("withdrawal-authorization.bank"));
        assert_eq!(summary.localized_zh_cn.as_deref(), Some("授权尚未满足全部条件"));
        assert_eq!(
            summary.precondition_violations,
            vec![
                PreconditionViolation::new("COSIGNATURE", "auth-1", "no supervisor co-signature"),
                PreconditionViolation::new("IDENTITY_CHECK", "auth-1", "no identity check"),
            ]
        );
        assert_eq!(
            summary.metadata.get("authorization_id").map(String::as_str),
            Some("auth-1")
        );
        assert_eq!(summary.metadata.get("state").map(String::as_str), Some("PENDING"));
        assert_eq!(summary.retry_delay, Some(Duration::from_millis(1500)));
        assert!(summary.field_violations.is_empty());
    }

    #[test]
    fn with_field_violation_adds_bad_request() {
        let error = ApiError::new(Code::InvalidArgument, "AMOUNT_TOO_LARGE", "too large", "金额过大")
            .with_field_violation("amount", "exceeds the balance");

        let summary = round_trip(error, DEPOSIT_STATUS_DOMAIN);

        assert_eq!(
            summary.field_violations,
            vec![FieldViolation::new("amount", "exceeds the balance")]
        );
    }

    #[derive(Debug)]
    struct Inner;

    impl fmt::Display for Inner {
        fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(formatter, "password=hunter2 in connection string")
        }
    }

    impl std::error::Error for Inner {}

    #[derive(Debug)]
    struct Outer(Inner);

    impl fmt::Display for Outer {
        fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(formatter, "database query failed")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn internal_hides_error_text() {
        let error = ApiError::internal("loading deposit", &Outer(Inner));

        assert_eq!(error.code(), Code::Internal);
        assert_eq!(error.reason(), "INTERNAL");
        assert!(!error.message().contains("database"), "{}", error.message());
        assert!(!error.message().contains("hunter2"), "{}", error.message());
        assert!(!error.localized_zh_cn().contains("hunter2"));
        assert!(error.field_violations().is_empty());
        assert_eq!(error.retry_delay(), None);
    }

    #[test]
    fn error_chain_lists_sources() {
        let text = ErrorChain(&Outer(Inner)).to_string();

        assert_eq!(
            text,
            "database query failed: password=hunter2 in connection string"
        );
    }

    #[test]
    fn unavailable_suggests_retry() {
        let error = ApiError::unavailable("DEPOSIT_STATUS_UNAVAILABLE", "down", "暂不可用");

        assert_eq!(error.code(), Code::Unavailable);
        assert_eq!(error.retry_delay(), Some(DEFAULT_RETRY_DELAY));

        let summary = round_trip(error, WITHDRAWAL_AUTHORIZATION_DOMAIN);
        assert_eq!(summary.retry_delay, Some(DEFAULT_RETRY_DELAY));
        assert_eq!(summary.reason.as_deref(), Some("DEPOSIT_STATUS_UNAVAILABLE"));
    }

    #[test]
    fn summary_of_plain_status() {
        let status = tonic::Status::not_found("no such passbook");

        let summary = ErrorSummary::from_status(&status);

        assert_eq!(summary.code, Code::NotFound);
        assert_eq!(summary.message, "no such passbook");
        assert_eq!(summary.reason, None);
        assert_eq!(summary.domain, None);
        assert_eq!(summary.localized_zh_cn, None);
        assert!(summary.metadata.is_empty());
        assert!(summary.field_violations.is_empty());
    }

    #[test]
    fn summary_ignores_garbage_details() {
        let status =
            tonic::Status::with_details(Code::Aborted, "conflict", bytes_of(&[0xff, 0xff, 0xff, 0x01]));

        let summary = ErrorSummary::from_status(&status);

        assert_eq!(summary.code, Code::Aborted);
        assert_eq!(summary.message, "conflict");
        assert_eq!(summary.reason, None);
    }

    fn bytes_of(data: &[u8]) -> prost::bytes::Bytes {
        prost::bytes::Bytes::copy_from_slice(data)
    }

    #[test]
    fn display_names_code_and_reason() {
        let error = ApiError::invalid_argument(vec![FieldViolation::new("a", "is required")]);

        assert_eq!(
            error.to_string(),
            "invalid request: a: is required (code InvalidArgument, reason INVALID_ARGUMENT)"
        );
    }

    #[test]
    fn summary_display_names_reason() {
        let error = ApiError::new(
            Code::NotFound,
            "PASSBOOK_NOT_FOUND",
            "passbook P1 not found",
            "存折不存在",
        );
        let summary = round_trip(error, DEPOSIT_STATUS_DOMAIN);

        assert_eq!(
            summary.to_string(),
            "NotFound: passbook P1 not found (reason PASSBOOK_NOT_FOUND)"
        );
        assert_eq!(
            ErrorSummary::from_status(&tonic::Status::aborted("conflict")).to_string(),
            "Aborted: conflict"
        );
    }

    #[test]
    fn violations_collect_all() {
        let mut violations = Violations::new();

        let first: Option<u8> = violations.check(Err(FieldViolation::new("a", "is required")));
        let second = violations.check(Ok::<u8, FieldViolation>(7));
        violations.add("b", "is too long");

        assert_eq!(first, None);
        assert_eq!(second, Some(7));
        assert_eq!(violations.as_slice().len(), 2);

        let error = violations.finish().unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument);
        assert_eq!(error.field_violations()[0].field, "a");
        assert_eq!(error.field_violations()[1].field, "b");
    }

    /// Violations as `check_references` reported them for a co-signature
    /// that named one authorization `count + 1` times.
    fn duplicate_references(count: usize) -> Vec<FieldViolation> {
        (1..=count)
            .map(|index| {
                FieldViolation::new(
                    format!("authorizations[{index}].authorization_id"),
                    "listed twice",
                )
            })
            .collect()
    }

    /// Returns the bytes of the names and values of the headers that carry
    /// `status`, as a server sends them.
    fn header_bytes(status: &tonic::Status) -> usize {
        status
            .clone()
            .into_http::<()>()
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum()
    }

    #[test]
    fn invalid_argument_caps_field_violations() {
        let error = ApiError::invalid_argument(duplicate_references(10_000));

        assert_eq!(error.field_violations().len(), 10_000);
        assert_eq!(
            error.message(),
            "invalid request: authorizations[1].authorization_id: listed twice; \
             authorizations[2].authorization_id: listed twice; \
             authorizations[3].authorization_id: listed twice; \
             and 9997 more, see the BadRequest details"
        );
        assert_eq!(
            error.localized_zh_cn(),
            "请求参数无效：authorizations[1].authorization_id、authorizations[2].authorization_id、\
             authorizations[3].authorization_id 等，共 10000 处问题"
        );

        let summary = round_trip(error, WITHDRAWAL_AUTHORIZATION_DOMAIN);
        assert_eq!(summary.field_violations.len(), MAX_FIELD_VIOLATIONS + 1);
        assert_eq!(
            summary.field_violations[..MAX_FIELD_VIOLATIONS],
            duplicate_references(MAX_FIELD_VIOLATIONS)[..]
        );
        let last = &summary.field_violations[MAX_FIELD_VIOLATIONS];
        assert_eq!(last.field, "");
        assert!(last.description.starts_with("9980 more violations"), "{last}");
    }

    #[test]
    fn invalid_argument_keeps_violations_under_cap() {
        let violations = duplicate_references(MAX_FIELD_VIOLATIONS);

        let summary = round_trip(
            ApiError::invalid_argument(violations.clone()),
            DEPOSIT_STATUS_DOMAIN,
        );

        assert_eq!(summary.field_violations, violations);
    }

    #[test]
    fn long_violations_fit_metadata_limit() {
        // Descriptions quote caller text, and Debug escapes turn each
        // unprintable character into up to 10 bytes.
        let quoted = format!("{:?}", "\u{e0001}".repeat(40));
        let violations: Vec<FieldViolation> = (0..1_000)
            .map(|index| {
                FieldViolation::new(
                    format!("{}[{index}]", "金额".repeat(100)),
                    format!("must not contain {quoted}, got {quoted}"),
                )
            })
            .collect();

        let status = ApiError::invalid_argument(violations).into_status(DEPOSIT_STATUS_DOMAIN);

        let bytes = header_bytes(&status);
        assert!(bytes < 8 * 1024, "{bytes} bytes of headers");
        let summary = ErrorSummary::from_status(&status);
        assert!(summary.field_violations.len() > 1);
        assert!(summary.field_violations.len() <= MAX_FIELD_VIOLATIONS + 1);
        for violation in &summary.field_violations {
            assert!(violation.field.len() <= MAX_FIELD_NAME_BYTES, "{violation}");
            assert!(
                violation.description.len() <= MAX_DESCRIPTION_BYTES,
                "{violation}"
            );
        }
        let last = summary.field_violations.last().unwrap();
        assert!(last.description.contains("more violations left out"), "{last}");
    }

    #[test]
    fn cut_text_keeps_whole_characters() {
        assert_eq!(cut_text("short", 10), "short");
        assert_eq!(cut_text("0123456789", 10), "0123456789");
        assert_eq!(cut_text("0123456789a", 10), "0123456...");
        // "金" is 3 bytes, so the 7 bytes before "..." fit two of them.
        assert_eq!(cut_text(&"金".repeat(10), 10), "金金...");
    }

    #[test]
    fn violations_empty_finish_ok() {
        let violations = Violations::new();

        assert!(violations.is_empty());
        assert_eq!(violations.finish(), Ok(()));
    }
}
