//! The auth backend: server-side sessions.
//!
//! Login creates a random session token, sends it in an `HttpOnly` cookie and stores only its hash
//! (with an expiry) in `user_tokens`. Every request looks the hash up, so logout, a password change
//! or deactivating a user takes effect at once, on every server that shares the database.

use axum::{
    Json,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use uuid::Uuid;

use super::{
    UsersState,
    config::{SESSION_COOKIE, SESSION_TTL},
    cookies, db,
    error::ApiError,
    model::User,
    tokens::{self, Purpose},
};

/// The token purpose under which this backend keeps its credentials.
pub const CREDENTIAL: Purpose = Purpose::Session;

{% include "partials/credential.rs" %}
/// Server-side sessions need no keys; this exists so that every backend has the same shape.
#[derive(Clone, Default)]
pub struct Backend;

/// Issues a new credential for `user`, if they are still active and (for a password login, which
/// gives `verified_hash`) still have the password hash the login verified; otherwise 401 as for a
/// wrong password. It is stored with `connection`, the login's transaction: a `post_login` hook
/// that fails takes it back.
pub async fn issue(
    // Unused by sessions; the token backends sign with `state.backend`.
    _state: &UsersState,
    connection: &mut db::Connection,
    user: &User,
    verified_hash: Option<&str>,
) -> Result<Issued, ApiError> {
    // A brand-new random token at every login: a session id that an attacker planted before the
    // login is worth nothing afterwards (no session fixation).
    let (token, token_hash) = tokens::generate();
    // A login that raced a password change or a deactivation must not keep a session.
    let stored = db::insert_credential(
        &mut *connection,
        user.id,
        CREDENTIAL,
        &token_hash,
        db::expires_in(SESSION_TTL),
        verified_hash,
    )
    .await?;
    if !stored {
        return Err(ApiError::invalid_credentials());
    }
    Ok(Issued {
        token,
        credential: Credential { token_hash },
    })
}

/// The body of a successful login's answer (`POST /login` and every other way to log in); the
/// credential is in the cookie.
#[derive(Serialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct LoginBody<'a> {
    /// The logged-in user.
    pub user: &'a User,
}

/// The answer to a successful login: 201 with the user, and the credential in a cookie.
pub fn login_response(state: &UsersState, user: &User, issued: Issued) -> Response {
    let cookie = cookies::set(&state.config, SESSION_COOKIE, &issued.token, SESSION_TTL);
    (
        StatusCode::CREATED,
        [(header::SET_COOKIE, cookie)],
        Json(LoginBody { user }),
    )
        .into_response()
}

/// The user and credential a request carries, if it carries a valid one.
pub async fn authenticate(
    state: &UsersState,
    headers: &HeaderMap,
) -> Result<Option<(User, Credential)>, ApiError> {
    let Some(token) = cookies::read(&state.config, headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let token_hash = tokens::hash(token);
    let user = state
        .lookups
        .find_user_by_token(CREDENTIAL, &token_hash)
        .await?;
    Ok(user.map(|user| (user, Credential { token_hash })))
}

{% include "partials/revoke.rs" %}
/// The answer to a logout: 204, and the cookie cleared.
pub fn logout_response(state: &UsersState) -> Response {
    let cookie = cookies::clear(&state.config, SESSION_COOKIE);
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response()
}
