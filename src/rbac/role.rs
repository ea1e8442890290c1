//! Roles and the role policy that compiles them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::grammar::GrammarError;
use super::index::GrantIndex;
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

/// Ids of built policies: never reused, so a context's remembered permissions can name the
/// policy that resolved them (see [`RolePolicy::id`]).
static NEXT_POLICY_ID: AtomicU64 = AtomicU64::new(1);

/// The roles an application knows, compiled: turns a subject's role names into a shared
/// [`PermissionSet`].
///
/// Starts with the built-in roles; a custom role of the same name replaces the built-in one.
/// Every role's grants are compiled once, when the policy is built, into one index shared by
/// every set the policy hands out; resolving a role list costs one look-up per name and builds
/// no index, whatever the combination of roles (so no combination can make the policy grow).
/// Unknown role names grant nothing and are dropped. As the gateway's enricher,
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
    /// Role name → the role's index in `grants`.
    index: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    grants: Arc<GrantIndex>,
    /// The set of each role alone, by index.
    single: Box<[Arc<PermissionSet>]>,
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
                Some(i) => inner.single[i as usize].clone(),
                None => inner.empty.clone(),
            },
            many => {
                let set =
                    PermissionSet::holding(inner.grants.clone(), many.iter().filter_map(known));
                match set.only_role() {
                    _ if set.is_empty() => inner.empty.clone(),
                    Some(one) => inner.single[one as usize].clone(),
                    None => Arc::new(set),
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
}

impl Default for RolePolicyBuilder {
    fn default() -> Self {
        Self {
            roles: Role::builtins(),
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

    /// Checks every role name and compiles the policy.
    pub fn build(self) -> Result<RolePolicy, RoleError> {
        for role in &self.roles {
            check_role_name(&role.name)?;
        }
        Ok(self.build_unchecked())
    }

    fn build_unchecked(self) -> RolePolicy {
        let grants = Arc::new(GrantIndex::compile(self.roles.iter().map(|r| {
            (
                Some(r.name.as_str().into()),
                r.permissions.clone(),
                r.actions.clone(),
            )
        })));
        let single = (0u32..)
            .take(self.roles.len())
            .map(|i| Arc::new(PermissionSet::holding(grants.clone(), [i])))
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
        RolePolicy {
            inner: Arc::new(PolicyInner {
                id: NEXT_POLICY_ID.fetch_add(1, Ordering::Relaxed),
                roles,
                index,
                grants,
                single,
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
    fn combinations_are_the_union_of_their_roles() {
        let policy = RolePolicy::builder()
            .role(
                Role::new("reviewer")
                    .grant("write:Catalog.Review")
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let set = policy.permissions_for(&names(&["reviewer", "viewer"]));
        assert!(set.allows(&p("read:Commerce")));
        assert!(set.allows(&p("write:Catalog.Review")));
        assert!(!set.allows(&p("write:Catalog.Book")));
        let listed: Vec<&str> = set.permissions().iter().map(Permission::as_str).collect();
        assert_eq!(listed, ["read:*", "write:Catalog.Review"]);
    }

    #[test]
    fn no_combination_compiles_anything() {
        // A hundred roles; a thousand distinct combinations of twenty resolve over the one index
        // the policy built, so no mix of role lists makes the policy hold more memory.
        let roles = (0..100).map(|r| {
            Role::new(format!("r{r}"))
                .grant(&format!("read:Domain{r}"))
                .unwrap_or_else(|e| panic!("{e}"))
        });
        let policy = RolePolicy::builder()
            .roles(roles)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        for i in 0..1000 {
            let held: Vec<usize> = (0..20).map(|r| (i * 7 + r * 3) % 100).collect();
            let roles: Vec<String> = held.iter().map(|r| format!("r{r}")).collect();
            let set = policy.permissions_for(&roles);
            assert!(set.made_from(&policy.inner.grants));
            for r in 0..100 {
                let wanted = p(&format!("read:Domain{r}.Entity"));
                assert_eq!(set.allows(&wanted), held.contains(&r), "r{r} in {roles:?}");
            }
        }
    }

    #[test]
    fn roles_past_the_sixty_fourth_are_told_apart() {
        // Role indexes 64 and up are kept outside the one-word set: a subject holding r100
        // must get r100's grant and no other's.
        let roles = (0..200).map(|r| {
            Role::new(format!("r{r}"))
                .grant(&format!("write:Domain{}", r % 150))
                .unwrap_or_else(|e| panic!("{e}"))
        });
        let policy = RolePolicy::builder()
            .without_builtins()
            .roles(roles)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        for held in [[100, 180], [3, 199], [64, 65], [63, 64]] {
            let set = policy.permissions_for(&held.map(|r| format!("r{r}")));
            for r in 0..200 {
                let wanted = p(&format!("write:Domain{}.Entity", r % 150));
                let expected = held.iter().any(|h| h % 150 == r % 150);
                assert_eq!(set.allows(&wanted), expected, "r{r} for {held:?}");
            }
            let why = set
                .explain(&p(&format!("write:Domain{}.X", held[1] % 150)))
                .unwrap_or_else(|| panic!("{held:?} allowed"));
            assert_eq!(why.grant(), format!("write:Domain{}", held[1] % 150));
        }
    }

    #[test]
    fn explain_names_the_role_and_grant() {
        let policy = RolePolicy::builder()
            .role(
                Role::new("reviewer")
                    .grant("write:Catalog.Review")
                    .and_then(|r| r.grant("*:Commerce.Cart"))
                    .and_then(|r| r.grant_action("reports:*"))
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let set = policy.permissions_for(&names(&["reviewer", "editor"]));
        let why = |text: &str| {
            set.explain(&p(text))
                .map(|m| (m.role().map(str::to_owned), m.grant().to_owned()))
        };
        let owned = |role: &str, grant: &str| Some((Some(role.to_owned()), grant.to_owned()));
        assert_eq!(why("write:Catalog.Review.Text"), owned("editor", "write:*"));
        assert_eq!(
            why("delete:Commerce.Cart.Line"),
            owned("reviewer", "*:Commerce.Cart")
        );
        assert_eq!(why("delete:Commerce"), None);
        let admin = policy.permissions_for(&names(&["admin"]));
        let m = admin
            .explain(&p("*:*"))
            .unwrap_or_else(|| panic!("admin has *:*"));
        assert_eq!((m.role(), m.grant()), (Some("admin"), "*:*"));
        let own = PermissionSet::compile([p("read:Catalog")], []);
        let m = own
            .explain(&p("read:Catalog.Book"))
            .unwrap_or_else(|| panic!("granted"));
        assert_eq!((m.role(), m.grant()), (None, "read:Catalog"));
    }

    #[test]
    fn unknown_roles_grant_nothing_and_compile_nothing() {
        let policy = RolePolicy::default();
        for i in 0..40 {
            let roles: Vec<String> = (0..64).map(|r| format!("{i:032}{r:032}")).collect();
            let set = policy.permissions_for(&roles);
            assert!(set.is_empty(), "unknown roles grant nothing");
            assert!(Arc::ptr_eq(&set, &policy.inner.empty));
        }
        // Unknown names beside one known role resolve to that role's own set.
        let viewer = policy.permissions_for(&names(&["viewer"]));
        let mixed = policy.permissions_for(&names(&["nobody", "viewer", "viewer", "ghost"]));
        assert!(Arc::ptr_eq(&viewer, &mixed));
        // Order and duplicates do not change the answer.
        let a = policy.permissions_for(&names(&["viewer", "editor"]));
        let b = policy.permissions_for(&names(&["editor", "viewer", "editor"]));
        assert_eq!(a.permissions(), b.permissions());
        assert!(a.allows(&p("write:X")) && b.allows(&p("write:X")));
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
