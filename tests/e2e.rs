//! End-to-end tests: generate apps with `cargo users new` for every auth backend on every
//! database, hold each to `cargo fmt --check`, `cargo clippy --all-targets -- -D warnings` and its
//! own `cargo test`, build some, start the server against a real SMTP sink on loopback, and talk
//! to it over real HTTP:
//!
//! | database   | session               | jwt                   | jwt-cookie                  |
//! | ---------- | --------------------- | --------------------- | --------------------------- |
//! | SQLite     | checks, walk          | checks, walk          | checks, walk                |
//! | PostgreSQL | checks, two instances | checks, two instances | checks, walk, two instances |
//! | MySQL      | checks, walk          | checks                | checks                      |
//!
//! plus, on each database, a crowd of concurrent registrations (`crowd.rs`). "checks" is fmt,
//! clippy and the generated tests; "walk" the HTTP API of contract section 3 (`walk.rs`) and its
//! limits on input and rates (`limits.rs`); "two instances" two servers on one database
//! (`scale_out.rs`). In the PostgreSQL session and jwt cells also two servers sharing rate limits
//! through a Redis that is killed and restarted; in those and the MySQL session cell four servers
//! started at once on a fresh database and a SIGTERM during a request (`instances.rs`).
//!
//! PostgreSQL and MySQL tests need `CARGO_USERS_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432`) and `CARGO_USERS_TEST_MYSQL_URL` (e.g.
//! `mysql://root@127.0.0.1:3306`), and the `psql` and `mariadb` (or `mysql`) clients; unset, they
//! say `SKIPPED` on stderr and pass, unless `CARGO_USERS_E2E_REQUIRE_DATABASES` is set.
//!
//! Slow: the first run builds the generated apps' dependencies (minutes) into one target folder
//! shared by every project and kept between runs, `target/e2e-projects` (see `project.rs`).
//! `CARGO_USERS_E2E_KEEP=1` keeps the generated projects, their databases and server logs.

#[path = "e2e/auth.rs"]
mod auth;
#[path = "e2e/checks.rs"]
mod checks;
#[path = "e2e/crowd.rs"]
mod crowd;
#[path = "e2e/databases.rs"]
mod databases;
#[path = "e2e/fuzz.rs"]
mod fuzz;
#[path = "e2e/http.rs"]
mod http;
#[path = "e2e/instances.rs"]
mod instances;
#[path = "e2e/limits.rs"]
mod limits;
#[path = "e2e/mime.rs"]
mod mime;
#[path = "e2e/oauth2.rs"]
mod oauth2;
#[path = "e2e/project.rs"]
mod project;
#[path = "e2e/scale_out.rs"]
mod scale_out;
#[path = "e2e/smtp.rs"]
mod smtp;
#[path = "e2e/walk.rs"]
mod walk;

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use auth::Backend;
use databases::{Db, Store};
use http::Client;
use instances::RedisServer;
use project::{Project, Server, ServerSettings};
use scale_out::Instance;
use smtp::SmtpSink;
use walk::App;

/// The name of the running test, for messages (libtest names each test's thread after it).
fn this_test() -> String {
    std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string()
}

/// Generates the app of one matrix cell and holds it to fmt, clippy and its own tests (run
/// against `store`). SQLite cells get the default handlers; PostgreSQL and MySQL cells every
/// handler (`--handlers all`), so each handler's SQL runs on each database (the walk's
/// `has_roles` follows this choice).
fn generate_and_check(store: &Store, backend: Backend, package: &str) -> Project {
    let handlers = (store.db() != Db::Sqlite).then_some("all");
    let project = Project::generate_with(package, backend.name(), store.db().name(), handlers);
    project.fill_in_a_hook_that_fails_once();
    project.cargo(&["fmt", "--check"]);
    project.cargo(&["clippy", "--all-targets", "--", "-D", "warnings"]);
    project.cargo_with_env(&["test"], &store.test_environment());
    project
}

/// Handler sets that no matrix cell builds (the cells take the default set or all of them): each
/// is generated and held to fmt and clippy, which compiles its generated tests too, so code that
/// one handler's templates take from another's (an import, a helper) cannot go missing unseen.
#[test]
fn handler_sets_without_verify_or_with_roles_alone_build_lint_free() {
    for (package, backend, handlers) in [
        ("e2e-set-me", Backend::Session, "auth,current-user"),
        (
            "e2e-set-reset",
            Backend::Jwt,
            "auth,register,password-reset",
        ),
        (
            "e2e-set-roles",
            Backend::JwtCookie,
            "auth,role-management,current-user",
        ),
        // (0.3.0) Login links with nothing else: no reset, no current-user, no roles.
        ("e2e-set-link", Backend::Jwt, "magic-link"),
        // (0.3.0) Two-factor login with nothing else: it pulls in `auth` alone (no current-user,
        // no verify, no register).
        ("e2e-set-totp", Backend::Session, "totp"),
    ] {
        let project = Project::generate_with(package, backend.name(), "sqlite", Some(handlers));
        project.cargo(&["fmt", "--check"]);
        project.cargo(&["clippy", "--all-targets", "--", "-D", "warnings"]);
    }
}

/// Runs `scenario`; when it panics, prints what the servers logged and the sink received first.
fn reporting_failures(
    what: &str,
    project: &Project,
    servers: &[&Server],
    sink: &SmtpSink,
    scenario: impl FnOnce(),
) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(scenario)) {
        let logs: Vec<String> = servers.iter().map(|server| server.logs()).collect();
        eprintln!(
            "{what} failed (project in {}); what the servers logged and mailed:\n{}\n--- mails ---\n{}",
            project.dir.display(),
            logs.join("\n"),
            sink.summary()
        );
        resume_unwind(panic);
    }
}

/// A second instance beside `first`, as behind a load balancer: the same database, secret and
/// `APP_URL`.
fn second_instance(project: &Project, first: &Server, settings: &ServerSettings) -> Server {
    let settings = ServerSettings {
        app_url: Some(first.app_url.clone()),
        label: "second-instance".to_string(),
        ..settings.clone()
    };
    Server::start(&project.binary(), &project.dir, &project.scratch, &settings)
}

/// Two servers on one database: a login on either works on the other, and a logout on either
/// revokes the credential on the other.
fn two_instances_share_logins_and_logouts(
    project: &Project,
    first: &Server,
    settings: &ServerSettings,
    backend: Backend,
    sink: &SmtpSink,
    has_roles: bool,
) {
    let second = second_instance(project, first, settings);
    reporting_failures(
        "two instances on one database",
        project,
        &[first, &second],
        sink,
        || {
            scale_out::two_instances_share_logins_and_logouts(
                &Instance {
                    name: "first instance",
                    client: Client::new(first.port),
                    has_roles,
                },
                &Instance {
                    name: "second instance",
                    client: Client::new(second.port),
                    has_roles,
                },
                backend,
                &first.app_url,
                sink,
            )
        },
    );
}

/// The app of one matrix cell, generated, checked, built and serving on a fresh database. Fields
/// drop in order: the server stops before its database is dropped.
struct Served {
    server: Server,
    settings: ServerSettings,
    _database: databases::Database,
    sink: SmtpSink,
    project: Project,
}

/// Generates and checks the app of one cell (see [`generate_and_check`]), builds it and starts
/// it with a mail sink on a fresh database; `label` names the server's logs. `None` when the
/// cell's database server is not configured (the test then says it did not run).
fn serve_cell(db: Db, backend: Backend, package: &str, label: &str) -> Option<Served> {
    let store = Store::for_test(db, &this_test())?;
    let project = generate_and_check(&store, backend, package);
    project.cargo(&["build"]);
    let sink = SmtpSink::start();
    let database = store.fresh_database(package, &project.scratch);
    let settings = ServerSettings {
        label: label.to_string(),
        ..ServerSettings::new(&database.url, &sink.url())
    };
    let server = Server::start(&project.binary(), &project.dir, &project.scratch, &settings);
    Some(Served {
        server,
        settings,
        _database: database,
        sink,
        project,
    })
}

/// Generates, checks, builds and serves the app of one cell, walks the contract, and with
/// `scale_out` also serves it from a second instance on the same database.
fn app_builds_passes_its_tests_and_serves_the_contract(
    db: Db,
    backend: Backend,
    package: &str,
    scale_out: bool,
) -> Option<Served> {
    let served = serve_cell(db, backend, package, "server")?;
    let Served {
        server,
        settings,
        sink,
        project,
        ..
    } = &served;
    let app = App {
        client: Client::new(server.port),
        app_url: server.app_url.clone(),
        backend,
        mail: sink,
        has_roles: db != Db::Sqlite,
        has_magic_link: db != Db::Sqlite,
        has_totp: db != Db::Sqlite,
        has_openapi: db != Db::Sqlite,
    };
    let what = format!("the {} app on {}", backend.name(), db.name());
    reporting_failures(&what, project, &[server], sink, || walk::contract(&app));
    let what = format!("the limits of {what}");
    reporting_failures(&what, project, &[server], sink, || limits::checks(&app));
    if scale_out {
        two_instances_share_logins_and_logouts(
            project,
            server,
            settings,
            backend,
            sink,
            app.has_roles,
        );
    }
    Some(served)
}

/// Generates and checks the app of one cell and serves it from two instances on one database.
fn app_passes_its_checks_and_two_instances_share_logins_and_logouts(
    db: Db,
    backend: Backend,
    package: &str,
) {
    let Some(served) = serve_cell(db, backend, package, "first-instance") else {
        return;
    };
    two_instances_share_logins_and_logouts(
        &served.project,
        &served.server,
        &served.settings,
        backend,
        &served.sink,
        // As in `generate_and_check`: role-management comes with `--handlers all`.
        db != Db::Sqlite,
    );
    shared_rate_limits(&served);
    instances_start_together_and_stop_cleanly(db, &served);
}

// Many instances (0.2.0).
/// Two instances of a served cell counting rate limits in one Redis (of the test's own, killed
/// and started again).
fn shared_rate_limits(served: &Served) {
    let Served {
        project,
        settings,
        sink,
        ..
    } = served;
    if let Some(redis) = RedisServer::start(instances::redis_port(), &project.scratch) {
        let on_redis = |label: &str| ServerSettings {
            label: label.to_string(),
            app_url: None,
            env: instances::redis_environment(&redis.url()),
            ..settings.clone()
        };
        let servers = [
            Server::start(
                &project.binary(),
                &project.dir,
                &project.scratch,
                &on_redis("redis-first"),
            ),
            Server::start(
                &project.binary(),
                &project.dir,
                &project.scratch,
                &on_redis("redis-second"),
            ),
        ];
        let clients = instances::instances_of(
            &servers,
            &["first instance on Redis", "second instance on Redis"],
            // Cells on a database server install every handler.
            true,
        );
        reporting_failures(
            "rate limits shared through Redis",
            project,
            &[&servers[0], &servers[1]],
            sink,
            || {
                instances::limits_are_shared_and_survive_a_redis_outage(
                    &clients[0],
                    &clients[1],
                    [&servers[0], &servers[1]],
                    redis,
                    &project.scratch,
                )
            },
        );
    }
}

/// Four instances of a served cell started at the same moment on a fresh database, and one of
/// them stopped with SIGTERM while a request is in flight.
fn instances_start_together_and_stop_cleanly(db: Db, served: &Served) {
    let Served { project, sink, .. } = served;
    let store = Store::for_test(db, &this_test()).expect("the cell's database server");
    let database = store.fresh_database(&format!("{}-together", project.name), &project.scratch);
    let together = ServerSettings::new(&database.url, &sink.url());
    let mut servers: Vec<Server> = (1..=4)
        .map(|n| {
            let settings = ServerSettings {
                label: format!("together-{n}"),
                ..together.clone()
            };
            Server::spawn(
                &project.binary(),
                &project.dir,
                &project.scratch,
                &settings,
                project::free_port(),
            )
        })
        .collect();
    for server in &mut servers {
        server
            .wait_until_listening()
            .unwrap_or_else(|taken| panic!("{taken}"));
    }
    let names = &["instance 1", "instance 2", "instance 3", "instance 4"];
    reporting_failures(
        "four instances started together on a fresh database",
        project,
        &servers.iter().collect::<Vec<_>>(),
        sink,
        || {
            // Cells on a database server install every handler.
            instances::instances_started_together_all_serve(&instances::instances_of(
                &servers, names, true,
            ))
        },
    );
    let mut last = servers.pop().expect("four servers");
    instances::sigterm_lets_the_request_in_flight_finish(&mut last);
}

/// Generates the app of one cell and holds it to fmt, clippy and its own tests.
fn app_is_formatted_lint_free_and_passes_its_tests(db: Db, backend: Backend, package: &str) {
    let Some(store) = Store::for_test(db, &this_test()) else {
        return;
    };
    generate_and_check(&store, backend, package);
}

/// Builds an app on `db` and sends it crowds of concurrent registrations (see `crowd.rs`).
fn app_keeps_concurrent_registrations_apart(db: Db, package: &str) {
    let Some(store) = Store::for_test(db, &this_test()) else {
        return;
    };
    let project = Project::generate(package, Backend::Session.name(), db.name());
    project.cargo(&["build"]);

    let sink = SmtpSink::start();
    let database = store.fresh_database(package, &project.scratch);
    let settings = ServerSettings::new(&database.url, &sink.url());
    let server = Server::start(&project.binary(), &project.dir, &project.scratch, &settings);
    let client = Client::new(server.port);
    let what = format!("concurrent registrations on {}", db.name());
    reporting_failures(&what, &project, &[&server], &sink, || {
        crowd::racing_registrations_of_one_email_make_one_account(&client, &database);
        crowd::a_crowd_of_distinct_registrations_all_succeed_and_are_stored(&client, &database);
    });
}

// ---------------------------------------------------------------------------------------------
// SQLite

#[test]
fn session_backend_app_builds_passes_its_tests_and_serves_the_contract() {
    app_builds_passes_its_tests_and_serves_the_contract(
        Db::Sqlite,
        Backend::Session,
        "e2e-session",
        false,
    );
}

#[test]
fn jwt_backend_app_builds_passes_its_tests_and_serves_the_contract() {
    app_builds_passes_its_tests_and_serves_the_contract(Db::Sqlite, Backend::Jwt, "e2e-jwt", false);
}

#[test]
fn jwt_cookie_backend_app_builds_passes_its_tests_and_serves_the_contract() {
    app_builds_passes_its_tests_and_serves_the_contract(
        Db::Sqlite,
        Backend::JwtCookie,
        "e2e-jwt-cookie",
        false,
    );
}

#[test]
fn sqlite_app_gives_an_email_to_one_of_50_racing_registrations_and_keeps_all_200_of_a_crowd() {
    app_keeps_concurrent_registrations_apart(Db::Sqlite, "e2e-sqlite-crowd");
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL (CARGO_USERS_TEST_POSTGRES_URL)

#[test]
fn postgres_session_app_passes_its_checks_and_two_instances_share_logins_and_logouts() {
    app_passes_its_checks_and_two_instances_share_logins_and_logouts(
        Db::Postgres,
        Backend::Session,
        "e2e-pg-session",
    );
}

#[test]
fn postgres_jwt_app_passes_its_checks_and_two_instances_share_logins_and_logouts() {
    app_passes_its_checks_and_two_instances_share_logins_and_logouts(
        Db::Postgres,
        Backend::Jwt,
        "e2e-pg-jwt",
    );
}

#[test]
fn postgres_jwt_cookie_app_builds_passes_its_tests_serves_the_contract_and_scales_out() {
    app_builds_passes_its_tests_and_serves_the_contract(
        Db::Postgres,
        Backend::JwtCookie,
        "e2e-pg-jwt-cookie",
        true,
    );
}

#[test]
fn postgres_app_gives_an_email_to_one_of_50_racing_registrations_and_keeps_all_200_of_a_crowd() {
    app_keeps_concurrent_registrations_apart(Db::Postgres, "e2e-pg-crowd");
}

// (0.2.0, clean) OAuth2 takeover over HTTP, against a mock provider served by this process.
#[test]
fn postgres_oauth2_login_with_an_unverified_email_creates_nothing_and_verification_drops_a_link() {
    let Some(store) = Store::for_test(Db::Postgres, &this_test()) else {
        return;
    };
    let project = Project::generate_with(
        "e2e-pg-oauth2",
        Backend::Session.name(),
        Db::Postgres.name(),
        Some("all"),
    );
    project.cargo(&["build"]);
    let sink = SmtpSink::start();
    let provider = oauth2::MockProvider::start();
    let database = store.fresh_database("e2e-pg-oauth2", &project.scratch);
    let mut settings = ServerSettings::new(&database.url, &sink.url());
    settings.env.extend(provider.env());
    let server = Server::start(&project.binary(), &project.dir, &project.scratch, &settings);
    let client = Client::new(server.port);
    reporting_failures(
        "OAuth2 takeover over HTTP",
        &project,
        &[&server],
        &sink,
        || {
            oauth2::takeover_checks(&client, &provider, &database, &sink, &server.app_url, true);
        },
    );
}

// ---------------------------------------------------------------------------------------------
// MySQL / MariaDB (CARGO_USERS_TEST_MYSQL_URL)

#[test]
fn mysql_session_app_builds_passes_its_tests_and_serves_the_contract() {
    let served = app_builds_passes_its_tests_and_serves_the_contract(
        Db::Mysql,
        Backend::Session,
        "e2e-mysql-session",
        false,
    );
    // MariaDB ignores the migrator's own lock (see the generated `db::migrate_locked`).
    if let Some(served) = served {
        instances_start_together_and_stop_cleanly(Db::Mysql, &served);
    }
}

#[test]
fn mysql_jwt_app_is_formatted_lint_free_and_passes_its_tests() {
    app_is_formatted_lint_free_and_passes_its_tests(Db::Mysql, Backend::Jwt, "e2e-mysql-jwt");
}

#[test]
fn mysql_jwt_cookie_app_is_formatted_lint_free_and_passes_its_tests() {
    app_is_formatted_lint_free_and_passes_its_tests(
        Db::Mysql,
        Backend::JwtCookie,
        "e2e-mysql-jwt-cookie",
    );
}

#[test]
fn mysql_app_gives_an_email_to_one_of_50_racing_registrations_and_keeps_all_200_of_a_crowd() {
    app_keeps_concurrent_registrations_apart(Db::Mysql, "e2e-mysql-crowd");
}

/// `add-handler` on an app whose database already has users: the new handlers' migrations apply
/// on top, the project stays formatted, lint-free and green, the management commands work on the
/// existing data, and the new routes answer over HTTP behind the admin guard.
#[test]
fn add_handler_brings_roles_user_management_and_oauth2_to_an_app_already_in_use() {
    let project = Project::generate("e2e-add-handler", Backend::Session.name(), "sqlite");
    project.cargo(&["build"]);
    let database = format!("sqlite://{}", project.scratch.join("in-use.db").display());
    let secret = project::random_secret();
    let app = |args: &[&str]| {
        let output = project.app(args, &database, &secret);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    };
    let password = "correct horse battery";
    for email in ["admin@example.com", "member@example.com"] {
        let (ok, text) = app(&[
            "users",
            "create-user",
            "--email",
            email,
            "--password",
            password,
            "--verified",
        ]);
        assert!(ok, "create-user {email} before add-handler: {text}");
    }

    for handler in ["role-management", "user-management", "oauth2"] {
        project.tool(&["add-handler", handler]);
    }
    let migrations = std::fs::read_dir(project.dir.join("migrations"))
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect::<Vec<_>>();
    for name in ["_users.sql", "_roles.sql", "_oauth2.sql"] {
        assert!(
            migrations.iter().any(|m| m.ends_with(name)),
            "no *{name} in migrations/: {migrations:?}"
        );
    }
    project.cargo(&["fmt", "--check"]);
    project.cargo(&["clippy", "--all-targets", "--", "-D", "warnings"]);
    project.cargo(&["test"]);
    project.cargo(&["build"]);

    // The new migrations apply to the database that already has users.
    // The new migrations created the admin role: creating it says so and exits 0.
    let (ok, text) = app(&["users", "create-role", "--name", "admin"]);
    assert!(
        ok && text.contains("exists already"),
        "create-role admin after add-handler: {text}"
    );
    let (ok, text) = app(&[
        "users",
        "assign-role",
        "--email",
        "admin@example.com",
        "--role",
        "admin",
    ]);
    assert!(ok, "assign-role: {text}");
    let (ok, text) = app(&[
        "users",
        "assign-role",
        "--email",
        "admin@example.com",
        "--role",
        "admin",
    ]);
    assert!(
        ok && text.contains("already"),
        "a second assign-role says so: {text}"
    );

    let sink = SmtpSink::start();
    let settings = ServerSettings {
        secret: secret.clone(),
        ..ServerSettings::new(&database, &sink.url())
    };
    let server = Server::start(&project.binary(), &project.dir, &project.scratch, &settings);
    let client = Client::new(server.port);
    reporting_failures(
        "the app after add-handler",
        &project,
        &[&server],
        &sink,
        || {
            let login = |email: &str| {
                let response = client
                    .post("/login")
                    .json(&serde_json::json!({ "email": email, "password": password }))
                    .send();
                assert_eq!(response.status, 201, "login {email}: {}", response.body);
                Backend::Session.credential_from_login(&response)
            };
            let admin = login("admin@example.com");
            let users = admin.apply(client.get("/users")).send();
            assert_eq!(users.status, 200, "GET /users as admin: {}", users.body);
            assert_eq!(users.json()["total"], 2, "{}", users.body);
            let roles = admin.apply(client.get("/users/roles")).send();
            assert_eq!(
                roles.status, 200,
                "GET /users/roles as admin: {}",
                roles.body
            );
            let member = login("member@example.com");
            let refused = member.apply(client.get("/users")).send();
            assert_eq!(
                refused.status, 403,
                "GET /users as a member: {}",
                refused.body
            );
            assert_eq!(client.get("/users").send().status, 401);
            // No provider is configured: an unknown provider is a 404, not a 500.
            let unknown = client.get("/oauth2/github/authorize").send();
            assert_eq!(unknown.status, 404, "{}", unknown.body);
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Fuzzing (`fuzz.rs`): every route of an app with every handler, on SQLite.

/// Generates and builds an app with every handler, creates an admin with `--password-stdin`,
/// logs in over HTTP and sends it generated requests (`CARGO_USERS_FUZZ_CASES`, default
/// [`fuzz::DEFAULT_CASES`]): no 5xx, no panic in its log.
fn app_answers_arbitrary_requests_without_a_5xx(backend: Backend, package: &str) {
    let project = Project::generate_with(package, backend.name(), "sqlite", Some("all"));
    project.cargo(&["build"]);
    let database = format!("sqlite://{}", project.scratch.join("fuzz.db").display());
    let secret = project::random_secret();
    let password = "correct horse battery staple";
    // The role may exist already (a migration creates it): either way it exists afterwards.
    let _ = project.app(
        &["users", "create-role", "--name", "admin"],
        &database,
        &secret,
    );
    let args = [
        "users",
        "create-user",
        "--email",
        "admin@example.com",
        "--password-stdin",
        "--verified",
        "--role",
        "admin",
    ];
    let created = project.app_with_input(&args, &database, &secret, &format!("{password}\n"));
    assert!(
        created.status.success(),
        "create-user --password-stdin: {}{}",
        String::from_utf8_lossy(&created.stdout),
        String::from_utf8_lossy(&created.stderr)
    );

    let sink = SmtpSink::start();
    let settings = ServerSettings {
        secret,
        label: "fuzzed".to_string(),
        // Rate limits would answer most requests with 429 before they reach the handlers.
        env: vec![("RATE_LIMITS".to_string(), "off".to_string())],
        ..ServerSettings::new(&database, &sink.url())
    };
    let server = Server::start(&project.binary(), &project.dir, &project.scratch, &settings);
    let client = Client::new(server.port);
    reporting_failures("fuzzing", &project, &[&server], &sink, || {
        // The password read from stdin is the admin's password.
        let login = client
            .post("/login")
            .json(&serde_json::json!({ "email": "admin@example.com", "password": password }))
            .send();
        assert_eq!(login.status, 201, "the admin's login: {login}");
        let admin = backend.credential_from_login(&login);
        let credentials = fuzz::Credentials {
            garbage: admin.forged_with("not-a-credential").header(),
            admin: admin.header(),
        };
        let figures = fuzz::no_request_gets_a_5xx(server.port, &credentials);
        eprintln!("fuzzing the {} app: {figures:?}", backend.name());
        let logs = server.logs();
        assert!(
            !logs.contains("panicked"),
            "the server panicked while fuzzed:\n{logs}"
        );
        // Still serving, and the admin still logged in.
        let me = admin.apply(client.get("/users/me")).send();
        assert_eq!(me.status, 200, "after fuzzing: {me}");
    });
    drop(server);
    served_over_https_with_mails_in_the_log(&project, &settings, backend, password);
}

/// The same app as if behind https (`APP_URL=https://...`) without `SMTP_URL`: it warns at
/// start-up that mails go to the log, and a cookie backend names its cookie `__Host-...`
/// (`Secure`, `Path=/`, no `Domain`) and ignores the same cookie without the prefix.
fn served_over_https_with_mails_in_the_log(
    project: &Project,
    settings: &ServerSettings,
    backend: Backend,
    password: &str,
) {
    let settings = ServerSettings {
        app_url: Some("https://app.example".to_string()),
        smtp_url: String::new(),
        label: "https".to_string(),
        ..settings.clone()
    };
    let server = Server::start(&project.binary(), &project.dir, &project.scratch, &settings);
    let client = Client::new(server.port);
    let logs = server.logs();
    assert!(
        logs.contains("WARN") && logs.contains("SMTP_URL is not set"),
        "no start-up warning about mails in the log behind https:\n{logs}"
    );
    let login = client
        .post("/login")
        .json(&serde_json::json!({ "email": "admin@example.com", "password": password }))
        .send();
    assert_eq!(login.status, 201, "login behind https: {login}");
    let credential = backend.credential_from_login(&login);
    if let auth::Credential::Cookies(cookies) = &credential {
        for cookie in login.set_cookies() {
            assert!(cookie.name.starts_with("__Host-"), "{}", cookie.raw);
            assert_eq!(cookie.attribute("path"), Some(Some("/")), "{}", cookie.raw);
            assert_eq!(cookie.attribute("secure"), Some(None), "{}", cookie.raw);
            assert_eq!(cookie.attribute("domain"), None, "{}", cookie.raw);
        }
        let me = credential.apply(client.get("/users/me")).send();
        assert_eq!(
            me.status, 200,
            "GET /users/me with the __Host- cookie: {me}"
        );
        let unprefixed = auth::Credential::Cookies(
            cookies
                .iter()
                .map(|(name, value)| {
                    (
                        name.trim_start_matches("__Host-").to_string(),
                        value.clone(),
                    )
                })
                .collect(),
        );
        let refused = unprefixed.apply(client.get("/users/me")).send();
        assert_eq!(
            refused.status, 401,
            "the cookie without its prefix: {refused}"
        );
    }
}

#[test]
fn fuzzed_session_app_never_answers_5xx_nor_panics() {
    app_answers_arbitrary_requests_without_a_5xx(Backend::Session, "e2e-fuzz-session");
}

#[test]
fn fuzzed_jwt_app_never_answers_5xx_nor_panics() {
    app_answers_arbitrary_requests_without_a_5xx(Backend::Jwt, "e2e-fuzz-jwt");
}
