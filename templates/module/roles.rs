//! Roles, brought by the role-management handler: the [`Role`] model, the `admin` role and the
//! guard in front of the management routes, and every SQL statement about roles{% if db == "sqlite" %}, written for
//! SQLite{% elif db == "postgres" %}, written for PostgreSQL{% else %}, written for MySQL and MariaDB{% endif %}.
//!
//! The role guards for your own routes, [`crate::{{ module }}::roles_accepted`] and
//! [`crate::{{ module }}::roles_required`], are in `extract.rs`; the roles of a logged-in user are
//! loaded once per request, with the user.

use axum::{Router, middleware};
use serde::Serialize;
use uuid::Uuid;

use super::{
    UsersState,
    db::{self, Db, NewUser, Pool, WriteError},
    error::ApiError,
    extract::{CurrentUser, roles_accepted},
    model::User,
};

/// The role that may manage users and roles: [`admin`] lets only its holders reach those routes.
/// Give it to a first user with
/// `cargo run -- users create-user --email ... --password ... --verified --role admin`: the
/// `admin_role` migration creates the role.
pub const ADMIN_ROLE: &str = "admin";
/// Role names are 1 to this many characters: ASCII letters, digits, `-`, `_`, `.` and `:`.
pub const MAX_ROLE_NAME_CHARS: usize = 64;
/// Role descriptions are at most this many characters.
pub const MAX_ROLE_DESCRIPTION_CHARS: usize = 1000;

/// A role, such as `admin`. Serializes to the API's role JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct Role {
    /// A random UUID (v4).
    pub id: Uuid,
    /// Unique, compared without regard to letter case; what the role guards check.
    pub name: String,
    /// What the role is for, if anyone said.
    pub description: Option<String>,
}

impl CurrentUser {
    /// Whether the user has the role `name` (compared without regard to ASCII case, as role names
    /// are unique that way). The role guards of `extract.rs` ask this.
    pub fn has_role(&self, name: &str) -> bool {
        self.user
            .roles
            .iter()
            .any(|role| role.name.eq_ignore_ascii_case(name))
    }
}

/// Puts `routes` behind the admin guard: only holders of [`ADMIN_ROLE`] get through (401 when
/// anonymous, 403 without the role). [`crate::{{ module }}::router`] guards the user and role
/// management routes with it. To let others in, accept more roles here
/// (`roles_accepted(&[ADMIN_ROLE, "support"])`) or require several with `roles_required`.
pub fn admin(routes: Router<UsersState>, state: &UsersState) -> Router<UsersState> {
    let guard = roles_accepted(&[ADMIN_ROLE]);
    routes.route_layer(middleware::from_fn_with_state(state.clone(), guard))
}

{% filter sql(db=db) -%}
/// The columns of a [`Role`], for `SELECT`s.
const ROLE_COLUMNS: &str = "roles.id, roles.name, roles.description";

/// Why a role could not be written.
#[derive(Debug)]
pub enum RoleWriteError {
    /// Another role has this name (compared without regard to case).
    NameTaken,
    /// Anything else the database said.
    Database(sqlx::Error),
}

impl From<sqlx::Error> for RoleWriteError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::NameTaken,
            _ => Self::Database(error),
        }
    }
}

impl From<RoleWriteError> for ApiError {
    fn from(error: RoleWriteError) -> Self {
        match error {
            RoleWriteError::NameTaken => {
                ApiError::conflict("role_name_taken", "A role with this name exists already.")
            }
            RoleWriteError::Database(error) => error.into(),
        }
    }
}

/// The roles of one user, sorted by name.
pub async fn roles_of(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user_id: Uuid,
) -> Result<Vec<Role>, sqlx::Error> {
    let mut roles: Vec<Role> = sqlx::query_as(&format!(
        "SELECT {ROLE_COLUMNS} FROM roles JOIN user_roles ON user_roles.role_id = roles.id \
         WHERE user_roles.user_id = $1"
    ))
    .bind(user_id)
    .fetch_all(executor)
    .await?;
    sort_by_name(&mut roles);
    Ok(roles)
}

// The check of every authenticated request ([`db::find_user_by_token`]) reads the user's roles in
// the same query and the same row: one column holds them as a JSON array of
// `[id, name, description]`, so the look-up is one row whatever the number of roles (on SQLite,
// every row is a hop between the database's thread and the request's), and they are sorted here.

/// The role column of [`db::find_user_by_token`]'s look-up: the user's roles as a JSON array
/// (NULL{% if db == "sqlite" %} or `[]`{% endif %} for none).
{%- if db == "sqlite" %}
pub(super) const LOOKUP_COLUMNS: &str = ", (SELECT json_group_array(json_array(hex(roles.id), roles.name, roles.description)) \
     FROM user_roles JOIN roles ON roles.id = user_roles.role_id \
     WHERE user_roles.user_id = users.id) AS roles_json";
{%- elif db == "postgres" %}
pub(super) const LOOKUP_COLUMNS: &str = ", (SELECT json_agg(json_build_array(roles.id, roles.name, roles.description))::text \
     FROM user_roles JOIN roles ON roles.id = user_roles.role_id \
     WHERE user_roles.user_id = users.id) AS roles_json";
{%- else %}
pub(super) const LOOKUP_COLUMNS: &str = ", (SELECT CAST(JSON_ARRAYAGG(JSON_ARRAY(HEX(roles.id), roles.name, roles.description)) AS CHAR) \
     FROM user_roles JOIN roles ON roles.id = user_roles.role_id \
     WHERE user_roles.user_id = users.id) AS roles_json";
{%- endif %}

/// The row of the look-up: the user and their roles as JSON.
#[derive(sqlx::FromRow)]
pub(super) struct LookupRow {
    #[sqlx(flatten)]
    user: User,
    roles_json: Option<String>,
}

/// The user of the look-up's row, with their roles (`None`: no row, no user). JSON that does not
/// read as roles is an error, never a user without their roles.
pub(super) fn user_of_lookup(row: Option<LookupRow>) -> Result<Option<User>, sqlx::Error> {
    let Some(row) = row else {
        return Ok(None);
    };
    let mut user = row.user;
    user.roles = match row.roles_json.as_deref() {
        None | Some("[]") => Vec::new(),
        Some(json) => roles_of_json(json).map_err(sqlx::Error::Decode)?,
    };
    sort_by_name(&mut user.roles);
    Ok(Some(user))
}

/// The roles in the look-up's JSON column.
fn roles_of_json(json: &str) -> Result<Vec<Role>, sqlx::error::BoxDynError> {
    let listed: Vec<(String, String, Option<String>)> = serde_json::from_str(json)?;
    listed
        .into_iter()
        .map(|(id, name, description)| {
            Ok(Role {
                // Hex digits on SQLite and MySQL, the hyphenated form on PostgreSQL.
                id: Uuid::try_parse(&id)?,
                name,
                description,
            })
        })
        .collect()
}

/// Sorts roles by name, ignoring ASCII case (role names are ASCII): the order of every list of
/// roles, the same on every database whatever its collation.
fn sort_by_name(roles: &mut [Role]) {
    roles.sort_unstable_by(|a, b| {
        a.name
            .bytes()
            .map(|byte| byte.to_ascii_lowercase())
            .cmp(b.name.bytes().map(|byte| byte.to_ascii_lowercase()))
    });
}

/// Fills in `user.roles`, on the pool or in a transaction (`&mut *connection`: inside one, never
/// through the pool, which would hold a second connection while the first waits).
pub async fn load_roles(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user: &mut User,
) -> Result<(), sqlx::Error> {
    user.roles = roles_of(executor, user.id).await?;
    Ok(())
}

/// Fills in the roles of every user of a page, with one query for the whole page.
pub async fn load_roles_of_page(pool: &Pool, users: &mut [User]) -> Result<(), sqlx::Error> {
    if users.is_empty() {
        return Ok(());
    }
    let mut query = sqlx::QueryBuilder::<Db>::new(format!(
        "SELECT user_roles.user_id, {ROLE_COLUMNS} FROM roles \
         JOIN user_roles ON user_roles.role_id = roles.id WHERE user_roles.user_id IN ("
    ));
    let mut ids = query.separated(", ");
    for user in users.iter() {
        ids.push_bind(user.id);
    }
    query.push(")");
    let rows: Vec<(Uuid, Uuid, String, Option<String>)> =
        query.build_query_as().fetch_all(pool).await?;
    let index: std::collections::HashMap<Uuid, usize> = users
        .iter()
        .enumerate()
        .map(|(at, user)| (user.id, at))
        .collect();
    for user in users.iter_mut() {
        user.roles.clear();
    }
    for (user_id, id, name, description) in rows {
        if let Some(&at) = index.get(&user_id) {
            users[at].roles.push(Role {
                id,
                name,
                description,
            });
        }
    }
    for user in users.iter_mut() {
        sort_by_name(&mut user.roles);
    }
    Ok(())
}

/// Every role, sorted by name.
pub async fn list_roles(pool: &Pool) -> Result<Vec<Role>, sqlx::Error> {
    let mut roles: Vec<Role> = sqlx::query_as(&format!("SELECT {ROLE_COLUMNS} FROM roles"))
        .fetch_all(pool)
        .await?;
    sort_by_name(&mut roles);
    Ok(roles)
}

/// The role with this id.
pub async fn find_role_by_id(pool: &Pool, id: Uuid) -> Result<Option<Role>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ROLE_COLUMNS} FROM roles WHERE roles.id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The role with this name, compared without regard to case.
pub async fn find_role_by_name(pool: &Pool, name: &str) -> Result<Option<Role>, sqlx::Error> {
{%- if db == "postgres" %}
    // Matches the unique index on `lower(name)`, which it uses.
    let sql = format!("SELECT {ROLE_COLUMNS} FROM roles WHERE lower(roles.name) = lower($1)");
{%- else %}
    // The column's collation is case-insensitive, so `=` ignores case and uses the unique index.
    let sql = format!("SELECT {ROLE_COLUMNS} FROM roles WHERE roles.name = $1");
{%- endif %}
    sqlx::query_as(&sql)
        .bind(name.trim())
        .fetch_optional(pool)
        .await
}

/// Creates a role.
pub async fn create_role(
    pool: &Pool,
    name: &str,
    description: Option<&str>,
) -> Result<Role, RoleWriteError> {
    let role = Role {
        id: Uuid::new_v4(),
        name: name.to_owned(),
        description: description.map(str::to_owned),
    };
    sqlx::query("INSERT INTO roles (id, name, description, created_at) VALUES ($1, $2, $3, $4)")
        .bind(role.id)
        .bind(&role.name)
        .bind(&role.description)
        .bind(db::now())
        .execute(pool)
        .await?;
    Ok(role)
}

/// Writes the name and description of `role` back.
pub async fn update_role(pool: &Pool, role: &Role) -> Result<(), RoleWriteError> {
    sqlx::query("UPDATE roles SET name = $1, description = $2 WHERE id = $3")
        .bind(&role.name)
        .bind(&role.description)
        .bind(role.id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes a role; it is taken from every user who held it (`ON DELETE CASCADE`). Whether the
/// role existed.
pub async fn delete_role(pool: &Pool, id: Uuid) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM roles WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// What [`assign_role`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignment {
    /// The user has the role now.
    Assigned,
    /// The user had the role already; nothing changed.
    AlreadyHeld,
    /// The user or the role does not exist.
    UnknownUserOrRole,
}

/// Gives the user the role, in one statement (so it is committed at once).
pub async fn assign_role(
    pool: &Pool,
    user_id: Uuid,
    role_id: Uuid,
) -> Result<Assignment, sqlx::Error> {
    let inserted = sqlx::query("INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)")
        .bind(user_id)
        .bind(role_id)
        .execute(pool)
        .await;
    match inserted {
        Ok(_) => Ok(Assignment::Assigned),
        // The primary key (user_id, role_id) and the foreign keys decide, not a look-up first:
        // two requests racing to assign the same role cannot both succeed.
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            Ok(Assignment::AlreadyHeld)
        }
        Err(sqlx::Error::Database(error)) if error.is_foreign_key_violation() => {
            Ok(Assignment::UnknownUserOrRole)
        }
        Err(error) => Err(error),
    }
}

/// Takes the role from the user. Whether the user had it.
pub async fn revoke_role(pool: &Pool, user_id: Uuid, role_id: Uuid) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2")
        .bind(user_id)
        .bind(role_id)
        .execute(pool)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// Creates a user with these roles, all or nothing (in one transaction).
pub async fn create_user_with_roles(
    pool: &Pool,
    new: NewUser<'_>,
    roles: Vec<Role>,
) -> Result<User, WriteError> {
    let mut roles = roles;
    sort_by_name(&mut roles);
    roles.dedup_by_key(|role| role.id);
    let mut transaction = pool.begin().await?;
    let mut user = db::create_user(&mut *transaction, new).await?;
    for role in &roles {
        sqlx::query("INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)")
            .bind(user.id)
            .bind(role.id)
            .execute(&mut *transaction)
            .await?;
    }
    transaction.commit().await?;
    user.roles = roles;
    Ok(user)
}

/// What [`revoke_role_keeping_an_admin`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// The user no longer has the role.
    Revoked,
    /// The user did not have the role.
    NotHeld,
    /// Nothing changed: the user is the last active admin.
    LastAdmin,
}

/// Takes the role from the user unless that leaves no active admin, in one transaction.
pub async fn revoke_role_keeping_an_admin(
    pool: &Pool,
    user_id: Uuid,
    role_id: Uuid,
) -> Result<Revocation, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let admins_before = lock_and_count_admins(&mut transaction).await?;
    let deleted = sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2")
        .bind(user_id)
        .bind(role_id)
        .execute(&mut *transaction)
        .await?;
    let outcome = if deleted.rows_affected() == 0 {
        Revocation::NotHeld
    } else if admins_before > 0 && count_admins(&mut transaction).await? == 0 {
        Revocation::LastAdmin
    } else {
        Revocation::Revoked
    };
    if outcome == Revocation::Revoked {
        transaction.commit().await?;
        return Ok(outcome);
    }
    transaction.rollback().await?;
    Ok(outcome)
}

/// Starts a change that could remove the last active admin: a write to the `admin` role's row
/// that changes nothing, but makes every such change wait for the one before it to commit (a row
/// lock in PostgreSQL and MySQL, the database's write lock in SQLite). Two admins revoking each
/// other at the same moment then run one after the other, and the second sees that it would leave
/// no admin. Returns how many active admins there are.
pub(super) async fn lock_and_count_admins(
    transaction: &mut sqlx::Transaction<'_, Db>,
) -> Result<i64, sqlx::Error> {
{%- if db == "postgres" %}
    let sql = "UPDATE roles SET name = name WHERE lower(name) = lower($1)";
{%- else %}
    // The column's collation ignores case, as the role guards do.
    let sql = "UPDATE roles SET name = name WHERE name = $1";
{%- endif %}
    sqlx::query(sql)
        .bind(ADMIN_ROLE)
        .execute(&mut **transaction)
        .await?;
    count_admins(transaction).await
}

/// How many active users hold the `admin` role.
pub(super) async fn count_admins(
    transaction: &mut sqlx::Transaction<'_, Db>,
) -> Result<i64, sqlx::Error> {
{%- if db == "postgres" %}
    let sql = "SELECT COUNT(*) FROM users JOIN user_roles ON user_roles.user_id = users.id \
               JOIN roles ON roles.id = user_roles.role_id \
               WHERE users.is_active AND lower(roles.name) = lower($1)";
{%- else %}
    let sql = "SELECT COUNT(*) FROM users JOIN user_roles ON user_roles.user_id = users.id \
               JOIN roles ON roles.id = user_roles.role_id \
               WHERE users.is_active AND roles.name = $1";
{%- endif %}
    sqlx::query_scalar(sql)
        .bind(ADMIN_ROLE)
        .fetch_one(&mut **transaction)
        .await
}
{%- endfilter %}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str) -> Role {
        Role {
            id: Uuid::new_v4(),
            name: name.to_owned(),
            description: None,
        }
    }

    #[test]
    fn the_look_up_reads_roles_from_the_json_of_every_database() {
        let id = Uuid::new_v4();
        let written = [
            id.simple().to_string().to_uppercase(),
            id.hyphenated().to_string(),
        ];
        for id_text in written {
            let json = serde_json::json!([[id_text, "admin", "Runs the place"]]).to_string();
            let expected = Role {
                id,
                name: "admin".to_owned(),
                description: Some("Runs the place".to_owned()),
            };
            assert_eq!(roles_of_json(&json).unwrap(), vec![expected]);
        }
    }

    #[test]
    fn json_that_is_not_roles_is_an_error() {
        assert!(roles_of_json(r#"[["not a uuid", "admin", null]]"#).is_err());
        assert!(roles_of_json("[[1, 2]]").is_err());
        assert!(roles_of_json("[[").is_err());
    }

    #[test]
    fn roles_sort_by_name_ignoring_ascii_case() {
        let mut roles = vec![role("beta"), role("Alpha"), role("aab"), role("a_b")];
        sort_by_name(&mut roles);
        let names: Vec<&str> = roles.iter().map(|role| role.name.as_str()).collect();
        assert_eq!(names, ["a_b", "aab", "Alpha", "beta"]);
    }
}
