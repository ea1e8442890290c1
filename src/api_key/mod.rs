//! API keys: issued, shown once, stored as a SHA-256 digest with a display prefix, checked in
//! constant time, cached, revocable at once, with last-use times written in batches.
//!
//! A key reads `<prefix><id>_<secret>`: a readable prefix (`pk_live_` by default, so secret
//! scanners and people recognise one), a 16-hex-digit public id (what lists and the management
//! routes show), and 256 random bits in base64url. Only `SHA-256(whole key)` is stored. A check
//! finds the record by its public id and compares digests in constant time, so neither the store
//! look-up nor the comparison tells an attacker how much of a guess was right.
//!
//! Keys can also come from configuration ([`StaticKey`]): given as `sha256:<hex>` (the digest of
//! the key) or `$env:VAR` (read once at start-up, kept only as its digest).
//!
//! Nothing of a presented key, not even its prefix, is ever logged: refusals log their reason only.
//!
//! A key never outlives its owner's standing: with [`KeyOwners`] configured (the built-in
//! [`Identity`](crate::identity::Identity) is one), every request made with a key asks for the
//! owner's live state (cached for a few seconds, voided by every change made through the
//! identity): a disabled or deleted owner's keys are refused, keys made before the owner's
//! revoked-before cutoff (logout-all, a password change, disabling) are refused, and a key grants
//! only the roles it was given that its owner *still* holds, so demoting the owner demotes their
//! keys at once. A key created after a password change keeps working.
//!
//! Bounds: at most [`MAX_ROLES`] roles and [`MAX_SCOPES`] scopes of at most [`MAX_ITEM_BYTES`]
//! each (duplicates removed), at most [`DEFAULT_MAX_KEYS_PER_OWNER`] live keys per owner
//! (checked atomically by the store), and the validated-key cache is bounded in bytes.

mod routes;
mod strategy;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

pub use routes::ManageApiKeys;
pub use strategy::ApiKeyStrategy;

use arc_swap::ArcSwapOption;

use crate::clock::{self, Clock};
use crate::context::{AuthMethod, UserContext};
use crate::error::{AuthError, TokenRejection};
use crate::fresh_cache::FreshCache;
use crate::future::MaybeReady;
use crate::secret::{self, Tag, Tagger};
use crate::store::{ApiKeyRecord, ApiKeyStore, StoreError};

/// Default prefix of generated keys.
pub const DEFAULT_PREFIX: &str = "pk_live_";
/// Length of the public id (hex digits).
pub const ID_LEN: usize = 16;
/// Length of the secret part (base64url of 32 bytes).
pub const SECRET_LEN: usize = 43;
/// Longest key accepted from a request, in bytes; checked before anything else.
pub const MAX_KEY_BYTES: usize = 256;
/// Longest name a key may be given.
pub const MAX_NAME_CHARS: usize = 100;
/// Most roles a key may carry.
pub const MAX_ROLES: usize = 32;
/// Most scopes a key may carry.
pub const MAX_SCOPES: usize = 32;
/// Longest role or scope name, in bytes.
pub const MAX_ITEM_BYTES: usize = 128;
/// Default most live (unrevoked, unexpired) keys one owner may hold.
pub const DEFAULT_MAX_KEYS_PER_OWNER: u32 = 100;
/// Default bound of the validated-key cache, in bytes.
pub const DEFAULT_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// The live standing of key owners, asked on every request made with a stored key.
///
/// `roles` answers with the roles the owner holds now when a key made at `created_at_us`
/// (microseconds since the epoch) may still act for them, and `None` when it may not (the owner
/// is disabled, deleted, or revoked everything after the key was made).
pub trait KeyOwners: Send + Sync + 'static {
    /// The answer when it is known without I/O.
    fn cached_roles(&self, owner: &str, created_at_us: i64) -> Option<Option<Arc<[String]>>>;
    /// The answer, asking a store when needed; [`AuthError::Unavailable`] when it cannot.
    fn roles<'a>(
        &'a self,
        owner: &'a str,
        created_at_us: i64,
    ) -> MaybeReady<'a, Result<Option<Arc<[String]>>, AuthError>>;
}

/// Checks a caller-supplied list of roles or scopes: at most `max` items of at most
/// [`MAX_ITEM_BYTES`] printable bytes each; duplicates are dropped, first occurrence kept.
fn bounded_list(
    items: Vec<String>,
    max: usize,
    field: &'static str,
) -> Result<Vec<String>, ApiKeyError> {
    let invalid = |message: String| ApiKeyError::InvalidInput { field, message };
    let mut out: Vec<String> = Vec::with_capacity(items.len().min(max));
    for item in items {
        if item.is_empty()
            || item.len() > MAX_ITEM_BYTES
            || item.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(invalid(format!(
                "each entry must be 1 to {MAX_ITEM_BYTES} bytes without spaces"
            )));
        }
        if !out.contains(&item) {
            if out.len() == max {
                return Err(invalid(format!("at most {max} distinct entries")));
            }
            out.push(item);
        }
    }
    Ok(out)
}

/// Why a key could not be created, listed or revoked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// A request field is malformed.
    #[error("{field}: {message}")]
    InvalidInput {
        /// The field at fault.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The caller may not do this (for example give a key a role they do not hold).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The owner already holds the most live keys allowed.
    #[error("too many API keys: revoke one first")]
    TooMany,
    /// No such key (or not the caller's).
    #[error("no such API key")]
    NotFound,
    /// The store or the random source cannot answer.
    #[error("temporarily unavailable")]
    Unavailable,
}

impl From<StoreError> for ApiKeyError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(_) => Self::NotFound,
            StoreError::Conflict("api key limit") => Self::TooMany,
            other => {
                tracing::warn!(error = %other, "API key store error");
                Self::Unavailable
            }
        }
    }
}

/// A key configured outside the store (a deploy secret for a service).
#[derive(Clone)]
pub struct StaticKey {
    name: String,
    digest: [u8; 32],
    roles: Vec<String>,
    scopes: Vec<String>,
    tenant: Option<String>,
}

impl std::fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticKey")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl StaticKey {
    fn context(&self) -> UserContext {
        let mut ctx = UserContext::new(format!("service:{}", self.name), AuthMethod::ApiKey)
            .with_roles(self.roles.iter().cloned())
            .with_scopes(self.scopes.iter().cloned());
        if let Some(tenant) = &self.tenant {
            ctx = ctx.with_tenant(tenant.clone());
        }
        ctx
    }

    /// A static key for the service `name` from `sha256:<64 hex digits>` (the digest of the key)
    /// or `$env:VAR` (the key itself, read from the environment now and kept only as its digest).
    ///
    /// ```
    /// use portcullis::api_key::StaticKey;
    ///
    /// let key = StaticKey::parse("billing", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")?
    ///     .roles(["viewer"]);
    /// assert!(StaticKey::parse("billing", "plain-text-key").is_err());
    /// # Ok::<(), portcullis::api_key::ApiKeyError>(())
    /// ```
    pub fn parse(name: &str, spec: &str) -> Result<Self, ApiKeyError> {
        let invalid = |message: &str| ApiKeyError::InvalidInput {
            field: "static_key",
            message: message.into(),
        };
        let digest = if let Some(hex) = spec.strip_prefix("sha256:") {
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid("sha256: must be followed by 64 hex digits"));
            }
            let mut out = [0u8; 32];
            for (i, byte) in out.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                    .map_err(|_| invalid("bad hex"))?;
            }
            out
        } else if let Some(var) = spec.strip_prefix("$env:") {
            let key =
                std::env::var(var).map_err(|_| invalid("the environment variable is not set"))?;
            if key.is_empty() || key.len() > MAX_KEY_BYTES {
                return Err(invalid("the key must be 1 to 256 bytes"));
            }
            secret::digest(&key)
        } else {
            return Err(invalid(
                "give the key as sha256:<hex> or $env:VAR, never in clear text",
            ));
        };
        Ok(Self {
            name: name.to_owned(),
            digest,
            roles: Vec::new(),
            scopes: Vec::new(),
            tenant: None,
        })
    }

    /// The roles the key grants.
    pub fn roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// The scopes the key carries.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Confines the key to a tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }
}

/// What to create.
#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    /// A name for the owner's list.
    pub name: String,
    /// Roles (must be a subset of the creator's when a user creates it).
    pub roles: Vec<String>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Tenant confinement.
    pub tenant: Option<String>,
    /// Lifetime; `None` for a key that does not expire.
    pub expires_in: Option<Duration>,
}

/// A key as the API shows it: never its secret.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyView {
    /// The public id.
    pub id: String,
    /// The display prefix.
    pub display_prefix: String,
    /// The owner.
    pub owner: String,
    /// The name.
    pub name: String,
    /// The roles.
    pub roles: Vec<String>,
    /// The scopes.
    pub scopes: Vec<String>,
    /// The tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Created at (seconds since the epoch).
    pub created_at: i64,
    /// Expires at.
    pub expires_at: Option<i64>,
    /// Revoked at.
    pub revoked_at: Option<i64>,
    /// Last used at (up to a flush interval behind).
    pub last_used_at: Option<i64>,
}

impl From<&ApiKeyRecord> for ApiKeyView {
    fn from(r: &ApiKeyRecord) -> Self {
        Self {
            id: r.id.clone(),
            display_prefix: r.display_prefix.clone(),
            owner: r.owner.clone(),
            name: r.name.clone(),
            roles: r.roles.clone(),
            scopes: r.scopes.clone(),
            tenant: r.tenant.clone(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
        }
    }
}

/// A freshly created key: the only time its secret is seen.
#[derive(Clone, Serialize)]
pub struct CreatedApiKey {
    /// The whole key: show it once, then forget it.
    pub key: String,
    /// Everything else.
    #[serde(flatten)]
    pub view: ApiKeyView,
}

impl std::fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("view", &self.view)
            .finish_non_exhaustive()
    }
}

/// The API-key service over a store: creation, checks, listing, revocation.
pub struct ApiKeys<S> {
    store: S,
    prefix: String,
    /// Each static key's digest with the context it authenticates as, built once.
    statics: Vec<([u8; 32], UserContext)>,
    cache: FreshCache<Box<str>, Arc<CheckedKey>>,
    /// Tags the key each cached record was matched with, so a key in steady use is recognised
    /// without a SHA-256 per request; `None` (no randomness) means every request digests.
    tagger: Option<Tagger>,
    pending_uses: Mutex<HashMap<String, i64>>,
    owners: Option<Arc<dyn KeyOwners>>,
    max_keys_per_owner: u32,
    clock: Clock,
    /// Where revocations are told to the other instances, once shared.
    changes: std::sync::OnceLock<crate::cluster::ChangeFeed>,
}

/// A stored key that was found and checked once: its record, the context it authenticates as
/// (built once, handed out for the cost of a reference count), and its last use.
struct CheckedKey {
    record: ApiKeyRecord,
    /// The tag of the presented key whose digest matched the record's (see `secret::Tagger`):
    /// a later presentation with the same tag is the same key. The key itself is not kept.
    tag: Option<Tag>,
    context: UserContext,
    /// The context as the owner's live roles last shaped it, keyed by the very roles list it was
    /// made from (the owner cache hands out the same `Arc` until the owner changes), so a key in
    /// steady use builds no context per request.
    owned: ArcSwapOption<(Arc<[String]>, UserContext)>,
    /// The second it was last used, so a key in use reaches the shared last-use map (and its
    /// lock) at most once a second rather than on every request.
    last_use: AtomicI64,
}

#[allow(clippy::borrowed_box)] // the cache's weigher takes `&K`
fn weigh_key(id: &Box<str>, key: &Arc<CheckedKey>) -> u32 {
    let r = &key.record;
    let lists: usize = r.roles.iter().chain(&r.scopes).map(|s| s.len() + 24).sum();
    // The record, and the context built from it, hold the lists twice.
    let bytes = id.len() + r.owner.len() * 2 + r.name.len() + r.display_prefix.len() + 2 * lists;
    u32::try_from(bytes + 512).unwrap_or(u32::MAX)
}

impl<S> std::fmt::Debug for ApiKeys<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("prefix", &self.prefix)
            .field("statics", &self.statics.len())
            .finish()
    }
}

/// How long a validated key stays cached (a revocation through this process is immediate; one
/// made elsewhere is seen within this time).
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);

impl<S: ApiKeyStore + Clone + 'static> ApiKeys<S> {
    /// The service with the default prefix and no static keys.
    pub fn new(store: S) -> Arc<Self> {
        Self::builder(store).build()
    }

    /// A builder.
    pub fn builder(store: S) -> ApiKeysBuilder<S> {
        ApiKeysBuilder {
            store,
            prefix: DEFAULT_PREFIX.into(),
            statics: Vec::new(),
            ttl: DEFAULT_CACHE_TTL,
            owners: None,
            max_keys_per_owner: DEFAULT_MAX_KEYS_PER_OWNER,
            clock: Clock::system(),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Creates a key for `owner` and returns it, the only time its secret is seen.
    pub async fn create(&self, owner: &str, new: NewApiKey) -> Result<CreatedApiKey, ApiKeyError> {
        let name = new.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(ApiKeyError::InvalidInput {
                field: "name",
                message: "1 to 100 printable characters".into(),
            });
        }
        let roles = bounded_list(new.roles, MAX_ROLES, "roles")?;
        let scopes = bounded_list(new.scopes, MAX_SCOPES, "scopes")?;
        let id = secret::random_hex::<{ ID_LEN / 2 }>().map_err(|_| ApiKeyError::Unavailable)?;
        let issued = secret::issue(&format!("{}{id}_", self.prefix))
            .map_err(|_| ApiKeyError::Unavailable)?;
        let created_at = self.clock.now();
        let record = ApiKeyRecord {
            digest: issued.digest,
            display_prefix: format!("{}{id}", self.prefix),
            id,
            owner: owner.to_owned(),
            name: name.to_owned(),
            roles,
            scopes,
            tenant: new.tenant,
            created_at,
            // Ordered against the owner's revoked-before cutoff, which is on the system clock.
            created_at_us: clock::system_now_us(),
            expires_at: new
                .expires_in
                .map(|d| created_at.saturating_add(d.as_secs() as i64)),
            revoked_at: None,
            last_used_at: None,
        };
        self.store
            .insert_api_key(&record, self.max_keys_per_owner)
            .await?;
        Ok(CreatedApiKey {
            key: issued.secret,
            view: ApiKeyView::from(&record),
        })
    }

    /// The keys of `owner`.
    pub async fn list(&self, owner: &str) -> Result<Vec<ApiKeyView>, ApiKeyError> {
        Ok(self
            .store
            .api_keys_of(owner)
            .await?
            .iter()
            .map(ApiKeyView::from)
            .collect())
    }

    /// Every key, a page at a time (for administrators).
    pub async fn list_all(&self, limit: u32, offset: u32) -> Result<Vec<ApiKeyView>, ApiKeyError> {
        Ok(self
            .store
            .all_api_keys(limit.min(500), offset)
            .await?
            .iter()
            .map(ApiKeyView::from)
            .collect())
    }

    /// Revokes a key; when `owner` is given, only that owner's key (another's is "not found").
    /// Takes effect at once in this process, and in the others as soon as they hear of it when
    /// they [share changes](Self::share_changes).
    pub async fn revoke(&self, id: &str, owner: Option<&str>) -> Result<(), ApiKeyError> {
        if let Some(owner) = owner {
            match self.store.api_key(id).await? {
                Some(key) if key.owner == owner => {}
                _ => return Err(ApiKeyError::NotFound),
            }
        }
        self.store.revoke_api_key(id, self.clock.now()).await?;
        self.cache.invalidate(id);
        let change = crate::cluster::Change::ApiKeyChanged { id: id.into() };
        crate::cluster::publish_in(&self.changes, change).await;
        Ok(())
    }

    /// Shares revocations with the other instances through `feed` (see `cluster`): a key
    /// revoked elsewhere is forgotten here as soon as the feed delivers it (everything is, when
    /// the feed may have missed a change), and one revoked here is published once the store has
    /// it. A service shares through one feed; a second call is ignored.
    pub fn share_changes(self: &Arc<Self>, feed: &crate::cluster::ChangeFeed)
    where
        S: 'static,
    {
        use crate::cluster::Change;
        crate::cluster::join(&self.changes, feed, self, |keys, change| match change {
            Change::ApiKeyChanged { id } => keys.cache.invalidate(id.as_str()),
            Change::Everything => keys.cache.clear(),
            _ => {}
        });
    }

    /// Writes the pending last-use times in one batch. Called by [`spawn_flusher`](Self::spawn_flusher).
    pub async fn flush_last_used(&self) -> Result<usize, ApiKeyError> {
        let batch: Vec<(String, i64)> = {
            let mut pending = self.pending_uses.lock().unwrap_or_else(|p| p.into_inner());
            pending.drain().collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        self.store.record_api_key_use(&batch).await?;
        Ok(batch.len())
    }

    /// Flushes last-use times every `every` on a background task (until the service is dropped).
    pub fn spawn_flusher(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(keys) = weak.upgrade() else { return };
                if let Err(error) = keys.flush_last_used().await {
                    tracing::warn!(%error, "could not write API key last-use times; keeping them for the next try");
                }
            }
        })
    }

    fn parse<'k>(&self, key: &'k str) -> Option<&'k str> {
        let rest = key.strip_prefix(self.prefix.as_str())?;
        if rest.len() != ID_LEN + 1 + SECRET_LEN {
            return None;
        }
        // Checked: the length test above counts bytes, and a query string may carry non-ASCII.
        let (id, secret) = rest.split_at_checked(ID_LEN)?;
        let secret = secret.strip_prefix('_')?;
        let shaped = secret::all_in(&secret::LOWER_HEX, id.as_bytes())
            && secret::all_in(&secret::BASE64URL, secret.as_bytes());
        shaped.then_some(id)
    }

    fn context_of(&self, record: &ApiKeyRecord) -> UserContext {
        let mut ctx = UserContext::new(record.owner.clone(), AuthMethod::ApiKey)
            .with_roles(record.roles.iter().cloned())
            .with_scopes(record.scopes.iter().cloned())
            .with_token_id(record.id.clone());
        if let Some(tenant) = &record.tenant {
            ctx = ctx.with_tenant(tenant.clone());
        }
        if let Some(exp) = record.expires_at {
            ctx = ctx.with_expiry(exp.max(0) as u64);
        }
        ctx
    }

    /// Whether `presented` is the key of a record checked before: by its tag when the record
    /// has one (the same key always has the same tag), else by its digest; in constant time.
    fn is_key_of(&self, key: &CheckedKey, presented: &str) -> bool {
        match (&self.tagger, key.tag) {
            (Some(tagger), Some(tag)) => secret::tags_match(tagger.tag(presented.as_bytes()), tag),
            _ => secret::digests_match(&key.record.digest, &secret::digest(presented)),
        }
    }

    /// The checks a stored key passes on its own: it is the key presented (in constant time),
    /// unrevoked and unexpired.
    fn judge(&self, key: &CheckedKey, presented: &str) -> Result<(), AuthError> {
        let record = &key.record;
        if !self.is_key_of(key, presented) {
            return Err(AuthError::InvalidToken(TokenRejection::BadSignature));
        }
        if record.revoked_at.is_some() {
            return Err(AuthError::InvalidToken(TokenRejection::Revoked));
        }
        if record.expires_at.is_some_and(|at| at <= self.clock.now()) {
            return Err(AuthError::InvalidToken(TokenRejection::Expired));
        }
        Ok(())
    }

    /// The context a judged key authenticates as, given its owner's standing (`None` when no
    /// [`KeyOwners`] is configured), and its use recorded.
    fn admit(
        &self,
        key: &CheckedKey,
        owner: Option<Option<Arc<[String]>>>,
    ) -> Result<UserContext, AuthError> {
        let context = match owner {
            None => key.context.clone(),
            Some(None) => return Err(AuthError::InvalidToken(TokenRejection::Revoked)),
            Some(Some(live)) => self.owned_context(key, live),
        };
        let now = self.clock.now();
        if key.last_use.swap(now, Ordering::Relaxed) != now {
            self.pending_uses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.record.id.clone(), now);
        }
        Ok(context)
    }

    /// The key's roles that its owner still holds, as a context (built once per owner state).
    fn owned_context(&self, key: &CheckedKey, live: Arc<[String]>) -> UserContext {
        if let Some(memo) = key.owned.load().as_ref()
            && Arc::ptr_eq(&memo.0, &live)
        {
            return memo.1.clone();
        }
        let mut record = key.record.clone();
        record.roles.retain(|role| live.contains(role));
        let context = self.context_of(&record);
        key.owned.store(Some(Arc::new((live, context.clone()))));
        context
    }

    /// A record from the store as the cache keeps it, once `presented` matched its digest (in
    /// constant time): only then is the presented key's tag taken, so a tag always stands for
    /// the record's own key.
    fn checked(&self, record: ApiKeyRecord, presented: &str) -> Result<CheckedKey, AuthError> {
        if !secret::digests_match(&record.digest, &secret::digest(presented)) {
            return Err(AuthError::InvalidToken(TokenRejection::BadSignature));
        }
        Ok(CheckedKey {
            tag: self.tagger.as_ref().map(|t| t.tag(presented.as_bytes())),
            context: self.context_of(&record),
            record,
            owned: ArcSwapOption::empty(),
            last_use: AtomicI64::new(0),
        })
    }

    fn static_match(&self, presented: &[u8; 32]) -> Option<UserContext> {
        // Compare against every static key, without stopping early, in constant time each.
        let mut found = None;
        for (digest, context) in &self.statics {
            if secret::digests_match(digest, presented) {
                found = Some(context);
            }
        }
        found.cloned()
    }

    /// Checks a presented key: `Ok(context)`, or the refusal. Answers from the cache when it can.
    pub(crate) fn check_cached(&self, key: &str) -> Option<Result<UserContext, AuthError>> {
        if key.len() > MAX_KEY_BYTES {
            return Some(Err(AuthError::InvalidToken(TokenRejection::TooLarge)));
        }
        // Static keys first, whatever their shape: one that happens to read like a generated
        // key must not be sent to the store and refused there. (They are few and given as
        // digests, so only a service that has some pays for a digest here.)
        if !self.statics.is_empty()
            && let Some(ctx) = self.static_match(&secret::digest(key))
        {
            return Some(Ok(ctx));
        }
        let Some(id) = self.parse(key) else {
            return Some(Err(AuthError::InvalidToken(TokenRejection::Malformed)));
        };
        let checked = self.cache.get(id)?;
        if let Err(refused) = self.judge(&checked, key) {
            return Some(Err(refused));
        }
        let owner = match &self.owners {
            None => None,
            Some(owners) => {
                Some(owners.cached_roles(&checked.record.owner, checked.record.created_at_us)?)
            }
        };
        Some(self.admit(&checked, owner))
    }

    /// Checks a presented key, asking the store on a cache miss; 503 when it cannot answer.
    pub(crate) async fn check(&self, key: &str) -> Result<UserContext, AuthError> {
        if let Some(answer) = self.check_cached(key) {
            return answer;
        }
        let id = self
            .parse(key)
            .ok_or(AuthError::InvalidToken(TokenRejection::Malformed))?;
        let checked = match self.cache.get(id) {
            Some(known) => {
                self.judge(&known, key)?;
                known
            }
            None => {
                let ticket = self.cache.ticket();
                let checked = match self.store.api_key(id).await {
                    Ok(Some(record)) => Arc::new(self.checked(record, key)?),
                    Ok(None) => return Err(AuthError::InvalidToken(TokenRejection::UnknownKey)),
                    Err(error) => {
                        tracing::warn!(%error, "API key store unavailable: refusing the request");
                        return Err(AuthError::Unavailable);
                    }
                };
                self.judge(&checked, key)?;
                // Only keys that passed are remembered; a revocation racing this fill voids it.
                self.cache.fill(id.into(), checked.clone(), ticket);
                checked
            }
        };
        let owner = match &self.owners {
            None => None,
            Some(owners) => Some(
                owners
                    .roles(&checked.record.owner, checked.record.created_at_us)
                    .await?,
            ),
        };
        self.admit(&checked, owner)
    }
}

/// Builds [`ApiKeys`].
pub struct ApiKeysBuilder<S> {
    store: S,
    prefix: String,
    statics: Vec<StaticKey>,
    ttl: Duration,
    owners: Option<Arc<dyn KeyOwners>>,
    max_keys_per_owner: u32,
    clock: Clock,
}

impl<S> std::fmt::Debug for ApiKeysBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeysBuilder")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl<S: ApiKeyStore + Clone + 'static> ApiKeysBuilder<S> {
    /// The prefix of generated keys (`[a-z0-9_]`, 2 to 16 characters, ending in `_`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Result<Self, ApiKeyError> {
        let prefix = prefix.into();
        let ok = (2..=16).contains(&prefix.len())
            && prefix.ends_with('_')
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(ApiKeyError::InvalidInput {
                field: "prefix",
                message: "2 to 16 of [a-z0-9_], ending in _".into(),
            });
        }
        self.prefix = prefix;
        Ok(self)
    }

    /// Adds a static key.
    pub fn static_key(mut self, key: StaticKey) -> Self {
        self.statics.push(key);
        self
    }

    /// How long validated keys stay cached (default 30 s).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Asks `owners` for each key owner's live standing on every request (see the module docs).
    /// Give the built-in identity here when its users own the keys.
    pub fn owners(mut self, owners: Arc<dyn KeyOwners>) -> Self {
        self.owners = Some(owners);
        self
    }

    /// The clock that stamps creation, revocation and last use, and judges expiry (the crate's
    /// one [`Clock`]; give the identity's so both agree in tests that move time).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Most live keys one owner may hold (default [`DEFAULT_MAX_KEYS_PER_OWNER`]).
    pub fn max_keys_per_owner(mut self, max: u32) -> Self {
        self.max_keys_per_owner = max;
        self
    }

    /// Builds the service.
    pub fn build(self) -> Arc<ApiKeys<S>> {
        Arc::new(ApiKeys {
            store: self.store,
            prefix: self.prefix,
            statics: self
                .statics
                .into_iter()
                .map(|key| (key.digest, key.context()))
                .collect(),
            cache: FreshCache::new(DEFAULT_CACHE_BYTES, self.ttl, weigh_key),
            tagger: Tagger::new()
                .inspect_err(|error| {
                    tracing::warn!(%error, "API keys are digested on every request");
                })
                .ok(),
            pending_uses: Mutex::new(HashMap::new()),
            owners: self.owners,
            max_keys_per_owner: self.max_keys_per_owner,
            clock: self.clock,
            changes: std::sync::OnceLock::new(),
        })
    }
}
