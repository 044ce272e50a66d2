//! The chat use cases and their rules: who may see, join, write to and manage a room.
//! Every change is persisted first, then published on the room's topic.

mod batch;
mod departing;
mod membership;
mod messages;
mod rooms;

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

/// The text a batch may add to a room's cached newest messages in place (see
/// `Caches::messages_added`): the 64 updates the cache remembers then hold 2 MiB at most.
const UPDATE_MOST_BYTES: usize = 32 * 1024;

/// How long a cached role, page or list is served without a fresh read, at most.
const CACHE_TTL: Duration = Duration::from_secs(30);

/// Cache announcements (see [`Chat::new`]); the key is a room id, or `"{room} {user}"`.
const ROOM_CHANGED: &str = "chat.room";
const MESSAGES_CHANGED: &str = "chat.messages";
const MEMBER_CHANGED: &str = "chat.member";
/// A user's read marker moved (key: `"{room} {user}"`).
const READ_CHANGED: &str = "chat.read";
/// Everything cached may name a departed user (no key).
const EVERYTHING_CHANGED: &str = "chat.all";

/// A room list's first page as asked for: (user, public rooms, limit).
type ListKey = (Uuid, bool, i64);

/// Page sizes whose first pages are cached (the default and the sizes clients commonly ask).
const CACHED_PAGE_SIZES: [i64; 4] = [20, 30, 50, 100];

/// A room list page as sent, with the rooms on it (whose changes make it stale).
#[derive(Debug)]
struct ListPage {
    json: bytes::Bytes,
    rooms: Vec<Uuid>,
}

/// The service's caches, shared with the announcement handlers that keep them exact. Every
/// entry lives at most [`CACHE_TTL`], the backstop should an announcement be lost (an instance
/// killed between its commit and the announcement).
struct Caches {
    /// Members' roles by (room, user).
    roles: ExactCache<(Uuid, Uuid), MemberRole>,
    /// The newest messages per room, for the first history page.
    recent: ExactCache<Uuid, Arc<Recent>>,
    /// First history pages as sent, by (room, page size).
    pages: ExactCache<(Uuid, usize), bytes::Bytes>,
    /// Room list pages as sent (their unread counts are exact: any message, read marker or
    /// membership change of a room on the page drops the page).
    lists: ExactCache<ListKey, Arc<ListPage>>,
}

impl Caches {
    /// A room was created, changed or removed: its roles and messages, and every list (a new
    /// public room appears on pages that did not name it).
    fn forget_room(&self, room: Uuid) {
        self.roles.invalidate_where(|(r, _), _| *r == room);
        self.lists.invalidate_where(|_, _| true);
        self.forget_messages(room);
    }

    /// The recent messages first, then the pages built from them, and the lists showing the
    /// room (its last message and unread counts).
    fn forget_messages(&self, room: Uuid) {
        self.recent.invalidate(&room);
        self.forget_built_from_messages(room);
    }

    /// The pages built from the room's newest messages, and the lists showing the room.
    fn forget_built_from_messages(&self, room: Uuid) {
        self.pages.invalidate_where(|(r, _), _| *r == room);
        self.lists.invalidate_where(|_, page| page.rooms.contains(&room));
    }

    /// Messages of `room` were stored and nothing else changed: they join the newest messages
    /// instead of dropping them (and the reads of them under way), and the pages and lists
    /// built from them go.
    ///
    /// An entry therefore holds every message up to its newest, but for the moments between
    /// a commit and its announcement: what is stored on this instance is either added here
    /// (the group commit) or drops the entry right after its commit (every other post, edit
    /// or deletion; on SQLite before the next writer's turn: `Tx::commit_then`), and what other
    /// instances store drops it when their announcement comes, as for any cache.
    ///
    /// The cache remembers each update for the reads under way (up to 64 of them), so a batch
    /// larger than [`UPDATE_MOST_BYTES`] drops the entry instead of being remembered.
    fn messages_added(&self, room: Uuid, added: &[&Message]) {
        let bytes: usize = added.iter().map(|m| m.content.len() + m.sender_name.len()).sum();
        if bytes > UPDATE_MOST_BYTES {
            self.forget_messages(room);
            return;
        }
        let added: Arc<[Message]> = added.iter().map(|m| (*m).clone()).collect();
        self.recent.update(&room, move |recent| Some(recent.with(&added)));
        self.forget_built_from_messages(room);
    }

    /// Someone joined, left or changed role: their role, every list of theirs (the joined
    /// rooms) and every list showing the room (its member count).
    fn forget_member(&self, room: Uuid, user: Uuid) {
        self.roles.invalidate(&(room, user));
        self.lists.invalidate_where(|(u, ..), page| *u == user || page.rooms.contains(&room));
    }

    fn forget_everything(&self) {
        self.roles.invalidate_where(|_, _| true);
        self.recent.invalidate_where(|_, _| true);
        self.pages.invalidate_where(|_, _| true);
        self.lists.invalidate_where(|_, _| true);
    }
}

/// Parses a `"{room} {user}"` key.
fn room_and_user(key: &str) -> Option<(Uuid, Uuid)> {
    let (room, user) = key.split_once(' ')?;
    Some((room.parse().ok()?, user.parse().ok()?))
}

/// The newest messages of a room, newest first.
#[derive(Debug)]
struct Recent {
    messages: Vec<Message>,
    /// Older messages exist beyond these.
    has_more: bool,
}

impl Recent {
    /// These and `added` (stored since these were read, or about then), newest first, at most
    /// [`RECENT`]. Merged by id, not put in front: on PostgreSQL a message that took an older
    /// id (in another transaction) can commit after a newer one was read, and a read that began
    /// before a batch was stored may already hold some of it.
    fn with(&self, added: &[Message]) -> Arc<Recent> {
        let fresh = added.iter().filter(|m| !self.messages.iter().any(|known| known.id == m.id));
        let mut messages: Vec<Message> = self.messages.iter().chain(fresh).cloned().collect();
        messages.sort_unstable_by_key(|m| std::cmp::Reverse(m.id));
        let has_more = self.has_more || messages.len() > RECENT;
        messages.truncate(RECENT);
        Arc::new(Recent { messages, has_more })
    }
}

/// Open sockets in a room (on this instance) from which its messages are gathered into
/// batches (see `batch`): about where one write per socket costs more than the few
/// milliseconds a message may wait.
const WIDE_ROOM: usize = 100;

/// A wide room is busy while at least one in this many of its sockets here is behind, with
/// frames queued or not yet written (see `batch`): a few slow clients alone do not make its
/// posts arrive spread out.
const BUSY_SHARE: usize = 16;

/// The chat service. Cheap to clone.
#[derive(Clone)]
pub struct Chat {
    platform: Platform,
    accounts: Accounts,
    notifications: Notifications,
    caches: Arc<Caches>,
    /// Group commit of plain messages.
    batcher: batch::Batcher,
}

impl Chat {
    /// The service. Its caches are kept exact through the platform's
    /// [`Coherence`](platform::cache::Coherence): every change below is announced after its
    /// commit and dropped on every instance.
    pub fn new(platform: Platform, accounts: Accounts, notifications: Notifications) -> Self {
        let caches = Arc::new(Caches {
            roles: ExactCache::new(&platform.caches, CACHE_TTL),
            recent: ExactCache::new(&platform.caches, CACHE_TTL),
            pages: ExactCache::new(&platform.caches, CACHE_TTL),
            lists: ExactCache::new(&platform.caches, CACHE_TTL),
        });
        let chat = Self {
            caches: caches.clone(),
            batcher: batch::Batcher::start(
                platform.db.clone(),
                {
                    let hub = platform.hub.clone();
                    move |room| {
                        let topic = crate::model::room_topic(room);
                        // Counted first: a narrow room's messages cost no look at its sockets.
                        if hub.local_subscribers(&topic) < WIDE_ROOM {
                            return batch::Reach::Narrow;
                        }
                        let load = hub.local_load(&topic);
                        batch::Reach::Wide { busy: load.behind * BUSY_SHARE >= load.subscribers }
                    }
                },
                {
                    let (coherence, hub) = (platform.caches.clone(), platform.hub.clone());
                    move |messages: &[&Message]| {
                        // Every cache first, then the broadcasts: a client that reads history
                        // on an event never finds a stale page. The newest messages are brought
                        // up to date rather than read again: under a steady stream of posts
                        // they were dropped hundreds of times a second, and nearly every
                        // history read went to the database (docs/benchmarks.md, soak).
                        let rooms = events::by_room(messages);
                        for (room, added) in &rooms {
                            caches.messages_added(*room, added);
                            coherence.tell_others(MESSAGES_CHANGED, &room.to_string());
                        }
                        for (room, messages) in rooms {
                            events::publish_each(&hub, room, events::MESSAGE_CREATED, &messages);
                        }
                    }
                },
            ),
            platform,
            accounts,
            notifications,
        };
        let caches = chat.caches.clone();
        chat.platform.caches.on(ROOM_CHANGED, move |key| {
            if let Ok(room) = key.parse() {
                caches.forget_room(room);
            }
        });
        let caches = chat.caches.clone();
        chat.platform.caches.on(MESSAGES_CHANGED, move |key| {
            if let Ok(room) = key.parse() {
                caches.forget_messages(room);
            }
        });
        let caches = chat.caches.clone();
        chat.platform.caches.on(MEMBER_CHANGED, move |key| {
            if let Some((room, user)) = room_and_user(key) {
                caches.forget_member(room, user);
            }
        });
        let caches = chat.caches.clone();
        chat.platform.caches.on(READ_CHANGED, move |key| {
            if let Some((room, user)) = room_and_user(key) {
                caches.lists.invalidate_where(|(u, ..), page| *u == user && page.rooms.contains(&room));
            }
        });
        let caches = chat.caches.clone();
        chat.platform.caches.on(EVERYTHING_CHANGED, move |_| caches.forget_everything());
        chat
    }

    /// After a commit that changed or removed a room: forget what was cached of it.
    fn forget_room(&self, room: Uuid) {
        self.platform.caches.changed(ROOM_CHANGED, &room.to_string());
    }

    /// After a commit that changed a room's messages: drop what was cached of them.
    fn messages_changed(&self, room: Uuid) {
        self.platform.caches.changed(MESSAGES_CHANGED, &room.to_string());
    }

    /// After a commit that added or removed a member or changed their role.
    fn member_changed(&self, room: Uuid, user: Uuid) {
        self.platform.caches.changed(MEMBER_CHANGED, &format!("{room} {user}"));
    }

    /// The owner of the `chat.room.` topics: authorises subscriptions and tracks presence.
    /// It reads memberships from the database, never from the roles cache: a subscription made
    /// on a stale entry (another instance removed the member, and its announcement is still on
    /// the way) would outlive the revocation that was already delivered here.
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
            let created = store::insert_room(&mut tx, &room).await?;
            if created {
                events::room_created(&self.platform.outbox, &mut tx, &room).await?;
            }
            tx.commit().await?;
            if created {
                self.forget_room(room.id);
            }
        }
        Ok(())
    }

    /// The caller's role in `room`; NotFound for rooms the caller may not see, Forbidden for
    /// public rooms the caller has not joined.
    async fn require_member(&self, user: &AuthUser, room: Uuid) -> Result<MemberRole> {
        if let Some(role) = self.role_of(user.user_id, room).await? {
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

    /// `user`'s role in `room`, from the roles cache when it has it (None: not a member).
    async fn role_of(&self, user: Uuid, room: Uuid) -> Result<Option<MemberRole>> {
        let key = (room, user);
        if let Some(role) = self.caches.roles.get(&key) {
            return Ok(Some(role));
        }
        let epoch = self.caches.roles.epoch();
        let Some(role) = store::member_role(&self.platform.db, room, user).await? else { return Ok(None) };
        let role = MemberRole::from_stored(&role);
        self.caches.roles.put(epoch, key, role);
        Ok(Some(role))
    }

    /// True when `user` is a member of `room` (checked before a room socket's upgrade; the
    /// subscription that follows asks the database itself, see [`Chat::topics`]).
    pub async fn is_member(&self, user: Uuid, room: Uuid) -> Result<bool> {
        Ok(self.role_of(user, room).await?.is_some())
    }

    async fn room(&self, user: &AuthUser, room: Uuid) -> Result<Room> {
        store::get_room(&self.platform.db, user.user_id, room).await?.map(Room::from).ok_or(ChatError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(room: Uuid) -> Message {
        Message {
            id: Uuid::now_v7(),
            room_id: room,
            sender_id: None,
            sender_name: "Ann".into(),
            content: "hi".into(),
            created_at: Ts::now(),
            edited_at: None,
            client_id: None,
        }
    }

    fn ids(recent: &Recent) -> Vec<Uuid> {
        recent.messages.iter().map(|m| m.id).collect()
    }

    #[test]
    fn added_messages_are_merged_newest_first_and_once() {
        let room = Uuid::now_v7();
        let (a, b, c, d) = (message(room), message(room), message(room), message(room));
        let recent = Recent { messages: vec![b.clone(), a.clone()], has_more: false };
        // `b` was read already (a read that raced the batch): it is not added twice.
        let next = recent.with(&[b.clone(), c.clone(), d.clone()]);
        assert_eq!(ids(&next), vec![d.id, c.id, b.id, a.id]);
        assert!(!next.has_more);
        let empty = Recent { messages: Vec::new(), has_more: false };
        let b_id = b.id;
        assert_eq!(ids(&empty.with(&[a.clone(), b])), vec![b_id, a.id]);
    }

    #[test]
    fn a_message_stored_after_a_newer_one_was_read_goes_in_its_place() {
        // On PostgreSQL `b` can take its id before `c` and commit after `c` was read.
        let room = Uuid::now_v7();
        let (a, b, c, d) = (message(room), message(room), message(room), message(room));
        let recent = Recent { messages: vec![c.clone(), a.clone()], has_more: false };
        let next = recent.with(&[b.clone(), d.clone()]);
        assert_eq!(ids(&next), vec![d.id, c.id, b.id, a.id]);
        // Older than a full window: not shown, but there is more to read.
        let mut full: Vec<Message> = (0..RECENT).map(|_| message(room)).collect();
        full.reverse();
        let recent = Recent { messages: full, has_more: false };
        let next = recent.with(std::slice::from_ref(&a));
        assert!(!ids(&next).contains(&a.id));
        assert!(next.has_more);
    }

    #[test]
    fn the_newest_are_kept_and_older_ones_are_said_to_exist() {
        let room = Uuid::now_v7();
        // Newest first, as read.
        let mut old: Vec<Message> = (0..RECENT).map(|_| message(room)).collect();
        old.reverse();
        let recent = Recent { messages: old.clone(), has_more: false };
        let new = message(room);
        let next = recent.with(std::slice::from_ref(&new));
        assert_eq!(next.messages.len(), RECENT);
        assert_eq!(next.messages[0].id, new.id);
        assert_eq!(next.messages[RECENT - 1].id, old[RECENT - 2].id);
        assert!(next.has_more, "the oldest one dropped is still in the database");
    }
}
