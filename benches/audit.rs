//! The audit trail's costs: sealing a record (Ed25519 and HMAC-SHA256), verifying a chain,
//! batched appends into SQLite (and PostgreSQL when `DATABASE_URL` is set and the `postgres`
//! feature is on), and one request through a router with the trail on against the same router
//! with it off, in the same run.
//!
//! ```text
//! cargo bench --bench audit
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench audit --features postgres
//! ```
//!
//! Records per second are printed beside criterion's times (`audit/… records_per_s=…`), each
//! from a timed run that is checked afterwards (every record stored, the chain verifies), so a
//! figure never counts work that did not happen.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode};
use portcullis::audit::{
    AuditRecord, AuditSink, AuditTrail, Head, Held, MemorySink, Outcome, SealedRecord, Sealer,
    SinkError, TrailConfig, verify,
};
use portcullis::rbac::{Role, RolePolicy};
use portcullis::strategy::{Outcome as Auth, strategy_fn};
use portcullis::token::{Algorithm, Key, KeyRing};
use portcullis::{AuthGateway, AuthMethod, MaybeReady, RequirePermission, UserContext, permission};
use tower::ServiceExt;

permission!(ReadCatalog = "read:Catalog");

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

fn record(n: u64) -> AuditRecord {
    AuditRecord {
        id: format!("{n:032x}"),
        time_ms: 1_700_000_000_000 + i64::try_from(n).unwrap_or(0),
        trace_id: format!("{:032x}", n + 1),
        subject: "ada".into(),
        tenant: Some("acme".into()),
        namespace: Some("eng/platform".into()),
        required: "permission write:Books".into(),
        held: Held::of(["editor", "viewer"]),
        outcome: Outcome::Allow,
        reason: "allow".into(),
        matched: Some("write:Books".into()),
        route: Some("/orgs/{org}/books/{id}".into()),
        method: Some("PUT".into()),
        client: Some("10.0.0.1".into()),
        auth_method: "bearer".into(),
    }
}

fn ring(alg: &str) -> KeyRing {
    let key = match alg {
        "ed25519" => Key::generate_ed25519("audit-1"),
        _ => Key::generate_hmac("audit-1", Algorithm::HS256),
    };
    KeyRing::single(key.unwrap_or_else(|e| panic!("key: {e}")))
}

fn chain(ring: &KeyRing, n: u64) -> Vec<SealedRecord> {
    let mut sealer =
        Sealer::new(ring.clone(), Head::genesis("bench")).unwrap_or_else(|e| panic!("{e}"));
    (1..=n)
        .map(|i| sealer.seal(record(i)).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn seal_and_verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("audit_chain");
    for alg in ["ed25519", "hmac"] {
        let ring = ring(alg);
        let mut sealer =
            Sealer::new(ring.clone(), Head::genesis("bench")).unwrap_or_else(|e| panic!("{e}"));
        group.bench_function(format!("seal/{alg}"), |b| {
            b.iter_batched(
                || record(7),
                |r| black_box(sealer.seal(r)),
                BatchSize::SmallInput,
            )
        });
        let records = chain(&ring, 1000);
        let keys = ring.snapshot();
        let genesis = Head::genesis("bench");
        assert_eq!(
            verify(&keys, &genesis, &records, None).map(|v| v.records),
            Ok(1000)
        );
        group.bench_function(format!("verify_1000/{alg}"), |b| {
            b.iter(|| black_box(verify(&keys, &genesis, &records, None)))
        });
        // Records per second, from a plain timed run beside criterion's figure.
        let start = Instant::now();
        let mut verified = 0;
        for _ in 0..10 {
            verified += verify(&keys, &genesis, &records, None)
                .map(|v| v.records)
                .unwrap_or(0);
        }
        let rate = verified as f64 / start.elapsed().as_secs_f64();
        println!("audit/verify/{alg} records_per_s={rate:.0}");
    }
    group.finish();
}

/// Appends `total` records in batches of `batch` to `sink` and gives records per second.
async fn append_rate<S: AuditSink>(sink: &S, records: &[SealedRecord], batch: usize) -> f64 {
    let start = Instant::now();
    for part in records.chunks(batch) {
        sink.append(part)
            .await
            .unwrap_or_else(|e| panic!("append: {e}"));
    }
    records.len() as f64 / start.elapsed().as_secs_f64()
}

fn appends(_: &mut Criterion) {
    let rt = runtime();
    let ring = ring("ed25519");
    let records = chain(&ring, 20_000);
    let batches = [1usize, 16, 256];
    // SQLite: a fresh file (WAL, synchronous=NORMAL: the store's own settings).
    for batch in batches {
        let path = std::env::temp_dir().join(format!(
            "portcullis-audit-bench-{}-{batch}.db",
            std::process::id()
        ));
        let store = rt
            .block_on(portcullis::store::sqlite::SqliteStore::open(&path))
            .unwrap_or_else(|e| panic!("sqlite: {e}"));
        let take = if batch == 1 { 2_000 } else { records.len() };
        let rate = rt.block_on(append_rate(&store, &records[..take], batch));
        let last = rt
            .block_on(store.last("bench"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(last.map(|r| r.seq), Some(take as u64));
        println!("audit/append/sqlite batch={batch} records_per_s={rate:.0}");
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    #[cfg(feature = "postgres")]
    if let Ok(url) = std::env::var("DATABASE_URL") {
        for batch in batches {
            let schema = format!("portcullis_audit_bench_{}_{batch}", std::process::id());
            let store = rt
                .block_on(
                    portcullis::store::postgres::PostgresStore::connect_in_schema(&url, &schema),
                )
                .unwrap_or_else(|e| panic!("postgres: {e}"));
            let take = if batch == 1 { 2_000 } else { records.len() };
            let rate = rt.block_on(append_rate(&store, &records[..take], batch));
            let last = rt
                .block_on(store.last("bench"))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(last.map(|r| r.seq), Some(take as u64));
            println!("audit/append/postgres batch={batch} records_per_s={rate:.0}");
            rt.block_on(
                sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(store.pool()),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

fn app(trail: Option<AuditTrail>) -> Router {
    let policy = RolePolicy::builder()
        .role(
            Role::new("viewer")
                .grant("read:Catalog")
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let strategy = strategy_fn("fixed", |_| {
        MaybeReady::ready(Auth::Authenticated(
            UserContext::new("ada", AuthMethod::Bearer).with_roles(["viewer"]),
        ))
    });
    let mut gateway = AuthGateway::new()
        .strategy(strategy)
        .roles(policy)
        .without_decision_log();
    if let Some(trail) = trail {
        gateway = gateway.observe(trail);
    }
    Router::new()
        .route(
            "/books/{id}",
            get(|_: RequirePermission<ReadCatalog>| async { "book" }),
        )
        .layer(gateway.build().unwrap_or_else(|e| panic!("{e}")))
}

fn request() -> Request<Body> {
    Request::get("/books/7")
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Counts what it is given and keeps only the last record (a bench's millions of records would
/// not fit in memory).
#[derive(Clone, Default)]
struct Counting {
    appended: Arc<AtomicU64>,
    last: Arc<Mutex<Option<SealedRecord>>>,
}

impl AuditSink for Counting {
    async fn append(&self, records: &[SealedRecord]) -> Result<(), SinkError> {
        self.appended
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = records.last().cloned();
        Ok(())
    }

    async fn last(&self, _: &str) -> Result<Option<SealedRecord>, SinkError> {
        Ok(self
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }
}

fn request_path(c: &mut Criterion) {
    let rt = runtime();
    let sink = Counting::default();
    // HMAC-SHA256: sealing costs about a microsecond, so the writer keeps up with the request
    // path; an Ed25519 trail seals at the rate `seal/ed25519` gives (see the issue's note).
    let trail = rt
        .block_on(AuditTrail::start(
            ring("hmac"),
            sink.clone(),
            MemorySink::new(),
            TrailConfig::new("bench").capacity(1 << 16),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let (off, on) = (app(None), app(Some(trail.clone())));
    for app in [&off, &on] {
        let status = rt
            .block_on(app.clone().oneshot(request()))
            .map(|r| r.status());
        assert_eq!(status.ok(), Some(StatusCode::OK));
    }
    let mut group = c.benchmark_group("audit_request");
    group.measurement_time(Duration::from_secs(5));
    for (name, app) in [("trail_off", &off), ("trail_on", &on)] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(rt.block_on(app.clone().oneshot(request()))))
        });
    }
    group.finish();
    rt.block_on(trail.flush());
    let stats = trail.stats();
    assert_eq!(stats.refused, 0, "the bench refused decisions: {stats:?}");
    assert_eq!(stats.written, sink.appended.load(Ordering::Relaxed));
    println!("audit/request records_written={}", stats.written);
}

criterion_group!(benches, seal_and_verify, appends, request_path);
criterion_main!(benches);
