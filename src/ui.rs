//! Terminal output: styled with `console` (plain when stdout is not a terminal or `NO_COLOR` is
//! set), one line per file, diffs for `--dry-run`, next steps at the end.

use std::io::Write;

use console::style;

use crate::writer::{Action, Change};

/// Prints the tool's messages on stdout.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ui {
    /// Print nothing (library use, tests).
    pub quiet: bool,
}

impl Ui {
    /// A printing UI.
    pub fn new() -> Self {
        Ui { quiet: false }
    }

    /// Prints a plain line.
    pub fn line(&self, text: impl AsRef<str>) {
        // A closed pipe (`cargo users list | head`) ends the output, not the program.
        if !self.quiet {
            let _ = writeln!(std::io::stdout(), "{}", text.as_ref());
        }
    }

    /// Prints a heading.
    pub fn heading(&self, text: impl AsRef<str>) {
        self.line(style(text.as_ref()).bold().to_string());
    }

    /// Prints a note (e.g. a handler added because another needs it).
    pub fn note(&self, text: impl AsRef<str>) {
        self.line(format!(
            "{} {}",
            style("note:").cyan().bold(),
            text.as_ref()
        ));
    }

    /// Prints a warning.
    pub fn warn(&self, text: impl AsRef<str>) {
        self.line(format!(
            "{} {}",
            style("warning:").yellow().bold(),
            text.as_ref()
        ));
    }

    /// Prints one line per file that is written, kept or unchanged.
    pub fn changes(&self, changes: &[Change], dry_run: bool) {
        let unchanged = changes
            .iter()
            .filter(|c| c.action == Action::Unchanged)
            .count();
        for c in changes.iter().filter(|c| c.action != Action::Unchanged) {
            let (word, path) = match &c.action {
                Action::Create if dry_run => (style("would create").green(), &c.path),
                Action::Create => (style("created").green(), &c.path),
                Action::Modify if dry_run => (style("would modify").yellow(), &c.path),
                Action::Modify => (style("modified").yellow(), &c.path),
                Action::InsertAtMarker if dry_run => (style("would insert into").yellow(), &c.path),
                Action::InsertAtMarker => (style("inserted into").yellow(), &c.path),
                Action::KeepEdited => (style("kept (edited)").dim(), &c.path),
                Action::Merged if dry_run => (style("would merge").yellow(), &c.path),
                Action::Merged => (style("merged").yellow(), &c.path),
                Action::Markers if dry_run => (style("would conflict").red(), &c.path),
                Action::Markers => (style("conflict").red(), &c.path),
                Action::NewBeside if dry_run => (style("would write beside").red(), &c.path),
                Action::NewBeside => (style("new beside").red(), &c.path),
                Action::Remove if dry_run => (style("would remove").red(), &c.path),
                Action::Remove => (style("removed").red(), &c.path),
                Action::KeepDeleted => (style("kept deleted").dim(), &c.path),
                Action::Unchanged => continue,
                Action::Conflict(_) => (style("conflict").red(), &c.path),
            };
            self.line(format!("  {word:>12} {path}"));
        }
        if unchanged > 0 {
            self.line(format!(
                "  {} {unchanged} other file(s) already up to date",
                style(format!("{:>12}", "unchanged")).dim()
            ));
        }
    }

    /// Prints the unified diff of every file that would be written.
    pub fn diffs(&self, changes: &[Change]) {
        for c in changes.iter().filter(|c| c.action.writes()) {
            self.diff_text(&c.diff());
        }
    }

    /// Prints one unified diff, colored.
    pub fn diff_text(&self, diff: &str) {
        self.line("");
        for line in diff.lines() {
            let styled = if line.starts_with("+++") || line.starts_with("---") {
                style(line).bold()
            } else if line.starts_with('+') {
                style(line).green()
            } else if line.starts_with('-') {
                style(line).red()
            } else if line.starts_with("@@") {
                style(line).cyan()
            } else {
                style(line)
            };
            self.line(styled.to_string());
        }
    }

    /// Prints the next steps.
    pub fn next_steps(&self, steps: &[String]) {
        if steps.is_empty() {
            return;
        }
        self.line("");
        self.heading("Next steps:");
        for step in steps {
            self.line(format!("  {step}"));
        }
    }
}

/// Prints an error on stderr, styled when stderr is a terminal.
pub fn print_error(message: &str) {
    eprintln!("{} {message}", style("error:").red().bold().for_stderr());
}
