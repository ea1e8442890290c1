//! Verifying a JWT against the key ring and the configured rules.
//!
//! The order of the checks follows RFC 8725: size and shape first (no parsing of an oversized or
//! misshapen token), then the header (no `crit`, expected `typ`, a `kid` the ring holds, `alg`
//! equal to that key's algorithm), then the signature, and only then the claims (`exp` required,
//! `nbf`, exact `iss`, `aud`, a non-empty `sub`).
//!
//! `exp`, `nbf` and `iat` must be whole, non-negative JSON numbers no later than
//! [`MAX_NUMERIC_DATE`] (the last second of year 9999). `jsonwebtoken` takes any `u64` and rounds
//! fractions, so `exp: 18446744073709551615` would never expire and `exp: 1900000000.5` would
//! pass its check yet be no `u64` for the code that reads the claims afterwards (the bearer
//! cache, the context's expiry, a logout's denylist entry). Such a token is refused as
//! [`BadClaims`](TokenRejection::BadClaims).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
/// Latest `exp`, `nbf` or `iat` accepted: 9999-12-31T23:59:59Z, in seconds since the epoch.
///
/// No issuer mints dates past it, and below it every sum the crate makes of a date and a
/// duration stays far from overflowing.
pub const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

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
    /// Accepted audiences (any one of them); empty for no audience rule.
    pub(crate) audience: Vec<String>,
    pub(crate) leeway: Duration,
    pub(crate) typ: Option<String>,
    pub(crate) max_token_bytes: usize,
    pub(crate) max_lifetime: Option<Duration>,
}

impl Default for TokenRules {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            typ: None,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            max_lifetime: None,
        }
    }
}

impl TokenRules {
    /// Defaults: `exp` required, `nbf` checked, 30 s leeway, 8 KiB cap, no `iss`/`aud`/`typ` rule,
    /// no maximum lifetime.
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

    /// Requires `aud` to be, or to contain, exactly this string (replacing any audience set
    /// before).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = vec![audience.into()];
        self
    }

    /// Also accepts tokens for this audience: for a recipient known by several names, or that
    /// takes several kinds of token told apart by their audience (the caller then reads `aud`
    /// to know which one it holds).
    ///
    /// ```
    /// use portcullis::token::TokenRules;
    ///
    /// let rules = TokenRules::new().audience("sentinel:access").or_audience("sentinel:authz");
    /// # let _ = rules;
    /// ```
    pub fn or_audience(mut self, audience: impl Into<String>) -> Self {
        let audience = audience.into();
        if !self.audience.contains(&audience) {
            self.audience.push(audience);
        }
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

    /// Longest lifetime a token may claim: with it set, a token must carry `iat`, `exp - iat`
    /// must be at most `lifetime` (whole seconds), and `iat` may not be later than now plus the
    /// leeway.
    ///
    /// Set it when you know the issuer's token lifetime, as for your own
    /// [`TokenIssuer`](super::TokenIssuer): a token that claims to live longer than the issuer
    /// ever grants was not minted by its normal flow, and refusing it keeps whoever got hold of
    /// the signing path from minting a token that lives for years. The `iat` bound keeps such a
    /// token from claiming a lifetime that fits by dating itself in the future. Refusals are
    /// [`TokenRejection::LifetimeTooLong`] (no `iat`, or too long) and
    /// [`TokenRejection::NotYetValid`] (`iat` in the future).
    ///
    /// ```
    /// use std::time::Duration;
    /// use portcullis::token::{Key, KeyRing, TokenClaims, TokenIssuer, TokenRules, TokenVerifier};
    ///
    /// let ring = KeyRing::single(Key::generate_ed25519("k1")?);
    /// let rules = TokenRules::new().max_lifetime(Duration::from_secs(900));
    /// let verifier = TokenVerifier::new(ring.clone(), rules);
    ///
    /// let short = TokenIssuer::new(ring.clone()).ttl(Duration::from_secs(900));
    /// assert!(verifier.verify(&short.issue(&TokenClaims::new("alice"))?).is_ok());
    ///
    /// let long = TokenIssuer::new(ring).ttl(Duration::from_secs(86_400));
    /// assert!(verifier.verify(&long.issue(&TokenClaims::new("alice"))?).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = Some(lifetime);
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
                // `exp` is required, but by `verify` rather than here: jsonwebtoken calls an `exp`
                // it cannot read (a string, a negative number) missing, and we want "missing"
                // and "malformed" told apart. It still checks a present `exp` against the clock.
                let mut required = vec!["sub"];
                if let Some(iss) = &rules.issuer {
                    v.set_issuer(&[iss]);
                    required.push("iss");
                }
                if !rules.audience.is_empty() {
                    v.set_audience(&rules.audience);
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
        // jsonwebtoken has checked `exp` and `nbf` as it reads them, rounding fractions and
        // taking any u64; the values it kept are checked again here, on the map already parsed.
        // The `exp` requirement lives here (see `new`): a token without one never gets past it.
        let exp = numeric_date(&claims, "exp")?.ok_or(TokenRejection::MissingExpiry)?;
        numeric_date(&claims, "nbf")?;
        let iat = numeric_date(&claims, "iat")?;
        if let Some(max) = self.rules.max_lifetime {
            let iat = iat.ok_or(TokenRejection::LifetimeTooLong)?;
            // An `exp` before `iat` claims no lifetime at all; `exp` alone decides such a token.
            if exp.saturating_sub(iat) > max.as_secs() {
                return Err(TokenRejection::LifetimeTooLong);
            }
            if iat > unix_now().saturating_add(self.rules.leeway.as_secs()) {
                return Err(TokenRejection::NotYetValid);
            }
        }
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

/// The NumericDate claim `name`, if present: a JSON integer in `0..=MAX_NUMERIC_DATE`, or the token
/// is refused. Floats are refused even when whole (`1.9e9`): an issuer that writes dates as
/// floats is not one this verifier knows, and refusing them keeps one spelling per date.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, TokenRejection> {
    match claims.get(name) {
        None => Ok(None),
        // `as_u64` is `None` for floats and negative numbers, whatever their value.
        Some(value) => match value.as_u64() {
            Some(at) if at <= MAX_NUMERIC_DATE => Ok(Some(at)),
            _ => Err(TokenRejection::BadClaims),
        },
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn rejection_of(kind: &ErrorKind) -> TokenRejection {
    match kind {
        ErrorKind::InvalidSignature => TokenRejection::BadSignature,
        ErrorKind::ExpiredSignature => TokenRejection::Expired,
        ErrorKind::ImmatureSignature => TokenRejection::NotYetValid,
        ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
        ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
        ErrorKind::InvalidAlgorithm => TokenRejection::AlgorithmMismatch,
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => TokenRejection::MissingExpiry,
            "iss" => TokenRejection::WrongIssuer,
            "aud" => TokenRejection::WrongAudience,
            "nbf" => TokenRejection::NotYetValid,
            _ => TokenRejection::BadClaims,
        },
        // An `exp` or `nbf` that is no number (a string, `null`, a negative one) is malformed, as
        // is one that is a number but no whole date (refused by `numeric_date`): one reason for
        // both, whichever check meets it first.
        ErrorKind::InvalidClaimFormat(_) => TokenRejection::BadClaims,
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
