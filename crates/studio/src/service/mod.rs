//! The studio's use cases, one room each: the catalogue, favourites, characters, generations
//! and profiles; here the service they share, the checks they share, and a user's data export
//! and departure.

mod catalogue;
mod categories;
mod characters;
mod favorites;
mod generations;
mod profile;

pub use catalogue::{TemplateInput, TemplatePatch, TemplateQuery};
pub use categories::{CategoryInput, CategoryPatch};
pub use characters::{MAX_IMAGES, MIN_IMAGES};
pub use favorites::{FavoriteChange, FavoriteState};
pub use generations::{GENERATION_JOB, GENERATION_UPDATED, GenerationInput, GenerationJob};
pub use profile::PlanChange;

use crate::error::StudioError;
use crate::provider::ImageProvider;
use crate::settings::StudioSettings;
use crate::store;
use platform::Platform;
use platform::auth::AuthUser;
use platform::db::Tx;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use uuid::Uuid;

type Result<T> = std::result::Result<T, StudioError>;

/// The studio service. Cheap to clone.
#[derive(Clone)]
pub struct Studio {
    platform: Platform,
    /// Who may order generations (a verified email address or phone number).
    accounts: accounts::Accounts,
    settings: Arc<StudioSettings>,
    /// The image provider, when one is configured.
    provider: Option<Arc<dyn ImageProvider>>,
    /// Generations at the provider at once on this instance.
    runs: Arc<Semaphore>,
    /// Generations this instance has a task for (so a row handed out twice runs here once).
    in_flight: Arc<Mutex<HashSet<Uuid>>>,
}

impl Studio {
    /// The service over the platform, reading users through `accounts` and generating through
    /// `provider` when there is one.
    pub fn new(
        platform: Platform,
        accounts: accounts::Accounts,
        settings: StudioSettings,
        provider: Option<Arc<dyn ImageProvider>>,
    ) -> Self {
        let runs = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        Self { platform, accounts, settings: Arc::new(settings), provider, runs, in_flight: Arc::default() }
    }

    /// `Ok` for administrators: the catalogue is theirs to change.
    fn require_admin(user: &AuthUser) -> Result<()> {
        if user.is_admin() { Ok(()) } else { Err(StudioError::AdminOnly) }
    }

    /// Everything the user keeps here, for their data export (images as storage keys: the
    /// links would expire long before anyone reads the export).
    pub async fn export(&self, user: Uuid) -> Result<serde_json::Value> {
        let profile = store::profiles::find(&self.platform.db, user).await?;
        let characters = store::characters::all_of_owner(&self.platform.db, user).await?;
        let generations = store::generations::all_of(&self.platform.db, user).await?;
        let favorites = store::favorites::list(&self.platform.db, user, None, 100_000).await?;
        Ok(serde_json::json!({
            "profile": profile.map(|p| serde_json::json!({"tier": p.tier, "credits": p.credits})),
            "characters": characters.iter().map(|c| serde_json::json!({
                "id": c.id, "name": c.name, "images": c.stored_images().iter().map(|i| &i.key).collect::<Vec<_>>(),
                "created_at": c.created_at,
            })).collect::<Vec<_>>(),
            "generations": generations.iter().map(|g| serde_json::json!({
                "id": g.id, "kind": g.kind, "prompt": g.prompt, "status": g.status, "parent_id": g.parent_id,
                "template_id": g.template_id, "result": g.result_key, "created_at": g.created_at,
            })).collect::<Vec<_>>(),
            "favorites": favorites.iter().map(|(at, t)| serde_json::json!({"template_id": t.id, "at": at})).collect::<Vec<_>>(),
        }))
    }

    /// Inside the transaction that deletes the account: takes back the user's likes and queues
    /// the removal of their files (their rows go with the account through `ON DELETE CASCADE`).
    pub async fn deleting(&self, tx: &mut Tx, user: Uuid) -> Result<()> {
        store::favorites::forget_user(tx, user).await?;
        let mut keys = Vec::new();
        for character in store::characters::all_of(tx, user).await? {
            for image in character.stored_images() {
                keys.extend([image.key, image.thumbnail_key]);
            }
        }
        keys.extend(store::generations::files_of(tx, user).await?);
        self.forget_files(tx, keys).await
    }

    /// Queues the removal of `keys` once `tx` commits.
    async fn forget_files(&self, tx: &mut Tx, keys: Vec<String>) -> Result<()> {
        if !keys.is_empty() {
            let files = platform::outbox::DeleteFiles { keys };
            self.platform.outbox.enqueue(tx, platform::outbox::DELETE_FILES, &files).await?;
        }
        Ok(())
    }
}
