//! Secrets the crate hands out once and keeps only as digests: refresh tokens, session cookies,
//! API keys, and the random ids beside them.
//!
//! One place for the three things every credential needs, so they cannot drift apart: random
//! bytes from the operating system (a failure is an error, never a weaker fallback), a SHA-256
//! digest (what the stores keep: a leaked database holds nothing that authenticates), and a
//! constant-time comparison of digests (a timing side channel tells an attacker nothing about how
//! much of a guess was right). A prefixed secret (`prt_…`, `pss_…`, `pk_live_…`) lets secret
//! scanners recognise a leaked one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// The operating system could not provide random bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no randomness available from the operating system")]
pub(crate) struct NoRandomness;

/// A SHA-256 digest.
pub(crate) type Digest = [u8; 32];

/// Bytes of randomness in every secret the crate issues (256 bits).
pub(crate) const SECRET_BYTES: usize = 32;

/// Length of [`SECRET_BYTES`] in unpadded base64url.
pub(crate) const SECRET_CHARS: usize = 43;

/// `N` random bytes.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], NoRandomness> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| NoRandomness)?;
    Ok(bytes)
}

/// `N` random bytes in unpadded base64url: an id no one can guess.
pub(crate) fn random_id<const N: usize>() -> Result<String, NoRandomness> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<N>()?))
}

/// `N` random bytes as lower-case hex.
pub(crate) fn random_hex<const N: usize>() -> Result<String, NoRandomness> {
    Ok(random_bytes::<N>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// SHA-256 of `text`.
pub(crate) fn digest(text: &str) -> Digest {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(hash.as_ref());
    out
}

/// Whether two digests are equal, in time independent of where they differ.
pub(crate) fn digests_match(a: &Digest, b: &Digest) -> bool {
    bool::from(a.ct_eq(b))
}

/// A secret to show once, and the digest to store.
pub(crate) struct Issued {
    /// The whole secret, prefix included: handed to the client, never stored or logged.
    pub(crate) secret: String,
    /// SHA-256 of [`secret`](Self::secret): what the store keeps.
    pub(crate) digest: Digest,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

/// A fresh `prefix` + 256 random bits in base64url, with its digest.
pub(crate) fn issue(prefix: &str) -> Result<Issued, NoRandomness> {
    let secret = format!("{prefix}{}", random_id::<SECRET_BYTES>()?);
    Ok(Issued {
        digest: digest(&secret),
        secret,
    })
}

/// Whether `presented` has the shape of a secret from [`issue`] with `prefix` (checked before
/// anything is hashed or looked up).
pub(crate) fn has_shape(presented: &str, prefix: &str) -> bool {
    presented.len() == prefix.len() + SECRET_CHARS
        && presented.starts_with(prefix)
        && presented[prefix.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_secrets_have_their_shape_and_digest() {
        let issued = issue("prt_").unwrap_or_else(|e| panic!("{e}"));
        assert!(has_shape(&issued.secret, "prt_"));
        assert_eq!(issued.digest, digest(&issued.secret));
        assert!(!has_shape(&issued.secret, "pss_"));
        assert!(!has_shape(
            &format!("{} ", &issued.secret[..issued.secret.len() - 1]),
            "prt_"
        ));
        assert!(!has_shape(
            &issued.secret[..issued.secret.len() - 1],
            "prt_"
        ));
        let other = issue("prt_").unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(issued.secret, other.secret);
        assert!(!digests_match(&issued.digest, &other.digest));
        assert!(digests_match(&issued.digest, &digest(&issued.secret)));
        assert!(!format!("{issued:?}").contains(&issued.secret[4..]));
    }

    #[test]
    fn ids() {
        assert_eq!(random_id::<16>().unwrap_or_default().len(), 22);
        let hex = random_hex::<8>().unwrap_or_default();
        assert_eq!(hex.len(), 16);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }
}
