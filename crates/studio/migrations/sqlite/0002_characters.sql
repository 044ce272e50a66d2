-- A user's characters: a name and 3–5 private photos. `images` is a JSON array of
-- {key, thumbnail_key, width, height}, in the order they were sent.
CREATE TABLE studio_characters (
    id BLOB PRIMARY KEY NOT NULL,
    owner_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    images TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX studio_characters_owner ON studio_characters (owner_id, id);
