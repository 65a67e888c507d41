//! Cookies{% if backend != "jwt" %} (the one that carries the credential among them){% endif %}: always `HttpOnly` (scripts cannot read it, so an XSS
//! bug cannot steal it), `SameSite=Lax` (not sent on cross-site subrequests) and `Secure` when
//! `APP_URL` is https.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};

use super::config::Config;

/// The value of the cookie `name` in the request's `Cookie` headers.
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
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
