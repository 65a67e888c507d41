//! `POST /forgot-password` and `POST /reset-password`.

use axum::{Router, extract::State, http::StatusCode, routing::post};
use serde::Deserialize;
use uuid::Uuid;

use crate::{{ module }}::{
    UsersState,
    config::{FORGOT_PASSWORD_PATH, RESET_PASSWORD_PATH},
    db,
    error::{ApiError, Json},
    hooks,
    model::User,
    rate_limit::ClientAddr,
    tokens::{self, Purpose},
};

use super::valid_password;

/// The routes of this handler.
pub fn routes() -> Router<UsersState> {
    Router::new()
        .route(FORGOT_PASSWORD_PATH, post(forgot_password))
        .route(RESET_PASSWORD_PATH, post(reset_password))
}

/// The body of `POST /forgot-password`.
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct ForgotPasswordRequest {
    /// The account's email address.
    pub email: String,
}

/// The body of `POST /reset-password`.
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct ResetPasswordRequest {
    /// The token from the reset mail.
    pub token: String,
    /// The new password.
    pub password: String,
}

/// Mails a reset link to an active account: always 202, whether or not the email has an account.
async fn forgot_password(
    State(state): State<UsersState>,
    client: ClientAddr,
    Json(request): Json<ForgotPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    super::request_link_mail(
        &state,
        client,
        "forgot_password",
        &request.email,
        Purpose::Reset,
        |_| true,
    )
    .await
}

/// Sets a new password with the token from the reset mail: 200 with the user; 400 for a token that
/// is unknown, expired, already used or of another purpose; 422 for an unacceptable password. Every
/// session and token of the user is revoked, so whoever knew the old password is logged out.
async fn reset_password(
    State(state): State<UsersState>,
    Json(request): Json<ResetPasswordRequest>,
) -> Result<axum::Json<User>, ApiError> {
    // The password is checked before the token is spent, so a typo does not cost the link.
    valid_password(&request.password)?;
    let token_hash = tokens::hash(&request.token);
    // A look at the link first, so that a wrong one costs no password hash (and an inactive
    // account, which `forgot-password` mails nothing to, cannot use an older one).
    let user = db::find_user_by_token(&state.db, Purpose::Reset, &token_hash)
        .await?
        .ok_or_else(invalid_link)?;
    // Hashed before the transaction begins: no connection is held while it is computed.
    let password_hash = state.passwords.hash(request.password).await?;
    // The link is spent, the password set, the account's other access dropped and the hook run in
    // one transaction: a hook that fails keeps the old password and the link.
    let mut transaction = db::begin(&state.db).await?;
    let outcome = reset_with_token(
        &state,
        &mut transaction,
        user.id,
        &token_hash,
        &password_hash,
    )
    .await;
    let user = db::finish(transaction, outcome).await?;
    Ok(axum::Json(user))
}

/// The part of a reset that writes, in its transaction.
async fn reset_with_token(
    state: &UsersState,
    connection: &mut db::Connection,
    user_id: Uuid,
    token_hash: &str,
    password_hash: &str,
) -> Result<User, ApiError> {
    // The account first, as every transaction that changes an account's access does: a login
    // racing this reset waits for it and then finds the new password hash (see `db::lock_user`).
{%- if "totp" in handlers or "verify" in handlers %}
    let was_verified = db::lock_user(connection, user_id)
        .await?
        .ok_or_else(invalid_link)?
        .is_verified;
{%- else %}
    db::lock_user(connection, user_id)
        .await?
        .ok_or_else(invalid_link)?;
{%- endif %}
    // Taking the token deletes it: of two requests racing with one link, one gets it.
    if db::take_token(connection, Purpose::Reset, token_hash).await? != Some(user_id) {
        return Err(invalid_link());
    }
    // Only the hash is written: a change made to the account meanwhile (a deactivation) stays.
    db::set_password_hash(&mut *connection, user_id, password_hash).await?;
    // Whoever reads the mails of the address owns the account: everything that someone else could
    // still use (sessions, access tokens, other mail links{% if "oauth2" in handlers %}, linked provider accounts{% endif %}) stops working.
{%- if "totp" in handlers %}
    // The link proves the mailbox, not the authenticator app: a verified account keeps its second
    // factor, and the next login still asks for a code (else whoever reads the mails could turn it
    // off). An account that nobody had verified is claimed whole, second factor included.
    if was_verified {
        db::drop_unproven_access_but_second_factor(connection, user_id).await?;
    } else {
        db::drop_unproven_access(connection, user_id).await?;
    }
{%- else %}
    db::drop_unproven_access(connection, user_id).await?;
{%- endif %}
{%- if "verify" in handlers %}
    // The link proved the mailbox, as a verification link does: an account nobody had verified is
    // verified now, so its owner logs in with the new password.
    let newly_verified = !was_verified && db::mark_verified(&mut *connection, user_id).await?;
{%- endif %}
    let {% if "role-management" in handlers %}mut {% endif %}user = db::find_user_by_id(&mut *connection, user_id)
        .await?
        .ok_or_else(invalid_link)?;
{%- if "role-management" in handlers %}
    crate::{{ module }}::roles::load_roles(&mut *connection, &mut user).await?;
{%- endif %}
{%- if "verify" in handlers %}
    if newly_verified {
        hooks::post_verification(state, connection, &user).await?;
    }
{%- endif %}
    hooks::post_password_reset(state, connection, &user).await?;
    Ok(user)
}

fn invalid_link() -> ApiError {
    ApiError::bad_request(
        "invalid_token",
        "This reset link is invalid, expired or already used.",
    )
}
