//! The management command of the totp handler: `disable-totp`, for the support case of a user who
//! lost both their authenticator app and their recovery codes. Check who is asking before you run
//! it: it removes the account's second factor.

use clap::Subcommand;

use crate::{{ module }}::{UsersState, db, error::ApiError, totp};

/// The two-factor subcommands of `users`.
#[derive(Debug, Subcommand)]
pub enum TotpCommand {
    /// Turns two-factor login off for a user: their authenticator secret, recovery codes and the
    /// logins waiting for a code are deleted. They log in with their password alone afterwards.
    ///
    /// A user without two-factor login is left alone: the command says so and succeeds.
    DisableTotp {
        /// The user's email address.
        #[arg(long)]
        email: String,
    },
}

/// Runs a two-factor command; returns what to print.
pub async fn run(state: &UsersState, command: TotpCommand) -> Result<String, String> {
    let TotpCommand::DisableTotp { email } = command;
    let failed = |error: ApiError| error.detail.to_string();
    let user = db::find_user_by_email(&state.db, &email)
        .await
        .map_err(|error| failed(error.into()))?
        .ok_or_else(|| format!("no account with the email {email}"))?;
    let mut transaction = db::begin(&state.db)
        .await
        .map_err(|error| failed(error.into()))?;
    let outcome = disable(&mut transaction, user.id).await;
    let was_on = db::finish(transaction, outcome).await.map_err(failed)?;
    Ok(if was_on {
        format!("turned two-factor login off for {}", user.email)
    } else {
        format!("{} has no two-factor login; nothing changed", user.email)
    })
}

async fn disable(connection: &mut db::Connection, user_id: uuid::Uuid) -> Result<bool, ApiError> {
    // The account first, as every transaction that changes an account's access does.
    db::lock_user(connection, user_id).await?;
    Ok(totp::disable(connection, user_id).await?)
}
