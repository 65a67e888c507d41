//! Helpers shared by the tool's tests: throwaway packages in temporary folders, the binary as
//! an `assert_cmd` command, and whole-tree snapshots.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use tempfile::TempDir;

/// The `cargo new` hello world.
pub const HELLO_WORLD: &str = "fn main() {\n    println!(\"Hello, world!\");\n}\n";

/// A package made by hand in a temporary folder.
pub struct Pkg {
    dir: TempDir,
}

impl Pkg {
    /// A package `demo` with an empty `[dependencies]` and the hello world `main.rs`, as
    /// `cargo new` makes it.
    pub fn hello() -> Self {
        Self::with(
            "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\n",
            Some(HELLO_WORLD),
        )
    }

    /// A package with this `Cargo.toml` and (if given) `src/main.rs`.
    pub fn with(cargo_toml: &str, main_rs: Option<&str>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cargo-users-test-")
            .tempdir()
            .expect("tempdir");
        let pkg = Pkg { dir };
        pkg.write("Cargo.toml", cargo_toml);
        if let Some(main) = main_rs {
            pkg.write("src/main.rs", main);
        }
        pkg
    }

    /// An empty temporary folder (not a package).
    pub fn empty() -> Self {
        Pkg {
            dir: tempfile::Builder::new()
                .prefix("cargo-users-test-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    /// The package root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Absolute path of a file of the package.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// Writes a file (creating folders).
    pub fn write(&self, rel: &str, contents: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }

    /// Reads a file.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Whether a file exists.
    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// The binary, run in the package root, without a terminal and without colors.
    pub fn cmd(&self) -> Command {
        cmd_in(self.root())
    }

    /// Runs `cargo-users init --yes <args>` and asserts success.
    pub fn init(&self, args: &[&str]) {
        self.cmd()
            .arg("init")
            .arg("--yes")
            .args(args)
            .assert()
            .success();
    }

    /// Every file under the root (path to contents), skipping `target/`.
    pub fn tree(&self) -> BTreeMap<String, String> {
        tree(self.root())
    }

    /// Rewrites every `.rs` file with CRLF line endings, as a checkout with git's
    /// `core.autocrlf` has them; returns their paths.
    pub fn check_out_rust_files_with_crlf(&self) -> Vec<String> {
        let rust_files: Vec<String> = self
            .tree()
            .into_keys()
            .filter(|p| p.ends_with(".rs"))
            .collect();
        for file in &rust_files {
            self.write(file, &crlf(&self.read(file)));
        }
        rust_files
    }

    /// The parsed `cargo-users.toml`.
    pub fn record(&self) -> toml::Table {
        toml::from_str(&self.read("cargo-users.toml")).expect("record parses")
    }

    /// The installed handlers, from the record.
    pub fn recorded_handlers(&self) -> Vec<String> {
        self.record()["handlers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }
}

/// The binary, run in `dir`, without a terminal and without colors.
pub fn cmd_in(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("cargo-users").expect("binary built");
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .timeout(Duration::from_secs(60));
    cmd
}

/// `text` with CRLF line endings.
pub fn crlf(text: &str) -> String {
    text.replace('\n', "\r\n")
}

/// Every file under `root` (relative path with `/` to contents), skipping `target/`.
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel == "target" {
                continue;
            }
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.insert(rel, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}
