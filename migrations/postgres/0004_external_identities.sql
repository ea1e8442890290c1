-- portcullis: accounts at external OpenID providers, identified by (issuer, subject), linked to users.
CREATE TABLE portcullis_external_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX portcullis_external_identities_user ON portcullis_external_identities (user_id);
