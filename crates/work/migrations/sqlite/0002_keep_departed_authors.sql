-- A deleted account's comments stay on other people's tasks, shown as from a deleted user:
-- author_id becomes nullable and is set to NULL when the account goes (it cascaded before).
-- SQLite cannot change a foreign key in place, so the table is rebuilt (nothing refers to it).
CREATE TABLE work_comments_next (
    id BLOB PRIMARY KEY NOT NULL,
    task_id BLOB NOT NULL REFERENCES work_tasks (id) ON DELETE CASCADE,
    author_id BLOB REFERENCES users (id) ON DELETE SET NULL,
    content TEXT NOT NULL,
    mentions TEXT NOT NULL,
    created_at TEXT NOT NULL,
    edited_at TEXT
);
INSERT INTO work_comments_next (id, task_id, author_id, content, mentions, created_at, edited_at)
    SELECT id, task_id, author_id, content, mentions, created_at, edited_at FROM work_comments;
DROP TABLE work_comments;
ALTER TABLE work_comments_next RENAME TO work_comments;
CREATE INDEX work_comments_task ON work_comments (task_id, id);
CREATE INDEX work_comments_author ON work_comments (author_id);
