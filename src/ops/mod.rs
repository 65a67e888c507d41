//! The commands: each takes an options struct (built by the CLI or by tests) and does its work
//! through the plan and the writer.

pub mod add_handler;
pub mod init;
pub mod list;
pub mod new;

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

/// Reads `cargo-users.toml` of a project; `None` when it is absent.
pub fn read_record(project: &Project) -> Result<Option<Record>> {
    project
        .read(RECORD_FILE)?
        .map(|text| Record::parse(&text))
        .transpose()
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
    Ok(Outcome {
        plan,
        changes,
        wrote: changing,
    })
}
