//! A short, opt-in grace for a refresh token spent twice by the same client.
//!
//! Two browser tabs that refresh with the same refresh token at once look exactly like a stolen
//! token being replayed: reuse detection ends the whole family and logs the user out. With a
//! grace configured ([`IdentityConfig::refresh_reuse_grace`](super::IdentityConfig), off by
//! default), a second use of a just-spent token *from the same client address* within the grace
//! gets the very pair the first use got, so both tabs end up holding one valid pair. Uses of one
//! token take turns on a per-token lock (only while the grace is on, and only for that token), so
//! a second use arriving while the first is still being issued waits for it rather than racing it. Anything else is reuse as before: another address, no
//! known address (the grace needs the TCP peer, `ConnectInfo`), or after the grace. The pair is
//! held only in this process's memory for the grace's length, never stored, never logged; a
//! second instance that did not issue it sees plain reuse.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::TokenPair;
use crate::secret::Digest;

/// Longest grace accepted: a replay window, kept short.
pub const MAX_REFRESH_REUSE_GRACE: Duration = Duration::from_secs(30);

/// Bound of the pairs held, in bytes.
const GRACE_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// One refresh token's uses in this process: who spent it and for which pair, once it was.
pub(super) type Slot = Arc<Mutex<Option<(IpAddr, TokenPair)>>>;

/// The refresh tokens used within the grace, and the pairs they were traded for.
pub(super) struct RefreshGrace {
    slots: moka::sync::Cache<Digest, Slot, foldhash::fast::RandomState>,
}

impl RefreshGrace {
    pub(super) fn new(grace: Duration) -> Self {
        Self {
            slots: moka::sync::Cache::builder()
                .max_capacity(GRACE_CACHE_BYTES)
                .weigher(|_, _| 2048)
                .time_to_live(grace.min(MAX_REFRESH_REUSE_GRACE))
                .build_with_hasher(foldhash::fast::RandomState::default()),
        }
    }

    /// The token's slot. Uses of one token lock it in turn, so a second use sees what the first
    /// one issued, however close together they came.
    pub(super) fn slot(&self, digest: Digest) -> Slot {
        self.slots.get_with(digest, Slot::default)
    }
}

/// The pair a slot holds for `client`, if that client spent the token.
pub(super) fn pair_for(
    spent: &Option<(IpAddr, TokenPair)>,
    client: Option<IpAddr>,
) -> Option<TokenPair> {
    match (spent, client) {
        (Some((by, pair)), Some(client)) if *by == client => Some(pair.clone()),
        _ => None,
    }
}
