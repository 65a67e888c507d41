//! The walk over the HTTP API of a running generated app (contract section 3, handlers
//! `register`, `verify`, `auth`, `current-user` and `password-reset`, and with every handler
//! `magic-link` and `openapi`), shared by every backend:
//! what differs between backends is in [`Credential`].

use std::time::Duration;

use serde_json::{Value, json};

use super::auth::{Backend, Credential, login_user};
use super::checks::{expect_error, expect_error_code, expect_json, expect_status, expect_user};
use super::http::{Client, RequestBuilder, Response};
use super::project::HOOK_FAILS_ONCE;
use super::smtp::SmtpSink;

/// How long the app may take to hand a mail to the sink.
const MAIL_TIMEOUT: Duration = Duration::from_secs(30);

/// A running app and what the walk needs to talk to it.
pub struct App<'a> {
    pub client: Client,
    /// `APP_URL` as the server was given it: the base of the links in mails.
    pub app_url: String,
    pub backend: Backend,
    pub mail: &'a SmtpSink,
    /// Whether the app has the role-management handler (users then carry `roles`).
    pub has_roles: bool,
    /// Whether the app has the magic-link handler (0.3.0).
    pub has_magic_link: bool,
    /// Whether the app has the openapi handler (0.3.0); then it has every handler.
    pub has_openapi: bool,
}

/// An account the walk creates.
struct Account {
    email: String,
    password: String,
}

impl Account {
    fn new(name: &str) -> Account {
        Account {
            email: format!("{name}@e2e.example.com"),
            password: format!("{name}'s passphrase 1"),
        }
    }
}

/// Walks the whole contract for the installed handlers; panics at the first deviation.
pub fn contract(app: &App) {
    let alice = Account::new("alice");
    registration(app, &alice);
    registration_failures(app, &alice);
    a_failing_hook_undoes_the_registration(app);
    let verification_token = verification(app, &alice);
    privileged_fields_are_ignored_at_registration(app);
    login_failures(app, &alice);
    session_lifecycle(app, &alice, &verification_token);
    let alice = password_reset(app, alice);
    if app.has_magic_link {
        magic_link(app, &alice);
        a_login_link_claims_an_account_someone_else_registered(app);
    }
    update_current_user(app, alice);
    malformed_requests(app);
    if app.has_openapi {
        the_document_lists_every_route(app);
    }
}

impl App<'_> {
    /// `POST path` with a JSON body.
    fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(path).json(body).send()
    }

    fn login(&self, email: &str, password: &str) -> Response {
        self.post_json("/login", &json!({"email": email, "password": password}))
    }

    /// Logs in (expecting 201 and the user in the body) and returns the credential handed out.
    #[track_caller]
    fn login_ok(&self, account: &Account) -> Credential {
        let login = self.login(&account.email, &account.password);
        expect_json(&login, 201, "POST /login with the right password");
        expect_user(
            &login_user(&login),
            &account.email,
            true,
            self.has_roles,
            "POST /login: body `user`",
        );
        self.backend.credential_from_login(&login)
    }

    /// `GET /users/me`, with a credential or anonymously.
    fn me(&self, credential: Option<&Credential>) -> Response {
        self.with(credential, self.client.get("/users/me")).send()
    }

    fn with(&self, credential: Option<&Credential>, request: RequestBuilder) -> RequestBuilder {
        match credential {
            Some(credential) => credential.apply(request),
            None => request,
        }
    }

    /// Checks that `GET /users/me` with `credential` answers 401.
    #[track_caller]
    fn expect_refused(&self, credential: &Credential, what: &str) {
        expect_error(
            &self.me(Some(credential)),
            401,
            &format!("GET /users/me with {what}"),
        );
    }

    /// Checks that `GET /users/me` with `credential` answers 200 with the account's user.
    #[track_caller]
    fn expect_accepted(&self, credential: &Credential, email: &str, what: &str) -> Value {
        let what = format!("GET /users/me with {what}");
        let user = expect_json(&self.me(Some(credential)), 200, &what);
        expect_user(&user, email, true, self.has_roles, &what);
        user
    }

    /// Waits for the next mail to `email` and returns the token of its `<APP_URL><path>?token=` link.
    #[track_caller]
    fn mailed_token(&self, email: &str, path: &str) -> String {
        let mail = self.mail.wait_for_mail(email, MAIL_TIMEOUT);
        mail.token_after(&format!("{}{path}?token=", self.app_url))
    }
}

/// `POST /register` answers 201 with an unverified user, and a verification mail follows.
fn registration(app: &App, account: &Account) {
    let response = app.post_json(
        "/register",
        &json!({"email": account.email, "password": account.password}),
    );
    let user = expect_json(&response, 201, "POST /register");
    expect_user(
        &user,
        &account.email,
        false,
        app.has_roles,
        "POST /register",
    );
}

/// A `post_registration` hook that fails (the harness fills one in that fails the first
/// registration of its addresses, see `Project::fill_in_a_hook_that_fails_once`) undoes the whole
/// registration: the answer is the hook's error, and trying again is 201, not 409 "email taken".
/// No mail goes out for the attempt that failed: the retry's mail and then a resend's arrive, and
/// they are the only two mails to the address.
fn a_failing_hook_undoes_the_registration(app: &App) {
    let account = Account::new(HOOK_FAILS_ONCE);
    let body = json!({"email": account.email, "password": account.password});
    expect_error_code(
        &app.post_json("/register", &body),
        422,
        "hook_failed",
        "POST /register whose post_registration hook fails",
    );
    let user = expect_json(
        &app.post_json("/register", &body),
        201,
        "POST /register again after the hook failed",
    );
    expect_user(
        &user,
        &account.email,
        false,
        app.has_roles,
        "POST /register again after the hook failed",
    );
    let retried = app.mailed_token(&account.email, "/verify");
    expect_status(
        &app.post_json("/verify/resend", &json!({"email": account.email})),
        202,
        "POST /verify/resend after the retried registration",
    );
    let resent = app.mailed_token(&account.email, "/verify");
    // Had the failed attempt mailed anything, it would have been sent before both of these.
    let mailed = app
        .mail
        .mails()
        .iter()
        .filter(|mail| {
            mail.to
                .iter()
                .any(|to| to.eq_ignore_ascii_case(&account.email))
        })
        .count();
    assert_eq!(
        mailed,
        2,
        "a registration whose hook failed sent a mail; the sink received:\n{}",
        app.mail.summary()
    );
    assert_ne!(retried, resent, "the resend mailed a new link");
    let verified = expect_json(
        &app.post_json("/verify", &json!({"token": resent})),
        200,
        "POST /verify with the newest link of the retried registration",
    );
    assert_eq!(
        verified["id"], user["id"],
        "the link verifies the retried account: {verified}"
    );
}

/// The failure rows of `register`: 409 for a taken email in any letter case, 422 for a bad
/// email, a password under 8 characters or over 1024 bytes, a missing or ill-typed field.
fn registration_failures(app: &App, taken: &Account) {
    let register = |body: Value| app.post_json("/register", &body);
    let password = "long enough password";
    expect_error(
        &register(json!({"email": taken.email, "password": password})),
        409,
        "POST /register, email taken",
    );
    let shouted = taken.email.to_uppercase();
    expect_error(
        &register(json!({"email": shouted, "password": password})),
        409,
        "POST /register, email taken in other letter case",
    );
    for bad_email in ["not-an-email", "", "two@@e2e.example.com"] {
        expect_error(
            &register(json!({"email": bad_email, "password": password})),
            422,
            &format!("POST /register with the email {bad_email:?}"),
        );
    }
    let fresh = |name: &str| format!("{name}@e2e.example.com");
    expect_error(
        &register(json!({"email": fresh("short"), "password": "7 chars"})),
        422,
        "POST /register, 7-char password",
    );
    expect_error(
        &register(json!({"email": fresh("huge"), "password": "x".repeat(1025)})),
        422,
        "POST /register, 1025-byte password",
    );
    expect_error(
        &register(json!({"email": fresh("nopass")})),
        422,
        "POST /register without password",
    );
    expect_error(
        &register(json!({"email": 42, "password": password})),
        422,
        "POST /register, email a number",
    );
    let eight = register(json!({"email": fresh("eight"), "password": "8 chars!"}));
    expect_user(
        &expect_json(&eight, 201, "POST /register, 8-char password"),
        &fresh("eight"),
        false,
        app.has_roles,
        "8-char password",
    );
}

/// The verification mail, `POST /verify`, single use, and login refused before it.
/// Returns the (now used) verification token.
fn verification(app: &App, account: &Account) -> String {
    let token = app.mailed_token(&account.email, "/verify");

    let early = app.login(&account.email, &account.password);
    expect_error_code(&early, 403, "not_verified", "POST /login before verifying");

    // A token of another purpose is refused and not consumed.
    let wrong_purpose = app.post_json(
        "/reset-password",
        &json!({"token": token, "password": "brand new password"}),
    );
    expect_error(
        &wrong_purpose,
        400,
        "POST /reset-password with a verification token",
    );

    let verified = app.client.post(&format!("/verify?token={token}")).send();
    let user = expect_json(&verified, 200, "POST /verify?token=<mailed token>");
    expect_user(&user, &account.email, true, app.has_roles, "POST /verify");

    let again = app.client.post(&format!("/verify?token={token}")).send();
    expect_error(&again, 400, "POST /verify with an already used token");
    let unknown = app.client.post("/verify?token=no-such-token").send();
    expect_error(&unknown, 400, "POST /verify with an unknown token");

    let resend = app.post_json(
        "/verify/resend",
        &json!({"email": "nobody@e2e.example.com"}),
    );
    expect_status(&resend, 202, "POST /verify/resend for an unknown email");
    token
}

/// Fields like `is_verified`, `is_active` and `roles` in a registration body are ignored; the
/// account then verifies through `/verify/resend` and `POST /verify {token}`.
fn privileged_fields_are_ignored_at_registration(app: &App) {
    let mallory = Account::new("mallory");
    let body = json!({
        "email": mallory.email, "password": mallory.password,
        "is_verified": true, "is_active": false, "roles": ["admin"], "id": "00000000-0000-0000-0000-000000000000",
    });
    let user = expect_json(
        &app.post_json("/register", &body),
        201,
        "POST /register with privileged fields",
    );
    let id = expect_user(
        &user,
        &mallory.email,
        false,
        app.has_roles,
        "POST /register with privileged fields",
    );
    assert_ne!(
        id, "00000000-0000-0000-0000-000000000000",
        "POST /register took the `id` from the body: {user}"
    );
    // Asserted in every cell: with role-management the user has `roles` (and none from the
    // body), without it no `roles` at all.
    let expected_roles = app.has_roles.then(|| json!([]));
    assert_eq!(
        user.get("roles"),
        expected_roles.as_ref(),
        "POST /register: `roles` (role-management installed: {}): {user}",
        app.has_roles
    );
    let _first = app.mailed_token(&mallory.email, "/verify");
    let resend = app.post_json("/verify/resend", &json!({"email": mallory.email}));
    expect_status(
        &resend,
        202,
        "POST /verify/resend for an unverified account",
    );
    let token = app.mailed_token(&mallory.email, "/verify");
    let verified = app.post_json("/verify", &json!({"token": token}));
    let user = expect_json(&verified, 200, "POST /verify with the token in the body");
    expect_user(
        &user,
        &mallory.email,
        true,
        app.has_roles,
        "POST /verify {token}",
    );
}

/// A wrong password and an unknown email get the same 401.
fn login_failures(app: &App, account: &Account) {
    let wrong_password = app.login(&account.email, "not the password");
    expect_error(&wrong_password, 401, "POST /login with a wrong password");
    let unknown = app.login("nobody@e2e.example.com", &account.password);
    expect_error(&unknown, 401, "POST /login with an unknown email");
    assert_eq!(
        wrong_password.json(),
        unknown.json(),
        "a wrong password and an unknown email must get the same answer"
    );
}

/// Login, `GET /users/me`, CSRF refusal on cookie backends, logout and server-side revocation.
fn session_lifecycle(app: &App, account: &Account, verification_token: &str) {
    let credential = app.login_ok(account);
    app.expect_accepted(&credential, &account.email, "the login credential");
    expect_error(&app.me(None), 401, "GET /users/me anonymously");
    app.expect_refused(
        &credential.forged_with(verification_token),
        "the verification token as credential",
    );

    if app.backend.uses_cookies() {
        cross_site_requests_are_refused(app, &credential, &account.email);
    }

    let mut logout = app.with(Some(&credential), app.client.post("/logout"));
    if app.backend.uses_cookies() {
        // What a browser on the app's own site sends.
        logout = logout.header("Origin", &app.app_url);
    }
    let logout = logout.send();
    expect_status(&logout, 204, "POST /logout");
    credential.assert_cleared_by(&logout);
    app.expect_refused(
        &credential,
        "the credential of before the logout (replayed)",
    );
    let again = app
        .with(Some(&credential), app.client.post("/logout"))
        .send();
    expect_error(&again, 401, "POST /logout when no longer logged in");
    expect_error(
        &app.client.post("/logout").send(),
        401,
        "POST /logout anonymously",
    );
}

/// A state-changing request from another site (by `Origin`, or by `Sec-Fetch-Site` without it)
/// is refused with 403 and changes nothing.
fn cross_site_requests_are_refused(app: &App, credential: &Credential, email: &str) {
    let evil = credential
        .apply(app.client.post("/logout"))
        .header("Origin", "https://evil.example")
        .send();
    expect_error(&evil, 403, "POST /logout with Origin: https://evil.example");
    app.expect_accepted(
        credential,
        email,
        "the credential after a refused cross-site logout",
    );
    let fetch = credential
        .apply(app.client.post("/logout"))
        .header("Sec-Fetch-Site", "cross-site")
        .send();
    expect_error(&fetch, 403, "POST /logout with Sec-Fetch-Site: cross-site");
    app.expect_accepted(
        credential,
        email,
        "the credential after a refused Sec-Fetch-Site logout",
    );
}

/// Forgot password, the reset mail, single-use reset, revocation of every session, and login
/// with the old (401) and the new (201) password. Returns the account with its new password.
fn password_reset(app: &App, account: Account) -> Account {
    let before_reset = app.login_ok(&account);
    let forgot = app.post_json("/forgot-password", &json!({"email": account.email}));
    expect_status(&forgot, 202, "POST /forgot-password");
    let unknown = app.post_json(
        "/forgot-password",
        &json!({"email": "nobody@e2e.example.com"}),
    );
    expect_status(&unknown, 202, "POST /forgot-password for an unknown email");

    let token = app.mailed_token(&account.email, "/reset-password");
    app.expect_refused(
        &before_reset.forged_with(&token),
        "the reset token as credential",
    );
    let wrong_purpose = app.client.post(&format!("/verify?token={token}")).send();
    expect_error(
        &wrong_purpose,
        400,
        "POST /verify with a password reset token",
    );

    let new_password = "a completely new passphrase";
    let reset = app.post_json(
        "/reset-password",
        &json!({"token": token, "password": new_password}),
    );
    expect_status(&reset, 200, "POST /reset-password with the mailed token");
    let again = app.post_json(
        "/reset-password",
        &json!({"token": token, "password": "yet another password"}),
    );
    expect_error(
        &again,
        400,
        "POST /reset-password with an already used token",
    );

    app.expect_refused(&before_reset, "a credential from before the password reset");
    let old = app.login(&account.email, &account.password);
    expect_error(
        &old,
        401,
        "POST /login with the password from before the reset",
    );
    let account = Account {
        password: new_password.to_string(),
        ..account
    };
    let after_reset = app.login_ok(&account);
    assert_ne!(
        after_reset, before_reset,
        "every login must hand out a new credential"
    );
    app.expect_accepted(
        &after_reset,
        &account.email,
        "a credential from after the reset",
    );
    account
}

/// `POST /magic-link` mails a login link (202 for an unknown address too); the link logs in once,
/// as `POST /login` does, and is no credential itself nor a token of another purpose.
fn magic_link(app: &App, account: &Account) {
    let ask = app.post_json("/magic-link", &json!({"email": account.email}));
    expect_status(&ask, 202, "POST /magic-link");
    let unknown = app.post_json("/magic-link", &json!({"email": "nobody@e2e.example.com"}));
    expect_status(&unknown, 202, "POST /magic-link for an unknown email");
    let token = app.mailed_token(&account.email, "/magic-link");

    let password_login = app.login_ok(account);
    app.expect_refused(
        &password_login.forged_with(&token),
        "the login link's token as credential",
    );
    let wrong_purpose = app.client.post(&format!("/verify?token={token}")).send();
    expect_error(
        &wrong_purpose,
        400,
        "POST /verify with a login link's token",
    );

    let login = app
        .client
        .post(&format!("/magic-link/login?token={token}"))
        .send();
    expect_json(&login, 201, "POST /magic-link/login with the mailed token");
    expect_user(
        &login_user(&login),
        &account.email,
        true,
        app.has_roles,
        "POST /magic-link/login: body `user`",
    );
    let credential = app.backend.credential_from_login(&login);
    assert_ne!(
        credential, password_login,
        "a link login hands out a new credential"
    );
    app.expect_accepted(&credential, &account.email, "a link login's credential");
    let again = app.post_json("/magic-link/login", &json!({"token": token}));
    expect_error(&again, 400, "POST /magic-link/login with a used token");
    // A verified account keeps its password.
    app.login_ok(account);
}

/// Someone registers the owner's address with a password of their own; the owner then logs in
/// with a login link, which verifies the account and discards that password.
fn a_login_link_claims_an_account_someone_else_registered(app: &App) {
    let owner = Account::new("carol");
    registration(app, &owner);
    // The verification mail goes to the owner, who ignores it.
    app.mailed_token(&owner.email, "/verify");
    let ask = app.post_json("/magic-link", &json!({"email": owner.email}));
    expect_status(&ask, 202, "POST /magic-link for an unverified account");
    let token = app.mailed_token(&owner.email, "/magic-link");
    let login = app.post_json("/magic-link/login", &json!({"token": token}));
    expect_json(
        &login,
        201,
        "POST /magic-link/login to an unverified account",
    );
    expect_user(
        &login_user(&login),
        &owner.email,
        true,
        app.has_roles,
        "POST /magic-link/login to an unverified account: body `user`",
    );
    let registrant = app.login(&owner.email, &owner.password);
    expect_error(
        &registrant,
        401,
        "POST /login with the password chosen before the owner claimed the account",
    );
}

/// `PATCH /users/me`: privileged fields are ignored, email and password changes need
/// `current_password`, a new password revokes every other session, a new email is pending until
/// the link mailed to it is used.
fn update_current_user(app: &App, account: Account) {
    let current = app.login_ok(&account);
    let other = app.login_ok(&account);
    let patch = |body: Value| {
        current
            .apply(app.client.patch("/users/me"))
            .json(&body)
            .send()
    };

    let privileged = patch(json!({"is_verified": false, "is_active": false, "roles": ["admin"]}));
    expect_user(
        &expect_json(&privileged, 200, "PATCH /users/me with privileged fields"),
        &account.email,
        true,
        app.has_roles,
        "PATCH /users/me",
    );

    // The README promises one answer for each: 422 without `current_password`, 401 with a wrong one.
    let no_current = patch(json!({"password": "password without proof"}));
    expect_error_code(
        &no_current,
        422,
        "current_password_required",
        "PATCH /users/me without current_password",
    );
    let wrong_current =
        patch(json!({"password": "password with bad proof", "current_password": "wrong"}));
    expect_error_code(
        &wrong_current,
        401,
        "invalid_current_password",
        "PATCH /users/me with a wrong current_password",
    );

    let new_password = "the third passphrase";
    let changed = patch(json!({"password": new_password, "current_password": account.password}));
    expect_json(
        &changed,
        200,
        "PATCH /users/me {password, current_password}",
    );
    app.expect_refused(&other, "another session after a password change");
    app.expect_accepted(
        &current,
        &account.email,
        "the session that changed the password",
    );
    let account = Account {
        password: new_password.to_string(),
        ..account
    };
    app.login_ok(&account);

    // A new address is pending until the link mailed to it is used (as phx.gen.auth): the account
    // keeps the old one meanwhile, and the old one gets a notice.
    let new_email = "alice.new@e2e.example.com";
    let moved = patch(json!({"email": new_email, "current_password": account.password}));
    let user = expect_json(&moved, 200, "PATCH /users/me {email, current_password}");
    expect_user(
        &user,
        &account.email,
        true,
        app.has_roles,
        "PATCH /users/me with a new email",
    );
    assert_eq!(
        user["pending_email"], new_email,
        "PATCH /users/me with a new email must show it as `pending_email`: {user}"
    );
    // The notice to the old address names the new one (older mails to it are skipped; none
    // arriving is a failure with the sink's listing).
    while !app
        .mail
        .wait_for_mail(&account.email, MAIL_TIMEOUT)
        .text
        .contains(new_email)
    {}
    app.login_ok(&account);
    let token = app.mailed_token(new_email, "/verify");
    let confirmed = app.client.post(&format!("/verify?token={token}")).send();
    expect_user(
        &expect_json(&confirmed, 200, "POST /verify of a changed email"),
        new_email,
        true,
        app.has_roles,
        "confirm the new email",
    );
    expect_error(
        &app.login(&account.email, &account.password),
        401,
        "POST /login with the address before the change",
    );
    // Confirming proves a mailbox, not who asked for the change: every credential ends, the one
    // that asked included, and the owner logs in again with the new address.
    app.expect_refused(
        &current,
        "the session that changed the email, after the confirmation",
    );
    let moved_account = Account {
        email: new_email.to_string(),
        password: account.password.clone(),
    };
    let again = app.login_ok(&moved_account);
    app.expect_accepted(&again, new_email, "a login with the new address");
    let reused = app.client.post(&format!("/verify?token={token}")).send();
    expect_error(&reused, 400, "POST /verify with a used email-change link");
}

/// Malformed JSON 400, wrong content type 415, unknown route 404, all with the error body.
fn malformed_requests(app: &App) {
    let broken = app
        .client
        .post("/register")
        .raw_body("application/json", b"{\"email\": ")
        .send();
    expect_error(&broken, 400, "POST /register with malformed JSON");
    let body =
        json!({"email": "plain@e2e.example.com", "password": "long enough password"}).to_string();
    for path in ["/register", "/login"] {
        let plain = app
            .client
            .post(path)
            .raw_body("text/plain", body.as_bytes())
            .send();
        expect_error(
            &plain,
            415,
            &format!("POST {path} with Content-Type: text/plain"),
        );
    }
    expect_error(
        &app.client.get("/no-such-route").send(),
        404,
        "GET /no-such-route",
    );
}

/// `GET /openapi.json` of an app with every handler: an OpenAPI 3.1 document whose operations are
/// exactly the routes of the manifest, each answering the shared error shape by default. (The
/// app's own generated tests validate its live answers against the schemas.)
fn the_document_lists_every_route(app: &App) {
    let answer = app.client.get("/openapi.json").send();
    // Not `expect_json`, which refuses any key that names a password: the document describes
    // the request bodies that carry one. It must hold no value of one, though.
    expect_status(&answer, 200, "GET /openapi.json");
    let document = answer.json();
    assert!(
        !document.to_string().contains("$argon2"),
        "GET /openapi.json: a password hash in {document}"
    );
    assert_eq!(document["openapi"], "3.1.0", "GET /openapi.json: version");
    let mut documented = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            documented.push(format!("{} {path}", method.to_uppercase()));
            assert_eq!(
                operation["responses"]["default"]["$ref"], "#/components/responses/Error",
                "GET /openapi.json: {method} {path} has no error answer"
            );
        }
    }
    documented.sort();
    let manifest = cargo_users::manifest::Manifest::embedded().expect("the manifest");
    let mut routes: Vec<String> = manifest
        .handler
        .values()
        .flat_map(|handler| handler.routes.iter().cloned())
        .collect();
    routes.sort();
    assert_eq!(documented, routes, "GET /openapi.json: the operations");
    let scheme = &document["components"]["securitySchemes"]["credential"];
    match app.backend {
        Backend::Jwt => assert_eq!(scheme["scheme"], "bearer", "{scheme}"),
        _ => assert_eq!(scheme["in"], "cookie", "{scheme}"),
    }
}
