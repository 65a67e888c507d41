//! Rate limits shared by every instance through Redis (`RATE_LIMIT_STORE=redis`), and what
//! happens when Redis goes away and comes back.
//!
//! These tests need a Redis server: set `TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`).
//! Unset, each says so and passes. Every test keeps its keys under a prefix of its own.

use std::{num::NonZeroU32, time::Duration};

use {{ crate_name }}::{{ module }}::{config::RateLimits, rate_limit::Limiter};

use axum::http::StatusCode;
use governor::Quota;
use serde_json::json;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

use crate::support::{PASSWORD, TestApp, app_with_state};

/// The Redis server of `TEST_REDIS_URL`, or `None` after saying that the test did not run.
fn redis_url(test: &str) -> Option<String> {
    let url = std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.trim().is_empty());
    if url.is_none() {
        eprintln!("SKIPPED {test}: set TEST_REDIS_URL (e.g. redis://127.0.0.1:6379) to run it");
    }
    url
}

/// Three failed logins per account and address, then one every ten minutes; everything else
/// loose.
fn three_failures() -> RateLimits {
    let quota = |burst| {
        Quota::with_period(Duration::from_secs(600))
            .unwrap()
            .allow_burst(NonZeroU32::new(burst).unwrap())
    };
    RateLimits {
        per_account_address: quota(3),
        per_account: quota(100),
        per_address: quota(100),
        registrations_per_address: quota(100),
        second_factor: quota(100),
        mails_per_account: quota(100),
    }
}

/// An instance of the app whose limits count in the Redis of `url`, under `prefix`.
async fn instance(url: &str, prefix: &str) -> TestApp {
    let client = redis::Client::open(url).expect("a Redis URL");
    let limiter = Limiter::shared(three_failures(), client, prefix.to_owned());
    app_with_state(move |state| state.limiter = limiter).await
}

/// A key prefix no other test or run uses.
fn fresh_prefix() -> String {
    format!("users-test-{}:", uuid::Uuid::new_v4().simple())
}

/// A login with a wrong password from one client address.
async fn wrong_login(app: &TestApp, email: &str) -> StatusCode {
    app.post_from(
        "192.0.2.1",
        "/login",
        json!({ "email": email, "password": "not the password" }),
        &[],
    )
    .await
    .status
}

#[tokio::test]
async fn failed_logins_on_two_instances_count_together_in_redis() {
    let Some(url) = redis_url("failed_logins_on_two_instances_count_together_in_redis") else {
        return;
    };
    let prefix = fresh_prefix();
    let (first, second) = (instance(&url, &prefix).await, instance(&url, &prefix).await);
    let email = "shared@example.com";
    // Three failures spread over both instances spend the one budget (in memory each instance
    // would allow three of its own).
    for app in [&first, &second, &first] {
        assert_eq!(wrong_login(app, email).await, StatusCode::UNAUTHORIZED);
    }
    for app in [&second, &first] {
        let limited = app
            .post_from(
                "192.0.2.1",
                "/login",
                json!({ "email": email, "password": "not the password" }),
                &[],
            )
            .await;
        limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        assert!(limited.headers.contains_key("retry-after"));
    }
    // Another account from the same address has a budget of its own.
    assert_eq!(
        wrong_login(&second, "other@example.com").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn successful_logins_do_not_count_in_redis() {
    let Some(url) = redis_url("successful_logins_do_not_count_in_redis") else {
        return;
    };
    let app = instance(&url, &fresh_prefix()).await;
    let user = app.create_user("regular@example.com", true, true).await;
    for _ in 0..5 {
        app.post_from(
            "192.0.2.1",
            "/login",
            json!({ "email": user.email, "password": PASSWORD }),
            &[],
        )
        .await
        .assert_status(StatusCode::CREATED);
    }
    // The five logins were given back: the three failures of the budget are all still there.
    for _ in 0..3 {
        assert_eq!(
            wrong_login(&app, &user.email).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        wrong_login(&app, &user.email).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn with_redis_unreachable_the_limits_hold_in_this_process_and_nothing_fails() {
    // A port nobody listens on: connecting is refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = instance(&url, &fresh_prefix()).await;
    let email = "fallback@example.com";
    for _ in 0..3 {
        assert_eq!(wrong_login(&app, email).await, StatusCode::UNAUTHORIZED);
    }
    app.post_from(
        "192.0.2.1",
        "/login",
        json!({ "email": email, "password": "not the password" }),
        &[],
    )
    .await
    .assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

#[tokio::test]
async fn a_redis_that_never_answers_is_given_up_on_and_the_limits_hold_in_this_process() {
    // Accepts connections and reads nothing from them: a Redis that hangs.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            held.push(connection);
        }
    });
    let app = instance(&url, &fresh_prefix()).await;
    let email = "hanging@example.com";
    // Each answer comes (the limiter waits a short timeout, then counts in memory).
    for _ in 0..3 {
        let answer = tokio::time::timeout(Duration::from_secs(30), wrong_login(&app, email));
        assert_eq!(
            answer.await.expect("an answer despite a hanging Redis"),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        wrong_login(&app, email).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert!(!app.state.limiter.shared_now());
}

/// A TCP proxy in front of Redis that can be cut and restored, as by a network outage.
struct Link {
    url: String,
    cut: watch::Sender<bool>,
}

impl Link {
    async fn to(redis_url: &str) -> Self {
        let redis = redis_address(redis_url);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let (cut, watch) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut cut = watch.clone();
                if *cut.borrow() {
                    // Cut: the connection is closed at once.
                    continue;
                }
                let redis = redis.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(redis).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self { url, cut }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

/// `host:port` of a `redis://[user:password@]host:port[/db]` URL.
fn redis_address(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let address = authority.rsplit('@').next().unwrap_or(authority);
    if address.contains(':') {
        address.to_owned()
    } else {
        format!("{address}:6379")
    }
}

#[tokio::test]
async fn an_instance_counts_in_redis_again_once_redis_is_back() {
    let Some(url) = redis_url("an_instance_counts_in_redis_again_once_redis_is_back") else {
        return;
    };
    let prefix = fresh_prefix();
    let link = Link::to(&url).await;
    let behind_link = instance(&link.url, &prefix).await;
    let direct = instance(&url, &prefix).await;
    let email = "outage@example.com";

    assert_eq!(
        wrong_login(&behind_link, email).await,
        StatusCode::UNAUTHORIZED
    );
    link.set_cut(true);
    // Let the proxy close the connections it holds.
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Redis is out of reach: the instance still answers, counting in memory.
    assert_eq!(
        wrong_login(&behind_link, email).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(!behind_link.state.limiter.shared_now());
    link.set_cut(false);
    // The instance notices that Redis is back (it pings it during the outage); from then on this
    // failure counts there again.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !behind_link.state.limiter.shared_now() {
        assert!(
            std::time::Instant::now() < deadline,
            "the limits never went back to Redis"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        wrong_login(&behind_link, email).await,
        StatusCode::UNAUTHORIZED
    );
    // Redis holds two of the three failures (the one during the outage was counted in memory):
    // the other instance has exactly one left. Without the recovery it would have two.
    let mut left = 0;
    while wrong_login(&direct, email).await == StatusCode::UNAUTHORIZED {
        left += 1;
        assert!(
            std::time::Instant::now() < deadline,
            "never limited after {left} failures"
        );
    }
    assert_eq!(left, 1, "failures left in Redis after the outage");
}
