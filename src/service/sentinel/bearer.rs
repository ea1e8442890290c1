//! User tokens on the way in: `Authorization: Bearer` verified with the API's own keys, then
//! held against what is true now.
//!
//! The signature, `iss`, `exp`, `nbf` and revocation (logout-all, a disabled account) are the
//! [`BearerStrategy`]'s. On top: `aud` must be `sentinel:access` or `sentinel:authz` (a machine
//! token is no user), `wid` must name a workspace, and the user must still have an enabled
//! account and hold a workspace role there: removing a member ends their tokens from the next
//! request, answered from the tenant engine's cache (voided by every change), with no store
//! read while nothing changed.

use std::sync::Arc;

use http::request::Parts;
use serde_json::Value;

use super::tokens::{ACCESS_AUDIENCE, AUTHZ_AUDIENCE};
use super::{SentinelApi, SentinelStore};
use crate::authz::{Authorizer, Question, Scope};
use crate::context::UserContext;
use crate::error::{AuthError, Reason, Requirement, TokenRejection};
use crate::future::MaybeReady;
use crate::strategy::{BearerStrategy, Outcome, Strategy};
use crate::token::{ClaimNames, TokenRules, TokenVerifier};

/// Claims kept in the context for the routes.
const KEPT: [&str; 7] = ["aud", "svc", "wslug", "wrole", "groups", "idp_sub", "name"];

/// The strategy of the API's routes.
pub(super) struct SentinelBearer<S: SentinelStore> {
    inner: BearerStrategy,
    api: SentinelApi<S>,
    member: Requirement,
}

impl<S: SentinelStore> std::fmt::Debug for SentinelBearer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelBearer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S: SentinelStore> SentinelBearer<S> {
    pub(super) fn new(api: SentinelApi<S>) -> Self {
        let inner = &api.inner;
        // Machine tokens (`sentinel:m2m`) are no user's: refused by the audience rule.
        let rules = TokenRules::new()
            .issuer(inner.config.issuer.clone())
            .audience(ACCESS_AUDIENCE)
            .or_audience(AUTHZ_AUDIENCE);
        let verifier = TokenVerifier::new(inner.identity.key_ring().clone(), rules);
        let bearer = BearerStrategy::with_verifier(verifier)
            // Roles come from the workspace, never from a claim: no claim is read for them.
            .claim_names(
                ClaimNames::default()
                    .tenant("wid")
                    .roles("portcullis_unused_roles"),
            )
            .keep_claims(KEPT)
            .revocation(inner.identity.revocation().clone());
        Self {
            inner: bearer,
            api,
            // Every workspace role inherits `viewer`.
            member: Requirement::Roles(Box::new([String::from("viewer")])),
        }
    }

    async fn hold(&self, ctx: UserContext) -> Outcome {
        let refused = |rejection| Outcome::Rejected(AuthError::InvalidToken(rejection));
        let audience = ctx.claims().get("aud").and_then(Value::as_str);
        if !matches!(audience, Some(ACCESS_AUDIENCE | AUTHZ_AUDIENCE)) {
            return refused(TokenRejection::WrongAudience);
        }
        let Some(workspace) = ctx.tenant() else {
            return refused(TokenRejection::BadClaims);
        };
        let Ok(at) = Scope::tenant(workspace) else {
            return refused(TokenRejection::BadClaims);
        };
        match self.api.inner.identity.account(ctx.subject()).await {
            Ok(Some(state)) if !state.disabled => {}
            Ok(_) => return refused(TokenRejection::Revoked),
            Err(_) => return Outcome::Rejected(AuthError::Unavailable),
        }
        let decision = self
            .api
            .inner
            .tenancy
            .decide(Question::new(&ctx, &self.member, &at))
            .await;
        match decision.reason() {
            Reason::Allow => Outcome::Authenticated(ctx),
            Reason::Unavailable => Outcome::Rejected(AuthError::Unavailable),
            _ => {
                tracing::debug!("token of a user no longer in its workspace refused");
                refused(TokenRejection::Revoked)
            }
        }
    }
}

impl<S: SentinelStore> Strategy for SentinelBearer<S> {
    fn name(&self) -> &'static str {
        "sentinel_bearer"
    }

    fn authenticate<'a>(&'a self, request: &'a Parts) -> MaybeReady<'a, Outcome> {
        MaybeReady::new(async move {
            match self.inner.authenticate(request).await {
                Outcome::Authenticated(ctx) => self.hold(ctx).await,
                other => other,
            }
        })
    }
}

/// Shares one strategy between layers.
impl<S: SentinelStore> Strategy for Arc<SentinelBearer<S>> {
    fn name(&self) -> &'static str {
        "sentinel_bearer"
    }

    fn authenticate<'a>(&'a self, request: &'a Parts) -> MaybeReady<'a, Outcome> {
        SentinelBearer::authenticate(self, request)
    }
}
