//! Rate limits kept in Redis (`RATE_LIMIT_STORE=redis`), so that every instance of the app behind
//! a load balancer counts together: with four instances an attacker still gets one budget of
//! guesses, and a restart forgets nothing.
//!
//! Each check is one Lua script, run atomically by Redis: the same GCRA as the in-memory buckets
//! (a burst, then one attempt per period), over every bucket of the attempt at once, so that it
//! takes from all of them or from none. The clock is Redis's own (`TIME`), so instances whose
//! clocks drift apart still agree. A bucket's key expires when the bucket is full again: Redis
//! forgets idle clients by itself.
//!
//! When Redis is down or slow (more than [`TIMEOUT`]), [`RedisStore`] answers `None` and the
//! caller counts in memory instead: the app keeps serving with per-process limits and logs one
//! warning per outage. A task pings Redis every [`RETRY_AFTER`], and once it answers the limits
//! are shared again.

use std::{
    fmt::Write,
    sync::{Arc, Mutex, MutexGuard, PoisonError, Weak},
    time::{Duration, Instant},
};

use governor::Quota;
use redis::{
    Client, RedisError, Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use super::{ClientKey, Key};

/// How long a check may wait for Redis before the attempt is counted in memory instead. A login
/// is not held up by an unreachable Redis for longer than this.
pub const TIMEOUT: Duration = Duration::from_millis(250);
/// During an outage, how often Redis is pinged to see whether it is back.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// What every key of these limits starts with, so they stand apart from other data in the same
/// Redis database.
pub const KEY_PREFIX: &str = "{{ package }}:rate_limit:";

/// GCRA over every bucket in `KEYS`; `ARGV` holds, for each bucket, its period and its tolerance
/// (the period times the burst less one), in microseconds. Answers 0 when the attempt was counted,
/// else how many microseconds to wait (nothing is counted then). Times are written with
/// `%.0f`: Lua's numbers are doubles, which would otherwise print in exponent notation.
const TAKE: &str = r"
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local dues = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local due = tonumber(redis.call('GET', key) or now)
  if due < now then due = now end
  dues[i] = due
  local bucket_wait = due - now - tonumber(ARGV[2 * i])
  if bucket_wait > wait then wait = bucket_wait end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local due = dues[i] + tonumber(ARGV[2 * i - 1])
  local ttl = math.floor((due - now) / 1000) + 1
  redis.call('SET', key, string.format('%.0f', due), 'PX', ttl)
end
return 0
";

/// Gives one attempt back to each bucket in `KEYS` that still exists, by its period in `ARGV`
/// (microseconds). A bucket that expired meanwhile is full already.
const GIVE_BACK: &str = r"
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('DECRBY', key, ARGV[i])
  end
end
return 0
";

/// The connection to Redis and whether it is usable.
pub struct RedisStore {
    connection: ConnectionManager,
    key_prefix: String,
    take: Script,
    give_back: Script,
    /// When the current outage started; `None` while Redis answers.
    outage: Arc<Mutex<Option<Instant>>>,
}

impl RedisStore {
    /// A store on `client`'s server whose keys start with `key_prefix`. It connects on first use
    /// (and again after a failure), so the app starts even while Redis is down.
    pub fn new(client: Client, key_prefix: String) -> Result<Self, RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(RETRY_AFTER);
        Ok(Self {
            connection: ConnectionManager::new_lazy_with_config(client, config)?,
            key_prefix,
            take: Script::new(TAKE),
            give_back: Script::new(GIVE_BACK),
            outage: Arc::new(Mutex::new(None)),
        })
    }

    /// Whether the limits count in Redis now (not during an outage).
    pub fn available(&self) -> bool {
        lock(&self.outage).is_none()
    }

    /// Takes one attempt from every bucket: `Some(Duration::ZERO)` when it was counted,
    /// `Some(wait)` when a bucket is empty, `None` when Redis cannot answer now (count in memory).
    pub async fn take(&self, keys: &[(Key, Quota)]) -> Option<Duration> {
        if !self.available() {
            return None;
        }
        let mut invocation = self.take.prepare_invoke();
        for (key, quota) in keys {
            let period = micros(quota.replenish_interval());
            let tolerance = micros(quota.replenish_interval() * (quota.burst_size().get() - 1));
            invocation
                .key(self.redis_key(key))
                .arg(period)
                .arg(tolerance);
        }
        let mut connection = self.connection.clone();
        let answer = tokio::time::timeout(TIMEOUT, invocation.invoke_async::<u64>(&mut connection));
        self.outcome(answer.await).map(Duration::from_micros)
    }

    /// Gives one attempt back to each bucket (a successful login does not count).
    pub async fn give_back(&self, keys: &[(Key, Quota)]) {
        if !self.available() {
            return;
        }
        let mut invocation = self.give_back.prepare_invoke();
        for (key, quota) in keys {
            invocation
                .key(self.redis_key(key))
                .arg(micros(quota.replenish_interval()));
        }
        let mut connection = self.connection.clone();
        let answer = tokio::time::timeout(TIMEOUT, invocation.invoke_async::<u64>(&mut connection));
        self.outcome(answer.await);
    }

    /// The answer, or `None` when Redis failed: then an outage starts (unless one is on), with
    /// one warning and a task that waits for Redis to answer again. Requests do not wait for
    /// Redis meanwhile: they count in memory at once.
    fn outcome<T>(
        &self,
        answer: Result<Result<T, RedisError>, tokio::time::error::Elapsed>,
    ) -> Option<T> {
        let cause = match answer {
            Ok(Ok(value)) => return Some(value),
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {TIMEOUT:?}"),
        };
        let mut outage = lock(&self.outage);
        if outage.is_none() {
            *outage = Some(Instant::now());
            // Never an error to the user: the limits still hold, per process, until Redis is
            // back.
            tracing::warn!(
                "Redis is unavailable ({cause}): rate limits count in this process only until \
                 it answers again"
            );
            tokio::spawn(wait_for_redis(
                self.connection.clone(),
                Arc::downgrade(&self.outage),
            ));
        }
        None
    }

    /// The Redis key of a bucket: the prefix, then what it counts. Accounts appear only as the
    /// hash of their canonical email, so the keys have a bounded size and name no one.
    fn redis_key(&self, key: &Key) -> String {
        let mut name = self.key_prefix.clone();
        let _ = match key {
            Key::Address(action, client) => {
                write!(name, "address:{action}:{}", client_part(client))
            }
            Key::Registrations(client) => write!(name, "registrations:{}", client_part(client)),
            Key::AccountAddress(action, account, client) => write!(
                name,
                "account_address:{action}:{}:{}",
                hex(account),
                client_part(client)
            ),
            Key::Account(action, account) => write!(name, "account:{action}:{}", hex(account)),
            Key::Mails(action, account) => write!(name, "mails:{action}:{}", hex(account)),
        };
        name
    }
}

/// Pings Redis every [`RETRY_AFTER`] until it answers, then ends the outage (or ends when the
/// store is dropped).
async fn wait_for_redis(mut connection: ConnectionManager, outage: Weak<Mutex<Option<Instant>>>) {
    loop {
        tokio::time::sleep(RETRY_AFTER).await;
        let Some(outage) = outage.upgrade() else {
            return;
        };
        let ping = redis::cmd("PING");
        let answer = tokio::time::timeout(TIMEOUT, ping.query_async::<String>(&mut connection));
        if let Ok(Ok(_)) = answer.await {
            if let Some(since) = lock(&outage).take() {
                tracing::info!(
                    "Redis answers again after {:.0?}: rate limits are shared by every instance \
                     again",
                    since.elapsed()
                );
            }
            return;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The value stays consistent whatever panicked while holding the lock.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A client address in a key: `v4-c0000201`, `v6-20010db800000000` (the /64), or `unknown`.
fn client_part(client: &ClientKey) -> String {
    match client {
        ClientKey::V4(octets) => format!("v4-{}", hex(octets)),
        ClientKey::V6(network) => format!("v6-{}", hex(network)),
        ClientKey::Unknown => "unknown".to_owned(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

/// A duration in whole microseconds, the unit of the scripts (at least 1 for a non-zero one).
fn micros(duration: Duration) -> u64 {
    let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
    if micros == 0 && !duration.is_zero() {
        1
    } else {
        micros
    }
}
