//! Completing the choices: flags first, then the record of an earlier run, then `--yes`
//! defaults, then interactive prompts (only on a terminal); otherwise a usage error.

use console::Term;
use dialoguer::theme::{ColorfulTheme, Theme};
use dialoguer::{MultiSelect, Select};

use crate::choices::{Backend, DEFAULT_HANDLERS, Database, HandlerSelection};
use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// Choices as given on the command line (or taken from the record).
#[derive(Debug, Clone, Default)]
pub struct GivenChoices {
    /// `--backend`.
    pub backend: Option<Backend>,
    /// `--db`.
    pub db: Option<Database>,
    /// `--handlers`.
    pub handlers: Option<HandlerSelection>,
}

/// Every choice made.
#[derive(Debug, Clone)]
pub struct Choices {
    /// The auth backend.
    pub backend: Backend,
    /// The database.
    pub db: Database,
    /// The handlers, not yet resolved.
    pub handlers: HandlerSelection,
}

/// How missing choices are completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// `--yes`: take the defaults.
    Defaults,
    /// Ask on the terminal.
    Prompt,
    /// No terminal and no `--yes`: a missing choice is a usage error.
    Refuse,
}

impl Completion {
    /// The completion for `--yes` and whether stdin is a terminal.
    pub fn detect(yes: bool, stdin_is_terminal: bool) -> Self {
        match (yes, stdin_is_terminal) {
            (true, _) => Completion::Defaults,
            (false, true) => Completion::Prompt,
            (false, false) => Completion::Refuse,
        }
    }
}

/// Completes the choices.
pub fn complete(manifest: &Manifest, given: GivenChoices, how: Completion) -> Result<Choices> {
    if how == Completion::Refuse {
        let missing: Vec<&str> = [
            given.backend.is_none().then_some("--backend"),
            given.db.is_none().then_some("--db"),
            given.handlers.is_none().then_some("--handlers"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !missing.is_empty() {
            return Err(Error::usage(format!(
                "missing {}: stdin is not a terminal, so cargo-users cannot ask; pass {} or --yes \
                 to accept the defaults",
                missing.join(", "),
                missing.join(" "),
            )));
        }
    }
    let prompt = how == Completion::Prompt;
    let backend = match given.backend {
        Some(b) => b,
        None if prompt => prompt_backend()?,
        None => Backend::default(),
    };
    let db = match given.db {
        Some(d) => d,
        None if prompt => prompt_db()?,
        None => Database::default(),
    };
    let handlers = match given.handlers {
        Some(h) => h,
        None if prompt => prompt_handlers(manifest)?,
        None => HandlerSelection::defaults(),
    };
    Ok(Choices {
        backend,
        db,
        handlers,
    })
}

fn prompt_error(e: dialoguer::Error) -> Error {
    Error::failure(format!("prompt failed: {e}"))
}

/// Echoes a choice once it is made: the prompt and the chosen names only. (The menus show a
/// description beside each name; repeated after the choice, the padded descriptions made the
/// line unreadable.)
fn echo_choice(prompt: &str, names: &[&str]) -> Result<()> {
    let mut line = String::new();
    // Formatting into a `String` cannot fail.
    let _ = ColorfulTheme::default().format_multi_select_prompt_selection(&mut line, prompt, names);
    Term::stderr()
        .write_line(&line)
        .map_err(|e| Error::failure(format!("prompt failed: {e}")))
}

fn prompt_backend() -> Result<Backend> {
    let items: Vec<String> = Backend::ALL
        .iter()
        .map(|b| format!("{:<11} {}", b.as_str(), b.summary()))
        .collect();
    let i = Select::with_theme(&ColorfulTheme::default())
        .with_prompt("Auth backend")
        .items(&items)
        .default(0)
        .report(false)
        .interact()
        .map_err(prompt_error)?;
    echo_choice("Auth backend", &[Backend::ALL[i].as_str()])?;
    Ok(Backend::ALL[i])
}

fn prompt_db() -> Result<Database> {
    let items: Vec<String> = Database::ALL
        .iter()
        .map(|d| format!("{:<9} {}", d.as_str(), d.summary()))
        .collect();
    let i = Select::with_theme(&ColorfulTheme::default())
        .with_prompt("Database")
        .items(&items)
        .default(0)
        .report(false)
        .interact()
        .map_err(prompt_error)?;
    echo_choice("Database", &[Database::ALL[i].as_str()])?;
    Ok(Database::ALL[i])
}

fn prompt_handlers(manifest: &Manifest) -> Result<HandlerSelection> {
    let names = manifest.handler_names();
    let width = names.iter().map(String::len).max().unwrap_or(0);
    let items: Vec<String> = manifest
        .handler
        .iter()
        .map(|(name, spec)| format!("{name:<width$}  {}", spec.summary))
        .collect();
    let defaults: Vec<bool> = names
        .iter()
        .map(|n| DEFAULT_HANDLERS.contains(&n.as_str()))
        .collect();
    let picked = MultiSelect::with_theme(&ColorfulTheme::default())
        .with_prompt("Handlers (space to toggle, enter to confirm)")
        .items(&items)
        .defaults(&defaults)
        .report(false)
        .interact()
        .map_err(prompt_error)?;
    let picked: Vec<String> = picked.into_iter().map(|i| names[i].clone()).collect();
    let shown: Vec<&str> = picked.iter().map(String::as_str).collect();
    echo_choice("Handlers", &shown)?;
    Ok(HandlerSelection::Named(picked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusing_names_every_missing_flag() {
        let m = Manifest::embedded().unwrap();
        let given = GivenChoices {
            backend: Some(Backend::Jwt),
            ..Default::default()
        };
        let err = complete(&m, given, Completion::Refuse).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let msg = err.to_string();
        assert!(msg.contains("--db") && msg.contains("--handlers") && !msg.contains("--backend"));
    }

    #[test]
    fn defaults_fill_only_what_is_missing() {
        let m = Manifest::embedded().unwrap();
        let given = GivenChoices {
            db: Some(Database::Mysql),
            ..Default::default()
        };
        let c = complete(&m, given, Completion::Defaults).unwrap();
        assert_eq!(c.backend, Backend::Session);
        assert_eq!(c.db, Database::Mysql);
        assert_eq!(c.handlers, HandlerSelection::defaults());
    }

    #[test]
    fn nothing_missing_needs_no_terminal() {
        let m = Manifest::embedded().unwrap();
        let given = GivenChoices {
            backend: Some(Backend::Jwt),
            db: Some(Database::Sqlite),
            handlers: Some(HandlerSelection::All),
        };
        assert!(complete(&m, given, Completion::Refuse).is_ok());
    }
}
