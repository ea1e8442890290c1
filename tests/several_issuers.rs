//! One gateway, tokens from several issuers (issue #18): ours from a local key ring, a
//! partner's from its JWKS served over real HTTP, both signing with the same `kid`. Each token
//! is verified by its own issuer's keys and rules; the unverified `iss` only chooses which, so
//! a token lying about its issuer, naming none, or naming two is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use http::StatusCode;
use jsonwebtoken::Algorithm;
use portcullis::AuthGateway;
use portcullis::strategy::{BearerIssuers, BearerStrategy, IssuersError};
use portcullis::token::{Key, KeyRing, RemoteJwks, TokenClaims, TokenIssuer, TokenRules};
use serde_json::json;

const OURS: &str = "https://id.example";
const PARTNER: &str = "https://partner.example";

struct World {
    app: Router,
    ours: Key,
    partner: Key,
    jwks_hits: Arc<AtomicU64>,
}

/// Our issuer signs with an Ed25519 key `k1` held locally; the partner with an ES256 key, also
/// `k1`, that we learn from its JWKS endpoint on loopback.
async fn world() -> World {
    let ours = Key::generate_ed25519("k1").unwrap();
    let partner = Key::generate_ecdsa("k1", Algorithm::ES256).unwrap();
    let document = json!({ "keys": [partner.jwk().unwrap()] });
    let jwks_hits = Arc::new(AtomicU64::new(0));
    let hits = jwks_hits.clone();
    let provider = Router::new().route(
        "/jwks",
        get(move || {
            hits.fetch_add(1, Ordering::SeqCst);
            let document = document.clone();
            async move { axum::Json(document) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, provider).await.unwrap() });
    let jwks = RemoteJwks::builder(&url).build().unwrap();
    jwks.refresh().await.unwrap();

    // We verify our own tokens with the public half only.
    let jwk = serde_json::from_value(ours.jwk().unwrap()).unwrap();
    let public_ours = KeyRing::single(Key::from_jwk(&jwk, Algorithm::RS256).unwrap());
    let bearer = BearerIssuers::new()
        .issuer(BearerStrategy::new(
            public_ours,
            TokenRules::new().issuer(OURS).audience("api"),
        ))
        .unwrap()
        .issuer(BearerStrategy::from_jwks(
            &jwks,
            TokenRules::new().issuer(PARTNER).audience("partner-api"),
        ))
        .unwrap();
    let app = routes().layer(
        AuthGateway::new()
            .strategy(bearer)
            .realm("test")
            .error_renderer(ReasonRenderer)
            .build()
            .unwrap(),
    );
    World {
        app,
        ours,
        partner,
        jwks_hits,
    }
}

fn token(key: &Key, issuer: &str, audience: &str, subject: &str) -> String {
    TokenIssuer::new(KeyRing::single(key.clone()))
        .issuer(issuer)
        .audience(audience)
        .issue(&TokenClaims::new(subject))
        .unwrap()
}

#[tokio::test]
async fn each_issuers_tokens_are_verified_by_its_own_keys_and_rules() {
    let w = world().await;
    let ada = token(&w.ours, OURS, "api", "ada");
    let bob = token(&w.partner, PARTNER, "partner-api", "bob");
    for (token, who) in [(&ada, "ada"), (&bob, "bob")] {
        let reply = get_as(&w.app, "/maybe", Some(token)).await;
        assert_eq!(reply.status, StatusCode::OK, "{who}: {:?}", reply.reason());
        assert_eq!(reply.text(), who);
    }
    // Each issuer's audience is its own: ours with the partner's audience is refused.
    let crossed = token(&w.ours, OURS, "partner-api", "ada");
    let reply = get_as(&w.app, "/maybe", Some(&crossed)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.reason(), Some("wrong_audience"));
}

#[tokio::test]
async fn a_token_that_lies_about_its_issuer_is_checked_against_the_keys_it_names() {
    let w = world().await;
    let fetches = w.jwks_hits.load(Ordering::SeqCst);
    // Signed by our key, claiming the partner: the partner's `k1` did not sign it.
    let forged = token(&w.ours, PARTNER, "partner-api", "mallory");
    let reply = get_as(&w.app, "/maybe", Some(&forged)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_ne!(reply.text(), "mallory");
    // Signed by the partner's key, claiming us: our `k1` did not sign it.
    let forged = token(&w.partner, OURS, "api", "mallory");
    let reply = get_as(&w.app, "/maybe", Some(&forged)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_ne!(reply.text(), "mallory");
    // A key unknown to the issuer named is refused there, not tried elsewhere.
    let stranger = Key::generate_ed25519("k2").unwrap();
    let reply = get_as(
        &w.app,
        "/maybe",
        Some(&token(&stranger, OURS, "api", "eve")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.reason(), Some("unknown_key"));
    // Our own issuer's refusals never reached the partner's JWKS.
    assert!(w.jwks_hits.load(Ordering::SeqCst) <= fetches + 1);
}

#[tokio::test]
async fn tokens_naming_no_issuer_an_unknown_one_or_two_are_refused() {
    let w = world().await;
    let unknown = token(&w.ours, "https://elsewhere.example", "api", "eve");
    let reply = get_as(&w.app, "/maybe", Some(&unknown)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.reason(), Some("wrong_issuer"));

    let signer = TokenIssuer::new(KeyRing::single(w.ours.clone())).audience("api");
    let none = signer.issue(&TokenClaims::new("eve")).unwrap();
    let reply = get_as(&w.app, "/maybe", Some(&none)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.reason(), Some("wrong_issuer"));

    // Two `iss` members: the router and the verifier must never read different ones.
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","kid":"k1"}"#);
    let payload = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"iss":"{PARTNER}","iss":"{OURS}","sub":"eve","aud":"api","exp":{}}}"#,
        now() + 600
    ));
    let two = format!("{header}.{payload}.c2ln");
    let reply = get_as(&w.app, "/maybe", Some(&two)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.reason(), Some("malformed"));

    for garbage in ["a.b", "a.b.c.d", "e30.!!!.c2ln"] {
        let reply = get_as(&w.app, "/maybe", Some(garbage)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{garbage}");
        assert_eq!(reply.reason(), Some("malformed"), "{garbage}");
    }
    // No bearer token at all is not this strategy's business: the gateway says credentials
    // are missing, not that a token was bad.
    let reply = get_as(&w.app, "/maybe", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json()["code"], "missing_credentials");
}

#[tokio::test]
async fn both_issuers_under_concurrent_load_each_request_gets_its_own_subject() {
    let w = world().await;
    let ada = token(&w.ours, OURS, "api", "ada");
    let bob = token(&w.partner, PARTNER, "partner-api", "bob");
    let forged = token(&w.ours, PARTNER, "partner-api", "mallory");
    let requests: Vec<_> = (0..96)
        .map(|i| {
            let (app, token, want) = match i % 3 {
                0 => (w.app.clone(), ada.clone(), "ada"),
                1 => (w.app.clone(), bob.clone(), "bob"),
                _ => (w.app.clone(), forged.clone(), ""),
            };
            tokio::spawn(async move {
                let reply = get_as(&app, "/maybe", Some(&token)).await;
                (reply.status, reply.text(), want)
            })
        })
        .collect();
    for request in requests {
        let (status, text, want) = request.await.unwrap();
        if want.is_empty() {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        } else {
            assert_eq!((status, text.as_str()), (StatusCode::OK, want));
        }
    }
}

#[test]
fn an_issuer_without_an_issuer_rule_or_twice_or_found_elsewhere_is_refused() {
    let ring = || KeyRing::single(Key::generate_ed25519("k1").unwrap());
    let any_issuer = BearerStrategy::new(ring(), TokenRules::new().audience("api"));
    assert_eq!(
        BearerIssuers::new().issuer(any_issuer).unwrap_err(),
        IssuersError::NoIssuerRule
    );
    let first = BearerStrategy::new(ring(), TokenRules::new().issuer(OURS).audience("api"));
    let again = BearerStrategy::new(ring(), TokenRules::new().issuer(OURS).audience("x"));
    assert_eq!(
        BearerIssuers::new()
            .issuer(first.clone())
            .unwrap()
            .issuer(again)
            .unwrap_err(),
        IssuersError::Duplicate(OURS.into())
    );
    let in_query = BearerStrategy::new(ring(), TokenRules::new().issuer(PARTNER).audience("api"))
        .allow_query("access_token");
    assert_eq!(
        BearerIssuers::new()
            .issuer(first)
            .unwrap()
            .issuer(in_query)
            .unwrap_err(),
        IssuersError::Transport
    );
}
