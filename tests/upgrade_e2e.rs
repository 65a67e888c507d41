//! End to end: a project generated as 0.1.0 generated it (from the release store), edited in
//! several generated files, upgraded to this version, then given the `oauth2` handler: every edit
//! is kept, and after each step the project passes `cargo fmt --check`, `cargo clippy
//! --all-targets -- -D warnings` and its own generated tests. SQLite, so no server is needed.
//!
//! Slow the first time: the generated project's dependencies build into the target folder shared
//! by the end-to-end tests (`$CARGO_USERS_E2E_TARGET_DIR`, else `target/e2e-projects`).

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

#[test]
fn a_0_1_0_project_with_edits_upgrades_then_gets_oauth2_and_still_builds_and_passes_its_tests() {
    let temp = tempfile::Builder::new()
        .prefix("cargo-users-upgrade-e2e-")
        .tempdir()
        .unwrap();
    let dir = temp.path().join("upgraded_app");
    run(
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["new", "--vcs", "none", "upgraded_app"])
            .current_dir(temp.path()),
        "cargo new",
    );
    tool(&dir, &["init", "--yes", "--template-version", "0.1.0"]);
    assert!(read(&dir, "cargo-users.toml").contains("tool_version = \"0.1.0\""));

    // The README's own advice (tune a constant), and notes in the router, hooks and main.
    let config = read(&dir, "src/users/config.rs");
    let ttl = config
        .lines()
        .find(|l| l.starts_with("pub const SESSION_TTL"))
        .unwrap()
        .to_string();
    let our_ttl = "pub const SESSION_TTL: Duration = Duration::from_secs(3 * 24 * 60 * 60);";
    write(&dir, "src/users/config.rs", &config.replace(&ttl, our_ttl));
    let edits = [
        ("src/users/mod.rs", "\n// Our router note.\n"),
        ("src/users/hooks.rs", "\n// Our hooks note.\n"),
    ];
    for (file, note) in edits {
        let text = read(&dir, file);
        write(&dir, file, &format!("{text}{note}"));
    }
    let main = read(&dir, "src/main.rs");
    write(&dir, "src/main.rs", &format!("// Our server.\n{main}"));
    let kept = |dir: &Path| {
        assert!(read(dir, "src/users/config.rs").contains(our_ttl));
        for (file, note) in edits {
            assert!(read(dir, file).ends_with(note), "{file} lost its edit");
        }
        assert!(read(dir, "src/main.rs").starts_with("// Our server.\n"));
    };

    let table = tool(&dir, &["upgrade"]);
    assert!(table.contains("merged  src/users/mod.rs"), "{table}");
    kept(&dir);
    let version = format!("tool_version = \"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(read(&dir, "cargo-users.toml").contains(&version));
    assert!(tool(&dir, &["upgrade"]).contains("nothing to do"));
    check(&dir, "after upgrade");

    let added = tool(&dir, &["add-handler", "oauth2"]);
    for merged in ["merged src/users/mod.rs", "merged src/users/config.rs"] {
        assert!(added.contains(merged), "{merged}:\n{added}");
    }
    kept(&dir);
    assert!(read(&dir, "src/users/mod.rs").contains("handlers::oauth2::routes()"));
    check(&dir, "after add-handler oauth2");
}
