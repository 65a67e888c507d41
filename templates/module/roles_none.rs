//! Roles: none without the role-management handler. This stand-in tells the role guards of
//! `extract.rs` that nobody has a role, and the credential look-up of `db.rs` that it reads no
//! roles; `cargo users add-handler role-management` replaces it
//! with the role model, the `admin` guard and the role queries.

use super::{extract::CurrentUser, model::User};

impl CurrentUser {
    /// Whether the user has the role `name`: always `false`, as users have no roles without the
    /// role-management handler.
    pub fn has_role(&self, _name: &str) -> bool {
        false
    }
}

// The check of every authenticated request ([`super::db::find_user_by_token`]) reads no roles:
// nothing to add to its query, and its one row is the user.

/// The role column of the look-up: none.
pub(super) const LOOKUP_COLUMNS: &str = "";

/// The row of the look-up: the user.
pub(super) type LookupRow = User;

/// The user of the look-up's row (`None`: no row, no user).
pub(super) fn user_of_lookup(row: Option<LookupRow>) -> Result<Option<User>, sqlx::Error> {
    Ok(row)
}
