//! The chat use cases and their rules: who may see, join, write to and manage a room.
//! Every change is persisted first, then published on the room's topic.

use crate::error::ChatError;
use crate::events::{self, Presence};
use crate::model::*;
use crate::store::{self, NewRoom};
use accounts::Accounts;
use notifications::{NewNotification, Notifications};
use platform::Platform;
use platform::auth::AuthUser;
use platform::cache::ExactCache;
use platform::db::Ts;
use platform::pagination::Page;
use platform::ratelimit::Quota;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

type Result<T> = std::result::Result<T, ChatError>;

/// The rooms created on first start.
pub const DEFAULT_ROOMS: &[(&str, &str, &str)] = &[
    ("default:general", "General", "Everything and anything."),
    ("default:random", "Random", "Off-topic talk."),
    ("default:tech-talk", "Tech Talk", "Programming, tools and technology."),
];

/// One typing event per user and room per this interval.
const TYPING: Quota = Quota::new(1, Duration::from_secs(2));

/// Which rooms to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Rooms the caller is a member of.
    Joined,
    /// Public rooms.
    Public,
}

/// Messages kept per room by the recent-history cache (and the largest page it serves).
const RECENT: usize = 100;

/// The newest messages of a room, newest first.
#[derive(Debug)]
struct Recent {
    messages: Vec<Message>,
    /// Older messages exist beyond these.
    has_more: bool,
}

/// The chat service. Cheap to clone.
#[derive(Clone)]
pub struct Chat {
    platform: Platform,
    accounts: Accounts,
    notifications: Notifications,
    /// Members' roles by (room, user). Exact in the single-process SQLite mode, off otherwise.
    roles: Arc<ExactCache<(Uuid, Uuid), MemberRole>>,
    /// The newest messages per room, for the first history page (same conditions).
    recent: Arc<ExactCache<Uuid, Arc<Recent>>>,
    /// First history pages as sent, by (room, page size) (same conditions).
    pages: Arc<ExactCache<(Uuid, usize), bytes::Bytes>>,
}

impl Chat {
    /// The service.
    pub fn new(platform: Platform, accounts: Accounts, notifications: Notifications) -> Self {
        let single_process = platform.db.dialect() == platform::db::Dialect::Sqlite;
        let ttl = Duration::from_secs(300);
        Self {
            platform,
            accounts,
            notifications,
            roles: Arc::new(ExactCache::new(single_process, ttl)),
            recent: Arc::new(ExactCache::new(single_process, ttl)),
            pages: Arc::new(ExactCache::new(single_process, ttl)),
        }
    }

    fn forget_room(&self, room: Uuid) {
        self.roles.invalidate_where(|(r, _), _| *r == room);
        self.messages_changed(room);
    }

    /// After a commit that changed a room's messages: drop what was cached of them (the recent
    /// messages first, then the pages built from them).
    fn messages_changed(&self, room: Uuid) {
        self.recent.invalidate(&room);
        self.pages.invalidate_where(|(r, _), _| *r == room);
    }

    /// The owner of the `chat.room.` topics: authorises subscriptions and tracks presence.
    pub fn topics(&self) -> Arc<dyn platform::realtime::TopicAuthorizer> {
        Arc::new(Presence::new(self.platform.db.clone(), self.platform.hub.clone()))
    }

    /// Everything chat keeps about `user`, for the data export: the rooms they are in and the
    /// messages they wrote.
    pub async fn export(&self, user: Uuid) -> Result<serde_json::Value> {
        let rooms = store::rooms(&self.platform.db, user, false, None, i64::MAX).await?;
        let rooms: Vec<Room> = rooms.into_iter().map(Room::from).collect();
        let messages = store::messages_by(&self.platform.db, user).await?;
        Ok(serde_json::json!({ "rooms": rooms, "messages": messages }))
    }

    /// Creates the default public rooms if they do not exist yet (idempotent, safe on many instances).
    pub async fn ensure_default_rooms(&self) -> Result<()> {
        for (key, name, description) in DEFAULT_ROOMS {
            let mut tx = self.platform.db.begin().await?;
            let room = NewRoom {
                id: Uuid::now_v7(),
                name,
                description,
                visibility: Visibility::Public.as_str(),
                owner_id: None,
                unique_key: Some(key),
            };
            if store::insert_room(&mut tx, &room).await? {
                events::room_created(&self.platform.outbox, &mut tx, &room).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// The caller's role in `room`; NotFound for rooms the caller may not see, Forbidden for
    /// public rooms the caller has not joined.
    async fn require_member(&self, user: &AuthUser, room: Uuid) -> Result<MemberRole> {
        let key = (room, user.user_id);
        if let Some(role) = self.roles.get(&key) {
            return Ok(role);
        }
        let epoch = self.roles.epoch();
        if let Some(role) = store::member_role(&self.platform.db, room, user.user_id).await? {
            let role = MemberRole::from_stored(&role);
            self.roles.put(epoch, key, role);
            return Ok(role);
        }
        match store::room_visibility(&self.platform.db, room).await?.as_deref() {
            Some("public") => Err(ChatError::Forbidden("Join the room first.")),
            _ => Err(ChatError::NotFound),
        }
    }

    /// Like [`Chat::require_member`] with at least `min`. Platform admins moderate every room
    /// as its owner would.
    async fn require_role(&self, user: &AuthUser, room: Uuid, min: MemberRole) -> Result<MemberRole> {
        let role = if user.is_admin() {
            store::room_visibility(&self.platform.db, room).await?.ok_or(ChatError::NotFound)?;
            MemberRole::Owner
        } else {
            self.require_member(user, room).await?
        };
        if role < min {
            return Err(ChatError::Forbidden(match min {
                MemberRole::Owner => "Only the room owner may do this.",
                _ => "Only the room owner or an admin may do this.",
            }));
        }
        Ok(role)
    }

    /// True when `user` is a member of `room` (the topic authorisation).
    pub async fn is_member(&self, user: Uuid, room: Uuid) -> Result<bool> {
        Ok(store::member_role(&self.platform.db, room, user).await?.is_some())
    }

    async fn room(&self, user: &AuthUser, room: Uuid) -> Result<Room> {
        store::get_room(&self.platform.db, user.user_id, room).await?.map(Room::from).ok_or(ChatError::NotFound)
    }

    // --- rooms ----------------------------------------------------------------------------------

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
        self.room(user, id).await
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
        let updated = self.room(user, room).await?;
        events::publish(&self.platform.hub, room, events::ROOM_UPDATED, &updated);
        Ok(updated)
    }

    /// Deletes a room with its messages (owner).
    pub async fn delete_room(&self, user: &AuthUser, room: Uuid) -> Result<()> {
        self.require_role(user, room, MemberRole::Owner).await?;
        if !store::delete_room(&self.platform.db, room).await? {
            return Err(ChatError::NotFound);
        }
        self.forget_room(room);
        events::publish(&self.platform.hub, room, events::ROOM_DELETED, &serde_json::json!({"room_id": room}));
        Ok(())
    }

    // --- membership -----------------------------------------------------------------------------

    async fn member_out(&self, room: Uuid, user: Uuid, role: MemberRole, joined_at: Ts) -> Result<Member> {
        let name = self.accounts.user(user).await?.name;
        let member = Member { user_id: user, name, role, joined_at };
        events::publish(&self.platform.hub, room, events::MEMBER_JOINED, &member);
        Ok(member)
    }

    /// Joins a public room.
    pub async fn join(&self, user: &AuthUser, room: Uuid) -> Result<Room> {
        match store::room_visibility(&self.platform.db, room).await?.as_deref() {
            Some("public") => {}
            _ => return Err(ChatError::NotFound),
        }
        let mut tx = self.platform.db.begin().await?;
        store::add_member(&mut tx, room, user.user_id, MemberRole::Member.as_str()).await?;
        tx.commit().await?;
        self.member_out(room, user.user_id, MemberRole::Member, Ts::now()).await?;
        self.room(user, room).await
    }

    /// Leaves a room.
    pub async fn leave(&self, user: &AuthUser, room: Uuid) -> Result<()> {
        let role = self.require_member(user, room).await.map_err(|_| ChatError::NotFound)?;
        if role == MemberRole::Owner {
            return Err(ChatError::OwnerCannotLeave);
        }
        if store::room_visibility(&self.platform.db, room).await?.as_deref() == Some("direct") {
            return Err(ChatError::DirectRoom);
        }
        self.remove(room, user.user_id).await
    }

    async fn remove(&self, room: Uuid, target: Uuid) -> Result<()> {
        if !store::remove_member(&self.platform.db, room, target).await? {
            return Err(ChatError::NotFound);
        }
        self.roles.invalidate(&(room, target));
        events::publish(
            &self.platform.hub,
            room,
            events::MEMBER_LEFT,
            &serde_json::json!({"room_id": room, "user_id": target}),
        );
        // Their open sockets stop receiving the room at once.
        self.platform.hub.revoke(&room_topic(room), target);
        Ok(())
    }

    /// The members of a room (members only).
    pub async fn members(&self, user: &AuthUser, room: Uuid) -> Result<Vec<Member>> {
        if !user.is_admin() {
            self.require_member(user, room).await?;
        }
        let rows = store::members(&self.platform.db, room).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.user_id).collect();
        let names = self.accounts.public_users(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|r| Member {
                name: names.get(&r.user_id).map(|u| u.name.clone()).unwrap_or_default(),
                user_id: r.user_id,
                role: MemberRole::from_stored(&r.role),
                joined_at: r.joined_at,
            })
            .collect())
    }

    /// Adds someone to a room (owner or admin; only the owner appoints admins).
    pub async fn add_member(&self, user: &AuthUser, room: Uuid, target: Uuid, role: MemberRole) -> Result<Member> {
        let mine = self.require_role(user, room, MemberRole::Admin).await?;
        if store::room_visibility(&self.platform.db, room).await?.as_deref() == Some("direct") {
            return Err(ChatError::DirectRoom);
        }
        if role == MemberRole::Owner || (role == MemberRole::Admin && mine != MemberRole::Owner) {
            return Err(ChatError::Forbidden("Only the owner appoints admins, and a room has one owner."));
        }
        self.accounts.user(target).await.map_err(|_| ChatError::field("user_id", "no such user"))?;
        let mut tx = self.platform.db.begin().await?;
        store::add_member(&mut tx, room, target, role.as_str()).await?;
        tx.commit().await?;
        self.member_out(room, target, role, Ts::now()).await
    }

    /// Changes a member's role between member and admin (owner only).
    pub async fn set_role(&self, user: &AuthUser, room: Uuid, target: Uuid, role: MemberRole) -> Result<Member> {
        self.require_role(user, room, MemberRole::Owner).await?;
        if role == MemberRole::Owner {
            return Err(ChatError::field("role", "must be admin or member"));
        }
        let current = store::member_role(&self.platform.db, room, target).await?.ok_or(ChatError::NotFound)?;
        if MemberRole::from_stored(&current) == MemberRole::Owner {
            return Err(ChatError::Forbidden("The owner's role cannot be changed."));
        }
        store::set_member_role(&self.platform.db, room, target, role.as_str()).await?;
        self.roles.invalidate(&(room, target));
        self.members(user, room).await?.into_iter().find(|m| m.user_id == target).ok_or(ChatError::NotFound)
    }

    /// Removes a member (owner: anyone else; admin: plain members); removing oneself is leaving.
    pub async fn remove_member(&self, user: &AuthUser, room: Uuid, target: Uuid) -> Result<()> {
        if target == user.user_id {
            return self.leave(user, room).await;
        }
        let mine = self.require_role(user, room, MemberRole::Admin).await?;
        let theirs = store::member_role(&self.platform.db, room, target).await?.ok_or(ChatError::NotFound)?;
        if MemberRole::from_stored(&theirs) >= mine {
            return Err(ChatError::Forbidden("You may only remove members below your own role."));
        }
        self.remove(room, target).await
    }

    /// The one direct room of the caller and `other`, created on first use.
    pub async fn direct(&self, user: &AuthUser, other: Uuid) -> Result<(Room, bool)> {
        if other == user.user_id {
            return Err(ChatError::field("user_id", "must be someone else"));
        }
        let peer = self.accounts.user(other).await.map_err(|_| ChatError::field("user_id", "no such user"))?;
        let me = self.accounts.user(user.user_id).await?;
        let key = direct_key(user.user_id, other);
        let mut tx = self.platform.db.begin().await?;
        let id = Uuid::now_v7();
        let new = NewRoom {
            id,
            name: &format!("{} & {}", me.name, peer.name),
            description: "",
            visibility: Visibility::Direct.as_str(),
            owner_id: None,
            unique_key: Some(&key),
        };
        let created = store::insert_room(&mut tx, &new).await?;
        let room = if created {
            store::add_member(&mut tx, id, user.user_id, MemberRole::Member.as_str()).await?;
            store::add_member(&mut tx, id, other, MemberRole::Member.as_str()).await?;
            events::room_created(&self.platform.outbox, &mut tx, &new).await?;
            id
        } else {
            store::room_id_by_key(&mut tx, &key).await?.ok_or(ChatError::NotFound)?
        };
        tx.commit().await?;
        Ok((self.room(user, room).await?, created))
    }

    // --- messages -------------------------------------------------------------------------------

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

    /// A history page as JSON: the first page of a room is served from memory in the
    /// single-process mode, serialised once until the room's messages change.
    pub async fn history_json(
        &self,
        user: &AuthUser,
        room: Uuid,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<bytes::Bytes> {
        self.require_member(user, room).await?;
        let key = (room, usize::try_from(limit).unwrap_or(RECENT));
        if before.is_none()
            && let Some(cached) = self.pages.get(&key)
        {
            return Ok(cached);
        }
        let epoch = self.pages.epoch();
        let page = self.history_of(room, before, limit).await?;
        let json = bytes::Bytes::from(serde_json::to_vec(&page).map_err(platform::error::Internal::new)?);
        if before.is_none() {
            self.pages.put(epoch, key, json.clone());
        }
        Ok(json)
    }

    async fn history_of(&self, room: Uuid, before: Option<Uuid>, limit: i64) -> Result<Page<Message>> {
        let wanted = usize::try_from(limit).unwrap_or(RECENT);
        if before.is_none() && wanted <= RECENT && self.recent.is_enabled() {
            let recent = self.recent_messages(room).await?;
            let more = recent.messages.len() > wanted || (recent.messages.len() == wanted && recent.has_more);
            let items: Vec<Message> = recent.messages.iter().take(wanted).cloned().collect();
            let next_cursor = if more { items.last().map(|m| m.id.to_string()) } else { None };
            return Ok(Page { items, next_cursor });
        }
        let rows = store::history(&self.platform.db, room, before, limit + 1).await?;
        Ok(Page::from_rows(rows, limit, |m| m.id))
    }

    async fn recent_messages(&self, room: Uuid) -> Result<Arc<Recent>> {
        if let Some(recent) = self.recent.get(&room) {
            return Ok(recent);
        }
        let epoch = self.recent.epoch();
        let mut messages = store::history(&self.platform.db, room, None, RECENT as i64 + 1).await?;
        let has_more = messages.len() > RECENT;
        messages.truncate(RECENT);
        let recent = Arc::new(Recent { messages, has_more });
        self.recent.put(epoch, room, recent.clone());
        Ok(recent)
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
            let members = self.members(user, room).await?;
            let candidates: Vec<(Uuid, String)> =
                members.into_iter().filter(|m| m.user_id != user.user_id).map(|m| (m.user_id, m.name)).collect();
            platform::text::mentioned(&content, &candidates)
        } else {
            Vec::new()
        };
        let mut tx = self.platform.db.begin().await?;
        // The id is taken inside the write transaction: on SQLite ids then follow commit order,
        // so history pages never gain an older message after they were read.
        let message = Message {
            id: Uuid::now_v7(),
            room_id: room,
            sender_id: user.user_id,
            sender_name,
            content,
            created_at: Ts::now(),
            edited_at: None,
            client_id: client_id.map(str::to_string),
        };
        store::insert_message(&mut tx, &message).await?;
        store::insert_mentions(&mut tx, message.id, &mentioned).await?;
        let evented = self.platform.outbox.event(&mut tx, events::MESSAGE_CREATED, &message).await?.is_some();
        let mut recorded = Vec::with_capacity(mentioned.len());
        if !mentioned.is_empty() {
            let room_name = self.room(user, room).await?.name;
            for target in &mentioned {
                let note = NewNotification {
                    user_id: *target,
                    kind: events::CHAT_MENTION,
                    title: format!("{} mentioned you in {room_name}", message.sender_name),
                    body: message.content.chars().take(280).collect(),
                    data: serde_json::json!({"room_id": room, "message_id": message.id}),
                };
                recorded.push(self.notifications.record(&mut tx, note).await?);
            }
        }
        tx.commit().await?;
        if evented {
            self.platform.outbox.wake();
        }
        self.notifications.announce(&recorded);
        self.messages_changed(room);
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
        if existing.sender_id != user.user_id {
            return Err(ChatError::Forbidden("Only the author may edit a message."));
        }
        let edited =
            store::edit_message(&self.platform.db, room, message, &content).await?.ok_or(ChatError::NotFound)?;
        self.messages_changed(room);
        events::publish(&self.platform.hub, room, events::MESSAGE_UPDATED, &edited);
        Ok(edited)
    }

    /// Deletes a message (its author, or the room's owner or admins).
    pub async fn delete_message(&self, user: &AuthUser, room: Uuid, message: Uuid) -> Result<()> {
        let role = self.require_member(user, room).await?;
        let existing = store::get_message(&self.platform.db, room, message).await?.ok_or(ChatError::NotFound)?;
        if existing.sender_id != user.user_id && role < MemberRole::Admin && !user.is_admin() {
            return Err(ChatError::Forbidden("Only the author or a room admin may delete a message."));
        }
        if !store::delete_message(&self.platform.db, room, message).await? {
            return Err(ChatError::NotFound);
        }
        self.messages_changed(room);
        events::publish(
            &self.platform.hub,
            room,
            events::MESSAGE_DELETED,
            &serde_json::json!({"id": message, "room_id": room}),
        );
        Ok(())
    }

    /// Marks everything up to `message` as read.
    pub async fn mark_read(&self, user: &AuthUser, room: Uuid, message: Uuid) -> Result<()> {
        self.require_member(user, room).await?;
        store::get_message(&self.platform.db, room, message).await?.ok_or(ChatError::NotFound)?;
        store::mark_read(&self.platform.db, room, user.user_id, message).await?;
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
