//! Management commands: `<bin> users create-user ...`.

use clap::Subcommand;

use super::{
    UsersState,
    db::{self, NewUser},
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
        /// The password.
        #[arg(long)]
        password: String,
        /// Mark the email address as verified.
        #[arg(long)]
        verified: bool,
        /// Create the account deactivated.
        #[arg(long)]
        inactive: bool,
    },
}

/// Runs a management command; returns what to print.
pub async fn run(state: &UsersState, command: UsersCommand) -> Result<String, String> {
    match command {
        UsersCommand::CreateUser {
            email,
            password,
            verified,
            inactive,
        } => {
            let email = valid_email(&email).map_err(|error| error.detail.to_string())?;
            valid_password(&password).map_err(|error| error.detail.to_string())?;
            let password_hash = state
                .passwords
                .hash(password)
                .await
                .map_err(|error| error.detail.to_string())?;
            let new_user = NewUser {
                email,
                password_hash,
                is_active: !inactive,
                is_verified: verified,
            };
            let user = db::create_user(&state.db, new_user)
                .await
                .map_err(|error| super::ApiError::from(error).detail.to_string())?;
            Ok(format!("created user {} ({})", user.email, user.id))
        }
    }
}
