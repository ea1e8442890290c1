//! Login throttling per account and per client address.
//!
//! Attempts are reserved before the password is hashed (see [`ThrottleKeys::reserve`]): checking
//! a limit first and counting the failure after the hash would let every request in flight at
//! once through, which is how 30 concurrent guesses once all reached the hasher.
//!
//! After `limit` failures inside the window, further attempts for that key are refused with 429
//! until `last failure + delay`, where the delay doubles with each further failure from `base` up
//! to `max` (bounded backoff). Only failed password checks count: successful logins and
//! authenticated traffic never do, and a success clears the account's counter (not the address's,
//! so one valid account cannot launder an address that is guessing at others). Unknown e-mail
//! addresses are counted exactly like known ones, so a 429 says nothing about whether an account
//! exists.

use std::time::Duration;

use crate::store::{Failures, StoreError, ThrottleStore};

/// Throttling limits.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Failures per account before attempts are delayed (default 5).
    pub account_limit: u32,
    /// Failures per client address before attempts are delayed (default 20).
    pub address_limit: u32,
    /// Failures older than this are forgotten (default 15 minutes).
    pub window: Duration,
    /// First delay once a limit is reached (default 30 s).
    pub base_delay: Duration,
    /// Longest delay (default 15 minutes).
    pub max_delay: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            account_limit: 5,
            address_limit: 20,
            window: Duration::from_secs(15 * 60),
            base_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(15 * 60),
        }
    }
}

impl ThrottleConfig {
    /// Seconds still to wait for a key in `state`, if it is over `limit`.
    pub(crate) fn wait(&self, state: Option<Failures>, limit: u32, now: i64) -> Option<u64> {
        let state = state?;
        let window = self.window.as_secs() as i64;
        if state.count < limit || state.last_at < now - window {
            return None;
        }
        let doublings = (state.count - limit).min(30);
        let delay = self
            .base_delay
            .as_secs()
            .saturating_mul(1u64 << doublings)
            .min(self.max_delay.as_secs());
        let until = state.last_at.saturating_add(delay as i64);
        (now < until).then(|| (until - now) as u64)
    }
}

/// The keys one login attempt is counted under.
pub(crate) struct ThrottleKeys {
    pub(crate) account: String,
    pub(crate) address: Option<String>,
}

impl ThrottleKeys {
    pub(crate) fn new(email: &str, address: Option<std::net::IpAddr>) -> Self {
        Self {
            account: format!("acct:{email}"),
            address: address.map(|a| format!("addr:{a}")),
        }
    }

    /// Reserves one attempt under both keys before the password is checked, so that requests in
    /// flight at once cannot all pass a limit that each checked alone: `Ok(None)` lets the attempt
    /// proceed (it is already counted as a failure; call [`succeeded`](Self::succeeded) if the
    /// password matches), `Ok(Some(wait))` refuses it (and takes the reservation back, so refused
    /// attempts do not lengthen the wait they were told).
    ///
    /// How a burst is settled: each attempt reads the key's state (refused at once while locked),
    /// then increments the counter atomically and gets a unique count `c`. It may go on while `c`
    /// is within the limit, or when it is the single attempt right after a lock ran out (`c` is
    /// one more than the count it read). Everyone else in the burst is refused: 30 wrong guesses
    /// and the right password sent together give at most `limit` password checks.
    pub(crate) async fn reserve<S: ThrottleStore>(
        &self,
        store: &S,
        config: &ThrottleConfig,
        now: i64,
    ) -> Result<Option<u64>, StoreError> {
        let mut reserved: Vec<&str> = Vec::with_capacity(2);
        let mut wait = None;
        for (key, limit) in self.limits(config) {
            match reserve_one(store, config, key, limit, now).await {
                Ok(None) => reserved.push(key),
                Ok(Some(w)) => {
                    wait = Some(w);
                    break;
                }
                Err(error) => {
                    release_all(store, &reserved).await;
                    return Err(error);
                }
            }
        }
        if wait.is_some() {
            release_all(store, &reserved).await;
        }
        Ok(wait)
    }

    /// The reserved attempt had the right password: the account's counter starts again, and the
    /// address's reservation is taken back (a valid login never counts against an address, nor
    /// does it launder one that is guessing at other accounts).
    pub(crate) async fn succeeded<S: ThrottleStore>(&self, store: &S) -> Result<(), StoreError> {
        store.clear_failures(&self.account).await?;
        if let Some(address) = &self.address {
            store.release_failure(address).await?;
        }
        Ok(())
    }

    fn limits<'a>(&'a self, config: &ThrottleConfig) -> impl Iterator<Item = (&'a str, u32)> {
        std::iter::once((self.account.as_str(), config.account_limit)).chain(
            self.address
                .as_deref()
                .map(|address| (address, config.address_limit)),
        )
    }
}

async fn reserve_one<S: ThrottleStore>(
    store: &S,
    config: &ThrottleConfig,
    key: &str,
    limit: u32,
    now: i64,
) -> Result<Option<u64>, StoreError> {
    let before = store.failures(key).await?;
    if let Some(wait) = config.wait(before, limit, now) {
        return Ok(Some(wait));
    }
    let window = config.window.as_secs() as i64;
    let seen = before
        .filter(|f| f.last_at >= now - window)
        .map_or(0, |f| f.count);
    let reserved = store.record_failure(key, now, window).await?.count;
    if reserved <= limit || reserved == seen.saturating_add(1) {
        return Ok(None);
    }
    // Another attempt of the same burst took the one free place.
    store.release_failure(key).await?;
    let locked = Failures {
        count: reserved.saturating_sub(1).max(limit),
        last_at: now,
    };
    Ok(Some(
        config
            .wait(Some(locked), limit, now)
            .unwrap_or(config.base_delay.as_secs()),
    ))
}

async fn release_all<S: ThrottleStore>(store: &S, keys: &[&str]) {
    for key in keys {
        if let Err(error) = store.release_failure(key).await {
            tracing::warn!(%error, "could not take back a throttling reservation");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_backoff() {
        let config = ThrottleConfig::default();
        let at = |count| {
            Some(Failures {
                count,
                last_at: 1_000,
            })
        };
        assert_eq!(config.wait(None, 5, 1_000), None);
        assert_eq!(config.wait(at(4), 5, 1_000), None, "under the limit");
        assert_eq!(config.wait(at(5), 5, 1_000), Some(30));
        assert_eq!(config.wait(at(5), 5, 1_020), Some(10));
        assert_eq!(config.wait(at(5), 5, 1_030), None, "the delay has passed");
        assert_eq!(config.wait(at(6), 5, 1_000), Some(60));
        assert_eq!(config.wait(at(7), 5, 1_000), Some(120));
        assert_eq!(
            config.wait(at(40), 5, 1_000),
            Some(900),
            "capped at 15 minutes"
        );
        assert_eq!(config.wait(at(u32::MAX), 5, 1_000), Some(900));
        assert_eq!(
            config.wait(at(9), 5, 1_000 + 901),
            None,
            "outside the window"
        );
    }
}
