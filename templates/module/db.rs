//! Database access: every SQL statement of the user system lives here{% if db == "sqlite" %}, written for SQLite{% elif db == "postgres" %}, written for PostgreSQL{% else %}, written for MySQL and MariaDB{% endif %}.
//!
//! Queries are checked at run time (`sqlx::query_as`), so the project builds without a database.

{% if db == "sqlite" -%}
use std::{str::FromStr, time::Duration};

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};
{%- elif db == "postgres" -%}
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{Connection, PgPool, Postgres, migrate::MigrateDatabase, postgres::PgPoolOptions};
{%- else -%}
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{Connection, MySql, MySqlPool, migrate::MigrateDatabase, mysql::MySqlPoolOptions};
{%- endif %}
use uuid::Uuid;

{% if "role-management" in handlers -%}
use super::{
    error::ApiError,
    model::{Role, User},
    tokens::Purpose,
};
{%- else -%}
use super::{error::ApiError, model::User, tokens::Purpose};
{%- endif %}

/// The connection pool.
{%- if db == "sqlite" %}
pub type Pool = SqlitePool;
{%- elif db == "postgres" %}
pub type Pool = PgPool;
{%- else %}
pub type Pool = MySqlPool;
{%- endif %}

/// The database driver, for functions that run on the pool or inside a transaction.
{%- if db == "sqlite" %}
pub type Db = sqlx::Sqlite;
{%- elif db == "postgres" %}
pub type Db = Postgres;
{%- else %}
pub type Db = MySql;
{%- endif %}

{% filter sql(db=db) -%}
/// The columns of a [`User`], for `SELECT`s.
const USER_COLUMNS: &str = "users.id, users.email, users.password_hash, users.is_active, users.is_verified, users.created_at, users.updated_at";

/// Database connections per CPU core. A request holds a connection only while its queries run,
/// so a few per core keep every core busy; more would only queue inside the database.
const CONNECTIONS_PER_CORE: u32 = 4;
{%- if db != "sqlite" %}
/// A pooled connection idle for longer than this is checked with a round trip before use.
const CHECK_IDLE_CONNECTIONS_AFTER: Duration = Duration::from_secs(10);
{%- endif %}

/// The size of the connection pool: [`CONNECTIONS_PER_CORE`] per core, at least 4.
fn pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    u32::try_from(cores)
        .unwrap_or(u32::MAX)
        .saturating_mul(CONNECTIONS_PER_CORE)
        .max(4)
}

/// Connects to `DATABASE_URL` and brings the schema up to date with the migrations in
/// `migrations/`.
pub async fn connect(database_url: &str) -> Result<Pool, sqlx::Error> {
{%- if db == "sqlite" %}
    let options = SqliteConnectOptions::from_str(database_url)?
        .create_if_missing(true)
        .foreign_keys(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        // The connections are files in this process, which no server restart can break: sqlx's
        // check of every connection it hands out would double the cost of each query.
        .test_before_acquire(false)
        .max_connections(pool_size())
        .connect_with(options)
        .await?;
{%- else %}
    // Like SQLite creating its file: the first start creates the database.
    if !{% if db == "postgres" %}Postgres{% else %}MySql{% endif %}::database_exists(database_url).await? {
        let created = {% if db == "postgres" %}Postgres{% else %}MySql{% endif %}::create_database(database_url).await;
        // Instances started together race to create it: one wins, the others use it.
        if created.is_err() && !{% if db == "postgres" %}Postgres{% else %}MySql{% endif %}::database_exists(database_url).await? {
            created?;
        }
    }
    let pool = {% if db == "postgres" %}PgPoolOptions{% else %}MySqlPoolOptions{% endif %}::new()
        .acquire_timeout(Duration::from_secs(10))
        .max_connections(pool_size())
        // sqlx checks every connection it hands out with a round trip to the server by default,
        // which doubles the cost of each query. A connection used in the last few seconds is known
        // to work; one idle longer (the server may have restarted meanwhile) is still checked.
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for > CHECK_IDLE_CONNECTIONS_AFTER {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
        .connect(database_url)
        .await?;
{%- endif %}
{%- if db == "mysql" %}
    migrate_locked(&pool).await?;
{%- else %}
    // The migrator holds a database lock while it runs{% if db == "postgres" %} (an advisory lock){% endif %}, so instances
    // started together apply each migration once.
    sqlx::migrate!().run(&pool).await?;
{%- endif %}
    Ok(pool)
}

{% if db == "mysql" -%}
// Start-up of instances together (0.2.0).
/// How long an instance waits for another one to finish migrating, at start-up.
const MIGRATION_LOCK_SECONDS: u64 = 300;

/// Runs the migrations while holding a named lock of this database, so that instances started
/// together apply each migration once. sqlx's migrator takes `GET_LOCK(name, -1)`, which MariaDB
/// answers at once without the lock (it takes no negative timeout): a second instance would then
/// see the first one's migration half done and refuse to start.
async fn migrate_locked(pool: &Pool) -> Result<(), sqlx::Error> {
    let mut connection = pool.acquire().await?;
    let locked: Option<i64> =
        sqlx::query_scalar("SELECT GET_LOCK(CONCAT(DATABASE(), '.cargo_users_migrations'), ?)")
            .bind(MIGRATION_LOCK_SECONDS)
            .fetch_one(&mut *connection)
            .await?;
    if locked != Some(1) {
        return Err(sqlx::Error::Protocol(format!(
            "another instance held the migration lock for over {MIGRATION_LOCK_SECONDS} s"
        )));
    }
    let migrated = sqlx::migrate!().run(&mut *connection).await;
    // The lock also ends with the connection, should this fail.
    let _ = sqlx::query("SELECT RELEASE_LOCK(CONCAT(DATABASE(), '.cargo_users_migrations'))")
        .execute(&mut *connection)
        .await;
    migrated?;
    Ok(())
}

{% endif -%}
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
            WriteError::Database(error) => ApiError::internal(error),
        }
    }
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

/// Creates a user.
pub async fn create_user(pool: &Pool, new: NewUser<'_>) -> Result<User, WriteError> {
{%- if "role-management" in handlers %}
    insert_user(pool, new).await
}

/// Creates a user with these roles, all or nothing (in one transaction).
pub async fn create_user_with_roles(
    pool: &Pool,
    new: NewUser<'_>,
    roles: Vec<Role>,
) -> Result<User, WriteError> {
    let mut roles = roles;
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    roles.dedup_by_key(|role| role.id);
    let mut transaction = pool.begin().await?;
    let mut user = insert_user(&mut *transaction, new).await?;
    for role in &roles {
        sqlx::query("INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)")
            .bind(user.id)
            .bind(role.id)
            .execute(&mut *transaction)
            .await?;
    }
    transaction.commit().await?;
    user.roles = roles;
    Ok(user)
}

async fn insert_user<'c>(
    executor: impl sqlx::Executor<'c, Database = Db>,
    new: NewUser<'_>,
) -> Result<User, WriteError> {
{%- endif %}
    let now = now();
    let user = User {
        id: Uuid::new_v4(),
        // Stored in the canonical form, which every look-up compares with.
        email: super::email::normalize(new.email),
        password_hash: new.password_hash,
        is_active: new.is_active,
        is_verified: new.is_verified,
        created_at: now,
        updated_at: now,
{%- if "role-management" in handlers %}
        roles: Vec::new(),
{%- endif %}
    };
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
    .execute({% if "role-management" in handlers %}executor{% else %}pool{% endif %})
    .await?;
    Ok(user)
}

/// The user with this email address, compared in its canonical form (see `email.rs`).
pub async fn find_user_by_email(pool: &Pool, email: &str) -> Result<Option<User>, sqlx::Error> {
    // No stored address is this long or holds control characters (a NUL byte is even an error in
    // PostgreSQL text): nobody has it, and the database is not asked.
    if email.len() > super::email::MAX_EMAIL_BYTES || email.chars().any(char::is_control) {
        return Ok(None);
    }
{%- if db == "sqlite" %}
    // The column is declared `COLLATE NOCASE`, so `=` ignores case and uses the unique index.
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
{%- elif db == "postgres" %}
    // Matches the unique index on `lower(email)`, which it uses.
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)");
{%- else %}
    // `email_key`, the binary copy of the column (see the `canonical_email` migration), compares
    // bytes: `alice@` and `alíce@` are two addresses, as everywhere else. It has the unique index.
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_key = CAST($1 AS BINARY)");
{%- endif %}
    // Addresses are stored in their canonical form: compare in that form.
    sqlx::query_as(&sql)
        .bind(super::email::normalize(email))
        .fetch_optional(pool)
        .await
}

/// The user with this id.
pub async fn find_user_by_id(pool: &Pool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
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
    pool: &Pool,
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
    .execute(pool)
    .await?;
    Ok(())
}

/// Stores a credential's hash like [`insert_token`], but only while the user is still active and,
/// when `verified_hash` is given, still has the password hash that the login verified: one
/// conditional statement, so a login that raced a password change, a reset, a deactivation or a
/// deletion gets no credential (and no foreign-key error). Whether it was stored.
pub async fn insert_credential(
    pool: &Pool,
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
    let inserted = query.build().execute(pool).await?;
    Ok(inserted.rows_affected() == 1)
}

/// Deletes the token and returns whose it was, if it existed, had this purpose and had not
/// expired. Of two requests racing with the same token only one gets it: one-shot tokens are
/// single use.
pub async fn take_token(
    pool: &Pool,
    purpose: Purpose,
    token_hash: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
{%- if db == "mysql" %}
    // MySQL has no `DELETE ... RETURNING`: read, then delete, and count the token as taken only if
    // this request's delete removed the row (of two racing requests, one does).
    let row: Option<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT user_id, expires_at FROM user_tokens WHERE token_hash = $1 AND purpose = $2",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let deleted = sqlx::query("DELETE FROM user_tokens WHERE token_hash = $1 AND purpose = $2")
        .bind(token_hash)
        .bind(purpose.as_str())
        .execute(pool)
        .await?;
    let row = Some(row).filter(|_| deleted.rows_affected() == 1);
{%- else %}
    let row: Option<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "DELETE FROM user_tokens WHERE token_hash = $1 AND purpose = $2 RETURNING user_id, expires_at",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .fetch_optional(pool)
    .await?;
{%- endif %}
    Ok(row
        .filter(|(_, expires_at)| *expires_at > now())
        .map(|(user_id, _)| user_id))
}

/// The active user that holds this unexpired token of this purpose{% if "role-management" in handlers %}, with their roles{% endif %}: the check
/// of every authenticated request, in one query (one round trip to the database). Nothing of it is
/// cached, so a revoked token or a deactivated user is refused at once, on every instance.
pub async fn find_user_by_token(
    pool: &Pool,
    purpose: Purpose,
    token_hash: &str,
) -> Result<Option<User>, sqlx::Error> {
{%- if "role-management" in handlers %}
    // One row per role, sorted by name (one row with empty role columns for a user without roles).
    let rows: Vec<UserRoleRow> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS}, roles.id AS role_id, roles.name AS role_name, \
         roles.description AS role_description \
         FROM users JOIN user_tokens ON user_tokens.user_id = users.id \
         LEFT JOIN user_roles ON user_roles.user_id = users.id \
         LEFT JOIN roles ON roles.id = user_roles.role_id \
         WHERE user_tokens.token_hash = $1 AND user_tokens.purpose = $2 AND user_tokens.expires_at > $3 \
         AND users.is_active ORDER BY roles.name"
    ))
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(now())
    .fetch_all(pool)
    .await?;
    let mut rows = rows.into_iter();
    let Some(first) = rows.next() else {
        return Ok(None);
    };
    let mut user = first.user;
    user.roles = std::iter::once((first.role_id, first.role_name, first.role_description))
        .chain(rows.map(|row| (row.role_id, row.role_name, row.role_description)))
        .filter_map(|(id, name, description)| {
            Some(Role {
                id: id?,
                name: name?,
                description,
            })
        })
        .collect();
    Ok(Some(user))
}

/// A row of [`find_user_by_token`]: the user and one of their roles, if they have any.
#[derive(sqlx::FromRow)]
struct UserRoleRow {
    #[sqlx(flatten)]
    user: User,
    role_id: Option<Uuid>,
    role_name: Option<String>,
    role_description: Option<String>,
}
{%- else %}
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users JOIN user_tokens ON user_tokens.user_id = users.id \
         WHERE user_tokens.token_hash = $1 AND user_tokens.purpose = $2 AND user_tokens.expires_at > $3 \
         AND users.is_active"
    ))
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(now())
    .fetch_optional(pool)
    .await
}
{%- endif %}

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
    pool: &Pool,
    user_id: Uuid,
    purposes: &[Purpose],
    keep: Option<&str>,
) -> Result<(), sqlx::Error> {
    for purpose in purposes {
        sqlx::query(
            "DELETE FROM user_tokens WHERE user_id = $1 AND purpose = $2 AND token_hash <> $3",
        )
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(keep.unwrap_or(""))
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// Deletes the user's expired tokens, so the table does not grow without bound.
pub async fn purge_expired_tokens(pool: &Pool, user_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM user_tokens WHERE user_id = $1 AND expires_at <= $2")
        .bind(user_id)
        .bind(now())
        .execute(pool)
        .await?;
    Ok(())
}
{%- if "user-management" in handlers %}

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
{%- endif %}
{%- if "role-management" in handlers %}

/// The columns of a [`Role`], for `SELECT`s.
const ROLE_COLUMNS: &str = "roles.id, roles.name, roles.description";

/// Why a role could not be written.
#[derive(Debug)]
pub enum RoleWriteError {
    /// Another role has this name (compared without regard to case).
    NameTaken,
    /// Anything else the database said.
    Database(sqlx::Error),
}

impl From<sqlx::Error> for RoleWriteError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::NameTaken,
            _ => Self::Database(error),
        }
    }
}

impl From<RoleWriteError> for ApiError {
    fn from(error: RoleWriteError) -> Self {
        match error {
            RoleWriteError::NameTaken => {
                ApiError::conflict("role_name_taken", "A role with this name exists already.")
            }
            RoleWriteError::Database(error) => ApiError::internal(error),
        }
    }
}

/// The roles of one user, sorted by name.
pub async fn roles_of(pool: &Pool, user_id: Uuid) -> Result<Vec<Role>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ROLE_COLUMNS} FROM roles JOIN user_roles ON user_roles.role_id = roles.id \
         WHERE user_roles.user_id = $1 ORDER BY roles.name"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await
}

/// Fills in `user.roles`.
pub async fn load_roles(pool: &Pool, user: &mut User) -> Result<(), sqlx::Error> {
    user.roles = roles_of(pool, user.id).await?;
    Ok(())
}

/// Fills in the roles of every user of a page, with one query for the whole page.
pub async fn load_roles_of_page(pool: &Pool, users: &mut [User]) -> Result<(), sqlx::Error> {
    if users.is_empty() {
        return Ok(());
    }
    let mut query = sqlx::QueryBuilder::<Db>::new(format!(
        "SELECT user_roles.user_id, {ROLE_COLUMNS} FROM roles \
         JOIN user_roles ON user_roles.role_id = roles.id WHERE user_roles.user_id IN ("
    ));
    let mut ids = query.separated(", ");
    for user in users.iter() {
        ids.push_bind(user.id);
    }
    query.push(") ORDER BY roles.name");
    let rows: Vec<(Uuid, Uuid, String, Option<String>)> =
        query.build_query_as().fetch_all(pool).await?;
    let index: std::collections::HashMap<Uuid, usize> = users
        .iter()
        .enumerate()
        .map(|(at, user)| (user.id, at))
        .collect();
    for user in users.iter_mut() {
        user.roles.clear();
    }
    for (user_id, id, name, description) in rows {
        if let Some(&at) = index.get(&user_id) {
            users[at].roles.push(Role {
                id,
                name,
                description,
            });
        }
    }
    Ok(())
}

/// Every role, sorted by name.
pub async fn list_roles(pool: &Pool) -> Result<Vec<Role>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ROLE_COLUMNS} FROM roles ORDER BY roles.name"
    ))
    .fetch_all(pool)
    .await
}

/// The role with this id.
pub async fn find_role_by_id(pool: &Pool, id: Uuid) -> Result<Option<Role>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ROLE_COLUMNS} FROM roles WHERE roles.id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The role with this name, compared without regard to case.
pub async fn find_role_by_name(pool: &Pool, name: &str) -> Result<Option<Role>, sqlx::Error> {
{%- if db == "postgres" %}
    // Matches the unique index on `lower(name)`, which it uses.
    let sql = format!("SELECT {ROLE_COLUMNS} FROM roles WHERE lower(roles.name) = lower($1)");
{%- else %}
    // The column's collation is case-insensitive, so `=` ignores case and uses the unique index.
    let sql = format!("SELECT {ROLE_COLUMNS} FROM roles WHERE roles.name = $1");
{%- endif %}
    sqlx::query_as(&sql)
        .bind(name.trim())
        .fetch_optional(pool)
        .await
}

/// Creates a role.
pub async fn create_role(
    pool: &Pool,
    name: &str,
    description: Option<&str>,
) -> Result<Role, RoleWriteError> {
    let role = Role {
        id: Uuid::new_v4(),
        name: name.to_owned(),
        description: description.map(str::to_owned),
    };
    sqlx::query("INSERT INTO roles (id, name, description, created_at) VALUES ($1, $2, $3, $4)")
        .bind(role.id)
        .bind(&role.name)
        .bind(&role.description)
        .bind(now())
        .execute(pool)
        .await?;
    Ok(role)
}

/// Writes the name and description of `role` back.
pub async fn update_role(pool: &Pool, role: &Role) -> Result<(), RoleWriteError> {
    sqlx::query("UPDATE roles SET name = $1, description = $2 WHERE id = $3")
        .bind(&role.name)
        .bind(&role.description)
        .bind(role.id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes a role; it is taken from every user who held it (`ON DELETE CASCADE`). Whether the
/// role existed.
pub async fn delete_role(pool: &Pool, id: Uuid) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM roles WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// What [`assign_role`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignment {
    /// The user has the role now.
    Assigned,
    /// The user had the role already; nothing changed.
    AlreadyHeld,
    /// The user or the role does not exist.
    UnknownUserOrRole,
}

/// Gives the user the role, in one statement (so it is committed at once).
pub async fn assign_role(
    pool: &Pool,
    user_id: Uuid,
    role_id: Uuid,
) -> Result<Assignment, sqlx::Error> {
    let inserted = sqlx::query("INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)")
        .bind(user_id)
        .bind(role_id)
        .execute(pool)
        .await;
    match inserted {
        Ok(_) => Ok(Assignment::Assigned),
        // The primary key (user_id, role_id) and the foreign keys decide, not a look-up first:
        // two requests racing to assign the same role cannot both succeed.
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            Ok(Assignment::AlreadyHeld)
        }
        Err(sqlx::Error::Database(error)) if error.is_foreign_key_violation() => {
            Ok(Assignment::UnknownUserOrRole)
        }
        Err(error) => Err(error),
    }
}

/// Takes the role from the user. Whether the user had it.
pub async fn revoke_role(pool: &Pool, user_id: Uuid, role_id: Uuid) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2")
        .bind(user_id)
        .bind(role_id)
        .execute(pool)
        .await?;
    Ok(deleted.rows_affected() > 0)
}
{%- endif %}

// ---------------------------------------------------------------------------------------------
// Writing only what changes, and taking an account back from whoever held it before its owner.

/// Sets the password hash and nothing else, so that a change made meanwhile by someone else (an
/// admin deactivating the account, say) is not undone by writing back an older copy of the row.
pub async fn set_password_hash(
    pool: &Pool,
    user_id: Uuid,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(now())
        .bind(user_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Marks the email address verified. Whether this call did it: `false` when it was verified
/// already (or the user is gone), so of two requests racing only one sees the change.
pub async fn mark_verified(pool: &Pool, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE users SET is_verified = TRUE, updated_at = $1 WHERE id = $2 AND NOT is_verified",
    )
    .bind(now())
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Deletes every token of the user, whatever its purpose: sessions or access tokens, and the
/// links of verification, reset and email-change mails.
pub async fn delete_all_tokens(pool: &Pool, user_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM user_tokens WHERE user_id = $1")
        .bind(user_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// What to do when someone proves they own an account's email address (a verification or reset
/// link, or a provider that verified the address): whoever held the account before may have
/// registered it in the owner's name, so everything they could still use is taken away. Every
/// token of the user goes (sessions, access tokens, mail links){% if "current-user" in handlers %}, a pending email change{% endif %}{% if "oauth2" in handlers %} and every linked
/// provider account (link the provider again after this, if it is the one that proved the
/// address){% endif %}.
pub async fn drop_unproven_access(pool: &Pool, user_id: Uuid) -> Result<(), sqlx::Error> {
    delete_all_tokens(pool, user_id).await?;
{%- if "current-user" in handlers %}
    sqlx::query("DELETE FROM email_changes WHERE user_id = $1")
        .bind(user_id)
        .execute(pool)
        .await?;
{%- endif %}
{%- if "oauth2" in handlers %}
    sqlx::query("DELETE FROM oauth_accounts WHERE user_id = $1")
        .bind(user_id)
        .execute(pool)
        .await?;
{%- endif %}
    Ok(())
}
{%- if "current-user" in handlers %}

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
    pool: &Pool,
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
        .execute(pool)
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
pub async fn delete_email_change(pool: &Pool, user_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM email_changes WHERE user_id = $1")
        .bind(user_id)
        .execute(pool)
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

/// Deletes the pending change whose link has this token hash and returns it, if it existed and
/// has not expired. Of two requests racing with the same link only one gets it.
pub async fn take_email_change(
    pool: &Pool,
    token_hash: &str,
) -> Result<Option<EmailChange>, sqlx::Error> {
{%- if db == "mysql" %}
    // MySQL has no `DELETE ... RETURNING`: read, then delete, and count the change as taken only
    // if this request's delete removed the row.
    let sql = "SELECT user_id, email, expires_at FROM email_changes WHERE token_hash = $1";
    let change: Option<EmailChange> = sqlx::query_as(sql)
        .bind(token_hash)
        .fetch_optional(pool)
        .await?;
    let Some(change) = change else {
        return Ok(None);
    };
    let deleted = sqlx::query("DELETE FROM email_changes WHERE token_hash = $1")
        .bind(token_hash)
        .execute(pool)
        .await?;
    let change = Some(change).filter(|_| deleted.rows_affected() == 1);
{%- else %}
    let change: Option<EmailChange> = sqlx::query_as(
        "DELETE FROM email_changes WHERE token_hash = $1 RETURNING user_id, email, expires_at",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?;
{%- endif %}
    Ok(change.filter(|change| change.expires_at > now()))
}

/// Switches an active user's address to `email` and marks it verified (its owner used the link
/// mailed to it). `Ok(false)` when the user is gone or inactive; `EmailTaken` when another
/// account took the address meanwhile (the unique index decides).
pub async fn switch_email(pool: &Pool, user_id: Uuid, email: &str) -> Result<bool, WriteError> {
    let updated = sqlx::query(
        "UPDATE users SET email = $1, is_verified = TRUE, updated_at = $2 WHERE id = $3 AND is_active",
    )
    .bind(super::email::normalize(email))
    .bind(now())
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}
{%- endif %}
{%- if "user-management" in handlers %}

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
/// one transaction that refuses to deactivate the last active admin.
pub async fn update_user_fields(
    pool: &Pool,
    user_id: Uuid,
    changes: &UserChanges<'_>,
) -> Result<UserUpdate, WriteError> {
    let mut transaction = pool.begin().await?;
    let admins_before = lock_and_count_admins(&mut transaction).await?;
    let mut query = sqlx::QueryBuilder::<Db>::new("UPDATE users SET updated_at = ");
    query.push_bind(now());
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
    let updated = match query.build().execute(&mut *transaction).await {
        Ok(updated) => updated,
        // Such as the unique index refusing the email: roll back before answering.
        Err(error) => {
            transaction.rollback().await?;
            return Err(error.into());
        }
    };
    let outcome = if updated.rows_affected() == 0 {
        UserUpdate::NotFound
    } else if admins_before > 0 && count_admins(&mut transaction).await? == 0 {
        UserUpdate::LastAdmin
    } else {
        UserUpdate::Updated
    };
    if outcome == UserUpdate::Updated {
        transaction.commit().await?;
        return Ok(outcome);
    }
    // Rolled back at once rather than when the connection is next used: an open transaction
    // would hold its locks meanwhile.
    transaction.rollback().await?;
    Ok(outcome)
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
{%- endif %}
{%- if "role-management" in handlers %}

/// What [`revoke_role_keeping_an_admin`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// The user no longer has the role.
    Revoked,
    /// The user did not have the role.
    NotHeld,
    /// Nothing changed: the user is the last active admin.
    LastAdmin,
}

/// Takes the role from the user unless that leaves no active admin, in one transaction.
pub async fn revoke_role_keeping_an_admin(
    pool: &Pool,
    user_id: Uuid,
    role_id: Uuid,
) -> Result<Revocation, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let admins_before = lock_and_count_admins(&mut transaction).await?;
    let deleted = sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2")
        .bind(user_id)
        .bind(role_id)
        .execute(&mut *transaction)
        .await?;
    let outcome = if deleted.rows_affected() == 0 {
        Revocation::NotHeld
    } else if admins_before > 0 && count_admins(&mut transaction).await? == 0 {
        Revocation::LastAdmin
    } else {
        Revocation::Revoked
    };
    if outcome == Revocation::Revoked {
        transaction.commit().await?;
        return Ok(outcome);
    }
    transaction.rollback().await?;
    Ok(outcome)
}

/// Starts a change that could remove the last active admin: a write to the `admin` role's row
/// that changes nothing, but makes every such change wait for the one before it to commit (a row
/// lock in PostgreSQL and MySQL, the database's write lock in SQLite). Two admins revoking each
/// other at the same moment then run one after the other, and the second sees that it would leave
/// no admin. Returns how many active admins there are.
async fn lock_and_count_admins(
    transaction: &mut sqlx::Transaction<'_, Db>,
) -> Result<i64, sqlx::Error> {
{%- if db == "postgres" %}
    let sql = "UPDATE roles SET name = name WHERE lower(name) = lower($1)";
{%- else %}
    // The column's collation ignores case, as the role guards do.
    let sql = "UPDATE roles SET name = name WHERE name = $1";
{%- endif %}
    sqlx::query(sql)
        .bind(super::config::ADMIN_ROLE)
        .execute(&mut **transaction)
        .await?;
    count_admins(transaction).await
}

/// How many active users hold the `admin` role.
async fn count_admins(transaction: &mut sqlx::Transaction<'_, Db>) -> Result<i64, sqlx::Error> {
{%- if db == "postgres" %}
    let sql = "SELECT COUNT(*) FROM users JOIN user_roles ON user_roles.user_id = users.id \
               JOIN roles ON roles.id = user_roles.role_id \
               WHERE users.is_active AND lower(roles.name) = lower($1)";
{%- else %}
    let sql = "SELECT COUNT(*) FROM users JOIN user_roles ON user_roles.user_id = users.id \
               JOIN roles ON roles.id = user_roles.role_id \
               WHERE users.is_active AND roles.name = $1";
{%- endif %}
    sqlx::query_scalar(sql)
        .bind(super::config::ADMIN_ROLE)
        .fetch_one(&mut **transaction)
        .await
}
{%- endif %}

// Health (0.2.0).
/// Whether the database answers: one trivial query, for `GET /health`.
pub async fn ping(pool: &Pool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}
{%- endfilter %}
