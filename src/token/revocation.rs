//! Revocation of access tokens before they expire: a `jti` denylist and a per-user "revoked
//! before" cutoff, read through a short-lived cache.
//!
//! The bearer strategy asks a [`RevocationCheck`] after a token has verified. The built-in
//! [`RevocationCache`] answers from memory when it can (no I/O, no allocation) and otherwise asks
//! the store; when the store cannot answer, the request is refused with 503 (fail closed), never
//! let through. A revocation made through this process is written into the cache at once; one
//! made by another process is seen when the cached entry expires (default 5 s).

use std::sync::Arc;
use std::time::Duration;

use crate::context::UserContext;
use crate::error::AuthError;
use crate::future::MaybeReady;
use crate::store::RevocationStore;

/// Decides whether a verified token has been revoked.
pub trait RevocationCheck: Send + Sync + 'static {
    /// The answer if it is known without I/O.
    fn cached(&self, context: &UserContext) -> Option<bool>;
    /// The answer, asking the store when needed; [`AuthError::Unavailable`] when it cannot.
    fn load<'a>(&'a self, context: &'a UserContext) -> MaybeReady<'a, Result<bool, AuthError>>;
}

/// Default lifetime of a cached answer.
pub const DEFAULT_REVOCATION_TTL: Duration = Duration::from_secs(5);

/// A [`RevocationCheck`] over a [`RevocationStore`], with a cache in front.
///
/// A token is revoked when its `jti` is on the denylist, or when it was issued strictly before
/// its subject's cutoff. Both are compared in microseconds: tokens from
/// [`TokenIssuer`](super::TokenIssuer) carry `iat_us`; for others the start of their `iat` second
/// is taken (the earliest they can have been issued), and a token with no `iat` at all counts as
/// revoked once its subject has a cutoff.
pub struct RevocationCache<S> {
    store: S,
    tokens: moka::sync::Cache<Box<str>, bool, foldhash::fast::RandomState>,
    cutoffs: moka::sync::Cache<Box<str>, Option<i64>, foldhash::fast::RandomState>,
}

impl<S> std::fmt::Debug for RevocationCache<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationCache").finish_non_exhaustive()
    }
}

fn cache<V: Clone + Send + Sync + 'static>(
    ttl: Duration,
) -> moka::sync::Cache<Box<str>, V, foldhash::fast::RandomState> {
    moka::sync::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(ttl)
        .build_with_hasher(foldhash::fast::RandomState::default())
}

impl<S: RevocationStore + 'static> RevocationCache<S> {
    /// A cache over `store` whose answers live [`DEFAULT_REVOCATION_TTL`].
    pub fn new(store: S) -> Arc<Self> {
        Self::with_ttl(store, DEFAULT_REVOCATION_TTL)
    }

    /// A cache whose answers live `ttl`.
    pub fn with_ttl(store: S, ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            store,
            tokens: cache(ttl),
            cutoffs: cache(ttl),
        })
    }

    /// Revokes a token id until `expires_at`, in the store and at once in this process's cache.
    pub async fn revoke_token(&self, jti: &str, expires_at: i64) -> Result<(), AuthError> {
        self.store
            .revoke_token(jti, expires_at)
            .await
            .map_err(unavailable)?;
        self.tokens.insert(jti.into(), true);
        Ok(())
    }

    /// Revokes every token of `subject` issued before `at_us` (microseconds since the epoch), in
    /// the store and at once here.
    pub async fn revoke_before(&self, subject: &str, at_us: i64) -> Result<(), AuthError> {
        let at = at_us;
        self.store
            .set_revoked_before(subject, at)
            .await
            .map_err(unavailable)?;
        // Re-read: another process may hold a later cutoff.
        let current = self
            .store
            .revoked_before(subject)
            .await
            .map_err(unavailable)?;
        self.cutoffs.insert(subject.into(), current.or(Some(at)));
        Ok(())
    }

    /// The subject's revoked-before cutoff in microseconds, from the cache or the store.
    pub async fn cutoff(&self, subject: &str) -> Result<Option<i64>, AuthError> {
        if let Some(known) = self.cutoffs.get(subject) {
            return Ok(known);
        }
        let cutoff = self
            .store
            .revoked_before(subject)
            .await
            .map_err(unavailable)?;
        self.cutoffs.insert(subject.into(), cutoff);
        Ok(cutoff)
    }

    fn decide(context: &UserContext, jti_revoked: bool, cutoff: Option<i64>) -> bool {
        jti_revoked
            || match (cutoff, context.issued_at_us()) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(cutoff), Some(issued)) => (issued as i64) < cutoff,
            }
    }
}

fn unavailable(error: crate::store::StoreError) -> AuthError {
    tracing::warn!(%error, "revocation store unavailable: refusing the request");
    AuthError::Unavailable
}

impl<S: RevocationStore + 'static> RevocationCheck for RevocationCache<S> {
    fn cached(&self, context: &UserContext) -> Option<bool> {
        let jti_revoked = match context.token_id() {
            None => false,
            Some(jti) => self.tokens.get(jti)?,
        };
        let cutoff = self.cutoffs.get(context.subject())?;
        Some(Self::decide(context, jti_revoked, cutoff))
    }

    fn load<'a>(&'a self, context: &'a UserContext) -> MaybeReady<'a, Result<bool, AuthError>> {
        MaybeReady::new(async move {
            let jti_revoked = match context.token_id() {
                None => false,
                Some(jti) => match self.tokens.get(jti) {
                    Some(known) => known,
                    None => {
                        let revoked = self
                            .store
                            .is_token_revoked(jti)
                            .await
                            .map_err(unavailable)?;
                        self.tokens.insert(jti.into(), revoked);
                        revoked
                    }
                },
            };
            let cutoff = match self.cutoffs.get(context.subject()) {
                Some(known) => known,
                None => {
                    let cutoff = self
                        .store
                        .revoked_before(context.subject())
                        .await
                        .map_err(unavailable)?;
                    self.cutoffs.insert(context.subject().into(), cutoff);
                    cutoff
                }
            };
            Ok(Self::decide(context, jti_revoked, cutoff))
        })
    }
}
