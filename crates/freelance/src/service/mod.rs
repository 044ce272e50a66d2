//! Freelance's use cases, one room each: clients, time tracking and its reports; here the
//! service they share and the user's data export.

mod clients;
mod time;
mod time_report;

pub use clients::{ClientInput, ClientPatch, ClientQuery, MAX_RATE};
pub use time::{EntryInput, EntryPatch, MAX_ENTRY_HOURS};
pub use time_report::{EntryQuery, MAX_CSV_ROWS};

use crate::error::FreelanceError;
use crate::model::{Client, TimeEntry};
use crate::store;
use platform::Platform;
use uuid::Uuid;
use work::Work;

type Result<T> = std::result::Result<T, FreelanceError>;

/// The freelance service. Cheap to clone.
#[derive(Clone)]
pub struct Freelance {
    platform: Platform,
    /// Projects and tasks that time is tracked on, read as the caller.
    work: Work,
}

impl Freelance {
    /// The service over the platform, reading projects through `work`.
    pub fn new(platform: Platform, work: Work) -> Self {
        Self { platform, work }
    }

    /// The user's clients and time entries, for their data export. Entries carry only their
    /// own rate (the project's is the project owner's data).
    pub async fn export(&self, user: Uuid) -> Result<serde_json::Value> {
        let clients: Vec<Client> =
            store::clients::all_of(&self.platform.db, user).await?.into_iter().map(Client::from).collect();
        let now = platform::db::Ts::now();
        let entries: Vec<TimeEntry> = store::time::all_of(&self.platform.db, user)
            .await?
            .into_iter()
            .map(|row| {
                let rate = time::own_rate_of(&row);
                TimeEntry::new(row, rate, now)
            })
            .collect();
        Ok(serde_json::json!({ "clients": clients, "time_entries": entries }))
    }
}
