-- Invoices. A draft changes freely; sending takes the next number of the owner's books (under
-- the books lock, so numbers have no gaps and no duplicates) and fixes the content; then only
-- payments, the overdue mark, the public link and voiding change it. Money is in minor units
-- of `currency`, and every total is computed by the server. A client with invoices cannot be
-- deleted (the foreign key has no action: archive the client instead).
CREATE TABLE freelance_invoices (
    id UUID PRIMARY KEY NOT NULL,
    owner_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id UUID NOT NULL REFERENCES freelance_clients (id),
    project_id UUID REFERENCES work_projects (id) ON DELETE SET NULL,
    number BIGINT,
    status TEXT NOT NULL,
    currency TEXT NOT NULL,
    terms TEXT NOT NULL,
    issued_on DATE,
    due_on DATE,
    -- A discount in thousandths of a percent (12.5 % = 12500), or a fixed amount: one or neither.
    discount_percent_milli BIGINT,
    discount_minor BIGINT,
    subtotal_minor BIGINT NOT NULL,
    discount_total_minor BIGINT NOT NULL,
    tax_total_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    paid_minor BIGINT NOT NULL,
    notes TEXT,
    -- SHA-256 of the public link's token; the token itself is shown once.
    public_token_hash TEXT,
    sent_at TIMESTAMPTZ,
    paid_at TIMESTAMPTZ,
    overdue_at TIMESTAMPTZ,
    reminded_at TIMESTAMPTZ,
    voided_at TIMESTAMPTZ,
    -- A recurring invoice is copied and sent every `recur_every` (month, quarter, year) on
    -- `recur_next_on`; the job moves the date on in the transaction that makes the copy.
    recur_every TEXT,
    recur_next_on DATE,
    recurred_from UUID,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (owner_id, number),
    CHECK (discount_percent_milli IS NULL OR discount_minor IS NULL),
    CHECK (paid_minor >= 0 AND paid_minor <= total_minor)
);
CREATE INDEX freelance_invoices_owner ON freelance_invoices (owner_id, id);
CREATE INDEX freelance_invoices_owner_status ON freelance_invoices (owner_id, status, id);
CREATE INDEX freelance_invoices_client ON freelance_invoices (client_id);
CREATE INDEX freelance_invoices_due ON freelance_invoices (due_on);
CREATE INDEX freelance_invoices_recurring ON freelance_invoices (recur_next_on);
CREATE UNIQUE INDEX freelance_invoices_token ON freelance_invoices (public_token_hash)
    WHERE public_token_hash IS NOT NULL;

-- An invoice's lines, in order. Quantities in thousandths; amount = quantity × unit price,
-- rounded half to even to the minor unit.
CREATE TABLE freelance_invoice_lines (
    invoice_id UUID NOT NULL REFERENCES freelance_invoices (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    description TEXT NOT NULL,
    quantity_milli BIGINT NOT NULL,
    unit_price_minor BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL,
    PRIMARY KEY (invoice_id, position)
);

-- An invoice's tax rates, each applied to the subtotal after the discount.
CREATE TABLE freelance_invoice_taxes (
    invoice_id UUID NOT NULL REFERENCES freelance_invoices (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    rate_milli BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL,
    PRIMARY KEY (invoice_id, position)
);

-- Payments received; their sum never exceeds the invoice's total.
CREATE TABLE freelance_payments (
    id UUID PRIMARY KEY NOT NULL,
    invoice_id UUID NOT NULL REFERENCES freelance_invoices (id) ON DELETE CASCADE,
    amount_minor BIGINT NOT NULL,
    paid_on DATE NOT NULL,
    method TEXT NOT NULL,
    note TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    CHECK (amount_minor > 0)
);
CREATE INDEX freelance_payments_invoice ON freelance_payments (invoice_id, id);
