-- portcullis: the audit trail (issue #17). One row per sealed record, every field of the record
-- in its own column (nothing is kept twice, so a column cannot say one thing while a copy says
-- another: verification rebuilds each record from these columns and checks its signature).
CREATE TABLE portcullis_audit (
    chain       TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    prev        TEXT NOT NULL,
    kid         TEXT NOT NULL,
    signature   TEXT NOT NULL,
    id          TEXT NOT NULL,
    time_ms     BIGINT NOT NULL,
    trace_id    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    tenant      TEXT,
    namespace   TEXT,
    required    TEXT NOT NULL,
    held        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    matched     TEXT,
    route       TEXT,
    method      TEXT,
    client      TEXT,
    auth_method TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX portcullis_audit_trace ON portcullis_audit (trace_id);
CREATE INDEX portcullis_audit_time ON portcullis_audit (time_ms, chain, seq);
CREATE INDEX portcullis_audit_subject ON portcullis_audit (subject, time_ms);
CREATE INDEX portcullis_audit_tenant ON portcullis_audit (tenant, time_ms);

-- Signed heads of the chains. Keep them in another database than the records where the threat
-- is someone who can rewrite the records' database (CheckpointSink is separate for that).
CREATE TABLE portcullis_audit_checkpoints (
    chain     TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    link      TEXT NOT NULL,
    time_ms   BIGINT NOT NULL,
    kid       TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);

-- Append-only: the database refuses to change or remove a record (someone who can drop these
-- triggers can also edit the file; the chain's signatures are what catch that).
CREATE TRIGGER portcullis_audit_no_update BEFORE UPDATE ON portcullis_audit
BEGIN SELECT RAISE(ABORT, 'portcullis_audit is append-only'); END;
CREATE TRIGGER portcullis_audit_no_delete BEFORE DELETE ON portcullis_audit
BEGIN SELECT RAISE(ABORT, 'portcullis_audit is append-only'); END;
CREATE TRIGGER portcullis_audit_checkpoints_no_update BEFORE UPDATE ON portcullis_audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'portcullis_audit_checkpoints is append-only'); END;
CREATE TRIGGER portcullis_audit_checkpoints_no_delete BEFORE DELETE ON portcullis_audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'portcullis_audit_checkpoints is append-only'); END;
