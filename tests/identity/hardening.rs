//! Issue 13's identity defects, each reproduced as an attacker would: across requests in flight
//! at once, across a credential's life, and racing the cache.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::StatusCode;
use portcullis::store::{RevocationStore, ThrottleStore, UserStore};
use serde_json::json;

use crate::support::TestApp;

const PASSWORD: &str = "correct horse battery staple";

/// Defect 1: 30 wrong guesses and the right password sent at once once gave 30 × 401 and 1 × 200.
/// The attempts are now reserved before hashing: at most the account limit (5) reach the
/// password check, everyone else gets 429, and the right password gets 429 too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_cannot_pass_the_account_lockout() {
    let t = Arc::new(TestApp::memory().await);
    t.register("target@example.com", PASSWORD).await;
    let mut tasks = Vec::new();
    for i in 0..31 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let password = if i == 30 {
                PASSWORD
            } else {
                "a wrong guess, surely"
            };
            // Many addresses, so only the account limit is in play.
            t.login_from("target@example.com", password, &format!("10.0.0.{i}"))
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let checked = statuses
        .iter()
        .filter(|s| **s != StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        checked <= 5,
        "{checked} attempts reached the password check: {statuses:?}"
    );
    assert!(statuses.iter().all(|s| matches!(
        *s,
        StatusCode::OK | StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
    )));
    // Now locked: even the right password is refused until the delay passes.
    let after = t
        .login_from("target@example.com", PASSWORD, "10.0.1.1")
        .await;
    if !statuses.contains(&StatusCode::OK) {
        assert_eq!(after.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(after.headers.contains_key("retry-after"));
    }
}

/// The same for one address guessing at many accounts (limit 20), and refused attempts are
/// taken back: the counter holds at most the attempts that were checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_cannot_pass_the_address_limit() {
    let t = Arc::new(TestApp::memory().await);
    let mut tasks = Vec::new();
    for i in 0..60 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            t.login_from(
                &format!("user{i}@example.com"),
                "a wrong guess, surely",
                "192.0.2.7",
            )
            .await
            .status
        }));
    }
    let mut checked = 0;
    for task in tasks {
        if task.await.unwrap() == StatusCode::UNAUTHORIZED {
            checked += 1;
        }
    }
    assert!(
        (1..=20).contains(&checked),
        "{checked} reached the password check"
    );
    let counted = t.store.failures("addr:192.0.2.7").await.unwrap().unwrap();
    assert!(
        counted.count <= 20,
        "refused attempts were taken back: {counted:?}"
    );
}

/// The password change is throttled by the same reservation (it once let every guess in flight
/// through as well).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_password_change_guesses_are_throttled() {
    let t = Arc::new(TestApp::memory().await);
    t.register("pw@example.com", PASSWORD).await;
    let access = t.login("pw@example.com", PASSWORD).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let access = Arc::new(access);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (t, access) = (t.clone(), access.clone());
        tasks.push(tokio::spawn(async move {
            t.post(
                "/auth/password",
                json!({"current_password": "a wrong guess, surely",
                       "new_password": "an entirely new passphrase here"}),
                Some(&access),
            )
            .await
            .status
        }));
    }
    let mut checked = 0;
    for task in tasks {
        if task.await.unwrap() != StatusCode::TOO_MANY_REQUESTS {
            checked += 1;
        }
    }
    assert!(checked <= 5, "{checked} guesses reached the password check");
}

/// Defect 5: login → at1, refresh → at2, logout with at2 once left at1 working until its `exp`.
#[tokio::test]
async fn logout_ends_every_access_token_of_the_session() {
    let t = TestApp::memory().await;
    t.register("sid@example.com", PASSWORD).await;
    let first = t.login("sid@example.com", PASSWORD).await.json();
    let at1 = first["access_token"].as_str().unwrap();
    let second = t
        .post(
            "/auth/refresh",
            json!({"refresh_token": first["refresh_token"]}),
            None,
        )
        .await
        .json();
    let at2 = second["access_token"].as_str().unwrap();
    assert_eq!(t.get("/me", Some(at1)).await.status, StatusCode::OK);
    // Another session of the same user is not touched.
    let other = t.login("sid@example.com", PASSWORD).await.json();
    assert_eq!(
        t.post("/auth/logout", json!({}), Some(at2)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.get("/me", Some(at1)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.get("/me", Some(at2)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.get("/me", other["access_token"].as_str()).await.status,
        StatusCode::OK
    );
}

/// Defect 5, the thief's side: refresh-token reuse ends the family and every access token of it.
#[tokio::test]
async fn reuse_detection_ends_the_thiefs_access_token() {
    let t = TestApp::memory().await;
    t.register("thief@example.com", PASSWORD).await;
    let stolen = t.login("thief@example.com", PASSWORD).await.json();
    // The thief refreshes first and holds a fresh access token.
    let thief = t
        .post(
            "/auth/refresh",
            json!({"refresh_token": stolen["refresh_token"]}),
            None,
        )
        .await
        .json();
    let thief_access = thief["access_token"].as_str().unwrap();
    assert_eq!(
        t.get("/me", Some(thief_access)).await.status,
        StatusCode::OK
    );
    // The victim uses the same (now spent) refresh token: reuse detected.
    let reuse = t
        .post(
            "/auth/refresh",
            json!({"refresh_token": stolen["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        t.get("/me", Some(thief_access)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Defect 6: a revocation-cache fill that read the store before `revoke` returned once landed on
/// top of the revocation, and the logged-out token worked for up to 5 s more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_in_flight_cannot_undo_a_revocation() {
    let t = Arc::new(TestApp::failing().await);
    t.register("race@example.com", PASSWORD).await;
    let access = t.login("race@example.com", PASSWORD).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A request reads "not revoked" from the store and is held before it caches the answer.
    t.store.hold.store(true, Ordering::SeqCst);
    let held = t.store.held.clone();
    let waiting = held.notified();
    let in_flight = {
        let (t, access) = (t.clone(), access.clone());
        tokio::spawn(async move { t.get("/me", Some(&access)).await.status })
    };
    waiting.await;
    // Meanwhile the token id alone is revoked (not its session, whose own denylist entry
    // would hide the race).
    let claims = portcullis::token::TokenVerifier::new(
        t.identity.key_ring().clone(),
        t.identity.token_rules(),
    )
    .verify(&access)
    .unwrap()
    .claims;
    t.identity
        .revocation()
        .revoke_token(
            claims["jti"].as_str().unwrap(),
            claims["exp"].as_i64().unwrap(),
        )
        .await
        .unwrap();
    // The stale answer lands now.
    t.store.release.notify_one();
    let _ = in_flight.await.unwrap();
    assert_eq!(
        t.get("/me", Some(&access)).await.status,
        StatusCode::UNAUTHORIZED,
        "after the revocation returned, the next request is refused"
    );
}

/// Defect 7: the denylist entry outlives `exp` by the largest leeway, so a logged-out token
/// cannot come back while a verifier would still accept it.
#[tokio::test]
async fn a_revocation_is_kept_past_exp_for_the_leeway() {
    let t = TestApp::memory().await;
    t.register("leeway@example.com", PASSWORD).await;
    let access = t.login("leeway@example.com", PASSWORD).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims = portcullis::token::TokenVerifier::new(
        t.identity.key_ring().clone(),
        t.identity.token_rules(),
    )
    .verify(&access)
    .unwrap()
    .claims;
    let (jti, exp) = (
        claims["jti"].as_str().unwrap().to_owned(),
        claims["exp"].as_i64().unwrap(),
    );
    t.post("/auth/logout", json!({}), Some(&access)).await;
    let leeway = portcullis::token::MAX_LEEWAY.as_secs() as i64;
    assert_eq!(t.store.purge_expired(exp + leeway - 1).await.unwrap(), 0);
    assert!(t.store.is_token_revoked(&jti).await.unwrap());
    assert!(t.store.purge_expired(exp + leeway).await.unwrap() >= 1);
}

/// Defect 10: deleting a user ends every credential at once, and the account is gone.
#[tokio::test]
async fn deleting_a_user_ends_every_credential_at_once() {
    let t = TestApp::memory().await;
    t.register("gone@example.com", PASSWORD).await;
    let pair = t.login("gone@example.com", PASSWORD).await.json();
    assert_eq!(
        t.get("/me", pair["access_token"].as_str()).await.status,
        StatusCode::OK
    );
    let id = t
        .store
        .user_by_email("gone@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    t.identity.delete_user(&id).await.unwrap();
    crate::support::assert_session_over(&t, &pair).await;
    assert_eq!(
        t.login("gone@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(matches!(
        t.identity.delete_user(&id).await,
        Err(portcullis::identity::IdentityError::NotFound)
    ));
    // The address can be registered again, as a new account the old tokens never reach.
    t.register("gone@example.com", PASSWORD).await;
    assert_eq!(
        t.get("/me", pair["access_token"].as_str()).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Maintenance purges what expired, through the identity, in one call.
#[tokio::test]
async fn maintenance_purges_refresh_tokens_and_failures() {
    let t = TestApp::memory().await;
    t.register("old@example.com", PASSWORD).await;
    t.login("old@example.com", PASSWORD).await;
    t.login("old@example.com", "a wrong guess, surely").await;
    let purged = t.identity.maintain().await.unwrap();
    assert_eq!((purged.refresh_tokens, purged.login_failures), (0, 0));
    t.advance(Duration::from_secs(31 * 24 * 3600));
    let purged = t.identity.maintain().await.unwrap();
    assert_eq!(purged.refresh_tokens, 1);
    assert!(purged.login_failures >= 1);
}

async fn with_grace() -> Arc<TestApp<portcullis::store::MemoryStore>> {
    let app = TestApp::configured(
        portcullis::store::MemoryStore::new(),
        Arc::default(),
        |config| config.refresh_reuse_grace = Some(Duration::from_secs(10)),
    )
    .await;
    app.register("tabs@example.com", PASSWORD).await;
    Arc::new(app)
}

/// Two tabs refreshing with one refresh token at once, from one client: with the grace on, both
/// get the same new pair and the user stays signed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_refreshing_at_once_share_one_pair_within_the_grace() {
    let t = with_grace().await;
    let pair = t.login("tabs@example.com", PASSWORD).await.json();
    let token = pair["refresh_token"].clone();
    let tabs: Vec<_> = (0..2)
        .map(|_| {
            let (t, token) = (t.clone(), token.clone());
            tokio::spawn(async move { t.refresh_from(&token, "198.51.100.4").await })
        })
        .collect();
    let mut pairs = Vec::new();
    for tab in tabs {
        let reply = tab.await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        pairs.push(reply.json());
    }
    assert_eq!(pairs[0]["refresh_token"], pairs[1]["refresh_token"]);
    assert_eq!(pairs[0]["access_token"], pairs[1]["access_token"]);
    let next = t
        .refresh_from(&pairs[0]["refresh_token"], "198.51.100.4")
        .await;
    assert_eq!(next.status, StatusCode::OK, "the family is alive");
}

/// Outside the grace's conditions reuse detection is unchanged: another client address, or no
/// known address, ends the family.
#[tokio::test]
async fn the_grace_never_covers_another_client() {
    let t = with_grace().await;
    let pair = t.login("tabs@example.com", PASSWORD).await.json();
    let first = t.refresh_from(&pair["refresh_token"], "198.51.100.4").await;
    assert_eq!(first.status, StatusCode::OK);
    let thief = t.refresh_from(&pair["refresh_token"], "203.0.113.9").await;
    assert_eq!(thief.status, StatusCode::UNAUTHORIZED);
    let next = t
        .refresh_from(&first.json()["refresh_token"], "198.51.100.4")
        .await;
    assert_eq!(
        next.status,
        StatusCode::UNAUTHORIZED,
        "reuse ended the family"
    );

    let pair = t.login("tabs@example.com", PASSWORD).await.json();
    assert_eq!(
        t.refresh_from(&pair["refresh_token"], "198.51.100.4")
            .await
            .status,
        StatusCode::OK
    );
    let unknown = t
        .post(
            "/auth/refresh",
            json!({"refresh_token": pair["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNAUTHORIZED,
        "no address, no grace"
    );
}

/// Off by default: the same client's second use is reuse.
#[tokio::test]
async fn without_the_grace_a_second_use_is_reuse() {
    let t = TestApp::memory().await;
    t.register("strict@example.com", PASSWORD).await;
    let pair = t.login("strict@example.com", PASSWORD).await.json();
    let first = t.refresh_from(&pair["refresh_token"], "198.51.100.4").await;
    assert_eq!(first.status, StatusCode::OK);
    let again = t.refresh_from(&pair["refresh_token"], "198.51.100.4").await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}
