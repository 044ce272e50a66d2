-- A user's tier and credits. A row is made with the free tier's credits when the user first
-- uses the studio; `credits` never goes below zero.
CREATE TABLE studio_profiles (
    user_id UUID PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tier TEXT NOT NULL CHECK (tier IN ('free', 'pro', 'premium')),
    credits BIGINT NOT NULL CHECK (credits >= 0),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Generations are their own queue: `queued` holds a reserved credit, `running` too (until
-- `deadline`, after which the sweep fails it), `succeeded` spent it, `failed` returned it.
-- Only one transition out of `queued`/`running` ever succeeds, so a credit moves once.
CREATE TABLE studio_generations (
    id UUID PRIMARY KEY NOT NULL,
    owner_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('generate', 'edit')),
    prompt TEXT NOT NULL,
    template_id UUID REFERENCES studio_templates (id) ON DELETE SET NULL,
    character_id UUID REFERENCES studio_characters (id) ON DELETE SET NULL,
    parent_id UUID REFERENCES studio_generations (id) ON DELETE SET NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    error TEXT,
    metadata TEXT NOT NULL,
    result_key TEXT,
    thumbnail_key TEXT,
    width BIGINT,
    height BIGINT,
    deadline TIMESTAMPTZ,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX studio_generations_owner ON studio_generations (owner_id, id);
CREATE INDEX studio_generations_parent ON studio_generations (parent_id);
CREATE INDEX studio_generations_open ON studio_generations (status, created_at) WHERE status IN ('queued', 'running');
