//! Managing the tenant role model: roles, grants, assignments, groups, actions, and the
//! questions an administrator asks (`who_can`). Every input is checked here, bounded, before it
//! reaches a store; every write moves the tenant's generation once the store returned, so the
//! next check in this process sees it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::graph::applies;
use super::{Tenancy, TenantStore};
use crate::authz::{Resource, Scope};
use crate::error::Requirement;
use crate::rbac::{Action, PermissionSet};
use crate::store::StoreError;
use crate::store::roles::{
    self, ActionRecord, AssignmentFilter, AssignmentRecord, Grant, RoleFilter, RoleRecord,
    SubjectKind, new_id,
};

/// Most grants a role may have.
pub const MAX_GRANTS_PER_ROLE: usize = 512;
/// Largest metadata object of a role, serialised, in bytes.
pub const MAX_METADATA_BYTES: usize = 8 * 1024;
/// Longest role name, in bytes.
pub const MAX_ROLE_NAME_BYTES: usize = 128;
/// Longest role description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 1024;
/// Longest subject or group id, and `granted_by`, in bytes.
pub const MAX_SUBJECT_BYTES: usize = 256;
/// Most actions one registration may carry.
pub const MAX_ACTIONS_PER_REGISTRATION: usize = 1000;
/// Most items a listing returns at once.
pub const MAX_PAGE: u32 = 1000;

/// What a management call could not do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantError {
    /// A field is malformed or out of bounds (400).
    #[error("{field}: {message}")]
    InvalidInput {
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// No such role, assignment or parent (404; a missing parent is 400 on the routes).
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// A role with that slug exists in the namespace, or the subject holds the role already
    /// (409).
    #[error("already exists: {0}")]
    Duplicate(&'static str),
    /// The parent would make a cycle (409).
    #[error("the parent would make a cycle")]
    Cycle,
    /// The parent would make a chain deeper than allowed (409).
    #[error("the role hierarchy would be deeper than 16 roles")]
    TooDeep,
    /// System roles never change (409).
    #[error("a system role cannot be changed")]
    SystemRole,
    /// The role has `max_members` members (409).
    #[error("the role has as many members as it may have")]
    RoleFull,
    /// Other roles inherit from this one (409).
    #[error("other roles inherit from this role")]
    HasChildren,
    /// The store could not answer (503).
    #[error("temporarily unavailable")]
    Unavailable,
}

impl From<StoreError> for TenantError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(roles::ROLE_CYCLE) => Self::Cycle,
            StoreError::Conflict(roles::ROLE_TOO_DEEP) => Self::TooDeep,
            StoreError::Conflict(roles::SYSTEM_ROLE) => Self::SystemRole,
            StoreError::Conflict(roles::ROLE_FULL) => Self::RoleFull,
            StoreError::Conflict(roles::ROLE_HAS_CHILDREN) => Self::HasChildren,
            StoreError::Conflict(what) => Self::Duplicate(what),
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Unavailable(error) => {
                tracing::warn!(%error, "tenant role store unavailable");
                Self::Unavailable
            }
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> TenantError {
    TenantError::InvalidInput {
        field,
        message: message.into(),
    }
}

/// A role to create.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    /// The namespace path; empty (the default) for the tenant's root.
    #[serde(default)]
    pub namespace: String,
    /// `^[a-z][a-z0-9-]{0,62}$`, unique in the tenant and namespace.
    pub slug: String,
    /// A name for people (the slug when empty).
    #[serde(default)]
    pub name: String,
    /// What the role is for.
    #[serde(default)]
    pub description: String,
    /// The slug of the role it inherits from, in the same namespace.
    #[serde(default)]
    pub parent: Option<String>,
    /// A system role never changes once created. Set from code only, never from a request
    /// body: an immutable role made by a delegated administrator could not be undone.
    #[serde(skip)]
    pub is_system: bool,
    /// Given to credentials of the tenant the first time they are seen.
    #[serde(default)]
    pub is_default: bool,
    /// Most members at once: users or groups holding it (a group counts as one member,
    /// whatever its size).
    #[serde(default)]
    pub max_members: Option<u32>,
    /// Anything to keep with the role (at most [`MAX_METADATA_BYTES`]).
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Permission grants (`read:Catalog`).
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Action grants (`reports:export`, `reports:*`).
    #[serde(default)]
    pub actions: Vec<String>,
    /// Grants already parsed (from code).
    #[serde(skip)]
    pub grants: Vec<Grant>,
}

impl NewRole {
    /// A role `slug` at `namespace` (`""` for the root).
    pub fn new(namespace: &str, slug: &str) -> Self {
        Self {
            namespace: namespace.into(),
            slug: slug.into(),
            ..Self::default()
        }
    }

    /// Names it.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// Describes it.
    pub fn describe(mut self, description: &str) -> Self {
        self.description = description.into();
        self
    }

    /// Inherits from the role `slug` of the same namespace.
    pub fn parent(mut self, slug: &str) -> Self {
        self.parent = Some(slug.into());
        self
    }

    /// Makes it a system role (it never changes once created).
    pub fn system(mut self) -> Self {
        self.is_system = true;
        self
    }

    /// Makes it a default role.
    pub fn default_role(mut self) -> Self {
        self.is_default = true;
        self
    }

    /// Limits its members.
    pub fn max_members(mut self, max: u32) -> Self {
        self.max_members = Some(max);
        self
    }

    /// Adds a grant.
    pub fn grant(mut self, grant: Grant) -> Self {
        self.grants.push(grant);
        self
    }
}

/// A change to a role: each field that is set replaces the stored one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleUpdate {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
    /// A new parent (`Some(None)` makes it a root; JSON `null`).
    #[serde(default, with = "double_option")]
    pub parent: Option<Option<String>>,
    /// Whether it is a default role.
    #[serde(default)]
    pub is_default: Option<bool>,
    /// A new member limit (`Some(None)` removes it).
    #[serde(default, with = "double_option")]
    pub max_members: Option<Option<u32>>,
    /// New metadata.
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

/// `Option<Option<T>>` from JSON: absent is `None`, `null` is `Some(None)`.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// An assignment to make.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAssignment {
    /// The role's id.
    pub role_id: String,
    /// User or group.
    pub subject_kind: SubjectKind,
    /// The user's or group's id.
    pub subject: String,
    /// Only for this resource type.
    #[serde(default)]
    pub resource_type: Option<String>,
    /// Only for this resource (needs `resource_type`).
    #[serde(default)]
    pub resource_id: Option<String>,
    /// When it stops granting (seconds since the epoch; must be in the future).
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Who makes it (the routes set the caller).
    #[serde(default)]
    pub granted_by: String,
}

impl NewAssignment {
    /// Role `role_id` to a subject.
    pub fn new(role_id: &str, kind: SubjectKind, subject: &str) -> Self {
        Self {
            role_id: role_id.into(),
            subject_kind: kind,
            subject: subject.into(),
            resource_type: None,
            resource_id: None,
            expires_at: None,
            granted_by: String::new(),
        }
    }

    /// Only for resources of `kind`, or the one resource `id` of it.
    pub fn for_resource(mut self, kind: &str, id: Option<&str>) -> Self {
        self.resource_type = Some(kind.into());
        self.resource_id = id.map(Into::into);
        self
    }

    /// Until `at` (seconds since the epoch).
    pub fn expires_at(mut self, at: i64) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Records who made it.
    pub fn granted_by(mut self, who: &str) -> Self {
        self.granted_by = who.into();
        self
    }
}

/// An action a service declares, with what it lets a user do.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewAction {
    /// `^[a-z][a-z0-9_.:-]*$`.
    pub action: String,
    /// For people.
    #[serde(default)]
    pub description: Option<String>,
}

/// A subject that holds a requirement ([`Tenancy::who_can`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// User or group.
    pub subject_kind: SubjectKind,
    /// Its id.
    pub subject: String,
    /// The role it holds (slug), then each parent down to the one with the grant.
    pub path: Vec<String>,
    /// The namespace the role is held at.
    pub namespace: String,
    /// The grant that meets the requirement (empty for a role requirement).
    pub grant: String,
    /// The assignment.
    pub assignment_id: String,
    /// Until when, if it ends.
    pub expires_at: Option<i64>,
    /// Only for this resource type, if so.
    pub resource_type: Option<String>,
    /// Only for this resource, if so.
    pub resource_id: Option<String>,
}

fn check_tenant(tenant: &str) -> Result<(), TenantError> {
    Scope::tenant(tenant)
        .map(drop)
        .map_err(|e| invalid("tenant", e.to_string()))
}

fn check_namespace(namespace: &str) -> Result<(), TenantError> {
    if namespace.is_empty() {
        return Ok(());
    }
    Scope::tenant("t")
        .and_then(|s| s.in_namespace(namespace))
        .map(drop)
        .map_err(|e| invalid("namespace", e.to_string()))
}

fn check_slug(field: &'static str, slug: &str) -> Result<(), TenantError> {
    if crate::authz::is_slug(slug) {
        Ok(())
    } else {
        Err(invalid(
            field,
            "a lowercase letter then up to 62 of `a-z`, `0-9`, `-`",
        ))
    }
}

fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), TenantError> {
    if text.len() > max {
        return Err(invalid(field, format!("at most {max} bytes")));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(field, "no control characters"));
    }
    Ok(())
}

/// A subject, group or grantor id: 1 to 256 printable ASCII characters.
fn check_id(field: &'static str, id: &str) -> Result<(), TenantError> {
    if id.is_empty() || id.len() > MAX_SUBJECT_BYTES || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(field, "1 to 256 printable ASCII characters"));
    }
    Ok(())
}

fn check_metadata(metadata: &Map<String, Value>) -> Result<(), TenantError> {
    let bytes = serde_json::to_vec(metadata).map_or(usize::MAX, |v| v.len());
    if bytes > MAX_METADATA_BYTES {
        return Err(invalid(
            "metadata",
            format!("at most {MAX_METADATA_BYTES} bytes of JSON"),
        ));
    }
    Ok(())
}

fn check_max_members(max: Option<u32>) -> Result<(), TenantError> {
    if max == Some(0) {
        return Err(invalid(
            "max_members",
            "at least 1 (leave it out for no limit)",
        ));
    }
    Ok(())
}

/// Parses the text grants of a role and adds the parsed ones; at most [`MAX_GRANTS_PER_ROLE`].
fn grants_of(
    permissions: &[String],
    actions: &[String],
    parsed: &[Grant],
) -> Result<Vec<Grant>, TenantError> {
    if permissions.len() + actions.len() + parsed.len() > MAX_GRANTS_PER_ROLE {
        return Err(invalid(
            "permissions",
            format!("at most {MAX_GRANTS_PER_ROLE} grants"),
        ));
    }
    let mut grants = parsed.to_vec();
    for text in permissions {
        let p = text.parse().map_err(|e: crate::rbac::GrammarError| {
            invalid("permissions", format!("{text:?}: {e}"))
        })?;
        grants.push(Grant::Permission(p));
    }
    for text in actions {
        let a = crate::rbac::ActionGrant::parse(text)
            .map_err(|e| invalid("actions", format!("{text:?}: {e}")))?;
        grants.push(Grant::Action(a));
    }
    grants.sort();
    grants.dedup();
    Ok(grants)
}

/// The grants of a role to create, parsed and checked.
pub(crate) fn parsed_grants(new: &NewRole) -> Result<Vec<Grant>, TenantError> {
    grants_of(&new.permissions, &new.actions, &new.grants)
}

impl<S: TenantStore> Tenancy<S> {
    /// Creates a role with its grants. A system role can only get its grants here.
    pub async fn create_role(&self, tenant: &str, new: NewRole) -> Result<RoleRecord, TenantError> {
        check_tenant(tenant)?;
        check_namespace(&new.namespace)?;
        check_slug("slug", &new.slug)?;
        if let Some(parent) = &new.parent {
            check_slug("parent", parent)?;
        }
        check_text("name", &new.name, MAX_ROLE_NAME_BYTES)?;
        check_text("description", &new.description, MAX_DESCRIPTION_BYTES)?;
        check_metadata(&new.metadata)?;
        check_max_members(new.max_members)?;
        let grants = grants_of(&new.permissions, &new.actions, &new.grants)?;
        let now = self.now();
        let record = RoleRecord {
            id: new_id("rol")?,
            tenant: tenant.into(),
            namespace: new.namespace,
            name: if new.name.is_empty() {
                new.slug.clone()
            } else {
                new.name
            },
            slug: new.slug,
            description: new.description,
            parent: new.parent,
            is_system: new.is_system,
            is_default: new.is_default,
            max_members: new.max_members,
            metadata: new.metadata,
            created_at: now,
            updated_at: now,
        };
        let created = self.inner.store.create_role(&record, &grants).await;
        self.roles_changed(tenant);
        created?;
        Ok(record)
    }

    /// Installs spanforge's standard role set, as system roles ([`standard_roles`](crate::actors::standard_roles):
    /// the ten actors of [`STANDARD_ROLE_MATRIX`](crate::actors::STANDARD_ROLE_MATRIX) as a
    /// hierarchy) at a namespace of the tenant, so that holding `admin` is holding `viewer`,
    /// `editor` and `admin`, as the matrix says. A role whose slug the namespace already has is
    /// left as it is; returns the roles created.
    pub async fn install_standard_roles(
        &self,
        tenant: &str,
        namespace: &str,
    ) -> Result<Vec<RoleRecord>, TenantError> {
        let mut created = Vec::new();
        // Parents come before their children in the set.
        for standard in crate::actors::standard_roles() {
            if self
                .role_by_slug(tenant, namespace, standard.slug)
                .await?
                .is_some()
            {
                continue;
            }
            // System roles: a standard set does not change, and its names are authority for
            // role requirements (spanforge's `authorize`).
            let mut new = NewRole::new(namespace, standard.slug)
                .name(standard.name)
                .describe(standard.description)
                .system();
            new.parent = standard.parent.map(str::to_owned);
            new.permissions = standard
                .permissions
                .iter()
                .map(|p| (*p).to_owned())
                .collect();
            new.actions = standard.actions.iter().map(|a| (*a).to_owned()).collect();
            match self.create_role(tenant, new).await {
                Ok(role) => created.push(role),
                // Made meanwhile by another caller: left as it is.
                Err(TenantError::Duplicate(_)) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(created)
    }

    /// The role with this id in the tenant.
    pub async fn role(&self, tenant: &str, id: &str) -> Result<Option<RoleRecord>, TenantError> {
        check_tenant(tenant)?;
        check_id("id", id)?;
        Ok(self.inner.store.role(tenant, id).await?)
    }

    /// The role with this slug in the tenant and namespace.
    pub async fn role_by_slug(
        &self,
        tenant: &str,
        namespace: &str,
        slug: &str,
    ) -> Result<Option<RoleRecord>, TenantError> {
        check_tenant(tenant)?;
        check_namespace(namespace)?;
        Ok(self
            .inner
            .store
            .role_by_slug(tenant, namespace, slug)
            .await?)
    }

    /// Changes a role (see [`RoleUpdate`]); refused for system roles. Only the fields the change
    /// sets are written: it is applied to the role as stored and written only if nobody changed
    /// the role meanwhile (else read again and re-applied, a few times), so two administrators
    /// changing different fields at once both keep their change.
    pub async fn update_role(
        &self,
        tenant: &str,
        id: &str,
        change: RoleUpdate,
    ) -> Result<RoleRecord, TenantError> {
        check_tenant(tenant)?;
        check_id("id", id)?;
        check_change(&change)?;
        let mut attempts = 0;
        loop {
            let read = self
                .inner
                .store
                .role(tenant, id)
                .await?
                .ok_or(TenantError::NotFound(roles::NO_ROLE))?;
            if read.is_system {
                return Err(TenantError::SystemRole);
            }
            let mut role = read.clone();
            apply(&mut role, &change);
            role.updated_at = self.now();
            let updated = self.inner.store.update_role(&role, Some(&read)).await;
            self.roles_changed(tenant);
            match updated {
                Err(StoreError::Conflict(roles::ROLE_CHANGED)) if attempts < 4 => attempts += 1,
                other => {
                    other?;
                    return Ok(role);
                }
            }
        }
    }

    /// Deletes a role with its grants and assignments; refused for system roles and for roles
    /// others inherit from.
    pub async fn delete_role(&self, tenant: &str, id: &str) -> Result<(), TenantError> {
        check_tenant(tenant)?;
        check_id("id", id)?;
        let deleted = self.inner.store.delete_role(tenant, id).await;
        self.roles_changed(tenant);
        Ok(deleted?)
    }

    /// The roles passing `filter` (its limit at most [`MAX_PAGE`]).
    pub async fn list_roles(&self, mut filter: RoleFilter) -> Result<Vec<RoleRecord>, TenantError> {
        check_filter(&mut filter)?;
        Ok(self.inner.store.list_roles(&filter).await?)
    }

    /// How many roles pass `filter`.
    pub async fn count_roles(&self, mut filter: RoleFilter) -> Result<u64, TenantError> {
        check_filter(&mut filter)?;
        Ok(self.inner.store.count_roles(&filter).await?)
    }

    /// A role's grants, sorted.
    pub async fn role_grants(&self, tenant: &str, id: &str) -> Result<Vec<Grant>, TenantError> {
        check_tenant(tenant)?;
        check_id("id", id)?;
        Ok(self.inner.store.role_grants(tenant, id).await?)
    }

    /// Adds a grant to a role.
    pub async fn attach_grant(
        &self,
        tenant: &str,
        id: &str,
        grant: &Grant,
    ) -> Result<(), TenantError> {
        check_tenant(tenant)?;
        check_id("id", id)?;
        let done = self.inner.store.attach_grant(tenant, id, grant).await;
        self.roles_changed(tenant);
        Ok(done?)
    }

    /// Removes a grant from a role.
    pub async fn detach_grant(
        &self,
        tenant: &str,
        id: &str,
        grant: &Grant,
    ) -> Result<(), TenantError> {
        check_tenant(tenant)?;
        check_id("id", id)?;
        let done = self.inner.store.detach_grant(tenant, id, grant).await;
        self.roles_changed(tenant);
        Ok(done?)
    }

    /// Replaces every grant of a role.
    pub async fn set_grants(
        &self,
        tenant: &str,
        id: &str,
        grants: &[Grant],
    ) -> Result<(), TenantError> {
        check_tenant(tenant)?;
        check_id("id", id)?;
        let grants = grants_of(&[], &[], grants)?;
        let done = self.inner.store.set_grants(tenant, id, &grants).await;
        self.roles_changed(tenant);
        Ok(done?)
    }

    /// The roles inheriting from `parent_slug` in the tenant and namespace.
    pub async fn child_roles(
        &self,
        tenant: &str,
        namespace: &str,
        parent_slug: &str,
    ) -> Result<Vec<RoleRecord>, TenantError> {
        check_tenant(tenant)?;
        check_namespace(namespace)?;
        Ok(self
            .inner
            .store
            .child_roles(tenant, namespace, parent_slug)
            .await?)
    }

    /// Deletes everything of a tenant (roles, grants, assignments, groups, first sightings);
    /// returns how many roles went.
    pub async fn delete_tenant(&self, tenant: &str) -> Result<u64, TenantError> {
        check_tenant(tenant)?;
        let deleted = self.inner.store.delete_tenant(tenant).await;
        self.roles_changed(tenant);
        // Subjects are new to the tenant again (their first sight gives default roles anew).
        self.inner.seen.retain(|(t, _), _| &**t != tenant);
        Ok(deleted?)
    }

    /// Assigns a role to a user or group.
    pub async fn assign(
        &self,
        tenant: &str,
        new: NewAssignment,
    ) -> Result<AssignmentRecord, TenantError> {
        check_tenant(tenant)?;
        check_id("subject", &new.subject)?;
        check_id("role_id", &new.role_id)?;
        let granted_by = if new.granted_by.is_empty() {
            "unknown".to_owned()
        } else {
            new.granted_by
        };
        check_id("granted_by", &granted_by)?;
        match (&new.resource_type, &new.resource_id) {
            (None, Some(_)) => return Err(invalid("resource_id", "needs a resource_type")),
            (Some(kind), id) => {
                Resource::new(kind, id.as_deref())
                    .map_err(|e| invalid("resource_type", e.to_string()))?;
            }
            (None, None) => {}
        }
        let now = self.now();
        if new.expires_at.is_some_and(|at| at <= now) {
            return Err(invalid("expires_at", "must be in the future"));
        }
        let record = AssignmentRecord {
            id: new_id("asg")?,
            tenant: tenant.into(),
            role_id: new.role_id,
            subject_kind: new.subject_kind,
            subject: new.subject,
            resource_type: new.resource_type,
            resource_id: new.resource_id,
            granted_by,
            created_at: now,
            expires_at: new.expires_at,
        };
        let done = self.inner.store.assign(&record, now).await;
        self.assignments_changed(tenant);
        done?;
        Ok(record)
    }

    /// Deletes an assignment.
    pub async fn unassign(&self, tenant: &str, id: &str) -> Result<(), TenantError> {
        check_tenant(tenant)?;
        check_id("id", id)?;
        let done = self.inner.store.unassign(tenant, id).await;
        self.assignments_changed(tenant);
        Ok(done?)
    }

    /// The assignment with this id.
    pub async fn assignment(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<AssignmentRecord>, TenantError> {
        check_tenant(tenant)?;
        check_id("id", id)?;
        Ok(self.inner.store.assignment(tenant, id).await?)
    }

    /// The assignments passing `filter` (its limit at most [`MAX_PAGE`]).
    pub async fn assignments(
        &self,
        mut filter: AssignmentFilter,
    ) -> Result<Vec<AssignmentRecord>, TenantError> {
        check_tenant(&filter.tenant)?;
        filter.limit = filter.limit.min(MAX_PAGE);
        Ok(self.inner.store.assignments(&filter).await?)
    }

    /// Makes `subject` a member of `group` in the tenant.
    pub async fn add_member(
        &self,
        tenant: &str,
        group: &str,
        subject: &str,
    ) -> Result<(), TenantError> {
        check_tenant(tenant)?;
        check_id("group", group)?;
        check_id("subject", subject)?;
        let done = self
            .inner
            .store
            .add_member(tenant, group, subject, self.now())
            .await;
        self.assignments_changed(tenant);
        Ok(done?)
    }

    /// Ends a membership.
    pub async fn remove_member(
        &self,
        tenant: &str,
        group: &str,
        subject: &str,
    ) -> Result<(), TenantError> {
        check_tenant(tenant)?;
        check_id("group", group)?;
        check_id("subject", subject)?;
        let done = self.inner.store.remove_member(tenant, group, subject).await;
        self.assignments_changed(tenant);
        Ok(done?)
    }

    /// The members of a group.
    pub async fn members(&self, tenant: &str, group: &str) -> Result<Vec<String>, TenantError> {
        check_tenant(tenant)?;
        check_id("group", group)?;
        Ok(self.inner.store.members(tenant, group).await?)
    }

    /// The groups of the tenant that have members, each with when its earliest member still
    /// there was added (at most [`MAX_GROUPS_LISTED`](crate::store::roles::MAX_GROUPS_LISTED)).
    pub async fn groups(&self, tenant: &str) -> Result<Vec<(String, i64)>, TenantError> {
        check_tenant(tenant)?;
        Ok(self.inner.store.groups(tenant).await?)
    }

    /// The groups a subject is a member of.
    pub async fn groups_of(&self, tenant: &str, subject: &str) -> Result<Vec<String>, TenantError> {
        check_tenant(tenant)?;
        check_id("subject", subject)?;
        Ok(self.inner.store.groups_of(tenant, subject).await?)
    }

    /// Registers a service's actions (Sentinel's `register_actions`): idempotent; registering a
    /// known action again updates its description (or keeps it when none is given). One bad
    /// name registers nothing.
    pub async fn register_actions(
        &self,
        service: &str,
        actions: &[NewAction],
    ) -> Result<(), TenantError> {
        let service_ok = !service.is_empty()
            && service.len() <= 64
            && service.as_bytes()[0].is_ascii_lowercase()
            && service
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !service_ok {
            return Err(invalid(
                "service",
                "a lowercase letter then up to 63 of `a-z`, `0-9`, `-`, `_`",
            ));
        }
        if actions.len() > MAX_ACTIONS_PER_REGISTRATION {
            return Err(invalid(
                "actions",
                format!("at most {MAX_ACTIONS_PER_REGISTRATION} at once"),
            ));
        }
        let mut checked = Vec::with_capacity(actions.len());
        for new in actions {
            Action::parse(&new.action)
                .map_err(|e| invalid("action", format!("{:?}: {e}", new.action)))?;
            if let Some(description) = &new.description {
                check_text("description", description, 512)?;
            }
            checked.push((new.action.clone(), new.description.clone()));
        }
        Ok(self
            .inner
            .store
            .register_actions(service, &checked, self.now())
            .await?)
    }

    /// The actions registered by `service`, or by every service.
    pub async fn actions(&self, service: Option<&str>) -> Result<Vec<ActionRecord>, TenantError> {
        Ok(self.inner.store.actions(service).await?)
    }

    /// Who holds `required` at (tenant, namespace) through stored assignments: each subject
    /// (user or group) with the role it holds, the path down to the grant, and the assignment.
    /// For admin screens and access reviews. Roles that credentials carry themselves (token
    /// claims) are not stored and cannot be listed; a group is listed as itself (its members
    /// are [`members`](Self::members)).
    pub async fn who_can(
        &self,
        required: &Requirement,
        tenant: &str,
        namespace: &str,
    ) -> Result<Vec<Holder>, TenantError> {
        check_tenant(tenant)?;
        check_namespace(namespace)?;
        let now = self.now();
        let graph = self.graph(tenant, self.stripe(tenant), now).await?;
        // Every role that applies here and meets the requirement through its chain.
        let mut candidates = Vec::new();
        for (node, role) in graph.nodes.iter().zip(0u32..) {
            if !applies(&node.namespace, namespace) {
                continue;
            }
            let set = PermissionSet::holding(graph.index.clone(), node.chain.iter().copied());
            let found = match required {
                Requirement::Permission(p) => set
                    .explain(p)
                    .map(|m| (m.role().map(str::to_owned), m.grant().to_owned())),
                Requirement::Action(a) => set
                    .explain_action(a)
                    .map(|m| (m.role().map(str::to_owned), m.grant().to_owned())),
                Requirement::Roles(wanted) => wanted
                    .iter()
                    .all(|w| node.chain.iter().any(|&r| graph.is_named(r, w)))
                    .then(|| (None, String::new())),
                Requirement::Access(_) => None,
            };
            if let Some((by, grant)) = found {
                let to = by
                    .and_then(|slug| {
                        node.chain
                            .iter()
                            .copied()
                            .find(|&r| *graph.node(r).slug == *slug)
                    })
                    .unwrap_or(role);
                let path = graph.path(role, to).unwrap_or_default();
                candidates.push((node.id.to_string(), (role, path, grant)));
            }
        }
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = candidates.iter().map(|(id, _)| id.clone()).collect();
        let by_role: std::collections::HashMap<String, (u32, Vec<Box<str>>, String)> =
            candidates.into_iter().collect();
        let assignments = self.inner.store.assignments_of_roles(tenant, &ids).await?;
        let mut holders: Vec<Holder> = assignments
            .into_iter()
            .filter(|a| a.is_live(now))
            .filter_map(|a| {
                let (role, path, grant) = by_role.get(&a.role_id)?;
                Some(Holder {
                    subject_kind: a.subject_kind,
                    subject: a.subject,
                    path: path.iter().map(|s| s.to_string()).collect(),
                    namespace: graph.node(*role).namespace.to_string(),
                    grant: grant.clone(),
                    assignment_id: a.id,
                    expires_at: a.expires_at,
                    resource_type: a.resource_type,
                    resource_id: a.resource_id,
                })
            })
            .collect();
        holders.sort_by(|a, b| {
            (a.subject_kind, &a.subject, &a.path, &a.assignment_id).cmp(&(
                b.subject_kind,
                &b.subject,
                &b.path,
                &b.assignment_id,
            ))
        });
        Ok(holders)
    }
}

/// Checks every field a role change sets.
fn check_change(change: &RoleUpdate) -> Result<(), TenantError> {
    if let Some(name) = &change.name {
        check_text("name", name, MAX_ROLE_NAME_BYTES)?;
    }
    if let Some(description) = &change.description {
        check_text("description", description, MAX_DESCRIPTION_BYTES)?;
    }
    if let Some(Some(slug)) = &change.parent {
        check_slug("parent", slug)?;
    }
    if let Some(max) = change.max_members {
        check_max_members(max)?;
    }
    if let Some(metadata) = &change.metadata {
        check_metadata(metadata)?;
    }
    Ok(())
}

/// Sets what the change sets (already checked).
fn apply(role: &mut RoleRecord, change: &RoleUpdate) {
    if let Some(name) = &change.name {
        role.name.clone_from(name);
    }
    if let Some(description) = &change.description {
        role.description.clone_from(description);
    }
    if let Some(parent) = &change.parent {
        role.parent.clone_from(parent);
    }
    if let Some(is_default) = change.is_default {
        role.is_default = is_default;
    }
    if let Some(max) = change.max_members {
        role.max_members = max;
    }
    if let Some(metadata) = &change.metadata {
        role.metadata.clone_from(metadata);
    }
}

fn check_filter(filter: &mut RoleFilter) -> Result<(), TenantError> {
    check_tenant(&filter.tenant)?;
    if let Some(namespace) = &filter.namespace {
        check_namespace(namespace)?;
    }
    if let Some(prefix) = &filter.namespace_prefix {
        check_namespace(prefix)?;
    }
    if let Some(parent) = &filter.parent {
        check_slug("parent", parent)?;
    }
    if let Some(search) = &filter.search {
        check_text("search", search, 128)?;
    }
    filter.limit = filter.limit.min(MAX_PAGE);
    Ok(())
}
