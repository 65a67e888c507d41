//! Adding the generated code's dependencies to the user's `Cargo.toml` with toml_edit, keeping
//! comments, order and formatting; reusing compatible existing dependencies.

use semver::{Version, VersionReq};
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use crate::error::{Error, Result};
use crate::manifest::{DepTable, Manifest};
use crate::record::CargoBase;
use crate::selection::Selection;

/// Which dependency table an entry goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepKind {
    /// `[dependencies]`.
    Normal,
    /// `[dev-dependencies]`.
    Dev,
}

impl DepKind {
    /// The table's name in `Cargo.toml`.
    pub fn table(self) -> &'static str {
        match self {
            DepKind::Normal => "dependencies",
            DepKind::Dev => "dev-dependencies",
        }
    }
}

/// One dependency the generated code needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DepRequest {
    /// The table it goes to.
    pub kind: DepKind,
    /// The crate name (the key).
    pub name: String,
    /// The value as written in the manifest (a version string or a table).
    pub value: toml::Value,
}

impl DepRequest {
    /// The version requirement, if the value has one.
    pub fn version(&self) -> Option<&str> {
        match &self.value {
            toml::Value::String(s) => Some(s),
            toml::Value::Table(t) => t.get("version").and_then(|v| v.as_str()),
            _ => None,
        }
    }

    /// The features it needs.
    pub fn features(&self) -> Vec<String> {
        match &self.value {
            toml::Value::Table(t) => t
                .get("features")
                .and_then(|f| f.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

/// Every dependency for these choices, merged (a crate named twice gets the union of features).
pub fn requests(manifest: &Manifest, sel: &Selection) -> Vec<DepRequest> {
    let empty = crate::manifest::DepsSection::default();
    let mut sections: Vec<(&DepTable, &DepTable)> =
        vec![(&manifest.dependencies, &manifest.dev_dependencies)];
    for section in [
        manifest.backend.get(sel.backend.as_str()).unwrap_or(&empty),
        manifest.db.get(sel.db.as_str()).unwrap_or(&empty),
    ] {
        sections.push((&section.dependencies, &section.dev_dependencies));
    }
    if sel.app_mode {
        sections.push((&manifest.app.dependencies, &manifest.app.dev_dependencies));
    }
    for (name, spec) in &manifest.handler {
        if sel.handlers.contains(name) {
            sections.push((&spec.dependencies, &spec.dev_dependencies));
        }
    }
    let mut out: Vec<DepRequest> = Vec::new();
    let tables = sections
        .iter()
        .map(|(normal, _)| (DepKind::Normal, *normal))
        .chain(sections.iter().map(|(_, dev)| (DepKind::Dev, *dev)));
    for (kind, table) in tables {
        for (name, value) in table {
            if let Some(prev) = out.iter_mut().find(|r| r.kind == kind && &r.name == name) {
                merge_features(&mut prev.value, value);
            } else {
                out.push(DepRequest {
                    kind,
                    name: name.clone(),
                    value: value.clone(),
                });
            }
        }
    }
    out
}

fn merge_features(into: &mut toml::Value, from: &toml::Value) {
    let extra = DepRequest {
        kind: DepKind::Normal,
        name: String::new(),
        value: from.clone(),
    }
    .features();
    if extra.is_empty() {
        return;
    }
    if let toml::Value::String(v) = into {
        let mut t = toml::Table::new();
        t.insert("version".into(), toml::Value::String(v.clone()));
        *into = toml::Value::Table(t);
    }
    if let toml::Value::Table(t) = into {
        let features = t
            .entry("features")
            .or_insert_with(|| toml::Value::Array(Vec::new()));
        if let toml::Value::Array(a) = features {
            for f in extra {
                if !a.iter().any(|x| x.as_str() == Some(&f)) {
                    a.push(toml::Value::String(f));
                }
            }
        }
    }
}

/// The requests as the record keeps them: the base of `upgrade`'s per-key merge of `Cargo.toml`.
pub fn cargo_base(requests: &[DepRequest]) -> CargoBase {
    let mut base = CargoBase::default();
    for req in requests {
        let table = match req.kind {
            DepKind::Normal => &mut base.dependencies,
            DepKind::Dev => &mut base.dev_dependencies,
        };
        table.insert(req.name.clone(), req.value.clone());
    }
    base
}

/// The requests a record's [`CargoBase`] holds.
pub fn requests_of(base: &CargoBase) -> Vec<DepRequest> {
    let normal = base
        .dependencies
        .iter()
        .map(|(n, v)| (DepKind::Normal, n, v));
    let dev = base
        .dev_dependencies
        .iter()
        .map(|(n, v)| (DepKind::Dev, n, v));
    normal
        .chain(dev)
        .map(|(kind, name, value)| DepRequest {
            kind,
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

/// `upgrade`'s per-key merge of versions, base = what the tool wrote before: where this version
/// needs another requirement and `Cargo.toml` still holds the base's, it gets the new one. A
/// requirement the developer chose is kept ([`apply`] then checks it is compatible). Returns the text and `table: name
/// old -> new` lines.
pub fn bump_versions(
    text: &str,
    base: &[DepRequest],
    requests: &[DepRequest],
) -> Result<(String, Vec<String>)> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| Error::failure(format!("Cargo.toml is not valid TOML: {e}")))?;
    let mut bumped = Vec::new();
    for req in requests {
        let Some(new) = req.version() else { continue };
        let Some(old) = base
            .iter()
            .find(|b| b.kind == req.kind && b.name == req.name)
            .and_then(DepRequest::version)
        else {
            continue;
        };
        if old == new {
            continue;
        }
        let Some(item) = doc
            .get_mut(req.kind.table())
            .and_then(|t| t.as_table_like_mut())
            .and_then(|t| t.get_mut(&req.name))
        else {
            continue;
        };
        let slot = match item {
            Item::Value(v @ Value::String(_)) => Some(v),
            other => other
                .as_table_like_mut()
                .and_then(|t| t.get_mut("version"))
                .and_then(Item::as_value_mut),
        };
        let Some(slot) = slot else { continue };
        // Unchanged since the tool wrote it: take this version's requirement.
        if slot.as_str() == Some(old) {
            let decor = slot.decor().clone();
            *slot = Value::from(new);
            *slot.decor_mut() = decor;
            bumped.push(format!(
                "{}: {} \"{old}\" -> \"{new}\"",
                req.kind.table(),
                req.name
            ));
        }
    }
    Ok((doc.to_string(), bumped))
}

/// What [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EditOutcome {
    /// The new `Cargo.toml` text.
    pub text: String,
    /// Dependencies added, as `table: name`.
    pub added: Vec<String>,
    /// Existing dependencies that got features, as `table: name`.
    pub updated: Vec<String>,
}

/// Adds `requests` to the `Cargo.toml` text. An existing, incompatible dependency is an error
/// listing every such dependency; nothing is changed then.
pub fn apply(text: &str, requests: &[DepRequest]) -> Result<EditOutcome> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| Error::failure(format!("Cargo.toml is not valid TOML: {e}")))?;
    let mut outcome = EditOutcome::default();
    let mut incompatible = Vec::new();
    for kind in [DepKind::Normal, DepKind::Dev] {
        let wanted: Vec<&DepRequest> = requests.iter().filter(|r| r.kind == kind).collect();
        if wanted.is_empty() {
            continue;
        }
        // A dev-dependency already among the normal dependencies is served by that entry.
        let mut wanted_here = Vec::new();
        for req in wanted {
            let normal = (kind == DepKind::Dev)
                .then(|| doc.get_mut(DepKind::Normal.table()))
                .flatten()
                .and_then(|t| t.as_table_like_mut())
                .and_then(|t| t.get_mut(&req.name));
            match normal {
                Some(existing) if incompatibility(existing, req).is_none() => {
                    if add_features(existing, &req.features()) {
                        outcome.updated.push(format!("dependencies: {}", req.name));
                    }
                }
                _ => wanted_here.push(req),
            }
        }
        if wanted_here.is_empty() {
            continue;
        }
        let table = dependency_table(&mut doc, kind.table())?;
        let was_sorted = is_sorted(table);
        let mut inserted = false;
        for req in wanted_here {
            let label = format!("{}: {}", kind.table(), req.name);
            match table.get_mut(&req.name) {
                None => {
                    table.insert(&req.name, Item::Value(to_edit_value(&req.value)));
                    outcome.added.push(label);
                    inserted = true;
                }
                Some(existing) => {
                    if let Some(problem) = incompatibility(existing, req) {
                        incompatible.push(format!("[{}] {problem}", kind.table()));
                        continue;
                    }
                    if add_features(existing, &req.features()) {
                        outcome.updated.push(label);
                    }
                }
            }
        }
        if inserted && was_sorted {
            table.sort_values();
        }
    }
    if !incompatible.is_empty() {
        return Err(Error::failure(format!(
            "Cargo.toml has dependencies the generated code cannot use:\n{}\nupdate or remove them, \
             then run again; nothing was written",
            incompatible
                .iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )));
    }
    outcome.text = doc.to_string();
    Ok(outcome)
}

/// Adds `[profile.dev.package.<name>] opt-level = 3` for each crate that has no such table yet, so
/// debug builds run it at full speed (the intermediate `profile` tables stay implicit: no empty
/// headers). Returns the text unchanged when nothing is missing.
pub fn optimize_in_dev(text: &str, crates: &[String]) -> Result<String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| Error::failure(format!("Cargo.toml is not valid TOML: {e}")))?;
    let mut changed = false;
    for name in crates {
        let mut path = vec!["profile", "dev", "package"];
        let mut table = doc.as_table_mut();
        for key in path.drain(..) {
            let item = table.entry(key).or_insert_with(|| {
                let mut implicit = Table::new();
                implicit.set_implicit(true);
                Item::Table(implicit)
            });
            match item.as_table_mut() {
                Some(inner) => table = inner,
                // `profile = "..."` or an inline table: leave the user's file alone.
                None => return Ok(text.to_string()),
            }
        }
        if table.contains_key(name) {
            continue;
        }
        let mut settings = Table::new();
        settings.insert("opt-level", toml_edit::value(3));
        table.insert(name, Item::Table(settings));
        changed = true;
    }
    Ok(if changed {
        doc.to_string()
    } else {
        text.to_string()
    })
}

fn dependency_table<'a>(doc: &'a mut DocumentMut, name: &str) -> Result<&'a mut Table> {
    let item = doc.entry(name).or_insert_with(|| Item::Table(Table::new()));
    if let Item::Value(Value::InlineTable(inline)) = item {
        let inline = std::mem::take(inline);
        *item = Item::Table(inline.into_table());
    }
    item.as_table_mut()
        .ok_or_else(|| Error::failure(format!("Cargo.toml: `{name}` is not a table")))
}

fn is_sorted(table: &Table) -> bool {
    let keys: Vec<&str> = table.iter().map(|(k, _)| k).collect();
    keys.windows(2).all(|w| w[0] <= w[1])
}

/// Why an existing dependency cannot serve `req`, or `None` when it can.
fn incompatibility(existing: &Item, req: &DepRequest) -> Option<String> {
    let ours = req.version()?;
    let existing_version = match existing {
        Item::Value(Value::String(s)) => Some(s.value().to_string()),
        other => other
            .as_table_like()
            .and_then(|t| t.get("version"))
            .and_then(|v| v.as_str())
            .map(str::to_string),
    };
    // A path, git or workspace dependency without a version: the user's call.
    let theirs = existing_version?;
    if compatible(&theirs, ours) {
        None
    } else {
        Some(format!(
            "{} = \"{theirs}\", but the generated code needs {} \"{ours}\" (a version compatible with {ours})",
            req.name, req.name
        ))
    }
}

/// Whether some version allowed by `theirs` is caret-compatible with `ours`.
pub fn compatible(theirs: &str, ours: &str) -> bool {
    let (Ok(theirs_req), Ok(ours_req)) = (VersionReq::parse(theirs), VersionReq::parse(ours))
    else {
        // Unparsable requirements: let cargo judge them.
        return true;
    };
    let to_version =
        |c: &semver::Comparator| Version::new(c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0));
    let candidates = ours_req
        .comparators
        .iter()
        .chain(theirs_req.comparators.iter())
        .map(to_version)
        .chain(std::iter::once(Version::new(0, 0, 0)));
    for v in candidates {
        if ours_req.matches(&v) && theirs_req.matches(&v) {
            return true;
        }
    }
    false
}

/// Adds the missing `features` to an existing entry; true when it changed.
fn add_features(existing: &mut Item, features: &[String]) -> bool {
    if features.is_empty() {
        return false;
    }
    if let Item::Value(Value::String(s)) = existing {
        let decor = s.decor().clone();
        let mut inline = InlineTable::new();
        inline.insert("version", Value::from(s.value().as_str()));
        let mut value = Value::InlineTable(inline);
        *value.decor_mut() = decor;
        *existing = Item::Value(value);
    }
    let Some(table) = existing.as_table_like_mut() else {
        return false;
    };
    add_to_feature_list(table, features)
}

fn add_to_feature_list(table: &mut dyn TableLike, features: &[String]) -> bool {
    if table.get("features").is_none() {
        table.insert("features", Item::Value(Value::Array(Array::new())));
    }
    let Some(array) = table.get_mut("features").and_then(|f| f.as_array_mut()) else {
        return false;
    };
    let mut changed = false;
    for f in features {
        if !array.iter().any(|v| v.as_str() == Some(f)) {
            array.push(f.as_str());
            changed = true;
        }
    }
    changed
}

/// Converts a manifest value into a freshly formatted toml_edit value.
fn to_edit_value(value: &toml::Value) -> Value {
    let mut v = match value {
        toml::Value::String(s) => Value::from(s.as_str()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::from(*b),
        toml::Value::Datetime(d) => Value::from(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(to_edit_value).collect()),
        toml::Value::Table(t) => {
            let mut inline = InlineTable::new();
            for (k, v) in t {
                inline.insert(k, to_edit_value(v));
            }
            Value::InlineTable(inline)
        }
    };
    v.decor_mut().clear();
    v
}

#[cfg(test)]
mod tests {
    use crate::selection::{Backend, Database};

    fn selection(backend: Backend, db: Database, app_mode: bool) -> Selection {
        Selection {
            backend,
            db,
            handlers: Vec::new(),
            app_mode,
        }
    }

    #[test]
    fn bump_takes_the_new_requirement_only_where_the_tool_wrote_the_old_one() {
        let req = |name: &str, v: &str| DepRequest {
            kind: DepKind::Normal,
            name: name.into(),
            value: toml::Value::String(v.into()),
        };
        let text = "[dependencies]\naxum = \"0.8\" # web\nsqlx = { version = \"0.8.2\", features = [\"x\"] }\ntokio = \"1\"\n";
        let base = [req("axum", "0.8"), req("sqlx", "0.8"), req("tokio", "1")];
        let new = [req("axum", "0.9"), req("sqlx", "0.9"), req("tokio", "1")];
        let (out, bumped) = bump_versions(text, &base, &new).unwrap();
        // Untouched since the tool wrote it: the new requirement (comment kept).
        assert!(out.contains("axum = \"0.9\" # web\n"), "{out}");
        // The developer's own choice stays for `apply` to judge.
        assert!(out.contains("version = \"0.8.2\""), "{out}");
        assert_eq!(bumped, ["dependencies: axum \"0.8\" -> \"0.9\""]);
        assert!(apply(&out, &new).is_err(), "0.8.2 cannot serve 0.9");
    }
    use super::*;

    #[test]
    fn argon2_is_optimized_in_dev_builds_without_touching_existing_profiles() {
        let crates = vec!["argon2".to_string(), "blake2".to_string()];
        let text = "[package]\nname = \"demo\"\n\n[profile.dev.package.blake2]\nopt-level = 1\n";
        let out = optimize_in_dev(text, &crates).unwrap();
        assert_eq!(
            out,
            "[package]\nname = \"demo\"\n\n[profile.dev.package.blake2]\nopt-level = 1\n\n\
             [profile.dev.package.argon2]\nopt-level = 3\n"
        );
        assert_eq!(optimize_in_dev(&out, &crates).unwrap(), out);
        let fresh = optimize_in_dev("[package]\nname = \"demo\"\n", &crates[..1]).unwrap();
        assert_eq!(
            fresh,
            "[package]\nname = \"demo\"\n\n[profile.dev.package.argon2]\nopt-level = 3\n"
        );
    }

    fn req(kind: DepKind, name: &str, value: &str) -> DepRequest {
        let parsed: toml::Table = toml::from_str(&format!("x = {value}")).unwrap();
        DepRequest {
            kind,
            name: name.to_string(),
            value: parsed["x"].clone(),
        }
    }

    #[test]
    fn caret_compatibility_follows_cargo() {
        assert!(compatible("0.8", "0.8"));
        assert!(compatible("0.8.4", "0.8"));
        assert!(compatible("^0.8.1", "0.8"));
        assert!(compatible("=0.8.3", "0.8"));
        assert!(compatible(">=0.8, <0.9", "0.8"));
        assert!(compatible("*", "0.8"));
        assert!(compatible("1.40", "1"));
        assert!(!compatible("0.7", "0.8"));
        assert!(!compatible("0.9", "0.8"));
        assert!(!compatible("2", "1"));
        assert!(!compatible("=0.7.9", "0.8"));
    }

    #[test]
    fn new_dependencies_go_sorted_into_a_sorted_table() {
        let text = "[package]\nname = \"a\"\n\n[dependencies]\nanyhow = \"1\"\nzip = \"2\"\n";
        let out = apply(
            text,
            &[req(
                DepKind::Normal,
                "serde",
                r#"{ version = "1", features = ["derive"] }"#,
            )],
        )
        .unwrap();
        assert_eq!(
            out.text,
            "[package]\nname = \"a\"\n\n[dependencies]\nanyhow = \"1\"\nserde = { version = \"1\", features = [\"derive\"] }\nzip = \"2\"\n"
        );
        assert_eq!(out.added, ["dependencies: serde"]);
    }

    #[test]
    fn an_unsorted_commented_table_keeps_its_order_and_comments() {
        let text = "# my app\n[package]\nname = \"a\" # the name\n\n[dependencies]\n# web\nzip = \"2\"   # keep\nanyhow = \"1\"\n\n# tests\n[dev-dependencies]\n";
        let out = apply(
            text,
            &[
                req(DepKind::Normal, "serde", "\"1\""),
                req(
                    DepKind::Dev,
                    "tower",
                    r#"{ version = "0.5", features = ["util"] }"#,
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            out.text,
            "# my app\n[package]\nname = \"a\" # the name\n\n[dependencies]\n# web\nzip = \"2\"   # keep\nanyhow = \"1\"\nserde = \"1\"\n\n# tests\n[dev-dependencies]\ntower = { version = \"0.5\", features = [\"util\"] }\n"
        );
    }

    #[test]
    fn missing_tables_are_created() {
        let out = apply(
            "[package]\nname = \"a\"\n",
            &[
                req(DepKind::Normal, "axum", "\"0.8\""),
                req(DepKind::Dev, "tower", "\"0.5\""),
            ],
        )
        .unwrap();
        assert_eq!(
            out.text,
            "[package]\nname = \"a\"\n\n[dependencies]\naxum = \"0.8\"\n\n[dev-dependencies]\ntower = \"0.5\"\n"
        );
    }

    #[test]
    fn a_compatible_dependency_is_reused_and_gets_missing_features() {
        let text = "[dependencies]\ntokio = \"1.40\" # runtime\nuuid = { version = \"1\", features = [\"v4\"] }\n\n[dependencies.serde]\nversion = \"1.0\"\n";
        let out = apply(
            text,
            &[
                req(
                    DepKind::Normal,
                    "tokio",
                    r#"{ version = "1", features = ["full"] }"#,
                ),
                req(
                    DepKind::Normal,
                    "uuid",
                    r#"{ version = "1", features = ["serde", "v4"] }"#,
                ),
                req(
                    DepKind::Normal,
                    "serde",
                    r#"{ version = "1", features = ["derive"] }"#,
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            out.text,
            "[dependencies]\ntokio = { version = \"1.40\", features = [\"full\"] } # runtime\nuuid = { version = \"1\", features = [\"v4\", \"serde\"] }\n\n[dependencies.serde]\nversion = \"1.0\"\nfeatures = [\"derive\"]\n"
        );
        assert!(out.added.is_empty());
        assert_eq!(out.updated.len(), 3);
    }

    #[test]
    fn incompatible_dependencies_are_all_listed() {
        let text = "[dependencies]\naxum = \"0.7\"\nsqlx = { version = \"0.7\", features = [\"sqlite\"] }\n";
        let err = apply(
            text,
            &[
                req(DepKind::Normal, "axum", "\"0.8\""),
                req(DepKind::Normal, "sqlx", "\"0.8\""),
            ],
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("axum = \"0.7\"") && msg.contains("sqlx = \"0.7\""),
            "{msg}"
        );
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn workspace_and_path_dependencies_are_trusted() {
        let text = "[dependencies]\naxum = { workspace = true }\nsqlx = { path = \"../sqlx\" }\n";
        let out = apply(
            text,
            &[
                req(DepKind::Normal, "axum", "\"0.8\""),
                req(DepKind::Normal, "sqlx", "\"0.8\""),
            ],
        )
        .unwrap();
        assert_eq!(out.text, text);
    }

    #[test]
    fn requests_merge_backend_database_and_app_dependencies() {
        let m = Manifest::embedded().unwrap();
        let reqs = requests(&m, &selection(Backend::JwtCookie, Database::Postgres, true));
        let names: Vec<&str> = reqs.iter().map(|r| r.name.as_str()).collect();
        for n in ["axum", "jsonwebtoken", "sqlx", "clap", "tower"] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        let sqlx = reqs.iter().find(|r| r.name == "sqlx").unwrap();
        assert!(sqlx.features().contains(&"postgres".to_string()));
        let reqs = requests(&m, &selection(Backend::Session, Database::Sqlite, false));
        assert!(
            !reqs
                .iter()
                .any(|r| r.name == "clap" || r.name == "jsonwebtoken")
        );
    }
}
