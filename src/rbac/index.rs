//! The grant index: every grant of every role of a policy, compiled once into hash maps from
//! grant text to the roles that grant it.
//!
//! A check asks, for the required text and each of its ancestors (`read:Catalog`,
//! `read:Catalog.Book`, … each a prefix of the permission's own text ending before a `.`),
//! whether one of the subject's roles grants it: one probe per level, at most 8 levels, never a
//! loop over grants. The probes of one check do not depend on each other, so the processor
//! overlaps their memory reads.
//!
//! Why one index for all roles rather than one merged set per role combination (the first two
//! versions): a merged set copies every grant of its roles, so a service whose users hold
//! hundreds of distinct combinations keeps hundreds of copies of the same grants, each check
//! misses the processor's caches in its own copy, and a combination seen for the first time
//! pays a compile. With one index, the grants are held once, checks of the same permission by
//! different subjects touch the same memory, a subject's role list resolves to a set of role
//! indexes with no compile at all, and the index can say which role's grant matched.

use super::permission::{ActionGrant, ActionGrantKind, Permission};
use super::role_ids::{Holder, RoleIds};
use super::text_map::TextMap;

/// The offsets of a permission's `.`s in its text.
#[inline]
fn text_dots(permission: &Permission) -> impl Iterator<Item = usize> + '_ {
    permission.dots().iter().map(|&at| usize::from(at))
}

/// The offsets of a permission's `.`s in its scope.
#[inline]
fn scope_dots(permission: &Permission) -> impl Iterator<Item = usize> + '_ {
    let scope_starts = permission.action().len() + 1;
    text_dots(permission).map(move |at| at - scope_starts)
}

/// One role's grants as given, sorted and de-duplicated, and how many entries the index kept
/// for it.
#[derive(Default)]
pub(crate) struct RoleGrants {
    /// The role's name; `None` for the one role of [`PermissionSet::compile`](super::PermissionSet::compile).
    pub(crate) name: Option<Box<str>>,
    pub(crate) permissions: Box<[Permission]>,
    pub(crate) actions: Box<[ActionGrant]>,
    /// Entries kept: grants covered by a shorter grant of the same role are not indexed.
    pub(crate) kept: usize,
}

/// Which role's grant answered a check: the role's index and the grant as written.
pub(crate) struct Match {
    pub(crate) role: u32,
    pub(crate) grant: String,
}

/// One role to compile: its name (if it has one) and its grants.
pub(crate) type RoleSource = (Option<Box<str>>, Vec<Permission>, Vec<ActionGrant>);

/// Every role's grants, indexed by text.
#[derive(Default)]
pub(crate) struct GrantIndex {
    /// Roles granting `*:*`.
    everything: RoleIds,
    /// Scope → roles granting every action on it (`*:scope`).
    any_action: TextMap,
    /// Action → roles granting it on every scope (`action:*`).
    action_everywhere: TextMap,
    /// `action:scope` → roles granting that action on that scope.
    named: TextMap,
    /// Roles granting every action (`*`).
    all_actions: RoleIds,
    /// Action name → roles granting exactly it.
    exact_actions: TextMap,
    /// Prefix with its trailing `:` → roles granting `prefix:*`.
    action_prefixes: TextMap,
    /// By role index.
    roles: Box<[RoleGrants]>,
}

impl GrantIndex {
    /// Compiles the grants of each role; role `i` of the result is the `i`-th of `roles`.
    pub(crate) fn compile(roles: impl IntoIterator<Item = RoleSource>) -> Self {
        let mut index = Self::default();
        let mut compiled = Vec::new();
        for ((name, mut permissions, mut actions), role) in roles.into_iter().zip(0u32..) {
            permissions.sort();
            permissions.dedup();
            actions.sort();
            actions.dedup();
            let kept = index.add_role(role, &permissions, &actions);
            compiled.push(RoleGrants {
                name,
                permissions: permissions.into(),
                actions: actions.into(),
                kept,
            });
        }
        index.roles = compiled.into();
        index
    }

    /// Indexes one role's sorted grants; returns how many permission entries it kept.
    fn add_role(
        &mut self,
        role: u32,
        permissions: &[Permission],
        actions: &[ActionGrant],
    ) -> usize {
        let me = Holder::of([role]);
        let mut kept = 0;
        // Grants on every scope first, then the rest sorted (each scope after its ancestors),
        // so a grant already covered by one of the role's own is left out.
        let (everywhere, scoped): (Vec<&Permission>, Vec<&Permission>) =
            permissions.iter().partition(|p| p.is_any_scope());
        for grant in everywhere.into_iter().chain(scoped) {
            if self.allows(grant, &me) {
                continue;
            }
            kept += 1;
            match (grant.is_any_action(), grant.is_any_scope()) {
                (true, true) => self.everything.insert(role),
                (true, false) => self.any_action.add(grant.scope(), role),
                (false, true) => self.action_everywhere.add(grant.action(), role),
                (false, false) => self.named.add(grant.as_str(), role),
            }
        }
        for grant in actions {
            match grant.kind() {
                ActionGrantKind::Everything => self.all_actions.insert(role),
                ActionGrantKind::Exact => self.exact_actions.add(grant.as_str(), role),
                ActionGrantKind::Prefix(_) => {
                    if let Some(prefix) = grant.prefix() {
                        self.action_prefixes.add(prefix, role);
                    }
                }
            }
        }
        kept
    }

    /// Whether one of `who`'s roles covers the required permission.
    #[inline]
    pub(crate) fn allows(&self, required: &Permission, who: &Holder) -> bool {
        if self.everything.meets(who) {
            return true;
        }
        // A `*` requirement (every scope) is met only by a `*` grant.
        let scoped = !required.is_any_scope();
        if scoped
            && self
                .any_action
                .grants_text_or_ancestor(required.scope(), scope_dots(required), who)
        {
            return true;
        }
        if required.is_any_action() {
            return false; // a `*` action requirement is met only by a `*` grant
        }
        if self.action_everywhere.grants(required.action(), who) {
            return true;
        }
        scoped
            && self
                .named
                .grants_text_or_ancestor(required.as_str(), text_dots(required), who)
    }

    /// Whether one of `who`'s roles grants the action, exactly or through a `prefix:*` or `*`
    /// grant.
    #[inline]
    pub(crate) fn allows_action(&self, name: &str, who: &Holder) -> bool {
        if self.all_actions.meets(who) || self.exact_actions.grants(name, who) {
            return true;
        }
        // Each `:` in the name ends a candidate prefix: one look-up per level.
        !self.action_prefixes.is_empty()
            && name
                .match_indices(':')
                .any(|(i, _)| self.action_prefixes.grants(&name[..=i], who))
    }

    /// Whether one of `who`'s roles grants every action an action grant covers: `*` only by
    /// `*`; `prefix:*` by `*` or a grant of that prefix or a shorter one; an exact name as
    /// [`allows_action`](Self::allows_action) does.
    pub(crate) fn allows_action_grant(&self, grant: &ActionGrant, who: &Holder) -> bool {
        match grant.kind() {
            ActionGrantKind::Everything => self.all_actions.meets(who),
            ActionGrantKind::Exact => self.allows_action(grant.as_str(), who),
            ActionGrantKind::Prefix(_) => {
                let prefix = grant.prefix().unwrap_or_default();
                self.all_actions.meets(who)
                    || prefix
                        .match_indices(':')
                        .any(|(i, _)| self.action_prefixes.grants(&prefix[..=i], who))
            }
        }
    }

    /// The role and grant that answer an allowed check (the shortest covering grant of the
    /// lowest-numbered role, in the order [`allows`](Self::allows) asks); `None` if denied.
    pub(crate) fn explain(&self, required: &Permission, who: &Holder) -> Option<Match> {
        let found = |role: u32, grant: String| Some(Match { role, grant });
        if let Some(role) = self.everything.first_in(who) {
            return found(role, "*:*".to_owned());
        }
        let scoped = !required.is_any_scope();
        if scoped
            && let Some((scope, role)) =
                self.any_action
                    .first_match(required.scope(), scope_dots(required), who)
        {
            return found(role, format!("*:{scope}"));
        }
        if required.is_any_action() {
            return None;
        }
        let action = required.action();
        if let Some((_, role)) = self
            .action_everywhere
            .first_match(action, std::iter::empty(), who)
        {
            return found(role, format!("{action}:*"));
        }
        if !scoped {
            return None;
        }
        let (text, role) = self
            .named
            .first_match(required.as_str(), text_dots(required), who)?;
        found(role, text.to_owned())
    }

    /// The role and grant that answer an allowed action check, in the order
    /// [`allows_action`](Self::allows_action) asks; `None` if denied.
    pub(crate) fn explain_action(&self, name: &str, who: &Holder) -> Option<Match> {
        if let Some(role) = self.all_actions.first_in(who) {
            return Some(Match {
                role,
                grant: "*".to_owned(),
            });
        }
        if let Some(role) = self.exact_actions.holder_of(name, who) {
            return Some(Match {
                role,
                grant: name.to_owned(),
            });
        }
        name.match_indices(':').find_map(|(i, _)| {
            let prefix = &name[..=i];
            let role = self.action_prefixes.holder_of(prefix, who)?;
            Some(Match {
                role,
                grant: format!("{prefix}*"),
            })
        })
    }

    /// The grants of role `i` (empty for an index it does not have).
    pub(crate) fn role(&self, i: u32) -> Option<&RoleGrants> {
        self.roles.get(i as usize)
    }

    /// How many roles the index holds.
    pub(crate) fn role_count(&self) -> usize {
        self.roles.len()
    }
}
