//! Configuration of the user system: settings read from the environment, and the constants
//! (token lifetimes, paths, limits) that are yours to change here.

use std::{fmt, net::SocketAddr, num::NonZeroU32, time::Duration};

use governor::Quota;

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

/// Passwords shorter than this (in characters) are refused.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Passwords longer than this (in bytes) are refused, so nobody can make the server hash megabytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The minimum length of `USERS_SECRET`, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

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
/// `GET` and `PATCH` the logged-in user.
pub const CURRENT_USER_PATH: &str = "/users/me";
{%- if "role-management" in handlers %}
/// `GET` the roles, `POST` to create one.
pub const ROLES_PATH: &str = "/users/roles";
/// `PATCH` or `DELETE` the role with this id.
pub const ROLE_PATH: &str = "/users/roles/{id}";
/// `PUT` `{user_id, role_id}` to give a user a role.
pub const ASSIGN_ROLE_PATH: &str = "/users/roles/assign";
/// `PUT` `{user_id, role_id}` to take a role from a user.
pub const REVOKE_ROLE_PATH: &str = "/users/roles/revoke";
{%- endif %}
{%- if "user-management" in handlers %}
/// `GET` the users, a page at a time (`?limit=&offset=`).
pub const USERS_PATH: &str = "/users";
/// `GET`, `PATCH` or `DELETE` the user with this id.
pub const USER_PATH: &str = "/users/{id}";
/// The number of users `GET /users` answers when the request gives no `limit`.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// The largest `limit` `GET /users` accepts.
pub const MAX_PAGE_SIZE: i64 = 500;
{%- endif %}
{%- if "role-management" in handlers %}

/// The role that may manage users and roles: the guard in [`crate::{{ module }}::router`] lets
/// only its holders reach those routes. Give it to a first user with
/// `cargo run -- users create-user --email ... --password ... --verified --role admin` (after
/// `cargo run -- users create-role --name admin`).
pub const ADMIN_ROLE: &str = "admin";
/// Role names are 1 to this many characters: ASCII letters, digits, `-`, `_`, `.` and `:`.
pub const MAX_ROLE_NAME_CHARS: usize = 64;
/// Role descriptions are at most this many characters.
pub const MAX_ROLE_DESCRIPTION_CHARS: usize = 1000;
{%- endif %}

/// Paths that [`crate::{{ module }}::layers::require_auth`] lets anonymous callers reach. Every other
/// route behind that layer answers 401 without a valid credential.
pub const AUTH_EXCLUDE_PATHS: &[&str] = &[
    LOGIN_PATH,
    REGISTER_PATH,
    VERIFY_PATH,
    VERIFY_RESEND_PATH,
    FORGOT_PASSWORD_PATH,
    RESET_PASSWORD_PATH,
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
}

/// Rate limits for login and for the routes that send mail. Each is kept per account (the email
/// address) and per client address; a request must pass both.
#[derive(Clone, Copy, Debug)]
pub struct RateLimits {
    /// Attempts per email address.
    pub per_account: Quota,
    /// Attempts per client IP address.
    pub per_address: Quota,
}

impl Default for RateLimits {
    /// Loose enough for a person who mistypes a password a few times, tight enough to make
    /// guessing passwords online hopeless: 6 attempts at once per account, then one every 10 s;
    /// 30 at once per address, then one every 2 s.
    fn default() -> Self {
        Self {
            per_account: Quota::with_period(Duration::from_secs(10))
                .expect("a non-zero period")
                .allow_burst(NonZeroU32::new(6).expect("non-zero")),
            per_address: Quota::with_period(Duration::from_secs(2))
                .expect("a non-zero period")
                .allow_burst(NonZeroU32::new(30).expect("non-zero")),
        }
    }
}

/// A setting is missing or unusable.
#[derive(Debug)]
pub struct ConfigError(String);

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
            rate_limits: RateLimits::default(),
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
