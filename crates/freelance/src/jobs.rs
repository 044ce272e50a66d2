//! Freelance's scheduled work: overdue invoices and their reminders, and recurring invoices.
//! The platform runs each job on one instance at a time; each claims its rows with conditional
//! updates besides, so a repeated run does nothing twice.

use crate::service::Freelance;
use async_trait::async_trait;
use platform::db::Ts;
use platform::outbox::Job;

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
