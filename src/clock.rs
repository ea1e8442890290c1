//! The crate's one clock.
//!
//! Two readings, on purpose:
//! - [`Clock::now`]: seconds, replaceable ([`Clock::from_fn`]) so tests can move time. It stamps
//!   and judges everything the crate stores: refresh-family and session expiry, idle timeouts,
//!   throttling windows, API-key creation and expiry, purges.
//! - [`system_now_us`]: the real time in microseconds, never replaced. Revoked-before cutoffs are
//!   compared with the issue times of tokens, sessions and keys; tokens are stamped and verified
//!   against the system clock by every verifier (jsonwebtoken included), so the cutoffs must be
//!   on that clock too, or a moved test clock would revoke the future or spare the past.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time in seconds since the Unix epoch; [`Clock::system`] by default.
///
/// ```
/// use portcullis::clock::Clock;
///
/// let frozen = Clock::from_fn(|| 1_700_000_000);
/// assert_eq!(frozen.now(), 1_700_000_000);
/// assert!(Clock::system().now() > 1_700_000_000);
/// ```
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(system_now))
    }

    /// A clock read from `now` (seconds since the epoch): for tests that move time.
    pub fn from_fn(now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    /// Seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The system time in microseconds since the Unix epoch: the clock of revocation cutoffs (see
/// the module docs for why it is never replaced).
pub fn system_now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
