//! `POST /forgot-password` and `POST /reset-password`.

use axum::http::StatusCode;
use serde_json::json;

use {{ crate_name }}::{{ module }}::tokens::Purpose;

use crate::support::{PASSWORD, TestApp, app};

const NEW_PASSWORD: &str = "a brand new password";

/// Asks `POST /forgot-password` for `email` (202) and returns the token of the link mailed.
async fn mailed_reset_token(app: &TestApp, email: &str) -> String {
    app.post("/forgot-password", json!({ "email": email }))
        .await
        .assert_status(StatusCode::ACCEPTED);
    app.mailed_token(&email.to_lowercase(), "/reset-password")
        .await
}

#[tokio::test]
async fn the_reset_link_sets_a_new_password_once() {
    let app = app().await;
    let user = app.create_user("ada@example.com", true, true).await;
    let token = mailed_reset_token(&app, "ADA@example.com").await;
    let reset = json!({ "token": token, "password": NEW_PASSWORD });
    let response = app.post("/reset-password", reset).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["id"], user.id.to_string());
    let again = json!({ "token": token, "password": "yet another one" });
    app.post("/reset-password", again)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
{%- if "auth" in handlers %}
    let old_password = json!({ "email": "ada@example.com", "password": PASSWORD });
    app.post("/login", old_password)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.login("ada@example.com", NEW_PASSWORD).await;
{%- else %}
    let _ = PASSWORD;
{%- endif %}
}
{%- if "verify" in handlers %}

/// The reset link proves the mailbox as a verification link does: an account nobody had verified
/// becomes verified, and its owner logs in with the new password.
#[tokio::test]
async fn a_reset_verifies_an_unverified_account() {
    let app = app().await;
    app.create_user("ada@example.com", false, true).await;
    let token = mailed_reset_token(&app, "ada@example.com").await;
    let reset = json!({ "token": token, "password": NEW_PASSWORD });
    let response = app.post("/reset-password", reset).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["is_verified"], true);
{%- if "auth" in handlers %}
    app.login("ada@example.com", NEW_PASSWORD).await;
{%- endif %}
}
{%- endif %}
{%- if "auth" in handlers %}

#[tokio::test]
async fn a_reset_revokes_every_session_of_the_user() {
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    let token = mailed_reset_token(&app, "ada@example.com").await;
    app.post(
        "/reset-password",
        json!({ "token": token, "password": NEW_PASSWORD }),
    )
    .await
    .assert_status(StatusCode::OK);
    app.post_as("/logout", json!({}), &credential)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
}
{%- endif %}

#[tokio::test]
async fn a_bad_new_password_is_422_and_does_not_spend_the_token() {
    let app = app().await;
    app.create_user("ada@example.com", true, true).await;
    let token = mailed_reset_token(&app, "ada@example.com").await;
    app.post(
        "/reset-password",
        json!({ "token": token, "password": "short" }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "password_too_short");
    app.post(
        "/reset-password",
        json!({ "token": token, "password": NEW_PASSWORD }),
    )
    .await
    .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn expired_and_foreign_purpose_tokens_are_400() {
    let app = app().await;
    let user = app.create_user("ada@example.com", true, true).await;
    let expired = app
        .stored_token(&user, Purpose::Reset, -chrono::Duration::minutes(1))
        .await;
    app.post(
        "/reset-password",
        json!({ "token": expired, "password": NEW_PASSWORD }),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
    let verify = app
        .stored_token(&user, Purpose::Verify, chrono::Duration::hours(1))
        .await;
    app.post(
        "/reset-password",
        json!({ "token": verify, "password": NEW_PASSWORD }),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
}

#[tokio::test]
async fn a_reset_drops_every_other_mail_link_of_the_account() {
    let app = app().await;
    let user = app.create_user("ada@example.com", true, true).await;
    let verify = app
        .stored_token(&user, Purpose::Verify, chrono::Duration::hours(1))
        .await;
    let reset = app
        .stored_token(&user, Purpose::Reset, chrono::Duration::hours(1))
        .await;
    let other_reset = app
        .stored_token(&user, Purpose::Reset, chrono::Duration::hours(1))
        .await;
    let body = json!({ "token": reset, "password": "a brand new password" });
    app.post("/reset-password", body)
        .await
        .assert_status(StatusCode::OK);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_tokens")
        .fetch_one(&app.state.db)
        .await
        .expect("a count");
    assert_eq!(left, 0, "the reset left tokens behind");
    let again = json!({ "token": other_reset, "password": "yet another password" });
    app.post("/reset-password", again)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
{%- if "verify" in handlers %}
    app.post("/verify", json!({ "token": verify }))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
{%- else %}
    let _ = verify;
{%- endif %}
}
{%- if "current-user" in handlers %}

/// Finding 1 of the review: a change of address asked by whoever took the password must not
/// outlive the owner's reset.
#[tokio::test]
async fn a_reset_drops_a_pending_email_change() {
    use {{ crate_name }}::{{ module }}::{db, email_changes, tokens};
    let app = app().await;
    let user = app.create_user("ada@example.com", true, true).await;
    let (_, token_hash) = tokens::generate();
    let expires_at = db::expires_in(std::time::Duration::from_secs(3600));
    let stored = email_changes::store_email_change(
        &app.state.db,
        user.id,
        "mallory@evil.example",
        &token_hash,
        expires_at,
    )
    .await
    .expect("a pending change");
    assert!(stored);
    let reset = app
        .stored_token(&user, Purpose::Reset, chrono::Duration::hours(1))
        .await;
    let body = json!({ "token": reset, "password": NEW_PASSWORD });
    app.post("/reset-password", body)
        .await
        .assert_status(StatusCode::OK);
    let pending = email_changes::pending_email(&app.state.db, user.id)
        .await
        .expect("a query");
    assert_eq!(pending, None, "the pending change outlived the reset");
}
{%- endif %}
{%- if "auth" in handlers %}

// A handler and its hooks in one transaction (0.2.0).

#[tokio::test]
async fn a_login_with_the_old_password_racing_a_reset_gets_no_credential() {
    use {{ crate_name }}::{{ module }}::db;

    let app = app().await;
    let user = app.create_user("ada@example.com", true, true).await;
    // A reset of the account in flight: it has set the new hash and commits later.
    let reset = app.reset_in_flight(&user, NEW_PASSWORD).await;
    let login = app.post(
        "/login",
        json!({ "email": "ada@example.com", "password": PASSWORD }),
    );
    let commit = async {
        app.wait_until_a_write_waits().await;
        db::finish(reset, Ok(())).await.expect("the reset commits");
    };
    let (response, ()) = tokio::join!(login, commit);
    // The old password was right when the login read the account, but the reset came first.
    response.assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.post(
        "/login",
        json!({ "email": "ada@example.com", "password": NEW_PASSWORD }),
    )
    .await
    .assert_status(StatusCode::CREATED);
}
{%- endif %}
