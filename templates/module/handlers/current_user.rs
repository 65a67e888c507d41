//! `GET /users/me` and `PATCH /users/me`.
{%- if "verify" in handlers %}
//!
//! A new email address is pending until its owner uses the link mailed to it: `POST /verify`
//! with that link's token calls [`confirm_email_change`].
{%- endif %}

use axum::{Json as JsonResponse, Router, extract::State, routing::get};
use serde::{Deserialize, Serialize};

use crate::{{ module }}::{
    UsersState, backend,
{%- if "verify" in handlers %}
    config::{CURRENT_USER_PATH, VERIFY_TOKEN_TTL},
{%- else %}
    config::CURRENT_USER_PATH,
{%- endif %}
    db,
    email::normalize,
    error::{ApiError, Json},
    extract::CurrentUser,
{%- if "verify" in handlers %}
    hooks,
{%- endif %}
    model::User,
    rate_limit::ClientAddr,
{%- if "verify" in handlers %}
    tokens::{self, Purpose},
{%- else %}
    tokens::Purpose,
{%- endif %}
};

use super::{valid_email, valid_password};

/// The routes of this handler.
pub fn routes() -> Router<UsersState> {
    Router::new().route(CURRENT_USER_PATH, get(me).patch(update_me))
}

/// The body of `PATCH /users/me`: every field is optional. Privileged fields (`is_active`,
/// `is_verified`, `roles`, ...) are not read, so users cannot grant themselves anything.
#[derive(Deserialize)]
pub struct UpdateMeRequest {
    /// A new email address.
    pub email: Option<String>,
    /// A new password.
    pub password: Option<String>,
    /// The current password: required to change the email or the password, so that someone who
    /// finds a logged-in browser cannot take the account over.
    pub current_password: Option<String>,
}

/// The answer of `GET` and `PATCH /users/me`: the user, and the address they are changing to
/// while its link has not been used (`pending_email`, absent when there is none).
#[derive(Serialize)]
pub struct Me {
    /// The user, with the address in use.
    #[serde(flatten)]
    pub user: User,
    /// The new address waiting for its link to be used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_email: Option<String>,
}

impl Me {
    async fn of(state: &UsersState, user: User) -> Result<Self, ApiError> {
        let pending_email = db::pending_email(&state.db, user.id).await?;
        Ok(Self {
            user,
            pending_email,
        })
    }
}

/// The logged-in user: 200, or 401.
async fn me(
    State(state): State<UsersState>,
    user: CurrentUser,
) -> Result<JsonResponse<Me>, ApiError> {
    Ok(JsonResponse(Me::of(&state, user.user).await?))
}

/// Changes the logged-in user's email or password: 200 with the user; 422 when
/// `current_password` is missing or a new value is unacceptable; 401 when `current_password` is
/// wrong, 429 after repeated wrong ones; 409 when the new email is taken.
{%- if "verify" in handlers %}
/// A new email address is pending: the user keeps the old one until the link mailed to the new
/// one is used, and the old one gets a notice.
{%- else %}
/// A new email address is refused (422 `email_change_unavailable`): without the verify handler
/// nothing could prove that the new address is the user's.
{%- endif %}
/// A new password revokes every other session and token of the user; a new password or email
/// deletes every outstanding reset link.
async fn update_me(
    State(state): State<UsersState>,
    client: ClientAddr,
    current: CurrentUser,
    Json(request): Json<UpdateMeRequest>,
) -> Result<JsonResponse<Me>, ApiError> {
    let CurrentUser {
        mut user,
        credential,
        ..
    } = current;
    let new_email = match request.email.as_deref() {
        // Compared in canonical form: another spelling of the current address is no change.
        Some(email) => Some(valid_email(email)?).filter(|email| *email != normalize(&user.email)),
        None => None,
    };
{%- if "verify" not in handlers %}
    if new_email.is_some() {
        // Switching at once would let whoever holds the account move it onto someone else's
        // address; a pending change needs a link that the verify handler confirms.
        return Err(ApiError::unprocessable(
            "email_change_unavailable",
            "The email address cannot be changed here; ask an administrator.",
        ));
    }
{%- endif %}
    if let Some(password) = &request.password {
        valid_password(password)?;
    }
{%- if "verify" in handlers %}
    // Giving the current address cancels a pending change, so that the owner can take back a
    // change someone else asked for: its link stops working. (Dropping it grants nothing, so no
    // password is needed.)
    if request.email.is_some() && new_email.is_none() {
        db::delete_email_change(&state.db, user.id).await?;
    }
{%- endif %}
    if new_email.is_none() && request.password.is_none() {
        return Ok(JsonResponse(Me::of(&state, user).await?));
    }
    let Some(current_password) = request.current_password else {
        return Err(ApiError::unprocessable(
            "current_password_required",
            "Give `current_password` to change the email address or the password.",
        ));
    };
    // Someone holding a logged-in browser must not be able to guess the password here at will.
    let attempt = state
        .limiter
        .check("current_password", &user.email, client)
        .await?;
    let stored = Some(user.password_hash.clone());
    if !state.passwords.verify(current_password, stored).await? {
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "invalid_current_password",
            "The current password is wrong.",
        ));
    }
    // Only wrong passwords count against the account.
    attempt.succeeded().await;
{%- if "verify" in handlers %}
    // A taken address is refused before anything is written (the unique index decides again when
    // the link is used).
    let taken = match new_email.as_deref() {
        Some(email) => db::find_user_by_email(&state.db, email).await?.is_some(),
        None => false,
    };
    if taken {
        return Err(db::WriteError::EmailTaken.into());
    }
{%- endif %}
    // Only the columns that change are written: an admin who deactivated the account while this
    // request ran is not overruled by the copy of the user read at its start.
    if let Some(password) = request.password {
        user.password_hash = state.passwords.hash(password).await?;
        db::set_password_hash(&state.db, user.id, &user.password_hash).await?;
        // Whoever knew the old password may hold other sessions: end them all but this one.
        backend::revoke_all(&state, user.id, Some(&credential)).await?;
        // They may also have asked to move the account to their own address: that change goes
        // too (a new one in this same request is stored below).
        db::delete_email_change(&state.db, user.id).await?;
    }
    // A reset link mailed before a password or address change must not undo it.
    db::delete_user_tokens(&state.db, user.id, &[Purpose::Reset], None).await?;
{%- if "verify" in handlers %}
    if let Some(email) = new_email.as_deref() {
        request_email_change(&state, &user, email).await?;
    }
{%- endif %}
    Ok(JsonResponse(Me::of(&state, user).await?))
}
{%- if "verify" in handlers %}

/// Stores a pending change to `email` and mails its link there, and a notice to the current
/// address.
async fn request_email_change(
    state: &UsersState,
    user: &User,
    email: &str,
) -> Result<(), ApiError> {
    let (token, token_hash) = tokens::generate();
    // One pending change per user: this replaces an older one, whose link stops working.
    let stored = db::store_email_change(
        &state.db,
        user.id,
        email,
        &token_hash,
        db::expires_in(VERIFY_TOKEN_TTL),
    )
    .await?;
    if !stored {
        // The account was deleted while this request ran: its credential is gone with it.
        return Err(ApiError::unauthorized());
    }
    let (state, user, email) = (state.clone(), user.clone(), email.to_owned());
    tokio::spawn(async move {
        let sent = hooks::send_email_change_token(&state, &email, &token).await;
        let noticed = hooks::send_email_change_notice(&state, &user, &email, false).await;
        if let Err(error) = sent.and(noticed) {
            tracing::error!(%error, user = %user.id, "email change mail not sent");
        }
    });
    Ok(())
}

/// Confirms the pending email change whose link has `token`: the user's address becomes the new
/// one and counts as verified. `Ok(None)` when no pending change has this token (unknown, used,
/// replaced by a newer change or expired); 409 when another account took the address meanwhile.
pub async fn confirm_email_change(
    state: &UsersState,
    token: &str,
) -> Result<Option<User>, ApiError> {
    // Taking the change deletes it: the link works once.
    let Some(change) = db::take_email_change(&state.db, &tokens::hash(token)).await? else {
        return Ok(None);
    };
    let Some(old) = db::find_user_by_id(&state.db, change.user_id).await? else {
        return Ok(None);
    };
    // The address is the one bound to the link, never one read from the request.
    if !db::switch_email(&state.db, change.user_id, &change.email).await? {
        return Ok(None);
    }
    // Links mailed to the old address must not act on the account at its new one.
    db::delete_user_tokens(
        &state.db,
        change.user_id,
        &[Purpose::Reset, Purpose::Verify],
        None,
    )
    .await?;
    // The address now belongs to whoever used the link: sessions and access tokens opened before
    // (by whoever held the account at its old address) all end. The link carries no credential,
    // so none is kept.
    backend::revoke_all(state, change.user_id, None).await?;
    let user = db::find_user_by_id(&state.db, change.user_id).await?;
    let (state, email) = (state.clone(), change.email);
    tokio::spawn(async move {
        let noticed = hooks::send_email_change_notice(&state, &old, &email, true).await;
        if let Err(error) = noticed {
            tracing::error!(%error, user = %old.id, "email change notice not sent");
        }
    });
    Ok(user)
}
{%- endif %}
