//! What accounts sends out: verification and reset mail, sign-in SMS, and the domain events
//! `accounts.user.registered` and `accounts.user.deleted`. Each is written to the outbox inside
//! the transaction of its change, so a code exists if and only if its message will be
//! delivered, and an event if and only if its change commits. Texts are localised by the
//! recipient's locale.

use crate::model::{Locale, UserRow};
use platform::db::{DbError, Tx};
use platform::mail::{Mail, html_escape};
use platform::outbox::{Outbox, SEND_MAIL, SEND_SMS};
use platform::sms::Sms;

/// Which mail to send.
#[derive(Debug, Clone, Copy)]
pub enum CodeMail {
    /// Verify the address of a new account.
    Verification,
    /// Reset a forgotten password.
    PasswordReset,
}

fn texts(kind: CodeMail, locale: Locale) -> (&'static str, &'static str, &'static str) {
    match (kind, locale) {
        (CodeMail::Verification, Locale::En) => (
            "Email Verification Code",
            "Your ferrobase verification code is",
            "This code will expire in 15 minutes. If you did not sign up, ignore this message.",
        ),
        (CodeMail::Verification, Locale::Fa) => (
            "کد تأیید ایمیل",
            "کد تأیید شما در ferrobase:",
            "این کد تا ۱۵ دقیقه معتبر است. اگر ثبت‌نام نکرده‌اید، این پیام را نادیده بگیرید.",
        ),
        (CodeMail::PasswordReset, Locale::En) => (
            "Password Reset Code",
            "Your ferrobase password reset code is",
            "This code will expire in 15 minutes. If you did not ask to reset your password, ignore this message.",
        ),
        (CodeMail::PasswordReset, Locale::Fa) => (
            "کد بازیابی گذرواژه",
            "کد بازیابی گذرواژه شما در ferrobase:",
            "این کد تا ۱۵ دقیقه معتبر است. اگر درخواست بازیابی نداده‌اید، این پیام را نادیده بگیرید.",
        ),
    }
}

/// Builds a code mail in the recipient's language.
pub fn code_mail(kind: CodeMail, locale: Locale, to: &str, code: &str) -> Mail {
    let (subject, lead, note) = texts(kind, locale);
    let dir = if locale == Locale::Fa { "rtl" } else { "ltr" };
    Mail {
        to: to.to_string(),
        subject: subject.to_string(),
        text: format!("{lead} {code}\n\n{note}\n"),
        html: format!(
            "<!doctype html><html lang=\"{lang}\" dir=\"{dir}\"><body><p>{lead}</p>\
             <p style=\"font-size:24px;font-weight:bold;letter-spacing:4px\">{code}</p><p>{note}</p></body></html>",
            lang = locale.as_str(),
            lead = html_escape(lead),
            code = html_escape(code),
            note = html_escape(note),
        ),
        attachments: Vec::new(),
    }
}

/// Queues a code mail in `tx`.
pub async fn enqueue_code_mail(
    outbox: &Outbox,
    tx: &mut Tx,
    kind: CodeMail,
    locale: Locale,
    to: &str,
    code: &str,
) -> Result<(), DbError> {
    outbox.enqueue(tx, SEND_MAIL, &code_mail(kind, locale, to, code)).await.map(|_| ())
}

/// Queues the phone sign-in SMS in `tx`.
pub async fn enqueue_sign_in_sms(outbox: &Outbox, tx: &mut Tx, to: &str, code: &str) -> Result<(), DbError> {
    let sms =
        Sms { to: to.to_string(), body: format!("Your ferrobase sign-in code is {code}. It expires in 10 minutes.") };
    outbox.enqueue(tx, SEND_SMS, &sms).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_is_localised_and_carries_the_code() {
        let en = code_mail(CodeMail::Verification, Locale::En, "a@example.com", "012345");
        assert_eq!(en.subject, "Email Verification Code");
        assert!(en.text.contains("012345") && en.html.contains("012345"));
        let fa = code_mail(CodeMail::PasswordReset, Locale::Fa, "a@example.com", "999999");
        assert_eq!(fa.subject, "کد بازیابی گذرواژه");
        assert!(fa.html.contains("dir=\"rtl\""));
    }
}

/// Domain event: an account was created (sign-up, first phone sign-in, or the admin command).
pub const USER_REGISTERED: &str = "accounts.user.registered";
/// Domain event: an account was deleted (payload `{user_id}`).
pub const USER_DELETED: &str = "accounts.user.deleted";
/// Domain event: a user proved they own an email address (payload `{user_id, email}`), written
/// in the transaction that marks it verified, so what depends on it (work's invitations) is
/// delivered once and retried until it is done.
pub const EMAIL_VERIFIED: &str = "accounts.email.verified";

/// Writes [`EMAIL_VERIFIED`] for `user` (whose `email` is now verified) inside `tx`.
pub async fn email_verified(outbox: &Outbox, tx: &mut Tx, user: &UserRow) -> Result<(), DbError> {
    if let Some(email) = user.email.as_deref() {
        outbox.event(tx, EMAIL_VERIFIED, &serde_json::json!({ "user_id": user.id, "email": email })).await?;
    }
    Ok(())
}

/// The payload of [`USER_REGISTERED`].
#[derive(Debug, serde::Serialize)]
struct Registered<'a> {
    user_id: uuid::Uuid,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    name: &'a str,
    locale: &'a str,
    created_at: platform::db::Ts,
}

/// Writes [`USER_REGISTERED`] for the new `user` inside `tx`.
pub async fn registered(outbox: &Outbox, tx: &mut Tx, user: &UserRow) -> Result<(), DbError> {
    let data = Registered {
        user_id: user.id,
        email: user.email.as_deref(),
        phone: user.phone.as_deref(),
        name: &user.name,
        locale: &user.locale,
        created_at: user.created_at,
    };
    outbox.event(tx, USER_REGISTERED, &data).await?;
    Ok(())
}

/// Writes [`USER_DELETED`] inside the transaction that deletes `user`.
pub async fn deleted(outbox: &Outbox, tx: &mut Tx, user: uuid::Uuid) -> Result<(), DbError> {
    outbox.event(tx, USER_DELETED, &serde_json::json!({ "user_id": user })).await?;
    Ok(())
}
