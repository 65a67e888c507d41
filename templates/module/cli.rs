//! Management commands: `<bin> users create-user ...`{% if "role-management" in handlers %}, `create-role` and `assign-role`{% endif %}.
//! Each change is committed before the command returns (one statement, or one transaction).

use clap::Subcommand;

use super::{
    UsersState,
    db::{self, NewUser},
    handlers::{valid_email, valid_password},
};
{%- if "role-management" in handlers %}
use super::{
    handlers::role_management::{valid_description, valid_role_name},
    roles::{self, Assignment, Role},
};
{%- endif %}

/// `users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Creates a user.
    CreateUser {
        /// The email address.
        #[arg(long)]
        email: String,
        /// The password. It shows in the shell history and the process list: prefer
        /// `--password-stdin` outside development.
        #[arg(long, required_unless_present = "password_stdin")]
        password: Option<String>,
        /// Read the password from the first line of standard input instead (e.g.
        /// `printf '%s\n' "$PASSWORD" | <bin> users create-user --email E --password-stdin`).
        #[arg(long, conflicts_with = "password")]
        password_stdin: bool,
        /// Mark the email address as verified.
        #[arg(long)]
        verified: bool,
        /// Create the account deactivated.
        #[arg(long)]
        inactive: bool,
{%- if "role-management" in handlers %}
        /// Give the user this role (it must exist); repeat for several.
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
{%- endif %}
    },
{%- if "role-management" in handlers %}
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
{%- endif %}
}

/// Runs a management command; returns what to print.
pub async fn run(state: &UsersState, command: UsersCommand) -> Result<String, String> {
    match command {
        UsersCommand::CreateUser {
            email,
            password,
            password_stdin,
            verified,
            inactive,
{%- if "role-management" in handlers %}
            roles,
{%- endif %}
        } => {
            let email = valid_email(&email).map_err(|error| error.detail.to_string())?;
            let password = match password {
                Some(password) if !password_stdin => password,
                _ => read_password(std::io::stdin().lock())?,
            };
            valid_password(&password).map_err(|error| error.detail.to_string())?;
{%- if "role-management" in handlers %}
            // Every role is looked up before anything is written: a typo creates nothing.
            let mut found = Vec::new();
            for name in &roles {
                found.push(find_role(state, name).await?);
            }
{%- endif %}
            let password_hash = state
                .passwords
                .hash(password)
                .await
                .map_err(|error| error.detail.to_string())?;
            let new_user = NewUser {
                email: &email,
                password_hash,
                is_active: !inactive,
                is_verified: verified,
            };
{%- if "role-management" in handlers %}
            // The user and their roles are written in one transaction.
            let user = roles::create_user_with_roles(&state.db, new_user, found)
                .await
                .map_err(|error| super::ApiError::from(error).detail.to_string())?;
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
{%- else %}
            let user = db::create_user(&state.db, new_user)
                .await
                .map_err(|error| super::ApiError::from(error).detail.to_string())?;
            Ok(format!("created user {} ({})", user.email, user.id))
{%- endif %}
        }
{%- if "role-management" in handlers %}
        UsersCommand::CreateRole { name, description } => {
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
                Err(error) => Err(super::ApiError::from(error).detail.to_string()),
            }
        }
        UsersCommand::AssignRole { email, role } => {
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
{%- endif %}
    }
}

/// The password on the first line of `input`, without its line ending.
fn read_password(mut input: impl std::io::BufRead) -> Result<String, String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|error| format!("cannot read the password from standard input: {error}"))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err("--password-stdin: standard input has no password".to_owned());
    }
    Ok(password.to_owned())
}
{%- if "role-management" in handlers %}

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
{%- endif %}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: UsersCommand,
    }

    fn parse(args: &[&str]) -> Result<UsersCommand, clap::Error> {
        let args = ["users", "create-user", "--email", "ada@example.com"]
            .iter()
            .chain(args);
        Cli::try_parse_from(args).map(|cli| cli.command)
    }

    #[test]
    fn the_password_comes_from_the_command_line_or_stdin_but_not_both() {
        let from_args = parse(&["--password", "correct horse"]).expect("valid arguments");
        assert!(matches!(
            from_args,
            UsersCommand::CreateUser {
                password: Some(_),
                password_stdin: false,
                ..
            }
        ));
        let from_stdin = parse(&["--password-stdin"]).expect("valid arguments");
        assert!(matches!(
            from_stdin,
            UsersCommand::CreateUser {
                password: None,
                password_stdin: true,
                ..
            }
        ));
        assert!(parse(&[]).is_err(), "a password is required");
        assert!(parse(&["--password", "x", "--password-stdin"]).is_err());
    }

    #[test]
    fn the_stdin_password_is_the_first_line_without_its_line_ending() {
        let read = |input: &str| read_password(input.as_bytes());
        assert_eq!(read("correct horse\n").as_deref(), Ok("correct horse"));
        assert_eq!(
            read("correct horse\r\nsecond line\n").as_deref(),
            Ok("correct horse")
        );
        assert_eq!(read(" spaces kept ").as_deref(), Ok(" spaces kept "));
        assert!(read("").is_err());
        assert!(read("\n").is_err());
    }
}
