//! The {{ package }} server.
//!
//! `cargo run` serves the API; `cargo run -- users --help` lists the management commands.
//! Configuration comes from the environment and `.env` (see `.env.example`).

use std::{net::SocketAddr, process::ExitCode};

use axum::{Router, middleware};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

{% if backend == "jwt" -%}
use {{ crate_name }}::{{ module }}::{self, UsersState, error::not_found, layers::require_auth};
{%- else -%}
use {{ crate_name }}::{{ module }}::{
    self, UsersState,
    error::not_found,
    layers::{csrf, require_auth},
};
{%- endif %}

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Manage users.
    #[command(subcommand)]
    Users({{ module }}::cli::UsersCommand),
}

#[tokio::main]
async fn main() -> ExitCode {
    // A missing `.env` is fine: the variables may come from the environment.
    let _ = dotenvy::dotenv();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    let state = match UsersState::from_env().await {
        Ok(state) => state,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => match serve(state).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Users(command) => match {{ module }}::cli::run(&state, command).await {
            Ok(message) => {
                println!("{message}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve(state: UsersState) -> std::io::Result<()> {
    let app = Router::new()
        .merge({{ module }}::router(state.clone()))
        // Add your own routes here. Everything above `require_auth` needs a logged-in user,
        // except the paths in `users::config::AUTH_EXCLUDE_PATHS`.
        .route_layer(middleware::from_fn_with_state(state.clone(), require_auth))
{%- if backend != "jwt" %}
        // The credential is a cookie, which browsers attach to requests other sites make them
        // send: refuse cross-site POST, PUT, PATCH and DELETE on your routes too (403).
        .route_layer(middleware::from_fn_with_state(state.clone(), csrf))
{%- endif %}
        // Below `require_auth`: load balancers probe it anonymously.
        .route(
            {{ module }}::health::HEALTH_PATH,
            axum::routing::get({{ module }}::health::health),
        )
        .fallback(not_found)
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind(state.config.bind_addr).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        // The client address feeds the per-address rate limits.
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
}

/// Ctrl-C, or SIGTERM (what orchestrators send to stop a process): the server then stops
/// accepting connections, finishes the requests in flight and `main` exits 0.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing the requests in flight");
}
