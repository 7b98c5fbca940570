//! Runs `grpc_support::server::serve` on 127.0.0.1 port 0 with real tonic
//! clients: request ids, load shedding, timeouts, error details on the wire,
//! reflection and shutdown.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grpc_support::error::reason;
use grpc_support::server::{self, ReflectionError, ServeError, ServerLimits};
use grpc_support::{ApiError, DEPOSIT_STATUS_DOMAIN, ErrorSummary, FieldViolation};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;
use tonic::Code;
use tonic::service::Routes;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

/// Maximum time for any single step, after which the test fails instead of
/// hanging.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// Health service whose `check` behaves according to the requested service
/// name, so tests can hold a concurrency slot, overrun the timeout or
/// return an error with details.
#[derive(Clone, Default)]
struct ScriptedHealth {
    /// Receives a message when a "blocked" check starts.
    entered: Option<mpsc::UnboundedSender<()>>,
    /// Releases the "blocked" checks.
    release: Arc<Notify>,
    /// Set when a "sleep" check is dropped before it finished.
    sleep_cancelled: Arc<AtomicBool>,
    /// Request ids seen by the handler, one entry per check.
    seen_request_ids: Arc<Mutex<Vec<SeenRequestId>>>,
}

/// The request id as read by a handler.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SeenRequestId {
    /// From `grpc_support::server::request_id`.
    extension: Option<String>,
    /// From the `x-request-id` metadata.
    metadata: Option<String>,
}

impl SeenRequestId {
    fn both(id: &str) -> Self {
        Self {
            extension: Some(id.to_string()),
            metadata: Some(id.to_string()),
        }
    }
}

/// Sets a flag when dropped, which shows that a handler future was dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn serving() -> tonic::Response<HealthCheckResponse> {
    tonic::Response::new(HealthCheckResponse {
        status: ServingStatus::Serving as i32,
    })
}

#[tonic::async_trait]
impl Health for ScriptedHealth {
    async fn check(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, tonic::Status> {
        let from_extension = server::request_id(&request).map(str::to_string);
        let from_metadata = request
            .metadata()
            .get(server::REQUEST_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        self.seen_request_ids.lock().unwrap().push(SeenRequestId {
            extension: from_extension,
            metadata: from_metadata,
        });

        match request.get_ref().service.as_str() {
            "blocked" => {
                let released = self.release.notified();
                if let Some(entered) = &self.entered {
                    entered.send(()).unwrap();
                }
                released.await;
                Ok(serving())
            }
            "sleep" => {
                let cancelled_flag = DropFlag(Arc::clone(&self.sleep_cancelled));
                tokio::time::sleep(Duration::from_secs(60)).await;
                std::mem::forget(cancelled_flag);
                Ok(serving())
            }
            "invalid" => Err(ApiError::invalid_argument(vec![FieldViolation::new(
                "service",
                "must not be \"invalid\"",
            )])
            .into_status(DEPOSIT_STATUS_DOMAIN)),
            _ => Ok(serving()),
        }
    }

    type WatchStream = tokio_stream::Empty<Result<HealthCheckResponse, tonic::Status>>;

    async fn watch(
        &self,
        _request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("watch is not scripted"))
    }
}

/// A server started by [`start`].
struct TestServer {
    address: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl TestServer {
    async fn client(&self) -> HealthClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.address))
            .unwrap()
            .connect()
            .await
            .unwrap();
        HealthClient::new(channel)
    }

    /// Resolves the shutdown future and returns the server's result.
    async fn stop(mut self) -> Result<(), ServeError> {
        self.shutdown.take().unwrap().send(()).unwrap();
        tokio::time::timeout(STEP_TIMEOUT, self.task)
            .await
            .expect("server did not stop")
            .unwrap()
    }
}

async fn start(routes: Routes, limits: ServerLimits) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (shutdown, shutdown_received) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server::serve(routes, listener, &limits, DEPOSIT_STATUS_DOMAIN, async {
            let _ = shutdown_received.await;
        })
        .await
    });
    TestServer {
        address,
        shutdown: Some(shutdown),
        task,
    }
}

fn check_request(service: &str) -> tonic::Request<HealthCheckRequest> {
    tonic::Request::new(HealthCheckRequest {
        service: service.to_string(),
    })
}

fn response_request_id(metadata: &tonic::metadata::MetadataMap) -> Option<String> {
    metadata
        .get(server::REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}

#[tokio::test]
async fn request_id_echoed_when_sent() {
    let health = ScriptedHealth::default();
    let server = start(
        Routes::new(HealthServer::new(health.clone())),
        ServerLimits::default(),
    )
    .await;
    let mut client = server.client().await;

    let mut request = check_request("");
    request
        .metadata_mut()
        .insert(server::REQUEST_ID_HEADER, "teller-7:abc".parse().unwrap());
    let response = client.check(request).await.unwrap();

    assert_eq!(
        response_request_id(response.metadata()).as_deref(),
        Some("teller-7:abc")
    );
    let seen = health.seen_request_ids.lock().unwrap().clone();
    assert_eq!(seen, vec![SeenRequestId::both("teller-7:abc")]);

    server.stop().await.unwrap();
}

#[tokio::test]
async fn request_id_generated_when_absent() {
    let health = ScriptedHealth::default();
    let server = start(
        Routes::new(HealthServer::new(health.clone())),
        ServerLimits::default(),
    )
    .await;
    let mut client = server.client().await;

    let first = client.check(check_request("")).await.unwrap();
    let second = client.check(check_request("")).await.unwrap();

    let first_id = response_request_id(first.metadata()).expect("no x-request-id");
    let second_id = response_request_id(second.metadata()).expect("no x-request-id");
    let uuid = uuid::Uuid::parse_str(&first_id).expect("generated id is not a UUID");
    assert_eq!(uuid.get_version_num(), 4);
    assert_ne!(first_id, second_id);

    let seen = health.seen_request_ids.lock().unwrap().clone();
    assert_eq!(seen[0], SeenRequestId::both(&first_id));

    server.stop().await.unwrap();
}

#[tokio::test]
async fn request_id_replaced_when_invalid() {
    let server = start(
        Routes::new(HealthServer::new(ScriptedHealth::default())),
        ServerLimits::default(),
    )
    .await;
    let mut client = server.client().await;

    let mut request = check_request("");
    let too_long = "x".repeat(server::MAX_REQUEST_ID_CHARS + 1);
    request
        .metadata_mut()
        .insert(server::REQUEST_ID_HEADER, too_long.parse().unwrap());
    let response = client.check(request).await.unwrap();

    let id = response_request_id(response.metadata()).expect("no x-request-id");
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    server.stop().await.unwrap();
}

#[tokio::test]
async fn error_details_cross_the_wire() {
    let server = start(
        Routes::new(HealthServer::new(ScriptedHealth::default())),
        ServerLimits::default(),
    )
    .await;
    let mut client = server.client().await;

    let status = client.check(check_request("invalid")).await.unwrap_err();
    let summary = ErrorSummary::from_status(&status);

    assert_eq!(summary.code, Code::InvalidArgument);
    assert_eq!(summary.reason.as_deref(), Some(reason::INVALID_ARGUMENT));
    assert_eq!(summary.domain.as_deref(), Some(DEPOSIT_STATUS_DOMAIN));
    assert_eq!(summary.localized_zh_cn.as_deref(), Some("请求参数无效：service"));
    assert_eq!(
        summary.field_violations,
        vec![FieldViolation::new("service", "must not be \"invalid\"")]
    );
    assert!(
        response_request_id(status.metadata()).is_some(),
        "error responses carry x-request-id too"
    );

    server.stop().await.unwrap();
}

#[tokio::test]
async fn oversized_request_gets_error_details() {
    let limits = ServerLimits {
        max_message_bytes: 1024,
        ..ServerLimits::default()
    };
    let health =
        HealthServer::new(ScriptedHealth::default()).max_decoding_message_size(limits.max_message_bytes);
    let server = start(Routes::new(health), limits).await;
    let mut client = server.client().await;

    let status = client.check(check_request(&"x".repeat(2048))).await.unwrap_err();
    let summary = ErrorSummary::from_status(&status);

    assert_eq!(summary.code, Code::ResourceExhausted);
    assert_eq!(summary.reason.as_deref(), Some(reason::MESSAGE_TOO_LARGE));
    assert_eq!(summary.domain.as_deref(), Some(DEPOSIT_STATUS_DOMAIN));
    assert_eq!(
        summary.localized_zh_cn.as_deref(),
        Some("请求消息过大，超过服务器允许的上限。")
    );
    assert!(
        status.message().contains("at most 1024 bytes"),
        "message: {}",
        status.message()
    );
    assert!(response_request_id(status.metadata()).is_some());

    server.stop().await.unwrap();
}

#[tokio::test]
async fn unserved_method_gets_error_details() {
    let (reflection, _) = server::reflection_services(&[]).unwrap();
    let server = start(Routes::new(reflection), ServerLimits::default()).await;
    let mut client = server.client().await;

    let status = client.check(check_request("")).await.unwrap_err();
    let summary = ErrorSummary::from_status(&status);

    assert_eq!(summary.code, Code::Unimplemented);
    assert_eq!(summary.reason.as_deref(), Some(reason::METHOD_NOT_FOUND));
    assert_eq!(
        summary.localized_zh_cn.as_deref(),
        Some("该接口不在此端口提供，请检查服务地址。")
    );
    assert!(
        status.message().contains("/grpc.health.v1.Health/Check"),
        "message: {}",
        status.message()
    );

    server.stop().await.unwrap();
}

/// A codec that sends its items as message bytes exactly as given and
/// reads replies as raw bytes, so a test can send bytes that are not a
/// valid protobuf message.
#[derive(Clone, Copy, Debug, Default)]
struct RawBytesCodec;

impl tonic::codec::Codec for RawBytesCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawBytesCodec;
    type Decoder = RawBytesCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawBytesCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawBytesCodec
    }
}

impl tonic::codec::Encoder for RawBytesCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        destination: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        prost::bytes::BufMut::put_slice(destination, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawBytesCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, source: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let length = prost::bytes::Buf::remaining(source);
        Ok(Some(prost::bytes::Buf::copy_to_bytes(source, length).to_vec()))
    }
}

/// Calls the health service's Check method with `message` as the request
/// message bytes.
async fn check_raw(server: &TestServer, message: Vec<u8>) -> Result<Vec<u8>, tonic::Status> {
    let channel = Channel::from_shared(format!("http://{}", server.address))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    grpc.unary(
        tonic::Request::new(message),
        http::uri::PathAndQuery::from_static("/grpc.health.v1.Health/Check"),
        RawBytesCodec,
    )
    .await
    .map(tonic::Response::into_inner)
}

/// tonic rejects a request compressed with an encoding the server does not
/// accept with UNIMPLEMENTED and a message. That status is about the
/// encoding, not a missing method, so it keeps tonic's message.
#[tokio::test]
async fn unsupported_compression_not_reported_as_missing_method() {
    let server = start(
        Routes::new(HealthServer::new(ScriptedHealth::default())),
        ServerLimits::default(),
    )
    .await;
    let channel = Channel::from_shared(format!("http://{}", server.address))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(Vec::new());
    request
        .metadata_mut()
        .insert("grpc-encoding", "gzip".parse().unwrap());

    let status = grpc
        .unary(
            request,
            http::uri::PathAndQuery::from_static("/grpc.health.v1.Health/Check"),
            RawBytesCodec,
        )
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    let summary = ErrorSummary::from_status(&status);
    assert_ne!(
        summary.reason.as_deref(),
        Some(reason::METHOD_NOT_FOUND),
        "{status:?}"
    );
    assert!(status.message().contains("gzip"), "message: {}", status.message());

    server.stop().await.unwrap();
}

#[tokio::test]
async fn malformed_request_gets_error_details() {
    let health = ScriptedHealth::default();
    let server = start(
        Routes::new(HealthServer::new(health.clone())),
        ServerLimits::default(),
    )
    .await;
    // (bytes, what is wrong with them as a HealthCheckRequest)
    let cases: [(&[u8], &str); 4] = [
        (&[0xff, 0xff, 0xff, 0xff], "invalid varint"),
        (&[0x0a, 0x05, b'a'], "field 1 claims 5 bytes, 1 follows"),
        (&[0x0a, 0x02, 0xc3, 0x28], "field 1 is a string of invalid UTF-8"),
        (&[0x08, 0x01], "field 1 has the varint wire type, not a length"),
    ];

    for (message, problem) in cases {
        let status = check_raw(&server, message.to_vec()).await.unwrap_err();
        let summary = ErrorSummary::from_status(&status);

        assert_eq!(summary.code, Code::InvalidArgument, "{problem}: {status:?}");
        assert_eq!(
            summary.reason.as_deref(),
            Some(reason::MALFORMED_REQUEST),
            "{problem}: {status:?}"
        );
        assert_eq!(
            summary.domain.as_deref(),
            Some(DEPOSIT_STATUS_DOMAIN),
            "{problem}"
        );
        assert_eq!(
            summary.localized_zh_cn.as_deref(),
            Some("请求消息格式无效，无法解析。请使用与服务接口定义一致的客户端重新发送。"),
            "{problem}"
        );
        assert!(
            status.message().contains("/grpc.health.v1.Health/Check"),
            "{problem}: message {}",
            status.message()
        );
        assert!(response_request_id(status.metadata()).is_some(), "{problem}");
    }
    assert!(
        health.seen_request_ids.lock().unwrap().is_empty(),
        "a malformed request reached the handler"
    );

    // A request stream that ends without any message.
    let channel = Channel::from_shared(format!("http://{}", server.address))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let result: Result<tonic::Response<Vec<u8>>, tonic::Status> = grpc
        .client_streaming(
            tonic::Request::new(tokio_stream::empty::<Vec<u8>>()),
            http::uri::PathAndQuery::from_static("/grpc.health.v1.Health/Check"),
            RawBytesCodec,
        )
        .await;
    let status = result.unwrap_err();
    let summary = ErrorSummary::from_status(&status);
    assert_eq!(summary.code, Code::InvalidArgument, "{status:?}");
    assert_eq!(summary.reason.as_deref(), Some(reason::MALFORMED_REQUEST));

    // A valid message on the same path still works.
    let mut client = server.client().await;
    client.check(check_request("")).await.unwrap();

    server.stop().await.unwrap();
}

#[tokio::test]
async fn over_concurrency_limit_is_rejected() {
    let (entered_sender, mut entered) = mpsc::unbounded_channel();
    let health = ScriptedHealth {
        entered: Some(entered_sender),
        ..ScriptedHealth::default()
    };
    let limits = ServerLimits {
        concurrency_limit: 1,
        ..ServerLimits::default()
    };
    let server = start(Routes::new(HealthServer::new(health.clone())), limits).await;
    let mut client = server.client().await;

    let mut blocked_client = client.clone();
    let blocked = tokio::spawn(async move { blocked_client.check(check_request("blocked")).await });
    tokio::time::timeout(STEP_TIMEOUT, entered.recv())
        .await
        .expect("the blocked check never started")
        .unwrap();

    let started = Instant::now();
    let status = tokio::time::timeout(STEP_TIMEOUT, client.check(check_request("")))
        .await
        .expect("a request over the limit waited instead of being rejected")
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    let summary = ErrorSummary::from_status(&status);
    assert_eq!(summary.code, Code::Unavailable, "{status:?}");
    assert_eq!(summary.reason.as_deref(), Some(reason::SERVER_OVERLOADED));
    assert_eq!(summary.domain.as_deref(), Some(DEPOSIT_STATUS_DOMAIN));
    assert_eq!(
        summary.metadata.get("concurrency_limit").map(String::as_str),
        Some("1")
    );
    assert!(summary.retry_delay.is_some());
    assert!(summary.localized_zh_cn.is_some());
    assert!(response_request_id(status.metadata()).is_some());

    health.release.notify_waiters();
    let released = tokio::time::timeout(STEP_TIMEOUT, blocked)
        .await
        .expect("the blocked check did not finish")
        .unwrap();
    assert!(released.is_ok(), "{released:?}");

    // The slot is free again.
    let after = client.check(check_request("")).await;
    assert!(after.is_ok(), "{after:?}");

    server.stop().await.unwrap();
}

#[tokio::test]
async fn slow_request_times_out() {
    let health = ScriptedHealth::default();
    let limits = ServerLimits {
        request_timeout: Duration::from_millis(200),
        concurrency_limit: 1,
        ..ServerLimits::default()
    };
    let server = start(Routes::new(HealthServer::new(health.clone())), limits).await;
    let mut client = server.client().await;

    let started = Instant::now();
    let status = tokio::time::timeout(STEP_TIMEOUT, client.check(check_request("sleep")))
        .await
        .expect("the request timeout did not fire")
        .unwrap_err();

    assert!(started.elapsed() >= Duration::from_millis(200));
    let summary = ErrorSummary::from_status(&status);
    assert_eq!(summary.code, Code::DeadlineExceeded, "{status:?}");
    assert_eq!(summary.reason.as_deref(), Some(reason::REQUEST_TIMEOUT));
    assert_eq!(
        summary.metadata.get("timeout_ms").map(String::as_str),
        Some("200")
    );
    assert!(response_request_id(status.metadata()).is_some());
    assert!(
        health.sleep_cancelled.load(Ordering::SeqCst),
        "the timed-out handler was not dropped"
    );

    // The timed-out request gave its concurrency slot back.
    let after = client.check(check_request("")).await;
    assert!(after.is_ok(), "{after:?}");

    server.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_promptly() {
    let server = start(
        Routes::new(HealthServer::new(ScriptedHealth::default())),
        ServerLimits::default(),
    )
    .await;
    let address = server.address;
    let mut client = server.client().await;
    client.check(check_request("")).await.unwrap();

    let started = Instant::now();
    server.stop().await.unwrap();

    // An idle open connection must not hold up the shutdown.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let connect = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await;
    assert!(connect.is_err(), "the listener is still accepting connections");
}

#[tokio::test]
async fn shutdown_waits_for_in_flight_request() {
    let (entered_sender, mut entered) = mpsc::unbounded_channel();
    let health = ScriptedHealth {
        entered: Some(entered_sender),
        ..ScriptedHealth::default()
    };
    let mut server = start(
        Routes::new(HealthServer::new(health.clone())),
        ServerLimits::default(),
    )
    .await;
    let mut client = server.client().await;
    let in_flight = tokio::spawn(async move { client.check(check_request("blocked")).await });
    tokio::time::timeout(STEP_TIMEOUT, entered.recv())
        .await
        .unwrap()
        .unwrap();

    server.shutdown.take().unwrap().send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !server.task.is_finished(),
        "the server stopped before its in-flight request finished"
    );

    health.release.notify_waiters();
    let response = tokio::time::timeout(STEP_TIMEOUT, in_flight)
        .await
        .unwrap()
        .unwrap();
    assert!(response.is_ok(), "{response:?}");
    let result = tokio::time::timeout(STEP_TIMEOUT, server.task)
        .await
        .expect("server did not stop after its last request")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn shutdown_timeout_abandons_stuck_request() {
    let (entered_sender, mut entered) = mpsc::unbounded_channel();
    let health = ScriptedHealth {
        entered: Some(entered_sender),
        ..ScriptedHealth::default()
    };
    let limits = ServerLimits {
        shutdown_timeout: Duration::from_millis(300),
        ..ServerLimits::default()
    };
    let server = start(Routes::new(HealthServer::new(health.clone())), limits).await;
    let mut client = server.client().await;
    let _stuck = tokio::spawn(async move { client.check(check_request("blocked")).await });
    tokio::time::timeout(STEP_TIMEOUT, entered.recv())
        .await
        .unwrap()
        .unwrap();

    let started = Instant::now();
    let result = server.stop().await;

    assert!(result.is_ok(), "{result:?}");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[tokio::test]
async fn invalid_limits_rejected() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let limits = ServerLimits {
        concurrency_limit: 0,
        ..ServerLimits::default()
    };

    let result = server::serve(
        Routes::default(),
        listener,
        &limits,
        DEPOSIT_STATUS_DOMAIN,
        std::future::pending(),
    )
    .await;

    match result {
        Err(ServeError::InvalidLimit { name, .. }) => assert_eq!(name, "concurrency_limit"),
        other => panic!("expected InvalidLimit, got {other:?}"),
    }
}

#[tokio::test]
async fn standard_health_service_serves() {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(
            "bank.deposit.v1.DepositStatusService",
            tonic_health::ServingStatus::NotServing,
        )
        .await;
    let server = start(Routes::new(health_service), ServerLimits::default()).await;
    let mut client = server.client().await;

    let overall = client.check(check_request("")).await.unwrap();
    let deposit = client
        .check(check_request("bank.deposit.v1.DepositStatusService"))
        .await
        .unwrap();
    let unknown = client.check(check_request("no.such.Service")).await.unwrap_err();

    assert_eq!(overall.get_ref().status, ServingStatus::Serving as i32);
    assert_eq!(deposit.get_ref().status, ServingStatus::NotServing as i32);
    assert_eq!(unknown.code(), Code::NotFound);

    server.stop().await.unwrap();
}

mod reflection {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1alpha;

    use super::*;

    const DEPOSIT_STATUS: &str = bank_proto::deposit::deposit_status_service_server::SERVICE_NAME;

    async fn start_with_reflection() -> TestServer {
        let (_reporter, health_service) = tonic_health::server::health_reporter();
        let (reflection_v1, reflection_v1alpha) = server::reflection_services(&[DEPOSIT_STATUS]).unwrap();
        let routes = Routes::new(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);
        start(routes, ServerLimits::default()).await
    }

    async fn ask_v1(address: SocketAddr, request: MessageRequest) -> MessageResponse {
        let channel = Channel::from_shared(format!("http://{address}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = ServerReflectionClient::new(channel);
        let requests = tokio_stream::iter(vec![ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        }]);
        let mut responses = client
            .server_reflection_info(requests)
            .await
            .unwrap()
            .into_inner();
        let response = responses.message().await.unwrap().expect("no response");
        response.message_response.expect("empty response")
    }

    #[tokio::test]
    async fn v1_lists_served_services_only() {
        let server = start_with_reflection().await;

        let response = ask_v1(server.address, MessageRequest::ListServices(String::new())).await;

        let MessageResponse::ListServicesResponse(list) = response else {
            panic!("unexpected response {response:?}");
        };
        let mut names: Vec<String> = list.service.into_iter().map(|service| service.name).collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                "bank.deposit.v1.DepositStatusService".to_string(),
                "grpc.health.v1.Health".to_string(),
                "grpc.reflection.v1.ServerReflection".to_string(),
                "grpc.reflection.v1alpha.ServerReflection".to_string(),
            ]
        );

        server.stop().await.unwrap();
    }

    #[tokio::test]
    async fn v1_describes_bank_symbol() {
        let server = start_with_reflection().await;

        let response = ask_v1(
            server.address,
            MessageRequest::FileContainingSymbol("bank.common.v1.Money".to_string()),
        )
        .await;

        let MessageResponse::FileDescriptorResponse(files) = response else {
            panic!("unexpected response {response:?}");
        };
        assert!(!files.file_descriptor_proto.is_empty());

        server.stop().await.unwrap();
    }

    #[tokio::test]
    async fn v1alpha_lists_services() {
        let server = start_with_reflection().await;
        let channel = Channel::from_shared(format!("http://{}", server.address))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);

        let requests = tokio_stream::iter(vec![v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1alpha::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        }]);
        let response = client
            .server_reflection_info(requests)
            .await
            .unwrap()
            .into_inner()
            .message()
            .await
            .unwrap()
            .expect("no response");

        let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
            response.message_response
        else {
            panic!("unexpected response {response:?}");
        };
        assert!(list.service.iter().any(|service| service.name == DEPOSIT_STATUS));

        server.stop().await.unwrap();
    }

    #[test]
    fn unknown_service_name_rejected() {
        let result = server::reflection_services(&["bank.deposit.v1.NoSuchService"]);

        match result {
            Err(ReflectionError::UnknownService(name)) => {
                assert_eq!(name, "bank.deposit.v1.NoSuchService");
            }
            Err(other) => panic!("expected UnknownService, got {other}"),
            Ok(_) => panic!("expected UnknownService, got Ok"),
        }
    }
}
