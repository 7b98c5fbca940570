//! The engine behind a URL or a connection, and the few places where the
//! SQL text differs between them.

use std::sync::OnceLock;

use sqlx::AnyConnection;

/// The database engine behind a database URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite: one file, one writer at a time.
    Sqlite,
    /// PostgreSQL, or an engine that speaks its protocol and SQL.
    Postgres,
}

impl Backend {
    /// Returns the backend a database URL names: PostgreSQL for
    /// `postgres://` and `postgresql://`, SQLite for `sqlite:`, and `None`
    /// for any other scheme.
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else {
            None
        }
    }

    /// Returns the backend of an open connection.
    pub fn of(connection: &AnyConnection) -> Backend {
        if connection.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// Returns the name used in logs and messages.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// Returns the placeholder of parameter `index` when it carries a decimal
/// (money or a rate) as exact text.
///
/// SQLite stores the text as written, so the placeholder is plain `$index`;
/// `CAST(... AS NUMERIC)` there would turn "1.10" into the float 1.1. A
/// PostgreSQL NUMERIC column accepts no text parameter without a cast, so
/// there it is `CAST($index AS NUMERIC)`.
pub fn decimal_param(backend: Backend, index: usize) -> String {
    match backend {
        Backend::Sqlite => format!("${index}"),
        Backend::Postgres => format!("CAST(${index} AS NUMERIC)"),
    }
}

/// SQL text that depends on the backend, built once per backend on first
/// use. Declare it as a `static` so that the text lives as long as the
/// program, as sqlx's statement cache expects of `&'static str` queries.
pub struct BackendSql {
    build: fn(Backend) -> String,
    sqlite: OnceLock<String>,
    postgres: OnceLock<String>,
}

impl BackendSql {
    /// Creates the text that `build` writes for each backend.
    pub const fn new(build: fn(Backend) -> String) -> Self {
        BackendSql {
            build,
            sqlite: OnceLock::new(),
            postgres: OnceLock::new(),
        }
    }

    /// Returns the text for `backend`.
    pub fn get(&'static self, backend: Backend) -> &'static str {
        let cell = match backend {
            Backend::Sqlite => &self.sqlite,
            Backend::Postgres => &self.postgres,
        };
        cell.get_or_init(|| (self.build)(backend))
    }

    /// Returns the text for the backend of `connection`.
    pub fn for_connection(&'static self, connection: &AnyConnection) -> &'static str {
        self.get(Backend::of(connection))
    }
}

/// Returns `url` with its database name replaced by `database`, keeping the
/// user, password, host, port and query parameters: the URL of another
/// database on the same PostgreSQL server.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |index| authority_start + index);
    let mut result = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_database() {
        assert_eq!(
            with_database("postgres://bank:secret@127.0.0.1:5432/postgres", "t1"),
            "postgres://bank:secret@127.0.0.1:5432/t1"
        );
    }

    #[test]
    fn with_database_adds_missing_database() {
        assert_eq!(
            with_database("postgres://bank:secret@db:5432", "bank_load_x"),
            "postgres://bank:secret@db:5432/bank_load_x"
        );
    }

    #[test]
    fn with_database_keeps_query() {
        assert_eq!(
            with_database("postgresql://db/postgres?sslmode=disable", "bank_load_x"),
            "postgresql://db/bank_load_x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://127.0.0.1:5432?sslmode=disable", "t1"),
            "postgresql://127.0.0.1:5432/t1?sslmode=disable"
        );
    }

    #[test]
    fn url_schemes_select_backend() {
        assert_eq!(Backend::from_url("sqlite://bank.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::from_url("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(
            Backend::from_url("postgres://bank@127.0.0.1/bank"),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://bank@127.0.0.1/bank"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::from_url("mysql://bank@127.0.0.1/bank"), None);
    }

    #[test]
    fn decimal_param_casts_only_on_postgres() {
        assert_eq!(decimal_param(Backend::Sqlite, 3), "$3");
        assert_eq!(decimal_param(Backend::Postgres, 3), "CAST($3 AS NUMERIC)");
    }

    #[test]
    fn backend_sql_built_per_backend() {
        static SQL: BackendSql =
            BackendSql::new(|backend| format!("UPDATE t SET amount = {}", decimal_param(backend, 1)));
        assert_eq!(SQL.get(Backend::Sqlite), "UPDATE t SET amount = $1");
        assert_eq!(
            SQL.get(Backend::Postgres),
            "UPDATE t SET amount = CAST($1 AS NUMERIC)"
        );
    }
}
