//! One request through the whole axum router in process: a bare handler, the same handler behind
//! the portcullis gateway with bearer JWT (a token seen before: the verified-token cache answers),
//! RBAC and a `RequirePermission` extractor, and behind the gateway with an API key. Every
//! variant gets the same request with both credentials attached, so the differences are the
//! gateway's own cost per request; the HTTP load test (`bench/gateway-load.sh`) shows the same
//! over real sockets.
//!
//! `cargo bench --bench gateway`

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use portcullis::api_key::{ApiKeyStrategy, ApiKeys, NewApiKey};
use portcullis::store::MemoryStore;
use portcullis::strategy::BearerStrategy;
use portcullis::token::{Key, KeyRing, TokenClaims, TokenIssuer, TokenRules};
use portcullis::{AuthGateway, RequirePermission, permission};
use tower::ServiceExt;

permission!(ReadCatalog = "read:Catalog");

async fn bare() -> &'static str {
    "ok"
}

async fn guarded(_: RequirePermission<ReadCatalog>) -> &'static str {
    "ok"
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let ring = KeyRing::single(Key::generate_ed25519("k").unwrap_or_else(|e| panic!("{e}")));
    let token = TokenIssuer::new(ring.clone())
        .issuer("bench")
        .audience("bench")
        .issue(&TokenClaims::new("load").roles(["viewer"]))
        .unwrap_or_else(|e| panic!("{e}"));
    let keys = ApiKeys::new(MemoryStore::new());
    let api_key = rt
        .block_on(keys.create(
            "load",
            NewApiKey {
                name: "load".into(),
                roles: vec!["viewer".into()],
                ..NewApiKey::default()
            },
        ))
        .unwrap_or_else(|e| panic!("{e}"))
        .key;
    fn gateway(strategy: impl portcullis::strategy::Strategy) -> portcullis::AuthLayer {
        AuthGateway::new()
            .strategy(strategy)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    }
    let variants: [(&str, Router); 3] = [
        ("bare", Router::new().route("/books", get(bare))),
        (
            "bearer_cached_rbac_extractor",
            Router::new()
                .route("/books", get(guarded))
                .layer(gateway(BearerStrategy::new(
                    ring,
                    TokenRules::new().issuer("bench").audience("bench"),
                ))),
        ),
        (
            "api_key_rbac_extractor",
            Router::new()
                .route("/books", get(guarded))
                .layer(gateway(ApiKeyStrategy::new(keys))),
        ),
    ];
    let mut group = c.benchmark_group("gateway");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let request = || {
        Request::get("/books")
            .header("x-api-key", &api_key)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    for (name, app) in variants {
        group.bench_function(name, |b| {
            b.iter(|| {
                let response = rt
                    .block_on(app.clone().oneshot(request()))
                    .unwrap_or_else(|e| match e {});
                assert!(response.status().is_success(), "{}", response.status());
                response
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
