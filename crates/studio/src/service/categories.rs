//! The catalogue's categories: everyone reads them, administrators write them.

use super::catalogue::fields_or_invalid;
use super::{Result, Studio};
use crate::error::StudioError;
use crate::model::Category;
use crate::store;
use platform::FieldError;
use platform::auth::AuthUser;
use platform::db::{DbError, Ts};
use platform::text::required_text;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

const MAX_CATEGORY_NAME: usize = 60;
const MAX_SLUG: usize = 60;

/// A new category.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[schema(as = studio::CategoryInput)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct CategoryInput {
    /// 1–60 characters.
    pub name: String,
    /// Lower-case letters, digits and `-` (1–60); made from the name when absent.
    pub slug: Option<String>,
    /// Lists are ordered by this (default 0), then by name.
    pub position: Option<i64>,
}

/// A category change; absent fields stay.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[schema(as = studio::CategoryPatch)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct CategoryPatch {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub position: Option<i64>,
}

fn slug_of(errors: &mut Vec<FieldError>, field: &str, value: &str) -> String {
    let ok = !value.is_empty()
        && value.len() <= MAX_SLUG
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        errors.push(FieldError::new(field, "must be 1 to 60 lower-case letters, digits or '-'"));
    }
    value.to_string()
}

/// A slug made from a name: ASCII letters and digits, the rest as single dashes.
fn slugify(name: &str) -> String {
    let folded = platform::text::fold(name);
    let mut slug = String::new();
    for c in folded.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(MAX_SLUG).collect();
    if slug.is_empty() { format!("c-{}", &Uuid::now_v7().simple().to_string()[..12]) } else { slug }
}

fn checked_position(errors: &mut Vec<FieldError>, position: Option<i64>) -> i64 {
    let position = position.unwrap_or(0);
    if !(-1_000_000..=1_000_000).contains(&position) {
        errors.push(FieldError::new("position", "must be between -1000000 and 1000000"));
    }
    position
}
/// A unique-slug clash as its own error.
fn slug_clash(e: DbError) -> StudioError {
    match e {
        DbError::Unique(_) => StudioError::SlugTaken,
        other => other.into(),
    }
}

impl Studio {
    /// Every category, in display order.
    pub async fn categories(&self) -> Result<Vec<Category>> {
        Ok(store::catalogue::list_categories(&self.platform.db).await?)
    }

    /// Adds a category (administrators only).
    pub async fn create_category(&self, user: &AuthUser, input: CategoryInput) -> Result<Category> {
        Self::require_admin(user)?;
        let mut errors = Vec::new();
        let name = required_text(&mut errors, "name", &input.name, MAX_CATEGORY_NAME);
        let slug = match input.slug.as_deref() {
            Some(slug) => slug_of(&mut errors, "slug", slug),
            None => slugify(&name),
        };
        let position = checked_position(&mut errors, input.position);
        fields_or_invalid(errors)?;
        let now = Ts::now();
        let category = Category { id: Uuid::now_v7(), name, slug, position, created_at: now, updated_at: now };
        let mut tx = self.platform.db.begin().await?;
        store::catalogue::insert_category(&mut tx, &category).await.map_err(slug_clash)?;
        tx.commit().await?;
        Ok(category)
    }

    /// Changes a category (administrators only).
    pub async fn update_category(&self, user: &AuthUser, id: Uuid, patch: CategoryPatch) -> Result<Category> {
        Self::require_admin(user)?;
        let mut category =
            store::catalogue::find_category(&self.platform.db, id).await?.ok_or(StudioError::NotFound)?;
        let mut errors = Vec::new();
        if let Some(name) = patch.name.as_deref() {
            category.name = required_text(&mut errors, "name", name, MAX_CATEGORY_NAME);
        }
        if let Some(slug) = patch.slug.as_deref() {
            category.slug = slug_of(&mut errors, "slug", slug);
        }
        if patch.position.is_some() {
            category.position = checked_position(&mut errors, patch.position);
        }
        fields_or_invalid(errors)?;
        category.updated_at = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        store::catalogue::update_category(&mut tx, &category).await.map_err(slug_clash)?;
        tx.commit().await?;
        Ok(category)
    }

    /// Deletes an empty category (administrators only).
    pub async fn delete_category(&self, user: &AuthUser, id: Uuid) -> Result<()> {
        Self::require_admin(user)?;
        let mut tx = self.platform.db.begin().await?;
        match store::catalogue::delete_category(&mut tx, id).await {
            Ok(0) => Err(StudioError::NotFound),
            Ok(_) => Ok(tx.commit().await?),
            Err(DbError::ForeignKey) => Err(StudioError::CategoryNotEmpty),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_made_from_names() {
        assert_eq!(slugify("Portraits & Headshots"), "portraits-headshots");
        assert_eq!(slugify("Café Noir"), "cafe-noir");
        assert!(slugify("!!!").starts_with("c-"));
    }
}
