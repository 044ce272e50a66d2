//! Generations: ordering one (a credit is reserved in the same transaction that queues it),
//! running it at the provider on the worker (bounded, with a timeout), and settling it once:
//! succeeded (the credit is spent) or failed (the credit comes back). The sweep settles what a
//! stopped instance left behind.

use super::catalogue::{THUMBNAIL_SIDE, thumbnail_key};
use super::{Result, Studio};
use crate::error::StudioError;
use crate::model::{Generation, GenerationKind, GenerationRow};
use crate::provider::{ImageRequest, SourceImage};
use crate::store;
use crate::store::generations::{NewGeneration, Outcome};
use platform::FieldError;
use platform::db::Ts;
use platform::pagination::{Page, PageQuery};
use platform::text::field_text;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

/// The outbox kind that hands a queued generation to the worker (payload: [`GenerationJob`]).
pub const GENERATION_JOB: &str = "studio.generation";
/// The realtime event on `user.{id}` when one of the user's generations changes.
pub const GENERATION_UPDATED: &str = "studio.generation.updated";
/// Longest prompt.
const MAX_PROMPT: usize = 4_000;
/// Most source images sent with an edit.
const MAX_SOURCES: usize = 5;
/// Largest side of a stored result.
const RESULT_SIDE: u32 = 4096;
/// How long a queued generation waits before the sweep hands it to a run again.
const HANDED_OUT_AGAIN: chrono::Duration = chrono::Duration::seconds(60);
/// How long past its timeout a running generation's row is left to its worker before the
/// sweep settles it (the worker settles it itself when the timeout fires).
const GRACE: chrono::Duration = chrono::Duration::seconds(60);

/// A generation order.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[schema(as = studio::GenerationInput)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct GenerationInput {
    /// `generate` (from words, with a character's photos as references when given) or `edit`
    /// (changes the parent's image, else the character's photos, else the template's picture).
    pub kind: GenerationKind,
    /// What to make or change (1–4 000 characters; may be empty with a template).
    #[serde(default)]
    pub prompt: String,
    /// A template whose prompt and style come first.
    pub template_id: Option<Uuid>,
    /// One of the caller's characters, whose photos go along.
    pub character_id: Option<Uuid>,
    /// One of the caller's succeeded generations to edit (edits only).
    pub parent_id: Option<Uuid>,
}

/// Payload of [`GENERATION_JOB`].
#[derive(Debug, Serialize, Deserialize)]
pub struct GenerationJob {
    pub id: Uuid,
}

/// What a queued generation is sent with (kept in its metadata, so a template changed later
/// does not change a generation already ordered).
#[derive(Debug, Serialize, Deserialize, Default)]
struct Plan {
    /// The full prompt the provider gets.
    provider_prompt: String,
    /// Storage keys of the source images, in order.
    sources: Vec<String>,
}

impl Studio {
    /// Queues a generation for the caller, reserving one of their credits.
    pub async fn create_generation(&self, user: Uuid, input: GenerationInput) -> Result<Generation> {
        let provider = self.provider.as_ref().ok_or(StudioError::NotConfigured)?;
        let mut errors = Vec::new();
        let prompt = field_text(&mut errors, "prompt", Some(&input.prompt), MAX_PROMPT, true).unwrap_or_default();
        if prompt.is_empty() && input.template_id.is_none() && errors.is_empty() {
            errors.push(FieldError::new(
                "prompt",
                format!("is required (1 to {MAX_PROMPT} characters) without a template"),
            ));
        }
        if input.kind == GenerationKind::Generate && input.parent_id.is_some() {
            errors.push(FieldError::new("parent_id", "is for edits (kind: edit)"));
        }
        if !errors.is_empty() {
            return Err(StudioError::Invalid(errors));
        }
        // A generation is paid with the provider's money: someone the platform can reach.
        let me = self.accounts.user(user).await?;
        if !me.email_verified && me.phone.is_none() {
            return Err(StudioError::VerificationRequired);
        }
        // Every read happens before the transaction opens (see docs/decisions.md).
        let template = match input.template_id {
            Some(id) => {
                Some(store::catalogue::find_template(&self.platform.db, id).await?.ok_or(StudioError::NotFound)?)
            }
            None => None,
        };
        let character = match input.character_id {
            Some(id) => Some(store::characters::find(&self.platform.db, user, id).await?.ok_or(StudioError::NotFound)?),
            None => None,
        };
        let parent = match input.parent_id {
            Some(id) => {
                Some(store::generations::find(&self.platform.db, user, id).await?.ok_or(StudioError::NotFound)?)
            }
            None => None,
        };
        let mut sources = Vec::new();
        if let Some(parent) = &parent {
            sources.push(parent.result_key.clone().ok_or(StudioError::ParentNotReady)?);
        }
        if let Some(character) = &character {
            sources.extend(character.stored_images().into_iter().map(|i| i.key));
        }
        if input.kind == GenerationKind::Edit && sources.is_empty() {
            match template.as_ref().and_then(|t| t.image_key.clone()) {
                Some(key) => sources.push(key),
                None => {
                    return Err(StudioError::field(
                        "kind",
                        "an edit needs parent_id, character_id or a template with a picture",
                    ));
                }
            }
        }
        sources.truncate(MAX_SOURCES);
        let mut provider_prompt = String::new();
        if let Some(t) = &template {
            provider_prompt.push_str(&t.prompt);
            if let Some(style) = &t.style {
                provider_prompt.push_str(&format!("\nStyle: {style}."));
            }
        }
        if !prompt.is_empty() {
            if !provider_prompt.is_empty() {
                provider_prompt.push('\n');
            }
            provider_prompt.push_str(&prompt);
        }
        let metadata = serde_json::json!({
            "provider": provider.describe(),
            "sources": sources.len(),
            "plan": Plan { provider_prompt, sources },
        });
        let metadata = metadata.to_string();
        let now = Ts::now();
        let new = NewGeneration {
            id: Uuid::now_v7(),
            owner: user,
            kind: input.kind.as_str(),
            prompt: &prompt,
            template_id: input.template_id,
            character_id: input.character_id,
            parent_id: input.parent_id,
            metadata: &metadata,
        };
        let mut tx = self.platform.db.begin().await?;
        store::profiles::ensure(&mut tx, user, self.settings.free_credits, now).await?;
        if !store::profiles::reserve(&mut tx, user, now).await? {
            return Err(StudioError::InsufficientCredits);
        }
        let open = store::generations::open_count(&mut tx, user).await?;
        if open >= self.settings.max_open_per_user {
            return Err(StudioError::TooManyGenerations(open));
        }
        let row = store::generations::insert(&mut tx, &new, now).await?;
        self.platform.outbox.enqueue(&mut tx, GENERATION_JOB, &GenerationJob { id: row.id }).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        // Announced as queued by the instance that takes it (`dispatch`), not here: that
        // instance also announces `running`, and one publisher keeps the two in order.
        Ok(Generation::from_row(row, &self.platform.file_urls))
    }

    /// One of the caller's generations.
    pub async fn generation(&self, user: Uuid, id: Uuid) -> Result<Generation> {
        let row = store::generations::find(&self.platform.db, user, id).await?.ok_or(StudioError::NotFound)?;
        Ok(Generation::from_row(row, &self.platform.file_urls))
    }

    /// The caller's generations, newest first.
    pub async fn generations(&self, user: Uuid, page: PageQuery) -> Result<Page<Generation>> {
        let limit = page.limit().map_err(|_| StudioError::field("limit", "must be between 1 and 100"))?;
        let before = page.cursor_id().map_err(|_| StudioError::field("cursor", "is not a valid cursor"))?;
        let rows = store::generations::list(&self.platform.db, user, before.unwrap_or(Uuid::max()), limit).await?;
        let page = Page::from_rows(rows, limit, |r| r.id);
        let urls = &self.platform.file_urls;
        Ok(Page {
            items: page.items.into_iter().map(|r| Generation::from_row(r, urls)).collect(),
            next_cursor: page.next_cursor,
        })
    }

    fn announce(&self, user: Uuid, generation: &Generation) {
        let topic = notifications::user_topic(user);
        self.platform.hub.publish(&topic, GENERATION_UPDATED, &serde_json::json!({ "generation": generation }));
    }

    async fn announce_row(&self, id: Uuid) {
        if let Ok(Some(row)) = store::generations::find_any(&self.platform.db, id).await {
            let owner = row.owner_id;
            self.announce(owner, &Generation::from_row(row, &self.platform.file_urls));
        }
    }

    /// The worker's part, when the outbox hands over a queued generation: it is announced as
    /// queued, and the run goes on in its own task (a provider may take minutes, and the outbox
    /// delivers other rows in batches), bounded by this instance's run slots.
    ///
    /// The `queued` event is published here rather than by the request that created the row:
    /// the request's instance and this one could differ, and even on one instance the request's
    /// task could be scheduled after this one had announced `running`. Published on the
    /// instance that runs the row, before its run task exists, it goes out ahead of that
    /// task's `running` and outcome through the same hub. A hand-out later than the sweep's
    /// (a minute) announces nothing: the sweep may have run the row meanwhile, and a `queued`
    /// then would follow its outcome. Each event carries the whole generation with its
    /// `updated_at`, so a client can still drop one older than what it holds.
    pub async fn dispatch(&self, id: Uuid) -> Result<()> {
        let Some(row) = store::generations::find_any(&self.platform.db, id).await? else {
            return Ok(()); // Gone with its owner's account.
        };
        if row.status == "queued" {
            self.spawn_run(row, |row| {
                if row.created_at.get() + HANDED_OUT_AGAIN > Ts::now().get() {
                    self.announce(row.owner_id, &Generation::from_row(row.clone(), &self.platform.file_urls));
                }
            });
        }
        Ok(())
    }

    /// Starts a task that runs `row` once a run slot is free, unless this instance has one
    /// for it already; `before` runs first, with the row, and only when it does. Another instance may hold
    /// the same row (the sweep hands stale rows out again): only one of them moves it from
    /// `queued` to `running`.
    fn spawn_run(&self, row: GenerationRow, before: impl FnOnce(&GenerationRow)) {
        let id = row.id;
        if !self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).insert(id) {
            return;
        }
        before(&row);
        let studio = self.clone();
        tokio::spawn(async move {
            studio.run(row).await;
            studio.in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
    }

    async fn run(&self, row: GenerationRow) {
        let Ok(_slot) = self.runs.clone().acquire_owned().await else { return };
        let timeout = Duration::from_secs(self.settings.timeout_secs.max(1));
        let now = Ts::now();
        if row.created_at.get() + self.queue_limit() < now.get() {
            self.settle_failed(row.id, "queue_timeout", true).await;
            return;
        }
        let deadline = now.plus(chrono::Duration::from_std(timeout).unwrap_or_default() + GRACE);
        let row = match store::generations::start(&self.platform.db, row.id, deadline, now).await {
            Ok(Some(row)) => row,
            Ok(None) => return, // Started elsewhere, or settled meanwhile.
            Err(e) => {
                tracing::warn!(id = %row.id, error = %e, "a generation could not start; the sweep hands it out again");
                return;
            }
        };
        self.announce(row.owner_id, &Generation::from_row(row.clone(), &self.platform.file_urls));
        let outcome = match tokio::time::timeout(timeout, self.ask_provider(&row)).await {
            Ok(Ok(image)) => self.keep(&row, image).await,
            Ok(Err(reason)) => Err(reason),
            Err(_) => Err("timeout"),
        };
        if let Err(reason) = outcome {
            self.settle_failed(row.id, reason, false).await;
        }
    }

    /// How long a generation may wait for a run slot.
    fn queue_limit(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.settings.queue_timeout_secs).unwrap_or(i64::MAX))
    }

    /// The provider's image for `row`, or why there is none (a code for the user: the detail
    /// goes to the log, since it may name storage, buckets or the provider's internals).
    async fn ask_provider(&self, row: &GenerationRow) -> std::result::Result<Vec<u8>, &'static str> {
        let provider = self.provider.as_ref().ok_or("generation_not_configured")?;
        let metadata: serde_json::Value = serde_json::from_str(&row.metadata).unwrap_or_default();
        let plan: Plan = serde_json::from_value(metadata["plan"].clone()).unwrap_or_default();
        let mut sources = Vec::new();
        for key in &plan.sources {
            let bytes = match self.platform.storage.get(key).await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => return Err("source_missing"),
                Err(e) => {
                    tracing::warn!(id = %row.id, error = %e, "reading a generation's source failed");
                    return Err("storage_error");
                }
            };
            let kind = platform::images::ImageKind::sniff(&bytes).ok_or("source_missing")?;
            sources.push(SourceImage {
                bytes,
                mime: kind.mime(),
                file_name: format!("source-{}.{}", sources.len() + 1, kind.extension()),
            });
        }
        let request = ImageRequest { prompt: plan.provider_prompt, sources };
        provider.create(&request).await.map_err(|e| {
            tracing::info!(id = %row.id, error = %e, "the image provider gave no image");
            "provider_error"
        })
    }

    /// Checks and stores the provider's image and settles the generation as succeeded (outside
    /// the provider's timeout: what is stored is always either kept or removed).
    async fn keep(&self, row: &GenerationRow, image: Vec<u8>) -> std::result::Result<(), &'static str> {
        platform::images::ImageKind::sniff(&image).ok_or("invalid_result")?;
        let options = platform::images::CleanOptions {
            max_pixels: self.platform.uploads.max_pixels,
            max_side: RESULT_SIDE,
            thumbnail: Some(THUMBNAIL_SIDE),
        };
        let clean = match self.platform.uploads.images.run(move || platform::images::clean(&image, options)).await {
            Ok(Ok(clean)) => clean,
            Ok(Err(_)) => return Err("invalid_result"),
            Err(e) => {
                tracing::warn!(id = %row.id, error = %e, "an image worker failed");
                return Err("internal_error");
            }
        };
        let key = format!("studio/{}/generations/{}.{}", row.owner_id, row.id, clean.kind.extension());
        let thumbnail = thumbnail_key(&key);
        let storage = &self.platform.storage;
        let (width, height) = clean.dimensions;
        let stored = async {
            storage.put(&key, clean.bytes.into()).await?;
            storage.put(&thumbnail, clean.thumbnail.unwrap_or_default().into()).await
        }
        .await;
        let settled = match stored {
            Ok(()) => {
                let outcome =
                    Outcome { key: &key, thumbnail_key: &thumbnail, width: width.into(), height: height.into() };
                async {
                    let mut tx = self.platform.db.begin().await?;
                    let done = store::generations::succeed(&mut tx, row.id, &outcome, Ts::now()).await?;
                    tx.commit().await?;
                    Ok::<bool, platform::db::DbError>(done)
                }
                .await
                .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        let outcome = match settled {
            Ok(true) => {
                self.announce_row(row.id).await;
                return Ok(());
            }
            // Settled meanwhile (the sweep failed it and returned the credit): the image goes.
            Ok(false) => Ok(()),
            Err(e) => {
                tracing::warn!(id = %row.id, error = %e, "a generation's image could not be kept");
                Err("storage_error")
            }
        };
        let _ = storage.delete(&key).await;
        let _ = storage.delete(&thumbnail).await;
        outcome
    }

    /// Settles a generation as failed and returns its credit, in one transaction: a queued one
    /// only when `queued_only` (a run that never started must not fail its twin's run), else a
    /// queued or running one; a generation settled already is left as it is.
    async fn settle_failed(&self, id: Uuid, reason: &str, queued_only: bool) {
        let settled = async {
            let now = Ts::now();
            let mut tx = self.platform.db.begin().await?;
            let owner = store::generations::fail(&mut tx, id, reason, now, queued_only).await?;
            if let Some(owner) = owner {
                store::profiles::refund(&mut tx, owner, now).await?;
            }
            tx.commit().await
        }
        .await;
        match settled {
            Ok(()) => self.announce_row(id).await,
            Err(e) => tracing::warn!(%id, error = %e, "a failed generation could not be settled; the sweep retries"),
        }
    }

    /// Settles generations a stopped instance left behind, running past their deadline or
    /// queued longer than the queue allows (their credits come back), and hands queued ones
    /// older than a minute to a run here (the instance that took them may have stopped; if it
    /// has not, only one of the two starts them). Answers how many it settled.
    pub async fn sweep_generations(&self) -> Result<usize> {
        let now = Ts::now();
        let stranded =
            store::generations::stranded(&self.platform.db, now, now.minus(self.queue_limit() + GRACE), 500).await?;
        for (id, queued) in &stranded {
            self.settle_failed(*id, if *queued { "queue_timeout" } else { "timeout" }, *queued).await;
        }
        for row in store::generations::waiting(&self.platform.db, now.minus(HANDED_OUT_AGAIN), 500).await? {
            self.spawn_run(row, |_| {});
        }
        Ok(stranded.len())
    }
}
