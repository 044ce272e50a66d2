//! An invoice after its draft: sending (its number, its mail with the PDF), the PDF itself,
//! payments and voiding.
//!
//! Sending takes the owner's books lock, the next number and the dates, and queues the mail in
//! one transaction: the mail goes out once the number is committed; the worker renders the PDF
//! and sends it, and a failed delivery is retried by the outbox, never with a second number.

use super::pdf::{Fonts, InvoiceDocument, render_blocking};
use super::{Freelance, Result};
use crate::error::FreelanceError;
use crate::model::{
    ClientRow, Invoice, InvoiceRow, InvoiceStatus, LineRow, PaymentMethod, PaymentRow, TaxRow, Terms, thousandths,
};
use crate::store::invoices as store;
use crate::store::{books, clients, time as time_store};
use chrono::NaiveDate;
use platform::FieldError;
use platform::auth::AuthUser;
use platform::db::Ts;
use platform::mail::{Attachment, Mail, html_escape};
use platform::money;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

/// Invoices one user may mail in an hour: enough for a month's batch, not for spam.
pub const INVOICE_MAILS_PER_HOUR: platform::ratelimit::Quota =
    platform::ratelimit::Quota::new(100, std::time::Duration::from_secs(3600));

/// A payment as given.
#[derive(Debug, Clone)]
pub struct PaymentInput {
    /// Decimal string in the invoice's currency, more than 0, at most the balance.
    pub amount: String,
    /// Defaults to today.
    pub paid_on: Option<NaiveDate>,
    pub method: PaymentMethod,
    pub note: Option<String>,
}

/// The status that follows from what is paid: paid in full, else overdue if it was marked so,
/// else partially paid or sent.
fn settled_status(row: &InvoiceRow, paid: i64) -> InvoiceStatus {
    if paid >= row.total_minor {
        InvoiceStatus::Paid
    } else if row.overdue_at.is_some() {
        InvoiceStatus::Overdue
    } else if paid > 0 {
        InvoiceStatus::PartiallyPaid
    } else {
        InvoiceStatus::Sent
    }
}

impl Freelance {
    /// The fonts, parsed on first use.
    pub(super) fn fonts(&self) -> Result<Arc<Fonts>> {
        if let Some(fonts) = self.fonts.get() {
            return Ok(fonts.clone());
        }
        let loaded = Fonts::load().ok_or_else(|| platform::error::Internal::new("the embedded fonts do not parse"))?;
        Ok(self.fonts.get_or_init(|| Arc::new(loaded)).clone())
    }

    /// The freelancer and the client an invoice names, read before any transaction: a
    /// transaction waiting for the books lock must not also wait for a second connection.
    pub(super) async fn parties(&self, row: &InvoiceRow) -> Result<(accounts::User, ClientRow)> {
        let sender = self.accounts.user(row.owner_id).await?;
        let client = clients::get(&self.platform.db, row.client_id, row.owner_id).await?;
        Ok((sender, client))
    }

    /// `row` laid out and rendered (on a blocking thread).
    async fn render(
        &self,
        row: &InvoiceRow,
        lines: &[LineRow],
        taxes: &[TaxRow],
        parties: &(accounts::User, ClientRow),
    ) -> Result<(InvoiceDocument, Vec<u8>)> {
        let doc = document(row, lines, taxes, &parties.0, &parties.1);
        let pdf = render_blocking(self.fonts()?, doc.clone()).await.map_err(platform::error::Internal::new)?;
        Ok((doc, pdf))
    }

    /// The PDF of `row`.
    pub(super) async fn pdf_of(&self, row: &InvoiceRow) -> Result<Vec<u8>> {
        let db = &self.platform.db;
        let (lines, taxes) = (store::lines(db, row.id).await?, store::taxes(db, row.id).await?);
        let parties = self.parties(row).await?;
        Ok(self.render(row, &lines, &taxes, &parties).await?.1)
    }

    /// The PDF of one of the caller's invoices (drafts too, marked as such), and its file name.
    pub async fn invoice_pdf(&self, user: &AuthUser, id: Uuid) -> Result<(Vec<u8>, String)> {
        let row = store::get(&self.platform.db, id, user.user_id).await?;
        let name = row.number.map_or_else(|| format!("draft-{id}"), crate::model::invoice_number);
        Ok((self.pdf_of(&row).await?, format!("{name}.pdf")))
    }

    /// Issues a draft: the next number of the caller's books, today's date, the due date from
    /// its terms, and a mail to the client with the PDF attached (409 `invoice_not_draft` when
    /// it was sent already; 422 when it has no line or the client no email address).
    pub async fn send_invoice(&self, user: &AuthUser, id: Uuid) -> Result<Invoice> {
        let now = Ts::now();
        let current = store::get(&self.platform.db, id, user.user_id).await?;
        if current.status() != InvoiceStatus::Draft {
            return Err(FreelanceError::InvoiceNotDraft);
        }
        let client = clients::get(&self.platform.db, current.client_id, user.user_id).await?;
        if client.email.is_none() {
            return Err(FreelanceError::field("client_id", "the client has no email address to send the invoice to"));
        }
        self.platform
            .limiter
            .hit(&format!("invoice-mail:{}", user.user_id), INVOICE_MAILS_PER_HOUR)
            .await
            .map_err(FreelanceError::RateLimited)?;
        let mut tx = self.platform.db.begin().await?;
        books::lock(&mut tx, user.user_id, now).await?;
        let row = store::get_in(&mut tx, id, user.user_id).await?;
        if row.status() != InvoiceStatus::Draft {
            return Err(FreelanceError::InvoiceNotDraft);
        }
        if store::lines_in(&mut tx, id).await?.is_empty() {
            return Err(FreelanceError::field("lines", "an invoice needs at least one line to be sent"));
        }
        let row = self.issue(&mut tx, &row, now).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        self.invoice_view(row).await
    }

    /// Issues draft `row` inside `tx`, where the owner's books are locked: the next number,
    /// today's date, the due date from its terms, and its mail queued for the worker. An
    /// invoice of nothing (a full discount) is paid as it is issued: it has nothing to remind of.
    pub(super) async fn issue(&self, tx: &mut platform::db::Tx, row: &InvoiceRow, now: Ts) -> Result<InvoiceRow> {
        let number = books::next_invoice_number(tx, row.owner_id, now).await?;
        let issued_on = now.get().date_naive();
        let due_on = issued_on + chrono::Duration::days(Terms::from_stored(&row.terms).days());
        let mut row = store::mark_sent(tx, row.id, number, issued_on, due_on, now).await?;
        if row.total_minor == 0 {
            row = store::set_state(tx, row.id, InvoiceStatus::Paid.as_str(), 0, Some(now), None, now).await?;
        }
        let mail = InvoiceMail { invoice_id: row.id, owner_id: row.owner_id, kind: MailKind::Invoice };
        self.platform.outbox.enqueue(tx, INVOICE_MAIL, &mail).await?;
        Ok(row)
    }

    /// The mail an [`InvoiceMail`] row asks for, its PDF rendered now (the invoice no longer
    /// changes but for payments and its status); None when there is nobody to send it to any
    /// more (the client's address was removed, the account deleted).
    pub(crate) async fn invoice_mail(&self, queued: &InvoiceMail) -> Result<Option<Mail>> {
        let row = match store::get(&self.platform.db, queued.invoice_id, queued.owner_id).await {
            Ok(row) => row,
            Err(platform::db::DbError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        // A reminder queued before the invoice was paid or voided is not sent.
        if queued.kind == MailKind::Reminder && !(row.status().is_open() && row.total_minor > row.paid_minor) {
            return Ok(None);
        }
        let parties = self.parties(&row).await?;
        let Some(to) = parties.1.email.clone() else { return Ok(None) };
        let db = &self.platform.db;
        let (lines, taxes) = (store::lines(db, row.id).await?, store::taxes(db, row.id).await?);
        let (doc, pdf) = self.render(&row, &lines, &taxes, &parties).await?;
        Ok(Some(invoice_mail(&to, &doc, &row, pdf, queued.kind)))
    }

    /// Marks issued invoices past their due date `overdue` (once) and mails each client a
    /// reminder with the PDF, at most once a week per invoice. Each invoice is claimed with a
    /// conditional update in the transaction that queues its mail, so instances running the
    /// job at once never remind twice. Returns how many were reminded.
    pub async fn remind_overdue(&self, now: Ts) -> Result<usize> {
        let today = now.get().date_naive();
        let week_ago = now.plus(-chrono::Duration::days(7));
        let mut reminded = 0;
        for candidate in store::overdue_due(&self.platform.db, today, week_ago, 200).await? {
            let mut tx = self.platform.db.begin().await?;
            // Under the owner's books lock, as payments and voiding are: neither overwrites the
            // mark from a status read before it.
            books::lock(&mut tx, candidate.owner_id, now).await?;
            let Some(row) = store::claim_overdue(&mut tx, candidate.id, week_ago, now).await? else {
                continue;
            };
            let mail = InvoiceMail { invoice_id: row.id, owner_id: row.owner_id, kind: MailKind::Reminder };
            self.platform.outbox.enqueue(&mut tx, INVOICE_MAIL, &mail).await?;
            tx.commit().await?;
            reminded += 1;
        }
        if reminded > 0 {
            self.platform.outbox.wake();
        }
        Ok(reminded)
    }

    /// Voids a sent invoice that has no payments (409 `invoice_not_open` for drafts, paid or
    /// void ones; `invoice_has_payments` when payments are recorded: delete them first). It
    /// keeps its number; its time is billable again.
    pub async fn void_invoice(&self, user: &AuthUser, id: Uuid) -> Result<Invoice> {
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        books::lock(&mut tx, user.user_id, now).await?;
        let row = store::get_in(&mut tx, id, user.user_id).await?;
        if !row.status().is_open() {
            return Err(FreelanceError::InvoiceNotOpen);
        }
        if row.paid_minor > 0 {
            return Err(FreelanceError::InvoiceHasPayments);
        }
        time_store::release(&mut tx, id, now).await?;
        let row = store::set_state(&mut tx, id, InvoiceStatus::Void.as_str(), 0, None, Some(now), now).await?;
        tx.commit().await?;
        self.invoice_view(row).await
    }

    /// Records a payment of an open invoice (409 `invoice_not_open` otherwise); the sum never
    /// exceeds the total, and the status follows.
    pub async fn add_payment(&self, user: &AuthUser, id: Uuid, input: &PaymentInput) -> Result<Invoice> {
        let now = Ts::now();
        let mut errors = Vec::new();
        let note = super::checks::text(&mut errors, "note", input.note.as_deref(), 500, false);
        let today = now.get().date_naive();
        let paid_on = input.paid_on.unwrap_or(today);
        let earliest = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
        if paid_on > today + chrono::Duration::days(1) || paid_on < earliest {
            errors.push(FieldError::new("paid_on", "must be a date from 2000 to today"));
        }
        let mut tx = self.platform.db.begin().await?;
        books::lock(&mut tx, user.user_id, now).await?;
        let row = store::get_in(&mut tx, id, user.user_id).await?;
        if !row.status().is_open() {
            return Err(FreelanceError::InvoiceNotOpen);
        }
        let balance = row.total_minor - row.paid_minor;
        let amount = match money::parse_amount(&input.amount, row.exponent()) {
            Ok(0) => {
                errors.push(FieldError::new("amount", "must be more than 0"));
                0
            }
            Ok(a) if a > balance => {
                errors.push(FieldError::new("amount", format!("must be at most the balance, {}", row.amount(balance))));
                0
            }
            Ok(a) => a,
            Err(m) => {
                errors.push(FieldError::new("amount", m));
                0
            }
        };
        if !errors.is_empty() {
            return Err(FreelanceError::Invalid(errors));
        }
        let payment = PaymentRow {
            id: Uuid::now_v7(),
            invoice_id: id,
            amount_minor: amount,
            paid_on,
            method: input.method.as_str().to_string(),
            note,
            created_at: now,
        };
        store::insert_payment(&mut tx, &payment).await?;
        let paid = row.paid_minor + amount;
        let status = settled_status(&row, paid);
        let paid_at = (status == InvoiceStatus::Paid).then_some(now);
        let row = store::set_state(&mut tx, id, status.as_str(), paid, paid_at, None, now).await?;
        tx.commit().await?;
        self.invoice_view(row).await
    }

    /// Deletes a payment recorded by mistake; the status follows (not on a void invoice).
    pub async fn delete_payment(&self, user: &AuthUser, id: Uuid, payment: Uuid) -> Result<Invoice> {
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        books::lock(&mut tx, user.user_id, now).await?;
        let row = store::get_in(&mut tx, id, user.user_id).await?;
        if matches!(row.status(), InvoiceStatus::Draft | InvoiceStatus::Void) {
            return Err(FreelanceError::InvoiceNotOpen);
        }
        let amount = store::delete_payment(&mut tx, id, payment).await?.ok_or(FreelanceError::NotFound)?;
        let paid = row.paid_minor - amount;
        let status = settled_status(&row, paid);
        let row = store::set_state(&mut tx, id, status.as_str(), paid, None, None, now).await?;
        tx.commit().await?;
        self.invoice_view(row).await
    }
}

/// What the PDF of `row` shows.
pub(super) fn document(
    row: &InvoiceRow,
    lines: &[LineRow],
    taxes: &[TaxRow],
    sender: &accounts::User,
    client: &ClientRow,
) -> InvoiceDocument {
    let show = |minor: i64| money::display(minor, &row.currency);
    let mut to = vec![client.name.clone()];
    to.extend(client.company.clone());
    to.extend(client.address.iter().flat_map(|a| a.lines().map(str::to_string)));
    to.extend(client.email.clone());
    to.extend(client.tax_id.as_ref().map(|t| format!("Tax id: {t}")));
    let mut facts = Vec::new();
    if let Some(issued) = row.issued_on {
        facts.push(("Issued".to_string(), issued.to_string()));
    }
    if let Some(due) = row.due_on {
        facts.push(("Due".to_string(), due.to_string()));
    }
    facts.push(("Terms".to_string(), Terms::from_stored(&row.terms).label().to_string()));
    facts.push(("Currency".to_string(), row.currency.clone()));
    let mut totals = vec![("Subtotal".to_string(), show(row.subtotal_minor), false)];
    if row.discount_total_minor > 0 {
        let label = match row.discount_percent_milli {
            Some(p) => format!("Discount ({} %)", thousandths(p)),
            None => "Discount".to_string(),
        };
        totals.push((label, show(-row.discount_total_minor), false));
    }
    for tax in taxes {
        totals.push((format!("{} ({} %)", tax.name, thousandths(tax.rate_milli)), show(tax.amount_minor), false));
    }
    totals.push(("Total".to_string(), show(row.total_minor), true));
    if row.paid_minor > 0 {
        totals.push(("Paid".to_string(), show(row.paid_minor), false));
        totals.push(("Balance due".to_string(), show(row.total_minor - row.paid_minor), true));
    }
    InvoiceDocument {
        title: match row.status() {
            InvoiceStatus::Draft => "Draft invoice",
            InvoiceStatus::Void => "Void invoice",
            _ => "Invoice",
        }
        .to_string(),
        number: row.number.map(crate::model::invoice_number),
        from: [Some(sender.name.clone()), sender.email.clone()].into_iter().flatten().collect(),
        to,
        facts,
        lines: lines
            .iter()
            .map(|l| {
                [l.description.clone(), thousandths(l.quantity_milli), show(l.unit_price_minor), show(l.amount_minor)]
            })
            .collect(),
        totals,
        notes: row.notes.clone(),
    }
}

/// The outbox kind of an invoice's mail: rendered and sent by the worker, so the transaction
/// that issues an invoice holds the books lock for a few statements, not for a PDF.
pub const INVOICE_MAIL: &str = "freelance.invoice_mail";

/// An invoice mail to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvoiceMail {
    pub invoice_id: Uuid,
    pub owner_id: Uuid,
    pub kind: MailKind,
}

/// Which mail an invoice goes out with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// Its first sending.
    Invoice,
    /// A reminder once it is overdue.
    Reminder,
}

/// The mail that carries an invoice (or its reminder) to its client.
fn invoice_mail(to: &str, doc: &InvoiceDocument, row: &InvoiceRow, pdf: Vec<u8>, kind: MailKind) -> Mail {
    let number = doc.number.clone().unwrap_or_default();
    let sender = doc.from.first().cloned().unwrap_or_default();
    let reply = doc.from.get(1).cloned().unwrap_or_default();
    let due = row.due_on.map(|d| d.to_string()).unwrap_or_default();
    let (subject, lead) = match kind {
        MailKind::Invoice => (
            format!("Invoice {number} from {sender}"),
            format!(
                "please find attached invoice {number} from {sender} for {}, due on {due}.",
                money::display(row.total_minor, &row.currency)
            ),
        ),
        MailKind::Reminder => (
            format!("Reminder: invoice {number} from {sender} is overdue"),
            format!(
                "invoice {number} from {sender} was due on {due}; {} of it is still open. The invoice is attached.",
                money::display(row.total_minor - row.paid_minor, &row.currency)
            ),
        ),
    };
    Mail {
        to: to.to_string(),
        subject,
        text: format!("Hello,\n\n{lead}\n\nQuestions about it go to {reply}.\n"),
        html: format!(
            "<p>Hello,</p><p>{}</p><p>Questions about it go to {}.</p>",
            html_escape(&lead),
            html_escape(&reply)
        ),
        attachments: vec![Attachment {
            filename: format!("{number}.pdf"),
            content_type: "application/pdf".into(),
            data: pdf,
        }],
    }
}
