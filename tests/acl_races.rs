//! Check-then-write: the engine judges a management call (owner or tenant administrator) before
//! it writes, so the resource can be deregistered and registered again to someone else in
//! between. These tests put exactly that in the gap, deterministically, with a store that swaps
//! the resource's owner right after the engine has read what it judges by, and see every write
//! refused (and nothing changed) rather than landing on the stranger's resource.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use portcullis::acl::{Acl, AclError, NewResource};
use portcullis::store::acl::{ExpectedOwner, RESOURCE_CHANGED};
use portcullis::store::{
    Access, AccessFacts, AccessibleQuery, AssignmentFilter, AssignmentRecord, AssignmentStore,
    EntityStore, Lineage, MemoryStore, Registered, ResourceKey, ResourceRecord, ShareRecord,
    StoreResult, SubjectKind, Visibility,
};
use portcullis::{AuthMethod, UserContext};

fn doc(id: &str) -> ResourceKey {
    ResourceKey::new("docs", "document", id)
}

/// A memory store that, once armed for a key, hands the engine what it asked for and then,
/// before the engine's next step, deregisters that resource and registers it again to `carl`,
/// private, shared by him with bob.
#[derive(Clone, Default)]
struct Swapping {
    inner: MemoryStore,
    /// The key, and how many of its reads to let pass before the swap.
    armed: Arc<Mutex<Option<(ResourceKey, usize)>>>,
}

/// The share carl's `d` has: what ada's old authority must not change or take away.
fn carls_share() -> ShareRecord {
    ShareRecord {
        key: doc("d"),
        grantee_kind: SubjectKind::User,
        grantee: "bob".into(),
        access: Access::View,
        granted_by: "carl".into(),
        granted_at: 0,
    }
}

impl Swapping {
    /// Swaps `key` after the read that follows `skip` reads of it (by `resource` or `facts`).
    fn arm(&self, key: &ResourceKey, skip: usize) {
        *self.armed.lock().unwrap() = Some((key.clone(), skip));
    }

    /// Runs the swap when `read` includes the armed key and its turn has come (once).
    async fn after_reading(&self, read: &[ResourceKey]) {
        let due = {
            let mut armed = self.armed.lock().unwrap();
            match armed.as_mut() {
                Some((key, 0)) if read.contains(key) => armed.take().map(|(key, _)| key),
                Some((key, skip)) if read.contains(key) => {
                    *skip -= 1;
                    None
                }
                _ => None,
            }
        };
        if let Some(key) = due {
            let old = self.inner.resource(&key).await.unwrap().unwrap();
            self.inner.deregister(&key).await.unwrap();
            let stranger = ResourceRecord {
                owner: "carl".into(),
                visibility: Visibility::Private,
                parent: None,
                ..old
            };
            self.inner.register(&stranger).await.unwrap();
            let share = ShareRecord {
                key: key.clone(),
                ..carls_share()
            };
            let carl = ExpectedOwner::of(&stranger);
            self.inner.share(&share, carl).await.unwrap();
        }
    }
}

impl EntityStore for Swapping {
    async fn register(&self, record: &ResourceRecord) -> StoreResult<Registered> {
        self.inner.register(record).await
    }
    async fn resource(&self, key: &ResourceKey) -> StoreResult<Option<ResourceRecord>> {
        let found = self.inner.resource(key).await;
        self.after_reading(std::slice::from_ref(key)).await;
        found
    }
    async fn deregister(&self, key: &ResourceKey) -> StoreResult<()> {
        self.inner.deregister(key).await
    }
    async fn set_visibility(
        &self,
        key: &ResourceKey,
        expected: ExpectedOwner<'_>,
        visibility: Visibility,
    ) -> StoreResult<ResourceRecord> {
        self.inner.set_visibility(key, expected, visibility).await
    }
    async fn move_to(
        &self,
        key: &ResourceKey,
        expected: ExpectedOwner<'_>,
        parent: Option<(&ResourceKey, ExpectedOwner<'_>)>,
    ) -> StoreResult<ResourceRecord> {
        self.inner.move_to(key, expected, parent).await
    }
    async fn share(&self, share: &ShareRecord, expected: ExpectedOwner<'_>) -> StoreResult<()> {
        self.inner.share(share, expected).await
    }
    async fn unshare(
        &self,
        key: &ResourceKey,
        expected: ExpectedOwner<'_>,
        grantee_kind: SubjectKind,
        grantee: &str,
    ) -> StoreResult<bool> {
        self.inner
            .unshare(key, expected, grantee_kind, grantee)
            .await
    }
    async fn shares(&self, key: &ResourceKey) -> StoreResult<Vec<ShareRecord>> {
        self.inner.shares(key).await
    }
    async fn lineage(
        &self,
        key: &ResourceKey,
        subject: &str,
        groups: &[String],
    ) -> StoreResult<Vec<Lineage>> {
        self.inner.lineage(key, subject, groups).await
    }
    async fn facts(
        &self,
        keys: &[ResourceKey],
        subject: &str,
        now: i64,
    ) -> StoreResult<Vec<Option<AccessFacts>>> {
        let facts = self.inner.facts(keys, subject, now).await;
        self.after_reading(keys).await;
        facts
    }
    async fn accessible(&self, query: &AccessibleQuery<'_>) -> StoreResult<Vec<String>> {
        self.inner.accessible(query).await
    }
}

impl AssignmentStore for Swapping {
    async fn assign(&self, assignment: &AssignmentRecord, now: i64) -> StoreResult<()> {
        self.inner.assign(assignment, now).await
    }
    async fn unassign(&self, tenant: &str, id: &str) -> StoreResult<()> {
        self.inner.unassign(tenant, id).await
    }
    async fn assignment(&self, tenant: &str, id: &str) -> StoreResult<Option<AssignmentRecord>> {
        self.inner.assignment(tenant, id).await
    }
    async fn assignments(&self, filter: &AssignmentFilter) -> StoreResult<Vec<AssignmentRecord>> {
        self.inner.assignments(filter).await
    }
    async fn assignments_of(&self, tenant: &str, user: &str) -> StoreResult<Vec<AssignmentRecord>> {
        self.inner.assignments_of(tenant, user).await
    }
    async fn assignments_of_roles(
        &self,
        tenant: &str,
        role_ids: &[String],
    ) -> StoreResult<Vec<AssignmentRecord>> {
        self.inner.assignments_of_roles(tenant, role_ids).await
    }
    async fn add_member(
        &self,
        tenant: &str,
        group: &str,
        subject: &str,
        at: i64,
    ) -> StoreResult<()> {
        self.inner.add_member(tenant, group, subject, at).await
    }
    async fn remove_member(&self, tenant: &str, group: &str, subject: &str) -> StoreResult<()> {
        self.inner.remove_member(tenant, group, subject).await
    }
    async fn groups_of(&self, tenant: &str, subject: &str) -> StoreResult<Vec<String>> {
        self.inner.groups_of(tenant, subject).await
    }
    async fn members(&self, tenant: &str, group: &str) -> StoreResult<Vec<String>> {
        self.inner.members(tenant, group).await
    }
    async fn groups(&self, tenant: &str) -> StoreResult<Vec<(String, i64)>> {
        self.inner.groups(tenant).await
    }
    async fn first_sight(
        &self,
        tenant: &str,
        user: &str,
        now: i64,
    ) -> StoreResult<Vec<AssignmentRecord>> {
        self.inner.first_sight(tenant, user, now).await
    }
}

/// ada owns `d` (private, shared with bob), `folder` and `mine`; bob is a member of acme
/// through the group `team`.
async fn setup() -> (Acl<Swapping>, Swapping, UserContext) {
    let store = Swapping::default();
    store.add_member("acme", "team", "bob", 0).await.unwrap();
    let acl = Acl::new(store.clone());
    for id in ["d", "folder", "mine"] {
        acl.register(NewResource::new(doc(id), "acme", "ada").visibility(Visibility::Private))
            .await
            .unwrap();
    }
    let ada = UserContext::new("ada", AuthMethod::Bearer);
    acl.share(&ada, &doc("d"), SubjectKind::User, "bob", Access::View)
        .await
        .unwrap();
    (acl, store, ada)
}

/// `key` as carl's after the swap, untouched by ada: private, top level, carl's share only.
async fn untouched(store: &Swapping, key: &ResourceKey) {
    let record = store.resource(key).await.unwrap().unwrap();
    assert_eq!(record.owner, "carl");
    assert_eq!(
        record.visibility,
        Visibility::Private,
        "ada's visibility landed"
    );
    assert_eq!(record.parent, None, "ada's move landed");
    let expected = ShareRecord {
        key: key.clone(),
        ..carls_share()
    };
    assert_eq!(
        store.shares(key).await.unwrap(),
        vec![expected],
        "ada's share or unshare landed"
    );
}

const CHANGED: AclError = AclError::Conflict(RESOURCE_CHANGED);

#[tokio::test]
async fn a_share_is_refused_when_the_resource_changed_hands_after_the_check() {
    let (acl, store, ada) = setup().await;
    store.arm(&doc("d"), 0);
    let shared = acl
        .share(&ada, &doc("d"), SubjectKind::User, "bob", Access::Edit)
        .await;
    assert_eq!(shared, Err(CHANGED));
    untouched(&store, &doc("d")).await;
}

#[tokio::test]
async fn an_unshare_is_refused_when_the_resource_changed_hands_after_the_check() {
    let (acl, store, ada) = setup().await;
    store.arm(&doc("d"), 0);
    let unshared = acl.unshare(&ada, &doc("d"), SubjectKind::User, "bob").await;
    assert_eq!(unshared, Err(CHANGED));
    untouched(&store, &doc("d")).await;
}

#[tokio::test]
async fn a_visibility_change_is_refused_when_the_resource_changed_hands_after_the_check() {
    let (acl, store, ada) = setup().await;
    store.arm(&doc("d"), 0);
    let changed = acl
        .set_visibility(&ada, &doc("d"), Visibility::Public)
        .await;
    assert_eq!(changed, Err(CHANGED));
    untouched(&store, &doc("d")).await;
}

#[tokio::test]
async fn a_move_is_refused_when_the_resource_changed_hands_after_the_check() {
    let (acl, store, ada) = setup().await;
    store.arm(&doc("d"), 0);
    let moved = acl.move_to(&ada, &doc("d"), Some(&doc("folder"))).await;
    assert_eq!(moved, Err(CHANGED));
    untouched(&store, &doc("d")).await;
}

#[tokio::test]
async fn a_move_is_refused_when_the_folder_changed_hands_after_the_check() {
    let (acl, store, ada) = setup().await;
    // The engine reads the folder's record, then judges ada's right to edit it (a second
    // read); the folder becomes carl's between that judgement and the write.
    store.arm(&doc("folder"), 1);
    let moved = acl.move_to(&ada, &doc("mine"), Some(&doc("folder"))).await;
    assert_eq!(moved, Err(CHANGED));
    let mine = store.resource(&doc("mine")).await.unwrap().unwrap();
    assert_eq!(mine.parent, None, "filed into carl's folder");
    untouched(&store, &doc("folder")).await;
}

#[tokio::test]
async fn the_writes_land_when_nothing_changed_in_between() {
    // The same calls unarmed: the refusals above are the swap's doing, not the wrapper's.
    let (acl, store, ada) = setup().await;
    acl.move_to(&ada, &doc("mine"), Some(&doc("folder")))
        .await
        .unwrap();
    acl.set_visibility(&ada, &doc("d"), Visibility::Public)
        .await
        .unwrap();
    acl.share(&ada, &doc("d"), SubjectKind::User, "bob", Access::Edit)
        .await
        .unwrap();
    assert!(
        acl.unshare(&ada, &doc("d"), SubjectKind::User, "bob")
            .await
            .unwrap()
    );
    let mine = store.resource(&doc("mine")).await.unwrap().unwrap();
    assert_eq!(mine.parent, Some(doc("folder")));
}
