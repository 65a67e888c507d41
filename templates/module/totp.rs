//! Two-factor login with an authenticator app (TOTP, RFC 6238) and recovery codes: the secrets,
//! the codes, their tables, and the second step that every way to log in takes for a user who
//! turned it on (see `handlers/totp.rs` for the routes).
//!
//! - A secret is 160 random bits, stored encrypted (XChaCha20-Poly1305) under a key derived from
//!   `USERS_SECRET` with HKDF, bound to its user: a copy of the database alone yields no codes.
//!   Changing `USERS_SECRET` therefore turns every user's secret unreadable: their second step
//!   fails until `users disable-totp` turns it off for them.
//! - A code is six digits, good for its 30 s step and one step either way (clocks drift). A code
//!   is accepted once: the step of the last accepted code is kept, and only later steps pass.
//! - Recovery codes are 80 random bits each, shown once and stored as hashes, each good once.

{% filter sql(db=db) -%}
use argon2::password_hash::rand_core::{OsRng, RngCore};
use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use hkdf::Hkdf;
use serde::Serialize;
use sha2::Sha256;
use totp_rs::{Algorithm, TOTP};
use uuid::Uuid;

use super::{
    backend,
    config::{MFA_TOKEN_TTL, RECOVERY_CODES, TOTP_ISSUER},
    db::{self, Db},
    error::ApiError,
    model::User,
    tokens::{self, Purpose},
};

/// Bytes of a TOTP secret: 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
/// Seconds of one code's step.
const STEP_SECONDS: u64 = 30;
/// The characters of recovery codes (Crockford's base32: no `i`, `l`, `o` or `u` to misread).
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// What the HKDF expansion of `USERS_SECRET` is for: this key encrypts nothing else.
const KEY_INFO: &[u8] = b"cargo-users totp secret encryption v1";

/// The answer to the first step of a login for a user with two-factor login on (202): no
/// credential yet, only the token that the second step (`POST /login/totp`) must show with a code.
#[derive(Serialize{% if "openapi" in handlers %}, utoipa::ToSchema{% endif %})]
pub struct SecondStep {
    /// Always `true`.
    pub mfa_required: bool,
    /// The token of this login's second step: single use, for a few minutes.
    pub mfa_token: String,
}

/// A user's TOTP row.
#[derive(sqlx::FromRow)]
pub struct Stored {
    /// The encrypted secret (see [`encrypt_secret`]).
    pub secret: String,
    /// Whether two-factor login is on (`false` while an enrolment waits for its first code).
    pub enabled: bool,
    /// The step of the last code accepted.
    pub last_step: i64,
}

// ---------------------------------------------------------------------------------------------
// The second step of a login.

/// How the first step of a login ends: with a credential, or, for a user with two-factor login
/// on, with a token for the second step.
pub enum FirstStep {
    /// Two-factor login is off: the credential, answered as the backend answers a login.
    Issued(backend::Issued),
    /// It is on: no credential, a token for `POST /login/totp` (answered with 202).
    SecondStep(SecondStep),
}

impl IntoResponse for SecondStep {
    fn into_response(self) -> Response {
        (StatusCode::ACCEPTED, Json(self)).into_response()
    }
}

/// The second step of a login, when the user has two-factor login on (`None` when it is off).
///
/// Runs in the login's transaction, after the account's lock (`db::lock_user`): turning two-factor
/// login on locks the account too, so a login that read it as off before the owner's confirmation
/// committed sees it on here and gets no credential. Its token is stored in the same transaction,
/// so a new password, deactivation or address change that commits after it ends it
/// (`backend::revoke_all`), and one that committed before has already been seen by the caller's
/// checks. With `verified_hash` (a password login) it is stored only while that is still the user's
/// password hash; in any case only while the user is active (one conditional statement, as for a
/// credential).
pub async fn second_step(
    connection: &mut db::Connection,
    user: &User,
    verified_hash: Option<&str>,
) -> Result<Option<SecondStep>, ApiError> {
    if !is_on(&mut *connection, user.id).await? {
        return Ok(None);
    }
    let (token, token_hash) = tokens::generate();
    let stored = db::insert_credential(
        &mut *connection,
        user.id,
        Purpose::Mfa,
        &token_hash,
        db::expires_in(MFA_TOKEN_TTL),
        verified_hash,
    )
    .await?;
    if !stored {
        return Err(ApiError::invalid_credentials());
    }
    Ok(Some(SecondStep {
        mfa_required: true,
        mfa_token: token,
    }))
}

/// Whether the user has two-factor login on.
pub async fn is_on(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let enabled: Option<bool> =
        sqlx::query_scalar("SELECT enabled FROM user_totp WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(executor)
            .await?;
    Ok(enabled.unwrap_or(false))
}

/// The user's TOTP row, if they have one (on, or waiting for its first code).
pub async fn find(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user_id: Uuid,
) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query_as("SELECT secret, enabled, last_step FROM user_totp WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(executor)
        .await
}

// ---------------------------------------------------------------------------------------------
// Secrets and codes.

/// A new random secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0; SECRET_BYTES];
    OsRng.fill_bytes(&mut secret);
    secret
}

/// The code generator of a secret, labelled for `email` in authenticator apps.
pub fn generator(secret: Vec<u8>, email: &str) -> Result<TOTP, ApiError> {
    // The label's parts are separated by `:`, which an address could contain.
    let account = email.replace(':', "");
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECONDS,
        secret,
        Some(TOTP_ISSUER.to_owned()),
        account,
    )
    .map_err(|error| ApiError::internal(format!("TOTP: {error:?}")))
}

/// The step of `code` if it is the secret's code now, one step before or one after (clocks
/// drift), and later than `last_step`: a code is never accepted twice, nor one older than the
/// last accepted. `None` for anything else. Spaces in the code are ignored.
pub fn accepted_step(generator: &TOTP, code: &str, last_step: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let current = db::now().timestamp() / STEP_SECONDS as i64;
    // Newest first, so that a code that is good for two steps (one in a million) counts as the
    // later one.
    (current - 1..=current + 1)
        .rev()
        .filter(|step| *step > last_step)
        .find(|step| {
            let time = u64::try_from(step * STEP_SECONDS as i64).unwrap_or_default();
            same(generator.generate(time).as_bytes(), code.as_bytes())
        })
}

/// Compares in constant time: how long it takes does not tell how many digits were right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The key that encrypts the secrets: derived from `USERS_SECRET` (HKDF-SHA256), so the
/// database alone does not hold it.
fn encryption_key(users_secret: &str) -> chacha20poly1305::Key {
    let mut key = chacha20poly1305::Key::default();
    Hkdf::<Sha256>::new(None, users_secret.as_bytes())
        .expand(KEY_INFO, &mut key)
        .expect("32 bytes is a valid length for HKDF-SHA256");
    key
}

/// The secret encrypted for storage, base64: a random nonce and the ciphertext. The user's id is
/// authenticated with it, so a ciphertext copied into another user's row does not decrypt.
pub fn encrypt_secret(
    users_secret: &str,
    user_id: Uuid,
    secret: &[u8],
) -> Result<String, ApiError> {
    let cipher = XChaCha20Poly1305::new(&encryption_key(users_secret));
    let mut nonce = XNonce::default();
    OsRng.fill_bytes(&mut nonce);
    let payload = Payload {
        msg: secret,
        aad: user_id.as_bytes(),
    };
    let ciphertext = cipher
        .encrypt(&nonce, payload)
        .map_err(|_| ApiError::internal("the TOTP secret could not be encrypted"))?;
    let mut stored = nonce.to_vec();
    stored.extend_from_slice(&ciphertext);
    Ok(STANDARD.encode(stored))
}

/// The secret of a stored value, or `None` when it does not decrypt (another `USERS_SECRET`,
/// another user's row, a damaged value).
pub fn decrypt_secret(users_secret: &str, user_id: Uuid, stored: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(stored).ok()?;
    if bytes.len() <= 24 {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(24);
    let cipher = XChaCha20Poly1305::new(&encryption_key(users_secret));
    let payload = Payload {
        msg: ciphertext,
        aad: user_id.as_bytes(),
    };
    cipher.decrypt(XNonce::from_slice(nonce), payload).ok()
}

/// New recovery codes, as shown to the user (`abcd-efgh-jkmn-pqrs`: 16 characters of 5 bits).
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 16];
            OsRng.fill_bytes(&mut bytes);
            let mut code = String::with_capacity(19);
            for (index, byte) in bytes.iter().enumerate() {
                if index > 0 && index % 4 == 0 {
                    code.push('-');
                }
                // 256 is a multiple of 32: every character is equally likely.
                code.push(char::from(RECOVERY_ALPHABET[usize::from(byte % 32)]));
            }
            code
        })
        .collect()
}

/// The stored hash of a recovery code, as typed: letter case, dashes and spaces do not matter.
/// A fast hash is enough, as for tokens: 80 random bits leave nothing to brute-force.
pub fn recovery_code_hash(code: &str) -> String {
    let normalized: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    tokens::hash(&normalized)
}

// ---------------------------------------------------------------------------------------------
// The tables.

/// Stores a new secret waiting for its first code, replacing one that waited: 409 when two-factor
/// login is on already (the caller holds the user's lock).
pub async fn start(
    connection: &mut db::Connection,
    user_id: Uuid,
    encrypted_secret: &str,
) -> Result<(), ApiError> {
    if is_on(&mut *connection, user_id).await? {
        return Err(ApiError::conflict(
            "totp_already_on",
            "Two-factor login is on already; turn it off first to set up another app.",
        ));
    }
    sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *connection)
        .await?;
    sqlx::query(
        "INSERT INTO user_totp (user_id, secret, enabled, last_step, created_at) \
         VALUES ($1, $2, FALSE, 0, $3)",
    )
    .bind(user_id)
    .bind(encrypted_secret)
    .bind(db::now())
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Turns two-factor login on with the secret that `step`'s code proved (`encrypted_secret`, as
/// read: a newer enrolment meanwhile makes this fail) and stores the recovery codes' hashes.
/// Whether it was turned on.
pub async fn enable(
    connection: &mut db::Connection,
    user_id: Uuid,
    encrypted_secret: &str,
    step: i64,
    recovery_codes: &[String],
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE user_totp SET enabled = TRUE, last_step = $1 \
         WHERE user_id = $2 AND secret = $3 AND NOT enabled",
    )
    .bind(step)
    .bind(user_id)
    .bind(encrypted_secret)
    .execute(&mut *connection)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM user_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *connection)
        .await?;
    for code in recovery_codes {
        sqlx::query("INSERT INTO user_recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user_id)
            .bind(recovery_code_hash(code))
            .execute(&mut *connection)
            .await?;
    }
    Ok(true)
}

/// Records that the code of `step` was accepted, if it is later than the last one accepted:
/// whether it was (of two requests with one code, one gets `true`).
pub async fn use_step(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user_id: Uuid,
    step: i64,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE user_totp SET last_step = $1 WHERE user_id = $2 AND enabled AND last_step < $3",
    )
    .bind(step)
    .bind(user_id)
    .bind(step)
    .execute(executor)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Deletes the recovery code if the user has it: whether they had (a code works once).
pub async fn use_recovery_code(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user_id: Uuid,
    code: &str,
) -> Result<bool, sqlx::Error> {
    let deleted =
        sqlx::query("DELETE FROM user_recovery_codes WHERE user_id = $1 AND code_hash = $2")
            .bind(user_id)
            .bind(recovery_code_hash(code))
            .execute(executor)
            .await?;
    Ok(deleted.rows_affected() == 1)
}

/// Drops an enrolment that waits for its first code (not a second factor that is on): what a reset
/// of a verified account does, so that a secret set up by whoever held the old password cannot be
/// turned on afterwards. (A new password needs no such step: it ends every other session, and
/// only a session can confirm an enrolment.)
pub async fn drop_pending(
    executor: impl sqlx::Executor<'_, Database = Db>,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM user_totp WHERE user_id = $1 AND NOT enabled")
        .bind(user_id)
        .execute(executor)
        .await?;
    Ok(())
}

/// Turns two-factor login off: the secret (or an enrolment waiting for its first code), the
/// recovery codes and the logins waiting for their second step. Whether it was on.
pub async fn disable(connection: &mut db::Connection, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let was_on = is_on(&mut *connection, user_id).await?;
    sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *connection)
        .await?;
    sqlx::query("DELETE FROM user_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *connection)
        .await?;
    db::delete_user_tokens(&mut *connection, user_id, &[Purpose::Mfa], None).await?;
    Ok(was_on)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_decrypts_only_with_its_key_and_for_its_user() {
        let secret = new_secret();
        let user = Uuid::new_v4();
        let key = "k".repeat(32);
        let stored = encrypt_secret(&key, user, &secret).unwrap();
        assert_eq!(decrypt_secret(&key, user, &stored), Some(secret.clone()));
        assert_eq!(decrypt_secret(&"x".repeat(32), user, &stored), None);
        assert_eq!(decrypt_secret(&key, Uuid::new_v4(), &stored), None);
        // Nonces are random: the same secret is stored differently each time.
        assert_ne!(encrypt_secret(&key, user, &secret).unwrap(), stored);
    }

    #[test]
    fn a_code_is_accepted_for_its_step_and_the_next_only_after_the_last_accepted() {
        let generator = generator(new_secret(), "ada@example.com").unwrap();
        let now = u64::try_from(db::now().timestamp()).unwrap();
        let step = i64::try_from(now / STEP_SECONDS).unwrap();
        let code = generator.generate(now);
        assert_eq!(accepted_step(&generator, &code, 0), Some(step));
        assert_eq!(accepted_step(&generator, &code, step), None);
        let next = generator.generate(now + STEP_SECONDS);
        assert_eq!(accepted_step(&generator, &next, step), Some(step + 1));
        let old = generator.generate(now - 3 * STEP_SECONDS);
        assert_eq!(accepted_step(&generator, &old, 0), None);
        assert_eq!(accepted_step(&generator, "12345", 0), None);
        assert_eq!(accepted_step(&generator, "abcdef", 0), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_the_same_however_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        let code = &codes[0];
        assert_eq!(code.len(), 19);
        let typed = code.replace('-', " ").to_uppercase();
        assert_eq!(recovery_code_hash(&typed), recovery_code_hash(code));
        assert_ne!(recovery_code_hash(&codes[1]), recovery_code_hash(code));
    }
}
{%- endfilter %}
