-- The clean-up job deletes dead sessions and old codes every minute by these columns; without
-- an index each run read the whole table, which grows with every sign-in.
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX one_time_codes_expires ON one_time_codes (expires_at);
