//! The entity permission store's checks: registration, folders, shares, lineage and the
//! accessible set. Every backend must pass each one; the race runs its writers at once and
//! checks the one outcome the rules allow.

use std::sync::Arc;

use portcullis::store::acl::{
    ExpectedOwner, FOLDER_CYCLE, FOLDER_OTHER_TENANT, FOLDER_TOO_DEEP, MAX_FOLDER_DEPTH,
    MAX_SHARES, NO_FOLDER, NO_RESOURCE, RESOURCE_CHANGED, RESOURCE_HAS_CHILDREN, RESOURCE_TAKEN,
    TOO_MANY_SHARES,
};
use portcullis::store::{
    Access, AccessFacts, AccessibleQuery, AssignmentStore, EntityStore, Registered, ResourceKey,
    ResourceRecord, RoleStore, ShareRecord, StoreError, SubjectKind, Visibility,
};
use tokio::sync::Barrier;

/// What the checks' writes were authorized against: most resources here are ada's in acme.
pub const ADA: ExpectedOwner<'static> = ExpectedOwner::new("acme", "ada");

pub fn doc(id: &str) -> ResourceKey {
    ResourceKey::new("docs", "document", id)
}

pub fn resource(id: &str, tenant: &str, owner: &str) -> ResourceRecord {
    ResourceRecord {
        key: doc(id),
        tenant: tenant.into(),
        owner: owner.into(),
        visibility: Visibility::Private,
        parent: None,
        created_at: 1_700_000_000,
    }
}

pub fn inside(id: &str, tenant: &str, owner: &str, parent: &str) -> ResourceRecord {
    ResourceRecord {
        parent: Some(doc(parent)),
        ..resource(id, tenant, owner)
    }
}

pub fn share_to(id: &str, kind: SubjectKind, grantee: &str, access: Access) -> ShareRecord {
    ShareRecord {
        key: doc(id),
        grantee_kind: kind,
        grantee: grantee.into(),
        access,
        granted_by: "owner".into(),
        granted_at: 1_700_000_100,
    }
}

fn query<'a>(subject: &'a str, groups: &'a [String], access: Access) -> AccessibleQuery<'a> {
    AccessibleQuery {
        tenant: "acme",
        service: "docs",
        kind: "document",
        subject,
        groups,
        member: false,
        editor: false,
        access,
        after: None,
        limit: 100,
    }
}

pub async fn registering_is_idempotent_for_the_owner_only<S: EntityStore>(s: &S) {
    let a = resource("a", "acme", "ada");
    assert_eq!(s.register(&a).await.unwrap(), Registered::Created);
    assert_eq!(
        s.register(&a).await.unwrap(),
        Registered::Existing(Box::new(a.clone()))
    );
    // Another owner, or another tenant, is told: never silently ignored.
    assert_eq!(
        s.register(&resource("a", "acme", "bob")).await,
        Err(StoreError::Conflict(RESOURCE_TAKEN))
    );
    assert_eq!(
        s.register(&resource("a", "globex", "ada")).await,
        Err(StoreError::Conflict(RESOURCE_TAKEN))
    );
    assert_eq!(s.resource(&doc("a")).await.unwrap(), Some(a));
    assert_eq!(s.resource(&doc("none")).await.unwrap(), None);
    // The same id in another type or service is another resource.
    let other_type = ResourceRecord {
        key: ResourceKey::new("docs", "folder", "a"),
        ..resource("a", "globex", "bob")
    };
    assert_eq!(s.register(&other_type).await.unwrap(), Registered::Created);
    let visible = s
        .set_visibility(&doc("a"), ADA, Visibility::Public)
        .await
        .unwrap();
    assert_eq!(visible.visibility, Visibility::Public);
    assert_eq!(
        s.set_visibility(&doc("none"), ADA, Visibility::Public)
            .await,
        Err(StoreError::NotFound(NO_RESOURCE))
    );
}

pub async fn folders_stay_sound<S: EntityStore>(s: &S) {
    s.register(&resource("root", "acme", "ada")).await.unwrap();
    s.register(&resource("theirs", "globex", "ada"))
        .await
        .unwrap();
    assert_eq!(
        s.register(&inside("x", "acme", "ada", "missing")).await,
        Err(StoreError::NotFound(NO_FOLDER))
    );
    assert_eq!(
        s.register(&inside("x", "acme", "ada", "theirs")).await,
        Err(StoreError::Conflict(FOLDER_OTHER_TENANT))
    );
    assert_eq!(
        s.resource(&doc("x")).await.unwrap(),
        None,
        "a refused write wrote"
    );
    // A chain exactly as deep as allowed (l32 sits under 32 folders), and not one more.
    let mut parent = "root".to_owned();
    for level in 1..=MAX_FOLDER_DEPTH {
        let id = format!("l{level}");
        s.register(&inside(&id, "acme", "ada", &parent))
            .await
            .unwrap();
        parent = id;
    }
    assert_eq!(
        s.register(&inside("too-deep", "acme", "ada", &parent))
            .await,
        Err(StoreError::Conflict(FOLDER_TOO_DEEP))
    );
    // Moving a resource with levels below it counts them too: under l31, subsub would sit
    // under 33 folders.
    s.register(&resource("sub", "acme", "ada")).await.unwrap();
    s.register(&inside("subsub", "acme", "ada", "sub"))
        .await
        .unwrap();
    assert_eq!(
        s.move_to(&doc("sub"), ADA, Some((&doc("l31"), ADA))).await,
        Err(StoreError::Conflict(FOLDER_TOO_DEEP))
    );
    let moved = s
        .move_to(&doc("sub"), ADA, Some((&doc("l30"), ADA)))
        .await
        .unwrap();
    assert_eq!(moved.parent, Some(doc("l30")));
    // No resource may go inside itself or anything inside it.
    assert_eq!(
        s.move_to(&doc("root"), ADA, Some((&doc("subsub"), ADA)))
            .await,
        Err(StoreError::Conflict(FOLDER_CYCLE))
    );
    assert_eq!(
        s.move_to(&doc("sub"), ADA, Some((&doc("sub"), ADA))).await,
        Err(StoreError::Conflict(FOLDER_CYCLE))
    );
    assert_eq!(
        s.move_to(
            &doc("sub"),
            ADA,
            Some((&doc("theirs"), ExpectedOwner::new("globex", "ada")))
        )
        .await,
        Err(StoreError::Conflict(FOLDER_OTHER_TENANT))
    );
    assert_eq!(
        s.move_to(&doc("none"), ADA, None).await,
        Err(StoreError::NotFound(NO_RESOURCE))
    );
    // Nothing is deleted or orphaned behind the caller's back.
    assert_eq!(
        s.deregister(&doc("sub")).await,
        Err(StoreError::Conflict(RESOURCE_HAS_CHILDREN))
    );
    s.deregister(&doc("subsub")).await.unwrap();
    s.deregister(&doc("sub")).await.unwrap();
    assert_eq!(
        s.deregister(&doc("sub")).await,
        Err(StoreError::NotFound(NO_RESOURCE))
    );
    let top = s.move_to(&doc("l1"), ADA, None).await.unwrap();
    assert_eq!(top.parent, None);
}

pub async fn sharing_twice_updates_the_level<S: EntityStore>(s: &S) {
    s.register(&resource("a", "acme", "ada")).await.unwrap();
    s.share(&share_to("a", SubjectKind::User, "bob", Access::View), ADA)
        .await
        .unwrap();
    let again = ShareRecord {
        granted_by: "admin".into(),
        ..share_to("a", SubjectKind::User, "bob", Access::Edit)
    };
    s.share(&again, ADA).await.unwrap();
    s.share(
        &share_to("a", SubjectKind::Group, "team", Access::View),
        ADA,
    )
    .await
    .unwrap();
    // A user and a group of the same name are two grantees.
    s.share(&share_to("a", SubjectKind::Group, "bob", Access::View), ADA)
        .await
        .unwrap();
    let shares = s.shares(&doc("a")).await.unwrap();
    assert_eq!(
        shares,
        vec![
            again,
            share_to("a", SubjectKind::Group, "bob", Access::View),
            share_to("a", SubjectKind::Group, "team", Access::View),
        ]
    );
    assert_eq!(
        s.share(
            &share_to("none", SubjectKind::User, "bob", Access::View),
            ADA
        )
        .await,
        Err(StoreError::NotFound(NO_RESOURCE))
    );
    assert!(
        s.unshare(&doc("a"), ADA, SubjectKind::Group, "bob")
            .await
            .unwrap()
    );
    assert!(
        !s.unshare(&doc("a"), ADA, SubjectKind::Group, "bob")
            .await
            .unwrap()
    );
    // Deregistering takes the shares with it: registered again, the resource has none.
    s.deregister(&doc("a")).await.unwrap();
    s.register(&resource("a", "acme", "ada")).await.unwrap();
    assert!(s.shares(&doc("a")).await.unwrap().is_empty());
}

pub async fn lineage_names_the_subject_and_its_groups_only<S: EntityStore>(s: &S) {
    s.register(&resource("top", "acme", "ada")).await.unwrap();
    s.register(&inside("mid", "acme", "ada", "top"))
        .await
        .unwrap();
    s.register(&inside("leaf", "acme", "ada", "mid"))
        .await
        .unwrap();
    s.share(
        &share_to("top", SubjectKind::Group, "team", Access::Edit),
        ADA,
    )
    .await
    .unwrap();
    s.share(
        &share_to("top", SubjectKind::Group, "other", Access::Edit),
        ADA,
    )
    .await
    .unwrap();
    s.share(
        &share_to("leaf", SubjectKind::User, "bob", Access::View),
        ADA,
    )
    .await
    .unwrap();
    s.share(
        &share_to("leaf", SubjectKind::User, "carl", Access::Edit),
        ADA,
    )
    .await
    .unwrap();
    let groups = vec!["team".to_owned()];
    let lineage = s.lineage(&doc("leaf"), "bob", &groups).await.unwrap();
    let keys: Vec<_> = lineage.iter().map(|l| l.record.key.id.as_str()).collect();
    assert_eq!(keys, ["leaf", "mid", "top"]);
    assert_eq!(
        lineage[0].shares,
        [share_to("leaf", SubjectKind::User, "bob", Access::View)]
    );
    assert!(lineage[1].shares.is_empty());
    assert_eq!(
        lineage[2].shares,
        [share_to("top", SubjectKind::Group, "team", Access::Edit)]
    );
    assert!(
        s.lineage(&doc("none"), "bob", &groups)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A batch's facts: each key in order (duplicates and unregistered ones too), each resource's
/// lineage with the subject's shares in its own tenant, the subject's groups there, and its
/// membership by groups or by live assignments with the first expiry: what `lineage`,
/// `groups_of` and `assignments_of` would say, in one call.
pub async fn facts_answer_many_resources_in_order<S: EntityStore + AssignmentStore + RoleStore>(
    s: &S,
) {
    s.register(&resource("top", "acme", "ada")).await.unwrap();
    s.register(&inside("leaf", "acme", "ada", "top"))
        .await
        .unwrap();
    s.register(&resource("g1", "globex", "ada")).await.unwrap();
    s.register(&resource("g2", "initech", "ada")).await.unwrap();
    s.share(
        &share_to("top", SubjectKind::Group, "team", Access::Edit),
        ADA,
    )
    .await
    .unwrap();
    s.share(
        &share_to("leaf", SubjectKind::User, "bob", Access::View),
        ADA,
    )
    .await
    .unwrap();
    s.share(
        &share_to("g1", SubjectKind::User, "bob", Access::Edit),
        ExpectedOwner::new("globex", "ada"),
    )
    .await
    .unwrap();
    // A group of the same name in globex is not bob's group in acme, and the reverse.
    s.share(
        &share_to("g1", SubjectKind::Group, "team", Access::Edit),
        ExpectedOwner::new("globex", "ada"),
    )
    .await
    .unwrap();
    s.add_member("acme", "team", "bob", 100).await.unwrap();
    s.add_member("globex", "team", "carl", 100).await.unwrap();
    // In globex bob holds three assignments: expired, live until 2,000, live until 3,000; in
    // initech one that expired.
    s.create_role(&super::role("globex", "", "member"), &[])
        .await
        .unwrap();
    s.create_role(&super::role("initech", "", "member"), &[])
        .await
        .unwrap();
    let globex = super::role_id("globex", "", "member");
    for (id, until) in [("asg_a", 500), ("asg_b", 3_000), ("asg_c", 2_000)] {
        let mut a = super::assignment(id, "globex", &globex, SubjectKind::User, "bob");
        a.resource_id = Some(id.into());
        a.resource_type = Some("document".into());
        a.expires_at = Some(until);
        s.assign(&a, 100).await.unwrap();
    }
    let mut gone = super::assignment(
        "asg_d",
        "initech",
        &super::role_id("initech", "", "member"),
        SubjectKind::User,
        "bob",
    );
    gone.expires_at = Some(900);
    s.assign(&gone, 100).await.unwrap();

    let keys = [doc("leaf"), doc("none"), doc("g1"), doc("leaf"), doc("g2")];
    let facts = s.facts(&keys, "bob", 1_000).await.unwrap();
    assert_eq!(facts.len(), keys.len());
    let team = vec!["team".to_owned()];
    let in_acme = AccessFacts {
        lineage: s.lineage(&doc("leaf"), "bob", &team).await.unwrap(),
        groups: team.clone(),
        member: true,
        member_until: None,
    };
    assert_eq!(in_acme.lineage.len(), 2);
    assert_eq!(
        in_acme.lineage[1].shares.len(),
        1,
        "the group share on the folder"
    );
    assert_eq!(facts[0].as_ref(), Some(&in_acme));
    assert_eq!(facts[1], None);
    assert_eq!(
        facts[3].as_ref(),
        Some(&in_acme),
        "a key asked twice is answered twice"
    );
    let in_globex = facts[2].as_ref().unwrap();
    assert_eq!(
        in_globex.lineage,
        s.lineage(&doc("g1"), "bob", &[]).await.unwrap()
    );
    assert_eq!(
        in_globex.lineage[0].shares.len(),
        1,
        "bob's share, not the team's"
    );
    assert!(in_globex.groups.is_empty());
    assert!(in_globex.member);
    assert_eq!(in_globex.member_until, Some(2_000));
    let in_initech = facts[4].as_ref().unwrap();
    assert!(!in_initech.member && in_initech.member_until.is_none());
    // Judged at the time asked: at 2,500 only the last assignment lives.
    let later = s.facts(&[doc("g1")], "bob", 2_500).await.unwrap();
    assert_eq!(later[0].as_ref().unwrap().member_until, Some(3_000));
    let gone = s.facts(&[doc("g1")], "bob", 3_000).await.unwrap();
    assert!(!gone[0].as_ref().unwrap().member);
    assert!(s.facts(&[], "bob", 0).await.unwrap().is_empty());
}

async fn ids<S: EntityStore>(s: &S, q: AccessibleQuery<'_>) -> Vec<String> {
    s.accessible(&q).await.unwrap()
}

pub async fn accessible_follows_owners_visibility_shares_and_folders<S: EntityStore>(s: &S) {
    let mut public = resource("p", "acme", "ada");
    public.visibility = Visibility::Public;
    let mut open = resource("t", "acme", "ada");
    open.visibility = Visibility::Tenant;
    for record in [
        resource("mine", "acme", "bob"),
        resource("private", "acme", "ada"),
        public,
        open,
        resource("folder", "acme", "ada"),
        inside("in-folder", "acme", "ada", "folder"),
        resource("by-group", "acme", "ada"),
        resource("elsewhere", "globex", "bob"),
    ] {
        s.register(&record).await.unwrap();
    }
    s.share(
        &share_to("folder", SubjectKind::User, "bob", Access::Edit),
        ADA,
    )
    .await
    .unwrap();
    s.share(
        &share_to("by-group", SubjectKind::Group, "team", Access::View),
        ADA,
    )
    .await
    .unwrap();
    let groups = vec!["team".to_owned()];
    // Not a member: a share to him counts for nothing (he left, say), a group's still does.
    assert_eq!(
        ids(s, query("bob", &groups, Access::View)).await,
        ["by-group", "mine", "p"]
    );
    assert_eq!(
        ids(
            s,
            AccessibleQuery {
                member: true,
                ..query("bob", &groups, Access::View)
            }
        )
        .await,
        ["by-group", "folder", "in-folder", "mine", "p", "t"]
    );
    // Visibility gives `view`, never `edit`; a `view` share is not an `edit` one.
    assert_eq!(
        ids(
            s,
            AccessibleQuery {
                member: true,
                ..query("bob", &groups, Access::Edit)
            }
        )
        .await,
        ["folder", "in-folder", "mine"]
    );
    // An editor of the tenant edits what its members can see.
    assert_eq!(
        ids(
            s,
            AccessibleQuery {
                member: true,
                editor: true,
                ..query("bob", &groups, Access::Edit)
            }
        )
        .await,
        ["folder", "in-folder", "mine", "t"]
    );
    // Without the group, nothing of the group's.
    assert_eq!(
        ids(
            s,
            AccessibleQuery {
                member: true,
                ..query("bob", &[], Access::View)
            }
        )
        .await,
        ["folder", "in-folder", "mine", "p", "t"]
    );
    // Pages: in id order, after the previous page's last.
    let first = ids(
        s,
        AccessibleQuery {
            limit: 2,
            member: true,
            ..query("bob", &groups, Access::View)
        },
    )
    .await;
    assert_eq!(first, ["by-group", "folder"]);
    let second = ids(
        s,
        AccessibleQuery {
            limit: 2,
            after: Some("folder"),
            member: true,
            ..query("bob", &groups, Access::View)
        },
    )
    .await;
    assert_eq!(second, ["in-folder", "mine"]);
    // Another tenant's resources never appear, even owned ones.
    assert!(
        !ids(s, query("bob", &groups, Access::View))
            .await
            .contains(&"elsewhere".to_owned())
    );
}

pub async fn writes_hold_to_the_owner_they_were_authorized_against<S: EntityStore>(s: &S) {
    // ada was allowed to manage `a` and the folder `f`; both were then deregistered and
    // registered again, `a` to bob and `f` in another tenant. Every write on ada's old
    // authority is refused and changes nothing.
    s.register(&resource("a", "acme", "bob")).await.unwrap();
    s.register(&resource("f", "acme", "bob")).await.unwrap();
    s.register(&resource("mine", "acme", "ada")).await.unwrap();
    let changed = Err(StoreError::Conflict(RESOURCE_CHANGED));
    assert_eq!(
        s.set_visibility(&doc("a"), ADA, Visibility::Public).await,
        changed.clone()
    );
    assert_eq!(
        s.share(&share_to("a", SubjectKind::User, "eve", Access::Edit), ADA)
            .await,
        changed.clone().map(drop)
    );
    let bob = ExpectedOwner::new("acme", "bob");
    s.share(&share_to("a", SubjectKind::User, "carl", Access::View), bob)
        .await
        .unwrap();
    assert_eq!(
        s.unshare(&doc("a"), ADA, SubjectKind::User, "carl").await,
        changed.clone().map(|_| true)
    );
    assert_eq!(s.move_to(&doc("a"), ADA, None).await, changed.clone());
    // A tenant's administrator's authority is the tenant's: the same owner elsewhere is not it.
    assert_eq!(
        s.set_visibility(
            &doc("a"),
            ExpectedOwner::new("globex", "bob"),
            Visibility::Public
        )
        .await,
        changed.clone()
    );
    // Into a folder that is no longer the one ada could file into.
    assert_eq!(
        s.move_to(&doc("mine"), ADA, Some((&doc("f"), ADA))).await,
        changed.clone()
    );
    assert_eq!(
        s.move_to(&doc("mine"), ADA, Some((&doc("gone"), ADA)))
            .await,
        Err(StoreError::NotFound(NO_FOLDER))
    );
    assert_eq!(
        s.resource(&doc("a")).await.unwrap(),
        Some(resource("a", "acme", "bob")),
        "a refused write wrote"
    );
    assert_eq!(
        s.resource(&doc("mine")).await.unwrap().unwrap().parent,
        None
    );
    assert_eq!(
        s.shares(&doc("a")).await.unwrap(),
        vec![share_to("a", SubjectKind::User, "carl", Access::View)]
    );
    // What the write was authorized against, it does.
    let moved = s
        .move_to(&doc("mine"), ADA, Some((&doc("f"), bob)))
        .await
        .unwrap();
    assert_eq!(moved.parent, Some(doc("f")));
    assert!(
        s.unshare(&doc("a"), bob, SubjectKind::User, "carl")
            .await
            .unwrap()
    );
}

pub async fn shares_per_resource_are_bounded<S: EntityStore>(s: &S) {
    s.register(&resource("full", "acme", "ada")).await.unwrap();
    for n in 0..MAX_SHARES {
        let kind = if n % 2 == 0 {
            SubjectKind::User
        } else {
            SubjectKind::Group
        };
        s.share(&share_to("full", kind, &format!("g{n}"), Access::View), ADA)
            .await
            .unwrap();
    }
    let one_more = share_to("full", SubjectKind::User, "newcomer", Access::View);
    assert_eq!(
        s.share(&one_more, ADA).await,
        Err(StoreError::Conflict(TOO_MANY_SHARES))
    );
    // A level changes on a full resource; a share taken back makes room.
    s.share(
        &share_to("full", SubjectKind::User, "g0", Access::Edit),
        ADA,
    )
    .await
    .unwrap();
    assert!(
        s.unshare(&doc("full"), ADA, SubjectKind::Group, "g1")
            .await
            .unwrap()
    );
    s.share(&one_more, ADA).await.unwrap();
    let shares = s.shares(&doc("full")).await.unwrap();
    assert_eq!(shares.len(), MAX_SHARES);
    assert!(shares.contains(&one_more));
    assert!(shares.contains(&share_to("full", SubjectKind::User, "g0", Access::Edit)));
}

pub async fn concurrent_moves_never_build_a_cycle<S: EntityStore + Clone + 'static>(s: &S) {
    for round in 0..20 {
        let (a, b) = (format!("a{round}"), format!("b{round}"));
        s.register(&resource(&a, "acme", "ada")).await.unwrap();
        s.register(&resource(&b, "acme", "ada")).await.unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let moves = [(a.clone(), b.clone()), (b.clone(), a.clone())].map(|(what, into)| {
            let (s, barrier) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                s.move_to(&doc(&what), ADA, Some((&doc(&into), ADA))).await
            })
        });
        let mut moved = 0;
        for outcome in moves {
            match outcome.await.unwrap() {
                Ok(_) => moved += 1,
                Err(error) => assert_eq!(error, StoreError::Conflict(FOLDER_CYCLE)),
            }
        }
        assert_eq!(moved, 1, "both moves landed: a cycle");
    }
}
