-- A user's tier and credits. A row is made with the free tier's credits when the user first
-- uses the studio; `credits` never goes below zero.
CREATE TABLE studio_profiles (
    user_id BLOB PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tier TEXT NOT NULL CHECK (tier IN ('free', 'pro', 'premium')),
    credits BIGINT NOT NULL CHECK (credits >= 0),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Generations are their own queue: `queued` holds a reserved credit, `running` too (until
-- `deadline`, after which the sweep fails it), `succeeded` spent it, `failed` returned it.
-- Only one transition out of `queued`/`running` ever succeeds, so a credit moves once.
CREATE TABLE studio_generations (
    id BLOB PRIMARY KEY NOT NULL,
    owner_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('generate', 'edit')),
    prompt TEXT NOT NULL,
    template_id BLOB REFERENCES studio_templates (id) ON DELETE SET NULL,
    character_id BLOB REFERENCES studio_characters (id) ON DELETE SET NULL,
    parent_id BLOB REFERENCES studio_generations (id) ON DELETE SET NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    error TEXT,
    metadata TEXT NOT NULL,
    result_key TEXT,
    thumbnail_key TEXT,
    width BIGINT,
    height BIGINT,
    deadline TEXT,
    started_at TEXT,
    finished_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX studio_generations_owner ON studio_generations (owner_id, id);
CREATE INDEX studio_generations_parent ON studio_generations (parent_id);
CREATE INDEX studio_generations_open ON studio_generations (status, created_at) WHERE status IN ('queued', 'running');
