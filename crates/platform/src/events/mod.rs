//! Domain events: what happened in a module (`chat.message.created`, `work.task.completed` …),
//! written to the outbox in the transaction of the change ([`crate::outbox::Outbox::event`]),
//! then handed by the [`Relay`] to in-process subscribers (each event handled once per
//! subscriber, recorded in `event_inbox`) and, when `FERROBASE_AMQP_URL` is set, to RabbitMQ
//! ([`Broker`]): the durable topic exchange `ferrobase.events`, routing key = event type.
//!
//! Events leave in the order they were written, one instance at a time (the relay holds a
//! lease), so events of one aggregate stay in order. A broker that is down or unreachable holds
//! the queue: events wait in the outbox and go out once it is back, none lost.

mod broker;
mod relay;

pub use broker::{Broker, EXCHANGE};
pub use relay::{Relay, Subscriber};

use crate::db::Ts;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An event as stored, handed to subscribers and published (the AMQP body).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// Unique id (UUIDv7; also the AMQP message id), so consumers can drop redeliveries.
    pub id: Uuid,
    /// The event type, e.g. `chat.message.created` (also the routing key).
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change happened.
    pub occurred_at: Ts,
    /// The event's payload.
    pub data: serde_json::Value,
}

impl Envelope {
    /// A new event of `kind` with `data`, happening now.
    pub fn new(kind: &str, data: &impl Serialize) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id: Uuid::now_v7(),
            kind: kind.to_string(),
            occurred_at: Ts::now(),
            data: serde_json::to_value(data)?,
        })
    }
}
