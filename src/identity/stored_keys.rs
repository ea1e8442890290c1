//! Keys another instance created, found in the shared store the moment a token names one.
//!
//! Instances that share a store also share their signing keys, and each keeps them in its own
//! ring. When one instance rotates, the others would refuse its new tokens until their next
//! [`Identity::reload_keys`](super::Identity::reload_keys); this [`KeySource`] closes that gap: a
//! token whose `kid` the ring lacks makes the ring re-read the store once (single-flight), so a
//! rotation elsewhere is seen by the first request that carries the new key. A `kid` the store
//! does not hold either reads it again only after a short cool-down, so made-up key ids cost at
//! most one store read a second (the same [`FetchGate`] as `RemoteJwks`: one read at a time, 503
//! while the store cannot answer).

use std::time::Duration;

use super::signing::sync_ring;
use crate::error::AuthError;
use crate::future::MaybeReady;
use crate::store::KeyStore;
use crate::token::{FetchGate, KeyRing, KeySource};

/// Pause after a store read for an unknown `kid` before the next such read.
pub(super) const COOLDOWN: Duration = Duration::from_secs(1);

pub(super) struct StoredKeys<S> {
    pub(super) store: S,
    pub(super) ring: KeyRing,
    pub(super) gate: FetchGate,
}

impl<S: KeyStore + Send + Sync + 'static> KeySource for StoredKeys<S> {
    fn find<'a>(&'a self, kid: &'a str) -> MaybeReady<'a, Result<bool, AuthError>> {
        let held = move || self.ring.snapshot().get(kid).is_some();
        if held() {
            return MaybeReady::ready(Ok(true));
        }
        MaybeReady::new(self.gate.find(kid, held, async {
            sync_ring(&self.store, &self.ring).await.map(|_| ())
        }))
    }
}
