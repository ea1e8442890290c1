//! What a caller holds, and until when: the rule that nobody hands on what they lack.
//!
//! Whoever puts a grant on a role, gives a role to someone (with everything it inherits),
//! changes, takes away or deletes a role must hold what it gives: each grant, and the name of
//! each system role in its chain (an application may check role names, `Requirement::Roles`,
//! and a system role's name is authority; other roles' names are not, so a tenant
//! administrator cannot forge one by creating a role of that name). "Until when" closes the last gap: a caller who holds a grant only through an
//! assignment that expires cannot give it for longer than that, or it would launder a temporary
//! right into a permanent one.
//!
//! Management decisions must not rest on another process's stale cache: [`Tenancy::sync`]
//! compares the tenant's version in the store with the one this process compiled, and drops
//! what is stale first.

use super::{Tenancy, TenantError, TenantStore};
use crate::authz::Scope;
use crate::context::UserContext;
use crate::rbac::{Permission, PermissionSet};
use crate::store::roles::{Grant, NO_ROLE};

/// What [`Tenancy::holding`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// The first thing not held (`permission write:*`, `role owner`), if any.
    pub lacks: Option<String>,
    /// Until when everything asked is held: `None` for no end, or the earliest expiry of an
    /// assignment that supplies one of them.
    pub until: Option<i64>,
}

/// How long a source holds something: not at all, without end, or until a time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Held {
    No,
    Forever,
    Until(i64),
}

impl Held {
    /// The longer of two ways of holding the same thing.
    fn or(self, other: Held) -> Held {
        match (self, other) {
            (Held::Forever, _) | (_, Held::Forever) => Held::Forever,
            (Held::Until(a), Held::Until(b)) => Held::Until(a.max(b)),
            (Held::No, x) | (x, Held::No) => x,
        }
    }
}

fn covers(set: &PermissionSet, grant: &Grant) -> bool {
    match grant {
        Grant::Permission(p) => set.allows(p),
        Grant::Action(a) => set.allows_action_grant(a),
    }
}

impl<S: TenantStore> Tenancy<S> {
    /// Whether `ctx` holds every one of `grants` and `roles` (role names) at `at`, and until
    /// when (see the module docs). A caller who holds every permission (`*:*`) holds every role
    /// name too.
    pub async fn holding(
        &self,
        ctx: &UserContext,
        at: &Scope,
        grants: &[Grant],
        roles: &[String],
    ) -> Result<Holding, TenantError> {
        let everything =
            Grant::Permission(Permission::parse("*:*").map_err(|_| TenantError::Unavailable)?);
        let Some(tenant) = at.tenant_id() else {
            let held = |g: &Grant| covers(ctx.permissions(), g);
            let lacks = grants
                .iter()
                .find(|g| !held(g))
                .map(ToString::to_string)
                .or_else(|| {
                    roles
                        .iter()
                        .find(|r| !ctx.has_role(r) && !held(&everything))
                        .map(|r| format!("role {r}"))
                });
            return Ok(Holding { lacks, until: None });
        };
        let confined = match ctx.tenant() {
            None => false,
            Some(own) if own == tenant => true,
            Some(_) => {
                let first = grants.first().map(ToString::to_string);
                let lacks = first.or_else(|| roles.first().map(|r| format!("role {r}")));
                return Ok(Holding { lacks, until: None });
            }
        };
        let namespace = at.namespace().unwrap_or("");
        let credential_roles: &[String] = if confined { ctx.roles() } else { &[] };
        let answer = match self.cached(
            ctx.subject(),
            tenant,
            namespace,
            credential_roles,
            confined,
            self.now(),
        ) {
            Some(answer) => answer,
            None => {
                self.load(ctx.subject(), tenant, namespace, credential_roles, confined)
                    .await?
            }
        };
        let graph = answer.graph.clone();
        let grant_held = |grant: &Grant| -> Held {
            if confined && covers(ctx.permissions(), grant) {
                return Held::Forever;
            }
            let by_roles = answer.held_until(|chain| {
                let set = PermissionSet::holding(graph.index.clone(), chain.iter().copied());
                covers(&set, grant)
            });
            match by_roles {
                None => Held::No,
                Some(None) => Held::Forever,
                Some(Some(at)) => Held::Until(at),
            }
        };
        let role_held = |slug: &String| -> Held {
            if confined && ctx.has_role(slug) {
                return Held::Forever;
            }
            let by_name =
                match answer.held_until(|chain| chain.iter().any(|&r| graph.is_named(r, slug))) {
                    None => Held::No,
                    Some(None) => Held::Forever,
                    Some(Some(at)) => Held::Until(at),
                };
            by_name.or(grant_held(&everything))
        };
        let mut until: Option<i64> = None;
        let mut note = |held: Held| match held {
            Held::Until(at) => until = Some(until.map_or(at, |u| u.min(at))),
            Held::Forever | Held::No => {}
        };
        for grant in grants {
            let held = grant_held(grant);
            if held == Held::No {
                return Ok(Holding {
                    lacks: Some(grant.to_string()),
                    until,
                });
            }
            note(held);
        }
        for slug in roles {
            let held = role_held(slug);
            if held == Held::No {
                return Ok(Holding {
                    lacks: Some(format!("role {slug}")),
                    until,
                });
            }
            note(held);
        }
        Ok(Holding { lacks: None, until })
    }

    /// Every grant a role gives, its parents' included.
    pub async fn inherited_grants(
        &self,
        tenant: &str,
        role_id: &str,
    ) -> Result<Vec<Grant>, TenantError> {
        Ok(self.gives(tenant, role_id).await?.0)
    }

    /// What a role gives: every grant of its chain, and every role name of it (itself first).
    pub async fn gives(
        &self,
        tenant: &str,
        role_id: &str,
    ) -> Result<(Vec<Grant>, Vec<String>), TenantError> {
        let graph = self.graph(tenant, self.stripe(tenant), self.now()).await?;
        let role = graph.by_id(role_id).ok_or(TenantError::NotFound(NO_ROLE))?;
        let chain = &graph.node(role).chain;
        let mut grants = Vec::new();
        for &r in chain.iter() {
            if let Some(own) = graph.index.role(r) {
                grants.extend(own.permissions.iter().cloned().map(Grant::Permission));
                grants.extend(own.actions.iter().cloned().map(Grant::Action));
            }
        }
        grants.sort();
        grants.dedup();
        // Names are authority only for system roles (see `effective`).
        let names = chain
            .iter()
            .map(|&r| graph.node(r))
            .filter(|n| n.is_system)
            .map(|n| n.slug.to_string())
            .collect();
        Ok((grants, names))
    }

    /// Every grant and every role name of the tenant.
    pub async fn tenant_gives(
        &self,
        tenant: &str,
    ) -> Result<(Vec<Grant>, Vec<String>), TenantError> {
        let graph = self.graph(tenant, self.stripe(tenant), self.now()).await?;
        let mut grants = Vec::new();
        for role in 0..graph.nodes.len() {
            if let Some(own) = u32::try_from(role).ok().and_then(|r| graph.index.role(r)) {
                grants.extend(own.permissions.iter().cloned().map(Grant::Permission));
                grants.extend(own.actions.iter().cloned().map(Grant::Action));
            }
        }
        grants.sort();
        grants.dedup();
        let mut names: Vec<String> = graph
            .nodes
            .iter()
            .filter(|n| n.is_system)
            .map(|n| n.slug.to_string())
            .collect();
        names.sort();
        names.dedup();
        Ok((grants, names))
    }

    /// Drops what this process cached of the tenant if the store says another process wrote to
    /// it since: for management decisions, which must not rest on a stale answer (a check on the
    /// request path keeps its TTL bound). One read of the tenant's version.
    pub async fn sync(&self, tenant: &str) -> Result<(), TenantError> {
        let version = self.inner.store.tenant_version(tenant).await?;
        let known = self.inner.versions.get(tenant);
        if known != Some(version) {
            // Learned, not made here: nothing to publish.
            self.forget(tenant);
            self.tell(tenant);
            self.inner.versions.insert(tenant.into(), version);
        }
        Ok(())
    }
}
