//! The gateway: [`AuthGateway`] builds an [`AuthLayer`], whose [`AuthService`] authenticates every
//! request before the router sees it.
//!
//! For each request the service:
//! 1. runs the strategies in order; the first that finds its credentials decides (a bad
//!    credential is refused there and then, never handed to the next strategy);
//! 2. enriches the context with its compiled permissions (RBAC);
//! 3. puts the [`UserContext`] into the request extensions, or answers 401 when authentication is
//!    required and no strategy found credentials.
//!
//! The request path allocates nothing of its own when the answer is at hand (a cached token or
//! key): the strategies and the enricher are asked on the caller's stack, the inner service is
//! called at once, and the context is the one extension inserted (it carries the gateway's error
//! renderer for the extractors). Only a strategy or enricher that must wait (a store read) moves
//! the request into a boxed future, and only one that declares itself
//! [`retry_safe`](Strategy::retry_safe) is asked on the stack first.
//!
//! Public paths and optional mode let anonymous requests through without a context; credentials
//! that are presented there are still checked, and refused when bad.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::Response;
use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use crate::authz::{Authorizer, DecisionObserver, Seam};
use crate::context::UserContext;
use crate::enrich::Enricher;
use crate::error::AuthError;
use crate::rbac::RolePolicy;
use crate::render::{DefaultRenderer, ErrorRenderer, Render, RenderWith, valid_realm};
use crate::strategy::{Outcome, Strategy};
use pin_project_lite::pin_project;

/// Whether requests without credentials pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// No credentials → 401 (except on public paths). The default.
    #[default]
    Required,
    /// No credentials → the request passes with no [`UserContext`]; extractors that need one
    /// answer 401 themselves.
    Optional,
}

/// Why a gateway could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// No strategy was added.
    #[error("the gateway needs at least one strategy")]
    NoStrategy,
    /// The realm cannot be put in a challenge header.
    #[error("the realm must be 1 to 128 printable ASCII characters without `\"` or `\\`")]
    InvalidRealm,
    /// A public path does not start with `/`.
    #[error("public path {0:?} must start with `/`")]
    InvalidPublicPath(String),
}

/// Builds the authentication layer.
///
/// ```
/// use axum::{Router, routing::get};
/// use portcullis::{AuthGateway, UserContext};
/// use portcullis::rbac::RolePolicy;
/// use portcullis::strategy::BearerStrategy;
/// use portcullis::token::{Key, KeyRing, TokenRules};
///
/// let ring = KeyRing::single(Key::generate_ed25519("k1")?);
/// let layer = AuthGateway::new()
///     .strategy(BearerStrategy::new(ring, TokenRules::new().issuer("me").audience("api")))
///     .roles(RolePolicy::default())
///     .public_path("/health")
///     .build()?;
///
/// let app: Router = Router::new()
///     .route("/me", get(|user: UserContext| async move { user.subject().to_owned() }))
///     .route("/health", get(|| async { "ok" }))
///     .layer(layer);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AuthGateway {
    strategies: Vec<Arc<dyn Strategy>>,
    enricher: Option<Arc<dyn Enricher>>,
    mode: AuthMode,
    public_paths: HashSet<String>,
    public_prefixes: Vec<String>,
    realm: String,
    renderer: Arc<dyn ErrorRenderer>,
    custom_renderer: bool,
    authorizer: Option<Arc<dyn Authorizer>>,
    observers: Vec<Arc<dyn DecisionObserver>>,
    decision_log: bool,
    failures: Option<crate::audit::AuditTrail>,
}

impl Default for AuthGateway {
    fn default() -> Self {
        Self {
            strategies: Vec::new(),
            enricher: Some(Arc::new(RolePolicy::default())),
            mode: AuthMode::Required,
            public_paths: HashSet::new(),
            public_prefixes: Vec::new(),
            realm: "portcullis".into(),
            renderer: Arc::new(DefaultRenderer),
            custom_renderer: false,
            authorizer: None,
            observers: Vec::new(),
            decision_log: true,
            failures: None,
        }
    }
}

impl fmt::Debug for AuthGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.strategies.iter().map(|s| s.name()).collect();
        f.debug_struct("AuthGateway")
            .field("strategies", &names)
            .field("mode", &self.mode)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl AuthGateway {
    /// A gateway with no strategies, the built-in roles, required mode and realm `portcullis`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a strategy; strategies run in the order they are added.
    pub fn strategy(mut self, strategy: impl Strategy) -> Self {
        self.strategies.push(Arc::new(strategy));
        self
    }

    /// Enriches contexts with this role policy (the default is the built-in roles).
    pub fn roles(self, policy: RolePolicy) -> Self {
        self.enricher(policy)
    }

    /// Enriches contexts with your own [`Enricher`] instead of a role policy (a closure will do:
    /// see [`enricher_fn`](crate::enricher_fn)).
    pub fn enricher(mut self, enricher: impl Enricher) -> Self {
        self.enricher = Some(Arc::new(enricher));
        self
    }

    /// Leaves contexts as the strategies made them (no enrichment).
    pub fn without_enrichment(mut self) -> Self {
        self.enricher = None;
        self
    }

    /// Lets requests without credentials through (see [`AuthMode::Optional`]).
    pub fn optional(mut self) -> Self {
        self.mode = AuthMode::Optional;
        self
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: AuthMode) -> Self {
        self.mode = mode;
        self
    }

    /// A path (matched exactly against the request path) where no credentials are needed.
    pub fn public_path(mut self, path: impl Into<String>) -> Self {
        self.public_paths.insert(path.into());
        self
    }

    /// Several exact public paths at once (for example
    /// [`IDENTITY_PUBLIC_PATHS`](crate::identity::IDENTITY_PUBLIC_PATHS)).
    pub fn public_paths<I: IntoIterator<Item = S>, S: Into<String>>(mut self, paths: I) -> Self {
        self.public_paths.extend(paths.into_iter().map(Into::into));
        self
    }

    /// A path prefix (`/static/`) under which no credentials are needed. Matching is on the raw
    /// path: `/static/../admin` is not normalised by the gateway, so keep the router from
    /// normalising paths either (axum does not).
    pub fn public_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.public_prefixes.push(prefix.into());
        self
    }

    /// The realm named in `WWW-Authenticate` challenges.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Renders errors your own way (see [`ErrorRenderer`]; a closure taking
    /// `&`[`Problem`](crate::Problem) will do). The extractors and route layers behind this
    /// gateway use it too, and so do the routes the crate hands out (identity, sessions, API
    /// keys, OpenID) when they are behind it.
    pub fn error_renderer(mut self, renderer: impl ErrorRenderer) -> Self {
        self.renderer = Arc::new(renderer);
        self.custom_renderer = true;
        self
    }

    /// Answers every check behind this gateway with `authorizer` (see [`authz`](crate::authz));
    /// the default is the [`RolePolicy`]'s, which answers from the context's permission set.
    pub fn authorizer(mut self, authorizer: impl Authorizer) -> Self {
        self.authorizer = Some(Arc::new(authorizer));
        self
    }

    /// Shows every decision behind this gateway to `observer` too (a closure
    /// `Fn(&DecisionEvent<'_>)` will do; see [`DecisionObserver`]).
    pub fn observe(mut self, observer: impl DecisionObserver) -> Self {
        self.observers.push(Arc::new(observer));
        self
    }

    /// Records every refused credential (an invalid or expired token, a bad key, a malformed
    /// request, a store that could not check it) in `trail`, besides the decisions its
    /// observers see. Requests with no credentials at all are not recorded (anonymous probes
    /// would flood the trail); they are answered 401 as before.
    pub fn audit_auth_failures(mut self, trail: crate::audit::AuditTrail) -> Self {
        self.failures = Some(trail);
        self
    }

    /// Leaves out the default [`TracingObserver`](crate::authz::TracingObserver), which logs each
    /// decision at `debug` (denials at `info`).
    pub fn without_decision_log(mut self) -> Self {
        self.decision_log = false;
        self
    }

    /// Checks the configuration and builds the layer.
    ///
    /// The layer's error renderer and realm are kept for the rest of the process (a few hundred
    /// bytes): every request borrows them instead of counting references to them, because a
    /// count that all cores update costs a cache-line transfer between cores on each request.
    /// Build a gateway once at start-up (as one does), not per request.
    pub fn build(self) -> Result<AuthLayer, GatewayError> {
        if self.strategies.is_empty() {
            return Err(GatewayError::NoStrategy);
        }
        if !valid_realm(&self.realm) {
            return Err(GatewayError::InvalidRealm);
        }
        for path in self.public_paths.iter().chain(&self.public_prefixes) {
            if !path.starts_with('/') {
                return Err(GatewayError::InvalidPublicPath(path.clone()));
            }
        }
        Ok(AuthLayer {
            shared: Arc::new(Shared {
                strategies: self.strategies.into(),
                enricher: self.enricher,
                mode: self.mode,
                public_paths: self.public_paths,
                public_prefixes: self.public_prefixes.into(),
                // Kept for the life of the process, so that each request borrows it rather than
                // counting references to it: a count that every core shares costs a cache-line
                // transfer per request and core (see `build`'s docs).
                render: Box::leak(Box::new(RenderWith {
                    renderer: self.renderer,
                    realm: self.realm.into(),
                    custom: self.custom_renderer,
                })),
                // Kept for the process too, for the same reason.
                seam: Box::leak(Box::new(Seam::new(
                    self.authorizer,
                    self.decision_log,
                    self.observers,
                ))),
                failures: self.failures,
            }),
        })
    }
}

struct Shared {
    strategies: Box<[Arc<dyn Strategy>]>,
    enricher: Option<Arc<dyn Enricher>>,
    mode: AuthMode,
    public_paths: HashSet<String>,
    public_prefixes: Box<[String]>,
    render: Render,
    seam: &'static Seam,
    failures: Option<crate::audit::AuditTrail>,
}

impl Shared {
    fn is_public(&self, path: &str) -> bool {
        self.public_paths.contains(path)
            || self
                .public_prefixes
                .iter()
                .any(|p| path.starts_with(p.as_str()))
    }

    /// Steps 1 and 2 on the caller's stack, as far as they go without waiting: the answer, or
    /// where the request must continue in a future that can wait.
    fn authenticate_now(&self, parts: &http::request::Parts) -> Result<Authenticated, Wait> {
        for (at, strategy) in self.strategies.iter().enumerate() {
            if !strategy.retry_safe() {
                return Err(Wait::Strategy(at));
            }
            let Some(outcome) = strategy.authenticate(parts).now() else {
                return Err(Wait::Strategy(at));
            };
            match outcome {
                Outcome::NotMine => continue,
                Outcome::Rejected(error) => return Ok(Err(refused(strategy.name(), error))),
                Outcome::Authenticated(ctx) => return self.enrich_now(ctx),
            }
        }
        Ok(Ok(None))
    }

    fn enrich_now(&self, mut ctx: UserContext) -> Result<Authenticated, Wait> {
        let Some(enricher) = &self.enricher else {
            return Ok(Ok(Some(ctx)));
        };
        if !enricher.retry_safe() {
            return Err(Wait::Enricher(ctx));
        }
        match enricher.enrich(&mut ctx).now() {
            Some(Ok(())) => Ok(Ok(Some(ctx))),
            Some(Err(error)) => Ok(Err(error)),
            None => Err(Wait::Enricher(ctx)),
        }
    }

    /// Steps 1 and 2 from where [`authenticate_now`](Self::authenticate_now) had to stop.
    async fn authenticate(&self, parts: &http::request::Parts, from: Wait) -> Authenticated {
        let from = match from {
            Wait::Strategy(at) => at,
            Wait::Enricher(ctx) => return self.enrich(ctx).await,
        };
        for strategy in self.strategies.iter().skip(from) {
            match strategy.authenticate(parts).await {
                Outcome::NotMine => continue,
                Outcome::Rejected(error) => return Err(refused(strategy.name(), error)),
                Outcome::Authenticated(ctx) => return self.enrich(ctx).await,
            }
        }
        Ok(None)
    }

    async fn enrich(&self, mut ctx: UserContext) -> Authenticated {
        if let Some(enricher) = &self.enricher {
            enricher.enrich(&mut ctx).await?;
        }
        Ok(Some(ctx))
    }

    /// Step 3 for a request without a context: may it pass?
    fn may_pass_anonymously(&self, parts: &http::request::Parts) -> bool {
        self.mode == AuthMode::Optional || self.is_public(parts.uri.path())
    }

    fn render(&self, error: &AuthError) -> Response {
        self.render.renderer.render(error, &self.render.realm)
    }
}

/// What authentication concluded: a context, none (no credentials), or a refusal.
type Authenticated = Result<Option<UserContext>, AuthError>;

/// Where authentication has to wait: at a strategy (by its index), or at the enricher.
enum Wait {
    Strategy(usize),
    Enricher(UserContext),
}

fn refused(strategy: &'static str, error: AuthError) -> AuthError {
    tracing::debug!(strategy, %error, "credentials refused");
    error
}

/// The tower [`Layer`] made by [`AuthGateway::build`]; cheap to clone.
#[derive(Clone)]
pub struct AuthLayer {
    shared: Arc<Shared>,
}

impl AuthLayer {
    /// The gateway's decision seam, for checks made outside the extractors (see
    /// [`DecisionPoint`](crate::authz::DecisionPoint)).
    pub fn decision_point(&self) -> crate::authz::DecisionPoint {
        crate::authz::DecisionPoint::of_seam(self.shared.seam)
    }
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("mode", &self.shared.mode)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The tower [`Service`] that authenticates requests before passing them to `S`.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("mode", &self.shared.mode)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The response future of [`AuthService`]: the inner service's own future when the request
    /// was authenticated at once, an answer of the gateway's, or a boxed future when a
    /// strategy or the enricher had to wait.
    pub struct ResponseFuture<F, E> {
        #[pin]
        kind: Kind<F, E>,
    }
}

pin_project! {
    #[project = KindProjection]
    enum Kind<F, E> {
        Inner { #[pin] future: F },
        Answer { response: Option<Response> },
        Waiting { future: Pin<Box<dyn Future<Output = Result<Response, E>> + Send>> },
    }
}

impl<F, E> ResponseFuture<F, E> {
    fn answer(response: Response) -> Self {
        Self {
            kind: Kind::Answer {
                response: Some(response),
            },
        }
    }
}

impl<F, E> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProjection::Inner { future } => future.poll(cx),
            KindProjection::Answer { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending, // polled after completion: never resolves again
            },
            KindProjection::Waiting { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, E> fmt::Debug for ResponseFuture<F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<S, B> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        // Only this gateway may put a context (or its renderer) into a request; one further out
        // (nested gateways) does not speak for this one.
        parts.extensions.remove::<UserContext>();
        parts.extensions.remove::<Render>();
        let shared = &self.shared;
        let authenticated = match shared.authenticate_now(&parts) {
            Ok(authenticated) => authenticated,
            Err(wait) => return self.call_later(parts, body, wait),
        };
        match admit(shared, &mut parts, authenticated) {
            None => ResponseFuture {
                kind: Kind::Inner {
                    future: self.inner.call(Request::from_parts(parts, body)),
                },
            },
            Some(answer) => ResponseFuture::answer(answer),
        }
    }
}

impl<S> AuthService<S> {
    /// The rest of the request in a boxed future, from where authentication had to wait.
    fn call_later<B>(
        &mut self,
        mut parts: http::request::Parts,
        body: B,
        wait: Wait,
    ) -> ResponseFuture<S::Future, S::Error>
    where
        S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: 'static,
        B: Send + 'static,
    {
        // Take the service that was driven to readiness and leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        ResponseFuture {
            kind: Kind::Waiting {
                future: Box::pin(async move {
                    let authenticated = shared.authenticate(&parts, wait).await;
                    if let Some(answer) = admit(&shared, &mut parts, authenticated) {
                        return Ok(answer);
                    }
                    inner.call(Request::from_parts(parts, body)).await
                }),
            },
        }
    }
}

/// Step 3: the context into the request and `None`, or the gateway's own answer.
fn admit(
    shared: &Shared,
    parts: &mut http::request::Parts,
    authenticated: Authenticated,
) -> Option<Response> {
    match authenticated {
        Ok(Some(mut ctx)) => {
            ctx.set_render(shared.render);
            ctx.set_seam(shared.seam);
            parts.extensions.insert(ctx);
            if shared.render.custom {
                // The crate's own routes re-render their answers with an application's
                // renderer (`RenderProblems`, which cannot see into contexts); the default
                // renderer needs nothing more than the context carries.
                parts.extensions.insert(shared.render);
            }
            None
        }
        Ok(None) if shared.may_pass_anonymously(parts) => {
            parts.extensions.insert(shared.render);
            None
        }
        Ok(None) => Some(shared.render(&AuthError::MissingCredentials)),
        Err(error) => {
            if let Some(trail) = &shared.failures {
                // Already a refusal: a full queue cannot make it one, so it is only counted.
                trail.record(crate::audit::trail::record_of_failure(parts, &error));
            }
            Some(shared.render(&error))
        }
    }
}
