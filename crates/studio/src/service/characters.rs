//! Characters: a name and 3–5 photos, private to their owner. Photos are stored upright,
//! scaled to at most 2 048 px a side and re-encoded without their metadata (EXIF, GPS), each
//! with a thumbnail; the API hands them out only as expiring signed links.

use super::catalogue::{THUMBNAIL_SIDE, thumbnail_key};
use super::{Result, Studio};
use crate::error::StudioError;
use crate::model::{Character, CharacterRow, StoredImage};
use crate::store;
use platform::db::Ts;
use platform::pagination::{Page, PageQuery};
use platform::ratelimit::Quota;
use platform::text::required_text;
use platform::upload::Received;
use std::time::Duration;
use uuid::Uuid;

/// Fewest photos of a character.
pub const MIN_IMAGES: usize = 3;
/// Most photos of a character.
pub const MAX_IMAGES: usize = 5;
/// Longest name.
const MAX_NAME: usize = 100;
/// Largest side of a stored photo.
const PHOTO_SIDE: u32 = 2048;
/// Characters one user may create in an hour (each is up to five images to decode and store).
const CREATIONS: Quota = Quota::new(30, Duration::from_secs(3600));

impl Studio {
    /// Creates a character from its name and its 3–5 uploaded photos (already checked by type,
    /// size and pixel count by the upload extractor).
    pub async fn create_character(&self, user: Uuid, name: Option<&str>, files: Vec<Received>) -> Result<Character> {
        let mut errors = Vec::new();
        let name = required_text(&mut errors, "name", name.unwrap_or_default(), MAX_NAME);
        if !(MIN_IMAGES..=MAX_IMAGES).contains(&files.len()) {
            errors.push(platform::FieldError::new("images", format!("between {MIN_IMAGES} and {MAX_IMAGES} images")));
        }
        if !errors.is_empty() {
            return Err(StudioError::Invalid(errors));
        }
        // Counted before the decoding, the costly part.
        self.platform.limiter.hit(&format!("studio-characters:{user}"), CREATIONS).await?;
        let id = Uuid::now_v7();
        let mut stored: Vec<StoredImage> = Vec::new();
        let outcome = self.store_photos(user, id, files, &mut stored).await;
        let now = Ts::now();
        let row = CharacterRow {
            id,
            owner_id: user,
            name,
            images: serde_json::to_string(&stored).unwrap_or_else(|_| "[]".into()),
            created_at: now,
            updated_at: now,
        };
        let saved = match outcome {
            Ok(()) => store::characters::insert(&self.platform.db, &row).await.map_err(StudioError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = saved {
            // Nothing points at the files stored so far.
            for image in &stored {
                let _ = self.platform.storage.delete(&image.key).await;
                let _ = self.platform.storage.delete(&image.thumbnail_key).await;
            }
            return Err(e);
        }
        Ok(Character::from_row(row, &self.platform.file_urls))
    }

    async fn store_photos(
        &self,
        user: Uuid,
        character: Uuid,
        files: Vec<Received>,
        stored: &mut Vec<StoredImage>,
    ) -> Result<()> {
        for file in files {
            let clean = self.platform.uploads.clean(file, PHOTO_SIDE, Some(THUMBNAIL_SIDE)).await??;
            let key =
                format!("studio/{user}/characters/{character}/{}.{}", Uuid::now_v7().simple(), clean.kind.extension());
            let thumbnail = thumbnail_key(&key);
            self.platform.storage.put(&key, clean.bytes.into()).await?;
            stored.push(StoredImage {
                key: key.clone(),
                thumbnail_key: thumbnail.clone(),
                width: clean.dimensions.0,
                height: clean.dimensions.1,
            });
            self.platform.storage.put(&thumbnail, clean.thumbnail.unwrap_or_default().into()).await?;
        }
        Ok(())
    }

    /// The caller's characters, newest first.
    pub async fn characters(&self, user: Uuid, page: PageQuery) -> Result<Page<Character>> {
        let limit = page.limit().map_err(|_| StudioError::field("limit", "must be between 1 and 100"))?;
        let before = page.cursor_id().map_err(|_| StudioError::field("cursor", "is not a valid cursor"))?;
        let rows = store::characters::list(&self.platform.db, user, before.unwrap_or(Uuid::max()), limit).await?;
        let page = Page::from_rows(rows, limit, |r| r.id);
        let urls = &self.platform.file_urls;
        Ok(Page {
            items: page.items.into_iter().map(|r| Character::from_row(r, urls)).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// One of the caller's characters.
    pub async fn character(&self, user: Uuid, id: Uuid) -> Result<Character> {
        let row = store::characters::find(&self.platform.db, user, id).await?.ok_or(StudioError::NotFound)?;
        Ok(Character::from_row(row, &self.platform.file_urls))
    }

    /// Renames one of the caller's characters.
    pub async fn rename_character(&self, user: Uuid, id: Uuid, name: &str) -> Result<Character> {
        let mut errors = Vec::new();
        let name = required_text(&mut errors, "name", name, MAX_NAME);
        if !errors.is_empty() {
            return Err(StudioError::Invalid(errors));
        }
        let row = store::characters::rename(&self.platform.db, user, id, &name, Ts::now()).await?;
        Ok(Character::from_row(row, &self.platform.file_urls))
    }

    /// Deletes one of the caller's characters; its files are removed through the outbox once
    /// the row is gone (generations made from it keep their own images).
    pub async fn delete_character(&self, user: Uuid, id: Uuid) -> Result<()> {
        let mut tx = self.platform.db.begin().await?;
        let row = store::characters::delete(&mut tx, user, id).await?;
        let keys = row.stored_images().into_iter().flat_map(|i| [i.key, i.thumbnail_key]).collect();
        self.forget_files(&mut tx, keys).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        Ok(())
    }
}
