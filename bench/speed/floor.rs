//! The floor of `bench/speed/run.sh`: the least an authenticated `GET /users/me` can cost on this
//! stack. A hand-written axum + sqlx server with one route that reads a bearer value and answers
//! one row of one indexed join, on the generated app's own database and tables.
//!
//! The benchmark copies this file into the generated app as `src/bin/bench_floor.rs`, so it is
//! built with exactly the app's crates, versions, features and release profile. It takes the pool
//! type from the app's `db::Pool` alias (nothing else of the generated code): `sqlx::SqlitePool`,
//! `sqlx::PgPool` or `sqlx::MySqlPool`.
//!
//!     DATABASE_URL=... BIND_ADDR=127.0.0.1:PORT [FLOOR_QUERY=app] bench_floor
//!
//! The bearer value is the stored hash of a credential (`user_tokens.token_hash`): the floor does
//! no hashing, no JWT check, no cookie parsing and no expiry check, only the look-up and the JSON.
//!
//! With `FLOOR_QUERY=app` the same route runs the app's own look-up instead,
//! `db::find_user_by_token` (the statement every authenticated request of the app runs: the
//! credential's expiry, the active flag, the roles and the pending address, and its decoding), and
//! answers the app's `User`: what the app's request costs without its layers, credential parsing
//! and connection keeping. The benchmark runs both, so a ratio tells which part of the gap is the
//! statement.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    routing::get,
};
use serde::Serialize;
use uuid::Uuid;

use benchapp::users::{
    backend::CREDENTIAL,
    db::{self, Pool},
    model::User,
};

#[derive(Serialize, sqlx::FromRow)]
struct Me {
    id: Uuid,
    email: String,
    is_active: bool,
    is_verified: bool,
}

fn bearer(headers: &HeaderMap) -> Result<&str, StatusCode> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)
}

async fn me(State(pool): State<Pool>, headers: HeaderMap) -> Result<Json<Me>, StatusCode> {
    let bearer = bearer(&headers)?;
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

/// `FLOOR_QUERY=app`: the app's own look-up and user.
async fn me_by_the_apps_query(
    State(pool): State<Pool>,
    headers: HeaderMap,
) -> Result<Json<User>, StatusCode> {
    let bearer = bearer(&headers)?;
    db::find_user_by_token(&pool, CREDENTIAL, bearer)
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
    let route = match std::env::var("FLOOR_QUERY").as_deref() {
        Ok("app") => get(me_by_the_apps_query),
        _ => get(me),
    };
    let app = Router::new().route("/users/me", route).with_state(pool);
    let listener = tokio::net::TcpListener::bind(&bind).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
