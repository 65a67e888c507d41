//! Snapshots of the generated tree, one combined snapshot per case: every generated path with
//! its contents, the edited `Cargo.toml`, `src/lib.rs`, `.gitignore`, `.env` (with a fixed
//! secret) and `cargo-users.toml`. The migration timestamp is fixed.
//!
//! Review changes with `cargo insta review` (or accept with `INSTA_UPDATE=always`).

mod common;

use cargo_users::choices::{Backend, Database, HandlerSelection, resolve};
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
        backend,
        db,
        handlers: resolved.handlers.clone(),
        module: ModuleDir::default_dir(),
        app_mode: project.main_is_hello_world().unwrap(),
        mode: Mode::Init,
        previous: None,
        now: Timestamp::parse("20250102030405"),
        secret: Some("<secret>".to_string()),
    };
    let plan = plan::build(&project, &manifest, &Renderer::new().unwrap(), &opts).unwrap();
    let mut out = format!(
        "backend: {backend}\ndatabase: {db}\nhandlers: {}\napp mode: {}\n",
        resolved.handlers.join(", "),
        opts.app_mode
    );
    for (path, contents) in plan.contents() {
        out.push_str(&format!(
            "\n==================== {path} ====================\n"
        ));
        out.push_str(contents);
    }
    out
}

fn defaults() -> HandlerSelection {
    HandlerSelection::defaults()
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s
}

#[test]
fn session_backend_with_the_default_handlers() {
    settings().bind(|| {
        insta::assert_snapshot!(
            "session_sqlite_default_handlers",
            generated_tree(Backend::Session, Database::Sqlite, defaults())
        );
    });
}

#[test]
fn jwt_backend_with_the_default_handlers() {
    settings().bind(|| {
        insta::assert_snapshot!(
            "jwt_sqlite_default_handlers",
            generated_tree(Backend::Jwt, Database::Sqlite, defaults())
        );
    });
}

#[test]
fn jwt_cookie_backend_with_the_default_handlers() {
    settings().bind(|| {
        insta::assert_snapshot!(
            "jwt_cookie_sqlite_default_handlers",
            generated_tree(Backend::JwtCookie, Database::Sqlite, defaults())
        );
    });
}

#[test]
fn session_backend_with_auth_and_current_user_only() {
    let handlers = HandlerSelection::Named(vec!["auth".into(), "current-user".into()]);
    settings().bind(|| {
        insta::assert_snapshot!(
            "session_sqlite_auth_current_user",
            generated_tree(Backend::Session, Database::Sqlite, handlers)
        );
    });
}
