//! End to end: a project generated as 0.1.0 generated it (from the release store), edited in
//! several generated files, upgraded to this version, then given the `oauth2` handler: every edit
//! is kept, and after each step the project passes `cargo fmt --check`, `cargo clippy
//! --all-targets -- -D warnings` and its own generated tests. SQLite, so no server is needed.
//!
//! Slow the first time: the generated project's dependencies build into the target folder shared
//! by the end-to-end tests (`$CARGO_USERS_E2E_TARGET_DIR`, else `target/e2e-projects`).

mod safe_edit;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn shared_target_dir() -> PathBuf {
    std::env::var_os("CARGO_USERS_E2E_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e-projects"))
}

fn run(command: &mut Command, what: &str) -> Output {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn tool(dir: &Path, args: &[&str]) -> String {
    let out = run(
        Command::new(env!("CARGO_BIN_EXE_cargo-users"))
            .arg("users")
            .args(args)
            .current_dir(dir)
            .env("NO_COLOR", "1"),
        &format!("cargo users {}", args.join(" ")),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// fmt, clippy and the generated tests, in the shared target folder, without the test
/// environment's app variables (the project's `.env` is used).
fn check(dir: &Path, step: &str) {
    for args in [
        &["fmt", "--check"][..],
        &["clippy", "--all-targets", "--", "-D", "warnings"],
        &["test"],
    ] {
        let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        command
            .args(args)
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .env("CARGO_TERM_COLOR", "never");
        for var in [
            "DATABASE_URL",
            "TEST_DATABASE_URL",
            "USERS_SECRET",
            "BIND_ADDR",
            "APP_URL",
            "SMTP_URL",
        ] {
            command.env_remove(var);
        }
        run(&mut command, &format!("{step}: cargo {}", args.join(" ")));
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

/// A fresh package `name` in `parent`, set up by `init --yes` with these extra arguments.
fn generate(parent: &Path, name: &str, args: &[&str]) -> PathBuf {
    run(
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["new", "--vcs", "none", name])
            .current_dir(parent),
        "cargo new",
    );
    let dir = parent.join(name);
    let mut init = vec!["init", "--yes"];
    init.extend_from_slice(args);
    tool(&dir, &init);
    dir
}

/// The session lifetime a developer chose (the README's own advice: tune `config.rs`).
const OUR_TTL: &str = "pub const SESSION_TTL: Duration = Duration::from_secs(3 * 24 * 60 * 60);";

/// Edits `config.rs` (the session lifetime), the router, the hooks and `main.rs` where they and
/// `theirs` (what the tool is about to generate) agree; returns the texts each must keep.
fn edit(dir: &Path, theirs: &Path, when: &str) -> Vec<(&'static str, String)> {
    let mut kept = Vec::new();
    for file in [
        "src/users/config.rs",
        "src/users/mod.rs",
        "src/users/hooks.rs",
        "src/main.rs",
    ] {
        let (mut old, new) = (read(dir, file), read(theirs, file));
        if file.ends_with("config.rs")
            && let Some(text) =
                safe_edit::replace_line(&old, &new, "pub const SESSION_TTL", OUR_TTL)
        {
            old = text;
            kept.push((file, format!("{OUR_TTL}\n")));
        }
        let note = format!("Our note in {file}, {when}.");
        let text = safe_edit::insert_note(&old, &new, &note)
            .unwrap_or_else(|| panic!("no place in {file} that both versions leave alone"));
        write(dir, file, &text);
        kept.push((file, format!("// {note}\n")));
    }
    kept
}

#[test]
fn a_0_1_0_project_with_edits_upgrades_then_gets_oauth2_and_still_builds_and_passes_its_tests() {
    let temp = tempfile::Builder::new()
        .prefix("cargo-users-upgrade-e2e-")
        .tempdir()
        .unwrap();
    let dir = generate(
        temp.path(),
        "upgraded_app",
        &["--template-version", "0.1.0"],
    );
    assert!(read(&dir, "cargo-users.toml").contains("tool_version = \"0.1.0\""));
    // What this version generates, with and without oauth2: where the edits can go.
    let now = generate(temp.path(), "upgraded_app_now", &[]);
    let with_oauth2 = generate(temp.path(), "upgraded_app_oauth2", &[]);
    tool(&with_oauth2, &["add-handler", "oauth2"]);

    let mut edits = edit(&dir, &now, "before the upgrade");
    let kept = |dir: &Path, edits: &[(&str, String)]| {
        for (file, text) in edits {
            assert!(
                read(dir, file).contains(text.as_str()),
                "{file} lost {text:?}"
            );
        }
    };

    let table = tool(&dir, &["upgrade"]);
    assert!(table.contains("merged  src/users/mod.rs"), "{table}");
    kept(&dir, &edits);
    let version = format!("tool_version = \"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(read(&dir, "cargo-users.toml").contains(&version));
    assert!(tool(&dir, &["upgrade"]).contains("nothing to do"));
    check(&dir, "after upgrade");

    // More edits where oauth2 changes nothing, then the handler.
    edits.extend(
        edit(&dir, &with_oauth2, "before oauth2")
            .into_iter()
            .filter(|(_, t)| t != &format!("{OUR_TTL}\n")),
    );
    let added = tool(&dir, &["add-handler", "oauth2"]);
    assert!(added.contains("merged src/users/mod.rs"), "{added}");
    kept(&dir, &edits);
    assert!(read(&dir, "src/users/mod.rs").contains("handlers::oauth2::routes()"));
    check(&dir, "after add-handler oauth2");
}
