//! The record file `cargo-users.toml`: the choices made and a hash of every generated file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::project::{ModuleDir, check_relative};
use crate::selection::{Backend, Database};
use crate::timestamp::Timestamp;

/// File name of the record, next to `Cargo.toml`.
pub const RECORD_FILE: &str = "cargo-users.toml";

const HEADER: &str = "\
# Written by cargo-users: the choices made and a sha256 of every file it generated.
# `cargo users list` compares these hashes to tell which files were edited since;
# `cargo users add-handler`, `upgrade` and `diff` read the choices, and re-render what was
# generated to merge with your edits. Keep this file under version control.
";

/// The contents of `cargo-users.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Version of cargo-users that wrote the record.
    pub tool_version: String,
    /// The auth backend.
    pub backend: String,
    /// The database.
    pub database: String,
    /// The module folder, e.g. `src/users`.
    pub module_dir: String,
    /// Whether the project is in app mode (a generated `src/main.rs`).
    pub app_mode: bool,
    /// Installed handlers, in manifest order.
    pub handlers: Vec<String>,
    /// Migration name to the timestamp its file was first written with.
    #[serde(default)]
    pub migrations: BTreeMap<String, String>,
    /// Generated file (relative path) to the sha256 of the contents the tool generated.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// What the tool asked for in `Cargo.toml` (the base when `upgrade` merges it per key).
    #[serde(default, skip_serializing_if = "CargoBase::is_empty")]
    pub cargo: CargoBase,
}

/// The dependencies the tool wrote into `Cargo.toml`, as the manifest requested them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CargoBase {
    /// `[dependencies]` entries.
    #[serde(default)]
    pub dependencies: BTreeMap<String, toml::Value>,
    /// `[dev-dependencies]` entries.
    #[serde(default, rename = "dev-dependencies")]
    pub dev_dependencies: BTreeMap<String, toml::Value>,
}

impl CargoBase {
    /// Whether nothing is recorded (records written before 0.2.0).
    pub fn is_empty(&self) -> bool {
        self.dependencies.is_empty() && self.dev_dependencies.is_empty()
    }
}

impl Record {
    /// Parses a record.
    pub fn parse(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::failure(format!("{RECORD_FILE} is not valid: {e}")))
    }

    /// Checks a parsed record before anything is done with it: it is input, not trust. Every
    /// path stays inside the package, every name and hash has its expected form.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Error::failure(format!("{RECORD_FILE} is not valid: {what}"));
        semver::Version::parse(&self.tool_version).map_err(|_| {
            bad(format!(
                "tool_version `{}` is not a version",
                self.tool_version
            ))
        })?;
        Backend::parse(&self.backend)
            .ok_or_else(|| bad(format!("unknown backend `{}`", self.backend)))?;
        Database::parse(&self.database)
            .ok_or_else(|| bad(format!("unknown database `{}`", self.database)))?;
        ModuleDir::parse(&self.module_dir).map_err(|_| {
            bad(format!(
                "module_dir `{}` is not a folder directly under src/",
                self.module_dir
            ))
        })?;
        for (path, hash) in &self.files {
            check_relative(path).map_err(|why| bad(format!("file `{path}`: {why}")))?;
            if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(bad(format!("the hash of `{path}` is not a sha256")));
            }
        }
        for (name, stamp) in &self.migrations {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(bad(format!("migration name `{name}`")));
            }
            if Timestamp::parse(stamp).is_none() {
                return Err(bad(format!("timestamp `{stamp}` of migration `{name}`")));
            }
        }
        Ok(())
    }

    /// Renders the record, deterministically.
    pub fn render(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!("{HEADER}\n{}", inline_dependencies(&body))
    }
}

/// The `[cargo]` dependencies one per line, as in `Cargo.toml` (`name = { version = .. }`),
/// rather than a table each.
fn inline_dependencies(body: &str) -> String {
    let Ok(mut doc) = body.parse::<toml_edit::DocumentMut>() else {
        return body.to_string();
    };
    let tables = doc
        .get_mut("cargo")
        .and_then(|c| c.as_table_mut())
        .into_iter()
        .flat_map(|cargo| cargo.iter_mut().map(|(_, item)| item))
        .filter_map(|item| item.as_table_mut());
    for table in tables {
        for (mut key, item) in table.iter_mut() {
            if let toml_edit::Item::Table(dep) = item {
                let mut inline = std::mem::take(dep).into_inline_table();
                inline.fmt();
                *item = toml_edit::Item::Value(toml_edit::Value::InlineTable(inline));
                key.leaf_decor_mut().clear();
            }
        }
        table.sort_values();
    }
    doc.to_string()
}

/// The lowercase hex sha256 of `contents`.
pub fn hash(contents: &str) -> String {
    hex::encode(Sha256::digest(contents.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips() {
        let r = Record {
            tool_version: "0.1.0".into(),
            backend: "jwt".into(),
            database: "sqlite".into(),
            module_dir: "src/users".into(),
            app_mode: true,
            handlers: vec!["auth".into(), "register".into()],
            migrations: BTreeMap::from([("users".into(), "20250101000000".into())]),
            files: BTreeMap::from([("src/users/mod.rs".into(), hash("x"))]),
            cargo: CargoBase {
                dependencies: BTreeMap::from([
                    ("axum".into(), toml::Value::String("0.8".into())),
                    (
                        "argon2".into(),
                        toml::Value::Table(toml::toml! { version = "0.5" features = ["std"] }),
                    ),
                ]),
                dev_dependencies: BTreeMap::new(),
            },
        };
        let text = r.render();
        assert!(
            text.contains("[cargo.dependencies]\nargon2 = { version = \"0.5\", features = [\"std\"] }\naxum = \"0.8\"\n"),
            "{text}"
        );
        assert!(text.starts_with("# Written by cargo-users"));
        assert_eq!(Record::parse(&text).unwrap(), r);
    }

    #[test]
    fn crafted_records_are_refused() {
        let good = Record {
            tool_version: "0.1.0".into(),
            backend: "jwt".into(),
            database: "sqlite".into(),
            module_dir: "src/users".into(),
            app_mode: true,
            handlers: vec!["auth".into()],
            migrations: BTreeMap::from([("users".into(), "20250101000000".into())]),
            files: BTreeMap::from([("src/users/mod.rs".into(), hash("x"))]),
            cargo: CargoBase::default(),
        };
        good.check().unwrap();
        let with = |f: &dyn Fn(&mut Record)| {
            let mut r = good.clone();
            f(&mut r);
            r.check().unwrap_err().to_string()
        };
        for path in [
            "../outside.rs",
            "/etc/passwd",
            "src/../../x",
            "src/./a",
            "",
            "a\\..\\b",
            "C:/x",
        ] {
            let err = with(&|r| {
                r.files.insert(path.into(), hash("x"));
            });
            assert!(
                err.contains("cargo-users.toml is not valid"),
                "{path}: {err}"
            );
        }
        for dir in ["../src/users", "/tmp/users", "src/a/b", "src"] {
            with(&|r| r.module_dir = dir.into());
        }
        with(&|r| r.tool_version = "zero".into());
        with(&|r| r.backend = "basic".into());
        with(&|r| {
            r.files.insert("src/a.rs".into(), "not-a-hash".into());
        });
        with(&|r| {
            r.migrations.insert("../x".into(), "20250101000000".into());
        });
        with(&|r| {
            r.migrations.insert("x".into(), "2025".into());
        });
    }

    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(
            hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
