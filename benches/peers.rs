//! The same RBAC model checked by portcullis, by casbin-rs (`Enforcer` and `CachedEnforcer`) and
//! by cedar-policy, on the same generated users, roles and queries, in one run.
//!
//! `cargo bench --bench peers`
//!
//! # The model
//!
//! Users hold roles; a role holds permission grants `action:scope`; a grant on a scope covers
//! every scope below it (`write:Domain7.Entity2` covers `write:Domain7.Entity2.Field0.Sub1`).
//! Grants have the three shapes of a domain model: a domain-wide `read:DomainN`, a
//! `write:DomainN.EntityM` and a `delete:DomainN.EntityM.FieldK` (5 entities per domain, 4 fields
//! per entity).
//!
//! # The data
//!
//! Generated in this file by a splitmix64 generator with a fixed seed, so every run and every
//! engine sees the same data. Three sizes, by the total number of role grants:
//!
//! | size    | roles | grants per role | domains |
//! |---------|-------|-----------------|---------|
//! | 10      | 3     | 3–4             | 1       |
//! | 1100    | 20    | 55              | 110     |
//! | 110000  | 100   | 1,100           | 11,000  |
//!
//! Each role's grants are distinct, drawn at random (1 in 10 a domain-wide read, 5 in 10 an entity
//! write, 4 in 10 a field delete). 300 users hold 1 to 3 distinct roles each, at random.
//!
//! Queries are (user, permission) pairs near the grants of a role the user usually holds (4 in 5;
//! otherwise any user): the grant itself, one or two levels below it, or (the deny side) a
//! sibling scope, the same scope with another action, the parent scope, or the same scope in a
//! domain that does not exist. About half are allowed. Each size has 4,096 queries drawn from 128
//! such permissions (a service's routes, the rows without a suffix); the 110,000-grant size also
//! has a `_spread` list of 16,384 queries over 16,384 distinct permissions.
//!
//! # The agreement checks
//!
//! Every query's expected answer comes from a naive evaluator: the user's roles' grants, scanned
//! linearly with `Permission::covers`, the crate's reference definition of matching. Before
//! anything is timed, every engine is asserted to agree with it on every query it is then timed
//! on: portcullis (both rows) on every query of every list; casbin `Enforcer`, `CachedEnforcer`
//! and cedar on all 4,096 queries at 10 and 1,100 grants, and on a sample of 32 (16 allowed, 16
//! denied) at 110,000, where one casbin or cedar call costs a tenth of a second or more. The
//! counts checked are printed.
//!
//! # What one timed call does
//!
//! Each benchmark cycles through its query list, one query per iteration.
//!
//! - `portcullis`: what the gateway does per request for a cached credential. The verified-token
//!   cache hands out a clone of the `UserContext` built once per token (`UserContext::new(sub,
//!   AuthMethod::Bearer).with_roles(roles)`, one per user, built before timing); the gateway runs
//!   the `RolePolicy` enricher on it (`Enricher::enrich`, a future that is ready at once, polled
//!   here with a no-op waker and asserted ready), which resolves the roles to their compiled
//!   permission set; the extractor checks `ctx.has_permission(&permission)`; the context is
//!   dropped.
//! - `harness`: the loop alone (fetching the next query); subtract it from the other rows to
//!   get one call's own cost.
//! - `portcullis_cold`: `policy.permissions_for(roles).allows(&permission)` on the user's role
//!   slice, with no context (what a context never seen before costs beyond its construction).
//! - `casbin`: `Enforcer::enforce((user, scope, action))` on an RBAC model with `g` (one policy
//!   line `p, role, scope, action` per role grant, one `g, user, role` line per held role); the
//!   matcher `r.obj == p.obj || keyMatch(r.obj, p.obj + ".*")` gives the same coverage. casbin
//!   resolves the user's roles itself on every call.
//! - `casbin_cached`: the same through `CachedEnforcer`, whose cache is replaced by casbin's
//!   `DefaultCache` sized for every distinct query and wrapped to count hits and misses (casbin's
//!   `cached` feature). The agreement check fills the cache (its hit rate is printed), so the
//!   timed run is the hit path; its hit rate (warm-up included) is printed after it.
//! - `cedar`: `Authorizer::is_authorized` on a request built before timing. Principals are
//!   `User::"uN"` entities whose parents are their `Role::"roleR"` entities; there is one
//!   `permit(principal in Role::"roleR", action == Action::"a", resource in Scope::"s");` per role
//!   grant, and every queried scope is a `Scope` entity with its ancestors as parents, so `in`
//!   gives the same coverage.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::collections::HashSet;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use casbin::{
    Cache, CachedApi, CachedEnforcer, CoreApi, DefaultCache, DefaultModel, Enforcer, MemoryAdapter,
    MgmtApi,
};
use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};
use portcullis::rbac::{Permission, Role, RolePolicy};
use portcullis::{AuthMethod, Enricher, UserContext};

const MODEL: &str = r#"
[request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[role_definition]
g = _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub) && (r.obj == p.obj || keyMatch(r.obj, p.obj + ".*")) && r.act == p.act
"#;

const SEED: u64 = 0x5EED_0014;
const ENTITIES: usize = 5;
const FIELDS: usize = 4;
const ACTIONS: [&str; 3] = ["read", "write", "delete"];
const USERS: usize = 300;
/// Queries per size.
const QUERIES: usize = 4_096;
/// Distinct-ish permissions the 4,096 queries are drawn from.
const ROUTES: usize = 128;
/// Queries (each a distinct permission) of the `_spread` lists.
const SPREAD: usize = 16_384;
/// Queries casbin and cedar are checked and timed on at 110,000 grants (half allowed).
const SLOW_SAMPLE: usize = 32;

/// One size of the model.
struct Size {
    label: &'static str,
    grants: usize,
    roles: usize,
    domains: usize,
    /// Whether casbin and cedar run on a sample only (and time with few samples).
    big: bool,
}

const SIZES: [Size; 3] = [
    Size {
        label: "10",
        grants: 10,
        roles: 3,
        domains: 1,
        big: false,
    },
    Size {
        label: "1100",
        grants: 1_100,
        roles: 20,
        domains: 110,
        big: false,
    },
    Size {
        label: "110000",
        grants: 110_000,
        roles: 100,
        domains: 11_000,
        big: true,
    },
];

/// splitmix64: small, fast and good enough to spread the data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }
}

fn parse(text: &str) -> Permission {
    Permission::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// A random scope segment at `depth` (0: a domain, 1: an entity, 2: a field, deeper: a sub-part).
fn segment(rng: &mut Rng, depth: usize, domains: usize) -> String {
    match depth {
        0 => format!("Domain{}", rng.below(domains)),
        1 => format!("Entity{}", rng.below(ENTITIES)),
        2 => format!("Field{}", rng.below(FIELDS)),
        _ => format!("Sub{}", rng.below(3)),
    }
}

fn random_grant(rng: &mut Rng, domains: usize) -> Permission {
    let domain = segment(rng, 0, domains);
    let text = match rng.below(10) {
        0 => format!("read:{domain}"),
        1..=5 => format!("write:{domain}.{}", segment(rng, 1, domains)),
        _ => format!(
            "delete:{domain}.{}.{}",
            segment(rng, 1, domains),
            segment(rng, 2, domains)
        ),
    };
    parse(&text)
}

struct User {
    name: String,
    /// Role names, sorted (as `UserContext` keeps them).
    roles: Vec<String>,
    role_ids: Vec<usize>,
}

struct World {
    roles: Vec<Role>,
    users: Vec<User>,
    /// Users holding each role.
    holders: Vec<Vec<usize>>,
    /// Roles held by at least one user.
    held: Vec<usize>,
    domains: usize,
}

impl World {
    fn generate(size: &Size, rng: &mut Rng) -> Self {
        let mut roles = Vec::with_capacity(size.roles);
        for r in 0..size.roles {
            let quota = size.grants / size.roles + usize::from(r < size.grants % size.roles);
            let mut seen = HashSet::with_capacity(quota);
            let mut grants = Vec::with_capacity(quota);
            while grants.len() < quota {
                let grant = random_grant(rng, size.domains);
                if seen.insert(grant.clone()) {
                    grants.push(grant);
                }
            }
            roles.push(Role::new(format!("role{r}")).with_grants(grants, []));
        }
        let mut holders = vec![Vec::new(); size.roles];
        let mut users = Vec::with_capacity(USERS);
        for u in 0..USERS {
            let want = 1 + rng.below(3.min(size.roles));
            let mut role_ids = Vec::with_capacity(want);
            while role_ids.len() < want {
                let r = rng.below(size.roles);
                if !role_ids.contains(&r) {
                    role_ids.push(r);
                }
            }
            for &r in &role_ids {
                holders[r].push(u);
            }
            let mut names: Vec<String> = role_ids
                .iter()
                .map(|&r| roles[r].name().to_owned())
                .collect();
            names.sort_unstable();
            users.push(User {
                name: format!("u{u}"),
                roles: names,
                role_ids,
            });
        }
        let held = (0..size.roles)
            .filter(|&r| !holders[r].is_empty())
            .collect();
        Self {
            roles,
            users,
            holders,
            held,
            domains: size.domains,
        }
    }

    fn grant_count(&self) -> usize {
        self.roles.iter().map(|r| r.permissions().len()).sum()
    }

    /// The reference answer: the user's roles' grants, scanned linearly.
    fn reference(&self, user: usize, permission: &Permission) -> bool {
        self.users[user].role_ids.iter().any(|&r| {
            self.roles[r]
                .permissions()
                .iter()
                .any(|g| g.covers(permission))
        })
    }

    /// A permission near one of a held role's grants, and that role.
    fn near_grant(&self, rng: &mut Rng) -> (Permission, usize) {
        let role = self.held[rng.below(self.held.len())];
        let grants = self.roles[role].permissions();
        let grant = &grants[rng.below(grants.len())];
        let action = grant.action();
        let scope = grant.scope();
        let segments: Vec<&str> = grant.segments().collect();
        let depth = segments.len();
        let text = if rng.percent(60) {
            match rng.below(3) {
                0 => grant.as_str().to_owned(),
                1 => format!("{action}:{scope}.{}", segment(rng, depth, self.domains)),
                _ => format!(
                    "{action}:{scope}.{}.{}",
                    segment(rng, depth, self.domains),
                    segment(rng, depth + 1, self.domains)
                ),
            }
        } else {
            match rng.below(4) {
                // A sibling: the last segment redrawn (now and then the grant itself).
                0 => {
                    let mut scope: Vec<String> = segments.iter().map(|s| (*s).to_owned()).collect();
                    scope[depth - 1] = segment(rng, depth - 1, self.domains);
                    format!("{action}:{}", scope.join("."))
                }
                // The same scope with another action.
                1 => {
                    let others: Vec<&str> = ACTIONS.into_iter().filter(|a| *a != action).collect();
                    format!("{}:{scope}", others[rng.below(others.len())])
                }
                // The parent scope.
                2 if depth > 1 => format!("{action}:{}", segments[..depth - 1].join(".")),
                // The same scope in a domain that does not exist.
                _ => {
                    let mut scope: Vec<String> = segments.iter().map(|s| (*s).to_owned()).collect();
                    scope[0] = format!("Domain{}", self.domains + rng.below(8));
                    format!("{action}:{}", scope.join("."))
                }
            }
        };
        (parse(&text), role)
    }

    /// A user holding `role` (4 times in 5), else any user.
    fn user_for(&self, rng: &mut Rng, role: usize) -> usize {
        let holders = &self.holders[role];
        if rng.percent(80) {
            holders[rng.below(holders.len())]
        } else {
            rng.below(self.users.len())
        }
    }

    fn query(&self, rng: &mut Rng, permission: &Permission, role: usize) -> Query {
        let user = self.user_for(rng, role);
        Query {
            user,
            permission: permission.clone(),
            allowed: self.reference(user, permission),
        }
    }

    /// 4,096 queries over 128 permissions.
    fn queries(&self, rng: &mut Rng) -> Vec<Query> {
        let routes: Vec<(Permission, usize)> = (0..ROUTES).map(|_| self.near_grant(rng)).collect();
        (0..QUERIES)
            .map(|_| {
                let (permission, role) = &routes[rng.below(routes.len())];
                self.query(rng, permission, *role)
            })
            .collect()
    }

    /// 16,384 queries, each with its own permission.
    fn spread(&self, rng: &mut Rng) -> Vec<Query> {
        let mut seen = HashSet::with_capacity(SPREAD);
        let mut out = Vec::with_capacity(SPREAD);
        while out.len() < SPREAD {
            let (permission, role) = self.near_grant(rng);
            if seen.insert(permission.clone()) {
                out.push(self.query(rng, &permission, role));
            }
        }
        out
    }
}

#[derive(Clone)]
struct Query {
    user: usize,
    permission: Permission,
    /// The reference answer.
    allowed: bool,
}

fn distinct_permissions(queries: &[Query]) -> usize {
    queries
        .iter()
        .map(|q| &q.permission)
        .collect::<HashSet<_>>()
        .len()
}

/// The first `n / 2` allowed and `n / 2` denied queries.
fn balanced_sample(queries: &[Query], n: usize) -> Vec<Query> {
    let allowed = queries.iter().filter(|q| q.allowed).take(n / 2);
    let denied = queries.iter().filter(|q| !q.allowed).take(n / 2);
    let sample: Vec<Query> = allowed.chain(denied).cloned().collect();
    assert_eq!(sample.len(), n, "too few allows or denies to sample");
    sample
}

/// Asserts `engine` agrees with the reference on every query, and says how many it checked.
fn check(
    label: &str,
    engine: &str,
    queries: &[Query],
    mut says: impl FnMut(usize, &Query) -> bool,
) {
    for (i, q) in queries.iter().enumerate() {
        let got = says(i, q);
        assert_eq!(
            got, q.allowed,
            "{engine} at {label}: user u{} asking {} got {got}, the reference says {}",
            q.user, q.permission, q.allowed
        );
    }
    let allowed = queries.iter().filter(|q| q.allowed).count();
    eprintln!(
        "agree {label:>6} {engine:<22} {:>6} queries: {allowed:>5} allow, {:>5} deny",
        queries.len(),
        queries.len() - allowed
    );
}

/// What the gateway does with a cached credential's context: clone it and run the role policy
/// enricher on the clone.
fn enriched(policy: &RolePolicy, cached: &UserContext, cx: &mut TaskContext<'_>) -> UserContext {
    let mut ctx = cached.clone();
    {
        let mut enrich = Enricher::enrich(policy, &mut ctx);
        match Pin::new(&mut enrich).poll(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => panic!("enrichment failed: {e}"),
            Poll::Pending => panic!("RolePolicy enrichment is ready at once"),
        }
    }
    ctx
}

/// One request as the gateway handles it for a cached credential: clone the cached context,
/// enrich it, check the permission (then the context is dropped).
fn portcullis_call(
    policy: &RolePolicy,
    cached: &UserContext,
    permission: &Permission,
    cx: &mut TaskContext<'_>,
) -> bool {
    enriched(policy, cached, cx).has_permission(permission)
}

#[derive(Default)]
struct Counts {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Counts {
    /// (hits, misses) since the last call.
    fn take(&self) -> (u64, u64) {
        (
            self.hits.swap(0, Ordering::Relaxed),
            self.misses.swap(0, Ordering::Relaxed),
        )
    }
}

fn hit_rate((hits, misses): (u64, u64)) -> String {
    let total = hits + misses;
    let rate = if total == 0 {
        0.0
    } else {
        100.0 * hits as f64 / total as f64
    };
    format!("{hits} hits, {misses} misses ({rate:.1}% hits)")
}

/// casbin's own cache, counting its hits and misses.
struct CountingCache {
    inner: DefaultCache<u64, bool>,
    counts: Arc<Counts>,
}

impl Cache<u64, bool> for CountingCache {
    fn get(&self, k: &u64) -> Option<bool> {
        let found = self.inner.get(k);
        let counter = if found.is_some() {
            &self.counts.hits
        } else {
            &self.counts.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn has(&self, k: &u64) -> bool {
        self.inner.has(k)
    }

    fn set(&self, k: u64, v: bool) {
        self.inner.set(k, v);
    }

    fn clear(&self) {
        self.inner.clear();
    }
}

async fn casbin_engine<E: CoreApi + MgmtApi>(world: &World) -> E {
    let model = DefaultModel::from_str(MODEL)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut engine = E::new(model, MemoryAdapter::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let rules: Vec<Vec<String>> = world
        .roles
        .iter()
        .flat_map(|role| {
            role.permissions().iter().map(|p| {
                vec![
                    role.name().to_owned(),
                    p.scope().to_owned(),
                    p.action().to_owned(),
                ]
            })
        })
        .collect();
    engine
        .add_policies(rules)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let links: Vec<Vec<String>> = world
        .users
        .iter()
        .flat_map(|u| u.roles.iter().map(|r| vec![u.name.clone(), r.clone()]))
        .collect();
    engine
        .add_grouping_policies(links)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    engine
}

fn casbin_says(engine: &impl CoreApi, world: &World, q: &Query) -> bool {
    let user = world.users[q.user].name.as_str();
    engine
        .enforce((user, q.permission.scope(), q.permission.action()))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn cedar_entities(world: &World, queries: &[Query]) -> Entities {
    let mut list = Vec::new();
    for user in &world.users {
        let parents: Vec<serde_json::Value> = user
            .roles
            .iter()
            .map(|r| serde_json::json!({"type": "Role", "id": r}))
            .collect();
        list.push(serde_json::json!({"uid": {"type": "User", "id": user.name}, "attrs": {}, "parents": parents}));
    }
    for role in &world.roles {
        list.push(serde_json::json!({"uid": {"type": "Role", "id": role.name()}, "attrs": {}, "parents": []}));
    }
    let mut seen = HashSet::new();
    for q in queries {
        let segments: Vec<&str> = q.permission.segments().collect();
        for depth in 1..=segments.len() {
            let id = segments[..depth].join(".");
            if !seen.insert(id.clone()) {
                continue;
            }
            let parents: Vec<serde_json::Value> = if depth > 1 {
                vec![serde_json::json!({"type": "Scope", "id": segments[..depth - 1].join(".")})]
            } else {
                vec![]
            };
            list.push(serde_json::json!({"uid": {"type": "Scope", "id": id}, "attrs": {}, "parents": parents}));
        }
    }
    Entities::from_json_value(serde_json::Value::Array(list), None)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn cedar_policies(world: &World) -> PolicySet {
    let text: String = world
        .roles
        .iter()
        .flat_map(|role| {
            role.permissions().iter().map(|p| {
                format!(
                    "permit(principal in Role::\"{}\", action == Action::\"{}\", resource in Scope::\"{}\");\n",
                    role.name(),
                    p.action(),
                    p.scope()
                )
            })
        })
        .collect();
    PolicySet::from_str(&text).unwrap_or_else(|e| panic!("{e}"))
}

fn cedar_request(world: &World, q: &Query) -> Request {
    let uid = |text: String| EntityUid::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    Request::new(
        uid(format!(r#"User::"{}""#, world.users[q.user].name)),
        uid(format!(r#"Action::"{}""#, q.permission.action())),
        uid(format!(r#"Scope::"{}""#, q.permission.scope())),
        Context::empty(),
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Everything one size needs, built and checked before anything is timed.
struct Prepared {
    label: &'static str,
    big: bool,
    world: World,
    policy: RolePolicy,
    /// One context per user, as the verified-token cache keeps them.
    contexts: Vec<UserContext>,
    queries: Vec<Query>,
    /// Only at 110,000 grants.
    spread: Vec<Query>,
    /// What casbin and cedar are checked and timed on.
    slow: Vec<Query>,
    enforcer: Enforcer,
    cached: CachedEnforcer,
    counts: Arc<Counts>,
    cedar_policies: PolicySet,
    cedar_entities: Entities,
    cedar_requests: Vec<Request>,
}

fn prepare(
    size: &Size,
    rng: &mut Rng,
    runtime: &tokio::runtime::Runtime,
    cx: &mut TaskContext<'_>,
) -> Prepared {
    let label = size.label;
    let world = World::generate(size, rng);
    assert_eq!(
        world.grant_count(),
        size.grants,
        "the grant count is what the label says"
    );
    let queries = world.queries(rng);
    let spread = if size.big {
        world.spread(rng)
    } else {
        Vec::new()
    };
    let slow = if size.big {
        balanced_sample(&queries, SLOW_SAMPLE)
    } else {
        queries.clone()
    };
    let combinations: HashSet<&[String]> = world.users.iter().map(|u| u.roles.as_slice()).collect();
    eprintln!(
        "size {label:>6}: {} roles, {} grants, {} users in {} role combinations; {} queries over {} permissions{}",
        world.roles.len(),
        world.grant_count(),
        world.users.len(),
        combinations.len(),
        queries.len(),
        distinct_permissions(&queries),
        if spread.is_empty() {
            String::new()
        } else {
            format!(
                ", spread: {} queries over {} permissions",
                spread.len(),
                distinct_permissions(&spread)
            )
        }
    );
    for list in [&queries, &spread] {
        let allowed = list.iter().filter(|q| q.allowed).count();
        assert!(
            list.is_empty() || (allowed * 4 >= list.len() && allowed * 4 <= list.len() * 3),
            "at {label}, {allowed} of {} queries allowed: not a mix of allows and denies",
            list.len()
        );
    }
    if size.big {
        assert!(distinct_permissions(&spread) >= 8_192);
    }

    // portcullis
    let policy = RolePolicy::builder()
        .without_builtins()
        .roles(world.roles.iter().cloned())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let contexts: Vec<UserContext> = world
        .users
        .iter()
        .map(|u| UserContext::new(u.name.clone(), AuthMethod::Bearer).with_roles(u.roles.clone()))
        .collect();
    for (u, ctx) in contexts.iter().enumerate() {
        assert_eq!(
            ctx.roles(),
            world.users[u].roles,
            "the role slice is the context's"
        );
    }
    for (name, list) in [("", &queries), ("_spread", &spread)] {
        if list.is_empty() {
            continue;
        }
        check(label, &format!("portcullis{name}"), list, |_, q| {
            portcullis_call(&policy, &contexts[q.user], &q.permission, cx)
        });
        check(label, &format!("portcullis_cold{name}"), list, |_, q| {
            policy
                .permissions_for(&world.users[q.user].roles)
                .allows(&q.permission)
        });
    }

    // casbin
    let enforcer: Enforcer = runtime.block_on(casbin_engine(&world));
    check(label, "casbin", &slow, |_, q| {
        casbin_says(&enforcer, &world, q)
    });
    let mut cached: CachedEnforcer = runtime.block_on(casbin_engine(&world));
    let counts = Arc::new(Counts::default());
    let distinct_slow: HashSet<(usize, &Permission)> =
        slow.iter().map(|q| (q.user, &q.permission)).collect();
    cached.set_cache(Box::new(CountingCache {
        inner: DefaultCache::new(2 * distinct_slow.len().max(1_024)),
        counts: Arc::clone(&counts),
    }));
    check(label, "casbin_cached", &slow, |_, q| {
        casbin_says(&cached, &world, q)
    });
    eprintln!(
        "casbin_cached {label}: the check pass ({} distinct queries): {}",
        distinct_slow.len(),
        hit_rate(counts.take())
    );

    // cedar
    let cedar_policies = cedar_policies(&world);
    let cedar_entities = cedar_entities(&world, &slow);
    let cedar_requests: Vec<Request> = slow.iter().map(|q| cedar_request(&world, q)).collect();
    let authorizer = Authorizer::new();
    check(label, "cedar", &slow, |i, _| {
        authorizer
            .is_authorized(&cedar_requests[i], &cedar_policies, &cedar_entities)
            .decision()
            == Decision::Allow
    });

    Prepared {
        label,
        big: size.big,
        world,
        policy,
        contexts,
        queries,
        spread,
        slow,
        enforcer,
        cached,
        counts,
        cedar_policies,
        cedar_entities,
        cedar_requests,
    }
}

/// Times `call` cycling through `items`, one item per iteration.
fn cycle<T>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    label: &str,
    items: &[T],
    mut call: impl FnMut(&T) -> bool,
) {
    let n = items.len();
    group.bench_function(BenchmarkId::new(name, label), |b| {
        let mut i = 0usize;
        b.iter(|| {
            let item = &items[i];
            // Wrapped by a compare, not `%`: a division would cost more than some engines' call.
            i += 1;
            if i == n {
                i = 0;
            }
            call(black_box(item))
        })
    });
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut cx = TaskContext::from_waker(Waker::noop());
    let mut rng = Rng(SEED);
    // Every engine is checked at every size before anything is timed.
    let sizes: Vec<Prepared> = SIZES
        .iter()
        .map(|size| prepare(size, &mut rng, &runtime, &mut cx))
        .collect();

    let mut group = c.benchmark_group("peers");
    for p in &sizes {
        let label = p.label;
        let mut portcullis_rows = vec![("portcullis", "portcullis_cold", &p.queries)];
        if !p.spread.is_empty() {
            portcullis_rows.push(("portcullis_spread", "portcullis_cold_spread", &p.spread));
        }
        for (warm, cold, list) in portcullis_rows {
            // The loop itself (fetching the next query), to subtract from the rows below.
            let harness = if warm == "portcullis" {
                "harness"
            } else {
                "harness_spread"
            };
            cycle(&mut group, harness, label, list, |q| {
                black_box(&q.permission);
                black_box(q.user) != usize::MAX
            });
            cycle(&mut group, warm, label, list, |q| {
                portcullis_call(&p.policy, &p.contexts[q.user], &q.permission, &mut cx)
            });
            cycle(&mut group, cold, label, list, |q| {
                p.policy
                    .permissions_for(&p.world.users[q.user].roles)
                    .allows(&q.permission)
            });
        }

        p.counts.take();
        cycle(&mut group, "casbin_cached", label, &p.slow, |q| {
            casbin_says(&p.cached, &p.world, q)
        });
        eprintln!(
            "casbin_cached {label}: the timed run: {}",
            hit_rate(p.counts.take())
        );

        if p.big {
            // A tenth of a second or more a call for casbin and cedar: at 10 samples criterion's
            // minimum is 55 calls. (110,000 is the last size, so the setting stays there.)
            group.sample_size(10);
        }
        cycle(&mut group, "casbin", label, &p.slow, |q| {
            casbin_says(&p.enforcer, &p.world, q)
        });
        let authorizer = Authorizer::new();
        cycle(&mut group, "cedar", label, &p.cedar_requests, |r| {
            authorizer
                .is_authorized(r, &p.cedar_policies, &p.cedar_entities)
                .decision()
                == Decision::Allow
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
