//! The user as stored and as shown, and the list shape of the API.
//!
//! Adding a field to the user: a new migration (`migrations/`, never edit an applied one), the
//! field here (`#[serde(skip)]` unless the API shows it) and in [`User::new`],
//! [`crate::{{ module }}::db::USER_COLUMNS`] and the `INSERT` of `db::create_user`, then wherever it
//! is set.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A user account. Serializes to the API's user JSON: the password hash and the timestamps never
/// leave the server.
#[derive(Clone, Serialize, sqlx::FromRow{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct User {
    /// A random UUID (v4), so ids reveal neither the number of users nor the order of sign-up.
    pub id: Uuid,
    /// Unique, compared without regard to letter case.
    pub email: String,
    /// The Argon2id hash in PHC string format.
    #[serde(skip)]
    pub password_hash: String,
    /// An inactive user cannot log in and their credentials stop working.
    pub is_active: bool,
    /// Whether the user proved they own the email address.
    pub is_verified: bool,
    /// When the account was created.
    #[serde(skip)]
    pub created_at: DateTime<Utc>,
    /// When the account last changed.
    #[serde(skip)]
    pub updated_at: DateTime<Utc>,
{%- if "role-management" in handlers %}
    /// The user's roles, sorted by name (the one field that role-management adds here, as the
    /// API's user JSON shows it). Not a column: the functions in `db` that return users leave it
    /// empty, and [`crate::{{ module }}::roles::load_roles`] (one user) or
    /// [`crate::{{ module }}::roles::load_roles_of_page`] (many) fill it in.
    #[sqlx(skip)]
    pub roles: Vec<super::roles::Role>,
{%- endif %}
{%- if "current-user" in handlers %}
    /// The address the user is changing to while its link is unused (the field that
    /// current-user adds here, shown as `pending_email` when there is one). Not a column: only the
    /// credential look-up ([`crate::{{ module }}::db::find_user_by_token`], behind
    /// `CurrentUser`) reads it, in the same query; the other functions in `db` leave it `None`.
    #[sqlx(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_email: Option<String>,
{%- endif %}
}

impl User {
    /// A new account with a random id, created and last changed `now`; the fields that handlers
    /// add (roles, a pending address) start empty. `email` is kept as given:
    /// [`crate::{{ module }}::db::create_user`] stores it in its canonical form.
    pub fn new(
        email: String,
        password_hash: String,
        is_active: bool,
        is_verified: bool,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            email,
            password_hash,
            is_active,
            is_verified,
            created_at: now,
            updated_at: now,
{%- if "role-management" in handlers %}
            roles: Vec::new(),
{%- endif %}
{%- if "current-user" in handlers %}
            pending_email: None,
{%- endif %}
        }
    }
}

// Written by hand so that logging a user never prints the password hash.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("is_active", &self.is_active)
            .field("is_verified", &self.is_verified)
{%- if "role-management" in handlers %}
            .field("roles", &self.roles)
{%- endif %}
            .finish_non_exhaustive()
    }
}

/// One page of a list: `{"items": [...], "total": N}`, `total` counting every item, not only
/// this page's.
#[derive(Clone, Debug, Serialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many items there are in all.
    pub total: i64,
}
