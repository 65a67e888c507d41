//! The one writer: decides for every planned file whether it is created, modified, unchanged,
//! kept or in conflict, refuses to write anything while a conflict remains, then writes each
//! changed file atomically (a temporary file in the same folder, renamed over the target).

use std::io::Write;
use std::path::Path;

use similar::TextDiff;

use crate::edits;
use crate::error::{Error, Result};
use crate::plan::{Plan, Policy};
use crate::project::{is_hello_world, read_optional};
use crate::record;

/// What happens to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The file does not exist and is created.
    Create,
    /// The file exists and is rewritten.
    Modify,
    /// The file already has the planned contents.
    Unchanged,
    /// The user edited the file and the change does not concern it: left as it is.
    KeepEdited,
    /// The user edited the file; the new lines are inserted at its marker comment.
    InsertAtMarker,
    /// The file exists, differs and may not be overwritten.
    Conflict(String),
}

impl Action {
    /// Whether the file gets written.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Action::Create | Action::Modify | Action::InsertAtMarker
        )
    }
}

/// The decision for one planned file.
#[derive(Debug, Clone)]
pub struct Change {
    /// Path relative to the package root.
    pub path: String,
    /// What happens.
    pub action: Action,
    /// The contents on disk now, if the file exists.
    pub old: Option<String>,
    /// The contents after the run.
    pub new: String,
}

impl Change {
    /// A unified diff from the current contents to the new ones (empty when nothing changes).
    pub fn diff(&self) -> String {
        if !self.action.writes() {
            return String::new();
        }
        let old = self.old.as_deref().unwrap_or("");
        let (a, b) = match self.old {
            Some(_) => (format!("a/{}", self.path), format!("b/{}", self.path)),
            None => ("/dev/null".to_string(), format!("b/{}", self.path)),
        };
        TextDiff::from_lines(old, &self.new)
            .unified_diff()
            .context_radius(3)
            .header(&a, &b)
            .to_string()
    }
}

/// Decides what happens to every planned file. `force` turns conflicts into modifications.
pub fn resolve(root: &Path, plan: &Plan, force: bool) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for file in &plan.files {
        let old = read_optional(&root.join(&file.path))?;
        let mut new = file.contents.clone();
        let action = match (&old, &file.policy) {
            // Deleted by the user, and the change does not concern it: stays deleted.
            (
                None,
                Policy::Generated {
                    previous: Some(prev),
                    ..
                },
            ) if !force
                && prev.recorded_hash.is_some()
                && prev.old_rendering.as_deref() == Some(file.contents.as_str()) =>
            {
                Action::KeepEdited
            }
            (None, _) => Action::Create,
            (Some(old), _) if *old == file.contents => Action::Unchanged,
            (Some(_), Policy::CreateOnly) => {
                new = old.clone().unwrap_or_default();
                Action::Unchanged
            }
            (Some(_), Policy::Edit) => Action::Modify,
            (Some(_), _) if force => Action::Modify,
            (
                Some(old),
                Policy::Generated {
                    previous,
                    replaces_hello_world,
                    ..
                },
            ) => {
                if *replaces_hello_world && is_hello_world(old) {
                    Action::Modify
                } else if let Some(prev) = previous {
                    if prev.recorded_hash.as_deref() == Some(record::hash(old).as_str()) {
                        Action::Modify
                    } else if prev.old_rendering.as_deref() == Some(file.contents.as_str()) {
                        new = old.clone();
                        Action::KeepEdited
                    } else if let Some(ins) = &prev.insertion {
                        match edits::insert_at_marker(old, ins) {
                            Some(inserted) if inserted == *old => {
                                new = inserted;
                                Action::KeepEdited
                            }
                            Some(inserted) => {
                                new = inserted;
                                Action::InsertAtMarker
                            }
                            None => Action::Conflict(format!(
                                "edited since it was generated and its `{}` comment is gone",
                                ins.marker
                            )),
                        }
                    } else {
                        Action::Conflict("edited since it was generated".to_string())
                    }
                } else {
                    Action::Conflict("exists and differs".to_string())
                }
            }
        };
        changes.push(Change {
            path: file.path.clone(),
            action,
            old,
            new,
        });
    }
    Ok(changes)
}

/// The conflicts among `changes` as `path (reason)` lines; empty when there are none.
pub fn conflicts(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| match &c.action {
            Action::Conflict(why) => Some(format!("{} ({why})", c.path)),
            _ => None,
        })
        .collect()
}

/// Writes every changed file, after checking there is no conflict.
pub fn write(root: &Path, changes: &[Change]) -> Result<()> {
    let conflicts = conflicts(changes);
    if !conflicts.is_empty() {
        return Err(Error::Conflicts(conflicts));
    }
    for change in changes.iter().filter(|c| c.action.writes()) {
        write_atomic(&root.join(&change.path), &change.new)?;
    }
    Ok(())
}

/// Writes `contents` to `path` through a temporary file in the same folder.
pub fn write_atomic(path: &Path, contents: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".cargo-users-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    tmp.write_all(contents.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io(path, e))?;
    match std::fs::metadata(path) {
        // Keep the permissions of a file that is replaced.
        Ok(meta) => {
            let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
        }
        // A temporary file is private (0600); a new source file is not.
        Err(_) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ =
                    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644));
            }
        }
    }
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}
