//! A real SMTP server on loopback that accepts every message and keeps it for the test to read.
//!
//! It speaks the small part of RFC 5321 a client such as lettre needs without TLS or AUTH:
//! a `220` greeting, `EHLO`/`HELO`, `MAIL`, `RCPT`, `DATA` (dot-unstuffed, ended by a lone `.`),
//! `RSET`, `NOOP` and `QUIT`. Each connection is served on its own thread, so a client that keeps
//! its connection open in a pool does not block another.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::mime;

/// One message received by the sink.
#[derive(Clone, Debug)]
pub struct Mail {
    /// The envelope sender (`MAIL FROM`), without angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), without angle brackets.
    pub to: Vec<String>,
    /// The message as sent after `DATA`, dot-unstuffed, with `\r\n` line ends.
    pub raw: String,
    /// Headers and every decoded body part (see [`mime::decode_message`]): what tests search.
    pub text: String,
}

impl Mail {
    /// The token in the first link of the form `<prefix><token>`, e.g. with prefix
    /// `http://localhost:3000/verify?token=`. Panics, showing the mail, when there is none.
    pub fn token_after(&self, prefix: &str) -> String {
        mime::find_token(&self.text, prefix).unwrap_or_else(|| {
            panic!(
                "the mail to {:?} has no link starting with {prefix:?}; decoded mail:\n{}",
                self.to, self.text
            )
        })
    }
}

#[derive(Default)]
struct Inbox {
    /// Every message received, in order, with whether a test has taken it yet.
    mails: Vec<(Mail, bool)>,
}

/// A running SMTP sink. Its threads live as long as the test process.
pub struct SmtpSink {
    port: u16,
    inbox: Arc<(Mutex<Inbox>, Condvar)>,
}

impl SmtpSink {
    /// Binds a free port on 127.0.0.1 and starts accepting connections.
    pub fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP sink");
        let port = listener.local_addr().expect("SMTP sink address").port();
        let inbox = Arc::new((Mutex::new(Inbox::default()), Condvar::new()));
        let shared = Arc::clone(&inbox);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                thread::spawn(move || {
                    if let Err(error) = serve(stream, &shared) {
                        eprintln!("smtp sink: connection ended with an error: {error}");
                    }
                });
            }
        });
        SmtpSink { port, inbox }
    }

    /// The port the sink listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL to give the app as `SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Waits up to `timeout` for a message whose envelope recipients include `to`
    /// (case-insensitive) that no earlier call has returned, marks it taken and returns it.
    /// Panics with a summary of everything received when none arrives in time.
    pub fn wait_for_mail(&self, to: &str, timeout: Duration) -> Mail {
        let deadline = Instant::now() + timeout;
        let (lock, arrived) = &*self.inbox;
        let mut inbox = lock.lock().unwrap();
        loop {
            let found = inbox.mails.iter_mut().find(|(mail, taken)| {
                !*taken && mail.to.iter().any(|rcpt| rcpt.eq_ignore_ascii_case(to))
            });
            if let Some((mail, taken)) = found {
                *taken = true;
                return mail.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                let summary = summarize(&inbox.mails);
                drop(inbox);
                panic!(
                    "no new mail to {to} arrived within {timeout:?}; the sink received:\n{summary}"
                );
            }
            inbox = arrived.wait_timeout(inbox, deadline - now).unwrap().0;
        }
    }

    /// Every message received so far, in order (taken or not).
    pub fn mails(&self) -> Vec<Mail> {
        let inbox = self.inbox.0.lock().unwrap();
        inbox.mails.iter().map(|(mail, _)| mail.clone()).collect()
    }

    /// A readable listing of every message received so far, for failure messages.
    pub fn summary(&self) -> String {
        summarize(&self.inbox.0.lock().unwrap().mails)
    }
}

fn summarize(mails: &[(Mail, bool)]) -> String {
    if mails.is_empty() {
        return "  (no mail at all)".to_string();
    }
    mails
        .iter()
        .enumerate()
        .map(|(i, (mail, taken))| {
            let state = if *taken { "taken" } else { "not taken" };
            format!(
                "--- mail {} from {} to {:?} ({state}) ---\n{}",
                i + 1,
                mail.from,
                mail.to,
                mail.text
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Serves one SMTP connection until `QUIT` or the client goes away.
fn serve(stream: TcpStream, inbox: &(Mutex<Inbox>, Condvar)) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut reply = |line: &str| writer.write_all(format!("{line}\r\n").as_bytes());
    reply("220 localhost e2e SMTP sink ready")?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => reply("250-localhost greets you\r\n250 HELP")?,
            "HELO" => reply("250 localhost")?,
            "MAIL" => {
                from = address(command);
                to.clear();
                reply("250 OK")?;
            }
            "RCPT" => {
                to.push(address(command));
                reply("250 OK")?;
            }
            "DATA" => {
                reply("354 End data with <CR><LF>.<CR><LF>")?;
                let raw = read_data(&mut reader)?;
                let text = mime::decode_message(&raw);
                let mail = Mail {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    raw,
                    text,
                };
                let (lock, arrived) = inbox;
                lock.lock().unwrap().mails.push((mail, false));
                arrived.notify_all();
                reply("250 OK: queued")?;
            }
            "RSET" => {
                from.clear();
                to.clear();
                reply("250 OK")?;
            }
            "NOOP" => reply("250 OK")?,
            "QUIT" => {
                reply("221 Bye")?;
                return Ok(());
            }
            _ => reply("502 Command not implemented")?,
        }
    }
}

/// The address in `MAIL FROM:<a@b> SIZE=1` or `RCPT TO:<a@b>`, without brackets or parameters.
fn address(command: &str) -> String {
    let after_colon = command.split_once(':').map_or("", |(_, rest)| rest).trim();
    match (after_colon.find('<'), after_colon.find('>')) {
        (Some(open), Some(close)) if open < close => after_colon[open + 1..close].to_string(),
        _ => after_colon
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string(),
    }
}

/// Reads message lines up to the lone `.`, undoing dot-stuffing.
fn read_data(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut data = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed in the middle of DATA",
            ));
        }
        let content = line.trim_end_matches(['\r', '\n']);
        if content == "." {
            return Ok(data);
        }
        data.push_str(content.strip_prefix('.').unwrap_or(content));
        data.push_str("\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays the client side of one SMTP exchange line by line, checking each reply code.
    struct RawClient {
        reader: BufReader<TcpStream>,
        writer: TcpStream,
    }

    impl RawClient {
        fn connect(sink: &SmtpSink) -> RawClient {
            let stream = TcpStream::connect(("127.0.0.1", sink.port())).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut client = RawClient {
                reader: BufReader::new(stream.try_clone().unwrap()),
                writer: stream,
            };
            client.expect("220");
            client
        }

        /// Reads one reply (multi-line replies continue with `NNN-`) and checks its code.
        fn expect(&mut self, code: &str) {
            loop {
                let mut line = String::new();
                self.reader.read_line(&mut line).unwrap();
                assert!(line.starts_with(code), "expected {code}, got {line:?}");
                if line.as_bytes().get(3) != Some(&b'-') {
                    return;
                }
            }
        }

        fn send(&mut self, line: &str, code: &str) {
            self.writer
                .write_all(format!("{line}\r\n").as_bytes())
                .unwrap();
            self.expect(code);
        }
    }

    #[test]
    fn the_sink_stores_a_message_sent_over_raw_smtp() {
        let sink = SmtpSink::start();
        let mut client = RawClient::connect(&sink);
        client.send("EHLO test", "250");
        client.send("NOOP", "250");
        client.send("MAIL FROM:<app@example.com> SIZE=100", "250");
        client.send("RCPT TO:<Someone@Example.com>", "250");
        client.send("DATA", "354");
        client.send(
            "To: someone@example.com\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
             ..dot-stuffed line\r\nhttp://localhost:1/verify?token=3D=\r\nabc123\r\n.",
            "250",
        );
        client.send("QUIT", "221");

        let mail = sink.wait_for_mail("someone@example.com", Duration::from_secs(5));
        assert_eq!(mail.from, "app@example.com");
        assert_eq!(mail.to, ["Someone@Example.com"]);
        assert!(
            mail.raw.contains("\r\n.dot-stuffed line\r\n"),
            "{}",
            mail.raw
        );
        assert_eq!(
            mail.token_after("http://localhost:1/verify?token="),
            "abc123"
        );
    }

    #[test]
    fn each_mail_is_returned_once_and_in_order_across_connections() {
        let sink = SmtpSink::start();
        for n in 1..=2 {
            let mut client = RawClient::connect(&sink);
            client.send("HELO test", "250");
            client.send("RSET", "250");
            client.send("MAIL FROM:<app@example.com>", "250");
            client.send("RCPT TO:<a@example.com>", "250");
            client.send("DATA", "354");
            client.send(&format!("Subject: {n}\r\n\r\nbody {n}\r\n."), "250");
            client.send("QUIT", "221");
        }
        let first = sink.wait_for_mail("a@example.com", Duration::from_secs(5));
        let second = sink.wait_for_mail("a@example.com", Duration::from_secs(5));
        assert!(first.text.contains("body 1"), "{}", first.text);
        assert!(second.text.contains("body 2"), "{}", second.text);
        assert_eq!(sink.mails().len(), 2);
    }

    #[test]
    fn waiting_for_a_mail_that_never_comes_fails_with_what_arrived() {
        let sink = SmtpSink::start();
        let outcome = std::panic::catch_unwind(|| {
            sink.wait_for_mail("nobody@example.com", Duration::from_millis(50))
        });
        let message = *outcome.unwrap_err().downcast::<String>().unwrap();
        assert!(
            message.contains("no new mail to nobody@example.com"),
            "{message}"
        );
        assert!(message.contains("(no mail at all)"), "{message}");
    }

    #[test]
    fn envelope_addresses_are_read_with_and_without_brackets() {
        assert_eq!(address("MAIL FROM:<a@b.c> SIZE=12 BODY=8BITMIME"), "a@b.c");
        assert_eq!(address("RCPT TO: <x@y.z>"), "x@y.z");
        assert_eq!(address("RCPT TO:x@y.z"), "x@y.z");
    }
}
