//! The walk over the HTTP API of a running generated app (contract section 3, handlers
//! `register`, `verify`, `auth`, `current-user` and `password-reset`, and with every handler
//! `magic-link`, `totp` and `openapi`), shared by every backend:
//! what differs between backends is in [`Credential`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    /// Whether the app has the totp handler (0.3.0).
    pub has_totp: bool,
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
    if app.has_totp {
        two_factor_login(app);
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

    /// Takes the next mail to `email`, which must be the notice that two-factor login was
    /// `turned` ("turned on" or "turned off").
    fn expect_totp_notice(&self, email: &str, turned: &str) {
        let mail = self.mail.wait_for_mail(email, MAIL_TIMEOUT);
        assert!(
            mail.text.contains("Two-factor login changed") && mail.text.contains(turned),
            "the next mail to {email} is not the notice that two-factor login was {turned}:\n{}",
            mail.text
        );
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

/// The client address of the two-factor walk (TEST-NET-2, see `limits.rs`): its logins and
/// codes count against budgets of their own, not the walk's.
const TOTP_CLIENT: &str = "198.51.100.60";

/// The current code of an authenticator app holding `secret` (base32), at `at` seconds after
/// the Unix epoch: RFC 6238 with SHA-1, 6 digits, 30 s steps, as the generated app checks.
fn totp_code(secret: &str, at: u64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_string())
        .to_bytes()
        .unwrap_or_else(|e| panic!("the enrolment's secret {secret:?} is not base32: {e:?}"));
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes)
        .unwrap_or_else(|e| panic!("the enrolment's secret {secret:?}: {e:?}"))
        .generate(at)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
}

impl App<'_> {
    /// A request of the two-factor walk, from [`TOTP_CLIENT`], with `credential` if any.
    fn totp_request(
        &self,
        credential: Option<&Credential>,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Response {
        let request = self
            .client
            .request(method, path)
            .header("X-Forwarded-For", TOTP_CLIENT)
            .json(body);
        self.with(credential, request).send()
    }

    /// `POST /login` answered 202 with the second step's token and no credential at all.
    #[track_caller]
    fn expect_second_step(&self, first: &Response, what: &str) -> String {
        let body = expect_json(first, 202, what);
        let mut keys: Vec<&str> = body
            .as_object()
            .map(|object| object.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["mfa_required", "mfa_token"],
            "{what}: the body is exactly `mfa_required` and `mfa_token`:\n{first}"
        );
        assert_eq!(body["mfa_required"], true, "{what}:\n{first}");
        let cookies: Vec<String> = first
            .set_cookies()
            .into_iter()
            .filter(|cookie| !cookie.is_removal())
            .map(|cookie| cookie.raw)
            .collect();
        assert!(
            cookies.is_empty(),
            "{what}: no cookie before the second step, got {cookies:?}:\n{first}"
        );
        assert!(
            first.header("authorization").is_none(),
            "{what}: no Authorization header before the second step:\n{first}"
        );
        body["mfa_token"]
            .as_str()
            .filter(|token| !token.is_empty())
            .unwrap_or_else(|| panic!("{what}: `mfa_token` must be a non-empty string:\n{first}"))
            .to_string()
    }

    /// `POST /login` from [`TOTP_CLIENT`].
    fn login_as_totp_client(&self, account: &Account) -> Response {
        self.totp_request(
            None,
            "POST",
            "/login",
            &json!({"email": account.email, "password": account.password}),
        )
    }

    /// `POST /login` of an account with two-factor login on: the second step's token.
    #[track_caller]
    fn first_step(&self, account: &Account, what: &str) -> String {
        self.expect_second_step(&self.login_as_totp_client(account), what)
    }

    /// `POST /login/totp` with the second step's token and a code.
    fn second_step(&self, mfa_token: &str, code: &str) -> Response {
        self.totp_request(
            None,
            "POST",
            "/login/totp",
            &json!({"mfa_token": mfa_token, "code": code}),
        )
    }

    /// The second step answered 201 as `POST /login` does; the credential it hands out works.
    #[track_caller]
    fn expect_logged_in(&self, second: &Response, account: &Account, what: &str) -> Credential {
        expect_json(second, 201, what);
        expect_user(
            &login_user(second),
            &account.email,
            true,
            self.has_roles,
            &format!("{what}: body `user`"),
        );
        let credential = self.backend.credential_from_login(second);
        self.expect_accepted(
            &credential,
            &account.email,
            &format!("the credential of {what}"),
        );
        credential
    }
}

/// Two-factor login (`totp`) of a fresh account: turned on with the password and the app's first
/// code; `POST /login` then hands out no credential but the token of a second step, which a code
/// of the app (each used once) or a recovery code (each used once) completes, as it completes a
/// login link's login; turned off with the password, `POST /login` logs in at once again.
fn two_factor_login(app: &App) {
    let account = Account::new("dave");
    let registered = app.totp_request(
        None,
        "POST",
        "/register",
        &json!({"email": account.email, "password": account.password}),
    );
    expect_json(&registered, 201, "POST /register of the two-factor account");
    let token = app.mailed_token(&account.email, "/verify");
    let verified = app.post_json("/verify", &json!({"token": token}));
    expect_json(&verified, 200, "POST /verify of the two-factor account");
    let login = app.login_as_totp_client(&account);
    expect_logged_in_at_once(
        app,
        &login,
        &account,
        "POST /login of the two-factor account",
    );
    let credential = app.backend.credential_from_login(&login);

    // Turning it on: the password, then the app's current code.
    let password = json!({"current_password": account.password});
    expect_error(
        &app.totp_request(None, "POST", "/users/me/totp", &password),
        401,
        "POST /users/me/totp anonymously",
    );
    expect_error_code(
        &app.totp_request(
            Some(&credential),
            "POST",
            "/users/me/totp",
            &json!({"current_password": "not the password"}),
        ),
        401,
        "invalid_current_password",
        "POST /users/me/totp with a wrong current_password",
    );
    let started = app.totp_request(Some(&credential), "POST", "/users/me/totp", &password);
    let enrolment = expect_json(&started, 200, "POST /users/me/totp");
    let secret = enrolment["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("POST /users/me/totp: no `secret` string:\n{started}"))
        .to_string();
    let url = enrolment["otpauth_url"].as_str().unwrap_or("");
    assert!(
        url.starts_with("otpauth://totp/") && url.contains(&format!("secret={secret}")),
        "POST /users/me/totp: `otpauth_url` must be the otpauth://totp/ URL of the secret:\n{started}"
    );
    // Not on before the code confirms it.
    let login = app.login_as_totp_client(&account);
    expect_logged_in_at_once(app, &login, &account, "POST /login before the first code");
    let confirmed = app.totp_request(
        Some(&credential),
        "POST",
        "/users/me/totp/confirm",
        &json!({"code": totp_code(&secret, unix_now())}),
    );
    let recovery = expect_json(&confirmed, 200, "POST /users/me/totp/confirm");
    let recovery_codes: Vec<String> = recovery["recovery_codes"]
        .as_array()
        .unwrap_or_else(|| panic!("confirm: no `recovery_codes` list:\n{confirmed}"))
        .iter()
        .map(|code| {
            code.as_str()
                .expect("a recovery code is a string")
                .to_string()
        })
        .collect();
    let mut distinct = recovery_codes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        10,
        "POST /users/me/totp/confirm: 10 distinct recovery codes:\n{confirmed}"
    );
    // The owner is told by mail (the notice goes through SMTP like every mail).
    app.expect_totp_notice(&account.email, "turned on");
    expect_error_code(
        &app.totp_request(Some(&credential), "POST", "/users/me/totp", &password),
        409,
        "totp_already_on",
        "POST /users/me/totp when two-factor login is on",
    );

    // The password alone is no longer a login.
    let mfa_token = app.first_step(&account, "POST /login with two-factor login on");
    // The next step's code: accepted (one step of skew) and later than the one that confirmed.
    let code = totp_code(&secret, unix_now() + 30);
    let second = app.second_step(&mfa_token, &code);
    app.expect_logged_in(&second, &account, "POST /login/totp with the app's code");
    expect_error_code(
        &app.second_step(&mfa_token, &code),
        401,
        "invalid_mfa_token",
        "POST /login/totp with a used mfa_token",
    );
    let mfa_token = app.first_step(&account, "POST /login again");
    expect_error_code(
        &app.second_step(&mfa_token, &code),
        401,
        "invalid_code",
        "POST /login/totp with a code used already",
    );

    // A recovery code stands in for the app once (typed in capitals without dashes); the token
    // of the step is still good after the wrong code above.
    let recovery_code = &recovery_codes[0];
    let typed = recovery_code.replace('-', "").to_uppercase();
    let second = app.second_step(&mfa_token, &typed);
    app.expect_logged_in(&second, &account, "POST /login/totp with a recovery code");
    let mfa_token = app.first_step(&account, "POST /login after a recovery code");
    expect_error_code(
        &app.second_step(&mfa_token, recovery_code),
        401,
        "invalid_code",
        "POST /login/totp with a used recovery code",
    );

    if app.has_magic_link {
        // A login link is a first step too.
        let ask = app.totp_request(
            None,
            "POST",
            "/magic-link",
            &json!({"email": account.email}),
        );
        expect_status(&ask, 202, "POST /magic-link of the two-factor account");
        let token = app.mailed_token(&account.email, "/magic-link");
        let link = app.totp_request(None, "POST", "/magic-link/login", &json!({"token": token}));
        let link_step =
            app.expect_second_step(&link, "POST /magic-link/login with two-factor login on");
        let second = app.second_step(&link_step, &recovery_codes[1]);
        app.expect_logged_in(&second, &account, "POST /login/totp after a login link");
    }

    // Turning it off: the password; a second step begun before is void, and the password alone
    // logs in again.
    let waiting = app.first_step(&account, "POST /login before turning two-factor login off");
    let turned_off = app.totp_request(Some(&credential), "DELETE", "/users/me/totp", &password);
    expect_status(&turned_off, 204, "DELETE /users/me/totp");
    app.expect_totp_notice(&account.email, "turned off");
    expect_error_code(
        &app.totp_request(Some(&credential), "DELETE", "/users/me/totp", &password),
        404,
        "totp_not_on",
        "DELETE /users/me/totp when two-factor login is off",
    );
    expect_error_code(
        &app.second_step(&waiting, &recovery_codes[2]),
        401,
        "invalid_mfa_token",
        "POST /login/totp with a step begun before two-factor login was turned off",
    );
    let login = app.login_as_totp_client(&account);
    let what = "POST /login after two-factor login was turned off";
    expect_logged_in_at_once(app, &login, &account, what);
    let credential = app.backend.credential_from_login(&login);
    app.expect_accepted(&credential, &account.email, what);
}

/// `POST /login` answered 201 with the user, as without two-factor login.
#[track_caller]
fn expect_logged_in_at_once(app: &App, login: &Response, account: &Account, what: &str) {
    expect_json(login, 201, what);
    expect_user(
        &login_user(login),
        &account.email,
        true,
        app.has_roles,
        &format!("{what}: body `user`"),
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
