//! The command line, run as a real process without a terminal: bad input and its exit codes,
//! `--dry-run`, idempotence, Cargo.toml editing, `add-handler` and `list`.

mod common;

use std::time::{Duration, Instant};

use cargo_users::manifest::Manifest;
use common::{HELLO_WORLD, Pkg, cmd_in, crlf};
use predicates::prelude::*;
use predicates::str::contains;

fn router_line(handler: &str) -> String {
    Manifest::embedded().unwrap().handler[handler]
        .router
        .clone()
}

/// Every handler of this release, in the manifest's order: written here rather than read from the
/// manifest under test, so that a handler lost from the manifest fails the tests.
const ALL_HANDLERS: [&str; 11] = [
    "auth",
    "register",
    "verify",
    "password-reset",
    "current-user",
    "role-management",
    "user-management",
    "oauth2",
    "magic-link",
    "openapi",
    "totp",
];

// ---------------------------------------------------------------------------------------------
// Bad input

#[test]
fn init_outside_a_cargo_package_fails_with_exit_1() {
    let dir = Pkg::empty();
    dir.cmd()
        .args(["init", "--yes"])
        .assert()
        .code(1)
        .stderr(contains("could not find Cargo.toml"));
    assert!(dir.tree().is_empty());
}

#[test]
fn a_manifest_path_that_does_not_exist_fails_with_exit_1() {
    let dir = Pkg::empty();
    dir.cmd()
        .args(["init", "--yes", "--manifest-path", "nowhere/Cargo.toml"])
        .assert()
        .code(1)
        .stderr(contains("not a Cargo package"));
}

#[test]
fn a_workspace_root_without_package_fails_and_suggests_manifest_path() {
    let ws = Pkg::with("[workspace]\nmembers = [\"app\"]\nresolver = \"3\"\n", None);
    let before = ws.tree();
    ws.cmd()
        .args(["init", "--yes"])
        .assert()
        .code(1)
        .stderr(contains("workspace root").and(contains("--manifest-path")));
    assert_eq!(ws.tree(), before);
}

#[test]
fn a_workspace_member_is_reached_with_manifest_path() {
    let ws = Pkg::with("[workspace]\nmembers = [\"app\"]\nresolver = \"3\"\n", None);
    ws.write(
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\n",
    );
    ws.write("app/src/main.rs", HELLO_WORLD);
    ws.cmd()
        .args(["init", "--yes", "--manifest-path", "app/Cargo.toml"])
        .assert()
        .success();
    assert!(ws.exists("app/cargo-users.toml"));
    assert!(ws.exists("app/src/users/mod.rs"));
    assert!(!ws.exists("cargo-users.toml"));
    // Cargo ignores a member's profiles, so none is added there.
    assert!(!ws.read("app/Cargo.toml").contains("[profile"));
}

#[test]
fn an_unknown_handler_exits_2_listing_the_valid_ones() {
    let pkg = Pkg::hello();
    let before = pkg.tree();
    let assert = pkg
        .cmd()
        .args(["init", "--yes", "--handlers", "auth,teleport"])
        .assert()
        .code(2)
        .stderr(contains("`teleport`"));
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    for h in ALL_HANDLERS {
        assert!(stderr.contains(h), "{h} not listed in: {stderr}");
    }
    assert_eq!(pkg.tree(), before);
}

#[test]
fn an_unknown_backend_exits_2_listing_the_valid_ones() {
    let pkg = Pkg::hello();
    pkg.cmd()
        .args(["init", "--yes", "--backend", "basic"])
        .assert()
        .code(2)
        .stderr(
            contains("basic")
                .and(contains("session"))
                .and(contains("jwt-cookie")),
        );
}

#[test]
fn an_unknown_database_exits_2() {
    let pkg = Pkg::hello();
    pkg.cmd()
        .args(["init", "--yes", "--db", "oracle"])
        .assert()
        .code(2)
        .stderr(
            contains("sqlite")
                .and(contains("postgres"))
                .and(contains("mysql")),
        );
}

#[test]
fn a_module_outside_src_is_a_usage_error() {
    let pkg = Pkg::hello();
    let before = pkg.tree();
    pkg.cmd()
        .args(["init", "--yes", "--module", "lib/users"])
        .assert()
        .code(2)
        .stderr(contains("--module"));
    pkg.cmd()
        .args(["init", "--yes", "--module", "src/a/b"])
        .assert()
        .code(2);
    assert_eq!(pkg.tree(), before);
}

#[test]
fn a_missing_choice_without_a_terminal_exits_2_without_waiting() {
    let pkg = Pkg::hello();
    let before = pkg.tree();
    let started = Instant::now();
    pkg.cmd()
        .args(["init", "--backend", "jwt"])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(2)
        .stderr(
            contains("--db")
                .and(contains("--handlers"))
                .and(contains("--yes")),
        );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(pkg.tree(), before);
}

#[test]
fn every_choice_given_needs_no_terminal_and_no_yes() {
    let pkg = Pkg::hello();
    pkg.cmd()
        .args([
            "init",
            "--backend",
            "jwt",
            "--db",
            "sqlite",
            "--handlers",
            "auth",
        ])
        .assert()
        .success();
    assert_eq!(pkg.record()["backend"].as_str(), Some("jwt"));
}

#[test]
fn add_handler_for_an_installed_handler_exits_1_naming_it() {
    let pkg = Pkg::hello();
    pkg.init(&[]);
    let before = pkg.tree();
    pkg.cmd()
        .args(["add-handler", "verify"])
        .assert()
        .code(1)
        .stderr(contains("`verify`").and(contains("already installed")));
    assert_eq!(pkg.tree(), before);
}

#[test]
fn add_handler_before_init_exits_1_telling_to_run_init() {
    let pkg = Pkg::hello();
    pkg.cmd()
        .args(["add-handler", "verify"])
        .assert()
        .code(1)
        .stderr(contains("cargo users init"));
}

#[test]
fn add_handler_with_an_unknown_name_exits_2() {
    let pkg = Pkg::hello();
    pkg.init(&["--handlers", "auth"]);
    pkg.cmd()
        .args(["add-handler", "teleport"])
        .assert()
        .code(2)
        .stderr(contains("valid handlers"));
}

#[test]
fn existing_differing_files_are_all_listed_and_nothing_is_written() {
    let pkg = Pkg::hello();
    pkg.write("src/users/mod.rs", "// mine\n");
    pkg.write("src/users/config.rs", "// mine too\n");
    pkg.write("tests/users/main.rs", "// and this\n");
    let before = pkg.tree();
    pkg.cmd().args(["init", "--yes"]).assert().code(1).stderr(
        contains("src/users/mod.rs")
            .and(contains("src/users/config.rs"))
            .and(contains("tests/users/main.rs"))
            .and(contains("--force"))
            .and(contains("3 file(s)")),
    );
    assert_eq!(pkg.tree(), before, "nothing may be written");
}

#[test]
fn force_overwrites_differing_files() {
    let pkg = Pkg::hello();
    pkg.write("src/users/config.rs", "// mine\n");
    pkg.cmd()
        .args(["init", "--yes", "--force"])
        .assert()
        .success();
    assert_ne!(pkg.read("src/users/config.rs"), "// mine\n");
}

#[test]
fn an_incompatible_axum_dependency_exits_1_and_writes_nothing() {
    let pkg = Pkg::with(
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\naxum = \"0.7\"\nsqlx = { version = \"0.7\", features = [\"sqlite\"] }\n",
        Some(HELLO_WORLD),
    );
    let before = pkg.tree();
    pkg.cmd().args(["init", "--yes"]).assert().code(1).stderr(
        contains("axum = \"0.7\"")
            .and(contains("sqlx = \"0.7\""))
            .and(contains("0.8")),
    );
    assert_eq!(pkg.tree(), before);
}

#[test]
fn a_compatible_existing_dependency_is_reused() {
    let pkg = Pkg::with(
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\naxum = \"0.8.1\"\ntokio = { version = \"1.40\", features = [\"macros\"] }\n",
        Some(HELLO_WORLD),
    );
    pkg.init(&[]);
    let toml = pkg.read("Cargo.toml");
    assert!(toml.contains("axum = \"0.8.1\"\n"), "{toml}");
    assert!(
        toml.contains("tokio = { version = \"1.40\", features = [\"macros\", \"full\"] }"),
        "{toml}"
    );
    assert_eq!(toml.matches("axum").count(), 1);
}

// ---------------------------------------------------------------------------------------------
// Dry run and idempotence

#[test]
fn dry_run_writes_nothing_and_prints_the_diffs() {
    let pkg = Pkg::hello();
    pkg.write(".gitignore", "/target\n");
    let before = pkg.tree();
    pkg.cmd()
        .args(["init", "--yes", "--dry-run"])
        .assert()
        .success()
        .stdout(
            contains("would create")
                .and(contains("+++ b/src/users/mod.rs"))
                .and(contains("--- a/Cargo.toml"))
                .and(contains("+axum = \"0.8\""))
                .and(contains("--- a/src/main.rs"))
                .and(contains("-    println!(\"Hello, world!\");"))
                .and(contains("+.env")),
        );
    assert_eq!(pkg.tree(), before);
}

#[test]
fn dry_run_reports_conflicts_with_exit_1() {
    let pkg = Pkg::hello();
    pkg.write("src/users/mod.rs", "// mine\n");
    let before = pkg.tree();
    pkg.cmd()
        .args(["init", "--yes", "--dry-run"])
        .assert()
        .code(1)
        .stdout(contains("conflict"))
        .stderr(contains("src/users/mod.rs"));
    assert_eq!(pkg.tree(), before);
}

#[test]
fn init_twice_changes_nothing_and_says_so() {
    let pkg = Pkg::hello();
    pkg.init(&["--backend", "jwt"]);
    let after_first = pkg.tree();
    pkg.cmd()
        .args(["init", "--yes", "--backend", "jwt"])
        .assert()
        .success()
        .stdout(contains("nothing to do"));
    assert_eq!(pkg.tree(), after_first);
}

#[test]
fn a_second_init_without_flags_reuses_the_recorded_choices() {
    let pkg = Pkg::hello();
    pkg.init(&["--backend", "jwt-cookie", "--handlers", "auth,register"]);
    let after_first = pkg.tree();
    pkg.cmd()
        .arg("init")
        .assert()
        .success()
        .stdout(contains("nothing to do"));
    assert_eq!(pkg.tree(), after_first);
}

#[test]
fn init_with_the_cargo_subcommand_word_works() {
    let pkg = Pkg::hello();
    pkg.cmd()
        .args(["users", "init", "--yes"])
        .assert()
        .success();
    assert!(pkg.exists("cargo-users.toml"));
}

// ---------------------------------------------------------------------------------------------
// What init writes

#[cfg(unix)]
#[test]
fn the_env_file_with_the_secret_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let pkg = Pkg::hello();
    pkg.init(&[]);
    let mode = |rel: &str| {
        std::fs::metadata(pkg.path(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(".env"), 0o600);
    assert_eq!(mode("src/users/mod.rs"), 0o644);
}

#[test]
fn init_writes_the_module_migration_env_gitignore_lib_and_record() {
    let pkg = Pkg::hello();
    pkg.write(".gitignore", "/target\n");
    pkg.cmd()
        .args(["init", "--yes"])
        .assert()
        .success()
        .stdout(contains("created src/users/mod.rs").and(contains("cargo run")));
    assert!(pkg.exists("src/users/mod.rs"));
    assert!(pkg.exists(".env.example"));
    assert_eq!(
        pkg.read("src/lib.rs"),
        "//! The `demo` library.\n\npub mod users;\n"
    );
    assert_ne!(
        pkg.read("src/main.rs"),
        HELLO_WORLD,
        "app mode replaces the hello world"
    );
    let mut migrations: Vec<String> = std::fs::read_dir(pkg.path("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    migrations.sort();
    // The users, the canonical emails, then current-user's pending email changes (0.2.0), in
    // that order.
    assert_eq!(migrations.len(), 3, "{migrations:?}");
    assert!(
        migrations[1].ends_with("_canonical_email.sql"),
        "{migrations:?}"
    );
    assert!(
        migrations[2].ends_with("_email_changes.sql"),
        "{migrations:?}"
    );
    let m = &migrations[0];
    assert!(
        m.len() == "20260101000000_users.sql".len() && m.ends_with("_users.sql"),
        "{m}"
    );

    let env = pkg.read(".env");
    assert!(env.contains("DATABASE_URL=sqlite://demo.db\n"));
    let secret = env
        .lines()
        .find_map(|l| l.strip_prefix("USERS_SECRET="))
        .unwrap();
    assert_eq!(secret.len(), 64);
    assert_eq!(
        pkg.read(".gitignore"),
        "/target\n.env\n*.db\n*.db-shm\n*.db-wal\n"
    );

    let record = pkg.record();
    assert_eq!(record["backend"].as_str(), Some("session"));
    assert_eq!(record["database"].as_str(), Some("sqlite"));
    assert_eq!(record["app_mode"].as_bool(), Some(true));
    assert_eq!(record["module_dir"].as_str(), Some("src/users"));
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
    let files = record["files"].as_table().unwrap();
    assert!(files.contains_key("src/users/mod.rs"));
    assert!(files.contains_key(&format!("migrations/{m}")));
    assert!(!files.contains_key(".env"));
}

#[test]
fn an_existing_env_is_kept() {
    let pkg = Pkg::hello();
    pkg.write(".env", "DATABASE_URL=sqlite://mine.db\n");
    pkg.init(&[]);
    assert_eq!(pkg.read(".env"), "DATABASE_URL=sqlite://mine.db\n");
}

#[test]
fn a_custom_main_is_left_alone_and_the_wiring_lines_are_printed() {
    let main = "fn main() {\n    println!(\"my own server\");\n}\n";
    let pkg = Pkg::with(
        "[package]\nname = \"my-app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
        Some(main),
    );
    pkg.cmd()
        .args(["init", "--yes", "--module", "src/accounts"])
        .assert()
        .success()
        .stdout(
            contains("let state = my_app::accounts::UsersState::from_env().await?;").and(contains(
                "let app = Router::new().merge(my_app::accounts::router(state));",
            )),
        );
    assert_eq!(pkg.read("src/main.rs"), main);
    assert!(pkg.exists("src/accounts/mod.rs"));
    assert_eq!(pkg.record()["app_mode"].as_bool(), Some(false));
    assert!(pkg.read("src/lib.rs").contains("pub mod accounts;"));
}

#[test]
fn an_existing_library_root_gets_the_module_declaration() {
    let pkg = Pkg::hello();
    pkg.write(
        "src/lib.rs",
        "//! My lib.\n\npub mod api;\n\npub fn hello() {}\n",
    );
    pkg.init(&[]);
    assert_eq!(
        pkg.read("src/lib.rs"),
        "//! My lib.\n\npub mod api;\npub mod users;\n\npub fn hello() {}\n"
    );
}

#[test]
fn handlers_all_installs_every_handler() {
    let pkg = Pkg::hello();
    pkg.init(&["--handlers", "all"]);
    assert_eq!(pkg.recorded_handlers(), ALL_HANDLERS);
}

#[test]
fn a_required_handler_is_added_and_said() {
    let pkg = Pkg::hello();
    pkg.cmd()
        .args(["init", "--yes", "--handlers", "current-user"])
        .assert()
        .success()
        .stdout(contains("current-user needs auth: adding auth"));
    assert_eq!(pkg.recorded_handlers(), ["auth", "current-user"]);
}

#[test]
fn a_commented_oddly_ordered_cargo_toml_is_kept_apart_from_added_lines() {
    let original = "\
# My service. Hand-written, please keep my comments.
[package]
version = \"0.1.0\"   # bumped by release tooling
name = \"demo\"
edition = \"2024\"

[features]
default = []

# Runtime deps, grouped by purpose rather than alphabetically.
[dependencies]
# errors first
thiserror = \"2\"
anyhow = \"1\"    # for main

[profile.release]
lto = true
";
    let pkg = Pkg::with(original, Some(HELLO_WORLD));
    pkg.init(&[]);
    let edited = pkg.read("Cargo.toml");
    let diff = similar::TextDiff::from_lines(original, edited.as_str());
    let mut inserted = 0;
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Delete => panic!("line removed or changed: {change}\n{edited}"),
            similar::ChangeTag::Insert => inserted += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    assert!(inserted > 5);
    // The unsorted table got its new entries at the end, before the next table.
    let deps_at = edited.find("[dependencies]").unwrap();
    let profile_at = edited.find("[profile.release]").unwrap();
    let axum_at = edited.find("axum = ").unwrap();
    assert!(deps_at < axum_at && axum_at < profile_at);
    assert!(edited.find("anyhow = ").unwrap() < axum_at);
    assert!(edited.contains("[dev-dependencies]"));
}

// ---------------------------------------------------------------------------------------------
// add-handler

#[test]
fn add_handler_verify_adds_its_files_routes_migration_and_record() {
    let pkg = Pkg::hello();
    pkg.init(&["--handlers", "auth,register"]);
    assert!(!pkg.exists("src/users/handlers/verify.rs"));
    let migrations_before = pkg.record()["migrations"].clone();
    pkg.cmd()
        .args(["add-handler", "verify"])
        .assert()
        .success()
        .stdout(contains("created src/users/handlers/verify.rs"));
    assert!(pkg.exists("src/users/handlers/verify.rs"));
    assert!(pkg.exists("tests/users/verify.rs"));
    assert!(
        pkg.read("src/users/mod.rs")
            .contains(&router_line("verify"))
    );
    assert!(
        pkg.read("src/users/handlers/mod.rs")
            .contains("pub mod verify;")
    );
    assert_eq!(pkg.recorded_handlers(), ["auth", "register", "verify"]);
    let record = pkg.record();
    assert!(
        record["files"]
            .as_table()
            .unwrap()
            .contains_key("src/users/handlers/verify.rs")
    );
    // The existing migration keeps its timestamp.
    assert_eq!(record["migrations"], migrations_before);
    // The result is what init with the full set would have written.
    pkg.cmd()
        .args(["init", "--yes", "--handlers", "auth,register,verify"])
        .assert()
        .success()
        .stdout(contains("nothing to do"));
}

#[test]
fn add_handler_resolves_requirements() {
    let pkg = Pkg::hello();
    pkg.init(&["--handlers", "register"]);
    pkg.cmd()
        .args(["add-handler", "current-user"])
        .assert()
        .success()
        .stdout(contains("current-user needs auth: adding auth"));
    assert_eq!(
        pkg.recorded_handlers(),
        ["auth", "register", "current-user"]
    );
    assert!(pkg.read("src/users/mod.rs").contains(&router_line("auth")));
}

/// `add-handler` interrupted after it wrote the files and before the record (written last), run
/// again: the migrations it wrote are taken as they are, not written a second time
/// under new timestamps (sqlx would run the same change twice), and the result is the same.
#[test]
fn add_handler_run_again_after_an_interruption_adds_no_second_migration() {
    let pkg = Pkg::hello();
    pkg.init(&["--handlers", "auth"]);
    let before = pkg.read("cargo-users.toml");
    pkg.cmd()
        .args(["add-handler", "role-management"])
        .assert()
        .success();
    let added = pkg.tree();
    pkg.write("cargo-users.toml", &before);
    pkg.cmd()
        .args(["add-handler", "role-management"])
        .assert()
        .success();
    assert_eq!(pkg.tree(), added, "the same files and the same record");
}

/// A CRLF checkout (git's `core.autocrlf`) of what `init` generated: `add-handler` merges by
/// lines, not line endings. The untouched files are unchanged, not "edited"; the developer's edit
/// is kept; what it writes keeps CRLF.
#[test]
fn add_handler_on_a_crlf_checkout_merges_by_lines_and_keeps_crlf() {
    let pkg = Pkg::hello();
    pkg.init(&["--handlers", "auth,register"]);
    let rust_files = pkg.check_out_rust_files_with_crlf();
    let router = pkg.read("src/users/mod.rs");
    pkg.write("src/users/mod.rs", &format!("// our note\r\n{router}"));
    let out = pkg
        .cmd()
        .args(["add-handler", "verify"])
        .assert()
        .success()
        .stdout(contains("merged src/users/mod.rs"));
    let out = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(!out.contains("kept (edited)"), "{out}");
    let router = pkg.read("src/users/mod.rs");
    assert!(router.starts_with("// our note\r\n"), "{router}");
    assert!(router.contains(&crlf(&format!("{}\n", router_line("verify")))));
    for file in &rust_files {
        let text = pkg.read(file);
        assert_eq!(
            text.matches('\n').count(),
            text.matches("\r\n").count(),
            "{file} keeps CRLF"
        );
    }
}

#[test]
fn add_handler_on_an_edited_router_merges_the_new_routes() {
    let pkg = Pkg::hello();
    pkg.init(&["--handlers", "auth,register"]);
    let marker = "        // cargo-users: routes";
    let router = pkg.read("src/users/mod.rs");
    assert!(
        router.contains(&format!("{marker}\n")),
        "routes marker missing"
    );
    let edited = format!("// my own note at the top\n{router}");
    pkg.write("src/users/mod.rs", &edited);
    pkg.cmd()
        .args(["add-handler", "verify"])
        .assert()
        .success()
        .stdout(contains("merged src/users/mod.rs"));
    let after = pkg.read("src/users/mod.rs");
    assert!(
        after.starts_with("// my own note at the top\n"),
        "the edit is kept"
    );
    let expected = format!("        {}\n{marker}\n", router_line("verify"));
    assert!(after.contains(&expected), "{after}");
    // Only the inserted line was added.
    assert_eq!(after.lines().count(), edited.lines().count() + 1);
    pkg.cmd()
        .arg("list")
        .assert()
        .success()
        .stdout(contains("edited src/users/mod.rs"));
}

#[test]
fn add_handler_on_an_edited_handlers_module_inserts_at_its_marker() {
    let pkg = Pkg::hello();
    pkg.init(&["--handlers", "auth"]);
    let text = pkg.read("src/users/handlers/mod.rs");
    assert!(
        text.contains("// cargo-users: handlers\n"),
        "handlers marker missing"
    );
    pkg.write(
        "src/users/handlers/mod.rs",
        &format!("{text}\npub mod mine;\n"),
    );
    pkg.write("src/users/handlers/mine.rs", "\n");
    pkg.cmd()
        .args(["add-handler", "register"])
        .assert()
        .success();
    let after = pkg.read("src/users/handlers/mod.rs");
    assert!(
        after.contains("pub mod register;\n// cargo-users: handlers\n"),
        "{after}"
    );
    assert!(after.contains("pub mod mine;"));
}

#[test]
fn add_handler_with_a_removed_marker_gets_conflict_markers() {
    let pkg = Pkg::hello();
    pkg.init(&["--handlers", "auth"]);
    let text = pkg
        .read("src/users/mod.rs")
        .replace("// cargo-users: routes", "");
    pkg.write("src/users/mod.rs", &text);
    pkg.cmd()
        .args(["add-handler", "register"])
        .assert()
        .code(1)
        .stderr(contains("src/users/mod.rs (conflict markers)"));
    // Both sides changed the marker's lines: the developer decides, rustc refuses the markers.
    let after = pkg.read("src/users/mod.rs");
    let version = cargo_users::VERSION;
    for marker in [
        "<<<<<<< yours\n".to_string(),
        format!("||||||| cargo-users {version} before add-handler\n"),
        "=======\n".to_string(),
        format!(">>>>>>> cargo-users {version} with register\n"),
    ] {
        assert!(after.contains(&marker), "{marker} missing:\n{after}");
    }
    assert!(after.contains(&router_line("register")));
    assert!(pkg.exists("src/users/handlers/register.rs"));
}

#[test]
fn add_handler_leaves_a_deleted_file_deleted_when_the_change_does_not_concern_it() {
    let pkg = Pkg::hello();
    pkg.init(&["--handlers", "auth"]);
    std::fs::remove_file(pkg.path("tests/users/auth.rs")).unwrap();
    pkg.cmd()
        .args(["add-handler", "register"])
        .assert()
        .success();
    assert!(!pkg.exists("tests/users/auth.rs"));
    assert!(pkg.exists("tests/users/register.rs"));
}

#[test]
fn add_handler_dry_run_writes_nothing() {
    let pkg = Pkg::hello();
    pkg.init(&["--handlers", "auth"]);
    let before = pkg.tree();
    pkg.cmd()
        .args(["add-handler", "register", "--dry-run"])
        .assert()
        .success()
        .stdout(contains("+++ b/src/users/handlers/register.rs"));
    assert_eq!(pkg.tree(), before);
}

// ---------------------------------------------------------------------------------------------
// list and new

#[test]
fn list_shows_the_choices_routes_and_edited_or_deleted_files() {
    let pkg = Pkg::hello();
    pkg.init(&["--backend", "jwt", "--handlers", "auth,register"]);
    pkg.write("src/users/hooks.rs", "// emptied\n");
    std::fs::remove_file(pkg.path("tests/users/register.rs")).unwrap();
    pkg.cmd().arg("list").assert().success().stdout(
        contains("backend:  jwt")
            .and(contains("database: sqlite"))
            .and(contains("module:   src/users"))
            .and(contains("app mode: yes"))
            .and(contains("POST /login, POST /logout"))
            .and(contains("POST /register"))
            .and(contains("edited src/users/hooks.rs"))
            .and(contains("deleted tests/users/register.rs"))
            .and(contains("(1 edited, 1 deleted)")),
    );
}

#[test]
fn list_before_init_exits_1() {
    Pkg::hello()
        .cmd()
        .arg("list")
        .assert()
        .code(1)
        .stderr(contains("cargo users init"));
}

#[test]
fn new_creates_a_package_in_app_mode() {
    let dir = Pkg::empty();
    cmd_in(dir.root())
        .args(["new", "demo-app", "--yes", "--backend", "jwt"])
        .env("CARGO_NAME", "test")
        .env("CARGO_EMAIL", "test@example.com")
        .assert()
        .success()
        .stdout(contains("cd demo-app && cargo run"));
    assert!(dir.exists("demo-app/src/users/mod.rs"));
    assert_ne!(dir.read("demo-app/src/main.rs"), HELLO_WORLD);
    let record: toml::Table = toml::from_str(&dir.read("demo-app/cargo-users.toml")).unwrap();
    assert_eq!(record["app_mode"].as_bool(), Some(true));
    assert_eq!(record["backend"].as_str(), Some("jwt"));
}

#[test]
fn new_into_an_existing_folder_exits_1() {
    let dir = Pkg::empty();
    dir.write("taken/file", "x");
    cmd_in(dir.root())
        .args(["new", "taken", "--yes"])
        .assert()
        .code(1)
        .stderr(contains("already exists"));
}

#[test]
fn help_lists_every_command_and_the_handlers() {
    Pkg::empty().cmd().arg("--help").assert().success().stdout(
        contains("new")
            .and(contains("init"))
            .and(contains("add-handler"))
            .and(contains("list")),
    );
    Pkg::empty()
        .cmd()
        .args(["init", "--help"])
        .assert()
        .success()
        .stdout(contains("password-reset").and(contains("--dry-run")));
}

/// An `auth` package whose record names another build's `mod.rs` (what the record says was
/// generated is not what these templates generate): `add-handler` has no base to merge it from.
fn auth_package_without_a_base_for_its_router() -> Pkg {
    let pkg = Pkg::hello();
    pkg.init(&["--handlers", "auth"]);
    let recorded = pkg.record()["files"]["src/users/mod.rs"]
        .as_str()
        .unwrap()
        .to_string();
    let record = pkg
        .read("cargo-users.toml")
        .replace(&recorded, &"0".repeat(64));
    pkg.write("cargo-users.toml", &record);
    pkg
}

#[test]
fn add_handler_without_a_verified_base_and_without_the_marker_prints_the_line_to_paste() {
    let pkg = auth_package_without_a_base_for_its_router();
    let router = pkg.read("src/users/mod.rs");
    pkg.write(
        "src/users/mod.rs",
        &router.replace("// cargo-users: routes", "// our routes"),
    );
    pkg.cmd()
        .args(["add-handler", "register"])
        .assert()
        .code(1)
        .stdout(
            contains("src/users/mod.rs: its `// cargo-users: routes` comment is gone")
                .and(contains(router_line("register"))),
        )
        .stderr(contains("src/users/mod.rs.cargo-users-new"));
    assert!(pkg.read("src/users/mod.rs").contains("// our routes"));
    assert!(pkg.exists("src/users/mod.rs.cargo-users-new"));
}

#[test]
fn add_handler_without_a_verified_base_and_without_the_modules_marker_prints_the_module_line() {
    let pkg = auth_package_without_a_base_for_its_router();
    let root = pkg.read("src/users/mod.rs");
    assert!(
        root.contains("pub mod tokens;\n// cargo-users: modules\n"),
        "{root}"
    );
    // An edit that took the marker away: the lines to paste are printed, the new version is
    // written beside.
    let without_marker = format!("// our note\n{root}").replace("// cargo-users: modules\n", "");
    pkg.write("src/users/mod.rs", &without_marker);
    // (user-management brings role-management: `roles.rs`, declared already for its stand-in,
    // becomes the real one; `user_admin.rs` is new.)
    pkg.cmd()
        .args(["add-handler", "user-management"])
        .assert()
        .code(1)
        .stdout(
            contains("src/users/mod.rs: its `// cargo-users: modules` comment is gone")
                .and(contains("pub mod user_admin;")),
        );
    assert_eq!(pkg.read("src/users/mod.rs"), without_marker);
    let beside = pkg.read("src/users/mod.rs.cargo-users-new");
    assert!(beside.contains("pub mod user_admin;\n"), "{beside}");
    assert!(beside.contains(&router_line("user-management")), "{beside}");
}

#[test]
fn add_handler_without_a_verified_base_inserts_the_module_and_router_lines_at_their_markers() {
    let pkg = auth_package_without_a_base_for_its_router();
    let edited = format!("// our note\n{}", pkg.read("src/users/mod.rs"));
    pkg.write("src/users/mod.rs", &edited);
    pkg.cmd()
        .args(["add-handler", "user-management"])
        .assert()
        .success();
    let after = pkg.read("src/users/mod.rs");
    assert!(after.starts_with("// our note\n"), "{after}");
    assert!(
        after.contains("pub mod tokens;\npub mod user_admin;\n// cargo-users: modules\n"),
        "{after}"
    );
    let route = format!(
        "        {}\n        {}\n        // cargo-users: routes\n",
        router_line("role-management"),
        router_line("user-management")
    );
    assert!(after.contains(&route), "{after}");
    assert_eq!(after.lines().count(), edited.lines().count() + 3);
    assert!(!pkg.exists("src/users/mod.rs.cargo-users-new"));
}
