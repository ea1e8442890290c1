//! The tenant role model: every rule of issue #15 with a test that fails without it, through
//! the engine and through the real router (tenants from a claim, a path and a header).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::send;
use http::{Request, StatusCode};
use portcullis::authz::{self, Scope, ScopeLayer, ScopeRule, Via};
use portcullis::clock::Clock;
use portcullis::rbac::{Action, ActionGrant, Permission};
use portcullis::store::{Grant, MemoryStore, SubjectKind};
use portcullis::strategy::{Outcome, strategy_fn};
use portcullis::tenant::{
    NewAction, NewAssignment, NewRole, RoleUpdate, Tenancy, TenantError, TenantStore,
};
use portcullis::{
    AuthGateway, AuthMethod, MaybeReady, Reason, RequirePermission, Requirement, UserContext,
    permission,
};

permission!(ReadBooks = "read:Books");

fn perm(text: &str) -> Grant {
    Grant::Permission(Permission::parse(text).unwrap())
}

fn needs(text: &str) -> Requirement {
    Requirement::Permission(Permission::parse(text).unwrap())
}

fn user(id: &str) -> UserContext {
    UserContext::new(id, AuthMethod::Bearer)
}

fn at(tenant: &str, namespace: Option<&str>) -> Scope {
    let scope = Scope::tenant(tenant).unwrap();
    match namespace {
        Some(ns) => scope.in_namespace(ns).unwrap(),
        None => scope,
    }
}

/// A clock the test moves.
#[derive(Clone, Default)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn starting(at: i64) -> Self {
        Self(Arc::new(AtomicI64::new(at)))
    }
    fn clock(&self) -> Clock {
        let now = self.0.clone();
        Clock::from_fn(move || now.load(Ordering::SeqCst))
    }
    fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn engine() -> Tenancy<MemoryStore> {
    Tenancy::new(MemoryStore::new())
}

async fn reason<S: TenantStore>(
    t: &Tenancy<S>,
    ctx: &UserContext,
    required: &str,
    scope: &Scope,
) -> Reason {
    t.explain(ctx, &needs(required), scope).await.reason()
}

async fn role_with<S: TenantStore>(t: &Tenancy<S>, tenant: &str, new: NewRole) -> String {
    t.create_role(tenant, new).await.unwrap().id
}

#[tokio::test]
async fn a_cycle_is_refused_when_written_and_changes_nothing() {
    let t = engine();
    role_with(&t, "acme", NewRole::new("", "a")).await;
    role_with(&t, "acme", NewRole::new("", "b").parent("a")).await;
    let c = role_with(&t, "acme", NewRole::new("", "c").parent("b")).await;
    let a = t.role_by_slug("acme", "", "a").await.unwrap().unwrap();
    let refused = t
        .update_role(
            "acme",
            &a.id,
            RoleUpdate {
                parent: Some(Some("c".into())),
                ..RoleUpdate::default()
            },
        )
        .await;
    assert_eq!(refused.unwrap_err(), TenantError::Cycle);
    assert_eq!(t.role("acme", &a.id).await.unwrap().unwrap().parent, None);
    // Its own parent is a cycle too.
    let own = t
        .update_role(
            "acme",
            &c,
            RoleUpdate {
                parent: Some(Some("c".into())),
                ..RoleUpdate::default()
            },
        )
        .await;
    assert_eq!(own.unwrap_err(), TenantError::Cycle);
    // A parent in another namespace is not one of this namespace's roles.
    let elsewhere = t
        .create_role("acme", NewRole::new("eng", "d").parent("a"))
        .await;
    assert_eq!(elsewhere.unwrap_err(), TenantError::NotFound("parent role"));
}

#[tokio::test]
async fn a_hierarchy_deeper_than_sixteen_is_refused() {
    let t = engine();
    role_with(&t, "acme", NewRole::new("", "r0")).await;
    for i in 1..16 {
        role_with(
            &t,
            "acme",
            NewRole::new("", &format!("r{i}")).parent(&format!("r{}", i - 1)),
        )
        .await;
    }
    let deep = t
        .create_role("acme", NewRole::new("", "r16").parent("r15"))
        .await;
    assert_eq!(deep.unwrap_err(), TenantError::TooDeep);
    assert!(t.role_by_slug("acme", "", "r16").await.unwrap().is_none());
}

#[tokio::test]
async fn an_expired_assignment_never_grants_and_says_so() {
    let clock = TestClock::starting(1_800_000_000);
    let t = Tenancy::with_options(
        MemoryStore::new(),
        1 << 20,
        Duration::from_secs(3600),
        clock.clock(),
    );
    let editor = role_with(
        &t,
        "acme",
        NewRole::new("", "editor").grant(perm("write:Books")),
    )
    .await;
    let assignment = t
        .assign(
            "acme",
            NewAssignment::new(&editor, SubjectKind::User, "ada").expires_at(clock.now() + 60),
        )
        .await
        .unwrap();
    let ada = user("ada");
    let acme = at("acme", None);
    assert_eq!(reason(&t, &ada, "write:Books", &acme).await, Reason::Allow);
    // Cached now; the cached answer must die at the expiry, with no write in between.
    clock.advance(60);
    let why = t.explain(&ada, &needs("write:Books"), &acme).await;
    assert_eq!(why.reason(), Reason::DenyAssignmentExpired);
    let near = why.near_miss().unwrap();
    assert_eq!(near.path(), [Box::from("editor")]);
    assert!(matches!(near.how(), Some(Via::Assignment { id, .. }) if **id == *assignment.id));
    // An assignment already in the past is refused outright.
    let past = t
        .assign(
            "acme",
            NewAssignment::new(&editor, SubjectKind::User, "bob").expires_at(clock.now() - 1),
        )
        .await;
    assert!(matches!(
        past,
        Err(TenantError::InvalidInput {
            field: "expires_at",
            ..
        })
    ));
}

async fn full_role_under_concurrency<S: TenantStore>(t: Tenancy<S>) {
    let limited = role_with(&t, "acme", NewRole::new("", "oncall").max_members(5)).await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let t = t.clone();
            let limited = limited.clone();
            tokio::spawn(async move {
                t.assign(
                    "acme",
                    NewAssignment::new(&limited, SubjectKind::User, &format!("u{i}")),
                )
                .await
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(TenantError::RoleFull) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ok, 5, "exactly max_members assignments succeed");
    let held = t
        .assignments(portcullis::store::AssignmentFilter {
            role_id: Some(limited),
            limit: 100,
            ..filter("acme")
        })
        .await
        .unwrap();
    assert_eq!(held.len(), 5);
}

fn filter(tenant: &str) -> portcullis::store::AssignmentFilter {
    portcullis::store::AssignmentFilter {
        tenant: tenant.into(),
        limit: 100,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_role_takes_no_more_members_under_concurrent_assignment_memory() {
    full_role_under_concurrency(engine()).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_role_takes_no_more_members_under_concurrent_assignment_sqlite() {
    let dir = std::env::temp_dir().join(format!(
        "portcullis-tenant-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let store = portcullis::store::sqlite::SqliteStore::open(dir.join("t.db"))
        .await
        .unwrap();
    full_role_under_concurrency(Tenancy::new(store)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_role_takes_no_more_members_under_concurrent_assignment_postgres() {
    common::in_fresh_schema("portcullis_tenant", |store| async move {
        full_role_under_concurrency(Tenancy::new(store)).await;
    })
    .await;
}

fn rand_suffix() -> String {
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).unwrap();
    random.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_system_role_never_changes_but_can_be_held() {
    let t = engine();
    let system = role_with(
        &t,
        "acme",
        NewRole::new("", "owner").system().grant(perm("*:*")),
    )
    .await;
    let change = RoleUpdate {
        name: Some("x".into()),
        ..RoleUpdate::default()
    };
    assert_eq!(
        t.update_role("acme", &system, change).await.unwrap_err(),
        TenantError::SystemRole
    );
    assert_eq!(
        t.delete_role("acme", &system).await.unwrap_err(),
        TenantError::SystemRole
    );
    assert_eq!(
        t.attach_grant("acme", &system, &perm("read:X"))
            .await
            .unwrap_err(),
        TenantError::SystemRole
    );
    assert_eq!(
        t.detach_grant("acme", &system, &perm("*:*"))
            .await
            .unwrap_err(),
        TenantError::SystemRole
    );
    assert_eq!(
        t.set_grants("acme", &system, &[]).await.unwrap_err(),
        TenantError::SystemRole
    );
    assert_eq!(t.role_grants("acme", &system).await.unwrap(), [perm("*:*")]);
    t.assign(
        "acme",
        NewAssignment::new(&system, SubjectKind::User, "ada"),
    )
    .await
    .unwrap();
    assert_eq!(
        reason(&t, &user("ada"), "delete:Anything", &at("acme", None)).await,
        Reason::Allow
    );
}

#[tokio::test]
async fn a_default_role_is_given_on_first_sight_of_a_credential_of_the_tenant_only() {
    let t = engine();
    let member = role_with(
        &t,
        "acme",
        NewRole::new("", "member")
            .default_role()
            .grant(perm("read:Books")),
    )
    .await;
    let acme = at("acme", None);
    // A login of no tenant never joins a tenant by asking.
    assert_eq!(
        reason(&t, &user("eve"), "read:Books", &acme).await,
        Reason::DenyNoRoles
    );
    assert!(t.assignments(filter("acme")).await.unwrap().is_empty());
    // A credential of acme is seen, and given the default role once.
    let ada = user("ada").with_tenant("acme");
    assert_eq!(reason(&t, &ada, "read:Books", &acme).await, Reason::Allow);
    let given = t.assignments(filter("acme")).await.unwrap();
    assert_eq!(given.len(), 1);
    assert_eq!(
        (given[0].role_id.as_str(), given[0].subject.as_str()),
        (member.as_str(), "ada")
    );
    // Taken away by an admin, it does not come back on the next sight.
    t.unassign("acme", &given[0].id).await.unwrap();
    assert_ne!(reason(&t, &ada, "read:Books", &acme).await, Reason::Allow);
    let fresh = Tenancy::new(t.store().clone());
    assert_ne!(
        reason(&fresh, &ada, "read:Books", &acme).await,
        Reason::Allow
    );
    assert!(t.assignments(filter("acme")).await.unwrap().is_empty());
}

#[tokio::test]
async fn roles_at_a_namespace_apply_at_it_and_below_only() {
    let t = engine();
    let sre = role_with(
        &t,
        "acme",
        NewRole::new("engineering", "sre").grant(perm("write:Runbooks")),
    )
    .await;
    t.assign("acme", NewAssignment::new(&sre, SubjectKind::User, "ada"))
        .await
        .unwrap();
    let ada = user("ada");
    for below in [
        "engineering",
        "engineering/platform",
        "engineering/platform/sre",
    ] {
        assert_eq!(
            reason(&t, &ada, "write:Runbooks", &at("acme", Some(below))).await,
            Reason::Allow,
            "{below}"
        );
    }
    for outside in [None, Some("engineering-eu"), Some("sales")] {
        let why = t
            .explain(&ada, &needs("write:Runbooks"), &at("acme", outside))
            .await;
        assert_eq!(why.reason(), Reason::DenyNotInNamespace, "{outside:?}");
        assert_eq!(why.near_miss().unwrap().namespace(), Some("engineering"));
    }
    // And a role at the root applies everywhere.
    let all = role_with(&t, "acme", NewRole::new("", "reader").grant(perm("read:*"))).await;
    t.assign("acme", NewAssignment::new(&all, SubjectKind::User, "ada"))
        .await
        .unwrap();
    assert_eq!(
        reason(&t, &ada, "read:Runbooks", &at("acme", Some("sales/emea"))).await,
        Reason::Allow
    );
}

#[tokio::test]
async fn inheritance_and_groups_are_explained_with_their_path() {
    let t = engine();
    role_with(
        &t,
        "acme",
        NewRole::new("eng", "engineer").grant(perm("read:Runbooks")),
    )
    .await;
    role_with(&t, "acme", NewRole::new("eng", "senior").parent("engineer")).await;
    let lead = role_with(&t, "acme", NewRole::new("eng", "lead").parent("senior")).await;
    let assignment = t
        .assign(
            "acme",
            NewAssignment::new(&lead, SubjectKind::Group, "platform"),
        )
        .await
        .unwrap();
    let ada = user("ada");
    let here = at("acme", Some("eng/platform"));
    assert_eq!(
        reason(&t, &ada, "read:Runbooks", &here).await,
        Reason::DenyNoRoles
    );
    t.add_member("acme", "platform", "ada").await.unwrap();
    let why = t.explain(&ada, &needs("read:Runbooks"), &here).await;
    assert_eq!(why.reason(), Reason::Allow);
    let matched = why.matched().unwrap();
    let path: Vec<&str> = matched.path().iter().map(|s| &**s).collect();
    assert_eq!(path, ["lead", "senior", "engineer"]);
    assert_eq!(
        (matched.role(), matched.grant()),
        (Some("engineer"), "read:Runbooks")
    );
    assert!(
        matches!(matched.how(), Some(Via::Group { group, id, .. }) if &**group == "platform" && **id == *assignment.id)
    );
    // Who can: the group, through its assignment.
    let holders = t
        .who_can(&needs("read:Runbooks"), "acme", "eng/platform")
        .await
        .unwrap();
    assert_eq!(holders.len(), 1);
    assert_eq!(
        (holders[0].subject_kind, holders[0].subject.as_str()),
        (SubjectKind::Group, "platform")
    );
    assert_eq!(holders[0].path, ["lead", "senior", "engineer"]);
    assert!(
        t.who_can(&needs("read:Runbooks"), "acme", "")
            .await
            .unwrap()
            .is_empty()
    );
    // Leaving the group ends it at once.
    t.remove_member("acme", "platform", "ada").await.unwrap();
    assert_eq!(
        reason(&t, &ada, "read:Runbooks", &here).await,
        Reason::DenyNoRoles
    );
}

#[tokio::test]
async fn every_write_is_seen_by_the_next_check() {
    // A TTL of an hour: only the generation can make these pass.
    let t = Tenancy::with_options(
        MemoryStore::new(),
        1 << 20,
        Duration::from_secs(3600),
        Clock::system(),
    );
    let ada = user("ada");
    let acme = at("acme", None);
    let editor = role_with(
        &t,
        "acme",
        NewRole::new("", "editor").grant(perm("write:Books")),
    )
    .await;
    assert_eq!(
        reason(&t, &ada, "write:Books", &acme).await,
        Reason::DenyNoRoles
    );
    let a = t
        .assign(
            "acme",
            NewAssignment::new(&editor, SubjectKind::User, "ada"),
        )
        .await
        .unwrap();
    assert_eq!(reason(&t, &ada, "write:Books", &acme).await, Reason::Allow);
    t.detach_grant("acme", &editor, &perm("write:Books"))
        .await
        .unwrap();
    assert_eq!(
        reason(&t, &ada, "write:Books", &acme).await,
        Reason::DenyNoPermission
    );
    t.attach_grant("acme", &editor, &perm("write:*"))
        .await
        .unwrap();
    assert_eq!(reason(&t, &ada, "write:Books", &acme).await, Reason::Allow);
    t.set_grants("acme", &editor, &[perm("read:Books")])
        .await
        .unwrap();
    assert_eq!(
        reason(&t, &ada, "write:Books", &acme).await,
        Reason::DenyNoPermission
    );
    assert_eq!(reason(&t, &ada, "read:Books", &acme).await, Reason::Allow);
    t.unassign("acme", &a.id).await.unwrap();
    assert_eq!(
        reason(&t, &ada, "read:Books", &acme).await,
        Reason::DenyNoRoles
    );
    // A parent given later brings its grants.
    role_with(
        &t,
        "acme",
        NewRole::new("", "base").grant(perm("delete:Books")),
    )
    .await;
    t.assign(
        "acme",
        NewAssignment::new(&editor, SubjectKind::User, "ada"),
    )
    .await
    .unwrap();
    assert_eq!(
        reason(&t, &ada, "delete:Books", &acme).await,
        Reason::DenyNoPermission
    );
    t.update_role(
        "acme",
        &editor,
        RoleUpdate {
            parent: Some(Some("base".into())),
            ..RoleUpdate::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(reason(&t, &ada, "delete:Books", &acme).await, Reason::Allow);
    t.delete_tenant("acme").await.unwrap();
    assert_eq!(
        reason(&t, &ada, "read:Books", &acme).await,
        Reason::DenyNoRoles
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_check_allows_after_the_unassign_returned_while_checks_run() {
    let t = engine();
    let editor = role_with(
        &t,
        "acme",
        NewRole::new("", "editor").grant(perm("write:Books")),
    )
    .await;
    for round in 0..20 {
        let user_id = format!("u{round}");
        let a = t
            .assign(
                "acme",
                NewAssignment::new(&editor, SubjectKind::User, &user_id),
            )
            .await
            .unwrap();
        let revoked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let checkers: Vec<_> = (0..4)
            .map(|_| {
                let (t, revoked, user_id) = (t.clone(), revoked.clone(), user_id.clone());
                tokio::spawn(async move {
                    let ctx = user(&user_id);
                    let acme = at("acme", None);
                    for _ in 0..200 {
                        // Read the flag before asking: a check that began after the revoke
                        // returned must be refused.
                        let after = revoked.load(Ordering::SeqCst);
                        let allowed = reason(&t, &ctx, "write:Books", &acme).await == Reason::Allow;
                        assert!(!(after && allowed), "allowed after the unassign returned");
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        tokio::task::yield_now().await;
        t.unassign("acme", &a.id).await.unwrap();
        revoked.store(true, Ordering::SeqCst);
        for checker in checkers {
            checker.await.unwrap();
        }
    }
}

#[tokio::test]
async fn an_assignment_for_one_resource_grants_only_there() {
    let t = engine();
    let editor = role_with(
        &t,
        "acme",
        NewRole::new("", "editor").grant(perm("write:Documents")),
    )
    .await;
    t.assign(
        "acme",
        NewAssignment::new(&editor, SubjectKind::User, "ada").for_resource("document", Some("42")),
    )
    .await
    .unwrap();
    let ada = user("ada");
    let doc = |id: &str| at("acme", None).on("document", Some(id)).unwrap();
    assert_eq!(
        reason(&t, &ada, "write:Documents", &doc("42")).await,
        Reason::Allow
    );
    assert_ne!(
        reason(&t, &ada, "write:Documents", &doc("43")).await,
        Reason::Allow
    );
    assert_ne!(
        reason(&t, &ada, "write:Documents", &at("acme", None)).await,
        Reason::Allow
    );
    let folder = at("acme", None).on("folder", Some("42")).unwrap();
    assert_ne!(
        reason(&t, &ada, "write:Documents", &folder).await,
        Reason::Allow
    );
    // A resource_id without a type is refused.
    let mut bad = NewAssignment::new(&editor, SubjectKind::User, "bob");
    bad.resource_id = Some("1".into());
    assert!(matches!(
        t.assign("acme", bad).await,
        Err(TenantError::InvalidInput {
            field: "resource_id",
            ..
        })
    ));
}

#[tokio::test]
async fn credential_roles_count_in_their_own_tenant_only() {
    let t = engine();
    role_with(
        &t,
        "acme",
        NewRole::new("", "librarian").grant(perm("write:Books")),
    )
    .await;
    role_with(
        &t,
        "globex",
        NewRole::new("", "librarian").grant(perm("write:Books")),
    )
    .await;
    let from_acme = user("ada").with_tenant("acme").with_roles(["librarian"]);
    assert_eq!(
        reason(&t, &from_acme, "write:Books", &at("acme", None)).await,
        Reason::Allow
    );
    assert_eq!(
        reason(&t, &from_acme, "write:Books", &at("globex", None)).await,
        Reason::DenyOtherTenant
    );
    // A login of no tenant naming the role holds nothing by it.
    let unconfined = user("ada").with_roles(["librarian"]);
    assert_eq!(
        reason(&t, &unconfined, "write:Books", &at("acme", None)).await,
        Reason::DenyNoRoles
    );
    // Stored assignments in globex do not help a credential of acme there.
    let globex_role = t
        .role_by_slug("globex", "", "librarian")
        .await
        .unwrap()
        .unwrap();
    t.assign(
        "globex",
        NewAssignment::new(&globex_role.id, SubjectKind::User, "ada"),
    )
    .await
    .unwrap();
    assert_eq!(
        reason(&t, &from_acme, "write:Books", &at("globex", None)).await,
        Reason::DenyOtherTenant
    );
    assert_eq!(
        reason(&t, &unconfined, "write:Books", &at("globex", None)).await,
        Reason::Allow
    );
}

#[tokio::test]
async fn actions_registered_granted_checked_and_listed() {
    let t = engine();
    t.register_actions(
        "reports",
        &[
            NewAction {
                action: "reports:export".into(),
                description: Some("Export".into()),
            },
            NewAction {
                action: "reports:delete".into(),
                description: None,
            },
            NewAction {
                action: "settings:manage".into(),
                description: None,
            },
        ],
    )
    .await
    .unwrap();
    // Idempotent, updating the description; None keeps it.
    t.register_actions(
        "reports",
        &[NewAction {
            action: "reports:export".into(),
            description: Some("CSV".into()),
        }],
    )
    .await
    .unwrap();
    t.register_actions(
        "reports",
        &[NewAction {
            action: "reports:export".into(),
            description: None,
        }],
    )
    .await
    .unwrap();
    let listed = t.actions(Some("reports")).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(
        listed
            .iter()
            .find(|a| a.action == "reports:export")
            .unwrap()
            .description
            .as_deref(),
        Some("CSV")
    );
    // One bad name registers nothing.
    let bad = t
        .register_actions(
            "reports",
            &[
                NewAction {
                    action: "ok:one".into(),
                    description: None,
                },
                NewAction {
                    action: "Bad".into(),
                    description: None,
                },
            ],
        )
        .await;
    assert!(matches!(bad, Err(TenantError::InvalidInput { .. })));
    assert_eq!(t.actions(None).await.unwrap().len(), 3);

    let reporter = role_with(
        &t,
        "acme",
        NewRole::new("", "reporter").grant(Grant::Action(ActionGrant::parse("reports:*").unwrap())),
    )
    .await;
    t.assign(
        "acme",
        NewAssignment::new(&reporter, SubjectKind::User, "ada"),
    )
    .await
    .unwrap();
    let ada = user("ada");
    let acme = at("acme", None);
    assert_eq!(
        t.user_actions(&ada, &acme, None).await.unwrap(),
        ["reports:delete", "reports:export"]
    );
    assert!(
        t.user_actions(&ada, &at("globex", None), None)
            .await
            .unwrap()
            .is_empty()
    );
    let export = Requirement::Action(Action::parse("reports:export").unwrap());
    assert_eq!(
        t.explain(&ada, &export, &acme).await.reason(),
        Reason::Allow
    );
}

#[tokio::test]
async fn role_requirements_count_the_hierarchy_and_resource_roles() {
    let t = engine();
    // By name, only system roles count (made from code): an administrator's role of the same
    // name would forge nothing.
    role_with(&t, "acme", NewRole::new("", "viewer").system()).await;
    let editor = role_with(
        &t,
        "acme",
        NewRole::new("", "editor").parent("viewer").system(),
    )
    .await;
    let writer = role_with(&t, "acme", NewRole::new("", "claims-writer").system()).await;
    let forged = role_with(&t, "acme", NewRole::new("", "superadmin")).await;
    for role in [&editor, &forged] {
        t.assign("acme", NewAssignment::new(role, SubjectKind::User, "ada"))
            .await
            .unwrap();
    }
    t.assign(
        "acme",
        NewAssignment::new(&writer, SubjectKind::User, "ada").for_resource("claims", None),
    )
    .await
    .unwrap();
    let ada = user("ada");
    let roles = |list: &[&str]| Requirement::Roles(list.iter().map(|s| (*s).to_owned()).collect());
    let acme = at("acme", None);
    assert_eq!(
        t.explain(&ada, &roles(&["viewer", "editor"]), &acme)
            .await
            .reason(),
        Reason::Allow
    );
    assert_eq!(
        t.explain(&ada, &roles(&["editor", "claims-writer"]), &acme)
            .await
            .reason(),
        Reason::DenyMissingRoles
    );
    let claims = at("acme", None).on("claims", None).unwrap();
    assert_eq!(
        t.explain(&ada, &roles(&["editor", "claims-writer"]), &claims)
            .await
            .reason(),
        Reason::Allow
    );
    assert_eq!(
        t.explain(&ada, &roles(&["superadmin"]), &acme)
            .await
            .reason(),
        Reason::DenyMissingRoles,
        "a role that is not a system role forges no name"
    );
    // A name the credential itself carries counts (its issuer's word).
    let carried = user("ada").with_tenant("acme").with_roles(["superadmin"]);
    assert_eq!(
        t.explain(&carried, &roles(&["superadmin"]), &acme)
            .await
            .reason(),
        Reason::Allow
    );
}

#[tokio::test]
async fn a_store_that_fails_refuses_with_unavailable() {
    #[cfg(feature = "sqlite")]
    {
        let store = portcullis::store::sqlite::SqliteStore::in_memory()
            .await
            .unwrap();
        let t = Tenancy::new(store.clone());
        let editor = role_with(
            &t,
            "acme",
            NewRole::new("", "editor").grant(perm("write:Books")),
        )
        .await;
        t.assign(
            "acme",
            NewAssignment::new(&editor, SubjectKind::User, "ada"),
        )
        .await
        .unwrap();
        store.pool().close().await;
        // Nothing cached for bob: the store must be asked, and cannot be.
        assert_eq!(
            reason(&t, &user("bob"), "write:Books", &at("acme", None)).await,
            Reason::Unavailable
        );
        assert!(matches!(
            t.assign("acme", NewAssignment::new(&editor, SubjectKind::User, "c"))
                .await,
            Err(TenantError::Unavailable)
        ));
    }
}

#[tokio::test]
async fn bad_input_is_refused_before_the_store() {
    let t = engine();
    let before = t.store().fingerprint();
    let cases = [
        NewRole::new("", "Admin"),
        NewRole::new("", "-x"),
        NewRole::new("", &"a".repeat(64)),
        NewRole::new("Eng", "x"),
        NewRole::new("a/b/c/d/e/f/g/h/i", "x"),
        NewRole::new("", "x").name(&"n".repeat(129)),
        NewRole::new("", "x").describe("line\u{0}break"),
        NewRole::new("", "x").max_members(0),
    ];
    for new in cases {
        assert!(matches!(
            t.create_role("acme", new).await,
            Err(TenantError::InvalidInput { .. })
        ));
    }
    let mut too_many = NewRole::new("", "x");
    too_many.permissions = (0..513).map(|i| format!("read:D{i}")).collect();
    assert!(matches!(
        t.create_role("acme", too_many).await,
        Err(TenantError::InvalidInput { .. })
    ));
    let mut bad_grant = NewRole::new("", "x");
    bad_grant.permissions = vec!["read:Catalog.*".into()];
    assert!(matches!(
        t.create_role("acme", bad_grant).await,
        Err(TenantError::InvalidInput {
            field: "permissions",
            ..
        })
    ));
    let mut big = NewRole::new("", "x");
    big.metadata
        .insert("k".into(), serde_json::Value::String("v".repeat(9000)));
    assert!(matches!(
        t.create_role("acme", big).await,
        Err(TenantError::InvalidInput {
            field: "metadata",
            ..
        })
    ));
    assert!(matches!(
        t.create_role("bad tenant", NewRole::new("", "x")).await,
        Err(TenantError::InvalidInput {
            field: "tenant",
            ..
        })
    ));
    assert!(matches!(
        t.assign(
            "acme",
            NewAssignment::new("rol_x", SubjectKind::User, "has space")
        )
        .await,
        Err(TenantError::InvalidInput {
            field: "subject",
            ..
        })
    ));
    assert_eq!(
        t.store().fingerprint(),
        before,
        "a refused call changes nothing"
    );
}

/// Believes the `x-user` and `x-tenant` headers, and `x-roles` (comma-separated).
fn header_strategy() -> impl portcullis::strategy::Strategy {
    strategy_fn("headers", |parts| {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        MaybeReady::ready(match header("x-user") {
            None => Outcome::NotMine,
            Some(user) => {
                let roles: Vec<&str> = header("x-roles")
                    .map(|r| r.split(',').collect())
                    .unwrap_or_default();
                let mut ctx =
                    UserContext::new(user, AuthMethod::Custom("headers")).with_roles(roles);
                if let Some(tenant) = header("x-credential-tenant") {
                    ctx = ctx.with_tenant(tenant);
                }
                Outcome::Authenticated(ctx)
            }
        })
    })
}

async fn books(_: RequirePermission<ReadBooks>) -> &'static str {
    "books"
}

async fn tenant_app() -> (Router, Tenancy<MemoryStore>) {
    let t = engine();
    for tenant in ["acme", "globex"] {
        let reader = role_with(
            &t,
            tenant,
            NewRole::new("", "reader").grant(perm("read:Books")),
        )
        .await;
        t.assign(
            tenant,
            NewAssignment::new(&reader, SubjectKind::User, "ada"),
        )
        .await
        .unwrap();
    }
    let gateway = AuthGateway::new()
        .strategy(header_strategy())
        .authorizer(t.clone())
        .build()
        .unwrap();
    let by_path = Router::new()
        .route("/orgs/{org}/books", get(books))
        .route_layer(ScopeLayer::new(ScopeRule::tenant_from_path("org")));
    let by_header = Router::new()
        .route("/books", get(books))
        .route_layer(ScopeLayer::new(
            ScopeRule::tenant_from_header("x-tenant").unwrap(),
        ));
    let by_claim = Router::new()
        .route("/mine/books", get(books))
        .route_layer(ScopeLayer::new(ScopeRule::tenant_from_context()));
    (by_path.merge(by_header).merge(by_claim).layer(gateway), t)
}

async fn ask(
    app: &Router,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, serde_json::Value) {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let reply = send(app, request.body(Body::empty()).unwrap()).await;
    (reply.status, reply.json())
}

#[tokio::test]
async fn a_credential_of_one_tenant_is_refused_in_another_by_path_header_and_claim() {
    let (app, _t) = tenant_app().await;
    // Ada's credential is acme's, and she even names the admin role: globex refuses it.
    let acme_cred = [
        ("x-user", "ada"),
        ("x-credential-tenant", "acme"),
        ("x-roles", "admin"),
    ];
    let (status, body) = ask(&app, "/orgs/acme/books", &acme_cred).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = ask(&app, "/orgs/globex/books", &acme_cred).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (StatusCode::FORBIDDEN, Some("deny_other_tenant"))
    );
    let mut with_header = acme_cred.to_vec();
    with_header.push(("x-tenant", "globex"));
    let (status, body) = ask(&app, "/books", &with_header).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (StatusCode::FORBIDDEN, Some("deny_other_tenant"))
    );
    with_header.pop();
    with_header.push(("x-tenant", "acme"));
    assert_eq!(ask(&app, "/books", &with_header).await.0, StatusCode::OK);
    // By claim: the credential's own tenant; a globex credential is asked about globex, where
    // bob holds nothing.
    let (status, _) = ask(&app, "/mine/books", &acme_cred).await;
    assert_eq!(status, StatusCode::OK);
    let bob = [
        ("x-user", "bob"),
        ("x-credential-tenant", "globex"),
        ("x-roles", "admin"),
    ];
    let (status, body) = ask(&app, "/mine/books", &bob).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "admin is an application role of a globex credential: {body}"
    );
    let (status, body) = ask(&app, "/orgs/acme/books", &bob).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (StatusCode::FORBIDDEN, Some("deny_other_tenant"))
    );
    // A login of no tenant is in each tenant what its assignments say.
    let own = [("x-user", "ada")];
    assert_eq!(
        ask(&app, "/orgs/globex/books", &own).await.0,
        StatusCode::OK
    );
    let carol = [("x-user", "carol"), ("x-roles", "admin")];
    let (status, body) = ask(&app, "/orgs/globex/books", &carol).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (StatusCode::FORBIDDEN, Some("deny_no_roles"))
    );
    let (status, body) = ask(&app, "/mine/books", &carol).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (StatusCode::FORBIDDEN, Some("deny_other_tenant"))
    );
}

#[tokio::test]
async fn check_action_asks_the_gateways_seam() {
    let t = engine();
    let reporter = role_with(
        &t,
        "acme",
        NewRole::new("", "reporter")
            .grant(Grant::Action(ActionGrant::parse("reports:export").unwrap())),
    )
    .await;
    t.assign(
        "acme",
        NewAssignment::new(&reporter, SubjectKind::User, "ada"),
    )
    .await
    .unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let layer = AuthGateway::new()
        .strategy(header_strategy())
        .authorizer(t.clone())
        .observe(move |e: &authz::DecisionEvent<'_>| {
            log.lock().unwrap().push(e.decision().reason())
        })
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/check",
            get(|ctx: UserContext| async move {
                let export = Action::parse("reports:export").unwrap();
                let acme = portcullis::tenant::check_action(&ctx, &export, "acme")
                    .await
                    .unwrap();
                let globex = portcullis::tenant::check_action(&ctx, &export, "globex")
                    .await
                    .unwrap();
                format!("{} {}", acme.reason(), globex.reason())
            }),
        )
        .layer(layer);
    let reply = send(
        &app,
        Request::get("/check")
            .header("x-user", "ada")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.text(), "allow deny_no_roles");
    assert_eq!(*seen.lock().unwrap(), [Reason::Allow, Reason::DenyNoRoles]);
}

#[tokio::test]
async fn the_standard_matrix_installs_as_a_hierarchy_that_gives_each_actor_its_roles() {
    let t = engine();
    let created = t.install_standard_roles("acme", "").await.unwrap();
    assert_eq!(created.len(), 10);
    // Installing again creates nothing and keeps what is there.
    assert!(
        t.install_standard_roles("acme", "")
            .await
            .unwrap()
            .is_empty()
    );
    for (actor, roles) in portcullis::actors::STANDARD_ROLE_MATRIX {
        let slug = actor.replace('_', "-");
        let role = t.role_by_slug("acme", "", &slug).await.unwrap().unwrap();
        let subject = format!("actor-{slug}");
        t.assign(
            "acme",
            NewAssignment::new(&role.id, SubjectKind::User, &subject),
        )
        .await
        .unwrap();
        let wanted: Vec<String> = roles.iter().map(|r| r.replace('_', "-")).collect();
        let ctx = user(&subject);
        let holds = Requirement::Roles(wanted.clone().into());
        assert_eq!(
            t.explain(&ctx, &holds, &at("acme", None)).await.reason(),
            Reason::Allow,
            "{actor}"
        );
        // And no role of the set beyond the matrix's.
        for other in portcullis::actors::standard_roles() {
            if wanted.iter().any(|w| w == other.slug) {
                continue;
            }
            let more = Requirement::Roles(vec![other.slug.to_owned()].into());
            assert_ne!(
                t.explain(&ctx, &more, &at("acme", None)).await.reason(),
                Reason::Allow,
                "{actor} holds {}",
                other.slug
            );
        }
    }
    let admin = user("actor-admin");
    assert_eq!(
        reason(&t, &admin, "delete:Anything", &at("acme", None)).await,
        Reason::Allow
    );
    assert_eq!(
        reason(
            &t,
            &user("actor-viewer"),
            "write:Anything",
            &at("acme", None)
        )
        .await,
        Reason::DenyNoPermission
    );
}

#[tokio::test]
async fn an_answer_cached_for_a_login_does_not_spare_a_tenant_credential_its_first_sight() {
    let t = engine();
    role_with(
        &t,
        "acme",
        NewRole::new("", "member")
            .default_role()
            .grant(perm("read:Books")),
    )
    .await;
    let acme = at("acme", None);
    // Ada's own login asks first (and the answer is cached)…
    assert_eq!(
        reason(&t, &user("ada"), "read:Books", &acme).await,
        Reason::DenyNoRoles
    );
    // …then a credential of acme, with no roles of its own: it is seen, and given the default.
    let confined = user("ada").with_tenant("acme");
    assert_eq!(
        reason(&t, &confined, "read:Books", &acme).await,
        Reason::Allow
    );
}

#[tokio::test]
async fn another_instance_sees_a_write_within_the_cache_ttl() {
    // Two engines over one store, as two processes would be: a write through one is seen by the
    // other once its cached answer is older than the TTL, never later.
    let clock = TestClock::starting(1_800_000_000);
    let store = MemoryStore::new();
    let a = Tenancy::with_options(
        store.clone(),
        1 << 20,
        Duration::from_secs(5),
        clock.clock(),
    );
    let b = Tenancy::with_options(store, 1 << 20, Duration::from_secs(5), clock.clock());
    let editor = role_with(
        &a,
        "acme",
        NewRole::new("", "editor").grant(perm("write:Books")),
    )
    .await;
    let given = a
        .assign(
            "acme",
            NewAssignment::new(&editor, SubjectKind::User, "ada"),
        )
        .await
        .unwrap();
    let (ada, acme) = (user("ada"), at("acme", None));
    assert_eq!(reason(&b, &ada, "write:Books", &acme).await, Reason::Allow);
    a.unassign("acme", &given.id).await.unwrap();
    assert_eq!(
        reason(&a, &ada, "write:Books", &acme).await,
        Reason::DenyNoRoles,
        "the writer at once"
    );
    clock.advance(5);
    assert_eq!(
        reason(&b, &ada, "write:Books", &acme).await,
        Reason::DenyNoRoles,
        "the other within the TTL"
    );
}

#[tokio::test]
async fn one_context_asked_of_two_engines_gets_each_engines_answer() {
    // A context remembers the last answer an engine compiled for it (the next request of a
    // cached credential finds it without a look-up): another engine must never take it for its
    // own, even at the same tenant and namespace, whichever was asked first, and even when both
    // engines saw the same number of writes (so no generation tells their answers apart).
    let (holds, lacks) = (engine(), engine());
    for (t, who) in [(&holds, "ada"), (&lacks, "bob")] {
        let editor = role_with(
            t,
            "acme",
            NewRole::new("", "editor").grant(perm("write:Books")),
        )
        .await;
        t.assign("acme", NewAssignment::new(&editor, SubjectKind::User, who))
            .await
            .unwrap();
    }
    let (ada, acme) = (user("ada"), at("acme", None));
    for _ in 0..3 {
        assert_eq!(
            reason(&holds, &ada, "write:Books", &acme).await,
            Reason::Allow
        );
        assert_eq!(
            reason(&lacks, &ada, "write:Books", &acme).await,
            Reason::DenyNoRoles
        );
    }
    // And a remembered answer is for its place only.
    assert_eq!(
        reason(&holds, &ada, "write:Books", &at("globex", None)).await,
        Reason::DenyNoRoles
    );
    assert_eq!(
        reason(&holds, &ada, "write:Books", &acme).await,
        Reason::Allow
    );
}
