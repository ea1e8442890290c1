//! Fixtures shared by the portcullis fuzz targets: a fixed key ring and the bearer strategies over
//! it, a signer that turns any header and claims bytes into a correctly signed compact JWS, request
//! building, a one-poll executor, and the reference rules a token that authenticated must meet.
//!
//! Nothing here is random except where noted, so a crash found once reproduces from its input.

use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, Uri};
use portcullis::rbac::Permission;
use portcullis::strategy::{BearerStrategy, Outcome};
use portcullis::token::{Algorithm, Key, KeyRing, MAX_NUMERIC_DATE, TokenRules, TokenVerifier};
use portcullis::{AuthMethod, UserContext};
use serde_json::{Map, Value};

/// Key id of the HS256 key.
pub const HS_KID: &str = "fuzz-hs256";
/// Key id of the Ed25519 key.
pub const ED_KID: &str = "fuzz-ed25519";
/// The HS256 secret: fixed, exactly the 32 bytes RFC 7518 asks for.
pub const HS_SECRET: [u8; 32] = *b"portcullis fuzz hs256 secret 32B";
/// The Ed25519 seed: fixed, so a signature made for a crash input is the same on every run.
pub const ED_SEED: [u8; 32] = *b"portcullis fuzz ed25519 seed 32B";
/// The issuer every strategy requires.
pub const ISSUER: &str = "https://issuer.fuzz.example";
/// The audience every strategy requires.
pub const AUDIENCE: &str = "fuzz-api";
/// The claim the strategies copy into the context with `keep_claims`.
pub const KEPT_CLAIM: &str = "org";
/// The query parameter of the strategy that accepts tokens in the query.
pub const QUERY_PARAM: &str = "access_token";
/// The rules' leeway (the `TokenRules` default), in seconds.
pub const LEEWAY_SECS: u64 = 30;
/// Slack on top of the leeway for the time that passes between our clock reading and the
/// verifier's (well under a second in practice).
pub const CLOCK_SLACK_SECS: u64 = 5;

/// Which key signs a fuzzer-made token, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, arbitrary::Arbitrary)]
pub enum Signer {
    /// HMAC-SHA256 with the ring's HS256 secret: valid for `kid` `fuzz-hs256`, `alg` `HS256`.
    Hs256,
    /// Ed25519 with the ring's Ed25519 key: valid for `kid` `fuzz-ed25519`, `alg` `EdDSA`.
    Ed25519,
    /// HMAC-SHA256 keyed with the Ed25519 *public* key: the classic algorithm-confusion forgery.
    Hs256WithEdPublicKey,
}

/// The bearer strategies the targets run, all over one ring and one set of rules.
pub struct Bearer {
    /// The ring: `fuzz-hs256` (HS256) and `fuzz-ed25519` (EdDSA).
    pub ring: KeyRing,
    /// The Ed25519 key pair behind `fuzz-ed25519`.
    pub ed: Ed25519KeyPair,
    /// Header only (the default), keeps the claim `org`.
    pub header_only: BearerStrategy,
    /// Also accepts `?access_token=`, keeps the claim `org`.
    pub with_query: BearerStrategy,
    /// Header only, honours the token's `permissions` claim.
    pub trusting: BearerStrategy,
    /// The verifier under all three.
    pub verifier: TokenVerifier,
}

/// The rules every strategy applies: issuer and audience required, default leeway and size cap.
pub fn rules() -> TokenRules {
    TokenRules::new().issuer(ISSUER).audience(AUDIENCE)
}

/// The shared bearer fixture, built once per process.
pub fn bearer() -> &'static Bearer {
    static BEARER: OnceLock<Bearer> = OnceLock::new();
    BEARER.get_or_init(|| {
        let ed = Ed25519KeyPair::from_seed_unchecked(&ED_SEED).expect("fixed Ed25519 seed");
        let pkcs8 = ed.to_pkcs8().expect("PKCS#8 of the fixed Ed25519 key");
        let ring = KeyRing::single(
            Key::hmac(HS_KID, Algorithm::HS256, &HS_SECRET).expect("fixed HS256 key"),
        );
        ring.insert(
            Key::from_pkcs8(ED_KID, Algorithm::EdDSA, pkcs8.as_ref()).expect("fixed Ed25519 key"),
        );
        let verifier = TokenVerifier::new(ring.clone(), rules());
        let header_only = BearerStrategy::with_verifier(verifier.clone()).keep_claims([KEPT_CLAIM]);
        Bearer {
            with_query: header_only.clone().allow_query(QUERY_PARAM),
            trusting: BearerStrategy::with_verifier(verifier.clone()).trust_token_permissions(),
            header_only,
            verifier,
            ring,
            ed,
        }
    })
}

/// base64url without padding, as JWS uses.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS `b64(header).b64(claims).b64(signature)` over any header and claims bytes,
/// signed by `signer`: the signature is real, so the verifier gets past it to the claims.
pub fn signed_token(header: &[u8], claims: &[u8], signer: Signer) -> String {
    let signing_input = format!("{}.{}", b64(header), b64(claims));
    let signature = sign(signing_input.as_bytes(), signer);
    format!("{signing_input}.{}", b64(&signature))
}

/// The signature of `message` by `signer`.
pub fn sign(message: &[u8], signer: Signer) -> Vec<u8> {
    match signer {
        Signer::Hs256 => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, &HS_SECRET);
            hmac::sign(&key, message).as_ref().to_vec()
        }
        Signer::Ed25519 => bearer().ed.sign(message).as_ref().to_vec(),
        Signer::Hs256WithEdPublicKey => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, bearer().ed.public_key().as_ref());
            hmac::sign(&key, message).as_ref().to_vec()
        }
    }
}

/// A request's `Parts` with these headers and this query, or `None` when the bytes could not be
/// sent over HTTP at all (an invalid header value or URI): such a request never reaches a strategy.
pub fn parts(headers: &[(HeaderName, &[u8])], query: Option<&[u8]>) -> Option<Parts> {
    let mut target = b"/fuzz".to_vec();
    if let Some(query) = query {
        target.push(b'?');
        target.extend_from_slice(query);
    }
    let uri = Uri::try_from(target).ok()?;
    let mut builder = Request::builder().uri(uri);
    for (name, value) in headers {
        builder = builder.header(name, HeaderValue::from_bytes(value).ok()?);
    }
    Some(builder.body(()).ok()?.into_parts().0)
}

/// Polls a future once with a no-op waker: `Some` when it was ready at once.
pub fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(value) => Some(value),
        Poll::Pending => None,
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A short name of an outcome, for assertion messages (never a credential).
pub fn outcome_name(outcome: &Outcome) -> String {
    match outcome {
        Outcome::NotMine => "NotMine".into(),
        Outcome::Authenticated(ctx) => format!("Authenticated({:?})", ctx.subject()),
        Outcome::Rejected(error) => format!("Rejected({error})"),
    }
}

/// Whether `value` is the value of parameter `name` in `query` (raw, no percent-decoding, the
/// first occurrence), as RFC 6750 §2.3 transports a token.
pub fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// The raw query of `parts`, if any.
pub fn query_of(parts: &Parts) -> Option<&str> {
    parts.uri.query()
}

fn sorted_dedup(mut items: Vec<String>) -> Vec<String> {
    items.sort_unstable();
    items.dedup();
    items
}

fn strings(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn absent(claims: &Map<String, Value>, name: &str) -> bool {
    matches!(claims.get(name), None | Some(Value::Null))
}

/// A JSON number as a NumericDate in seconds (`None` for anything else).
/// Which of the shared strategies authenticated a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// `header_only` or `with_query`: keeps `org`, ignores `permissions`.
    Keeping,
    /// `trusting`: honours `permissions`, keeps nothing.
    Trusting,
}

/// Asserts what must hold of a token that authenticated: its header names one of the ring's keys
/// with that key's algorithm and no `crit`, its claims meet every rule (unexpired, not before its
/// `nbf`, exact `iss`, the audience, a non-empty `sub`), and the context says what the claims say.
///
/// Panics (a fuzzer crash) when any of it does not hold.
pub fn assert_valid_authenticated(token: &str, ctx: &UserContext, which: Which, now: u64) {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        panic!("authenticated a token that is not three dot-separated parts");
    };
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .expect("authenticated a token whose header is not base64url");
    let claims = URL_SAFE_NO_PAD
        .decode(claims)
        .expect("authenticated a token whose claims are not base64url");
    let header: Map<String, Value> =
        serde_json::from_slice(&header).expect("authenticated a token whose header is no object");
    let claims: Map<String, Value> =
        serde_json::from_slice(&claims).expect("authenticated a token whose claims are no object");

    // The header: a key of the ring, the algorithm that key is pinned to, no `crit`.
    let kid = header.get("kid").and_then(Value::as_str);
    let alg = header.get("alg").and_then(Value::as_str);
    match (kid, alg) {
        (Some(HS_KID), Some("HS256")) | (Some(ED_KID), Some("EdDSA")) => {}
        other => panic!("authenticated a token with kid/alg {other:?}"),
    }
    assert!(absent(&header, "crit"), "authenticated a token with crit");

    // The rules. `exp`, `nbf` and `iat` are whole seconds no later than year 9999 when present.
    let date = |name: &str| {
        claims.get(name).map(|value| {
            value
                .as_u64()
                .filter(|&at| at <= MAX_NUMERIC_DATE)
                .unwrap_or_else(|| panic!("authenticated a token whose {name} is {value}"))
        })
    };
    let exp = date("exp").expect("authenticated a token without exp");
    assert!(
        exp + LEEWAY_SECS + CLOCK_SLACK_SECS >= now,
        "authenticated an expired token (exp {exp}, now {now})"
    );
    if let Some(nbf) = date("nbf") {
        assert!(
            nbf <= now + LEEWAY_SECS + CLOCK_SLACK_SECS,
            "authenticated a token before its nbf (nbf {nbf}, now {now})"
        );
    }
    date("iat");
    assert_eq!(
        claims.get("iss").and_then(Value::as_str),
        Some(ISSUER),
        "authenticated a token of another issuer"
    );
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == AUDIENCE,
        Some(aud @ Value::Array(_)) => {
            strings(aud).is_some_and(|list| list.iter().any(|a| a == AUDIENCE))
        }
        _ => false,
    };
    assert!(audience_ok, "authenticated a token for another audience");
    let sub = claims.get("sub").and_then(Value::as_str);
    let sub = sub.expect("authenticated a token without a string sub");
    assert!(!sub.is_empty(), "authenticated a token with an empty sub");

    // The context says what the claims say.
    assert_eq!(
        ctx.subject(),
        sub,
        "the context's subject is not the token's sub"
    );
    assert_eq!(ctx.method(), AuthMethod::Bearer);
    let roles = if absent(&claims, "roles") {
        Vec::new()
    } else {
        let roles = claims.get("roles").and_then(strings);
        let roles = roles.expect("authenticated a token whose roles are not strings");
        assert!(
            roles.len() <= portcullis::strategy::MAX_ROLES_IN_TOKEN,
            "authenticated a token with too many roles"
        );
        sorted_dedup(roles)
    };
    assert_eq!(
        ctx.roles(),
        roles.as_slice(),
        "roles differ from the token's"
    );
    for (name, got) in [
        ("tid", ctx.tenant()),
        ("email", ctx.email()),
        ("jti", ctx.token_id()),
    ] {
        let want = if absent(&claims, name) {
            None
        } else {
            let value = claims.get(name).and_then(Value::as_str);
            Some(value.unwrap_or_else(|| panic!("authenticated a token whose {name} is no string")))
        };
        assert_eq!(got, want, "the context's {name} differs from the token's");
    }
    let scopes = match claims.get("scope") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => sorted_dedup(
            s.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        Some(other) => sorted_dedup(
            strings(other).expect("authenticated a token whose scope is neither string nor list"),
        ),
    };
    assert_eq!(
        ctx.scopes(),
        scopes.as_slice(),
        "scopes differ from the token's"
    );
    if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
        // Reading the expiry back must work for every expiry a token can carry.
        let at = ctx.expires_at();
        assert_eq!(
            at,
            UNIX_EPOCH.checked_add(Duration::from_secs(exp)),
            "expires_at differs from exp"
        );
    }
    match claims.get("iat").and_then(Value::as_u64) {
        Some(iat) => {
            assert_eq!(ctx.issued_at(), Some(iat));
            let precise = claims
                .get("iat_us")
                .and_then(Value::as_u64)
                .filter(|us| us / 1_000_000 == iat);
            assert_eq!(
                ctx.issued_at_us(),
                Some(precise.unwrap_or(iat.saturating_mul(1_000_000)))
            );
        }
        None => assert_eq!(ctx.issued_at(), None),
    }
    match which {
        Which::Keeping => {
            assert_eq!(ctx.claims().get(KEPT_CLAIM), claims.get(KEPT_CLAIM));
            assert!(
                ctx.carried_permissions().is_empty(),
                "permissions read while not trusted"
            );
        }
        Which::Trusting => {
            let want: Vec<Permission> = if absent(&claims, "permissions") {
                Vec::new()
            } else {
                let list = claims.get("permissions").and_then(strings);
                let list = list.expect("authenticated a token whose permissions are not strings");
                list.iter()
                    .map(|p| {
                        Permission::parse(p)
                            .unwrap_or_else(|e| panic!("authenticated a malformed grant: {e}"))
                    })
                    .collect()
            };
            assert_eq!(ctx.carried_permissions(), want.as_slice());
            assert!(ctx.claims().is_empty(), "claims kept without keep_claims");
        }
    }
}
