-- portcullis: API keys (stored as a SHA-256 digest plus a display prefix; never in the clear).
CREATE TABLE portcullis_api_keys (
    id             TEXT PRIMARY KEY NOT NULL, -- the public part of the key
    digest         BYTEA NOT NULL,
    display_prefix TEXT NOT NULL,
    owner          TEXT NOT NULL,
    name           TEXT NOT NULL,
    roles          TEXT NOT NULL DEFAULT '[]', -- JSON array
    scopes         TEXT NOT NULL DEFAULT '[]', -- JSON array
    tenant         TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    revoked_at     BIGINT,
    last_used_at   BIGINT
);
CREATE INDEX portcullis_api_keys_owner ON portcullis_api_keys (owner);
