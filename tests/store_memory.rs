//! The store conformance suite on the in-memory backend.
#![allow(clippy::unwrap_used)]

mod conformance;

conformance!(async { Some((portcullis::store::MemoryStore::new(), ())) });

mod acl {
    use super::conformance;
    conformance!(@acl async { Some((portcullis::store::MemoryStore::new(), ())) });
}

/// Refused role writes leave the whole store as it was, down to the fingerprint.
#[tokio::test]
async fn refused_role_writes_leave_the_fingerprint() {
    let store = portcullis::store::MemoryStore::new();
    conformance::refused_role_writes_observed(&store, |s: &portcullis::store::MemoryStore| {
        Some(s.fingerprint())
    })
    .await;
}
