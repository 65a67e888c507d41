//! Limits and input: canonical email addresses, body and field sizes, rate limits per account
//! and client address (behind trusted proxies too), and the bounded password hashing queue.

use std::{num::NonZeroU32, time::Duration};

{% if "auth" in handlers -%}
use {{ crate_name }}::{{ module }}::{config::RateLimits, db, password::Passwords};
{%- else -%}
use {{ crate_name }}::{{ module }}::config::RateLimits;
{%- endif %}

use axum::http::{StatusCode, header};
use governor::Quota;
use serde_json::json;

{% if "auth" in handlers -%}
use crate::support::{
    PASSWORD, TestApp, TestResponse, app, app_with_config, app_with_limits, app_with_state,
};
{%- else -%}
use crate::support::{PASSWORD, TestResponse, app, app_with_limits};
{%- endif %}

/// `burst` attempts at once, then one every ten minutes: nothing refills during a test.
fn quota(burst: u32) -> Quota {
    Quota::with_period(Duration::from_secs(600))
        .unwrap()
        .allow_burst(NonZeroU32::new(burst).unwrap())
}

/// Generous limits everywhere, so that a test tightens only the one it is about.
fn loose() -> RateLimits {
    RateLimits {
        per_account_address: quota(100),
        per_account: quota(100),
        per_address: quota(100),
        registrations_per_address: quota(100),
        second_factor: quota(100),
        mails_per_account: quota(100),
    }
}

/// The `Retry-After` of a 429 or 503, in whole seconds; panics when it is missing.
#[track_caller]
fn retry_after(response: &TestResponse) -> u64 {
    response.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds")
}

/// The composed spelling of the address the canonical-form tests use.
const ALICE_ACCENTED: &str = "alíce@example.com";
/// The same address in capitals, with the `í` decomposed (`i` + combining acute accent) and the
/// `A` in its full-width compatibility form: NFKC and lower-casing make it [`ALICE_ACCENTED`].
const ALICE_OTHERWISE: &str = " \u{ff21}LI\u{301}CE@Example.COM ";
{%- if "register" in handlers %}

#[tokio::test]
async fn one_address_in_any_form_is_one_account_and_alice_without_accent_another() {
    let app = app().await;
    let created = app
        .post(
            "/register",
            json!({ "email": "ALÍCE@EXAMPLE.COM", "password": PASSWORD }),
        )
        .await;
    created.assert_status(StatusCode::CREATED);
    // Stored and shown in the canonical form.
    assert_eq!(created.body["email"], ALICE_ACCENTED);
    for spelling in [ALICE_ACCENTED, ALICE_OTHERWISE, "ali\u{301}ce@example.com"] {
        app.post(
            "/register",
            json!({ "email": spelling, "password": PASSWORD }),
        )
        .await
        .assert_error(StatusCode::CONFLICT, "email_taken");
    }
    // Without the accent it is another address, on every database (MySQL's default collation
    // would call them equal).
    let other = app
        .post(
            "/register",
            json!({ "email": "alice@example.com", "password": PASSWORD }),
        )
        .await;
    other.assert_status(StatusCode::CREATED);
    assert_ne!(other.body["id"], created.body["id"]);
}

#[tokio::test]
async fn registering_too_often_from_one_address_is_429_and_other_addresses_still_register() {
    let app = app_with_limits(RateLimits {
        registrations_per_address: quota(2),
        ..loose()
    })
    .await;
    let register =
        |n: u32| json!({ "email": format!("user{n}@example.com"), "password": PASSWORD });
    for n in 0..2 {
        app.post_from("192.0.2.1", "/register", register(n), &[])
            .await
            .assert_status(StatusCode::CREATED);
    }
    let limited = app
        .post_from("192.0.2.1", "/register", register(2), &[])
        .await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!((1..=600).contains(&retry_after(&limited)));
    // Another client address is not limited by this one's registrations.
    app.post_from("192.0.2.2", "/register", register(2), &[])
        .await
        .assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn a_nul_in_an_email_or_password_or_an_overlong_email_is_422_at_registration() {
    let app = app().await;
    let long = format!("{}@example.com", "a".repeat(250));
    for email in ["ada\0@example.com", "ada@exa\u{1b}mple.com", long.as_str()] {
        app.post("/register", json!({ "email": email, "password": PASSWORD }))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_email");
    }
    let password = format!("{PASSWORD}\0");
    app.post(
        "/register",
        json!({ "email": "ada@example.com", "password": password }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_text");
}
{%- endif %}

{%- if "role-management" in handlers %}

#[tokio::test]
async fn a_nul_in_any_text_field_is_422_before_the_database_sees_it() {
    let app = app().await;
    let admin = app.admin().await;
    let role = json!({ "name": "support", "description": "answers\0mail" });
    app.post_as("/users/roles", role, &admin)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_text");
    let nested = json!({ "name": "support", "description": ["fine", { "deep": "\0" }] });
    app.post_as("/users/roles", nested, &admin)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_text");
}
{%- endif %}

#[tokio::test]
async fn a_body_over_the_limit_is_413_in_the_error_shape() {
    let app = app().await;
    let path = {% if "auth" in handlers %}"/login"{% else %}"/register"{% endif %};
    let padding = "x".repeat(64 * 1024);
    let body = json!({ "email": "ada@example.com", "password": padding }).to_string();
    app.post_raw(path, "application/json", &body)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
}
{%- if "auth" in handlers %}

/// `POST /login` from the client address `peer`.
async fn login_from(app: &TestApp, peer: &str, email: &str, password: &str) -> TestResponse {
    let body = json!({ "email": email, "password": password });
    app.post_from(peer, "/login", body, &[]).await
}

#[tokio::test]
async fn one_address_in_any_spelling_logs_in_to_one_account_and_is_one_rate_limit_bucket() {
    let app = app_with_limits(RateLimits {
        per_account_address: quota(2),
        ..loose()
    })
    .await;
    let accented = app.create_user("ALÍCE@example.com", true, true).await;
    // A second account without the accent: the unique index must tell them apart.
    let plain = app.create_user("alice@example.com", true, true).await;
    assert_eq!(accented.email, ALICE_ACCENTED);
    assert_ne!(accented.id, plain.id);
    let found = db::find_user_by_email(&app.state.db, "ALICE@example.com")
        .await
        .unwrap()
        .expect("alice");
    assert_eq!(found.id, plain.id);

    let login = app
        .post(
            "/login",
            json!({ "email": ALICE_OTHERWISE, "password": PASSWORD }),
        )
        .await;
    login.assert_status(StatusCode::CREATED);
    assert_eq!(login.body["user"]["id"], accented.id.to_string());

    // Failures in one spelling count for every spelling of the address, and for no other.
    for spelling in ["ALÍCE@EXAMPLE.COM", "ali\u{301}ce@example.com"] {
        app.post(
            "/login",
            json!({ "email": spelling, "password": "wrong password" }),
        )
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    app.post(
        "/login",
        json!({ "email": ALICE_OTHERWISE, "password": "wrong password" }),
    )
    .await
    .assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    app.post(
        "/login",
        json!({ "email": "alice@example.com", "password": "wrong password" }),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[tokio::test]
async fn a_nul_control_character_or_overlong_email_is_422_and_counts_nowhere() {
    // One attempt per address: had the bad requests been counted, the last login would be 429.
    let app = app_with_limits(RateLimits {
        per_address: quota(1),
        ..loose()
    })
    .await;
    app.create_user("ada@example.com", true, true).await;
    let long = format!("{}@example.com", "a".repeat(250));
    for email in ["ada\0@example.com", "ada@example.com\u{7f}", long.as_str()] {
        // A NUL reaching PostgreSQL would be a 500: it is refused before any look-up.
        app.post("/login", json!({ "email": email, "password": PASSWORD }))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_email");
    }
    app.login("ada@example.com", PASSWORD).await;
}

#[tokio::test]
async fn a_stranger_guessing_from_one_address_cannot_lock_the_owner_out_yet_guesses_are_bounded() {
    let app = app_with_limits(RateLimits {
        per_account_address: quota(3),
        per_account: quota(6),
        ..loose()
    })
    .await;
    app.create_user("ada@example.com", true, true).await;
    let stranger = "203.0.113.66";
    for _ in 0..3 {
        login_from(&app, stranger, "ada@example.com", "guess guess")
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let limited = login_from(&app, stranger, "ada@example.com", PASSWORD).await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(retry_after(&limited) >= 1);

    // The owner, from another address, gets in; a successful login does not count.
    login_from(&app, "198.51.100.7", "ada@example.com", PASSWORD)
        .await
        .assert_status(StatusCode::CREATED);

    // Strangers from ever new addresses: three more failures reach the account's ceiling of six,
    // after which every address is refused.
    for n in 1..=3 {
        login_from(&app, &format!("203.0.113.{n}"), "ada@example.com", "guess")
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    login_from(&app, "203.0.113.4", "ada@example.com", "guess")
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

/// Limits that allow two attempts per client address and nothing else of note.
fn two_per_address() -> RateLimits {
    RateLimits {
        per_address: quota(2),
        ..loose()
    }
}

/// Sends logins for distinct accounts (so only the per-address limit can refuse them) from
/// `peer` with the given extra headers, and returns the statuses.
async fn logins_from(app: &TestApp, peer: &str, headers: &[&[(&str, &str)]]) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for (n, headers) in headers.iter().enumerate() {
        let body = json!({ "email": format!("nobody{n}@example.com"), "password": PASSWORD });
        statuses.push(app.post_from(peer, "/login", body, headers).await.status);
    }
    statuses
}

const UNAUTHORIZED: StatusCode = StatusCode::UNAUTHORIZED;
const LIMITED: StatusCode = StatusCode::TOO_MANY_REQUESTS;

#[tokio::test]
async fn a_forwarded_for_header_from_an_untrusted_peer_is_ignored() {
    let app = app_with_limits(two_per_address()).await;
    let spoofed: [&[(&str, &str)]; 3] = [
        &[("x-forwarded-for", "203.0.113.1")],
        &[("x-forwarded-for", "203.0.113.2")],
        &[("forwarded", "for=203.0.113.3")],
    ];
    assert_eq!(
        logins_from(&app, "192.0.2.1", &spoofed).await,
        [UNAUTHORIZED, UNAUTHORIZED, LIMITED]
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_address_is_the_one_limited() {
    let app = app_with_config(|config| {
        config.rate_limits = two_per_address();
        config.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    // The client prepends a spoofed address; the proxy appends the one it saw.
    let client_a: &[(&str, &str)] = &[("x-forwarded-for", "1.1.1.1, 203.0.113.7")];
    let client_b: &[(&str, &str)] = &[("x-forwarded-for", "203.0.113.8")];
    assert_eq!(
        logins_from(&app, "10.0.0.5", &[client_a, client_a, client_a]).await,
        [UNAUTHORIZED, UNAUTHORIZED, LIMITED]
    );
    // Another client behind the same proxy has a budget of its own.
    assert_eq!(
        logins_from(&app, "10.0.0.5", &[client_b]).await,
        [UNAUTHORIZED]
    );
}

#[tokio::test]
async fn ipv6_clients_in_one_64_share_a_budget() {
    let app = app_with_limits(two_per_address()).await;
    assert_eq!(
        logins_from(&app, "2001:db8:0:1::1", &[&[]]).await,
        [UNAUTHORIZED]
    );
    assert_eq!(
        logins_from(&app, "2001:db8:0:1:ffff::2", &[&[], &[]]).await,
        [UNAUTHORIZED, LIMITED]
    );
    assert_eq!(
        logins_from(&app, "2001:db8:0:2::1", &[&[]]).await,
        [UNAUTHORIZED]
    );
}

#[tokio::test]
async fn without_a_client_address_the_per_address_limit_still_applies() {
    // Requests that reach the router without connect info share the "unknown" address.
    let app = app_with_limits(two_per_address()).await;
    let mut statuses = Vec::new();
    for n in 0..3 {
        let body = json!({ "email": format!("nobody{n}@example.com"), "password": PASSWORD });
        statuses.push(app.post("/login", body).await.status);
    }
    assert_eq!(statuses, [UNAUTHORIZED, UNAUTHORIZED, LIMITED]);
}

#[tokio::test]
async fn a_full_password_hashing_queue_is_503_with_retry_after() {
    // One hash at a time and no room to wait.
    let app = app_with_state(|state| state.passwords = Passwords::new(1, 0)).await;
    app.create_user("ada@example.com", true, true).await;
    let (started, is_running) = tokio::sync::oneshot::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let passwords = app.state.passwords.clone();
    let busy = tokio::spawn(async move {
        passwords
            .run(move || {
                let _ = started.send(());
                let _ = released.recv();
            })
            .await
    });
    is_running.await.expect("the blocking work started");

    let refused = app
        .post(
            "/login",
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await;
    refused.assert_error(StatusCode::SERVICE_UNAVAILABLE, "busy");
    assert!(retry_after(&refused) >= 1);

    release.send(()).unwrap();
    busy.await.unwrap().expect("the work ran");
    app.login("ada@example.com", PASSWORD).await;
}
{%- endif %}
