//! The store conformance suite on the in-memory backend.
#![allow(clippy::unwrap_used)]

mod conformance;

conformance!(async { Some((portcullis::store::MemoryStore::new(), ())) });
