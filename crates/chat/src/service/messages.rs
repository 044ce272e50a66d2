//! Chat use cases: history, sending, mentions, editing and deleting messages, read markers and typing.

use super::*;

impl Chat {
    /// History, newest first; pass the previous page's `next_cursor` as `before`.
    pub async fn history(
        &self,
        user: &AuthUser,
        room: Uuid,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<Message>> {
        self.require_member(user, room).await?;
        self.history_of(room, before, limit).await
    }

    /// A history page as JSON: the first page of a room (of a usual size) is served from
    /// memory, serialised once until the room's messages change.
    pub async fn history_json(
        &self,
        user: &AuthUser,
        room: Uuid,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<bytes::Bytes> {
        self.require_member(user, room).await?;
        let key = (room, usize::try_from(limit).unwrap_or(RECENT));
        // First pages of the usual sizes only (a client must not fill the cache with variants).
        let cached = before.is_none() && CACHED_PAGE_SIZES.contains(&limit);
        if cached && let Some(cached) = self.caches.pages.get(&key) {
            return Ok(cached);
        }
        let epoch = self.caches.pages.epoch();
        let page = self.history_of(room, before, limit).await?;
        let json = bytes::Bytes::from(serde_json::to_vec(&page).map_err(platform::error::Internal::new)?);
        if cached {
            self.caches.pages.put(epoch, key, json.clone());
        }
        Ok(json)
    }

    pub(super) async fn history_of(&self, room: Uuid, before: Option<Uuid>, limit: i64) -> Result<Page<Message>> {
        let wanted = usize::try_from(limit).unwrap_or(RECENT);
        if before.is_none() && wanted <= RECENT && self.caches.recent.is_enabled() {
            let recent = self.recent_messages(room).await?;
            let more = recent.messages.len() > wanted || (recent.messages.len() == wanted && recent.has_more);
            let items: Vec<Message> = recent.messages.iter().take(wanted).cloned().collect();
            let next_cursor = if more { items.last().map(|m| m.id.to_string()) } else { None };
            return Ok(Page { items, next_cursor });
        }
        let rows = store::history(&self.platform.db, room, before, limit + 1).await?;
        Ok(Page::from_rows(rows, limit, |m| m.id))
    }

    pub(super) async fn recent_messages(&self, room: Uuid) -> Result<Arc<Recent>> {
        // One read per room at a time: every history request of a busy room misses together
        // when its entry expires.
        self.caches
            .recent
            .get_or_load(room, || async {
                let mut messages = store::history(&self.platform.db, room, None, RECENT as i64 + 1).await?;
                let has_more = messages.len() > RECENT;
                messages.truncate(RECENT);
                Ok(Arc::new(Recent { messages, has_more }))
            })
            .await
    }

    /// Sends a message: stored, mentions recorded, then broadcast to the room.
    pub async fn send(&self, user: &AuthUser, room: Uuid, content: &str, client_id: Option<&str>) -> Result<Message> {
        self.require_member(user, room).await?;
        let content = message_content(content)?;
        if client_id.is_some_and(|c| c.chars().count() > 100) {
            return Err(ChatError::field("client_id", "must be at most 100 characters"));
        }
        let sender_name = self.accounts.user(user.user_id).await?.name;
        let mentioned = if content.contains('@') {
            // Only the users the text could name, then only those of them in the room.
            let named = self.accounts.mention_candidates(&content, user.user_id).await?;
            let ids: Vec<Uuid> = named.iter().map(|(id, _)| *id).collect();
            let members = store::members_among(&self.platform.db, room, &ids).await?;
            platform::text::mentioned_members(&content, named, &members)
        } else {
            Vec::new()
        };
        let new_message = |sender_name, content| Message {
            id: Uuid::now_v7(),
            room_id: room,
            sender_id: Some(user.user_id),
            sender_name,
            content,
            created_at: Ts::now(),
            edited_at: None,
            client_id: client_id.map(str::to_string),
        };
        // The id is taken inside the write (holding the writer turn on SQLite, or by the
        // batcher in its turn): on SQLite ids then follow commit order, so history pages never
        // gain an older message after they were read.
        if mentioned.is_empty() && !self.platform.outbox.wants(events::MESSAGE_CREATED) {
            // The message is the only row: inserted with others queued at the same time, in
            // one statement and no transaction around it (see `batch`).
            // (The batcher announces the change and publishes the message once it is stored,
            // even if this request is gone by then.)
            return self.batcher.insert(new_message(sender_name, content)).await;
        }
        // Read before the transaction: nothing waits for a second connection while holding one.
        let room_name = if mentioned.is_empty() { String::new() } else { self.room(user, room).await?.name };
        let mut tx = self.platform.db.begin().await?;
        let message = new_message(sender_name, content);
        store::insert_message(&mut tx, &message).await?;
        store::insert_mentions(&mut tx, message.id, &mentioned).await?;
        let evented = self.platform.outbox.event(&mut tx, events::MESSAGE_CREATED, &message).await?.is_some();
        let mut recorded = Vec::with_capacity(mentioned.len());
        if !mentioned.is_empty() {
            for target in &mentioned {
                let note = NewNotification {
                    user_id: *target,
                    actor: Some(user.user_id),
                    kind: events::CHAT_MENTION,
                    title: format!("{} mentioned you in {room_name}", message.sender_name),
                    body: message.content.chars().take(280).collect(),
                    data: serde_json::json!({"room_id": room, "message_id": message.id}),
                };
                recorded.push(self.notifications.record(&mut tx, note).await?);
            }
        }
        // Dropped right after the commit (on SQLite before the next writer's turn): the group
        // commit would otherwise add its messages to cached newest messages that lack this one
        // (see `Caches::messages_added`).
        tx.commit_then(|| self.messages_changed(room)).await?;
        if evented {
            self.platform.outbox.wake();
        }
        self.notifications.announce(&recorded);
        events::publish(&self.platform.hub, room, events::MESSAGE_CREATED, &message);
        Ok(message)
    }

    /// Users mentioned in a message (members only).
    pub async fn mentions(&self, user: &AuthUser, room: Uuid, message: Uuid) -> Result<Vec<Uuid>> {
        self.require_member(user, room).await?;
        store::get_message(&self.platform.db, room, message).await?.ok_or(ChatError::NotFound)?;
        Ok(store::mentions(&self.platform.db, message).await?)
    }

    /// Edits one's own message.
    pub async fn edit(&self, user: &AuthUser, room: Uuid, message: Uuid, content: &str) -> Result<Message> {
        self.require_member(user, room).await?;
        let content = message_content(content)?;
        let existing = store::get_message(&self.platform.db, room, message).await?.ok_or(ChatError::NotFound)?;
        if existing.sender_id != Some(user.user_id) {
            return Err(ChatError::Forbidden("Only the author may edit a message."));
        }
        let mut tx = self.platform.db.begin().await?;
        let edited = store::edit_message(&mut tx, room, message, &content).await?.ok_or(ChatError::NotFound)?;
        self.platform.outbox.event(&mut tx, events::MESSAGE_UPDATED, &edited).await?;
        tx.commit_then(|| self.messages_changed(room)).await?;
        self.platform.outbox.wake();
        events::publish(&self.platform.hub, room, events::MESSAGE_UPDATED, &edited);
        Ok(edited)
    }

    /// Deletes a message (its author, or the room's owner or admins).
    pub async fn delete_message(&self, user: &AuthUser, room: Uuid, message: Uuid) -> Result<()> {
        let role = self.require_member(user, room).await?;
        let existing = store::get_message(&self.platform.db, room, message).await?.ok_or(ChatError::NotFound)?;
        if existing.sender_id != Some(user.user_id) && role < MemberRole::Admin && !user.is_admin() {
            return Err(ChatError::Forbidden("Only the author or a room admin may delete a message."));
        }
        let deleted = serde_json::json!({"id": message, "room_id": room});
        let mut tx = self.platform.db.begin().await?;
        if !store::delete_message(&mut tx, room, message).await? {
            return Err(ChatError::NotFound);
        }
        self.platform.outbox.event(&mut tx, events::MESSAGE_DELETED, &deleted).await?;
        tx.commit_then(|| self.messages_changed(room)).await?;
        self.platform.outbox.wake();
        events::publish(&self.platform.hub, room, events::MESSAGE_DELETED, &deleted);
        Ok(())
    }

    /// Marks everything up to `message` as read.
    pub async fn mark_read(&self, user: &AuthUser, room: Uuid, message: Uuid) -> Result<()> {
        self.require_member(user, room).await?;
        store::get_message(&self.platform.db, room, message).await?.ok_or(ChatError::NotFound)?;
        store::mark_read(&self.platform.db, room, user.user_id, message).await?;
        self.platform.caches.changed(READ_CHANGED, &format!("{room} {}", user.user_id));
        Ok(())
    }

    /// Tells the room the caller is typing (at most once per 2 s; ephemeral).
    pub async fn typing(&self, user: &AuthUser, room: Uuid) -> Result<()> {
        self.require_member(user, room).await?;
        if self.platform.limiter.hit(&format!("chat-typing:{room}:{}", user.user_id), TYPING).await.is_ok() {
            let name = self.accounts.user(user.user_id).await?.name;
            events::publish(
                &self.platform.hub,
                room,
                events::TYPING,
                &serde_json::json!({"room_id": room, "user_id": user.user_id, "name": name}),
            );
        }
        Ok(())
    }
}
