//! How the studio plugs into the platform: its settings, its services, its routes, the worker's
//! part (generations, the sweep) and its part in exporting and deleting an account.

use crate::provider::{ImageProvider, OpenAiImages};
use crate::service::Studio;
use platform::db::Tx;
use platform::module::{AccountHooks, AfterDeletion, Kernel, Module, Settings, SettingsOf, SettingsSpec};
use platform::secret::Secret;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The studio's settings (`[studio]` in `ferrobase.toml`, `FERROBASE_STUDIO__*`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StudioSettings {
    /// An OpenAI-compatible images API (`https://api.openai.com`, or any service speaking it);
    /// empty: generation is not configured and ordering one answers 503.
    pub provider_url: String,
    /// Its API key (sent as a bearer token), if it needs one.
    pub provider_key: Secret,
    /// The model asked for.
    pub provider_model: String,
    /// The image size asked for.
    pub image_size: String,
    /// Generations at the provider at once, per instance.
    pub concurrency: usize,
    /// How long one generation may take at the provider before it fails (and its credit comes back).
    pub timeout_secs: u64,
    /// How long a generation may wait for a run slot before it fails the same way.
    pub queue_timeout_secs: u64,
    /// Generations one user may have queued or running at once (more: 409
    /// `too_many_generations`), so that one balance cannot fill every instance's queue.
    pub max_open_per_user: i64,
    /// Credits of a new user (the free tier's allowance).
    pub free_credits: i64,
    /// The balance a user set to `pro` is raised to.
    pub pro_credits: i64,
    /// The balance a user set to `premium` is raised to.
    pub premium_credits: i64,
}

impl Default for StudioSettings {
    fn default() -> Self {
        Self {
            provider_url: String::new(),
            provider_key: Secret::default(),
            provider_model: "gpt-image-1".into(),
            image_size: "1024x1024".into(),
            concurrency: 4,
            timeout_secs: 120,
            queue_timeout_secs: 1800,
            max_open_per_user: 10,
            free_credits: 3,
            pro_credits: 100,
            premium_credits: 500,
        }
    }
}

impl Settings for StudioSettings {
    fn validate(&self) -> Result<(), String> {
        let url = self.provider_url.trim();
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err("studio provider_url must start with http:// or https://".into());
        }
        if !(1..=64).contains(&self.concurrency) {
            return Err("studio concurrency must be between 1 and 64".into());
        }
        if !(1..=3600).contains(&self.timeout_secs) {
            return Err("studio timeout_secs must be between 1 and 3600".into());
        }
        if !(1..=1000).contains(&self.max_open_per_user) {
            return Err("studio max_open_per_user must be between 1 and 1000".into());
        }
        if !(10..=86_400).contains(&self.queue_timeout_secs) {
            return Err("studio queue_timeout_secs must be between 10 and 86400".into());
        }
        for (name, credits) in [
            ("free_credits", self.free_credits),
            ("pro_credits", self.pro_credits),
            ("premium_credits", self.premium_credits),
        ] {
            if !(0..=100_000).contains(&credits) {
                return Err(format!("studio {name} must be between 0 and 100000"));
            }
        }
        Ok(())
    }
}

/// The studio module.
pub struct StudioModule;

#[async_trait::async_trait]
impl Module for StudioModule {
    fn name(&self) -> &'static str {
        "studio"
    }

    fn migrations(&self) -> &'static [platform::db::Migration] {
        crate::MIGRATIONS
    }

    fn settings(&self) -> Option<&'static dyn SettingsSpec> {
        Some(&SettingsOf::<StudioSettings>::SPEC)
    }

    async fn init(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        let settings: StudioSettings = kernel.settings()?;
        let provider: Option<Arc<dyn ImageProvider>> = match settings.provider_url.trim() {
            "" => None,
            url => {
                let key = Some(settings.provider_key.expose().to_string()).filter(|k| !k.is_empty());
                // The run's own timeout fires first and is recorded as such; this one only
                // bounds a connection the run has stopped waiting for.
                let timeout = Duration::from_secs(settings.timeout_secs + 10);
                let images =
                    OpenAiImages::new(url, key, settings.provider_model.clone(), settings.image_size.clone(), timeout)?;
                Some(Arc::new(images))
            }
        };
        let accounts: accounts::Accounts = kernel.service()?;
        let studio = Studio::new(kernel.platform().clone(), accounts, settings, provider);
        kernel.account_hooks(Arc::new(Hooks(studio.clone())));
        kernel.outbox_handler(crate::service::GENERATION_JOB, Arc::new(crate::jobs::GenerationHandler(studio.clone())));
        kernel.provide(studio);
        Ok(())
    }

    async fn serve(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        let studio: Studio = kernel.service()?;
        let auth = kernel.auth()?;
        let uploads = kernel.platform().uploads.clone();
        kernel.routes(crate::routes::router(studio.clone(), auth, &uploads));
        kernel.job(Arc::new(crate::jobs::Sweep(studio)));
        Ok(())
    }
}

/// The studio's part in exporting and deleting an account.
struct Hooks(Studio);

#[async_trait::async_trait]
impl AccountHooks for Hooks {
    async fn export(&self, user: Uuid) -> anyhow::Result<serde_json::Value> {
        Ok(self.0.export(user).await?)
    }

    async fn deleting(&self, tx: &mut Tx, user: Uuid) -> anyhow::Result<Option<AfterDeletion>> {
        self.0.deleting(tx, user).await?;
        Ok(None)
    }
}
