//! The session-cookie strategy.
//!
//! It lives with the service it reads, not in `strategy`: a strategy module importing the session
//! service (which itself builds on `identity`, which builds a bearer strategy) made a cycle. A
//! service hands out its own strategy ([`Sessions::strategy`]), as `Identity::bearer` does.

use std::sync::Arc;

use http::request::Parts;

use super::Sessions;
use crate::future::MaybeReady;
use crate::store::{SessionStore, Store};
use crate::strategy::{Outcome, Strategy};

/// Authenticates requests by their session cookie (see [`Sessions`]); no cookie is "not mine",
/// a bad or expired one 401, an unsafe request from a foreign origin 403.
pub struct SessionStrategy<S: Store> {
    sessions: Arc<Sessions<S>>,
}

impl<S: Store> std::fmt::Debug for SessionStrategy<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionStrategy")
    }
}

impl<S: Store + SessionStore> SessionStrategy<S> {
    /// A strategy over `sessions`.
    pub fn new(sessions: Arc<Sessions<S>>) -> Self {
        Self { sessions }
    }
}

impl<S: Store + SessionStore> Strategy for SessionStrategy<S> {
    fn name(&self) -> &'static str {
        "session"
    }

    /// Only parsing and cache look-ups happen before the future is polled.
    fn retry_safe(&self) -> bool {
        true
    }

    fn authenticate<'a>(&'a self, request: &'a Parts) -> MaybeReady<'a, Outcome> {
        if self.sessions.token_of(request).is_none() {
            return MaybeReady::ready(Outcome::NotMine);
        }
        MaybeReady::new(async move {
            match self.sessions.authenticate(request).await {
                None => Outcome::NotMine,
                Some(Ok(ctx)) => Outcome::Authenticated(ctx),
                Some(Err(error)) => {
                    tracing::debug!(%error, "session refused");
                    Outcome::Rejected(error)
                }
            }
        })
    }
}
