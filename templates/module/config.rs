//! Configuration of the user system: settings read from the environment, and the constants
//! (token lifetimes, paths, limits) that are yours to change here.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    time::Duration,
};

use governor::Quota;
use ipnet::IpNet;

{% if backend == "session" -%}
/// How long a login session lasts. Logging in again starts a new one.
pub const SESSION_TTL: Duration = Duration::from_secs(14 * 24 * 60 * 60);
/// The cookie that carries the session token.
pub const SESSION_COOKIE: &str = "session";
{%- else -%}
/// How long an access token is valid. Logging in again issues a new one.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(60 * 60);
/// The audience (`aud` claim) of the access tokens: a token minted for another service with the
/// same secret is refused.
pub const JWT_AUDIENCE: &str = "{{ package }}";
{%- endif %}
{%- if backend == "jwt-cookie" %}
/// The cookie that carries the access token.
pub const ACCESS_TOKEN_COOKIE: &str = "access_token";
{%- endif %}
/// How long the link in a verification mail works.
pub const VERIFY_TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How long the link in a password-reset mail works.
pub const RESET_TOKEN_TTL: Duration = Duration::from_secs(60 * 60);
/// How long the link in a login mail (magic link) works: short, because it logs in by itself.
pub const MAGIC_LINK_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// How long the second step of a login with two-factor login on may wait for its code (the
/// `mfa_token` that the first step answers).
pub const MFA_TOKEN_TTL: Duration = Duration::from_secs(5 * 60);
/// The recovery codes given when two-factor login is turned on, each good for one login.
pub const RECOVERY_CODES: usize = 10;
/// The name authenticator apps show next to the account (the `issuer` of the `otpauth://` URL):
/// the package's name unless you put another here. It must not contain `:`.
pub const TOTP_ISSUER: &str = env!("CARGO_PKG_NAME");

/// Passwords shorter than this (in characters) are refused.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Passwords longer than this (in bytes) are refused, so nobody can make the server hash megabytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The minimum length of `USERS_SECRET`, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

// Limits on input (0.2.0).
/// The largest request body the users routes read, in bytes; a larger one is answered 413. Room
/// for the longest password even with every character escaped in JSON, far from a megabyte.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

// The paths of every handler, installed or not: adding a handler does not change this file.
/// `POST` to log in.
pub const LOGIN_PATH: &str = "/login";
/// `POST` to log out.
pub const LOGOUT_PATH: &str = "/logout";
/// `POST` to create an account.
pub const REGISTER_PATH: &str = "/register";
/// `POST` with a token to verify an email address; the link in the verification mail points here.
pub const VERIFY_PATH: &str = "/verify";
/// `POST` to have the verification mail sent again.
pub const VERIFY_RESEND_PATH: &str = "/verify/resend";
/// `POST` to have a password-reset mail sent.
pub const FORGOT_PASSWORD_PATH: &str = "/forgot-password";
/// `POST` with a token and a new password; the link in the reset mail points here.
pub const RESET_PASSWORD_PATH: &str = "/reset-password";
/// `POST` `{email}` to have a login link mailed (magic link).
pub const MAGIC_LINK_PATH: &str = "/magic-link";
/// `POST` with the token of a login link to log in; the mailed link itself points to
/// [`MAGIC_LINK_PATH`] on the front end, which posts the token here.
pub const MAGIC_LINK_LOGIN_PATH: &str = "/magic-link/login";
/// `POST` `{current_password}` to start turning two-factor login on, `DELETE` to turn it off.
pub const TOTP_PATH: &str = "/users/me/totp";
/// `POST` the first code of the authenticator app to turn two-factor login on.
pub const TOTP_CONFIRM_PATH: &str = "/users/me/totp/confirm";
/// `POST` `{mfa_token, code}`: the second step of a login with two-factor login on.
pub const LOGIN_TOTP_PATH: &str = "/login/totp";
/// `GET` the OpenAPI document of the installed routes.
pub const OPENAPI_PATH: &str = "/openapi.json";
/// `GET` and `PATCH` the logged-in user.
pub const CURRENT_USER_PATH: &str = "/users/me";
/// `GET` to start a login with the OAuth2 provider named in the path: answers the URL to send the
/// browser to.
pub const OAUTH2_AUTHORIZE_PATH: &str = "/oauth2/{provider}/authorize";
/// `GET`: where the provider sends the browser back. Register `<APP_URL>` followed by this path
/// (with the provider's name) as the redirect URI at the provider.
pub const OAUTH2_CALLBACK_PATH: &str = "/oauth2/{provider}/callback";
/// `GET` the roles, `POST` to create one.
pub const ROLES_PATH: &str = "/users/roles";
/// `PATCH` or `DELETE` the role with this id.
pub const ROLE_PATH: &str = "/users/roles/{id}";
/// `PUT` `{user_id, role_id}` to give a user a role.
pub const ASSIGN_ROLE_PATH: &str = "/users/roles/assign";
/// `PUT` `{user_id, role_id}` to take a role from a user.
pub const REVOKE_ROLE_PATH: &str = "/users/roles/revoke";
/// `GET` the users, a page at a time (`?limit=&offset=`).
pub const USERS_PATH: &str = "/users";
/// `GET`, `PATCH` or `DELETE` the user with this id.
pub const USER_PATH: &str = "/users/{id}";

/// Paths that [`crate::{{ module }}::layers::require_auth`] lets anonymous callers reach. Every other
/// route behind that layer answers 401 without a valid credential. A `{name}` segment matches any
/// one path segment, as in the router.
pub const AUTH_EXCLUDE_PATHS: &[&str] = &[
    LOGIN_PATH,
    REGISTER_PATH,
    VERIFY_PATH,
    VERIFY_RESEND_PATH,
    FORGOT_PASSWORD_PATH,
    RESET_PASSWORD_PATH,
    MAGIC_LINK_PATH,
    MAGIC_LINK_LOGIN_PATH,
    LOGIN_TOTP_PATH,
    OAUTH2_AUTHORIZE_PATH,
    OAUTH2_CALLBACK_PATH,
    OPENAPI_PATH,
];

/// Everything the user system needs at run time.
#[derive(Clone)]
pub struct Config {
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `USERS_SECRET`: signs tokens. At least [`MIN_SECRET_BYTES`] bytes.
    pub secret: String,
    /// `BIND_ADDR`, default `127.0.0.1:3000`.
    pub bind_addr: SocketAddr,
    /// `APP_URL`, default `http://localhost:3000`: the base of the links in mails, the origin that
    /// cookie-authenticated requests must come from, and whether cookies are `Secure` (https).
    pub app_url: String,
    /// `SMTP_URL`, e.g. `smtp://127.0.0.1:2525`; unset, mails are written to the log.
    pub smtp_url: Option<String>,
    /// `MAIL_FROM`, default `no-reply@localhost`: the sender of the mails.
    pub mail_from: String,
    /// How often a client may try to log in or ask for mails.
    pub rate_limits: RateLimits,
    /// `TRUSTED_PROXIES`: comma-separated addresses or CIDR ranges of the reverse proxies in front
    /// of the app (default none). Only from these is `X-Forwarded-For` (or `Forwarded`) believed;
    /// see [`crate::{{ module }}::rate_limit::client_address`].
    pub trusted_proxies: Vec<IpNet>,
    /// `RATE_LIMIT_STORE` (with `REDIS_URL`): where the rate limits count.
    pub rate_limit_store: RateLimitStore,
}

/// Rate limits for login, registration and the routes that send mail (see `rate_limit.rs`). An
/// attempt must pass every limit that applies; each is kept per action (`"login"`, ...).
#[derive(Clone, Copy, Debug)]
pub struct RateLimits {
    /// Failed attempts at one account from one client address: what one stranger may try.
    pub per_account_address: Quota,
    /// Failed attempts at one account from every address together: a ceiling on guesses. It
    /// refills faster than [`RateLimits::per_account_address`], so that a single stranger
    /// cannot spend it and lock the owner out.
    pub per_account: Quota,
    /// Attempts from one client address, whatever the account.
    pub per_address: Quota,
    /// Registrations from one client address (each costs a password hash).
    pub registrations_per_address: Quota,
    /// Wrong codes at one account's second login step or two-factor enrolment, from every
    /// address together. Tight: whoever gets here already knows the password, and a six-digit
    /// code is a million guesses, not billions.
    pub second_factor: Quota,
    /// Mails of one kind (reset, verification, login link) to one account, whoever asks. Over
    /// it the request is answered as always (202) but no mail goes out, and the last link mailed
    /// keeps working: nobody can flood a mailbox, nor answer its owner 429 (a stranger can still
    /// spend it, so that the owner's own request sends nothing new). Also the links to new
    /// addresses that one logged-in account asks for (429 there: the budget is the asker's own).
    pub mails_per_account: Quota,
}

impl Default for RateLimits {
    /// Loose enough for a person who mistypes a password a few times, tight enough to make
    /// guessing passwords online hopeless: per account and address 5 failures at once, then one a
    /// minute; per account 20 at once, then one every 10 s (at most 8 640 guesses a day from the
    /// whole internet); per address 30 attempts at once, then one every 2 s; 10 registrations
    /// per address at once, then one a minute; 10 wrong codes of a second factor per account at
    /// once, then one every 30 minutes (at most 58 a day: a chance of 1 in 5 700 a day to hit one
    /// of the 3 codes good at a time, for someone who has the password); 5 mails of a kind per account at once, then one every 20
    /// minutes (at most 77 a day).
    fn default() -> Self {
        Self {
            per_account_address: quota(5, Duration::from_secs(60)),
            per_account: quota(20, Duration::from_secs(10)),
            per_address: quota(30, Duration::from_secs(2)),
            registrations_per_address: quota(10, Duration::from_secs(60)),
            second_factor: quota(10, Duration::from_secs(30 * 60)),
            mails_per_account: quota(5, Duration::from_secs(20 * 60)),
        }
    }
}

impl RateLimits {
    /// Limits nobody reaches: what `RATE_LIMITS=off` sets, for load tests only.
    pub fn off() -> Self {
        let unlimited = Quota::with_period(Duration::from_nanos(1))
            .expect("a non-zero period")
            .allow_burst(NonZeroU32::MAX);
        Self {
            per_account_address: unlimited,
            per_account: unlimited,
            per_address: unlimited,
            registrations_per_address: unlimited,
            second_factor: unlimited,
            mails_per_account: unlimited,
        }
    }

    /// The limits `RATE_LIMITS` asks for: unset or `on`, the defaults; `off`, none (with a
    /// warning: never in production, where they stop password guessing).
    pub fn from_setting(setting: Option<&str>) -> Result<Self, ConfigError> {
        match setting.map(str::trim) {
            None | Some("on") => Ok(Self::default()),
            Some("off") => {
                tracing::warn!("RATE_LIMITS=off: rate limits are disabled (for load tests only)");
                Ok(Self::off())
            }
            Some(other) => Err(ConfigError(format!(
                "RATE_LIMITS {other:?} is neither `on` nor `off`"
            ))),
        }
    }
}

/// `burst` attempts at once, then one every `period`.
fn quota(burst: u32, period: Duration) -> Quota {
    Quota::with_period(period)
        .expect("a non-zero period")
        .allow_burst(NonZeroU32::new(burst).expect("a non-zero burst"))
}

// Shared rate limits (0.2.0).
/// Where the rate limits count: `RATE_LIMIT_STORE`.
#[derive(Clone, Debug)]
pub enum RateLimitStore {
    /// `memory` (the default): in this process. Behind a load balancer each instance counts on
    /// its own, so N instances allow N times the guesses.
    Memory,
    /// `redis`: in the Redis server of `REDIS_URL`, shared by every instance. While Redis is
    /// unreachable each instance counts in memory (and logs a warning).
    Redis(redis::Client),
}

impl RateLimitStore {
    /// The store `RATE_LIMIT_STORE` names (unset: `memory`); `redis` needs `REDIS_URL`.
    pub fn from_settings(
        store: Option<&str>,
        redis_url: Option<&str>,
    ) -> Result<Self, ConfigError> {
        match store.map(str::trim) {
            None | Some("memory") => Ok(Self::Memory),
            Some("redis") => {
                let url = redis_url.ok_or_else(|| {
                    ConfigError(
                        "RATE_LIMIT_STORE=redis needs REDIS_URL, e.g. redis://127.0.0.1:6379"
                            .to_owned(),
                    )
                })?;
                // The URL may hold a password: the message does not repeat it.
                let client = redis::Client::open(url.trim()).map_err(|error| {
                    ConfigError(format!(
                        "REDIS_URL is not a Redis URL like redis://127.0.0.1:6379 ({})",
                        error.category()
                    ))
                })?;
                Ok(Self::Redis(client))
            }
            Some(other) => Err(ConfigError(format!(
                "RATE_LIMIT_STORE {other:?} is neither `memory` nor `redis`"
            ))),
        }
    }
}

/// Parses `TRUSTED_PROXIES`: addresses (`10.0.0.1`) or CIDR ranges (`10.0.0.0/8`, `fd00::/8`),
/// separated by commas.
pub fn parse_trusted_proxies(list: &str) -> Result<Vec<IpNet>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ConfigError(format!(
                        "TRUSTED_PROXIES: {item:?} is not an IP address or a CIDR range like \
                         10.0.0.0/8 (give a comma-separated list)"
                    ))
                })
        })
        .collect()
}

/// A setting is missing or unusable.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the configuration from the environment (load `.env` into it first if you use one).
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        let database_url =
            var("DATABASE_URL").ok_or_else(|| ConfigError("DATABASE_URL is not set".to_owned()))?;
        let secret = var("USERS_SECRET").ok_or_else(|| {
            ConfigError(format!(
                "USERS_SECRET is not set: give it a random value of at least {MIN_SECRET_BYTES} bytes"
            ))
        })?;
        let bind_addr = var("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
        let bind_addr = bind_addr.parse().map_err(|_| {
            ConfigError(format!(
                "BIND_ADDR {bind_addr:?} is not an address like 127.0.0.1:3000"
            ))
        })?;
        let config = Self {
            database_url,
            secret,
            bind_addr,
            app_url: var("APP_URL").unwrap_or_else(|| "http://localhost:3000".to_owned()),
            smtp_url: var("SMTP_URL"),
            mail_from: var("MAIL_FROM").unwrap_or_else(|| "no-reply@localhost".to_owned()),
            rate_limits: RateLimits::from_setting(var("RATE_LIMITS").as_deref())?,
            trusted_proxies: parse_trusted_proxies(&var("TRUSTED_PROXIES").unwrap_or_default())?,
            rate_limit_store: RateLimitStore::from_settings(
                var("RATE_LIMIT_STORE").as_deref(),
                var("REDIS_URL").as_deref(),
            )?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the settings that [`Config::from_env`] cannot check by parsing alone. Call it when you
    /// build a `Config` by hand.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError(format!(
                "USERS_SECRET is {} bytes long; it must be at least {MIN_SECRET_BYTES} random bytes \
                 (for example the output of `openssl rand -hex 32`)",
                self.secret.len()
            )));
        }
        if !(self.app_url.starts_with("http://") || self.app_url.starts_with("https://")) {
            return Err(ConfigError(format!(
                "APP_URL {:?} must start with http:// or https://",
                self.app_url
            )));
        }
        Ok(())
    }

    /// `APP_URL` without a trailing slash, to put paths behind.
    pub fn base_url(&self) -> &str {
        self.app_url.trim_end_matches('/')
    }

    /// Cookies get the `Secure` attribute when the app is served over https.
    pub fn secure_cookies(&self) -> bool {
        self.app_url.starts_with("https://")
    }
}

#[cfg(test)]
mod limits_tests {
    use super::*;

    #[test]
    fn addresses_and_ranges_are_read_and_anything_else_is_a_clear_error() {
        let read = parse_trusted_proxies(" 10.0.0.0/8, 192.0.2.1,,fd00::/8 ").expect("valid");
        let contains = |net: &IpNet, ip: &str| net.contains(&ip.parse::<IpAddr>().unwrap());
        assert_eq!(read.len(), 3);
        assert!(contains(&read[0], "10.200.0.1"));
        assert!(contains(&read[1], "192.0.2.1") && !contains(&read[1], "192.0.2.2"));
        assert!(contains(&read[2], "fd00::1"));
        assert!(parse_trusted_proxies("").expect("empty").is_empty());
        for bad in ["10.0.0.0/33", "proxy.internal", "10.0.0.1;10.0.0.2"] {
            let error = parse_trusted_proxies(bad)
                .expect_err("an error")
                .to_string();
            assert!(error.contains("TRUSTED_PROXIES"), "{error}");
        }
    }

    #[test]
    fn rate_limits_are_on_unless_switched_off_and_a_typo_is_an_error() {
        let burst = |limits: RateLimits| limits.per_account.burst_size().get();
        let default = burst(RateLimits::default());
        assert_eq!(burst(RateLimits::from_setting(None).unwrap()), default);
        assert_eq!(
            burst(RateLimits::from_setting(Some("on")).unwrap()),
            default
        );
        assert_eq!(
            burst(RateLimits::from_setting(Some("off")).unwrap()),
            u32::MAX
        );
        let error = RateLimits::from_setting(Some("of")).expect_err("an error");
        assert!(error.to_string().contains("RATE_LIMITS"), "{error}");
    }
}

#[cfg(test)]
mod store_tests {
    use super::*;

    #[test]
    fn the_store_is_memory_unless_redis_is_asked_for_with_a_url() {
        assert!(matches!(
            RateLimitStore::from_settings(None, None),
            Ok(RateLimitStore::Memory)
        ));
        assert!(matches!(
            RateLimitStore::from_settings(Some("memory"), Some("redis://127.0.0.1:6379")),
            Ok(RateLimitStore::Memory)
        ));
        assert!(matches!(
            RateLimitStore::from_settings(Some("redis"), Some("redis://127.0.0.1:6379")),
            Ok(RateLimitStore::Redis(_))
        ));
        let error = |store, url| {
            RateLimitStore::from_settings(Some(store), url)
                .expect_err("an error")
                .to_string()
        };
        assert!(error("redis", None).contains("REDIS_URL"));
        assert!(error("Redis ", None).contains("RATE_LIMIT_STORE"));
        let bad_url = error("redis", Some("http://user:hunter2@cache:6379"));
        assert!(bad_url.contains("REDIS_URL"), "{bad_url}");
        assert!(!bad_url.contains("hunter2"), "{bad_url}");
    }
}
