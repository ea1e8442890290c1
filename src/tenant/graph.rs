//! One tenant's roles, compiled: every role's own grants in one [`GrantIndex`] (the index a
//! [`RolePolicy`](crate::rbac::RolePolicy) builds, so a tenant check is the same few hash probes
//! as an application-wide one), and each role's chain (itself, then its parents up to the root),
//! so that holding a role is holding its whole chain.
//!
//! Compiled once per tenant and write (a write to any role of the tenant makes the next check
//! compile again); every subject of the tenant resolves over the same graph, building no index.

use std::collections::HashMap;
use std::sync::Arc;

use crate::rbac::index::{GrantIndex, RoleSource};
use crate::store::roles::{Grant, MAX_ROLE_DEPTH, TenantRoles};

/// A role of the graph.
pub(crate) struct Node {
    pub(crate) id: Box<str>,
    pub(crate) slug: Box<str>,
    pub(crate) namespace: Box<str>,
    /// A system role: only its name is authority for role requirements (see `effective`).
    pub(crate) is_system: bool,
    /// This role, then each ancestor (indexes into the graph), at most [`MAX_ROLE_DEPTH`].
    pub(crate) chain: Box<[u32]>,
}

/// A tenant's compiled roles.
pub(crate) struct Graph {
    pub(crate) index: Arc<GrantIndex>,
    pub(crate) nodes: Box<[Node]>,
    by_id: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    by_slug: HashMap<(Box<str>, Box<str>), u32, foldhash::fast::RandomState>,
    /// Roughly what the graph holds, in bytes, for the cache's bound.
    pub(crate) weight: u32,
}

impl Graph {
    /// Compiles what the store holds for one tenant.
    pub(crate) fn compile(stored: TenantRoles) -> Self {
        let TenantRoles { roles, grants } = stored;
        let mut by_id: HashMap<Box<str>, u32, _> = HashMap::default();
        let mut by_slug: HashMap<(Box<str>, Box<str>), u32, _> = HashMap::default();
        for (role, i) in roles.iter().zip(0u32..) {
            by_id.insert(role.id.as_str().into(), i);
            by_slug.insert(
                (role.namespace.as_str().into(), role.slug.as_str().into()),
                i,
            );
        }
        let mut sources: Vec<RoleSource> = roles
            .iter()
            .map(|role| (Some(role.slug.as_str().into()), Vec::new(), Vec::new()))
            .collect();
        let mut weight = 256usize;
        for (role_id, grant) in grants {
            let Some(&i) = by_id.get(role_id.as_str()) else {
                continue;
            };
            weight += grant.text().len() * 3 + 64;
            let (_, permissions, actions) = &mut sources[i as usize];
            match grant {
                Grant::Permission(p) => permissions.push(p),
                Grant::Action(a) => actions.push(a),
            }
        }
        let nodes: Box<[Node]> = roles
            .iter()
            .map(|role| {
                // Up the parents, within the role's namespace. The store keeps hierarchies sound,
                // but the walk is bounded all the same: data read back is never trusted to end.
                let mut chain = Vec::new();
                let mut at = by_slug
                    .get(&(role.namespace.as_str().into(), role.slug.as_str().into()))
                    .copied();
                let mut parent_of = role.parent.as_deref();
                while let Some(i) = at {
                    if chain.len() == MAX_ROLE_DEPTH || chain.contains(&i) {
                        break;
                    }
                    chain.push(i);
                    at = parent_of.and_then(|slug| {
                        by_slug
                            .get(&(role.namespace.as_str().into(), slug.into()))
                            .copied()
                    });
                    parent_of = at.and_then(|p| roles[p as usize].parent.as_deref());
                }
                weight += role.id.len() + role.slug.len() + role.namespace.len() + 96;
                weight += chain.len() * 4;
                Node {
                    id: role.id.as_str().into(),
                    slug: role.slug.as_str().into(),
                    namespace: role.namespace.as_str().into(),
                    is_system: role.is_system,
                    chain: chain.into(),
                }
            })
            .collect();
        Self {
            index: Arc::new(GrantIndex::compile(sources)),
            nodes,
            by_id,
            by_slug,
            weight: u32::try_from(weight).unwrap_or(u32::MAX),
        }
    }

    /// The role with this id.
    pub(crate) fn by_id(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    /// The role with this slug at exactly this namespace.
    pub(crate) fn by_slug(&self, namespace: &str, slug: &str) -> Option<u32> {
        self.by_slug.get(&(namespace.into(), slug.into())).copied()
    }

    /// Whether role `i` is a system role named `slug`: the one way a stored role meets a role
    /// requirement by its name.
    pub(crate) fn is_named(&self, i: u32, slug: &str) -> bool {
        let node = self.node(i);
        node.is_system && *node.slug == *slug
    }

    /// The node of role `i`.
    pub(crate) fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    /// The path from held role `from` down its chain to `to`, as slugs; `None` if `to` is not
    /// in `from`'s chain.
    pub(crate) fn path(&self, from: u32, to: u32) -> Option<Vec<Box<str>>> {
        let chain = &self.node(from).chain;
        let end = chain.iter().position(|&r| r == to)?;
        Some(
            chain[..=end]
                .iter()
                .map(|&r| self.node(r).slug.clone())
                .collect(),
        )
    }
}

/// Whether a role held at `held_at` applies to a check at `asked_at`: it is the same namespace or
/// one of its ancestors (`""`, the root, is everyone's).
pub(crate) fn applies(held_at: &str, asked_at: &str) -> bool {
    held_at.is_empty()
        || asked_at == held_at
        || asked_at
            .strip_prefix(held_at)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::{Permission, PermissionSet};
    use crate::store::roles::RoleRecord;

    fn role(id: &str, namespace: &str, slug: &str, parent: Option<&str>) -> RoleRecord {
        RoleRecord {
            id: id.into(),
            tenant: "acme".into(),
            namespace: namespace.into(),
            slug: slug.into(),
            name: slug.into(),
            description: String::new(),
            parent: parent.map(Into::into),
            is_system: false,
            is_default: false,
            max_members: None,
            metadata: serde_json::Map::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn grant(text: &str) -> Grant {
        Grant::Permission(Permission::parse(text).unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn chains_follow_parents_within_a_namespace() {
        let graph = Graph::compile(TenantRoles {
            roles: vec![
                role("r1", "", "viewer", None),
                role("r2", "", "editor", Some("viewer")),
                role("r3", "eng", "viewer", None),
                role("r4", "eng", "sre", Some("viewer")),
            ],
            grants: vec![
                ("r1".into(), grant("read:Catalog")),
                ("r2".into(), grant("write:Catalog")),
                ("r3".into(), grant("read:Runbooks")),
            ],
        });
        let sre = graph.by_slug("eng", "sre").unwrap_or_else(|| panic!("sre"));
        let chain: Vec<&str> = graph
            .node(sre)
            .chain
            .iter()
            .map(|&r| &*graph.node(r).slug)
            .collect();
        assert_eq!(chain, ["sre", "viewer"]);
        // `eng`'s viewer, not the root's.
        let set =
            PermissionSet::holding(graph.index.clone(), graph.node(sre).chain.iter().copied());
        assert!(set.allows(&Permission::parse("read:Runbooks").unwrap_or_else(|e| panic!("{e}"))));
        assert!(!set.allows(&Permission::parse("read:Catalog").unwrap_or_else(|e| panic!("{e}"))));
        let editor = graph.by_id("r2").unwrap_or_else(|| panic!("r2"));
        let viewer = graph.by_id("r1").unwrap_or_else(|| panic!("r1"));
        assert_eq!(
            graph
                .path(editor, viewer)
                .map(|p| p.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            Some(vec!["editor".to_owned(), "viewer".to_owned()])
        );
        assert_eq!(graph.path(viewer, editor), None);
    }

    #[test]
    fn a_stored_cycle_cannot_make_a_walk_endless() {
        let graph = Graph::compile(TenantRoles {
            roles: vec![role("a", "", "a", Some("b")), role("b", "", "b", Some("a"))],
            grants: vec![],
        });
        assert_eq!(graph.node(0).chain.len(), 2);
    }

    #[test]
    fn namespaces_apply_below_themselves_only() {
        assert!(applies("", "eng/platform"));
        assert!(applies("eng", "eng/platform/sre"));
        assert!(applies("eng/platform", "eng/platform"));
        assert!(!applies("eng/platform", "eng"));
        assert!(!applies("eng", "engineering"));
        assert!(!applies("eng", ""));
    }
}
