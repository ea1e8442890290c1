//! Reading a JWK set (RFC 7517 §5) into keys: shared by the JWKS fetched from a URL and the one
//! read from a file, so both skip and pin keys by the same rules.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::Jwk;
use serde_json::Value;

use super::keyring::Key;

/// Most entries read from one document.
pub const MAX_JWKS_KEYS: usize = 64;

/// The usable keys of a document by `kid`, with the JWK each came from.
pub(crate) type Published = HashMap<String, (Jwk, Arc<Key>)>;

/// Why a document gave no keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwkSetError {
    /// Not a JWK set (`{"keys": [...]}`).
    Malformed,
    /// No key a ring can use.
    NoUsableKey,
}

/// The usable signing keys of the JWK set `body`: each pinned to one algorithm by its type
/// ([`Key::from_jwk`], RSA keys without `alg` to `rsa_default`); secret (`oct`), encryption and
/// unparseable entries are skipped, and so are signing keys that share a `kid` (they cannot be
/// told apart). Only the first [`MAX_JWKS_KEYS`] entries are read. A key whose JWK is the same
/// as in `previous` stays the same key object, so tokens it verified stay in the bearer cache.
pub(crate) fn usable_keys(
    body: &[u8],
    rsa_default: Algorithm,
    previous: &Published,
) -> Result<Published, JwkSetError> {
    let document: Value = serde_json::from_slice(body).map_err(|_| JwkSetError::Malformed)?;
    let listed = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwkSetError::Malformed)?;
    if listed.len() > MAX_JWKS_KEYS {
        tracing::warn!(
            entries = listed.len(),
            "JWK set lists more entries than are read; the rest are ignored"
        );
    }
    let mut usable: Vec<(String, Jwk, Arc<Key>)> = Vec::new();
    for value in listed.iter().take(MAX_JWKS_KEYS) {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value.clone()) else {
            tracing::debug!("JWK set entry skipped: not a JWK");
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            tracing::debug!("JWK set entry skipped: no kid");
            continue;
        };
        let key = match previous.get(&kid) {
            Some((old, key)) if *old == jwk => Arc::clone(key),
            _ => match Key::from_jwk(&jwk, rsa_default) {
                Ok(key) => Arc::new(key),
                Err(error) => {
                    // An encryption key may share its id with a signing key (RFC 7517 §4.5):
                    // skipping it here keeps the signing key, whatever the order.
                    tracing::debug!(kid, %error, "JWK set entry skipped");
                    continue;
                }
            },
        };
        usable.push((kid, jwk, key));
    }
    let mut next = Published::new();
    let mut twice = std::collections::HashSet::new();
    for (kid, jwk, key) in usable {
        if twice.contains(&kid) || next.remove(&kid).is_some() {
            // Two signing keys under one id cannot be told apart: take neither.
            tracing::warn!(
                kid,
                "JWK set lists a signing key id more than once; all skipped"
            );
            twice.insert(kid);
            continue;
        }
        next.insert(kid, (jwk, key));
    }
    if next.is_empty() {
        return Err(JwkSetError::NoUsableKey);
    }
    Ok(next)
}
