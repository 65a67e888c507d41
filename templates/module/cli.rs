//! Management commands: `<bin> users create-user ...`, and those of the installed handlers in
//! `cli/` (such as role-management's `create-role` and `assign-role`). Each change is committed
//! before the command returns (one statement, or one transaction).

{% for line in module_lines["module/cli.rs"] %}{{ line }}
{% endfor %}// cargo-users: modules

use clap::Subcommand;

use super::{
    UsersState,
    db::NewUser,
    handlers::{valid_email, valid_password},
};

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
    /// `create-role` and `assign-role`.
    #[command(flatten)]
    Roles(roles::RoleCommand),
{%- endif %}
{%- if "totp" in handlers %}
    /// `disable-totp`.
    #[command(flatten)]
    Totp(totp::TotpCommand),
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
            roles: role_names,
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
            let found = roles::find_roles(state, &role_names).await?;
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
            roles::create_user(state, new_user, found).await
{%- else %}
            let user = super::db::create_user(&state.db, new_user)
                .await
                .map_err(|error| super::ApiError::from(error).detail.to_string())?;
            Ok(format!("created user {} ({})", user.email, user.id))
{%- endif %}
        }
{%- if "role-management" in handlers %}
        UsersCommand::Roles(command) => roles::run(state, command).await,
{%- endif %}
{%- if "totp" in handlers %}
        UsersCommand::Totp(command) => totp::run(state, command).await,
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
