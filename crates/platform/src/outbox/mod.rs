//! The transactional outbox: side effects (mail, SMS, broker messages) are written as rows in
//! the same transaction as the change that causes them, then delivered by the [`Worker`] with
//! retries and exponential backoff, and parked after the last attempt. A crash between commit and
//! delivery loses nothing: the row is still there when a worker next looks.
//!
//! Delivery is at least once; each row's id goes with it (as a Message-ID, a file name, a broker
//! message id) so that a redelivery can be recognised.

mod delivery;
mod store;
mod worker;

pub use delivery::{DeleteFiles, DeleteFilesHandler, MailHandler, SmsHandler};
pub use store::{OutboxRow, count_by_status};
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
/// The kind of the built-in SMS side effect (payload: [`crate::sms::Sms`]).
pub const SEND_SMS: &str = "sms.send";
/// The kind of the built-in file removal (payload: [`DeleteFiles`]).
pub const DELETE_FILES: &str = "storage.delete";

/// Handle for writing side effects and waking the local worker.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    wake: Arc<Notify>,
}

impl Outbox {
    /// A handle whose [`Outbox::wake`] reaches the worker given the same handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes a side effect inside `tx`; it is delivered only if `tx` commits.
    pub async fn enqueue(&self, tx: &mut Tx, kind: &str, payload: &impl Serialize) -> Result<Uuid, DbError> {
        let payload = serde_json::to_string(payload).map_err(|e| DbError::Other(sqlx::Error::Encode(Box::new(e))))?;
        store::insert(tx, kind, &payload).await
    }

    /// Tells the local worker that rows were committed, so it does not wait for its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn notified(&self) -> &Notify {
        &self.wake
    }
}
