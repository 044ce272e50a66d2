//! Reading what the app sent: `.eml` files (parsed with a real MIME parser) and SMS text files.

use mail_parser::MimeHeaders;
use std::path::Path;
use std::time::{Duration, Instant};

/// A mail as a test sees it.
#[derive(Debug, Clone)]
pub struct ReadMail {
    /// The Message-ID: the outbox row id, a UUIDv7, so ids sort in the order mail was queued.
    pub id: String,
    /// Recipient address.
    pub to: String,
    /// Decoded subject.
    pub subject: String,
    /// Decoded plain-text part.
    pub text: String,
    /// Decoded HTML part.
    pub html: String,
    /// The attached files: name and decoded content.
    pub attachments: Vec<(String, Vec<u8>)>,
    /// The raw file.
    pub raw: String,
}

fn parse_mail(raw: &[u8]) -> Option<ReadMail> {
    let msg = mail_parser::MessageParser::default().parse(raw)?;
    let to = msg.to()?.first()?.address()?.to_string();
    Some(ReadMail {
        id: msg.message_id().unwrap_or_default().to_string(),
        to,
        subject: msg.subject().unwrap_or_default().to_string(),
        text: msg.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
        html: msg.body_html(0).map(|t| t.to_string()).unwrap_or_default(),
        attachments: msg
            .attachments()
            .map(|a| (a.attachment_name().unwrap_or_default().to_string(), a.contents().to_vec()))
            .collect(),
        raw: String::from_utf8_lossy(raw).to_string(),
    })
}

/// Every mail in `dir` to `to`, in the order it was queued. (File times cannot tell: the worker
/// may write two messages within one tick of the file system clock.)
pub fn mails_to(dir: &Path, to: &str) -> Vec<ReadMail> {
    let mut mails: Vec<ReadMail> = std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .filter_map(|e| std::fs::read(e.path()).ok())
                .filter_map(|raw| parse_mail(&raw))
                .filter(|m| m.to.eq_ignore_ascii_case(to))
                .collect()
        })
        .unwrap_or_default();
    mails.sort_by(|a, b| a.id.cmp(&b.id));
    mails
}

/// Waits (up to 10 s) until `dir` holds `count` mails to `to`, and returns the newest.
pub async fn read_mail(dir: &Path, to: &str, count: usize) -> ReadMail {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mails = mails_to(dir, to);
        if mails.len() >= count {
            return mails.last().cloned().unwrap_or_else(|| unreachable!());
        }
        assert!(Instant::now() < deadline, "no mail #{count} to {to} arrived in {}", dir.display());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits (up to 10 s) until `dir` holds `count` SMS to `to`, and returns the newest text.
pub async fn read_sms(dir: &Path, to: &str, count: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Files are named `{delivery time}-{outbox id}.txt`; the id (a UUIDv7) gives queue order.
        let mut found: Vec<(String, String)> = std::fs::read_dir(dir)
            .map(|it| {
                it.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "txt"))
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().to_string();
                        let id = name.split_once('-').map(|(_, id)| id.to_string()).unwrap_or(name);
                        std::fs::read_to_string(e.path()).ok().map(|t| (id, t))
                    })
                    .filter(|(_, t)| t.starts_with(&format!("To: {to}\n")))
                    .collect()
            })
            .unwrap_or_default();
        if found.len() >= count {
            found.sort();
            return found.pop().map(|(_, t)| t).unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "no sms #{count} to {to} arrived in {}", dir.display());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The six-digit code in a message text.
pub fn code_in(text: &str) -> String {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(5))
        .find(|&i| {
            bytes[i..i + 6].iter().all(u8::is_ascii_digit)
                && (i == 0 || !bytes[i - 1].is_ascii_digit())
                && bytes.get(i + 6).is_none_or(|b| !b.is_ascii_digit())
        })
        .map(|i| text[i..i + 6].to_string())
        .unwrap_or_else(|| panic!("no six-digit code in: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_standalone_codes() {
        assert_eq!(code_in("Your code is 012345.\n"), "012345");
        assert_eq!(code_in("ref 1234567 then 654321"), "654321");
    }
}
