//! `POST /verify` and `POST /verify/resend`.

use axum::{
    Router,
    extract::{RawQuery, Request, State},
    http::StatusCode,
    routing::post,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{{ module }}::{
    UsersState,
    config::{VERIFY_PATH, VERIFY_RESEND_PATH},
    db,
    error::{ApiError, Json},
    hooks,
    model::User,
    rate_limit::ClientAddr,
    tokens::{self, Purpose},
};

/// The routes of this handler.
pub fn routes() -> Router<UsersState> {
    Router::new()
        .route(VERIFY_PATH, post(verify))
        .route(VERIFY_RESEND_PATH, post(resend))
}

/// The body of `POST /verify/resend`.
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct ResendRequest {
    /// The email address to verify.
    pub email: String,
}

/// Verifies the email address of the token's user: 200 with the user; 400 for a token that is
/// unknown, expired, already used or of another purpose. The token comes as `?token=` or in a JSON
/// body `{"token": ...}`.
async fn verify(
    State(state): State<UsersState>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<axum::Json<User>, ApiError> {
    let token = super::link_token(&state, query, request).await?;
{%- if "current-user" in handlers %}
    // A link that confirms a change of address is not a verification token: it switches the
    // address to the one it was mailed to.
    if let Some({% if "role-management" in handlers %}mut {% endif %}user) = super::current_user::confirm_email_change(&state, &token).await? {
{%- if "role-management" in handlers %}
        crate::{{ module }}::roles::load_roles(&state.db, &mut user).await?;
{%- endif %}
        return Ok(axum::Json(user));
    }
{%- endif %}
    let token_hash = tokens::hash(&token);
    // A look at the link first: a wrong one costs no write transaction.
    let user_id = db::token_owner(&state.db, Purpose::Verify, &token_hash)
        .await?
        .ok_or_else(invalid_link)?;
    // The token is taken, the address marked verified and the hook run in one transaction: a hook
    // that fails leaves the link working for another try.
    let mut transaction = db::begin(&state.db).await?;
    let outcome = verify_token(&state, &mut transaction, user_id, &token_hash).await;
    let user = db::finish(transaction, outcome).await?;
    Ok(axum::Json(user))
}

/// The part of a verification that writes, in its transaction.
async fn verify_token(
    state: &UsersState,
    connection: &mut db::Connection,
    user_id: Uuid,
    token_hash: &str,
) -> Result<User, ApiError> {
    // The account first, as every transaction that changes an account's access does (see
    // `db::lock_user`).
    db::lock_user(connection, user_id)
        .await?
        .ok_or_else(invalid_link)?;
    // Taking the token deletes it: a verification link works once.
    if db::take_token(connection, Purpose::Verify, token_hash).await? != Some(user_id) {
        return Err(invalid_link());
    }
    // Only the flag is written, and only if it was not set: the request that sets it is the one
    // that claims the account.
    if db::mark_verified(&mut *connection, user_id).await? {
        // The owner of the address has proved it: whoever registered the account before them may
        // hold sessions, mail links{% if "oauth2" in handlers %} or linked provider accounts{% endif %}, which all stop working.
        db::drop_unproven_access(connection, user_id).await?;
    }
    let {% if "role-management" in handlers %}mut {% endif %}user = db::find_user_by_id(&mut *connection, user_id)
        .await?
        .ok_or_else(invalid_link)?;
{%- if "role-management" in handlers %}
    crate::{{ module }}::roles::load_roles(&mut *connection, &mut user).await?;
{%- endif %}
    hooks::post_verification(state, connection, &user).await?;
    Ok(user)
}

fn invalid_link() -> ApiError {
    ApiError::bad_request(
        "invalid_token",
        "This verification link is invalid, expired or already used.",
    )
}

/// Mails a new verification link to an unverified account: always 202, whether or not the email
/// has an account, so the answer does not tell which do.
async fn resend(
    State(state): State<UsersState>,
    client: ClientAddr,
    Json(request): Json<ResendRequest>,
) -> Result<StatusCode, ApiError> {
    super::request_link_mail(
        &state,
        client,
        "verify_resend",
        &request.email,
        Purpose::Verify,
        // A verified account needs no link.
        |user| !user.is_verified,
    )
    .await
}
