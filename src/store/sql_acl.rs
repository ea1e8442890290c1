//! Entity permissions on the SQL backends: their statements (written once with `?`, numbered
//! for PostgreSQL) and one implementation of [`EntityStore`](super::EntityStore), instantiated
//! per backend by `sql_acl_store!`.
//!
//! Every write is one transaction that first upserts the resource's tenant's row in
//! `portcullis_acl_tenants` (a table of its own: `portcullis_tenants`' version drives the role
//! caches, which a share must not flush). On PostgreSQL that row lock serialises the tenant's
//! writers; on SQLite that first write takes the database's write lock before anything is read.
//! Only then are the folder chain, the height below a resource or the existing owner read, the
//! rule checked and the change written: two opposite moves can never build a cycle between them.
//! Folders are always of their resource's tenant, so one tenant's lock covers every row a rule
//! reads.

use std::borrow::Cow;

use super::acl::{
    Access, FOLDER_CYCLE, FOLDER_OTHER_TENANT, FOLDER_TOO_DEEP, MAX_FOLDER_DEPTH, NO_FOLDER,
    ResourceKey,
};
use super::sql::{Dialect, numbered};
use super::{StoreError, StoreResult};

/// The entity permission store's statements, in one backend's dialect.
pub(crate) struct AclStatements {
    /// Takes the tenant's lock row (creating it) and bumps its version: the first statement of
    /// every write.
    pub(crate) lock_tenant: Cow<'static, str>,
    pub(crate) resource: Cow<'static, str>,
    pub(crate) insert_resource: Cow<'static, str>,
    pub(crate) children: Cow<'static, str>,
    /// Run in order: the resource's shares, then the resource (foreign keys may be off, and
    /// there are none to cascade anyway).
    pub(crate) delete_resource: [Cow<'static, str>; 2],
    pub(crate) set_visibility: Cow<'static, str>,
    pub(crate) set_parent: Cow<'static, str>,
    /// A resource and the folders above it, nearest first, with their tenants.
    pub(crate) ancestry: Cow<'static, str>,
    /// How many levels lie below a resource.
    pub(crate) height: Cow<'static, str>,
    pub(crate) share: Cow<'static, str>,
    pub(crate) unshare: Cow<'static, str>,
    /// How many shares the resource has besides the one to the bound grantee.
    pub(crate) other_shares: Cow<'static, str>,
    pub(crate) shares: Cow<'static, str>,
    pub(crate) lineage: Cow<'static, str>,
    /// Many resources' lineages with the subject's shares, groups and membership: see
    /// [`FACTS`].
    pub(crate) facts: Cow<'static, str>,
    /// The first page of the accessible set; `accessible_after`, a page after a cursor (two
    /// statements, so each plan reads the index from where its page starts).
    pub(crate) accessible: Cow<'static, str>,
    pub(crate) accessible_after: Cow<'static, str>,
}

/// A resource's key (and a share's resource), as bound: service, kind, id.
const KEY: &str = "service = ? AND kind = ? AND resource_id = ?";

/// A resource's columns, in `insert_resource`'s order.
const COLUMNS: &str = "service, kind, resource_id, tenant, owner, visibility, \
    parent_service, parent_kind, parent_id, created_at";

/// The resource keyed by the three bound values and the folders above it, with `depth` (0 for
/// the resource). Bounded like the memory store's walk (the resource and at most
/// `MAX_FOLDER_DEPTH + 1` folders), so even a chain written around the checks ends.
const CHAIN: &str = "WITH RECURSIVE chain (service, kind, resource_id, tenant, owner, \
    visibility, parent_service, parent_kind, parent_id, created_at, depth) AS ( \
    SELECT {COLUMNS}, CAST(0 AS BIGINT) FROM portcullis_resources \
        WHERE service = ? AND kind = ? AND resource_id = ? \
    UNION ALL \
    SELECT p.service, p.kind, p.resource_id, p.tenant, p.owner, p.visibility, \
        p.parent_service, p.parent_kind, p.parent_id, p.created_at, c.depth + 1 \
        FROM chain c JOIN portcullis_resources p ON p.service = c.parent_service \
        AND p.kind = c.parent_kind AND p.resource_id = c.parent_id \
        WHERE c.depth < {BOUND})";

/// What evaluating one subject's access to many resources needs, in one statement (a batch check
/// is one round trip): the keys arrive as one JSON array of `[service, kind, id]` (`{KEYS}` turns
/// it into rows with their position), each resource's chain as [`CHAIN`] walks it, the
/// subject's groups in each resource's tenant (`mine`), and on each chain's first row the
/// groups (a JSON array), the count of live assignments to the user there and the first of
/// their expiries. Binds: the keys, the subject, then (subject, now) twice, then the subject.
const FACTS: &str = "WITH RECURSIVE wanted (ord, service, kind, resource_id) AS ({KEYS}), \
    chain (ord, service, kind, resource_id, tenant, owner, visibility, parent_service, \
        parent_kind, parent_id, created_at, depth) AS ( \
    SELECT w.ord, r.service, r.kind, r.resource_id, r.tenant, r.owner, r.visibility, \
        r.parent_service, r.parent_kind, r.parent_id, r.created_at, CAST(0 AS BIGINT) \
        FROM wanted w JOIN portcullis_resources r ON r.service = w.service \
        AND r.kind = w.kind AND r.resource_id = w.resource_id \
    UNION ALL \
    SELECT c.ord, p.service, p.kind, p.resource_id, p.tenant, p.owner, p.visibility, \
        p.parent_service, p.parent_kind, p.parent_id, p.created_at, c.depth + 1 \
        FROM chain c JOIN portcullis_resources p ON p.service = c.parent_service \
        AND p.kind = c.parent_kind AND p.resource_id = c.parent_id \
        WHERE c.depth < {BOUND}), \
    mine (tenant, group_id) AS (SELECT DISTINCT c.tenant, g.group_id FROM chain c \
        JOIN portcullis_group_members g ON g.tenant = c.tenant AND g.subject = ? \
        WHERE c.depth = 0) \
    SELECT c.*, \
        CASE WHEN c.depth = 0 THEN (SELECT {AGG} FROM mine m WHERE m.tenant = c.tenant) \
            END AS groups, \
        CASE WHEN c.depth = 0 THEN (SELECT COUNT(*) FROM portcullis_assignments a \
            WHERE a.tenant = c.tenant AND a.subject_kind = 'user' AND a.subject = ? \
            AND (a.expires_at IS NULL OR a.expires_at > ?)) END AS live, \
        CASE WHEN c.depth = 0 THEN (SELECT MIN(a.expires_at) FROM portcullis_assignments a \
            WHERE a.tenant = c.tenant AND a.subject_kind = 'user' AND a.subject = ? \
            AND (a.expires_at IS NULL OR a.expires_at > ?)) END AS live_until, \
        s.grantee_kind, s.grantee, s.access, s.granted_by, s.granted_at \
    FROM chain c LEFT JOIN portcullis_shares s ON s.service = c.service \
        AND s.kind = c.kind AND s.resource_id = c.resource_id \
        AND ((s.grantee_kind = 'user' AND s.grantee = ?) OR (s.grantee_kind = 'group' \
            AND s.grantee IN (SELECT m.group_id FROM mine m WHERE m.tenant = c.tenant))) \
    ORDER BY c.ord, c.depth, {SHARE_ORDER}";

/// A share's grantee is the bound subject (a user) or one of the bound groups (`{IN}`).
const NAMES_SUBJECT: &str = "((s.grantee_kind = 'user' AND s.grantee = ?) \
    OR (s.grantee_kind = 'group' AND s.grantee IN ({IN})))";

/// The same for `accessible` and the filter, where a share to the user counts only while the
/// user is a member of the tenant (the first bind; the evaluation's rule): a member who leaves
/// keeps no direct share, as they keep no group. The groups are a bound list (`{ANY}`).
const SHARED_WITH: &str = "((? AND s.grantee_kind = 'user' AND s.grantee = ?) \
    OR (s.grantee_kind = 'group' AND s.grantee {ANY}))";

/// Users before groups (as [`SubjectKind`](super::SubjectKind) orders), then by grantee.
const SHARE_ORDER: &str = "CASE s.grantee_kind WHEN 'user' THEN 0 ELSE 1 END, s.grantee{C}";

impl AclStatements {
    pub(crate) fn new(dialect: Dialect) -> Self {
        // Orderings must agree byte for byte with the memory store's (Rust's `Ord` on
        // strings): PostgreSQL's would follow the database's locale. SQLite's BINARY already
        // does. A list of values arrives as one JSON array: one statement for any number.
        let (collate, list) = match dialect {
            Dialect::Sqlite => ("", "SELECT value FROM json_each(?)"),
            Dialect::Postgres => (
                " COLLATE \"C\"",
                "SELECT jsonb_array_elements_text(CAST(? AS jsonb))",
            ),
        };
        // Keys as rows with their position, and a set of texts as one JSON array.
        let (keys, aggregate) = match dialect {
            Dialect::Sqlite => (
                "SELECT CAST(key AS BIGINT), json_extract(value, '$[0]'), \
                json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?)",
                "json_group_array(m.group_id)",
            ),
            Dialect::Postgres => (
                "SELECT CAST(t.ord AS BIGINT) - 1, t.e ->> 0, t.e ->> 1, t.e ->> 2 \
                FROM jsonb_array_elements(CAST(? AS jsonb)) WITH ORDINALITY AS t (e, ord)",
                "CAST(json_agg(m.group_id) AS TEXT)",
            ),
        };
        let bound = (MAX_FOLDER_DEPTH + 1).to_string();
        let reach = reach_sql(dialect, "portcullis_resources", "portcullis_shares");
        let accessible = |after: &str| {
            format!(
                "SELECT r.resource_id FROM portcullis_resources r {parent} \
                WHERE r.tenant = ? AND r.service = ? AND r.kind = ? {after} \
                AND (r.owner = ? OR {gives} OR f.resource_id IS NOT NULL) \
                ORDER BY r.resource_id{{C}} LIMIT ?",
                parent = reach.parent,
                gives = reach.gives,
            )
        };
        let q = |sql: &str| -> Cow<'static, str> {
            let sql = sql
                .replace("{CHAIN}", CHAIN)
                .replace("{NAMES_SUBJECT}", NAMES_SUBJECT)
                .replace("{SHARED_WITH}", SHARED_WITH)
                .replace("{FACTS}", FACTS)
                .replace("{SHARE_ORDER}", SHARE_ORDER)
                .replace("{KEYS}", keys)
                .replace("{AGG}", aggregate)
                .replace("{COLUMNS}", COLUMNS)
                .replace("{BOUND}", &bound)
                .replace("{IN}", list)
                .replace("{C}", collate);
            Cow::Owned(match dialect {
                Dialect::Sqlite => sql,
                Dialect::Postgres => numbered(&sql),
            })
        };
        let keyed = |sql: &str| q(&sql.replace("{KEY}", KEY));
        Self {
            lock_tenant: q(
                "INSERT INTO portcullis_acl_tenants (tenant, version) VALUES (?, 1) \
                ON CONFLICT (tenant) DO UPDATE SET version = portcullis_acl_tenants.version + 1",
            ),
            resource: keyed("SELECT {COLUMNS} FROM portcullis_resources WHERE {KEY}"),
            insert_resource: q("INSERT INTO portcullis_resources ({COLUMNS}) \
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            children: q("SELECT COUNT(*) AS n FROM portcullis_resources \
                WHERE parent_service = ? AND parent_kind = ? AND parent_id = ?"),
            delete_resource: [
                keyed("DELETE FROM portcullis_shares WHERE {KEY}"),
                keyed("DELETE FROM portcullis_resources WHERE {KEY}"),
            ],
            set_visibility: keyed(
                "UPDATE portcullis_resources SET visibility = ? WHERE {KEY} RETURNING {COLUMNS}",
            ),
            set_parent: keyed(
                "UPDATE portcullis_resources SET parent_service = ?, parent_kind = ?, \
                parent_id = ? WHERE {KEY} RETURNING {COLUMNS}",
            ),
            ancestry: q(
                "{CHAIN} SELECT service, kind, resource_id, tenant FROM chain \
                ORDER BY depth",
            ),
            height: q(
                "WITH RECURSIVE below (service, kind, resource_id, depth) AS ( \
                SELECT service, kind, resource_id, CAST(1 AS BIGINT) FROM portcullis_resources \
                    WHERE parent_service = ? AND parent_kind = ? AND parent_id = ? \
                UNION ALL \
                SELECT c.service, c.kind, c.resource_id, b.depth + 1 \
                    FROM below b JOIN portcullis_resources c ON c.parent_service = b.service \
                    AND c.parent_kind = b.kind AND c.parent_id = b.resource_id \
                    WHERE b.depth < {BOUND}) \
                SELECT COALESCE(MAX(depth), 0) AS n FROM below",
            ),
            share: q(
                "INSERT INTO portcullis_shares (service, kind, resource_id, grantee_kind, \
                grantee, access, granted_by, granted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                ON CONFLICT (service, kind, resource_id, grantee_kind, grantee) DO UPDATE SET \
                access = excluded.access, granted_by = excluded.granted_by, \
                granted_at = excluded.granted_at",
            ),
            unshare: keyed(
                "DELETE FROM portcullis_shares WHERE {KEY} AND grantee_kind = ? AND grantee = ?",
            ),
            other_shares: keyed(
                "SELECT COUNT(*) AS n FROM portcullis_shares WHERE {KEY} \
                AND NOT (grantee_kind = ? AND grantee = ?)",
            ),
            shares: q("SELECT s.* FROM portcullis_shares s \
                WHERE s.service = ? AND s.kind = ? AND s.resource_id = ? ORDER BY {SHARE_ORDER}"),
            // One round trip: the chain, each level left-joined with its shares to the subject.
            lineage: q(
                "{CHAIN} SELECT c.*, s.grantee_kind, s.grantee, s.access, s.granted_by, \
                s.granted_at FROM chain c LEFT JOIN portcullis_shares s \
                ON s.service = c.service AND s.kind = c.kind AND s.resource_id = c.resource_id \
                AND {NAMES_SUBJECT} ORDER BY c.depth, {SHARE_ORDER}",
            ),
            facts: q("{FACTS}"),
            // In id order from the cursor, each resource judged by itself and its folders
            // (see `reach_sql`): a page reads about `limit` ÷ the share of reachable resources
            // rows, however many resources the tenant has.
            accessible: q(&accessible("")),
            accessible_after: q(&accessible("AND r.resource_id{C} > ?")),
        }
    }
}

/// The checks for putting a resource of `tenant` with `height` levels below it into the folder
/// whose `chain` (the folder and those above it, nearest first, with their tenants) is given;
/// `moving` is the resource when it exists already. In the memory store's order: [`NO_FOLDER`],
/// [`FOLDER_CYCLE`], [`FOLDER_OTHER_TENANT`], [`FOLDER_TOO_DEEP`].
pub(crate) fn check_folder(
    chain: &[(ResourceKey, String)],
    moving: Option<&ResourceKey>,
    tenant: &str,
    height: usize,
) -> StoreResult<()> {
    let Some((_, folder_tenant)) = chain.first() else {
        return Err(StoreError::NotFound(NO_FOLDER));
    };
    if moving.is_some_and(|key| chain.iter().any(|(level, _)| level == key)) {
        return Err(StoreError::Conflict(FOLDER_CYCLE));
    }
    if folder_tenant != tenant {
        return Err(StoreError::Conflict(FOLDER_OTHER_TENANT));
    }
    // The folder and every one above it, plus the resource's own levels below.
    if chain.len() + height > MAX_FOLDER_DEPTH {
        return Err(StoreError::Conflict(FOLDER_TOO_DEEP));
    }
    Ok(())
}

/// What an [`AccessibleQuery`](super::AccessibleQuery) binds beyond its plain fields: whether
/// `public` and `tenant` visibility give the wanted access, and the share levels that cover it
/// (a JSON array).
pub(crate) struct AccessBinds {
    pub(crate) public_gives: bool,
    pub(crate) tenant_gives: bool,
    pub(crate) covering: String,
}

impl AccessBinds {
    pub(crate) fn new(query: &super::AccessibleQuery<'_>) -> StoreResult<Self> {
        // As the memory store: `public` gives view; `tenant` gives a member view, and an
        // editor edit too.
        let tenant_level = if query.editor {
            Access::Edit
        } else {
            Access::View
        };
        let covering: Vec<&str> = [Access::View, Access::Edit]
            .into_iter()
            .filter(|held| held.covers(query.access))
            .map(Access::as_str)
            .collect();
        Ok(Self {
            public_gives: Access::View.covers(query.access),
            tenant_gives: query.member && tenant_level.covers(query.access),
            covering: json_list(&covering)?,
        })
    }
}

/// A value bound into an [`AccessFilter`](super::AccessFilter)'s SQL, or the `accessible`
/// statement's.
pub(crate) enum FilterBind {
    Text(String),
    Flag(bool),
    Int(i64),
}

/// The SQL that decides, row by row, whether a resource `r` is reachable: `parent` joins `f`,
/// the resource's folder when that folder or one above it gives the access
/// (`f.resource_id IS NOT NULL`), and `gives` is whether `r` gives it by itself. A resource is
/// reachable when its subject owns it, it gives the access, or `f` is there: what the memory
/// store's walk decides, level by level up to `MAX_FOLDER_DEPTH + 1` folders.
///
/// Judging each row (rather than working out the whole accessible set first) lets a query in
/// id order stop after its page. On PostgreSQL the folder is a `LATERAL` subquery keyed by
/// the parent's key alone, which the planner memoises: resources of one folder ask about it
/// once per query. SQLite has no `LATERAL`: a plain left join with the same conditions.
///
/// Binds, in order: `parent`'s ([`reach_binds`] twice: the folder, then those above it), then
/// `gives`' ([`own_binds`]).
pub(crate) struct ReachSql {
    pub(crate) parent: String,
    pub(crate) gives: String,
}

/// [`ReachSql`] over the tables named `resources` and `shares` (schema-qualified for a
/// filter), in `dialect`.
pub(crate) fn reach_sql(dialect: Dialect, resources: &str, shares: &str) -> ReachSql {
    let any = match dialect {
        Dialect::Sqlite => "IN (SELECT value FROM json_each(?))",
        Dialect::Postgres => "= ANY (ARRAY(SELECT jsonb_array_elements_text(CAST(? AS jsonb))))",
    };
    // What a level gives by itself: its visibility, or a share of a covering level naming the
    // subject (while a member) or one of its groups.
    let gives = |level: &str| {
        format!(
            "((? AND {level}.visibility = 'public') OR (? AND {level}.visibility = 'tenant') \
            OR EXISTS (SELECT 1 FROM {shares} s WHERE s.service = {level}.service \
            AND s.kind = {level}.kind AND s.resource_id = {level}.resource_id \
            AND s.access {any} AND {SHARED_WITH}))"
        )
        .replace("{ANY}", any)
    };
    // The folders above the folder `p` (depth 2 and up; the resource is depth 0), bounded as
    // the memory store's walk: asked only when `p` has a folder itself.
    let bound = MAX_FOLDER_DEPTH + 1;
    let above = |p: &str| {
        format!(
            "({p}.parent_id IS NOT NULL AND EXISTS (WITH RECURSIVE above (service, kind, \
            resource_id, visibility, parent_service, parent_kind, parent_id, depth) AS ( \
            SELECT a.service, a.kind, a.resource_id, a.visibility, a.parent_service, \
                a.parent_kind, a.parent_id, CAST(2 AS BIGINT) FROM {resources} a \
                WHERE a.service = {p}.parent_service AND a.kind = {p}.parent_kind \
                AND a.resource_id = {p}.parent_id \
            UNION ALL \
            SELECT a.service, a.kind, a.resource_id, a.visibility, a.parent_service, \
                a.parent_kind, a.parent_id, u.depth + 1 FROM above u JOIN {resources} a \
                ON a.service = u.parent_service AND a.kind = u.parent_kind \
                AND a.resource_id = u.parent_id WHERE u.depth < {bound}) \
            SELECT 1 FROM above u WHERE {gives_u}))",
            gives_u = gives("u"),
        )
    };
    // `p` is the resource's folder and gives the access, itself or from above.
    let folder = |p: &str| {
        format!(
            "{p}.service = r.parent_service AND {p}.kind = r.parent_kind \
            AND {p}.resource_id = r.parent_id AND ({gives_p} OR {above_p})",
            gives_p = gives(p),
            above_p = above(p),
        )
    };
    let parent = match dialect {
        Dialect::Sqlite => format!("LEFT JOIN {resources} f ON {}", folder("f")),
        Dialect::Postgres => format!(
            "LEFT JOIN LATERAL (SELECT p.resource_id FROM {resources} p WHERE {} \
            LIMIT 1) f ON TRUE",
            folder("p")
        ),
    };
    // The resource itself, whose service and kind are the query's (bound again): PostgreSQL
    // hashes the subject's shares of that type once per query (a probe per row costs more
    // than the ~10,000 shares of a well-shared user); SQLite probes the shares' key per row
    // (it would build the same set by scanning every share of the type).
    let own = match dialect {
        Dialect::Sqlite => format!(
            "EXISTS (SELECT 1 FROM {shares} s WHERE s.service = ? AND s.kind = ? \
            AND s.resource_id = r.resource_id AND s.access {any} AND {SHARED_WITH})"
        ),
        Dialect::Postgres => format!(
            "r.resource_id IN (SELECT s.resource_id FROM {shares} s WHERE s.service = ? \
            AND s.kind = ? AND s.access {any} AND {SHARED_WITH})"
        ),
    }
    .replace("{ANY}", any);
    ReachSql {
        parent,
        gives: format!(
            "((? AND r.visibility = 'public') OR (? AND r.visibility = 'tenant') OR {own})"
        ),
    }
}

/// The binds of one level's part of [`ReachSql`]: whether `public` and `tenant` visibility give
/// the access, the covering share levels, then [`SHARED_WITH`]'s (member, subject, groups).
pub(crate) fn reach_binds(query: &super::AccessibleQuery<'_>) -> StoreResult<Vec<FilterBind>> {
    let binds = AccessBinds::new(query)?;
    Ok(vec![
        FilterBind::Flag(binds.public_gives),
        FilterBind::Flag(binds.tenant_gives),
        FilterBind::Text(binds.covering),
        FilterBind::Flag(query.member),
        FilterBind::Text(query.subject.to_owned()),
        FilterBind::Text(json_list(query.groups)?),
    ])
}

/// The binds of [`ReachSql`]'s `gives`: [`reach_binds`] with the query's service and kind
/// after the visibilities.
pub(crate) fn own_binds(query: &super::AccessibleQuery<'_>) -> StoreResult<Vec<FilterBind>> {
    let mut binds = reach_binds(query)?;
    let text = |s: &str| FilterBind::Text(s.to_owned());
    binds.splice(2..2, [text(query.service), text(query.kind)]);
    Ok(binds)
}

/// The binds of `accessible` (or `accessible_after`, when the query has a cursor), in order.
pub(crate) fn accessible_binds(query: &super::AccessibleQuery<'_>) -> StoreResult<Vec<FilterBind>> {
    let text = |s: &str| FilterBind::Text(s.to_owned());
    let mut binds = reach_binds(query)?;
    binds.extend(reach_binds(query)?);
    binds.extend([text(query.tenant), text(query.service), text(query.kind)]);
    binds.extend(query.after.map(text));
    binds.push(text(query.subject));
    binds.extend(own_binds(query)?);
    binds.push(FilterBind::Int(
        i64::try_from(query.limit).unwrap_or(i64::MAX),
    ));
    Ok(binds)
}

/// An application's column expression: an identifier or `table.column`, never user input (it
/// is written into the SQL).
fn check_column(column: &str) -> StoreResult<()> {
    let mut parts = column.split('.');
    let ident = |part: &str| {
        part.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && part.len() <= 63
    };
    let ok = parts.clone().count() <= 2 && parts.all(ident);
    ok.then_some(()).ok_or(StoreError::Unavailable(
        "an access filter's column must be an identifier or table.column".into(),
    ))
}

/// `name` as an SQL identifier, quoted (a schema name as the database reported it).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The filter's condition on `column`, with `?` where each bind goes (in order), in `dialect`'s
/// list syntax; the caller's query builder numbers them.
pub(crate) fn access_filter_sql(
    dialect: Dialect,
    column: &str,
    filter: &super::AccessFilter,
) -> StoreResult<(String, Vec<FilterBind>)> {
    use super::acl::Reach;
    check_column(column)?;
    let text = |s: &str| FilterBind::Text(s.to_owned());
    // The tables by the schema the store found them in: the application's connection may
    // search other schemas first (or not the store's at all).
    let (resources, shares) = match &filter.schema {
        Some(schema) => {
            let schema = quoted(schema);
            (
                format!("{schema}.portcullis_resources"),
                format!("{schema}.portcullis_shares"),
            )
        }
        None => (
            "portcullis_resources".to_owned(),
            "portcullis_shares".to_owned(),
        ),
    };
    // A condition the database tests on each of the application's rows (never the whole set
    // worked out first), so a query that pages in its own order stops after its page. The
    // column is read where none of the filter's tables are in scope, so no name of theirs can
    // stand for it: outside the subquery on PostgreSQL, whose planner turns `IN` into a
    // semi-join in the application's order; in a one-row derived table on SQLite, which
    // evaluates a correlated `EXISTS` row by row (an `IN` subquery it would work out whole).
    // On SQLite, `CROSS JOIN` keeps the application's row the outer loop (SQLite's way of
    // fixing a join's order), so the resource is found by its key, not scanned for.
    let (head, on) = match dialect {
        Dialect::Sqlite => (
            format!("EXISTS (SELECT 1 FROM (SELECT {column} AS id) app CROSS JOIN {resources} r"),
            "r.resource_id = app.id AND ",
        ),
        Dialect::Postgres => (
            format!("{column} IN (SELECT r.resource_id FROM {resources} r"),
            "",
        ),
    };
    let keyed = [
        text(&filter.tenant),
        text(&filter.service),
        text(&filter.kind),
    ];
    match filter.reach {
        Reach::Nothing => Ok(("(1 = 0)".to_owned(), Vec::new())),
        Reach::Everything => Ok((
            format!("{head} WHERE {on}r.tenant = ? AND r.service = ? AND r.kind = ?)"),
            keyed.into(),
        )),
        Reach::Reachable => {
            // The `accessible` statement's test, on the application's row.
            let reach = reach_sql(dialect, &resources, &shares);
            let sql = format!(
                "{head} {parent} WHERE {on}r.tenant = ? AND r.service = ? AND r.kind = ? \
                AND (r.owner = ? OR {gives} OR f.resource_id IS NOT NULL))",
                parent = reach.parent,
                gives = reach.gives,
            );
            let query = filter.as_query();
            let mut binds = reach_binds(&query)?;
            binds.extend(reach_binds(&query)?);
            binds.extend(keyed);
            binds.push(text(&filter.subject));
            binds.extend(own_binds(&query)?);
            Ok((sql, binds))
        }
    }
}

/// Writes `sql` into `$builder`, binding `binds` at its `?`s in order.
macro_rules! push_filter {
    ($builder:expr, $sql:expr, $binds:expr) => {{
        let mut binds = $binds.into_iter();
        let mut pieces = $sql.split('?').peekable();
        while let Some(piece) = pieces.next() {
            $builder.push(piece);
            if pieces.peek().is_some() {
                match binds.next() {
                    Some(crate::store::sql_acl::FilterBind::Text(value)) => {
                        $builder.push_bind(value);
                    }
                    Some(crate::store::sql_acl::FilterBind::Flag(value)) => {
                        $builder.push_bind(value);
                    }
                    Some(crate::store::sql_acl::FilterBind::Int(value)) => {
                        $builder.push_bind(value);
                    }
                    None => {}
                }
            }
        }
    }};
}

pub(crate) use push_filter;

/// `items` as one JSON array text, for `json_each` / `jsonb_array_elements_text`.
pub(crate) fn json_list<T: serde::Serialize>(items: &[T]) -> StoreResult<String> {
    serde_json::to_string(items)
        .map_err(|_| StoreError::Unavailable("a list could not be encoded".into()))
}

/// Implements [`EntityStore`](crate::store::EntityStore) for `$store` (a struct with a `pool`
/// field and a `sql` `&'static Statements` field) over the sqlx database `$db`.
macro_rules! sql_acl_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use sqlx::Row as _;

            use $crate::store::acl::{
                AccessFacts, AccessibleQuery, EntityStore, ExpectedOwner, Lineage, MAX_SHARES,
                NO_FOLDER, NO_RESOURCE, RESOURCE_CHANGED, RESOURCE_HAS_CHILDREN, RESOURCE_TAKEN,
                Registered, ResourceKey, ResourceRecord, ShareRecord, TOO_MANY_SHARES, Visibility,
            };
            use $crate::store::sql::{corrupt, map_error, unavailable};
            use $crate::store::sql_acl::{
                AclStatements, FilterBind, accessible_binds, check_folder, json_list,
            };
            use $crate::store::{Access, StoreError, StoreResult, SubjectKind};

            type Row = <$db as sqlx::Database>::Row;
            type Transaction = sqlx::Transaction<'static, $db>;

            /// How often a write re-locks when its resource changed tenant between the read
            /// that named the tenant and the lock (deregistered and registered again).
            const LOCK_ATTEMPTS: usize = 4;

            fn record_of(row: &Row) -> StoreResult<ResourceRecord> {
                let visibility: String = row.try_get("visibility").map_err(unavailable)?;
                let parent_service: Option<String> =
                    row.try_get("parent_service").map_err(unavailable)?;
                let parent_kind: Option<String> =
                    row.try_get("parent_kind").map_err(unavailable)?;
                let parent_id: Option<String> = row.try_get("parent_id").map_err(unavailable)?;
                let parent = match (parent_service, parent_kind, parent_id) {
                    (Some(service), Some(kind), Some(id)) => {
                        Some(ResourceKey { service, kind, id })
                    }
                    (None, None, None) => None,
                    _ => return Err(corrupt("resource parent")),
                };
                Ok(ResourceRecord {
                    key: ResourceKey {
                        service: row.try_get("service").map_err(unavailable)?,
                        kind: row.try_get("kind").map_err(unavailable)?,
                        id: row.try_get("resource_id").map_err(unavailable)?,
                    },
                    tenant: row.try_get("tenant").map_err(unavailable)?,
                    owner: row.try_get("owner").map_err(unavailable)?,
                    visibility: Visibility::parse(&visibility)
                        .ok_or_else(|| corrupt("visibility"))?,
                    parent,
                    created_at: row.try_get("created_at").map_err(unavailable)?,
                })
            }

            /// The share in `row` (its grantee columns) on `key`; `None` for a level of a
            /// lineage with no share (the left join's NULLs).
            fn share_of(row: &Row, key: &ResourceKey) -> StoreResult<Option<ShareRecord>> {
                let kind: Option<String> = row.try_get("grantee_kind").map_err(unavailable)?;
                let Some(kind) = kind else {
                    return Ok(None);
                };
                let access: String = row.try_get("access").map_err(unavailable)?;
                Ok(Some(ShareRecord {
                    key: key.clone(),
                    grantee_kind: SubjectKind::parse(&kind)
                        .ok_or_else(|| corrupt("grantee kind"))?,
                    grantee: row.try_get("grantee").map_err(unavailable)?,
                    access: Access::parse(&access).ok_or_else(|| corrupt("access"))?,
                    granted_by: row.try_get("granted_by").map_err(unavailable)?,
                    granted_at: row.try_get("granted_at").map_err(unavailable)?,
                }))
            }

            fn count_of(row: &Row) -> StoreResult<usize> {
                let n: i64 = row.try_get("n").map_err(unavailable)?;
                usize::try_from(n).map_err(|_| corrupt("count"))
            }

            async fn stored<'c, E>(
                sql: &AclStatements,
                executor: E,
                key: &ResourceKey,
            ) -> StoreResult<Option<ResourceRecord>>
            where
                E: sqlx::Executor<'c, Database = $db>,
            {
                let row = sqlx::query(&sql.resource)
                    .bind(&key.service)
                    .bind(&key.kind)
                    .bind(&key.id)
                    .fetch_optional(executor)
                    .await
                    .map_err(unavailable)?;
                row.as_ref().map(record_of).transpose()
            }

            /// The first statement of every write: see the module's documentation.
            async fn lock_tenant(
                sql: &AclStatements,
                tx: &mut Transaction,
                tenant: &str,
            ) -> StoreResult<()> {
                sqlx::query(&sql.lock_tenant)
                    .bind(tenant)
                    .execute(&mut **tx)
                    .await
                    .map_err(unavailable)?;
                Ok(())
            }

            /// A transaction holding the lock of `key`'s tenant, and the resource as read under
            /// it; [`NO_RESOURCE`]. The tenant is read before the transaction, so that on
            /// SQLite its first statement is the lock's write (a read first would pin a snapshot
            /// that a concurrent writer can make stale), and read again under the lock.
            async fn locked(
                sql: &AclStatements,
                pool: &sqlx::Pool<$db>,
                key: &ResourceKey,
            ) -> StoreResult<(Transaction, ResourceRecord)> {
                let mut tenant = stored(sql, pool, key)
                    .await?
                    .ok_or(StoreError::NotFound(NO_RESOURCE))?
                    .tenant;
                let mut tx = pool.begin().await.map_err(unavailable)?;
                for _ in 0..LOCK_ATTEMPTS {
                    lock_tenant(sql, &mut tx, &tenant).await?;
                    let record = stored(sql, &mut *tx, key)
                        .await?
                        .ok_or(StoreError::NotFound(NO_RESOURCE))?;
                    if record.tenant == tenant {
                        return Ok((tx, record));
                    }
                    // Registered again in another tenant meanwhile: hold that one's lock too.
                    tenant = record.tenant;
                }
                Err(StoreError::Unavailable(
                    "a resource kept changing tenant".into(),
                ))
            }

            /// [`locked`], refused unless the resource is still `expected`'s
            /// ([`RESOURCE_CHANGED`]): the caller's authority was granted on that tenant and
            /// owner, and this read is under the lock every writer of the tenant takes.
            async fn held(
                sql: &AclStatements,
                pool: &sqlx::Pool<$db>,
                key: &ResourceKey,
                expected: ExpectedOwner<'_>,
            ) -> StoreResult<(Transaction, ResourceRecord)> {
                let (tx, record) = locked(sql, pool, key).await?;
                if expected.matches(&record) {
                    Ok((tx, record))
                } else {
                    // Dropping the transaction rolls the lock back.
                    Err(StoreError::Conflict(RESOURCE_CHANGED))
                }
            }

            /// The folder `key` and those above it, nearest first, with their tenants.
            async fn ancestry(
                sql: &AclStatements,
                tx: &mut Transaction,
                key: &ResourceKey,
            ) -> StoreResult<Vec<(ResourceKey, String)>> {
                let rows = sqlx::query(&sql.ancestry)
                    .bind(&key.service)
                    .bind(&key.kind)
                    .bind(&key.id)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(unavailable)?;
                rows.iter()
                    .map(|row| {
                        let key = ResourceKey {
                            service: row.try_get("service").map_err(unavailable)?,
                            kind: row.try_get("kind").map_err(unavailable)?,
                            id: row.try_get("resource_id").map_err(unavailable)?,
                        };
                        Ok((key, row.try_get("tenant").map_err(unavailable)?))
                    })
                    .collect()
            }

            /// How many levels lie below `key` (bounded: deeper is too deep anyway).
            async fn height(
                sql: &AclStatements,
                tx: &mut Transaction,
                key: &ResourceKey,
            ) -> StoreResult<usize> {
                let row = sqlx::query(&sql.height)
                    .bind(&key.service)
                    .bind(&key.kind)
                    .bind(&key.id)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(unavailable)?;
                count_of(&row)
            }

            impl EntityStore for $store {
                fn tables_schema(&self) -> Option<&str> {
                    self.schema_of_tables()
                }

                async fn register(&self, record: &ResourceRecord) -> StoreResult<Registered> {
                    let sql = &self.sql.acl;
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    lock_tenant(sql, &mut tx, &record.tenant).await?;
                    if let Some(existing) = stored(sql, &mut *tx, &record.key).await? {
                        // Nothing to write: dropping the transaction rolls the lock back.
                        return if existing.owner == record.owner && existing.tenant == record.tenant
                        {
                            Ok(Registered::Existing(Box::new(existing)))
                        } else {
                            Err(StoreError::Conflict(RESOURCE_TAKEN))
                        };
                    }
                    if let Some(parent) = &record.parent {
                        let chain = ancestry(sql, &mut tx, parent).await?;
                        check_folder(&chain, None, &record.tenant, 0)?;
                    }
                    let parent = record.parent.as_ref();
                    sqlx::query(&sql.insert_resource)
                        .bind(&record.key.service)
                        .bind(&record.key.kind)
                        .bind(&record.key.id)
                        .bind(&record.tenant)
                        .bind(&record.owner)
                        .bind(record.visibility.as_str())
                        .bind(parent.map(|p| p.service.as_str()))
                        .bind(parent.map(|p| p.kind.as_str()))
                        .bind(parent.map(|p| p.id.as_str()))
                        .bind(record.created_at)
                        .execute(&mut *tx)
                        .await
                        // Another tenant's writer (not serialised with this one) took the key
                        // first.
                        .map_err(|e| map_error(e, RESOURCE_TAKEN))?;
                    tx.commit().await.map_err(unavailable)?;
                    Ok(Registered::Created)
                }

                async fn resource(&self, key: &ResourceKey) -> StoreResult<Option<ResourceRecord>> {
                    stored(&self.sql.acl, &self.pool, key).await
                }

                async fn deregister(&self, key: &ResourceKey) -> StoreResult<()> {
                    let sql = &self.sql.acl;
                    let (mut tx, _) = locked(sql, &self.pool, key).await?;
                    let children = sqlx::query(&sql.children)
                        .bind(&key.service)
                        .bind(&key.kind)
                        .bind(&key.id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    if count_of(&children)? > 0 {
                        return Err(StoreError::Conflict(RESOURCE_HAS_CHILDREN));
                    }
                    for statement in &sql.delete_resource {
                        sqlx::query(statement)
                            .bind(&key.service)
                            .bind(&key.kind)
                            .bind(&key.id)
                            .execute(&mut *tx)
                            .await
                            .map_err(unavailable)?;
                    }
                    tx.commit().await.map_err(unavailable)
                }

                async fn set_visibility(
                    &self,
                    key: &ResourceKey,
                    expected: ExpectedOwner<'_>,
                    visibility: Visibility,
                ) -> StoreResult<ResourceRecord> {
                    let sql = &self.sql.acl;
                    let (mut tx, _) = held(sql, &self.pool, key, expected).await?;
                    let row = sqlx::query(&sql.set_visibility)
                        .bind(visibility.as_str())
                        .bind(&key.service)
                        .bind(&key.kind)
                        .bind(&key.id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(unavailable)?
                        .ok_or(StoreError::NotFound(NO_RESOURCE))?;
                    let record = record_of(&row)?;
                    tx.commit().await.map_err(unavailable)?;
                    Ok(record)
                }

                async fn move_to(
                    &self,
                    key: &ResourceKey,
                    expected: ExpectedOwner<'_>,
                    parent: Option<(&ResourceKey, ExpectedOwner<'_>)>,
                ) -> StoreResult<ResourceRecord> {
                    let sql = &self.sql.acl;
                    let (mut tx, record) = held(sql, &self.pool, key, expected).await?;
                    if let Some((parent, folder_expected)) = parent {
                        // Read under the tenant's lock: a folder of this tenant cannot change
                        // until the move commits, and one of another is refused below.
                        let folder = stored(sql, &mut *tx, parent)
                            .await?
                            .ok_or(StoreError::NotFound(NO_FOLDER))?;
                        if !folder_expected.matches(&folder) {
                            return Err(StoreError::Conflict(RESOURCE_CHANGED));
                        }
                    }
                    let parent = parent.map(|(parent, _)| parent);
                    if let Some(parent) = parent {
                        let chain = ancestry(sql, &mut tx, parent).await?;
                        let below = height(sql, &mut tx, key).await?;
                        check_folder(&chain, Some(key), &record.tenant, below)?;
                    }
                    let row = sqlx::query(&sql.set_parent)
                        .bind(parent.map(|p| p.service.as_str()))
                        .bind(parent.map(|p| p.kind.as_str()))
                        .bind(parent.map(|p| p.id.as_str()))
                        .bind(&key.service)
                        .bind(&key.kind)
                        .bind(&key.id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(unavailable)?
                        .ok_or(StoreError::NotFound(NO_RESOURCE))?;
                    let moved = record_of(&row)?;
                    tx.commit().await.map_err(unavailable)?;
                    Ok(moved)
                }

                async fn share(
                    &self,
                    share: &ShareRecord,
                    expected: ExpectedOwner<'_>,
                ) -> StoreResult<()> {
                    let sql = &self.sql.acl;
                    let (mut tx, _) = held(sql, &self.pool, &share.key, expected).await?;
                    let others = sqlx::query(&sql.other_shares)
                        .bind(&share.key.service)
                        .bind(&share.key.kind)
                        .bind(&share.key.id)
                        .bind(share.grantee_kind.as_str())
                        .bind(&share.grantee)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    if count_of(&others)? >= MAX_SHARES {
                        return Err(StoreError::Conflict(TOO_MANY_SHARES));
                    }
                    sqlx::query(&sql.share)
                        .bind(&share.key.service)
                        .bind(&share.key.kind)
                        .bind(&share.key.id)
                        .bind(share.grantee_kind.as_str())
                        .bind(&share.grantee)
                        .bind(share.access.as_str())
                        .bind(&share.granted_by)
                        .bind(share.granted_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    tx.commit().await.map_err(unavailable)
                }

                async fn unshare(
                    &self,
                    key: &ResourceKey,
                    expected: ExpectedOwner<'_>,
                    grantee_kind: SubjectKind,
                    grantee: &str,
                ) -> StoreResult<bool> {
                    let sql = &self.sql.acl;
                    let (mut tx, _) = held(sql, &self.pool, key, expected).await?;
                    let done = sqlx::query(&sql.unshare)
                        .bind(&key.service)
                        .bind(&key.kind)
                        .bind(&key.id)
                        .bind(grantee_kind.as_str())
                        .bind(grantee)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    tx.commit().await.map_err(unavailable)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn shares(&self, key: &ResourceKey) -> StoreResult<Vec<ShareRecord>> {
                    let rows = sqlx::query(&self.sql.acl.shares)
                        .bind(&key.service)
                        .bind(&key.kind)
                        .bind(&key.id)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    rows.iter()
                        .map(|row| share_of(row, key)?.ok_or_else(|| corrupt("share")))
                        .collect()
                }

                async fn lineage(
                    &self,
                    key: &ResourceKey,
                    subject: &str,
                    groups: &[String],
                ) -> StoreResult<Vec<Lineage>> {
                    let rows = sqlx::query(&self.sql.acl.lineage)
                        .bind(&key.service)
                        .bind(&key.kind)
                        .bind(&key.id)
                        .bind(subject)
                        .bind(json_list(groups)?)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    // One row per (level, share naming the subject), or one of NULLs for a
                    // level without: rows of one level are consecutive (ordered by depth).
                    let mut lineage: Vec<(i64, Lineage)> = Vec::new();
                    for row in &rows {
                        let depth: i64 = row.try_get("depth").map_err(unavailable)?;
                        if lineage.last().is_none_or(|(last, _)| *last != depth) {
                            let level = Lineage {
                                record: record_of(row)?,
                                shares: Vec::new(),
                            };
                            lineage.push((depth, level));
                        }
                        if let Some((_, level)) = lineage.last_mut()
                            && let Some(share) = share_of(row, &level.record.key)?
                        {
                            level.shares.push(share);
                        }
                    }
                    Ok(lineage.into_iter().map(|(_, level)| level).collect())
                }

                async fn facts(
                    &self,
                    keys: &[ResourceKey],
                    subject: &str,
                    now: i64,
                ) -> StoreResult<Vec<Option<AccessFacts>>> {
                    let wanted: Vec<[&str; 3]> = keys
                        .iter()
                        .map(|k| [k.service.as_str(), k.kind.as_str(), k.id.as_str()])
                        .collect();
                    let wanted = serde_json::to_string(&wanted).map_err(|_| corrupt("keys"))?;
                    let rows = sqlx::query(&self.sql.acl.facts)
                        .bind(wanted)
                        .bind(subject)
                        .bind(subject)
                        .bind(now)
                        .bind(subject)
                        .bind(now)
                        .bind(subject)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    let mut facts: Vec<Option<AccessFacts>> = vec![None; keys.len()];
                    // Rows come by key position, then depth: a chain's rows are consecutive,
                    // and so are a level's shares.
                    let mut depth_seen: Option<(usize, i64)> = None;
                    for row in &rows {
                        let ord: i64 = row.try_get("ord").map_err(unavailable)?;
                        let depth: i64 = row.try_get("depth").map_err(unavailable)?;
                        let at = usize::try_from(ord)
                            .ok()
                            .filter(|&at| at < keys.len())
                            .ok_or_else(|| corrupt("key position"))?;
                        let slot = &mut facts[at];
                        if depth == 0 && slot.is_none() {
                            let groups: Option<String> =
                                row.try_get("groups").map_err(unavailable)?;
                            let mut groups: Vec<String> = match groups {
                                Some(text) => {
                                    serde_json::from_str(&text).map_err(|_| corrupt("groups"))?
                                }
                                None => Vec::new(),
                            };
                            groups.sort_unstable();
                            let live: i64 = row.try_get("live").map_err(unavailable)?;
                            let until: Option<i64> =
                                row.try_get("live_until").map_err(unavailable)?;
                            let by_group = !groups.is_empty();
                            *slot = Some(AccessFacts {
                                lineage: Vec::new(),
                                member: by_group || live > 0,
                                member_until: if by_group { None } else { until },
                                groups,
                            });
                        }
                        let Some(found) = slot.as_mut() else {
                            return Err(corrupt("chain"));
                        };
                        if depth_seen != Some((at, depth)) {
                            depth_seen = Some((at, depth));
                            found.lineage.push(Lineage {
                                record: record_of(row)?,
                                shares: Vec::new(),
                            });
                        }
                        if let Some(level) = found.lineage.last_mut()
                            && let Some(share) = share_of(row, &level.record.key)?
                        {
                            level.shares.push(share);
                        }
                    }
                    Ok(facts)
                }

                async fn accessible(
                    &self,
                    query: &AccessibleQuery<'_>,
                ) -> StoreResult<Vec<String>> {
                    let sql = &self.sql.acl;
                    let paged = if query.after.is_some() {
                        &sql.accessible_after
                    } else {
                        &sql.accessible
                    };
                    let mut statement = sqlx::query(paged);
                    for bind in accessible_binds(query)? {
                        statement = match bind {
                            FilterBind::Text(value) => statement.bind(value),
                            FilterBind::Flag(value) => statement.bind(value),
                            FilterBind::Int(value) => statement.bind(value),
                        };
                    }
                    let rows = statement.fetch_all(&self.pool).await.map_err(unavailable)?;
                    rows.iter()
                        .map(|row| row.try_get("resource_id").map_err(unavailable))
                        .collect()
                }
            }
        };
    };
}

pub(crate) use sql_acl_store;

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(ids: &[&str], tenant: &str) -> Vec<(ResourceKey, String)> {
        ids.iter()
            .map(|id| (ResourceKey::new("docs", "document", id), tenant.to_owned()))
            .collect()
    }

    #[test]
    fn folder_checks_keep_the_memory_stores_order() {
        let key = ResourceKey::new("docs", "document", "a");
        assert_eq!(
            check_folder(&[], Some(&key), "acme", 0),
            Err(StoreError::NotFound(NO_FOLDER))
        );
        // A cycle is told before another tenant.
        assert_eq!(
            check_folder(&chain(&["b", "a"], "globex"), Some(&key), "acme", 0),
            Err(StoreError::Conflict(FOLDER_CYCLE))
        );
        assert_eq!(
            check_folder(&chain(&["b"], "globex"), Some(&key), "acme", 0),
            Err(StoreError::Conflict(FOLDER_OTHER_TENANT))
        );
        let full: Vec<String> = (0..MAX_FOLDER_DEPTH).map(|n| n.to_string()).collect();
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        assert_eq!(check_folder(&chain(&full, "acme"), None, "acme", 0), Ok(()));
        assert_eq!(
            check_folder(&chain(&full[1..], "acme"), None, "acme", 1),
            Ok(())
        );
        assert_eq!(
            check_folder(&chain(&full, "acme"), None, "acme", 1),
            Err(StoreError::Conflict(FOLDER_TOO_DEEP))
        );
    }

    #[test]
    fn statements_are_in_each_dialect() {
        let pg = AclStatements::new(Dialect::Postgres);
        assert!(!pg.accessible.contains('?') && pg.accessible.contains("$13"));
        assert!(
            pg.accessible_after
                .contains("resource_id COLLATE \"C\" > $16")
        );
        assert!(pg.lineage.contains("jsonb_array_elements_text") && pg.lineage.contains("$5"));
        let lite = AclStatements::new(Dialect::Sqlite);
        assert!(!lite.accessible.contains(" > ?") && lite.accessible_after.contains(" > ?"));
        for statement in [
            &lite.lineage,
            &lite.accessible,
            &lite.accessible_after,
            &lite.facts,
            &lite.ancestry,
            &lite.height,
        ] {
            assert!(!statement.contains('{'), "every template marker replaced");
        }
        assert!(!lite.shares.contains("COLLATE") && pg.shares.contains("COLLATE \"C\""));
    }

    #[test]
    fn visibility_and_shares_give_what_the_memory_store_gives() -> StoreResult<()> {
        let groups = Vec::new();
        let query = |member, editor, access| super::super::AccessibleQuery {
            tenant: "acme",
            service: "docs",
            kind: "document",
            subject: "bob",
            groups: &groups,
            member,
            editor,
            access,
            after: None,
            limit: 1,
        };
        let view = AccessBinds::new(&query(true, false, Access::View))?;
        assert!(view.public_gives && view.tenant_gives);
        assert_eq!(view.covering, r#"["view","edit"]"#);
        let edit = AccessBinds::new(&query(true, false, Access::Edit))?;
        assert!(!edit.public_gives && !edit.tenant_gives);
        assert_eq!(edit.covering, r#"["edit"]"#);
        assert!(AccessBinds::new(&query(true, true, Access::Edit))?.tenant_gives);
        assert!(!AccessBinds::new(&query(false, true, Access::Edit))?.tenant_gives);
        Ok(())
    }
}
