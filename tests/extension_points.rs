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
    assert_eq!((reply.status, reply.text().as_str()), (StatusCode::OK, "alice"));

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
