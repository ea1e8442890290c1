//! Verifies the quickstart's audit trail: every record of the chain in the SQLite file, its
//! signatures, numbers and links, and that it reaches the newest checkpoint kept beside it.
//!
//! ```text
//! cargo run --example audit_verify                      # portcullis-quickstart.db, or PORTCULLIS_DB
//! cargo run --example audit_verify -- path/to/file.db
//! ```
//!
//! Prints `N records verified (chain quickstart, head …)`, or the first broken link and exits
//! with status 1. It needs the audit key (`<db>.audit-key`); an auditor holding only the public
//! key verifies the same way with a key ring of that public key.

#[path = "quickstart/audit.rs"]
mod audit;

use portcullis::audit::{CheckpointSink, JsonLinesSink, verify_stored};
use portcullis::store::sqlite::SqliteStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("PORTCULLIS_DB").ok())
        .unwrap_or_else(|| "portcullis-quickstart.db".into());
    if !std::path::Path::new(&db).exists() {
        return Err(format!("no database at {db}: run the quickstart first").into());
    }
    if !std::path::Path::new(&audit::key_path(&db)).exists() {
        return Err(format!("no audit key at {}", audit::key_path(&db)).into());
    }
    let ring = audit::key_ring(&db)?;
    let store = SqliteStore::open(&db).await?;
    let checkpoint = JsonLinesSink::new(audit::heads_path(&db, audit::CHAIN))
        .newest(audit::CHAIN)
        .await?;
    match verify_stored(&store, &ring.snapshot(), audit::CHAIN, checkpoint.as_ref()).await? {
        Ok(verified) => {
            println!(
                "{} records verified (chain {}, head {}{})",
                verified.records,
                audit::CHAIN,
                verified.head.link,
                match &checkpoint {
                    Some(c) => format!(", checkpoint at record {}", c.head.seq),
                    None => ", no checkpoint yet".to_owned(),
                }
            );
            Ok(())
        }
        Err(broken) => {
            println!(
                "audit chain {} broken at record {}: {:?}",
                audit::CHAIN,
                broken.seq,
                broken.kind
            );
            std::process::exit(1);
        }
    }
}
