-- portcullis: built-in identity (users, refresh families, revocation, throttling, signing keys).
CREATE TABLE portcullis_users (
    id                  TEXT PRIMARY KEY NOT NULL,
    email               TEXT NOT NULL UNIQUE,
    password_hash       TEXT NOT NULL,
    roles               TEXT NOT NULL DEFAULT '[]', -- JSON array of role names
    disabled            INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL
);

CREATE TABLE portcullis_refresh_tokens (
    digest     BLOB PRIMARY KEY NOT NULL, -- SHA-256 of the opaque token; the token itself is never stored
    family     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX portcullis_refresh_tokens_user ON portcullis_refresh_tokens (user_id);
CREATE INDEX portcullis_refresh_tokens_family ON portcullis_refresh_tokens (family);

CREATE TABLE portcullis_revoked_families (
    family TEXT PRIMARY KEY NOT NULL
);

CREATE TABLE portcullis_token_denylist (
    jti        TEXT PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE portcullis_revoked_before (
    user_id TEXT PRIMARY KEY NOT NULL,
    at_us   INTEGER NOT NULL
);

CREATE TABLE portcullis_login_failures (
    key     TEXT PRIMARY KEY NOT NULL,
    count   INTEGER NOT NULL,
    last_at INTEGER NOT NULL
);

CREATE TABLE portcullis_signing_keys (
    kid         TEXT PRIMARY KEY NOT NULL,
    alg         TEXT NOT NULL,
    private_der BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
);
