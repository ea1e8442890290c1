//! Roles and the role policy that compiles them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// A role combination as the cache knows it: the sorted, distinct indexes of its known roles.
type Combination = Box<[u32]>;

/// Weighs a cached combination: its role indexes and the compiled set.
#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<Combination, Arc<PermissionSet>> for ByBytes {
    fn weight(&self, roles: &Combination, set: &Arc<PermissionSet>) -> u64 {
        (std::mem::size_of_val::<[u32]>(roles) + set.approx_bytes()) as u64
    }
}

type CombinationCache = quick_cache::sync::Cache<
    Combination,
    Arc<PermissionSet>,
    ByBytes,
    foldhash::fast::RandomState,
    quick_cache::sync::DefaultLifecycle<Combination, Arc<PermissionSet>>,
>;

/// Ids of built policies: never reused, so a context's remembered permissions can name the
/// policy that resolved them (see [`RolePolicy::id`]).
static NEXT_POLICY_ID: AtomicU64 = AtomicU64::new(1);

/// Default number of distinct role combinations whose compiled sets are cached.
const DEFAULT_COMBINATION_CACHE: u64 = 10_000;

/// The roles an application knows, compiled: turns a subject's role names into a shared
/// [`PermissionSet`].
///
/// Starts with the built-in roles; a custom role of the same name replaces the built-in one.
/// Each role is compiled once when the policy is built; a combination of several roles is compiled
/// on first use and cached by the indexes of its known roles, so resolving a role list costs one
/// look-up per name and, for several roles, one more in the combination cache. Unknown role
/// names grant nothing and are dropped before any cache sees them. As the gateway's enricher,
/// the policy also remembers its answer in the context itself, so a context that the bearer or
/// API-key cache hands out again resolves with a comparison and a reference count.
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
    id: u64,
    roles: HashMap<String, Role>,
    /// Role name → index into `compiled`.
    index: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    compiled: Box<[Arc<PermissionSet>]>,
    combinations: CombinationCache,
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

    /// This policy's id: unique among the policies built in this process, shared by clones.
    pub(crate) fn id(&self) -> u64 {
        self.inner.id
    }

    /// The compiled permission set of a role list, in any order, with or without duplicates;
    /// names the policy does not know are ignored.
    pub fn permissions_for(&self, roles: &[String]) -> Arc<PermissionSet> {
        let inner = &*self.inner;
        let known = |name: &String| inner.index.get(name.as_str()).copied();
        match roles {
            [] => inner.empty.clone(),
            [one] => match known(one) {
                Some(i) => inner.compiled[i as usize].clone(),
                None => inner.empty.clone(),
            },
            many => {
                let mut ids: Vec<u32> = many.iter().filter_map(known).collect();
                ids.sort_unstable();
                ids.dedup();
                match ids.as_slice() {
                    [] => inner.empty.clone(),
                    [one] => inner.compiled[*one as usize].clone(),
                    several => {
                        if let Some(hit) = inner.combinations.get(several) {
                            return hit;
                        }
                        let set = Arc::new(self.compile_with(many, std::iter::empty()));
                        inner.combinations.insert(ids.into(), set.clone());
                        set
                    }
                }
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
        let compiled: Box<[Arc<PermissionSet>]> = self
            .roles
            .iter()
            .map(|r| {
                let set = PermissionSet::compile(
                    r.permissions.iter().cloned(),
                    r.actions.iter().cloned(),
                );
                Arc::new(set)
            })
            .collect();
        let index = self
            .roles
            .iter()
            .zip(0u32..)
            .map(|(r, i)| (r.name.as_str().into(), i))
            .collect();
        let roles = self
            .roles
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        let max_bytes = self.cache_capacity.saturating_mul(COMBINATION_BUDGET_BYTES);
        let combinations = CombinationCache::with(
            usize::try_from(self.cache_capacity)
                .unwrap_or(usize::MAX)
                .max(16),
            max_bytes,
            ByBytes,
            foldhash::fast::RandomState::default(),
            quick_cache::sync::DefaultLifecycle::default(),
        );
        RolePolicy {
            inner: Arc::new(PolicyInner {
                id: NEXT_POLICY_ID.fetch_add(1, Ordering::Relaxed),
                roles,
                index,
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
        // A hundred roles of one grant each; combinations of twenty compile to sets of about
        // 3.7 KB, so a cache of 2 × 4 KiB holds two at most.
        let roles = (0..100).map(|r| {
            Role::new(format!("r{r}"))
                .grant(&format!("read:Domain{r}"))
                .unwrap_or_else(|e| panic!("{e}"))
        });
        let policy = RolePolicy::builder()
            .roles(roles)
            .combination_cache(2)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let bound = 2 * COMBINATION_BUDGET_BYTES;
        for i in 0..40 {
            let roles: Vec<String> = (0..20).map(|r| format!("r{}", (i + r * 3) % 100)).collect();
            let set = policy.permissions_for(&roles);
            assert!(set.allows(&p(&format!("read:Domain{}", i % 100))));
        }
        // Counted from what the cache holds, not from its own weights, so that a cache
        // counting entries (it would keep all forty) fails here.
        let held: u64 = policy
            .inner
            .combinations
            .iter()
            .map(|(_, set)| set.approx_bytes() as u64)
            .sum();
        assert!(held > 0, "a combination that fits is kept");
        assert!(held <= bound, "{held} bytes of sets held, bound {bound}");
        // A small combination still fits and is served from the cache.
        let small = names(&["editor", "viewer"]);
        let first = policy.permissions_for(&small);
        assert!(Arc::ptr_eq(&first, &policy.permissions_for(&small)));
    }

    #[test]
    fn unknown_roles_never_reach_the_cache() {
        let policy = RolePolicy::default();
        for i in 0..40 {
            let roles: Vec<String> = (0..64).map(|r| format!("{i:032}{r:032}")).collect();
            assert!(
                policy.permissions_for(&roles).is_empty(),
                "unknown roles grant nothing"
            );
        }
        assert_eq!(policy.inner.combinations.len(), 0);
        // Unknown names beside one known role resolve to that role's own compiled set.
        let viewer = policy.permissions_for(&names(&["viewer"]));
        let mixed = policy.permissions_for(&names(&["nobody", "viewer", "viewer", "ghost"]));
        assert!(Arc::ptr_eq(&viewer, &mixed));
        assert_eq!(policy.inner.combinations.len(), 0);
        // Order and duplicates do not make a second entry.
        let a = policy.permissions_for(&names(&["viewer", "editor"]));
        let b = policy.permissions_for(&names(&["editor", "viewer", "editor"]));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(policy.inner.combinations.len(), 1);
    }

    #[test]
    fn each_built_policy_has_its_own_id() {
        let one = RolePolicy::default();
        let two = RolePolicy::default();
        assert_ne!(one.id(), two.id());
        assert_eq!(one.id(), one.clone().id());
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
