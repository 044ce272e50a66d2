-- Contracts: a template's text filled from the client, the project and the freelancer when
-- the contract is written, editable while a draft, then moved through its statuses (draft →
-- sent → signed → active → completed, or terminated once sent). The client and project may be
-- deleted later: the text keeps their names.
CREATE TABLE freelance_contracts (
    id UUID PRIMARY KEY NOT NULL,
    owner_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id UUID REFERENCES freelance_clients (id) ON DELETE SET NULL,
    project_id UUID REFERENCES work_projects (id) ON DELETE SET NULL,
    template TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    value_minor BIGINT,
    currency TEXT,
    starts_on DATE,
    ends_on DATE,
    sent_at TIMESTAMPTZ,
    signed_at TIMESTAMPTZ,
    activated_at TIMESTAMPTZ,
    ended_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CHECK ((value_minor IS NULL) = (currency IS NULL))
);
CREATE INDEX freelance_contracts_owner ON freelance_contracts (owner_id, id);

-- Resumes: the content as one JSON document (sections of lists), shown in one of the
-- templates as HTML or PDF.
CREATE TABLE freelance_resumes (
    id UUID PRIMARY KEY NOT NULL,
    owner_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    template TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX freelance_resumes_owner ON freelance_resumes (owner_id, id);
