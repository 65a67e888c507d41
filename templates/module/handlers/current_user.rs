//! `GET /users/me` and `PATCH /users/me`.
{%- if "verify" in handlers %}
//!
//! A new email address is pending until its owner uses the link mailed to it: `POST /verify`
//! with that link's token calls [`confirm_email_change`].
{%- endif %}

use axum::{Json as JsonResponse, Router, extract::State, routing::get};
use serde::Deserialize;
use uuid::Uuid;

use crate::{{ module }}::{
    UsersState,
    backend::{self, CREDENTIAL, Credential},
{%- if "verify" in handlers %}
    config::{CURRENT_USER_PATH, VERIFY_TOKEN_TTL},
{%- else %}
    config::CURRENT_USER_PATH,
{%- endif %}
    db,
    email::normalize,
    email_changes,
    error::{ApiError, Json},
    extract::CurrentUser,
{%- if "verify" in handlers %}
    hooks,
{%- endif %}
    model::User,
    rate_limit::ClientAddr,
{%- if "verify" in handlers %}
    tokens::{self, Purpose},
{%- else %}
    tokens::Purpose,
{%- endif %}
};

use super::{valid_email, valid_password};

/// The routes of this handler.
pub fn routes() -> Router<UsersState> {
    Router::new().route(CURRENT_USER_PATH, get(me).patch(update_me))
}

/// The body of `PATCH /users/me`: every field is optional. Privileged fields (`is_active`,
/// `is_verified`, `roles`, ...) are not read, so users cannot grant themselves anything.
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct UpdateMeRequest {
    /// A new email address.
    pub email: Option<String>,
    /// A new password.
    pub password: Option<String>,
    /// The current password: required to change the email or the password, so that someone who
    /// finds a logged-in browser cannot take the account over.
    pub current_password: Option<String>,
}

/// The logged-in user: 200, or 401. The pending address, if any, came with the user in the one
/// query that checked the credential.
async fn me(user: CurrentUser) -> JsonResponse<User> {
    JsonResponse(user.user)
}

/// The user as `PATCH /users/me` answers: read again after the change, with the pending address.
async fn reread(state: &UsersState, id: Uuid) -> Result<JsonResponse<User>, ApiError> {
    let mut user = db::find_user_by_id(&state.db, id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    user.pending_email = email_changes::pending_email(&state.db, id).await?;
    Ok(JsonResponse(user))
}

/// Changes the logged-in user's email or password: 200 with the user; 422 when
/// `current_password` is missing or a new value is unacceptable; 401 when `current_password` is
/// wrong, 429 after repeated wrong ones; 409 when the new email is taken.
{%- if "verify" in handlers %}
/// A new email address is pending: the user keeps the old one until the link mailed to the new
/// one is used, and the old one gets a notice.
{%- else %}
/// A new email address is refused (422 `email_change_unavailable`): without the verify handler
/// nothing could prove that the new address is the user's.
{%- endif %}
/// A new password revokes every other session and token of the user; a new password or email
/// deletes every outstanding reset link.
async fn update_me(
    State(state): State<UsersState>,
    client: ClientAddr,
    current: CurrentUser,
    Json(request): Json<UpdateMeRequest>,
) -> Result<JsonResponse<User>, ApiError> {
    let CurrentUser {
        user, credential, ..
    } = current;
    let new_email = match request.email.as_deref() {
        // Compared in canonical form: another spelling of the current address is no change.
        Some(email) => Some(valid_email(email)?).filter(|email| *email != normalize(&user.email)),
        None => None,
    };
{%- if "verify" not in handlers %}
    if new_email.is_some() {
        // Switching at once would let whoever holds the account move it onto someone else's
        // address; a pending change needs a link that the verify handler confirms.
        return Err(ApiError::unprocessable(
            "email_change_unavailable",
            "The email address cannot be changed here; ask an administrator.",
        ));
    }
{%- endif %}
    if let Some(password) = &request.password {
        valid_password(password)?;
    }
{%- if "verify" in handlers %}
    // Giving the current address cancels a pending change, so that the owner can take back a
    // change someone else asked for: its link stops working. (Dropping it grants nothing, so no
    // password is needed.)
    if request.email.is_some() && new_email.is_none() {
        email_changes::delete_email_change(&state.db, user.id).await?;
    }
{%- endif %}
    if new_email.is_none() && request.password.is_none() {
        return reread(&state, user.id).await;
    }
    let Some(current_password) = request.current_password else {
        return Err(ApiError::unprocessable(
            "current_password_required",
            "Give `current_password` to change the email address or the password.",
        ));
    };
    super::confirm_password(&state, client, &user, current_password).await?;
{%- if "verify" in handlers %}
    // A taken address is refused before anything is written (the unique index decides again when
    // the link is used).
    let taken = match new_email.as_deref() {
        Some(email) => db::find_user_by_email(&state.db, email).await?.is_some(),
        None => false,
    };
    if taken {
        return Err(db::WriteError::EmailTaken.into());
    }
    // The links to new addresses are mails like the others, capped per account that asks for them
    // (`RateLimits::mails_per_account`): nobody floods someone else's mailbox from their account.
    if new_email.is_some() {
        state
            .limiter
            .check_mails_from("email_change", &user.email)
            .await?;
    }
{%- endif %}
    // Hashed before the transaction begins: no connection is held while it is computed.
    let new_hash = match request.password {
        Some(password) => Some(state.passwords.hash(password).await?),
        None => None,
    };
    // Written in one transaction that holds the account, and only while what this request checked
    // still holds: a reset or another password change that won the race has ended its session
    // and changed the hash it verified, and then nothing here is written.
    let mut transaction = db::begin(&state.db).await?;
{%- if "verify" in handlers %}
    let outcome = apply_changes(
        &mut transaction,
        &user,
        &credential,
        new_hash.as_deref(),
        new_email.as_deref(),
    )
    .await;
{%- else %}
    let outcome = apply_changes(&mut transaction, &user, &credential, new_hash.as_deref()).await;
{%- endif %}
{%- if "verify" in handlers %}
    let link = db::finish(transaction, outcome).await?;
    // Mailed only now that the change is committed.
    if let (Some(email), Some(token)) = (new_email, link) {
        mail_email_change(&state, &user, email, token);
    }
{%- else %}
    db::finish(transaction, outcome).await?;
{%- endif %}
    reread(&state, user.id).await
}

/// The writes of `PATCH /users/me`, in its transaction{% if "verify" in handlers %}; the token of the link to mail when the
/// address changes{% endif %}.
async fn apply_changes(
    connection: &mut db::Connection,
    user: &User,
    credential: &Credential,
    new_hash: Option<&str>,
{%- if "verify" in handlers %}
    new_email: Option<&str>,
) -> Result<Option<String>, ApiError> {
{%- else %}
) -> Result<(), ApiError> {
{%- endif %}
    // The account first, as every transaction that changes an account's access does (see
    // `db::lock_user`); then what the request checked: the password it verified is still the
    // account's, and its session still exists.
    let locked = db::lock_user(connection, user.id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let session = db::token_owner(&mut *connection, CREDENTIAL, &credential.token_hash).await?;
    if locked.password_hash != user.password_hash || session != Some(user.id) {
        return Err(ApiError::unauthorized());
    }
    // Only the columns that change are written: an admin who deactivated the account while this
    // request ran is not overruled by the copy of the user read at its start.
    if let Some(new_hash) = new_hash {
        db::set_password_hash(&mut *connection, user.id, new_hash).await?;
        // Whoever knew the old password may hold other sessions: end them all but this one.
        backend::revoke_all(&mut *connection, user.id, Some(credential)).await?;
        // They may also have asked to move the account to their own address: that change goes
        // too (a new one in this same request is stored below).
        email_changes::delete_email_change(&mut *connection, user.id).await?;
{%- if "oauth2" in handlers %}
        // And a provider account linked by whoever held the mailbox no longer logs in, as after a
        // reset. The owner's provider links again at its next login with the account's address.
        crate::{{ module }}::oauth2::unlink_all(&mut *connection, user.id).await?;
{%- endif %}
    }
    // A reset link mailed before a password or address change must not undo it.
    db::delete_user_tokens(&mut *connection, user.id, &[Purpose::Reset], None).await?;
{%- if "verify" in handlers %}
    let Some(email) = new_email else {
        return Ok(None);
    };
    let (token, token_hash) = tokens::generate();
    // One pending change per user: this replaces an older one, whose link stops working.
    let stored = email_changes::store_email_change(
        &mut *connection,
        user.id,
        email,
        &token_hash,
        db::expires_in(VERIFY_TOKEN_TTL),
    )
    .await?;
    if !stored {
        // The account was deleted while this request ran: its credential is gone with it.
        return Err(ApiError::unauthorized());
    }
    Ok(Some(token))
{%- else %}
    Ok(())
{%- endif %}
}
{%- if "verify" in handlers %}

/// Mails the link of a pending change to the new address `email`, and a notice to the current
/// one, in the background.
fn mail_email_change(state: &UsersState, user: &User, email: String, token: String) {
    let (state, user) = (state.clone(), user.clone());
    tokio::spawn(async move {
        let sent = hooks::send_email_change_token(&state, &email, &token).await;
        let noticed = hooks::send_email_change_notice(&state, &user, &email, false).await;
        if let Err(error) = sent.and(noticed) {
            tracing::error!(%error, user = %user.id, "email change mail not sent");
        }
    });
}

/// Confirms the pending email change whose link has `token`: the user's address becomes the new
/// one and counts as verified. `Ok(None)` when no pending change has this token (unknown, used,
/// replaced by a newer change or expired); 409 when another account took the address meanwhile.
pub async fn confirm_email_change(
    state: &UsersState,
    token: &str,
) -> Result<Option<User>, ApiError> {
    let token_hash = tokens::hash(token);
    // A look first, for whose account the link is; the transaction then holds that account.
    let Some(user_id) = email_changes::email_change_owner(&state.db, &token_hash).await? else {
        return Ok(None);
    };
    let mut transaction = db::begin(&state.db).await?;
    let outcome = switch_to_new_email(&mut transaction, user_id, &token_hash).await;
    let Some((old, user)) = db::finish(transaction, outcome).await? else {
        return Ok(None);
    };
    let (state, email) = (state.clone(), user.email.clone());
    tokio::spawn(async move {
        let noticed = hooks::send_email_change_notice(&state, &old, &email, true).await;
        if let Err(error) = noticed {
            tracing::error!(%error, user = %old.id, "email change notice not sent");
        }
    });
    Ok(Some(user))
}

/// The writes of an email change's confirmation, in its transaction: the user before and after.
async fn switch_to_new_email(
    connection: &mut db::Connection,
    user_id: Uuid,
    token_hash: &str,
) -> Result<Option<(User, User)>, ApiError> {
    // The account first (see `db::lock_user`): a reset or password change racing this link has
    // either dropped the change already or waits until the address has switched.
    let Some(old) = db::lock_user(connection, user_id).await? else {
        return Ok(None);
    };
    // Taking the change deletes it: the link works once.
    let change = email_changes::take_email_change(connection, token_hash).await?;
    let Some(change) = change.filter(|change| change.user_id == user_id) else {
        return Ok(None);
    };
    // The address is the one bound to the link, never one read from the request.
    if !email_changes::switch_email(&mut *connection, user_id, &change.email).await? {
        return Ok(None);
    }
    // Links mailed to the old address must not act on the account at its new one.
    db::delete_user_tokens(
        &mut *connection,
        user_id,
        &[Purpose::Reset, Purpose::Verify],
        None,
    )
    .await?;
    // The address now belongs to whoever used the link: sessions and access tokens opened before
    // (by whoever held the account at its old address) all end. The link carries no credential,
    // so none is kept.
    backend::revoke_all(&mut *connection, user_id, None).await?;
{%- if "oauth2" in handlers %}
    // So do provider accounts linked to it at its old address (some by that address): a provider
    // login with the new one links the owner's again.
    crate::{{ module }}::oauth2::unlink_all(&mut *connection, user_id).await?;
{%- endif %}
    let user = db::find_user_by_id(&mut *connection, user_id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Some((old, user)))
}
{%- endif %}
