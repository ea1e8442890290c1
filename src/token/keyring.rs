//! The key ring: every key that signs or verifies tokens, swappable at run time.
//!
//! One ring serves both directions, so first-party tokens are always verified with the key that
//! signed them (NinjaStack signed with one secret and verified with another). Each [`Key`] is
//! pinned to one algorithm: a token's `alg` header must equal it, so an attacker cannot choose
//! the algorithm (no `none`, no HS256 keyed with an RSA public key).
//!
//! Reads go through [`arc_swap`]: the request path takes no lock, and a writer (rotation, a JWKS
//! refresh) publishes a whole new [`KeySet`] atomically.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, RsaKeyPair,
};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};

/// Longest accepted key id, in bytes.
pub const MAX_KID_LEN: usize = 128;

/// Why a key could not be built or a ring change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key id is empty, too long, or not printable ASCII.
    #[error("key id must be 1 to 128 printable ASCII characters")]
    InvalidKid,
    /// The algorithm does not fit the key material (an RSA key for ES256, …).
    #[error("algorithm {0:?} does not fit this key type")]
    WrongAlgorithm(Algorithm),
    /// An HMAC secret is shorter than the hash output, which RFC 7518 §3.2 forbids.
    #[error("an HMAC secret for {alg:?} needs at least {min} bytes")]
    WeakSecret {
        /// The algorithm.
        alg: Algorithm,
        /// The minimum length in bytes.
        min: usize,
    },
    /// The key material could not be parsed.
    #[error("the key material could not be parsed")]
    Unparsable,
    /// The private and public halves do not belong together.
    #[error("the private key does not match the public key")]
    Mismatched,
    /// Key generation failed.
    #[error("key generation failed")]
    Generation,
    /// A JSON Web Key this ring will not take: a secret (`oct`) key, one meant for encryption,
    /// an unsupported curve, or an RSA modulus outside 2048–8192 bits.
    #[error("unusable JSON Web Key: {0}")]
    UnusableJwk(&'static str),
    /// The ring holds no key with this id.
    #[error("no key with id {0:?}")]
    UnknownKid(String),
    /// The key cannot sign (it has no private half).
    #[error("key {0:?} is verify-only and cannot sign")]
    VerifyOnly(String),
}

/// One key, pinned to one algorithm, able to verify and (with a private half) to sign.
///
/// `Debug` shows the id, the algorithm and whether a private half is present; never key material.
///
/// ```
/// use jsonwebtoken::Algorithm;
/// use portcullis::token::Key;
///
/// let key = Key::hmac("k1", Algorithm::HS256, &[7u8; 32])?;
/// assert_eq!(key.algorithm(), Algorithm::HS256);
/// assert!(Key::hmac("k1", Algorithm::HS256, b"short").is_err());
/// # Ok::<(), portcullis::token::KeyError>(())
/// ```
#[derive(Clone)]
pub struct Key {
    kid: Box<str>,
    alg: Algorithm,
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    /// An HMAC key's secret with its inner and outer pads hashed once, for signers that MAC
    /// small messages at a high rate (the audit trail): jsonwebtoken sets the pads up anew on
    /// every call, which costs more than the MAC of a digest itself.
    mac: Option<aws_lc_rs::hmac::Key>,
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    let ok = !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid.bytes().all(|b| (0x21..0x7f).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(KeyError::InvalidKid)
    }
}

/// The signature algorithm a JWK's `alg` names; `None` for encryption algorithms and unknowns.
fn signature_algorithm(alg: jsonwebtoken::jwk::KeyAlgorithm) -> Option<Algorithm> {
    use jsonwebtoken::jwk::KeyAlgorithm as K;
    Some(match alg {
        K::HS256 => Algorithm::HS256,
        K::HS384 => Algorithm::HS384,
        K::HS512 => Algorithm::HS512,
        K::ES256 => Algorithm::ES256,
        K::ES384 => Algorithm::ES384,
        K::RS256 => Algorithm::RS256,
        K::RS384 => Algorithm::RS384,
        K::RS512 => Algorithm::RS512,
        K::PS256 => Algorithm::PS256,
        K::PS384 => Algorithm::PS384,
        K::PS512 => Algorithm::PS512,
        K::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// The bit length of a big-endian unsigned integer.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.iter().position(|&b| b != 0) {
        None => 0,
        Some(first) => (bytes.len() - first - 1) * 8 + (8 - bytes[first].leading_zeros() as usize),
    }
}

fn family_fits(alg: Algorithm, family: AlgorithmFamily) -> bool {
    alg.family() == family
}

impl Key {
    /// An HMAC key (HS256, HS384, HS512). The secret must be at least as long as the hash output.
    pub fn hmac(kid: &str, alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        check_kid(kid)?;
        let min = match alg {
            Algorithm::HS256 => 32,
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            other => return Err(KeyError::WrongAlgorithm(other)),
        };
        if secret.len() < min {
            return Err(KeyError::WeakSecret { alg, min });
        }
        let mac_alg = match alg {
            Algorithm::HS256 => aws_lc_rs::hmac::HMAC_SHA256,
            Algorithm::HS384 => aws_lc_rs::hmac::HMAC_SHA384,
            _ => aws_lc_rs::hmac::HMAC_SHA512,
        };
        Ok(Self {
            kid: kid.into(),
            alg,
            decoding: DecodingKey::from_secret(secret),
            encoding: Some(EncodingKey::from_secret(secret)),
            mac: Some(aws_lc_rs::hmac::Key::new(mac_alg, secret)),
        })
    }

    /// A verify-only key from a PEM public key (RSA, EC or Ed25519, chosen by `alg`).
    pub fn verifying_pem(kid: &str, alg: Algorithm, public_pem: &[u8]) -> Result<Self, KeyError> {
        check_kid(kid)?;
        let decoding = match alg.family() {
            AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(public_pem),
            AlgorithmFamily::Ec => DecodingKey::from_ec_pem(public_pem),
            AlgorithmFamily::Ed => DecodingKey::from_ed_pem(public_pem),
            _ => return Err(KeyError::WrongAlgorithm(alg)),
        }
        .map_err(|_| KeyError::Unparsable)?;
        Ok(Self {
            kid: kid.into(),
            alg,
            decoding,
            encoding: None,
            mac: None,
        })
    }

    /// A signing key from PEM private and public halves. The pair is checked by signing and
    /// verifying a probe, so a mismatched pair fails here rather than on every request.
    pub fn signing_pem(
        kid: &str,
        alg: Algorithm,
        private_pem: &[u8],
        public_pem: &[u8],
    ) -> Result<Self, KeyError> {
        let mut key = Self::verifying_pem(kid, alg, public_pem)?;
        // The public half came as PEM; no JWK is derived for it.
        let encoding = match alg.family() {
            AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(private_pem),
            AlgorithmFamily::Ec => EncodingKey::from_ec_pem(private_pem),
            AlgorithmFamily::Ed => EncodingKey::from_ed_pem(private_pem),
            _ => return Err(KeyError::WrongAlgorithm(alg)),
        }
        .map_err(|_| KeyError::Unparsable)?;
        key.encoding = Some(encoding);
        key.self_test()?;
        Ok(key)
    }

    /// A fresh Ed25519 (EdDSA) signing key from the system's secure random source.
    pub fn generate_ed25519(kid: &str) -> Result<Self, KeyError> {
        Self::from_pkcs8(kid, Algorithm::EdDSA, &generate_pkcs8(Algorithm::EdDSA)?)
    }

    /// A fresh ECDSA signing key (ES256 on P-256 or ES384 on P-384).
    pub fn generate_ecdsa(kid: &str, alg: Algorithm) -> Result<Self, KeyError> {
        Self::from_pkcs8(kid, alg, &generate_pkcs8(alg)?)
    }

    /// A fresh RSA signing key (2048 bits) for `alg` (RS256, RS384, RS512, PS256, PS384 or
    /// PS512): what peers that only take RSA tokens need (Sentinel's SDK takes RS256 only).
    /// Generating one takes tens of milliseconds; prefer Ed25519 where the verifiers allow it.
    pub fn generate_rsa(kid: &str, alg: Algorithm) -> Result<Self, KeyError> {
        Self::from_pkcs8(kid, alg, &generate_pkcs8(alg)?)
    }

    /// A signing key from a PKCS#8 DER private key (EdDSA, ES256, ES384, or RSA for the RS* and
    /// PS* algorithms), as [`generate_pkcs8`] makes and a key store keeps. The public half is
    /// derived from it.
    pub fn from_pkcs8(kid: &str, alg: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        check_kid(kid)?;
        let (decoding, encoding) = match alg {
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|_| KeyError::Unparsable)?;
                (
                    DecodingKey::from_ed_der(pair.public_key().as_ref()),
                    EncodingKey::from_ed_der(der),
                )
            }
            Algorithm::ES256 | Algorithm::ES384 => {
                let signing = if alg == Algorithm::ES256 {
                    &ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let pair =
                    EcdsaKeyPair::from_pkcs8(signing, der).map_err(|_| KeyError::Unparsable)?;
                // The public key as an uncompressed point (0x04 || x || y), as verifiers take it.
                (
                    DecodingKey::from_ec_der(pair.public_key().as_ref()),
                    EncodingKey::from_ec_der(der),
                )
            }
            rsa if rsa.family() == AlgorithmFamily::Rsa => {
                let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| KeyError::Unparsable)?;
                let bits = pair.public_modulus_len() * 8;
                if !(2048..=8192).contains(&bits) {
                    return Err(KeyError::UnusableJwk(
                        "its RSA modulus is not 2048 to 8192 bits",
                    ));
                }
                let public = pair.public_key();
                // From the modulus and exponent, so the key can be published as a JWK.
                let decoding = DecodingKey::from_rsa_raw_components(
                    public.modulus().big_endian_without_leading_zero(),
                    public.exponent().big_endian_without_leading_zero(),
                );
                // jsonwebtoken signs RSA from PKCS#1, which it takes out of a PKCS#8 PEM.
                let encoding = EncodingKey::from_rsa_pem(pkcs8_pem(der).as_bytes())
                    .map_err(|_| KeyError::Unparsable)?;
                (decoding, encoding)
            }
            other => return Err(KeyError::WrongAlgorithm(other)),
        };
        let key = Self {
            kid: kid.into(),
            alg,
            decoding,
            encoding: Some(encoding),
            mac: None,
        };
        key.self_test()?;
        Ok(key)
    }

    /// A verify-only key from a published JSON Web Key (RFC 7517), as a JWKS endpoint serves it.
    ///
    /// The algorithm is pinned here, never left to the tokens: EC keys get ES256 on P-256 and
    /// ES384 on P-384, OKP keys EdDSA on Ed25519, RSA keys the JWK's `alg` (RS* or PS*) or, when
    /// it names none, `rsa_default`. A JWK whose `alg` contradicts its key type is refused, as
    /// are secret (`oct`) keys, keys whose `use` is not `sig` or whose `key_ops` lack `verify`,
    /// and RSA moduli outside 2048–8192 bits.
    ///
    /// ```
    /// use jsonwebtoken::Algorithm;
    /// use portcullis::token::Key;
    ///
    /// let jwk = serde_json::from_value(serde_json::json!({
    ///     "kty": "OKP", "crv": "Ed25519", "kid": "k1", "use": "sig",
    ///     "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
    /// }))?;
    /// let key = Key::from_jwk(&jwk, Algorithm::RS256)?;
    /// assert_eq!((key.kid(), key.algorithm()), ("k1", Algorithm::EdDSA));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_jwk(
        jwk: &jsonwebtoken::jwk::Jwk,
        rsa_default: Algorithm,
    ) -> Result<Self, KeyError> {
        use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, KeyOperations, PublicKeyUse};

        let kid = jwk.common.key_id.as_deref().ok_or(KeyError::InvalidKid)?;
        check_kid(kid)?;
        if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
            return Err(KeyError::UnusableJwk("its use is not sig"));
        }
        if matches!(&jwk.common.key_operations, Some(ops) if !ops.contains(&KeyOperations::Verify))
        {
            return Err(KeyError::UnusableJwk("its key_ops do not include verify"));
        }
        let named = match jwk.common.key_algorithm {
            None => None,
            Some(alg) => Some(signature_algorithm(alg).ok_or(KeyError::UnusableJwk(
                "its alg is not a signature algorithm",
            ))?),
        };
        let from_jwk = || DecodingKey::from_jwk(jwk).map_err(|_| KeyError::Unparsable);
        let (alg, decoding) = match &jwk.algorithm {
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => (Algorithm::ES256, from_jwk()?),
                EllipticCurve::P384 => (Algorithm::ES384, from_jwk()?),
                _ => return Err(KeyError::UnusableJwk("its curve is not supported")),
            },
            AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
                EllipticCurve::Ed25519 => (Algorithm::EdDSA, from_jwk()?),
                _ => return Err(KeyError::UnusableJwk("its curve is not supported")),
            },
            AlgorithmParameters::RSA(rsa) => {
                if rsa.n.len() > 2 * 1024 || rsa.e.len() > 16 {
                    return Err(KeyError::UnusableJwk(
                        "its RSA modulus is not 2048 to 8192 bits",
                    ));
                }
                let unsigned = |b64: &str| {
                    let bytes = base64::Engine::decode(
                        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                        b64,
                    )
                    .map_err(|_| KeyError::Unparsable)?;
                    // Some providers pad with zero bytes, which the crypto provider refuses.
                    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
                    Ok::<_, KeyError>(bytes[first..].to_vec())
                };
                let (modulus, exponent) = (unsigned(&rsa.n)?, unsigned(&rsa.e)?);
                if !(2048..=8192).contains(&bit_length(&modulus)) {
                    return Err(KeyError::UnusableJwk(
                        "its RSA modulus is not 2048 to 8192 bits",
                    ));
                }
                if exponent.is_empty() {
                    return Err(KeyError::Unparsable);
                }
                let alg = named.unwrap_or(rsa_default);
                if alg.family() != AlgorithmFamily::Rsa {
                    return Err(KeyError::WrongAlgorithm(alg));
                }
                (
                    alg,
                    DecodingKey::from_rsa_raw_components(&modulus, &exponent),
                )
            }
            AlgorithmParameters::OctetKey(_) => {
                return Err(KeyError::UnusableJwk("it is a secret key"));
            }
            _ => return Err(KeyError::UnusableJwk("its key type is not supported")),
        };
        if named.is_some_and(|n| n != alg) {
            return Err(KeyError::WrongAlgorithm(alg));
        }
        Ok(Self {
            kid: kid.into(),
            alg,
            decoding,
            encoding: None,
            mac: None,
        })
    }

    /// The public half as a JSON Web Key (RFC 7517) with `kid`, `alg` and `use`, for a JWKS
    /// document; `None` for HMAC keys, whose only half is secret.
    pub fn jwk(&self) -> Option<serde_json::Value> {
        if self.alg.family() == AlgorithmFamily::Hmac {
            return None;
        }
        let jwk = jsonwebtoken::jwk::Jwk::from_decoding_key(&self.decoding, Some(self.alg)).ok()?;
        let mut value = serde_json::to_value(jwk).ok()?;
        let map = value.as_object_mut()?;
        map.insert("kid".into(), self.kid.as_ref().into());
        map.insert("use".into(), "sig".into());
        Some(value)
    }

    /// A fresh random HMAC key of the hash's output length (HS256 → 32 bytes).
    pub fn generate_hmac(kid: &str, alg: Algorithm) -> Result<Self, KeyError> {
        let len = match alg {
            Algorithm::HS256 => 32,
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            other => return Err(KeyError::WrongAlgorithm(other)),
        };
        let mut secret = vec![0u8; len];
        getrandom::fill(&mut secret).map_err(|_| KeyError::Generation)?;
        Self::hmac(kid, alg, &secret)
    }

    fn self_test(&self) -> Result<(), KeyError> {
        let Some(encoding) = &self.encoding else {
            return Ok(());
        };
        if !family_fits(self.alg, encoding.family())
            || !family_fits(self.alg, self.decoding.family())
        {
            return Err(KeyError::WrongAlgorithm(self.alg));
        }
        let probe = b"portcullis key self-test";
        let signature = jsonwebtoken::crypto::sign(probe, encoding, self.alg)
            .map_err(|_| KeyError::Unparsable)?;
        match jsonwebtoken::crypto::verify(&signature, probe, &self.decoding, self.alg) {
            Ok(true) => Ok(()),
            _ => Err(KeyError::Mismatched),
        }
    }

    /// The key id (`kid`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key accepts and signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Whether the key has a private half and can sign.
    pub fn can_sign(&self) -> bool {
        self.encoding.is_some()
    }

    /// The HMAC key with its pads prepared, for an HMAC key (see the field).
    pub(crate) fn mac(&self) -> Option<&aws_lc_rs::hmac::Key> {
        self.mac.as_ref()
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    pub(crate) fn encoding(&self) -> Option<&EncodingKey> {
        self.encoding.as_ref()
    }
}

/// A PKCS#8 DER private key as PEM text (RFC 7468), in lines of 64 characters.
fn pkcs8_pem(der: &[u8]) -> String {
    let body = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der);
    let mut pem = String::with_capacity(body.len() + body.len() / 64 + 64);
    pem.push_str("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        // Base64 is ASCII: every chunk is valid UTF-8.
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

/// A fresh PKCS#8 DER private key for EdDSA, ES256, ES384, or RSA (2048 bits, for the RS* and
/// PS* algorithms), from the system's secure random source: what a key store persists.
pub fn generate_pkcs8(alg: Algorithm) -> Result<Vec<u8>, KeyError> {
    let rng = SystemRandom::new();
    if alg.family() == AlgorithmFamily::Rsa {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generation)?;
        let der = pair.as_der().map_err(|_| KeyError::Generation)?;
        return Ok(der.as_ref().to_vec());
    }
    let doc = match alg {
        Algorithm::EdDSA => {
            Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Generation)?
        }
        Algorithm::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| KeyError::Generation)?,
        Algorithm::ES384 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .map_err(|_| KeyError::Generation)?,
        other => return Err(KeyError::WrongAlgorithm(other)),
    };
    Ok(doc.as_ref().to_vec())
}

/// The JWS name of an algorithm (`EdDSA`, `ES256`, …).
pub fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        // jsonwebtoken's enum is non-exhaustive; a future algorithm is named by its Debug form
        // only in logs, never matched on.
        _ => "unknown",
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("can_sign", &self.can_sign())
            .finish_non_exhaustive()
    }
}

/// An immutable snapshot of the ring's keys.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<Box<str>, Arc<Key>, foldhash::fast::RandomState>,
    signing: Option<Box<str>>,
}

impl KeySet {
    /// The key with this id.
    pub fn get(&self, kid: &str) -> Option<&Arc<Key>> {
        self.keys.get(kid)
    }

    /// The key that signs new tokens, if one is chosen.
    pub fn signing_key(&self) -> Option<&Arc<Key>> {
        self.signing.as_deref().and_then(|kid| self.keys.get(kid))
    }

    /// Every key id, sorted.
    pub fn kids(&self) -> Vec<&str> {
        let mut kids: Vec<&str> = self.keys.keys().map(|k| &**k).collect();
        kids.sort_unstable();
        kids
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("kids", &self.kids())
            .field("signing", &self.signing)
            .finish()
    }
}

/// The shared, hot-swappable set of keys that signs and verifies tokens.
///
/// Cloning a ring is cheap and every clone sees the same keys. Rotation: [`insert`](Self::insert)
/// a new signing key with [`set_signing`](Self::set_signing); keep the old key in the ring until
/// the last token it signed has expired, then [`remove`](Self::remove) it.
///
/// ```
/// use portcullis::token::{Key, KeyRing};
///
/// let ring = KeyRing::new();
/// ring.insert(Key::generate_ed25519("2026-11")?);
/// ring.set_signing("2026-11")?;
/// assert_eq!(ring.snapshot().signing_key().map(|k| k.kid().to_owned()), Some("2026-11".into()));
/// # Ok::<(), portcullis::token::KeyError>(())
/// ```
#[derive(Clone, Default)]
pub struct KeyRing {
    current: Arc<ArcSwap<KeySet>>,
}

impl KeyRing {
    /// An empty ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// A ring holding one key, which also signs if it can.
    pub fn single(key: Key) -> Self {
        let ring = Self::new();
        let kid = key.kid.clone();
        let can_sign = key.can_sign();
        ring.insert(key);
        if can_sign {
            // Cannot fail: the key was just inserted and can sign.
            let _ = ring.set_signing(&kid);
        }
        ring
    }

    /// The current keys. Lock-free; hold the guard only briefly.
    pub fn snapshot(&self) -> Guard<Arc<KeySet>> {
        self.current.load()
    }

    /// Adds a key, replacing any key with the same id.
    pub fn insert(&self, key: Key) {
        let key = Arc::new(key);
        self.current.rcu(|set| {
            let mut next = KeySet::clone(set);
            next.keys.insert(key.kid.clone(), key.clone());
            next
        });
    }

    /// Removes a key. Removing the signing key leaves the ring without one.
    pub fn remove(&self, kid: &str) {
        self.current.rcu(|set| {
            let mut next = KeySet::clone(set);
            next.keys.remove(kid);
            if next.signing.as_deref() == Some(kid) {
                next.signing = None;
            }
            next
        });
    }

    /// Chooses the key that signs new tokens; it must be in the ring and able to sign.
    pub fn set_signing(&self, kid: &str) -> Result<(), KeyError> {
        let mut outcome = Ok(());
        self.current.rcu(|set| {
            let mut next = KeySet::clone(set);
            outcome = match set.keys.get(kid) {
                None => Err(KeyError::UnknownKid(kid.to_owned())),
                Some(key) if !key.can_sign() => Err(KeyError::VerifyOnly(kid.to_owned())),
                Some(_) => {
                    next.signing = Some(kid.into());
                    Ok(())
                }
            };
            next
        });
        outcome
    }

    /// Replaces every key with these verify-only keys, keeping the given key objects (so a key
    /// that did not change stays the same key to the bearer cache). No key signs afterwards.
    pub(crate) fn install(&self, keys: impl IntoIterator<Item = Arc<Key>>) {
        let mut next = KeySet::default();
        for key in keys {
            next.keys.insert(key.kid.clone(), key);
        }
        self.current.store(Arc::new(next));
    }

    /// Replaces every key at once. Every key becomes a new key object, so tokens the bearer cache
    /// remembers are verified afresh (`RemoteJwks` installs its documents without that cost).
    pub fn replace(
        &self,
        keys: impl IntoIterator<Item = Key>,
        signing: Option<&str>,
    ) -> Result<(), KeyError> {
        let mut next = KeySet::default();
        for key in keys {
            next.keys.insert(key.kid.clone(), Arc::new(key));
        }
        if let Some(kid) = signing {
            match next.keys.get(kid) {
                None => return Err(KeyError::UnknownKid(kid.to_owned())),
                Some(key) if !key.can_sign() => return Err(KeyError::VerifyOnly(kid.to_owned())),
                Some(_) => next.signing = Some(kid.into()),
            }
        }
        self.current.store(Arc::new(next));
        Ok(())
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self.snapshot(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_material() {
        let key = Key::hmac("k", Algorithm::HS256, b"0123456789abcdef0123456789abcdef")
            .unwrap_or_else(|e| panic!("{e}"));
        let text = format!("{key:?} {:?}", KeyRing::single(key.clone()));
        assert!(!text.contains("0123456789"), "{text}");
        assert!(text.contains("HS256"));
    }

    #[test]
    fn weak_and_wrong_keys_refused() {
        assert_eq!(
            Key::hmac("k", Algorithm::HS512, &[1; 63]).map(|_| ()),
            Err(KeyError::WeakSecret {
                alg: Algorithm::HS512,
                min: 64
            })
        );
        assert!(matches!(
            Key::hmac("k", Algorithm::RS256, &[1; 64]),
            Err(KeyError::WrongAlgorithm(_))
        ));
        assert!(matches!(
            Key::hmac("", Algorithm::HS256, &[1; 64]),
            Err(KeyError::InvalidKid)
        ));
        assert!(matches!(
            Key::hmac("a b", Algorithm::HS256, &[1; 64]),
            Err(KeyError::InvalidKid)
        ));
        assert!(matches!(
            Key::verifying_pem("k", Algorithm::RS256, b"not a pem"),
            Err(KeyError::Unparsable)
        ));
    }

    #[test]
    fn generated_keys_sign_and_verify() {
        for key in [
            Key::generate_ed25519("ed"),
            Key::generate_ecdsa("p256", Algorithm::ES256),
            Key::generate_ecdsa("p384", Algorithm::ES384),
            Key::generate_hmac("hs", Algorithm::HS384),
            Key::generate_rsa("rs", Algorithm::RS256),
            Key::generate_rsa("ps", Algorithm::PS256),
        ] {
            let key = key.unwrap_or_else(|e| panic!("{e}"));
            assert!(key.can_sign());
            assert_eq!(key.self_test(), Ok(()));
        }
    }

    #[test]
    fn rsa_keys_round_trip_through_pkcs8_and_refuse_wrong_material() {
        let der = generate_pkcs8(Algorithm::RS256).unwrap_or_else(|e| panic!("{e}"));
        let key = Key::from_pkcs8("rs", Algorithm::RS256, &der).unwrap_or_else(|e| panic!("{e}"));
        let again = Key::from_pkcs8("rs", Algorithm::RS256, &der).unwrap_or_else(|e| panic!("{e}"));
        // The same stored key publishes the same public half.
        assert_eq!(key.jwk(), again.jwk());
        assert_eq!(
            key.jwk().unwrap_or_default()["n"].as_str().map(str::len),
            Some(342)
        );
        // An RSA key for an EC algorithm, an EC key for RSA, and garbage are refused.
        assert!(Key::from_pkcs8("x", Algorithm::ES256, &der).is_err());
        let ec = generate_pkcs8(Algorithm::ES256).unwrap_or_else(|e| panic!("{e}"));
        assert!(Key::from_pkcs8("x", Algorithm::RS256, &ec).is_err());
        assert!(Key::from_pkcs8("x", Algorithm::RS256, b"not a key").is_err());
    }

    #[test]
    fn jwks_round_trip_and_never_expose_secrets() {
        let hmac = Key::generate_hmac("hs", Algorithm::HS256).unwrap_or_else(|e| panic!("{e}"));
        assert!(hmac.jwk().is_none(), "an HMAC key has nothing public");
        for key in [
            Key::generate_ed25519("ed").unwrap_or_else(|e| panic!("{e}")),
            Key::generate_ecdsa("p256", Algorithm::ES256).unwrap_or_else(|e| panic!("{e}")),
            Key::generate_ecdsa("p384", Algorithm::ES384).unwrap_or_else(|e| panic!("{e}")),
            Key::generate_rsa("rs", Algorithm::RS256).unwrap_or_else(|e| panic!("{e}")),
        ] {
            let jwk = key.jwk().unwrap_or_default();
            assert_eq!(jwk["kid"], key.kid());
            assert!(jwk.get("d").is_none(), "no private parameter");
            // A verifier holding only the published JWK accepts what the key signs.
            let parsed: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(jwk).unwrap_or_else(|e| panic!("{e}"));
            let decoding = DecodingKey::from_jwk(&parsed).unwrap_or_else(|e| panic!("{e}"));
            let encoding = key.encoding().unwrap_or_else(|| panic!("a signing key"));
            let signature =
                jsonwebtoken::crypto::sign(b"m", encoding, key.algorithm()).unwrap_or_default();
            let verified =
                jsonwebtoken::crypto::verify(&signature, b"m", &decoding, key.algorithm());
            assert_eq!(verified.ok(), Some(true), "{}", key.kid());
        }
    }

    fn jwk_of(value: serde_json::Value) -> jsonwebtoken::jwk::Jwk {
        serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn published_keys_are_pinned_by_their_type() {
        let rsa_pem = include_bytes!("../../tests/keys/rsa_public.pem");
        let rsa =
            Key::verifying_pem("r", Algorithm::PS256, rsa_pem).unwrap_or_else(|e| panic!("{e}"));
        let ec = Key::generate_ecdsa("e", Algorithm::ES384).unwrap_or_else(|e| panic!("{e}"));
        let ed = Key::generate_ed25519("d").unwrap_or_else(|e| panic!("{e}"));
        for key in [&rsa, &ec, &ed] {
            let jwk = jwk_of(key.jwk().unwrap_or_default());
            let back = Key::from_jwk(&jwk, Algorithm::RS256).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((back.kid(), back.algorithm()), (key.kid(), key.algorithm()));
            assert!(!back.can_sign());
        }
        // An RSA key that names no algorithm gets the configured default, never the token's.
        let mut bare = rsa.jwk().unwrap_or_default();
        bare.as_object_mut().map(|m| m.remove("alg"));
        let pinned = Key::from_jwk(&jwk_of(bare.clone()), Algorithm::RS384);
        assert_eq!(pinned.map(|k| k.algorithm()), Ok(Algorithm::RS384));
        assert!(matches!(
            Key::from_jwk(&jwk_of(bare), Algorithm::ES256),
            Err(KeyError::WrongAlgorithm(_))
        ));
    }

    #[test]
    fn unusable_published_keys_are_refused() {
        let ec = Key::generate_ecdsa("e", Algorithm::ES256).unwrap_or_else(|e| panic!("{e}"));
        let good = ec.jwk().unwrap_or_default();
        let with = |field: &str, value: serde_json::Value| {
            let mut jwk = good.clone();
            jwk[field] = value;
            Key::from_jwk(&jwk_of(jwk), Algorithm::RS256).map(|_| ())
        };
        assert!(matches!(
            with("alg", "ES384".into()),
            Err(KeyError::WrongAlgorithm(_))
        ));
        assert!(matches!(
            with("alg", "RS256".into()),
            Err(KeyError::WrongAlgorithm(_))
        ));
        assert!(matches!(
            with("alg", "RSA-OAEP".into()),
            Err(KeyError::UnusableJwk(_))
        ));
        assert!(matches!(
            with("use", "enc".into()),
            Err(KeyError::UnusableJwk(_))
        ));
        assert!(matches!(
            with("key_ops", serde_json::json!(["sign"])),
            Err(KeyError::UnusableJwk(_))
        ));
        assert!(matches!(with("kid", "".into()), Err(KeyError::InvalidKid)));
        assert_eq!(with("key_ops", serde_json::json!(["verify"])), Ok(()));
        let mut no_kid = good.clone();
        no_kid.as_object_mut().map(|m| m.remove("kid"));
        assert!(matches!(
            Key::from_jwk(&jwk_of(no_kid), Algorithm::RS256),
            Err(KeyError::InvalidKid)
        ));

        let secret = jwk_of(
            serde_json::json!({"kty": "oct", "kid": "s", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}),
        );
        assert!(matches!(
            Key::from_jwk(&secret, Algorithm::RS256),
            Err(KeyError::UnusableJwk(_))
        ));
        let p521 = jwk_of(
            serde_json::json!({"kty": "EC", "crv": "P-521", "kid": "p", "x": "AA", "y": "AA"}),
        );
        assert!(matches!(
            Key::from_jwk(&p521, Algorithm::RS256),
            Err(KeyError::UnusableJwk(_))
        ));
        // A 1024-bit modulus (top bit set, 128 bytes) is too weak; 2048 bits with leading zero
        // bytes in the encoding still counts as 2048.
        let n = |bytes: Vec<u8>| {
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
        };
        let rsa =
            |n: String| jwk_of(serde_json::json!({"kty": "RSA", "kid": "r", "n": n, "e": "AQAB"}));
        let weak = rsa(n([vec![0x80], vec![1; 127]].concat()));
        assert!(matches!(
            Key::from_jwk(&weak, Algorithm::RS256),
            Err(KeyError::UnusableJwk(_))
        ));
        let padded = rsa(n([vec![0, 0, 0x80], vec![1; 255]].concat()));
        assert_eq!(
            Key::from_jwk(&padded, Algorithm::RS256).map(|k| k.algorithm()),
            Ok(Algorithm::RS256)
        );
        // A real key published with a zero-padded modulus still verifies what it signed.
        let private = include_bytes!("../../tests/keys/rsa_private.pem");
        let public = include_bytes!("../../tests/keys/rsa_public.pem");
        let signer = Key::signing_pem("r", Algorithm::RS256, private, public)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut jwk = signer.jwk().unwrap_or_default();
        let modulus = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            jwk["n"].as_str().unwrap_or_default(),
        )
        .unwrap_or_default();
        jwk["n"] = n([vec![0], modulus].concat()).into();
        let published =
            Key::from_jwk(&jwk_of(jwk), Algorithm::RS256).unwrap_or_else(|e| panic!("{e}"));
        let encoding = signer.encoding().unwrap_or_else(|| panic!("a signing key"));
        let signature =
            jsonwebtoken::crypto::sign(b"m", encoding, Algorithm::RS256).unwrap_or_default();
        let verified =
            jsonwebtoken::crypto::verify(&signature, b"m", published.decoding(), Algorithm::RS256);
        assert_eq!(verified.ok(), Some(true));
        assert_eq!(bit_length(&[0, 0, 1]), 1);
        assert_eq!(bit_length(&[0x80, 0]), 16);
        assert_eq!(bit_length(&[]), 0);
    }

    #[test]
    fn rotation() {
        let ring = KeyRing::new();
        ring.insert(Key::generate_ed25519("old").unwrap_or_else(|e| panic!("{e}")));
        ring.set_signing("old").unwrap_or_else(|e| panic!("{e}"));
        ring.insert(Key::generate_ed25519("new").unwrap_or_else(|e| panic!("{e}")));
        ring.set_signing("new").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ring.snapshot().kids(), ["new", "old"]);
        ring.remove("old");
        assert_eq!(ring.snapshot().kids(), ["new"]);
        assert!(matches!(
            ring.set_signing("old"),
            Err(KeyError::UnknownKid(_))
        ));
        ring.remove("new");
        assert!(ring.snapshot().signing_key().is_none());
    }
}
