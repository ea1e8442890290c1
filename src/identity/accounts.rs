//! The live state of built-in identity accounts, as long-lived credentials must see it.
//!
//! Browser sessions (12 hours) and API keys (months) must not freeze what their owner could do
//! when they were made: a demoted user would keep the old rights, a disabled or deleted one would
//! keep access. So every request made with one resolves its owner here: the owner's current
//! roles, whether the account is disabled or gone, and the owner's revoked-before cutoff (which
//! ends every credential made before a logout-all, a password change or a disable). Answers are
//! cached (a few seconds, bounded in bytes); every change made through the identity voids the
//! cached answer before it returns, and fills that read the store before that change can never
//! land on top of it (see `fresh_cache`). Access tokens are read the same way
//! ([`IdentityBearer`](super::IdentityBearer)): they act with the account's roles as they are
//! now, not the ones they were issued with; disabling and deleting end them at once through
//! the cutoff.

use std::sync::Arc;
use std::time::Duration;

use super::*;
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

#[allow(clippy::borrowed_box)] // the cache's weigher takes `&K`
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
    changes: std::sync::OnceLock<crate::cluster::ChangeFeed>,
}

impl<S: UserStore> Accounts<S> {
    pub(crate) fn new(store: S) -> Self {
        Self {
            store,
            cache: FreshCache::new(ACCOUNT_CACHE_BYTES, ACCOUNT_STATE_TTL, weigh),
            changes: std::sync::OnceLock::new(),
        }
    }

    /// Forgets accounts other instances changed, as `feed` delivers them, and publishes the
    /// changes made here (see `cluster`).
    pub(crate) fn share_changes(self: &Arc<Self>, feed: &crate::cluster::ChangeFeed)
    where
        S: 'static,
    {
        use crate::cluster::Change;
        crate::cluster::join(&self.changes, feed, self, |accounts, change| match change {
            Change::SubjectChanged { subject } => accounts.cache.invalidate(subject.as_str()),
            Change::Everything => accounts.cache.clear(),
            _ => {}
        });
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
            // Sorted as a context keeps them, so a token's roles compare equal at a glance.
            let mut roles = user.roles;
            roles.sort_unstable();
            roles.dedup();
            Arc::new(AccountState {
                roles: roles.into(),
                email: user.email,
                disabled: user.disabled,
            })
        });
        self.cache.fill(user_id.into(), state.clone(), ticket);
        Ok(state)
    }

    /// Forgets the account's state after a change to it in the store, here and, when the
    /// instances share their changes, everywhere.
    pub(crate) async fn changed(&self, user_id: &str) {
        self.cache.invalidate(user_id);
        let change = crate::cluster::Change::SubjectChanged {
            subject: user_id.into(),
        };
        crate::cluster::publish_in(&self.changes, change).await;
    }
}

/// Most roles an account may hold.
pub const MAX_ACCOUNT_ROLES: usize = 64;

/// Checks roles given for an account: at most [`MAX_ACCOUNT_ROLES`], each a valid role name of at
/// most [`MAX_ROLE_NAME_LEN`](crate::rbac::MAX_ROLE_NAME_LEN) bytes; duplicates dropped.
fn checked_roles(roles: &[String]) -> Result<Vec<String>, IdentityError> {
    let invalid = |message: String| IdentityError::InvalidInput {
        field: "roles",
        message,
    };
    let mut out: Vec<String> = Vec::with_capacity(roles.len().min(MAX_ACCOUNT_ROLES));
    for role in roles {
        if crate::rbac::check_role_name(role).is_err() {
            return Err(invalid(format!(
                "each role must be 1 to {} of [A-Za-z0-9._:-]",
                crate::rbac::MAX_ROLE_NAME_LEN
            )));
        }
        if !out.contains(role) {
            if out.len() == MAX_ACCOUNT_ROLES {
                return Err(invalid(format!("at most {MAX_ACCOUNT_ROLES} roles")));
            }
            out.push(role.clone());
        }
    }
    Ok(out)
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

impl<S: Store> super::Identity<S> {
    /// Registers a user with the default roles.
    pub async fn register(&self, email: &str, password: &str) -> Result<Account, IdentityError> {
        self.register_with_roles(email, password, &self.config.default_roles)
            .await
    }

    /// Registers a user with the given roles (for seeding accounts).
    pub async fn register_with_roles(
        &self,
        email: &str,
        password: &str,
        roles: &[String],
    ) -> Result<Account, IdentityError> {
        // Sizes and rules first: nothing is hashed for input that will be refused.
        self.config
            .policy
            .check_for(password, &[email])
            .map_err(|e| policy_error(e, "password"))?;
        let email = normalize_email(email)?;
        let roles = checked_roles(roles)?;
        if self.store.user_by_email(&email).await?.is_some() {
            return Err(IdentityError::EmailTaken);
        }
        let hash = self.hasher.hash(password.to_owned()).await?;
        let user = self.create_account(email, hash, roles).await?;
        Ok(Account {
            id: user.id,
            email: user.email,
            roles: user.roles,
        })
    }

    /// The one way an account comes to be (registration, seeding, a first OpenID sign-in): a
    /// fresh random id, the clock's time, the given normalised address, password hash (or
    /// [`PasswordHasher::NO_PASSWORD`]) and checked roles.
    pub(crate) async fn create_account(
        &self,
        email: String,
        password_hash: String,
        roles: Vec<String>,
    ) -> Result<UserRecord, IdentityError> {
        let now = self.now();
        let user = UserRecord {
            // A UUID: the id other systems (Sentinel's SDK among them) parse.
            id: secret::random_uuid()?,
            email,
            password_hash,
            roles,
            disabled: false,
            created_at: now,
            password_changed_at: now,
        };
        match self.store.create_user(&user).await {
            Ok(()) => Ok(user),
            Err(StoreError::Conflict("email")) => Err(IdentityError::EmailTaken),
            Err(other) => Err(other.into()),
        }
    }

    /// Disables (or re-enables) a user; disabling ends every credential at once (access tokens,
    /// refresh families, browser sessions, API keys), and re-enabling brings none of them back.
    pub async fn set_disabled(&self, user_id: &str, disabled: bool) -> Result<(), IdentityError> {
        self.store.set_disabled(user_id, disabled).await?;
        self.accounts.changed(user_id).await;
        if disabled {
            self.logout_all(user_id).await?;
        }
        Ok(())
    }

    /// Replaces a user's roles. Access tokens, browser sessions and API keys act with the new
    /// roles from the next request on (in this process; in others within
    /// [`ACCOUNT_STATE_TTL`]).
    pub async fn set_roles(&self, user_id: &str, roles: &[String]) -> Result<(), IdentityError> {
        let roles = checked_roles(roles)?;
        match self.store.set_roles(user_id, &roles).await {
            Err(StoreError::NotFound(_)) => return Err(IdentityError::NotFound),
            other => other?,
        }
        self.accounts.changed(user_id).await;
        Ok(())
    }

    /// Deletes a user with every credential they hold: from the next request on, their access
    /// tokens, refresh tokens, browser sessions and API keys are refused. The revoked-before
    /// cutoff is set first (to the end of time, and kept after the user is gone), so even a
    /// deletion that fails half-way has already ended every credential.
    pub async fn delete_user(&self, user_id: &str) -> Result<(), IdentityError> {
        self.revocation.revoke_before(user_id, i64::MAX).await?;
        let deleted = self.store.delete_user(user_id).await;
        self.accounts.changed(user_id).await;
        match deleted {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound(_)) => Err(IdentityError::NotFound),
            Err(other) => Err(other.into()),
        }
    }

    /// The account's current state, from the cache or the store (`None`: no such account).
    pub async fn account(&self, user_id: &str) -> Result<Option<Arc<AccountState>>, IdentityError> {
        Ok(self.accounts.state(user_id).await?)
    }

    /// The roles a credential made at `issued_at_us` by `user_id` may act with now, or `None`
    /// when the account is gone, disabled, or revoked everything after the credential was made.
    pub(crate) async fn live_roles(
        &self,
        user_id: &str,
        issued_at_us: i64,
    ) -> Result<Option<Arc<[String]>>, crate::error::AuthError> {
        let state = self.accounts.state(user_id).await?;
        let cutoff = self.revocation.cutoff(user_id).await?;
        Ok(accounts::usable(&state, cutoff, issued_at_us))
    }

    pub(super) fn cached_live_roles(
        &self,
        user_id: &str,
        issued_at_us: i64,
    ) -> Option<Option<Arc<[String]>>> {
        let state = self.accounts.cached(user_id)?;
        let cutoff = self.revocation.cached_cutoff(user_id)?;
        Some(accounts::usable(&state, cutoff, issued_at_us))
    }
}
