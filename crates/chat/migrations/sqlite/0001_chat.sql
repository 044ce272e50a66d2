CREATE TABLE chat_rooms (
    id BLOB PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    visibility TEXT NOT NULL,
    owner_id BLOB REFERENCES users (id) ON DELETE SET NULL,
    unique_key TEXT UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX chat_rooms_visibility ON chat_rooms (visibility, id);

CREATE TABLE chat_members (
    room_id BLOB NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    last_read_id BLOB,
    joined_at TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX chat_members_user ON chat_members (user_id, room_id);

CREATE TABLE chat_messages (
    id BLOB PRIMARY KEY NOT NULL,
    room_id BLOB NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    sender_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sender_name TEXT NOT NULL,
    content TEXT NOT NULL,
    client_id TEXT,
    created_at TEXT NOT NULL,
    edited_at TEXT,
    deleted_at TEXT
);
CREATE INDEX chat_messages_room ON chat_messages (room_id, id);

CREATE TABLE chat_mentions (
    message_id BLOB NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, user_id)
);
CREATE INDEX chat_mentions_user ON chat_mentions (user_id, message_id);
