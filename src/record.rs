//! The record file `cargo-users.toml`: the choices made and a hash of every generated file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// File name of the record, next to `Cargo.toml`.
pub const RECORD_FILE: &str = "cargo-users.toml";

const HEADER: &str = "\
# Written by cargo-users: the choices made and a sha256 of every file it generated.
# `cargo users list` compares these hashes to tell which files were edited since;
# `cargo users add-handler` reads the choices. Keep this file under version control.
";

/// The contents of `cargo-users.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl Record {
    /// Parses a record.
    pub fn parse(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::failure(format!("{RECORD_FILE} is not valid: {e}")))
    }

    /// Renders the record, deterministically.
    pub fn render(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!("{HEADER}\n{body}")
    }
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
        };
        let text = r.render();
        assert!(text.starts_with("# Written by cargo-users"));
        assert_eq!(Record::parse(&text).unwrap(), r);
    }

    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(
            hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
