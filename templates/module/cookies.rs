//! Cookies{% if backend != "jwt" %} (the one that carries the credential among them){% endif %}: always `HttpOnly` (scripts cannot read it, so an XSS
//! bug cannot steal it), `SameSite=Lax` (not sent on cross-site subrequests) and `Secure` when
//! `APP_URL` is https.
//!
//! On https the names get the `__Host-` prefix (`__Host-session`): browsers accept such a cookie
//! only from this very host, with `Secure`, `Path=/` and no `Domain`, so a sibling subdomain cannot
//! plant or overwrite it (no cookie tossing). The constants in `config.rs` are the names without
//! the prefix; these functions add it.

use std::{borrow::Cow, time::Duration};

use axum::http::{HeaderMap, HeaderValue, header};

use super::config::Config;

/// The prefix that binds a cookie to the exact host that set it (browsers enforce it).
const HOST_PREFIX: &str = "__Host-";

/// The name the cookie `name` has on the wire: `__Host-<name>` when `APP_URL` is https.
pub fn wire_name<'a>(config: &Config, name: &'a str) -> Cow<'a, str> {
    if config.secure_cookies() {
        Cow::Owned(format!("{HOST_PREFIX}{name}"))
    } else {
        Cow::Borrowed(name)
    }
}

/// The value of the cookie `name` in the request's `Cookie` headers. On https only the
/// `__Host-` prefixed cookie counts: one without the prefix may have been set by another host.
pub fn read<'a>(config: &Config, headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let name = wire_name(config, name);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name.as_ref())
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value that stores `value` for `max_age`.
pub fn set(config: &Config, name: &str, value: &str, max_age: Duration) -> HeaderValue {
    build(config, name, value, max_age.as_secs())
}

/// A `Set-Cookie` value that deletes the cookie `name`.
pub fn clear(config: &Config, name: &str) -> HeaderValue {
    build(config, name, "", 0)
}

fn build(config: &Config, name: &str, value: &str, max_age: u64) -> HeaderValue {
    let name = wire_name(config, name);
    // `Path=/`, `Secure` on https and no `Domain`: what the `__Host-` prefix requires.
    let secure = if config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let cookie =
        format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
    // Names are constants and values are base64url or JWTs, which are valid header characters.
    HeaderValue::try_from(cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}
