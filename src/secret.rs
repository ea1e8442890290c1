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

/// A random UUID (version 4, RFC 9562 §5.4) in its lowercase hyphenated form: 122 random bits,
/// in the shape other systems parse ids in (Sentinel's SDK reads user ids as UUIDs).
pub(crate) fn random_uuid() -> Result<String, NoRandomness> {
    let mut bytes = random_bytes::<16>()?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex(&bytes);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// `N` random bytes as lower-case hex.
pub(crate) fn random_hex<const N: usize>() -> Result<String, NoRandomness> {
    Ok(hex(&random_bytes::<N>()?))
}

/// `bytes` as lower-case hex, in one allocation.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    // Bytes first, then one (vectorised) UTF-8 check: pushing `char`s encodes each one.
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.extend_from_slice(&[DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0x0f)]]);
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The 32 bytes written as `text`: exactly 64 lowercase hex digits, else `None` (one spelling
/// per value, so two different texts never stand for the same bytes).
pub(crate) fn unhex32(text: &str) -> Option<[u8; 32]> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let value = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        out[i] = (value(pair[0])? << 4) | value(pair[1])?;
    }
    Some(out)
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

/// What a [`Tagger`] makes of a credential.
pub(crate) type Tag = u128;

/// Recognises, in memory and without SHA-256, a credential this process already checked in full.
///
/// A cache of checked credentials (verified tokens, API keys) needs a key that an attacker can
/// neither forge nor collide, and it runs on every request: SHA-256 costs about 4,500
/// instructions for a token's signature, more than the rest of the gateway together. A tag is
/// SipHash-2-4 with a 128-bit output under a key drawn from the operating system for each tagger
/// and never shown: a pseudo-random function built for short inputs, so without the key no one
/// can predict or steer a tag, and 128 bits make a collision between credentials as unlikely as
/// one of SHA-256's in practice, for a tenth of the cost. Tags never leave the process, and what
/// they stand for is kept only as the tag.
pub(crate) struct Tagger {
    key: [u8; 16],
}

impl std::fmt::Debug for Tagger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tagger").finish_non_exhaustive()
    }
}

impl Tagger {
    /// A tagger with a fresh random key.
    pub(crate) fn new() -> Result<Self, NoRandomness> {
        Ok(Self {
            key: random_bytes::<16>()?,
        })
    }

    /// The tag of `bytes` under this tagger's key.
    pub(crate) fn tag(&self, bytes: &[u8]) -> Tag {
        siphasher::sip128::SipHasher24::new_with_key(&self.key)
            .hash(bytes)
            .as_u128()
    }
}

/// Whether two tags are equal, in time independent of where they differ.
pub(crate) fn tags_match(a: Tag, b: Tag) -> bool {
    bool::from(a.ct_eq(&b))
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
        && all_in(&BASE64URL, &presented.as_bytes()[prefix.len()..])
}

/// A set of bytes as a table: checking a credential's characters costs one load per byte on the
/// request path, not a chain of range tests.
pub(crate) type ByteSet = [bool; 256];

const fn byte_set(ranges: &[(u8, u8)]) -> ByteSet {
    let mut set = [false; 256];
    let mut r = 0;
    while r < ranges.len() {
        let (mut b, last) = ranges[r];
        while b <= last {
            set[b as usize] = true;
            b += 1;
        }
        r += 1;
    }
    set
}

/// The characters of unpadded base64url.
pub(crate) const BASE64URL: ByteSet = byte_set(&[
    (b'A', b'Z'),
    (b'a', b'z'),
    (b'0', b'9'),
    (b'-', b'-'),
    (b'_', b'_'),
]);

/// Lower-case hexadecimal digits.
pub(crate) const LOWER_HEX: ByteSet = byte_set(&[(b'0', b'9'), (b'a', b'f')]);

/// Whether every byte is in `set`.
pub(crate) fn all_in(set: &ByteSet, bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| set[usize::from(b)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_uuids_are_version_4() {
        let id = random_uuid().unwrap_or_default();
        assert_eq!(id.len(), 36);
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{id}");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(random_uuid().unwrap_or_default(), id);
    }

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
    fn tags_depend_on_the_bytes_and_on_the_key() {
        let tagger = Tagger::new().unwrap_or_else(|e| panic!("{e}"));
        let other = Tagger::new().unwrap_or_else(|e| panic!("{e}"));
        let t = tagger.tag(b"signature");
        assert!(tags_match(t, tagger.tag(b"signature")));
        assert!(!tags_match(t, tagger.tag(b"signaturf")));
        assert!(!tags_match(t, tagger.tag(b"signatur")));
        assert!(
            !tags_match(t, other.tag(b"signature")),
            "each tagger has its own key"
        );
        assert!(!format!("{tagger:?}").contains(&format!("{:?}", tagger.key)));
    }

    #[test]
    fn byte_sets_hold_exactly_their_characters() {
        for b in 0..=255u8 {
            let base64url = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            assert_eq!(BASE64URL[usize::from(b)], base64url, "{b}");
            let hex = b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
            assert_eq!(LOWER_HEX[usize::from(b)], hex, "{b}");
        }
        assert!(all_in(&LOWER_HEX, b"09af") && !all_in(&LOWER_HEX, b"09aF"));
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
