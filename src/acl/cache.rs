//! The entity engine's opt-in cache of what the store says about a (subject, resource): the
//! resource's tenant, its lineage with the subject's shares, the subject's groups and whether
//! its stored roles make it a member. Bounded by bytes; exact, not merely fresh within a TTL:
//! every write through the engine, and every change of a watched tenant engine (memberships,
//! assignments), moves one generation after the store returned, and an entry read before that
//! never answers again. The credential's own part (its tenant claim, administrator and editor
//! checks) is judged per check, never cached, so two credentials of one subject never share an
//! answer they should not.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::authz::Scope;
use crate::store::acl::{AccessFacts, Lineage, ResourceKey};

/// What the store said, as of one generation.
#[derive(Clone)]
pub(crate) struct Known {
    pub(crate) generation: u64,
    /// When it stops counting (seconds): the TTL, or the first expiry of one of the subject's
    /// assignments that made it a member.
    pub(crate) dies_at: i64,
    pub(crate) found: Option<Arc<Found>>,
}

/// A registered resource's part of the answer.
pub(crate) struct Found {
    pub(crate) tenant: String,
    pub(crate) lineage: Vec<Lineage>,
    pub(crate) groups: Vec<String>,
    /// A member by its stored roles or groups (a credential of the tenant is one regardless).
    pub(crate) member: bool,
    /// The tenant, as the scope its administrators and editors are asked at; and the
    /// resource in it, as the scope its decisions name. Built once with the rest, so a check
    /// answered from the cache builds neither (`None` for a tenant or key no scope can name).
    pub(crate) tenant_scope: Option<Scope>,
    pub(crate) scope: Option<Scope>,
}

impl Found {
    /// The store's facts about a registered resource (`None` if they name no resource).
    pub(crate) fn from_facts(facts: AccessFacts) -> Option<Self> {
        let record = &facts.lineage.first()?.record;
        let tenant = record.tenant.clone();
        let tenant_scope = Scope::tenant(&tenant).ok();
        let scope = tenant_scope
            .clone()
            .and_then(|s| s.on(&record.key.kind, Some(&record.key.id)).ok());
        Some(Self {
            tenant,
            lineage: facts.lineage,
            groups: facts.groups,
            member: facts.member,
            tenant_scope,
            scope,
        })
    }

    fn weight(&self) -> u64 {
        let lineage: usize = self
            .lineage
            .iter()
            .map(|l| {
                let r = &l.record;
                let shares: usize = l.shares.iter().map(|s| s.grantee.len() + 96).sum();
                r.key.service.len()
                    + r.key.kind.len()
                    + r.key.id.len()
                    + r.owner.len()
                    + 160
                    + shares
            })
            .sum();
        let groups: usize = self.groups.iter().map(|g| g.len() + 24).sum();
        // The two scopes: their reference-counted parts.
        (self.tenant.len() + lineage + groups + 64 + 160) as u64
    }
}

type Key = (Box<str>, ResourceKey);

/// A [`Key`] borrowed, to look one up without copying the subject and the key: it hashes as
/// the tuple does (each field in order).
#[derive(Hash)]
struct Borrowed<'a>(&'a str, &'a ResourceKey);

impl quick_cache::Equivalent<Key> for Borrowed<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        *key.0 == *self.0 && key.1 == *self.1
    }
}

#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<Key, Known> for Weigh {
    fn weight(&self, key: &Key, value: &Known) -> u64 {
        let k = key.0.len() + key.1.service.len() + key.1.kind.len() + key.1.id.len();
        k as u64 + value.found.as_ref().map_or(32, |f| f.weight())
    }
}

/// The cache and its generation.
pub(crate) struct Cache {
    generation: Arc<AtomicU64>,
    ttl: i64,
    /// Hashed as the tenant engine's caches are (foldhash, seeded per process).
    map: quick_cache::sync::Cache<Key, Known, Weigh, foldhash::fast::RandomState>,
}

impl Cache {
    pub(crate) fn new(bytes: u64, ttl_seconds: i64, generation: Arc<AtomicU64>) -> Self {
        Self {
            generation,
            ttl: ttl_seconds.max(1),
            map: quick_cache::sync::Cache::with(
                usize::try_from(bytes / 512).unwrap_or(usize::MAX).max(64),
                bytes.max(1),
                Weigh,
                foldhash::fast::RandomState::default(),
                quick_cache::sync::DefaultLifecycle::default(),
            ),
        }
    }

    /// The entry for (subject, key) if it still counts at `now`.
    pub(crate) fn get(&self, subject: &str, key: &ResourceKey, now: i64) -> Option<Known> {
        let entry = self.map.get(&Borrowed(subject, key))?;
        let current = entry.generation == self.generation.load(Ordering::SeqCst);
        (current && now < entry.dies_at).then_some(entry)
    }

    /// Keeps what was read at `generation`, until `now` + the TTL or `until`, whichever is
    /// sooner.
    pub(crate) fn put(
        &self,
        subject: &str,
        key: &ResourceKey,
        generation: u64,
        now: i64,
        until: Option<i64>,
        found: Option<Arc<Found>>,
    ) {
        let ttl_end = now.saturating_add(self.ttl);
        let dies_at = until.map_or(ttl_end, |u| u.min(ttl_end));
        self.map.insert(
            (Box::from(subject), key.clone()),
            Known {
                generation,
                dies_at,
                found,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_borrowed_key_finds_what_was_kept() {
        let generation = Arc::new(AtomicU64::new(3));
        let cache = Cache::new(1 << 20, 60, generation.clone());
        let key = ResourceKey::new("docs", "document", "42");
        cache.put("ada", &key, 3, 100, None, None);
        assert!(cache.get("ada", &key, 101).is_some());
        assert!(cache.get("bob", &key, 101).is_none());
        let other = ResourceKey::new("docs", "document", "43");
        assert!(cache.get("ada", &other, 101).is_none());
        // A write moved the generation: what was kept no longer answers.
        generation.fetch_add(1, Ordering::SeqCst);
        assert!(cache.get("ada", &key, 101).is_none());
    }
}
