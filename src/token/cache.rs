//! A cache of tokens that already passed verification, so a token seen again costs a digest and a
//! look-up instead of a signature check.
//!
//! What it keeps for each token is up to its user (the bearer strategy keeps the `UserContext` it
//! built from the claims): the cache is generic over that value so that this leaf needs nothing
//! from the model layer above it.
//!
//! Verifying an Ed25519 or ECDSA signature costs 40–60 µs of CPU, four times what a whole bare
//! axum request costs; clients send the same access token for its whole life. The outcome of a
//! verification depends only on the token, the key that verified it, the verifier's rules and the
//! clock, so the cache binds each entry to all four:
//!
//! - **the token**: an entry is found by the tag of the token's signature (a secret-keyed
//!   SipHash-2-4 with a 128-bit output, see `secret::Tagger`: no one without the process's key
//!   can predict or collide it) and counts only when the rest of the token (header and claims,
//!   which are not secret) is byte for byte the one that verified, so a valid signature glued to
//!   another payload never hits; the signature, the part that makes a token a credential, is kept
//!   only as its tag. (An earlier version used SHA-256 of the signature: 4,500 instructions a
//!   request, against about 300 for the tag, with nothing gained, since a tag never leaves the
//!   process.)
//! - **the key**: an entry remembers the exact key that verified it, and a hit counts only while
//!   the ring still holds that very key under that `kid` — removing or replacing a key (rotation,
//!   a JWKS refresh that drops it) ends every entry it verified, at once;
//! - **the rules**: each cache belongs to one verifier, whose rules never change;
//! - **the clock**: an entry is never used at or after the token's `exp` (the cache grants no
//!   leeway: in the leeway window the token is verified afresh), and lives at most
//!   [`DEFAULT_TOKEN_CACHE_TTL`] (configurable) in any case. Both bounds are wall-clock Unix
//!   seconds, as `exp` is: a clock stepped back lengthens the keeping time, never past `exp`.
//!
//! Only successes are cached; a refused token is checked in full every time. Revocation is not
//! the cache's business: the bearer strategy asks its revocation check on every request, hit or
//! miss. The cache is bounded by the bytes it keeps ([`DEFAULT_TOKEN_CACHE_BYTES`]: a token's
//! signed part, its context and the entry around them, however large the tokens are).
//!
//! The map is `quick_cache` (sharded, a read lock and one flag per hit, S3-FIFO eviction by
//! weight) rather than moka: moka's hit records every read for its eviction policy and costs
//! about 1,150 instructions, quick_cache's about 200 (callgrind, `examples/request_cost`). It has
//! no timer of its own, so each entry carries the second it dies at and a hit past it removes
//! the entry; an entry never hit again waits for eviction, within the byte bound.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::keyring::{Key, KeyRing};
use crate::secret::{Tag, Tagger};

/// Default room for verified tokens, in bytes (16 MiB: about 16,000 tokens of a typical size).
pub const DEFAULT_TOKEN_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// What an entry costs beside its signed part: the tag, the context built from the claims (at
/// most the size of the claims again) and the bookkeeping around them.
const ENTRY_OVERHEAD: usize = 512;

/// Default longest time a verified token is kept, whatever its `exp`.
pub const DEFAULT_TOKEN_CACHE_TTL: Duration = Duration::from_secs(300);

struct Entry<V> {
    /// The token's `header.claims` part, compared whole on every hit.
    signed_part: Box<[u8]>,
    /// What the token's user made of it (a context).
    context: V,
    key: Arc<Key>,
    /// Unix seconds; the entry is dead from this second on (the token's `exp`, or the cache's
    /// longest keeping time if that comes first).
    dead_from: u64,
}

#[derive(Clone)]
struct ByBytes;

impl<V> quick_cache::Weighter<Tag, Arc<Entry<V>>> for ByBytes {
    fn weight(&self, _: &Tag, entry: &Arc<Entry<V>>) -> u64 {
        (entry.signed_part.len().saturating_mul(2) + ENTRY_OVERHEAD) as u64
    }
}

type Map<V> = quick_cache::sync::Cache<
    Tag,
    Arc<Entry<V>>,
    ByBytes,
    foldhash::fast::RandomState,
    quick_cache::sync::DefaultLifecycle<Tag, Arc<Entry<V>>>,
>;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A token split for the cache: its signature and the part it signs.
#[derive(Clone, Copy)]
pub(crate) struct CacheKey<'t> {
    signature: &'t [u8],
    signed_part: &'t [u8],
}

/// The cache key of a compact JWS (`header.claims.signature`); `None` when it has no dot.
pub(crate) fn split_token(token: &[u8]) -> Option<CacheKey<'_>> {
    // memchr's search runs a word or a vector at a time; a byte loop costs twice as much.
    let dot = memchr::memrchr(b'.', token)?;
    Some(CacheKey {
        signature: &token[dot + 1..],
        signed_part: &token[..dot],
    })
}

/// Verified tokens and what was made of them (`V`, a context), for one verifier; clones share
/// the entries.
pub(crate) struct TokenCache<V> {
    /// `None` when the operating system gave no randomness for the tag key: then nothing is
    /// cached and every token is verified in full (slower, never weaker).
    inner: Option<Arc<(Tagger, Map<V>)>>,
    max_ttl: u64,
}

impl<V> Clone for TokenCache<V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            max_ttl: self.max_ttl,
        }
    }
}

impl<V> std::fmt::Debug for TokenCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field(
                "entries",
                &self.inner.as_deref().map_or(0, |(_, map)| map.len()),
            )
            .finish()
    }
}

impl<V: Clone + Send + Sync + 'static> TokenCache<V> {
    /// A cache holding at most `max_bytes` of tokens, each kept at most `max_ttl`.
    pub(crate) fn new(max_bytes: u64, max_ttl: Duration) -> Self {
        let tagger = match Tagger::new() {
            Ok(tagger) => Some(tagger),
            Err(error) => {
                tracing::warn!(%error, "verified-token cache off: every token is verified in full");
                None
            }
        };
        let estimated = usize::try_from(max_bytes / 1024)
            .unwrap_or(usize::MAX)
            .max(16);
        Self {
            inner: tagger.map(|tagger| {
                let map = Map::with(
                    estimated,
                    max_bytes,
                    ByBytes,
                    foldhash::fast::RandomState::default(),
                    quick_cache::sync::DefaultLifecycle::default(),
                );
                Arc::new((tagger, map))
            }),
            max_ttl: max_ttl.as_secs(),
        }
    }

    /// The value kept for a token verified earlier, if its entry is alive and the ring still
    /// holds the key that verified it.
    pub(crate) fn get(&self, key: &CacheKey<'_>, ring: &KeyRing) -> Option<V> {
        let (tagger, map) = self.inner.as_deref()?;
        let tag = tagger.tag(key.signature);
        let entry = map.get(&tag)?;
        if *entry.signed_part != *key.signed_part {
            // The signature of a token we verified, on other claims: a forgery, or a collision
            // of nothing. Not ours to answer; the verifier refuses it.
            return None;
        }
        let key_still_there = ring
            .snapshot()
            .get(entry.key.kid())
            .is_some_and(|current| Arc::ptr_eq(current, &entry.key));
        if !key_still_there || unix_now() >= entry.dead_from {
            // Only this dead entry: one a concurrent verification just put there stays.
            map.remove_if(&tag, |live| Arc::ptr_eq(live, &entry));
            return None;
        }
        Some(entry.context.clone())
    }

    /// Remembers a verified token: `key` verified it, and it expires at `exp` (Unix seconds).
    pub(crate) fn insert(&self, at: CacheKey<'_>, context: V, key: Arc<Key>, exp: u64) {
        let Some((tagger, map)) = self.inner.as_deref() else {
            return;
        };
        let now = unix_now();
        if exp > now {
            let entry = Entry {
                signed_part: at.signed_part.into(),
                context,
                key,
                dead_from: exp.min(now.saturating_add(self.max_ttl)),
            };
            map.insert(tagger.tag(at.signature), Arc::new(entry));
        }
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.inner.as_deref().map_or(0, |(_, map)| map.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str) -> Key {
        Key::generate_hmac(kid, jsonwebtoken::Algorithm::HS256).unwrap_or_else(|e| panic!("{e}"))
    }

    fn at(token: &str) -> CacheKey<'_> {
        split_token(token.as_bytes()).unwrap_or_else(|| panic!("a token with dots"))
    }

    /// A ring holding one key, an empty cache of the default size, and the ring's key.
    fn setup() -> (KeyRing, TokenCache<String>, Arc<Key>) {
        let ring = KeyRing::single(key("k"));
        let verified_by = ring.snapshot().get("k").cloned();
        let verified_by = verified_by.unwrap_or_else(|| panic!("the key just put in"));
        let cache = TokenCache::new(DEFAULT_TOKEN_CACHE_BYTES, DEFAULT_TOKEN_CACHE_TTL);
        (ring, cache, verified_by)
    }

    /// What the bearer strategy keeps is a context; any value does for the cache.
    fn ctx() -> String {
        "alice".to_owned()
    }

    #[test]
    fn hit_needs_the_same_key_object() {
        let (ring, cache, verified_by) = setup();
        let d = at("a.b.c");
        cache.insert(d, ctx(), verified_by, unix_now() + 60);
        assert_eq!(cache.get(&d, &ring), Some("alice".into()));
        // Another token misses, and so does the same signature on other claims.
        assert!(cache.get(&at("a.b.d"), &ring).is_none());
        assert!(cache.get(&at("a.x.c"), &ring).is_none());
        assert!(cache.get(&at("a.b.c"), &ring).is_some());
        // The same kid bound to new key material is not the key that verified the token.
        ring.insert(key("k"));
        assert!(cache.get(&d, &ring).is_none());
        assert_eq!(cache.len(), 0, "a dead entry is dropped at once");
    }

    #[test]
    fn removed_key_ends_its_entries() {
        let (ring, cache, verified_by) = setup();
        let d = at("x.y.z");
        cache.insert(d, ctx(), verified_by, unix_now() + 60);
        ring.remove("k");
        assert!(cache.get(&d, &ring).is_none());
    }

    #[test]
    fn never_past_exp() {
        let (ring, cache, verified_by) = setup();
        let d = at("x.y.z");
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
    fn bounded_in_bytes() {
        let (_, _, verified_by) = setup();
        let cache = TokenCache::new(5 * 600, DEFAULT_TOKEN_CACHE_TTL);
        for i in 0..50 {
            let token = format!("h.c.t{i}");
            cache.insert(at(&token), ctx(), verified_by.clone(), unix_now() + 60);
        }
        // Each entry weighs 2 × 3 + 512 bytes: five fit in 3,000 bytes, not more.
        let kept = cache.len();
        assert!((1..=5).contains(&kept), "{kept}");
        // One huge token takes the room of many small ones.
        let huge = format!("h.{}.sig", "c".repeat(4000));
        let big = TokenCache::new(5 * 600, DEFAULT_TOKEN_CACHE_TTL);
        big.insert(at(&huge), ctx(), verified_by, unix_now() + 60);
        assert_eq!(
            big.len(),
            0,
            "an entry larger than the whole cache is not kept"
        );
    }
}
