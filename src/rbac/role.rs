//! Roles and the role policy that compiles them.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::grammar::GrammarError;
use super::permission::{ActionGrant, Permission};
use super::set::PermissionSet;

/// Longest accepted role name, in bytes.
pub const MAX_ROLE_NAME_LEN: usize = 64;

/// A named bundle of permission and action grants.
///
/// ```
/// use portcullis::rbac::Role;
///
/// let customer = Role::new("customer")
///     .grant("read:Catalog")?
///     .grant("write:Catalog.Review")?
///     .grant_action("reports:export")?;
/// assert_eq!(customer.permissions().len(), 2);
/// # Ok::<(), portcullis::rbac::RoleError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default)]
    permissions: Vec<Permission>,
    #[serde(default)]
    actions: Vec<ActionGrant>,
}

/// Why a role definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoleError {
    /// A role name is empty, too long or has characters outside `[A-Za-z0-9_.:-]`.
    #[error("role name {0:?} is invalid: 1 to 64 bytes of letters, digits, `_`, `.`, `:` or `-`")]
    InvalidName(String),
    /// A permission or action grant does not follow the grammar.
    #[error("role {role:?}: {text:?}: {error}")]
    Grammar {
        /// The role being defined.
        role: String,
        /// The offending grant.
        text: String,
        /// What is wrong with it.
        error: GrammarError,
    },
    /// A role file could not be read or parsed.
    #[error("role file: {0}")]
    File(String),
}

pub(crate) fn check_role_name(name: &str) -> Result<(), RoleError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_ROLE_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(RoleError::InvalidName(name.chars().take(80).collect()))
    }
}

impl Role {
    /// A role with no grants. The name is checked when the role joins a [`RolePolicy`].
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: None,
            permissions: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// Adds a description.
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Adds a permission grant (`read:Catalog`), checked against the grammar.
    pub fn grant(mut self, permission: &str) -> Result<Self, RoleError> {
        let parsed = Permission::parse(permission).map_err(|error| RoleError::Grammar {
            role: self.name.clone(),
            text: permission.to_owned(),
            error,
        })?;
        self.permissions.push(parsed);
        Ok(self)
    }

    /// Adds an action grant (`reports:export`, `reports:*` or `*`), checked against the grammar.
    pub fn grant_action(mut self, action: &str) -> Result<Self, RoleError> {
        let parsed = ActionGrant::parse(action).map_err(|error| RoleError::Grammar {
            role: self.name.clone(),
            text: action.to_owned(),
            error,
        })?;
        self.actions.push(parsed);
        Ok(self)
    }

    /// Adds already-parsed grants.
    pub fn with_grants(
        mut self,
        permissions: impl IntoIterator<Item = Permission>,
        actions: impl IntoIterator<Item = ActionGrant>,
    ) -> Self {
        self.permissions.extend(permissions);
        self.actions.extend(actions);
        self
    }

    /// The role's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The role's description, if any.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The permission grants.
    pub fn permissions(&self) -> &[Permission] {
        &self.permissions
    }

    /// The action grants.
    pub fn actions(&self) -> &[ActionGrant] {
        &self.actions
    }

    /// The built-in roles: `admin` (`*:*` and every action), `editor` (`read:*`, `write:*`) and
    /// `viewer` (`read:*`).
    pub fn builtins() -> Vec<Role> {
        let grants = |list: &[&str]| -> Vec<Permission> {
            list.iter()
                .filter_map(|p| Permission::parse(p).ok())
                .collect()
        };
        vec![
            Role::new("admin")
                .describe("Everything: every action on every scope")
                .with_grants(grants(&["*:*"]), ActionGrant::parse("*").ok()),
            Role::new("editor")
                .describe("Read and write everything")
                .with_grants(grants(&["read:*", "write:*"]), []),
            Role::new("viewer")
                .describe("Read everything")
                .with_grants(grants(&["read:*"]), []),
        ]
    }
}

/// Memory budget of one cached role combination, in bytes (the cache's bound is the capacity times
/// this).
const COMBINATION_BUDGET_BYTES: u64 = 4096;

/// The weight of one cached combination: its role names (each with a `String`'s own size) and the
/// compiled set.
#[allow(clippy::borrowed_box)] // the weigher's signature is moka's: `&K`
fn weigh_combination(roles: &Box<[String]>, set: &Arc<PermissionSet>) -> u32 {
    let names: usize = roles
        .iter()
        .map(|r| r.len() + std::mem::size_of::<String>())
        .sum();
    u32::try_from(names + set.approx_bytes()).unwrap_or(u32::MAX)
}

/// Default number of distinct role combinations whose compiled sets are cached.
const DEFAULT_COMBINATION_CACHE: u64 = 10_000;

/// The roles an application knows, compiled: turns a subject's role names into a shared
/// [`PermissionSet`].
///
/// Starts with the built-in roles; a custom role of the same name replaces the built-in one.
/// Each role is compiled once when the policy is built; a combination of several roles is compiled
/// on first use and cached, so the request path does a map look-up and an `Arc` clone.
/// Unknown role names grant nothing.
///
/// ```
/// use portcullis::rbac::{Role, RolePolicy};
///
/// let policy = RolePolicy::builder()
///     .role(Role::new("customer").grant("read:Catalog")?.grant("write:Catalog.Review")?)
///     .build()?;
/// let set = policy.permissions_for(&["customer".to_owned()]);
/// assert!(set.allows(&"write:Catalog.Review".parse()?));
/// assert!(!set.allows(&"write:Catalog.Book".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RolePolicy {
    inner: Arc<PolicyInner>,
}

struct PolicyInner {
    roles: HashMap<String, Role>,
    compiled: HashMap<String, Arc<PermissionSet>>,
    combinations: moka::sync::Cache<Box<[String]>, Arc<PermissionSet>, foldhash::fast::RandomState>,
    empty: Arc<PermissionSet>,
}

impl Default for RolePolicy {
    /// The built-in roles only.
    fn default() -> Self {
        RolePolicyBuilder::default().build_unchecked()
    }
}

impl std::fmt::Debug for RolePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.inner.roles.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("RolePolicy").field("roles", &names).finish()
    }
}

impl RolePolicy {
    /// A builder starting from the built-in roles.
    pub fn builder() -> RolePolicyBuilder {
        RolePolicyBuilder::default()
    }

    /// The role with this name, if the policy knows it.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.inner.roles.get(name)
    }

    /// Every role the policy knows, sorted by name.
    pub fn roles(&self) -> Vec<&Role> {
        let mut roles: Vec<&Role> = self.inner.roles.values().collect();
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        roles
    }

    /// Action grants that match no action in `registry`: a start-up check for typos such as
    /// `report:export` where the service declared `reports:export`. `*` always matches.
    ///
    /// ```
    /// use portcullis::rbac::{ActionRegistry, Role, RolePolicy};
    ///
    /// let registry = ActionRegistry::new();
    /// registry.register([("reports:export", None)])?;
    /// let policy = RolePolicy::builder()
    ///     .role(Role::new("ops").grant_action("report:export")?)
    ///     .build()?;
    /// assert_eq!(policy.unmatched_action_grants(&registry), [("ops".to_owned(), "report:export".to_owned())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unmatched_action_grants(
        &self,
        registry: &super::ActionRegistry,
    ) -> Vec<(String, String)> {
        let mut unmatched: Vec<(String, String)> = self
            .inner
            .roles
            .values()
            .flat_map(|role| role.actions.iter().map(move |grant| (role, grant)))
            .filter(|(_, grant)| grant.as_str() != "*" && !registry.matches_any(grant))
            .map(|(role, grant)| (role.name.clone(), grant.as_str().to_owned()))
            .collect();
        unmatched.sort();
        unmatched
    }

    /// The compiled permission set of a role list. `roles` should be sorted and free of
    /// duplicates (as [`UserContext`](crate::UserContext) keeps them) for the cache to be shared
    /// between equal lists; an unsorted list still gets the right answer.
    pub fn permissions_for(&self, roles: &[String]) -> Arc<PermissionSet> {
        match roles {
            [] => self.inner.empty.clone(),
            [one] => self
                .inner
                .compiled
                .get(one)
                .cloned()
                .unwrap_or_else(|| self.inner.empty.clone()),
            many => {
                if let Some(hit) = self.inner.combinations.get(many) {
                    return hit;
                }
                let set = Arc::new(self.compile_with(many, std::iter::empty()));
                self.inner.combinations.insert(many.into(), set.clone());
                set
            }
        }
    }

    /// Compiles the grants of `roles` plus `extra` permission grants (for example the ones a
    /// trusted token carries). Not cached: the extras make each set its own.
    pub fn compile_with(
        &self,
        roles: &[String],
        extra: impl IntoIterator<Item = Permission>,
    ) -> PermissionSet {
        let known = roles.iter().filter_map(|r| self.inner.roles.get(r));
        let (mut permissions, mut actions) = (Vec::new(), Vec::new());
        for role in known {
            permissions.extend(role.permissions.iter().cloned());
            actions.extend(role.actions.iter().cloned());
        }
        permissions.extend(extra);
        PermissionSet::compile(permissions, actions)
    }
}

/// Builds a [`RolePolicy`].
#[derive(Debug)]
pub struct RolePolicyBuilder {
    roles: Vec<Role>,
    cache_capacity: u64,
}

impl Default for RolePolicyBuilder {
    fn default() -> Self {
        Self {
            roles: Role::builtins(),
            cache_capacity: DEFAULT_COMBINATION_CACHE,
        }
    }
}

impl RolePolicyBuilder {
    /// Starts without the built-in roles.
    pub fn without_builtins(mut self) -> Self {
        self.roles.clear();
        self
    }

    /// Adds a role; one with the name of an existing role replaces it.
    pub fn role(mut self, role: Role) -> Self {
        self.roles.retain(|r| r.name != role.name);
        self.roles.push(role);
        self
    }

    /// Adds several roles, each replacing any role of the same name.
    pub fn roles(self, roles: impl IntoIterator<Item = Role>) -> Self {
        roles.into_iter().fold(self, Self::role)
    }

    /// How many distinct multi-role combinations keep their compiled set cached (default 10,000).
    /// The cache is bounded in bytes, `capacity` × 4 KiB: combinations of many or large roles
    /// count for more, so no mix of role sets can make it hold more memory than that.
    pub fn combination_cache(mut self, capacity: u64) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Checks every role name and compiles the policy.
    pub fn build(self) -> Result<RolePolicy, RoleError> {
        for role in &self.roles {
            check_role_name(&role.name)?;
        }
        Ok(self.build_unchecked())
    }

    fn build_unchecked(self) -> RolePolicy {
        let compiled = self
            .roles
            .iter()
            .map(|r| {
                let set = PermissionSet::compile(
                    r.permissions.iter().cloned(),
                    r.actions.iter().cloned(),
                );
                (r.name.clone(), Arc::new(set))
            })
            .collect();
        let roles = self
            .roles
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        let combinations = moka::sync::Cache::builder()
            .max_capacity(self.cache_capacity.saturating_mul(COMBINATION_BUDGET_BYTES))
            .weigher(weigh_combination)
            .build_with_hasher(foldhash::fast::RandomState::default());
        RolePolicy {
            inner: Arc::new(PolicyInner {
                roles,
                compiled,
                combinations,
                empty: Arc::new(PermissionSet::empty()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn p(s: &str) -> Permission {
        Permission::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn builtins() {
        let policy = RolePolicy::default();
        let admin = policy.permissions_for(&names(&["admin"]));
        assert!(admin.allows(&p("delete:Catalog.Book")));
        let editor = policy.permissions_for(&names(&["editor"]));
        assert!(editor.allows(&p("write:Catalog.Review")));
        assert!(!editor.allows(&p("delete:Catalog")));
        let viewer = policy.permissions_for(&names(&["viewer"]));
        assert!(viewer.allows(&p("read:Catalog")));
        assert!(!viewer.allows(&p("write:Catalog")));
        assert!(policy.permissions_for(&names(&["nobody"])).is_empty());
        assert!(policy.permissions_for(&[]).is_empty());
    }

    #[test]
    fn custom_role_replaces_builtin() {
        let policy = RolePolicy::builder()
            .role(
                Role::new("viewer")
                    .grant("read:Catalog")
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let viewer = policy.permissions_for(&names(&["viewer"]));
        assert!(viewer.allows(&p("read:Catalog.Book")));
        assert!(
            !viewer.allows(&p("read:Commerce")),
            "the built-in read:* must be gone"
        );
    }

    #[test]
    fn combinations_union_and_cache() {
        let policy = RolePolicy::builder()
            .role(
                Role::new("reviewer")
                    .grant("write:Catalog.Review")
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let roles = names(&["reviewer", "viewer"]);
        let first = policy.permissions_for(&roles);
        assert!(first.allows(&p("read:Commerce")));
        assert!(first.allows(&p("write:Catalog.Review")));
        assert!(!first.allows(&p("write:Catalog.Book")));
        let second = policy.permissions_for(&roles);
        assert!(
            Arc::ptr_eq(&first, &second),
            "the second look-up must hit the cache"
        );
    }

    #[test]
    fn combination_cache_is_bounded_in_bytes() {
        let policy = RolePolicy::builder()
            .combination_cache(2)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let bound = 2 * COMBINATION_BUDGET_BYTES;
        // Long role lists count for their bytes, not as one entry each: forty lists of 100
        // 64-byte names would hold ~260 KiB if the cache counted entries.
        for i in 0..40 {
            let roles: Vec<String> = (0..100).map(|r| format!("{i:032}{r:032}")).collect();
            let set = policy.permissions_for(&roles);
            assert!(set.is_empty(), "unknown roles grant nothing");
        }
        policy.inner.combinations.run_pending_tasks();
        // Counted from what the cache holds, not from its own weights, so that a cache
        // counting entries fails here.
        let held: u64 = policy
            .inner
            .combinations
            .iter()
            .map(|(roles, _)| roles.iter().map(|r| r.len() as u64).sum::<u64>())
            .sum();
        assert!(
            held <= bound,
            "{held} bytes of role names held, bound {bound}"
        );
        // A small combination still fits and is served from the cache.
        let small = names(&["editor", "viewer"]);
        let first = policy.permissions_for(&small);
        policy.inner.combinations.run_pending_tasks();
        assert!(Arc::ptr_eq(&first, &policy.permissions_for(&small)));
    }

    #[test]
    fn bad_names_and_grants_refused() {
        assert!(RolePolicy::builder().role(Role::new("")).build().is_err());
        assert!(
            RolePolicy::builder()
                .role(Role::new("has space"))
                .build()
                .is_err()
        );
        assert!(
            RolePolicy::builder()
                .role(Role::new("x".repeat(65)))
                .build()
                .is_err()
        );
        assert!(Role::new("r").grant("read").is_err());
        assert!(Role::new("r").grant_action("Reports:Export").is_err());
    }
}
