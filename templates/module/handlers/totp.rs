//! Two-factor login: `POST /users/me/totp` starts turning it on, `POST /users/me/totp/confirm`
//! turns it on with the app's first code, `DELETE /users/me/totp` turns it off, and
//! `POST /login/totp` is the second step of a login (see `totp.rs` for the secrets and codes).

use axum::{
    Json as JsonResponse, Router, extract::State, http::StatusCode, response::Response,
    routing::post,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{{ module }}::{
    UsersState,
    backend::{self, CREDENTIAL},
    config::{LOGIN_TOTP_PATH, TOTP_CONFIRM_PATH, TOTP_PATH},
    db,
    error::{ApiError, Json},
    extract::CurrentUser,
    hooks,
    model::User,
    rate_limit::ClientAddr,
    tokens::{self, Purpose},
    totp,
};

/// The routes of this handler.
pub fn routes() -> Router<UsersState> {
    Router::new()
        .route(TOTP_PATH, post(start).delete(turn_off))
        .route(TOTP_CONFIRM_PATH, post(confirm))
        .route(LOGIN_TOTP_PATH, post(log_in))
}

/// The body of `POST` and `DELETE /users/me/totp`.
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct PasswordRequest {
    /// The account's password: a logged-in browser left open is not enough to change the second
    /// factor.
    pub current_password: String,
}

/// The answer to `POST /users/me/totp`: what the authenticator app needs.
#[derive(Serialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct Enrolment {
    /// The secret in base32, for typing into the app.
    pub secret: String,
    /// The `otpauth://` URL of the secret, for a QR code that the app scans.
    pub otpauth_url: String,
}

/// The body of `POST /users/me/totp/confirm`.
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct ConfirmRequest {
    /// The six-digit code the app shows now.
    pub code: String,
}

/// The answer to `POST /users/me/totp/confirm`.
#[derive(Serialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct RecoveryCodes {
    /// Codes that each stand in for the app once (a lost phone): shown this once, stored only as
    /// hashes.
    pub recovery_codes: Vec<String>,
}

/// The body of `POST /login/totp`.
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct SecondStepRequest {
    /// The token that the first step of the login answered.
    pub mfa_token: String,
    /// The six-digit code the app shows now, or an unused recovery code.
    pub code: String,
}

/// Starts turning two-factor login on: 200 with a new secret, which is not used until
/// `POST /users/me/totp/confirm` proves the app has it. Asking again before that replaces it.
/// 401 for a wrong password, 409 when two-factor login is on already.
async fn start(
    State(state): State<UsersState>,
    client: ClientAddr,
    user: CurrentUser,
    Json(request): Json<PasswordRequest>,
) -> Result<JsonResponse<Enrolment>, ApiError> {
    super::confirm_password(&state, client, &user, request.current_password).await?;
    let secret = totp::new_secret();
    let encrypted = totp::encrypt_secret(&state.config.secret, user.id, &secret)?;
    let generator = totp::generator(secret, &user.email)?;
    let mut transaction = db::begin(&state.db).await?;
    let outcome = store_enrolment(&mut transaction, &user, &encrypted).await;
    db::finish(transaction, outcome).await?;
    Ok(JsonResponse(Enrolment {
        secret: generator.get_secret_base32(),
        otpauth_url: generator.get_url(),
    }))
}

async fn store_enrolment(
    connection: &mut db::Connection,
    user: &CurrentUser,
    encrypted: &str,
) -> Result<(), ApiError> {
    still_logged_in(connection, user).await?;
    totp::start(connection, user.id, encrypted).await
}

/// Locks the account, as every transaction that changes an account's access does, and checks that
/// the request's credential is still there: a reset or a new password that committed while this
/// request waited for the lock ended it, and then nothing is written (401).
async fn still_logged_in(
    connection: &mut db::Connection,
    user: &CurrentUser,
) -> Result<(), ApiError> {
    db::lock_user(connection, user.id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let holder = db::token_owner(&mut *connection, CREDENTIAL, &user.credential.token_hash).await?;
    if holder != Some(user.id) {
        return Err(ApiError::unauthorized());
    }
    Ok(())
}

/// Turns two-factor login on with the app's current code: 200 with the recovery codes, shown this
/// once, and every other session of the user ends. 400 for a wrong code or when no enrolment
/// waits. Wrong codes are rate-limited. The user gets a notice by mail.
async fn confirm(
    State(state): State<UsersState>,
    client: ClientAddr,
    user: CurrentUser,
    Json(request): Json<ConfirmRequest>,
) -> Result<JsonResponse<RecoveryCodes>, ApiError> {
    let stored = totp::find(&state.db, user.id)
        .await?
        .filter(|stored| !stored.enabled)
        .ok_or_else(nothing_pending)?;
    let attempt = state
        .limiter
        .check_second_factor(&user.email, client)
        .await?;
    let secret = totp::decrypt_secret(&state.config.secret, user.id, &stored.secret)
        .ok_or_else(nothing_pending)?;
    let generator = totp::generator(secret, &user.email)?;
    // The code that proves the app counts as used: it does not log in afterwards.
    let step = totp::accepted_step(&generator, &request.code, stored.last_step)
        .ok_or_else(|| ApiError::bad_request("invalid_code", "The code is wrong."))?;
    let recovery_codes = totp::new_recovery_codes();
    let mut transaction = db::begin(&state.db).await?;
    let outcome = turn_on(
        &mut transaction,
        &user,
        &stored.secret,
        step,
        &recovery_codes,
    )
    .await;
    db::finish(transaction, outcome).await?;
    attempt.succeeded().await;
    notify(&state, &user, true);
    Ok(JsonResponse(RecoveryCodes { recovery_codes }))
}

async fn turn_on(
    connection: &mut db::Connection,
    user: &CurrentUser,
    encrypted: &str,
    step: i64,
    recovery_codes: &[String],
) -> Result<(), ApiError> {
    still_logged_in(connection, user).await?;
    // Only the secret that the code was checked against, still waiting: an enrolment started
    // again meanwhile (another secret) is not turned on by the old one's code.
    if !totp::enable(connection, user.id, encrypted, step, recovery_codes).await? {
        return Err(nothing_pending());
    }
    // Every other session or token of the user ends: one taken before (a browser left open, a
    // stolen cookie) would otherwise go on without the second factor. This request's stays.
    backend::revoke_all(&mut *connection, user.id, Some(&user.credential)).await
}

/// Turns two-factor login off (204): the secret, the recovery codes and the logins waiting for
/// their second step are deleted, and the user gets a notice by mail. 401 for a wrong password,
/// 404 when it was not on (an enrolment that waited for its first code is dropped all the same).
async fn turn_off(
    State(state): State<UsersState>,
    client: ClientAddr,
    user: CurrentUser,
    Json(request): Json<PasswordRequest>,
) -> Result<StatusCode, ApiError> {
    super::confirm_password(&state, client, &user, request.current_password).await?;
    let mut transaction = db::begin(&state.db).await?;
    let outcome = remove(&mut transaction, &user).await;
    if !db::finish(transaction, outcome).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "totp_not_on",
            "Two-factor login is not on for this account.",
        ));
    }
    notify(&state, &user, false);
    Ok(StatusCode::NO_CONTENT)
}

async fn remove(connection: &mut db::Connection, user: &CurrentUser) -> Result<bool, ApiError> {
    still_logged_in(connection, user).await?;
    Ok(totp::disable(connection, user.id).await?)
}

/// Mails the user that two-factor login was turned on or off (`hooks::send_totp_notice`), in the
/// background: an owner whose password someone else used learns of it.
fn notify(state: &UsersState, user: &User, on: bool) {
    let (state, user) = (state.clone(), user.clone());
    tokio::spawn(async move {
        if let Err(error) = hooks::send_totp_notice(&state, &user, on).await {
            tracing::error!(%error, user = %user.id, "two-factor notice not sent");
        }
    });
}

/// The second step of a login: with the `mfa_token` of the first step and a code of the app (or a
/// recovery code), answers as `POST /login` does on this backend (201 with the credential). 401
/// for a bad, expired or used `mfa_token`, and for a wrong, replayed or used code (the token stays
/// good for another try); 403 for an account deactivated or unverified since the first step.
/// Wrong codes are rate-limited per account.
async fn log_in(
    State(state): State<UsersState>,
    client: ClientAddr,
    Json(request): Json<SecondStepRequest>,
) -> Result<Response, ApiError> {
    let token_hash = tokens::hash(&request.mfa_token);
    // A look first: a wrong token costs no count and no write transaction.
    let user = match db::token_owner(&state.db, Purpose::Mfa, &token_hash).await? {
        Some(user_id) => db::find_user_by_id(&state.db, user_id).await?,
        None => None,
    }
    .ok_or_else(invalid_mfa_token)?;
    let attempt = state
        .limiter
        .check_second_factor(&user.email, client)
        .await
        .inspect_err(|_| {
            // Only whoever has the password (or the mailbox, with a login link) gets this far:
            // worth a look, and the owner may want to change their password.
            tracing::warn!(user = %user.id, "too many wrong second-factor codes");
        })?;
    let stored = totp::find(&state.db, user.id)
        .await?
        .filter(|stored| stored.enabled)
        .ok_or_else(invalid_mfa_token)?;
    // A six-digit code of the app's, or else a recovery code.
    let step = match totp::decrypt_secret(&state.config.secret, user.id, &stored.secret) {
        Some(secret) => {
            let generator = totp::generator(secret, &user.email)?;
            totp::accepted_step(&generator, &request.code, stored.last_step)
        }
        None => {
            tracing::error!(
                user = %user.id,
                "the TOTP secret does not decrypt (was USERS_SECRET changed?)"
            );
            None
        }
    };
    // The token is spent, the code used, the credential stored and `post_login` run in one
    // transaction: a wrong code or a failing hook leaves the token for another try.
    let mut transaction = db::begin(&state.db).await?;
    let outcome = finish_login(
        &state,
        &mut transaction,
        user.id,
        &token_hash,
        step,
        &request.code,
    )
    .await;
    let (user, issued) = db::finish(transaction, outcome).await?;
    attempt.succeeded().await;
{%- if db != "sqlite" %}
    // Expired credentials go after the commit, outside any transaction (see `POST /login`).
    if let Err(error) = db::purge_expired_tokens(&state.db, user.id).await {
        tracing::warn!(%error, user = %user.id, "expired credentials not purged");
    }
{%- endif %}
    Ok(backend::login_response(&state, &user, issued))
}

/// The part of the second step that writes, in its transaction.
async fn finish_login(
    state: &UsersState,
    connection: &mut db::Connection,
    user_id: Uuid,
    token_hash: &str,
    step: Option<i64>,
    code: &str,
) -> Result<(User, backend::Issued), ApiError> {
    // The account first (see `db::lock_user`): a new password or a deactivation that committed
    // meanwhile revoked the token, and is seen here.
    let {% if "role-management" in handlers %}mut {% endif %}user = db::lock_user(connection, user_id)
        .await?
        .ok_or_else(invalid_mfa_token)?;
    if !user.is_active {
        return Err(ApiError::forbidden(
            "inactive",
            "This account is deactivated.",
        ));
    }
    // The first step saw it verified; an admin may have taken that back meanwhile.
    if !user.is_verified {
        return Err(ApiError::forbidden(
            "not_verified",
            "Verify your email address before logging in.",
        ));
    }
{%- if db == "sqlite" %}
    // Expired credentials of the user go here, under the write lock that `BEGIN IMMEDIATE` holds
    // anyway (see `POST /login`).
    db::purge_expired_tokens(&mut *connection, user_id).await?;
{%- endif %}
    // Taking the token deletes it: of two requests racing with one token, one gets it.
    if db::take_token(connection, Purpose::Mfa, token_hash).await? != Some(user_id) {
        return Err(invalid_mfa_token());
    }
    // A code is used once: its step must be later than the last one accepted (the conditional
    // update decides between two requests with the same code), and a recovery code is deleted.
    let accepted = match step {
        Some(step) => totp::use_step(&mut *connection, user_id, step).await?,
        None => totp::use_recovery_code(&mut *connection, user_id, code).await?,
    };
    if !accepted {
        return Err(invalid_code());
    }
    // Both factors are proven; the first step checked the password (or link, or provider), and
    // anything that changed since (a new password, a deactivation) revoked the token taken above.
    let issued = backend::issue(state, connection, &user, None).await?;
{%- if "role-management" in handlers %}
    crate::{{ module }}::roles::load_roles(&mut *connection, &mut user).await?;
{%- endif %}
    hooks::post_login(state, connection, &user).await?;
    Ok((user, issued))
}

fn nothing_pending() -> ApiError {
    ApiError::bad_request(
        "no_pending_totp",
        "No two-factor setup is waiting for a code; start one with POST /users/me/totp.",
    )
}

fn invalid_mfa_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_token",
        "This login's second step is unknown, expired or used; log in again.",
    )
}

fn invalid_code() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_code",
        "The code is wrong or was used already.",
    )
}
