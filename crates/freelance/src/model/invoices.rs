//! Invoices as stored and as the API shows them, and the arithmetic of their totals: the only
//! place an invoice's amounts are computed.

use chrono::NaiveDate;
use platform::db::Ts;
use platform::money;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Where an invoice is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = freelance::InvoiceStatus)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Editable, without a number.
    Draft,
    /// Numbered and mailed; nothing paid.
    Sent,
    /// Some of the total paid.
    PartiallyPaid,
    /// The total paid.
    Paid,
    /// Past its due date with a balance left (set by the overdue job).
    Overdue,
    /// Cancelled after sending; keeps its number.
    Void,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Sent => "sent",
            Self::PartiallyPaid => "partially_paid",
            Self::Paid => "paid",
            Self::Overdue => "overdue",
            Self::Void => "void",
        }
    }

    pub fn from_stored(s: &str) -> Self {
        match s {
            "sent" => Self::Sent,
            "partially_paid" => Self::PartiallyPaid,
            "paid" => Self::Paid,
            "overdue" => Self::Overdue,
            "void" => Self::Void,
            _ => Self::Draft,
        }
    }

    /// Issued and not settled: payments may be recorded.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Sent | Self::PartiallyPaid | Self::Overdue)
    }
}

/// When an invoice is due after it is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = freelance::PaymentTerms)]
#[serde(rename_all = "snake_case")]
pub enum Terms {
    DueOnReceipt,
    #[serde(rename = "net_15")]
    Net15,
    #[serde(rename = "net_30")]
    Net30,
    #[serde(rename = "net_60")]
    Net60,
}

impl Terms {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DueOnReceipt => "due_on_receipt",
            Self::Net15 => "net_15",
            Self::Net30 => "net_30",
            Self::Net60 => "net_60",
        }
    }

    pub fn from_stored(s: &str) -> Self {
        match s {
            "net_15" => Self::Net15,
            "net_30" => Self::Net30,
            "net_60" => Self::Net60,
            _ => Self::DueOnReceipt,
        }
    }

    /// Days from issue to due date.
    pub fn days(self) -> i64 {
        match self {
            Self::DueOnReceipt => 0,
            Self::Net15 => 15,
            Self::Net30 => 30,
            Self::Net60 => 60,
        }
    }

    /// For documents.
    pub fn label(self) -> &'static str {
        match self {
            Self::DueOnReceipt => "Due on receipt",
            Self::Net15 => "Net 15 days",
            Self::Net30 => "Net 30 days",
            Self::Net60 => "Net 60 days",
        }
    }
}

/// How a payment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = freelance::PaymentMethod)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    BankTransfer,
    Card,
    Cash,
    Check,
    Paypal,
    Other,
}

impl PaymentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BankTransfer => "bank_transfer",
            Self::Card => "card",
            Self::Cash => "cash",
            Self::Check => "check",
            Self::Paypal => "paypal",
            Self::Other => "other",
        }
    }

    pub fn from_stored(s: &str) -> Self {
        match s {
            "bank_transfer" => Self::BankTransfer,
            "card" => Self::Card,
            "cash" => Self::Cash,
            "check" => Self::Check,
            "paypal" => Self::Paypal,
            _ => Self::Other,
        }
    }
}

/// How often a recurring invoice is copied and sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = freelance::RecurrenceEvery)]
#[serde(rename_all = "snake_case")]
pub enum Every {
    Month,
    Quarter,
    Year,
}

impl Every {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Quarter => "quarter",
            Self::Year => "year",
        }
    }

    pub fn from_stored(s: &str) -> Self {
        match s {
            "quarter" => Self::Quarter,
            "year" => Self::Year,
            _ => Self::Month,
        }
    }

    /// The date one period after `date` (the end of a shorter month when the day is missing:
    /// 31 January is followed by the last day of February).
    pub fn after(self, date: NaiveDate) -> Option<NaiveDate> {
        let months = match self {
            Self::Month => 1,
            Self::Quarter => 3,
            Self::Year => 12,
        };
        date.checked_add_months(chrono::Months::new(months))
    }
}

/// An invoice's recurrence.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::Recurrence)]
pub struct Recurrence {
    pub every: Every,
    /// The day the next copy is made and sent.
    pub next_on: NaiveDate,
}

/// The number an invoice is known by: `INV-00001`.
pub fn invoice_number(n: i64) -> String {
    format!("INV-{n:05}")
}

/// A decimal kept in thousandths (quantities, percentages), written without trailing zeros:
/// `1500` → `"1.5"`, `2000` → `"2"`.
pub fn thousandths(value: i64) -> String {
    let text = money::format_amount(value, 3);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The largest amount an invoice may reach, in minor units (ten trillion units of a currency
/// with cents): far above any real invoice, far below where `i64` arithmetic could overflow.
pub const MAX_TOTAL_MINOR: i64 = 1_000_000_000_000_000;

/// A discount before taxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    None,
    /// Thousandths of a percent of the subtotal (12.5 % = 12 500).
    Percent(i64),
    /// A fixed amount in minor units, at most the subtotal.
    Amount(i64),
}

/// An invoice's computed amounts, in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    /// The lines' amounts, each quantity × unit price rounded half to even.
    pub lines: Vec<i64>,
    pub subtotal: i64,
    pub discount: i64,
    /// One per tax rate, each on the subtotal after the discount, rounded half to even.
    pub taxes: Vec<i64>,
    pub tax_total: i64,
    pub total: i64,
}

/// Why totals could not be computed (a message for a field error).
pub type TotalsError = &'static str;

/// A line's amount: `quantity_milli` thousandths × `unit_price_minor`, rounded half to even
/// to the minor unit.
pub fn line_amount(quantity_milli: i64, unit_price_minor: i64) -> Option<i64> {
    let exact = i128::from(quantity_milli) * i128::from(unit_price_minor);
    i64::try_from(money::div_half_even(exact, 1000)).ok().filter(|a| *a <= MAX_TOTAL_MINOR)
}

/// Computes every amount of an invoice: lines, then the discount on their sum, then each tax
/// on what is left, then the total. `lines` are (quantity in thousandths, unit price in minor
/// units); `tax_rates` are thousandths of a percent.
pub fn compute_totals(lines: &[(i64, i64)], discount: Discount, tax_rates: &[i64]) -> Result<Totals, TotalsError> {
    const TOO_LARGE: TotalsError = "makes the invoice's total too large";
    let amounts: Vec<i64> =
        lines.iter().map(|(q, p)| line_amount(*q, *p).ok_or(TOO_LARGE)).collect::<Result<_, _>>()?;
    let subtotal = amounts.iter().try_fold(0i64, |sum, a| sum.checked_add(*a)).ok_or(TOO_LARGE)?;
    if subtotal > MAX_TOTAL_MINOR {
        return Err(TOO_LARGE);
    }
    let discount = match discount {
        Discount::None => 0,
        Discount::Percent(milli) => {
            i64::try_from(money::div_half_even(i128::from(subtotal) * i128::from(milli), 100_000))
                .map_err(|_| TOO_LARGE)?
        }
        Discount::Amount(minor) if minor > subtotal => return Err("must not exceed the subtotal"),
        Discount::Amount(minor) => minor,
    };
    let taxable = subtotal - discount;
    let taxes: Vec<i64> = tax_rates
        .iter()
        .map(|rate| i64::try_from(money::div_half_even(i128::from(taxable) * i128::from(*rate), 100_000)))
        .collect::<Result<_, _>>()
        .map_err(|_| TOO_LARGE)?;
    let tax_total: i64 = taxes.iter().sum();
    let total = taxable.checked_add(tax_total).filter(|t| *t <= MAX_TOTAL_MINOR).ok_or(TOO_LARGE)?;
    Ok(Totals { lines: amounts, subtotal, discount, taxes, tax_total, total })
}

/// An invoice as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub client_id: Uuid,
    pub project_id: Option<Uuid>,
    pub number: Option<i64>,
    pub status: String,
    pub currency: String,
    pub terms: String,
    pub issued_on: Option<NaiveDate>,
    pub due_on: Option<NaiveDate>,
    pub discount_percent_milli: Option<i64>,
    pub discount_minor: Option<i64>,
    pub subtotal_minor: i64,
    pub discount_total_minor: i64,
    pub tax_total_minor: i64,
    pub total_minor: i64,
    pub paid_minor: i64,
    pub notes: Option<String>,
    pub public_token_hash: Option<String>,
    pub sent_at: Option<Ts>,
    pub paid_at: Option<Ts>,
    pub overdue_at: Option<Ts>,
    pub reminded_at: Option<Ts>,
    pub voided_at: Option<Ts>,
    pub recur_every: Option<String>,
    pub recur_next_on: Option<NaiveDate>,
    pub recurred_from: Option<Uuid>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl InvoiceRow {
    pub fn status(&self) -> InvoiceStatus {
        InvoiceStatus::from_stored(&self.status)
    }

    pub fn exponent(&self) -> u32 {
        money::exponent(&self.currency)
    }

    pub fn amount(&self, minor: i64) -> String {
        money::format_amount(minor, self.exponent())
    }
}

/// An invoice line as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LineRow {
    pub position: i32,
    pub description: String,
    pub quantity_milli: i64,
    pub unit_price_minor: i64,
    pub amount_minor: i64,
}

/// An invoice's tax as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaxRow {
    pub position: i32,
    pub name: String,
    pub rate_milli: i64,
    pub amount_minor: i64,
}

/// A payment as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub amount_minor: i64,
    pub paid_on: NaiveDate,
    pub method: String,
    pub note: Option<String>,
    pub created_at: Ts,
}

/// A line of an invoice.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::InvoiceLine)]
pub struct Line {
    pub description: String,
    /// Decimal, up to 3 places.
    pub quantity: String,
    /// Decimal string in the invoice's currency.
    pub unit_price: String,
    /// Quantity × unit price, rounded half to even to the currency's minor unit.
    pub amount: String,
}

/// A tax of an invoice.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::InvoiceTax)]
pub struct Tax {
    pub name: String,
    /// Percent, up to 3 places (`"7.7"`).
    pub rate: String,
    /// The rate applied to the subtotal after the discount, rounded half to even.
    pub amount: String,
}

/// A payment received for an invoice.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::Payment)]
pub struct Payment {
    pub id: Uuid,
    pub amount: String,
    pub paid_on: NaiveDate,
    pub method: PaymentMethod,
    pub note: Option<String>,
    pub created_at: Ts,
}

/// An invoice of the caller's, whole.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::Invoice)]
pub struct Invoice {
    pub id: Uuid,
    /// `INV-00001`, given when the invoice is sent; null on drafts.
    pub number: Option<String>,
    pub status: InvoiceStatus,
    pub client_id: Uuid,
    pub project_id: Option<Uuid>,
    /// ISO 4217 code of every amount.
    pub currency: String,
    pub terms: Terms,
    pub issued_on: Option<NaiveDate>,
    pub due_on: Option<NaiveDate>,
    pub lines: Vec<Line>,
    /// Percent off the subtotal (up to 3 places), when the discount is a percentage.
    pub discount_percent: Option<String>,
    /// A fixed amount off the subtotal, when the discount is an amount.
    pub discount_amount: Option<String>,
    pub taxes: Vec<Tax>,
    pub subtotal: String,
    /// The discount applied.
    pub discount_total: String,
    pub tax_total: String,
    pub total: String,
    pub paid: String,
    /// Total minus paid.
    pub balance: String,
    pub notes: Option<String>,
    pub payments: Vec<Payment>,
    /// True while a public link to the invoice works.
    pub public_link: bool,
    /// Copied and sent on a schedule; null when not recurring.
    pub recurrence: Option<Recurrence>,
    /// The recurring invoice this one is a copy of.
    pub recurred_from: Option<Uuid>,
    pub sent_at: Option<Ts>,
    pub paid_at: Option<Ts>,
    pub overdue_at: Option<Ts>,
    pub voided_at: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl Invoice {
    pub fn new(row: InvoiceRow, lines: Vec<LineRow>, taxes: Vec<TaxRow>, payments: Vec<PaymentRow>) -> Self {
        let amount = |minor: i64| row.amount(minor);
        Self {
            id: row.id,
            number: row.number.map(invoice_number),
            status: row.status(),
            client_id: row.client_id,
            project_id: row.project_id,
            terms: Terms::from_stored(&row.terms),
            issued_on: row.issued_on,
            due_on: row.due_on,
            lines: lines
                .iter()
                .map(|l| Line {
                    description: l.description.clone(),
                    quantity: thousandths(l.quantity_milli),
                    unit_price: amount(l.unit_price_minor),
                    amount: amount(l.amount_minor),
                })
                .collect(),
            discount_percent: row.discount_percent_milli.map(thousandths),
            discount_amount: row.discount_minor.map(amount),
            taxes: taxes
                .iter()
                .map(|t| Tax { name: t.name.clone(), rate: thousandths(t.rate_milli), amount: amount(t.amount_minor) })
                .collect(),
            subtotal: amount(row.subtotal_minor),
            discount_total: amount(row.discount_total_minor),
            tax_total: amount(row.tax_total_minor),
            total: amount(row.total_minor),
            paid: amount(row.paid_minor),
            balance: amount(row.total_minor - row.paid_minor),
            notes: row.notes.clone(),
            payments: payments
                .into_iter()
                .map(|p| Payment {
                    id: p.id,
                    amount: amount(p.amount_minor),
                    paid_on: p.paid_on,
                    method: PaymentMethod::from_stored(&p.method),
                    note: p.note,
                    created_at: p.created_at,
                })
                .collect(),
            public_link: row.public_token_hash.is_some(),
            recurrence: row
                .recur_every
                .as_deref()
                .zip(row.recur_next_on)
                .map(|(every, next_on)| Recurrence { every: Every::from_stored(every), next_on }),
            recurred_from: row.recurred_from,
            sent_at: row.sent_at,
            paid_at: row.paid_at,
            overdue_at: row.overdue_at,
            voided_at: row.voided_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            currency: row.currency,
        }
    }
}

/// A public link, as created: the only time its token is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::PublicLink)]
pub struct PublicLink {
    /// The page for the client (`?format=pdf` for the PDF).
    pub url: String,
    pub token: String,
}

/// An invoice in a list, without its lines and payments.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::InvoiceSummary)]
pub struct InvoiceSummary {
    pub id: Uuid,
    pub number: Option<String>,
    pub status: InvoiceStatus,
    pub client_id: Uuid,
    pub client_name: String,
    pub currency: String,
    pub total: String,
    pub paid: String,
    pub balance: String,
    pub issued_on: Option<NaiveDate>,
    pub due_on: Option<NaiveDate>,
    pub created_at: Ts,
}

impl InvoiceSummary {
    /// The summary of an invoice, its amounts in `currency`.
    #[allow(clippy::too_many_arguments)] // The columns a list reads, each once.
    pub fn new(
        id: Uuid,
        number: Option<i64>,
        status: &str,
        client_id: Uuid,
        client_name: String,
        currency: String,
        (total_minor, paid_minor): (i64, i64),
        (issued_on, due_on): (Option<NaiveDate>, Option<NaiveDate>),
        created_at: Ts,
    ) -> Self {
        let exponent = money::exponent(&currency);
        let amount = |minor: i64| money::format_amount(minor, exponent);
        Self {
            id,
            number: number.map(invoice_number),
            status: InvoiceStatus::from_stored(status),
            client_id,
            client_name,
            total: amount(total_minor),
            paid: amount(paid_minor),
            balance: amount(total_minor - paid_minor),
            currency,
            issued_on,
            due_on,
            created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_half_to_even_at_each_currencys_minor_unit() {
        // (quantity in thousandths, unit price in minor units, amount)
        let table = [
            // EUR: 0.5 × 0.01 = 0.005 → 0.00; 1.5 × 0.01 = 0.015 → 0.02; 2.5 × 0.01 → 0.02.
            (500, 1, 0),
            (1500, 1, 2),
            (2500, 1, 2),
            (3500, 1, 4),
            // JPY: 0.5 × ¥1 → ¥0, 1.5 × ¥1 → ¥2, 2.5 × ¥3 = ¥7.5 → ¥8.
            (2500, 3, 8),
            // KWD (3 decimals): 0.001 × 0.5 KWD... 1.001 × 1.234 = 1.235234 → 1.235.
            (1001, 1234, 1235),
            (1, 500, 0),
            (1, 1500, 2),
            (3, 1, 0),
            (1000, 12_345, 12_345),
        ];
        for (q, p, amount) in table {
            assert_eq!(line_amount(q, p), Some(amount), "{q} × {p}");
        }
    }

    #[test]
    fn discount_comes_before_each_tax() {
        // 3 × 33.33 = 99.99; 10 % off = 9.999 → 10.00; 89.99 taxed at 7.7 % = 6.92923 → 6.93
        // and at 2.5 % = 2.24975 → 2.25; total 89.99 + 9.18 = 99.17.
        let t = compute_totals(&[(3000, 3333)], Discount::Percent(10_000), &[7_700, 2_500]).unwrap();
        assert_eq!(
            (t.subtotal, t.discount, t.taxes.clone(), t.tax_total, t.total),
            (9999, 1000, vec![693, 225], 918, 9917)
        );
        // A fixed discount above the subtotal is refused; equal to it leaves zero.
        assert!(compute_totals(&[(1000, 500)], Discount::Amount(501), &[]).is_err());
        assert_eq!(compute_totals(&[(1000, 500)], Discount::Amount(500), &[20_000]).unwrap().total, 0);
        // Half-even on the tax too: 0.05 at 10 % = 0.005 → 0.00; 0.15 → 0.015 → 0.02.
        assert_eq!(compute_totals(&[(1000, 5)], Discount::None, &[10_000]).unwrap().taxes, vec![0]);
        assert_eq!(compute_totals(&[(1000, 15)], Discount::None, &[10_000]).unwrap().taxes, vec![2]);
        // Far-out values are refused, not wrapped.
        assert!(compute_totals(&[(1_000_000_000, i64::MAX / 2)], Discount::None, &[]).is_err());
        assert!(compute_totals(&[(1000, MAX_TOTAL_MINOR), (1000, 1)], Discount::None, &[]).is_err());
    }

    #[test]
    fn numbers_and_thousandths_are_written_for_people() {
        assert_eq!(invoice_number(1), "INV-00001");
        assert_eq!(invoice_number(123_456), "INV-123456");
        assert_eq!(thousandths(1500), "1.5");
        assert_eq!(thousandths(2000), "2");
        assert_eq!(thousandths(7700), "7.7");
        assert_eq!(thousandths(1), "0.001");
    }
}
