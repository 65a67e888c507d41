//! `cargo users add-handler`: add handlers to a package that `init` set up.

use std::path::PathBuf;

use crate::choices::{self, Backend, Database, HandlerSelection};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::ops::init::{next_steps, not_initialized};
use crate::ops::{Outcome, execute, read_record};
use crate::plan::{self, Mode, PlanOptions};
use crate::project::{ModuleDir, Project};
use crate::render::Renderer;
use crate::timestamp::Timestamp;
use crate::ui::Ui;

/// Options of `add-handler`.
#[derive(Debug, Clone)]
pub struct AddHandlerOptions {
    /// Folder the command runs in.
    pub cwd: PathBuf,
    /// `--manifest-path`.
    pub manifest_path: Option<PathBuf>,
    /// The handlers to add.
    pub handlers: Vec<String>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--force`.
    pub force: bool,
    /// Time for new migrations (`None`: now).
    pub now: Option<Timestamp>,
}

/// Runs `add-handler`.
pub fn run(opts: &AddHandlerOptions, ui: &Ui) -> Result<Outcome> {
    let manifest = Manifest::embedded()?;
    let renderer = Renderer::new()?;
    let project = Project::locate(opts.manifest_path.as_deref(), &opts.cwd)?;
    choices::check_names(&manifest, &opts.handlers)?;
    let record = read_record(&project)?.ok_or_else(|| not_initialized(&project))?;
    let present: Vec<&String> = opts
        .handlers
        .iter()
        .filter(|h| record.handlers.contains(h))
        .collect();
    if !present.is_empty() {
        let names: Vec<String> = present.iter().map(|h| format!("`{h}`")).collect();
        return Err(Error::failure(format!(
            "handler {} {} already installed (installed: {})",
            names.join(", "),
            if names.len() == 1 { "is" } else { "are" },
            record.handlers.join(", ")
        )));
    }
    let backend = Backend::parse(&record.backend).ok_or_else(|| {
        Error::failure(format!(
            "cargo-users.toml: unknown backend `{}`",
            record.backend
        ))
    })?;
    let db = Database::parse(&record.database).ok_or_else(|| {
        Error::failure(format!(
            "cargo-users.toml: unknown database `{}`",
            record.database
        ))
    })?;
    let module = ModuleDir::parse(&record.module_dir)?;
    let resolved = choices::resolve(
        &manifest,
        &HandlerSelection::Named(opts.handlers.clone()),
        &record.handlers,
    )?;
    for (needed, by) in &resolved.added {
        ui.note(format!("{by} needs {needed}: adding {needed}"));
    }
    let new: Vec<&String> = resolved
        .handlers
        .iter()
        .filter(|h| !record.handlers.contains(h))
        .collect();
    ui.line(format!(
        "{} {} to {}",
        if opts.dry_run {
            "Planning to add"
        } else {
            "Adding"
        },
        new.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        project.package
    ));
    let plan_opts = PlanOptions {
        backend,
        db,
        handlers: resolved.handlers,
        module,
        app_mode: record.app_mode,
        mode: Mode::AddHandler {
            previous: record.handlers.clone(),
        },
        previous: Some(record),
        now: opts.now,
        secret: None,
    };
    let plan = plan::build(&project, &manifest, &renderer, &plan_opts)?;
    let outcome = execute(&project.root, plan, opts.force, opts.dry_run, ui)?;
    if !opts.dry_run {
        let mut steps = next_steps(&project, &plan_opts, &outcome, None);
        steps.retain(|s| s.starts_with("cargo"));
        ui.next_steps(&steps);
    }
    Ok(outcome)
}
