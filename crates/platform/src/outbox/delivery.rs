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
