//! A [`Strategy`] from a closure: [`strategy_fn`] (documented there: the module is private).

use std::fmt;

use http::request::Parts;

use super::{Outcome, Strategy};
use crate::future::MaybeReady;

/// Makes a [`Strategy`] named `name` (for logs) from a closure.
///
/// The closure receives the request's head and answers with a [`MaybeReady`]: use
/// [`MaybeReady::ready`] when the outcome is known at once (no allocation) and
/// [`MaybeReady::new`] when it has to be awaited. The rule of the chain holds as for any
/// strategy: answer [`Outcome::NotMine`] only when the request carries no credential of your
/// kind, and [`Outcome::Rejected`] for a bad one, so that it never falls through to the next
/// strategy.
///
/// Most custom strategies are a few lines that read a header; writing a type and a trait impl for
/// each is ceremony. As with tower-http's closure-based extension points, a closure will do:
///
/// ```
/// use portcullis::{AuthError, AuthGateway, AuthMethod, MaybeReady, UserContext};
/// use portcullis::strategy::{Outcome, strategy_fn};
///
/// // Trusts a header set by a sidecar that already authenticated the caller. No I/O, so the
/// // answer is ready at once and nothing is allocated per request.
/// let sidecar = strategy_fn("sidecar", |parts| {
///     MaybeReady::ready(match parts.headers.get("x-sidecar-user").map(|v| v.to_str()) {
///         None => Outcome::NotMine,
///         Some(Ok(user)) if !user.is_empty() => {
///             Outcome::Authenticated(UserContext::new(user, AuthMethod::Custom("sidecar")))
///         }
///         Some(_) => Outcome::Rejected(AuthError::InvalidRequest("bad x-sidecar-user header")),
///     })
/// });
/// let layer = AuthGateway::new().strategy(sidecar).build()?;
/// # Ok::<(), portcullis::GatewayError>(())
/// ```
///
/// A strategy that has to wait (a store, a remote introspection endpoint) returns
/// [`MaybeReady::new`] around an `async` block; the block may borrow the request's parts, and
/// takes along owned clones of whatever the closure captured (the closure is called once per
/// request and keeps its captures):
///
/// ```
/// use std::sync::Arc;
/// use portcullis::{AuthMethod, MaybeReady, UserContext};
/// use portcullis::strategy::{Outcome, strategy_fn};
///
/// # struct Directory;
/// # impl Directory { async fn lookup(&self, _: &str) -> Option<String> { Some("u-1".into()) } }
/// let directory = Arc::new(Directory);
/// let strategy = strategy_fn("directory", move |parts| {
///     let directory = directory.clone();
///     MaybeReady::new(async move {
///         let Some(name) = parts.headers.get("x-user").and_then(|v| v.to_str().ok()) else {
///             return Outcome::NotMine;
///         };
///         match directory.lookup(name).await {
///             Some(id) => Outcome::Authenticated(UserContext::new(id, AuthMethod::Custom("directory"))),
///             None => Outcome::Rejected(portcullis::AuthError::MissingCredentials),
///         }
///     })
/// });
/// ```
pub fn strategy_fn<F>(name: &'static str, f: F) -> StrategyFn<F>
where
    F: for<'a> Fn(&'a Parts) -> MaybeReady<'a, Outcome> + Send + Sync + 'static,
{
    StrategyFn { name, f }
}

/// A [`Strategy`] made from a closure by [`strategy_fn`].
#[derive(Clone, Copy)]
pub struct StrategyFn<F> {
    name: &'static str,
    f: F,
}

impl<F> fmt::Debug for StrategyFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StrategyFn")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<F> Strategy for StrategyFn<F>
where
    F: for<'a> Fn(&'a Parts) -> MaybeReady<'a, Outcome> + Send + Sync + 'static,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn authenticate<'a>(&'a self, request: &'a Parts) -> MaybeReady<'a, Outcome> {
        (self.f)(request)
    }
}
