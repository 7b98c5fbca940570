//! Write transactions on both backends: commit and rollback, commit then
//! fail, and concurrent read-modify-write transactions that must not lose an
//! update or leave a gap, which on PostgreSQL depends on SERIALIZABLE
//! isolation and the reruns of `Database::write`.

use std::path::Path;
use std::time::Duration;

use sqlx::migrate::Migrator;
use storage::{Backend, Committed, Database, DatabaseOptions, Migrators};
use tempfile::TempDir;

const SQLITE_SCHEMA: &str = "CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL);\n\
     INSERT INTO counter (id, value) VALUES (1, 0);\n\
     CREATE TABLE chain (sequence INTEGER PRIMARY KEY, previous TEXT NOT NULL, hash TEXT NOT NULL);\n\
     CREATE TABLE amounts (id TEXT PRIMARY KEY, amount TEXT NOT NULL);\n";
const POSTGRES_SCHEMA: &str = "CREATE TABLE counter (id BIGINT PRIMARY KEY, value BIGINT NOT NULL);\n\
     INSERT INTO counter (id, value) VALUES (1, 0);\n\
     CREATE TABLE chain (sequence BIGINT PRIMARY KEY, previous TEXT NOT NULL, hash TEXT NOT NULL);\n\
     CREATE TABLE amounts (id TEXT PRIMARY KEY, amount NUMERIC NOT NULL);\n";

fn options() -> DatabaseOptions {
    DatabaseOptions {
        max_connections: 8,
        connect_timeout: Duration::from_secs(5),
        sqlite_busy_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(5),
        serialization_retries: 50,
    }
}

/// Builds a migrator that applies `schema` from a file in `directory`.
async fn migrator(directory: &Path, name: &str, schema: &str) -> &'static Migrator {
    let folder = directory.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("0001_test.sql"), schema).unwrap();
    Box::leak(Box::new(Migrator::new(folder).await.unwrap()))
}

/// Opens a new database on each backend, with the test schema.
async fn databases() -> (TempDir, Vec<Database>) {
    let directory = tempfile::tempdir().unwrap();
    let migrators = Migrators {
        sqlite: migrator(directory.path(), "sqlite", SQLITE_SCHEMA).await,
        postgres: migrator(directory.path(), "postgres", POSTGRES_SCHEMA).await,
    };
    let sqlite_url = format!("sqlite://{}", directory.path().join("test.db").display());
    let sqlite = Database::open(&sqlite_url, &options(), migrators).await.unwrap();
    let postgres_url = test_support::postgres_database().await;
    let postgres = Database::open(&postgres_url, &options(), migrators)
        .await
        .unwrap();
    (directory, vec![sqlite, postgres])
}

async fn counter(database: &Database) -> i64 {
    sqlx::query_scalar("SELECT value FROM counter WHERE id = 1")
        .fetch_one(database.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn open_creates_sqlite_file_in_wal_mode() {
    let (directory, databases) = databases().await;
    assert!(directory.path().join("test.db").is_file());
    let sqlite = &databases[0];
    assert_eq!(sqlite.backend(), Backend::Sqlite);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(sqlite.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(databases[1].backend(), Backend::Postgres);
}

#[tokio::test]
async fn unsupported_url_rejected() {
    let migrators = Migrators {
        sqlite: &Migrator::DEFAULT,
        postgres: &Migrator::DEFAULT,
    };
    let error = Database::open("mysql://127.0.0.1/bank", &options(), migrators)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("unsupported database URL"), "{error}");
}

#[tokio::test]
async fn write_commits_ok_and_rolls_back_err() {
    let (_directory, databases) = databases().await;
    for database in &databases {
        database
            .write(|transaction| {
                Box::pin(async move {
                    sqlx::query("UPDATE counter SET value = value + 1 WHERE id = 1")
                        .execute(&mut **transaction)
                        .await?;
                    Ok::<_, sqlx::Error>(())
                })
            })
            .await
            .unwrap();
        let failed = database
            .write(|transaction| {
                Box::pin(async move {
                    sqlx::query("UPDATE counter SET value = value + 100 WHERE id = 1")
                        .execute(&mut **transaction)
                        .await?;
                    Err::<(), _>(sqlx::Error::RowNotFound)
                })
            })
            .await;
        assert!(matches!(failed, Err(sqlx::Error::RowNotFound)));
        assert_eq!(counter(database).await, 1, "{:?}", database.backend());
    }
}

#[tokio::test]
async fn committed_error_keeps_changes() {
    let (_directory, databases) = databases().await;
    for database in &databases {
        let result = database
            .write_committed(|transaction| {
                Box::pin(async move {
                    sqlx::query("UPDATE counter SET value = 7 WHERE id = 1")
                        .execute(&mut **transaction)
                        .await?;
                    Ok::<Committed<(), sqlx::Error>, sqlx::Error>(Committed::Error(sqlx::Error::RowNotFound))
                })
            })
            .await;
        assert!(matches!(result, Err(sqlx::Error::RowNotFound)));
        assert_eq!(counter(database).await, 7, "{:?}", database.backend());
    }
}

#[tokio::test]
async fn decimals_round_trip_as_written() {
    let (_directory, databases) = databases().await;
    static INSERT: storage::BackendSql = storage::BackendSql::new(|backend| {
        format!(
            "INSERT INTO amounts (id, amount) VALUES ($1, {})",
            storage::decimal_param(backend, 2)
        )
    });
    for database in &databases {
        for (id, amount) in [("a", "80000.00"), ("b", "1.10"), ("c", "3"), ("d", "0.000001")] {
            database
                .write(|transaction| {
                    Box::pin(async move {
                        sqlx::query(INSERT.for_connection(transaction))
                            .bind(id)
                            .bind(amount)
                            .execute(&mut **transaction)
                            .await
                    })
                })
                .await
                .unwrap();
        }
        let stored: Vec<String> = sqlx::query_scalar("SELECT CAST(amount AS TEXT) FROM amounts ORDER BY id")
            .fetch_all(database.pool())
            .await
            .unwrap();
        assert_eq!(
            stored,
            ["80000.00", "1.10", "3", "0.000001"],
            "{:?}",
            database.backend()
        );
    }
}

#[tokio::test]
async fn concurrent_increments_lose_nothing() {
    const TASKS: i64 = 16;
    const INCREMENTS: i64 = 10;
    let (_directory, databases) = databases().await;
    for database in &databases {
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let database = database.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..INCREMENTS {
                    database
                        .write(|transaction| {
                            Box::pin(async move {
                                let value: i64 = sqlx::query_scalar("SELECT value FROM counter WHERE id = 1")
                                    .fetch_one(&mut **transaction)
                                    .await?;
                                sqlx::query("UPDATE counter SET value = $1 WHERE id = 1")
                                    .bind(value + 1)
                                    .execute(&mut **transaction)
                                    .await?;
                                Ok::<_, sqlx::Error>(())
                            })
                        })
                        .await
                        .expect("the increment commits, after reruns if needed");
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            counter(database).await,
            TASKS * INCREMENTS,
            "{:?}",
            database.backend()
        );
    }
}

/// The audit log's pattern: each record takes the last sequence plus one
/// and the last record's hash.
#[tokio::test]
async fn concurrent_appends_stay_gap_free_and_chained() {
    const TASKS: usize = 16;
    const APPENDS: usize = 12;
    let (_directory, databases) = databases().await;
    for database in &databases {
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let database = database.clone();
            tasks.push(tokio::spawn(async move {
                for append in 0..APPENDS {
                    database
                        .write(|transaction| {
                            Box::pin(async move {
                                let last: Option<(i64, String)> = sqlx::query_as(
                                    "SELECT sequence, hash FROM chain ORDER BY sequence DESC LIMIT 1",
                                )
                                .fetch_optional(&mut **transaction)
                                .await?;
                                let (sequence, previous) = match last {
                                    Some((sequence, hash)) => (sequence + 1, hash),
                                    None => (1, "genesis".to_owned()),
                                };
                                sqlx::query(
                                    "INSERT INTO chain (sequence, previous, hash) VALUES ($1, $2, $3)",
                                )
                                .bind(sequence)
                                .bind(&previous)
                                .bind(format!("{sequence}/{task}/{append}"))
                                .execute(&mut **transaction)
                                .await?;
                                Ok::<_, sqlx::Error>(())
                            })
                        })
                        .await
                        .expect("the append commits, after reruns if needed");
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let rows: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT sequence, previous, hash FROM chain ORDER BY sequence")
                .fetch_all(database.pool())
                .await
                .unwrap();
        assert_eq!(rows.len(), TASKS * APPENDS, "{:?}", database.backend());
        let mut previous_hash = "genesis".to_owned();
        for (index, (sequence, previous, hash)) in rows.iter().enumerate() {
            assert_eq!(*sequence, index as i64 + 1, "{:?}: gap", database.backend());
            assert_eq!(
                *previous,
                previous_hash,
                "{:?}: broken chain at {sequence}",
                database.backend()
            );
            previous_hash = hash.clone();
        }
    }
}

/// With the table lock, the audit log's read-last-then-insert appends wait
/// for each other instead of conflicting, so none needs a rerun: with zero
/// reruns allowed, every one still commits.
#[tokio::test]
async fn serialized_appends_need_no_reruns_on_postgres() {
    const TASKS: usize = 8;
    const APPENDS: usize = 10;
    let directory = tempfile::tempdir().unwrap();
    let migrators = Migrators {
        sqlite: migrator(directory.path(), "sqlite", SQLITE_SCHEMA).await,
        postgres: migrator(directory.path(), "postgres", POSTGRES_SCHEMA).await,
    };
    let no_reruns = DatabaseOptions {
        serialization_retries: 0,
        ..options()
    };
    let database = Database::open(&test_support::postgres_database().await, &no_reruns, migrators)
        .await
        .unwrap()
        .serialize_writes_on("chain");

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let database = database.clone();
        tasks.push(tokio::spawn(async move {
            for append in 0..APPENDS {
                database
                    .write(|transaction| {
                        Box::pin(async move {
                            let next: i64 =
                                sqlx::query_scalar("SELECT COALESCE(MAX(sequence), 0) + 1 FROM chain")
                                    .fetch_one(&mut **transaction)
                                    .await?;
                            sqlx::query("INSERT INTO chain (sequence, previous, hash) VALUES ($1, $2, $3)")
                                .bind(next)
                                .bind("previous")
                                .bind(format!("{task}/{append}"))
                                .execute(&mut **transaction)
                                .await?;
                            Ok::<_, sqlx::Error>(())
                        })
                    })
                    .await
                    .expect("the append commits without a rerun");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chain")
        .fetch_one(database.pool())
        .await
        .unwrap();
    assert_eq!(count, (TASKS * APPENDS) as i64);
}

#[tokio::test]
async fn statement_timeout_is_transient_on_postgres() {
    let directory = tempfile::tempdir().unwrap();
    let migrators = Migrators {
        sqlite: migrator(directory.path(), "sqlite", SQLITE_SCHEMA).await,
        postgres: migrator(directory.path(), "postgres", POSTGRES_SCHEMA).await,
    };
    let mut options = options();
    options.statement_timeout = Duration::from_millis(100);
    let database = Database::open(&test_support::postgres_database().await, &options, migrators)
        .await
        .unwrap();
    let error = sqlx::query("SELECT pg_sleep(2)")
        .execute(database.pool())
        .await
        .unwrap_err();
    assert!(storage::is_transient(&error), "{error}");
}
