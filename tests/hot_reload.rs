//! The role file swapped while requests are served (issue #18, item 5): a changed file is
//! enforced at once, also for contexts a credential cache hands out again; a bad file is refused
//! whole and the old roles keep serving, with a log line; swaps under many requests in flight
//! never fail one; the key ring swaps the same way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use common::*;
use http::StatusCode;
use portcullis::AuthGateway;
use portcullis::rbac::{LiveRoles, MAX_ROLE_FILE_BYTES, Role, RolePolicy};
use portcullis::strategy::BearerStrategy;
use portcullis::token::{Key, KeyFile, KeyRing};

const READERS: &str = "[roles.clerk]\npermissions = [\"read:Catalog\"]\n";
const NOTHING: &str = "[roles.clerk]\npermissions = [\"read:Orders\"]\n";

/// A role file of its own for each test, removed at the end.
struct RoleFile(PathBuf);

impl RoleFile {
    fn new(name: &str, text: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "portcullis-roles-{}-{name}.toml",
            std::process::id()
        ));
        let file = Self(path);
        file.write(text);
        file
    }

    /// Replaces the file as editors and deploy tools do: a new file renamed over the old.
    fn write(&self, text: &str) {
        let next = self.0.with_extension("next");
        std::fs::write(&next, text).unwrap();
        std::fs::rename(&next, &self.0).unwrap();
    }
}

impl Drop for RoleFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn app_over(live: &LiveRoles, ring: KeyRing) -> Router {
    routes().layer(
        AuthGateway::new()
            .strategy(BearerStrategy::new(ring, rules()))
            .enricher(live.clone())
            .realm("test")
            .error_renderer(ReasonRenderer)
            .build()
            .unwrap(),
    )
}

/// Polls `app` until `/books` answers `want`, for at most two seconds.
async fn until(app: &Router, token: &str, want: StatusCode) -> Duration {
    let start = Instant::now();
    loop {
        let status = get_as(app, "/books", Some(token)).await.status;
        if status == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "still {status}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_changed_role_file_is_enforced_at_once_even_for_cached_contexts() {
    let file = RoleFile::new("watched", READERS);
    let live = LiveRoles::from_file(&file.0).unwrap();
    let watcher = live.watch(Duration::from_millis(20)).unwrap();
    let app = app_over(&live, ring());
    let clerk = token("ed", &["clerk"]);
    // The second request is answered from the bearer cache's remembered context.
    for _ in 0..2 {
        assert_eq!(
            get_as(&app, "/books", Some(&clerk)).await.status,
            StatusCode::OK
        );
    }
    file.write(NOTHING);
    let took = until(&app, &clerk, StatusCode::FORBIDDEN).await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(
        get_as(&app, "/books", Some(&clerk)).await.reason(),
        Some("Forbidden")
    );
    file.write(READERS);
    until(&app, &clerk, StatusCode::OK).await;
    watcher.abort();
}

#[tokio::test]
async fn a_bad_role_file_is_refused_whole_and_the_old_roles_keep_serving() {
    let logs = Captured::global();
    let file = RoleFile::new("bad", READERS);
    let live = LiveRoles::from_file(&file.0).unwrap();
    let watcher = live.watch(Duration::from_millis(10)).unwrap();
    let app = app_over(&live, ring());
    let clerk = token("ed", &["clerk"]);
    assert_eq!(
        get_as(&app, "/books", Some(&clerk)).await.status,
        StatusCode::OK
    );

    // A misspelt key, a grant outside the grammar, an oversized file: each refused as a whole.
    let oversized = format!("{READERS}#{}\n", "x".repeat(MAX_ROLE_FILE_BYTES));
    for bad in [
        "[roles.clerk]\npermision = [\"read:Orders\"]\n".to_owned(),
        "[roles.clerk]\npermissions = [\"read:Orders\", \"not a grant\"]\n".to_owned(),
        oversized,
    ] {
        file.write(&bad);
        assert!(live.reload().is_err());
        // The watcher sees the change too and refuses it; the old roles serve throughout.
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(
            get_as(&app, "/books", Some(&clerk)).await.status,
            StatusCode::OK
        );
    }
    assert!(
        logs.text()
            .contains("role file refused; the roles loaded before keep serving"),
        "no log line for the refused file"
    );
    // A good file after the bad ones is taken.
    file.write(NOTHING);
    until(&app, &clerk, StatusCode::FORBIDDEN).await;
    watcher.abort();
}

#[tokio::test]
async fn reload_on_call_says_whether_anything_changed() {
    let file = RoleFile::new("call", READERS);
    let live = LiveRoles::from_file(&file.0).unwrap();
    let first = live.current();
    // The same content written again: nothing rebuilt, the same policy serves.
    file.write(READERS);
    assert!(!live.reload().unwrap());
    assert!(Arc::ptr_eq(&first, &live.current()));
    file.write(NOTHING);
    assert!(live.reload().unwrap());
    assert!(!Arc::ptr_eq(&first, &live.current()));
    // Gone: refused, still serving.
    std::fs::remove_file(&file.0).unwrap();
    assert!(live.reload().is_err());
    assert!(live.current().role("clerk").is_some());
    // A policy made in code has no file to reload, and no watcher.
    let coded = LiveRoles::new(RolePolicy::default());
    assert!(coded.reload().is_err());
    assert!(coded.watch(Duration::from_millis(10)).is_none());
    // A file that does not parse is refused at start.
    let bad = RoleFile::new("start", "[roles.clerk]\npermissions = 7\n");
    assert!(LiveRoles::from_file(&bad.0).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaps_under_many_requests_in_flight_never_fail_one() {
    let readers = RolePolicy::builder()
        .role(Role::new("clerk").grant("read:Catalog").unwrap())
        .build()
        .unwrap();
    let nothing = RolePolicy::builder()
        .role(Role::new("clerk").grant("read:Orders").unwrap())
        .build()
        .unwrap();
    let live = LiveRoles::new(readers.clone());
    let app = app_over(&live, ring());
    let clerk = token("ed", &["clerk"]);
    let stop = Arc::new(AtomicBool::new(false));
    // Swaps on a thread of its own, so they land while requests are in flight on the runtime.
    let swapper = {
        let (live, stop) = (live.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u32;
            while !stop.load(Ordering::Relaxed) {
                live.replace(if swaps.is_multiple_of(2) {
                    nothing.clone()
                } else {
                    readers.clone()
                });
                swaps += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            live.replace(nothing);
            swaps
        })
    };
    let requests: Vec<_> = (0..64)
        .map(|_| {
            let (app, clerk) = (app.clone(), clerk.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for _ in 0..50 {
                    statuses.push(get_as(&app, "/books", Some(&clerk)).await.status);
                }
                statuses
            })
        })
        .collect();
    let mut seen = (0, 0);
    for request in requests {
        for status in request.await.unwrap() {
            match status {
                StatusCode::OK => seen.0 += 1,
                StatusCode::FORBIDDEN => seen.1 += 1,
                other => panic!("a swap failed a request: {other}"),
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 10, "the policies barely swapped ({swaps})");
    assert!(seen.0 > 0 && seen.1 > 0, "both policies served: {seen:?}");
    // The last policy stored is the one every request sees from now on.
    for _ in 0..10 {
        assert_eq!(
            get_as(&app, "/books", Some(&clerk)).await.status,
            StatusCode::FORBIDDEN
        );
    }
}

#[tokio::test]
async fn the_key_ring_swaps_at_once_and_a_bad_key_changes_nothing() {
    let live = LiveRoles::new(
        RolePolicy::builder()
            .role(Role::new("clerk").grant("read:Catalog").unwrap())
            .build()
            .unwrap(),
    );
    let ring = ring();
    let app = app_over(&live, ring.clone());
    let clerk = token("ed", &["clerk"]);
    assert_eq!(
        get_as(&app, "/books", Some(&clerk)).await.status,
        StatusCode::OK
    );
    // A replacement naming a signing key it does not hold is refused; the ring is unchanged.
    let fresh = Key::generate_ed25519("next").unwrap();
    assert!(ring.replace([fresh.clone()], Some("missing")).is_err());
    assert_eq!(
        get_as(&app, "/books", Some(&clerk)).await.status,
        StatusCode::OK
    );
    // The swap: the old key's tokens stop at once, cached or not; the new key's are taken.
    ring.replace([fresh.clone()], Some("next")).unwrap();
    let reply = get_as(&app, "/books", Some(&clerk)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.reason(), Some("unknown_key"));
    let signer = portcullis::token::TokenIssuer::new(KeyRing::single(fresh))
        .issuer(ISSUER)
        .audience(AUDIENCE);
    let next = signer
        .issue(&portcullis::token::TokenClaims::new("alice").roles(["clerk"]))
        .unwrap();
    assert_eq!(
        get_as(&app, "/books", Some(&next)).await.status,
        StatusCode::OK
    );
}

/// A JWK set file of its own for each test, removed at the end.
struct JwkFile(PathBuf);

impl JwkFile {
    fn new(name: &str, keys: &[&Key]) -> Self {
        let path = std::env::temp_dir().join(format!(
            "portcullis-keys-{}-{name}.json",
            std::process::id()
        ));
        let file = Self(path);
        file.publish(keys);
        file
    }

    fn publish(&self, keys: &[&Key]) {
        let keys: Vec<_> = keys.iter().map(|k| k.jwk().unwrap()).collect();
        self.write(&serde_json::json!({ "keys": keys }).to_string());
    }

    fn write(&self, text: &str) {
        let next = self.0.with_extension("next");
        std::fs::write(&next, text).unwrap();
        std::fs::rename(&next, &self.0).unwrap();
    }
}

impl Drop for JwkFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn signed_by(key: &Key, roles: &[&str]) -> String {
    portcullis::token::TokenIssuer::new(KeyRing::single(key.clone()))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .issue(&portcullis::token::TokenClaims::new("alice").roles(roles.iter().copied()))
        .unwrap()
}

#[tokio::test]
async fn a_key_file_rotates_while_serving_and_a_bad_one_changes_nothing() {
    let logs = Captured::global();
    let (old, new) = (
        Key::generate_ed25519("2026-11").unwrap(),
        Key::generate_ecdsa("2026-12", portcullis::token::Algorithm::ES256).unwrap(),
    );
    let file = JwkFile::new("rotate", &[&old]);
    let keys = KeyFile::open(&file.0).unwrap();
    assert!(
        keys.ring().snapshot().signing_key().is_none(),
        "a key file never signs"
    );
    let watcher = keys.watch(Duration::from_millis(20));
    let live = LiveRoles::new(
        RolePolicy::builder()
            .role(Role::new("clerk").grant("read:Catalog").unwrap())
            .build()
            .unwrap(),
    );
    let app = app_over(&live, keys.ring());
    let (old_token, new_token) = (signed_by(&old, &["clerk"]), signed_by(&new, &["clerk"]));
    assert_eq!(
        get_as(&app, "/books", Some(&old_token)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get_as(&app, "/books", Some(&new_token)).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Rotation: both published, then the old one withdrawn.
    file.publish(&[&old, &new]);
    until(&app, &new_token, StatusCode::OK).await;
    assert_eq!(
        get_as(&app, "/books", Some(&old_token)).await.status,
        StatusCode::OK
    );
    file.publish(&[&new]);
    until(&app, &old_token, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        get_as(&app, "/books", Some(&old_token)).await.reason(),
        Some("unknown_key")
    );

    // Bad files, each refused whole: the new key keeps verifying.
    let secret = serde_json::json!({"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]});
    for bad in [
        "not json".to_owned(),
        r#"{"keys": []}"#.to_owned(),
        secret.to_string(),
        format!(r#"{{"keys": [], "pad": "{}"}}"#, "x".repeat(70_000)),
    ] {
        file.write(&bad);
        assert!(keys.reload().is_err());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            get_as(&app, "/books", Some(&new_token)).await.status,
            StatusCode::OK
        );
    }
    assert!(
        logs.text()
            .contains("key file refused; the keys loaded before keep verifying")
    );
    assert_eq!(keys.ring().snapshot().kids(), ["2026-12"]);
    watcher.abort();
}
