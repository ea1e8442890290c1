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

use crate::error::Requirement;
use crate::extract::{ActionDef, PermissionDef, context_from, forbidden};
use crate::rbac::{Action, GrammarError, Permission};

/// A layer that lets a request through only when its context meets a requirement.
#[derive(Clone)]
pub struct RequireLayer {
    rule: Arc<Requirement>,
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
        Self::from_requirement(Requirement::Permission(P::permission().clone()))
    }

    /// Guards routes with an action declared by [`action!`](crate::action).
    pub fn action<A: ActionDef>() -> Self {
        Self::from_requirement(Requirement::Action(A::action().clone()))
    }

    fn from_requirement(rule: Requirement) -> Self {
        Self {
            rule: Arc::new(rule),
        }
    }
}

impl<S> Layer<S> for RequireLayer {
    type Service = RequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireService {
            inner,
            rule: self.rule.clone(),
        }
    }
}

/// The service made by [`RequireLayer`].
#[derive(Clone)]
pub struct RequireService<S> {
    inner: S,
    rule: Arc<Requirement>,
}

impl<S> fmt::Debug for RequireService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequireService").field(&self.rule).finish()
    }
}

pin_project! {
    /// The response future of [`RequireService`].
    pub struct RequireFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Allowed { #[pin] future: F },
        Refused { response: Option<Response> },
    }
}

impl<F> fmt::Debug for RequireFuture<F> {
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
        }
    }
}

impl<S, B> Service<Request<B>> for RequireService<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RequireFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let extensions = request.extensions();
        let verdict = context_from(extensions).and_then(|ctx| {
            let allowed = match &*self.rule {
                Requirement::Permission(p) => ctx.has_permission(p),
                Requirement::Action(a) => ctx.can(a),
                Requirement::Other(_) => false,
            };
            if allowed {
                Ok(())
            } else {
                Err(forbidden(extensions, (*self.rule).clone()))
            }
        });
        match verdict {
            Ok(()) => RequireFuture {
                kind: Kind::Allowed {
                    future: self.inner.call(request),
                },
            },
            Err(rejection) => RequireFuture {
                kind: Kind::Refused {
                    response: Some(rejection.into_response()),
                },
            },
        }
    }
}
