//! Observers of the seam: every decision is shown to them after it is made.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::MatchedPath;
use http::request::Parts;
use http::{Extensions, HeaderMap, Method, Uri};

use super::decision::Decision;
use crate::context::UserContext;
use crate::error::{Reason, Requirement};

/// What the request a check was made for looks like (absent for a check made outside a
/// request, such as [`UserContext::require_permission`] in a background task).
#[derive(Clone, Copy)]
pub struct RequestFacts<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> RequestFacts<'a> {
    pub(crate) fn new(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        extensions: &'a Extensions,
    ) -> Self {
        Self {
            method,
            uri,
            headers,
            extensions,
        }
    }

    pub(crate) fn of_parts(parts: &'a Parts) -> Self {
        Self::new(&parts.method, &parts.uri, &parts.headers, &parts.extensions)
    }

    /// The request's method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request's URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The request's headers (for a trace id, a client address behind a trusted proxy…).
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The request's extensions.
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }

    /// The route template axum matched (`/orgs/{org}/books`), once the router has routed.
    pub fn route(&self) -> Option<&'a str> {
        self.extensions
            .get::<MatchedPath>()
            .map(MatchedPath::as_str)
    }
}

/// One decision as observers see it.
#[derive(Clone, Copy)]
pub struct DecisionEvent<'a> {
    pub(crate) context: &'a UserContext,
    pub(crate) required: &'a Requirement,
    pub(crate) decision: &'a Decision,
    pub(crate) request: Option<RequestFacts<'a>>,
}

impl<'a> DecisionEvent<'a> {
    /// Who asked.
    pub fn context(&self) -> &'a UserContext {
        self.context
    }

    /// What was required.
    pub fn required(&self) -> &'a Requirement {
        self.required
    }

    /// The answer.
    pub fn decision(&self) -> &'a Decision {
        self.decision
    }

    /// The request, when the check was made for one.
    pub fn request(&self) -> Option<RequestFacts<'a>> {
        self.request
    }
}

/// Sees every decision the seam makes, after it is made and before it takes effect.
///
/// Observers run on the request path: keep them cheap and never block (hand work to a channel,
/// as the audit trail does). Plug one in with
/// [`AuthGateway::observe`](crate::AuthGateway::observe); a closure
/// `Fn(&DecisionEvent<'_>)` is one.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use portcullis::authz::DecisionEvent;
///
/// let denials = Arc::new(AtomicU64::new(0));
/// let counted = denials.clone();
/// let observer = move |event: &DecisionEvent<'_>| {
///     if !event.decision().is_allowed() {
///         counted.fetch_add(1, Ordering::Relaxed);
///     }
/// };
/// # let _ = portcullis::AuthGateway::new().observe(observer);
/// ```
pub trait DecisionObserver: Send + Sync + 'static {
    /// Called with each decision.
    fn observe(&self, event: &DecisionEvent<'_>);

    /// Called with each decision instead of [`observe`](Self::observe) by the seam: `false`
    /// refuses it, and an allow then becomes [`Reason::Unavailable`] (503). For observers that
    /// must see every decision that takes effect (the [audit trail](crate::audit), when it
    /// cannot take a record); the default observes and admits.
    fn admit(&self, event: &DecisionEvent<'_>) -> bool {
        self.observe(event);
        true
    }

    /// Like [`admit`](Self::admit), for a check that can wait (every check the seam makes in
    /// an async context: the extractors, the route layers, [`DecisionPoint`], the entity
    /// engine): an observer that is only behind for now (the audit trail with its queue full)
    /// answers with a [`PendingAdmission`], a wait bounded by the observer itself, and the
    /// decision takes effect when it resolves to `true`. The default answers at once with
    /// [`admit`](Self::admit).
    ///
    /// So traffic faster than an observer can keep up with is slowed to its pace (back
    /// pressure) instead of being refused at the first full queue; a refusal still comes,
    /// after the observer's bound, when the observer stays stuck.
    ///
    /// [`DecisionPoint`]: crate::authz::DecisionPoint
    fn admit_or_wait(&self, event: &DecisionEvent<'_>) -> Result<bool, PendingAdmission> {
        Ok(self.admit(event))
    }

    /// Whether this observer needs [`Decision::matched`] filled in (a second walk of the
    /// grants for each allowed check). Defaults to `false`.
    fn wants_matches(&self) -> bool {
        false
    }
}

/// An observer's admission that must wait (see [`DecisionObserver::admit_or_wait`]): a future
/// resolving to whether the observer took the decision. It owns what it needs (it may not
/// borrow the event), and its wait must be bounded.
///
/// ```
/// use portcullis::authz::PendingAdmission;
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let room = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
/// let pending = PendingAdmission::new(async move { room.acquire_owned().await.is_ok() });
/// assert!(pending.await);
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct PendingAdmission(Pin<Box<dyn Future<Output = bool> + Send + 'static>>);

impl PendingAdmission {
    /// Wraps `wait`, which must end by itself within a bound the observer documents.
    pub fn new(wait: impl Future<Output = bool> + Send + 'static) -> Self {
        Self(Box::pin(wait))
    }
}

impl Future for PendingAdmission {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        self.0.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for PendingAdmission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingAdmission")
    }
}

impl<F> DecisionObserver for F
where
    F: Fn(&DecisionEvent<'_>) + Send + Sync + 'static,
{
    fn observe(&self, event: &DecisionEvent<'_>) {
        self(event)
    }
}

/// Logs each decision with `tracing`, target `portcullis::authz`: allows at `debug`, denials at
/// `info`, store failures at `warn`. Fields: `subject`, `required`, `reason`, `tenant`,
/// `namespace`, `route`. On by default; a gateway built with
/// [`AuthGateway::without_decision_log`](crate::AuthGateway::without_decision_log) leaves it off.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingObserver;

impl DecisionObserver for TracingObserver {
    fn observe(&self, event: &DecisionEvent<'_>) {
        let decision = event.decision;
        // Fields are worked out only when the event is enabled: the route is a look-up in the
        // request's extensions, which a disabled log must not pay on every request.
        macro_rules! log {
            ($level:ident) => {
                tracing::$level!(
                    target: "portcullis::authz",
                    subject = event.context.subject(),
                    required = %event.required,
                    reason = decision.reason().code(),
                    tenant = decision.scope().tenant_id().unwrap_or(""),
                    namespace = decision.scope().namespace().unwrap_or(""),
                    route = event.request.and_then(|r| r.route()).unwrap_or(""),
                    "authorization decision"
                )
            };
        }
        match decision.reason() {
            reason if reason.allows() => log!(debug),
            Reason::Unavailable => log!(warn),
            _ => log!(info),
        }
    }
}
