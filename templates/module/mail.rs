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
            return Ok(Self::Log);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|error| MailError(format!("SMTP_URL {url:?}: {error}")))?
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
