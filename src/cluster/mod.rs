//! Changes shared between instances, so that what one instance acknowledges the others enforce
//! within milliseconds rather than when their caches expire.
//!
//! Each instance keeps caches in front of its store (revocations, account states, API keys…);
//! a write goes to the store, then to the writing instance's cache at once. The other instances
//! learn of it through a [`ChangeFeed`]: the writer publishes a [`Change`] naming what changed,
//! and every instance that hears it drops that entry, so its next request reads the store.
//!
//! A change carries no value, only what to forget, so a message can never grant anything: a
//! forged or replayed one costs a store read, nothing more. The store stays the truth and the
//! caches' TTLs stay the backstop: if every message is lost, a change is enforced everywhere when
//! the entries expire. And a feed that lost its transport (Redis restarted, a network cut) may
//! have missed changes, so when it reconnects its instance drops everything it cached
//! ([`Change::Everything`]): what it cannot prove fresh it reads again.
//!
//! Transports: [`RedisChanges`](redis::RedisChanges) (feature `redis`, pub/sub); tests and
//! single-process setups can deliver by hand with [`ChangeFeed::deliver`].

#[cfg(feature = "redis")]
pub mod redis;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Largest encoded change accepted from a transport, in bytes; larger ones are not parsed (and
/// count as a possible miss: everything is dropped).
pub const MAX_CHANGE_BYTES: usize = 4096;

/// How long a publish may take before it is given up (the change is in the store already; the
/// others then see it when their entries expire).
pub const PUBLISH_TIMEOUT: Duration = Duration::from_millis(500);

/// What changed in the store, as far as caches care: which entry to forget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// A token id was put on the denylist.
    TokenRevoked {
        /// The token's `jti`.
        jti: String,
    },
    /// A session (refresh family) was put on the denylist.
    SessionRevoked {
        /// The session id (the tokens' `sid`).
        sid: String,
    },
    /// A browser session was ended (logged out).
    SessionEnded {
        /// The SHA-256 of the session's cookie, 64 hex digits (never the cookie itself).
        digest: String,
    },
    /// A subject's revoked-before cutoff moved (logout everywhere, password change, disabled
    /// or deleted account).
    SubjectChanged {
        /// The subject.
        subject: String,
    },
    /// An API key was revoked, rotated or changed.
    ApiKeyChanged {
        /// The key's id.
        id: String,
    },
    /// A tenant's roles, grants, assignments or groups changed.
    TenantChanged {
        /// The tenant.
        tenant: String,
    },
    /// A resource of a service was registered or removed, or changed owner, visibility,
    /// folder or shares.
    ResourcesChanged {
        /// The service (the resource key's).
        service: String,
    },
    /// The identity's signing keys changed (a rotation, a prune): read them again.
    SigningKeysChanged,
    /// Anything may have changed: forget everything cached.
    Everything,
}

impl Change {
    /// The change's bytes on the wire (JSON).
    pub fn encode(&self) -> Vec<u8> {
        // Serialising an enum of strings cannot fail; an empty message would be read as
        // malformed (and so as `Everything`) rather than lost.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The change `bytes` name; `Everything` when they are too large or not a change we know
    /// (a newer instance's message, or garbage): what cannot be understood may have mattered.
    pub fn decode(bytes: &[u8]) -> Self {
        if bytes.len() > MAX_CHANGE_BYTES {
            return Self::Everything;
        }
        serde_json::from_slice(bytes).unwrap_or(Self::Everything)
    }
}

/// Why a change could not be published.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the change could not be published: {0}")]
pub struct PublishError(pub String);

/// A transport that sends changes to the other instances.
pub trait Publish: Send + Sync + 'static {
    /// Sends `change`'s bytes; bounded by the caller's timeout.
    fn publish<'a>(
        &'a self,
        bytes: &'a [u8],
    ) -> Pin<Box<dyn Future<Output = Result<(), PublishError>> + Send + 'a>>;
}

type Listener = Arc<dyn Fn(&Change) + Send + Sync>;

/// The changes of one instance: its caches listen, its writers publish, its transport delivers
/// what the others published (see the [module docs](self)). Cheap to clone; clones share
/// everything.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use portcullis::cluster::{Change, ChangeFeed};
///
/// let feed = ChangeFeed::new();
/// let dropped = Arc::new(AtomicUsize::new(0));
/// let seen = dropped.clone();
/// feed.listen(move |change| {
///     if let Change::TokenRevoked { .. } | Change::Everything = change {
///         seen.fetch_add(1, Ordering::SeqCst);
///     }
/// });
/// feed.deliver(&Change::TokenRevoked { jti: "t-1".into() });
/// feed.deliver(&Change::decode(b"not a change"));
/// assert_eq!(dropped.load(Ordering::SeqCst), 2);
/// ```
#[derive(Clone, Default)]
pub struct ChangeFeed {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    listeners: Mutex<Vec<Listener>>,
    transport: Mutex<Option<Arc<dyn Publish>>>,
    stats: Counters,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    publish_failures: AtomicU64,
    delivered: AtomicU64,
    everything: AtomicU64,
}

/// What a feed has done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeedStats {
    /// Changes sent to the other instances.
    pub published: u64,
    /// Changes that could not be sent (the others see them when their entries expire).
    pub publish_failures: u64,
    /// Changes delivered to this instance's caches.
    pub delivered: u64,
    /// Of those, how many dropped everything (a reconnect, a message not understood).
    pub everything: u64,
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeed")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl ChangeFeed {
    /// A feed with no listener and no transport.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `listener` with every change delivered from now on. Listeners run on the
    /// transport's task: keep them to forgetting cache entries.
    pub fn listen(&self, listener: impl Fn(&Change) + Send + Sync + 'static) {
        self.inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(listener));
    }

    /// Sends what this instance publishes through `transport` from now on.
    pub fn connect(&self, transport: Arc<dyn Publish>) {
        *self
            .inner
            .transport
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(transport);
    }

    /// Stops publishing (the transport is gone).
    pub fn disconnect(&self) {
        *self
            .inner
            .transport
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Hands `change` to every listener of this instance. A listener that panics is logged
    /// and the others still run (the transport's task must not die of one).
    pub fn deliver(&self, change: &Change) {
        let listeners = self
            .inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for listener in &listeners {
            let run = std::panic::AssertUnwindSafe(|| listener(change));
            if std::panic::catch_unwind(run).is_err() {
                tracing::error!(target: "portcullis::cluster", "a change listener panicked");
            }
        }
        let stats = &self.inner.stats;
        stats.delivered.fetch_add(1, Ordering::Relaxed);
        if *change == Change::Everything {
            stats.everything.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Tells the other instances about `change`, made in the store already. Never fails the
    /// caller: a change that cannot be sent within [`PUBLISH_TIMEOUT`] is logged and counted,
    /// and the others enforce it when their entries expire.
    pub async fn publish(&self, change: Change) {
        let transport = self
            .inner
            .transport
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(transport) = transport else {
            return;
        };
        let bytes = change.encode();
        let stats = &self.inner.stats;
        match tokio::time::timeout(PUBLISH_TIMEOUT, transport.publish(&bytes)).await {
            Ok(Ok(())) => {
                stats.published.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(error)) => {
                stats.publish_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, "change not published; other instances see it when their caches expire");
            }
            Err(_) => {
                stats.publish_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "change not published in time; other instances see it when their caches expire"
                );
            }
        }
    }

    /// What the feed has done.
    pub fn stats(&self) -> FeedStats {
        let c = &self.inner.stats;
        FeedStats {
            published: c.published.load(Ordering::Relaxed),
            publish_failures: c.publish_failures.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            everything: c.everything.load(Ordering::Relaxed),
        }
    }
}

/// Why a one-time value's use could not be recorded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the one-time value's use could not be recorded: {0}")]
pub struct FirstUseError(pub String);

/// Remembers which one-time values (OAuth `state`s) were used, so that each is taken once
/// across every instance: a replayed callback is refused wherever it lands. The built-in
/// memory is per process; [`RedisFirstUse`](redis::RedisFirstUse) (feature `redis`) is shared.
pub trait FirstUse: Send + Sync + 'static {
    /// Marks `value` used for `ttl`: `Ok(true)` the first time anywhere, `Ok(false)` after;
    /// an error when it cannot tell (the caller refuses, fail closed).
    fn first_use<'a>(
        &'a self,
        value: &'a str,
        ttl: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<bool, FirstUseError>> + Send + 'a>>;
}

/// Joins `owner` to `feed`, once: the feed is kept in `slot` (where the owner's writes find it
/// to [`publish_in`]) and `on` runs with the owner for every change delivered while the owner
/// lives (the feed holds it weakly). A second feed is ignored.
pub(crate) fn join<T: Send + Sync + 'static>(
    slot: &OnceLock<ChangeFeed>,
    feed: &ChangeFeed,
    owner: &Arc<T>,
    on: impl Fn(&T, &Change) + Send + Sync + 'static,
) {
    if slot.set(feed.clone()).is_err() {
        return;
    }
    let owner = Arc::downgrade(owner);
    feed.listen(move |change| {
        if let Some(owner) = owner.upgrade() {
            on(&owner, change);
        }
    });
}

/// Publishes `change` through the feed in `slot`, if its owner joined one.
pub(crate) async fn publish_in(slot: &OnceLock<ChangeFeed>, change: Change) {
    if let Some(feed) = slot.get() {
        feed.publish(change).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_and_anything_else_means_everything() {
        for change in [
            Change::TokenRevoked { jti: "j".into() },
            Change::SessionRevoked { sid: "s".into() },
            Change::SessionEnded {
                digest: "00".repeat(32),
            },
            Change::SubjectChanged {
                subject: "u".into(),
            },
            Change::ApiKeyChanged { id: "k".into() },
            Change::TenantChanged { tenant: "t".into() },
            Change::ResourcesChanged {
                service: "docs".into(),
            },
            Change::SigningKeysChanged,
            Change::Everything,
        ] {
            assert_eq!(Change::decode(&change.encode()), change);
        }
        assert_eq!(
            Change::decode(b"{\"change\":\"newer_kind\"}"),
            Change::Everything
        );
        assert_eq!(Change::decode(b"\xff"), Change::Everything);
        let big = format!(
            "{{\"change\":\"token_revoked\",\"jti\":\"{}\"}}",
            "j".repeat(MAX_CHANGE_BYTES)
        );
        assert_eq!(Change::decode(big.as_bytes()), Change::Everything);
    }
}
