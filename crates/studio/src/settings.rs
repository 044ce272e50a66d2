//! The studio's settings (`[studio]` in `ferrobase.toml`, `FERROBASE_STUDIO__*`, or
//! `FERROBASE_STUDIO_*`): the image provider, how generations run, and the credits of each tier.

use platform::module::Settings;
use platform::secret::Secret;
use serde::{Deserialize, Serialize};

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
