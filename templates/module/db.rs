//! Database access: the SQL statements of the user system. What is written differently for each
//! database (the pool, transactions, row locks, `DELETE ... RETURNING`) is in `db/driver.rs`,
//! re-exported here. A handler that brings tables of its own keeps its statements in its own
//! module (`roles.rs`, `user_admin.rs`, `oauth2.rs`, `email_changes.rs`).
//!
//! Queries are checked at run time (`sqlx::query_as`), so the project builds without a database.

mod driver;
mod lookups;

use std::{sync::LazyLock, time::Duration};

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use super::{error::ApiError, model::User, roles, tokens::Purpose};
pub use driver::{Db, Pool, begin, connect, finish, take_token};
use driver::{EMAIL_MATCHES, LOCK_ROW};
pub use lookups::Lookups;

/// One connection of the pool, in a transaction or not. The functions below that write take any
/// executor: `&pool` for a statement of its own, or `&mut *transaction` to be part of a request's
/// transaction, which hooks get as `&mut Connection`.
pub type Connection = <Db as sqlx::Database>::Connection;

/// A transaction on one connection of the pool.
pub type Transaction = sqlx::Transaction<'static, Db>;

{% filter sql(db=db) -%}
/// The columns of a [`User`], for `SELECT`s.
pub const USER_COLUMNS: &str = "users.id, users.email, users.password_hash, users.is_active, users.is_verified, users.created_at, users.updated_at";

/// Database connections per CPU core. A request holds a connection only while its queries run,
/// so a few per core keep every core busy; more would only queue inside the database.
const CONNECTIONS_PER_CORE: u32 = 4;

/// The size of the connection pool: [`CONNECTIONS_PER_CORE`] per core, at least 4.
fn pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    u32::try_from(cores)
        .unwrap_or(u32::MAX)
        .saturating_mul(CONNECTIONS_PER_CORE)
        .max(4)
}

/// The current time, to the second. Timestamps are stored at this precision so that they compare
/// correctly in every database.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// `now() + ttl`.
pub fn expires_in(ttl: Duration) -> DateTime<Utc> {
    now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX)
}

/// Why a user could not be written.
#[derive(Debug)]
pub enum WriteError {
    /// Another account has this email address (compared without regard to case).
    EmailTaken,
    /// Anything else the database said.
    Database(sqlx::Error),
}

impl From<sqlx::Error> for WriteError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            // The unique index on the email decides, not a check before the insert: two
            // registrations racing for one address cannot both win.
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::EmailTaken,
            _ => Self::Database(error),
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::EmailTaken => ApiError::conflict(
                "email_taken",
                "An account with this email address exists already.",
            ),
            WriteError::Database(error) => error.into(),
        }
    }
}

/// Locks the user's row until the transaction ends and returns it (`None`: no such user). Every
/// transaction that changes an account's access (login, verification, reset, OAuth2 claim) takes
/// this lock before it reads or writes anything else of the account, so they run one after the
/// other and always lock in the same order, the user and then their tokens and links: a login
/// waits for a reset of the same account and then sees the new password hash, and two of them
/// never wait for each other in a circle.
pub async fn lock_user(
    connection: &mut Connection,
    user_id: Uuid,
) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1{LOCK_ROW}");
    sqlx::query_as(&sql)
        .bind(user_id)
        .fetch_optional(&mut *connection)
        .await
}

/// The values of a new account.
pub struct NewUser<'a> {
    /// The email address (stored in its canonical form, see [`super::email::canonical_email`]).
    pub email: &'a str,
    /// The Argon2id hash of the password.
    pub password_hash: String,
    /// Whether the account may log in.
    pub is_active: bool,
    /// Whether the email address counts as verified.
    pub is_verified: bool,
}

/// Creates a user, on the pool or in a transaction (`&mut *transaction`).
pub async fn create_user(
    executor: impl sqlx::Executor<'_, Database = Db>,
    new: NewUser<'_>,
) -> Result<User, WriteError> {
    let user = User::new(
        // Stored in the canonical form, which every look-up compares with.
        super::email::normalize(new.email),
        new.password_hash,
        new.is_active,
        new.is_verified,
        now(),
    );
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, is_active, is_verified, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(user.id)
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(user.is_active)
    .bind(user.is_verified)
    .bind(user.created_at)
    .bind(user.updated_at)
    .execute(executor)
    .await?;
    Ok(user)
}

/// The user with this email address, compared in its canonical form (see `email.rs`).
pub async fn find_user_by_email(
    executor: impl sqlx::Executor<'_, Database = Db>,
    email: &str,
) -> Result<Option<User>, sqlx::Error> {
    // No stored address is this long or holds control characters (a NUL byte is even an error in
    // PostgreSQL text): nobody has it, and the database is not asked.
    if email.len() > super::email::MAX_EMAIL_BYTES || email.chars().any(char::is_control) {
        return Ok(None);
    }
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {EMAIL_MATCHES}");
    // Addresses are stored in their canonical form: compare in that form.
    sqlx::query_as(&sql)
        .bind(super::email::normalize(email))
        .fetch_optional(executor)
        .await
}

/// The user with this id.
pub async fn find_user_by_id(
    executor: impl sqlx::Executor<'_, Database = Db>,
    id: Uuid,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(executor)
        .await
}

/// Writes the changeable fields of `user` back (email, password hash, flags) and bumps
/// `updated_at`.
pub async fn update_user(pool: &Pool, user: &mut User) -> Result<(), WriteError> {
    user.updated_at = now();
    // Stored in the canonical form, which every look-up and the unique index compare with.
    user.email = super::email::normalize(&user.email);
    sqlx::query(
        "UPDATE users SET email = $1, password_hash = $2, is_active = $3, is_verified = $4, updated_at = $5 \
         WHERE id = $6",
    )
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(user.is_active)
    .bind(user.is_verified)
    .bind(user.updated_at)
    .bind(user.id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Stores the hash of a token. The token itself is never stored: someone who reads the database
/// gets no working session or mail link.
pub async fn insert_token(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user_id: Uuid,
    purpose: Purpose,
    token_hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO user_tokens (token_hash, user_id, purpose, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(expires_at)
    .bind(now())
    .execute(executor)
    .await?;
    Ok(())
}

/// Stores the hash of a mailed link's token like [`insert_token`], but only while the user is
/// active and still has the address the link is mailed to (`user.email`): one conditional
/// statement, so a link asked for just before an address change cannot outlive it. Whether it
/// was stored.{% if db == "postgres" %} The user's row is read `FOR SHARE`: a change of address or a
/// deactivation in flight (which holds the row) is waited for, and the row is checked again
/// as it committed, not as the statement's snapshot had it.{% elif db == "mysql" %} The user's row is read `LOCK IN SHARE MODE`: a
/// change of address or a deactivation in flight (which holds the row) is waited for and seen as
/// it committed, whatever the server's isolation level.{% endif %}
pub async fn insert_mail_token(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user: &User,
    purpose: Purpose,
    token_hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO user_tokens (token_hash, user_id, purpose, expires_at, created_at) \
         SELECT $1, id, $2, $3, $4 FROM users WHERE id = $5 AND email = $6 AND is_active{% if db == "postgres" %} \
         FOR SHARE{% elif db == "mysql" %} \
         LOCK IN SHARE MODE{% endif %}",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(expires_at)
    .bind(now())
    .bind(user.id)
    .bind(&user.email)
    .execute(executor)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Stores a credential's hash like [`insert_token`], but only while the user is still active and,
/// when `verified_hash` is given, still has the password hash that the login verified: one
/// conditional statement, so a login that raced a password change, a reset, a deactivation or a
/// deletion gets no credential (and no foreign-key error). Whether it was stored.
pub async fn insert_credential(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user_id: Uuid,
    purpose: Purpose,
    token_hash: &str,
    expires_at: DateTime<Utc>,
    verified_hash: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let mut query = sqlx::QueryBuilder::<Db>::new(
        "INSERT INTO user_tokens (token_hash, user_id, purpose, expires_at, created_at) SELECT ",
    );
    query.push_bind(token_hash).push(", id, ");
    query.push_bind(purpose.as_str()).push(", ");
    query.push_bind(expires_at).push(", ");
    query.push_bind(now());
    query
        .push(" FROM users WHERE is_active AND id = ")
        .push_bind(user_id);
    if let Some(verified_hash) = verified_hash {
        query.push(" AND password_hash = ").push_bind(verified_hash);
    }
    let inserted = query.build().execute(executor).await?;
    Ok(inserted.rows_affected() == 1)
}

/// Whose unexpired token of this purpose this is, read without taking it (the look before a
/// transaction that takes it, so that a wrong token costs no write).
pub async fn token_owner(
    executor: impl sqlx::Executor<'_, Database = Db>,
    purpose: Purpose,
    token_hash: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT user_id FROM user_tokens WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(now())
    .fetch_optional(executor)
    .await
}

/// The active user that holds this unexpired token of this purpose, with their roles when
/// role-management is installed: the check of every authenticated request, in one query (one
/// round trip to the database). Nothing of it is cached, so a revoked token or a deactivated user
/// is refused at once, on every instance. Authenticated requests run it through [`Lookups`].
pub async fn find_user_by_token(
    executor: impl sqlx::Executor<'_, Database = Db>,
    purpose: Purpose,
    token_hash: &str,
) -> Result<Option<User>, sqlx::Error> {
    let now = now();
    let row: Option<roles::LookupRow> = sqlx::query_as(&LOOKUP_SQL)
{%- if "current-user" in handlers %}
        .bind(now)
{%- endif %}
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(executor)
        .await?;
    roles::user_of_lookup(row)
}

/// The statement of [`find_user_by_token`], put together once (its role column comes from
/// `roles.rs`).
static LOOKUP_SQL: LazyLock<String> = LazyLock::new(|| {
    use roles::LOOKUP_COLUMNS;
    format!(
        "SELECT {USER_COLUMNS} \
{%- if "current-user" in handlers %}
         , (SELECT email FROM email_changes WHERE email_changes.user_id = users.id \
         AND email_changes.expires_at > $1) AS pending_email \
{%- endif %}
         {LOOKUP_COLUMNS} FROM users JOIN user_tokens ON user_tokens.user_id = users.id \
{%- if "current-user" in handlers %}
         WHERE user_tokens.token_hash = $2 AND user_tokens.purpose = $3 \
         AND user_tokens.expires_at > $4 AND users.is_active"
{%- else %}
         WHERE user_tokens.token_hash = $1 AND user_tokens.purpose = $2 \
         AND user_tokens.expires_at > $3 AND users.is_active"
{%- endif %}
    )
});

/// Deletes one token.
pub async fn delete_token(pool: &Pool, token_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM user_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes the user's tokens of these purposes, except the one whose hash is `keep` (the
/// credential of the request that asked, so a password change does not log out its own
/// session).
pub async fn delete_user_tokens(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user_id: Uuid,
    purposes: &[Purpose],
    keep: Option<&str>,
) -> Result<(), sqlx::Error> {
    if purposes.is_empty() {
        return Ok(());
    }
    let mut query = sqlx::QueryBuilder::<Db>::new("DELETE FROM user_tokens WHERE user_id = ");
    query.push_bind(user_id);
    query
        .push(" AND token_hash <> ")
        .push_bind(keep.unwrap_or(""));
    query.push(" AND purpose IN (");
    let mut listed = query.separated(", ");
    for purpose in purposes {
        listed.push_bind(purpose.as_str());
    }
    query.push(")");
    query.build().execute(executor).await?;
    Ok(())
}

/// Deletes the user's expired tokens, so the table does not grow without bound.
pub async fn purge_expired_tokens(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM user_tokens WHERE user_id = $1 AND expires_at <= $2")
        .bind(user_id)
        .bind(now())
        .execute(executor)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Writing only what changes, and taking an account back from whoever held it before its owner.

/// Sets the password hash and nothing else, so that a change made meanwhile by someone else (an
/// admin deactivating the account, say) is not undone by writing back an older copy of the row.
pub async fn set_password_hash(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user_id: Uuid,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(now())
        .bind(user_id)
        .execute(executor)
        .await?;
    Ok(())
}

/// Marks the email address verified. Whether this call did it: `false` when it was verified
/// already (or the user is gone), so of two requests racing only one sees the change.
pub async fn mark_verified(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE users SET is_verified = TRUE, updated_at = $1 WHERE id = $2 AND NOT is_verified",
    )
    .bind(now())
    .bind(user_id)
    .execute(executor)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Deletes every token of the user, whatever its purpose: sessions or access tokens, and the
/// links of verification, reset and email-change mails.
pub async fn delete_all_tokens(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM user_tokens WHERE user_id = $1")
        .bind(user_id)
        .execute(executor)
        .await?;
    Ok(())
}

/// What to do when someone proves they own an account's email address (a verification or reset
/// link, or a provider that verified the address): whoever held the account before may have
/// registered it in the owner's name, so everything they could still use is taken away: every
/// token of the user (sessions, access tokens, mail links), and what the installed handlers keep
/// that gives access (with the totp handler, the second factor too). A reset link of a verified
/// account drops less: see [`drop_unproven_access_but_second_factor`].
pub async fn drop_unproven_access(
    connection: &mut Connection,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    drop_unproven_access_but_second_factor(connection, user_id).await?;
{%- if "totp" in handlers %}
    // Two-factor login and its recovery codes: a second factor the claimer set up would lock the
    // owner out, or stay the claimer's.
    crate::{{ module }}::totp::disable(connection, user_id).await?;
{%- endif %}
    Ok(())
}

/// [`drop_unproven_access`] without turning two-factor login off (totp handler): what a reset link
/// of a verified account drops. The link proves the mailbox, not the authenticator app.
pub async fn drop_unproven_access_but_second_factor(
    connection: &mut Connection,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    delete_all_tokens(&mut *connection, user_id).await?;
{%- if "totp" in handlers %}
    // A second factor waiting for its first code: whoever set it up must not turn it on later.
    crate::{{ module }}::totp::drop_pending(&mut *connection, user_id).await?;
{%- endif %}
{%- if "current-user" in handlers %}
    // A pending email change.
    sqlx::query("DELETE FROM email_changes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *connection)
        .await?;
{%- endif %}
{%- if "oauth2" in handlers %}
    // Every linked provider account (link the provider again after this, if it is the one that
    // proved the address).
    sqlx::query("DELETE FROM oauth_accounts WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *connection)
        .await?;
{%- endif %}
    Ok(())
}

// Health (0.2.0).
/// Whether the database answers: one trivial query, for `GET /health`.
pub async fn ping(pool: &Pool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}
{%- endfilter %}
