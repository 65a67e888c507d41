//! The commands: each takes an options struct (built by the CLI or by tests) and does its work
//! through the plan and the writer.

pub mod add_handler;
pub mod diff;
pub mod init;
pub mod list;
pub mod new;
pub mod upgrade;

use std::path::Path;

use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::project::Project;
use crate::record::{RECORD_FILE, Record};
use crate::ui::Ui;
use crate::writer::{self, Change};

/// What a command that plans files did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The plan it computed.
    pub plan: Plan,
    /// The decision for every planned file.
    pub changes: Vec<Change>,
    /// Whether files were written (false for `--dry-run` and when nothing changed).
    pub wrote: bool,
}

/// Reads `cargo-users.toml` of a project; `None` when it is absent. The record is checked (it
/// is input, not trust): a crafted or corrupt one is an error before anything is done.
pub fn read_record(project: &Project) -> Result<Option<Record>> {
    let Some(text) = project.read(RECORD_FILE)? else {
        return Ok(None);
    };
    let record = Record::parse(&text)?;
    record.check()?;
    Ok(Some(record))
}

/// Resolves, prints and (unless `dry_run`) writes a plan.
pub(crate) fn execute(
    root: &Path,
    plan: Plan,
    force: bool,
    dry_run: bool,
    ui: &Ui,
) -> Result<Outcome> {
    let changes = writer::resolve(root, &plan, force)?;
    let conflicts = writer::conflicts(&changes);
    let changing = changes.iter().any(|c| c.action.writes());
    if dry_run {
        ui.heading("Plan (dry run, nothing is written):");
        ui.changes(&changes, true);
        ui.diffs(&changes);
        if !conflicts.is_empty() {
            return Err(Error::Conflicts(conflicts));
        }
        if !changing {
            ui.line("nothing to do: every file is already up to date");
        }
        return Ok(Outcome {
            plan,
            changes,
            wrote: false,
        });
    }
    writer::write(root, &changes)?;
    if changing {
        ui.changes(&changes, false);
    }
    for help in missing_markers(&plan, &changes) {
        ui.note(help);
    }
    let unresolved = writer::unresolved(&changes);
    if !unresolved.is_empty() {
        return Err(Error::Unresolved(unresolved));
    }
    Ok(Outcome {
        plan,
        changes,
        wrote: changing,
    })
}

/// For each edited file whose marker comment is gone (and that could not be merged), the lines
/// to paste by hand, so the developer need not dig them out of the `.cargo-users-new` file.
fn missing_markers(plan: &Plan, changes: &[Change]) -> Vec<String> {
    use crate::plan::{Policy, Previous};
    let mut help = Vec::new();
    for change in changes
        .iter()
        .filter(|c| c.action == writer::Action::NewBeside)
    {
        let Some(Policy::Generated {
            previous: Some(Previous { insertions, .. }),
            ..
        }) = plan.get(&change.path).map(|f| &f.policy)
        else {
            continue;
        };
        let Some(old) = change.old.as_deref() else {
            continue;
        };
        for ins in insertions {
            if crate::edits::insert_at_marker(old, ins).is_none() && !ins.lines.is_empty() {
                help.push(format!(
                    "{}: its `{}` comment is gone; add {} by hand:\n      {}",
                    change.path,
                    ins.marker,
                    if ins.lines.len() == 1 {
                        "this line"
                    } else {
                        "these lines"
                    },
                    ins.lines.join("\n      ")
                ));
            }
        }
    }
    help
}

// ---------------------------------------------------------------------------------------------
// What a record says was generated (shared by `upgrade`, `diff` and `add-handler`).

/// The names and choices a checked record was generated with. Every handler must be one this
/// version knows.
pub(crate) fn recorded_choices(
    project: &Project,
    record: &Record,
    manifest: &crate::manifest::Manifest,
) -> Result<(crate::generate::Names, crate::generate::Selection)> {
    use crate::choices::{Backend, Database};
    let invalid = |what: String| Error::failure(format!("{RECORD_FILE} is not valid: {what}"));
    let backend = Backend::parse(&record.backend)
        .ok_or_else(|| invalid(format!("unknown backend `{}`", record.backend)))?;
    let db = Database::parse(&record.database)
        .ok_or_else(|| invalid(format!("unknown database `{}`", record.database)))?;
    if let Some(unknown) = record
        .handlers
        .iter()
        .find(|h| !manifest.handler.contains_key(*h))
    {
        return Err(invalid(format!("unknown handler `{unknown}`")));
    }
    // The tool never records a handler twice nor one without what it needs: a list that does
    // would render another project than the one generated (and merge against it).
    for (i, h) in record.handlers.iter().enumerate() {
        if record.handlers[..i].contains(h) {
            return Err(invalid(format!("handler `{h}` is listed twice")));
        }
        if let Some(missing) = manifest.handler[h]
            .requires
            .iter()
            .find(|r| !record.handlers.contains(r))
        {
            return Err(invalid(format!(
                "handler `{h}` is listed without `{missing}`, which it needs"
            )));
        }
    }
    let module = crate::project::ModuleDir::parse(&record.module_dir)
        .map_err(|_| invalid(format!("module_dir `{}`", record.module_dir)))?;
    let names = crate::generate::Names {
        package: project.package.clone(),
        crate_name: project.crate_name.clone(),
        module: module.name,
    };
    let selection = crate::generate::Selection {
        backend,
        db,
        handlers: record.handlers.clone(),
        app_mode: record.app_mode,
    };
    Ok((names, selection))
}

/// What the version a record names generated for its choices, re-rendered from the release
/// store: path to contents, migrations under their recorded file names. `None` when the store
/// does not hold that version.
pub(crate) fn recorded_base(
    project: &Project,
    record: &Record,
) -> Result<Option<std::collections::BTreeMap<String, String>>> {
    use crate::generate::Generator;
    use crate::store::TemplateSet;
    let Some(set) = TemplateSet::for_version(&record.tool_version)? else {
        return Ok(None);
    };
    let manifest = set.manifest()?;
    let renderer = set.renderer()?;
    let (names, selection) = recorded_choices(project, record, &manifest)?;
    let generator = Generator {
        manifest: &manifest,
        renderer: &renderer,
        tool_version: &record.tool_version,
    };
    let mut base: std::collections::BTreeMap<String, String> = generator
        .files(&names, &selection)?
        .into_iter()
        .map(|f| (f.path, f.contents))
        .collect();
    for m in generator.migrations(&names, &selection)? {
        if let Some(stamp) = record.migrations.get(&m.name) {
            base.insert(format!("migrations/{stamp}_{}.sql", m.name), m.contents);
        }
    }
    Ok(Some(base))
}
