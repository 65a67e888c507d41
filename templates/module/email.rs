//! Email addresses in one canonical form.
//!
//! An address enters the system in many places (registration, login, the mail-sending routes,
//! the management commands, OAuth2 providers, address changes). Each of them calls
//! [`canonical_email`], so that the database, its unique index and the rate limiter all see one
//! spelling of an address: `  ALÍCE@Example.com` (with the `Í` composed or not, or in a
//! full-width compatibility form) is `alíce@example.com` everywhere, while `alice@example.com`
//! stays another address.

use std::str::FromStr;

use unicode_normalization::UnicodeNormalization;

use super::error::ApiError;

/// The longest address accepted, in bytes (the limit of a forward path in SMTP, RFC 5321).
pub const MAX_EMAIL_BYTES: usize = 254;

/// Checks an email address and returns its canonical form: trimmed, Unicode NFKC-normalized and
/// lower-cased. 422 `invalid_email` unless it is a plausible, deliverable address.
///
/// The cheap checks (length, control characters) come first and look at the raw input, so a
/// megabyte or a NUL byte is refused before any normalization, database look-up, password hash or
/// rate-limit bookkeeping.
pub fn canonical_email(email: &str) -> Result<String, ApiError> {
    let trimmed = email.trim();
    if trimmed.len() > MAX_EMAIL_BYTES || trimmed.chars().any(char::is_control) {
        return Err(invalid());
    }
    let canonical = normalize(trimmed);
    // Normalization can lengthen an address (a compatibility character expands to several).
    if canonical.len() > MAX_EMAIL_BYTES
        || canonical.chars().any(char::is_control)
        || lettre::Address::from_str(&canonical).is_err()
    {
        return Err(invalid());
    }
    Ok(canonical)
}

/// The canonical spelling of an address without any validity check: for looking up what is stored
/// (stored addresses went through [`canonical_email`]).
pub fn normalize(email: &str) -> String {
    // NFKC first so that compatibility forms (full-width letters, ligatures) become the letters
    // they stand for; lower-casing can produce a sequence that NFKC would compose, hence the
    // second pass.
    let lower: String = email.trim().nfkc().collect::<String>().to_lowercase();
    lower.nfkc().collect()
}

fn invalid() -> ApiError {
    ApiError::unprocessable("invalid_email", "This is not a valid email address.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_composition_and_compatibility_forms_are_one_address() {
        let composed = "alíce@example.com";
        let decomposed = "ali\u{301}ce@example.com";
        let full_width = "\u{ff21}L\u{cd}CE@EXAMPLE.COM";
        for spelling in [composed, decomposed, "  ALÍCE@Example.COM ", full_width] {
            assert_eq!(canonical_email(spelling).unwrap(), composed, "{spelling:?}");
        }
        assert_ne!(canonical_email("alice@example.com").unwrap(), composed);
    }

    #[test]
    fn long_or_control_character_addresses_are_refused() {
        let long = format!("{}@example.com", "a".repeat(MAX_EMAIL_BYTES));
        for bad in [
            long.as_str(),
            "ada\0@example.com",
            "ada@exam\u{7}ple.com",
            "ada@example.com\u{85}x",
            "not an address",
            "",
        ] {
            let error = canonical_email(bad).unwrap_err();
            assert_eq!(error.code, "invalid_email", "{bad:?}");
        }
    }
}
