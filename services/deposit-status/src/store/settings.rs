//! Named settings stored in the database, shared by every replica.

use sqlx::AnyConnection;

use super::StoreError;

/// Returns the value of setting `name`, if set.
pub async fn get_setting(connection: &mut AnyConnection, name: &str) -> Result<Option<String>, StoreError> {
    let value = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_optional(connection)
        .await?;
    Ok(value)
}

/// Sets `name` to `value`, or removes it when `value` is `None`.
pub async fn put_setting(
    connection: &mut AnyConnection,
    name: &str,
    value: Option<&str>,
) -> Result<(), StoreError> {
    match value {
        Some(value) => {
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(name)
            .bind(value)
            .execute(connection)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM settings WHERE name = $1")
                .bind(name)
                .execute(connection)
                .await?;
        }
    }
    Ok(())
}
