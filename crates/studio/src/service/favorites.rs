//! Favourites: add, remove, the original app's toggle, and the list. Each change and its
//! effect on `like_count` are one transaction, and the count moves only when a row did, so
//! the count stays equal to the rows under any concurrency.

use super::{Result, Studio};
use crate::error::StudioError;
use crate::model::Template;
use crate::store;
use platform::db::Ts;
use platform::pagination::{Page, PageQuery};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Where a favourite stands after a change.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = studio::FavoriteState)]
pub struct FavoriteState {
    pub template_id: Uuid,
    pub is_favorite: bool,
    /// The template's like count after the change.
    pub like_count: i64,
}

/// What a favourite change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FavoriteChange {
    Add,
    Remove,
    Toggle,
}

impl Studio {
    /// Adds, removes or toggles the caller's favourite; repeating an add or a remove changes
    /// nothing.
    pub async fn change_favorite(&self, user: Uuid, template: Uuid, change: FavoriteChange) -> Result<FavoriteState> {
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        let is_favorite = match change {
            FavoriteChange::Add => {
                store::favorites::add(&mut tx, user, template, now).await?;
                true
            }
            FavoriteChange::Remove => {
                store::favorites::remove(&mut tx, user, template).await?;
                false
            }
            // Removing first: when there was none, add. A concurrent toggle of the same user
            // that added meanwhile makes this add a no-op, and the favourite stays.
            FavoriteChange::Toggle => {
                !store::favorites::remove(&mut tx, user, template).await? && {
                    store::favorites::add(&mut tx, user, template, now).await?;
                    true
                }
            }
        };
        let like_count = store::favorites::like_count(&mut tx, template).await?;
        tx.commit().await?;
        Ok(FavoriteState { template_id: template, is_favorite, like_count })
    }

    /// The caller's favourite templates, most recently added first.
    pub async fn favorites(&self, user: Uuid, page: PageQuery) -> Result<Page<Template>> {
        let limit = page.limit().map_err(|_| StudioError::field("limit", "must be between 1 and 100"))?;
        let after = match page.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(parse_cursor(c).ok_or_else(|| StudioError::field("cursor", "is not a valid cursor"))?),
        };
        let rows = store::favorites::list(&self.platform.db, user, after, limit).await?;
        Ok(Page::split(
            rows,
            limit,
            |(at, t)| format!("{}~{}", at.to_rfc3339(), t.id),
            |(_, t)| Template::from_row(t, Some(true), &self.platform.config.public_url),
        ))
    }
}

fn parse_cursor(cursor: &str) -> Option<(Ts, Uuid)> {
    let (at, id) = cursor.split_once('~')?;
    Some((Ts::parse(at).ok()?, Uuid::parse_str(id).ok()?))
}
