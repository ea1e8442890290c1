//! The tenant role model's storage (Warden's role store, Sentinel's actions): roles per
//! (tenant, namespace) with their grants, assignments of roles to users and groups, group
//! memberships, first sight of a subject in a tenant, and the actions services declare.
//!
//! Three narrow traits, beside the identity's: [`RoleStore`], [`AssignmentStore`] and
//! [`ActionStore`]. The rules that must hold however many writers race are enforced here, inside
//! one transaction per write (a per-tenant lock row on SQL backends, the one mutex in memory), and
//! not by the engine above: a role's parent exists and makes neither a cycle nor a chain deeper
//! than [`MAX_ROLE_DEPTH`] (checked by [`check_hierarchy`], the one implementation every backend
//! calls), a system role never changes, and a role with `max_members` never gets one more member.
//! The shape of each value (slugs, lengths, grant grammar) is checked by the engine before it
//! reaches a store (`crate::tenant`), so a store trusts it.
//!
//! Every write to a tenant bumps its version ([`RoleStore::tenant_version`]), which other
//! instances can compare to learn that their caches are stale.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::StoreResult;
use crate::rbac::{ActionGrant, Permission};

/// The longest chain of roles, a role and its ancestors: a role may have up to 15 ancestors.
pub const MAX_ROLE_DEPTH: usize = 16;

/// [`StoreError::Conflict`](super::StoreError::Conflict): a role with this slug exists in the
/// tenant and namespace.
pub const ROLE_SLUG_TAKEN: &str = "role slug";
/// [`StoreError::Conflict`](super::StoreError::Conflict): the parent would make a cycle.
pub const ROLE_CYCLE: &str = "role cycle";
/// [`StoreError::Conflict`](super::StoreError::Conflict): the parent would make a chain longer
/// than [`MAX_ROLE_DEPTH`] (for the role or one of its descendants).
pub const ROLE_TOO_DEEP: &str = "role depth";
/// [`StoreError::Conflict`](super::StoreError::Conflict): a system role cannot be changed,
/// deleted, or have its grants changed.
pub const SYSTEM_ROLE: &str = "system role";
/// [`StoreError::Conflict`](super::StoreError::Conflict): the role has `max_members` live members.
pub const ROLE_FULL: &str = "role full";
/// [`StoreError::Conflict`](super::StoreError::Conflict): other roles name this one as their
/// parent; delete or re-parent them first.
pub const ROLE_HAS_CHILDREN: &str = "role has children";
/// [`StoreError::Conflict`](super::StoreError::Conflict): the subject already holds the role for
/// the same resource.
pub const ASSIGNED_TWICE: &str = "assignment";
/// [`StoreError::Conflict`](super::StoreError::Conflict): the role changed since the caller read
/// it (see [`RoleStore::update_role`]).
pub const ROLE_CHANGED: &str = "role changed";
/// [`StoreError::NotFound`](super::StoreError::NotFound): no role with this id in the tenant.
pub const NO_ROLE: &str = "role";
/// [`StoreError::NotFound`](super::StoreError::NotFound): the parent slug names no role of the
/// tenant and namespace.
pub const NO_PARENT: &str = "parent role";
/// [`StoreError::NotFound`](super::StoreError::NotFound): no assignment with this id in the tenant.
pub const NO_ASSIGNMENT: &str = "assignment";

/// Who granted the assignments [`AssignmentStore::first_sight`] makes.
pub const DEFAULT_GRANTOR: &str = "system:default-role";

/// A role of a tenant, at a namespace of it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRecord {
    /// Random, stable id (`rol_…`).
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// The namespace path (`engineering/platform`); empty for the tenant's root.
    pub namespace: String,
    /// `^[a-z][a-z0-9-]{0,62}$`, unique per (tenant, namespace); never changes.
    pub slug: String,
    /// A name for people.
    pub name: String,
    /// What the role is for.
    pub description: String,
    /// The slug of the role this one inherits from, in the same tenant and namespace.
    pub parent: Option<String>,
    /// A system role never changes: updates, deletion and grant changes are refused.
    pub is_system: bool,
    /// Given to a subject the first time it is seen in the tenant.
    pub is_default: bool,
    /// Most subjects (users or groups) holding the role at once; `None` for no limit.
    pub max_members: Option<u32>,
    /// Anything the application keeps with the role (a JSON object).
    pub metadata: Map<String, Value>,
    /// When it was created (seconds since the epoch).
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

impl fmt::Debug for RoleRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoleRecord")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("namespace", &self.namespace)
            .field("slug", &self.slug)
            .field("parent", &self.parent)
            .field("is_system", &self.is_system)
            .field("is_default", &self.is_default)
            .field("max_members", &self.max_members)
            .finish_non_exhaustive()
    }
}

/// What a role grants: a permission (`read:Catalog`) or an action grant (`reports:export`,
/// `reports:*`, `*`). Kept apart because the two grammars overlap (`reports:export` is both a
/// permission and an action), so a grant's natural key is its kind and its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grant {
    /// A permission grant.
    Permission(Permission),
    /// An action grant.
    Action(ActionGrant),
}

impl Grant {
    /// `permission` or `action`: the kind as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Permission(_) => "permission",
            Self::Action(_) => "action",
        }
    }

    /// The grant's text.
    pub fn text(&self) -> &str {
        match self {
            Self::Permission(p) => p.as_str(),
            Self::Action(a) => a.as_str(),
        }
    }

    /// Parses a stored (kind, text) pair; `None` if either is not valid.
    pub fn from_parts(kind: &str, text: &str) -> Option<Self> {
        match kind {
            "permission" => Permission::parse(text).ok().map(Self::Permission),
            "action" => ActionGrant::parse(text).ok().map(Self::Action),
            _ => None,
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.text())
    }
}

/// Which roles [`RoleStore::list_roles`] and [`RoleStore::count_roles`] return: those of one
/// tenant, narrowed by every field that is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleFilter {
    /// The tenant (required).
    pub tenant: String,
    /// Exactly this namespace (`""` for the root).
    pub namespace: Option<String>,
    /// This namespace and every namespace below it (`engineering` matches `engineering` and
    /// `engineering/platform`, not `engineering-eu`); `""` matches every namespace.
    pub namespace_prefix: Option<String>,
    /// System roles only (`true`) or none of them (`false`).
    pub system: Option<bool>,
    /// Default roles only, or none of them.
    pub default: Option<bool>,
    /// Roles whose parent is this slug.
    pub parent: Option<String>,
    /// Roles whose slug, name or description contains this text, ignoring ASCII case.
    pub search: Option<String>,
    /// Most roles to return (`list_roles` only); 0 means none.
    pub limit: u32,
    /// Roles to skip first, in the listing's order (namespace, then slug).
    pub offset: u32,
}

impl RoleFilter {
    /// Every role of `tenant`, the first `limit` of them.
    pub fn tenant(tenant: &str, limit: u32) -> Self {
        Self {
            tenant: tenant.to_owned(),
            limit,
            ..Self::default()
        }
    }

    /// Whether `role` passes the filter (what every backend's query must agree with; the memory
    /// store uses it as is).
    pub fn matches(&self, role: &RoleRecord) -> bool {
        let in_prefix = |prefix: &str| {
            prefix.is_empty()
                || role.namespace == prefix
                || role
                    .namespace
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        let contains = |text: &str, needle: &str| {
            text.to_ascii_lowercase()
                .contains(&needle.to_ascii_lowercase())
        };
        role.tenant == self.tenant
            && self.namespace.as_ref().is_none_or(|n| &role.namespace == n)
            && self.namespace_prefix.as_deref().is_none_or(in_prefix)
            && self.system.is_none_or(|s| role.is_system == s)
            && self.default.is_none_or(|d| role.is_default == d)
            && self
                .parent
                .as_ref()
                .is_none_or(|p| role.parent.as_ref() == Some(p))
            && self.search.as_deref().is_none_or(|needle| {
                contains(&role.slug, needle)
                    || contains(&role.name, needle)
                    || contains(&role.description, needle)
            })
    }
}

/// Every role of a tenant with its grants: what the engine compiles (two queries on SQL
/// backends, never one per role).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantRoles {
    /// The roles, by namespace then slug.
    pub roles: Vec<RoleRecord>,
    /// (role id, grant) for every grant of those roles.
    pub grants: Vec<(String, Grant)>,
}

/// A user or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A user (a context's subject).
    User,
    /// A group of the tenant: its members hold what it holds.
    Group,
}

impl SubjectKind {
    /// `user` or `group`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
        }
    }

    /// Parses a stored kind.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(Self::User),
            "group" => Some(Self::Group),
            _ => None,
        }
    }
}

/// A role given to a user or group of a tenant, at the role's namespace, optionally only for one
/// type of resource or one resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AssignmentRecord {
    /// Random, stable id (`asg_…`).
    pub id: String,
    /// The tenant (the role's).
    pub tenant: String,
    /// The role's id.
    pub role_id: String,
    /// User or group.
    pub subject_kind: SubjectKind,
    /// The user's or group's id.
    pub subject: String,
    /// Only for resources of this type (`document`), when set.
    pub resource_type: Option<String>,
    /// Only for this resource of `resource_type`, when set (never without a type).
    pub resource_id: Option<String>,
    /// Who made the assignment (a subject id, or [`DEFAULT_GRANTOR`]).
    pub granted_by: String,
    /// When (seconds since the epoch).
    pub created_at: i64,
    /// When it stops granting, if it does: from then on it never grants.
    pub expires_at: Option<i64>,
}

impl AssignmentRecord {
    /// Whether the assignment still grants at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// Which assignments [`AssignmentStore::assignments`] lists: those of one tenant, narrowed by
/// every field that is set, ordered by creation time then id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentFilter {
    /// The tenant (required).
    pub tenant: String,
    /// Of this role.
    pub role_id: Option<String>,
    /// To this subject (with its kind).
    pub subject: Option<(SubjectKind, String)>,
    /// Most to return; 0 means none.
    pub limit: u32,
    /// How many to skip first.
    pub offset: u32,
}

impl AssignmentFilter {
    /// Whether `a` passes the filter.
    pub fn matches(&self, a: &AssignmentRecord) -> bool {
        a.tenant == self.tenant
            && self.role_id.as_ref().is_none_or(|r| &a.role_id == r)
            && self
                .subject
                .as_ref()
                .is_none_or(|(kind, id)| a.subject_kind == *kind && &a.subject == id)
    }
}

/// An action a service declared (Sentinel's `register_actions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// The service that declared it.
    pub service: String,
    /// The action name (`reports:export`).
    pub action: String,
    /// What it lets a user do.
    pub description: Option<String>,
    /// When it was first registered.
    pub registered_at: i64,
    /// When it was last registered again.
    pub updated_at: i64,
}

/// Most groups [`AssignmentStore::groups`] lists.
pub const MAX_GROUPS_LISTED: usize = 1000;

/// Roles of tenants and their grants.
///
/// `tenant` arguments scope every read and write: a role id of another tenant is not found,
/// so a guessed id never reaches across tenants.
pub trait RoleStore: Send + Sync {
    /// Creates a role with its grants, in one transaction (a system role gets its grants here
    /// or never). [`ROLE_SLUG_TAKEN`] when the slug is taken in its tenant and namespace;
    /// [`NO_PARENT`] when the parent is not a role of the same tenant and namespace;
    /// [`ROLE_TOO_DEEP`] when the chain would be longer than [`MAX_ROLE_DEPTH`]. A conflict on
    /// the id is a [`StoreError::Conflict`](super::StoreError::Conflict) too.
    fn create_role(
        &self,
        role: &RoleRecord,
        grants: &[Grant],
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The role with this id in the tenant.
    fn role(
        &self,
        tenant: &str,
        id: &str,
    ) -> impl Future<Output = StoreResult<Option<RoleRecord>>> + Send;

    /// The role with this slug in the tenant and namespace.
    fn role_by_slug(
        &self,
        tenant: &str,
        namespace: &str,
        slug: &str,
    ) -> impl Future<Output = StoreResult<Option<RoleRecord>>> + Send;

    /// Replaces the role's name, description, parent, `is_default`, `max_members`, metadata and
    /// `updated_at` (found by tenant and id; the rest never changes). [`NO_ROLE`]; [`SYSTEM_ROLE`]
    /// when the stored role is a system role; for a new parent, [`NO_PARENT`], [`ROLE_CYCLE`]
    /// and [`ROLE_TOO_DEEP`] (the chain of every descendant counts). With `expected` (the role as
    /// the caller read it), [`ROLE_CHANGED`] when the stored role is no longer that, checked in
    /// the writing transaction: a change made on a stale read never undoes another writer's.
    fn update_role(
        &self,
        role: &RoleRecord,
        expected: Option<&RoleRecord>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Deletes the role with its grants and assignments. [`NO_ROLE`], [`SYSTEM_ROLE`],
    /// [`ROLE_HAS_CHILDREN`].
    fn delete_role(&self, tenant: &str, id: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// The roles passing `filter`, ordered by namespace then slug, a page at a time.
    fn list_roles(
        &self,
        filter: &RoleFilter,
    ) -> impl Future<Output = StoreResult<Vec<RoleRecord>>> + Send;

    /// How many roles pass `filter` (its limit and offset ignored).
    fn count_roles(&self, filter: &RoleFilter) -> impl Future<Output = StoreResult<u64>> + Send;

    /// The role's grants, sorted, in one query. [`NO_ROLE`] when the tenant has no such role.
    fn role_grants(
        &self,
        tenant: &str,
        id: &str,
    ) -> impl Future<Output = StoreResult<Vec<Grant>>> + Send;

    /// Adds a grant (nothing changes if the role has it). [`NO_ROLE`], [`SYSTEM_ROLE`].
    fn attach_grant(
        &self,
        tenant: &str,
        id: &str,
        grant: &Grant,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Removes a grant (nothing changes if the role lacks it). [`NO_ROLE`], [`SYSTEM_ROLE`].
    fn detach_grant(
        &self,
        tenant: &str,
        id: &str,
        grant: &Grant,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Replaces every grant of the role at once. [`NO_ROLE`], [`SYSTEM_ROLE`].
    fn set_grants(
        &self,
        tenant: &str,
        id: &str,
        grants: &[Grant],
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The roles whose parent is `parent_slug`, in the tenant and namespace, by slug.
    fn child_roles(
        &self,
        tenant: &str,
        namespace: &str,
        parent_slug: &str,
    ) -> impl Future<Output = StoreResult<Vec<RoleRecord>>> + Send;

    /// Every role of the tenant with its grants (see [`TenantRoles`]).
    fn tenant_roles(&self, tenant: &str) -> impl Future<Output = StoreResult<TenantRoles>> + Send;

    /// Deletes everything of the tenant: roles, grants, assignments, group memberships, first
    /// sightings. Returns how many roles went.
    fn delete_tenant(&self, tenant: &str) -> impl Future<Output = StoreResult<u64>> + Send;

    /// A number that every write to the tenant's roles, grants, assignments or groups increases
    /// (0 for a tenant never written).
    fn tenant_version(&self, tenant: &str) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// Assignments of roles to users and groups, group memberships, and first sight.
pub trait AssignmentStore: Send + Sync {
    /// Stores an assignment. [`NO_ROLE`] when the role is not the tenant's; [`ROLE_FULL`] when
    /// the role has `max_members` subjects with assignments live at `now` (a subject holding it
    /// twice, for two resources, counts once), checked and written atomically so that
    /// concurrent assignments cannot pass the limit together; [`ASSIGNED_TWICE`] when the
    /// subject holds the role for the same resource already.
    fn assign(
        &self,
        assignment: &AssignmentRecord,
        now: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Deletes an assignment. [`NO_ASSIGNMENT`].
    fn unassign(&self, tenant: &str, id: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// The assignment with this id in the tenant.
    fn assignment(
        &self,
        tenant: &str,
        id: &str,
    ) -> impl Future<Output = StoreResult<Option<AssignmentRecord>>> + Send;

    /// The assignments passing `filter`, by creation time then id, a page at a time.
    fn assignments(
        &self,
        filter: &AssignmentFilter,
    ) -> impl Future<Output = StoreResult<Vec<AssignmentRecord>>> + Send;

    /// Every assignment that reaches `user` in the tenant, expired ones included: the user's own
    /// and those of each group the user is a member of, in one query.
    fn assignments_of(
        &self,
        tenant: &str,
        user: &str,
    ) -> impl Future<Output = StoreResult<Vec<AssignmentRecord>>> + Send;

    /// Every assignment of any of these roles in the tenant, expired ones included.
    fn assignments_of_roles(
        &self,
        tenant: &str,
        role_ids: &[String],
    ) -> impl Future<Output = StoreResult<Vec<AssignmentRecord>>> + Send;

    /// Makes `subject` a member of the group (nothing changes if it is one).
    fn add_member(
        &self,
        tenant: &str,
        group: &str,
        subject: &str,
        at: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Ends a membership (nothing changes if there is none).
    fn remove_member(
        &self,
        tenant: &str,
        group: &str,
        subject: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The groups `subject` is a member of in the tenant, sorted.
    fn groups_of(
        &self,
        tenant: &str,
        subject: &str,
    ) -> impl Future<Output = StoreResult<Vec<String>>> + Send;

    /// The members of a group, sorted.
    fn members(
        &self,
        tenant: &str,
        group: &str,
    ) -> impl Future<Output = StoreResult<Vec<String>>> + Send;

    /// The groups of the tenant that have members, sorted, each with when its first member
    /// still there was added; at most [`MAX_GROUPS_LISTED`].
    fn groups(&self, tenant: &str) -> impl Future<Output = StoreResult<Vec<(String, i64)>>> + Send;

    /// Records that `user` was seen in the tenant. The first time only, and in the same
    /// transaction, it assigns the user every default role of the tenant (granted by
    /// [`DEFAULT_GRANTOR`], ids from [`new_id`]; a full default role is left out) and returns
    /// those assignments; every later call returns nothing and changes nothing, however many
    /// race.
    fn first_sight(
        &self,
        tenant: &str,
        user: &str,
        now: i64,
    ) -> impl Future<Output = StoreResult<Vec<AssignmentRecord>>> + Send;
}

/// The actions services declare.
pub trait ActionStore: Send + Sync {
    /// Registers actions of `service`: new ones are added; known ones keep their registration
    /// time and get the description given, or keep theirs when none is given. All or nothing.
    fn register_actions(
        &self,
        service: &str,
        actions: &[(String, Option<String>)],
        at: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The actions of one service, or of every service, by service then action.
    fn actions(
        &self,
        service: Option<&str>,
    ) -> impl Future<Output = StoreResult<Vec<ActionRecord>>> + Send;
}

/// A new random id with a prefix (`rol`, `asg`): the prefix, `_`, and 22 base64url characters
/// (128 random bits).
pub fn new_id(prefix: &str) -> Result<String, super::StoreError> {
    let random = crate::secret::random_id::<16>().map_err(|_| {
        super::StoreError::Unavailable("the system has no randomness for an id".into())
    })?;
    Ok(format!("{prefix}_{random}"))
}

/// Why a hierarchy change was refused by [`check_hierarchy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HierarchyError {
    /// The parent is not a role of the namespace ([`NO_PARENT`]).
    NoParent,
    /// The change would make a cycle ([`ROLE_CYCLE`]).
    Cycle,
    /// Some chain would be longer than [`MAX_ROLE_DEPTH`] ([`ROLE_TOO_DEEP`]).
    TooDeep,
}

impl From<HierarchyError> for super::StoreError {
    fn from(error: HierarchyError) -> Self {
        match error {
            HierarchyError::NoParent => Self::NotFound(NO_PARENT),
            HierarchyError::Cycle => Self::Conflict(ROLE_CYCLE),
            HierarchyError::TooDeep => Self::Conflict(ROLE_TOO_DEEP),
        }
    }
}

/// Whether giving role `slug` the parent `parent` keeps the hierarchy of one (tenant, namespace)
/// sound: `edges` is every role of that namespace as it is stored now, (slug, parent), read
/// inside the writing transaction; `slug` may be among them (an update) or not (a create).
///
/// Sound means: the parent exists, following parents from it never comes back to `slug`, and
/// no chain that passes through `slug` (its own, and that of each of its descendants) has more
/// than [`MAX_ROLE_DEPTH`] roles. Every backend calls this one function.
pub fn check_hierarchy(
    edges: &[(String, Option<String>)],
    slug: &str,
    parent: Option<&str>,
) -> Result<(), HierarchyError> {
    let Some(parent) = parent else {
        return check_depth(edges, slug, 1);
    };
    let parents: HashMap<&str, Option<&str>> = edges
        .iter()
        .map(|(s, p)| (s.as_str(), p.as_deref()))
        .collect();
    if !parents.contains_key(parent) {
        return Err(HierarchyError::NoParent);
    }
    // Up from the new parent: the chain above `slug`. Reaching `slug` is a cycle; the walk is
    // bounded (a stored hierarchy is sound, but a walk must not trust that to terminate).
    let mut above = 0;
    let mut at = Some(parent);
    while let Some(role) = at {
        if role == slug {
            return Err(HierarchyError::Cycle);
        }
        above += 1;
        if above >= MAX_ROLE_DEPTH {
            return Err(HierarchyError::TooDeep);
        }
        at = parents.get(role).copied().flatten();
    }
    check_depth(edges, slug, above + 1)
}

/// Whether `slug` at depth `depth` (1 for a root) leaves every descendant's chain within
/// [`MAX_ROLE_DEPTH`].
fn check_depth(
    edges: &[(String, Option<String>)],
    slug: &str,
    depth: usize,
) -> Result<(), HierarchyError> {
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for (child, parent) in edges {
        if let Some(parent) = parent
            && child != slug
        {
            children.entry(parent.as_str()).or_default().push(child);
        }
    }
    // Breadth first, level by level, from `slug` down.
    // Bounded by the depth limit even if stored data held a cycle below `slug`.
    let mut level = vec![slug];
    let mut depth = depth;
    while !level.is_empty() {
        if depth > MAX_ROLE_DEPTH {
            return Err(HierarchyError::TooDeep);
        }
        level = level
            .iter()
            .flat_map(|role| children.get(role).into_iter().flatten().copied())
            .collect();
        depth += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges(list: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        list.iter()
            .map(|(s, p)| ((*s).to_owned(), p.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn a_parent_must_exist_and_make_no_cycle() {
        let e = edges(&[("a", None), ("b", Some("a")), ("c", Some("b"))]);
        assert_eq!(check_hierarchy(&e, "d", Some("c")), Ok(()));
        assert_eq!(check_hierarchy(&e, "d", None), Ok(()));
        assert_eq!(
            check_hierarchy(&e, "d", Some("zz")),
            Err(HierarchyError::NoParent)
        );
        // a under c: a → c → b → a.
        assert_eq!(
            check_hierarchy(&e, "a", Some("c")),
            Err(HierarchyError::Cycle)
        );
        assert_eq!(
            check_hierarchy(&e, "a", Some("a")),
            Err(HierarchyError::Cycle)
        );
        // Re-parenting c under a is fine.
        assert_eq!(check_hierarchy(&e, "c", Some("a")), Ok(()));
    }

    #[test]
    fn no_chain_may_be_deeper_than_the_limit() {
        // A chain r0 ← r1 ← … ← r15: sixteen roles, the deepest allowed.
        let mut list: Vec<(String, Option<String>)> = vec![("r0".into(), None)];
        for i in 1..MAX_ROLE_DEPTH {
            list.push((format!("r{i}"), Some(format!("r{}", i - 1))));
        }
        let last = format!("r{}", MAX_ROLE_DEPTH - 1);
        assert_eq!(
            check_hierarchy(&list, "x", Some(&last)),
            Err(HierarchyError::TooDeep)
        );
        assert_eq!(check_hierarchy(&list, "x", Some("r14")), Ok(()));
        // A root "top" given as parent to r0 makes every chain one longer: r15's is 17.
        list.push(("top".into(), None));
        assert_eq!(
            check_hierarchy(&list, "r0", Some("top")),
            Err(HierarchyError::TooDeep)
        );
        // A subtree of depth 2 moved under r14 makes 15 + 2 = 17 too.
        let mut shallow = list.clone();
        shallow.push(("s".into(), None));
        shallow.push(("s1".into(), Some("s".into())));
        assert_eq!(
            check_hierarchy(&shallow, "s", Some("r14")),
            Err(HierarchyError::TooDeep)
        );
        assert_eq!(check_hierarchy(&shallow, "s", Some("r13")), Ok(()));
    }

    #[test]
    fn filters_match_namespace_prefixes_at_segment_boundaries() {
        let role = |namespace: &str| RoleRecord {
            id: "rol_x".into(),
            tenant: "acme".into(),
            namespace: namespace.into(),
            slug: "sre".into(),
            name: "Site Reliability".into(),
            description: "Keeps things up".into(),
            parent: None,
            is_system: false,
            is_default: false,
            max_members: None,
            metadata: Map::new(),
            created_at: 1,
            updated_at: 1,
        };
        let prefix = |p: &str| RoleFilter {
            namespace_prefix: Some(p.into()),
            ..RoleFilter::tenant("acme", 10)
        };
        assert!(prefix("engineering").matches(&role("engineering")));
        assert!(prefix("engineering").matches(&role("engineering/platform")));
        assert!(!prefix("engineering").matches(&role("engineering-eu")));
        assert!(!prefix("engineering").matches(&role("")));
        assert!(prefix("").matches(&role("")));
        let search = RoleFilter {
            search: Some("RELIAB".into()),
            ..RoleFilter::tenant("acme", 10)
        };
        assert!(search.matches(&role("")));
        assert!(!RoleFilter::tenant("globex", 10).matches(&role("")));
    }
}
