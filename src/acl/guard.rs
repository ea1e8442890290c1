//! A route guard for one resource: [`RequireAccess`] takes the resource's id from a path
//! parameter and requires `view` or `edit` on it through the decision seam (give the gateway an
//! [`Acl`](super::Acl) as its authorizer). A refusal answers 404 by default, exactly as a missing
//! resource does, so ids do not leak; [`AccessDef::HIDE_REFUSALS`] `false` answers 403 with the
//! reason code instead.
//!
//! It sits beside its engine rather than in `extract` (as the tenant model's routes sit in
//! `tenant`): it names the engine's types, and `extract` stays free of any one engine; it asks
//! the seam, never the engine directly, so observers and the audit trail see it.

use std::fmt;
use std::marker::PhantomData;

use axum::extract::{FromRequestParts, RawPathParams};
use http::request::Parts;

use crate::authz::{RequestFacts, Scope, rule_of};
use crate::context::UserContext;
use crate::error::{Access, AuthError, EntityAccess, Reason, Requirement};
use crate::extract::{context_from, rejection};
use crate::render::AuthRejection;

/// What a [`RequireAccess`] route requires: the service and type of the resource, the path
/// parameter that holds its id, and the level of access.
///
/// ```
/// use portcullis::acl::{AccessDef, RequireAccess};
/// use portcullis::store::Access;
///
/// struct EditDocument;
/// impl AccessDef for EditDocument {
///     const SERVICE: &'static str = "docs";
///     const KIND: &'static str = "document";
///     const PARAM: &'static str = "id";
///     const ACCESS: Access = Access::Edit;
/// }
///
/// async fn save(doc: RequireAccess<EditDocument>) -> String {
///     format!("saved {}", doc.id())
/// }
/// let app: axum::Router = axum::Router::new().route("/docs/{id}", axum::routing::put(save));
/// ```
pub trait AccessDef: Send + Sync + 'static {
    /// The service whose resource it is.
    const SERVICE: &'static str;
    /// The resource type.
    const KIND: &'static str;
    /// The route's path parameter that holds the resource's id.
    const PARAM: &'static str;
    /// The level of access required.
    const ACCESS: Access;
    /// Answer a refusal as 404, as a missing resource (the default: ids do not leak), rather
    /// than 403 with the reason code.
    const HIDE_REFUSALS: bool = true;
}

/// An extractor that allows the request only if the caller has [`AccessDef::ACCESS`] to the
/// resource named by the path (see the [module docs](crate::acl)). A store that cannot be asked
/// answers 503; a malformed id answers as a refusal would.
pub struct RequireAccess<D> {
    context: UserContext,
    id: String,
    reason: Reason,
    _def: PhantomData<D>,
}

impl<D> RequireAccess<D> {
    /// The caller.
    pub fn context(&self) -> &UserContext {
        &self.context
    }

    /// The resource's id, from the path.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Why it was allowed (`allow_owner`, `allow_share`, …).
    pub fn reason(&self) -> Reason {
        self.reason
    }
}

impl<D> fmt::Debug for RequireAccess<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireAccess")
            .field("subject", &self.context.subject())
            .field("id", &self.id)
            .field("reason", &self.reason.code())
            .finish()
    }
}

/// What a route whose parameter is missing answers: a programming error.
const NO_PARAM: &str =
    "a RequireAccess route has no path parameter of the name its AccessDef gives";

impl<S: Send + Sync, D: AccessDef> FromRequestParts<S> for RequireAccess<D> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let context = context_from(&parts.extensions)?;
        let refused = |parts: &Parts, reason: Reason, required: &Requirement| {
            let error = if D::HIDE_REFUSALS {
                AuthError::NotFound
            } else {
                AuthError::Forbidden(crate::error::Denial::new(reason).requiring(required.clone()))
            };
            rejection(&parts.extensions, error)
        };
        let required = Requirement::Access(EntityAccess::new(D::SERVICE, D::ACCESS));
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                tracing::error!("{NO_PARAM}");
                rejection(&parts.extensions, AuthError::MissingGateway(NO_PARAM))
            })?;
        let Some(id) = params
            .iter()
            .find(|(name, _)| *name == D::PARAM)
            .map(|(_, value)| value.to_owned())
        else {
            tracing::error!("{NO_PARAM}");
            return Err(rejection(
                &parts.extensions,
                AuthError::MissingGateway(NO_PARAM),
            ));
        };
        // Where the router asks (its tenant, if it names one), about this resource.
        let base = match rule_of(parts) {
            Some(rule) => rule
                .resolve(&context, parts)
                .map_err(|error| rejection(&parts.extensions, error))?,
            None => Scope::global(),
        };
        let Ok(at) = base.on(D::KIND, Some(&id)) else {
            return Err(refused(parts, Reason::DenyNoRecord, &required));
        };
        let facts = RequestFacts::of_parts(parts);
        let decision = context
            .seam()
            .decide(&context, &required, &at, Some(facts))
            .await;
        match decision.reason() {
            reason if reason.allows() => Ok(Self {
                context,
                id,
                reason,
                _def: PhantomData,
            }),
            Reason::Unavailable => Err(rejection(&parts.extensions, AuthError::Unavailable)),
            reason => Err(refused(parts, reason, &required)),
        }
    }
}
