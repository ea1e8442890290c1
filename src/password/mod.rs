//! Passwords: the policy a new password must meet, and argon2id hashing off the async executor.
//!
//! - **Policy** (NIST SP 800-63B): at least 8 characters by default, at least 64 always allowed,
//!   a byte cap (1 KiB) checked before anything else, no truncation, trimming or case change, and a
//!   shipped list of the most common passwords refused.
//! - **Hashing**: argon2id with OWASP's parameters (m = 19,456 KiB, t = 2, p = 1) by default, on
//!   tokio's blocking pool behind a semaphore, so a login storm queues instead of starving the
//!   executor or the CPU the rest of the service needs. A wait longer than the queue timeout fails
//!   closed ([`HashError::Busy`], answered 503).
//! - **Unknown users** cost a verification against a dummy hash made with the same parameters, so
//!   response time does not tell whether an account exists.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// Largest password accepted, in bytes; checked before any other work.
pub const DEFAULT_MAX_PASSWORD_BYTES: usize = 1024;
/// Default minimum length, in characters.
pub const DEFAULT_MIN_PASSWORD_CHARS: usize = 8;

static COMMON: LazyLock<HashSet<String>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_lowercase)
        .collect()
});

/// Why a new password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Shorter than the minimum.
    #[error("the password must have at least {0} characters")]
    TooShort(usize),
    /// Longer than the byte cap.
    #[error("the password must be at most {0} bytes")]
    TooLong(usize),
    /// On the list of the most common passwords.
    #[error("the password is too common")]
    Common,
}

/// The rules a new password must meet.
///
/// ```
/// use portcullis::password::{PasswordPolicy, PolicyError};
///
/// let policy = PasswordPolicy::default();
/// assert_eq!(policy.check("short"), Err(PolicyError::TooShort(8)));
/// assert_eq!(policy.check("Password123"), Err(PolicyError::Common));
/// assert!(policy.check("correct horse battery staple").is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    min_chars: usize,
    max_bytes: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_chars: DEFAULT_MIN_PASSWORD_CHARS,
            max_bytes: DEFAULT_MAX_PASSWORD_BYTES,
        }
    }
}

impl PasswordPolicy {
    /// Sets the minimum length in characters (at least 1).
    pub fn min_chars(mut self, min: usize) -> Self {
        self.min_chars = min.max(1);
        self
    }

    /// Sets the byte cap; never below 256 bytes, so 64-character passphrases in any script fit.
    pub fn max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max.max(256);
        self
    }

    /// The byte cap.
    pub fn max_password_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Checks a new password exactly as given (no trimming, no case change).
    pub fn check(&self, password: &str) -> Result<(), PolicyError> {
        if password.len() > self.max_bytes {
            return Err(PolicyError::TooLong(self.max_bytes));
        }
        if password.chars().count() < self.min_chars {
            return Err(PolicyError::TooShort(self.min_chars));
        }
        if COMMON.contains(&password.to_lowercase()) {
            return Err(PolicyError::Common);
        }
        Ok(())
    }
}

/// Why hashing or verifying could not be done (never "the password was wrong": that is `Ok(false)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// Too many hashes queued for too long: refuse (503) rather than pile up.
    #[error("password hashing is saturated")]
    Busy,
    /// The stored hash could not be parsed, or argon2 failed.
    #[error("password hashing failed")]
    Internal,
}

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl HashParams {
    /// OWASP's argon2id recommendation: 19,456 KiB, 2 iterations, 1 lane.
    pub const OWASP: Self = Self {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    fn argon2(self) -> Result<Argon2<'static>, HashError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|_| HashError::Internal)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    fn weaker_than(self, other: Self) -> bool {
        self.memory_kib < other.memory_kib
            || self.iterations < other.iterations
            || self.parallelism < other.parallelism
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Whether the password matched.
    pub matched: bool,
    /// When it matched and the stored hash used weaker parameters (or another algorithm): the
    /// new hash to store.
    pub rehashed: Option<String>,
}

/// Hashes and verifies passwords with argon2id on the blocking pool, a bounded number at a time.
///
/// Cloning is cheap; clones share the bound.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<HasherInner>,
}

struct HasherInner {
    params: HashParams,
    computed: std::sync::atomic::AtomicU64,
    permits: Semaphore,
    queue_timeout: Duration,
    dummy: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.inner.params)
            .finish_non_exhaustive()
    }
}

/// Default number of hashes at once: one fewer than the cores, at least one, so hashing never
/// takes every core from the service.
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .max(1)
}

impl PasswordHasher {
    /// A hasher with `params`, at most `concurrency` hashes at once, and a 10 s queue timeout.
    /// Computes the dummy hash now (once).
    pub fn new(params: HashParams, concurrency: usize) -> Result<Self, HashError> {
        let dummy = hash_now(
            params,
            "portcullis dummy password: never matches a real one",
        )?;
        Ok(Self {
            inner: Arc::new(HasherInner {
                params,
                computed: std::sync::atomic::AtomicU64::new(0),
                permits: Semaphore::new(concurrency.max(1)),
                queue_timeout: Duration::from_secs(10),
                dummy,
            }),
        })
    }

    /// A hasher with the OWASP parameters and [`default_concurrency`].
    pub fn owasp() -> Result<Self, HashError> {
        Self::new(HashParams::OWASP, default_concurrency())
    }

    /// How many argon2 hashes or verifications this hasher (and its clones) has run: a metric,
    /// and the proof in tests that refused input never reached the hasher.
    pub fn computed(&self) -> u64 {
        self.inner
            .computed
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The parameters new hashes use.
    pub fn params(&self) -> HashParams {
        self.inner.params
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(HashParams) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = tokio::time::timeout(self.inner.queue_timeout, self.inner.permits.acquire())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(|_| HashError::Busy)?;
        let params = self.inner.params;
        self.inner
            .computed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = tokio::task::spawn_blocking(move || work(params))
            .await
            .map_err(|_| HashError::Internal)?;
        drop(permit);
        result
    }

    /// Hashes a new password (PHC string with a random 128-bit salt).
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move |params| hash_now(params, &password)).await
    }

    /// Verifies `password` against a stored PHC hash; on a match with weaker stored parameters,
    /// also returns a fresh hash to store.
    pub async fn verify(&self, password: String, stored: String) -> Result<Verified, HashError> {
        let dummy = self.inner.dummy.clone();
        self.run(move |params| {
            // A stored value that is no PHC string (an account that has no password, such as one
            // made by an OpenID login) never matches, and costs the same time as one that does.
            let Ok(parsed) = PasswordHash::new(&stored) else {
                let dummy = PasswordHash::new(&dummy).map_err(|_| HashError::Internal)?;
                let _ = Argon2::default().verify_password(password.as_bytes(), &dummy);
                return Ok(Verified {
                    matched: false,
                    rehashed: None,
                });
            };
            let matched = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            let rehashed = if matched && needs_rehash(&parsed, params) {
                Some(hash_now(params, &password)?)
            } else {
                None
            };
            Ok(Verified { matched, rehashed })
        })
        .await
    }

    /// Spends the time of one verification without a user: call it for unknown accounts.
    pub async fn verify_dummy(&self, password: String) -> Result<(), HashError> {
        let dummy = self.inner.dummy.clone();
        self.verify(password, dummy).await.map(|_| ())
    }

    /// The stored value of an account that has no password (it never matches).
    pub const NO_PASSWORD: &'static str = "!no-password";
}

fn hash_now(params: HashParams, password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| HashError::Internal)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| HashError::Internal)?;
    params
        .argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| HashError::Internal)
}

fn needs_rehash(stored: &PasswordHash<'_>, wanted: HashParams) -> bool {
    if stored.algorithm.as_str() != "argon2id" {
        return true;
    }
    match Params::try_from(stored) {
        Ok(p) => HashParams {
            memory_kib: p.m_cost(),
            iterations: p.t_cost(),
            parallelism: p.p_cost(),
        }
        .weaker_than(wanted),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: HashParams = HashParams {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn policy() {
        let policy = PasswordPolicy::default();
        assert_eq!(policy.check("1234567"), Err(PolicyError::TooShort(8)));
        assert_eq!(policy.check("passw0rd"), Err(PolicyError::Common));
        assert_eq!(
            policy.check("PASSWORD123"),
            Err(PolicyError::Common),
            "case-insensitive list"
        );
        assert!(
            policy.check(&"x".repeat(64)).is_ok(),
            "64 characters are allowed"
        );
        assert!(
            policy.check(&"é".repeat(200)).is_ok(),
            "200 two-byte characters fit in 1 KiB"
        );
        assert_eq!(
            policy.check(&"x".repeat(1025)),
            Err(PolicyError::TooLong(1024))
        );
        assert!(
            policy.check("  spaced  out  ").is_ok(),
            "no trimming: spaces count"
        );
        assert_eq!(
            PasswordPolicy::default().min_chars(12).check("elevenchars"),
            Err(PolicyError::TooShort(12))
        );
    }

    #[tokio::test]
    async fn hash_verify_and_rehash() {
        let hasher = PasswordHasher::new(FAST, 1).unwrap_or_else(|e| panic!("{e}"));
        let hash = hasher
            .hash("right horse".into())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(hash.starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
        let ok = hasher
            .verify("right horse".into(), hash.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ok,
            Verified {
                matched: true,
                rehashed: None
            }
        );
        let bad = hasher
            .verify("Right horse".into(), hash.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!bad.matched, "no case folding");
        let truncated = hasher
            .verify("right hors".into(), hash.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!truncated.matched);

        // A stronger hasher upgrades the weak stored hash on the next successful login.
        let stronger = PasswordHasher::new(
            HashParams {
                memory_kib: 512,
                ..FAST
            },
            1,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let upgraded = stronger
            .verify("right horse".into(), hash)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(upgraded.matched);
        let new_hash = upgraded.rehashed.unwrap_or_default();
        assert!(
            new_hash.starts_with("$argon2id$v=19$m=512,t=1,p=1$"),
            "{new_hash}"
        );
        let unusable = hasher
            .verify("x".into(), "!no-password".into())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !unusable.matched,
            "an account without a password never matches"
        );
    }

    #[tokio::test]
    async fn salts_differ() {
        let hasher = PasswordHasher::new(FAST, 1).unwrap_or_else(|e| panic!("{e}"));
        let a = hasher
            .hash("same password".into())
            .await
            .unwrap_or_default();
        let b = hasher
            .hash("same password".into())
            .await
            .unwrap_or_default();
        assert_ne!(a, b);
    }

    #[test]
    fn owasp_defaults() {
        assert_eq!(
            HashParams::OWASP,
            HashParams {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1
            }
        );
        assert!(default_concurrency() >= 1);
    }
}
