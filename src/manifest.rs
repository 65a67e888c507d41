//! The declarative manifest of templates (`templates/manifest.toml`), embedded in the binary.
//!
//! It says which templates each handler, backend and database brings, where they go, which
//! migrations and dependencies a choice needs, and the lines that wire the parts together: each
//! module file's `pub mod` line and each handler's router line, rendered above the marker
//! comments that the manifest declares per file ([`Wiring`]).

use std::collections::BTreeMap;

use include_dir::{Dir, include_dir};
use indexmap::IndexMap;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::selection::{Backend, Database, Selection};

/// The embedded `templates/` folder.
pub static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// Name of the manifest inside the templates folder.
pub const MANIFEST_FILE: &str = "manifest.toml";

/// A dependency as written in the manifest (cargo's syntax: a version string or a table).
pub type DepTable = IndexMap<String, toml::Value>;

/// The parsed manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Handlers, in the canonical order (the order of the file).
    #[serde(default)]
    pub handler: IndexMap<String, HandlerSpec>,
    /// Files rendered from templates.
    #[serde(default)]
    pub file: Vec<FileSpec>,
    /// SQL migrations rendered from templates.
    #[serde(default)]
    pub migration: Vec<MigrationSpec>,
    /// Dependencies every project gets.
    #[serde(default)]
    pub dependencies: DepTable,
    /// Dependencies per auth backend.
    #[serde(default)]
    pub backend: IndexMap<String, DepsSection>,
    /// Dependencies per database.
    #[serde(default)]
    pub db: IndexMap<String, DepsSection>,
    /// Dependencies in app mode.
    #[serde(default)]
    pub app: DepsSection,
    /// Dev-dependencies every project gets.
    #[serde(default, rename = "dev-dependencies")]
    pub dev_dependencies: DepTable,
    /// Crates built with `opt-level = 3` in the `dev` profile too (added when absent).
    #[serde(default, rename = "optimize-in-dev")]
    pub optimize_in_dev: Vec<String>,
}

/// A table holding `dependencies` and `dev-dependencies` tables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepsSection {
    /// The dependencies.
    #[serde(default)]
    pub dependencies: DepTable,
    /// The dev-dependencies (for the generated tests).
    #[serde(default, rename = "dev-dependencies")]
    pub dev_dependencies: DepTable,
}

/// One handler: its routes, the handlers it needs and its router line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandlerSpec {
    /// One-line description shown in prompts and `list`.
    pub summary: String,
    /// Routes it serves, e.g. `POST /login`.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Handlers it needs.
    #[serde(default)]
    pub requires: Vec<String>,
    /// The line that adds its routes to the generated router, rendered above the file's `routes`
    /// marker.
    pub router: String,
    /// Extra dependencies this handler needs (optional).
    #[serde(default)]
    pub dependencies: DepTable,
    /// Extra dev-dependencies this handler's generated tests need (optional).
    #[serde(default, rename = "dev-dependencies")]
    pub dev_dependencies: DepTable,
}

/// Filters of a `[[file]]` or `[[migration]]` entry: it is rendered when every filter it has matches.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// At least one of these handlers is installed.
    pub handlers: Option<Vec<String>>,
    /// None of these handlers is installed (the stand-in a handler's file replaces).
    pub without_handlers: Option<Vec<String>>,
    /// The auth backend is one of these.
    pub backends: Option<Vec<String>>,
    /// The database is one of these.
    pub dbs: Option<Vec<String>>,
    /// The project is (or is not) in app mode.
    pub app_mode: Option<bool>,
}

impl Filters {
    /// Whether an entry with these filters is rendered for the given choices.
    pub fn matches(&self, sel: &Selection) -> bool {
        self.handlers
            .as_ref()
            .is_none_or(|hs| hs.iter().any(|h| sel.handlers.contains(h)))
            && self
                .without_handlers
                .as_ref()
                .is_none_or(|hs| !hs.iter().any(|h| sel.handlers.contains(h)))
            && self
                .backends
                .as_ref()
                .is_none_or(|bs| bs.iter().any(|b| b == sel.backend.as_str()))
            && self
                .dbs
                .as_ref()
                .is_none_or(|ds| ds.iter().any(|d| d == sel.db.as_str()))
            && self.app_mode.is_none_or(|m| m == sel.app_mode)
    }
}

/// A `[[file]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Template path, relative to the templates folder.
    pub template: String,
    /// Output path, relative to the package root; `{module_dir}` is substituted.
    pub path: String,
    /// At least one of these handlers is installed.
    pub handlers: Option<Vec<String>>,
    /// None of these handlers is installed.
    pub without_handlers: Option<Vec<String>>,
    /// The auth backend is one of these.
    pub backends: Option<Vec<String>>,
    /// The database is one of these.
    pub dbs: Option<Vec<String>>,
    /// The project is (or is not) in app mode.
    pub app_mode: Option<bool>,
    /// The template of the file that declares this one as a module (`pub mod <name>;` above that
    /// file's `modules` marker); `None` for a file that is not a module, or is declared by hand.
    #[serde(default)]
    pub declared_in: Option<String>,
    /// The marker comments of this file, above which the wiring lines go.
    #[serde(default)]
    pub markers: Markers,
}

/// The marker comments of a generated file. The lines that wire other parts into the file are
/// rendered above them (in order), and `add-handler` inserts new ones there into a file that was
/// edited when no merge base exists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Markers {
    /// Above the `pub mod` lines of the files declared in this one (their `declared_in`).
    pub modules: Option<String>,
    /// Above the installed handlers' `router` lines.
    pub routes: Option<String>,
}

/// The lines that wire the parts rendered for a selection together, from the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wiring {
    /// For each template with a `modules` marker, the `pub mod` lines of the rendered files
    /// declared in it, sorted (as rustfmt orders them).
    pub modules: BTreeMap<String, Vec<String>>,
    /// The installed handlers' router lines, in manifest order.
    pub routes: Vec<String>,
}

impl FileSpec {
    /// `pub mod <name>;` for a file declared as a module: the file's stem, or its folder's name
    /// for a `mod.rs`. A module of an integration-test crate (under `tests/`) is `mod <name>;`:
    /// nothing outside that crate can use it.
    pub fn module_line(&self) -> Option<String> {
        self.declared_in.as_ref()?;
        let path = std::path::Path::new(&self.path);
        let stem = path.file_stem()?.to_str()?;
        let name = if stem == "mod" {
            path.parent()?.file_name()?.to_str()?
        } else {
            stem
        };
        let visibility = if self.path.starts_with("tests/") {
            ""
        } else {
            "pub "
        };
        Some(format!("{visibility}mod {name};"))
    }
}

/// A `[[migration]]` entry, written to `migrations/<timestamp>_<name>.sql`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationSpec {
    /// Template path, relative to the templates folder.
    pub template: String,
    /// Migration name (the part after the timestamp).
    pub name: String,
    /// At least one of these handlers is installed.
    pub handlers: Option<Vec<String>>,
    /// None of these handlers is installed.
    pub without_handlers: Option<Vec<String>>,
    /// The auth backend is one of these.
    pub backends: Option<Vec<String>>,
    /// The database is one of these.
    pub dbs: Option<Vec<String>>,
    /// The project is (or is not) in app mode.
    pub app_mode: Option<bool>,
}

macro_rules! impl_filters {
    ($ty:ty) => {
        impl $ty {
            /// The filters of this entry.
            pub fn filters(&self) -> Filters {
                Filters {
                    handlers: self.handlers.clone(),
                    without_handlers: self.without_handlers.clone(),
                    backends: self.backends.clone(),
                    dbs: self.dbs.clone(),
                    app_mode: self.app_mode,
                }
            }
        }
    };
}
impl_filters!(FileSpec);
impl_filters!(MigrationSpec);

impl Manifest {
    /// Parses the embedded manifest.
    pub fn embedded() -> Result<Self> {
        let text = TEMPLATES
            .get_file(MANIFEST_FILE)
            .and_then(|f| f.contents_utf8())
            .ok_or_else(|| Error::failure("templates/manifest.toml is missing from the binary"))?;
        Self::parse(text)
    }

    /// Parses a manifest and checks that its handler references are consistent.
    pub fn parse(text: &str) -> Result<Self> {
        let manifest: Manifest = toml::from_str(text)
            .map_err(|e| Error::failure(format!("templates/manifest.toml is invalid: {e}")))?;
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> Result<()> {
        let known = |name: &String| self.handler.contains_key(name);
        for (name, spec) in &self.handler {
            if let Some(bad) = spec.requires.iter().find(|r| !known(r)) {
                return Err(Error::failure(format!(
                    "templates/manifest.toml: handler `{name}` requires unknown handler `{bad}`"
                )));
            }
        }
        let filters = self
            .file
            .iter()
            .map(|f| (&f.template, f.filters()))
            .chain(self.migration.iter().map(|m| (&m.template, m.filters())));
        for (template, filters) in filters {
            if let Some(bad) = filters
                .handlers
                .iter()
                .chain(&filters.without_handlers)
                .flatten()
                .find(|h| !known(h))
            {
                return Err(Error::failure(format!(
                    "templates/manifest.toml: `{template}` names unknown handler `{bad}`"
                )));
            }
            if let Some(bad) = filters
                .backends
                .iter()
                .flatten()
                .find(|b| Backend::parse(b).is_none())
            {
                return Err(Error::failure(format!(
                    "templates/manifest.toml: `{template}` names unknown backend `{bad}`"
                )));
            }
            if let Some(bad) = filters
                .dbs
                .iter()
                .flatten()
                .find(|d| Database::parse(d).is_none())
            {
                return Err(Error::failure(format!(
                    "templates/manifest.toml: `{template}` names unknown database `{bad}`"
                )));
            }
        }
        self.check_paths()?;
        self.check_wiring()
    }

    /// No two `[[file]]` entries render the same path for one selection: entries sharing a path
    /// (one template per variant) must have disjoint `backends`, `dbs` or `app_mode` filters, or
    /// one must need handlers that the other's `without_handlers` all exclude. `handlers` filters
    /// alone never make two entries disjoint, since any handlers can be installed together.
    fn check_paths(&self) -> Result<()> {
        fn overlap(a: &Option<Vec<String>>, b: &Option<Vec<String>>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => a.iter().any(|x| b.contains(x)),
                _ => true,
            }
        }
        for (i, a) in self.file.iter().enumerate() {
            for b in self.file.iter().skip(i + 1).filter(|b| b.path == a.path) {
                let excludes = |x: &FileSpec, y: &FileSpec| match (&x.handlers, &y.without_handlers)
                {
                    (Some(needed), Some(absent)) => needed.iter().all(|h| absent.contains(h)),
                    _ => false,
                };
                let disjoint = excludes(a, b)
                    || excludes(b, a)
                    || !overlap(&a.backends, &b.backends)
                    || !overlap(&a.dbs, &b.dbs)
                    || matches!((a.app_mode, b.app_mode), (Some(x), Some(y)) if x != y);
                if !disjoint {
                    return Err(Error::failure(format!(
                        "templates/manifest.toml: `{}` and `{}` both render `{}` for one \
                         selection; give them disjoint `backends`, `dbs`, `app_mode` or `handlers` / \
                         `without_handlers` filters",
                        a.template, b.template, a.path
                    )));
                }
            }
        }
        Ok(())
    }

    /// Every `declared_in` names a file with a `modules` marker, and router lines have a file
    /// with a `routes` marker to go to.
    fn check_wiring(&self) -> Result<()> {
        for spec in &self.file {
            let Some(parent) = &spec.declared_in else {
                continue;
            };
            if self
                .markers_of(parent)
                .and_then(|m| m.modules.as_ref())
                .is_none()
            {
                return Err(Error::failure(format!(
                    "templates/manifest.toml: `{}` is declared in `{parent}`, which is not a \
                     [[file]] with a `modules` marker",
                    spec.template
                )));
            }
        }
        let routers = self
            .file
            .iter()
            .filter(|f| f.markers.routes.is_some())
            .count();
        // Releases before 0.2.0 rendered the router without the manifest's markers.
        if routers > 1 || (routers == 0 && self.file.iter().any(|f| f.declared_in.is_some())) {
            return Err(Error::failure(format!(
                "templates/manifest.toml: {routers} files have a `routes` marker; one must"
            )));
        }
        Ok(())
    }

    /// The markers of the `[[file]]` entry rendered from `template`.
    pub fn markers_of(&self, template: &str) -> Option<&Markers> {
        self.file
            .iter()
            .find(|f| f.template == template)
            .map(|f| &f.markers)
    }

    /// The wiring lines for a selection: the `pub mod` line of every rendered module file, under
    /// the template that declares it, and the installed handlers' router lines.
    pub fn wiring(&self, sel: &Selection) -> Wiring {
        let mut wiring = Wiring::default();
        for spec in self.file.iter().filter(|f| f.markers.modules.is_some()) {
            wiring.modules.insert(spec.template.clone(), Vec::new());
        }
        for spec in self.file.iter().filter(|f| f.filters().matches(sel)) {
            if let (Some(parent), Some(line)) = (&spec.declared_in, spec.module_line()) {
                wiring.modules.entry(parent.clone()).or_default().push(line);
            }
        }
        for lines in wiring.modules.values_mut() {
            lines.sort();
            lines.dedup();
        }
        wiring.routes = self
            .handler
            .iter()
            .filter(|(name, _)| sel.handlers.contains(name))
            .map(|(_, spec)| spec.router.clone())
            .collect();
        wiring
    }

    /// Handler names in canonical order.
    pub fn handler_names(&self) -> Vec<String> {
        self.handler.keys().cloned().collect()
    }

    /// The handler names, comma-separated, for messages.
    pub fn handler_list(&self) -> String {
        self.handler
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_manifest_parses_with_handlers_in_file_order() {
        let m = Manifest::embedded().unwrap();
        let names = m.handler_names();
        assert_eq!(
            &names[..5],
            [
                "auth",
                "register",
                "verify",
                "password-reset",
                "current-user"
            ]
        );
        assert!(!m.file.is_empty());
        assert!(!m.migration.is_empty());
        assert!(m.dependencies.contains_key("axum"));
    }

    #[test]
    fn every_template_named_by_the_manifest_exists() {
        let m = Manifest::embedded().unwrap();
        let named = m
            .file
            .iter()
            .map(|f| &f.template)
            .chain(m.migration.iter().map(|m| &m.template));
        for template in named {
            assert!(
                TEMPLATES.get_file(template).is_some(),
                "{template} is named in the manifest but missing"
            );
        }
    }

    #[test]
    fn every_embedded_template_is_named_by_the_manifest() {
        let m = Manifest::embedded().unwrap();
        let mut named: Vec<&str> = m.file.iter().map(|f| f.template.as_str()).collect();
        named.extend(m.migration.iter().map(|m| m.template.as_str()));
        for file in crate::render::embedded_templates() {
            let path = file.path().to_string_lossy().replace('\\', "/");
            if path.starts_with(crate::render::PARTIALS) {
                continue;
            }
            assert!(
                named.contains(&path.as_str()),
                "templates/{path} is not named by the manifest"
            );
        }
    }

    #[test]
    fn every_partial_is_included_by_a_template() {
        let templates = crate::render::embedded_templates();
        for partial in &templates {
            let path = partial.path().to_string_lossy().replace('\\', "/");
            if !path.starts_with(crate::render::PARTIALS) {
                continue;
            }
            let include = format!("{{% include \"{path}\" %}}");
            assert!(
                templates.iter().any(|t| t
                    .contents_utf8()
                    .is_some_and(|text| text.contains(&include))),
                "templates/{path} is included by no template"
            );
        }
    }

    #[test]
    fn unknown_required_handler_is_rejected() {
        let text = r#"
[handler.a]
summary = "a"
router = "x"
requires = ["zzz"]
"#;
        let err = Manifest::parse(text).unwrap_err().to_string();
        assert!(err.contains("zzz"), "{err}");
    }

    #[test]
    fn a_module_declared_in_a_file_without_a_modules_marker_is_rejected() {
        let text = r#"
[[file]]
template = "module/mod.rs"
path = "{module_dir}/mod.rs"
markers = { routes = "// routes" }

[[file]]
template = "module/db.rs"
path = "{module_dir}/db.rs"
declared_in = "module/mod.rs"
"#;
        let err = Manifest::parse(text).unwrap_err().to_string();
        assert!(
            err.contains("module/db.rs") && err.contains("modules"),
            "{err}"
        );
        let fixed = text.replace(
            "markers = { routes",
            "markers = { modules = \"// mods\", routes",
        );
        let manifest = Manifest::parse(&fixed).unwrap();
        assert_eq!(
            manifest.file[1].module_line().as_deref(),
            Some("pub mod db;")
        );
    }

    #[test]
    fn two_entries_rendering_one_path_for_one_selection_are_rejected() {
        const HANDLERS: &str = "[handler.auth]\nsummary = \"a\"\nrouter = \"x\"\n\
                                [handler.oauth2]\nsummary = \"o\"\nrouter = \"y\"\n";
        let entry = |template: &str, filters: &str| {
            format!(
                "[[file]]\ntemplate = \"{template}\"\npath = \"{{module_dir}}/backend.rs\"\n{filters}\n"
            )
        };
        let overlapping = [
            ("", ""),
            ("backends = [\"jwt\"]", ""),
            (
                "backends = [\"jwt\", \"session\"]",
                "backends = [\"session\"]",
            ),
            (
                "backends = [\"jwt\"]\ndbs = [\"mysql\"]",
                "backends = [\"jwt\"]",
            ),
            ("handlers = [\"auth\"]", "handlers = [\"oauth2\"]"),
            ("app_mode = true", ""),
            (
                "handlers = [\"auth\", \"oauth2\"]",
                "without_handlers = [\"auth\"]",
            ),
        ];
        for (a, b) in overlapping {
            let text = HANDLERS.to_string() + &entry("a.rs", a) + &entry("b.rs", b);
            let err = Manifest::parse(&text).unwrap_err().to_string();
            assert!(
                err.contains("`a.rs` and `b.rs` both render `{module_dir}/backend.rs`"),
                "{a} / {b}: {err}"
            );
        }
        let disjoint = [
            (
                "backends = [\"jwt\"]",
                "backends = [\"session\", \"jwt-cookie\"]",
            ),
            (
                "dbs = [\"mysql\"]\nhandlers = [\"auth\"]",
                "dbs = [\"sqlite\"]",
            ),
            ("app_mode = true", "app_mode = false"),
            (
                "handlers = [\"auth\"]",
                "without_handlers = [\"auth\", \"oauth2\"]",
            ),
        ];
        for (a, b) in disjoint {
            let text = HANDLERS.to_string() + &entry("a.rs", a) + &entry("b.rs", b);
            Manifest::parse(&text).unwrap_or_else(|e| panic!("{a} / {b}: {e}"));
        }
    }

    #[test]
    fn each_backend_renders_one_backend_rs_of_its_own() {
        let m = Manifest::embedded().unwrap();
        for backend in Backend::ALL {
            let sel = Selection {
                backend,
                db: Database::Sqlite,
                handlers: m.handler_names(),
                app_mode: true,
            };
            let templates: Vec<&str> = m
                .file
                .iter()
                .filter(|f| f.path == "{module_dir}/backend.rs" && f.filters().matches(&sel))
                .map(|f| f.template.as_str())
                .collect();
            let own = format!("module/backend/{}.rs", backend.as_str().replace('-', "_"));
            assert_eq!(templates, [own.as_str()], "{backend}");
        }
    }

    #[test]
    fn a_generated_test_file_is_a_private_module_of_the_test_crate() {
        let m = Manifest::embedded().unwrap();
        let auth = m
            .file
            .iter()
            .find(|f| f.template == "tests/users/auth.rs")
            .unwrap();
        assert_eq!(auth.declared_in.as_deref(), Some("tests/users/main.rs"));
        assert_eq!(auth.module_line().as_deref(), Some("mod auth;"));
    }

    #[test]
    fn a_mod_rs_is_declared_by_its_folders_name() {
        let m = Manifest::embedded().unwrap();
        let handlers = m
            .file
            .iter()
            .find(|f| f.template == "module/handlers/mod.rs")
            .unwrap();
        assert_eq!(handlers.module_line().as_deref(), Some("pub mod handlers;"));
    }

    #[test]
    fn filters_match_on_every_field() {
        let f = Filters {
            handlers: Some(vec!["verify".into()]),
            without_handlers: Some(vec!["oauth2".into()]),
            backends: Some(vec!["jwt".into()]),
            dbs: None,
            app_mode: Some(true),
        };
        let sel = Selection {
            backend: Backend::Jwt,
            db: Database::Sqlite,
            handlers: vec!["auth".to_string(), "verify".to_string()],
            app_mode: true,
        };
        assert!(f.matches(&sel));
        assert!(!f.matches(&Selection {
            backend: Backend::Session,
            ..sel.clone()
        }));
        assert!(!f.matches(&Selection {
            app_mode: false,
            ..sel.clone()
        }));
        assert!(!f.matches(&Selection {
            handlers: vec!["auth".to_string()],
            ..sel.clone()
        }));
        assert!(!f.matches(&Selection {
            handlers: vec!["verify".to_string(), "oauth2".to_string()],
            ..sel.clone()
        }));
    }
}
