//! The floor of `bench/speed/run.sh`: the least an authenticated `GET /users/me` can cost on this
//! stack. A hand-written axum + sqlx server with one route that reads a bearer value and answers
//! one row of one indexed join, on the generated app's own database and tables.
//!
//! The benchmark copies this file into the generated app as `src/bin/bench_floor.rs`, so it is
//! built with exactly the app's crates, versions, features and release profile. It takes the pool
//! type from the app's `db::Pool` alias (nothing else of the generated code): `sqlx::SqlitePool`,
//! `sqlx::PgPool` or `sqlx::MySqlPool`.
//!
//!     DATABASE_URL=... BIND_ADDR=127.0.0.1:PORT bench_floor
//!
//! The bearer value is the stored hash of a credential (`user_tokens.token_hash`): the floor does
//! no hashing, no JWT check, no cookie parsing and no expiry check, only the look-up and the JSON.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    routing::get,
};
use serde::Serialize;
use uuid::Uuid;

use benchapp::users::db::Pool;

#[derive(Serialize, sqlx::FromRow)]
struct Me {
    id: Uuid,
    email: String,
    is_active: bool,
    is_verified: bool,
}

async fn me(State(pool): State<Pool>, headers: HeaderMap) -> Result<Json<Me>, StatusCode> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    sqlx::query_as(
        "SELECT users.id, users.email, users.is_active, users.is_verified \
         FROM user_tokens JOIN users ON users.id = user_tokens.user_id \
         WHERE user_tokens.token_hash = $1",
    )
    .bind(bearer)
    .fetch_optional(&pool)
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
    .map(Json)
    .ok_or(StatusCode::UNAUTHORIZED)
}

#[tokio::main]
async fn main() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let bind = std::env::var("BIND_ADDR").expect("BIND_ADDR");
    // sqlx's defaults (10 connections), except the ping that sqlx sends on every connection it
    // hands out by default: a floor is one round trip per request, not two.
    let pool = sqlx::pool::PoolOptions::new()
        .test_before_acquire(false)
        .connect(&url)
        .await
        .expect("connect");
    let app = Router::new().route("/users/me", get(me)).with_state(pool);
    let listener = tokio::net::TcpListener::bind(&bind).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
