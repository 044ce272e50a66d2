//! The studio's work on the worker: handing queued generations to their runs, and the sweep
//! that settles what a stopped instance left behind and forgets old views.

use crate::service::{GenerationJob, Studio};
use platform::outbox::Handler;
use uuid::Uuid;

/// Delivers `studio.generation` rows: the generation's run starts in its own task, so a slow
/// provider never holds up the outbox.
pub struct GenerationHandler(pub Studio);

#[async_trait::async_trait]
impl Handler for GenerationHandler {
    async fn handle(&self, _id: Uuid, payload: &str) -> Result<(), String> {
        let job: GenerationJob = serde_json::from_str(payload).map_err(|e| format!("bad payload: {e}"))?;
        self.0.dispatch(job.id).await.map_err(|e| e.to_string())
    }
}

/// Settles stranded generations (their credits come back) and purges old view records.
pub struct Sweep(pub Studio);

#[async_trait::async_trait]
impl platform::outbox::Job for Sweep {
    fn name(&self) -> &'static str {
        "studio.sweep"
    }

    async fn run(&self) -> Result<(), String> {
        let settled = self.0.sweep_generations().await.map_err(|e| e.to_string())?;
        if settled > 0 {
            // Each of them failed (or had been settled a moment before); credits came back.
            tracing::info!(settled, "stranded generations failed and their credits returned");
        }
        self.0.purge_views().await.map_err(|e| e.to_string())?;
        Ok(())
    }
}
