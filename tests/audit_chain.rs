//! The audit chain against the tampering an auditor fears: an edited, dropped, inserted,
//! reordered or truncated record, each found at the right record; a key rotation in the middle
//! of a chain; a verifier that holds only public keys; and no trail without a key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis::audit::{
    AuditRecord, Break, Broken, Head, Held, Outcome, SealError, SealedRecord, Sealer, verify,
};
use portcullis::token::{Algorithm, Key, KeyRing};

const CHAIN: &str = "instance-a";

fn record(n: u64) -> AuditRecord {
    AuditRecord {
        id: format!("{n:032x}"),
        time_ms: 1_700_000_000_000 + i64::try_from(n).unwrap(),
        trace_id: format!("{:032x}", n + 1000),
        subject: format!("user{}", n % 7),
        tenant: Some("acme".into()),
        namespace: (n.is_multiple_of(3)).then(|| "eng/platform".to_owned()),
        required: "write:Books".into(),
        held: Held::of(["editor"]),
        outcome: if n.is_multiple_of(2) {
            Outcome::Allow
        } else {
            Outcome::Deny
        },
        reason: if n.is_multiple_of(2) {
            "allow_role".into()
        } else {
            "deny_no_permission".into()
        },
        matched: None,
        route: Some("/books/{id}".into()),
        method: Some("PUT".into()),
        client: Some("10.0.0.1".into()),
        auth_method: "bearer".into(),
    }
}

/// A chain of `n` records sealed with an Ed25519 key, and the ring.
fn chain(n: u64) -> (Vec<SealedRecord>, KeyRing, Sealer) {
    let ring = KeyRing::single(Key::generate_ed25519("audit-1").unwrap());
    let mut sealer = Sealer::new(ring.clone(), Head::genesis(CHAIN)).unwrap();
    let sealed = (1..=n).map(|i| sealer.seal(record(i)).unwrap()).collect();
    (sealed, ring, sealer)
}

fn check(ring: &KeyRing, records: &[SealedRecord]) -> Result<u64, Broken> {
    verify(&ring.snapshot(), &Head::genesis(CHAIN), records, None).map(|v| v.records)
}

fn broken_at(seq: u64, kind: Break) -> Result<u64, Broken> {
    Err(Broken { seq, kind })
}

#[test]
fn an_untouched_chain_verifies() {
    let (records, ring, sealer) = chain(50);
    assert_eq!(check(&ring, &records), Ok(50));
    assert_eq!(sealer.head().seq, 50);
    assert_eq!(sealer.head(), &Head::after(&records[49]));
}

#[test]
fn an_edited_record_fails_its_signature() {
    let (records, ring, _) = chain(20);
    let edits: Vec<fn(&mut SealedRecord)> = vec![
        |r| r.record.outcome = Outcome::Allow,
        |r| r.record.subject = "mallory".into(),
        |r| r.record.time_ms += 1,
        |r| r.record.held = Held::of(["admin"]),
        |r| r.record.client = None,
    ];
    for edit in edits {
        let mut tampered = records.clone();
        edit(&mut tampered[6]);
        assert_eq!(check(&ring, &tampered), broken_at(7, Break::BadSignature));
    }
    // The chain's own fields are signed too.
    let mut renumbered = records.clone();
    renumbered[6].kid = "audit-2".into();
    assert_eq!(check(&ring, &renumbered), broken_at(7, Break::UnknownKey));
}

#[test]
fn a_dropped_record_leaves_a_gap() {
    let (mut records, ring, _) = chain(20);
    records.remove(9);
    assert_eq!(
        check(&ring, &records),
        broken_at(11, Break::Missing { expected: 10 })
    );
}

#[test]
fn a_dropped_first_record_is_seen() {
    let (mut records, ring, _) = chain(5);
    records.remove(0);
    assert_eq!(
        check(&ring, &records),
        broken_at(2, Break::Missing { expected: 1 })
    );
}

#[test]
fn an_inserted_record_is_caught() {
    let (records, ring, _) = chain(20);
    // A copy of a genuine record put in again: its number comes twice.
    let mut doubled = records.clone();
    doubled.insert(10, records[4].clone());
    assert_eq!(
        check(&ring, &doubled),
        broken_at(5, Break::OutOfOrder { expected: 11 })
    );
    // A forged one, signed with a key of the attacker's under the ring's key id.
    let forger = KeyRing::single(Key::generate_ed25519("audit-1").unwrap());
    let mut forging = Sealer::new(forger, Head::after(&records[9])).unwrap();
    let mut forged = records.clone();
    forged.insert(10, forging.seal(record(999)).unwrap());
    assert_eq!(check(&ring, &forged), broken_at(11, Break::BadSignature));
}

#[test]
fn reordered_records_are_caught() {
    let (mut records, ring, _) = chain(20);
    records.swap(3, 4);
    assert_eq!(
        check(&ring, &records),
        broken_at(5, Break::Missing { expected: 4 })
    );
}

#[test]
fn a_record_renumbered_by_its_signer_still_breaks_the_links() {
    // A sealer that skips ahead (as a second writer on the same chain would) makes records
    // that are well signed and well numbered, but do not follow.
    let (records, ring, _) = chain(10);
    let mut stray = Sealer::new(ring.clone(), Head::after(&records[4])).unwrap();
    let mut spliced = records[..9].to_vec();
    let mut next = stray.seal(record(10)).unwrap();
    next.seq = 10;
    spliced.push(next.clone());
    // Renumbered after signing: the signature no longer covers it.
    assert_eq!(check(&ring, &spliced), broken_at(10, Break::BadSignature));
    // Signed at its own place (6) but put at 10: out of order.
    let own = stray.seal(record(11)).unwrap();
    let mut misplaced = records[..9].to_vec();
    misplaced.push(own);
    assert_eq!(
        check(&ring, &misplaced),
        broken_at(7, Break::OutOfOrder { expected: 10 })
    );
}

#[test]
fn a_cut_tail_is_caught_by_the_checkpoint() {
    let (records, ring, sealer) = chain(30);
    let checkpoint = sealer.checkpoint(1_700_000_100_000).unwrap();
    let keys = ring.snapshot();
    let genesis = Head::genesis(CHAIN);
    assert_eq!(
        verify(&keys, &genesis, &records, Some(&checkpoint))
            .unwrap()
            .records,
        30
    );
    // Without the checkpoint nobody could tell: the shorter chain is well formed.
    assert_eq!(check(&ring, &records[..25]), Ok(25));
    assert_eq!(
        verify(&keys, &genesis, &records[..25], Some(&checkpoint)),
        Err(Broken {
            seq: 26,
            kind: Break::Truncated { checkpoint: 30 }
        })
    );
    // A tail cut and re-sealed by someone holding the key at the same length still differs.
    let mut resealer = Sealer::new(ring.clone(), Head::after(&records[24])).unwrap();
    let mut rewritten = records[..25].to_vec();
    for n in 26..=30 {
        rewritten.push(resealer.seal(record(n + 100)).unwrap());
    }
    assert_eq!(
        verify(&keys, &genesis, &rewritten, Some(&checkpoint)),
        Err(Broken {
            seq: 30,
            kind: Break::CheckpointMismatch
        })
    );
    // A checkpoint edited to vouch for less is not signed.
    let mut shortened = checkpoint.clone();
    shortened.head = Head::after(&records[24]);
    assert_eq!(
        verify(&keys, &genesis, &records[..25], Some(&shortened)),
        Err(Broken {
            seq: 25,
            kind: Break::BadCheckpoint
        })
    );
}

#[test]
fn a_key_rotation_in_the_middle_of_a_chain_verifies() {
    let ring = KeyRing::single(Key::generate_ed25519("audit-1").unwrap());
    let mut sealer = Sealer::new(ring.clone(), Head::genesis(CHAIN)).unwrap();
    let mut records: Vec<_> = (1..=10).map(|n| sealer.seal(record(n)).unwrap()).collect();
    ring.insert(Key::generate_ed25519("audit-2").unwrap());
    ring.set_signing("audit-2").unwrap();
    records.extend((11..=20).map(|n| sealer.seal(record(n)).unwrap()));
    assert_eq!(records[9].kid, "audit-1");
    assert_eq!(records[10].kid, "audit-2");
    assert_eq!(check(&ring, &records), Ok(20));

    // A verifier holding only the public halves (a JWKS), never a private key.
    let public = KeyRing::new();
    for kid in ["audit-1", "audit-2"] {
        let jwk = ring.snapshot().get(kid).unwrap().jwk().unwrap();
        let jwk = serde_json::from_value(jwk).unwrap();
        public.insert(Key::from_jwk(&jwk, Algorithm::RS256).unwrap());
    }
    assert_eq!(check(&public, &records), Ok(20));
    // Without the old key the first half cannot be vouched for.
    ring.remove("audit-1");
    assert_eq!(check(&ring, &records), broken_at(1, Break::UnknownKey));
}

#[test]
fn an_hmac_chain_verifies_only_with_its_secret() {
    let ring = KeyRing::single(Key::hmac("audit-h", Algorithm::HS256, &[7u8; 32]).unwrap());
    let mut sealer = Sealer::new(ring.clone(), Head::genesis(CHAIN)).unwrap();
    let records: Vec<_> = (1..=5).map(|n| sealer.seal(record(n)).unwrap()).collect();
    assert_eq!(check(&ring, &records), Ok(5));
    let other = KeyRing::single(Key::hmac("audit-h", Algorithm::HS256, &[8u8; 32]).unwrap());
    assert_eq!(check(&other, &records), broken_at(1, Break::BadSignature));
}

#[test]
fn verifying_resumes_from_a_verified_head() {
    let (records, ring, _) = chain(40);
    let keys = ring.snapshot();
    let first = verify(&keys, &Head::genesis(CHAIN), &records[..15], None).unwrap();
    let rest = verify(&keys, &first.head, &records[15..], None).unwrap();
    assert_eq!((first.records, rest.records), (15, 25));
    assert_eq!(rest.head, Head::after(&records[39]));
    // Another chain's records do not continue this one.
    assert_eq!(
        verify(&keys, &Head::genesis("instance-b"), &records, None),
        Err(Broken {
            seq: 1,
            kind: Break::OtherChain
        })
    );
}

#[test]
fn there_is_no_trail_without_a_key() {
    assert_eq!(
        Sealer::new(KeyRing::new(), Head::genesis(CHAIN)).unwrap_err(),
        SealError::NoSigningKey
    );
    // A ring that can only verify cannot sign either.
    let (_, ring, _) = chain(0);
    let jwk =
        serde_json::from_value(ring.snapshot().get("audit-1").unwrap().jwk().unwrap()).unwrap();
    let public = KeyRing::single(Key::from_jwk(&jwk, Algorithm::RS256).unwrap());
    assert_eq!(
        Sealer::new(public, Head::genesis(CHAIN)).unwrap_err(),
        SealError::NoSigningKey
    );
    let ring = KeyRing::single(Key::generate_ed25519("k").unwrap());
    for chain in ["", "has space", &"x".repeat(129)] {
        assert_eq!(
            Sealer::new(ring.clone(), Head::genesis(chain)).unwrap_err(),
            SealError::BadChain
        );
    }
    // A key removed from a running sealer's ring stops it: nothing is sealed unsigned.
    let mut sealer = Sealer::new(ring.clone(), Head::genesis(CHAIN)).unwrap();
    ring.remove("k");
    assert_eq!(sealer.seal(record(1)), Err(SealError::NoSigningKey));
}
