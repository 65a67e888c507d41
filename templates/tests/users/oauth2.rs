//! `GET /oauth2/{provider}/authorize` and `GET /oauth2/{provider}/callback`, end to end against a
//! mock provider that each test starts on loopback.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use {{ crate_name }}::{{ module }}::{
    self, db,
    layers::require_auth,
    oauth2::{OAuth2Client, OAuth2Provider, ProviderTokens, STORE_PROVIDER_TOKENS, link_account},
{%- if "verify" in handlers or "password-reset" in handlers %}
    tokens::Purpose,
{%- endif %}
};

use axum::{
    Form, Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, Method, Request, StatusCode, header},
    middleware,
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::Url;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use crate::support::{Credential, PASSWORD, TestApp, TestResponse, app_with_state};

/// The client id and secret the mock provider expects.
const CLIENT_ID: &str = "test-client";
const CLIENT_SECRET: &str = "test-client-secret";

/// A test application with two generic providers, `mock` and `other`, both served by `provider`.
async fn app(provider: &MockProvider) -> TestApp {
    app_with_providers(vec![provider.config("mock"), provider.config("other")]).await
}

/// A test application with these providers.
async fn app_with_providers(providers: Vec<OAuth2Provider>) -> TestApp {
    let client = OAuth2Client::new(providers).expect("valid providers");
    app_with_state(move |state| state.oauth2 = client).await
}

/// User info as a generic provider sends it.
fn person(sub: &str, email: &str, email_verified: bool) -> Value {
    json!({ "sub": sub, "email": email, "email_verified": email_verified })
}

/// A login started with `GET /oauth2/<name>/authorize`.
struct Started {
    /// The `Cookie` header value that carries the state cookie.
    cookie: String,
    /// The query parameters of the authorization URL.
    params: HashMap<String, String>,
}

impl Started {
    fn state(&self) -> &str {
        &self.params["state"]
    }
}

/// Starts a login and checks the answer: the authorization URL and the state cookie.
async fn start(app: &TestApp, provider: &MockProvider, name: &str) -> Started {
    let response = app.get(&format!("/oauth2/{name}/authorize"), None).await;
    response.assert_status(StatusCode::OK);
    let url = response.body["authorization_url"]
        .as_str()
        .expect("an authorization URL");
    assert!(url.starts_with(&provider.url("/authorize")), "{url}");
    let params: HashMap<String, String> = Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], CLIENT_ID);
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(
        params["redirect_uri"],
        format!("http://localhost:3000/oauth2/{name}/callback")
    );
    assert!(params["state"].len() >= 16);
    let set_cookie = response.headers[header::SET_COOKIE]
        .to_str()
        .expect("a cookie");
    assert!(set_cookie.starts_with("oauth2_state="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(set_cookie.contains("Max-Age=600"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
    Started { cookie, params }
}

/// What the provider does when the person consents: issues a code for the login's challenge.
fn consent(provider: &MockProvider, started: &Started) -> String {
    provider.grant(
        &started.params["code_challenge"],
        &started.params["redirect_uri"],
    )
}

/// `GET /oauth2/<name>/callback?<query>`, with the state cookie when given.
async fn callback(app: &TestApp, name: &str, query: &str, cookie: Option<&str>) -> TestResponse {
    let headers: Vec<(&str, &str)> = cookie
        .map(|cookie| ("cookie", cookie))
        .into_iter()
        .collect();
    let path = format!("/oauth2/{name}/callback?{query}");
    app.send(Method::GET, &path, None, None, &headers).await
}

/// The whole flow at the provider `mock`: authorize, consent, callback.
async fn log_in(app: &TestApp, provider: &MockProvider) -> TestResponse {
    let started = start(app, provider, "mock").await;
    let code = consent(provider, &started);
    let query = format!("code={code}&state={}", started.state());
    callback(app, "mock", &query, Some(&started.cookie)).await
}

/// A login at the provider `mock` that the person consented to, ready for its callback.
struct Consented {
    /// Kept so the mock provider serves as long as the login is used.
    _provider: MockProvider,
    app: TestApp,
    started: Started,
    code: String,
}

impl Consented {
    /// Starts the mock provider (answering `userinfo`) and the app, then authorizes and consents.
    async fn new(userinfo: Value) -> Self {
        let provider = MockProvider::start().await;
        provider.set_userinfo(userinfo);
        let app = app(&provider).await;
        let started = start(&app, &provider, "mock").await;
        let code = consent(&provider, &started);
        Self {
            _provider: provider,
            app,
            started,
            code,
        }
    }
}

/// Asserts that the state cookie is cleared.
#[track_caller]
fn assert_state_cookie_cleared(headers: &HeaderMap) {
    let cleared = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|cookie| cookie.starts_with("oauth2_state=;") && cookie.contains("Max-Age=0"));
    assert!(cleared, "no cleared state cookie in {headers:?}");
}

/// The stored tokens of the provider's account `account_id` at `mock`.
async fn stored_tokens(app: &TestApp, account_id: &str) -> (String, Option<String>) {
    let sql = format!(
        "SELECT access_token, refresh_token FROM oauth_accounts \
         WHERE provider = 'mock' AND account_id = '{account_id}'"
    );
    sqlx::query_as(&sql)
        .fetch_one(&app.state.db)
        .await
        .expect("a linked account")
}

/// The account `42` at `mock` holds the `n`th tokens the provider issued when the app stores
/// them, and none at all otherwise.
async fn assert_tokens_stored_as_configured(app: &TestApp, provider: &MockProvider, n: usize) {
    let (access_token, refresh_token) = stored_tokens(app, "42").await;
    if STORE_PROVIDER_TOKENS {
        // Stored whole, and replaced at each login.
        assert_eq!(access_token, provider.issued(n));
        assert!(access_token.len() > 1000);
        assert_eq!(refresh_token, Some(format!("refresh-{n}")));
    } else {
        assert_eq!(access_token, "");
        assert_eq!(refresh_token, None);
        assert_eq!(tokens_with_expiry(app).await, 0);
    }
}

/// How many linked accounts have an expiry of their access token stored.
async fn tokens_with_expiry(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM oauth_accounts WHERE expires_at IS NOT NULL")
        .fetch_one(&app.state.db)
        .await
        .expect("a count")
}

#[tokio::test]
async fn the_full_flow_logs_in_and_a_second_login_reuses_the_account() {
    let provider = MockProvider::start().await;
    provider.set_userinfo(person("42", "ada@example.com", true));
    let app = app(&provider).await;
    let response = log_in(&app, &provider).await;
    response.assert_status(StatusCode::CREATED);
    assert_eq!(response.body["user"]["email"], "ada@example.com");
    assert_eq!(response.body["user"]["is_verified"], true);
{%- if backend == "jwt" %}
    assert_eq!(response.body["token_type"], "bearer");
{%- endif %}
    assert_state_cookie_cleared(&response.headers);
    let first_id = response.body["user"]["id"].clone();
    let credential = Credential::from_login(&response);
{%- if "current-user" in handlers %}
    let me = app.get("/users/me", Some(&credential)).await;
    me.assert_status(StatusCode::OK);
    assert_eq!(me.body["email"], "ada@example.com");
{%- else %}
    app.send(Method::POST, "/logout", None, Some(&credential), &[])
        .await
        .assert_status(StatusCode::NO_CONTENT);
{%- endif %}
    assert_tokens_stored_as_configured(&app, &provider, 0).await;

    let again = log_in(&app, &provider).await;
    again.assert_status(StatusCode::CREATED);
    assert_eq!(again.body["user"]["id"], first_id);
    assert_tokens_stored_as_configured(&app, &provider, 1).await;
    let second = Credential::from_login(&again);
    assert_ne!(credential.0.1, second.0.1);
}

#[tokio::test]
async fn by_default_a_login_stores_no_provider_token_and_clears_older_ones() {
    let provider = MockProvider::start().await;
    provider.set_userinfo(person("42", "ada@example.com", true));
    let app = app(&provider).await;
    log_in(&app, &provider)
        .await
        .assert_status(StatusCode::CREATED);
    // The provider did issue tokens; none of them is kept.
    assert_eq!(provider.token_requests(), 1);
    assert_eq!(stored_tokens(&app, "42").await, (String::new(), None));
    assert_eq!(tokens_with_expiry(&app).await, 0);

    // Tokens an older version stored are forgotten at the next login; the link stays.
    sqlx::query(
        "UPDATE oauth_accounts SET access_token = 'old access', refresh_token = 'old refresh', \
         expires_at = updated_at",
    )
    .execute(&app.state.db)
    .await
    .expect("old tokens");
    log_in(&app, &provider)
        .await
        .assert_status(StatusCode::CREATED);
    assert_eq!(stored_tokens(&app, "42").await, (String::new(), None));
    assert_eq!(tokens_with_expiry(&app).await, 0);
    assert_eq!(links(&app).await, 1);
}

#[tokio::test]
async fn a_new_account_is_created_with_a_password_that_never_works() {
    let provider = MockProvider::start().await;
    // A numeric `id` instead of `sub`, as some providers send it.
    provider.set_userinfo(json!({ "id": 7, "email": "Bob@Example.com", "email_verified": true }));
    let app = app(&provider).await;
    log_in(&app, &provider)
        .await
        .assert_status(StatusCode::CREATED);
    let user = db::find_user_by_email(&app.state.db, "bob@example.com")
        .await
        .unwrap()
        .expect("a new user");
    assert!(user.is_active && user.is_verified);
    stored_tokens(&app, "7").await;
    for password in [PASSWORD, "", user.password_hash.as_str()] {
        app.post(
            "/login",
            json!({ "email": "bob@example.com", "password": password }),
        )
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
}

#[tokio::test]
async fn an_unverified_provider_email_creates_no_account_and_stores_no_link() {
    let provider = MockProvider::start().await;
    provider.set_userinfo(person("8", "cy@example.com", false));
    let app = app(&provider).await;
    log_in(&app, &provider)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "email_not_verified");
    assert!(
        db::find_user_by_email(&app.state.db, "cy@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(links(&app).await, 0);
}

#[tokio::test]
async fn the_takeover_of_an_address_that_the_provider_did_not_verify_fails() {
    // An attacker's provider account claims the owner's address without verifying it; the owner
    // then gets an account of their own and proves the address.
    let provider = MockProvider::start().await;
    provider.set_userinfo(person("666", "ada@example.com", false));
    let app = app(&provider).await;
    log_in(&app, &provider)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "email_not_verified");
    app.create_user("ada@example.com", true, true).await;
    let response = log_in(&app, &provider).await;
    response.assert_error(StatusCode::BAD_REQUEST, "email_not_verified");
    assert!(response.headers.get(header::AUTHORIZATION).is_none());
    assert_eq!(links(&app).await, 0);
}
{%- if "verify" in handlers or "password-reset" in handlers %}

#[tokio::test]
async fn proving_the_address_drops_a_provider_link_stored_for_an_unverified_one() {
    // A link that an older version stored for an address the provider had not verified.
    let provider = MockProvider::start().await;
    provider.set_userinfo(person("666", "ada@example.com", false));
    let app = app(&provider).await;
    let user = app.create_user("ada@example.com", false, true).await;
    let tokens = ProviderTokens {
        access_token: "the attacker's".to_owned(),
        refresh_token: None,
        expires_at: None,
    };
    link_account(&app.state.db, "mock", "666", user.id, &tokens)
        .await
        .expect("a link");
{%- if "verify" in handlers %}
    // The owner verifies the address with the mailed link.
    let token = app
        .stored_token(&user, Purpose::Verify, chrono::Duration::hours(1))
        .await;
    app.post("/verify", json!({ "token": token }))
        .await
        .assert_status(StatusCode::OK);
{%- else %}
    // The owner resets the password with the mailed link.
    let token = app
        .stored_token(&user, Purpose::Reset, chrono::Duration::hours(1))
        .await;
    app.post(
        "/reset-password",
        json!({ "token": token, "password": "the owner's own password" }),
    )
    .await
    .assert_status(StatusCode::OK);
    sqlx::query("UPDATE users SET is_verified = TRUE")
        .execute(&app.state.db)
        .await
        .expect("verified");
{%- endif %}
    assert_eq!(links(&app).await, 0);
    // The attacker's provider account no longer gets in.
    log_in(&app, &provider)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "email_not_verified");
}
{%- endif %}
{%- if "password-reset" in handlers %}

#[tokio::test]
async fn a_password_reset_ends_the_provider_logins_and_links_of_the_account() {
    let provider = MockProvider::start().await;
    provider.set_userinfo(person("42", "ada@example.com", true));
    let app = app(&provider).await;
    let response = log_in(&app, &provider).await;
    response.assert_status(StatusCode::CREATED);
    let credential = Credential::from_login(&response);
    let user = db::find_user_by_email(&app.state.db, "ada@example.com")
        .await
        .unwrap()
        .expect("the user");
    let token = app
        .stored_token(&user, Purpose::Reset, chrono::Duration::hours(1))
        .await;
    app.post(
        "/reset-password",
        json!({ "token": token, "password": "the owner's own password" }),
    )
    .await
    .assert_status(StatusCode::OK);
    assert_eq!(links(&app).await, 0);
    app.send(Method::POST, "/logout", None, Some(&credential), &[])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
}
{%- endif %}
{%- if "verify" in handlers %}

#[tokio::test]
async fn an_existing_account_is_linked_only_when_the_provider_verified_the_email() {
    let provider = MockProvider::start().await;
    let app = app(&provider).await;
    let existing = app.create_user("ada@example.com", true, true).await;
{%- if "role-management" in handlers %}
    app.grant(&existing, "editor").await;
{%- endif %}
    provider.set_userinfo(person("42", "ADA@example.com", false));
    log_in(&app, &provider)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "email_not_verified");
    provider
        .set_userinfo(json!({ "sub": "42", "email": "ADA@example.com", "email_verified": "true" }));
    let response = log_in(&app, &provider).await;
    response.assert_status(StatusCode::CREATED);
    assert_eq!(response.body["user"]["id"], existing.id.to_string());
{%- if "role-management" in handlers %}
    // The user comes with the roles, as after `POST /login`.
    assert_eq!(response.body["user"]["roles"][0]["name"], "editor");
{%- endif %}
    // The account keeps its password.
    app.login("ada@example.com", PASSWORD).await;
}

#[tokio::test]
async fn linking_an_unverified_account_discards_its_password_and_every_other_link() {
    // Someone registered the address before its owner and waits for the owner to link it; an
    // older version also stored a link of theirs for the unverified address.
    let provider = MockProvider::start().await;
    let app = app(&provider).await;
    let squatted = app.create_user("ada@example.com", false, true).await;
    let tokens = ProviderTokens {
        access_token: "the squatter's".to_owned(),
        refresh_token: None,
        expires_at: None,
    };
    link_account(&app.state.db, "other", "666", squatted.id, &tokens)
        .await
        .expect("a link");
    let reset = app
        .stored_token(&squatted, Purpose::Reset, chrono::Duration::hours(1))
        .await;
    provider.set_userinfo(person("42", "ada@example.com", true));
    let response = log_in(&app, &provider).await;
    response.assert_status(StatusCode::CREATED);
    assert_eq!(response.body["user"]["id"], squatted.id.to_string());
    assert_eq!(response.body["user"]["is_verified"], true);
    app.post(
        "/login",
        json!({ "email": "ada@example.com", "password": PASSWORD }),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    // Only the owner's own link is left, and the squatter's mail link is gone.
    assert_eq!(links(&app).await, 1);
    stored_tokens(&app, "42").await;
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_tokens WHERE purpose = 'reset'")
        .fetch_one(&app.state.db)
        .await
        .expect("a count");
    assert_eq!(left, 0, "the reset link {reset} outlived the claim");
}
{%- else %}

#[tokio::test]
async fn without_the_verify_handler_an_existing_account_is_never_linked_by_email() {
    // Registered accounts count as verified without proof here: linking by address would hand
    // the account to whoever registered the address first.
    let provider = MockProvider::start().await;
    let app = app(&provider).await;
    app.create_user("ada@example.com", true, true).await;
    provider.set_userinfo(person("42", "ada@example.com", true));
    log_in(&app, &provider)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "linking_disabled");
    assert_eq!(links(&app).await, 0);
    app.login("ada@example.com", PASSWORD).await;
}
{%- endif %}

/// How many provider accounts are linked to users.
async fn links(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM oauth_accounts")
        .fetch_one(&app.state.db)
        .await
        .expect("a count")
}

#[tokio::test]
async fn an_inactive_user_is_400() {
    let provider = MockProvider::start().await;
    let app = app(&provider).await;
    let user = app.create_user("gone@example.com", true, false).await;
{%- if "verify" not in handlers %}
    // Without the verify handler nothing is linked by email: link this account as a login of
    // the provider account would have been.
    let tokens = ProviderTokens {
        access_token: "an access token".to_owned(),
        refresh_token: None,
        expires_at: None,
    };
    link_account(&app.state.db, "mock", "9", user.id, &tokens)
        .await
        .expect("a link");
{%- else %}
    let _ = user;
{%- endif %}
    provider.set_userinfo(person("9", "gone@example.com", true));
    let response = log_in(&app, &provider).await;
    response.assert_error(StatusCode::BAD_REQUEST, "inactive");
    assert_state_cookie_cleared(&response.headers);
}

#[tokio::test]
async fn a_tampered_state_is_400_and_uses_the_login_up() {
    let Consented {
        _provider,
        app,
        started,
        code,
    } = Consented::new(person("42", "ada@example.com", true)).await;
    let tampered = format!("code={code}&state={}x", started.state());
    let response = callback(&app, "mock", &tampered, Some(&started.cookie)).await;
    response.assert_error(StatusCode::BAD_REQUEST, "invalid_state");
    assert_state_cookie_cleared(&response.headers);
    callback(&app, "mock", &format!("code={code}"), Some(&started.cookie))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_state");
    // The login was used up by the failed attempt: the right state no longer works either.
    let query = format!("code={code}&state={}", started.state());
    callback(&app, "mock", &query, Some(&started.cookie))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_state");
}

#[tokio::test]
async fn an_expired_state_is_400() {
    let Consented {
        _provider,
        app,
        started,
        code,
    } = Consented::new(person("42", "ada@example.com", true)).await;
    sqlx::query("UPDATE oauth_states SET expires_at = created_at")
        .execute(&app.state.db)
        .await
        .expect("the stored login expires");
    let query = format!("code={code}&state={}", started.state());
    callback(&app, "mock", &query, Some(&started.cookie))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "expired_state");
}

#[tokio::test]
async fn a_missing_or_unknown_state_cookie_is_400() {
    let Consented {
        _provider,
        app,
        started,
        code,
    } = Consented::new(person("42", "ada@example.com", true)).await;
    let query = format!("code={code}&state={}", started.state());
    // A callback URL alone, as an attacker could make a victim's browser open it.
    callback(&app, "mock", &query, None)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "missing_state_cookie");
    callback(&app, "mock", &query, Some("oauth2_state=forged"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_state");
    // The browser that started the login still can finish it.
    callback(&app, "mock", &query, Some(&started.cookie))
        .await
        .assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn the_state_of_another_provider_is_400() {
    let Consented {
        _provider,
        app,
        started,
        code,
    } = Consented::new(person("42", "ada@example.com", true)).await;
    let query = format!("code={code}&state={}", started.state());
    callback(&app, "other", &query, Some(&started.cookie))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_state");
}

#[tokio::test]
async fn a_provider_error_response_is_400() {
    let provider = MockProvider::start().await;
    let app = app(&provider).await;
    let started = start(&app, &provider, "mock").await;
    let query = format!(
        "error=access_denied&error_description=The+user+said+no&state={}",
        started.state()
    );
    let response = callback(&app, "mock", &query, Some(&started.cookie)).await;
    response.assert_error(StatusCode::BAD_REQUEST, "provider_error");
    let detail = response.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("access_denied"), "{detail}");
    assert_state_cookie_cleared(&response.headers);
    assert_eq!(provider.token_requests(), 0);
}

#[tokio::test]
async fn a_token_endpoint_refusing_the_code_is_400() {
    let provider = MockProvider::start().await;
    provider.set_userinfo(person("42", "ada@example.com", true));
    let app = app(&provider).await;
    let started = start(&app, &provider, "mock").await;
    // A code the provider never issued.
    let query = format!("code=made-up&state={}", started.state());
    let response = callback(&app, "mock", &query, Some(&started.cookie)).await;
    response.assert_error(StatusCode::BAD_REQUEST, "token_exchange_failed");
    let detail = response.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("invalid_grant"), "{detail}");
}

#[tokio::test]
async fn the_provider_refuses_a_code_without_the_right_pkce_verifier() {
    let Consented {
        _provider,
        app,
        started,
        code,
    } = Consented::new(person("42", "ada@example.com", true)).await;
    sqlx::query("UPDATE oauth_states SET pkce_verifier = 'not-the-verifier-of-this-login'")
        .execute(&app.state.db)
        .await
        .expect("the stored verifier changes");
    let query = format!("code={code}&state={}", started.state());
    callback(&app, "mock", &query, Some(&started.cookie))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "token_exchange_failed");
}

#[tokio::test]
async fn a_missing_email_is_400() {
    let provider = MockProvider::start().await;
    provider.set_userinfo(json!({ "sub": "42", "email_verified": true }));
    let app = app(&provider).await;
    log_in(&app, &provider)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "missing_email");
}

#[tokio::test]
async fn unreadable_user_info_is_400() {
    let provider = MockProvider::start().await;
    let app = app(&provider).await;
    // No account id.
    provider.set_userinfo(json!({ "email": "ada@example.com", "email_verified": true }));
    log_in(&app, &provider)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "userinfo_failed");
    // Not JSON.
    provider.set_userinfo(Value::Null);
    log_in(&app, &provider)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "userinfo_failed");
}

#[tokio::test]
async fn an_unknown_provider_is_404() {
    let provider = MockProvider::start().await;
    let app = app(&provider).await;
    app.get("/oauth2/nobody/authorize", None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.get("/oauth2/nobody/callback?code=x&state=y", None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn the_routes_are_open_to_anonymous_callers_behind_require_auth() {
    let provider = MockProvider::start().await;
    let app = app(&provider).await;
    let state = app.state.clone();
    let guarded = {{ module }}::router(state.clone())
        .route_layer(middleware::from_fn_with_state(state, require_auth));
    let request = Request::get("/oauth2/mock/authorize")
        .body(Body::empty())
        .expect("a request");
    let response = guarded.oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
}

/// A mock OAuth2 provider on loopback: `/token` checks the client, the code, the redirect URI and
/// the PKCE verifier against the challenge the code was issued for; `/userinfo` answers the JSON
/// set with [`MockProvider::set_userinfo`] (or not JSON, for `Value::Null`).
struct MockProvider {
    base: String,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// Issued codes: the challenge and redirect URI of each.
    codes: HashMap<String, (String, String)>,
    /// Issued access tokens, in order.
    issued: Vec<String>,
    token_requests: usize,
    userinfo: Value,
}

type Shared = Arc<Mutex<Inner>>;

impl MockProvider {
    async fn start() -> Self {
        let inner = Shared::default();
        let router = Router::new()
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base, inner }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A generic provider `name` with this mock's URLs.
    fn config(&self, name: &str) -> OAuth2Provider {
        OAuth2Provider::generic(
            name,
            CLIENT_ID,
            CLIENT_SECRET,
            self.url("/authorize"),
            self.url("/token"),
            self.url("/userinfo"),
        )
    }

    fn set_userinfo(&self, userinfo: Value) {
        self.inner.lock().unwrap().userinfo = userinfo;
    }

    /// Issues a code for this PKCE challenge and redirect URI.
    fn grant(&self, challenge: &str, redirect_uri: &str) -> String {
        let mut inner = self.inner.lock().unwrap();
        let code = format!("code{}", inner.codes.len());
        inner.codes.insert(
            code.clone(),
            (challenge.to_owned(), redirect_uri.to_owned()),
        );
        code
    }

    /// The `n`th access token issued.
    fn issued(&self, n: usize) -> String {
        self.inner.lock().unwrap().issued[n].clone()
    }

    fn token_requests(&self) -> usize {
        self.inner.lock().unwrap().token_requests
    }
}

async fn token(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let refuse = |error: &str| (StatusCode::BAD_REQUEST, Json(json!({ "error": error })));
    let mut inner = inner.lock().unwrap();
    inner.token_requests += 1;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(basic.as_str())
    {
        return refuse("invalid_client");
    }
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "authorization_code" {
        return refuse("unsupported_grant_type");
    }
    // A code is single use.
    let Some((challenge, redirect_uri)) = inner.codes.remove(field("code")) else {
        return refuse("invalid_grant");
    };
    let verified = URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
    if verified != challenge || field("redirect_uri") != redirect_uri {
        return refuse("invalid_grant");
    }
    let n = inner.issued.len();
    // Longer than any column that would truncate it.
    let access_token = format!("access-{n}-{}", "t".repeat(1500));
    inner.issued.push(access_token.clone());
    let body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": format!("refresh-{n}"),
    });
    (StatusCode::OK, Json(body))
}

async fn userinfo(State(inner): State<Shared>, headers: HeaderMap) -> (StatusCode, String) {
    let inner = inner.lock().unwrap();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if !bearer.is_some_and(|token| inner.issued.iter().any(|issued| issued == token)) {
        return (StatusCode::UNAUTHORIZED, String::new());
    }
    match &inner.userinfo {
        Value::Null => (StatusCode::OK, "<html>not json</html>".to_owned()),
        userinfo => (StatusCode::OK, userinfo.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// The provider's HTTP client follows no redirect (test audit).

#[tokio::test]
async fn the_client_follows_no_redirect_of_a_token_endpoint() {
    // A token endpoint that redirects (307 keeps the POST and its body) to the real one.
    // Following it would let whoever controls a provider URL steer the server's requests
    // anywhere, with the client secret (SSRF).
    let provider = MockProvider::start().await;
    provider.set_userinfo(person("42", "ada@example.com", true));
    let target = provider.url("/token");
    let redirecting = Router::new().route(
        "/token",
        post(move || async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, target)]) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port for the redirecting endpoint");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, redirecting).await });
    let mut redirected = provider.config("redirected");
    redirected.token_url = format!("http://{address}/token");
    let providers = vec![redirected, provider.config("mock")];
    let app = app_with_providers(providers).await;

    let started = start(&app, &provider, "redirected").await;
    let code = consent(&provider, &started);
    let query = format!("code={code}&state={}", started.state());
    let response = callback(&app, "redirected", &query, Some(&started.cookie)).await;
    response.assert_error(StatusCode::BAD_REQUEST, "token_exchange_failed");
    assert_eq!(provider.token_requests(), 0, "the redirect was followed");
    // The control: the same provider without the redirect logs in.
    let control = log_in(&app, &provider).await;
    control.assert_status(StatusCode::CREATED);
    assert_eq!(provider.token_requests(), 1);
}

// ---------------------------------------------------------------------------------------------
// A lying or misbehaving provider gets a 400, never a 500, and leaves nothing behind.

/// How many users have this address.
async fn users_with(app: &TestApp, email: &str) -> usize {
    usize::from(
        db::find_user_by_email(&app.state.db, email)
            .await
            .expect("a look-up")
            .is_some(),
    )
}

#[tokio::test]
async fn an_unusable_provider_account_id_is_400_and_creates_nothing() {
    let provider = MockProvider::start().await;
    let app = app(&provider).await;
    let huge = "x".repeat(300_000);
    let too_long = "x".repeat(256);
    for sub in [
        "ab\0c",
        "ab\u{85}c",
        "line\nbreak",
        too_long.as_str(),
        huge.as_str(),
    ] {
        provider.set_userinfo(person(sub, "ada@example.com", true));
        log_in(&app, &provider)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "userinfo_failed");
        assert_eq!(users_with(&app, "ada@example.com").await, 0, "{sub:.20?}");
        assert_eq!(links(&app).await, 0, "{sub:.20?}");
    }
    // The longest id that fits the column logs in, and again into the same account.
    let longest = "x".repeat(255);
    provider.set_userinfo(person(&longest, "ada@example.com", true));
    let first = log_in(&app, &provider).await;
    first.assert_status(StatusCode::CREATED);
    let again = log_in(&app, &provider).await;
    again.assert_status(StatusCode::CREATED);
    assert_eq!(again.body["user"]["id"], first.body["user"]["id"]);
    assert_eq!(links(&app).await, 1);
}

#[tokio::test]
async fn an_invalid_provider_email_is_400_and_creates_nothing() {
    let provider = MockProvider::start().await;
    let app = app(&provider).await;
    let long = format!("{}@example.com", "a".repeat(300));
    for email in ["not an address", "ada\0@example.com", long.as_str()] {
        provider.set_userinfo(person("42", email, true));
        log_in(&app, &provider)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_email");
        assert_eq!(links(&app).await, 0, "{email:.20?}");
    }
}

#[tokio::test]
async fn an_oversized_user_info_answer_is_400() {
    let provider = MockProvider::start().await;
    let app = app(&provider).await;
    // A valid answer, padded past what is read of a provider's answer.
    let mut padded = person("42", "ada@example.com", true);
    padded["picture"] = json!("p".repeat(100_000));
    provider.set_userinfo(padded);
    log_in(&app, &provider)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "userinfo_failed");
    assert_eq!(users_with(&app, "ada@example.com").await, 0);
    // The control: a few kilobytes of padding are read.
    let mut padded = person("42", "ada@example.com", true);
    padded["picture"] = json!("p".repeat(4_000));
    provider.set_userinfo(padded);
    log_in(&app, &provider)
        .await
        .assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn an_oversized_token_answer_is_400() {
    let provider = MockProvider::start().await;
    provider.set_userinfo(person("42", "ada@example.com", true));
    // A token endpoint whose answer is valid JSON, with a 100 KB access token.
    let bloated = Router::new().route(
        "/token",
        post(|| async {
            Json(json!({
                "access_token": "a".repeat(100_000),
                "token_type": "Bearer",
                "expires_in": 3600,
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port for the bloated endpoint");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, bloated).await });
    let mut config = provider.config("bloated");
    config.token_url = format!("http://{address}/token");
    let providers = vec![config, provider.config("mock")];
    let app = app_with_providers(providers).await;
    let started = start(&app, &provider, "bloated").await;
    let code = consent(&provider, &started);
    let query = format!("code={code}&state={}", started.state());
    callback(&app, "bloated", &query, Some(&started.cookie))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "token_exchange_failed");
    // The control: the provider's own token endpoint answers a few kilobytes and logs in.
    log_in(&app, &provider)
        .await
        .assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn a_linked_account_is_proved_by_another_spelling_of_its_address() {
    let provider = MockProvider::start().await;
    // Upper-case non-ASCII letters and a decomposed accent: the same address, canonically.
    provider.set_userinfo(person("5", "ALI\u{301}CE@EXAMPLE.COM", true));
    let app = app(&provider).await;
    let user = app.create_user("al\u{ed}ce@example.com", false, true).await;
    let tokens = ProviderTokens {
        access_token: "an older login's".to_owned(),
        refresh_token: None,
        expires_at: None,
    };
    link_account(&app.state.db, "mock", "5", user.id, &tokens)
        .await
        .expect("a link");
    let response = log_in(&app, &provider).await;
    response.assert_status(StatusCode::CREATED);
    assert_eq!(response.body["user"]["id"], user.id.to_string());
    assert_eq!(response.body["user"]["is_verified"], true);
}
