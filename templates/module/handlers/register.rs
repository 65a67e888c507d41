//! `POST /register`.

use axum::{Router, extract::State, http::StatusCode, routing::post};
use serde::Deserialize;

use crate::{{ module }}::{
    UsersState,
    config::REGISTER_PATH,
    db::{self, NewUser},
    error::{ApiError, Json},
    hooks,
    model::User,
    rate_limit::ClientAddr,
{%- if "verify" in handlers %}
    tokens::Purpose,
{%- endif %}
};

use super::{canonical_email, valid_password};

/// The routes of this handler.
pub fn routes() -> Router<UsersState> {
    Router::new().route(REGISTER_PATH, post(register))
}

/// The body of `POST /register`. Only these two fields are read: `is_verified`, `is_active`,
/// `roles` and the like in the body are ignored, so nobody can register as verified or admin.
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct RegisterRequest {
    /// The email address; must be unique regardless of letter case.
    pub email: String,
    /// The password, 8 characters to 1024 bytes.
    pub password: String,
}

/// Creates an account: 201 with the user, 409 when the email is taken, 422 for a bad email or
/// password, 429 when this client address registers too often.
{%- if "verify" in handlers %} The new user is unverified and gets a verification mail.{% endif %}
async fn register(
    State(state): State<UsersState>,
    client: ClientAddr,
    Json(request): Json<RegisterRequest>,
) -> Result<(StatusCode, axum::Json<User>), ApiError> {
    // The address is stored and compared in its canonical form (one account per address however
    // it is spelled). Bad input is refused before it is counted or hashed.
    let email = canonical_email(&request.email)?;
    valid_password(&request.password)?;
    // Each registration costs a password hash: one client address gets a few at a time.
    state.limiter.check_registration(client).await?;
    // Hashed before the transaction begins: no connection is held while it is computed.
    let password_hash = state.passwords.hash(request.password).await?;
    let new_user = NewUser {
        email: &email,
        password_hash,
        is_active: true,
{%- if "verify" in handlers %}
        is_verified: false,
{%- else %}
        // Without the verify handler there is no way to verify, so accounts start verified.
        is_verified: true,
{%- endif %}
    };
    // The account and whatever the hooks write are committed together: a hook that fails leaves
    // no account behind, so trying again is not answered "email taken".
    let mut transaction = db::begin(&state.db).await?;
    let outcome = create_account(&state, &mut transaction, new_user).await;
    let user = db::finish(transaction, outcome).await?;
{%- if "verify" in handlers %}
    // Mailed only now that the account is committed.
    super::mail_token(&state, &user, Purpose::Verify).await?;
{%- endif %}
    Ok((StatusCode::CREATED, axum::Json(user)))
}

/// The part of a registration that writes, in its transaction.
async fn create_account(
    state: &UsersState,
    connection: &mut db::Connection,
    new_user: NewUser<'_>,
) -> Result<User, ApiError> {
    hooks::pre_registration(state, connection, new_user.email).await?;
    // The unique index decides whether the email is free (409 otherwise), not a look-up first:
    // two registrations racing for one address cannot both succeed.
    let user = db::create_user(&mut *connection, new_user).await?;
    hooks::post_registration(state, connection, &user).await?;
    Ok(user)
}
