//! The audit trail behind a real router: every decision becomes a sealed record (route
//! template, method, trace id from `traceparent`, subject, reason) that verifies as a chain; a
//! slow or failing sink never loses a record, a full queue refuses decisions (503) instead of
//! letting them through unrecorded or hanging; a restarted trail continues its chain, and one
//! whose records lost their tail refuses to start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{ReadCatalog, send};
use http::{Request, StatusCode};
use portcullis::audit::chain::Checkpoint;
use portcullis::audit::{
    AuditSink, AuditTrail, CheckpointSink, Head, JsonLinesSink, MemorySink, Outcome, SealedRecord,
    SinkError, StartError, TrailConfig, verify,
};
use portcullis::rbac::{Role, RolePolicy};
use portcullis::strategy::{Outcome as Auth, strategy_fn};
use portcullis::token::{Key, KeyRing};
use portcullis::{AuthGateway, AuthMethod, MaybeReady, RequirePermission, UserContext};
use tokio::sync::Semaphore;

/// Believes `x-user` and `x-roles`.
fn header_strategy() -> impl portcullis::strategy::Strategy {
    strategy_fn("headers", |parts| {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        MaybeReady::ready(match header("x-user") {
            None => Auth::NotMine,
            Some(user) => {
                let roles: Vec<&str> = header("x-roles")
                    .map(|r| r.split(',').filter(|r| !r.is_empty()).collect())
                    .unwrap_or_default();
                Auth::Authenticated(
                    UserContext::new(user, AuthMethod::Custom("headers")).with_roles(roles),
                )
            }
        })
    })
}

/// One role: `viewer`, who may read the catalog.
fn viewers() -> RolePolicy {
    RolePolicy::builder()
        .role(Role::new("viewer").grant("read:Catalog").unwrap())
        .build()
        .unwrap()
}

fn app(trail: AuditTrail) -> Router {
    let policy = viewers();
    let gateway = AuthGateway::new()
        .strategy(header_strategy())
        .roles(policy)
        .observe(trail)
        .build()
        .unwrap();
    Router::new()
        .route(
            "/books/{id}",
            get(|_: RequirePermission<ReadCatalog>| async { "book" }),
        )
        .layer(gateway)
}

fn get_as(path: &str, user: &str, roles: &str) -> Request<Body> {
    Request::get(path)
        .header("x-user", user)
        .header("x-roles", roles)
        .body(Body::empty())
        .unwrap()
}

fn ring() -> KeyRing {
    KeyRing::single(Key::generate_ed25519("audit-1").unwrap())
}

fn verified(ring: &KeyRing, records: &[SealedRecord], checkpoint: Option<&Checkpoint>) -> u64 {
    verify(&ring.snapshot(), &Head::genesis("a"), records, checkpoint)
        .unwrap()
        .records
}

#[tokio::test]
async fn every_decision_is_a_sealed_record_that_verifies() {
    let (ring, sink) = (ring(), MemorySink::new());
    let trail = AuditTrail::start(
        ring.clone(),
        sink.clone(),
        sink.clone(),
        TrailConfig::new("a"),
    )
    .await
    .unwrap();
    let app = app(trail.clone());
    let traced = Request::get("/books/7")
        .header("x-user", "ada")
        .header("x-roles", "viewer")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, traced).await.status, StatusCode::OK);
    assert_eq!(
        send(&app, get_as("/books/8", "bob", "")).await.status,
        StatusCode::FORBIDDEN
    );
    trail.flush().await;
    let records = sink.records();
    assert_eq!(records.len(), 2);
    let (allow, deny) = (&records[0].record, &records[1].record);
    assert_eq!(allow.subject, "ada");
    assert_eq!(allow.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(allow.route.as_deref(), Some("/books/{id}"));
    assert_eq!(allow.method.as_deref(), Some("GET"));
    assert_eq!(allow.outcome, Outcome::Allow);
    assert_eq!(allow.required, "permission read:Catalog");
    assert_eq!(allow.auth_method, "headers");
    assert_eq!(deny.outcome, Outcome::Deny);
    assert_eq!(deny.reason, "deny_no_roles");
    // A trace id is made for a request without one (32 hex digits, not all zeros).
    assert_eq!(deny.trace_id.len(), 32);
    assert_ne!(deny.trace_id, allow.trace_id);
    assert_eq!(verified(&ring, &records, None), 2);
}

/// A sink that fails its first `failures` appends.
#[derive(Clone)]
struct Flaky {
    inner: MemorySink,
    failures: Arc<AtomicUsize>,
}

impl AuditSink for Flaky {
    async fn append(&self, records: &[SealedRecord]) -> Result<(), SinkError> {
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(SinkError("down".into()));
        }
        self.inner.append(records).await
    }

    async fn last(&self, chain: &str) -> Result<Option<SealedRecord>, SinkError> {
        self.inner.last(chain).await
    }
}

#[tokio::test]
async fn a_failing_sink_loses_nothing() {
    let (ring, inner) = (ring(), MemorySink::new());
    let sink = Flaky {
        inner: inner.clone(),
        failures: Arc::new(AtomicUsize::new(3)),
    };
    let trail = AuditTrail::start(ring.clone(), sink, inner.clone(), TrailConfig::new("a"))
        .await
        .unwrap();
    let app = app(trail.clone());
    for n in 0..50 {
        let reply = send(&app, get_as(&format!("/books/{n}"), "ada", "viewer")).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    trail.flush().await;
    let stats = trail.stats();
    assert_eq!(stats.sink_failures, 3);
    assert_eq!(stats.written, 50);
    assert_eq!(stats.refused, 0);
    assert_eq!(verified(&ring, &inner.records(), None), 50);
}

/// A sink whose appends wait for a permit: a sink that is down and does not say so.
#[derive(Clone)]
struct Stalled {
    inner: MemorySink,
    gate: Arc<Semaphore>,
}

impl AuditSink for Stalled {
    async fn append(&self, records: &[SealedRecord]) -> Result<(), SinkError> {
        self.gate.acquire().await.unwrap().forget();
        self.inner.append(records).await
    }

    async fn last(&self, chain: &str) -> Result<Option<SealedRecord>, SinkError> {
        self.inner.last(chain).await
    }
}

/// A trail over a [`Stalled`] sink: its ring, what the sink holds, the sink's gate (closed),
/// and the trail.
async fn stalled_trail(config: TrailConfig) -> (KeyRing, MemorySink, Arc<Semaphore>, AuditTrail) {
    let (ring, inner) = (ring(), MemorySink::new());
    let gate = Arc::new(Semaphore::new(0));
    let sink = Stalled {
        inner: inner.clone(),
        gate: gate.clone(),
    };
    let trail = AuditTrail::start(ring.clone(), sink, inner.clone(), config)
        .await
        .unwrap();
    (ring, inner, gate, trail)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_decisions_and_never_hangs() {
    // No waiting for room: refused the moment the queue is full.
    let config = TrailConfig::new("a")
        .capacity(8)
        .batch(4)
        .wait(Duration::ZERO);
    let (ring, inner, gate, trail) = stalled_trail(config).await;
    let app = app(trail.clone());
    let mut statuses = Vec::new();
    for n in 0..40 {
        let request = get_as(&format!("/books/{n}"), "ada", "viewer");
        let reply = tokio::time::timeout(Duration::from_secs(5), send(&app, request))
            .await
            .expect("a request hung on a stalled audit sink");
        statuses.push(reply.status);
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert_eq!(ok + refused, 40, "{statuses:?}");
    // The writer holds one batch (at most 4) and the queue 8: the rest is refused.
    assert!(ok <= 12, "{ok} allowed with room for at most 12 records");
    assert!(refused >= 28);
    assert_eq!(trail.stats().refused, refused as u64);
    // A refusal is still refused when unrecorded: no 200 without a record.
    gate.add_permits(1000);
    trail.flush().await;
    let records = inner.records();
    assert_eq!(records.len(), ok, "every allowed request has its record");
    assert!(records.iter().all(|r| r.record.outcome == Outcome::Allow));
    assert_eq!(verified(&ring, &records, None), ok as u64);
    // Once the sink drains, requests flow again.
    let reply = send(&app, get_as("/books/x", "ada", "viewer")).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn a_restarted_trail_continues_its_chain() {
    let (ring, sink) = (ring(), MemorySink::new());
    for round in 0..3 {
        let config = TrailConfig::new("a").checkpoint(5, Duration::from_secs(3600));
        let trail = AuditTrail::start(ring.clone(), sink.clone(), sink.clone(), config)
            .await
            .unwrap();
        let app = app(trail.clone());
        for n in 0..7 {
            let path = format!("/books/{round}-{n}");
            send(&app, get_as(&path, "ada", "viewer")).await;
        }
        trail.flush().await;
    }
    let records = sink.records();
    assert_eq!(records.len(), 21);
    // Each run checkpoints every 5 of its records (and its head when it stops).
    let checkpoint = sink.newest("a").await.unwrap().unwrap();
    assert!(checkpoint.head.seq >= 19, "{:?}", checkpoint.head);
    assert_eq!(verified(&ring, &records, Some(&checkpoint)), 21);
}

#[tokio::test]
async fn a_trail_whose_tail_was_cut_refuses_to_start() {
    let (ring, sink) = (ring(), MemorySink::new());
    let config = TrailConfig::new("a").checkpoint(5, Duration::from_secs(3600));
    let trail = AuditTrail::start(ring.clone(), sink.clone(), sink.clone(), config)
        .await
        .unwrap();
    let app = app(trail.clone());
    for n in 0..10 {
        send(&app, get_as(&format!("/books/{n}"), "ada", "viewer")).await;
    }
    trail.flush().await;
    let mut records = sink.records();
    // At least one checkpoint (every 5 records) vouches for 5 or more.
    records.truncate(3);
    sink.replace(records);
    let refused = AuditTrail::start(ring, sink.clone(), sink, TrailConfig::new("a")).await;
    assert!(
        matches!(
            refused,
            Err(StartError::Truncated {
                held: 3,
                vouched: 5..,
                ..
            })
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn json_lines_keep_a_chain_that_verifies() {
    let dir = std::env::temp_dir().join(format!("portcullis-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (records_file, checkpoints_file) = (dir.join("trail.jsonl"), dir.join("heads.jsonl"));
    let _ = std::fs::remove_file(&records_file);
    let _ = std::fs::remove_file(&checkpoints_file);
    let ring = ring();
    let sink = JsonLinesSink::new(&records_file);
    let heads = JsonLinesSink::new(&checkpoints_file);
    let config = TrailConfig::new("a").checkpoint(4, Duration::from_secs(3600));
    let trail = AuditTrail::start(ring.clone(), sink.clone(), heads.clone(), config)
        .await
        .unwrap();
    let app = app(trail.clone());
    for n in 0..9 {
        send(&app, get_as(&format!("/books/{n}"), "ada", "viewer")).await;
    }
    trail.flush().await;
    let records: Vec<SealedRecord> = sink.read_all().unwrap();
    let checkpoint = heads.newest("a").await.unwrap().unwrap();
    assert_eq!(verified(&ring, &records, Some(&checkpoint)), 9);
    // Lines are JSON an auditor's tools read; no key material is in them.
    let text = std::fs::read_to_string(&records_file).unwrap();
    assert_eq!(text.lines().count(), 9);
    assert!(!text.contains("PRIVATE"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_tee_mirrors_to_the_log_and_continues_from_its_primary() {
    use portcullis::audit::{Tee, TracingSink};
    let (ring, primary) = (ring(), MemorySink::new());
    let sink = Tee::new(primary.clone(), TracingSink);
    let trail = AuditTrail::start(
        ring.clone(),
        sink.clone(),
        primary.clone(),
        TrailConfig::new("a"),
    )
    .await
    .unwrap();
    let app = app(trail.clone());
    for n in 0..5 {
        send(&app, get_as(&format!("/books/{n}"), "ada", "viewer")).await;
    }
    trail.flush().await;
    assert_eq!(
        sink.last("a").await.unwrap(),
        primary.records().last().cloned()
    );
    assert_eq!(verified(&ring, &primary.records(), None), 5);
}

/// Once a decision waits on `trail`, lets its stalled sink take one batch every 5 ms.
async fn pace_once_waiting(trail: AuditTrail, gate: Arc<Semaphore>) {
    while trail.stats().waited == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    loop {
        gate.add_permits(1);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Requests in flight at once, each answered with its status and how long it took.
async fn all_at_once(app: &Router, n: usize) -> Vec<(StatusCode, Duration)> {
    let requests = (0..n).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            let start = std::time::Instant::now();
            let request = get_as(&format!("/books/{i}"), "ada", "viewer");
            let reply = tokio::time::timeout(Duration::from_secs(10), send(&app, request))
                .await
                .expect("a request hung on a slow audit sink");
            (reply.status, start.elapsed())
        })
    });
    let mut answers = Vec::with_capacity(n);
    for request in requests.collect::<Vec<_>>() {
        answers.push(request.await.unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_falls_behind_slows_decisions_to_its_pace_and_refuses_none() {
    // Room for 8 queued and 4 in the writer's hands; 96 requests in flight at once, so many
    // find the queue full. Once some wait, the sink takes one batch every 5 ms.
    let config = TrailConfig::new("a")
        .capacity(8)
        .batch(4)
        .wait(Duration::from_secs(3));
    let (ring, inner, gate, trail) = stalled_trail(config).await;
    let app = app(trail.clone());
    let pace = tokio::spawn(pace_once_waiting(trail.clone(), gate.clone()));
    let answers = all_at_once(&app, 96).await;
    pace.abort();
    let refused: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s != StatusCode::OK)
        .collect();
    assert!(refused.is_empty(), "refused: {refused:?}");
    let stats = trail.stats();
    assert_eq!(stats.refused, 0);
    assert!(stats.waited > 0, "{stats:?}");
    // Every decision that took effect is in the chain, in order, and verifies.
    gate.add_permits(1000);
    trail.flush().await;
    assert_eq!(verified(&ring, &inner.records(), None), 96);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_stays_stuck_is_refused_within_the_bound_and_records_nothing_more() {
    let bound = Duration::from_millis(300);
    let config = TrailConfig::new("a").capacity(4).batch(2).wait(bound);
    let (ring, inner, gate, trail) = stalled_trail(config).await;
    let app = app(trail.clone());
    let answers = all_at_once(&app, 32).await;
    let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    // The queue's 4 and the writer's 2 are taken; nothing more can be until the sink answers.
    assert!(
        ok <= 6,
        "{ok} allowed with room for at most 6 records: {answers:?}"
    );
    for (status, took) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(*took >= bound, "refused after {took:?}, before the bound");
        assert!(
            *took < bound * 4,
            "refused after {took:?}, well past the bound"
        );
    }
    let stats = trail.stats();
    assert_eq!(stats.refused, (32 - ok) as u64);
    assert!(stats.waited >= stats.refused);
    // A refused request says when to come back.
    let reply = send(&app, get_as("/books/x", "ada", "viewer")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.headers.contains_key(http::header::RETRY_AFTER));
    // Once the sink answers, nothing refused was written: only what took effect.
    gate.add_permits(1000);
    trail.flush().await;
    assert_eq!(verified(&ring, &inner.records(), None), ok as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_cannot_wait_is_refused_at_once_by_a_full_queue() {
    let config = TrailConfig::new("a")
        .capacity(1)
        .batch(1)
        .wait(Duration::from_secs(30));
    let (_, _, _gate, trail) = stalled_trail(config).await;
    let gateway = AuthGateway::new()
        .strategy(header_strategy())
        .roles(viewers())
        .observe(trail.clone())
        .build()
        .unwrap();
    let read = portcullis::rbac::Permission::parse("read:Catalog").unwrap();
    let app = Router::new()
        .route(
            "/now",
            get(move |ctx: UserContext| async move {
                match ctx.require_permission(&read) {
                    Ok(()) => StatusCode::OK,
                    Err(portcullis::AuthError::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
                    Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
                }
            }),
        )
        .layer(gateway);
    let mut statuses = Vec::new();
    let start = std::time::Instant::now();
    for _ in 0..6 {
        statuses.push(send(&app, get_as("/now", "ada", "viewer")).await.status);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A synchronous check cannot wait, so it does not hold the request for the 30 s bound.
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(statuses[0], StatusCode::OK, "{statuses:?}");
    assert_eq!(statuses[5], StatusCode::SERVICE_UNAVAILABLE, "{statuses:?}");
    assert!(trail.stats().refused > 0);
    assert_eq!(trail.stats().waited, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_layer_that_waits_for_room_shows_each_decision_once_and_records_it_once() {
    let config = TrailConfig::new("a")
        .capacity(2)
        .batch(1)
        .wait(Duration::from_secs(3));
    let (ring, inner, gate, trail) = stalled_trail(config).await;
    let observed = Arc::new(AtomicUsize::new(0));
    let counted = observed.clone();
    let gateway = AuthGateway::new()
        .strategy(header_strategy())
        .roles(viewers())
        .observe(trail.clone())
        .observe(move |_: &portcullis::authz::DecisionEvent<'_>| {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let app = Router::new()
        .route("/books/{id}", get(|| async { "book" }))
        .route_layer(portcullis::require_permission("read:Catalog").unwrap())
        .layer(gateway);
    let pace = tokio::spawn(pace_once_waiting(trail.clone(), gate.clone()));
    let answers = all_at_once(&app, 24).await;
    pace.abort();
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::OK),
        "{answers:?}"
    );
    let stats = trail.stats();
    assert!(stats.waited > 0 && stats.waited <= 24, "{stats:?}");
    assert_eq!(stats.refused, 0);
    // One decision per request, shown once to each observer and recorded once.
    assert_eq!(observed.load(Ordering::SeqCst), 24);
    gate.add_permits(1000);
    trail.flush().await;
    assert_eq!(verified(&ring, &inner.records(), None), 24);
}

/// `n` documents owned by ada, registered with an entity engine over memory.
async fn documents_of_ada(
    n: usize,
) -> (
    portcullis::acl::Acl<portcullis::store::MemoryStore>,
    Vec<portcullis::store::ResourceKey>,
) {
    use portcullis::acl::{Acl, NewResource};
    use portcullis::store::{MemoryStore, ResourceKey};
    let acl = Acl::new(MemoryStore::new());
    let keys: Vec<ResourceKey> = (0..n)
        .map(|n| ResourceKey::new("docs", "document", &format!("d{n}")))
        .collect();
    for key in &keys {
        acl.register(NewResource::new(key.clone(), "acme", "ada"))
            .await
            .unwrap();
    }
    (acl, keys)
}

/// A gateway that believes the headers and records into `trail`.
fn recorded_by(trail: &AuditTrail) -> portcullis::AuthLayer {
    AuthGateway::new()
        .strategy(header_strategy())
        .observe(trail.clone())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_entity_checks_in_one_request_wait_one_bound_in_all() {
    use portcullis::store::Access;
    let bound = Duration::from_millis(300);
    let config = TrailConfig::new("a").capacity(1).batch(1).wait(bound);
    let (_, _, _gate, trail) = stalled_trail(config).await;
    let (acl, keys) = documents_of_ada(50).await;
    let gateway = recorded_by(&trail);
    let app = Router::new()
        .route(
            "/check",
            get(move |ctx: UserContext| async move {
                let checks: Vec<_> = keys.iter().map(|k| (k.clone(), Access::View)).collect();
                let decisions = acl.check(&ctx, &checks).await.unwrap();
                decisions
                    .iter()
                    .filter(|d| d.is_allowed())
                    .count()
                    .to_string()
            }),
        )
        .layer(gateway);
    let start = std::time::Instant::now();
    let reply = send(&app, get_as("/check", "ada", "")).await;
    let took = start.elapsed();
    // The owner may view all 50, but the queue takes two records at most: the rest are
    // refused, after one bound for the whole request rather than one per check.
    let allowed: usize = String::from_utf8(reply.body).unwrap().parse().unwrap();
    assert!(allowed <= 2, "{allowed} allowed with room for 2 records");
    assert!(took >= bound, "answered after {took:?}, before the bound");
    assert!(
        took < bound * 3,
        "answered after {took:?}: the checks waited one after another"
    );
    assert_eq!(trail.stats().refused, 50 - allowed as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_decision_is_refused_when_the_trail_cannot_take_it() {
    use portcullis::store::{Access, ResourceKey};
    // A trail whose sink never answers, with room for one record in the queue and one held by
    // the writer: once those are taken, an allowed decision cannot be recorded, so it is not
    // allowed.
    let config = TrailConfig::new("a").capacity(1).batch(1);
    let (_, _, _gate, trail) = stalled_trail(config).await;
    let (acl, _) = documents_of_ada(1).await;
    let gateway = recorded_by(&trail);
    let app = Router::new()
        .route(
            "/can",
            get(move |ctx: UserContext| async move {
                let key = ResourceKey::new("docs", "document", "d0");
                acl.can(&ctx, &key, Access::Edit)
                    .await
                    .unwrap()
                    .reason()
                    .code()
            }),
        )
        .layer(gateway);
    let mut reasons = Vec::new();
    for _ in 0..6 {
        let reply = send(&app, get_as("/can", "ada", "")).await;
        reasons.push(String::from_utf8(reply.body).unwrap());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Before the queue filled the owner was allowed (and recorded); after, refused.
    assert_eq!(reasons[0], "allow_owner", "{reasons:?}");
    assert_eq!(reasons[5], "error_unavailable", "{reasons:?}");
    assert!(trail.stats().refused > 0);
}

#[tokio::test]
async fn refused_credentials_are_recorded_without_what_was_presented() {
    use portcullis::{AuthError, TokenRejection};
    let (ring, sink) = (ring(), MemorySink::new());
    let trail = AuditTrail::start(
        ring.clone(),
        sink.clone(),
        sink.clone(),
        TrailConfig::new("a"),
    )
    .await
    .unwrap();
    let expired = strategy_fn("expiring", |parts| {
        MaybeReady::ready(if parts.headers.contains_key("x-expired") {
            Auth::Rejected(AuthError::InvalidToken(TokenRejection::Expired))
        } else {
            Auth::NotMine
        })
    });
    let gateway = AuthGateway::new()
        .strategy(expired)
        .audit_auth_failures(trail.clone())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/books/{id}", get(|| async { "book" }))
        .layer(gateway);
    let refused = Request::get("/books/1?access_token=s3cr3t-token")
        .header("x-expired", "1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, refused).await.status, StatusCode::UNAUTHORIZED);
    // No credentials at all: answered 401, not recorded.
    let anonymous = Request::get("/books/2").body(Body::empty()).unwrap();
    assert_eq!(send(&app, anonymous).await.status, StatusCode::UNAUTHORIZED);
    trail.flush().await;
    let records = sink.records();
    assert_eq!(records.len(), 1);
    let record = &records[0].record;
    assert_eq!(record.reason, "invalid_token:expired");
    assert_eq!(record.required, "authentication");
    assert_eq!(record.subject, "-");
    assert_eq!(record.route.as_deref(), Some("/books/1"));
    assert!(!serde_json::to_string(&records).unwrap().contains("s3cr3t"));
    assert_eq!(verified(&ring, &records, None), 1);
}
