//! The tenant role model in memory. Each operation is one section under the store's mutex, so
//! its checks and its change are atomic, as the SQL backends' per-tenant transactions are; every
//! check runs before the first change, so a refused write leaves everything as it was.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use super::MemoryStore;
use crate::store::roles::{
    ASSIGNED_TWICE, DEFAULT_GRANTOR, NO_ASSIGNMENT, NO_ROLE, ROLE_CHANGED, ROLE_FULL,
    ROLE_HAS_CHILDREN, ROLE_SLUG_TAKEN, SYSTEM_ROLE, check_hierarchy, new_id,
};
use crate::store::{
    ActionRecord, ActionStore, AssignmentFilter, AssignmentRecord, AssignmentStore, Grant,
    RoleFilter, RoleRecord, RoleStore, StoreError, StoreResult, SubjectKind, TenantRoles,
};

#[derive(Default)]
pub(super) struct RoleState {
    /// By id (ids are unique across tenants, as the SQL primary key makes them).
    roles: HashMap<String, RoleRecord>,
    /// By role id; a role without grants has no entry.
    grants: HashMap<String, BTreeSet<Grant>>,
    /// By id.
    assignments: HashMap<String, AssignmentRecord>,
    /// (tenant, group, subject) → when added.
    members: BTreeMap<(String, String, String), i64>,
    /// (tenant, subject) → when first seen.
    subjects: HashMap<(String, String), i64>,
    /// (service, action) → the record.
    actions: BTreeMap<(String, String), ActionRecord>,
    /// Tenant → version; kept when the tenant is deleted, so it never goes back.
    versions: HashMap<String, u64>,
}

impl RoleState {
    /// Feeds everything held to `hasher`, in an order that does not depend on the maps'.
    pub(super) fn hash_into(&self, hasher: &mut impl Hasher) {
        let mut roles: Vec<&RoleRecord> = self.roles.values().collect();
        roles.sort_by(|a, b| a.id.cmp(&b.id));
        for role in roles {
            // Metadata is a JSON map, which has no `Hash`: its text does. A stored map is never
            // reordered, so unchanged data gives unchanged text, which is all a fingerprint
            // needs.
            serde_json::to_string(role).unwrap_or_default().hash(hasher);
        }
        let mut grants: Vec<_> = self.grants.iter().collect();
        grants.sort();
        grants.hash(hasher);
        let mut assignments: Vec<&AssignmentRecord> = self.assignments.values().collect();
        assignments.sort_by(|a, b| a.id.cmp(&b.id));
        assignments.hash(hasher);
        self.members.hash(hasher);
        let mut subjects: Vec<_> = self.subjects.iter().collect();
        subjects.sort();
        subjects.hash(hasher);
        for action in self.actions.values() {
            (
                &action.service,
                &action.action,
                &action.description,
                action.registered_at,
                action.updated_at,
            )
                .hash(hasher);
        }
        let mut versions: Vec<_> = self.versions.iter().collect();
        versions.sort();
        versions.hash(hasher);
    }

    fn role_in(&self, tenant: &str, id: &str) -> Option<&RoleRecord> {
        self.roles.get(id).filter(|role| role.tenant == tenant)
    }

    /// The tenant's role, if it may change: [`NO_ROLE`], [`SYSTEM_ROLE`].
    fn changeable(&self, tenant: &str, id: &str) -> StoreResult<&RoleRecord> {
        let role = self
            .role_in(tenant, id)
            .ok_or(StoreError::NotFound(NO_ROLE))?;
        if role.is_system {
            return Err(StoreError::Conflict(SYSTEM_ROLE));
        }
        Ok(role)
    }

    fn edges(&self, tenant: &str, namespace: &str) -> Vec<(String, Option<String>)> {
        self.roles
            .values()
            .filter(|r| r.tenant == tenant && r.namespace == namespace)
            .map(|r| (r.slug.clone(), r.parent.clone()))
            .collect()
    }

    /// A successful write to the tenant: its version goes up.
    fn bump(&mut self, tenant: &str) {
        *self.versions.entry(tenant.to_owned()).or_insert(0) += 1;
    }

    /// Whether `role` can take (kind, subject) at `now` (see `has_room` in `sql_roles.rs`).
    fn has_room(&self, role: &RoleRecord, kind: SubjectKind, subject: &str, now: i64) -> bool {
        let Some(max) = role.max_members else {
            return true;
        };
        let live = self
            .assignments
            .values()
            .filter(|a| a.role_id == role.id && a.is_live(now));
        let mut holders = BTreeSet::new();
        for a in live {
            if a.subject_kind == kind && a.subject == subject {
                return true;
            }
            holders.insert((a.subject_kind, a.subject.as_str()));
        }
        holders.len() < max as usize
    }

    /// Whether an assignment with `a`'s natural key (role, subject, resource) exists.
    fn holds_key(&self, a: &AssignmentRecord) -> bool {
        self.assignments.values().any(|b| {
            b.role_id == a.role_id
                && b.subject_kind == a.subject_kind
                && b.subject == a.subject
                && b.resource_type == a.resource_type
                && b.resource_id == a.resource_id
        })
    }

    /// `subject`'s groups in `tenant`, sorted (the map is ordered by tenant, group, subject).
    pub(super) fn groups_of(&self, tenant: &str, subject: &str) -> Vec<String> {
        self.members
            .keys()
            .filter(|(t, _, s)| t == tenant && s == subject)
            .map(|(_, group, _)| group.clone())
            .collect()
    }

    /// Whether a live assignment (at `now`) to the user makes it a member of `tenant`, and the
    /// first expiry among those.
    pub(super) fn assigned(&self, tenant: &str, user: &str, now: i64) -> (bool, Option<i64>) {
        let mut live = self.assignments.values().filter(|a| {
            a.tenant == tenant
                && a.subject_kind == SubjectKind::User
                && a.subject == user
                && a.is_live(now)
        });
        let member = live.clone().next().is_some();
        (member, live.by_ref().filter_map(|a| a.expires_at).min())
    }

    fn sorted_assignments<'a>(
        &'a self,
        keep: impl Fn(&AssignmentRecord) -> bool,
    ) -> Vec<AssignmentRecord> {
        let mut list: Vec<&'a AssignmentRecord> =
            self.assignments.values().filter(|a| keep(a)).collect();
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        list.into_iter().cloned().collect()
    }
}

/// `a` as the SQL backends store it: an empty resource field is no resource field.
fn normalised(a: &AssignmentRecord) -> AssignmentRecord {
    let mut a = a.clone();
    a.resource_type = a.resource_type.filter(|t| !t.is_empty());
    a.resource_id = a.resource_id.filter(|t| !t.is_empty());
    a
}

fn by_place(a: &RoleRecord, b: &RoleRecord) -> std::cmp::Ordering {
    (&a.namespace, &a.slug).cmp(&(&b.namespace, &b.slug))
}

impl RoleStore for MemoryStore {
    async fn create_role(&self, role: &RoleRecord, grants: &[Grant]) -> StoreResult<()> {
        let mut state = self.lock();
        let roles = &mut state.roles;
        let edges = roles.edges(&role.tenant, &role.namespace);
        if edges.iter().any(|(slug, _)| *slug == role.slug) {
            return Err(StoreError::Conflict(ROLE_SLUG_TAKEN));
        }
        check_hierarchy(&edges, &role.slug, role.parent.as_deref())?;
        if roles.roles.contains_key(&role.id) {
            return Err(StoreError::Conflict("role id"));
        }
        roles.roles.insert(role.id.clone(), role.clone());
        if !grants.is_empty() {
            roles
                .grants
                .insert(role.id.clone(), grants.iter().cloned().collect());
        }
        roles.bump(&role.tenant);
        Ok(())
    }

    async fn role(&self, tenant: &str, id: &str) -> StoreResult<Option<RoleRecord>> {
        Ok(self.lock().roles.role_in(tenant, id).cloned())
    }

    async fn role_by_slug(
        &self,
        tenant: &str,
        namespace: &str,
        slug: &str,
    ) -> StoreResult<Option<RoleRecord>> {
        Ok(self
            .lock()
            .roles
            .roles
            .values()
            .find(|r| r.tenant == tenant && r.namespace == namespace && r.slug == slug)
            .cloned())
    }

    async fn update_role(
        &self,
        role: &RoleRecord,
        expected: Option<&RoleRecord>,
    ) -> StoreResult<()> {
        let mut state = self.lock();
        let roles = &mut state.roles;
        let stored = roles.changeable(&role.tenant, &role.id)?;
        if expected.is_some_and(|read| read != stored) {
            return Err(StoreError::Conflict(ROLE_CHANGED));
        }
        let edges = roles.edges(&stored.tenant, &stored.namespace);
        check_hierarchy(&edges, &stored.slug, role.parent.as_deref())?;
        let stored = roles
            .roles
            .get_mut(&role.id)
            .ok_or(StoreError::NotFound(NO_ROLE))?;
        stored.name.clone_from(&role.name);
        stored.description.clone_from(&role.description);
        stored.parent.clone_from(&role.parent);
        stored.is_default = role.is_default;
        stored.max_members = role.max_members;
        stored.metadata.clone_from(&role.metadata);
        stored.updated_at = role.updated_at;
        roles.bump(&role.tenant);
        Ok(())
    }

    async fn delete_role(&self, tenant: &str, id: &str) -> StoreResult<()> {
        let mut state = self.lock();
        let roles = &mut state.roles;
        let role = roles.changeable(tenant, id)?;
        let has_children = roles.roles.values().any(|r| {
            r.tenant == role.tenant
                && r.namespace == role.namespace
                && r.parent.as_ref() == Some(&role.slug)
        });
        if has_children {
            return Err(StoreError::Conflict(ROLE_HAS_CHILDREN));
        }
        roles.roles.remove(id);
        roles.grants.remove(id);
        roles.assignments.retain(|_, a| a.role_id != id);
        roles.bump(tenant);
        Ok(())
    }

    async fn list_roles(&self, filter: &RoleFilter) -> StoreResult<Vec<RoleRecord>> {
        let state = self.lock();
        let mut list: Vec<&RoleRecord> = state
            .roles
            .roles
            .values()
            .filter(|r| filter.matches(r))
            .collect();
        list.sort_by(|a, b| by_place(a, b));
        Ok(list
            .into_iter()
            .skip(filter.offset as usize)
            .take(filter.limit as usize)
            .cloned()
            .collect())
    }

    async fn count_roles(&self, filter: &RoleFilter) -> StoreResult<u64> {
        let state = self.lock();
        let count = state
            .roles
            .roles
            .values()
            .filter(|r| filter.matches(r))
            .count();
        Ok(count as u64)
    }

    async fn role_grants(&self, tenant: &str, id: &str) -> StoreResult<Vec<Grant>> {
        let state = self.lock();
        state
            .roles
            .role_in(tenant, id)
            .ok_or(StoreError::NotFound(NO_ROLE))?;
        Ok(state
            .roles
            .grants
            .get(id)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default())
    }

    async fn attach_grant(&self, tenant: &str, id: &str, grant: &Grant) -> StoreResult<()> {
        let mut state = self.lock();
        let roles = &mut state.roles;
        roles.changeable(tenant, id)?;
        roles
            .grants
            .entry(id.to_owned())
            .or_default()
            .insert(grant.clone());
        roles.bump(tenant);
        Ok(())
    }

    async fn detach_grant(&self, tenant: &str, id: &str, grant: &Grant) -> StoreResult<()> {
        let mut state = self.lock();
        let roles = &mut state.roles;
        roles.changeable(tenant, id)?;
        if let Some(set) = roles.grants.get_mut(id) {
            set.remove(grant);
            if set.is_empty() {
                roles.grants.remove(id);
            }
        }
        roles.bump(tenant);
        Ok(())
    }

    async fn set_grants(&self, tenant: &str, id: &str, grants: &[Grant]) -> StoreResult<()> {
        let mut state = self.lock();
        let roles = &mut state.roles;
        roles.changeable(tenant, id)?;
        let set: BTreeSet<Grant> = grants.iter().cloned().collect();
        if set.is_empty() {
            roles.grants.remove(id);
        } else {
            roles.grants.insert(id.to_owned(), set);
        }
        roles.bump(tenant);
        Ok(())
    }

    async fn child_roles(
        &self,
        tenant: &str,
        namespace: &str,
        parent_slug: &str,
    ) -> StoreResult<Vec<RoleRecord>> {
        let state = self.lock();
        let mut list: Vec<RoleRecord> = state
            .roles
            .roles
            .values()
            .filter(|r| {
                r.tenant == tenant
                    && r.namespace == namespace
                    && r.parent.as_deref() == Some(parent_slug)
            })
            .cloned()
            .collect();
        list.sort_by(|a, b| a.slug.cmp(&b.slug));
        Ok(list)
    }

    async fn tenant_roles(&self, tenant: &str) -> StoreResult<TenantRoles> {
        let state = self.lock();
        let mut roles: Vec<RoleRecord> = state
            .roles
            .roles
            .values()
            .filter(|r| r.tenant == tenant)
            .cloned()
            .collect();
        roles.sort_by(by_place);
        let mut grants: Vec<(String, Grant)> = roles
            .iter()
            .flat_map(|role| {
                state
                    .roles
                    .grants
                    .get(&role.id)
                    .into_iter()
                    .flatten()
                    .map(|grant| (role.id.clone(), grant.clone()))
            })
            .collect();
        grants.sort();
        Ok(TenantRoles { roles, grants })
    }

    async fn delete_tenant(&self, tenant: &str) -> StoreResult<u64> {
        let mut state = self.lock();
        let roles = &mut state.roles;
        let ids: Vec<String> = roles
            .roles
            .values()
            .filter(|r| r.tenant == tenant)
            .map(|r| r.id.clone())
            .collect();
        for id in &ids {
            roles.roles.remove(id);
            roles.grants.remove(id);
        }
        roles.assignments.retain(|_, a| a.tenant != tenant);
        roles.members.retain(|(t, _, _), _| t != tenant);
        roles.subjects.retain(|(t, _), _| t != tenant);
        roles.bump(tenant);
        Ok(ids.len() as u64)
    }

    async fn tenant_version(&self, tenant: &str) -> StoreResult<u64> {
        Ok(self.lock().roles.versions.get(tenant).copied().unwrap_or(0))
    }
}

impl AssignmentStore for MemoryStore {
    async fn assign(&self, assignment: &AssignmentRecord, now: i64) -> StoreResult<()> {
        let a = normalised(assignment);
        let mut state = self.lock();
        let roles = &mut state.roles;
        let role = roles
            .role_in(&a.tenant, &a.role_id)
            .ok_or(StoreError::NotFound(NO_ROLE))?;
        // An expired assignment of the same key never grants again: renewing replaces it. Only
        // once the new one is sure to be written (the checks below), so a refusal changes
        // nothing.
        let twin = roles
            .assignments
            .values()
            .find(|b| {
                b.role_id == a.role_id
                    && b.subject_kind == a.subject_kind
                    && b.subject == a.subject
                    && b.resource_type == a.resource_type
                    && b.resource_id == a.resource_id
                    && !b.is_live(now)
            })
            .map(|b| b.id.clone());
        // The SQL backends' order: the limit, then the natural key, then the id.
        if !roles.has_room(role, a.subject_kind, &a.subject, now) {
            return Err(StoreError::Conflict(ROLE_FULL));
        }
        let live_twin = roles.holds_key(&a) && twin.is_none();
        if live_twin {
            return Err(StoreError::Conflict(ASSIGNED_TWICE));
        }
        if roles.assignments.contains_key(&a.id) {
            return Err(StoreError::Conflict("assignment id"));
        }
        if let Some(expired) = twin {
            roles.assignments.remove(&expired);
        }
        let tenant = a.tenant.clone();
        roles.assignments.insert(a.id.clone(), a);
        roles.bump(&tenant);
        Ok(())
    }

    async fn unassign(&self, tenant: &str, id: &str) -> StoreResult<()> {
        let mut state = self.lock();
        let roles = &mut state.roles;
        if roles.assignments.get(id).is_none_or(|a| a.tenant != tenant) {
            return Err(StoreError::NotFound(NO_ASSIGNMENT));
        }
        roles.assignments.remove(id);
        roles.bump(tenant);
        Ok(())
    }

    async fn assignment(&self, tenant: &str, id: &str) -> StoreResult<Option<AssignmentRecord>> {
        Ok(self
            .lock()
            .roles
            .assignments
            .get(id)
            .filter(|a| a.tenant == tenant)
            .cloned())
    }

    async fn assignments(&self, filter: &AssignmentFilter) -> StoreResult<Vec<AssignmentRecord>> {
        let state = self.lock();
        Ok(state
            .roles
            .sorted_assignments(|a| filter.matches(a))
            .into_iter()
            .skip(filter.offset as usize)
            .take(filter.limit as usize)
            .collect())
    }

    async fn assignments_of(&self, tenant: &str, user: &str) -> StoreResult<Vec<AssignmentRecord>> {
        let state = self.lock();
        let roles = &state.roles;
        let member_of = |group: &str| {
            roles
                .members
                .contains_key(&(tenant.to_owned(), group.to_owned(), user.to_owned()))
        };
        Ok(roles.sorted_assignments(|a| {
            a.tenant == tenant
                && match a.subject_kind {
                    SubjectKind::User => a.subject == user,
                    SubjectKind::Group => member_of(&a.subject),
                }
        }))
    }

    async fn assignments_of_roles(
        &self,
        tenant: &str,
        role_ids: &[String],
    ) -> StoreResult<Vec<AssignmentRecord>> {
        let state = self.lock();
        Ok(state
            .roles
            .sorted_assignments(|a| a.tenant == tenant && role_ids.contains(&a.role_id)))
    }

    async fn add_member(
        &self,
        tenant: &str,
        group: &str,
        subject: &str,
        at: i64,
    ) -> StoreResult<()> {
        let mut state = self.lock();
        let roles = &mut state.roles;
        roles
            .members
            .entry((tenant.to_owned(), group.to_owned(), subject.to_owned()))
            .or_insert(at);
        roles.bump(tenant);
        Ok(())
    }

    async fn remove_member(&self, tenant: &str, group: &str, subject: &str) -> StoreResult<()> {
        let mut state = self.lock();
        let roles = &mut state.roles;
        roles
            .members
            .remove(&(tenant.to_owned(), group.to_owned(), subject.to_owned()));
        roles.bump(tenant);
        Ok(())
    }

    async fn groups_of(&self, tenant: &str, subject: &str) -> StoreResult<Vec<String>> {
        Ok(self.lock().roles.groups_of(tenant, subject))
    }

    async fn members(&self, tenant: &str, group: &str) -> StoreResult<Vec<String>> {
        let state = self.lock();
        Ok(state
            .roles
            .members
            .keys()
            .filter(|(t, g, _)| t == tenant && g == group)
            .map(|(_, _, subject)| subject.clone())
            .collect())
    }

    async fn groups(&self, tenant: &str) -> StoreResult<Vec<(String, i64)>> {
        let state = self.lock();
        let mut groups: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
        for ((t, group, _), added_at) in &state.roles.members {
            if t == tenant {
                let since = groups.entry(group.as_str()).or_insert(*added_at);
                *since = (*since).min(*added_at);
            }
        }
        Ok(groups
            .into_iter()
            .take(super::super::roles::MAX_GROUPS_LISTED)
            .map(|(group, since)| (group.to_owned(), since))
            .collect())
    }

    async fn first_sight(
        &self,
        tenant: &str,
        user: &str,
        now: i64,
    ) -> StoreResult<Vec<AssignmentRecord>> {
        let mut state = self.lock();
        let roles = &mut state.roles;
        let key = (tenant.to_owned(), user.to_owned());
        if roles.subjects.contains_key(&key) {
            return Ok(Vec::new());
        }
        let mut defaults: Vec<&RoleRecord> = roles
            .roles
            .values()
            .filter(|r| r.tenant == tenant && r.is_default)
            .collect();
        defaults.sort_by(|a, b| by_place(a, b));
        let mut made = Vec::new();
        for role in defaults {
            let assignment = AssignmentRecord {
                // Drawn before anything changes: no randomness means no change at all.
                id: new_id("asg")?,
                tenant: tenant.to_owned(),
                role_id: role.id.clone(),
                subject_kind: SubjectKind::User,
                subject: user.to_owned(),
                resource_type: None,
                resource_id: None,
                granted_by: DEFAULT_GRANTOR.to_owned(),
                created_at: now,
                expires_at: None,
            };
            // A full default role is left out; one the user was given before being seen is
            // kept as it is.
            if roles.has_room(role, SubjectKind::User, user, now) && !roles.holds_key(&assignment) {
                made.push(assignment);
            }
        }
        roles.subjects.insert(key, now);
        for assignment in &made {
            roles
                .assignments
                .insert(assignment.id.clone(), assignment.clone());
        }
        roles.bump(tenant);
        Ok(made)
    }
}

impl ActionStore for MemoryStore {
    async fn register_actions(
        &self,
        service: &str,
        actions: &[(String, Option<String>)],
        at: i64,
    ) -> StoreResult<()> {
        let mut state = self.lock();
        for (action, description) in actions {
            let record = state
                .roles
                .actions
                .entry((service.to_owned(), action.clone()))
                .or_insert_with(|| ActionRecord {
                    service: service.to_owned(),
                    action: action.clone(),
                    description: None,
                    registered_at: at,
                    updated_at: at,
                });
            record.updated_at = at;
            if description.is_some() {
                record.description.clone_from(description);
            }
        }
        Ok(())
    }

    async fn actions(&self, service: Option<&str>) -> StoreResult<Vec<ActionRecord>> {
        let state = self.lock();
        Ok(state
            .roles
            .actions
            .values()
            .filter(|a| service.is_none_or(|s| a.service == s))
            .cloned()
            .collect())
    }
}
