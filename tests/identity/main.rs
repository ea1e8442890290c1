//! The built-in identity over HTTP, through the real router: every status of every route, token
//! rotation and reuse, throttling and its expiry, revocation, keys, and the logs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
mod hardening;
mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use http::StatusCode;
use portcullis::identity::{Identity, IdentityConfig};
use portcullis::password::{HashParams, PasswordHasher};
use portcullis::store::{MemoryStore, UserStore};
use serde_json::{Value, json};
use support::*;

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn register_login_call_refresh_logout() {
    let t = TestApp::memory().await;
    let reply = t
        .post(
            "/auth/register",
            json!({"email": "Ada@Example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(reply.json()["email"], "ada@example.com");
    assert_eq!(
        reply.json()["roles"],
        json!(["viewer"]),
        "new users get the default role"
    );

    let login = t.login("ADA@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text());
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let body = login.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    assert!(refresh.starts_with("prt_") && refresh.len() == 47);

    let me = t.get("/me", Some(&access)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["email"], "ada@example.com");
    assert_eq!(me.json()["method"], "identity");
    assert_eq!(
        t.get("/books", Some(&access)).await.status,
        StatusCode::OK,
        "viewer reads"
    );

    let rotated = t
        .post("/auth/refresh", json!({"refresh_token": refresh}), None)
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    let next_refresh = rotated.json()["refresh_token"].as_str().unwrap().to_owned();
    let next_access = rotated.json()["access_token"].as_str().unwrap().to_owned();
    assert_ne!(next_refresh, refresh);
    assert_eq!(
        t.get("/me", Some(&next_access)).await.status,
        StatusCode::OK
    );

    let out = t.post("/auth/logout", json!({}), Some(&next_access)).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let after = t.get("/me", Some(&next_access)).await;
    assert_eq!(
        after.status,
        StatusCode::UNAUTHORIZED,
        "the access token is revoked at once"
    );
    assert_eq!(
        after.header("www-authenticate"),
        Some(r#"Bearer realm="portcullis", error="invalid_token""#)
    );
    let refused = t
        .post(
            "/auth/refresh",
            json!({"refresh_token": next_refresh}),
            None,
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "the session's refresh family is revoked"
    );
}

#[tokio::test]
async fn registration_input_rules() {
    let t = TestApp::memory().await;
    let ok = t
        .post(
            "/auth/register",
            json!({"email": "a@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);

    let cases = [
        (
            json!({"email": "A@EXAMPLE.COM", "password": PASSWORD}),
            StatusCode::CONFLICT,
            Some("email"),
        ),
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            StatusCode::BAD_REQUEST,
            Some("email"),
        ),
        (
            json!({"email": " b@example.com", "password": PASSWORD}),
            StatusCode::BAD_REQUEST,
            Some("email"),
        ),
        (
            json!({"email": "b@example.com", "password": "short"}),
            StatusCode::BAD_REQUEST,
            Some("password"),
        ),
        (
            json!({"email": "b@example.com", "password": "Password123"}),
            StatusCode::BAD_REQUEST,
            Some("password"),
        ),
        (
            json!({"email": "b@example.com", "password": "x".repeat(1025)}),
            StatusCode::BAD_REQUEST,
            Some("password"),
        ),
        (
            json!({"email": "b@example.com"}),
            StatusCode::BAD_REQUEST,
            Some("password"),
        ),
        (
            json!({"email": 7, "password": PASSWORD}),
            StatusCode::BAD_REQUEST,
            Some("email"),
        ),
        (json!([1, 2]), StatusCode::BAD_REQUEST, None),
    ];
    let before = t.identity.hasher().computed();
    for (body, status, field) in cases {
        let reply = t.post("/auth/register", body.clone(), None).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text());
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(reply.json()["field"].as_str(), field, "{body}");
        assert!(
            !reply.text().contains(PASSWORD),
            "errors never echo a password"
        );
    }
    assert_eq!(
        t.identity.hasher().computed(),
        before,
        "refused registrations never reach the hasher"
    );
    assert!(
        t.store
            .user_by_email("b@example.com")
            .await
            .unwrap()
            .is_none(),
        "nothing was created"
    );

    let wrong_type = t
        .raw_post("/auth/register", "text/plain", b"email=a".to_vec())
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // 64 characters (and more, up to the byte cap) are accepted as they are.
    let long = "a long passphrase that nobody could ever guess, with spaces 64ch";
    assert_eq!(long.chars().count(), 64);
    let reply = t
        .post(
            "/auth/register",
            json!({"email": "long@example.com", "password": long}),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(
        t.login("long@example.com", long).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.login("long@example.com", long.trim_end_matches("64ch"))
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "no truncation"
    );
}

#[tokio::test]
async fn a_huge_password_is_refused_before_hashing() {
    let t = TestApp::memory().await;
    t.register("a@example.com", PASSWORD).await;
    let before = t.identity.hasher().computed();
    let huge = "p".repeat(1024 * 1024);
    for path in ["/auth/register", "/auth/login"] {
        let reply = t
            .post(
                path,
                json!({"email": "a@example.com", "password": huge}),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json")
        );
    }
    // Just over the password cap, inside the body cap: 400 naming the field, still no hash.
    let reply = t.login("a@example.com", &"p".repeat(1025)).await;
    assert_eq!(
        (reply.status, reply.json()["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("password"))
    );
    assert_eq!(t.identity.hasher().computed(), before, "nothing was hashed");
}

#[tokio::test]
async fn failed_logins_are_indistinguishable() {
    let t = TestApp::memory().await;
    t.register("known@example.com", PASSWORD).await;
    t.register("off@example.com", PASSWORD).await;
    let off = t
        .store
        .user_by_email("off@example.com")
        .await
        .unwrap()
        .unwrap();
    t.identity.set_disabled(&off.id, true).await.unwrap();

    let before = t.identity.hasher().computed();
    let unknown = t.login("nobody@example.com", PASSWORD).await;
    assert_eq!(
        t.identity.hasher().computed(),
        before + 1,
        "an unknown user costs a dummy hash"
    );
    let wrong = t.login("known@example.com", "wrong password here").await;
    let disabled = t.login("off@example.com", PASSWORD).await;
    for reply in [&unknown, &wrong, &disabled] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.body, unknown.body);
        assert_eq!(reply.headers, unknown.headers);
    }
}

#[tokio::test]
async fn account_throttling_backs_off_and_expires() {
    let t = TestApp::memory().await;
    t.register("victim@example.com", PASSWORD).await;
    for _ in 0..5 {
        assert_eq!(
            t.login("victim@example.com", "wrong password!")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    let throttled = t.login("victim@example.com", PASSWORD).await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert_eq!(throttled.header("retry-after"), Some("30"));

    t.advance(Duration::from_secs(31));
    assert_eq!(
        t.login("victim@example.com", "wrong password!")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let longer = t.login("victim@example.com", PASSWORD).await;
    assert_eq!(
        longer.header("retry-after"),
        Some("60"),
        "the delay doubles"
    );

    t.advance(Duration::from_secs(61));
    assert_eq!(
        t.login("victim@example.com", PASSWORD).await.status,
        StatusCode::OK,
        "the lock expires"
    );
    assert_eq!(
        t.login("victim@example.com", "wrong password!")
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "a success clears the account's failures"
    );

    // Unknown accounts are throttled the same way: a 429 reveals nothing.
    for _ in 0..5 {
        t.login("ghost@example.com", "whatever it is").await;
    }
    assert_eq!(
        t.login("ghost@example.com", "whatever it is").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn address_throttling_and_successes_never_count() {
    let t = TestApp::memory().await;
    t.register("busy@example.com", PASSWORD).await;
    for _ in 0..30 {
        assert_eq!(
            t.login_from("busy@example.com", PASSWORD, "10.0.0.1")
                .await
                .status,
            StatusCode::OK
        );
    }
    for i in 0..20 {
        let reply = t
            .login_from(&format!("u{i}@example.com"), "guessing again", "10.0.0.2")
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let blocked = t.login_from("busy@example.com", PASSWORD, "10.0.0.2").await;
    assert_eq!(
        blocked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the guessing address is slowed"
    );
    assert_eq!(
        t.login_from("busy@example.com", PASSWORD, "10.0.0.1")
            .await
            .status,
        StatusCode::OK,
        "others are not"
    );
    // X-Forwarded-For is not believed: it cannot move a client to another address's bucket.
    let spoofed = t
        .login_from_with_header(
            "busy@example.com",
            PASSWORD,
            "10.0.0.2",
            ("x-forwarded-for", "10.0.0.9"),
        )
        .await;
    assert_eq!(spoofed.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn refresh_reuse_revokes_the_family() {
    let t = TestApp::memory().await;
    t.register("r@example.com", PASSWORD).await;
    let first = t.login("r@example.com", PASSWORD).await.json();
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let second = t
        .post("/auth/refresh", json!({"refresh_token": r1}), None)
        .await
        .json();
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();

    // A thief replays the spent r1: refused, and the whole family dies, r2 included.
    assert_eq!(
        t.post("/auth/refresh", json!({"refresh_token": r1}), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.post("/auth/refresh", json!({"refresh_token": r2}), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // Malformed tokens are refused without touching the store's families.
    for bad in [
        "",
        "prt_short",
        &format!("{r2} "),
        &r2[..r2.len() - 1],
        &r2.replace("prt_", "xyz_"),
    ] {
        let reply = t
            .post("/auth/refresh", json!({"refresh_token": bad}), None)
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{bad:?}");
    }
    // Another login is a new family and unaffected.
    let other = t.login("r@example.com", PASSWORD).await.json();
    let r3 = other["refresh_token"].as_str().unwrap();
    assert_eq!(
        t.post("/auth/refresh", json!({"refresh_token": r3}), None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn refresh_families_expire_absolutely() {
    let t = TestApp::memory().await;
    t.register("x@example.com", PASSWORD).await;
    let mut refresh = t.login("x@example.com", PASSWORD).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        t.advance(Duration::from_secs(10 * 24 * 3600)); // rotation every 10 days...
        let reply = t
            .post("/auth/refresh", json!({"refresh_token": refresh}), None)
            .await;
        if reply.status != StatusCode::OK {
            // ...stops at the 30-day absolute expiry, rotation or not.
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
            return;
        }
        refresh = reply.json()["refresh_token"].as_str().unwrap().to_owned();
    }
    panic!("the family outlived its absolute expiry");
}

#[tokio::test]
async fn concurrent_refreshes_have_exactly_one_winner() {
    let t = TestApp::memory().await;
    t.register("c@example.com", PASSWORD).await;
    let refresh = t.login("c@example.com", PASSWORD).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = t.app.clone();
        let body = json!({"refresh_token": refresh});
        tasks.push(tokio::spawn(async move {
            post_to(&app, "/auth/refresh", body, None).await.status
        }));
    }
    let mut wins = 0;
    for task in tasks {
        if task.await.unwrap() == StatusCode::OK {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn logout_all_ends_every_session() {
    let t = TestApp::memory().await;
    t.register("m@example.com", PASSWORD).await;
    let a = t.login("m@example.com", PASSWORD).await.json();
    let b = t.login("m@example.com", PASSWORD).await.json();
    let a_access = a["access_token"].as_str().unwrap();
    let logout_all = t.post("/auth/logout-all", json!({}), Some(a_access)).await;
    assert_eq!(logout_all.status, StatusCode::NO_CONTENT);
    assert_session_over(&t, &a).await;
    assert_session_over(&t, &b).await;
    // A login after the cutoff, even within the same second, is a live session.
    let fresh = t.login("m@example.com", PASSWORD).await.json();
    assert_eq!(
        t.get("/me", fresh["access_token"].as_str()).await.status,
        StatusCode::OK
    );
    // Without credentials the session routes answer 401.
    assert_eq!(
        t.post("/auth/logout-all", json!({}), None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn password_change_ends_the_other_sessions() {
    let t = TestApp::memory().await;
    t.register("p@example.com", PASSWORD).await;
    let mine = t.login("p@example.com", PASSWORD).await.json();
    let theirs = t.login("p@example.com", PASSWORD).await.json();
    let my_access = mine["access_token"].as_str().unwrap();

    let wrong = t
        .post(
            "/auth/password",
            json!({"current_password": "not it at all", "new_password": "a brand new secret"}),
            Some(my_access),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let weak = t
        .post(
            "/auth/password",
            json!({"current_password": PASSWORD, "new_password": "password1"}),
            Some(my_access),
        )
        .await;
    assert_eq!(
        (weak.status, weak.json()["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("new_password"))
    );

    let changed = t
        .post(
            "/auth/password",
            json!({"current_password": PASSWORD, "new_password": "a brand new secret"}),
            Some(my_access),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
    let new_access = changed.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(t.get("/me", Some(&new_access)).await.status, StatusCode::OK);
    assert_session_over(&t, &theirs).await; // the other session is over
    let my_refresh = t
        .post(
            "/auth/refresh",
            json!({"refresh_token": mine["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(my_refresh.status, StatusCode::OK, "this session goes on");

    assert_eq!(
        t.login("p@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.login("p@example.com", "a brand new secret").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions() {
    let t = TestApp::memory().await;
    t.register("d@example.com", PASSWORD).await;
    let session = t.login("d@example.com", PASSWORD).await.json();
    let user = t
        .store
        .user_by_email("d@example.com")
        .await
        .unwrap()
        .unwrap();
    t.identity.set_disabled(&user.id, true).await.unwrap();
    assert_session_over(&t, &session).await;
    assert_eq!(
        t.login("d@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn weak_stored_hashes_are_upgraded_at_login() {
    let t = TestApp::memory().await;
    t.register("old@example.com", PASSWORD).await;
    let weak = t
        .store
        .user_by_email("old@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(
        weak.password_hash.contains("m=256,t=1,p=1"),
        "{}",
        weak.password_hash
    );

    let stronger = PasswordHasher::new(
        HashParams {
            memory_kib: 1024,
            iterations: 2,
            parallelism: 1,
        },
        1,
    )
    .unwrap();
    let identity = Identity::with_ring(
        t.store.clone(),
        IdentityConfig::default(),
        t.identity.key_ring().clone(),
        stronger,
    )
    .unwrap();
    identity
        .login("old@example.com", PASSWORD, None)
        .await
        .unwrap();
    let upgraded = t
        .store
        .user_by_email("old@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(
        upgraded.password_hash.contains("m=1024,t=2,p=1"),
        "{}",
        upgraded.password_hash
    );
    assert_eq!(
        upgraded.password_changed_at, weak.password_changed_at,
        "a rehash is not a password change"
    );
    identity
        .login("old@example.com", PASSWORD, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn owasp_parameters_by_default_and_keys_persist() {
    let store = MemoryStore::new();
    let first = Identity::open(store.clone(), IdentityConfig::default())
        .await
        .unwrap();
    assert_eq!(first.hasher().params(), HashParams::OWASP);
    first.register("o@example.com", PASSWORD).await.unwrap();
    let hash = store
        .user_by_email("o@example.com")
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );

    // A second start over the same store signs with the same, persisted key.
    let token = first
        .login("o@example.com", PASSWORD, None)
        .await
        .unwrap()
        .access_token;
    let second = Identity::open(store.clone(), IdentityConfig::default())
        .await
        .unwrap();
    let signing = |i: &Identity<MemoryStore>| {
        i.key_ring()
            .snapshot()
            .signing_key()
            .map(|k| k.kid().to_owned())
    };
    assert_eq!(signing(&first), signing(&second));
    let verified =
        portcullis::token::TokenVerifier::new(second.key_ring().clone(), second.token_rules())
            .verify(&token);
    assert!(verified.is_ok());
}

#[tokio::test]
async fn jwks_and_key_rotation() {
    let t = TestApp::memory().await;
    let jwks = t.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.status, StatusCode::OK);
    let keys = jwks.json()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        (
            keys[0]["kty"].as_str(),
            keys[0]["crv"].as_str(),
            keys[0]["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert!(
        keys[0].get("d").is_none(),
        "no private material is published"
    );
    let old_kid = keys[0]["kid"].as_str().unwrap().to_owned();

    t.register("k@example.com", PASSWORD).await;
    let old_token = t.login("k@example.com", PASSWORD).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_kid = t.identity.rotate_key().await.unwrap();
    let new_token = t.login("k@example.com", PASSWORD).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let header = jsonwebtoken::decode_header(&new_token).unwrap();
    assert_eq!(
        header.kid.as_deref(),
        Some(new_kid.as_str()),
        "the new key signs"
    );
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(
        t.get("/me", Some(&old_token)).await.status,
        StatusCode::OK,
        "the old key still verifies"
    );
    assert_eq!(
        t.get("/.well-known/jwks.json", None).await.json()["keys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    assert_eq!(
        t.identity.prune_keys().await.unwrap(),
        0,
        "too early to drop the old key"
    );
    t.advance(Duration::from_secs(15 * 60 + 301));
    assert_eq!(t.identity.prune_keys().await.unwrap(), 1);
    let kids: Vec<Value> = t.get("/.well-known/jwks.json", None).await.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].clone())
        .collect();
    assert_eq!(kids, vec![json!(new_kid)]);
    assert_ne!(old_kid, new_kid);
}

#[tokio::test]
async fn a_failing_revocation_store_fails_closed() {
    let t = TestApp::failing().await;
    t.register("f@example.com", PASSWORD).await;
    let access = t.login("f@example.com", PASSWORD).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    t.fail.store(true, Ordering::SeqCst);
    let reply = t.get("/me", Some(&access)).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "never let through when revocation cannot be checked"
    );
    t.fail.store(false, Ordering::SeqCst);
    assert_eq!(t.get("/me", Some(&access)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_whole_flow_logs_no_secret() {
    let captured = Captured::global();
    let t = TestApp::memory().await;
    t.register("secret@example.com", PASSWORD).await;
    t.login("secret@example.com", "the wrong one!!").await;
    let pair = t.login("secret@example.com", PASSWORD).await.json();
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let rotated = t
        .post("/auth/refresh", json!({"refresh_token": refresh}), None)
        .await
        .json();
    t.post("/auth/refresh", json!({"refresh_token": refresh}), None)
        .await; // reuse: logged as a warning
    t.get("/me", Some(&access)).await;
    t.post(
        "/auth/password",
        json!({"current_password": PASSWORD, "new_password": "another fine secret"}),
        Some(&access),
    )
    .await;
    t.post("/auth/logout", json!({}), Some(&access)).await;
    let hash = t
        .store
        .user_by_email("secret@example.com")
        .await
        .unwrap()
        .unwrap()
        .password_hash;

    let logs = captured.text();
    assert!(
        logs.contains("refresh token reused"),
        "the run did log: {logs}"
    );
    for secret in [
        PASSWORD,
        "the wrong one!!",
        "another fine secret",
        &access,
        &refresh,
        &hash,
        rotated["refresh_token"].as_str().unwrap(),
    ] {
        assert!(
            !logs.contains(secret),
            "a secret reached the logs: {secret:.12}…"
        );
    }
    let payload = access.split('.').nth(1).unwrap();
    assert!(!logs.contains(payload));
    assert!(
        !logs.contains("secret@example.com"),
        "no e-mail addresses in logs either"
    );
}

#[tokio::test]
async fn keys_from_files_sign_and_are_published() {
    use portcullis::token::{Algorithm, Key, KeyRing};
    let key = Key::signing_pem(
        "file-es256",
        Algorithm::ES256,
        include_bytes!("../keys/ec_private.pem"),
        include_bytes!("../keys/ec_public.pem"),
    )
    .unwrap();
    let store = MemoryStore::new();
    let hasher = PasswordHasher::new(FAST, 1).unwrap();
    let identity = Identity::with_ring(
        store,
        IdentityConfig::default(),
        KeyRing::single(key),
        hasher,
    )
    .unwrap();
    identity
        .register("file@example.com", PASSWORD)
        .await
        .unwrap();
    let token = identity
        .login("file@example.com", PASSWORD, None)
        .await
        .unwrap()
        .access_token;

    // A relying party that knows only the published JWKS verifies the token.
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(identity.jwks()).unwrap();
    let jwk = jwks.find("file-es256").expect("the file key is published");
    let decoding = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
    validation.set_audience(&["portcullis-access"]);
    assert!(jsonwebtoken::decode::<Value>(&token, &decoding, &validation).is_ok());
}

/// The whole flow on a given backend: register, login, call, refresh, reuse, logout, logout-all.
async fn full_flow<S: portcullis::store::Store>(t: &TestApp<S>) {
    t.register("flow@example.com", PASSWORD).await;
    assert_eq!(
        t.post(
            "/auth/register",
            json!({"email": "FLOW@example.com", "password": PASSWORD}),
            None
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        t.login("flow@example.com", "wrong password!").await.status,
        StatusCode::UNAUTHORIZED
    );
    let pair = t.login("flow@example.com", PASSWORD).await.json();
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(t.get("/me", Some(access)).await.status, StatusCode::OK);
    let rotated = t
        .post(
            "/auth/refresh",
            json!({"refresh_token": pair["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    let reused = t
        .post(
            "/auth/refresh",
            json!({"refresh_token": pair["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    let after_reuse = t
        .post(
            "/auth/refresh",
            json!({"refresh_token": rotated.json()["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(
        after_reuse.status,
        StatusCode::UNAUTHORIZED,
        "reuse revoked the family"
    );
    assert_eq!(
        t.get("/me", Some(access)).await.status,
        StatusCode::UNAUTHORIZED,
        "reuse ended the session's access tokens too"
    );
    let pair = t.login("flow@example.com", PASSWORD).await.json();
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(
        t.post("/auth/logout", json!({}), Some(access)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.get("/me", Some(access)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let other = t.login("flow@example.com", PASSWORD).await.json();
    assert_eq!(
        t.post(
            "/auth/logout-all",
            json!({}),
            other["access_token"].as_str()
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.get("/me", other["access_token"].as_str()).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_flow_on_sqlite() {
    let store = portcullis::store::sqlite::SqliteStore::in_memory()
        .await
        .unwrap();
    full_flow(&TestApp::over(store, Default::default()).await).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn the_flow_on_postgres() {
    common::in_fresh_schema("portcullis_flow", |store| async move {
        full_flow(&TestApp::over(store, Default::default()).await).await
    })
    .await;
}

#[tokio::test]
async fn a_rotation_by_another_instance_is_seen_by_the_first_request_with_its_key() {
    let store = MemoryStore::new();
    let b = Identity::open(store.clone(), IdentityConfig::default())
        .await
        .unwrap();
    let app = common::routes().layer(
        portcullis::AuthGateway::new()
            .strategy(b.bearer())
            .build()
            .unwrap(),
    );
    b.register("r@example.com", PASSWORD).await.unwrap();
    // Another instance over the same store rotates, then signs a token with its new key.
    let other = Identity::open(store.clone(), IdentityConfig::default())
        .await
        .unwrap();
    let new_kid = other.rotate_key().await.unwrap();
    assert!(b.key_ring().snapshot().get(&new_kid).is_none());
    let token = other
        .login("r@example.com", PASSWORD, None)
        .await
        .unwrap()
        .access_token;
    // No reload was called: the unknown kid makes b read the store once, and the token passes.
    assert_eq!(
        common::get_as(&app, "/me", Some(&token)).await.status,
        StatusCode::OK
    );
    assert!(b.key_ring().snapshot().get(&new_kid).is_some());
    // A made-up kid right after that read gets no verdict (503: the store is not read again
    // within its one-second cool-down); after the cool-down it is read and found unknown (401).
    let forged = common::forge(
        json!({"alg": "EdDSA", "kid": "eddsa-made-up", "typ": "at+jwt"}),
        json!({"sub": "x", "exp": common::now() + 60}),
        &common::encoding_key(jsonwebtoken::Algorithm::EdDSA),
        jsonwebtoken::Algorithm::EdDSA,
    );
    assert_eq!(
        common::get_as(&app, "/me", Some(&forged)).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        common::get_as(&app, "/me", Some(&forged)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn instances_sharing_a_store_agree_on_keys() {
    let store = MemoryStore::new();
    let hasher = || PasswordHasher::new(FAST, 1).unwrap();
    let a = Identity::open(store.clone(), IdentityConfig::default())
        .await
        .unwrap();
    let b = Identity::with_ring(
        store.clone(),
        IdentityConfig::default(),
        a.key_ring().clone(),
        hasher(),
    )
    .unwrap();
    a.register("i@example.com", PASSWORD).await.unwrap();
    // Another instance (its own ring, loaded from the same store) rotates the key.
    let other = Identity::open(store.clone(), IdentityConfig::default())
        .await
        .unwrap();
    let new_kid = other.rotate_key().await.unwrap();
    let token = other
        .login("i@example.com", PASSWORD, None)
        .await
        .unwrap()
        .access_token;
    let verify = |i: &Identity<MemoryStore>| {
        portcullis::token::TokenVerifier::new(i.key_ring().clone(), i.token_rules())
            .verify(&token)
            .is_ok()
    };
    assert!(!verify(&b), "b has not seen the new key yet");
    b.reload_keys().await.unwrap();
    assert!(
        verify(&b),
        "after a reload b verifies tokens signed with the other instance's new key"
    );
    let signing = b
        .key_ring()
        .snapshot()
        .signing_key()
        .map(|k| k.kid().to_owned());
    assert_eq!(
        signing.as_deref(),
        Some(new_kid.as_str()),
        "and signs with it"
    );
}

#[tokio::test]
async fn maintenance_purges_expired_denylist_entries() {
    use portcullis::store::RevocationStore;
    let t = TestApp::memory().await;
    t.register("mt@example.com", PASSWORD).await;
    let access = t.login("mt@example.com", PASSWORD).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        t.post("/auth/logout", json!({}), Some(&access))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let jti = portcullis::token::TokenVerifier::new(
        t.identity.key_ring().clone(),
        t.identity.token_rules(),
    )
    .verify(&access)
    .unwrap()
    .claims["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(t.store.is_token_revoked(&jti).await.unwrap());
    assert_eq!(
        t.identity.maintain().await.unwrap().revocations,
        0,
        "the token has not expired yet"
    );
    // Past `exp` but inside the largest leeway a verifier may grant: a purged entry would let
    // the logged-out token back in, so it stays.
    t.advance(Duration::from_secs(16 * 60));
    assert_eq!(t.identity.maintain().await.unwrap().revocations, 0);
    assert!(t.store.is_token_revoked(&jti).await.unwrap());
    t.advance(Duration::from_secs(5 * 60));
    assert_eq!(
        t.identity.maintain().await.unwrap().revocations,
        2,
        "the token id and its session id, once no verifier can accept the token"
    );
    assert!(
        !t.store.is_token_revoked(&jti).await.unwrap(),
        "kept only until no verifier can accept the token"
    );
}

#[tokio::test]
async fn its_tokens_may_not_outlive_the_access_ttl() {
    use portcullis::TokenRejection;
    use portcullis::token::{TokenClaims, TokenIssuer, TokenVerifier};
    // Whoever reaches the identity's signing key through another path than `login` cannot mint a
    // token that outlives the access tokens the identity itself issues.
    let identity = Identity::open(MemoryStore::new(), IdentityConfig::default())
        .await
        .unwrap();
    let config = identity.config();
    let minted = |ttl: Duration| {
        TokenIssuer::new(identity.key_ring().clone())
            .issuer(config.issuer.clone())
            .audience(config.audience.clone())
            .typ("at+jwt")
            .ttl(ttl)
            .issue(&TokenClaims::new("u-1"))
            .unwrap()
    };
    let verifier = TokenVerifier::new(identity.key_ring().clone(), identity.token_rules());
    assert!(verifier.verify(&minted(config.access_ttl)).is_ok());
    assert_eq!(
        verifier
            .verify(&minted(config.access_ttl + Duration::from_secs(1)))
            .map(|_| ()),
        Err(TokenRejection::LifetimeTooLong)
    );
}

#[tokio::test]
async fn a_password_made_of_the_email_is_refused_with_advice() {
    // Fine for anyone else (zxcvbn scores it 4), but not for the owner of this address.
    let t = TestApp::memory().await;
    let made_of_it = "grace.hopper1906";
    let reply = t
        .post(
            "/auth/register",
            json!({"email": "grace.hopper@example.com", "password": made_of_it}),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert_eq!(reply.json()["field"], "password");
    let detail = reply.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        detail.starts_with("the password is too easy to guess. ") && detail.len() > 40,
        "the refusal says what would help: {detail}"
    );
    assert!(
        !detail.contains(made_of_it),
        "and never echoes the password"
    );

    t.register("grace.hopper@example.com", PASSWORD).await;
    let access = t.login("grace.hopper@example.com", PASSWORD).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let change = t
        .post(
            "/auth/password",
            json!({"current_password": PASSWORD, "new_password": made_of_it}),
            Some(&access),
        )
        .await;
    assert_eq!(
        (change.status, change.json()["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("new_password")),
        "{}",
        change.text()
    );
    // The same password is fine for another account.
    t.register("someone.else@example.com", made_of_it).await;
}

/// An access token acts with the account's roles as they are now: a role taken away is gone at
/// the next request, one given is there at once, a deleted account's token is refused, all
/// without waiting for the token to expire.
#[tokio::test]
async fn access_tokens_act_with_the_accounts_live_roles() {
    let t = TestApp::memory().await;
    t.register("ada@example.com", PASSWORD).await;
    let login = t.login("ada@example.com", PASSWORD).await;
    let access = login.json()["access_token"].as_str().unwrap().to_owned();
    let id = t.get("/me", Some(&access)).await.json()["subject"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(t.get("/books", Some(&access)).await.status, StatusCode::OK);
    // Demoted: the token still says `viewer`, the account holds nothing.
    t.identity.set_roles(&id, &[]).await.unwrap();
    let demoted = t.get("/books", Some(&access)).await;
    assert_eq!(demoted.status, StatusCode::FORBIDDEN, "{}", demoted.text());
    assert_eq!(t.get("/me", Some(&access)).await.json()["roles"], json!([]));
    // Promoted: the same token now acts as an editor.
    t.identity
        .set_roles(&id, &["editor".into(), "viewer".into()])
        .await
        .unwrap();
    assert_eq!(t.get("/books", Some(&access)).await.status, StatusCode::OK);
    assert_eq!(
        t.get("/me", Some(&access)).await.json()["roles"],
        json!(["editor", "viewer"])
    );
    // Gone: refused, not served with stale roles.
    t.identity.delete_user(&id).await.unwrap();
    assert_eq!(
        t.get("/me", Some(&access)).await.status,
        StatusCode::UNAUTHORIZED
    );
}
