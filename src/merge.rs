//! The one merge engine of `add-handler` and `upgrade`: for a generated file, base = what the
//! recorded choices and version generated (used only when its hash is the recorded one), ours =
//! the file now, theirs = what is generated now. Unchanged on one side: take the other. Both
//! changed: a 3-way line merge (diffy); lines changed on both sides get diff3-style conflict
//! markers labelled with the developer's side and the two versions.

use crate::record;

/// How the two generated sides are named in conflict markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    /// The base, e.g. `cargo-users 0.1.0`.
    pub base: String,
    /// What is generated now, e.g. `cargo-users 0.2.0`.
    pub theirs: String,
}

/// The label of the developer's side in conflict markers.
pub const OURS_LABEL: &str = "yours";

/// What happens to one generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not on disk and never generated before: created.
    Create,
    /// Already what is generated now.
    Unchanged,
    /// Unedited since it was generated: replaced by what is generated now (the text to write:
    /// in the developer's line endings).
    Update(String),
    /// Edited, and what is generated did not change: kept as it is.
    Keep,
    /// Edited and changed on both sides without overlap: the merged text.
    Merged(String),
    /// Changed on both sides on the same lines: the text with conflict markers.
    Conflict(String),
    /// Edited, and no verified base to merge from: the developer's file is left alone.
    NoBase,
    /// Generated before and deleted by the developer: stays deleted.
    KeepDeleted,
}

/// Decides what happens to a generated file. `recorded` is the hash the record holds for it
/// (what was generated last), `base` the re-rendering of what was generated last, accepted only
/// when its hash is `recorded`.
///
/// A file whose every line ends with CRLF while the tool generates LF (a checkout with git's
/// `core.autocrlf`, an editor on Windows), or that an editor saved with a UTF-8 byte order mark,
/// is compared and merged by its lines, and what is written keeps its CRLF and its mark: else
/// every line (or the first) would differ, and the whole file would be one conflict.
pub fn decide(
    ours: Option<&str>,
    recorded: Option<&str>,
    base: Option<&str>,
    theirs: &str,
    labels: &Labels,
) -> Decision {
    let Some(form) = ours.and_then(|o| Form::of(o, theirs, base)) else {
        return decide_lines(ours, recorded, base, theirs, labels);
    };
    let ours = form.strip(ours.unwrap_or_default());
    match decide_lines(Some(&ours), recorded, base, theirs, labels) {
        Decision::Update(text) => Decision::Update(form.restore(&text)),
        Decision::Merged(text) => Decision::Merged(form.restore(&text)),
        Decision::Conflict(text) => Decision::Conflict(form.restore(&text)),
        other => other,
    }
}

/// The UTF-8 byte order mark some editors put at the start of a file.
const BOM: char = '\u{feff}';

/// How the developer's file differs in form (not in lines) from what the tool generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Form {
    /// Starts with a byte order mark.
    bom: bool,
    /// Every line ends with CRLF.
    crlf: bool,
}

impl Form {
    /// The form of `ours` when it differs from what is generated (`theirs`, and `base` when
    /// given); `None` when it is the same. Mixed line endings are the developer's content.
    fn of(ours: &str, theirs: &str, base: Option<&str>) -> Option<Form> {
        let generated = [Some(theirs), base];
        let generated = generated.iter().flatten();
        let bom = ours.starts_with(BOM) && !generated.clone().any(|g| g.starts_with(BOM));
        let breaks = ours.matches('\n').count();
        let crlf = breaks > 0
            && ours.matches("\r\n").count() == breaks
            && !generated.clone().any(|g| g.contains('\r'));
        (bom || crlf).then_some(Form { bom, crlf })
    }

    /// `ours` in the generated form.
    fn strip(self, ours: &str) -> String {
        let text = if self.bom {
            ours.strip_prefix(BOM).unwrap_or(ours)
        } else {
            ours
        };
        if self.crlf {
            text.replace("\r\n", "\n")
        } else {
            text.to_string()
        }
    }

    /// A text in the generated form, back in the developer's.
    fn restore(self, text: &str) -> String {
        let text = if self.crlf {
            text.replace('\n', "\r\n")
        } else {
            text.to_string()
        };
        if self.bom {
            format!("{BOM}{text}")
        } else {
            text
        }
    }
}

/// `ours` in the form of `generated` (without a byte order mark, LF line endings) when only its
/// form differs from it; `None` when it already has that form.
pub fn as_generated(ours: &str, generated: &str) -> Option<String> {
    Form::of(ours, generated, None).map(|form| form.strip(ours))
}

/// Whether `contents` is what the record says was generated (`recorded` is its hash), allowing
/// for a checkout that turned every LF into CRLF (git's `core.autocrlf`) or a byte order mark.
pub fn is_recorded(contents: &str, recorded: &str) -> bool {
    record::hash(contents) == recorded
        || as_generated(contents, "").is_some_and(|text| record::hash(&text) == recorded)
}

/// [`decide`] on texts with the same line endings.
fn decide_lines(
    ours: Option<&str>,
    recorded: Option<&str>,
    base: Option<&str>,
    theirs: &str,
    labels: &Labels,
) -> Decision {
    let Some(ours) = ours else {
        return match recorded {
            // The developer deleted a generated file: that is their decision, it stays deleted.
            Some(_) => Decision::KeepDeleted,
            None => Decision::Create,
        };
    };
    if ours == theirs {
        return Decision::Unchanged;
    }
    if recorded == Some(record::hash(ours).as_str()) {
        return Decision::Update(theirs.to_string());
    }
    // A base that does not hash to the record is not what was generated: merging from it would
    // silently drop or duplicate changes, so it is not used at all.
    let Some(base) = base.filter(|b| recorded == Some(record::hash(b).as_str())) else {
        return Decision::NoBase;
    };
    if theirs == base {
        return Decision::Keep;
    }
    match merge3(base, ours, theirs, labels) {
        Ok(merged) => Decision::Merged(merged),
        Err(marked) => Decision::Conflict(marked),
    }
}

/// A 3-way line merge: `Ok(merged)`, or `Err(text)` with diff3-style markers where both sides
/// changed the same lines. Marker lines end like the developer's file's lines (CRLF or LF).
pub fn merge3(base: &str, ours: &str, theirs: &str, labels: &Labels) -> Result<String, String> {
    let mut options = diffy::MergeOptions::new();
    options
        .set_conflict_style(diffy::ConflictStyle::Diff3)
        .set_incomplete_hunk_style(diffy::IncompleteHunkStyle::Git);
    match options.merge(base, ours, theirs) {
        Ok(merged) => Ok(merged),
        Err(marked) => Err(relabel(
            &marked,
            [base, ours, theirs],
            labels,
            uses_crlf(ours),
        )),
    }
}

/// diffy labels its markers `ours`, `original` and `theirs`: name the sides instead. A line of
/// an input that looks like one of diffy's markers is left as it is (it is content).
fn relabel(marked: &str, inputs: [&str; 3], labels: &Labels, crlf: bool) -> String {
    let markers = [
        ("<<<<<<< ours", format!("<<<<<<< {OURS_LABEL}")),
        ("||||||| original", format!("||||||| {}", labels.base)),
        ("=======", "=======".to_string()),
        (">>>>>>> theirs", format!(">>>>>>> {}", labels.theirs)),
    ];
    let in_inputs = |line: &str| {
        inputs
            .iter()
            .any(|text| text.lines().any(|l| l.trim_end_matches('\r') == line))
    };
    let mut out = String::with_capacity(marked.len() + 64);
    for line in marked.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        match markers.iter().find(|(m, _)| *m == bare) {
            Some((m, label)) if !in_inputs(m) => {
                out.push_str(label);
                out.push_str(if crlf { "\r\n" } else { "\n" });
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// Whether the text's lines end with CRLF (its first line break is one).
fn uses_crlf(text: &str) -> bool {
    text.find('\n').is_some_and(|i| text[..i].ends_with('\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        Labels {
            base: "cargo-users 0.1.0".into(),
            theirs: "cargo-users 0.2.0".into(),
        }
    }

    fn git_merge_file(base: &str, ours: &str, theirs: &str) -> Option<(i32, String)> {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let (o, b, t) = (
            write("ours", ours),
            write("base", base),
            write("theirs", theirs),
        );
        let out = std::process::Command::new("git")
            .args(["merge-file", "-p", "--diff3"])
            .args([
                "-L",
                OURS_LABEL,
                "-L",
                "cargo-users 0.1.0",
                "-L",
                "cargo-users 0.2.0",
            ])
            .arg(&o)
            .arg(&b)
            .arg(&t)
            .output()
            .ok()?;
        Some((
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
        ))
    }

    /// (name, base, ours, theirs)
    const CASES: &[(&str, &str, &str, &str)] = &[
        (
            "edits far apart",
            "a\nb\nc\nd\ne\nf\ng\n",
            "A\nb\nc\nd\ne\nf\ng\n",
            "a\nb\nc\nd\ne\nf\nG\n",
        ),
        (
            "same line edited differently",
            "a\nb\nc\n",
            "a\nB1\nc\n",
            "a\nB2\nc\n",
        ),
        (
            "identical changes on both sides",
            "a\nb\nc\n",
            "a\nB\nc\n",
            "a\nB\nc\n",
        ),
        (
            "insertions at the same place",
            "a\nb\n",
            "a\nmine\nb\n",
            "a\ntheirs\nb\n",
        ),
        ("deletion against edit", "a\nb\nc\n", "a\nc\n", "a\nB\nc\n"),
        (
            "deletion against untouched",
            "a\nb\nc\nd\ne\n",
            "a\nc\nd\ne\n",
            "a\nb\nc\nd\nE\n",
        ),
        (
            "no trailing newline, edits elsewhere",
            "a\nb\nc\nd\ne",
            "A\nb\nc\nd\ne",
            "a\nb\nc\nd\nE",
        ),
        (
            "no trailing newline, same last line",
            "a\nb",
            "a\nB1",
            "a\nB2",
        ),
        (
            "newline added at end by one side",
            "a\nb\nc\nd\ne",
            "A\nb\nc\nd\ne",
            "a\nb\nc\nd\ne\n",
        ),
        (
            "CRLF file, edits far apart",
            "a\r\nb\r\nc\r\nd\r\ne\r\n",
            "A\r\nb\r\nc\r\nd\r\ne\r\n",
            "a\r\nb\r\nc\r\nd\r\nE\r\n",
        ),
        (
            "CRLF file, same line",
            "a\r\nb\r\nc\r\n",
            "a\r\nB1\r\nc\r\n",
            "a\r\nB2\r\nc\r\n",
        ),
        ("both append at the end", "a\n", "a\nmine\n", "a\ntheirs\n"),
        ("empty base", "", "mine\n", "theirs\n"),
        (
            "insertion next to an edited line",
            "a\nx\n// m\ny\n",
            "a\nx\n\ny\n",
            "a\nx\nnew\n// m\ny\n",
        ),
        (
            "insertion after an edited line",
            "a\nx\n// m\ny\n",
            "a\nX\n// m\ny\n",
            "a\nx\nnew\n// m\ny\n",
        ),
        (
            "insertion above a marker kept by both",
            "fn r() {\n    x\n    // routes\n}\n",
            "// note\nfn r() {\n    x\n    // routes\n}\n",
            "fn r() {\n    x\n    y\n    // routes\n}\n",
        ),
    ];

    #[test]
    fn merges_agree_with_git_merge_file() {
        let mut compared = 0;
        for (name, base, ours, theirs) in CASES {
            let ours_result = merge3(base, ours, theirs, &labels());
            let Some((code, git)) = git_merge_file(base, ours, theirs) else {
                eprintln!("git is not available: skipping the comparison");
                return;
            };
            match &ours_result {
                Ok(merged) => {
                    assert_eq!(code, 0, "{name}: git found a conflict, we did not:\n{git}");
                    assert_eq!(merged, &git, "{name}");
                }
                Err(marked) => {
                    assert!(
                        code > 0,
                        "{name}: we found a conflict, git did not:\n{marked}"
                    );
                    assert_eq!(marked, &git, "{name}");
                }
            }
            compared += 1;
        }
        assert_eq!(compared, CASES.len());
    }

    #[test]
    fn a_conflict_is_marked_with_both_versions() {
        let marked = merge3("a\nb\nc\n", "a\nB1\nc\n", "a\nB2\nc\n", &labels()).unwrap_err();
        assert_eq!(
            marked,
            "a\n<<<<<<< yours\nB1\n||||||| cargo-users 0.1.0\nb\n=======\nB2\n>>>>>>> cargo-users 0.2.0\nc\n"
        );
    }

    #[test]
    fn a_marker_like_line_of_the_input_is_left_alone() {
        let base = "<<<<<<< ours\nx\n";
        let marked = merge3(base, "<<<<<<< ours\ny\n", "<<<<<<< ours\nz\n", &labels()).unwrap_err();
        assert!(
            marked.starts_with("<<<<<<< ours\n<<<<<<< ours\n"),
            "{marked}"
        );
    }

    #[test]
    fn a_crlf_checkout_of_lf_files_merges_by_lines_and_stays_crlf() {
        let l = labels();
        let crlf = |t: &str| t.replace('\n', "\r\n");
        let base = "a\nb\nc\nd\ne\n";
        let theirs = "a\nb\nc\nd\nE\n";
        let rec = record::hash(base);
        let r = Some(rec.as_str());
        // Unedited, only checked out with CRLF: updated, in CRLF.
        assert_eq!(
            decide(Some(&crlf(base)), r, Some(base), theirs, &l),
            Decision::Update(crlf(theirs))
        );
        // Already what is generated, but for the line endings: left alone.
        assert_eq!(
            decide(Some(&crlf(theirs)), r, Some(base), theirs, &l),
            Decision::Unchanged
        );
        // Edited elsewhere: merged, not one whole-file conflict.
        assert_eq!(
            decide(Some(&crlf("A\nb\nc\nd\ne\n")), r, Some(base), theirs, &l),
            Decision::Merged(crlf("A\nb\nc\nd\nE\n"))
        );
        // Edited on the same line: one conflict, every line (markers too) in CRLF.
        let Decision::Conflict(marked) =
            decide(Some(&crlf("a\nb\nc\nd\nX\n")), r, Some(base), theirs, &l)
        else {
            panic!("a conflict")
        };
        assert_eq!(marked.matches('\n').count(), marked.matches("\r\n").count());
        assert_eq!(marked.matches("<<<<<<< yours").count(), 1, "{marked}");
        assert!(marked.starts_with("a\r\nb\r\n"), "{marked}");
        // Mixed line endings are the developer's content: compared as they are.
        assert_eq!(as_generated("a\r\nb\n", base), None);
        assert_eq!(as_generated("a\r\nb\r\n", "x\r\n"), None);
        assert_eq!(as_generated("a\r\nb", "x\n").as_deref(), Some("a\nb"));
    }

    #[test]
    fn a_byte_order_mark_is_kept_and_not_a_change_of_the_first_line() {
        let l = labels();
        let bom = |t: &str| format!("\u{feff}{t}");
        // The first line is the one a new version changes (its doc line names the version).
        let base = "//! 0.1.0\nb\nc\nd\ne\n";
        let theirs = "//! 0.2.0\nb\nc\nd\ne\n";
        let rec = record::hash(base);
        let r = Some(rec.as_str());
        assert_eq!(
            decide(Some(&bom(base)), r, Some(base), theirs, &l),
            Decision::Update(bom(theirs))
        );
        assert_eq!(
            decide(
                Some(&bom("//! 0.1.0\nb\nc\nd\nE\n")),
                r,
                Some(base),
                theirs,
                &l
            ),
            Decision::Merged(bom("//! 0.2.0\nb\nc\nd\nE\n"))
        );
        // Both at once.
        let both = bom(&base.replace('\n', "\r\n"));
        assert_eq!(
            decide(Some(&both), r, Some(base), theirs, &l),
            Decision::Update(bom(&theirs.replace('\n', "\r\n")))
        );
        assert!(is_recorded(&both, &rec));
    }

    #[test]
    fn decisions() {
        let l = labels();
        let h = record::hash;
        let base = "a\nb\nc\nd\ne\n";
        let theirs = "a\nb\nc\nd\nE\n";
        let rec = h(base);
        let r = Some(rec.as_str());
        assert_eq!(decide(None, None, None, theirs, &l), Decision::Create);
        assert_eq!(
            decide(None, r, Some(base), theirs, &l),
            Decision::KeepDeleted
        );
        assert_eq!(
            decide(Some(theirs), r, Some(base), theirs, &l),
            Decision::Unchanged
        );
        assert_eq!(
            decide(Some(base), r, Some(base), theirs, &l),
            Decision::Update(theirs.into())
        );
        assert_eq!(
            decide(Some(base), r, None, theirs, &l),
            Decision::Update(theirs.into())
        );
        assert_eq!(
            decide(Some("A\nb\nc\nd\ne\n"), r, Some(base), base, &l),
            Decision::Keep
        );
        assert_eq!(
            decide(Some("A\nb\nc\nd\ne\n"), r, Some(base), theirs, &l),
            Decision::Merged("A\nb\nc\nd\nE\n".into())
        );
        assert!(matches!(
            decide(Some("a\nb\nc\nd\nX\n"), r, Some(base), theirs, &l),
            Decision::Conflict(_)
        ));
        // A base that is not what the record says was generated is never merged from.
        assert_eq!(
            decide(
                Some("A\nb\nc\nd\ne\n"),
                r,
                Some("a\nb\nc\nd\nz\n"),
                theirs,
                &l
            ),
            Decision::NoBase
        );
        assert_eq!(
            decide(Some("A\n"), None, Some(base), theirs, &l),
            Decision::NoBase
        );
    }
}
