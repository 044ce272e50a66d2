//! The SQL of categories, templates, their tags and their views.

use crate::model::{Category, TemplateRow, TemplateSort};
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_tx, with_db, with_tx};
use uuid::Uuid;

/// The columns of a [`TemplateRow`].
macro_rules! template_columns {
    () => {
        "id, category_id, title, prompt, style, tags, image_key, is_trending, view_count, like_count, created_at, updated_at"
    };
}

pub async fn list_categories(db: &Db) -> Result<Vec<Category>, DbError> {
    let sql =
        "SELECT id, name, slug, position, created_at, updated_at FROM studio_categories ORDER BY position, name, id";
    Ok(with_db!(db, |pool| sqlx::query_as::<_, Category>(sql).fetch_all(pool).await)?)
}

pub async fn find_category(db: &Db, id: Uuid) -> Result<Option<Category>, DbError> {
    let sql = "SELECT id, name, slug, position, created_at, updated_at FROM studio_categories WHERE id = $1";
    Ok(with_db!(db, |pool| sqlx::query_as::<_, Category>(sql).bind(id).fetch_optional(pool).await)?)
}

pub async fn category_by_slug(db: &Db, slug: &str) -> Result<Option<Category>, DbError> {
    let sql = "SELECT id, name, slug, position, created_at, updated_at FROM studio_categories WHERE slug = $1";
    Ok(with_db!(db, |pool| sqlx::query_as::<_, Category>(sql).bind(slug).fetch_optional(pool).await)?)
}

pub async fn insert_category(tx: &mut Tx, c: &Category) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO studio_categories (id, name, slug, position, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(c.id)
        .bind(&c.name)
        .bind(&c.slug)
        .bind(c.position)
        .bind(c.created_at)
        .bind(c.updated_at)
    )?;
    Ok(())
}

pub async fn update_category(tx: &mut Tx, c: &Category) -> Result<(), DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query("UPDATE studio_categories SET name = $2, slug = $3, position = $4, updated_at = $5 WHERE id = $1")
            .bind(c.id)
            .bind(&c.name)
            .bind(&c.slug)
            .bind(c.position)
            .bind(c.updated_at)
    )?;
    if n == 0 { Err(DbError::NotFound) } else { Ok(()) }
}

/// Deletes a category; a category that templates still name is refused by its foreign key.
pub async fn delete_category(tx: &mut Tx, id: Uuid) -> Result<u64, DbError> {
    Ok(execute_tx!(tx, sqlx::query("DELETE FROM studio_categories WHERE id = $1").bind(id))?)
}

/// A template's fields as written.
pub struct TemplateFields {
    pub category_id: Option<Uuid>,
    pub title: String,
    pub prompt: String,
    pub style: Option<String>,
    pub tags: Vec<String>,
    pub is_trending: bool,
}

/// The folded text `q` searches.
fn search(f: &TemplateFields) -> String {
    let mut text = format!("{} {} {}", f.title, f.prompt, f.style.as_deref().unwrap_or_default());
    for tag in &f.tags {
        text.push(' ');
        text.push_str(tag);
    }
    platform::text::fold(&text)
}

async fn replace_tags(tx: &mut Tx, id: Uuid, tags: &[String]) -> Result<(), DbError> {
    execute_tx!(tx, sqlx::query("DELETE FROM studio_template_tags WHERE template_id = $1").bind(id))?;
    for tag in tags {
        execute_tx!(
            tx,
            sqlx::query("INSERT INTO studio_template_tags (tag, template_id) VALUES ($1, $2)").bind(tag).bind(id)
        )?;
    }
    Ok(())
}

/// Runs `sql`, an insert or an update of one template that takes `$1` the id, `$2`–`$8` the
/// fields, `$9` the time and, for an insert, `$10` the author; then replaces its tags.
async fn write_template(
    tx: &mut Tx,
    sql: &'static str,
    id: Uuid,
    f: &TemplateFields,
    now: Ts,
    by: Option<Uuid>,
) -> Result<TemplateRow, DbError> {
    let tags = serde_json::to_string(&f.tags).unwrap_or_else(|_| "[]".into());
    let row = with_tx!(tx, |conn| {
        let query = sqlx::query_as::<_, TemplateRow>(sql)
            .bind(id)
            .bind(f.category_id)
            .bind(&f.title)
            .bind(&f.prompt)
            .bind(&f.style)
            .bind(&tags)
            .bind(search(f))
            .bind(f.is_trending)
            .bind(now);
        match by {
            Some(by) => query.bind(by).fetch_optional(conn).await,
            None => query.fetch_optional(conn).await,
        }
    })?
    .ok_or(DbError::NotFound)?;
    replace_tags(tx, id, &f.tags).await?;
    Ok(row)
}

pub async fn insert_template(
    tx: &mut Tx,
    id: Uuid,
    f: &TemplateFields,
    by: Uuid,
    now: Ts,
) -> Result<TemplateRow, DbError> {
    let sql = concat!(
        "INSERT INTO studio_templates (id, category_id, title, prompt, style, tags, search, is_trending, created_at,
           updated_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING ",
        template_columns!()
    );
    write_template(tx, sql, id, f, now, Some(by)).await
}

pub async fn update_template(tx: &mut Tx, id: Uuid, f: &TemplateFields, now: Ts) -> Result<TemplateRow, DbError> {
    let sql = concat!(
        "UPDATE studio_templates SET category_id = $2, title = $3, prompt = $4, style = $5, tags = $6, search = $7,
           is_trending = $8, updated_at = $9
         WHERE id = $1 RETURNING ",
        template_columns!()
    );
    write_template(tx, sql, id, f, now, None).await
}

/// Points the template at a new picture; answers the key it had. The row is locked by a write
/// before the old key is read, so two uploads at once each see the other's picture and none
/// is left without a row pointing at it.
pub async fn set_template_image(tx: &mut Tx, id: Uuid, key: &str, now: Ts) -> Result<Option<String>, DbError> {
    execute_tx!(tx, sqlx::query("UPDATE studio_templates SET updated_at = $2 WHERE id = $1").bind(id).bind(now))?;
    let before: Option<(Option<String>,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT image_key FROM studio_templates WHERE id = $1").bind(id).fetch_optional(conn).await
    })?;
    let (before,) = before.ok_or(DbError::NotFound)?;
    execute_tx!(
        tx,
        sqlx::query("UPDATE studio_templates SET image_key = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(key)
            .bind(now)
    )?;
    Ok(before)
}

/// Deletes a template (its tags, favourites and views go with it); answers its picture's key.
pub async fn delete_template(tx: &mut Tx, id: Uuid) -> Result<Option<String>, DbError> {
    let gone: Option<(Option<String>,)> = with_tx!(tx, |conn| {
        sqlx::query_as("DELETE FROM studio_templates WHERE id = $1 RETURNING image_key")
            .bind(id)
            .fetch_optional(conn)
            .await
    })?;
    gone.map(|(key,)| key).ok_or(DbError::NotFound)
}

pub async fn find_template(db: &Db, id: Uuid) -> Result<Option<TemplateRow>, DbError> {
    let sql = concat!("SELECT ", template_columns!(), " FROM studio_templates WHERE id = $1");
    Ok(with_db!(db, |pool| sqlx::query_as::<_, TemplateRow>(sql).bind(id).fetch_optional(pool).await)?)
}

/// What the catalogue is narrowed to.
pub struct TemplateFilter {
    pub category: Option<Uuid>,
    /// A LIKE pattern over the folded search text.
    pub pattern: Option<String>,
    pub tag: Option<String>,
    pub trending: bool,
    pub sort: TemplateSort,
    /// The last row of the previous page: its like count (for `popular`) and id.
    pub after: Option<(i64, Uuid)>,
    pub limit: i64,
}

pub async fn list_templates(db: &Db, f: &TemplateFilter) -> Result<Vec<TemplateRow>, DbError> {
    /// The list's statement, continuing after `$5`/`$6` in `$order`. The words' `LIKE` is
    /// wrapped in `COALESCE`: PostgreSQL guesses that `LIKE '%word%'` matches about one row,
    /// and so read and sorted the whole table (1.7 ms at 10 000 templates) instead of walking
    /// the index until a page is full (0.07 ms for a word one template in ten has); a
    /// function's result gets its default guess of one half instead.
    macro_rules! listing {
        ($after:literal, $order:literal) => {
            concat!(
                "SELECT ",
                template_columns!(),
                " FROM studio_templates t
                 WHERE ($1 IS NULL OR category_id = $1)
                   AND ($2 IS NULL OR COALESCE(search LIKE $2 ESCAPE '\\', FALSE))
                   AND ($3 IS NULL OR EXISTS (SELECT 1 FROM studio_template_tags g WHERE g.tag = $3 AND g.template_id = t.id))
                   AND ($4 = FALSE OR is_trending = TRUE)
                   AND ",
                $after,
                " ORDER BY ",
                $order,
                " LIMIT $7"
            )
        };
    }
    let sql = match f.sort {
        TemplateSort::Newest => listing!("id < $6 AND $5 = $5", "id DESC"),
        TemplateSort::Popular => {
            listing!("(like_count < $5 OR (like_count = $5 AND id < $6))", "like_count DESC, id DESC")
        }
    };
    // With no cursor the walk starts above every row.
    let (likes, id) = f.after.unwrap_or((i64::MAX, Uuid::max()));
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, TemplateRow>(sql)
            .bind(f.category)
            .bind(f.pattern.as_deref())
            .bind(f.tag.as_deref())
            .bind(f.trending)
            .bind(likes)
            .bind(id)
            .bind(f.limit + 1)
            .fetch_all(pool)
            .await
    })?)
}

/// Whether `viewer` viewed the template after `since` (then a view does not count, and no
/// write is needed to find that out).
pub async fn viewed_since(db: &Db, id: Uuid, viewer: &str, since: Ts) -> Result<bool, DbError> {
    let row: Option<(Uuid,)> = with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT template_id FROM studio_template_views WHERE template_id = $1 AND viewer = $2 AND viewed_at > $3",
        )
        .bind(id)
        .bind(viewer)
        .bind(since)
        .fetch_optional(pool)
        .await
    })?;
    Ok(row.is_some())
}

/// Counts a view by `viewer` unless they viewed it after `since`; answers whether it counted.
pub async fn count_view(tx: &mut Tx, id: Uuid, viewer: &str, now: Ts, since: Ts) -> Result<bool, DbError> {
    let fresh = execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO studio_template_views (template_id, viewer, viewed_at) VALUES ($1, $2, $3)
             ON CONFLICT (template_id, viewer) DO UPDATE SET viewed_at = excluded.viewed_at
             WHERE studio_template_views.viewed_at <= $4"
        )
        .bind(id)
        .bind(viewer)
        .bind(now)
        .bind(since)
    )?;
    if fresh == 0 {
        return Ok(false);
    }
    execute_tx!(tx, sqlx::query("UPDATE studio_templates SET view_count = view_count + 1 WHERE id = $1").bind(id))?;
    Ok(true)
}

/// Forgets views older than `before` (they no longer hold a count back).
pub async fn purge_views(db: &Db, before: Ts) -> Result<u64, DbError> {
    Ok(platform::execute_write!(
        db,
        sqlx::query("DELETE FROM studio_template_views WHERE viewed_at < $1").bind(before)
    )?)
}
