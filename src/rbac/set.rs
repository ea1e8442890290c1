//! The compiled permission set: what one subject may do, in a shape that answers a check with a
//! few hash look-ups, whatever the number of grants.
//!
//! Grants are compiled into one set of `action:scope` texts for the named actions (plus one of
//! scopes for the `*` action, and the actions granted on every scope). A grant on a scope covers
//! everything below it, so a check asks whether the required text or one of its ancestors
//! (`read:Catalog`, `read:Catalog.Book`, … each a prefix of the permission's own text ending at
//! a `.`) is in the set: one probe per level, at most 8 levels, never a loop over grants, and no
//! look-up of the action first. Compilation drops grants already covered by a shorter one.
//!
//! A flat set rather than a tree of nested maps (the first version): the probes of one check
//! do not depend on each other, so the processor overlaps their memory reads, and a set is a
//! handful of allocations rather than one per tree node. With 110,000 grants and checks spread
//! over thousands of permissions (most of the set out of cache), the tree cost a chain of
//! dependent cache misses per level.
//!
//! A set is the answer for one subject in one authorization scope. Today that scope is the
//! token's tenant; the multi-tenant role model compiles one set per (tenant, namespace) with the
//! same type, so the request path stays the same when it arrives.

use std::collections::HashSet;
use std::fmt;

use foldhash::fast::RandomState;
use serde::Serialize;

use super::permission::{Action, ActionGrant, ActionGrantKind, Permission};

type Set = HashSet<Box<str>, RandomState>;

/// Whether `text`, or one of its prefixes that ends before a `.` at or after `from`, is in `set`
/// (shortest first).
fn text_or_ancestor_in(set: &Set, text: &str, from: usize) -> bool {
    if set.is_empty() {
        return false;
    }
    text[from..]
        .match_indices('.')
        .any(|(end, _)| set.contains(&text[..from + end]))
        || set.contains(text)
}

/// The scopes one action is granted on.
#[derive(Default, Clone)]
struct Scopes {
    /// Granted on every scope (`action:*`).
    everywhere: bool,
    /// Granted scopes, none below another one.
    granted: Set,
}

impl Scopes {
    /// Adds a grant; grants must come shortest first (sorted), so that one covered by a shorter
    /// grant is dropped.
    fn insert(&mut self, grant: &Permission) {
        if grant.is_any_scope() {
            self.everywhere = true;
            self.granted = Set::default();
        } else if !self.covers_scope(grant.scope()) {
            self.granted.insert(grant.scope().into());
        }
    }

    fn covers(&self, required: &Permission) -> bool {
        if self.everywhere {
            return true;
        }
        // A `*` requirement (every scope) is met only by a `*` grant.
        !required.is_any_scope() && self.covers_scope(required.scope())
    }

    fn covers_scope(&self, scope: &str) -> bool {
        self.everywhere || text_or_ancestor_in(&self.granted, scope, 0)
    }

    fn len(&self) -> usize {
        usize::from(self.everywhere) + self.granted.len()
    }
}

/// The grants of named actions.
#[derive(Default, Clone)]
struct NamedGrants {
    /// Actions granted on every scope (`action:*`).
    everywhere: Set,
    /// `action:scope` of the other grants, none below another grant of its action.
    granted: Set,
}

impl NamedGrants {
    /// Adds a grant; grants must come sorted, as for [`Scopes::insert`].
    fn insert(&mut self, grant: &Permission) {
        if grant.is_any_scope() {
            self.everywhere.insert(grant.action().into());
        } else if !self.covers(grant) {
            self.granted.insert(grant.as_str().into());
        }
    }

    fn covers(&self, required: &Permission) -> bool {
        if !self.everywhere.is_empty() && self.everywhere.contains(required.action()) {
            return true;
        }
        // A `*` requirement (every scope) is met only by a `*` grant.
        !required.is_any_scope()
            && text_or_ancestor_in(
                &self.granted,
                required.as_str(),
                required.action().len() + 1,
            )
    }

    fn len(&self) -> usize {
        self.everywhere.len() + self.granted.len()
    }
}

/// A compiled set of permission and action grants.
///
/// Built once per role set (see [`RolePolicy`](super::RolePolicy)) and shared behind an `Arc` by
/// every request of every subject with those roles; a check does no I/O, no allocation and no
/// string comparison loop over grants.
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
#[derive(Clone, Default)]
pub struct PermissionSet {
    grants: Box<[Permission]>,
    action_grants: Box<[ActionGrant]>,
    /// Scopes of the grants whose action is `*`.
    any_action: Scopes,
    /// The grants of named actions.
    named: NamedGrants,
    all_actions: bool,
    exact_actions: Set,
    /// Prefixes (with their trailing `:`) of `prefix:*` action grants.
    action_prefixes: Set,
}

impl PermissionSet {
    /// The empty set: allows nothing.
    pub fn empty() -> Self {
        Self::default()
    }

    /// About how much memory the set holds, in bytes: the grants it keeps and, for each, the
    /// scope-tree and hash-map entries compiled from it (for caches that are bounded in bytes).
    pub(crate) fn approx_bytes(&self) -> usize {
        const PER_GRANT: usize = 160;
        let text: usize = self
            .grants
            .iter()
            .map(|g| g.as_str().len())
            .chain(self.action_grants.iter().map(|g| g.as_str().len()))
            .sum();
        256 + 2 * text + PER_GRANT * (self.grants.len() + self.action_grants.len())
    }

    /// Compiles permission grants and action grants into a set.
    pub fn compile(
        permissions: impl IntoIterator<Item = Permission>,
        actions: impl IntoIterator<Item = ActionGrant>,
    ) -> Self {
        let mut grants: Vec<Permission> = permissions.into_iter().collect();
        grants.sort();
        grants.dedup();
        let mut action_grants: Vec<ActionGrant> = actions.into_iter().collect();
        action_grants.sort();
        action_grants.dedup();

        let mut set = Self::default();
        // Sorted, so each scope comes after its ancestors and is dropped if one is granted.
        for grant in &grants {
            if grant.is_any_action() {
                set.any_action.insert(grant);
            } else {
                set.named.insert(grant);
            }
        }
        for grant in &action_grants {
            match grant.kind() {
                ActionGrantKind::Everything => set.all_actions = true,
                ActionGrantKind::Exact => {
                    set.exact_actions.insert(grant.as_str().into());
                }
                ActionGrantKind::Prefix(_) => {
                    if let Some(prefix) = grant.prefix() {
                        set.action_prefixes.insert(prefix.into());
                    }
                }
            }
        }
        set.grants = grants.into();
        set.action_grants = action_grants.into();
        set
    }

    /// Whether the set covers the required permission.
    #[inline]
    pub fn allows(&self, required: &Permission) -> bool {
        if self.any_action.covers(required) {
            return true;
        }
        if required.is_any_action() {
            return false; // a `*` requirement is met only by a `*` grant
        }
        self.named.covers(required)
    }

    /// Whether the set grants the action, exactly or through a `prefix:*` or `*` grant.
    #[inline]
    pub fn allows_action(&self, action: &Action) -> bool {
        if self.all_actions {
            return true;
        }
        let name = action.as_str();
        if self.exact_actions.contains(name) {
            return true;
        }
        if self.action_prefixes.is_empty() {
            return false;
        }
        // Each `:` in the name ends a candidate prefix: one look-up per level, never a loop
        // over the grants.
        name.match_indices(':')
            .any(|(i, _)| self.action_prefixes.contains(&name[..=i]))
    }

    /// The permission grants this set was compiled from, sorted and de-duplicated.
    pub fn permissions(&self) -> &[Permission] {
        &self.grants
    }

    /// The action grants this set was compiled from, sorted and de-duplicated.
    pub fn actions(&self) -> &[ActionGrant] {
        &self.action_grants
    }

    /// Whether the set grants nothing at all.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty() && self.action_grants.is_empty()
    }

    /// Scopes kept after compilation, over all actions: grants covered by a shorter grant of
    /// the same action are not kept (a measure of the set's size).
    pub fn compiled_scopes(&self) -> usize {
        self.any_action.len() + self.named.len()
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PermissionSet")
            .field("permissions", &self.grants.len())
            .field("actions", &self.action_grants.len())
            .finish()
    }
}

impl Serialize for PermissionSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("PermissionSet", 2)?;
        s.serialize_field("permissions", &self.grants)?;
        s.serialize_field("actions", &self.action_grants)?;
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
