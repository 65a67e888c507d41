//! Snapshots of the generated tree, one combined snapshot per case: every generated path with
//! its contents, the edited `Cargo.toml`, `src/lib.rs`, `.gitignore`, `.env` (with a fixed
//! secret) and `cargo-users.toml`. The migration timestamp is fixed.
//!
//! Review changes with `cargo insta review` (or accept with `INSTA_UPDATE=always`).

mod common;

use cargo_users::choices::{Backend, Database, HandlerSelection, Selection, resolve};
use cargo_users::manifest::Manifest;
use cargo_users::plan::{self, Mode, PlanOptions};
use cargo_users::project::{ModuleDir, Project};
use cargo_users::render::Renderer;
use cargo_users::timestamp::Timestamp;
use common::Pkg;

/// The tree `init` would write into a fresh `cargo new demo` for these choices.
fn generated_tree(backend: Backend, db: Database, handlers: HandlerSelection) -> String {
    let pkg = Pkg::hello();
    let manifest = Manifest::embedded().unwrap();
    let project = Project::locate(None, pkg.root()).unwrap();
    let resolved = resolve(&manifest, &handlers, &[]).unwrap();
    let opts = PlanOptions {
        selection: Selection {
            backend,
            db,
            handlers: resolved.handlers.clone(),
            app_mode: project.main_is_hello_world().unwrap(),
        },
        module: ModuleDir::default_dir(),
        mode: Mode::Init,
        previous: None,
        now: Timestamp::parse("20250102030405"),
        secret: Some("<secret>".to_string()),
        tool_version: cargo_users::VERSION.to_string(),
    };
    let plan = plan::build(&project, &manifest, &Renderer::new().unwrap(), &opts).unwrap();
    let mut out = format!(
        "backend: {backend}\ndatabase: {db}\nhandlers: {}\napp mode: {}\n",
        resolved.handlers.join(", "),
        opts.selection.app_mode
    );
    for (path, contents) in plan.contents() {
        out.push_str(&format!(
            "\n==================== {path} ====================\n"
        ));
        out.push_str(contents);
    }
    out
}

/// Asserts the snapshot `name` of the tree for these choices.
fn check(name: &str, backend: Backend, db: Database, handlers: HandlerSelection) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, generated_tree(backend, db, handlers)));
}

fn defaults() -> HandlerSelection {
    HandlerSelection::defaults()
}

#[test]
fn session_backend_with_the_default_handlers() {
    check(
        "session_sqlite_default_handlers",
        Backend::Session,
        Database::Sqlite,
        defaults(),
    );
}

#[test]
fn jwt_backend_with_the_default_handlers() {
    check(
        "jwt_sqlite_default_handlers",
        Backend::Jwt,
        Database::Sqlite,
        defaults(),
    );
}

#[test]
fn jwt_cookie_backend_with_the_default_handlers() {
    check(
        "jwt_cookie_sqlite_default_handlers",
        Backend::JwtCookie,
        Database::Sqlite,
        defaults(),
    );
}

#[test]
fn session_backend_with_auth_and_current_user_only() {
    let handlers = HandlerSelection::Named(vec!["auth".into(), "current-user".into()]);
    check(
        "session_sqlite_auth_current_user",
        Backend::Session,
        Database::Sqlite,
        handlers,
    );
}

#[test]
fn session_backend_on_postgres_with_every_handler() {
    check(
        "session_postgres_all_handlers",
        Backend::Session,
        Database::Postgres,
        HandlerSelection::All,
    );
}

#[test]
fn jwt_cookie_backend_on_mysql_with_every_handler() {
    check(
        "jwt_cookie_mysql_all_handlers",
        Backend::JwtCookie,
        Database::Mysql,
        HandlerSelection::All,
    );
}
