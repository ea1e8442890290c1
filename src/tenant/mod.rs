//! Multi-tenant roles (Warden's role model, Sentinel's actions) on the decision seam:
//! [`Tenancy`] is an [`Authorizer`] that answers checks asked in a tenant (and a namespace of it)
//! from roles stored per (tenant, namespace), with inheritance, assignments to users and groups,
//! expiry and default roles; and the API that manages them (see also [`Tenancy::router`]).
//!
//! ```
//! use portcullis::authz::Scope;
//! use portcullis::store::{MemoryStore, Grant, SubjectKind};
//! use portcullis::tenant::{NewAssignment, NewRole, Tenancy};
//! use portcullis::{AuthMethod, Reason, Requirement, UserContext};
//! use portcullis::rbac::Permission;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let tenancy = Tenancy::new(MemoryStore::new());
//! let engineer = tenancy
//!     .create_role("acme", NewRole::new("engineering", "engineer")
//!         .grant(Grant::Permission(Permission::parse("read:Runbooks")?)))
//!     .await?;
//! tenancy.create_role("acme", NewRole::new("engineering", "sre").parent("engineer")).await?;
//! let sre = tenancy.role_by_slug("acme", "engineering", "sre").await?.unwrap();
//! tenancy.assign("acme", NewAssignment::new(&sre.id, SubjectKind::User, "ada").granted_by("admin")).await?;
//!
//! // Ada's own login (a credential of no tenant) asks about acme's engineering/platform:
//! // the role is held at `engineering`, an ancestor, and inherits `read:Runbooks`.
//! let ada = UserContext::new("ada", AuthMethod::Bearer);
//! let read = Requirement::Permission(Permission::parse("read:Runbooks")?);
//! let at = Scope::tenant("acme")?.in_namespace("engineering/platform")?;
//! let why = tenancy.explain(&ada, &read, &at).await;
//! assert_eq!(why.reason(), Reason::Allow);
//! assert_eq!(why.matched().unwrap().path(), [Box::from("sre"), Box::from("engineer")]);
//! // At the tenant's root the role does not apply.
//! let root = Scope::tenant("acme")?;
//! assert_eq!(tenancy.explain(&ada, &read, &root).await.reason(), Reason::DenyNotInNamespace);
//! # let _ = engineer;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The model
//!
//! - **Tenants and credentials.** A credential confined to a tenant (a token's tenant claim, an
//!   API key made for one) is refused in every other tenant (`deny_other_tenant`), whatever it
//!   holds; in its own, the roles it names count (the application's [`RolePolicy`](crate::rbac::RolePolicy) roles, as
//!   without tenants, and the tenant's roles of the same slug at the namespace or an ancestor),
//!   and the first time it is seen there it is given the tenant's default roles. A credential of
//!   no tenant (a user's own login) holds in a tenant exactly what the tenant's assignments give
//!   it: nothing, until someone assigns it a role (`deny_no_roles`), and it never triggers
//!   default roles (else any account could join any tenant by asking).
//! - **Roles** live at a (tenant, namespace); one held at a namespace applies there and at every
//!   namespace below it. A role inherits its parent's grants (same tenant and namespace); cycles
//!   and chains deeper than [`MAX_ROLE_DEPTH`](crate::store::roles::MAX_ROLE_DEPTH) are refused
//!   when written, never found at check time. System roles never change, are made from code
//!   only, and are the only stored roles whose *name* is authority: a role requirement
//!   ([`Requirement::Roles`], spanforge's `authorize`) is met by a system role of that name held
//!   here, or by a name the credential itself carries, never by a role a tenant administrator
//!   created with that name.
//! - **Assignments** give a role to a user or group, for everything or for one resource type or
//!   resource ([`Scope::on`]); an assignment past its expiry never grants, and the check says
//!   `deny_assignment_expired`. `max_members` is enforced by the store, atomically.
//!
//! # Freshness and cost
//!
//! A check on a warm cache does no I/O and takes no lock: one look-up of the subject's compiled
//! answer for (tenant, namespace), one comparison with the tenant's write generation, one clock
//! read, and the permission set's probes. The look-up is cheaper still on the next request of
//! a credential whose context a credential cache hands out again (bearer tokens, API keys):
//! the engine keeps its last answer in the context's shared data, keyed by the engine's own
//! number and the place, and finds it with one atomic load instead of hashing three strings
//! into the shared map (about 95 ns a check instead of 190 on the project's machine; see
//! BENCHMARKS.md). The kept answer is judged fresh exactly as a cached one (generation, expiry,
//! the credential's roles), so it never outlives a write; each context keeps at most one. Every write made through this engine moves the
//! tenant's generation after the store returned, so the next check in this process recompiles
//! (never a TTL alone); the TTL ([`Tenancy::cache_ttl`], 30 s by default) only bounds how long a
//! write made by another process goes unseen. A check that must read the store answers with a
//! future, and a store that fails answers `error_unavailable` (503): fail closed.
//!
//! Why the answer is compiled at the seam rather than in the gateway's enrichment (where the
//! architecture map first put it): the tenant and namespace of a check are known only once the
//! route is, after the gateway ran; a credential that is never used in a tenant never costs a
//! store read.

mod effective;
mod graph;
mod holding;
mod manage;
mod routes;

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use quick_cache::Equivalent;

pub use holding::Holding;
pub use manage::{
    Holder, MAX_ACTIONS_PER_REGISTRATION, MAX_DESCRIPTION_BYTES, MAX_GRANTS_PER_ROLE,
    MAX_METADATA_BYTES, MAX_PAGE, MAX_ROLE_NAME_BYTES, MAX_SUBJECT_BYTES, NewAction, NewAssignment,
    NewRole, RoleUpdate, TenantError,
};
pub use routes::MAX_BODY_BYTES;

use self::effective::{Effective, Held, allows_set};
use self::graph::Graph;
use crate::authz::{
    Authorizer, Decision, DecisionPoint, Question, Scope, ScopeError, from_context,
};
use crate::clock::Clock;
use crate::context::{Memo, UserContext};
use crate::error::{Reason, Requirement};
use crate::future::MaybeReady;
use crate::rbac::Action;
use crate::store::StoreResult;
use crate::store::roles::{ActionStore, AssignmentStore, RoleStore};

/// Everything [`Tenancy`] needs from one backend.
pub trait TenantStore: RoleStore + AssignmentStore + ActionStore + Clone + 'static {}

impl<T> TenantStore for T where T: RoleStore + AssignmentStore + ActionStore + Clone + 'static {}

/// Default bound of the engine's caches, in bytes (shared by the compiled answers, the tenants'
/// graphs and the subjects' assignments).
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// Default longest time a cached answer is trusted without asking the store (writes made
/// through this engine are seen at once; this bounds writes made by another process).
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);

/// The number of the next engine made (see `Inner::id`).
static NEXT_ENGINE: AtomicU64 = AtomicU64::new(1);

/// Tenants are spread over this many write generations; a write to a tenant moves its
/// stripe's (a collision only costs another tenant a recompile).
const STRIPES: usize = 256;

/// The tenant role model over a store: an [`Authorizer`] and the API that manages roles,
/// assignments, groups and actions. Cheap to clone (clones share caches).
///
/// Give it to the gateway with [`AuthGateway::authorizer`](crate::AuthGateway::authorizer), and
/// tell routes where their checks are asked with a [`ScopeLayer`](crate::authz::ScopeLayer) or
/// [`scope!`](crate::scope). See the [module docs](self).
pub struct Tenancy<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Tenancy<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Tenancy<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenancy")
            .field("cached_answers", &self.inner.effective.len())
            .field("cached_tenants", &self.inner.graphs.len())
            .finish_non_exhaustive()
    }
}

/// A cached value with the generation it was read at and when it stops counting.
struct Stamped<T> {
    generation: u64,
    dies_at: i64,
    value: Arc<T>,
}

impl<T> Clone for Stamped<T> {
    fn clone(&self) -> Self {
        Self {
            generation: self.generation,
            dies_at: self.dies_at,
            value: self.value.clone(),
        }
    }
}

/// The key of a compiled answer: (subject, tenant, namespace), namespace `""` for the root.
#[derive(Clone, PartialEq, Eq, Hash)]
struct AnswerKey {
    subject: Box<str>,
    tenant: Box<str>,
    namespace: Box<str>,
}

/// The same key, borrowed, to look up without allocating (hashes exactly as [`AnswerKey`]).
#[derive(Hash)]
struct AnswerRef<'a> {
    subject: &'a str,
    tenant: &'a str,
    namespace: &'a str,
}

impl Equivalent<AnswerKey> for AnswerRef<'_> {
    fn equivalent(&self, key: &AnswerKey) -> bool {
        same(&key.subject, self.subject)
            && same(&key.tenant, self.tenant)
            && same(&key.namespace, self.namespace)
    }
}

/// String equality that never calls `memcmp` on empty strings. Rust compares two strings of
/// equal length with `memcmp` even when the length is 0, and an empty string's pointer is
/// dangling (`0x1`); glibc's AVX-512 `memcmp` answers short lengths with a masked load from that
/// pointer, which the CPU completes through a microcode assist when the page is unmapped: about
/// 60 ns per comparison (seen with `perf` on this project's machines), more than a whole cached
/// check. The root namespace is the empty string, so this is the common case.
#[inline]
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// Weighs cache entries with a function of their own.
struct Weigh<K, V>(fn(&K, &V) -> u64);

impl<K, V> Clone for Weigh<K, V> {
    fn clone(&self) -> Self {
        Self(self.0)
    }
}

impl<K, V> quick_cache::Weighter<K, V> for Weigh<K, V> {
    fn weight(&self, key: &K, value: &V) -> u64 {
        (self.0)(key, value)
    }
}

type Map<K, V> = quick_cache::sync::Cache<K, V, Weigh<K, V>, foldhash::fast::RandomState>;

fn map<K: Eq + Hash, V: Clone>(bytes: u64, weigh: fn(&K, &V) -> u64) -> Map<K, V> {
    Map::with(
        usize::try_from(bytes / 512).unwrap_or(usize::MAX).max(64),
        bytes.max(1),
        Weigh(weigh),
        foldhash::fast::RandomState::default(),
        quick_cache::sync::DefaultLifecycle::default(),
    )
}

struct Inner<S> {
    /// This engine's number, unique in the process: the key of its memos in contexts.
    id: u64,
    store: S,
    clock: Clock,
    ttl: i64,
    /// Moved by every write to a tenant of the stripe (roles, grants, assignments, groups).
    generations: Box<[AtomicU64]>,
    /// Moved by writes to roles and grants only: a tenant's compiled graph survives its
    /// assignments changing.
    role_generations: Box<[AtomicU64]>,
    stripe_hasher: foldhash::fast::FixedState,
    effective: Map<AnswerKey, Arc<Effective>>,
    graphs: Map<Box<str>, Stamped<Graph>>,
    held: Map<(Box<str>, Box<str>), Stamped<Held>>,
    /// (tenant, subject) pairs known to have been seen: first sight is asked of the store once.
    seen: Map<(Box<str>, Box<str>), ()>,
    /// The store's version of each tenant when this process last synced it (see `sync`).
    versions: Map<Box<str>, u64>,
    /// One compile of a tenant's graph at a time per stripe (many subjects of a tenant missing
    /// at once after a role write must not each read and compile every role).
    graph_loads: Box<[tokio::sync::Mutex<()>]>,
    /// Told of every change this engine makes or learns of (see [`Tenancy::on_change`]).
    listeners: arc_swap::ArcSwap<Vec<Listener>>,
    /// Where this engine's writes are told to the other instances, once shared.
    changes: std::sync::OnceLock<crate::cluster::ChangeFeed>,
}

/// A function told the tenant of each change (see [`Tenancy::on_change`]).
type Listener = Arc<dyn Fn(&str) + Send + Sync>;

impl<S: TenantStore> Tenancy<S> {
    /// The engine over `store`, with [`DEFAULT_CACHE_BYTES`], [`DEFAULT_CACHE_TTL`] and the
    /// system clock.
    pub fn new(store: S) -> Self {
        Self::with_options(
            store,
            DEFAULT_CACHE_BYTES,
            DEFAULT_CACHE_TTL,
            Clock::system(),
        )
    }

    /// The engine with its caches bounded at `cache_bytes` (split between the compiled
    /// answers, the tenants' graphs and the subjects' assignments), cached answers trusted at
    /// most `cache_ttl` (whole seconds, at least one), and `clock` judging expiry.
    #[allow(clippy::borrowed_box)] // the weighers take `&K`, and some keys are boxed strings
    pub fn with_options(store: S, cache_bytes: u64, cache_ttl: Duration, clock: Clock) -> Self {
        let stripes = || (0..STRIPES).map(|_| AtomicU64::new(0)).collect();
        Self {
            inner: Arc::new(Inner {
                id: NEXT_ENGINE.fetch_add(1, Ordering::Relaxed),
                store,
                clock,
                ttl: i64::try_from(cache_ttl.as_secs().max(1)).unwrap_or(i64::MAX / 4),
                generations: stripes(),
                role_generations: stripes(),
                stripe_hasher: foldhash::fast::FixedState::default(),
                effective: map(cache_bytes / 2, |k: &AnswerKey, v: &Arc<Effective>| {
                    (k.subject.len() + k.tenant.len() + k.namespace.len()) as u64
                        + u64::from(v.weight())
                }),
                graphs: map(cache_bytes / 4, |k: &Box<str>, v: &Stamped<Graph>| {
                    k.len() as u64 + u64::from(v.value.weight)
                }),
                held: map(
                    cache_bytes / 4,
                    |k: &(Box<str>, Box<str>), v: &Stamped<Held>| {
                        (k.0.len() + k.1.len()) as u64 + u64::from(v.value.weight())
                    },
                ),
                seen: map(cache_bytes / 64, |k: &(Box<str>, Box<str>), _: &()| {
                    (k.0.len() + k.1.len() + 48) as u64
                }),
                versions: map(cache_bytes / 64, |k: &Box<str>, _: &u64| {
                    (k.len() + 40) as u64
                }),
                graph_loads: (0..16).map(|_| tokio::sync::Mutex::new(())).collect(),
                listeners: arc_swap::ArcSwap::from_pointee(Vec::new()),
                changes: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// How long a cached answer is trusted without asking the store again.
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.inner.ttl).unwrap_or(0))
    }

    fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    fn stripe(&self, tenant: &str) -> usize {
        (self.inner.stripe_hasher.hash_one(tenant) as usize) % STRIPES
    }

    /// Records a write to the tenant's assignments or groups, made already: every cached answer
    /// of the tenant is stale from now on.
    fn assignments_changed(&self, tenant: &str) {
        self.inner.generations[self.stripe(tenant)].fetch_add(1, Ordering::SeqCst);
        self.tell(tenant);
        self.publish(tenant);
    }

    /// Tells every listener that `tenant` changed.
    fn tell(&self, tenant: &str) {
        for listener in self.inner.listeners.load().iter() {
            listener(tenant);
        }
    }

    /// Tells the other instances that `tenant` changed here, when they share changes. Sent from
    /// a task of its own: the writers are synchronous at this point, and the change is in the
    /// store already (the others would otherwise see it when their answers expire).
    fn publish(&self, tenant: &str) {
        let Some(feed) = self.inner.changes.get() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (feed, tenant) = (feed.clone(), tenant.to_owned());
        runtime.spawn(async move {
            feed.publish(crate::cluster::Change::TenantChanged { tenant })
                .await;
        });
    }

    /// Shares this engine's changes with the other instances through `feed` (see `cluster`):
    /// a tenant whose roles, grants, assignments or groups another instance changed is
    /// recompiled here as soon as the feed delivers it (every tenant is, when the feed may have
    /// missed a change), and the writes made here are published. The listeners of
    /// [`on_change`](Self::on_change) are told too (`*` for every tenant). One feed per engine;
    /// a second call is ignored.
    pub fn share_changes(&self, feed: &crate::cluster::ChangeFeed)
    where
        S: 'static,
    {
        use crate::cluster::Change;
        if self.inner.changes.set(feed.clone()).is_err() {
            return;
        }
        let engine = Arc::downgrade(&self.inner);
        feed.listen(move |change| {
            let Some(inner) = engine.upgrade() else {
                return;
            };
            let engine = Self { inner };
            match change {
                Change::TenantChanged { tenant } => {
                    engine.forget(tenant);
                    engine.tell(tenant);
                }
                Change::Everything => {
                    engine.forget_everything();
                    engine.tell("*");
                }
                _ => {}
            }
        });
    }

    /// Drops everything cached of the tenant (its graph, its answers, its assignments).
    fn forget(&self, tenant: &str) {
        let stripe = self.stripe(tenant);
        self.inner.role_generations[stripe].fetch_add(1, Ordering::SeqCst);
        self.inner.generations[stripe].fetch_add(1, Ordering::SeqCst);
        self.inner.effective.retain(|key, _| *key.tenant != *tenant);
    }

    /// Drops everything cached of every tenant.
    fn forget_everything(&self) {
        for stripe in 0..STRIPES {
            self.inner.role_generations[stripe].fetch_add(1, Ordering::SeqCst);
            self.inner.generations[stripe].fetch_add(1, Ordering::SeqCst);
        }
        self.inner.effective.clear();
        self.inner.graphs.clear();
        self.inner.held.clear();
        self.inner.seen.clear();
        self.inner.versions.clear();
    }

    /// Calls `listener` with the tenant after every change to a tenant's roles, grants,
    /// assignments or groups that this engine made (once the store returned) or learned of from
    /// the store or from other instances ([`share_changes`](Self::share_changes); `*` when
    /// every tenant may have changed): engines that cache what depends on memberships (the
    /// entity permissions' [`Acl::watching`](crate::acl::Acl::watching)) stay exact. The
    /// listener runs on the writer's task: keep it to a counter's bump.
    pub fn on_change(&self, listener: impl Fn(&str) + Send + Sync + 'static) {
        let listener: Listener = Arc::new(listener);
        self.inner.listeners.rcu(|current| {
            let mut next = Vec::clone(current);
            next.push(listener.clone());
            next
        });
    }

    /// Records a write to the tenant's roles or grants, made already.
    fn roles_changed(&self, tenant: &str) {
        // Each answer holds the graph it was compiled over: stale answers of subjects that ask
        // no more would keep every old graph alive past the cache's bound. Role writes are
        // administration, rare beside checks: walking the answers here is the cheaper side.
        self.forget(tenant);
        self.tell(tenant);
        self.publish(tenant);
    }

    /// Whether a compiled answer is still the one a check would compile now.
    #[inline]
    fn fresh(
        &self,
        answer: &Effective,
        credential_roles: &[String],
        confined: bool,
        now: i64,
    ) -> bool {
        self.inner.generations[answer.stripe].load(Ordering::Acquire) == answer.generation
            && now < answer.dies_at
            && answer.confined == confined
            && *answer.credential_roles == *credential_roles
    }

    /// The decision from the answer this engine last kept in the context (the credential's
    /// previous request, when a credential cache hands the context out again), if it is for
    /// the same place and still fresh: one atomic load, no hashing, no lock.
    #[inline]
    fn remembered(
        &self,
        question: Question<'_>,
        tenant: &str,
        namespace: &str,
        credential_roles: &[String],
        confined: bool,
        now: i64,
    ) -> Option<Decision> {
        let memo = question.context().memo();
        let memo = memo.as_ref()?;
        let same_place = memo.engine == self.inner.id
            && same(&memo.tenant, tenant)
            && same(memo.namespace.as_deref().unwrap_or(""), namespace);
        if !same_place {
            return None;
        }
        let answer = memo.answer.downcast_ref::<Effective>()?;
        self.fresh(answer, credential_roles, confined, now)
            .then(|| self.answer(answer, question, confined, now))
    }

    /// Keeps `answer` in the context for the credential's next request (one allocation: the
    /// place's names are the scope's, shared).
    fn remember(&self, ctx: &UserContext, at: &Scope, answer: Arc<Effective>) {
        if let (Some(tenant), namespace) = at.place() {
            ctx.remember(Memo {
                engine: self.inner.id,
                tenant: tenant.clone(),
                namespace: namespace.cloned(),
                answer,
            });
        }
    }

    /// The cached answer for the subject at (tenant, namespace), if it is still the one a check
    /// would compile now. No I/O, no lock.
    #[inline]
    fn cached(
        &self,
        subject: &str,
        tenant: &str,
        namespace: &str,
        credential_roles: &[String],
        confined: bool,
        now: i64,
    ) -> Option<Arc<Effective>> {
        let inner = &*self.inner;
        let answer = inner.effective.get(&AnswerRef {
            subject,
            tenant,
            namespace,
        })?;
        let current = inner.generations[answer.stripe].load(Ordering::Acquire) == answer.generation;
        if !current || now >= answer.dies_at {
            // Dead: gone now rather than when the cache's bound pushes it out (only this one,
            // not a fresher answer stored meanwhile).
            inner.effective.remove_if(
                &AnswerRef {
                    subject,
                    tenant,
                    namespace,
                },
                |live| Arc::ptr_eq(live, &answer),
            );
            return None;
        }
        let same_credential =
            answer.confined == confined && *answer.credential_roles == *credential_roles;
        same_credential.then_some(answer)
    }

    /// Compiles the answer from the store (through the graph and assignment caches).
    async fn load(
        &self,
        subject: &str,
        tenant: &str,
        namespace: &str,
        credential_roles: &[String],
        confined: bool,
    ) -> StoreResult<Arc<Effective>> {
        if confined {
            self.sight(tenant, subject).await?;
        }
        let stripe = self.stripe(tenant);
        // The generations are read before the store: a write that lands during the reads moves
        // them, and what is cached here is then stale at once (it never outlives the write).
        let generation = self.inner.generations[stripe].load(Ordering::SeqCst);
        let now = self.now();
        let graph = self.graph(tenant, stripe, now).await?;
        let held = self.held(tenant, subject, generation, now).await?;
        let answer = Arc::new(Effective::compute(
            graph,
            held,
            namespace,
            credential_roles,
            confined,
            now,
            now.saturating_add(self.inner.ttl),
            stripe,
            generation,
        ));
        self.inner.effective.insert(
            AnswerKey {
                subject: subject.into(),
                tenant: tenant.into(),
                namespace: namespace.into(),
            },
            answer.clone(),
        );
        Ok(answer)
    }

    /// The tenant's compiled graph, from the cache or the store.
    async fn graph(&self, tenant: &str, stripe: usize, now: i64) -> StoreResult<Arc<Graph>> {
        let inner = &*self.inner;
        let current = || inner.role_generations[stripe].load(Ordering::SeqCst);
        let fresh = |entry: &Stamped<Graph>| entry.generation == current() && now < entry.dies_at;
        if let Some(entry) = inner.graphs.get(tenant)
            && fresh(&entry)
        {
            return Ok(entry.value);
        }
        let _one_at_a_time = inner.graph_loads[stripe % inner.graph_loads.len()]
            .lock()
            .await;
        if let Some(entry) = inner.graphs.get(tenant)
            && fresh(&entry)
        {
            return Ok(entry.value);
        }
        let generation = current();
        let graph = Arc::new(Graph::compile(inner.store.tenant_roles(tenant).await?));
        inner.graphs.insert(
            tenant.into(),
            Stamped {
                generation,
                dies_at: now.saturating_add(inner.ttl),
                value: graph.clone(),
            },
        );
        Ok(graph)
    }

    /// The subject's assignments in the tenant, from the cache or the store.
    async fn held(
        &self,
        tenant: &str,
        subject: &str,
        generation: u64,
        now: i64,
    ) -> StoreResult<Arc<Held>> {
        let inner = &*self.inner;
        let key = (Box::<str>::from(tenant), Box::<str>::from(subject));
        if let Some(entry) = inner.held.get(&key)
            && entry.generation == generation
            && now < entry.dies_at
        {
            return Ok(entry.value);
        }
        let assignments = inner.store.assignments_of(tenant, subject).await?;
        let held = Arc::new(Held {
            assignments: assignments.into(),
        });
        inner.held.insert(
            key,
            Stamped {
                generation,
                dies_at: now.saturating_add(inner.ttl),
                value: held.clone(),
            },
        );
        Ok(held)
    }

    /// First sight of a credential confined to the tenant: the store gives the default roles
    /// once; this process asks it once per (tenant, subject).
    async fn sight(&self, tenant: &str, subject: &str) -> StoreResult<()> {
        let key = (Box::<str>::from(tenant), Box::<str>::from(subject));
        if self.inner.seen.get(&key).is_some() {
            return Ok(());
        }
        let given = self
            .inner
            .store
            .first_sight(tenant, subject, self.now())
            .await?;
        if !given.is_empty() {
            // Without the subject: an id may be an e-mail address, which logs must not collect.
            tracing::info!(
                tenant,
                roles = given.len(),
                "default roles given on first sight"
            );
            self.assignments_changed(tenant);
        }
        self.inner.seen.insert(key, ());
        Ok(())
    }

    /// Decides a check asked in `tenant` (see the module docs for the rules).
    fn decide_in<'a>(
        &'a self,
        question: Question<'a>,
        tenant: &'a str,
    ) -> MaybeReady<'a, Decision> {
        let ctx = question.context();
        let at = question.scope();
        let required = question.required();
        let confined = match ctx.tenant() {
            None => false,
            Some(own) if own == tenant => true,
            Some(_) => {
                return MaybeReady::ready(Decision::new(Reason::DenyOtherTenant, at.clone()));
            }
        };
        // The credential's application-wide permissions count in its own tenant, as without
        // tenants: at once, before any cache.
        if confined && allows_set(ctx.permissions(), required) {
            // Allowed already: only an explanation needs the context's answer asked again.
            return MaybeReady::ready(if question.wants_match() {
                from_context(question)
            } else {
                Decision::new(Reason::Allow, at.clone())
            });
        }
        let namespace = at.namespace().unwrap_or("");
        let credential_roles: &[String] = if confined { ctx.roles() } else { &[] };
        let now = self.now();
        if let Some(decision) =
            self.remembered(question, tenant, namespace, credential_roles, confined, now)
        {
            return MaybeReady::ready(decision);
        }
        if let Some(answer) = self.cached(
            ctx.subject(),
            tenant,
            namespace,
            credential_roles,
            confined,
            now,
        ) {
            let decision = self.answer(&answer, question, confined, now);
            self.remember(ctx, at, answer);
            return MaybeReady::ready(decision);
        }
        MaybeReady::new(async move {
            match self
                .load(ctx.subject(), tenant, namespace, credential_roles, confined)
                .await
            {
                Ok(answer) => {
                    let decision = self.answer(&answer, question, confined, self.now());
                    self.remember(ctx, at, answer);
                    decision
                }
                Err(error) => {
                    tracing::warn!(%error, tenant, "tenant roles could not be read: check refused");
                    Decision::new(Reason::Unavailable, at.clone())
                }
            }
        })
    }

    /// The decision a compiled answer gives.
    fn answer(
        &self,
        answer: &Effective,
        question: Question<'_>,
        confined: bool,
        now: i64,
    ) -> Decision {
        let at = question.scope();
        let required = question.required();
        let resource = at.resource();
        if answer.allows(required, resource) {
            let decision = Decision::new(Reason::Allow, at.clone());
            return match question
                .wants_match()
                .then(|| answer.explain(required, resource))
            {
                Some(Some(matched)) => decision.with_match(matched),
                _ => decision,
            };
        }
        let ctx = question.context();
        let credential_holds_nothing =
            !confined || (ctx.roles().is_empty() && ctx.permissions().is_empty());
        let (reason, near) = answer.why_denied(required, resource, credential_holds_nothing, now);
        let decision = Decision::new(reason, at.clone());
        match near {
            Some(near) if question.wants_match() => decision.with_near_miss(near),
            _ => decision,
        }
    }

    /// The decision this engine makes for `required` at `at`, with the full role path that
    /// allowed it ([`Decision::matched`]) or the nearest miss ([`Decision::near_miss`]). Asked
    /// of this engine directly, not shown to observers (a question about a decision, for admin
    /// screens and reviews); [`authz::explain`](crate::authz::explain) asks the gateway's.
    pub async fn explain(&self, ctx: &UserContext, required: &Requirement, at: &Scope) -> Decision {
        self.decide(Question::new(ctx, required, at).explained())
            .await
    }

    /// The actions the caller may perform at `at`, sorted: every action registered (by any
    /// service, or by `service` only) that a check would allow. For showing and hiding controls;
    /// answered by this engine without observers (each is a look at the compiled answer, not an
    /// access decision).
    pub async fn user_actions(
        &self,
        ctx: &UserContext,
        at: &Scope,
        service: Option<&str>,
    ) -> Result<Vec<String>, TenantError> {
        let registered = self.inner.store.actions(service).await?;
        let mut allowed = Vec::new();
        for record in registered {
            let Ok(action) = Action::parse(&record.action) else {
                continue;
            };
            let required = Requirement::Action(action);
            let decision = self.decide(Question::new(ctx, &required, at)).await;
            match decision.reason() {
                Reason::Allow => allowed.push(record.action),
                Reason::Unavailable => return Err(TenantError::Unavailable),
                _ => {}
            }
        }
        allowed.sort_unstable();
        allowed.dedup();
        Ok(allowed)
    }
}

impl<S: TenantStore> Authorizer for Tenancy<S> {
    fn decide<'a>(&'a self, question: Question<'a>) -> MaybeReady<'a, Decision> {
        match question.scope().tenant_id() {
            Some(tenant) => self.decide_in(question, tenant),
            // The application as a whole: the credential's own permissions, as without tenants.
            None => MaybeReady::ready(from_context(question)),
        }
    }
}

/// Sentinel's `check_action(token, action, workspace)`: asks the seam of the gateway that
/// admitted `ctx` (so its observers and audit trail see it) whether the caller may perform
/// `action` in `tenant`. Configure a [`Tenancy`] as that gateway's authorizer.
pub async fn check_action(
    ctx: &UserContext,
    action: &Action,
    tenant: &str,
) -> Result<Decision, ScopeError> {
    let at = Scope::tenant(tenant)?;
    let required = Requirement::Action(action.clone());
    Ok(DecisionPoint::of(ctx).decide(ctx, &required, &at).await)
}

#[cfg(test)]
mod tests;
