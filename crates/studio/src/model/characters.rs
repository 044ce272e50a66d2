//! Characters: a name and 3–5 private photos.

use platform::db::Ts;
use platform::files::FileUrls;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One stored photo of a character (an element of the row's JSON array).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredImage {
    pub key: String,
    pub thumbnail_key: String,
    pub width: u32,
    pub height: u32,
}

/// A character as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CharacterRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    /// A JSON array of [`StoredImage`].
    pub images: String,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl CharacterRow {
    /// The stored photos, in the order they were sent.
    pub fn stored_images(&self) -> Vec<StoredImage> {
        serde_json::from_str(&self.images).unwrap_or_default()
    }
}

/// A photo of a character, through links that expire.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = studio::CharacterImage)]
pub struct CharacterImage {
    /// The photo (upright, at most 2 048 px a side, without its metadata): a signed link.
    pub url: String,
    /// A 256×256 JPEG thumbnail: a signed link.
    pub thumbnail_url: String,
    pub width: u32,
    pub height: u32,
}

/// One of the caller's characters.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = studio::Character)]
pub struct Character {
    pub id: Uuid,
    /// 1–100 characters.
    pub name: String,
    /// 3–5 photos.
    pub images: Vec<CharacterImage>,
    /// When the links in `images` stop working (fetch the character again for new ones).
    pub links_expire_at: chrono::DateTime<chrono::Utc>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl Character {
    /// The API view of `row`, with links signed by `urls`.
    pub fn from_row(row: CharacterRow, urls: &FileUrls) -> Self {
        let mut expires = chrono::Utc::now();
        let images = row
            .stored_images()
            .into_iter()
            .map(|image| {
                let url = urls.sign(&image.key);
                expires = url.expires_at;
                CharacterImage {
                    url: url.url,
                    thumbnail_url: urls.sign(&image.thumbnail_key).url,
                    width: image.width,
                    height: image.height,
                }
            })
            .collect();
        Self {
            id: row.id,
            name: row.name,
            images,
            links_expire_at: expires,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}
