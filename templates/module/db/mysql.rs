//! The part of [`super`] written for MySQL and MariaDB: the pool, transactions, and the statements
//! that MySQL words differently from the other databases. `db` re-exports what callers use, so they
//! keep writing `db::Pool`, `db::begin`, ...

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Connection as _, MySql, MySqlPool, migrate::MigrateDatabase, mysql::MySqlPoolOptions};
use uuid::Uuid;

use super::{ApiError, Connection, Purpose, Transaction, now, pool_size};

/// The connection pool.
pub type Pool = MySqlPool;

/// The database driver, for functions that run on the pool or inside a transaction.
pub type Db = MySql;

/// What [`super::lock_user`] adds to its `SELECT`: the row lock.
pub(super) const LOCK_ROW: &str = " FOR UPDATE";

/// How [`super::find_user_by_email`] compares the address: `email_key`, the binary copy of the
/// column (see the `canonical_email` migration), compares bytes: `alice@` and `alíce@` are two
/// addresses, as everywhere else. It has the unique index.
pub(super) const EMAIL_MATCHES: &str = "email_key = CAST(? AS BINARY)";

/// A pooled connection idle for longer than this is checked with a round trip before use.
const CHECK_IDLE_CONNECTIONS_AFTER: Duration = Duration::from_secs(10);

/// Connects to `DATABASE_URL` and brings the schema up to date with the migrations in
/// `migrations/`.
pub async fn connect(database_url: &str) -> Result<Pool, sqlx::Error> {
    // Like SQLite creating its file: the first start creates the database.
    if !MySql::database_exists(database_url).await? {
        let created = MySql::create_database(database_url).await;
        // Instances started together race to create it: one wins, the others use it.
        if created.is_err() && !MySql::database_exists(database_url).await? {
            created?;
        }
    }
    let pool = MySqlPoolOptions::new()
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
        // MariaDB caps JSON aggregates (the roles of the credential look-up) at
        // `group_concat_max_len`, cutting them short with only a warning: lift the cap (to 1 GiB, its
        // maximum on MariaDB), which a server may have set as low as 1 KiB.
        .after_connect(|connection, _| {
            Box::pin(async move {
                sqlx::query("SET SESSION group_concat_max_len = 1073741824")
                    .execute(&mut *connection)
                    .await?;
                Ok(())
            })
        })
        .connect(database_url)
        .await?;
    migrate_locked(&pool).await?;
    Ok(pool)
}

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

// ---------------------------------------------------------------------------------------------
// Transactions: a handler and its hooks write together or not at all.

/// Begins the transaction of a request that writes.
pub async fn begin(pool: &Pool) -> Result<Transaction, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    // A marker that [`finish`] looks for before it commits: after a deadlock InnoDB rolls the
    // whole transaction back by itself, and the statements that follow each commit on their own.
    sqlx::query("SAVEPOINT request")
        .execute(&mut *transaction)
        .await?;
    Ok(transaction)
}

/// Ends a request's transaction: commits it when `outcome` is `Ok` and rolls it back otherwise,
/// then returns `outcome`. A hook that fails thus undoes what its request wrote, and a retry finds
/// the database as the first attempt did (no "email taken" for an account that was never kept).
///
/// The rollback is explicit: one left to `Drop` runs only when the connection is next tested by
/// the pool, and until then the rows it wrote stay locked, so the retry could wait for them.
pub async fn finish<T>(
    transaction: Transaction,
    outcome: Result<T, ApiError>,
) -> Result<T, ApiError> {
    match outcome {
        Ok(value) => {
            let mut transaction = transaction;
            // Gone when InnoDB rolled the transaction back after an error (a deadlock) that a hook
            // caught and did not return: what was written since then stands on its own, and the
            // request is not answered as if all of it were stored.
            if let Err(error) = sqlx::query("RELEASE SAVEPOINT request")
                .execute(&mut *transaction)
                .await
            {
                let _ = transaction.rollback().await;
                return Err(ApiError::internal(error));
            }
            transaction.commit().await?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = transaction.rollback().await {
                // The connection is closed rather than reused, which ends the transaction too.
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(error)
        }
    }
}

/// Deletes the token and returns whose it was, if it existed, had this purpose and had not
/// expired. Of two requests racing with the same token only one gets it: one-shot tokens are
/// single use.
pub async fn take_token(
    connection: &mut Connection,
    purpose: Purpose,
    token_hash: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    // MySQL has no `DELETE ... RETURNING`: read, then delete, and count the token as taken only if
    // this request's delete removed the row (of two racing requests, one does).
    let row: Option<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT user_id, expires_at FROM user_tokens WHERE token_hash = ? AND purpose = ?",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .fetch_optional(&mut *connection)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let deleted = sqlx::query("DELETE FROM user_tokens WHERE token_hash = ? AND purpose = ?")
        .bind(token_hash)
        .bind(purpose.as_str())
        .execute(&mut *connection)
        .await?;
    let row = Some(row).filter(|_| deleted.rows_affected() == 1);
    Ok(row
        .filter(|(_, expires_at)| *expires_at > now())
        .map(|(user_id, _)| user_id))
}
