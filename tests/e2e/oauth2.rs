//! The OAuth2 account-takeover checks over HTTP, against a running app and a mock provider
//! served by this process: a provider email the provider did not verify creates nothing, and
//! the owner's verification of the address drops a provider link stored for it.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    sync::{Arc, Mutex},
    thread,
    time::Duration,
};

use serde_json::{Value, json};

use super::checks::{expect_error_code, expect_json, expect_user};
use super::databases::Database;
use super::http::{Client, Response};
use super::smtp::SmtpSink;

/// The provider's name in the app (`OAUTH2_PROVIDERS`).
const PROVIDER: &str = "mock";
/// How long the app may take to hand a mail to the sink.
const MAIL_TIMEOUT: Duration = Duration::from_secs(30);

/// A provider that grants every code and answers the user info it is given. The flow's checks
/// (state, PKCE) are the app's and covered by the generated tests; this mock only lets a
/// callback reach the account logic over real HTTP.
pub struct MockProvider {
    port: u16,
    userinfo: Arc<Mutex<Value>>,
}

impl MockProvider {
    pub fn start() -> MockProvider {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the mock provider");
        let port = listener.local_addr().expect("an address").port();
        let userinfo = Arc::new(Mutex::new(Value::Null));
        let shared = userinfo.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let userinfo = shared.lock().unwrap().clone();
                // A broken connection fails the app's request, which the checks then report.
                let _ = answer(stream, &userinfo);
            }
        });
        MockProvider { port, userinfo }
    }

    /// The server variables that configure the app's `mock` provider.
    pub fn env(&self) -> Vec<(String, String)> {
        let url = |path: &str| format!("http://127.0.0.1:{}{path}", self.port);
        vec![
            ("OAUTH2_PROVIDERS".into(), PROVIDER.into()),
            ("OAUTH2_MOCK_CLIENT_ID".into(), "e2e-client".into()),
            ("OAUTH2_MOCK_CLIENT_SECRET".into(), "e2e-secret".into()),
            ("OAUTH2_MOCK_AUTH_URL".into(), url("/authorize")),
            ("OAUTH2_MOCK_TOKEN_URL".into(), url("/token")),
            ("OAUTH2_MOCK_USERINFO_URL".into(), url("/userinfo")),
        ]
    }

    fn set_userinfo(&self, userinfo: Value) {
        *self.userinfo.lock().unwrap() = userinfo;
    }
}

/// Reads one request and answers it: a token for `POST /token`, `userinfo` for anything else.
fn answer(stream: TcpStream, userinfo: &Value) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body = if request_line.starts_with("POST /token") {
        json!({ "access_token": "e2e-access", "token_type": "Bearer", "expires_in": 3600 })
    } else {
        userinfo.clone()
    }
    .to_string();
    let mut stream = reader.into_inner();
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// A provider login of the browser `client`: authorize, then the callback the provider would
/// send the browser to, with the state cookie. The callback's answer.
fn provider_login(client: &Client) -> Response {
    let authorize = client.get(&format!("/oauth2/{PROVIDER}/authorize")).send();
    let body = expect_json(&authorize, 200, "GET /oauth2/mock/authorize");
    let url = body["authorization_url"].as_str().unwrap_or_default();
    let state = url
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("state="))
        .unwrap_or_else(|| panic!("no state in the authorization URL {url:?}"));
    let cookie = authorize
        .set_cookies()
        .into_iter()
        .find(|cookie| cookie.name.ends_with("oauth2_state"))
        .unwrap_or_else(|| panic!("no state cookie in\n{authorize}"));
    client
        .get(&format!(
            "/oauth2/{PROVIDER}/callback?code=e2e-code&state={state}"
        ))
        .header("Cookie", &format!("{}={}", cookie.name, cookie.value))
        .send()
}

/// The takeover checks. `database` is the app's, for the link an older version would have
/// stored (nothing over HTTP stores one for an unverified address any more).
pub fn takeover_checks(
    client: &Client,
    provider: &MockProvider,
    database: &Database,
    mail: &SmtpSink,
    app_url: &str,
    has_roles: bool,
) {
    let email = "ada.oauth2@e2e.example.com";
    let links = || database.count("SELECT COUNT(*) FROM oauth_accounts");
    provider.set_userinfo(json!({ "sub": "666", "email": email, "email_verified": false }));

    // An address the provider did not verify creates no account and no link.
    let what = "a provider login with an unverified email";
    expect_error_code(&provider_login(client), 400, "email_not_verified", what);
    assert_eq!(links(), Some(0), "{what} stored a link");
    let registered = client
        .post("/register")
        .json(&json!({ "email": email, "password": "ada's own passphrase 1" }))
        .send();
    let what = "POST /register of the address a provider login used";
    expect_user(
        &expect_json(&registered, 201, what),
        email,
        false,
        has_roles,
        what,
    );

    // A link that an older version stored for that unverified address.
    database.query_value(&format!(
        "INSERT INTO oauth_accounts \
         (provider, account_id, user_id, access_token, created_at, updated_at) \
         SELECT '{PROVIDER}', '666', id, '', created_at, created_at FROM users \
         WHERE email = '{email}'"
    ));
    assert_eq!(links(), Some(1), "the older version's link");
    // The control: the link is found (the account is not verified yet), not ignored.
    let what = "a provider login through the older link before verification";
    expect_error_code(&provider_login(client), 400, "not_verified", what);

    // The owner verifies the address: the claim drops the link.
    let token = mail
        .wait_for_mail(email, MAIL_TIMEOUT)
        .token_after(&format!("{app_url}/verify?token="));
    let verified = client
        .post("/verify")
        .json(&json!({ "token": token }))
        .send();
    let what = "POST /verify by the owner";
    expect_user(
        &expect_json(&verified, 200, what),
        email,
        true,
        has_roles,
        what,
    );
    assert_eq!(links(), Some(0), "the verification kept the provider link");
    let what = "a provider login through the dropped link";
    expect_error_code(&provider_login(client), 400, "email_not_verified", what);
}
