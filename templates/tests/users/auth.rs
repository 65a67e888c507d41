//! `POST /login` and `POST /logout`.

use std::{num::NonZeroU32, time::Duration};

use {{ crate_name }}::{{ module }}::config::RateLimits;

use axum::http::{Method, StatusCode, header};
use governor::Quota;
use serde_json::json;

{% if backend != "jwt" -%}
use crate::support::{Credential, PASSWORD, app, app_with_config, app_with_limits};
{%- else -%}
use crate::support::{Credential, PASSWORD, app, app_with_limits};
{%- endif %}

#[tokio::test]
async fn login_returns_201_with_the_user_and_a_working_credential() {
    let app = app().await;
    app.create_user("ada@example.com", true, true).await;
    let response = app
        .post(
            "/login",
            json!({ "email": "Ada@Example.com", "password": PASSWORD }),
        )
        .await;
    response.assert_status(StatusCode::CREATED);
    assert_eq!(response.body["user"]["email"], "ada@example.com");
{%- if backend == "jwt" %}
    assert_eq!(response.body["token_type"], "bearer");
    let expires_in = response.body["expires_in"].as_u64().unwrap_or_default();
    assert!(expires_in > 0);
    let token = response.body["access_token"].as_str().expect("a token");
    let header = response.headers[header::AUTHORIZATION].to_str().unwrap();
    assert_eq!(header, format!("Bearer {token}"));
{%- else %}
    let cookie = response.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
{%- endif %}
    let credential = Credential::from_login(&response);
    let logout = app
        .send(Method::POST, "/logout", None, Some(&credential), &[])
        .await;
    logout.assert_status(StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401() {
    let app = app().await;
    app.create_user("ada@example.com", true, true).await;
    let wrong_password = app
        .post(
            "/login",
            json!({ "email": "ada@example.com", "password": "not the password" }),
        )
        .await;
    let unknown_email = app
        .post(
            "/login",
            json!({ "email": "nobody@example.com", "password": PASSWORD }),
        )
        .await;
    wrong_password.assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(wrong_password.body, unknown_email.body);
}

#[tokio::test]
async fn unverified_and_inactive_users_get_403_with_the_reason() {
    let app = app().await;
    app.create_user("new@example.com", false, true).await;
    app.create_user("gone@example.com", true, false).await;
    app.post(
        "/login",
        json!({ "email": "new@example.com", "password": PASSWORD }),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "not_verified");
    app.post(
        "/login",
        json!({ "email": "gone@example.com", "password": PASSWORD }),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "inactive");
}

#[tokio::test]
async fn every_login_issues_a_new_credential() {
    let app = app().await;
    let (_, first) = app.logged_in_user("ada@example.com").await;
    let second = app.login("ada@example.com", PASSWORD).await;
    assert_ne!(first.0.1, second.0.1);
    for credential in [&first, &second] {
        let response = app
            .send(Method::POST, "/logout", None, Some(credential), &[])
            .await;
        response.assert_status(StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn logout_revokes_the_credential_on_the_server() {
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    let logout = app
        .send(Method::POST, "/logout", None, Some(&credential), &[])
        .await;
    logout.assert_status(StatusCode::NO_CONTENT);
{%- if backend != "jwt" %}
    let cleared = logout.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
{%- endif %}
    // The client may keep the old credential; the server no longer accepts it.
    app.send(Method::POST, "/logout", None, Some(&credential), &[])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

#[tokio::test]
async fn logout_without_a_credential_or_with_a_forged_one_is_401() {
    let app = app().await;
    app.send(Method::POST, "/logout", None, None, &[])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    let forged = Credential::raw("forged-token");
    app.send(Method::POST, "/logout", None, Some(&forged), &[])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

#[tokio::test]
async fn a_person_who_mistypes_the_password_three_times_still_gets_in() {
    let app = app().await;
    app.create_user("ada@example.com", true, true).await;
    for _ in 0..3 {
        app.post(
            "/login",
            json!({ "email": "ada@example.com", "password": "typo typo" }),
        )
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    }
    app.login("ada@example.com", PASSWORD).await;
}

/// A quota of `burst` attempts at once, then one per `period`.
fn limits(burst: u32, period: Duration) -> RateLimits {
    let quota = Quota::with_period(period)
        .unwrap()
        .allow_burst(NonZeroU32::new(burst).unwrap());
    RateLimits {
        per_account_address: quota,
        per_account: quota,
        ..RateLimits::default()
    }
}

#[tokio::test]
async fn too_many_attempts_get_429_with_retry_after_per_account() {
    // Two attempts, then one a minute: however slow the password checks, the third is refused.
    let app = app_with_limits(limits(2, Duration::from_secs(60))).await;
    app.create_user("ada@example.com", true, true).await;
    let attempt = json!({ "email": "ada@example.com", "password": "guess guess" });
    for _ in 0..2 {
        app.post("/login", attempt.clone())
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    let limited = app.post("/login", attempt).await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let wait: u64 = limited.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds");
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    // The right password does not get around the limit either.
    let right = json!({ "email": "ada@example.com", "password": PASSWORD });
    app.post("/login", right)
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Another account is not limited by this one's attempts.
    let other = json!({ "email": "eve@example.com", "password": "guess guess" });
    app.post("/login", other)
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_client_that_waits_for_retry_after_gets_in() {
    // One attempt, then one every 3 s. A wrong attempt spends it; the next attempts are refused
    // until the wait is over (a very slow machine may need a few tries to see the 429).
    let app = app_with_limits(limits(1, Duration::from_secs(3))).await;
    app.create_user("ada@example.com", true, true).await;
    let attempt = json!({ "email": "ada@example.com", "password": "guess guess" });
    let mut wait = None;
    for _ in 0..5 {
        let response = app.post("/login", attempt.clone()).await;
        if response.status == StatusCode::TOO_MANY_REQUESTS {
            let seconds = response.headers[header::RETRY_AFTER].to_str().unwrap();
            wait = Some(seconds.parse::<u64>().expect("whole seconds"));
            break;
        }
        response.assert_status(StatusCode::UNAUTHORIZED);
    }
    let wait = wait.expect("a 429 within five quick attempts");
    assert!((1..=3).contains(&wait), "Retry-After: {wait}");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    app.login("ada@example.com", PASSWORD).await;
}
{%- if backend != "jwt" %}

#[tokio::test]
async fn the_cookie_is_secure_when_the_app_is_served_over_https() {
    let app = app_with_config(|config| config.app_url = "https://app.example".to_owned()).await;
    app.create_user("ada@example.com", true, true).await;
    let response = app
        .post(
            "/login",
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await;
    response.assert_status(StatusCode::CREATED);
    let cookie = response.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
}

#[tokio::test]
async fn a_cross_site_state_changing_request_is_refused_and_changes_nothing() {
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    for headers in [
        [("origin", "https://evil.example")],
        [("sec-fetch-site", "cross-site")],
    ] {
        app.send(Method::POST, "/logout", None, Some(&credential), &headers)
            .await
            .assert_error(StatusCode::FORBIDDEN, "cross_site_request");
    }
    // The refused requests changed nothing: the session is still there to log out of.
    let same_origin = [("origin", "http://localhost:3000")];
    app.send(
        Method::POST,
        "/logout",
        None,
        Some(&credential),
        &same_origin,
    )
    .await
    .assert_status(StatusCode::NO_CONTENT);
}
{%- else %}

#[tokio::test]
async fn a_token_with_another_signature_or_audience_is_refused() {
    use jsonwebtoken::{EncodingKey, Header, encode};

    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    let Credential((_, bearer)) = &credential;
    let token = bearer.trim_start_matches("Bearer ");
    let (payload, _) = token.rsplit_once('.').unwrap();
    let tampered = format!("{payload}.{}", "A".repeat(43));
    let app = &app;
    let logout = |credential: Credential| async move {
        app.send(Method::POST, "/logout", None, Some(&credential), &[])
            .await
            .status
    };
    assert_eq!(
        logout(Credential::raw(&tampered)).await,
        StatusCode::UNAUTHORIZED
    );
    let claims = json!({
        "sub": user.id,
        "aud": "another-service",
        "exp": chrono::Utc::now().timestamp() + 600,
        "jti": "x",
    });
    let secret = app.state.config.secret.as_bytes();
    let foreign = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap();
    assert_eq!(
        logout(Credential::raw(&foreign)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(logout(credential).await, StatusCode::NO_CONTENT);
}
{%- endif %}
