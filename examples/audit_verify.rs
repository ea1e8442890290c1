//! Verifies the quickstart's audit trail: every record of the chain in the SQLite file, its
//! signatures, numbers and links, and that it reaches the newest checkpoint kept beside it.
//!
//! ```text
//! cargo run --example audit_verify                      # portcullis-quickstart.db, or PORTCULLIS_DB
//! cargo run --example audit_verify -- path/to/file.db
//! ```
//!
//! A cluster of quickstarts on PostgreSQL writes one chain per instance; verify one with the same
//! environment the instances ran with (`DATABASE_URL`, `PORTCULLIS_SCHEMA`, `PORTCULLIS_DB`):
//!
//! ```text
//! cargo run --example audit_verify --features postgres -- --chain quickstart-3000
//! ```
//!
//! Prints `N records verified (chain quickstart, head …)`, or the first broken link and exits
//! with status 1. It needs the audit key (`<db>.audit-key`); an auditor holding only the public
//! key verifies the same way with a key ring of that public key.

#[path = "quickstart/audit.rs"]
mod audit;

use portcullis::audit::{AuditLog, CheckpointSink, JsonLinesSink, verify_stored};
use portcullis::store::sqlite::SqliteStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    let cluster_chain = match args.peek().map(String::as_str) {
        Some("--chain") => {
            args.next();
            Some(args.next().ok_or("--chain needs a chain name")?)
        }
        _ => None,
    };
    let db = args
        .next()
        .or_else(|| std::env::var("PORTCULLIS_DB").ok())
        .unwrap_or_else(|| "portcullis-quickstart.db".into());
    match cluster_chain {
        Some(chain) => verify_cluster_chain(&db, &chain).await,
        None => {
            if !std::path::Path::new(&db).exists() {
                return Err(format!("no database at {db}: run the quickstart first").into());
            }
            let store = SqliteStore::open(&db).await?;
            verify(&store, &db, audit::CHAIN).await
        }
    }
}

/// Verifies `chain` in the PostgreSQL database the cluster shares; the key and checkpoint files
/// are named after `db` without its `.db`, as the quickstart names them.
#[cfg(feature = "postgres")]
async fn verify_cluster_chain(db: &str, chain: &str) -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "--chain needs DATABASE_URL")?;
    let schema = std::env::var("PORTCULLIS_SCHEMA").unwrap_or_else(|_| "quickstart".into());
    let store =
        portcullis::store::postgres::PostgresStore::connect_in_schema(&url, &schema).await?;
    verify(&store, db.strip_suffix(".db").unwrap_or(db), chain).await
}

#[cfg(not(feature = "postgres"))]
async fn verify_cluster_chain(_: &str, _: &str) -> Result<(), Box<dyn std::error::Error>> {
    Err("--chain verifies a cluster's chain in PostgreSQL: build with --features postgres".into())
}

/// Verifies `chain` in `log` with the key and checkpoints kept in files named after `files`.
async fn verify<L: AuditLog>(
    log: &L,
    files: &str,
    chain: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    if !std::path::Path::new(&audit::key_path(files)).exists() {
        return Err(format!("no audit key at {}", audit::key_path(files)).into());
    }
    let ring = audit::key_ring(files)?;
    let checkpoint = JsonLinesSink::new(audit::heads_path(files, chain))
        .newest(chain)
        .await?;
    match verify_stored(log, &ring.snapshot(), chain, checkpoint.as_ref()).await? {
        Ok(verified) => {
            println!(
                "{} records verified (chain {}, head {}{})",
                verified.records,
                chain,
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
                chain, broken.seq, broken.kind
            );
            std::process::exit(1);
        }
    }
}
