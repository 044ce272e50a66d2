//! How the studio plugs into the platform: its services, its routes, the worker's
//! part (generations, the sweep) and its part in exporting and deleting an account.

use crate::provider::{ImageProvider, OpenAiImages};
use crate::service::Studio;
use crate::settings::StudioSettings;
use platform::db::Tx;
use platform::module::{AccountHooks, AfterDeletion, Kernel, Module, SettingsOf, SettingsSpec};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

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
