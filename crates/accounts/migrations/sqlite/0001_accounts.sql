CREATE TABLE users (
    id BLOB PRIMARY KEY NOT NULL,
    email TEXT UNIQUE,
    email_verified BOOLEAN NOT NULL,
    phone TEXT UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT,
    locale TEXT NOT NULL,
    role TEXT NOT NULL,
    public_profile BOOLEAN NOT NULL,
    disabled BOOLEAN NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX users_unverified ON users (email_verified, created_at);

CREATE TABLE sessions (
    id BLOB PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT,
    user_agent TEXT,
    ip TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    session_id BLOB NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    spent_at TEXT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE one_time_codes (
    id BLOB PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,
    destination TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    expires_at TEXT NOT NULL,
    consumed_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX one_time_codes_destination ON one_time_codes (purpose, destination);
CREATE INDEX one_time_codes_hash ON one_time_codes (purpose, code_hash);
