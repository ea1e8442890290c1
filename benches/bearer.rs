//! The bearer path: the whole portcullis strategy (transport checks, header checks, `kid`
//! selection, signature, claims, context) plus RBAC enrichment, against a bare
//! `jsonwebtoken::decode` of the same token with the same checks, for HS256, ES256, EdDSA and RS256:
//! once for a token seen for the first time (the token cache off, so every iteration verifies the
//! signature) and once for a token seen before (the default: answered by the verified-token cache).
//!
//! `cargo bench --bench bearer`

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis::Enricher;
use portcullis::MaybeReady;
use portcullis::rbac::RolePolicy;
use portcullis::strategy::{BearerStrategy, Outcome, Strategy};
use portcullis::token::{Key, KeyRing, TokenClaims, TokenIssuer, TokenRules};

const RSA_PRIVATE: &[u8] = include_bytes!("../tests/keys/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../tests/keys/rsa_public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("../tests/keys/ec_private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("../tests/keys/ec_public.pem");
const ED_PRIVATE: &[u8] = include_bytes!("../tests/keys/ed_private.pem");
const ED_PUBLIC: &[u8] = include_bytes!("../tests/keys/ed_public.pem");
const HS_SECRET: &[u8] = b"an HMAC secret of at least 32 bytes, test only";

/// Polls a future that is known to be ready (the strategy and enricher need no I/O here).
fn now<T>(future: MaybeReady<'_, T>) -> T {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => panic!("expected a ready future"),
    }
}

fn bench(c: &mut Criterion) {
    let cases: Vec<(&str, Key, DecodingKey)> = vec![
        (
            "HS256",
            Key::hmac("k", Algorithm::HS256, HS_SECRET).unwrap_or_else(|e| panic!("{e}")),
            DecodingKey::from_secret(HS_SECRET),
        ),
        (
            "ES256",
            Key::signing_pem("k", Algorithm::ES256, EC_PRIVATE, EC_PUBLIC)
                .unwrap_or_else(|e| panic!("{e}")),
            DecodingKey::from_ec_pem(EC_PUBLIC).unwrap_or_else(|e| panic!("{e}")),
        ),
        (
            "EdDSA",
            Key::signing_pem("k", Algorithm::EdDSA, ED_PRIVATE, ED_PUBLIC)
                .unwrap_or_else(|e| panic!("{e}")),
            DecodingKey::from_ed_pem(ED_PUBLIC).unwrap_or_else(|e| panic!("{e}")),
        ),
        (
            "RS256",
            Key::signing_pem("k", Algorithm::RS256, RSA_PRIVATE, RSA_PUBLIC)
                .unwrap_or_else(|e| panic!("{e}")),
            DecodingKey::from_rsa_pem(RSA_PUBLIC).unwrap_or_else(|e| panic!("{e}")),
        ),
    ];
    let policy = RolePolicy::default();
    let mut group = c.benchmark_group("bearer");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, key, decoding) in cases {
        let alg = key.algorithm();
        let ring = KeyRing::single(key);
        let token = TokenIssuer::new(ring.clone())
            .issuer("https://issuer.test")
            .audience("api")
            .issue(
                &TokenClaims::new("alice")
                    .roles(["editor", "viewer"])
                    .email("a@example.com"),
            )
            .unwrap_or_else(|e| panic!("{e}"));

        let mut validation = Validation::new(alg);
        validation.set_issuer(&["https://issuer.test"]);
        validation.set_audience(&["api"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        group.bench_function(format!("{name}/bare_jsonwebtoken_decode"), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &decoding, &validation)
                    .unwrap_or_else(|e| panic!("{e}"))
            })
        });

        let rules = TokenRules::new()
            .issuer("https://issuer.test")
            .audience("api");
        let (parts, ()) = Request::get("/books")
            .header("authorization", format!("Bearer {token}"))
            .body(())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_parts();
        let variants = [
            (
                "portcullis_strategy_and_enrichment",
                BearerStrategy::new(ring.clone(), rules.clone()).without_token_cache(),
            ),
            ("portcullis_cached_token", BearerStrategy::new(ring, rules)),
        ];
        for (variant, strategy) in variants {
            group.bench_function(format!("{name}/{variant}"), |b| {
                b.iter(|| match now(strategy.authenticate(black_box(&parts))) {
                    Outcome::Authenticated(mut ctx) => {
                        now(policy.enrich(&mut ctx)).unwrap_or_else(|e| panic!("{e}"));
                        ctx
                    }
                    other => panic!("{other:?}"),
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
