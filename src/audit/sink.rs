//! Where sealed records and checkpoints go: one narrow trait, and the sinks that need no
//! database (memory, JSON lines in a file).
//!
//! A sink only appends and reads back; the sealing, the order and the batching are the trail's.
//! An append either stores the whole batch or fails (the trail then retries the same batch:
//! records are never dropped, and never stored twice when the sink is all-or-nothing, as the
//! SQL sinks are with a transaction).

use std::future::Future;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use super::chain::{Checkpoint, Head, SealedRecord};

/// Why a sink failed. Its text names the cause, never a record's content.
#[derive(Debug, thiserror::Error)]
#[error("audit sink failed: {0}")]
pub struct SinkError(pub String);

/// A place sealed records are appended to, in order, per chain.
pub trait AuditSink: Send + Sync + 'static {
    /// Appends `records` (consecutive, of one chain) as one unit: all stored, or none.
    fn append(
        &self,
        records: &[SealedRecord],
    ) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// The last record stored for `chain` (where a restarted trail continues), if any.
    fn last(
        &self,
        chain: &str,
    ) -> impl Future<Output = Result<Option<SealedRecord>, SinkError>> + Send;
}

/// A place checkpoints are written to: somewhere else than the records, so that whoever can cut
/// the records' tail cannot also rewind the checkpoint.
pub trait CheckpointSink: Send + Sync + 'static {
    /// Stores `checkpoint` as the newest of its chain.
    fn put(&self, checkpoint: &Checkpoint) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// The newest checkpoint of `chain`, if any.
    fn newest(
        &self,
        chain: &str,
    ) -> impl Future<Output = Result<Option<Checkpoint>, SinkError>> + Send;
}

/// Records and checkpoints in memory (tests, and a trail read back in process).
#[derive(Clone, Default, Debug)]
pub struct MemorySink {
    records: Arc<Mutex<Vec<SealedRecord>>>,
    checkpoints: Arc<Mutex<Vec<Checkpoint>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every record stored, in the order appended.
    pub fn records(&self) -> Vec<SealedRecord> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces what is stored (for tests that tamper with a trail).
    pub fn replace(&self, records: Vec<SealedRecord>) {
        *self.records.lock().unwrap_or_else(PoisonError::into_inner) = records;
    }
}

impl AuditSink for MemorySink {
    async fn append(&self, records: &[SealedRecord]) -> Result<(), SinkError> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(records);
        Ok(())
    }

    async fn last(&self, chain: &str) -> Result<Option<SealedRecord>, SinkError> {
        Ok(self
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .find(|r| r.chain == chain)
            .cloned())
    }
}

impl CheckpointSink for MemorySink {
    async fn put(&self, checkpoint: &Checkpoint) -> Result<(), SinkError> {
        self.checkpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(checkpoint.clone());
        Ok(())
    }

    async fn newest(&self, chain: &str) -> Result<Option<Checkpoint>, SinkError> {
        Ok(self
            .checkpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .find(|c| c.head.chain == chain)
            .cloned())
    }
}

/// Sealed records as JSON lines appended to a file (one record per line, flushed and synced per
/// batch), for log shippers and for `audit verify` on a copy. Checkpoints as JSON lines too
/// (give them another file, on another disk or host, than the records).
#[derive(Clone, Debug)]
pub struct JsonLinesSink {
    path: Arc<PathBuf>,
    /// One writer at a time, so lines of two batches never interleave.
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl JsonLinesSink {
    /// Appends to `path` (created when missing).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: Arc::new(path.into()),
            lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Every line of the file, parsed, in order (a malformed line is an error naming its
    /// number).
    pub fn read_all<T: serde::de::DeserializeOwned>(&self) -> Result<Vec<T>, SinkError> {
        let file = match std::fs::File::open(&*self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(SinkError(e.to_string())),
        };
        std::io::BufReader::new(file)
            .lines()
            .enumerate()
            .filter(|(_, line)| line.as_ref().map_or(true, |l| !l.is_empty()))
            .map(|(n, line)| {
                let line = line.map_err(|e| SinkError(e.to_string()))?;
                serde_json::from_str(&line).map_err(|e| SinkError(format!("line {}: {e}", n + 1)))
            })
            .collect()
    }

    async fn write_lines<T: serde::Serialize + Sync>(&self, items: &[T]) -> Result<(), SinkError> {
        let mut text = Vec::new();
        for item in items {
            serde_json::to_writer(&mut text, item).map_err(|e| SinkError(e.to_string()))?;
            text.push(b'\n');
        }
        let _one = self.lock.lock().await;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&*path)?;
            file.write_all(&text)?;
            file.sync_data()
        })
        .await
        .map_err(|e| SinkError(e.to_string()))?
        .map_err(|e| SinkError(e.to_string()))
    }
}

impl AuditSink for JsonLinesSink {
    async fn append(&self, records: &[SealedRecord]) -> Result<(), SinkError> {
        self.write_lines(records).await
    }

    async fn last(&self, chain: &str) -> Result<Option<SealedRecord>, SinkError> {
        let _one = self.lock.lock().await;
        Ok(self
            .read_all::<SealedRecord>()?
            .into_iter()
            .rev()
            .find(|r| r.chain == chain))
    }
}

impl CheckpointSink for JsonLinesSink {
    async fn put(&self, checkpoint: &Checkpoint) -> Result<(), SinkError> {
        self.write_lines(std::slice::from_ref(checkpoint)).await
    }

    async fn newest(&self, chain: &str) -> Result<Option<Checkpoint>, SinkError> {
        let _one = self.lock.lock().await;
        Ok(self
            .read_all::<Checkpoint>()?
            .into_iter()
            .rev()
            .find(|c| c.head.chain == chain))
    }
}

/// Sealed records as `tracing` events (target `portcullis::audit`, level `info`, the record as
/// JSON in the field `record`), for a log pipeline that already ships and retains events.
///
/// A log cannot be read back, so a trail on this sink cannot continue its chain after a
/// restart: name the chain per start (the instance and its start time), or write to a store and
/// to the log both ([`Tee`]).
///
/// Where the subscriber filters the target out at `info`, the records go nowhere (they are not
/// even serialised): enable `portcullis::audit=info` wherever this sink is the record of truth.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingSink;

impl AuditSink for TracingSink {
    async fn append(&self, records: &[SealedRecord]) -> Result<(), SinkError> {
        // Serialising costs more than the rest of the trail; skip it where the subscriber
        // would drop the event anyway.
        if !tracing::enabled!(target: "portcullis::audit", tracing::Level::INFO) {
            return Ok(());
        }
        for record in records {
            let json = serde_json::to_string(record).map_err(|e| SinkError(e.to_string()))?;
            tracing::info!(target: "portcullis::audit", chain = %record.chain, seq = record.seq, record = %json, "audit record");
        }
        Ok(())
    }

    async fn last(&self, _chain: &str) -> Result<Option<SealedRecord>, SinkError> {
        Ok(None)
    }
}

/// Two sinks at once: every batch goes to `primary`, the record of truth (the trail retries it
/// until it is taken, and continues the chain from it), then to `copy`, a mirror (a log
/// pipeline): a batch the copy refuses is logged at `error` with its numbers, not retried, since
/// retrying would write the primary's records twice.
#[derive(Clone, Debug)]
pub struct Tee<A, B> {
    primary: A,
    copy: B,
}

impl<A, B> Tee<A, B> {
    /// `primary` (read back on restart) and `copy`.
    pub fn new(primary: A, copy: B) -> Self {
        Self { primary, copy }
    }
}

impl<A: AuditSink, B: AuditSink> AuditSink for Tee<A, B> {
    async fn append(&self, records: &[SealedRecord]) -> Result<(), SinkError> {
        self.primary.append(records).await?;
        if let Err(error) = self.copy.append(records).await {
            tracing::error!(
                %error,
                first = records.first().map(|r| r.seq),
                last = records.last().map(|r| r.seq),
                "audit mirror missed a batch (the primary sink holds it)"
            );
        }
        Ok(())
    }

    async fn last(&self, chain: &str) -> Result<Option<SealedRecord>, SinkError> {
        self.primary.last(chain).await
    }
}

/// Where a chain continues: after its last stored record, or from its start.
pub async fn resume_head<S: AuditSink>(sink: &S, chain: &str) -> Result<Head, SinkError> {
    Ok(match sink.last(chain).await? {
        Some(last) => Head::after(&last),
        None => Head::genesis(chain),
    })
}
