//! A cache of tokens that already passed verification, so a token seen again costs a digest and a
//! look-up instead of a signature check.
//!
//! Verifying an Ed25519 or ECDSA signature costs 40–60 µs of CPU, four times what a whole bare
//! axum request costs; clients send the same access token for its whole life. The outcome of a
//! verification depends only on the token, the key that verified it, the verifier's rules and the
//! clock, so the cache binds each entry to all four:
//!
//! - **the token**: entries are keyed by the token's SHA-256, never by a part of it (a valid
//!   signature glued to another payload has another digest), and the token itself is not kept;
//! - **the key**: an entry remembers the exact key that verified it, and a hit counts only while
//!   the ring still holds that very key under that `kid` — removing or replacing a key (rotation,
//!   a JWKS refresh that drops it) ends every entry it verified, at once;
//! - **the rules**: each cache belongs to one verifier, whose rules never change;
//! - **the clock**: an entry is never used at or after the token's `exp` (the cache grants no
//!   leeway: in the leeway window the token is verified afresh), and lives at most
//!   [`DEFAULT_TOKEN_CACHE_TTL`] (configurable) in any case.
//!
//! Only successes are cached; a refused token is checked in full every time. Revocation is not
//! the cache's business: the bearer strategy asks its revocation check on every request, hit or
//! miss. The cache is bounded ([`DEFAULT_TOKEN_CACHE_CAPACITY`] entries) and lock-free to read.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::keyring::{Key, KeyRing};
use crate::context::UserContext;

/// Default number of verified tokens kept.
pub const DEFAULT_TOKEN_CACHE_CAPACITY: u64 = 10_000;
/// Default longest time a verified token is kept, whatever its `exp`.
pub const DEFAULT_TOKEN_CACHE_TTL: Duration = Duration::from_secs(300);

type Digest = [u8; 32];

#[derive(Clone)]
struct Entry {
    context: UserContext,
    key: Arc<Key>,
    /// Unix seconds; the entry is dead from this second on (the token's `exp`).
    valid_until: u64,
}

struct UntilExpiry {
    max_ttl: Duration,
}

impl moka::Expiry<Digest, Entry> for UntilExpiry {
    fn expire_after_create(&self, _: &Digest, entry: &Entry, _: Instant) -> Option<Duration> {
        let left = entry.valid_until.saturating_sub(unix_now());
        Some(Duration::from_secs(left).min(self.max_ttl))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The SHA-256 of a token: the cache's key.
pub(crate) fn token_digest(token: &str) -> Digest {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Verified tokens and the contexts made from them, for one verifier.
#[derive(Clone)]
pub(crate) struct TokenCache {
    entries: moka::sync::Cache<Digest, Entry, foldhash::fast::RandomState>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl TokenCache {
    /// A cache of at most `capacity` tokens, each kept at most `max_ttl`.
    pub(crate) fn new(capacity: u64, max_ttl: Duration) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry { max_ttl })
                .build_with_hasher(foldhash::fast::RandomState::default()),
        }
    }

    /// The context of a token verified earlier, if its entry is alive and the ring still holds
    /// the key that verified it.
    pub(crate) fn get(&self, digest: &Digest, ring: &KeyRing) -> Option<UserContext> {
        let entry = self.entries.get(digest)?;
        let key_still_there = ring
            .snapshot()
            .get(entry.key.kid())
            .is_some_and(|current| Arc::ptr_eq(current, &entry.key));
        if !key_still_there || unix_now() >= entry.valid_until {
            self.entries.invalidate(digest);
            return None;
        }
        Some(entry.context)
    }

    /// Remembers a verified token: `key` verified it, and it expires at `exp` (Unix seconds).
    pub(crate) fn insert(&self, digest: Digest, context: UserContext, key: Arc<Key>, exp: u64) {
        if exp > unix_now() {
            self.entries.insert(
                digest,
                Entry {
                    context,
                    key,
                    valid_until: exp,
                },
            );
        }
    }

    /// Number of entries (approximate: moka counts lazily).
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::AuthMethod;

    fn key(kid: &str) -> Key {
        Key::generate_hmac(kid, jsonwebtoken::Algorithm::HS256).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ctx() -> UserContext {
        UserContext::new("alice", AuthMethod::Bearer)
    }

    #[test]
    fn hit_needs_the_same_key_object() {
        let ring = KeyRing::single(key("k"));
        let cache = TokenCache::new(10, DEFAULT_TOKEN_CACHE_TTL);
        let verified_by = ring
            .snapshot()
            .get("k")
            .cloned()
            .unwrap_or_else(|| panic!());
        let d = token_digest("a.b.c");
        cache.insert(d, ctx(), verified_by, unix_now() + 60);
        assert_eq!(
            cache.get(&d, &ring).map(|c| c.subject().to_owned()),
            Some("alice".into())
        );
        // Another token misses.
        assert!(cache.get(&token_digest("a.b.d"), &ring).is_none());
        // The same kid bound to new key material is not the key that verified the token.
        ring.insert(key("k"));
        assert!(cache.get(&d, &ring).is_none());
        assert_eq!(cache.len(), 0, "a dead entry is dropped at once");
    }

    #[test]
    fn removed_key_ends_its_entries() {
        let ring = KeyRing::single(key("k"));
        let cache = TokenCache::new(10, DEFAULT_TOKEN_CACHE_TTL);
        let verified_by = ring
            .snapshot()
            .get("k")
            .cloned()
            .unwrap_or_else(|| panic!());
        let d = token_digest("x.y.z");
        cache.insert(d, ctx(), verified_by, unix_now() + 60);
        ring.remove("k");
        assert!(cache.get(&d, &ring).is_none());
    }

    #[test]
    fn never_past_exp() {
        let ring = KeyRing::single(key("k"));
        let cache = TokenCache::new(10, DEFAULT_TOKEN_CACHE_TTL);
        let verified_by = ring
            .snapshot()
            .get("k")
            .cloned()
            .unwrap_or_else(|| panic!());
        let d = token_digest("x.y.z");
        // Already expired (accepted by the verifier only through its leeway): not cached.
        cache.insert(d, ctx(), verified_by.clone(), unix_now());
        assert!(cache.get(&d, &ring).is_none());
        // Expiring in a second: usable now, gone after.
        cache.insert(d, ctx(), verified_by, unix_now() + 1);
        assert!(cache.get(&d, &ring).is_some());
        std::thread::sleep(Duration::from_millis(2100));
        assert!(cache.get(&d, &ring).is_none());
    }

    #[test]
    fn bounded() {
        let ring = KeyRing::single(key("k"));
        let cache = TokenCache::new(5, DEFAULT_TOKEN_CACHE_TTL);
        let verified_by = ring
            .snapshot()
            .get("k")
            .cloned()
            .unwrap_or_else(|| panic!());
        for i in 0..50 {
            cache.insert(
                token_digest(&format!("t{i}")),
                ctx(),
                verified_by.clone(),
                unix_now() + 60,
            );
        }
        assert!(cache.len() <= 5, "{}", cache.len());
    }
}
