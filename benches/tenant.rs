//! Tenant roles on the decision seam: a cached tenant-scoped check against the `RolePolicy`'s
//! answer (today's check) in the same run; the enrichment of a subject holding 1,000 roles in a
//! 10-deep hierarchy across 4 namespace levels, cold from SQLite (and from PostgreSQL when
//! `DATABASE_URL` is set and the `postgres` feature is on) and cached; a write followed by the
//! next check.
//!
//! ```text
//! cargo bench --bench tenant
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench tenant --features postgres
//! ```
//!
//! The tenant `acme` has 100 chains of 10 roles each (a role's parent is the one above it in its
//! chain); chain `c` lives at namespace level `c % 4` of `eng/platform/sre` (the root, `eng`,
//! `eng/platform`, `eng/platform/sre`) and each role grants one permission of its own. `ada` is
//! assigned the deepest role of every chain, so at `eng/platform/sre` she holds all 1,000.
//! Every timed answer is checked first (allowed where it should be, refused where it should be),
//! so a figure never measures a wrong answer.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use portcullis::authz::Decision;
use portcullis::authz::{Authorizer, Question, Scope};
use portcullis::rbac::{Permission, RolePolicy};
use portcullis::store::{Grant, MemoryStore, SubjectKind};
use portcullis::tenant::{NewAssignment, NewRole, Tenancy, TenantStore};
use portcullis::{AuthMethod, Reason, Requirement, UserContext};

const CHAINS: usize = 100;
const DEPTH: usize = 10;
const NAMESPACES: [&str; 4] = ["", "eng", "eng/platform", "eng/platform/sre"];
/// Where the big checks are asked: every level's roles apply there.
const DEEPEST: &str = "eng/platform/sre";

type BoxError = Box<dyn std::error::Error>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

fn permission(text: &str) -> Permission {
    Permission::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn read(chain: usize, depth: usize) -> Requirement {
    Requirement::Permission(permission(&format!("read:Area{chain}.Part{depth}")))
}

/// The decision if it is ready without waiting (a cached answer), else `None`.
fn ready<A: Authorizer>(authorizer: &A, question: Question<'_>) -> Option<Decision> {
    let mut future = pin!(authorizer.decide(question));
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(decision) => Some(decision),
        Poll::Pending => None,
    }
}

/// The decision, waiting for the store if it must.
fn decide<S: TenantStore>(
    rt: &tokio::runtime::Runtime,
    tenancy: &Tenancy<S>,
    ctx: &UserContext,
    required: &Requirement,
    at: &Scope,
) -> Decision {
    rt.block_on(tenancy.decide(Question::new(ctx, required, at)))
}

/// The 100 chains of 10 roles, and `ada` holding the deepest of each.
async fn seed<S: TenantStore>(tenancy: &Tenancy<S>) -> Result<(), BoxError> {
    for chain in 0..CHAINS {
        let namespace = NAMESPACES[chain % NAMESPACES.len()];
        let mut deepest = None;
        for depth in 0..DEPTH {
            let grant = Grant::Permission(permission(&format!("read:Area{chain}.Part{depth}")));
            let mut role = NewRole::new(namespace, &format!("c{chain}-r{depth}")).grant(grant);
            if depth > 0 {
                role = role.parent(&format!("c{chain}-r{}", depth - 1));
            }
            deepest = Some(tenancy.create_role("acme", role).await?);
        }
        let role = deepest.ok_or("no role")?;
        tenancy
            .assign(
                "acme",
                NewAssignment::new(&role.id, SubjectKind::User, "ada").granted_by("bench"),
            )
            .await?;
    }
    Ok(())
}

/// A cached tenant check beside the role policy's answer to the same question.
fn cached_check(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("tenant_check");

    // Today's check: a token's role resolved by the policy, asked by the seam's default.
    let policy = RolePolicy::default();
    let token_ctx = UserContext::new("load", AuthMethod::Bearer)
        .with_roles(["viewer"])
        .with_tenant("acme")
        .with_permissions(policy.permissions_for(&["viewer".to_owned()]));
    let catalog = Requirement::Permission(permission("read:Catalog"));
    let acme = Scope::tenant("acme").unwrap_or_else(|e| panic!("{e}"));
    let question = || Question::new(&token_ctx, &catalog, &acme);
    assert_eq!(
        ready(&policy, question()).map(|d| d.reason()),
        Some(Reason::Allow)
    );
    group.bench_function("role_policy_allow (baseline)", |b| {
        b.iter(|| ready(&policy, black_box(question())))
    });

    // A user's own login in acme, holding one stored role there.
    let small = Tenancy::new(MemoryStore::new());
    let reader = rt
        .block_on(small.create_role(
            "acme",
            NewRole::new("", "reader").grant(Grant::Permission(permission("read:Catalog"))),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(small.assign(
        "acme",
        NewAssignment::new(&reader.id, SubjectKind::User, "load").granted_by("bench"),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let user = UserContext::new("load", AuthMethod::Bearer);
    let write = Requirement::Permission(permission("write:Catalog"));
    assert_eq!(
        decide(&rt, &small, &user, &catalog, &acme).reason(),
        Reason::Allow
    );
    assert_eq!(
        decide(&rt, &small, &user, &write, &acme).reason(),
        Reason::DenyNoPermission
    );
    let ask = |required| Question::new(&user, required, &acme);
    assert!(
        ready(&small, ask(&catalog)).is_some(),
        "not answered from the cache"
    );
    group.bench_function("stored_role_allow", |b| {
        b.iter(|| ready(&small, black_box(ask(&catalog))))
    });
    group.bench_function("stored_role_deny", |b| {
        b.iter(|| ready(&small, black_box(ask(&write))))
    });

    // The same token as the baseline, asked of the tenant engine: its own roles allow, before
    // any cache.
    assert_eq!(
        ready(&small, question()).map(|d| d.reason()),
        Some(Reason::Allow)
    );
    group.bench_function("token_roles_allow", |b| {
        b.iter(|| ready(&small, black_box(question())))
    });

    // Ada holding 1,000 roles at the deepest namespace.
    let big = Tenancy::new(MemoryStore::new());
    rt.block_on(seed(&big)).unwrap_or_else(|e| panic!("{e}"));
    let ada = UserContext::new("ada", AuthMethod::Bearer);
    let deep = Scope::tenant("acme")
        .and_then(|s| s.in_namespace(DEEPEST))
        .unwrap_or_else(|e| panic!("{e}"));
    let top = read(CHAINS - 1, 0);
    let missing = Requirement::Permission(permission("write:Area0"));
    assert_eq!(decide(&rt, &big, &ada, &top, &deep).reason(), Reason::Allow);
    assert_eq!(
        decide(&rt, &big, &ada, &missing, &deep).reason(),
        Reason::DenyNoPermission
    );
    let ask_ada = |required| Question::new(&ada, required, &deep);
    assert!(
        ready(&big, ask_ada(&top)).is_some(),
        "not answered from the cache"
    );
    group.bench_function("1000_roles_allow", |b| {
        b.iter(|| ready(&big, black_box(ask_ada(&top))))
    });
    group.bench_function("1000_roles_deny", |b| {
        b.iter(|| ready(&big, black_box(ask_ada(&missing))))
    });
    group.finish();
}

/// Enrichment of ada at the deepest namespace: cold (a new engine over the seeded store: the
/// tenant's 1,000 roles and her assignments read and compiled), after a write to the tenant's
/// assignments (her assignments read again, the graph kept), and cached.
fn enrichment_of<S: TenantStore>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    label: &str,
    store: S,
) {
    let seeded = Tenancy::new(store.clone());
    rt.block_on(seed(&seeded))
        .unwrap_or_else(|e| panic!("seed {label}: {e}"));
    let ada = UserContext::new("ada", AuthMethod::Bearer);
    let deep = Scope::tenant("acme")
        .and_then(|s| s.in_namespace(DEEPEST))
        .unwrap_or_else(|e| panic!("{e}"));
    // Inherited through the whole chain, from a role at the root namespace.
    let inherited = read(0, 0);
    let mut group = c.benchmark_group(format!("tenant_enrichment_{label}"));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("cold", |b| {
        b.iter_batched(
            || Tenancy::new(store.clone()),
            |cold| {
                let decision = decide(rt, &cold, &ada, &inherited, &deep);
                assert_eq!(decision.reason(), Reason::Allow);
                cold
            },
            BatchSize::PerIteration,
        )
    });
    let warm = Tenancy::new(store.clone());
    let bob_role = rt
        .block_on(warm.role_by_slug("acme", "", "c0-r0"))
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("c0-r0 missing"));
    group.bench_function("after_an_assignment_write", |b| {
        b.iter_batched(
            || {
                // Someone else's assignment changes: the tenant's answers are stale, its graph
                // is not.
                let given = rt
                    .block_on(warm.assign(
                        "acme",
                        NewAssignment::new(&bob_role.id, SubjectKind::User, "bob"),
                    ))
                    .unwrap_or_else(|e| panic!("{e}"));
                rt.block_on(warm.unassign("acme", &given.id))
                    .unwrap_or_else(|e| panic!("{e}"));
            },
            |()| {
                let decision = decide(rt, &warm, &ada, &inherited, &deep);
                assert_eq!(decision.reason(), Reason::Allow);
            },
            BatchSize::PerIteration,
        )
    });
    assert_eq!(
        decide(rt, &warm, &ada, &inherited, &deep).reason(),
        Reason::Allow
    );
    group.bench_function("cached", |b| {
        b.iter(|| ready(&warm, black_box(Question::new(&ada, &inherited, &deep))))
    });
    group.finish();
}

fn enrichment(c: &mut Criterion) {
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("portcullis-bench-tenant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let sqlite = rt
        .block_on(portcullis::store::sqlite::SqliteStore::open(
            dir.join("bench.db"),
        ))
        .unwrap_or_else(|e| panic!("sqlite: {e}"));
    enrichment_of(c, &rt, "sqlite", sqlite);
    let _ = std::fs::remove_dir_all(&dir);
    enrichment_postgres(c, &rt);
}

#[cfg(feature = "postgres")]
fn enrichment_postgres(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    use portcullis::store::postgres::PostgresStore;
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("tenant_enrichment_postgres skipped: DATABASE_URL is not set");
        return;
    };
    let schema = format!("bench_tenant_{}", std::process::id());
    let store = rt
        .block_on(PostgresStore::connect_in_schema(&url, &schema))
        .unwrap_or_else(|e| panic!("postgres: {e}"));
    enrichment_of(c, rt, "postgres", store.clone());
    let dropped =
        rt.block_on(sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(store.pool()));
    if let Err(e) = dropped {
        eprintln!("schema {schema} left behind: {e}");
    }
}

#[cfg(not(feature = "postgres"))]
fn enrichment_postgres(_: &mut Criterion, _: &tokio::runtime::Runtime) {
    eprintln!("tenant_enrichment_postgres skipped: build with --features postgres");
}

/// A write through the engine, then the next check: it sees the write (asserted every time).
fn write_then_check(c: &mut Criterion) {
    let rt = runtime();
    let tenancy = Tenancy::new(MemoryStore::new());
    let reader = rt
        .block_on(tenancy.create_role(
            "acme",
            NewRole::new("", "reader").grant(Grant::Permission(permission("read:Catalog"))),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let user = UserContext::new("load", AuthMethod::Bearer);
    let catalog = Requirement::Permission(permission("read:Catalog"));
    let acme = Scope::tenant("acme").unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("tenant_write_then_check");
    group.bench_function("assign_check_unassign_check_memory", |b| {
        b.iter(|| {
            let given = rt
                .block_on(tenancy.assign(
                    "acme",
                    NewAssignment::new(&reader.id, SubjectKind::User, "load"),
                ))
                .unwrap_or_else(|e| panic!("{e}"));
            let allowed = decide(&rt, &tenancy, &user, &catalog, &acme);
            assert_eq!(
                allowed.reason(),
                Reason::Allow,
                "the assignment was not seen"
            );
            rt.block_on(tenancy.unassign("acme", &given.id))
                .unwrap_or_else(|e| panic!("{e}"));
            let refused = decide(&rt, &tenancy, &user, &catalog, &acme);
            assert_eq!(
                refused.reason(),
                Reason::DenyNoRoles,
                "the unassign was not seen"
            );
        })
    });
    group.finish();
}

criterion_group!(benches, cached_check, enrichment, write_then_check);
criterion_main!(benches);
