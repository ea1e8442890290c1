//! Where a router's checks are asked: the tenant (and namespace) of a route, taken from the
//! caller's credential, a path parameter or a header, as the router says.
//!
//! A [`ScopeLayer`] on a router (with `route_layer`, so the route and its parameters are known)
//! tells every check behind it where to ask: the extractors read its [`ScopeRule`] from the
//! request, and the route layers carry their own ([`RequireLayer::in_scope`](crate::RequireLayer::in_scope)),
//! so no order of layers can leave a check asking in the wrong place. The seam then refuses a
//! credential of tenant A asking about tenant B with `deny_other_tenant`, whatever its roles.
//!
//! ```
//! use axum::{Router, routing::get};
//! use portcullis::authz::{ScopeLayer, ScopeRule};
//! use portcullis::{RequirePermission, permission};
//!
//! permission!(ReadBooks = "read:Books");
//!
//! let orgs: Router = Router::new()
//!     .route("/orgs/{org}/books", get(|_: RequirePermission<ReadBooks>| async { "books" }))
//!     .route_layer(ScopeLayer::new(ScopeRule::tenant_from_path("org")));
//! ```
//!
//! A tenant or namespace that is missing or malformed answers 400 before any check: a route
//! that names where it is asked never falls back to asking nowhere.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use axum::extract::{FromRequestParts, RawPathParams};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderName, Request};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::scope::Scope;
use crate::context::UserContext;
use crate::error::{AuthError, Denial, Reason};
use crate::render::AuthRejection;

/// Where one part of the scope (the tenant or the namespace) comes from.
#[derive(Clone)]
enum Source {
    /// The caller's credential (its tenant claim).
    Context,
    /// A path parameter of the route.
    Path(Arc<str>),
    /// A request header.
    Header(HeaderName),
    /// Always this (a namespace only).
    Fixed(Arc<str>),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Context => f.write_str("context"),
            Self::Path(name) => write!(f, "path {{{name}}}"),
            Self::Header(name) => write!(f, "header {name}"),
            Self::Fixed(value) => write!(f, "fixed {value:?}"),
        }
    }
}

/// How a router's checks find their tenant and namespace.
///
/// ```
/// use portcullis::authz::ScopeRule;
///
/// let by_path = ScopeRule::tenant_from_path("org").namespace_from_path("team");
/// let by_header = ScopeRule::tenant_from_header("x-tenant")?;
/// let by_token = ScopeRule::tenant_from_context().namespace("engineering/platform")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ScopeRule {
    tenant: Source,
    namespace: Option<Source>,
}

/// Why a scope rule could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeRuleError {
    /// Not a valid header name.
    #[error("invalid header name {0:?}")]
    InvalidHeader(String),
    /// A fixed namespace is not a valid path.
    #[error(transparent)]
    Scope(#[from] super::scope::ScopeError),
}

impl ScopeRule {
    /// The tenant is the caller's own (the credential's tenant claim): checks are scoped to it,
    /// and a credential with no tenant is refused (`deny_other_tenant`).
    pub fn tenant_from_context() -> Self {
        Self {
            tenant: Source::Context,
            namespace: None,
        }
    }

    /// The tenant is the route's path parameter `name` (`/orgs/{org}/…`).
    pub fn tenant_from_path(name: &str) -> Self {
        Self {
            tenant: Source::Path(name.into()),
            namespace: None,
        }
    }

    /// The tenant is the request header `name`.
    pub fn tenant_from_header(name: &str) -> Result<Self, ScopeRuleError> {
        Ok(Self {
            tenant: Source::Header(header_name(name)?),
            namespace: None,
        })
    }

    /// The namespace is the route's path parameter `name`, one segment (`/teams/{team}/…`).
    pub fn namespace_from_path(mut self, name: &str) -> Self {
        self.namespace = Some(Source::Path(name.into()));
        self
    }

    /// The namespace is the request header `name` (a whole path: `engineering/platform`).
    pub fn namespace_from_header(mut self, name: &str) -> Result<Self, ScopeRuleError> {
        self.namespace = Some(Source::Header(header_name(name)?));
        Ok(self)
    }

    /// The namespace is always `path`.
    pub fn namespace(mut self, path: &str) -> Result<Self, ScopeRuleError> {
        // Checked now, with any tenant: a bad path is a start-up error, not a request's.
        Scope::tenant("t")?.in_namespace(path)?;
        self.namespace = Some(Source::Fixed(path.into()));
        Ok(self)
    }

    /// The scope of this request for `ctx`. `parts` must be past routing (a route layer or an
    /// extractor), so that path parameters are known.
    pub(crate) fn resolve(&self, ctx: &UserContext, parts: &mut Parts) -> Result<Scope, AuthError> {
        // Path parameters are read once, borrowed, for both parts.
        let params = if self.reads_path() {
            Some(
                ready_now(RawPathParams::from_request_parts(parts, &()))
                    .and_then(Result::ok)
                    .ok_or(MALFORMED)?,
            )
        } else {
            None
        };
        let part = |source| part_of(source, ctx, &parts.headers, params.as_ref());
        let scope = match part(&self.tenant)? {
            Some(tenant) => Scope::tenant(tenant).map_err(|_| MALFORMED)?,
            // A credential of no tenant on a route scoped to the caller's tenant: it is no
            // tenant's, so every check is refused with `deny_other_tenant`, before any
            // authorizer (a store must never be asked about a tenant that is not one).
            None => {
                return Err(AuthError::Forbidden(Denial::new(Reason::DenyOtherTenant)));
            }
        };
        match &self.namespace {
            None => Ok(scope),
            Some(source) => {
                let path = part(source)?.ok_or(MALFORMED)?;
                // A path parameter is one segment; a decoded `/` in it is not a deeper path.
                if matches!(source, Source::Path(_)) && path.contains('/') {
                    return Err(MALFORMED);
                }
                scope.in_namespace(path).map_err(|_| MALFORMED)
            }
        }
    }

    fn reads_path(&self) -> bool {
        matches!(self.tenant, Source::Path(_)) || matches!(self.namespace, Some(Source::Path(_)))
    }
}

/// One part's text: `Ok(None)` only for the caller's tenant when its credential names none.
fn part_of<'a>(
    source: &'a Source,
    ctx: &'a UserContext,
    headers: &'a http::HeaderMap,
    params: Option<&'a RawPathParams>,
) -> Result<Option<&'a str>, AuthError> {
    match source {
        Source::Context => Ok(ctx.tenant()),
        Source::Fixed(value) => Ok(Some(value)),
        Source::Header(name) => {
            let mut values = headers.get_all(name).iter();
            match (values.next(), values.next()) {
                (Some(value), None) => value.to_str().map(Some).map_err(|_| MALFORMED),
                // Absent, or sent twice (which one would a proxy have checked?).
                _ => Err(MALFORMED),
            }
        }
        Source::Path(name) => params
            .and_then(|params| params.iter().find(|(key, _)| *key == &**name))
            .map(|(_, value)| Some(value))
            .ok_or(MALFORMED),
    }
}

/// What a route whose tenant or namespace is missing or malformed answers (400).
const MALFORMED: AuthError =
    AuthError::InvalidRequest("the route's tenant or namespace is missing or malformed");

fn header_name(name: &str) -> Result<HeaderName, ScopeRuleError> {
    HeaderName::try_from(name).map_err(|_| ScopeRuleError::InvalidHeader(name.to_owned()))
}

/// The output of a future that is ready on its first poll (axum's path parameters are: they
/// are read from the request); `None` if it is not.
fn ready_now<F: Future>(future: F) -> Option<F::Output> {
    let future = pin!(future);
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Where an extractor's check is asked, known from its type: declare one with
/// [`scope!`](crate::scope) and name it as the extractor's second parameter
/// (`RequirePermission<ReadBooks, InOrg>`). Costs nothing per request beyond resolving the
/// scope: no layer, no request extension.
pub trait ScopeDef: Send + Sync + 'static {
    /// The rule; `None` leaves it to the router ([`FromRouter`]).
    fn rule() -> Option<&'static ScopeRule>;
}

/// Where the router's [`ScopeLayer`] says, else globally: the extractors' default.
#[derive(Debug, Clone, Copy, Default)]
pub struct FromRouter;

impl ScopeDef for FromRouter {
    fn rule() -> Option<&'static ScopeRule> {
        None
    }
}

/// Declares a [`ScopeDef`]: where the checks of the extractors that name it are asked.
///
/// ```
/// use axum::{Router, routing::get};
/// use portcullis::authz::ScopeRule;
/// use portcullis::{RequirePermission, permission, scope};
///
/// permission!(ReadBooks = "read:Books");
/// scope!(pub InOrg = ScopeRule::tenant_from_path("org"));
///
/// async fn books(_: RequirePermission<ReadBooks, InOrg>) -> &'static str { "books" }
/// let orgs: Router = Router::new().route("/orgs/{org}/books", get(books));
/// ```
#[macro_export]
macro_rules! scope {
    ($(#[$meta:meta])* $vis:vis $name:ident = $rule:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;

        impl $crate::authz::ScopeDef for $name {
            fn rule() -> ::core::option::Option<&'static $crate::authz::ScopeRule> {
                static RULE: $crate::__private::LazyLock<$crate::authz::ScopeRule> =
                    $crate::__private::LazyLock::new(|| $rule);
                ::core::option::Option::Some(&RULE)
            }
        }
    };
}

/// The scope rule of the request, if a [`ScopeLayer`] put one there.
pub(crate) fn rule_of(parts: &Parts) -> Option<Arc<ScopeRule>> {
    parts.extensions.get::<Arc<ScopeRule>>().cloned()
}

/// Tells the checks behind it where they are asked (see the module docs). Put it on a router
/// with `route_layer`, inside the gateway.
#[derive(Clone, Debug)]
pub struct ScopeLayer {
    rule: Arc<ScopeRule>,
}

impl ScopeLayer {
    /// A layer for `rule`.
    pub fn new(rule: ScopeRule) -> Self {
        Self {
            rule: Arc::new(rule),
        }
    }
}

impl<S> Layer<S> for ScopeLayer {
    type Service = ScopeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ScopeService {
            inner,
            rule: self.rule.clone(),
        }
    }
}

/// The service made by [`ScopeLayer`].
#[derive(Clone, Debug)]
pub struct ScopeService<S> {
    inner: S,
    rule: Arc<ScopeRule>,
}

/// Left in a request by a route layer that checked it without a scope of its own, so that a
/// [`ScopeLayer`] running after it (added before it, inside) can tell it came too late.
#[derive(Clone, Copy)]
pub(crate) struct CheckedWithoutScope;

/// What a [`ScopeLayer`] answers when a route layer already checked the request.
pub(crate) const TOO_LATE: &str = "a portcullis route layer checked this request before its \
     ScopeLayer said where the check is asked; add the ScopeLayer after the require layers (so \
     it runs first) or give the require layer its scope with RequireLayer::in_scope";

impl<S, B> Service<Request<B>> for ScopeService<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ScopeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if request.extensions().get::<CheckedWithoutScope>().is_some() {
            tracing::error!("{TOO_LATE}");
            let response = AuthRejection::new(AuthError::MissingGateway(TOO_LATE), None);
            return ScopeFuture {
                kind: ScopeKind::Refused {
                    response: Some(response.into_response()),
                },
            };
        }
        // The rule, not the resolved scope: the extractors resolve it for their own context.
        request.extensions_mut().insert(self.rule.clone());
        ScopeFuture {
            kind: ScopeKind::Inner {
                future: self.inner.call(request),
            },
        }
    }
}

pin_project! {
    /// The response future of [`ScopeService`].
    pub struct ScopeFuture<F> {
        #[pin]
        kind: ScopeKind<F>,
    }
}

pin_project! {
    #[project = ScopeKindProj]
    enum ScopeKind<F> {
        Inner { #[pin] future: F },
        Refused { response: Option<Response> },
    }
}

impl<F> fmt::Debug for ScopeFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScopeFuture")
    }
}

impl<F, E> Future for ScopeFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            ScopeKindProj::Inner { future } => future.poll(cx),
            ScopeKindProj::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending,
            },
        }
    }
}
