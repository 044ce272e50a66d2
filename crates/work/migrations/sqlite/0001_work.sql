CREATE TABLE work_projects (
    id BLOB PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    visibility TEXT NOT NULL,
    status TEXT NOT NULL,
    owner_id BLOB REFERENCES users (id) ON DELETE SET NULL,
    client_id BLOB,
    hourly_rate BIGINT,
    budget BIGINT,
    currency TEXT,
    starts_on TEXT,
    ends_on TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX work_projects_visibility ON work_projects (visibility, id);

CREATE TABLE work_members (
    project_id BLOB NOT NULL REFERENCES work_projects (id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    joined_at TEXT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX work_members_user ON work_members (user_id, project_id);

CREATE TABLE work_invitations (
    id BLOB PRIMARY KEY NOT NULL,
    project_id BLOB NOT NULL REFERENCES work_projects (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    invited_by BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    UNIQUE (project_id, email)
);
CREATE INDEX work_invitations_email ON work_invitations (email);

CREATE TABLE work_tasks (
    id BLOB PRIMARY KEY NOT NULL,
    project_id BLOB NOT NULL REFERENCES work_projects (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL,
    assignee_id BLOB REFERENCES users (id) ON DELETE SET NULL,
    creator_id BLOB REFERENCES users (id) ON DELETE SET NULL,
    due_date TEXT,
    due_sort TEXT NOT NULL,
    due_notified_at TEXT,
    completed_at TEXT,
    position BIGINT NOT NULL,
    tags TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX work_tasks_project ON work_tasks (project_id, created_at, id);
CREATE INDEX work_tasks_project_updated ON work_tasks (project_id, updated_at, id);
CREATE INDEX work_tasks_project_due ON work_tasks (project_id, due_sort, id);
CREATE INDEX work_tasks_project_priority ON work_tasks (project_id, priority, id);
CREATE INDEX work_tasks_project_position ON work_tasks (project_id, position, id);
CREATE INDEX work_tasks_assignee ON work_tasks (assignee_id, status);
CREATE INDEX work_tasks_due ON work_tasks (due_date);

CREATE TABLE work_task_tags (
    task_id BLOB NOT NULL REFERENCES work_tasks (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (task_id, tag)
);
CREATE INDEX work_task_tags_tag ON work_task_tags (tag, task_id);

CREATE TABLE work_task_deps (
    task_id BLOB NOT NULL REFERENCES work_tasks (id) ON DELETE CASCADE,
    blocked_by_id BLOB NOT NULL REFERENCES work_tasks (id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, blocked_by_id)
);
CREATE INDEX work_task_deps_blocker ON work_task_deps (blocked_by_id);

CREATE TABLE work_comments (
    id BLOB PRIMARY KEY NOT NULL,
    task_id BLOB NOT NULL REFERENCES work_tasks (id) ON DELETE CASCADE,
    author_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content TEXT NOT NULL,
    mentions TEXT NOT NULL,
    created_at TEXT NOT NULL,
    edited_at TEXT
);
CREATE INDEX work_comments_task ON work_comments (task_id, id);

CREATE TABLE work_activity (
    id BLOB PRIMARY KEY NOT NULL,
    project_id BLOB NOT NULL REFERENCES work_projects (id) ON DELETE CASCADE,
    actor_id BLOB REFERENCES users (id) ON DELETE SET NULL,
    action TEXT NOT NULL,
    subject_id BLOB,
    details TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX work_activity_project ON work_activity (project_id, id);
