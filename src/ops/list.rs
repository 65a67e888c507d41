//! `cargo users list`: what is installed and which generated files were edited since.

use std::path::PathBuf;

use console::style;

use crate::error::Result;
use crate::manifest::Manifest;
use crate::ops::init::not_initialized;
use crate::ops::read_record;
use crate::project::Project;
use crate::record::{self, Record};
use crate::ui::Ui;

/// Options of `list`.
#[derive(Debug, Clone)]
pub struct ListOptions {
    /// Folder the command runs in.
    pub cwd: PathBuf,
    /// `--manifest-path`.
    pub manifest_path: Option<PathBuf>,
}

/// The state of one generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// As generated.
    Unchanged,
    /// Edited since it was generated.
    Edited,
    /// Deleted since it was generated.
    Deleted,
}

/// What `list` found.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The record.
    pub record: Record,
    /// Every recorded file with its state.
    pub files: Vec<(String, FileState)>,
}

/// Runs `list`.
pub fn run(opts: &ListOptions, ui: &Ui) -> Result<Listing> {
    let manifest = Manifest::embedded()?;
    let project = Project::locate(opts.manifest_path.as_deref(), &opts.cwd)?;
    let record = read_record(&project)?.ok_or_else(|| not_initialized(&project))?;
    let mut files = Vec::new();
    for (path, hash) in &record.files {
        let state = match project.read(path)? {
            None => FileState::Deleted,
            Some(text) if record::hash(&text) == *hash => FileState::Unchanged,
            Some(_) => FileState::Edited,
        };
        files.push((path.clone(), state));
    }

    ui.heading(format!(
        "{} (cargo-users {})",
        project.package, record.tool_version
    ));
    ui.line(format!("  backend:  {}", record.backend));
    ui.line(format!("  database: {}", record.database));
    ui.line(format!("  module:   {}", record.module_dir));
    ui.line(format!(
        "  app mode: {}",
        if record.app_mode { "yes" } else { "no" }
    ));
    ui.line("");
    ui.heading("Handlers:");
    let width = record.handlers.iter().map(String::len).max().unwrap_or(0);
    for h in &record.handlers {
        let routes = manifest
            .handler
            .get(h)
            .map(|s| s.routes.join(", "))
            .unwrap_or_else(|| "(unknown to this version)".to_string());
        ui.line(format!("  {h:<width$}  {routes}"));
    }
    let available: Vec<&String> = manifest
        .handler
        .keys()
        .filter(|h| !record.handlers.contains(h))
        .collect();
    if !available.is_empty() {
        ui.line(format!(
            "  {}",
            style(format!(
                "available: {}",
                available
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .dim()
        ));
    }
    ui.line("");
    let touched: Vec<&(String, FileState)> = files
        .iter()
        .filter(|(_, s)| *s != FileState::Unchanged)
        .collect();
    ui.heading(format!(
        "Generated files: {} ({} edited, {} deleted)",
        files.len(),
        touched
            .iter()
            .filter(|(_, s)| *s == FileState::Edited)
            .count(),
        touched
            .iter()
            .filter(|(_, s)| *s == FileState::Deleted)
            .count(),
    ));
    for (path, state) in touched {
        let word = match state {
            FileState::Edited => style("edited").yellow(),
            _ => style("deleted").red(),
        };
        ui.line(format!("  {word:>7} {path}"));
    }
    Ok(Listing { record, files })
}
