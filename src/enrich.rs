//! Enrichment: turning an authenticated context's roles into its compiled permissions.
//!
//! Model layer, beside `context`: an [`Enricher`] works on a [`UserContext`], so it cannot live in
//! `rbac`, the leaf that compiles roles into permission sets and knows nothing of contexts (it sat
//! there once and made `rbac`, `context` and the error types a cycle). The gateway, above, runs it
//! as step 2 of every request.

use crate::context::UserContext;
use crate::error::AuthError;
use crate::future::MaybeReady;
use crate::rbac::RolePolicy;

/// Fills in a freshly authenticated [`UserContext`]'s permissions (step 2 of the gateway).
///
/// [`RolePolicy`] is the built-in enricher: it needs no I/O and answers at once. An enricher
/// backed by a store (tenant role assignments) returns [`MaybeReady::new`] and fails closed with
/// [`AuthError::Unavailable`] when its store cannot answer.
pub trait Enricher: Send + Sync + 'static {
    /// Sets the context's permissions (and anything else it derives from the roles).
    fn enrich<'a>(&'a self, context: &'a mut UserContext) -> MaybeReady<'a, Result<(), AuthError>>;
}

impl Enricher for RolePolicy {
    fn enrich<'a>(&'a self, context: &'a mut UserContext) -> MaybeReady<'a, Result<(), AuthError>> {
        let set = if context.carried_permissions().is_empty() {
            self.permissions_for(context.roles())
        } else {
            std::sync::Arc::new(self.compile_with(
                context.roles(),
                context.carried_permissions().iter().cloned(),
            ))
        };
        context.set_permissions(set);
        MaybeReady::ready(Ok(()))
    }
}
