//! `GET /health`: whether this instance can serve, for load balancers and orchestrators. The app
//! mode `main.rs` routes it outside the authentication layer; in your own `main`, add
//! `.route(health::HEALTH_PATH, get(health::health))` the same way.

use std::time::Duration;

use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use super::{UsersState, db, error::ApiError};

/// The path of the health check.
pub const HEALTH_PATH: &str = "/health";
/// How long the database may take to answer before the instance is reported unhealthy. A probe
/// must get an answer before its own timeout, even when the database hangs.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// 200 `{"status": "ok"}` when the database answers within [`HEALTH_TIMEOUT`]; 503
/// `database_unavailable` (in the error shape) when it does not, so the load balancer sends the
/// traffic elsewhere. The cause goes to the log, not to the caller.
pub async fn health(State(state): State<UsersState>) -> Result<Json<Value>, ApiError> {
    match tokio::time::timeout(HEALTH_TIMEOUT, db::ping(&state.db)).await {
        Ok(Ok(())) => Ok(Json(json!({ "status": "ok" }))),
        Ok(Err(error)) => {
            tracing::warn!("health check: the database failed: {error}");
            Err(unavailable())
        }
        Err(_) => {
            tracing::warn!("health check: no answer from the database within {HEALTH_TIMEOUT:?}");
            Err(unavailable())
        }
    }
}

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "The database does not answer.",
    )
}
