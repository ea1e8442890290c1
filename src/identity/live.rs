//! The identity's bearer strategy: the access token verified as any bearer token (same key
//! ring, revocation through the cache), then the account's roles as they are now, from the
//! account cache, instead of the copy the token was issued with.
//!
//! So a role taken away by [`Identity::set_roles`](super::Identity::set_roles) is gone from
//! the very next request in this process (the cache is voided before the call returns), not
//! when the token expires; a role given is there as soon. A deleted account's tokens are
//! refused here too (its cutoff already ends them; this is the second lock). A token whose
//! roles are the account's costs one cache look-up and a comparison; one issued before a role
//! change is rebuilt with the live roles on each request until it expires (at most the
//! access-token lifetime).

use std::sync::Arc;

use http::request::Parts;

use super::accounts::Accounts;
use crate::context::UserContext;
use crate::error::{AuthError, TokenRejection};
use crate::future::MaybeReady;
use crate::store::UserStore;
use crate::strategy::{BearerStrategy, Outcome, Strategy};

/// The strategy [`Identity::bearer`](super::Identity::bearer) hands out.
pub struct IdentityBearer<S> {
    inner: BearerStrategy,
    accounts: Arc<Accounts<S>>,
}

impl<S> std::fmt::Debug for IdentityBearer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityBearer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> IdentityBearer<S> {
    pub(super) fn new(inner: BearerStrategy, accounts: Arc<Accounts<S>>) -> Self {
        Self { inner, accounts }
    }

    /// The bearer strategy underneath (its verifier, rules and caches).
    pub fn bearer(&self) -> &BearerStrategy {
        &self.inner
    }
}

/// The verified context with the account's live roles; refused when the account is gone or
/// disabled.
fn live(ctx: UserContext, account: Option<Arc<super::AccountState>>) -> Outcome {
    match account {
        Some(state) if !state.disabled => {
            if *state.roles == *ctx.roles() {
                Outcome::Authenticated(ctx)
            } else {
                Outcome::Authenticated(ctx.with_roles(state.roles.iter().cloned()))
            }
        }
        _ => {
            tracing::debug!("identity token of a deleted or disabled account refused");
            Outcome::Rejected(AuthError::InvalidToken(TokenRejection::Revoked))
        }
    }
}

impl<S: UserStore + Clone + 'static> IdentityBearer<S> {
    async fn with_account(&self, ctx: UserContext) -> Outcome {
        match self.accounts.state(ctx.subject()).await {
            Ok(account) => live(ctx, account),
            Err(error) => Outcome::Rejected(error),
        }
    }

    fn verified<'a>(&'a self, outcome: Outcome) -> MaybeReady<'a, Outcome> {
        let Outcome::Authenticated(ctx) = outcome else {
            return MaybeReady::ready(outcome);
        };
        match self.accounts.cached(ctx.subject()) {
            Some(account) => MaybeReady::ready(live(ctx, account)),
            None => MaybeReady::new(self.with_account(ctx)),
        }
    }
}

impl<S: UserStore + Clone + 'static> Strategy for IdentityBearer<S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    /// As the bearer strategy: the account look-up has no side effects before it awaits.
    fn retry_safe(&self) -> bool {
        self.inner.retry_safe()
    }

    fn authenticate<'a>(&'a self, request: &'a Parts) -> MaybeReady<'a, Outcome> {
        match self.inner.authenticate(request).now_or_later() {
            Ok(outcome) => self.verified(outcome),
            Err(later) => MaybeReady::new(async move {
                let outcome = later.await;
                self.verified(outcome).await
            }),
        }
    }
}
