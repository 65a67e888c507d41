//! Sending mail: over SMTP (lettre) when `SMTP_URL` is set, to the log otherwise, or into an
//! in-memory outbox in tests.

use std::sync::{Arc, Mutex};

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor, message::Mailbox};

use super::config::Config;

/// A mail as handed to the mailer.
#[derive(Clone, Debug)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
}

/// Where mails go. Cheap to clone.
#[derive(Clone)]
pub enum Mailer {
    /// Delivered through an SMTP server.
    Smtp {
        /// The connection pool to the server.
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// The sender.
        from: Mailbox,
    },
    /// Written to the log (development without a mail server).
    Log,
    /// Kept in memory, for tests.
    Outbox(Arc<Mutex<Vec<Mail>>>),
}

/// A mail could not be sent.
#[derive(Debug)]
pub struct MailError(pub String);

impl std::fmt::Display for MailError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "could not send mail: {}", self.0)
    }
}

impl std::error::Error for MailError {}

impl Mailer {
    /// SMTP when `config.smtp_url` is set, the log otherwise.
    pub fn from_config(config: &Config) -> Result<Self, MailError> {
        let Some(url) = &config.smtp_url else {
            if let Some(warning) = log_mailer_warning(config) {
                tracing::warn!("{warning}");
            }
            return Ok(Self::Log);
        };
        // The URL may hold the SMTP password: messages show it with the password masked.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|error| MailError(format!("SMTP_URL {:?}: {error}", redacted(url))))?
            .build();
        let from = config
            .mail_from
            .parse()
            .map_err(|error| MailError(format!("MAIL_FROM {:?}: {error}", config.mail_from)))?;
        Ok(Self::Smtp { transport, from })
    }

    /// An in-memory mailer; read what was sent with [`Mailer::sent`].
    pub fn outbox() -> Self {
        Self::Outbox(Arc::default())
    }

    /// The mails sent so far (only the in-memory mailer keeps them).
    pub fn sent(&self) -> Vec<Mail> {
        match self {
            Self::Outbox(outbox) => outbox.lock().map(|mails| mails.clone()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Sends a plain-text mail.
    pub async fn send(&self, mail: Mail) -> Result<(), MailError> {
        match self {
            Self::Smtp { transport, from } => {
                let to: Mailbox = mail
                    .to
                    .parse()
                    .map_err(|error| MailError(format!("recipient {:?}: {error}", mail.to)))?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(mail.subject)
                    .body(mail.body)
                    .map_err(|error| MailError(error.to_string()))?;
                transport
                    .send(message)
                    .await
                    .map_err(|error| MailError(error.to_string()))?;
            }
            Self::Log => {
                tracing::info!(to = %mail.to, subject = %mail.subject, body = %mail.body, "mail (SMTP_URL is not set)");
            }
            Self::Outbox(outbox) => {
                outbox
                    .lock()
                    .map_err(|_| MailError("the outbox lock is poisoned".to_owned()))?
                    .push(mail);
            }
        }
        Ok(())
    }
}

/// The warning to log at start-up when mails go to the log although the app looks like it is in
/// production (`APP_URL` is https): the log would then hold working verification and reset links.
pub fn log_mailer_warning(config: &Config) -> Option<&'static str> {
    (config.smtp_url.is_none() && config.app_url.starts_with("https://")).then_some(
        "SMTP_URL is not set: mails, with their verification and reset links, are written to the \
         log; set SMTP_URL in production",
    )
}

/// `url` with the password of its `user:password@` part replaced by `***`, for messages.
fn redacted(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|index| index + 3) else {
        return url.to_owned();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |index| scheme_end + index);
    let Some(at) = url[scheme_end..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let credentials = &url[scheme_end..scheme_end + at];
    let user = credentials.split_once(':').map_or("", |(user, _)| user);
    format!(
        "{}{user}:***{}",
        &url[..scheme_end],
        &url[scheme_end + at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(smtp_url: Option<&str>, app_url: &str) -> Config {
        Config {
            database_url: "sqlite://unused.db".to_owned(),
            secret: "a test secret that is long enough for the check".to_owned(),
            bind_addr: "127.0.0.1:0".parse().expect("an address"),
            app_url: app_url.to_owned(),
            smtp_url: smtp_url.map(str::to_owned),
            mail_from: "no-reply@localhost".to_owned(),
            rate_limits: crate::{{ module }}::config::RateLimits::default(),
            trusted_proxies: Vec::new(),
            rate_limit_store: crate::{{ module }}::config::RateLimitStore::Memory,
        }
    }

    // A runtime: the SMTP transport starts its connection pool on it.
    #[tokio::test]
    async fn an_unusable_smtp_url_is_reported_without_its_password() {
        for url in [
            "smtp://mailer:hunter2-secret@mail.example:not-a-port",
            "ftp://mailer:hunter2-secret@mail.example",
            "smtp://hunter2-secret@mail.example:not-a-port/path",
        ] {
            let error = Mailer::from_config(&config(Some(url), "https://app.example"))
                .err()
                .expect("an unusable SMTP_URL");
            let message = error.to_string();
            assert!(message.contains("SMTP_URL"), "{message}");
            assert!(message.contains("mail.example"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    // A runtime: the SMTP transport starts its connection pool on it.
    #[tokio::test]
    async fn a_log_mailer_behind_https_is_warned_about_at_start_up() {
        assert!(log_mailer_warning(&config(None, "https://app.example")).is_some());
        assert!(log_mailer_warning(&config(None, "http://localhost:3000")).is_none());
        let smtp = config(Some("smtp://127.0.0.1:2525"), "https://app.example");
        assert!(log_mailer_warning(&smtp).is_none());
        assert!(matches!(
            Mailer::from_config(&smtp),
            Ok(Mailer::Smtp { .. })
        ));
    }
}
