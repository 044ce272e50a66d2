//! What happens to work when an account is deleted: others keep their projects and comments.
//! A project the person owned passes to its longest-standing manager, else member; a project
//! with nobody else able to own it goes; their comments stay, shown as from a deleted user.

use super::{Result, Work};
use crate::events;
use crate::model::Role;
use crate::store::{self, departing};
use platform::db::Tx;
use serde_json::json;
use uuid::Uuid;

/// The author name shown on the comments of a deleted account.
pub const DELETED_USER: &str = "Deleted user";

impl Work {
    /// Inside the transaction that deletes `user`, before the user's row goes.
    pub async fn user_departing(&self, tx: &mut Tx, user: Uuid) -> Result<()> {
        for project in departing::projects_only_of(tx, user).await? {
            store::delete_project(tx, project).await?;
            self.platform.outbox.event(tx, events::DOMAIN_PROJECT_DELETED, &json!({"project_id": project})).await?;
        }
        for (project, heir) in departing::heirs(tx, user).await? {
            // projects_only_of took every project without an heir.
            let Some(heir) = heir else { continue };
            store::set_owner(tx, project, heir).await?;
            store::set_member_role(tx, project, heir, Role::Owner.as_str()).await?;
            store::log(tx, project, None, "member.role_changed", Some(heir), &json!({"role": Role::Owner})).await?;
        }
        departing::detach_author(tx, user).await?;
        Ok(())
    }

    /// After the deletion committed: cached access may name the user or the old owner.
    pub fn user_departed(&self) {
        self.access_cache.invalidate_where(|_, _| true);
    }

    /// Whether `user` left something others see (the purge of unverified accounts keeps them).
    pub async fn has_activity(&self, tx: &mut Tx, user: Uuid) -> Result<bool> {
        Ok(departing::has_activity(tx, user).await?)
    }
}
