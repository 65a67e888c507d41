//! Completing the choices: flags first, then the record of an earlier run, then `--yes`
//! defaults, then interactive prompts (only on a terminal); otherwise a usage error.

use std::fmt;

use console::Term;
use dialoguer::theme::{ColorfulTheme, Theme};
use dialoguer::{MultiSelect, Select};

use crate::choices::{Backend, DEFAULT_HANDLERS, Database, HandlerSelection};
use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// Choices as given on the command line (or taken from the record).
#[derive(Debug, Clone, Default)]
pub struct GivenChoices {
    /// `--backend`.
    pub backend: Option<Backend>,
    /// `--db`.
    pub db: Option<Database>,
    /// `--handlers`.
    pub handlers: Option<HandlerSelection>,
}

/// Every choice made.
#[derive(Debug, Clone)]
pub struct Choices {
    /// The auth backend.
    pub backend: Backend,
    /// The database.
    pub db: Database,
    /// The handlers, not yet resolved.
    pub handlers: HandlerSelection,
}

/// How missing choices are completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// `--yes`: take the defaults.
    Defaults,
    /// Ask on the terminal.
    Prompt,
    /// No terminal and no `--yes`: a missing choice is a usage error.
    Refuse,
}

impl Completion {
    /// The completion for `--yes` and whether stdin is a terminal.
    pub fn detect(yes: bool, stdin_is_terminal: bool) -> Self {
        match (yes, stdin_is_terminal) {
            (true, _) => Completion::Defaults,
            (false, true) => Completion::Prompt,
            (false, false) => Completion::Refuse,
        }
    }
}

/// Completes the choices.
pub fn complete(manifest: &Manifest, given: GivenChoices, how: Completion) -> Result<Choices> {
    if how == Completion::Refuse {
        let missing: Vec<&str> = [
            given.backend.is_none().then_some("--backend"),
            given.db.is_none().then_some("--db"),
            given.handlers.is_none().then_some("--handlers"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !missing.is_empty() {
            return Err(Error::usage(format!(
                "missing {}: stdin is not a terminal, so cargo-users cannot ask; pass {} or --yes \
                 to accept the defaults",
                missing.join(", "),
                missing.join(" "),
            )));
        }
    }
    let prompt = how == Completion::Prompt;
    let backend = match given.backend {
        Some(b) => b,
        None if prompt => prompt_backend()?,
        None => Backend::default(),
    };
    let db = match given.db {
        Some(d) => d,
        None if prompt => prompt_db()?,
        None => Database::default(),
    };
    let handlers = match given.handlers {
        Some(h) => h,
        None if prompt => prompt_handlers(manifest)?,
        None => HandlerSelection::defaults(),
    };
    Ok(Choices {
        backend,
        db,
        handlers,
    })
}

fn prompt_error(e: dialoguer::Error) -> Error {
    Error::failure(format!("prompt failed: {e}"))
}

/// Echoes a choice once it is made: the prompt and the chosen names only. (The menus show a
/// description beside each name; repeated after the choice, the padded descriptions made the
/// line unreadable.)
fn echo_choice(prompt: &str, names: &[&str]) -> Result<()> {
    let mut line = String::new();
    // Formatting into a `String` cannot fail.
    let _ = ColorfulTheme::default().format_multi_select_prompt_selection(&mut line, prompt, names);
    Term::stderr()
        .write_line(&line)
        .map_err(|e| Error::failure(format!("prompt failed: {e}")))
}

fn prompt_backend() -> Result<Backend> {
    let items: Vec<String> = Backend::ALL
        .iter()
        .map(|b| format!("{:<11} {}", b.as_str(), b.summary()))
        .collect();
    let i = Select::with_theme(&ColorfulTheme::default())
        .with_prompt("Auth backend")
        .items(&items)
        .default(0)
        .report(false)
        .interact()
        .map_err(prompt_error)?;
    echo_choice("Auth backend", &[Backend::ALL[i].as_str()])?;
    Ok(Backend::ALL[i])
}

fn prompt_db() -> Result<Database> {
    let items: Vec<String> = Database::ALL
        .iter()
        .map(|d| format!("{:<9} {}", d.as_str(), d.summary()))
        .collect();
    let i = Select::with_theme(&ColorfulTheme::default())
        .with_prompt("Database")
        .items(&items)
        .default(0)
        .report(false)
        .interact()
        .map_err(prompt_error)?;
    echo_choice("Database", &[Database::ALL[i].as_str()])?;
    Ok(Database::ALL[i])
}

/// The handler menu's groups, in the order they are offered: what most apps want first (the
/// defaults), then the admin pages, other ways to sign in, and the API's description. Only the
/// menu follows this order; the manifest's decides where each handler's code is rendered. A
/// handler of the manifest that no group names is offered last, under "other".
const HANDLER_GROUPS: &[(&str, &[&str])] = &[
    (
        "essentials",
        &[
            "auth",
            "register",
            "verify",
            "password-reset",
            "current-user",
        ],
    ),
    ("admin", &["role-management", "user-management"]),
    ("sign-in", &["oauth2", "magic-link", "totp"]),
    ("api docs", &["openapi"]),
];

/// The group of handlers the manifest has and [`HANDLER_GROUPS`] does not name.
const OTHER_GROUP: &str = "other";

/// Separates an item's group column from the rest of its text, for [`MenuTheme`].
const GROUP_SEPARATOR: char = '\t';

/// One row of the handler menu.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MenuRow {
    /// The group's label, on the first row of its group only.
    group: Option<&'static str>,
    name: String,
    summary: String,
}

/// The manifest's handlers in menu order, grouped by [`HANDLER_GROUPS`].
fn handler_menu(manifest: &Manifest) -> Vec<MenuRow> {
    let named = |name: &str| {
        HANDLER_GROUPS
            .iter()
            .any(|(_, names)| names.contains(&name))
    };
    let others: Vec<&str> = manifest
        .handler
        .keys()
        .map(String::as_str)
        .filter(|name| !named(name))
        .collect();
    let mut groups: Vec<(&'static str, &[&str])> = HANDLER_GROUPS.to_vec();
    groups.push((OTHER_GROUP, &others));
    let mut rows = Vec::new();
    for (group, names) in groups {
        let present = names
            .iter()
            .filter_map(|n| manifest.handler.get_key_value(*n));
        for (i, (name, spec)) in present.enumerate() {
            rows.push(MenuRow {
                group: (i == 0).then_some(group),
                name: name.clone(),
                summary: spec.summary.clone(),
            });
        }
    }
    rows
}

/// Columns a menu row takes before its text: the cursor, the check box and a space after each.
const ROW_PREFIX_WIDTH: usize = 4;

/// The menu's item texts for a terminal `columns` wide: the group column (then
/// [`GROUP_SEPARATOR`]), the name column and the summary, cut at a word (ending in `…`) so that
/// no row wraps (a wrapped row would be redrawn on the lines below it at every key), or left
/// out when too little room remains for a few words.
fn menu_items(rows: &[MenuRow], columns: usize) -> Vec<String> {
    let group_width = rows
        .iter()
        .filter_map(|r| r.group.map(str::len))
        .max()
        .unwrap_or(0);
    let name_width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    // One column spare: writing the last column makes some terminals wrap.
    let room = columns.saturating_sub(1 + group_width + 2 + ROW_PREFIX_WIDTH + name_width + 2);
    rows.iter()
        .map(|row| {
            let group = row.group.unwrap_or("");
            let summary = fit(&row.summary, room);
            format!(
                "{group:<group_width$}{GROUP_SEPARATOR}{:<name_width$}  {summary}",
                row.name
            )
            .trim_end()
            .to_string()
        })
        .collect()
}

/// `text` if it fits in `room` columns, else its first words and `…`, or nothing when not even
/// a few words fit.
fn fit(text: &str, room: usize) -> String {
    const FEWEST: usize = 12;
    if console::measure_text_width(text) <= room {
        return text.to_string();
    }
    if room < FEWEST {
        return String::new();
    }
    let mut cut = String::new();
    for word in text.split(' ') {
        let longer = if cut.is_empty() {
            word.to_string()
        } else {
            format!("{cut} {word}")
        };
        // The `…` takes one column.
        if console::measure_text_width(&longer) + 1 > room {
            break;
        }
        cut = longer;
    }
    // A parenthesis the cut leaves open is dropped with what it began.
    let cut = match (cut.rfind('('), cut.rfind(')')) {
        (Some(open), close) if close.is_none_or(|close| close < open) => &cut[..open],
        _ => &cut[..],
    };
    let cut = cut.trim_end_matches([',', ':', ';', ' ']);
    format!("{cut}…")
}

/// The colorful theme, with a group column before the check boxes and the cursor's row marked
/// by `❯` as in a select: dialoguer's multi-select marks it by color alone, which a terminal
/// without colors (or `NO_COLOR`) does not show.
struct MenuTheme(ColorfulTheme);

impl Theme for MenuTheme {
    fn format_multi_select_prompt(&self, f: &mut dyn fmt::Write, prompt: &str) -> fmt::Result {
        self.0.format_multi_select_prompt(f, prompt)
    }

    fn format_multi_select_prompt_selection(
        &self,
        f: &mut dyn fmt::Write,
        prompt: &str,
        selections: &[&str],
    ) -> fmt::Result {
        self.0
            .format_multi_select_prompt_selection(f, prompt, selections)
    }

    fn format_multi_select_prompt_item(
        &self,
        f: &mut dyn fmt::Write,
        text: &str,
        checked: bool,
        active: bool,
    ) -> fmt::Result {
        let (group, item) = text.split_once(GROUP_SEPARATOR).unwrap_or(("", text));
        let cursor = if active {
            &self.0.active_item_prefix
        } else {
            &self.0.inactive_item_prefix
        };
        write!(f, "{}  {cursor} ", self.0.prompt_style.apply_to(group))?;
        self.0
            .format_multi_select_prompt_item(f, item, checked, active)
    }
}

fn prompt_handlers(manifest: &Manifest) -> Result<HandlerSelection> {
    let rows = handler_menu(manifest);
    let term = Term::stderr();
    let items = menu_items(&rows, usize::from(term.size().1));
    let defaults: Vec<bool> = rows
        .iter()
        .map(|r| DEFAULT_HANDLERS.contains(&r.name.as_str()))
        .collect();
    let picked = MultiSelect::with_theme(&MenuTheme(ColorfulTheme::default()))
        .with_prompt("Handlers (space to toggle, enter to confirm)")
        .items(&items)
        .defaults(&defaults)
        .report(false)
        .interact_on(&term)
        .map_err(prompt_error)?;
    // In the menu's order, as they were shown; the resolution puts them in the manifest's.
    let picked: Vec<String> = picked.into_iter().map(|i| rows[i].name.clone()).collect();
    let shown: Vec<&str> = picked.iter().map(String::as_str).collect();
    echo_choice("Handlers", &shown)?;
    Ok(HandlerSelection::Named(picked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusing_names_every_missing_flag() {
        let m = Manifest::embedded().unwrap();
        let given = GivenChoices {
            backend: Some(Backend::Jwt),
            ..Default::default()
        };
        let err = complete(&m, given, Completion::Refuse).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let msg = err.to_string();
        assert!(msg.contains("--db") && msg.contains("--handlers") && !msg.contains("--backend"));
    }

    #[test]
    fn defaults_fill_only_what_is_missing() {
        let m = Manifest::embedded().unwrap();
        let given = GivenChoices {
            db: Some(Database::Mysql),
            ..Default::default()
        };
        let c = complete(&m, given, Completion::Defaults).unwrap();
        assert_eq!(c.backend, Backend::Session);
        assert_eq!(c.db, Database::Mysql);
        assert_eq!(c.handlers, HandlerSelection::defaults());
    }

    #[test]
    fn nothing_missing_needs_no_terminal() {
        let m = Manifest::embedded().unwrap();
        let given = GivenChoices {
            backend: Some(Backend::Jwt),
            db: Some(Database::Sqlite),
            handlers: Some(HandlerSelection::All),
        };
        assert!(complete(&m, given, Completion::Refuse).is_ok());
    }

    #[test]
    fn the_menu_offers_every_handler_once_the_defaults_first() {
        let m = Manifest::embedded().unwrap();
        let rows = handler_menu(&m);
        let mut names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        let mut first = names[..DEFAULT_HANDLERS.len()].to_vec();
        first.sort_unstable();
        let mut defaults = DEFAULT_HANDLERS.to_vec();
        defaults.sort_unstable();
        assert_eq!(first, defaults);
        names.sort_unstable();
        let mut manifest = m.handler_names();
        manifest.sort();
        assert_eq!(names, manifest);
        // Every handler is in a named group: a new one must be given its place in the menu.
        for (name, _) in &m.handler {
            assert!(
                HANDLER_GROUPS
                    .iter()
                    .any(|(_, g)| g.contains(&name.as_str())),
                "{name} is in no group of HANDLER_GROUPS"
            );
        }
        // And every grouped name is a handler (a renamed one would vanish from the menu).
        for (_, group) in HANDLER_GROUPS {
            for name in *group {
                assert!(
                    m.handler.contains_key(*name),
                    "{name} is not in the manifest"
                );
            }
        }
    }

    #[test]
    fn each_group_is_labelled_on_its_first_row_only() {
        let rows = handler_menu(&Manifest::embedded().unwrap());
        let labels: Vec<(&str, &str)> = rows
            .iter()
            .filter_map(|r| Some((r.group?, r.name.as_str())))
            .collect();
        assert_eq!(
            labels,
            [
                ("essentials", "auth"),
                ("admin", "role-management"),
                ("sign-in", "oauth2"),
                ("api docs", "openapi"),
            ]
        );
    }

    #[test]
    fn menu_rows_fit_the_terminal_and_keep_whole_words() {
        let rows = handler_menu(&Manifest::embedded().unwrap());
        for columns in [40, 60, 80, 100, 200] {
            for item in menu_items(&rows, columns) {
                let (group, rest) = item.split_once(GROUP_SEPARATOR).unwrap();
                let width = console::measure_text_width(group)
                    + 2
                    + ROW_PREFIX_WIDTH
                    + console::measure_text_width(rest);
                assert!(
                    width < columns,
                    "{columns} columns: {item:?} is {width} wide"
                );
            }
        }
        // Wide enough, every summary is whole; narrower, cut after a word.
        let wide = menu_items(&rows, 200);
        for (row, item) in rows.iter().zip(&wide) {
            assert!(item.ends_with(&row.summary), "{item:?}");
        }
        for (row, item) in rows.iter().zip(menu_items(&rows, 80)) {
            let rest = item.split_once(GROUP_SEPARATOR).unwrap().1;
            assert!(rest.starts_with(&row.name), "{item:?}");
            if let Some(cut) = rest.strip_suffix('…') {
                let shown = cut[row.name.len()..].trim_start();
                assert!(
                    row.summary.starts_with(shown)
                        && row.summary[shown.len()..].starts_with([' ', ',', ':', '(']),
                    "{item:?} cuts a word of {:?}",
                    row.summary
                );
            } else {
                assert!(item.ends_with(&row.summary), "{item:?}");
            }
        }
        // Too narrow for a summary: the names alone.
        for (row, item) in rows.iter().zip(menu_items(&rows, 40)) {
            assert!(item.ends_with(row.name.as_str()), "{item:?}");
        }
    }

    #[test]
    fn fitting_cuts_after_a_word() {
        assert_eq!(fit("short", 20), "short");
        assert_eq!(fit("log in with an OAuth2 provider", 20), "log in with an…");
        assert_eq!(fit("roles: create, rename, delete", 18), "roles: create…");
        assert_eq!(fit("anything at all here", 5), "");
        assert_eq!(
            fit("delete users (admins only), and more", 26),
            "delete users…"
        );
        assert_eq!(fit("a (b) c d e f g h i j k l", 14), "a (b) c d e f…");
    }
}
