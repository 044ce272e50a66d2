-- Bundles: several events of one organiser sold together at the bundle's own price. Their
-- membership is fixed once a bundle ticket is sold.
CREATE TABLE ticketing_bundles (
    id BLOB PRIMARY KEY NOT NULL,
    owner_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    price_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ticketing_bundles_owner ON ticketing_bundles (owner_id, id);
CREATE TABLE ticketing_bundle_events (
    bundle_id BLOB NOT NULL REFERENCES ticketing_bundles (id) ON DELETE CASCADE,
    event_id BLOB NOT NULL REFERENCES ticketing_events (id) ON DELETE CASCADE,
    PRIMARY KEY (bundle_id, event_id)
);
CREATE INDEX ticketing_bundle_events_event ON ticketing_bundle_events (event_id);

-- One purchase: `quantity` tickets of one event or one bundle. A buyer who deletes their account
-- leaves the organiser's records (buyer NULL); an organiser's departure takes their events and
-- everything sold for them (their tickets are refunded first, and the buyers told).
CREATE TABLE ticketing_purchases (
    id BLOB PRIMARY KEY NOT NULL,
    buyer_id BLOB REFERENCES users (id) ON DELETE SET NULL,
    event_id BLOB REFERENCES ticketing_events (id) ON DELETE CASCADE,
    bundle_id BLOB REFERENCES ticketing_bundles (id) ON DELETE CASCADE,
    quantity BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CHECK ((event_id IS NULL) <> (bundle_id IS NULL))
);

-- A ticket: `code` is its secret (128 random bits, base64url), `status` `valid`, `cancelled` or
-- `refunded`. Its seats are one per event it admits to (one, or every event of its bundle),
-- each with the ticket's share of the price and its check-in time.
CREATE TABLE ticketing_tickets (
    id BLOB PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    purchase_id BLOB NOT NULL REFERENCES ticketing_purchases (id) ON DELETE CASCADE,
    buyer_id BLOB REFERENCES users (id) ON DELETE SET NULL,
    organizer_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_id BLOB REFERENCES ticketing_events (id) ON DELETE CASCADE,
    bundle_id BLOB REFERENCES ticketing_bundles (id) ON DELETE CASCADE,
    price_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    voided_at TEXT
);
CREATE INDEX ticketing_tickets_buyer ON ticketing_tickets (buyer_id, id);
CREATE INDEX ticketing_tickets_purchase ON ticketing_tickets (purchase_id);
CREATE INDEX ticketing_tickets_bundle ON ticketing_tickets (bundle_id);
CREATE TABLE ticketing_seats (
    ticket_id BLOB NOT NULL REFERENCES ticketing_tickets (id) ON DELETE CASCADE,
    event_id BLOB NOT NULL REFERENCES ticketing_events (id) ON DELETE CASCADE,
    amount_minor BIGINT NOT NULL,
    checked_in_at TEXT,
    PRIMARY KEY (ticket_id, event_id)
);
CREATE INDEX ticketing_seats_event ON ticketing_seats (event_id, ticket_id);

-- At most one refund request per ticket; `status` `pending`, `approved` or `rejected`.
CREATE TABLE ticketing_refunds (
    id BLOB PRIMARY KEY NOT NULL,
    ticket_id BLOB NOT NULL UNIQUE REFERENCES ticketing_tickets (id) ON DELETE CASCADE,
    buyer_id BLOB REFERENCES users (id) ON DELETE SET NULL,
    organizer_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    created_at TEXT NOT NULL,
    resolved_at TEXT,
    resolved_by BLOB
);
CREATE INDEX ticketing_refunds_buyer ON ticketing_refunds (buyer_id, id);
CREATE INDEX ticketing_refunds_organizer ON ticketing_refunds (organizer_id, id);
