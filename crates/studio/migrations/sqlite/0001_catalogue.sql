-- The template catalogue, written by administrators and browsed by everyone.
CREATE TABLE studio_categories (
    id BLOB PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    position BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX studio_categories_slug ON studio_categories (slug);

-- `tags` is the JSON array shown; `studio_template_tags` is what `tag=` filters on. `search` is
-- the title, prompt, style and tags folded (lower case, no accents) for `q`. `like_count` moves
-- only with a favourite row in the same transaction, so it equals the number of those rows.
CREATE TABLE studio_templates (
    id BLOB PRIMARY KEY NOT NULL,
    category_id BLOB REFERENCES studio_categories (id),
    title TEXT NOT NULL,
    prompt TEXT NOT NULL,
    style TEXT,
    tags TEXT NOT NULL,
    search TEXT NOT NULL,
    image_key TEXT,
    is_trending BOOLEAN NOT NULL DEFAULT FALSE,
    view_count BIGINT NOT NULL DEFAULT 0,
    like_count BIGINT NOT NULL DEFAULT 0 CHECK (like_count >= 0),
    created_by BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX studio_templates_category ON studio_templates (category_id, id);
CREATE INDEX studio_templates_popular ON studio_templates (like_count, id);
CREATE INDEX studio_templates_trending ON studio_templates (is_trending, like_count, id);

CREATE TABLE studio_template_tags (
    tag TEXT NOT NULL,
    template_id BLOB NOT NULL REFERENCES studio_templates (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, template_id)
);
CREATE INDEX studio_template_tags_template ON studio_template_tags (template_id);

CREATE TABLE studio_favorites (
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    template_id BLOB NOT NULL REFERENCES studio_templates (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, template_id)
);
CREATE INDEX studio_favorites_template ON studio_favorites (template_id);
CREATE INDEX studio_favorites_newest ON studio_favorites (user_id, created_at, template_id);

-- Who viewed a template last, so that a viewer counts once an hour; old rows are purged.
CREATE TABLE studio_template_views (
    template_id BLOB NOT NULL REFERENCES studio_templates (id) ON DELETE CASCADE,
    viewer TEXT NOT NULL,
    viewed_at TEXT NOT NULL,
    PRIMARY KEY (template_id, viewer)
);
CREATE INDEX studio_template_views_age ON studio_template_views (viewed_at);
