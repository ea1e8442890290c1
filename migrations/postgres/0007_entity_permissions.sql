-- portcullis: entity permissions (issue #16): resources of a tenant with an owner, a visibility
-- and an optional parent folder, and their shares to users and groups.

-- One row per tenant whose resources were ever written: every write to a tenant's resources or
-- shares takes this row first (it serialises the tenant's writers, so folder cycles and depth
-- stay checked under concurrency). Kept apart from portcullis_tenants, whose version drives the
-- role caches: a share must not flush them.
CREATE TABLE portcullis_acl_tenants (
    tenant  TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);

CREATE TABLE portcullis_resources (
    service        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    resource_id    TEXT NOT NULL,
    tenant         TEXT NOT NULL,
    owner          TEXT NOT NULL,
    visibility     TEXT NOT NULL CHECK (visibility IN ('private', 'tenant', 'public')),
    -- The folder: a resource of the same tenant, or all three NULL.
    parent_service TEXT,
    parent_kind    TEXT,
    parent_id      TEXT,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (service, kind, resource_id)
);
-- The accessible set pages one type of one tenant by id.
CREATE INDEX portcullis_resources_tenant
    ON portcullis_resources (tenant, service, kind, resource_id);
-- A folder's children (deregistering, moving, the accessible set's walk down).
CREATE INDEX portcullis_resources_parent
    ON portcullis_resources (parent_service, parent_kind, parent_id);

-- No foreign key to the resource: deregistering deletes the shares itself, so a pool with
-- foreign keys off behaves the same.
CREATE TABLE portcullis_shares (
    service      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    resource_id  TEXT NOT NULL,
    grantee_kind TEXT NOT NULL CHECK (grantee_kind IN ('user', 'group')),
    grantee      TEXT NOT NULL,
    access       TEXT NOT NULL CHECK (access IN ('view', 'edit')),
    granted_by   TEXT NOT NULL,
    granted_at   BIGINT NOT NULL,
    PRIMARY KEY (service, kind, resource_id, grantee_kind, grantee)
);
CREATE INDEX portcullis_shares_grantee ON portcullis_shares (grantee_kind, grantee);
