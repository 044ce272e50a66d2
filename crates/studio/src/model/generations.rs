//! Generations: jobs that turn a prompt (and, for edits, images) into an image.

use platform::db::Ts;
use platform::files::FileUrls;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// What a generation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = studio::GenerationKind)]
#[serde(rename_all = "snake_case")]
pub enum GenerationKind {
    /// An image from a prompt.
    Generate,
    /// A changed image: the parent generation's, else the character's photos, else the
    /// template's picture.
    Edit,
}

impl GenerationKind {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generate => "generate",
            Self::Edit => "edit",
        }
    }
}

/// Where a generation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = studio::GenerationStatus)]
#[serde(rename_all = "snake_case")]
pub enum GenerationStatus {
    /// Waiting for a worker; its credit is reserved.
    Queued,
    /// At the provider; its credit is reserved.
    Running,
    /// Done; its credit is spent.
    Succeeded,
    /// Failed or timed out; its credit was returned.
    Failed,
}

impl GenerationStatus {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            _ => Self::Queued,
        }
    }
}

/// A generation as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GenerationRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub kind: String,
    pub prompt: String,
    pub template_id: Option<Uuid>,
    pub character_id: Option<Uuid>,
    pub parent_id: Option<Uuid>,
    pub status: String,
    pub error: Option<String>,
    /// A JSON object.
    pub metadata: String,
    pub result_key: Option<String>,
    pub thumbnail_key: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub deadline: Option<Ts>,
    pub started_at: Option<Ts>,
    pub finished_at: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// The metadata as shown: the plan's storage keys stay inside; the prompt sent is shown.
fn shown_metadata(stored: &str) -> serde_json::Value {
    let mut metadata: serde_json::Value = serde_json::from_str(stored).unwrap_or_default();
    if let Some(object) = metadata.as_object_mut()
        && let Some(plan) = object.remove("plan")
    {
        object.insert("provider_prompt".into(), plan["provider_prompt"].clone());
    }
    metadata
}

/// The image a generation made, through links that expire.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = studio::ResultImage)]
pub struct ResultImage {
    /// The image: a signed link.
    pub url: String,
    /// A 256×256 JPEG thumbnail: a signed link.
    pub thumbnail_url: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    /// When the links stop working.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// One of the caller's generations.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = studio::Generation)]
pub struct Generation {
    pub id: Uuid,
    pub kind: GenerationKind,
    pub prompt: String,
    pub template_id: Option<Uuid>,
    pub character_id: Option<Uuid>,
    /// The generation an edit started from (its lineage).
    pub parent_id: Option<Uuid>,
    pub status: GenerationStatus,
    /// Why it failed (`provider_error`, `timeout`, `invalid_result`, …), once it has.
    pub error: Option<String>,
    /// What was asked of the provider (size, style, model, source count).
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// The image, once it succeeded.
    pub result: Option<ResultImage>,
    pub started_at: Option<Ts>,
    pub finished_at: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl Generation {
    /// The API view of `row`, with links signed by `urls`.
    pub fn from_row(row: GenerationRow, urls: &FileUrls) -> Self {
        let result = row.result_key.as_deref().map(|key| {
            let signed = urls.sign(key);
            ResultImage {
                url: signed.url,
                thumbnail_url: row.thumbnail_key.as_deref().map(|k| urls.sign(k).url),
                width: row.width,
                height: row.height,
                expires_at: signed.expires_at,
            }
        });
        Self {
            id: row.id,
            kind: if row.kind == "edit" { GenerationKind::Edit } else { GenerationKind::Generate },
            prompt: row.prompt,
            template_id: row.template_id,
            character_id: row.character_id,
            parent_id: row.parent_id,
            status: GenerationStatus::parse(&row.status),
            error: row.error,
            metadata: shown_metadata(&row.metadata),
            result,
            started_at: row.started_at,
            finished_at: row.finished_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}
