//! The decision seam: every check of the crate goes through one [`Authorizer`], and every
//! answer is a [`Decision`] with a stable [`Reason`] code, shown to the [`DecisionObserver`]s.
//!
//! The extractors ([`RequirePermission`](crate::RequirePermission),
//! [`RequireAction`](crate::RequireAction)), the route layers
//! ([`require_permission`](crate::require_permission), [`RequireLayer`](crate::RequireLayer)) and
//! [`UserContext::require_permission`] / [`UserContext::authorize`] all ask the authorizer of the
//! gateway that admitted the request; nothing of the crate asks a
//! [`PermissionSet`](crate::rbac::PermissionSet) behind the seam's back. That is where reason
//! codes, [`explain`], metrics and the audit trail live.
//!
//! The default authorizer is the [`RolePolicy`]'s: it answers from the permission set the
//! gateway's enrichment gave the context, with no I/O, and refuses a check about a tenant the
//! context's credential is not for (`deny_other_tenant`). An authorizer that must ask a store
//! answers with a future ([`MaybeReady::new`]); one that cannot ask it answers
//! [`Reason::Unavailable`], which the crate turns into 503 (fail closed).
//!
//! ```
//! use portcullis::authz::Scope;
//! use portcullis::rbac::{Permission, RolePolicy};
//! use portcullis::{AuthMethod, Reason, Requirement, UserContext};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let policy = RolePolicy::default();
//! let ctx = UserContext::new("u1", AuthMethod::Bearer)
//!     .with_roles(["editor"])
//!     .with_tenant("acme");
//! let ctx = ctx.clone().with_permissions(policy.permissions_for(ctx.roles()));
//! let write = Requirement::Permission(Permission::parse("write:Catalog")?);
//!
//! let here = ctx.authorize(&write, &Scope::tenant("acme")?).await;
//! assert_eq!(here.reason(), Reason::Allow);
//! let elsewhere = ctx.authorize(&write, &Scope::tenant("globex")?).await;
//! assert_eq!(elsewhere.reason(), Reason::DenyOtherTenant);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decision;
mod observe;
mod route_scope;
mod scope;

use std::fmt;
use std::sync::{Arc, OnceLock};

pub use decision::{Decision, Granted, Via};
pub use observe::{
    DecisionEvent, DecisionObserver, PendingAdmission, RequestFacts, TracingObserver,
};
pub(crate) use route_scope::{CheckedWithoutScope, rule_of};
pub use route_scope::{
    FromRouter, ScopeDef, ScopeFuture, ScopeLayer, ScopeRule, ScopeRuleError, ScopeService,
};
pub(crate) use scope::is_slug;
pub use scope::{
    MAX_NAMESPACE_DEPTH, MAX_RESOURCE_ID_LEN, MAX_RESOURCE_TYPE_LEN, MAX_SEGMENT_LEN,
    MAX_TENANT_LEN, Resource, Scope, ScopeError,
};

use crate::context::UserContext;
use crate::error::AuthError;
pub use crate::error::{Denial, Reason, Requirement};
use crate::future::MaybeReady;
use crate::rbac::RolePolicy;
use crate::rbac::{Action, Permission};

/// One question to the seam: who asks, what is required, where.
#[derive(Clone, Copy)]
pub struct Question<'a> {
    context: &'a UserContext,
    required: &'a Requirement,
    at: &'a Scope,
    explain: bool,
}

impl<'a> Question<'a> {
    /// A question (for testing an authorizer of your own).
    pub fn new(context: &'a UserContext, required: &'a Requirement, at: &'a Scope) -> Self {
        Self {
            context,
            required,
            at,
            explain: false,
        }
    }

    /// The same question, asking for what matched ([`Decision::matched`]).
    pub fn explained(mut self) -> Self {
        self.explain = true;
        self
    }

    /// Who asks.
    pub fn context(&self) -> &'a UserContext {
        self.context
    }

    /// What is required.
    pub fn required(&self) -> &'a Requirement {
        self.required
    }

    /// Where.
    pub fn scope(&self) -> &'a Scope {
        self.at
    }

    /// Whether the asker wants [`Decision::matched`] filled in.
    pub fn wants_match(&self) -> bool {
        self.explain
    }
}

/// The one decision point. Answer at once when you can ([`MaybeReady::ready`]), with a future
/// when a store must be asked; answer [`Reason::Unavailable`] when it cannot be (never allow a
/// check you could not make).
///
/// ```
/// use portcullis::authz::{Authorizer, Decision, Question};
/// use portcullis::{MaybeReady, Reason};
///
/// /// Allows nothing on Sundays, else what the role policy says.
/// struct ClosedOnSundays(portcullis::rbac::RolePolicy);
///
/// impl Authorizer for ClosedOnSundays {
///     fn decide<'a>(&'a self, question: Question<'a>) -> MaybeReady<'a, Decision> {
///         let sunday = false; // your calendar here
///         if sunday {
///             return MaybeReady::ready(Decision::new(Reason::DenyNoPermission, question.scope().clone()));
///         }
///         self.0.decide(question)
///     }
/// }
/// ```
pub trait Authorizer: Send + Sync + 'static {
    /// Answers one question.
    fn decide<'a>(&'a self, question: Question<'a>) -> MaybeReady<'a, Decision>;
}

impl Authorizer for RolePolicy {
    /// Answers from the permission set the gateway's enrichment gave the context (see the
    /// module docs), at once.
    fn decide<'a>(&'a self, question: Question<'a>) -> MaybeReady<'a, Decision> {
        MaybeReady::ready(from_context(question))
    }
}

/// The answer of the context's own permission set.
pub(crate) fn from_context(question: Question<'_>) -> Decision {
    let Question {
        context: ctx,
        required,
        at,
        explain,
    } = question;
    // A check about a tenant is answered only for a credential of that tenant, whatever its
    // roles: the roles a token carries are its own tenant's.
    if let Some(tenant) = at.tenant_id()
        && ctx.tenant() != Some(tenant)
    {
        return Decision::new(Reason::DenyOtherTenant, at.clone());
    }
    if let Requirement::Roles(roles) = required {
        return roles_decision(ctx, roles, at, explain);
    }
    let set = ctx.permissions();
    let allowed = match required {
        Requirement::Permission(p) => set.allows(p),
        Requirement::Action(a) => set.allows_action(a),
        // Roles are answered above; a resource's access only by the entity engine, which
        // knows its records (a role policy holds none: fail closed).
        Requirement::Roles(_) | Requirement::Access(_) => false,
    };
    if !allowed {
        let reason = if set.is_empty() && ctx.roles().is_empty() {
            Reason::DenyNoRoles
        } else {
            Reason::DenyNoPermission
        };
        return Decision::new(reason, at.clone());
    }
    let decision = Decision::new(Reason::Allow, at.clone());
    if !explain {
        return decision;
    }
    let matched = match required {
        Requirement::Permission(p) => set.explain(p),
        Requirement::Action(a) => set.explain_action(a),
        Requirement::Roles(_) | Requirement::Access(_) => None,
    };
    match matched {
        Some(m) => decision.with_match(Granted::new(m.role(), m.grant())),
        None => decision,
    }
}

/// The answer to a [`Requirement::Roles`] check from the context's roles: every required role
/// must be held globally or for the scope's resource (spanforge's `authorize`). What matched is
/// each role with where it is held (`admin` or `claims/claims_writer`).
fn roles_decision(ctx: &UserContext, required: &[String], at: &Scope, explain: bool) -> Decision {
    let for_resource = at
        .resource()
        .map_or(&[][..], |r| ctx.resource_roles(r.kind()));
    let held = |role: &String| -> Option<bool> {
        if ctx.has_role(role) {
            Some(true)
        } else if for_resource.binary_search(role).is_ok() {
            Some(false)
        } else {
            None
        }
    };
    if required.iter().any(|role| held(role).is_none()) {
        let reason = if ctx.roles().is_empty() && for_resource.is_empty() {
            Reason::DenyNoRoles
        } else {
            Reason::DenyMissingRoles
        };
        return Decision::new(reason, at.clone());
    }
    let decision = Decision::new(Reason::Allow, at.clone());
    if !explain {
        return decision;
    }
    let resource = at.resource().map_or("", |r| r.kind());
    let how: Vec<String> = required
        .iter()
        .map(|role| match held(role) {
            Some(true) => role.clone(),
            _ => format!("{resource}/{role}"),
        })
        .collect();
    decision.with_match(Granted::new(None, &how.join(", ")))
}

// The checks a context makes itself. Defined here rather than in `context`, which must not
// import the seam that asks about contexts.
impl UserContext {
    /// `Ok` when the decision seam allows the permission, else the error to answer with
    /// ([`AuthError::Forbidden`] with its reason code). Asked through the gateway's
    /// [`Authorizer`](crate::authz::Authorizer) and shown to its observers, like every check of
    /// the crate.
    ///
    /// Synchronous: an authorizer that must wait for a store cannot be answered here, and the
    /// check fails closed ([`AuthError::Unavailable`], logged); use
    /// [`authorize`](Self::authorize) there. Nor can an observer that is behind wait: with the
    /// [audit trail](crate::audit)'s queue full, an allow is refused at once
    /// ([`AuthError::Unavailable`]) where an awaited check would wait for room.
    pub fn require_permission(&self, permission: &Permission) -> Result<(), AuthError> {
        self.require_now(Requirement::Permission(permission.clone()))
    }

    /// `Ok` when the decision seam allows the action, else the error to answer with (see
    /// [`require_permission`](Self::require_permission)).
    pub fn require_action(&self, action: &Action) -> Result<(), AuthError> {
        self.require_now(Requirement::Action(action.clone()))
    }

    fn require_now(&self, required: Requirement) -> Result<(), AuthError> {
        match self.seam().decide_now(self, &required, Scope::global_ref()) {
            Some(decision) => decision.into_result(&required),
            None => {
                tracing::error!(
                    "the gateway's authorizer must wait for this check, which \
                     UserContext::require_* cannot do: refused; use UserContext::authorize"
                );
                Err(AuthError::Unavailable)
            }
        }
    }

    /// Asks the decision seam (the gateway's [`Authorizer`](crate::authz::Authorizer), shown to
    /// its observers) whether the caller meets `required` at `at`; see [`authz`](crate::authz).
    pub fn authorize<'a>(
        &'a self,
        required: &'a Requirement,
        at: &'a Scope,
    ) -> MaybeReady<'a, Decision> {
        self.seam().decide(self, required, at, None)
    }

    /// The seam of the gateway that admitted the request, or the default one.
    pub(crate) fn seam(&self) -> &'static Seam {
        self.seam_erased()
            .and_then(|seam| seam.downcast_ref::<Seam>())
            .unwrap_or_else(Seam::fallback)
    }
}

/// A gateway's authorizer and observers, kept for the life of the process with its renderer.
pub(crate) struct Seam {
    /// `None`: the context's own set answers (the role policy's way), called directly rather
    /// than through a trait object and a future: the path every default gateway takes.
    authorizer: Option<Arc<dyn Authorizer>>,
    /// Whether the default [`TracingObserver`] logs, called directly for the same reason.
    log: bool,
    observers: Box<[Arc<dyn DecisionObserver>]>,
    /// Whether an observer wants what matched.
    explain: bool,
}

impl Seam {
    pub(crate) fn new(
        authorizer: Option<Arc<dyn Authorizer>>,
        log: bool,
        observers: Vec<Arc<dyn DecisionObserver>>,
    ) -> Self {
        let explain = observers.iter().any(|o| o.wants_matches());
        Self {
            authorizer,
            log,
            observers: observers.into(),
            explain,
        }
    }

    /// The seam of a context no gateway admitted: the role policy's answer, logged.
    pub(crate) fn fallback() -> &'static Seam {
        static SEAM: OnceLock<Seam> = OnceLock::new();
        SEAM.get_or_init(|| Seam::new(None, true, Vec::new()))
    }

    /// Shows every observer the decision; `false` when one refused it (see
    /// [`DecisionObserver::admit`]). For checks that cannot wait.
    fn observe_now(&self, event: &DecisionEvent<'_>) -> bool {
        if self.log {
            TracingObserver.observe(event);
        }
        let mut admitted = true;
        for observer in self.observers.iter() {
            admitted &= observer.admit(event);
        }
        admitted
    }

    /// Shows every observer the decision, letting those that are behind answer later (see
    /// [`DecisionObserver::admit_or_wait`]): the decision as it takes effect, or what is left
    /// to wait for.
    fn observe(&self, event: &DecisionEvent<'_>) -> Result<bool, Waiting> {
        if self.log {
            TracingObserver.observe(event);
        }
        let mut admitted = true;
        // Allocated only when an observer must wait.
        let mut pending = Vec::new();
        for observer in self.observers.iter() {
            match observer.admit_or_wait(event) {
                Ok(taken) => admitted &= taken,
                Err(later) => pending.push(later),
            }
        }
        if pending.is_empty() {
            Ok(admitted)
        } else {
            Err(Waiting { admitted, pending })
        }
    }

    /// The observers' answer to `decision` (see [`observe`](Self::observe)); every wait it
    /// leaves has its deadline set now, so decisions admitted together wait at most one bound
    /// in all, however they are finished.
    pub(crate) fn admit(
        &self,
        context: &UserContext,
        required: &Requirement,
        decision: Decision,
        request: Option<RequestFacts<'_>>,
    ) -> Admitting {
        let answer = self.observe(&DecisionEvent {
            context,
            required,
            decision: &decision,
            request,
        });
        match answer {
            Ok(admitted) => Admitting::Done(Self::admitted(admitted, decision)),
            Err(waiting) => Admitting::Waiting(decision, waiting),
        }
    }

    /// `decision`, or an unavailable one in its place when an observer refused an allow.
    fn admitted(admitted: bool, decision: Decision) -> Decision {
        if admitted || !decision.is_allowed() {
            decision
        } else {
            Decision::new(Reason::Unavailable, decision.scope().clone())
        }
    }

    /// Asks the authorizer and shows the answer to every observer.
    pub(crate) fn decide<'a>(
        &'a self,
        context: &'a UserContext,
        required: &'a Requirement,
        at: &'a Scope,
        request: Option<RequestFacts<'a>>,
    ) -> MaybeReady<'a, Decision> {
        let question = Question {
            context,
            required,
            at,
            explain: self.explain,
        };
        let observe = move |decision| self.admit(context, required, decision, request);
        let Some(authorizer) = &self.authorizer else {
            return observe(from_context(question)).into_maybe_ready();
        };
        match authorizer.decide(question).now_or_later() {
            Ok(decision) => observe(decision).into_maybe_ready(),
            Err(later) => MaybeReady::new(async move { observe(later.await).finish().await }),
        }
    }

    /// [`decide`](Self::decide) as far as it goes at once: the observers' answer when the
    /// authorizer has one now, else `None`, and then nothing has been observed, so the caller
    /// may ask again where it can wait (the route layer, whose future must own what it holds).
    pub(crate) fn decide_at_once(
        &self,
        context: &UserContext,
        required: &Requirement,
        at: &Scope,
        request: Option<RequestFacts<'_>>,
    ) -> Option<Admitting> {
        let decision = self.answer_now(context, required, at)?;
        Some(self.admit(context, required, decision, request))
    }

    /// The authorizer's answer, when it has one without waiting (nothing observed).
    fn answer_now(
        &self,
        context: &UserContext,
        required: &Requirement,
        at: &Scope,
    ) -> Option<Decision> {
        let question = Question {
            context,
            required,
            at,
            explain: self.explain,
        };
        match &self.authorizer {
            None => Some(from_context(question)),
            Some(authorizer) => authorizer.decide(question).now(),
        }
    }

    /// [`decide`](Self::decide) for a check that cannot wait: `None` when the authorizer
    /// must, and observers that are behind refuse at once.
    pub(crate) fn decide_now(
        &self,
        context: &UserContext,
        required: &Requirement,
        at: &Scope,
    ) -> Option<Decision> {
        let decision = self.answer_now(context, required, at)?;
        let admitted = self.observe_now(&DecisionEvent {
            context,
            required,
            decision: &decision,
            request: None,
        });
        Some(Self::admitted(admitted, decision))
    }

    /// Shows every observer a decision an engine made itself (the entity engine's, asked
    /// through its own API rather than through this seam's authorizer), and gives it back as it
    /// takes effect (unavailable when an observer refused an allow).
    pub(crate) async fn report(
        &self,
        context: &UserContext,
        required: &Requirement,
        decision: Decision,
    ) -> Decision {
        self.admit(context, required, decision, None).finish().await
    }

    /// Asks the authorizer for the decision with what matched, without observers: an
    /// explanation is a question about a decision, not one that takes effect.
    pub(crate) fn explain<'a>(
        &'a self,
        context: &'a UserContext,
        required: &'a Requirement,
        at: &'a Scope,
    ) -> MaybeReady<'a, Decision> {
        let question = Question::new(context, required, at).explained();
        match &self.authorizer {
            None => MaybeReady::ready(from_context(question)),
            Some(authorizer) => authorizer.decide(question),
        }
    }
}

/// Observers that must answer later, and whether those that answered at once took the
/// decision.
pub(crate) struct Waiting {
    admitted: bool,
    pending: Vec<PendingAdmission>,
}

/// Where the observers left a decision: settled, or waiting for observers that are behind.
/// Owns everything it holds, so a future may take it along.
pub(crate) enum Admitting {
    Done(Decision),
    Waiting(Decision, Waiting),
}

impl Admitting {
    /// The decision as it takes effect, once every observer that was behind has answered.
    pub(crate) async fn finish(self) -> Decision {
        match self {
            Self::Done(decision) => decision,
            Self::Waiting(decision, waiting) => {
                let mut admitted = waiting.admitted;
                for later in waiting.pending {
                    // An allow already refused by one observer is refused whatever the others
                    // say: stop waiting, so no other record is queued for it.
                    if !admitted && decision.is_allowed() {
                        break;
                    }
                    admitted &= later.await;
                }
                Seam::admitted(admitted, decision)
            }
        }
    }

    /// The decision, when no observer had to wait.
    pub(crate) fn settled(self) -> Result<Decision, Self> {
        match self {
            Self::Done(decision) => Ok(decision),
            waiting => Err(waiting),
        }
    }

    fn into_maybe_ready<'a>(self) -> MaybeReady<'a, Decision> {
        match self {
            Self::Done(decision) => MaybeReady::ready(decision),
            waiting => MaybeReady::new(waiting.finish()),
        }
    }
}

/// A handle on a gateway's decision seam (its [`Authorizer`] and observers), for engines that
/// decide outside a request's extractors: the tenant role model's `check_action`, the spanforge
/// actors' `authorize`, a background job. What is asked here is answered, observed and audited
/// exactly like a check in a handler. Cheap to copy.
///
/// ```
/// use portcullis::authz::{DecisionPoint, Scope};
/// use portcullis::rbac::{Permission, RolePolicy};
/// use portcullis::{AuthMethod, Reason, Requirement, UserContext};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let decisions = DecisionPoint::default(); // or `layer.decision_point()` of a built gateway
/// let ctx = UserContext::new("u1", AuthMethod::Bearer)
///     .with_permissions(RolePolicy::default().permissions_for(&["viewer".into()]));
/// let read = Requirement::Permission(Permission::parse("read:Catalog")?);
/// assert_eq!(decisions.decide(&ctx, &read, &Scope::global()).await.reason(), Reason::Allow);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy)]
pub struct DecisionPoint {
    seam: &'static Seam,
}

impl Default for DecisionPoint {
    /// The seam of contexts no gateway admitted: the context's own permission set answers, and
    /// the decision is logged.
    fn default() -> Self {
        Self {
            seam: Seam::fallback(),
        }
    }
}

impl fmt::Debug for DecisionPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecisionPoint")
            .field("authorizer", &self.seam.authorizer.is_some())
            .field("observers", &self.seam.observers.len())
            .finish()
    }
}

impl DecisionPoint {
    /// A decision point of its own, outside any gateway: `authorizer` answers (`None`: the
    /// context's own permission set) and `observers` see each decision, after the default
    /// [`TracingObserver`]. Kept for the life of the process, like a gateway's: make one at
    /// start-up.
    pub fn new(
        authorizer: Option<Arc<dyn Authorizer>>,
        observers: Vec<Arc<dyn DecisionObserver>>,
    ) -> Self {
        Self {
            seam: Box::leak(Box::new(Seam::new(authorizer, true, observers))),
        }
    }

    /// Makes `ctx` a context of this decision point: its checks (entity checks included) are
    /// answered and observed here, as a gateway's are for the contexts it admits.
    #[cfg(feature = "service")]
    pub(crate) fn admit(&self, ctx: &mut UserContext) {
        ctx.set_seam(self.seam);
    }

    pub(crate) fn of_seam(seam: &'static Seam) -> Self {
        Self { seam }
    }

    /// The seam of the gateway that admitted `ctx` (the default one for a context no gateway
    /// admitted).
    pub fn of(ctx: &UserContext) -> Self {
        Self { seam: ctx.seam() }
    }

    /// Asks the authorizer whether `ctx` meets `required` at `at`; observers see the answer.
    pub fn decide<'a>(
        &self,
        ctx: &'a UserContext,
        required: &'a Requirement,
        at: &'a Scope,
    ) -> MaybeReady<'a, Decision> {
        self.seam.decide(ctx, required, at, None)
    }

    /// The decision with what matched, or the nearest miss; not shown to observers (see
    /// [`explain`]).
    pub fn explain<'a>(
        &self,
        ctx: &'a UserContext,
        required: &'a Requirement,
        at: &'a Scope,
    ) -> MaybeReady<'a, Decision> {
        self.seam.explain(ctx, required, at)
    }
}

/// The decision `ctx`'s gateway would make for `required` at `at`, with the role and grant that
/// matched ([`Decision::matched`]); for admin screens and reviews. Not shown to observers.
///
/// ```
/// use portcullis::authz::{self, Scope};
/// use portcullis::rbac::{Permission, RolePolicy};
/// use portcullis::{AuthMethod, Requirement, UserContext};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let ctx = UserContext::new("u1", AuthMethod::Bearer)
///     .with_permissions(RolePolicy::default().permissions_for(&["editor".into()]));
/// let write = Requirement::Permission(Permission::parse("write:Catalog.Review")?);
/// let why = authz::explain(&ctx, &write, &Scope::global()).await;
/// let matched = why.matched().unwrap();
/// assert_eq!((matched.role(), matched.grant()), (Some("editor"), "write:*"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn explain<'a>(
    ctx: &'a UserContext,
    required: &'a Requirement,
    at: &'a Scope,
) -> MaybeReady<'a, Decision> {
    ctx.seam().explain(ctx, required, at)
}

#[cfg(test)]
mod tests;
