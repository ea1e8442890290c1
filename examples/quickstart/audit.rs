//! The quickstart's audit trail: every decision is sealed into the chain `quickstart` in the
//! same SQLite file (on PostgreSQL, each instance writes a chain of its own, `quickstart-<port>`
//! or `PORTCULLIS_INSTANCE`: one chain has one writer), each record MACed with an HMAC-SHA256 key of its own (32 random bytes made
//! on first start into `<db>.audit-key`, readable by the owner only); signed checkpoints of the
//! chain's head go to a second place, `<db>.audit-heads.jsonl`, every 10,000 records or every
//! second, whichever comes first (a checkpoint is a signed line written and synced to disk, so
//! one per batch would cost a disk sync per batch; at most one second of tail is then open to an
//! undetected truncation). `cargo run --example audit_verify` checks the lot.
//!
//! HMAC rather than Ed25519 here because a record is sealed per decision: HMAC costs about 1 µs
//! a record, Ed25519 about 16–18 µs on this machine's cores, which would cap the app near
//! 60,000 decisions a second (beyond that the trail refuses decisions, fail closed). Choose Ed25519
//! where verifiers must hold only a public key and the rate allows it.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use portcullis::audit::{
    AuditSink, AuditTrail, JsonLinesSink, SealedRecord, SinkError, TrailConfig,
};
use portcullis::token::{Algorithm, Key, KeyRing};

/// The chain the quickstart writes on SQLite (one chain per instance).
pub const CHAIN: &str = "quickstart";

/// Where the audit key of the database at `db` lives.
pub fn key_path(db: &str) -> String {
    format!("{db}.audit-key")
}

/// Where the checkpoints of `chain` of the database at `db` go (a file per chain: each has one
/// writer).
pub fn heads_path(db: &str, chain: &str) -> String {
    if chain == CHAIN {
        format!("{db}.audit-heads.jsonl")
    } else {
        format!("{db}.{chain}.audit-heads.jsonl")
    }
}

/// The audit key of `db`, made on first start. There is no default key: without this file
/// (or with a broken one) the trail does not start.
pub fn key_ring(db: &str) -> Result<KeyRing, Box<dyn std::error::Error>> {
    let path = key_path(db);
    if !Path::new(&path).exists() {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| e.to_string())?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&path)?.write_all(&secret)?;
    }
    let secret = std::fs::read(&path)?;
    if secret.len() != 32 {
        return Err(format!("{path} must hold a 32-byte HMAC key").into());
    }
    Ok(KeyRing::single(Key::hmac(
        "audit-1",
        Algorithm::HS256,
        &secret,
    )?))
}

/// Where the app's decisions are recorded.
#[allow(dead_code)] // the verifier includes this file for its paths and key only
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recording {
    /// No trail.
    Off,
    /// The trail, in the app's SQLite file: what the quickstart runs.
    Stored,
    /// The trail, sealed and chained in full, into a sink that keeps nothing: only for the load
    /// benchmark, to tell what the trail costs in process from what its store costs.
    Discarded,
}

/// A sink that takes every batch and keeps nothing (see [`Recording::Discarded`]): what the
/// trail costs apart from its storage, for the benchmarks.
pub struct Discard;

impl AuditSink for Discard {
    async fn append(&self, _: &[SealedRecord]) -> Result<(), SinkError> {
        Ok(())
    }

    async fn last(&self, _: &str) -> Result<Option<SealedRecord>, SinkError> {
        Ok(None)
    }
}

/// Starts the trail `chain` over `store` (or, for the benchmark, into [`Discard`]); its key and
/// checkpoints are files named after `db`.
#[allow(dead_code)] // the verifier includes this file for its paths and key only
pub async fn start<S: AuditSink + Clone>(
    db: &str,
    chain: &str,
    store: &S,
    recording: Recording,
) -> Result<Option<AuditTrail>, Box<dyn std::error::Error>> {
    let config = TrailConfig::new(chain).checkpoint(10_000, Duration::from_secs(1));
    let heads = JsonLinesSink::new(heads_path(db, chain));
    Ok(match recording {
        Recording::Off => None,
        Recording::Stored => {
            Some(AuditTrail::start(key_ring(db)?, store.clone(), heads, config).await?)
        }
        Recording::Discarded => {
            Some(AuditTrail::start(key_ring(db)?, Discard, heads, config).await?)
        }
    })
}
