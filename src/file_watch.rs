//! Noticing that a file changed, by polling: its size and modification time are compared with
//! what they were when it was last read, and only a difference costs a read. Polling works on
//! every filesystem (mounted config maps and network volumes included, where change
//! notifications do not), and editors and deploy tools that write a new file and rename it over
//! the old one change the modification time.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A file's size, modification time and (on Unix) inode and change time; `None` when it
/// cannot be read. The inode catches a file renamed over the old one, the change time an edit
/// that kept the size within the modification time's resolution.
pub(crate) type Stamp = Option<(u64, Option<SystemTime>, u64, i64, i64)>;

/// The stamp of the file at `path` now.
pub(crate) fn stamp_of(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (inode, changed, changed_ns) = {
        use std::os::unix::fs::MetadataExt as _;
        (meta.ino(), meta.ctime(), meta.ctime_nsec())
    };
    #[cfg(not(unix))]
    let (inode, changed, changed_ns) = (0, 0, 0);
    Some((meta.len(), meta.modified().ok(), inode, changed, changed_ns))
}

/// The shortest polling period: a zero one would make `tokio::time::interval` panic.
const MIN_EVERY: Duration = Duration::from_millis(10);

/// Every `every` (at least 10 ms), compares the stamp of `path` with `last_read()` and, when they differ, runs
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
        let mut tick = tokio::time::interval(every.max(MIN_EVERY));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if stamp_of(&path) != last_read() {
                let _ = tokio::task::spawn_blocking(reload.clone()).await;
            }
        }
    })
}
