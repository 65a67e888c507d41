//! `GET`/`POST /users/roles`, `PATCH`/`DELETE /users/roles/{id}`, `PUT /users/roles/assign` and
//! `PUT /users/roles/revoke`.

{% if app_mode -%}
use {{ crate_name }}::{{ module }}::{
    cli::{self, UsersCommand, roles::RoleCommand},
    db,
    roles::{self, ADMIN_ROLE},
};
{%- else -%}
use {{ crate_name }}::{{ module }}::{
    db,
    roles::{self, ADMIN_ROLE},
};
{%- endif %}

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, app};

/// Every route of the handler, with a body that would be acceptable.
fn every_route() -> Vec<(Method, String, Option<Value>)> {
    let id = uuid::Uuid::new_v4();
    let pair = json!({ "user_id": uuid::Uuid::new_v4(), "role_id": id });
    vec![
        (Method::GET, "/users/roles".to_owned(), None),
        (
            Method::POST,
            "/users/roles".to_owned(),
            Some(json!({ "name": "editor" })),
        ),
        (
            Method::PATCH,
            format!("/users/roles/{id}"),
            Some(json!({ "name": "editor" })),
        ),
        (Method::DELETE, format!("/users/roles/{id}"), None),
        (
            Method::PUT,
            "/users/roles/assign".to_owned(),
            Some(pair.clone()),
        ),
        (Method::PUT, "/users/roles/revoke".to_owned(), Some(pair)),
    ]
}

#[tokio::test]
async fn anonymous_callers_get_401_and_users_without_the_admin_role_403_on_every_route() {
    let app = app().await;
    let (user, credential) = app.logged_in_user("bob@example.com").await;
    app.grant(&user, "editor").await;
    for (method, path, body) in every_route() {
        app.send(method.clone(), &path, body.clone(), None, &[])
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "not_authenticated");
        app.send(method, &path, body, Some(&credential), &[])
            .await
            .assert_error(StatusCode::FORBIDDEN, "missing_role");
    }
    // The admin role of the migrations and `editor`: nothing was created.
    assert_eq!(roles::list_roles(&app.state.db).await.unwrap().len(), 2);
}

#[tokio::test]
async fn listing_roles_returns_items_and_total() {
    let app = app().await;
    let admin = app.admin().await;
    app.role("editor").await;
    let response = app.get("/users/roles", Some(&admin)).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["total"], 2);
    let names: Vec<&str> = response.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|role| role["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["admin", "editor"]);
    assert!(response.body["items"][0]["id"].is_string());
}

#[tokio::test]
async fn creating_a_role_returns_201_and_a_taken_name_409_in_any_case() {
    let app = app().await;
    let admin = app.admin().await;
    let response = app
        .post_as(
            "/users/roles",
            json!({ "name": "editor", "description": "Edits articles" }),
            &admin,
        )
        .await;
    response.assert_status(StatusCode::CREATED);
    assert_eq!(response.body["name"], "editor");
    assert_eq!(response.body["description"], "Edits articles");
    assert!(response.body["id"].is_string());
    for name in ["editor", "EDITOR", " Editor "] {
        app.post_as("/users/roles", json!({ "name": name }), &admin)
            .await
            .assert_error(StatusCode::CONFLICT, "role_name_taken");
    }
    let response = app
        .post_as("/users/roles", json!({ "name": "viewer" }), &admin)
        .await;
    response.assert_status(StatusCode::CREATED);
    assert_eq!(response.body["description"], Value::Null);
}

#[tokio::test]
async fn a_bad_role_name_or_description_is_422() {
    let app = app().await;
    let admin = app.admin().await;
    let too_long = "x".repeat(65);
    for name in ["", "   ", "two words", "ünïcode", too_long.as_str()] {
        app.post_as("/users/roles", json!({ "name": name }), &admin)
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_role_name");
    }
    let description = "x".repeat(1001);
    app.post_as(
        "/users/roles",
        json!({ "name": "editor", "description": description }),
        &admin,
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_description");
    app.post_as("/users/roles", json!({ "description": "no name" }), &admin)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
}

#[tokio::test]
async fn updating_a_role_renames_it_and_changes_its_description() {
    let app = app().await;
    let admin = app.admin().await;
    let role = app.role("editor").await;
    let path = format!("/users/roles/{}", role.id);
    let response = app
        .patch_as(
            &path,
            json!({ "name": "author", "description": "Writes" }),
            &admin,
        )
        .await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["id"], role.id.to_string());
    assert_eq!(response.body["name"], "author");
    assert_eq!(response.body["description"], "Writes");
    let response = app
        .patch_as(&path, json!({ "description": null }), &admin)
        .await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["name"], "author");
    assert_eq!(response.body["description"], Value::Null);
    let stored = roles::find_role_by_id(&app.state.db, role.id)
        .await
        .unwrap();
    assert_eq!(stored.expect("the role").name, "author");
}

#[tokio::test]
async fn updating_a_role_is_404_for_an_unknown_id_409_for_a_taken_name_and_422_for_a_bad_one() {
    let app = app().await;
    let admin = app.admin().await;
    let role = app.role("editor").await;
    let unknown = format!("/users/roles/{}", uuid::Uuid::new_v4());
    app.patch_as(&unknown, json!({ "name": "x" }), &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.patch_as("/users/roles/not-a-uuid", json!({ "name": "x" }), &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let path = format!("/users/roles/{}", role.id);
    app.patch_as(&path, json!({ "name": "Admin" }), &admin)
        .await
        .assert_error(StatusCode::CONFLICT, "role_name_taken");
    app.patch_as(&path, json!({ "name": "no spaces please" }), &admin)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_role_name");
}

#[tokio::test]
async fn deleting_a_role_takes_it_from_its_users_and_a_second_delete_is_404() {
    let app = app().await;
    let admin = app.admin().await;
    let user = app.create_user("bob@example.com", true, true).await;
    let role = app.grant(&user, "editor").await;
    let path = format!("/users/roles/{}", role.id);
    app.delete_as(&path, &admin)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    assert!(
        roles::roles_of(&app.state.db, user.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        roles::find_role_by_id(&app.state.db, role.id)
            .await
            .unwrap()
            .is_none()
    );
    app.delete_as(&path, &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.delete_as("/users/roles/42", &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn assigning_a_role_returns_the_user_with_roles_and_twice_is_409() {
    let app = app().await;
    let admin = app.admin().await;
    let user = app.create_user("bob@example.com", true, true).await;
    let role = app.role("editor").await;
    let pair = json!({ "user_id": user.id, "role_id": role.id });
    let response = app
        .put_as("/users/roles/assign", pair.clone(), &admin)
        .await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["id"], user.id.to_string());
    assert_eq!(response.body["roles"][0]["name"], "editor");
    assert_eq!(response.body["roles"][0]["id"], role.id.to_string());
    assert!(response.body.get("password_hash").is_none());
    app.put_as("/users/roles/assign", pair, &admin)
        .await
        .assert_error(StatusCode::CONFLICT, "role_already_held");
    let roles = roles::roles_of(&app.state.db, user.id).await.unwrap();
    assert_eq!(roles, [role]);
}

#[tokio::test]
async fn assigning_or_revoking_an_unknown_user_or_role_is_404() {
    let app = app().await;
    let admin = app.admin().await;
    let user = app.create_user("bob@example.com", true, true).await;
    let role = app.role("editor").await;
    let nobody = json!({ "user_id": uuid::Uuid::new_v4(), "role_id": role.id });
    let nothing = json!({ "user_id": user.id, "role_id": uuid::Uuid::new_v4() });
    for path in ["/users/roles/assign", "/users/roles/revoke"] {
        app.put_as(path, nobody.clone(), &admin)
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
        app.put_as(path, nothing.clone(), &admin)
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
        app.put_as(path, json!({ "user_id": "x", "role_id": role.id }), &admin)
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    }
}

#[tokio::test]
async fn revoking_a_role_returns_the_user_and_a_role_not_held_is_409() {
    let app = app().await;
    let admin = app.admin().await;
    let user = app.create_user("bob@example.com", true, true).await;
    let editor = app.grant(&user, "editor").await;
    let viewer = app.grant(&user, "viewer").await;
    let pair = json!({ "user_id": user.id, "role_id": editor.id });
    let response = app
        .put_as("/users/roles/revoke", pair.clone(), &admin)
        .await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["id"], user.id.to_string());
    assert_eq!(response.body["roles"], json!([viewer]));
    app.put_as("/users/roles/revoke", pair, &admin)
        .await
        .assert_error(StatusCode::CONFLICT, "role_not_held");
}

#[tokio::test]
async fn a_new_role_works_at_the_next_request_and_a_revoked_one_stops_working() {
    let app = app().await;
    let admin = app.admin().await;
    let (user, credential) = app.logged_in_user("bob@example.com").await;
    let role = app.role("admin").await;
    app.get("/users/roles", Some(&credential))
        .await
        .assert_error(StatusCode::FORBIDDEN, "missing_role");
    let pair = json!({ "user_id": user.id, "role_id": role.id });
    app.put_as("/users/roles/assign", pair.clone(), &admin)
        .await
        .assert_status(StatusCode::OK);
    app.get("/users/roles", Some(&credential))
        .await
        .assert_status(StatusCode::OK);
    app.put_as("/users/roles/revoke", pair, &admin)
        .await
        .assert_status(StatusCode::OK);
    app.get("/users/roles", Some(&credential))
        .await
        .assert_error(StatusCode::FORBIDDEN, "missing_role");
}

#[tokio::test]
async fn the_login_answer_lists_the_users_roles() {
    let app = app().await;
    let user = app.create_user("bob@example.com", true, true).await;
    app.grant(&user, "editor").await;
    let response = app
        .post(
            "/login",
            json!({ "email": "bob@example.com", "password": PASSWORD }),
        )
        .await;
    response.assert_status(StatusCode::CREATED);
    assert_eq!(response.body["user"]["roles"][0]["name"], "editor");
}
{%- if "current-user" in handlers %}

#[tokio::test]
async fn an_authenticated_request_sees_all_the_users_roles_sorted_by_name_and_no_others() {
    let app = app().await;
    let user = app.create_user("bob@example.com", true, true).await;
    let other = app.create_user("eve@example.com", true, true).await;
    app.grant(&other, "other").await;
    // The look-up carries the roles as JSON: a description that looks like JSON stays text.
    let tricky = r#"Says "hi"], [{"id": null}, \ and ünïcödé"#;
    let beta = roles::create_role(&app.state.db, "beta", Some(tricky))
        .await
        .expect("a role");
    roles::assign_role(&app.state.db, user.id, beta.id)
        .await
        .expect("an assignment");
    app.grant(&user, "Alpha").await;
    app.grant(&user, "a_b").await;
    let credential = app.login("bob@example.com", PASSWORD).await;
    let response = app.get("/users/me", Some(&credential)).await;
    response.assert_status(StatusCode::OK);
    let roles = response.body["roles"].as_array().expect("roles");
    let names: Vec<&str> = roles
        .iter()
        .map(|role| role["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["a_b", "Alpha", "beta"]);
    assert_eq!(roles[2]["id"], beta.id.to_string());
    assert_eq!(roles[2]["description"], tricky);
    assert_eq!(roles[0]["description"], Value::Null);
    // The same order wherever a user's roles are listed.
    let listed = roles::roles_of(&app.state.db, user.id).await.unwrap();
    let listed: Vec<&str> = listed.iter().map(|role| role.name.as_str()).collect();
    assert_eq!(listed, names);
{%- if db == "mysql" %}
    // MariaDB cuts JSON aggregates such as the look-up's roles at `group_concat_max_len` (as low as
    // 1 KiB on some servers): every connection of the pool lifts it.
    let cap: u64 = sqlx::query_scalar("SELECT @@SESSION.group_concat_max_len")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(cap, 1 << 30);
{%- endif %}
}
{%- endif %}
{%- if app_mode %}

#[tokio::test]
async fn the_management_commands_create_roles_and_users_and_a_second_assign_role_says_so() {
    let app = app().await;
    // The migrations created the admin role: creating it again says so and changes nothing.
    let create_role = |name: &str| {
        UsersCommand::Roles(RoleCommand::CreateRole {
            name: name.to_owned(),
            description: Some("Runs the place".to_owned()),
        })
    };
    let said = cli::run(&app.state, create_role("ADMIN"))
        .await
        .expect("no error");
    assert_eq!(said, "the role ADMIN exists already; nothing changed");
    let said = cli::run(&app.state, create_role("editor"))
        .await
        .expect("a new role");
    assert!(said.starts_with("created role editor"), "{said}");
    let create_user = |email: &str, roles: &[&str]| UsersCommand::CreateUser {
        email: email.to_owned(),
        password: Some(PASSWORD.to_owned()),
        password_stdin: false,
        verified: true,
        inactive: false,
        roles: roles.iter().map(|role| (*role).to_owned()).collect(),
    };
    let said = cli::run(&app.state, create_user("ada@example.com", &["admin"]))
        .await
        .expect("a new admin");
    assert!(said.contains("with the roles admin"), "{said}");
    // An unknown role creates nothing.
    cli::run(&app.state, create_user("bob@example.com", &["nope"]))
        .await
        .expect_err("an unknown role");
    assert!(
        db::find_user_by_email(&app.state.db, "bob@example.com")
            .await
            .unwrap()
            .is_none()
    );
    cli::run(&app.state, create_user("bob@example.com", &[]))
        .await
        .expect("a new user");
    let assign = || {
        UsersCommand::Roles(RoleCommand::AssignRole {
            email: "BOB@example.com".to_owned(),
            role: "Admin".to_owned(),
        })
    };
    let said = cli::run(&app.state, assign()).await.expect("an assignment");
    assert_eq!(said, "gave the role admin to bob@example.com");
    let said = cli::run(&app.state, assign()).await.expect("no error");
    assert!(said.contains("already"), "{said}");
    // Both can use the admin routes at once: the changes were committed.
    for email in ["ada@example.com", "bob@example.com"] {
        let credential = app.login(email, PASSWORD).await;
        app.get("/users/roles", Some(&credential))
            .await
            .assert_status(StatusCode::OK);
    }
}
{%- endif %}

#[tokio::test]
async fn the_admin_role_exists_on_a_fresh_app() {
    let app = app().await;
    let role = roles::find_role_by_name(&app.state.db, ADMIN_ROLE)
        .await
        .unwrap()
        .expect("the admin role of the migrations");
    assert_eq!(role.name, "admin");
}

/// The user `admin@example.com` that [`TestApp::admin`] creates.
async fn first_admin(app: &TestApp) -> uuid::Uuid {
    db::find_user_by_email(&app.state.db, "admin@example.com")
        .await
        .unwrap()
        .expect("the admin")
        .id
}

#[tokio::test]
async fn revoking_deleting_or_renaming_the_last_active_admins_role_is_409() {
    let app = app().await;
    let admin = app.admin().await;
    let role = app.role(ADMIN_ROLE).await;
    let pair = json!({ "user_id": first_admin(&app).await, "role_id": role.id });
    let path = format!("/users/roles/{}", role.id);
    app.put_as("/users/roles/revoke", pair.clone(), &admin)
        .await
        .assert_error(StatusCode::CONFLICT, "last_admin");
    app.delete_as(&path, &admin)
        .await
        .assert_error(StatusCode::CONFLICT, "last_admin");
    app.patch_as(&path, json!({ "name": "owner" }), &admin)
        .await
        .assert_error(StatusCode::CONFLICT, "last_admin");
    // A deactivated admin does not count.
    let second = app.create_user("second@example.com", true, false).await;
    app.grant(&second, ADMIN_ROLE).await;
    app.put_as("/users/roles/revoke", pair.clone(), &admin)
        .await
        .assert_error(StatusCode::CONFLICT, "last_admin");
    app.get("/users/roles", Some(&admin))
        .await
        .assert_status(StatusCode::OK);
    // With another active admin, the first one can give the role up.
    let third = app.create_user("third@example.com", true, true).await;
    app.grant(&third, ADMIN_ROLE).await;
    app.put_as("/users/roles/revoke", pair, &admin)
        .await
        .assert_status(StatusCode::OK);
    app.get("/users/roles", Some(&admin))
        .await
        .assert_error(StatusCode::FORBIDDEN, "missing_role");
}

#[tokio::test]
async fn two_admins_revoking_each_other_at_once_leave_one_admin() {
    let app = app().await;
    let ada = app.admin().await;
    let bob = app.create_user("bob@example.com", true, true).await;
    let role = app.grant(&bob, ADMIN_ROLE).await;
    let bob_credential = app.login("bob@example.com", PASSWORD).await;
    let revoke_bob = json!({ "user_id": bob.id, "role_id": role.id });
    let revoke_ada = json!({ "user_id": first_admin(&app).await, "role_id": role.id });
    let (first, second) = tokio::join!(
        app.put_as("/users/roles/revoke", revoke_bob, &ada),
        app.put_as("/users/roles/revoke", revoke_ada, &bob_credential),
    );
    let statuses = [first.status, second.status];
    let revoked = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(revoked, 1, "statuses: {statuses:?}");
    // The other one was refused: by the last-admin check, or by the guard if it came second.
    for response in [&first, &second] {
        if response.status == StatusCode::CONFLICT {
            response.assert_error(StatusCode::CONFLICT, "last_admin");
        } else if response.status != StatusCode::OK {
            response.assert_error(StatusCode::FORBIDDEN, "missing_role");
        }
    }
    let mut admins = 0;
    for id in [bob.id, first_admin(&app).await] {
        let roles = roles::roles_of(&app.state.db, id).await.unwrap();
        admins += roles.iter().filter(|r| r.name == ADMIN_ROLE).count();
    }
    assert_eq!(admins, 1);
}
