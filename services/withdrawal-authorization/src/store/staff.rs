//! The staff directory: members and their public keys.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use storage::{BackendSql, decimal_param, format_instant};

use super::{StoreError, instant, optional_instant};

/// A staff member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Teller,
    Supervisor,
    Auditor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Teller => "teller",
            Role::Supervisor => "supervisor",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "teller" => Ok(Role::Teller),
            "supervisor" => Ok(Role::Supervisor),
            "auditor" => Ok(Role::Auditor),
            "admin" => Ok(Role::Admin),
            other => Err(StoreError::Corrupt {
                table: "staff",
                column: "role",
                value: other.to_owned(),
            }),
        }
    }
}

/// A staff member as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRow {
    pub staff_id: String,
    pub name: String,
    pub branch_id: String,
    pub role: Role,
    /// For supervisors: the largest payout they may co-sign, with its
    /// currency.
    pub approval_limit: Option<(Decimal, String)>,
    pub active: bool,
    pub enrolled_at: DateTime<Utc>,
    pub deactivated_at: Option<DateTime<Utc>>,
}

/// A public key of a staff member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffKeyRow {
    pub key_id: String,
    pub staff_id: String,
    pub public_key: Vec<u8>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn staff_from_row(row: &AnyRow) -> Result<StaffRow, StoreError> {
    let limit: Option<String> = row.try_get("approval_limit")?;
    let currency: Option<String> = row.try_get("limit_currency")?;
    let approval_limit = match (limit, currency) {
        (Some(limit), Some(currency)) => Some((
            Decimal::from_str_exact(&limit).map_err(|_| StoreError::Corrupt {
                table: "staff",
                column: "approval_limit",
                value: limit.clone(),
            })?,
            currency,
        )),
        _ => None,
    };
    Ok(StaffRow {
        staff_id: row.try_get("staff_id")?,
        name: row.try_get("name")?,
        branch_id: row.try_get("branch_id")?,
        role: Role::parse(&row.try_get::<String, _>("role")?)?,
        approval_limit,
        active: row.try_get::<i64, _>("active")? != 0,
        enrolled_at: instant("staff", "enrolled_at", &row.try_get::<String, _>("enrolled_at")?)?,
        deactivated_at: optional_instant("staff", "deactivated_at", row.try_get("deactivated_at")?)?,
    })
}

fn key_from_row(row: &AnyRow) -> Result<StaffKeyRow, StoreError> {
    Ok(StaffKeyRow {
        key_id: row.try_get("key_id")?,
        staff_id: row.try_get("staff_id")?,
        public_key: row.try_get("public_key")?,
        valid_from: instant(
            "staff_keys",
            "valid_from",
            &row.try_get::<String, _>("valid_from")?,
        )?,
        valid_until: optional_instant("staff_keys", "valid_until", row.try_get("valid_until")?)?,
        revoked_at: optional_instant("staff_keys", "revoked_at", row.try_get("revoked_at")?)?,
    })
}

/// The columns of a staff member; the approval limit is read as text, which
/// keeps its scale on both backends.
const STAFF_COLUMNS: &str = "staff_id, name, branch_id, role, CAST(approval_limit AS TEXT) AS approval_limit, \
                             limit_currency, active, enrolled_at, deactivated_at";

static INSERT_STAFF: BackendSql = BackendSql::new(|backend| {
    format!(
        "INSERT INTO staff (staff_id, name, branch_id, role, approval_limit, limit_currency, active, enrolled_at) \
         VALUES ($1, $2, $3, $4, {}, $6, $7, $8)",
        decimal_param(backend, 5)
    )
});
const KEY_COLUMNS: &str = "key_id, staff_id, public_key, valid_from, valid_until, revoked_at";

pub async fn find_staff(
    connection: &mut AnyConnection,
    staff_id: &str,
) -> Result<Option<StaffRow>, StoreError> {
    let sql = format!("SELECT {STAFF_COLUMNS} FROM staff WHERE staff_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(staff_id)
        .fetch_optional(connection)
        .await?;
    row.as_ref().map(staff_from_row).transpose()
}

/// Lists staff ordered by id, of one branch or of all when `branch_id` is
/// empty.
pub async fn list_staff(
    connection: &mut AnyConnection,
    branch_id: &str,
) -> Result<Vec<StaffRow>, StoreError> {
    let sql = format!("SELECT {STAFF_COLUMNS} FROM staff WHERE $1 = '' OR branch_id = $1 ORDER BY staff_id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(branch_id)
        .fetch_all(connection)
        .await?;
    rows.iter().map(staff_from_row).collect()
}

pub async fn insert_staff(connection: &mut AnyConnection, staff: &StaffRow) -> Result<(), StoreError> {
    sqlx::query(INSERT_STAFF.for_connection(connection))
        .bind(&staff.staff_id)
        .bind(&staff.name)
        .bind(&staff.branch_id)
        .bind(staff.role.as_str())
        .bind(staff.approval_limit.as_ref().map(|(limit, _)| limit.to_string()))
        .bind(
            staff
                .approval_limit
                .as_ref()
                .map(|(_, currency)| currency.clone()),
        )
        .bind(i64::from(staff.active))
        .bind(format_instant(staff.enrolled_at))
        .execute(connection)
        .await?;
    Ok(())
}

pub async fn deactivate_staff(
    connection: &mut AnyConnection,
    staff_id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE staff SET active = 0, deactivated_at = $2 WHERE staff_id = $1 AND active = 1")
        .bind(staff_id)
        .bind(format_instant(at))
        .execute(connection)
        .await?;
    Ok(())
}

pub async fn find_staff_key(
    connection: &mut AnyConnection,
    key_id: &str,
) -> Result<Option<StaffKeyRow>, StoreError> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM staff_keys WHERE key_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key_id)
        .fetch_optional(connection)
        .await?;
    row.as_ref().map(key_from_row).transpose()
}

pub async fn list_staff_keys(
    connection: &mut AnyConnection,
    staff_id: &str,
) -> Result<Vec<StaffKeyRow>, StoreError> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM staff_keys WHERE staff_id = $1 ORDER BY valid_from, key_id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(staff_id)
        .fetch_all(connection)
        .await?;
    rows.iter().map(key_from_row).collect()
}

/// Adds a key. Fails with a unique violation when the key is enrolled
/// already, for this member or another.
pub async fn insert_staff_key(connection: &mut AnyConnection, key: &StaffKeyRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO staff_keys (key_id, staff_id, public_key, valid_from, valid_until) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&key.key_id)
    .bind(&key.staff_id)
    .bind(&key.public_key)
    .bind(format_instant(key.valid_from))
    .bind(key.valid_until.map(format_instant))
    .execute(connection)
    .await?;
    Ok(())
}

/// Revokes a key of `staff_id`. Returns false when the member has no such
/// key.
pub async fn revoke_staff_key(
    connection: &mut AnyConnection,
    staff_id: &str,
    key_id: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE staff_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE staff_id = $1 AND key_id = $2",
    )
    .bind(staff_id)
    .bind(key_id)
    .bind(format_instant(at))
    .execute(connection)
    .await?;
    Ok(result.rows_affected() == 1)
}
