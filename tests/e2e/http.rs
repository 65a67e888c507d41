//! A small blocking HTTP/1.1 client over `std::net`, made for checking an API to the letter.
//!
//! It sends exactly the headers a test asks for (no cookie jar, no redirects, no proxy), one
//! request per connection (`Connection: close`), and hands back the status, every header and the
//! body. Cookies are the test's business: [`Response::set_cookies`] parses `Set-Cookie`, and a
//! test sends a `Cookie` header itself, so it can replay an old cookie after logout.
//!
//! A `429 Too Many Requests` is an answer like any other: [`RequestBuilder::send`] hands it back,
//! so a test sees a limit that is missing or too strict. A test that means to wait out a limit
//! says so with [`RequestBuilder::send_retrying`], which waits for `Retry-After` and tries again
//! (a 429 without `Retry-After` fails the test).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long one request may take, and how long the client keeps retrying after 429s.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const RATE_LIMIT_PATIENCE: Duration = Duration::from_secs(120);

/// A client for one server, e.g. `Client::new(8080)` for `http://127.0.0.1:8080`.
#[derive(Clone, Debug)]
pub struct Client {
    port: u16,
}

impl Client {
    pub fn new(port: u16) -> Client {
        Client { port }
    }

    /// Starts a request; see [`RequestBuilder`].
    pub fn request(&self, method: &str, path: &str) -> RequestBuilder {
        RequestBuilder {
            port: self.port,
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request("GET", path)
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request("POST", path)
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request("PATCH", path)
    }
}

/// A request being put together. Nothing is sent before [`RequestBuilder::send`].
#[derive(Clone, Debug)]
pub struct RequestBuilder {
    port: u16,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RequestBuilder {
    /// Adds a header (several with the same name are all sent).
    pub fn header(mut self, name: &str, value: &str) -> RequestBuilder {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sends `value` as the body with `Content-Type: application/json`.
    pub fn json(self, value: &Value) -> RequestBuilder {
        self.raw_body("application/json", value.to_string().as_bytes())
    }

    /// Sends `body` as is with the given content type (e.g. malformed JSON, or `text/plain`).
    pub fn raw_body(mut self, content_type: &str, body: &[u8]) -> RequestBuilder {
        self.body = body.to_vec();
        self.header("Content-Type", content_type)
    }

    /// Sends the request once and reads the whole response, whatever its status (a 429 too).
    pub fn send(&self) -> Response {
        self.send_once()
    }

    /// Sends the request and reads the whole response; after a 429 waits as `Retry-After` says
    /// and sends it again, for up to [`RATE_LIMIT_PATIENCE`].
    pub fn send_retrying(&self) -> Response {
        let started = Instant::now();
        loop {
            let response = self.send_once();
            if response.status != 429 {
                return response;
            }
            let wait = response
                .header("retry-after")
                .and_then(|value| value.trim().parse::<u64>().ok())
                .unwrap_or_else(|| {
                    panic!(
                        "{} {} answered 429 without a numeric Retry-After header:\n{response}",
                        self.method, self.path
                    )
                });
            let wait = Duration::from_secs(wait.max(1));
            assert!(
                started.elapsed() + wait < RATE_LIMIT_PATIENCE,
                "{} {} is still rate-limited after {:?} of retrying; last answer:\n{response}",
                self.method,
                self.path,
                started.elapsed()
            );
            eprintln!(
                "{} {}: 429, waiting {wait:?} as Retry-After says",
                self.method, self.path
            );
            std::thread::sleep(wait);
        }
    }

    /// What the request looks like, for failure messages.
    pub fn describe(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Sends the request once, allowing it `timeout` in all, and hands back any failure (no
    /// connection, no answer in time, an unreadable answer) instead of panicking: for many
    /// requests sent at once from threads. A 429 is returned like any answer.
    pub fn try_send(&self, timeout: Duration) -> Result<Response, String> {
        let what = self.describe();
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut stream = TcpStream::connect_timeout(&address, timeout)
            .map_err(|error| format!("{what}: cannot connect to {address}: {error}"))?;
        stream.set_read_timeout(Some(timeout)).unwrap();
        stream.set_write_timeout(Some(timeout)).unwrap();
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nAccept: application/json\r\n",
            self.method, self.path, self.port
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH") {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(&self.body);
        stream
            .write_all(&request)
            .map_err(|error| format!("{what}: cannot send the request: {error}"))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .map_err(|error| format!("{what}: cannot read the response: {error}"))?;
        parse_response(&raw).map_err(|error| {
            format!(
                "{what}: unreadable response ({error}):\n{}",
                String::from_utf8_lossy(&raw)
            )
        })
    }

    fn send_once(&self) -> Response {
        self.try_send(REQUEST_TIMEOUT)
            .unwrap_or_else(|error| panic!("{error}"))
    }
}

/// A complete response.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    /// Every header in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, read as UTF-8 (lossily), transfer coding removed.
    pub body: String,
}

impl Response {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).into_iter().next()
    }

    /// Every header with this (case-insensitive) name.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// The body as JSON; panics with the whole response when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("the body is not JSON ({error}):\n{self}"))
    }

    /// Every `Set-Cookie` of the response, parsed.
    pub fn set_cookies(&self) -> Vec<SetCookie> {
        self.headers_named("set-cookie")
            .into_iter()
            .map(SetCookie::parse)
            .collect()
    }
}

impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "HTTP {}", self.status)?;
        for (name, value) in &self.headers {
            writeln!(f, "{name}: {value}")?;
        }
        write!(f, "\n{}", self.body)
    }
}

/// One parsed `Set-Cookie` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    /// The attributes after the first `;`, names lower-cased, values as given (`None` for flags
    /// such as `HttpOnly`).
    pub attributes: Vec<(String, Option<String>)>,
    /// The header as received, for messages.
    pub raw: String,
}

impl SetCookie {
    pub fn parse(header: &str) -> SetCookie {
        let mut pieces = header.split(';');
        let pair = pieces.next().unwrap_or("");
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let attributes = pieces
            .map(|attribute| match attribute.split_once('=') {
                Some((key, value)) => (
                    key.trim().to_ascii_lowercase(),
                    Some(value.trim().to_string()),
                ),
                None => (attribute.trim().to_ascii_lowercase(), None),
            })
            .collect();
        SetCookie {
            name: name.trim().to_string(),
            value: value.trim().trim_matches('"').to_string(),
            attributes,
            raw: header.to_string(),
        }
    }

    /// The value of an attribute (case-insensitive name): `Some(None)` for a flag that is present.
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        let name = name.to_ascii_lowercase();
        self.attributes
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_deref())
    }

    /// Whether this header tells the browser to drop the cookie: an empty value, `Max-Age` of
    /// zero or less, or an `Expires` date in 1970.
    pub fn is_removal(&self) -> bool {
        let max_age_gone = self
            .attribute("max-age")
            .flatten()
            .and_then(|age| age.parse::<i64>().ok())
            .is_some_and(|age| age <= 0);
        let expired = self
            .attribute("expires")
            .flatten()
            .is_some_and(|date| date.contains("1970"));
        self.value.is_empty() || max_age_gone || expired
    }
}

/// Parses a whole HTTP/1.1 response: status line, headers, and a body framed by
/// `Transfer-Encoding: chunked`, `Content-Length`, or the end of the connection.
pub fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "headers are not UTF-8")?;
    let mut body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("no status line")?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v.as_str())
    };
    let decoded;
    if find("transfer-encoding").is_some_and(|coding| coding.eq_ignore_ascii_case("chunked")) {
        decoded = decode_chunked(body)?;
        body = &decoded;
    } else if let Some(length) = find("content-length") {
        let length: usize = length.parse().map_err(|_| "bad Content-Length")?;
        body = body
            .get(..length)
            .ok_or("body shorter than Content-Length")?;
    }
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(body).into_owned(),
    })
}

fn decode_chunked(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line")?;
        let size_text = std::str::from_utf8(&data[..line_end]).map_err(|_| "chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).ok_or("truncated chunk")?);
        data = data.get(size + 2..).ok_or("truncated chunk end")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_content_length_response_is_parsed_with_all_headers() {
        let raw = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nSet-Cookie: a=1; HttpOnly\r\n\
                    set-cookie: b=2\r\ncontent-length: 7\r\n\r\n{\"a\":1}trailing";
        let response = parse_response(raw).unwrap();
        assert_eq!(response.status, 201);
        assert_eq!(response.header("CONTENT-TYPE"), Some("application/json"));
        assert_eq!(
            response.headers_named("Set-Cookie"),
            ["a=1; HttpOnly", "b=2"]
        );
        assert_eq!(response.json()["a"], 1);
    }

    #[test]
    fn a_chunked_response_is_reassembled() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;ext=1\r\n:2}\r\n0\r\n\r\n";
        assert_eq!(parse_response(raw).unwrap().body, "{\"a\":2}");
    }

    #[test]
    fn a_response_without_framing_runs_to_the_end_and_204_has_no_body() {
        assert_eq!(
            parse_response(b"HTTP/1.1 404 Not Found\r\n\r\nnope")
                .unwrap()
                .body,
            "nope"
        );
        let empty = parse_response(b"HTTP/1.1 204 No Content\r\ndate: x\r\n\r\n").unwrap();
        assert_eq!((empty.status, empty.body.as_str()), (204, ""));
    }

    #[test]
    fn set_cookie_attributes_are_parsed_case_insensitively() {
        let cookie = SetCookie::parse("id=abc=; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600");
        assert_eq!(
            (cookie.name.as_str(), cookie.value.as_str()),
            ("id", "abc=")
        );
        assert_eq!(cookie.attribute("httponly"), Some(None));
        assert_eq!(cookie.attribute("samesite"), Some(Some("Lax")));
        assert_eq!(cookie.attribute("secure"), None);
        assert!(!cookie.is_removal());
    }

    #[test]
    fn cookie_removals_are_recognized() {
        assert!(SetCookie::parse("id=; Path=/").is_removal());
        assert!(SetCookie::parse("id=x; Max-Age=0").is_removal());
        assert!(SetCookie::parse("id=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT").is_removal());
    }

    /// Serves canned responses, one per connection, and hands back each raw request received.
    fn canned_server(answers: Vec<&'static str>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let mut requests = Vec::new();
            for answer in answers {
                let (mut stream, _) = listener.accept().unwrap();
                let mut buffer = [0u8; 4096];
                let read = stream.read(&mut buffer).unwrap();
                requests.push(String::from_utf8_lossy(&buffer[..read]).into_owned());
                stream.write_all(answer.as_bytes()).unwrap();
            }
            requests
        });
        (port, handle)
    }

    #[test]
    fn a_request_carries_exactly_the_given_headers_and_body() {
        let (port, server) = canned_server(vec!["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"]);
        let response = Client::new(port)
            .post("/login")
            .header("Cookie", "id=old")
            .json(&serde_json::json!({"email": "a@b.c"}))
            .send();
        assert_eq!(response.status, 200);
        let request = &server.join().unwrap()[0];
        assert!(request.starts_with("POST /login HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("\r\nCookie: id=old\r\n"), "{request}");
        assert!(
            request.contains("\r\nContent-Type: application/json\r\n"),
            "{request}"
        );
        assert!(request.contains("\r\nContent-Length: 17\r\n"), "{request}");
        assert!(
            request.ends_with("\r\n\r\n{\"email\":\"a@b.c\"}"),
            "{request}"
        );
    }

    #[test]
    fn a_429_is_handed_back_as_it_is_unless_retrying_is_asked_for() {
        let (port, server) = canned_server(vec![
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
        ]);
        let response = Client::new(port).post("/login").send();
        assert_eq!(response.status, 429);
        assert_eq!(response.header("retry-after"), Some("1"));
        assert_eq!(server.join().unwrap().len(), 1);
    }

    #[test]
    fn a_429_is_retried_after_the_retry_after_delay() {
        let (port, server) = canned_server(vec![
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        ]);
        let started = Instant::now();
        let response = Client::new(port).post("/login").send_retrying();
        assert_eq!(response.status, 201);
        assert!(started.elapsed() >= Duration::from_secs(1));
        assert_eq!(server.join().unwrap().len(), 2);
    }
}
