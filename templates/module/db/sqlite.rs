//! The part of [`super`] written for SQLite: the pool, transactions, and the statements that
//! SQLite words differently from the other databases. `db` re-exports what callers use, so they
//! keep writing `db::Pool`, `db::begin`, ...

use std::{str::FromStr, time::Duration};

use chrono::{DateTime, Utc};
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};
use tracing::Instrument as _;
use uuid::Uuid;

use super::{ApiError, Connection, Purpose, Transaction, now, pool_size};

/// The connection pool.
pub type Pool = SqlitePool;

/// The database driver, for functions that run on the pool or inside a transaction.
pub type Db = sqlx::Sqlite;

/// What [`super::lock_user`] adds to its `SELECT`: nothing, as SQLite has no row locks:
/// `BEGIN IMMEDIATE` (see [`begin`]) holds the database's write lock for the whole transaction
/// already.
pub(super) const LOCK_ROW: &str = "";

/// How [`super::find_user_by_email`] compares the address: the column is declared
/// `COLLATE NOCASE`, so `=` ignores case and uses the unique index.
pub(super) const EMAIL_MATCHES: &str = "email = $1";

/// Connects to `DATABASE_URL` and brings the schema up to date with the migrations in
/// `migrations/`.
pub async fn connect(database_url: &str) -> Result<Pool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(database_url)?
        .create_if_missing(true)
        .foreign_keys(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        // The connections are files in this process, which no server restart can break: sqlx's
        // check of every connection it hands out would double the cost of each query.
        .test_before_acquire(false)
        // As on the other databases: a request waits at most this long for a connection.
        .acquire_timeout(Duration::from_secs(10))
        .max_connections(pool_size())
        .connect_with(options)
        .await?;
    // The migrator holds a database lock while it runs, so instances
    // started together apply each migration once.
    sqlx::migrate!().run(&pool).await?;
    Ok(pool)
}

// ---------------------------------------------------------------------------------------------
// Transactions: a handler and its hooks write together or not at all.

/// Begins the transaction of a request that writes.
pub async fn begin(pool: &Pool) -> Result<Transaction, sqlx::Error> {
    // `IMMEDIATE` takes SQLite's write lock at once (waiting up to the busy timeout for it): a
    // transaction that read first could otherwise fail at its first write, should another
    // connection have written meanwhile.
    //
    // It begins in a task of its own, which runs to the end even if the request is dropped (a
    // client that hangs up): sqlx 0.8 leaves a custom `BEGIN` open, holding SQLite's write lock
    // for good, when the future awaiting it is dropped between the `BEGIN` and the return of the
    // transaction. A transaction that nobody takes is rolled back when the task drops it.
    let pool = pool.clone();
    let begin = async move { pool.begin_with("BEGIN IMMEDIATE").await };
    tokio::spawn(begin.in_current_span())
        .await
        .unwrap_or_else(|error| Err(sqlx::Error::Io(std::io::Error::other(error))))
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