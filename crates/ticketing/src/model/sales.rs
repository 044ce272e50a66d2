//! What is sold, as stored and as the API shows it: bundles, purchases, tickets with their
//! seats, refund requests, and the organiser's door list and numbers.

use super::{EventRow, price_text};
use platform::db::Ts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = ticketing::TicketStatus)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Admits its holder.
    Valid,
    /// Given back by its buyer before the event; the seat was returned.
    Cancelled,
    /// Refunded (a refund approved, or the event cancelled); the seat was returned.
    Refunded,
}

impl TicketStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Self {
        match s {
            "cancelled" => Self::Cancelled,
            "refunded" => Self::Refunded,
            _ => Self::Valid,
        }
    }
}

/// A ticket as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketRow {
    pub id: Uuid,
    pub code: String,
    pub purchase_id: Uuid,
    pub buyer_id: Option<Uuid>,
    pub organizer_id: Uuid,
    pub event_id: Option<Uuid>,
    pub bundle_id: Option<Uuid>,
    pub price_minor: i64,
    pub currency: String,
    pub status: String,
    pub created_at: Ts,
    pub voided_at: Option<Ts>,
}

/// One seat of a ticket as stored: the event it admits to, and when it was used.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SeatRow {
    pub ticket_id: Uuid,
    pub event_id: Uuid,
    pub starts_at: Ts,
    pub checked_in_at: Option<Ts>,
}

/// A seat: one event a ticket admits to.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ticketing::Seat)]
pub struct Seat {
    /// The event.
    pub event_id: Uuid,
    /// When the event starts.
    pub starts_at: Ts,
    /// When the holder was let in, if they were.
    pub checked_in_at: Option<Ts>,
}

/// A ticket.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ticketing::Ticket)]
pub struct Ticket {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// The secret that admits: shown as a QR code at the door. Anyone who has it can get in,
    /// so it is shown only to the buyer, the organiser and admins.
    pub code: String,
    /// The purchase it came with.
    pub purchase_id: Uuid,
    /// Who bought it (None once they deleted their account).
    pub buyer_id: Option<Uuid>,
    /// The event, for a ticket of one event.
    pub event_id: Option<Uuid>,
    /// The bundle, for a ticket of a bundle (one seat in each of its events).
    pub bundle_id: Option<Uuid>,
    /// What it cost, a decimal string.
    pub price: String,
    /// ISO 4217 code.
    pub currency: String,
    /// `valid`, `cancelled` or `refunded`.
    pub status: TicketStatus,
    /// The events it admits to.
    pub seats: Vec<Seat>,
    /// When it was bought.
    pub created_at: Ts,
    /// When it was cancelled or refunded.
    pub voided_at: Option<Ts>,
}

impl Ticket {
    /// The ticket with its seats.
    pub fn new(row: TicketRow, seats: Vec<Seat>) -> Self {
        Ticket {
            id: row.id,
            price: price_text(row.price_minor, &row.currency),
            code: row.code,
            purchase_id: row.purchase_id,
            buyer_id: row.buyer_id,
            event_id: row.event_id,
            bundle_id: row.bundle_id,
            currency: row.currency,
            status: TicketStatus::parse(&row.status),
            seats,
            created_at: row.created_at,
            voided_at: row.voided_at,
        }
    }
}

/// A purchase as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PurchaseRow {
    pub id: Uuid,
    pub buyer_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub bundle_id: Option<Uuid>,
    pub quantity: i64,
    pub amount_minor: i64,
    pub currency: String,
    pub created_at: Ts,
}

/// A purchase: tickets of one event or bundle, paid together.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ticketing::Purchase)]
pub struct Purchase {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// The event bought, or None for a bundle.
    pub event_id: Option<Uuid>,
    /// The bundle bought, or None for an event.
    pub bundle_id: Option<Uuid>,
    /// Tickets bought, 1–10.
    pub quantity: i64,
    /// The total, a decimal string: the price times the quantity.
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
    /// When it was made.
    pub created_at: Ts,
}

impl From<PurchaseRow> for Purchase {
    fn from(r: PurchaseRow) -> Self {
        Purchase {
            id: r.id,
            event_id: r.event_id,
            bundle_id: r.bundle_id,
            quantity: r.quantity,
            amount: price_text(r.amount_minor, &r.currency),
            currency: r.currency,
            created_at: r.created_at,
        }
    }
}

/// What a purchase answers: the purchase and its tickets.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ticketing::PurchaseResult)]
pub struct PurchaseResult {
    /// The purchase.
    pub purchase: Purchase,
    /// Its tickets, `quantity` of them.
    pub tickets: Vec<Ticket>,
}

/// A bundle as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BundleRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub description: String,
    pub price_minor: i64,
    pub currency: String,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A bundle: several events sold as one ticket at the bundle's price.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ticketing::Bundle)]
pub struct Bundle {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// The organiser (who owns every event of it).
    pub owner_id: Uuid,
    /// 3–100 characters.
    pub name: String,
    /// Up to 5 000 characters.
    pub description: String,
    /// The price of one bundle ticket, a decimal string.
    pub price: String,
    /// ISO 4217 code (every event of the bundle is priced in it).
    pub currency: String,
    /// Its events, soonest first.
    pub event_ids: Vec<Uuid>,
    /// Bundle tickets still for sale: the fewest seats left over its events.
    pub seats_left: i64,
    /// Whether it is sold now: it has events, every one published and not started.
    pub on_sale: bool,
    /// Creation time.
    pub created_at: Ts,
    /// Last change.
    pub updated_at: Ts,
}

impl Bundle {
    /// The bundle with its events (as rows, soonest first).
    pub fn new(row: BundleRow, events: &[EventRow], now: Ts) -> Self {
        let seats_left = events.iter().map(|e| (e.capacity - e.seats_sold).max(0)).min().unwrap_or(0);
        let on_sale = !events.is_empty() && events.iter().all(|e| e.on_sale(now));
        Bundle {
            id: row.id,
            owner_id: row.owner_id,
            price: price_text(row.price_minor, &row.currency),
            name: row.name,
            description: row.description,
            currency: row.currency,
            event_ids: events.iter().map(|e| e.id).collect(),
            seats_left,
            on_sale,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Where a refund request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = ticketing::RefundStatus)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Waiting for the organiser.
    Pending,
    /// Granted: the ticket is refunded.
    Approved,
    /// Declined, finally.
    Rejected,
}

impl RefundStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Self {
        match s {
            "approved" => Self::Approved,
            "rejected" => Self::Rejected,
            _ => Self::Pending,
        }
    }
}

/// A refund request as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefundRow {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub buyer_id: Option<Uuid>,
    pub organizer_id: Uuid,
    pub reason: String,
    pub status: String,
    pub message: Option<String>,
    pub created_at: Ts,
    pub resolved_at: Option<Ts>,
}

/// A refund request.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ticketing::Refund)]
pub struct Refund {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// The ticket.
    pub ticket_id: Uuid,
    /// Who asked (None once they deleted their account).
    pub buyer_id: Option<Uuid>,
    /// Who decides.
    pub organizer_id: Uuid,
    /// Why, 1–1 000 characters.
    pub reason: String,
    /// `pending`, `approved` or `rejected`.
    pub status: RefundStatus,
    /// The organiser's answer to a rejection.
    pub message: Option<String>,
    /// When it was asked.
    pub created_at: Ts,
    /// When it was decided.
    pub resolved_at: Option<Ts>,
}

impl From<RefundRow> for Refund {
    fn from(r: RefundRow) -> Self {
        Refund {
            id: r.id,
            ticket_id: r.ticket_id,
            buyer_id: r.buyer_id,
            organizer_id: r.organizer_id,
            reason: r.reason,
            status: RefundStatus::parse(&r.status),
            message: r.message,
            created_at: r.created_at,
            resolved_at: r.resolved_at,
        }
    }
}

/// An event's ticket as its organiser sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttendeeRow {
    pub ticket_id: Uuid,
    pub code: String,
    pub status: String,
    pub buyer_id: Option<Uuid>,
    pub checked_in_at: Option<Ts>,
}

/// A ticket of one event, for its organiser's door list.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ticketing::Attendee)]
pub struct Attendee {
    /// The ticket's id.
    pub ticket_id: Uuid,
    /// The ticket's code.
    pub code: String,
    /// `valid`, `cancelled` or `refunded`.
    pub status: TicketStatus,
    /// When its holder was let in to this event.
    pub checked_in_at: Option<Ts>,
    /// The buyer's email address (None once they deleted their account).
    pub buyer_email: Option<String>,
    /// The buyer's name, only if their profile is public.
    pub buyer_name: Option<String>,
}

/// Sales of one day.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ticketing::DaySales)]
pub struct DaySales {
    /// The day (UTC), `YYYY-MM-DD`.
    pub day: String,
    /// Tickets sold that day (whatever became of them since).
    pub tickets: i64,
}

/// An event's numbers for its organiser.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ticketing::EventStats)]
pub struct EventStats {
    /// The event.
    pub event_id: Uuid,
    /// Seats in all.
    pub capacity: i64,
    /// Valid tickets (seats taken).
    pub sold: i64,
    /// Valid tickets whose holder was let in.
    pub checked_in: i64,
    /// Tickets refunded.
    pub refunded: i64,
    /// Tickets given back by their buyers.
    pub cancelled: i64,
    /// What the valid tickets brought in, a decimal string; a bundle ticket counts its share.
    pub revenue: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Tickets sold per day, oldest first.
    pub sales_per_day: Vec<DaySales>,
}
