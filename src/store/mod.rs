//! Storage: small async traits, one per concern, and a backend for each (`memory`, `sqlite`,
//! `postgres`).
//!
//! Engines take a store by trait, never by backend. The traits are deliberately narrow (a handful
//! of methods each) so that later capabilities join as new traits beside these rather than as
//! changes to them: the tenant role model's ([`roles`]: [`RoleStore`], [`AssignmentStore`],
//! [`ActionStore`]) did. One conformance suite
//! (`tests/conformance/mod.rs`, run by `tests/store_memory.rs`, `tests/store_sqlite.rs` and
//! `tests/store_postgres.rs`) runs against every backend.
//!
//! Times are seconds since the Unix epoch (`i64`), except the revoked-before cutoff, which is in
//! microseconds. Secrets never reach a store in the clear:
//! passwords arrive as argon2id PHC strings, refresh tokens as SHA-256 digests.

use std::fmt;
use std::future::Future;

pub mod acl;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod roles;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod sql;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_acl;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_roles;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use acl::{
    Access, AccessFacts, AccessFilter, AccessibleQuery, EntityStore, ExpectedOwner, Lineage,
    Registered, ResourceKey, ResourceRecord, ShareRecord, Visibility,
};
pub use memory::MemoryStore;
pub use roles::{
    ActionRecord, ActionStore, AssignmentFilter, AssignmentRecord, AssignmentStore, Grant,
    RoleFilter, RoleRecord, RoleStore, SubjectKind, TenantRoles,
};

/// What a store could not do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique key is taken (an e-mail address, a key id, a token digest).
    #[error("already exists: {0}")]
    Conflict(&'static str),
    /// The record to change does not exist.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The backend failed (connection, I/O, a constraint it should not have hit). The backend's
    /// own error is kept as the [source](std::error::Error::source), for logs; it never contains
    /// secrets, since none are bound in the clear.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] BackendError),
}

pub use crate::error::BackendError;

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// A user of the built-in identity.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserRecord {
    /// Stable random id (the token `sub`).
    pub id: String,
    /// The e-mail address, normalised (lower-cased): unique.
    pub email: String,
    /// The argon2id hash in PHC string format.
    pub password_hash: String,
    /// Role names.
    pub roles: Vec<String>,
    /// A disabled user cannot log in or refresh.
    pub disabled: bool,
    /// When the account was created.
    pub created_at: i64,
    /// When the password was last set.
    pub password_changed_at: i64,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("email", &"redacted")
            .field("password_hash", &"redacted")
            .field("roles", &self.roles)
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Users and their password hashes.
pub trait UserStore: Send + Sync {
    /// Creates a user; [`StoreError::Conflict`] when the e-mail address or id is taken.
    fn create_user(&self, user: &UserRecord) -> impl Future<Output = StoreResult<()>> + Send;
    /// The user with this normalised e-mail address.
    fn user_by_email(
        &self,
        email: &str,
    ) -> impl Future<Output = StoreResult<Option<UserRecord>>> + Send;
    /// The user with this id.
    fn user_by_id(&self, id: &str) -> impl Future<Output = StoreResult<Option<UserRecord>>> + Send;
    /// Replaces the password hash and sets `password_changed_at`.
    fn set_password_hash(
        &self,
        id: &str,
        hash: &str,
        changed_at: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Disables or re-enables a user.
    fn set_disabled(
        &self,
        id: &str,
        disabled: bool,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Replaces the user's roles; [`StoreError::NotFound`] when unknown.
    fn set_roles(&self, id: &str, roles: &[String])
    -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes the user and, in one transaction, every credential the store holds for them:
    /// refresh tokens, browser sessions, API keys they own and links to external identities.
    /// [`StoreError::NotFound`] when unknown. The revoked-before cutoff is kept: it is what
    /// refuses the access tokens already handed out.
    fn delete_user(&self, id: &str) -> impl Future<Output = StoreResult<()>> + Send;
}

/// One refresh token (stored as its SHA-256 digest) in a rotation family.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RefreshRecord {
    /// SHA-256 of the opaque token.
    pub digest: [u8; 32],
    /// The family: every token rotated from one login.
    pub family: String,
    /// The user.
    pub user_id: String,
    /// When this token was issued.
    pub issued_at: i64,
    /// Absolute expiry of the whole family (rotation never extends it).
    pub expires_at: i64,
}

impl fmt::Debug for RefreshRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshRecord")
            .field("family", &self.family)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What consuming a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumed {
    /// The token was unused and its family live: it is now spent, and this call owns the rotation.
    Fresh(RefreshRecord),
    /// The token was already spent: a replay. The caller revokes the family.
    Reused(RefreshRecord),
    /// The token's family was revoked (logout, reuse, password change).
    Revoked,
    /// The family is past its absolute expiry.
    Expired,
    /// No such token.
    Unknown,
}

/// Refresh-token families.
pub trait RefreshStore: Send + Sync {
    /// Stores a new, unused token.
    fn insert_refresh(
        &self,
        record: &RefreshRecord,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Atomically spends the token with this digest: of two concurrent calls exactly one sees
    /// [`Consumed::Fresh`].
    fn consume_refresh(
        &self,
        digest: &[u8; 32],
        now: i64,
    ) -> impl Future<Output = StoreResult<Consumed>> + Send;
    /// Revokes every token of a family.
    fn revoke_family(&self, family: &str) -> impl Future<Output = StoreResult<()>> + Send;
    /// Revokes every family of a user, except `keep` when given.
    fn revoke_user_families(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Drops tokens whose family expired at or before `now`, and the revocation marks of families
    /// with no token left; returns how many tokens went.
    fn purge_refresh(&self, now: i64) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// Access-token revocation: a `jti` denylist kept until the token would have expired anyway, and a
/// per-user "revoked before" cutoff.
pub trait RevocationStore: Send + Sync {
    /// Denies the token id until `expires_at`.
    fn revoke_token(
        &self,
        jti: &str,
        expires_at: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Whether the token id is denied.
    fn is_token_revoked(&self, jti: &str) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Tokens of this user issued before `at_us` (microseconds since the epoch: a cutoff and a
    /// token issued in the same second must still be ordered) are revoked; a later cutoff replaces
    /// an earlier one, an earlier one never replaces a later one.
    fn set_revoked_before(
        &self,
        user_id: &str,
        at_us: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The user's cutoff in microseconds, if any.
    fn revoked_before(
        &self,
        user_id: &str,
    ) -> impl Future<Output = StoreResult<Option<i64>>> + Send;
    /// Drops denylist entries whose tokens have expired; returns how many.
    fn purge_expired(&self, now: i64) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// Failed attempts for one throttling key (an account or a client address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Failures {
    /// Failures in the current window.
    pub count: u32,
    /// When the last one happened.
    pub last_at: i64,
}

/// Login-failure counters.
pub trait ThrottleStore: Send + Sync {
    /// Counts a failure at `now`; a key whose last failure is older than `window` seconds starts
    /// again from one. Returns the new state. Atomic under concurrency.
    fn record_failure(
        &self,
        key: &str,
        now: i64,
        window: i64,
    ) -> impl Future<Output = StoreResult<Failures>> + Send;
    /// The key's state, if it has failures.
    fn failures(&self, key: &str) -> impl Future<Output = StoreResult<Option<Failures>>> + Send;
    /// Forgets the key's failures (after a successful login).
    fn clear_failures(&self, key: &str) -> impl Future<Output = StoreResult<()>> + Send;
    /// Takes one failure back (an attempt counted before its password check, that then
    /// succeeded); never below zero. Atomic under concurrency.
    fn release_failure(&self, key: &str) -> impl Future<Output = StoreResult<()>> + Send;
    /// Drops the counters whose last failure is older than `before`; returns how many.
    fn purge_failures(&self, before: i64) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// A signing key as persisted.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StoredKey {
    /// The key id.
    pub kid: String,
    /// The JWS algorithm name (`EdDSA`, `ES256`, …).
    pub alg: String,
    /// The private key, PKCS#8 DER.
    pub private_der: Vec<u8>,
    /// When it was created.
    pub created_at: i64,
    /// When it stopped signing (it still verifies until its last token expires), if it has.
    pub retired_at: Option<i64>,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// The key ring's signing keys.
pub trait KeyStore: Send + Sync {
    /// Saves a new key; [`StoreError::Conflict`] when the id is taken.
    fn insert_key(&self, key: &StoredKey) -> impl Future<Output = StoreResult<()>> + Send;
    /// Every key, oldest first.
    fn keys(&self) -> impl Future<Output = StoreResult<Vec<StoredKey>>> + Send;
    /// Marks a key as no longer signing.
    fn retire_key(&self, kid: &str, at: i64) -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes a key (after its last token has expired).
    fn delete_key(&self, kid: &str) -> impl Future<Output = StoreResult<()>> + Send;
}

/// An API key as stored: its public id, the SHA-256 digest of the whole key, and what it grants.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiKeyRecord {
    /// The public part of the key (also its id in management routes).
    pub id: String,
    /// SHA-256 of the whole key.
    pub digest: [u8; 32],
    /// What lists may show of the key (`pk_live_<id>`): never any of its secret part.
    pub display_prefix: String,
    /// The user or service the key acts for (the context's subject).
    pub owner: String,
    /// A name its owner chose.
    pub name: String,
    /// Roles the key grants.
    pub roles: Vec<String>,
    /// OAuth-style scopes the key carries.
    pub scopes: Vec<String>,
    /// The tenant the key is confined to, if any.
    pub tenant: Option<String>,
    /// When it was created.
    pub created_at: i64,
    /// When it was created, in microseconds (ordered against the owner's revoked-before cutoff,
    /// which ends keys made before a logout-all or a password change).
    pub created_at_us: i64,
    /// When it stops working, if it does.
    pub expires_at: Option<i64>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// When it was last used (written in batches, so up to a flush interval behind).
    pub last_used_at: Option<i64>,
}

impl fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("name", &self.name)
            .field("roles", &self.roles)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// API keys.
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key unless its owner already has `max_live` keys that are neither revoked
    /// nor expired at `key.created_at` ([`StoreError::Conflict`]`("api key limit")`), checked
    /// and inserted atomically, so concurrent creations cannot pass the cap together;
    /// [`StoreError::Conflict`] too when the id is taken.
    fn insert_api_key(
        &self,
        key: &ApiKeyRecord,
        max_live: u32,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The key with this public id.
    fn api_key(&self, id: &str) -> impl Future<Output = StoreResult<Option<ApiKeyRecord>>> + Send;
    /// The keys of one owner, oldest first.
    fn api_keys_of(
        &self,
        owner: &str,
    ) -> impl Future<Output = StoreResult<Vec<ApiKeyRecord>>> + Send;
    /// Every key, oldest first, a page at a time.
    fn all_api_keys(
        &self,
        limit: u32,
        offset: u32,
    ) -> impl Future<Output = StoreResult<Vec<ApiKeyRecord>>> + Send;
    /// Revokes a key (the first revocation time is kept); [`StoreError::NotFound`] when unknown.
    fn revoke_api_key(&self, id: &str, at: i64) -> impl Future<Output = StoreResult<()>> + Send;
    /// Records last-use times in one batch; a time never moves backwards; unknown ids are ignored.
    fn record_api_key_use(
        &self,
        uses: &[(String, i64)],
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// A browser session as stored.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionRecord {
    /// SHA-256 of the cookie's token.
    pub digest: [u8; 32],
    /// The user.
    pub user_id: String,
    /// The user's e-mail address at login.
    pub email: String,
    /// The user's roles at login.
    pub roles: Vec<String>,
    /// When the session began, in microseconds (ordered against revoked-before cutoffs).
    pub created_at_us: i64,
    /// When it was last seen (written at most once a minute per session).
    pub last_seen_at: i64,
    /// Absolute expiry.
    pub expires_at: i64,
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Browser sessions.
pub trait SessionStore: Send + Sync {
    /// Stores a new session.
    fn insert_session(
        &self,
        session: &SessionRecord,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The session with this digest.
    fn session(
        &self,
        digest: &[u8; 32],
    ) -> impl Future<Output = StoreResult<Option<SessionRecord>>> + Send;
    /// Moves the session's last-seen time forward (never back); [`StoreError::NotFound`] when
    /// there is no such session (it ended: logged out, here or on another instance).
    fn touch_session(
        &self,
        digest: &[u8; 32],
        at: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes a session (logout); deleting an unknown one is not an error.
    fn delete_session(&self, digest: &[u8; 32]) -> impl Future<Output = StoreResult<()>> + Send;
    /// Drops sessions past their absolute expiry (`expires_at <= now`) or idle since
    /// `idle_before` (`last_seen_at <= idle_before`); returns how many.
    fn purge_sessions(
        &self,
        now: i64,
        idle_before: i64,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// Links between accounts at external OpenID providers, identified by (issuer, subject), and
/// local users.
pub trait ExternalIdentityStore: Send + Sync {
    /// Links (issuer, subject) to a user; [`StoreError::Conflict`] when already linked.
    fn link_external(
        &self,
        issuer: &str,
        subject: &str,
        user_id: &str,
        at: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The user linked to (issuer, subject).
    fn linked_user(
        &self,
        issuer: &str,
        subject: &str,
    ) -> impl Future<Output = StoreResult<Option<String>>> + Send;
}

/// Everything the built-in identity needs, from one backend.
pub trait Store:
    UserStore + RefreshStore + RevocationStore + ThrottleStore + KeyStore + Clone + 'static
{
}

impl<T> Store for T where
    T: UserStore + RefreshStore + RevocationStore + ThrottleStore + KeyStore + Clone + 'static
{
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_error_keeps_its_source() {
        let io = std::io::Error::other("disk on fire");
        let error = StoreError::Unavailable(BackendError::new("database", io));
        assert_eq!(
            error.to_string(),
            "store unavailable: database: disk on fire"
        );
        let backend = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(backend.as_deref(), Some("database: disk on fire"));
        let driver = std::error::Error::source(&error)
            .and_then(std::error::Error::source)
            .map(ToString::to_string);
        assert_eq!(
            driver.as_deref(),
            Some("disk on fire"),
            "the driver's own error"
        );
    }
}
