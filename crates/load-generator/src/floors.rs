//! The floors a flow's throughput is compared with, measured on the same
//! machine at the same concurrency: a trivial tonic unary RPC, and a
//! single-row commit on the same database backend.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::migrate::Migrator;
use storage::{Database, DatabaseOptions, Migrators};
use tokio::task::JoinSet;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::setup::{self, SetupError};
use crate::stats::LatencyHistogram;

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Text stored in every commit-floor row, about the size of a small
/// authorization row's text columns.
const ROW_PAYLOAD: &str = "bank-load commit floor row: one INSERT per write transaction, committed \
                           with the same durability settings as the services' own writes.";
/// Database settings of the commit floor that are not its pool size: the
/// services' defaults.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
const SERIALIZATION_RETRIES: u32 = 20;

/// A failed floor measurement.
#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    #[error("echo floor: {0}")]
    Setup(#[from] SetupError),
    #[error("echo floor: failed to start the server: {0}")]
    Server(String),
    #[error("echo floor: Health/Check failed: {0}")]
    Call(tonic::Status),
    #[error("commit floor: {0}")]
    Database(#[from] sqlx::Error),
    #[error("commit floor: failed to open the scratch database: {0}")]
    Open(String),
    #[error("a floor task panicked: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Operations completed by one floor measurement.
#[derive(Debug, Clone)]
pub struct FloorResult {
    pub operations: u64,
    pub elapsed: Duration,
    /// Tasks that ran operations concurrently.
    pub concurrency: u32,
    /// Connections the tasks shared.
    pub connections: u32,
    pub latency: LatencyHistogram,
}

/// Serves tonic-health's Health service in this process on 127.0.0.1 port 0
/// and calls Health/Check from `concurrency` clients, each with its own
/// connection, for `duration`.
pub async fn echo_floor(concurrency: u32, duration: Duration) -> Result<FloorResult, FloorError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|error| FloorError::Server(error.to_string()))?;
    let address = listener
        .local_addr()
        .map_err(|error| FloorError::Server(error.to_string()))?;
    let (_reporter, health) = tonic_health::server::health_reporter();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            }),
    );

    let url = format!("http://{address}");
    let mut clients = Vec::with_capacity(concurrency as usize);
    for _ in 0..concurrency {
        clients.push(HealthClient::new(setup::connect(&url).await?));
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for mut client in clients {
        tasks.spawn(async move {
            let mut latency = LatencyHistogram::new();
            while Instant::now() < deadline {
                let call = Instant::now();
                client
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .map_err(FloorError::Call)?;
                latency.record(call.elapsed());
            }
            Ok::<_, FloorError>(latency)
        });
    }
    let result = collect(tasks, started, concurrency, concurrency).await;
    let _ = stop.send(());
    let _ = server.await;
    result
}

/// Opens (and migrates) the scratch database at `database_url` through the
/// services' storage layer with a pool of `connections` connections, and
/// commits one INSERT per write transaction from `concurrency` tasks for
/// `duration`.
pub async fn commit_floor(
    database_url: &str,
    concurrency: u32,
    connections: u32,
    duration: Duration,
) -> Result<FloorResult, FloorError> {
    let options = DatabaseOptions {
        max_connections: connections,
        connect_timeout: CONNECT_TIMEOUT,
        sqlite_busy_timeout: SQLITE_BUSY_TIMEOUT,
        statement_timeout: STATEMENT_TIMEOUT,
        serialization_retries: SERIALIZATION_RETRIES,
    };
    let migrators = Migrators {
        sqlite: &SQLITE_MIGRATOR,
        postgres: &POSTGRES_MIGRATOR,
    };
    let database = Arc::new(
        Database::open(database_url, &options, migrators)
            .await
            .map_err(|error| FloorError::Open(error.to_string()))?,
    );
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for task in 0..concurrency {
        let database = Arc::clone(&database);
        tasks.spawn(async move {
            let mut latency = LatencyHistogram::new();
            while Instant::now() < deadline {
                let call = Instant::now();
                insert_row(&database, task).await?;
                latency.record(call.elapsed());
            }
            Ok::<_, FloorError>(latency)
        });
    }
    let result = collect(tasks, started, concurrency, connections).await;
    database.close().await;
    result
}

/// Commits one row in a write transaction of its own.
async fn insert_row(database: &Database, task: u32) -> Result<(), sqlx::Error> {
    let row_id = uuid::Uuid::new_v4().to_string();
    let created_at = storage::format_instant(chrono::Utc::now());
    let (row_id, created_at) = (row_id.as_str(), created_at.as_str());
    database
        .write(|transaction| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO commit_floor (row_id, task, payload, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(row_id)
                .bind(i64::from(task))
                .bind(ROW_PAYLOAD)
                .bind(created_at)
                .execute(&mut **transaction)
                .await?;
                Ok::<_, sqlx::Error>(())
            })
        })
        .await
}

/// Merges the tasks' histograms and counts the operations.
async fn collect(
    mut tasks: JoinSet<Result<LatencyHistogram, FloorError>>,
    started: Instant,
    concurrency: u32,
    connections: u32,
) -> Result<FloorResult, FloorError> {
    let mut latency = LatencyHistogram::new();
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined? {
            Ok(histogram) => latency.merge(&histogram),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    let elapsed = started.elapsed();
    if let Some(error) = first_error {
        return Err(error);
    }
    Ok(FloorResult {
        operations: latency.count(),
        elapsed,
        concurrency,
        connections,
        latency,
    })
}
