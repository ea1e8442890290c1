//! A short, opt-in grace for a refresh token spent twice by the same client.
//!
//! Two browser tabs that refresh with the same refresh token at once look exactly like a stolen
//! token being replayed: reuse detection ends the whole family and logs the user out. With a
//! grace configured ([`IdentityConfig::refresh_reuse_grace`](super::IdentityConfig), off by
//! default), a second use of a just-spent token *from the same client address* within the grace
//! gets the very pair the first use got (waiting for it if the first is still being issued), so
//! both tabs end up holding one valid pair. Anything else is reuse as before: another address, no
//! known address (the grace needs the TCP peer, `ConnectInfo`), or after the grace. The pair is
//! held only in this process's memory for the grace's length, never stored, never logged; a
//! second instance that did not issue it sees plain reuse.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::TokenPair;
use crate::secret::Digest;

/// Longest grace accepted: a replay window, kept short.
pub const MAX_REFRESH_REUSE_GRACE: Duration = Duration::from_secs(30);

/// Bound of the pairs held, in bytes.
const GRACE_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// How long a second use waits for the first use's pair to be issued.
const ISSUE_WAIT: Duration = Duration::from_secs(5);

struct Spent {
    client: IpAddr,
    pair: watch::Receiver<Option<TokenPair>>,
}

/// The refresh tokens spent within the grace, and the pairs they were traded for.
pub(super) struct RefreshGrace {
    spent: moka::sync::Cache<Digest, Arc<Spent>, foldhash::fast::RandomState>,
}

/// Where the first use reports the pair it issued.
pub(super) struct Pending(watch::Sender<Option<TokenPair>>);

impl Pending {
    pub(super) fn issued(self, pair: &TokenPair) {
        // No receiver left is fine: nobody is waiting.
        let _ = self.0.send(Some(pair.clone()));
    }
}

impl RefreshGrace {
    pub(super) fn new(grace: Duration) -> Self {
        Self {
            spent: moka::sync::Cache::builder()
                .max_capacity(GRACE_CACHE_BYTES)
                .weigher(|_, _| 2048)
                .time_to_live(grace.min(MAX_REFRESH_REUSE_GRACE))
                .build_with_hasher(foldhash::fast::RandomState::default()),
        }
    }

    /// The token with `digest` was just spent by `client`: remember it for the grace.
    pub(super) fn spent(&self, digest: Digest, client: IpAddr) -> Pending {
        let (sender, pair) = watch::channel(None);
        self.spent.insert(digest, Arc::new(Spent { client, pair }));
        Pending(sender)
    }

    /// The pair a spent token was traded for, if `client` spent it within the grace.
    pub(super) async fn pair_for(
        &self,
        digest: &Digest,
        client: Option<IpAddr>,
    ) -> Option<TokenPair> {
        let spent = self.spent.get(digest)?;
        if Some(spent.client) != client {
            return None;
        }
        let mut pair = spent.pair.clone();
        let issued = tokio::time::timeout(ISSUE_WAIT, pair.wait_for(Option::is_some)).await;
        match issued {
            Ok(Ok(pair)) => pair.clone(),
            _ => None,
        }
    }
}
