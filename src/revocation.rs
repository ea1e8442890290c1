//! Revocation of access tokens before they expire: a `jti` denylist, a session (`sid`) denylist
//! and a per-user "revoked before" cutoff, read through a short-lived cache.
//!
//! The bearer strategy asks a [`RevocationCheck`] after a token has verified. The built-in
//! [`RevocationCache`] answers from memory when it can (no I/O, no allocation) and otherwise asks
//! the store; when the store cannot answer, the request is refused with 503 (fail closed), never
//! let through. A revocation made through this process is seen by the very next request: it is
//! written into the cache once the store has it, and a cache fill that read the store before the
//! revocation can never land on top of it (see `fresh_cache`). One made by another process is
//! seen when the cached entry expires (default 5 s), or as soon as it is heard of when the
//! instances share their changes ([`RevocationCache::share_changes`], `cluster`).
//!
//! Entries are kept until the verifier could no longer accept the token anyway: its `exp` plus
//! the largest leeway any verifier may be configured with ([`MAX_LEEWAY`](crate::token::MAX_LEEWAY)),
//! so a logged-out token cannot come back inside the leeway once the entry is purged.
//!
//! Model layer, not `token`: a [`RevocationCheck`] answers about a [`UserContext`] (its subject,
//! `jti`, `sid` claim and issue time), and the token leaf must not import the model. The bearer
//! strategy, above both, asks it; the identity service builds a [`RevocationCache`] over its
//! store and writes revocations through it.

use std::sync::Arc;
use std::time::Duration;

use crate::cluster::{Change, ChangeFeed};
use crate::context::UserContext;
use crate::error::AuthError;
use crate::fresh_cache::{FreshCache, weigh_str_key};
use crate::future::MaybeReady;
use crate::store::RevocationStore;

/// Decides whether a verified token has been revoked.
pub trait RevocationCheck: Send + Sync + 'static {
    /// The answer if it is known without I/O.
    ///
    /// Free of side effects: the bearer strategy may call it twice for one request (see
    /// [`Strategy::retry_safe`](crate::strategy::Strategy::retry_safe)).
    fn cached(&self, context: &UserContext) -> Option<bool>;
    /// The answer, asking the store when needed; [`AuthError::Unavailable`] when it cannot.
    fn load<'a>(&'a self, context: &'a UserContext) -> MaybeReady<'a, Result<bool, AuthError>>;
}

/// Default lifetime of a cached answer.
pub const DEFAULT_REVOCATION_TTL: Duration = Duration::from_secs(5);

/// Default bound of each of the cache's three maps, in bytes.
pub const DEFAULT_REVOCATION_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// The claim naming the session a token belongs to (the identity's refresh family).
pub const SESSION_CLAIM: &str = "sid";

/// How session ids are kept in the store's denylist, beside token ids: a prefix no `jti` the
/// identity issues can carry (its ids are base64url, without `:`).
const SESSION_KEY_PREFIX: &str = "sid:";

/// A [`RevocationCheck`] over a [`RevocationStore`], with a cache in front.
///
/// A token is revoked when its `jti` is on the denylist, when its session (`sid` claim) is, or
/// when it was issued strictly before its subject's cutoff. The cutoff is compared in
/// microseconds: tokens from [`TokenIssuer`](crate::token::TokenIssuer) carry `iat_us`; for others the
/// start of their `iat` second is taken (the earliest they can have been issued), and a token with
/// no `iat` at all counts as revoked once its subject has a cutoff.
pub struct RevocationCache<S> {
    store: S,
    tokens: FreshCache<Box<str>, bool>,
    sessions: FreshCache<Box<str>, bool>,
    cutoffs: FreshCache<Box<str>, Option<i64>>,
    /// Where this instance's revocations are told to the others, once shared.
    changes: std::sync::OnceLock<ChangeFeed>,
}

impl<S> std::fmt::Debug for RevocationCache<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationCache").finish_non_exhaustive()
    }
}

fn session_key(sid: &str) -> String {
    format!("{SESSION_KEY_PREFIX}{sid}")
}

/// Until when a denylist entry must be kept for a token expiring at `expires_at`.
fn keep_until(expires_at: i64) -> i64 {
    expires_at.saturating_add(crate::token::MAX_LEEWAY.as_secs() as i64)
}

impl<S: RevocationStore + 'static> RevocationCache<S> {
    /// A cache over `store` whose answers live [`DEFAULT_REVOCATION_TTL`].
    pub fn new(store: S) -> Arc<Self> {
        Self::with_ttl(store, DEFAULT_REVOCATION_TTL)
    }

    /// A cache whose answers live `ttl`.
    pub fn with_ttl(store: S, ttl: Duration) -> Arc<Self> {
        let max = DEFAULT_REVOCATION_CACHE_BYTES;
        Arc::new(Self {
            store,
            tokens: FreshCache::new(max, ttl, weigh_str_key),
            sessions: FreshCache::new(max, ttl, weigh_str_key),
            cutoffs: FreshCache::new(max, ttl, weigh_str_key),
            changes: std::sync::OnceLock::new(),
        })
    }

    /// Shares revocations with the other instances through `feed`: this cache forgets what
    /// they revoke as soon as the feed delivers it (and everything when the feed may have
    /// missed something), and what is revoked here is published after the store has it. A
    /// cache shares through one feed; a second call is ignored.
    pub fn share_changes(self: &Arc<Self>, feed: &ChangeFeed) {
        crate::cluster::join(&self.changes, feed, self, |cache, change| match change {
            Change::TokenRevoked { jti } => cache.tokens.invalidate(jti.as_str()),
            Change::SessionRevoked { sid } => cache.sessions.invalidate(sid.as_str()),
            Change::SubjectChanged { subject } => cache.cutoffs.invalidate(subject.as_str()),
            Change::Everything => {
                cache.tokens.clear();
                cache.sessions.clear();
                cache.cutoffs.clear();
            }
            _ => {}
        });
    }

    async fn publish(&self, change: Change) {
        crate::cluster::publish_in(&self.changes, change).await;
    }

    /// Revokes a token id whose token expires at `expires_at`, in the store and at once in this
    /// process's cache. The entry is kept until the token is past `exp` plus the largest leeway.
    pub async fn revoke_token(&self, jti: &str, expires_at: i64) -> Result<(), AuthError> {
        self.store
            .revoke_token(jti, keep_until(expires_at))
            .await
            .map_err(unavailable)?;
        self.tokens.write(jti.into(), true);
        self.publish(Change::TokenRevoked { jti: jti.into() }).await;
        Ok(())
    }

    /// Revokes every access token of a refresh family (their `sid` claim) issued up to now, whose
    /// lifetime is at most `token_ttl`: kept until the last of them is past its `exp` plus the
    /// largest leeway. Takes effect on the next request in this process.
    pub async fn revoke_family(
        &self,
        sid: &str,
        now: i64,
        token_ttl: Duration,
    ) -> Result<(), AuthError> {
        let until = keep_until(now.saturating_add(token_ttl.as_secs() as i64));
        self.store
            .revoke_token(&session_key(sid), until)
            .await
            .map_err(unavailable)?;
        self.sessions.write(sid.into(), true);
        self.publish(Change::SessionRevoked { sid: sid.into() })
            .await;
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
        // Voids fills in flight at once, then re-reads: another process may hold a later cutoff.
        self.cutoffs.write(subject.into(), Some(at));
        let current = self
            .store
            .revoked_before(subject)
            .await
            .map_err(unavailable)?;
        self.cutoffs
            .write(subject.into(), Some(current.unwrap_or(at).max(at)));
        self.publish(Change::SubjectChanged {
            subject: subject.into(),
        })
        .await;
        Ok(())
    }

    /// The subject's revoked-before cutoff in microseconds, if known without I/O.
    pub fn cached_cutoff(&self, subject: &str) -> Option<Option<i64>> {
        self.cutoffs.get(subject)
    }

    /// The subject's revoked-before cutoff in microseconds, from the cache or the store.
    pub async fn cutoff(&self, subject: &str) -> Result<Option<i64>, AuthError> {
        if let Some(known) = self.cutoffs.get(subject) {
            return Ok(known);
        }
        let ticket = self.cutoffs.ticket();
        let cutoff = self
            .store
            .revoked_before(subject)
            .await
            .map_err(unavailable)?;
        self.cutoffs.fill(subject.into(), cutoff, ticket);
        Ok(cutoff)
    }

    async fn denied(
        &self,
        cache: &FreshCache<Box<str>, bool>,
        id: &str,
        stored_as: &str,
    ) -> Result<bool, AuthError> {
        if let Some(known) = cache.get(id) {
            return Ok(known);
        }
        let ticket = cache.ticket();
        let revoked = self
            .store
            .is_token_revoked(stored_as)
            .await
            .map_err(unavailable)?;
        cache.fill(id.into(), revoked, ticket);
        Ok(revoked)
    }

    fn decide(context: &UserContext, denied: bool, cutoff: Option<i64>) -> bool {
        denied
            || match (cutoff, context.issued_at_us()) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(cutoff), Some(issued)) => (issued as i64) < cutoff,
            }
    }
}

fn session_of(context: &UserContext) -> Option<&str> {
    context.claims().get(SESSION_CLAIM).and_then(|v| v.as_str())
}

fn unavailable(error: crate::store::StoreError) -> AuthError {
    tracing::warn!(%error, "revocation store unavailable: refusing the request");
    AuthError::Unavailable
}

impl<S: RevocationStore + 'static> RevocationCheck for RevocationCache<S> {
    fn cached(&self, context: &UserContext) -> Option<bool> {
        // One clock read for the three look-ups of this request.
        let now = std::time::Instant::now();
        let jti_revoked = match context.token_id() {
            None => false,
            Some(jti) => self.tokens.get_at(jti, now)?,
        };
        let session_revoked = match session_of(context) {
            None => false,
            Some(sid) => self.sessions.get_at(sid, now)?,
        };
        let cutoff = self.cutoffs.get_at(context.subject(), now)?;
        Some(Self::decide(
            context,
            jti_revoked || session_revoked,
            cutoff,
        ))
    }

    fn load<'a>(&'a self, context: &'a UserContext) -> MaybeReady<'a, Result<bool, AuthError>> {
        MaybeReady::new(async move {
            let jti_revoked = match context.token_id() {
                None => false,
                Some(jti) => self.denied(&self.tokens, jti, jti).await?,
            };
            let session_revoked = match session_of(context) {
                None => false,
                Some(sid) => self.denied(&self.sessions, sid, &session_key(sid)).await?,
            };
            let cutoff = self.cutoff(context.subject()).await?;
            Ok(Self::decide(
                context,
                jti_revoked || session_revoked,
                cutoff,
            ))
        })
    }
}
