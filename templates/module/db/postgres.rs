//! The part of [`super`] written for PostgreSQL: the pool, transactions, and the statements that
//! PostgreSQL words differently from the other databases. `db` re-exports what callers use, so they
//! keep writing `db::Pool`, `db::begin`, ...

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Connection as _, PgPool, Postgres, migrate::MigrateDatabase, postgres::PgPoolOptions};
use uuid::Uuid;

use super::{ApiError, Connection, Purpose, Transaction, now, pool_size};

/// The connection pool.
pub type Pool = PgPool;

/// The database driver, for functions that run on the pool or inside a transaction.
pub type Db = Postgres;

/// What [`super::lock_user`] adds to its `SELECT`: the row lock.
pub(super) const LOCK_ROW: &str = " FOR UPDATE";

/// How [`super::find_user_by_email`] compares the address: it matches the unique index on
/// `lower(email)`, which it uses.
pub(super) const EMAIL_MATCHES: &str = "lower(email) = lower($1)";

/// A pooled connection idle for longer than this is checked with a round trip before use.
const CHECK_IDLE_CONNECTIONS_AFTER: Duration = Duration::from_secs(10);

/// Connects to `DATABASE_URL` and brings the schema up to date with the migrations in
/// `migrations/`.
pub async fn connect(database_url: &str) -> Result<Pool, sqlx::Error> {
    // Like SQLite creating its file: the first start creates the database.
    if !Postgres::database_exists(database_url).await? {
        let created = Postgres::create_database(database_url).await;
        // Instances started together race to create it: one wins, the others use it.
        if created.is_err() && !Postgres::database_exists(database_url).await? {
            created?;
        }
    }
    let pool = PgPoolOptions::new()
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
    // The migrator holds a database lock while it runs (an advisory lock), so instances
    // started together apply each migration once.
    sqlx::migrate!().run(&pool).await?;
    Ok(pool)
}

// ---------------------------------------------------------------------------------------------
// Transactions: a handler and its hooks write together or not at all.

/// Begins the transaction of a request that writes.
pub async fn begin(pool: &Pool) -> Result<Transaction, sqlx::Error> {
    pool.begin().await
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
            // After an error PostgreSQL has aborted the transaction, and `COMMIT` then rolls it
            // back without an error. A hook that caught a database error and returned `Ok` would
            // have the request answered as if it were stored: asked first, the aborted
            // transaction answers with an error, and nothing is claimed.
            if let Err(error) = sqlx::query("SELECT 1").execute(&mut *transaction).await {
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

{% include "partials/take_token_returning.rs" %}