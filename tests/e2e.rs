//! End-to-end tests: for each auth backend, generate an app with `cargo users new`, hold it to
//! `cargo fmt --check`, `cargo clippy --all-targets -- -D warnings` and its own `cargo test`, build
//! it, start the server against a real SMTP sink on loopback, and walk the HTTP API of contract
//! section 3 over real HTTP.
//!
//! Slow: the first run builds the generated apps' dependencies (minutes) into one target folder
//! shared by all backends and kept between runs, `target/e2e-projects` (see `project.rs`).
//! `CARGO_USERS_E2E_KEEP=1` keeps the generated projects, their database and server logs.

#[path = "e2e/auth.rs"]
mod auth;
#[path = "e2e/checks.rs"]
mod checks;
#[path = "e2e/http.rs"]
mod http;
#[path = "e2e/mime.rs"]
mod mime;
#[path = "e2e/project.rs"]
mod project;
#[path = "e2e/smtp.rs"]
mod smtp;
#[path = "e2e/walk.rs"]
mod walk;

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use auth::Backend;
use http::Client;
use project::{Project, Server};
use smtp::SmtpSink;
use walk::App;

/// Generates, checks, builds and serves the app for `backend`, then walks the contract.
fn generated_app_builds_and_serves_the_contract(backend: Backend) {
    let project = Project::generate(&format!("e2e-{}", backend.name()), backend.name());
    project.cargo(&["fmt", "--check"]);
    project.cargo(&["clippy", "--all-targets", "--", "-D", "warnings"]);
    project.cargo(&["test"]);
    project.cargo(&["build"]);

    let sink = SmtpSink::start();
    let server = Server::start(
        &project.binary(),
        &project.dir,
        &project.scratch,
        &sink.url(),
    );
    let app = App {
        client: Client::new(server.port),
        app_url: server.app_url.clone(),
        backend,
        mail: &sink,
    };
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| walk::contract(&app))) {
        eprintln!(
            "the {} app broke the contract (project in {}); what it logged and mailed:\n{}\n--- mails ---\n{}",
            backend.name(),
            project.dir.display(),
            server.logs(),
            sink.summary()
        );
        resume_unwind(panic);
    }
}

#[test]
fn session_backend_app_builds_passes_its_tests_and_serves_the_contract() {
    generated_app_builds_and_serves_the_contract(Backend::Session);
}

#[test]
fn jwt_backend_app_builds_passes_its_tests_and_serves_the_contract() {
    generated_app_builds_and_serves_the_contract(Backend::Jwt);
}

#[test]
fn jwt_cookie_backend_app_builds_passes_its_tests_and_serves_the_contract() {
    generated_app_builds_and_serves_the_contract(Backend::JwtCookie);
}
