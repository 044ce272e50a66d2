//! The catalogue's templates (administrators write, everyone reads), the count of views, and
//! templates' public pictures.

use super::{Result, Studio};
use crate::error::StudioError;
use crate::model::{Template, TemplateRow, TemplateSort};
use crate::store;
use crate::store::catalogue::{TemplateFields, TemplateFilter};
use platform::FieldError;
use platform::auth::AuthUser;
use platform::db::{DbError, Ts};
use platform::extract::nullable;
use platform::pagination::{Page, PageQuery};
use platform::text::{field_text, required_text};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

const MAX_TITLE: usize = 120;
const MAX_PROMPT: usize = 4_000;
const MAX_STYLE: usize = 60;
const MAX_TAGS: usize = 20;
const MAX_TAG: usize = 40;
/// A viewer's views of one template count once in this long.
const VIEW_WINDOW: chrono::Duration = chrono::Duration::hours(1);
/// Largest side of a stored template picture.
const TEMPLATE_IMAGE_SIDE: u32 = 2048;
/// Side of a template's thumbnail.
pub(crate) const THUMBNAIL_SIDE: u32 = 256;

/// A new template (its picture is uploaded separately).
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[schema(as = studio::TemplateInput)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct TemplateInput {
    /// 1–120 characters.
    pub title: String,
    /// 1–4 000 characters.
    pub prompt: String,
    /// Up to 60 characters.
    pub style: Option<String>,
    pub category_id: Option<Uuid>,
    /// Up to 20 tags of letters, digits, `-` and `_` (stored in lower case).
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub is_trending: bool,
}

/// A template change; absent fields stay, `null` clears `style` and `category_id`.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[schema(as = studio::TemplatePatch)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct TemplatePatch {
    pub title: Option<String>,
    pub prompt: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub style: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub category_id: Option<Option<Uuid>>,
    pub tags: Option<Vec<String>>,
    pub is_trending: Option<bool>,
}

/// The catalogue's filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TemplateQuery {
    /// A category's id or slug.
    pub category: Option<String>,
    /// Words in the title, prompt, style or tags (case and accents ignored).
    pub q: Option<String>,
    /// One tag.
    pub tag: Option<String>,
    /// Only trending templates (sorted `popular` unless `sort` says otherwise).
    pub trending: Option<bool>,
    /// `newest` (default) or `popular`.
    pub sort: Option<TemplateSort>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
fn checked_tags(errors: &mut Vec<FieldError>, tags: &[String]) -> Vec<String> {
    if tags.len() > MAX_TAGS {
        errors.push(FieldError::new("tags", format!("at most {MAX_TAGS} tags")));
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim().to_lowercase();
        let ok = !tag.is_empty()
            && tag.chars().count() <= MAX_TAG
            && tag.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_');
        if !ok {
            errors.push(FieldError::new("tags", format!("each tag is 1 to {MAX_TAG} letters, digits, '-' or '_'")));
            return Vec::new();
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

pub(super) fn fields_or_invalid(errors: Vec<FieldError>) -> Result<()> {
    if errors.is_empty() { Ok(()) } else { Err(StudioError::Invalid(errors)) }
}

impl Studio {
    fn template_fields(
        errors: &mut Vec<FieldError>,
        title: &str,
        prompt: &str,
        style: Option<&str>,
        tags: &[String],
    ) -> (String, String, Option<String>, Vec<String>) {
        let title = required_text(errors, "title", title, MAX_TITLE);
        let before = errors.len();
        let prompt_text = field_text(errors, "prompt", Some(prompt), MAX_PROMPT, true);
        if prompt_text.is_none() && errors.len() == before {
            errors.push(FieldError::new("prompt", format!("is required (1 to {MAX_PROMPT} characters)")));
        }
        let style = field_text(errors, "style", style, MAX_STYLE, false);
        let tags = checked_tags(errors, tags);
        (title, prompt_text.unwrap_or_default(), style, tags)
    }

    async fn check_category(&self, category: Option<Uuid>) -> Result<()> {
        if let Some(id) = category
            && store::catalogue::find_category(&self.platform.db, id).await?.is_none()
        {
            return Err(StudioError::field("category_id", "names no category"));
        }
        Ok(())
    }

    /// Adds a template (administrators only).
    pub async fn create_template(&self, user: &AuthUser, input: TemplateInput) -> Result<Template> {
        Self::require_admin(user)?;
        let mut errors = Vec::new();
        let (title, prompt, style, tags) =
            Self::template_fields(&mut errors, &input.title, &input.prompt, input.style.as_deref(), &input.tags);
        fields_or_invalid(errors)?;
        self.check_category(input.category_id).await?;
        let fields = TemplateFields {
            category_id: input.category_id,
            title,
            prompt,
            style,
            tags,
            is_trending: input.is_trending,
        };
        let mut tx = self.platform.db.begin().await?;
        let row = store::catalogue::insert_template(&mut tx, Uuid::now_v7(), &fields, user.user_id, Ts::now())
            .await
            .map_err(no_category)?;
        tx.commit().await?;
        Ok(Template::from_row(row, Some(false), &self.platform.config.public_url))
    }

    /// Changes a template (administrators only).
    pub async fn update_template(&self, user: &AuthUser, id: Uuid, patch: TemplatePatch) -> Result<Template> {
        Self::require_admin(user)?;
        let row = store::catalogue::find_template(&self.platform.db, id).await?.ok_or(StudioError::NotFound)?;
        let current: Vec<String> = serde_json::from_str(&row.tags).unwrap_or_default();
        let style = match &patch.style {
            Some(style) => style.clone(),
            None => row.style.clone(),
        };
        let mut errors = Vec::new();
        let (title, prompt, style, tags) = Self::template_fields(
            &mut errors,
            patch.title.as_deref().unwrap_or(&row.title),
            patch.prompt.as_deref().unwrap_or(&row.prompt),
            style.as_deref(),
            patch.tags.as_deref().unwrap_or(&current),
        );
        fields_or_invalid(errors)?;
        let category_id = patch.category_id.unwrap_or(row.category_id);
        self.check_category(category_id).await?;
        let fields = TemplateFields {
            category_id,
            title,
            prompt,
            style,
            tags,
            is_trending: patch.is_trending.unwrap_or(row.is_trending),
        };
        let mut tx = self.platform.db.begin().await?;
        let row = store::catalogue::update_template(&mut tx, id, &fields, Ts::now()).await.map_err(no_category)?;
        tx.commit().await?;
        let favorite = self.favorite_flags(Some(user.user_id), &[row.id]).await?;
        Ok(Template::from_row(row, favorite.map(|f| !f.is_empty()), &self.platform.config.public_url))
    }

    /// Deletes a template and, after the commit, its picture (administrators only).
    pub async fn delete_template(&self, user: &AuthUser, id: Uuid) -> Result<()> {
        Self::require_admin(user)?;
        let mut tx = self.platform.db.begin().await?;
        let image = store::catalogue::delete_template(&mut tx, id).await?;
        self.forget_files(&mut tx, image.map(|k| vec![thumbnail_key(&k), k]).unwrap_or_default()).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        Ok(())
    }

    /// Replaces a template's picture with an uploaded image (administrators only): stored
    /// upright, scaled to at most 2 048 px a side, without its metadata, with a thumbnail.
    pub async fn set_template_image(
        &self,
        user: &AuthUser,
        id: Uuid,
        file: platform::upload::Received,
    ) -> Result<Template> {
        Self::require_admin(user)?;
        store::catalogue::find_template(&self.platform.db, id).await?.ok_or(StudioError::NotFound)?;
        let clean = self.platform.uploads.clean(file, TEMPLATE_IMAGE_SIDE, Some(THUMBNAIL_SIDE)).await??;
        let key = format!("studio/templates/{id}/{}.{}", Uuid::now_v7().simple(), clean.kind.extension());
        self.platform.storage.put(&key, clean.bytes.into()).await?;
        self.platform.storage.put(&thumbnail_key(&key), clean.thumbnail.unwrap_or_default().into()).await?;
        let mut tx = self.platform.db.begin().await?;
        let before = match store::catalogue::set_template_image(&mut tx, id, &key, Ts::now()).await {
            Ok(before) => before,
            Err(e) => {
                // The template went meanwhile: nothing points at the new files.
                drop(tx);
                let _ = self.platform.storage.delete(&key).await;
                let _ = self.platform.storage.delete(&thumbnail_key(&key)).await;
                return Err(e.into());
            }
        };
        self.forget_files(&mut tx, before.map(|k| vec![thumbnail_key(&k), k]).unwrap_or_default()).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        self.template(id, Some(user.user_id), None).await
    }

    /// A template's picture or thumbnail and its content type (public).
    pub async fn template_image(&self, id: Uuid, thumbnail: bool) -> Result<(bytes::Bytes, &'static str)> {
        let row = store::catalogue::find_template(&self.platform.db, id).await?.ok_or(StudioError::NotFound)?;
        let key = row.image_key.ok_or(StudioError::NotFound)?;
        let key = if thumbnail { thumbnail_key(&key) } else { key };
        let kind = platform::upload::FileKind::from_key(&key).ok_or(StudioError::NotFound)?;
        let bytes = self.platform.storage.get(&key).await?.ok_or(StudioError::NotFound)?;
        Ok((bytes, kind.mime()))
    }

    /// One template; `viewer` (a signed-in user's or a client network's name) counts a view,
    /// at most once an hour.
    pub async fn template(&self, id: Uuid, caller: Option<Uuid>, viewer: Option<String>) -> Result<Template> {
        let mut row = store::catalogue::find_template(&self.platform.db, id).await?.ok_or(StudioError::NotFound)?;
        let now = Ts::now();
        let since = now.minus(VIEW_WINDOW);
        // A repeat view is the common case, and it writes nothing (on SQLite a write takes the
        // one writer's turn).
        let viewer = match viewer {
            Some(v) if !store::catalogue::viewed_since(&self.platform.db, id, &v, since).await? => Some(v),
            _ => None,
        };
        if let Some(viewer) = viewer {
            let mut tx = self.platform.db.begin().await?;
            let counted = store::catalogue::count_view(&mut tx, id, &viewer, now, since).await?;
            tx.commit().await?;
            if counted {
                row.view_count += 1;
            }
        }
        let favorite = self.favorite_flags(caller, &[id]).await?;
        Ok(Template::from_row(row, favorite.map(|f| !f.is_empty()), &self.platform.config.public_url))
    }

    /// A page of the catalogue; `is_favorite` is the caller's when signed in.
    pub async fn templates(&self, caller: Option<Uuid>, q: TemplateQuery) -> Result<Page<Template>> {
        let limit = PageQuery { limit: q.limit, cursor: None }
            .limit()
            .map_err(|_| StudioError::field("limit", "must be between 1 and 100"))?;
        let trending = q.trending.unwrap_or(false);
        let sort = q.sort.unwrap_or(if trending { TemplateSort::Popular } else { TemplateSort::Newest });
        let after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(cursor) => {
                Some(parse_cursor(cursor, sort).ok_or_else(|| StudioError::field("cursor", "is not a valid cursor"))?)
            }
        };
        let category = match q.category.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => match Uuid::parse_str(c) {
                Ok(id) => Some(id),
                Err(_) => match store::catalogue::category_by_slug(&self.platform.db, c).await? {
                    Some(found) => Some(found.id),
                    None => return Ok(Page { items: Vec::new(), next_cursor: None }),
                },
            },
        };
        let mut errors = Vec::new();
        let words = field_text(&mut errors, "q", q.q.as_deref(), 200, false);
        let tag = match q.tag.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => checked_tags(&mut errors, &[t.to_string()]).into_iter().next(),
            None => None,
        };
        fields_or_invalid(errors)?;
        let filter = TemplateFilter {
            category,
            pattern: words.map(|w| platform::text::like_contains(&platform::text::fold(&w))),
            tag,
            trending,
            sort,
            after,
            limit,
        };
        let rows = store::catalogue::list_templates(&self.platform.db, &filter).await?;
        let page = Page::split(rows, limit, |r| cursor_of(r, sort), |r| r);
        let ids: Vec<Uuid> = page.items.iter().map(|r| r.id).collect();
        let favorites = self.favorite_flags(caller, &ids).await?;
        let items = page
            .items
            .into_iter()
            .map(|r| {
                let favorite = favorites.as_ref().map(|f| f.contains(&r.id));
                Template::from_row(r, favorite, &self.platform.config.public_url)
            })
            .collect();
        Ok(Page { items, next_cursor: page.next_cursor })
    }

    /// Which of `ids` the caller favours; None when there is no caller.
    pub(super) async fn favorite_flags(&self, caller: Option<Uuid>, ids: &[Uuid]) -> Result<Option<Vec<Uuid>>> {
        match caller {
            None => Ok(None),
            Some(user) => Ok(Some(store::favorites::favorite_among(&self.platform.db, user, ids).await?)),
        }
    }

    /// Forgets views older than the window (they no longer hold a count back).
    pub async fn purge_views(&self) -> Result<u64> {
        Ok(store::catalogue::purge_views(&self.platform.db, Ts::now().minus(VIEW_WINDOW)).await?)
    }
}

/// A foreign key refusing a template's write: its category went meanwhile.
fn no_category(e: DbError) -> StudioError {
    match e {
        DbError::ForeignKey => StudioError::field("category_id", "names no category"),
        other => other.into(),
    }
}

/// The key of the thumbnail that goes with the picture under `key`.
pub(crate) fn thumbnail_key(key: &str) -> String {
    let stem = key.rsplit_once('.').map_or(key, |(stem, _)| stem);
    format!("{stem}.thumb.jpg")
}

/// A page's position: the id, and for `popular` the like count before it.
fn cursor_of(row: &TemplateRow, sort: TemplateSort) -> String {
    match sort {
        TemplateSort::Newest => row.id.to_string(),
        TemplateSort::Popular => format!("{}.{}", row.like_count, row.id),
    }
}

fn parse_cursor(cursor: &str, sort: TemplateSort) -> Option<(i64, Uuid)> {
    match sort {
        TemplateSort::Newest => Uuid::parse_str(cursor).ok().map(|id| (0, id)),
        TemplateSort::Popular => {
            let (likes, id) = cursor.split_once('.')?;
            Some((likes.parse().ok()?, Uuid::parse_str(id).ok()?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(parse_cursor(&format!("12.{id}"), TemplateSort::Popular), Some((12, id)));
        assert_eq!(parse_cursor(&id.to_string(), TemplateSort::Newest), Some((0, id)));
        assert_eq!(parse_cursor("x.y", TemplateSort::Popular), None);
        assert_eq!(parse_cursor("12", TemplateSort::Newest), None);
    }

    #[test]
    fn tags_are_checked_and_folded() {
        let mut errors = Vec::new();
        assert_eq!(
            checked_tags(&mut errors, &["Portrait".into(), "portrait".into(), "sci-fi".into()]),
            ["portrait", "sci-fi"]
        );
        assert!(errors.is_empty());
        checked_tags(&mut errors, &["two words".into()]);
        assert_eq!(errors.len(), 1);
        assert_eq!(thumbnail_key("studio/t/1/abc.png"), "studio/t/1/abc.thumb.jpg");
    }
}
