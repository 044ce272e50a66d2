//! Sales: purchases that take seats all or nothing and never oversell (checked here, written by
//! the [`super::checkout`]), tickets with their codes and QR images, a buyer giving a ticket
//! back, check-in at the door, and the organiser's door list, CSV and numbers.
//!
//! Seats are taken by one conditional update per event (`seats_sold + n <= capacity` in the
//! statement), so whatever races, an event never sells more than its capacity: on SQLite the
//! writers take turns, on PostgreSQL the row lock of the update orders them and each re-checks
//! the condition on the row as the previous one left it. Every write that changes seats locks
//! the events concerned in id order before it locks a ticket, a refund request or a bundle
//! ([`store::lock_events`]), so no two such writes wait on each other in a circle.

use super::checkout::{MAX_QUANTITY, Order, Target};
use super::{Result, Ticketing, id_cursor, page};
use crate::error::TicketingError;
use crate::events::{TICKET_CANCELLED, TICKET_CHECKED_IN};
use crate::model::{
    Attendee, DaySales, EventRow, EventStats, PurchaseResult, Ticket, TicketRow, TicketStatus, price_text,
};
use crate::store;
use platform::auth::AuthUser;
use platform::db::{Ts, Tx};
use platform::pagination::Page;
use uuid::Uuid;

impl Ticketing {
    /// Buys `quantity` tickets of an event or bundle for the caller, all or nothing: 409
    /// `sold_out` (with the seats left) when any event lacks seats, `not_on_sale` when it is not
    /// published, cancelled or started. Retries are made safe by the route's idempotency key.
    /// The purchase is written by the checkout, with the others waiting ([`super::checkout`]).
    pub async fn purchase(&self, user: &AuthUser, target: Target, quantity: i64) -> Result<PurchaseResult> {
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(TicketingError::field("quantity", format!("must be between 1 and {MAX_QUANTITY}")));
        }
        self.require_verified(user).await?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let order = Order { buyer: user.user_id, admin: user.is_admin(), target, quantity, reply };
        self.checkout.buy(order, answer).await
    }

    /// The caller's tickets, newest first.
    pub async fn my_tickets(&self, user: &AuthUser, cursor: Option<&str>, limit: i64) -> Result<Page<Ticket>> {
        let before = id_cursor(cursor)?;
        let rows = store::sales::tickets_of_buyer(&self.platform.db, user.user_id, before, limit).await?;
        let next = page(rows, limit, |t| t.id.to_string(), |t| t);
        Ok(Page { items: self.with_seats(next.items).await?, next_cursor: next.next_cursor })
    }

    /// The ticket with `code`, for its buyer, its organiser and admins; anyone else is told it
    /// does not exist, as for a code that does not.
    pub async fn ticket(&self, user: &AuthUser, code: &str) -> Result<Ticket> {
        let row = self.readable_ticket(user, code).await?;
        Ok(self.with_seats(vec![row]).await?.remove(0))
    }

    async fn readable_ticket(&self, user: &AuthUser, code: &str) -> Result<TicketRow> {
        let code = known_shape(code)?;
        let row = store::sales::ticket_by_code(&self.platform.db, code).await?.ok_or(TicketingError::NotFound)?;
        let me = Some(user.user_id);
        if row.buyer_id != me && row.organizer_id != user.user_id && !user.is_admin() {
            return Err(TicketingError::NotFound);
        }
        Ok(row)
    }

    /// The ticket's code as a QR image (`png` or SVG), for whoever may read the ticket.
    pub async fn ticket_qr(&self, user: &AuthUser, code: &str, png: bool) -> Result<Vec<u8>> {
        let row = self.readable_ticket(user, code).await?;
        let image = if png { crate::qr::png(&row.code) } else { crate::qr::svg(&row.code).map(String::into_bytes) };
        Ok(image.map_err(platform::error::Internal::new)?)
    }

    /// The buyer gives a valid ticket back before its first event starts and before it was used
    /// (`already_checked_in`), and while no refund request of theirs is pending
    /// (`refund_exists`): the seats return to sale.
    pub async fn cancel_ticket(&self, user: &AuthUser, code: &str) -> Result<Ticket> {
        let code = known_shape(code)?;
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        let found = store::sales::ticket_by_code_unlocked(&mut tx, code).await?.ok_or(TicketingError::NotFound)?;
        buyer_only(&found, user)?;
        // The events first, then the ticket: the one order of locks.
        store::lock_ticket_events(&mut tx, found.id).await?;
        let row = store::sales::ticket_by_code_in(&mut tx, code).await?.ok_or(TicketingError::NotFound)?;
        if row.status != TicketStatus::Valid.as_str() {
            return Err(TicketingError::TicketVoid);
        }
        let seats = store::sales::seats_in(&mut tx, row.id).await?;
        if let Some(at) = seats.iter().find_map(|s| s.checked_in_at) {
            return Err(TicketingError::AlreadyCheckedIn { at });
        }
        if seats.iter().any(|s| s.starts_at <= now) {
            return Err(TicketingError::EventStarted);
        }
        if store::refunds::pending_for(&mut tx, row.id).await? {
            return Err(TicketingError::RefundExists);
        }
        let returned = void_and_return(&mut tx, row.id, TicketStatus::Cancelled, now).await?;
        if returned.is_empty() {
            return Err(TicketingError::TicketVoid);
        }
        let payload = serde_json::json!({ "ticket_id": row.id, "buyer_id": user.user_id, "event_ids": returned });
        self.platform.outbox.event(&mut tx, TICKET_CANCELLED, &payload).await?;
        let row = store::sales::ticket_in(&mut tx, row.id).await?.ok_or(TicketingError::NotFound)?;
        tx.commit().await?;
        self.platform.outbox.wake();
        self.seats.changed(&returned);
        Ok(self.with_seats(vec![row]).await?.remove(0))
    }

    /// Lets the holder of `code` in to the event (its owner or an admin scans): the first time
    /// answers the time; after that `already_checked_in` with the first time; a code of another
    /// event (or none) is not found; a void ticket is `ticket_void`.
    pub async fn check_in(&self, user: &AuthUser, event: Uuid, code: &str) -> Result<(Ticket, Ts)> {
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        // The event is read, not locked: scans at the door never wait on (or hold up) its sales.
        self.organised_event_in(&mut tx, user, event).await?;
        let code = known_shape(code)?;
        let row = store::sales::ticket_by_code_in(&mut tx, code).await?.ok_or(TicketingError::NotFound)?;
        if !store::sales::seats_in(&mut tx, row.id).await?.iter().any(|s| s.event_id == event) {
            return Err(TicketingError::NotFound);
        }
        if row.status != TicketStatus::Valid.as_str() {
            return Err(TicketingError::TicketVoid);
        }
        let (at, first) = store::sales::check_in(&mut tx, row.id, event, now).await?.ok_or(TicketingError::NotFound)?;
        if !first {
            return Err(TicketingError::AlreadyCheckedIn { at });
        }
        let payload = serde_json::json!({ "ticket_id": row.id, "event_id": event, "checked_in_at": at });
        self.platform.outbox.event(&mut tx, TICKET_CHECKED_IN, &payload).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        Ok((self.with_seats(vec![row]).await?.remove(0), at))
    }

    /// The event, read for its owner's views (owner or admin; 404 / 403 otherwise).
    async fn organised_event(&self, user: &AuthUser, event: Uuid) -> Result<EventRow> {
        super::events::owned(store::event(&self.platform.db, event).await?, user)
    }

    /// The event's tickets for its organiser's door list, by ticket id: code, status, check-in,
    /// the buyer's email, and their name only if their profile is public.
    pub async fn attendees(
        &self,
        user: &AuthUser,
        event: Uuid,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<Attendee>> {
        self.organised_event(user, event).await?;
        let after = id_cursor(cursor)?;
        let rows = store::sales::attendees(&self.platform.db, event, after, limit).await?;
        let rows = page(rows, limit, |a| a.ticket_id.to_string(), |a| a);
        let buyers: Vec<Uuid> = rows.items.iter().filter_map(|a| a.buyer_id).collect();
        let people = self.accounts.users(&buyers).await?;
        let items = rows
            .items
            .into_iter()
            .map(|a| {
                let buyer = a.buyer_id.and_then(|id| people.get(&id));
                Attendee {
                    ticket_id: a.ticket_id,
                    code: a.code,
                    status: TicketStatus::parse(&a.status),
                    checked_in_at: a.checked_in_at,
                    buyer_email: buyer.and_then(|b| b.email.clone()),
                    buyer_name: buyer.filter(|b| b.public_profile).map(|b| b.name.clone()),
                }
            })
            .collect();
        Ok(Page { items, next_cursor: rows.next_cursor })
    }

    /// The whole door list as CSV (RFC 4180, a header row, formulas neutralised).
    pub async fn attendees_csv(&self, user: &AuthUser, event: Uuid) -> Result<Vec<u8>> {
        let failed = |e: csv::Error| TicketingError::Internal(platform::error::Internal::new(e));
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(["code", "status", "checked_in_at", "buyer_email", "buyer_name"]).map_err(failed)?;
        let mut cursor: Option<String> = None;
        loop {
            let page = self.attendees(user, event, cursor.as_deref(), 500).await?;
            for a in &page.items {
                let cell = platform::text::csv_cell;
                out.write_record([
                    cell(&a.code),
                    a.status.as_str().to_string(),
                    a.checked_in_at.map(Ts::to_rfc3339).unwrap_or_default(),
                    cell(a.buyer_email.as_deref().unwrap_or_default()),
                    cell(a.buyer_name.as_deref().unwrap_or_default()),
                ])
                .map_err(failed)?;
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        out.into_inner().map_err(|e| TicketingError::Internal(platform::error::Internal::new(e)))
    }

    /// The organiser's numbers of one event.
    pub async fn stats(&self, user: &AuthUser, event: Uuid) -> Result<EventStats> {
        let row = self.organised_event(user, event).await?;
        let db = &self.platform.db;
        let mut stats = EventStats {
            event_id: event,
            capacity: row.capacity,
            sold: 0,
            checked_in: 0,
            refunded: 0,
            cancelled: 0,
            revenue: String::new(),
            currency: row.currency.clone(),
            sales_per_day: Vec::new(),
        };
        let mut revenue = 0i64;
        for c in store::sales::counts_at(db, event).await? {
            match TicketStatus::parse(&c.status) {
                TicketStatus::Valid => {
                    stats.sold = c.tickets;
                    stats.checked_in = c.checked_in;
                    revenue = c.amount_minor;
                }
                TicketStatus::Refunded => stats.refunded = c.tickets,
                TicketStatus::Cancelled => stats.cancelled = c.tickets,
            }
        }
        stats.revenue = price_text(revenue, &row.currency);
        stats.sales_per_day = store::sales::sales_per_day(db, event)
            .await?
            .into_iter()
            .map(|(day, tickets)| DaySales { day, tickets })
            .collect();
        Ok(stats)
    }
}

/// Voids `ticket` as `status` and gives its seats back, once: the events whose seats returned
/// (empty when it was void already). Its events are locked first, in the one order.
pub(super) async fn void_and_return(tx: &mut Tx, ticket: Uuid, status: TicketStatus, now: Ts) -> Result<Vec<Uuid>> {
    store::lock_ticket_events(tx, ticket).await?;
    if !store::sales::void_ticket(tx, ticket, status.as_str(), now).await? {
        return Ok(Vec::new());
    }
    Ok(store::return_seats(tx, ticket).await?)
}

/// `code` if it has the shape of a ticket code; anything else is no ticket (404), refused
/// before it reaches the database.
pub(super) fn known_shape(code: &str) -> Result<&str> {
    if platform::crypto::is_code(code) { Ok(code) } else { Err(TicketingError::NotFound) }
}

/// The ticket, if `user` bought it: its organiser and admins are told they may not (they refund
/// instead); anyone else that it does not exist.
pub(super) fn buyer_only(ticket: &TicketRow, user: &AuthUser) -> Result<()> {
    if ticket.buyer_id == Some(user.user_id) {
        Ok(())
    } else if ticket.organizer_id == user.user_id || user.is_admin() {
        Err(TicketingError::Forbidden)
    } else {
        Err(TicketingError::NotFound)
    }
}
