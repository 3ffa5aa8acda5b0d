//! Sending the outbox over SMTP with lettre (STARTTLS or implicit TLS on
//! rustls). `SMTP_URL` and `MAIL_FROM` are read here (`MailSettings`, from
//! `config.rs`); the job that sends one message is `jobs/mail.rs`. Without
//! `SMTP_URL` there is no `Mailer` and mail stays in the outbox.

use crate::config::{ConfigError, Secret};
use app::server::db::outbox::Mail;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;
use url::Url;

/// How long one SMTP conversation may take before the attempt fails (and is retried).
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// `SMTP_URL` and `MAIL_FROM`, validated.
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// May hold the SMTP password: never logged.
    pub smtp_url: Secret,
    /// `host:port` and the TLS mode, without credentials: what the logs say.
    pub server: String,
    pub from: Mailbox,
}

fn invalid(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

impl MailSettings {
    /// None without `SMTP_URL` (mail stays in the outbox). With it,
    /// `MAIL_FROM` is required.
    pub fn from_lookup(
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(raw) = lookup("SMTP_URL") else {
            return Ok(None);
        };
        // Errors never repeat the value: it may hold a password.
        let url =
            Url::parse(raw.trim()).map_err(|e| invalid("SMTP_URL", format!("not a URL ({e})")))?;
        let implicit_tls = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => {
                return Err(invalid(
                    "SMTP_URL",
                    format!("must start with smtp:// or smtps://, not {other}://"),
                ))
            }
        };
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(invalid("SMTP_URL", "has no host (smtp://host:port)"));
        };
        let mut tls = if implicit_tls {
            "implicit TLS"
        } else {
            "no TLS"
        };
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "required") if !implicit_tls => tls = "STARTTLS required",
                ("tls", "opportunistic") if !implicit_tls => tls = "STARTTLS if offered",
                ("tls", _) if implicit_tls => {
                    return Err(invalid(
                        "SMTP_URL",
                        "smtps:// always uses TLS; drop the tls= parameter",
                    ))
                }
                ("tls", other) => {
                    return Err(invalid(
                        "SMTP_URL",
                        format!("tls= must be required or opportunistic, not {other:?}"),
                    ))
                }
                (other, _) => {
                    return Err(invalid(
                        "SMTP_URL",
                        format!("unknown parameter {other:?} (only tls= is understood)"),
                    ))
                }
            }
        }
        if url.password().is_some() && url.username().is_empty() {
            return Err(invalid("SMTP_URL", "has a password but no user"));
        }
        let port = url.port().unwrap_or(if implicit_tls { 465 } else { 587 });
        // lettre reads the same URL; anything it refuses is refused here, at startup.
        AsyncSmtpTransport::<Tokio1Executor>::from_url(raw.trim())
            .map_err(|e| invalid("SMTP_URL", format!("not usable: {e}")))?;
        let from = lookup("MAIL_FROM").ok_or_else(|| {
            invalid(
                "MAIL_FROM",
                "is required with SMTP_URL: the sender of every mail, such as \
                 Phonebooth <calls@example.com>",
            )
        })?;
        let from: Mailbox = from.trim().parse().map_err(|e| {
            invalid(
                "MAIL_FROM",
                format!("must be an address or Name <address>, got {from:?} ({e})"),
            )
        })?;
        Ok(Some(Self {
            smtp_url: Secret::new(raw.trim()),
            server: format!("{host}:{port} ({tls})"),
            from,
        }))
    }
}

/// Why one attempt to send failed.
#[derive(Debug)]
pub struct SendError {
    /// Trying again cannot help (the server refused for good: 5xx, a bad address).
    pub permanent: bool,
    pub message: String,
}

/// Sends messages through the configured SMTP server (a pooled connection).
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    pub fn new(settings: &MailSettings) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.smtp_url.expose())
            .map_err(|e| anyhow::anyhow!("SMTP_URL is not usable: {e}"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Self {
            transport,
            from: settings.from.clone(),
        })
    }

    /// One attempt to deliver `mail` (plain text, and HTML when it has one).
    pub async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let message = build(&self.from, mail)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| SendError {
                permanent: e.is_permanent(),
                message: e.to_string(),
            })
    }
}

/// The MIME message for `mail`. Its Message-ID is derived from the outbox
/// id, so a message delivered twice (a worker lost after sending) can be
/// recognized as one.
fn build(from: &Mailbox, mail: &Mail) -> Result<Message, SendError> {
    let refuse = |message: String| SendError {
        permanent: true,
        message,
    };
    let to: Mailbox = mail
        .to_address
        .parse()
        .map_err(|e| refuse(format!("the recipient address is not valid: {e}")))?;
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(format!("<{}@phonebooth>", mail.email_id)));
    let built = match &mail.html_body {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            mail.body.clone(),
            html.clone(),
        )),
        None => builder.singlepart(SinglePart::plain(mail.body.clone())),
    };
    built.map_err(|e| refuse(format!("the message could not be built: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Option<MailSettings>, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        MailSettings::from_lookup(&|name| vars.get(name).cloned())
    }

    const FROM: (&str, &str) = ("MAIL_FROM", "Phonebooth <calls@example.com>");

    #[test]
    fn without_smtp_url_mail_stays_in_the_outbox() {
        assert!(settings(&[]).unwrap().is_none());
        assert!(settings(&[FROM]).unwrap().is_none());
    }

    #[test]
    fn the_three_tls_modes_and_credentials_are_accepted() {
        for (url, server) in [
            ("smtp://127.0.0.1:2525", "127.0.0.1:2525 (no TLS)"),
            (
                "smtps://user:pa%20ss@mail.example.com",
                "mail.example.com:465 (implicit TLS)",
            ),
            (
                "smtp://user:pass@mail.example.com?tls=required",
                "mail.example.com:587 (STARTTLS required)",
            ),
            (
                "smtp://mail.example.com:25?tls=opportunistic",
                "mail.example.com:25 (STARTTLS if offered)",
            ),
        ] {
            let parsed = settings(&[("SMTP_URL", url), FROM]).unwrap().unwrap();
            assert_eq!(parsed.server, server, "{url}");
            assert_eq!(parsed.from.email.to_string(), "calls@example.com");
        }
    }

    #[test]
    fn bad_values_name_their_variable_and_never_echo_the_password() {
        for url in [
            "http://user:hunter2@mail.example.com",
            "smtp://user:hunter2@mail.example.com?tls=always",
            "smtps://user:hunter2@mail.example.com?tls=required",
            "smtp://user:hunter2@mail.example.com?mode=x",
            "smtp://:hunter2@mail.example.com",
            "not a url hunter2",
        ] {
            let error = settings(&[("SMTP_URL", url), FROM]).unwrap_err();
            assert_eq!(error.variable, "SMTP_URL", "{url}");
            assert!(
                !error.problem.contains("hunter2"),
                "{url}: {}",
                error.problem
            );
        }
        let error = settings(&[("SMTP_URL", "smtp://mail.example.com")]).unwrap_err();
        assert_eq!(error.variable, "MAIL_FROM");
        let error = settings(&[
            ("SMTP_URL", "smtp://mail.example.com"),
            ("MAIL_FROM", "not an address"),
        ])
        .unwrap_err();
        assert_eq!(error.variable, "MAIL_FROM");
    }

    #[test]
    fn the_smtp_password_never_shows_in_debug_output() {
        let parsed = settings(&[("SMTP_URL", "smtp://user:hunter2@mail.example.com"), FROM])
            .unwrap()
            .unwrap();
        assert!(!format!("{parsed:?}").contains("hunter2"));
    }
}
