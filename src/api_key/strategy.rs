//! The API-key strategy: a key in a header (default `X-API-Key`), or in the query when enabled.
//!
//! It lives with the service whose keys it checks: `strategy` is the request path and does not
//! import services; the service builds on the request path instead.

use std::sync::Arc;

use http::HeaderName;
use http::request::Parts;

use super::ApiKeys;
use crate::error::{AuthError, TokenRejection};
use crate::future::MaybeReady;
use crate::store::ApiKeyStore;
use crate::strategy::{Outcome, Strategy};

/// Authenticates requests carrying an API key.
///
/// - No key header: not this strategy's request.
/// - Two key headers, or a key both in the header and the query: `400 invalid_request`.
/// - Anything wrong with the key (unknown, revoked, expired, truncated, trailing space, too long):
///   401, for the same reason phrase; the key and its prefix are never logged.
///
/// ```
/// use portcullis::api_key::ApiKeys;
/// use portcullis::store::MemoryStore;
/// use portcullis::api_key::ApiKeyStrategy;
///
/// let strategy = ApiKeyStrategy::new(ApiKeys::new(MemoryStore::new()));
/// # let _ = strategy;
/// ```
pub struct ApiKeyStrategy<S> {
    keys: Arc<ApiKeys<S>>,
    header: HeaderName,
    query: Option<String>,
}

impl<S> std::fmt::Debug for ApiKeyStrategy<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyStrategy")
            .field("header", &self.header)
            .field("query", &self.query)
            .finish()
    }
}

impl<S: ApiKeyStore + Clone + 'static> ApiKeyStrategy<S> {
    /// Reads keys from `X-API-Key`.
    pub fn new(keys: Arc<ApiKeys<S>>) -> Self {
        Self {
            keys,
            header: HeaderName::from_static("x-api-key"),
            query: None,
        }
    }

    /// Reads keys from this header instead.
    pub fn header(mut self, header: HeaderName) -> Self {
        self.header = header;
        self
    }

    /// Also accepts keys in this query parameter. Off by default: URLs end up in logs.
    pub fn allow_query(mut self, param: impl Into<String>) -> Self {
        self.query = Some(param.into());
        self
    }

    fn credential<'a>(&self, request: &'a Parts) -> Result<Option<&'a str>, AuthError> {
        let mut values = request.headers.get_all(&self.header).iter();
        let header = values.next();
        if values.next().is_some() {
            return Err(AuthError::InvalidRequest("more than one API key header"));
        }
        let in_query = match &self.query {
            None => None,
            Some(name) => request.uri.query().and_then(|q| {
                q.split('&').find_map(|pair| {
                    pair.split_once('=')
                        .filter(|(k, _)| k == name)
                        .map(|(_, v)| v)
                })
            }),
        };
        match (header, in_query) {
            (Some(_), Some(_)) => Err(AuthError::InvalidRequest(
                "an API key may be sent in one place only",
            )),
            (Some(value), None) => value
                .to_str()
                .map(Some)
                .map_err(|_| AuthError::InvalidToken(TokenRejection::Malformed)),
            (None, query) => Ok(query),
        }
    }
}

fn outcome(answer: Result<crate::UserContext, AuthError>) -> Outcome {
    match answer {
        Ok(ctx) => Outcome::Authenticated(ctx),
        Err(error) => {
            // The reason only: never the key, never its prefix.
            tracing::debug!(%error, "API key refused");
            Outcome::Rejected(error)
        }
    }
}

impl<S: ApiKeyStore + Clone + 'static> Strategy for ApiKeyStrategy<S> {
    fn name(&self) -> &'static str {
        "api_key"
    }

    /// Only parsing and cache look-ups happen before the future is polled.
    fn retry_safe(&self) -> bool {
        true
    }

    fn authenticate<'a>(&'a self, request: &'a Parts) -> MaybeReady<'a, Outcome> {
        let key = match self.credential(request) {
            Ok(None) => return MaybeReady::ready(Outcome::NotMine),
            Ok(Some(key)) => key,
            Err(error) => return MaybeReady::ready(outcome(Err(error))),
        };
        match self.keys.check_cached(key) {
            Some(answer) => MaybeReady::ready(outcome(answer)),
            None => MaybeReady::new(async move { outcome(self.keys.check(key).await) }),
        }
    }
}
