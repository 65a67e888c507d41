//! `POST /magic-link` and `POST /magic-link/login`: logging in with a link mailed to the account's
//! address instead of a password.

use axum::{
    Router,
    extract::{RawQuery, Request, State},
    http::StatusCode,
{%- if "totp" in handlers %}
    response::{IntoResponse, Response},
{%- else %}
    response::Response,
{%- endif %}
    routing::post,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{{ module }}::{
    UsersState, backend,
    config::{MAGIC_LINK_LOGIN_PATH, MAGIC_LINK_PATH},
    db,
    error::{ApiError, Json},
    hooks,
    model::User,
    rate_limit::ClientAddr,
    tokens::{self, Purpose},
{%- if "totp" in handlers %}
    totp::{self, FirstStep},
{%- endif %}
};

/// The routes of this handler.
pub fn routes() -> Router<UsersState> {
    Router::new()
        .route(MAGIC_LINK_PATH, post(request_link))
        .route(MAGIC_LINK_LOGIN_PATH, post(log_in_with_link))
}

/// The body of `POST /magic-link`.
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct MagicLinkRequest {
    /// The account's email address (any letter case).
    pub email: String,
}

/// Mails a login link to an active account: always 202, whether or not the email has an account,
/// and as fast either way (the token and the mail are made in the background), so the answer does
/// not tell which addresses have accounts. Only the newest link works.
async fn request_link(
    State(state): State<UsersState>,
    client: ClientAddr,
    Json(request): Json<MagicLinkRequest>,
) -> Result<StatusCode, ApiError> {
    // Counted like `forgot-password`: every request, per client address and per account.
    super::request_link_mail(
        &state,
        client,
        "magic_link",
        &request.email,
        Purpose::MagicLink,
        |_| true,
    )
    .await
}

/// Logs in with the token of a login link, as `POST /login` does on this backend (201 with the
/// user and the credential): 400 for a token that is unknown, expired, already used or superseded
/// by a newer link; 403 for a deactivated account. The token comes as `?token=` or in a JSON body
/// `{"token": ...}`. Opening the link proves the address, so the account becomes verified.
async fn log_in_with_link(
    State(state): State<UsersState>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    let token = super::link_token(&state, query, request).await?;
    let token_hash = tokens::hash(&token);
    // A look at the link first: a wrong one costs no write transaction.
    let user = match db::token_owner(&state.db, Purpose::MagicLink, &token_hash).await? {
        Some(user_id) => db::find_user_by_id(&state.db, user_id).await?,
        None => None,
    }
    .ok_or_else(invalid_link)?;
    hooks::pre_login(&state, &user.email).await?;
    if !user.is_active {
        return Err(inactive());
    }
    // Whoever registered an account that was never verified may not be its address's owner, who
    // now claims it: the password set at registration is discarded with everything else the
    // claimer did not prove (see `claim`). Its replacement is hashed before the transaction,
    // which holds no connection while Argon2 runs.
    let unusable_hash = if user.is_verified {
        None
    } else {
        Some(state.passwords.unusable_hash().await?)
    };
    // The link is spent, the account claimed if it was unverified, the credential stored and the
    // hooks run in one transaction: a hook that fails leaves the link working for another try.
    let mut transaction = db::begin(&state.db).await?;
    let outcome = log_in(
        &state,
        &mut transaction,
        user.id,
        &token_hash,
        unusable_hash,
    )
    .await;
    let (user, issued) = db::finish(transaction, outcome).await?;
{%- if db != "sqlite" %}
    // Expired credentials of the user go after the commit, outside any transaction: before it, the
    // `DELETE` of a second use of the same link would hold locks on the user's tokens that this
    // transaction's new credential must insert between (a deadlock, found on MySQL). The login
    // stands whatever happens here.
    if let Err(error) = db::purge_expired_tokens(&state.db, user.id).await {
        tracing::warn!(%error, user = %user.id, "expired credentials not purged");
    }
{%- endif %}
{%- if "totp" in handlers %}
    let issued = match issued {
        FirstStep::Issued(issued) => issued,
        FirstStep::SecondStep(second_step) => return Ok(second_step.into_response()),
    };
{%- endif %}
    Ok(backend::login_response(&state, &user, issued))
}

/// The part of a link login that writes, in its transaction.
async fn log_in(
    state: &UsersState,
    connection: &mut db::Connection,
    user_id: Uuid,
    token_hash: &str,
    unusable_hash: Option<String>,
) -> Result<(User, {% if "totp" in handlers %}FirstStep{% else %}backend::Issued{% endif %}), ApiError> {
    // The account first, as every transaction that changes an account's access does (see
    // `db::lock_user`).
    let user = db::lock_user(connection, user_id)
        .await?
        .ok_or_else(invalid_link)?;
    // Checked under the lock: a deactivation that committed meanwhile is seen, and the link stays.
    if !user.is_active {
        return Err(inactive());
    }
{%- if db == "sqlite" %}
    // Expired credentials of the user go here, under the write lock that `BEGIN IMMEDIATE` holds
    // anyway (see `POST /login`).
    db::purge_expired_tokens(&mut *connection, user_id).await?;
{%- endif %}
    // Taking the token deletes it: a link works once, and of two requests racing with it one
    // gets it.
    if db::take_token(connection, Purpose::MagicLink, token_hash).await? != Some(user_id) {
        return Err(invalid_link());
    }
    if db::mark_verified(&mut *connection, user_id).await? {
        claim(state, connection, user_id, unusable_hash).await?;
    }
    let {% if "role-management" in handlers %}mut {% endif %}user = db::find_user_by_id(&mut *connection, user_id)
        .await?
        .ok_or_else(invalid_link)?;
{%- if "totp" in handlers %}
    // With two-factor login on, the link was the first step (it is spent, and proved the address): nothing is
    // issued until a code of the app proves the second (`POST /login/totp`).
    if let Some(second_step) = totp::second_step(connection, &user, None).await? {
        return Ok((user, FirstStep::SecondStep(second_step)));
    }
{%- endif %}
    // The mail proved the login, not a password: issued only while the user is active.
    let issued = backend::issue(state, connection, &user, None).await?;
{%- if "role-management" in handlers %}
    crate::{{ module }}::roles::load_roles(&mut *connection, &mut user).await?;
{%- endif %}
    hooks::post_login(state, connection, &user).await?;
    Ok((user, {% if "totp" in handlers %}FirstStep::Issued(issued){% else %}issued{% endif %}))
}

/// The owner of the address has just proved it on an account that was not verified: whoever
/// registered it may have done so in the owner's name, so the password they chose is replaced by
/// an unusable one (the owner sets their own with a reset mail) and everything else the owner did
/// not prove is dropped (see `db::drop_unproven_access`).
async fn claim(
    state: &UsersState,
    connection: &mut db::Connection,
    user_id: Uuid,
    unusable_hash: Option<String>,
) -> Result<(), ApiError> {
    // The look before the transaction saw the account verified, and it is not any more (an admin
    // took the flag back meanwhile): there is no unusable hash to set, so this try is refused.
    let password_hash = unusable_hash.ok_or_else(|| {
        ApiError::bad_request(
            "account_conflict",
            "This account changed during the login; open the link again.",
        )
    })?;
    db::set_password_hash(&mut *connection, user_id, &password_hash).await?;
    db::drop_unproven_access(connection, user_id).await?;
    let {% if "role-management" in handlers %}mut {% endif %}user = db::find_user_by_id(&mut *connection, user_id)
        .await?
        .ok_or_else(invalid_link)?;
{%- if "role-management" in handlers %}
    crate::{{ module }}::roles::load_roles(&mut *connection, &mut user).await?;
{%- endif %}
    hooks::post_verification(state, connection, &user).await
}

fn invalid_link() -> ApiError {
    ApiError::bad_request(
        "invalid_token",
        "This login link is invalid, expired, already used or replaced by a newer one.",
    )
}

fn inactive() -> ApiError {
    ApiError::forbidden("inactive", "This account is deactivated.")
}
