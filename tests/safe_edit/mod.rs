//! Edits a developer makes to generated files, placed where two versions of the templates agree,
//! so that tests of merges hold whatever the templates change: a comment line before an item,
//! at least three lines away from any change between `old` and `new`.

#![allow(dead_code)]

use similar::{DiffTag, TextDiff};

/// How far (in lines) an edit stays from every change between the two versions.
const DISTANCE: usize = 3;

/// Whether each old line (and the end) is at least [`DISTANCE`] lines from every change.
fn untouched(old: &str, new: &str) -> Vec<bool> {
    let count = old.split_inclusive('\n').count();
    let mut safe = vec![true; count + 1];
    for op in TextDiff::from_lines(old, new).ops() {
        if op.tag() == DiffTag::Equal {
            continue;
        }
        let r = op.old_range();
        let (from, to) = (r.start.saturating_sub(DISTANCE), r.end + DISTANCE);
        for flag in safe.iter_mut().take(to).skip(from) {
            *flag = false;
        }
    }
    safe
}

/// `old` with `// <note>` inserted before an item (`fn`, `pub`, `const`, `use`, `#[`, ...) that
/// both versions leave alone, indented like it; `None` when there is no such place.
pub fn insert_note(old: &str, new: &str, note: &str) -> Option<String> {
    let lines: Vec<&str> = old.split_inclusive('\n').collect();
    let safe = untouched(old, new);
    let starts = [
        "pub ",
        "fn ",
        "async fn ",
        "const ",
        "use ",
        "#[",
        "impl ",
        "struct ",
        "enum ",
        "///",
    ];
    let places: Vec<usize> = (1..lines.len())
        .filter(|&i| safe[i] && safe[i - 1] && safe[i + 1])
        .filter(|&i| starts.iter().any(|s| lines[i].trim_start().starts_with(s)))
        // Before an item or its doc comment, not between them.
        .filter(|&i| {
            let prev = lines[i - 1].trim_start();
            !prev.starts_with("#[") && !prev.starts_with("///")
        })
        .collect();
    let &at = places.get(places.len() / 2)?;
    let indent: String = lines[at]
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect();
    Some(format!(
        "{}{indent}// {note}\n{}",
        lines[..at].concat(),
        lines[at..].concat()
    ))
}

/// `old` with the line starting with `prefix` replaced by `replacement`, when both versions
/// leave that line and its neighbours alone.
pub fn replace_line(old: &str, new: &str, prefix: &str, replacement: &str) -> Option<String> {
    let lines: Vec<&str> = old.split_inclusive('\n').collect();
    let safe = untouched(old, new);
    let at = lines.iter().position(|l| l.starts_with(prefix))?;
    if !safe[at] {
        return None;
    }
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    out[at] = format!("{replacement}\n");
    Some(out.concat())
}
