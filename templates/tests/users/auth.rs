//! `POST /login` and `POST /logout`.

use std::{num::NonZeroU32, time::Duration};

use {{ crate_name }}::{{ module }}::{
    backend::CREDENTIAL,
    config::{ {%- if backend == "session" %}RateLimits, SESSION_TTL{% else %}ACCESS_TOKEN_TTL, JWT_AUDIENCE, RateLimits{% endif %}},
    db,
{%- if backend != "jwt" %}
    layers::csrf,
{%- endif %}
    model::User,
    tokens,
};

use axum::http::{Method, StatusCode, header};
use governor::Quota;
use serde_json::json;

{% if backend != "jwt" -%}
use crate::support::{
    Credential, PASSWORD, TestApp, app, app_with_config, app_with_limits, median, time,
};
{%- else -%}
use crate::support::{Credential, PASSWORD, TestApp, app, app_with_limits, median, time};
{%- endif %}

#[tokio::test]
async fn login_returns_201_with_the_user_and_a_working_credential() {
    let app = app().await;
    app.create_user("ada@example.com", true, true).await;
    let response = app
        .post(
            "/login",
            json!({ "email": "Ada@Example.com", "password": PASSWORD }),
        )
        .await;
    response.assert_status(StatusCode::CREATED);
    assert_eq!(response.body["user"]["email"], "ada@example.com");
{%- if backend == "jwt" %}
    assert_eq!(response.body["token_type"], "bearer");
    let expires_in = response.body["expires_in"].as_u64().unwrap_or_default();
    assert!(expires_in > 0);
    let token = response.body["access_token"].as_str().expect("a token");
    let header = response.headers[header::AUTHORIZATION].to_str().unwrap();
    assert_eq!(header, format!("Bearer {token}"));
{%- else %}
    let cookie = response.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("; Path=/;"), "{cookie}");
    assert!(!cookie.contains("Domain"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert!(!cookie.starts_with("__Host-"), "plain http: {cookie}");
{%- endif %}
    let credential = Credential::from_login(&response);
    let logout = app
        .send(Method::POST, "/logout", None, Some(&credential), &[])
        .await;
    logout.assert_status(StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401() {
    let app = app().await;
    app.create_user("ada@example.com", true, true).await;
    let wrong_password = app
        .post(
            "/login",
            json!({ "email": "ada@example.com", "password": "not the password" }),
        )
        .await;
    let unknown_email = app
        .post(
            "/login",
            json!({ "email": "nobody@example.com", "password": PASSWORD }),
        )
        .await;
    wrong_password.assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(wrong_password.body, unknown_email.body);
}

#[tokio::test]
async fn unverified_and_inactive_users_get_403_with_the_reason() {
    let app = app().await;
    app.create_user("new@example.com", false, true).await;
    app.create_user("gone@example.com", true, false).await;
    app.post(
        "/login",
        json!({ "email": "new@example.com", "password": PASSWORD }),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "not_verified");
    app.post(
        "/login",
        json!({ "email": "gone@example.com", "password": PASSWORD }),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "inactive");
}

#[tokio::test]
async fn every_login_issues_a_new_credential() {
    let app = app().await;
    let (_, first) = app.logged_in_user("ada@example.com").await;
    let second = app.login("ada@example.com", PASSWORD).await;
    assert_ne!(first.0.1, second.0.1);
    for credential in [&first, &second] {
        let response = app
            .send(Method::POST, "/logout", None, Some(credential), &[])
            .await;
        response.assert_status(StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn a_request_dropped_while_its_transaction_begins_leaves_the_database_writable() {
    // A client that hangs up drops its request's future wherever it is. Dropped at one moment of
    // `db::begin` after another, no transaction may stay open behind the pool's back (it would
    // hold the database's write lock, or its connection would refuse every later `begin`).
    let app = app().await;
    for micros in 0..600 {
        let begin = db::begin(&app.state.db);
        let _ = tokio::time::timeout(Duration::from_micros(micros % 300), begin).await;
    }
    // Every connection of the pool in turn (an idle connection is taken oldest first).
    for _ in 0..64 {
        let transaction = tokio::time::timeout(Duration::from_secs(2), db::begin(&app.state.db))
            .await
            .expect("no transaction left open holds the write lock")
            .expect("a connection that can begin");
        transaction.rollback().await.expect("a rollback");
    }
    // And a login, which writes, still does.
    app.logged_in_user("ada@example.com").await;
}

#[tokio::test]
async fn a_credential_check_dropped_mid_statement_leaves_every_later_check_right() {
    // The credential check keeps its connections out of the pool between requests. A client
    // that hangs up drops its check wherever it is; the connection it ran on must not serve a
    // later check with what the dropped statement left unread, and no connection may be lost.
    let app = app().await;
    let (ada, valid) = ada_with_a_stored_credential(&app).await;
    let forged = tokens::hash("forged-token");
    let mut dropped = 0;
    // 600 rounds, and more while none was dropped (a loaded machine may answer every check
    // before its first yield for a while).
    for round in 0..6000 {
        if round >= 600 && dropped > 0 {
            break;
        }
        let check = app.state.lookups.find_user_by_token(CREDENTIAL, &valid);
        if round % 40 == 39 {
            let found = check.await.expect("a check answers");
            assert_eq!(found.map(|user| user.id), Some(ada.id));
            continue;
        }
        // Dropped after its first step, or after a few more.
        tokio::select! {
            biased;
            _ = check => {}
            () = yield_times(round % 40) => dropped += 1,
        }
    }
    assert!(dropped > 0, "no check was dropped mid-statement");
    // More checks at once than connections kept for them, valid and forged in turn.
    let answers = checks_at_once(&app.state.lookups, &[&valid, &forged], 64).await;
    for (index, found) in answers.into_iter().enumerate() {
        let expected = (index % 2 == 0).then_some(ada.id);
        assert_eq!(found.map(|user| user.id), expected, "check {index}");
    }
    // The connections of the dropped checks come back to the pool once it has read what their
    // statements left (on MySQL that can outlast the checks above, which then found no idle one
    // to keep): a check after that keeps its connection again.
    for _ in 0..500 {
        if app.state.lookups.idle_connections() > 0 {
            break;
        }
        let found = app
            .state
            .lookups
            .find_user_by_token(CREDENTIAL, &valid)
            .await
            .expect("a check answers");
        assert_eq!(found.map(|user| user.id), Some(ada.id));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        app.state.lookups.idle_connections() > 0,
        "the checks still keep their connections"
    );
    // Revoked: refused at once, by every connection.
    db::delete_token(&app.state.db, &valid)
        .await
        .expect("a revocation");
    let answers = checks_at_once(&app.state.lookups, &[&valid], 64).await;
    assert!(
        answers.iter().all(Option::is_none),
        "a revoked credential was accepted"
    );
    // The pool gets the kept connections back, and closes them, when it closes.
    tokio::time::timeout(Duration::from_secs(10), app.state.db.close())
        .await
        .expect("the pool closes although checks kept connections");
    for _ in 0..500 {
        if app.state.lookups.idle_connections() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(app.state.lookups.idle_connections(), 0);
}

#[tokio::test]
async fn credential_checks_leave_half_of_a_small_pool_to_everything_else() {
    let app = app().await;
    let (_, valid) = ada_with_a_stored_credential(&app).await;
    let options = (*app.state.db.connect_options()).clone();
    let pool: db::Pool = sqlx::pool::PoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .expect("a pool of two connections");
    let lookups = db::Lookups::new(pool.clone());
    for _ in 0..4 {
        let answers = checks_at_once(&lookups, &[&valid], 8).await;
        assert!(answers.iter().all(Option::is_some));
        // The pool's connections are idle again between the waves, for the checks to take.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lookups.idle_connections(), 1);
    // A write gets the other connection at once.
    let transaction = tokio::time::timeout(Duration::from_secs(5), db::begin(&pool))
        .await
        .expect("a connection without waiting for the checks' one")
        .expect("a transaction");
    transaction.rollback().await.expect("a rollback");
}

/// Ada, and the stored hash of a credential of hers that is valid for an hour.
async fn ada_with_a_stored_credential(app: &TestApp) -> (User, String) {
    let ada = app.create_user("ada@example.com", true, true).await;
    let token = app
        .stored_token(&ada, CREDENTIAL, chrono::Duration::hours(1))
        .await;
    (ada, tokens::hash(&token))
}

/// Lets other tasks run `times` times.
async fn yield_times(times: usize) {
    for _ in 0..times {
        tokio::task::yield_now().await;
    }
}
{%- if db != "sqlite" %}

#[tokio::test]
async fn credential_checks_go_on_when_the_server_closes_their_connections() {
    // As after a restart of the database server: the connections kept for credential checks, and
    // the pool's own, are gone, and no check may fail for it.
    let app = app().await;
    let (ada, valid) = ada_with_a_stored_credential(&app).await;
    let answers = checks_at_once(&app.state.lookups, &[&valid], 16).await;
    assert!(answers.iter().all(Option::is_some));
    assert!(app.state.lookups.idle_connections() > 0);
    close_every_connection_of_the_pool(&app.state.db).await;
    let check = app.state.lookups.find_user_by_token(CREDENTIAL, &valid);
    let found = check
        .await
        .expect("a check on a closed connection is run again");
    assert_eq!(found.map(|user| user.id), Some(ada.id));
    let answers = checks_at_once(&app.state.lookups, &[&valid], 16).await;
    assert!(answers.iter().all(Option::is_some));
}

/// Has the server close every connection of the pool to the test's database, from a connection
/// of its own.
async fn close_every_connection_of_the_pool(pool: &db::Pool) {
    use sqlx::ConnectOptions as _;

    let mut admin = pool
        .connect_options()
        .connect()
        .await
        .expect("a connection outside the pool");
{%- if db == "postgres" %}
    let others = "SELECT pid::int8 FROM pg_stat_activity \
                  WHERE datname = current_database() AND pid <> pg_backend_pid() \
                  AND backend_type = 'client backend'";
{%- else %}
    let others = "SELECT CAST(ID AS SIGNED) FROM information_schema.PROCESSLIST \
                  WHERE DB = DATABASE() AND ID <> CONNECTION_ID()";
{%- endif %}
    // The server ends them a moment later.
    for _ in 0..500 {
        let ids: Vec<i64> = sqlx::query_scalar(others)
            .fetch_all(&mut admin)
            .await
            .expect("the connections");
        if ids.is_empty() {
            return;
        }
        for id in ids {
{%- if db == "postgres" %}
            let close = sqlx::query("SELECT pg_terminate_backend($1::int4)").bind(id);
{%- else %}
            let kill = format!("KILL {id}");
            let close = sqlx::raw_sql(&kill);
{%- endif %}
            // A connection may have ended meanwhile.
            let _ = close.execute(&mut admin).await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server did not close the connections");
}
{%- endif %}

/// Runs `count` credential checks at once, of `hashes` in turn; returns their answers in order.
async fn checks_at_once(lookups: &db::Lookups, hashes: &[&str], count: usize) -> Vec<Option<User>> {
    let checks: Vec<_> = (0..count)
        .map(|index| {
            let lookups = lookups.clone();
            let hash = hashes[index % hashes.len()].to_owned();
            tokio::spawn(async move { lookups.find_user_by_token(CREDENTIAL, &hash).await })
        })
        .collect();
    let mut answers = Vec::with_capacity(count);
    for check in checks {
        let found = check.await.expect("the check's task");
        answers.push(found.expect("a check answers"));
    }
    answers
}

#[tokio::test]
async fn logout_revokes_the_credential_on_the_server() {
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    let logout = app
        .send(Method::POST, "/logout", None, Some(&credential), &[])
        .await;
    logout.assert_status(StatusCode::NO_CONTENT);
{%- if backend != "jwt" %}
    let cleared = logout.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
{%- endif %}
    // The client may keep the old credential; the server no longer accepts it.
    app.send(Method::POST, "/logout", None, Some(&credential), &[])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

#[tokio::test]
async fn logout_without_a_credential_or_with_a_forged_one_is_401() {
    let app = app().await;
    app.send(Method::POST, "/logout", None, None, &[])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    let forged = Credential::raw("forged-token");
    app.send(Method::POST, "/logout", None, Some(&forged), &[])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

#[tokio::test]
async fn a_person_who_mistypes_the_password_three_times_still_gets_in() {
    let app = app().await;
    app.create_user("ada@example.com", true, true).await;
    for _ in 0..3 {
        app.post(
            "/login",
            json!({ "email": "ada@example.com", "password": "typo typo" }),
        )
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    }
    app.login("ada@example.com", PASSWORD).await;
}

/// A quota of `burst` attempts at once, then one per `period`.
fn limits(burst: u32, period: Duration) -> RateLimits {
    let quota = Quota::with_period(period)
        .unwrap()
        .allow_burst(NonZeroU32::new(burst).unwrap());
    RateLimits {
        per_account_address: quota,
        per_account: quota,
        ..RateLimits::default()
    }
}

#[tokio::test]
async fn too_many_attempts_get_429_with_retry_after_per_account() {
    // Two attempts, then one a minute: however slow the password checks, the third is refused.
    let app = app_with_limits(limits(2, Duration::from_secs(60))).await;
    app.create_user("ada@example.com", true, true).await;
    let attempt = json!({ "email": "ada@example.com", "password": "guess guess" });
    for _ in 0..2 {
        app.post("/login", attempt.clone())
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    let limited = app.post("/login", attempt).await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let wait: u64 = limited.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds");
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    // The right password does not get around the limit either.
    let right = json!({ "email": "ada@example.com", "password": PASSWORD });
    app.post("/login", right)
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Another account is not limited by this one's attempts.
    let other = json!({ "email": "eve@example.com", "password": "guess guess" });
    app.post("/login", other)
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_client_that_waits_for_retry_after_gets_in() {
    // One attempt, then one every 3 s. A wrong attempt spends it; the next attempts are refused
    // until the wait is over (a very slow machine may need a few tries to see the 429).
    let app = app_with_limits(limits(1, Duration::from_secs(3))).await;
    app.create_user("ada@example.com", true, true).await;
    let attempt = json!({ "email": "ada@example.com", "password": "guess guess" });
    let mut wait = None;
    for _ in 0..5 {
        let response = app.post("/login", attempt.clone()).await;
        if response.status == StatusCode::TOO_MANY_REQUESTS {
            let seconds = response.headers[header::RETRY_AFTER].to_str().unwrap();
            wait = Some(seconds.parse::<u64>().expect("whole seconds"));
            break;
        }
        response.assert_status(StatusCode::UNAUTHORIZED);
    }
    let wait = wait.expect("a 429 within five quick attempts");
    assert!((1..=3).contains(&wait), "Retry-After: {wait}");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    app.login("ada@example.com", PASSWORD).await;
}
{%- if backend != "jwt" %}

#[tokio::test]
async fn the_cookie_is_secure_when_the_app_is_served_over_https() {
    let app = app_with_config(|config| config.app_url = "https://app.example".to_owned()).await;
    app.create_user("ada@example.com", true, true).await;
    let response = app
        .post(
            "/login",
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await;
    response.assert_status(StatusCode::CREATED);
    let cookie = response.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    // The `__Host-` prefix: only this host can set it, so it needs `Path=/` and no `Domain`.
    assert!(cookie.starts_with("__Host-"), "{cookie}");
    assert!(cookie.contains("; Path=/;"), "{cookie}");
    assert!(!cookie.contains("Domain"), "{cookie}");
    let credential = Credential::from_login(&response);
    let Credential((_, pair)) = &credential;
    // The same value without the prefix (as a sibling subdomain could set it) is not accepted.
    let unprefixed = Credential((
        header::COOKIE,
        pair.trim_start_matches("__Host-").to_owned(),
    ));
    app.send(Method::POST, "/logout", None, Some(&unprefixed), &[])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    let same_origin = [("origin", "https://app.example")];
    app.send(
        Method::POST,
        "/logout",
        None,
        Some(&credential),
        &same_origin,
    )
    .await
    .assert_status(StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_cross_site_state_changing_request_is_refused_and_changes_nothing() {
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    for headers in [
        [("origin", "https://evil.example")],
        [("sec-fetch-site", "cross-site")],
    ] {
        app.send(Method::POST, "/logout", None, Some(&credential), &headers)
            .await
            .assert_error(StatusCode::FORBIDDEN, "cross_site_request");
    }
    // The refused requests changed nothing: the session is still there to log out of.
    let same_origin = [("origin", "http://localhost:3000")];
    app.send(
        Method::POST,
        "/logout",
        None,
        Some(&credential),
        &same_origin,
    )
    .await
    .assert_status(StatusCode::NO_CONTENT);
}
{%- else %}

#[tokio::test]
async fn a_token_with_a_tampered_signature_is_refused() {
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    let Credential((_, bearer)) = &credential;
    let token = bearer.trim_start_matches("Bearer ");
    let (payload, _) = token.rsplit_once('.').unwrap();
    let tampered = Credential::raw(&format!("{payload}.{}", "A".repeat(43)));
    app.send(Method::POST, "/logout", None, Some(&tampered), &[])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    // The untampered token still works: only the signature made the difference. (Audience,
    // algorithm and expiry: `only_an_hs256_token_for_this_audience_that_has_not_expired_is_accepted`.)
    app.send(Method::POST, "/logout", None, Some(&credential), &[])
        .await
        .assert_status(StatusCode::NO_CONTENT);
}
{%- endif %}

// ---------------------------------------------------------------------------------------------
// The security claims of the login: each test fails if the claim does not hold.

#[tokio::test]
async fn a_wrong_password_does_not_tell_that_an_account_is_unverified_or_inactive() {
    let app = app().await;
    app.create_user("new@example.com", false, true).await;
    app.create_user("gone@example.com", true, false).await;
    let attempt = |email: &str| json!({ "email": email, "password": "not the password" });
    let unknown = app.post("/login", attempt("nobody@example.com")).await;
    unknown.assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    for email in ["new@example.com", "gone@example.com"] {
        let response = app.post("/login", attempt(email)).await;
        response.assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
        assert_eq!(response.body, unknown.body, "{email}");
    }
}

#[tokio::test]
async fn an_unknown_email_costs_a_password_check_like_a_wrong_password() {
    // Without the dummy hash, an unknown email would be refused after a database look-up alone,
    // many times faster than a wrong password, which costs one Argon2 verification. The two are
    // compared with each other, not with a fixed time, so a slow or busy machine does not matter.
    let app = app_with_limits(limits(10_000, Duration::from_millis(1))).await;
    app.create_user("ada@example.com", true, true).await;
    let (mut wrong_password, mut unknown_email) = (Vec::new(), Vec::new());
    for round in 0..9 {
        let attempt = json!({ "email": "ada@example.com", "password": "not the password" });
        let (response, took) = time(app.post("/login", attempt)).await;
        response.assert_status(StatusCode::UNAUTHORIZED);
        wrong_password.push(took);
        let email = format!("nobody{round}@example.com");
        let attempt = json!({ "email": email, "password": "not the password" });
        let (response, took) = time(app.post("/login", attempt)).await;
        response.assert_status(StatusCode::UNAUTHORIZED);
        unknown_email.push(took);
    }
    let (wrong_password, unknown_email) = (median(wrong_password), median(unknown_email));
    assert!(
        unknown_email * 3 >= wrong_password,
        "an unknown email was refused in {unknown_email:?} (median), a wrong password in \
         {wrong_password:?}: unknown emails skip the password check"
    );
}

#[tokio::test]
async fn a_credential_planted_before_login_is_not_the_one_after() {
    let app = app().await;
    // Someone plants their own valid credential, or a value of their choosing, in the victim's
    // browser before the victim logs in (session fixation).
    let (_, planted) = app.logged_in_user("mallory@example.com").await;
    let chosen = Credential::raw("a-session-id-chosen-by-the-attacker");
    app.create_user("ada@example.com", true, true).await;
    let login = json!({ "email": "ada@example.com", "password": PASSWORD });
    for before in [&planted, &chosen] {
        let response = app
            .send(
                Method::POST,
                "/login",
                Some(login.clone()),
                Some(before),
                &[],
            )
            .await;
        response.assert_status(StatusCode::CREATED);
        let after = Credential::from_login(&response);
        assert_ne!(
            after.0.1, before.0.1,
            "the login kept the planted credential"
        );
{%- if "current-user" in handlers %}
        let me = app.get("/users/me", Some(&after)).await;
        me.assert_status(StatusCode::OK);
        assert_eq!(me.body["email"], "ada@example.com");
{%- endif %}
    }
    // The planted credentials give no access to the victim's account.
{%- if "current-user" in handlers %}
    let still_mallory = app.get("/users/me", Some(&planted)).await;
    still_mallory.assert_status(StatusCode::OK);
    assert_eq!(still_mallory.body["email"], "mallory@example.com");
{%- endif %}
    app.send(Method::POST, "/logout", None, Some(&chosen), &[])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

#[tokio::test]
async fn a_credential_works_until_its_stored_expiry_and_not_after() {
    let app = app().await;
    let (user, first) = app.logged_in_user("ada@example.com").await;
    let second = app.login("ada@example.com", PASSWORD).await;
    // Stored with the configured lifetime...
    let lifetime = chrono::Duration::from_std(
        {%- if backend == "session" %}SESSION_TTL{% else %}ACCESS_TOKEN_TTL{% endif -%}
    ).expect("a lifetime");
    let expiries = app.token_expiries(&user, CREDENTIAL).await;
    assert_eq!(expiries.len(), 2);
    for expiry in expiries {
        let off = (expiry - (db::now() + lifetime)).num_seconds().abs();
        assert!(
            off <= 60,
            "stored expiry {expiry} is {off} s off the lifetime"
        );
    }
    // ...accepted just before it ends (time moved on: the expiry is 30 s from now)...
    let soon = db::now() + chrono::Duration::seconds(30);
    app.set_token_expiry(&user, CREDENTIAL, soon).await;
    app.send(Method::POST, "/logout", None, Some(&first), &[])
        .await
        .assert_status(StatusCode::NO_CONTENT);
    // ...and refused just after{% if backend != "session" %}, although the token's own `exp` is still ahead{% endif %}.
    let past = db::now() - chrono::Duration::seconds(1);
    app.set_token_expiry(&user, CREDENTIAL, past).await;
    app.send(Method::POST, "/logout", None, Some(&second), &[])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

{%- if db == "sqlite" %}

#[tokio::test]
async fn a_login_that_cannot_get_the_write_lock_in_time_is_503_busy_not_500() {
    let app = app().await;
    app.create_user("ada@example.com", true, true).await;
    // Another connection holds SQLite's write lock for longer than the busy timeout.
    let lock = app.lock_token_writes().await;
    let attempt = json!({ "email": "ada@example.com", "password": PASSWORD });
    let response = app.post("/login", attempt.clone()).await;
    lock.release().await;
    response.assert_error(StatusCode::SERVICE_UNAVAILABLE, "busy");
    assert_eq!(response.headers[header::RETRY_AFTER], "1");
    app.post("/login", attempt)
        .await
        .assert_status(StatusCode::CREATED);
}
{%- endif %}

#[tokio::test]
async fn a_database_error_is_a_generic_500_that_reveals_nothing() {
    let app = app().await;
    app.state.db.close().await;
    let attempt = json!({ "email": "ada@example.com", "password": PASSWORD });
    let response = app.post("/login", attempt).await;
    response.assert_error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    let text = response.body.to_string().to_lowercase();
    for detail in ["sqlx", "pool", "closed", "select", "users", "sql"] {
        assert!(
            !text.contains(detail),
            "the answer tells {detail:?}: {text}"
        );
    }
}
{%- if backend != "session" %}

/// A token signed with the app's secret by `algorithm`, for `audience`, expiring at `exp` (Unix
/// seconds), whose `jti` is stored: only the claim under test can make it fail.
async fn signed_token(
    app: &crate::support::TestApp,
    user: &User,
    algorithm: jsonwebtoken::Algorithm,
    audience: &str,
    exp: i64,
) -> String {
    let jti = app
        .stored_token(user, CREDENTIAL, chrono::Duration::hours(1))
        .await;
    let claims = json!({
        "sub": user.id,
        "aud": audience,
        "exp": exp,
        "iat": chrono::Utc::now().timestamp(),
        "jti": jti,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(app.state.config.secret.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::new(algorithm), &claims, &key).expect("a token")
}

#[tokio::test]
async fn only_an_hs256_token_for_this_audience_that_has_not_expired_is_accepted() {
    use jsonwebtoken::Algorithm;

    let app = app().await;
    let user = app.create_user("ada@example.com", true, true).await;
    let in_ten_minutes = chrono::Utc::now().timestamp() + 600;
    // Past the 60 s leeway that the validation allows for clock skew.
    let two_minutes_ago = chrono::Utc::now().timestamp() - 120;
    let logout = |token: String| {
        let app = &app;
        async move {
            let credential = Credential::raw(&token);
            app.send(Method::POST, "/logout", None, Some(&credential), &[])
                .await
                .status
        }
    };
    let valid = signed_token(&app, &user, Algorithm::HS256, JWT_AUDIENCE, in_ten_minutes).await;
    assert_eq!(
        logout(valid).await,
        StatusCode::NO_CONTENT,
        "the control token"
    );
    let cases = [
        ("audience", Algorithm::HS256, "other", in_ten_minutes),
        ("HS384", Algorithm::HS384, JWT_AUDIENCE, in_ten_minutes),
        ("HS512", Algorithm::HS512, JWT_AUDIENCE, in_ten_minutes),
        ("expired", Algorithm::HS256, JWT_AUDIENCE, two_minutes_ago),
    ];
    for (case, algorithm, audience, exp) in cases {
        let token = signed_token(&app, &user, algorithm, audience, exp).await;
        assert_eq!(logout(token).await, StatusCode::UNAUTHORIZED, "{case}");
    }
}
{%- endif %}
{%- if backend != "jwt" %}

#[tokio::test]
async fn the_csrf_layer_guards_post_put_patch_and_delete_on_your_own_routes_too() {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use axum::{Router, middleware, routing::get};

    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    let calls = Arc::new(AtomicUsize::new(0));
    let handler = {
        let calls = calls.clone();
        move || {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                StatusCode::NO_CONTENT
            }
        }
    };
    let own_routes = Router::new()
        .route(
            "/things",
            get(handler.clone())
                .post(handler.clone())
                .put(handler.clone())
                .patch(handler.clone())
                .delete(handler),
        )
        // The line the generated `main.rs` has for your routes:
        .route_layer(middleware::from_fn_with_state(app.state.clone(), csrf));
    let writes = [Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
    let cross_site = [
        [("origin", "https://evil.example")],
        [("sec-fetch-site", "cross-site")],
    ];
    for method in &writes {
        for headers in &cross_site {
            app.send_to(
                own_routes.clone(),
                method.clone(),
                "/things",
                Some(&credential),
                headers,
            )
            .await
            .assert_error(StatusCode::FORBIDDEN, "cross_site_request");
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "a refused request ran");
    // Reading is not refused; writes from the app's own origin, or from a client that is not a
    // browser (neither header), go through.
    let read = app
        .send_to(
            own_routes.clone(),
            Method::GET,
            "/things",
            Some(&credential),
            &cross_site[0],
        )
        .await;
    read.assert_status(StatusCode::NO_CONTENT);
    for method in &writes {
        let same_origin = [("origin", "http://localhost:3000")];
        for headers in [&same_origin[..], &[]] {
            app.send_to(
                own_routes.clone(),
                method.clone(),
                "/things",
                Some(&credential),
                headers,
            )
            .await
            .assert_status(StatusCode::NO_CONTENT);
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1 + 2 * writes.len());
{%- if "current-user" in handlers %}

    // The users routes: a cross-site PATCH changes nothing.
    let change = json!({ "password": "a brand new password", "current_password": PASSWORD });
    app.send(
        Method::PATCH,
        "/users/me",
        Some(change),
        Some(&credential),
        &cross_site[0][..],
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "cross_site_request");
    app.login("ada@example.com", PASSWORD).await;
{%- endif %}
{%- if "user-management" in handlers %}

    // A cross-site PUT and DELETE of an admin change nothing either.
    let admin = app.admin().await;
    let member = app.create_user("member@example.com", true, true).await;
    let role = app.role("support").await;
    let assign = json!({ "user_id": member.id, "role_id": role.id });
    app.send(
        Method::PUT,
        "/users/roles/assign",
        Some(assign),
        Some(&admin),
        &cross_site[0][..],
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "cross_site_request");
    let path = format!("/users/{}", member.id);
    app.send(
        Method::DELETE,
        &path,
        None,
        Some(&admin),
        &cross_site[1][..],
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "cross_site_request");
    let kept = app.get(&path, Some(&admin)).await;
    kept.assert_status(StatusCode::OK);
    assert_eq!(kept.body["roles"], json!([]));
{%- endif %}
}
{%- endif %}

/// Finding 2 of the review: a login verifies the password against the hash it read, then stores
/// its credential. The statement that stores it is the check: with a hash that is no longer the
/// user's (a reset landed meanwhile), an inactive or a deleted user, nothing is stored.
#[tokio::test]
async fn a_credential_is_stored_only_for_the_hash_the_login_verified() {
    use {{ crate_name }}::{{ module }}::db;
    let app = app().await;
    let user = app.create_user("ada@example.com", true, true).await;
    let stale = "$argon2id$v=19$m=19456,t=2,p=1$c3RhbGVzYWx0$c3RhbGVoYXNo";
    assert!(
        !store_credential(&app, user.id, Some(stale)).await,
        "stored for a stale hash"
    );
    let current = user.password_hash.as_str();
    assert!(
        store_credential(&app, user.id, Some(current)).await,
        "not stored for the current hash"
    );
    assert!(
        store_credential(&app, user.id, None).await,
        "not stored for an active user"
    );
    let missing = uuid::Uuid::new_v4();
    assert!(
        !store_credential(&app, missing, None).await,
        "stored for a missing user"
    );
    sqlx::QueryBuilder::<db::Db>::new("UPDATE users SET is_active = FALSE WHERE id = ")
        .push_bind(user.id)
        .build()
        .execute(&app.state.db)
        .await
        .expect("a deactivation");
    assert!(
        !store_credential(&app, user.id, Some(current)).await,
        "stored for an inactive user"
    );
    assert!(
        !store_credential(&app, user.id, None).await,
        "stored for an inactive user"
    );
}

/// Calls the statement that stores a login's credential; whether it stored one.
async fn store_credential(
    app: &crate::support::TestApp,
    user_id: uuid::Uuid,
    verified_hash: Option<&str>,
) -> bool {
    use {{ crate_name }}::{{ module }}::{backend::CREDENTIAL, db, tokens};
    let (_, token_hash) = tokens::generate();
    let expires_at = db::expires_in(Duration::from_secs(3600));
    db::insert_credential(
        &app.state.db,
        user_id,
        CREDENTIAL,
        &token_hash,
        expires_at,
        verified_hash,
    )
    .await
    .expect("no database error")
}
