//! The tool's error type and the exit code each kind of error maps to.

use std::path::{Path, PathBuf};

/// Exit code of a successful run.
pub const EXIT_OK: i32 = 0;
/// Exit code of a failure: a conflict, not a Cargo package, an I/O error.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code of a usage error: an unknown name, a missing choice without a terminal.
pub const EXIT_USAGE: i32 = 2;

/// Everything that can stop a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line asks for something impossible (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The command cannot be carried out (exit 1).
    #[error("{0}")]
    Failure(String),
    /// Files on disk differ from what would be written (exit 1); nothing was written.
    #[error("{} file(s) already exist and differ from what would be generated:\n{}\nnothing was written; see the differences with --dry-run, then edit or remove these files, or run again with --force to overwrite them",
        .0.len(), .0.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n"))]
    Conflicts(Vec<String>),
    /// Files were written, but some need the user to finish the merge (exit 1).
    #[error("{} file(s) need you to finish the merge:\n{}\nthe other files were written; resolve the conflict markers (and merge each .cargo-users-new file into the file beside it, then delete it) before building",
        .0.len(), .0.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n"))]
    Unresolved(Vec<String>),
    /// Reading or writing a file failed (exit 1).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }

    /// A usage error (exit 2) with this message.
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }

    /// A failure (exit 1) with this message.
    pub fn failure(message: impl Into<String>) -> Self {
        Error::Failure(message.into())
    }

    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}

/// The result type of the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
