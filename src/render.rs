//! Rendering the embedded templates with Tera.

use std::collections::BTreeMap;

use include_dir::File;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_FILE, TEMPLATES};

/// The variables every template sees (all always defined).
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    /// The package name.
    pub package: String,
    /// The library crate's Rust identifier.
    pub crate_name: String,
    /// The module name, e.g. `users`.
    pub module: String,
    /// The module folder, e.g. `src/users`.
    pub module_dir: String,
    /// `session`, `jwt` or `jwt-cookie`.
    pub backend: String,
    /// `sqlite`, `postgres` or `mysql`.
    pub db: String,
    /// Installed handlers, in manifest order.
    pub handlers: Vec<String>,
    /// Whether a runnable `src/main.rs` is generated.
    pub app_mode: bool,
    /// Version of cargo-users.
    pub tool_version: String,
    /// For each template with a `modules` marker, the `pub mod` lines of the files declared in
    /// it (from the manifest's `declared_in`), sorted.
    pub module_lines: BTreeMap<String, Vec<String>>,
    /// The installed handlers' router lines (from the manifest), in manifest order.
    pub router_lines: Vec<String>,
    /// The installed handlers' routes (`"POST /login"`, from the manifest), in manifest order.
    pub installed_routes: Vec<String>,
}

/// The folder of partials: pieces of text that several templates share through Tera's
/// `{% include "partials/<name>" %}` (the two JWT backends' credential code, for one), never
/// rendered to a file of their own, so the manifest does not name them.
pub const PARTIALS: &str = "partials/";

/// Every embedded template file (everything under `templates/` but the manifest).
pub fn embedded_templates() -> Vec<&'static File<'static>> {
    fn walk(dir: &'static include_dir::Dir<'static>, out: &mut Vec<&'static File<'static>>) {
        out.extend(dir.files());
        for sub in dir.dirs() {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    walk(&TEMPLATES, &mut out);
    out.retain(|f| f.path().to_str() != Some(MANIFEST_FILE));
    out.sort_by(|a, b| a.path().cmp(b.path()));
    out
}

/// A Tera instance holding every embedded template, strict about undefined variables.
pub struct Renderer {
    tera: tera::Tera,
}

impl Renderer {
    /// Loads every embedded template.
    pub fn new() -> Result<Self> {
        let mut templates = Vec::new();
        for file in embedded_templates() {
            let name = file.path().to_string_lossy().replace('\\', "/");
            let text = file
                .contents_utf8()
                .ok_or_else(|| Error::failure(format!("template {name} is not UTF-8")))?;
            templates.push((name, text));
        }
        Self::from_templates(templates.iter().map(|(n, t)| (n.as_str(), *t)))
    }

    /// Loads the given templates (name, text): those of a released version, for instance.
    pub fn from_templates<'a>(
        templates: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self> {
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![]);
        crate::sql_filter::register(&mut tera);
        tera.add_raw_templates(templates)
            .map_err(|e| Error::failure(format!("a template does not parse: {}", chain(&e))))?;
        Ok(Renderer { tera })
    }

    /// Renders one template.
    pub fn render(&self, template: &str, context: &Context) -> Result<String> {
        let ctx = tera::Context::from_serialize(context)
            .map_err(|e| Error::failure(format!("template context: {e}")))?;
        self.tera
            .render(template, &ctx)
            .map_err(|e| Error::failure(format!("rendering {template} failed: {}", chain(&e))))
    }
}

/// A Tera error with all its causes, since the top-level message alone rarely says what failed.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::choices::{Backend, DEFAULT_HANDLERS, Database, HandlerSelection, resolve};
    use crate::manifest::Manifest;

    #[test]
    fn every_template_renders_for_every_backend_database_and_handler_set() {
        let m = Manifest::embedded().unwrap();
        let r = Renderer::new().unwrap();
        let sets = [
            resolve(&m, &HandlerSelection::defaults(), &[])
                .unwrap()
                .handlers,
            resolve(&m, &HandlerSelection::All, &[]).unwrap().handlers,
        ];
        assert_eq!(sets[0].len(), DEFAULT_HANDLERS.len());
        for backend in Backend::ALL {
            for db in Database::ALL {
                for handlers in &sets {
                    for app_mode in [false, true] {
                        let generator = crate::generate::Generator {
                            manifest: &m,
                            renderer: &r,
                            tool_version: crate::VERSION,
                        };
                        let names = crate::generate::Names {
                            package: "demo-app".into(),
                            crate_name: "demo_app".into(),
                            module: "users".into(),
                        };
                        let ctx = generator.context(
                            &names,
                            &crate::choices::Selection {
                                backend,
                                db,
                                handlers: handlers.clone(),
                                app_mode,
                            },
                        );
                        for file in embedded_templates() {
                            let name = file.path().to_string_lossy().replace('\\', "/");
                            if let Err(e) = r.render(&name, &ctx) {
                                panic!("{backend}/{db}/{handlers:?}/app={app_mode}: {e}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn undefined_variables_are_errors() {
        let mut tera = tera::Tera::default();
        tera.add_raw_template("t", "{{ nope }}").unwrap();
        assert!(tera.render("t", &tera::Context::new()).is_err());
    }
}
