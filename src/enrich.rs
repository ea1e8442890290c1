//! Enrichment: turning an authenticated context's roles into its compiled permissions.
//!
//! Model layer, beside `context`: an [`Enricher`] works on a [`UserContext`], so it cannot live in
//! `rbac`, the leaf that compiles roles into permission sets and knows nothing of contexts (it sat
//! there once and made `rbac`, `context` and the error types a cycle). The gateway, above, runs it
//! as step 2 of every request.

use crate::context::UserContext;
use crate::error::AuthError;
use crate::future::MaybeReady;
use crate::rbac::{LiveRoles, RolePolicy};

/// Fills in a freshly authenticated [`UserContext`]'s permissions (step 2 of the gateway).
///
/// [`RolePolicy`] is the built-in enricher: it needs no I/O and answers at once. An enricher
/// backed by a store (tenant role assignments) returns [`MaybeReady::new`] and fails closed with
/// [`AuthError::Unavailable`] when its store cannot answer.
pub trait Enricher: Send + Sync + 'static {
    /// Sets the context's permissions (and anything else it derives from the roles).
    fn enrich<'a>(&'a self, context: &'a mut UserContext) -> MaybeReady<'a, Result<(), AuthError>>;

    /// Whether [`enrich`](Self::enrich) may be called twice for one context without harm (see
    /// [`Strategy::retry_safe`](crate::strategy::Strategy::retry_safe), which this mirrors).
    /// Changes made to the context before a future that is not ready at once are kept for the
    /// second call. Default `false`; [`RolePolicy`] says `true`.
    fn retry_safe(&self) -> bool {
        false
    }
}

impl Enricher for RolePolicy {
    fn enrich<'a>(&'a self, context: &'a mut UserContext) -> MaybeReady<'a, Result<(), AuthError>> {
        resolve(self, context);
        MaybeReady::ready(Ok(()))
    }

    fn retry_safe(&self) -> bool {
        true
    }
}

/// The policy serving when the request gets here, loaded once: the whole resolution uses it.
impl Enricher for LiveRoles {
    fn enrich<'a>(&'a self, context: &'a mut UserContext) -> MaybeReady<'a, Result<(), AuthError>> {
        self.with_current(|policy| resolve(policy, context));
        MaybeReady::ready(Ok(()))
    }

    fn retry_safe(&self) -> bool {
        true
    }
}

fn resolve(policy: &RolePolicy, context: &mut UserContext) {
    // A context handed out again by a credential cache was resolved by this policy before:
    // one comparison and a reference count. Otherwise resolve, and remember it in the
    // context's shared data for the next request that brings the same credential.
    if context.use_resolved(policy.id()) {
        return;
    }
    let set = if context.carried_permissions().is_empty() {
        policy.permissions_for(context.roles())
    } else {
        std::sync::Arc::new(policy.compile_with(
            context.roles(),
            context.carried_permissions().iter().cloned(),
        ))
    };
    context.set_resolved(policy.id(), set);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::AuthMethod;
    use crate::rbac::{Permission, Role};

    fn enriched(policy: &RolePolicy, ctx: &mut UserContext) {
        let answer = policy.enrich(ctx).now();
        assert!(
            matches!(answer, Some(Ok(()))),
            "a role policy answers at once"
        );
    }

    fn p(text: &str) -> Permission {
        Permission::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_remembered_answer_serves_only_the_policy_that_gave_it() {
        let wide = RolePolicy::default();
        let narrow = RolePolicy::builder()
            .role(
                Role::new("editor")
                    .grant("read:Catalog")
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let cached = UserContext::new("u1", AuthMethod::Bearer).with_roles(["editor"]);
        let mut first = cached.clone();
        enriched(&wide, &mut first);
        assert!(first.has_permission(&p("write:Commerce")));
        // Another clone of the same shared data, enriched by another policy: that policy's
        // answer, not the remembered one.
        let mut second = cached.clone();
        enriched(&narrow, &mut second);
        assert!(second.has_permission(&p("read:Catalog")));
        assert!(!second.has_permission(&p("write:Commerce")));
        // And the first policy still finds its own.
        let mut third = cached.clone();
        enriched(&wide, &mut third);
        assert!(third.has_permission(&p("write:Commerce")));
        assert!(std::sync::Arc::ptr_eq(
            first.permissions_arc(),
            third.permissions_arc()
        ));
    }

    #[test]
    fn changing_the_data_forgets_the_answer_but_keeps_the_permissions() {
        let policy = RolePolicy::default();
        let mut ctx = UserContext::new("u1", AuthMethod::Bearer).with_roles(["viewer"]);
        enriched(&policy, &mut ctx);
        assert!(ctx.has_permission(&p("read:Catalog")));
        // Permissions stay what enrichment made them until the next enrichment...
        let ctx = ctx.with_roles(["admin"]);
        assert!(ctx.has_permission(&p("read:Catalog")));
        assert!(!ctx.has_permission(&p("delete:Catalog")));
        // ...which resolves the new roles, not the remembered answer for the old ones.
        let mut ctx = ctx;
        enriched(&policy, &mut ctx);
        assert!(ctx.has_permission(&p("delete:Catalog")));
    }

    #[test]
    fn carried_permissions_are_part_of_the_remembered_answer() {
        let policy = RolePolicy::default();
        let mut ctx = UserContext::new("svc", AuthMethod::Bearer)
            .with_carried_permissions(vec![p("write:Catalog.Review")]);
        enriched(&policy, &mut ctx);
        assert!(ctx.has_permission(&p("write:Catalog.Review")));
        let mut again = ctx.clone();
        enriched(&policy, &mut again);
        assert!(again.has_permission(&p("write:Catalog.Review")));
        assert!(!again.has_permission(&p("read:Catalog")));
    }
}
