//! Roles: `GET`/`POST /users/roles`, `PATCH`/`DELETE /users/roles/{id}`, and
//! `PUT /users/roles/assign` and `PUT /users/roles/revoke` to give roles to users and take them
//! back. Only for admins: the guard is in [`crate::{{ module }}::router`].

use axum::{
    Json as JsonResponse, Router,
    extract::State,
    http::StatusCode,
    routing::{get, patch, put},
};
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use crate::{{ module }}::{
    UsersState,
    config::{ASSIGN_ROLE_PATH, REVOKE_ROLE_PATH, ROLE_PATH, ROLES_PATH},
    db,
    error::{ApiError, Json, Path},
    model::{Page, User},
    roles::{
        self, ADMIN_ROLE, Assignment, MAX_ROLE_DESCRIPTION_CHARS, MAX_ROLE_NAME_CHARS, Revocation,
        Role,
    },
};

/// The routes of this handler.
pub fn routes() -> Router<UsersState> {
    Router::new()
        .route(ROLES_PATH, get(list_roles).post(create_role))
        .route(ROLE_PATH, patch(update_role).delete(delete_role))
        .route(ASSIGN_ROLE_PATH, put(assign_role))
        .route(REVOKE_ROLE_PATH, put(revoke_role))
}

/// The body of `POST /users/roles`.
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct CreateRoleRequest {
    /// The name, unique without regard to case: ASCII letters, digits, `-`, `_`, `.` and `:`.
    pub name: String,
    /// What the role is for (optional).
    #[serde(default)]
    pub description: Option<String>,
}

/// The body of `PATCH /users/roles/{id}`: fields left out stay as they are; `"description": null`
/// removes the description.
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct UpdateRoleRequest {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// A new description, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
}

/// The body of `PUT /users/roles/assign` and `PUT /users/roles/revoke`.
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct UserRoleRequest {
    /// The user.
    pub user_id: Uuid,
    /// The role.
    pub role_id: Uuid,
}

/// A field that is present (even as `null`) becomes `Some`, so that a missing field and `null`
/// can be told apart.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// Checks a role name and returns it trimmed: 422 unless it is 1 to [`MAX_ROLE_NAME_CHARS`] ASCII
/// letters, digits, `-`, `_`, `.` or `:`.
pub fn valid_role_name(name: &str) -> Result<&str, ApiError> {
    let name = name.trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    if name.is_empty() || name.len() > MAX_ROLE_NAME_CHARS || !name.chars().all(allowed) {
        return Err(ApiError::unprocessable(
            "invalid_role_name",
            format!(
                "A role name is 1 to {MAX_ROLE_NAME_CHARS} characters: ASCII letters, digits, \
                 `-`, `_`, `.` or `:`."
            ),
        ));
    }
    Ok(name)
}

/// Checks a role description and returns it trimmed (`None` when empty): 422 when longer than
/// [`MAX_ROLE_DESCRIPTION_CHARS`] characters.
pub fn valid_description(description: Option<&str>) -> Result<Option<&str>, ApiError> {
    let description = description.map(str::trim).filter(|text| !text.is_empty());
    if description.is_some_and(|text| text.chars().count() > MAX_ROLE_DESCRIPTION_CHARS) {
        return Err(ApiError::unprocessable(
            "invalid_description",
            format!("A role description has at most {MAX_ROLE_DESCRIPTION_CHARS} characters."),
        ));
    }
    Ok(description)
}

/// Every role: 200 with `{"items": [...], "total": N}`.
async fn list_roles(State(state): State<UsersState>) -> Result<JsonResponse<Page<Role>>, ApiError> {
    let items = roles::list_roles(&state.db).await?;
    let total = i64::try_from(items.len()).unwrap_or(i64::MAX);
    Ok(JsonResponse(Page { items, total }))
}

/// Creates a role: 201 with the role; 409 when the name is taken (in any letter case); 422 for a
/// bad name or description.
async fn create_role(
    State(state): State<UsersState>,
    Json(request): Json<CreateRoleRequest>,
) -> Result<(StatusCode, JsonResponse<Role>), ApiError> {
    let name = valid_role_name(&request.name)?;
    let description = valid_description(request.description.as_deref())?;
    let role = roles::create_role(&state.db, name, description).await?;
    Ok((StatusCode::CREATED, JsonResponse(role)))
}

/// Renames a role or changes its description: 200 with the role; 404 for an unknown id; 409 when
/// the new name is taken; 422 for a bad name or description.
async fn update_role(
    State(state): State<UsersState>,
    Path(id): Path<Uuid>,
    Json(request): Json<UpdateRoleRequest>,
) -> Result<JsonResponse<Role>, ApiError> {
    let mut role = find_role(&state, id).await?;
    if let Some(name) = &request.name {
        let name = valid_role_name(name)?;
        // Renaming `admin` would take it from every admin at once (`Admin` is the same name).
        if is_admin_role(&role) && !name.eq_ignore_ascii_case(ADMIN_ROLE) {
            return Err(last_admin());
        }
        role.name = name.to_owned();
    }
    if let Some(description) = &request.description {
        role.description = valid_description(description.as_deref())?.map(str::to_owned);
    }
    roles::update_role(&state.db, &role).await?;
    Ok(JsonResponse(role))
}

/// Deletes a role and takes it from every user who held it: 204; 404 for an unknown id; 409 for
/// the `admin` role, which would leave no admin.
async fn delete_role(
    State(state): State<UsersState>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    if is_admin_role(&find_role(&state, id).await?) {
        return Err(last_admin());
    }
    if roles::delete_role(&state.db, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(role_not_found())
    }
}

/// Gives a user a role: 200 with the user and their roles; 404 for an unknown user or role; 409
/// when the user has the role already. It takes effect at the user's next request.
async fn assign_role(
    State(state): State<UsersState>,
    Json(request): Json<UserRoleRequest>,
) -> Result<JsonResponse<User>, ApiError> {
    let mut user = find_user(&state, request.user_id).await?;
    let role = find_role(&state, request.role_id).await?;
    match roles::assign_role(&state.db, user.id, role.id).await? {
        Assignment::Assigned => {}
        Assignment::AlreadyHeld => {
            return Err(ApiError::conflict(
                "role_already_held",
                "The user has this role already.",
            ));
        }
        // The user or the role was deleted since the look-ups above.
        Assignment::UnknownUserOrRole => return Err(user_not_found()),
    }
    roles::load_roles(&state.db, &mut user).await?;
    Ok(JsonResponse(user))
}

/// Takes a role from a user: 200 with the user and their remaining roles; 404 for an unknown user
/// or role; 409 when the user does not have the role, or is the last active admin.
async fn revoke_role(
    State(state): State<UsersState>,
    Json(request): Json<UserRoleRequest>,
) -> Result<JsonResponse<User>, ApiError> {
    let mut user = find_user(&state, request.user_id).await?;
    let role = find_role(&state, request.role_id).await?;
    // One transaction checks that an active admin remains: two admins revoking each other at the
    // same moment cannot both succeed.
    match roles::revoke_role_keeping_an_admin(&state.db, user.id, role.id).await? {
        Revocation::Revoked => {}
        Revocation::NotHeld => {
            return Err(ApiError::conflict(
                "role_not_held",
                "The user does not have this role.",
            ));
        }
        Revocation::LastAdmin => return Err(last_admin()),
    }
    roles::load_roles(&state.db, &mut user).await?;
    Ok(JsonResponse(user))
}

async fn find_role(state: &UsersState, id: Uuid) -> Result<Role, ApiError> {
    roles::find_role_by_id(&state.db, id)
        .await?
        .ok_or_else(role_not_found)
}

async fn find_user(state: &UsersState, id: Uuid) -> Result<User, ApiError> {
    db::find_user_by_id(&state.db, id)
        .await?
        .ok_or_else(user_not_found)
}

/// Whether `role` is the one the admin guard checks (compared as the guard compares).
fn is_admin_role(role: &Role) -> bool {
    role.name.eq_ignore_ascii_case(ADMIN_ROLE)
}

/// 409: an admin must remain, or nobody could manage users and roles any more.
fn last_admin() -> ApiError {
    ApiError::conflict(
        "last_admin",
        "This change would leave no active admin; make someone else an admin first.",
    )
}

fn role_not_found() -> ApiError {
    ApiError::not_found("There is no role with this id.")
}

fn user_not_found() -> ApiError {
    ApiError::not_found("There is no user with this id.")
}
