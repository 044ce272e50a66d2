//! Keyset pagination: `limit` (default 20, at most 100) and an opaque `cursor`; pages are
//! `{"items": […], "next_cursor": …}`. Cursors are ids, so a page costs the same at any depth.

use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Query parameters of a list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size, checked.
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(20),
            Some(n) if (1..=100).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::invalid_field("limit", "must be between 1 and 100")),
        }
    }

    /// The cursor as an id, checked.
    pub fn cursor_id(&self) -> Result<Option<Uuid>, ApiError> {
        match self.cursor.as_deref() {
            None | Some("") => Ok(None),
            Some(c) => {
                Uuid::parse_str(c).map(Some).map_err(|_| ApiError::invalid_field("cursor", "is not a valid cursor"))
            }
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in order: the extra row only tells
    /// that another page exists.
    pub fn from_rows(rows: Vec<T>, limit: i64, id_of: impl Fn(&T) -> Uuid) -> Self {
        Self::split(rows, limit, |r| id_of(r).to_string(), |r| r)
    }

    /// Like [`Page::from_rows`] for lists whose cursor is more than an id (a sort key and an
    /// id): `cursor` writes it from the page's last row, and `map` turns rows into items.
    pub fn split<R>(mut rows: Vec<R>, limit: i64, cursor: impl Fn(&R) -> String, map: impl FnMut(R) -> T) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(cursor)
        } else {
            None
        };
        Self { items: rows.into_iter().map(map).collect(), next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_bounds() {
        assert_eq!(PageQuery::default().limit().unwrap(), 20);
        assert!(PageQuery { limit: Some(0), ..Default::default() }.limit().is_err());
        assert!(PageQuery { limit: Some(101), ..Default::default() }.limit().is_err());
    }

    #[test]
    fn next_cursor_only_when_more_rows() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page = Page::from_rows(ids.clone(), 2, |u| *u);
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.next_cursor, Some(ids[1].to_string()));
        let last = Page::from_rows(ids[..2].to_vec(), 2, |u| *u);
        assert_eq!(last.next_cursor, None);
    }
}
