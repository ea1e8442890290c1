//! The compiled tenant answer agrees with a naive evaluator over random hierarchies: random
//! roles at random namespaces with random parents and grants, random assignments to a user and
//! a group (some expired, some for one resource), random roles named by the credential, and
//! random checks at random namespaces and resources.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use portcullis::authz::Scope;
use portcullis::clock::Clock;
use portcullis::rbac::Permission;
use portcullis::store::{Grant, MemoryStore, SubjectKind};
use portcullis::tenant::{NewAssignment, NewRole, Tenancy};
use portcullis::{AuthMethod, Reason, Requirement, UserContext};
use proptest::prelude::*;

const NAMESPACES: [&str; 5] = ["", "a", "a/b", "a/b/c", "d"];
const GRANTS: [&str; 8] = [
    "read:Catalog",
    "write:Catalog.Review",
    "*:Orders",
    "delete:*",
    "read:*",
    "write:Catalog",
    "read:Catalog.Book.Cover",
    "*:*",
];
const CHECKS: [&str; 8] = [
    "read:Catalog.Book",
    "write:Catalog.Review.Text",
    "delete:Orders.Line",
    "write:Catalog",
    "read:Other",
    "delete:Catalog",
    "read:Catalog.Book.Cover.Image",
    "write:Orders",
];

#[derive(Debug, Clone)]
struct RoleSpec {
    namespace: usize,
    /// An earlier role of the same namespace (so the hierarchy is sound by construction).
    parent: Option<usize>,
    grants: Vec<usize>,
}

#[derive(Debug, Clone)]
struct AssignmentSpec {
    role: usize,
    to_group: bool,
    expired: bool,
    resource: Option<u8>,
}

#[derive(Debug, Clone)]
struct Case {
    roles: Vec<RoleSpec>,
    assignments: Vec<AssignmentSpec>,
    member_of_group: bool,
    credential_roles: Vec<usize>,
    confined: bool,
    checks: Vec<(usize, usize, Option<u8>)>,
}

fn case() -> impl Strategy<Value = Case> {
    let roles = prop::collection::vec(
        (
            0..NAMESPACES.len(),
            any::<Option<prop::sample::Index>>(),
            prop::collection::vec(0..GRANTS.len(), 0..3),
        ),
        1..10,
    )
    .prop_map(|raw| {
        let mut roles: Vec<RoleSpec> = Vec::new();
        for (namespace, parent, grants) in raw {
            let candidates: Vec<usize> = (0..roles.len())
                .filter(|&r| roles[r].namespace == namespace)
                .collect();
            let parent = parent
                .filter(|_| !candidates.is_empty())
                .map(|i| candidates[i.index(candidates.len())]);
            roles.push(RoleSpec {
                namespace,
                parent,
                grants,
            });
        }
        roles
    });
    roles.prop_flat_map(|roles| {
        let n = roles.len();
        (
            Just(roles),
            prop::collection::vec(
                (
                    0..n,
                    any::<bool>(),
                    prop::bool::weighted(0.2),
                    prop::option::weighted(0.2, 0u8..2),
                )
                    .prop_map(|(role, to_group, expired, resource)| {
                        AssignmentSpec {
                            role,
                            to_group,
                            expired,
                            resource,
                        }
                    }),
                0..6,
            ),
            any::<bool>(),
            prop::collection::vec(0..n, 0..3),
            any::<bool>(),
            prop::collection::vec(
                (
                    0..CHECKS.len(),
                    0..NAMESPACES.len(),
                    prop::option::weighted(0.3, 0u8..2),
                ),
                1..12,
            ),
        )
            .prop_map(
                |(roles, assignments, member_of_group, credential_roles, confined, checks)| Case {
                    roles,
                    assignments,
                    member_of_group,
                    credential_roles,
                    confined,
                    checks,
                },
            )
    })
}

fn applies(held: &str, asked: &str) -> bool {
    held.is_empty() || asked == held || asked.strip_prefix(held).is_some_and(|r| r.starts_with('/'))
}

/// The naive evaluator: walk every source, every parent, every grant.
fn naive(case: &Case, check: usize, namespace: &str, resource: Option<u8>) -> bool {
    let required = Permission::parse(CHECKS[check]).unwrap();
    let mut held: Vec<usize> = Vec::new();
    let mut hold = |mut role: usize| loop {
        held.push(role);
        match case.roles[role].parent {
            Some(parent) => role = parent,
            None => break,
        }
    };
    for (i, a) in case.assignments.iter().enumerate() {
        // A second assignment of the same role to the same subject and resource is refused.
        let same = |b: &AssignmentSpec| {
            (b.role, b.to_group, b.resource) == (a.role, a.to_group, a.resource)
        };
        if case.assignments[..i].iter().any(same) {
            continue;
        }
        let reaches = !a.to_group || case.member_of_group;
        let resource_ok = a.resource.is_none_or(|r| Some(r) == resource);
        if reaches
            && !a.expired
            && resource_ok
            && applies(NAMESPACES[case.roles[a.role].namespace], namespace)
        {
            hold(a.role);
        }
    }
    if case.confined {
        for &named in &case.credential_roles {
            // A credential's role name stands for every role of that slug at an applying
            // namespace; slugs are `r{index}`, unique in the tenant here.
            if applies(NAMESPACES[case.roles[named].namespace], namespace) {
                hold(named);
            }
        }
    }
    held.iter()
        .flat_map(|&r| &case.roles[r].grants)
        .any(|&g| Permission::parse(GRANTS[g]).unwrap().covers(&required))
}

async fn compiled(case: &Case) -> Vec<bool> {
    let now = Arc::new(AtomicI64::new(1_900_000_000));
    let clock = {
        let now = now.clone();
        Clock::from_fn(move || now.load(Ordering::SeqCst))
    };
    let t = Tenancy::with_options(
        MemoryStore::new(),
        1 << 22,
        Duration::from_secs(3600),
        clock,
    );
    let mut ids = Vec::new();
    for (i, spec) in case.roles.iter().enumerate() {
        let mut new = NewRole::new(NAMESPACES[spec.namespace], &format!("r{i}"));
        if let Some(parent) = spec.parent {
            new = new.parent(&format!("r{parent}"));
        }
        for &g in &spec.grants {
            new = new.grant(Grant::Permission(Permission::parse(GRANTS[g]).unwrap()));
        }
        ids.push(t.create_role("t1", new).await.unwrap().id);
    }
    if case.member_of_group {
        t.add_member("t1", "g", "u").await.unwrap();
    }
    let start = now.load(Ordering::SeqCst);
    for a in &case.assignments {
        let (kind, subject) = if a.to_group {
            (SubjectKind::Group, "g")
        } else {
            (SubjectKind::User, "u")
        };
        let mut new = NewAssignment::new(&ids[a.role], kind, subject);
        if let Some(r) = a.resource {
            new = new.for_resource("doc", Some(&r.to_string()));
        }
        if a.expired {
            new = new.expires_at(start + 10);
        }
        // The same role twice to the same subject and resource is refused: fine, it grants once.
        let _ = t.assign("t1", new).await;
    }
    // Every expiring assignment is now past.
    now.fetch_add(10, Ordering::SeqCst);
    let mut ctx = UserContext::new("u", AuthMethod::Bearer)
        .with_roles(case.credential_roles.iter().map(|r| format!("r{r}")));
    if case.confined {
        ctx = ctx.with_tenant("t1");
    }
    let mut answers = Vec::new();
    for &(check, namespace, resource) in &case.checks {
        let mut scope = Scope::tenant("t1").unwrap();
        if !NAMESPACES[namespace].is_empty() {
            scope = scope.in_namespace(NAMESPACES[namespace]).unwrap();
        }
        if let Some(r) = resource {
            scope = scope.on("doc", Some(&r.to_string())).unwrap();
        }
        let required = Requirement::Permission(Permission::parse(CHECKS[check]).unwrap());
        // Asked twice: cold, then from the cache; both must agree.
        let first = t.explain(&ctx, &required, &scope).await.reason();
        let second = t.explain(&ctx, &required, &scope).await.reason();
        assert_eq!(
            first, second,
            "the cached answer differs from the compiled one"
        );
        assert_ne!(first, Reason::Unavailable);
        answers.push(first == Reason::Allow);
    }
    answers
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn compiled_tenant_answers_agree_with_a_naive_evaluator(case in case()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let got = runtime.block_on(compiled(&case));
        let want: Vec<bool> = case
            .checks
            .iter()
            .map(|&(check, namespace, resource)| naive(&case, check, NAMESPACES[namespace], resource))
            .collect();
        prop_assert_eq!(got, want, "{:?}", case);
    }
}
