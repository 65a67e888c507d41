//! `cargo users diff [path]`: the developer's own changes, as a unified diff of each generated
//! file against what the recorded version generated (re-rendered from the release store and
//! used only when its hash is the recorded one).

use std::path::PathBuf;

use similar::TextDiff;

use crate::error::{Error, Result};
use crate::ops::init::not_initialized;
use crate::ops::{read_record, recorded_base};
use crate::project::{Project, inside, read_optional};
use crate::record;
use crate::ui::Ui;

/// Options of `diff`.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Folder the command runs in.
    pub cwd: PathBuf,
    /// `--manifest-path`.
    pub manifest_path: Option<PathBuf>,
    /// Only this file (relative to the current folder or to the package root).
    pub path: Option<String>,
}

/// The diff of one generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    /// The file, relative to the package root.
    pub path: String,
    /// The unified diff (base to the file now); for a deleted file, base to nothing.
    pub diff: String,
}

/// Runs `diff`: prints and returns the diffs.
pub fn run(opts: &DiffOptions, ui: &Ui) -> Result<Vec<FileDiff>> {
    let project = Project::locate(opts.manifest_path.as_deref(), &opts.cwd)?;
    let record = read_record(&project)?.ok_or_else(|| not_initialized(&project))?;
    let base = recorded_base(&project, &record)?.ok_or_else(|| {
        Error::failure(format!(
            "cargo-users {} generated this package, and this binary ({}) does not carry its \
             templates: no base to compare with",
            record.tool_version,
            crate::VERSION
        ))
    })?;
    let wanted = opts
        .path
        .as_deref()
        .map(|p| package_relative(&project, opts, p));
    if let Some(w) = &wanted
        && !record.files.contains_key(w)
    {
        return Err(Error::failure(format!(
            "{w} is not a file cargo-users generated (see `cargo users list`)"
        )));
    }
    let mut diffs = Vec::new();
    for (path, recorded) in &record.files {
        if wanted.as_ref().is_some_and(|w| w != path) {
            continue;
        }
        let Some(generated) = base.get(path).filter(|b| record::hash(b) == *recorded) else {
            ui.warn(format!(
                "{path}: what cargo-users {} generated cannot be rebuilt exactly; no diff",
                record.tool_version
            ));
            continue;
        };
        let ours = read_optional(&inside(&project.root, path)?)?;
        // A CRLF checkout of LF files (or a byte order mark) is compared by its lines.
        let ours = ours.map(|o| crate::merge::as_generated(&o, generated).unwrap_or(o));
        if ours.as_deref() == Some(generated.as_str()) {
            continue;
        }
        let label = format!("a/{path} (cargo-users {})", record.tool_version);
        let now = match &ours {
            Some(_) => format!("b/{path}"),
            None => "/dev/null (deleted)".to_string(),
        };
        let diff = TextDiff::from_lines(generated.as_str(), ours.as_deref().unwrap_or(""))
            .unified_diff()
            .context_radius(3)
            .header(&label, &now)
            .to_string();
        diffs.push(FileDiff {
            path: path.clone(),
            diff,
        });
    }
    if diffs.is_empty() {
        ui.line(format!(
            "no changes: {} as cargo-users {} generated it",
            wanted.unwrap_or_else(|| "every generated file is".to_string()),
            record.tool_version
        ));
    }
    for d in &diffs {
        ui.diff_text(&d.diff);
    }
    Ok(diffs)
}

/// `path` relative to the package root: as given when it names a recorded file that way, else
/// resolved from the current folder.
fn package_relative(project: &Project, opts: &DiffOptions, path: &str) -> String {
    let from_cwd = opts.cwd.join(path);
    let root = project.root.canonicalize().unwrap_or(project.root.clone());
    let resolved = from_cwd.canonicalize().ok().and_then(|p| {
        p.strip_prefix(&root)
            .ok()
            .map(|r| r.to_string_lossy().replace('\\', "/"))
    });
    resolved.unwrap_or_else(|| path.trim_start_matches("./").to_string())
}
