//! The trail in SQLite and PostgreSQL: the tables refuse UPDATE and DELETE; someone who gets past
//! that (drops or disables the triggers) and edits, drops, inserts, reorders or cuts records is
//! caught by `verify_stored` at the right record; the auditor's queries select and page.
#![cfg(all(feature = "sqlite", feature = "postgres"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use portcullis::audit::chain::Break;
use portcullis::audit::{
    AuditLog, AuditQuery, AuditRecord, AuditSink, AuditTrail, Broken, CheckpointSink, Held,
    MemorySink, Outcome, TrailConfig, export_verified, verify_stored,
};
use portcullis::store::postgres::PostgresStore;
use portcullis::store::sqlite::SqliteStore;
use portcullis::token::{Key, KeyRing};

/// Raw SQL on a store's own pool: the attacker's access.
trait Raw {
    async fn exec(&self, sql: &str) -> Result<u64, String>;
}

impl Raw for SqliteStore {
    async fn exec(&self, sql: &str) -> Result<u64, String> {
        sqlx::query(sql)
            .execute(self.pool())
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| e.to_string())
    }
}

impl Raw for PostgresStore {
    async fn exec(&self, sql: &str) -> Result<u64, String> {
        sqlx::query(sql)
            .execute(self.pool())
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| e.to_string())
    }
}

fn record(n: u64) -> AuditRecord {
    AuditRecord {
        id: format!("{n:032x}"),
        time_ms: 1_700_000_000_000 + i64::try_from(n).unwrap() * 1000,
        trace_id: format!("{:032x}", 0xabc000 + n / 4),
        subject: ["ada", "bob", "carl"][(n % 3) as usize].into(),
        tenant: Some(
            if n.is_multiple_of(2) {
                "acme"
            } else {
                "globex"
            }
            .into(),
        ),
        namespace: None,
        required: "permission read:Catalog".into(),
        held: Held::of(["viewer"]),
        outcome: if n.is_multiple_of(5) {
            Outcome::Deny
        } else {
            Outcome::Allow
        },
        reason: if n.is_multiple_of(5) {
            "deny_no_permission".into()
        } else {
            "allow".into()
        },
        matched: None,
        route: Some("/books/{id}".into()),
        method: Some("GET".into()),
        client: Some("10.0.0.1".into()),
        auth_method: "bearer".into(),
    }
}

/// Writes 20 records to `chain` through a trail whose checkpoints go to `heads`.
async fn fill<S: AuditSink + Clone>(store: &S, heads: &MemorySink, ring: &KeyRing, chain: &str) {
    let config = TrailConfig::new(chain).checkpoint(1, Duration::from_secs(3600));
    let trail = AuditTrail::start(ring.clone(), store.clone(), heads.clone(), config)
        .await
        .unwrap();
    for n in 1..=20 {
        assert!(trail.record(record(n)));
    }
    trail.flush().await;
    assert_eq!(trail.stats().written, 20);
}

async fn broken<S: AuditLog>(
    store: &S,
    heads: &MemorySink,
    ring: &KeyRing,
    chain: &str,
) -> Result<u64, Broken> {
    let checkpoint = heads.newest(chain).await.unwrap().unwrap();
    assert_eq!(checkpoint.head.seq, 20);
    verify_stored(store, &ring.snapshot(), chain, Some(&checkpoint))
        .await
        .unwrap()
        .map(|v| v.records)
}

async fn scenario<S>(store: S, unguard: &[&str])
where
    S: AuditSink + CheckpointSink + AuditLog + Raw + Clone,
{
    let ring = KeyRing::single(Key::generate_ed25519("audit-1").unwrap());
    let heads = MemorySink::new();
    let chains = ["intact", "edit", "drop", "insert", "reorder", "cut"];
    for chain in chains {
        fill(&store, &heads, &ring, chain).await;
    }

    // The database itself refuses to change the trail, or a checkpoint kept beside it.
    let newest = heads.newest("intact").await.unwrap().unwrap();
    CheckpointSink::put(&store, &newest).await.unwrap();
    assert_eq!(
        CheckpointSink::newest(&store, "intact").await.unwrap(),
        Some(newest)
    );
    for refused in [
        "UPDATE portcullis_audit SET subject = 'mallory' WHERE chain = 'edit' AND seq = 7",
        "DELETE FROM portcullis_audit WHERE chain = 'drop' AND seq = 12",
        "UPDATE portcullis_audit_checkpoints SET seq = 1",
        "DELETE FROM portcullis_audit_checkpoints",
    ] {
        let error = store.exec(refused).await.unwrap_err();
        assert!(error.contains("append-only"), "{refused}: {error}");
    }
    for chain in chains {
        assert_eq!(
            broken(&store, &heads, &ring, chain).await,
            Ok(20),
            "{chain}"
        );
    }

    // Someone with the database's keys gets past the triggers.
    for statement in unguard {
        store.exec(statement).await.unwrap();
    }
    let tamper = [
        "UPDATE portcullis_audit SET outcome = 'allow' WHERE chain = 'edit' AND seq = 5",
        "DELETE FROM portcullis_audit WHERE chain = 'drop' AND seq = 12",
        // A genuine record (number 3) copied in at 10, the rest moved up to make room.
        "UPDATE portcullis_audit SET seq = seq + 1000 WHERE chain = 'insert' AND seq >= 10",
        "UPDATE portcullis_audit SET seq = seq - 999 WHERE chain = 'insert' AND seq >= 1000",
        "INSERT INTO portcullis_audit SELECT chain, 10, prev, kid, signature, id, time_ms, \
         trace_id, subject, tenant, namespace, required, held, outcome, reason, matched, route, \
         method, client, auth_method FROM portcullis_audit WHERE chain = 'insert' AND seq = 3",
        // Records 5 and 6 trade places.
        "UPDATE portcullis_audit SET seq = -5 WHERE chain = 'reorder' AND seq = 5",
        "UPDATE portcullis_audit SET seq = 5 WHERE chain = 'reorder' AND seq = 6",
        "UPDATE portcullis_audit SET seq = 6 WHERE chain = 'reorder' AND seq = -5",
        "DELETE FROM portcullis_audit WHERE chain = 'cut' AND seq > 15",
    ];
    for statement in tamper {
        store.exec(statement).await.unwrap();
    }
    let at = |seq, kind| Err(Broken { seq, kind });
    assert_eq!(broken(&store, &heads, &ring, "intact").await, Ok(20));
    assert_eq!(
        broken(&store, &heads, &ring, "edit").await,
        at(5, Break::BadSignature)
    );
    assert_eq!(
        broken(&store, &heads, &ring, "drop").await,
        at(13, Break::Missing { expected: 12 })
    );
    assert_eq!(
        broken(&store, &heads, &ring, "insert").await,
        at(10, Break::BadSignature)
    );
    assert_eq!(
        broken(&store, &heads, &ring, "reorder").await,
        at(5, Break::BadSignature)
    );
    assert_eq!(
        broken(&store, &heads, &ring, "cut").await,
        at(16, Break::Truncated { checkpoint: 20 })
    );

    // An export is of a verified range only: the intact chain's 5..=9, and nothing of a broken
    // one (its break is before the range, or in it).
    let keys = ring.snapshot();
    let newest = |chain: &'static str| {
        let heads = heads.clone();
        async move { heads.newest(chain).await.unwrap().unwrap() }
    };
    let mut lines = Vec::new();
    let exported = export_verified(
        &store,
        &keys,
        "intact",
        Some(&newest("intact").await),
        5,
        9,
        &mut lines,
    )
    .await
    .unwrap();
    assert_eq!(exported, Ok(5));
    let text = String::from_utf8(lines).unwrap();
    let seqs: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<portcullis::audit::SealedRecord>(l)
                .unwrap()
                .seq
        })
        .collect();
    assert_eq!(seqs, [5, 6, 7, 8, 9]);
    let mut nothing = Vec::new();
    let refused = export_verified(&store, &keys, "edit", None, 10, 12, &mut nothing)
        .await
        .unwrap();
    assert_eq!(
        refused,
        Err(Broken {
            seq: 5,
            kind: Break::BadSignature
        })
    );
    assert!(nothing.is_empty());
    assert_eq!(
        export_verified(&store, &keys, "cut", None, 10, 20, &mut nothing)
            .await
            .unwrap(),
        Err(Broken {
            seq: 16,
            kind: Break::Truncated { checkpoint: 20 }
        })
    );
    assert!(nothing.is_empty());

    // The auditor's questions, on the intact chain.
    let intact = |mut query: AuditQuery| {
        let store = store.clone();
        async move {
            query.limit = query.limit.max(1);
            store
                .list(&query)
                .await
                .unwrap()
                .into_iter()
                .filter(|r| r.chain == "intact")
                .map(|r| r.seq)
                .collect::<Vec<_>>()
        }
    };
    let trace = format!("{:032x}", 0xabc000 + 2);
    assert_eq!(intact(AuditQuery::for_trace(&trace)).await, [8, 9, 10, 11]);
    let by = |subject: &str| AuditQuery {
        subject: Some(subject.into()),
        limit: 100,
        ..AuditQuery::default()
    };
    assert_eq!(intact(by("carl")).await, [2, 5, 8, 11, 14, 17, 20]);
    let denied = AuditQuery {
        outcome: Some(Outcome::Deny),
        tenant: Some("acme".into()),
        limit: 100,
        ..AuditQuery::default()
    };
    assert_eq!(intact(denied).await, [10, 20]);
    let window = AuditQuery {
        from_ms: Some(1_700_000_004_000),
        until_ms: Some(1_700_000_007_000),
        limit: 100,
        ..AuditQuery::default()
    };
    // Every chain has records at those times: 4, 5 and 6 of each (tampering moved numbers,
    // not times), by time then chain.
    let all = store.list(&window).await.unwrap();
    assert_eq!(all.len(), 3 * chains.len());
    assert!(
        all.windows(2)
            .all(|w| w[0].record.time_ms <= w[1].record.time_ms)
    );
    // Paging: pages of 7 in order, no record twice, none left out.
    let mut query = AuditQuery {
        limit: 7,
        subject: Some("ada".into()),
        ..AuditQuery::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = store.list(&query).await.unwrap();
        if page.is_empty() {
            break;
        }
        seen.extend(
            page.iter()
                .map(|r| (r.record.time_ms, r.chain.clone(), r.seq)),
        );
        query = query.after_page(&page);
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted);
    let every = store
        .list(&AuditQuery {
            limit: 1000,
            subject: Some("ada".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(seen.len(), every.len());
    assert!(
        store
            .list(&AuditQuery {
                limit: 1001,
                ..AuditQuery::default()
            })
            .await
            .is_err()
    );
}

#[tokio::test]
async fn sqlite_keeps_a_trail_that_shows_tampering() {
    let store = SqliteStore::in_memory().await.unwrap();
    scenario(
        store,
        &[
            "DROP TRIGGER portcullis_audit_no_update",
            "DROP TRIGGER portcullis_audit_no_delete",
        ],
    )
    .await;
}

#[tokio::test]
async fn postgres_keeps_a_trail_that_shows_tampering() {
    let url = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must name a PostgreSQL server for the audit trail's tests");
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).unwrap();
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let schema = format!("portcullis_audit_{}_{suffix}", std::process::id());
    let store = PostgresStore::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    let outcome = tokio::spawn(scenario(
        store.clone(),
        &["ALTER TABLE portcullis_audit DISABLE TRIGGER USER"],
    ))
    .await;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(store.pool())
        .await
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
