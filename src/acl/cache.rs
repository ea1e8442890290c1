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
}

impl Found {
    /// The store's facts about a registered resource (`None` if they name no resource).
    pub(crate) fn from_facts(facts: AccessFacts) -> Option<Self> {
        let tenant = facts.lineage.first()?.record.tenant.clone();
        Some(Self {
            tenant,
            lineage: facts.lineage,
            groups: facts.groups,
            member: facts.member,
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
        (self.tenant.len() + lineage + groups + 64) as u64
    }
}

type Key = (Box<str>, ResourceKey);

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
    map: quick_cache::sync::Cache<Key, Known, Weigh>,
}

impl Cache {
    pub(crate) fn new(bytes: u64, ttl_seconds: i64, generation: Arc<AtomicU64>) -> Self {
        Self {
            generation,
            ttl: ttl_seconds.max(1),
            map: quick_cache::sync::Cache::with_weighter(
                usize::try_from(bytes / 512).unwrap_or(usize::MAX).max(64),
                bytes.max(1),
                Weigh,
            ),
        }
    }

    /// The entry for (subject, key) if it still counts at `now`.
    pub(crate) fn get(&self, subject: &str, key: &ResourceKey, now: i64) -> Option<Known> {
        let entry = self.map.get(&(Box::from(subject), key.clone()))?;
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
