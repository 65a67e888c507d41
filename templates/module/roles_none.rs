//! Roles: none without the role-management handler. This stand-in tells the role guards of
//! `extract.rs` that nobody has a role; `cargo users add-handler role-management` replaces it
//! with the role model, the `admin` guard and the role queries.

use super::extract::CurrentUser;

impl CurrentUser {
    /// Whether the user has the role `name`: always `false`, as users have no roles without the
    /// role-management handler.
    pub fn has_role(&self, _name: &str) -> bool {
        false
    }
}
