//! The command line (clap), as a cargo subcommand: `cargo users <command>` runs this binary as
//! `cargo-users users <command>`; `cargo-users <command>` works too. The types here only parse;
//! they convert into the option structs of [`crate::ops`].

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::choices::{Backend, Database, HandlerSelection};
use crate::error::{EXIT_OK, Error, Result};
use crate::manifest::Manifest;
use crate::ops::add_handler::AddHandlerOptions;
use crate::ops::init::InitOptions;
use crate::ops::list::ListOptions;
use crate::ops::new::NewOptions;
use crate::ops::{add_handler, init, list, new};
use crate::prompt::{Completion, GivenChoices};
use crate::ui::{Ui, print_error};

/// `cargo <subcommand>`.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = clap::builder::Styles::styled())]
pub enum Cli {
    /// Generate a user module (register, verify, login, password reset) for Axum + SQLx.
    Users(UsersArgs),
}

/// `cargo users`.
#[derive(Debug, Args)]
#[command(
    version,
    about = "Generate a user module (register, verify, login, password reset) for Axum + SQLx",
    after_help = "Exit codes: 0 done, 1 failure (conflict, not a Cargo package, I/O), 2 usage."
)]
pub struct UsersArgs {
    /// The command.
    #[command(subcommand)]
    pub command: Commands,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Create a package with `cargo new <name>` and set it up in app mode (`cargo run` serves
    /// the API).
    New(NewArgs),
    /// Generate the user module into the current package (or --manifest-path).
    Init(InitArgs),
    /// Add handlers to a package that `init` already set up.
    AddHandler(AddHandlerArgs),
    /// Show what is installed and which generated files were edited since.
    List(ListArgs),
}

/// The choices shared by `new` and `init`.
#[derive(Debug, Clone, Args)]
pub struct ChoiceArgs {
    /// Auth backend [default with --yes: session].
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    /// Database [default with --yes: sqlite].
    #[arg(long, value_enum)]
    pub db: Option<Database>,
    /// Handlers, comma-separated, or `all`.
    #[arg(long, value_delimiter = ',', num_args = 1.., value_name = "H,H,...")]
    pub handlers: Option<Vec<String>>,
    /// Module folder, a direct child of src/ [default: src/users].
    #[arg(long, value_name = "PATH")]
    pub module: Option<String>,
    /// Accept the defaults for every choice not given; never prompt.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// How `init` and `add-handler` write, and where.
#[derive(Debug, Clone, Args)]
pub struct WriteArgs {
    /// Print the plan and the diff of every file it would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Overwrite generated files that exist and differ (or were edited).
    #[arg(long)]
    pub force: bool,
    /// Path to the package's Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
}

/// `init`.
#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// The choices.
    #[command(flatten)]
    pub choices: ChoiceArgs,
    /// How to write.
    #[command(flatten)]
    pub write: WriteArgs,
}

/// `new`.
#[derive(Debug, Clone, Args)]
pub struct NewArgs {
    /// Name (and folder) of the package to create.
    pub name: String,
    /// The choices.
    #[command(flatten)]
    pub choices: ChoiceArgs,
}

/// `add-handler`.
#[derive(Debug, Clone, Args)]
pub struct AddHandlerArgs {
    /// Handlers to add.
    #[arg(required = true, value_delimiter = ',', value_name = "HANDLER")]
    pub handlers: Vec<String>,
    /// How to write.
    #[command(flatten)]
    pub write: WriteArgs,
}

/// `list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Path to the package's Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
}

impl ChoiceArgs {
    fn given(&self) -> GivenChoices {
        GivenChoices {
            backend: self.backend,
            db: self.db,
            handlers: self
                .handlers
                .as_ref()
                .map(|v| HandlerSelection::from_values(v)),
        }
    }

    fn completion(&self) -> Completion {
        Completion::detect(self.yes, std::io::stdin().is_terminal())
    }
}

/// Inserts the `users` word when the binary was run as `cargo-users <command>`.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    if args.get(1).is_none_or(|a| a != "users") {
        args.insert(1.min(args.len()), OsString::from("users"));
    }
    if args.is_empty() {
        args.push(OsString::from("cargo"));
    }
    args
}

fn command() -> clap::Command {
    let handlers = Manifest::embedded()
        .map(|m| m.handler_list())
        .unwrap_or_default();
    let help = format!("Handlers, comma-separated, or `all` [possible values: {handlers}]");
    let add_help = format!("Handlers to add [possible values: {handlers}]");
    Cli::command().mut_subcommand("users", |users| {
        users
            .mut_subcommand("init", |c| c.mut_arg("handlers", |a| a.help(help.clone())))
            .mut_subcommand("new", |c| c.mut_arg("handlers", |a| a.help(help.clone())))
            .mut_subcommand("add-handler", |c| {
                c.mut_arg("handlers", |a| a.help(add_help))
            })
    })
}

/// Parses the arguments (clap prints its own usage errors and exits 2).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Cli {
    let matches = command().get_matches_from(normalize_args(args));
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    }
}

/// Runs the command line and returns the exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let Cli::Users(users) = parse(args);
    match dispatch(users.command) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            print_error(&e.to_string());
            e.exit_code()
        }
    }
}

fn dispatch(command: Commands) -> Result<()> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::failure(format!("cannot read the current folder: {e}")))?;
    let ui = Ui::new();
    match command {
        Commands::New(args) => {
            let opts = NewOptions {
                cwd,
                name: args.name.clone(),
                given: args.choices.given(),
                module: args.choices.module.clone(),
                completion: args.choices.completion(),
                now: None,
            };
            new::run(&opts, &ui).map(drop)
        }
        Commands::Init(args) => {
            let opts = InitOptions {
                cwd,
                manifest_path: args.write.manifest_path.clone(),
                given: args.choices.given(),
                module: args.choices.module.clone(),
                completion: args.choices.completion(),
                dry_run: args.write.dry_run,
                force: args.write.force,
                now: None,
                secret: None,
                enter_dir: None,
            };
            init::run(&opts, &ui).map(drop)
        }
        Commands::AddHandler(args) => {
            let opts = AddHandlerOptions {
                cwd,
                manifest_path: args.write.manifest_path.clone(),
                handlers: args.handlers.clone(),
                dry_run: args.write.dry_run,
                force: args.write.force,
                now: None,
            };
            add_handler::run(&opts, &ui).map(drop)
        }
        Commands::List(args) => {
            let opts = ListOptions {
                cwd,
                manifest_path: args.manifest_path.clone(),
            };
            list::run(&opts, &ui).map(drop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_cli_definition_is_valid() {
        command().debug_assert();
    }

    #[test]
    fn both_invocations_parse_the_same() {
        assert_eq!(
            normalize_args(os(&["cargo-users", "users", "init"])),
            os(&["cargo-users", "users", "init"])
        );
        assert_eq!(
            normalize_args(os(&["cargo-users", "init"])),
            os(&["cargo-users", "users", "init"])
        );
    }

    #[test]
    fn init_flags_parse() {
        let m = command()
            .try_get_matches_from(os(&[
                "cargo-users",
                "users",
                "init",
                "--backend",
                "jwt-cookie",
                "--db",
                "postgres",
                "--handlers",
                "auth,register",
                "--module",
                "src/accounts",
                "--yes",
                "--dry-run",
            ]))
            .unwrap();
        let Cli::Users(u) = Cli::from_arg_matches(&m).unwrap();
        let Commands::Init(a) = u.command else {
            panic!("not init")
        };
        assert_eq!(a.choices.backend, Some(Backend::JwtCookie));
        assert_eq!(a.choices.db, Some(Database::Postgres));
        assert_eq!(
            a.choices.handlers.as_deref(),
            Some(&["auth".to_string(), "register".to_string()][..])
        );
        assert!(a.choices.yes && a.write.dry_run && !a.write.force);
    }

    #[test]
    fn an_unknown_backend_is_a_usage_error() {
        let err = command()
            .try_get_matches_from(os(&["cargo-users", "init", "--backend", "basic"]))
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
