//! `POST /verify` and `POST /verify/resend`.

use axum::http::StatusCode;
use serde_json::json;

use {{ crate_name }}::{{ module }}::{
    config::VERIFY_TOKEN_TTL,
    db,
    tokens::{self, Purpose},
};

{% if "auth" in handlers -%}
use crate::support::{Credential, app};
{%- else -%}
use crate::support::app;
{%- endif %}

#[tokio::test]
async fn the_link_in_the_verification_mail_verifies_the_user_once() {
    let app = app().await;
    let user = app.create_user("ada@example.com", false, true).await;
    app.post("/verify/resend", json!({ "email": "ada@example.com" }))
        .await
        .assert_status(StatusCode::ACCEPTED);
    let token = app.mailed_token("ada@example.com", "/verify").await;
    let response = app.post(&format!("/verify?token={token}"), json!({})).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["id"], user.id.to_string());
    assert_eq!(response.body["is_verified"], true);
    app.post(&format!("/verify?token={token}"), json!({}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
}
{%- if "register" in handlers %}

#[tokio::test]
async fn registering_mails_a_verification_link_that_also_works_as_a_json_body() {
    let app = app().await;
    app.post(
        "/register",
        json!({ "email": "ada@example.com", "password": crate::support::PASSWORD }),
    )
    .await
    .assert_status(StatusCode::CREATED);
    let token = app.mailed_token("ada@example.com", "/verify").await;
    let response = app.post("/verify", json!({ "token": token })).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["is_verified"], true);
}
{%- endif %}

#[tokio::test]
async fn unknown_expired_and_foreign_purpose_tokens_are_400() {
    let app = app().await;
    let user = app.create_user("ada@example.com", false, true).await;
    app.post("/verify", json!({ "token": "no-such-token" }))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");

    let expired = app
        .stored_token(&user, Purpose::Verify, -chrono::Duration::minutes(1))
        .await;
    app.post("/verify", json!({ "token": expired }))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");

    let reset = app
        .stored_token(&user, Purpose::Reset, chrono::Duration::hours(1))
        .await;
    app.post("/verify", json!({ "token": reset }))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
}
{%- if "auth" in handlers %}

#[tokio::test]
async fn a_verification_token_is_never_accepted_as_a_credential() {
    let app = app().await;
    app.create_user("ada@example.com", false, true).await;
    app.post("/verify/resend", json!({ "email": "ada@example.com" }))
        .await
        .assert_status(StatusCode::ACCEPTED);
    let token = app.mailed_token("ada@example.com", "/verify").await;
    let as_credential = Credential::raw(&token);
{%- if "current-user" in handlers %}
    app.get("/users/me", Some(&as_credential))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
{%- endif %}
    app.post_as("/logout", json!({}), &as_credential)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    // Refused as a credential, the token still verifies.
    app.post("/verify", json!({ "token": token }))
        .await
        .assert_status(StatusCode::OK);
}
{%- endif %}

/// How many tokens of any purpose (sessions, access tokens, mail links) are stored.
async fn stored_tokens(app: &crate::support::TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM user_tokens")
        .fetch_one(&app.state.db)
        .await
        .expect("a count")
}

#[tokio::test]
async fn verifying_an_account_drops_every_token_that_someone_else_could_hold() {
    // Someone registered the owner's address and holds tokens of the account; the owner then
    // verifies the address with the link mailed to it.
    let app = app().await;
    let user = app.create_user("ada@example.com", false, true).await;
    let reset = app
        .stored_token(&user, Purpose::Reset, chrono::Duration::hours(1))
        .await;
    let verify = app
        .stored_token(&user, Purpose::Verify, chrono::Duration::hours(1))
        .await;
    let older_verify = app
        .stored_token(&user, Purpose::Verify, chrono::Duration::hours(1))
        .await;
    assert_eq!(stored_tokens(&app).await, 3);
    app.post("/verify", json!({ "token": verify }))
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(stored_tokens(&app).await, 0);
    app.post("/verify", json!({ "token": older_verify }))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
{%- if "password-reset" in handlers %}
    let stolen = json!({ "token": reset, "password": "the squatter's password" });
    app.post("/reset-password", stolen)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
{%- else %}
    let _ = reset;
{%- endif %}
}

// A handler and its hooks in one transaction (0.2.0).

#[tokio::test]
async fn more_verifications_at_once_than_the_pool_has_connections_all_succeed() {
    // Each verification holds one connection for its transaction; one that asked the pool for a
    // second connection meanwhile would wait for the others, which wait for it.
    let app = app().await;
    let count = app.state.db.options().get_max_connections() as usize * 3;
    let mut requests = Vec::new();
    for n in 0..count {
        let user = app
            .create_user(&format!("user{n}@example.com"), false, true)
            .await;
        let (token, token_hash) = tokens::generate();
        db::insert_token(
            &app.state.db,
            user.id,
            Purpose::Verify,
            &token_hash,
            db::expires_in(VERIFY_TOKEN_TTL),
        )
        .await
        .expect("a token");
        requests.push(("/verify".to_owned(), json!({ "token": token })));
    }
    for (n, response) in app.post_all_at_once(requests).await.iter().enumerate() {
        assert_eq!(
            response.status,
            StatusCode::OK,
            "verification {n} of {count}: {}",
            response.body
        );
        assert_eq!(response.body["is_verified"], true);
    }
}
