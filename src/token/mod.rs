//! Tokens: the [`KeyRing`] that holds every key, the [`TokenVerifier`] that checks incoming JWTs,
//! and the [`TokenIssuer`] that signs first-party ones with the same ring.
//!
//! Signature work is done by [`jsonwebtoken`] on its `aws_lc_rs` backend (chosen by measurement:
//! see BENCHMARKS.md). What is ours is the policy around it: pinned algorithms, `kid` selection,
//! exact issuer matching, size caps and the refusal of `crit`; the cache of verified tokens; and,
//! with the `jwks` feature, keys fetched from a provider's JWKS URL with single-flight refresh.

mod cache;
mod claims;
mod issue;
mod jwk_set;
#[cfg(feature = "jwks")]
mod jwks;
mod key_file;
mod keyring;
mod source;
mod verify;

pub use cache::{DEFAULT_TOKEN_CACHE_BYTES, DEFAULT_TOKEN_CACHE_TTL};
pub(crate) use cache::{TokenCache, split_token};
pub use claims::ClaimNames;
pub use issue::{DEFAULT_TTL, IssueError, TokenClaims, TokenIssuer};
pub use jsonwebtoken::Algorithm;
pub use jwk_set::MAX_JWKS_KEYS;
#[cfg(feature = "jwks")]
pub use jwks::{
    DEFAULT_JWKS_COOLDOWN, DEFAULT_JWKS_MAX_BYTES, DEFAULT_JWKS_TIMEOUT, JwksBuilder, JwksError,
    RemoteJwks,
};
pub use key_file::{KeyFile, KeyFileError};
pub use keyring::{Key, KeyError, KeyRing, KeySet, MAX_KID_LEN, algorithm_name, generate_pkcs8};
pub(crate) use source::FetchGate;
pub use source::KeySource;
pub use verify::{
    DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, MAX_LEEWAY, MAX_NUMERIC_DATE, TokenRules,
    TokenVerifier, VerifiedToken,
};
