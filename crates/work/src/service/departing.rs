//! What happens to work when an account is deleted: others keep their projects and comments.
//! A project the person owned passes to its longest-standing manager, else member; a project
//! with nobody else able to own it goes; their comments stay, shown as from a deleted user.

use super::{Result, Work};
use crate::model::Role;
use crate::store::{self, departing};
use platform::db::Tx;
use serde_json::json;
use uuid::Uuid;

/// Heirs tried in turn when the chosen one left at the same moment.
const HEIR_TRIES: usize = 5;

impl Work {
    /// Inside the transaction that deletes `user`, before the user's row goes. Returns the
    /// projects it deleted (to announce once the deletion has committed).
    pub async fn user_departing(&self, tx: &mut Tx, user: Uuid) -> Result<Vec<Uuid>> {
        let mut deleted = Vec::new();
        for project in departing::projects_only_of(tx, user).await? {
            self.remove_project(tx, project).await?;
            deleted.push(project);
        }
        for project in departing::owned_projects(tx, user).await? {
            // An heir who left meanwhile is no longer found by the next look.
            let mut handed = false;
            for _ in 0..HEIR_TRIES {
                let Some(heir) = departing::heir(tx, project, user).await? else { break };
                if store::set_member_role(tx, project, heir, Role::Owner.as_str()).await? {
                    store::set_owner(tx, project, heir).await?;
                    store::log(tx, project, None, "member.role_changed", Some(heir), &json!({"role": Role::Owner}))
                        .await?;
                    handed = true;
                    break;
                }
            }
            if !handed {
                self.remove_project(tx, project).await?;
                deleted.push(project);
            }
        }
        departing::detach_author(tx, user).await?;
        Ok(deleted)
    }

    /// After the deletion committed: the projects it deleted are announced as any deletion is
    /// (guests and visitors may be watching), and cached access, which may name the user or
    /// the old owner, is dropped.
    pub fn user_departed(&self, deleted_projects: &[Uuid]) {
        self.platform.caches.changed(super::ACCESS_CHANGED, "");
        for project in deleted_projects {
            self.project_removed(*project);
        }
    }

    /// Whether `user` left something others see (the purge of unverified accounts keeps them).
    pub async fn has_activity(&self, tx: &mut Tx, user: Uuid) -> Result<bool> {
        Ok(departing::has_activity(tx, user).await?)
    }
}
