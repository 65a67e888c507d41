//! A test application: the router over a fresh database, an in-memory outbox, and helpers to send
//! requests and log in.

// Not every set of handlers uses every helper.
#![allow(dead_code)]

{% if db == "sqlite" -%}
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};
{%- else -%}
use std::time::{Duration, Instant};
{%- endif %}

use {{ crate_name }}::{{ module }}::{
    self, UsersState,
    config::{Config, RateLimitStore, RateLimits},
    db::{self, NewUser},
    mail::Mailer,
    model::User,
{%- if "role-management" in handlers %}
    roles::{self, Role},
{%- endif %}
    tokens::{self, Purpose},
};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use http_body_util::BodyExt;
use serde_json::Value;
{%- if db == "postgres" %}
use sqlx::{Connection, PgConnection};
{%- elif db == "mysql" %}
use sqlx::{Connection, MySqlConnection};
{%- endif %}
use tower::ServiceExt;

/// A password that passes validation.
pub const PASSWORD: &str = "correct horse battery";

/// The router and its state over a database of its own.
pub struct TestApp {
    /// What the routes share, for direct database access.
    pub state: UsersState,
    router: Router,
{%- if db == "sqlite" %}
    database: PathBuf,
{%- else %}
    database: TestDatabase,
{%- endif %}
}
{%- if db == "sqlite" %}

impl Drop for TestApp {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.database.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}
{%- else %}

/// A database of its own for one test, on the server of `TEST_DATABASE_URL` (or, unset,
/// `DATABASE_URL`, from the environment or `.env`). Dropped with the test.
struct TestDatabase {
    /// The server URL with the database part pointing at `name`.
    url: String,
    /// The server's maintenance database, to connect to for the `DROP`.
    admin_url: String,
    name: String,
}

impl TestDatabase {
    fn new() -> Self {
        let _ = dotenvy::dotenv();
        let configured = std::env::var("TEST_DATABASE_URL")
            .or_else(|_| std::env::var("DATABASE_URL"))
            .expect("set TEST_DATABASE_URL (or DATABASE_URL) to a database server for the tests");
        let name = format!("users_test_{}", uuid::Uuid::new_v4().simple());
        let (base, query) = match configured.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (configured.as_str(), String::new()),
        };
        let authority = base.find("://").map_or(0, |index| index + 3);
        let server = match base[authority..].find('/') {
            Some(slash) => &base[..authority + slash],
            None => base,
        };
        let url = format!("{server}/{name}{query}");
{%- if db == "postgres" %}
        let admin_url = format!("{server}/postgres{query}");
{%- else %}
        let admin_url = format!("{server}/{query}");
{%- endif %}
        Self {
            url,
            admin_url,
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop the database on a runtime of its own: the test's runtime is busy dropping us.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
{%- if db == "postgres" %}
                let mut connection = PgConnection::connect(&admin_url).await?;
                // FORCE ends the test's own pool connections, which are still open.
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
{%- else %}
                let mut connection = MySqlConnection::connect(&admin_url).await?;
                let sql = format!("DROP DATABASE IF EXISTS {name}");
{%- endif %}
                sqlx::query(&sql).execute(&mut connection).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop the test database {}: {error}", self.name);
        }
    }
}
{%- endif %}

/// The answer to a test request.
pub struct TestResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as JSON (`Value::Null` when empty).
    pub body: Value,
}

impl TestResponse {
    /// Reads a response of the router, its body as JSON (`Null` when it is not JSON).
    async fn read(response: axum::response::Response) -> Self {
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("a body").to_bytes();
        Self {
            status: parts.status,
            headers: parts.headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn assert_status(&self, expected: StatusCode) -> &Self {
        assert_eq!(self.status, expected, "body: {}", self.body);
        self
    }

    /// Asserts an error answer: the status and the `code` of the JSON error body.
    #[track_caller]
    pub fn assert_error(&self, expected: StatusCode, code: &str) {
        self.assert_status(expected);
        assert_eq!(
            self.body["status_code"],
            expected.as_u16(),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert!(self.body["detail"].is_string(), "body: {}", self.body);
    }
}

/// How a logged-in client proves who it is.
#[derive(Clone, Debug)]
pub struct Credential(pub (header::HeaderName, String));

impl Credential {
    /// The credential from a `POST /login` answer.
    #[track_caller]
    pub fn from_login(response: &TestResponse) -> Self {
{%- if backend == "jwt" %}
        let token = response.body["access_token"]
            .as_str()
            .expect("an access token in the body");
        Self((header::AUTHORIZATION, format!("Bearer {token}")))
{%- else %}
        let cookie = response
            .headers
            .get(header::SET_COOKIE)
            .and_then(|value| value.to_str().ok())
            .expect("a Set-Cookie header");
        let pair = cookie.split(';').next().unwrap_or_default();
        Self((header::COOKIE, pair.to_owned()))
{%- endif %}
    }

    /// A credential that carries `token` the way this backend's credentials travel.
    pub fn raw(token: &str) -> Self {
{%- if backend == "jwt" %}
        Self((header::AUTHORIZATION, format!("Bearer {token}")))
{%- elif backend == "session" %}
        let name = {{ module }}::config::SESSION_COOKIE;
        Self((header::COOKIE, format!("{name}={token}")))
{%- else %}
        let name = {{ module }}::config::ACCESS_TOKEN_COOKIE;
        Self((header::COOKIE, format!("{name}={token}")))
{%- endif %}
    }
}

/// A test application with the default rate limits.
pub async fn app() -> TestApp {
    app_with_limits(RateLimits::default()).await
}

/// A test application with these rate limits.
pub async fn app_with_limits(rate_limits: RateLimits) -> TestApp {
    app_with_config(move |config| config.rate_limits = rate_limits).await
}

/// A test application whose configuration `configure` adjusts first.
pub async fn app_with_config(configure: impl FnOnce(&mut Config)) -> TestApp {
{%- if db == "sqlite" %}
    let database = std::env::temp_dir().join(format!("users-test-{}.db", uuid::Uuid::new_v4()));
    let database_url = format!("sqlite://{}", database.display());
{%- else %}
    let database = TestDatabase::new();
    let database_url = database.url.clone();
{%- endif %}
    let mut config = Config {
        database_url,
        secret: "a test secret that is long enough for the check".to_owned(),
        bind_addr: "127.0.0.1:0".parse().expect("an address"),
        app_url: "http://localhost:3000".to_owned(),
        smtp_url: None,
        mail_from: "no-reply@localhost".to_owned(),
        rate_limits: RateLimits::default(),
        trusted_proxies: Vec::new(),
        rate_limit_store: RateLimitStore::Memory,
    };
    configure(&mut config);
    let state = UsersState::connect(config, Mailer::outbox())
        .await
        .expect("a fresh database");
    TestApp {
        router: {{ module }}::router(state.clone()),
        state,
        database,
    }
}

impl TestApp {
    /// Sends a request with an optional JSON body, credential and extra headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        credential: Option<&Credential>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(Credential((name, value))) = credential {
            request = request.header(name, value);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .expect("a valid request");
        self.call(request).await
    }

    async fn call(&self, request: Request<Body>) -> TestResponse {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        TestResponse::read(response).await
    }

    /// A reset of `user`'s password to `new_password` in flight, as while a slow
    /// `post_password_reset` hook runs: the transaction holds the account, has set the new hash
    /// and dropped every other access, and commits when the test passes it to `db::finish`.
    pub async fn reset_in_flight(&self, user: &User, new_password: &str) -> db::Transaction {
        let new_hash = self
            .state
            .passwords
            .hash(new_password.to_owned())
            .await
            .expect("a hash");
        let mut reset = db::begin(&self.state.db).await.expect("a transaction");
        db::lock_user(&mut reset, user.id)
            .await
            .expect("the account's lock")
            .expect("the account");
        db::set_password_hash(&mut *reset, user.id, &new_hash)
            .await
            .expect("the new hash");
        db::drop_unproven_access(&mut reset, user.id)
            .await
            .expect("the old access dropped");
        reset
    }

    /// Waits until a request waits for the account's lock, which a transaction of the test holds
    /// (such as [`TestApp::reset_in_flight`]'s): then the test commits, and the race it names has
    /// really been run, not just a request that came after the commit.
    pub async fn wait_until_a_write_waits(&self) {
{%- if db == "sqlite" %}
        // SQLite tells nobody who waits for its write lock. The request waits for it up to the
        // busy timeout (5 s); two seconds is ample for it to read the user and hash a password
        // first.
        tokio::time::sleep(Duration::from_secs(2)).await;
{%- else %}
{%- if db == "postgres" %}
        let sql = "SELECT COUNT(*) FROM pg_stat_activity \
                   WHERE datname = current_database() AND wait_event_type = 'Lock'";
{%- else %}
        // The statement runs as long as the lock keeps it waiting: the request's lock of the user
        // (`db::lock_user`), or the read of the user by a conditional insert of a token.
        let sql = "SELECT COUNT(*) FROM information_schema.processlist \
                   WHERE db = DATABASE() AND (info LIKE 'SELECT users.id%FOR UPDATE' \
                   OR info LIKE 'INSERT INTO user_tokens%')";
{%- endif %}
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let waiting: i64 = sqlx::query_scalar(sql)
                .fetch_one(&self.state.db)
                .await
                .expect("a count");
            if waiting > 0 {
                return;
            }
            assert!(Instant::now() < deadline, "the request never came to write");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
{%- endif %}
    }

    /// Sends these `POST`s (path, JSON body) all at once, each on a task of its own, and returns
    /// the answers in the same order.
    pub async fn post_all_at_once(&self, requests: Vec<(String, Value)>) -> Vec<TestResponse> {
        let tasks: Vec<_> = requests
            .into_iter()
            .map(|(path, body)| {
                let request = Request::post(path)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body.to_string()))
                    .expect("a valid request");
                tokio::spawn(self.router.clone().oneshot(request))
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            let response = task
                .await
                .expect("the request's task")
                .expect("the router is infallible");
            answers.push(TestResponse::read(response).await);
        }
        answers
    }

    /// `POST` a body as it is, with this content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: &str) -> TestResponse {
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.to_owned()))
            .expect("a valid request");
        self.call(request).await
    }

    /// `POST` a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.send(Method::POST, path, Some(body), None, &[]).await
    }

    /// `POST` a JSON body with a credential.
    pub async fn post_as(&self, path: &str, body: Value, credential: &Credential) -> TestResponse {
        self.send(Method::POST, path, Some(body), Some(credential), &[])
            .await
    }

    /// `GET` with an optional credential.
    pub async fn get(&self, path: &str, credential: Option<&Credential>) -> TestResponse {
        self.send(Method::GET, path, None, credential, &[]).await
    }

    /// `PATCH` a JSON body with a credential.
    pub async fn patch_as(&self, path: &str, body: Value, credential: &Credential) -> TestResponse {
        self.send(Method::PATCH, path, Some(body), Some(credential), &[])
            .await
    }
{%- if "role-management" in handlers %}

    /// `PUT` a JSON body with a credential.
    pub async fn put_as(&self, path: &str, body: Value, credential: &Credential) -> TestResponse {
        self.send(Method::PUT, path, Some(body), Some(credential), &[])
            .await
    }

    /// `DELETE` with a credential.
    pub async fn delete_as(&self, path: &str, credential: &Credential) -> TestResponse {
        self.send(Method::DELETE, path, None, Some(credential), &[])
            .await
    }
{%- endif %}

    /// Creates a user directly in the database.
    pub async fn create_user(&self, email: &str, verified: bool, active: bool) -> User {
        let password_hash = self
            .state
            .passwords
            .hash(PASSWORD.to_owned())
            .await
            .expect("a hash");
        let new_user = NewUser {
            email,
            password_hash,
            is_active: active,
            is_verified: verified,
        };
        db::create_user(&self.state.db, new_user)
            .await
            .expect("a new user")
    }
{%- if "auth" in handlers %}

    /// Logs in and returns the credential; panics unless the login succeeds.
    pub async fn login(&self, email: &str, password: &str) -> Credential {
        let response = self
            .post(
                "/login",
                serde_json::json!({ "email": email, "password": password }),
            )
            .await;
        response.assert_status(StatusCode::CREATED);
        Credential::from_login(&response)
    }

    /// Creates a verified, active user and logs in.
    pub async fn logged_in_user(&self, email: &str) -> (User, Credential) {
        let user = self.create_user(email, true, true).await;
        let credential = self.login(email, PASSWORD).await;
        (user, credential)
    }
{%- if "role-management" in handlers %}

    /// The role named `name`, created directly in the database when it does not exist yet.
    pub async fn role(&self, name: &str) -> Role {
        if let Some(role) = roles::find_role_by_name(&self.state.db, name)
            .await
            .expect("a role look-up")
        {
            return role;
        }
        roles::create_role(&self.state.db, name, None)
            .await
            .expect("a new role")
    }

    /// Gives the user the role named `name` directly in the database (creating the role first
    /// when needed).
    pub async fn grant(&self, user: &User, name: &str) -> Role {
        let role = self.role(name).await;
        roles::assign_role(&self.state.db, user.id, role.id)
            .await
            .expect("an assignment");
        role
    }

    /// Creates `admin@example.com` with the `admin` role and logs in as them.
    pub async fn admin(&self) -> Credential {
        let user = self.create_user("admin@example.com", true, true).await;
        self.grant(&user, roles::ADMIN_ROLE).await;
        self.login("admin@example.com", PASSWORD).await
    }
{%- endif %}
{%- endif %}

    /// Stores a fresh token of `purpose` for the user, expiring `expires_in` from now (negative:
    /// already expired), as if it had been mailed; returns the token.
    pub async fn stored_token(
        &self,
        user: &User,
        purpose: Purpose,
        expires_in: chrono::Duration,
    ) -> String {
        let (token, token_hash) = tokens::generate();
        let expires_at = db::now() + expires_in;
        db::insert_token(&self.state.db, user.id, purpose, &token_hash, expires_at)
            .await
            .expect("a stored token");
        token
    }

    /// The token in the newest mail to `to` whose link goes to `path`; waits for the background
    /// send, polling, for up to a minute (a loaded machine may take seconds; a pass returns at
    /// once).
    pub async fn mailed_token(&self, to: &str, path: &str) -> String {
        let needle = format!("{path}?token=");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let token = self
                .state
                .mailer
                .sent()
                .iter()
                .rev()
                .filter(|mail| mail.to == to)
                .find_map(|mail| {
                    let start = mail.body.find(&needle)? + needle.len();
                    let rest = &mail.body[start..];
                    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                    Some(rest[..end].to_owned())
                });
            if let Some(token) = token {
                return token;
            }
            assert!(
                Instant::now() < deadline,
                "no mail to {to} with a {path} link"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The number of mails sent to `to` so far.
    pub fn mails_to(&self, to: &str) -> usize {
        self.state
            .mailer
            .sent()
            .iter()
            .filter(|mail| mail.to == to)
            .count()
    }
}

// Limits and input (0.2.0): requests from a given client address, and a state to adjust.

/// A test application whose state `adjust` changes once it is connected (say, a tiny password
/// hashing queue).
pub async fn app_with_state(adjust: impl FnOnce(&mut UsersState)) -> TestApp {
    let mut app = app().await;
    adjust(&mut app.state);
    app.router = {{ module }}::router(app.state.clone());
    app
}

impl TestApp {
    /// `POST` a JSON body from the client address `peer`, as a server started with connect info
    /// sees it, with extra headers (say `X-Forwarded-For`).
    pub async fn post_from(
        &self,
        peer: &str,
        path: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let peer: std::net::IpAddr = peer.parse().expect("an IP address");
        let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request
            .body(Body::from(body.to_string()))
            .expect("a valid request");
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(
                peer, 40000,
            )));
        self.call(request).await
    }
}
// ---------------------------------------------------------------------------------------------
// Helpers for the tests of the security claims: stored expiries, concurrent requests, the app's
// own routes behind the users layers, and timing compared between two kinds of request.

impl TestApp {
    /// Sends a request to `router` instead of the users router: your own routes behind the
    /// layers of the users module, for instance.
    pub async fn send_to(
        &self,
        router: Router,
        method: Method,
        path: &str,
        credential: Option<&Credential>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(Credential((name, value))) = credential {
            request = request.header(name, value);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::empty()).expect("a valid request");
        let response = router
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("a body").to_bytes();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// Moves the expiry of every stored token of `purpose` of the user to `expires_at`, as if
    /// time had passed.
    pub async fn set_token_expiry(
        &self,
        user: &User,
        purpose: Purpose,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) {
        let sql = {% filter sql(db=db) %}"UPDATE user_tokens SET expires_at = $1 WHERE user_id = $2 AND purpose = $3"{% endfilter %};
        sqlx::query(sql)
            .bind(expires_at)
            .bind(user.id)
            .bind(purpose.as_str())
            .execute(&self.state.db)
            .await
            .expect("tokens updated");
    }

    /// The expiries of the user's stored tokens of `purpose`.
    pub async fn token_expiries(
        &self,
        user: &User,
        purpose: Purpose,
    ) -> Vec<chrono::DateTime<chrono::Utc>> {
        let sql = {% filter sql(db=db) %}"SELECT expires_at FROM user_tokens WHERE user_id = $1 AND purpose = $2"{% endfilter %};
        sqlx::query_scalar(sql)
            .bind(user.id)
            .bind(purpose.as_str())
            .fetch_all(&self.state.db)
            .await
            .expect("token expiries")
    }

    /// Waits until `count` mails went to `to` (the background sends), for up to a minute.
    pub async fn wait_for_mails(&self, to: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.mails_to(to) < count {
            assert!(
                Instant::now() < deadline,
                "{} mails to {to} after a minute, expected {count}",
                self.mails_to(to)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl TestApp {
    /// Takes a lock that keeps every other connection from writing to `user_tokens` (reads go
    /// on), until [`TokenWriteLock::release`].
    pub async fn lock_token_writes(&self) -> TokenWriteLock {
        let mut connection = self.state.db.acquire().await.expect("a connection");
{%- if db == "sqlite" %}
        let statements = ["BEGIN IMMEDIATE"];
{%- elif db == "postgres" %}
        let statements = ["BEGIN", "LOCK TABLE user_tokens IN EXCLUSIVE MODE"];
{%- else %}
        let statements = ["LOCK TABLES user_tokens WRITE"];
{%- endif %}
        for statement in statements {
            sqlx::query(statement)
                .execute(&mut *connection)
                .await
                .expect("a write lock");
        }
        TokenWriteLock(connection)
    }
}

/// A connection that keeps `user_tokens` locked against writes.
pub struct TokenWriteLock(sqlx::pool::PoolConnection<{% if db == "sqlite" %}sqlx::Sqlite{% elif db == "postgres" %}sqlx::Postgres{% else %}sqlx::MySql{% endif %}>);

impl TokenWriteLock {
    /// Lets the waiting writers go on.
    pub async fn release(mut self) {
        let statement = {% if db == "mysql" %}"UNLOCK TABLES"{% else %}"ROLLBACK"{% endif %};
        sqlx::query(statement)
            .execute(&mut *self.0)
            .await
            .expect("the lock released");
    }
}

/// How long `request` takes to be answered.
pub async fn time<T>(request: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let answer = request.await;
    (answer, started.elapsed())
}

/// The median of some durations.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    assert!(!samples.is_empty(), "no samples");
    samples.sort();
    samples[samples.len() / 2]
}
