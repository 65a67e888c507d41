//! The choices a user makes: auth backend, database and handlers, and how handler names are
//! checked against the manifest and completed with the handlers they require.

use crate::error::{Error, Result};
use crate::manifest::Manifest;
pub use crate::selection::{Backend, Database, Selection};

/// The handlers installed when none are named and `--yes` is given.
pub const DEFAULT_HANDLERS: [&str; 5] = [
    "auth",
    "register",
    "verify",
    "current-user",
    "password-reset",
];

/// Handlers named on the command line, before they are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerSelection {
    /// `--handlers all`.
    All,
    /// `--handlers a,b,c`.
    Named(Vec<String>),
}

impl HandlerSelection {
    /// Parses the values of `--handlers` (already split at commas).
    pub fn from_values(values: &[String]) -> Self {
        let names: Vec<String> = values
            .iter()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if names.iter().any(|n| n == "all") {
            HandlerSelection::All
        } else {
            HandlerSelection::Named(names)
        }
    }

    /// The default selection of `--yes`.
    pub fn defaults() -> Self {
        HandlerSelection::Named(DEFAULT_HANDLERS.iter().map(|s| s.to_string()).collect())
    }
}

/// Handlers after their names were checked and their requirements added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Every handler to install, in manifest order.
    pub handlers: Vec<String>,
    /// Handlers added because another one needs them: `(needed, needed_by)`.
    pub added: Vec<(String, String)>,
}

/// Checks that every name is a handler of the manifest (usage error listing the valid ones
/// otherwise).
pub fn check_names(manifest: &Manifest, names: &[String]) -> Result<()> {
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| !manifest.handler.contains_key(*n))
        .collect();
    match unknown.as_slice() {
        [] => Ok(()),
        [one] => Err(Error::usage(format!(
            "unknown handler `{one}`; valid handlers: {} (or `all`)",
            manifest.handler_list()
        ))),
        many => Err(Error::usage(format!(
            "unknown handlers {}; valid handlers: {} (or `all`)",
            many.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            manifest.handler_list()
        ))),
    }
}

/// Resolves a selection: checks names, adds the handlers they require (transitively, also
/// counting `already` as installed) and sorts the result in manifest order.
pub fn resolve(
    manifest: &Manifest,
    selection: &HandlerSelection,
    already: &[String],
) -> Result<Resolved> {
    let requested = match selection {
        HandlerSelection::All => manifest.handler_names(),
        HandlerSelection::Named(names) => {
            check_names(manifest, names)?;
            names.clone()
        }
    };
    if requested.is_empty() && already.is_empty() {
        return Err(Error::usage(format!(
            "choose at least one handler; valid handlers: {}",
            manifest.handler_list()
        )));
    }
    let mut chosen: Vec<String> = already.to_vec();
    let mut added = Vec::new();
    let mut queue: Vec<(String, Option<String>)> =
        requested.into_iter().map(|n| (n, None)).collect();
    while let Some((name, needed_by)) = queue.pop() {
        if chosen.contains(&name) {
            continue;
        }
        if let Some(by) = &needed_by
            && !queue.iter().any(|(q, _)| q == &name)
        {
            added.push((name.clone(), by.clone()));
        }
        if let Some(spec) = manifest.handler.get(&name) {
            for req in &spec.requires {
                if !chosen.contains(req) {
                    queue.push((req.clone(), Some(name.clone())));
                }
            }
        }
        chosen.push(name);
    }
    let order = manifest.handler_names();
    chosen.sort_by_key(|h| order.iter().position(|o| o == h));
    chosen.dedup();
    Ok(Resolved {
        handlers: chosen,
        added,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::embedded().unwrap()
    }

    fn named(names: &[&str]) -> HandlerSelection {
        HandlerSelection::Named(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn required_handlers_are_added_and_reported() {
        let r = resolve(&manifest(), &named(&["current-user"]), &[]).unwrap();
        assert_eq!(r.handlers, ["auth", "current-user"]);
        assert_eq!(r.added, [("auth".to_string(), "current-user".to_string())]);
    }

    #[test]
    fn a_requirement_already_named_is_not_reported() {
        let r = resolve(&manifest(), &named(&["current-user", "auth"]), &[]).unwrap();
        assert_eq!(r.handlers, ["auth", "current-user"]);
        assert!(r.added.is_empty());
    }

    #[test]
    fn a_requirement_already_installed_is_not_added() {
        let r = resolve(&manifest(), &named(&["current-user"]), &["auth".into()]).unwrap();
        assert_eq!(r.handlers, ["auth", "current-user"]);
        assert!(r.added.is_empty());
    }

    #[test]
    fn handlers_come_out_in_manifest_order() {
        let r = resolve(
            &manifest(),
            &named(&["password-reset", "register", "auth"]),
            &[],
        )
        .unwrap();
        assert_eq!(r.handlers, ["auth", "register", "password-reset"]);
    }

    #[test]
    fn all_selects_every_handler() {
        let m = manifest();
        let r = resolve(&m, &HandlerSelection::All, &[]).unwrap();
        assert_eq!(r.handlers, m.handler_names());
    }

    #[test]
    fn unknown_handler_is_a_usage_error_listing_valid_ones() {
        let err = resolve(&manifest(), &named(&["auth", "nope"]), &[]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let msg = err.to_string();
        assert!(
            msg.contains("`nope`") && msg.contains("current-user"),
            "{msg}"
        );
    }

    #[test]
    fn defaults_are_all_known_handlers() {
        let r = resolve(&manifest(), &HandlerSelection::defaults(), &[]).unwrap();
        assert_eq!(r.handlers.len(), DEFAULT_HANDLERS.len());
    }

    #[test]
    fn selection_parses_all_and_trims_names() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            HandlerSelection::from_values(&v(&["auth", "all"])),
            HandlerSelection::All
        );
        assert_eq!(
            HandlerSelection::from_values(&v(&[" auth ", ""])),
            named(&["auth"])
        );
    }
}
