//! Two instances of a generated server on one database, as behind a load balancer: they share
//! `DATABASE_URL`, `USERS_SECRET` and `APP_URL`, and every piece of state (accounts, tokens,
//! sessions, revocations) lives in the database, so whichever instance a request reaches answers
//! the same.

use std::time::Duration;

use serde_json::json;

use super::auth::{Backend, Credential, login_user};
use super::checks::{expect_error, expect_json, expect_status, expect_user};
use super::http::{Client, RequestBuilder};
use super::smtp::SmtpSink;

const MAIL_TIMEOUT: Duration = Duration::from_secs(30);

/// One instance as a client sees it.
pub struct Instance {
    pub name: &'static str,
    pub client: Client,
    /// Whether the app has the role-management handler (users then carry `roles`).
    pub has_roles: bool,
}

/// Registers on `first`, verifies on `second`, logs in on each and is recognized by the other,
/// then logs out on each and is refused by the other. `app_url` is the shared `APP_URL`.
pub fn two_instances_share_logins_and_logouts(
    first: &Instance,
    second: &Instance,
    backend: Backend,
    app_url: &str,
    mail: &SmtpSink,
) {
    let email = "bob.scaled@e2e.example.com";
    let password = "bob's scaled passphrase";
    let registered = first
        .client
        .post("/register")
        .json(&json!({"email": email, "password": password}))
        .send();
    let what = format!("POST /register on the {}", first.name);
    let has_roles = first.has_roles;
    expect_user(
        &expect_json(&registered, 201, &what),
        email,
        false,
        has_roles,
        &what,
    );

    let mail = mail.wait_for_mail(email, MAIL_TIMEOUT);
    let token = mail.token_after(&format!("{app_url}/verify?token="));
    let verified = second.client.post(&format!("/verify?token={token}")).send();
    let what = format!(
        "POST /verify on the {} with the token the {} mailed",
        second.name, first.name
    );
    expect_user(
        &expect_json(&verified, 200, &what),
        email,
        true,
        has_roles,
        &what,
    );

    let on_first = login(first, backend, email, password);
    expect_me(
        second,
        &on_first,
        email,
        &format!("a login on the {}", first.name),
    );
    let on_second = login(second, backend, email, password);
    expect_me(
        first,
        &on_second,
        email,
        &format!("a login on the {}", second.name),
    );

    logout(first, backend, &on_first, app_url);
    for instance in [second, first] {
        let what = format!(
            "GET /users/me on the {} with a credential logged out on the {}",
            instance.name, first.name
        );
        expect_error(&me(instance, &on_first).send(), 401, &what);
    }
    logout(second, backend, &on_second, app_url);
    let what = format!(
        "GET /users/me on the {} with a credential logged out on the {}",
        first.name, second.name
    );
    expect_error(&me(first, &on_second).send(), 401, &what);
}

fn login(instance: &Instance, backend: Backend, email: &str, password: &str) -> Credential {
    let login = instance
        .client
        .post("/login")
        .json(&json!({"email": email, "password": password}))
        .send();
    let what = format!("POST /login on the {}", instance.name);
    expect_json(&login, 201, &what);
    expect_user(&login_user(&login), email, true, instance.has_roles, &what);
    backend.credential_from_login(&login)
}

fn me(instance: &Instance, credential: &Credential) -> RequestBuilder {
    credential.apply(instance.client.get("/users/me"))
}

#[track_caller]
fn expect_me(instance: &Instance, credential: &Credential, email: &str, whose: &str) {
    let what = format!("GET /users/me on the {} with {whose}", instance.name);
    expect_user(
        &expect_json(&me(instance, credential).send(), 200, &what),
        email,
        true,
        instance.has_roles,
        &what,
    );
}

fn logout(instance: &Instance, backend: Backend, credential: &Credential, app_url: &str) {
    let mut request = credential.apply(instance.client.post("/logout"));
    if backend.uses_cookies() {
        // What a browser on the app's own site sends.
        request = request.header("Origin", app_url);
    }
    let response = request.send();
    expect_status(
        &response,
        204,
        &format!("POST /logout on the {}", instance.name),
    );
    credential.assert_cleared_by(&response);
}
