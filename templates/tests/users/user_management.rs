//! `GET /users` and `GET`, `PATCH` and `DELETE /users/{id}`.

use {{ crate_name }}::{{ module }}::{self, db, tokens::Purpose};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{PASSWORD, app};

/// Every route of the handler, with a body that would be acceptable.
fn every_route(id: uuid::Uuid) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/users".to_owned(), None),
        (Method::GET, format!("/users/{id}"), None),
        (
            Method::PATCH,
            format!("/users/{id}"),
            Some(json!({ "is_active": false })),
        ),
        (Method::DELETE, format!("/users/{id}"), None),
    ]
}

#[tokio::test]
async fn anonymous_callers_get_401_and_users_without_the_admin_role_403_on_every_route() {
    let app = app().await;
    let (user, credential) = app.logged_in_user("bob@example.com").await;
    app.grant(&user, "editor").await;
    let victim = app.create_user("carol@example.com", true, true).await;
    for (method, path, body) in every_route(victim.id) {
        app.send(method.clone(), &path, body.clone(), None, &[])
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
        app.send(method, &path, body, Some(&credential), &[])
            .await
            .assert_error(StatusCode::FORBIDDEN, "missing_role");
    }
    let stored = db::find_user_by_id(&app.state.db, victim.id).await.unwrap();
    assert!(stored.expect("still there").is_active);
}

#[tokio::test]
async fn an_unknown_or_malformed_id_is_404_on_every_route() {
    let app = app().await;
    let admin = app.admin().await;
    for id in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        for (method, path, body) in every_route(uuid::Uuid::nil()).into_iter().skip(1) {
            let path = path.replace(&uuid::Uuid::nil().to_string(), &id);
            app.send(method, &path, body, Some(&admin), &[])
                .await
                .assert_error(StatusCode::NOT_FOUND, "not_found");
        }
    }
}

#[tokio::test]
async fn listing_users_pages_with_limit_and_offset_and_counts_them_all() {
    let app = app().await;
    let admin = app.admin().await;
    for n in 0..4 {
        app.create_user(&format!("user{n}@example.com"), true, true)
            .await;
    }
    let response = app.get("/users", Some(&admin)).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["total"], 5);
    let all = response.body["items"].as_array().expect("items").clone();
    assert_eq!(all.len(), 5);
    let admin_json = all
        .iter()
        .find(|user| user["email"] == "admin@example.com")
        .expect("the admin in the list");
    assert_eq!(admin_json["roles"][0]["name"], "admin");
    assert_eq!(
        all.iter().filter(|user| user["roles"] == json!([])).count(),
        4
    );
    assert!(all.iter().all(|user| user.get("password_hash").is_none()));
    let response = app.get("/users?limit=2&offset=1", Some(&admin)).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["total"], 5);
    assert_eq!(response.body["items"], json!(all[1..3]));
    let response = app.get("/users?offset=4", Some(&admin)).await;
    assert_eq!(response.body["items"], json!(all[4..]));
    let response = app.get("/users?offset=10", Some(&admin)).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["items"], json!([]));
    assert_eq!(response.body["total"], 5);
}

#[tokio::test]
async fn a_bad_limit_or_offset_is_422() {
    let app = app().await;
    let admin = app.admin().await;
    for query in [
        "limit=0",
        "limit=501",
        "limit=-1",
        "limit=ten",
        "offset=-1",
        "offset=x",
    ] {
        app.get(&format!("/users?{query}"), Some(&admin))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_page");
    }
    app.get("/users?limit=500", Some(&admin))
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn getting_a_user_returns_it_with_its_roles() {
    let app = app().await;
    let admin = app.admin().await;
    let user = app.create_user("bob@example.com", false, true).await;
    let role = app.grant(&user, "editor").await;
    let response = app.get(&format!("/users/{}", user.id), Some(&admin)).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["id"], user.id.to_string());
    assert_eq!(response.body["email"], "bob@example.com");
    assert_eq!(response.body["is_active"], true);
    assert_eq!(response.body["is_verified"], false);
    assert_eq!(response.body["roles"], json!([role]));
    assert!(response.body.get("password_hash").is_none());
}

#[tokio::test]
async fn an_admin_can_change_the_email_password_and_flags() {
    let app = app().await;
    let admin = app.admin().await;
    let user = app.create_user("bob@example.com", false, true).await;
    let path = format!("/users/{}", user.id);
    let change = json!({
        "email": "robert@example.com",
        "password": "a brand new password",
        "is_verified": true,
        "roles": ["admin"],
    });
    let response = app.patch_as(&path, change, &admin).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["email"], "robert@example.com");
    assert_eq!(response.body["is_verified"], true);
    assert_eq!(response.body["is_active"], true);
    assert_eq!(response.body["roles"], json!([]));
    app.login("robert@example.com", "a brand new password")
        .await;
    app.post(
        "/login",
        json!({ "email": "robert@example.com", "password": PASSWORD }),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    let response = app
        .patch_as(&path, json!({ "is_verified": false }), &admin)
        .await;
    assert_eq!(response.body["is_verified"], false);
    assert_eq!(response.body["email"], "robert@example.com");
}

#[tokio::test]
async fn a_taken_email_is_409_and_bad_values_422() {
    let app = app().await;
    let admin = app.admin().await;
    let user = app.create_user("bob@example.com", true, true).await;
    let path = format!("/users/{}", user.id);
    app.patch_as(&path, json!({ "email": "ADMIN@example.com" }), &admin)
        .await
        .assert_error(StatusCode::CONFLICT, "email_taken");
    app.patch_as(&path, json!({ "email": "not an email" }), &admin)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_email");
    app.patch_as(&path, json!({ "password": "short" }), &admin)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "password_too_short");
    app.patch_as(&path, json!({ "is_active": "no" }), &admin)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    let stored = db::find_user_by_id(&app.state.db, user.id).await.unwrap();
    assert_eq!(stored.expect("the user").email, "bob@example.com");
}

#[tokio::test]
async fn a_deactivated_users_session_stops_working_and_their_login_is_403() {
    let app = app().await;
    let admin = app.admin().await;
    let (user, credential) = app.logged_in_user("bob@example.com").await;
    app.get("/users", Some(&credential))
        .await
        .assert_error(StatusCode::FORBIDDEN, "missing_role");
    let path = format!("/users/{}", user.id);
    let response = app
        .patch_as(&path, json!({ "is_active": false }), &admin)
        .await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["is_active"], false);
    app.get("/users", Some(&credential))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    app.post(
        "/login",
        json!({ "email": "bob@example.com", "password": PASSWORD }),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "inactive");
    app.patch_as(&path, json!({ "is_active": true }), &admin)
        .await
        .assert_status(StatusCode::OK);
    // Reactivating does not bring the revoked session back.
    app.get("/users", Some(&credential))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    app.login("bob@example.com", PASSWORD).await;
}

#[tokio::test]
async fn a_new_password_set_by_an_admin_ends_the_users_sessions_and_reset_links() {
    let app = app().await;
    let admin = app.admin().await;
    let (user, credential) = app.logged_in_user("bob@example.com").await;
    app.stored_token(&user, Purpose::Reset, chrono::Duration::hours(1))
        .await;
    let path = format!("/users/{}", user.id);
    app.patch_as(&path, json!({ "password": "a brand new password" }), &admin)
        .await
        .assert_status(StatusCode::OK);
    app.get("/users", Some(&credential))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    // The admin's own session is untouched.
    app.get("/users", Some(&admin))
        .await
        .assert_status(StatusCode::OK);
    let resets: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM user_tokens WHERE purpose = 'reset'")
            .fetch_one(&app.state.db)
            .await
            .expect("a count");
    assert_eq!(resets, 0, "a reset link outlived the new password");
}

{%- if "oauth2" in handlers %}

/// A provider account linked by whoever held the account (perhaps who took it over) must not log
/// in after an admin sets a new password, deactivates the account or sets a new address.
#[tokio::test]
async fn an_admin_change_unlinks_the_users_provider_accounts() {
    use {{ module }}::oauth2::{ProviderTokens, find_linked_user, link_account};
    let app = app().await;
    let admin = app.admin().await;
    let changes = [
        json!({ "password": "a brand new password" }),
        json!({ "is_active": false }),
        json!({ "email": "taken.back@example.com" }),
    ];
    for (n, change) in changes.into_iter().enumerate() {
        let user = app
            .create_user(&format!("user{n}@example.com"), true, true)
            .await;
        let tokens = ProviderTokens {
            access_token: String::new(),
            refresh_token: None,
            expires_at: None,
        };
        let account = format!("{n}");
        link_account(&app.state.db, "mock", &account, user.id, &tokens)
            .await
            .expect("a link");
        let path = format!("/users/{}", user.id);
        app.patch_as(&path, change.clone(), &admin)
            .await
            .assert_status(StatusCode::OK);
        let linked = find_linked_user(&app.state.db, "mock", &account)
            .await
            .expect("a query");
        assert_eq!(
            linked, None,
            "{change}: the provider account is still linked"
        );
    }
}
{%- endif %}

/// An admin's change and what it ends are one transaction: were the sessions deleted after the
/// new password was committed, a login (by password or by link) that came in between would keep
/// its credential. Here the deletion fails, and the password must not have changed either.
#[tokio::test]
async fn an_admin_change_whose_revocation_fails_changes_nothing() {
    let app = app().await;
    let admin = app.admin().await;
    let (user, _credential) = app.logged_in_user("bob@example.com").await;
    // Every deletion of a token now fails.
{%- if db == "sqlite" %}
    let refuse = [
        "CREATE TRIGGER refuse_token_deletes BEFORE DELETE ON user_tokens \
         BEGIN SELECT RAISE(ABORT, 'refused'); END",
    ];
{%- elif db == "postgres" %}
    let refuse = [
        "CREATE FUNCTION refuse_token_deletes() RETURNS trigger LANGUAGE plpgsql \
         AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$",
        "CREATE TRIGGER refuse_token_deletes BEFORE DELETE ON user_tokens \
         FOR EACH ROW EXECUTE FUNCTION refuse_token_deletes()",
    ];
{%- else %}
    let refuse = [
        "CREATE TRIGGER refuse_token_deletes BEFORE DELETE ON user_tokens \
         FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'",
    ];
{%- endif %}
    for statement in refuse {
        sqlx::query(statement)
            .execute(&app.state.db)
            .await
            .expect("a trigger");
    }
    let path = format!("/users/{}", user.id);
    let response = app
        .patch_as(&path, json!({ "password": "a brand new password" }), &admin)
        .await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    let stored = db::find_user_by_id(&app.state.db, user.id)
        .await
        .expect("a query")
        .expect("the user");
    assert_eq!(
        stored.password_hash, user.password_hash,
        "the new password was kept although its sessions were not ended"
    );
}

/// Finding 7 of the review: a verification link mailed to the old address must not verify the
/// address an admin sets.
#[tokio::test]
async fn a_new_email_set_by_an_admin_deletes_the_users_verification_links() {
    let app = app().await;
    let admin = app.admin().await;
    let user = app.create_user("bob@example.com", false, true).await;
    app.stored_token(&user, Purpose::Verify, chrono::Duration::hours(1))
        .await;
    let path = format!("/users/{}", user.id);
    app.patch_as(&path, json!({ "email": "bob@new.example" }), &admin)
        .await
        .assert_status(StatusCode::OK);
    let links: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM user_tokens WHERE purpose = 'verify'")
            .fetch_one(&app.state.db)
            .await
            .expect("a count");
    assert_eq!(
        links, 0,
        "a verification link outlived the change of address"
    );
}
{%- if "current-user" in handlers %}

/// Finding 1 of the review: a pending change of address (asked by whoever took the password)
/// must not outlive a new password or a deactivation set by an admin.
#[tokio::test]
async fn a_new_password_or_a_deactivation_by_an_admin_drops_a_pending_email_change() {
    let app = app().await;
    let admin = app.admin().await;
    for (email, change) in [
        (
            "bob@example.com",
            json!({ "password": "a brand new password" }),
        ),
        ("carol@example.com", json!({ "is_active": false })),
    ] {
        let user = app.create_user(email, true, true).await;
        let (_, token_hash) = {{ module }}::tokens::generate();
        let expires_at = db::expires_in(std::time::Duration::from_secs(3600));
        {{ module }}::email_changes::store_email_change(
            &app.state.db,
            user.id,
            "mallory@evil.example",
            &token_hash,
            expires_at,
        )
        .await
        .expect("a pending change");
        app.patch_as(&format!("/users/{}", user.id), change, &admin)
            .await
            .assert_status(StatusCode::OK);
        let pending = {{ module }}::email_changes::pending_email(&app.state.db, user.id)
            .await
            .expect("a query");
        assert_eq!(pending, None, "{email}: the pending change survived");
    }
}
{%- endif %}

#[tokio::test]
async fn deleting_a_user_ends_their_session_and_a_second_delete_is_404() {
    let app = app().await;
    let admin = app.admin().await;
    let (user, credential) = app.logged_in_user("bob@example.com").await;
    app.grant(&user, "editor").await;
    let path = format!("/users/{}", user.id);
    app.delete_as(&path, &admin)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    app.get(&path, Some(&admin))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.get("/users", Some(&credential))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    assert!(
        {{ module }}::roles::roles_of(&app.state.db, user.id)
            .await
            .unwrap()
            .is_empty()
    );
    app.delete_as(&path, &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    // The email address is free again.
    app.create_user("bob@example.com", true, true).await;
}

#[tokio::test]
async fn deactivating_or_deleting_the_last_active_admin_is_409() {
    let app = app().await;
    let admin = app.admin().await;
    let id = db::find_user_by_email(&app.state.db, "admin@example.com")
        .await
        .unwrap()
        .expect("the admin")
        .id;
    let path = format!("/users/{id}");
    app.patch_as(&path, json!({ "is_active": false }), &admin)
        .await
        .assert_error(StatusCode::CONFLICT, "last_admin");
    app.delete_as(&path, &admin)
        .await
        .assert_error(StatusCode::CONFLICT, "last_admin");
    // Nothing changed: the admin is active and still logged in.
    let stored = db::find_user_by_id(&app.state.db, id).await.unwrap();
    assert!(stored.expect("still there").is_active);
    app.get("/users", Some(&admin))
        .await
        .assert_status(StatusCode::OK);
    // Other changes to the last admin are fine.
    app.patch_as(&path, json!({ "is_verified": true }), &admin)
        .await
        .assert_status(StatusCode::OK);
    // With a second active admin, the first one can go.
    let second = app.create_user("second@example.com", true, true).await;
    app.grant(&second, {{ module }}::roles::ADMIN_ROLE).await;
    app.patch_as(&path, json!({ "is_active": false }), &admin)
        .await
        .assert_status(StatusCode::OK);
    let second_credential = app.login("second@example.com", PASSWORD).await;
    app.delete_as(&path, &second_credential)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let own = format!("/users/{}", second.id);
    app.delete_as(&own, &second_credential)
        .await
        .assert_error(StatusCode::CONFLICT, "last_admin");
}
{%- if db == "sqlite" %}

#[tokio::test]
async fn an_update_that_cannot_get_the_write_lock_in_time_is_503_busy_not_500() {
    let app = app().await;
    let admin = app.admin().await;
    let user = app.create_user("carol@example.com", true, true).await;
    // Another connection holds SQLite's write lock for longer than the busy timeout.
    let lock = app.lock_token_writes().await;
    let response = app
        .patch_as(
            &format!("/users/{}", user.id),
            json!({ "is_verified": false }),
            &admin,
        )
        .await;
    lock.release().await;
    response.assert_error(StatusCode::SERVICE_UNAVAILABLE, "busy");
}
{%- endif %}
