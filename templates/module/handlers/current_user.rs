//! `GET /users/me` and `PATCH /users/me`.

use axum::{Json as JsonResponse, Router, extract::State, routing::get};
use serde::Deserialize;

use crate::{{ module }}::{
    UsersState, backend,
    config::CURRENT_USER_PATH,
    db,
    error::{ApiError, Json},
    extract::CurrentUser,
    model::User,
{%- if "verify" in handlers %}
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

/// The logged-in user: 200, or 401.
async fn me(user: CurrentUser) -> JsonResponse<User> {
    JsonResponse(user.user)
}

/// Changes the logged-in user's email or password: 200 with the user; 422 when
/// `current_password` is missing or a new value is unacceptable; 401 when `current_password` is
/// wrong; 409 when the new email is taken.
{%- if "verify" in handlers %} A new email address is unverified until the link mailed to it is used.{% endif %}
/// A new password revokes every other session and token of the user.
async fn update_me(
    State(state): State<UsersState>,
    current: CurrentUser,
    Json(request): Json<UpdateMeRequest>,
) -> Result<JsonResponse<User>, ApiError> {
    let CurrentUser {
        mut user,
        credential,
        ..
    } = current;
    let new_email = match request.email.as_deref() {
        Some(email) => {
            Some(valid_email(email)?).filter(|email| !email.eq_ignore_ascii_case(&user.email))
        }
        None => None,
    };
    if let Some(password) = &request.password {
        valid_password(password)?;
    }
    if new_email.is_none() && request.password.is_none() {
        return Ok(JsonResponse(user));
    }
    let Some(current_password) = request.current_password else {
        return Err(ApiError::unprocessable(
            "current_password_required",
            "Give `current_password` to change the email address or the password.",
        ));
    };
    let stored = Some(user.password_hash.clone());
    if !state.passwords.verify(current_password, stored).await? {
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "invalid_current_password",
            "The current password is wrong.",
        ));
    }
    if let Some(email) = new_email {
        user.email = email.to_owned();
{%- if "verify" in handlers %}
        user.is_verified = false;
{%- endif %}
    }
    let password_changed = match request.password {
        Some(password) => {
            user.password_hash = state.passwords.hash(password).await?;
            true
        }
        None => false,
    };
    db::update_user(&state.db, &mut user).await?;
{%- if "verify" in handlers %}
    if new_email.is_some() {
        super::mail_token(&state, &user, Purpose::Verify).await?;
    }
{%- endif %}
    if password_changed {
        // Whoever knew the old password may hold other sessions: end them all but this one.
        backend::revoke_all(&state, user.id, Some(&credential)).await?;
    }
    Ok(JsonResponse(user))
}
