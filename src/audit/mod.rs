//! A tamper-evident audit trail of authorization decisions (issue #17): the
//! records, their canonical bytes, and the signed chain that makes an edited, dropped,
//! inserted, reordered or truncated record show.
//!
//! spanforge (seed 002) signed each decision record on its own, so records could be dropped or
//! reordered undetected, and it fell back to a hard-coded key. Here:
//!
//! - a record's bytes are one documented, versioned layout ([`record`]), not a serialiser's
//!   output;
//! - each record's signature covers the previous record's link as well as its own content
//!   ([`chain`]), and signed [`Checkpoint`]s kept elsewhere catch a cut tail;
//! - the key is a [`KeyRing`](crate::token::KeyRing)'s signing key (HMAC-SHA256, or Ed25519 so
//!   that verifiers need only a public key), and a ring without one is refused: there is no
//!   fallback key;
//! - several instances each write their own chain (named after the instance), so writers never
//!   coordinate on the request path and each chain verifies alone.
//!
//! ```
//! use portcullis::audit::{AuditRecord, Head, Held, Outcome, Sealer, verify};
//! use portcullis::token::{Key, KeyRing};
//!
//! let ring = KeyRing::single(Key::generate_ed25519("audit-1")?);
//! let mut sealer = Sealer::new(ring.clone(), Head::genesis("instance-a"))?;
//! let record = AuditRecord {
//!     id: "0123456789abcdef0123456789abcdef".into(),
//!     time_ms: 1_700_000_000_000,
//!     trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
//!     subject: "ada".into(),
//!     tenant: Some("acme".into()),
//!     namespace: None,
//!     required: "write:Books".into(),
//!     held: Held::of(["editor"]),
//!     outcome: Outcome::Allow,
//!     reason: "allow_role".into(),
//!     matched: Some("editor".into()),
//!     route: Some("/books/{id}".into()),
//!     method: Some("PUT".into()),
//!     client: None,
//!     auth_method: "bearer".into(),
//! };
//! let sealed = vec![sealer.seal(record.clone())?, sealer.seal(record)?];
//! let checkpoint = sealer.checkpoint(1_700_000_001_000)?;
//!
//! let verified = verify(&ring.snapshot(), &Head::genesis("instance-a"), &sealed, Some(&checkpoint))?;
//! assert_eq!(verified.records, 2);
//!
//! // Cut the last record: the checkpoint names where the chain should have gone.
//! let cut = verify(&ring.snapshot(), &Head::genesis("instance-a"), &sealed[..1], Some(&checkpoint));
//! assert_eq!(cut.unwrap_err().seq, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod chain;
pub mod record;
pub mod sink;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod sql;
pub mod trail;

pub use chain::{
    Break, Broken, Checkpoint, Head, SealError, SealedRecord, Sealer, Verified, verify,
};
pub use record::{AuditRecord, FieldTooLong, Held, Outcome};
pub use sink::{AuditSink, CheckpointSink, JsonLinesSink, MemorySink, SinkError, Tee, TracingSink};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::{AuditLog, AuditQuery, MAX_AUDIT_PAGE, export_verified, verify_stored};
pub use trail::{AuditTrail, StartError, TrailConfig, TrailStats};
