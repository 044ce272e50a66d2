//! The checkout: purchases written in groups. Buyers' purchases wait in one queue; a single task
//! takes the waiting ones (up to [`MAX_GROUP`]) into one transaction: each takes its seats with
//! its own conditional update, in queue order, and the purchases, tickets and seats that sold
//! are inserted together, one multi-row statement per table for the whole group.
//!
//! Why: sales of one event are serial by nature (one row's count), and on SQLite every write is
//! serial (one writer). A transaction per purchase paid `BEGIN`, five statements and `COMMIT`,
//! each a round trip to the database, plus a hand-over of the writer turn; a group pays the
//! conditional update per purchase (and the outbox row of its domain event, when one is wanted)
//! and the rest once. A purchase refused (sold out, not on sale, its buyer gone) has written
//! nothing of its own when it is refused (a bundle gives back the seats it took before the
//! failing one), so it leaves the group's other purchases as they are. A failure of the
//! database fails the whole group, each purchase answered with it (if a `COMMIT` itself fails,
//! whether it took effect is unknown; the answer says it failed). On PostgreSQL the group locks
//! every event it touches in id order first, like every other write that changes seats.

use super::{Result, Ticketing};
use crate::error::TicketingError;
use crate::events::TICKET_PURCHASED;
use crate::model::{EventRow, PurchaseResult, PurchaseRow, Seat, Ticket, TicketRow, TicketStatus, price_text};
use crate::store::{self, bundles::Lock};
use platform::db::{Ts, Tx};
use platform::error::{DomainError, ErrorKind, Internal};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Tickets one purchase may buy at most.
pub const MAX_QUANTITY: i64 = 10;

/// What is bought.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// Tickets of one event.
    Event(Uuid),
    /// Tickets of a bundle: a seat in each of its events.
    Bundle(Uuid),
}

/// Purchases written in one transaction at most.
pub const MAX_GROUP: usize = 128;
/// Purchases waiting at most; past it a purchase answers 503 at once (the queue's memory is
/// bounded, and so is a buyer's wait).
const QUEUE: usize = 4096;

/// One buyer's purchase, waiting for the checkout.
pub(super) struct Order {
    pub buyer: Uuid,
    pub admin: bool,
    pub target: Target,
    pub quantity: i64,
    pub reply: oneshot::Sender<Result<PurchaseResult>>,
}

/// The queue into the checkout. Cheap to clone.
#[derive(Clone)]
pub(super) struct Checkout(mpsc::Sender<Order>);

impl Checkout {
    /// The queue and its receiving end, for [`run`].
    pub fn start() -> (Self, mpsc::Receiver<Order>) {
        let (sender, receiver) = mpsc::channel(QUEUE);
        (Self(sender), receiver)
    }

    /// Queues `order` and waits for its answer. A full queue answers at once that the service
    /// is busy (503, retry), rather than holding the buyer's request in a wait without end.
    pub async fn buy(&self, order: Order, answer: oneshot::Receiver<Result<PurchaseResult>>) -> Result<PurchaseResult> {
        let gone = || TicketingError::Internal(Internal::new("the checkout stopped"));
        self.0.try_send(order).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                TicketingError::Db(platform::db::DbError::Unavailable(sqlx::Error::PoolTimedOut))
            }
            mpsc::error::TrySendError::Closed(_) => gone(),
        })?;
        answer.await.map_err(|_| gone())?
    }
}

/// The checkout task: takes the waiting orders, up to [`MAX_GROUP`], and writes them together.
/// Each group is written in a task of its own, awaited: a panic there fails that group (its
/// buyers' answers are dropped, which they see as a failure on our side), not the checkout.
pub(super) async fn run(ticketing: Ticketing, mut orders: mpsc::Receiver<Order>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while orders.recv_many(&mut group, MAX_GROUP).await > 0 {
        let (ticketing, group) = (ticketing.clone(), std::mem::take(&mut group));
        if let Err(e) = tokio::spawn(async move { ticketing.write_group(group).await }).await {
            tracing::error!(error = %e, "a group of purchases panicked");
        }
    }
}

/// A purchase that sold, to be inserted with its group.
struct Sold {
    purchase: PurchaseRow,
    tickets: Vec<TicketRow>,
    /// Its events as they are after its seats were taken.
    events: Vec<EventRow>,
    /// Each ticket's seats: (ticket, event, share of the price).
    seats: Vec<(Uuid, Uuid, i64)>,
}

/// The same failure again, for each purchase of a group that failed as a whole.
fn again(e: &TicketingError) -> TicketingError {
    if e.kind() == ErrorKind::Unavailable {
        TicketingError::Db(platform::db::DbError::Unavailable(sqlx::Error::PoolTimedOut))
    } else {
        TicketingError::Internal(Internal::new(e.to_string()))
    }
}

impl Ticketing {
    /// Writes a group of orders in one transaction and answers each.
    async fn write_group(&self, group: Vec<Order>) {
        let now = Ts::now();
        match self.sell_group(&group, now).await {
            Ok((answers, events)) => {
                self.platform.outbox.wake();
                self.seats.changed(&events);
                for (order, answer) in group.into_iter().zip(answers) {
                    let _ = order.reply.send(answer);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, orders = group.len(), "a group of purchases failed");
                for order in group {
                    let _ = order.reply.send(Err(again(&e)));
                }
            }
        }
    }

    /// The group's answers, in order, and the events whose seats changed; Err when the
    /// transaction failed (nothing was written).
    async fn sell_group(&self, group: &[Order], now: Ts) -> Result<(Vec<Result<PurchaseResult>>, Vec<Uuid>)> {
        let mut tx = self.platform.db.begin().await?;
        // The events the group may touch, locked in the one order (PostgreSQL).
        let mut touched = Vec::new();
        for order in group {
            match order.target {
                Target::Event(id) => touched.push(id),
                Target::Bundle(id) => {
                    touched.extend(store::bundles::events_in(&mut tx, id).await?.iter().map(|e| e.id))
                }
            }
        }
        store::lock_events(&mut tx, &touched).await?;
        // Buyers whose account was deleted while their order waited would fail the group's
        // insert (the buyer is a foreign key): they are refused one by one instead. (On SQLite no
        // deletion commits while the group holds the writer turn; on PostgreSQL one racing this
        // read would still fail the group, which is answered as a failure, nothing written.)
        let ids: Vec<Uuid> = group.iter().map(|o| o.buyer).collect();
        let buyers: std::collections::HashSet<Uuid> = self.accounts.users(&ids).await?.into_keys().collect();
        let mut outcomes = Vec::with_capacity(group.len());
        for order in group {
            if order.reply.is_closed() || !buyers.contains(&order.buyer) {
                // Nobody waits for the answer any more (the request's task ended: a panic, a
                // shutdown), or the buyer's account went while the order waited: nothing is sold.
                // (A refusal of this one order; the answer is not read, or not by anyone.)
                outcomes.push(Err(TicketingError::NotFound));
                continue;
            }
            outcomes.push(match self.sell(&mut tx, order, &touched, now).await {
                Ok(sold) => Ok(sold),
                Err(e) if e.kind() == ErrorKind::Internal || e.kind() == ErrorKind::Unavailable => return Err(e),
                Err(refused) => Err(refused),
            });
        }
        let sold: Vec<&Sold> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        let purchases: Vec<&PurchaseRow> = sold.iter().map(|s| &s.purchase).collect();
        let tickets: Vec<&TicketRow> = sold.iter().flat_map(|s| &s.tickets).collect();
        let seats: Vec<(Uuid, Uuid, i64)> = sold.iter().flat_map(|s| s.seats.iter().copied()).collect();
        store::sales::insert_purchases(&mut tx, &purchases).await?;
        store::sales::insert_tickets(&mut tx, &tickets).await?;
        store::sales::insert_seats(&mut tx, &seats).await?;
        for s in &sold {
            let payload = serde_json::json!({
                "purchase_id": s.purchase.id,
                "buyer_id": s.purchase.buyer_id,
                "event_id": s.purchase.event_id,
                "bundle_id": s.purchase.bundle_id,
                "quantity": s.purchase.quantity,
                "amount": price_text(s.purchase.amount_minor, &s.purchase.currency),
                "currency": s.purchase.currency,
                "ticket_ids": s.tickets.iter().map(|t| t.id).collect::<Vec<_>>(),
                "event_ids": s.events.iter().map(|e| e.id).collect::<Vec<_>>(),
            });
            self.platform.outbox.event(&mut tx, TICKET_PURCHASED, &payload).await?;
        }
        tx.commit().await?;
        let mut changed: Vec<Uuid> = sold.iter().flat_map(|s| s.events.iter().map(|e| e.id)).collect();
        changed.sort_unstable();
        changed.dedup();
        let answers = outcomes
            .into_iter()
            .map(|outcome| {
                outcome.map(|sold| {
                    let mut seats: Vec<Seat> = sold
                        .events
                        .iter()
                        .map(|e| Seat { event_id: e.id, starts_at: e.starts_at, checked_in_at: None })
                        .collect();
                    seats.sort_by_key(|s| (s.starts_at, s.event_id));
                    let tickets = sold.tickets.into_iter().map(|t| Ticket::new(t, seats.clone())).collect();
                    PurchaseResult { purchase: sold.purchase.into(), tickets }
                })
            })
            .collect();
        Ok((answers, changed))
    }

    /// Takes one order's seats in the group's transaction and builds its rows; a refusal has
    /// written nothing that stays.
    async fn sell(&self, tx: &mut Tx, order: &Order, locked: &[Uuid], now: Ts) -> Result<Sold> {
        let caller = Some((order.buyer, order.admin));
        let quantity = order.quantity;
        // What is sold: its events (seats taken, in id order), owner, price and currency.
        let (events, organizer, price_minor, currency) = match order.target {
            Target::Event(id) => {
                let Some(event) = store::take_seats(tx, id, quantity, now).await? else {
                    let found = store::event_in(tx, id).await?;
                    return Err(match found.filter(|e| e.visible_to(caller)) {
                        None => TicketingError::NotFound,
                        Some(e) => refusal(&e, now),
                    });
                };
                let (owner, price, currency) = (event.owner_id, event.price_minor, event.currency.clone());
                (vec![event], owner, price, currency)
            }
            Target::Bundle(id) => {
                let bundle = store::bundles::bundle_in(tx, id, Lock::Share).await?.ok_or(TicketingError::NotFound)?;
                let members = store::bundles::events_in(tx, id).await?;
                let public = !members.is_empty() && members.iter().all(|e| e.published_at.is_some());
                if !public && !caller.is_some_and(|(me, admin)| admin || me == bundle.owner_id) {
                    return Err(TicketingError::NotFound);
                }
                if members.is_empty() {
                    return Err(TicketingError::NotOnSale);
                }
                if members.iter().any(|e| !locked.contains(&e.id)) {
                    // The bundle gained an event after the group locked its events (before its
                    // first sale): taking that seat now would lock out of order. This buyer
                    // retries; the next group locks the bundle as it is.
                    return Err(TicketingError::NotOnSale);
                }
                // Every refusal is decided on the rows as read, before any seat is taken, so the
                // answer names the scarcest event; the updates below still hold the line.
                if !members.iter().all(|e| e.on_sale(now)) {
                    return Err(TicketingError::NotOnSale);
                }
                let seats_left = members.iter().map(|e| e.capacity - e.seats_sold).min().unwrap_or(0);
                if seats_left < quantity {
                    return Err(TicketingError::SoldOut { seats_left: seats_left.max(0) });
                }
                let mut taken: Vec<EventRow> = Vec::with_capacity(members.len());
                for member in &members {
                    if let Some(event) = store::take_seats(tx, member.id, quantity, now).await? {
                        taken.push(event);
                        continue;
                    }
                    // Taken meanwhile: give back what this purchase took, the group goes on.
                    for event in &taken {
                        store::return_seat_count(tx, event.id, quantity).await?;
                    }
                    let found = store::event_in(tx, member.id).await?;
                    return Err(found.map_or(TicketingError::NotOnSale, |e| refusal(&e, now)));
                }
                (taken, bundle.owner_id, bundle.price_minor, bundle.currency)
            }
        };
        let (event_id, bundle_id) = match order.target {
            Target::Event(id) => (Some(id), None),
            Target::Bundle(id) => (None, Some(id)),
        };
        let purchase = PurchaseRow {
            id: Uuid::now_v7(),
            buyer_id: Some(order.buyer),
            event_id,
            bundle_id,
            quantity,
            // At most 10 × the highest price in minor units: far inside 64 bits.
            amount_minor: price_minor.saturating_mul(quantity),
            currency,
            created_at: now,
        };
        let split = shares(price_minor, events.len());
        let mut tickets = Vec::new();
        let mut seats = Vec::new();
        for _ in 0..quantity {
            let ticket = TicketRow {
                id: Uuid::now_v7(),
                code: platform::crypto::random_code(),
                purchase_id: purchase.id,
                buyer_id: Some(order.buyer),
                organizer_id: organizer,
                event_id,
                bundle_id,
                price_minor,
                currency: purchase.currency.clone(),
                status: TicketStatus::Valid.as_str().to_string(),
                created_at: now,
                voided_at: None,
            };
            seats.extend(events.iter().zip(&split).map(|(event, amount)| (ticket.id, event.id, *amount)));
            tickets.push(ticket);
        }
        Ok(Sold { purchase, tickets, events, seats })
    }
}

/// Splits `total` minor units over `parts` seats exactly: the first `total % parts` get one
/// more, so the shares add up to the total.
fn shares(total: i64, parts: usize) -> Vec<i64> {
    let n = i64::try_from(parts.max(1)).unwrap_or(1);
    let (base, extra) = (total / n, total % n);
    (0..n).map(|i| base + i64::from(i < extra)).collect()
}

/// Why an event the caller may see is not sold now: not on sale, or sold out.
fn refusal(event: &EventRow, now: Ts) -> TicketingError {
    if !event.on_sale(now) {
        TicketingError::NotOnSale
    } else {
        TicketingError::SoldOut { seats_left: (event.capacity - event.seats_sold).max(0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_total() {
        assert_eq!(shares(1000, 3), [334, 333, 333]);
        assert_eq!(shares(2, 3), [1, 1, 0]);
        assert_eq!(shares(0, 2), [0, 0]);
        assert_eq!(shares(7, 1), [7]);
        for (total, parts) in [(999_999, 7), (1, 50), (100_000_000, 13)] {
            assert_eq!(shares(total, parts).iter().sum::<i64>(), total);
        }
    }
}
