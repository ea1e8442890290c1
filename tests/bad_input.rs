//! The bad-input suite: one table of hostile or malformed requests against one application that
//! runs every strategy (bearer JWT, API keys, sessions, OpenID login, password login). Each row
//! asserts the status, the challenge header where one is due, and that the store did not change.
//! Every row runs in a plain `cargo test`; the OpenID rows (and the login they need) only with the
//! `oauth2` feature.
//!
//! Anchors: RFC 8725 (JWT best practice), RFC 6750 (bearer transport and challenges), RFC 9700
//! (OAuth security BCP), RFC 7636 (PKCE), OIDC Core 3.1.3.7, OWASP ASVS 5.0 V6–V10.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use common::*;
use http::{Request, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey};
use portcullis::AuthGateway;
use portcullis::api_key::{ApiKeyStrategy, ApiKeys, NewApiKey};
use portcullis::identity::{IDENTITY_PUBLIC_PATHS, IdentityConfig};
#[cfg(feature = "oauth2")]
use portcullis::oauth::{OAUTH_PUBLIC_PREFIX, OAuthLogin, OidcProvider};
use portcullis::rbac::RolePolicy;
use portcullis::session::{SessionConfig, Sessions};
use portcullis::store::{ApiKeyRecord, ApiKeyStore, MemoryStore};
use portcullis::strategy::BearerStrategy;
use serde_json::{Value, json};

/// What a row expects.
struct Row {
    group: &'static str,
    name: &'static str,
    request: Request<Body>,
    status: StatusCode,
    /// `Some` when a `WWW-Authenticate` header must be exactly this; `None` when it must be absent.
    challenge: Option<&'static str>,
    /// Only a failed password check may change the store (its failure counters).
    may_count_a_failure: bool,
}

const PLAIN: Option<&str> = Some(r#"Bearer realm="portcullis""#);
const INVALID_TOKEN: Option<&str> = Some(r#"Bearer realm="portcullis", error="invalid_token""#);
const INVALID_REQUEST: Option<&str> = Some(r#"Bearer realm="portcullis", error="invalid_request""#);

fn get(path: &str) -> http::request::Builder {
    Request::get(path)
}

fn bearer(path: &str, token: &str) -> Request<Body> {
    get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

fn with_claims(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut c = claims("mallory", &["admin"]);
    edit(c.as_object_mut().unwrap());
    forge(
        json!({"alg": "ES256", "kid": "es"}),
        c,
        &encoding_key(Algorithm::ES256),
        Algorithm::ES256,
    )
}

fn json_post(path: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[allow(clippy::too_many_lines)]
/// A row that must leave the store as it was.
fn row(
    group: &'static str,
    name: &'static str,
    request: Request<Body>,
    status: StatusCode,
    challenge: Option<&'static str>,
) -> Row {
    Row {
        group,
        name,
        request,
        status,
        challenge,
        may_count_a_failure: false,
    }
}

fn rows(api_key: &str, revoked_key: &str, expired_key: &str, viewer_key: &str) -> Vec<Row> {
    let good = token("es", &["viewer"]);
    let viewer = good.clone();
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, sig) = (
        parts[0].to_owned(),
        parts[1].to_owned(),
        parts[2].to_owned(),
    );
    let now = now();
    let es = encoding_key(Algorithm::ES256);
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
    let admin_claims = || claims("mallory", &["admin"]);
    let mut rows = vec![
        // Bearer transport (RFC 6750 §2, §3.1).
        row(
            "transport",
            "no credentials",
            get("/books").body(Body::empty()).unwrap(),
            StatusCode::UNAUTHORIZED,
            PLAIN,
        ),
        row(
            "transport",
            "bare scheme",
            get("/books")
                .header("authorization", "Bearer")
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
        ),
        row(
            "transport",
            "empty token",
            get("/books")
                .header("authorization", "Bearer ")
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
        ),
        row(
            "transport",
            "two Authorization headers",
            get("/books")
                .header("authorization", format!("Bearer {good}"))
                .header("authorization", format!("Bearer {good}"))
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
        ),
        row(
            "transport",
            "header and query",
            get(&format!("/books?access_token={good}"))
                .header("authorization", format!("Bearer {good}"))
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
        ),
        row(
            "transport",
            "query token not enabled",
            get(&format!("/books?access_token={good}"))
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
        ),
        row(
            "transport",
            "another scheme",
            get("/books")
                .header("authorization", "Basic bWFsbG9yeTpwdw==")
                .body(Body::empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            PLAIN,
        ),
        row(
            "transport",
            "non-UTF-8 header",
            get("/books")
                .header(
                    "authorization",
                    http::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
                )
                .body(Body::empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "transport",
            "64 KiB header",
            bearer("/books", &"e".repeat(64 * 1024)),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        // Token structure (RFC 8725 §3.1, §3.11).
        row(
            "structure",
            "two segments",
            bearer("/books", &format!("{h}.{p}")),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "structure",
            "four segments",
            bearer("/books", &format!("{h}.{p}.{sig}.{sig}")),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "structure",
            "stripped signature",
            bearer("/books", &format!("{h}.{p}.")),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "structure",
            "empty payload",
            bearer("/books", &format!("{h}..{sig}")),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "structure",
            "header is not JSON",
            bearer(
                "/books",
                &format!("{}.{p}.{sig}", b64(&json!("not an object"))),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "structure",
            "padding characters",
            bearer("/books", &format!("{h}=.{p}.{sig}")),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "structure",
            "payload swapped in",
            bearer("/books", &format!("{h}.{}.{sig}", b64(&admin_claims()))),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        // Algorithms (RFC 8725 §2.1, §3.1).
        row(
            "algorithms",
            "alg none",
            bearer(
                "/books",
                &format!(
                    "{}.{}.",
                    b64(&json!({"alg": "none", "kid": "es"})),
                    b64(&admin_claims())
                ),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "algorithms",
            "alg None with a signature",
            bearer(
                "/books",
                &format!(
                    "{}.{}.{sig}",
                    b64(&json!({"alg": "None", "kid": "es"})),
                    b64(&admin_claims())
                ),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "algorithms",
            "HS256 keyed with the RSA public key",
            bearer(
                "/books",
                &forge(
                    json!({"alg": "HS256", "kid": "rs"}),
                    admin_claims(),
                    &EncodingKey::from_secret(RSA_PUBLIC),
                    Algorithm::HS256,
                ),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "algorithms",
            "RS512 against an RS256 key",
            bearer(
                "/books",
                &forge(
                    json!({"alg": "RS512", "kid": "rs"}),
                    admin_claims(),
                    &rsa,
                    Algorithm::RS512,
                ),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "algorithms",
            "PS256 against an RS256 key",
            bearer(
                "/books",
                &forge(
                    json!({"alg": "PS256", "kid": "rs"}),
                    admin_claims(),
                    &rsa,
                    Algorithm::PS256,
                ),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "algorithms",
            "ES256 token naming an EdDSA key",
            bearer(
                "/books",
                &forge(
                    json!({"alg": "ES256", "kid": "ed"}),
                    admin_claims(),
                    &es,
                    Algorithm::ES256,
                ),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "algorithms",
            "embedded jwk header ignored",
            bearer(
                "/books",
                &forge(
                    json!({"alg": "ES256", "kid": "nope", "jwk": {"kty": "EC"}}),
                    admin_claims(),
                    &es,
                    Algorithm::ES256,
                ),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        // Key selection (RFC 8725 §3.10).
        row(
            "keys",
            "unknown kid",
            bearer(
                "/books",
                &forge(
                    json!({"alg": "ES256", "kid": "unknown"}),
                    admin_claims(),
                    &es,
                    Algorithm::ES256,
                ),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "keys",
            "missing kid",
            bearer(
                "/books",
                &forge(
                    json!({"alg": "ES256"}),
                    admin_claims(),
                    &es,
                    Algorithm::ES256,
                ),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "keys",
            "kid as a path",
            bearer(
                "/books",
                &forge(
                    json!({"alg": "ES256", "kid": "../../etc/passwd"}),
                    admin_claims(),
                    &es,
                    Algorithm::ES256,
                ),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "keys",
            "kid as SQL",
            bearer(
                "/books",
                &forge(
                    json!({"alg": "ES256", "kid": "x' OR '1'='1"}),
                    admin_claims(),
                    &es,
                    Algorithm::ES256,
                ),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "keys",
            "another key's signature",
            bearer(
                "/books",
                &forge(
                    json!({"alg": "RS256", "kid": "rs"}),
                    admin_claims(),
                    &EncodingKey::from_rsa_pem(RSA2_PRIVATE).unwrap(),
                    Algorithm::RS256,
                ),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        // Claims (RFC 8725 §3.8–3.9, RFC 7519 §4.1).
        row(
            "claims",
            "expired",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.insert("exp".into(), json!(now - 120));
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "not yet valid",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.insert("nbf".into(), json!(now + 120));
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "exp as a string",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.insert("exp".into(), json!((now + 600).to_string()));
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "exp missing",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.remove("exp");
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "exp u64::MAX (never expires)",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.insert("exp".into(), json!(u64::MAX));
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "exp past year 9999",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.insert("exp".into(), json!(253_402_300_800_u64));
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "exp fractional",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.insert("exp".into(), json!(now as f64 + 600.5));
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "nbf fractional",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.insert("nbf".into(), json!(now as f64 - 0.5));
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "iat fractional",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.insert("iat".into(), json!(now as f64 + 0.5));
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "iat as a string",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.insert("iat".into(), json!(now.to_string()));
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "wrong issuer",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.insert("iss".into(), json!("https://evil.test"));
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "issuer missing",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.remove("iss");
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "issuer as an array",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.insert("iss".into(), json!([ISSUER]));
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "wrong audience",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.insert("aud".into(), json!("other-api"));
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "audience missing",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.remove("aud");
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "subject missing",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.remove("sub");
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "roles not a list",
            bearer(
                "/books",
                &with_claims(|c| {
                    c.insert("roles".into(), json!("admin"));
                }),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "claims",
            "crit header",
            bearer(
                "/books",
                &forge(
                    json!({"alg": "ES256", "kid": "es", "crit": ["exp"]}),
                    claims("a", &["viewer"]),
                    &es,
                    Algorithm::ES256,
                ),
            ),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        // Authorization: path variants and spoofed headers never change the decision.
        row(
            "authorization",
            "viewer cannot delete",
            Request::delete("/books/1")
                .header("authorization", format!("Bearer {viewer}"))
                .body(Body::empty())
                .unwrap(),
            StatusCode::FORBIDDEN,
            None,
        ),
        row(
            "authorization",
            "method override header",
            Request::delete("/books/1")
                .header("authorization", format!("Bearer {viewer}"))
                .header("x-http-method-override", "GET")
                .body(Body::empty())
                .unwrap(),
            StatusCode::FORBIDDEN,
            None,
        ),
        row(
            "authorization",
            "forwarded headers",
            Request::delete("/books/1")
                .header("authorization", format!("Bearer {viewer}"))
                .header("x-forwarded-for", "127.0.0.1")
                .header("x-forwarded-host", "admin.internal")
                .header("x-original-url", "/health")
                .body(Body::empty())
                .unwrap(),
            StatusCode::FORBIDDEN,
            None,
        ),
        row(
            "authorization",
            "double slash is not the public path",
            get("//health").body(Body::empty()).unwrap(),
            StatusCode::UNAUTHORIZED,
            PLAIN,
        ),
        row(
            "authorization",
            "trailing slash is not the public path",
            get("/health/").body(Body::empty()).unwrap(),
            StatusCode::UNAUTHORIZED,
            PLAIN,
        ),
        row(
            "authorization",
            "encoded public path",
            get("/%68ealth").body(Body::empty()).unwrap(),
            StatusCode::UNAUTHORIZED,
            PLAIN,
        ),
        row(
            "authorization",
            "dot segments",
            get("/health/../admin/stats").body(Body::empty()).unwrap(),
            StatusCode::UNAUTHORIZED,
            PLAIN,
        ),
        row(
            "authorization",
            "encoded dot segments",
            get("/health/%2e%2e/admin/stats")
                .body(Body::empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            PLAIN,
        ),
        row(
            "authorization",
            "double slash to a guarded route",
            Request::delete("//books/1")
                .header("authorization", format!("Bearer {viewer}"))
                .body(Body::empty())
                .unwrap(),
            StatusCode::NOT_FOUND,
            None,
        ),
        // API keys.
        row(
            "api keys",
            "unknown key",
            get("/books")
                .header(
                    "x-api-key",
                    format!("pk_live_0123456789abcdef_{}", "A".repeat(43)),
                )
                .body(Body::empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "api keys",
            "revoked key",
            get("/books")
                .header("x-api-key", revoked_key)
                .body(Body::empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "api keys",
            "expired key",
            get("/books")
                .header("x-api-key", expired_key)
                .body(Body::empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "api keys",
            "truncated key",
            get("/books")
                .header("x-api-key", &api_key[..api_key.len() - 1])
                .body(Body::empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "api keys",
            "trailing space",
            get("/books")
                .header("x-api-key", format!("{api_key} "))
                .body(Body::empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
        ),
        row(
            "api keys",
            "two key headers",
            get("/books")
                .header("x-api-key", api_key)
                .header("x-api-key", api_key)
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
        ),
        row(
            "api keys",
            "valid key without the permission",
            Request::delete("/books/1")
                .header("x-api-key", viewer_key)
                .body(Body::empty())
                .unwrap(),
            StatusCode::FORBIDDEN,
            None,
        ),
        // Password login (ASVS V6).
        row(
            "password",
            "not JSON",
            Request::post("/auth/login")
                .header("content-type", "text/plain")
                .body(Body::from("email=a"))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
        ),
        row(
            "password",
            "not an object",
            json_post("/auth/login", json!(["a", "b"])),
            StatusCode::BAD_REQUEST,
            None,
        ),
        row(
            "password",
            "password missing",
            json_post("/auth/login", json!({"email": "ed@example.com"})),
            StatusCode::BAD_REQUEST,
            None,
        ),
        row(
            "password",
            "password not a string",
            json_post(
                "/auth/login",
                json!({"email": "ed@example.com", "password": 12345678}),
            ),
            StatusCode::BAD_REQUEST,
            None,
        ),
        row(
            "password",
            "password over 1 KiB",
            json_post(
                "/auth/login",
                json!({"email": "ed@example.com", "password": "p".repeat(1025)}),
            ),
            StatusCode::BAD_REQUEST,
            None,
        ),
        row(
            "password",
            "body over 16 KiB",
            json_post(
                "/auth/login",
                json!({"email": "ed@example.com", "password": "p".repeat(20_000)}),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
        row(
            "password",
            "e-mail over 254 bytes",
            json_post(
                "/auth/login",
                json!({"email": format!("{}@example.com", "a".repeat(300)), "password": "whatever it is"}),
            ),
            StatusCode::BAD_REQUEST,
            None,
        ),
        row(
            "password",
            "register with a common password",
            json_post(
                "/auth/register",
                json!({"email": "new@example.com", "password": "password123"}),
            ),
            StatusCode::BAD_REQUEST,
            None,
        ),
        row(
            "password",
            "register an existing address differently cased",
            json_post(
                "/auth/register",
                json!({"email": "ED@EXAMPLE.COM", "password": "a fine long passphrase"}),
            ),
            StatusCode::CONFLICT,
            None,
        ),
        row(
            "password",
            "session login from another origin",
            Request::post("/auth/session")
                .header("content-type", "application/json")
                .header("origin", "https://evil.example")
                .body(Body::from(
                    json!({"email": "ed@example.com", "password": PASSWORD}).to_string(),
                ))
                .unwrap(),
            StatusCode::FORBIDDEN,
            None,
        ),
    ];
    for (name, body) in [
        (
            "unknown user",
            json!({"email": "nobody@example.com", "password": "whatever it is"}),
        ),
        (
            "wrong password",
            json!({"email": "ed@example.com", "password": "not the password"}),
        ),
    ] {
        rows.push(Row {
            group: "password",
            name,
            request: json_post("/auth/login", body),
            status: StatusCode::UNAUTHORIZED,
            challenge: None,
            may_count_a_failure: true,
        });
    }
    #[cfg(feature = "oauth2")]
    rows.extend(oauth_rows());
    rows
}

/// The OpenID login rows (RFC 9700 §4.7, RFC 7636, OIDC Core 3.1.2.7): only with the `oauth2`
/// feature, which the login routes need.
#[cfg(feature = "oauth2")]
fn oauth_rows() -> Vec<Row> {
    vec![
        row(
            "oauth",
            "callback without a flow cookie",
            get("/auth/oauth/corp/callback?code=c&state=s")
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            None,
        ),
        row(
            "oauth",
            "forged flow cookie",
            get("/auth/oauth/corp/callback?code=c&state=s")
                .header("cookie", "portcullis_oauth=eyJwIjoiY29ycCJ9.AAAA")
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            None,
        ),
        row(
            "oauth",
            "error without a flow",
            get("/auth/oauth/corp/callback?error=access_denied&state=s")
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            None,
        ),
        row(
            "oauth",
            "unknown provider",
            get("/auth/oauth/nope/callback?code=c&state=s")
                .body(Body::empty())
                .unwrap(),
            StatusCode::NOT_FOUND,
            None,
        ),
        row(
            "oauth",
            "absolute return_to",
            get("/auth/oauth/corp/authorize?return_to=https://evil.example/")
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            None,
        ),
        row(
            "oauth",
            "scheme-relative return_to",
            get("/auth/oauth/corp/authorize?return_to=//evil.example/")
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            None,
        ),
    ]
}

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn every_bad_input_is_refused_and_changes_nothing() {
    let store = MemoryStore::new();
    let identity = fast_identity(store.clone(), IdentityConfig::default()).await;
    identity
        .register_with_roles("ed@example.com", PASSWORD, &["editor".to_owned()])
        .await
        .unwrap();
    let keys = ApiKeys::new(store.clone());
    let make = |name: &str, roles: &[&str]| NewApiKey {
        name: name.into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        ..NewApiKey::default()
    };
    let api_key = keys
        .create("u-ed", make("ok", &["editor"]))
        .await
        .unwrap()
        .key;
    let viewer_key = keys
        .create("u-vi", make("viewer", &["viewer"]))
        .await
        .unwrap()
        .key;
    let revoked = keys
        .create("u-ed", make("revoked", &["admin"]))
        .await
        .unwrap();
    keys.revoke(&revoked.view.id, None).await.unwrap();
    let expiring = keys
        .create("u-ed", make("expired", &["admin"]))
        .await
        .unwrap();
    let mut record: ApiKeyRecord = store.api_key(&expiring.view.id).await.unwrap().unwrap();
    record.id = "0000000000000001".into();
    record.expires_at = Some(record.created_at - 1);
    let expired_key = format!("pk_live_0000000000000001_{}", &expiring.key[25..]);
    record.digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, expired_key.as_bytes())
        .as_ref()
        .try_into()
        .unwrap();
    store.insert_api_key(&record, 100).await.unwrap();

    let sessions = Sessions::new(
        identity.clone(),
        SessionConfig {
            secure: false,
            allowed_origins: vec!["https://app.example.com".into()],
            ..SessionConfig::default()
        },
    );
    let gateway = AuthGateway::new()
        .strategy(BearerStrategy::new(ring(), rules()))
        .strategy(ApiKeyStrategy::new(keys.clone()))
        .strategy(sessions.strategy())
        .roles(RolePolicy::default())
        .public_path("/health")
        .public_paths(IDENTITY_PUBLIC_PATHS)
        .public_path("/auth/session");
    #[cfg(feature = "oauth2")]
    let gateway = gateway.public_prefix(OAUTH_PUBLIC_PREFIX);
    let gateway = gateway.build().unwrap();
    let app: Router = routes()
        .merge(identity.router())
        .merge(keys.router())
        .merge(sessions.router());
    #[cfg(feature = "oauth2")]
    let app = {
        let provider = OidcProvider::new(
            "corp",
            "http://127.0.0.1:9/unreachable",
            "client",
            None,
            "http://127.0.0.1/auth/oauth/corp/callback",
        );
        let login =
            OAuthLogin::new(identity.clone(), sessions.clone(), vec![provider.into()]).unwrap();
        app.merge(login.router())
    };
    let app: Router = app.layer(gateway);
    let app = Arc::new(app);

    // The positive controls first: the same app does let good requests through.
    assert_eq!(
        send(&app, bearer("/books", &token("es", &["viewer"])))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        send(
            &app,
            get("/books")
                .header("x-api-key", &api_key)
                .body(Body::empty())
                .unwrap()
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, get("/health").body(Body::empty()).unwrap())
            .await
            .status,
        StatusCode::OK
    );

    let rows = rows(&api_key, &revoked.key, &expired_key, &viewer_key);
    // Six of them are the OpenID rows.
    let expected = if cfg!(feature = "oauth2") { 60 } else { 54 };
    assert!(rows.len() >= expected, "{} rows", rows.len());
    let mut failures = Vec::new();
    for row in rows {
        let before = store.fingerprint();
        let reply = send(&app, row.request).await;
        let challenge = reply.header("www-authenticate").map(str::to_owned);
        let mut problems = Vec::new();
        if reply.status != row.status {
            problems.push(format!("status {} (want {})", reply.status, row.status));
        }
        if challenge.as_deref() != row.challenge {
            problems.push(format!(
                "challenge {challenge:?} (want {:?})",
                row.challenge
            ));
        }
        if !row.may_count_a_failure && store.fingerprint() != before {
            problems.push("the store changed".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "[{}] {}: {}",
                row.group,
                row.name,
                problems.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
