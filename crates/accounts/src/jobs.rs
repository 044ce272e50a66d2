//! Scheduled clean-up: unverified email accounts older than 30 days that left nothing others
//! see, expired codes, dead sessions.
//! Each run is a set of idempotent deletes, safe on several instances at once.

use crate::Accounts;
use crate::store;
use platform::db::{Db, Ts};
use platform::outbox::Job;

/// Days an email account may stay unverified.
pub const UNVERIFIED_TTL_DAYS: i64 = 30;

/// The accounts clean-up job.
pub struct Cleanup {
    /// The database.
    pub db: Db,
    /// The service, whose removal path hands on what departing accounts shared.
    pub accounts: Accounts,
}

#[async_trait::async_trait]
impl Job for Cleanup {
    fn name(&self) -> &'static str {
        "accounts.cleanup"
    }

    async fn run(&self) -> Result<(), String> {
        let now = Ts::now();
        let purged = self
            .accounts
            .purge_unverified(now.minus(chrono::Duration::days(UNVERIFIED_TTL_DAYS)))
            .await
            .map_err(|e| e.to_string())?;
        let codes =
            store::delete_old_codes(&self.db, now.minus(chrono::Duration::days(1))).await.map_err(|e| e.to_string())?;
        let sessions = store::delete_dead_sessions(&self.db, now.minus(chrono::Duration::days(7)))
            .await
            .map_err(|e| e.to_string())?;
        if purged + codes + sessions > 0 {
            tracing::info!(purged, codes, sessions, "accounts clean-up");
        }
        Ok(())
    }
}
