-- A deleted account's comments stay on other people's tasks, shown as from a deleted user:
-- author_id becomes nullable and is set to NULL when the account goes (it cascaded before).
ALTER TABLE work_comments ALTER COLUMN author_id DROP NOT NULL;
ALTER TABLE work_comments DROP CONSTRAINT work_comments_author_id_fkey;
ALTER TABLE work_comments ADD CONSTRAINT work_comments_author_id_fkey
    FOREIGN KEY (author_id) REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX work_comments_author ON work_comments (author_id);
