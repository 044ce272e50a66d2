//! Outgoing mail through lettre: `smtp://` / `smtps://` (real SMTP, credentials in the URL;
//! `?tls=required` asks for STARTTLS), `file://DIR` (one RFC 5322 `.eml` per message, the
//! embedded default) and `log:` (a log line without the body).
//!
//! Every message has a plain-text and an HTML part. Mail is sent by the outbox worker, never
//! inline in a request, so a slow or failing SMTP server cannot fail or slow a sign-up.

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

/// One message to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
    /// Files sent along (an invoice's PDF). A module that attaches files builds the mail when
    /// it is delivered (freelance's invoice mails are made by its outbox handler from the
    /// invoice's id), so outbox rows carry ids rather than file bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A file attached to a [`Mail`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    /// The name the recipient sees (`INV-00001.pdf`).
    pub filename: String,
    /// Its media type (`application/pdf`).
    pub content_type: String,
    /// The content, base64 in the queued JSON.
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
}

/// Bytes as standard base64 in JSON.
mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(data))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        STANDARD.decode(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// Where mail goes.
#[derive(Clone)]
pub enum Mailer {
    /// A real SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>, Mailbox),
    /// `.eml` files in a directory, one per message id: a redelivered message replaces its
    /// first copy, so the mailbox holds each message once.
    File(std::path::PathBuf, Mailbox),
    /// A log line only.
    Log,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mailer::Smtp(..) => "Mailer::Smtp",
            Mailer::File(..) => "Mailer::File",
            Mailer::Log => "Mailer::Log",
        })
    }
}

/// Mail configuration or delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The URL or an address is unusable.
    #[error("mail configuration: {0}")]
    Config(String),
    /// The message could not be built (e.g. a malformed recipient).
    #[error("invalid message: {0}")]
    Message(String),
    /// The transport failed.
    #[error("mail delivery failed: {0}")]
    Transport(String),
}

impl Mailer {
    /// The mailer for `url`, sending as `from`.
    pub fn from_url(url: &str, from: &str) -> Result<Self, MailError> {
        let from: Mailbox = from.parse().map_err(|e| MailError::Config(format!("mail_from: {e}")))?;
        if let Some(dir) = url.strip_prefix("file://") {
            std::fs::create_dir_all(dir).map_err(|e| MailError::Config(e.to_string()))?;
            Ok(Mailer::File(std::path::PathBuf::from(dir), from))
        } else if url == "log:" {
            Ok(Mailer::Log)
        } else if url.starts_with("smtp://") || url.starts_with("smtps://") {
            let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map_err(|e| MailError::Config(e.to_string()))?
                .build();
            Ok(Mailer::Smtp(transport, from))
        } else {
            Err(MailError::Config(format!(
                "unsupported mail url scheme: {}",
                url.split(':').next().unwrap_or_default()
            )))
        }
    }

    /// Sends `mail`; `id` becomes the Message-ID so receivers can drop a redelivered duplicate.
    pub async fn send(&self, id: &str, mail: &Mail) -> Result<(), MailError> {
        let build = |from: &Mailbox| -> Result<Message, MailError> {
            let to: Mailbox = mail.to.parse().map_err(|e| MailError::Message(format!("{e}")))?;
            Message::builder()
                .from(from.clone())
                .to(to)
                .subject(mail.subject.clone())
                .message_id(Some(format!("<{id}@ferrobase>")))
                .multipart(body(mail)?)
                .map_err(|e| MailError::Message(e.to_string()))
        };
        match self {
            Mailer::Smtp(transport, from) => {
                transport.send(build(from)?).await.map_err(|e| MailError::Transport(e.to_string()))?;
            }
            Mailer::File(dir, from) => {
                // Written aside and renamed into place: a reader never sees half a message.
                let file_name = spool_name(id);
                let (part, whole) = (dir.join(format!(".{file_name}.part")), dir.join(format!("{file_name}.eml")));
                let io = |e: std::io::Error| MailError::Transport(e.to_string());
                tokio::fs::write(&part, build(from)?.formatted()).await.map_err(io)?;
                tokio::fs::rename(&part, &whole).await.map_err(io)?;
            }
            Mailer::Log => tracing::info!(subject = %mail.subject, "mail sent (log transport)"),
        }
        Ok(())
    }
}

/// The name of a message written to a directory (mail or SMS, without the extension): the time
/// it was queued, then its id, so that `ls` lists a mailbox oldest first. The time is the one in
/// the id (a UUIDv7, as outbox rows have), not the time of writing: a redelivered message gets
/// the same name and replaces its first copy. An id without a time is the whole name.
pub fn spool_name(id: &str) -> String {
    let safe: String = id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    let queued = uuid::Uuid::parse_str(id).ok().and_then(|u| u.get_timestamp()).and_then(|t| {
        let (secs, nanos) = t.to_unix();
        chrono::DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
    });
    match queued {
        Some(at) => format!("{}-{safe}", at.format("%Y%m%dT%H%M%S%.3fZ")),
        None => safe,
    }
}

/// The text and HTML alternatives, inside a `multipart/mixed` with the attachments when there
/// are any.
fn body(mail: &Mail) -> Result<MultiPart, MailError> {
    let alternative = MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone());
    if mail.attachments.is_empty() {
        return Ok(alternative);
    }
    let mut mixed = MultiPart::mixed().multipart(alternative);
    for file in &mail.attachments {
        let content_type = lettre::message::header::ContentType::parse(&file.content_type)
            .map_err(|e| MailError::Message(format!("attachment {}: {e}", file.filename)))?;
        mixed = mixed
            .singlepart(lettre::message::Attachment::new(file.filename.clone()).body(file.data.clone(), content_type));
    }
    Ok(mixed)
}

/// Escapes text for inclusion in an HTML body.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Mail one person's action sends to someone else (invitations, notifications), at most per
/// sender and hour: nobody may use ferrobase to flood addresses. Shared across instances
/// through the rate limiter (Redis when configured).
pub const MAIL_PER_SENDER: crate::ratelimit::Quota =
    crate::ratelimit::Quota::new(50, std::time::Duration::from_secs(3600));
/// Mail others' actions send to one address, at most per hour whoever the senders are. Codes a
/// person asks for themselves are not counted here (they have their own limits), so a flood of
/// invitations cannot keep someone from signing in.
pub const MAIL_PER_RECIPIENT: crate::ratelimit::Quota =
    crate::ratelimit::Quota::new(10, std::time::Duration::from_secs(3600));

/// Which budget a mail on someone's behalf did not fit.
#[derive(Debug, Clone, Copy)]
pub enum OverBudget {
    /// The sender sent their hourly share.
    Sender(crate::ratelimit::Limited),
    /// The address received its hourly share.
    Recipient,
}

/// Counts one mail from `sender` to `to` against both hourly budgets; `Err` says which one it
/// did not fit (then nothing should be sent). Mail of the system (`None`: due reminders) has no
/// budget: nobody can spend it, and it is coalesced like the rest.
pub async fn spend_budget(
    limiter: &crate::ratelimit::RateLimiter,
    sender: Option<uuid::Uuid>,
    to: &str,
) -> Result<(), OverBudget> {
    let Some(sender) = sender else { return Ok(()) };
    limiter.hit(&format!("mail-from:{sender}"), MAIL_PER_SENDER).await.map_err(OverBudget::Sender)?;
    let to = to.trim().to_lowercase();
    limiter.hit(&format!("mail-to:{to}"), MAIL_PER_RECIPIENT).await.map_err(|_| OverBudget::Recipient)
}

/// At most one mail per coalescing key (a notification kind and its recipient) in this window;
/// a burst of mentions or assignments becomes one mail, the rest wait in the inbox.
pub const COALESCE: crate::ratelimit::Quota = crate::ratelimit::Quota::new(1, std::time::Duration::from_secs(10 * 60));

/// A mail sent because of someone's action, queued as `mail.on_behalf`: whether it goes is
/// decided when it is delivered ([`fits`]), never inside the transaction that wrote it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OnBehalf {
    /// The message.
    pub mail: Mail,
    /// Whose action caused it (None: the system).
    pub sender: Option<uuid::Uuid>,
    /// Mails with one key within [`COALESCE`] become the first of them.
    pub coalesce: Option<String>,
}

/// Whether `m` may be sent now: not coalesced into an earlier one, and within the budgets
/// (counted when it fits).
pub async fn fits(limiter: &crate::ratelimit::RateLimiter, m: &OnBehalf) -> bool {
    if let Some(key) = &m.coalesce
        && limiter.hit(&format!("mail-kind:{key}"), COALESCE).await.is_err()
    {
        return false;
    }
    spend_budget(limiter, m.sender, &m.mail.to).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_transport_writes_an_eml_with_both_parts() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let mailer = Mailer::from_url(&url, "ferrobase <no-reply@example.com>").unwrap();
        let mail = Mail {
            to: "bob@example.com".into(),
            subject: "Hello".into(),
            text: "plain 123456".into(),
            html: "<p>html 123456</p>".into(),
            attachments: Vec::new(),
        };
        mailer.send("abc", &mail).await.unwrap();
        // Delivered again (the outbox is at least once): still one message in the mailbox.
        mailer.send("abc", &mail).await.unwrap();
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        let entry = &entries[0];
        let text = std::fs::read_to_string(entry.path()).unwrap();
        assert!(text.contains("To: bob@example.com"));
        assert!(text.contains("multipart/alternative"));
        assert!(text.contains("text/html"));
        assert!(text.contains("Message-ID: <abc@ferrobase>"));
    }

    #[test]
    fn spooled_names_sort_by_the_time_messages_were_queued() {
        let ids: Vec<uuid::Uuid> = (0..3)
            .map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(2));
                uuid::Uuid::now_v7()
            })
            .collect();
        let names: Vec<String> = ids.iter().rev().map(|id| spool_name(&id.to_string())).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, names.into_iter().rev().collect::<Vec<_>>(), "oldest first");
        let queued = chrono::NaiveDateTime::parse_from_str(&sorted[0][..20], "%Y%m%dT%H%M%S%.3fZ").unwrap();
        assert!((chrono::Utc::now().naive_utc() - queued).num_seconds().abs() < 60, "{}", sorted[0]);
        assert!(sorted[0].ends_with(&format!("Z-{}", ids[0])), "{}", sorted[0]);
        assert_eq!(spool_name(&ids[0].to_string()), sorted[0], "the same id, the same name");
        assert_eq!(spool_name("abc/../x"), "abcx");
    }

    #[test]
    fn unknown_scheme_is_an_error() {
        assert!(Mailer::from_url("pigeon://x", "a <a@b.c>").is_err());
    }

    #[test]
    fn escapes_html() {
        assert_eq!(html_escape("<a href='x'>&</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;");
    }

    #[tokio::test]
    async fn mail_on_behalf_of_others_has_hourly_budgets() {
        let limiter = crate::ratelimit::RateLimiter::local();
        let loud = uuid::Uuid::now_v7();
        for i in 0..MAIL_PER_SENDER.limit {
            spend_budget(&limiter, Some(loud), &format!("r{i}@example.com")).await.unwrap();
        }
        let over = spend_budget(&limiter, Some(loud), "fresh@example.com").await;
        assert!(matches!(over, Err(OverBudget::Sender(_))), "{over:?}");
        // Many senders together reach one address's budget (case does not make a new address).
        for _ in 0..MAIL_PER_RECIPIENT.limit {
            spend_budget(&limiter, Some(uuid::Uuid::now_v7()), "Target@Example.com").await.unwrap();
        }
        let over = spend_budget(&limiter, Some(uuid::Uuid::now_v7()), "target@example.com").await;
        assert!(matches!(over, Err(OverBudget::Recipient)), "{over:?}");
        // The system's own mail has no budget to spend.
        assert!(spend_budget(&limiter, None, "target@example.com").await.is_ok());
    }
}
