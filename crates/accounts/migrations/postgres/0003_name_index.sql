-- Mentions look users up by name, case-folded (see platform::text::mention_candidates).
CREATE INDEX users_name_lower ON users (lower(name));
CREATE INDEX users_name ON users (name);
