//! Tokens: the [`KeyRing`] that holds every key, the [`TokenVerifier`] that checks incoming JWTs,
//! and the [`TokenIssuer`] that signs first-party ones with the same ring.
//!
//! Signature work is done by [`jsonwebtoken`] on its `aws_lc_rs` backend (chosen by measurement:
//! see BENCHMARKS.md). What is ours is the policy around it: pinned algorithms, `kid` selection,
//! exact issuer matching, size caps and the refusal of `crit`.

mod claims;
mod issue;
mod keyring;
mod revocation;
mod verify;

pub use claims::ClaimNames;
pub use issue::{DEFAULT_TTL, IssueError, TokenClaims, TokenIssuer};
pub use jsonwebtoken::Algorithm;
pub use keyring::{Key, KeyError, KeyRing, KeySet, MAX_KID_LEN, algorithm_name, generate_pkcs8};
pub use revocation::{DEFAULT_REVOCATION_TTL, RevocationCache, RevocationCheck};
pub use verify::{
    DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, MAX_LEEWAY, TokenRules, TokenVerifier, VerifiedToken,
};
