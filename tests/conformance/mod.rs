//! The store conformance suite: every backend must pass every check. `conformance!` expands to one
//! `#[tokio::test]` per check for a backend given by an async constructor.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

mod acl;
mod roles;
pub use acl::*;
pub use roles::*;

use portcullis::store::{
    ApiKeyRecord, ApiKeyStore, Consumed, ExternalIdentityStore, RefreshRecord, SessionRecord,
    SessionStore, Store, StoreError, StoredKey, UserRecord,
};

pub fn user(id: &str, email: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        email: email.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        roles: vec!["viewer".into(), "editor".into()],
        disabled: false,
        created_at: 1_700_000_000,
        password_changed_at: 1_700_000_000,
    }
}

fn refresh(byte: u8, family: &str, user: &str, expires_at: i64) -> RefreshRecord {
    RefreshRecord {
        digest: [byte; 32],
        family: family.into(),
        user_id: user.into(),
        issued_at: 100,
        expires_at,
    }
}

pub async fn users<S: Store>(s: &S) {
    let alice = user("u-alice", "alice@example.com");
    s.create_user(&alice).await.unwrap();
    assert_eq!(
        s.user_by_email("alice@example.com").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(s.user_by_id("u-alice").await.unwrap(), Some(alice.clone()));
    assert_eq!(s.user_by_email("bob@example.com").await.unwrap(), None);
    assert_eq!(s.user_by_id("nobody").await.unwrap(), None);

    // Unique e-mail and id; a refused create changes nothing.
    let dup_email = user("u-other", "alice@example.com");
    assert_eq!(
        s.create_user(&dup_email).await,
        Err(StoreError::Conflict("email"))
    );
    assert_eq!(s.user_by_id("u-other").await.unwrap(), None);
    let dup_id = user("u-alice", "alice2@example.com");
    assert!(matches!(
        s.create_user(&dup_id).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.user_by_email("alice2@example.com").await.unwrap(), None);

    s.set_password_hash("u-alice", "$argon2id$new", 1_800_000_000)
        .await
        .unwrap();
    let changed = s.user_by_id("u-alice").await.unwrap().unwrap();
    assert_eq!(
        (changed.password_hash.as_str(), changed.password_changed_at),
        ("$argon2id$new", 1_800_000_000)
    );
    assert_eq!(
        s.set_password_hash("nobody", "x", 1).await,
        Err(StoreError::NotFound("user"))
    );

    s.set_disabled("u-alice", true).await.unwrap();
    assert!(
        s.user_by_email("alice@example.com")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    s.set_disabled("u-alice", false).await.unwrap();
    assert!(!s.user_by_id("u-alice").await.unwrap().unwrap().disabled);
    assert_eq!(
        s.set_disabled("nobody", true).await,
        Err(StoreError::NotFound("user"))
    );
}

pub async fn refresh_rotation<S: Store>(s: &S) {
    let first = refresh(1, "fam-1", "u1", 10_000);
    s.insert_refresh(&first).await.unwrap();
    assert!(matches!(
        s.insert_refresh(&first).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.consume_refresh(&[1; 32], 500).await.unwrap(),
        Consumed::Fresh(first.clone())
    );
    // Spent: a second use is a replay.
    assert_eq!(
        s.consume_refresh(&[1; 32], 501).await.unwrap(),
        Consumed::Reused(first.clone())
    );
    assert_eq!(
        s.consume_refresh(&[9; 32], 500).await.unwrap(),
        Consumed::Unknown
    );

    let second = refresh(2, "fam-1", "u1", 10_000);
    s.insert_refresh(&second).await.unwrap();
    s.revoke_family("fam-1").await.unwrap();
    assert_eq!(
        s.consume_refresh(&[2; 32], 502).await.unwrap(),
        Consumed::Revoked
    );
    assert_eq!(
        s.consume_refresh(&[1; 32], 502).await.unwrap(),
        Consumed::Revoked
    );

    let old = refresh(3, "fam-2", "u1", 1_000);
    s.insert_refresh(&old).await.unwrap();
    assert_eq!(
        s.consume_refresh(&[3; 32], 1_000).await.unwrap(),
        Consumed::Expired
    );
}

pub async fn refresh_user_families<S: Store>(s: &S) {
    for (byte, family, user) in [
        (1, "a", "u1"),
        (2, "b", "u1"),
        (3, "c", "u1"),
        (4, "d", "u2"),
    ] {
        s.insert_refresh(&refresh(byte, family, user, 10_000))
            .await
            .unwrap();
    }
    s.revoke_user_families("u1", Some("b")).await.unwrap();
    assert_eq!(
        s.consume_refresh(&[1; 32], 1).await.unwrap(),
        Consumed::Revoked
    );
    assert!(
        matches!(
            s.consume_refresh(&[2; 32], 1).await.unwrap(),
            Consumed::Fresh(_)
        ),
        "kept family"
    );
    assert_eq!(
        s.consume_refresh(&[3; 32], 1).await.unwrap(),
        Consumed::Revoked
    );
    assert!(
        matches!(
            s.consume_refresh(&[4; 32], 1).await.unwrap(),
            Consumed::Fresh(_)
        ),
        "other user"
    );
    s.revoke_user_families("u2", None).await.unwrap();
    s.insert_refresh(&refresh(5, "d", "u2", 10_000))
        .await
        .unwrap();
    assert_eq!(
        s.consume_refresh(&[5; 32], 1).await.unwrap(),
        Consumed::Revoked,
        "revocation is per family"
    );
}

pub async fn concurrent_consume_has_one_winner<S: Store>(s: &S) {
    s.insert_refresh(&refresh(7, "race", "u1", 10_000))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.consume_refresh(&[7; 32], 10).await.unwrap()
        }));
    }
    let mut fresh = 0;
    for task in tasks {
        match task.await.unwrap() {
            Consumed::Fresh(_) => fresh += 1,
            Consumed::Reused(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(fresh, 1, "exactly one concurrent consumer may win");
}

pub async fn revocation<S: Store>(s: &S) {
    assert!(!s.is_token_revoked("jti-1").await.unwrap());
    s.revoke_token("jti-1", 1_000).await.unwrap();
    s.revoke_token("jti-1", 1_000).await.unwrap(); // idempotent
    s.revoke_token("jti-2", 3_000).await.unwrap();
    assert!(s.is_token_revoked("jti-1").await.unwrap());
    assert_eq!(s.purge_expired(2_000).await.unwrap(), 1);
    assert!(!s.is_token_revoked("jti-1").await.unwrap());
    assert!(s.is_token_revoked("jti-2").await.unwrap());

    assert_eq!(s.revoked_before("u1").await.unwrap(), None);
    s.set_revoked_before("u1", 500).await.unwrap();
    s.set_revoked_before("u1", 400).await.unwrap(); // never moves back
    assert_eq!(s.revoked_before("u1").await.unwrap(), Some(500));
    s.set_revoked_before("u1", 600).await.unwrap();
    assert_eq!(s.revoked_before("u1").await.unwrap(), Some(600));
    assert_eq!(s.revoked_before("u2").await.unwrap(), None);
}

pub async fn throttle<S: Store>(s: &S) {
    assert_eq!(s.failures("acct:a").await.unwrap(), None);
    assert_eq!(s.record_failure("acct:a", 100, 60).await.unwrap().count, 1);
    assert_eq!(s.record_failure("acct:a", 110, 60).await.unwrap().count, 2);
    let state = s.record_failure("acct:a", 120, 60).await.unwrap();
    assert_eq!((state.count, state.last_at), (3, 120));
    assert_eq!(
        s.failures("acct:a").await.unwrap().map(|f| f.count),
        Some(3)
    );
    // Past the window the count starts again.
    assert_eq!(s.record_failure("acct:a", 500, 60).await.unwrap().count, 1);
    s.clear_failures("acct:a").await.unwrap();
    assert_eq!(s.failures("acct:a").await.unwrap(), None);
    s.clear_failures("acct:never").await.unwrap();

    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.record_failure("ip:1", 1_000, 60).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        s.failures("ip:1").await.unwrap().map(|f| f.count),
        Some(20),
        "increments are atomic"
    );
}

pub async fn keys<S: Store>(s: &S) {
    let key = |kid: &str, at: i64| StoredKey {
        kid: kid.into(),
        alg: "EdDSA".into(),
        private_der: vec![1, 2, 3, at as u8],
        created_at: at,
        retired_at: None,
    };
    assert!(s.keys().await.unwrap().is_empty());
    s.insert_key(&key("k2", 200)).await.unwrap();
    s.insert_key(&key("k1", 100)).await.unwrap();
    assert!(matches!(
        s.insert_key(&key("k1", 300)).await,
        Err(StoreError::Conflict(_))
    ));
    let kids: Vec<String> = s.keys().await.unwrap().into_iter().map(|k| k.kid).collect();
    assert_eq!(kids, ["k1", "k2"], "oldest first");
    s.retire_key("k1", 150).await.unwrap();
    assert_eq!(s.keys().await.unwrap()[0].retired_at, Some(150));
    assert_eq!(s.keys().await.unwrap()[0].private_der, vec![1, 2, 3, 100]);
    assert_eq!(
        s.retire_key("nope", 1).await,
        Err(StoreError::NotFound("key"))
    );
    s.delete_key("k1").await.unwrap();
    assert_eq!(s.keys().await.unwrap().len(), 1);
    assert_eq!(s.delete_key("k1").await, Err(StoreError::NotFound("key")));
}

pub fn api_key(id: &str, owner: &str, created_at: i64) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.into(),
        digest: [id.len() as u8; 32],
        display_prefix: format!("pk_test_{id}"),
        owner: owner.into(),
        name: format!("key {id}"),
        roles: vec!["viewer".into()],
        scopes: vec!["catalog.read".into()],
        tenant: Some("acme".into()),
        created_at,
        created_at_us: created_at * 1_000_000,
        expires_at: Some(created_at + 3600),
        revoked_at: None,
        last_used_at: None,
    }
}

pub async fn api_keys<S: Store + ApiKeyStore>(s: &S) {
    let a = api_key("aaaa", "u1", 200);
    let b = api_key("bbbbbb", "u1", 100);
    let c = api_key("cc", "svc:billing", 300);
    for key in [&a, &b, &c] {
        s.insert_api_key(key, 100).await.unwrap();
    }
    assert!(matches!(
        s.insert_api_key(&a, 100).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.api_key("aaaa").await.unwrap(), Some(a.clone()));
    assert_eq!(s.api_key("nope").await.unwrap(), None);
    let mine: Vec<String> = s
        .api_keys_of("u1")
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(mine, ["bbbbbb", "aaaa"], "oldest first");
    let page: Vec<String> = s
        .all_api_keys(2, 1)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(page, ["aaaa", "cc"]);

    s.revoke_api_key("aaaa", 500).await.unwrap();
    s.revoke_api_key("aaaa", 900).await.unwrap(); // the first revocation time stays
    assert_eq!(
        s.api_key("aaaa").await.unwrap().unwrap().revoked_at,
        Some(500)
    );
    assert_eq!(
        s.revoke_api_key("nope", 1).await,
        Err(StoreError::NotFound("api key"))
    );

    s.record_api_key_use(&[
        ("cc".into(), 400),
        ("bbbbbb".into(), 450),
        ("ghost".into(), 1),
    ])
    .await
    .unwrap();
    s.record_api_key_use(&[("cc".into(), 350)]).await.unwrap(); // never backwards
    assert_eq!(
        s.api_key("cc").await.unwrap().unwrap().last_used_at,
        Some(400)
    );
    assert_eq!(
        s.api_key("bbbbbb").await.unwrap().unwrap().last_used_at,
        Some(450)
    );
    assert_eq!(s.api_key("aaaa").await.unwrap().unwrap().last_used_at, None);
}

pub async fn sessions<S: Store + SessionStore>(s: &S) {
    let session = SessionRecord {
        digest: [3; 32],
        user_id: "u1".into(),
        email: "a@example.com".into(),
        roles: vec!["viewer".into()],
        created_at_us: 1_700_000_000_123_456,
        last_seen_at: 100,
        expires_at: 5_000,
    };
    s.insert_session(&session).await.unwrap();
    assert!(matches!(
        s.insert_session(&session).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.session(&[3; 32]).await.unwrap(), Some(session.clone()));
    assert_eq!(s.session(&[4; 32]).await.unwrap(), None);
    s.touch_session(&[3; 32], 200).await.unwrap();
    s.touch_session(&[3; 32], 150).await.unwrap(); // never backwards
    assert_eq!(
        s.session(&[3; 32]).await.unwrap().unwrap().last_seen_at,
        200
    );
    // Unknown (never made, or ended): said, so that a session ended elsewhere is not kept alive.
    assert!(matches!(
        s.touch_session(&[9; 32], 1).await,
        Err(StoreError::NotFound(_))
    ));
    s.delete_session(&[3; 32]).await.unwrap();
    s.delete_session(&[3; 32]).await.unwrap();
    assert_eq!(s.session(&[3; 32]).await.unwrap(), None);
    assert!(matches!(
        s.touch_session(&[3; 32], 300).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn external_identities<S: Store + ExternalIdentityStore>(s: &S) {
    assert_eq!(
        s.linked_user("https://idp.test", "sub-1").await.unwrap(),
        None
    );
    s.link_external("https://idp.test", "sub-1", "u1", 10)
        .await
        .unwrap();
    assert_eq!(
        s.linked_user("https://idp.test", "sub-1")
            .await
            .unwrap()
            .as_deref(),
        Some("u1")
    );
    assert!(matches!(
        s.link_external("https://idp.test", "sub-1", "u2", 11).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.linked_user("https://idp.test", "sub-1")
            .await
            .unwrap()
            .as_deref(),
        Some("u1"),
        "unchanged"
    );
    // The same subject at another issuer is another account.
    assert_eq!(
        s.linked_user("https://other.test", "sub-1").await.unwrap(),
        None
    );
}

fn session(byte: u8, user: &str, last_seen_at: i64, expires_at: i64) -> SessionRecord {
    SessionRecord {
        digest: [byte; 32],
        user_id: user.into(),
        email: format!("{user}@example.com"),
        roles: vec!["viewer".into()],
        created_at_us: 1,
        last_seen_at,
        expires_at,
    }
}

/// Roles can be replaced; deleting a user takes every credential the store holds for them, and
/// nothing of anyone else's.
pub async fn roles_and_deletion<S: Store + ApiKeyStore + SessionStore + ExternalIdentityStore>(
    s: &S,
) {
    s.create_user(&user("u1", "ada@example.com")).await.unwrap();
    s.create_user(&user("u2", "bob@example.com")).await.unwrap();
    s.set_roles("u1", &["admin".into()]).await.unwrap();
    assert_eq!(
        s.user_by_id("u1").await.unwrap().unwrap().roles,
        vec!["admin".to_owned()]
    );
    assert_eq!(
        s.set_roles("nobody", &[]).await,
        Err(StoreError::NotFound("user"))
    );
    for (byte, owner) in [(1u8, "u1"), (2, "u2")] {
        s.insert_refresh(&refresh(byte, &format!("f-{owner}"), owner, 10_000))
            .await
            .unwrap();
        s.insert_session(&session(byte, owner, 100, 10_000))
            .await
            .unwrap();
        s.insert_api_key(&api_key(&format!("key{byte}"), owner, 100), 10)
            .await
            .unwrap();
        s.link_external("https://idp", &format!("sub-{owner}"), owner, 1)
            .await
            .unwrap();
    }
    s.set_revoked_before("u1", 5).await.unwrap();
    s.delete_user("u1").await.unwrap();
    assert!(s.user_by_id("u1").await.unwrap().is_none());
    assert!(s.user_by_email("ada@example.com").await.unwrap().is_none());
    assert_eq!(
        s.consume_refresh(&[1; 32], 100).await.unwrap(),
        Consumed::Unknown
    );
    assert!(s.session(&[1; 32]).await.unwrap().is_none());
    assert!(s.api_key("key1").await.unwrap().is_none());
    assert!(
        s.linked_user("https://idp", "sub-u1")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.revoked_before("u1").await.unwrap(),
        Some(5),
        "the cutoff outlives the user"
    );
    assert_eq!(s.delete_user("u1").await, Err(StoreError::NotFound("user")));
    // The other user keeps everything.
    assert!(s.user_by_id("u2").await.unwrap().is_some());
    assert!(s.session(&[2; 32]).await.unwrap().is_some());
    assert!(s.api_key("key2").await.unwrap().is_some());
    assert_eq!(
        s.linked_user("https://idp", "sub-u2")
            .await
            .unwrap()
            .as_deref(),
        Some("u2")
    );
    assert!(matches!(
        s.consume_refresh(&[2; 32], 100).await.unwrap(),
        Consumed::Fresh(_)
    ));
    // The e-mail address is free again.
    s.create_user(&user("u3", "ada@example.com")).await.unwrap();
}

/// Expired refresh tokens (and the marks of their revoked families), sessions past their absolute
/// or idle limit, denylist entries and old failure counters are purged; live ones stay.
pub async fn maintenance_purges<S: Store + SessionStore>(s: &S) {
    s.insert_refresh(&refresh(1, "old", "u1", 500))
        .await
        .unwrap();
    s.insert_refresh(&refresh(2, "live", "u1", 5_000))
        .await
        .unwrap();
    s.revoke_family("old").await.unwrap();
    s.revoke_family("live").await.unwrap();
    assert_eq!(s.purge_refresh(1_000).await.unwrap(), 1);
    assert_eq!(
        s.consume_refresh(&[1; 32], 1_000).await.unwrap(),
        Consumed::Unknown
    );
    assert_eq!(
        s.consume_refresh(&[2; 32], 1_000).await.unwrap(),
        Consumed::Revoked,
        "a live family's revocation survives the purge"
    );

    s.insert_session(&session(1, "u1", 900, 5_000))
        .await
        .unwrap(); // live
    s.insert_session(&session(2, "u1", 900, 1_000))
        .await
        .unwrap(); // past absolute expiry
    s.insert_session(&session(3, "u1", 100, 5_000))
        .await
        .unwrap(); // idle too long
    assert_eq!(s.purge_sessions(1_000, 200).await.unwrap(), 2);
    assert!(s.session(&[1; 32]).await.unwrap().is_some());
    assert!(s.session(&[2; 32]).await.unwrap().is_none());
    assert!(s.session(&[3; 32]).await.unwrap().is_none());

    s.revoke_token("gone", 900).await.unwrap();
    s.revoke_token("kept", 1_100).await.unwrap();
    assert_eq!(s.purge_expired(1_000).await.unwrap(), 1);
    assert!(s.is_token_revoked("kept").await.unwrap());
    assert!(!s.is_token_revoked("gone").await.unwrap());

    s.record_failure("acct:old", 100, 900).await.unwrap();
    s.record_failure("acct:new", 950, 900).await.unwrap();
    assert_eq!(s.purge_failures(500).await.unwrap(), 1);
    assert!(s.failures("acct:old").await.unwrap().is_none());
    assert!(s.failures("acct:new").await.unwrap().is_some());
}

/// Concurrent creations cannot pass an owner's key cap together; revoked and expired keys do not
/// count against it; other owners are not affected.
pub async fn api_key_cap_holds_under_concurrency<S: Store + ApiKeyStore>(s: &S) {
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut key = api_key(&format!("k{i:02}"), "u1", 1_000);
            key.expires_at = None;
            s.insert_api_key(&key, 5).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => created += 1,
            Err(StoreError::Conflict("api key limit")) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 5, "exactly the cap, whatever the interleaving");
    let winner = s.api_keys_of("u1").await.unwrap().remove(0).id;
    s.revoke_api_key(&winner, 1_001).await.unwrap();
    s.insert_api_key(&api_key("after-revoke", "u1", 1_002), 5)
        .await
        .unwrap();
    let mut expired = api_key("expired", "u2", 1_000);
    expired.expires_at = Some(1_001);
    s.insert_api_key(&expired, 1).await.unwrap();
    s.insert_api_key(&api_key("u2-live", "u2", 2_000), 1)
        .await
        .unwrap();
    assert_eq!(
        s.insert_api_key(&api_key("u2-more", "u2", 2_000), 1).await,
        Err(StoreError::Conflict("api key limit"))
    );
}

/// A failure counted before a password check can be taken back, never below zero.
pub async fn released_failures<S: Store>(s: &S) {
    s.record_failure("addr:1", 100, 900).await.unwrap();
    s.record_failure("addr:1", 101, 900).await.unwrap();
    s.release_failure("addr:1").await.unwrap();
    assert_eq!(s.failures("addr:1").await.unwrap().unwrap().count, 1);
    s.release_failure("addr:1").await.unwrap();
    s.release_failure("addr:1").await.unwrap();
    assert_eq!(s.failures("addr:1").await.unwrap().unwrap().count, 0);
    s.release_failure("addr:none").await.unwrap();
}

/// One test per check for a backend. `$make` is an async expression giving `Option<(store, guard)>`;
/// `None` skips (with a message); the guard is dropped after the check, panicking or not.
#[macro_export]
macro_rules! conformance {
    ($make:expr) => {
        $crate::conformance!(@each $make;
            users, refresh_rotation, refresh_user_families, concurrent_consume_has_one_winner,
            revocation, throttle, keys, api_keys, sessions, external_identities,
            roles_and_deletion, maintenance_purges, api_key_cap_holds_under_concurrency,
            released_failures,
            // The tenant role model (`roles.rs`).
            role_crud, role_slugs_are_unique_per_namespace, refused_role_writes_change_nothing,
            roles_are_confined_to_their_tenant, role_hierarchy_stays_sound,
            system_roles_never_change, deleting_a_role, role_filters, role_grants,
            role_assignments, group_members, max_members_counts_live_subjects,
            max_members_holds_under_concurrency, first_sight_gives_default_roles_once,
            concurrent_cycles_are_refused, tenant_versions_only_grow, deleting_a_tenant,
            declared_actions, an_expired_assignment_is_renewed_not_refused,
            a_stale_role_update_is_refused);
    };
    // The entity permission store (`acl.rs`).
    (@acl $make:expr) => {
        $crate::conformance!(@each $make;
            registering_is_idempotent_for_the_owner_only, folders_stay_sound,
            sharing_twice_updates_the_level, lineage_names_the_subject_and_its_groups_only,
            accessible_follows_owners_visibility_shares_and_folders,
            facts_answer_many_resources_in_order,
            writes_hold_to_the_owner_they_were_authorized_against, shares_per_resource_are_bounded,
            concurrent_moves_never_build_a_cycle);
    };
    (@each $make:expr; $($check:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some((store, guard)) = $make.await else { return };
                let outcome = tokio::spawn(async move { conformance::$check(&store).await }).await;
                { let _cleanup = guard; } // the backend's clean-up runs here, before any panic resumes
                if let Err(error) = outcome {
                    std::panic::resume_unwind(error.into_panic());
                }
            }
        )*
    };
}
