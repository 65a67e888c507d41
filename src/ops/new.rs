//! `cargo users new`: `cargo new <name>`, then `init` into it in app mode.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::choices::{self, HandlerSelection};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::ops::Outcome;
use crate::ops::init::{self, InitOptions};
use crate::project::ModuleDir;
use crate::prompt::{self, Completion, GivenChoices};
use crate::timestamp::Timestamp;
use crate::ui::Ui;

/// Options of `new`.
#[derive(Debug, Clone)]
pub struct NewOptions {
    /// Folder the command runs in.
    pub cwd: PathBuf,
    /// The package's folder (and name), as given to `cargo new`.
    pub name: String,
    /// Choices given as flags.
    pub given: GivenChoices,
    /// `--module`.
    pub module: Option<String>,
    /// How missing choices are completed.
    pub completion: Completion,
    /// Time for new migrations (`None`: now).
    pub now: Option<Timestamp>,
}

/// Runs `new`.
pub fn run(opts: &NewOptions, ui: &Ui) -> Result<Outcome> {
    let manifest = Manifest::embedded()?;
    // Every choice is settled before anything is created.
    if let Some(HandlerSelection::Named(names)) = &opts.given.handlers {
        choices::check_names(&manifest, names)?;
    }
    if let Some(m) = &opts.module {
        ModuleDir::parse(m)?;
    }
    let chosen = prompt::complete(&manifest, opts.given.clone(), opts.completion)?;
    let dir = opts.cwd.join(&opts.name);
    if dir.exists() {
        return Err(Error::failure(format!(
            "{} already exists; use `cargo users init` inside an existing package",
            dir.display()
        )));
    }
    cargo_new(&opts.cwd, &opts.name, ui)?;
    ui.line(format!("Created package {}", opts.name));
    let init_opts = InitOptions {
        cwd: dir.clone(),
        manifest_path: Some(dir.join("Cargo.toml")),
        given: GivenChoices {
            backend: Some(chosen.backend),
            db: Some(chosen.db),
            handlers: Some(chosen.handlers),
        },
        module: opts.module.clone(),
        completion: Completion::Defaults,
        dry_run: false,
        force: false,
        now: opts.now,
        secret: None,
        enter_dir: Some(opts.name.clone()),
        template_version: None,
    };
    init::run(&init_opts, ui)
}

/// Runs `cargo new <name>` in `cwd`, with a spinner when stderr is a terminal.
fn cargo_new(cwd: &Path, name: &str, ui: &Ui) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let spinner = (!ui.quiet && std::io::stderr().is_terminal()).then(|| {
        let pb = ProgressBar::new_spinner();
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_message(format!("cargo new {name}"));
        pb.enable_steady_tick(Duration::from_millis(80));
        pb
    });
    let output = Command::new(&cargo)
        .arg("new")
        .arg(name)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            Error::failure(format!(
                "could not run `{} new`: {e}",
                Path::new(&cargo).display()
            ))
        });
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    let output = output?;
    if !output.status.success() {
        return Err(Error::failure(format!(
            "`cargo new {name}` failed:\n{}",
            String::from_utf8_lossy(&output.stderr).trim_end()
        )));
    }
    Ok(())
}
