//! The gateway and the extractors through the real router: chain semantics, public paths,
//! optional mode, 401/403 rendering, route layers, the missing-layer error, custom renderers and
//! custom roles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::*;
use http::request::Parts;
use http::{Request, StatusCode};
use portcullis::rbac::{Role, RolePolicy};
use portcullis::strategy::{BearerStrategy, Outcome, Strategy};
use portcullis::{
    AuthError, AuthGateway, AuthMethod, ErrorRenderer, GatewayError, MaybeReady, RequireLayer,
    UserContext, require_action,
};
use serde_json::json;

fn request(method: &str, path: &str, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        builder = builder.header("authorization", format!("Bearer {t}"));
    }
    builder.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn no_credentials_is_a_plain_challenge() {
    let reply = get_as(&app(), "/books", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer realm="test""#)
    );
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(reply.json()["status"], 401);
}

#[tokio::test]
async fn permission_matrix_of_the_builtin_roles() {
    let app = app();
    let viewer = token("es", &["viewer"]);
    let editor = token("es", &["editor"]);
    let admin = token("es", &["admin"]);
    let nobody = token("es", &[]);
    let cases = [
        ("GET", "/books", &viewer, StatusCode::OK),
        ("GET", "/books", &nobody, StatusCode::FORBIDDEN),
        ("POST", "/books/1/reviews", &viewer, StatusCode::FORBIDDEN),
        ("POST", "/books/1/reviews", &editor, StatusCode::OK),
        ("DELETE", "/books/1", &editor, StatusCode::FORBIDDEN),
        ("DELETE", "/books/1", &admin, StatusCode::NO_CONTENT),
        ("GET", "/reports/export", &editor, StatusCode::FORBIDDEN),
        ("GET", "/reports/export", &admin, StatusCode::OK),
        ("GET", "/admin/stats", &viewer, StatusCode::OK),
        ("GET", "/admin/stats", &nobody, StatusCode::FORBIDDEN),
    ];
    for (method, path, token, want) in cases {
        let reply = send(&app, request(method, path, Some(token))).await;
        assert_eq!(reply.status, want, "{method} {path}: {}", reply.text());
    }
}

#[tokio::test]
async fn forbidden_is_problem_json_naming_the_requirement() {
    let app = app();
    let viewer = token("es", &["viewer"]);
    let reply = send(&app, request("POST", "/books/1/reviews", Some(&viewer))).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    assert!(reply.header("www-authenticate").is_none());
    let body = reply.json();
    assert_eq!(body["status"], 403);
    assert_eq!(body["title"], "Forbidden");
    assert_eq!(
        body["required"],
        json!({"permission": "write:Catalog.Review"})
    );
    assert_eq!(body["reason"], "deny_no_permission");

    let reply = get_as(&app, "/reports/export", Some(&viewer)).await;
    assert_eq!(
        reply.json()["required"],
        json!({"action": "reports:export"})
    );
    let reply = get_as(&app, "/admin/stats", Some(&token("es", &[]))).await;
    assert_eq!(
        reply.json()["required"],
        json!({"permission": "read:Admin"})
    );
}

#[tokio::test]
async fn public_paths_need_no_credentials_but_refuse_bad_ones() {
    let app = app();
    assert_eq!(get_as(&app, "/health", None).await.status, StatusCode::OK);
    assert_eq!(
        get_as(&app, "/health", Some("garbage")).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Exact match only: a look-alike path is not public.
    assert_eq!(
        get_as(&app, "//health", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_as(&app, "/health/", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_as(&app, "/healthz", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn public_prefixes() {
    let app = Router::new()
        .route("/static/{*file}", get(|| async { "file" }))
        .route("/private", get(|| async { "secret" }))
        .layer(
            AuthGateway::new()
                .strategy(BearerStrategy::new(ring(), rules()))
                .public_prefix("/static/")
                .build()
                .unwrap(),
        );
    assert_eq!(
        get_as(&app, "/static/app.js", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get_as(&app, "/private", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_as(&app, "/staticx", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn optional_mode_lets_anonymous_through_without_a_context() {
    let app = routes().layer(gateway(RolePolicy::default()).optional().build().unwrap());
    assert_eq!(get_as(&app, "/maybe", None).await.text(), "anonymous");
    assert_eq!(
        get_as(&app, "/maybe", Some(&token("es", &[]))).await.text(),
        "alice"
    );
    // Extractors that need a context still answer 401, with the challenge.
    let reply = get_as(&app, "/me", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer realm="test""#)
    );
    assert_eq!(
        get_as(&app, "/books", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_as(&app, "/admin/stats", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Bad credentials are still refused in optional mode.
    assert_eq!(
        get_as(&app, "/maybe", Some("garbage")).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// A strategy that accepts anyone naming themselves in `x-test-user`, and counts its calls.
struct HeaderStrategy(Arc<AtomicUsize>);

impl Strategy for HeaderStrategy {
    fn name(&self) -> &'static str {
        "header"
    }
    fn authenticate<'a>(&'a self, request: &'a Parts) -> MaybeReady<'a, Outcome> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let user = request
            .headers
            .get("x-test-user")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        MaybeReady::new(async move {
            tokio::task::yield_now().await; // a strategy that really awaits
            match user {
                None => Outcome::NotMine,
                Some(u) => Outcome::Authenticated(
                    UserContext::new(u, AuthMethod::Custom("header")).with_roles(["admin"]),
                ),
            }
        })
    }
}

#[tokio::test]
async fn bad_credentials_never_fall_through_to_the_next_strategy() {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = routes().layer(
        AuthGateway::new()
            .strategy(BearerStrategy::new(ring(), rules()))
            .strategy(HeaderStrategy(calls.clone()))
            .build()
            .unwrap(),
    );
    let bad = Request::get("/me")
        .header("authorization", "Bearer garbage")
        .header("x-test-user", "mallory")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, bad).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the second strategy must not even be asked"
    );

    // No bearer credentials at all: the next strategy decides, and is enriched by RBAC.
    let other = Request::get("/books")
        .header("x-test-user", "heidi")
        .body(Body::empty())
        .unwrap();
    let reply = send(&app, other).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A good bearer token decides first: the second strategy is not asked.
    let both = Request::get("/me")
        .header("authorization", format!("Bearer {}", token("es", &[])))
        .header("x-test-user", "heidi")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, both).await.json()["subject"], "alice");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_missing_gateway_layer_is_a_clear_500() {
    let app = routes(); // no gateway at all
    for path in ["/me", "/maybe", "/books", "/admin/stats"] {
        let reply = get_as(&app, path, Some(&token("es", &["admin"]))).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert!(
            reply.text().contains("portcullis::AuthLayer"),
            "{path}: {}",
            reply.text()
        );
    }
}

#[tokio::test]
async fn a_custom_renderer_serves_gateway_extractor_and_route_layer_errors() {
    struct Teapot;
    impl ErrorRenderer for Teapot {
        fn render(&self, error: &AuthError, _realm: &str) -> Response {
            (
                StatusCode::IM_A_TEAPOT,
                format!("custom {}", error.status().as_u16()),
            )
                .into_response()
        }
    }
    let app = routes().layer(
        gateway(RolePolicy::default())
            .error_renderer(Teapot)
            .build()
            .unwrap(),
    );
    let viewer = token("es", &["viewer"]);
    for (method, path, token, want) in [
        ("GET", "/me", None, "custom 401"),
        ("GET", "/me", Some("garbage"), "custom 401"),
        (
            "POST",
            "/books/1/reviews",
            Some(viewer.as_str()),
            "custom 403",
        ),
        (
            "GET",
            "/admin/stats",
            Some(token_str(&[]).as_str()),
            "custom 403",
        ),
    ] {
        let reply = send(&app, request(method, path, token)).await;
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (StatusCode::IM_A_TEAPOT, want),
            "{method} {path}"
        );
    }
}

fn token_str(roles: &[&str]) -> String {
    token("es", roles)
}

#[tokio::test]
async fn custom_roles_from_toml_replace_builtins() {
    let roles = portcullis::rbac::roles_from_toml(
        r#"
        [roles.viewer]
        description = "Only the catalog"
        permissions = ["read:Catalog"]

        [roles.reporter]
        permissions = ["read:Catalog"]
        actions = ["reports:*"]
        "#,
    )
    .unwrap();
    let app = routes().layer(
        gateway(RolePolicy::builder().roles(roles).build().unwrap())
            .build()
            .unwrap(),
    );
    let viewer = token("es", &["viewer"]);
    assert_eq!(
        get_as(&app, "/books", Some(&viewer)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get_as(&app, "/admin/stats", Some(&viewer)).await.status,
        StatusCode::FORBIDDEN,
        "the replaced viewer no longer reads everything"
    );
    let reporter = token("es", &["reporter"]);
    assert_eq!(
        get_as(&app, "/reports/export", Some(&reporter))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn roles_in_code_and_multiple_roles_combine() {
    let policy = RolePolicy::builder()
        .role(Role::new("reviewer").grant("write:Catalog.Review").unwrap())
        .role(
            Role::new("exporter")
                .grant_action("reports:export")
                .unwrap(),
        )
        .build()
        .unwrap();
    let app = routes().layer(gateway(policy).build().unwrap());
    let both = token("es", &["reviewer", "exporter"]);
    assert_eq!(
        send(&app, request("POST", "/books/1/reviews", Some(&both)))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get_as(&app, "/reports/export", Some(&both)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get_as(&app, "/books", Some(&both)).await.status,
        StatusCode::FORBIDDEN
    );
    let unknown = token("es", &["no-such-role"]);
    assert_eq!(
        get_as(&app, "/books", Some(&unknown)).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn route_layers_from_declared_types_and_strings() {
    let app = Router::new()
        .route("/a", get(|| async { "a" }))
        .route_layer(RequireLayer::permission::<WriteReview>())
        .merge(
            Router::new()
                .route("/b", get(|| async { "b" }))
                .route_layer(require_action("reports:export").unwrap()),
        )
        .layer(gateway(RolePolicy::default()).build().unwrap());
    assert_eq!(
        get_as(&app, "/a", Some(&token("es", &["editor"])))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get_as(&app, "/a", Some(&token("es", &["viewer"])))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get_as(&app, "/b", Some(&token("es", &["admin"])))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get_as(&app, "/b", Some(&token("es", &["editor"])))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert!(
        portcullis::require_permission("write:Catalog.*").is_err(),
        "malformed at start-up"
    );
    assert!(require_action("Reports").is_err());
}

#[tokio::test]
async fn an_injected_context_is_not_trusted() {
    // An inner layer cannot forge a context before the gateway: the gateway clears it.
    let app = routes()
        .layer(gateway(RolePolicy::default()).build().unwrap())
        .layer(axum::middleware::from_fn(
            |mut req: Request<Body>, next: axum::middleware::Next| async move {
                req.extensions_mut()
                    .insert(UserContext::new("forged", AuthMethod::Bearer).with_roles(["admin"]));
                next.run(req).await
            },
        ));
    assert_eq!(
        get_as(&app, "/me", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn builder_refuses_bad_configuration() {
    assert_eq!(
        AuthGateway::new().build().err(),
        Some(GatewayError::NoStrategy)
    );
    let with = || AuthGateway::new().strategy(BearerStrategy::new(ring(), rules()));
    assert_eq!(
        with().realm("a\"b").build().err(),
        Some(GatewayError::InvalidRealm)
    );
    assert_eq!(
        with().realm("").build().err(),
        Some(GatewayError::InvalidRealm)
    );
    assert!(matches!(
        with().public_path("health").build(),
        Err(GatewayError::InvalidPublicPath(_))
    ));
}

#[tokio::test]
async fn service_unavailable_fails_closed() {
    struct Down;
    impl Strategy for Down {
        fn name(&self) -> &'static str {
            "down"
        }
        fn authenticate<'a>(&'a self, _: &'a Parts) -> MaybeReady<'a, Outcome> {
            MaybeReady::ready(Outcome::Rejected(AuthError::Unavailable))
        }
    }
    let app = routes().layer(AuthGateway::new().strategy(Down).build().unwrap());
    let reply = get_as(&app, "/books", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.header("retry-after"), Some("5"));
}

#[tokio::test]
async fn the_missing_layer_is_logged_and_tokens_never_are() {
    let captured = Captured::global();

    let good = token("es", &["viewer"]);
    let reply = get_as(&routes(), "/me", Some(&good)).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);

    // Refused tokens are logged with their reason only.
    let app = app();
    let (message, _) = good.rsplit_once('.').unwrap();
    let bad = format!("{message}.AAAA");
    assert_eq!(
        get_as(&app, "/me", Some(&bad)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_as(&app, "/me", Some(&good)).await.status,
        StatusCode::OK
    );

    let logs = captured.text();
    assert!(
        logs.contains("ERROR") && logs.contains("portcullis::AuthLayer"),
        "{logs}"
    );
    assert!(
        logs.contains("bad_signature"),
        "the reason is logged: {logs}"
    );
    for secret in [good.as_str(), message, bad.as_str()] {
        assert!(!logs.contains(secret), "a token reached the logs");
    }
    let payload = message.split('.').nth(1).unwrap();
    assert!(!logs.contains(payload), "a token payload reached the logs");
}
