//! Limits and input over HTTP, on a running generated app (contract section 3, "Everywhere", and
//! issue 7 items 5 to 9): one canonical form of an email address, the body limit, emails with a
//! NUL byte, the per-address limits of login and registration, and a stranger who cannot lock an
//! owner out.
//!
//! The servers trust loopback as a proxy (`TRUSTED_PROXIES` in `project.rs`), so each check
//! speaks for client addresses of its own with `X-Forwarded-For` (TEST-NET-2, 198.51.100.0/24),
//! apart from the walk's and from each other. Nothing here retries a 429: each one is asserted.

use serde_json::{Value, json};

use super::checks::{expect_error, expect_error_code, expect_json, expect_status};
use super::http::Response;
use super::walk::App;

/// Every check, in an order that leaves each one its own budgets.
pub fn checks(app: &App) {
    one_address_in_any_spelling_is_one_account_and_one_bucket(app);
    a_body_over_the_limit_is_413(app);
    an_email_with_a_nul_byte_is_422_everywhere(app);
    one_address_gets_a_limited_number_of_logins(app);
    one_address_gets_a_limited_number_of_registrations(app);
}

/// `POST path` with a JSON body, as the client at `address`.
fn post_from(app: &App, address: &str, path: &str, body: &Value) -> Response {
    app.client
        .post(path)
        .header("X-Forwarded-For", address)
        .json(body)
        .send()
}

const PASSWORD: &str = "limits passphrase 1";

#[track_caller]
fn expect_rate_limited(response: &Response, what: &str) {
    expect_error_code(response, 429, "rate_limited", what);
    let wait = response
        .header("retry-after")
        .and_then(|seconds| seconds.parse::<u64>().ok());
    assert!(
        wait.is_some_and(|seconds| seconds >= 1),
        "{what}: a 429 needs Retry-After in whole seconds:\n{response}"
    );
}

/// `ZOË@`, `zoë@` with the diaeresis composed or not, and a full-width `Ｚ`, are one account,
/// stored as `zoë@...`; `zoe@` is another one (MySQL's default collation would say they are the
/// same). Failed logins in one spelling count for them all; a stranger who spends that budget
/// from one address does not keep the owner out from another.
fn one_address_in_any_spelling_is_one_account_and_one_bucket(app: &App) {
    let owner = "198.51.100.10";
    let stranger = "198.51.100.11";
    let composed = "zoë@e2e.example.com";
    let spellings = [
        "ZOË@E2E.EXAMPLE.COM",
        "zoe\u{308}@e2e.example.com",
        "\u{ff3a}oë@e2e.example.com",
    ];
    let created = post_from(
        app,
        owner,
        "/register",
        &json!({"email": spellings[0], "password": PASSWORD}),
    );
    let user = expect_json(&created, 201, "POST /register ZOË@");
    assert_eq!(
        user["email"], composed,
        "the address is stored and shown in its canonical form: {user}"
    );
    for spelling in &spellings[1..] {
        expect_error_code(
            &post_from(
                app,
                owner,
                "/register",
                &json!({"email": spelling, "password": PASSWORD}),
            ),
            409,
            "email_taken",
            &format!("POST /register {spelling:?}, another spelling of {composed}"),
        );
    }
    let plain = post_from(
        app,
        owner,
        "/register",
        &json!({"email": "zoe@e2e.example.com", "password": PASSWORD}),
    );
    let plain = expect_json(&plain, 201, "POST /register zoe@ (no diaeresis)");
    assert_ne!(plain["id"], user["id"], "zoe@ and zoë@ are two accounts");

    // The stranger's failures in every spelling fill one bucket: five, then 429.
    for attempt in 0..5 {
        let spelling = spellings[attempt % spellings.len()];
        expect_error(
            &post_from(
                app,
                stranger,
                "/login",
                &json!({"email": spelling, "password": "a wrong guess"}),
            ),
            401,
            &format!("POST /login {spelling:?} with a wrong password, attempt {attempt}"),
        );
    }
    expect_rate_limited(
        &post_from(
            app,
            stranger,
            "/login",
            &json!({"email": composed, "password": "a wrong guess"}),
        ),
        "POST /login after five wrong passwords from one address",
    );
    // The owner, from another address, is not locked out: the right password gets as far as
    // "not verified" (said only to whom knows the password), not a 429.
    expect_error_code(
        &post_from(
            app,
            owner,
            "/login",
            &json!({"email": spellings[2], "password": PASSWORD}),
        ),
        403,
        "not_verified",
        "POST /login by the owner from another address while a stranger is limited",
    );
}

fn a_body_over_the_limit_is_413(app: &App) {
    let body = json!({"email": "big@e2e.example.com", "password": "x".repeat(64 * 1024)});
    let response = post_from(app, "198.51.100.20", "/login", &body);
    expect_error_code(
        &response,
        413,
        "body_too_large",
        "POST /login with a 64 KiB body",
    );
}

fn an_email_with_a_nul_byte_is_422_everywhere(app: &App) {
    let email = "nul\u{0}@e2e.example.com";
    let mut paths = vec!["/register", "/login", "/forgot-password", "/verify/resend"];
    if app.has_magic_link {
        paths.push("/magic-link");
    }
    for path in paths {
        let response = post_from(
            app,
            "198.51.100.21",
            path,
            &json!({"email": email, "password": PASSWORD}),
        );
        expect_error_code(
            &response,
            422,
            "invalid_email",
            &format!("POST {path} with a NUL byte in the email"),
        );
    }
    if app.has_totp {
        // No email there: the code is text like any other.
        let response = post_from(
            app,
            "198.51.100.21",
            "/login/totp",
            &json!({"mfa_token": "no-such-token", "code": "123\u{0}456"}),
        );
        expect_error_code(
            &response,
            422,
            "invalid_text",
            "POST /login/totp with a NUL byte in the code",
        );
    }
}

/// 30 logins at once from one address, whatever the accounts, then 429; another address is
/// not affected.
fn one_address_gets_a_limited_number_of_logins(app: &App) {
    let login = |address: &str, n: usize| {
        post_from(
            app,
            address,
            "/login",
            &json!({"email": format!("nobody{n}@e2e.example.com"), "password": PASSWORD}),
        )
    };
    let started = std::time::Instant::now();
    for n in 0..30 {
        expect_error(
            &login("198.51.100.30", n),
            401,
            &format!("POST /login number {n} from one address"),
        );
    }
    // The budget refills one login every 2 s: on a loaded machine the 30 logins above may take
    // long enough for a few more to be allowed, but never more than the time explains.
    let mut n = 30;
    loop {
        let response = login("198.51.100.30", n);
        if response.status == 429 {
            expect_rate_limited(&response, "POST /login past the budget from one address");
            break;
        }
        let refilled = started.elapsed().as_secs() as usize / 2 + 1;
        assert!(
            n < 30 + refilled,
            "POST /login number {} from one address in {:?}: expected HTTP 429 (at most {refilled} \
             refilled), got {}",
            n + 1,
            started.elapsed(),
            response.status
        );
        expect_error(
            &response,
            401,
            &format!("POST /login number {n} from one address"),
        );
        n += 1;
    }
    expect_error(
        &login("198.51.100.31", 0),
        401,
        "POST /login from another address",
    );
}

/// 10 registrations at once from one address, then 429; another address still registers.
fn one_address_gets_a_limited_number_of_registrations(app: &App) {
    let register = |address: &str, n: usize| {
        post_from(
            app,
            address,
            "/register",
            &json!({"email": format!("signup{n}@e2e.example.com"), "password": PASSWORD}),
        )
    };
    for n in 0..10 {
        expect_status(
            &register("198.51.100.40", n),
            201,
            &format!("POST /register number {n} from one address"),
        );
    }
    expect_rate_limited(
        &register("198.51.100.40", 10),
        "POST /register number 11 from one address",
    );
    expect_status(
        &register("198.51.100.41", 10),
        201,
        "POST /register from another address",
    );
}
