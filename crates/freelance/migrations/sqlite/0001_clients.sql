-- A freelancer's clients, private to their owner. `search` is the name, company and email
-- folded (lower case, no accents) for `q`. Money is in minor units of `currency`.
CREATE TABLE freelance_clients (
    id BLOB PRIMARY KEY NOT NULL,
    owner_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    company TEXT,
    address TEXT,
    tax_id TEXT,
    currency TEXT,
    hourly_rate_minor BIGINT,
    notes TEXT,
    search TEXT NOT NULL,
    archived_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (hourly_rate_minor IS NULL OR (hourly_rate_minor >= 0 AND currency IS NOT NULL))
);
CREATE INDEX freelance_clients_owner ON freelance_clients (owner_id, id);
