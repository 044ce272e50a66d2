//! What ticketing announces on the kernel's outbox (domain events, delivered at least once to
//! in-process handlers and the broker).

use crate::model::EventRow;
use platform::db::{DbError, Tx};
use platform::outbox::Outbox;

/// An event was published: `{event_id, owner_id, name, starts_at}`.
pub const EVENT_PUBLISHED: &str = "ticketing.event.published";
/// An event was cancelled: `{event_id, owner_id, name}`.
pub const EVENT_CANCELLED: &str = "ticketing.event.cancelled";

/// Records `kind` for `event` in the transaction that changed it.
pub(crate) async fn event_changed(outbox: &Outbox, tx: &mut Tx, kind: &str, event: &EventRow) -> Result<(), DbError> {
    let payload = serde_json::json!({
        "event_id": event.id,
        "owner_id": event.owner_id,
        "name": event.name,
        "starts_at": event.starts_at,
    });
    outbox.event(tx, kind, &payload).await.map(|_| ())
}
