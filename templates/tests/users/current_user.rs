//! `GET /users/me` and `PATCH /users/me`.
{%- if "verify" in handlers %}

use std::time::{Duration, Instant};
{%- endif %}

use axum::http::{StatusCode, header};
use serde_json::json;

use {{ crate_name }}::{{ module }}::{db, tokens::Purpose};

use crate::support::{PASSWORD, {% if "verify" in handlers %}TestApp, {% endif %}app};

#[tokio::test]
async fn get_me_returns_the_logged_in_user_and_401_anonymously() {
    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    let response = app.get("/users/me", Some(&credential)).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["id"], user.id.to_string());
    assert_eq!(response.body["email"], "ada@example.com");
    assert!(response.body.get("password_hash").is_none());
    app.get("/users/me", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one() {
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    app.patch_as(
        "/users/me",
        json!({ "password": "a new password" }),
        &credential,
    )
    .await
    .assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "current_password_required",
    );
    let wrong = json!({ "password": "a new password", "current_password": "not it at all" });
    app.patch_as("/users/me", wrong, &credential)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_current_password");
    app.post(
        "/login",
        json!({ "email": "ada@example.com", "password": PASSWORD }),
    )
    .await
    .assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn a_new_password_revokes_every_other_session_but_not_this_one() {
    let app = app().await;
    let (_, this) = app.logged_in_user("ada@example.com").await;
    let other = app.login("ada@example.com", PASSWORD).await;
    let change = json!({ "password": "a new password", "current_password": PASSWORD });
    app.patch_as("/users/me", change, &this)
        .await
        .assert_status(StatusCode::OK);
    app.get("/users/me", Some(&this))
        .await
        .assert_status(StatusCode::OK);
    app.get("/users/me", Some(&other))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    app.login("ada@example.com", "a new password").await;
}

{%- if "verify" in handlers %}
#[tokio::test]
async fn a_new_email_is_pending_until_the_link_mailed_to_it_is_used() {
    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    let change = json!({ "email": "ada@new.example", "current_password": PASSWORD });
    let response = app.patch_as("/users/me", change, &credential).await;
    response.assert_status(StatusCode::OK);
    // The old address stays until the new one is proved.
    assert_eq!(response.body["email"], "ada@example.com");
    assert_eq!(response.body["pending_email"], "ada@new.example");
    assert_eq!(response.body["is_verified"], true);
    let me = app.get("/users/me", Some(&credential)).await;
    assert_eq!(me.body["pending_email"], "ada@new.example");
    app.login("ada@example.com", PASSWORD).await;
    let token = app.mailed_token("ada@new.example", "/verify").await;
    let notice = wait_for_mail(&app, "ada@example.com").await;
    assert!(notice.contains("ada@new.example"), "{notice}");
    assert!(
        !notice.contains(&token),
        "the notice must not carry the link"
    );
    let confirmed = app.post(&format!("/verify?token={token}"), json!({})).await;
    confirmed.assert_status(StatusCode::OK);
    assert_eq!(confirmed.body["id"], user.id.to_string());
    assert_eq!(confirmed.body["email"], "ada@new.example");
    assert_eq!(confirmed.body["is_verified"], true);
    // Confirming ends the sessions opened before it; the new address logs in.
    let fresh = app.login("ada@new.example", PASSWORD).await;
    let me = app.get("/users/me", Some(&fresh)).await;
    assert_eq!(me.body["email"], "ada@new.example");
    assert!(me.body.get("pending_email").is_none(), "{}", me.body);
    // The link works once.
    app.post(&format!("/verify?token={token}"), json!({}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
}

#[tokio::test]
async fn only_the_latest_email_change_link_works_and_for_its_own_address() {
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    for email in ["first@new.example", "second@new.example"] {
        let change = json!({ "email": email, "current_password": PASSWORD });
        app.patch_as("/users/me", change, &credential)
            .await
            .assert_status(StatusCode::OK);
    }
    let first = app.mailed_token("first@new.example", "/verify").await;
    let second = app.mailed_token("second@new.example", "/verify").await;
    app.post("/verify", json!({ "token": first }))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
    let response = app.post("/verify", json!({ "token": second })).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["email"], "second@new.example");
}

#[tokio::test]
async fn links_to_one_new_address_are_capped_like_every_mailed_link() {
    // Whoever changes their address at will cannot flood someone else's mailbox with links.
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    let change = json!({ "email": "victim@new.example", "current_password": PASSWORD });
    let mut sent = 0;
    let limited = loop {
        let response = app.patch_as("/users/me", change.clone(), &credential).await;
        if response.status == StatusCode::TOO_MANY_REQUESTS {
            break response;
        }
        response.assert_status(StatusCode::OK);
        sent += 1;
        assert!(sent <= 5, "no cap after {sent} links to one address");
    };
    // Five at once (`RateLimits::mails_per_account`), then 429 with the time to wait.
    assert_eq!(sent, 5);
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn confirming_an_address_taken_meanwhile_is_409_and_keeps_the_old_one() {
    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    let change = json!({ "email": "ada@new.example", "current_password": PASSWORD });
    app.patch_as("/users/me", change, &credential)
        .await
        .assert_status(StatusCode::OK);
    let token = app.mailed_token("ada@new.example", "/verify").await;
    app.create_user("ADA@new.example", true, true).await;
    app.post("/verify", json!({ "token": token }))
        .await
        .assert_error(StatusCode::CONFLICT, "email_taken");
    let stored = db::find_user_by_id(&app.state.db, user.id)
        .await
        .unwrap()
        .expect("the user");
    assert_eq!(stored.email, "ada@example.com");
}

#[tokio::test]
async fn a_taken_email_is_409_and_a_bad_one_422() {
    let app = app().await;
    app.create_user("taken@example.com", true, true).await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    let taken = json!({
        "email": "TAKEN@example.com",
        "password": "a new password",
        "current_password": PASSWORD
    });
    app.patch_as("/users/me", taken, &credential)
        .await
        .assert_error(StatusCode::CONFLICT, "email_taken");
    // Nothing was written: the password stays.
    app.login("ada@example.com", PASSWORD).await;
    let bad = json!({ "email": "not an email", "current_password": PASSWORD });
    app.patch_as("/users/me", bad, &credential)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_email");
}

/// Finding 1 of the review: whoever learnt the password asks to move the account to their
/// address; the owner changes the password; the link must then be worthless.
#[tokio::test]
async fn a_new_password_drops_a_pending_email_change_and_its_link() {
    let app = app().await;
    let (user, owner) = app.logged_in_user("frank@example.com").await;
    let attacker = app.login("frank@example.com", PASSWORD).await;
    let change = json!({ "email": "mallory@evil.example", "current_password": PASSWORD });
    app.patch_as("/users/me", change, &attacker)
        .await
        .assert_status(StatusCode::OK);
    let token = app.mailed_token("mallory@evil.example", "/verify").await;
    let new_password = json!({ "password": "a new password", "current_password": PASSWORD });
    let response = app.patch_as("/users/me", new_password, &owner).await;
    response.assert_status(StatusCode::OK);
    assert!(
        response.body.get("pending_email").is_none(),
        "{}",
        response.body
    );
    app.post("/verify", json!({ "token": token }))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
    let stored = db::find_user_by_id(&app.state.db, user.id)
        .await
        .unwrap()
        .expect("the user");
    assert_eq!(stored.email, "frank@example.com");
}

#[tokio::test]
async fn giving_the_current_address_cancels_a_pending_email_change() {
    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    let change = json!({ "email": "ada@new.example", "current_password": PASSWORD });
    app.patch_as("/users/me", change, &credential)
        .await
        .assert_status(StatusCode::OK);
    let token = app.mailed_token("ada@new.example", "/verify").await;
    let cancel = json!({ "email": "ADA@example.com" });
    let response = app.patch_as("/users/me", cancel, &credential).await;
    response.assert_status(StatusCode::OK);
    assert!(
        response.body.get("pending_email").is_none(),
        "{}",
        response.body
    );
    app.post("/verify", json!({ "token": token }))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_token");
    let stored = db::find_user_by_id(&app.state.db, user.id)
        .await
        .unwrap()
        .expect("the user");
    assert_eq!(stored.email, "ada@example.com");
}

#[tokio::test]
async fn confirming_an_email_change_ends_every_session() {
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    let other = app.login("ada@example.com", PASSWORD).await;
    let change = json!({ "email": "ada@new.example", "current_password": PASSWORD });
    app.patch_as("/users/me", change, &credential)
        .await
        .assert_status(StatusCode::OK);
    let token = app.mailed_token("ada@new.example", "/verify").await;
    app.post("/verify", json!({ "token": token }))
        .await
        .assert_status(StatusCode::OK);
    for session in [&credential, &other] {
        app.get("/users/me", Some(session))
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    }
    app.login("ada@new.example", PASSWORD).await;
}
{%- if "oauth2" in handlers %}

/// A provider account linked to the account at its old address (perhaps by that address, while
/// someone else had moved the account to it) no longer logs in once a new address is confirmed.
#[tokio::test]
async fn confirming_an_email_change_unlinks_the_users_provider_accounts() {
    use {{ crate_name }}::{{ module }}::oauth2;
    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    let tokens = oauth2::ProviderTokens {
        access_token: String::new(),
        refresh_token: None,
        expires_at: None,
    };
    oauth2::link_account(&app.state.db, "mock", "ada-at-mock", user.id, &tokens)
        .await
        .expect("a link");
    let linked = || oauth2::find_linked_user(&app.state.db, "mock", "ada-at-mock");
    let change = json!({ "email": "ada@new.example", "current_password": PASSWORD });
    app.patch_as("/users/me", change, &credential)
        .await
        .assert_status(StatusCode::OK);
    // Asking for the change is not enough: only its confirmation unlinks.
    assert_eq!(linked().await.expect("a query"), Some(user.id));
    let token = app.mailed_token("ada@new.example", "/verify").await;
    app.post("/verify", json!({ "token": token }))
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(linked().await.expect("a query"), None);
}
{%- endif %}

/// Finding 6 of the review: a user deleted while their email change is stored is an answer (the
/// handler says 401), not a foreign-key error that would become a 500.
#[tokio::test]
async fn storing_an_email_change_for_a_deleted_user_is_refused_not_an_error() {
    let app = app().await;
    // The id of a user that no longer exists (or never did): the foreign key refuses it alike.
    let gone = uuid::Uuid::new_v4();
    let expires_at = db::expires_in(Duration::from_secs(3600));
    let stored = {{ crate_name }}::{{ module }}::email_changes::store_email_change(
        &app.state.db,
        gone,
        "ada@new.example",
        "a token hash",
        expires_at,
    )
    .await
    .expect("no database error");
    assert!(!stored);
}

/// The body of the newest mail to `to`; waits for the background send for up to five seconds.
async fn wait_for_mail(app: &TestApp, to: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let sent = app.state.mailer.sent();
        if let Some(mail) = sent.iter().rev().find(|mail| mail.to == to) {
            return mail.body.clone();
        }
        assert!(Instant::now() < deadline, "no mail to {to}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_address_change_is_stored_canonically_and_other_spellings_are_the_same_address() {
    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    // A full-width spelling of the current address is no change: nothing is pending.
    let same = json!({ "email": "\u{ff21}DA@EXAMPLE.COM", "current_password": PASSWORD });
    let response = app.patch_as("/users/me", same, &credential).await;
    response.assert_status(StatusCode::OK);
    assert!(
        response.body.get("pending_email").is_none(),
        "{}",
        response.body
    );
    // A full-width Z and a decomposed ë: the change and its link are for `zoë@new.example`.
    let change = json!({
        "email": " \u{ff3a}OE\u{308}@NEW.EXAMPLE ",
        "current_password": PASSWORD
    });
    let response = app.patch_as("/users/me", change, &credential).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["pending_email"], "zo\u{eb}@new.example");
    let token = app.mailed_token("zo\u{eb}@new.example", "/verify").await;
    app.post("/verify", json!({ "token": token }))
        .await
        .assert_status(StatusCode::OK);
    let stored = db::find_user_by_id(&app.state.db, user.id)
        .await
        .unwrap()
        .expect("the user");
    assert_eq!(stored.email, "zo\u{eb}@new.example");
    app.login("zo\u{eb}@new.example", PASSWORD).await;
{%- if "register" in handlers %}
    // Nobody can take the address again in another spelling.
    let again = json!({ "email": "ZOE\u{308}@new.example", "password": PASSWORD });
    app.post("/register", again)
        .await
        .assert_error(StatusCode::CONFLICT, "email_taken");
{%- endif %}
}
{%- else %}
#[tokio::test]
async fn a_new_email_is_refused_without_the_verify_handler() {
    // Nothing could prove that the new address is the user's.
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    let change = json!({ "email": "ada@new.example", "current_password": PASSWORD });
    app.patch_as("/users/me", change, &credential)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "email_change_unavailable");
    let me = app.get("/users/me", Some(&credential)).await;
    assert_eq!(me.body["email"], "ada@example.com");
    let bad = json!({ "email": "not an email", "current_password": PASSWORD });
    app.patch_as("/users/me", bad, &credential)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_email");
}
{%- endif %}

#[tokio::test]
async fn a_new_password{% if "verify" in handlers %}_or_email{% endif %}_deletes_every_outstanding_reset_link() {
    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    let password_change = json!({ "password": "a new password", "current_password": PASSWORD });
{%- if "verify" in handlers %}
    let email_change = json!({ "email": "ada@new.example", "current_password": "a new password" });
{%- endif %}
    let changes = [password_change{% if "verify" in handlers %}, email_change{% endif %}];
    for change in changes {
        app.stored_token(&user, Purpose::Reset, chrono::Duration::hours(1))
            .await;
        app.patch_as("/users/me", change, &credential)
            .await
            .assert_status(StatusCode::OK);
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM user_tokens WHERE purpose = 'reset'")
                .fetch_one(&app.state.db)
                .await
                .expect("a count");
        assert_eq!(left, 0, "a reset link outlived the change");
    }
}

#[tokio::test]
async fn repeated_wrong_current_passwords_get_429_with_retry_after() {
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    let wrong = json!({ "password": "a new password", "current_password": "not it at all" });
    let mut attempts = 0;
    let limited = loop {
        attempts += 1;
        let response = app.patch_as("/users/me", wrong.clone(), &credential).await;
        if response.status == StatusCode::TOO_MANY_REQUESTS {
            break response;
        }
        response.assert_error(StatusCode::UNAUTHORIZED, "invalid_current_password");
        assert!(attempts < 30, "no limit after {attempts} wrong passwords");
    };
    // A person who mistypes a few times is not stopped.
    assert!(attempts > 3, "limited after {attempts} attempts");
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry_after: u64 = limited.headers[header::RETRY_AFTER]
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("seconds");
    assert!(retry_after >= 1, "Retry-After: {retry_after}");
}

#[tokio::test]
async fn a_deactivation_made_while_the_user_changes_their_password_survives() {
    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    // An admin deactivates the account in a transaction that is not committed yet: the request
    // below reads the user as still active, then waits for the admin's commit to write.
    let mut admin = app.state.db.begin().await.expect("a transaction");
    sqlx::query("UPDATE users SET is_active = FALSE WHERE id = {% if db == "mysql" %}?{% else %}$1{% endif %}")
        .bind(user.id)
        .execute(&mut *admin)
        .await
        .expect("the deactivation");
    let change = json!({ "password": "a new password", "current_password": PASSWORD });
    let (response, ()) = tokio::join!(app.patch_as("/users/me", change, &credential), async {
        app.wait_until_a_write_waits().await;
        admin.commit().await.expect("the deactivation commits");
    });
    response.assert_status(StatusCode::OK);
    let stored = db::find_user_by_id(&app.state.db, user.id)
        .await
        .unwrap()
        .expect("the user");
    assert!(
        !stored.is_active,
        "the user's change undid the deactivation"
    );
    // The password did change: the deactivated account now refuses the new one with 403.
    app.post(
        "/login",
        json!({ "email": "ada@example.com", "password": "a new password" }),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "inactive");
}

#[tokio::test]
async fn privileged_fields_are_ignored() {
    let app = app().await;
    let (_, credential) = app.logged_in_user("ada@example.com").await;
    let sneaky = json!({ "is_active": false, "is_verified": false, "roles": ["admin"], "id": "x" });
    let response = app.patch_as("/users/me", sneaky, &credential).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["is_active"], true);
    assert_eq!(response.body["is_verified"], true);
}

// A handler and its hooks in one transaction (0.2.0).

#[tokio::test]
async fn a_password_change_racing_a_reset_of_the_account_changes_nothing() {
    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    // A reset of the account in flight, by its owner: it has ended every session, and commits
    // later.
    let reset = app.reset_in_flight(&user, "the owner's new password").await;
    // Meanwhile whoever knew the old password, with a session opened before, changes it.
    let change = app.patch_as(
        "/users/me",
        json!({ "password": "the intruder's password", "current_password": PASSWORD }),
        &credential,
    );
    let commit = async {
        app.wait_until_a_write_waits().await;
        db::finish(reset, Ok(())).await.expect("the reset commits");
    };
    let (response, ()) = tokio::join!(change, commit);
    response.assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    app.post(
        "/login",
        json!({ "email": "ada@example.com", "password": "the owner's new password" }),
    )
    .await
    .assert_status(StatusCode::CREATED);
    app.post(
        "/login",
        json!({ "email": "ada@example.com", "password": "the intruder's password" }),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
}
{%- if "oauth2" in handlers %}

/// A provider account linked by whoever held the mailbox for a while no longer logs in once the
/// owner sets a new password, as after a reset.
#[tokio::test]
async fn a_new_password_unlinks_the_users_provider_accounts() {
    use {{ crate_name }}::{{ module }}::oauth2;
    let app = app().await;
    let (user, credential) = app.logged_in_user("ada@example.com").await;
    let tokens = oauth2::ProviderTokens {
        access_token: String::new(),
        refresh_token: None,
        expires_at: None,
    };
    oauth2::link_account(&app.state.db, "mock", "ada-at-mock", user.id, &tokens)
        .await
        .expect("a link");
    let change = json!({ "password": "a new password", "current_password": PASSWORD });
    app.patch_as("/users/me", change, &credential)
        .await
        .assert_status(StatusCode::OK);
    let linked = oauth2::find_linked_user(&app.state.db, "mock", "ada-at-mock")
        .await
        .expect("a query");
    assert_eq!(linked, None);
}
{%- endif %}
