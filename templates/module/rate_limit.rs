//! Rate limits for login and for the routes that send mail, per account and per client address
//! (token buckets from the `governor` crate, kept in memory).
//!
//! The limits are per server process: behind a load balancer each instance counts on its own.

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};
use governor::{DefaultKeyedRateLimiter, RateLimiter, clock::Clock};

use super::{config::RateLimits, error::ApiError};

/// Keys kept before stale ones are dropped.
const MAX_TRACKED_KEYS: usize = 10_000;

/// The limiters. Cheap to clone.
#[derive(Clone)]
pub struct Limiter {
    per_account: Arc<DefaultKeyedRateLimiter<(&'static str, String)>>,
    per_address: Arc<DefaultKeyedRateLimiter<(&'static str, IpAddr)>>,
}

impl Limiter {
    /// Limiters with these quotas.
    pub fn new(limits: RateLimits) -> Self {
        Self {
            per_account: Arc::new(RateLimiter::keyed(limits.per_account)),
            per_address: Arc::new(RateLimiter::keyed(limits.per_address)),
        }
    }

    /// Counts one attempt at `action` (e.g. `"login"`) for the account `email` from `client`, or
    /// answers 429 with the time to wait when either budget is spent.
    pub fn check(
        &self,
        action: &'static str,
        email: &str,
        client: ClientAddr,
    ) -> Result<(), ApiError> {
        self.check_address(action, client)?;
        self.per_account
            .check_key(&(action, email.trim().to_lowercase()))
            .map_err(|not_until| too_many(&not_until))
    }

    /// Counts one attempt at `action` from `client` alone, for routes that name no account (such
    /// as the OAuth2 authorize step), or answers 429 with the time to wait.
    pub fn check_address(&self, action: &'static str, client: ClientAddr) -> Result<(), ApiError> {
        if self.per_account.len() > MAX_TRACKED_KEYS || self.per_address.len() > MAX_TRACKED_KEYS {
            self.per_account.retain_recent();
            self.per_address.retain_recent();
        }
        match client.0 {
            Some(ip) => self
                .per_address
                .check_key(&(action, ip))
                .map_err(|not_until| too_many(&not_until)),
            None => Ok(()),
        }
    }
}

fn too_many(not_until: &governor::NotUntil<governor::clock::QuantaInstant>) -> ApiError {
    let clock = governor::clock::DefaultClock::default();
    ApiError::too_many_requests(not_until.wait_time_from(clock.now()))
}

/// The client's IP address, when the server was started with
/// `into_make_service_with_connect_info::<SocketAddr>()`; `None` otherwise (as in tests that call
/// the router directly). Behind a reverse proxy this is the proxy's address: take it from the
/// proxy's forwarding header instead, if you trust the proxy.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}
