//! Two instances of the built-in identity over one PostgreSQL schema, sharing their changes over
//! real Redis (issue #18): a logout or a revocation acknowledged on A is refused on B long
//! before B's cached answers expire (measured over 100 revocations), and when B loses Redis it
//! drops what it cached, so a change it could not hear is still enforced; it reconnects by
//! itself. The outage is a Redis server of the test's own, killed and started again.
#![cfg(all(feature = "redis", feature = "postgres"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use common::*;
use http::StatusCode;
use portcullis::AuthGateway;
use portcullis::cluster::redis::RedisChanges;
use portcullis::cluster::{Change, ChangeFeed};
use portcullis::identity::{Identity, IdentityConfig};
use portcullis::store::postgres::PostgresStore;

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";

/// The machine's Redis (`REDIS_URL`); without it the test says it skipped (CI sets it, and
/// there an unreachable server fails the test).
fn redis_url() -> Option<String> {
    let url = std::env::var("REDIS_URL").ok();
    if url.is_none() {
        eprintln!("skipped: REDIS_URL is not set");
    }
    url
}

/// A channel of this run's own, so runs sharing one Redis never hear each other.
fn channel() -> String {
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).unwrap();
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("portcullis-test:{}:{suffix}", std::process::id())
}

struct Instance {
    identity: Arc<Identity<PostgresStore>>,
    feed: ChangeFeed,
    app: Router,
    redis: Option<RedisChanges>,
}

async fn instance(store: &PostgresStore, redis_url: &str, channel: &str) -> Instance {
    let identity = fast_identity(store.clone(), IdentityConfig::default()).await;
    let feed = ChangeFeed::new();
    identity.share_changes(&feed);
    let redis = RedisChanges::start_on(redis_url, channel, &feed)
        .await
        .unwrap();
    let app = routes().layer(
        AuthGateway::new()
            .strategy(identity.bearer())
            .realm("test")
            .error_renderer(ReasonRenderer)
            .build()
            .unwrap(),
    );
    Instance {
        identity,
        feed,
        app,
        redis: Some(redis),
    }
}

/// Polls `app` until `token` is refused; how long it took.
async fn until_refused(app: &Router, token: &str) -> Duration {
    eventually("still served", || {
        refused(app, get_with("/maybe", Some(token)))
    })
    .await
}

/// Polls `done` every half millisecond until it holds, for at most two seconds (far below
/// every cache lifetime here); how long it took.
async fn eventually<F, Fut>(what: &str, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < Duration::from_secs(2), "{what}");
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    start.elapsed()
}

/// Whether `app` refuses `request` (401); any answer but 200 or 401 fails the test.
async fn refused(app: &Router, request: http::Request<axum::body::Body>) -> bool {
    let reply = send(app, request).await;
    assert!(
        matches!(reply.status, StatusCode::OK | StatusCode::UNAUTHORIZED),
        "{reply:?}"
    );
    reply.status == StatusCode::UNAUTHORIZED
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_instance_is_enforced_on_the_other_within_milliseconds() {
    let Some(redis_url) = redis_url() else {
        return;
    };
    in_fresh_schema("cluster", move |store| async move {
        let channel = channel();
        let a = instance(&store, &redis_url, &channel).await;
        let b = instance(&store, &redis_url, &channel).await;
        let user = a.identity.register(EMAIL, PASSWORD).await.unwrap();

        let mut took = Vec::new();
        for round in 0..100 {
            let token = a
                .identity
                .login(EMAIL, PASSWORD, None)
                .await
                .unwrap()
                .access_token;
            // B has answered for this token, so its caches hold "not revoked".
            for _ in 0..2 {
                let reply = get_as(&b.app, "/maybe", Some(&token)).await;
                assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.reason());
            }
            let start = Instant::now();
            if round % 2 == 0 {
                a.identity.logout_all(&user.id).await.unwrap();
            } else {
                let claims: serde_json::Value = serde_json::from_slice(
                    &base64::Engine::decode(
                        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                        token.split('.').nth(1).unwrap(),
                    )
                    .unwrap(),
                )
                .unwrap();
                a.identity
                    .revocation()
                    .revoke_token(
                        claims["jti"].as_str().unwrap(),
                        claims["exp"].as_i64().unwrap(),
                    )
                    .await
                    .unwrap();
            }
            // Far below B's 5 s cache lifetime: B heard of it.
            until_refused(&b.app, &token).await;
            took.push(start.elapsed());
            // A new login after a logout-all must work on B again.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        took.sort();
        eprintln!(
            "propagation over {} revocations: p50 {:?}, p99 {:?}, max {:?}",
            took.len(),
            percentile(&took, 0.50),
            percentile(&took, 0.99),
            took.last().unwrap()
        );
        assert!(b.feed.stats().delivered >= 100, "{:?}", b.feed.stats());
        assert_eq!(a.feed.stats().publish_failures, 0);
        drop((a.redis, b.redis));
    })
    .await;
}

/// A Redis server of the test's own, on a free port, without persistence.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.restart();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (.ci/run installs it)");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_loses_redis_drops_its_cache_and_comes_back_by_itself() {
    if redis_url().is_none() {
        return;
    }
    in_fresh_schema("cluster_fault", move |store| async move {
        let mut redis = OwnRedis::start();
        let channel = channel();
        let a = instance(&store, &redis.url(), &channel).await;
        let b = instance(&store, &redis.url(), &channel).await;
        let user = a.identity.register(EMAIL, PASSWORD).await.unwrap();
        let token = a
            .identity
            .login(EMAIL, PASSWORD, None)
            .await
            .unwrap()
            .access_token;
        assert_eq!(
            get_as(&b.app, "/maybe", Some(&token)).await.status,
            StatusCode::OK
        );
        let everything_before = b.feed.stats().everything;

        // Redis goes away: B notices, drops what it cached and keeps serving from the store.
        redis.kill();
        let start = Instant::now();
        while b.redis.as_ref().unwrap().is_subscribed() {
            assert!(start.elapsed() < Duration::from_secs(3), "B did not notice");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(b.feed.stats().everything > everything_before);
        assert_eq!(
            get_as(&b.app, "/maybe", Some(&token)).await.status,
            StatusCode::OK
        );

        // A change made while B cannot hear it: A's publish fails (counted, never the logout),
        // and B, which keeps dropping what it caches while it is away, enforces it from the
        // store well within its caches' 5 s lifetime.
        a.identity.logout_all(&user.id).await.unwrap();
        assert!(a.feed.stats().publish_failures >= 1);
        let took = until_refused(&b.app, &token).await;
        eprintln!("a logout made during the outage was enforced on B after {took:?}");

        // Redis is back: B resubscribes by itself, dropping its cache again, and hears changes.
        redis.restart();
        let start = Instant::now();
        while !b.redis.as_ref().unwrap().is_subscribed() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "B did not come back"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        eprintln!("B resubscribed {:?} after Redis came back", start.elapsed());
        let fresh = a
            .identity
            .login(EMAIL, PASSWORD, None)
            .await
            .unwrap()
            .access_token;
        assert_eq!(
            get_as(&b.app, "/maybe", Some(&fresh)).await.status,
            StatusCode::OK
        );
        // A's publisher reconnects too; give it a moment, then a revocation propagates again.
        let start = Instant::now();
        loop {
            let failures = a.feed.stats().publish_failures;
            a.identity.logout_all(&user.id).await.unwrap();
            if a.feed.stats().publish_failures == failures {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "A cannot publish again"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        until_refused(&b.app, &fresh).await;
        // A message nobody understands drops everything rather than being ignored.
        let before = b.feed.stats().everything;
        b.feed
            .deliver(&Change::decode(b"{\"change\":\"from_the_future\"}"));
        assert_eq!(b.feed.stats().everything, before + 1);
        drop((a.redis, b.redis));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_revoked_on_one_instance_is_refused_on_the_other_within_milliseconds() {
    use portcullis::api_key::{ApiKeyStrategy, ApiKeys, NewApiKey};
    let Some(redis_url) = redis_url() else {
        return;
    };
    in_fresh_schema("cluster_keys", move |store| async move {
        let channel = channel();
        let mut instances = Vec::new();
        for _ in 0..2 {
            let keys = ApiKeys::builder(store.clone()).build();
            let feed = ChangeFeed::new();
            keys.share_changes(&feed);
            let redis = RedisChanges::start_on(&redis_url, &channel, &feed)
                .await
                .unwrap();
            let app = routes().layer(
                AuthGateway::new()
                    .strategy(ApiKeyStrategy::new(keys.clone()))
                    .realm("test")
                    .error_renderer(ReasonRenderer)
                    .build()
                    .unwrap(),
            );
            instances.push((keys, app, redis));
        }
        let key_request = |key: &str| {
            http::Request::get("/maybe")
                .header("x-api-key", key)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let mut took = Vec::new();
        for round in 0..20 {
            let created = instances[0]
                .0
                .create(
                    "svc-indexer",
                    NewApiKey {
                        name: format!("round {round}"),
                        roles: vec![],
                        scopes: vec![],
                        tenant: None,
                        expires_in: None,
                    },
                )
                .await
                .unwrap();
            // B has answered for the key: its cache holds the key's record.
            for _ in 0..2 {
                let reply = send(&instances[1].1, key_request(&created.key)).await;
                assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.reason());
            }
            let start = Instant::now();
            instances[0].0.revoke(&created.view.id, None).await.unwrap();
            eventually("B still takes the key", || {
                refused(&instances[1].1, key_request(&created.key))
            })
            .await;
            took.push(start.elapsed());
        }
        took.sort();
        eprintln!(
            "API-key revocation on B after p50 {:?}, max {:?} (20 keys)",
            percentile(&took, 0.5),
            took.last().unwrap()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_and_memberships_changed_on_one_instance_are_seen_on_the_other_within_milliseconds()
{
    use portcullis::acl::{Acl, NewResource};
    use portcullis::store::{Access, ResourceKey, SubjectKind, Visibility};
    use portcullis::tenant::{NewAssignment, NewRole, Tenancy};
    use portcullis::{AuthMethod, UserContext};
    let Some(redis_url) = redis_url() else {
        return;
    };
    in_fresh_schema("cluster_acl", move |store| async move {
        let channel = channel();
        let mut instances = Vec::new();
        for _ in 0..2 {
            let tenancy = Tenancy::new(store.clone());
            // Cached for an hour: only a change heard of can make either instance see a write.
            let acl = Acl::new(store.clone())
                .over(tenancy.clone())
                .cached(1 << 20, Duration::from_secs(3600))
                .watching(&tenancy);
            let feed = ChangeFeed::new();
            tenancy.share_changes(&feed);
            acl.share_changes(&feed);
            let redis = RedisChanges::start_on(&redis_url, &channel, &feed)
                .await
                .unwrap();
            instances.push((tenancy, acl, redis));
        }
        let (a, b) = (&instances[0], &instances[1]);
        let member =
            a.0.create_role("acme", NewRole::new("", "member"))
                .await
                .unwrap();
        let mut given = Vec::new();
        for who in ["ada", "bob"] {
            given.push(
                a.0.assign(
                    "acme",
                    NewAssignment::new(&member.id, SubjectKind::User, who),
                )
                .await
                .unwrap(),
            );
        }
        let doc = ResourceKey::new("docs", "document", "d1");
        a.1.register(NewResource::new(doc.clone(), "acme", "ada").visibility(Visibility::Private))
            .await
            .unwrap();
        let (ada, bob) = (
            UserContext::new("ada", AuthMethod::Bearer),
            UserContext::new("bob", AuthMethod::Bearer),
        );
        let allowed = |acl: &Acl<PostgresStore>| {
            let (acl, bob, doc) = (acl.clone(), bob.clone(), doc.clone());
            async move {
                acl.can(&bob, &doc, Access::View)
                    .await
                    .unwrap()
                    .is_allowed()
            }
        };
        let until = |want: bool| {
            let acl = b.1.clone();
            async move { eventually("B never saw it", || async { allowed(&acl).await == want }).await }
        };
        // B decides (and caches for an hour) that bob may not see ada's private document.
        assert!(!allowed(&b.1).await);
        a.1.share(&ada, &doc, SubjectKind::User, "bob", Access::View)
            .await
            .unwrap();
        let shared = until(true).await;
        // Bob leaves the tenant on A: his share counts no more, on B too.
        a.0.unassign("acme", &given[1].id).await.unwrap();
        let left = until(false).await;
        eprintln!(
            "on B: a share made on A after {shared:?}, a membership ended on A after {left:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_session_logged_out_on_one_instance_ends_on_the_other_within_milliseconds() {
    use portcullis::session::{SessionConfig, Sessions};
    let Some(redis_url) = redis_url() else {
        return;
    };
    in_fresh_schema("cluster_sessions", move |store| async move {
        let channel = channel();
        let mut instances = Vec::new();
        for _ in 0..2 {
            let identity = fast_identity(store.clone(), IdentityConfig::default()).await;
            let sessions = Sessions::new(
                identity.clone(),
                SessionConfig {
                    secure: false,
                    ..SessionConfig::default()
                },
            );
            let feed = ChangeFeed::new();
            identity.share_changes(&feed);
            sessions.share_changes(&feed);
            let redis = RedisChanges::start_on(&redis_url, &channel, &feed)
                .await
                .unwrap();
            let app = routes().layer(
                AuthGateway::new()
                    .strategy(sessions.strategy())
                    .realm("test")
                    .error_renderer(ReasonRenderer)
                    .build()
                    .unwrap(),
            );
            instances.push((identity, sessions, app, redis));
        }
        instances[0].0.register(EMAIL, PASSWORD).await.unwrap();
        let with_cookie = |cookie: &str| {
            http::Request::get("/maybe")
                .header("cookie", cookie)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let set = instances[0].1.login(EMAIL, PASSWORD, None).await.unwrap();
        let cookie = set.to_str().unwrap().split(';').next().unwrap().to_owned();
        // B has answered for the session twice: its cache holds it.
        for _ in 0..2 {
            let reply = send(&instances[1].2, with_cookie(&cookie)).await;
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.reason());
        }
        let (parts, _) = with_cookie(&cookie).into_parts();
        let start = Instant::now();
        instances[0].1.logout(&parts).await.unwrap();
        eventually("B kept the session", || {
            refused(&instances[1].2, with_cookie(&cookie))
        })
        .await;
        eprintln!(
            "a browser logout on A ended the session on B after {:?}",
            start.elapsed()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_time_value_is_taken_once_across_instances_and_refused_when_redis_is_down() {
    use portcullis::cluster::FirstUse;
    use portcullis::cluster::redis::RedisFirstUse;
    let Some(redis_url) = redis_url() else {
        return;
    };
    let prefix = format!("{}:", channel());
    let a = RedisFirstUse::connect(&redis_url)
        .await
        .unwrap()
        .with_prefix(&prefix);
    let b = RedisFirstUse::connect(&redis_url)
        .await
        .unwrap()
        .with_prefix(&prefix);
    let ttl = Duration::from_millis(300);
    assert!(a.first_use("state-1", ttl).await.unwrap());
    assert!(!b.first_use("state-1", ttl).await.unwrap());
    assert!(!a.first_use("state-1", ttl).await.unwrap());
    assert!(b.first_use("state-2", ttl).await.unwrap());
    // 32 callbacks with one state in flight at once, on two instances: exactly one is first.
    let racers: Vec<_> = (0..32)
        .map(|i| {
            let user = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { user.first_use("state-3", ttl).await.unwrap() })
        })
        .collect();
    let mut firsts = 0;
    for racer in racers {
        firsts += usize::from(racer.await.unwrap());
    }
    assert_eq!(firsts, 1);
    // Remembered as long as asked, not forever.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(a.first_use("state-1", ttl).await.unwrap());

    // Redis gone: no answer is made up, the use is refused (the caller fails closed).
    let mut own = OwnRedis::start();
    let lonely = RedisFirstUse::connect(&own.url()).await.unwrap();
    assert!(lonely.first_use("state-4", ttl).await.unwrap());
    own.kill();
    assert!(lonely.first_use("state-5", ttl).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_are_counted_across_instances_even_when_they_arrive_at_once() {
    use portcullis::identity::IdentityError;
    if redis_url().is_none() {
        return;
    }
    // Throttling counts in the shared store: no Redis needed for it, but the same two-instance
    // setup as the rest of this file.
    in_fresh_schema("cluster_throttle", move |store| async move {
        let a = fast_identity(store.clone(), IdentityConfig::default()).await;
        let b = fast_identity(store.clone(), IdentityConfig::default()).await;
        a.register(EMAIL, PASSWORD).await.unwrap();
        // A storm of 40 wrong passwords in flight at once, split across both instances.
        let storm: Vec<_> = (0..40)
            .map(|i| {
                let identity = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move { identity.login(EMAIL, "wrong password!", None).await })
            })
            .collect();
        let (mut wrong, mut throttled) = (0, 0);
        for attempt in storm {
            match attempt.await.unwrap() {
                Err(IdentityError::Throttled(_)) => throttled += 1,
                Err(_) => wrong += 1,
                Ok(_) => panic!("a wrong password logged in"),
            }
        }
        // Only the account's limit (5) reached a password check, whichever instance took them.
        assert_eq!(wrong, 5, "{wrong} checked, {throttled} throttled");
        assert_eq!(throttled, 35);
        // Locked on both: even the right password waits.
        for identity in [&a, &b] {
            assert!(matches!(
                identity.login(EMAIL, PASSWORD, None).await,
                Err(IdentityError::Throttled(_))
            ));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_on_one_instance_moves_the_others_signing_key_within_milliseconds() {
    let Some(redis_url) = redis_url() else {
        return;
    };
    in_fresh_schema("cluster_keys_rotation", move |store| async move {
        let channel = channel();
        let a = instance(&store, &redis_url, &channel).await;
        let b = instance(&store, &redis_url, &channel).await;
        let signer = |i: &Instance| {
            i.identity
                .key_ring()
                .snapshot()
                .signing_key()
                .map(|k| k.kid().to_owned())
        };
        assert_eq!(signer(&a), signer(&b));
        let start = Instant::now();
        let new = a.identity.rotate_key().await.unwrap();
        let took = eventually("B still signs with the retired key", || {
            let now = signer(&b);
            let new = new.clone();
            async move { now.as_deref() == Some(new.as_str()) }
        })
        .await;
        eprintln!(
            "B signs with A's new key {:?} after the rotation began ({took:?} polling)",
            start.elapsed()
        );
        // What B signs now, A takes.
        let user = a.identity.register(EMAIL, PASSWORD).await.unwrap();
        let token = b
            .identity
            .login(EMAIL, PASSWORD, None)
            .await
            .unwrap()
            .access_token;
        let reply = get_as(&a.app, "/maybe", Some(&token)).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.reason());
        assert_eq!(reply.text(), user.id);
        drop((a.redis, b.redis));
    })
    .await;
}
