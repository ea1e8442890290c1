//! The decision seam through the real router: every way the crate checks access (extractors,
//! route layers, `UserContext::require_*`, `authorize`) asks the gateway's authorizer, shows
//! the decision to the observers and answers with its reason code; an authorizer that must wait
//! is awaited, and one whose store is down answers 503, never 200.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{ReadCatalog, WriteReview, send};
use http::{Request, StatusCode};
use portcullis::authz::{Authorizer, Decision, DecisionEvent, DecisionObserver, Question, Scope};
use portcullis::rbac::{Permission, Role, RolePolicy};
use portcullis::strategy::{Outcome, strategy_fn};
use portcullis::{
    AuthError, AuthGateway, AuthMethod, MaybeReady, Reason, RequireAction, RequirePermission,
    Requirement, UserContext, action, require_permission,
};

action!(ExportReports = "reports:export");

/// Believes the `x-user`, `x-roles` (comma-separated) and `x-tenant` headers.
fn header_strategy() -> impl portcullis::strategy::Strategy {
    strategy_fn("headers", |parts| {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        MaybeReady::ready(match header("x-user") {
            None => Outcome::NotMine,
            Some(user) => {
                let roles: Vec<&str> = header("x-roles")
                    .map(|r| r.split(',').filter(|r| !r.is_empty()).collect())
                    .unwrap_or_default();
                let mut ctx =
                    UserContext::new(user, AuthMethod::Custom("headers")).with_roles(roles);
                if let Some(tenant) = header("x-tenant") {
                    ctx = ctx.with_tenant(tenant);
                }
                Outcome::Authenticated(ctx)
            }
        })
    })
}

fn policy() -> RolePolicy {
    RolePolicy::builder()
        .role(Role::new("reviewer").grant("write:Catalog.Review").unwrap())
        .role(Role::new("reporter").grant_action("reports:*").unwrap())
        .build()
        .unwrap()
}

/// One decision as recorded: subject, requirement, reason code, route, `role=grant` matched.
type Seen = (String, String, &'static str, Option<String>, Option<String>);

/// Records every decision it is shown.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    matches: bool,
}

impl DecisionObserver for Recorder {
    fn observe(&self, event: &DecisionEvent<'_>) {
        let route = event.request().and_then(|r| r.route()).map(str::to_owned);
        let matched = event
            .decision()
            .matched()
            .map(|m| format!("{}={}", m.role().unwrap_or("-"), m.grant()));
        self.seen.lock().unwrap().push((
            event.context().subject().to_owned(),
            event.required().to_string(),
            event.decision().reason().code(),
            route,
            matched,
        ));
    }

    fn wants_matches(&self) -> bool {
        self.matches
    }
}

fn app(gateway: AuthGateway) -> Router {
    Router::new()
        .route(
            "/books",
            get(|_: RequirePermission<ReadCatalog>| async { "books" }),
        )
        .route(
            "/reviews",
            get(|_: RequirePermission<WriteReview>| async { "reviews" }),
        )
        .route(
            "/reports",
            get(|_: RequireAction<ExportReports>| async { "csv" }),
        )
        .route(
            "/by-hand",
            get(|ctx: UserContext| async move {
                ctx.require_permission(&Permission::parse("write:Catalog.Review").unwrap())
                    .map(|()| "done")
            }),
        )
        .merge(
            Router::new()
                .route("/admin", get(|| async { "admin" }))
                .route_layer(require_permission("*:Admin").unwrap()),
        )
        .layer(gateway.strategy(header_strategy()).build().unwrap())
}

fn get_as(path: &str, user: &str, roles: &str) -> Request<Body> {
    Request::get(path)
        .header("x-user", user)
        .header("x-roles", roles)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn every_check_goes_through_the_seam_and_answers_its_reason_code() {
    let recorder = Recorder::default();
    let app = app(AuthGateway::new().roles(policy()).observe(recorder.clone()));
    let cases = [
        ("/books", "viewer", StatusCode::OK, "allow"),
        ("/books", "", StatusCode::FORBIDDEN, "deny_no_roles"),
        (
            "/reviews",
            "viewer",
            StatusCode::FORBIDDEN,
            "deny_no_permission",
        ),
        ("/reviews", "reviewer", StatusCode::OK, "allow"),
        ("/reports", "reporter", StatusCode::OK, "allow"),
        (
            "/reports",
            "viewer",
            StatusCode::FORBIDDEN,
            "deny_no_permission",
        ),
        ("/by-hand", "reviewer", StatusCode::OK, "allow"),
        (
            "/by-hand",
            "nonexistent",
            StatusCode::FORBIDDEN,
            "deny_no_permission",
        ),
        ("/admin", "admin", StatusCode::OK, "allow"),
        (
            "/admin",
            "editor",
            StatusCode::FORBIDDEN,
            "deny_no_permission",
        ),
    ];
    for (path, roles, status, reason) in cases {
        let reply = send(&app, get_as(path, "ann", roles)).await;
        assert_eq!(
            reply.status,
            status,
            "{path} as {roles:?}: {}",
            reply.text()
        );
        if status == StatusCode::FORBIDDEN {
            let body = reply.json();
            assert_eq!(body["reason"], reason, "{path} as {roles:?}: {body}");
            assert!(body["required"].is_object(), "{body}");
        }
    }
    let seen = recorder.seen.lock().unwrap();
    let reasons: Vec<&str> = seen.iter().map(|s| s.2).collect();
    let expected: Vec<&str> = cases.iter().map(|c| c.3).collect();
    assert_eq!(reasons, expected, "one decision per check, in order");
    // The extractors and the route layer see the matched route; `require_*` outside a
    // request does not.
    assert_eq!(seen[0].3.as_deref(), Some("/books"));
    assert_eq!(seen[8].3.as_deref(), Some("/admin"));
    assert_eq!(seen[6].3, None);
    assert_eq!(seen[2].1, "permission write:Catalog.Review");
    assert!(seen.iter().all(|s| s.0 == "ann" && s.4.is_none()));
}

#[tokio::test]
async fn an_observer_that_wants_matches_sees_the_role_and_grant() {
    let recorder = Recorder {
        matches: true,
        ..Recorder::default()
    };
    let app = app(AuthGateway::new().roles(policy()).observe(recorder.clone()));
    for (path, roles) in [
        ("/reviews", "viewer,reviewer"),
        ("/reports", "reporter"),
        ("/books", "editor"),
        ("/reviews", "viewer"),
    ] {
        send(&app, get_as(path, "bo", roles)).await;
    }
    let matched: Vec<Option<String>> = recorder
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.4.clone())
        .collect();
    assert_eq!(
        matched,
        [
            Some("reviewer=write:Catalog.Review".to_owned()),
            Some("reporter=reports:*".to_owned()),
            Some("editor=read:*".to_owned()),
            None,
        ]
    );
}

/// An authorizer that asks a "store" (a sleep), and whose store can be down.
struct Remote {
    down: bool,
    asked: AtomicUsize,
}

impl Authorizer for Remote {
    fn decide<'a>(&'a self, question: Question<'a>) -> MaybeReady<'a, Decision> {
        MaybeReady::new(async move {
            self.asked.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(5)).await;
            let at = question.scope().clone();
            if self.down {
                return Decision::new(Reason::Unavailable, at);
            }
            let allowed = question.context().subject() == "friend";
            Decision::new(
                if allowed {
                    Reason::Allow
                } else {
                    Reason::DenyNoPermission
                },
                at,
            )
        })
    }
}

#[tokio::test]
async fn an_authorizer_that_waits_is_awaited_by_extractors_and_route_layers_in_flight() {
    let recorder = Recorder::default();
    let remote = Arc::new(Remote {
        down: false,
        asked: AtomicUsize::new(0),
    });
    struct Shared(Arc<Remote>);
    impl Authorizer for Shared {
        fn decide<'a>(&'a self, question: Question<'a>) -> MaybeReady<'a, Decision> {
            self.0.decide(question)
        }
    }
    let app = app(AuthGateway::new()
        .authorizer(Shared(remote.clone()))
        .observe(recorder.clone()));
    // Many requests in flight at once; each is decided by the authorizer for its own subject.
    let mut tasks = Vec::new();
    for i in 0..64 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let user = if i % 2 == 0 { "friend" } else { "stranger" };
            let path = if i % 4 < 2 { "/books" } else { "/admin" };
            (i, send(&app, get_as(path, user, "")).await.status)
        }));
    }
    for task in tasks {
        let (i, status) = task.await.unwrap();
        let expected = if i % 2 == 0 {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(status, expected, "request {i}");
    }
    assert_eq!(recorder.seen.lock().unwrap().len(), 64);
    // The route layer asks twice when it must wait (its first, borrowed answer is dropped
    // unpolled); the extractor asks once. Either way every request was decided.
    assert!(remote.asked.load(Ordering::Relaxed) >= 64);
    // `require_*` cannot wait: it fails closed.
    let reply = send(&app, get_as("/by-hand", "friend", "")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_store_that_is_down_answers_503_never_200() {
    let app = app(AuthGateway::new().authorizer(Remote {
        down: true,
        asked: AtomicUsize::new(0),
    }));
    for path in ["/books", "/reports", "/admin"] {
        let reply = send(&app, get_as(path, "friend", "admin")).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(reply.header("retry-after").is_some(), "{path}");
    }
}

#[tokio::test]
async fn a_check_about_another_tenant_is_refused_whatever_the_roles() {
    let policy = policy();
    let admin = UserContext::new("ann", AuthMethod::Bearer)
        .with_roles(["admin"])
        .with_tenant("acme");
    let admin = admin
        .clone()
        .with_permissions(policy.permissions_for(admin.roles()));
    let untenanted = UserContext::new("bo", AuthMethod::Bearer)
        .with_permissions(policy.permissions_for(&["admin".to_owned()]));
    let everything = Requirement::Permission(Permission::parse("*:*").unwrap());
    let acme = Scope::tenant("acme").unwrap();
    let globex = Scope::tenant("globex").unwrap();
    let deep = Scope::tenant("acme")
        .unwrap()
        .in_namespace("eng/sre")
        .unwrap();
    assert_eq!(
        admin.authorize(&everything, &acme).await.reason(),
        Reason::Allow
    );
    assert_eq!(
        admin.authorize(&everything, &deep).await.reason(),
        Reason::Allow
    );
    assert_eq!(
        admin
            .authorize(&everything, &Scope::global())
            .await
            .reason(),
        Reason::Allow
    );
    let elsewhere = admin.authorize(&everything, &globex).await;
    assert_eq!(elsewhere.reason(), Reason::DenyOtherTenant);
    assert_eq!(elsewhere.scope().tenant_id(), Some("globex"));
    assert_eq!(
        untenanted.authorize(&everything, &acme).await.reason(),
        Reason::DenyOtherTenant,
        "a credential of no tenant is no tenant's"
    );
    let refused = elsewhere.into_result(&everything).unwrap_err();
    match &refused {
        AuthError::Forbidden(denial) => {
            assert_eq!(denial.reason(), Reason::DenyOtherTenant);
            assert_eq!(denial.requirement(), Some(&everything));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn explain_names_the_grant_and_is_not_observed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let app = Router::new()
        .route(
            "/why",
            get(|ctx: UserContext| async move {
                let required =
                    Requirement::Permission(Permission::parse("write:Catalog.Review.X").unwrap());
                let decision = portcullis::authz::explain(&ctx, &required, &Scope::global()).await;
                let m = decision.matched().expect("allowed");
                format!("{}:{}", m.role().unwrap_or("-"), m.grant())
            }),
        )
        .layer(
            AuthGateway::new()
                .roles(policy())
                .observe(move |_: &DecisionEvent<'_>| {
                    counted.fetch_add(1, Ordering::Relaxed);
                })
                .strategy(header_strategy())
                .build()
                .unwrap(),
        );
    let reply = send(&app, get_as("/why", "ann", "viewer,reviewer")).await;
    assert_eq!(reply.text(), "reviewer:write:Catalog.Review");
    assert_eq!(calls.load(Ordering::Relaxed), 0);
}

mod tenants_on_the_request {
    use super::*;
    use portcullis::authz::{ScopeLayer, ScopeRule};

    fn as_tenant(path: &str, tenant: Option<&str>, roles: &str) -> http::request::Builder {
        let mut builder = Request::get(path)
            .header("x-user", "ann")
            .header("x-roles", roles);
        if let Some(tenant) = tenant {
            builder = builder.header("x-tenant", tenant);
        }
        builder
    }

    fn books() -> axum::routing::MethodRouter {
        get(|_: RequirePermission<ReadCatalog>| async { "books" })
    }

    fn scoped_app(recorder: Recorder) -> Router {
        let by_path = Router::new()
            .route("/orgs/{org}/books", books())
            .route("/orgs/{org}/teams/{team}/books", books())
            .route_layer(ScopeLayer::new(
                ScopeRule::tenant_from_path("org").namespace_from_path("team"),
            ));
        let by_path_no_team = Router::new()
            .route("/plain/{org}/books", books())
            .route_layer(ScopeLayer::new(ScopeRule::tenant_from_path("org")));
        let by_header = Router::new()
            .route("/header/books", books())
            .route_layer(ScopeLayer::new(
                ScopeRule::tenant_from_header("x-org").unwrap(),
            ));
        let by_claim = Router::new()
            .route("/mine/books", books())
            .route_layer(ScopeLayer::new(ScopeRule::tenant_from_context()));
        let layered = Router::new()
            .route("/layer/{org}/admin", get(|| async { "admin" }))
            .route_layer(
                require_permission("*:*")
                    .unwrap()
                    .in_scope(ScopeRule::tenant_from_path("org")),
            );
        // Misordered: the require layer is added last, so it runs first, globally; the
        // ScopeLayer then refuses rather than let a global check stand for a tenant's route.
        let misordered = Router::new()
            .route("/wrong/{org}/admin", get(|| async { "admin" }))
            .route_layer(ScopeLayer::new(ScopeRule::tenant_from_path("org")))
            .route_layer(require_permission("*:*").unwrap());
        let global_on_purpose = Router::new()
            .route("/staff/{org}/books", books())
            .route_layer(ScopeLayer::new(ScopeRule::tenant_from_path("org")))
            .route_layer(require_permission("read:*").unwrap().in_global_scope());
        Router::new()
            .merge(by_path)
            .merge(by_path_no_team)
            .merge(by_header)
            .merge(by_claim)
            .merge(layered)
            .merge(misordered)
            .merge(global_on_purpose)
            .layer(
                AuthGateway::new()
                    .roles(policy())
                    .observe(recorder)
                    .strategy(header_strategy())
                    .build()
                    .unwrap(),
            )
    }

    async fn status_reason(app: &Router, request: Request<Body>) -> (StatusCode, String) {
        let reply = send(app, request).await;
        let reason = reply.json()["reason"].as_str().unwrap_or("").to_owned();
        (reply.status, reason)
    }

    #[tokio::test]
    async fn another_tenant_is_refused_by_path_header_claim_and_route_layer() {
        let recorder = Recorder::default();
        let app = scoped_app(recorder.clone());
        let ok = (StatusCode::OK, String::new());
        let other = (StatusCode::FORBIDDEN, "deny_other_tenant".to_owned());
        let bad = (StatusCode::BAD_REQUEST, String::new());
        let empty = || Body::empty();
        let cases: Vec<(Request<Body>, (StatusCode, String))> = vec![
            // By path: her tenant, another one (even as admin), a malformed one.
            (
                as_tenant("/plain/acme/books", Some("acme"), "viewer")
                    .body(empty())
                    .unwrap(),
                ok.clone(),
            ),
            (
                as_tenant("/plain/globex/books", Some("acme"), "admin")
                    .body(empty())
                    .unwrap(),
                other.clone(),
            ),
            (
                as_tenant("/plain/globex/books", None, "admin")
                    .body(empty())
                    .unwrap(),
                other.clone(),
            ),
            (
                as_tenant("/plain/a%20b/books", Some("a b"), "admin")
                    .body(empty())
                    .unwrap(),
                bad.clone(),
            ),
            // With a namespace from the path.
            (
                as_tenant("/orgs/acme/teams/sre/books", Some("acme"), "viewer")
                    .body(empty())
                    .unwrap(),
                ok.clone(),
            ),
            (
                as_tenant("/orgs/globex/teams/sre/books", Some("acme"), "admin")
                    .body(empty())
                    .unwrap(),
                other.clone(),
            ),
            (
                as_tenant("/orgs/acme/teams/SRE/books", Some("acme"), "viewer")
                    .body(empty())
                    .unwrap(),
                bad.clone(),
            ),
            // A namespace from the path is one segment: a decoded `/` is refused.
            (
                as_tenant("/orgs/acme/teams/sre%2Fadmin/books", Some("acme"), "viewer")
                    .body(empty())
                    .unwrap(),
                bad.clone(),
            ),
            // By header: hers, another, none, twice.
            (
                as_tenant("/header/books", Some("acme"), "viewer")
                    .header("x-org", "acme")
                    .body(empty())
                    .unwrap(),
                ok.clone(),
            ),
            (
                as_tenant("/header/books", Some("acme"), "admin")
                    .header("x-org", "globex")
                    .body(empty())
                    .unwrap(),
                other.clone(),
            ),
            (
                as_tenant("/header/books", Some("acme"), "admin")
                    .body(empty())
                    .unwrap(),
                bad.clone(),
            ),
            (
                as_tenant("/header/books", Some("acme"), "admin")
                    .header("x-org", "acme")
                    .header("x-org", "globex")
                    .body(empty())
                    .unwrap(),
                bad.clone(),
            ),
            // By claim: scoped to her own tenant; a credential of no tenant is no tenant's.
            (
                as_tenant("/mine/books", Some("acme"), "viewer")
                    .body(empty())
                    .unwrap(),
                ok.clone(),
            ),
            (
                as_tenant("/mine/books", None, "admin")
                    .body(empty())
                    .unwrap(),
                other.clone(),
            ),
            // A route layer with its own scope.
            (
                as_tenant("/layer/acme/admin", Some("acme"), "admin")
                    .body(empty())
                    .unwrap(),
                ok.clone(),
            ),
            (
                as_tenant("/layer/globex/admin", Some("acme"), "admin")
                    .body(empty())
                    .unwrap(),
                other.clone(),
            ),
        ];
        for (i, (request, expected)) in cases.into_iter().enumerate() {
            let got = status_reason(&app, request).await;
            assert_eq!(got.0, expected.0, "case {i}: {got:?}");
            if expected.0 == StatusCode::FORBIDDEN {
                assert_eq!(got.1, expected.1, "case {i}");
            }
        }
        // The decisions were made where the route said: the tenant of the path, and the team as
        // the namespace.
        let seen = recorder.seen.lock().unwrap();
        assert!(seen.iter().any(|s| s.2 == "deny_other_tenant"));
        assert!(
            seen.iter().all(|s| s.3.is_some()),
            "every check saw its route"
        );
    }

    portcullis::scope!(InOrg = ScopeRule::tenant_from_path("org"));
    portcullis::scope!(InHeaderOrg = ScopeRule::tenant_from_header("x-org").unwrap());

    #[tokio::test]
    async fn a_scope_in_the_extractors_type_needs_no_layer() {
        let app = Router::new()
            .route(
                "/typed/{org}/books",
                get(|_: RequirePermission<ReadCatalog, InOrg>| async { "books" }),
            )
            .route(
                "/typed-header/reports",
                get(|_: RequireAction<ExportReports, InHeaderOrg>| async { "csv" }),
            )
            // A ScopeLayer with another rule: the extractor's own declaration wins.
            .route_layer(ScopeLayer::new(ScopeRule::tenant_from_context()))
            .layer(
                AuthGateway::new()
                    .roles(policy())
                    .strategy(header_strategy())
                    .build()
                    .unwrap(),
            );
        let get = |path: &str, roles: &str| as_tenant(path, Some("acme"), roles);
        let cases = [
            (get("/typed/acme/books", "viewer"), StatusCode::OK),
            (get("/typed/globex/books", "admin"), StatusCode::FORBIDDEN),
            (get("/typed/a.b/books", "admin"), StatusCode::FORBIDDEN),
            (
                get("/typed-header/reports", "reporter").header("x-org", "acme"),
                StatusCode::OK,
            ),
            (
                get("/typed-header/reports", "admin").header("x-org", "globex"),
                StatusCode::FORBIDDEN,
            ),
            (
                get("/typed-header/reports", "admin"),
                StatusCode::BAD_REQUEST,
            ),
        ];
        for (i, (request, status)) in cases.into_iter().enumerate() {
            let reply = send(&app, request.body(Body::empty()).unwrap()).await;
            assert_eq!(reply.status, status, "case {i}: {}", reply.text());
            if status == StatusCode::FORBIDDEN {
                assert_eq!(reply.json()["reason"], "deny_other_tenant", "case {i}");
            }
        }
    }

    #[tokio::test]
    async fn the_decision_carries_the_routes_tenant_and_namespace() {
        let scopes = Arc::new(Mutex::new(Vec::new()));
        let seen = scopes.clone();
        let app = Router::new()
            .route("/orgs/{org}/teams/{team}/books", books())
            .route_layer(ScopeLayer::new(
                ScopeRule::tenant_from_path("org").namespace_from_path("team"),
            ))
            .layer(
                AuthGateway::new()
                    .observe(move |event: &DecisionEvent<'_>| {
                        let scope = event.decision().scope();
                        seen.lock().unwrap().push((
                            scope.tenant_id().map(str::to_owned),
                            scope.namespace().map(str::to_owned),
                        ));
                    })
                    .strategy(header_strategy())
                    .build()
                    .unwrap(),
            );
        let reply = send(
            &app,
            as_tenant("/orgs/acme/teams/sre/books", Some("acme"), "viewer")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            *scopes.lock().unwrap(),
            [(Some("acme".to_owned()), Some("sre".to_owned()))]
        );
    }

    #[tokio::test]
    async fn a_check_made_before_the_scope_was_known_fails_closed() {
        let app = scoped_app(Recorder::default());
        let reply = send(
            &app,
            as_tenant("/wrong/globex/admin", Some("acme"), "admin")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}",
            reply.text()
        );
        // Declared global on purpose, the outer check stands and the route's own check is
        // scoped: her tenant passes, another is refused.
        let mine = as_tenant("/staff/acme/books", Some("acme"), "viewer");
        assert_eq!(
            send(&app, mine.body(Body::empty()).unwrap()).await.status,
            StatusCode::OK
        );
        let theirs = as_tenant("/staff/globex/books", Some("acme"), "viewer");
        let reply = send(&app, theirs.body(Body::empty()).unwrap()).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(reply.json()["reason"], "deny_other_tenant");
    }
}
