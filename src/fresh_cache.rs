//! A read-through cache in front of a store whose fills can never overwrite a later write.
//!
//! The race it closes: a request misses the cache and reads the store ("not revoked"); before it
//! puts that answer in the cache, another task revokes (writes the store, then the cache). A
//! plain cache would end with the stale "not revoked" on top, serving it until the entry's TTL
//! ran out. Here every fill carries a [`Ticket`] taken before its store read, and every write bumps
//! a generation first: a fill that lands after a write it did not see removes itself again, so the
//! next reader goes to the store. Once a write returned, no fill that started before it can be the
//! answer (tested under concurrency in this module and in the revocation tests).
//!
//! The entries are weighed in bytes, so a flood of long keys cannot grow the cache past its bound.

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A generation seen before a store read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

/// A cached value and the moment it stops counting.
#[derive(Clone)]
struct Timed<V> {
    value: V,
    dies_at: Instant,
}

/// Weighs entries with the cache's owner's function.
struct Weigh<K, V>(fn(&K, &V) -> u32);

impl<K, V> Clone for Weigh<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K, V> Copy for Weigh<K, V> {}

impl<K, V> quick_cache::Weighter<K, Timed<V>> for Weigh<K, V> {
    fn weight(&self, key: &K, entry: &Timed<V>) -> u64 {
        u64::from((self.0)(key, &entry.value))
    }
}

type Map<K, V> = quick_cache::sync::Cache<
    K,
    Timed<V>,
    Weigh<K, V>,
    foldhash::fast::RandomState,
    quick_cache::sync::DefaultLifecycle<K, Timed<V>>,
>;

/// See the module docs.
///
/// The map is `quick_cache` (a read lock and a flag per hit) rather than moka (which records
/// every read for its eviction policy: about 1,000 instructions per hit against 200, and the
/// revocation check makes two of them per bearer request). quick_cache keeps no time, so each
/// entry carries the instant it dies at, and a read past it removes it.
pub(crate) struct FreshCache<K, V> {
    entries: Map<K, V>,
    ttl: Duration,
    generation: AtomicU64,
}

impl<K: Hash + Eq, V: Clone> std::fmt::Debug for FreshCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreshCache")
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl<K, V> FreshCache<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache of at most `max_bytes` (as `weigh` counts them), each entry kept at most `ttl`
    /// (at most a year: a longer one, even `Duration::MAX`, is taken as a year rather than
    /// overflowing the clock on the request path).
    pub(crate) fn new(max_bytes: u64, ttl: Duration, weigh: fn(&K, &V) -> u32) -> Self {
        let ttl = ttl.min(Duration::from_secs(365 * 24 * 3600));
        let estimated = usize::try_from(max_bytes / 256)
            .unwrap_or(usize::MAX)
            .max(16);
        Self {
            entries: Map::with(
                estimated,
                max_bytes,
                Weigh(weigh),
                foldhash::fast::RandomState::default(),
                quick_cache::sync::DefaultLifecycle::default(),
            ),
            ttl,
            generation: AtomicU64::new(0),
        }
    }

    /// The cached value, without I/O.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_at(key, Instant::now())
    }

    /// The value cached for `key` if it is still alive at `now` (one clock read can serve
    /// several look-ups of one request).
    pub(crate) fn get_at<Q>(&self, key: &Q, now: Instant) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entry = self.entries.get(key)?;
        if now >= entry.dies_at {
            // Only this dead entry: a fresher one written meanwhile stays.
            self.entries
                .remove_if(key, |live| live.dies_at == entry.dies_at);
            return None;
        }
        Some(entry.value)
    }

    fn insert(&self, key: K, value: V) {
        let dies_at = Instant::now() + self.ttl;
        self.entries.insert(key, Timed { value, dies_at });
    }

    /// Take this before reading the store for a [`fill`](Self::fill).
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::SeqCst))
    }

    /// Caches what the store said, unless a write happened since `ticket` was taken (then the
    /// answer may be stale: it is removed again and the next reader asks the store).
    pub(crate) fn fill(&self, key: K, value: V, ticket: Ticket) {
        self.insert(key.clone(), value);
        if self.generation.load(Ordering::SeqCst) != ticket.0 {
            self.entries.remove(&key);
        }
    }

    /// Records a write already made to the store: fills in flight are voided, then the new value
    /// is cached.
    pub(crate) fn write(&self, key: K, value: V) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.insert(key, value);
    }

    /// Forgets a key after its store record changed: fills in flight are voided too.
    pub(crate) fn invalidate<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.remove(key);
    }

    /// Forgets everything (a change may have been missed): fills in flight are voided too.
    pub(crate) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.clear();
    }
}

/// The weight of a string-keyed entry: its key's bytes plus a fixed overhead for the value and the
/// cache's own bookkeeping.
#[allow(clippy::borrowed_box)] // the weigher takes `&K`
pub(crate) fn weigh_str_key<V>(key: &Box<str>, _: &V) -> u32 {
    u32::try_from(key.len())
        .unwrap_or(u32::MAX)
        .saturating_add(64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> FreshCache<Box<str>, bool> {
        FreshCache::new(1 << 20, Duration::from_secs(60), weigh_str_key)
    }

    #[test]
    fn a_fill_that_started_before_a_write_never_wins() {
        let cache = cache();
        let ticket = cache.ticket(); // a reader misses and goes to the store: "not revoked"
        cache.write("jti".into(), true); // meanwhile the revocation lands
        cache.fill("jti".into(), false, ticket); // the stale answer arrives last
        assert_ne!(
            cache.get("jti"),
            Some(false),
            "the stale fill must not be served"
        );
    }

    #[test]
    fn an_endless_ttl_is_a_long_one_not_a_panic() {
        let cache: FreshCache<Box<str>, bool> =
            FreshCache::new(1 << 20, Duration::MAX, weigh_str_key);
        cache.write("jti".into(), true);
        assert_eq!(cache.get("jti"), Some(true));
    }

    #[test]
    fn entries_die_at_their_ttl() {
        let cache: FreshCache<Box<str>, bool> =
            FreshCache::new(1 << 20, Duration::from_millis(50), weigh_str_key);
        cache.write("jti".into(), true);
        assert_eq!(cache.get("jti"), Some(true));
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(cache.get("jti"), None, "never served past its TTL");
    }

    #[test]
    fn a_fill_after_the_write_is_kept() {
        let cache = cache();
        cache.write("jti".into(), true);
        let ticket = cache.ticket();
        cache.fill("other".into(), false, ticket);
        assert_eq!(cache.get("other"), Some(false));
        assert_eq!(cache.get("jti"), Some(true));
    }

    #[test]
    fn an_invalidation_voids_fills_in_flight() {
        let cache = cache();
        let ticket = cache.ticket();
        cache.invalidate("user");
        cache.fill("user".into(), false, ticket);
        assert_eq!(cache.get("user"), None);
    }

    #[test]
    fn concurrent_fills_never_outlive_a_write() {
        // Many readers fill "false" while one writer writes "true": afterwards the cache holds
        // "true" or nothing, never "false", whatever the interleaving.
        for _ in 0..200 {
            let cache = std::sync::Arc::new(cache());
            // Every reader read the store before the write (its ticket is older), so each holds
            // the stale "false"; they land before, during or after the write.
            let readers: Vec<_> = (0..4)
                .map(|_| {
                    let cache = cache.clone();
                    let ticket = cache.ticket();
                    std::thread::spawn(move || {
                        std::thread::yield_now();
                        cache.fill("jti".into(), false, ticket);
                    })
                })
                .collect();
            cache.write("jti".into(), true);
            for reader in readers {
                let _ = reader.join();
            }
            // Readers whose ticket predates the write must have removed themselves.
            assert_ne!(cache.get("jti"), Some(false));
        }
    }
}
