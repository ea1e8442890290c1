//! Route layers that guard a whole router: [`require_permission`] and [`require_action`].
//!
//! ```
//! use axum::{Router, routing::get};
//! use portcullis::{require_permission, require_action};
//!
//! let admin: Router = Router::new()
//!     .route("/admin/users", get(|| async { "users" }))
//!     .route_layer(require_permission("*:Admin")?);
//! let reports: Router = Router::new()
//!     .route("/reports/export", get(|| async { "csv" }))
//!     .route_layer(require_action("reports:export")?);
//! # Ok::<(), portcullis::rbac::GrammarError>(())
//! ```
//!
//! The gateway's [`AuthLayer`](crate::AuthLayer) must wrap these (put it on the outer router with
//! `.layer`); without it every request answers 500 naming the missing layer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use http::Request;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::authz::{Admitting, CheckedWithoutScope, RequestFacts, Scope, ScopeRule};
use crate::context::UserContext;
use crate::error::Requirement;
use crate::extract::{ActionDef, PermissionDef, context_from, rejection};
use crate::rbac::{Action, GrammarError, Permission};
use crate::render::AuthRejection;

/// A layer that lets a request through only when its context meets a requirement.
#[derive(Clone)]
pub struct RequireLayer {
    rule: Arc<Requirement>,
    scope: Option<Arc<ScopeRule>>,
    global_on_purpose: bool,
}

impl fmt::Debug for RequireLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequireLayer").field(&self.rule).finish()
    }
}

/// Guards routes with a permission; a malformed permission fails here, at start-up.
pub fn require_permission(permission: &str) -> Result<RequireLayer, GrammarError> {
    Ok(RequireLayer::from_requirement(Requirement::Permission(
        Permission::parse(permission)?,
    )))
}

/// Guards routes with an action; a malformed action name fails here, at start-up.
pub fn require_action(action: &str) -> Result<RequireLayer, GrammarError> {
    Ok(RequireLayer::from_requirement(Requirement::Action(
        Action::parse(action)?,
    )))
}

impl RequireLayer {
    /// Guards routes with a permission declared by [`permission!`](crate::permission).
    pub fn permission<P: PermissionDef>() -> Self {
        Self::from_requirement(P::requirement().clone())
    }

    /// Guards routes with an action declared by [`action!`](crate::action).
    pub fn action<A: ActionDef>() -> Self {
        Self::from_requirement(A::requirement().clone())
    }

    /// Guards routes with any requirement.
    pub fn requiring(required: Requirement) -> Self {
        Self::from_requirement(required)
    }

    fn from_requirement(rule: Requirement) -> Self {
        Self {
            rule: Arc::new(rule),
            scope: None,
            global_on_purpose: false,
        }
    }

    /// Asks the check where `scope` says (a tenant from the path, a header or the credential),
    /// whatever other layers the router has. Without it, the check asks where a
    /// [`ScopeLayer`](crate::authz::ScopeLayer) that ran before it said, else globally; a
    /// `ScopeLayer` that runs after a check made globally refuses the request (500), so a
    /// misordered router fails closed.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use portcullis::authz::ScopeRule;
    /// use portcullis::require_permission;
    ///
    /// let orgs: Router = Router::new()
    ///     .route("/orgs/{org}/admin", get(|| async { "admin" }))
    ///     .route_layer(require_permission("*:Admin")?.in_scope(ScopeRule::tenant_from_path("org")));
    /// # Ok::<(), portcullis::rbac::GrammarError>(())
    /// ```
    pub fn in_scope(mut self, scope: ScopeRule) -> Self {
        self.scope = Some(Arc::new(scope));
        self
    }

    /// Says that this check is meant for the whole application (for example "staff only" on
    /// an outer router): a [`ScopeLayer`](crate::authz::ScopeLayer) further in, for the
    /// routes' own checks, then does not take it for a misordered tenant check.
    pub fn in_global_scope(mut self) -> Self {
        self.global_on_purpose = true;
        self
    }
}

impl<S> Layer<S> for RequireLayer {
    type Service = RequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireService {
            inner,
            rule: self.rule.clone(),
            scope: self.scope.clone(),
            global_on_purpose: self.global_on_purpose,
        }
    }
}

/// The service made by [`RequireLayer`].
#[derive(Clone)]
pub struct RequireService<S> {
    inner: S,
    rule: Arc<Requirement>,
    scope: Option<Arc<ScopeRule>>,
    global_on_purpose: bool,
}

impl<S> fmt::Debug for RequireService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequireService").field(&self.rule).finish()
    }
}

pin_project! {
    /// The response future of [`RequireService`].
    pub struct RequireFuture<F: Future> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F: Future> {
        Allowed { #[pin] future: F },
        Refused { response: Option<Response> },
        // An authorizer or an observer that must wait (a store read, a full audit queue): the
        // rest of the check and then the inner service.
        Deciding { future: Pin<Box<dyn Future<Output = F::Output> + Send>> },
    }
}

impl<F: Future> fmt::Debug for RequireFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequireFuture")
    }
}

impl<F, E> Future for RequireFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Allowed { future } => future.poll(cx),
            KindProj::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending,
            },
            KindProj::Deciding { future } => future.as_mut().poll(cx),
        }
    }
}

impl<S, B> Service<Request<B>> for RequireService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RequireFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let refused = |response: Response| RequireFuture {
            kind: Kind::Refused {
                response: Some(response),
            },
        };
        let ctx = match context_from(request.extensions()) {
            Ok(ctx) => ctx,
            Err(rejection) => return refused(rejection.into_response()),
        };
        let (request, scoped) = match self.scope_of(&ctx, request) {
            Ok(resolved) => resolved,
            Err(rejection) => return refused(rejection.into_response()),
        };
        let at = scoped.unwrap_or_default();
        let answer = {
            let facts = facts_of(&request);
            ctx.seam()
                .decide_at_once(&ctx, &self.rule, &at, Some(facts))
                .map(Admitting::settled)
        };
        // What is left to wait for: an observer that is behind (the decision is made and
        // shown to every observer, and only its admission is awaited), or the authorizer.
        let pending = match answer {
            Some(Ok(decision)) => {
                return match decision.into_result(&self.rule) {
                    Ok(()) => RequireFuture {
                        kind: Kind::Allowed {
                            future: self.inner.call(request),
                        },
                    },
                    Err(error) => refused(rejection(request.extensions(), error).into_response()),
                };
            }
            Some(Err(admitting)) => Some(admitting),
            None => None,
        };
        // The future owns what it needs, with the inner service that `poll_ready` made ready
        // (a clone stays behind, as tower advises). The authorizer's future borrows this
        // call's locals, so an authorizer that must wait is asked again inside it; nothing
        // was observed yet, so nothing is shown twice.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let rule = self.rule.clone();
        RequireFuture {
            kind: Kind::Deciding {
                future: Box::pin(async move {
                    let decision = match pending {
                        Some(admitting) => admitting.finish().await,
                        None => {
                            let facts = facts_of(&request);
                            ctx.seam().decide(&ctx, &rule, &at, Some(facts)).await
                        }
                    };
                    match decision.into_result(&rule) {
                        Ok(()) => inner.call(request).await,
                        Err(error) => Ok(rejection(request.extensions(), error).into_response()),
                    }
                }),
            },
        }
    }
}

impl<S> RequireService<S> {
    /// Where this check is asked: its own scope rule, else the one a [`ScopeLayer`] that ran
    /// before it left, else globally (and then it marks the request, so that a `ScopeLayer`
    /// running later refuses it rather than let a check made in the wrong place stand).
    fn scope_of<B>(
        &self,
        ctx: &UserContext,
        request: Request<B>,
    ) -> Result<(Request<B>, Option<Scope>), AuthRejection> {
        let rule = self
            .scope
            .clone()
            .or_else(|| request.extensions().get::<Arc<ScopeRule>>().cloned());
        let Some(rule) = rule else {
            let mut request = request;
            if !self.global_on_purpose {
                request.extensions_mut().insert(CheckedWithoutScope);
            }
            return Ok((request, None));
        };
        let (mut parts, body) = request.into_parts();
        match rule.resolve(ctx, &mut parts) {
            Ok(scope) => Ok((Request::from_parts(parts, body), Some(scope))),
            Err(error) => Err(rejection(&parts.extensions, error)),
        }
    }
}

fn facts_of<B>(request: &Request<B>) -> RequestFacts<'_> {
    RequestFacts::new(
        request.method(),
        request.uri(),
        request.headers(),
        request.extensions(),
    )
}
