//! `POST /register`.

use axum::http::StatusCode;
use serde_json::json;

use {{ crate_name }}::{{ module }}::{
    db::{self, NewUser},
    error::ApiError,
};

use crate::support::{PASSWORD, app};

#[tokio::test]
async fn registering_returns_201_and_the_user_without_any_password_field() {
    let app = app().await;
    let response = app
        .post(
            "/register",
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await;
    response.assert_status(StatusCode::CREATED);
    let user = response.body.as_object().expect("a user object");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["is_active"], true);
{%- if "verify" in handlers %}
    assert_eq!(user["is_verified"], false);
{%- else %}
    assert_eq!(user["is_verified"], true);
{%- endif %}
    assert!(user["id"].as_str().is_some_and(|id| id.len() == 36));
    let text = response.body.to_string();
    assert!(
        !text.contains("password") && !text.contains("argon2"),
        "{text}"
    );
}

#[tokio::test]
async fn registering_a_taken_email_in_any_letter_case_is_409() {
    let app = app().await;
    app.post(
        "/register",
        json!({ "email": "ada@example.com", "password": PASSWORD }),
    )
    .await
    .assert_status(StatusCode::CREATED);
    app.post(
        "/register",
        json!({ "email": "ADA@Example.com", "password": PASSWORD }),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "email_taken");
}

#[tokio::test]
async fn a_bad_email_or_a_password_of_the_wrong_length_is_422() {
    let app = app().await;
    for email in ["", "not-an-email", "a@", "@b.io", "a b@c.io"] {
        app.post("/register", json!({ "email": email, "password": PASSWORD }))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_email");
    }
    app.post(
        "/register",
        json!({ "email": "ada@example.com", "password": "7 chars" }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "password_too_short");
    let huge = "x".repeat(1025);
    app.post(
        "/register",
        json!({ "email": "ada@example.com", "password": huge }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "password_too_long");
    app.post(
        "/register",
        json!({ "email": "ada@example.com", "password": "8 chars!" }),
    )
    .await
    .assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn privileged_fields_in_the_body_are_ignored() {
    let app = app().await;
    let response = app
        .post(
            "/register",
            json!({
                "email": "mallory@example.com",
                "password": PASSWORD,
                "is_verified": true,
                "is_active": false,
                "roles": ["admin"],
                "id": "00000000-0000-0000-0000-000000000000",
            }),
        )
        .await;
    response.assert_status(StatusCode::CREATED);
    assert_eq!(response.body["is_active"], true);
{%- if "verify" in handlers %}
    assert_eq!(response.body["is_verified"], false);
{%- endif %}
    assert_ne!(response.body["id"], "00000000-0000-0000-0000-000000000000");
}

#[tokio::test]
async fn malformed_json_is_400_a_missing_field_422_and_a_wrong_content_type_415() {
    let app = app().await;
    app.post_raw("/register", "application/json", r#"{"email": "#)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "malformed_json");
    app.post("/register", json!({ "email": "ada@example.com" }))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    app.post("/register", json!({ "email": 42, "password": PASSWORD }))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    let body = json!({ "email": "ada@example.com", "password": PASSWORD }).to_string();
    app.post_raw("/register", "text/plain", &body)
        .await
        .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
}

// A handler and its hooks in one transaction (0.2.0).

#[tokio::test]
async fn a_transaction_that_ends_in_an_error_keeps_nothing_it_wrote_and_the_address_stays_free() {
    let app = app().await;
    let password_hash = app
        .state
        .passwords
        .hash(PASSWORD.to_owned())
        .await
        .expect("a hash");
    let mut transaction = db::begin(&app.state.db).await.expect("a transaction");
    let new_user = NewUser {
        email: "ada@example.com",
        password_hash,
        is_active: true,
        is_verified: false,
    };
    let user = db::create_user(&mut *transaction, new_user)
        .await
        .expect("a user in the transaction");
    // What a handler does when a hook returns an error after the user was written.
    let failed: Result<(), ApiError> =
        Err(ApiError::unprocessable("hook_failed", "A hook failed."));
    let error = db::finish(transaction, failed)
        .await
        .expect_err("the hook's error is the outcome");
    assert_eq!(error.code, "hook_failed");
    let kept = db::find_user_by_id(&app.state.db, user.id)
        .await
        .expect("a look-up");
    assert!(kept.is_none(), "the rolled-back user is still there");
    // Trying again is a first attempt, not "email taken"; and it does not wait for locks the
    // rolled-back transaction held.
    app.post(
        "/register",
        json!({ "email": "ada@example.com", "password": PASSWORD }),
    )
    .await
    .assert_status(StatusCode::CREATED);
{%- if "verify" in handlers %}
    // Exactly one verification mail: the retry's.
    app.wait_for_mails("ada@example.com", 1).await;
    assert_eq!(app.mails_to("ada@example.com"), 1);
{%- endif %}
}
