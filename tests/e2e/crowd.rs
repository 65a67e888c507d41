//! Many registrations at the same moment against a running generated server: the database's
//! unique index, not a look-up before the insert, must decide who gets an email address, and no
//! registration may be lost or answered with a 500 under load.
//!
//! Each request runs on its own thread, all released together by a barrier. Every request is
//! bounded in time ([`CROWD_TIMEOUT`]): in a debug build one Argon2id hash takes about half a
//! second of one core, and the app hashes at most one password per core at a time, so 200
//! registrations on 2 cores take from half a minute to over three minutes, depending on what
//! else the machine is doing.

use std::collections::{BTreeMap, HashSet};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde_json::json;

use super::checks::{expect_error, expect_json, expect_user};
use super::databases::Database;
use super::http::{Client, RequestBuilder, Response};

/// How many registrations of one email race each other.
pub const RACERS: usize = 50;
/// How many registrations of distinct emails arrive at once.
pub const CROWD: usize = 200;
/// How long one request of a crowd may take, queueing for the password hasher included.
const CROWD_TIMEOUT: Duration = Duration::from_secs(600);

/// The answers to requests sent all at once, in the order of the requests.
struct Answers {
    answers: Vec<Result<Response, String>>,
    took: Duration,
}

impl Answers {
    /// Sends every request at the same moment, one thread each, and waits for all answers.
    fn all_at_once(requests: &[RequestBuilder]) -> Answers {
        let barrier = Barrier::new(requests.len());
        let started = Instant::now();
        let answers = std::thread::scope(|scope| {
            let handles: Vec<_> = requests
                .iter()
                .map(|request| {
                    let barrier = &barrier;
                    std::thread::Builder::new()
                        .stack_size(256 * 1024)
                        .spawn_scoped(scope, move || {
                            barrier.wait();
                            send_until_served(request)
                        })
                        .expect("start a client thread")
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|_| Err("the client thread panicked".to_string()))
                })
                .collect()
        });
        Answers {
            answers,
            took: started.elapsed(),
        }
    }

    /// How many answers had each status (`None`: no answer at all).
    fn tally(&self) -> BTreeMap<Option<u16>, usize> {
        let mut tally = BTreeMap::new();
        for answer in &self.answers {
            *tally
                .entry(answer.as_ref().ok().map(|r| r.status))
                .or_default() += 1;
        }
        tally
    }

    /// A readable account: the count per status, one full example answer per status, and the
    /// first few transport errors.
    fn summary(&self) -> String {
        let mut text = format!(
            "{} requests, all answered within {:.1?}:\n",
            self.answers.len(),
            self.took
        );
        for (status, count) in self.tally() {
            match status {
                Some(status) => text.push_str(&format!("  HTTP {status}: {count}\n")),
                None => text.push_str(&format!("  no answer: {count}\n")),
            }
        }
        let mut statuses_shown = HashSet::new();
        let mut errors_shown = 0;
        for answer in &self.answers {
            match answer {
                Ok(response) if statuses_shown.insert(response.status) => {
                    text.push_str(&format!(
                        "--- an answer with HTTP {} ---\n{response}\n",
                        response.status
                    ));
                }
                Err(error) if errors_shown < 5 => {
                    errors_shown += 1;
                    text.push_str(&format!("--- no answer ---\n{error}\n"));
                }
                _ => {}
            }
        }
        text
    }
}

/// Sends `request` until it is served: a `503` (the password hashing queue is full) or `429` with
/// `Retry-After` is what a well-behaved client waits out, within [`CROWD_TIMEOUT`] in all.
fn send_until_served(request: &RequestBuilder) -> Result<Response, String> {
    let deadline = Instant::now() + CROWD_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let response = request.try_send(left.max(Duration::from_secs(1)))?;
        let wait = response
            .header("retry-after")
            .and_then(|seconds| seconds.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match wait {
            Some(wait)
                if matches!(response.status, 429 | 503) && Instant::now() + wait < deadline =>
            {
                std::thread::sleep(wait)
            }
            _ => return Ok(response),
        }
    }
}

/// A registration, sent as if by the client `client_number` behind the test's proxy (see
/// `TRUSTED_PROXIES` in `project.rs`): each has a registration budget of its own, as the people of
/// a real crowd do.
fn register(client: &Client, email: &str, password: &str, client_number: usize) -> RequestBuilder {
    let address = format!("198.18.{}.{}", client_number / 250, client_number % 250 + 1);
    client
        .post("/register")
        .header("X-Forwarded-For", &address)
        .json(&json!({"email": email, "password": password}))
}

/// [`RACERS`] registrations of one email address (in several letter cases, one address to the
/// contract) at the same moment: exactly one 201, every other a 409 `email_taken`, no 500, and
/// one row for the address in the database.
pub fn racing_registrations_of_one_email_make_one_account(client: &Client, database: &Database) {
    let address = format!("racer-{}@e2e.example.com", nonce());
    let spellings = [
        address.clone(),
        address.to_uppercase(),
        capitalized(&address),
    ];
    let requests: Vec<_> = (0..RACERS)
        .map(|i| {
            register(
                client,
                &spellings[i % spellings.len()],
                "racing passphrase 1",
                i,
            )
        })
        .collect();
    let answers = Answers::all_at_once(&requests);
    let summary = answers.summary();
    eprintln!("{RACERS} racing registrations of {address}: {summary}");
    let tally = answers.tally();
    assert!(
        tally.keys().all(|status| matches!(status, Some(201 | 409))),
        "{RACERS} concurrent POST /register of {address} (in {} letter cases) must each answer 201 or 409, never a 500 or nothing; {summary}",
        spellings.len()
    );
    assert_eq!(
        (
            tally.get(&Some(201)).copied().unwrap_or(0),
            tally.get(&Some(409)).copied().unwrap_or(0)
        ),
        (1, RACERS - 1),
        "{RACERS} concurrent POST /register of one email must give exactly one 201 and {} 409s; {summary}",
        RACERS - 1
    );
    for (request, answer) in requests.iter().zip(&answers.answers) {
        let response = answer.as_ref().unwrap();
        let what = format!("{} (one of {RACERS} racing)", request.describe());
        if response.status == 201 {
            let user = expect_json(response, 201, &what);
            let email = user["email"].as_str().unwrap_or("");
            assert!(
                email.eq_ignore_ascii_case(&address),
                "{what}: the new user's email {email:?} is not {address:?} in any letter case: {user}"
            );
        } else {
            expect_error(response, 409, &what);
        }
    }

    let sql = format!("SELECT COUNT(*) FROM users WHERE LOWER(email) = '{address}'");
    match database.count(&sql) {
        Some(rows) => assert_eq!(
            rows, 1,
            "after {RACERS} racing registrations of {address} the database holds {rows} accounts for it ({sql})"
        ),
        None => {
            eprintln!("no sqlite3: checking through the API that {address} is taken");
            let again = register(client, &address, "racing passphrase 2", RACERS).send();
            expect_error(&again, 409, "POST /register after the race");
        }
    }
}

/// [`CROWD`] registrations of distinct emails at the same moment: every one 201 with its own
/// user id, and afterwards every one of them is a row in the database.
pub fn a_crowd_of_distinct_registrations_all_succeed_and_are_stored(
    client: &Client,
    database: &Database,
) {
    let prefix = format!("crowd-{}-", nonce());
    let emails: Vec<String> = (0..CROWD)
        .map(|i| format!("{prefix}{i:03}@e2e.example.com"))
        .collect();
    let requests: Vec<_> = emails
        .iter()
        .enumerate()
        .map(|(i, email)| register(client, email, "crowded passphrase 1", RACERS + 1 + i))
        .collect();
    let answers = Answers::all_at_once(&requests);
    let summary = answers.summary();
    eprintln!("{CROWD} concurrent registrations of distinct emails: {summary}");
    assert_eq!(
        answers.tally().get(&Some(201)).copied().unwrap_or(0),
        CROWD,
        "{CROWD} concurrent POST /register of distinct emails must all answer 201; {summary}"
    );
    let mut ids = HashSet::new();
    for (email, answer) in emails.iter().zip(&answers.answers) {
        let what = format!("POST /register of {email} (one of {CROWD} at once)");
        let user = expect_json(answer.as_ref().unwrap(), 201, &what);
        // The crowd's app has the default handlers, without role-management.
        let id = expect_user(&user, email, false, false, &what);
        assert!(
            ids.insert(id.clone()),
            "{what}: the id {id} was handed out twice"
        );
    }

    let sql = format!("SELECT COUNT(*) FROM users WHERE email LIKE '{prefix}%'");
    match database.count(&sql) {
        Some(rows) => assert_eq!(
            rows, CROWD as u64,
            "{CROWD} registrations answered 201 but the database holds {rows} of their accounts ({sql})"
        ),
        None => {
            eprintln!("no sqlite3: checking through the API that all {CROWD} emails are taken");
            let again: Vec<_> = emails
                .iter()
                .enumerate()
                .map(|(i, email)| register(client, email, "crowded passphrase 2", RACERS + 1 + i))
                .collect();
            let answers = Answers::all_at_once(&again);
            assert_eq!(
                answers.tally().get(&Some(409)).copied().unwrap_or(0),
                CROWD,
                "after {CROWD} registrations answered 201, registering each email again must answer 409; {}",
                answers.summary()
            );
        }
    }
}

/// `Name@example.com` from `name@example.com`.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// Eight lowercase hex digits, so the addresses of one run are new to the database.
fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{:08x}", hasher.finish() as u32)
}
