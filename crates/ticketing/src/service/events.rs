//! Events: who creates, sees, changes, publishes, cancels (refunding every ticket) and
//! deletes them, and the checks on their fields.

use crate::error::TicketingError;
use crate::events;
use crate::model::{Event, EventRow, EventStatus};
use crate::store::{self, EventFields, Filter, Order};
use platform::auth::AuthUser;
use platform::db::{Ts, Tx};
use platform::pagination::Page;
use platform::{FieldError, money};
use uuid::Uuid;

use super::{Result, Ticketing};

/// Seats an event may have at most.
pub const MAX_CAPACITY: i64 = 50_000;
/// The highest ticket price, in whole units of its currency: ten tickets of a bundle of many
/// events stay far inside 64-bit minor units in any currency.
pub const MAX_PRICE: i64 = 1_000_000;

/// An event's fields as given (a new event needs all but `description` and `venue`).
#[derive(Debug, Clone, Default)]
pub struct EventInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub venue: Option<String>,
    pub starts_at: Option<Ts>,
    pub ends_at: Option<Ts>,
    pub capacity: Option<i64>,
    pub price: Option<String>,
    pub currency: Option<String>,
}

/// The list's narrowing, as asked.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub q: Option<String>,
    pub owner_id: Option<Uuid>,
    pub starts_after: Option<Ts>,
    pub starts_before: Option<Ts>,
    pub has_seats: bool,
    pub sort_by_creation: bool,
    pub cursor: Option<String>,
    pub limit: i64,
}

/// An event's fields once checked, owning their text.
struct Checked {
    name: String,
    description: String,
    venue: String,
    starts_at: Ts,
    ends_at: Ts,
    capacity: i64,
    price_minor: i64,
    currency: &'static str,
}

impl Checked {
    fn fields(&self) -> EventFields<'_> {
        EventFields {
            name: &self.name,
            description: &self.description,
            venue: &self.venue,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            capacity: self.capacity,
            price_minor: self.price_minor,
            currency: self.currency,
        }
    }
}

/// Checks `input` over `current` (what is left out stays); every problem is reported at once.
fn checked(input: &EventInput, current: Option<&EventRow>, now: Ts) -> Result<Checked> {
    let mut errors = Vec::new();
    let mut missing = |field: &str| errors.push(FieldError::new(field, "is required"));
    let name = input.name.clone().or_else(|| current.map(|c| c.name.clone()));
    let starts_at = input.starts_at.or(current.map(|c| c.starts_at));
    let ends_at = input.ends_at.or(current.map(|c| c.ends_at));
    let capacity = input.capacity.or(current.map(|c| c.capacity));
    let currency_text = input.currency.clone().or_else(|| current.map(|c| c.currency.clone()));
    let price_text = input.price.clone();
    for (field, absent) in [
        ("name", name.is_none()),
        ("starts_at", starts_at.is_none()),
        ("ends_at", ends_at.is_none()),
        ("capacity", capacity.is_none()),
        ("price", price_text.is_none() && current.is_none()),
        ("currency", currency_text.is_none()),
    ] {
        if absent {
            missing(field);
        }
    }
    let name = name.unwrap_or_default().trim().to_string();
    if !(3..=100).contains(&name.chars().count()) {
        errors.push(FieldError::new("name", "must be 3–100 characters"));
    }
    let description = input.description.clone().or_else(|| current.map(|c| c.description.clone())).unwrap_or_default();
    if description.chars().count() > 5_000 {
        errors.push(FieldError::new("description", "must be at most 5000 characters"));
    }
    let venue = input.venue.clone().or_else(|| current.map(|c| c.venue.clone())).unwrap_or_default().trim().to_string();
    if venue.chars().count() > 200 {
        errors.push(FieldError::new("venue", "must be at most 200 characters"));
    }
    // One line each, shown on tickets and lists; PostgreSQL stores no NUL character at all.
    for (field, text) in [("name", &name), ("venue", &venue)] {
        if text.chars().any(char::is_control) {
            errors.push(FieldError::new(field, "must not contain control characters"));
        }
    }
    if description.contains('\0') {
        errors.push(FieldError::new("description", "must not contain NUL characters"));
    }
    // A start moved (or set) must be ahead; one sent back unchanged may have passed.
    if let Some(start) = input.starts_at
        && start <= now
        && current.is_none_or(|c| c.starts_at != start)
    {
        errors.push(FieldError::new("starts_at", "must be in the future"));
    }
    if let (Some(start), Some(end)) = (starts_at, ends_at)
        && end <= start
    {
        errors.push(FieldError::new("ends_at", "must be after starts_at"));
    }
    if capacity.is_some_and(|c| !(1..=MAX_CAPACITY).contains(&c)) {
        errors.push(FieldError::new("capacity", format!("must be between 1 and {MAX_CAPACITY}")));
    }
    let (currency, price_minor) = priced(
        price_text.as_deref(),
        currency_text.as_deref(),
        current.map(|c| (c.price_minor, c.currency.as_str())),
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(TicketingError::Invalid(errors));
    }
    Ok(Checked {
        name,
        description,
        venue,
        starts_at: starts_at.unwrap_or(now),
        ends_at: ends_at.unwrap_or(now),
        capacity: capacity.unwrap_or(1),
        price_minor,
        currency,
    })
}

/// The currency and the price in its minor units, from the texts given over what is stored
/// (`current`); problems go to `errors`. A new currency needs its price again: minor units do
/// not carry over from one currency to another.
pub(super) fn priced(
    price: Option<&str>,
    currency: Option<&str>,
    current: Option<(i64, &str)>,
    errors: &mut Vec<FieldError>,
) -> (&'static str, i64) {
    let Some(code) = currency else { return ("", 0) };
    let (code, exponent) = match money::currency(code) {
        Ok(found) => found,
        Err(m) => {
            errors.push(FieldError::new("currency", m));
            return ("", 0);
        }
    };
    let changed = current.is_some_and(|(_, c)| c != code);
    let minor = match (price, current) {
        (Some(text), _) => match money::parse_amount(text, exponent) {
            Ok(minor) if minor <= MAX_PRICE * 10i64.pow(exponent) => minor,
            Ok(_) => {
                errors.push(FieldError::new("price", format!("must be at most {MAX_PRICE}")));
                0
            }
            Err(m) => {
                errors.push(FieldError::new("price", m));
                0
            }
        },
        (None, Some(_)) if changed => {
            errors.push(FieldError::new("price", "is required with a new currency"));
            0
        }
        (None, Some((minor, _))) => minor,
        (None, None) => 0,
    };
    (code, minor)
}

/// `row`, if `user` may act on it as its organiser: 404 when they may not see it, 403 when
/// they see it but are not its owner or an admin.
pub(super) fn owned(row: Option<EventRow>, user: &AuthUser) -> Result<EventRow> {
    let row = row.ok_or(TicketingError::NotFound)?;
    if !row.visible_to(Some((user.user_id, user.is_admin()))) {
        return Err(TicketingError::NotFound);
    }
    if row.owner_id != user.user_id && !user.is_admin() {
        return Err(TicketingError::Forbidden);
    }
    Ok(row)
}

/// A page's cursor: the last event's start time and id (start-time order), or its id.
fn cursor_of(row: &EventRow, order: Order) -> String {
    match order {
        Order::StartsAt => format!("{}~{}", row.starts_at.to_rfc3339(), row.id),
        Order::CreatedAt => row.id.to_string(),
    }
}

fn parse_cursor(cursor: &str, order: Order) -> Result<(Ts, Uuid)> {
    let bad = || TicketingError::field("cursor", "is not a valid cursor");
    match order {
        Order::StartsAt => {
            let (at, id) = cursor.split_once('~').ok_or_else(bad)?;
            Ok((Ts::parse(at).map_err(|_| bad())?, Uuid::parse_str(id).map_err(|_| bad())?))
        }
        Order::CreatedAt => Ok((Ts::now(), Uuid::parse_str(cursor).map_err(|_| bad())?)),
    }
}

impl Ticketing {
    /// Creates a draft event owned by the caller, who must have a verified email or phone.
    pub async fn create_event(&self, user: &AuthUser, input: &EventInput) -> Result<Event> {
        self.require_verified(user).await?;
        let now = Ts::now();
        let checked = checked(input, None, now)?;
        let mut tx = self.platform.db.begin().await?;
        let row = store::insert_event(&mut tx, Uuid::now_v7(), user.user_id, &checked.fields(), now).await?;
        tx.commit().await?;
        Ok(row.into())
    }

    /// An event the caller (None: anyone) may see.
    pub async fn event(&self, caller: Option<&AuthUser>, id: Uuid) -> Result<Event> {
        let row = store::event(&self.platform.db, id).await?.ok_or(TicketingError::NotFound)?;
        if !row.visible_to(caller.map(|u| (u.user_id, u.is_admin()))) {
            return Err(TicketingError::NotFound);
        }
        Ok(row.into())
    }

    /// Public events, with the caller's own drafts, narrowed by `query`.
    pub async fn events(&self, caller: Option<&AuthUser>, query: &EventQuery) -> Result<Page<Event>> {
        let order = if query.sort_by_creation { Order::CreatedAt } else { Order::StartsAt };
        let after = query.cursor.as_deref().filter(|c| !c.is_empty()).map(|c| parse_cursor(c, order)).transpose()?;
        let pattern = query
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(|q| platform::text::like_contains(&platform::text::fold(q)));
        let filter = Filter {
            caller: caller.map(|u| u.user_id),
            owner: query.owner_id,
            pattern,
            starts_after: query.starts_after,
            starts_before: query.starts_before,
            has_seats: query.has_seats,
            order,
            after,
            limit: query.limit,
        };
        let rows = store::list_events(&self.platform.db, &filter).await?;
        Ok(Page::split(rows, query.limit, |r| cursor_of(r, order), Event::from))
    }

    /// The event, if the caller may change it: 404 when they may not see it, 403 when they see
    /// it but are not its owner or an admin. Read locked, so a change computed from it is not
    /// lost to another made meanwhile.
    pub(super) async fn own_event(&self, tx: &mut Tx, user: &AuthUser, id: Uuid) -> Result<EventRow> {
        let row = store::event_for_update(tx, id).await?;
        owned(row, user)
    }

    /// The event, if the caller may act on it as its organiser, read without a lock (for work
    /// that locks what it changes itself, in the one order of [`store::lock_events`]).
    pub(super) async fn organised_event_in(&self, tx: &mut Tx, user: &AuthUser, id: Uuid) -> Result<EventRow> {
        owned(store::event_in(tx, id).await?, user)
    }

    /// Changes the event's fields (owner or admin). The capacity never goes below the seats
    /// sold, and a cancelled event stays as it is.
    pub async fn update_event(&self, user: &AuthUser, id: Uuid, input: &EventInput) -> Result<Event> {
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        let current = self.own_event(&mut tx, user, id).await?;
        if current.status == EventStatus::Cancelled.as_str() {
            return Err(TicketingError::EventCancelled);
        }
        let checked = checked(input, Some(&current), now)?;
        if checked.currency != current.currency {
            // Tickets keep the currency they were paid in, and a bundle prices all its events
            // in one: the organiser's revenue is never a sum of two currencies.
            if store::has_sales(&mut tx, id).await? {
                return Err(TicketingError::EventHasTickets);
            }
            if store::bundles::event_in_a_bundle(&mut tx, id).await? {
                return Err(TicketingError::CurrencyMismatch);
            }
        }
        let Some(row) = store::update_event(&mut tx, id, &checked.fields(), now).await? else {
            // Refused by the statement's own condition: tell which held (the event may have
            // been cancelled or deleted since it was read).
            return Err(match store::event_for_update(&mut tx, id).await? {
                None => TicketingError::NotFound,
                Some(r) if r.status == EventStatus::Cancelled.as_str() => TicketingError::EventCancelled,
                Some(r) => TicketingError::CapacityBelowSold { sold: r.seats_sold },
            });
        };
        tx.commit().await?;
        Ok(row.into())
    }

    /// Publishes a draft (owner or admin); publishing a published event changes nothing.
    pub async fn publish_event(&self, user: &AuthUser, id: Uuid) -> Result<Event> {
        self.move_event(user, id, EventStatus::Published, &["draft"], events::EVENT_PUBLISHED).await
    }

    /// Cancels the event (owner or admin): it is no longer sold, every valid ticket to it is
    /// refunded (a bundle ticket with all its seats) and each buyer told, in the same
    /// transaction; cancelling twice changes nothing.
    pub async fn cancel_event(&self, user: &AuthUser, id: Uuid) -> Result<Event> {
        self.move_event(user, id, EventStatus::Cancelled, &["draft", "published"], events::EVENT_CANCELLED).await
    }

    async fn move_event(&self, user: &AuthUser, id: Uuid, to: EventStatus, from: &[&str], kind: &str) -> Result<Event> {
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        let cancelling = to == EventStatus::Cancelled;
        let current = if cancelling {
            // Refunding changes the seats of this event and of the other events of its bundle
            // tickets: all of them are locked first, in the one order.
            let current = self.organised_event_in(&mut tx, user, id).await?;
            let touched = store::sales::events_sharing_valid_tickets(&mut tx, id).await?;
            store::lock_events(&mut tx, &touched).await?;
            current
        } else {
            self.own_event(&mut tx, user, id).await?
        };
        if current.status == to.as_str() {
            return Ok(current.into());
        }
        let Some(row) = store::set_status(&mut tx, id, to.as_str(), from, now).await? else {
            return Err(match store::event_for_update(&mut tx, id).await? {
                None => TicketingError::NotFound,
                Some(_) => TicketingError::EventCancelled,
            });
        };
        let (notified, seats, refunded) = if cancelling {
            let refunded = self.refund_everyone(&mut tx, &row, Some(user.user_id), now).await?;
            (refunded.notified, refunded.seats, refunded.tickets)
        } else {
            Default::default()
        };
        events::event_changed(&self.platform.outbox, &mut tx, kind, &row, &refunded).await?;
        // The refunds gave the seats back: the row as it is now.
        let row = if seats.is_empty() { row } else { store::event_for_update(&mut tx, id).await?.unwrap_or(row) };
        tx.commit().await?;
        self.platform.outbox.wake();
        self.notifications.announce(&notified);
        self.seats.changed(&seats);
        Ok(row.into())
    }

    /// Deletes an event none of whose seats is taken (owner or admin); one with tickets
    /// answers `event_has_tickets` (cancel it instead, which keeps it for its buyers).
    pub async fn delete_event(&self, user: &AuthUser, id: Uuid) -> Result<()> {
        let mut tx = self.platform.db.begin().await?;
        self.own_event(&mut tx, user, id).await?;
        if !store::delete_unsold_event(&mut tx, id).await? {
            return Err(TicketingError::EventHasTickets);
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let at = Ts::now();
        let id = Uuid::now_v7();
        let row = EventRow {
            id,
            owner_id: id,
            name: "n".into(),
            description: String::new(),
            venue: String::new(),
            starts_at: at,
            ends_at: at,
            capacity: 1,
            seats_sold: 0,
            price_minor: 0,
            currency: "USD".into(),
            status: "draft".into(),
            published_at: None,
            created_at: at,
            updated_at: at,
        };
        assert_eq!(parse_cursor(&cursor_of(&row, Order::StartsAt), Order::StartsAt).unwrap(), (at, id));
        assert_eq!(parse_cursor(&cursor_of(&row, Order::CreatedAt), Order::CreatedAt).unwrap().1, id);
        for bad in ["x", "2026-01-01T00:00:00Z~nope", &id.to_string()] {
            assert!(parse_cursor(bad, Order::StartsAt).is_err(), "{bad}");
        }
    }
}
