//! The one writer: decides for every planned file whether it is created, modified, unchanged,
//! kept or in conflict, refuses to write anything while a conflict remains, then writes each
//! changed file atomically (a temporary file in the same folder, renamed over the target).

use std::io::Write;
use std::path::Path;

use similar::TextDiff;

use crate::edits;
use crate::error::{Error, Result};
use crate::merge::{self, Decision};
use crate::plan::{Plan, Policy, Previous};
use crate::project::{inside, is_hello_world, read_optional};

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
    /// Edited by the user and changed by the tool on other lines: 3-way merged.
    Merged,
    /// Edited by the user and changed by the tool on the same lines: written with conflict
    /// markers for the user to resolve (the command exits 1).
    Markers,
    /// Edited by the user with no verified base to merge from: the new version is written beside
    /// it as `<file>.cargo-users-new` (the command exits 1).
    NewBeside,
    /// Generated before, no longer generated and unedited: removed.
    Remove,
    /// Generated before and deleted by the user: stays deleted.
    KeepDeleted,
    /// The file exists, differs and may not be overwritten.
    Conflict(String),
}

/// The suffix of the file written beside an edited file that has no verified base.
pub const NEW_BESIDE_SUFFIX: &str = ".cargo-users-new";

impl Action {
    /// Whether the file gets written.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Action::Create
                | Action::Modify
                | Action::InsertAtMarker
                | Action::Merged
                | Action::Markers
                | Action::NewBeside
                | Action::Remove
        )
    }

    /// Whether the user has to finish the job (conflict markers, a file written beside).
    pub fn unresolved(&self) -> bool {
        matches!(self, Action::Markers | Action::NewBeside)
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
        let (a, b) = match (&self.old, &self.action) {
            (_, Action::Remove) => (format!("a/{}", self.path), "/dev/null".to_string()),
            (_, Action::NewBeside) => (
                format!("a/{}", self.path),
                format!("b/{}{NEW_BESIDE_SUFFIX}", self.path),
            ),
            (Some(_), _) => (format!("a/{}", self.path), format!("b/{}", self.path)),
            (None, _) => ("/dev/null".to_string(), format!("b/{}", self.path)),
        };
        let new = if self.action == Action::Remove {
            ""
        } else {
            &self.new
        };
        TextDiff::from_lines(old, new)
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
        let old = read_optional(&inside(root, &file.path)?)?;
        let mut new = file.contents.clone();
        let action = match (&old, &file.policy) {
            // Generated before and deleted by the user: that is their decision.
            (
                None,
                Policy::Generated {
                    previous: Some(prev),
                    ..
                },
            ) if !force && prev.recorded_hash.is_some() => Action::KeepDeleted,
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
                    let (action, text) = merge_generated(old, &file.contents, prev);
                    new = text;
                    action
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

/// `add-handler` on a generated file that exists and differs: the merge engine, with the
/// marker insertion as a fallback when no verified base exists.
fn merge_generated(old: &str, theirs: &str, prev: &Previous) -> (Action, String) {
    let decision = merge::decide(
        Some(old),
        prev.recorded_hash.as_deref(),
        prev.old_rendering.as_deref(),
        theirs,
        &prev.labels,
    );
    match decision {
        Decision::Update(text) => (Action::Modify, text),
        Decision::Keep => (Action::KeepEdited, old.to_string()),
        // What is generated but for its line endings (CRLF): left as it is.
        Decision::Unchanged => (Action::Unchanged, old.to_string()),
        Decision::Merged(text) => (Action::Merged, text),
        Decision::Conflict(text) => (Action::Markers, text),
        // What the templates generate for this file did not change: nothing to merge.
        Decision::NoBase if prev.old_rendering.as_deref() == Some(theirs) => {
            (Action::KeepEdited, old.to_string())
        }
        Decision::NoBase if prev.insertions.is_empty() => (Action::NewBeside, theirs.to_string()),
        Decision::NoBase => match edits::insert_at_markers(old, &prev.insertions) {
            Some(inserted) if inserted == old => (Action::KeepEdited, inserted),
            Some(inserted) => (Action::InsertAtMarker, inserted),
            None => (Action::NewBeside, theirs.to_string()),
        },
        Decision::Create | Decision::KeepDeleted => (Action::Create, theirs.to_string()),
    }
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

/// The files the user has to finish (conflict markers, a new version written beside) as lines.
pub fn unresolved(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| match &c.action {
            Action::Markers => Some(format!("{} (conflict markers)", c.path)),
            Action::NewBeside => Some(format!(
                "{} (edited, no verified base: the new version is in {}{NEW_BESIDE_SUFFIX})",
                c.path, c.path
            )),
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
    // Every target is checked before the first write: nothing goes through a link out of the
    // package.
    let mut targets = Vec::new();
    for change in changes.iter().filter(|c| c.action.writes()) {
        let target = match change.action {
            Action::NewBeside => format!("{}{NEW_BESIDE_SUFFIX}", change.path),
            _ => change.path.clone(),
        };
        targets.push((inside(root, &target)?, change));
    }
    for (target, change) in targets {
        if change.action == Action::Remove {
            std::fs::remove_file(&target).map_err(|e| Error::io(&target, e))?;
        } else {
            write_atomic(&target, &change.new)?;
        }
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
    // No fsync: the rename makes each file appear whole or not at all, which is what matters for
    // source files, and syncing every file made `init` several times slower.
    tmp.write_all(contents.as_bytes())
        .map_err(|e| Error::io(path, e))?;
    match std::fs::metadata(path) {
        // Keep the permissions of a file that is replaced.
        Ok(meta) => {
            let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
        }
        // A new `.env` holds the secret: it stays private (0600), as the temporary file is.
        Err(_) if path.file_name().is_some_and(|name| name == ".env") => {}
        // A new source file is readable like any other.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::Labels;
    use crate::plan::{Insertion, PlannedFile};
    use crate::record::{self, Record};

    fn plan(files: Vec<PlannedFile>) -> Plan {
        Plan {
            files,
            record: Record {
                tool_version: String::new(),
                backend: String::new(),
                database: String::new(),
                module_dir: String::new(),
                app_mode: false,
                handlers: Vec::new(),
                migrations: Default::default(),
                files: Default::default(),
                cargo: Default::default(),
            },
            deps_added: Vec::new(),
            deps_updated: Vec::new(),
        }
    }

    fn generated(path: &str, contents: &str, previous: Option<Previous>) -> PlannedFile {
        PlannedFile {
            path: path.into(),
            contents: contents.into(),
            policy: Policy::Generated {
                template: "t".into(),
                previous,
                replaces_hello_world: path == "src/main.rs",
            },
        }
    }

    fn prev(recorded: &str, old_rendering: Option<&str>) -> Previous {
        Previous {
            recorded_hash: Some(record::hash(recorded)),
            old_rendering: old_rendering.map(str::to_string),
            insertions: Vec::new(),
            labels: Labels {
                base: "before".into(),
                theirs: "after".into(),
            },
        }
    }

    fn action_for(disk: Option<&str>, file: PlannedFile, force: bool) -> Change {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = disk {
            write_atomic(&dir.path().join(&file.path), text).unwrap();
        }
        resolve(dir.path(), &plan(vec![file]), force)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn a_missing_file_is_created_and_an_equal_one_unchanged() {
        assert_eq!(
            action_for(None, generated("a.rs", "x", None), false).action,
            Action::Create
        );
        assert_eq!(
            action_for(Some("x"), generated("a.rs", "x", None), false).action,
            Action::Unchanged
        );
    }

    #[test]
    fn a_differing_file_is_a_conflict_unless_forced() {
        let c = action_for(Some("mine"), generated("a.rs", "x", None), false);
        assert!(matches!(c.action, Action::Conflict(_)));
        assert_eq!(
            action_for(Some("mine"), generated("a.rs", "x", None), true).action,
            Action::Modify
        );
    }

    #[test]
    fn the_hello_world_main_is_replaced_but_a_real_main_is_not() {
        let hello = crate::project::HELLO_WORLD;
        assert_eq!(
            action_for(Some(hello), generated("src/main.rs", "server", None), false).action,
            Action::Modify
        );
        let c = action_for(
            Some("fn main() {}\n"),
            generated("src/main.rs", "server", None),
            false,
        );
        assert!(matches!(c.action, Action::Conflict(_)));
    }

    #[test]
    fn an_untouched_file_is_updated_by_add_handler() {
        let file = generated("a.rs", "new", Some(prev("old", Some("old"))));
        assert_eq!(action_for(Some("old"), file, false).action, Action::Modify);
    }

    #[test]
    fn an_edited_file_the_change_does_not_concern_is_kept() {
        let file = generated("a.rs", "same", Some(prev("same", Some("same"))));
        let c = action_for(Some("edited"), file, false);
        assert_eq!(c.action, Action::KeepEdited);
        assert_eq!(c.new, "edited");
    }

    #[test]
    fn an_edited_file_changed_on_the_same_lines_gets_conflict_markers() {
        let file = generated("a.rs", "new\n", Some(prev("old\n", Some("old\n"))));
        let c = action_for(Some("edited\n"), file, false);
        assert_eq!(c.action, Action::Markers);
        assert_eq!(
            c.new,
            "<<<<<<< yours\nedited\n||||||| before\nold\n=======\nnew\n>>>>>>> after\n"
        );
    }

    #[test]
    fn an_edited_file_changed_elsewhere_is_merged() {
        let base = "a\nb\nc\nd\n";
        let file = generated("a.rs", "a\nb\nc\nD\n", Some(prev(base, Some(base))));
        let c = action_for(Some("A\nb\nc\nd\n"), file, false);
        assert_eq!(c.action, Action::Merged);
        assert_eq!(c.new, "A\nb\nc\nD\n");
    }

    #[test]
    fn an_edited_file_without_a_verified_base_gets_the_new_version_beside_it() {
        // The base re-rendered now is not what the record says was generated.
        let file = generated("a.rs", "new\n", Some(prev("generated\n", Some("other\n"))));
        let c = action_for(Some("edited\n"), file, false);
        assert_eq!(c.action, Action::NewBeside);
        let dir = tempfile::tempdir().unwrap();
        write_atomic(&dir.path().join("a.rs"), "edited\n").unwrap();
        write(dir.path(), &[c]).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.rs")).unwrap(),
            "edited\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.rs.cargo-users-new")).unwrap(),
            "new\n"
        );
    }

    #[test]
    fn an_edited_marker_file_without_a_verified_base_gets_the_insertion() {
        let mut p = prev("generated by another build", Some("old"));
        p.insertions = vec![Insertion {
            marker: "// here".into(),
            lines: vec!["b();".into()],
        }];
        let file = generated("a.rs", "new", Some(p));
        let c = action_for(Some("  a();\n  // here\n"), file, false);
        assert_eq!(c.action, Action::InsertAtMarker);
        assert_eq!(c.new, "  a();\n  b();\n  // here\n");
    }

    #[test]
    fn create_only_never_overwrites_and_edits_never_conflict() {
        let env = PlannedFile {
            path: ".env".into(),
            contents: "new".into(),
            policy: Policy::CreateOnly,
        };
        assert_eq!(
            action_for(Some("mine"), env, false).action,
            Action::Unchanged
        );
        let edit = PlannedFile {
            path: "Cargo.toml".into(),
            contents: "new".into(),
            policy: Policy::Edit,
        };
        assert_eq!(action_for(Some("old"), edit, false).action, Action::Modify);
    }

    #[test]
    fn nothing_is_written_while_a_conflict_remains() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(&dir.path().join("b.rs"), "mine").unwrap();
        let p = plan(vec![
            generated("a.rs", "x", None),
            generated("b.rs", "y", None),
        ]);
        let changes = resolve(dir.path(), &p, false).unwrap();
        let err = write(dir.path(), &changes).unwrap_err();
        assert!(matches!(err, Error::Conflicts(ref l) if l.len() == 1));
        assert!(!dir.path().join("a.rs").exists());
    }

    #[test]
    fn a_diff_shows_the_change() {
        let c = Change {
            path: "a.rs".into(),
            action: Action::Modify,
            old: Some("one\ntwo\n".into()),
            new: "one\nthree\n".into(),
        };
        let d = c.diff();
        assert!(d.contains("--- a/a.rs") && d.contains("+++ b/a.rs"));
        assert!(d.contains("-two") && d.contains("+three"));
    }
}
