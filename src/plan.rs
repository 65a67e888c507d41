//! The in-memory plan: every file to write with its contents, computed before anything is
//! written. Generated files come from the manifest's templates; edits of the user's files
//! (`Cargo.toml`, the library root, `.gitignore`, `.env`) and the record complete it.

use std::collections::BTreeMap;

use crate::deps;
use crate::edits;
use crate::error::{Error, Result};
use crate::generate::{Generator, Names, Selection};
use crate::manifest::{Manifest, Wiring};
use crate::merge::Labels;
use crate::project::{ModuleDir, Project, inside, read_optional};
use crate::record::{self, RECORD_FILE, Record};
use crate::render::Renderer;
use crate::timestamp::Timestamp;

/// What the plan is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `init`: every file that exists and differs is a conflict (unless `--force`).
    Init,
    /// `add-handler`: files the user did not touch are updated, edited ones are kept when the
    /// change does not concern them or receive marker insertions.
    AddHandler {
        /// Handlers installed before.
        previous: Vec<String>,
    },
}

/// Everything a plan is computed from.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Backend, database, handlers (after resolution, in manifest order) and app mode.
    pub selection: Selection,
    /// The module folder.
    pub module: ModuleDir,
    /// `init` or `add-handler`.
    pub mode: Mode,
    /// The record found on disk, if any.
    pub previous: Option<Record>,
    /// The time new migrations are stamped with (`None`: now).
    pub now: Option<Timestamp>,
    /// The secret written to a fresh `.env` (`None`: random from the OS).
    pub secret: Option<String>,
    /// The version the templates are of (`tool_version` in them and in the record): this
    /// binary's, or a released one rendered from the store.
    pub tool_version: String,
}

/// How the writer treats a planned file that exists on disk with other contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// A generated file: a conflict, except as `add-handler` allows (see [`Previous`]).
    Generated {
        /// The template it comes from.
        template: String,
        /// What `add-handler` knows about the file before the change.
        previous: Option<Previous>,
        /// Replacing the `cargo new` hello world is not a conflict.
        replaces_hello_world: bool,
    },
    /// An edit computed from the file's current contents (or the tool's record): never a
    /// conflict.
    Edit,
    /// Written only when absent (`.env`); never hashed.
    CreateOnly,
}

/// What `add-handler` knows about a generated file before the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    /// The hash recorded in `cargo-users.toml`, if any.
    pub recorded_hash: Option<String>,
    /// The file as the old choices render it, if it was rendered then.
    pub old_rendering: Option<String>,
    /// Lines to insert at the file's markers when the user edited it and no verified base
    /// exists (only markers that get lines).
    pub insertions: Vec<Insertion>,
    /// How the sides are named in conflict markers.
    pub labels: Labels,
}

pub use crate::edits::Insertion;

/// One file of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Path relative to the package root, with `/`.
    pub path: String,
    /// The full contents to write.
    pub contents: String,
    /// How an existing, differing file is treated.
    pub policy: Policy,
}

/// The plan: files in the order they are reported.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every planned file.
    pub files: Vec<PlannedFile>,
    /// The record that will be written.
    pub record: Record,
    /// Dependencies added to `Cargo.toml`.
    pub deps_added: Vec<String>,
    /// Existing dependencies that got features.
    pub deps_updated: Vec<String>,
}

impl Plan {
    /// Path to contents, for every planned file.
    pub fn contents(&self) -> BTreeMap<&str, &str> {
        self.files
            .iter()
            .map(|f| (f.path.as_str(), f.contents.as_str()))
            .collect()
    }

    /// The planned file at `path`.
    pub fn get(&self, path: &str) -> Option<&PlannedFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// Computes the plan for `opts` against the package as it is on disk: the generated files, the
/// migrations, the edits of the user's own files, then the record of it all.
pub fn build(
    project: &Project,
    manifest: &Manifest,
    renderer: &Renderer,
    opts: &PlanOptions,
) -> Result<Plan> {
    let steps = Steps::new(project, manifest, renderer, opts);
    let mut files = steps.generated_files()?;
    let migrations = steps.migrations()?;
    files.extend(migrations.files);
    let edits = steps.user_edits()?;
    files.extend(edits.files);
    let record = steps.record(
        &files,
        migrations.stamps,
        migrations.frozen,
        &edits.requests,
    );
    files.push(PlannedFile {
        path: RECORD_FILE.to_string(),
        contents: record.render(),
        policy: Policy::Edit,
    });
    Ok(Plan {
        files,
        record,
        deps_added: edits.deps_added,
        deps_updated: edits.deps_updated,
    })
}

/// What every step of [`build`] shares.
struct Steps<'a> {
    project: &'a Project,
    manifest: &'a Manifest,
    opts: &'a PlanOptions,
    generator: Generator<'a>,
    names: Names,
    /// The handlers installed before (`add-handler`), `None` for `init`.
    old: Option<&'a [String]>,
    /// The handlers `add-handler` adds.
    added: Vec<String>,
}

/// The migrations of a plan.
struct Migrations {
    /// Migrations to write (new ones, or all of them for `init`).
    files: Vec<PlannedFile>,
    /// Migration name to timestamp.
    stamps: BTreeMap<String, String>,
    /// Written migrations that are never rewritten, with their recorded hash.
    frozen: BTreeMap<String, String>,
}

/// The edits of the user's own files.
struct UserEdits {
    files: Vec<PlannedFile>,
    requests: Vec<deps::DepRequest>,
    deps_added: Vec<String>,
    deps_updated: Vec<String>,
}

impl<'a> Steps<'a> {
    fn new(
        project: &'a Project,
        manifest: &'a Manifest,
        renderer: &'a Renderer,
        opts: &'a PlanOptions,
    ) -> Self {
        let old = match &opts.mode {
            Mode::Init => None,
            Mode::AddHandler { previous } => Some(previous.as_slice()),
        };
        let added = opts
            .selection
            .handlers
            .iter()
            .filter(|h| old.is_some_and(|o| !o.contains(h)))
            .cloned()
            .collect();
        Steps {
            project,
            manifest,
            opts,
            generator: Generator {
                manifest,
                renderer,
                tool_version: &opts.tool_version,
            },
            names: Names {
                package: project.package.clone(),
                crate_name: project.crate_name.clone(),
                module: opts.module.name.clone(),
            },
            old,
            added,
        }
    }

    fn recorded(&self, path: &str) -> Option<String> {
        self.opts
            .previous
            .as_ref()
            .and_then(|r| r.files.get(path).cloned())
    }

    /// How `add-handler`'s conflict markers name the two generated sides.
    fn labels(&self) -> Labels {
        let version = &self.opts.tool_version;
        Labels {
            base: format!("cargo-users {version} before add-handler"),
            theirs: format!("cargo-users {version} with {}", self.added.join(", ")),
        }
    }

    /// The module, tests and app files the templates generate.
    fn generated_files(&self) -> Result<Vec<PlannedFile>> {
        let selection = &self.opts.selection;
        // What the handlers installed before generate: the base of `add-handler`'s merges.
        let old_files = match self.old {
            None => None,
            Some(hs) => Some(self.generator.files(
                &self.names,
                &Selection {
                    handlers: hs.to_vec(),
                    ..selection.clone()
                },
            )?),
        };
        // What the added handlers wire in: the lines the old selection did not have.
        let wiring = self.old.map(|hs| {
            let old = Selection {
                handlers: hs.to_vec(),
                ..selection.clone()
            };
            (self.manifest.wiring(&old), self.manifest.wiring(selection))
        });
        let mut files = Vec::new();
        for file in self.generator.files(&self.names, selection)? {
            let previous = old_files.as_ref().map(|old_files| {
                let old_rendering = old_files
                    .iter()
                    .find(|f| f.path == file.path)
                    .map(|f| f.contents.clone());
                let insertions = match (&wiring, &old_rendering) {
                    (Some((old, new)), Some(base)) => insertions(
                        self.manifest,
                        &file.template,
                        (old, base),
                        (new, &file.contents),
                    ),
                    _ => Vec::new(),
                };
                Previous {
                    recorded_hash: self.recorded(&file.path),
                    old_rendering,
                    insertions,
                    labels: self.labels(),
                }
            });
            files.push(PlannedFile {
                policy: Policy::Generated {
                    template: file.template,
                    previous,
                    replaces_hello_world: file.path == "src/main.rs",
                },
                path: file.path,
                contents: file.contents,
            });
        }
        Ok(files)
    }

    /// Migrations: recorded timestamps are reused, new ones stamped after every existing
    /// migration; one that was written is never rewritten by `add-handler`.
    fn migrations(&self) -> Result<Migrations> {
        let mut out = Migrations {
            files: Vec::new(),
            stamps: BTreeMap::new(),
            frozen: BTreeMap::new(),
        };
        let mut next = next_timestamp(self.project, self.opts)?;
        for m in self
            .generator
            .migrations(&self.names, &self.opts.selection)?
        {
            let recorded_ts = self
                .opts
                .previous
                .as_ref()
                .and_then(|r| r.migrations.get(&m.name).cloned());
            let written = match recorded_ts {
                Some(_) => None,
                None => written_by_an_interrupted_run(
                    self.project,
                    self.opts
                        .previous
                        .iter()
                        .flat_map(|r| r.migrations.values()),
                    &m.name,
                    &m.contents,
                )?,
            };
            let stamp = match (recorded_ts, written) {
                (Some(ts), _) => ts,
                (None, Some((_, ts))) => ts,
                (None, None) => {
                    let ts = next.to_string();
                    next = next.next();
                    ts
                }
            };
            let path = format!("migrations/{stamp}_{}.sql", m.name);
            out.stamps.insert(m.name.clone(), stamp);
            if let (Some(_), Some(hash)) = (self.old, self.recorded(&path)) {
                // A migration that may have run is never rewritten: sqlx checksums it.
                out.frozen.insert(path, hash);
                continue;
            }
            let previous = self.old.map(|_| Previous {
                recorded_hash: self.recorded(&path),
                old_rendering: None,
                insertions: Vec::new(),
                labels: self.labels(),
            });
            out.files.push(PlannedFile {
                path,
                contents: m.contents,
                policy: Policy::Generated {
                    template: m.template,
                    previous,
                    replaces_hello_world: false,
                },
            });
        }
        Ok(out)
    }

    /// The library root's module declaration, the dependencies in `Cargo.toml`, a fresh `.env`
    /// and `.gitignore`.
    fn user_edits(&self) -> Result<UserEdits> {
        let (project, db) = (self.project, self.opts.selection.db);
        let mut files = Vec::new();
        // The module goes into the library target.
        let lib = project.read(&project.lib_path)?;
        files.push(PlannedFile {
            path: project.lib_path.clone(),
            contents: edits::declare_module(lib.as_deref(), &self.names.module, &project.package),
            policy: Policy::Edit,
        });

        let cargo_toml = project.read("Cargo.toml")?.unwrap_or_default();
        let requests = deps::requests(self.manifest, &self.opts.selection);
        let outcome = deps::apply(&cargo_toml, &requests)?;
        // In a workspace member cargo ignores the package's profiles, so none are added there.
        let cargo_toml = if project.is_workspace_member() {
            outcome.text
        } else {
            deps::optimize_in_dev(&outcome.text, &self.manifest.optimize_in_dev)?
        };
        files.push(PlannedFile {
            path: "Cargo.toml".to_string(),
            contents: cargo_toml,
            policy: Policy::Edit,
        });

        if project.read(".env")?.is_none() {
            let secret = match &self.opts.secret {
                Some(s) => s.clone(),
                None => edits::random_secret()?,
            };
            files.push(PlannedFile {
                path: ".env".to_string(),
                contents: edits::dotenv(db, &project.package, &secret),
                policy: Policy::CreateOnly,
            });
        }
        let gitignore = project.read(".gitignore")?;
        files.push(PlannedFile {
            path: ".gitignore".to_string(),
            contents: edits::gitignore(gitignore.as_deref(), db),
            policy: Policy::Edit,
        });
        Ok(UserEdits {
            files,
            requests,
            deps_added: outcome.added,
            deps_updated: outcome.updated,
        })
    }

    /// The record: the choices, the migrations' timestamps, the hash of every generated file
    /// (and of every frozen migration), and what was asked for in `Cargo.toml`.
    fn record(
        &self,
        files: &[PlannedFile],
        stamps: BTreeMap<String, String>,
        frozen: BTreeMap<String, String>,
        requests: &[deps::DepRequest],
    ) -> Record {
        let selection = &self.opts.selection;
        let mut hashes = frozen;
        for f in files {
            if matches!(f.policy, Policy::Generated { .. }) {
                hashes.insert(f.path.clone(), record::hash(&f.contents));
            }
        }
        // Released versions before 0.2.0 did not record what they wrote into Cargo.toml.
        let cargo = if self.opts.tool_version == crate::VERSION {
            deps::cargo_base(requests)
        } else {
            Default::default()
        };
        Record {
            tool_version: self.opts.tool_version.clone(),
            backend: selection.backend.as_str().to_string(),
            database: selection.db.as_str().to_string(),
            module_dir: self.opts.module.dir(),
            app_mode: selection.app_mode,
            handlers: selection.handlers.clone(),
            migrations: stamps,
            files: hashes,
            cargo,
        }
    }
}

/// The marker insertions `add-handler` applies to an edited file with markers (see the
/// manifest's `markers`): above each, the wiring lines that the new rendering has and the old one
/// has not. None when the file changes in more than its wiring lines (say a state field with its
/// module): inserting only those would leave the file half changed, so it is written beside.
fn insertions(
    manifest: &Manifest,
    template: &str,
    (old, old_text): (&Wiring, &str),
    (new, new_text): (&Wiring, &str),
) -> Vec<Insertion> {
    let Some(markers) = manifest.markers_of(template) else {
        return Vec::new();
    };
    let lines_of = |wiring: &Wiring| -> [Vec<String>; 2] {
        let modules = wiring.modules.get(template).cloned().unwrap_or_default();
        let routes = match markers.routes {
            Some(_) => wiring.routes.clone(),
            None => Vec::new(),
        };
        [modules, routes]
    };
    let (old_lines, new_lines) = (lines_of(old), lines_of(new));
    let without = |text: &str, wiring: &[Vec<String>; 2]| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|line| !wiring.iter().flatten().any(|w| w.trim() == *line))
            .map(str::to_string)
            .collect()
    };
    if without(old_text, &old_lines) != without(new_text, &new_lines) {
        return Vec::new();
    }
    [&markers.modules, &markers.routes]
        .into_iter()
        .zip(old_lines.iter().zip(&new_lines))
        .filter_map(|(marker, (old, new))| {
            let marker = marker.as_ref()?;
            let lines: Vec<String> = new.iter().filter(|l| !old.contains(l)).cloned().collect();
            (!lines.is_empty()).then(|| Insertion {
                marker: marker.clone(),
                lines,
            })
        })
        .collect()
}

/// The timestamp for the first new migration: now, or later than every migration on disk and
/// in the record.
fn next_timestamp(project: &Project, opts: &PlanOptions) -> Result<Timestamp> {
    let recorded = opts.previous.iter().flat_map(|r| r.migrations.values());
    next_migration_timestamp(&project.path("migrations"), recorded, opts.now)
}

/// The migration file (path and timestamp) that a run interrupted before it wrote the record
/// (`upgrade`, `add-handler`, `init`: the record is written last) already created for migration
/// `name`: named `<timestamp>_<name>.sql`, later than every `recorded` migration, with exactly
/// `contents`. Adopted rather than written a second time under a new timestamp (sqlx would run
/// the same change twice).
pub fn written_by_an_interrupted_run<'a>(
    project: &Project,
    recorded: impl IntoIterator<Item = &'a String>,
    name: &str,
    contents: &str,
) -> Result<Option<(String, String)>> {
    let dir = project.root.join("migrations");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    let latest_recorded = recorded
        .into_iter()
        .filter_map(|s| Timestamp::parse(s))
        .max();
    let suffix = format!("_{name}.sql");
    let mut candidates: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|file| {
            file.strip_suffix(&suffix)
                .and_then(Timestamp::parse)
                .is_some_and(|t| latest_recorded.is_none_or(|latest| t > latest))
        })
        .collect();
    candidates.sort();
    for file in candidates {
        let path = format!("migrations/{file}");
        if read_optional(&inside(&project.root, &path)?)?.as_deref() == Some(contents) {
            let stamp = file[..file.len() - suffix.len()].to_string();
            return Ok(Some((path, stamp)));
        }
    }
    Ok(None)
}

/// A migration timestamp later than `now` (default: the clock), than every `recorded` one and
/// than every file in the migrations folder `dir` (which may not exist yet).
pub fn next_migration_timestamp<'a>(
    dir: &std::path::Path,
    recorded: impl IntoIterator<Item = &'a String>,
    now: Option<Timestamp>,
) -> Result<Timestamp> {
    let mut next = now.unwrap_or_else(Timestamp::now);
    let mut bump = |stamp: &str| {
        if let Some(t) = Timestamp::parse(stamp)
            && t >= next
        {
            next = t.next();
        }
    };
    recorded.into_iter().for_each(|s| bump(s));
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
                bump(&digits);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(dir, e)),
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::choices::{Backend, Database, HandlerSelection, resolve};

    const HELLO: &str = "fn main() {\n    println!(\"Hello, world!\");\n}\n";

    fn package(main: Option<&str>) -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
        )
        .unwrap();
        if let Some(main) = main {
            std::fs::create_dir_all(dir.path().join("src")).unwrap();
            std::fs::write(dir.path().join("src/main.rs"), main).unwrap();
        }
        let project = Project::locate(None, dir.path()).unwrap();
        (dir, project)
    }

    fn options(handlers: &[&str], module: &str, app_mode: bool) -> PlanOptions {
        let m = Manifest::embedded().unwrap();
        let sel = HandlerSelection::Named(handlers.iter().map(|s| s.to_string()).collect());
        PlanOptions {
            selection: Selection {
                backend: Backend::Session,
                db: Database::Sqlite,
                handlers: resolve(&m, &sel, &[]).unwrap().handlers,
                app_mode,
            },
            module: ModuleDir::parse(module).unwrap(),
            mode: Mode::Init,
            previous: None,
            now: Timestamp::parse("20250102030405"),
            secret: Some("s".into()),
            tool_version: crate::VERSION.to_string(),
        }
    }

    fn build_plan(project: &Project, opts: &PlanOptions) -> Plan {
        build(
            project,
            &Manifest::embedded().unwrap(),
            &Renderer::new().unwrap(),
            opts,
        )
        .unwrap()
    }

    #[test]
    fn the_plan_holds_the_module_migration_and_edits() {
        let (_dir, project) = package(Some(HELLO));
        let plan = build_plan(&project, &options(&["auth", "register"], "src/users", true));
        let paths: Vec<&str> = plan.files.iter().map(|f| f.path.as_str()).collect();
        for expected in [
            "src/users/mod.rs",
            "src/users/handlers/mod.rs",
            "src/users/handlers/auth.rs",
            "src/users/handlers/register.rs",
            "tests/users/main.rs",
            "tests/users/auth.rs",
            ".env.example",
            "src/main.rs",
            "migrations/20250102030405_users.sql",
            "src/lib.rs",
            "Cargo.toml",
            ".env",
            ".gitignore",
            "cargo-users.toml",
        ] {
            assert!(
                paths.contains(&expected),
                "{expected} missing from {paths:?}"
            );
        }
        for absent in ["src/users/handlers/verify.rs", "tests/users/verify.rs"] {
            assert!(!paths.contains(&absent), "{absent} should not be planned");
        }
        for path in &paths {
            assert!(
                path.starts_with("src/")
                    || path.starts_with("tests/")
                    || path.starts_with("migrations/")
                    || !path.contains('/'),
                "unexpected location {path}"
            );
        }
    }

    #[test]
    fn the_record_hashes_generated_files_but_not_edits() {
        let (_dir, project) = package(Some(HELLO));
        let plan = build_plan(&project, &options(&["auth"], "src/users", true));
        let files = &plan.record.files;
        assert_eq!(
            files.get("src/users/mod.rs"),
            Some(&record::hash(
                &plan.get("src/users/mod.rs").unwrap().contents
            ))
        );
        assert!(files.contains_key("migrations/20250102030405_users.sql"));
        for edit in [
            ".env",
            "Cargo.toml",
            "src/lib.rs",
            ".gitignore",
            RECORD_FILE,
        ] {
            assert!(!files.contains_key(edit), "{edit} must not be hashed");
        }
        assert_eq!(plan.record.migrations["users"], "20250102030405");
    }

    #[test]
    fn without_app_mode_main_is_not_planned() {
        let (_dir, project) = package(Some("fn main() {}\n"));
        let plan = build_plan(&project, &options(&["auth"], "src/users", false));
        assert!(plan.get("src/main.rs").is_none());
        assert!(plan.get("src/users/cli.rs").is_none());
    }

    #[test]
    fn the_module_option_moves_the_module_files() {
        let (_dir, project) = package(None);
        let plan = build_plan(&project, &options(&["auth"], "src/accounts", false));
        assert!(plan.get("src/accounts/mod.rs").is_some());
        assert!(plan.files.iter().all(|f| !f.path.starts_with("src/users/")));
        assert!(
            plan.get("src/lib.rs")
                .unwrap()
                .contents
                .contains("pub mod accounts;")
        );
        assert_eq!(plan.record.module_dir, "src/accounts");
    }

    #[test]
    fn a_new_migration_is_stamped_after_every_existing_one() {
        let (dir, project) = package(None);
        std::fs::create_dir_all(dir.path().join("migrations")).unwrap();
        std::fs::write(dir.path().join("migrations/20300101000000_mine.sql"), "").unwrap();
        let plan = build_plan(&project, &options(&["auth"], "src/users", false));
        assert!(plan.get("migrations/20300101000001_users.sql").is_some());
    }

    #[test]
    fn a_recorded_migration_keeps_its_timestamp() {
        let (_dir, project) = package(None);
        let first = build_plan(&project, &options(&["auth"], "src/users", false));
        let mut opts = options(&["auth"], "src/users", false);
        opts.previous = Some(first.record.clone());
        opts.now = Timestamp::parse("20990101000000");
        let second = build_plan(&project, &opts);
        assert!(second.get("migrations/20250102030405_users.sql").is_some());
    }

    /// What `add-handler` plans to insert per file when the `auth` package that `first` planned
    /// gets `handlers`.
    fn planned_insertions(
        project: &Project,
        first: &Plan,
        handlers: &[&str],
    ) -> impl Fn(&str) -> Vec<Insertion> {
        let mut opts = options(handlers, "src/users", false);
        opts.mode = Mode::AddHandler {
            previous: vec!["auth".into()],
        };
        opts.previous = Some(first.record.clone());
        let plan = build_plan(project, &opts);
        move |path: &str| match &plan.get(path).unwrap().policy {
            Policy::Generated {
                previous: Some(previous),
                ..
            } => previous.insertions.clone(),
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn add_handler_inserts_the_module_lines_and_router_line_of_what_it_brings() {
        let (_dir, project) = package(None);
        let first = build_plan(&project, &options(&["auth"], "src/users", false));
        let insertions = planned_insertions(
            &project,
            &first,
            &["auth", "role-management", "user-management"],
        );
        let manifest = Manifest::embedded().unwrap();
        // `pub mod roles;` is there already: without role-management it declares the stand-in.
        assert_eq!(
            insertions("src/users/mod.rs"),
            [
                Insertion {
                    marker: "// cargo-users: modules".into(),
                    lines: vec!["pub mod user_admin;".into()],
                },
                Insertion {
                    marker: "// cargo-users: routes".into(),
                    lines: vec![
                        manifest.handler["role-management"].router.clone(),
                        manifest.handler["user-management"].router.clone()
                    ],
                },
            ]
        );
        assert_eq!(
            insertions("src/users/handlers/mod.rs")[0].lines,
            ["pub mod role_management;", "pub mod user_management;"]
        );
        // A file without markers gets none.
        assert!(insertions("src/users/config.rs").is_empty());

        // OAuth2 also adds a state field to `mod.rs`: more than wiring, so no insertion (the new
        // version goes beside an edited file), while `handlers/mod.rs` still gets its line.
        let insertions = planned_insertions(&project, &first, &["auth", "oauth2"]);
        assert!(insertions("src/users/mod.rs").is_empty());
        assert_eq!(
            insertions("src/users/handlers/mod.rs")[0].lines,
            ["pub mod oauth2;"]
        );
    }

    #[test]
    fn add_handler_marks_marker_files_and_freezes_written_migrations() {
        let (_dir, project) = package(None);
        let first = build_plan(&project, &options(&["auth"], "src/users", false));
        let mut opts = options(&["auth", "register"], "src/users", false);
        opts.mode = Mode::AddHandler {
            previous: vec!["auth".into()],
        };
        opts.previous = Some(first.record.clone());
        let plan = build_plan(&project, &opts);
        let Policy::Generated { previous, .. } = &plan.get("src/users/mod.rs").unwrap().policy
        else {
            panic!("mod.rs is generated")
        };
        let prev = previous.as_ref().unwrap();
        // A handler without a module of its own: only its router line.
        let manifest = Manifest::embedded().unwrap();
        assert_eq!(
            prev.insertions,
            [Insertion {
                marker: "// cargo-users: routes".into(),
                lines: vec![manifest.handler["register"].router.clone()],
            }]
        );
        assert!(prev.old_rendering.is_some() && prev.recorded_hash.is_some());
        let Policy::Generated { previous, .. } =
            &plan.get("src/users/handlers/mod.rs").unwrap().policy
        else {
            panic!("handlers/mod.rs is generated")
        };
        assert_eq!(
            previous.as_ref().unwrap().insertions,
            [Insertion {
                marker: "// cargo-users: handlers".into(),
                lines: vec!["pub mod register;".into()],
            }]
        );
        // The written migration is not re-rendered but stays recorded.
        assert!(plan.get("migrations/20250102030405_users.sql").is_none());
        assert!(
            plan.record
                .files
                .contains_key("migrations/20250102030405_users.sql")
        );
    }
}
