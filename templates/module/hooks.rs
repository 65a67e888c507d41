//! Hooks: the places to add your own behaviour to the user system. Each is called by the handlers
//! at the moment its name says; fill them in as you need. A hook that returns an error stops the
//! request with that error.
//!
//! Hooks that run while a request writes get its transaction as `connection`: what they write with
//! it (`sqlx::query(..).execute(&mut *connection)`, or the functions of `db.rs`) is committed with
//! the request, and when a hook returns an error, everything the request wrote is rolled back, so a
//! retry behaves as the first attempt did. Mails go out only after the commit.
//!
//! In these hooks, write only through `connection`, never through `state.db`: the pool's other
//! connections wait for this transaction's locks, which it holds until the hook returns (on
//! PostgreSQL such a write waits forever). Return database errors (`?`) rather than catching them:
//! after an error the transaction is void on PostgreSQL and MySQL, and the request then fails.

use super::{
    UsersState,
    config::{RESET_PASSWORD_PATH, VERIFY_PATH},
    db::Connection,
    error::ApiError,
    mail::{Mail, MailError},
    model::User,
};

/// Before an account is created, in the registration's transaction, with the (already validated)
/// email address. Return an error to refuse the registration, e.g. to allow only some domains.
pub async fn pre_registration(
    _state: &UsersState,
    _connection: &mut Connection,
    _email: &str,
) -> Result<(), ApiError> {
    Ok(())
}

/// After an account was created, in the same transaction: an error here undoes the registration.
pub async fn post_registration(
    _state: &UsersState,
    _connection: &mut Connection,
    _user: &User,
) -> Result<(), ApiError> {
    Ok(())
}

/// After a user verified their email address, in the verification's transaction.
pub async fn post_verification(
    _state: &UsersState,
    _connection: &mut Connection,
    _user: &User,
) -> Result<(), ApiError> {
    Ok(())
}

/// Before a login attempt is checked, with the email address given. Return an error to refuse it.
/// It runs before the password is checked and outside any transaction: no connection is held while
/// the password hash is computed.
pub async fn pre_login(_state: &UsersState, _email: &str) -> Result<(), ApiError> {
    Ok(())
}

/// After a successful login, in the transaction that stores the new credential: an error here
/// refuses the login and no credential is kept.
pub async fn post_login(
    _state: &UsersState,
    _connection: &mut Connection,
    _user: &User,
) -> Result<(), ApiError> {
    Ok(())
}

/// Sends the verification mail with its link `<APP_URL>/verify?token=<token>`. Point the link at
/// your front end instead if it should `POST` the token itself.
///
/// Runs in the background after the request was answered, so the answer's timing does not depend
/// on the mail server (and does not tell whether an account exists).
pub async fn send_verification_token(
    state: &UsersState,
    user: &User,
    token: &str,
) -> Result<(), MailError> {
    let link = format!("{}{VERIFY_PATH}?token={token}", state.config.base_url());
    state
        .mailer
        .send(Mail {
            to: user.email.clone(),
            subject: "Verify your email address".to_owned(),
            body: format!(
                "Hello,\n\nplease verify your email address by opening this link:\n\n{link}\n\n\
                 If you did not create an account, ignore this mail.\n"
            ),
        })
        .await
}

/// Sends the password-reset mail with its link `<APP_URL>/reset-password?token=<token>`.
///
/// Runs in the background, like [`send_verification_token`].
pub async fn send_password_reset_token(
    state: &UsersState,
    user: &User,
    token: &str,
) -> Result<(), MailError> {
    let link = format!(
        "{}{RESET_PASSWORD_PATH}?token={token}",
        state.config.base_url()
    );
    state
        .mailer
        .send(Mail {
            to: user.email.clone(),
            subject: "Reset your password".to_owned(),
            body: format!(
                "Hello,\n\nsomeone asked to reset the password of your account. To choose a new \
                 password, open this link:\n\n{link}\n\nIf it was not you, ignore this mail; your \
                 password stays as it is.\n"
            ),
        })
        .await
}

/// After a user set a new password with a reset token (all their sessions and tokens have been
/// revoked by then), in the reset's transaction: an error here keeps the old password and the link.
pub async fn post_password_reset(
    _state: &UsersState,
    _connection: &mut Connection,
    _user: &User,
) -> Result<(), ApiError> {
    Ok(())
}
{%- if "magic-link" in handlers %}

/// Sends the login mail with its link `<APP_URL>/magic-link?token=<token>`: the page there posts
/// the token to `POST /magic-link/login`. Runs in the background, like [`send_verification_token`].
pub async fn send_magic_link(
    state: &UsersState,
    user: &User,
    token: &str,
) -> Result<(), MailError> {
    use super::config::{MAGIC_LINK_PATH, MAGIC_LINK_TOKEN_TTL};
    let link = format!("{}{MAGIC_LINK_PATH}?token={token}", state.config.base_url());
    let minutes = MAGIC_LINK_TOKEN_TTL.as_secs() / 60;
    state
        .mailer
        .send(Mail {
            to: user.email.clone(),
            subject: "Your login link".to_owned(),
            body: format!(
                "Hello,\n\nto log in, open this link within {minutes} minutes:\n\n{link}\n\nIt works \
                 once. If you did not ask for it, ignore this mail.\n"
            ),
        })
        .await
}
{%- endif %}
{%- if "totp" in handlers %}

/// Tells the user that two-factor login was turned on (`on`) or off on their account, so that an
/// owner whose password someone else used learns of it. Runs in the background after the change
/// is committed; an error is logged.
pub async fn send_totp_notice(state: &UsersState, user: &User, on: bool) -> Result<(), MailError> {
    let what = if on {
        "Two-factor login was turned on for your account: logging in now also takes a code of          the authenticator app that was set up, or a recovery code."
    } else {
        "Two-factor login was turned off for your account: logging in now takes the password          alone."
    };
    state
        .mailer
        .send(Mail {
            to: user.email.clone(),
            subject: "Two-factor login changed".to_owned(),
            body: format!(
                "Hello,\n\n{what}\n\nIf this was not you, reset your password at once and contact \
                 us.\n"
            ),
        })
        .await
}
{%- endif %}
{%- if "current-user" in handlers and "verify" in handlers %}

// Email changes (current-user with verify).

/// Sends the link that confirms a change of address, `<APP_URL>/verify?token=<token>`, to the new
/// address `to`. Runs in the background, like [`send_verification_token`].
pub async fn send_email_change_token(
    state: &UsersState,
    to: &str,
    token: &str,
) -> Result<(), MailError> {
    let link = format!("{}{VERIFY_PATH}?token={token}", state.config.base_url());
    state
        .mailer
        .send(Mail {
            to: to.to_owned(),
            subject: "Confirm your new email address".to_owned(),
            body: format!(
                "Hello,\n\nto make this the email address of your account, open this link:\n\n\
                 {link}\n\nIf you did not ask for this, ignore this mail; nothing changes.\n"
            ),
        })
        .await
}

/// Tells the address `user` has now that the account is moving to `new_email`: when the change is
/// asked for (`confirmed` false), so the owner learns of it before it happens, and when the link
/// was used.
pub async fn send_email_change_notice(
    state: &UsersState,
    user: &User,
    new_email: &str,
    confirmed: bool,
) -> Result<(), MailError> {
    let what = if confirmed {
        format!("The email address of your account is now {new_email}.")
    } else {
        format!(
            "Someone asked to change the email address of your account to {new_email}; it \
             changes when the link mailed there is used."
        )
    };
    state
        .mailer
        .send(Mail {
            to: user.email.clone(),
            subject: "Your email address is changing".to_owned(),
            body: format!(
                "Hello,\n\n{what}\n\nIf this was not you, reset your password at once.\n"
            ),
        })
        .await
}
{%- endif %}
