//! The release store against the golden hashes: every combination of choices that a released
//! version could generate (backend x database x handler set closed under `requires` x app mode),
//! re-rendered from `releases/` with the current renderer, must hash exactly as that version's
//! own binary recorded it (`tests/golden/<version>.txt`, written by `scripts/golden-hashes.sh`).
//! And the migrations a version released are frozen: later templates never change them.

use std::collections::BTreeSet;

use cargo_users::choices::{Backend, Database};
use cargo_users::generate::{Generator, Names, Selection};
use cargo_users::manifest::Manifest;
use cargo_users::record::hash;
use cargo_users::render::Renderer;
use cargo_users::store::TemplateSet;

/// One golden line: the choices and the digest of the record's `[files]`.
struct Golden {
    key: String,
    names: Names,
    selection: Selection,
    files: usize,
    digest: String,
}

/// The names and choices of `<backend> <db> <app|lib> <module> <handlers>`.
fn choices(key: &str) -> (Names, Selection) {
    let f: Vec<&str> = key.split(' ').collect();
    assert_eq!(f.len(), 5, "{key}");
    let names = Names {
        package: "demo".into(),
        crate_name: "demo".into(),
        module: f[3].into(),
    };
    let selection = Selection {
        backend: Backend::parse(f[0]).unwrap(),
        db: Database::parse(f[1]).unwrap(),
        handlers: f[4].split(',').map(str::to_string).collect(),
        app_mode: f[2] == "app",
    };
    (names, selection)
}

fn golden(version: &str) -> Vec<Golden> {
    let path = format!("{}/tests/golden/{version}.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 7, "{line}");
            let key = f[..5].join(" ");
            let (names, selection) = choices(&key);
            Golden {
                key,
                names,
                selection,
                files: f[5].parse().unwrap(),
                digest: f[6].to_string(),
            }
        })
        .collect()
}

/// The sorted `path=hash` lines a record's `[files]` holds for these choices (migrations as
/// `migrations/<name>.sql`: their timestamps are the time of the run).
fn record_lines(
    manifest: &Manifest,
    renderer: &Renderer,
    version: &str,
    names: &Names,
    sel: &Selection,
) -> Vec<String> {
    let generator = Generator {
        manifest,
        renderer,
        tool_version: version,
    };
    let mut lines: Vec<String> = generator
        .files(names, sel)
        .unwrap()
        .into_iter()
        .map(|f| format!("{}={}", f.path, hash(&f.contents)))
        .chain(
            generator
                .migrations(names, sel)
                .unwrap()
                .into_iter()
                .map(|m| format!("migrations/{}.sql={}", m.name, hash(&m.contents))),
        )
        .collect();
    lines.sort();
    lines
}

/// Every handler set closed under `requires`, as `init` resolves requests.
fn closed_sets(manifest: &Manifest) -> BTreeSet<String> {
    let names = manifest.handler_names();
    let mut sets = BTreeSet::new();
    for mask in 1u32..(1 << names.len()) {
        let chosen: Vec<&String> = (0..names.len())
            .filter(|i| mask >> i & 1 == 1)
            .map(|i| &names[i])
            .collect();
        let closed = chosen.iter().all(|h| {
            manifest.handler[*h]
                .requires
                .iter()
                .all(|r| chosen.contains(&r))
        });
        if closed {
            sets.insert(
                chosen
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
    }
    sets
}

#[test]
fn every_released_version_re_renders_to_its_golden_hashes() {
    let versions = TemplateSet::released_versions();
    assert!(versions.contains(&"0.1.0".to_string()));
    for version in versions {
        let set = TemplateSet::release(&version).unwrap().unwrap();
        let manifest = set.manifest().unwrap();
        let renderer = set.renderer().unwrap();
        let golden = golden(&version);

        // Every combination is there.
        let sets = closed_sets(&manifest);
        let keys: BTreeSet<&str> = golden.iter().map(|g| g.key.as_str()).collect();
        for b in Backend::ALL {
            for d in Database::ALL {
                for app in ["app", "lib"] {
                    for s in &sets {
                        let key = format!("{b} {d} {app} users {s}");
                        assert!(
                            keys.contains(key.as_str()),
                            "{version}: no golden line {key}"
                        );
                    }
                }
            }
        }

        // Rendered on every core: about two thousand combinations.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let chunk = golden.len().div_ceil(threads);
        let mismatches: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = golden
                .chunks(chunk)
                .map(|part| {
                    let (manifest, renderer, version) = (&manifest, &renderer, &version);
                    scope.spawn(move || {
                        let mut bad = Vec::new();
                        for g in part {
                            let lines =
                                record_lines(manifest, renderer, version, &g.names, &g.selection);
                            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
                            if lines.len() != g.files || hash(&text) != g.digest {
                                bad.push(format!("{version} {}", g.key));
                            }
                        }
                        bad
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        assert!(
            mismatches.is_empty(),
            "{} combination(s) do not re-render as recorded, e.g. {:?}",
            mismatches.len(),
            &mismatches[..mismatches.len().min(5)]
        );

        // The full lists name which file differs when a digest does not match.
        let path = format!(
            "{}/tests/golden/{version}-full.txt",
            env!("CARGO_MANIFEST_DIR")
        );
        let full = std::fs::read_to_string(&path).unwrap();
        let mut expected: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
        for line in full.lines().filter(|l| !l.starts_with('#')) {
            let (key, entry) = line.rsplit_once(' ').unwrap();
            expected.entry(key.to_string()).or_default().push(entry);
        }
        assert!(
            expected.len() >= 3,
            "{version}: full lists of {}",
            expected.len()
        );
        for (key, entries) in expected {
            let (names, selection) = choices(&key);
            let lines = record_lines(&manifest, &renderer, &version, &names, &selection);
            assert_eq!(lines, entries, "{version} {key}");
        }
    }
}

#[test]
fn released_migrations_are_never_changed_by_later_templates() {
    // A migration that may have run is checksummed by sqlx: every migration template a version
    // released must be byte-identical in every later version that still has it.
    let current = TemplateSet::current().unwrap();
    let current_manifest = current.manifest().unwrap();
    for version in TemplateSet::released_versions() {
        let set = TemplateSet::release(&version).unwrap().unwrap();
        for m in set.manifest().unwrap().migration {
            let now = current_manifest
                .migration
                .iter()
                .find(|c| c.name == m.name)
                .unwrap_or_else(|| panic!("migration {} of {version} is gone", m.name));
            assert_eq!(
                current.template(&now.template),
                set.template(&m.template),
                "migration {} changed since {version}: add a new migration instead",
                m.name
            );
        }
    }
}

/// An edited copy of every file that changed since a released version (the developer added a
/// line where that version and this one agree) merges cleanly with what this version generates:
/// the edit stays and every change of this version arrives. Prints the list of changed files
/// with the merge result (`--no-capture`), for the release notes.
#[test]
fn every_file_changed_since_a_release_merges_with_an_edit_elsewhere() {
    use cargo_users::merge::{Decision, Labels, decide};
    use similar::{DiffTag, TextDiff};

    const EDIT: &str = "// A line the developer added.\n";
    let current = TemplateSet::current().unwrap();
    let (manifest, renderer) = (current.manifest().unwrap(), current.renderer().unwrap());
    for version in TemplateSet::released_versions() {
        let set = TemplateSet::release(&version).unwrap().unwrap();
        let (old_manifest, old_renderer) = (set.manifest().unwrap(), set.renderer().unwrap());
        let mut report = std::collections::BTreeMap::new();
        for b in Backend::ALL {
            for d in Database::ALL {
                let names = Names {
                    package: "demo".into(),
                    crate_name: "demo".into(),
                    module: "users".into(),
                };
                let sel = Selection {
                    backend: b,
                    db: d,
                    handlers: old_manifest.handler_names(),
                    app_mode: true,
                };
                let old = Generator {
                    manifest: &old_manifest,
                    renderer: &old_renderer,
                    tool_version: &version,
                }
                .files(&names, &sel)
                .unwrap();
                let new = Generator {
                    manifest: &manifest,
                    renderer: &renderer,
                    tool_version: cargo_users::VERSION,
                }
                .files(&names, &sel)
                .unwrap();
                for o in &old {
                    let Some(n) = new.iter().find(|n| n.path == o.path) else {
                        report.insert(o.path.clone(), "no longer generated".to_string());
                        continue;
                    };
                    if n.contents == o.contents {
                        continue;
                    }
                    // Old lines at least three lines away from any change of this version.
                    let lines: Vec<&str> = o.contents.split_inclusive('\n').collect();
                    let mut near = vec![false; lines.len() + 1];
                    for op in TextDiff::from_lines(&o.contents, &n.contents).ops() {
                        if op.tag() == DiffTag::Equal {
                            continue;
                        }
                        let r = op.old_range();
                        let (from, to) = (r.start.saturating_sub(3), r.end + 3);
                        for flag in near.iter_mut().take(to).skip(from) {
                            *flag = true;
                        }
                    }
                    let safe: Vec<usize> = (1..lines.len()).filter(|i| !near[*i]).collect();
                    let Some(&at) = safe.get(safe.len() / 2) else {
                        report
                            .entry(o.path.clone())
                            .or_insert_with(|| "changed throughout (no line to edit)".into());
                        continue;
                    };
                    let ours = format!("{}{EDIT}{}", lines[..at].concat(), lines[at..].concat());
                    let labels = Labels {
                        base: format!("cargo-users {version}"),
                        theirs: format!("cargo-users {}", cargo_users::VERSION),
                    };
                    let recorded = hash(&o.contents);
                    match decide(
                        Some(&ours),
                        Some(&recorded),
                        Some(&o.contents),
                        &n.contents,
                        &labels,
                    ) {
                        Decision::Merged(merged) => {
                            assert_eq!(
                                merged.replacen(EDIT, "", 1),
                                n.contents,
                                "{version} {b} {d} {}: the merge lost a change",
                                o.path
                            );
                            assert!(merged.contains(EDIT));
                            report.insert(o.path.clone(), "merged".to_string());
                        }
                        other => panic!("{version} {b} {d} {}: {other:?}", o.path),
                    }
                }
            }
        }
        eprintln!("files changed since {version}, with an edited copy of each:");
        for (path, result) in &report {
            eprintln!("  {path}: {result}");
        }
    }
}
