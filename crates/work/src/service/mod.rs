//! The work use cases and their rules. Every change is written with its activity entry and
//! notifications in one transaction, then published on the project's topic.

mod comments;
mod departing;
mod insights;
mod invitations;
mod projects;
mod tasks;

pub use comments::CommentInput;
pub use projects::{Added, NewMember, ProjectInput, ProjectPatch};
pub use tasks::{TaskInput, TaskList, TaskPage, TaskPatch};

use crate::error::WorkError;
use crate::model::{Role, Visibility};
use crate::store;
use accounts::Accounts;
use notifications::{NewNotification, Notifications, Recorded};
use platform::Platform;
use platform::auth::AuthUser;
use platform::cache::ExactCache;
use platform::db::Tx;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub(crate) type Result<T> = std::result::Result<T, WorkError>;

/// The work service. Cheap to clone.
#[derive(Clone)]
pub struct Work {
    pub(crate) platform: Platform,
    pub(crate) accounts: Accounts,
    pub(crate) notifications: Notifications,
    /// (project, user) → the project's visibility and the user's role; exact on every
    /// instance (every change is announced after its commit, see [`Work::new`]).
    access_cache: Arc<ExactCache<(Uuid, Uuid), Standing>>,
}

/// The cache announcement of a change of who may do what in a project (see [`Work::new`]).
const ACCESS_CHANGED: &str = "work.access";

/// A project's visibility and a user's role in it (none for non-members).
type Standing = (Visibility, Option<Role>);

/// What the caller may do in a project.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Access {
    /// The effective role (guest for non-members reading a public project, owner for admins).
    pub role: Role,
    /// The project's visibility.
    pub visibility: Visibility,
}

impl Work {
    /// The service. Cached access is kept exact through the platform's
    /// [`Coherence`](platform::cache::Coherence): every change is announced after its commit
    /// and dropped on every instance.
    pub fn new(platform: Platform, accounts: Accounts, notifications: Notifications) -> Self {
        let access_cache: Arc<ExactCache<(Uuid, Uuid), Standing>> =
            Arc::new(ExactCache::new(&platform.caches, Duration::from_secs(30)));
        let cache = access_cache.clone();
        // Key: "{project}" (everyone's access) or "{project} {user}"; empty: everything.
        platform.caches.on(ACCESS_CHANGED, move |key| {
            let mut parts = key.split(' ').map(str::parse::<Uuid>);
            match (parts.next(), parts.next()) {
                (Some(Ok(project)), Some(Ok(user))) => cache.invalidate(&(project, user)),
                (Some(Ok(project)), None) => cache.invalidate_where(|(p, _), _| *p == project),
                _ => cache.invalidate_where(|_, _| true),
            }
        });
        Self { platform, accounts, notifications, access_cache }
    }

    /// The owner of the `work.project.` topics: whoever may read the project may subscribe.
    pub fn topics(&self) -> Arc<dyn platform::realtime::TopicAuthorizer> {
        Arc::new(crate::events::ProjectTopics { db: self.platform.db.clone() })
    }

    /// The caller's access to `project`: NotFound when they may not even see it.
    pub(crate) async fn access(&self, user: &AuthUser, project: Uuid) -> Result<Access> {
        let key = (project, user.user_id);
        let (visibility, role) = match self.access_cache.get(&key) {
            Some(found) => found,
            None => {
                let epoch = self.access_cache.epoch();
                let (visibility, role) =
                    store::access(&self.platform.db, project, user.user_id).await?.ok_or(WorkError::NotFound)?;
                let found = (Visibility::from_stored(&visibility), role.as_deref().map(Role::from_stored));
                self.access_cache.put(epoch, key, found);
                found
            }
        };
        if let Some(role) = role {
            return Ok(Access { role, visibility });
        }
        if user.is_admin() {
            // Platform admins moderate every project as its owner would.
            return Ok(Access { role: Role::Owner, visibility });
        }
        if visibility == Visibility::Public {
            return Ok(Access { role: Role::Guest, visibility });
        }
        Err(WorkError::NotFound)
    }

    /// After a commit that changed who is in `project` or its visibility: forget what was
    /// cached about it (for `user` only, or for everyone).
    pub(crate) fn access_changed(&self, project: Uuid, user: Option<Uuid>) {
        let key = match user {
            Some(user) => format!("{project} {user}"),
            None => project.to_string(),
        };
        self.platform.caches.changed(ACCESS_CHANGED, &key);
    }

    /// Like [`Work::access`], requiring at least `min`.
    pub(crate) async fn require(&self, user: &AuthUser, project: Uuid, min: Role) -> Result<Access> {
        let access = self.access(user, project).await?;
        if access.role < min {
            return Err(WorkError::Forbidden(match min {
                Role::Owner => "Only the project owner may do this.",
                Role::Manager => "Only the project owner or a manager may do this.",
                _ => "Guests and visitors may only read this project.",
            }));
        }
        Ok(access)
    }

    /// A display name (empty for a deleted account).
    pub(crate) async fn name_of(&self, user: Uuid) -> String {
        self.accounts.user(user).await.map(|u| u.name).unwrap_or_default()
    }

    /// Records a notification in `tx`, collecting it for [`Notifications::announce`].
    pub(crate) async fn notify(&self, tx: &mut Tx, out: &mut Vec<Recorded>, new: NewNotification) -> Result<()> {
        out.push(self.notifications.record(tx, new).await?);
        Ok(())
    }
}
