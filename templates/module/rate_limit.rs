//! Rate limits for login, registration and the routes that send mail, kept in memory.
//!
//! Every limit is a token bucket (the quotas are in [`RateLimits`]), kept per action and:
//!
//! - per client address: one address cannot flood a route or try many accounts;
//! - per account *and* client address: a stranger who guesses an account's password spends the
//!   budget of their own address, not the owner's, so they cannot lock the owner out;
//! - per account: a looser ceiling on the attempts at one account from every address together,
//!   which refills faster than one address may guess, so the total number of guesses stays
//!   bounded without one stranger locking the owner out.
//!
//! An attempt is counted before it is made, so a thousand concurrent guesses cannot all slip
//! through, and [`Attempt::succeeded`] gives it back when it succeeds: a person who logs in often
//! is never limited, only failures add up.
//!
//! Keys have a fixed size: the SHA-256 of the canonical email (see `email.rs`) and the client
//! address, IPv6 addresses counted per /64 (one machine usually holds a whole /64). Buckets that
//! are full again are forgotten by a background task every [`PRUNE_INTERVAL`].
//!
//! With `RATE_LIMIT_STORE=memory` (the default) the limits are per server process: behind a load
//! balancer each instance counts on its own. With `RATE_LIMIT_STORE=redis` every instance counts
//! in one Redis (see `rate_limit/redis_store.rs`), and in memory only while Redis is unreachable.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    sync::{
        Arc, Mutex, MutexGuard, Once, PoisonError, Weak,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, request::Parts},
};
use governor::Quota;
use ipnet::IpNet;
use sha2::{Digest, Sha256};

use super::{
    UsersState,
    config::{RateLimitStore, RateLimits},
    email::canonical_email,
    error::ApiError,
};

mod redis_store;

/// How often buckets that are full again (so hold nothing worth keeping) are dropped.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(60);
/// Buckets kept before they are also pruned on the spot, between two timer runs.
const MAX_TRACKED_KEYS: usize = 100_000;

/// The limiters. Cheap to clone.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

struct Inner {
    limits: RateLimits,
    /// The theoretical arrival time of each bucket (GCRA): a bucket whose time is in the past is
    /// full.
    buckets: Mutex<HashMap<Key, Instant>>,
    /// The number of buckets above which the next attempt prunes them on the spot (changed only
    /// under the lock of `buckets`): twice what the last pruning kept, and at least
    /// [`MAX_TRACKED_KEYS`]. When more buckets than that are all still counting (a flood from
    /// many addresses), pruning then costs a constant share of each attempt instead of a pass over
    /// every bucket, under the lock, at every attempt.
    prune_above: AtomicUsize,
    /// The buckets every instance shares, when `RATE_LIMIT_STORE=redis`; the ones above then
    /// count only while Redis is unreachable.
    shared: Option<redis_store::RedisStore>,
}

/// What a bucket counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Address(&'static str, ClientKey),
    Registrations(ClientKey),
    AccountAddress(&'static str, AccountKey, ClientKey),
    Account(&'static str, AccountKey),
    Mails(&'static str, AccountKey),
}

/// The SHA-256 of a canonical email address.
type AccountKey = [u8; 32];

/// A client address as the limits count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An IPv4 address.
    V4([u8; 4]),
    /// The /64 network of an IPv6 address.
    V6([u8; 8]),
    /// No client address is known (the server was not started with connect info): every such
    /// client shares one bucket, so the per-address limits still hold.
    Unknown,
}

impl Limiter {
    /// Limiters with these quotas; stale buckets are pruned every [`PRUNE_INTERVAL`].
    pub fn new(limits: RateLimits) -> Self {
        Self::with_pruning(limits, PRUNE_INTERVAL)
    }

    /// Limiters with these quotas whose stale buckets are pruned every `every` (by a task on the
    /// current Tokio runtime; without one, only when many buckets pile up).
    pub fn with_pruning(limits: RateLimits, every: Duration) -> Self {
        Self::with_store(limits, every, None)
    }

    /// Limiters with these quotas, kept where `RATE_LIMIT_STORE` says.
    pub fn for_store(limits: RateLimits, store: &RateLimitStore) -> Self {
        match store {
            RateLimitStore::Memory => Self::new(limits),
            RateLimitStore::Redis(client) => {
                Self::shared(limits, client.clone(), redis_store::KEY_PREFIX.to_owned())
            }
        }
    }

    /// Limiters with these quotas that every instance on the Redis server of `client` shares,
    /// under keys that start with `key_prefix`. Redis is connected on first use: the app starts
    /// and counts in memory while it is down.
    pub fn shared(limits: RateLimits, client: redis::Client, key_prefix: String) -> Self {
        let store = match redis_store::RedisStore::new(client, key_prefix) {
            Ok(store) => Some(store),
            Err(error) => {
                tracing::warn!("cannot use Redis ({error}): rate limits count per process");
                None
            }
        };
        Self::with_store(limits, PRUNE_INTERVAL, store)
    }

    fn with_store(
        limits: RateLimits,
        every: Duration,
        shared: Option<redis_store::RedisStore>,
    ) -> Self {
        let inner = Arc::new(Inner {
            limits,
            buckets: Mutex::new(HashMap::new()),
            prune_above: AtomicUsize::new(MAX_TRACKED_KEYS),
            shared,
        });
        spawn_pruner(Arc::downgrade(&inner), every);
        Self { inner }
    }

    /// Counts one attempt at `action` (e.g. `"login"`, or `"confirm"` for a password confirmation)
    /// for the account `email` from `client`: 422 for an address that is not valid, before any
    /// counting; 429 with the time to wait when a budget is spent (the address's, the account's
    /// from this address, or the account's ceiling). Call [`Attempt::succeeded`] on the result
    /// when the attempt succeeds, so only failures add up.
    pub async fn check(
        &self,
        action: &'static str,
        email: &str,
        client: ClientAddr,
    ) -> Result<Attempt, ApiError> {
        let limits = &self.inner.limits;
        self.check_account(
            action,
            email,
            client,
            [limits.per_account_address, limits.per_account],
        )
        .await
    }

    /// Counts one attempt at a second factor (a TOTP or recovery code) of the account `email` from
    /// `client`: 429 with the time to wait when the address's budget or the account's
    /// [`RateLimits::second_factor`] is spent. As with [`Limiter::check`], call
    /// [`Attempt::succeeded`] when the code is right, so only wrong codes add up.
    pub async fn check_second_factor(
        &self,
        email: &str,
        client: ClientAddr,
    ) -> Result<Attempt, ApiError> {
        let second_factor = self.inner.limits.second_factor;
        // The account's budget applies per address too: it is tight enough that a stranger who
        // spends it is no better off than with a budget of their own.
        self.check_account("second_factor", email, client, [second_factor; 2])
            .await
    }

    /// Counts one request for a mail of `action` (a reset, verification or login link) to the
    /// account `email` from `client`, as [`Limiter::check`] does but without the account's
    /// ceiling, which strangers could keep empty to answer the owner 429. Instead, whether a
    /// mail may go: `false` once [`RateLimits::mails_per_account`] is spent, whoever asked. The
    /// caller answers as usual then, and sends nothing. Counted for every address alike, account
    /// or not, so that neither the answer nor its timing tells which addresses have one.
    pub async fn check_mail(
        &self,
        action: &'static str,
        email: &str,
        client: ClientAddr,
    ) -> Result<bool, ApiError> {
        let account = account_key(&canonical_email(email)?);
        let limits = &self.inner.limits;
        let client = client.key();
        self.take(&[
            (Key::Address(action, client), limits.per_address),
            (
                Key::AccountAddress(action, account, client),
                limits.per_account_address,
            ),
        ])
        .await?;
        let mail = [(Key::Mails(action, account), limits.mails_per_account)];
        Ok(self.take(&mail).await.is_ok())
    }

    /// Counts one mail of `action` that the logged-in account `asker` has sent to some address
    /// (the link that confirms a new address) against [`RateLimits::mails_per_account`]: 429
    /// with the time to wait once it is spent. The budget is the asker's own: nobody floods a
    /// mailbox from their account, and nobody else can spend it (a budget per address mailed to
    /// would let strangers keep its owner from moving their account there).
    pub async fn check_mails_from(
        &self,
        action: &'static str,
        asker: &str,
    ) -> Result<(), ApiError> {
        let account = account_key(&canonical_email(asker)?);
        let mails = self.inner.limits.mails_per_account;
        self.take(&[(Key::Mails(action, account), mails)]).await
    }

    /// Counts one attempt at `action` for the account `email` from `client`, against the
    /// address's budget and `account_quotas` (per account and address, per account).
    async fn check_account(
        &self,
        action: &'static str,
        email: &str,
        client: ClientAddr,
        account_quotas: [Quota; 2],
    ) -> Result<Attempt, ApiError> {
        let account = account_key(&canonical_email(email)?);
        let client = client.key();
        let [per_account_address, per_account] = account_quotas;
        let keys = [
            (Key::Address(action, client), self.inner.limits.per_address),
            (
                Key::AccountAddress(action, account, client),
                per_account_address,
            ),
            (Key::Account(action, account), per_account),
        ];
        self.take(&keys).await?;
        Ok(Attempt {
            limiter: self.clone(),
            forgiven: [keys[1], keys[2]],
        })
    }

    /// Counts one attempt at `action` from `client` alone, for routes that name no account (such
    /// as the OAuth2 authorize step), or answers 429 with the time to wait.
    pub async fn check_address(
        &self,
        action: &'static str,
        client: ClientAddr,
    ) -> Result<(), ApiError> {
        self.take(&[(
            Key::Address(action, client.key()),
            self.inner.limits.per_address,
        )])
        .await
    }

    /// Counts one registration from `client`, or answers 429 with the time to wait: each one
    /// costs a password hash and creates an account.
    pub async fn check_registration(&self, client: ClientAddr) -> Result<(), ApiError> {
        self.take(&[(
            Key::Registrations(client.key()),
            self.inner.limits.registrations_per_address,
        )])
        .await
    }

    /// Whether the limits count in Redis at the moment: `false` with `RATE_LIMIT_STORE=memory`,
    /// and during a Redis outage (then each instance counts on its own).
    pub fn shared_now(&self) -> bool {
        self.inner
            .shared
            .as_ref()
            .is_some_and(redis_store::RedisStore::available)
    }

    /// The number of buckets held (full buckets are dropped by the pruning).
    pub fn tracked_keys(&self) -> usize {
        self.inner.buckets().len()
    }

    /// Drops the buckets that are full again: they hold nothing a fresh bucket would not.
    pub fn prune(&self) {
        self.inner.prune();
    }

    /// Takes one token from every bucket, or from none when one of them is empty (then 429 with
    /// the longest wait): in Redis when the limits are shared and it answers, else in memory.
    async fn take(&self, keys: &[(Key, Quota)]) -> Result<(), ApiError> {
        let shared = match &self.inner.shared {
            Some(store) => store.take(keys).await,
            None => None,
        };
        match shared {
            Some(wait) if wait.is_zero() => Ok(()),
            Some(wait) => Err(ApiError::too_many_requests(wait)),
            None => self.take_in_memory(keys),
        }
    }

    fn take_in_memory(&self, keys: &[(Key, Quota)]) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut buckets = self.inner.buckets();
        if buckets.len() > self.inner.prune_above.load(Ordering::Relaxed) {
            self.inner.prune_locked(&mut buckets, now);
        }
        let mut wait = Duration::ZERO;
        for (key, quota) in keys {
            let due = buckets.get(key).copied().unwrap_or(now).max(now);
            // GCRA: the bucket is empty when its arrival time is more than (burst - 1) intervals
            // ahead of now.
            let tolerance = quota.replenish_interval() * (quota.burst_size().get() - 1);
            wait = wait.max((due - now).saturating_sub(tolerance));
        }
        if !wait.is_zero() {
            return Err(ApiError::too_many_requests(wait));
        }
        for (key, quota) in keys {
            let due = buckets.get(key).copied().unwrap_or(now).max(now);
            buckets.insert(*key, due + quota.replenish_interval());
        }
        Ok(())
    }
}

impl Inner {
    fn buckets(&self) -> MutexGuard<'_, HashMap<Key, Instant>> {
        // The map stays consistent whatever panicked while holding the lock.
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn prune(&self) {
        self.prune_locked(&mut self.buckets(), Instant::now());
    }

    /// Drops the buckets that are full again, from the map that the caller has locked.
    fn prune_locked(&self, buckets: &mut HashMap<Key, Instant>, now: Instant) {
        buckets.retain(|_, due| *due > now);
        let next = buckets.len().saturating_mul(2).max(MAX_TRACKED_KEYS);
        self.prune_above.store(next, Ordering::Relaxed);
    }
}

/// Prunes the buckets every `every` until the limiter is dropped.
fn spawn_pruner(inner: Weak<Inner>, every: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            match inner.upgrade() {
                Some(inner) => inner.prune(),
                None => break,
            }
        }
    });
}

/// An attempt that was counted; see [`Limiter::check`].
pub struct Attempt {
    limiter: Limiter,
    forgiven: [(Key, Quota); 2],
}

impl Attempt {
    /// The attempt succeeded (say the password was right): it no longer counts against the
    /// account, so only failures lock anything. The per-address count stays.
    pub async fn succeeded(self) {
        if let Some(store) = &self.limiter.inner.shared {
            store.give_back(&self.forgiven).await;
        }
        let mut buckets = self.limiter.inner.buckets();
        for (key, quota) in self.forgiven {
            if let Some(due) = buckets.get_mut(&key) {
                *due = due.checked_sub(quota.replenish_interval()).unwrap_or(*due);
            }
        }
    }
}

fn account_key(canonical_email: &str) -> AccountKey {
    Sha256::digest(canonical_email.as_bytes()).into()
}

/// The client's IP address: the socket's peer, or, when the peer is one of the
/// `TRUSTED_PROXIES`, the address the proxies forwarded (see [`client_address`]). `None` when the
/// server was not started with `into_make_service_with_connect_info::<SocketAddr>()` (as in tests
/// that call the router directly): the limits then count every such client as one.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// The bucket key of this client: IPv4 addresses as they are, IPv6 per /64.
    pub fn key(self) -> ClientKey {
        match self.0.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(ip)) => ClientKey::V4(ip.octets()),
            Some(IpAddr::V6(ip)) => {
                let mut network = [0; 8];
                network.copy_from_slice(&ip.octets()[..8]);
                ClientKey::V6(network)
            }
            None => ClientKey::Unknown,
        }
    }
}

impl FromRequestParts<UsersState> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &UsersState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        if peer.is_none() {
            static WARNED: Once = Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    "no client address: serve with `into_make_service_with_connect_info::<SocketAddr>()`; \
                     until then the per-address rate limits count every client as one"
                );
            });
        }
        Ok(Self(client_address(
            peer,
            &parts.headers,
            &state.config.trusted_proxies,
        )))
    }
}

/// Who sent a request that arrived from `peer`. Forwarding headers are believed only from a
/// trusted proxy, since anyone can send them: then the client is the rightmost address of
/// `X-Forwarded-For` (or, without it, of `Forwarded`) that is not itself a trusted proxy. Each
/// proxy appends the address it saw, so everything left of that is what the client claimed.
pub fn client_address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted_proxies: &[IpNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    let peer = peer.map(|ip| ip.to_canonical());
    let mut client = match peer {
        Some(ip) if is_trusted(&ip) => ip,
        untrusted_or_unknown => return untrusted_or_unknown,
    };
    for hop in forwarded_hops(headers).into_iter().rev() {
        // A hop that is not an address (`unknown`, an obfuscated name) ends the walk at the last
        // trusted proxy.
        let Some(ip) = hop else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

/// The addresses in `X-Forwarded-For` (or, without it, in the `for=` of `Forwarded`), left to
/// right; `None` for an entry that is not an IP address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let elements = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .flat_map(|value| value.to_str().unwrap_or("").split(','))
            .map(str::to_owned)
            .collect()
    };
    let forwarded_for = elements("x-forwarded-for");
    if !forwarded_for.is_empty() {
        return forwarded_for.iter().map(|hop| parse_hop(hop)).collect();
    }
    elements("forwarded")
        .iter()
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                .and_then(|(_, value)| parse_hop(value))
        })
        .collect()
}

/// `203.0.113.7`, `2001:db8::1`, `"[2001:db8::1]:443"` or `203.0.113.7:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|addr| addr.ip()))
        .or_else(|_| hop.trim_start_matches('[').trim_end_matches(']').parse())
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|net| net.parse().unwrap()).collect()
    }

    #[test]
    fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.9")]);
        let peer = Some(ip("198.51.100.1"));
        assert_eq!(client_address(peer, &spoofed, &[]), peer);
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_address(peer, &spoofed, &trusted), peer);
        // Without connect info nobody can be trusted: the headers are ignored too.
        assert_eq!(client_address(None, &spoofed, &trusted), None);
    }

    #[test]
    fn behind_trusted_proxies_the_client_is_the_rightmost_untrusted_hop() {
        let trusted = nets(&["10.0.0.0/8", "192.0.2.1/32"]);
        let peer = Some(ip("10.1.2.3"));
        // The client claimed 1.1.1.1; the first proxy saw 203.0.113.9, the second 192.0.2.1.
        let forwarded = headers(&[
            ("x-forwarded-for", "1.1.1.1, 203.0.113.9"),
            ("x-forwarded-for", "192.0.2.1"),
        ]);
        assert_eq!(
            client_address(peer, &forwarded, &trusted),
            Some(ip("203.0.113.9"))
        );
        let rfc7239 = headers(&[(
            "forwarded",
            "for=1.1.1.1, for=\"[2001:db8::7]:443\";proto=https, for=192.0.2.1",
        )]);
        assert_eq!(
            client_address(peer, &rfc7239, &trusted),
            Some(ip("2001:db8::7"))
        );
        // Only trusted hops, or none at all: the nearest trusted address is all there is.
        let internal = headers(&[("x-forwarded-for", "10.9.9.9")]);
        assert_eq!(
            client_address(peer, &internal, &trusted),
            Some(ip("10.9.9.9"))
        );
        assert_eq!(client_address(peer, &HeaderMap::new(), &trusted), peer);
        let garbage = headers(&[("x-forwarded-for", "1.1.1.1, unknown, 10.9.9.9")]);
        assert_eq!(
            client_address(peer, &garbage, &trusted),
            Some(ip("10.9.9.9"))
        );
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let a = ClientAddr(Some(ip("2001:db8:1:2::1"))).key();
        let b = ClientAddr(Some(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))).key();
        let other = ClientAddr(Some(ip("2001:db8:1:3::1"))).key();
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert_eq!(
            ClientAddr(Some(ip("::ffff:192.0.2.1"))).key(),
            ClientAddr(Some(ip("192.0.2.1"))).key()
        );
        assert_eq!(ClientAddr(None).key(), ClientKey::Unknown);
    }

    fn limits(burst: u32) -> RateLimits {
        let quota = Quota::with_period(Duration::from_millis(20))
            .unwrap()
            .allow_burst(NonZeroU32::new(burst).unwrap());
        RateLimits {
            per_account_address: quota,
            per_account: quota,
            per_address: quota,
            registrations_per_address: quota,
            second_factor: quota,
            mails_per_account: quota,
        }
    }

    #[tokio::test]
    async fn full_buckets_are_pruned_by_the_timer() {
        let limiter = Limiter::with_pruning(limits(1), Duration::from_millis(30));
        let client = ClientAddr(Some(ip("192.0.2.1")));
        limiter
            .check("login", "ada@example.com", client)
            .await
            .expect("a first attempt");
        assert_eq!(limiter.tracked_keys(), 3);
        // No further request comes: only the timer can drop the buckets.
        let deadline = Instant::now() + Duration::from_secs(10);
        while limiter.tracked_keys() > 0 {
            assert!(Instant::now() < deadline, "the buckets were never pruned");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn one_address_in_any_spelling_is_one_bucket_and_invalid_ones_count_nowhere() {
        let limiter = Limiter::new(limits(1));
        let client = ClientAddr(None);
        limiter
            .check("login", "ALÍCE@example.com", client)
            .await
            .unwrap();
        let again = limiter
            .check("login", " ali\u{301}ce@Example.com", client)
            .await;
        assert_eq!(again.err().expect("the same bucket").code, "rate_limited");
        let error = limiter
            .check("login", "alice\0@example.com", client)
            .await
            .err()
            .expect("422");
        assert_eq!(error.code, "invalid_email");
        // Nothing was counted for the invalid address: still the three buckets of the first.
        assert_eq!(limiter.tracked_keys(), 3);
    }
}
