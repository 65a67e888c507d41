//! Rendering the embedded templates with Tera.

use include_dir::File;
use serde::Serialize;

use crate::choices::{Backend, Database};
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
}

impl Context {
    /// Builds the context for these choices.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        package: &str,
        crate_name: &str,
        module: &str,
        backend: Backend,
        db: Database,
        handlers: &[String],
        app_mode: bool,
    ) -> Self {
        Context {
            package: package.to_string(),
            crate_name: crate_name.to_string(),
            module: module.to_string(),
            module_dir: format!("src/{module}"),
            backend: backend.as_str().to_string(),
            db: db.as_str().to_string(),
            handlers: handlers.to_vec(),
            app_mode,
            tool_version: crate::VERSION.to_string(),
        }
    }
}

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
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![]);
        tera.register_filter("sql", sql_placeholders);
        let mut templates = Vec::new();
        for file in embedded_templates() {
            let name = file.path().to_string_lossy().replace('\\', "/");
            let text = file
                .contents_utf8()
                .ok_or_else(|| Error::failure(format!("template {name} is not UTF-8")))?;
            templates.push((name, text));
        }
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

/// The `sql` filter: `{% filter sql(db=db) %}...{% endfilter %}` keeps the templates' SQL in
/// PostgreSQL's numbered placeholders (`$1`, `$2`, ..., which SQLite accepts as well) and turns them
/// into MySQL's `?`. Since `?` is positional, the numbers must count up from `$1` in each
/// statement; anything else is a template bug and fails the rendering.
fn sql_placeholders(
    value: &tera::Value,
    args: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let text = value
        .as_str()
        .ok_or_else(|| tera::Error::msg("the sql filter applies to text"))?;
    let db = args
        .get("db")
        .and_then(|db| db.as_str())
        .ok_or_else(|| tera::Error::msg("the sql filter needs `db`"))?;
    if db != "mysql" {
        return Ok(tera::Value::String(text.to_string()));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut previous = 0u32;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            out.push('$');
            rest = after;
            continue;
        }
        let number: u32 = after[..digits]
            .parse()
            .map_err(|_| tera::Error::msg("a placeholder number is too large"))?;
        if number != 1 && number != previous + 1 {
            return Err(tera::Error::msg(format!(
                "placeholder ${number} after ${previous}: MySQL's `?` needs them in order"
            )));
        }
        previous = number;
        out.push('?');
        rest = &after[digits..];
    }
    out.push_str(rest);
    Ok(tera::Value::String(out))
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
    use crate::choices::{DEFAULT_HANDLERS, HandlerSelection, resolve};
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
                        let ctx = Context::new(
                            "demo-app", "demo_app", "users", backend, db, handlers, app_mode,
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
    fn the_sql_filter_turns_numbered_placeholders_into_question_marks_for_mysql_only() {
        let args =
            |db: &str| std::collections::HashMap::from([("db".to_string(), tera::Value::from(db))]);
        let sql = tera::Value::from("a = $1 AND b = $2; c = $1 -- costs $");
        let mysql = sql_placeholders(&sql, &args("mysql")).unwrap();
        assert_eq!(mysql, "a = ? AND b = ?; c = ? -- costs $");
        assert_eq!(sql_placeholders(&sql, &args("postgres")).unwrap(), sql);
        let out_of_order = tera::Value::from("a = $2 AND b = $1");
        assert!(sql_placeholders(&out_of_order, &args("mysql")).is_err());
    }

    #[test]
    fn undefined_variables_are_errors() {
        let mut tera = tera::Tera::default();
        tera.add_raw_template("t", "{{ nope }}").unwrap();
        assert!(tera.render("t", &tera::Context::new()).is_err());
    }
}
