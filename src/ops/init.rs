//! `cargo users init`: generate the user module into an existing package.

use std::path::PathBuf;

use crate::choices::{self, Backend, Database, HandlerSelection};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::ops::{Outcome, execute, read_record};
use crate::plan::{self, Mode, PlanOptions};
use crate::project::{ModuleDir, Project};
use crate::prompt::{self, Completion, GivenChoices};
use crate::render::Renderer;
use crate::store::TemplateSet;
use crate::timestamp::Timestamp;
use crate::ui::Ui;

/// Options of `init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Folder the command runs in.
    pub cwd: PathBuf,
    /// `--manifest-path`.
    pub manifest_path: Option<PathBuf>,
    /// Choices given as flags.
    pub given: GivenChoices,
    /// `--module`.
    pub module: Option<String>,
    /// How missing choices are completed.
    pub completion: Completion,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--force`.
    pub force: bool,
    /// Time for new migrations (`None`: now).
    pub now: Option<Timestamp>,
    /// Secret for a fresh `.env` (`None`: random).
    pub secret: Option<String>,
    /// Folder to `cd` into first, in the printed next steps (set by `new`).
    pub enter_dir: Option<String>,
    /// Generate as this released version did, from the release store (hidden
    /// `--template-version`, for tests of `upgrade`); `None`: this version.
    pub template_version: Option<String>,
}

impl InitOptions {
    /// Options for a non-interactive run in `cwd` with the given choices.
    pub fn new(cwd: impl Into<PathBuf>, given: GivenChoices) -> Self {
        InitOptions {
            cwd: cwd.into(),
            manifest_path: None,
            given,
            module: None,
            completion: Completion::Defaults,
            dry_run: false,
            force: false,
            now: None,
            secret: None,
            enter_dir: None,
            template_version: None,
        }
    }
}

/// Runs `init`.
pub fn run(opts: &InitOptions, ui: &Ui) -> Result<Outcome> {
    let (manifest, renderer, tool_version) = templates(opts.template_version.as_deref())?;
    let project = Project::locate(opts.manifest_path.as_deref(), &opts.cwd)?;
    let previous = read_record(&project)?;
    if let Some(HandlerSelection::Named(names)) = &opts.given.handlers {
        choices::check_names(&manifest, names)?;
    }
    let module = match (&opts.module, &previous) {
        (Some(m), _) => ModuleDir::parse(m)?,
        (None, Some(r)) => ModuleDir::parse(&r.module_dir)?,
        (None, None) => ModuleDir::default_dir(),
    };
    // A second run defaults to the choices recorded by the first.
    let mut given = opts.given.clone();
    if let Some(r) = &previous {
        given.backend = given.backend.or_else(|| Backend::parse(&r.backend));
        given.db = given.db.or_else(|| Database::parse(&r.database));
        if given.handlers.is_none() {
            given.handlers = Some(HandlerSelection::Named(r.handlers.clone()));
        }
    }
    let chosen = prompt::complete(&manifest, given, opts.completion)?;
    let resolved = choices::resolve(&manifest, &chosen.handlers, &[])?;
    for (needed, by) in &resolved.added {
        ui.note(format!("{by} needs {needed}: adding {needed}"));
    }
    let app_mode =
        previous.as_ref().is_some_and(|r| r.app_mode) || project.main_is_hello_world()?;
    ui.line(format!(
        "{} user module into {} (backend {}, database {}, handlers {}{})",
        if opts.dry_run {
            "Planning the"
        } else {
            "Generating the"
        },
        project.package,
        chosen.backend,
        chosen.db,
        resolved.handlers.join(","),
        if app_mode { ", app mode" } else { "" }
    ));
    let plan_opts = PlanOptions {
        backend: chosen.backend,
        db: chosen.db,
        handlers: resolved.handlers,
        module,
        app_mode,
        mode: Mode::Init,
        previous,
        now: opts.now,
        secret: opts.secret.clone(),
        tool_version,
    };
    let plan = plan::build(&project, &manifest, &renderer, &plan_opts)?;
    let added_handlers = plan_opts.previous.as_ref().is_some_and(|r| {
        r.backend == plan_opts.backend.as_str()
            && r.database == plan_opts.db.as_str()
            && r.handlers.iter().all(|h| plan_opts.handlers.contains(h))
            && r.handlers.len() < plan_opts.handlers.len()
    });
    let outcome = match execute(&project.root, plan, opts.force, opts.dry_run, ui) {
        Err(Error::Conflicts(list)) if added_handlers => {
            ui.note(
                "this package is already set up: `cargo users add-handler <handler>...` adds \
                 handlers without touching the files you edited",
            );
            return Err(Error::Conflicts(list));
        }
        other => other?,
    };
    if opts.dry_run {
        return Ok(outcome);
    }
    if !outcome.wrote {
        ui.line(format!(
            "nothing to do: {} is already set up with these choices",
            project.package
        ));
        return Ok(outcome);
    }
    ui.next_steps(&next_steps(
        &project,
        &plan_opts,
        &outcome,
        opts.enter_dir.as_deref(),
    ));
    Ok(outcome)
}

/// The manifest, renderer and version to generate with: this binary's own, or a released
/// version's from the store.
fn templates(version: Option<&str>) -> Result<(Manifest, Renderer, String)> {
    let Some(version) = version.filter(|v| *v != crate::VERSION) else {
        return Ok((
            Manifest::embedded()?,
            Renderer::new()?,
            crate::VERSION.to_string(),
        ));
    };
    let set = TemplateSet::release(version)?.ok_or_else(|| {
        Error::usage(format!(
            "no templates of cargo-users {version} in this binary (it holds {})",
            TemplateSet::released_versions().join(", ")
        ))
    })?;
    Ok((set.manifest()?, set.renderer()?, version.to_string()))
}

/// The lines that wire the router into a `main` the tool did not write.
pub fn wiring_lines(crate_name: &str, module: &str) -> [String; 2] {
    [
        format!("let state = {crate_name}::{module}::UsersState::from_env().await?;"),
        format!("let app = Router::new().merge({crate_name}::{module}::router(state));"),
    ]
}

pub(crate) fn next_steps(
    project: &Project,
    opts: &PlanOptions,
    outcome: &Outcome,
    enter_dir: Option<&str>,
) -> Vec<String> {
    let created_env = outcome
        .changes
        .iter()
        .any(|c| c.path == ".env" && c.action.writes());
    let env = if created_env {
        ".env holds DATABASE_URL, USERS_SECRET (fresh random), BIND_ADDR and APP_URL; \
         set SMTP_URL there to send real mails (they go to the log otherwise)"
            .to_string()
    } else {
        "set DATABASE_URL, USERS_SECRET (at least 32 bytes), BIND_ADDR, APP_URL and \
         optionally SMTP_URL in the environment or .env (see .env.example)"
            .to_string()
    };
    let database = (opts.db != Database::Sqlite).then(|| {
        format!(
            "start a {} server for DATABASE_URL (the app creates its database on first start)",
            opts.db.summary()
        )
    });
    let run = match enter_dir {
        Some(dir) => format!("cd {dir} && cargo run"),
        None => "cargo run".to_string(),
    };
    let test = "cargo test";
    let width = run.len().max(test.len());
    let test = format!("{test:<width$}   # runs the generated tests (tests/users.rs)");
    let mut steps = Vec::new();
    if opts.app_mode {
        steps.extend(database);
        steps.push(format!(
            "{run:<width$}   # serves the API on http://127.0.0.1:3000"
        ));
        steps.push(test);
        steps.push(env);
    } else {
        let [a, b] = wiring_lines(&project.crate_name, &opts.module.name);
        steps.push(format!(
            "wire the router into your async main (src/main.rs), e.g.:\n      {a}\n      {b}"
        ));
        steps.push(env);
        steps.extend(database);
        steps.push(run);
        steps.push(test);
    }
    steps
}

/// The usage error for a missing package, reused by the other commands.
pub fn not_initialized(project: &Project) -> Error {
    Error::failure(format!(
        "{} is not set up by cargo-users (no cargo-users.toml in {}); run `cargo users init` first",
        project.package,
        project.root.display()
    ))
}
