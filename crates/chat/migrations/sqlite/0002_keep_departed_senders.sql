-- A deleted account's messages stay in other people's rooms, shown as from a deleted user:
-- sender_id becomes nullable and is set to NULL when the account goes (it cascaded before).
-- SQLite cannot change a foreign key in place, so both message tables are rebuilt; the
-- mentions table is rebuilt first and dropped before the messages table, so dropping the old
-- messages table cascades into nothing.
CREATE TABLE chat_messages_next (
    id BLOB PRIMARY KEY NOT NULL,
    room_id BLOB NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    sender_id BLOB REFERENCES users (id) ON DELETE SET NULL,
    sender_name TEXT NOT NULL,
    content TEXT NOT NULL,
    client_id TEXT,
    created_at TEXT NOT NULL,
    edited_at TEXT,
    deleted_at TEXT
);
INSERT INTO chat_messages_next (id, room_id, sender_id, sender_name, content, client_id, created_at, edited_at, deleted_at)
    SELECT id, room_id, sender_id, sender_name, content, client_id, created_at, edited_at, deleted_at FROM chat_messages;

CREATE TABLE chat_mentions_next (
    message_id BLOB NOT NULL REFERENCES chat_messages_next (id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, user_id)
);
INSERT INTO chat_mentions_next (message_id, user_id) SELECT message_id, user_id FROM chat_mentions;

DROP TABLE chat_mentions;
DROP TABLE chat_messages;
ALTER TABLE chat_messages_next RENAME TO chat_messages;
ALTER TABLE chat_mentions_next RENAME TO chat_mentions;
CREATE INDEX chat_messages_room ON chat_messages (room_id, id);
CREATE INDEX chat_messages_sender ON chat_messages (sender_id);
CREATE INDEX chat_mentions_user ON chat_mentions (user_id, message_id);
