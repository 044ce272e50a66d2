//! Ticketing's data as stored and as the API shows it: events here; what is sold (bundles,
//! purchases, tickets with their seats, refunds, the organiser's views) in [`sales`].

mod sales;

pub use sales::*;

use platform::db::Ts;
use platform::money;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Where an event is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = ticketing::EventStatus)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Being prepared: only its owner and admins see it.
    Draft,
    /// Public and on sale until it starts.
    Published,
    /// Called off: not sold, kept for its buyers.
    Cancelled,
}

impl EventStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "published" => Self::Published,
            "cancelled" => Self::Cancelled,
            _ => Self::Draft,
        }
    }
}

/// An event as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub description: String,
    pub venue: String,
    pub starts_at: Ts,
    pub ends_at: Ts,
    pub capacity: i64,
    pub seats_sold: i64,
    pub price_minor: i64,
    pub currency: String,
    pub status: String,
    pub published_at: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl EventRow {
    /// Whether `caller` (None: anyone) may see it: published ones, cancelled ones that were
    /// published, and the rest to the owner and admins.
    pub fn visible_to(&self, caller: Option<(Uuid, bool)>) -> bool {
        self.published_at.is_some() || caller.is_some_and(|(id, admin)| admin || id == self.owner_id)
    }

    /// Whether it is sold at `now`: published (not a draft, not cancelled) and not started.
    /// (Seats left are the purchase's own check, in its conditional update.)
    pub fn on_sale(&self, now: Ts) -> bool {
        self.status == EventStatus::Published.as_str() && self.starts_at > now
    }
}

/// An event.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ticketing::Event)]
pub struct Event {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// The organiser.
    pub owner_id: Uuid,
    /// 3–100 characters.
    pub name: String,
    /// Up to 5 000 characters.
    pub description: String,
    /// Up to 200 characters.
    pub venue: String,
    /// When it starts; sales end then.
    pub starts_at: Ts,
    /// When it ends (after it starts).
    pub ends_at: Ts,
    /// Seats in all, 1–50 000.
    pub capacity: i64,
    /// Seats taken by tickets.
    pub seats_sold: i64,
    /// Seats still for sale.
    pub seats_left: i64,
    /// Price of one ticket, a decimal string with the currency's decimals (`"25.00"`).
    pub price: String,
    /// ISO 4217 code.
    pub currency: String,
    /// `draft`, `published` or `cancelled`.
    pub status: EventStatus,
    /// When it was first published.
    pub published_at: Option<Ts>,
    /// Creation time.
    pub created_at: Ts,
    /// Last change.
    pub updated_at: Ts,
}

impl From<EventRow> for Event {
    fn from(r: EventRow) -> Self {
        Event {
            id: r.id,
            owner_id: r.owner_id,
            name: r.name,
            description: r.description,
            venue: r.venue,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            capacity: r.capacity,
            seats_sold: r.seats_sold,
            seats_left: (r.capacity - r.seats_sold).max(0),
            price: price_text(r.price_minor, &r.currency),
            currency: r.currency,
            status: EventStatus::parse(&r.status),
            published_at: r.published_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A price in minor units as the API shows it: a decimal string with the currency's decimals.
pub fn price_text(minor: i64, currency: &str) -> String {
    let exponent = money::exponent(currency);
    money::format_amount(minor, exponent)
}
