//! The servers behind `bench/gateway-load.sh`: the same handler on loopback bare, behind
//! portcullis with bearer JWT + RBAC + a `RequirePermission` extractor, behind portcullis with an
//! API key, and behind portcullis with bearer keys from a JWKS URL; plus the identity provider
//! that publishes that JWKS, counts its fetches (`GET /stats`) and publishes its next key on
//! `POST /rotate`. Prints the ports and credentials the load script needs.
//!
//! ```text
//! cargo run --release --features jwks --example gateway_bench
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use portcullis::api_key::{ApiKeyStrategy, ApiKeys, NewApiKey};
use portcullis::store::MemoryStore;
use portcullis::strategy::BearerStrategy;
use portcullis::token::{Key, KeyRing, RemoteJwks, TokenClaims, TokenIssuer, TokenRules};
use portcullis::{AuthGateway, RequirePermission, permission};
use serde_json::{Value, json};

permission!(ReadCatalog = "read:Catalog");

async fn bare() -> &'static str {
    "ok"
}

async fn guarded(_: RequirePermission<ReadCatalog>) -> &'static str {
    "ok"
}

async fn serve(app: Router) -> Result<u16, Box<dyn std::error::Error>> {
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            eprintln!("server stopped: {error}");
        }
    });
    Ok(port)
}

fn token_of(ring: &KeyRing) -> Result<String, portcullis::token::IssueError> {
    TokenIssuer::new(ring.clone())
        .issuer("bench")
        .audience("bench")
        .ttl(std::time::Duration::from_secs(3600))
        .issue(&TokenClaims::new("load").roles(["viewer"]))
}

/// An identity provider's key endpoint: the published JWKS, how often it was fetched, and a
/// rotation that publishes the next key beside the current one.
#[derive(Clone)]
struct Provider {
    published: Arc<Mutex<Value>>,
    fetches: Arc<AtomicU64>,
    next: Arc<Value>,
}

fn jwk_set(keys: &[&Key]) -> Value {
    json!({ "keys": keys.iter().filter_map(|k| k.jwk()).collect::<Vec<_>>() })
}

fn provider_routes(provider: Provider) -> Router {
    Router::new()
        .route(
            "/jwks",
            get(|State(p): State<Provider>| async move {
                p.fetches.fetch_add(1, Ordering::SeqCst);
                let document = p.published.lock().map(|d| d.clone()).unwrap_or(Value::Null);
                axum::Json(document)
            }),
        )
        .route(
            "/rotate",
            post(|State(p): State<Provider>| async move {
                if let Ok(mut document) = p.published.lock() {
                    *document = (*p.next).clone();
                }
                "rotated"
            }),
        )
        .route(
            "/stats",
            get(|State(p): State<Provider>| async move {
                format!("{}", p.fetches.load(Ordering::SeqCst))
            }),
        )
        .with_state(provider)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring = KeyRing::single(Key::generate_ed25519("bench")?);
    let token = token_of(&ring)?;

    // The provider signs with `current` now and will sign with `next` after the rotation.
    let (current, next) = (
        Key::generate_ed25519("2026-11")?,
        Key::generate_ed25519("2026-12")?,
    );
    let provider = Provider {
        published: Arc::new(Mutex::new(jwk_set(&[&current]))),
        fetches: Arc::new(AtomicU64::new(0)),
        next: Arc::new(jwk_set(&[&current, &next])),
    };
    let (old_token, new_token) = (
        token_of(&KeyRing::single(current))?,
        token_of(&KeyRing::single(next))?,
    );
    let provider_port = serve(provider_routes(provider)).await?;
    let jwks = RemoteJwks::builder(format!("http://127.0.0.1:{provider_port}/jwks")).build()?;
    jwks.refresh().await?;
    let keys = ApiKeys::new(MemoryStore::new());
    let key = keys
        .create(
            "load",
            NewApiKey {
                name: "load".into(),
                roles: vec!["viewer".into()],
                ..NewApiKey::default()
            },
        )
        .await?
        .key;

    let bare_port = serve(Router::new().route("/books", get(bare))).await?;
    let bearer_port = serve(
        Router::new().route("/books", get(guarded)).layer(
            AuthGateway::new()
                .strategy(BearerStrategy::new(
                    ring,
                    TokenRules::new().issuer("bench").audience("bench"),
                ))
                .build()?,
        ),
    )
    .await?;
    let api_key_port = serve(
        Router::new().route("/books", get(guarded)).layer(
            AuthGateway::new()
                .strategy(ApiKeyStrategy::new(keys))
                .build()?,
        ),
    )
    .await?;
    let jwks_port = serve(
        Router::new().route("/books", get(guarded)).layer(
            AuthGateway::new()
                .strategy(BearerStrategy::from_jwks(
                    &jwks,
                    TokenRules::new().issuer("bench").audience("bench"),
                ))
                .build()?,
        ),
    )
    .await?;
    println!("BARE_PORT={bare_port}");
    println!("JWKS_PORT={jwks_port}");
    println!("PROVIDER_PORT={provider_port}");
    println!("OLD_TOKEN={old_token}");
    println!("NEW_TOKEN={new_token}");
    println!("BEARER_PORT={bearer_port}");
    println!("API_KEY_PORT={api_key_port}");
    println!("TOKEN={token}");
    println!("API_KEY={key}");
    println!("ready");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
