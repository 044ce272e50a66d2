//! Clients as stored and as the API shows them.

use platform::db::Ts;
use platform::money;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A client as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub address: Option<String>,
    pub tax_id: Option<String>,
    pub currency: Option<String>,
    pub hourly_rate_minor: Option<i64>,
    pub notes: Option<String>,
    pub archived_at: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A client of the caller's.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::Client)]
pub struct Client {
    pub id: Uuid,
    /// 1–200 characters.
    pub name: String,
    pub email: Option<String>,
    /// E.164 (`+14155550100`).
    pub phone: Option<String>,
    pub company: Option<String>,
    /// Postal address, several lines.
    pub address: Option<String>,
    /// VAT number or other tax id, as the client gave it.
    pub tax_id: Option<String>,
    /// The currency invoices to this client default to (ISO 4217).
    pub currency: Option<String>,
    /// The client's default hourly rate in `currency` (a decimal string): time on a project of
    /// this client without a rate of its own is billed at it.
    pub hourly_rate: Option<String>,
    pub notes: Option<String>,
    /// Archived clients are left out of the list unless asked for.
    pub archived: bool,
    pub archived_at: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl From<ClientRow> for Client {
    fn from(r: ClientRow) -> Self {
        let exponent = r.currency.as_deref().map_or(2, money::exponent);
        Self {
            id: r.id,
            name: r.name,
            email: r.email,
            phone: r.phone,
            company: r.company,
            address: r.address,
            tax_id: r.tax_id,
            hourly_rate: r.hourly_rate_minor.map(|m| money::format_amount(m, exponent)),
            currency: r.currency,
            notes: r.notes,
            archived: r.archived_at.is_some(),
            archived_at: r.archived_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}
