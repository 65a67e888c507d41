//! The connections that check the credential of every authenticated request.

use std::{
    sync::{Arc, Mutex, MutexGuard, Once, PoisonError, Weak},
    time::{Duration, Instant},
};

use sqlx::pool::PoolConnection;
use tokio::sync::Semaphore;

use super::{Db, Pool, Purpose, User, find_user_by_token};

/// How long a kept connection may wait for the next check. One idle for longer goes back to the
/// pool, which serves everything else with it, closes it when sqlx's `idle_timeout` or
/// `max_lifetime` says so, and checks it before handing it out again.
const KEEP_IDLE_FOR: Duration = Duration::from_secs(10);

/// The credential check of every authenticated request ([`Lookups::find_user_by_token`]), on
/// connections it keeps.
///
/// sqlx checks every connection that goes back to its pool with one more round trip (a ping to
/// the server; on SQLite, a hand-off to the connection's thread and back): as much work again as
/// a request whose only statement is this check. The check only reads, and a connection whose
/// statement returned is ready for the next one, so the connections of recent checks stay out of
/// the pool between checks. They are still counted in its size, and only ever taken from its idle
/// connections (never waited for, never opened for this): at most half of the pool's connections,
/// the others serving everything else; one idle for [`KEEP_IDLE_FOR`] goes back. More checks at
/// once go through the pool as any statement does.
///
/// Nothing is cached: every check runs its statement, so a revoked credential or a deactivated
/// user is refused at once, on every instance.
///
/// Made from the pool by `UsersState::new`: a state whose `db` is replaced needs new `Lookups` too.
#[derive(Clone)]
pub struct Lookups {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// The connections between two checks, each with the moment it was last used: the oldest
    /// first.
    idle: Mutex<Vec<(PoolConnection<Db>, Instant)>>,
    /// One per connection out of the pool: a check holds one while it runs.
    permits: Semaphore,
    /// Starts [`Inner::watch`] at the first check.
    watching: Once,
}

impl Lookups {
    /// Checks on connections taken from `pool`: at most half of its `max_connections`.
    pub fn new(pool: Pool) -> Self {
        let half = pool.options().get_max_connections() / 2;
        let connections = usize::try_from(half).unwrap_or(usize::MAX);
        Self {
            inner: Arc::new(Inner {
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(connections),
                watching: Once::new(),
                pool,
            }),
        }
    }

    /// How many connections are kept between checks at this moment.
    pub fn idle_connections(&self) -> usize {
        self.inner.lock_idle().len()
    }

    /// [`super::find_user_by_token`], on a connection kept for these checks.
    pub async fn find_user_by_token(
        &self,
        purpose: Purpose,
        token_hash: &str,
    ) -> Result<Option<User>, sqlx::Error> {
        let inner = &*self.inner;
        inner.watching.call_once(|| {
            tokio::spawn(Inner::watch(Arc::downgrade(&self.inner)));
        });
        let kept = match inner.permits.try_acquire() {
            Ok(permit) => inner
                .take_idle()
                .or_else(|| inner.pool.try_acquire())
                .map(|connection| (permit, connection)),
            Err(_) => None,
        };
        let Some((_permit, mut connection)) = kept else {
            // As many checks running as connections may be kept, or no idle connection in the
            // pool to take (the pool opens one if it may, or waits for one, as for any statement).
            return find_user_by_token(&inner.pool, purpose, token_hash).await;
        };
        // If this future is dropped mid-statement (a client that hung up), the connection goes
        // back to the pool, which reads what the server still owes before it hands it out again.
        match find_user_by_token(&mut *connection, purpose, token_hash).await {
            Ok(found) => {
                inner.keep(connection);
                Ok(found)
            }
            Err(error) if is_connection_error(&error) => {
                // A kept connection can outlive its server (a restart, a proxy that closed it):
                // this one and the other kept ones go back to the pool, which closes those that do
                // not answer, and the check runs again, once, on a connection that answers.
                tracing::warn!(%error, "a credential check's connection failed; checking again");
                drop(connection);
                inner.give_back_idle();
                let mut connection = inner.answering_connection().await?;
                find_user_by_token(&mut *connection, purpose, token_hash).await
            }
            Err(error) => Err(error),
        }
    }
}

impl Inner {
    fn lock_idle(&self) -> MutexGuard<'_, Vec<(PoolConnection<Db>, Instant)>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used kept connection; those idle for too long go back to the pool.
    fn take_idle(&self) -> Option<PoolConnection<Db>> {
        let mut idle = self.lock_idle();
        let stale = take_stale(&mut idle);
        let connection = idle.pop().map(|(connection, _)| connection);
        drop(idle);
        drop(stale);
        connection
    }

    fn keep(&self, connection: PoolConnection<Db>) {
        let mut idle = self.lock_idle();
        // Checked under the lock that `give_back_idle` takes: a pool that began to close gets
        // every connection back.
        if !self.pool.is_closed() {
            idle.push((connection, Instant::now()));
        }
    }

    fn give_back_idle(&self) {
        let idle = std::mem::take(&mut *self.lock_idle());
        drop(idle);
    }

    /// Runs while the checks do: gives idle connections back to the pool when they have waited
    /// too long (when no check comes to do it), and all of them when the pool closes (`close`
    /// waits for every connection out of the pool).
    async fn watch(inner: Weak<Self>) {
        let Some(closing) = inner.upgrade().map(|inner| inner.pool.close_event()) else {
            return;
        };
        let mut closing = std::pin::pin!(closing);
        let mut sweeps = tokio::time::interval(KEEP_IDLE_FOR);
        loop {
            tokio::select! {
                () = &mut closing => {
                    if let Some(inner) = inner.upgrade() {
                        inner.give_back_idle();
                    }
                    return;
                }
                _ = sweeps.tick() => {
                    let Some(inner) = inner.upgrade() else { return };
                    let stale = take_stale(&mut inner.lock_idle());
                    drop(stale);
                }
            }
        }
    }

    /// A connection of the pool that answers a ping. After a restart of the server the pool's idle
    /// connections are as dead as the kept ones were: each that fails is closed, and once none is
    /// left the pool opens a new one.
    async fn answering_connection(&self) -> Result<PoolConnection<Db>, sqlx::Error> {
        use sqlx::Connection as _;

        let mut attempts = self.pool.options().get_max_connections().saturating_add(1);
        loop {
            let mut connection = self.pool.acquire().await?;
            attempts -= 1;
            match connection.ping().await {
                Ok(()) => return Ok(connection),
                Err(error) if attempts == 0 => return Err(error),
                Err(_) => connection.close_on_drop(),
            }
        }
    }
}

/// Removes the connections idle for longer than [`KEEP_IDLE_FOR`] (the oldest are first), for the
/// caller to drop once it let go of the lock.
fn take_stale(idle: &mut Vec<(PoolConnection<Db>, Instant)>) -> Vec<(PoolConnection<Db>, Instant)> {
    let stale = idle.partition_point(|(_, since)| since.elapsed() > KEEP_IDLE_FOR);
    idle.drain(..stale).collect()
}

/// Whether the statement failed because of its connection (which another might not have), rather
/// than because of what it read: the connection broke, or the server ended it (SQLSTATE class 08,
/// connection exception; 57, operator intervention such as a shutdown; MySQL's 70100, killed).
fn is_connection_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("57") || code == "70100"
        }),
        _ => false,
    }
}
