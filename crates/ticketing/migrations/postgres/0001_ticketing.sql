-- Events on sale. `search` is the name and venue folded (lower case, no accents) for `q`;
-- `seats_sold` is kept by the purchases that take seats, and the check makes overselling
-- impossible whatever a caller races.
CREATE TABLE ticketing_events (
    id UUID PRIMARY KEY NOT NULL,
    owner_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    venue TEXT NOT NULL,
    search TEXT NOT NULL,
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ NOT NULL,
    capacity BIGINT NOT NULL,
    seats_sold BIGINT NOT NULL DEFAULT 0,
    price_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    published_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CHECK (seats_sold >= 0 AND seats_sold <= capacity)
);
CREATE INDEX ticketing_events_starts ON ticketing_events (starts_at, id);
CREATE INDEX ticketing_events_owner ON ticketing_events (owner_id, id);
