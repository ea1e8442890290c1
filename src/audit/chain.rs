//! Sealing records into a chain, and checking one.
//!
//! Each sealed record's signature covers its chain, its sequence number, the previous record's
//! link (a SHA-256 of everything the previous record's signature covered, and that signature),
//! the key id, and the record's canonical bytes. So an edited record fails its signature; a
//! dropped one leaves a gap in the numbers and a link that does not follow; an inserted or
//! reordered one breaks the numbers or the link (nobody without the key can sign a new one);
//! and a cut tail is caught against a signed [`Checkpoint`] kept elsewhere. This is what
//! spanforge's "chain" never did: its MAC left the previous record out.
//!
//! The signature is any signing key of a [`KeyRing`]: HMAC-SHA256 (verifiers need the secret)
//! or Ed25519 / ECDSA (verifiers need only the public key). Each record names its key, so a
//! rotation in the middle of a chain verifies with the old key kept verify-only in the ring.
//!
//! ```text
//! covered(record) = "PCLINK02" text(chain) u64(seq) prev(32 bytes) text(kid) canonical(record)
//! digest(record)  = SHA-256( covered(record) )
//! signature       = the key's algorithm over digest(record), base64url without padding
//! link(record)    = SHA-256( digest(record) text(signature) )
//! prev(first)     = 32 zero bytes
//! signed(checkpoint) = "PCCHKP01" text(chain) u64(seq) link(32 bytes) i64(time_ms) text(kid)
//! ```
//!
//! A record is signed through its digest (hash, then sign, as Ed25519 and TLS signatures do),
//! so its bytes are hashed once: the signature and the link both start from that digest. An
//! HMAC key then MACs 32 bytes with its pads prepared once (`Key`'s cached HMAC key), which
//! keeps sealing well under a microsecond on SHA-capable cores; the record's own bytes cost one
//! SHA-256 pass. (Link format 1 signed the covered bytes themselves; it was never released, and
//! a link of that format does not verify as format 2.)

use serde::{Deserialize, Serialize};

use super::record::{AuditRecord, hex, put_text, unhex32};
use crate::token::{KeyRing, KeySet};

const LINK_FORMAT: &[u8; 8] = b"PCLINK02";
const CHECKPOINT_FORMAT: &[u8; 8] = b"PCCHKP01";
/// The link before a chain's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Longest chain name, in bytes.
pub const MAX_CHAIN_BYTES: usize = 128;

/// Why the trail could not seal a record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The key ring has no signing key: the trail refuses to start (there is no built-in key).
    #[error("the audit key ring has no signing key")]
    NoSigningKey,
    /// The chain's name is empty, too long, or not printable ASCII.
    #[error("invalid audit chain name")]
    BadChain,
    /// A field of the record is too long (named).
    #[error(transparent)]
    Field(#[from] super::record::FieldTooLong),
    /// The signing itself failed.
    #[error("audit signing failed")]
    Signing,
    /// Bytes given as a record's canonical form are not one record within bounds.
    #[error("not the canonical bytes of one audit record")]
    Malformed,
    /// The head to continue from has a link that is not 64 lower-case hex digits.
    #[error("the audit chain's head has a malformed link")]
    BadHead,
}

/// A record in its chain: where it sits, what it follows, and the signature over both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedRecord {
    /// The chain (one per writing instance).
    pub chain: String,
    /// Its place in the chain, from 1, without gaps.
    pub seq: u64,
    /// The previous record's link (hex; [`GENESIS`] for the first).
    pub prev: String,
    /// The key that signed it.
    pub kid: String,
    /// The signature (base64url, as the key's algorithm makes it).
    pub signature: String,
    /// The decision.
    pub record: AuditRecord,
}

impl SealedRecord {
    /// SHA-256 of everything the signature covers, laid out in `scratch`.
    fn digest(&self, scratch: &mut Vec<u8>, canonical: &mut Vec<u8>) -> [u8; 32] {
        canonical.clear();
        self.record.canonical_into(canonical);
        covered_digest(
            &self.chain,
            self.seq,
            &unhex32(&self.prev),
            &self.kid,
            canonical,
            scratch,
        )
    }

    /// This record's link: what the next record's `prev` must be (hex SHA-256).
    pub fn link(&self) -> String {
        hex(&link_of(
            &self.digest(&mut Vec::new(), &mut Vec::new()),
            &self.signature,
        ))
    }
}

/// SHA-256 of `covered(record)` (see the module docs), the record given as its canonical
/// bytes; `scratch` (reused between records) takes the part before them.
fn covered_digest(
    chain: &str,
    seq: u64,
    prev: &[u8; 32],
    kid: &str,
    canonical: &[u8],
    scratch: &mut Vec<u8>,
) -> [u8; 32] {
    scratch.clear();
    scratch.extend_from_slice(LINK_FORMAT);
    put_text(scratch, chain);
    scratch.extend_from_slice(&seq.to_be_bytes());
    scratch.extend_from_slice(prev);
    put_text(scratch, kid);
    sha256(&[scratch, canonical])
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in parts {
        context.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// The link of a record whose digest is `digest` and signature `signature`.
fn link_of(digest: &[u8; 32], signature: &str) -> [u8; 32] {
    let length = u32::try_from(signature.len()).unwrap_or(u32::MAX);
    sha256(&[digest, &length.to_be_bytes(), signature.as_bytes()])
}

/// `link` as the 64 lower-case hex digits a record's `prev` holds, without allocating.
fn hex32(link: &[u8; 32]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in link.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
    }
    out
}

/// Longest signature text a verifier decodes (an RSA-8192 signature is 1,366 characters).
const MAX_SIGNATURE_CHARS: usize = 2048;

/// `message` signed with `key`: an HMAC key through its prepared pads, any other key through
/// jsonwebtoken (the same bytes either way: base64url without padding of the MAC or signature).
fn sign(key: &crate::token::Key, message: &[u8]) -> Result<String, SealError> {
    use base64::Engine as _;
    if let Some(mac) = key.mac() {
        let tag = aws_lc_rs::hmac::sign(mac, message);
        return Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref()));
    }
    let encoding = key.encoding().ok_or(SealError::NoSigningKey)?;
    jsonwebtoken::crypto::sign(message, encoding, key.algorithm()).map_err(|_| SealError::Signing)
}

/// Where a chain stands: its last record's number and link (0 and [`GENESIS`] when empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The chain.
    pub chain: String,
    /// The last record's number.
    pub seq: u64,
    /// The last record's link.
    pub link: String,
}

impl Head {
    /// An empty chain.
    pub fn genesis(chain: &str) -> Self {
        Self {
            chain: chain.to_owned(),
            seq: 0,
            link: GENESIS.to_owned(),
        }
    }

    /// Where the chain stands after `record`.
    pub fn after(record: &SealedRecord) -> Self {
        Self {
            chain: record.chain.clone(),
            seq: record.seq,
            link: record.link(),
        }
    }
}

/// A signed statement of a chain's head, written somewhere the records are not (another
/// database, a file, a log service): a verifier holding it knows how long the chain was, so a
/// tail cut from the records is seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The head it vouches for.
    pub head: Head,
    /// When (milliseconds since the Unix epoch).
    pub time_ms: i64,
    /// The key that signed it.
    pub kid: String,
    /// The signature (base64url).
    pub signature: String,
}

impl Checkpoint {
    fn signed_bytes(head: &Head, time_ms: i64, kid: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(CHECKPOINT_FORMAT);
        put_text(&mut out, &head.chain);
        out.extend_from_slice(&head.seq.to_be_bytes());
        out.extend_from_slice(&unhex32(&head.link));
        out.extend_from_slice(&time_ms.to_be_bytes());
        put_text(&mut out, kid);
        out
    }

    /// Whether a key of `keys` signed it.
    pub fn is_signed_by(&self, keys: &KeySet) -> bool {
        verify_signature(
            keys,
            &self.kid,
            &self.signature,
            &Self::signed_bytes(&self.head, self.time_ms, &self.kid),
        )
        .is_ok()
    }
}

/// Seals records into one chain, in order. One writer owns it (the trail's writer task), so the
/// numbers never fork; several instances each write their own chain (named after the instance):
/// no coordination on the request path, and each chain verifies alone.
pub struct Sealer {
    ring: KeyRing,
    head: Head,
    /// `head.link` as bytes.
    link: [u8; 32],
    /// Where each record's covered bytes are laid out before hashing.
    scratch: Vec<u8>,
    /// Where [`Sealer::seal`] writes a record's canonical bytes.
    canonical: Vec<u8>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The ring's keys stay out of logs.
        f.debug_struct("Sealer").field("head", &self.head).finish()
    }
}

fn check_chain(chain: &str) -> Result<(), SealError> {
    let ok = !chain.is_empty()
        && chain.len() <= MAX_CHAIN_BYTES
        && chain.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(()).ok_or(SealError::BadChain)
}

impl Sealer {
    /// A sealer continuing the chain from `head` (use [`Head::genesis`] for a new chain),
    /// signing with the ring's signing key at each seal (so a rotation takes effect on the
    /// next record). Refuses a ring without a signing key: there is no fallback.
    pub fn new(ring: KeyRing, head: Head) -> Result<Self, SealError> {
        check_chain(&head.chain)?;
        if ring
            .snapshot()
            .signing_key()
            .and_then(|k| k.encoding())
            .is_none()
        {
            return Err(SealError::NoSigningKey);
        }
        let link = unhex32(&head.link);
        if hex32(&link) != head.link.as_bytes() {
            return Err(SealError::BadHead);
        }
        Ok(Self {
            ring,
            head,
            link,
            scratch: Vec::with_capacity(256),
            canonical: Vec::with_capacity(512),
        })
    }

    /// Where the chain stands.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Seals `record` as the chain's next.
    pub fn seal(&mut self, record: AuditRecord) -> Result<SealedRecord, SealError> {
        record.check()?;
        let mut canonical = std::mem::take(&mut self.canonical);
        canonical.clear();
        record.canonical_into(&mut canonical);
        let sealed = self.seal_encoded(record, &canonical);
        self.canonical = canonical;
        sealed
    }

    /// Seals the record whose canonical bytes are `canonical` (the trail's queue holds records
    /// so), refusing bytes that are not exactly one record within bounds.
    pub(crate) fn seal_canonical(&mut self, canonical: &[u8]) -> Result<SealedRecord, SealError> {
        let record = AuditRecord::from_canonical(canonical).ok_or(SealError::Malformed)?;
        self.seal_encoded(record, canonical)
    }

    /// Seals `record`, whose canonical bytes are `canonical`.
    fn seal_encoded(
        &mut self,
        record: AuditRecord,
        canonical: &[u8],
    ) -> Result<SealedRecord, SealError> {
        let keys = self.ring.snapshot();
        let key = keys.signing_key().ok_or(SealError::NoSigningKey)?;
        let seq = self.head.seq + 1;
        let digest = covered_digest(
            &self.head.chain,
            seq,
            &self.link,
            key.kid(),
            canonical,
            &mut self.scratch,
        );
        let signature = sign(key, &digest)?;
        let link = link_of(&digest, &signature);
        // The head's link text becomes this record's `prev`: moved, not copied.
        let prev = std::mem::replace(&mut self.head.link, hex(&link));
        self.head.seq = seq;
        self.link = link;
        Ok(SealedRecord {
            chain: self.head.chain.clone(),
            seq,
            prev,
            kid: key.kid().to_owned(),
            signature,
            record,
        })
    }

    /// A signed statement of where the chain stands now.
    pub fn checkpoint(&self, time_ms: i64) -> Result<Checkpoint, SealError> {
        let keys = self.ring.snapshot();
        let key = keys.signing_key().ok_or(SealError::NoSigningKey)?;
        let signed = Checkpoint::signed_bytes(&self.head, time_ms, key.kid());
        let signature = sign(key, &signed)?;
        Ok(Checkpoint {
            head: self.head.clone(),
            time_ms,
            kid: key.kid().to_owned(),
            signature,
        })
    }
}

/// What is wrong at the first broken link.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Break {
    /// The record belongs to another chain.
    OtherChain,
    /// Its key is not in the ring (or cannot verify).
    UnknownKey,
    /// Its signature does not cover what it holds: edited.
    BadSignature,
    /// Its number is past the expected one: records before it were dropped.
    Missing {
        /// The number that should have come.
        expected: u64,
    },
    /// Its number comes again or goes back: reordered or inserted.
    OutOfOrder {
        /// The number that should have come.
        expected: u64,
    },
    /// It does not follow the record before it (its `prev` is another link).
    Unlinked,
    /// The records end before the checkpoint's head: the tail was cut.
    Truncated {
        /// The checkpoint's last record.
        checkpoint: u64,
    },
    /// The record at the checkpoint's number is not the one the checkpoint vouched for.
    CheckpointMismatch,
    /// The checkpoint itself is not signed by a key of the ring, or names another chain.
    BadCheckpoint,
}

/// The first broken link of a chain: the record's number (the checkpoint's, for a cut tail)
/// and what is wrong there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at record {seq}: {kind:?}")]
pub struct Broken {
    /// The record where the chain first breaks.
    pub seq: u64,
    /// What is wrong.
    pub kind: Break,
}

/// A verified stretch of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// How many records verified.
    pub records: u64,
    /// Where the chain stands after them.
    pub head: Head,
}

fn verify_signature(keys: &KeySet, kid: &str, signature: &str, signed: &[u8]) -> Result<(), Break> {
    use base64::Engine as _;
    let key = keys.get(kid).ok_or(Break::UnknownKey)?;
    if signature.len() > MAX_SIGNATURE_CHARS {
        return Err(Break::BadSignature);
    }
    if let Some(mac) = key.mac() {
        // A constant-time comparison of the whole tag, on the canonical base64 only.
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| Break::BadSignature)?;
        return aws_lc_rs::hmac::verify(mac, signed, &tag).map_err(|_| Break::BadSignature);
    }
    match jsonwebtoken::crypto::verify(signature, signed, key.decoding(), key.algorithm()) {
        Ok(true) => Ok(()),
        Ok(false) | Err(_) => Err(Break::BadSignature),
    }
}

/// Checks `records` (in the order stored) as the continuation of `from` (a [`Head::genesis`] for
/// a whole chain, or a head verified before), against `checkpoint` when one is given: every
/// signature, every number, every link, and that the records reach the checkpoint's head.
/// Names the first broken link.
pub fn verify<'a>(
    keys: &KeySet,
    from: &Head,
    records: impl IntoIterator<Item = &'a SealedRecord>,
    checkpoint: Option<&Checkpoint>,
) -> Result<Verified, Broken> {
    if let Some(checkpoint) = checkpoint
        && (!checkpoint.is_signed_by(keys) || checkpoint.head.chain != from.chain)
    {
        return Err(Broken {
            seq: checkpoint.head.seq,
            kind: Break::BadCheckpoint,
        });
    }
    let mut head = from.clone();
    let mut link = unhex32(&from.link);
    let (mut scratch, mut canonical) = (Vec::with_capacity(256), Vec::with_capacity(512));
    let mut count = 0;
    for record in records {
        let expected = head.seq + 1;
        let broken = |kind| Broken {
            seq: record.seq,
            kind,
        };
        if record.chain != head.chain {
            return Err(broken(Break::OtherChain));
        }
        // Bounded before anything is hashed: a stored field no writer could have written is an
        // edit (and would cost memory and time in proportion to what a tamperer put there).
        if record.record.check().is_err() {
            return Err(broken(Break::BadSignature));
        }
        let digest = record.digest(&mut scratch, &mut canonical);
        verify_signature(keys, &record.kid, &record.signature, &digest).map_err(broken)?;
        if record.seq > expected {
            return Err(broken(Break::Missing { expected }));
        }
        if record.seq < expected {
            return Err(broken(Break::OutOfOrder { expected }));
        }
        // The second test holds once a record has verified; before, it refuses a starting head
        // whose link is not well-formed hex (which `unhex32` would have read as zeros).
        if record.prev.as_bytes() != hex32(&link) || head.link.as_bytes() != hex32(&link) {
            return Err(broken(Break::Unlinked));
        }
        link = link_of(&digest, &record.signature);
        head.seq = record.seq;
        head.link = hex(&link);
        count += 1;
        if let Some(checkpoint) = checkpoint
            && head.seq == checkpoint.head.seq
            && head.link != checkpoint.head.link
        {
            return Err(broken(Break::CheckpointMismatch));
        }
    }
    if let Some(checkpoint) = checkpoint
        && head.seq < checkpoint.head.seq
    {
        return Err(Broken {
            seq: head.seq + 1,
            kind: Break::Truncated {
                checkpoint: checkpoint.head.seq,
            },
        });
    }
    Ok(Verified {
        records: count,
        head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{Algorithm, Key};

    fn hmac_key() -> Key {
        Key::hmac("k", Algorithm::HS256, &[9u8; 32]).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_prepared_hmac_signs_what_jsonwebtoken_signs() {
        // Verifiers elsewhere (any JOSE library, or this crate before the prepared key) must
        // read the same signature text.
        let key = hmac_key();
        let encoding = key.encoding().unwrap_or_else(|| panic!("no signing half"));
        let expected = jsonwebtoken::crypto::sign(b"message", encoding, Algorithm::HS256)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sign(&key, b"message"), Ok(expected));
    }

    #[test]
    fn only_the_canonical_signature_text_verifies() {
        let key = hmac_key();
        let ring = KeyRing::single(key.clone());
        let keys = ring.snapshot();
        let signature = sign(&key, b"message").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(verify_signature(&keys, "k", &signature, b"message"), Ok(()));
        assert_eq!(
            verify_signature(&keys, "k", &signature, b"messagf"),
            Err(Break::BadSignature)
        );
        for altered in [
            format!("{signature}="),
            signature.replace('-', "+").replace('_', "/"),
            signature[..signature.len() - 1].to_owned(),
            "A".repeat(MAX_SIGNATURE_CHARS + 1),
        ] {
            if altered != signature {
                assert_eq!(
                    verify_signature(&keys, "k", &altered, b"message"),
                    Err(Break::BadSignature),
                    "{altered}"
                );
            }
        }
        assert_eq!(
            verify_signature(&keys, "other", &signature, b"message"),
            Err(Break::UnknownKey)
        );
    }

    #[test]
    fn a_head_with_a_malformed_link_is_refused() {
        let ring = KeyRing::single(hmac_key());
        let mut head = Head::genesis("c");
        head.link = "zz".repeat(32);
        assert!(matches!(
            Sealer::new(ring.clone(), head.clone()),
            Err(SealError::BadHead)
        ));
        // A verifier started from it breaks at the first record rather than reading zeros.
        let mut sealer =
            Sealer::new(ring.clone(), Head::genesis("c")).unwrap_or_else(|e| panic!("{e}"));
        let record = sealer
            .seal(crate::audit::record::tests::sample())
            .unwrap_or_else(|e| panic!("{e}"));
        let broken = verify(&ring.snapshot(), &head, [&record], None);
        assert_eq!(broken.map_err(|b| b.kind), Err(Break::Unlinked));
    }
}
