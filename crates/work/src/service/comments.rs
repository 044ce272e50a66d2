//! Comments on tasks: members write, everyone who may read the project reads; `@Name`
//! mentions of project members are stored and notified.

use super::{Result, Work};
use crate::error::WorkError;
use crate::events;
use crate::model::*;
use crate::store::tasks as store;
use notifications::{NewNotification, Recorded};
use platform::auth::AuthUser;
use platform::db::Ts;
use platform::pagination::Page;
use serde_json::json;
use uuid::Uuid;

/// A comment's text as the client sent it.
#[derive(Debug, Clone)]
pub struct CommentInput {
    pub content: String,
}

fn content(text: &str) -> Result<String> {
    crate::model::text(text, 1, 5000).map_err(|m| WorkError::field("content", m))
}

impl Work {
    /// Everything work keeps about `user`, for the data export: the projects they are in, the
    /// tasks they created or are assigned to, and the comments they wrote.
    pub async fn export(&self, user: Uuid) -> Result<serde_json::Value> {
        let db = &self.platform.db;
        let projects: Vec<Project> =
            crate::store::projects(db, user, false, None, i64::MAX).await?.into_iter().map(Project::from).collect();
        let tasks: Vec<Task> =
            store::tasks_of_user(db, user).await?.into_iter().map(|t| t.into_task(Vec::new())).collect();
        let mut comments = Vec::new();
        for row in store::comments_by(db, user).await? {
            comments.push(self.comment_out(row).await?);
        }
        Ok(json!({ "projects": projects, "tasks": tasks, "comments": comments }))
    }

    async fn comment_out(&self, row: CommentRow) -> Result<Comment> {
        let author_name = match row.author_id {
            Some(author) => self.name_of(author).await,
            None => platform::module::DELETED_USER_NAME.to_string(),
        };
        Ok(Comment {
            mentions: serde_json::from_str(&row.mentions).unwrap_or_default(),
            id: row.id,
            task_id: row.task_id,
            project_id: row.project_id,
            author_id: row.author_id,
            author_name,
            content: row.content,
            created_at: row.created_at,
            edited_at: row.edited_at,
        })
    }

    /// The project members `content` mentions, besides the author.
    async fn mentions_in(&self, project: Uuid, author: Uuid, content: &str) -> Result<Vec<Uuid>> {
        if !content.contains('@') {
            return Ok(Vec::new());
        }
        // Only the users the text could name, then only those of them in the project.
        let named = self.accounts.mention_candidates(content, author).await?;
        let ids: Vec<Uuid> = named.iter().map(|(id, _)| *id).collect();
        let members = crate::store::members_among(&self.platform.db, project, &ids).await?;
        Ok(platform::text::mentioned_members(content, named, &members))
    }

    fn mention_note(author: &str, task: &Task, comment: &Comment, user: Uuid) -> NewNotification {
        let excerpt: String = comment.content.chars().take(280).collect();
        NewNotification {
            user_id: user,
            actor: comment.author_id,
            kind: crate::events::COMMENT_MENTION,
            title: format!("{author} mentioned you on “{}”", task.title),
            body: excerpt,
            data: json!({"project_id": task.project_id, "task_id": task.id, "comment_id": comment.id}),
        }
    }

    /// A task's comments, oldest first.
    pub async fn comments(
        &self,
        user: &AuthUser,
        task: Uuid,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<Comment>> {
        self.task(user, task).await?;
        let rows = store::comments(&self.platform.db, task, after, limit + 1).await?;
        let page = Page::from_rows(rows, limit, |r| r.id);
        let mut items = Vec::with_capacity(page.items.len());
        for row in page.items {
            items.push(self.comment_out(row).await?);
        }
        Ok(Page { items, next_cursor: page.next_cursor })
    }

    /// Comments on a task (members, managers, owner).
    pub async fn create_comment(&self, user: &AuthUser, task_id: Uuid, input: CommentInput) -> Result<Comment> {
        let task = self.task_by_id(task_id).await?;
        self.require(user, task.project_id, Role::Member).await?;
        let content = content(&input.content)?;
        let mentions = self.mentions_in(task.project_id, user.user_id, &content).await?;
        let row = CommentRow {
            id: Uuid::now_v7(),
            task_id,
            project_id: task.project_id,
            author_id: Some(user.user_id),
            content,
            mentions: json!(mentions).to_string(),
            created_at: Ts::now(),
            edited_at: None,
        };
        let comment = self.comment_out(row.clone()).await?;
        let mut recorded: Vec<Recorded> = Vec::new();
        let mut tx = self.platform.db.begin().await?;
        store::insert_comment(&mut tx, &row).await?;
        crate::store::log(
            &mut tx,
            task.project_id,
            Some(user.user_id),
            "comment.created",
            Some(row.id),
            &json!({"task_id": task_id}),
        )
        .await?;
        for mentioned in &mentions {
            let note = Self::mention_note(&comment.author_name, &task, &comment, *mentioned);
            self.notify(&mut tx, &mut recorded, note).await?;
        }
        self.platform.outbox.event(&mut tx, events::DOMAIN_COMMENT_CREATED, &json!({"comment": comment})).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        self.notifications.announce(&recorded);
        events::publish(&self.platform.hub, task.project_id, events::COMMENT_CREATED, &json!({"comment": comment}));
        Ok(comment)
    }

    /// Edits a comment (its author); newly mentioned members are notified.
    pub async fn edit_comment(&self, user: &AuthUser, id: Uuid, input: CommentInput) -> Result<Comment> {
        let row = store::comment(&self.platform.db, id).await?.ok_or(WorkError::NotFound)?;
        let task = self.task(user, row.task_id).await?;
        if row.author_id != Some(user.user_id) {
            return Err(WorkError::Forbidden("Only the author edits a comment."));
        }
        let content = content(&input.content)?;
        let before: Vec<Uuid> = serde_json::from_str(&row.mentions).unwrap_or_default();
        let mentions = self.mentions_in(task.project_id, user.user_id, &content).await?;
        let now = Ts::now();
        let updated = CommentRow { content, mentions: json!(mentions).to_string(), edited_at: Some(now), ..row };
        let comment = self.comment_out(updated.clone()).await?;
        let mut recorded: Vec<Recorded> = Vec::new();
        let mut tx = self.platform.db.begin().await?;
        if !store::edit_comment(&mut tx, id, &updated.content, &updated.mentions, now).await? {
            return Err(WorkError::NotFound);
        }
        crate::store::log(
            &mut tx,
            task.project_id,
            Some(user.user_id),
            "comment.edited",
            Some(id),
            &json!({"task_id": task.id}),
        )
        .await?;
        for mentioned in mentions.iter().filter(|m| !before.contains(m)) {
            let note = Self::mention_note(&comment.author_name, &task, &comment, *mentioned);
            self.notify(&mut tx, &mut recorded, note).await?;
        }
        self.platform.outbox.event(&mut tx, events::DOMAIN_COMMENT_UPDATED, &json!({"comment": comment})).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        self.notifications.announce(&recorded);
        events::publish(&self.platform.hub, task.project_id, events::COMMENT_UPDATED, &json!({"comment": comment}));
        Ok(comment)
    }

    /// Deletes a comment (its author, managers, the owner).
    pub async fn delete_comment(&self, user: &AuthUser, id: Uuid) -> Result<()> {
        let row = store::comment(&self.platform.db, id).await?.ok_or(WorkError::NotFound)?;
        let access = self.access(user, row.project_id).await?;
        if row.author_id != Some(user.user_id) && access.role < Role::Manager {
            return Err(WorkError::Forbidden("Only the author, a manager or the owner deletes a comment."));
        }
        let mut tx = self.platform.db.begin().await?;
        if !store::delete_comment(&mut tx, id).await? {
            return Err(WorkError::NotFound);
        }
        crate::store::log(
            &mut tx,
            row.project_id,
            Some(user.user_id),
            "comment.deleted",
            Some(id),
            &json!({"task_id": row.task_id}),
        )
        .await?;
        let deleted = json!({"comment_id": id, "task_id": row.task_id, "project_id": row.project_id});
        self.platform.outbox.event(&mut tx, events::DOMAIN_COMMENT_DELETED, &deleted).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        events::publish(
            &self.platform.hub,
            row.project_id,
            events::COMMENT_DELETED,
            &json!({"commentId": id, "taskId": row.task_id}),
        );
        Ok(())
    }
}
