//! Managing users: `GET /users` (a page at a time), and `GET`, `PATCH` and `DELETE /users/{id}`.
//! Only for admins: the guard is in [`crate::{{ module }}::router`].

use axum::{
    Json as JsonResponse, Router,
    extract::{Query, State, rejection::QueryRejection},
    http::StatusCode,
    routing::get,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{{ module }}::{
    UsersState, backend,
    config::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, USER_PATH, USERS_PATH},
    db,
    error::{ApiError, Json, Path},
    model::{Page, User},
};

use super::{valid_email, valid_password};

/// The routes of this handler.
pub fn routes() -> Router<UsersState> {
    Router::new().route(USERS_PATH, get(list_users)).route(
        USER_PATH,
        get(get_user).patch(update_user).delete(delete_user),
    )
}

/// The query of `GET /users`.
#[derive(Deserialize)]
pub struct PageQuery {
    /// How many users to answer, 1 to [`MAX_PAGE_SIZE`] (default [`DEFAULT_PAGE_SIZE`]).
    pub limit: Option<i64>,
    /// How many users to skip (default 0).
    pub offset: Option<i64>,
}

/// The body of `PATCH /users/{id}`: every field is optional; fields left out stay as they are.
#[derive(Deserialize)]
pub struct UpdateUserRequest {
    /// A new email address.
    pub email: Option<String>,
    /// A new password.
    pub password: Option<String>,
    /// `false` deactivates the account: the user can no longer log in, and their sessions and
    /// tokens are revoked.
    pub is_active: Option<bool>,
    /// Whether the email address counts as verified.
    pub is_verified: Option<bool>,
}

/// A page of users, oldest account first: 200 with `{"items": [...], "total": N}`; 422 for a
/// `limit` outside 1 to [`MAX_PAGE_SIZE`] or a negative `offset`.
async fn list_users(
    State(state): State<UsersState>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<JsonResponse<Page<User>>, ApiError> {
    let Ok(Query(query)) = query else {
        return Err(bad_page());
    };
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    let offset = query.offset.unwrap_or(0);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) || offset < 0 {
        return Err(bad_page());
    }
    let total = db::count_users(&state.db).await?;
    let mut items = db::list_users(&state.db, limit, offset).await?;
    db::load_roles_of_page(&state.db, &mut items).await?;
    Ok(JsonResponse(Page { items, total }))
}

/// One user with their roles: 200; 404 for an unknown id.
async fn get_user(
    State(state): State<UsersState>,
    Path(id): Path<Uuid>,
) -> Result<JsonResponse<User>, ApiError> {
    let mut user = find_user(&state, id).await?;
    db::load_roles(&state.db, &mut user).await?;
    Ok(JsonResponse(user))
}

/// Changes a user's email, password or flags: 200 with the user; 404 for an unknown id; 409 when
/// the email is taken; 422 for a bad email or password. Deactivating the user or changing their
/// password revokes every session and token they hold. Unlike `PATCH /users/me`, a new email keeps
/// the verification status unless `is_verified` is given too, and no mail is sent.
async fn update_user(
    State(state): State<UsersState>,
    Path(id): Path<Uuid>,
    Json(request): Json<UpdateUserRequest>,
) -> Result<JsonResponse<User>, ApiError> {
    let mut user = find_user(&state, id).await?;
    let email = request.email.as_deref().map(valid_email).transpose()?;
    if let Some(password) = &request.password {
        valid_password(password)?;
    }
    let was_active = user.is_active;
    if let Some(email) = email {
        user.email = email.to_owned();
    }
    if let Some(is_active) = request.is_active {
        user.is_active = is_active;
    }
    if let Some(is_verified) = request.is_verified {
        user.is_verified = is_verified;
    }
    let password_changed = match request.password {
        Some(password) => {
            user.password_hash = state.passwords.hash(password).await?;
            true
        }
        None => false,
    };
    db::update_user(&state.db, &mut user).await?;
    if password_changed || (was_active && !user.is_active) {
        backend::revoke_all(&state, user.id, None).await?;
    }
    db::load_roles(&state.db, &mut user).await?;
    Ok(JsonResponse(user))
}

/// Deletes a user, with their sessions, tokens and role links: 204; 404 for an unknown id.
async fn delete_user(
    State(state): State<UsersState>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    if db::delete_user(&state.db, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(user_not_found())
    }
}

async fn find_user(state: &UsersState, id: Uuid) -> Result<User, ApiError> {
    db::find_user_by_id(&state.db, id)
        .await?
        .ok_or_else(user_not_found)
}

fn user_not_found() -> ApiError {
    ApiError::not_found("There is no user with this id.")
}

fn bad_page() -> ApiError {
    ApiError::unprocessable(
        "invalid_page",
        format!("`limit` must be 1 to {MAX_PAGE_SIZE} and `offset` 0 or more."),
    )
}
