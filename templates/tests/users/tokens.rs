{% set asks = [] -%}
{% if "verify" in handlers %}{% set asks = asks | concat(with="`POST /verify/resend`") %}{% endif -%}
{% if "password-reset" in handlers %}{% set asks = asks | concat(with="`POST /forgot-password`") %}{% endif -%}
{% if "magic-link" in handlers %}{% set asks = asks | concat(with="`POST /magic-link`") %}{% endif -%}
//! The links mailed by {{ asks | join(sep=", ") }}: their lifetime, single use under a race,
//! only the newest one working, and answers that tell nothing about which addresses have accounts.

use std::{num::NonZeroU32, time::Duration};

use axum::http::StatusCode;
use governor::Quota;
use serde_json::{Value, json};

use {{ crate_name }}::{{ module }}::{
    config::{ {%- if "magic-link" in handlers %}MAGIC_LINK_TOKEN_TTL, {% endif %}{% if "password-reset" in handlers %}RESET_TOKEN_TTL, {% endif %}RateLimits{% if "verify" in handlers %}, VERIFY_TOKEN_TTL{% endif %}},
    db,
    model::User,
    tokens::Purpose,
};

use crate::support::{TestApp, app, app_with_limits, median, time};

/// A kind of mailed link.
#[derive(Clone, Copy, Debug)]
struct Link {
    /// The route that mails it.
    ask: &'static str,
    /// The path of the link.
    path: &'static str,
    /// The route that takes the token, and its status when it accepts it.
    route: &'static str,
    accepted: StatusCode,
    purpose: Purpose,
    lifetime: Duration,
    /// Whether the account it is mailed to is verified (a verification link goes only to
    /// unverified accounts).
    verified: bool,
}

impl Link {
    /// The body that uses `token`.
    fn body(&self, token: &str) -> Value {
        match self.purpose {
            Purpose::Reset => json!({ "token": token, "password": "a brand new password" }),
            _ => json!({ "token": token }),
        }
    }

    /// Creates the account `email` and asks for a link to it.
    async fn account_and_ask(&self, app: &TestApp, email: &str) -> User {
        let user = app.create_user(email, self.verified, true).await;
        self.ask(app, email).await;
        user
    }

    /// Asks for a link to `email`: always 202.
    async fn ask(&self, app: &TestApp, email: &str) {
        app.post(self.ask, json!({ "email": email }))
            .await
            .assert_status(StatusCode::ACCEPTED);
    }

    /// Uses `token`: the status.
    async fn redeem(&self, app: &TestApp, token: &str) -> StatusCode {
        app.post(self.route, self.body(token)).await.status
    }
}
{%- if "verify" in handlers %}

/// The link of the verification mail.
const VERIFY: Link = Link {
    ask: "/verify/resend",
    path: "/verify",
    route: "/verify",
    accepted: StatusCode::OK,
    purpose: Purpose::Verify,
    lifetime: VERIFY_TOKEN_TTL,
    verified: false,
};
{%- endif %}
{%- if "password-reset" in handlers %}

/// The link of the password-reset mail.
const RESET: Link = Link {
    ask: "/forgot-password",
    path: "/reset-password",
    route: "/reset-password",
    accepted: StatusCode::OK,
    purpose: Purpose::Reset,
    lifetime: RESET_TOKEN_TTL,
    verified: true,
};
{%- endif %}
{%- if "magic-link" in handlers %}

/// The link of the login mail. (Mailed to unverified accounts too, which it verifies.)
const MAGIC_LINK: Link = Link {
    ask: "/magic-link",
    path: "/magic-link",
    route: "/magic-link/login",
    accepted: StatusCode::CREATED,
    purpose: Purpose::MagicLink,
    lifetime: MAGIC_LINK_TOKEN_TTL,
    verified: true,
};
{%- endif %}
{% set links = [] -%}
{% if "verify" in handlers %}{% set links = links | concat(with="VERIFY") %}{% endif -%}
{% if "password-reset" in handlers %}{% set links = links | concat(with="RESET") %}{% endif -%}
{% if "magic-link" in handlers %}{% set links = links | concat(with="MAGIC_LINK") %}{% endif %}
/// Every kind of link the installed handlers mail.
fn links() -> Vec<Link> {
    vec![{{ links | join(sep=", ") }}]
}

#[tokio::test]
async fn a_link_works_until_its_lifetime_ends_and_not_after() {
    for link in links() {
        let app = app().await;
        let user = link.account_and_ask(&app, "ada@example.com").await;
        let token = app.mailed_token("ada@example.com", link.path).await;
        // Stored with the configured lifetime...
        let lifetime = chrono::Duration::from_std(link.lifetime).expect("a lifetime");
        let expiries = app.token_expiries(&user, link.purpose).await;
        assert_eq!(expiries.len(), 1, "{link:?}");
        let off = (expiries[0] - (db::now() + lifetime)).num_seconds().abs();
        assert!(
            off <= 60,
            "{link:?}: the stored expiry is {off} s off the lifetime"
        );
        // ...refused just after it ended (time moved on: the expiry is a second ago)...
        let past = db::now() - chrono::Duration::seconds(1);
        app.set_token_expiry(&user, link.purpose, past).await;
        assert_eq!(
            link.redeem(&app, &token).await,
            StatusCode::BAD_REQUEST,
            "{link:?}"
        );
        // ...and a new link accepted just before its end (30 s left).
        link.ask(&app, "ada@example.com").await;
        app.wait_for_mails("ada@example.com", 2).await;
        let token = app.mailed_token("ada@example.com", link.path).await;
        let soon = db::now() + chrono::Duration::seconds(30);
        app.set_token_expiry(&user, link.purpose, soon).await;
        assert_eq!(link.redeem(&app, &token).await, link.accepted, "{link:?}");
    }
}

#[tokio::test]
async fn of_two_concurrent_uses_of_one_link_exactly_one_succeeds() {
    for link in links() {
        let app = app().await;
        link.account_and_ask(&app, "ada@example.com").await;
        let token = app.mailed_token("ada@example.com", link.path).await;
        let (first, second) = tokio::join!(link.redeem(&app, &token), link.redeem(&app, &token));
        let mut statuses = [first, second];
        statuses.sort();
        assert_eq!(
            statuses,
            [link.accepted, StatusCode::BAD_REQUEST],
            "{link:?}"
        );
    }
}

/// A link asked for while the account moves to another address (the change holds the account and
/// commits while the link's token is being stored) is not stored for the old address: it would
/// act on the account at its new one.
#[tokio::test]
async fn a_link_asked_for_while_the_address_changes_is_not_stored() {
    let app = app().await;
    let user = app.create_user("ada@example.com", true, true).await;
    let mut change = db::begin(&app.state.db).await.expect("a transaction");
    db::lock_user(&mut change, user.id)
        .await
        .expect("the account's lock")
        .expect("the account");
    let sql = {% filter sql(db=db) %}"UPDATE users SET email = $1 WHERE id = $2"{% endfilter %};
    sqlx::query(sql)
        .bind("ada@new.example")
        .bind(user.id)
        .execute(&mut *change)
        .await
        .expect("the new address");
    let expires_at = db::expires_in(Duration::from_secs(3600));
    let stored = db::insert_mail_token(
        &app.state.db,
        &user,
        Purpose::Reset,
        "the hash of a link's token",
        expires_at,
    );
    let commit = async {
        app.wait_until_a_write_waits().await;
        db::finish(change, Ok(()))
            .await
            .expect("the change commits");
    };
    let (stored, ()) = tokio::join!(stored, commit);
    assert!(
        !stored.expect("no database error"),
        "stored for the old address"
    );
}

#[tokio::test]
async fn only_the_newest_link_works() {
    for link in links() {
        let app = app().await;
        link.account_and_ask(&app, "ada@example.com").await;
        let older = app.mailed_token("ada@example.com", link.path).await;
        link.ask(&app, "ada@example.com").await;
        app.wait_for_mails("ada@example.com", 2).await;
        let newest = app.mailed_token("ada@example.com", link.path).await;
        assert_ne!(older, newest);
        assert_eq!(
            link.redeem(&app, &older).await,
            StatusCode::BAD_REQUEST,
            "{link:?}"
        );
        assert_eq!(link.redeem(&app, &newest).await, link.accepted, "{link:?}");
    }
}

#[tokio::test]
async fn mails_to_one_account_stop_at_its_cap_and_nobody_gets_429_for_asking_from_elsewhere() {
    // Two mails of a kind per account, then one an hour; the other limits as they come.
    let limits = RateLimits {
        mails_per_account: Quota::with_period(Duration::from_secs(3600))
            .unwrap()
            .allow_burst(NonZeroU32::new(2).unwrap()),
        ..RateLimits::default()
    };
    for link in links() {
        let app = app_with_limits(limits).await;
        link.account_and_ask(&app, "ada@example.com").await;
        link.ask(&app, "ada@example.com").await;
        app.wait_for_mails("ada@example.com", 2).await;
        let last = app.mailed_token("ada@example.com", link.path).await;
        // Over the cap the answer is the same 202 and no mail goes out. Strangers asking from
        // many addresses spend no budget of the owner's: more of them than the account's ceiling
        // on login guesses, and none is answered 429.
        for stranger in 0..25 {
            let peer = format!("198.51.100.{stranger}");
            app.post_from(&peer, link.ask, json!({ "email": "ada@example.com" }), &[])
                .await
                .assert_status(StatusCode::ACCEPTED);
        }
        link.ask(&app, "ada@example.com").await;
        // The control: a mail asked for afterwards has arrived, so a mail of the asks above
        // would have had time to go out too.
        link.account_and_ask(&app, "bob@example.com").await;
        app.wait_for_mails("bob@example.com", 1).await;
        assert_eq!(app.mails_to("ada@example.com"), 2, "{link:?}");
        // The last link mailed still works.
        assert_eq!(link.redeem(&app, &last).await, link.accepted, "{link:?}");
    }
}

#[tokio::test]
async fn an_unknown_address_or_an_account_the_link_is_not_for_gets_no_mail() {
    for link in links() {
        let app = app().await;
        link.ask(&app, "nobody@example.com").await;
        // Verified already (verification link), or deactivated (the others).
        let active = link.purpose == Purpose::Verify;
        app.create_user("other@example.com", true, active).await;
        link.ask(&app, "other@example.com").await;
        // The control: a mail asked for afterwards has arrived, so the background sends had time
        // to run.
        link.account_and_ask(&app, "ada@example.com").await;
        app.wait_for_mails("ada@example.com", 1).await;
        assert_eq!(app.mails_to("nobody@example.com"), 0, "{link:?}");
        assert_eq!(app.mails_to("other@example.com"), 0, "{link:?}");
    }
}

#[tokio::test]
async fn the_answer_does_not_wait_for_the_token_to_be_written() {
    // While another connection keeps the token table locked, an address with an account is
    // still answered: its token is written (and mailed) in the background once the lock is gone.
    for link in links() {
        let app = app().await;
        app.create_user("ada@example.com", link.verified, true)
            .await;
        let lock = app.lock_token_writes().await;
        // A generous bound, only so that a request that waits for the lock fails the test
        // instead of hanging it.
        let answered =
            tokio::time::timeout(Duration::from_secs(30), link.ask(&app, "ada@example.com")).await;
        assert_eq!(
            app.mails_to("ada@example.com"),
            0,
            "{link:?}: mailed before the lock went"
        );
        lock.release().await;
        assert!(
            answered.is_ok(),
            "{link:?}: the answer waited for the token's write"
        );
        app.wait_for_mails("ada@example.com", 1).await;
    }
}

// On two worker threads, so that the background work of one answer does not run on the thread
// that times the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_with_an_account_is_answered_as_fast_as_one_without() {
    // The token and the mail are made in the background, so both answers do the same work before
    // they are sent. Without that, the address with an account would wait for the database writes
    // of its token. The medians are compared with each other, so the machine's speed does not
    // matter; each round waits for the mail, so that background work does not slow the next one,
    // and the two kinds of address take turns at going first.
    const ROUNDS: usize = 21;
    for link in links() {
        let app = app_with_limits(RateLimits::off()).await;
        app.create_user("ada@example.com", link.verified, true)
            .await;
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let nobody = format!("nobody{round}@example.com");
            if round % 2 == 1 {
                let ((), took) = time(link.ask(&app, &nobody)).await;
                unknown.push(took);
            }
            let ((), took) = time(link.ask(&app, "ada@example.com")).await;
            known.push(took);
            app.wait_for_mails("ada@example.com", round + 1).await;
            if round % 2 == 0 {
                let ((), took) = time(link.ask(&app, &nobody)).await;
                unknown.push(took);
            }
        }
        let (known, unknown) = (median(known), median(unknown));
        assert!(
            known <= unknown * 3,
            "{link:?}: an address with an account was answered in {known:?} (median), one \
             without in {unknown:?}"
        );
    }
}
