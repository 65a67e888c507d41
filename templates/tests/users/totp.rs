//! Two-factor login: `POST /users/me/totp`, `POST /users/me/totp/confirm`,
//! `DELETE /users/me/totp`, and the second step of every way to log in, `POST /login/totp`.
//!
//! The codes are computed here as an authenticator app computes them (`totp-rs`, SHA-1, six
//! digits, 30 s steps). The server accepts one step either way, so the code of the next step is
//! a fresh code without waiting: a test that needs codes later than the last one accepted takes
//! them from `now + 30 s`, never from the past, which a step boundary could push out of reach.

use std::{collections::BTreeSet, num::NonZeroU32, time::Duration};

use axum::http::{Method, StatusCode, header};
use governor::Quota;
use serde_json::json;
use totp_rs::{Algorithm, Secret, TOTP};

use {{ crate_name }}::{{ module }}::{
{%- if app_mode %}
    cli::{self, UsersCommand, totp::TotpCommand},
{%- endif %}
    config::{RECOVERY_CODES, RateLimits},
    db,
    model::User,
{%- if "oauth2" in handlers %}
    oauth2::{OAuth2Client, OAuth2Provider, ProviderTokens, link_account},
{%- endif %}
    tokens::Purpose,
    totp,
};

{% if "oauth2" in handlers -%}
use crate::support::{
    Credential, PASSWORD, TestApp, TestResponse, app, app_with_limits, app_with_state,
};
{%- else -%}
use crate::support::{Credential, PASSWORD, TestApp, TestResponse, app, app_with_limits};
{%- endif %}

/// The code an authenticator app shows for `secret` (base32, as enrolment answers it), `steps`
/// 30 s steps from now. (`openapi.rs` uses it too.)
pub fn code(secret: &str, steps: i64) -> String {
    let key = Secret::Encoded(secret.to_owned())
        .to_bytes()
        .expect("a base32 secret");
    let totp = TOTP::new(Algorithm::SHA1, 6, 1, 30, key, None, String::new())
        .expect("a secret of at least 128 bits");
    let at = chrono::Utc::now().timestamp() + 30 * steps;
    totp.generate(u64::try_from(at).expect("a time after 1970"))
}

/// Six digits that are none of the codes the server could accept now.
fn wrong_code(secret: &str) -> String {
    let accepted: Vec<String> = (-2..=2).map(|steps| code(secret, steps)).collect();
    (0..)
        .map(|n| format!("{n:06}"))
        .find(|candidate| !accepted.contains(candidate))
        .expect("a wrong code")
}

/// A verified, active account with two-factor login on.
struct Enrolled {
    user: User,
    /// The credential of the login that turned two-factor login on.
    credential: Credential,
    /// The secret, base32, as the authenticator app got it.
    secret: String,
    /// The code that turned it on.
    confirmed_with: String,
    recovery_codes: Vec<String>,
}

/// `POST /users/me/totp` with the right password: the new secret.
async fn start_enrolment(app: &TestApp, credential: &Credential) -> String {
    let request = json!({ "current_password": PASSWORD });
    let response = app.post_as("/users/me/totp", request, credential).await;
    response.assert_status(StatusCode::OK);
    response.body["secret"]
        .as_str()
        .expect("a secret")
        .to_owned()
}

/// `POST /users/me/totp/confirm` with `code`.
async fn confirm(app: &TestApp, credential: &Credential, code: &str) -> TestResponse {
    let request = json!({ "code": code });
    app.post_as("/users/me/totp/confirm", request, credential)
        .await
}

/// Creates `email`, logs in, and turns two-factor login on with the code `steps` steps from now.
async fn enrolled(app: &TestApp, email: &str, steps: i64) -> Enrolled {
    let (user, credential) = app.logged_in_user(email).await;
    let secret = start_enrolment(app, &credential).await;
    let confirmed_with = code(&secret, steps);
    let response = confirm(app, &credential, &confirmed_with).await;
    response.assert_status(StatusCode::OK);
    let recovery_codes = response.body["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|code| code.as_str().expect("a code").to_owned())
        .collect();
    Enrolled {
        user,
        credential,
        secret,
        confirmed_with,
        recovery_codes,
    }
}

/// Asserts the answer of a first step for an account with two-factor login on: 202 with
/// `{"mfa_required": true, "mfa_token"}` and no credential at all (no cookie of it, no
/// `Authorization` header, no token or user in the body). Returns the mfa token.
#[track_caller]
fn assert_mfa_required(response: &TestResponse) -> String {
    response.assert_status(StatusCode::ACCEPTED);
    assert_eq!(response.body["mfa_required"], true, "{}", response.body);
    let token = response.body["mfa_token"].as_str().expect("an mfa token");
    assert_eq!(token.len(), 43, "{token}");
    assert!(
        response.body.get("access_token").is_none(),
        "{}",
        response.body
    );
    assert!(response.body.get("user").is_none(), "{}", response.body);
    assert!(response.headers.get(header::AUTHORIZATION).is_none());
    // Only the state cookie of a provider login (cleared) may come with it.
    for cookie in response.headers.get_all(header::SET_COOKIE) {
        let cookie = cookie.to_str().unwrap_or_default();
        assert!(
            cookie.starts_with("oauth2_state="),
            "a cookie with the 202: {cookie}"
        );
    }
    token.to_owned()
}

/// `POST /login` with the password of an account with two-factor login on: its mfa token.
async fn first_step(app: &TestApp, email: &str, password: &str) -> String {
    let response = app
        .post("/login", json!({ "email": email, "password": password }))
        .await;
    assert_mfa_required(&response)
}

/// `POST /login/totp`.
async fn second_step(app: &TestApp, mfa_token: &str, code: &str) -> TestResponse {
    let request = json!({ "mfa_token": mfa_token, "code": code });
    app.post("/login/totp", request).await
}

/// Asserts that `response` is a login of `email` as `POST /login` answers it, whose credential
/// works.
async fn assert_logged_in(app: &TestApp, response: &TestResponse, email: &str) {
    response.assert_status(StatusCode::CREATED);
    assert_eq!(response.body["user"]["email"], email);
    assert!(response.body.get("mfa_token").is_none());
{%- if backend == "jwt" %}
    assert_eq!(response.body["token_type"], "bearer");
{%- endif %}
    let credential = Credential::from_login(response);
{%- if "current-user" in handlers %}
    let me = app.get("/users/me", Some(&credential)).await;
    me.assert_status(StatusCode::OK);
    assert_eq!(me.body["email"], email);
{%- endif %}
    app.post_as("/logout", json!({}), &credential)
        .await
        .assert_status(StatusCode::NO_CONTENT);
}

/// `DELETE /users/me/totp` with `password` as the current one.
async fn turn_off(app: &TestApp, credential: &Credential, password: &str) -> TestResponse {
    let request = json!({ "current_password": password });
    app.send(
        Method::DELETE,
        "/users/me/totp",
        Some(request),
        Some(credential),
        &[],
    )
    .await
}

/// Whether the user has two-factor login on, as the database says.
async fn is_on(app: &TestApp, user: &User) -> bool {
    totp::is_on(&app.state.db, user.id)
        .await
        .expect("a look-up")
}

/// How many recovery codes of the user are stored (the unused ones).
async fn stored_recovery_codes(app: &TestApp, user: &User) -> usize {
    let sql = {% filter sql(db=db) %}"SELECT COUNT(*) FROM user_recovery_codes WHERE user_id = $1"{% endfilter %};
    let count: i64 = sqlx::query_scalar(sql)
        .bind(user.id)
        .fetch_one(&app.state.db)
        .await
        .expect("a count");
    usize::try_from(count).expect("a count")
}

// ---------------------------------------------------------------------------------------------
// Turning it on and off.

#[tokio::test]
async fn enrolment_answers_a_secret_and_its_url_and_changes_nothing_until_confirmed() {
    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    let request = json!({ "current_password": PASSWORD });
    let response = app.post_as("/users/me/totp", request, &credential).await;
    response.assert_status(StatusCode::OK);
    let secret = response.body["secret"].as_str().expect("a secret");
    assert!(
        secret.len() >= 26 && !secret.contains('='),
        "not unpadded base32 of 128 bits or more: {secret}"
    );
    let url = response.body["otpauth_url"].as_str().expect("a URL");
    assert!(url.starts_with("otpauth://totp/"), "{url}");
    assert!(url.contains(&format!("secret={secret}")), "{url}");
    assert!(url.contains("issuer="), "{url}");
    assert!(url.contains("example.com"), "{url}");
    // Not on yet: the password alone still logs in.
    assert!(!is_on(&app, &user).await);
    app.login("ada@example.com", PASSWORD).await;
    // Asking again replaces the secret that waits: the first one's codes do not confirm.
    let second = start_enrolment(&app, &credential).await;
    assert_ne!(second, secret);
    let stale = code(secret, 0);
    if !(-1..=1).any(|steps| code(&second, steps) == stale) {
        confirm(&app, &credential, &stale)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_code");
    }
    confirm(&app, &credential, &code(&second, 0))
        .await
        .assert_status(StatusCode::OK);
    assert!(is_on(&app, &user).await);
}

#[tokio::test]
async fn enrolment_needs_a_credential_and_the_current_password() {
    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    let request = json!({ "current_password": PASSWORD });
    app.send(Method::POST, "/users/me/totp", Some(request), None, &[])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    let wrong = json!({ "current_password": "not the password" });
    app.post_as("/users/me/totp", wrong, &credential)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_current_password");
    app.post_as("/users/me/totp", json!({}), &credential)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    // Nothing was started.
    confirm(&app, &credential, "123456")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "no_pending_totp");
    assert!(!is_on(&app, &user).await);
}

#[tokio::test]
async fn confirming_with_a_wrong_code_or_with_nothing_pending_is_400() {
    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    confirm(&app, &credential, "123456")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "no_pending_totp");
    let secret = start_enrolment(&app, &credential).await;
    confirm(&app, &credential, &wrong_code(&secret))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_code");
    assert!(!is_on(&app, &user).await);
    // The wrong code left the enrolment waiting: the right one turns it on.
    confirm(&app, &credential, &code(&secret, 0))
        .await
        .assert_status(StatusCode::OK);
    // On already: nothing waits any more.
    confirm(&app, &credential, &code(&secret, 1))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "no_pending_totp");
}

#[tokio::test]
async fn confirming_turns_it_on_and_gives_distinct_recovery_codes_once() {
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    assert!(is_on(&app, &ada.user).await);
    assert_eq!(RECOVERY_CODES, 10);
    assert_eq!(ada.recovery_codes.len(), RECOVERY_CODES);
    let distinct: BTreeSet<&String> = ada.recovery_codes.iter().collect();
    assert_eq!(distinct.len(), RECOVERY_CODES, "{:?}", ada.recovery_codes);
    // `abcd-efgh-jkmn-pqrs`: four groups of four characters of Crockford's base32, lowercase.
    let alphabet = "0123456789abcdefghjkmnpqrstvwxyz";
    for recovery_code in &ada.recovery_codes {
        let groups: Vec<&str> = recovery_code.split('-').collect();
        assert_eq!(groups.len(), 4, "{recovery_code}");
        assert!(
            groups
                .iter()
                .all(|group| group.len() == 4 && group.chars().all(|c| alphabet.contains(c))),
            "{recovery_code}"
        );
    }
    assert_eq!(stored_recovery_codes(&app, &ada.user).await, RECOVERY_CODES);
}

#[tokio::test]
async fn the_secret_is_stored_encrypted_and_the_recovery_codes_as_hashes() {
    use base64::{
        Engine,
        engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
    };

    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    let sql = {% filter sql(db=db) %}"SELECT secret FROM user_totp WHERE user_id = $1"{% endfilter %};
    let stored: String = sqlx::query_scalar(sql)
        .bind(ada.user.id)
        .fetch_one(&app.state.db)
        .await
        .expect("a stored secret");
    assert!(
        !stored.to_uppercase().contains(&ada.secret.to_uppercase()),
        "the secret is stored as the app got it: {stored}"
    );
    // Nor its bytes, as they are, in hex or under some base64.
    let key = Secret::Encoded(ada.secret.clone())
        .to_bytes()
        .expect("a base32 secret");
    let hex: String = key.iter().map(|byte| format!("{byte:02x}")).collect();
    assert!(!stored.to_lowercase().contains(&hex), "{stored}");
    let mut forms = vec![stored.as_bytes().to_vec()];
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        forms.extend(engine.decode(&stored).ok());
    }
    for form in &forms {
        assert!(
            !form
                .windows(key.len())
                .any(|window| window == key.as_slice()),
            "the secret's bytes are in the stored {stored}"
        );
    }
    assert_eq!(stored_recovery_codes(&app, &ada.user).await, RECOVERY_CODES);
    let sql = {% filter sql(db=db) %}"SELECT COUNT(*) FROM user_recovery_codes \
        WHERE code_hash LIKE $1 OR code_hash LIKE $2"{% endfilter %};
    for recovery_code in &ada.recovery_codes {
        let bare = recovery_code.replace('-', "");
        let found: i64 = sqlx::query_scalar(sql)
            .bind(format!("%{recovery_code}%"))
            .bind(format!("%{bare}%"))
            .fetch_one(&app.state.db)
            .await
            .expect("a count");
        assert_eq!(
            found, 0,
            "the recovery code {recovery_code} is stored as it is"
        );
    }
}

#[tokio::test]
async fn turning_it_on_when_it_is_on_already_is_409() {
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    let request = json!({ "current_password": PASSWORD });
    app.post_as("/users/me/totp", request, &ada.credential)
        .await
        .assert_error(StatusCode::CONFLICT, "totp_already_on");
    // The secret in use is untouched.
    let mfa_token = first_step(&app, "ada@example.com", PASSWORD).await;
    let response = second_step(&app, &mfa_token, &code(&ada.secret, 1)).await;
    assert_logged_in(&app, &response, "ada@example.com").await;
}

#[tokio::test]
async fn turning_it_off_needs_the_password_and_brings_back_the_password_login() {
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    let waiting = first_step(&app, "ada@example.com", PASSWORD).await;
    turn_off(&app, &ada.credential, "not the password")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_current_password");
    assert!(is_on(&app, &ada.user).await);
    turn_off(&app, &ada.credential, PASSWORD)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    assert!(!is_on(&app, &ada.user).await);
    assert_eq!(stored_recovery_codes(&app, &ada.user).await, 0);
    // The login that waited for its code is gone with it.
    second_step(&app, &waiting, &code(&ada.secret, 1))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_mfa_token");
    app.login("ada@example.com", PASSWORD).await;
    turn_off(&app, &ada.credential, PASSWORD)
        .await
        .assert_error(StatusCode::NOT_FOUND, "totp_not_on");
}

#[tokio::test]
async fn turning_off_an_enrolment_that_waits_for_its_code_drops_it_and_is_404() {
    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    let secret = start_enrolment(&app, &credential).await;
    turn_off(&app, &credential, PASSWORD)
        .await
        .assert_error(StatusCode::NOT_FOUND, "totp_not_on");
    confirm(&app, &credential, &code(&secret, 0))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "no_pending_totp");
    assert!(!is_on(&app, &user).await);
    app.login("ada@example.com", PASSWORD).await;
}

// ---------------------------------------------------------------------------------------------
// The two steps of a login.

#[tokio::test]
async fn a_password_login_with_totp_on_answers_202_with_an_mfa_token_and_no_credential() {
    let app = app().await;
    enrolled(&app, "ada@example.com", 0).await;
    let response = app
        .post(
            "/login",
            json!({ "email": "ADA@example.com", "password": PASSWORD }),
        )
        .await;
    let mfa_token = assert_mfa_required(&response);
    // The mfa token is no credential.
    let carried = Credential::raw(&mfa_token);
{%- if "current-user" in handlers %}
    app.get("/users/me", Some(&carried))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
{%- endif %}
    app.post_as("/logout", json!({}), &carried)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    // A wrong password is refused as before, without a second step.
    app.post(
        "/login",
        json!({ "email": "ada@example.com", "password": "not the password" }),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

/// The owner's confirmation ends every other session; a password login that read two-factor login
/// as off while the confirmation was in flight must not come out of it with a credential.
#[tokio::test]
async fn a_password_login_racing_the_owner_turning_it_on_gets_no_credential() {
    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    start_enrolment(&app, &credential).await;
    // The owner's confirmation in flight: it holds the account, has turned two-factor login on,
    // and commits later.
    let mut turning_on = db::begin(&app.state.db).await.expect("a transaction");
    db::lock_user(&mut turning_on, user.id)
        .await
        .expect("the account's lock")
        .expect("the account");
    let pending = totp::find(&mut *turning_on, user.id)
        .await
        .expect("a query")
        .expect("the enrolment");
    let turned_on = totp::enable(&mut turning_on, user.id, &pending.secret, 0, &[])
        .await
        .expect("an update");
    assert!(turned_on);
    // Meanwhile the password is used (by whoever else knows it).
    let login = app.post(
        "/login",
        json!({ "email": "ada@example.com", "password": PASSWORD }),
    );
    let commit = async {
        app.wait_until_a_write_waits().await;
        db::finish(turning_on, Ok(()))
            .await
            .expect("the confirmation commits");
    };
    let (response, ()) = tokio::join!(login, commit);
    assert_mfa_required(&response);
}

#[tokio::test]
async fn a_deactivated_account_is_refused_at_either_step() {
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    let mfa_token = first_step(&app, "ada@example.com", PASSWORD).await;
    // Deactivated behind the app's back, after the first step: the second checks again.
    let sql = {% filter sql(db=db) %}"UPDATE users SET is_active = FALSE WHERE id = $1"{% endfilter %};
    sqlx::query(sql)
        .bind(ada.user.id)
        .execute(&app.state.db)
        .await
        .expect("a deactivation");
    let response = second_step(&app, &mfa_token, &code(&ada.secret, 1)).await;
    response.assert_error(StatusCode::FORBIDDEN, "inactive");
    assert!(response.headers.get(header::SET_COOKIE).is_none());
    assert!(response.headers.get(header::AUTHORIZATION).is_none());
    app.post(
        "/login",
        json!({ "email": "ada@example.com", "password": PASSWORD }),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "inactive");
}

#[tokio::test]
async fn the_second_step_with_the_current_code_logs_in_as_login_does() {
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    let mfa_token = first_step(&app, "ada@example.com", PASSWORD).await;
    // A wrong code leaves the token for another try.
    second_step(&app, &mfa_token, &wrong_code(&ada.secret))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_code");
    let response = second_step(&app, &mfa_token, &code(&ada.secret, 1)).await;
    assert_eq!(response.body["user"]["id"], ada.user.id.to_string());
    assert!(response.body["user"].get("password_hash").is_none());
    assert_logged_in(&app, &response, "ada@example.com").await;
}

#[tokio::test]
async fn the_mfa_token_works_once() {
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    let mfa_token = first_step(&app, "ada@example.com", PASSWORD).await;
    second_step(&app, &mfa_token, &code(&ada.secret, 1))
        .await
        .assert_status(StatusCode::CREATED);
    // With a good code (an unused recovery code), only the token can be at fault.
    second_step(&app, &mfa_token, &ada.recovery_codes[0])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_mfa_token");
    assert_eq!(
        stored_recovery_codes(&app, &ada.user).await,
        RECOVERY_CODES,
        "the refused second step used up the recovery code"
    );
}

#[tokio::test]
async fn an_unknown_expired_or_foreign_mfa_token_is_401() {
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    let fresh = code(&ada.secret, 1);
    second_step(&app, "not-a-token", &fresh)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_mfa_token");
    // A real one whose five minutes are over.
    let expiring = first_step(&app, "ada@example.com", PASSWORD).await;
    let past = db::now() - chrono::Duration::seconds(1);
    app.set_token_expiry(&ada.user, Purpose::Mfa, past).await;
    second_step(&app, &expiring, &fresh)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_mfa_token");
    let expired = app
        .stored_token(&ada.user, Purpose::Mfa, chrono::Duration::seconds(-1))
        .await;
    second_step(&app, &expired, &fresh)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_mfa_token");
    // A mailed token of another purpose is not an mfa token.
    let verify = app
        .stored_token(&ada.user, Purpose::Verify, chrono::Duration::minutes(5))
        .await;
    second_step(&app, &verify, &fresh)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_mfa_token");
    app.post("/login/totp", json!({ "code": fresh }))
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    // The control: a stored mfa token that has not expired logs in with the same code, which
    // the refused attempts did not use up.
    let planted = app
        .stored_token(&ada.user, Purpose::Mfa, chrono::Duration::minutes(5))
        .await;
    let response = second_step(&app, &planted, &fresh).await;
    assert_logged_in(&app, &response, "ada@example.com").await;
}

#[tokio::test]
async fn a_replayed_code_and_an_older_code_are_401() {
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    let next = code(&ada.secret, 1);
    let mfa_token = first_step(&app, "ada@example.com", PASSWORD).await;
    second_step(&app, &mfa_token, &next)
        .await
        .assert_status(StatusCode::CREATED);
    let mfa_token = first_step(&app, "ada@example.com", PASSWORD).await;
    second_step(&app, &mfa_token, &next)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_code");
    // The code of the step before the last accepted one is still within the clock's skew, but
    // older than what was accepted.
    second_step(&app, &mfa_token, &code(&ada.secret, 0))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_code");
    // The token is still good for a right code.
    let response = second_step(&app, &mfa_token, &ada.recovery_codes[0]).await;
    assert_logged_in(&app, &response, "ada@example.com").await;
}

#[tokio::test]
async fn of_two_logins_racing_with_one_code_only_one_gets_in() {
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    let next = code(&ada.secret, 1);
    let mut requests = Vec::new();
    for _ in 0..2 {
        let mfa_token = first_step(&app, "ada@example.com", PASSWORD).await;
        let request = json!({ "mfa_token": mfa_token, "code": next });
        requests.push(("/login/totp".to_owned(), request));
    }
    let answers = app.post_all_at_once(requests).await;
    let mut statuses: Vec<StatusCode> = answers.iter().map(|answer| answer.status).collect();
    statuses.sort();
    let bodies: Vec<String> = answers
        .iter()
        .map(|answer| answer.body.to_string())
        .collect();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::UNAUTHORIZED],
        "{bodies:?}"
    );
}

#[tokio::test]
async fn the_code_that_confirmed_enrolment_does_not_log_in() {
    let app = app().await;
    // Confirmed with the code of the next step, which is still good for a minute.
    let ada = enrolled(&app, "ada@example.com", 1).await;
    let mfa_token = first_step(&app, "ada@example.com", PASSWORD).await;
    second_step(&app, &mfa_token, &ada.confirmed_with)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_code");
    // Nor does the code before it.
    second_step(&app, &mfa_token, &code(&ada.secret, 0))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_code");
    // The token is still good for a right code.
    let response = second_step(&app, &mfa_token, &ada.recovery_codes[0]).await;
    assert_logged_in(&app, &response, "ada@example.com").await;
}

#[tokio::test]
async fn a_recovery_code_works_once_in_any_letter_case_with_or_without_dashes() {
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    let first = &ada.recovery_codes[0];
    let mfa_token = first_step(&app, "ada@example.com", PASSWORD).await;
    let typed = first.to_uppercase().replace('-', "");
    let response = second_step(&app, &mfa_token, &typed).await;
    assert_logged_in(&app, &response, "ada@example.com").await;
    assert_eq!(
        stored_recovery_codes(&app, &ada.user).await,
        RECOVERY_CODES - 1
    );
    let mfa_token = first_step(&app, "ada@example.com", PASSWORD).await;
    second_step(&app, &mfa_token, first)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_code");
    // The others still work, typed with spaces.
    let spaced = ada.recovery_codes[1].replace('-', " ");
    let response = second_step(&app, &mfa_token, &spaced).await;
    assert_logged_in(&app, &response, "ada@example.com").await;
}

/// Limits with `burst` wrong codes per account, then one every ten minutes.
fn second_factor_limits(burst: u32) -> RateLimits {
    let quota = Quota::with_period(Duration::from_secs(600))
        .unwrap()
        .allow_burst(NonZeroU32::new(burst).unwrap());
    RateLimits {
        second_factor: quota,
        ..RateLimits::default()
    }
}

#[tokio::test]
async fn wrong_codes_at_the_second_step_get_429_with_retry_after() {
    let app = app_with_limits(second_factor_limits(2)).await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    let mfa_token = first_step(&app, "ada@example.com", PASSWORD).await;
    let wrong = wrong_code(&ada.secret);
    for _ in 0..2 {
        second_step(&app, &mfa_token, &wrong)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_code");
    }
    let limited = second_step(&app, &mfa_token, &wrong).await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    // Nor does the right code get around the limit, nor a new first step.
    second_step(&app, &mfa_token, &code(&ada.secret, 1))
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let again = first_step(&app, "ada@example.com", PASSWORD).await;
    second_step(&app, &again, &ada.recovery_codes[0])
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

#[tokio::test]
async fn wrong_passwords_at_enrolment_get_429() {
    let quota = Quota::with_period(Duration::from_secs(600))
        .unwrap()
        .allow_burst(NonZeroU32::new(2).unwrap());
    let app = app_with_limits(RateLimits {
        per_account_address: quota,
        per_account: quota,
        ..RateLimits::default()
    })
    .await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    let wrong = json!({ "current_password": "not the password" });
    for _ in 0..2 {
        app.post_as("/users/me/totp", wrong.clone(), &credential)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_current_password");
    }
    let right = json!({ "current_password": PASSWORD });
    let limited = app.post_as("/users/me/totp", right, &credential).await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn wrong_codes_at_confirmation_get_429_too() {
    let app = app_with_limits(second_factor_limits(2)).await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    let secret = start_enrolment(&app, &credential).await;
    let wrong = wrong_code(&secret);
    for _ in 0..2 {
        confirm(&app, &credential, &wrong)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_code");
    }
    let limited = confirm(&app, &credential, &wrong).await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    confirm(&app, &credential, &code(&secret, 0))
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(!is_on(&app, &user).await);
}
{%- if "current-user" in handlers %}

#[tokio::test]
async fn a_new_password_ends_the_logins_waiting_for_their_code() {
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    let waiting = first_step(&app, "ada@example.com", PASSWORD).await;
    let change = json!({ "password": "a brand new password", "current_password": PASSWORD });
    app.patch_as("/users/me", change, &ada.credential)
        .await
        .assert_status(StatusCode::OK);
    let fresh = code(&ada.secret, 1);
    second_step(&app, &waiting, &fresh)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_mfa_token");
    // Two-factor login stays on: the new password starts a second step that the code finishes.
    let mfa_token = first_step(&app, "ada@example.com", "a brand new password").await;
    let response = second_step(&app, &mfa_token, &fresh).await;
    assert_logged_in(&app, &response, "ada@example.com").await;
}
{%- endif %}

#[tokio::test]
async fn turning_it_on_ends_every_other_session_of_the_user() {
    // A session taken before (a browser left open, a stolen cookie) must not go on without the
    // second factor.
    let app = app().await;
    let (_, other) = app.logged_in_user("ada@example.com").await;
    let credential = app.login("ada@example.com", PASSWORD).await;
    let secret = start_enrolment(&app, &credential).await;
    confirm(&app, &credential, &code(&secret, 0))
        .await
        .assert_status(StatusCode::OK);
    app.post_as("/logout", json!({}), &other)
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    // The session that turned it on goes on.
    app.post_as("/logout", json!({}), &credential)
        .await
        .assert_status(StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn turning_it_on_or_off_mails_the_user_a_notice() {
    // An owner whose password someone else used learns that the second factor changed.
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    app.wait_for_mails("ada@example.com", 1).await;
    let notices = || {
        app.state
            .mailer
            .sent()
            .iter()
            .filter(|mail| mail.to == "ada@example.com")
            .map(|mail| mail.body.clone())
            .collect::<Vec<_>>()
    };
    assert!(notices()[0].contains("turned on"), "{:?}", notices());
    turn_off(&app, &ada.credential, PASSWORD)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    app.wait_for_mails("ada@example.com", 2).await;
    assert!(notices()[1].contains("turned off"), "{:?}", notices());
}

#[tokio::test]
async fn an_account_unverified_between_the_two_steps_is_refused_at_the_second() {
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    let mfa_token = first_step(&app, "ada@example.com", PASSWORD).await;
    let sql = {% filter sql(db=db) %}"UPDATE users SET is_verified = FALSE WHERE id = $1"{% endfilter %};
    sqlx::query(sql)
        .bind(ada.user.id)
        .execute(&app.state.db)
        .await
        .expect("an unverified account");
    second_step(&app, &mfa_token, &code(&ada.secret, 1))
        .await
        .assert_error(StatusCode::FORBIDDEN, "not_verified");
}
{%- if "password-reset" in handlers %}

#[tokio::test]
async fn a_password_reset_keeps_the_second_factor_of_a_verified_account() {
    // The reset link proves the mailbox, not the authenticator app: whoever reads the mails must
    // still not get in without a code.
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    app.post("/forgot-password", json!({ "email": "ada@example.com" }))
        .await
        .assert_status(StatusCode::ACCEPTED);
    let token = app.mailed_token("ada@example.com", "/reset-password").await;
    let reset = json!({ "token": token, "password": "a brand new password" });
    app.post("/reset-password", reset)
        .await
        .assert_status(StatusCode::OK);
    assert!(is_on(&app, &ada.user).await);
    assert_eq!(stored_recovery_codes(&app, &ada.user).await, RECOVERY_CODES);
    let mfa_token = first_step(&app, "ada@example.com", "a brand new password").await;
    let response = second_step(&app, &mfa_token, &code(&ada.secret, 1)).await;
    assert_logged_in(&app, &response, "ada@example.com").await;
}
{%- endif %}
{%- if "verify" in handlers %}

#[tokio::test]
async fn proving_an_unverified_address_drops_the_second_factor_set_up_before() {
    // Whoever set up the second factor of an address nobody had proved is not its owner for
    // sure: the owner who proves it does not inherit that second factor.
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    let sql = {% filter sql(db=db) %}"UPDATE users SET is_verified = FALSE WHERE id = $1"{% endfilter %};
    sqlx::query(sql)
        .bind(ada.user.id)
        .execute(&app.state.db)
        .await
        .expect("an unverified account");
    let token = app
        .stored_token(&ada.user, Purpose::Verify, chrono::Duration::hours(1))
        .await;
    app.post("/verify", json!({ "token": token }))
        .await
        .assert_status(StatusCode::OK);
    assert!(!is_on(&app, &ada.user).await);
    assert_eq!(stored_recovery_codes(&app, &ada.user).await, 0);
}
{%- endif %}
{%- if "magic-link" in handlers %}

#[tokio::test]
async fn a_login_link_of_a_totp_user_answers_202_and_the_code_finishes_it() {
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    app.post("/magic-link", json!({ "email": "ada@example.com" }))
        .await
        .assert_status(StatusCode::ACCEPTED);
    let token = app.mailed_token("ada@example.com", "/magic-link").await;
    let link = json!({ "token": token });
    let response = app.post("/magic-link/login", link.clone()).await;
    let mfa_token = assert_mfa_required(&response);
    // The link is spent all the same.
    app.post("/magic-link/login", link)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
    let response = second_step(&app, &mfa_token, &code(&ada.secret, 1)).await;
    assert_logged_in(&app, &response, "ada@example.com").await;
}
{%- endif %}
{%- if "oauth2" in handlers %}

#[tokio::test]
async fn a_provider_login_of_a_totp_user_answers_202_and_the_code_finishes_it() {
    let provider = start_provider().await;
    let mock = OAuth2Provider::generic(
        "mock",
        "test-client",
        "test-client-secret",
        format!("{provider}/authorize"),
        format!("{provider}/token"),
        format!("{provider}/userinfo"),
    );
    let client = OAuth2Client::new(vec![mock]).expect("a valid provider");
    let app = app_with_state(move |state| state.oauth2 = client).await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    // The provider account `42` is Ada's (linked as an earlier provider login links it).
    let tokens = ProviderTokens {
        access_token: "an access token".to_owned(),
        refresh_token: None,
        expires_at: None,
    };
    link_account(&app.state.db, "mock", "42", ada.user.id, &tokens)
        .await
        .expect("a link");
    let started = app.get("/oauth2/mock/authorize", None).await;
    started.assert_status(StatusCode::OK);
    let url = started.body["authorization_url"]
        .as_str()
        .expect("an authorization URL");
    let state = reqwest::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
        .expect("a state");
    let cookie = started.headers[header::SET_COOKIE]
        .to_str()
        .expect("a cookie")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let path = format!("/oauth2/mock/callback?code=consented&state={state}");
    let response = app
        .send(Method::GET, &path, None, None, &[("cookie", &cookie)])
        .await;
    let mfa_token = assert_mfa_required(&response);
    // The login at the provider is spent as before: its state cookie is cleared.
    let cleared = response
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|cookie| cookie.starts_with("oauth2_state=;") && cookie.contains("Max-Age=0"));
    assert!(cleared, "the state cookie stays: {:?}", response.headers);
    let response = second_step(&app, &mfa_token, &code(&ada.secret, 1)).await;
    assert_logged_in(&app, &response, "ada@example.com").await;
}

/// A provider on loopback that gives a token for any code and says that the person is the
/// account `42`, `ada@example.com`, verified; its base URL. (`oauth2.rs` tests the flow's checks
/// against a stricter one.)
async fn start_provider() -> String {
    use axum::{
        Json, Router,
        routing::{get, post},
    };

    let router = Router::new()
        .route(
            "/token",
            post(|| async {
                Json(json!({
                    "access_token": "an access token",
                    "token_type": "Bearer",
                    "expires_in": 3600,
                }))
            }),
        )
        .route(
            "/userinfo",
            get(|| async {
                Json(json!({ "sub": "42", "email": "ada@example.com", "email_verified": true }))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}
{%- endif %}
{%- if app_mode %}

#[tokio::test]
async fn the_disable_totp_command_turns_it_off_and_says_so() {
    let app = app().await;
    let ada = enrolled(&app, "ada@example.com", 0).await;
    let waiting = first_step(&app, "ada@example.com", PASSWORD).await;
    let disable = |email: &str| {
        UsersCommand::Totp(TotpCommand::DisableTotp {
            email: email.to_owned(),
        })
    };
    let said = cli::run(&app.state, disable("ADA@example.com"))
        .await
        .expect("turned off");
    assert_eq!(said, "turned two-factor login off for ada@example.com");
    assert!(!is_on(&app, &ada.user).await);
    assert_eq!(stored_recovery_codes(&app, &ada.user).await, 0);
    second_step(&app, &waiting, &code(&ada.secret, 1))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_mfa_token");
    app.login("ada@example.com", PASSWORD).await;
    let said = cli::run(&app.state, disable("ada@example.com"))
        .await
        .expect("no error");
    assert_eq!(
        said,
        "ada@example.com has no two-factor login; nothing changed"
    );
    let error = cli::run(&app.state, disable("nobody@example.com"))
        .await
        .expect_err("an unknown email");
    assert_eq!(error, "no account with the email nobody@example.com");
}
{%- endif %}
