//! The in-memory store: for tests, examples and single-process deployments that can lose
//! everything on restart. Each operation takes one short mutex section and never awaits inside it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

mod acl;
mod roles;

use super::{
    ApiKeyRecord, ApiKeyStore, Consumed, ExternalIdentityStore, Failures, KeyStore, RefreshRecord,
    RefreshStore, RevocationStore, SessionRecord, SessionStore, StoreError, StoreResult, StoredKey,
    ThrottleStore, UserRecord, UserStore,
};

#[derive(Default)]
struct State {
    users: HashMap<String, UserRecord>,
    email_index: HashMap<String, String>,
    refresh: HashMap<[u8; 32], (RefreshRecord, bool)>,
    revoked_families: std::collections::HashSet<String>,
    denylist: HashMap<String, i64>,
    revoked_before: HashMap<String, i64>,
    failures: HashMap<String, Failures>,
    keys: Vec<StoredKey>,
    api_keys: Vec<ApiKeyRecord>,
    sessions: HashMap<[u8; 32], SessionRecord>,
    external: HashMap<(String, String), String>,
    /// The tenant role model (`memory/roles.rs`).
    roles: roles::RoleState,
    /// Entity permissions (`memory/acl.rs`).
    acl: acl::AclState,
}

/// A store that keeps everything in this process's memory. Clones share the same data.
///
/// ```
/// use portcullis::store::{MemoryStore, UserStore};
///
/// # tokio_test_block(async {
/// let store = MemoryStore::new();
/// assert!(store.user_by_email("nobody@example.com").await?.is_none());
/// # Ok::<(), portcullis::store::StoreError>(())
/// # });
/// # fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore")
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A digest of everything stored: equal digests mean nothing changed. For tests that must
    /// prove a refused request left the store as it was.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
            items.sort();
            items
        }
        let state = self.lock();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        sorted(state.users.keys().collect())
            .iter()
            .for_each(|id| state.users[*id].hash(&mut hasher));
        sorted(state.email_index.iter().collect()).hash(&mut hasher);
        sorted(state.refresh.keys().collect())
            .iter()
            .for_each(|d| state.refresh[*d].hash(&mut hasher));
        sorted(state.revoked_families.iter().collect()).hash(&mut hasher);
        sorted(state.denylist.iter().collect()).hash(&mut hasher);
        sorted(state.revoked_before.iter().collect()).hash(&mut hasher);
        sorted(state.failures.keys().collect())
            .iter()
            .for_each(|k| (k, state.failures[*k]).hash(&mut hasher));
        state.keys.hash(&mut hasher);
        state.api_keys.hash(&mut hasher);
        sorted(state.sessions.keys().collect())
            .iter()
            .for_each(|d| state.sessions[*d].hash(&mut hasher));
        sorted(state.external.iter().collect()).hash(&mut hasher);
        state.roles.hash_into(&mut hasher);
        state.acl.hash_into(&mut hasher);
        hasher.finish()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave a half-applied change: every section is one short
        // sequence of map operations, so the data stays usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl UserStore for MemoryStore {
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        let mut state = self.lock();
        if state.email_index.contains_key(&user.email) {
            return Err(StoreError::Conflict("email"));
        }
        if state.users.contains_key(&user.id) {
            return Err(StoreError::Conflict("user id"));
        }
        state
            .email_index
            .insert(user.email.clone(), user.id.clone());
        state.users.insert(user.id.clone(), user.clone());
        Ok(())
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        let state = self.lock();
        Ok(state
            .email_index
            .get(email)
            .and_then(|id| state.users.get(id))
            .cloned())
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRecord>> {
        Ok(self.lock().users.get(id).cloned())
    }

    async fn set_password_hash(&self, id: &str, hash: &str, changed_at: i64) -> StoreResult<()> {
        let mut state = self.lock();
        let user = state
            .users
            .get_mut(id)
            .ok_or(StoreError::NotFound("user"))?;
        user.password_hash = hash.to_owned();
        user.password_changed_at = changed_at;
        Ok(())
    }

    async fn set_disabled(&self, id: &str, disabled: bool) -> StoreResult<()> {
        let mut state = self.lock();
        let user = state
            .users
            .get_mut(id)
            .ok_or(StoreError::NotFound("user"))?;
        user.disabled = disabled;
        Ok(())
    }

    async fn set_roles(&self, id: &str, roles: &[String]) -> StoreResult<()> {
        let mut state = self.lock();
        let user = state
            .users
            .get_mut(id)
            .ok_or(StoreError::NotFound("user"))?;
        user.roles = roles.to_vec();
        Ok(())
    }

    async fn delete_user(&self, id: &str) -> StoreResult<()> {
        let mut state = self.lock();
        let user = state.users.remove(id).ok_or(StoreError::NotFound("user"))?;
        state.email_index.remove(&user.email);
        state.refresh.retain(|_, (record, _)| record.user_id != id);
        state.sessions.retain(|_, session| session.user_id != id);
        state.api_keys.retain(|key| key.owner != id);
        state.external.retain(|_, user_id| user_id != id);
        Ok(())
    }
}

impl RefreshStore for MemoryStore {
    async fn insert_refresh(&self, record: &RefreshRecord) -> StoreResult<()> {
        let mut state = self.lock();
        if state.refresh.contains_key(&record.digest) {
            return Err(StoreError::Conflict("refresh token"));
        }
        state.refresh.insert(record.digest, (record.clone(), false));
        Ok(())
    }

    async fn consume_refresh(&self, digest: &[u8; 32], now: i64) -> StoreResult<Consumed> {
        let mut state = self.lock();
        let revoked = match state.refresh.get(digest) {
            None => return Ok(Consumed::Unknown),
            Some((record, _)) => state.revoked_families.contains(&record.family),
        };
        let Some((record, used)) = state.refresh.get_mut(digest) else {
            return Ok(Consumed::Unknown);
        };
        if revoked {
            return Ok(Consumed::Revoked);
        }
        if *used {
            return Ok(Consumed::Reused(record.clone()));
        }
        if record.expires_at <= now {
            return Ok(Consumed::Expired);
        }
        *used = true;
        Ok(Consumed::Fresh(record.clone()))
    }

    async fn revoke_family(&self, family: &str) -> StoreResult<()> {
        self.lock().revoked_families.insert(family.to_owned());
        Ok(())
    }

    async fn revoke_user_families(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
        let mut state = self.lock();
        let families: Vec<String> = state
            .refresh
            .values()
            .filter(|(r, _)| r.user_id == user_id && Some(r.family.as_str()) != keep)
            .map(|(r, _)| r.family.clone())
            .collect();
        state.revoked_families.extend(families);
        Ok(())
    }

    async fn purge_refresh(&self, now: i64) -> StoreResult<u64> {
        let mut state = self.lock();
        let count = state.refresh.len();
        state
            .refresh
            .retain(|_, (record, _)| record.expires_at > now);
        let purged = (count - state.refresh.len()) as u64;
        let live: std::collections::HashSet<String> = state
            .refresh
            .values()
            .map(|(record, _)| record.family.clone())
            .collect();
        state
            .revoked_families
            .retain(|family| live.contains(family));
        Ok(purged)
    }
}

impl RevocationStore for MemoryStore {
    async fn revoke_token(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
        let mut state = self.lock();
        let entry = state.denylist.entry(jti.to_owned()).or_insert(expires_at);
        *entry = (*entry).max(expires_at);
        Ok(())
    }

    async fn is_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        Ok(self.lock().denylist.contains_key(jti))
    }

    async fn set_revoked_before(&self, user_id: &str, at: i64) -> StoreResult<()> {
        let mut state = self.lock();
        let entry = state.revoked_before.entry(user_id.to_owned()).or_insert(at);
        *entry = (*entry).max(at);
        Ok(())
    }

    async fn revoked_before(&self, user_id: &str) -> StoreResult<Option<i64>> {
        Ok(self.lock().revoked_before.get(user_id).copied())
    }

    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        let mut state = self.lock();
        let before = state.denylist.len();
        state.denylist.retain(|_, expires| *expires > now);
        Ok((before - state.denylist.len()) as u64)
    }
}

impl ThrottleStore for MemoryStore {
    async fn record_failure(&self, key: &str, now: i64, window: i64) -> StoreResult<Failures> {
        let mut state = self.lock();
        let entry = state.failures.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            last_at: now,
        });
        if entry.last_at < now - window {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last_at = now;
        Ok(*entry)
    }

    async fn release_failure(&self, key: &str) -> StoreResult<()> {
        if let Some(entry) = self.lock().failures.get_mut(key) {
            entry.count = entry.count.saturating_sub(1);
        }
        Ok(())
    }

    async fn purge_failures(&self, before: i64) -> StoreResult<u64> {
        let mut state = self.lock();
        let count = state.failures.len();
        state.failures.retain(|_, f| f.last_at >= before);
        Ok((count - state.failures.len()) as u64)
    }

    async fn failures(&self, key: &str) -> StoreResult<Option<Failures>> {
        Ok(self.lock().failures.get(key).copied())
    }

    async fn clear_failures(&self, key: &str) -> StoreResult<()> {
        self.lock().failures.remove(key);
        Ok(())
    }
}

impl KeyStore for MemoryStore {
    async fn insert_key(&self, key: &StoredKey) -> StoreResult<()> {
        let mut state = self.lock();
        if state.keys.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::Conflict("key id"));
        }
        state.keys.push(key.clone());
        Ok(())
    }

    async fn keys(&self) -> StoreResult<Vec<StoredKey>> {
        let mut keys = self.lock().keys.clone();
        keys.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        Ok(keys)
    }

    async fn retire_key(&self, kid: &str, at: i64) -> StoreResult<()> {
        let mut state = self.lock();
        let key = state
            .keys
            .iter_mut()
            .find(|k| k.kid == kid)
            .ok_or(StoreError::NotFound("key"))?;
        key.retired_at = Some(at);
        Ok(())
    }

    async fn delete_key(&self, kid: &str) -> StoreResult<()> {
        let mut state = self.lock();
        let before = state.keys.len();
        state.keys.retain(|k| k.kid != kid);
        if state.keys.len() == before {
            return Err(StoreError::NotFound("key"));
        }
        Ok(())
    }
}

impl ApiKeyStore for MemoryStore {
    async fn insert_api_key(&self, key: &ApiKeyRecord, max_live: u32) -> StoreResult<()> {
        let mut state = self.lock();
        if state.api_keys.iter().any(|k| k.id == key.id) {
            return Err(StoreError::Conflict("api key id"));
        }
        let live = state
            .api_keys
            .iter()
            .filter(|k| k.owner == key.owner && k.revoked_at.is_none())
            .filter(|k| k.expires_at.is_none_or(|at| at > key.created_at))
            .count();
        if live >= max_live as usize {
            return Err(StoreError::Conflict("api key limit"));
        }
        state.api_keys.push(key.clone());
        Ok(())
    }

    async fn api_key(&self, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        Ok(self.lock().api_keys.iter().find(|k| k.id == id).cloned())
    }

    async fn api_keys_of(&self, owner: &str) -> StoreResult<Vec<ApiKeyRecord>> {
        let mut keys: Vec<ApiKeyRecord> = self
            .lock()
            .api_keys
            .iter()
            .filter(|k| k.owner == owner)
            .cloned()
            .collect();
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn all_api_keys(&self, limit: u32, offset: u32) -> StoreResult<Vec<ApiKeyRecord>> {
        let mut keys = self.lock().api_keys.clone();
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .collect())
    }

    async fn revoke_api_key(&self, id: &str, at: i64) -> StoreResult<()> {
        let mut state = self.lock();
        let key = state
            .api_keys
            .iter_mut()
            .find(|k| k.id == id)
            .ok_or(StoreError::NotFound("api key"))?;
        key.revoked_at = Some(key.revoked_at.unwrap_or(at));
        Ok(())
    }

    async fn record_api_key_use(&self, uses: &[(String, i64)]) -> StoreResult<()> {
        let mut state = self.lock();
        for (id, at) in uses {
            if let Some(key) = state.api_keys.iter_mut().find(|k| &k.id == id) {
                key.last_used_at = Some(key.last_used_at.map_or(*at, |old| old.max(*at)));
            }
        }
        Ok(())
    }
}

impl SessionStore for MemoryStore {
    async fn insert_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let mut state = self.lock();
        if state.sessions.contains_key(&session.digest) {
            return Err(StoreError::Conflict("session"));
        }
        state.sessions.insert(session.digest, session.clone());
        Ok(())
    }

    async fn session(&self, digest: &[u8; 32]) -> StoreResult<Option<SessionRecord>> {
        Ok(self.lock().sessions.get(digest).cloned())
    }

    async fn touch_session(&self, digest: &[u8; 32], at: i64) -> StoreResult<()> {
        match self.lock().sessions.get_mut(digest) {
            Some(session) => {
                session.last_seen_at = session.last_seen_at.max(at);
                Ok(())
            }
            None => Err(StoreError::NotFound("session")),
        }
    }

    async fn delete_session(&self, digest: &[u8; 32]) -> StoreResult<()> {
        self.lock().sessions.remove(digest);
        Ok(())
    }

    async fn purge_sessions(&self, now: i64, idle_before: i64) -> StoreResult<u64> {
        let mut state = self.lock();
        let count = state.sessions.len();
        state
            .sessions
            .retain(|_, s| s.expires_at > now && s.last_seen_at > idle_before);
        Ok((count - state.sessions.len()) as u64)
    }
}

impl ExternalIdentityStore for MemoryStore {
    async fn link_external(
        &self,
        issuer: &str,
        subject: &str,
        user_id: &str,
        _at: i64,
    ) -> StoreResult<()> {
        let mut state = self.lock();
        let key = (issuer.to_owned(), subject.to_owned());
        if state.external.contains_key(&key) {
            return Err(StoreError::Conflict("external identity"));
        }
        state.external.insert(key, user_id.to_owned());
        Ok(())
    }

    async fn linked_user(&self, issuer: &str, subject: &str) -> StoreResult<Option<String>> {
        Ok(self
            .lock()
            .external
            .get(&(issuer.to_owned(), subject.to_owned()))
            .cloned())
    }
}
