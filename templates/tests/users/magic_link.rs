//! `POST /magic-link` and `POST /magic-link/login`. Their lifetime, single use under a race, only
//! the newest link working and the answers that tell nothing are tested with the other mailed
//! links, in `tokens.rs`.

use std::{num::NonZeroU32, time::Duration};

use axum::http::{StatusCode, header};
use governor::Quota;
use serde_json::json;

use {{ crate_name }}::{{ module }}::{config::RateLimits, db, tokens::Purpose};

use crate::support::{Credential, PASSWORD, TestApp, TestResponse, app, app_with_limits};

/// Asks for a login link to `email` and returns its token.
async fn mailed_link(app: &TestApp, email: &str) -> String {
    app.post("/magic-link", json!({ "email": email }))
        .await
        .assert_status(StatusCode::ACCEPTED);
    app.mailed_token(email, "/magic-link").await
}

/// Logs in with the token of a login link.
async fn log_in_with(app: &TestApp, token: &str) -> TestResponse {
    app.post("/magic-link/login", json!({ "token": token }))
        .await
}

#[tokio::test]
async fn the_login_link_logs_in_as_a_password_login_does() {
    let app = app().await;
    let user = app.create_user("ada@example.com", true, true).await;
    // The address in any letter case.
    app.post("/magic-link", json!({ "email": "ADA@example.com" }))
        .await
        .assert_status(StatusCode::ACCEPTED);
    let token = app.mailed_token("ada@example.com", "/magic-link").await;
    let response = log_in_with(&app, &token).await;
    response.assert_status(StatusCode::CREATED);
    assert_eq!(response.body["user"]["id"], user.id.to_string());
    assert_eq!(response.body["user"]["email"], "ada@example.com");
    assert!(response.body["user"].get("password_hash").is_none());
{%- if backend == "jwt" %}
    assert_eq!(response.body["token_type"], "bearer");
{%- endif %}
    let credential = Credential::from_login(&response);
    app.post_as("/logout", json!({}), &credential)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    // The link login did not touch the password of a verified account.
    app.login("ada@example.com", PASSWORD).await;
}

#[tokio::test]
async fn the_token_also_works_in_the_query_string_and_only_once() {
    let app = app().await;
    app.create_user("ada@example.com", true, true).await;
    let token = mailed_link(&app, "ada@example.com").await;
    let path = format!("/magic-link/login?token={token}");
    app.post(&path, json!({}))
        .await
        .assert_status(StatusCode::CREATED);
    app.post(&path, json!({}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
}

#[tokio::test]
async fn an_unknown_token_or_a_link_of_another_kind_is_400() {
    let app = app().await;
    let user = app.create_user("ada@example.com", true, true).await;
    log_in_with(&app, "not-a-token")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
    // A reset link (or any other mailed link) is not a login link.
    let reset = app
        .stored_token(&user, Purpose::Reset, chrono::Duration::minutes(10))
        .await;
    log_in_with(&app, &reset)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
    app.post("/magic-link/login", json!({}))
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_deactivated_account_is_403_and_gets_no_credential() {
    let app = app().await;
    let mut user = app.create_user("ada@example.com", true, true).await;
    let token = mailed_link(&app, "ada@example.com").await;
    // Deactivated after the link went out.
    user.is_active = false;
    db::update_user(&app.state.db, &mut user)
        .await
        .expect("a deactivation");
    let response = log_in_with(&app, &token).await;
    response.assert_error(StatusCode::FORBIDDEN, "inactive");
    assert!(response.headers.get(header::SET_COOKIE).is_none());
    assert!(response.body.get("access_token").is_none());
}

#[tokio::test]
async fn a_deactivation_that_commits_while_the_link_login_waits_is_403() {
    let app = app().await;
    let user = app.create_user("ada@example.com", true, true).await;
    let token = mailed_link(&app, "ada@example.com").await;
    // An admin's deactivation in flight: it holds the account and commits later, after the login
    // has read the account as active and queued for its lock.
    let mut deactivation = db::begin(&app.state.db).await.expect("a transaction");
    db::lock_user(&mut deactivation, user.id)
        .await
        .expect("the account's lock")
        .expect("the account");
    let sql = {% filter sql(db=db) %}"UPDATE users SET is_active = FALSE WHERE id = $1"{% endfilter %};
    sqlx::query(sql)
        .bind(user.id)
        .execute(&mut *deactivation)
        .await
        .expect("the deactivation");
    let commit = async {
        app.wait_until_a_write_waits().await;
        db::finish(deactivation, Ok(()))
            .await
            .expect("the deactivation commits");
    };
    let (response, ()) = tokio::join!(log_in_with(&app, &token), commit);
    // Checked again under the account's lock: 403, not a credential (nor the 401 of a credential
    // refused at its insert).
    response.assert_error(StatusCode::FORBIDDEN, "inactive");
}

#[tokio::test]
async fn opening_the_link_verifies_an_unverified_account() {
    let app = app().await;
    app.create_user("ada@example.com", false, true).await;
    let token = mailed_link(&app, "ada@example.com").await;
    let response = log_in_with(&app, &token).await;
    response.assert_status(StatusCode::CREATED);
    assert_eq!(response.body["user"]["is_verified"], true);
    let stored = db::find_user_by_email(&app.state.db, "ada@example.com")
        .await
        .expect("a look-up")
        .expect("the account");
    assert!(stored.is_verified);
}

#[tokio::test]
async fn claiming_an_account_someone_else_registered_discards_their_password_and_links() {
    // Someone registered the owner's address with a password of their own (it was never
    // verified) and asked for a reset link to it; then the owner logs in with a login link.
    let app = app().await;
    let user = app.create_user("ada@example.com", false, true).await;
    let planted = app
        .stored_token(&user, Purpose::Reset, chrono::Duration::minutes(10))
        .await;
    let token = mailed_link(&app, "ada@example.com").await;
    let response = log_in_with(&app, &token).await;
    response.assert_status(StatusCode::CREATED);
    // The owner's new credential outlived the claim...
    let credential = Credential::from_login(&response);
    app.post_as("/logout", json!({}), &credential)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    // ...the registrant's password no longer opens the account, now verified...
    app.post(
        "/login",
        json!({ "email": "ada@example.com", "password": PASSWORD }),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    // ...and the links they could hold are gone.
    assert!(
        app.token_expiries(&user, Purpose::Reset).await.is_empty(),
        "a reset token ({planted}) survived the claim"
    );
}

#[tokio::test]
async fn asking_for_links_too_often_is_429_with_retry_after() {
    let quota = |burst| {
        Quota::with_period(Duration::from_secs(600))
            .unwrap()
            .allow_burst(NonZeroU32::new(burst).unwrap())
    };
    let app = app_with_limits(RateLimits {
        per_account_address: quota(3),
        ..RateLimits::default()
    })
    .await;
    app.create_user("ada@example.com", true, true).await;
    for _ in 0..3 {
        app.post("/magic-link", json!({ "email": "ada@example.com" }))
            .await
            .assert_status(StatusCode::ACCEPTED);
    }
    let limited = app
        .post("/magic-link", json!({ "email": "ada@example.com" }))
        .await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    // An address with no account is counted the same way: the 429 tells nothing either.
    for _ in 0..3 {
        app.post("/magic-link", json!({ "email": "nobody@example.com" }))
            .await
            .assert_status(StatusCode::ACCEPTED);
    }
    app.post("/magic-link", json!({ "email": "nobody@example.com" }))
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}
{%- if "current-user" in handlers %}

#[tokio::test]
async fn a_new_password_ends_the_login_links_as_it_ends_the_sessions() {
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    let token = mailed_link(&app, "ada@example.com").await;
    let change = json!({ "password": "a brand new password", "current_password": PASSWORD });
    app.patch_as("/users/me", change, &credential)
        .await
        .assert_status(StatusCode::OK);
    log_in_with(&app, &token)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
}
{%- endif %}
