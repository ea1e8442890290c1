//! The session-cookie strategy.

use std::sync::Arc;

use http::request::Parts;

use super::{Outcome, Strategy};
use crate::future::MaybeReady;
use crate::session::Sessions;
use crate::store::{SessionStore, Store};

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
