//! Pending email changes (the current-user handler's `email_changes` table): a change of address
//! waits here for the link mailed to the new address.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::db::{Connection, Db, Pool, WriteError, now};

{% filter sql(db=db) -%}
/// A change of email address waiting for the link mailed to the new address.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EmailChange {
    /// Whose address changes.
    pub user_id: Uuid,
    /// The new address: the link's token is bound to it.
    pub email: String,
    /// Until when the link works.
    pub expires_at: DateTime<Utc>,
}

/// Stores a pending email change with the hash of its link's token. A user has at most one: a new
/// change replaces the older one, whose link stops working. `Ok(false)` when the user was deleted
/// meanwhile (the foreign key refuses the row).
pub async fn store_email_change(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user_id: Uuid,
    email: &str,
    token_hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
{%- if db == "mysql" %}
    let sql = "INSERT INTO email_changes (user_id, email, token_hash, expires_at, created_at) \
               VALUES ($1, $2, $3, $4, $5) \
               ON DUPLICATE KEY UPDATE email = VALUES(email), token_hash = VALUES(token_hash), \
               expires_at = VALUES(expires_at), created_at = VALUES(created_at)";
{%- else %}
    let sql = "INSERT INTO email_changes (user_id, email, token_hash, expires_at, created_at) \
               VALUES ($1, $2, $3, $4, $5) \
               ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, \
               token_hash = excluded.token_hash, expires_at = excluded.expires_at, \
               created_at = excluded.created_at";
{%- endif %}
    let stored = sqlx::query(sql)
        .bind(user_id)
        .bind(super::email::normalize(email))
        .bind(token_hash)
        .bind(expires_at)
        .bind(now())
        .execute(executor)
        .await;
    match stored {
        Ok(_) => Ok(true),
        // A user deleted while their request ran: an answer for the caller, not a server error.
        Err(sqlx::Error::Database(error)) if error.is_foreign_key_violation() => Ok(false),
        Err(error) => Err(error),
    }
}

/// Deletes the user's pending email change, if any: its link stops working. Called when the
/// password changes or is reset, the account is deactivated or its address changes, and when the
/// user cancels the change.
pub async fn delete_email_change(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM email_changes WHERE user_id = $1")
        .bind(user_id)
        .execute(executor)
        .await?;
    Ok(())
}

/// The address the user is changing to, while its link has not expired.
pub async fn pending_email(pool: &Pool, user_id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT email FROM email_changes WHERE user_id = $1 AND expires_at > $2")
        .bind(user_id)
        .bind(now())
        .fetch_optional(pool)
        .await
}

/// Whose pending email change has a link with this token hash, read without taking it (the look
/// before the transaction that takes it).
pub async fn email_change_owner(
    executor: impl sqlx::Executor<'_, Database = Db>,
    token_hash: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT user_id FROM email_changes WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(executor)
        .await
}

/// Deletes the pending change whose link has this token hash and returns it, if it existed and
/// has not expired. Of two requests racing with the same link only one gets it.
pub async fn take_email_change(
    connection: &mut Connection,
    token_hash: &str,
) -> Result<Option<EmailChange>, sqlx::Error> {
{%- if db == "mysql" %}
    // MySQL has no `DELETE ... RETURNING`: read, then delete, and count the change as taken only
    // if this request's delete removed the row.
    let sql = "SELECT user_id, email, expires_at FROM email_changes WHERE token_hash = $1";
    let change: Option<EmailChange> = sqlx::query_as(sql)
        .bind(token_hash)
        .fetch_optional(&mut *connection)
        .await?;
    let Some(change) = change else {
        return Ok(None);
    };
    let deleted = sqlx::query("DELETE FROM email_changes WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *connection)
        .await?;
    let change = Some(change).filter(|_| deleted.rows_affected() == 1);
{%- else %}
    let change: Option<EmailChange> = sqlx::query_as(
        "DELETE FROM email_changes WHERE token_hash = $1 RETURNING user_id, email, expires_at",
    )
    .bind(token_hash)
    .fetch_optional(&mut *connection)
    .await?;
{%- endif %}
    Ok(change.filter(|change| change.expires_at > now()))
}

/// Switches an active user's address to `email` and marks it verified (its owner used the link
/// mailed to it). `Ok(false)` when the user is gone or inactive; `EmailTaken` when another
/// account took the address meanwhile (the unique index decides).
pub async fn switch_email(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user_id: Uuid,
    email: &str,
) -> Result<bool, WriteError> {
    let updated = sqlx::query(
        "UPDATE users SET email = $1, is_verified = TRUE, updated_at = $2 WHERE id = $3 AND is_active",
    )
    .bind(super::email::normalize(email))
    .bind(now())
    .bind(user_id)
    .execute(executor)
    .await?;
    Ok(updated.rows_affected() == 1)
}
{%- endfilter %}
