-- portcullis: the tenant role model (issue #15): roles per (tenant, namespace) with their grants,
-- assignments to users and groups, group memberships, first sight, and declared actions.

-- One row per tenant that was ever written: every write to the tenant's roles, grants,
-- assignments or groups takes this row first (it serialises the tenant's writers, so the
-- hierarchy and max_members rules hold under concurrency) and increases its version.
CREATE TABLE portcullis_tenants (
    tenant  TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);

CREATE TABLE portcullis_roles (
    id          TEXT PRIMARY KEY NOT NULL,
    tenant      TEXT NOT NULL,
    namespace   TEXT NOT NULL,           -- '' is the tenant's root
    slug        TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    parent      TEXT,                    -- slug of a role of the same tenant and namespace
    is_system   BOOLEAN NOT NULL,
    is_default  BOOLEAN NOT NULL,
    max_members BIGINT,
    metadata    TEXT NOT NULL DEFAULT '{}', -- JSON object
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (tenant, namespace, slug)
);
CREATE INDEX portcullis_roles_parent ON portcullis_roles (tenant, namespace, parent);

CREATE TABLE portcullis_role_grants (
    role_id    TEXT NOT NULL REFERENCES portcullis_roles (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,            -- 'permission' or 'action'
    grant_text TEXT NOT NULL,
    PRIMARY KEY (role_id, kind, grant_text)
);

CREATE TABLE portcullis_assignments (
    id            TEXT PRIMARY KEY NOT NULL,
    tenant        TEXT NOT NULL,
    role_id       TEXT NOT NULL REFERENCES portcullis_roles (id) ON DELETE CASCADE,
    subject_kind  TEXT NOT NULL,         -- 'user' or 'group'
    subject       TEXT NOT NULL,
    resource_type TEXT NOT NULL DEFAULT '', -- '' for every resource (so the unique key holds)
    resource_id   TEXT NOT NULL DEFAULT '',
    granted_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    UNIQUE (role_id, subject_kind, subject, resource_type, resource_id)
);
CREATE INDEX portcullis_assignments_subject ON portcullis_assignments (tenant, subject_kind, subject);
CREATE INDEX portcullis_assignments_role ON portcullis_assignments (role_id);

CREATE TABLE portcullis_group_members (
    tenant   TEXT NOT NULL,
    group_id TEXT NOT NULL,
    subject  TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, group_id, subject)
);
CREATE INDEX portcullis_group_members_subject ON portcullis_group_members (tenant, subject);

-- Subjects seen in a tenant (default roles are given on first sight only).
CREATE TABLE portcullis_tenant_subjects (
    tenant        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, subject)
);

CREATE TABLE portcullis_actions (
    service       TEXT NOT NULL,
    action        TEXT NOT NULL,
    description   TEXT,
    registered_at BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (service, action)
);
