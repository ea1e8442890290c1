//! Signing first-party tokens with the key ring's signing key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Header;
use serde_json::{Map, Value};

use super::claims::ClaimNames;
use super::keyring::KeyRing;

/// Default lifetime of an issued token: 15 minutes.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// Why a token could not be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The key ring has no signing key.
    #[error("the key ring has no signing key")]
    NoSigningKey,
    /// The subject is empty.
    #[error("a token needs a non-empty subject")]
    EmptySubject,
    /// A claim would overwrite one the issuer sets itself (`iss`, `aud`, `exp`, …).
    #[error("claim {0:?} is set by the issuer")]
    ReservedClaim(String),
    /// Randomness for the token id was not available.
    #[error("the system random source failed")]
    Random,
    /// Signing failed.
    #[error("signing failed")]
    Signing,
}

/// What goes into a token besides the registered claims the issuer sets.
///
/// ```
/// use portcullis::token::TokenClaims;
///
/// let claims = TokenClaims::new("user-42")
///     .roles(["editor"])
///     .tenant("acme")
///     .email("ada@example.com")
///     .scopes(["catalog.read"]);
/// # let _ = claims;
/// ```
#[derive(Debug, Clone, Default)]
pub struct TokenClaims {
    subject: String,
    roles: Vec<String>,
    permissions: Vec<String>,
    tenant: Option<String>,
    email: Option<String>,
    scopes: Vec<String>,
    extra: Map<String, Value>,
}

impl TokenClaims {
    /// Claims for `subject`.
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            ..Self::default()
        }
    }

    /// The roles.
    pub fn roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Permission grants carried in the token (honoured only by gateways configured to trust them).
    pub fn permissions<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        permissions: I,
    ) -> Self {
        self.permissions = permissions.into_iter().map(Into::into).collect();
        self
    }

    /// The tenant (workspace).
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The e-mail address.
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// OAuth scopes (written space-separated, RFC 8693 §4.2).
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Any other claim.
    pub fn claim(mut self, name: impl Into<String>, value: Value) -> Self {
        self.extra.insert(name.into(), value);
        self
    }
}

const RESERVED: [&str; 8] = ["iss", "aud", "sub", "exp", "nbf", "iat", "iat_us", "jti"];

/// Signs tokens with the signing key of a [`KeyRing`]: the same ring the bearer strategy
/// verifies with.
///
/// Every token gets `iss` and `aud` (when set), `sub`, `iat` (and `iat_us`), `nbf`, `exp` and a
/// random 128-bit `jti`, and its header names the key (`kid`) and its pinned algorithm.
///
/// ```
/// use std::time::Duration;
/// use portcullis::token::{Key, KeyRing, TokenClaims, TokenIssuer};
///
/// let ring = KeyRing::single(Key::generate_ed25519("k1")?);
/// let issuer = TokenIssuer::new(ring).issuer("https://auth.example.com").audience("catalog")
///     .ttl(Duration::from_secs(600)).typ("at+jwt");
/// let token = issuer.issue(&TokenClaims::new("alice").roles(["viewer"]))?;
/// assert_eq!(token.split('.').count(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    ring: KeyRing,
    issuer: Option<String>,
    audience: Option<String>,
    ttl: Duration,
    typ: Option<String>,
    names: ClaimNames,
}

impl TokenIssuer {
    /// An issuer signing with `ring`'s signing key; 15-minute tokens, `typ` `JWT`.
    pub fn new(ring: KeyRing) -> Self {
        Self {
            ring,
            issuer: None,
            audience: None,
            ttl: DEFAULT_TTL,
            typ: None,
            names: ClaimNames::default(),
        }
    }

    /// The `iss` claim.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The `aud` claim.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The lifetime of issued tokens.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The header's `typ` (for example `at+jwt`, RFC 9068).
    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// The claim names to write roles, tenant, … under; keep them equal to the verifier's.
    pub fn claim_names(mut self, names: ClaimNames) -> Self {
        self.names = names;
        self
    }

    /// Signs a token carrying `claims`.
    pub fn issue(&self, claims: &TokenClaims) -> Result<String, IssueError> {
        self.issue_at(claims, SystemTime::now())
    }

    /// Signs a token as if it were `now` (tests and token fixtures).
    pub fn issue_at(&self, claims: &TokenClaims, now: SystemTime) -> Result<String, IssueError> {
        if claims.subject.is_empty() {
            return Err(IssueError::EmptySubject);
        }
        if let Some(name) = claims.extra.keys().find(|k| RESERVED.contains(&k.as_str())) {
            return Err(IssueError::ReservedClaim(name.clone()));
        }
        let keys = self.ring.snapshot();
        let key = keys.signing_key().ok_or(IssueError::NoSigningKey)?;
        let encoding = key.encoding().ok_or(IssueError::NoSigningKey)?;

        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let iat = since_epoch.as_secs();
        let iat_us = since_epoch.as_micros() as u64;
        let mut body = claims.extra.clone();
        let mut put = |name: &str, value: Value| {
            body.insert(name.to_owned(), value);
        };
        if let Some(iss) = &self.issuer {
            put("iss", Value::from(iss.as_str()));
        }
        if let Some(aud) = &self.audience {
            put("aud", Value::from(aud.as_str()));
        }
        put("sub", Value::from(claims.subject.as_str()));
        put("iat", Value::from(iat));
        // Microseconds as well, so a revocation cutoff made in the same second can still be
        // ordered against this token (see `RevocationCache`).
        put("iat_us", Value::from(iat_us));
        put("nbf", Value::from(iat));
        put("exp", Value::from(iat.saturating_add(self.ttl.as_secs())));
        put("jti", Value::from(random_id()?));
        if !claims.roles.is_empty() {
            put(&self.names.roles, Value::from(claims.roles.clone()));
        }
        if !claims.permissions.is_empty() {
            put(
                &self.names.permissions,
                Value::from(claims.permissions.clone()),
            );
        }
        if let Some(tenant) = &claims.tenant {
            put(&self.names.tenant, Value::from(tenant.as_str()));
        }
        if let Some(email) = &claims.email {
            put(&self.names.email, Value::from(email.as_str()));
        }
        if !claims.scopes.is_empty() {
            put(&self.names.scope, Value::from(claims.scopes.join(" ")));
        }

        let mut header = Header::new(key.algorithm());
        header.kid = Some(key.kid().to_owned());
        if let Some(typ) = &self.typ {
            header.typ = Some(typ.clone());
        }
        jsonwebtoken::encode(&header, &body, encoding).map_err(|_| IssueError::Signing)
    }
}

/// 128 random bits, base64url: a token id no one can guess or collide with.
pub(crate) fn random_id() -> Result<String, IssueError> {
    crate::secret::random_id::<16>().map_err(|_| IssueError::Random)
}
