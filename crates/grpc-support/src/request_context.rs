//! The outermost server middleware: request ids, the per-request tracing
//! span, and gRPC statuses with error details for requests that the
//! load-shedding and timeout middleware reject, that exceed the message size
//! limit, that are not a valid message, or that name a method the listener
//! does not serve.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::HeaderValue;
use tower::{BoxError, Layer, Service};
use tracing::Instrument;
use uuid::Uuid;

use crate::error::{ApiError, reason};
use crate::server::ServerLimits;

/// Metadata key of the request id, read from requests and set on responses.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Maximum length of a caller's request id. A longer id, or one with
/// characters other than visible ASCII, is replaced by a generated one.
pub const MAX_REQUEST_ID_CHARS: usize = 128;

/// Start of the message of tonic 0.14's status for a request message over the
/// decoding limit.
const TONIC_MESSAGE_TOO_LARGE: &str = "Error, decoded message length too large";

/// Starts of the messages of tonic 0.14's `INTERNAL` statuses for a request
/// body that is not one valid message. In order: bytes that prost cannot
/// decode (prost's `DecodeError` text), a body without a message, a body
/// that ends inside a message, and an invalid compressed-flag byte.
const TONIC_MALFORMED_REQUEST: &[&str] = &[
    "failed to decode Protobuf message",
    "Missing request message",
    "Unexpected EOF decoding stream",
    "protocol error: received message with",
];

/// Minimum time between two warnings about rejected requests. Rejections in
/// between are counted and the count is logged with the next warning.
const REJECTION_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// The id of the request being handled, stored in the request extensions.
///
/// It is the caller's `x-request-id` when that is 1 to
/// [`MAX_REQUEST_ID_CHARS`] visible ASCII characters, and a new UUID v4
/// otherwise. The same value is in the request's `x-request-id` metadata and
/// on the response.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// Returns the id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Returns the id that [`crate::server::serve`] gave `request`, or `None`
/// for a request that did not pass through it (for example in a unit test
/// that calls a handler directly).
pub fn request_id<T>(request: &tonic::Request<T>) -> Option<&str> {
    request.extensions().get::<RequestId>().map(RequestId::as_str)
}

/// Settings of [`RequestContext`], shared by every clone.
#[derive(Debug)]
struct Settings {
    error_domain: &'static str,
    request_timeout: Duration,
    concurrency_limit: usize,
    max_message_bytes: usize,
    rejections: Mutex<RejectionLog>,
}

/// Rejected requests not yet reported in a warning.
#[derive(Debug, Default)]
struct RejectionLog {
    last_warning: Option<Instant>,
    overloaded: u64,
    timed_out: u64,
}

/// Layer that adds [`RequestContext`].
#[derive(Clone, Debug)]
pub(crate) struct RequestContextLayer {
    settings: Arc<Settings>,
}

impl RequestContextLayer {
    /// Creates the layer. The limits only appear in the statuses and logs
    /// of rejected requests: the inner middleware enforces them.
    pub(crate) fn new(error_domain: &'static str, limits: &ServerLimits) -> Self {
        Self {
            settings: Arc::new(Settings {
                error_domain,
                request_timeout: limits.request_timeout,
                concurrency_limit: limits.concurrency_limit,
                max_message_bytes: limits.max_message_bytes,
                rejections: Mutex::new(RejectionLog::default()),
            }),
        }
    }
}

impl<S> Layer<S> for RequestContextLayer {
    type Service = RequestContext<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestContext {
            inner,
            settings: Arc::clone(&self.settings),
        }
    }
}

/// Middleware that assigns each request its [`RequestId`], runs it inside an
/// `info_span!("grpc", request_id, method)`, returns the id in the response's
/// `x-request-id` header, and turns the errors of the inner load-shedding and
/// timeout middleware into gRPC statuses with error details.
///
/// A request rejected there becomes `UNAVAILABLE` with reason
/// `SERVER_OVERLOADED` and a RetryInfo, or `DEADLINE_EXCEEDED` with reason
/// `REQUEST_TIMEOUT`. Any other error is passed on to tonic, which reports
/// it as a status of its own.
///
/// Three statuses that tonic returns without details are replaced. A
/// request message over the size limit becomes `RESOURCE_EXHAUSTED` with
/// reason `MESSAGE_TOO_LARGE`. A request that is not a valid message becomes
/// `INVALID_ARGUMENT` with reason `MALFORMED_REQUEST`. A method the listener
/// does not serve becomes `UNIMPLEMENTED` with reason `METHOD_NOT_FOUND`.
#[derive(Clone, Debug)]
pub(crate) struct RequestContext<S> {
    inner: S,
    settings: Arc<Settings>,
}

type Response = http::Response<tonic::body::Body>;

impl<S, B> Service<http::Request<B>> for RequestContext<S>
where
    S: Service<http::Request<B>, Response = Response, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let header_value = assign_request_id(request.headers_mut());
        let request_id = RequestId(header_value.to_str().unwrap_or_default().to_string());
        let span = tracing::info_span!(
            "grpc",
            request_id = %request_id,
            method = %request.uri().path()
        );
        request.extensions_mut().insert(request_id);
        let method = request.uri().path().to_string();

        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        let settings = Arc::clone(&self.settings);

        let handled = async move {
            let started = Instant::now();
            let mut response = match future.await {
                Ok(response) => response,
                Err(error) => settings.error_response(error)?,
            };
            if let Some(replacement) = settings.detailed_response(&response, &method) {
                response = replacement;
            }
            response.headers_mut().insert(REQUEST_ID_HEADER, header_value);

            // tonic sends the status of a failed unary call in the response
            // headers. A status sent in trailers is not visible here, so it
            // is logged as None.
            let grpc_status = response
                .headers()
                .get("grpc-status")
                .and_then(|value| value.to_str().ok());
            tracing::debug!(
                elapsed_ms = started.elapsed().as_millis(),
                ?grpc_status,
                "request finished"
            );
            Ok(response)
        };
        Box::pin(handled.instrument(span))
    }
}

impl Settings {
    /// Converts a rejection by the load-shedding or timeout middleware into
    /// a status response, and returns any other error unchanged.
    fn error_response(&self, error: BoxError) -> Result<Response, BoxError> {
        let status = if error.is::<tower::load_shed::error::Overloaded>() {
            self.record_rejection(|log| log.overloaded += 1);
            ApiError::unavailable(
                reason::SERVER_OVERLOADED,
                format!(
                    "server overloaded: it is already handling its maximum of {} requests. Retry after the suggested delay",
                    self.concurrency_limit
                ),
                "服务器繁忙，请稍后重试。",
            )
            .with_metadata("concurrency_limit", self.concurrency_limit.to_string())
        } else if error.is::<tower::timeout::error::Elapsed>() {
            self.record_rejection(|log| log.timed_out += 1);
            let timeout_ms = self.request_timeout.as_millis();
            ApiError::new(
                tonic::Code::DeadlineExceeded,
                reason::REQUEST_TIMEOUT,
                format!(
                    "request timed out after {timeout_ms} ms on the server. Retry later, with the same request_id where the request has one"
                ),
                "请求处理超时，请稍后重试。",
            )
            .with_metadata("timeout_ms", timeout_ms.to_string())
        } else {
            return Err(error);
        };
        Ok(status.into_status(self.error_domain).into_http())
    }

    /// Returns a response with error details in place of a status that
    /// tonic returned without them, or `None` to keep `response`.
    ///
    /// tonic 0.14 rejects a request message over the decoding limit with
    /// `OUT_OF_RANGE` and the message "Error, decoded message length too
    /// large: ...", a request that does not decode with `INTERNAL` (see
    /// [`TONIC_MALFORMED_REQUEST`]), and a path that no route serves with a
    /// bare `UNIMPLEMENTED`. The gRPC status code guide names
    /// `RESOURCE_EXHAUSTED` for a message over a configured limit:
    /// <https://grpc.github.io/grpc/core/md_doc_statuscodes.html>.
    /// tonic-prost follows that guide with `INTERNAL` for a request that does
    /// not decode, but `INTERNAL` reads as a server fault while the fault is
    /// the caller's, so here it becomes `INVALID_ARGUMENT`.
    fn detailed_response(&self, response: &Response, method: &str) -> Option<Response> {
        let status = tonic::Status::from_header_map(response.headers())?;
        if !status.details().is_empty() {
            return None;
        }
        let error = match status.code() {
            tonic::Code::OutOfRange if status.message().starts_with(TONIC_MESSAGE_TOO_LARGE) => ApiError::new(
                tonic::Code::ResourceExhausted,
                reason::MESSAGE_TOO_LARGE,
                format!(
                    "request message too large ({}). Send at most {} bytes",
                    status.message(),
                    self.max_message_bytes
                ),
                "请求消息过大，超过服务器允许的上限。",
            )
            .with_metadata("max_message_bytes", self.max_message_bytes.to_string()),
            tonic::Code::Internal if is_malformed_request(&status) => {
                tracing::debug!(error = status.message(), "malformed request message rejected");
                ApiError::new(
                    tonic::Code::InvalidArgument,
                    reason::MALFORMED_REQUEST,
                    format!(
                        "request message for {method} is malformed ({}). Send a message encoded from the service's .proto definitions",
                        status.message()
                    ),
                    "请求消息格式无效，无法解析。请使用与服务接口定义一致的客户端重新发送。",
                )
                .with_metadata("method", method.to_string())
            }
            // Routes and generated servers send no message for a path they do
            // not serve. An UNIMPLEMENTED with a message, such as tonic's for
            // an unsupported compression, is left as it is.
            tonic::Code::Unimplemented if status.message().is_empty() => ApiError::new(
                tonic::Code::Unimplemented,
                reason::METHOD_NOT_FOUND,
                format!(
                    "method {method} is not served on this listener. Admin services listen on the admin address, teller-facing services on the public one"
                ),
                "该接口不在此端口提供，请检查服务地址。",
            )
            .with_metadata("method", method.to_string()),
            _ => return None,
        };
        Some(error.into_status(self.error_domain).into_http())
    }

    /// Counts a rejected request and logs a warning with the counts, at most
    /// once per [`REJECTION_LOG_INTERVAL`].
    fn record_rejection(&self, count: impl FnOnce(&mut RejectionLog)) {
        let mut log = self.rejections.lock().unwrap_or_else(PoisonError::into_inner);
        count(&mut log);

        let now = Instant::now();
        let due = log
            .last_warning
            .is_none_or(|last| now.duration_since(last) >= REJECTION_LOG_INTERVAL);
        if due {
            tracing::warn!(
                overloaded = log.overloaded,
                timed_out = log.timed_out,
                concurrency_limit = self.concurrency_limit,
                request_timeout_ms = self.request_timeout.as_millis(),
                "rejected requests since the last warning: overloaded ones were not processed, timed-out ones were cancelled"
            );
            log.overloaded = 0;
            log.timed_out = 0;
            log.last_warning = Some(now);
        }
    }
}

/// Returns whether `status` is one of tonic's statuses for a request body
/// that is not one valid message.
fn is_malformed_request(status: &tonic::Status) -> bool {
    TONIC_MALFORMED_REQUEST
        .iter()
        .any(|start| status.message().starts_with(start))
}

/// Returns the caller's request id if it is valid, otherwise a new UUID v4,
/// and stores the result in the request's `x-request-id` header.
fn assign_request_id(headers: &mut http::HeaderMap) -> HeaderValue {
    let valid = headers
        .get(REQUEST_ID_HEADER)
        .filter(|value| is_valid_request_id(value.as_bytes()))
        .cloned();

    let value = valid.unwrap_or_else(|| {
        let generated = Uuid::new_v4().hyphenated().to_string();
        // A hyphenated UUID has only hex digits and "-", so the fallback is
        // never used.
        HeaderValue::from_str(&generated).unwrap_or(HeaderValue::from_static("unknown"))
    });
    headers.insert(REQUEST_ID_HEADER, value.clone());
    value
}

/// Returns whether `id` is 1 to [`MAX_REQUEST_ID_CHARS`] visible ASCII
/// characters (no spaces or control characters).
fn is_valid_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_CHARS).contains(&id.len()) && id.iter().all(u8::is_ascii_graphic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_kept_when_valid() {
        let mut headers = http::HeaderMap::new();
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static("teller-42:abc"));

        let value = assign_request_id(&mut headers);

        assert_eq!(value, "teller-42:abc");
        assert_eq!(headers.get(REQUEST_ID_HEADER).unwrap(), "teller-42:abc");
    }

    #[test]
    fn request_id_generated_when_missing() {
        let mut headers = http::HeaderMap::new();

        let value = assign_request_id(&mut headers);

        let uuid = Uuid::parse_str(value.to_str().unwrap()).unwrap();
        assert_eq!(uuid.get_version_num(), 4);
        assert_eq!(headers.get(REQUEST_ID_HEADER).unwrap(), &value);
    }

    #[test]
    fn request_id_replaced_when_invalid() {
        let long = "a".repeat(MAX_REQUEST_ID_CHARS + 1);
        for invalid in ["", "has space", "tab\there", long.as_str()] {
            let mut headers = http::HeaderMap::new();
            headers.insert(REQUEST_ID_HEADER, HeaderValue::from_str(invalid).unwrap());

            let value = assign_request_id(&mut headers);

            assert!(
                Uuid::parse_str(value.to_str().unwrap()).is_ok(),
                "{invalid:?} should be replaced, got {value:?}"
            );
        }
    }

    #[test]
    fn request_id_accepts_maximum_length() {
        let longest = "a".repeat(MAX_REQUEST_ID_CHARS);

        assert!(is_valid_request_id(longest.as_bytes()));
        assert!(!is_valid_request_id(&[0x80]));
    }
}
