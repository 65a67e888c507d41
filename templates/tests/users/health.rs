//! `GET /health`: 200 while the database answers, 503 in the error shape when it does not.

use {{ crate_name }}::{{ module }}::health::health;

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use http_body_util::BodyExt;
use serde_json::Value;

use crate::support::app;

/// The status and JSON body of the health check on `state`.
async fn check(state: &{{ crate_name }}::{{ module }}::UsersState) -> (StatusCode, Value) {
    let response = health(State(state.clone())).await.into_response();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).expect("a JSON body"))
}

#[tokio::test]
async fn health_is_200_while_the_database_answers_and_503_when_it_does_not() {
    let app = app().await;
    let (status, body) = check(&app.state).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");

    // A closed pool cannot reach the database, as when the server is down.
    app.state.db.close().await;
    let (status, body) = check(&app.state).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status_code"], 503);
    assert_eq!(body["code"], "database_unavailable");
}
