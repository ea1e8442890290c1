//! The extension points through the real router: strategies and enrichers written as closures,
//! a third-party enricher granting permissions, and (below) a custom renderer reaching every
//! route the crate hands out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{ReadCatalog, send};
use http::{Request, StatusCode};
use portcullis::rbac::{Permission, PermissionSet};
use portcullis::strategy::{Outcome, strategy_fn};
use portcullis::{
    AuthError, AuthGateway, AuthMethod, MaybeReady, RequirePermission, UserContext, enricher_fn,
};

/// A closure strategy that believes the `x-user` header (a sidecar's, in real life).
fn header_strategy() -> impl portcullis::strategy::Strategy {
    strategy_fn("x-user", |parts| {
        MaybeReady::ready(
            match parts.headers.get("x-user").and_then(|v| v.to_str().ok()) {
                None => Outcome::NotMine,
                Some(user) => {
                    Outcome::Authenticated(UserContext::new(user, AuthMethod::Custom("x-user")))
                }
            },
        )
    })
}

fn get_as(path: &str, user: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(user) = user {
        builder = builder.header("x-user", user);
    }
    builder.body(Body::empty()).unwrap()
}

fn catalog_app(gateway: AuthGateway) -> Router {
    Router::new()
        .route(
            "/books",
            get(|_: RequirePermission<ReadCatalog>| async { "books" }),
        )
        .route(
            "/me",
            get(|user: UserContext| async move { user.subject().to_owned() }),
        )
        .layer(gateway.build().unwrap())
}

#[tokio::test]
async fn closure_strategy_authenticates_and_a_closure_enricher_grants_permissions() {
    let services = Arc::new(PermissionSet::compile(
        [Permission::parse("read:Catalog").unwrap()],
        [],
    ));
    let gateway = AuthGateway::new()
        .strategy(header_strategy())
        .enricher(enricher_fn(move |ctx| {
            if ctx.subject().starts_with("svc-") {
                ctx.set_permissions(services.clone());
            }
            MaybeReady::ready(Ok(()))
        }));
    let app = catalog_app(gateway);

    let reply = send(&app, get_as("/books", Some("svc-indexer"))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "books");

    // Authenticated by the same closure, but not granted by the enricher.
    let reply = send(&app, get_as("/books", Some("alice"))).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = send(&app, get_as("/me", Some("alice"))).await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (StatusCode::OK, "alice")
    );

    // The closure said NotMine and no other strategy found credentials.
    let reply = send(&app, get_as("/books", None)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn async_closures_borrow_the_request_and_fail_closed() {
    // An asynchronous strategy that reads the header inside its future, and an asynchronous
    // enricher whose "store" is down for one subject.
    let gateway = AuthGateway::new()
        .strategy(strategy_fn("async-x-user", |parts| {
            MaybeReady::new(async move {
                tokio::task::yield_now().await;
                match parts.headers.get("x-user").and_then(|v| v.to_str().ok()) {
                    None => Outcome::NotMine,
                    Some("") => Outcome::Rejected(AuthError::InvalidRequest("empty x-user")),
                    Some(user) => Outcome::Authenticated(UserContext::new(
                        user,
                        AuthMethod::Custom("async-x-user"),
                    )),
                }
            })
        }))
        .enricher(enricher_fn(|ctx| {
            MaybeReady::new(async move {
                tokio::task::yield_now().await;
                if ctx.subject() == "down" {
                    return Err(AuthError::Unavailable);
                }
                ctx.set_permissions(Arc::new(PermissionSet::compile(
                    [Permission::parse("*:*").map_err(|_| AuthError::Unavailable)?],
                    [],
                )));
                Ok(())
            })
        }));
    let app = catalog_app(gateway);

    assert_eq!(
        send(&app, get_as("/books", Some("bob"))).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, get_as("/books", Some(""))).await.status,
        StatusCode::BAD_REQUEST
    );
    let reply = send(&app, get_as("/books", Some("down"))).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.header("retry-after").is_some());
}

mod renderer {
    use super::*;
    use http::header::CONTENT_TYPE;
    use portcullis::api_key::ApiKeyStrategy;
    use portcullis::api_key::ApiKeys;
    use portcullis::identity::{IDENTITY_PUBLIC_PATHS, IdentityConfig};
    use portcullis::rbac::RolePolicy;
    use portcullis::session::{SessionConfig, Sessions};
    use portcullis::store::MemoryStore;
    use portcullis::{PROBLEM_JSON, Problem};
    use serde_json::{Value, json};

    const PASSWORD: &str = "correct horse battery staple";

    /// Every route the crate hands out, behind one gateway; with `custom`, a closure renders
    /// every error as `custom: <status>` in plain text.
    async fn app(custom: bool) -> Router {
        let store = MemoryStore::new();
        let identity = common::fast_identity(store.clone(), IdentityConfig::default()).await;
        identity
            .register("ada@example.com", PASSWORD)
            .await
            .unwrap();
        let keys = ApiKeys::builder(store.clone())
            .owners(identity.clone())
            .build();
        let sessions = Sessions::new(identity.clone(), SessionConfig::default());
        let policy = RolePolicy::default();
        let mut gateway = AuthGateway::new()
            .strategy(identity.bearer())
            .strategy(ApiKeyStrategy::new(keys.clone()))
            .strategy(header_strategy())
            .enricher(enricher_fn(move |ctx| {
                if ctx.subject() == "down" {
                    return MaybeReady::ready(Err(AuthError::Unavailable));
                }
                ctx.set_permissions(policy.permissions_for(ctx.roles()));
                MaybeReady::ready(Ok(()))
            }))
            .public_paths(IDENTITY_PUBLIC_PATHS)
            .public_path("/auth/session");
        if custom {
            gateway = gateway.error_renderer(|problem: &Problem| {
                (
                    problem.status(),
                    [(CONTENT_TYPE, "text/plain")],
                    format!("custom: {}", problem.status().as_u16()),
                )
            });
        }
        #[cfg(feature = "oauth2")]
        {
            gateway = gateway.public_prefix(portcullis::oauth::OAUTH_PUBLIC_PREFIX);
        }
        #[cfg_attr(not(feature = "oauth2"), allow(unused_mut))] // merged into with oauth2 only
        let mut app = Router::new()
            .route(
                "/books",
                get(|_: RequirePermission<ReadCatalog>| async { "books" }),
            )
            .merge(identity.router())
            .merge(keys.router())
            .merge(sessions.router());
        #[cfg(feature = "oauth2")]
        {
            let login =
                portcullis::oauth::OAuthLogin::new(identity.clone(), sessions, vec![]).unwrap();
            app = app.merge(login.router());
        }
        app.layer(gateway.build().unwrap())
    }

    fn post_json(path: &str, body: Value, bearer: Option<&str>) -> Request<Body> {
        let mut builder = Request::post(path).header("content-type", "application/json");
        if let Some(token) = bearer {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        builder.body(Body::from(body.to_string())).unwrap()
    }

    fn assert_custom(reply: &common::Reply, status: StatusCode) {
        assert_eq!(reply.status, status, "{}", reply.text());
        assert_eq!(reply.text(), format!("custom: {}", status.as_u16()));
        assert_eq!(reply.header("content-type"), Some("text/plain"));
    }

    #[tokio::test]
    async fn a_closure_renderer_reaches_every_handed_out_route() {
        let app = app(true).await;

        // Identity: bad credentials (401) and bad input (400).
        let wrong = json!({"email": "ada@example.com", "password": "not the password"});
        let reply = send(&app, post_json("/auth/login", wrong.clone(), None)).await;
        assert_custom(&reply, StatusCode::UNAUTHORIZED);
        // What the crate set for the protocol's sake stays.
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let reply = send(
            &app,
            post_json("/auth/register", json!({"email": "bo@example.com"}), None),
        )
        .await;
        assert_custom(&reply, StatusCode::BAD_REQUEST);
        // The body extractor's own refusal too.
        let request = Request::post("/auth/register")
            .header("content-type", "text/plain")
            .body(Body::from("hi"))
            .unwrap();
        assert_custom(
            &send(&app, request).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        );

        // API keys: someone else's or an unknown key is 404.
        let login = json!({"email": "ada@example.com", "password": PASSWORD});
        let reply = send(&app, post_json("/auth/login", login, None)).await;
        assert_eq!(reply.status, StatusCode::OK);
        let token = reply.json()["access_token"].as_str().unwrap().to_owned();
        let request = Request::delete("/auth/api-keys/no-such-key")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        assert_custom(&send(&app, request).await, StatusCode::NOT_FOUND);

        // Sessions: a sign-in from no allowed origin.
        let request = Request::post("/auth/session")
            .header("content-type", "application/json")
            .body(Body::from(wrong.to_string()))
            .unwrap();
        assert_custom(&send(&app, request).await, StatusCode::FORBIDDEN);

        // OpenID: an API client asking for a provider that does not exist.
        #[cfg(feature = "oauth2")]
        {
            let request = Request::get("/auth/oauth/nope/authorize")
                .header("accept", "application/json")
                .body(Body::empty())
                .unwrap();
            let reply = send(&app, request).await;
            assert_custom(&reply, StatusCode::NOT_FOUND);
            assert_eq!(reply.header("vary"), Some("accept"));
        }

        // The extractors and the gateway.
        assert_custom(
            &send(&app, get_as("/books", Some("alice"))).await,
            StatusCode::FORBIDDEN,
        );
        let reply = send(&app, get_as("/books", None)).await;
        assert_custom(&reply, StatusCode::UNAUTHORIZED);
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Bearer realm=\"portcullis\"")
        );
        let reply = send(&app, get_as("/books", Some("down"))).await;
        assert_custom(&reply, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.header("retry-after"), Some("5"));
    }

    #[tokio::test]
    async fn throttling_keeps_its_retry_after_under_a_custom_renderer() {
        let app = app(true).await;
        let wrong = json!({"email": "ada@example.com", "password": "not the password"});
        let mut throttled = None;
        for _ in 0..10 {
            let reply = send(&app, post_json("/auth/login", wrong.clone(), None)).await;
            if reply.status == StatusCode::TOO_MANY_REQUESTS {
                throttled = Some(reply);
                break;
            }
            assert_custom(&reply, StatusCode::UNAUTHORIZED);
        }
        let reply = throttled.expect("the account is throttled after repeated failures");
        assert_custom(&reply, StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = reply.header("retry-after").unwrap().parse().unwrap();
        assert!(wait >= 1);
    }

    #[tokio::test]
    async fn without_a_renderer_the_routes_answer_problem_json() {
        let app = app(false).await;
        let wrong = json!({"email": "ada@example.com", "password": "not the password"});
        let reply = send(&app, post_json("/auth/login", wrong, None)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.header("content-type"), Some(PROBLEM_JSON));
        assert_eq!(
            reply.text(),
            r#"{"type":"about:blank","title":"Unauthorized","status":401,"detail":"The e-mail address or password is incorrect.","code":"bad_credentials"}"#
        );
        let reply = send(&app, get_as("/books", Some("alice"))).await;
        assert_eq!(
            reply.text(),
            r#"{"type":"about:blank","title":"Forbidden","status":403,"detail":"This request requires the permission read:Catalog.","reason":"deny_no_roles","required":{"permission":"read:Catalog"},"code":"forbidden"}"#
        );
    }
}

/// Counts its calls; answers at once or after a yield, as told; declares itself retry-safe or
/// not.
struct Counting {
    calls: Arc<std::sync::atomic::AtomicUsize>,
    waits: bool,
    retry_safe: bool,
}

impl portcullis::strategy::Strategy for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }

    fn authenticate<'a>(&'a self, parts: &'a http::request::Parts) -> MaybeReady<'a, Outcome> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let outcome = match parts.headers.get("x-user") {
            None => Outcome::NotMine,
            Some(_) => Outcome::Authenticated(
                UserContext::new("u1", AuthMethod::Custom("counting")).with_roles(["viewer"]),
            ),
        };
        if self.waits {
            MaybeReady::new(async move {
                tokio::task::yield_now().await;
                outcome
            })
        } else {
            MaybeReady::ready(outcome)
        }
    }

    fn retry_safe(&self) -> bool {
        self.retry_safe
    }
}

/// The gateway answers cached credentials on the caller's stack and may, for that, ask a
/// strategy twice; only one that says it is retry-safe. Any other is asked exactly once per
/// request, ready or not, and each way the request gets the same answer.
#[tokio::test]
async fn only_a_retry_safe_strategy_is_ever_asked_twice() {
    for (waits, retry_safe, calls_per_request) in [
        (false, false, 1),
        (true, false, 1),
        (false, true, 1),
        (true, true, 2), // asked on the stack, not ready, asked again in the boxed future
    ] {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let strategy = Counting {
            calls: calls.clone(),
            waits,
            retry_safe,
        };
        let app = catalog_app(AuthGateway::new().strategy(strategy).public_path("/open"));
        for round in 1..=3 {
            let reply = send(&app, get_as("/books", Some("u1"))).await;
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "waits {waits}, retry-safe {retry_safe}"
            );
            let anonymous = send(&app, get_as("/books", None)).await;
            assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
            // Two requests a round; the anonymous one waits too when the strategy does.
            assert_eq!(
                calls.load(std::sync::atomic::Ordering::SeqCst),
                round * 2 * calls_per_request,
                "waits {waits}, retry-safe {retry_safe}, round {round}"
            );
        }
    }
}

/// The same for enrichers: one that is not retry-safe runs once per request.
#[tokio::test]
async fn an_enricher_that_is_not_retry_safe_runs_once_per_request() {
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = runs.clone();
    let enricher = enricher_fn(move |ctx| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ctx.set_permissions(Arc::new(PermissionSet::compile(
            [Permission::parse("read:Catalog").unwrap()],
            [],
        )));
        MaybeReady::ready(Ok(()))
    });
    let app = catalog_app(
        AuthGateway::new()
            .strategy(header_strategy())
            .enricher(enricher),
    );
    for round in 1..=3 {
        assert_eq!(
            send(&app, get_as("/books", Some("u1"))).await.status,
            StatusCode::OK
        );
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), round);
    }
}

/// When a later strategy has to wait, the ones before it that answered `NotMine` at once are
/// not asked again in the boxed future; and the public-path and optional-mode rules hold on
/// both paths.
#[tokio::test]
async fn strategies_before_a_waiting_one_are_asked_once_and_the_rules_hold_on_both_paths() {
    for waits in [false, true] {
        let first = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let second = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let gateway = |mode_optional: bool| {
            let g = AuthGateway::new()
                .strategy(Counting {
                    calls: first.clone(),
                    waits: false,
                    retry_safe: true,
                })
                .strategy(Counting {
                    calls: second.clone(),
                    waits,
                    retry_safe: true,
                })
                .public_path("/open");
            if mode_optional { g.optional() } else { g }
        };
        let app = Router::new()
            .route("/open", get(|| async { "open" }))
            .route(
                "/books",
                get(|_: RequirePermission<ReadCatalog>| async { "books" }),
            )
            .route(
                "/who",
                get(|user: Option<UserContext>| async move {
                    user.map_or("nobody".to_owned(), |u| u.subject().to_owned())
                }),
            );
        let required = app.clone().layer(gateway(false).build().unwrap());
        // Requests with `x-user` are answered by the first strategy; anonymous ones pass it
        // (`NotMine`, at once) and reach the second, which waits when told to: the first must
        // not be asked again in the boxed future.
        let ok = send(&required, get_as("/books", Some("u1"))).await;
        assert_eq!(ok.status, StatusCode::OK, "waits {waits}");
        assert_eq!(
            first.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "waits {waits}"
        );
        assert_eq!(
            send(&required, get_as("/books", None)).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            send(&required, get_as("/open", None)).await.status,
            StatusCode::OK
        );
        assert_eq!(
            send(&required, get_as("/who", None)).await.status,
            StatusCode::UNAUTHORIZED
        );
        let optional = app.layer(gateway(true).build().unwrap());
        let anonymous = send(&optional, get_as("/who", None)).await;
        assert_eq!(
            (anonymous.status, anonymous.text().as_str()),
            (StatusCode::OK, "nobody")
        );
        let known = send(&optional, get_as("/who", Some("u1"))).await;
        assert_eq!(
            (known.status, known.text().as_str()),
            (StatusCode::OK, "u1")
        );
        // Each of the six requests asked the first strategy exactly once.
        assert_eq!(
            first.load(std::sync::atomic::Ordering::SeqCst),
            6,
            "waits {waits}"
        );
    }
}
