//! The user, as stored and as shown.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A user account. Serializes to the API's user JSON: the password hash and the timestamps never
/// leave the server.
#[derive(Clone, Serialize, sqlx::FromRow)]
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
}

// Written by hand so that logging a user never prints the password hash.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("is_active", &self.is_active)
            .field("is_verified", &self.is_verified)
            .finish_non_exhaustive()
    }
}
