//! The bearer JWT strategy (RFC 6750 transport, RFC 8725 verification).

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::request::Parts;
use serde_json::Value;

use super::{Outcome, Strategy};
use crate::context::{AuthMethod, UserContext};
use crate::error::{AuthError, TokenRejection};
use crate::future::MaybeReady;
use crate::rbac::Permission;
use crate::revocation::RevocationCheck;
use crate::token::{
    ClaimNames, DEFAULT_TOKEN_CACHE_BYTES, DEFAULT_TOKEN_CACHE_TTL, KeyRing, KeySource, TokenCache,
    TokenRules, TokenVerifier, VerifiedToken, split_token,
};

/// Default largest `Authorization` header accepted, in bytes (8 KiB + the scheme).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 8 * 1024 + 16;
/// Most roles a token may carry; more is refused as malformed claims.
pub const MAX_ROLES_IN_TOKEN: usize = 256;

/// Authenticates `Authorization: Bearer <jwt>` requests with a [`TokenVerifier`].
///
/// - Credentials of another scheme (`Basic …`) are not this strategy's: the next one is asked.
/// - Two `Authorization` headers, an empty token, or a token both in the header and in the query
///   are `400 invalid_request` (RFC 6750 §2, §3.1).
/// - A header over the size cap is refused before anything is parsed.
/// - Tokens in the query (`?access_token=`) are refused unless [`allow_query`](Self::allow_query)
///   is set: URLs end up in logs and `Referer` headers.
/// - A token that verified is remembered (found by the SHA-256 of its signature, bound to the key
///   that verified it, never past its `exp`), so the next request with it skips the signature check; revocation is still
///   asked every time. See [`token_cache`](Self::token_cache) for the rules, and
///   [`without_token_cache`](Self::without_token_cache) to turn it off.
///
/// ```
/// use portcullis::strategy::BearerStrategy;
/// use portcullis::token::{Key, KeyRing, TokenRules};
///
/// let ring = KeyRing::single(Key::generate_ed25519("k1")?);
/// let bearer = BearerStrategy::new(ring, TokenRules::new().issuer("me").audience("api"))
///     .keep_claims(["org_name"]);
/// # let _ = bearer;
/// # Ok::<(), portcullis::token::KeyError>(())
/// ```
#[derive(Clone)]
pub struct BearerStrategy {
    verifier: TokenVerifier,
    names: ClaimNames,
    keep: Vec<String>,
    query_param: Option<String>,
    max_header_bytes: usize,
    trust_permissions: bool,
    revocation: Option<Arc<dyn RevocationCheck>>,
    method: AuthMethod,
    cache: Option<CacheConfig>,
    key_source: Option<Arc<dyn KeySource>>,
}

/// The token cache and the settings it was made with, so a builder call that changes how
/// contexts are made can start a fresh one.
#[derive(Clone, Debug)]
struct CacheConfig {
    max_bytes: u64,
    max_ttl: std::time::Duration,
    tokens: TokenCache<UserContext>,
}

impl CacheConfig {
    fn new(max_bytes: u64, max_ttl: std::time::Duration) -> Self {
        Self {
            max_bytes,
            max_ttl,
            tokens: TokenCache::new(max_bytes, max_ttl),
        }
    }
}

impl std::fmt::Debug for BearerStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerStrategy")
            .field("verifier", &self.verifier)
            .field("names", &self.names)
            .field("query_param", &self.query_param)
            .field("revocation", &self.revocation.is_some())
            .field("cache", &self.cache.as_ref().map(|c| &c.tokens))
            .field("key_source", &self.key_source.is_some())
            .finish_non_exhaustive()
    }
}

impl BearerStrategy {
    /// A bearer strategy verifying with `ring` under `rules`.
    pub fn new(ring: KeyRing, rules: TokenRules) -> Self {
        Self::with_verifier(TokenVerifier::new(ring, rules))
    }

    /// A bearer strategy around an existing verifier.
    pub fn with_verifier(verifier: TokenVerifier) -> Self {
        let max_header_bytes = verifier.rules().max_token_bytes.saturating_add(16);
        Self {
            verifier,
            names: ClaimNames::default(),
            keep: Vec::new(),
            query_param: None,
            max_header_bytes: max_header_bytes.max(64),
            trust_permissions: false,
            revocation: None,
            method: AuthMethod::Bearer,
            cache: Some(CacheConfig::new(
                DEFAULT_TOKEN_CACHE_BYTES,
                DEFAULT_TOKEN_CACHE_TTL,
            )),
            key_source: None,
        }
    }

    /// A bearer strategy verifying with the keys an identity provider publishes: the ring of
    /// `jwks`, which is asked again (single-flight, with a cool-down) whenever a token names a
    /// `kid` the ring lacks.
    #[cfg(feature = "jwks")]
    pub fn from_jwks(jwks: &crate::token::RemoteJwks, rules: TokenRules) -> Self {
        Self::new(jwks.ring(), rules).key_source(Arc::new(jwks.clone()))
    }

    /// Asks `source` for a token's key when the ring does not hold its `kid`, then verifies
    /// again; a source that cannot answer refuses the request with 503.
    pub fn key_source(mut self, source: Arc<dyn KeySource>) -> Self {
        self.key_source = Some(source);
        self
    }

    /// Keeps verified tokens in up to `max_bytes` (counting each token's signed part twice, for
    /// the context made from it, plus 512 bytes), each at most `max_ttl` (default 16 MiB and five
    /// minutes). A token seen again then costs a SHA-256 of its signature and a look-up rather
    /// than a signature check. An entry counts only while the ring still holds the very key that
    /// verified it (a removed or replaced key ends its entries at once), only for the same
    /// header and claims byte for byte, and never at or after the token's `exp`; refusals are
    /// never cached; revocation is checked on every request, cached or not.
    pub fn token_cache(mut self, max_bytes: u64, max_ttl: std::time::Duration) -> Self {
        self.cache = Some(CacheConfig::new(max_bytes, max_ttl));
        self
    }

    /// Verifies every token's signature on every request.
    pub fn without_token_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    /// A builder call changed how a token becomes a context: contexts cached under the old
    /// settings (possibly shared with a clone of this strategy) must not be served.
    fn fresh_cache(mut self) -> Self {
        self.cache = self
            .cache
            .map(|old| CacheConfig::new(old.max_bytes, old.max_ttl));
        self
    }

    /// The claim names to read roles, tenant, scopes, e-mail and permissions from.
    pub fn claim_names(mut self, names: ClaimNames) -> Self {
        self.names = names;
        self.fresh_cache()
    }

    /// Claims to copy into [`UserContext::claims`].
    pub fn keep_claims<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.keep = names.into_iter().map(Into::into).collect();
        self.fresh_cache()
    }

    /// Honours permission grants carried in the token's permissions claim: they are added to the
    /// role permissions at enrichment. Off by default: a token then grants only through its roles,
    /// and its permissions claim is not even read. When on, a malformed grant refuses the token.
    pub fn trust_token_permissions(mut self) -> Self {
        self.trust_permissions = true;
        self.fresh_cache()
    }

    /// Consults `check` after a token verifies: revoked tokens are refused with 401, and a check
    /// that cannot answer refuses the request with 503.
    pub fn revocation(mut self, check: Arc<dyn RevocationCheck>) -> Self {
        self.revocation = Some(check);
        self
    }

    /// The [`AuthMethod`] its contexts carry (default [`AuthMethod::Bearer`]); the built-in
    /// identity marks its own with [`AuthMethod::Identity`] so its routes can tell them apart.
    pub fn method(mut self, method: AuthMethod) -> Self {
        self.method = method;
        self.fresh_cache()
    }

    /// Also accepts the token in this query parameter (RFC 6750 §2.3; usually `access_token`).
    /// Off by default.
    pub fn allow_query(mut self, param: impl Into<String>) -> Self {
        self.query_param = Some(param.into());
        self
    }

    /// The verifier.
    pub fn verifier(&self) -> &TokenVerifier {
        &self.verifier
    }

    /// The query parameter tokens are taken from, when they are.
    pub(super) fn query_param(&self) -> Option<&str> {
        self.query_param.as_deref()
    }

    /// The largest `Authorization` header this strategy reads.
    pub(super) fn max_header_bytes(&self) -> usize {
        self.max_header_bytes
    }

    /// Finds this strategy's credential: `Ok(None)` when there is none. The bytes are not yet
    /// known to be UTF-8: a token the cache knows is, and the check of the others comes before
    /// any parsing (see [`context_for`](Self::context_for)).
    pub(super) fn credential<'a>(&self, request: &'a Parts) -> Result<Option<&'a [u8]>, AuthError> {
        let mut headers = request.headers.get_all(AUTHORIZATION).iter();
        let header = headers.next();
        if headers.next().is_some() {
            return Err(AuthError::InvalidRequest(
                "more than one Authorization header",
            ));
        }
        let query_name = self.query_param.as_deref().unwrap_or("access_token");
        let in_query = request.uri.query().and_then(|q| query_value(q, query_name));

        let from_header = match header {
            None => None,
            Some(value) => {
                let bytes = value.as_bytes();
                match bytes.get(..7) {
                    Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => {
                        // The size cap comes before any parsing, UTF-8 check or crypto.
                        if bytes.len() > self.max_header_bytes {
                            return Err(AuthError::InvalidToken(TokenRejection::TooLarge));
                        }
                        let spaces = bytes[7..].iter().take_while(|&&b| b == b' ').count();
                        let token = &bytes[7 + spaces..];
                        if token.is_empty() {
                            return Err(AuthError::InvalidRequest("empty bearer token"));
                        }
                        Some(token)
                    }
                    _ if bytes.eq_ignore_ascii_case(b"bearer") => {
                        return Err(AuthError::InvalidRequest("empty bearer token"));
                    }
                    _ => None, // another scheme: not ours
                }
            }
        };
        match (from_header, in_query) {
            (Some(_), Some(_)) => Err(AuthError::InvalidRequest(
                "an access token may be sent in one place only, not in both header and query",
            )),
            (Some(token), None) => Ok(Some(token)),
            (None, Some(token)) if self.query_param.is_some() => {
                if token.len() > self.verifier.rules().max_token_bytes {
                    return Err(AuthError::InvalidToken(TokenRejection::TooLarge));
                }
                Ok(Some(token.as_bytes()))
            }
            (None, Some(_)) => Err(AuthError::InvalidRequest(
                "access tokens in the query string are not accepted",
            )),
            (None, None) => Ok(None),
        }
    }

    /// The context of a token: from the cache when it verified before, else verified now (and
    /// remembered).
    ///
    /// A token the cache knows is byte for byte one that verified, so it is UTF-8; only a token
    /// the cache does not know is checked for UTF-8, before anything parses it.
    fn context_for(&self, token: &[u8]) -> Result<UserContext, TokenRejection> {
        let utf8 = |token| std::str::from_utf8(token).map_err(|_| TokenRejection::Malformed);
        let Some(cache) = &self.cache else {
            return self
                .verifier
                .verify(utf8(token)?)
                .and_then(|t| self.context_of(t));
        };
        // The size cap comes before the tag as it does before any parsing.
        if token.len() > self.verifier.rules().max_token_bytes {
            return Err(TokenRejection::TooLarge);
        }
        let at = split_token(token);
        if let Some(ctx) = at.and_then(|at| cache.tokens.get(&at, self.verifier.ring())) {
            return Ok(ctx);
        }
        let verified = self.verifier.verify(utf8(token)?)?;
        let key = Arc::clone(&verified.key);
        let exp = verified.claims.get("exp").and_then(Value::as_u64);
        let ctx = self.context_of(verified)?;
        if let (Some(at), Some(exp)) = (at, exp) {
            cache.tokens.insert(at, ctx.clone(), key, exp);
        }
        Ok(ctx)
    }

    fn context_of(&self, token: VerifiedToken) -> Result<UserContext, TokenRejection> {
        let claims = token.claims;
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or(TokenRejection::BadClaims)?;
        let mut ctx = UserContext::new(subject, self.method);

        match claims.get(&self.names.roles) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) if items.len() <= MAX_ROLES_IN_TOKEN => {
                let roles = items
                    .iter()
                    .map(|v| v.as_str().ok_or(TokenRejection::BadClaims));
                ctx = ctx.with_roles(roles.collect::<Result<Vec<_>, _>>()?);
            }
            Some(_) => return Err(TokenRejection::BadClaims),
        }
        match claims.get(&self.names.permissions) {
            _ if !self.trust_permissions => {}
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) if items.len() <= MAX_ROLES_IN_TOKEN => {
                let carried = items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .and_then(|s| Permission::parse(s).ok())
                            .ok_or(TokenRejection::BadClaims)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                ctx = ctx.with_carried_permissions(carried);
            }
            Some(_) => return Err(TokenRejection::BadClaims),
        }
        if let Some(tenant) = optional_str(&claims, &self.names.tenant)? {
            ctx = ctx.with_tenant(tenant);
        }
        if let Some(email) = optional_str(&claims, &self.names.email)? {
            ctx = ctx.with_email(email);
        }
        match claims.get(&self.names.scope) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => ctx = ctx.with_scopes(s.split(' ').filter(|s| !s.is_empty())),
            Some(Value::Array(items)) => {
                let scopes = items
                    .iter()
                    .map(|v| v.as_str().ok_or(TokenRejection::BadClaims));
                ctx = ctx.with_scopes(scopes.collect::<Result<Vec<_>, _>>()?);
            }
            Some(_) => return Err(TokenRejection::BadClaims),
        }
        if let Some(jti) = optional_str(&claims, "jti")? {
            ctx = ctx.with_token_id(jti);
        }
        if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
            ctx = ctx.with_expiry(exp);
        }
        if let Some(iat) = claims.get("iat").and_then(Value::as_u64) {
            ctx = ctx.with_issued_at(iat);
            // The precise issue time is trusted only when it agrees with `iat`.
            if let Some(us) = claims.get("iat_us").and_then(Value::as_u64)
                && us / 1_000_000 == iat
            {
                ctx = ctx.with_issued_at_us(us);
            }
        }
        for name in &self.keep {
            if let Some(value) = claims.get(name) {
                ctx = ctx.with_claim(name.clone(), value.clone());
            }
        }
        Ok(ctx)
    }
}

fn optional_str<'a>(
    claims: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, TokenRejection> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TokenRejection::BadClaims),
    }
}

/// The raw value of `name` in a query string, if present. Tokens are base64url, so no
/// percent-decoding is needed; an encoded token fails verification as malformed.
fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

impl Strategy for BearerStrategy {
    fn name(&self) -> &'static str {
        "bearer"
    }

    /// Idempotent before its future is polled: parsing, cache look-ups and, on a miss, the
    /// signature check and its cache entry (so a second call finds it cached).
    fn retry_safe(&self) -> bool {
        true
    }

    fn authenticate<'a>(&'a self, request: &'a Parts) -> MaybeReady<'a, Outcome> {
        let token = match self.credential(request) {
            Ok(None) => return MaybeReady::ready(Outcome::NotMine),
            Err(error) => return MaybeReady::ready(Outcome::Rejected(error)),
            Ok(Some(token)) => token,
        };
        match self.context_for(token) {
            Ok(ctx) => self.unless_revoked(ctx),
            Err(TokenRejection::UnknownKey) if self.key_source.is_some() => {
                MaybeReady::new(self.with_key_from_source(token))
            }
            Err(rejection) => MaybeReady::ready(refused(rejection)),
        }
    }
}

impl BearerStrategy {
    /// The last step: a verified token still has to be unrevoked.
    fn unless_revoked(&self, ctx: UserContext) -> MaybeReady<'_, Outcome> {
        let Some(check) = &self.revocation else {
            return MaybeReady::ready(Outcome::Authenticated(ctx));
        };
        match check.cached(&ctx) {
            Some(revoked) => MaybeReady::ready(revocation_outcome(Ok(revoked), ctx)),
            None => MaybeReady::new(async move {
                let answer = check.load(&ctx).await;
                revocation_outcome(answer, ctx)
            }),
        }
    }

    /// A token whose `kid` the ring lacks: ask the key source, then verify once more.
    async fn with_key_from_source(&self, token: &[u8]) -> Outcome {
        let kid = std::str::from_utf8(token).ok().and_then(header_kid);
        let (Some(source), Some(kid)) = (&self.key_source, kid) else {
            return refused(TokenRejection::UnknownKey);
        };
        match source.find(&kid).await {
            Ok(true) => match self.context_for(token) {
                Ok(ctx) => self.unless_revoked(ctx).await,
                Err(rejection) => refused(rejection),
            },
            Ok(false) => refused(TokenRejection::UnknownKey),
            Err(error) => Outcome::Rejected(error),
        }
    }
}

/// The `kid` a token's header names (only asked after the verifier parsed that header once).
fn header_kid(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}

fn refused(rejection: TokenRejection) -> Outcome {
    tracing::debug!(reason = %rejection, "bearer token refused");
    Outcome::Rejected(AuthError::InvalidToken(rejection))
}

fn revocation_outcome(answer: Result<bool, AuthError>, ctx: UserContext) -> Outcome {
    match answer {
        Ok(false) => Outcome::Authenticated(ctx),
        Ok(true) => refused(TokenRejection::Revoked),
        Err(error) => Outcome::Rejected(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{Key, TokenClaims, TokenIssuer};

    fn parts(token: &str) -> Parts {
        let request = http::Request::get("/")
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .body(())
            .unwrap_or_else(|e| panic!("{e}"));
        request.into_parts().0
    }

    fn authenticated(strategy: &BearerStrategy, token: &str) -> UserContext {
        let parts = parts(token);
        let outcome = std::pin::pin!(strategy.authenticate(&parts));
        let waker = std::task::Waker::noop();
        match outcome.poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(Outcome::Authenticated(ctx)) => ctx,
            other => panic!("not authenticated: {other:?}"),
        }
    }

    fn issued(ring: &KeyRing) -> String {
        TokenIssuer::new(ring.clone())
            .issuer("me")
            .audience("api")
            .issue(&TokenClaims::new("alice").claim("team", "blue".into()))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_token_seen_again_is_answered_from_the_cache() {
        let ring = KeyRing::single(Key::generate_ed25519("k").unwrap_or_else(|e| panic!("{e}")));
        let strategy =
            BearerStrategy::new(ring.clone(), TokenRules::new().issuer("me").audience("api"));
        let token = issued(&ring);
        let first = authenticated(&strategy, &token);
        let second = authenticated(&strategy, &token);
        assert!(
            second.is_same_as(&first),
            "the second request must reuse the verified context"
        );

        let uncached = strategy.clone().without_token_cache();
        let third = authenticated(&uncached, &token);
        let fourth = authenticated(&uncached, &token);
        assert!(!fourth.is_same_as(&third));
        assert_eq!(fourth.subject(), "alice");
    }

    #[test]
    fn claim_names_and_trusted_permissions_also_start_a_fresh_cache() {
        let ring = KeyRing::single(Key::generate_ed25519("k").unwrap_or_else(|e| panic!("{e}")));
        let rules = TokenRules::new().issuer("me").audience("api");
        let plain = BearerStrategy::new(ring.clone(), rules);
        let token = TokenIssuer::new(ring)
            .issuer("me")
            .audience("api")
            .issue(
                &TokenClaims::new("alice")
                    .roles(["viewer"])
                    .claim("groups", serde_json::json!(["admin"]))
                    .claim("permissions", serde_json::json!(["read:X"])),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let seen = authenticated(&plain, &token);
        assert_eq!(seen.roles(), ["viewer"]);
        assert!(seen.carried_permissions().is_empty());
        // Roles read from another claim change what the token grants: never the old context.
        let renamed = plain
            .clone()
            .claim_names(ClaimNames::default().roles("groups"));
        assert_eq!(authenticated(&renamed, &token).roles(), ["admin"]);
        let trusting = plain.clone().trust_token_permissions();
        assert_eq!(
            authenticated(&trusting, &token).carried_permissions().len(),
            1
        );
    }

    #[test]
    fn changing_how_contexts_are_made_starts_a_fresh_cache() {
        let ring = KeyRing::single(Key::generate_ed25519("k").unwrap_or_else(|e| panic!("{e}")));
        let plain =
            BearerStrategy::new(ring.clone(), TokenRules::new().issuer("me").audience("api"));
        let token = issued(&ring);
        assert!(authenticated(&plain, &token).claims().get("team").is_none());
        // A clone configured to keep more claims must not be served the plain strategy's contexts.
        let keeping = plain.clone().keep_claims(["team"]);
        assert_eq!(authenticated(&keeping, &token).claims()["team"], "blue");
        let marked = plain.clone().method(AuthMethod::Identity);
        assert_eq!(
            authenticated(&marked, &token).method(),
            AuthMethod::Identity
        );
    }

    #[test]
    fn query_parsing() {
        assert_eq!(
            query_value("a=1&access_token=xyz", "access_token"),
            Some("xyz")
        );
        assert_eq!(query_value("access_token", "access_token"), Some(""));
        assert_eq!(query_value("xaccess_token=1", "access_token"), None);
    }
}
