//! `POST /login` and `POST /logout`.

{% if "totp" in handlers -%}
use axum::{
    Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::post,
};
{%- else -%}
use axum::{Router, extract::State, response::Response, routing::post};
{%- endif %}
use serde::Deserialize;

use crate::{{ module }}::{
    UsersState, backend,
    config::{LOGIN_PATH, LOGOUT_PATH},
    db,
    error::{ApiError, Json},
    extract::CurrentUser,
    hooks,
    model::User,
    rate_limit::ClientAddr,
{%- if "totp" in handlers %}
    totp::{self, FirstStep},
{%- endif %}
};

use super::canonical_email;

/// The routes of this handler.
pub fn routes() -> Router<UsersState> {
    Router::new()
        .route(LOGIN_PATH, post(login))
        .route(LOGOUT_PATH, post(logout))
}

/// The body of `POST /login`.
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct LoginRequest {
    /// The account's email address (any letter case).
    pub email: String,
    /// The password.
    pub password: String,
}

/// Checks the password and issues a credential: 201 with `{"user": ...}`, 401 for a wrong email or
/// password (the same answer for both), 403 for an unverified or inactive account{% if "totp" in handlers %}; 202 with
/// a token for the second step when the user has two-factor login on{% endif %}.
async fn login(
    State(state): State<UsersState>,
    client: ClientAddr,
    Json(request): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    // A malformed address (too long, control characters) is refused before any look-up, hash
    // or count; a valid one is compared and counted in its canonical form.
    let email = canonical_email(&request.email)?;
    // Failures count per account and client address, with a looser ceiling per account: a
    // stranger who guesses spends their own budget and cannot lock the owner out.
    let attempt = state.limiter.check("login", &email, client).await?;
    hooks::pre_login(&state, &email).await?;
    let user = db::find_user_by_email(&state.db, &email).await?;
    // One Argon2 verification runs whether or not the account exists (against a dummy hash when it
    // does not), so the response time does not tell which emails have accounts.
    let stored = user.as_ref().map(|user| user.password_hash.clone());
    let password_ok = state.passwords.verify(request.password, stored).await?;
    let {% if "role-management" in handlers %}mut {% endif %}user = match user {
        Some(user) if password_ok => user,
        _ => return Err(ApiError::invalid_credentials()),
    };
    // The right password is no guess: it does not count against the account.
    attempt.succeeded().await;
    // Checked only after the password, so that these answers tell nothing to someone who does not
    // know it.
    if !user.is_active {
        return Err(ApiError::forbidden(
            "inactive",
            "This account is deactivated.",
        ));
    }
    if !user.is_verified {
        return Err(ApiError::forbidden(
            "not_verified",
            "Verify your email address before logging in.",
        ));
    }
{%- if "role-management" in handlers %}
    crate::{{ module }}::roles::load_roles(&state.db, &mut user).await?;
{%- endif %}
{%- if db != "sqlite" %}
    // Expired credentials of the user go before the login's transaction begins (not in it, where
    // two logins of one account would each lock the rows the other inserts).
    db::purge_expired_tokens(&state.db, user.id).await?;
{%- endif %}
    // The credential and whatever `post_login` writes are committed together, or neither is.
    let mut transaction = db::begin(&state.db).await?;
    let outcome = issue_credential(&state, &mut transaction, &user).await;
    let issued = db::finish(transaction, outcome).await?;
{%- if "totp" in handlers %}
    let issued = match issued {
        FirstStep::Issued(issued) => issued,
        FirstStep::SecondStep(second_step) => return Ok(second_step.into_response()),
    };
{%- endif %}
    Ok(backend::login_response(&state, &user, issued))
}

/// The part of a login that writes, in its transaction.
async fn issue_credential(
    state: &UsersState,
    connection: &mut db::Connection,
    user: &User,
) -> Result<{% if "totp" in handlers %}FirstStep{% else %}backend::Issued{% endif %}, ApiError> {
    // The account first, as every transaction that changes an account's access does: a reset or
    // password change of this account commits before this goes on, or waits for it.
    db::lock_user(connection, user.id)
        .await?
        .ok_or_else(ApiError::invalid_credentials)?;
{%- if db == "sqlite" %}
    // Expired credentials of the user go here, under the write lock that `BEGIN IMMEDIATE` holds
    // for the whole transaction anyway (SQLite has no row locks to collide on). A separate
    // `DELETE` before the transaction would queue for that lock a second time per login, and
    // SQLite's busy handler is not a fair queue: under a login flood a waiter polls ever more
    // rarely while newcomers take the lock, and was measured waiting seconds for it.
    db::purge_expired_tokens(&mut *connection, user.id).await?;
{%- endif %}
{%- if "totp" in handlers %}
    // With two-factor login on, the password was the first step: the answer is no credential but
    // a token for the second (`POST /login/totp`, with a code of the app). Asked under the lock:
    // a login that raced the owner turning it on finds it on.
    if let Some(second_step) =
        totp::second_step(connection, user, Some(&user.password_hash)).await?
    {
        return Ok(FirstStep::SecondStep(second_step));
    }
{%- endif %}
    // Issued only if the hash just verified is still the user's.
    let issued = backend::issue(state, connection, user, Some(&user.password_hash)).await?;
    hooks::post_login(state, connection, user).await?;
    Ok({% if "totp" in handlers %}FirstStep::Issued(issued){% else %}issued{% endif %})
}

/// Revokes the credential the request came with (server-side) and clears the cookie: 204.
async fn logout(State(state): State<UsersState>, user: CurrentUser) -> Result<Response, ApiError> {
    backend::revoke(&state, &user.credential).await?;
    Ok(backend::logout_response(&state))
}
