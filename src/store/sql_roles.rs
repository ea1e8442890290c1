//! The tenant role model on the SQL backends: its statements (written once with `?`, numbered
//! for PostgreSQL) and one implementation of [`RoleStore`](super::RoleStore),
//! [`AssignmentStore`](super::AssignmentStore) and [`ActionStore`](super::ActionStore),
//! instantiated per backend by `sql_role_store!`.
//!
//! Every write to a tenant is one transaction that first upserts the tenant's row in
//! `portcullis_tenants` (bumping its version). On PostgreSQL that row lock serialises the
//! tenant's writers; on SQLite that first write takes the database's write lock before anything
//! is read, so no transaction decides on a stale snapshot. Only then are the rows a rule needs
//! read, the rule checked, and the change written: this is what keeps the hierarchy, system
//! roles and `max_members` sound however many writers race.

use std::borrow::Cow;

use super::StoreError;
use super::sql::{Dialect, numbered, unavailable};

/// The tenant role model's statements, in one backend's dialect.
pub(crate) struct RoleStatements {
    /// Takes the tenant's lock row (creating it) and bumps its version: the first statement of
    /// every write to a tenant.
    pub(crate) lock_tenant: Cow<'static, str>,
    pub(crate) tenant_version: Cow<'static, str>,
    /// On PostgreSQL, gives a read-only transaction one snapshot for all its statements
    /// (SQLite's read transactions have one already).
    pub(crate) snapshot: Option<Cow<'static, str>>,
    pub(crate) insert_role: Cow<'static, str>,
    pub(crate) role: Cow<'static, str>,
    pub(crate) role_by_slug: Cow<'static, str>,
    pub(crate) edges: Cow<'static, str>,
    pub(crate) update_role: Cow<'static, str>,
    pub(crate) has_children: Cow<'static, str>,
    /// Run in order: the role's grants, its assignments, the role (foreign keys may be off, so
    /// nothing is left to cascades).
    pub(crate) delete_role: [Cow<'static, str>; 3],
    pub(crate) list_roles: Cow<'static, str>,
    pub(crate) count_roles: Cow<'static, str>,
    pub(crate) role_grants: Cow<'static, str>,
    pub(crate) attach_grant: Cow<'static, str>,
    pub(crate) detach_grant: Cow<'static, str>,
    pub(crate) clear_grants: Cow<'static, str>,
    pub(crate) child_roles: Cow<'static, str>,
    pub(crate) tenant_roles: Cow<'static, str>,
    pub(crate) tenant_grants: Cow<'static, str>,
    /// Run in order with the tenant bound once each: everything that refers to a role first,
    /// then the roles (whose count is returned).
    pub(crate) delete_tenant: [Cow<'static, str>; 5],
    pub(crate) room: Cow<'static, str>,
    pub(crate) insert_assignment: Cow<'static, str>,
    /// Drops an expired assignment of the same natural key, so that the role can be given again.
    pub(crate) drop_expired_twin: Cow<'static, str>,
    /// The same insert, skipping a (role, subject, resource) the subject holds already.
    pub(crate) insert_default_assignment: Cow<'static, str>,
    pub(crate) unassign: Cow<'static, str>,
    pub(crate) assignment: Cow<'static, str>,
    pub(crate) assignments: Cow<'static, str>,
    pub(crate) assignments_of: Cow<'static, str>,
    pub(crate) assignments_of_roles: Cow<'static, str>,
    pub(crate) add_member: Cow<'static, str>,
    pub(crate) remove_member: Cow<'static, str>,
    pub(crate) groups_of: Cow<'static, str>,
    pub(crate) members: Cow<'static, str>,
    pub(crate) groups: Cow<'static, str>,
    pub(crate) seen: Cow<'static, str>,
    pub(crate) insert_subject: Cow<'static, str>,
    pub(crate) default_roles: Cow<'static, str>,
    pub(crate) register_action: Cow<'static, str>,
    pub(crate) actions: Cow<'static, str>,
}

/// The `WHERE` clause of role listings, one line per [`RoleFilter`](super::RoleFilter) field, in
/// the order `bind_role_filter` binds them. `{LOWER:x}` is the dialect's ASCII-only lower-casing
/// of column `x`.
const ROLE_FILTER: &str = "tenant = ? \
    AND (? IS NULL OR namespace = ?) \
    AND (? IS NULL OR namespace = ? OR substr(namespace, 1, length(?)) = ?) \
    AND (? IS NULL OR is_system = ?) \
    AND (? IS NULL OR is_default = ?) \
    AND (? IS NULL OR parent = ?) \
    AND (? IS NULL OR {LOWER:slug} LIKE ? ESCAPE '\\' OR {LOWER:name} LIKE ? ESCAPE '\\' \
         OR {LOWER:description} LIKE ? ESCAPE '\\')";

/// An assignment live at a bound time.
const LIVE: &str = "(expires_at IS NULL OR expires_at > ?)";

impl RoleStatements {
    pub(crate) fn new(dialect: Dialect) -> Self {
        // Orderings and case-folding must agree byte for byte with the memory store's (Rust's
        // `Ord` on strings, `to_ascii_lowercase`): PostgreSQL's would follow the database's
        // locale, so it is told to compare bytes and to fold ASCII letters only. SQLite's
        // defaults (BINARY collation, an ASCII-only `lower`) already do.
        let (collate, lower): (&str, fn(&str) -> String) = match dialect {
            Dialect::Sqlite => ("", |column| format!("lower({column})")),
            Dialect::Postgres => (" COLLATE \"C\"", |column| {
                format!(
                    "translate({column}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', \
                     'abcdefghijklmnopqrstuvwxyz')"
                )
            }),
        };
        let q = |sql: &str| -> Cow<'static, str> {
            let mut sql = sql
                .replace("{FILTER}", ROLE_FILTER)
                .replace("{LIVE}", LIVE)
                .replace("{C}", collate);
            for column in ["slug", "name", "description"] {
                sql = sql.replace(&format!("{{LOWER:{column}}}"), &lower(column));
            }
            Cow::Owned(match dialect {
                Dialect::Sqlite => sql,
                Dialect::Postgres => numbered(&sql),
            })
        };
        Self {
            lock_tenant: q(
                "INSERT INTO portcullis_tenants (tenant, version) VALUES (?, 1) \
                ON CONFLICT (tenant) DO UPDATE SET version = portcullis_tenants.version + 1",
            ),
            tenant_version: q("SELECT version FROM portcullis_tenants WHERE tenant = ?"),
            snapshot: match dialect {
                Dialect::Sqlite => None,
                Dialect::Postgres => Some(q("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")),
            },
            insert_role: q("INSERT INTO portcullis_roles \
                (id, tenant, namespace, slug, name, description, parent, is_system, is_default, \
                 max_members, metadata, created_at, updated_at) \
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            role: q("SELECT * FROM portcullis_roles WHERE tenant = ? AND id = ?"),
            role_by_slug: q(
                "SELECT * FROM portcullis_roles WHERE tenant = ? AND namespace = ? AND slug = ?",
            ),
            edges: q(
                "SELECT slug, parent FROM portcullis_roles WHERE tenant = ? AND namespace = ?",
            ),
            update_role: q(
                "UPDATE portcullis_roles SET name = ?, description = ?, parent = ?, \
                is_default = ?, max_members = ?, metadata = ?, updated_at = ? \
                WHERE tenant = ? AND id = ?",
            ),
            has_children: q("SELECT COUNT(*) AS n FROM portcullis_roles \
                WHERE tenant = ? AND namespace = ? AND parent = ?"),
            delete_role: [
                q("DELETE FROM portcullis_role_grants WHERE role_id = ?"),
                q("DELETE FROM portcullis_assignments WHERE role_id = ?"),
                q("DELETE FROM portcullis_roles WHERE id = ?"),
            ],
            list_roles: q("SELECT * FROM portcullis_roles WHERE {FILTER} \
                ORDER BY namespace{C}, slug{C} LIMIT ? OFFSET ?"),
            count_roles: q("SELECT COUNT(*) AS n FROM portcullis_roles WHERE {FILTER}"),
            // One query answers both whether the role is the tenant's (no row) and its grants
            // (one row per grant, or one row of NULLs).
            role_grants: q("SELECT g.kind, g.grant_text FROM portcullis_roles r \
                LEFT JOIN portcullis_role_grants g ON g.role_id = r.id \
                WHERE r.tenant = ? AND r.id = ?"),
            attach_grant: q(
                "INSERT INTO portcullis_role_grants (role_id, kind, grant_text) \
                VALUES (?, ?, ?) ON CONFLICT (role_id, kind, grant_text) DO NOTHING",
            ),
            detach_grant: q("DELETE FROM portcullis_role_grants \
                WHERE role_id = ? AND kind = ? AND grant_text = ?"),
            clear_grants: q("DELETE FROM portcullis_role_grants WHERE role_id = ?"),
            child_roles: q("SELECT * FROM portcullis_roles \
                WHERE tenant = ? AND namespace = ? AND parent = ? ORDER BY slug{C}"),
            tenant_roles: q(
                "SELECT * FROM portcullis_roles WHERE tenant = ? ORDER BY namespace{C}, slug{C}",
            ),
            tenant_grants: q(
                "SELECT g.role_id, g.kind, g.grant_text FROM portcullis_role_grants g \
                JOIN portcullis_roles r ON r.id = g.role_id WHERE r.tenant = ?",
            ),
            delete_tenant: [
                q("DELETE FROM portcullis_role_grants \
                    WHERE role_id IN (SELECT id FROM portcullis_roles WHERE tenant = ?)"),
                q("DELETE FROM portcullis_assignments WHERE tenant = ?"),
                q("DELETE FROM portcullis_group_members WHERE tenant = ?"),
                q("DELETE FROM portcullis_tenant_subjects WHERE tenant = ?"),
                q("DELETE FROM portcullis_roles WHERE tenant = ?"),
            ],
            // How many subjects hold the role live, and whether this subject is one of them.
            room: q("SELECT \
                (SELECT COUNT(*) FROM (SELECT DISTINCT subject_kind, subject \
                    FROM portcullis_assignments WHERE role_id = ? AND {LIVE}) AS live) AS members, \
                (SELECT COUNT(*) FROM portcullis_assignments \
                    WHERE role_id = ? AND subject_kind = ? AND subject = ? AND {LIVE}) AS holding"),
            drop_expired_twin: q("DELETE FROM portcullis_assignments \
                WHERE role_id = ? AND subject_kind = ? AND subject = ? AND resource_type = ? \
                AND resource_id = ? AND expires_at IS NOT NULL AND expires_at <= ?"),
            insert_assignment: q("INSERT INTO portcullis_assignments \
                (id, tenant, role_id, subject_kind, subject, resource_type, resource_id, \
                 granted_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            insert_default_assignment: q("INSERT INTO portcullis_assignments \
                (id, tenant, role_id, subject_kind, subject, resource_type, resource_id, \
                 granted_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                ON CONFLICT (role_id, subject_kind, subject, resource_type, resource_id) \
                DO NOTHING"),
            unassign: q("DELETE FROM portcullis_assignments WHERE tenant = ? AND id = ?"),
            assignment: q("SELECT * FROM portcullis_assignments WHERE tenant = ? AND id = ?"),
            assignments: q("SELECT * FROM portcullis_assignments WHERE tenant = ? \
                AND (? IS NULL OR role_id = ?) \
                AND (? IS NULL OR (subject_kind = ? AND subject = ?)) \
                ORDER BY created_at, id{C} LIMIT ? OFFSET ?"),
            assignments_of: q("SELECT * FROM portcullis_assignments WHERE tenant = ? \
                AND ((subject_kind = 'user' AND subject = ?) \
                  OR (subject_kind = 'group' AND subject IN \
                      (SELECT group_id FROM portcullis_group_members \
                       WHERE tenant = ? AND subject = ?))) \
                ORDER BY created_at, id{C}"),
            // The ids arrive as one JSON array: one statement for any number of them.
            assignments_of_roles: match dialect {
                Dialect::Sqlite => q("SELECT * FROM portcullis_assignments WHERE tenant = ? \
                    AND role_id IN (SELECT value FROM json_each(?)) ORDER BY created_at, id"),
                Dialect::Postgres => q("SELECT * FROM portcullis_assignments WHERE tenant = ? \
                    AND role_id IN (SELECT jsonb_array_elements_text(CAST(? AS jsonb))) \
                    ORDER BY created_at, id{C}"),
            },
            add_member: q(
                "INSERT INTO portcullis_group_members (tenant, group_id, subject, added_at) \
                VALUES (?, ?, ?, ?) ON CONFLICT (tenant, group_id, subject) DO NOTHING",
            ),
            remove_member: q("DELETE FROM portcullis_group_members \
                WHERE tenant = ? AND group_id = ? AND subject = ?"),
            groups_of: q("SELECT group_id FROM portcullis_group_members \
                WHERE tenant = ? AND subject = ? ORDER BY group_id{C}"),
            members: q("SELECT subject FROM portcullis_group_members \
                WHERE tenant = ? AND group_id = ? ORDER BY subject{C}"),
            groups: q(&format!(
                "SELECT group_id, MIN(added_at) AS since FROM portcullis_group_members \
                WHERE tenant = ? GROUP BY group_id ORDER BY group_id{{C}} LIMIT {}",
                super::roles::MAX_GROUPS_LISTED
            )),
            seen: q("SELECT COUNT(*) AS n FROM portcullis_tenant_subjects \
                WHERE tenant = ? AND subject = ?"),
            insert_subject: q(
                "INSERT INTO portcullis_tenant_subjects (tenant, subject, first_seen_at) \
                VALUES (?, ?, ?) ON CONFLICT (tenant, subject) DO NOTHING",
            ),
            default_roles: q(
                "SELECT * FROM portcullis_roles WHERE tenant = ? AND is_default = TRUE \
                ORDER BY namespace{C}, slug{C}",
            ),
            register_action: q("INSERT INTO portcullis_actions \
                (service, action, description, registered_at, updated_at) VALUES (?, ?, ?, ?, ?) \
                ON CONFLICT (service, action) DO UPDATE SET updated_at = excluded.updated_at, \
                description = COALESCE(excluded.description, portcullis_actions.description)"),
            actions: q(
                "SELECT * FROM portcullis_actions WHERE (? IS NULL OR service = ?) \
                ORDER BY service{C}, action{C}",
            ),
        }
    }
}

/// `text` with LIKE's wildcards and its escape character escaped (for `ESCAPE '\'`), so that it
/// matches only itself.
pub(crate) fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A unique violation on a table with two unique keys: `named` when the violated key's name or
/// message mentions `needle`, else `otherwise`; any other error is
/// [`StoreError::Unavailable`].
pub(crate) fn keyed_conflict(
    error: sqlx::Error,
    needle: &str,
    named: &'static str,
    otherwise: &'static str,
) -> StoreError {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
    {
        let mentioned =
            db.constraint().is_some_and(|c| c.contains(needle)) || db.message().contains(needle);
        return StoreError::Conflict(if mentioned { named } else { otherwise });
    }
    unavailable(error)
}

/// What a [`RoleFilter`](super::RoleFilter) binds, in `ROLE_FILTER`'s order, computed once per
/// query.
pub(crate) struct FilterBinds {
    pub(crate) tenant: String,
    pub(crate) namespace: Option<String>,
    /// The prefix itself (`None` for no prefix, and for `""`, which matches everything).
    pub(crate) prefix: Option<String>,
    /// The prefix and a `/`: what a namespace strictly below it starts with.
    pub(crate) below: Option<String>,
    pub(crate) system: Option<bool>,
    pub(crate) default: Option<bool>,
    pub(crate) parent: Option<String>,
    /// `%needle%`, ASCII-lower-cased and LIKE-escaped.
    pub(crate) search: Option<String>,
}

impl FilterBinds {
    pub(crate) fn new(filter: &super::RoleFilter) -> Self {
        let prefix = filter
            .namespace_prefix
            .clone()
            .filter(|prefix| !prefix.is_empty());
        Self {
            tenant: filter.tenant.clone(),
            namespace: filter.namespace.clone(),
            below: prefix.as_ref().map(|prefix| format!("{prefix}/")),
            prefix,
            system: filter.system,
            default: filter.default,
            parent: filter.parent.clone(),
            search: filter
                .search
                .as_ref()
                .map(|needle| format!("%{}%", like_escaped(&needle.to_ascii_lowercase()))),
        }
    }
}

/// Implements [`RoleStore`](crate::store::RoleStore),
/// [`AssignmentStore`](crate::store::AssignmentStore) and
/// [`ActionStore`](crate::store::ActionStore) for `$store` (a struct with a `pool` field and a
/// `sql` `&'static Statements` field) over the sqlx database `$db`.
macro_rules! sql_role_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use sqlx::Row as _;

            use $crate::store::roles::{
                ASSIGNED_TWICE, DEFAULT_GRANTOR, NO_ASSIGNMENT, NO_ROLE, ROLE_CHANGED, ROLE_FULL,
                ROLE_HAS_CHILDREN, ROLE_SLUG_TAKEN, SYSTEM_ROLE, check_hierarchy, new_id,
            };
            use $crate::store::sql::{corrupt, found, unavailable};
            use $crate::store::sql_roles::{FilterBinds, RoleStatements, keyed_conflict};
            use $crate::store::{
                ActionRecord, ActionStore, AssignmentFilter, AssignmentRecord, AssignmentStore,
                Grant, RoleFilter, RoleRecord, RoleStore, StoreError, StoreResult, SubjectKind,
                TenantRoles,
            };

            type Row = <$db as sqlx::Database>::Row;
            type Connection = <$db as sqlx::Database>::Connection;
            type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;

            fn role_of(row: &Row) -> StoreResult<RoleRecord> {
                let metadata: String = row.try_get("metadata").map_err(unavailable)?;
                let max_members: Option<i64> = row.try_get("max_members").map_err(unavailable)?;
                Ok(RoleRecord {
                    id: row.try_get("id").map_err(unavailable)?,
                    tenant: row.try_get("tenant").map_err(unavailable)?,
                    namespace: row.try_get("namespace").map_err(unavailable)?,
                    slug: row.try_get("slug").map_err(unavailable)?,
                    name: row.try_get("name").map_err(unavailable)?,
                    description: row.try_get("description").map_err(unavailable)?,
                    parent: row.try_get("parent").map_err(unavailable)?,
                    is_system: row.try_get("is_system").map_err(unavailable)?,
                    is_default: row.try_get("is_default").map_err(unavailable)?,
                    max_members: max_members
                        .map(|n| u32::try_from(n).map_err(|_| corrupt("max_members")))
                        .transpose()?,
                    metadata: serde_json::from_str(&metadata)
                        .map_err(|_| corrupt("role metadata"))?,
                    created_at: row.try_get("created_at").map_err(unavailable)?,
                    updated_at: row.try_get("updated_at").map_err(unavailable)?,
                })
            }

            fn grant_of(row: &Row) -> StoreResult<Grant> {
                let kind: String = row.try_get("kind").map_err(unavailable)?;
                let text: String = row.try_get("grant_text").map_err(unavailable)?;
                Grant::from_parts(&kind, &text).ok_or_else(|| corrupt("grant"))
            }

            fn assignment_of(row: &Row) -> StoreResult<AssignmentRecord> {
                // '' stands for "none" in the resource columns, so that the unique key holds.
                let optional = |column: &str| -> StoreResult<Option<String>> {
                    let text: String = row.try_get(column).map_err(unavailable)?;
                    Ok(Some(text).filter(|text| !text.is_empty()))
                };
                let kind: String = row.try_get("subject_kind").map_err(unavailable)?;
                Ok(AssignmentRecord {
                    id: row.try_get("id").map_err(unavailable)?,
                    tenant: row.try_get("tenant").map_err(unavailable)?,
                    role_id: row.try_get("role_id").map_err(unavailable)?,
                    subject_kind: SubjectKind::parse(&kind)
                        .ok_or_else(|| corrupt("subject kind"))?,
                    subject: row.try_get("subject").map_err(unavailable)?,
                    resource_type: optional("resource_type")?,
                    resource_id: optional("resource_id")?,
                    granted_by: row.try_get("granted_by").map_err(unavailable)?,
                    created_at: row.try_get("created_at").map_err(unavailable)?,
                    expires_at: row.try_get("expires_at").map_err(unavailable)?,
                })
            }

            fn count_of(row: &Row) -> StoreResult<u64> {
                let n: i64 = row.try_get("n").map_err(unavailable)?;
                u64::try_from(n).map_err(|_| corrupt("count"))
            }

            fn bind_role_filter<'q>(query: Query<'q>, f: &FilterBinds) -> Query<'q> {
                query
                    .bind(f.tenant.clone())
                    .bind(f.namespace.clone())
                    .bind(f.namespace.clone())
                    .bind(f.prefix.clone())
                    .bind(f.prefix.clone())
                    .bind(f.below.clone())
                    .bind(f.below.clone())
                    .bind(f.system)
                    .bind(f.system)
                    .bind(f.default)
                    .bind(f.default)
                    .bind(f.parent.clone())
                    .bind(f.parent.clone())
                    .bind(f.search.clone())
                    .bind(f.search.clone())
                    .bind(f.search.clone())
                    .bind(f.search.clone())
            }

            /// The first statement of every write to `tenant`: see the module's documentation.
            async fn lock_tenant(
                sql: &RoleStatements,
                conn: &mut Connection,
                tenant: &str,
            ) -> StoreResult<()> {
                sqlx::query(&sql.lock_tenant)
                    .bind(tenant)
                    .execute(&mut *conn)
                    .await
                    .map_err(unavailable)?;
                Ok(())
            }

            async fn stored_role(
                sql: &RoleStatements,
                conn: &mut Connection,
                tenant: &str,
                id: &str,
            ) -> StoreResult<Option<RoleRecord>> {
                let row = sqlx::query(&sql.role)
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(unavailable)?;
                row.as_ref().map(role_of).transpose()
            }

            /// The tenant's role, if it may change: [`NO_ROLE`], [`SYSTEM_ROLE`].
            async fn changeable_role(
                sql: &RoleStatements,
                conn: &mut Connection,
                tenant: &str,
                id: &str,
            ) -> StoreResult<RoleRecord> {
                let role = stored_role(sql, conn, tenant, id)
                    .await?
                    .ok_or(StoreError::NotFound(NO_ROLE))?;
                if role.is_system {
                    return Err(StoreError::Conflict(SYSTEM_ROLE));
                }
                Ok(role)
            }

            /// (slug, parent) of every role of the tenant's namespace, as stored now.
            async fn edges(
                sql: &RoleStatements,
                conn: &mut Connection,
                tenant: &str,
                namespace: &str,
            ) -> StoreResult<Vec<(String, Option<String>)>> {
                let rows = sqlx::query(&sql.edges)
                    .bind(tenant)
                    .bind(namespace)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(unavailable)?;
                rows.iter()
                    .map(|row| {
                        Ok((
                            row.try_get("slug").map_err(unavailable)?,
                            row.try_get("parent").map_err(unavailable)?,
                        ))
                    })
                    .collect()
            }

            /// Whether `role` can take (kind, subject) at `now`: it has no limit, the subject
            /// holds it already (a second resource adds no member), or fewer subjects than the
            /// limit hold it live.
            async fn has_room(
                sql: &RoleStatements,
                conn: &mut Connection,
                role: &RoleRecord,
                kind: SubjectKind,
                subject: &str,
                now: i64,
            ) -> StoreResult<bool> {
                let Some(max) = role.max_members else {
                    return Ok(true);
                };
                let row = sqlx::query(&sql.room)
                    .bind(&role.id)
                    .bind(now)
                    .bind(&role.id)
                    .bind(kind.as_str())
                    .bind(subject)
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(unavailable)?;
                let members: i64 = row.try_get("members").map_err(unavailable)?;
                let holding: i64 = row.try_get("holding").map_err(unavailable)?;
                Ok(holding > 0 || members < i64::from(max))
            }

            /// Binds an assignment's columns in `insert_assignment`'s order.
            fn bind_assignment<'q>(query: Query<'q>, a: &AssignmentRecord) -> Query<'q> {
                query
                    .bind(a.id.clone())
                    .bind(a.tenant.clone())
                    .bind(a.role_id.clone())
                    .bind(a.subject_kind.as_str())
                    .bind(a.subject.clone())
                    .bind(a.resource_type.clone().unwrap_or_default())
                    .bind(a.resource_id.clone().unwrap_or_default())
                    .bind(a.granted_by.clone())
                    .bind(a.created_at)
                    .bind(a.expires_at)
            }

            async fn assignment_rows(
                query: Query<'_>,
                pool: &sqlx::Pool<$db>,
            ) -> StoreResult<Vec<AssignmentRecord>> {
                let rows = query.fetch_all(pool).await.map_err(unavailable)?;
                rows.iter().map(assignment_of).collect()
            }

            impl RoleStore for $store {
                async fn create_role(
                    &self,
                    role: &RoleRecord,
                    grants: &[Grant],
                ) -> StoreResult<()> {
                    let sql = &self.sql.roles;
                    let metadata = serde_json::to_string(&role.metadata)
                        .map_err(|_| corrupt("role metadata"))?;
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    lock_tenant(sql, &mut tx, &role.tenant).await?;
                    let edges = edges(sql, &mut tx, &role.tenant, &role.namespace).await?;
                    // Checked here, before the hierarchy: a taken slug among the edges would
                    // otherwise be judged as if this were an update of it.
                    if edges.iter().any(|(slug, _)| *slug == role.slug) {
                        return Err(StoreError::Conflict(ROLE_SLUG_TAKEN));
                    }
                    check_hierarchy(&edges, &role.slug, role.parent.as_deref())?;
                    sqlx::query(&sql.insert_role)
                        .bind(&role.id)
                        .bind(&role.tenant)
                        .bind(&role.namespace)
                        .bind(&role.slug)
                        .bind(&role.name)
                        .bind(&role.description)
                        .bind(&role.parent)
                        .bind(role.is_system)
                        .bind(role.is_default)
                        .bind(role.max_members.map(i64::from))
                        .bind(metadata)
                        .bind(role.created_at)
                        .bind(role.updated_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| keyed_conflict(e, "slug", ROLE_SLUG_TAKEN, "role id"))?;
                    // In the same transaction: a system role gets its grants now or never.
                    for grant in grants {
                        sqlx::query(&sql.attach_grant)
                            .bind(&role.id)
                            .bind(grant.kind())
                            .bind(grant.text())
                            .execute(&mut *tx)
                            .await
                            .map_err(unavailable)?;
                    }
                    tx.commit().await.map_err(unavailable)
                }

                async fn role(&self, tenant: &str, id: &str) -> StoreResult<Option<RoleRecord>> {
                    let row = sqlx::query(&self.sql.roles.role)
                        .bind(tenant)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    row.as_ref().map(role_of).transpose()
                }

                async fn role_by_slug(
                    &self,
                    tenant: &str,
                    namespace: &str,
                    slug: &str,
                ) -> StoreResult<Option<RoleRecord>> {
                    let row = sqlx::query(&self.sql.roles.role_by_slug)
                        .bind(tenant)
                        .bind(namespace)
                        .bind(slug)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    row.as_ref().map(role_of).transpose()
                }

                async fn update_role(
                    &self,
                    role: &RoleRecord,
                    expected: Option<&RoleRecord>,
                ) -> StoreResult<()> {
                    let sql = &self.sql.roles;
                    let metadata = serde_json::to_string(&role.metadata)
                        .map_err(|_| corrupt("role metadata"))?;
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    lock_tenant(sql, &mut tx, &role.tenant).await?;
                    // The stored role's namespace and slug, never the record's: they never change.
                    let stored = changeable_role(sql, &mut tx, &role.tenant, &role.id).await?;
                    if expected.is_some_and(|read| *read != stored) {
                        return Err(StoreError::Conflict(ROLE_CHANGED));
                    }
                    let edges = edges(sql, &mut tx, &stored.tenant, &stored.namespace).await?;
                    check_hierarchy(&edges, &stored.slug, role.parent.as_deref())?;
                    let done = sqlx::query(&sql.update_role)
                        .bind(&role.name)
                        .bind(&role.description)
                        .bind(&role.parent)
                        .bind(role.is_default)
                        .bind(role.max_members.map(i64::from))
                        .bind(metadata)
                        .bind(role.updated_at)
                        .bind(&role.tenant)
                        .bind(&role.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    found(done.rows_affected(), NO_ROLE)?;
                    tx.commit().await.map_err(unavailable)
                }

                async fn delete_role(&self, tenant: &str, id: &str) -> StoreResult<()> {
                    let sql = &self.sql.roles;
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    lock_tenant(sql, &mut tx, tenant).await?;
                    let role = changeable_role(sql, &mut tx, tenant, id).await?;
                    let children = sqlx::query(&sql.has_children)
                        .bind(tenant)
                        .bind(&role.namespace)
                        .bind(&role.slug)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    if count_of(&children)? > 0 {
                        return Err(StoreError::Conflict(ROLE_HAS_CHILDREN));
                    }
                    for statement in &sql.delete_role {
                        sqlx::query(statement)
                            .bind(id)
                            .execute(&mut *tx)
                            .await
                            .map_err(unavailable)?;
                    }
                    tx.commit().await.map_err(unavailable)
                }

                async fn list_roles(&self, filter: &RoleFilter) -> StoreResult<Vec<RoleRecord>> {
                    let binds = FilterBinds::new(filter);
                    let rows = bind_role_filter(sqlx::query(&self.sql.roles.list_roles), &binds)
                        .bind(i64::from(filter.limit))
                        .bind(i64::from(filter.offset))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    rows.iter().map(role_of).collect()
                }

                async fn count_roles(&self, filter: &RoleFilter) -> StoreResult<u64> {
                    let binds = FilterBinds::new(filter);
                    let row = bind_role_filter(sqlx::query(&self.sql.roles.count_roles), &binds)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    count_of(&row)
                }

                async fn role_grants(&self, tenant: &str, id: &str) -> StoreResult<Vec<Grant>> {
                    let rows = sqlx::query(&self.sql.roles.role_grants)
                        .bind(tenant)
                        .bind(id)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    if rows.is_empty() {
                        return Err(StoreError::NotFound(NO_ROLE));
                    }
                    let mut grants = Vec::with_capacity(rows.len());
                    for row in &rows {
                        // The left join's row of NULLs: a role without grants.
                        let kind: Option<String> = row.try_get("kind").map_err(unavailable)?;
                        if kind.is_some() {
                            grants.push(grant_of(row)?);
                        }
                    }
                    grants.sort();
                    Ok(grants)
                }

                async fn attach_grant(
                    &self,
                    tenant: &str,
                    id: &str,
                    grant: &Grant,
                ) -> StoreResult<()> {
                    let sql = &self.sql.roles;
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    lock_tenant(sql, &mut tx, tenant).await?;
                    changeable_role(sql, &mut tx, tenant, id).await?;
                    sqlx::query(&sql.attach_grant)
                        .bind(id)
                        .bind(grant.kind())
                        .bind(grant.text())
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    tx.commit().await.map_err(unavailable)
                }

                async fn detach_grant(
                    &self,
                    tenant: &str,
                    id: &str,
                    grant: &Grant,
                ) -> StoreResult<()> {
                    let sql = &self.sql.roles;
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    lock_tenant(sql, &mut tx, tenant).await?;
                    changeable_role(sql, &mut tx, tenant, id).await?;
                    sqlx::query(&sql.detach_grant)
                        .bind(id)
                        .bind(grant.kind())
                        .bind(grant.text())
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    tx.commit().await.map_err(unavailable)
                }

                async fn set_grants(
                    &self,
                    tenant: &str,
                    id: &str,
                    grants: &[Grant],
                ) -> StoreResult<()> {
                    let sql = &self.sql.roles;
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    lock_tenant(sql, &mut tx, tenant).await?;
                    changeable_role(sql, &mut tx, tenant, id).await?;
                    sqlx::query(&sql.clear_grants)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    // Attach's insert ignores a grant listed twice.
                    for grant in grants {
                        sqlx::query(&sql.attach_grant)
                            .bind(id)
                            .bind(grant.kind())
                            .bind(grant.text())
                            .execute(&mut *tx)
                            .await
                            .map_err(unavailable)?;
                    }
                    tx.commit().await.map_err(unavailable)
                }

                async fn child_roles(
                    &self,
                    tenant: &str,
                    namespace: &str,
                    parent_slug: &str,
                ) -> StoreResult<Vec<RoleRecord>> {
                    let rows = sqlx::query(&self.sql.roles.child_roles)
                        .bind(tenant)
                        .bind(namespace)
                        .bind(parent_slug)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    rows.iter().map(role_of).collect()
                }

                async fn tenant_roles(&self, tenant: &str) -> StoreResult<TenantRoles> {
                    let sql = &self.sql.roles;
                    // Both queries in one snapshot, so no grant names a role the list lacks.
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    if let Some(snapshot) = &sql.snapshot {
                        sqlx::query(snapshot)
                            .execute(&mut *tx)
                            .await
                            .map_err(unavailable)?;
                    }
                    let roles = sqlx::query(&sql.tenant_roles)
                        .bind(tenant)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    let grants = sqlx::query(&sql.tenant_grants)
                        .bind(tenant)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    tx.commit().await.map_err(unavailable)?;
                    let roles = roles.iter().map(role_of).collect::<StoreResult<Vec<_>>>()?;
                    let mut grants = grants
                        .iter()
                        .map(|row| {
                            let id: String = row.try_get("role_id").map_err(unavailable)?;
                            Ok((id, grant_of(row)?))
                        })
                        .collect::<StoreResult<Vec<_>>>()?;
                    grants.sort();
                    Ok(TenantRoles { roles, grants })
                }

                async fn delete_tenant(&self, tenant: &str) -> StoreResult<u64> {
                    let sql = &self.sql.roles;
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    // The tenant's row stays (bumped): a version never goes back, so a cache
                    // keyed by it cannot mistake a re-created tenant for the old one.
                    lock_tenant(sql, &mut tx, tenant).await?;
                    let mut deleted = 0;
                    for statement in &sql.delete_tenant {
                        deleted = sqlx::query(statement)
                            .bind(tenant)
                            .execute(&mut *tx)
                            .await
                            .map_err(unavailable)?
                            .rows_affected();
                    }
                    tx.commit().await.map_err(unavailable)?;
                    Ok(deleted)
                }

                async fn tenant_version(&self, tenant: &str) -> StoreResult<u64> {
                    let row = sqlx::query(&self.sql.roles.tenant_version)
                        .bind(tenant)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    let Some(row) = row else { return Ok(0) };
                    let version: i64 = row.try_get("version").map_err(unavailable)?;
                    u64::try_from(version).map_err(|_| corrupt("tenant version"))
                }
            }

            impl AssignmentStore for $store {
                async fn assign(&self, assignment: &AssignmentRecord, now: i64) -> StoreResult<()> {
                    let sql = &self.sql.roles;
                    let a = assignment;
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    lock_tenant(sql, &mut tx, &a.tenant).await?;
                    let role = stored_role(sql, &mut tx, &a.tenant, &a.role_id)
                        .await?
                        .ok_or(StoreError::NotFound(NO_ROLE))?;
                    // An expired assignment of the same key never grants again: renewing the
                    // role replaces it rather than being refused as a duplicate.
                    sqlx::query(&sql.drop_expired_twin)
                        .bind(&a.role_id)
                        .bind(a.subject_kind.as_str())
                        .bind(&a.subject)
                        .bind(a.resource_type.clone().unwrap_or_default())
                        .bind(a.resource_id.clone().unwrap_or_default())
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    if !has_room(sql, &mut tx, &role, a.subject_kind, &a.subject, now).await? {
                        return Err(StoreError::Conflict(ROLE_FULL));
                    }
                    bind_assignment(sqlx::query(&sql.insert_assignment), a)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| {
                            keyed_conflict(e, "subject", ASSIGNED_TWICE, "assignment id")
                        })?;
                    tx.commit().await.map_err(unavailable)
                }

                async fn unassign(&self, tenant: &str, id: &str) -> StoreResult<()> {
                    let sql = &self.sql.roles;
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    lock_tenant(sql, &mut tx, tenant).await?;
                    let done = sqlx::query(&sql.unassign)
                        .bind(tenant)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    found(done.rows_affected(), NO_ASSIGNMENT)?;
                    tx.commit().await.map_err(unavailable)
                }

                async fn assignment(
                    &self,
                    tenant: &str,
                    id: &str,
                ) -> StoreResult<Option<AssignmentRecord>> {
                    let row = sqlx::query(&self.sql.roles.assignment)
                        .bind(tenant)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    row.as_ref().map(assignment_of).transpose()
                }

                async fn assignments(
                    &self,
                    filter: &AssignmentFilter,
                ) -> StoreResult<Vec<AssignmentRecord>> {
                    let kind = filter.subject.as_ref().map(|(kind, _)| kind.as_str());
                    let subject = filter.subject.as_ref().map(|(_, subject)| subject.as_str());
                    let query = sqlx::query(&self.sql.roles.assignments)
                        .bind(&filter.tenant)
                        .bind(&filter.role_id)
                        .bind(&filter.role_id)
                        .bind(kind)
                        .bind(kind)
                        .bind(subject)
                        .bind(i64::from(filter.limit))
                        .bind(i64::from(filter.offset));
                    assignment_rows(query, &self.pool).await
                }

                async fn assignments_of(
                    &self,
                    tenant: &str,
                    user: &str,
                ) -> StoreResult<Vec<AssignmentRecord>> {
                    let query = sqlx::query(&self.sql.roles.assignments_of)
                        .bind(tenant)
                        .bind(user)
                        .bind(tenant)
                        .bind(user);
                    assignment_rows(query, &self.pool).await
                }

                async fn assignments_of_roles(
                    &self,
                    tenant: &str,
                    role_ids: &[String],
                ) -> StoreResult<Vec<AssignmentRecord>> {
                    if role_ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let ids = serde_json::to_string(role_ids).map_err(|_| corrupt("role ids"))?;
                    let query = sqlx::query(&self.sql.roles.assignments_of_roles)
                        .bind(tenant)
                        .bind(ids);
                    assignment_rows(query, &self.pool).await
                }

                async fn add_member(
                    &self,
                    tenant: &str,
                    group: &str,
                    subject: &str,
                    at: i64,
                ) -> StoreResult<()> {
                    let sql = &self.sql.roles;
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    lock_tenant(sql, &mut tx, tenant).await?;
                    sqlx::query(&sql.add_member)
                        .bind(tenant)
                        .bind(group)
                        .bind(subject)
                        .bind(at)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    tx.commit().await.map_err(unavailable)
                }

                async fn remove_member(
                    &self,
                    tenant: &str,
                    group: &str,
                    subject: &str,
                ) -> StoreResult<()> {
                    let sql = &self.sql.roles;
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    lock_tenant(sql, &mut tx, tenant).await?;
                    sqlx::query(&sql.remove_member)
                        .bind(tenant)
                        .bind(group)
                        .bind(subject)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    tx.commit().await.map_err(unavailable)
                }

                async fn groups_of(&self, tenant: &str, subject: &str) -> StoreResult<Vec<String>> {
                    let rows = sqlx::query(&self.sql.roles.groups_of)
                        .bind(tenant)
                        .bind(subject)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    rows.iter()
                        .map(|row| row.try_get("group_id").map_err(unavailable))
                        .collect()
                }

                async fn members(&self, tenant: &str, group: &str) -> StoreResult<Vec<String>> {
                    let rows = sqlx::query(&self.sql.roles.members)
                        .bind(tenant)
                        .bind(group)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    rows.iter()
                        .map(|row| row.try_get("subject").map_err(unavailable))
                        .collect()
                }

                async fn groups(&self, tenant: &str) -> StoreResult<Vec<(String, i64)>> {
                    let rows = sqlx::query(&self.sql.roles.groups)
                        .bind(tenant)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    rows.iter()
                        .map(|row| {
                            Ok((
                                row.try_get("group_id").map_err(unavailable)?,
                                row.try_get("since").map_err(unavailable)?,
                            ))
                        })
                        .collect()
                }

                async fn first_sight(
                    &self,
                    tenant: &str,
                    user: &str,
                    now: i64,
                ) -> StoreResult<Vec<AssignmentRecord>> {
                    let sql = &self.sql.roles;
                    // Every request may ask; a subject seen before is answered without taking
                    // the tenant's lock (a subject's row is only ever added, or removed with
                    // the whole tenant, so "seen" read here stays true or the tenant is gone).
                    let seen = sqlx::query(&sql.seen)
                        .bind(tenant)
                        .bind(user)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    if count_of(&seen)? > 0 {
                        return Ok(Vec::new());
                    }
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    lock_tenant(sql, &mut tx, tenant).await?;
                    let inserted = sqlx::query(&sql.insert_subject)
                        .bind(tenant)
                        .bind(user)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?
                        .rows_affected();
                    if inserted == 0 {
                        // Another call won the race: nothing changes, not even the version.
                        tx.rollback().await.map_err(unavailable)?;
                        return Ok(Vec::new());
                    }
                    let defaults = sqlx::query(&sql.default_roles)
                        .bind(tenant)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    let mut made = Vec::new();
                    for row in &defaults {
                        let role = role_of(row)?;
                        if !has_room(sql, &mut tx, &role, SubjectKind::User, user, now).await? {
                            continue; // a full default role is left out
                        }
                        let assignment = AssignmentRecord {
                            id: new_id("asg")?,
                            tenant: tenant.to_owned(),
                            role_id: role.id,
                            subject_kind: SubjectKind::User,
                            subject: user.to_owned(),
                            resource_type: None,
                            resource_id: None,
                            granted_by: DEFAULT_GRANTOR.to_owned(),
                            created_at: now,
                            expires_at: None,
                        };
                        // A role assigned to the user before it was first seen is kept as it
                        // is (the insert skips it).
                        let done = bind_assignment(
                            sqlx::query(&sql.insert_default_assignment),
                            &assignment,
                        )
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| {
                            keyed_conflict(e, "subject", ASSIGNED_TWICE, "assignment id")
                        })?;
                        if done.rows_affected() > 0 {
                            made.push(assignment);
                        }
                    }
                    tx.commit().await.map_err(unavailable)?;
                    Ok(made)
                }
            }

            impl ActionStore for $store {
                async fn register_actions(
                    &self,
                    service: &str,
                    actions: &[(String, Option<String>)],
                    at: i64,
                ) -> StoreResult<()> {
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    for (action, description) in actions {
                        sqlx::query(&self.sql.roles.register_action)
                            .bind(service)
                            .bind(action)
                            .bind(description)
                            .bind(at)
                            .bind(at)
                            .execute(&mut *tx)
                            .await
                            .map_err(unavailable)?;
                    }
                    tx.commit().await.map_err(unavailable)
                }

                async fn actions(&self, service: Option<&str>) -> StoreResult<Vec<ActionRecord>> {
                    let rows = sqlx::query(&self.sql.roles.actions)
                        .bind(service)
                        .bind(service)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    rows.iter()
                        .map(|row| {
                            Ok(ActionRecord {
                                service: row.try_get("service").map_err(unavailable)?,
                                action: row.try_get("action").map_err(unavailable)?,
                                description: row.try_get("description").map_err(unavailable)?,
                                registered_at: row.try_get("registered_at").map_err(unavailable)?,
                                updated_at: row.try_get("updated_at").map_err(unavailable)?,
                            })
                        })
                        .collect()
                }
            }
        };
    };
}

pub(crate) use sql_role_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_escaped("a_b%c\\d"), "a\\_b\\%c\\\\d");
        assert_eq!(like_escaped("plain"), "plain");
    }

    #[test]
    fn statements_are_in_each_dialect() {
        let pg = RoleStatements::new(Dialect::Postgres);
        assert!(!pg.list_roles.contains('?') && pg.list_roles.contains("$19"));
        assert!(pg.list_roles.contains("translate(slug,") && pg.list_roles.contains("COLLATE"));
        let lite = RoleStatements::new(Dialect::Sqlite);
        assert!(lite.list_roles.contains("lower(slug)") && !lite.list_roles.contains("COLLATE"));
        assert!(
            !lite.list_roles.contains("{"),
            "every template marker replaced"
        );
        assert!(!pg.room.contains("{") && pg.room.contains("$6"));
    }

    #[test]
    fn an_empty_prefix_filters_nothing() {
        let binds = FilterBinds::new(&super::super::RoleFilter {
            namespace_prefix: Some(String::new()),
            search: Some("A_b".into()),
            ..super::super::RoleFilter::tenant("acme", 5)
        });
        assert_eq!((binds.prefix, binds.below), (None, None));
        assert_eq!(binds.search.as_deref(), Some("%a\\_b%"));
    }
}
