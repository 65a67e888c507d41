//! `cargo bench --bench init`: how long `cargo users init` takes, and how much code it generates.
//!
//! Runs the release binary as a user would, on fresh hello-world packages, for each backend with the
//! default and with all handlers; then a second `init` on an initialized package (re-render, compare,
//! write nothing) and a `--dry-run`. Prints the median, minimum and maximum wall time of each, and
//! the lines of generated Rust per backend.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

const RUNS: usize = 15;
const BACKENDS: [&str; 3] = ["session", "jwt", "jwt-cookie"];

fn main() {
    println!("cargo users init, {RUNS} runs each (wall time, ms: median [min .. max])");
    for handlers in ["default", "all"] {
        for backend in BACKENDS {
            let times: Vec<Duration> = (0..RUNS)
                .map(|_| {
                    let dir = package();
                    time_init(dir.path(), backend, handlers, &[])
                })
                .collect();
            println!(
                "  init {backend:<10} handlers={handlers:<7} {}",
                summary(times)
            );
        }
    }
    let dir = package();
    time_init(dir.path(), "session", "default", &[]);
    let again: Vec<Duration> = (0..RUNS)
        .map(|_| time_init(dir.path(), "session", "default", &[]))
        .collect();
    println!(
        "  init again (nothing to do)              {}",
        summary(again)
    );
    let dry: Vec<Duration> = (0..RUNS)
        .map(|_| time_init(dir.path(), "session", "all", &["--dry-run", "--force"]))
        .collect();
    println!("  init --dry-run (all handlers, diffs)    {}", summary(dry));

    println!("generated code, default handlers (lines of Rust: module + tests, and SQL)");
    for backend in BACKENDS {
        let dir = package();
        time_init(dir.path(), backend, "default", &[]);
        let module = lines(&dir.path().join("src/users"), "rs");
        let tests = lines(&dir.path().join("tests"), "rs");
        let sql = lines(&dir.path().join("migrations"), "sql");
        println!("  {backend:<10} module {module:>5}  tests {tests:>5}  sql {sql:>4}");
    }
}

/// A fresh `cargo new`-style package with the hello-world main.
fn package() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"bench-app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\n",
    )
    .expect("write Cargo.toml");
    std::fs::create_dir(dir.path().join("src")).expect("src");
    std::fs::write(
        dir.path().join("src/main.rs"),
        "fn main() {\n    println!(\"Hello, world!\");\n}\n",
    )
    .expect("write main.rs");
    dir
}

fn time_init(dir: &Path, backend: &str, handlers: &str, extra: &[&str]) -> Duration {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-users"));
    command
        .args(["users", "init", "--yes", "--backend", backend])
        .current_dir(dir)
        .env("NO_COLOR", "1");
    if handlers != "default" {
        command.args(["--handlers", handlers]);
    }
    command.args(extra);
    let start = Instant::now();
    let output = command.output().expect("run cargo-users");
    let elapsed = start.elapsed();
    assert!(
        output.status.success() || extra.contains(&"--dry-run"),
        "init failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{:>7.1} [{:.1} .. {:.1}]",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1])
    )
}

/// Lines in the files with this extension below `dir`.
fn lines(dir: &Path, extension: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                lines(&path, extension)
            } else if path.extension().is_some_and(|e| e == extension) {
                std::fs::read_to_string(&path).map_or(0, |text| text.lines().count())
            } else {
                0
            }
        })
        .sum()
}
