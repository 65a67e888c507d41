//! `POST /register`.

use axum::http::StatusCode;
use serde_json::json;

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
