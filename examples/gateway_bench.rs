//! The servers behind `bench/gateway-load.sh`: the same handler three times on loopback, bare,
//! behind portcullis with bearer JWT + RBAC + a `RequirePermission` extractor, and behind
//! portcullis with an API key. Prints the ports and credentials the load script needs.
//!
//! ```text
//! cargo run --release --example gateway_bench
//! ```

use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::routing::get;
use portcullis::api_key::{ApiKeys, NewApiKey};
use portcullis::store::MemoryStore;
use portcullis::strategy::{ApiKeyStrategy, BearerStrategy};
use portcullis::token::{Key, KeyRing, TokenClaims, TokenIssuer, TokenRules};
use portcullis::{AuthGateway, RequirePermission, permission};

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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring = KeyRing::single(Key::generate_ed25519("bench")?);
    let token = TokenIssuer::new(ring.clone())
        .issuer("bench")
        .audience("bench")
        .ttl(std::time::Duration::from_secs(3600))
        .issue(&TokenClaims::new("load").roles(["viewer"]))?;
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
    println!("BARE_PORT={bare_port}");
    println!("BEARER_PORT={bearer_port}");
    println!("API_KEY_PORT={api_key_port}");
    println!("TOKEN={token}");
    println!("API_KEY={key}");
    println!("ready");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
