//! Entity permissions (Sentinel's `PermissionClient`, seed 001) on the decision seam: "may she
//! edit document 42?", "which documents may she see?". A resource (service, type, id) belongs
//! to a tenant and has an owner, a visibility (`private`, `tenant`, `public`) and optionally a
//! parent folder; it is shared with users and groups of its tenant, `view` or `edit` (`edit`
//! implies `view`). See [`Acl`].
//!
//! ```
//! use portcullis::acl::{Acl, NewResource};
//! use portcullis::store::{Access, MemoryStore, ResourceKey, SubjectKind, Visibility};
//! use portcullis::tenant::{NewAssignment, NewRole, Tenancy};
//! use portcullis::{AuthMethod, Reason, UserContext};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let store = MemoryStore::new();
//! let acl = Acl::new(store.clone()).over(Tenancy::new(store.clone()));
//! let doc = ResourceKey::new("docs", "document", "42");
//! acl.register(NewResource::new(doc.clone(), "acme", "ada").visibility(Visibility::Private))
//!     .await?;
//!
//! let ada = UserContext::new("ada", AuthMethod::Bearer);
//! let bob = UserContext::new("bob", AuthMethod::Bearer);
//! assert_eq!(acl.can(&bob, &doc, Access::View).await?.reason(), Reason::DenyNoPermission);
//!
//! // Bob joins acme (any role there makes him a member), and Ada shares the document.
//! let tenancy = Tenancy::new(store.clone());
//! let member = tenancy.create_role("acme", NewRole::new("", "member")).await?;
//! tenancy.assign("acme", NewAssignment::new(&member.id, SubjectKind::User, "bob")).await?;
//! acl.share(&ada, &doc, SubjectKind::User, "bob", Access::Edit).await?;
//! assert_eq!(acl.can(&bob, &doc, Access::Edit).await?.reason(), Reason::AllowShare);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The rules
//!
//! Evaluation follows Sentinel's order, with folders: no record → `deny_no_record`; a credential
//! of another tenant → `deny_other_tenant`; the owner → `allow_owner`; a tenant administrator
//! ([`Acl::admins`]) → `allow_admin`; the resource's visibility (`public`: `view` for anyone
//! authenticated; `tenant`: `view` for its members, `edit` too for [`Acl::editors`]) →
//! `allow_visibility`; a share to the subject → `allow_share`; a share to one of its groups
//! (memberships as stored by the tenant model, never a token's say-so) → `allow_group`; the same
//! on each folder above → `allow_parent`; else `deny_no_permission`.
//!
//! Sentinel's defects are not repeated: only the owner or a tenant administrator may share,
//! unshare, change the visibility or move a resource; sharing twice updates the level (never
//! a 500); a grantee must be a member of the resource's tenant (a group, one with members
//! there); group shares match stored memberships.
//!
//! A member of a tenant: a credential of that tenant, or a subject holding a live role or a
//! group membership there.
//!
//! # Freshness
//!
//! Without a cache every check reads the store once: one statement gives the resource, the
//! folders above it with their shares to the subject or its groups, the subject's groups and
//! its live assignments in the resource's tenant ([`EntityStore::facts`]); a batch
//! [`Acl::check`] of up to [`MAX_CHECKS`] questions is one such statement too. [`Acl::cached`] keeps what the
//! store said per (subject, resource), bounded by bytes; every write through this engine, and
//! every change of a tenant engine it is [`watching`](Acl::watching) (memberships decide group
//! shares and `tenant` visibility), moves one generation after the store returned, so a revoked
//! share or a removed member is never allowed again by this process once the call returned.
//! The TTL bounds writes made elsewhere (other processes: issue #18 brings them in at once).
//!
//! [`Acl::who_can`] lists the owner and every user and group a resource (or a folder above it)
//! is shared with, each with its highest level and why, for sharing dialogs.
//!
//! # Where the decisions go
//!
//! [`Acl`] is an [`Authorizer`]: given to a gateway, it answers
//! [`Requirement::Access`] itself and hands every other check to the authorizer it wraps
//! ([`Acl::over`], the role policy's answer by default). Its own API ([`Acl::can`],
//! [`Acl::check`]) decides directly and shows each decision to the observers of the gateway that
//! admitted the context, so the audit trail sees entity checks like any other.

mod cache;
mod evaluate;
mod guard;
mod manage;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use guard::{AccessDef, RequireAccess};
#[cfg(feature = "service")]
pub(crate) use manage::check_key;
pub use manage::{Accessible, AclError, Holder, MAX_CHECKS, MAX_PAGE, NewResource, WhoCan};

use self::cache::{Cache, Found};
use self::evaluate::{Asker, Verdict, judge};
use crate::authz::{Authorizer, Decision, Granted, Question, Scope, from_context};
use crate::clock::Clock;
use crate::context::UserContext;
use crate::error::{EntityAccess, Reason, Requirement};
use crate::future::MaybeReady;
use crate::store::StoreResult;
use crate::store::acl::{Access, EntityStore, ResourceKey};
use crate::store::roles::AssignmentStore;

/// Everything [`Acl`] needs from one backend: the entity records and the tenant's groups and
/// assignments (membership).
pub trait AclStore: EntityStore + AssignmentStore + Clone + 'static {}

impl<T> AclStore for T where T: EntityStore + AssignmentStore + Clone + 'static {}

/// The entity permission engine over a store. Cheap to clone. See the [module docs](self).
pub struct Acl<S> {
    store: S,
    rbac: Arc<dyn Authorizer>,
    admin: Option<Arc<Requirement>>,
    editor: Option<Arc<Requirement>>,
    clock: Clock,
    /// Moved by every write through this engine and every change of a watched tenant engine,
    /// after the store returned.
    generation: Arc<AtomicU64>,
    cache: Option<Arc<Cache>>,
    /// Where this engine's writes are told to the other instances, once shared.
    changes: Arc<std::sync::OnceLock<crate::cluster::ChangeFeed>>,
}

impl<S: Clone> Clone for Acl<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            rbac: self.rbac.clone(),
            admin: self.admin.clone(),
            editor: self.editor.clone(),
            clock: self.clock.clone(),
            generation: self.generation.clone(),
            cache: self.cache.clone(),
            changes: self.changes.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Acl<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acl")
            .field("admin", &self.admin)
            .field("editor", &self.editor)
            .finish_non_exhaustive()
    }
}

/// The role policy's answer, as an authorizer: what an [`Acl`] wraps until told otherwise.
struct FromContext;

impl Authorizer for FromContext {
    fn decide<'a>(&'a self, question: Question<'a>) -> MaybeReady<'a, Decision> {
        MaybeReady::ready(from_context(question))
    }
}

impl<S: AclStore> Acl<S> {
    /// The engine over `store`, wrapping the role policy's answer, with no tenant
    /// administrators or editors and the system clock.
    pub fn new(store: S) -> Self {
        Self {
            store,
            rbac: Arc::new(FromContext),
            admin: None,
            editor: None,
            clock: Clock::system(),
            generation: Arc::new(AtomicU64::new(0)),
            cache: None,
            changes: Arc::new(std::sync::OnceLock::new()),
        }
    }

    /// Caches what the store says about each (subject, resource) in at most `bytes`, trusted
    /// at most `ttl` (whole seconds, at least one). Writes through this engine are seen by the
    /// next check at once, and so are membership changes of a tenant engine it is
    /// [`watching`](Self::watching); the TTL bounds what other processes (and unwatched
    /// engines) write. What depends on the credential (its tenant, administrator and editor
    /// checks) is asked per check, never cached.
    pub fn cached(mut self, bytes: u64, ttl: Duration) -> Self {
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 4);
        self.cache = Some(Arc::new(Cache::new(bytes, ttl, self.generation.clone())));
        self
    }

    /// Sees every change `tenancy` makes or learns of (group memberships and role assignments
    /// decide membership and group shares) at once: the cache drops what it held.
    pub fn watching<T: crate::tenant::TenantStore>(
        self,
        tenancy: &crate::tenant::Tenancy<T>,
    ) -> Self {
        let generation = self.generation.clone();
        tenancy.on_change(move |_| {
            generation.fetch_add(1, Ordering::SeqCst);
        });
        self
    }

    /// Records a write, made already: nothing cached before it answers again.
    pub(crate) fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Records a write to a resource of `service`, made already, here and (when the instances
    /// share their changes) everywhere.
    pub(crate) async fn changed_in(&self, service: &str) {
        self.changed();
        let change = crate::cluster::Change::ResourcesChanged {
            service: service.to_owned(),
        };
        crate::cluster::publish_in(&self.changes, change).await;
    }

    /// Shares this engine's writes with the other instances through `feed` (see `cluster`):
    /// its cached decisions are dropped as soon as the feed delivers a change to resources, to
    /// a tenant's memberships (what group shares rest on) or a possible miss, and the shares,
    /// visibility changes, moves and registrations made here are published. One feed per
    /// engine; a second call is ignored.
    pub fn share_changes(&self, feed: &crate::cluster::ChangeFeed) {
        use crate::cluster::Change;
        crate::cluster::join(
            &self.changes,
            feed,
            &self.generation,
            |generation, change| {
                if let Change::ResourcesChanged { .. }
                | Change::TenantChanged { .. }
                | Change::Everything = change
                {
                    generation.fetch_add(1, Ordering::SeqCst);
                }
            },
        );
    }

    /// Answers every check that is not about a resource's access with `rbac` (a
    /// [`Tenancy`](crate::tenant::Tenancy), a remote authorizer, …), and asks it who
    /// administers and who edits a tenant.
    pub fn over(mut self, rbac: impl Authorizer) -> Self {
        self.rbac = Arc::new(rbac);
        self
    }

    /// Who administers a tenant: whoever `rbac` allows `required` in it (for example a
    /// permission `manage:Documents` granted by a tenant role). Administrators may do anything
    /// with the tenant's resources.
    pub fn admins(mut self, required: Requirement) -> Self {
        self.admin = Some(Arc::new(required));
        self
    }

    /// Who edits what a tenant can see: members that `rbac` allows `required` in the tenant get
    /// `edit` on resources of `tenant` visibility (Sentinel's editors).
    pub fn editors(mut self, required: Requirement) -> Self {
        self.editor = Some(Arc::new(required));
        self
    }

    /// Judges assignment expiry (membership) with `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Whether `rbac` allows `required` to `ctx` in `tenant`; [`AclError::Unavailable`] when
    /// it could not tell (its store was down): a caller who may well be an administrator is
    /// told to try again, not answered as a stranger.
    pub(crate) async fn allowed_in(
        &self,
        ctx: &UserContext,
        required: &Requirement,
        tenant: &str,
    ) -> Result<bool, AclError> {
        let Ok(at) = Scope::tenant(tenant) else {
            return Ok(false);
        };
        let decision = self.rbac.decide(Question::new(ctx, required, &at)).await;
        if decision.reason() == Reason::Unavailable {
            return Err(AclError::Unavailable);
        }
        Ok(decision.is_allowed())
    }

    /// Whether `ctx` administers `tenant` (see [`allowed_in`](Self::allowed_in)).
    pub(crate) async fn is_admin(&self, ctx: &UserContext, tenant: &str) -> Result<bool, AclError> {
        match &self.admin {
            Some(required) => self.allowed_in(ctx, required, tenant).await,
            None => Ok(false),
        }
    }

    /// Whether `ctx`, a member of `tenant` or not, edits what its members may view (see
    /// [`allowed_in`](Self::allowed_in)).
    pub(crate) async fn is_editor(
        &self,
        ctx: &UserContext,
        member: bool,
        tenant: &str,
    ) -> Result<bool, AclError> {
        match &self.editor {
            Some(required) if member => self.allowed_in(ctx, required, tenant).await,
            _ => Ok(false),
        }
    }

    /// Whether `subject` is a member of `tenant` (see the module docs); `ctx` when the subject is
    /// the caller.
    pub(crate) async fn is_member(
        &self,
        ctx: Option<&UserContext>,
        tenant: &str,
        subject: &str,
        groups: &[String],
    ) -> StoreResult<bool> {
        if ctx.is_some_and(|c| c.tenant() == Some(tenant)) || !groups.is_empty() {
            return Ok(true);
        }
        let now = self.clock.now();
        Ok(self
            .store
            .assignments_of(tenant, subject)
            .await?
            .iter()
            .any(|a| a.is_live(now)))
    }

    /// What the store says about (subject, key) for each key, in order: from the cache where it
    /// still counts, the rest in one round trip.
    async fn facts(
        &self,
        subject: &str,
        keys: &[&ResourceKey],
    ) -> StoreResult<Vec<Option<Arc<Found>>>> {
        let now = self.clock.now();
        let mut found: Vec<Option<Arc<Found>>> = vec![None; keys.len()];
        let mut missing = Vec::new();
        for (at, key) in keys.iter().enumerate() {
            match self.cache.as_ref().and_then(|c| c.get(subject, key, now)) {
                Some(known) => found[at] = known.found,
                None => missing.push(at),
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        // Read before the store: a write landing during the read moves it, and what is kept
        // here is stale at once.
        let generation = self.generation.load(Ordering::SeqCst);
        let wanted: Vec<ResourceKey> = missing.iter().map(|&at| keys[at].clone()).collect();
        let facts = self.store.facts(&wanted, subject, now).await?;
        if facts.len() != wanted.len() {
            return Err(crate::store::StoreError::Unavailable(
                "the store answered for another number of resources".into(),
            ));
        }
        for ((at, key), facts) in missing.into_iter().zip(&wanted).zip(facts) {
            let (fact, until) = match facts {
                Some(facts) => {
                    let until = facts.member_until;
                    (Found::from_facts(facts).map(Arc::new), until)
                }
                None => (None, None),
            };
            if let Some(cache) = &self.cache {
                cache.put(subject, key, generation, now, until, fact.clone());
            }
            found[at] = fact;
        }
        Ok(found)
    }

    /// Whether `rbac` allows `required` to `ctx` at `at` (a tenant's scope);
    /// [`AclError::Unavailable`] when it could not tell.
    async fn allowed_at(
        &self,
        ctx: &UserContext,
        required: &Requirement,
        at: &Scope,
    ) -> Result<bool, AclError> {
        let decision = self.rbac.decide(Question::new(ctx, required, at)).await;
        if decision.reason() == Reason::Unavailable {
            return Err(AclError::Unavailable);
        }
        Ok(decision.is_allowed())
    }

    /// The verdict on `wanted` for `ctx` from what the store said about a registered resource.
    async fn judge<'f>(&self, ctx: &UserContext, found: &'f Found, wanted: Access) -> Verdict<'f> {
        let tenant = found.tenant.as_str();
        // Asked at the tenant's scope, built when the store's answer was (a cached answer
        // builds none).
        let at = found.tenant_scope.as_ref();
        let member = found.member || ctx.tenant() == Some(tenant);
        // A role model that could not be read is no answer: kept as an error, so that a
        // refusal it might have turned into an allow answers unavailable (below).
        let editor = match self.editor.as_deref().zip(at) {
            Some((required, at)) if member => self.allowed_at(ctx, required, at).await,
            _ => Ok(false),
        };
        let admin = match self.admin.as_deref().zip(at) {
            Some((required, at)) => self.allowed_at(ctx, required, at).await,
            None => Ok(false),
        };
        let asker = Asker {
            subject: ctx.subject(),
            member,
            editor: editor.clone().unwrap_or(false),
            admin: admin.clone().unwrap_or(false),
        };
        let verdict = judge(&found.lineage, &asker, wanted);
        // A refusal that a role the engine could not read might have turned into an allow is
        // no answer: unavailable (fail closed, and the caller may try again).
        if !verdict.reason.allows() && (editor.is_err() || admin.is_err()) {
            return Verdict::unavailable();
        }
        verdict
    }

    /// The decision for `wanted` on `key`, asked at `at` (a scope naming the tenant, if any, must
    /// be the resource's).
    async fn decide_access(
        &self,
        ctx: &UserContext,
        key: &ResourceKey,
        wanted: Access,
        at: &Scope,
        explain: bool,
    ) -> Decision {
        let found = self.facts(ctx.subject(), &[key]).await;
        let found = found.map(|mut f| f.pop().flatten());
        self.decide_found(ctx, key, found, wanted, Some(at), explain)
            .await
    }

    /// The decision for `wanted` on `key` from what the store said (or could not say: then
    /// refused as unavailable, fail closed), asked at `at` (`None`: the key's resource, in no
    /// tenant, built only if the decision names it).
    async fn decide_found(
        &self,
        ctx: &UserContext,
        key: &ResourceKey,
        found: StoreResult<Option<Arc<Found>>>,
        wanted: Access,
        at: Option<&Scope>,
        explain: bool,
    ) -> Decision {
        let asked = || match at {
            Some(at) => at.clone(),
            // The key was checked before anything was asked: this cannot fail.
            None => Scope::global()
                .on(&key.kind, Some(&key.id))
                .unwrap_or_else(|_| Scope::global()),
        };
        let found = match found {
            Ok(Some(found)) => found,
            Ok(None) => return Decision::new(Reason::DenyNoRecord, asked()),
            Err(error) => {
                tracing::warn!(%error, "entity permissions could not be read: check refused");
                return Decision::new(Reason::Unavailable, asked());
            }
        };
        let tenant = found.tenant.as_str();
        let other_tenant = ctx.tenant().is_some_and(|own| own != tenant);
        let verdict = if other_tenant {
            None
        } else {
            Some(self.judge(ctx, &found, wanted).await)
        };
        let asked_elsewhere = at
            .and_then(Scope::tenant_id)
            .is_some_and(|asked| asked != tenant);
        if asked_elsewhere {
            return Decision::new(Reason::DenyOtherTenant, asked());
        }
        // The decision names the resource's tenant: the audit trail files it there.
        let scope = found.scope.clone().unwrap_or_else(asked);
        let Some(verdict) = verdict else {
            return Decision::new(Reason::DenyOtherTenant, scope);
        };
        let decision = Decision::new(verdict.reason, scope);
        if explain && verdict.reason.allows() {
            let outcome = verdict.outcome(&found.lineage);
            decision.with_match(Granted::new(None, &outcome.grant).with_path(outcome.path))
        } else {
            decision
        }
    }

    /// May `ctx` have `wanted` access to `key`? Decided here and shown to the observers of the
    /// gateway that admitted `ctx`. [`AclError::Invalid`] for a malformed key, before any store.
    pub async fn can(
        &self,
        ctx: &UserContext,
        key: &ResourceKey,
        wanted: Access,
    ) -> Result<Decision, AclError> {
        // The key's parts are the scope's resource rules: the decision can name it.
        manage::check_key(key)?;
        let found = self.facts(ctx.subject(), &[key]).await;
        let found = found.map(|mut f| f.pop().flatten());
        let decision = self
            .decide_found(ctx, key, found, wanted, None, false)
            .await;
        let required = Requirement::Access(EntityAccess::new(&key.service, wanted));
        Ok(ctx.seam().report(ctx, &required, decision).await)
    }

    /// Many [`can`](Self::can) questions at once (at most [`MAX_CHECKS`]), answered in order,
    /// with one round trip to the store for all that the cache does not hold. Each decision is
    /// shown to the observers as `can`'s is. Every key is checked before anything is asked.
    pub async fn check(
        &self,
        ctx: &UserContext,
        checks: &[(ResourceKey, Access)],
    ) -> Result<Vec<Decision>, AclError> {
        if checks.len() > MAX_CHECKS {
            return Err(AclError::Invalid("checks"));
        }
        for (key, _) in checks {
            manage::check_key(key)?;
        }
        let keys: Vec<&ResourceKey> = checks.iter().map(|(key, _)| key).collect();
        let found = self.facts(ctx.subject(), &keys).await;
        // Every decision is shown to the observers first, then waited for: an observer that is
        // behind (a full audit queue) then costs the request one wait, not one per check.
        let mut admitting = Vec::with_capacity(checks.len());
        for (at, (key, wanted)) in checks.iter().enumerate() {
            let fact = match &found {
                Ok(found) => Ok(found[at].clone()),
                Err(error) => Err(error.clone()),
            };
            let decision = self
                .decide_found(ctx, key, fact, *wanted, None, false)
                .await;
            let required = Requirement::Access(EntityAccess::new(&key.service, *wanted));
            admitting.push(ctx.seam().admit(ctx, &required, decision, None));
        }
        let mut decisions = Vec::with_capacity(checks.len());
        for decision in admitting {
            decisions.push(decision.finish().await);
        }
        Ok(decisions)
    }
}

impl<S: AclStore> Authorizer for Acl<S> {
    fn decide<'a>(&'a self, question: Question<'a>) -> MaybeReady<'a, Decision> {
        let Requirement::Access(access) = question.required() else {
            return self.rbac.decide(question);
        };
        let at = question.scope();
        let Some((kind, Some(id))) = at.resource().map(|r| (r.kind(), r.id())) else {
            // An access check names its resource; one that does not cannot be allowed.
            return MaybeReady::ready(Decision::new(Reason::DenyNoRecord, at.clone()));
        };
        let key = ResourceKey::new(access.service(), kind, id);
        let wanted = access.access();
        MaybeReady::new(async move {
            self.decide_access(question.context(), &key, wanted, at, question.wants_match())
                .await
        })
    }
}
