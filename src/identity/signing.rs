//! The identity's signing keys: generated and stored on first start, rotated, pruned once every
//! token they signed has expired, picked up from the store when another instance rotated, and
//! published as a JWKS.

use super::*;

impl<S: Store> Identity<S> {
    /// Rotates the signing key: a new key signs from now on; the old ones keep verifying until
    /// [`prune_keys`](Self::prune_keys) removes those retired longer than a token's lifetime.
    pub async fn rotate_key(&self) -> Result<String, IdentityError> {
        let now = self.now();
        let signing = self
            .ring
            .snapshot()
            .signing_key()
            .map(|k| k.kid().to_owned());
        let key = create_key(&self.store, &self.config, now).await?;
        let kid = key.kid().to_owned();
        self.ring.insert(key);
        self.ring
            .set_signing(&kid)
            .map_err(|_| IdentityError::Unavailable)?;
        if let Some(old) = signing {
            // A key loaded from files may not be in the store: nothing to retire there then.
            match self.store.retire_key(&old, now).await {
                Ok(()) | Err(StoreError::NotFound(_)) => {}
                Err(other) => return Err(other.into()),
            }
        }
        self.publish(crate::cluster::Change::SigningKeysChanged)
            .await;
        Ok(kid)
    }

    /// Drops keys retired longer ago than the access-token lifetime plus the maximum leeway:
    /// every token they signed has expired.
    pub async fn prune_keys(&self) -> Result<usize, IdentityError> {
        let horizon =
            self.now() - (self.config.access_ttl + crate::token::MAX_LEEWAY).as_secs() as i64;
        let mut pruned = 0;
        for key in self.store.keys().await? {
            if key.retired_at.is_some_and(|at| at < horizon) {
                self.store.delete_key(&key.kid).await?;
                self.ring.remove(&key.kid);
                pruned += 1;
            }
        }
        if pruned > 0 {
            self.publish(crate::cluster::Change::SigningKeysChanged)
                .await;
        }
        Ok(pruned)
    }

    /// Re-reads the stored keys: adds those another instance created (a rotation elsewhere) and
    /// makes the newest live key sign. Call it periodically when several instances share a store.
    pub async fn reload_keys(&self) -> Result<(), IdentityError> {
        sync_ring(&self.store, &self.ring).await.map(|_| ())
    }

    /// The public keys as a JWKS document (RFC 7517 §5).
    pub fn jwks(&self) -> serde_json::Value {
        let keys = self.ring.snapshot();
        let list: Vec<serde_json::Value> = keys
            .kids()
            .into_iter()
            .filter_map(|kid| keys.get(kid).and_then(|k| k.jwk()))
            .collect();
        serde_json::json!({ "keys": list })
    }
}

pub(super) async fn create_key<S: KeyStore>(
    store: &S,
    config: &IdentityConfig,
    now: i64,
) -> Result<Key, IdentityError> {
    let alg = config.signing_algorithm;
    let der = generate_pkcs8(alg).map_err(key_error)?;
    let kid = format!(
        "{}-{}",
        algorithm_name(alg).to_lowercase(),
        secret::random_id::<6>()?
    );
    let key = Key::from_pkcs8(&kid, alg, &der).map_err(key_error)?;
    store
        .insert_key(&StoredKey {
            kid,
            alg: algorithm_name(alg).into(),
            private_der: der,
            created_at: now,
            retired_at: None,
        })
        .await?;
    Ok(key)
}

fn key_error(error: KeyError) -> IdentityError {
    tracing::error!(%error, "signing key error");
    IdentityError::Unavailable
}

/// Reads every stored key into `ring` (adding those it lacks) and makes the newest live key sign;
/// returns that key's id, or `None` when the store has no live key.
pub(super) async fn sync_ring<S: KeyStore>(
    store: &S,
    ring: &KeyRing,
) -> Result<Option<String>, IdentityError> {
    let mut signing = None;
    for stored in store.keys().await? {
        if ring.snapshot().get(&stored.kid).is_none() {
            // Asymmetric algorithms only: a stored key is a PKCS#8 private key.
            let alg = match stored.alg.parse::<Algorithm>() {
                Ok(alg) if alg.family() != jsonwebtoken::AlgorithmFamily::Hmac => alg,
                _ => {
                    tracing::error!(kid = %stored.kid, alg = %stored.alg, "stored key has an unsupported algorithm");
                    return Err(IdentityError::Unavailable);
                }
            };
            ring.insert(Key::from_pkcs8(&stored.kid, alg, &stored.private_der).map_err(key_error)?);
        }
        if stored.retired_at.is_none() {
            signing = Some(stored.kid); // oldest first: the newest live key wins
        }
    }
    if let Some(kid) = &signing {
        ring.set_signing(kid).map_err(key_error)?;
    }
    Ok(signing)
}

/// Loads the stored keys into a new ring, generating and persisting a key when none is live.
/// After generating, the store is read again and its newest live key signs: instances that start
/// together and each generate a key still agree on one signer.
pub(super) async fn load_or_create_ring<S: KeyStore>(
    store: &S,
    config: &IdentityConfig,
) -> Result<KeyRing, IdentityError> {
    let ring = KeyRing::new();
    if sync_ring(store, &ring).await?.is_none() {
        let key = create_key(store, config, config.clock.now()).await?;
        tracing::info!(kid = %key.kid(), "generated and stored a new signing key");
        sync_ring(store, &ring).await?;
    }
    Ok(ring)
}

/// Reads the stored keys into a ring when another instance changed them (see
/// [`Identity::share_changes`]): from a task of its own, since listeners are synchronous, and,
/// for a possible miss rather than a change heard of, at most once a second (a feed that lost
/// Redis delivers one every 100 ms).
pub(super) struct KeySync<S> {
    store: S,
    ring: KeyRing,
    last_unasked_ms: std::sync::atomic::AtomicI64,
}

impl<S: KeyStore + Clone + Send + Sync + 'static> KeySync<S> {
    pub(super) fn new(store: S, ring: KeyRing) -> Self {
        Self {
            store,
            ring,
            last_unasked_ms: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Reloads the keys; `asked`: a change was heard of (always), else a possible miss (rate
    /// limited).
    pub(super) fn reload(self: &Arc<Self>, asked: bool) {
        use std::sync::atomic::Ordering;
        if !asked {
            let now = crate::clock::system_now_us() / 1000;
            let last = self.last_unasked_ms.load(Ordering::Relaxed);
            if now - last < 1000
                || self
                    .last_unasked_ms
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                return;
            }
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let sync = Arc::clone(self);
        runtime.spawn(async move {
            if let Err(error) = sync_ring(&sync.store, &sync.ring).await {
                tracing::warn!(%error, "signing keys not reloaded after a change elsewhere");
            }
        });
    }
}
