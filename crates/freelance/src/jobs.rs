//! Freelance's background work: overdue invoices and their reminders, recurring invoices, and
//! the delivery of invoice mails. The platform runs each job on one instance at a time; each
//! claims its rows with conditional updates besides, so a repeated run does nothing twice.

use crate::service::Freelance;
use async_trait::async_trait;
use platform::db::Ts;
use platform::mail::Mailer;
use platform::outbox::{Handler, Job};
use uuid::Uuid;

/// Marks invoices past their due date overdue and reminds their clients (weekly at most).
pub struct OverdueInvoices(pub Freelance);

#[async_trait]
impl Job for OverdueInvoices {
    fn name(&self) -> &'static str {
        "freelance.overdue_invoices"
    }

    async fn run(&self) -> Result<(), String> {
        let reminded = self.0.remind_overdue(Ts::now()).await.map_err(|e| e.to_string())?;
        if reminded > 0 {
            tracing::info!(reminded, "overdue invoices reminded");
        }
        Ok(())
    }
}

/// Copies and sends recurring invoices whose date has come.
pub struct RecurringInvoices(pub Freelance);

#[async_trait]
impl Job for RecurringInvoices {
    fn name(&self) -> &'static str {
        "freelance.recurring_invoices"
    }

    async fn run(&self) -> Result<(), String> {
        let made = self.0.run_recurrences(Ts::now()).await.map_err(|e| e.to_string())?;
        if made > 0 {
            tracing::info!(made, "recurring invoices sent");
        }
        Ok(())
    }
}

/// Delivers `freelance.invoice_mail` rows: renders the invoice's PDF and sends the mail under
/// the row's id (a redelivery replaces the file mailer's copy; the outbox retries a failure).
pub struct InvoiceMailHandler {
    pub freelance: Freelance,
    pub mailer: Mailer,
}

#[async_trait]
impl Handler for InvoiceMailHandler {
    async fn handle(&self, id: Uuid, payload: &str) -> Result<(), String> {
        let queued: crate::service::InvoiceMail =
            serde_json::from_str(payload).map_err(|e| format!("bad invoice mail payload: {e}"))?;
        match self.freelance.invoice_mail(&queued).await.map_err(|e| e.to_string())? {
            Some(mail) => self.mailer.send(&id.to_string(), &mail).await.map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }
}
