//! The choices a project is generated with: auth backend, database, and the whole selection.
//! A leaf: it imports nothing of the tool, so the manifest, the record and the choices all
//! build on it.

use std::fmt;

/// The choices a project is generated with, passed everywhere as one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The auth backend.
    pub backend: Backend,
    /// The database.
    pub db: Database,
    /// Installed handlers, in manifest order.
    pub handlers: Vec<String>,
    /// Whether a runnable `src/main.rs` is generated.
    pub app_mode: bool,
}

/// How a logged-in user is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum Backend {
    /// A random session token in an HttpOnly cookie, stored hashed in the database.
    #[default]
    Session,
    /// A short-lived JWT access token sent as `Authorization: Bearer`.
    Jwt,
    /// A short-lived JWT access token in an HttpOnly cookie.
    JwtCookie,
}

impl Backend {
    /// Every backend, in the order they are offered.
    pub const ALL: [Backend; 3] = [Backend::Session, Backend::Jwt, Backend::JwtCookie];

    /// The name used on the command line, in templates and in the record.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Session => "session",
            Backend::Jwt => "jwt",
            Backend::JwtCookie => "jwt-cookie",
        }
    }

    /// The backend with this name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == name)
    }

    /// One-line description for prompts.
    pub fn summary(self) -> &'static str {
        match self {
            Backend::Session => "server-side sessions in an HttpOnly cookie",
            Backend::Jwt => "JWT access tokens as Authorization: Bearer",
            Backend::JwtCookie => "JWT access tokens in an HttpOnly cookie",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The database the generated code is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum Database {
    /// SQLite.
    #[default]
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

impl Database {
    /// Every database, in the order they are offered.
    pub const ALL: [Database; 3] = [Database::Sqlite, Database::Postgres, Database::Mysql];

    /// The name used on the command line, in templates and in the record.
    pub fn as_str(self) -> &'static str {
        match self {
            Database::Sqlite => "sqlite",
            Database::Postgres => "postgres",
            Database::Mysql => "mysql",
        }
    }

    /// The database with this name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == name)
    }

    /// One-line description for prompts.
    pub fn summary(self) -> &'static str {
        match self {
            Database::Sqlite => "SQLite",
            Database::Postgres => "PostgreSQL",
            Database::Mysql => "MySQL / MariaDB",
        }
    }

    /// The `DATABASE_URL` written to a fresh `.env` for the package `package`.
    pub fn default_url(self, package: &str) -> String {
        match self {
            Database::Sqlite => format!("sqlite://{package}.db"),
            Database::Postgres => format!("postgres://postgres@127.0.0.1:5432/{package}"),
            Database::Mysql => format!("mysql://root@127.0.0.1:3306/{package}"),
        }
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
