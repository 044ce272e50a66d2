-- Contracts: a template's text filled from the client, the project and the freelancer when
-- the contract is written, editable while a draft, then moved through its statuses (draft →
-- sent → signed → active → completed, or terminated once sent). The client and project may be
-- deleted later: the text keeps their names.
CREATE TABLE freelance_contracts (
    id BLOB PRIMARY KEY NOT NULL,
    owner_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id BLOB REFERENCES freelance_clients (id) ON DELETE SET NULL,
    project_id BLOB REFERENCES work_projects (id) ON DELETE SET NULL,
    template TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    value_minor BIGINT,
    currency TEXT,
    starts_on TEXT,
    ends_on TEXT,
    sent_at TEXT,
    signed_at TEXT,
    activated_at TEXT,
    ended_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK ((value_minor IS NULL) = (currency IS NULL))
);
CREATE INDEX freelance_contracts_owner ON freelance_contracts (owner_id, id);

-- Resumes: the content as one JSON document (sections of lists), shown in one of the
-- templates as HTML or PDF.
CREATE TABLE freelance_resumes (
    id BLOB PRIMARY KEY NOT NULL,
    owner_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    template TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX freelance_resumes_owner ON freelance_resumes (owner_id, id);
