//! Small text edits of the user's files: the `pub mod` line in the library root, `.gitignore`,
//! a fresh `.env`, and insertions at the marker comments of generated files.

use crate::error::{Error, Result};
use crate::selection::Database;

/// The library root with `pub mod <module>;` declared: created when absent, a private
/// declaration made public, or the line added after the last `mod` line (or after the
/// leading doc comments and attributes).
pub fn declare_module(existing: Option<&str>, module: &str, package: &str) -> String {
    let Some(text) = existing else {
        return format!("//! The `{package}` library.\n\npub mod {module};\n");
    };
    let decl = format!("pub mod {module};");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let is_decl_of = |line: &str| {
        let t = line.trim();
        let rest = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub(super) "))
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        rest == format!("mod {module};")
    };
    if let Some(i) = lines.iter().position(|l| is_decl_of(l)) {
        if lines[i].trim() == decl {
            return text.to_string();
        }
        let indent: String = lines[i].chars().take_while(|c| c.is_whitespace()).collect();
        lines[i] = format!("{indent}{decl}");
    } else if let Some(last_mod) = lines.iter().rposition(|l| is_top_level_mod(l)) {
        lines.insert(last_mod + 1, decl);
    } else {
        let header = lines
            .iter()
            .take_while(|l| {
                let t = l.trim();
                t.starts_with("//!") || t.starts_with("#![") || t.is_empty()
            })
            .count();
        // Back up over blank lines so the declaration sits right after the header.
        let mut at = header;
        while at > 0 && lines[at - 1].trim().is_empty() {
            at -= 1;
        }
        let mut block = Vec::new();
        if at > 0 {
            block.push(String::new());
        }
        block.push(decl);
        if at < lines.len() {
            block.push(String::new());
            // Drop blank lines that now double the separation.
            while at < lines.len() && lines[at].trim().is_empty() {
                lines.remove(at);
            }
            if at == lines.len() {
                block.pop();
            }
        }
        lines.splice(at..at, block);
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') || text.is_empty() {
        out.push('\n');
    }
    out
}

fn is_top_level_mod(line: &str) -> bool {
    let starts = ["mod ", "pub mod ", "pub(crate) mod "];
    starts.iter().any(|s| line.starts_with(s)) && line.trim_end().ends_with(';')
}

/// The entries `.gitignore` must hold for a database.
pub fn ignored_entries(db: Database) -> Vec<&'static str> {
    let mut entries = vec![".env"];
    if db == Database::Sqlite {
        entries.extend(["*.db", "*.db-shm", "*.db-wal"]);
    }
    entries
}

/// `.gitignore` with the missing entries appended (created when absent).
pub fn gitignore(existing: Option<&str>, db: Database) -> String {
    let text = existing.unwrap_or("");
    let present = |entry: &str| {
        text.lines()
            .map(str::trim)
            .any(|l| l == entry || l.strip_prefix('/') == Some(entry))
    };
    let missing: Vec<&str> = ignored_entries(db)
        .into_iter()
        .filter(|e| !present(e))
        .collect();
    if missing.is_empty() {
        return text.to_string();
    }
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for entry in missing {
        out.push_str(entry);
        out.push('\n');
    }
    out
}

/// The contents of a fresh `.env`.
pub fn dotenv(db: Database, package: &str, secret: &str) -> String {
    format!(
        "# Local settings for {package}, written by cargo-users. Keep out of version control.\n\
         DATABASE_URL={}\n\
         USERS_SECRET={secret}\n\
         BIND_ADDR=127.0.0.1:3000\n\
         APP_URL=http://localhost:3000\n\
         # SMTP_URL=smtp://127.0.0.1:2525\n",
        db.default_url(package)
    )
}

/// 64 hex characters (32 bytes) from the operating system's random number generator.
pub fn random_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::failure(format!("no randomness from the OS for the secret: {e}")))?;
    Ok(hex::encode(bytes))
}

/// Lines to insert above a marker comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insertion {
    /// The marker, compared after trimming.
    pub marker: String,
    /// The lines to insert, without indentation (the marker's is used).
    pub lines: Vec<String>,
}

/// `text` with `insertion`'s lines inserted above its marker, indented like the marker;
/// lines already present are not inserted again. `None` when the marker is missing.
pub fn insert_at_marker(text: &str, insertion: &Insertion) -> Option<String> {
    let marker = insertion.marker.trim();
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let at = lines.iter().position(|l| l.trim() == marker)?;
    let indent: String = lines[at]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    let new: Vec<String> = insertion
        .lines
        .iter()
        .filter(|l| !text.lines().any(|t| t.trim() == l.trim()))
        .map(|l| format!("{indent}{}\n", l.trim()))
        .collect();
    let new_refs: Vec<&str> = new.iter().map(String::as_str).collect();
    lines.splice(at..at, new_refs);
    Some(lines.concat())
}

/// `text` with every insertion applied in turn (see [`insert_at_marker`]). `None` when one of
/// their markers is missing.
pub fn insert_at_markers(text: &str, insertions: &[Insertion]) -> Option<String> {
    insertions
        .iter()
        .try_fold(text.to_string(), |text, ins| insert_at_marker(&text, ins))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_root_is_created() {
        assert_eq!(
            declare_module(None, "users", "demo"),
            "//! The `demo` library.\n\npub mod users;\n"
        );
    }

    #[test]
    fn a_present_declaration_is_left_alone() {
        let text = "pub mod api;\npub mod users;\n";
        assert_eq!(declare_module(Some(text), "users", "x"), text);
    }

    #[test]
    fn a_private_declaration_is_made_public() {
        assert_eq!(
            declare_module(Some("mod users;\nfn f() {}\n"), "users", "x"),
            "pub mod users;\nfn f() {}\n"
        );
    }

    #[test]
    fn the_declaration_follows_the_last_mod_line() {
        assert_eq!(
            declare_module(
                Some("//! Lib.\n\npub mod api;\nmod db;\n\npub fn f() {}\n"),
                "users",
                "x"
            ),
            "//! Lib.\n\npub mod api;\nmod db;\npub mod users;\n\npub fn f() {}\n"
        );
    }

    #[test]
    fn without_mod_lines_the_declaration_follows_the_header() {
        assert_eq!(
            declare_module(
                Some("//! Lib.\n#![forbid(unsafe_code)]\n\npub fn f() {}\n"),
                "users",
                "x"
            ),
            "//! Lib.\n#![forbid(unsafe_code)]\n\npub mod users;\n\npub fn f() {}\n"
        );
        assert_eq!(
            declare_module(Some("pub fn f() {}\n"), "users", "x"),
            "pub mod users;\n\npub fn f() {}\n"
        );
        assert_eq!(declare_module(Some(""), "users", "x"), "pub mod users;\n");
    }

    #[test]
    fn gitignore_gets_only_missing_entries() {
        assert_eq!(
            gitignore(Some("/target\n/.env"), Database::Postgres),
            "/target\n/.env"
        );
        assert_eq!(
            gitignore(Some("/target"), Database::Sqlite),
            "/target\n.env\n*.db\n*.db-shm\n*.db-wal\n"
        );
        assert_eq!(gitignore(None, Database::Mysql), ".env\n");
    }

    #[test]
    fn dotenv_names_every_variable() {
        let env = dotenv(Database::Sqlite, "demo", "s3cr3t");
        for needle in [
            "DATABASE_URL=sqlite://demo.db\n",
            "USERS_SECRET=s3cr3t\n",
            "BIND_ADDR=127.0.0.1:3000\n",
            "APP_URL=http://localhost:3000\n",
            "# SMTP_URL=smtp://127.0.0.1:2525\n",
        ] {
            assert!(env.contains(needle), "{needle}");
        }
    }

    #[test]
    fn secrets_are_64_hex_characters_and_differ() {
        let a = random_secret().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_secret().unwrap());
    }

    #[test]
    fn insertion_goes_above_the_marker_with_its_indentation() {
        let text =
            "fn r() {\n    Router::new()\n        .merge(a())\n        // cargo-users: routes\n}\n";
        let ins = Insertion {
            marker: "// cargo-users: routes".into(),
            lines: vec![".merge(b())".into(), ".merge(a())".into()],
        };
        assert_eq!(
            insert_at_marker(text, &ins).unwrap(),
            "fn r() {\n    Router::new()\n        .merge(a())\n        .merge(b())\n        // cargo-users: routes\n}\n"
        );
        assert_eq!(insert_at_marker("no marker\n", &ins), None);
    }

    #[test]
    fn every_insertion_goes_above_its_own_marker_or_none_when_one_is_gone() {
        let text = "pub mod a;\n// mods\nfn r() {\n    x()\n    // routes\n}\n";
        let ins = [
            Insertion {
                marker: "// mods".into(),
                lines: vec!["pub mod b;".into()],
            },
            Insertion {
                marker: "// routes".into(),
                lines: vec![".merge(b())".into()],
            },
        ];
        assert_eq!(
            insert_at_markers(text, &ins).unwrap(),
            "pub mod a;\npub mod b;\n// mods\nfn r() {\n    x()\n    .merge(b())\n    // routes\n}\n"
        );
        assert_eq!(insert_at_markers("pub mod a;\n// mods\n", &ins), None);
        assert_eq!(insert_at_markers(text, &[]).unwrap(), text);
    }
}
