//! The databases the generated apps run on: which server a test may use (from the environment
//! `.ci/run` sets), a fresh database per server process that is dropped afterwards, and reading it
//! back with the database's own command-line client (`psql`, `mariadb`, `sqlite3`), so the tool
//! needs no SQL driver of its own.
//!
//! - `CARGO_USERS_TEST_POSTGRES_URL`, e.g. `postgres://postgres@127.0.0.1:5432`
//! - `CARGO_USERS_TEST_MYSQL_URL`, e.g. `mysql://root@127.0.0.1:3306`
//!
//! Unset, a test that needs the server says loudly that it did not run and passes; with
//! `CARGO_USERS_E2E_REQUIRE_DATABASES` set (CI), an unset variable fails the test instead.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one command-line client call may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// The databases `cargo users init --db` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
    Mysql,
}

impl Db {
    /// The name on the command line (`--db <name>`).
    pub fn name(self) -> &'static str {
        match self {
            Db::Sqlite => "sqlite",
            Db::Postgres => "postgres",
            Db::Mysql => "mysql",
        }
    }

    /// The name people know it by, for messages.
    pub fn title(self) -> &'static str {
        match self {
            Db::Sqlite => "SQLite",
            Db::Postgres => "PostgreSQL",
            Db::Mysql => "MySQL/MariaDB",
        }
    }

    /// The environment variable naming the server the tests use (none for SQLite).
    pub fn server_variable(self) -> Option<&'static str> {
        match self {
            Db::Sqlite => None,
            Db::Postgres => Some("CARGO_USERS_TEST_POSTGRES_URL"),
            Db::Mysql => Some("CARGO_USERS_TEST_MYSQL_URL"),
        }
    }
}

// Redis (0.2.0).
/// The Redis server of `CARGO_USERS_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`), for the
/// generated tests of the shared rate limits (`TEST_REDIS_URL`); unset, they say they skipped.
pub fn redis_url() -> Option<String> {
    std::env::var("CARGO_USERS_TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// Where the generated app's data lives during a test: a SQLite file, or a database server.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite,
    Server(DbServer),
}

impl Store {
    /// The store for `db`: SQLite always; a server when its variable is set. `None` (after a
    /// loud `SKIPPED` line on stderr) when the variable is unset, so the caller returns at once.
    /// Fails when the variable is set but the server does not answer.
    pub fn for_test(db: Db, test: &str) -> Option<Store> {
        let Some(variable) = db.server_variable() else {
            return Some(Store::Sqlite);
        };
        let url = std::env::var(variable).unwrap_or_default();
        if url.trim().is_empty() {
            let message = format!("{variable} is not set; the test {test} did not run");
            assert!(
                std::env::var_os("CARGO_USERS_E2E_REQUIRE_DATABASES").is_none(),
                "{message}, but CARGO_USERS_E2E_REQUIRE_DATABASES is set: set {variable} to the {} server, e.g. {}",
                db.title(),
                example_url(db)
            );
            let banner = "!".repeat(100);
            eprintln!(
                "\n{banner}\nSKIPPED: {message}.\n  Set {variable} (e.g. {}) to run it against a real {} server.\n{banner}\n",
                example_url(db),
                db.title()
            );
            return None;
        }
        let server = DbServer::parse(db, url.trim());
        server.assert_reachable(variable);
        Some(Store::Server(server))
    }

    pub fn db(&self) -> Db {
        match self {
            Store::Sqlite => Db::Sqlite,
            Store::Server(server) => server.db,
        }
    }

    /// What the generated project's own `cargo test` needs in its environment: on a server,
    /// `TEST_DATABASE_URL` naming the server's maintenance database.
    pub fn test_environment(&self) -> Vec<(String, String)> {
        match self {
            Store::Sqlite => Vec::new(),
            Store::Server(server) => vec![(
                "TEST_DATABASE_URL".to_string(),
                server.database_url(match server.db {
                    Db::Postgres => "postgres",
                    _ => "",
                }),
            )],
        }
        .into_iter()
        .chain(redis_url().map(|url| ("TEST_REDIS_URL".to_string(), url)))
        .collect()
    }

    /// A database no one has used, named after `label`, for one or more server processes: a file
    /// in `scratch` for SQLite, a fresh name on the server otherwise (the app creates it at
    /// start-up). Dropped (best effort) when the returned value is.
    pub fn fresh_database(&self, label: &str, scratch: &Path) -> Database {
        match self {
            Store::Sqlite => {
                let path = scratch.join(format!("{label}.db"));
                Database {
                    url: format!("sqlite://{}", path.display()),
                    name: label.to_string(),
                    kind: DatabaseKind::Sqlite(path),
                }
            }
            Store::Server(server) => {
                let name = format!(
                    "e2e_{}_{}",
                    label.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
                    random_suffix()
                )
                .to_ascii_lowercase();
                Database {
                    url: server.database_url(&name),
                    name,
                    kind: DatabaseKind::Server(server.clone()),
                }
            }
        }
    }
}

fn example_url(db: Db) -> &'static str {
    match db {
        Db::Sqlite => "",
        Db::Postgres => "postgres://postgres@127.0.0.1:5432",
        Db::Mysql => "mysql://root@127.0.0.1:3306",
    }
}

/// Twelve lowercase hex digits, different at every call.
fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    format!("{:012x}", hasher.finish() & 0xffff_ffff_ffff)
}

/// A database server: the URL as given, taken apart for the command-line clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbServer {
    pub db: Db,
    /// `scheme://[user[:password]@]host[:port]`, without path or query.
    pub base: String,
    /// `?…` as given (kept on URLs handed to the app), or empty.
    pub query: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl DbServer {
    /// Takes `scheme://[user[:password]@]host[:port][/database][?query]` apart; a database in the
    /// URL is ignored (each test names its own).
    pub fn parse(db: Db, url: &str) -> DbServer {
        let (without_query, query) = match url.split_once('?') {
            Some((head, query)) => (head, format!("?{query}")),
            None => (url, String::new()),
        };
        let (scheme, rest) = without_query.split_once("://").unwrap_or_else(|| {
            panic!("{url:?} is not a database URL of the form scheme://user@host:port")
        });
        let authority = rest.split('/').next().unwrap_or("");
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => (Some(credentials), host_port),
            None => (None, authority),
        };
        let (user, password) = match credentials {
            Some(credentials) => match credentials.split_once(':') {
                Some((user, password)) => {
                    (Some(percent_decode(user)), Some(percent_decode(password)))
                }
                None => (Some(percent_decode(credentials)), None),
            },
            None => (None, None),
        };
        let parse_port = |port: &str| -> u16 {
            port.parse()
                .unwrap_or_else(|_| panic!("bad port {port:?} in {url:?}"))
        };
        let (host, port) = match host_port.strip_prefix('[') {
            // [::1]:5432
            Some(bracketed) => {
                let (host, after) = bracketed.split_once(']').unwrap_or((bracketed, ""));
                (host.to_string(), after.strip_prefix(':').map(parse_port))
            }
            None => match host_port.rsplit_once(':') {
                Some((host, port)) => (host.to_string(), Some(parse_port(port))),
                None => (host_port.to_string(), None),
            },
        };
        DbServer {
            db,
            base: format!("{scheme}://{authority}"),
            query,
            user: user.filter(|u| !u.is_empty()),
            password: password.filter(|p| !p.is_empty()),
            host,
            port,
        }
    }

    /// The URL of database `name` on this server (`name` empty: the server itself, as MySQL's
    /// maintenance URL `mysql://…/`).
    pub fn database_url(&self, name: &str) -> String {
        format!("{}/{name}{}", self.base, self.query)
    }

    /// Runs `sql` with the database's command-line client (in database `database`, or the
    /// maintenance database when `None`) and returns what it printed, trimmed. Panics with the
    /// client's output when it fails.
    pub fn query(&self, database: Option<&str>, sql: &str) -> String {
        let mut command = match self.db {
            Db::Postgres => {
                let mut command = Command::new("psql");
                command
                    .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d"])
                    .arg(self.database_url(database.unwrap_or("postgres")))
                    .args(["-c", sql]);
                command
            }
            Db::Mysql => {
                let mut command = Command::new(mysql_client());
                command.args(["--protocol=TCP", "-N", "-B", "-h", &self.host]);
                if let Some(port) = self.port {
                    command.args(["-P", &port.to_string()]);
                }
                if let Some(user) = &self.user {
                    command.args(["-u", user]);
                }
                // MYSQL_PWD keeps the password off the command line; unset means none.
                command.env("MYSQL_PWD", self.password.as_deref().unwrap_or(""));
                command.args(["-e", sql]);
                if let Some(database) = database {
                    command.arg(database);
                }
                command
            }
            Db::Sqlite => unreachable!("SQLite has no server"),
        };
        run_client(&mut command, &format!("{} {sql:?}", self.db.name()))
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// Fails, saying what to fix, when the server does not answer `SELECT 1`.
    fn assert_reachable(&self, variable: &str) {
        let started = Instant::now();
        let answer = std::panic::catch_unwind(|| self.query(None, "SELECT 1"));
        match answer {
            Ok(one) if one == "1" => eprintln!(
                "{} server {} answers ({:.1?})",
                self.db.name(),
                self.base,
                started.elapsed()
            ),
            Ok(other) => panic!("{variable}={}: SELECT 1 answered {other:?}", self.base),
            Err(_) => panic!(
                "{variable}={} is set but the server cannot be queried (see above); \
                 start it or unset {variable} to skip these tests",
                self.base
            ),
        }
    }
}

/// `mariadb`, or `mysql` on machines that only have that name.
fn mysql_client() -> &'static str {
    let found = |name: &str| {
        Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if found("mariadb") { "mariadb" } else { "mysql" }
}

/// Decodes `%XX` escapes (URL user names and passwords).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let digits = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(digits, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs a command-line client to completion within [`CLIENT_TIMEOUT`] (killed after that) and
/// returns its stdout, trimmed; an error with both outputs when it fails or cannot start.
fn run_client(command: &mut Command, what: &str) -> Result<String, String> {
    let outputs = tempfile::tempdir().map_err(|e| format!("{what}: temporary folder: {e}"))?;
    let (out_path, err_path) = (outputs.path().join("out"), outputs.path().join("err"));
    let mut child = command
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).map_err(|e| e.to_string())?)
        .stderr(File::create(&err_path).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|error| {
            format!(
                "{what}: cannot start {:?} ({error}); the e2e tests read the database with its command-line client",
                command.get_program()
            )
        })?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > CLIENT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{what}: no answer within {CLIENT_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |path: &PathBuf| std::fs::read_to_string(path).unwrap_or_default();
    if status.success() {
        Ok(read(&out_path).trim().to_string())
    } else {
        Err(format!(
            "{what} failed with {status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            read(&out_path),
            read(&err_path)
        ))
    }
}

/// One database of a test, dropped (best effort) when this value is, unless
/// `CARGO_USERS_E2E_KEEP` is set. Drop it after the servers using it.
pub struct Database {
    /// The `DATABASE_URL` to give the server.
    pub url: String,
    /// The database's name (SQLite: the label).
    pub name: String,
    kind: DatabaseKind,
}

enum DatabaseKind {
    Sqlite(PathBuf),
    Server(DbServer),
}

impl Database {
    /// Runs one `SELECT` returning a single value in this database and returns it; `None` for
    /// SQLite when no `sqlite3` is installed.
    pub fn query_value(&self, sql: &str) -> Option<String> {
        match &self.kind {
            DatabaseKind::Server(server) => Some(server.query(Some(&self.name), sql)),
            DatabaseKind::Sqlite(path) => {
                if !sqlite3_installed() {
                    return None;
                }
                let mut command = Command::new("sqlite3");
                command.arg(path).arg(sql);
                Some(
                    run_client(&mut command, &format!("sqlite3 {sql:?}"))
                        .unwrap_or_else(|error| panic!("{error}")),
                )
            }
        }
    }

    /// [`Database::query_value`] read as a count.
    pub fn count(&self, sql: &str) -> Option<u64> {
        self.query_value(sql).map(|value| {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{sql} answered {value:?}, not a number"))
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let DatabaseKind::Server(server) = &self.kind else {
            return; // the file goes with the project's temporary folder
        };
        if std::env::var_os("CARGO_USERS_E2E_KEEP").is_some() {
            eprintln!(
                "keeping the database {} (CARGO_USERS_E2E_KEEP is set)",
                self.url
            );
            return;
        }
        let sql = match server.db {
            Db::Postgres => format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            _ => format!("DROP DATABASE IF EXISTS `{}`", self.name),
        };
        if let Err(panic) = std::panic::catch_unwind(|| server.query(None, &sql)) {
            let reason = panic.downcast_ref::<String>().cloned().unwrap_or_default();
            eprintln!("could not drop the database {}: {reason}", self.name);
        }
    }
}

/// Whether the `sqlite3` command-line shell is installed.
pub fn sqlite3_installed() -> bool {
    Command::new("sqlite3")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_url_is_taken_apart_for_the_command_line_clients() {
        let pg = DbServer::parse(Db::Postgres, "postgres://postgres@127.0.0.1:5432");
        assert_eq!(pg.base, "postgres://postgres@127.0.0.1:5432");
        assert_eq!(pg.user.as_deref(), Some("postgres"));
        assert_eq!(
            (pg.host.as_str(), pg.port, pg.password.as_deref()),
            ("127.0.0.1", Some(5432), None)
        );
        assert_eq!(
            pg.database_url("postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );

        let my = DbServer::parse(
            Db::Mysql,
            "mysql://root:p%40ss@db.local/ignored?ssl-mode=DISABLED",
        );
        assert_eq!(my.base, "mysql://root:p%40ss@db.local");
        assert_eq!(
            (my.user.as_deref(), my.password.as_deref()),
            (Some("root"), Some("p@ss"))
        );
        assert_eq!((my.host.as_str(), my.port), ("db.local", None));
        assert_eq!(
            my.database_url(""),
            "mysql://root:p%40ss@db.local/?ssl-mode=DISABLED"
        );

        let bare = DbServer::parse(Db::Mysql, "mysql://127.0.0.1:3306/");
        assert_eq!((bare.user, bare.port), (None, Some(3306)));
    }

    #[test]
    fn fresh_database_names_are_valid_identifiers_and_differ() {
        let server = Store::Server(DbServer::parse(Db::Postgres, "postgres://u@h:1"));
        let dir = Path::new("/nonexistent");
        let (a, b) = (
            server.fresh_database("pg-jwt-cookie", dir),
            server.fresh_database("pg-jwt-cookie", dir),
        );
        assert_ne!(a.name, b.name);
        assert!(a.name.starts_with("e2e_pg_jwt_cookie_"), "{}", a.name);
        assert!(
            a.name.len() <= 63
                && a.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
        assert_eq!(a.url, format!("postgres://u@h:1/{}", a.name));
        std::mem::forget(a);
        std::mem::forget(b);
    }
}
