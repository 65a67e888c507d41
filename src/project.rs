//! The user's Cargo package: where it is, its name, its library target and whether its
//! `main.rs` is still the `cargo new` hello world.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The `src/main.rs` that `cargo new` writes.
pub const HELLO_WORLD: &str = "fn main() {\n    println!(\"Hello, world!\");\n}\n";

/// The package the tool works on.
#[derive(Debug, Clone)]
pub struct Project {
    /// Folder holding `Cargo.toml`.
    pub root: PathBuf,
    /// Path of `Cargo.toml`.
    pub manifest_path: PathBuf,
    /// The package name.
    pub package: String,
    /// The library crate's Rust identifier.
    pub crate_name: String,
    /// The library root, relative to `root` (`src/lib.rs` unless `[lib] path` says otherwise).
    pub lib_path: String,
}

impl Project {
    /// Whether a `Cargo.toml` with a `[workspace]` table sits in a parent folder: then cargo reads
    /// profiles from that workspace root only, and ignores (with a warning) the package's own.
    pub fn is_workspace_member(&self) -> bool {
        self.root.ancestors().skip(1).any(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .ok()
                .and_then(|text| text.parse::<toml::Table>().ok())
                .is_some_and(|table| table.contains_key("workspace"))
        })
    }

    /// Finds the package: `manifest_path` when given, else the nearest `Cargo.toml` from `cwd`
    /// upward.
    pub fn locate(manifest_path: Option<&Path>, cwd: &Path) -> Result<Self> {
        let manifest_path = match manifest_path {
            Some(p) => {
                let p = if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    cwd.join(p)
                };
                if p.is_dir() {
                    p.join("Cargo.toml")
                } else {
                    p
                }
            }
            None => find_manifest(cwd).ok_or_else(|| {
                Error::failure(format!(
                    "could not find Cargo.toml in {} or any parent folder; run this inside a \
                     Cargo package, pass --manifest-path, or create one with `cargo users new <name>`",
                    cwd.display()
                ))
            })?,
        };
        let text = read_optional(&manifest_path)?.ok_or_else(|| {
            Error::failure(format!(
                "{} does not exist: not a Cargo package",
                manifest_path.display()
            ))
        })?;
        let root = manifest_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::from_manifest_text(&text, root, manifest_path)
    }

    fn from_manifest_text(text: &str, root: PathBuf, manifest_path: PathBuf) -> Result<Self> {
        let manifest = cargo_toml::Manifest::from_slice(text.as_bytes()).map_err(|e| {
            Error::failure(format!("{} is not valid: {e}", manifest_path.display()))
        })?;
        let Some(package) = manifest.package.as_ref() else {
            return Err(if manifest.workspace.is_some() {
                Error::failure(format!(
                    "{} is a workspace root without a [package]; run this inside a member \
                     package or pass --manifest-path <member>/Cargo.toml",
                    manifest_path.display()
                ))
            } else {
                Error::failure(format!(
                    "{} has no [package] section: not a Cargo package",
                    manifest_path.display()
                ))
            });
        };
        let name = package.name.clone();
        let lib = manifest.lib.as_ref();
        let crate_name = lib
            .and_then(|l| l.name.clone())
            .unwrap_or_else(|| name.replace('-', "_"));
        let lib_path = lib
            .and_then(|l| l.path.clone())
            .unwrap_or_else(|| "src/lib.rs".to_string())
            .replace('\\', "/");
        Ok(Project {
            root,
            manifest_path,
            package: name,
            crate_name,
            lib_path,
        })
    }

    /// Absolute path of a file given relative to the package root.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Reads a file relative to the package root; `None` when it does not exist.
    pub fn read(&self, relative: &str) -> Result<Option<String>> {
        read_optional(&self.path(relative))
    }

    /// Whether `src/main.rs` is still the hello world of `cargo new`.
    pub fn main_is_hello_world(&self) -> Result<bool> {
        Ok(self
            .read("src/main.rs")?
            .is_some_and(|text| is_hello_world(&text)))
    }
}

/// Why `path` is not a plain relative path inside a package (`None` when it is one): no
/// absolute paths, no `..` or `.` segments, no backslashes, nothing empty.
pub fn check_relative(path: &str) -> std::result::Result<(), String> {
    if path.is_empty() {
        return Err("an empty path".into());
    }
    if path.contains('\\') || path.contains('\0') || path.contains(':') {
        return Err("a path with `\\`, `:` or NUL".into());
    }
    if path.starts_with('/') {
        return Err("an absolute path".into());
    }
    if path
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return Err("a path with an empty, `.` or `..` segment".into());
    }
    Ok(())
}

/// The absolute path of `relative` under `root`, refused when `relative` is not a plain relative
/// path or when a symbolic link on the way leads out of `root` (nothing is read or written
/// through such a link).
pub fn inside(root: &Path, relative: &str) -> Result<PathBuf> {
    check_relative(relative)
        .map_err(|why| Error::failure(format!("refusing `{relative}`: {why}")))?;
    let root_real = root.canonicalize().map_err(|e| Error::io(root, e))?;
    let path = root.join(relative);
    // The deepest part of the path that exists, resolved through every link.
    let mut probe = path.clone();
    loop {
        match probe.canonicalize() {
            Ok(real) => {
                if !real.starts_with(&root_real) {
                    return Err(Error::failure(format!(
                        "refusing `{relative}`: {} leads out of the package through a symbolic link",
                        probe.display()
                    )));
                }
                break;
            }
            Err(_) => {
                // A dangling link is refused too: where it would be written is not in the tree.
                if probe.symlink_metadata().is_ok() {
                    return Err(Error::failure(format!(
                        "refusing `{relative}`: {} is a dangling symbolic link",
                        probe.display()
                    )));
                }
                if !probe.pop() {
                    break;
                }
            }
        }
    }
    Ok(path)
}

/// The largest file the tool reads (a generated file is a few dozen KiB). A bigger one is an
/// error rather than minutes of merging or a memory spike.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads a file; `None` when it does not exist. Only a regular file (through links) of at most
/// [`MAX_FILE_BYTES`] is read: a FIFO, a device or a folder where a file is expected is a clear
/// error, never a hang.
pub fn read_optional(path: &Path) -> Result<Option<String>> {
    use std::io::Read;
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    if !meta.is_file() {
        return Err(Error::failure(format!(
            "{} is not a regular file; cargo-users reads and writes only plain files there",
            path.display()
        )));
    }
    let too_big = || {
        Error::failure(format!(
            "{} is larger than {} MiB, more than cargo-users reads (its generated files are a \
             few KiB); refusing to merge or rewrite it",
            path.display(),
            MAX_FILE_BYTES >> 20
        ))
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    // Bounded even if the file grows between the look and the read.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map(Some).map_err(|_| {
        Error::failure(format!(
            "{} is not UTF-8 text; cargo-users only merges text files",
            path.display()
        ))
    })
}

fn find_manifest(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join("Cargo.toml"))
        .find(|p| p.is_file())
}

/// Whether `text` is the `cargo new` hello world, ignoring trailing whitespace.
pub fn is_hello_world(text: &str) -> bool {
    fn normalize(s: &str) -> Vec<&str> {
        let mut lines: Vec<&str> = s.lines().map(str::trim_end).collect();
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        lines
    }
    normalize(text) == normalize(HELLO_WORLD)
}

/// The module folder chosen with `--module`: a direct child of `src/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleDir {
    /// The module's name, e.g. `users`.
    pub name: String,
}

impl ModuleDir {
    /// The default, `src/users`.
    pub fn default_dir() -> Self {
        ModuleDir {
            name: "users".to_string(),
        }
    }

    /// Parses `--module`: `src/<name>` where `<name>` is a Rust identifier.
    pub fn parse(arg: &str) -> Result<Self> {
        let bad = || {
            Error::usage(format!(
                "--module must be a folder directly under src/ named like a Rust module \
                 (e.g. src/users), not `{arg}`"
            ))
        };
        let parts: Vec<String> = Path::new(arg)
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .map(|c| match c {
                Component::Normal(s) => s.to_str().map(str::to_string).ok_or_else(bad),
                _ => Err(bad()),
            })
            .collect::<Result<_>>()?;
        match parts.as_slice() {
            [src, name] if src == "src" && is_identifier(name) => {
                Ok(ModuleDir { name: name.clone() })
            }
            _ => Err(bad()),
        }
    }

    /// The folder relative to the package root, e.g. `src/users`.
    pub fn dir(&self) -> String {
        format!("src/{}", self.name)
    }
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while", "lib", "main", "bin", "abstract", "become", "box", "do", "final",
    "macro", "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name != "_"
        && !KEYWORDS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_world_tolerates_trailing_whitespace() {
        assert!(is_hello_world(HELLO_WORLD));
        assert!(is_hello_world(
            "fn main() {  \r\n    println!(\"Hello, world!\");\r\n}\n\n"
        ));
        assert!(!is_hello_world("fn main() {\n    println!(\"Hi\");\n}\n"));
        assert!(!is_hello_world(""));
    }

    #[test]
    fn relative_paths_must_stay_in_the_package() {
        for good in ["src/users/mod.rs", ".env.example", "migrations/1_users.sql"] {
            check_relative(good).unwrap();
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "src/../../x",
            "src/./x",
            "src//x",
            "a\\b",
            "C:x",
        ] {
            assert!(check_relative(bad).is_err(), "{bad}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_out_of_the_package_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let pkg = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(pkg.path().join("src")).unwrap();
        std::os::unix::fs::symlink(outside.path(), pkg.path().join("src/users")).unwrap();
        let err = inside(pkg.path(), "src/users/mod.rs").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        std::os::unix::fs::symlink(outside.path().join("gone"), pkg.path().join("src/x.rs"))
            .unwrap();
        assert!(inside(pkg.path(), "src/x.rs").is_err());
        std::os::unix::fs::symlink(pkg.path().join("src"), pkg.path().join("alias")).unwrap();
        inside(pkg.path(), "alias/new.rs").unwrap();
        inside(pkg.path(), "src/new/deeper.rs").unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn only_plain_files_of_a_sane_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        assert_eq!(read_optional(&path("absent")).unwrap(), None);
        std::fs::write(path("ok"), "text\n").unwrap();
        assert_eq!(
            read_optional(&path("ok")).unwrap().as_deref(),
            Some("text\n")
        );
        // A FIFO would block the read for ever: refused before it is opened.
        let status = std::process::Command::new("mkfifo")
            .arg(path("fifo"))
            .status()
            .unwrap();
        assert!(status.success());
        let err = read_optional(&path("fifo")).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        std::fs::create_dir(path("dir")).unwrap();
        let err = read_optional(&path("dir")).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        let big = std::fs::File::create(path("big")).unwrap();
        big.set_len(MAX_FILE_BYTES + 1).unwrap();
        let err = read_optional(&path("big")).unwrap_err().to_string();
        assert!(err.contains("larger than 1 MiB"), "{err}");
        std::fs::write(path("latin1"), b"caf\xe9\n").unwrap();
        let err = read_optional(&path("latin1")).unwrap_err().to_string();
        assert!(err.contains("not UTF-8"), "{err}");
    }

    #[test]
    fn module_must_be_a_direct_child_of_src() {
        assert_eq!(ModuleDir::parse("src/users").unwrap().name, "users");
        assert_eq!(
            ModuleDir::parse("./src/accounts/").unwrap().name,
            "accounts"
        );
        for bad in [
            "users",
            "src",
            "src/a/b",
            "lib/users",
            "/src/users",
            "src/Users",
            "src/my-users",
            "src/mod",
            "../src/users",
        ] {
            let err = ModuleDir::parse(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn a_workspace_root_without_package_is_refused() {
        let err = Project::from_manifest_text(
            "[workspace]\nmembers = [\"a\"]\n",
            PathBuf::from("/x"),
            PathBuf::from("/x/Cargo.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("workspace root"), "{err}");
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn crate_name_comes_from_lib_name_or_package_name() {
        let p = Project::from_manifest_text(
            "[package]\nname = \"my-app\"\nversion = \"0.1.0\"\n",
            PathBuf::from("/x"),
            PathBuf::from("/x/Cargo.toml"),
        )
        .unwrap();
        assert_eq!(p.crate_name, "my_app");
        assert_eq!(p.lib_path, "src/lib.rs");
        let p = Project::from_manifest_text(
            "[package]\nname = \"my-app\"\nversion = \"0.1.0\"\n[lib]\nname = \"core_lib\"\npath = \"src/core.rs\"\n",
            PathBuf::from("/x"),
            PathBuf::from("/x/Cargo.toml"),
        )
        .unwrap();
        assert_eq!(p.crate_name, "core_lib");
        assert_eq!(p.lib_path, "src/core.rs");
    }
}
