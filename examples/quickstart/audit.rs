//! The quickstart's audit trail: every decision is sealed into the chain `quickstart` in the
//! same SQLite file, signed with an Ed25519 key of its own (generated on first start into
//! `<db>.audit-key`, readable by the owner only); signed checkpoints of the chain's head go to a
//! second place, `<db>.audit-heads.jsonl`. `cargo run --example audit_verify` checks the lot.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use portcullis::audit::{AuditTrail, JsonLinesSink, TrailConfig};
use portcullis::store::sqlite::SqliteStore;
use portcullis::token::{Algorithm, Key, KeyRing, generate_pkcs8};

/// The chain this instance writes (one chain per instance).
pub const CHAIN: &str = "quickstart";

/// Where the audit key of the database at `db` lives.
pub fn key_path(db: &str) -> String {
    format!("{db}.audit-key")
}

/// Where the checkpoints of the database at `db` go.
pub fn heads_path(db: &str) -> String {
    format!("{db}.audit-heads.jsonl")
}

/// The audit key of `db`, made on first start. There is no default key: without this file
/// (or with a broken one) the trail does not start.
pub fn key_ring(db: &str) -> Result<KeyRing, Box<dyn std::error::Error>> {
    let path = key_path(db);
    if !Path::new(&path).exists() {
        let der = generate_pkcs8(Algorithm::EdDSA)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&path)?.write_all(&der)?;
    }
    let der = std::fs::read(&path)?;
    Ok(KeyRing::single(Key::from_pkcs8(
        "audit-1",
        Algorithm::EdDSA,
        &der,
    )?))
}

/// Starts the trail over `store`.
#[allow(dead_code)] // the verifier includes this file for its paths and key only
pub async fn start(
    db: &str,
    store: &SqliteStore,
) -> Result<AuditTrail, Box<dyn std::error::Error>> {
    let config = TrailConfig::new(CHAIN).checkpoint(100, Duration::from_secs(5));
    Ok(AuditTrail::start(
        key_ring(db)?,
        store.clone(),
        JsonLinesSink::new(heads_path(db)),
        config,
    )
    .await?)
}
