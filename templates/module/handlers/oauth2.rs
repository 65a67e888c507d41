//! `GET /oauth2/{provider}/authorize` and `GET /oauth2/{provider}/callback`: login with an OAuth2
//! provider (see [`crate::{{ module }}::oauth2`] for the flow and its safeguards).

use axum::{
    Router,
    extract::{
        Path, Query, State,
        rejection::{PathRejection, QueryRejection},
    },
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{{ module }}::{
    UsersState, backend,
    config::{OAUTH2_AUTHORIZE_PATH, OAUTH2_CALLBACK_PATH},
    cookies,
    db::{self, NewUser, WriteError},
    email::normalize,
    error::ApiError,
    hooks,
    model::User,
{%- if "verify" in handlers %}
    oauth2::{
        self, OAUTH2_LINK_VERIFIED_EMAILS, OAUTH2_STATE_COOKIE, OAUTH2_STATE_TTL, OAuth2Provider,
        ProviderTokens, ProviderUser,
    },
{%- else %}
    oauth2::{
        self, OAUTH2_STATE_COOKIE, OAUTH2_STATE_TTL, OAuth2Provider, ProviderTokens, ProviderUser,
    },
{%- endif %}
    rate_limit::ClientAddr,
{%- if "totp" in handlers %}
    totp::{self, FirstStep},
{%- endif %}
};

/// The routes of this handler.
pub fn routes() -> Router<UsersState> {
    Router::new()
        .route(OAUTH2_AUTHORIZE_PATH, get(authorize))
        .route(OAUTH2_CALLBACK_PATH, get(callback))
}

/// The provider named in the path: 404 for a name that is not in `OAUTH2_PROVIDERS`.
fn provider(
    state: &UsersState,
    name: Result<Path<String>, PathRejection>,
) -> Result<OAuth2Provider, ApiError> {
    let unknown = || ApiError::not_found("There is no OAuth2 provider of this name.");
    let Path(name) = name.map_err(|_| unknown())?;
    state.oauth2.provider(&name).cloned().ok_or_else(unknown)
}

/// Starts a login: 200 with `{"authorization_url": ...}`, the provider's page to send the browser
/// to, and a short-lived cookie that binds the login to this browser.
async fn authorize(
    State(state): State<UsersState>,
    client: ClientAddr,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    // Each call stores a state row for a while: limit them per client address.
    state
        .limiter
        .check_address("oauth2_authorize", client)
        .await?;
    let provider = provider(&state, name)?;
    let started = oauth2::start(&state, &provider).await?;
    let cookie = cookies::set(
        &state.config,
        OAUTH2_STATE_COOKIE,
        &started.binding,
        OAUTH2_STATE_TTL,
    );
    let body = AuthorizeBody {
        authorization_url: started.authorization_url,
    };
    Ok(([(header::SET_COOKIE, cookie)], axum::Json(body)).into_response())
}

/// The body of `GET /oauth2/{provider}/authorize`'s answer.
#[derive(Serialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct AuthorizeBody {
    /// The provider's page to send the browser to.
    pub authorization_url: String,
}

/// The query the provider sends the browser back with.
#[derive(Deserialize{% if "openapi" in handlers %}, utoipa::IntoParams{% endif %})]
{%- if "openapi" in handlers %}
#[into_params(parameter_in = Query)]
{%- endif %}
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// The state given in the authorization URL.
    pub state: Option<String>,
    /// Set instead of `code` when the login failed or the person refused, e.g. `access_denied`.
    pub error: Option<String>,
}

/// Finishes a login: 201, logged in as with `POST /login`. 400 with the reason for a bad, expired
/// or missing state, a refusal by the provider, a missing or unverified email, an inactive user.
/// The state cookie is cleared whatever the outcome: a login can be finished once.
async fn callback(
    State(state): State<UsersState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let provider = provider(&state, name)?;
    let mut response = match finish(&state, &provider, &headers, query).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    response.headers_mut().append(
        header::SET_COOKIE,
        cookies::clear(&state.config, OAUTH2_STATE_COOKIE),
    );
    Ok(response)
}

async fn finish(
    state: &UsersState,
    provider: &OAuth2Provider,
    headers: &HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|_| {
        ApiError::bad_request("invalid_query", "The callback's query string is malformed.")
    })?;
    // The stored login is taken first, so that it is used up whatever happens next.
    let binding = cookies::read(&state.config, headers, OAUTH2_STATE_COOKIE);
    let verifier = oauth2::take_state(state, provider, binding, query.state.as_deref()).await;
    if let Some(error) = query.error {
        // The provider's error code is short and machine-readable; anything else is not repeated.
        let error = Some(error).filter(|error| {
            error.len() <= 64 && error.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        return Err(ApiError::bad_request(
            "provider_error",
            format!(
                "The provider did not grant the login ({}).",
                error.as_deref().unwrap_or("unknown error")
            ),
        ));
    }
    let verifier = verifier?;
    let code = query.code.filter(|code| !code.is_empty()).ok_or_else(|| {
        ApiError::bad_request("missing_code", "The provider sent no authorization code.")
    })?;
    let tokens = oauth2::exchange(state, provider, code, verifier).await?;
    let info = oauth2::user_info(state, provider, &tokens.access_token).await?;
    if let Some(email) = &info.email {
        hooks::pre_login(state, email).await?;
    }
    let account = whose_login(state, provider, &info).await?;
    // A login that links the provider account for the first time may create or claim an account,
    // which then gets the hash of a random password. It is computed before the transaction, which
    // holds no connection or lock while Argon2 runs.
    let unusable_hash = match account {
        Account::Linked(_) => None,
        Account::SameEmail(..) | Account::New(_) => Some(state.passwords.unusable_hash().await?),
    };
    // The account, its link, the credential and whatever the hooks write are committed together:
    // a new account never exists without its link, and a hook that fails leaves nothing behind.
    let mut transaction = db::begin(&state.db).await?;
    let outcome = log_in(
        state,
        &mut transaction,
        provider,
        &info,
        &tokens,
        account,
        unusable_hash,
    )
    .await;
    let (user, issued) = db::finish(transaction, outcome).await?;
    // Not in the transaction, where two logins of one account would each lock the rows the other
    // inserts; the login stands whatever happens here.
    if let Err(error) = db::purge_expired_tokens(&state.db, user.id).await {
        tracing::warn!(%error, user = %user.id, "expired credentials not purged");
    }
{%- if "totp" in handlers %}
    let issued = match issued {
        FirstStep::Issued(issued) => issued,
        FirstStep::SecondStep(second_step) => return Ok(second_step.into_response()),
    };
{%- endif %}
    Ok(backend::login_response(state, &user, issued))
}

/// Whose login a provider login is, as read before its transaction (which checks it again once it
/// holds the account's lock).
enum Account<'a> {
    /// The account the provider account is linked to.
    Linked(Uuid),
    /// The account with the address the provider verified, not linked to it yet.
    SameEmail(Uuid, &'a str),
    /// Nobody's yet: a new account for the address the provider verified.
    New(&'a str),
}

/// The account the provider's account is linked to; else, when the provider verified the email
/// address, the account with that address, or none.
///
/// A link is stored only for an address the provider verified: a link made for an unverified
/// address could belong to someone who merely typed the owner's address at the provider, and
/// would let them into the owner's account later.
async fn whose_login<'a>(
    state: &UsersState,
    provider: &OAuth2Provider,
    info: &'a ProviderUser,
) -> Result<Account<'a>, ApiError> {
    let linked = oauth2::find_linked_user(&state.db, &provider.name, &info.account_id).await?;
    if let Some(user_id) = linked {
        return Ok(Account::Linked(user_id));
    }
    let email = info.email.as_deref().ok_or_else(|| {
        ApiError::bad_request(
            "missing_email",
            "The provider did not share an email address; allow it to and try again.",
        )
    })?;
    if !info.email_verified {
        return Err(ApiError::bad_request(
            "email_not_verified",
            "The provider has not verified this email address; verify it there first.",
        ));
    }
    Ok(match db::find_user_by_email(&state.db, email).await? {
        Some(user) => Account::SameEmail(user.id, email),
        None => Account::New(email),
    })
}

/// The part of a login that writes, in its transaction.
async fn log_in(
    state: &UsersState,
    connection: &mut db::Connection,
    provider: &OAuth2Provider,
    info: &ProviderUser,
    tokens: &ProviderTokens,
    account: Account<'_>,
    unusable_hash: Option<String>,
) -> Result<(User, {% if "totp" in handlers %}FirstStep{% else %}backend::Issued{% endif %}), ApiError> {
    let {% if "role-management" in handlers %}mut {% endif %}user = match (account, unusable_hash) {
        (Account::Linked(user_id), _) => {
            linked_user(connection, provider, info, tokens, user_id).await?
        }
        (Account::SameEmail(user_id, email), Some(password_hash)) => {
            // The account is locked before anything of it is read, as every transaction that
            // changes an account's access does: the user row, then its tokens and links.
            let user = db::lock_user(connection, user_id)
                .await?
                .filter(|user| user.email == normalize(email))
                .ok_or_else(changed_meanwhile)?;
            let user = link_existing(connection, user, &password_hash).await?;
            link(connection, provider, info, tokens, user.id).await?;
            user
        }
        (Account::New(email), Some(password_hash)) => {
            let user = create(state, connection, email, password_hash).await?;
            // A new account whose link fails (another login linked this provider account
            // meanwhile) is rolled back with it: the address stays free.
            link(connection, provider, info, tokens, user.id).await?;
            hooks::post_registration(state, connection, &user).await?;
            user
        }
        (_, None) => return Err(changed_meanwhile()),
    };
    // The same checks as `POST /login`, answered with 400 like every failed callback.
    if !user.is_active {
        return Err(ApiError::bad_request(
            "inactive",
            "This account is deactivated.",
        ));
    }
    if !user.is_verified {
        return Err(ApiError::bad_request(
            "not_verified",
            "Verify your email address before logging in.",
        ));
    }
{%- if "totp" in handlers %}
    // With two-factor login on, the provider was the first step: nothing is
    // issued until a code of the app proves the second (`POST /login/totp`).
    if let Some(second_step) = totp::second_step(connection, &user, None).await? {
        return Ok((user, FirstStep::SecondStep(second_step)));
    }
{%- endif %}
    // The provider proved the login, not the password: issued only while the user is active.
    let issued = backend::issue(state, connection, &user, None).await?;
{%- if "role-management" in handlers %}
    crate::{{ module }}::roles::load_roles(&mut *connection, &mut user).await?;
{%- endif %}
    hooks::post_login(state, connection, &user).await?;
    Ok((user, {% if "totp" in handlers %}FirstStep::Issued(issued){% else %}issued{% endif %}))
}

/// What a login answers when the account or its links changed between the look before its
/// transaction and the transaction (another login, a reset): trying again sees the new state.
fn changed_meanwhile() -> ApiError {
    ApiError::bad_request(
        "account_conflict",
        "This account changed during the login (another login or a reset); try again.",
    )
}

/// Links the provider account to the user: 400 when another login linked it meanwhile (the
/// unique key on the provider account decides).
async fn link(
    connection: &mut db::Connection,
    provider: &OAuth2Provider,
    info: &ProviderUser,
    tokens: &ProviderTokens,
    user_id: Uuid,
) -> Result<(), ApiError> {
    oauth2::link_account(
        &mut *connection,
        &provider.name,
        &info.account_id,
        user_id,
        tokens,
    )
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => changed_meanwhile(),
        _ => error.into(),
    })
}

/// The user a provider account is linked to, with the tokens of this login stored.
async fn linked_user(
    connection: &mut db::Connection,
    provider: &OAuth2Provider,
    info: &ProviderUser,
    tokens: &ProviderTokens,
    user_id: Uuid,
) -> Result<User, ApiError> {
    // The account is locked first (see `log_in`), then the link is read again: a reset or a
    // verification that dropped it meanwhile has committed by now, and then this login gets no
    // credential from a link that no longer exists.
    let user = db::lock_user(connection, user_id)
        .await?
        .ok_or_else(changed_meanwhile)?;
    let linked =
        oauth2::find_linked_user(&mut *connection, &provider.name, &info.account_id).await?;
    if linked != Some(user_id) {
        return Err(changed_meanwhile());
    }
    let proven = info.email_verified
        && info
            .email
            .as_deref()
            // Both sides canonical: the provider's address went through `canonical_email`.
            .is_some_and(|email| email == normalize(&user.email));
    if !user.is_verified && proven && db::mark_verified(&mut *connection, user.id).await? {
        // The provider proved the address of an account nobody had verified: it is this
        // person's, and whatever someone else holds on it (sessions, mail links, other providers'
        // links) goes; this provider's link is made again.
        db::drop_unproven_access(connection, user.id).await?;
        link(connection, provider, info, tokens, user.id).await?;
    } else {
        oauth2::update_tokens(&mut *connection, &provider.name, &info.account_id, tokens).await?;
    }
    db::find_user_by_id(&mut *connection, user_id)
        .await?
        .ok_or_else(changed_meanwhile)
}
{%- if "verify" in handlers %}

/// Links a login to an existing account with the same email address, which the provider verified,
/// when [`OAUTH2_LINK_VERIFIED_EMAILS`] is on. `user` is locked.
async fn link_existing(
    connection: &mut db::Connection,
    user: User,
    unusable_hash: &str,
) -> Result<User, ApiError> {
    if !OAUTH2_LINK_VERIFIED_EMAILS {
        return Err(ApiError::bad_request(
            "linking_disabled",
            "An account with this email address exists; log in with its password.",
        ));
    }
    if user.is_verified {
        return Ok(user);
    }
    // Nobody proved owning the address when this account was registered: it may have been
    // registered by someone else, waiting for the owner to link it. The provider has now proved
    // the owner, who claims the account: the password set at registration is discarded and every
    // session, mail link and provider link of the account is dropped (the owner can set a password
    // with a reset mail). Only the columns that change are written.
    db::set_password_hash(&mut *connection, user.id, unusable_hash).await?;
    if db::mark_verified(&mut *connection, user.id).await? {
        db::drop_unproven_access(connection, user.id).await?;
    }
    db::find_user_by_id(&mut *connection, user.id)
        .await?
        .ok_or_else(changed_meanwhile)
}
{%- else %}

/// Never links a login to an existing account by its email address: without the verify handler,
/// accounts are registered "verified" without any proof that the address is theirs, so linking by
/// address would hand an account to whoever registered the address first.
async fn link_existing(
    _connection: &mut db::Connection,
    _user: User,
    _unusable_hash: &str,
) -> Result<User, ApiError> {
    Err(ApiError::bad_request(
        "linking_disabled",
        "An account with this email address exists; log in with its password.",
    ))
}
{%- endif %}

/// Creates the account of a new login, verified (the provider verified the address).
async fn create(
    state: &UsersState,
    connection: &mut db::Connection,
    email: &str,
    password_hash: String,
) -> Result<User, ApiError> {
    hooks::pre_registration(state, connection, email).await?;
    let new_user = NewUser {
        email,
        password_hash,
        is_active: true,
        is_verified: true,
    };
    let user = db::create_user(&mut *connection, new_user)
        .await
        .map_err(|error| match error {
            WriteError::EmailTaken => changed_meanwhile(),
            other => other.into(),
        })?;
    Ok(user)
}
