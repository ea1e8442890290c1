-- portcullis: browser sessions (the cookie's token is stored only as a SHA-256 digest).
CREATE TABLE portcullis_sessions (
    digest        BYTEA PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL,
    email         TEXT NOT NULL,
    roles         TEXT NOT NULL DEFAULT '[]', -- JSON array, as at login
    created_at_us BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL            -- absolute
);
CREATE INDEX portcullis_sessions_user ON portcullis_sessions (user_id);
