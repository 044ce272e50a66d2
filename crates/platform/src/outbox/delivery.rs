//! The built-in outbox handlers: mail, SMS, and removal of stored files.

use super::Handler;
use crate::mail::{Mail, Mailer};
use crate::sms::{Sms, SmsSender};
use crate::storage::Storage;
use uuid::Uuid;

/// Delivers `mail.send` rows.
pub struct MailHandler(pub Mailer);

#[async_trait::async_trait]
impl Handler for MailHandler {
    async fn handle(&self, id: Uuid, payload: &str) -> Result<(), String> {
        let mail: Mail = serde_json::from_str(payload).map_err(|e| format!("bad mail payload: {e}"))?;
        self.0.send(&id.to_string(), &mail).await.map_err(|e| e.to_string())
    }
}

/// Delivers `mail.on_behalf` rows: drops a mail that a burst of its kind already produced, or
/// that the sender's or the recipient's hourly budget does not fit (the row is done either
/// way), and sends the rest. The decision is made once per row: a redelivery after a failed
/// send goes straight to sending.
pub struct OnBehalfHandler {
    /// Sends.
    pub mailer: Mailer,
    /// Holds the budgets and the coalescing windows.
    pub limiter: crate::ratelimit::RateLimiter,
}

#[async_trait::async_trait]
impl Handler for OnBehalfHandler {
    async fn handle(&self, id: Uuid, payload: &str) -> Result<(), String> {
        let on_behalf: crate::mail::OnBehalf =
            serde_json::from_str(payload).map_err(|e| format!("bad mail payload: {e}"))?;
        let decided_before = self.limiter.hit(&format!("mail-row:{id}"), ONCE).await.is_err();
        if !decided_before && !crate::mail::fits(&self.limiter, &on_behalf).await {
            metrics::counter!("mail_withheld_total").increment(1);
            return Ok(());
        }
        self.mailer.send(&id.to_string(), &on_behalf.mail).await.map_err(|e| e.to_string())
    }
}

/// One decision per row (longer than any row waits for its retries to end).
const ONCE: crate::ratelimit::Quota = crate::ratelimit::Quota::new(1, std::time::Duration::from_secs(7 * 24 * 3600));

/// Delivers `sms.send` rows.
pub struct SmsHandler(pub SmsSender);

#[async_trait::async_trait]
impl Handler for SmsHandler {
    async fn handle(&self, id: Uuid, payload: &str) -> Result<(), String> {
        let sms: Sms = serde_json::from_str(payload).map_err(|e| format!("bad sms payload: {e}"))?;
        self.0.send(&id.to_string(), &sms).await.map_err(|e| e.to_string())
    }
}

/// Payload of `storage.delete`: files to remove once the change that orphaned them commits.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DeleteFiles {
    /// Storage keys.
    pub keys: Vec<String>,
}

/// Delivers `storage.delete` rows.
pub struct DeleteFilesHandler(pub Storage);

#[async_trait::async_trait]
impl Handler for DeleteFilesHandler {
    async fn handle(&self, _id: Uuid, payload: &str) -> Result<(), String> {
        let files: DeleteFiles = serde_json::from_str(payload).map_err(|e| format!("bad payload: {e}"))?;
        for key in &files.keys {
            self.0.delete(key).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
