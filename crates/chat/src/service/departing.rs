//! What happens to chat when an account is deleted: others keep their conversations. Rooms the
//! person owned pass to the longest-standing admin (else member); rooms nobody else is in go;
//! their messages stay, shown as from a deleted user.

use super::{Chat, Result};
use crate::events;
use crate::store;
use platform::db::Tx;
use uuid::Uuid;

/// The sender name shown on the messages of a deleted account.
pub const DELETED_USER: &str = "Deleted user";

impl Chat {
    /// Inside the transaction that deletes `user`, before the user's row goes.
    pub async fn user_departing(&self, tx: &mut Tx, user: Uuid) -> Result<()> {
        for room in store::rooms_only_of(tx, user).await? {
            store::delete_room(tx, room).await?;
            self.platform.outbox.event(tx, events::ROOM_DELETED, &serde_json::json!({"room_id": room})).await?;
        }
        for room in store::rooms_owned_by(tx, user).await? {
            match store::successor(tx, room, user).await? {
                Some(heir) => store::set_owner(tx, room, heir).await?,
                None => {
                    store::delete_room(tx, room).await?;
                    self.platform.outbox.event(tx, events::ROOM_DELETED, &serde_json::json!({"room_id": room})).await?;
                }
            }
        }
        store::detach_sender(tx, user, DELETED_USER).await?;
        Ok(())
    }

    /// After the deletion committed: cached roles and message pages may name the user.
    pub fn user_departed(&self) {
        self.roles.invalidate_where(|_, _| true);
        self.recent.invalidate_where(|_, _| true);
        self.pages.invalidate_where(|_, _| true);
    }

    /// Whether `user` left something others see (the purge of unverified accounts keeps them).
    pub async fn has_activity(&self, tx: &mut Tx, user: Uuid) -> Result<bool> {
        Ok(store::has_activity(tx, user).await?)
    }
}
