//! Verifying a JWT against the key ring and the configured rules.
//!
//! The order of the checks follows RFC 8725: size and shape first (no parsing of an oversized or
//! misshapen token), then the header (no `crit`, expected `typ`, a `kid` the ring holds, `alg`
//! equal to that key's algorithm), then the signature, and only then the claims (`exp` required,
//! `nbf`, exact `iss`, `aud`, a non-empty `sub`).

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use std::sync::Arc;

use super::keyring::{Key, KeyRing};
use crate::error::TokenRejection;

/// Default largest token accepted, in bytes (8 KiB).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Default clock-skew leeway for `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Largest leeway accepted; more would make expiry meaningless.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

const ALGORITHMS: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The rules a token must meet beyond its signature.
///
/// ```
/// use std::time::Duration;
/// use portcullis::token::TokenRules;
///
/// let rules = TokenRules::new()
///     .issuer("https://auth.example.com")
///     .audience("catalog-api")
///     .leeway(Duration::from_secs(10))
///     .typ("at+jwt");
/// # let _ = rules;
/// ```
#[derive(Debug, Clone)]
pub struct TokenRules {
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<String>,
    pub(crate) leeway: Duration,
    pub(crate) typ: Option<String>,
    pub(crate) max_token_bytes: usize,
}

impl Default for TokenRules {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            leeway: DEFAULT_LEEWAY,
            typ: None,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }
}

impl TokenRules {
    /// Defaults: `exp` required, `nbf` checked, 30 s leeway, 8 KiB cap, no `iss`/`aud`/`typ` rule.
    ///
    /// Without an audience rule a token that names an audience is refused (RFC 7519 §4.1.3: a
    /// recipient that does not identify itself with the audience must reject the token).
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires `iss` to be exactly this string.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Requires `aud` to be, or to contain, exactly this string.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Clock-skew leeway for `exp` and `nbf`; capped at 5 minutes.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(MAX_LEEWAY);
        self
    }

    /// Requires the header's `typ` to be this media type (compared case-insensitively, with or
    /// without the `application/` prefix, per RFC 7515 §4.1.9). RFC 9068 access tokens use `at+jwt`.
    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// Largest token accepted, in bytes; anything larger is refused before any parsing.
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }
}

/// A token that passed every check.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// The key that verified it.
    pub kid: String,
    /// The claims.
    pub claims: Map<String, Value>,
    /// The key itself, so a cache can tell whether the ring still holds it.
    pub(crate) key: Arc<Key>,
}

/// Verifies JWTs with the keys of a [`KeyRing`] and a set of [`TokenRules`].
///
/// ```
/// use portcullis::token::{Key, KeyRing, TokenIssuer, TokenRules, TokenVerifier, TokenClaims};
///
/// let ring = KeyRing::single(Key::generate_ed25519("k1")?);
/// let issuer = TokenIssuer::new(ring.clone()).issuer("me").audience("api");
/// let token = issuer.issue(&TokenClaims::new("alice").roles(["viewer"]))?;
/// let verifier = TokenVerifier::new(ring, TokenRules::new().issuer("me").audience("api"));
/// let verified = verifier.verify(&token).map_err(|r| r.to_string())?;
/// assert_eq!(verified.claims["sub"], "alice");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TokenVerifier {
    ring: KeyRing,
    rules: TokenRules,
    validations: Vec<(Algorithm, Validation)>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("ring", &self.ring)
            .field("rules", &self.rules)
            .finish()
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
}

fn typ_matches(expected: &str, actual: &str) -> bool {
    fn strip(s: &str) -> &str {
        match s.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &s[12..],
            _ => s,
        }
    }
    strip(expected).eq_ignore_ascii_case(strip(actual))
}

impl TokenVerifier {
    /// A verifier over `ring` applying `rules`.
    pub fn new(ring: KeyRing, rules: TokenRules) -> Self {
        let validations = ALGORITHMS
            .iter()
            .map(|&alg| {
                let mut v = Validation::new(alg);
                v.leeway = rules.leeway.as_secs();
                v.validate_exp = true;
                v.validate_nbf = true;
                let mut required = vec!["exp", "sub"];
                if let Some(iss) = &rules.issuer {
                    v.set_issuer(&[iss]);
                    required.push("iss");
                }
                if let Some(aud) = &rules.audience {
                    v.set_audience(&[aud]);
                    required.push("aud");
                }
                v.set_required_spec_claims(&required);
                (alg, v)
            })
            .collect();
        Self {
            ring,
            rules,
            validations,
        }
    }

    /// The rules this verifier applies.
    pub fn rules(&self) -> &TokenRules {
        &self.rules
    }

    /// The key ring this verifier reads.
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// Verifies a compact JWS token.
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, TokenRejection> {
        if token.len() > self.rules.max_token_bytes {
            return Err(TokenRejection::TooLarge);
        }
        let bytes = token.as_bytes();
        if !bytes.iter().all(|&b| is_token_byte(b))
            || bytes.iter().filter(|&&b| b == b'.').count() != 2
        {
            return Err(TokenRejection::Malformed);
        }
        if bytes.ends_with(b".") {
            return Err(TokenRejection::BadSignature); // a stripped signature
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejection::Malformed)?;
        if header.crit.is_some() {
            return Err(TokenRejection::CriticalHeader);
        }
        if let Some(expected) = &self.rules.typ {
            match &header.typ {
                Some(actual) if typ_matches(expected, actual) => {}
                _ => return Err(TokenRejection::WrongType),
            }
        }
        let kid = header.kid.as_deref().ok_or(TokenRejection::UnknownKey)?;
        let keys = self.ring.snapshot();
        let key = keys.get(kid).ok_or(TokenRejection::UnknownKey)?;
        if header.alg != key.algorithm() {
            return Err(TokenRejection::AlgorithmMismatch);
        }
        let validation = self
            .validations
            .iter()
            .find(|(alg, _)| *alg == key.algorithm())
            .map(|(_, v)| v)
            .ok_or(TokenRejection::AlgorithmMismatch)?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key.decoding(), validation)
            .map_err(|e| rejection_of(e.kind()))?;
        let claims = data.claims;
        // jsonwebtoken accepts an array `iss`; RFC 7519 §4.1.1 makes it one string: be exact.
        if let Some(iss) = &self.rules.issuer
            && claims.get("iss").and_then(Value::as_str) != Some(iss.as_str())
        {
            return Err(TokenRejection::WrongIssuer);
        }
        match claims.get("sub").and_then(Value::as_str) {
            Some(sub) if !sub.is_empty() => {}
            _ => return Err(TokenRejection::BadClaims),
        }
        Ok(VerifiedToken {
            kid: kid.to_owned(),
            claims,
            key: Arc::clone(key),
        })
    }
}

fn rejection_of(kind: &ErrorKind) -> TokenRejection {
    match kind {
        ErrorKind::InvalidSignature => TokenRejection::BadSignature,
        ErrorKind::ExpiredSignature => TokenRejection::Expired,
        ErrorKind::ImmatureSignature => TokenRejection::NotYetValid,
        ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
        ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
        ErrorKind::InvalidAlgorithm => TokenRejection::AlgorithmMismatch,
        ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
            match claim.as_str() {
                "exp" => TokenRejection::MissingExpiry,
                "iss" => TokenRejection::WrongIssuer,
                "aud" => TokenRejection::WrongAudience,
                "nbf" => TokenRejection::NotYetValid,
                _ => TokenRejection::BadClaims,
            }
        }
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => TokenRejection::Malformed,
        other => {
            // A key that cannot be used is a configuration problem worth a louder log.
            tracing::warn!(error = ?other, "token verification failed inside the crypto provider");
            TokenRejection::BadSignature
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_comparison() {
        assert!(typ_matches("at+jwt", "at+JWT"));
        assert!(typ_matches("at+jwt", "application/at+jwt"));
        assert!(typ_matches("application/at+jwt", "at+jwt"));
        assert!(!typ_matches("at+jwt", "JWT"));
        assert!(!typ_matches("at+jwt", "application/"));
    }

    #[test]
    fn leeway_is_capped() {
        assert_eq!(
            TokenRules::new().leeway(Duration::from_secs(3600)).leeway,
            MAX_LEEWAY
        );
    }
}
