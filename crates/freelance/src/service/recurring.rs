//! Recurring invoices: an invoice copied and sent every month, quarter or year. The copy for a
//! date is made by whoever moves the invoice's next date on, in the transaction that writes and
//! issues the copy, so two instances running the job make it once.

use super::{Freelance, Result};
use crate::error::FreelanceError;
use crate::model::{Every, Invoice, InvoiceStatus};
use crate::store::books;
use crate::store::invoices::{self as store, DraftFields};
use chrono::NaiveDate;
use platform::auth::AuthUser;
use platform::db::Ts;
use uuid::Uuid;

/// How far ahead a first copy may be scheduled.
const MAX_DAYS_AHEAD: i64 = 366;

impl Freelance {
    /// Makes an issued invoice recurring: a copy is made and sent on `next_on` (today to a year
    /// ahead) and then every `every`. A draft does not recur (409 `invoice_not_sent`: its
    /// content may still change, and sending it is the owner's decision), nor does a void
    /// invoice (409 `invoice_not_open`; voiding ends a recurrence).
    pub async fn set_recurrence(&self, user: &AuthUser, id: Uuid, every: Every, next_on: NaiveDate) -> Result<Invoice> {
        let today = Ts::now().get().date_naive();
        if next_on < today || next_on > today + chrono::Duration::days(MAX_DAYS_AHEAD) {
            return Err(FreelanceError::field("next_on", format!("must be from today to {MAX_DAYS_AHEAD} days ahead")));
        }
        let row = store::get(&self.platform.db, id, user.user_id).await?;
        match row.status() {
            InvoiceStatus::Draft => return Err(FreelanceError::InvoiceNotSent),
            InvoiceStatus::Void => return Err(FreelanceError::InvoiceNotOpen),
            _ => {}
        }
        let row =
            store::set_recurrence(&self.platform.db, id, user.user_id, Some(every.as_str()), Some(next_on), Ts::now())
                .await?;
        self.invoice_view(row).await
    }

    /// Stops an invoice's recurrence.
    pub async fn stop_recurrence(&self, user: &AuthUser, id: Uuid) -> Result<Invoice> {
        let row = store::set_recurrence(&self.platform.db, id, user.user_id, None, None, Ts::now()).await?;
        self.invoice_view(row).await
    }

    /// Makes the copies due by today: one per invoice and period (a job that was down catches
    /// up one period per run). A copy to a client without an email address stays a draft for
    /// its owner to send. Each copy counts against its owner's hourly sending limit; one over
    /// it waits for a later run. Returns how many copies were made.
    pub async fn run_recurrences(&self, now: Ts) -> Result<usize> {
        let today = now.get().date_naive();
        let mut made = 0;
        for template in store::recurring_due(&self.platform.db, today, 100).await? {
            let (Some(every), Some(due)) = (template.recur_every.as_deref(), template.recur_next_on) else { continue };
            let Some(next) = Every::from_stored(every).after(due) else {
                // Past the last date a calendar holds: the recurrence ends.
                store::set_recurrence(&self.platform.db, template.id, template.owner_id, None, None, now).await?;
                continue;
            };
            let quota = format!("invoice-mail:{}", template.owner_id);
            if self.platform.limiter.hit(&quota, super::INVOICE_MAILS_PER_HOUR).await.is_err() {
                continue;
            }
            let client = crate::store::clients::get(&self.platform.db, template.client_id, template.owner_id).await?;
            let db = &self.platform.db;
            let (lines, taxes) = (store::lines(db, template.id).await?, store::taxes(db, template.id).await?);
            let fields = DraftFields {
                client_id: template.client_id,
                project_id: template.project_id,
                currency: template.currency.clone(),
                terms: template.terms.clone(),
                discount_percent_milli: template.discount_percent_milli,
                discount_minor: template.discount_minor,
                subtotal_minor: template.subtotal_minor,
                discount_total_minor: template.discount_total_minor,
                tax_total_minor: template.tax_total_minor,
                total_minor: template.total_minor,
                notes: template.notes.clone(),
                lines: lines.clone(),
                taxes: taxes.clone(),
            };
            let mut tx = self.platform.db.begin().await?;
            books::lock(&mut tx, template.owner_id, now).await?;
            if !store::claim_recurrence(&mut tx, template.id, due, next).await? {
                continue;
            }
            let copy = store::insert(&mut tx, Uuid::now_v7(), template.owner_id, &fields, now).await?;
            store::set_recurred_from(&mut tx, copy.id, template.id).await?;
            if client.email.is_some() && !lines.is_empty() {
                self.issue(&mut tx, &copy, now).await?;
            }
            tx.commit().await?;
            made += 1;
        }
        if made > 0 {
            self.platform.outbox.wake();
        }
        Ok(made)
    }
}
