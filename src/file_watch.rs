//! Noticing that a file changed, by polling: its size and modification time are compared with
//! what they were when it was last read, and only a difference costs a read. Polling works on
//! every filesystem (mounted config maps and network volumes included, where change
//! notifications do not), and editors and deploy tools that write a new file and rename it over
//! the old one change the modification time.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A file's size and modification time; `None` when it cannot be read.
pub(crate) type Stamp = Option<(u64, Option<SystemTime>)>;

/// The stamp of the file at `path` now.
pub(crate) fn stamp_of(path: &Path) -> Stamp {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.len(), m.modified().ok()))
}

/// Every `every`, compares the stamp of `path` with `last_read()` and, when they differ, runs
/// `reload` on the blocking pool (reading and parsing a file blocks). A task of the current
/// Tokio runtime; abort the handle to stop it.
pub(crate) fn poll<L, R>(
    path: PathBuf,
    every: Duration,
    last_read: L,
    reload: R,
) -> tokio::task::JoinHandle<()>
where
    L: Fn() -> Stamp + Send + 'static,
    R: Fn() + Clone + Send + 'static,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if stamp_of(&path) != last_read() {
                let _ = tokio::task::spawn_blocking(reload.clone()).await;
            }
        }
    })
}
