//! `cargo-users`: a cargo subcommand that generates a user module (registration, email
//! verification, login/logout, password reset, current user) for Axum + SQLx projects.
//!
//! The binary is a thin wrapper around [`cli::run`]. The work is split into:
//! - [`manifest`]: the declarative manifest of the embedded templates;
//! - [`selection`]: backend, database and the whole selection (a leaf);
//! - [`choices`], [`prompt`]: backend, database and handlers, from flags, the record or prompts;
//! - [`project`]: the user's package;
//! - [`render`] (with the [`sql_filter`]), [`plan`], [`deps`], [`edits`]: everything to write,
//!   computed in memory first;
//! - [`writer`]: conflicts, diffs and atomic writes;
//! - [`record`], the record file `cargo-users.toml`;
//! - [`store`]: the templates of every released version; [`generate`]: what a version's
//!   templates generate for a selection; [`merge`]: the 3-way merge engine;
//! - [`ops`]: the commands `new`, `init`, `add-handler`, `list`, `upgrade` and `diff`.

#![warn(missing_docs)]

pub mod choices;
pub mod cli;
pub mod deps;
pub mod edits;
pub mod error;
pub mod generate;
pub mod manifest;
pub mod merge;
pub mod ops;
pub mod plan;
pub mod project;
pub mod prompt;
pub mod record;
pub mod render;
pub mod selection;
pub mod sql_filter;
pub mod store;
pub mod timestamp;
pub mod ui;
pub mod writer;

/// The tool's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
