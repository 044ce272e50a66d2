//! Chat use cases: creating, listing, renaming and deleting rooms.

use super::*;

impl Chat {
    /// Creates a public or private room owned by the caller.
    pub async fn create_room(
        &self,
        user: &AuthUser,
        name: &str,
        description: &str,
        visibility: Visibility,
    ) -> Result<Room> {
        if visibility == Visibility::Direct {
            return Err(ChatError::field("visibility", "must be public or private (use /chat/dms for direct rooms)"));
        }
        let name = room_name(name)?;
        let description = room_description(description)?;
        let id = Uuid::now_v7();
        let mut tx = self.platform.db.begin().await?;
        let new = NewRoom {
            id,
            name: &name,
            description: &description,
            visibility: visibility.as_str(),
            owner_id: Some(user.user_id),
            unique_key: None,
        };
        store::insert_room(&mut tx, &new).await?;
        store::add_member(&mut tx, id, user.user_id, MemberRole::Owner.as_str()).await?;
        events::room_created(&self.platform.outbox, &mut tx, &new).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        self.forget_room(id);
        self.room(user, id).await
    }

    /// Lists rooms as JSON, from the cache while nothing on the page changed.
    pub async fn rooms_json(
        &self,
        user: &AuthUser,
        scope: Scope,
        cursor: Option<Uuid>,
        limit: i64,
    ) -> Result<bytes::Bytes> {
        // Only first pages of the usual sizes are kept: a client choosing cursors and sizes
        // must not be able to fill the cache with copies of one page.
        let cached = cursor.is_none() && CACHED_PAGE_SIZES.contains(&limit);
        let key = (user.user_id, scope == Scope::Public, limit);
        if cached && let Some(page) = self.caches.lists.get(&key) {
            return Ok(page.json.clone());
        }
        let epoch = self.caches.lists.epoch();
        let page = self.rooms(user, scope, cursor, limit).await?;
        let json = bytes::Bytes::from(serde_json::to_vec(&page).map_err(platform::error::Internal::new)?);
        if cached {
            let rooms = page.items.iter().map(|r| r.id).collect();
            self.caches.lists.put(epoch, key, Arc::new(ListPage { json: json.clone(), rooms }));
        }
        Ok(json)
    }

    /// Lists rooms.
    pub async fn rooms(&self, user: &AuthUser, scope: Scope, cursor: Option<Uuid>, limit: i64) -> Result<Page<Room>> {
        let rows = match scope {
            Scope::Joined => store::rooms(&self.platform.db, user.user_id, false, cursor, limit + 1).await?,
            Scope::Public => store::rooms(&self.platform.db, user.user_id, true, cursor, limit + 1).await?,
        };
        let page = Page::from_rows(rows, limit, |r| r.id);
        Ok(Page { items: page.items.into_iter().map(Room::from).collect(), next_cursor: page.next_cursor })
    }

    /// A room the caller may see (a member, or any public room).
    pub async fn get_room(&self, user: &AuthUser, room: Uuid) -> Result<Room> {
        let found = self.room(user, room).await?;
        if found.role.is_none() && found.visibility != Visibility::Public && !user.is_admin() {
            return Err(ChatError::NotFound);
        }
        Ok(found)
    }

    /// Renames or re-describes a room (owner or admin).
    pub async fn update_room(
        &self,
        user: &AuthUser,
        room: Uuid,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<Room> {
        self.require_role(user, room, MemberRole::Admin).await?;
        let name = name.map(room_name).transpose()?;
        let description = description.map(room_description).transpose()?;
        store::update_room(&self.platform.db, room, name.as_deref(), description.as_deref()).await?;
        self.forget_room(room);
        let updated = self.room(user, room).await?;
        events::publish(&self.platform.hub, room, events::ROOM_UPDATED, &updated);
        Ok(updated)
    }

    /// Deletes a room with its messages (owner).
    pub async fn delete_room(&self, user: &AuthUser, room: Uuid) -> Result<()> {
        self.require_role(user, room, MemberRole::Owner).await?;
        let mut tx = self.platform.db.begin().await?;
        if !self.remove_room(&mut tx, room).await? {
            return Err(ChatError::NotFound);
        }
        tx.commit().await?;
        self.platform.outbox.wake();
        self.room_removed(room);
        Ok(())
    }

    /// Deletes `room` inside `tx` with its domain event; false when there was no such room.
    pub(super) async fn remove_room(&self, tx: &mut platform::db::Tx, room: Uuid) -> Result<bool> {
        if !store::delete_room(tx, room).await? {
            return Ok(false);
        }
        self.platform.outbox.event(tx, events::ROOM_DELETED, &serde_json::json!({"room_id": room})).await?;
        Ok(true)
    }

    /// After a room's deletion committed: forgets what was cached of it and tells its sockets.
    pub(super) fn room_removed(&self, room: Uuid) {
        self.forget_room(room);
        events::publish(&self.platform.hub, room, events::ROOM_DELETED, &serde_json::json!({"room_id": room}));
    }
}
