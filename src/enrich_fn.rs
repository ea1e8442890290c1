//! An [`Enricher`] from a closure: [`enricher_fn`] (documented there: the module is private).
//!
//! This lives beside the gateway rather than in `rbac` because it only adapts closures to the
//! trait; it names the trait by its public path, [`crate::rbac::Enricher`].

use std::fmt;

use crate::context::UserContext;
use crate::enrich::Enricher;
use crate::error::AuthError;
use crate::future::MaybeReady;

/// Makes an [`Enricher`] from a closure.
///
/// Enrichment is where an application adds what the built-in roles cannot know: permissions from
/// its own directory, a service account's fixed grants, a tenant's plan. A closure gets the
/// freshly authenticated [`UserContext`] and sets its permissions with
/// [`UserContext::set_permissions`]:
///
/// ```
/// use std::sync::Arc;
/// use portcullis::{AuthGateway, MaybeReady, enricher_fn};
/// use portcullis::rbac::{Permission, PermissionSet, RolePolicy};
///
/// let policy = RolePolicy::default();
/// // Compiled once, shared by every request it applies to.
/// let services = Arc::new(PermissionSet::compile([Permission::parse("read:Catalog")?], []));
///
/// let enricher = enricher_fn(move |ctx| {
///     if ctx.subject().starts_with("svc-") {
///         ctx.set_permissions(services.clone());
///     } else {
///         // Everyone else keeps the role-based permissions.
///         ctx.set_permissions(policy.permissions_for(ctx.roles()));
///     }
///     MaybeReady::ready(Ok(()))
/// });
/// # let _ = AuthGateway::new().enricher(enricher);
/// # Ok::<(), portcullis::rbac::GrammarError>(())
/// ```
///
/// An enricher that has to ask a store returns [`MaybeReady::new`] around an `async` block (which
/// may borrow the context) and fails closed with
/// [`AuthError::Unavailable`](crate::AuthError::Unavailable) when the store cannot answer.
///
/// A function rather than an `impl Enricher for F`: the closure's answer borrows the context it
/// is given, and Rust infers such a closure's signature only from a bound written on the
/// function that receives it.
pub fn enricher_fn<F>(f: F) -> EnricherFn<F>
where
    F: for<'a> Fn(&'a mut UserContext) -> MaybeReady<'a, Result<(), AuthError>>
        + Send
        + Sync
        + 'static,
{
    EnricherFn { f }
}

/// An [`Enricher`] made from a closure by [`enricher_fn`].
#[derive(Clone, Copy)]
pub struct EnricherFn<F> {
    f: F,
}

impl<F> fmt::Debug for EnricherFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnricherFn").finish_non_exhaustive()
    }
}

impl<F> Enricher for EnricherFn<F>
where
    F: for<'a> Fn(&'a mut UserContext) -> MaybeReady<'a, Result<(), AuthError>>
        + Send
        + Sync
        + 'static,
{
    fn enrich<'a>(&'a self, context: &'a mut UserContext) -> MaybeReady<'a, Result<(), AuthError>> {
        (self.f)(context)
    }
}
