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
    config::{USER_PATH, USERS_PATH},
    db,
    error::{ApiError, Json, Path},
    model::{Page, User},
    roles,
    tokens::Purpose,
    user_admin::{self, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, UserChanges, UserDeletion, UserUpdate},
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
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::IntoParams{% endif %})]
{%- if "openapi" in handlers %}
#[into_params(parameter_in = Query)]
{%- endif %}
pub struct PageQuery {
    /// How many users to answer, 1 to [`MAX_PAGE_SIZE`] (default [`DEFAULT_PAGE_SIZE`]).
    pub limit: Option<i64>,
    /// How many users to skip (default 0).
    pub offset: Option<i64>,
}

/// The body of `PATCH /users/{id}`: every field is optional; fields left out stay as they are.
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
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
    let total = user_admin::count_users(&state.db).await?;
    let mut items = user_admin::list_users(&state.db, limit, offset).await?;
    roles::load_roles_of_page(&state.db, &mut items).await?;
    Ok(JsonResponse(Page { items, total }))
}

/// One user with their roles: 200; 404 for an unknown id.
async fn get_user(
    State(state): State<UsersState>,
    Path(id): Path<Uuid>,
) -> Result<JsonResponse<User>, ApiError> {
    let mut user = find_user(&state, id).await?;
    roles::load_roles(&state.db, &mut user).await?;
    Ok(JsonResponse(user))
}

/// Changes a user's email, password or flags: 200 with the user; 404 for an unknown id; 409 when
/// the email is taken or when the change would deactivate the last active admin; 422 for a bad
/// email or password. Deactivating the user or changing their password revokes every session and
/// token they hold; a new password or email deletes their outstanding reset links{% if "oauth2" in handlers %}; any of the
/// three unlinks their provider accounts{% endif %}. Unlike `PATCH /users/me`, a new email keeps the verification status unless
/// `is_verified` is given too, and no mail is sent.
async fn update_user(
    State(state): State<UsersState>,
    Path(id): Path<Uuid>,
    Json(request): Json<UpdateUserRequest>,
) -> Result<JsonResponse<User>, ApiError> {
    let email = request.email.as_deref().map(valid_email).transpose()?;
    if let Some(password) = &request.password {
        valid_password(password)?;
    }
    let password_hash = match request.password {
        Some(password) => Some(state.passwords.hash(password).await?),
        None => None,
    };
    // Only the fields given are written, so a change made to the user meanwhile (by the user or
    // another admin) survives; and not at all if it would leave no active admin.
    let changes = UserChanges {
        email: email.as_deref(),
        password_hash,
        is_active: request.is_active,
        is_verified: request.is_verified,
    };
    let mut transaction = db::begin(&state.db).await?;
    let outcome = apply_user_changes(&mut transaction, id, &changes).await;
    db::finish(transaction, outcome).await?;
    let mut user = find_user(&state, id).await?;
    roles::load_roles(&state.db, &mut user).await?;
    Ok(JsonResponse(user))
}

/// The writes of `PATCH /users/{id}`, in one transaction: the fields, then what they end. The
/// update holds the account's row until the commit, so a login of this user by link or password
/// that locked the account first (see `db::lock_user`) has committed its credential, which is
/// deleted here, and one that comes later finds the new password, the account inactive or its link
/// gone.
async fn apply_user_changes(
    transaction: &mut db::Transaction,
    id: Uuid,
    changes: &UserChanges<'_>,
) -> Result<(), ApiError> {
    match user_admin::update_user_fields(transaction, id, changes).await? {
        UserUpdate::Updated => {}
        UserUpdate::NotFound => return Err(user_not_found()),
        UserUpdate::LastAdmin => return Err(last_admin()),
    }
    let revoke = changes.password_hash.is_some() || changes.is_active == Some(false);
    if revoke {
        backend::revoke_all(&mut **transaction, id, None).await?;
    }
    // A reset link mailed before must not undo a new password, reach an old address, or work
    // again once a deactivated account is active again.
    if revoke || changes.email.is_some() {
        db::delete_user_tokens(&mut **transaction, id, &[Purpose::Reset], None).await?;
    }
    if changes.email.is_some() {
        // A verification link mailed to the old address must not verify the new one{% if "magic-link" in handlers %}, nor a
        // login link mailed there log in to the account at its new one{% endif %}.
{%- if "magic-link" in handlers %}
        let links = [Purpose::Verify, Purpose::MagicLink];
{%- else %}
        let links = [Purpose::Verify];
{%- endif %}
        db::delete_user_tokens(&mut **transaction, id, &links, None).await?;
    }
{%- if "current-user" in handlers %}
    if revoke || changes.email.is_some() {
        // A pending change of address (perhaps asked by whoever took the password) must not
        // outlive a new password, a deactivation or an address set by the admin.
        crate::{{ module }}::email_changes::delete_email_change(&mut **transaction, id).await?;
    }
{%- endif %}
{%- if "oauth2" in handlers %}
    if revoke || changes.email.is_some() {
        // A provider account linked by whoever held the account must not log in to it after the
        // admin took it back; the owner links theirs again at their next provider login.
        crate::{{ module }}::oauth2::unlink_all(&mut **transaction, id).await?;
    }
{%- endif %}
    Ok(())
}

/// Deletes a user, with their sessions, tokens and role links: 204; 404 for an unknown id; 409
/// when they are the last active admin.
async fn delete_user(
    State(state): State<UsersState>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    match user_admin::delete_user_keeping_an_admin(&state.db, id).await? {
        UserDeletion::Deleted => Ok(StatusCode::NO_CONTENT),
        UserDeletion::NotFound => Err(user_not_found()),
        UserDeletion::LastAdmin => Err(last_admin()),
    }
}

/// 409: an admin must remain, or nobody could manage users and roles any more.
fn last_admin() -> ApiError {
    ApiError::conflict(
        "last_admin",
        "This change would leave no active admin; make someone else an admin first.",
    )
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
