//! Bearer tokens from several issuers through one strategy.
//!
//! One [`BearerStrategy`] verifies one issuer's tokens: its key ring (or JWKS) and its rules.
//! Registered one after another in the gateway, two of them could not share the bearer header:
//! the first answers for every bearer token (a `kid` it does not know is refused, not passed on,
//! since bad credentials never fall through), so the second never sees its own tokens.
//! [`BearerIssuers`] puts several under one strategy and routes each token to the one whose
//! issuer its `iss` claim names.
//!
//! The claim is read before anything is verified, so it is trusted for one thing only: which
//! strategy to ask. That strategy then does everything it does alone (size cap, signature with
//! its own keys, `iss` required to be its issuer, audience, expiry, revocation). A token that
//! lies about its issuer is checked against the keys of the issuer it names, which did not sign
//! it, and is refused; no check is skipped or weakened by the choice. A token that names no
//! registered issuer, or whose payload cannot be read, is refused as `wrong_issuer` or
//! `malformed` (it is a bearer token, so it does not fall through to another strategy either).

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::request::Parts;

use super::{BearerStrategy, Outcome, Strategy};
use crate::error::{AuthError, TokenRejection};
use crate::future::MaybeReady;

/// Why a strategy cannot join a [`BearerIssuers`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IssuersError {
    /// The strategy's rules require no issuer: it would accept any `iss`, so routing by `iss`
    /// could hand it another issuer's tokens.
    #[error("a bearer strategy routed by issuer must require its issuer (TokenRules::issuer)")]
    NoIssuerRule,
    /// Another strategy already answers for this issuer.
    #[error("issuer {0:?} has a strategy already")]
    Duplicate(String),
    /// The strategy takes tokens from another query parameter (or from none) than the others:
    /// a token is found the same way whichever issuer it turns out to be from.
    #[error("every issuer's strategy must take tokens from the same place (allow_query)")]
    Transport,
}

/// Several issuers' bearer strategies as one, each token routed by its `iss` claim to the
/// strategy that requires that issuer (see the [module docs](self) for why that choice cannot
/// weaken a check).
///
/// ```
/// use portcullis::AuthGateway;
/// use portcullis::strategy::{BearerIssuers, BearerStrategy};
/// use portcullis::token::{Key, KeyRing, TokenRules};
///
/// let ours = KeyRing::single(Key::generate_ed25519("k1")?);
/// let partner = KeyRing::single(Key::generate_ed25519("k1")?); // the same kid: no matter
/// let bearer = BearerIssuers::new()
///     .issuer(BearerStrategy::new(ours, TokenRules::new().issuer("https://id.example").audience("api")))?
///     .issuer(BearerStrategy::new(partner, TokenRules::new().issuer("https://partner.example").audience("api")))?;
/// let gateway = AuthGateway::new().strategy(bearer);
/// # let _ = gateway;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct BearerIssuers {
    /// In the order given; few enough that a scan beats hashing the issuer.
    routes: Vec<(Box<str>, BearerStrategy)>,
    /// The strategy whose transport finds tokens (the largest header cap, so that no issuer's
    /// tokens are refused as too large before their own strategy sees them).
    finder: usize,
}

impl BearerIssuers {
    /// No issuer yet: until one is added it answers for no request (the gateway asks the next
    /// strategy).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `strategy` for the issuer its rules require.
    pub fn issuer(mut self, strategy: BearerStrategy) -> Result<Self, IssuersError> {
        let issuer = strategy
            .verifier()
            .rules()
            .issuer
            .clone()
            .ok_or(IssuersError::NoIssuerRule)?;
        if self.routes.iter().any(|(known, _)| **known == *issuer) {
            return Err(IssuersError::Duplicate(issuer));
        }
        if let Some((_, first)) = self.routes.first()
            && first.query_param() != strategy.query_param()
        {
            return Err(IssuersError::Transport);
        }
        let larger = self
            .routes
            .get(self.finder)
            .is_none_or(|(_, finder)| strategy.max_header_bytes() > finder.max_header_bytes());
        self.routes.push((issuer.into_boxed_str(), strategy));
        if larger {
            self.finder = self.routes.len() - 1;
        }
        Ok(self)
    }

    /// The issuers routed, in the order they were added.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|(issuer, _)| &**issuer)
    }

    fn route(&self, token: &[u8]) -> Result<&BearerStrategy, TokenRejection> {
        let payload = payload_json(token)?;
        let claimed = claimed_issuer(&payload)?;
        self.routes
            .iter()
            .find(|(issuer, _)| **issuer == *claimed)
            .map(|(_, strategy)| strategy)
            .ok_or(TokenRejection::WrongIssuer)
    }
}

impl Strategy for BearerIssuers {
    fn name(&self) -> &'static str {
        "bearer"
    }

    fn retry_safe(&self) -> bool {
        self.routes.iter().all(|(_, s)| s.retry_safe())
    }

    fn authenticate<'a>(&'a self, request: &'a Parts) -> MaybeReady<'a, Outcome> {
        let Some((_, finder)) = self.routes.get(self.finder) else {
            return MaybeReady::ready(Outcome::NotMine);
        };
        let token = match finder.credential(request) {
            Ok(None) => return MaybeReady::ready(Outcome::NotMine),
            Ok(Some(token)) => token,
            Err(error) => return MaybeReady::ready(Outcome::Rejected(error)),
        };
        match self.route(token) {
            // The chosen strategy finds the token again and checks all of it, its own size cap
            // first.
            Ok(strategy) => strategy.authenticate(request),
            Err(rejection) => {
                tracing::debug!(reason = %rejection, "bearer token for no routed issuer");
                MaybeReady::ready(Outcome::Rejected(AuthError::InvalidToken(rejection)))
            }
        }
    }
}

/// The decoded payload of a compact JWS: `Malformed` unless it has three parts and the second
/// is base64url. (The finder's size cap has bounded the token.)
fn payload_json(token: &[u8]) -> Result<Vec<u8>, TokenRejection> {
    let mut parts = token.split(|&b| b == b'.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRejection::Malformed);
    };
    URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenRejection::Malformed)
}

/// The `iss` a payload claims, unverified: only to choose which issuer's strategy verifies the
/// token. `Malformed` unless the payload is JSON with at most one `iss`, a string;
/// `WrongIssuer` when it has none.
fn claimed_issuer(payload: &[u8]) -> Result<Cow<'_, str>, TokenRejection> {
    #[derive(serde::Deserialize)]
    struct Claimed<'a> {
        // Borrowed unless escaped. A second `iss` is an error (serde refuses duplicate fields),
        // so the routing and the verifier cannot read two different issuers from one token.
        #[serde(borrow, default)]
        iss: Option<Cow<'a, str>>,
    }
    let claimed: Claimed<'_> =
        serde_json::from_slice(payload).map_err(|_| TokenRejection::Malformed)?;
    claimed.iss.ok_or(TokenRejection::WrongIssuer)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // fixed, valid inputs
mod tests {
    use super::*;

    fn token_with(payload: &str) -> String {
        format!("e30.{}.c2ln", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn the_claimed_issuer_is_read_strictly() {
        let read = |payload: &str| {
            let json = payload_json(token_with(payload).as_bytes())?;
            claimed_issuer(&json).map(Cow::into_owned)
        };
        assert_eq!(read(r#"{"iss":"a","sub":"x"}"#).unwrap(), "a");
        assert_eq!(read(r#"{"iss":"a\u002fb"}"#).unwrap(), "a/b");
        assert_eq!(read(r#"{"sub":"x"}"#), Err(TokenRejection::WrongIssuer));
        assert_eq!(
            read(r#"{"iss":"a","iss":"b"}"#),
            Err(TokenRejection::Malformed)
        );
        assert_eq!(read(r#"{"iss":7}"#), Err(TokenRejection::Malformed));
        assert_eq!(read("not json"), Err(TokenRejection::Malformed));
        assert_eq!(payload_json(b"a.b"), Err(TokenRejection::Malformed));
        assert_eq!(payload_json(b"a.b.c.d"), Err(TokenRejection::Malformed));
        assert_eq!(
            payload_json(b"e30.!!!.c2ln"),
            Err(TokenRejection::Malformed)
        );
    }
}
