//! spanforge's `STANDARD_ROLE_MATRIX`, and the same ten actors as a role hierarchy.

use std::sync::LazyLock;

use crate::rbac::{ActionGrant, Permission, Role, RolePolicy};

/// spanforge's ten canonical actors, each with the roles it holds, exactly as spanforge lists
/// them (keys and role names included: `service_account` keeps its underscore here).
///
/// | actor | roles | purpose |
/// |---|---|---|
/// | `viewer` | viewer | read-only human or service identity |
/// | `editor` | viewer, editor | read and write |
/// | `admin` | viewer, editor, admin | full tenant control |
/// | `operator` | viewer, operator | operational tasks without admin |
/// | `auditor` | viewer, auditor | compliance and audit access |
/// | `developer` | viewer, editor, developer | developer access |
/// | `deployer` | viewer, deployer | deployment pipeline identity |
/// | `reviewer` | viewer, reviewer | approval and review identity |
/// | `service_account` | service_account | machine identity, CI token |
/// | `superadmin` | viewer, editor, admin, superadmin | break-glass super-admin |
///
/// ```
/// use portcullis::actors::STANDARD_ROLE_MATRIX;
///
/// let (_, roles) = STANDARD_ROLE_MATRIX.iter().find(|(key, _)| *key == "developer").unwrap();
/// assert_eq!(*roles, ["viewer", "editor", "developer"]);
/// ```
pub const STANDARD_ROLE_MATRIX: [(&str, &[&str]); 10] = [
    ("viewer", &["viewer"]),
    ("editor", &["viewer", "editor"]),
    ("admin", &["viewer", "editor", "admin"]),
    ("operator", &["viewer", "operator"]),
    ("auditor", &["viewer", "auditor"]),
    ("developer", &["viewer", "editor", "developer"]),
    ("deployer", &["viewer", "deployer"]),
    ("reviewer", &["viewer", "reviewer"]),
    ("service_account", &["service_account"]),
    ("superadmin", &["viewer", "editor", "admin", "superadmin"]),
];

/// The roles of one actor of the [`STANDARD_ROLE_MATRIX`], by its key (`"auditor"`), in the
/// matrix's order; `None` for a key the matrix does not have.
///
/// ```
/// use portcullis::actors::matrix_roles;
///
/// assert_eq!(matrix_roles("auditor"), Some(&["viewer", "auditor"][..]));
/// assert_eq!(matrix_roles("service-account"), None); // the matrix keeps spanforge's key
/// ```
pub fn matrix_roles(actor: &str) -> Option<&'static [&'static str]> {
    STANDARD_ROLE_MATRIX
        .iter()
        .find(|(key, _)| *key == actor)
        .map(|(_, roles)| *roles)
}

/// One role of the standard role set: the [`STANDARD_ROLE_MATRIX`] expressed as a hierarchy
/// (see [`standard_roles`]).
///
/// Two names, on purpose: [`role`](Self::role) is the role's name as spanforge spells it (what
/// manifests, tokens and [`standard_role_policy`] use, `service_account`), and
/// [`slug`](Self::slug) the name for a tenant's role set, whose slugs are
/// `^[a-z][a-z0-9-]{0,62}$` and so cannot hold an underscore (`service-account`). The two differ
/// only for `service_account`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StandardRole {
    /// The slug in a tenant's role set (`^[a-z][a-z0-9-]{0,62}$`): the role's name with `_`
    /// written `-`.
    pub slug: &'static str,
    /// The role's name in the matrix, in manifests and tokens and in [`standard_role_policy`].
    pub role: &'static str,
    /// A name for people.
    pub name: &'static str,
    /// What the role is for (spanforge's "purpose").
    pub description: &'static str,
    /// The slug of the role this one inherits from.
    pub parent: Option<&'static str>,
    /// The permission grants of this role alone (its ancestors' come on top).
    pub permissions: &'static [&'static str],
    /// The action grants of this role alone.
    pub actions: &'static [&'static str],
}

const fn standard(
    slug: &'static str,
    role: &'static str,
    name: &'static str,
    description: &'static str,
    parent: Option<&'static str>,
    permissions: &'static [&'static str],
    actions: &'static [&'static str],
) -> StandardRole {
    StandardRole {
        slug,
        role,
        name,
        description,
        parent,
        permissions,
        actions,
    }
}

/// Parents before children, so a role's ancestors are always listed before it.
const STANDARD_ROLES: [StandardRole; 10] = [
    standard(
        "viewer",
        "viewer",
        "Viewer",
        "Read-only human or service identity",
        None,
        &["read:*"],
        &[],
    ),
    standard(
        "editor",
        "editor",
        "Editor",
        "Read and write access",
        Some("viewer"),
        &["write:*"],
        &[],
    ),
    standard(
        "admin",
        "admin",
        "Admin",
        "Full tenant control",
        Some("editor"),
        &["*:*"],
        &["*"],
    ),
    standard(
        "operator",
        "operator",
        "Operator",
        "Operational tasks without admin",
        Some("viewer"),
        &[],
        &[],
    ),
    standard(
        "auditor",
        "auditor",
        "Auditor",
        "Compliance and audit access",
        Some("viewer"),
        &[],
        &[],
    ),
    standard(
        "developer",
        "developer",
        "Developer",
        "Developer access",
        Some("editor"),
        &[],
        &[],
    ),
    standard(
        "deployer",
        "deployer",
        "Deployer",
        "Deployment pipeline identity",
        Some("viewer"),
        &[],
        &[],
    ),
    standard(
        "reviewer",
        "reviewer",
        "Reviewer",
        "Approval and review identity",
        Some("viewer"),
        &[],
        &[],
    ),
    standard(
        "service-account",
        "service_account",
        "Service account",
        "Machine identity or CI token",
        None,
        &[],
        &[],
    ),
    standard(
        "superadmin",
        "superadmin",
        "Super-admin",
        "Break-glass super-admin",
        Some("admin"),
        &[],
        &[],
    ),
];

/// The [`STANDARD_ROLE_MATRIX`] as a ready role set: ten roles whose hierarchy gives each actor
/// exactly its matrix roles (holding `developer` through the hierarchy is holding `developer`,
/// `editor` and `viewer`), parents listed before their children.
///
/// | slug | parent | own grants |
/// |---|---|---|
/// | `viewer` | | `read:*` |
/// | `editor` | `viewer` | `write:*` |
/// | `admin` | `editor` | `*:*`, action `*` |
/// | `superadmin` | `admin` | none |
/// | `developer` | `editor` | none |
/// | `operator`, `auditor`, `deployer`, `reviewer` | `viewer` | none |
/// | `service-account` | | none |
///
/// Grants are given only where the matrix's meaning is clear (the crate's built-in `viewer`,
/// `editor` and `admin`). The other roles grant nothing of their own: the matrix says who an
/// actor is, not what an operator or a deployer may do in your application. They inherit their
/// parent's grants and answer role checks ([`Requirement::Roles`](crate::Requirement::Roles),
/// [`Actors::authorize`](super::Actors::authorize)); give them grants with roles of your own
/// (a role of the same name replaces the standard one in a
/// [`RolePolicyBuilder`](crate::rbac::RolePolicyBuilder)). `service-account` grants nothing.
///
/// ```
/// use portcullis::actors::standard_roles;
///
/// let roles = standard_roles();
/// let developer = roles.iter().find(|r| r.slug == "developer").unwrap();
/// assert_eq!(developer.parent, Some("editor"));
/// let machine = roles.iter().find(|r| r.role == "service_account").unwrap();
/// assert_eq!((machine.slug, machine.parent), ("service-account", None));
/// ```
pub fn standard_roles() -> Vec<StandardRole> {
    STANDARD_ROLES.to_vec()
}

/// The standard role with this slug.
fn by_slug(slug: &str) -> Option<&'static StandardRole> {
    STANDARD_ROLES.iter().find(|r| r.slug == slug)
}

/// `role` and its ancestors, root first. The table has no cycle and is shallow (checked by the
/// tests); the walk is bounded all the same.
fn lineage(role: &'static StandardRole) -> Vec<&'static StandardRole> {
    let mut chain = vec![role];
    let mut at = role;
    while let Some(parent) = at.parent.and_then(by_slug) {
        if chain.len() >= STANDARD_ROLES.len() {
            break;
        }
        chain.push(parent);
        at = parent;
    }
    chain.reverse();
    chain
}

/// The standard roles as a [`RolePolicy`] for applications without tenants: the ten roles
/// under their matrix names ([`StandardRole::role`], so `service_account`), each with the
/// grants of its whole lineage flattened in (`developer` grants `read:*` and `write:*`;
/// `superadmin` grants what `admin` does). No other role: the crate's built-in roles are
/// replaced by the standard `viewer`, `editor` and `admin`, which grant the same.
///
/// Built once per process; clones share it.
///
/// ```
/// use portcullis::actors::standard_role_policy;
/// use portcullis::rbac::Permission;
///
/// let policy = standard_role_policy();
/// let developer = policy.permissions_for(&["developer".to_owned()]);
/// assert!(developer.allows(&Permission::parse("write:Catalog.Review")?));
/// let auditor = policy.permissions_for(&["auditor".to_owned()]);
/// assert!(auditor.allows(&Permission::parse("read:Ledger")?));
/// assert!(!auditor.allows(&Permission::parse("write:Ledger")?));
/// assert!(policy.permissions_for(&["service_account".to_owned()]).is_empty());
/// # Ok::<(), portcullis::rbac::GrammarError>(())
/// ```
pub fn standard_role_policy() -> RolePolicy {
    static POLICY: LazyLock<RolePolicy> = LazyLock::new(build_policy);
    POLICY.clone()
}

/// The flattened role of one standard role (its lineage's grants, in lineage order, once each).
fn flattened(role: &'static StandardRole) -> Role {
    let chain = lineage(role);
    let mut permissions: Vec<&str> = Vec::new();
    let mut actions: Vec<&str> = Vec::new();
    for ancestor in &chain {
        for p in ancestor.permissions {
            if !permissions.contains(p) {
                permissions.push(p);
            }
        }
        for a in ancestor.actions {
            if !actions.contains(a) {
                actions.push(a);
            }
        }
    }
    // Constant grants, every one parsed by the tests: nothing is dropped here.
    Role::new(role.role).describe(role.description).with_grants(
        permissions.iter().filter_map(|p| Permission::parse(p).ok()),
        actions.iter().filter_map(|a| ActionGrant::parse(a).ok()),
    )
}

#[allow(clippy::expect_used)]
fn build_policy() -> RolePolicy {
    RolePolicy::builder()
        .without_builtins()
        .roles(STANDARD_ROLES.iter().map(flattened))
        .build()
        // Not input-dependent: the ten names are constants, checked by the tests.
        .expect("the standard role names are valid role names")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `^[a-z][a-z0-9-]{0,62}$`, written out again for the test.
    fn is_slug(s: &str) -> bool {
        let b = s.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    }

    /// Walks the hierarchy from `standard_roles()` alone (not through `lineage`), mapping
    /// slugs back to the matrix's names.
    fn held_through_hierarchy(roles: &[StandardRole], slug: &str) -> Vec<&'static str> {
        let mut held = Vec::new();
        let mut next = Some(slug.to_owned());
        while let Some(s) = next {
            let role = roles
                .iter()
                .find(|r| r.slug == s)
                .unwrap_or_else(|| panic!("no standard role {s}"));
            assert!(!held.contains(&role.role), "cycle at {s}");
            held.push(role.role);
            next = role.parent.map(str::to_owned);
        }
        held.sort_unstable();
        held
    }

    #[test]
    fn the_matrix_is_spanforges() {
        let keys: Vec<&str> = STANDARD_ROLE_MATRIX.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [
                "viewer",
                "editor",
                "admin",
                "operator",
                "auditor",
                "developer",
                "deployer",
                "reviewer",
                "service_account",
                "superadmin"
            ]
        );
        assert_eq!(
            matrix_roles("admin"),
            Some(&["viewer", "editor", "admin"][..])
        );
        assert_eq!(
            matrix_roles("superadmin"),
            Some(&["viewer", "editor", "admin", "superadmin"][..])
        );
        assert_eq!(
            matrix_roles("service_account"),
            Some(&["service_account"][..])
        );
        assert_eq!(matrix_roles("root"), None);
    }

    #[test]
    fn holding_a_role_through_the_hierarchy_is_holding_its_matrix_roles() {
        let roles = standard_roles();
        assert_eq!(roles.len(), STANDARD_ROLE_MATRIX.len());
        for (key, matrix) in STANDARD_ROLE_MATRIX {
            let role = roles
                .iter()
                .find(|r| r.role == key)
                .unwrap_or_else(|| panic!("no standard role for {key}"));
            let mut expected = matrix.to_vec();
            expected.sort_unstable();
            assert_eq!(held_through_hierarchy(&roles, role.slug), expected, "{key}");
            // `lineage`, which the policy flattens with, agrees.
            let mut lineage: Vec<&str> = lineage(by_slug(role.slug).unwrap_or_else(|| {
                panic!("{key}");
            }))
            .iter()
            .map(|r| r.role)
            .collect();
            lineage.sort_unstable();
            assert_eq!(lineage, expected, "{key}");
        }
    }

    #[test]
    fn slugs_names_and_parents() {
        for (i, role) in STANDARD_ROLES.iter().enumerate() {
            assert!(is_slug(role.slug), "{}", role.slug);
            assert_eq!(role.slug, role.role.replace('_', "-"));
            assert!(crate::rbac::check_role_name(role.role).is_ok());
            if let Some(parent) = role.parent {
                let at = STANDARD_ROLES.iter().position(|r| r.slug == parent);
                assert!(
                    at.is_some_and(|at| at < i),
                    "{parent} listed before {}",
                    role.slug
                );
            }
        }
        let service = by_slug("service-account").unwrap_or_else(|| panic!("slug"));
        assert_eq!(service.role, "service_account");
        assert!(by_slug("service_account").is_none());
    }

    #[test]
    fn every_grant_parses() {
        for role in STANDARD_ROLES {
            for p in role.permissions {
                assert!(Permission::parse(p).is_ok(), "{p}");
            }
            for a in role.actions {
                assert!(ActionGrant::parse(a).is_ok(), "{a}");
            }
        }
    }

    #[test]
    fn the_policy_flattens_each_lineage() {
        let policy = standard_role_policy();
        let names: Vec<&str> = policy.roles().iter().map(|r| r.name()).collect();
        let mut expected: Vec<&str> = STANDARD_ROLE_MATRIX.iter().map(|(k, _)| *k).collect();
        expected.sort_unstable();
        assert_eq!(names, expected);
        for (key, matrix) in STANDARD_ROLE_MATRIX {
            let role = policy.role(key).unwrap_or_else(|| panic!("{key}"));
            // The flattened role grants exactly the union of the matrix roles' own grants.
            let mut want_p: Vec<&str> = Vec::new();
            let mut want_a: Vec<&str> = Vec::new();
            for held in matrix {
                let std = STANDARD_ROLES
                    .iter()
                    .find(|r| r.role == *held)
                    .unwrap_or_else(|| panic!("{held}"));
                want_p.extend(std.permissions);
                want_a.extend(std.actions);
            }
            want_p.sort_unstable();
            want_a.sort_unstable();
            let mut got_p: Vec<&str> = role.permissions().iter().map(Permission::as_str).collect();
            let mut got_a: Vec<&str> = role.actions().iter().map(ActionGrant::as_str).collect();
            got_p.sort_unstable();
            got_a.sort_unstable();
            assert_eq!((got_p, got_a), (want_p, want_a), "{key}");
            // Holding the one role is holding the matrix's list.
            let p = |s: &str| Permission::parse(s).unwrap_or_else(|e| panic!("{e}"));
            let one = policy.permissions_for(&[key.to_owned()]);
            let all =
                policy.permissions_for(&matrix.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>());
            for probe in ["read:Catalog", "write:Catalog.Review", "delete:Catalog"] {
                assert_eq!(
                    one.allows(&p(probe)),
                    all.allows(&p(probe)),
                    "{key} {probe}"
                );
            }
        }
        let p = |s: &str| Permission::parse(s).unwrap_or_else(|e| panic!("{e}"));
        let set = |r: &str| policy.permissions_for(&[r.to_owned()]);
        assert!(set("superadmin").allows(&p("delete:Catalog")));
        assert!(set("developer").allows(&p("write:Catalog")));
        assert!(!set("developer").allows(&p("delete:Catalog")));
        assert!(set("operator").allows(&p("read:Catalog")));
        assert!(!set("operator").allows(&p("write:Catalog")));
        assert!(set("service_account").is_empty());
    }
}
