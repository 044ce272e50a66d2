-- One row per freelancer: locked (INSERT … ON CONFLICT DO UPDATE) by every write that must see
-- the user's books whole, so that two entries cannot both pass the overlap check and two
-- invoices cannot take the same number.
CREATE TABLE freelance_books (
    owner_id BLOB PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_invoice_number BIGINT NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

-- Time worked. A running timer is the one entry of its owner without `ended_at` (the unique
-- index keeps it one). The entry's own rate, when it has one, is `hourly_rate_minor` in
-- `currency`; otherwise the project's and then the client's apply when it is read. Work's
-- projects and tasks may be deleted under an entry: the entry stays, without them.
CREATE TABLE freelance_time_entries (
    id BLOB PRIMARY KEY NOT NULL,
    owner_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id BLOB REFERENCES work_projects (id) ON DELETE SET NULL,
    task_id BLOB REFERENCES work_tasks (id) ON DELETE SET NULL,
    client_id BLOB REFERENCES freelance_clients (id) ON DELETE SET NULL,
    description TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    billable BOOLEAN NOT NULL,
    hourly_rate_minor BIGINT,
    currency TEXT,
    invoice_id BLOB,
    invoiced_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (ended_at IS NULL OR ended_at > started_at),
    CHECK ((hourly_rate_minor IS NULL) = (currency IS NULL)),
    CHECK (hourly_rate_minor IS NULL OR hourly_rate_minor >= 0)
);
CREATE UNIQUE INDEX freelance_time_running ON freelance_time_entries (owner_id) WHERE ended_at IS NULL;
CREATE INDEX freelance_time_owner_started ON freelance_time_entries (owner_id, started_at, id);
CREATE INDEX freelance_time_project ON freelance_time_entries (project_id) WHERE project_id IS NOT NULL;
CREATE INDEX freelance_time_task ON freelance_time_entries (task_id) WHERE task_id IS NOT NULL;
CREATE INDEX freelance_time_client ON freelance_time_entries (client_id) WHERE client_id IS NOT NULL;
