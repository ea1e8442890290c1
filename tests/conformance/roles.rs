//! The tenant role model's checks: roles and their hierarchy, grants, assignments, groups,
//! first sight, tenant versions and actions. Every backend must pass each one; the races run
//! their writers all at once and check the one outcome the rules allow.

use std::collections::BTreeMap;
use std::sync::Arc;

use portcullis::rbac::{ActionGrant, Permission};
use portcullis::store::roles::{
    ASSIGNED_TWICE, DEFAULT_GRANTOR, MAX_ROLE_DEPTH, NO_ASSIGNMENT, NO_PARENT, NO_ROLE,
    ROLE_CHANGED, ROLE_CYCLE, ROLE_FULL, ROLE_HAS_CHILDREN, ROLE_SLUG_TAKEN, ROLE_TOO_DEEP,
    SYSTEM_ROLE,
};
use portcullis::store::{
    ActionRecord, ActionStore, AssignmentFilter, AssignmentRecord, AssignmentStore, Grant,
    RoleFilter, RoleRecord, RoleStore, Store, StoreError, SubjectKind, TenantRoles,
};
use serde_json::json;
use tokio::sync::Barrier;

/// Everything a role check needs of a backend.
pub trait RoleBackend: Store + RoleStore + AssignmentStore + ActionStore {}
impl<T: Store + RoleStore + AssignmentStore + ActionStore> RoleBackend for T {}

pub fn role_id(tenant: &str, namespace: &str, slug: &str) -> String {
    format!("rol_{tenant}_{}_{slug}", namespace.replace('/', "."))
}

pub fn role(tenant: &str, namespace: &str, slug: &str) -> RoleRecord {
    RoleRecord {
        id: role_id(tenant, namespace, slug),
        tenant: tenant.into(),
        namespace: namespace.into(),
        slug: slug.into(),
        name: format!("Role {slug}"),
        description: format!("What {slug} does"),
        parent: None,
        is_system: false,
        is_default: false,
        max_members: None,
        metadata: serde_json::Map::new(),
        created_at: 100,
        updated_at: 100,
    }
}

fn child(tenant: &str, namespace: &str, slug: &str, parent: &str) -> RoleRecord {
    RoleRecord {
        parent: Some(parent.into()),
        ..role(tenant, namespace, slug)
    }
}

fn perm(text: &str) -> Grant {
    Grant::Permission(Permission::parse(text).unwrap())
}

fn act(text: &str) -> Grant {
    Grant::Action(ActionGrant::parse(text).unwrap())
}

pub fn assignment(
    id: &str,
    tenant: &str,
    role_id: &str,
    kind: SubjectKind,
    subject: &str,
) -> AssignmentRecord {
    AssignmentRecord {
        id: id.into(),
        tenant: tenant.into(),
        role_id: role_id.into(),
        subject_kind: kind,
        subject: subject.into(),
        resource_type: None,
        resource_id: None,
        granted_by: "u-admin".into(),
        created_at: 100,
        expires_at: None,
    }
}

fn user_asg(id: &str, tenant: &str, role_id: &str, user: &str) -> AssignmentRecord {
    assignment(id, tenant, role_id, SubjectKind::User, user)
}

fn all_of(tenant: &str) -> AssignmentFilter {
    AssignmentFilter {
        tenant: tenant.into(),
        limit: 1_000,
        ..AssignmentFilter::default()
    }
}

fn ids(list: &[AssignmentRecord]) -> Vec<&str> {
    list.iter().map(|a| a.id.as_str()).collect()
}

/// Everything the role traits show of one tenant.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    roles: TenantRoles,
    assignments: Vec<AssignmentRecord>,
    members: Vec<Vec<String>>,
    version: u64,
}

pub async fn snapshot<S: RoleBackend>(s: &S, tenant: &str, groups: &[&str]) -> Snapshot {
    let mut members = Vec::new();
    for group in groups {
        members.push(s.members(tenant, group).await.unwrap());
    }
    Snapshot {
        roles: s.tenant_roles(tenant).await.unwrap(),
        assignments: s.assignments(&all_of(tenant)).await.unwrap(),
        members,
        version: s.tenant_version(tenant).await.unwrap(),
    }
}

/// Create, read (by id and by slug), update (only the mutable fields) and delete.
pub async fn role_crud<S: RoleBackend>(s: &S) {
    let mut r = role("acme", "engineering", "dev");
    r.metadata = json!({"color": "red", "limits": {"seats": 3}})
        .as_object()
        .unwrap()
        .clone();
    s.create_role(&r, &[]).await.unwrap();
    s.create_role(&role("acme", "engineering", "lead"), &[])
        .await
        .unwrap();
    assert_eq!(s.role("acme", &r.id).await.unwrap(), Some(r.clone()));
    assert_eq!(
        s.role_by_slug("acme", "engineering", "dev").await.unwrap(),
        Some(r.clone())
    );
    assert_eq!(s.role_by_slug("acme", "", "dev").await.unwrap(), None);
    assert_eq!(s.role("acme", "rol_nope").await.unwrap(), None);

    // Every mutable field changes; the rest stays as stored, whatever the record says.
    let changed = RoleRecord {
        namespace: "elsewhere".into(),
        slug: "renamed".into(),
        is_system: true,
        created_at: 999,
        name: "Developer".into(),
        description: "Writes code".into(),
        parent: Some("lead".into()),
        is_default: true,
        max_members: Some(5),
        metadata: json!({"color": "blue"}).as_object().unwrap().clone(),
        updated_at: 200,
        ..r.clone()
    };
    s.update_role(&changed, None).await.unwrap();
    let expected = RoleRecord {
        name: "Developer".into(),
        description: "Writes code".into(),
        parent: Some("lead".into()),
        is_default: true,
        max_members: Some(5),
        metadata: changed.metadata.clone(),
        updated_at: 200,
        ..r.clone()
    };
    assert_eq!(s.role("acme", &r.id).await.unwrap(), Some(expected.clone()));
    assert_eq!(
        s.child_roles("acme", "engineering", "lead").await.unwrap(),
        vec![expected.clone()]
    );
    assert_eq!(
        s.update_role(&role("acme", "engineering", "ghost"), None)
            .await,
        Err(StoreError::NotFound(NO_ROLE))
    );

    // Back to no parent, then gone.
    s.update_role(
        &RoleRecord {
            parent: None,
            ..expected.clone()
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(s.role("acme", &r.id).await.unwrap().unwrap().parent, None);
    s.delete_role("acme", &r.id).await.unwrap();
    assert_eq!(s.role("acme", &r.id).await.unwrap(), None);
    assert_eq!(
        s.role_by_slug("acme", "engineering", "dev").await.unwrap(),
        None
    );
    assert_eq!(
        s.delete_role("acme", &r.id).await,
        Err(StoreError::NotFound(NO_ROLE))
    );
    // The slug is free again.
    s.create_role(&r, &[]).await.unwrap();
}

/// A slug is unique per (tenant, namespace), and only there.
pub async fn role_slugs_are_unique_per_namespace<S: RoleBackend>(s: &S) {
    s.create_role(&role("acme", "", "admin"), &[])
        .await
        .unwrap();
    let version = s.tenant_version("acme").await.unwrap();
    let again = RoleRecord {
        id: "rol_other".into(),
        name: "Another admin".into(),
        ..role("acme", "", "admin")
    };
    assert_eq!(
        s.create_role(&again, &[]).await,
        Err(StoreError::Conflict(ROLE_SLUG_TAKEN))
    );
    assert_eq!(s.role("acme", "rol_other").await.unwrap(), None);
    assert_eq!(
        s.role_by_slug("acme", "", "admin")
            .await
            .unwrap()
            .unwrap()
            .name,
        "Role admin"
    );
    assert_eq!(s.tenant_version("acme").await.unwrap(), version);
    // The same id under another slug is a conflict too.
    let same_id = RoleRecord {
        id: role_id("acme", "", "admin"),
        ..role("acme", "", "auditor")
    };
    assert!(matches!(
        s.create_role(&same_id, &[]).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.role_by_slug("acme", "", "auditor").await.unwrap(), None);
    // Another namespace, another tenant: the slug is free there.
    s.create_role(&role("acme", "engineering", "admin"), &[])
        .await
        .unwrap();
    s.create_role(&role("globex", "", "admin"), &[])
        .await
        .unwrap();
    assert_eq!(
        s.count_roles(&RoleFilter::tenant("acme", 10))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.count_roles(&RoleFilter::tenant("globex", 10))
            .await
            .unwrap(),
        1
    );
}

/// Every refused write leaves both tenants exactly as they were (and the memory store's
/// fingerprint too, when `fingerprint` gives one).
pub async fn refused_role_writes_observed<S: RoleBackend>(
    s: &S,
    fingerprint: impl Fn(&S) -> Option<u64>,
) {
    s.create_role(&role("acme", "", "base"), &[]).await.unwrap();
    s.create_role(&child("acme", "", "mid", "base"), &[])
        .await
        .unwrap();
    s.create_role(&child("acme", "", "leaf", "mid"), &[])
        .await
        .unwrap();
    s.create_role(
        &RoleRecord {
            is_system: true,
            ..role("acme", "", "sys")
        },
        &[],
    )
    .await
    .unwrap();
    s.create_role(
        &RoleRecord {
            max_members: Some(1),
            ..role("acme", "", "capped")
        },
        &[],
    )
    .await
    .unwrap();
    s.create_role(&role("globex", "", "other"), &[])
        .await
        .unwrap();
    let base = role_id("acme", "", "base");
    let sys = role_id("acme", "", "sys");
    let capped = role_id("acme", "", "capped");
    s.attach_grant("acme", &base, &perm("read:Catalog"))
        .await
        .unwrap();
    s.assign(&user_asg("asg_1", "acme", &base, "u2"), 100)
        .await
        .unwrap();
    s.assign(&user_asg("asg_2", "acme", &capped, "u1"), 100)
        .await
        .unwrap();
    s.add_member("acme", "g1", "u2", 100).await.unwrap();

    let acme = snapshot(s, "acme", &["g1"]).await;
    let globex = snapshot(s, "globex", &["g1"]).await;
    let print = fingerprint(s);

    let conflict = |e| Err(StoreError::Conflict(e));
    let not_found = |e| Err(StoreError::NotFound(e));
    assert_eq!(
        s.create_role(&role("acme", "", "base"), &[]).await,
        conflict(ROLE_SLUG_TAKEN)
    );
    assert!(matches!(
        s.create_role(
            &RoleRecord {
                id: base.clone(),
                ..role("acme", "", "fresh")
            },
            &[]
        )
        .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.create_role(&child("acme", "", "orphan", "nobody"), &[])
            .await,
        not_found(NO_PARENT)
    );
    assert_eq!(
        s.create_role(&child("acme", "engineering", "orphan", "base"), &[])
            .await,
        not_found(NO_PARENT),
        "a parent of another namespace is no parent"
    );
    assert_eq!(
        s.create_role(&child("initech", "", "orphan", "base"), &[])
            .await,
        not_found(NO_PARENT),
        "nor is one of another tenant"
    );
    assert_eq!(
        s.update_role(&child("acme", "", "base", "leaf"), None)
            .await,
        conflict(ROLE_CYCLE)
    );
    assert_eq!(
        s.update_role(&child("acme", "", "ghost", "base"), None)
            .await,
        not_found(NO_ROLE)
    );
    assert_eq!(
        s.update_role(
            &RoleRecord {
                name: "Renamed".into(),
                is_system: true,
                ..role("acme", "", "sys")
            },
            None
        )
        .await,
        conflict(SYSTEM_ROLE)
    );
    assert_eq!(s.delete_role("acme", &sys).await, conflict(SYSTEM_ROLE));
    assert_eq!(
        s.attach_grant("acme", &sys, &perm("write:Catalog")).await,
        conflict(SYSTEM_ROLE)
    );
    assert_eq!(
        s.detach_grant("acme", &sys, &perm("write:Catalog")).await,
        conflict(SYSTEM_ROLE)
    );
    assert_eq!(
        s.set_grants("acme", &sys, &[perm("write:Catalog")]).await,
        conflict(SYSTEM_ROLE)
    );
    assert_eq!(
        s.delete_role("acme", &base).await,
        conflict(ROLE_HAS_CHILDREN)
    );
    assert_eq!(
        s.attach_grant("acme", "rol_ghost", &perm("write:Catalog"))
            .await,
        not_found(NO_ROLE)
    );
    assert_eq!(
        s.set_grants("acme", "rol_ghost", &[]).await,
        not_found(NO_ROLE)
    );
    assert_eq!(
        s.assign(&user_asg("asg_9", "acme", "rol_ghost", "u3"), 100)
            .await,
        not_found(NO_ROLE)
    );
    assert_eq!(
        s.assign(&user_asg("asg_9", "acme", &capped, "u3"), 100)
            .await,
        conflict(ROLE_FULL)
    );
    assert_eq!(
        s.assign(&user_asg("asg_9", "acme", &base, "u2"), 100).await,
        conflict(ASSIGNED_TWICE)
    );
    assert!(matches!(
        s.assign(&user_asg("asg_1", "acme", &base, "u9"), 100).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.unassign("acme", "asg_9").await, not_found(NO_ASSIGNMENT));

    assert_eq!(snapshot(s, "acme", &["g1"]).await, acme);
    assert_eq!(snapshot(s, "globex", &["g1"]).await, globex);
    assert_eq!(
        s.tenant_version("initech").await.unwrap(),
        0,
        "a refused write creates no tenant"
    );
    assert_eq!(fingerprint(s), print, "nothing at all changed in the store");
}

pub async fn refused_role_writes_change_nothing<S: RoleBackend>(s: &S) {
    refused_role_writes_observed(s, |_| None).await;
}

/// A role of one tenant cannot be read, changed, deleted or assigned through another, even by
/// its id.
pub async fn roles_are_confined_to_their_tenant<S: RoleBackend>(s: &S) {
    s.create_role(&role("acme", "", "base"), &[]).await.unwrap();
    let id = role_id("acme", "", "base");
    s.attach_grant("acme", &id, &perm("read:Catalog"))
        .await
        .unwrap();
    s.assign(&user_asg("asg_1", "acme", &id, "u1"), 100)
        .await
        .unwrap();
    let before = snapshot(s, "acme", &[]).await;

    assert_eq!(s.role("globex", &id).await.unwrap(), None);
    assert_eq!(s.role_by_slug("globex", "", "base").await.unwrap(), None);
    let through_globex = RoleRecord {
        tenant: "globex".into(),
        name: "Hijacked".into(),
        ..role("acme", "", "base")
    };
    let no_role = Err(StoreError::NotFound(NO_ROLE));
    assert_eq!(s.update_role(&through_globex, None).await, no_role);
    assert_eq!(s.delete_role("globex", &id).await, no_role);
    assert_eq!(
        s.attach_grant("globex", &id, &perm("write:Catalog")).await,
        no_role
    );
    assert_eq!(
        s.detach_grant("globex", &id, &perm("read:Catalog")).await,
        no_role
    );
    assert_eq!(s.set_grants("globex", &id, &[]).await, no_role);
    assert_eq!(
        s.role_grants("globex", &id).await,
        Err(StoreError::NotFound(NO_ROLE))
    );
    assert_eq!(
        s.assign(&user_asg("asg_2", "globex", &id, "u2"), 100).await,
        no_role
    );
    assert_eq!(s.assignment("globex", "asg_1").await.unwrap(), None);
    assert_eq!(
        s.unassign("globex", "asg_1").await,
        Err(StoreError::NotFound(NO_ASSIGNMENT))
    );
    assert!(s.assignments(&all_of("globex")).await.unwrap().is_empty());
    assert!(
        s.assignments_of_roles("globex", std::slice::from_ref(&id))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.assignments_of("globex", "u1").await.unwrap().is_empty());
    assert!(
        s.child_roles("globex", "", "base")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.count_roles(&RoleFilter::tenant("globex", 10))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.tenant_roles("globex").await.unwrap(),
        TenantRoles::default()
    );
    assert_eq!(snapshot(s, "acme", &[]).await, before);
}

/// A parent exists in the same namespace; no cycle; no chain longer than 16, neither the role's
/// nor a descendant's.
pub async fn role_hierarchy_stays_sound<S: RoleBackend>(s: &S) {
    // a → b → c (a is b's parent, b is c's).
    s.create_role(&role("acme", "", "a"), &[]).await.unwrap();
    s.create_role(&child("acme", "", "b", "a"), &[])
        .await
        .unwrap();
    s.create_role(&child("acme", "", "c", "b"), &[])
        .await
        .unwrap();
    s.create_role(&role("acme", "sales", "lone"), &[])
        .await
        .unwrap();
    assert_eq!(
        s.update_role(&child("acme", "", "a", "c"), None).await,
        Err(StoreError::Conflict(ROLE_CYCLE))
    );
    assert_eq!(
        s.update_role(&child("acme", "", "b", "b"), None).await,
        Err(StoreError::Conflict(ROLE_CYCLE))
    );
    assert_eq!(
        s.update_role(&child("acme", "sales", "lone", "a"), None)
            .await,
        Err(StoreError::NotFound(NO_PARENT))
    );
    assert_eq!(
        s.role("acme", &role_id("acme", "", "a"))
            .await
            .unwrap()
            .unwrap()
            .parent,
        None
    );
    // Moving c under a is fine.
    s.update_role(&child("acme", "", "c", "a"), None)
        .await
        .unwrap();
    let children: Vec<String> = s
        .child_roles("acme", "", "a")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.slug)
        .collect();
    assert_eq!(children, ["b", "c"]);

    // A chain r0 ← r1 ← … ← r15 is as deep as allowed; r16 would be one too many.
    s.create_role(&role("acme", "deep", "r0"), &[])
        .await
        .unwrap();
    for i in 1..MAX_ROLE_DEPTH {
        s.create_role(
            &child("acme", "deep", &format!("r{i}"), &format!("r{}", i - 1)),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("r{i}: {e}"));
    }
    let too_deep = Err(StoreError::Conflict(ROLE_TOO_DEEP));
    let last = format!("r{}", MAX_ROLE_DEPTH - 1);
    assert_eq!(
        s.create_role(&child("acme", "deep", "r16", &last), &[])
            .await,
        too_deep
    );
    assert_eq!(s.role_by_slug("acme", "deep", "r16").await.unwrap(), None);
    // A new root above r0 would make r15's chain 17 long.
    s.create_role(&role("acme", "deep", "top"), &[])
        .await
        .unwrap();
    assert_eq!(
        s.update_role(&child("acme", "deep", "r0", "top"), None)
            .await,
        too_deep
    );
    // A subtree s ← s1 moved under r14 puts s1 at depth 17; under r13 it fits.
    s.create_role(&role("acme", "deep", "s"), &[])
        .await
        .unwrap();
    s.create_role(&child("acme", "deep", "s1", "s"), &[])
        .await
        .unwrap();
    assert_eq!(
        s.update_role(&child("acme", "deep", "s", "r14"), None)
            .await,
        too_deep
    );
    assert_eq!(
        s.role_by_slug("acme", "deep", "s")
            .await
            .unwrap()
            .unwrap()
            .parent,
        None
    );
    s.update_role(&child("acme", "deep", "s", "r13"), None)
        .await
        .unwrap();
    assert_eq!(
        s.role_by_slug("acme", "deep", "s")
            .await
            .unwrap()
            .unwrap()
            .parent,
        Some("r13".into())
    );
}

/// A system role never changes, but it can be assigned.
pub async fn system_roles_never_change<S: RoleBackend>(s: &S) {
    let sys = RoleRecord {
        is_system: true,
        ..role("acme", "", "owner")
    };
    // Its grants come with it, in the same transaction: the only way it can get any.
    s.create_role(&sys, &[act("reports:*"), act("*")])
        .await
        .unwrap();
    let refused = Err(StoreError::Conflict(SYSTEM_ROLE));
    let renamed = RoleRecord {
        name: "Renamed".into(),
        ..sys.clone()
    };
    assert_eq!(s.update_role(&renamed, None).await, refused);
    assert_eq!(s.delete_role("acme", &sys.id).await, refused);
    assert_eq!(s.attach_grant("acme", &sys.id, &act("*")).await, refused);
    assert_eq!(s.detach_grant("acme", &sys.id, &act("*")).await, refused);
    assert_eq!(s.set_grants("acme", &sys.id, &[act("*")]).await, refused);
    assert_eq!(s.role("acme", &sys.id).await.unwrap(), Some(sys.clone()));
    assert_eq!(
        s.role_grants("acme", &sys.id).await.unwrap(),
        [act("*"), act("reports:*")]
    );
    // A create refused for its slug leaves no grant behind under the new id.
    let clash = RoleRecord {
        id: "rol_clash".into(),
        ..role("acme", "", "owner")
    };
    assert_eq!(
        s.create_role(&clash, &[act("x:*")]).await,
        Err(StoreError::Conflict(ROLE_SLUG_TAKEN))
    );
    assert_eq!(
        s.role_grants("acme", "rol_clash").await,
        Err(StoreError::NotFound(NO_ROLE))
    );
    let tenant = s.tenant_roles("acme").await.unwrap();
    assert!(tenant.grants.iter().all(|(id, _)| id != "rol_clash"));
    s.assign(&user_asg("asg_1", "acme", &sys.id, "u1"), 100)
        .await
        .unwrap();
    assert_eq!(
        s.assignment("acme", "asg_1")
            .await
            .unwrap()
            .map(|a| a.role_id),
        Some(sys.id.clone())
    );
}

/// A role with children stays; deleting one takes its grants and assignments, and nothing else.
pub async fn deleting_a_role<S: RoleBackend>(s: &S) {
    s.create_role(&role("acme", "", "base"), &[]).await.unwrap();
    s.create_role(&child("acme", "", "kid", "base"), &[])
        .await
        .unwrap();
    let base = role_id("acme", "", "base");
    let kid = role_id("acme", "", "kid");
    s.set_grants("acme", &kid, &[perm("read:Catalog"), act("reports:*")])
        .await
        .unwrap();
    s.attach_grant("acme", &base, &perm("write:Catalog"))
        .await
        .unwrap();
    s.assign(&user_asg("asg_kid", "acme", &kid, "u1"), 100)
        .await
        .unwrap();
    s.assign(&user_asg("asg_base", "acme", &base, "u1"), 100)
        .await
        .unwrap();
    assert_eq!(
        s.delete_role("acme", &base).await,
        Err(StoreError::Conflict(ROLE_HAS_CHILDREN))
    );
    s.delete_role("acme", &kid).await.unwrap();
    assert_eq!(s.assignment("acme", "asg_kid").await.unwrap(), None);
    assert!(
        s.assignments_of_roles("acme", std::slice::from_ref(&kid))
            .await
            .unwrap()
            .is_empty()
    );
    let all = s.tenant_roles("acme").await.unwrap();
    assert_eq!(all.grants, vec![(base.clone(), perm("write:Catalog"))]);
    // A role made again under the same id starts with nothing.
    s.create_role(&child("acme", "", "kid", "base"), &[])
        .await
        .unwrap();
    assert!(s.role_grants("acme", &kid).await.unwrap().is_empty());
    assert!(
        s.assignments_of_roles("acme", std::slice::from_ref(&kid))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&s.assignments_of("acme", "u1").await.unwrap()),
        ["asg_base"]
    );
    // Without children now, the parent can go.
    s.delete_role("acme", &kid).await.unwrap();
    s.delete_role("acme", &base).await.unwrap();
    assert!(s.assignments(&all_of("acme")).await.unwrap().is_empty());
    assert_eq!(
        s.tenant_roles("acme").await.unwrap(),
        TenantRoles::default()
    );
}

/// Listings agree with `RoleFilter::matches` on every field, page by page.
pub async fn role_filters<S: RoleBackend>(s: &S) {
    let make = |namespace: &str, slug: &str, name: &str, description: &str| RoleRecord {
        name: name.into(),
        description: description.into(),
        ..role("acme", namespace, slug)
    };
    let roles = [
        RoleRecord {
            is_system: true,
            ..make("", "owner", "Owner", "Everything")
        },
        RoleRecord {
            is_default: true,
            ..make("", "member", "Member", "Basic_access")
        },
        make("engineering", "lead", "Tech Lead", "100% hands-on"),
        RoleRecord {
            parent: Some("lead".into()),
            ..make("engineering", "dev", "Developer", "Writes code")
        },
        make(
            "engineering/platform",
            "sre",
            "Site Reliability",
            "Keeps things UP",
        ),
        make(
            "engineering-eu",
            "dev",
            "EU developer",
            "Writes code in the EU",
        ),
        make("Engineering", "audit", "CAFÉ auditor", "Checks"),
        // Namespaces are case-sensitive: `engineering` is no prefix of this one.
        make("Engineering/ops", "oncall", "On call", "Pages"),
    ];
    for r in &roles {
        s.create_role(r, &[]).await.unwrap();
    }
    s.create_role(
        &RoleRecord {
            tenant: "globex".into(),
            id: "rol_globex_dev".into(),
            ..make("", "dev", "Developer", "Writes code")
        },
        &[],
    )
    .await
    .unwrap();

    let everything = [
        ":member",
        ":owner",
        "Engineering:audit",
        "Engineering/ops:oncall",
        "engineering:dev",
        "engineering:lead",
        "engineering-eu:dev",
        "engineering/platform:sre",
    ];
    let base = RoleFilter::tenant("acme", 100);
    let cases: Vec<(RoleFilter, Vec<&str>)> = vec![
        (base.clone(), everything.to_vec()),
        (
            RoleFilter {
                namespace: Some("engineering".into()),
                ..base.clone()
            },
            vec!["engineering:dev", "engineering:lead"],
        ),
        (
            RoleFilter {
                namespace: Some(String::new()),
                ..base.clone()
            },
            vec![":member", ":owner"],
        ),
        (
            RoleFilter {
                namespace_prefix: Some("engineering".into()),
                ..base.clone()
            },
            vec![
                "engineering:dev",
                "engineering:lead",
                "engineering/platform:sre",
            ],
        ),
        (
            RoleFilter {
                namespace_prefix: Some("Engineering".into()),
                ..base.clone()
            },
            vec!["Engineering:audit", "Engineering/ops:oncall"],
        ),
        (
            RoleFilter {
                namespace_prefix: Some("engineering/platform".into()),
                ..base.clone()
            },
            vec!["engineering/platform:sre"],
        ),
        (
            RoleFilter {
                namespace_prefix: Some("engineer".into()),
                ..base.clone()
            },
            vec![],
        ),
        (
            RoleFilter {
                namespace_prefix: Some(String::new()),
                ..base.clone()
            },
            everything.to_vec(),
        ),
        (
            RoleFilter {
                system: Some(true),
                ..base.clone()
            },
            vec![":owner"],
        ),
        (
            RoleFilter {
                system: Some(false),
                ..base.clone()
            },
            everything[..1]
                .iter()
                .chain(&everything[2..])
                .copied()
                .collect(),
        ),
        (
            RoleFilter {
                default: Some(true),
                ..base.clone()
            },
            vec![":member"],
        ),
        (
            RoleFilter {
                default: Some(false),
                system: Some(false),
                ..base.clone()
            },
            everything[2..].to_vec(),
        ),
        (
            RoleFilter {
                parent: Some("lead".into()),
                ..base.clone()
            },
            vec!["engineering:dev"],
        ),
        (
            RoleFilter {
                search: Some("DEV".into()),
                ..base.clone()
            },
            vec!["engineering:dev", "engineering-eu:dev"],
        ),
        // LIKE's wildcards are only themselves.
        (
            RoleFilter {
                search: Some("_".into()),
                ..base.clone()
            },
            vec![":member"],
        ),
        (
            RoleFilter {
                search: Some("0%".into()),
                ..base.clone()
            },
            vec!["engineering:lead"],
        ),
        (
            RoleFilter {
                search: Some("1%0".into()),
                ..base.clone()
            },
            vec![],
        ),
        (
            RoleFilter {
                search: Some("up".into()),
                ..base.clone()
            },
            vec!["engineering/platform:sre"],
        ),
        // Only ASCII letters are folded: `É` is not `é`.
        (
            RoleFilter {
                search: Some("café".into()),
                ..base.clone()
            },
            vec![],
        ),
        (
            RoleFilter {
                search: Some("cafÉ".into()),
                ..base.clone()
            },
            vec!["Engineering:audit"],
        ),
        (
            RoleFilter {
                search: Some(String::new()),
                ..base.clone()
            },
            everything.to_vec(),
        ),
        (
            RoleFilter {
                namespace_prefix: Some("engineering".into()),
                search: Some("code".into()),
                ..base.clone()
            },
            vec!["engineering:dev"],
        ),
        (RoleFilter::tenant("globex", 100), vec![":dev"]),
        (RoleFilter::tenant("initech", 100), vec![]),
    ];
    let label = |r: &RoleRecord| format!("{}:{}", r.namespace, r.slug);
    let acme_all = s.tenant_roles("acme").await.unwrap().roles;
    for (filter, expected) in cases {
        let listed: Vec<String> = s
            .list_roles(&filter)
            .await
            .unwrap()
            .iter()
            .map(label)
            .collect();
        assert_eq!(listed, expected, "{filter:?}");
        assert_eq!(
            s.count_roles(&filter).await.unwrap(),
            expected.len() as u64,
            "{filter:?}"
        );
        if filter.tenant == "acme" {
            let by_matches: Vec<String> = acme_all
                .iter()
                .filter(|r| filter.matches(r))
                .map(label)
                .collect();
            assert_eq!(listed, by_matches, "matches agrees: {filter:?}");
        }
    }
    // The records come back whole.
    assert_eq!(
        s.list_roles(&RoleFilter {
            system: Some(true),
            ..base.clone()
        })
        .await
        .unwrap(),
        vec![roles[0].clone()]
    );

    // Pages: limit and offset apply to the listing, not to the count.
    let page = |limit, offset| RoleFilter {
        limit,
        offset,
        ..base.clone()
    };
    let labels = |list: Vec<RoleRecord>| list.iter().map(label).collect::<Vec<_>>();
    assert_eq!(
        labels(s.list_roles(&page(2, 1)).await.unwrap()),
        everything[1..3]
    );
    assert_eq!(
        labels(s.list_roles(&page(3, 5)).await.unwrap()),
        everything[5..]
    );
    assert!(s.list_roles(&page(0, 0)).await.unwrap().is_empty());
    assert!(s.list_roles(&page(5, 8)).await.unwrap().is_empty());
    assert_eq!(s.count_roles(&page(1, 6)).await.unwrap(), 8);
}

/// Grants: attach is idempotent, detach of a missing one is fine, set replaces all; listings
/// are sorted; a permission and an action with the same text are two grants.
pub async fn role_grants<S: RoleBackend>(s: &S) {
    s.create_role(&role("acme", "", "analyst"), &[])
        .await
        .unwrap();
    s.create_role(&role("acme", "sales", "rep"), &[])
        .await
        .unwrap();
    s.create_role(&role("globex", "", "other"), &[])
        .await
        .unwrap();
    let analyst = role_id("acme", "", "analyst");
    let rep = role_id("acme", "sales", "rep");
    assert!(s.role_grants("acme", &analyst).await.unwrap().is_empty());
    assert_eq!(
        s.role_grants("acme", "rol_ghost").await,
        Err(StoreError::NotFound(NO_ROLE))
    );
    for grant in [
        act("reports:export"),
        perm("reports:export"),
        perm("read:Catalog"),
        act("*"),
        perm("read:Catalog"),
    ] {
        s.attach_grant("acme", &analyst, &grant).await.unwrap();
    }
    let sorted = vec![
        perm("read:Catalog"),
        perm("reports:export"),
        act("*"),
        act("reports:export"),
    ];
    assert_eq!(s.role_grants("acme", &analyst).await.unwrap(), sorted);
    // Detaching the action leaves the permission of the same text.
    s.detach_grant("acme", &analyst, &act("reports:export"))
        .await
        .unwrap();
    s.detach_grant("acme", &analyst, &act("reports:export"))
        .await
        .unwrap();
    s.detach_grant("acme", &analyst, &perm("write:Never"))
        .await
        .unwrap();
    assert_eq!(
        s.role_grants("acme", &analyst).await.unwrap(),
        vec![perm("read:Catalog"), perm("reports:export"), act("*")]
    );
    s.set_grants(
        "acme",
        &rep,
        &[act("crm:*"), perm("write:Deal"), act("crm:*")],
    )
    .await
    .unwrap();
    assert_eq!(
        s.role_grants("acme", &rep).await.unwrap(),
        vec![perm("write:Deal"), act("crm:*")]
    );
    s.set_grants("acme", &rep, &[perm("read:Deal")])
        .await
        .unwrap();
    assert_eq!(
        s.role_grants("acme", &rep).await.unwrap(),
        vec![perm("read:Deal")]
    );
    s.attach_grant(
        "globex",
        &role_id("globex", "", "other"),
        &perm("read:Deal"),
    )
    .await
    .unwrap();

    // The tenant's whole model: every role and every grant, and none of another tenant's.
    let all = s.tenant_roles("acme").await.unwrap();
    let slugs: Vec<&str> = all.roles.iter().map(|r| r.slug.as_str()).collect();
    assert_eq!(slugs, ["analyst", "rep"]);
    assert_eq!(all.roles[0], role("acme", "", "analyst"));
    let mut expected = vec![
        (analyst.clone(), perm("read:Catalog")),
        (analyst.clone(), perm("reports:export")),
        (analyst.clone(), act("*")),
        (rep.clone(), perm("read:Deal")),
    ];
    expected.sort();
    assert_eq!(all.grants, expected);
    s.set_grants("acme", &rep, &[]).await.unwrap();
    assert!(s.role_grants("acme", &rep).await.unwrap().is_empty());
}

/// Assignments: the natural key is unique, resources and expiry are kept, a user's assignments
/// include those of its groups in the same tenant only, and listings filter and page.
pub async fn role_assignments<S: RoleBackend>(s: &S) {
    s.create_role(&role("acme", "", "editor"), &[])
        .await
        .unwrap();
    s.create_role(&role("acme", "", "viewer"), &[])
        .await
        .unwrap();
    s.create_role(&role("globex", "", "viewer"), &[])
        .await
        .unwrap();
    let editor = role_id("acme", "", "editor");
    let viewer = role_id("acme", "", "viewer");
    let globex_viewer = role_id("globex", "", "viewer");

    let a1 = AssignmentRecord {
        created_at: 300,
        ..user_asg("asg_1", "acme", &editor, "u1")
    };
    let a2 = AssignmentRecord {
        resource_type: Some("document".into()),
        resource_id: Some("d1".into()),
        created_at: 200,
        expires_at: Some(5_000),
        ..user_asg("asg_2", "acme", &editor, "u1")
    };
    let a3 = AssignmentRecord {
        resource_type: Some("document".into()),
        created_at: 200,
        ..user_asg("asg_3", "acme", &editor, "u1")
    };
    // A group's, expired long ago: still listed.
    let a4 = AssignmentRecord {
        expires_at: Some(150),
        created_at: 100,
        ..assignment("asg_4", "acme", &viewer, SubjectKind::Group, "g1")
    };
    // A user whose id is the group's: kinds are kept apart.
    let a5 = user_asg("asg_5", "acme", &viewer, "g1");
    let a6 = assignment("asg_6", "globex", &globex_viewer, SubjectKind::Group, "g1");
    for a in [&a1, &a2, &a3, &a4, &a5, &a6] {
        s.assign(a, 1_000).await.unwrap();
    }
    assert_eq!(
        s.assignment("acme", "asg_2").await.unwrap(),
        Some(a2.clone())
    );
    assert_eq!(
        s.assignment("acme", "asg_4").await.unwrap(),
        Some(a4.clone())
    );
    assert_eq!(s.assignment("acme", "asg_6").await.unwrap(), None);
    let twice = AssignmentRecord {
        id: "asg_x".into(),
        created_at: 999,
        expires_at: None,
        ..a2.clone()
    };
    assert_eq!(
        s.assign(&twice, 1_000).await,
        Err(StoreError::Conflict(ASSIGNED_TWICE))
    );
    // The same role for another resource is another assignment.
    let a7 = AssignmentRecord {
        id: "asg_7".into(),
        resource_id: Some("d2".into()),
        ..a2.clone()
    };
    s.assign(&a7, 1_000).await.unwrap();

    // u2 is in acme's g1; u1 is in globex's g1 only.
    s.add_member("acme", "g1", "u2", 10).await.unwrap();
    s.add_member("globex", "g1", "u1", 10).await.unwrap();
    assert_eq!(
        ids(&s.assignments_of("acme", "u1").await.unwrap()),
        ["asg_2", "asg_3", "asg_7", "asg_1"],
        "by creation time then id; no group of another tenant"
    );
    assert_eq!(
        s.assignments_of("acme", "u2").await.unwrap(),
        vec![a4.clone()]
    );
    assert_eq!(
        ids(&s.assignments_of("globex", "u1").await.unwrap()),
        ["asg_6"]
    );
    assert!(s.assignments_of("acme", "u3").await.unwrap().is_empty());

    let filtered = |role_id: Option<&str>, subject: Option<(SubjectKind, &str)>, limit, offset| {
        AssignmentFilter {
            tenant: "acme".into(),
            role_id: role_id.map(Into::into),
            subject: subject.map(|(k, s)| (k, s.into())),
            limit,
            offset,
        }
    };
    let listed = |f: AssignmentFilter| async move { s.assignments(&f).await.unwrap() };
    assert_eq!(
        ids(&listed(filtered(None, None, 100, 0)).await),
        ["asg_4", "asg_5", "asg_2", "asg_3", "asg_7", "asg_1"]
    );
    assert_eq!(
        ids(&listed(filtered(Some(&viewer), None, 100, 0)).await),
        ["asg_4", "asg_5"]
    );
    assert_eq!(
        ids(&listed(filtered(None, Some((SubjectKind::Group, "g1")), 100, 0)).await),
        ["asg_4"]
    );
    assert_eq!(
        ids(&listed(filtered(None, Some((SubjectKind::User, "g1")), 100, 0)).await),
        ["asg_5"]
    );
    assert_eq!(
        ids(&listed(filtered(
            Some(&editor),
            Some((SubjectKind::User, "u1")),
            2,
            1
        ))
        .await),
        ["asg_3", "asg_7"]
    );
    assert!(listed(filtered(None, None, 0, 0)).await.is_empty());
    assert_eq!(ids(&listed(filtered(None, None, 100, 5)).await), ["asg_1"]);

    assert_eq!(
        ids(&s
            .assignments_of_roles("acme", &[viewer.clone(), "rol_ghost".into(), globex_viewer])
            .await
            .unwrap()),
        ["asg_4", "asg_5"]
    );
    assert!(
        s.assignments_of_roles("acme", &[])
            .await
            .unwrap()
            .is_empty()
    );
    // Many ids at once are one query, not a statement too long to run.
    let many: Vec<String> = (0..1_200)
        .map(|i| format!("rol_{i}"))
        .chain([editor.clone()])
        .collect();
    assert_eq!(
        ids(&s.assignments_of_roles("acme", &many).await.unwrap()),
        ["asg_2", "asg_3", "asg_7", "asg_1"]
    );

    s.unassign("acme", "asg_1").await.unwrap();
    assert_eq!(s.assignment("acme", "asg_1").await.unwrap(), None);
    assert_eq!(
        s.unassign("acme", "asg_1").await,
        Err(StoreError::NotFound(NO_ASSIGNMENT))
    );
    assert_eq!(
        ids(&s.assignments_of("acme", "u1").await.unwrap()),
        ["asg_2", "asg_3", "asg_7"]
    );
}

/// Memberships: adding twice or removing a missing one changes nothing; lists are sorted and
/// per tenant.
pub async fn group_members<S: RoleBackend>(s: &S) {
    for (group, subject) in [("ops", "u2"), ("ops", "u1"), ("dev", "u1"), ("ops", "u1")] {
        s.add_member("acme", group, subject, 10).await.unwrap();
    }
    s.add_member("globex", "ops", "u9", 10).await.unwrap();
    s.add_member("acme", "dev", "u3", 7).await.unwrap();
    // The tenant's groups, sorted, each since its earliest member still there.
    assert_eq!(
        s.groups("acme").await.unwrap(),
        [("dev".to_owned(), 7), ("ops".to_owned(), 10)]
    );
    assert_eq!(s.groups("globex").await.unwrap(), [("ops".to_owned(), 10)]);
    assert!(s.groups("initech").await.unwrap().is_empty());
    s.remove_member("acme", "dev", "u3").await.unwrap();
    assert_eq!(s.members("acme", "ops").await.unwrap(), ["u1", "u2"]);
    assert_eq!(s.groups_of("acme", "u1").await.unwrap(), ["dev", "ops"]);
    assert_eq!(s.members("globex", "ops").await.unwrap(), ["u9"]);
    assert!(s.groups_of("globex", "u1").await.unwrap().is_empty());
    s.remove_member("acme", "ops", "u1").await.unwrap();
    s.remove_member("acme", "ops", "u1").await.unwrap();
    s.remove_member("acme", "nobody", "u1").await.unwrap();
    assert_eq!(s.members("acme", "ops").await.unwrap(), ["u2"]);
    assert_eq!(s.groups_of("acme", "u1").await.unwrap(), ["dev"]);
    assert!(s.members("acme", "none").await.unwrap().is_empty());
    // A group whose last member left is no longer listed.
    s.remove_member("acme", "dev", "u1").await.unwrap();
    assert_eq!(s.groups("acme").await.unwrap(), [("ops".to_owned(), 10)]);
}

/// `max_members` counts subjects with live assignments: expired ones do not count, a subject
/// holding the role for another resource is no new member, and a group is a member.
pub async fn max_members_counts_live_subjects<S: RoleBackend>(s: &S) {
    s.create_role(
        &RoleRecord {
            max_members: Some(2),
            ..role("acme", "", "seat")
        },
        &[],
    )
    .await
    .unwrap();
    let seat = role_id("acme", "", "seat");
    s.assign(
        &AssignmentRecord {
            expires_at: Some(500),
            ..user_asg("asg_1", "acme", &seat, "u1")
        },
        100,
    )
    .await
    .unwrap();
    s.assign(&user_asg("asg_2", "acme", &seat, "u2"), 100)
        .await
        .unwrap();
    let full = Err(StoreError::Conflict(ROLE_FULL));
    // Before u1's expiry the role is full…
    assert_eq!(
        s.assign(&user_asg("asg_3", "acme", &seat, "u3"), 499).await,
        full
    );
    // …and at it, u1 no longer counts.
    s.assign(&user_asg("asg_3", "acme", &seat, "u3"), 500)
        .await
        .unwrap();
    assert_eq!(
        s.assign(&user_asg("asg_4", "acme", &seat, "u4"), 500).await,
        full
    );
    assert_eq!(
        s.assign(
            &assignment("asg_4", "acme", &seat, SubjectKind::Group, "u4"),
            500
        )
        .await,
        full
    );
    // u2 holds it already: a second resource adds no member.
    let more = AssignmentRecord {
        resource_type: Some("document".into()),
        resource_id: Some("d1".into()),
        ..user_asg("asg_5", "acme", &seat, "u2")
    };
    s.assign(&more, 500).await.unwrap();
    s.unassign("acme", "asg_3").await.unwrap();
    s.assign(
        &assignment("asg_6", "acme", &seat, SubjectKind::Group, "g1"),
        500,
    )
    .await
    .unwrap();
    assert_eq!(
        ids(&s.assignments_of_roles("acme", &[seat]).await.unwrap()),
        ["asg_1", "asg_2", "asg_5", "asg_6"]
    );
}

/// Twenty concurrent assignments to a role with room for three: exactly three land.
pub async fn max_members_holds_under_concurrency<S: RoleBackend>(s: &S) {
    s.create_role(
        &RoleRecord {
            max_members: Some(3),
            ..role("acme", "", "scarce")
        },
        &[],
    )
    .await
    .unwrap();
    let scarce = role_id("acme", "", "scarce");
    let start = Arc::new(Barrier::new(20));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (s, start, scarce) = (s.clone(), start.clone(), scarce.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let a = user_asg(&format!("asg_{i:02}"), "acme", &scarce, &format!("u{i:02}"));
            s.assign(&a, 1_000).await
        }));
    }
    let (mut landed, mut full) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => landed += 1,
            Err(StoreError::Conflict(ROLE_FULL)) => full += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((landed, full), (3, 17));
    assert_eq!(
        s.assignments_of_roles("acme", &[scarce])
            .await
            .unwrap()
            .len(),
        3
    );
}

/// First sight gives the default roles once, however many calls race; a full default role and
/// one the user already holds are left out.
pub async fn first_sight_gives_default_roles_once<S: RoleBackend>(s: &S) {
    let default = |namespace: &str, slug: &str| RoleRecord {
        is_default: true,
        ..role("acme", namespace, slug)
    };
    s.create_role(&default("", "member"), &[]).await.unwrap();
    s.create_role(&default("engineering", "reader"), &[])
        .await
        .unwrap();
    s.create_role(
        &RoleRecord {
            max_members: Some(1),
            ..default("", "pilot")
        },
        &[],
    )
    .await
    .unwrap();
    s.create_role(&default("", "given"), &[]).await.unwrap();
    s.create_role(&role("acme", "", "plain"), &[])
        .await
        .unwrap();
    s.create_role(
        &RoleRecord {
            is_default: true,
            ..role("globex", "", "member")
        },
        &[],
    )
    .await
    .unwrap();
    let id = |ns: &str, slug: &str| role_id("acme", ns, slug);
    // The pilot role's one seat is taken; "given" the user had before being seen.
    s.assign(&user_asg("asg_pilot", "acme", &id("", "pilot"), "u0"), 100)
        .await
        .unwrap();
    s.assign(
        &user_asg("asg_given", "acme", &id("", "given"), "u-new"),
        100,
    )
    .await
    .unwrap();

    let start = Arc::new(Barrier::new(10));
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (s, start) = (s.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            s.first_sight("acme", "u-new", 1_000).await.unwrap()
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let made = task.await.unwrap();
        if !made.is_empty() {
            winners.push(made);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one call sees the user first");
    let made = winners.remove(0);
    let roles: Vec<&str> = made.iter().map(|a| a.role_id.as_str()).collect();
    assert_eq!(roles, [id("", "member"), id("engineering", "reader")]);
    for a in &made {
        assert!(a.id.starts_with("asg_") && a.id.len() == 26, "{}", a.id);
        let expected = AssignmentRecord {
            id: a.id.clone(),
            role_id: a.role_id.clone(),
            granted_by: DEFAULT_GRANTOR.into(),
            created_at: 1_000,
            ..user_asg("", "acme", "", "u-new")
        };
        assert_eq!(a, &expected);
        assert_eq!(s.assignment("acme", &a.id).await.unwrap().as_ref(), Some(a));
    }
    // Each default role exactly once; the full one not at all.
    let mut held: BTreeMap<String, usize> = BTreeMap::new();
    for a in s.assignments_of("acme", "u-new").await.unwrap() {
        *held.entry(a.role_id).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = [
        (id("", "given"), 1),
        (id("", "member"), 1),
        (id("engineering", "reader"), 1),
    ]
    .into();
    assert_eq!(held, expected);
    let version = s.tenant_version("acme").await.unwrap();
    assert!(
        s.first_sight("acme", "u-new", 2_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.tenant_version("acme").await.unwrap(),
        version,
        "a subject seen before changes nothing"
    );
    // Another tenant sees the user for the first time.
    let there = s.first_sight("globex", "u-new", 1_000).await.unwrap();
    assert_eq!(there.len(), 1);
    assert_eq!(there[0].role_id, role_id("globex", "", "member"));
    // A tenant without default roles: seen, nothing given.
    assert!(
        s.first_sight("initech", "u-new", 1_000)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Two writers at once making a and b each other's parent: one wins, the other sees the cycle,
/// and the stored hierarchy never holds one.
pub async fn concurrent_cycles_are_refused<S: RoleBackend>(s: &S) {
    for round in 0..20 {
        let namespace = format!("race{round}");
        s.create_role(&role("acme", &namespace, "a"), &[])
            .await
            .unwrap();
        s.create_role(&role("acme", &namespace, "b"), &[])
            .await
            .unwrap();
        let start = Arc::new(Barrier::new(2));
        let mut tasks = Vec::new();
        for (slug, parent) in [("a", "b"), ("b", "a")] {
            let (s, start, update) = (
                s.clone(),
                start.clone(),
                child("acme", &namespace, slug, parent),
            );
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                s.update_role(&update, None).await
            }));
        }
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        let won = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes.contains(&Err(StoreError::Conflict(ROLE_CYCLE))),
            "round {round}: {outcomes:?}"
        );
        let a = s
            .role_by_slug("acme", &namespace, "a")
            .await
            .unwrap()
            .unwrap();
        let b = s
            .role_by_slug("acme", &namespace, "b")
            .await
            .unwrap()
            .unwrap();
        assert!(
            a.parent.is_some() != b.parent.is_some(),
            "round {round}: exactly one parent stored, no cycle ({:?}, {:?})",
            a.parent,
            b.parent
        );
    }
}

/// Every kind of write increases the tenant's version; nothing else's; and deleting the tenant
/// never takes it back.
pub async fn tenant_versions_only_grow<S: RoleBackend>(s: &S) {
    assert_eq!(s.tenant_version("acme").await.unwrap(), 0);
    s.create_role(&role("globex", "", "x"), &[]).await.unwrap();
    let globex = s.tenant_version("globex").await.unwrap();
    assert!(globex > 0);

    let mut last = 0;
    let mut grew = async |what: &str| {
        let now = s.tenant_version("acme").await.unwrap();
        assert!(now > last, "{what}: {now} after {last}");
        last = now;
    };
    s.create_role(
        &RoleRecord {
            is_default: true,
            ..role("acme", "", "base")
        },
        &[],
    )
    .await
    .unwrap();
    grew("create_role").await;
    let base = role_id("acme", "", "base");
    s.update_role(
        &RoleRecord {
            name: "Base".into(),
            is_default: true,
            ..role("acme", "", "base")
        },
        None,
    )
    .await
    .unwrap();
    grew("update_role").await;
    s.attach_grant("acme", &base, &perm("read:Catalog"))
        .await
        .unwrap();
    grew("attach_grant").await;
    s.detach_grant("acme", &base, &perm("read:Catalog"))
        .await
        .unwrap();
    grew("detach_grant").await;
    s.set_grants("acme", &base, &[act("*")]).await.unwrap();
    grew("set_grants").await;
    s.assign(&user_asg("asg_1", "acme", &base, "u1"), 100)
        .await
        .unwrap();
    grew("assign").await;
    s.unassign("acme", "asg_1").await.unwrap();
    grew("unassign").await;
    s.add_member("acme", "g", "u1", 100).await.unwrap();
    grew("add_member").await;
    s.remove_member("acme", "g", "u1").await.unwrap();
    grew("remove_member").await;
    assert_eq!(s.first_sight("acme", "u2", 100).await.unwrap().len(), 1);
    grew("first_sight").await;
    s.create_role(&role("acme", "", "gone"), &[]).await.unwrap();
    grew("create_role").await;
    s.delete_role("acme", &role_id("acme", "", "gone"))
        .await
        .unwrap();
    grew("delete_role").await;
    assert_eq!(s.delete_tenant("acme").await.unwrap(), 1);
    grew("delete_tenant").await;
    s.create_role(&role("acme", "", "again"), &[])
        .await
        .unwrap();
    grew("create_role after delete_tenant").await;
    assert_eq!(
        s.tenant_version("globex").await.unwrap(),
        globex,
        "another tenant's writes are not this one's"
    );
    // A tenant never written, deleted: its version starts to count too.
    assert_eq!(s.delete_tenant("initech").await.unwrap(), 0);
    assert!(s.tenant_version("initech").await.unwrap() > 0);
}

/// Deleting a tenant takes all of its roles, grants, assignments, memberships and sightings,
/// and nothing of another tenant's.
pub async fn deleting_a_tenant<S: RoleBackend>(s: &S) {
    for tenant in ["acme", "globex"] {
        s.create_role(
            &RoleRecord {
                is_default: true,
                ..role(tenant, "", "member")
            },
            &[],
        )
        .await
        .unwrap();
        s.create_role(&child(tenant, "", "lead", "member"), &[])
            .await
            .unwrap();
        s.create_role(&role(tenant, "sales", "rep"), &[])
            .await
            .unwrap();
        let member = role_id(tenant, "", "member");
        s.attach_grant(tenant, &member, &perm("read:Catalog"))
            .await
            .unwrap();
        s.assign(
            &assignment(
                &format!("asg_{tenant}"),
                tenant,
                &member,
                SubjectKind::Group,
                "g1",
            ),
            100,
        )
        .await
        .unwrap();
        s.add_member(tenant, "g1", "u1", 100).await.unwrap();
        assert_eq!(s.first_sight(tenant, "u1", 100).await.unwrap().len(), 1);
    }
    let globex = snapshot(s, "globex", &["g1"]).await;
    let version = s.tenant_version("acme").await.unwrap();

    assert_eq!(s.delete_tenant("acme").await.unwrap(), 3);
    assert_eq!(
        s.tenant_roles("acme").await.unwrap(),
        TenantRoles::default()
    );
    assert!(s.assignments(&all_of("acme")).await.unwrap().is_empty());
    assert!(s.assignments_of("acme", "u1").await.unwrap().is_empty());
    assert!(s.members("acme", "g1").await.unwrap().is_empty());
    assert!(s.groups_of("acme", "u1").await.unwrap().is_empty());
    assert!(s.tenant_version("acme").await.unwrap() > version);
    assert_eq!(snapshot(s, "globex", &["g1"]).await, globex);
    // The sighting went too: a new default role is given to u1 as to a stranger.
    s.create_role(
        &RoleRecord {
            is_default: true,
            ..role("acme", "", "member")
        },
        &[],
    )
    .await
    .unwrap();
    let member = role_id("acme", "", "member");
    assert!(
        s.role_grants("acme", &member).await.unwrap().is_empty(),
        "the old role's grants went with it"
    );
    assert!(
        s.assignments_of_roles("acme", std::slice::from_ref(&member))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.first_sight("acme", "u1", 200).await.unwrap().len(), 1);
    assert_eq!(s.delete_tenant("acme").await.unwrap(), 1);
}

/// Declared actions: registering again is harmless, a description given replaces the old one,
/// none keeps it; listings by service then action.
pub async fn declared_actions<S: RoleBackend>(s: &S) {
    let some = |text: &str| Some(text.to_owned());
    s.register_actions(
        "billing",
        &[
            ("invoices:void".into(), None),
            ("invoices:send".into(), some("Send invoices")),
        ],
        100,
    )
    .await
    .unwrap();
    s.register_actions("analytics", &[("reports:export".into(), None)], 150)
        .await
        .unwrap();
    s.register_actions(
        "billing",
        &[
            ("invoices:send".into(), None),
            ("invoices:void".into(), some("Void an invoice")),
        ],
        200,
    )
    .await
    .unwrap();
    let record =
        |service: &str, action: &str, description: Option<&str>, at: (i64, i64)| ActionRecord {
            service: service.into(),
            action: action.into(),
            description: description.map(Into::into),
            registered_at: at.0,
            updated_at: at.1,
        };
    let billing = vec![
        record(
            "billing",
            "invoices:send",
            Some("Send invoices"),
            (100, 200),
        ),
        record(
            "billing",
            "invoices:void",
            Some("Void an invoice"),
            (100, 200),
        ),
    ];
    assert_eq!(s.actions(Some("billing")).await.unwrap(), billing);
    let mut all = vec![record("analytics", "reports:export", None, (150, 150))];
    all.extend(billing);
    assert_eq!(s.actions(None).await.unwrap(), all);
    assert!(s.actions(Some("nope")).await.unwrap().is_empty());

    s.register_actions(
        "billing",
        &[("invoices:send".into(), some("Send an invoice"))],
        300,
    )
    .await
    .unwrap();
    s.register_actions("billing", &[], 400).await.unwrap();
    assert_eq!(
        s.actions(Some("billing")).await.unwrap(),
        vec![
            record(
                "billing",
                "invoices:send",
                Some("Send an invoice"),
                (100, 300)
            ),
            record(
                "billing",
                "invoices:void",
                Some("Void an invoice"),
                (100, 200)
            ),
        ]
    );
    assert_eq!(s.actions(None).await.unwrap().len(), 3);
}

/// An expired assignment never blocks giving the role again: the renewal replaces it. A live one
/// still does.
pub async fn an_expired_assignment_is_renewed_not_refused<S: RoleBackend>(s: &S) {
    let r = role("acme", "", "oncall");
    s.create_role(&r, &[]).await.unwrap();
    let first = AssignmentRecord {
        expires_at: Some(150),
        ..user_asg("asg_1", "acme", &r.id, "u1")
    };
    s.assign(&first, 100).await.unwrap();
    // Still live at 120: a second one is a duplicate.
    assert_eq!(
        s.assign(&user_asg("asg_2", "acme", &r.id, "u1"), 120).await,
        Err(StoreError::Conflict(ASSIGNED_TWICE))
    );
    // Past its expiry, the renewal replaces it.
    s.assign(&user_asg("asg_3", "acme", &r.id, "u1"), 200)
        .await
        .unwrap();
    let held = s.assignments_of("acme", "u1").await.unwrap();
    assert_eq!(ids(&held), ["asg_3"]);
    assert_eq!(held[0].expires_at, None);
}

/// A change made on a stale read is refused in the writing transaction, and changes nothing.
pub async fn a_stale_role_update_is_refused<S: RoleBackend>(s: &S) {
    let read = role("acme", "", "editor");
    s.create_role(&read, &[]).await.unwrap();
    let first = RoleRecord {
        name: "Editors".into(),
        updated_at: 2,
        ..read.clone()
    };
    s.update_role(&first, Some(&read)).await.unwrap();
    let second = RoleRecord {
        is_default: true,
        updated_at: 3,
        ..read.clone()
    };
    assert_eq!(
        s.update_role(&second, Some(&read)).await,
        Err(StoreError::Conflict(ROLE_CHANGED))
    );
    assert_eq!(s.role("acme", &read.id).await.unwrap(), Some(first.clone()));
    // Read again, it goes through and keeps the first change.
    let again = RoleRecord {
        is_default: true,
        updated_at: 3,
        ..first.clone()
    };
    s.update_role(&again, Some(&first)).await.unwrap();
    assert_eq!(s.role("acme", &read.id).await.unwrap(), Some(again));
}
