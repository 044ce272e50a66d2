//! What work publishes on `work.project.{id}` (the native gateway topic, relayed to the
//! socket.io room `project:{id}`), and who may subscribe: whoever may read the project.
//!
//! Event names and payloads follow the task-board clients of the original system:
//! `task:created {task}`, `task:updated {task}`, `task:deleted {taskId}`,
//! `comment:created {comment}`, `project:updated {project}`, `member:added {projectId, member}`,
//! `member:removed {projectId, userId}`; plus `comment:updated {comment}`,
//! `comment:deleted {commentId, taskId}` and `project:deleted {projectId}`.

use crate::model::{Visibility, project_topic};
use crate::store;
use platform::ApiError;
use platform::auth::AuthUser;
use platform::db::Db;
use platform::realtime::{Hub, TopicAuthorizer};
use serde::Serialize;
use uuid::Uuid;

/// A task was assigned to the user.
pub const TASK_ASSIGNED: notifications::Kind =
    notifications::Kind { name: "task_assigned", description: "A task was assigned to me" };
/// The user was mentioned in a task comment.
pub const COMMENT_MENTION: notifications::Kind =
    notifications::Kind { name: "comment_mention", description: "I was mentioned in a task comment" };
/// A task assigned to the user is due within 24 hours.
pub const TASK_DUE: notifications::Kind =
    notifications::Kind { name: "task_due", description: "A task of mine is due within 24 hours" };
/// The user was added to a project.
pub const PROJECT_INVITATION: notifications::Kind =
    notifications::Kind { name: "project_invitation", description: "I was added to a project" };
/// Every kind work sends.
pub const NOTIFICATION_KINDS: &[notifications::Kind] = &[TASK_ASSIGNED, COMMENT_MENTION, TASK_DUE, PROJECT_INVITATION];

/// Domain event: a task was created (payload `{task}`).
pub const DOMAIN_TASK_CREATED: &str = "work.task.created";
/// Domain event: a task was edited (payload `{task}`, as it is after the edit).
pub const DOMAIN_TASK_UPDATED: &str = "work.task.updated";
/// Domain event: a task's status became `done` (payload `{task}`; follows its `work.task.updated`).
pub const DOMAIN_TASK_COMPLETED: &str = "work.task.completed";
/// Domain event: a comment was written (payload `{comment}`).
pub const DOMAIN_COMMENT_CREATED: &str = "work.comment.created";
/// Domain event: a project was deleted with its tasks and comments (payload `{project_id}`; no
/// event is written for each task or comment that goes with it).
pub const DOMAIN_PROJECT_DELETED: &str = "work.project.deleted";
/// Domain event: a task was deleted (payload `{task_id, project_id}`).
pub const DOMAIN_TASK_DELETED: &str = "work.task.deleted";
/// Domain event: a comment was edited (payload `{comment}`, as it is after the edit).
pub const DOMAIN_COMMENT_UPDATED: &str = "work.comment.updated";
/// Domain event: a comment was deleted (payload `{comment_id, task_id, project_id}`).
pub const DOMAIN_COMMENT_DELETED: &str = "work.comment.deleted";

pub const TASK_CREATED: &str = "task:created";
pub const TASK_UPDATED: &str = "task:updated";
pub const TASK_DELETED: &str = "task:deleted";
pub const COMMENT_CREATED: &str = "comment:created";
pub const COMMENT_UPDATED: &str = "comment:updated";
pub const COMMENT_DELETED: &str = "comment:deleted";
pub const PROJECT_UPDATED: &str = "project:updated";
pub const PROJECT_DELETED: &str = "project:deleted";
pub const MEMBER_ADDED: &str = "member:added";
pub const MEMBER_REMOVED: &str = "member:removed";

/// Publishes `event` on the project's topic (after the change committed).
pub fn publish<T: Serialize>(hub: &Hub, project: Uuid, event: &str, data: &T) {
    hub.publish(&project_topic(project), event, data);
}

/// The project id of a `work.project.{id}` topic.
pub fn project_of(topic: &str) -> Option<Uuid> {
    topic.strip_prefix("work.project.").and_then(|id| Uuid::parse_str(id).ok())
}

/// Owner of the `work.project.` topics: members, platform admins, and for public projects
/// every signed-in user.
pub struct ProjectTopics {
    /// The database.
    pub db: Db,
}

#[async_trait::async_trait]
impl TopicAuthorizer for ProjectTopics {
    async fn authorize(&self, user: &AuthUser, topic: &str) -> Result<bool, ApiError> {
        let Some(project) = project_of(topic) else { return Ok(false) };
        // The same one-query answer the REST routes use: the visibility and the caller's role.
        let found = store::access(&self.db, project, user.user_id).await.map_err(ApiError::internal)?;
        Ok(match found {
            Some((_, Some(_))) => true,
            Some((visibility, None)) => user.is_admin() || Visibility::from_stored(&visibility) == Visibility::Public,
            None => false,
        })
    }
}
