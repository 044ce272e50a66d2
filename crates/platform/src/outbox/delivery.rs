//! The built-in outbox handlers: mail and SMS.

use super::Handler;
use crate::mail::{Mail, Mailer};
use crate::sms::{Sms, SmsSender};
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
