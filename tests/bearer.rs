//! The bearer JWT strategy through the real router: every token that must be refused is refused
//! with 401, by the rule meant to refuse it, and every good token passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use http::{Request, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey};
use portcullis::AuthGateway;
use portcullis::strategy::BearerStrategy;
use portcullis::token::{Key, KeyRing, MAX_NUMERIC_DATE, TokenClaims, TokenIssuer, TokenRules};
use serde_json::{Value, json};

fn header(alg: &str, kid: &str) -> Value {
    json!({"alg": alg, "typ": "JWT", "kid": kid})
}

/// Asserts a 401 `invalid_token` refusal for the expected internal reason.
async fn assert_refused(token: &str, reason: &str) {
    let reply = get_as(&app(), "/me", Some(token)).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "token {token:.60}… body {}",
        reply.text()
    );
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer realm="test", error="invalid_token""#)
    );
    assert_eq!(reply.reason(), Some(reason), "refused for the wrong reason");
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(reply.json()["detail"], "The credentials are invalid.");
}

#[tokio::test]
async fn every_pinned_algorithm_is_accepted() {
    let app = app();
    for kid in ["hs", "rs", "ps", "es", "ed"] {
        let reply = get_as(&app, "/me", Some(&token(kid, &["viewer"]))).await;
        assert_eq!(reply.status, StatusCode::OK, "kid {kid}: {}", reply.text());
        assert_eq!(reply.json()["subject"], "alice");
    }
}

#[tokio::test]
async fn the_remaining_algorithms_sign_and_verify_through_the_issuer() {
    // HS384/512, RS384/512, PS384/512 and ES384: each key pinned, each token accepted.
    let cases = [
        Key::generate_hmac("hs384", Algorithm::HS384).unwrap(),
        Key::generate_hmac("hs512", Algorithm::HS512).unwrap(),
        Key::signing_pem("rs384", Algorithm::RS384, RSA_PRIVATE, RSA_PUBLIC).unwrap(),
        Key::signing_pem("rs512", Algorithm::RS512, RSA_PRIVATE, RSA_PUBLIC).unwrap(),
        Key::signing_pem("ps384", Algorithm::PS384, RSA_PRIVATE, RSA_PUBLIC).unwrap(),
        Key::signing_pem("ps512", Algorithm::PS512, RSA_PRIVATE, RSA_PUBLIC).unwrap(),
        Key::generate_ecdsa("es384", Algorithm::ES384).unwrap(),
        Key::signing_pem("es256", Algorithm::ES256, EC_PRIVATE, EC_PUBLIC).unwrap(),
        Key::signing_pem("ed", Algorithm::EdDSA, ED_PRIVATE, ED_PUBLIC).unwrap(),
    ];
    for key in cases {
        let kid = key.kid().to_owned();
        let ring = KeyRing::single(key);
        let issuer = TokenIssuer::new(ring.clone())
            .issuer(ISSUER)
            .audience(AUDIENCE);
        let token = issuer
            .issue(&TokenClaims::new("bob").roles(["viewer"]))
            .unwrap();
        let app = routes().layer(
            AuthGateway::new()
                .strategy(BearerStrategy::new(ring, rules()))
                .build()
                .unwrap(),
        );
        let reply = get_as(&app, "/me", Some(&token)).await;
        assert_eq!(reply.status, StatusCode::OK, "{kid}: {}", reply.text());
    }
}

#[tokio::test]
async fn mismatched_key_pair_is_refused_at_construction() {
    let mismatched = Key::signing_pem("x", Algorithm::RS256, RSA2_PRIVATE, RSA_PUBLIC);
    assert!(
        mismatched.is_err(),
        "a private key that does not match its public half must be refused"
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let claims = claims("alice", &["admin"]);
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "rs"})),
        b64(&claims)
    );
    assert_refused(&unsigned, "bad_signature").await;
    // With some junk as the signature, the header itself is refused (`none` is no algorithm).
    let junk = format!(
        "{}.{}.AAAA",
        b64(&json!({"alg": "none", "kid": "rs"})),
        b64(&claims)
    );
    assert_refused(&junk, "malformed").await;
}

#[tokio::test]
async fn hs256_keyed_with_the_rsa_public_key_is_refused() {
    // The classic key-confusion attack: the verifier holds an RSA public key for `rs`, the
    // attacker signs HS256 using that public key's bytes as the HMAC secret.
    let forged = forge(
        header("HS256", "rs"),
        claims("mallory", &["admin"]),
        &EncodingKey::from_secret(RSA_PUBLIC),
        Algorithm::HS256,
    );
    assert_refused(&forged, "algorithm_mismatch").await;
}

#[tokio::test]
async fn other_rsa_algorithms_against_an_rs256_key_are_refused() {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
    for (name, alg) in [
        ("RS512", Algorithm::RS512),
        ("PS256", Algorithm::PS256),
        ("RS384", Algorithm::RS384),
    ] {
        let forged = forge(header(name, "rs"), claims("alice", &["viewer"]), &key, alg);
        assert_refused(&forged, "algorithm_mismatch").await;
    }
}

#[tokio::test]
async fn a_flipped_signature_bit_is_refused() {
    for kid in ["hs", "rs", "es", "ed"] {
        let good = token(kid, &["viewer"]);
        let (message, signature) = good.rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
        raw[0] ^= 0x01;
        let flipped = format!("{message}.{}", URL_SAFE_NO_PAD.encode(raw));
        assert_refused(&flipped, "bad_signature").await;
    }
}

#[tokio::test]
async fn a_stripped_signature_is_refused() {
    let good = token("rs", &["viewer"]);
    let (message, _) = good.rsplit_once('.').unwrap();
    assert_refused(&format!("{message}."), "bad_signature").await;
}

#[tokio::test]
async fn a_signature_from_another_key_is_refused() {
    let other = EncodingKey::from_rsa_pem(RSA2_PRIVATE).unwrap();
    let forged = forge(
        header("RS256", "rs"),
        claims("alice", &["admin"]),
        &other,
        Algorithm::RS256,
    );
    assert_refused(&forged, "bad_signature").await;
}

fn with_claims(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut claims = claims("alice", &["viewer"]);
    edit(claims.as_object_mut().unwrap());
    forge(
        header("ES256", "es"),
        claims,
        &encoding_key(Algorithm::ES256),
        Algorithm::ES256,
    )
}

#[tokio::test]
async fn time_claims() {
    let now = now();
    assert_refused(
        &with_claims(|c| {
            c.insert("exp".into(), json!(now - 120));
        }),
        "expired",
    )
    .await;
    assert_refused(
        &with_claims(|c| {
            c.remove("exp");
        }),
        "missing_expiry",
    )
    .await;
    assert_refused(
        &with_claims(|c| {
            c.insert("nbf".into(), json!(now + 120));
        }),
        "not_yet_valid",
    )
    .await;

    // Inside the 30 s default leeway both are still fine: the leeway is applied, not ignored.
    let app = app();
    let recent = with_claims(|c| {
        c.insert("exp".into(), json!(now - 10));
    });
    assert_eq!(
        get_as(&app, "/me", Some(&recent)).await.status,
        StatusCode::OK
    );
    let soon = with_claims(|c| {
        c.insert("nbf".into(), json!(now + 10));
    });
    assert_eq!(
        get_as(&app, "/me", Some(&soon)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn time_claims_are_whole_dates_before_year_10000() {
    let now = now();
    let refused: [(&str, &str, Value); 14] = [
        // Accepted by jsonwebtoken as "never expires".
        ("exp u64::MAX", "exp", json!(u64::MAX)),
        ("exp past year 9999", "exp", json!(MAX_NUMERIC_DATE + 1)),
        // Rounded by jsonwebtoken, then no u64 for the context: no expiry, a denylist for ever.
        ("exp fractional", "exp", json!(now as f64 + 600.5)),
        ("exp whole but a float", "exp", json!((now + 600) as f64)),
        ("exp negative", "exp", json!(-1)),
        ("exp string", "exp", json!((now + 600).to_string())),
        ("exp null", "exp", Value::Null),
        ("exp beyond u64", "exp", json!(1e30)),
        ("nbf fractional", "nbf", json!(now as f64 - 0.5)),
        ("nbf string", "nbf", json!(now.to_string())),
        ("iat fractional", "iat", json!(now as f64 + 0.5)),
        ("iat string", "iat", json!(now.to_string())),
        ("iat negative", "iat", json!(-5)),
        ("iat past year 9999", "iat", json!(MAX_NUMERIC_DATE + 1)),
    ];
    for (name, claim, value) in refused {
        let token = with_claims(|c| {
            c.insert(claim.into(), value);
        });
        let reply = get_as(&app(), "/me", Some(&token)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(reply.reason(), Some("bad_claims"), "{name}");
    }
    // An `nbf` that late is in the future, which the clock check finds first.
    assert_refused(
        &with_claims(|c| {
            c.insert("nbf".into(), json!(u64::MAX));
        }),
        "not_yet_valid",
    )
    .await;

    // A normal token, and the last second of year 9999, still pass.
    let app = app();
    let normal = with_claims(|_| {});
    assert_eq!(
        get_as(&app, "/me", Some(&normal)).await.status,
        StatusCode::OK
    );
    let last = with_claims(|c| {
        c.insert("exp".into(), json!(MAX_NUMERIC_DATE));
    });
    assert_eq!(
        get_as(&app, "/me", Some(&last)).await.status,
        StatusCode::OK
    );
}

/// The test app with `rules` instead of the default ones.
fn app_with_rules(rules: TokenRules) -> axum::Router {
    routes().layer(
        AuthGateway::new()
            .strategy(BearerStrategy::new(ring(), rules))
            .realm("test")
            .error_renderer(ReasonRenderer)
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn max_lifetime_bounds_exp_minus_iat() {
    let now = now();
    let app = app_with_rules(rules().max_lifetime(std::time::Duration::from_secs(600)));
    let status_and_reason = |token: String| {
        let app = app.clone();
        async move {
            let reply = get_as(&app, "/me", Some(&token)).await;
            (reply.status, reply.reason().map(str::to_owned))
        }
    };
    // `claims` gives iat = now, exp = now + 600: exactly the limit.
    let at_limit = with_claims(|_| {});
    assert_eq!(status_and_reason(at_limit).await.0, StatusCode::OK);

    let longer = with_claims(|c| {
        // Both from this test's `now`: `claims` reads the clock again, and a second boundary
        // in between would make the lifetime 600 s.
        c.insert("iat".into(), json!(now));
        c.insert("nbf".into(), json!(now));
        c.insert("exp".into(), json!(now + 601));
    });
    let no_iat = with_claims(|c| {
        c.remove("iat");
    });
    let forever = with_claims(|c| {
        c.insert("exp".into(), json!(MAX_NUMERIC_DATE));
    });
    for (name, token) in [("601 s", longer), ("no iat", no_iat), ("forever", forever)] {
        assert_eq!(
            status_and_reason(token).await,
            (StatusCode::UNAUTHORIZED, Some("lifetime_too_long".into())),
            "{name}"
        );
    }
    // A long-lived token cannot fit the limit by dating its `iat` in the future.
    let dated_ahead = with_claims(|c| {
        c.insert("iat".into(), json!(MAX_NUMERIC_DATE - 600));
        c.insert("exp".into(), json!(MAX_NUMERIC_DATE));
    });
    assert_eq!(
        status_and_reason(dated_ahead).await,
        (StatusCode::UNAUTHORIZED, Some("not_yet_valid".into()))
    );
    // Without the rule, the same long-lived token passes (the limit is opt-in).
    let long = with_claims(|c| {
        c.insert("exp".into(), json!(now + 86_400));
    });
    assert_eq!(
        get_as(&app_with_rules(rules()), "/me", Some(&long))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn issuer_and_audience() {
    assert_refused(
        &with_claims(|c| {
            c.insert("iss".into(), json!("https://evil.test"));
        }),
        "wrong_issuer",
    )
    .await;
    assert_refused(
        &with_claims(|c| {
            c.remove("iss");
        }),
        "wrong_issuer",
    )
    .await;
    assert_refused(
        &with_claims(|c| {
            c.insert("iss".into(), json!([ISSUER]));
        }),
        "wrong_issuer",
    )
    .await;
    assert_refused(
        &with_claims(|c| {
            c.insert("iss".into(), json!(format!("{ISSUER}/")));
        }),
        "wrong_issuer",
    )
    .await;
    assert_refused(
        &with_claims(|c| {
            c.insert("aud".into(), json!("other-api"));
        }),
        "wrong_audience",
    )
    .await;
    assert_refused(
        &with_claims(|c| {
            c.remove("aud");
        }),
        "wrong_audience",
    )
    .await;
    // An audience list naming us is fine.
    let listed = with_claims(|c| {
        c.insert("aud".into(), json!(["other-api", AUDIENCE]));
    });
    assert_eq!(
        get_as(&app(), "/me", Some(&listed)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn subject_and_claim_types() {
    assert_refused(
        &with_claims(|c| {
            c.remove("sub");
        }),
        "bad_claims",
    )
    .await;
    assert_refused(
        &with_claims(|c| {
            c.insert("sub".into(), json!(""));
        }),
        "bad_claims",
    )
    .await;
    assert_refused(
        &with_claims(|c| {
            c.insert("roles".into(), json!("admin"));
        }),
        "bad_claims",
    )
    .await;
    assert_refused(
        &with_claims(|c| {
            c.insert("roles".into(), json!([1, 2]));
        }),
        "bad_claims",
    )
    .await;
    assert_refused(
        &with_claims(|c| {
            c.insert("tid".into(), json!({"x": 1}));
        }),
        "bad_claims",
    )
    .await;
    let many: Vec<String> = (0..300).map(|i| format!("r{i}")).collect();
    assert_refused(
        &with_claims(|c| {
            c.insert("roles".into(), json!(many));
        }),
        "bad_claims",
    )
    .await;
}

#[tokio::test]
async fn key_selection() {
    let claims = claims("alice", &["viewer"]);
    let es = encoding_key(Algorithm::ES256);
    assert_refused(
        &forge(
            header("ES256", "nope"),
            claims.clone(),
            &es,
            Algorithm::ES256,
        ),
        "unknown_key",
    )
    .await;
    let no_kid = forge(
        json!({"alg": "ES256", "typ": "JWT"}),
        claims,
        &es,
        Algorithm::ES256,
    );
    assert_refused(&no_kid, "unknown_key").await;
}

#[tokio::test]
async fn crit_header_is_refused() {
    let forged = forge(
        json!({"alg": "ES256", "kid": "es", "crit": ["exp"], "exp": 1}),
        claims("alice", &["viewer"]),
        &encoding_key(Algorithm::ES256),
        Algorithm::ES256,
    );
    assert_refused(&forged, "critical_header").await;
}

#[tokio::test]
async fn wrong_segment_counts_are_refused() {
    let good = token("es", &["viewer"]);
    let parts: Vec<&str> = good.split('.').collect();
    assert_refused(&format!("{}.{}", parts[0], parts[1]), "malformed").await;
    assert_refused(&format!("{good}.{}", parts[2]), "malformed").await;
    assert_refused("not-a-jwt", "malformed").await;
    assert_refused(
        &format!("{}.{}.{}!", parts[0], parts[1], parts[2]),
        "malformed",
    )
    .await;
}

#[tokio::test]
async fn oversized_header_is_refused_before_parsing() {
    // 64 KiB of otherwise plausible token: refused by size, not by a parser.
    let huge = format!(
        "{}.{}.{}",
        "e".repeat(32 * 1024),
        "e".repeat(32 * 1024),
        "sig"
    );
    let reply = get_as(&app(), "/me", Some(&huge)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.reason(), Some("too_large"));
}

#[tokio::test]
async fn bodies_never_say_which_check_failed() {
    let app = routes().layer(
        AuthGateway::new()
            .strategy(BearerStrategy::new(ring(), rules()))
            .realm("test")
            .build()
            .unwrap(),
    );
    let expired = with_claims(|c| {
        c.insert("exp".into(), json!(now() - 3600));
    });
    let unknown = forge(
        header("ES256", "nope"),
        claims("a", &[]),
        &encoding_key(Algorithm::ES256),
        Algorithm::ES256,
    );
    let a = get_as(&app, "/me", Some(&expired)).await;
    let b = get_as(&app, "/me", Some(&unknown)).await;
    let c = get_as(&app, "/me", Some("garbage")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.body, b.body);
    assert_eq!(b.body, c.body);
    assert_eq!(a.header("www-authenticate"), b.header("www-authenticate"));
    assert!(a.reason().is_none(), "the default renderer adds nothing");
}

#[tokio::test]
async fn typ_is_checked_when_configured() {
    let app = routes().layer(
        AuthGateway::new()
            .strategy(BearerStrategy::new(ring(), rules().typ("at+jwt")))
            .error_renderer(ReasonRenderer)
            .build()
            .unwrap(),
    );
    let es = encoding_key(Algorithm::ES256);
    let plain = forge(
        header("ES256", "es"),
        claims("a", &[]),
        &es,
        Algorithm::ES256,
    );
    let reply = get_as(&app, "/me", Some(&plain)).await;
    assert_eq!(
        (reply.status, reply.reason()),
        (StatusCode::UNAUTHORIZED, Some("wrong_type"))
    );
    let untyped = forge(
        json!({"alg": "ES256", "kid": "es"}),
        claims("a", &[]),
        &es,
        Algorithm::ES256,
    );
    assert_eq!(
        get_as(&app, "/me", Some(&untyped)).await.status,
        StatusCode::UNAUTHORIZED
    );
    for typ in ["at+jwt", "application/at+JWT"] {
        let typed = forge(
            json!({"alg": "ES256", "kid": "es", "typ": typ}),
            claims("a", &[]),
            &es,
            Algorithm::ES256,
        );
        assert_eq!(
            get_as(&app, "/me", Some(&typed)).await.status,
            StatusCode::OK,
            "{typ}"
        );
    }
}

#[tokio::test]
async fn transport_errors_are_invalid_request() {
    let app = app();
    let good = token("es", &["viewer"]);

    let two_headers = Request::get("/me")
        .header("authorization", format!("Bearer {good}"))
        .header("authorization", format!("Bearer {good}"))
        .body(Body::empty())
        .unwrap();
    let both_places = Request::get(format!("/me?access_token={good}"))
        .header("authorization", format!("Bearer {good}"))
        .body(Body::empty())
        .unwrap();
    let query_only = Request::get(format!("/me?access_token={good}"))
        .body(Body::empty())
        .unwrap();
    let empty = Request::get("/me")
        .header("authorization", "Bearer ")
        .body(Body::empty())
        .unwrap();
    let bare = Request::get("/me")
        .header("authorization", "Bearer")
        .body(Body::empty())
        .unwrap();

    for request in [two_headers, both_places, query_only, empty, bare] {
        let reply = send(&app, request).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
        assert_eq!(
            reply.header("www-authenticate"),
            Some(r#"Bearer realm="test", error="invalid_request""#)
        );
    }
}

#[tokio::test]
async fn query_tokens_only_when_enabled() {
    let strategy = BearerStrategy::new(ring(), rules()).allow_query("access_token");
    let app = routes().layer(AuthGateway::new().strategy(strategy).build().unwrap());
    let good = token("es", &["viewer"]);
    let reply = send(
        &app,
        Request::get(format!("/me?access_token={good}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let both = Request::get(format!("/me?access_token={good}"))
        .header("authorization", format!("Bearer {good}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, both).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn scheme_is_case_insensitive_and_other_schemes_are_not_ours() {
    let app = app();
    let good = token("es", &["viewer"]);
    let lower = Request::get("/me")
        .header("authorization", format!("bearer {good}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, lower).await.status, StatusCode::OK);
    // Basic credentials are not the bearer strategy's: with no other strategy, 401 asking for Bearer.
    let basic = Request::get("/me")
        .header("authorization", "Basic YWxpY2U6cHc=")
        .body(Body::empty())
        .unwrap();
    let reply = send(&app, basic).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer realm="test""#)
    );
}

#[tokio::test]
async fn claims_map_to_the_context() {
    let mut c = claims("carol", &["viewer", "editor"]);
    let extra = json!({"tid": "acme", "email": "carol@example.com", "scope": "catalog.read catalog.write", "org": "ACME"});
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let t = forge(
        header("ES256", "es"),
        c,
        &encoding_key(Algorithm::ES256),
        Algorithm::ES256,
    );
    let strategy = BearerStrategy::new(ring(), rules()).keep_claims(["org"]);
    let app = routes().layer(AuthGateway::new().strategy(strategy).build().unwrap());
    let me = get_as(&app, "/me", Some(&t)).await.json();
    assert_eq!(me["subject"], "carol");
    assert_eq!(me["tenant"], "acme");
    assert_eq!(me["email"], "carol@example.com");
    assert_eq!(me["roles"], json!(["editor", "viewer"]));
    assert_eq!(me["scopes"], json!(["catalog.read", "catalog.write"]));
    assert_eq!(me["claims"], json!({"org": "ACME"}));
    assert_eq!(me["token_id"], "jti-carol");
    assert_eq!(me["method"], "bearer");
    assert_eq!(
        me["permissions"]["permissions"],
        json!(["read:*", "write:*"])
    );
}

#[tokio::test]
async fn claim_names_are_configurable() {
    use portcullis::token::ClaimNames;
    let mut c = claims("dave", &[]);
    let obj = c.as_object_mut().unwrap();
    obj.remove("roles");
    obj.insert("groups".into(), json!(["editor"]));
    obj.insert("org_id".into(), json!("globex"));
    let t = forge(
        header("ES256", "es"),
        c,
        &encoding_key(Algorithm::ES256),
        Algorithm::ES256,
    );
    let strategy = BearerStrategy::new(ring(), rules())
        .claim_names(ClaimNames::default().roles("groups").tenant("org_id"));
    let app = routes().layer(AuthGateway::new().strategy(strategy).build().unwrap());
    let me = get_as(&app, "/me", Some(&t)).await.json();
    assert_eq!(me["roles"], json!(["editor"]));
    assert_eq!(me["tenant"], "globex");
}

#[tokio::test]
async fn token_permissions_only_when_trusted() {
    let mut c = claims("erin", &[]);
    c.as_object_mut()
        .unwrap()
        .insert("permissions".into(), json!(["delete:Catalog"]));
    let t = forge(
        header("ES256", "es"),
        c,
        &encoding_key(Algorithm::ES256),
        Algorithm::ES256,
    );
    let untrusting = app();
    let request = || {
        Request::delete("/books/1")
            .header("authorization", format!("Bearer {t}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        send(&untrusting, request()).await.status,
        StatusCode::FORBIDDEN
    );

    let trusting = routes().layer(
        AuthGateway::new()
            .strategy(BearerStrategy::new(ring(), rules()).trust_token_permissions())
            .build()
            .unwrap(),
    );
    assert_eq!(
        send(&trusting, request()).await.status,
        StatusCode::NO_CONTENT
    );

    // A malformed carried grant refuses the token when permissions are trusted.
    let mut bad = claims("erin", &[]);
    bad.as_object_mut()
        .unwrap()
        .insert("permissions".into(), json!(["delete:Catalog.*"]));
    let t = forge(
        header("ES256", "es"),
        bad,
        &encoding_key(Algorithm::ES256),
        Algorithm::ES256,
    );
    let reply = get_as(&trusting, "/me", Some(&t)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn keys_swap_at_run_time_without_a_rebuild() {
    let ring = KeyRing::new();
    ring.insert(Key::generate_ed25519("old").unwrap());
    ring.set_signing("old").unwrap();
    let app = routes().layer(
        AuthGateway::new()
            .strategy(BearerStrategy::new(ring.clone(), rules()))
            .build()
            .unwrap(),
    );
    let issue = |ring: &KeyRing| {
        TokenIssuer::new(ring.clone())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .issue(&TokenClaims::new("f"))
            .unwrap()
    };
    let old_token = issue(&ring);
    assert_eq!(
        get_as(&app, "/me", Some(&old_token)).await.status,
        StatusCode::OK
    );

    // A key the app has never seen: its tokens fail until the key joins the ring.
    let other = KeyRing::single(Key::generate_ed25519("new").unwrap());
    let new_token = issue(&other);
    assert_eq!(
        get_as(&app, "/me", Some(&new_token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    ring.insert(other.snapshot().get("new").map(|k| (**k).clone()).unwrap());
    ring.set_signing("new").unwrap();
    assert_eq!(
        get_as(&app, "/me", Some(&new_token)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get_as(&app, "/me", Some(&old_token)).await.status,
        StatusCode::OK,
        "old key still verifies"
    );
    ring.remove("old");
    assert_eq!(
        get_as(&app, "/me", Some(&old_token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_as(&app, "/me", Some(&issue(&ring))).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn issuer_needs_a_signing_key_and_refuses_reserved_claims() {
    use portcullis::token::IssueError;
    let verify_only = KeyRing::new();
    verify_only.insert(Key::verifying_pem("rs", Algorithm::RS256, RSA_PUBLIC).unwrap());
    assert_eq!(
        TokenIssuer::new(verify_only).issue(&TokenClaims::new("a")),
        Err(IssueError::NoSigningKey)
    );
    let ring = KeyRing::single(Key::generate_ed25519("k").unwrap());
    let issuer = TokenIssuer::new(ring);
    assert_eq!(
        issuer.issue(&TokenClaims::new("")),
        Err(IssueError::EmptySubject)
    );
    assert_eq!(
        issuer.issue(&TokenClaims::new("a").claim("exp", json!(1))),
        Err(IssueError::ReservedClaim("exp".into()))
    );
}

#[tokio::test]
async fn issued_tokens_carry_what_the_verifier_needs() {
    let ring = KeyRing::single(Key::generate_ed25519("k").unwrap());
    let token = TokenIssuer::new(ring.clone())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .typ("at+jwt")
        .issue(
            &TokenClaims::new("gus")
                .roles(["editor"])
                .tenant("t1")
                .email("g@example.com")
                .scopes(["a", "b"]),
        )
        .unwrap();
    let verified = portcullis::token::TokenVerifier::new(
        ring,
        TokenRules::new()
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .typ("at+jwt"),
    )
    .verify(&token)
    .unwrap();
    let c = &verified.claims;
    assert_eq!(c["sub"], "gus");
    assert_eq!(c["roles"], json!(["editor"]));
    assert_eq!(c["tid"], "t1");
    assert_eq!(c["scope"], "a b");
    assert!(
        c["exp"].as_u64().unwrap() > now() + 800,
        "15 minutes by default"
    );
    assert_eq!(
        c["jti"].as_str().unwrap().len(),
        22,
        "128 random bits, base64url"
    );
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(
        (header.kid.as_deref(), header.alg),
        (Some("k"), Algorithm::EdDSA)
    );
}

/// The app of the cache tests: bearer over `ring` without leeway, so `exp` is exact.
fn exact_app(ring: KeyRing) -> axum::Router {
    routes().layer(
        AuthGateway::new()
            .strategy(BearerStrategy::new(
                ring,
                rules().leeway(std::time::Duration::ZERO),
            ))
            .realm("test")
            .error_renderer(ReasonRenderer)
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn a_remembered_token_dies_with_the_key_that_verified_it() {
    let ring = KeyRing::single(Key::generate_hmac("k", Algorithm::HS256).unwrap());
    let app = exact_app(ring.clone());
    let token = TokenIssuer::new(ring.clone())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .issue(&TokenClaims::new("alice"))
        .unwrap();
    for _ in 0..2 {
        assert_eq!(
            get_as(&app, "/me", Some(&token)).await.status,
            StatusCode::OK
        );
    }
    // Same kid, other material (a botched rotation, or a JWKS that changed the key under the same
    // id): the remembered verification belongs to the old key and must not be served.
    ring.insert(Key::generate_hmac("k", Algorithm::HS256).unwrap());
    let reply = get_as(&app, "/me", Some(&token)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.reason(), Some("bad_signature"));
}

#[tokio::test]
async fn a_remembered_token_is_never_served_past_its_exp() {
    let alg = Algorithm::HS256;
    let mut c = claims("alice", &["viewer"]);
    c["exp"] = json!(now() + 2);
    let token = forge(header("HS256", "hs"), c, &encoding_key(alg), alg);
    let app = exact_app(ring());
    for _ in 0..3 {
        assert_eq!(
            get_as(&app, "/me", Some(&token)).await.status,
            StatusCode::OK
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let reply = get_as(&app, "/me", Some(&token)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text());
    assert_eq!(reply.reason(), Some("expired"));
}

#[tokio::test]
async fn a_remembered_signature_on_other_claims_is_verified_and_refused() {
    let app = exact_app(ring());
    let good = token("ed", &["viewer"]);
    assert_eq!(
        get_as(&app, "/me", Some(&good)).await.status,
        StatusCode::OK
    );
    // The remembered token's signature glued to claims that make the caller an admin.
    let (signed, signature) = good.rsplit_once('.').unwrap();
    let (head, _) = signed.split_once('.').unwrap();
    let glued = format!("{head}.{}.{signature}", b64(&claims("alice", &["admin"])));
    let reply = get_as(&app, "/me", Some(&glued)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.reason(), Some("bad_signature"));
    assert_eq!(
        get_as(&app, "/me", Some(&good)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_latest_expiry_accepted_is_a_time_the_context_holds() {
    // Found by the authorization_header fuzz target: a signed token with `exp` = u64::MAX made
    // `UserContext::expires_at` overflow. Such a token is now refused, and the latest `exp`
    // accepted is a time the context can name.
    let alg = Algorithm::HS256;
    let mut c = claims("alice", &["viewer"]);
    c["exp"] = json!(u64::MAX);
    let unbounded = forge(header("HS256", "hs"), c.clone(), &encoding_key(alg), alg);
    c["exp"] = json!(MAX_NUMERIC_DATE);
    let latest = forge(header("HS256", "hs"), c, &encoding_key(alg), alg);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let probe = seen.clone();
    let app = routes()
        .route(
            "/expiry",
            axum::routing::get(move |user: portcullis::UserContext| async move {
                *probe.lock().unwrap() = Some(user.expires_at());
                "ok"
            }),
        )
        .layer(
            AuthGateway::new()
                .strategy(BearerStrategy::new(ring(), rules()))
                .build()
                .unwrap(),
        );
    let refused = get_as(&app, "/expiry", Some(&unbounded)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(*seen.lock().unwrap(), None, "the handler never ran");
    let reply = get_as(&app, "/expiry", Some(&latest)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let year_9999 = std::time::UNIX_EPOCH + std::time::Duration::from_secs(MAX_NUMERIC_DATE);
    assert_eq!(*seen.lock().unwrap(), Some(Some(year_9999)));
}
