//! The live state of built-in identity accounts, as long-lived credentials must see it.
//!
//! Browser sessions (12 hours) and API keys (months) must not freeze what their owner could do
//! when they were made: a demoted user would keep the old rights, a disabled or deleted one would
//! keep access. So every request made with one resolves its owner here: the owner's current
//! roles, whether the account is disabled or gone, and the owner's revoked-before cutoff (which
//! ends every credential made before a logout-all, a password change or a disable). Answers are
//! cached (a few seconds, bounded in bytes); every change made through the identity voids the
//! cached answer before it returns, and fills that read the store before that change can never
//! land on top of it (see `fresh_cache`). Access tokens (15 minutes) keep the roles they were
//! issued with until they expire; disabling and deleting end them at once through the cutoff.

use std::sync::Arc;
use std::time::Duration;

use crate::error::AuthError;
use crate::fresh_cache::FreshCache;
use crate::store::UserStore;

/// What an account is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    /// The account's current roles.
    pub roles: Arc<[String]>,
    /// The account's e-mail address.
    pub email: String,
    /// A disabled account's credentials are refused.
    pub disabled: bool,
}

/// How long an account's state is trusted without asking the store again (changes made through
/// another process are seen within this time).
pub const ACCOUNT_STATE_TTL: Duration = Duration::from_secs(5);

/// Bound of the account-state cache, in bytes.
pub const ACCOUNT_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// `None` caches "no such account" too, so a deleted owner costs no store round trip per request.
type Entry = Option<Arc<AccountState>>;

#[allow(clippy::borrowed_box)] // the weigher's signature is moka's: `&K`
fn weigh(key: &Box<str>, state: &Entry) -> u32 {
    let roles = state.as_ref().map_or(0, |s| {
        s.email.len() + s.roles.iter().map(|r| r.len() + 24).sum::<usize>()
    });
    u32::try_from(key.len() + roles + 96).unwrap_or(u32::MAX)
}

/// The cache of account states over a [`UserStore`].
pub(crate) struct Accounts<S> {
    store: S,
    cache: FreshCache<Box<str>, Entry>,
}

impl<S: UserStore> Accounts<S> {
    pub(crate) fn new(store: S) -> Self {
        Self {
            store,
            cache: FreshCache::new(ACCOUNT_CACHE_BYTES, ACCOUNT_STATE_TTL, weigh),
        }
    }

    /// The state if known without I/O (`Some(None)`: the account does not exist).
    pub(crate) fn cached(&self, user_id: &str) -> Option<Entry> {
        self.cache.get(user_id)
    }

    /// The state, asking the store on a miss; [`AuthError::Unavailable`] when it cannot answer.
    pub(crate) async fn state(&self, user_id: &str) -> Result<Entry, AuthError> {
        if let Some(known) = self.cache.get(user_id) {
            return Ok(known);
        }
        let ticket = self.cache.ticket();
        let user = self.store.user_by_id(user_id).await.map_err(|error| {
            tracing::warn!(%error, "user store unavailable: refusing the request");
            AuthError::Unavailable
        })?;
        let state = user.map(|user| {
            Arc::new(AccountState {
                roles: user.roles.into(),
                email: user.email,
                disabled: user.disabled,
            })
        });
        self.cache.fill(user_id.into(), state.clone(), ticket);
        Ok(state)
    }

    /// Forgets the account's state after a change to it in the store.
    pub(crate) fn changed(&self, user_id: &str) {
        self.cache.invalidate(user_id);
    }
}

/// Whether a credential made at `issued_at_us` by an account in `state`, whose revoked-before
/// cutoff is `cutoff`, may still be used: the account exists, is enabled, and the credential was
/// made at or after the cutoff. Returns the account's live roles.
pub(crate) fn usable(
    state: &Entry,
    cutoff: Option<i64>,
    issued_at_us: i64,
) -> Option<Arc<[String]>> {
    let state = state.as_ref()?;
    let revoked = cutoff.is_some_and(|cutoff| issued_at_us < cutoff);
    (!state.disabled && !revoked).then(|| state.roles.clone())
}
