//! `GET /openapi.json`: every route the router serves is in the document, every documented
//! route is served, and real answers validate against the schemas the document gives them.

use std::collections::BTreeSet;
{% if "verify" in handlers or "password-reset" in handlers %}
use {{ crate_name }}::{{ module }}::tokens::Purpose;
{% endif %}
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{ {%- if "auth" in handlers or "register" in handlers %}PASSWORD, {% endif %}TestApp, TestResponse, app{% if backend != "jwt" %}, app_with_config{% endif %}};

/// The routes of the installed handlers, as `cargo users` installed them.
const ROUTES: &[&str] = &[
{%- for route in installed_routes %}
    "{{ route }}",
{%- endfor %}
    // A route you add to the router goes here too.
];

/// The document the app serves.
async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json", None).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.body["openapi"], "3.1.0");
    response.body
}

/// Every operation of the document, as `"METHOD /path"`.
fn operations(document: &Value) -> BTreeSet<String> {
    let paths = document["paths"].as_object().expect("paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().expect("a path item").keys() {
            operations.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    operations
}

#[tokio::test]
async fn the_document_lists_exactly_the_installed_routes() {
    let app = app().await;
    let documented = operations(&document(&app).await);
    let installed: BTreeSet<String> = ROUTES.iter().map(|route| (*route).to_owned()).collect();
    assert_eq!(documented, installed);
}

#[tokio::test]
async fn every_documented_route_is_served_and_needs_a_credential_where_it_says() {
    let app = app().await;
    let document = document(&app).await;
    for operation in operations(&document) {
        let (method, path) = operation.split_once(' ').expect("METHOD /path");
        let secured = document["paths"][path][method.to_lowercase()]["security"].is_array();
        let path = path
            .replace("{id}", "00000000-0000-4000-8000-000000000000")
            .replace("{provider}", "github");
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let response = app.send(method, &path, None, None, &[]).await;
        // The router answers an unknown route 404 and a wrong method 405, without a body; a
        // handler's 404 (an unknown id or provider) has the error body.
        assert_ne!(
            response.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{operation}"
        );
        if response.status == StatusCode::NOT_FOUND {
            assert!(
                response.body["code"].is_string(),
                "{operation} is not routed"
            );
        }
        // Anonymous here: 401 exactly where the document asks for the credential.
        assert_eq!(
            response.status == StatusCode::UNAUTHORIZED,
            secured,
            "{operation} answered {} anonymously",
            response.status
        );
    }
}

{%- if backend != "jwt" %}

#[tokio::test]
async fn the_document_names_the_credential_cookie_as_browsers_get_it() {
{%- if backend == "session" %}
    let cookie = {{ crate_name }}::{{ module }}::config::SESSION_COOKIE;
{%- else %}
    let cookie = {{ crate_name }}::{{ module }}::config::ACCESS_TOKEN_COOKIE;
{%- endif %}
    // On https the cookie has the `__Host-` prefix: the document kept for one must not answer
    // for the other.
    let https = app_with_config(|config| config.app_url = "https://example.com".to_owned()).await;
    let scheme = &document(&https).await["components"]["securitySchemes"]["credential"];
    assert_eq!(scheme["in"], "cookie");
    assert_eq!(scheme["name"], format!("__Host-{cookie}"));
    let http = app().await;
    let scheme = &document(&http).await["components"]["securitySchemes"]["credential"];
    assert_eq!(scheme["name"], cookie);
}
{%- else %}

#[tokio::test]
async fn the_document_names_the_bearer_token() {
    let app = app().await;
    let scheme = &document(&app).await["components"]["securitySchemes"]["credential"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
}
{%- endif %}

/// Asserts that `response`, the answer to `method path` (the path as the document writes it),
/// is what the document says that operation answers with this status.
#[track_caller]
fn assert_documented(document: &Value, method: Method, path: &str, response: &TestResponse) {
    let operation = &document["paths"][path][method.as_str().to_lowercase()];
    assert!(operation.is_object(), "{method} {path} is not documented");
    let status = response.status.as_str();
    let responses = &operation["responses"];
    let documented = match responses.get(status) {
        Some(documented) => documented,
        None => {
            // Only errors fall to the shared `default` answer.
            assert!(
                !response.status.is_success(),
                "{method} {path} answered {status}, which the document does not list: {}",
                response.body
            );
            &responses["default"]
        }
    };
    let documented = match documented["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().expect("a name");
            &document["components"]["responses"][name]
        }
        None => documented,
    };
    let schema = &documented["content"]["application/json"]["schema"];
    let what = format!("{method} {path} {status}");
    if schema.is_null() {
        assert_eq!(
            response.body,
            Value::Null,
            "{what}: a body the document does not have"
        );
    } else {
        assert_valid(document, schema, &response.body, &what);
    }
}

/// Asserts that `value` matches `schema`, whose references point into the document's
/// components. Strict: an object may not have a property its schema does not list, so a field
/// the code sends and the document misses fails here.
#[track_caller]
fn assert_valid(document: &Value, schema: &Value, value: &Value, what: &str) {
    let mut root = json!({
        "components": document["components"].clone(),
        "allOf": [schema.clone()],
    });
    forbid_unlisted_properties(&mut root);
    let validator = jsonschema::validator_for(&root).expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: {value} does not match: {errors:?}"
    );
}

/// Sets `additionalProperties: false` on every object schema that lists its properties.
fn forbid_unlisted_properties(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
            map.values_mut().for_each(forbid_unlisted_properties);
        }
        Value::Array(items) => items.iter_mut().for_each(forbid_unlisted_properties),
        _ => {}
    }
}

#[tokio::test]
async fn real_answers_validate_against_the_documented_schemas() {
    let app = app().await;
    let document = document(&app).await;
    let check = |method: Method, path: &str, response: &TestResponse| {
        assert_documented(&document, method, path, response);
    };
    let answer = app.get("/openapi.json", None).await;
    check(Method::GET, "/openapi.json", &answer);
{%- if "register" in handlers %}

    let body = json!({ "email": "new@example.com", "password": PASSWORD });
    let answer = app.post("/register", body.clone()).await;
    check(Method::POST, "/register", &answer);
    let answer = app.post("/register", body).await;
    check(Method::POST, "/register", &answer);
{%- endif %}
{%- if "auth" in handlers %}

    app.create_user("bob@example.com", true, true).await;
    let login = json!({ "email": "bob@example.com", "password": PASSWORD });
    let answer = app.post("/login", login).await;
    check(Method::POST, "/login", &answer);
    let credential = crate::support::Credential::from_login(&answer);
    let wrong = json!({ "email": "bob@example.com", "password": "not the password" });
    let answer = app.post("/login", wrong).await;
    check(Method::POST, "/login", &answer);
{%- if "current-user" in handlers %}
    let answer = app.get("/users/me", Some(&credential)).await;
    check(Method::GET, "/users/me", &answer);
    let answer = app.patch_as("/users/me", json!({}), &credential).await;
    check(Method::PATCH, "/users/me", &answer);
{%- endif %}
    let answer = app.post_as("/logout", json!({}), &credential).await;
    check(Method::POST, "/logout", &answer);
{%- endif %}
{%- if "verify" in handlers %}

    let answer = app.post("/verify", json!({ "token": "not a token" })).await;
    check(Method::POST, "/verify", &answer);
    let unverified = app.create_user("erin@example.com", false, true).await;
    let token = app
        .stored_token(&unverified, Purpose::Verify, chrono::Duration::hours(1))
        .await;
    let answer = app.post("/verify", json!({ "token": token })).await;
    check(Method::POST, "/verify", &answer);
    let resend = json!({ "email": "new@example.com" });
    let answer = app.post("/verify/resend", resend).await;
    check(Method::POST, "/verify/resend", &answer);
{%- endif %}
{%- if "password-reset" in handlers %}

    let forgot = json!({ "email": "bob@example.com" });
    let answer = app.post("/forgot-password", forgot).await;
    check(Method::POST, "/forgot-password", &answer);
    let reset = json!({ "token": "not a token", "password": "a brand new password" });
    let answer = app.post("/reset-password", reset).await;
    check(Method::POST, "/reset-password", &answer);
    let frank = app.create_user("frank@example.com", true, true).await;
    let token = app
        .stored_token(&frank, Purpose::Reset, chrono::Duration::hours(1))
        .await;
    let reset = json!({ "token": token, "password": "a brand new password" });
    let answer = app.post("/reset-password", reset).await;
    check(Method::POST, "/reset-password", &answer);
{%- endif %}
{%- if "magic-link" in handlers %}

    let user = app.create_user("carol@example.com", true, true).await;
    let request = json!({ "email": user.email });
    let answer = app.post("/magic-link", request).await;
    check(Method::POST, "/magic-link", &answer);
    let token = app.mailed_token(&user.email, "/magic-link").await;
    let link = json!({ "token": token });
    let answer = app.post("/magic-link/login", link.clone()).await;
    check(Method::POST, "/magic-link/login", &answer);
    let answer = app.post("/magic-link/login", link).await;
    check(Method::POST, "/magic-link/login", &answer);
{%- endif %}
{%- if "role-management" in handlers %}

    let admin = app.admin().await;
    let answer = app.get("/users/roles", Some(&admin)).await;
    check(Method::GET, "/users/roles", &answer);
    let new_role = json!({ "name": "editor", "description": "Edits." });
    let answer = app.post_as("/users/roles", new_role, &admin).await;
    check(Method::POST, "/users/roles", &answer);
    let role_id = answer.body["id"].as_str().expect("an id").to_owned();
    let role_path = format!("/users/roles/{role_id}");
    let no_description = json!({ "description": null });
    let answer = app.patch_as(&role_path, no_description, &admin).await;
    check(Method::PATCH, "/users/roles/{id}", &answer);
    let dave = app.create_user("dave@example.com", true, true).await;
    let pair = json!({ "user_id": dave.id, "role_id": role_id });
    let assign = "/users/roles/assign";
    let answer = app.put_as(assign, pair.clone(), &admin).await;
    check(Method::PUT, assign, &answer);
    let revoke = "/users/roles/revoke";
    let answer = app.put_as(revoke, pair.clone(), &admin).await;
    check(Method::PUT, revoke, &answer);
    let answer = app.put_as(revoke, pair, &admin).await;
    check(Method::PUT, revoke, &answer);
    let answer = app.delete_as(&role_path, &admin).await;
    check(Method::DELETE, "/users/roles/{id}", &answer);
{%- if "user-management" in handlers %}

    let answer = app.get("/users?limit=2", Some(&admin)).await;
    check(Method::GET, "/users", &answer);
    let answer = app.get("/users?limit=0", Some(&admin)).await;
    check(Method::GET, "/users", &answer);
    let user_path = format!("/users/{}", dave.id);
    let answer = app.get(&user_path, Some(&admin)).await;
    check(Method::GET, "/users/{id}", &answer);
    let unverify = json!({ "is_verified": false });
    let answer = app.patch_as(&user_path, unverify, &admin).await;
    check(Method::PATCH, "/users/{id}", &answer);
    let answer = app.delete_as(&user_path, &admin).await;
    check(Method::DELETE, "/users/{id}", &answer);
    let answer = app.get(&user_path, Some(&admin)).await;
    check(Method::GET, "/users/{id}", &answer);
{%- endif %}
{%- endif %}
{%- if "oauth2" in handlers %}

    // No provider is configured here: the handler's 404 is an error like any other.
    let unknown = app.get("/oauth2/nowhere/authorize", None).await;
    check(Method::GET, "/oauth2/{provider}/authorize", &unknown);
{%- endif %}
{%- if "totp" in handlers %}

    // Two-factor login: turned on, both steps of a login, turned off.
    let (_, grace) = app.logged_in_user("grace@example.com").await;
    let password = json!({ "current_password": PASSWORD });
    let answer = app
        .post_as("/users/me/totp", password.clone(), &grace)
        .await;
    answer.assert_status(StatusCode::OK);
    check(Method::POST, "/users/me/totp", &answer);
    let secret = answer.body["secret"].as_str().expect("a secret").to_owned();
    let confirm = "/users/me/totp/confirm";
    let wrong = json!({ "code": "abcdef" });
    let answer = app.post_as(confirm, wrong, &grace).await;
    check(Method::POST, confirm, &answer);
    let right = json!({ "code": crate::totp::code(&secret, 0) });
    let answer = app.post_as(confirm, right, &grace).await;
    answer.assert_status(StatusCode::OK);
    check(Method::POST, confirm, &answer);
    let recovery_code = answer.body["recovery_codes"][0].clone();
    let login = json!({ "email": "grace@example.com", "password": PASSWORD });
    let answer = app.post("/login", login).await;
    answer.assert_status(StatusCode::ACCEPTED);
    check(Method::POST, "/login", &answer);
    let mfa_token = answer.body["mfa_token"].clone();
    let wrong = json!({ "mfa_token": mfa_token, "code": "abcdef" });
    let answer = app.post("/login/totp", wrong).await;
    check(Method::POST, "/login/totp", &answer);
    let right = json!({ "mfa_token": mfa_token, "code": recovery_code });
    let answer = app.post("/login/totp", right).await;
    answer.assert_status(StatusCode::CREATED);
    check(Method::POST, "/login/totp", &answer);
{%- if "magic-link" in handlers %}
    let request = json!({ "email": "grace@example.com" });
    app.post("/magic-link", request)
        .await
        .assert_status(StatusCode::ACCEPTED);
    let token = app.mailed_token("grace@example.com", "/magic-link").await;
    let link = json!({ "token": token });
    let answer = app.post("/magic-link/login", link).await;
    answer.assert_status(StatusCode::ACCEPTED);
    check(Method::POST, "/magic-link/login", &answer);
{%- endif %}
    let answer = app
        .send(
            Method::DELETE,
            "/users/me/totp",
            Some(password.clone()),
            Some(&grace),
            &[],
        )
        .await;
    answer.assert_status(StatusCode::NO_CONTENT);
    check(Method::DELETE, "/users/me/totp", &answer);
    let answer = app
        .send(
            Method::DELETE,
            "/users/me/totp",
            Some(password),
            Some(&grace),
            &[],
        )
        .await;
    check(Method::DELETE, "/users/me/totp", &answer);
{%- endif %}
}
{%- if "totp" in handlers %}

/// Asserts that `method path`, a way to log in, documents the 202 of an account with two-factor
/// login on.
#[track_caller]
fn assert_second_step_documented(document: &Value, method: &str, path: &str) {
    let answer = &document["paths"][path][method]["responses"]["202"];
    let schema = &answer["content"]["application/json"]["schema"];
    assert_eq!(
        schema["$ref"], "#/components/schemas/SecondStep",
        "{method} {path}: {answer}"
    );
}

#[tokio::test]
async fn every_way_to_log_in_documents_the_answer_that_asks_for_the_second_step() {
    let app = app().await;
    let document = document(&app).await;
    assert_second_step_documented(&document, "post", "/login");
{%- if "magic-link" in handlers %}
    assert_second_step_documented(&document, "post", "/magic-link/login");
{%- endif %}
{%- if "oauth2" in handlers %}
    assert_second_step_documented(&document, "get", "/oauth2/{provider}/callback");
{%- endif %}
    let schema = &document["components"]["schemas"]["SecondStep"];
    assert_eq!(schema["properties"]["mfa_required"]["type"], "boolean");
    assert_eq!(schema["properties"]["mfa_token"]["type"], "string");
    let required = schema["required"].as_array().expect("required fields");
    assert!(required.contains(&json!("mfa_required")), "{schema}");
    assert!(required.contains(&json!("mfa_token")), "{schema}");
}
{%- endif %}
