//! Login throttling per account and per client address.
//!
//! After `limit` failures inside the window, further attempts for that key are refused with 429
//! until `last failure + delay`, where the delay doubles with each further failure from `base` up
//! to `max` (bounded backoff). Only failed password checks count: successful logins and
//! authenticated traffic never do, and a success clears the account's counter (not the address's,
//! so one valid account cannot launder an address that is guessing at others). Unknown e-mail
//! addresses are counted exactly like known ones, so a 429 says nothing about whether an account
//! exists.

use std::time::Duration;

use crate::store::{Failures, ThrottleStore};

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

    /// Seconds to wait before another attempt, if either key is over its limit.
    pub(crate) async fn wait<S: ThrottleStore>(
        &self,
        store: &S,
        config: &ThrottleConfig,
        now: i64,
    ) -> Result<Option<u64>, crate::store::StoreError> {
        let account = config.wait(
            store.failures(&self.account).await?,
            config.account_limit,
            now,
        );
        let address = match &self.address {
            Some(key) => config.wait(store.failures(key).await?, config.address_limit, now),
            None => None,
        };
        Ok(account.max(address))
    }

    pub(crate) async fn record_failure<S: ThrottleStore>(
        &self,
        store: &S,
        config: &ThrottleConfig,
        now: i64,
    ) -> Result<(), crate::store::StoreError> {
        let window = config.window.as_secs() as i64;
        store.record_failure(&self.account, now, window).await?;
        if let Some(key) = &self.address {
            store.record_failure(key, now, window).await?;
        }
        Ok(())
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
