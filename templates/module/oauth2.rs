//! Login with OAuth2 providers (`OAUTH2_PROVIDERS`, see [`OAuth2Provider`]): the
//! authorization-code flow with PKCE (S256), through the `oauth2` crate.
//!
//! 1. `GET /oauth2/<name>/authorize` makes a random `state` (against login CSRF), a PKCE
//!    verifier and a random browser binding. The binding goes to the browser in a short-lived
//!    `HttpOnly` cookie; a row in `oauth_states`, keyed by the binding's hash, keeps the provider,
//!    the hash of the state and the verifier for [`OAUTH2_STATE_TTL`]. The answer is the provider's
//!    authorization URL.
//! 2. The provider sends the browser back to `GET /oauth2/<name>/callback?code&state`. The cookie
//!    finds the row, which is deleted at once (single use); the state must be the one stored, for
//!    this provider, and not expired. The code is exchanged for tokens with the verifier, the user
//!    info is read with the access token, and the user is found (by the provider's account id,
//!    else by email) or created.
//!
//! Why a row rather than a signed cookie: a row can be used once only, and the PKCE verifier never
//! leaves the server. Without the cookie of the browser that started the login, a callback URL is
//! worth nothing, so nobody can log a victim into the attacker's account (login CSRF).
//!
//! The HTTP client follows no redirects: a provider (or whoever answers in its place) cannot send
//! the server to another URL (SSRF).

use std::{sync::Arc, time::Duration};

use ::oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
    TokenUrl, basic::BasicClient,
};
use chrono::{DateTime, Utc};
use reqwest::header;
use serde_json::Value;
use uuid::Uuid;

use super::{
    UsersState,
    config::{ConfigError, OAUTH2_CALLBACK_PATH},
    db::{self, Pool},
    email::canonical_email,
    error::ApiError,
    tokens,
};

/// How long a started OAuth2 login may take, from `authorize` to `callback`.
pub const OAUTH2_STATE_TTL: Duration = Duration::from_secs(10 * 60);
/// The cookie that binds an OAuth2 login in progress to the browser that started it.
pub const OAUTH2_STATE_COOKIE: &str = "oauth2_state";
/// Whether an OAuth2 login may be linked to an existing account with the same email address. It
/// is linked only when the provider says it verified that address; set this to `false` to refuse
/// linking altogether (the person then logs in with their password).
pub const OAUTH2_LINK_VERIFIED_EMAILS: bool = true;

/// Whether the provider's tokens are kept in `oauth_accounts` after the login. Off by default:
/// the login needs them only once, to read the user info, and a stored token is a credential at
/// the provider for whoever reads the database. Turn it on only if the app calls the provider
/// later on the user's behalf; each login then stores the tokens it received.
pub const STORE_PROVIDER_TOKENS: bool = false;

/// The largest token or user info answer read from a provider, in bytes: a provider (or whoever
/// answers in its place) cannot make the server buffer an endless body.
pub const MAX_PROVIDER_RESPONSE_BYTES: usize = 64 * 1024;

/// The longest provider account id accepted, in bytes (the `oauth_accounts.account_id` column).
pub const MAX_ACCOUNT_ID_BYTES: usize = 255;

// ---------------------------------------------------------------------------------------------
// The providers' settings: `OAUTH2_PROVIDERS` and `OAUTH2_<NAME>_...`.

/// How a provider's user info is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuth2ProviderKind {
    /// GitHub: the id from `/user`, the primary email and whether it is verified from
    /// `/user/emails`.
    GitHub,
    /// Google: OpenID Connect user info (`sub`, `email`, `email_verified`).
    Google,
    /// Any other provider: user info as JSON with `sub` or `id`, `email` and `email_verified`.
    Generic,
}

/// An OAuth2 provider users can log in with: `OAUTH2_<NAME>_CLIENT_ID` and
/// `OAUTH2_<NAME>_CLIENT_SECRET` for each name in `OAUTH2_PROVIDERS`, plus
/// `OAUTH2_<NAME>_AUTH_URL`, `OAUTH2_<NAME>_TOKEN_URL` and `OAUTH2_<NAME>_USERINFO_URL` for a name
/// other than the presets `github` and `google`. `OAUTH2_<NAME>_SCOPES` (space- or comma-separated)
/// replaces the default scopes.
#[derive(Clone)]
pub struct OAuth2Provider {
    /// The name in the paths (`/oauth2/<name>/...`): lower-case letters, digits, `-` and `_`.
    pub name: String,
    /// How the user info is read.
    pub kind: OAuth2ProviderKind,
    /// The client id the provider gave this application.
    pub client_id: String,
    /// The client secret the provider gave this application.
    pub client_secret: String,
    /// Where the browser is sent to log in and consent.
    pub auth_url: String,
    /// Where the server exchanges the code for an access token.
    pub token_url: String,
    /// Where the server reads who logged in, with the access token.
    pub userinfo_url: String,
    /// The scopes asked for.
    pub scopes: Vec<String>,
}

impl OAuth2Provider {
    /// GitHub, with the scopes to read the user's id and email addresses.
    pub fn github(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            name: "github".to_owned(),
            kind: OAuth2ProviderKind::GitHub,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            auth_url: "https://github.com/login/oauth/authorize".to_owned(),
            token_url: "https://github.com/login/oauth/access_token".to_owned(),
            userinfo_url: "https://api.github.com/user".to_owned(),
            scopes: vec!["read:user".to_owned(), "user:email".to_owned()],
        }
    }

    /// Google, with OpenID Connect user info.
    pub fn google(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            name: "google".to_owned(),
            kind: OAuth2ProviderKind::Google,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            auth_url: "https://accounts.google.com/o/oauth2/v2/auth".to_owned(),
            token_url: "https://oauth2.googleapis.com/token".to_owned(),
            userinfo_url: "https://openidconnect.googleapis.com/v1/userinfo".to_owned(),
            scopes: vec!["openid".to_owned(), "email".to_owned()],
        }
    }

    /// Any other provider, by its URLs; asks for the scopes `openid email`.
    pub fn generic(
        name: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        auth_url: impl Into<String>,
        token_url: impl Into<String>,
        userinfo_url: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            kind: OAuth2ProviderKind::Generic,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            auth_url: auth_url.into(),
            token_url: token_url.into(),
            userinfo_url: userinfo_url.into(),
            scopes: vec!["openid".to_owned(), "email".to_owned()],
        }
    }

    /// `<APP_URL>/oauth2/<name>/callback`: where the provider sends the browser back. `base_url`
    /// is `APP_URL` without a trailing slash ([`crate::{{ module }}::Config::base_url`]).
    pub fn redirect_uri(&self, base_url: &str) -> String {
        let path = OAUTH2_CALLBACK_PATH.replace("{provider}", &self.name);
        format!("{base_url}{path}")
    }
}

/// The providers of `OAUTH2_PROVIDERS`, read with `var`.
fn read_providers(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<OAuth2Provider>, ConfigError> {
    let Some(names) = var("OAUTH2_PROVIDERS") else {
        return Ok(Vec::new());
    };
    let mut providers = Vec::new();
    for name in names
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        let name = name.to_ascii_lowercase();
        let prefix = format!("OAUTH2_{}", name.to_ascii_uppercase().replace('-', "_"));
        let required = |suffix: &str| {
            let key = format!("{prefix}_{suffix}");
            var(&key).ok_or_else(|| {
                ConfigError(format!(
                    "{key} is not set (OAUTH2_PROVIDERS lists the provider {name})"
                ))
            })
        };
        let client_id = required("CLIENT_ID")?;
        let client_secret = required("CLIENT_SECRET")?;
        let mut provider = match name.as_str() {
            "github" => OAuth2Provider::github(client_id, client_secret),
            "google" => OAuth2Provider::google(client_id, client_secret),
            _ => OAuth2Provider::generic(
                name.clone(),
                client_id,
                client_secret,
                required("AUTH_URL")?,
                required("TOKEN_URL")?,
                required("USERINFO_URL")?,
            ),
        };
        if let Some(scopes) = var(&format!("{prefix}_SCOPES")) {
            provider.scopes = scopes
                .split([',', ' '])
                .filter(|scope| !scope.is_empty())
                .map(str::to_owned)
                .collect();
        }
        providers.push(provider);
    }
    Ok(providers)
}

/// Checks providers built by hand or read from the environment: names fit for a path and listed
/// once, a client id, and http(s) URLs (a `file:` or other URL would have the server read
/// something else than a provider).
pub fn validate_providers(providers: &[OAuth2Provider]) -> Result<(), ConfigError> {
    for (index, provider) in providers.iter().enumerate() {
        let name = &provider.name;
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !name_ok {
            return Err(ConfigError(format!(
                "the OAuth2 provider name {name:?} may only have lower-case letters, digits, \
                 `-` and `_`"
            )));
        }
        if providers[..index].iter().any(|other| other.name == *name) {
            return Err(ConfigError(format!(
                "the OAuth2 provider {name} is listed twice"
            )));
        }
        if provider.client_id.is_empty() {
            return Err(ConfigError(format!(
                "the OAuth2 provider {name} has no client id"
            )));
        }
        for (what, url) in [
            ("AUTH_URL", &provider.auth_url),
            ("TOKEN_URL", &provider.token_url),
            ("USERINFO_URL", &provider.userinfo_url),
        ] {
            let parsed = reqwest::Url::parse(url);
            if !parsed.is_ok_and(|url| matches!(url.scheme(), "http" | "https")) {
                return Err(ConfigError(format!(
                    "the {what} of the OAuth2 provider {name}, {url:?}, is not an http(s) URL"
                )));
            }
        }
    }
    Ok(())
}

/// The providers users can log in with and the HTTP client for the requests to them. Cheap to
/// clone. [`UsersState::from_env`] reads the providers from the environment with
/// [`OAuth2Client::from_env`]; [`Default`] has none.
#[derive(Clone)]
pub struct OAuth2Client {
    providers: Arc<[OAuth2Provider]>,
    http: reqwest::Client,
}

impl OAuth2Client {
    /// The providers of `OAUTH2_PROVIDERS` (none when unset) and their settings.
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        Self::new(read_providers(&var)?)
    }

    /// A client for these providers, once [`validate_providers`] accepts them.
    pub fn new(providers: Vec<OAuth2Provider>) -> Result<Self, ConfigError> {
        validate_providers(&providers)?;
        let http = reqwest::Client::builder()
            // Following redirects would let an answer send the server anywhere (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            // GitHub's API refuses requests without a User-Agent.
            .user_agent(concat!(
                env!("CARGO_PKG_NAME"),
                "/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|error| ConfigError(format!("the OAuth2 HTTP client: {error}")))?;
        Ok(Self {
            providers: providers.into(),
            http,
        })
    }

    /// The provider named `name` in `OAUTH2_PROVIDERS`.
    pub fn provider(&self, name: &str) -> Option<&OAuth2Provider> {
        self.providers.iter().find(|provider| provider.name == name)
    }

    /// Every provider, in the order of `OAUTH2_PROVIDERS`.
    pub fn providers(&self) -> &[OAuth2Provider] {
        &self.providers
    }
}

impl Default for OAuth2Client {
    /// No providers: every `/oauth2/...` route answers 404.
    fn default() -> Self {
        Self::new(Vec::new()).expect("the HTTP client (rustls) can be built")
    }
}

/// An OAuth2 client for one provider, as the `oauth2` crate types it.
type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

fn client(state: &UsersState, provider: &OAuth2Provider) -> Result<Client, ApiError> {
    // The URLs were checked by `validate_providers`.
    let auth_url = AuthUrl::new(provider.auth_url.clone()).map_err(ApiError::internal)?;
    let token_url = TokenUrl::new(provider.token_url.clone()).map_err(ApiError::internal)?;
    let redirect_uri = RedirectUrl::new(provider.redirect_uri(state.config.base_url()))
        .map_err(ApiError::internal)?;
    let client = BasicClient::new(ClientId::new(provider.client_id.clone()))
        .set_client_secret(ClientSecret::new(provider.client_secret.clone()))
        .set_auth_uri(auth_url)
        .set_token_uri(token_url)
        .set_redirect_uri(redirect_uri);
    // GitHub takes the client credentials in the body; the standard (and the default) is HTTP
    // Basic authentication.
    Ok(match provider.kind {
        OAuth2ProviderKind::GitHub => client.set_auth_type(::oauth2::AuthType::RequestBody),
        _ => client,
    })
}

/// A login started with [`start`].
pub struct Started {
    /// Where to send the browser.
    pub authorization_url: String,
    /// The value of the state cookie, which binds the login to this browser.
    pub binding: String,
}

/// Starts a login with `provider`: stores the state and the PKCE verifier, and returns the
/// authorization URL and the cookie value.
pub async fn start(state: &UsersState, provider: &OAuth2Provider) -> Result<Started, ApiError> {
    let client = client(state, provider)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(provider.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge)
        .url();
    let (binding, binding_hash) = tokens::generate();
    purge_expired_states(&state.db).await?;
    insert_state(
        &state.db,
        &binding_hash,
        &provider.name,
        &tokens::hash(csrf.secret()),
        verifier.secret(),
        db::expires_in(OAUTH2_STATE_TTL),
    )
    .await?;
    Ok(Started {
        authorization_url: url.to_string(),
        binding,
    })
}

/// Takes (deletes) the login that the state cookie `binding` points to and checks it against the
/// `state` the provider sent back: 400 when the cookie is missing, the login is unknown or used,
/// the state differs, belongs to another provider or has expired. Returns the PKCE verifier.
pub async fn take_state(
    state: &UsersState,
    provider: &OAuth2Provider,
    binding: Option<&str>,
    returned_state: Option<&str>,
) -> Result<PkceCodeVerifier, ApiError> {
    let Some(binding) = binding else {
        return Err(ApiError::bad_request(
            "missing_state_cookie",
            "This login was not started in this browser (its state cookie is missing); start it again.",
        ));
    };
    let invalid = || {
        ApiError::bad_request(
            "invalid_state",
            "The state does not match a login started in this browser; start it again.",
        )
    };
    let (stored_provider, state_hash, verifier, expires_at) =
        take_stored_state(&state.db, &tokens::hash(binding))
            .await?
            .ok_or_else(invalid)?;
    // Hashes are compared, so the comparison's timing tells nothing about the stored state.
    let state_ok = returned_state.is_some_and(|returned| tokens::hash(returned) == state_hash);
    if !state_ok || stored_provider != provider.name {
        return Err(invalid());
    }
    if expires_at <= db::now() {
        return Err(ApiError::bad_request(
            "expired_state",
            "This login took too long; start it again.",
        ));
    }
    Ok(PkceCodeVerifier::new(verifier))
}

/// The tokens a provider issued.
pub struct ProviderTokens {
    /// The access token, for the user-info request (and for your own calls to the provider, see
    /// [`STORE_PROVIDER_TOKENS`]).
    pub access_token: String,
    /// The refresh token, if the provider sent one.
    pub refresh_token: Option<String>,
    /// When the access token expires, if the provider said.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Exchanges the code for tokens, proving with the PKCE verifier that this server started the
/// login: 400 when the provider refuses or cannot be reached.
pub async fn exchange(
    state: &UsersState,
    provider: &OAuth2Provider,
    code: String,
    verifier: PkceCodeVerifier,
) -> Result<ProviderTokens, ApiError> {
    let client = client(state, provider)?;
    let response = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&CappedClient(&state.oauth2.http))
        .await
        .map_err(|error| {
            tracing::warn!(provider = %provider.name, %error, "OAuth2 token exchange failed");
            let detail = match &error {
                RequestTokenError::ServerResponse(response) => format!(
                    "The provider refused the authorization code ({}).",
                    response.error()
                ),
                _ => "The provider's token endpoint gave no usable answer.".to_owned(),
            };
            ApiError::bad_request("token_exchange_failed", detail)
        })?;
    // A lifetime too large to add to the clock is treated as no expiry.
    let expires_at = response
        .expires_in()
        .and_then(|ttl| chrono::Duration::from_std(ttl).ok())
        .and_then(|ttl| db::now().checked_add_signed(ttl));
    Ok(ProviderTokens {
        access_token: response.access_token().secret().clone(),
        refresh_token: response.refresh_token().map(|token| token.secret().clone()),
        expires_at,
    })
}

/// The HTTP client of the token exchange: the `oauth2` crate's own one for reqwest reads any
/// answer whole; this one reads at most [`MAX_PROVIDER_RESPONSE_BYTES`].
struct CappedClient<'a>(&'a reqwest::Client);

impl<'c> ::oauth2::AsyncHttpClient<'c> for CappedClient<'_> {
    type Error = ::oauth2::HttpClientError<reqwest::Error>;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<::oauth2::HttpResponse, Self::Error>> + Send + Sync + 'c>,
    >;

    fn call(&'c self, request: ::oauth2::HttpRequest) -> Self::Future {
        Box::pin(capped_request(self.0, request))
    }
}

/// Sends a request for the `oauth2` crate, like its own reqwest client does, but reads at most
/// [`MAX_PROVIDER_RESPONSE_BYTES`] of the answer.
async fn capped_request(
    http: &reqwest::Client,
    request: ::oauth2::HttpRequest,
) -> Result<::oauth2::HttpResponse, ::oauth2::HttpClientError<reqwest::Error>> {
    let response = http
        .execute(request.try_into().map_err(Box::new)?)
        .await
        .map_err(Box::new)?;
    let mut builder = ::oauth2::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = read_capped(response)
        .await
        .map_err(::oauth2::HttpClientError::Other)?;
    Ok(builder.body(body)?)
}

/// Reads a response body, refusing one larger than [`MAX_PROVIDER_RESPONSE_BYTES`] as soon as it
/// is seen to be (whatever its `Content-Length` claims).
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| error.to_string())? {
        if body.len() + chunk.len() > MAX_PROVIDER_RESPONSE_BYTES {
            return Err(format!(
                "the answer is larger than {MAX_PROVIDER_RESPONSE_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Who logged in, as the provider tells.
pub struct ProviderUser {
    /// The provider's id of the account (`sub` or `id`).
    pub account_id: String,
    /// The email address in canonical form, if the provider shares one.
    pub email: Option<String>,
    /// Whether the provider verified that the person owns the address.
    pub email_verified: bool,
}

/// Reads the user info with the access token: 400 when it cannot be read, has no usable account
/// id (`userinfo_failed`) or an email address that is not a valid one (`invalid_email`).
pub async fn user_info(
    state: &UsersState,
    provider: &OAuth2Provider,
    access_token: &str,
) -> Result<ProviderUser, ApiError> {
    let profile = get_json(state, provider, &provider.userinfo_url, access_token).await?;
    let account_id = ["sub", "id"]
        .iter()
        .find_map(|key| match &profile[key] {
            Value::String(id) if !id.is_empty() => Some(id.clone()),
            Value::Number(id) => Some(id.to_string()),
            _ => None,
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "userinfo_failed",
                "The provider's user info has no account id.",
            )
        })?;
    // The id is stored and looked up as given: one that does not fit the column or holds control
    // characters (a NUL is refused by PostgreSQL) comes from a provider that is not to be trusted.
    if account_id.len() > MAX_ACCOUNT_ID_BYTES || account_id.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "userinfo_failed",
            "The provider's account id is not a usable one.",
        ));
    }
    let (email, email_verified) = match provider.kind {
        OAuth2ProviderKind::GitHub => {
            // The profile's `email` is the public one, which GitHub does not say is verified;
            // `/user/emails` tells the primary address and whether it is verified.
            let emails_url = format!("{}/emails", provider.userinfo_url.trim_end_matches('/'));
            let emails = get_json(state, provider, &emails_url, access_token)
                .await
                .unwrap_or(Value::Null);
            let primary = emails
                .as_array()
                .and_then(|emails| emails.iter().find(|email| email["primary"] == true));
            match primary {
                Some(primary) => (text(&primary["email"]), primary["verified"] == true),
                None => (text(&profile["email"]), false),
            }
        }
        OAuth2ProviderKind::Google | OAuth2ProviderKind::Generic => {
            // Some providers send the flag as the string "true".
            let verified = match &profile["email_verified"] {
                Value::Bool(verified) => *verified,
                Value::String(verified) => verified.eq_ignore_ascii_case("true"),
                _ => false,
            };
            (text(&profile["email"]), verified)
        }
    };
    // The address is compared, hooked and stored in canonical form only, like every other one.
    let email = email
        .map(|email| canonical_email(&email))
        .transpose()
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_email",
                "The provider's email address is not a valid one.",
            )
        })?;
    Ok(ProviderUser {
        account_id,
        email,
        email_verified,
    })
}

fn text(value: &Value) -> Option<String> {
    value
        .as_str()
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

async fn get_json(
    state: &UsersState,
    provider: &OAuth2Provider,
    url: &str,
    access_token: &str,
) -> Result<Value, ApiError> {
    let failed = |reason: String| {
        tracing::warn!(provider = %provider.name, url, reason, "OAuth2 user info not read");
        ApiError::bad_request(
            "userinfo_failed",
            "The provider's user info could not be read.",
        )
    };
    let response = state
        .oauth2
        .http
        .get(url)
        .bearer_auth(access_token)
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|error| failed(error.to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!("status {}", response.status())));
    }
    let body = read_capped(response).await.map_err(failed)?;
    serde_json::from_slice(&body).map_err(|error| failed(error.to_string()))
}

{% filter sql(db=db) -%}
async fn insert_state(
    pool: &Pool,
    binding_hash: &str,
    provider: &str,
    state_hash: &str,
    pkce_verifier: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_states (binding_hash, provider, state_hash, pkce_verifier, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(binding_hash)
    .bind(provider)
    .bind(state_hash)
    .bind(pkce_verifier)
    .bind(expires_at)
    .bind(db::now())
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes the logins that were started and never finished.
async fn purge_expired_states(pool: &Pool) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM oauth_states WHERE expires_at <= $1")
        .bind(db::now())
        .execute(pool)
        .await?;
    Ok(())
}

/// A stored login: the provider, the hash of the state, the PKCE verifier and the expiry.
type StoredState = (String, String, String, DateTime<Utc>);

/// Deletes the stored login and returns it, if it existed. Of two requests racing with the same
/// cookie only one gets it.
async fn take_stored_state(
    pool: &Pool,
    binding_hash: &str,
) -> Result<Option<StoredState>, sqlx::Error> {
{%- if db == "mysql" %}
    // MySQL has no `DELETE ... RETURNING`: read, then delete, and count the login as taken only
    // if this request's delete removed the row.
    let row: Option<StoredState> = sqlx::query_as(
        "SELECT provider, state_hash, pkce_verifier, expires_at FROM oauth_states WHERE binding_hash = $1",
    )
    .bind(binding_hash)
    .fetch_optional(pool)
    .await?;
    if row.is_none() {
        return Ok(None);
    }
    let deleted = sqlx::query("DELETE FROM oauth_states WHERE binding_hash = $1")
        .bind(binding_hash)
        .execute(pool)
        .await?;
    Ok(row.filter(|_| deleted.rows_affected() == 1))
{%- else %}
    sqlx::query_as(
        "DELETE FROM oauth_states WHERE binding_hash = $1 \
         RETURNING provider, state_hash, pkce_verifier, expires_at",
    )
    .bind(binding_hash)
    .fetch_optional(pool)
    .await
{%- endif %}
}

/// The user that the provider's account is linked to.
pub async fn find_linked_user(
    executor: impl sqlx::Executor<'_, Database = db::Db>,
    provider: &str,
    account_id: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    let row: Option<(Uuid,)> = sqlx::query_as(
        "SELECT user_id FROM oauth_accounts \
         WHERE provider = $1 AND account_id = $2",
    )
    .bind(provider)
    .bind(account_id)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|(user_id,)| user_id))
}

/// Links the provider's account to the user, with its tokens if [`STORE_PROVIDER_TOKENS`] is on
/// (else with an empty access token and no refresh token).
pub async fn link_account(
    executor: impl sqlx::Executor<'_, Database = db::Db>,
    provider: &str,
    account_id: &str,
    user_id: Uuid,
    tokens: &ProviderTokens,
) -> Result<(), sqlx::Error> {
    let now = db::now();
    // Tokens the app does not use are not kept: a database leak would hand them out.
    let tokens = STORE_PROVIDER_TOKENS.then_some(tokens);
    sqlx::query(
        "INSERT INTO oauth_accounts \
         (provider, account_id, user_id, access_token, refresh_token, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(provider)
    .bind(account_id)
    .bind(user_id)
    .bind(tokens.map_or("", |tokens| tokens.access_token.as_str()))
    .bind(tokens.and_then(|tokens| tokens.refresh_token.as_deref()))
    .bind(tokens.and_then(|tokens| tokens.expires_at))
    .bind(now)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}

/// Unlinks every provider account of the user (a new password, the user's own or an admin's, a
/// deactivation, a new address: whoever linked one may be who the account is taken back from).
pub async fn unlink_all(
    executor: impl sqlx::Executor<'_, Database = db::Db>,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM oauth_accounts WHERE user_id = $1")
        .bind(user_id)
        .execute(executor)
        .await?;
    Ok(())
}

/// Stores the tokens of a new login with a linked account. A refresh token is kept until the
/// provider sends a new one (many send one only at the first consent). Without
/// [`STORE_PROVIDER_TOKENS`], clears whatever tokens the account still has.
pub async fn update_tokens(
    executor: impl sqlx::Executor<'_, Database = db::Db>,
    provider: &str,
    account_id: &str,
    tokens: &ProviderTokens,
) -> Result<(), sqlx::Error> {
    if !STORE_PROVIDER_TOKENS {
        return clear_tokens(executor, provider, account_id).await;
    }
    sqlx::query(
        "UPDATE oauth_accounts SET access_token = $1, refresh_token = COALESCE($2, refresh_token), \
         expires_at = $3, updated_at = $4 WHERE provider = $5 AND account_id = $6",
    )
    .bind(&tokens.access_token)
    .bind(&tokens.refresh_token)
    .bind(tokens.expires_at)
    .bind(db::now())
    .bind(provider)
    .bind(account_id)
    .execute(executor)
    .await?;
    Ok(())
}

/// Forgets the tokens of a linked account (stored while [`STORE_PROVIDER_TOKENS`] was on, or by
/// an older version): the link itself stays.
async fn clear_tokens(
    executor: impl sqlx::Executor<'_, Database = db::Db>,
    provider: &str,
    account_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE oauth_accounts SET access_token = '', refresh_token = NULL, expires_at = NULL, \
         updated_at = $1 WHERE provider = $2 AND account_id = $3",
    )
    .bind(db::now())
    .bind(provider)
    .bind(account_id)
    .execute(executor)
    .await?;
    Ok(())
}
{%- endfilter %}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn providers(vars: &[(&str, &str)]) -> Result<Vec<OAuth2Provider>, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        read_providers(&|key: &str| vars.get(key).cloned())
    }

    #[test]
    fn presets_need_a_client_id_and_secret_and_others_their_urls() {
        let read = providers(&[
            ("OAUTH2_PROVIDERS", "github, Google,acme-id"),
            ("OAUTH2_GITHUB_CLIENT_ID", "gh-id"),
            ("OAUTH2_GITHUB_CLIENT_SECRET", "gh-secret"),
            ("OAUTH2_GOOGLE_CLIENT_ID", "g-id"),
            ("OAUTH2_GOOGLE_CLIENT_SECRET", "g-secret"),
            ("OAUTH2_ACME_ID_CLIENT_ID", "a-id"),
            ("OAUTH2_ACME_ID_CLIENT_SECRET", "a-secret"),
            (
                "OAUTH2_ACME_ID_AUTH_URL",
                "https://id.acme.example/authorize",
            ),
            ("OAUTH2_ACME_ID_TOKEN_URL", "https://id.acme.example/token"),
            (
                "OAUTH2_ACME_ID_USERINFO_URL",
                "https://id.acme.example/userinfo",
            ),
            ("OAUTH2_ACME_ID_SCOPES", "openid,email profile"),
        ])
        .expect("three providers");
        let names: Vec<&str> = read.iter().map(|provider| provider.name.as_str()).collect();
        assert_eq!(names, ["github", "google", "acme-id"]);
        assert_eq!(read[0].kind, OAuth2ProviderKind::GitHub);
        assert_eq!(read[1].kind, OAuth2ProviderKind::Google);
        assert_eq!(read[2].kind, OAuth2ProviderKind::Generic);
        assert_eq!(read[2].token_url, "https://id.acme.example/token");
        assert_eq!(read[2].scopes, ["openid", "email", "profile"]);

        let missing = providers(&[
            ("OAUTH2_PROVIDERS", "acme"),
            ("OAUTH2_ACME_CLIENT_ID", "a-id"),
            ("OAUTH2_ACME_CLIENT_SECRET", "a-secret"),
        ]);
        let error = missing.err().expect("an error").to_string();
        assert!(error.contains("OAUTH2_ACME_AUTH_URL"), "{error}");
        assert!(providers(&[]).expect("no providers").is_empty());
    }

    #[test]
    fn the_redirect_uri_is_the_callback_path_under_app_url() {
        let github = OAuth2Provider::github("id", "secret");
        assert_eq!(
            github.redirect_uri("https://app.example"),
            "https://app.example/oauth2/github/callback"
        );
    }

    #[test]
    fn providers_with_unusable_names_or_urls_are_refused() {
        let valid = || vec![OAuth2Provider::github("id", "secret")];
        OAuth2Client::new(valid()).expect("a valid provider");
        let mut bad = valid();
        bad[0].name = "Git Hub".to_owned();
        assert!(validate_providers(&bad).is_err());
        let mut bad = valid();
        bad[0].token_url = "file:///etc/passwd".to_owned();
        assert!(validate_providers(&bad).is_err());
        let mut bad = valid();
        bad[0].client_id.clear();
        assert!(validate_providers(&bad).is_err());
        let twice = [valid(), valid()].concat();
        let error = validate_providers(&twice).expect_err("listed twice");
        assert!(error.to_string().contains("twice"), "{error}");
    }
}
