//! Many instances of a generated server (0.2.0): rate limits shared through Redis, and what the
//! instances do when Redis goes away and comes back; several instances started at the same moment
//! on a fresh database; a clean stop on SIGTERM while a request is in flight.
//!
//! The Redis here is a `redis-server` of the test's own, on a free port and keeping nothing on
//! disk, so that it can be stopped and started again. Without `redis-server` those checks say
//! `SKIPPED` (and fail when `CARGO_USERS_E2E_REQUIRE_DATABASES` is set).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::checks::expect_status;
use super::http::{Client, parse_response};
use super::project::{Server, free_port, random_secret};
use super::scale_out::Instance;

/// How long an instance may take to notice that Redis is back (it pings every second).
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// A `redis-server` of the test's own on `port`; stopped when dropped.
pub struct RedisServer {
    child: Child,
    pub port: u16,
}

impl RedisServer {
    /// Starts `redis-server` on `port` and waits until it answers; `None` (after a loud
    /// `SKIPPED`) when it is not installed.
    pub fn start(port: u16, log_dir: &Path) -> Option<RedisServer> {
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(log_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) => {
                let message = format!("cannot run redis-server ({error})");
                assert!(
                    std::env::var_os("CARGO_USERS_E2E_REQUIRE_DATABASES").is_none(),
                    "{message}, but CARGO_USERS_E2E_REQUIRE_DATABASES is set: install redis-server"
                );
                eprintln!("SKIPPED: {message}; the checks of Redis outages did not run");
                return None;
            }
        };
        let server = RedisServer { child, port };
        let started = Instant::now();
        while !server.answers() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server on port {port} does not answer"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Whether it answers `PING` (in the protocol's inline form).
    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut answer = [0; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG\r\n"
    }

    /// Kills the server at once, as a crash or a lost network would.
    pub fn kill(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The variables that make an instance count its rate limits in the Redis at `url`.
pub fn redis_environment(url: &str) -> Vec<(String, String)> {
    vec![
        ("RATE_LIMIT_STORE".to_string(), "redis".to_string()),
        ("REDIS_URL".to_string(), url.to_string()),
    ]
}

/// Sends wrong logins for a fresh account, all from one fresh client address, to `instances` in
/// turn, until one answers 429; returns how many were answered 401 before.
pub fn failures_before_429(instances: &[&Instance]) -> usize {
    let tag = random_secret()[..12].to_ascii_lowercase();
    let email = format!("guess-{tag}@e2e.example.com");
    // A documentation address of its own (TEST-NET-3), so no other check shares its budget.
    let octet = |i: usize| tag.as_bytes()[i] % 250 + 1;
    let client = format!("203.0.{}.{}", octet(0), octet(1));
    for attempt in 0..100 {
        let instance = instances[attempt % instances.len()];
        let response = instance
            .client
            .post("/login")
            .header("X-Forwarded-For", &client)
            .json(&json!({"email": email, "password": "not the password"}))
            .send();
        match response.status {
            401 => continue,
            429 => return attempt,
            _ => panic!(
                "a wrong login on the {} answered neither 401 nor 429:\n{response}",
                instance.name
            ),
        }
    }
    panic!("100 wrong logins for one account from one address were never limited");
}

/// Failed logins spread over two instances are limited at the count one instance alone limits
/// them at; with Redis killed both keep answering (one warning each), and once Redis is back they
/// count together again.
pub fn limits_are_shared_and_survive_a_redis_outage(
    first: &Instance,
    second: &Instance,
    servers: [&Server; 2],
    redis: RedisServer,
    log_dir: &Path,
) {
    let alone = failures_before_429(&[first]);
    assert!(alone > 0, "the first wrong login was already limited");
    let spread = failures_before_429(&[first, second]);
    assert_eq!(
        spread, alone,
        "wrong logins spread over two instances sharing Redis are limited after {spread}, on one \
         instance after {alone}"
    );

    let port = redis.kill();
    for instance in [first, second] {
        for round in 0..3 {
            let email = format!("outage-{round}@e2e.example.com");
            let response = instance
                .client
                .post("/login")
                .json(&json!({"email": email, "password": "not the password"}))
                .send();
            expect_status(
                &response,
                401,
                &format!("a wrong login on the {} with Redis down", instance.name),
            );
        }
        let health = instance.client.get("/health").send();
        expect_status(
            &health,
            200,
            &format!("GET /health on the {} with Redis down", instance.name),
        );
    }
    for server in servers {
        let logs = server.logs();
        let warnings = logs.matches("Redis is unavailable").count();
        assert_eq!(
            warnings, 1,
            "the {} should warn once per outage, not per request:\n{logs}",
            server.label
        );
    }

    let _redis = RedisServer::start(port, log_dir).expect("redis-server ran a moment ago");
    let started = Instant::now();
    for server in servers {
        while !server.logs().contains("Redis answers again") {
            assert!(
                started.elapsed() < RECOVERY_TIMEOUT,
                "the {} did not notice that Redis is back:\n{}",
                server.label,
                server.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let spread = failures_before_429(&[first, second]);
    assert_eq!(
        spread, alone,
        "after the outage, wrong logins spread over two instances are limited after {spread}, on \
         one instance after {alone}"
    );
}

/// Every instance (started at the same moment on a database that did not exist) answers
/// `GET /health` and registers an account, so each one has the whole schema.
pub fn instances_started_together_all_serve(instances: &[Instance]) {
    for (n, instance) in instances.iter().enumerate() {
        let health = instance.client.get("/health").send();
        expect_status(
            &health,
            200,
            &format!("GET /health on the {}", instance.name),
        );
        assert_eq!(
            health.json()["status"],
            "ok",
            "GET /health on the {}",
            instance.name
        );
        let registered = instance
            .client
            .post("/register")
            .json(&json!({
                "email": format!("together-{n}@e2e.example.com"),
                "password": "a passphrase of one's own",
            }))
            .send();
        expect_status(
            &registered,
            201,
            &format!("POST /register on the {}", instance.name),
        );
    }
}

/// SIGTERM while a login's body is still arriving: the server stops accepting connections at
/// once, answers that login when its body is complete, and exits 0.
pub fn sigterm_lets_the_request_in_flight_finish(server: &mut Server) {
    let body = json!({"email": "slow@e2e.example.com", "password": "not the password"}).to_string();
    let mut slow = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).unwrap();
    slow.write_all(&body.as_bytes()[..10]).unwrap();
    // The request is in flight once the server reads its head.
    std::thread::sleep(Duration::from_millis(300));
    server.terminate();

    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", server.port)).is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the {} still accepts connections 10 s after SIGTERM:\n{}",
            server.label,
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    slow.write_all(&body.as_bytes()[10..]).unwrap();
    let mut raw = Vec::new();
    slow.read_to_end(&mut raw).unwrap();
    let response = parse_response(&raw).unwrap_or_else(|error| {
        panic!(
            "the login in flight at SIGTERM got no answer ({error}):\n{}\n{}",
            String::from_utf8_lossy(&raw),
            server.logs()
        )
    });
    expect_status(&response, 401, "the wrong login in flight at SIGTERM");
    let status = server.wait_for_exit(Duration::from_secs(30));
    assert!(
        status.success(),
        "the {} exited with {status} after SIGTERM:\n{}",
        server.label,
        server.logs()
    );
}

/// A port for a Redis of the test's own.
pub fn redis_port() -> u16 {
    free_port()
}

/// A client for each server, named after it; `has_roles` as in [`Instance`].
pub fn instances_of(
    servers: &[Server],
    names: &'static [&'static str],
    has_roles: bool,
) -> Vec<Instance> {
    servers
        .iter()
        .zip(names)
        .map(|(server, name)| Instance {
            name,
            client: Client::new(server.port),
            has_roles,
        })
        .collect()
}
