//! Managing accounts, brought by the user-management handler: the queries behind `GET /users` and
//! `GET`, `PATCH` and `DELETE /users/{id}`{% if db == "sqlite" %}, written for SQLite{% elif db == "postgres" %}, written for PostgreSQL{% else %}, written for MySQL and MariaDB{% endif %}. A change
//! that would leave no active admin is refused, in the same transaction as the change.

use uuid::Uuid;

use super::{
    db::{self, Db, Pool, USER_COLUMNS, WriteError},
    model::User,
    roles::{count_admins, lock_and_count_admins},
};

/// The number of users `GET /users` answers when the request gives no `limit`.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// The largest `limit` `GET /users` accepts.
pub const MAX_PAGE_SIZE: i64 = 500;

{% filter sql(db=db) -%}
/// How many users there are.
pub async fn count_users(pool: &Pool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(pool)
        .await
}

/// At most `limit` users after the first `offset`, oldest account first.
pub async fn list_users(pool: &Pool, limit: i64, offset: i64) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users ORDER BY users.created_at, users.id LIMIT $1 OFFSET $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
}

/// Deletes a user; their tokens and role links go with them (`ON DELETE CASCADE`). Whether the
/// user existed.
pub async fn delete_user(pool: &Pool, id: Uuid) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// The fields of a user that `PATCH /users/{id}` changes; `None` leaves a field as it is.
#[derive(Default)]
pub struct UserChanges<'a> {
    /// A new email address.
    pub email: Option<&'a str>,
    /// A new password hash.
    pub password_hash: Option<String>,
    /// Activates or deactivates the account.
    pub is_active: Option<bool>,
    /// Whether the email address counts as verified.
    pub is_verified: Option<bool>,
}

/// What [`update_user_fields`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserUpdate {
    /// The fields were written.
    Updated,
    /// There is no user with this id.
    NotFound,
    /// Nothing was written: the change would have left no active admin.
    LastAdmin,
}

/// Writes exactly the fields given (and `updated_at`), nothing from an older copy of the row, in
/// the caller's transaction, which holds the user's row from here to its end. It takes the admin
/// lock first (see [`lock_and_count_admins`]) and refuses to deactivate the last active admin; the
/// caller rolls back unless the answer is [`UserUpdate::Updated`].
pub async fn update_user_fields(
    transaction: &mut db::Transaction,
    user_id: Uuid,
    changes: &UserChanges<'_>,
) -> Result<UserUpdate, WriteError> {
    let admins_before = lock_and_count_admins(transaction).await?;
    let mut query = sqlx::QueryBuilder::<Db>::new("UPDATE users SET updated_at = ");
    query.push_bind(db::now());
    if let Some(email) = changes.email {
        query
            .push(", email = ")
            .push_bind(super::email::normalize(email));
    }
    if let Some(password_hash) = &changes.password_hash {
        query.push(", password_hash = ").push_bind(password_hash);
    }
    if let Some(is_active) = changes.is_active {
        query.push(", is_active = ").push_bind(is_active);
    }
    if let Some(is_verified) = changes.is_verified {
        query.push(", is_verified = ").push_bind(is_verified);
    }
    query.push(" WHERE id = ").push_bind(user_id);
    let updated = query.build().execute(&mut **transaction).await?;
    Ok(if updated.rows_affected() == 0 {
        UserUpdate::NotFound
    } else if admins_before > 0 && count_admins(transaction).await? == 0 {
        UserUpdate::LastAdmin
    } else {
        UserUpdate::Updated
    })
}

/// What [`delete_user_keeping_an_admin`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserDeletion {
    /// The user is gone, with their tokens and role links.
    Deleted,
    /// There is no user with this id.
    NotFound,
    /// Nothing was deleted: the user is the last active admin.
    LastAdmin,
}

/// Deletes a user unless they are the last active admin, in one transaction.
pub async fn delete_user_keeping_an_admin(
    pool: &Pool,
    user_id: Uuid,
) -> Result<UserDeletion, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let admins_before = lock_and_count_admins(&mut transaction).await?;
    let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user_id)
        .execute(&mut *transaction)
        .await?;
    let outcome = if deleted.rows_affected() == 0 {
        UserDeletion::NotFound
    } else if admins_before > 0 && count_admins(&mut transaction).await? == 0 {
        UserDeletion::LastAdmin
    } else {
        UserDeletion::Deleted
    };
    if outcome == UserDeletion::Deleted {
        transaction.commit().await?;
        return Ok(outcome);
    }
    transaction.rollback().await?;
    Ok(outcome)
}
{%- endfilter %}
