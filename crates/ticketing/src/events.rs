//! What ticketing announces: domain events on the kernel's outbox (delivered at least once to
//! in-process handlers and the broker), the notification kinds it sends, and the live topic of
//! an event's seats.

use crate::model::EventRow;
use crate::store;
use platform::ApiError;
use platform::auth::AuthUser;
use platform::db::{DbError, Tx};
use platform::outbox::Outbox;
use platform::realtime::TopicAuthorizer;
use serde::Serialize;
use uuid::Uuid;

/// An event was published: `{event_id, owner_id, name, starts_at}`.
pub const EVENT_PUBLISHED: &str = "ticketing.event.published";
/// An event was cancelled: `{event_id, owner_id, name, starts_at, refunded_ticket_ids}`, the
/// valid tickets with a seat at it, every one refunded by the cancellation (bundle tickets with
/// all their seats; their pending refund requests granted). No `ticketing.refund.resolved` is
/// written per ticket: one event says it all, in one row whatever the number of tickets.
pub const EVENT_CANCELLED: &str = "ticketing.event.cancelled";
/// Tickets were bought: `{purchase_id, buyer_id, event_id, bundle_id, quantity, amount,
/// currency, ticket_ids, event_ids}`.
pub const TICKET_PURCHASED: &str = "ticketing.ticket.purchased";
/// A buyer gave a ticket back: `{ticket_id, buyer_id, event_ids}`. (Tickets given back because
/// their buyer deleted their account go with `accounts.user.deleted`.)
pub const TICKET_CANCELLED: &str = "ticketing.ticket.cancelled";
/// A ticket's holder was let in: `{ticket_id, event_id, checked_in_at}`.
pub const TICKET_CHECKED_IN: &str = "ticketing.ticket.checked_in";
/// A buyer asked for a refund: `{refund_id, ticket_id, buyer_id, organizer_id}`.
pub const REFUND_REQUESTED: &str = "ticketing.refund.requested";
/// The organiser decided a refund request: `{refund_id, ticket_id, buyer_id, organizer_id,
/// status}`.
pub const REFUND_RESOLVED: &str = "ticketing.refund.resolved";

/// A buyer asked for a refund of a ticket to the organiser's event.
pub const REFUND_REQUESTED_KIND: notifications::Kind =
    notifications::Kind { name: "refund_requested", description: "A buyer asked for a refund of a ticket to my event" };
/// The organiser granted the user's refund.
pub const REFUND_APPROVED_KIND: notifications::Kind =
    notifications::Kind { name: "refund_approved", description: "My refund request was approved" };
/// The organiser declined the user's refund.
pub const REFUND_DECLINED_KIND: notifications::Kind =
    notifications::Kind { name: "refund_declined", description: "My refund request was declined" };
/// An event the user holds tickets for was cancelled, and the tickets refunded.
pub const EVENT_CANCELLED_KIND: notifications::Kind =
    notifications::Kind { name: "event_cancelled", description: "An event I have tickets for was cancelled" };
/// Every kind ticketing sends.
pub const NOTIFICATION_KINDS: &[notifications::Kind] =
    &[REFUND_REQUESTED_KIND, REFUND_APPROVED_KIND, REFUND_DECLINED_KIND, EVENT_CANCELLED_KIND];

/// The live topic of an event's seats (`ticketing.event.{id}`).
pub fn event_topic(event: Uuid) -> String {
    format!("{TOPIC_PREFIX}{event}")
}

/// The prefix of the events' topics.
pub const TOPIC_PREFIX: &str = "ticketing.event.";

/// The message on [`event_topic`] after seats were taken or given back.
pub const SEATS_CHANGED: &str = "seats.changed";

/// The payload of [`SEATS_CHANGED`].
#[derive(Debug, Clone, Serialize)]
pub struct SeatsChanged {
    /// The event.
    pub event_id: Uuid,
    /// Seats for sale now.
    pub seats_left: i64,
}

/// Records `kind` for `event` in the transaction that changed it (`refunded`: the tickets a
/// cancellation refunded).
pub(crate) async fn event_changed(
    outbox: &Outbox,
    tx: &mut Tx,
    kind: &str,
    event: &EventRow,
    refunded: &[Uuid],
) -> Result<(), DbError> {
    let mut payload = serde_json::json!({
        "event_id": event.id,
        "owner_id": event.owner_id,
        "name": event.name,
        "starts_at": event.starts_at,
    });
    if kind == EVENT_CANCELLED {
        payload["refunded_ticket_ids"] = serde_json::json!(refunded);
    }
    outbox.event(tx, kind, &payload).await.map(|_| ())
}

/// The authoriser of the `ticketing.event.` topics: a published event's seats are public to
/// every signed-in user; a draft's only to its owner and admins.
pub fn topics(db: platform::db::Db) -> std::sync::Arc<dyn TopicAuthorizer> {
    std::sync::Arc::new(EventTopics { db })
}

struct EventTopics {
    db: platform::db::Db,
}

#[async_trait::async_trait]
impl TopicAuthorizer for EventTopics {
    async fn authorize(&self, user: &AuthUser, topic: &str) -> Result<bool, ApiError> {
        let Some(id) = topic.strip_prefix(TOPIC_PREFIX).and_then(|id| Uuid::parse_str(id).ok()) else {
            return Ok(false);
        };
        let event = store::event(&self.db, id).await.map_err(ApiError::internal)?;
        Ok(event.is_some_and(|e| e.visible_to(Some((user.user_id, user.is_admin())))))
    }
}
