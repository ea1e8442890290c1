//! A fixed number of requests through the router in process, for counting instructions: the
//! machine is shared and its timings wobble, an instruction count does not.
//!
//! ```text
//! cargo build --release --example request_cost
//! for v in bare bearer api_key; do for n in 1 10001; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/request_cost $v $n 2>&1 | grep refs
//! done; done
//! ```
//!
//! (instructions at 10,001 requests − at 1) / 10,000 = instructions per request. Every variant
//! gets the same request, carrying both an EdDSA bearer token and an API key; bearer and API key
//! are answered from their caches after the first request, as in a real service. `identity` is
//! the quickstart's bearer path: the built-in identity's access token, with its revocation
//! checks (the token, its session, its owner's cutoff), on a memory store. `bearer_tenant` is
//! `bearer_around` on a tenant's route (`/orgs/{org}/books`, the tenant from the path, checked
//! against the token's). `bearer_tenant_store` is `bearer_tenant_typed` answered by a
//! [`Tenancy`](portcullis::tenant::Tenancy) on a memory store: the token is the user's own (no
//! tenant), and a role assigned to them in `acme` gives `read:Catalog`, from the engine's cached
//! answer after the first request. `bearer_tenant_store_static` is the same engine asked by a token
//! of `acme` whose own roles allow (answered before any cache). `bearer_audit` is `bearer` with
//! an audit trail (HMAC-SHA256) whose sink keeps nothing, `bearer_audit_sqlite` the same trail
//! appending to a SQLite file: the count then holds the whole record's life (made, queued,
//! sealed, appended), as the trail is flushed before the program ends. `bearer_issuers` is
//! `bearer` routed through [`BearerIssuers`] with a second issuer before it (the token's `iss`
//! read before the cache is asked).

#[path = "quickstart/audit.rs"]
#[allow(dead_code)] // only its discarding sink is used here
mod quickstart_audit;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use portcullis::api_key::{ApiKeyStrategy, ApiKeys, NewApiKey};
use portcullis::audit::{AuditTrail, MemorySink, TrailConfig};
use portcullis::authz::{ScopeLayer, ScopeRule};
use portcullis::identity::{Identity, IdentityConfig};
use portcullis::password::{HashParams, PasswordHasher};
use portcullis::rbac::Permission;
use portcullis::store::sqlite::SqliteStore;
use portcullis::store::{Grant, MemoryStore, SubjectKind};
use portcullis::strategy::{BearerIssuers, BearerStrategy, Strategy};
use portcullis::tenant::{NewAssignment, NewRole, Tenancy};
use portcullis::token::{Key, KeyRing, TokenClaims, TokenIssuer, TokenRules};
use portcullis::{AuthGateway, RequirePermission, permission};
use tower::ServiceExt;
use tower_layer::Layer;

permission!(ReadCatalog = "read:Catalog");
portcullis::scope!(InOrg = ScopeRule::tenant_from_path("org"));

async fn bare() -> &'static str {
    "ok"
}

async fn guarded(_: RequirePermission<ReadCatalog>) -> &'static str {
    "ok"
}

async fn guarded_in_org(_: RequirePermission<ReadCatalog, InOrg>) -> &'static str {
    "ok"
}

fn behind(strategy: impl Strategy) -> Result<Router, portcullis::GatewayError> {
    let gateway = AuthGateway::new().strategy(strategy).build()?;
    Ok(Router::new().route("/books", get(guarded)).layer(gateway))
}

/// Sends `requests` requests to `app`, each answered with a success.
fn drive<S>(
    rt: &tokio::runtime::Runtime,
    app: S,
    path: &str,
    requests: usize,
    api_key: &str,
    authorization: &str,
) -> Result<(), Box<dyn std::error::Error>>
where
    S: tower::Service<Request<Body>, Response = axum::response::Response> + Clone,
    S::Error: std::error::Error + 'static,
{
    for _ in 0..requests {
        let request = Request::get(path)
            .header("x-api-key", api_key)
            .header("authorization", authorization)
            .body(Body::empty())?;
        let response = rt.block_on(app.clone().oneshot(request))?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()).into());
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: request_cost \
        <bare|bearer|api_key|identity|bearer_around|bare_tenant|bearer_tenant|bearer_tenant_typed|\
        bearer_tenant_store|bearer_tenant_store_static|bearer_audit|bearer_audit_sqlite> \
        <requests>";
    let variant = args.next().ok_or(usage)?;
    let requests: usize = args.next().ok_or(usage)?.parse()?;
    // Timers on: the identity's password hashing waits for a slot with a deadline.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;

    // A fixed key rather than a generated one: generating seeds aws-lc's jitter entropy, whose
    // instruction count varies from run to run and would not cancel out.
    let ring = KeyRing::single(Key::signing_pem(
        "k",
        portcullis::token::Algorithm::EdDSA,
        include_bytes!("../tests/keys/ed_private.pem"),
        include_bytes!("../tests/keys/ed_public.pem"),
    )?);
    let mut token = TokenIssuer::new(ring.clone())
        .issuer("bench")
        .audience("bench")
        .issue(&TokenClaims::new("load").roles(["viewer"]))?;
    let keys = ApiKeys::new(MemoryStore::new());
    let new_key = NewApiKey {
        name: "load".into(),
        roles: vec!["viewer".into()],
        ..NewApiKey::default()
    };
    let api_key = rt.block_on(keys.create("load", new_key))?.key;
    if variant == "bearer_around" {
        // The gateway around the whole router rather than layered onto its routes.
        let gateway = AuthGateway::new()
            .strategy(BearerStrategy::new(
                ring,
                TokenRules::new().issuer("bench").audience("bench"),
            ))
            .build()?;
        let app = gateway.layer(Router::new().route("/books", get(guarded)));
        return drive(
            &rt,
            app,
            "/books",
            requests,
            &api_key,
            &format!("Bearer {token}"),
        );
    }
    if variant == "bare_tenant" {
        // The baseline of `bearer_tenant`: the same route, with path parameters, no gateway.
        let app = Router::new().route("/orgs/{org}/books", get(bare));
        return drive(&rt, app, "/orgs/acme/books", requests, &api_key, "none");
    }
    if variant == "bearer_tenant" || variant == "bearer_tenant_typed" {
        // The same, on a tenant's route: the tenant from the path, checked against the token's.
        let token = TokenIssuer::new(ring.clone())
            .issuer("bench")
            .audience("bench")
            .issue(&TokenClaims::new("load").roles(["viewer"]).tenant("acme"))?;
        let gateway = AuthGateway::new()
            .strategy(BearerStrategy::new(
                ring,
                TokenRules::new().issuer("bench").audience("bench"),
            ))
            .build()?;
        // `bearer_tenant` says where on the router (a `ScopeLayer`), `bearer_tenant_typed` in
        // the extractor's type (`scope!`), with no layer.
        let app = if variant == "bearer_tenant" {
            gateway.layer(
                Router::new()
                    .route("/orgs/{org}/books", get(guarded))
                    .route_layer(ScopeLayer::new(ScopeRule::tenant_from_path("org"))),
            )
        } else {
            gateway.layer(Router::new().route("/orgs/{org}/books", get(guarded_in_org)))
        };
        let authorization = format!("Bearer {token}");
        return drive(
            &rt,
            app,
            "/orgs/acme/books",
            requests,
            &api_key,
            &authorization,
        );
    }
    if variant == "bearer_tenant_store" || variant == "bearer_tenant_store_static" {
        let tenancy = Tenancy::new(MemoryStore::new());
        let reader = rt.block_on(tenancy.create_role(
            "acme",
            NewRole::new("", "reader").grant(Grant::Permission(Permission::parse("read:Catalog")?)),
        ))?;
        rt.block_on(tenancy.assign(
            "acme",
            NewAssignment::new(&reader.id, SubjectKind::User, "load").granted_by("admin"),
        ))?;
        let claims = if variant == "bearer_tenant_store" {
            // The user's own login: what it holds in acme is what acme assigned it.
            TokenClaims::new("load")
        } else {
            TokenClaims::new("load").roles(["viewer"]).tenant("acme")
        };
        let token = TokenIssuer::new(ring.clone())
            .issuer("bench")
            .audience("bench")
            .issue(&claims)?;
        let gateway = AuthGateway::new()
            .strategy(BearerStrategy::new(
                ring,
                TokenRules::new().issuer("bench").audience("bench"),
            ))
            .authorizer(tenancy)
            .build()?;
        let app = gateway.layer(Router::new().route("/orgs/{org}/books", get(guarded_in_org)));
        let authorization = format!("Bearer {token}");
        return drive(
            &rt,
            app,
            "/orgs/acme/books",
            requests,
            &api_key,
            &authorization,
        );
    }
    if let Some(sink) = variant.strip_prefix("bearer_audit") {
        let trail = rt.block_on(start_trail(sink))?;
        let gateway = AuthGateway::new()
            .strategy(BearerStrategy::new(
                ring,
                TokenRules::new().issuer("bench").audience("bench"),
            ))
            .observe(trail.clone())
            .build()?;
        let app = Router::new().route("/books", get(guarded)).layer(gateway);
        let authorization = format!("Bearer {token}");
        drive(&rt, app, "/books", requests, &api_key, &authorization)?;
        rt.block_on(trail.flush());
        let stats = trail.stats();
        if stats.written != requests as u64 || stats.refused != 0 {
            return Err(format!("the trail wrote {stats:?} for {requests} requests").into());
        }
        return Ok(());
    }
    let app = match variant.as_str() {
        "bare" => Router::new().route("/books", get(bare)),
        "bearer" => behind(BearerStrategy::new(
            ring,
            TokenRules::new().issuer("bench").audience("bench"),
        ))?,
        "bearer_issuers" => behind(
            BearerIssuers::new()
                .issuer(BearerStrategy::new(
                    KeyRing::single(Key::generate_ed25519("partner")?),
                    TokenRules::new().issuer("partner").audience("bench"),
                ))?
                .issuer(BearerStrategy::new(
                    ring,
                    TokenRules::new().issuer("bench").audience("bench"),
                ))?,
        )?,
        "api_key" => behind(ApiKeyStrategy::new(keys))?,
        "identity" => {
            // A cheap hash: the count is of the request path, and logging in happens once.
            let hash = HashParams {
                memory_kib: 256,
                iterations: 1,
                parallelism: 1,
            };
            let identity = Identity::with_ring(
                MemoryStore::new(),
                IdentityConfig::default(),
                ring,
                PasswordHasher::new(hash, 1)?,
            )?;
            let password = "correct horse battery staple, load";
            rt.block_on(identity.register_with_roles(
                "load@example.com",
                password,
                &["viewer".to_owned()],
            ))?;
            token = rt
                .block_on(identity.login("load@example.com", password, None))?
                .access_token;
            behind(std::sync::Arc::new(identity).bearer())?
        }
        _ => return Err(usage.into()),
    };
    drive(
        &rt,
        app,
        "/books",
        requests,
        &api_key,
        &format!("Bearer {token}"),
    )
}

/// A trail sealing with a fixed HMAC key into `sink` (`""`: the quickstart's discarding sink;
/// `"_sqlite"`: a SQLite file in the temporary directory, made afresh).
async fn start_trail(sink: &str) -> Result<AuditTrail, Box<dyn std::error::Error>> {
    let ring = KeyRing::single(Key::hmac(
        "audit",
        portcullis::token::Algorithm::HS256,
        &[7u8; 32],
    )?);
    let config = TrailConfig::new("cost");
    Ok(match sink {
        "" => AuditTrail::start(ring, quickstart_audit::Discard, MemorySink::new(), config).await?,
        "_sqlite" => {
            let path = std::env::temp_dir().join(format!("request-cost-{}.db", std::process::id()));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            let store = SqliteStore::open(&path).await?;
            AuditTrail::start(ring, store, MemorySink::new(), config).await?
        }
        other => return Err(format!("no audit sink {other:?}").into()),
    })
}
