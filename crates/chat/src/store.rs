//! All SQL of the chat tables (`chat_rooms`, `chat_members`, `chat_messages`, `chat_mentions`),
//! written once for SQLite and PostgreSQL.

use crate::model::{MemberRow, Message, RoomRow};
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_tx, execute_write, with_db, with_tx};
use uuid::Uuid;

/// A room with the caller's ($1) membership, member count, unread count and last message.
macro_rules! room_select {
    () => {
        "SELECT r.id, r.name, r.description, r.visibility, r.owner_id, r.created_at, r.updated_at,
           (SELECT COUNT(*) FROM chat_members c WHERE c.room_id = r.id) AS member_count,
           m.role AS role,
           (SELECT COUNT(*) FROM chat_messages x
             WHERE m.user_id IS NOT NULL AND x.room_id = r.id AND x.deleted_at IS NULL
               AND (x.sender_id IS NULL OR x.sender_id <> $1)
               AND (m.last_read_id IS NULL OR x.id > m.last_read_id)) AS unread_count,
           l.id AS last_id, l.sender_id AS last_sender_id, l.sender_name AS last_sender_name,
           l.content AS last_content, l.created_at AS last_created_at
         FROM chat_rooms r
         LEFT JOIN chat_members m ON m.room_id = r.id AND m.user_id = $1
         LEFT JOIN chat_messages l ON l.id = (SELECT y.id FROM chat_messages y
             WHERE y.room_id = r.id AND y.deleted_at IS NULL ORDER BY y.id DESC LIMIT 1) "
    };
}

/// A new room.
pub struct NewRoom<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub description: &'a str,
    pub visibility: &'a str,
    pub owner_id: Option<Uuid>,
    pub unique_key: Option<&'a str>,
}

/// Inserts a room; with a `unique_key` that exists already, nothing happens (returns false).
pub async fn insert_room(tx: &mut Tx, room: &NewRoom<'_>) -> Result<bool, DbError> {
    let now = Ts::now();
    let n =
        execute_tx!(tx, sqlx::query(
            "INSERT INTO chat_rooms (id, name, description, visibility, owner_id, unique_key, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (unique_key) DO NOTHING",
        )
        .bind(room.id)
        .bind(room.name)
        .bind(room.description)
        .bind(room.visibility)
        .bind(room.owner_id)
        .bind(room.unique_key)
        .bind(now))?;
    Ok(n == 1)
}

/// The visibility of a room, if it exists.
pub async fn room_visibility(db: &Db, room: Uuid) -> Result<Option<String>, DbError> {
    let row: Option<(String,)> = with_db!(db, |pool| {
        sqlx::query_as("SELECT visibility FROM chat_rooms WHERE id = $1").bind(room).fetch_optional(pool).await
    })?;
    Ok(row.map(|r| r.0))
}

pub async fn room_id_by_key(tx: &mut Tx, key: &str) -> Result<Option<Uuid>, DbError> {
    let row: Option<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT id FROM chat_rooms WHERE unique_key = $1").bind(key).fetch_optional(conn).await
    })?;
    Ok(row.map(|r| r.0))
}

pub async fn get_room(db: &Db, user: Uuid, room: Uuid) -> Result<Option<RoomRow>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, RoomRow>(concat!(room_select!(), "WHERE r.id = $2"))
            .bind(user)
            .bind(room)
            .fetch_optional(pool)
            .await
    })?)
}

const JOINED_ROOMS: &str =
    concat!(room_select!(), "WHERE m.user_id IS NOT NULL AND ($2 IS NULL OR r.id > $2) ORDER BY r.id LIMIT $3");
const PUBLIC_ROOMS: &str =
    concat!(room_select!(), "WHERE r.visibility = 'public' AND ($2 IS NULL OR r.id > $2) ORDER BY r.id LIMIT $3");

/// Rooms by id after `cursor`: the public ones, or those `user` is a member of.
pub async fn rooms(
    db: &Db,
    user: Uuid,
    public: bool,
    cursor: Option<Uuid>,
    limit: i64,
) -> Result<Vec<RoomRow>, DbError> {
    let sql = if public { PUBLIC_ROOMS } else { JOINED_ROOMS };
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, RoomRow>(sql).bind(user).bind(cursor).bind(limit).fetch_all(pool).await
    })?)
}

pub async fn update_room(db: &Db, room: Uuid, name: Option<&str>, description: Option<&str>) -> Result<(), DbError> {
    execute_write!(
        db,
        sqlx::query(
            "UPDATE chat_rooms SET name = COALESCE($2, name), description = COALESCE($3, description), updated_at = $4
             WHERE id = $1",
        )
        .bind(room)
        .bind(name)
        .bind(description)
        .bind(Ts::now())
    )?;
    Ok(())
}

pub async fn delete_room(tx: &mut Tx, room: Uuid) -> Result<bool, DbError> {
    let n = execute_tx!(tx, sqlx::query("DELETE FROM chat_rooms WHERE id = $1").bind(room))?;
    Ok(n > 0)
}

// --- members ----------------------------------------------------------------------------------

/// The role of `user` in `room`, if a member.
pub async fn member_role(db: &Db, room: Uuid, user: Uuid) -> Result<Option<String>, DbError> {
    let row: Option<(String,)> = with_db!(db, |pool| {
        sqlx::query_as("SELECT role FROM chat_members WHERE room_id = $1 AND user_id = $2")
            .bind(room)
            .bind(user)
            .fetch_optional(pool)
            .await
    })?;
    Ok(row.map(|r| r.0))
}

/// Adds a member; a second add is a conflict.
pub async fn add_member(tx: &mut Tx, room: Uuid, user: Uuid, role: &str) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query("INSERT INTO chat_members (room_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)")
            .bind(room)
            .bind(user)
            .bind(role)
            .bind(Ts::now())
    )?;
    Ok(())
}

pub async fn remove_member(db: &Db, room: Uuid, user: Uuid) -> Result<bool, DbError> {
    let n = execute_write!(
        db,
        sqlx::query("DELETE FROM chat_members WHERE room_id = $1 AND user_id = $2").bind(room).bind(user)
    )?;
    Ok(n > 0)
}

pub async fn set_member_role(db: &Db, room: Uuid, user: Uuid, role: &str) -> Result<bool, DbError> {
    let n = execute_write!(
        db,
        sqlx::query("UPDATE chat_members SET role = $3 WHERE room_id = $1 AND user_id = $2")
            .bind(room)
            .bind(user)
            .bind(role)
    )?;
    Ok(n > 0)
}

/// Up to `limit` members by user id after `after` (a room may have tens of thousands).
pub async fn members(db: &Db, room: Uuid, after: Option<Uuid>, limit: i64) -> Result<Vec<MemberRow>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, MemberRow>(
            "SELECT user_id, role, joined_at FROM chat_members WHERE room_id = $1 AND ($2 IS NULL OR user_id > $2)
             ORDER BY user_id LIMIT $3",
        )
        .bind(room)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
    })?)
}

/// One member.
pub async fn member(db: &Db, room: Uuid, user: Uuid) -> Result<Option<MemberRow>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, MemberRow>(
            "SELECT user_id, role, joined_at FROM chat_members WHERE room_id = $1 AND user_id = $2",
        )
        .bind(room)
        .bind(user)
        .fetch_optional(pool)
        .await
    })?)
}

/// Which of `users` are members of `room`.
pub async fn members_among(db: &Db, room: Uuid, users: &[Uuid]) -> Result<Vec<Uuid>, DbError> {
    platform::db::ids_among(db, "SELECT user_id FROM chat_members WHERE room_id = $1 AND user_id IN", room, users).await
}

/// Moves the read marker forward (never back) to `message`.
pub async fn mark_read(db: &Db, room: Uuid, user: Uuid, message: Uuid) -> Result<(), DbError> {
    execute_write!(
        db,
        sqlx::query(
            "UPDATE chat_members SET last_read_id = $3
             WHERE room_id = $1 AND user_id = $2 AND (last_read_id IS NULL OR last_read_id < $3)",
        )
        .bind(room)
        .bind(user)
        .bind(message)
    )?;
    Ok(())
}

// --- messages ---------------------------------------------------------------------------------

macro_rules! message_columns {
    () => {
        "id, room_id, sender_id, sender_name, content, created_at, edited_at, client_id"
    };
}

pub async fn insert_message(tx: &mut Tx, m: &Message) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(concat!(
            "INSERT INTO chat_messages (",
            message_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(m.id)
        .bind(m.room_id)
        .bind(m.sender_id)
        .bind(&m.sender_name)
        .bind(&m.content)
        .bind(m.created_at)
        .bind(m.edited_at)
        .bind(m.client_id.as_deref())
    )?;
    Ok(())
}

/// The largest batch whose insert is kept prepared (see [`insert_messages_alone`]).
const PREPARED_ROWS_MOST: usize = 4;

/// Inserts `messages` in one statement (all or none; it commits by itself); hold the writer turn.
///
/// Only the statements of up to [`PREPARED_ROWS_MOST`] rows are kept prepared: each batch size is
/// a statement of its own, and keeping all 64 on every connection cost SQLite several MiB per
/// connection for statements that rarely repeat. The small ones are nearly every batch under a
/// steady load, and on PostgreSQL an unprepared statement is one more round trip (parse and
/// describe, then execute) for every batch.
pub async fn insert_messages_alone(db: &Db, messages: &[Message]) -> Result<(), DbError> {
    let keep_prepared = messages.len() <= PREPARED_ROWS_MOST;
    with_db!(db, |pool| {
        let mut insert = sqlx::QueryBuilder::new(concat!("INSERT INTO chat_messages (", message_columns!(), ") "));
        insert.push_values(messages, |mut row, m| {
            row.push_bind(m.id)
                .push_bind(m.room_id)
                .push_bind(m.sender_id)
                .push_bind(&m.sender_name)
                .push_bind(&m.content)
                .push_bind(m.created_at)
                .push_bind(m.edited_at)
                .push_bind(m.client_id.as_deref());
        });
        insert.build().persistent(keep_prepared).execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn insert_mentions(tx: &mut Tx, message: Uuid, users: &[Uuid]) -> Result<(), DbError> {
    for user in users {
        execute_tx!(
            tx,
            sqlx::query("INSERT INTO chat_mentions (message_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(message)
                .bind(user)
        )?;
    }
    Ok(())
}

/// Users mentioned in a message.
pub async fn mentions(db: &Db, message: Uuid) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<(Uuid,)> = with_db!(db, |pool| {
        sqlx::query_as("SELECT user_id FROM chat_mentions WHERE message_id = $1 ORDER BY user_id")
            .bind(message)
            .fetch_all(pool)
            .await
    })?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// A live (not deleted) message of `room`.
pub async fn get_message(db: &Db, room: Uuid, id: Uuid) -> Result<Option<Message>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, Message>(concat!(
            "SELECT ",
            message_columns!(),
            " FROM chat_messages WHERE id = $1 AND room_id = $2 AND deleted_at IS NULL"
        ))
        .bind(id)
        .bind(room)
        .fetch_optional(pool)
        .await
    })?)
}

/// Live messages of `room` older than `before`, newest first.
pub async fn history(db: &Db, room: Uuid, before: Option<Uuid>, limit: i64) -> Result<Vec<Message>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, Message>(concat!(
            "SELECT ",
            message_columns!(),
            " FROM chat_messages WHERE room_id = $1 AND deleted_at IS NULL AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(room)
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await
    })?)
}

/// Live messages `sender` wrote, oldest first (the data export).
pub async fn messages_by(db: &Db, sender: Uuid) -> Result<Vec<Message>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, Message>(concat!(
            "SELECT ",
            message_columns!(),
            " FROM chat_messages WHERE sender_id = $1 AND deleted_at IS NULL ORDER BY id"
        ))
        .bind(sender)
        .fetch_all(pool)
        .await
    })?)
}

pub async fn edit_message(tx: &mut Tx, room: Uuid, id: Uuid, content: &str) -> Result<Option<Message>, DbError> {
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as::<_, Message>(concat!(
            "UPDATE chat_messages SET content = $3, edited_at = $4
             WHERE id = $1 AND room_id = $2 AND deleted_at IS NULL RETURNING ",
            message_columns!()
        ))
        .bind(id)
        .bind(room)
        .bind(content)
        .bind(Ts::now())
        .fetch_optional(conn)
        .await
    })?)
}

/// Marks a message deleted (its text is cleared); false if it was not live.
pub async fn delete_message(tx: &mut Tx, room: Uuid, id: Uuid) -> Result<bool, DbError> {
    let n = execute_tx!(tx, sqlx::query(
            "UPDATE chat_messages SET deleted_at = $3, content = '' WHERE id = $1 AND room_id = $2 AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(room)
        .bind(Ts::now()))?;
    Ok(n > 0)
}

// --- departing accounts -----------------------------------------------------------------------

/// Rooms that only `user` still uses: owned by them, or direct, with no other member.
pub async fn rooms_only_of(tx: &mut Tx, user: Uuid) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT r.id FROM chat_rooms r JOIN chat_members m ON m.room_id = r.id AND m.user_id = $1
             WHERE (r.owner_id = $1 OR r.visibility = 'direct')
               AND NOT EXISTS (SELECT 1 FROM chat_members o WHERE o.room_id = r.id AND o.user_id <> $1)
             ORDER BY r.id",
        )
        .bind(user)
        .fetch_all(conn)
        .await
    })?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Rooms `user` owns.
pub async fn rooms_owned_by(tx: &mut Tx, user: Uuid) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT id FROM chat_rooms WHERE owner_id = $1 ORDER BY id").bind(user).fetch_all(conn).await
    })?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Who inherits `room` from `user`: the longest-standing admin, else the longest-standing member.
pub async fn successor(tx: &mut Tx, room: Uuid, user: Uuid) -> Result<Option<Uuid>, DbError> {
    let row: Option<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT user_id FROM chat_members WHERE room_id = $1 AND user_id <> $2
             ORDER BY CASE role WHEN 'admin' THEN 0 ELSE 1 END, joined_at, user_id LIMIT 1",
        )
        .bind(room)
        .bind(user)
        .fetch_optional(conn)
        .await
    })?;
    Ok(row.map(|r| r.0))
}

/// Makes `owner` the owner of `room` (in their membership and in the room row); false, with
/// nothing changed, when they are no longer a member (they left meanwhile).
pub async fn set_owner(tx: &mut Tx, room: Uuid, owner: Uuid) -> Result<bool, DbError> {
    let promoted = execute_tx!(
        tx,
        sqlx::query("UPDATE chat_members SET role = 'owner' WHERE room_id = $1 AND user_id = $2")
            .bind(room)
            .bind(owner)
    )?;
    if promoted == 0 {
        return Ok(false);
    }
    let now = Ts::now();
    execute_tx!(
        tx,
        sqlx::query("UPDATE chat_rooms SET owner_id = $2, updated_at = $3 WHERE id = $1")
            .bind(room)
            .bind(owner)
            .bind(now)
    )?;
    Ok(true)
}

/// Shows `user`'s messages as from a deleted user: no sender id, the given name.
pub async fn detach_sender(tx: &mut Tx, user: Uuid, name: &str) -> Result<u64, DbError> {
    Ok(execute_tx!(
        tx,
        sqlx::query("UPDATE chat_messages SET sender_id = NULL, sender_name = $2 WHERE sender_id = $1")
            .bind(user)
            .bind(name)
    )?)
}

/// Whether `user` wrote a message or owns a room that someone else is in.
pub async fn has_activity(tx: &mut Tx, user: Uuid) -> Result<bool, DbError> {
    let message: Option<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as("SELECT id FROM chat_messages WHERE sender_id = $1 LIMIT 1")
            .bind(user)
            .fetch_optional(conn)
            .await
    })?;
    if message.is_some() {
        return Ok(true);
    }
    let shared: Option<(Uuid,)> = with_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT r.id FROM chat_rooms r WHERE r.owner_id = $1
               AND EXISTS (SELECT 1 FROM chat_members m WHERE m.room_id = r.id AND m.user_id <> $1) LIMIT 1",
        )
        .bind(user)
        .fetch_optional(conn)
        .await
    })?;
    Ok(shared.is_some())
}
