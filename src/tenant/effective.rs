//! What one subject may do at one (tenant, namespace): the roles its credential names and its
//! stored assignments (its own and its groups'), each expanded through its parents, held at
//! the namespace or one of its ancestors, compiled into a [`PermissionSet`] over the tenant's
//! graph. Also why a check was denied, and the path that allowed it.

use std::sync::Arc;

use super::graph::{Graph, applies};
use crate::authz::{Granted, Resource, Via};
use crate::error::{Reason, Requirement};
use crate::rbac::PermissionSet;
use crate::store::roles::{AssignmentRecord, SubjectKind};

/// One subject's assignments in one tenant, as stored (own and through groups, expired ones
/// too: they explain `deny_assignment_expired`).
pub(crate) struct Held {
    pub(crate) assignments: Box<[AssignmentRecord]>,
}

impl Held {
    pub(crate) fn weight(&self) -> u32 {
        let bytes: usize = self
            .assignments
            .iter()
            .map(|a| a.id.len() + a.role_id.len() + a.subject.len() + 160)
            .sum();
        u32::try_from(bytes + 64).unwrap_or(u32::MAX)
    }
}

/// The compiled answer for one (subject, tenant, namespace, credential roles).
pub(crate) struct Effective {
    /// The generation stripe of the tenant, and its value when this was computed: a write to
    /// the tenant moves it, and this answer is then stale.
    pub(crate) stripe: usize,
    pub(crate) generation: u64,
    /// When this answer stops counting (seconds): the cache's TTL, or the first expiry of an
    /// assignment it counted, whichever comes first.
    pub(crate) dies_at: i64,
    /// The credential's roles it was computed with (empty for a credential of no tenant).
    pub(crate) credential_roles: Box<[String]>,
    /// Whether it was computed for a credential confined to the tenant (whose first sight was
    /// recorded then): a credential of no tenant's answer must not spare a confined one its
    /// first sight.
    pub(crate) confined: bool,
    /// Every role held here, chains expanded (for role requirements and explanations).
    roles: Box<[u32]>,
    /// Their grants.
    pub(crate) set: PermissionSet,
    /// Whether a live assignment for one resource type or resource applies here.
    resource_bound: bool,
    /// Whether the subject holds anything at all in the tenant (live, at any namespace).
    holds_anything: bool,
    namespace: Box<str>,
    /// The assignments that can explain a refusal (expired, or held at a namespace that does
    /// not apply here), as indexes into `held`: a refusal walks these, not every assignment
    /// (a subject with a thousand live roles here is refused without a thousand probes).
    explainers: Box<[u32]>,
    pub(crate) graph: Arc<Graph>,
    held: Arc<Held>,
}

/// Where a held role comes from.
#[derive(Clone, Copy)]
enum Source<'a> {
    Credential,
    Assignment(&'a AssignmentRecord),
}

impl Source<'_> {
    fn via(self) -> Via {
        match self {
            Source::Credential => Via::Credential,
            Source::Assignment(a) => match a.subject_kind {
                SubjectKind::User => Via::Assignment {
                    id: a.id.as_str().into(),
                    expires_at: a.expires_at,
                },
                SubjectKind::Group => Via::Group {
                    group: a.subject.as_str().into(),
                    id: a.id.as_str().into(),
                    expires_at: a.expires_at,
                },
            },
        }
    }
}

/// The namespaces whose roles apply at `namespace`: the root, each ancestor, itself.
fn ancestors(namespace: &str) -> impl Iterator<Item = &str> {
    let inner = namespace
        .match_indices('/')
        .map(move |(i, _)| &namespace[..i]);
    std::iter::once("")
        .chain(inner)
        .chain((!namespace.is_empty()).then_some(namespace))
}

/// Whether an assignment is for every resource, or for this one.
fn for_resource(a: &AssignmentRecord, resource: Option<&Resource>) -> bool {
    match (&a.resource_type, resource) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(kind), Some(r)) => {
            kind == r.kind() && a.resource_id.as_deref().is_none_or(|id| Some(id) == r.id())
        }
    }
}

impl Effective {
    /// Compiles the answer (no I/O).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn compute(
        graph: Arc<Graph>,
        held: Arc<Held>,
        namespace: &str,
        credential_roles: &[String],
        confined: bool,
        now: i64,
        ttl_ends: i64,
        stripe: usize,
        generation: u64,
    ) -> Self {
        let mut roles = Vec::new();
        let mut dies_at = ttl_ends;
        let mut resource_bound = false;
        let mut holds_anything = false;
        let mut explainers = Vec::new();
        for (a, index) in held.assignments.iter().zip(0u32..) {
            let Some(role) = graph.by_id(&a.role_id) else {
                continue;
            };
            if !a.is_live(now) {
                explainers.push(index);
                continue;
            }
            holds_anything = true;
            if !applies(&graph.node(role).namespace, namespace) {
                explainers.push(index);
                continue;
            }
            if let Some(at) = a.expires_at {
                dies_at = dies_at.min(at);
            }
            if a.resource_type.is_some() {
                resource_bound = true;
                continue;
            }
            roles.extend_from_slice(&graph.node(role).chain);
        }
        for role in credential_held(&graph, namespace, credential_roles) {
            holds_anything = true;
            roles.extend_from_slice(&graph.node(role).chain);
        }
        roles.sort_unstable();
        roles.dedup();
        let set = PermissionSet::holding(graph.index.clone(), roles.iter().copied());
        Self {
            stripe,
            generation,
            dies_at,
            credential_roles: credential_roles.into(),
            confined,
            roles: roles.into(),
            set,
            resource_bound,
            holds_anything,
            namespace: namespace.into(),
            explainers: explainers.into(),
            graph,
            held,
        }
    }

    /// Roughly what the answer holds, in bytes.
    pub(crate) fn weight(&self) -> u32 {
        let roles: usize = self.credential_roles.iter().map(|r| r.len() + 24).sum();
        let indexes = (self.roles.len() + self.explainers.len()) * 4;
        u32::try_from(roles + indexes + self.namespace.len() + 256).unwrap_or(u32::MAX)
    }

    /// Whether the subject's roles here meet `required` (the credential's own
    /// application-wide permissions are the caller's to ask first).
    #[inline]
    pub(crate) fn allows(&self, required: &Requirement, resource: Option<&Resource>) -> bool {
        if self.resource_bound && resource.is_some() {
            return self.allows_with(required, &self.with_resource(resource));
        }
        match required {
            Requirement::Permission(p) => self.set.allows(p),
            Requirement::Action(a) => self.set.allows_action(a),
            Requirement::Roles(_) => self.allows_with(required, &self.roles),
            // A resource's access is the entity engine's question: roles never answer it.
            Requirement::Access(_) => false,
        }
    }

    /// The roles held here plus those held for `resource` alone.
    fn with_resource(&self, resource: Option<&Resource>) -> Vec<u32> {
        let mut roles = self.roles.to_vec();
        for a in self.live_here() {
            if a.resource_type.is_some()
                && for_resource(a, resource)
                && let Some(role) = self.graph.by_id(&a.role_id)
            {
                roles.extend_from_slice(&self.graph.node(role).chain);
            }
        }
        roles.sort_unstable();
        roles.dedup();
        roles
    }

    fn allows_with(&self, required: &Requirement, roles: &[u32]) -> bool {
        match required {
            // By name, a stored role counts only if it is a system role: only code can make one,
            // so a tenant administrator cannot forge a name an application checks (any role of
            // that name they create holds no authority by it). The names a credential carries
            // are its issuer's word, and count.
            Requirement::Roles(wanted) => wanted.iter().all(|slug| {
                roles.iter().any(|&r| self.graph.is_named(r, slug))
                    || self.credential_roles.binary_search(slug).is_ok()
            }),
            other => {
                let set = PermissionSet::holding(self.graph.index.clone(), roles.iter().copied());
                allows_set(&set, other)
            }
        }
    }

    /// The assignments that counted when this answer was computed: held at a namespace that
    /// applies, and live then (an assignment that had expired has `expires_at` before
    /// `dies_at`, which is never later than the first expiry of one that counted).
    fn live_here(&self) -> impl Iterator<Item = &AssignmentRecord> {
        self.held.assignments.iter().filter(|a| {
            self.graph
                .by_id(&a.role_id)
                .is_some_and(|r| applies(&self.graph.node(r).namespace, &self.namespace))
                && a.expires_at.is_none_or(|at| at >= self.dies_at)
        })
    }

    /// Why a check this answer does not allow is denied, and what came nearest to allowing it:
    /// an assignment that expired (`deny_assignment_expired`), a role held at a namespace that
    /// does not apply here (`deny_not_in_namespace`), nothing held in the tenant at all
    /// (`deny_no_roles`), else `deny_no_permission`. `now` judges expiry.
    pub(crate) fn why_denied(
        &self,
        required: &Requirement,
        resource: Option<&Resource>,
        credential_holds_nothing: bool,
        now: i64,
    ) -> (Reason, Option<Granted>) {
        let graph = &self.graph;
        let grants = |role: u32| -> Option<Granted> {
            let chain = &graph.node(role).chain;
            let set = PermissionSet::holding(graph.index.clone(), chain.iter().copied());
            let slugs_ok = |wanted: &[String]| {
                wanted
                    .iter()
                    .all(|w| chain.iter().any(|&r| graph.is_named(r, w)))
            };
            let (matched, grant) = match required {
                Requirement::Access(_) => return None,
                Requirement::Permission(p) => {
                    let m = set.explain(p)?;
                    (m.role()?.to_owned(), m.grant().to_owned())
                }
                Requirement::Action(a) => {
                    let m = set.explain_action(a)?;
                    (m.role()?.to_owned(), m.grant().to_owned())
                }
                Requirement::Roles(wanted) => {
                    if !slugs_ok(wanted) {
                        return None;
                    }
                    (graph.node(role).slug.to_string(), String::new())
                }
            };
            let to = chain
                .iter()
                .copied()
                .find(|&r| *graph.node(r).slug == *matched)
                .unwrap_or(role);
            let path = graph.path(role, to).unwrap_or_default();
            Some(
                Granted::new(Some(&matched), &grant)
                    .with_path(path)
                    .at_namespace(&graph.node(role).namespace),
            )
        };
        let mut elsewhere = None;
        // An assignment live when this answer was compiled and held here stays live while the
        // answer counts (it dies at the first such expiry): only the explainers can explain.
        let explainers = self
            .explainers
            .iter()
            .filter_map(|&i| self.held.assignments.get(i as usize));
        for a in explainers {
            let Some(role) = graph.by_id(&a.role_id) else {
                continue;
            };
            if !for_resource(a, resource) {
                continue;
            }
            let here = applies(&graph.node(role).namespace, &self.namespace);
            if !a.is_live(now) {
                if here && let Some(near) = grants(role) {
                    let via = Source::Assignment(a).via();
                    return (Reason::DenyAssignmentExpired, Some(near.via(via)));
                }
            } else if !here
                && elsewhere.is_none()
                && let Some(near) = grants(role)
            {
                elsewhere = Some(near.via(Source::Assignment(a).via()));
            }
        }
        if elsewhere.is_none() && !self.credential_roles.is_empty() {
            // A role the credential names, defined at a namespace that does not apply here.
            elsewhere = graph
                .nodes
                .iter()
                .zip(0u32..)
                .filter(|(node, _)| {
                    !applies(&node.namespace, &self.namespace)
                        && self
                            .credential_roles
                            .binary_search_by(|r| (**r).cmp(&*node.slug))
                            .is_ok()
                })
                .find_map(|(_, role)| grants(role))
                .map(|near| near.via(Via::Credential));
        }
        if let Some(near) = elsewhere {
            return (Reason::DenyNotInNamespace, Some(near));
        }
        if !self.holds_anything && credential_holds_nothing {
            return (Reason::DenyNoRoles, None);
        }
        let reason = match required {
            Requirement::Roles(_) => Reason::DenyMissingRoles,
            _ => Reason::DenyNoPermission,
        };
        (reason, None)
    }

    /// Until when this answer's roles give something (as `gives` judges a role's chain):
    /// `None` if no role held here gives it, `Some(None)` if one held without end does (the
    /// credential's, or an assignment with no expiry), else the latest expiry of the assignments
    /// that give it. Assignments for one resource do not count: they give nothing everywhere.
    pub(crate) fn held_until(&self, gives: impl Fn(&[u32]) -> bool) -> Option<Option<i64>> {
        let graph = &self.graph;
        if credential_held(graph, &self.namespace, &self.credential_roles)
            .any(|role| gives(&graph.node(role).chain))
        {
            return Some(None);
        }
        let mut latest: Option<i64> = None;
        for a in self.live_here().filter(|a| a.resource_type.is_none()) {
            let Some(role) = graph.by_id(&a.role_id) else {
                continue;
            };
            if !gives(&graph.node(role).chain) {
                continue;
            }
            match a.expires_at {
                None => return Some(None),
                Some(at) => latest = Some(latest.map_or(at, |l| l.max(at))),
            }
        }
        latest.map(Some)
    }

    /// What allowed an allowed check: the grant, the role path from the role held down to the
    /// one with the grant, its namespace and how it is held.
    pub(crate) fn explain(
        &self,
        required: &Requirement,
        resource: Option<&Resource>,
    ) -> Option<Granted> {
        let graph = &self.graph;
        let roles = self.with_resource(resource);
        let set = PermissionSet::holding(graph.index.clone(), roles.iter().copied());
        let (target, grant) = match required {
            Requirement::Access(_) => return None,
            Requirement::Permission(p) => {
                let m = set.explain(p)?;
                (m.role()?.to_owned(), m.grant().to_owned())
            }
            Requirement::Action(a) => {
                let m = set.explain_action(a)?;
                (m.role()?.to_owned(), m.grant().to_owned())
            }
            Requirement::Roles(wanted) => {
                let first = wanted.first()?;
                (first.clone(), String::new())
            }
        };
        // The first source (assignments, then the credential) whose chain reaches a role of
        // that slug held here.
        let sources = self
            .live_here()
            .filter(|a| for_resource(a, resource))
            .filter_map(|a| Some((graph.by_id(&a.role_id)?, Source::Assignment(a))))
            .chain(
                credential_held(graph, &self.namespace, &self.credential_roles)
                    .map(|r| (r, Source::Credential)),
            );
        for (held, source) in sources {
            let chain = &graph.node(held).chain;
            let by_name = matches!(required, Requirement::Roles(_));
            if let Some(&to) = chain.iter().find(|&&r| {
                *graph.node(r).slug == *target
                    && roles.contains(&r)
                    && (!by_name || graph.node(r).is_system)
            }) {
                let path = graph.path(held, to).unwrap_or_default();
                return Some(
                    Granted::new(Some(&target), &grant)
                        .with_path(path)
                        .at_namespace(&graph.node(held).namespace)
                        .via(source.via()),
                );
            }
        }
        None
    }
}

/// Whether `set` meets a permission or action requirement.
pub(crate) fn allows_set(set: &PermissionSet, required: &Requirement) -> bool {
    match required {
        Requirement::Permission(p) => set.allows(p),
        Requirement::Action(a) => set.allows_action(a),
        Requirement::Roles(_) | Requirement::Access(_) => false,
    }
}

/// The tenant roles a credential's role names stand for at `namespace`: a role of that slug at
/// the namespace or any ancestor of it.
fn credential_held<'a>(
    graph: &'a Graph,
    namespace: &'a str,
    names: &'a [String],
) -> impl Iterator<Item = u32> + 'a {
    names
        .iter()
        .flat_map(move |name| ancestors(namespace).filter_map(move |ns| graph.by_slug(ns, name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_run_from_the_root_down() {
        let list: Vec<&str> = ancestors("a/b/c").collect();
        assert_eq!(list, ["", "a", "a/b", "a/b/c"]);
        assert_eq!(ancestors("").collect::<Vec<_>>(), [""]);
        assert_eq!(ancestors("a").collect::<Vec<_>>(), ["", "a"]);
    }
}
