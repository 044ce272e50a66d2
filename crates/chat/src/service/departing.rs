//! What happens to chat when an account is deleted: others keep their conversations. Rooms the
//! person owned pass to the longest-standing admin (else member); rooms nobody else is in go;
//! their messages stay, shown as from a deleted user.

use super::{Chat, Result};
use crate::store;
use platform::db::Tx;
use platform::module::DELETED_USER_NAME;
use uuid::Uuid;

/// Heirs tried in turn when the chosen one left at the same moment.
const HEIR_TRIES: usize = 5;

impl Chat {
    /// Inside the transaction that deletes `user`, before the user's row goes. Returns the
    /// rooms it deleted (to announce once the deletion has committed).
    pub async fn user_departing(&self, tx: &mut Tx, user: Uuid) -> Result<Vec<Uuid>> {
        let mut deleted = Vec::new();
        for room in store::rooms_only_of(tx, user).await? {
            self.remove_room(tx, room).await?;
            deleted.push(room);
        }
        for room in store::rooms_owned_by(tx, user).await? {
            // An heir who left meanwhile is no longer found by the next look.
            let mut handed = false;
            for _ in 0..HEIR_TRIES {
                let Some(heir) = store::successor(tx, room, user).await? else { break };
                if store::set_owner(tx, room, heir).await? {
                    handed = true;
                    break;
                }
            }
            if !handed {
                self.remove_room(tx, room).await?;
                deleted.push(room);
            }
        }
        store::detach_sender(tx, user, DELETED_USER_NAME).await?;
        Ok(deleted)
    }

    /// After the deletion committed: the rooms it deleted are announced as any deletion is,
    /// and cached roles and message pages (which may name the user) are dropped.
    pub fn user_departed(&self, deleted_rooms: &[Uuid]) {
        for room in deleted_rooms {
            self.room_removed(*room);
        }
        self.platform.caches.changed(super::EVERYTHING_CHANGED, "");
    }

    /// Whether `user` left something others see (the purge of unverified accounts keeps them).
    pub async fn has_activity(&self, tx: &mut Tx, user: Uuid) -> Result<bool> {
        Ok(store::has_activity(tx, user).await?)
    }
}
