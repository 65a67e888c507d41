//! Property-based fuzzing of a running app: arbitrary methods, path segments, query strings,
//! headers and bodies sent to every route of an app with every handler, anonymously, with a
//! garbage credential or as a logged-in admin. The property: no answer is ever 5xx, every request
//! gets an answer (large bodies excepted, see [`Outcome::Unanswered`]), and the server logs no
//! panic.
//!
//! Bounded: [`DEFAULT_CASES`] requests per app; `CARGO_USERS_FUZZ_CASES=<n>` sends more (the
//! long-running variant, see the README).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

/// Requests per app when `CARGO_USERS_FUZZ_CASES` is unset.
pub const DEFAULT_CASES: u32 = 300;

/// How long one request may take before it counts as unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Bodies larger than this may be refused (413) before they are read whole; the server may then
/// reset the connection before the client reads the answer.
const SMALL_BODY: usize = 16 * 1024;

/// Every route of an app with `--handlers all`, with its method; `{}` is a path segment the
/// fuzzer chooses.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/register"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/verify"),
    ("POST", "/verify/resend"),
    ("POST", "/forgot-password"),
    ("POST", "/reset-password"),
    ("POST", "/magic-link"),
    ("POST", "/magic-link/login"),
    ("POST", "/users/me/totp"),
    ("POST", "/users/me/totp/confirm"),
    ("DELETE", "/users/me/totp"),
    ("POST", "/login/totp"),
    ("GET", "/openapi.json"),
    ("GET", "/users/me"),
    ("PATCH", "/users/me"),
    ("GET", "/users"),
    ("GET", "/users/{}"),
    ("PATCH", "/users/{}"),
    ("DELETE", "/users/{}"),
    ("GET", "/users/roles"),
    ("POST", "/users/roles"),
    ("PATCH", "/users/roles/{}"),
    ("DELETE", "/users/roles/{}"),
    ("PUT", "/users/roles/assign"),
    ("PUT", "/users/roles/revoke"),
    ("GET", "/oauth2/{}/authorize"),
    ("GET", "/oauth2/{}/callback"),
    ("GET", "/oauth2/github/authorize"),
    ("GET", "/oauth2/github/callback"),
    ("GET", "/{}"),
    ("POST", "/users/{}/{}"),
];

/// Methods sent to a route besides its own.
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The field names the routes read, so that generated JSON bodies get past the shape checks.
const FIELDS: &[&str] = &[
    "email",
    "password",
    "current_password",
    "token",
    "name",
    "description",
    "user_id",
    "role_id",
    "is_active",
    "is_verified",
    "roles",
    "code",
    "mfa_token",
];

/// Query keys the routes read.
const QUERY_KEYS: &[&str] = &["token", "code", "state", "error", "limit", "offset"];

/// One generated request.
#[derive(Clone, Debug)]
pub struct FuzzRequest {
    method: &'static str,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    /// Which credential to send: none, a garbage one, or the logged-in admin's.
    credential: CredentialChoice,
    body: Vec<u8>,
}

#[derive(Clone, Copy, Debug)]
enum CredentialChoice {
    None,
    Garbage,
    Admin,
}

/// How a request went.
#[derive(Debug)]
pub enum Outcome {
    /// The server answered with this status.
    Answered(u16),
    /// No readable answer to a request with a large body: the server refused it (413) and
    /// closed the connection while the client was still sending, which resets it.
    Unanswered(String),
}

/// The counts a run reports.
#[derive(Debug, Default)]
pub struct Figures {
    pub sent: u64,
    pub server_errors: u64,
    pub unanswered_large: u64,
    /// Answers by status.
    pub by_status: std::collections::BTreeMap<u16, u64>,
}

/// How many requests to send per app.
pub fn cases() -> u32 {
    std::env::var("CARGO_USERS_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// Percent-encodes every byte that is not unreserved, so any byte string is a valid segment.
fn percent_encoded(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// A path segment or query value: plausible ids, numbers, and arbitrary bytes.
fn text_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("00000000-0000-0000-0000-000000000000".to_string()),
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "-?[0-9]{1,25}",
        "[a-zA-Z0-9._~-]{0,40}",
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|bytes| percent_encoded(&bytes)),
        Just("%00".to_string()),
        Just("..".to_string()),
        Just("%2F..%2F".to_string()),
    ]
}

/// A JSON value of any shape, with strings that include NUL, control characters and non-ASCII.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|float| json!(float)),
        ".{0,40}".prop_map(Value::from),
        "[a-z0-9.+_-]{0,20}@[a-z0-9.-]{0,20}".prop_map(Value::from),
        "[\\x00-\\x1f]{1,5}".prop_map(Value::from),
        (0usize..3000).prop_map(|length| Value::from("é".repeat(length))),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..6).prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(key, value)| (key.to_string(), value))
                        .collect(),
                )
            }),
        ]
    })
}

/// A body: JSON shaped like the routes' bodies, any JSON, arbitrary bytes, or large.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => Just(Vec::new()),
        8 => prop::collection::vec((prop::sample::select(FIELDS), json_value()), 1..5).prop_map(
            |pairs| {
                let object: serde_json::Map<String, Value> = pairs
                    .into_iter()
                    .map(|(key, value)| (key.to_string(), value))
                    .collect();
                Value::Object(object).to_string().into_bytes()
            }
        ),
        2 => json_value().prop_map(|value| value.to_string().into_bytes()),
        2 => prop::collection::vec(any::<u8>(), 0..512),
        1 => (1usize..1024).prop_map(|kib| {
            let email = "a".repeat(kib * 1024);
            json!({ "email": email, "password": "correct horse battery" })
                .to_string()
                .into_bytes()
        }),
    ]
}

/// Extra headers: content types, origins, cookies and forwarding headers.
fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let header = prop_oneof![
        prop::sample::select(vec![
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=latin1",
            "",
        ])
        .prop_map(|value| ("Content-Type".to_string(), value.to_string())),
        prop::sample::select(vec!["https://evil.example", "null", "http://localhost", "",])
            .prop_map(|value| ("Origin".to_string(), value.to_string())),
        prop::sample::select(vec!["cross-site", "same-site", "same-origin", "none"])
            .prop_map(|value| ("Sec-Fetch-Site".to_string(), value.to_string())),
        "[ -~]{0,80}".prop_map(|value| ("Cookie".to_string(), value)),
        "[a-z_]{1,12}=[ -~&&[^;]]{0,60}".prop_map(|pair| ("Cookie".to_string(), pair)),
        "[ -~]{0,60}".prop_map(|value| ("X-Forwarded-For".to_string(), value)),
        "[ -~]{0,60}".prop_map(|value| ("Forwarded".to_string(), value)),
        "[ -~]{0,80}".prop_map(|value| ("Authorization".to_string(), value)),
        ("[A-Za-z-]{1,20}", "[ -~]{0,60}"),
    ];
    prop::collection::vec(header, 0..5)
}

fn request() -> impl Strategy<Value = FuzzRequest> {
    // Mostly the route's own method, so that most requests reach its handler.
    let route = (
        prop::sample::select(ROUTES),
        prop::sample::select(METHODS),
        prop::bool::weighted(0.2),
        prop::collection::vec(text_value(), 2),
    )
        .prop_map(|((own, route), other, use_other, segments)| {
            let mut path = route.to_string();
            for segment in segments {
                path = path.replacen("{}", &segment, 1);
            }
            (if use_other { other } else { own }, path)
        });
    let query = prop::option::of(prop::collection::vec(
        (
            prop_oneof![
                prop::sample::select(QUERY_KEYS).prop_map(str::to_string),
                "[a-z]{0,8}"
            ],
            text_value(),
        ),
        0..4,
    ))
    .prop_map(|pairs| {
        pairs.map(|pairs| {
            pairs
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect::<Vec<_>>()
                .join("&")
        })
    });
    let credential = prop_oneof![
        Just(CredentialChoice::None),
        Just(CredentialChoice::Garbage),
        Just(CredentialChoice::Admin),
    ];
    (route, query, headers(), credential, body()).prop_map(
        |((method, path), query, headers, credential, body)| FuzzRequest {
            method,
            path,
            query,
            headers,
            credential,
            body,
        },
    )
}

/// The headers that present a credential.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The logged-in admin's (`Cookie` or `Authorization`).
    pub admin: (String, String),
    /// A well-formed but unknown one of the same kind.
    pub garbage: (String, String),
}

/// Sends `request` to the server on `port` and reads the answer.
fn send(port: u16, request: &FuzzRequest, credentials: &Credentials) -> Outcome {
    let target = match &request.query {
        Some(query) => format!("{}?{query}", request.path),
        None => request.path.clone(),
    };
    let mut head = format!(
        "{} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n",
        request.method
    );
    let credential = match request.credential {
        // A logout would end the admin's session for the rest of the run.
        CredentialChoice::Admin if request.path == "/logout" => None,
        CredentialChoice::Admin => Some(&credentials.admin),
        CredentialChoice::Garbage => Some(&credentials.garbage),
        CredentialChoice::None => None,
    };
    for (name, value) in request.headers.iter().chain(credential) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    // JSON unless the generated headers say otherwise, so that most bodies reach the handlers.
    if !request
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
    {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", request.body.len()));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&request.body);

    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let unanswered = |error: String| {
        if request.body.len() > SMALL_BODY {
            Outcome::Unanswered(error)
        } else {
            panic!("{} {target}: {error}", request.method)
        }
    };
    let mut stream = match TcpStream::connect_timeout(&address, REQUEST_TIMEOUT) {
        Ok(stream) => stream,
        Err(error) => panic!("cannot connect to {address}: {error}"),
    };
    stream.set_read_timeout(Some(REQUEST_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(REQUEST_TIMEOUT)).unwrap();
    // The server may answer (413) before the whole body is sent: read the answer anyway. (No
    // half-close after writing: the server would take it for a client that went away.)
    let _ = stream.write_all(&bytes);
    let mut raw = Vec::new();
    if let Err(error) = stream.read_to_end(&mut raw)
        && raw.is_empty()
    {
        return unanswered(format!("no answer: {error}"));
    }
    // Only the status matters here (a HEAD answer has a length but no body).
    let status = raw
        .split(|&byte| byte == b'\n')
        .next()
        .and_then(|line| std::str::from_utf8(line).ok())
        .and_then(|line| line.split_whitespace().nth(1)?.parse().ok());
    match status {
        Some(status) => Outcome::Answered(status),
        None => unanswered(format!(
            "unreadable answer: {}",
            String::from_utf8_lossy(&raw)
        )),
    }
}

/// Runs the property against the server on `port` for [`cases`] generated requests; panics with
/// the smallest failing request proptest finds.
pub fn no_request_gets_a_5xx(port: u16, credentials: &Credentials) -> Figures {
    let figures = std::cell::RefCell::new(Figures::default());
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&request(), |request| {
        let outcome = send(port, &request, credentials);
        let mut figures = figures.borrow_mut();
        figures.sent += 1;
        match outcome {
            Outcome::Answered(status) if status >= 500 => {
                figures.server_errors += 1;
                Err(TestCaseError::fail(format!("answered {status}")))
            }
            Outcome::Answered(status) => {
                *figures.by_status.entry(status).or_default() += 1;
                Ok(())
            }
            Outcome::Unanswered(reason) => {
                eprintln!("a request with a large body got no readable answer: {reason}");
                figures.unanswered_large += 1;
                Ok(())
            }
        }
    });
    let figures = figures.into_inner();
    if let Err(failure) = result {
        panic!("fuzzing found a 5xx ({figures:?}): {failure}");
    }
    figures
}

#[cfg(test)]
mod tests {
    use proptest::strategy::ValueTree;

    use super::*;

    #[test]
    fn any_bytes_become_a_valid_path_segment() {
        assert_eq!(percent_encoded(b"a/b c\0~"), "a%2Fb%20c%00~");
    }

    #[test]
    fn generated_requests_cover_every_route_and_method() {
        let mut runner = TestRunner::deterministic();
        let strategy = request();
        let requests: Vec<FuzzRequest> = (0..600)
            .map(|_| strategy.new_tree(&mut runner).unwrap().current())
            .collect();
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            assert!(requests.iter().any(|r| r.method == method), "{method}");
        }
        for route in [
            "/register",
            "/users/roles/assign",
            "/oauth2/github/callback",
        ] {
            assert!(requests.iter().any(|r| r.path == route), "{route}");
        }
        assert!(requests.iter().any(|r| r.body.len() > SMALL_BODY));
        assert!(requests.iter().any(|r| r.query.is_some()));
    }
}
