//! The bearer strategy on fuzzer-made requests.
//!
//! The first byte picks a mode (`'0'` to `'4'`; any byte works: it is taken modulo 5 after
//! subtracting `'0'`):
//!
//! - `0`: the rest is the `Authorization` header value, as raw bytes.
//! - `1`: the rest is `header \n query [\n second Authorization header]`, raw bytes.
//! - `2`, `3`: the rest is `header JSON \n claims JSON` (raw bytes, any shape), base64url-encoded
//!   and correctly signed with the ring's HS256 (`2`) or Ed25519 (`3`) key, sent as
//!   `Authorization: Bearer <jwt>`: the verifier gets past the signature to the claims.
//! - `4`: the rest drives a structured token (`Spec`): every claim present or absent, of the right
//!   type or not, in time or not, right or wrong key, algorithm, signature, transport.
//!
//! Properties:
//! - every answer is ready at once (no revocation check is configured: no I/O, no `Pending`);
//! - modes 0 and 1 never authenticate (arbitrary bytes cannot carry a valid signature), a request
//!   without bearer credentials is `NotMine`, one with them is never `NotMine` (bad credentials
//!   never fall through), two `Authorization` headers are `invalid_request`, an oversized header
//!   is `TooLarge`;
//! - modes 2 and 3 authenticate only a token whose header and claims meet every rule, and the
//!   context then says what the claims say (`assert_valid_authenticated`);
//! - mode 4 authenticates exactly when the spec meets every rule (an independent oracle), and the
//!   context says what the claims say; the signature of a token that authenticated (which a token
//!   cache may remember) does not authenticate other claims.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use http::header::AUTHORIZATION;
use libfuzzer_sys::fuzz_target;
use portcullis::strategy::{BearerStrategy, DEFAULT_MAX_HEADER_BYTES, Outcome, Strategy};
use portcullis::token::{DEFAULT_MAX_TOKEN_BYTES, MAX_NUMERIC_DATE};
use portcullis::{AuthError, TokenRejection};
use portcullis_fuzz::{
    AUDIENCE, ED_KID, HS_KID, ISSUER, KEPT_CLAIM, QUERY_PARAM, Signer, Which,
    assert_valid_authenticated, bearer, now_secs, outcome_name, parts, poll_once, query_of,
    query_param, sign, signed_token,
};
use serde_json::{Map, Value, json};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode.wrapping_sub(b'0') % 5 {
        0 => raw(rest, None, None),
        1 => {
            let mut pieces = rest.splitn(3, |&b| b == b'\n');
            let header = pieces.next().unwrap_or_default();
            let query = pieces.next();
            let second = pieces.next();
            raw(header, query, second);
        }
        2 => signed_parts(rest, Signer::Hs256),
        3 => signed_parts(rest, Signer::Ed25519),
        _ => {
            if let Ok(spec) = Spec::arbitrary_take_rest(Unstructured::new(rest)) {
                structured(&spec);
            }
        }
    }
});

fn run(strategy: &BearerStrategy, request: &http::request::Parts) -> Outcome {
    poll_once(strategy.authenticate(request))
        .expect("without a revocation check the bearer strategy answers at once")
}

fn is_bearer_scheme(header: &[u8]) -> bool {
    header
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case(b"bearer "))
        || header.eq_ignore_ascii_case(b"bearer")
}

/// Modes 0 and 1: raw bytes.
fn raw(header: &[u8], query: Option<&[u8]>, second: Option<&[u8]>) {
    let mut headers = vec![(AUTHORIZATION, header)];
    if let Some(second) = second {
        headers.push((AUTHORIZATION, second));
    }
    let Some(request) = parts(&headers, query) else {
        return; // not sendable over HTTP
    };
    let b = bearer();
    let in_query = query_of(&request).and_then(|q| query_param(q, QUERY_PARAM));
    for strategy in [&b.header_only, &b.with_query, &b.trusting] {
        let outcome = run(strategy, &request);
        if let Outcome::Authenticated(_) = outcome {
            panic!("arbitrary bytes authenticated: {}", outcome_name(&outcome));
        }
        if second.is_some() {
            assert!(
                matches!(outcome, Outcome::Rejected(AuthError::InvalidRequest(_))),
                "two Authorization headers must be invalid_request, got {}",
                outcome_name(&outcome)
            );
            continue;
        }
        let ours = is_bearer_scheme(header) || in_query.is_some();
        assert_eq!(
            matches!(outcome, Outcome::NotMine),
            !ours,
            "bearer credentials (header {}, query {}) answered {}",
            is_bearer_scheme(header),
            in_query.is_some(),
            outcome_name(&outcome)
        );
        if is_bearer_scheme(header) && header.len() > DEFAULT_MAX_HEADER_BYTES {
            assert!(
                matches!(
                    outcome,
                    Outcome::Rejected(AuthError::InvalidToken(TokenRejection::TooLarge))
                ),
                "an oversized Authorization header answered {}",
                outcome_name(&outcome)
            );
        }
    }
}

/// Modes 2 and 3: any header and claims bytes, correctly signed.
fn signed_parts(rest: &[u8], signer: Signer) {
    let (header, claims) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&b"{}"[..], rest),
    };
    let token = signed_token(header, claims, signer);
    let value = format!("Bearer {token}");
    let Some(request) = parts(&[(AUTHORIZATION, value.as_bytes())], None) else {
        return;
    };
    let b = bearer();
    let now = now_secs();
    for (strategy, which) in [
        (&b.header_only, Which::Keeping),
        (&b.with_query, Which::Keeping),
        (&b.trusting, Which::Trusting),
    ] {
        match run(strategy, &request) {
            Outcome::Authenticated(ctx) => {
                assert!(b.verifier.verify(&token).is_ok());
                assert_valid_authenticated(&token, &ctx, which, now);
            }
            Outcome::NotMine => panic!("a bearer header answered NotMine"),
            Outcome::Rejected(_) => {}
        }
    }
}

// ---- mode 4: structured tokens with an independent oracle ----

#[derive(Debug, Arbitrary)]
struct Spec {
    key: KeyChoice,
    typ: Option<String>,
    crit: bool,
    corrupt_signature: Option<(u8, u8)>,
    exp: Time,
    nbf: Time,
    iat: Option<u64>,
    iat_us: Option<u64>,
    iss: Issuer,
    aud: Audience,
    sub: Sub,
    roles: List,
    tid: Text,
    email: Text,
    jti: Text,
    scope: Scope,
    permissions: Permissions,
    org: Option<String>,
    placement: Placement,
    trusting: bool,
    /// After a token authenticated: its signature on other claims (`roles: ["admin"]`) must not.
    splice: bool,
}

#[derive(Debug, Arbitrary)]
enum KeyChoice {
    /// `fuzz-hs256`, HS256, signed with its secret: valid.
    Hs,
    /// `fuzz-ed25519`, EdDSA, signed with its key: valid.
    Ed,
    /// `fuzz-hs256` named, but `alg` EdDSA and an Ed25519 signature.
    HsKidEdAlg,
    /// `fuzz-ed25519` named, `alg` HS256, HMAC keyed with the Ed25519 public key.
    AlgorithmConfusion,
    /// `fuzz-ed25519`, EdDSA, but an HMAC signature.
    WrongSignature,
    /// Another `kid` (valid only if it happens to be `fuzz-hs256`), HS256, HS256 signature.
    Kid(String),
    /// No `kid`.
    NoKid,
    /// `alg` `none` and an empty signature part replaced by an HMAC.
    AlgNone,
}

#[derive(Debug, Arbitrary)]
enum Time {
    Missing,
    Null,
    /// More than leeway + slack in the past: `now - 60 - n`.
    Past(u16),
    /// Within the leeway in the past (or future): `now - n % 20` / `now + n % 20`.
    Near(u8, bool),
    /// Well in the future: `now + 60 + n`, saturating (so up to `u64::MAX`, past year 9999).
    Future(u64),
    /// `now + 120.5` as a float.
    FloatFuture,
    /// Larger than any u64.
    FloatHuge,
    /// Negative.
    Negative(u32),
    /// A string of digits.
    Text,
}

#[derive(Debug, Arbitrary)]
enum Issuer {
    Missing,
    Right,
    Other(String),
    RightInArray,
    Number(u32),
}

#[derive(Debug, Arbitrary)]
enum Audience {
    Missing,
    Right,
    Other(String),
    List(Vec<String>, Option<u8>),
    Number(u32),
}

#[derive(Debug, Arbitrary)]
enum Sub {
    Missing,
    Str(String),
    Number(u32),
    Null,
}

#[derive(Debug, Arbitrary)]
enum List {
    Missing,
    Null,
    Strings(Vec<String>),
    TooMany,
    WithNumber(Vec<String>),
    Text(String),
}

#[derive(Debug, Arbitrary)]
enum Text {
    Missing,
    Null,
    Str(String),
    Number(u32),
    Bool(bool),
}

#[derive(Debug, Arbitrary)]
enum Scope {
    Missing,
    Null,
    Str(String),
    List(Vec<String>),
    Number(u32),
    ListWithNumber,
}

#[derive(Debug, Arbitrary)]
enum Permissions {
    Missing,
    Null,
    Known(Vec<u8>),
    Strings(Vec<String>),
    NotAList(u32),
}

const KNOWN_PERMISSIONS: [&str; 6] = [
    "read:Catalog",
    "write:Catalog.Review",
    "*:*",
    "read:*",
    "read:Catalog.*",
    "nope",
];

#[derive(Debug, Arbitrary)]
enum Placement {
    /// `Authorization: <scheme> <spaces><token>`.
    Header(u8, u8),
    /// `Authorization: Bearer <token> ` (trailing space).
    TrailingSpace,
    /// `?access_token=<token>` on the strategy that accepts it.
    Query(bool),
    /// `?access_token=<token>` on a strategy that does not.
    QueryRefused,
    /// Both header and query.
    Both,
}

/// One time claim: its JSON (if present) and whether it passes as `exp` and as `nbf`.
fn time_claim(time: &Time, now: u64) -> (Option<Value>, bool, bool) {
    match *time {
        Time::Missing => (None, false, true),
        // `null` is no NumericDate: refused as `exp` and as `nbf` alike.
        Time::Null => (Some(Value::Null), false, false),
        Time::Past(n) => (Some(json!(now - 60 - u64::from(n))), false, true),
        Time::Near(n, future) => {
            let n = u64::from(n % 20);
            let at = if future { now + n } else { now - n };
            (Some(json!(at)), true, true)
        }
        Time::Future(n) => {
            let at = now.saturating_add(60).saturating_add(n);
            (Some(json!(at)), at <= MAX_NUMERIC_DATE, false)
        }
        // No whole number of seconds: refused as either.
        Time::FloatFuture => (Some(json!(now as f64 + 120.5)), false, false),
        Time::FloatHuge => (Some(json!(1e30)), false, false),
        Time::Negative(n) => (Some(json!(-1 - i64::from(n))), false, false),
        Time::Text => (Some(json!(now.to_string())), false, false),
    }
}

fn text_claim(text: &Text) -> (Option<Value>, bool) {
    match text {
        Text::Missing => (None, true),
        Text::Null => (Some(Value::Null), true),
        Text::Str(s) => (Some(json!(s)), true),
        Text::Number(n) => (Some(json!(n)), false),
        Text::Bool(b) => (Some(json!(b)), false),
    }
}

fn structured(spec: &Spec) {
    let now = now_secs();
    let mut ok = true;
    let mut claims = Map::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            claims.insert(name.to_owned(), value);
        }
    };

    let (exp, exp_ok, _) = time_claim(&spec.exp, now);
    put("exp", exp);
    ok &= exp_ok;
    let (nbf, _, nbf_ok) = time_claim(&spec.nbf, now);
    put("nbf", nbf);
    ok &= nbf_ok;
    put("iat", spec.iat.map(Value::from));
    ok &= spec.iat.is_none_or(|iat| iat <= MAX_NUMERIC_DATE);
    put("iat_us", spec.iat_us.map(Value::from));

    let (iss, iss_ok) = match &spec.iss {
        Issuer::Missing => (None, false),
        Issuer::Right => (Some(json!(ISSUER)), true),
        Issuer::Other(s) => (Some(json!(s)), s == ISSUER),
        Issuer::RightInArray => (Some(json!([ISSUER])), false),
        Issuer::Number(n) => (Some(json!(n)), false),
    };
    put("iss", iss);
    ok &= iss_ok;

    let (aud, aud_ok) = match &spec.aud {
        Audience::Missing => (None, false),
        Audience::Right => (Some(json!(AUDIENCE)), true),
        Audience::Other(s) => (Some(json!(s)), s == AUDIENCE),
        Audience::List(list, at) => {
            let mut list = list.clone();
            if let Some(at) = at {
                let at = usize::from(*at) % (list.len() + 1);
                list.insert(at, AUDIENCE.to_owned());
            }
            let ok = list.iter().any(|a| a == AUDIENCE);
            (Some(json!(list)), ok)
        }
        Audience::Number(n) => (Some(json!(n)), false),
    };
    put("aud", aud);
    ok &= aud_ok;

    let (sub, sub_ok) = match &spec.sub {
        Sub::Missing => (None, false),
        Sub::Str(s) => (Some(json!(s)), !s.is_empty()),
        Sub::Number(n) => (Some(json!(n)), false),
        Sub::Null => (Some(Value::Null), false),
    };
    put("sub", sub);
    ok &= sub_ok;

    let (roles, roles_ok) = match &spec.roles {
        List::Missing => (None, true),
        List::Null => (Some(Value::Null), true),
        List::Strings(list) => (
            Some(json!(list)),
            list.len() <= portcullis::strategy::MAX_ROLES_IN_TOKEN,
        ),
        List::TooMany => (
            Some(json!(vec![
                "r";
                portcullis::strategy::MAX_ROLES_IN_TOKEN + 1
            ])),
            false,
        ),
        List::WithNumber(list) => {
            let mut items: Vec<Value> = list.iter().map(|s| json!(s)).collect();
            items.push(json!(7));
            (Some(Value::Array(items)), false)
        }
        List::Text(s) => (Some(json!(s)), false),
    };
    put("roles", roles);
    ok &= roles_ok;

    for (name, text) in [
        ("tid", &spec.tid),
        ("email", &spec.email),
        ("jti", &spec.jti),
    ] {
        let (value, text_ok) = text_claim(text);
        put(name, value);
        ok &= text_ok;
    }

    let (scope, scope_ok) = match &spec.scope {
        Scope::Missing => (None, true),
        Scope::Null => (Some(Value::Null), true),
        Scope::Str(s) => (Some(json!(s)), true),
        Scope::List(list) => (Some(json!(list)), true),
        Scope::Number(n) => (Some(json!(n)), false),
        Scope::ListWithNumber => (Some(json!(["a", 1])), false),
    };
    put("scope", scope);
    ok &= scope_ok;

    // Only the trusting strategy reads `permissions`; the others ignore it whatever it holds.
    let trusting = spec.trusting && matches!(spec.placement, Placement::Header(..));
    let (permissions, permissions_ok) = match &spec.permissions {
        Permissions::Missing => (None, true),
        Permissions::Null => (Some(Value::Null), true),
        Permissions::Known(picks) => {
            let list: Vec<&str> = picks
                .iter()
                .map(|&i| KNOWN_PERMISSIONS[usize::from(i) % KNOWN_PERMISSIONS.len()])
                .collect();
            let valid = list.len() <= portcullis::strategy::MAX_ROLES_IN_TOKEN
                && list.iter().all(|p| !p.ends_with(".*") && p.contains(':'));
            (Some(json!(list)), valid)
        }
        Permissions::Strings(list) => {
            let valid = list.len() <= portcullis::strategy::MAX_ROLES_IN_TOKEN
                && list
                    .iter()
                    .all(|p| portcullis::rbac::Permission::parse(p).is_ok());
            (Some(json!(list)), valid)
        }
        Permissions::NotAList(n) => (Some(json!(n)), false),
    };
    put("permissions", permissions);
    if trusting {
        ok &= permissions_ok;
    }
    put(KEPT_CLAIM, spec.org.as_ref().map(|s| json!(s)));

    // The header and the signer.
    let (kid, alg, signer, key_ok): (Option<&str>, &str, Signer, bool) = match &spec.key {
        KeyChoice::Hs => (Some(HS_KID), "HS256", Signer::Hs256, true),
        KeyChoice::Ed => (Some(ED_KID), "EdDSA", Signer::Ed25519, true),
        KeyChoice::HsKidEdAlg => (Some(HS_KID), "EdDSA", Signer::Ed25519, false),
        KeyChoice::AlgorithmConfusion => {
            (Some(ED_KID), "HS256", Signer::Hs256WithEdPublicKey, false)
        }
        KeyChoice::WrongSignature => (Some(ED_KID), "EdDSA", Signer::Hs256, false),
        KeyChoice::Kid(kid) => (Some(kid.as_str()), "HS256", Signer::Hs256, kid == HS_KID),
        KeyChoice::NoKid => (None, "HS256", Signer::Hs256, false),
        KeyChoice::AlgNone => (Some(HS_KID), "none", Signer::Hs256, false),
    };
    ok &= key_ok;
    let mut header = Map::new();
    header.insert("alg".into(), json!(alg));
    if let Some(kid) = kid {
        header.insert("kid".into(), json!(kid));
    }
    if let Some(typ) = &spec.typ {
        header.insert("typ".into(), json!(typ)); // no `typ` rule is configured: never matters
    }
    if spec.crit {
        header.insert("crit".into(), json!(["exp"]));
        ok = false;
    }

    let header = serde_json::to_vec(&header).expect("a JSON map serialises");
    let claims = serde_json::to_vec(&claims).expect("a JSON map serialises");
    let token = match spec.corrupt_signature {
        Some((at, flip)) if flip != 0 => {
            ok = false;
            let signing_input = format!(
                "{}.{}",
                portcullis_fuzz::b64(&header),
                portcullis_fuzz::b64(&claims)
            );
            let mut signature = sign(signing_input.as_bytes(), signer);
            let at = usize::from(at) % signature.len();
            signature[at] ^= flip;
            format!("{signing_input}.{}", portcullis_fuzz::b64(&signature))
        }
        _ => signed_token(&header, &claims, signer),
    };
    ok &= token.len() <= DEFAULT_MAX_TOKEN_BYTES;

    // The transport.
    let b = bearer();
    let query = format!("x=1&{QUERY_PARAM}={token}");
    let (strategy, which, header_value, query): (_, _, Option<String>, Option<&str>) =
        match spec.placement {
            Placement::Header(scheme, spaces) => {
                let scheme = ["Bearer", "bearer", "BEARER", "bEaReR"][usize::from(scheme % 4)];
                let spaces = " ".repeat(usize::from(spaces % 4));
                let value = Some(format!("{scheme} {spaces}{token}"));
                if trusting {
                    (&b.trusting, Which::Trusting, value, None)
                } else {
                    (&b.header_only, Which::Keeping, value, None)
                }
            }
            Placement::TrailingSpace => {
                ok = false;
                let value = Some(format!("Bearer {token} "));
                (&b.header_only, Which::Keeping, value, None)
            }
            Placement::Query(only) => {
                let query = if only { &query[4..] } else { query.as_str() };
                (&b.with_query, Which::Keeping, None, Some(query))
            }
            Placement::QueryRefused => {
                ok = false;
                (&b.header_only, Which::Keeping, None, Some(query.as_str()))
            }
            Placement::Both => {
                ok = false;
                let value = Some(format!("Bearer {token}"));
                (&b.with_query, Which::Keeping, value, Some(query.as_str()))
            }
        };
    let headers: Vec<_> = header_value
        .iter()
        .map(|v| (AUTHORIZATION, v.as_bytes()))
        .collect();
    let request = parts(&headers, query.map(str::as_bytes))
        .expect("a base64url token always makes a valid header value and URI");

    let outcome = run(strategy, &request);
    let authenticated = matches!(outcome, Outcome::Authenticated(_));
    assert_eq!(
        authenticated,
        ok,
        "expected {}, got {} for {spec:?}",
        if ok { "authenticated" } else { "rejected" },
        outcome_name(&outcome)
    );
    match outcome {
        Outcome::Authenticated(ctx) => assert_valid_authenticated(&token, &ctx, which, now),
        Outcome::NotMine => panic!("a bearer credential answered NotMine"),
        Outcome::Rejected(_) => {}
    }

    // A signature that verified (and may now be remembered by a token cache) must not carry
    // other claims.
    if authenticated && spec.splice {
        let signature = token.rsplit_once('.').map_or("", |(_, s)| s);
        let mut forged: Map<String, Value> =
            serde_json::from_slice(&claims).expect("our own claims parse");
        forged.insert("roles".into(), json!(["admin"]));
        let forged = serde_json::to_vec(&forged).expect("a JSON map serialises");
        let forged = format!(
            "{}.{}.{signature}",
            portcullis_fuzz::b64(&header),
            portcullis_fuzz::b64(&forged)
        );
        let value = format!("Bearer {forged}");
        let request = parts(&[(AUTHORIZATION, value.as_bytes())], None)
            .expect("a base64url token always makes a valid header value");
        for strategy in [&b.header_only, &b.trusting] {
            let outcome = run(strategy, &request);
            assert!(
                matches!(outcome, Outcome::Rejected(_)),
                "a signature spliced onto other claims answered {}",
                outcome_name(&outcome)
            );
        }
    }
}
