//! The HTTP handlers, one module per feature, and the checks they share.

{% if "verify" in handlers or "magic-link" in handlers -%}
use axum::extract::{FromRequest, Request};
use serde::Deserialize;

{% endif -%}
use axum::http::StatusCode;

use super::{
    UsersState,
    config::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS},
    db,
{%- if "verify" in handlers or "magic-link" in handlers %}
    error::{ApiError, Json},
{%- else %}
    error::ApiError,
{%- endif %}
    hooks,
    model::User,
    rate_limit::ClientAddr,
    tokens::{self, Purpose},
};

{% for line in module_lines["module/handlers/mod.rs"] %}{{ line }}
{% endfor %}// cargo-users: handlers

pub use super::email::canonical_email;

/// Checks an email address and returns its canonical form: 422 unless it looks deliverable (see
/// [`canonical_email`]). Callers store and compare only what this returns, so one address has one
/// spelling in the database and cannot be registered twice under two spellings.
pub fn valid_email(email: &str) -> Result<String, ApiError> {
    canonical_email(email)
}

/// Checks a new password's length: at least [`MIN_PASSWORD_CHARS`] characters, at most
/// [`MAX_PASSWORD_BYTES`] bytes. Anything else is the user's business: no composition rules, which
/// only make passwords harder to remember.
pub fn valid_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::unprocessable(
            "password_too_short",
            format!("The password must have at least {MIN_PASSWORD_CHARS} characters."),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::unprocessable(
            "password_too_long",
            format!("The password must have at most {MAX_PASSWORD_BYTES} bytes."),
        ));
    }
    // A NUL byte cannot be typed into a form and some libraries cut strings at the first one:
    // refused, so that what is hashed is what the person typed.
    if password.contains('\0') {
        return Err(ApiError::unprocessable(
            "invalid_password",
            "The password must not contain NUL characters.",
        ));
    }
    Ok(())
}

{%- if "verify" in handlers or "magic-link" in handlers %}

/// The body of a request that carries the token of a mailed link, when it is not in the query
/// string.
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct TokenRequest {
    /// The token from the mail.
    pub token: String,
}

/// The token of a mailed link, from the query string (`?token=`, the link as mailed) or else from
/// a JSON body `{"token": ...}`: 400/422 as any malformed body when it is in neither.
pub async fn link_token(
    state: &UsersState,
    query: Option<String>,
    request: Request,
) -> Result<String, ApiError> {
    let from_query = query.as_deref().and_then(|query| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == "token")
            .map(|(_, value)| value.to_owned())
    });
    match from_query {
        Some(token) => Ok(token),
        None => {
            let Json(body) = Json::<TokenRequest>::from_request(request, state).await?;
            Ok(body.token)
        }
    }
}
{%- endif %}

/// Checks the logged-in user's password before a change that needs more than a logged-in browser
/// (a new address or password, the second factor): 401 `invalid_current_password` when it is
/// wrong. Counted against the account, so that someone holding a logged-in browser cannot guess
/// the password here at will; only wrong passwords add up.
pub async fn confirm_password(
    state: &UsersState,
    client: ClientAddr,
    user: &User,
    password: String,
) -> Result<(), ApiError> {
    let attempt = state
        .limiter
        .check("current_password", &user.email, client)
        .await?;
    let stored = Some(user.password_hash.clone());
    if !state.passwords.verify(password, stored).await? {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_current_password",
            "The current password is wrong.",
        ));
    }
    attempt.succeeded().await;
    Ok(())
}

/// Answers a request for a mailed link (`POST /forgot-password`, `/verify/resend`,
/// `/magic-link`): counts it against the client under `action` (429 when it asks too often), then
/// mails a link of `purpose` to the address's account if it is active, `wanted` accepts it and
/// the account's mails of this kind are not spent (`RateLimits::mails_per_account`: over it
/// nothing is sent and the last link keeps working). Always 202, and as fast either way (see
/// [`mail_token`]), so the answer does not tell which addresses have accounts.
pub async fn request_link_mail(
    state: &UsersState,
    client: ClientAddr,
    action: &'static str,
    email: &str,
    purpose: Purpose,
    wanted: fn(&User) -> bool,
) -> Result<StatusCode, ApiError> {
    if !state.limiter.check_mail(action, email, client).await? {
        return Ok(StatusCode::ACCEPTED);
    }
    let user = db::find_user_by_email(&state.db, email).await?;
    if let Some(user) = user.filter(|user| user.is_active && wanted(user)) {
        mail_token(state, &user, purpose).await?;
    }
    Ok(StatusCode::ACCEPTED)
}

/// Creates a one-shot mail token for the user (replacing any older one of the same purpose, so only
/// the newest link works) and mails it, all in the background: the request is answered without
/// waiting for the database writes or the mail server, so an address with an account answers as
/// fast as one without (`POST /forgot-password` and `POST /verify/resend` tell nothing by their
/// timing). A failure is logged; the caller's answer does not depend on it.
pub async fn mail_token(state: &UsersState, user: &User, purpose: Purpose) -> Result<(), ApiError> {
    let (state, user) = (state.clone(), user.clone());
    tokio::spawn(async move {
        if let Err(error) = replace_and_send_token(&state, &user, purpose).await {
            tracing::error!(%error, user = %user.id, "mail token not sent");
        }
    });
    Ok(())
}

/// Serializes the token replacements of [`mail_token`].
static MAIL_TOKEN_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn replace_and_send_token(
    state: &UsersState,
    user: &User,
    purpose: Purpose,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let ttl = match purpose {
        Purpose::Reset => super::config::RESET_TOKEN_TTL,
{%- if "magic-link" in handlers %}
        Purpose::MagicLink => super::config::MAGIC_LINK_TOKEN_TTL,
{%- endif %}
        _ => super::config::VERIFY_TOKEN_TTL,
    };
    let (token, token_hash) = tokens::generate();
    {
        // One replacement at a time in this process: two quick requests for one user cannot
        // interleave their delete and insert and leave two links working. (Single statements,
        // no transaction: this runs after the answer, and holds no lock that outlives it.)
        let _turn = MAIL_TOKEN_TURN.lock().await;
        db::delete_user_tokens(&state.db, user.id, &[purpose], None).await?;
        // Stored only while the account is active and still has the address the link goes to:
        // an address change confirmed meanwhile dropped the links of the old one, and this one
        // must not come after it.
        let stored =
            db::insert_mail_token(&state.db, user, purpose, &token_hash, db::expires_in(ttl))
                .await?;
        if !stored {
            return Ok(());
        }
    }
    match purpose {
        Purpose::Reset => hooks::send_password_reset_token(state, user, &token).await?,
{%- if "magic-link" in handlers %}
        Purpose::MagicLink => hooks::send_magic_link(state, user, &token).await?,
{%- endif %}
        _ => hooks::send_verification_token(state, user, &token).await?,
    }
    Ok(())
}
