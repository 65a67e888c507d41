//! The auth backend: JWT bearer tokens.
//!
//! Login issues a short-lived HS256 token signed with `USERS_SECRET`, with an audience, an expiry
//! and a random id (`jti`), sent in the body and the `Authorization` header. The hash of the id is
//! also stored in `user_tokens`: a request is let in only while that row exists, so logout, a
//! password change or deactivating a user revokes tokens server-side at once (a plain JWT would
//! stay valid until it expires), on every server that shares the database.

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
    config::{ACCESS_TOKEN_TTL, Config, JWT_AUDIENCE},
    db,
    error::ApiError,
    model::User,
    tokens::{self, Purpose},
};
{% include "partials/jwt_credentials.rs" %}
/// The body of a successful login's answer (`POST /login` and every other way to log in).
#[derive(Serialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct LoginBody<'a> {
    /// The access token, also sent as `Authorization: Bearer <token>`.
    pub access_token: &'a str,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// The logged-in user.
    pub user: &'a User,
}

/// The answer to a successful login: 201 with the user, and the credential in the body and the
/// `Authorization` header.
pub fn login_response(_state: &UsersState, user: &User, issued: Issued) -> Response {
    let bearer = axum::http::HeaderValue::try_from(format!("Bearer {}", issued.token));
    let body = Json(LoginBody {
        access_token: &issued.token,
        token_type: "bearer",
        expires_in: ACCESS_TOKEN_TTL.as_secs(),
        user,
    });
    match bearer {
        Ok(bearer) => {
            (StatusCode::CREATED, [(header::AUTHORIZATION, bearer)], body).into_response()
        }
        Err(_) => (StatusCode::CREATED, body).into_response(),
    }
}

/// The user and credential a request carries, if it carries a valid one.
pub async fn authenticate(
    state: &UsersState,
    headers: &HeaderMap,
) -> Result<Option<(User, Credential)>, ApiError> {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
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
/// The answer to a logout: 204.
pub fn logout_response(_state: &UsersState) -> Response {
    StatusCode::NO_CONTENT.into_response()
}
