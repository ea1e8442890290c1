//! Strategies: each turns one kind of credential into a [`UserContext`].
//!
//! A strategy looks at the request and answers one of three things ([`Outcome`]):
//! - [`NotMine`](Outcome::NotMine): no credentials of its kind; the gateway asks the next one;
//! - [`Authenticated`](Outcome::Authenticated): a valid credential; the chain stops here;
//! - [`Rejected`](Outcome::Rejected): its kind of credential, but bad; the chain stops here too.
//!   Bad credentials never fall through to a weaker strategy.
//!
//! The bearer strategy lives here: it needs only the token leaf. The strategies of the services
//! live with their services ([`ApiKeyStrategy`](crate::api_key::ApiKeyStrategy),
//! [`SessionStrategy`](crate::session::SessionStrategy)), because this module is the request
//! path and imports no service.

mod bearer;
mod function;
mod issuers;

pub use bearer::{BearerStrategy, DEFAULT_MAX_HEADER_BYTES, MAX_ROLES_IN_TOKEN};
pub use function::{StrategyFn, strategy_fn};
pub use issuers::{BearerIssuers, IssuersError};

use http::request::Parts;

use crate::context::UserContext;
use crate::error::AuthError;
use crate::future::MaybeReady;

/// What a strategy concluded about a request.
#[derive(Debug)]
pub enum Outcome {
    /// No credentials of this strategy's kind.
    NotMine,
    /// Valid credentials.
    Authenticated(UserContext),
    /// Credentials of this strategy's kind, refused.
    Rejected(AuthError),
}

/// One way of authenticating a request.
///
/// Return [`MaybeReady::ready`] when the answer needs no I/O (no allocation), or
/// [`MaybeReady::new`] around an `async` block when it does. For a strategy that fits in a
/// closure, [`strategy_fn`] saves writing the type.
///
/// ```
/// use http::request::Parts;
/// use portcullis::{AuthError, AuthMethod, MaybeReady, UserContext};
/// use portcullis::strategy::{Outcome, Strategy};
///
/// /// Trusts a header set by a sidecar that already authenticated the caller.
/// struct SidecarHeader;
///
/// impl Strategy for SidecarHeader {
///     fn name(&self) -> &'static str { "sidecar" }
///     fn authenticate<'a>(&'a self, request: &'a Parts) -> MaybeReady<'a, Outcome> {
///         MaybeReady::ready(match request.headers.get("x-sidecar-user").map(|v| v.to_str()) {
///             None => Outcome::NotMine,
///             Some(Ok(user)) if !user.is_empty() => {
///                 Outcome::Authenticated(UserContext::new(user, AuthMethod::Custom("sidecar")))
///             }
///             Some(_) => Outcome::Rejected(AuthError::InvalidRequest("bad x-sidecar-user header")),
///         })
///     }
/// }
/// ```
pub trait Strategy: Send + Sync + 'static {
    /// A short name for logs (`bearer`, `api_key`, …).
    fn name(&self) -> &'static str;

    /// Looks at the request and answers.
    fn authenticate<'a>(&'a self, request: &'a Parts) -> MaybeReady<'a, Outcome>;

    /// Whether [`authenticate`](Self::authenticate) may be called twice for one request
    /// without harm: what it does before its future is first polled is idempotent (parsing,
    /// cache look-ups, filling a cache), never counting, logging a use or writing a store.
    /// Default `false`.
    ///
    /// When `true`, the gateway first asks on the caller's stack, where an answer that is ready
    /// at once (the common case: a cached credential) costs no allocation; if the future is
    /// not ready, it drops it unpolled and asks again inside a boxed future that can wait.
    /// When `false`, the gateway calls `authenticate` exactly once per request, inside that
    /// boxed future. The crate's own strategies say `true`.
    fn retry_safe(&self) -> bool {
        false
    }
}
