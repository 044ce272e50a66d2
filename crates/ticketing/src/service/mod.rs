//! Ticketing's use cases, one room each: events, bundles, sales (purchases, tickets,
//! check-in, the organiser's views) and refunds; here the service they share and what a
//! user's export and departure do.

mod bundles;
mod checkout;
mod events;
mod refunds;
mod sales;

pub use bundles::BundleInput;
pub use checkout::{MAX_QUANTITY, Target};
pub use events::{EventInput, EventQuery, MAX_CAPACITY, MAX_PRICE};
pub use refunds::RefundQuery;

use crate::error::TicketingError;
use crate::live::SeatsFeed;
use crate::model::{Event, EventRow, EventStatus, Refund, Seat, Ticket, TicketRow, TicketStatus};
use crate::store;
use accounts::Accounts;
use notifications::{NewNotification, Notifications, Recorded};
use platform::Platform;
use platform::auth::AuthUser;
use platform::db::{Ts, Tx};
use platform::pagination::Page;
use std::collections::HashMap;
use uuid::Uuid;

type Result<T> = std::result::Result<T, TicketingError>;

/// The ticketing service. Cheap to clone.
#[derive(Clone)]
pub struct Ticketing {
    platform: Platform,
    accounts: Accounts,
    notifications: Notifications,
    seats: SeatsFeed,
    checkout: checkout::Checkout,
}

impl Ticketing {
    /// The service over the platform, accounts (who may create events, who buyers are) and
    /// notifications (refunds and cancellations tell the people concerned). Starts the checkout
    /// task that writes purchases (so it must be called inside the Tokio runtime).
    pub fn new(platform: Platform, accounts: Accounts, notifications: Notifications) -> Self {
        let seats = SeatsFeed::new(platform.clone());
        let (checkout, orders) = checkout::Checkout::start();
        let ticketing = Self { platform, accounts, notifications, seats, checkout };
        tokio::spawn(checkout::run(ticketing.clone(), orders));
        ticketing
    }

    /// The user's events, tickets and refund requests, for their data export.
    pub async fn export(&self, user: Uuid) -> Result<serde_json::Value> {
        let db = &self.platform.db;
        let events: Vec<Event> = store::owned_events(db, user).await?.into_iter().map(Event::from).collect();
        let tickets = self.with_seats(store::sales::all_tickets_of_buyer(db, user).await?).await?;
        let refunds: Vec<Refund> =
            store::refunds::all_of_buyer(db, user).await?.into_iter().map(Refund::from).collect();
        Ok(serde_json::json!({ "events": events, "tickets": tickets, "refunds": refunds }))
    }

    /// Whether the user has an event others could see, or bought a ticket (its organiser keeps
    /// the record).
    pub async fn has_activity(&self, tx: &mut Tx, user: Uuid) -> Result<bool> {
        Ok(store::has_published(tx, user).await? || store::sales::has_tickets(tx, user).await?)
    }

    /// Refuses callers without a verified email address or phone number: organising and buying
    /// need someone the platform can reach.
    async fn require_verified(&self, user: &AuthUser) -> Result<()> {
        let me = self.accounts.user(user.user_id).await?;
        if !me.email_verified && me.phone.is_none() {
            return Err(TicketingError::VerificationRequired);
        }
        Ok(())
    }

    /// Inside the transaction deleting `user`: their tickets to events not started (and not
    /// used) are given back, the seats returning to sale and pending refund requests withdrawn;
    /// their own events not started are called off first, every valid ticket refunded and its
    /// buyer told, since the events go with the account. What to announce once it commits.
    pub async fn user_departing(&self, tx: &mut Tx, user: Uuid) -> Result<Departed> {
        let now = Ts::now();
        let mut departed = Departed::default();
        let tickets = store::sales::upcoming_tickets_of(tx, user, now).await?;
        let owned: Vec<EventRow> = store::owned_events_in(tx, user)
            .await?
            .into_iter()
            .filter(|e| e.starts_at > now && e.status != EventStatus::Cancelled.as_str())
            .collect();
        // Every event whose seats change, locked in one order before anything is written.
        let mut touched = Vec::new();
        for ticket in &tickets {
            touched.extend(store::sales::seat_events(tx, ticket.id).await?);
        }
        for event in &owned {
            touched.extend(store::sales::events_sharing_valid_tickets(tx, event.id).await?);
        }
        store::lock_events(tx, &touched).await?;
        for ticket in tickets {
            store::refunds::withdraw_pending(tx, ticket.id).await?;
            departed.seats.extend(sales::void_and_return(tx, ticket.id, TicketStatus::Cancelled, now).await?);
        }
        for event in &owned {
            let refunded = self.refund_everyone(tx, event, None, now).await?;
            departed.notified.extend(refunded.notified);
            departed.seats.extend(refunded.seats);
        }
        Ok(departed)
    }

    /// After the deletion committed: the notifications and the seat counts.
    pub fn user_departed(&self, departed: &Departed) {
        self.notifications.announce(&departed.notified);
        self.seats.changed(&departed.seats);
    }

    /// Refunds every valid ticket with a seat at `event` (a bundle ticket with all its seats),
    /// grants their pending refund requests, and tells each buyer once, in `tx`. The caller has
    /// locked the events concerned ([`store::sales::events_sharing_valid_tickets`]). Set-based:
    /// a few statements whatever the number of tickets, one notice per buyer.
    async fn refund_everyone(&self, tx: &mut Tx, event: &EventRow, actor: Option<Uuid>, now: Ts) -> Result<Refunded> {
        let voided = store::sales::refund_all_at(tx, event.id, now).await?;
        let ids: Vec<Uuid> = voided.iter().map(|(id, _)| *id).collect();
        let mut seats = Vec::new();
        for (other, count) in store::sales::seats_per_event(tx, &ids).await? {
            store::return_seat_count(tx, other, count).await?;
            seats.push(other);
        }
        store::refunds::approve_all_at(tx, event.id, actor, now).await?;
        let mut buyers = std::collections::BTreeMap::<Uuid, i64>::new();
        for buyer in voided.iter().filter_map(|(_, buyer)| *buyer) {
            *buyers.entry(buyer).or_default() += 1;
        }
        let mut notified = Vec::with_capacity(buyers.len());
        for (buyer, count) in buyers {
            let plural = if count == 1 { "ticket was" } else { "tickets were" };
            let notice = NewNotification {
                user_id: buyer,
                actor,
                kind: crate::events::EVENT_CANCELLED_KIND,
                title: format!("Event cancelled: {}", event.name),
                body: format!(
                    "{} on {} was cancelled by its organiser. Your {count} {plural} refunded.",
                    event.name,
                    event.starts_at.to_rfc3339()
                ),
                data: serde_json::json!({ "event_id": event.id, "tickets": count }),
            };
            notified.push(self.notifications.record(tx, notice).await?);
        }
        Ok(Refunded { tickets: ids, notified, seats })
    }

    /// The tickets with their seats, in the same order.
    async fn with_seats(&self, rows: Vec<TicketRow>) -> Result<Vec<Ticket>> {
        let ids: Vec<Uuid> = rows.iter().map(|t| t.id).collect();
        let mut seats: HashMap<Uuid, Vec<Seat>> = HashMap::new();
        for s in store::sales::seats_of(&self.platform.db, &ids).await? {
            seats.entry(s.ticket_id).or_default().push(Seat {
                event_id: s.event_id,
                starts_at: s.starts_at,
                checked_in_at: s.checked_in_at,
            });
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let own = seats.remove(&row.id).unwrap_or_default();
                Ticket::new(row, own)
            })
            .collect())
    }
}

/// What refunding an event's tickets did.
struct Refunded {
    /// The tickets refunded.
    tickets: Vec<Uuid>,
    /// The buyers' notices, to announce after the commit.
    notified: Vec<Recorded>,
    /// The events whose seats came back.
    seats: Vec<Uuid>,
}

/// What an account's deletion changed in ticketing, announced once it commits.
#[derive(Default)]
pub struct Departed {
    notified: Vec<Recorded>,
    seats: Vec<Uuid>,
}

/// Splits a page read with one row too many: the page, and the cursor of the next one.
fn page<T, R>(rows: Vec<R>, limit: i64, cursor: impl Fn(&R) -> String, map: impl FnMut(R) -> T) -> Page<T> {
    Page::split(rows, limit, cursor, map)
}

/// An id cursor (`before` or `after` a row), refused with one code when it is not an id.
fn id_cursor(cursor: Option<&str>) -> Result<Option<Uuid>> {
    cursor
        .filter(|c| !c.is_empty())
        .map(|c| Uuid::parse_str(c).map_err(|_| TicketingError::field("cursor", "is not a valid cursor")))
        .transpose()
}
