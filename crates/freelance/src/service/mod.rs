//! Freelance's use cases, one room each: clients now; here the service they share and the
//! user's data export.

mod clients;

pub use clients::{ClientInput, ClientPatch, ClientQuery, MAX_RATE};

use crate::error::FreelanceError;
use crate::model::Client;
use crate::store;
use platform::Platform;
use uuid::Uuid;

type Result<T> = std::result::Result<T, FreelanceError>;

/// The freelance service. Cheap to clone.
#[derive(Clone)]
pub struct Freelance {
    platform: Platform,
}

impl Freelance {
    /// The service over the platform.
    pub fn new(platform: Platform) -> Self {
        Self { platform }
    }

    /// The user's clients, for their data export.
    pub async fn export(&self, user: Uuid) -> Result<serde_json::Value> {
        let clients: Vec<Client> =
            store::clients::all_of(&self.platform.db, user).await?.into_iter().map(Client::from).collect();
        Ok(serde_json::json!({ "clients": clients }))
    }
}
