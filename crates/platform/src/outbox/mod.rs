//! The transactional outbox: side effects (mail, SMS, broker messages) are written as rows in
//! the same transaction as the change that causes them, then delivered by the [`Worker`] with
//! retries and exponential backoff, and parked after the last attempt. A crash between commit and
//! delivery loses nothing: the row is still there when a worker next looks.
//!
//! Delivery is at least once; each row's id goes with it (as a Message-ID, a file name, a broker
//! message id) so that a redelivery can be recognised.

mod delivery;
pub(crate) mod lease;
pub(crate) mod store;
mod worker;

pub use delivery::{DeleteFiles, DeleteFilesHandler, MailHandler, OnBehalfHandler, SmsHandler};
pub use store::{ListedRow, OutboxRow, count_by_status, list, retry};
pub use worker::{Handler, Job, Worker};

use crate::db::{DbError, Tx};
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

/// Status of a row still waiting for (another) delivery attempt.
pub const PENDING: &str = "pending";
/// Status of a row that failed its last attempt and waits for an operator.
pub const PARKED: &str = "parked";

/// The kind of the built-in mail side effect (payload: [`crate::mail::Mail`]).
pub const SEND_MAIL: &str = "mail.send";
/// The kind of mail one person's action sends to someone else (payload:
/// [`crate::mail::OnBehalf`]): coalescing and the hourly budgets are decided when it is
/// delivered, outside the transaction that wrote it.
pub const SEND_MAIL_ON_BEHALF: &str = "mail.on_behalf";
/// The kind of the built-in SMS side effect (payload: [`crate::sms::Sms`]).
pub const SEND_SMS: &str = "sms.send";
/// The kind of the built-in file removal (payload: [`DeleteFiles`]).
pub const DELETE_FILES: &str = "storage.delete";

/// The kind of outbox rows that carry domain events (payload: [`crate::events::Envelope`]).
/// The event relay delivers them in order; the general delivery loop leaves them alone.
pub const DOMAIN_EVENT: &str = "domain.event";

/// Handle for writing side effects and domain events, and waking the local worker.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    wake: Arc<Notify>,
    wake_events: Arc<Notify>,
    /// Which event types anyone receives; unset means all (see [`Outbox::event`]).
    wanted: Arc<std::sync::OnceLock<Wanted>>,
}

/// Who receives domain events: the broker takes every type; subscribers take theirs.
#[derive(Debug, Default)]
pub struct Wanted {
    /// A broker is configured: every event goes out.
    pub all: bool,
    /// Types some in-process subscriber handles.
    pub types: std::collections::HashSet<String>,
}

impl Outbox {
    /// A handle whose [`Outbox::wake`] reaches the worker given the same handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes a side effect inside `tx`; it is delivered only if `tx` commits.
    pub async fn enqueue(&self, tx: &mut Tx, kind: &str, payload: &impl Serialize) -> Result<Uuid, DbError> {
        let payload = serde_json::to_string(payload).map_err(|e| DbError::Other(sqlx::Error::Encode(Box::new(e))))?;
        store::insert(tx, Uuid::now_v7(), kind, &payload).await
    }

    /// Writes domain event `kind` (e.g. `chat.message.created`) with `data` inside `tx`; it is
    /// handed to subscribers and the broker, in order, only if `tx` commits. Nothing is written
    /// when nobody would receive it (no broker configured and no subscriber of that type).
    pub async fn event(&self, tx: &mut Tx, kind: &str, data: &impl Serialize) -> Result<Option<Uuid>, DbError> {
        if !self.wants(kind) {
            return Ok(None);
        }
        let envelope =
            crate::events::Envelope::new(kind, data).map_err(|e| DbError::Other(sqlx::Error::Encode(Box::new(e))))?;
        let payload = serde_json::to_string(&envelope).map_err(|e| DbError::Other(sqlx::Error::Encode(Box::new(e))))?;
        store::insert(tx, envelope.id, DOMAIN_EVENT, &payload).await?;
        Ok(Some(envelope.id))
    }

    /// Whether [`Outbox::event`] would write an event of `kind` (someone receives it). A write
    /// whose only other row would be such an event can skip its transaction when it is not.
    pub fn wants(&self, kind: &str) -> bool {
        self.wanted.get().is_none_or(|wanted| wanted.all || wanted.types.contains(kind))
    }

    /// Says once, when the app is assembled, who receives events.
    pub fn set_wanted(&self, wanted: Wanted) {
        let _ = self.wanted.set(wanted);
    }

    /// Tells the local worker that rows were committed, so it does not wait for its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
        self.wake_events.notify_one();
    }

    pub(crate) fn notified(&self) -> &Notify {
        &self.wake
    }

    pub(crate) fn events_wake(&self) -> Arc<Notify> {
        self.wake_events.clone()
    }
}
