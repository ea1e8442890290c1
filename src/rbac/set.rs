//! The compiled permission set: what one subject may do, in a shape that answers a check with a
//! few hash look-ups, whatever the number of grants.
//!
//! A set is a [`GrantIndex`] (every grant of a policy's roles, held once and shared) and the
//! roles the subject holds in it. [`PermissionSet::compile`] makes a set of its own: an index of
//! one role, held by the set. A [`RolePolicy`](super::RolePolicy) makes one index for all its
//! roles, so resolving a subject's role list builds no new index and copies no grant; the index
//! module says why.
//!
//! A set is the answer for one subject in one authorization scope. Today that scope is the
//! token's tenant; the multi-tenant role model resolves one per (tenant, namespace) with the
//! same type, so the request path stays the same when it arrives.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use super::index::{GrantIndex, Match};

/// The grant that answered an allowed check, and the role that holds it (see
/// [`PermissionSet::explain`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a> {
    role: Option<&'a str>,
    grant: String,
}

impl<'a> Matched<'a> {
    /// The role's name; `None` for a set made by [`PermissionSet::compile`], which has no roles.
    pub fn role(&self) -> Option<&'a str> {
        self.role
    }

    /// The grant as written: `read:Catalog`, `*:*`, `write:*`.
    pub fn grant(&self) -> &str {
        &self.grant
    }
}
use super::permission::{Action, ActionGrant, Permission};
use super::role_ids::Holder;

/// The grants of a set's roles, merged, sorted and de-duplicated.
#[derive(Clone, Default)]
struct Listed {
    permissions: Box<[Permission]>,
    actions: Box<[ActionGrant]>,
}

/// A compiled set of permission and action grants.
///
/// Made by a [`RolePolicy`](super::RolePolicy) for a subject's roles, or by
/// [`PermissionSet::compile`] from grants; shared behind an `Arc` by every request of the
/// subject. A check does no I/O, no allocation and no loop over grants.
///
/// ```
/// use portcullis::rbac::{Action, Permission, PermissionSet};
///
/// let set = PermissionSet::compile(
///     ["read:Catalog", "write:Catalog.Review"].iter().map(|p| p.parse().unwrap()),
///     ["reports:*".parse().unwrap()],
/// );
/// assert!(set.allows(&"read:Catalog.Book".parse()?));
/// assert!(set.allows(&"write:Catalog.Review".parse()?));
/// assert!(!set.allows(&"write:Catalog.Book".parse()?));
/// assert!(set.allows_action(&Action::parse("reports:export")?));
/// # Ok::<(), portcullis::rbac::GrammarError>(())
/// ```
#[derive(Clone)]
pub struct PermissionSet {
    index: Arc<GrantIndex>,
    /// The roles of `index` this set holds (never one without grants).
    holds: Holder,
    /// The grants listed by [`permissions`](Self::permissions) and [`actions`](Self::actions),
    /// merged on first ask: checks never need them.
    listed: OnceLock<Listed>,
}

impl Default for PermissionSet {
    fn default() -> Self {
        Self::empty()
    }
}

impl PermissionSet {
    /// The empty set: allows nothing.
    pub fn empty() -> Self {
        Self {
            index: Arc::default(),
            holds: Holder::default(),
            listed: OnceLock::from(Listed::default()),
        }
    }

    /// Compiles permission grants and action grants into a set.
    pub fn compile(
        permissions: impl IntoIterator<Item = Permission>,
        actions: impl IntoIterator<Item = ActionGrant>,
    ) -> Self {
        let index = GrantIndex::compile([(
            None,
            permissions.into_iter().collect(),
            actions.into_iter().collect(),
        )]);
        Self::holding(Arc::new(index), [0])
    }

    /// The set of `roles` (indexes into `index`, any order, duplicates allowed); roles without
    /// grants, or that the index does not have, are left out.
    pub(crate) fn holding(index: Arc<GrantIndex>, roles: impl IntoIterator<Item = u32>) -> Self {
        let holds = Holder::of(roles.into_iter().filter(|&r| {
            index
                .role(r)
                .is_some_and(|g| !g.permissions.is_empty() || !g.actions.is_empty())
        }));
        Self {
            index,
            holds,
            listed: OnceLock::new(),
        }
    }

    /// Whether the set covers the required permission.
    #[inline]
    pub fn allows(&self, required: &Permission) -> bool {
        self.index.allows(required, &self.holds)
    }

    /// Whether the set grants the action, exactly or through a `prefix:*` or `*` grant.
    #[inline]
    pub fn allows_action(&self, action: &Action) -> bool {
        self.index.allows_action(action.as_str(), &self.holds)
    }

    /// Whether the set grants everything an action grant covers (a check before handing the
    /// grant on: whoever gives `reports:*` must hold `reports:*`, a shorter prefix or `*`).
    ///
    /// ```
    /// use portcullis::rbac::{ActionGrant, PermissionSet};
    ///
    /// let set = PermissionSet::compile([], [ActionGrant::parse("reports:*")?]);
    /// assert!(set.allows_action_grant(&ActionGrant::parse("reports:export:*")?));
    /// assert!(set.allows_action_grant(&ActionGrant::parse("reports:export")?));
    /// assert!(!set.allows_action_grant(&ActionGrant::parse("*")?));
    /// assert!(!set.allows_action_grant(&ActionGrant::parse("settings:*")?));
    /// # Ok::<(), portcullis::rbac::GrammarError>(())
    /// ```
    pub fn allows_action_grant(&self, grant: &ActionGrant) -> bool {
        self.index.allows_action_grant(grant, &self.holds)
    }

    /// What answers an allowed check: the grant that covers it and the role that holds the
    /// grant; `None` when the check is denied. Of several covering grants, the one
    /// [`allows`](Self::allows) meets first: `*:*`, then `*:scope`, then `action:*`, then
    /// `action:scope`, shortest scope first, of the first role in the policy's order.
    ///
    /// ```
    /// use portcullis::rbac::{Role, RolePolicy};
    ///
    /// let policy = RolePolicy::builder()
    ///     .role(Role::new("reviewer").grant("write:Catalog.Review")?)
    ///     .build()?;
    /// let set = policy.permissions_for(&["viewer".into(), "reviewer".into()]);
    /// let why = set.explain(&"write:Catalog.Review.Text".parse()?).unwrap();
    /// assert_eq!((why.role(), why.grant()), (Some("reviewer"), "write:Catalog.Review"));
    /// assert!(set.explain(&"write:Catalog".parse()?).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn explain(&self, required: &Permission) -> Option<Matched<'_>> {
        let Match { role, grant } = self.index.explain(required, &self.holds)?;
        let role = self.index.role(role).and_then(|g| g.name.as_deref());
        Some(Matched { role, grant })
    }

    /// What answers an allowed action check (see [`explain`](Self::explain)): `*`, the action
    /// itself, or the shortest `prefix:*` grant; `None` when denied.
    ///
    /// ```
    /// use portcullis::rbac::{Action, ActionGrant, PermissionSet};
    ///
    /// let set = PermissionSet::compile([], [ActionGrant::parse("reports:*")?]);
    /// let why = set.explain_action(&Action::parse("reports:export:csv")?).unwrap();
    /// assert_eq!(why.grant(), "reports:*");
    /// # Ok::<(), portcullis::rbac::GrammarError>(())
    /// ```
    pub fn explain_action(&self, action: &Action) -> Option<Matched<'_>> {
        let Match { role, grant } = self.index.explain_action(action.as_str(), &self.holds)?;
        let role = self.index.role(role).and_then(|g| g.name.as_deref());
        Some(Matched { role, grant })
    }

    /// The one role the set holds, if it holds exactly one.
    pub(crate) fn only_role(&self) -> Option<u32> {
        self.holds.only()
    }

    /// Whether the set was made over this index.
    #[cfg(test)]
    pub(crate) fn made_from(&self, index: &Arc<GrantIndex>) -> bool {
        Arc::ptr_eq(&self.index, index)
    }

    fn listed(&self) -> &Listed {
        self.listed.get_or_init(|| {
            let mut permissions = Vec::new();
            let mut actions = Vec::new();
            for grants in self.holds.iter().filter_map(|r| self.index.role(r)) {
                permissions.extend(grants.permissions.iter().cloned());
                actions.extend(grants.actions.iter().cloned());
            }
            permissions.sort();
            permissions.dedup();
            actions.sort();
            actions.dedup();
            Listed {
                permissions: permissions.into(),
                actions: actions.into(),
            }
        })
    }

    /// The permission grants of the set, sorted and de-duplicated.
    pub fn permissions(&self) -> &[Permission] {
        &self.listed().permissions
    }

    /// The action grants of the set, sorted and de-duplicated.
    pub fn actions(&self) -> &[ActionGrant] {
        &self.listed().actions
    }

    /// Whether the set grants nothing at all.
    pub fn is_empty(&self) -> bool {
        self.holds.is_empty()
    }

    /// Permission grants kept after compilation, summed over the set's roles: a grant covered
    /// by a shorter grant of the same role is not kept (a measure of the set's size).
    pub fn compiled_scopes(&self) -> usize {
        self.holds
            .iter()
            .filter_map(|r| self.index.role(r))
            .map(|g| g.kept)
            .sum()
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PermissionSet")
            .field("roles", &self.holds.iter().count())
            .field("of", &self.index.role_count())
            .finish()
    }
}

impl Serialize for PermissionSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("PermissionSet", 2)?;
        s.serialize_field("permissions", self.permissions())?;
        s.serialize_field("actions", self.actions())?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(list: &[&str]) -> Vec<Permission> {
        list.iter()
            .map(|s| Permission::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")))
            .collect()
    }

    fn action_grants(list: &[&str]) -> Vec<ActionGrant> {
        list.iter()
            .map(|s| ActionGrant::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")))
            .collect()
    }

    /// The compiled set must agree with the reference `Permission::covers` on every pair.
    #[test]
    fn agrees_with_reference_matcher() {
        let grant_pool = [
            "*:*",
            "read:*",
            "*:Catalog",
            "read:Catalog",
            "write:Catalog.Review",
            "delete:Catalog.Book.Cover",
            "read:Commerce.Order",
            "write:Commerce",
            "*:Commerce.Order.Line",
        ];
        let requirement_pool = [
            "read:Catalog",
            "read:Catalog.Review",
            "write:Catalog.Review",
            "write:Catalog.Book",
            "delete:Catalog.Book",
            "delete:Catalog.Book.Cover.Image",
            "read:*",
            "*:*",
            "*:Catalog",
            "write:Commerce.Order",
            "read:Commerce",
            "delete:Commerce.Order.Line",
            "read:Other",
            "write:*",
            "*:Commerce.Order.Line.Item",
        ];
        // Every subset of the grant pool (2^9 = 512) against every requirement.
        for mask in 0u32..(1 << grant_pool.len()) {
            let grants: Vec<&str> = grant_pool
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, g)| *g)
                .collect();
            let grants = perms(&grants);
            let set = PermissionSet::compile(grants.clone(), []);
            for required in perms(&requirement_pool) {
                let reference = grants.iter().any(|g| g.covers(&required));
                assert_eq!(
                    set.allows(&required),
                    reference,
                    "grants {grants:?} vs {required}"
                );
            }
        }
    }

    /// Action names may hold `.`s, which are not levels: an allowed action is explained, and a
    /// grant of `reports` does not explain (or allow) `reports.v2:export`.
    #[test]
    fn actions_with_dots_are_explained_whole() {
        let set = PermissionSet::compile(
            [],
            action_grants(&["reports.v2:export", "audit.log:*", "reports"]),
        );
        let explained = |name: &str| {
            let action = Action::parse(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                set.allows_action(&action),
                set.explain_action(&action).is_some(),
                "{name}"
            );
            set.explain_action(&action).map(|m| m.grant().to_owned())
        };
        assert_eq!(
            explained("reports.v2:export").as_deref(),
            Some("reports.v2:export")
        );
        assert_eq!(explained("audit.log:read").as_deref(), Some("audit.log:*"));
        assert_eq!(explained("reports.v3:export"), None);
        assert_eq!(explained("reports"), Some("reports".to_owned()));
    }

    /// Every ancestor of the deepest scope the grammar allows is probed: a grant at each
    /// level covers it, and a grant one letter off at any level does not.
    #[test]
    fn every_level_of_the_deepest_scope_is_checked() {
        let segments = ["Aa", "Bb", "Cc", "Dd", "Ee", "Ff", "Gg", "Hh"];
        let deepest = format!("read:{}", segments.join("."));
        let required = perms(&[&deepest]).remove(0);
        assert_eq!(required.dots().len(), 7);
        for level in 1..=segments.len() {
            let grant = format!("read:{}", segments[..level].join("."));
            let set = PermissionSet::compile(perms(&[&grant]), []);
            assert!(set.allows(&required), "{grant} covers {deepest}");
            let near = PermissionSet::compile(perms(&[&format!("{grant}x")]), []);
            assert!(!near.allows(&required), "{grant}x does not cover {deepest}");
            let any = PermissionSet::compile(perms(&[&format!("*:{}", &grant[5..])]), []);
            assert!(any.allows(&required), "*:{} covers {deepest}", &grant[5..]);
        }
    }

    #[test]
    fn actions_exact_prefix_and_everything() {
        let set = PermissionSet::compile([], action_grants(&["reports:*", "settings:manage"]));
        let allowed = [
            "reports:export",
            "reports:delete",
            "reports:export:csv",
            "settings:manage",
        ];
        for a in allowed {
            assert!(
                set.allows_action(&Action::parse(a).unwrap_or_else(|e| panic!("{e}"))),
                "{a}"
            );
        }
        let denied = [
            "reports",
            "settings:manage:all",
            "settings:view",
            "reportsx:export",
        ];
        for a in denied {
            assert!(
                !set.allows_action(&Action::parse(a).unwrap_or_else(|e| panic!("{e}"))),
                "{a}"
            );
        }
        let all = PermissionSet::compile([], action_grants(&["*"]));
        assert!(
            all.allows_action(&Action::parse("anything:at:all").unwrap_or_else(|e| panic!("{e}")))
        );
        assert!(
            !PermissionSet::empty()
                .allows_action(&Action::parse("a").unwrap_or_else(|e| panic!("{e}")))
        );
    }

    #[test]
    fn covered_grants_are_not_kept() {
        let set = PermissionSet::compile(
            perms(&[
                "read:Catalog.Review",
                "read:Catalog",
                "read:Catalog.Book.Cover",
                "read:Catalogue",
                "write:Catalog.Book",
                "write:*",
                "*:Commerce.Cart",
            ]),
            [],
        );
        // `read:Catalog` covers the other two `Catalog` reads, not `Catalogue`; `write:*`
        // covers `write:Catalog.Book`.
        assert_eq!(set.compiled_scopes(), 4);
        assert_eq!(set.permissions().len(), 7);
        assert!(
            set.allows(
                &"read:Catalog.Review.Text"
                    .parse()
                    .unwrap_or_else(|e| panic!("{e}"))
            )
        );
        assert!(set.allows(&"read:Catalogue".parse().unwrap_or_else(|e| panic!("{e}"))));
        assert!(!set.allows(&"read:Catalogues".parse().unwrap_or_else(|e| panic!("{e}"))));
        assert!(
            set.allows(
                &"write:Anything.At.All"
                    .parse()
                    .unwrap_or_else(|e| panic!("{e}"))
            )
        );
        assert!(
            set.allows(
                &"delete:Commerce.Cart.Item"
                    .parse()
                    .unwrap_or_else(|e| panic!("{e}"))
            )
        );
        assert!(!set.allows(&"delete:Commerce".parse().unwrap_or_else(|e| panic!("{e}"))));
    }
}
