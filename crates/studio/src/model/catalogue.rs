//! Categories and templates.

use platform::db::Ts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A category of templates.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
#[schema(as = studio::Category)]
pub struct Category {
    pub id: Uuid,
    /// 1–60 characters.
    pub name: String,
    /// Lower-case letters, digits and `-`; unique; what `category=` takes besides the id.
    pub slug: String,
    /// Lists are ordered by this, then by name.
    pub position: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A template as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateRow {
    pub id: Uuid,
    pub category_id: Option<Uuid>,
    pub title: String,
    pub prompt: String,
    pub style: Option<String>,
    /// A JSON array of strings.
    pub tags: String,
    pub image_key: Option<String>,
    pub is_trending: bool,
    pub view_count: i64,
    pub like_count: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A template of the catalogue.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = studio::Template)]
pub struct Template {
    pub id: Uuid,
    pub category_id: Option<Uuid>,
    /// 1–120 characters.
    pub title: String,
    /// The prompt a generation from this template starts with (1–4 000 characters).
    pub prompt: String,
    pub style: Option<String>,
    /// Up to 20 lower-case tags.
    pub tags: Vec<String>,
    /// The template's picture (public), or null before one is uploaded.
    pub image_url: Option<String>,
    /// Its 256×256 JPEG thumbnail.
    pub thumbnail_url: Option<String>,
    pub is_trending: bool,
    /// Views, each viewer counted at most once an hour.
    pub view_count: i64,
    /// Exactly the number of users who have it among their favourites.
    pub like_count: i64,
    /// Whether the caller has it among their favourites; null when not signed in.
    pub is_favorite: Option<bool>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// Where a template's public picture is served (the version changes with the picture, so
/// caches may keep it).
pub fn template_image_url(public: &str, id: Uuid, key: &str, thumbnail: bool) -> String {
    let version = key.rsplit('/').next().and_then(|name| name.split('.').next()).unwrap_or_default();
    let size = if thumbnail { "&size=thumbnail" } else { "" };
    format!("{}/api/v1/studio/templates/{id}/image?v={version}{size}", public.trim_end_matches('/'))
}

impl Template {
    /// The API view of `row`, its links on `public` (the server's public URL); `is_favorite` is
    /// the caller's, if there is one.
    pub fn from_row(row: TemplateRow, is_favorite: Option<bool>, public: &str) -> Self {
        let tags = serde_json::from_str(&row.tags).unwrap_or_default();
        Self {
            image_url: row.image_key.as_deref().map(|k| template_image_url(public, row.id, k, false)),
            thumbnail_url: row.image_key.as_deref().map(|k| template_image_url(public, row.id, k, true)),
            id: row.id,
            category_id: row.category_id,
            title: row.title,
            prompt: row.prompt,
            style: row.style,
            tags,
            is_trending: row.is_trending,
            view_count: row.view_count,
            like_count: row.like_count,
            is_favorite,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// How the catalogue is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[schema(as = studio::TemplateSort)]
#[serde(rename_all = "snake_case")]
pub enum TemplateSort {
    /// Newest first (the default).
    #[default]
    Newest,
    /// Most liked first (ties: newest first).
    Popular,
}
