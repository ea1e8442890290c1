//! Entity permissions in memory. Each operation is one section under the store's mutex, so its
//! checks (owner, tenant, folder cycle and depth) and its change are atomic, as the SQL
//! backends' transactions are; every check runs before the first change.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use super::MemoryStore;
use crate::store::acl::{
    Access, AccessFacts, AccessibleQuery, EntityStore, ExpectedOwner, FOLDER_CYCLE,
    FOLDER_OTHER_TENANT, FOLDER_TOO_DEEP, Lineage, MAX_FOLDER_DEPTH, MAX_SHARES, NO_FOLDER,
    NO_RESOURCE, RESOURCE_CHANGED, RESOURCE_HAS_CHILDREN, RESOURCE_TAKEN, Registered, ResourceKey,
    ResourceRecord, ShareRecord, TOO_MANY_SHARES, Visibility,
};
use crate::store::{StoreError, StoreResult, SubjectKind};

#[derive(Default)]
pub(super) struct AclState {
    resources: BTreeMap<ResourceKey, ResourceRecord>,
    /// Resource → (grantee kind, grantee) → share.
    shares: HashMap<ResourceKey, BTreeMap<(SubjectKind, String), ShareRecord>>,
}

impl AclState {
    /// Feeds everything held to `hasher`, in an order that does not depend on the maps'.
    pub(super) fn hash_into(&self, hasher: &mut impl Hasher) {
        self.resources.hash(hasher);
        let mut shares: Vec<_> = self.shares.iter().filter(|(_, s)| !s.is_empty()).collect();
        shares.sort_by(|a, b| a.0.cmp(b.0));
        shares.hash(hasher);
    }

    /// The folders above `key`, nearest first (bounded: chains are checked when written).
    fn folders_above(&self, key: &ResourceKey) -> Vec<&ResourceRecord> {
        let mut above = Vec::new();
        let mut next = self.resources.get(key).and_then(|r| r.parent.as_ref());
        while let Some(parent) = next {
            let Some(record) = self.resources.get(parent) else {
                break;
            };
            above.push(record);
            if above.len() > MAX_FOLDER_DEPTH {
                break;
            }
            next = record.parent.as_ref();
        }
        above
    }

    /// How many levels lie below `key` (0 for a resource with nothing inside): one pass over
    /// the resources to index children, then a walk down (bounded: chains are checked when
    /// written), rather than a scan of every resource at every level.
    fn height(&self, key: &ResourceKey) -> usize {
        let mut children: HashMap<&ResourceKey, Vec<&ResourceKey>> = HashMap::new();
        for record in self.resources.values() {
            if let Some(parent) = &record.parent {
                children.entry(parent).or_default().push(&record.key);
            }
        }
        let mut level = vec![key];
        let mut height = 0;
        while height <= MAX_FOLDER_DEPTH {
            level = level
                .iter()
                .filter_map(|k| children.get(k))
                .flatten()
                .copied()
                .collect();
            if level.is_empty() {
                break;
            }
            height += 1;
        }
        height
    }

    /// `key`'s record, refused unless it is still `expected`'s ([`RESOURCE_CHANGED`]).
    fn held(&self, key: &ResourceKey, expected: ExpectedOwner<'_>) -> StoreResult<&ResourceRecord> {
        let record = self
            .resources
            .get(key)
            .ok_or(StoreError::NotFound(NO_RESOURCE))?;
        if expected.matches(record) {
            Ok(record)
        } else {
            Err(StoreError::Conflict(RESOURCE_CHANGED))
        }
    }

    /// Whether `inner` is `outer` or lies inside it.
    fn is_within(&self, inner: &ResourceKey, outer: &ResourceKey) -> bool {
        inner == outer || self.folders_above(inner).iter().any(|f| f.key == *outer)
    }

    /// The checks for putting a resource of `tenant` (with `height` levels below it) into
    /// `parent`.
    fn check_parent(&self, tenant: &str, parent: &ResourceKey, height: usize) -> StoreResult<()> {
        let folder = self
            .resources
            .get(parent)
            .ok_or(StoreError::NotFound(NO_FOLDER))?;
        if folder.tenant != tenant {
            return Err(StoreError::Conflict(FOLDER_OTHER_TENANT));
        }
        // The parent and every folder above it, plus the resource's own levels below.
        let depth = 1 + self.folders_above(parent).len() + height;
        if depth > MAX_FOLDER_DEPTH {
            return Err(StoreError::Conflict(FOLDER_TOO_DEEP));
        }
        Ok(())
    }

    /// Shares of `key` to the subject or one of its groups.
    fn shares_naming(
        &self,
        key: &ResourceKey,
        subject: &str,
        groups: &[String],
    ) -> Vec<ShareRecord> {
        self.shares
            .get(key)
            .into_iter()
            .flat_map(|s| s.values())
            .filter(|s| match s.grantee_kind {
                SubjectKind::User => s.grantee == subject,
                SubjectKind::Group => groups.contains(&s.grantee),
            })
            .cloned()
            .collect()
    }
}

impl EntityStore for MemoryStore {
    async fn register(&self, record: &ResourceRecord) -> StoreResult<Registered> {
        let mut state = self.lock();
        let acl = &mut state.acl;
        if let Some(existing) = acl.resources.get(&record.key) {
            return if existing.owner == record.owner && existing.tenant == record.tenant {
                Ok(Registered::Existing(Box::new(existing.clone())))
            } else {
                Err(StoreError::Conflict(RESOURCE_TAKEN))
            };
        }
        if let Some(parent) = &record.parent {
            acl.check_parent(&record.tenant, parent, 0)?;
        }
        acl.resources.insert(record.key.clone(), record.clone());
        Ok(Registered::Created)
    }

    async fn resource(&self, key: &ResourceKey) -> StoreResult<Option<ResourceRecord>> {
        Ok(self.lock().acl.resources.get(key).cloned())
    }

    async fn deregister(&self, key: &ResourceKey) -> StoreResult<()> {
        let mut state = self.lock();
        let acl = &mut state.acl;
        if !acl.resources.contains_key(key) {
            return Err(StoreError::NotFound(NO_RESOURCE));
        }
        if acl
            .resources
            .values()
            .any(|r| r.parent.as_ref() == Some(key))
        {
            return Err(StoreError::Conflict(RESOURCE_HAS_CHILDREN));
        }
        acl.resources.remove(key);
        acl.shares.remove(key);
        Ok(())
    }

    async fn set_visibility(
        &self,
        key: &ResourceKey,
        expected: ExpectedOwner<'_>,
        visibility: Visibility,
    ) -> StoreResult<ResourceRecord> {
        let mut state = self.lock();
        state.acl.held(key, expected)?;
        let record = state
            .acl
            .resources
            .get_mut(key)
            .ok_or(StoreError::NotFound(NO_RESOURCE))?;
        record.visibility = visibility;
        Ok(record.clone())
    }

    async fn move_to(
        &self,
        key: &ResourceKey,
        expected: ExpectedOwner<'_>,
        parent: Option<(&ResourceKey, ExpectedOwner<'_>)>,
    ) -> StoreResult<ResourceRecord> {
        let mut state = self.lock();
        let acl = &mut state.acl;
        let tenant = acl.held(key, expected)?.tenant.clone();
        let parent = match parent {
            Some((parent, folder_expected)) => {
                let folder = acl
                    .resources
                    .get(parent)
                    .ok_or(StoreError::NotFound(NO_FOLDER))?;
                if !folder_expected.matches(folder) {
                    return Err(StoreError::Conflict(RESOURCE_CHANGED));
                }
                Some(parent)
            }
            None => None,
        };
        if let Some(parent) = parent {
            if acl.is_within(parent, key) {
                return Err(StoreError::Conflict(FOLDER_CYCLE));
            }
            acl.check_parent(&tenant, parent, acl.height(key))?;
        }
        let record = acl
            .resources
            .get_mut(key)
            .ok_or(StoreError::NotFound(NO_RESOURCE))?;
        record.parent = parent.cloned();
        Ok(record.clone())
    }

    async fn share(&self, share: &ShareRecord, expected: ExpectedOwner<'_>) -> StoreResult<()> {
        let mut state = self.lock();
        let acl = &mut state.acl;
        acl.held(&share.key, expected)?;
        let shares = acl.shares.entry(share.key.clone()).or_default();
        let grantee = (share.grantee_kind, share.grantee.clone());
        if shares.len() >= MAX_SHARES && !shares.contains_key(&grantee) {
            return Err(StoreError::Conflict(TOO_MANY_SHARES));
        }
        shares.insert(grantee, share.clone());
        Ok(())
    }

    async fn unshare(
        &self,
        key: &ResourceKey,
        expected: ExpectedOwner<'_>,
        grantee_kind: SubjectKind,
        grantee: &str,
    ) -> StoreResult<bool> {
        let mut state = self.lock();
        let acl = &mut state.acl;
        acl.held(key, expected)?;
        Ok(acl
            .shares
            .get_mut(key)
            .and_then(|s| s.remove(&(grantee_kind, grantee.to_owned())))
            .is_some())
    }

    async fn shares(&self, key: &ResourceKey) -> StoreResult<Vec<ShareRecord>> {
        let state = self.lock();
        // Keyed by (kind, grantee), and users order before groups.
        Ok(state
            .acl
            .shares
            .get(key)
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn lineage(
        &self,
        key: &ResourceKey,
        subject: &str,
        groups: &[String],
    ) -> StoreResult<Vec<Lineage>> {
        let state = self.lock();
        let acl = &state.acl;
        let Some(record) = acl.resources.get(key) else {
            return Ok(Vec::new());
        };
        Ok(std::iter::once(record)
            .chain(acl.folders_above(key))
            .map(|r| Lineage {
                record: r.clone(),
                shares: acl.shares_naming(&r.key, subject, groups),
            })
            .collect())
    }

    async fn facts(
        &self,
        keys: &[ResourceKey],
        subject: &str,
        now: i64,
    ) -> StoreResult<Vec<Option<AccessFacts>>> {
        let state = self.lock();
        let (acl, roles) = (&state.acl, &state.roles);
        Ok(keys
            .iter()
            .map(|key| {
                let record = acl.resources.get(key)?;
                let groups = roles.groups_of(&record.tenant, subject);
                let (member, member_until) = if groups.is_empty() {
                    roles.assigned(&record.tenant, subject, now)
                } else {
                    (true, None)
                };
                let lineage = std::iter::once(record)
                    .chain(acl.folders_above(key))
                    .map(|r| Lineage {
                        record: r.clone(),
                        shares: acl.shares_naming(&r.key, subject, &groups),
                    })
                    .collect();
                Some(AccessFacts {
                    lineage,
                    groups,
                    member,
                    member_until,
                })
            })
            .collect())
    }

    async fn accessible(&self, query: &AccessibleQuery<'_>) -> StoreResult<Vec<String>> {
        let state = self.lock();
        let acl = &state.acl;
        let reaches = |record: &ResourceRecord| {
            if record.owner == query.subject {
                return true;
            }
            std::iter::once(record)
                .chain(acl.folders_above(&record.key))
                .any(|level| {
                    let gives = match level.visibility {
                        Visibility::Public => Some(Access::View),
                        Visibility::Tenant if query.member && query.editor => Some(Access::Edit),
                        Visibility::Tenant if query.member => Some(Access::View),
                        _ => None,
                    };
                    gives.is_some_and(|given| given.covers(query.access))
                        || acl
                            .shares_naming(&level.key, query.subject, query.groups)
                            .iter()
                            .any(|s| {
                                s.access.covers(query.access)
                                    && (query.member || s.grantee_kind == SubjectKind::Group)
                            })
                })
        };
        Ok(acl
            .resources
            .values()
            .filter(|r| {
                r.tenant == query.tenant
                    && r.key.service == query.service
                    && r.key.kind == query.kind
                    && query.after.is_none_or(|after| r.key.id.as_str() > after)
            })
            .filter(|r| reaches(r))
            .map(|r| r.key.id.clone())
            .take(query.limit)
            .collect())
    }
}
