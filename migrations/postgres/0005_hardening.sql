-- portcullis: API keys remember their creation to the microsecond, so the owner's revoked-before
-- cutoff (logout-all, a password change, disabling) ends every key made before it.
ALTER TABLE portcullis_api_keys ADD COLUMN created_at_us BIGINT NOT NULL DEFAULT 0;
UPDATE portcullis_api_keys SET created_at_us = created_at * 1000000;
-- Maintenance purges by expiry and by age.
CREATE INDEX portcullis_refresh_tokens_expiry ON portcullis_refresh_tokens (expires_at);
CREATE INDEX portcullis_token_denylist_expiry ON portcullis_token_denylist (expires_at);
CREATE INDEX portcullis_sessions_expiry ON portcullis_sessions (expires_at);
CREATE INDEX portcullis_login_failures_last ON portcullis_login_failures (last_at);
