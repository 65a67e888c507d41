//! `GET /users/me` and `PATCH /users/me`.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{PASSWORD, app};

#[tokio::test]
async fn get_me_returns_the_logged_in_user_and_401_anonymously() {
    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    let response = app.get("/users/me", Some(&credential)).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["id"], user.id.to_string());
    assert_eq!(response.body["email"], "ada@example.com");
    assert!(response.body.get("password_hash").is_none());
    app.get("/users/me", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one() {
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    app.patch_as(
        "/users/me",
        json!({ "password": "a new password" }),
        &credential,
    )
    .await
    .assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "current_password_required",
    );
    let wrong = json!({ "password": "a new password", "current_password": "not it at all" });
    app.patch_as("/users/me", wrong, &credential)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_current_password");
    app.post(
        "/login",
        json!({ "email": "ada@example.com", "password": PASSWORD }),
    )
    .await
    .assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn a_new_password_revokes_every_other_session_but_not_this_one() {
    let app = app().await;
    let (_, this) = app.logged_in_user("ada@example.com").await;
    let other = app.login("ada@example.com", PASSWORD).await;
    let change = json!({ "password": "a new password", "current_password": PASSWORD });
    app.patch_as("/users/me", change, &this)
        .await
        .assert_status(StatusCode::OK);
    app.get("/users/me", Some(&this))
        .await
        .assert_status(StatusCode::OK);
    app.get("/users/me", Some(&other))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    app.login("ada@example.com", "a new password").await;
}

#[tokio::test]
async fn a_new_email_is_saved{% if "verify" in handlers %}_unverified_and_gets_a_verification_mail{% endif %}() {
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    let change = json!({ "email": "ada@new.example", "current_password": PASSWORD });
    let response = app.patch_as("/users/me", change, &credential).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["email"], "ada@new.example");
{%- if "verify" in handlers %}
    assert_eq!(response.body["is_verified"], false);
    let token = app.mailed_token("ada@new.example", "/verify").await;
    app.post("/verify", json!({ "token": token }))
        .await
        .assert_status(StatusCode::OK);
{%- endif %}
}

#[tokio::test]
async fn a_taken_email_is_409_and_a_bad_one_422() {
    let app = app().await;
    app.create_user("taken@example.com", true, true).await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    let taken = json!({ "email": "TAKEN@example.com", "current_password": PASSWORD });
    app.patch_as("/users/me", taken, &credential)
        .await
        .assert_error(StatusCode::CONFLICT, "email_taken");
    let bad = json!({ "email": "not an email", "current_password": PASSWORD });
    app.patch_as("/users/me", bad, &credential)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_email");
}

#[tokio::test]
async fn privileged_fields_are_ignored() {
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    let sneaky = json!({ "is_active": false, "is_verified": false, "roles": ["admin"], "id": "x" });
    let response = app.patch_as("/users/me", sneaky, &credential).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["is_active"], true);
    assert_eq!(response.body["is_verified"], true);
}
