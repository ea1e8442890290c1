//! Entity permissions at a million resources (issue #16): `can` uncached on SQLite and
//! PostgreSQL (a latency distribution over 2,000 resources, allowed and refused), `can` from the
//! decision cache, `accessible` (the first page of 100, and a later one after a cursor), and a
//! list endpoint of the application's own table filtered inside the database against fetching
//! every accessible id and filtering in Rust. The same-run baselines: the role policy's answer
//! to one check (today's check) and the memory store's uncached `can` over the same data.
//!
//! ```text
//! cargo bench --bench acl
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench acl --features postgres
//! ```
//!
//! The data, seeded once with bulk SQL and reused by later runs: the SQLite file
//! `target/bench-data/acl-1m.sqlite` and the PostgreSQL schema `portcullis_bench_acl` (each
//! migrated by the crate). A marker table records the seed's version and row counts; a store
//! whose marker or counts differ is wiped and seeded again. Tenant `acme` of service `docs`
//! holds 1,000 folders (`f000`..`f999`, one of them, `f500`, visible to the tenant) and
//! 1,000,000 documents (`d0000000`..`d0999999`), each in a folder picked by a multiplicative
//! hash of its number and owned by one of 10,000 users (`ada` owns 100). One document in 100
//! is visible to the tenant, one in 1,000 public, the rest private. `ada`, a member of the
//! tenant (a role assignment) and of 10 of its 100 groups, holds 10,000 grants: 4,995 documents
//! and 5 folders shared with her, 4,995 documents and 5 folders shared with her groups (a
//! third, a quarter of them `edit`); 200,000 more shares name other users and groups. She may
//! view 31,918 documents (3.2%). The application's table `app_documents` has a row per
//! document. The memory store (the baseline without I/O) holds the same resources and ada's
//! grants, written through the engine.
//!
//! Every timed answer is checked first against a model of the seed written independently of
//! the engine (the reason of every sampled `can`, every page's ids), so a figure never measures
//! a wrong answer. Besides criterion's figures, each latency distribution is printed as one
//! line, `acl/<store>/<what> p50=…us p99=…us mean=…us max=…us n=…`, with two that take an
//! uncached `can` apart: the store's one statement alone (`facts_statement`) and a bare round
//! trip (`select_1`).

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::collections::HashSet;
use std::future::Future;
use std::hint::black_box;
use std::path::PathBuf;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::acl::{Acl, AclStore, MAX_PAGE, NewResource};
use portcullis::authz::{Authorizer, Decision, Question, Scope};
use portcullis::rbac::{Permission, RolePolicy};
use portcullis::store::{
    Access, AccessFilter, Grant, MemoryStore, ResourceKey, SubjectKind, Visibility,
};
use portcullis::tenant::{NewAssignment, NewRole, Tenancy, TenantStore};
use portcullis::{AuthMethod, Reason, Requirement, UserContext};

type BoxError = Box<dyn std::error::Error>;

/// Bump when the data below changes: a store seeded by another version is seeded again.
const SEED_VERSION: &str = "acl-1m-v1";
const DOCUMENTS: i64 = 1_000_000;
const FOLDERS: i64 = 1_000;
const USERS: i64 = 10_000;
const GROUPS: i64 = 100;
/// `ada` is in `g00`..`g09`.
const ADA_GROUPS: i64 = 10;
/// Documents shared with ada (`d(200j + 13)`) and with her groups (`d(200j + 113)`).
const SHARED_DOCUMENTS: i64 = 4_995;
/// Folders shared with ada (`f100`..) and with her groups (`f200`..).
const SHARED_FOLDERS: i64 = 5;
/// Shares naming other users and groups (`d(5i + 2)`).
const OTHER_SHARES: i64 = 200_000;
/// The one folder visible to the tenant.
const OPEN_FOLDER: i64 = 500;
const RESOURCES: i64 = DOCUMENTS + FOLDERS;
const SHARES: i64 = 2 * (SHARED_DOCUMENTS + SHARED_FOLDERS) + OTHER_SHARES;
/// When the rows say they were written (seconds).
const WRITTEN: i64 = 1_700_000_000;
/// The PostgreSQL schema of the seed.
#[cfg(feature = "postgres")]
const PG_SCHEMA: &str = "portcullis_bench_acl";
/// The page `accessible` and the list endpoint are asked for.
const PAGE: usize = 100;
/// Resources in the uncached `can` distribution.
const SAMPLE: usize = 2_000;

// ---------------------------------------------------------------------------------------------
// The seed's model: what every row is, and what the engine must answer ada.

fn hash(i: i64) -> i64 {
    (i * 2_654_435_761) % 4_294_967_296
}

fn document_id(i: i64) -> String {
    format!("d{i:07}")
}

fn folder_id(f: i64) -> String {
    format!("f{f:03}")
}

fn document(i: i64) -> ResourceKey {
    ResourceKey::new("docs", "document", &document_id(i))
}

fn folder_of(i: i64) -> i64 {
    hash(i) % FOLDERS
}

fn owner_of(i: i64) -> String {
    if i % 10_007 == 5 {
        "ada".to_owned()
    } else {
        format!("u{:04}", hash(i) / 1024 % USERS)
    }
}

fn visibility_of(i: i64) -> Visibility {
    if i % 100 == 1 {
        Visibility::Tenant
    } else if i % 1000 == 7 {
        Visibility::Public
    } else {
        Visibility::Private
    }
}

/// The document's share to ada, if any.
fn direct_share(i: i64) -> Option<Access> {
    let j = (i - 13) / 200;
    if i % 200 != 13 || j >= SHARED_DOCUMENTS {
        return None;
    }
    Some(if j % 3 == 0 {
        Access::Edit
    } else {
        Access::View
    })
}

/// The document's share to one of ada's groups, if any.
fn group_share(i: i64) -> Option<(String, Access)> {
    let j = (i - 113) / 200;
    if i % 200 != 113 || j >= SHARED_DOCUMENTS {
        return None;
    }
    let access = if j % 4 == 0 {
        Access::Edit
    } else {
        Access::View
    };
    Some((format!("g{:02}", j % ADA_GROUPS), access))
}

/// What a folder gives ada by itself: its visibility (view), a share to her, or one to her group.
fn folder_gives(f: i64, wanted: Access) -> bool {
    let open = f == OPEN_FOLDER && wanted == Access::View;
    let to_ada = (100..100 + SHARED_FOLDERS).contains(&f) && (f < 102 || wanted == Access::View);
    let to_group = (200..200 + SHARED_FOLDERS).contains(&f) && wanted == Access::View;
    open || to_ada || to_group
}

/// The reason the engine must give ada for `wanted` on document `i`: Sentinel's order with
/// folders (ada is a member, not an administrator nor an editor).
fn expected(i: i64, wanted: Access) -> Reason {
    if owner_of(i) == "ada" {
        return Reason::AllowOwner;
    }
    let visible = match visibility_of(i) {
        Visibility::Public | Visibility::Tenant => wanted == Access::View,
        Visibility::Private => false,
    };
    if visible {
        return Reason::AllowVisibility;
    }
    if direct_share(i).is_some_and(|held| held.covers(wanted)) {
        return Reason::AllowShare;
    }
    if group_share(i).is_some_and(|(_, held)| held.covers(wanted)) {
        return Reason::AllowGroup;
    }
    if folder_gives(folder_of(i), wanted) {
        return Reason::AllowParent;
    }
    Reason::DenyNoPermission
}

/// The ids ada may view, in order.
fn viewable() -> Vec<String> {
    (0..DOCUMENTS)
        .filter(|&i| expected(i, Access::View).allows())
        .map(document_id)
        .collect()
}

/// SplitMix64: the sample is the same in every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One question of the sample and its expected answer.
struct Asked {
    key: ResourceKey,
    wanted: Access,
    reason: Reason,
}

/// Half documents ada may view, half any document (most refused); every fourth asks `edit`.
fn sample(viewable: &[String]) -> Vec<Asked> {
    let mut rng = Rng(16);
    (0..SAMPLE)
        .map(|n| {
            let i = if n % 2 == 0 {
                let id = &viewable[rng.below(viewable.len())];
                id[1..]
                    .parse::<i64>()
                    .unwrap_or_else(|e| panic!("{id}: {e}"))
            } else {
                rng.below(DOCUMENTS as usize) as i64
            };
            let wanted = if n % 4 == 3 {
                Access::Edit
            } else {
                Access::View
            };
            Asked {
                key: document(i),
                wanted,
                reason: expected(i, wanted),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Seeding with bulk SQL.

#[derive(Clone, Copy, PartialEq)]
enum Dialect {
    Sqlite,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

impl Dialect {
    /// `prefix` then `expr` zero-padded to `width` digits.
    fn padded(self, prefix: &str, expr: &str, width: usize) -> String {
        match self {
            Self::Sqlite => format!("printf('{prefix}%0{width}d', {expr})"),
            Self::Postgres => format!("'{prefix}' || lpad(CAST({expr} AS TEXT), {width}, '0')"),
        }
    }

    /// `INSERT INTO {into} SELECT {select} FROM` the numbers `0..count` as `n(i)`.
    fn insert_series(self, into: &str, select: &str, count: i64) -> String {
        let last = count - 1;
        match self {
            Self::Sqlite => format!(
                "WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
                 INSERT INTO {into} SELECT {select} FROM n"
            ),
            Self::Postgres => format!(
                "INSERT INTO {into} SELECT {select} \
                 FROM generate_series(CAST(0 AS BIGINT), {last}) AS n (i)"
            ),
        }
    }
}

/// The seed's statements, in order, in one transaction; the marker last.
fn seed_statements(d: Dialect) -> Vec<String> {
    let hash = "((i * 2654435761) % 4294967296)";
    let resources = "portcullis_resources (service, kind, resource_id, tenant, owner, \
        visibility, parent_service, parent_kind, parent_id, created_at)";
    let shares = "portcullis_shares (service, kind, resource_id, grantee_kind, grantee, \
        access, granted_by, granted_at)";
    let assignments = "portcullis_assignments (id, tenant, role_id, subject_kind, subject, \
        granted_by, created_at, expires_at)";
    let members = "portcullis_group_members (tenant, group_id, subject, added_at)";
    let user = |expr: &str| d.padded("u", expr, 4);
    let group = |expr: &str| d.padded("g", expr, 2);
    let doc = |expr: &str| d.padded("d", expr, 7);
    let folder = |expr: &str| d.padded("f", expr, 3);
    vec![
        // Folders.
        d.insert_series(
            resources,
            &format!(
                "'docs', 'folder', {}, 'acme', {}, \
                 CASE WHEN i = {OPEN_FOLDER} THEN 'tenant' ELSE 'private' END, \
                 NULL, NULL, NULL, {WRITTEN}",
                folder("i"),
                user(&format!("i * 7 % {USERS}")),
            ),
            FOLDERS,
        ),
        // Documents.
        d.insert_series(
            resources,
            &format!(
                "'docs', 'document', {}, 'acme', \
                 CASE WHEN i % 10007 = 5 THEN 'ada' ELSE {} END, \
                 CASE WHEN i % 100 = 1 THEN 'tenant' WHEN i % 1000 = 7 THEN 'public' \
                 ELSE 'private' END, 'docs', 'folder', {}, {WRITTEN}",
                doc("i"),
                user(&format!("{hash} / 1024 % {USERS}")),
                folder(&format!("{hash} % {FOLDERS}")),
            ),
            DOCUMENTS,
        ),
        // Ada's grants: documents shared with her and with her groups, then folders.
        d.insert_series(
            shares,
            &format!(
                "'docs', 'document', {}, 'user', 'ada', \
                 CASE WHEN i % 3 = 0 THEN 'edit' ELSE 'view' END, 'bench', {WRITTEN}",
                doc("i * 200 + 13"),
            ),
            SHARED_DOCUMENTS,
        ),
        d.insert_series(
            shares,
            &format!(
                "'docs', 'document', {}, 'group', {}, \
                 CASE WHEN i % 4 = 0 THEN 'edit' ELSE 'view' END, 'bench', {WRITTEN}",
                doc("i * 200 + 113"),
                group(&format!("i % {ADA_GROUPS}")),
            ),
            SHARED_DOCUMENTS,
        ),
        d.insert_series(
            shares,
            &format!(
                "'docs', 'folder', {}, 'user', 'ada', \
                 CASE WHEN i < 2 THEN 'edit' ELSE 'view' END, 'bench', {WRITTEN}",
                folder("100 + i"),
            ),
            SHARED_FOLDERS,
        ),
        d.insert_series(
            shares,
            &format!(
                "'docs', 'folder', {}, 'group', {}, 'view', 'bench', {WRITTEN}",
                folder("200 + i"),
                group("i"),
            ),
            SHARED_FOLDERS,
        ),
        // Everyone else's shares (on documents ada's never are: 5i + 2).
        d.insert_series(
            shares,
            &format!(
                "'docs', 'document', {}, \
                 CASE WHEN i % 4 = 0 THEN 'group' ELSE 'user' END, \
                 CASE WHEN i % 4 = 0 THEN {} ELSE {} END, 'view', 'bench', {WRITTEN}",
                doc("i * 5 + 2"),
                group(&format!("{ADA_GROUPS} + i % {}", GROUPS - ADA_GROUPS)),
                user(&format!("{hash} % {USERS}")),
            ),
            OTHER_SHARES,
        ),
        // Membership: a role of acme assigned to ada and every user; the groups.
        format!(
            "INSERT INTO portcullis_roles (id, tenant, namespace, slug, name, description, \
             parent, is_system, is_default, max_members, metadata, created_at, updated_at) \
             VALUES ('bench-member', 'acme', '', 'member', 'member', '', NULL, FALSE, FALSE, \
             NULL, '{{}}', {WRITTEN}, {WRITTEN})"
        ),
        format!(
            "INSERT INTO {assignments} VALUES ('bench-ada', 'acme', 'bench-member', 'user', \
             'ada', 'bench', {WRITTEN}, NULL)"
        ),
        d.insert_series(
            assignments,
            &format!(
                "{}, 'acme', 'bench-member', 'user', {}, 'bench', {WRITTEN}, NULL",
                d.padded("bench-u", "i", 4),
                user("i"),
            ),
            USERS,
        ),
        d.insert_series(
            members,
            &format!("'acme', {}, 'ada', {WRITTEN}", group("i")),
            ADA_GROUPS,
        ),
        d.insert_series(
            members,
            &format!(
                "'acme', {}, {}, {WRITTEN}",
                group(&format!("i % {GROUPS}")),
                user("i")
            ),
            USERS,
        ),
        // The application's own table.
        "CREATE TABLE app_documents (id TEXT PRIMARY KEY, title TEXT NOT NULL, \
         folder TEXT NOT NULL, created_at BIGINT NOT NULL)"
            .to_owned(),
        d.insert_series(
            "app_documents (id, title, folder, created_at)",
            &format!(
                "{}, 'Document ' || CAST(i AS TEXT), {}, {WRITTEN}",
                doc("i"),
                folder(&format!("{hash} % {FOLDERS}")),
            ),
            DOCUMENTS,
        ),
        "CREATE TABLE portcullis_bench_seed (version TEXT NOT NULL, resources BIGINT NOT NULL, \
         shares BIGINT NOT NULL, app_rows BIGINT NOT NULL)"
            .to_owned(),
        format!(
            "INSERT INTO portcullis_bench_seed VALUES ('{SEED_VERSION}', {RESOURCES}, {SHARES}, \
             {DOCUMENTS})"
        ),
    ]
}

/// The queries that tell whether a store holds this seed: the marker, then the real counts.
const MARKER: &str = "SELECT version, resources, shares, app_rows FROM portcullis_bench_seed";
const COUNTS: &str = "SELECT (SELECT COUNT(*) FROM portcullis_resources), \
    (SELECT COUNT(*) FROM portcullis_shares), (SELECT COUNT(*) FROM app_documents)";

type Marker = (String, i64, i64, i64);

fn expected_marker() -> Marker {
    (SEED_VERSION.to_owned(), RESOURCES, SHARES, DOCUMENTS)
}

/// Whether the store behind `pool` holds this seed (its marker and its real counts agree).
macro_rules! seeded {
    ($pool:expr) => {{
        let marker: Option<Marker> = sqlx::query_as(MARKER)
            .fetch_optional($pool)
            .await
            .ok()
            .flatten();
        let counts: Option<(i64, i64, i64)> = sqlx::query_as(COUNTS).fetch_one($pool).await.ok();
        let want = expected_marker();
        marker.as_ref() == Some(&want) && counts == Some((want.1, want.2, want.3))
    }};
}

/// Runs the seed in one transaction.
macro_rules! seed {
    ($pool:expr, $dialect:expr) => {{
        let mut tx = $pool.begin().await?;
        for statement in seed_statements($dialect) {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }};
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

fn sqlite_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/acl-1m.sqlite")
}

fn wipe_sqlite(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

/// The seeded SQLite store: reused when its marker says so, else wiped and seeded.
async fn sqlite_store() -> Result<portcullis::store::sqlite::SqliteStore, BoxError> {
    use portcullis::store::sqlite::SqliteStore;
    let path = sqlite_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let store = match SqliteStore::open(&path).await {
        Ok(store) => store,
        Err(e) => {
            // Migrated by another version of the crate (a changed migration): start over.
            eprintln!("acl/sqlite/seed: {e}: seeding again");
            wipe_sqlite(&path);
            SqliteStore::open(&path).await?
        }
    };
    if seeded!(store.pool()) {
        println!("acl/sqlite/seed reused {}", path.display());
        return Ok(store);
    }
    store.pool().close().await;
    wipe_sqlite(&path);
    let store = SqliteStore::open(&path).await?;
    let started = Instant::now();
    seed!(store.pool(), Dialect::Sqlite);
    println!(
        "acl/sqlite/seed seconds={:.1} resources={RESOURCES} shares={SHARES} app_rows={DOCUMENTS}",
        started.elapsed().as_secs_f64()
    );
    if !seeded!(store.pool()) {
        return Err("the seed's counts are not the model's".into());
    }
    Ok(store)
}

/// The seeded PostgreSQL store, in its own schema: reused when its marker says so, else the
/// schema is dropped, migrated again and seeded.
#[cfg(feature = "postgres")]
async fn postgres_store(url: &str) -> Result<portcullis::store::postgres::PostgresStore, BoxError> {
    use portcullis::store::postgres::PostgresStore;
    async fn drop_schema(url: &str) -> Result<(), BoxError> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(())
    }
    let store = match PostgresStore::connect_in_schema(url, PG_SCHEMA).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("acl/postgres/seed: {e}: seeding again");
            drop_schema(url).await?;
            PostgresStore::connect_in_schema(url, PG_SCHEMA).await?
        }
    };
    if seeded!(store.pool()) {
        println!("acl/postgres/seed reused schema {PG_SCHEMA}");
        return Ok(store);
    }
    store.pool().close().await;
    drop_schema(url).await?;
    let store = PostgresStore::connect_in_schema(url, PG_SCHEMA).await?;
    let started = Instant::now();
    seed!(store.pool(), Dialect::Postgres);
    let seeded = started.elapsed();
    // Statistics for the planner and the visibility map for index-only scans, as autovacuum
    // would leave them.
    for table in ["portcullis_resources", "portcullis_shares", "app_documents"] {
        sqlx::query(&format!("VACUUM ANALYZE {table}"))
            .execute(store.pool())
            .await?;
    }
    println!(
        "acl/postgres/seed seconds={:.1} vacuum_analyze_seconds={:.1} resources={RESOURCES} \
         shares={SHARES} app_rows={DOCUMENTS}",
        seeded.as_secs_f64(),
        (started.elapsed() - seeded).as_secs_f64()
    );
    if !seeded!(store.pool()) {
        return Err("the seed's counts are not the model's".into());
    }
    Ok(store)
}

/// The same resources and ada's grants in a memory store (the baseline without I/O), written
/// through the engine as an application would (an administrator sharing). Only ada's and the
/// administrator's memberships: the memory store finds a subject's groups and assignments by
/// scanning all of them (it is made for tests), so 10,000 more members would time that scan
/// (about 90 µs a check) rather than the engine; the other users' 200,000 shares change none
/// of ada's answers and are left out with them.
async fn memory_store() -> Result<MemoryStore, BoxError> {
    let store = MemoryStore::new();
    let tenancy = Tenancy::new(store.clone());
    let member = tenancy
        .create_role("acme", NewRole::new("", "member"))
        .await?;
    let admin = tenancy
        .create_role(
            "acme",
            NewRole::new("", "admin").grant(Grant::Permission(permission("manage:Documents"))),
        )
        .await?;
    tenancy
        .assign(
            "acme",
            NewAssignment::new(&admin.id, SubjectKind::User, "root"),
        )
        .await?;
    tenancy
        .assign(
            "acme",
            NewAssignment::new(&member.id, SubjectKind::User, "ada"),
        )
        .await?;
    for g in 0..ADA_GROUPS {
        tenancy
            .add_member("acme", &format!("g{g:02}"), "ada")
            .await?;
    }
    let acl = engine(&store, false);
    for f in 0..FOLDERS {
        let visibility = if f == OPEN_FOLDER {
            Visibility::Tenant
        } else {
            Visibility::Private
        };
        let key = ResourceKey::new("docs", "folder", &folder_id(f));
        let owner = format!("u{:04}", f * 7 % USERS);
        acl.register(NewResource::new(key, "acme", &owner).visibility(visibility))
            .await?;
    }
    for i in 0..DOCUMENTS {
        let parent = ResourceKey::new("docs", "folder", &folder_id(folder_of(i)));
        let new = NewResource::new(document(i), "acme", &owner_of(i))
            .visibility(visibility_of(i))
            .inside(parent);
        acl.register(new).await?;
    }
    let root = UserContext::new("root", AuthMethod::Bearer);
    for i in 0..DOCUMENTS {
        if let Some(access) = direct_share(i) {
            acl.share(&root, &document(i), SubjectKind::User, "ada", access)
                .await?;
        }
        if let Some((group, access)) = group_share(i) {
            acl.share(&root, &document(i), SubjectKind::Group, &group, access)
                .await?;
        }
    }
    for n in 0..SHARED_FOLDERS {
        let access = if n < 2 { Access::Edit } else { Access::View };
        let to_ada = ResourceKey::new("docs", "folder", &folder_id(100 + n));
        acl.share(&root, &to_ada, SubjectKind::User, "ada", access)
            .await?;
        let to_group = ResourceKey::new("docs", "folder", &folder_id(200 + n));
        let group = format!("g{n:02}");
        acl.share(&root, &to_group, SubjectKind::Group, &group, Access::View)
            .await?;
    }
    Ok(store)
}

// ---------------------------------------------------------------------------------------------
// Measuring.

/// The engine as the quickstart builds it: tenant administrators by a permission of the
/// tenant's roles; with or without the decision cache.
fn engine<S: AclStore + TenantStore>(store: &S, cached: bool) -> Acl<S> {
    let tenancy = Tenancy::new(store.clone());
    let acl = Acl::new(store.clone())
        .over(tenancy.clone())
        .admins(Requirement::Permission(permission("manage:Documents")));
    if cached {
        acl.cached(256 << 20, Duration::from_secs(600))
            .watching(&tenancy)
    } else {
        acl
    }
}

fn permission(text: &str) -> Permission {
    Permission::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn ada() -> UserContext {
    UserContext::new("ada", AuthMethod::Bearer)
}

/// The output of `future` if it is ready without waiting (an answer from memory), else `None`.
fn ready<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Prints one distribution as `acl/<label> p50=…us p99=…us mean=…us max=…us n=…` and returns
/// its p99 (microseconds).
fn report(label: &str, mut samples: Vec<Duration>) -> f64 {
    samples.sort_unstable();
    let n = samples.len().max(1);
    // Nearest rank.
    let at = |p: usize| samples[(p * n).div_ceil(100).clamp(1, n) - 1];
    let mean = samples.iter().sum::<Duration>() / n as u32;
    let max = samples.last().copied().unwrap_or_default();
    println!(
        "acl/{label} p50={:.1}us p99={:.1}us mean={:.1}us max={:.1}us n={}",
        micros(at(50)),
        micros(at(99)),
        micros(mean),
        micros(max),
        samples.len()
    );
    micros(at(99))
}

/// What a list endpoint needs of the application's own database.
trait AppDb: AclStore + TenantStore {
    /// A page of `app_documents` filtered by `filter` inside the database, in id order.
    fn filtered_page(
        &self,
        filter: &AccessFilter,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<(String, String)>, BoxError>>;

    /// A bare round trip: `SELECT 1`.
    fn select_one(&self) -> impl Future<Output = Result<(), BoxError>>;

    /// The application's rows after `after`, in id order, unfiltered.
    fn rows_after(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<(String, String)>, BoxError>>;
}

macro_rules! app_db {
    ($store:ty, $db:ty, $push:ident) => {
        impl AppDb for $store {
            async fn filtered_page(
                &self,
                filter: &AccessFilter,
                limit: i64,
            ) -> Result<Vec<(String, String)>, BoxError> {
                let mut query =
                    sqlx::QueryBuilder::<$db>::new("SELECT id, title FROM app_documents WHERE ");
                filter.$push("id", &mut query)?;
                query.push(" ORDER BY id LIMIT ").push_bind(limit);
                Ok(query.build_query_as().fetch_all(self.pool()).await?)
            }

            async fn select_one(&self) -> Result<(), BoxError> {
                let one: (i32,) = sqlx::query_as("SELECT 1").fetch_one(self.pool()).await?;
                assert_eq!(one.0, 1);
                Ok(())
            }

            async fn rows_after(
                &self,
                after: Option<&str>,
                limit: i64,
            ) -> Result<Vec<(String, String)>, BoxError> {
                let mut query =
                    sqlx::QueryBuilder::<$db>::new("SELECT id, title FROM app_documents");
                if let Some(after) = after {
                    query.push(" WHERE id > ").push_bind(after.to_owned());
                }
                query.push(" ORDER BY id LIMIT ").push_bind(limit);
                Ok(query.build_query_as().fetch_all(self.pool()).await?)
            }
        }
    };
}

app_db!(
    portcullis::store::sqlite::SqliteStore,
    sqlx::Sqlite,
    push_sqlite
);
#[cfg(feature = "postgres")]
app_db!(
    portcullis::store::postgres::PostgresStore,
    sqlx::Postgres,
    push_postgres
);

/// Every id ada may view, paging through `accessible`.
async fn all_accessible<S: AclStore>(acl: &Acl<S>) -> Result<Vec<String>, BoxError> {
    let mut ids: Vec<String> = Vec::new();
    loop {
        let page = acl
            .accessible(
                &ada(),
                "docs",
                "document",
                Access::View,
                "acme",
                MAX_PAGE,
                ids.last().map(String::as_str),
            )
            .await?;
        let done = page.ids.len() < MAX_PAGE;
        ids.extend(page.ids);
        if done {
            return Ok(ids);
        }
    }
}

/// The list endpoint without the in-database filter: every accessible id, then the
/// application's rows in id order, kept in Rust when accessible, until a page is full.
async fn fetch_then_filter<S: AppDb>(
    acl: &Acl<S>,
    limit: usize,
) -> Result<Vec<(String, String)>, BoxError> {
    let ids: HashSet<String> = all_accessible(acl).await?.into_iter().collect();
    let mut page = Vec::with_capacity(limit);
    let mut after: Option<String> = None;
    loop {
        let rows = acl.store().rows_after(after.as_deref(), 1_000).await?;
        let Some(last) = rows.last() else {
            return Ok(page);
        };
        after = Some(last.0.clone());
        for row in rows {
            if ids.contains(&row.0) {
                page.push(row);
                if page.len() == limit {
                    return Ok(page);
                }
            }
        }
    }
}

/// The list endpoint with the in-database filter.
async fn filtered<S: AppDb>(acl: &Acl<S>, limit: usize) -> Result<Vec<(String, String)>, BoxError> {
    let filter = acl
        .filter(&ada(), "docs", "document", Access::View, "acme")
        .await?;
    acl.store()
        .filtered_page(&filter, i64::try_from(limit)?)
        .await
}

fn title(id: &str) -> String {
    let n: i64 = id[1..].parse().unwrap_or_else(|e| panic!("{id}: {e}"));
    format!("Document {n}")
}

/// Asserts `decision` is the expected answer to `asked`.
fn check(store: &str, asked: &Asked, decision: &Decision) {
    assert_eq!(
        decision.reason(),
        asked.reason,
        "{store}: {} {:?}",
        asked.key.id,
        asked.wanted
    );
}

/// Uncached `can`, `accessible` and the list endpoint on one SQL store; the cached `can` too.
fn sql_store<S: AppDb>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    label: &str,
    store: S,
    viewable: &[String],
    sample: &[Asked],
) {
    let ctx = ada();
    let uncached = engine(&store, false);

    // Uncached `can`: every answer checked, then the distribution, then criterion's mean.
    for asked in sample {
        let decision = rt
            .block_on(uncached.can(&ctx, &asked.key, asked.wanted))
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        check(label, asked, &decision);
    }
    let allowed = sample.iter().filter(|a| a.reason.allows()).count();
    println!(
        "acl/{label}/can_uncached sample: {allowed} allowed, {} refused",
        sample.len() - allowed
    );
    let times: Vec<Duration> = sample
        .iter()
        .map(|asked| {
            let started = Instant::now();
            let decision = rt.block_on(uncached.can(&ctx, &asked.key, asked.wanted));
            let took = started.elapsed();
            black_box(decision).unwrap_or_else(|e| panic!("{label}: {e}"));
            took
        })
        .collect();
    report(&format!("{label}/can_uncached"), times);
    // What one is made of: the store's one statement (`EntityStore::facts`) alone, and a bare
    // round trip to the database (`SELECT 1`).
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs(),
    )
    .unwrap_or(i64::MAX);
    let times: Vec<Duration> = sample
        .iter()
        .map(|asked| {
            let keys = std::slice::from_ref(&asked.key);
            let started = Instant::now();
            let facts = rt.block_on(store.facts(keys, "ada", now));
            let took = started.elapsed();
            let facts = facts.unwrap_or_else(|e| panic!("{label}: {e}"));
            assert!(facts[0].is_some(), "{label}: {} not found", asked.key.id);
            took
        })
        .collect();
    report(&format!("{label}/facts_statement"), times);
    let times: Vec<Duration> = sample
        .iter()
        .map(|_| {
            let started = Instant::now();
            rt.block_on(store.select_one())
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            started.elapsed()
        })
        .collect();
    report(&format!("{label}/select_1"), times);

    let mut group = c.benchmark_group(format!("acl_{label}"));
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(5));
    let mut next = 0;
    group.bench_function("can_uncached", |b| {
        b.iter(|| {
            let asked = &sample[next % sample.len()];
            next += 1;
            rt.block_on(uncached.can(&ctx, black_box(&asked.key), asked.wanted))
        })
    });

    // Cached `can`: warmed with the whole sample, then asked without waiting.
    let cached = engine(&store, true);
    for asked in sample {
        let decision = rt
            .block_on(cached.can(&ctx, &asked.key, asked.wanted))
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        check(label, asked, &decision);
        let again = ready(cached.can(&ctx, &asked.key, asked.wanted))
            .unwrap_or_else(|| panic!("{label}: not answered from the cache"))
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        check(label, asked, &again);
    }
    let mut next = 0;
    group.bench_function("can_cached", |b| {
        b.iter(|| {
            let asked = &sample[next % sample.len()];
            next += 1;
            ready(cached.can(&ctx, black_box(&asked.key), asked.wanted))
        })
    });

    // `accessible`: the first page, and one after a cursor in the middle.
    let middle = viewable.len() / 2;
    let cursor = viewable[middle].clone();
    let first = |acl: &Acl<S>| {
        rt.block_on(acl.accessible(&ctx, "docs", "document", Access::View, "acme", PAGE, None))
            .unwrap_or_else(|e| panic!("{label}: {e}"))
    };
    let later = |acl: &Acl<S>| {
        rt.block_on(acl.accessible(
            &ctx,
            "docs",
            "document",
            Access::View,
            "acme",
            PAGE,
            Some(&cursor),
        ))
        .unwrap_or_else(|e| panic!("{label}: {e}"))
    };
    let page = first(&uncached);
    assert!(!page.full_access);
    assert_eq!(page.ids, viewable[..PAGE], "{label}: first page");
    assert_eq!(
        later(&uncached).ids,
        viewable[middle + 1..middle + 1 + PAGE],
        "{label}: page after {cursor}"
    );
    let runs = 200;
    let times = (0..runs)
        .map(|_| {
            let started = Instant::now();
            black_box(first(&uncached));
            started.elapsed()
        })
        .collect();
    report(&format!("{label}/accessible_first_page"), times);
    let times = (0..runs)
        .map(|_| {
            let started = Instant::now();
            black_box(later(&uncached));
            started.elapsed()
        })
        .collect();
    report(&format!("{label}/accessible_after_cursor"), times);
    group.bench_function("accessible_first_page", |b| b.iter(|| first(&uncached)));
    group.bench_function("accessible_after_cursor", |b| b.iter(|| later(&uncached)));

    // The list endpoint: the in-database filter against every id fetched then filtered.
    let expected: Vec<(String, String)> = viewable[..PAGE]
        .iter()
        .map(|id| (id.clone(), title(id)))
        .collect();
    let in_db = rt
        .block_on(filtered(&uncached, PAGE))
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(in_db, expected, "{label}: the filtered page");
    let all = rt
        .block_on(all_accessible(&uncached))
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(all, viewable, "{label}: every accessible id");
    let fetched = rt
        .block_on(fetch_then_filter(&uncached, PAGE))
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(fetched, expected, "{label}: the page filtered in Rust");
    let times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            black_box(rt.block_on(filtered(&uncached, PAGE)))
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            started.elapsed()
        })
        .collect();
    let in_db_p50 = {
        let mut sorted = times.clone();
        sorted.sort_unstable();
        sorted[sorted.len() / 2]
    };
    report(&format!("{label}/list_in_db_filter"), times);
    let slow_runs = 5;
    let times: Vec<Duration> = (0..slow_runs)
        .map(|_| {
            let started = Instant::now();
            black_box(rt.block_on(fetch_then_filter(&uncached, PAGE)))
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            started.elapsed()
        })
        .collect();
    let fetch_p50 = {
        let mut sorted = times.clone();
        sorted.sort_unstable();
        sorted[sorted.len() / 2]
    };
    report(&format!("{label}/list_fetch_ids_then_filter"), times);
    println!(
        "acl/{label}/list_ratio fetch_then_filter/in_db_filter={:.0} (p50s)",
        fetch_p50.as_secs_f64() / in_db_p50.as_secs_f64()
    );
    group.bench_function("list_in_db_filter", |b| {
        b.iter(|| rt.block_on(filtered(&uncached, PAGE)))
    });
    group.finish();
}

/// The same-run baselines: the role policy's answer to one check, and the memory store's
/// uncached `can` over the same data.
fn baselines(c: &mut Criterion, rt: &tokio::runtime::Runtime, sample: &[Asked]) {
    let mut group = c.benchmark_group("acl_baseline");
    let policy = RolePolicy::default();
    let token = UserContext::new("load", AuthMethod::Bearer)
        .with_roles(["viewer"])
        .with_tenant("acme")
        .with_permissions(policy.permissions_for(&["viewer".to_owned()]));
    let catalog = Requirement::Permission(permission("read:Catalog"));
    let acme = Scope::tenant("acme").unwrap_or_else(|e| panic!("{e}"));
    let question = || Question::new(&token, &catalog, &acme);
    assert_eq!(
        ready(policy.decide(question())).map(|d| d.reason()),
        Some(Reason::Allow)
    );
    group.bench_function("role_policy_allow", |b| {
        b.iter(|| ready(policy.decide(black_box(question()))))
    });

    let started = Instant::now();
    let store = rt
        .block_on(memory_store())
        .unwrap_or_else(|e| panic!("memory: {e}"));
    println!(
        "acl/memory/seed seconds={:.1} (through the engine)",
        started.elapsed().as_secs_f64()
    );
    let acl = engine(&store, false);
    let ctx = ada();
    for asked in sample {
        let decision = ready(acl.can(&ctx, &asked.key, asked.wanted))
            .unwrap_or_else(|| panic!("memory: waited"))
            .unwrap_or_else(|e| panic!("memory: {e}"));
        check("memory", asked, &decision);
    }
    let mut next = 0;
    group.bench_function("memory_can_uncached", |b| {
        b.iter(|| {
            let asked = &sample[next % sample.len()];
            next += 1;
            ready(acl.can(&ctx, black_box(&asked.key), asked.wanted))
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let viewable = viewable();
    let sample = sample(&viewable);
    println!(
        "acl/model viewable={} of {DOCUMENTS} documents, sample={}",
        viewable.len(),
        sample.len()
    );
    baselines(c, &rt, &sample);
    let sqlite = rt
        .block_on(sqlite_store())
        .unwrap_or_else(|e| panic!("sqlite: {e}"));
    sql_store(c, &rt, "sqlite", sqlite, &viewable, &sample);
    postgres(c, &rt, &viewable, &sample);
}

#[cfg(feature = "postgres")]
fn postgres(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    viewable: &[String],
    sample: &[Asked],
) {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("acl_postgres skipped: DATABASE_URL is not set");
        return;
    };
    let store = rt
        .block_on(postgres_store(&url))
        .unwrap_or_else(|e| panic!("postgres: {e}"));
    sql_store(c, rt, "postgres", store, viewable, sample);
}

#[cfg(not(feature = "postgres"))]
fn postgres(_: &mut Criterion, _: &tokio::runtime::Runtime, _: &[String], _: &[Asked]) {
    eprintln!("acl_postgres skipped: build with --features postgres");
}

criterion_group!(acl, benches);
criterion_main!(acl);
