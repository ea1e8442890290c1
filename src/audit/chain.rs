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
//! signed(record) = "PCLINK01" text(chain) u64(seq) prev(32 bytes) text(kid) canonical(record)
//! link(record)   = SHA-256( signed(record) text(signature) )
//! prev(first)    = 32 zero bytes
//! signed(checkpoint) = "PCCHKP01" text(chain) u64(seq) link(32 bytes) i64(time_ms) text(kid)
//! ```

use serde::{Deserialize, Serialize};

use super::record::{AuditRecord, hex, put_text, unhex32};
use crate::token::{KeyRing, KeySet};

const LINK_FORMAT: &[u8; 8] = b"PCLINK01";
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
    fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(LINK_FORMAT);
        put_text(&mut out, &self.chain);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&unhex32(&self.prev));
        put_text(&mut out, &self.kid);
        out.extend_from_slice(&self.record.canonical());
        out
    }

    /// This record's link: what the next record's `prev` must be (hex SHA-256).
    pub fn link(&self) -> String {
        link_of(self.signed_bytes(), &self.signature)
    }
}

/// The link of a record whose signed bytes are `signed` (consumed) and signature `signature`.
fn link_of(mut signed: Vec<u8>, signature: &str) -> String {
    put_text(&mut signed, signature);
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &signed).as_ref())
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
        Ok(Self { ring, head })
    }

    /// Where the chain stands.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Seals `record` as the chain's next.
    pub fn seal(&mut self, record: AuditRecord) -> Result<SealedRecord, SealError> {
        record.check()?;
        let keys = self.ring.snapshot();
        let key = keys.signing_key().ok_or(SealError::NoSigningKey)?;
        let encoding = key.encoding().ok_or(SealError::NoSigningKey)?;
        let mut sealed = SealedRecord {
            chain: self.head.chain.clone(),
            seq: self.head.seq + 1,
            prev: self.head.link.clone(),
            kid: key.kid().to_owned(),
            signature: String::new(),
            record,
        };
        let signed = sealed.signed_bytes();
        sealed.signature = jsonwebtoken::crypto::sign(&signed, encoding, key.algorithm())
            .map_err(|_| SealError::Signing)?;
        // The bytes just signed give the link too: no second encoding of the record.
        self.head = Head {
            chain: sealed.chain.clone(),
            seq: sealed.seq,
            link: link_of(signed, &sealed.signature),
        };
        Ok(sealed)
    }

    /// A signed statement of where the chain stands now.
    pub fn checkpoint(&self, time_ms: i64) -> Result<Checkpoint, SealError> {
        let keys = self.ring.snapshot();
        let key = keys.signing_key().ok_or(SealError::NoSigningKey)?;
        let encoding = key.encoding().ok_or(SealError::NoSigningKey)?;
        let signed = Checkpoint::signed_bytes(&self.head, time_ms, key.kid());
        let signature = jsonwebtoken::crypto::sign(&signed, encoding, key.algorithm())
            .map_err(|_| SealError::Signing)?;
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
    let key = keys.get(kid).ok_or(Break::UnknownKey)?;
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
        let signed = record.signed_bytes();
        verify_signature(keys, &record.kid, &record.signature, &signed).map_err(broken)?;
        if record.seq > expected {
            return Err(broken(Break::Missing { expected }));
        }
        if record.seq < expected {
            return Err(broken(Break::OutOfOrder { expected }));
        }
        if record.prev != head.link {
            return Err(broken(Break::Unlinked));
        }
        head = Head {
            chain: record.chain.clone(),
            seq: record.seq,
            link: link_of(signed, &record.signature),
        };
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
