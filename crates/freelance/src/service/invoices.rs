//! Invoice drafts: written, checked and computed here (amounts a client sends are never
//! taken), changed and deleted only as drafts, and made from tracked time.

use super::checks::{required, text};
use super::time::Lookups;
use super::{Freelance, Result};
use crate::error::FreelanceError;
use crate::model::{
    Discount, Invoice, InvoiceRow, InvoiceStatus, InvoiceSummary, LineRow, TaxRow, Terms, compute_totals,
};
use crate::store::invoices::{self as store, DraftFields, Filter};
use crate::store::{books, clients, time as time_store};
use platform::FieldError;
use platform::auth::AuthUser;
use platform::db::{DbError, Ts};
use platform::money;
use platform::pagination::Page;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The most lines an invoice holds (they continue over pages in the PDF).
pub const MAX_LINES: usize = 500;
/// The most tax rates on one invoice.
pub const MAX_TAXES: usize = 5;
/// The largest quantity on a line.
const MAX_QUANTITY: i64 = 1_000_000;

/// A line as given: decimal strings.
#[derive(Debug, Clone, Default)]
pub struct LineInput {
    pub description: String,
    /// Up to 3 decimals, more than 0.
    pub quantity: String,
    /// In the invoice's currency, as many decimals as it has.
    pub unit_price: String,
}

/// A tax as given.
#[derive(Debug, Clone, Default)]
pub struct TaxInput {
    pub name: String,
    /// Percent, up to 3 decimals, above 0 and at most 100.
    pub rate: String,
}

/// A new draft.
#[derive(Debug, Clone, Default)]
pub struct InvoiceInput {
    pub client_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    /// Defaults to the client's currency.
    pub currency: Option<String>,
    /// Defaults to `net_30`.
    pub terms: Option<Terms>,
    pub lines: Vec<LineInput>,
    pub discount_percent: Option<String>,
    pub discount_amount: Option<String>,
    pub taxes: Vec<TaxInput>,
    pub notes: Option<String>,
}

/// Draft changes: `None` leaves a field; `Some(None)` clears an optional one; lists replace.
#[derive(Debug, Clone, Default)]
pub struct InvoicePatch {
    pub client_id: Option<Uuid>,
    pub project_id: Option<Option<Uuid>>,
    pub currency: Option<String>,
    pub terms: Option<Terms>,
    pub lines: Option<Vec<LineInput>>,
    pub discount_percent: Option<Option<String>>,
    pub discount_amount: Option<Option<String>>,
    pub taxes: Option<Vec<TaxInput>>,
    pub notes: Option<Option<String>>,
}

/// What the list is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct InvoiceQuery {
    pub status: Option<InvoiceStatus>,
    pub client: Option<Uuid>,
    pub cursor: Option<Uuid>,
    pub limit: i64,
}

/// Parses a decimal with up to 3 places into thousandths, within `(0, max]`.
fn parse_thousandths(errors: &mut Vec<FieldError>, field: &str, text: &str, max: i64) -> i64 {
    match money::parse_amount(text, 3) {
        Ok(0) => errors.push(FieldError::new(field, "must be more than 0")),
        Ok(v) if v > max * 1000 => errors.push(FieldError::new(field, format!("must be at most {max}"))),
        Ok(v) => return v,
        Err(m) => errors.push(FieldError::new(field, m)),
    }
    0
}

impl Freelance {
    /// Checks a draft whole (every wrong field at once) and computes its amounts.
    async fn draft_fields(&self, user: &AuthUser, input: &InvoiceInput) -> Result<DraftFields> {
        let mut errors = Vec::new();
        let client = match input.client_id {
            None => {
                errors.push(FieldError::new("client_id", "is required"));
                None
            }
            Some(id) => match clients::get(&self.platform.db, id, user.user_id).await {
                Ok(c) => Some(c),
                Err(DbError::NotFound) => {
                    errors.push(FieldError::new("client_id", "is not one of your clients"));
                    None
                }
                Err(e) => return Err(e.into()),
            },
        };
        if let Some(project) = input.project_id {
            match self.work.project(user, project).await {
                Ok(p) if p.role.is_some() => {}
                Ok(_) | Err(work::WorkError::NotFound) => {
                    errors.push(FieldError::new("project_id", "is not a project you are a member of"));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let currency = input.currency.clone().or_else(|| client.as_ref().and_then(|c| c.currency.clone()));
        let (currency, exponent) = match currency.as_deref().map(money::currency) {
            Some(Ok((code, exponent))) => (code.to_string(), exponent),
            Some(Err(m)) => {
                errors.push(FieldError::new("currency", m));
                (String::new(), 2)
            }
            None if client.is_some() => {
                errors.push(FieldError::new("currency", "is required (the client has no default currency)"));
                (String::new(), 2)
            }
            None => (String::new(), 2),
        };
        let currency_ok = !errors.iter().any(|e| e.field == "currency");

        if input.lines.len() > MAX_LINES {
            errors.push(FieldError::new("lines", format!("must be at most {MAX_LINES}")));
        }
        let mut lines = Vec::new();
        for (i, line) in input.lines.iter().take(MAX_LINES).enumerate() {
            let description = required(&mut errors, &format!("lines[{i}].description"), &line.description, 1000);
            let quantity =
                parse_thousandths(&mut errors, &format!("lines[{i}].quantity"), &line.quantity, MAX_QUANTITY);
            let unit_price = if currency_ok {
                money::parse_amount(&line.unit_price, exponent)
                    .map_err(|m| errors.push(FieldError::new(format!("lines[{i}].unit_price"), m)))
                    .unwrap_or(0)
            } else {
                0
            };
            lines.push((description, quantity, unit_price));
        }
        if input.taxes.len() > MAX_TAXES {
            errors.push(FieldError::new("taxes", format!("must be at most {MAX_TAXES}")));
        }
        let mut taxes = Vec::new();
        for (i, tax) in input.taxes.iter().take(MAX_TAXES).enumerate() {
            let name = required(&mut errors, &format!("taxes[{i}].name"), &tax.name, 50);
            let rate = parse_thousandths(&mut errors, &format!("taxes[{i}].rate"), &tax.rate, 100);
            taxes.push((name, rate));
        }
        let discount = match (input.discount_percent.as_deref(), input.discount_amount.as_deref()) {
            (Some(_), Some(_)) => {
                errors.push(FieldError::new("discount_amount", "give a percentage or an amount, not both"));
                Discount::None
            }
            (Some(p), None) => Discount::Percent(parse_thousandths(&mut errors, "discount_percent", p, 100)),
            (None, Some(a)) if currency_ok => match money::parse_amount(a, exponent) {
                Ok(minor) => Discount::Amount(minor),
                Err(m) => {
                    errors.push(FieldError::new("discount_amount", m));
                    Discount::None
                }
            },
            _ => Discount::None,
        };
        let notes = text(&mut errors, "notes", input.notes.as_deref(), 5000, true);
        if !errors.is_empty() {
            return Err(FreelanceError::Invalid(errors));
        }
        let priced: Vec<(i64, i64)> = lines.iter().map(|(_, q, p)| (*q, *p)).collect();
        let rates: Vec<i64> = taxes.iter().map(|(_, r)| *r).collect();
        let totals = compute_totals(&priced, discount, &rates).map_err(|m| {
            let field = if matches!(discount, Discount::Amount(_)) && m.contains("subtotal") {
                "discount_amount"
            } else {
                "lines"
            };
            FreelanceError::field(field, m)
        })?;
        let client_id = client.map(|c| c.id).ok_or_else(|| FreelanceError::field("client_id", "is required"))?;
        Ok(DraftFields {
            client_id,
            project_id: input.project_id,
            currency,
            terms: input.terms.unwrap_or(Terms::Net30).as_str().to_string(),
            discount_percent_milli: match discount {
                Discount::Percent(p) => Some(p),
                _ => None,
            },
            discount_minor: match discount {
                Discount::Amount(a) => Some(a),
                _ => None,
            },
            subtotal_minor: totals.subtotal,
            discount_total_minor: totals.discount,
            tax_total_minor: totals.tax_total,
            total_minor: totals.total,
            notes,
            lines: lines
                .into_iter()
                .zip(&totals.lines)
                .enumerate()
                .map(|(i, ((description, quantity_milli, unit_price_minor), amount))| LineRow {
                    position: i as i32,
                    description,
                    quantity_milli,
                    unit_price_minor,
                    amount_minor: *amount,
                })
                .collect(),
            taxes: taxes
                .into_iter()
                .zip(&totals.taxes)
                .enumerate()
                .map(|(i, ((name, rate_milli), amount))| TaxRow {
                    position: i as i32,
                    name,
                    rate_milli,
                    amount_minor: *amount,
                })
                .collect(),
        })
    }

    /// The invoice with its lines, taxes and payments.
    pub(super) async fn invoice_view(&self, row: InvoiceRow) -> Result<Invoice> {
        let db = &self.platform.db;
        let (lines, taxes, payments) =
            (store::lines(db, row.id).await?, store::taxes(db, row.id).await?, store::payments(db, row.id).await?);
        Ok(Invoice::new(row, lines, taxes, payments))
    }

    /// Writes a draft; its amounts are computed here.
    pub async fn create_invoice(&self, user: &AuthUser, input: &InvoiceInput) -> Result<Invoice> {
        let fields = self.draft_fields(user, input).await?;
        let mut tx = self.platform.db.begin().await?;
        let row = store::insert(&mut tx, Uuid::now_v7(), user.user_id, &fields, Ts::now()).await?;
        tx.commit().await?;
        self.invoice_view(row).await
    }

    /// One of the caller's invoices.
    pub async fn invoice(&self, user: &AuthUser, id: Uuid) -> Result<Invoice> {
        let row = store::get(&self.platform.db, id, user.user_id).await?;
        self.invoice_view(row).await
    }

    /// The caller's invoices, newest first.
    pub async fn invoices(&self, user: &AuthUser, query: &InvoiceQuery) -> Result<Page<InvoiceSummary>> {
        let filter = Filter {
            owner: user.user_id,
            status: query.status.map(|s| s.as_str().to_string()),
            client: query.client,
            before: query.cursor,
            limit: query.limit,
        };
        let rows = store::list(&self.platform.db, &filter).await?;
        let summaries = rows
            .into_iter()
            .map(|r| {
                InvoiceSummary::new(
                    r.id,
                    r.number,
                    &r.status,
                    r.client_id,
                    r.client_name,
                    r.currency,
                    (r.total_minor, r.paid_minor),
                    (r.issued_on, r.due_on),
                    r.created_at,
                )
            })
            .collect();
        Ok(Page::from_rows(summaries, query.limit, |s| s.id))
    }

    /// Changes a draft (409 `invoice_not_draft` once sent), computing its amounts again.
    pub async fn update_invoice(&self, user: &AuthUser, id: Uuid, patch: InvoicePatch) -> Result<Invoice> {
        let current = store::get(&self.platform.db, id, user.user_id).await?;
        if current.status() != InvoiceStatus::Draft {
            return Err(FreelanceError::InvoiceNotDraft);
        }
        let exponent = current.exponent();
        let (lines, taxes) = (store::lines(&self.platform.db, id).await?, store::taxes(&self.platform.db, id).await?);
        let input = InvoiceInput {
            client_id: Some(patch.client_id.unwrap_or(current.client_id)),
            project_id: patch.project_id.unwrap_or(current.project_id),
            currency: Some(patch.currency.unwrap_or(current.currency.clone())),
            terms: Some(patch.terms.unwrap_or(Terms::from_stored(&current.terms))),
            lines: patch.lines.unwrap_or_else(|| {
                lines
                    .iter()
                    .map(|l| LineInput {
                        description: l.description.clone(),
                        quantity: crate::model::thousandths(l.quantity_milli),
                        unit_price: money::format_amount(l.unit_price_minor, exponent),
                    })
                    .collect()
            }),
            discount_percent: patch
                .discount_percent
                .unwrap_or(current.discount_percent_milli.map(crate::model::thousandths)),
            discount_amount: patch
                .discount_amount
                .unwrap_or(current.discount_minor.map(|m| money::format_amount(m, exponent))),
            taxes: patch.taxes.unwrap_or_else(|| {
                taxes
                    .iter()
                    .map(|t| TaxInput { name: t.name.clone(), rate: crate::model::thousandths(t.rate_milli) })
                    .collect()
            }),
            notes: patch.notes.unwrap_or(current.notes.clone()),
        };
        let fields = self.draft_fields(user, &input).await?;
        let mut tx = self.platform.db.begin().await?;
        books::lock(&mut tx, user.user_id, Ts::now()).await?;
        let row = match store::update_draft(&mut tx, id, user.user_id, &fields, Ts::now()).await {
            Err(DbError::NotFound) => return Err(FreelanceError::InvoiceNotDraft),
            other => other?,
        };
        tx.commit().await?;
        self.invoice_view(row).await
    }

    /// Deletes a draft (409 `invoice_not_draft` once sent: void it instead); time it was made
    /// from is billable again.
    pub async fn delete_invoice(&self, user: &AuthUser, id: Uuid) -> Result<()> {
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        books::lock(&mut tx, user.user_id, now).await?;
        let row = store::get_in(&mut tx, id, user.user_id).await?;
        if row.status() != InvoiceStatus::Draft {
            return Err(FreelanceError::InvoiceNotDraft);
        }
        time_store::release(&mut tx, id, now).await?;
        store::delete_draft(&mut tx, id, user.user_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Turns the project's billable, stopped, not yet invoiced time that ended by `until` into
    /// a draft for the project's client: one line per task and rate (hours to 3 places × the
    /// rate), the entries marked invoiced in the same transaction, under the books lock. A
    /// second call finds nothing left (409 `no_billable_time`).
    ///
    /// The draft is planned from a snapshot read outside any transaction (rates and task names
    /// come through other services' connections), then written under the lock only if the
    /// snapshot still holds; otherwise it is planned again.
    pub async fn invoice_from_time(&self, user: &AuthUser, project_id: Uuid, until: Option<Ts>) -> Result<Invoice> {
        let project = match self.work.project(user, project_id).await {
            Ok(p) if p.role.is_some() => p,
            Ok(_) | Err(work::WorkError::NotFound) => {
                return Err(FreelanceError::field("project_id", "is not a project you are a member of"));
            }
            Err(e) => return Err(e.into()),
        };
        let until = until.unwrap_or_else(Ts::now);
        for _ in 0..3 {
            let entries = time_store::uninvoiced(&self.platform.db, user.user_id, project_id, until).await?;
            if entries.is_empty() {
                return Err(FreelanceError::NoBillableTime);
            }
            let (fields, rates) = self.plan(user, &project, &entries).await?;
            let now = Ts::now();
            let mut tx = self.platform.db.begin().await?;
            books::lock(&mut tx, user.user_id, now).await?;
            let current = time_store::uninvoiced_in(&mut tx, user.user_id, project_id, until).await?;
            let unchanged = current.len() == entries.len()
                && current.iter().zip(&entries).all(|(a, b)| a.id == b.id && a.updated_at == b.updated_at);
            if !unchanged {
                continue;
            }
            let invoice_id = Uuid::now_v7();
            let row = store::insert(&mut tx, invoice_id, user.user_id, &fields, now).await?;
            for (entry, rate) in &rates {
                if !time_store::mark_invoiced(&mut tx, *entry, invoice_id, *rate, &fields.currency, now).await? {
                    return Err(FreelanceError::NoBillableTime);
                }
            }
            tx.commit().await?;
            return self.invoice_view(row).await;
        }
        Err(FreelanceError::TimeChanged)
    }

    /// The draft `entries` make, and the rate each is billed at.
    async fn plan(
        &self,
        user: &AuthUser,
        project: &work::Project,
        entries: &[crate::model::TimeEntryRow],
    ) -> Result<(DraftFields, Vec<(Uuid, i64)>)> {
        let lookups: Lookups = self.lookups(user, entries).await?;
        // The client: the project's if it is one of the caller's, else the one all entries name.
        let project_client = match project.client_id {
            Some(id) => clients::get(&self.platform.db, id, user.user_id).await.ok().map(|c| c.id),
            None => None,
        };
        let entry_clients: std::collections::BTreeSet<Uuid> = entries.iter().filter_map(|e| e.client_id).collect();
        let client_id = match (project_client, entry_clients.len()) {
            (Some(id), _) => id,
            (None, 1) => entry_clients.into_iter().next().ok_or(FreelanceError::NoBillableTime)?,
            _ => {
                return Err(FreelanceError::field(
                    "project_id",
                    "the project has no client of yours (set its client, or the entries' client)",
                ));
            }
        };
        // Group by task and rate, in the order the time was worked.
        let mut groups: BTreeMap<(Option<Uuid>, i64), (usize, i64)> = BTreeMap::new();
        let mut rates = Vec::new();
        let mut currencies = std::collections::BTreeSet::new();
        let mut unrated = 0;
        let now = Ts::now();
        for entry in entries {
            let Some(rate) = lookups.rate(entry) else {
                unrated += 1;
                continue;
            };
            currencies.insert(rate.currency);
            let next = groups.len();
            let group = groups.entry((entry.task_id, rate.minor)).or_insert((next, 0));
            group.1 += entry.seconds(now);
            rates.push((entry.id, rate.minor));
        }
        if unrated > 0 {
            return Err(FreelanceError::field(
                "project_id",
                format!("{unrated} time entries have no rate: give the entries, the project or the client one"),
            ));
        }
        let currency = match currencies.len() {
            1 => currencies.into_iter().next().unwrap_or("EUR"),
            _ => return Err(FreelanceError::field("project_id", "the time is billed in several currencies")),
        };
        let exponent = money::exponent(currency);
        let mut lines: Vec<(usize, LineInput)> = Vec::new();
        for ((task, rate), (order, seconds)) in &groups {
            let title = match task {
                Some(task) => self.work.task(user, *task).await.ok().map(|t| t.title),
                None => None,
            };
            let quantity_milli =
                i64::try_from(money::div_half_even(i128::from(*seconds) * 1000, 3600)).unwrap_or(0).max(1);
            lines.push((
                *order,
                LineInput {
                    description: title.unwrap_or_else(|| format!("Work on {}", project.name)),
                    quantity: crate::model::thousandths(quantity_milli),
                    unit_price: money::format_amount(*rate, exponent),
                },
            ));
        }
        lines.sort_by_key(|(order, _)| *order);
        let input = InvoiceInput {
            client_id: Some(client_id),
            project_id: Some(project.id),
            currency: Some(currency.to_string()),
            lines: lines.into_iter().map(|(_, l)| l).collect(),
            ..InvoiceInput::default()
        };
        Ok((self.draft_fields(user, &input).await?, rates))
    }
}
