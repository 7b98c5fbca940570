//! The two migration folders of each service, migrations/sqlite and
//! migrations/postgres, must create the same tables, columns, nullability
//! and named indexes, with PostgreSQL's types for SQLite's. These tests use
//! PostgreSQL whatever BANK_TEST_BACKEND is.

use std::collections::BTreeSet;
use std::time::Duration;

use sqlx::AnyPool;
use storage::DatabaseOptions;

/// A column as (table, column, type, NOT NULL).
type Column = (String, String, String, bool);

fn options() -> DatabaseOptions {
    DatabaseOptions {
        max_connections: 2,
        connect_timeout: Duration::from_secs(5),
        sqlite_busy_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(5),
        serialization_retries: 0,
    }
}

/// Reads the columns and named indexes of a migrated SQLite database.
async fn sqlite_schema(pool: &AnyPool) -> (BTreeSet<Column>, BTreeSet<String>) {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut columns = BTreeSet::new();
    for table in tables {
        let rows: Vec<(String, String, i64, i64)> =
            sqlx::query_as("SELECT name, type, \"notnull\", pk FROM pragma_table_info($1)")
                .bind(&table)
                .fetch_all(pool)
                .await
                .unwrap();
        for (column, column_type, not_null, primary_key) in rows {
            // PostgreSQL makes primary key columns NOT NULL, and SQLite
            // only when the column is declared NOT NULL.
            columns.insert((
                table.clone(),
                column,
                column_type,
                not_null != 0 || primary_key != 0,
            ));
        }
    }
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    (columns, indexes.into_iter().collect())
}

/// Reads the columns and named indexes of a migrated PostgreSQL database.
/// Indexes that PostgreSQL names after constraints (`*_pkey`, `*_key`) have
/// no name in SQLite and are left out.
async fn postgres_schema(pool: &AnyPool) -> (BTreeSet<Column>, BTreeSet<String>) {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT), CAST(data_type AS TEXT), \
         CAST(is_nullable AS TEXT) FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let columns = rows
        .into_iter()
        .map(|(table, column, column_type, nullable)| (table, column, column_type, nullable == "NO"))
        .collect();
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(indexname AS TEXT) FROM pg_indexes WHERE schemaname = 'public' \
         AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    (columns, indexes.into_iter().collect())
}

/// True when `postgres` is the PostgreSQL type this project uses for the
/// SQLite type `sqlite`. TEXT is NUMERIC for money and rates.
fn same_type(sqlite: &str, postgres: &str) -> bool {
    matches!(
        (sqlite, postgres),
        ("INTEGER", "bigint") | ("BLOB", "bytea") | ("TEXT", "text") | ("TEXT", "numeric")
    )
}

/// Asserts that the two schemas have the same columns, types and named
/// indexes.
fn assert_equivalent(
    service: &str,
    sqlite: (BTreeSet<Column>, BTreeSet<String>),
    postgres: (BTreeSet<Column>, BTreeSet<String>),
) {
    let key = |columns: &BTreeSet<Column>| -> BTreeSet<(String, String, bool)> {
        columns
            .iter()
            .map(|(table, column, _, not_null)| (table.clone(), column.clone(), *not_null))
            .collect()
    };
    assert_eq!(
        key(&sqlite.0),
        key(&postgres.0),
        "{service}: columns or NOT NULL differ"
    );
    for (table, column, sqlite_type, _) in &sqlite.0 {
        let postgres_type = postgres
            .0
            .iter()
            .find(|(other_table, other_column, _, _)| other_table == table && other_column == column)
            .map(|(_, _, column_type, _)| column_type.as_str())
            .unwrap_or_default();
        assert!(
            same_type(sqlite_type, postgres_type),
            "{service}: {table}.{column} is {sqlite_type} on SQLite but {postgres_type} on PostgreSQL"
        );
    }
    assert_eq!(sqlite.1, postgres.1, "{service}: named indexes differ");
}

#[tokio::test]
async fn deposit_status_migrations_equivalent() {
    let directory = tempfile::tempdir().unwrap();
    let sqlite_url = format!(
        "sqlite://{}",
        directory.path().join("deposit-status.db").display()
    );
    let postgres_url = test_support::postgres_database().await;
    deposit_status::store::open(&sqlite_url, &options())
        .await
        .unwrap();
    deposit_status::store::open(&postgres_url, &options())
        .await
        .unwrap();

    let sqlite = sqlite_schema(&test_support::connect(&sqlite_url).await).await;
    let postgres = postgres_schema(&test_support::connect(&postgres_url).await).await;
    assert!(!sqlite.0.is_empty(), "no tables on SQLite");
    assert_equivalent("deposit-status", sqlite, postgres);
}

#[tokio::test]
async fn withdrawal_authorization_migrations_equivalent() {
    let directory = tempfile::tempdir().unwrap();
    let sqlite_url = format!(
        "sqlite://{}",
        directory.path().join("withdrawal-authorization.db").display()
    );
    let postgres_url = test_support::postgres_database().await;
    withdrawal_authorization::store::open(&sqlite_url, &options())
        .await
        .unwrap();
    withdrawal_authorization::store::open(&postgres_url, &options())
        .await
        .unwrap();

    let sqlite = sqlite_schema(&test_support::connect(&sqlite_url).await).await;
    let postgres = postgres_schema(&test_support::connect(&postgres_url).await).await;
    assert!(!sqlite.0.is_empty(), "no tables on SQLite");
    assert_equivalent("withdrawal-authorization", sqlite, postgres);
}
