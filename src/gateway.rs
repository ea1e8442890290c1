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

use crate::context::UserContext;
use crate::enrich::Enricher;
use crate::error::AuthError;
use crate::rbac::RolePolicy;
use crate::render::{DefaultRenderer, ErrorRenderer, RenderWith, valid_realm};
use crate::strategy::{Outcome, Strategy};

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

    /// Checks the configuration and builds the layer.
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
                render: Arc::new(RenderWith {
                    renderer: self.renderer,
                    realm: self.realm.into(),
                    custom: self.custom_renderer,
                }),
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
    render: Arc<RenderWith>,
}

impl Shared {
    fn is_public(&self, path: &str) -> bool {
        self.public_paths.contains(path)
            || self
                .public_prefixes
                .iter()
                .any(|p| path.starts_with(p.as_str()))
    }

    async fn authenticate(
        &self,
        parts: &http::request::Parts,
    ) -> Result<Option<UserContext>, AuthError> {
        for strategy in self.strategies.iter() {
            match strategy.authenticate(parts).await {
                Outcome::NotMine => continue,
                Outcome::Rejected(error) => {
                    tracing::debug!(strategy = strategy.name(), %error, "credentials refused");
                    return Err(error);
                }
                Outcome::Authenticated(mut ctx) => {
                    if let Some(enricher) = &self.enricher {
                        enricher.enrich(&mut ctx).await?;
                    }
                    return Ok(Some(ctx));
                }
            }
        }
        Ok(None)
    }

    fn render(&self, error: &AuthError) -> Response {
        self.render.renderer.render(error, &self.render.realm)
    }
}

/// The tower [`Layer`] made by [`AuthGateway::build`]; cheap to clone.
#[derive(Clone)]
pub struct AuthLayer {
    shared: Arc<Shared>,
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

/// The response future of [`AuthService`].
pub struct ResponseFuture<E> {
    inner: Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>,
}

impl<E> Future for ResponseFuture<E> {
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<E> fmt::Debug for ResponseFuture<E> {
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
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Take the service that was driven to readiness and leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        ResponseFuture {
            inner: Box::pin(async move {
                let (mut parts, body) = request.into_parts();
                // Only the gateway may put a context into a request.
                parts.extensions.remove::<UserContext>();
                parts.extensions.insert(shared.render.clone());
                match shared.authenticate(&parts).await {
                    Ok(Some(ctx)) => {
                        parts.extensions.insert(ctx);
                    }
                    Ok(None) => {
                        let must = shared.mode == AuthMode::Required
                            && !shared.is_public(parts.uri.path());
                        if must {
                            return Ok(shared.render(&AuthError::MissingCredentials));
                        }
                    }
                    Err(error) => return Ok(shared.render(&error)),
                }
                inner.call(Request::from_parts(parts, body)).await
            }),
        }
    }
}
