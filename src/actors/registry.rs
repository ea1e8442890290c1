//! The registry of actor manifests, and `authorize` through the decision seam.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use super::manifest::{ActorManifest, MANIFEST_METHOD, check_actor_id, check_role, excerpt};
use super::{ActorError, DEFAULT_MAX_ACTORS, MAX_ACTOR_ROLES};
use crate::authz::{Decision, DecisionPoint, Scope};
use crate::context::UserContext;
use crate::error::Requirement;

/// One registered actor: its manifest and the context made from it once, at registration.
#[derive(Clone)]
struct Entry {
    manifest: Arc<ActorManifest>,
    context: UserContext,
}

struct Shared {
    actors: RwLock<HashMap<String, Entry>>,
    max: usize,
}

/// The actors an application knows, by id (spanforge's `register_actor` and `authorize`).
///
/// Safe to share between tasks (clones share one registry). Reads and writes take a short
/// lock that is never held across an `.await`: [`authorize`](Self::authorize) copies what it
/// needs out first. The number of actors is bounded ([`DEFAULT_MAX_ACTORS`], or
/// [`with_max_actors`](Self::with_max_actors)); registering one more new actor is refused, while
/// replacing an actor's manifest always works.
///
/// Manifests live in memory only: load them again at start-up (from YAML, tokens or your own
/// store).
///
/// ```
/// use portcullis::actors::{ActorManifest, Actors};
/// use portcullis::authz::DecisionPoint;
/// use portcullis::Reason;
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let actors = Actors::new();
/// actors.register(
///     ActorManifest::new("case-worker-7")
///         .role("claims_reviewer")
///         .resource_role("claims", "claims_writer"),
/// )?;
///
/// let decisions = DecisionPoint::default(); // or `layer.decision_point()` of your gateway
/// let both = ["claims_reviewer", "claims_writer"];
/// let on_claims = actors.authorize(&decisions, "case-worker-7", Some("claims"), &both).await?;
/// assert_eq!(on_claims.reason(), Reason::Allow);
/// let elsewhere = actors.authorize(&decisions, "case-worker-7", None, &both).await?;
/// assert_eq!(elsewhere.reason(), Reason::DenyMissingRoles);
/// let stranger = actors.authorize(&decisions, "mallory", None, &["viewer"]).await?;
/// assert_eq!(stranger.reason(), Reason::DenyNoRoles);
/// # Ok::<(), portcullis::actors::ActorError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Actors {
    shared: Arc<Shared>,
}

impl Default for Actors {
    fn default() -> Self {
        Self::with_max_actors(DEFAULT_MAX_ACTORS)
    }
}

impl fmt::Debug for Actors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Actors")
            .field("len", &self.len())
            .field("max", &self.shared.max)
            .finish()
    }
}

impl Actors {
    /// An empty registry holding at most [`DEFAULT_MAX_ACTORS`] actors.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry holding at most `max` actors.
    pub fn with_max_actors(max: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                actors: RwLock::new(HashMap::new()),
                max,
            }),
        }
    }

    // A panic while the lock was held cannot leave the map half-written (every write is one
    // insert or remove), so a poisoned lock is used as it is.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.shared
            .actors
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.shared
            .actors
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `manifest` after [validating](ActorManifest::validate) it, replacing the
    /// actor's previous manifest (returned). Refused with [`ActorError::TooManyActors`] when the
    /// actor is new and the registry is full.
    ///
    /// ```
    /// use portcullis::actors::{ActorError, ActorManifest, Actors};
    ///
    /// let actors = Actors::with_max_actors(1);
    /// assert!(actors.register(ActorManifest::new("alice").role("viewer"))?.is_none());
    /// let before = actors.register(ActorManifest::new("alice").role("editor"))?;
    /// assert_eq!(before.unwrap().roles(), ["viewer"]);
    /// assert_eq!(actors.register(ActorManifest::new("bob")), Err(ActorError::TooManyActors));
    /// # Ok::<(), ActorError>(())
    /// ```
    pub fn register(
        &self,
        manifest: ActorManifest,
    ) -> Result<Option<Arc<ActorManifest>>, ActorError> {
        manifest.validate()?;
        let entry = Entry {
            context: manifest.clone().into_context(),
            manifest: Arc::new(manifest),
        };
        let mut actors = self.write();
        if actors.len() >= self.shared.max && !actors.contains_key(entry.manifest.actor_id()) {
            return Err(ActorError::TooManyActors);
        }
        let id = entry.manifest.actor_id().to_owned();
        Ok(actors.insert(id, entry).map(|old| old.manifest))
    }

    /// The manifest of `actor_id`, if registered.
    pub fn get(&self, actor_id: &str) -> Option<Arc<ActorManifest>> {
        self.read().get(actor_id).map(|e| e.manifest.clone())
    }

    /// Forgets `actor_id`; its manifest, if it was registered.
    pub fn remove(&self, actor_id: &str) -> Option<Arc<ActorManifest>> {
        self.write().remove(actor_id).map(|e| e.manifest)
    }

    /// Every registered manifest, sorted by actor id.
    pub fn list(&self) -> Vec<Arc<ActorManifest>> {
        let mut all: Vec<Arc<ActorManifest>> =
            self.read().values().map(|e| e.manifest.clone()).collect();
        all.sort_unstable_by(|a, b| a.actor_id().cmp(b.actor_id()));
        all
    }

    /// How many actors are registered.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no actor is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The question `authorize` asks: the actor's context (an empty one for an unknown actor),
    /// the requirement and the scope. Refuses questions that are not well formed.
    fn question(
        &self,
        actor_id: &str,
        resource: Option<&str>,
        required_roles: &[&str],
    ) -> Result<(UserContext, Requirement, Scope), ActorError> {
        check_actor_id(actor_id)?;
        if required_roles.is_empty() {
            return Err(ActorError::NoRolesRequired);
        }
        if required_roles.len() > MAX_ACTOR_ROLES {
            return Err(ActorError::TooManyRoles);
        }
        for role in required_roles {
            check_role(role)?;
        }
        let at = match resource {
            None => Scope::global(),
            Some(kind) => Scope::global()
                .on(kind, None)
                .map_err(|_| ActorError::InvalidResource(excerpt(kind)))?,
        };
        let required = Requirement::Roles(required_roles.iter().map(|r| (*r).to_owned()).collect());
        // Cloned out under the lock (reference counts), which is released before any await.
        let known = self.read().get(actor_id).map(|e| e.context.clone());
        let ctx = known.unwrap_or_else(|| UserContext::new(actor_id, MANIFEST_METHOD));
        Ok((ctx, required, at))
    }

    /// Whether `actor_id` holds every one of `required_roles`, globally or for `resource`
    /// (spanforge's `authorize`: effective roles are the global roles plus the resource's).
    ///
    /// Asked **through the decision seam** of `decisions` (a gateway's
    /// [`decision_point`](crate::AuthLayer::decision_point), or a [`DecisionPoint`] of your
    /// own): the actor's context, [`Requirement::Roles`] and
    /// `Scope::global().on(resource, None)` go to its [`Authorizer`](crate::authz::Authorizer),
    /// and its observers see the decision (and audit it) like any check in a handler. The
    /// default authorizer answers
    ///
    /// - `allow` when every required role is held;
    /// - `deny_missing_roles` when one is not;
    /// - `deny_no_roles` when the actor holds no role at all (here or for the resource), which
    ///   is also the answer for an actor that is not registered: it is asked about as a context
    ///   without roles, so observers see that check too.
    ///
    /// When the seam is asked for what matched (an observer that
    /// [wants matches](crate::authz::DecisionObserver::wants_matches), or
    /// [`explain`](Self::explain)), [`Decision::matched`] lists each required role where it is
    /// held: `admin` for a global role, `claims/claims_writer` for one held for the resource,
    /// joined by `, `, with no role name of its own.
    ///
    /// A question that is not well formed is an error, not a decision, and is not shown to
    /// observers: an actor id or a resource type outside the manifest bounds, a role name that
    /// is no role name, more than [`MAX_ACTOR_ROLES`] roles, or no role at all (which would
    /// allow everyone: refused as [`ActorError::NoRolesRequired`]).
    pub async fn authorize(
        &self,
        decisions: &DecisionPoint,
        actor_id: &str,
        resource: Option<&str>,
        required_roles: &[&str],
    ) -> Result<Decision, ActorError> {
        let (ctx, required, at) = self.question(actor_id, resource, required_roles)?;
        Ok(decisions.decide(&ctx, &required, &at).await)
    }

    /// The decision [`authorize`](Self::authorize) would make, with what matched
    /// ([`Decision::matched`]); for admin screens and reviews. Not shown to observers (see
    /// [`authz::explain`](crate::authz::explain)).
    ///
    /// ```
    /// use portcullis::actors::{ActorManifest, Actors};
    /// use portcullis::authz::DecisionPoint;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let actors = Actors::new();
    /// actors.register(ActorManifest::new("alice").role("viewer").resource_role("claims", "editor"))?;
    /// let why = actors
    ///     .explain(&DecisionPoint::default(), "alice", Some("claims"), &["viewer", "editor"])
    ///     .await?;
    /// assert_eq!(why.matched().unwrap().grant(), "viewer, claims/editor");
    /// # Ok::<(), portcullis::actors::ActorError>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn explain(
        &self,
        decisions: &DecisionPoint,
        actor_id: &str,
        resource: Option<&str>,
        required_roles: &[&str],
    ) -> Result<Decision, ActorError> {
        let (ctx, required, at) = self.question(actor_id, resource, required_roles)?;
        Ok(decisions.explain(&ctx, &required, &at).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Reason;

    fn ok<T, E: fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        ok(tokio::runtime::Builder::new_current_thread().build()).block_on(f)
    }

    #[test]
    fn register_get_remove_list() {
        let actors = Actors::new();
        assert!(actors.is_empty());
        assert!(ok(actors.register(ActorManifest::new("bob").role("viewer"))).is_none());
        assert!(ok(actors.register(ActorManifest::new("alice").role("editor"))).is_none());
        let old = ok(actors.register(ActorManifest::new("bob").role("admin")));
        assert_eq!(
            old.map(|m| m.roles().to_vec()),
            Some(vec!["viewer".to_owned()])
        );
        assert_eq!(actors.len(), 2);
        assert_eq!(
            actors.get("bob").map(|m| m.roles().to_vec()),
            Some(vec!["admin".to_owned()])
        );
        let ids: Vec<String> = actors
            .list()
            .iter()
            .map(|m| m.actor_id().to_owned())
            .collect();
        assert_eq!(ids, ["alice", "bob"]);
        assert!(actors.remove("bob").is_some());
        assert!(actors.remove("bob").is_none());
        assert!(actors.get("bob").is_none());
        // Invalid manifests never get in.
        assert_eq!(
            actors.register(ActorManifest::new("a b")),
            Err(ActorError::InvalidActorId)
        );
        assert_eq!(actors.len(), 1);
    }

    #[test]
    fn the_count_is_bounded() {
        let actors = Actors::with_max_actors(2);
        ok(actors.register(ActorManifest::new("a")));
        ok(actors.register(ActorManifest::new("b")));
        assert_eq!(
            actors.register(ActorManifest::new("c")),
            Err(ActorError::TooManyActors)
        );
        ok(actors.register(ActorManifest::new("a").role("viewer")));
        actors.remove("b");
        ok(actors.register(ActorManifest::new("c")));
        assert_eq!(actors.len(), 2);
    }

    #[test]
    fn a_replaced_manifest_is_what_the_next_check_sees() {
        let actors = Actors::new();
        let decisions = DecisionPoint::default();
        ok(actors.register(ActorManifest::new("a").role("admin")));
        let ask = || block_on(actors.authorize(&decisions, "a", None, &["admin"]));
        assert_eq!(ok(ask()).reason(), Reason::Allow);
        ok(actors.register(ActorManifest::new("a").role("viewer")));
        assert_eq!(ok(ask()).reason(), Reason::DenyMissingRoles);
        actors.remove("a");
        assert_eq!(ok(ask()).reason(), Reason::DenyNoRoles);
    }

    #[test]
    fn malformed_questions_are_errors() {
        let actors = Actors::new();
        ok(actors.register(ActorManifest::new("a").role("admin")));
        let d = DecisionPoint::default();
        let ask = |id: &str, res: Option<&str>, roles: &[&str]| {
            block_on(actors.authorize(&d, id, res, roles)).map(|d| d.reason())
        };
        assert_eq!(ask("a", None, &[]), Err(ActorError::NoRolesRequired));
        assert_eq!(ask("", None, &["admin"]), Err(ActorError::InvalidActorId));
        assert_eq!(
            ask(&"a".repeat(257), None, &["admin"]),
            Err(ActorError::InvalidActorId)
        );
        assert!(matches!(
            ask("a", Some("Claims"), &["admin"]),
            Err(ActorError::InvalidResource(_))
        ));
        assert!(matches!(
            ask("a", None, &["ad min"]),
            Err(ActorError::InvalidRole(_))
        ));
        let many: Vec<String> = (0..=MAX_ACTOR_ROLES).map(|i| format!("r{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(ask("a", None, &many), Err(ActorError::TooManyRoles));
        assert_eq!(ask("a", Some("claims"), &["admin"]), Ok(Reason::Allow));
    }

    #[test]
    fn concurrent_registration_and_checks() {
        let actors = Actors::with_max_actors(64);
        let decisions = DecisionPoint::default();
        std::thread::scope(|s| {
            for t in 0..4 {
                let actors = actors.clone();
                s.spawn(move || {
                    for i in 0..200 {
                        let id = format!("t{t}-{}", i % 16);
                        let role = if i % 2 == 0 { "viewer" } else { "editor" };
                        ok(actors.register(ActorManifest::new(id.clone()).role(role)));
                        let got = block_on(actors.authorize(&decisions, &id, None, &[role]));
                        // Only this thread writes this id: it sees its own write.
                        assert_eq!(ok(got).reason(), Reason::Allow);
                    }
                });
            }
        });
        assert_eq!(actors.len(), 64);
    }

    #[test]
    fn the_future_is_send() {
        fn send<T: Send>(_: &T) {}
        let actors = Actors::new();
        let d = DecisionPoint::default();
        send(&actors.authorize(&d, "a", None, &["x"]));
        send(&actors.explain(&d, "a", None, &["x"]));
    }
}
