//! The management commands of role-management: `create-role`, `assign-role`, and the roles of
//! `create-user --role`. Each change is committed before the command returns.

use clap::Subcommand;

use crate::{{ module }}::{
    UsersState,
    db::{self, NewUser},
    error::ApiError,
    handlers::role_management::{valid_description, valid_role_name},
    roles::{self, Assignment, Role},
};

/// The role subcommands of `users`.
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Creates a role. The `admin` role exists from the start.
    ///
    /// A role that exists already (in any letter case) is kept: the command says so and succeeds.
    CreateRole {
        /// The name: ASCII letters, digits, `-`, `_`, `.` or `:`.
        #[arg(long)]
        name: String,
        /// What the role is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// Gives a user a role.
    ///
    /// A user who has the role already keeps it: the command says so and succeeds (exit code 0).
    AssignRole {
        /// The user's email address.
        #[arg(long)]
        email: String,
        /// The role's name.
        #[arg(long)]
        role: String,
    },
}

/// Runs a role command; returns what to print.
pub async fn run(state: &UsersState, command: RoleCommand) -> Result<String, String> {
    match command {
        RoleCommand::CreateRole { name, description } => {
            let name = valid_role_name(&name).map_err(|error| error.detail.to_string())?;
            let description = valid_description(description.as_deref())
                .map_err(|error| error.detail.to_string())?;
            // Like `assign-role`, creating a role that exists (such as `admin`, which the
            // migrations create) is no error: the command says so and changes nothing.
            match roles::create_role(&state.db, name, description).await {
                Ok(role) => Ok(format!("created role {} ({})", role.name, role.id)),
                Err(roles::RoleWriteError::NameTaken) => {
                    Ok(format!("the role {name} exists already; nothing changed"))
                }
                Err(error) => Err(ApiError::from(error).detail.to_string()),
            }
        }
        RoleCommand::AssignRole { email, role } => {
            let user = db::find_user_by_email(&state.db, &email)
                .await
                .map_err(|error| error.to_string())?
                .ok_or_else(|| format!("there is no user with the email address {email}"))?;
            let role = find_role(state, &role).await?;
            match roles::assign_role(&state.db, user.id, role.id)
                .await
                .map_err(|error| error.to_string())?
            {
                Assignment::Assigned => {
                    Ok(format!("gave the role {} to {}", role.name, user.email))
                }
                Assignment::AlreadyHeld => Ok(format!(
                    "{} has the role {} already; nothing changed",
                    user.email, role.name
                )),
                Assignment::UnknownUserOrRole => Err(format!(
                    "{} or the role {} was deleted meanwhile",
                    user.email, role.name
                )),
            }
        }
    }
}

/// The roles named `names` (in any letter case), each looked up before anything is written, so
/// that a typo creates nothing.
pub async fn find_roles(state: &UsersState, names: &[String]) -> Result<Vec<Role>, String> {
    let mut found = Vec::new();
    for name in names {
        found.push(find_role(state, name).await?);
    }
    Ok(found)
}

/// `create-user` with `--role`: the user and their roles are written in one transaction.
pub async fn create_user(
    state: &UsersState,
    new_user: NewUser<'_>,
    roles: Vec<Role>,
) -> Result<String, String> {
    let user = roles::create_user_with_roles(&state.db, new_user, roles)
        .await
        .map_err(|error| ApiError::from(error).detail.to_string())?;
    let names: Vec<&str> = user.roles.iter().map(|role| role.name.as_str()).collect();
    if names.is_empty() {
        Ok(format!("created user {} ({})", user.email, user.id))
    } else {
        Ok(format!(
            "created user {} ({}) with the roles {}",
            user.email,
            user.id,
            names.join(", ")
        ))
    }
}

/// The role named `name` (in any letter case), or a message saying how to create it.
async fn find_role(state: &UsersState, name: &str) -> Result<Role, String> {
    roles::find_role_by_name(&state.db, name)
        .await
        .map_err(|error| error.to_string())?
        .ok_or_else(|| {
            format!(
                "there is no role named {name}: create it with `users create-role --name {name}`"
            )
        })
}
