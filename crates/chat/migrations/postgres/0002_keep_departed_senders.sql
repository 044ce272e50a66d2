-- A deleted account's messages stay in other people's rooms, shown as from a deleted user:
-- sender_id becomes nullable and is set to NULL when the account goes (it cascaded before).
ALTER TABLE chat_messages ALTER COLUMN sender_id DROP NOT NULL;
ALTER TABLE chat_messages DROP CONSTRAINT chat_messages_sender_id_fkey;
ALTER TABLE chat_messages ADD CONSTRAINT chat_messages_sender_id_fkey
    FOREIGN KEY (sender_id) REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX chat_messages_sender ON chat_messages (sender_id);
