//! Random tokens: {% if backend == "session" %}session tokens, {% endif %}email verification and password reset links{% if "magic-link" in handlers %}, login links{% endif %}{% if "totp" in handlers %}, the second step of a login{% endif %}.
//!
//! A token is 32 random bytes from the operating system, sent to its owner base64url-encoded and
//! stored only as its SHA-256 hash, tagged with what it is for. A token of one purpose is never
//! accepted for another: a leaked reset link cannot be used as a session, and so on.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// What a stored token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
{%- if backend == "session" %}
    /// A login session (the session cookie).
    Session,
{%- else %}
    /// An access token (JWT) that has not been revoked; the stored value is the hash of its `jti`.
    Access,
{%- endif %}
    /// The link in a verification mail.
    Verify,
    /// The link in a password-reset mail.
    Reset,
{%- if "magic-link" in handlers %}
    /// The link in a login mail (magic link).
    MagicLink,
{%- endif %}
{%- if "totp" in handlers %}
    /// A login waiting for its second step (the `mfa_token`): the password, link or provider
    /// proved the first factor, a TOTP or recovery code must prove the second.
    Mfa,
{%- endif %}
}

impl Purpose {
    /// The value stored in the `purpose` column.
    pub fn as_str(self) -> &'static str {
        match self {
{%- if backend == "session" %}
            Self::Session => "session",
{%- else %}
            Self::Access => "access",
{%- endif %}
            Self::Verify => "verify",
            Self::Reset => "reset",
{%- if "magic-link" in handlers %}
            Self::MagicLink => "magic_link",
{%- endif %}
{%- if "totp" in handlers %}
            Self::Mfa => "mfa",
{%- endif %}
        }
    }
}

/// A fresh random token and the hash to store for it.
pub fn generate() -> (String, String) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    (token, hash)
}

/// The hash stored for a token. A fast hash is enough here: the token has 256 bits of entropy, so
/// there is nothing to brute-force, unlike a password.
pub fn hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_distinct_and_hash_to_the_stored_value() {
        let (first, first_hash) = generate();
        let (second, _) = generate();
        assert_ne!(first, second);
        assert_eq!(first.len(), 43);
        assert_eq!(hash(&first), first_hash);
        assert_ne!(first, first_hash);
    }
}
