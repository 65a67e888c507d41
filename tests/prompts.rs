//! The interactive prompts, driven through a pseudo-terminal: the real binary asks for the
//! backend, the database and the handlers, and the answers end up in `cargo-users.toml`.

#![cfg(unix)]

mod common;

use std::process::Command;

use common::Pkg;
use rexpect::session::{PtySession, spawn_command};

const DOWN: &str = "\x1b[B";
const UP: &str = "\x1b[A";
const ENTER: &str = "\r";
const SPACE: &str = " ";

fn spawn(pkg: &Pkg, args: &[&str]) -> PtySession {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("cargo-users"));
    cmd.args(args)
        .current_dir(pkg.root())
        .env("NO_COLOR", "1")
        .env("TERM", "xterm-256color");
    spawn_command(cmd, Some(30_000)).expect("spawn in a pty")
}

fn finish(mut p: PtySession) {
    p.exp_string("created cargo-users.toml")
        .expect("init finished");
    p.exp_eof().expect("exit");
}

#[test]
fn the_three_prompts_set_backend_database_and_handlers() {
    let pkg = Pkg::hello();
    let mut p = spawn(&pkg, &["init"]);
    p.exp_string("Auth backend").unwrap();
    p.send(DOWN).unwrap(); // session -> jwt
    p.send(ENTER).unwrap();
    p.flush().unwrap();
    // Each choice is echoed by its name alone, without the menu's descriptions (the echo's
    // separator is not ASCII, which the pty reader mangles, so only what follows it is matched).
    p.exp_string(" jwt\r\n").unwrap();
    p.exp_string("Database").unwrap();
    p.send(DOWN).unwrap(); // sqlite -> postgres
    p.send(ENTER).unwrap();
    p.flush().unwrap();
    p.exp_string("Handlers").unwrap();
    // Untick the third handler (verify); the defaults are pre-checked.
    p.send(DOWN).unwrap();
    p.send(DOWN).unwrap();
    p.send(SPACE).unwrap();
    p.send(ENTER).unwrap();
    p.flush().unwrap();
    p.exp_string(" auth, register, password-reset, current-user\r\n")
        .unwrap();
    finish(p);
    let record = pkg.record();
    assert_eq!(record["backend"].as_str(), Some("jwt"));
    assert_eq!(record["database"].as_str(), Some("postgres"));
    assert_eq!(
        pkg.recorded_handlers(),
        ["auth", "register", "password-reset", "current-user"]
    );
}

/// (0.3.0) Eleven handlers: the menu groups them by what most apps want (the defaults first,
/// then the admin pages, other ways to sign in, the API's description), which is not the
/// manifest's order (`totp` is offered before `openapi`, rendered after it); the echo names the
/// picks in the menu's order, the record keeps the manifest's.
#[test]
fn the_handler_menu_is_grouped_and_its_echo_names_the_picks_only() {
    let pkg = Pkg::hello();
    let mut p = spawn(&pkg, &["init", "--backend", "session", "--db", "sqlite"]);
    p.exp_string("Handlers").unwrap();
    for row in [
        "essentials",
        "auth",
        "register",
        "verify",
        "password-reset",
        "current-user",
        "admin",
        "role-management",
        "user-management",
        "sign-in",
        "oauth2",
        "magic-link",
        "totp",
        "api docs",
        "openapi",
    ] {
        p.exp_string(row)
            .unwrap_or_else(|e| panic!("the menu row {row:?}: {e}"));
    }
    // From the first row, up wraps to the last (openapi), then totp above it.
    p.send(UP).unwrap();
    p.send(SPACE).unwrap();
    p.send(UP).unwrap();
    p.send(SPACE).unwrap();
    p.send(ENTER).unwrap();
    p.flush().unwrap();
    p.exp_string(" auth, register, verify, password-reset, current-user, totp, openapi\r\n")
        .unwrap();
    finish(p);
    assert_eq!(
        pkg.recorded_handlers(),
        [
            "auth",
            "register",
            "verify",
            "password-reset",
            "current-user",
            "openapi",
            "totp"
        ]
    );
}

#[test]
fn only_the_choices_not_given_as_flags_are_asked() {
    let pkg = Pkg::hello();
    let mut p = spawn(&pkg, &["init", "--backend", "jwt-cookie", "--db", "sqlite"]);
    p.exp_string("Handlers").unwrap();
    p.send(ENTER).unwrap(); // keep the defaults
    p.flush().unwrap();
    finish(p);
    let record = pkg.record();
    assert_eq!(record["backend"].as_str(), Some("jwt-cookie"));
    assert_eq!(
        pkg.recorded_handlers(),
        [
            "auth",
            "register",
            "verify",
            "password-reset",
            "current-user"
        ]
    );
}

#[test]
fn yes_never_prompts_even_on_a_terminal() {
    let pkg = Pkg::hello();
    let p = spawn(&pkg, &["init", "--yes", "--handlers", "auth"]);
    finish(p);
    assert_eq!(pkg.record()["backend"].as_str(), Some("session"));
    assert_eq!(pkg.recorded_handlers(), ["auth"]);
}
