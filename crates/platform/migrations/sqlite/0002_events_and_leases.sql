CREATE TABLE job_leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE event_inbox (
    subscriber TEXT NOT NULL,
    event_id BLOB NOT NULL,
    handled_at TEXT NOT NULL,
    PRIMARY KEY (subscriber, event_id)
);
CREATE INDEX outbox_kind ON outbox (kind, status, id);
