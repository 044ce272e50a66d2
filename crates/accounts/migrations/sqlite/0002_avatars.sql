ALTER TABLE users ADD COLUMN avatar_key TEXT;
