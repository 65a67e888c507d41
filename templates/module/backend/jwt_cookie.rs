//! The auth backend: JWT in an `HttpOnly` cookie.
//!
//! Login issues a short-lived HS256 token signed with `USERS_SECRET`, with an audience, an expiry
//! and a random id (`jti`), and sends it in an `HttpOnly` cookie that scripts cannot read. The hash
//! of the id is also stored in `user_tokens`: a request is let in only while that row exists, so
//! logout, a password change or deactivating a user revokes tokens server-side at once (a plain
//! JWT would stay valid until it expires), on every server that shares the database.

use std::sync::Arc;

use axum::{
    Json,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    UsersState,
    config::{ACCESS_TOKEN_COOKIE, ACCESS_TOKEN_TTL, Config, JWT_AUDIENCE},
    cookies, db,
    error::ApiError,
    model::User,
    tokens::{self, Purpose},
};
{% include "partials/jwt_credentials.rs" %}
/// The body of a successful login's answer (`POST /login` and every other way to log in); the
/// credential is in the cookie.
#[derive(Serialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct LoginBody<'a> {
    /// The logged-in user.
    pub user: &'a User,
}

/// The answer to a successful login: 201 with the user, and the credential in a cookie.
pub fn login_response(state: &UsersState, user: &User, issued: Issued) -> Response {
    let cookie = cookies::set(
        &state.config,
        ACCESS_TOKEN_COOKIE,
        &issued.token,
        ACCESS_TOKEN_TTL,
    );
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
    let Some(token) = cookies::read(&state.config, headers, ACCESS_TOKEN_COOKIE) else {
        return Ok(None);
    };
    let Ok(data) = jsonwebtoken::decode::<Claims>(
        token.trim(),
        &state.backend.keys.decoding,
        &state.backend.keys.validation,
    ) else {
        return Ok(None);
    };
    let token_hash = tokens::hash(&data.claims.jti);
    let user = state
        .lookups
        .find_user_by_token(CREDENTIAL, &token_hash)
        .await?
        .filter(|user| user.id == data.claims.sub);
    Ok(user.map(|user| (user, Credential { token_hash })))
}

{% include "partials/revoke.rs" %}
/// The answer to a logout: 204, and the cookie cleared.
pub fn logout_response(state: &UsersState) -> Response {
    let cookie = cookies::clear(&state.config, ACCESS_TOKEN_COOKIE);
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response()
}
