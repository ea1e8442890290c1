-- portcullis: built-in identity (users, refresh families, revocation, throttling, signing keys).
CREATE TABLE portcullis_users (
    id                  TEXT PRIMARY KEY NOT NULL,
    email               TEXT NOT NULL UNIQUE,
    password_hash       TEXT NOT NULL,
    roles               TEXT NOT NULL DEFAULT '[]', -- JSON array of role names
    disabled            BOOLEAN NOT NULL DEFAULT FALSE,
    created_at          BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
);

CREATE TABLE portcullis_refresh_tokens (
    digest     BYTEA PRIMARY KEY NOT NULL, -- SHA-256 of the opaque token; the token itself is never stored
    family     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX portcullis_refresh_tokens_user ON portcullis_refresh_tokens (user_id);
CREATE INDEX portcullis_refresh_tokens_family ON portcullis_refresh_tokens (family);

CREATE TABLE portcullis_revoked_families (
    family TEXT PRIMARY KEY NOT NULL
);

CREATE TABLE portcullis_token_denylist (
    jti        TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE portcullis_revoked_before (
    user_id TEXT PRIMARY KEY NOT NULL,
    at_us   BIGINT NOT NULL
);

CREATE TABLE portcullis_login_failures (
    key     TEXT PRIMARY KEY NOT NULL,
    count   BIGINT NOT NULL,
    last_at BIGINT NOT NULL
);

CREATE TABLE portcullis_signing_keys (
    kid         TEXT PRIMARY KEY NOT NULL,
    alg         TEXT NOT NULL,
    private_der BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);
