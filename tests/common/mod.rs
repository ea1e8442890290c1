//! Shared test fixtures: keys, a token forge that can write any header, the test app, and a
//! helper that sends one request through the real router.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::{delete, get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey};
use portcullis::rbac::RolePolicy;
use portcullis::strategy::BearerStrategy;
use portcullis::token::{Key, KeyRing, TokenRules};
use portcullis::{
    AuthError, AuthGateway, DefaultRenderer, ErrorRenderer, RequireAction, RequirePermission,
    UserContext, action, permission, require_permission,
};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "catalog-api";
pub const HS_SECRET: &[u8] = b"an HMAC secret of at least 32 bytes, test only";

pub const RSA_PRIVATE: &[u8] = include_bytes!("../keys/rsa_private.pem");
pub const RSA_PUBLIC: &[u8] = include_bytes!("../keys/rsa_public.pem");
pub const RSA2_PRIVATE: &[u8] = include_bytes!("../keys/rsa2_private.pem");
pub const EC_PRIVATE: &[u8] = include_bytes!("../keys/ec_private.pem");
pub const EC_PUBLIC: &[u8] = include_bytes!("../keys/ec_public.pem");
pub const ED_PRIVATE: &[u8] = include_bytes!("../keys/ed_private.pem");
pub const ED_PUBLIC: &[u8] = include_bytes!("../keys/ed_public.pem");

permission!(pub ReadCatalog = "read:Catalog");
permission!(pub WriteReview = "write:Catalog.Review");
permission!(pub DeleteCatalog = "delete:Catalog");
action!(pub ExportReports = "reports:export");

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The verifying ring of the test app: one key per algorithm family, each pinned.
pub fn ring() -> KeyRing {
    let ring = KeyRing::new();
    ring.insert(Key::hmac("hs", Algorithm::HS256, HS_SECRET).unwrap());
    ring.insert(Key::verifying_pem("rs", Algorithm::RS256, RSA_PUBLIC).unwrap());
    ring.insert(Key::verifying_pem("ps", Algorithm::PS256, RSA_PUBLIC).unwrap());
    ring.insert(Key::verifying_pem("es", Algorithm::ES256, EC_PUBLIC).unwrap());
    ring.insert(Key::verifying_pem("ed", Algorithm::EdDSA, ED_PUBLIC).unwrap());
    ring
}

pub fn rules() -> TokenRules {
    TokenRules::new().issuer(ISSUER).audience(AUDIENCE)
}

/// Signing material for the forge, by name.
pub fn encoding_key(alg: Algorithm) -> EncodingKey {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            EncodingKey::from_secret(HS_SECRET)
        }
        Algorithm::ES256 => EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(ED_PRIVATE).unwrap(),
        _ => EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    }
}

pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Writes a token with exactly this header and these claims, signed with `key` under `alg`.
pub fn forge(header: Value, claims: Value, key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!("{}.{}", b64(&header), b64(&claims));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}

/// Good claims for `sub` with `roles`.
pub fn claims(sub: &str, roles: &[&str]) -> Value {
    let now = now();
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "nbf": now, "exp": now + 600,
        "jti": format!("jti-{sub}"), "roles": roles,
    })
}

/// A valid token for `roles` signed by the key `kid` (one of the ring's).
pub fn token(kid: &str, roles: &[&str]) -> String {
    let alg = alg_of(kid);
    forge(
        json!({"alg": alg_name(alg), "typ": "JWT", "kid": kid}),
        claims("alice", roles),
        &encoding_key(alg),
        alg,
    )
}

pub fn alg_of(kid: &str) -> Algorithm {
    match kid {
        "hs" => Algorithm::HS256,
        "rs" => Algorithm::RS256,
        "ps" => Algorithm::PS256,
        "es" => Algorithm::ES256,
        "ed" => Algorithm::EdDSA,
        other => panic!("no test key {other}"),
    }
}

pub use portcullis::token::algorithm_name as alg_name;

/// The default renderer plus an `x-test-reason` header naming the internal reason, so tests can
/// assert that the intended rule (not some other one) refused a request. Test-only: the default
/// renderer never reveals it.
pub struct ReasonRenderer;

impl ErrorRenderer for ReasonRenderer {
    fn render(&self, error: &AuthError, realm: &str) -> Response {
        let mut response = DefaultRenderer.render(error, realm);
        let reason = match error {
            AuthError::InvalidToken(r) => r.as_str().to_owned(),
            other => format!("{other:?}")
                .split('(')
                .next()
                .unwrap_or("")
                .to_owned(),
        };
        response
            .headers_mut()
            .insert("x-test-reason", reason.parse().unwrap());
        response
    }
}

async fn me(user: UserContext) -> axum::Json<UserContext> {
    axum::Json(user)
}

async fn maybe(user: Option<UserContext>) -> String {
    user.map(|u| u.subject().to_owned())
        .unwrap_or_else(|| "anonymous".into())
}

async fn books(_: RequirePermission<ReadCatalog>) -> &'static str {
    "books"
}

async fn review(RequirePermission(user, ..): RequirePermission<WriteReview>) -> String {
    format!("review by {}", user.subject())
}

async fn remove(_: RequirePermission<DeleteCatalog>) -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn export(_: RequireAction<ExportReports>) -> &'static str {
    "csv"
}

/// The routes of the test app, without any gateway.
pub fn routes() -> Router {
    let admin = Router::new()
        .route("/admin/stats", get(|| async { "stats" }))
        .route_layer(require_permission("read:Admin").unwrap());
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route("/books", get(books))
        .route("/books/{id}/reviews", post(review))
        .route("/books/{id}", delete(remove))
        .route("/reports/export", get(export))
        .merge(admin)
}

/// The standard gateway of the tests: bearer over [`ring`], [`rules`], the given roles.
pub fn gateway(policy: RolePolicy) -> AuthGateway {
    AuthGateway::new()
        .strategy(BearerStrategy::new(ring(), rules()))
        .roles(policy)
        .public_path("/health")
        .realm("test")
        .error_renderer(ReasonRenderer)
}

pub fn app() -> Router {
    routes().layer(gateway(RolePolicy::default()).build().unwrap())
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn reason(&self) -> Option<&str> {
        self.header("x-test-reason")
    }
}

pub async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

pub fn get_with(path: &str, bearer: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(token) = bearer {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Body::empty()).unwrap()
}

pub async fn get_as(app: &Router, path: &str, bearer: Option<&str>) -> Reply {
    send(app, get_with(path, bearer)).await
}

/// Everything `tracing` prints, kept for assertions.
#[derive(Clone, Default)]
pub struct Captured(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Installs a capture as the process-wide subscriber, once per test binary, so every test
    /// logs into it whatever thread it runs on (a thread-local subscriber misses events whose
    /// callsites another thread registered first).
    pub fn global() -> &'static Captured {
        static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
        LOGS.get_or_init(|| {
            let captured = Captured::default();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(captured.clone())
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber");
            captured
        })
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// argon2id parameters that keep the suites quick; the OWASP default has its own test.
pub const FAST_HASH: portcullis::password::HashParams = portcullis::password::HashParams {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

/// An identity over `store` opened the real way (keys from the store, generated on first use),
/// with a fast hasher swapped in.
pub async fn fast_identity<S: portcullis::store::Store>(
    store: S,
    config: portcullis::identity::IdentityConfig,
) -> std::sync::Arc<portcullis::identity::Identity<S>> {
    use portcullis::identity::Identity;
    let opened = Identity::open(store.clone(), config.clone()).await.unwrap();
    let hasher = portcullis::password::PasswordHasher::new(FAST_HASH, 2).unwrap();
    std::sync::Arc::new(
        Identity::with_ring(store, config, opened.key_ring().clone(), hasher).unwrap(),
    )
}

/// Runs `test` on a PostgreSQL store in a schema of its own, dropped afterwards even when the test
/// panics. Without `DATABASE_URL` it says it skipped; with it, an unreachable server fails.
#[cfg(feature = "postgres")]
pub async fn in_fresh_schema<F, Fut>(prefix: &str, test: F)
where
    F: FnOnce(portcullis::store::postgres::PostgresStore) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("skipped: DATABASE_URL is not set");
        return;
    };
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).unwrap();
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let schema = format!("{prefix}_{}_{suffix}", std::process::id());
    let store = portcullis::store::postgres::PostgresStore::connect_in_schema(&url, &schema)
        .await
        .unwrap_or_else(|e| panic!("DATABASE_URL is set but the server cannot be used: {e}"));
    let outcome = tokio::spawn(test(store.clone())).await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(store.pool())
        .await
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
