//! The tenant management routes ([`Tenancy::router`]) through the real router behind a real
//! gateway: who may call them (the admin permission in the path's tenant, or for the
//! application), every route and status, problem+json errors, no escalation (nobody hands on a
//! grant they do not hold, and a refused write changes nothing), a full role under concurrent
//! HTTP assignments, and a store that fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::Router;
use axum::body::Body;
use common::{Reply, send};
use http::{Method, Request, StatusCode, header};
use portcullis::rbac::{ActionGrant, Permission, Role, RolePolicy};
use portcullis::store::{Grant, MemoryStore, SubjectKind};
use portcullis::strategy::{Outcome, strategy_fn};
use portcullis::tenant::{NewAssignment, NewRole, Tenancy, TenantStore};
use portcullis::{AuthGateway, AuthMethod, MaybeReady, Problem, UserContext};
use serde_json::{Value, json};

// Who calls. Each is one set of headers for `header_strategy`.

/// Owner of acme by a stored assignment (a role granting `*:*` and every action); her own login.
const OLGA: &[(&str, &str)] = &[("x-user", "olga")];
/// A credential confined to acme naming the application role `tenant-admin`
/// (`manage:Roles`, `read:*`).
const CORA: &[(&str, &str)] = &[
    ("x-user", "cora"),
    ("x-credential-tenant", "acme"),
    ("x-roles", "tenant-admin"),
];
/// A delegated administrator of acme: a stored role granting `manage:Roles` and `read:*` only.
const DAN: &[(&str, &str)] = &[("x-user", "dan")];
/// A reader of acme (`read:*`), no administrator.
const NINA: &[(&str, &str)] = &[("x-user", "nina")];
/// The application's administrator: the application role `app-admin` (`manage:Roles`), no
/// tenant, no assignment anywhere.
const ADA: &[(&str, &str)] = &[("x-user", "ada"), ("x-roles", "app-admin")];
/// Owner of globex by a stored assignment.
const GUS: &[(&str, &str)] = &[("x-user", "gus")];
/// Nobody.
const ANON: &[(&str, &str)] = &[];

/// Believes `x-user`, `x-credential-tenant` and `x-roles` (comma-separated).
fn header_strategy() -> impl portcullis::strategy::Strategy {
    strategy_fn("headers", |parts| {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        MaybeReady::ready(match header("x-user") {
            None => Outcome::NotMine,
            Some(user) => {
                let roles: Vec<&str> = header("x-roles")
                    .map(|r| r.split(',').collect())
                    .unwrap_or_default();
                let mut ctx =
                    UserContext::new(user, AuthMethod::Custom("headers")).with_roles(roles);
                if let Some(tenant) = header("x-credential-tenant") {
                    ctx = ctx.with_tenant(tenant);
                }
                Outcome::Authenticated(ctx)
            }
        })
    })
}

fn policy() -> RolePolicy {
    RolePolicy::builder()
        .without_builtins()
        .role(
            Role::new("tenant-admin")
                .grant("manage:Roles")
                .unwrap()
                .grant("read:*")
                .unwrap(),
        )
        .role(Role::new("app-admin").grant("manage:Roles").unwrap())
        .build()
        .unwrap()
}

fn perm(text: &str) -> Grant {
    Grant::Permission(Permission::parse(text).unwrap())
}

fn act(text: &str) -> Grant {
    Grant::Action(ActionGrant::parse(text).unwrap())
}

/// The management routes behind a gateway. `coded` renders problems with a renderer that also
/// shows the problem's `code` (the default problem+json body has none); otherwise the default
/// renderer answers.
fn app_over<S: TenantStore>(t: &Tenancy<S>, coded: bool) -> Router {
    let mut gateway = AuthGateway::new()
        .strategy(header_strategy())
        .roles(policy())
        .authorizer(t.clone());
    if coded {
        gateway = gateway.error_renderer(|p: &Problem| {
            let body = json!({
                "type": "about:blank",
                "title": p.title(),
                "status": p.status().as_u16(),
                "code": p.code(),
                "detail": p.detail(),
                "field": p.field(),
                "reason": p.reason(),
            });
            (
                p.status(),
                [(header::CONTENT_TYPE, "application/problem+json")],
                body.to_string(),
            )
        });
    }
    Router::new()
        .merge(t.router(Permission::parse("manage:Roles").unwrap()))
        .layer(gateway.build().unwrap())
}

/// The roles and assignments every test starts from.
struct Seeded {
    /// acme's `owner` (`*:*`, action `*`), held by olga.
    owner: String,
    /// acme's `delegate` (`manage:Roles`, `read:*`), held by dan.
    delegate: String,
    /// acme's `viewer` (`read:*`), held by nina.
    viewer: String,
    /// globex's `owner`, held by gus.
    globex_owner: String,
    /// globex's `viewer`.
    globex_viewer: String,
}

async fn seed<S: TenantStore>(t: &Tenancy<S>) -> Seeded {
    let role = |tenant: &'static str, new: NewRole| {
        let t = t.clone();
        async move { t.create_role(tenant, new).await.unwrap().id }
    };
    let give = |tenant: &'static str, role: String, who: &'static str| {
        let t = t.clone();
        async move {
            t.assign(
                tenant,
                NewAssignment::new(&role, SubjectKind::User, who).granted_by("setup"),
            )
            .await
            .unwrap()
        }
    };
    let owner = role(
        "acme",
        NewRole::new("", "owner").grant(perm("*:*")).grant(act("*")),
    )
    .await;
    let delegate = role(
        "acme",
        NewRole::new("", "delegate")
            .grant(perm("manage:Roles"))
            .grant(perm("read:*")),
    )
    .await;
    let viewer = role("acme", NewRole::new("", "viewer").grant(perm("read:*"))).await;
    let globex_owner = role(
        "globex",
        NewRole::new("", "owner").grant(perm("*:*")).grant(act("*")),
    )
    .await;
    let globex_viewer = role("globex", NewRole::new("", "viewer").grant(perm("read:*"))).await;
    give("acme", owner.clone(), "olga").await;
    give("acme", delegate.clone(), "dan").await;
    give("acme", viewer.clone(), "nina").await;
    give("globex", globex_owner.clone(), "gus").await;
    Seeded {
        owner,
        delegate,
        viewer,
        globex_owner,
        globex_viewer,
    }
}

async fn setup() -> (Router, Tenancy<MemoryStore>, Seeded) {
    let t = Tenancy::new(MemoryStore::new());
    let seeded = seed(&t).await;
    (app_over(&t, true), t, seeded)
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    who: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in who {
        request = request.header(*name, *value);
    }
    let body = match body {
        Some(json) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    send(app, request.body(body).unwrap()).await
}

async fn get(app: &Router, uri: &str, who: &[(&str, &str)]) -> Reply {
    call(app, Method::GET, uri, who, None).await
}

/// Asserts a problem+json answer with this status and code; returns its body.
#[track_caller]
fn problem(reply: &Reply, status: StatusCode, code: &str) -> Value {
    assert_eq!(reply.status, status, "{}", reply.text());
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json"),
        "{status}: {}",
        reply.text()
    );
    let body = reply.json();
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert_eq!(body["code"], code, "{body}");
    body
}

/// Asserts 2xx `status` and returns the JSON body.
#[track_caller]
fn ok(reply: &Reply, status: StatusCode) -> Value {
    assert_eq!(reply.status, status, "{}", reply.text());
    reply.json()
}

/// A 403 from the gateway's check, with its reason.
#[track_caller]
fn denied(reply: &Reply, reason: &str) {
    let body = problem(reply, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(body["reason"], reason, "{body}");
}

/// A 403 from the rule that nobody hands on what they do not hold (no gateway reason).
#[track_caller]
fn escalation(reply: &Reply) {
    let body = problem(reply, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(body["reason"], Value::Null, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("you do not hold it yourself"),
        "{body}"
    );
}

async fn create_role(app: &Router, tenant: &str, who: &[(&str, &str)], body: Value) -> Value {
    let reply = call(
        app,
        Method::POST,
        &format!("/tenants/{tenant}/roles"),
        who,
        Some(body),
    )
    .await;
    ok(&reply, StatusCode::CREATED)
}

fn slugs(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| r["slug"].as_str().unwrap().to_owned())
        .collect()
}

/// Every route of the table, with a body that would be valid.
fn every_route(tenant: &str, role: &str, assignment: &str) -> Vec<(Method, String, Option<Value>)> {
    let t = format!("/tenants/{tenant}");
    let r = format!("{t}/roles/{role}");
    vec![
        (Method::GET, format!("{t}/roles"), None),
        (
            Method::POST,
            format!("{t}/roles"),
            Some(json!({"slug": "intruder"})),
        ),
        (Method::GET, r.clone(), None),
        (Method::PATCH, r.clone(), Some(json!({"name": "x"}))),
        (Method::DELETE, r.clone(), None),
        (Method::GET, format!("{r}/grants"), None),
        (
            Method::PUT,
            format!("{r}/grants"),
            Some(json!({"permissions": []})),
        ),
        (Method::PUT, format!("{r}/permissions/read:Catalog"), None),
        (Method::DELETE, format!("{r}/permissions/read:*"), None),
        (Method::PUT, format!("{r}/actions/reports:export"), None),
        (Method::DELETE, format!("{r}/actions/*"), None),
        (Method::GET, format!("{r}/children"), None),
        (Method::GET, format!("{t}/assignments"), None),
        (
            Method::POST,
            format!("{t}/assignments"),
            Some(json!({"role_id": role, "subject_kind": "user", "subject": "intruder"})),
        ),
        (Method::GET, format!("{t}/assignments/{assignment}"), None),
        (
            Method::DELETE,
            format!("{t}/assignments/{assignment}"),
            None,
        ),
        (Method::GET, format!("{t}/groups/ops/members"), None),
        (
            Method::PUT,
            format!("{t}/groups/ops/members/intruder"),
            None,
        ),
        (
            Method::DELETE,
            format!("{t}/groups/ops/members/intruder"),
            None,
        ),
        (
            Method::GET,
            format!("{t}/who-can?permission=read:Catalog"),
            None,
        ),
        (
            Method::GET,
            format!("{t}/explain?subject=zed&permission=read:Catalog"),
            None,
        ),
        (Method::DELETE, t.clone(), None),
    ]
}

fn action_routes() -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/actions".into(), None),
        (Method::GET, "/actions?service=reports".into(), None),
        (
            Method::POST,
            "/actions/reports".into(),
            Some(json!([{"action": "reports:export", "description": "Export"}])),
        ),
    ]
}

#[tokio::test]
async fn only_the_tenants_own_administrators_manage_it() {
    let (app, t, s) = setup().await;
    let acme_assignment = t
        .assignments(portcullis::store::AssignmentFilter {
            tenant: "acme".into(),
            role_id: Some(s.viewer.clone()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .id
        .clone();
    let before = t.store().fingerprint();
    for (method, uri, body) in every_route("acme", &s.viewer, &acme_assignment) {
        let reply = call(&app, method.clone(), &uri, ANON, body.clone()).await;
        let got = problem(&reply, StatusCode::UNAUTHORIZED, "missing_credentials");
        assert_eq!(got["status"], 401, "{method} {uri}");
        // A reader of acme without the permission.
        let reply = call(&app, method.clone(), &uri, NINA, body.clone()).await;
        denied(&reply, "deny_no_permission");
        // The application's administrator holds nothing in acme (a login of no tenant holds
        // there what acme's assignments give it).
        let reply = call(&app, method.clone(), &uri, ADA, body.clone()).await;
        denied(&reply, "deny_no_roles");
        // globex's owner, by assignment in globex.
        let reply = call(&app, method.clone(), &uri, GUS, body.clone()).await;
        denied(&reply, "deny_no_roles");
        // A credential confined to globex naming the application admin role.
        let globex_cred = [
            ("x-user", "cora"),
            ("x-credential-tenant", "globex"),
            ("x-roles", "tenant-admin"),
        ];
        let reply = call(&app, method.clone(), &uri, &globex_cred, body.clone()).await;
        denied(&reply, "deny_other_tenant");
    }
    // And the admins of acme in globex: by assignment, and by a confined credential.
    for (method, uri, body) in every_route("globex", &s.globex_viewer, "asg_none") {
        denied(
            &call(&app, method.clone(), &uri, OLGA, body.clone()).await,
            "deny_no_roles",
        );
        denied(
            &call(&app, method.clone(), &uri, DAN, body.clone()).await,
            "deny_no_roles",
        );
        denied(
            &call(&app, method.clone(), &uri, CORA, body.clone()).await,
            "deny_other_tenant",
        );
    }
    assert_eq!(
        t.store().fingerprint(),
        before,
        "a refused call changes nothing"
    );

    // Every kind of acme administrator is let in by acme.
    for who in [OLGA, CORA, DAN] {
        let body = ok(&get(&app, "/tenants/acme/roles", who).await, StatusCode::OK);
        assert_eq!(body["total"], 3, "{body}");
        assert_eq!(slugs(&body["roles"]), ["delegate", "owner", "viewer"]);
    }
    // globex's owner manages globex, and sees only globex's roles.
    let body = ok(
        &get(&app, "/tenants/globex/roles", GUS).await,
        StatusCode::OK,
    );
    assert_eq!(slugs(&body["roles"]), ["owner", "viewer"]);
    // A tenant in the path that is not a tenant id: 400 before any check.
    let reply = get(&app, "/tenants/Not%20A%20Tenant/roles", OLGA).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
}

#[tokio::test]
async fn the_action_routes_need_the_permission_for_the_application() {
    let (app, t, _) = setup().await;
    for (method, uri, body) in action_routes() {
        problem(
            &call(&app, method.clone(), &uri, ANON, body.clone()).await,
            StatusCode::UNAUTHORIZED,
            "missing_credentials",
        );
        // Owners of a tenant by assignment hold nothing for the application: their logins
        // name no application role.
        for who in [OLGA, DAN, GUS, NINA] {
            denied(
                &call(&app, method.clone(), &uri, who, body.clone()).await,
                "deny_no_roles",
            );
        }
    }
    assert!(t.actions(None).await.unwrap().is_empty());

    let reply = call(
        &app,
        Method::POST,
        "/actions/reports",
        ADA,
        Some(json!([
            {"action": "reports:export", "description": "Export a report"},
            {"action": "reports:delete"},
        ])),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert!(reply.body.is_empty());
    let reply = call(
        &app,
        Method::POST,
        "/actions/settings",
        ADA,
        Some(json!([{"action": "settings:manage", "description": null}])),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    // Registering again updates the description.
    let reply = call(
        &app,
        Method::POST,
        "/actions/reports",
        ADA,
        Some(json!([{"action": "reports:export", "description": "CSV"}])),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);

    let all = ok(&get(&app, "/actions", ADA).await, StatusCode::OK);
    let names: Vec<&str> = all["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{all}");
    for name in ["reports:export", "reports:delete", "settings:manage"] {
        assert!(names.contains(&name), "{all}");
    }
    let reports = ok(
        &get(&app, "/actions?service=reports", ADA).await,
        StatusCode::OK,
    );
    let reports = reports["actions"].as_array().unwrap();
    assert_eq!(reports.len(), 2);
    let export = reports
        .iter()
        .find(|a| a["action"] == "reports:export")
        .unwrap();
    assert_eq!(export["service"], "reports");
    assert_eq!(export["description"], "CSV");
    let none = ok(
        &get(&app, "/actions?service=billing", ADA).await,
        StatusCode::OK,
    );
    assert_eq!(none["actions"], json!([]));

    // Bad input: 400 naming the field, and one bad action registers nothing.
    let bad = [
        (
            "/actions/Reports",
            json!([{"action": "reports:x"}]),
            "service",
        ),
        (
            "/actions/reports",
            json!([{"action": "reports:ok"}, {"action": "Bad"}]),
            "action",
        ),
        (
            "/actions/reports",
            json!([{"action": "reports:ok", "description": "a\u{0}b"}]),
            "description",
        ),
    ];
    for (uri, body, field) in bad {
        let reply = call(&app, Method::POST, uri, ADA, Some(body)).await;
        let got = problem(&reply, StatusCode::BAD_REQUEST, "invalid_input");
        assert_eq!(got["field"], field, "{got}");
    }
    assert_eq!(t.actions(None).await.unwrap().len(), 3);
    // An unknown query parameter.
    let reply = get(&app, "/actions?services=reports", ADA).await;
    problem(&reply, StatusCode::BAD_REQUEST, "invalid_input");
}

#[tokio::test]
async fn a_credential_confined_to_a_tenant_uses_its_application_roles_for_the_action_routes() {
    // The action routes ask at the application (no tenant): there a credential's application
    // roles count whatever tenant it is confined to (the model's rule for the global scope).
    let (app, _, _) = setup().await;
    let reply = get(&app, "/actions", CORA).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
}

#[tokio::test]
async fn roles_are_created_read_listed_changed_and_deleted() {
    let (app, t, _) = setup().await;
    let editor = create_role(
        &app,
        "acme",
        OLGA,
        json!({
            "slug": "editor",
            "name": "Editor",
            "description": "Edits the catalog",
            "permissions": ["write:Catalog", "read:Catalog", "write:Catalog"],
            "actions": ["reports:export"],
            "max_members": 10,
            "metadata": {"team": "books"},
        }),
    )
    .await;
    let id = editor["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("rol_"), "{editor}");
    assert_eq!(editor["tenant"], "acme");
    assert_eq!(editor["namespace"], "");
    assert_eq!(editor["slug"], "editor");
    assert_eq!(editor["name"], "Editor");
    assert_eq!(editor["description"], "Edits the catalog");
    assert_eq!(editor["parent"], Value::Null);
    assert_eq!(editor["is_system"], false);
    assert_eq!(editor["is_default"], false);
    assert_eq!(editor["max_members"], 10);
    assert_eq!(editor["metadata"], json!({"team": "books"}));
    assert!(editor["created_at"].as_i64().unwrap() > 1_600_000_000);
    assert_eq!(editor["created_at"], editor["updated_at"]);
    // Grants sorted, deduplicated, permissions and actions apart.
    assert_eq!(
        editor["permissions"],
        json!(["read:Catalog", "write:Catalog"])
    );
    assert_eq!(editor["actions"], json!(["reports:export"]));
    // Stored as answered.
    let stored = t.role("acme", &id).await.unwrap().unwrap();
    assert_eq!(stored.slug, "editor");
    assert_eq!(
        t.role_grants("acme", &id).await.unwrap(),
        [
            perm("read:Catalog"),
            perm("write:Catalog"),
            act("reports:export")
        ]
    );
    let fetched = ok(
        &get(&app, &format!("/tenants/acme/roles/{id}"), OLGA).await,
        StatusCode::OK,
    );
    assert_eq!(fetched, editor);
    // The name is the slug when none is given. (Cora could not make it: it inherits
    // `write:Catalog`, which she does not hold.)
    let reply = call(
        &app,
        Method::POST,
        "/tenants/acme/roles",
        CORA,
        Some(json!({"slug": "senior-editor", "parent": "editor"})),
    )
    .await;
    escalation(&reply);
    let senior = create_role(
        &app,
        "acme",
        OLGA,
        json!({"slug": "senior-editor", "parent": "editor", "is_default": true}),
    )
    .await;
    assert_eq!(senior["name"], "senior-editor");
    assert_eq!(senior["parent"], "editor");
    assert_eq!(senior["is_default"], true);
    assert_eq!(senior["permissions"], json!([]));
    assert_eq!(senior["actions"], json!([]));
    let senior_id = senior["id"].as_str().unwrap().to_owned();
    create_role(
        &app,
        "acme",
        OLGA,
        json!({"namespace": "eng", "slug": "engineer"}),
    )
    .await;
    create_role(
        &app,
        "acme",
        OLGA,
        json!({"namespace": "eng/platform", "slug": "sre", "description": "Keeps EDITORS up"}),
    )
    .await;
    create_role(
        &app,
        "acme",
        OLGA,
        json!({"namespace": "engine", "slug": "mechanic"}),
    )
    .await;
    // System roles are made from code only; a body that tries is refused.
    let reply = call(
        &app,
        Method::POST,
        "/tenants/acme/roles",
        OLGA,
        Some(json!({"slug": "auditor", "is_system": true, "permissions": ["read:Audit"]})),
    )
    .await;
    problem(&reply, StatusCode::BAD_REQUEST, "invalid_input");
    t.create_role(
        "acme",
        NewRole::new("", "auditor")
            .system()
            .grant(perm("read:Audit")),
    )
    .await
    .unwrap();

    // Listing, with every filter and the total of what the filter matches (not of the page).
    let list = |query: &str| {
        let app = app.clone();
        let uri = format!("/tenants/acme/roles{query}");
        async move { ok(&get(&app, &uri, OLGA).await, StatusCode::OK) }
    };
    let all = list("").await;
    assert_eq!(all["total"], 9);
    let roots: Vec<String> = slugs(&all["roles"]);
    assert_eq!(
        roots,
        [
            "auditor",
            "delegate",
            "editor",
            "owner",
            "senior-editor",
            "viewer",
            "engineer",
            "sre",
            "mechanic"
        ],
        "by namespace, then slug"
    );
    let eng = list("?namespace=eng").await;
    assert_eq!(
        (slugs(&eng["roles"]), &eng["total"]),
        (vec!["engineer".into()], &json!(1))
    );
    let below = list("?namespace_prefix=eng").await;
    assert_eq!(slugs(&below["roles"]), ["engineer", "sre"]);
    assert_eq!(below["total"], 2);
    let root = list("?namespace=").await;
    assert_eq!(root["total"], 6);
    let children = list("?parent=editor").await;
    assert_eq!(slugs(&children["roles"]), ["senior-editor"]);
    let search = list("?search=EDITor").await;
    assert_eq!(slugs(&search["roles"]), ["editor", "senior-editor", "sre"]);
    let system = list("?system=true").await;
    assert_eq!(slugs(&system["roles"]), ["auditor"]);
    let defaults = list("?default=true").await;
    assert_eq!(slugs(&defaults["roles"]), ["senior-editor"]);
    let not_default = list("?default=false&namespace=").await;
    assert_eq!(not_default["total"], 5);
    let page = list("?limit=2&offset=1").await;
    assert_eq!(slugs(&page["roles"]), ["delegate", "editor"]);
    assert_eq!(page["total"], 9, "the total counts past the page");
    let past = list("?offset=100").await;
    assert_eq!(
        (past["roles"].clone(), past["total"].clone()),
        (json!([]), json!(9))
    );
    let none = list("?limit=0").await;
    assert_eq!(none["roles"], json!([]));
    // globex's roles are not acme's.
    let globex = ok(
        &get(&app, "/tenants/globex/roles", GUS).await,
        StatusCode::OK,
    );
    assert_eq!(globex["total"], 2);

    // Children.
    let kids = ok(
        &get(&app, &format!("/tenants/acme/roles/{id}/children"), OLGA).await,
        StatusCode::OK,
    );
    assert_eq!(slugs(&kids["roles"]), ["senior-editor"]);
    let none = ok(
        &get(
            &app,
            &format!("/tenants/acme/roles/{senior_id}/children"),
            OLGA,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(none["roles"], json!([]));

    // Patch: each field that is set replaces the stored one; null clears a parent or a limit.
    let patch = |id: &str, body: Value| {
        let app = app.clone();
        let uri = format!("/tenants/acme/roles/{id}");
        async move { call(&app, Method::PATCH, &uri, OLGA, Some(body)).await }
    };
    let changed = ok(
        &patch(
            &id,
            json!({"name": "Chief editor", "description": "", "metadata": {}, "max_members": null}),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(changed["name"], "Chief editor");
    assert_eq!(changed["description"], "");
    assert_eq!(changed["metadata"], json!({}));
    assert_eq!(changed["max_members"], Value::Null);
    assert_eq!(changed["slug"], "editor");
    let stored = t.role("acme", &id).await.unwrap().unwrap();
    assert_eq!(stored.name, "Chief editor");
    assert_eq!(stored.max_members, None);
    let changed = ok(
        &patch(
            &senior_id,
            json!({"parent": null, "is_default": false, "max_members": 2}),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(changed["parent"], Value::Null);
    assert_eq!(changed["is_default"], false);
    assert_eq!(changed["max_members"], 2);
    assert_eq!(
        t.role("acme", &senior_id).await.unwrap().unwrap().parent,
        None
    );
    let changed = ok(
        &patch(&senior_id, json!({"parent": "editor"})).await,
        StatusCode::OK,
    );
    assert_eq!(changed["parent"], "editor");
    // An empty patch changes nothing but is answered.
    let same = ok(&patch(&senior_id, json!({})).await, StatusCode::OK);
    assert_eq!(same["parent"], "editor");
    assert_eq!(same["max_members"], 2);

    // Delete: refused while a role inherits, then 204, then gone.
    let reply = call(
        &app,
        Method::DELETE,
        &format!("/tenants/acme/roles/{id}"),
        OLGA,
        None,
    )
    .await;
    problem(&reply, StatusCode::CONFLICT, "has_children");
    assert!(t.role("acme", &id).await.unwrap().is_some());
    // Its assignments go with it.
    t.assign(
        "acme",
        NewAssignment::new(&senior_id, SubjectKind::User, "uma"),
    )
    .await
    .unwrap();
    let reply = call(
        &app,
        Method::DELETE,
        &format!("/tenants/acme/roles/{senior_id}"),
        OLGA,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert!(reply.body.is_empty());
    assert!(t.role("acme", &senior_id).await.unwrap().is_none());
    let left = ok(
        &get(
            &app,
            &format!("/tenants/acme/assignments?role_id={senior_id}"),
            OLGA,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(left["assignments"], json!([]));
    problem(
        &get(&app, &format!("/tenants/acme/roles/{senior_id}"), OLGA).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    problem(
        &call(
            &app,
            Method::DELETE,
            &format!("/tenants/acme/roles/{senior_id}"),
            OLGA,
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let reply = call(
        &app,
        Method::DELETE,
        &format!("/tenants/acme/roles/{id}"),
        OLGA,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
}

#[tokio::test]
async fn grants_are_read_replaced_attached_and_detached_by_path_segment() {
    let (app, t, _) = setup().await;
    let role = create_role(
        &app,
        "acme",
        OLGA,
        json!({"slug": "clerk", "permissions": ["read:Catalog"]}),
    )
    .await;
    let id = role["id"].as_str().unwrap().to_owned();
    let base = format!("/tenants/acme/roles/{id}");
    let grants = |app: Router| {
        let uri = format!("{base}/grants");
        async move { ok(&get(&app, &uri, OLGA).await, StatusCode::OK) }
    };
    assert_eq!(
        grants(app.clone()).await,
        json!({"permissions": ["read:Catalog"], "actions": []})
    );
    // PUT replaces every grant and answers the new ones.
    let replaced = ok(
        &call(
            &app,
            Method::PUT,
            &format!("{base}/grants"),
            OLGA,
            Some(json!({"permissions": ["write:Books", "read:Books"], "actions": ["reports:*"]})),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(
        replaced,
        json!({"permissions": ["read:Books", "write:Books"], "actions": ["reports:*"]})
    );
    assert_eq!(
        t.role_grants("acme", &id).await.unwrap(),
        [perm("read:Books"), perm("write:Books"), act("reports:*")]
    );
    // The role's view shows them too.
    let view = ok(&get(&app, &base, OLGA).await, StatusCode::OK);
    assert_eq!(view["permissions"], json!(["read:Books", "write:Books"]));
    assert_eq!(view["actions"], json!(["reports:*"]));
    // A missing member is an empty list.
    let emptied = ok(
        &call(
            &app,
            Method::PUT,
            &format!("{base}/grants"),
            OLGA,
            Some(json!({})),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(emptied, json!({"permissions": [], "actions": []}));
    assert!(t.role_grants("acme", &id).await.unwrap().is_empty());

    // Attach and detach by path segment, literal or percent-encoded `:` and `*`.
    let put = |segment: &str| {
        let app = app.clone();
        let uri = format!("{base}/{segment}");
        async move { call(&app, Method::PUT, &uri, OLGA, None).await }
    };
    for segment in [
        "permissions/read:Catalog",
        "permissions/write%3ACatalog.Review",
        "permissions/read:*",
        "permissions/delete%3A%2A",
        "permissions/*:*",
        "actions/reports:export",
        "actions/settings%3A%2A",
        "actions/*",
        "actions/%2A",
    ] {
        let reply = put(segment).await;
        assert_eq!(
            reply.status,
            StatusCode::NO_CONTENT,
            "{segment}: {}",
            reply.text()
        );
        assert!(reply.body.is_empty());
    }
    assert_eq!(
        grants(app.clone()).await,
        json!({
            "permissions": ["*:*", "delete:*", "read:*", "read:Catalog", "write:Catalog.Review"],
            "actions": ["*", "reports:export", "settings:*"],
        })
    );
    // `reports:export` is a permission as well as an action: the kinds stay apart.
    assert_eq!(
        put("permissions/reports:export").await.status,
        StatusCode::NO_CONTENT
    );
    let both = grants(app.clone()).await;
    assert!(
        both["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("reports:export"))
    );
    assert!(
        both["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("reports:export"))
    );
    let delete = |segment: &str| {
        let app = app.clone();
        let uri = format!("{base}/{segment}");
        async move { call(&app, Method::DELETE, &uri, OLGA, None).await }
    };
    for segment in [
        "permissions/reports:export",
        "permissions/%2A%3A%2A",
        "permissions/read:*",
        "actions/reports%3Aexport",
        "actions/*",
        // Detaching a grant the role does not have is not an error.
        "actions/billing:*",
    ] {
        let reply = delete(segment).await;
        assert_eq!(
            reply.status,
            StatusCode::NO_CONTENT,
            "{segment}: {}",
            reply.text()
        );
    }
    assert_eq!(
        grants(app.clone()).await,
        json!({
            "permissions": ["delete:*", "read:Catalog", "write:Catalog.Review"],
            "actions": ["settings:*"],
        })
    );
    // A bad grammar: 400 naming the field, on attach and detach, nothing changed.
    let before = t.store().fingerprint();
    for (segment, field) in [
        ("permissions/read:Catalog.*", "permission"),
        ("permissions/Read", "permission"),
        ("permissions/read%3A", "permission"),
        ("permissions/read:Cat%20alog", "permission"),
        ("actions/Reports:Export", "action"),
        ("actions/reports%3A%2A%2A", "action"),
    ] {
        let body = problem(
            &put(segment).await,
            StatusCode::BAD_REQUEST,
            "invalid_input",
        );
        assert_eq!(body["field"], field, "{segment}: {body}");
        let body = problem(
            &delete(segment).await,
            StatusCode::BAD_REQUEST,
            "invalid_input",
        );
        assert_eq!(body["field"], field, "{segment}: {body}");
    }
    for (body, field) in [
        (json!({"permissions": ["read:Catalog.*"]}), "permissions"),
        (json!({"actions": ["Bad"]}), "actions"),
        (
            json!({"permissions": (0..513).map(|i| format!("read:D{i}")).collect::<Vec<_>>()}),
            "permissions",
        ),
    ] {
        let reply = call(
            &app,
            Method::PUT,
            &format!("{base}/grants"),
            OLGA,
            Some(body),
        )
        .await;
        let got = problem(&reply, StatusCode::BAD_REQUEST, "invalid_input");
        assert_eq!(got["field"], field, "{got}");
    }
    assert_eq!(t.store().fingerprint(), before);
}

#[tokio::test]
async fn an_unknown_role_or_a_role_of_another_tenant_is_404_on_every_role_route() {
    let (app, t, s) = setup().await;
    let before = t.store().fingerprint();
    let globex_grants = t.role_grants("globex", &s.globex_viewer).await.unwrap();
    for id in ["rol_unknown", s.globex_viewer.as_str()] {
        let base = format!("/tenants/acme/roles/{id}");
        let routes = [
            (Method::GET, base.clone(), None),
            (
                Method::PATCH,
                base.clone(),
                Some(json!({"name": "mine now"})),
            ),
            (
                Method::PATCH,
                base.clone(),
                Some(json!({"parent": "viewer"})),
            ),
            (Method::DELETE, base.clone(), None),
            (Method::GET, format!("{base}/grants"), None),
            (
                Method::PUT,
                format!("{base}/grants"),
                Some(json!({"permissions": ["write:*"]})),
            ),
            (Method::PUT, format!("{base}/permissions/write:*"), None),
            (Method::DELETE, format!("{base}/permissions/read:*"), None),
            (Method::PUT, format!("{base}/actions/reports:export"), None),
            (
                Method::DELETE,
                format!("{base}/actions/reports:export"),
                None,
            ),
            (Method::GET, format!("{base}/children"), None),
            (
                Method::POST,
                "/tenants/acme/assignments".to_owned(),
                Some(json!({"role_id": id, "subject_kind": "user", "subject": "olga"})),
            ),
        ];
        for (method, uri, body) in routes {
            let reply = call(&app, method.clone(), &uri, OLGA, body).await;
            let got = problem(&reply, StatusCode::NOT_FOUND, "not_found");
            assert!(
                got["detail"].as_str().unwrap().contains("role"),
                "{method} {uri}: {got}"
            );
        }
    }
    assert_eq!(t.store().fingerprint(), before);
    assert_eq!(
        t.role_grants("globex", &s.globex_viewer).await.unwrap(),
        globex_grants
    );
    assert_eq!(
        t.role("globex", &s.globex_viewer)
            .await
            .unwrap()
            .unwrap()
            .name,
        "viewer"
    );
}

#[tokio::test]
async fn invalid_input_is_400_naming_the_field_and_changes_nothing() {
    let (app, t, s) = setup().await;
    let before = t.store().fingerprint();
    let cases = [
        (json!({"slug": "Bad"}), "slug"),
        (json!({"slug": "-x"}), "slug"),
        (json!({"slug": "a".repeat(64)}), "slug"),
        (json!({"slug": "x", "namespace": "Eng"}), "namespace"),
        (
            json!({"slug": "x", "namespace": "a/b/c/d/e/f/g/h/i"}),
            "namespace",
        ),
        (json!({"slug": "x", "namespace": "/eng"}), "namespace"),
        (json!({"slug": "x", "parent": "Bad"}), "parent"),
        // A parent that is not a role of the tenant and namespace.
        (json!({"slug": "x", "parent": "missing"}), "parent"),
        (
            json!({"slug": "x", "namespace": "eng", "parent": "viewer"}),
            "parent",
        ),
        (json!({"slug": "x", "name": "n".repeat(129)}), "name"),
        (
            json!({"slug": "x", "description": "a\u{7}b"}),
            "description",
        ),
        (json!({"slug": "x", "max_members": 0}), "max_members"),
        (
            json!({"slug": "x", "permissions": ["read:Catalog.*"]}),
            "permissions",
        ),
        (json!({"slug": "x", "actions": ["Reports"]}), "actions"),
        (
            json!({"slug": "x", "metadata": {"k": "v".repeat(9000)}}),
            "metadata",
        ),
    ];
    for (body, field) in cases {
        let reply = call(
            &app,
            Method::POST,
            "/tenants/acme/roles",
            OLGA,
            Some(body.clone()),
        )
        .await;
        let got = problem(&reply, StatusCode::BAD_REQUEST, "invalid_input");
        assert_eq!(got["field"], field, "{body}: {got}");
    }
    let patches = [
        (json!({"parent": "Bad"}), "parent"),
        (json!({"parent": "missing"}), "parent"),
        (json!({"name": "a\nb"}), "name"),
        (json!({"max_members": 0}), "max_members"),
        (json!({"metadata": {"k": "v".repeat(9000)}}), "metadata"),
    ];
    for (body, field) in patches {
        let uri = format!("/tenants/acme/roles/{}", s.viewer);
        let reply = call(&app, Method::PATCH, &uri, OLGA, Some(body.clone())).await;
        let got = problem(&reply, StatusCode::BAD_REQUEST, "invalid_input");
        assert_eq!(got["field"], field, "{body}: {got}");
    }
    let queries = [
        ("/tenants/acme/roles?namespace=Eng", "namespace"),
        ("/tenants/acme/roles?namespace_prefix=%2Feng", "namespace"),
        ("/tenants/acme/roles?parent=Bad", "parent"),
        ("/tenants/acme/roles?search=a%00b", "search"),
        ("/tenants/acme/assignments?subject_kind=user", "subject"),
        ("/tenants/acme/who-can", "permission"),
        (
            "/tenants/acme/who-can?permission=read:Catalog&action=reports:export",
            "permission",
        ),
        (
            "/tenants/acme/who-can?permission=read:Catalog.*",
            "permission",
        ),
        ("/tenants/acme/who-can?action=Reports", "action"),
        (
            "/tenants/acme/who-can?permission=read:Catalog&namespace=Eng",
            "namespace",
        ),
        ("/tenants/acme/explain?permission=read:Catalog", "subject"),
        (
            "/tenants/acme/explain?permission=read:Catalog&subject=",
            "subject",
        ),
        (
            "/tenants/acme/explain?permission=read:Catalog&subject=a%20b",
            "subject",
        ),
        ("/tenants/acme/explain?subject=ada", "permission"),
        (
            "/tenants/acme/explain?subject=ada&permission=read:X&namespace=Eng",
            "namespace",
        ),
        ("/tenants/acme/groups/ops%20team/members", "group"),
        ("/tenants/acme/groups/ops/members/a%20b", "subject"),
    ];
    for (uri, field) in queries {
        let method = if uri.contains("/members/") {
            Method::PUT
        } else {
            Method::GET
        };
        let reply = call(&app, method, uri, OLGA, None).await;
        let got = problem(&reply, StatusCode::BAD_REQUEST, "invalid_input");
        assert_eq!(got["field"], field, "{uri}: {got}");
    }
    let assignments = [
        (
            json!({"role_id": s.viewer, "subject_kind": "user", "subject": "a b"}),
            "subject",
        ),
        (
            json!({"role_id": s.viewer, "subject_kind": "user", "subject": ""}),
            "subject",
        ),
        (
            json!({"role_id": s.viewer, "subject_kind": "user", "subject": "u", "resource_id": "x"}),
            "resource_id",
        ),
        (
            json!({"role_id": s.viewer, "subject_kind": "user", "subject": "u", "resource_type": "Bad Type"}),
            "resource_type",
        ),
        (
            json!({"role_id": s.viewer, "subject_kind": "user", "subject": "u", "expires_at": 1}),
            "expires_at",
        ),
    ];
    for (body, field) in assignments {
        let reply = call(
            &app,
            Method::POST,
            "/tenants/acme/assignments",
            OLGA,
            Some(body.clone()),
        )
        .await;
        let got = problem(&reply, StatusCode::BAD_REQUEST, "invalid_input");
        assert_eq!(got["field"], field, "{body}: {got}");
    }
    assert_eq!(
        t.store().fingerprint(),
        before,
        "a refused call changes nothing"
    );
}

/// What the routes answer for a body or query that does not even deserialize: an unknown
/// field, a wrong type, broken JSON, a missing content type, an unknown query parameter.
#[tokio::test]
async fn a_body_or_query_that_does_not_deserialize_is_a_problem_too() {
    let (app, t, s) = setup().await;
    let before = t.store().fingerprint();
    let bodies = [
        (
            Method::POST,
            "/tenants/acme/roles".to_owned(),
            r#"{"slug": "x", "colour": "red"}"#,
        ),
        (
            Method::POST,
            "/tenants/acme/roles".to_owned(),
            r#"{"slug": 5}"#,
        ),
        (
            Method::POST,
            "/tenants/acme/roles".to_owned(),
            r#"{"name": "no slug"}"#,
        ),
        (
            Method::POST,
            "/tenants/acme/roles".to_owned(),
            r#"{"slug": "x""#,
        ),
        (Method::POST, "/tenants/acme/roles".to_owned(), r#"["x"]"#),
        (
            Method::PATCH,
            format!("/tenants/acme/roles/{}", s.viewer),
            r#"{"slug": "renamed"}"#,
        ),
        (
            Method::PUT,
            format!("/tenants/acme/roles/{}/grants", s.viewer),
            r#"{"permissions": ["write:*"], "grants": []}"#,
        ),
        (
            Method::POST,
            "/tenants/acme/assignments".to_owned(),
            r#"{"role_id": "x", "subject_kind": "robot", "subject": "r2"}"#,
        ),
        (
            Method::POST,
            "/actions/reports".to_owned(),
            r#"{"action": "reports:x"}"#,
        ),
    ];
    for (method, uri, body) in bodies {
        let who = if uri.starts_with("/actions") {
            ADA
        } else {
            OLGA
        };
        let mut request = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .header(header::CONTENT_TYPE, "application/json");
        for (name, value) in who {
            request = request.header(*name, *value);
        }
        let reply = send(&app, request.body(Body::from(body)).unwrap()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{method} {uri} {body}"
        );
        let got = problem(&reply, StatusCode::BAD_REQUEST, "invalid_input");
        assert!(
            got["detail"].as_str().unwrap().starts_with("Failed to "),
            "{got}"
        );
    }
    // No content type.
    let reply = send(
        &app,
        Request::post("/tenants/acme/roles")
            .header("x-user", "olga")
            .body(Body::from(r#"{"slug": "x"}"#))
            .unwrap(),
    )
    .await;
    problem(
        &reply,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    for uri in [
        "/tenants/acme/roles?colour=red",
        "/tenants/acme/roles?limit=many",
        "/tenants/acme/roles?system=maybe",
        "/tenants/acme/assignments?subject_kind=robot&subject=r2",
        "/tenants/acme/who-can?permission=read:X&subject=ada&colour=red",
    ] {
        problem(
            &get(&app, uri, OLGA).await,
            StatusCode::BAD_REQUEST,
            "invalid_input",
        );
    }
    // A path segment that is not UTF-8 once decoded: on the tenant routes the scope rule, which
    // reads the path's parameters before any check, refuses it (400 `invalid_request`); on the
    // action routes the route's own extractor does.
    let bad_id = format!("/tenants/acme/roles/{}/permissions/%FF", s.viewer);
    for (method, uri) in [
        (Method::GET, "/tenants/acme/roles/%FF"),
        (Method::PUT, bad_id.as_str()),
        (Method::DELETE, "/tenants/acme/assignments/%C3%28"),
    ] {
        let reply = call(&app, method, uri, OLGA, None).await;
        problem(&reply, StatusCode::BAD_REQUEST, "invalid_request");
    }
    let reply = call(
        &app,
        Method::POST,
        "/actions/%FF",
        ADA,
        Some(json!([{"action": "reports:x"}])),
    )
    .await;
    problem(&reply, StatusCode::BAD_REQUEST, "invalid_input");
    assert_eq!(t.store().fingerprint(), before);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let (app, t, s) = setup().await;
    let before = t.store().fingerprint();
    let padding = "x".repeat(portcullis::tenant::MAX_BODY_BYTES);
    let over = [
        (
            Method::POST,
            "/tenants/acme/roles".to_owned(),
            json!({"slug": "x", "description": padding}),
        ),
        (
            Method::PATCH,
            format!("/tenants/acme/roles/{}", s.viewer),
            json!({"description": padding}),
        ),
        (
            Method::PUT,
            format!("/tenants/acme/roles/{}/grants", s.viewer),
            json!({"permissions": [padding]}),
        ),
        (
            Method::POST,
            "/tenants/acme/assignments".to_owned(),
            json!({"role_id": s.viewer, "subject_kind": "user", "subject": padding}),
        ),
    ];
    for (method, uri, body) in over {
        let reply = call(&app, method, &uri, OLGA, Some(body)).await;
        problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    }
    let reply = call(
        &app,
        Method::POST,
        "/actions/reports",
        ADA,
        Some(json!([{"action": "reports:x", "description": padding}])),
    )
    .await;
    problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    assert_eq!(t.store().fingerprint(), before);
    // Just under the limit is read (and then judged: the description is too long).
    let under =
        json!({"slug": "x", "description": "x".repeat(portcullis::tenant::MAX_BODY_BYTES - 100)});
    assert!(under.to_string().len() < portcullis::tenant::MAX_BODY_BYTES);
    let reply = call(&app, Method::POST, "/tenants/acme/roles", OLGA, Some(under)).await;
    let got = problem(&reply, StatusCode::BAD_REQUEST, "invalid_input");
    assert_eq!(got["field"], "description");
}

#[tokio::test]
async fn conflicts_are_409_with_their_code_and_change_nothing() {
    let (app, t, _) = setup().await;
    let roles = "/tenants/acme/roles";
    // duplicate: the slug is taken in the namespace (another namespace may reuse it).
    let a = create_role(&app, "acme", OLGA, json!({"slug": "a"})).await;
    let a_id = a["id"].as_str().unwrap().to_owned();
    let before = t.store().fingerprint();
    let reply = call(
        &app,
        Method::POST,
        roles,
        OLGA,
        Some(json!({"slug": "a", "name": "again"})),
    )
    .await;
    problem(&reply, StatusCode::CONFLICT, "duplicate");
    assert_eq!(t.store().fingerprint(), before);
    create_role(&app, "acme", OLGA, json!({"namespace": "eng", "slug": "a"})).await;
    create_role(&app, "globex", GUS, json!({"slug": "a"})).await;
    // cycle: a ← b ← c, then a under c, or under itself.
    create_role(&app, "acme", OLGA, json!({"slug": "b", "parent": "a"})).await;
    create_role(&app, "acme", OLGA, json!({"slug": "c", "parent": "b"})).await;
    let before = t.store().fingerprint();
    let a_uri = format!("{roles}/{a_id}");
    for parent in ["c", "b", "a"] {
        let reply = call(
            &app,
            Method::PATCH,
            &a_uri,
            OLGA,
            Some(json!({"parent": parent})),
        )
        .await;
        problem(&reply, StatusCode::CONFLICT, "cycle");
    }
    assert_eq!(t.store().fingerprint(), before);
    assert_eq!(t.role("acme", &a_id).await.unwrap().unwrap().parent, None);
    // too_deep: a chain of 16 roles takes no 17th, neither by creation nor by re-parenting.
    create_role(&app, "acme", OLGA, json!({"slug": "r0"})).await;
    for i in 1..16 {
        create_role(
            &app,
            "acme",
            OLGA,
            json!({"slug": format!("r{i}"), "parent": format!("r{}", i - 1)}),
        )
        .await;
    }
    let before = t.store().fingerprint();
    let reply = call(
        &app,
        Method::POST,
        roles,
        OLGA,
        Some(json!({"slug": "r16", "parent": "r15"})),
    )
    .await;
    problem(&reply, StatusCode::CONFLICT, "too_deep");
    let reply = call(
        &app,
        Method::PATCH,
        &a_uri,
        OLGA,
        Some(json!({"parent": "r15"})),
    )
    .await;
    problem(&reply, StatusCode::CONFLICT, "too_deep");
    assert_eq!(t.store().fingerprint(), before);
    assert!(t.role_by_slug("acme", "", "r16").await.unwrap().is_none());
    // has_children.
    let reply = call(&app, Method::DELETE, &a_uri, OLGA, None).await;
    problem(&reply, StatusCode::CONFLICT, "has_children");
    // role_full, and the same subject twice: duplicate.
    let one = create_role(
        &app,
        "acme",
        OLGA,
        json!({"slug": "solo", "max_members": 1}),
    )
    .await;
    let assign = |who: &str| {
        let app = app.clone();
        let body = json!({"role_id": one["id"], "subject_kind": "user", "subject": who});
        async move {
            call(
                &app,
                Method::POST,
                "/tenants/acme/assignments",
                OLGA,
                Some(body),
            )
            .await
        }
    };
    assert_eq!(assign("u1").await.status, StatusCode::CREATED);
    let before = t.store().fingerprint();
    problem(&assign("u2").await, StatusCode::CONFLICT, "role_full");
    assert_eq!(t.store().fingerprint(), before);
    let pair = create_role(
        &app,
        "acme",
        OLGA,
        json!({"slug": "pair", "max_members": 2}),
    )
    .await;
    let twice = json!({"role_id": pair["id"], "subject_kind": "user", "subject": "u1"});
    let reply = call(
        &app,
        Method::POST,
        "/tenants/acme/assignments",
        OLGA,
        Some(twice.clone()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let before_twice = t.store().fingerprint();
    let reply = call(
        &app,
        Method::POST,
        "/tenants/acme/assignments",
        OLGA,
        Some(twice),
    )
    .await;
    problem(&reply, StatusCode::CONFLICT, "duplicate");
    assert_eq!(t.store().fingerprint(), before_twice);
    // system_role: made with its grants, then never changed, but can be held.
    let made = t
        .create_role(
            "acme",
            NewRole::new("", "auditor")
                .system()
                .grant(perm("read:Audit"))
                .grant(act("audit:*")),
        )
        .await
        .unwrap();
    let system = ok(
        &get(&app, &format!("{roles}/{}", made.id), OLGA).await,
        StatusCode::OK,
    );
    assert_eq!(system["is_system"], true);
    assert_eq!(system["permissions"], json!(["read:Audit"]));
    let sys = format!("{roles}/{}", system["id"].as_str().unwrap());
    let before = t.store().fingerprint();
    for (method, uri, body) in [
        (Method::PATCH, sys.clone(), Some(json!({"name": "changed"}))),
        (Method::PATCH, sys.clone(), Some(json!({"parent": "a"}))),
        (Method::DELETE, sys.clone(), None),
        (
            Method::PUT,
            format!("{sys}/grants"),
            Some(json!({"permissions": []})),
        ),
        (Method::PUT, format!("{sys}/permissions/read:Logs"), None),
        (
            Method::DELETE,
            format!("{sys}/permissions/read:Audit"),
            None,
        ),
        (Method::PUT, format!("{sys}/actions/logs:*"), None),
        (Method::DELETE, format!("{sys}/actions/audit:*"), None),
    ] {
        let reply = call(&app, method.clone(), &uri, OLGA, body).await;
        let got = problem(&reply, StatusCode::CONFLICT, "system_role");
        assert_eq!(got["title"], "Conflict", "{method} {uri}");
    }
    assert_eq!(t.store().fingerprint(), before);
    let held = call(
        &app,
        Method::POST,
        "/tenants/acme/assignments",
        OLGA,
        Some(json!({"role_id": system["id"], "subject_kind": "user", "subject": "auditor-1"})),
    )
    .await;
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.text());
}

#[tokio::test]
async fn assignments_are_made_by_the_caller_listed_read_and_deleted() {
    let (app, t, s) = setup().await;
    let url = "/tenants/acme/assignments";
    let future = i64::try_from(common::now()).unwrap() + 3600;
    // A client cannot say who granted it: the caller did.
    let made = ok(
        &call(
            &app,
            Method::POST,
            url,
            DAN,
            Some(json!({
                "role_id": s.viewer, "subject_kind": "user", "subject": "uma",
                "granted_by": "mallory",
            })),
        )
        .await,
        StatusCode::CREATED,
    );
    let id = made["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("asg_"), "{made}");
    assert_eq!(made["tenant"], "acme");
    assert_eq!(made["role_id"], s.viewer.as_str());
    assert_eq!(made["subject_kind"], "user");
    assert_eq!(made["subject"], "uma");
    assert_eq!(made["granted_by"], "dan");
    assert_eq!(made["resource_type"], Value::Null);
    assert_eq!(made["resource_id"], Value::Null);
    assert_eq!(made["expires_at"], Value::Null);
    assert_eq!(
        t.assignment("acme", &id).await.unwrap().unwrap().granted_by,
        "dan"
    );
    // A confined credential's subject is the grantor as well.
    let by_cora = ok(
        &call(
            &app,
            Method::POST,
            url,
            CORA,
            Some(json!({
                "role_id": s.viewer, "subject_kind": "user", "subject": "vic",
                "resource_type": "claims", "resource_id": "c-1", "expires_at": future,
                "granted_by": "",
            })),
        )
        .await,
        StatusCode::CREATED,
    );
    assert_eq!(by_cora["granted_by"], "cora");
    assert_eq!(by_cora["resource_type"], "claims");
    assert_eq!(by_cora["resource_id"], "c-1");
    assert_eq!(by_cora["expires_at"], future);
    let group = ok(
        &call(
            &app,
            Method::POST,
            url,
            OLGA,
            Some(json!({"role_id": s.delegate, "subject_kind": "group", "subject": "ops"})),
        )
        .await,
        StatusCode::CREATED,
    );
    assert_eq!(group["granted_by"], "olga");
    assert_eq!(group["subject_kind"], "group");
    // It grants at once: uma reads now.
    let why = ok(
        &get(
            &app,
            "/tenants/acme/explain?subject=uma&permission=read:Books",
            OLGA,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(why["reason"], "allow", "{why}");

    // Read one.
    let fetched = ok(
        &get(&app, &format!("{url}/{id}"), OLGA).await,
        StatusCode::OK,
    );
    assert_eq!(fetched, made);
    // List, with every filter. The seed made four (olga, dan, nina in acme; gus in globex).
    let list = |query: &str| {
        let app = app.clone();
        let uri = format!("{url}{query}");
        async move {
            let body = ok(&get(&app, &uri, OLGA).await, StatusCode::OK);
            body["assignments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["subject"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    // Ordered by creation time then id (random): compare as sets, and page through the order.
    let all = list("").await;
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(sorted, ["dan", "nina", "olga", "ops", "uma", "vic"]);
    let mut viewers = list(&format!("?role_id={}", s.viewer)).await;
    viewers.sort();
    assert_eq!(viewers, ["nina", "uma", "vic"]);
    assert_eq!(list("?subject=uma").await, ["uma"]);
    assert_eq!(list("?subject_kind=user&subject=vic").await, ["vic"]);
    assert_eq!(list("?subject_kind=group&subject=ops").await, ["ops"]);
    assert!(list("?subject_kind=group&subject=uma").await.is_empty());
    assert!(
        list("?subject=gus").await.is_empty(),
        "globex's are not acme's"
    );
    assert_eq!(list("?limit=2&offset=1").await, all[1..3]);
    assert_eq!(list("?offset=4").await, all[4..]);
    assert!(list("?limit=0").await.is_empty());
    assert_eq!(
        list(&format!("?role_id={}&subject=uma", s.viewer)).await,
        ["uma"]
    );

    // Delete: 204, then gone; the grant goes with it.
    let reply = call(&app, Method::DELETE, &format!("{url}/{id}"), OLGA, None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert!(t.assignment("acme", &id).await.unwrap().is_none());
    problem(
        &get(&app, &format!("{url}/{id}"), OLGA).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    problem(
        &call(&app, Method::DELETE, &format!("{url}/{id}"), OLGA, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let why = ok(
        &get(
            &app,
            "/tenants/acme/explain?subject=uma&permission=read:Books",
            OLGA,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(why["reason"], "deny_no_roles", "{why}");
    // An assignment of another tenant is not found through acme, and survives.
    let gus_assignment = t
        .assignments(portcullis::store::AssignmentFilter {
            tenant: "globex".into(),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .id
        .clone();
    problem(
        &get(&app, &format!("{url}/{gus_assignment}"), OLGA).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    problem(
        &call(
            &app,
            Method::DELETE,
            &format!("{url}/{gus_assignment}"),
            OLGA,
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert!(
        t.assignment("globex", &gus_assignment)
            .await
            .unwrap()
            .is_some()
    );
    problem(
        &get(&app, &format!("{url}/asg_unknown"), OLGA).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // globex's role through acme's path: not found, nothing assigned.
    let reply = call(
        &app,
        Method::POST,
        url,
        OLGA,
        Some(json!({"role_id": s.globex_owner, "subject_kind": "user", "subject": "olga"})),
    )
    .await;
    problem(&reply, StatusCode::NOT_FOUND, "not_found");
    assert!(list("?subject=olga").await.len() == 1);
}

#[tokio::test]
async fn groups_who_can_and_explain() {
    let (app, t, _) = setup().await;
    let members = "/tenants/acme/groups/ops/members";
    for who in ["uma", "vic", "uma"] {
        let reply = call(&app, Method::PUT, &format!("{members}/{who}"), OLGA, None).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    }
    let listed = ok(&get(&app, members, OLGA).await, StatusCode::OK);
    assert_eq!(listed, json!({"members": ["uma", "vic"]}));
    assert_eq!(t.members("acme", "ops").await.unwrap(), ["uma", "vic"]);
    assert_eq!(t.groups_of("acme", "uma").await.unwrap(), ["ops"]);
    // globex has no such group.
    let empty = ok(
        &get(&app, "/tenants/globex/groups/ops/members", GUS).await,
        StatusCode::OK,
    );
    assert_eq!(empty, json!({"members": []}));
    let reply = call(&app, Method::DELETE, &format!("{members}/vic"), OLGA, None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        ok(&get(&app, members, OLGA).await, StatusCode::OK),
        json!({"members": ["uma"]})
    );
    // Removing a subject that is not a member is not an error.
    let reply = call(
        &app,
        Method::DELETE,
        &format!("{members}/nobody"),
        OLGA,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);

    // eng: pager-reader (read:Pager) ← oncall (write:Pager, action pager:ack), given to ops.
    create_role(
        &app,
        "acme",
        OLGA,
        json!({"namespace": "eng", "slug": "pager-reader", "permissions": ["read:Pager"]}),
    )
    .await;
    let oncall = create_role(
        &app,
        "acme",
        OLGA,
        json!({"namespace": "eng", "slug": "oncall", "parent": "pager-reader",
               "permissions": ["write:Pager"], "actions": ["pager:ack"]}),
    )
    .await;
    let given = ok(
        &call(
            &app,
            Method::POST,
            "/tenants/acme/assignments",
            OLGA,
            Some(json!({"role_id": oncall["id"], "subject_kind": "group", "subject": "ops"})),
        )
        .await,
        StatusCode::CREATED,
    );
    let who = ok(
        &get(
            &app,
            "/tenants/acme/who-can?permission=read:Pager&namespace=eng",
            OLGA,
        )
        .await,
        StatusCode::OK,
    );
    // Users first, then groups; the roles held at the root apply at eng as well.
    let holders = who["holders"].as_array().unwrap();
    assert_eq!(holders.len(), 4, "{who}");
    assert_eq!(holders[0]["subject"], "dan");
    assert_eq!(holders[0]["path"], json!(["delegate"]));
    assert_eq!(holders[0]["grant"], "read:*");
    assert_eq!(holders[0]["namespace"], "");
    assert_eq!(holders[2]["subject"], "olga");
    assert_eq!(holders[2]["grant"], "*:*");
    assert_eq!(
        json!({"holders": [holders[3]]}),
        json!({"holders": [{
            "subject_kind": "group", "subject": "ops", "path": ["oncall", "pager-reader"],
            "namespace": "eng", "grant": "read:Pager", "assignment_id": given["id"],
            "expires_at": null, "resource_type": null, "resource_id": null,
        }]})
    );
    // Below eng the role applies; at the root it does not (only olga's `*:*`, and
    // nina's and dan's `read:*` hold it there).
    let below = ok(
        &get(
            &app,
            "/tenants/acme/who-can?permission=read:Pager&namespace=eng/platform",
            OLGA,
        )
        .await,
        StatusCode::OK,
    );
    let subjects = |v: &Value| -> Vec<String> {
        v["holders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["subject"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(subjects(&below), ["dan", "nina", "olga", "ops"]);
    let root = ok(
        &get(&app, "/tenants/acme/who-can?permission=write:Pager", OLGA).await,
        StatusCode::OK,
    );
    assert_eq!(subjects(&root), ["olga"]);
    let action = ok(
        &get(
            &app,
            "/tenants/acme/who-can?action=pager:ack&namespace=eng",
            OLGA,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(subjects(&action), ["olga", "ops"]);
    let none = ok(
        &get(
            &app,
            "/tenants/globex/who-can?permission=write:Pager&namespace=eng",
            GUS,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(subjects(&none), ["gus"]);

    // Explain: uma's login through the group, with the path down to the grant.
    let why = ok(
        &get(
            &app,
            "/tenants/acme/explain?subject=uma&permission=read:Pager&namespace=eng%2Fplatform",
            OLGA,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(why["allowed"], true, "{why}");
    assert_eq!(why["reason"], "allow");
    assert_eq!(why["matched"]["path"], json!(["oncall", "pager-reader"]));
    assert_eq!(why["matched"]["grant"], "read:Pager");
    assert_eq!(why["matched"]["role"], "pager-reader");
    assert_eq!(why["matched"]["namespace"], "eng");
    assert_eq!(why["matched"]["via"]["kind"], "group");
    assert_eq!(why["matched"]["via"]["group"], "ops");
    assert_eq!(why["matched"]["via"]["id"], given["id"]);
    assert_eq!(why["near_miss"], Value::Null);
    let action = ok(
        &get(
            &app,
            "/tenants/acme/explain?subject=uma&action=pager:ack&namespace=eng",
            OLGA,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(action["reason"], "allow", "{action}");
    assert_eq!(action["matched"]["path"], json!(["oncall"]));
    // At the root the role does not apply: the nearest miss names it.
    let why = ok(
        &get(
            &app,
            "/tenants/acme/explain?subject=uma&permission=read:Pager",
            OLGA,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(why["allowed"], false, "{why}");
    assert_eq!(why["reason"], "deny_not_in_namespace");
    assert_eq!(why["matched"], Value::Null);
    assert_eq!(
        why["near_miss"]["path"],
        json!(["oncall", "pager-reader"]),
        "{why}"
    );
    assert_eq!(why["near_miss"]["namespace"], "eng", "{why}");
    // A subject holding nothing in acme, and uma in globex.
    let why = ok(
        &get(
            &app,
            "/tenants/acme/explain?subject=zed&permission=read:Pager",
            OLGA,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(
        (why["allowed"].clone(), why["reason"].clone()),
        (json!(false), json!("deny_no_roles"))
    );
    let why = ok(
        &get(
            &app,
            "/tenants/globex/explain?subject=uma&permission=read:Pager&namespace=eng",
            GUS,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(why["reason"], "deny_no_roles");
    // Leaving the group ends it.
    let reply = call(&app, Method::DELETE, &format!("{members}/uma"), OLGA, None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let why = ok(
        &get(
            &app,
            "/tenants/acme/explain?subject=uma&permission=read:Pager&namespace=eng",
            OLGA,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(why["reason"], "deny_no_roles", "{why}");
}

#[tokio::test]
async fn deleting_a_tenant_deletes_everything_of_it_and_nothing_else() {
    let (app, t, s) = setup().await;
    create_role(
        &app,
        "acme",
        OLGA,
        json!({"namespace": "eng", "slug": "engineer", "permissions": ["read:Code"]}),
    )
    .await;
    let reply = call(
        &app,
        Method::PUT,
        "/tenants/acme/groups/ops/members/uma",
        OLGA,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let globex_before = ok(
        &get(&app, "/tenants/globex/roles", GUS).await,
        StatusCode::OK,
    );
    // globex's owner cannot delete acme, nor can acme's reader.
    denied(
        &call(&app, Method::DELETE, "/tenants/acme", GUS, None).await,
        "deny_no_roles",
    );
    denied(
        &call(&app, Method::DELETE, "/tenants/acme", NINA, None).await,
        "deny_no_permission",
    );
    assert!(t.role("acme", &s.owner).await.unwrap().is_some());

    let reply = call(&app, Method::DELETE, "/tenants/acme", OLGA, None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert!(reply.body.is_empty());
    // Olga's own assignment went with it: she holds nothing in acme any more.
    denied(
        &get(&app, "/tenants/acme/roles", OLGA).await,
        "deny_no_roles",
    );
    // The confined credential's application role still makes cora acme's administrator.
    let left = ok(
        &get(&app, "/tenants/acme/roles", CORA).await,
        StatusCode::OK,
    );
    assert_eq!(left, json!({"roles": [], "total": 0}));
    let left = ok(
        &get(&app, "/tenants/acme/assignments", CORA).await,
        StatusCode::OK,
    );
    assert_eq!(left, json!({"assignments": []}));
    let left = ok(
        &get(&app, "/tenants/acme/groups/ops/members", CORA).await,
        StatusCode::OK,
    );
    assert_eq!(left, json!({"members": []}));
    assert!(t.role("acme", &s.owner).await.unwrap().is_none());
    // globex is untouched.
    assert_eq!(
        ok(
            &get(&app, "/tenants/globex/roles", GUS).await,
            StatusCode::OK
        ),
        globex_before
    );
    assert!(t.role("globex", &s.globex_owner).await.unwrap().is_some());
    // Deleting a tenant with nothing in it is answered the same.
    let reply = call(&app, Method::DELETE, "/tenants/acme", CORA, None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
}

/// The roles the escalation tests need beyond the seed: `strong` (`write:*`), `weak-child`
/// (no grant of its own, inherits `strong`), `reader` (`read:Catalog`, a role dan may manage),
/// the group `admins` holding `owner`, the group `readers` holding `viewer`, and `strong` given
/// to dan for the resource type `books` only.
async fn escalation_setup(t: &Tenancy<MemoryStore>, s: &Seeded) -> (String, String, String) {
    let strong = t
        .create_role("acme", NewRole::new("", "strong").grant(perm("write:*")))
        .await
        .unwrap()
        .id;
    let weak_child = t
        .create_role("acme", NewRole::new("", "weak-child").parent("strong"))
        .await
        .unwrap()
        .id;
    let reader = t
        .create_role(
            "acme",
            NewRole::new("", "reader").grant(perm("read:Catalog")),
        )
        .await
        .unwrap()
        .id;
    for (role, group) in [(&s.owner, "admins"), (&s.viewer, "readers")] {
        t.assign("acme", NewAssignment::new(role, SubjectKind::Group, group))
            .await
            .unwrap();
    }
    // Dan holds `strong` for books only: that is nothing he can hand on tenant-wide.
    t.assign(
        "acme",
        NewAssignment::new(&strong, SubjectKind::User, "dan").for_resource("books", None),
    )
    .await
    .unwrap();
    (strong, weak_child, reader)
}

#[tokio::test]
async fn a_delegated_administrator_cannot_hand_on_what_they_do_not_hold() {
    let (app, t, s) = setup().await;
    let (strong, weak_child, reader) = escalation_setup(&t, &s).await;
    let roles = "/tenants/acme/roles";
    let reader_uri = format!("{roles}/{reader}");
    let strong_uri = format!("{roles}/{strong}");
    let before = t.store().fingerprint();
    let refused: Vec<(Method, String, Option<Value>)> = vec![
        // Creating a role with more than dan holds, or under a stronger parent.
        (
            Method::POST,
            roles.into(),
            Some(json!({"slug": "writer", "permissions": ["write:*"]})),
        ),
        (
            Method::POST,
            roles.into(),
            Some(json!({"slug": "all", "permissions": ["*:*"]})),
        ),
        (
            Method::POST,
            roles.into(),
            Some(json!({"slug": "mixed", "permissions": ["read:Catalog", "write:Catalog"]})),
        ),
        (
            Method::POST,
            roles.into(),
            Some(json!({"slug": "star", "actions": ["*"]})),
        ),
        (
            Method::POST,
            roles.into(),
            Some(json!({"slug": "export", "actions": ["reports:export"]})),
        ),
        (
            Method::POST,
            roles.into(),
            Some(json!({"slug": "sneaky", "parent": "strong"})),
        ),
        (
            Method::POST,
            roles.into(),
            Some(json!({"slug": "sneakier", "parent": "weak-child"})),
        ),
        (
            Method::POST,
            roles.into(),
            Some(json!({"slug": "deputy", "is_default": true, "parent": "owner"})),
        ),
        (
            Method::POST,
            roles.into(),
            Some(json!({"namespace": "eng", "slug": "eng-writer", "permissions": ["write:Code"]})),
        ),
        // Attaching a grant dan does not hold.
        (Method::PUT, format!("{reader_uri}/permissions/*:*"), None),
        (
            Method::PUT,
            format!("{reader_uri}/permissions/%2A%3A%2A"),
            None,
        ),
        (
            Method::PUT,
            format!("{reader_uri}/permissions/write:Catalog"),
            None,
        ),
        (
            Method::PUT,
            format!("{reader_uri}/permissions/*:Catalog"),
            None,
        ),
        (Method::PUT, format!("{reader_uri}/actions/*"), None),
        (
            Method::PUT,
            format!("{reader_uri}/actions/reports:export"),
            None,
        ),
        // Replacing the grants with more than dan holds.
        (
            Method::PUT,
            format!("{reader_uri}/grants"),
            Some(json!({"permissions": ["read:*", "write:Catalog"]})),
        ),
        (
            Method::PUT,
            format!("{reader_uri}/grants"),
            Some(json!({"actions": ["*"]})),
        ),
        // Giving a role that grants or inherits more, to himself or anyone, user or group.
        (
            Method::POST,
            "/tenants/acme/assignments".into(),
            Some(json!({"role_id": s.owner, "subject_kind": "user", "subject": "dan"})),
        ),
        (
            Method::POST,
            "/tenants/acme/assignments".into(),
            Some(json!({"role_id": s.owner, "subject_kind": "user", "subject": "eve"})),
        ),
        (
            Method::POST,
            "/tenants/acme/assignments".into(),
            Some(json!({"role_id": strong, "subject_kind": "group", "subject": "ops"})),
        ),
        (
            Method::POST,
            "/tenants/acme/assignments".into(),
            Some(
                json!({"role_id": weak_child, "subject_kind": "user", "subject": "dan",
                        "resource_type": "books", "resource_id": "b-1"}),
            ),
        ),
        // Re-parenting a role under a stronger one.
        (
            Method::PATCH,
            reader_uri.clone(),
            Some(json!({"parent": "strong"})),
        ),
        (
            Method::PATCH,
            reader_uri.clone(),
            Some(json!({"parent": "weak-child", "name": "x"})),
        ),
        // Joining (or putting anyone in) a group that holds a stronger role.
        (
            Method::PUT,
            "/tenants/acme/groups/admins/members/dan".into(),
            None,
        ),
        (
            Method::PUT,
            "/tenants/acme/groups/admins/members/eve".into(),
            None,
        ),
        // Making a stronger role a default role (given to every new credential of acme).
        (
            Method::PATCH,
            strong_uri.clone(),
            Some(json!({"is_default": true})),
        ),
    ];
    for (method, uri, body) in &refused {
        let reply = call(&app, method.clone(), uri, DAN, body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{method} {uri} {body:?}: {}",
            reply.text()
        );
        escalation(&reply);
    }
    // Nothing changed, by the store and by every read.
    assert_eq!(
        t.store().fingerprint(),
        before,
        "a refused call changes nothing"
    );
    let list = ok(&get(&app, roles, OLGA).await, StatusCode::OK);
    assert_eq!(list["total"], 6, "{list}");
    let grants = ok(
        &get(&app, &format!("{reader_uri}/grants"), OLGA).await,
        StatusCode::OK,
    );
    assert_eq!(
        grants,
        json!({"permissions": ["read:Catalog"], "actions": []})
    );
    let view = ok(&get(&app, &reader_uri, OLGA).await, StatusCode::OK);
    assert_eq!(view["parent"], Value::Null);
    assert_eq!(view["name"], "reader");
    let view = ok(&get(&app, &strong_uri, OLGA).await, StatusCode::OK);
    assert_eq!(view["is_default"], false);
    let mine = ok(
        &get(&app, "/tenants/acme/assignments?subject=dan", OLGA).await,
        StatusCode::OK,
    );
    assert_eq!(mine["assignments"].as_array().unwrap().len(), 2, "{mine}");
    let eve = ok(
        &get(&app, "/tenants/acme/assignments?subject=eve", OLGA).await,
        StatusCode::OK,
    );
    assert_eq!(eve["assignments"], json!([]));
    let members = ok(
        &get(&app, "/tenants/acme/groups/admins/members", OLGA).await,
        StatusCode::OK,
    );
    assert_eq!(members, json!({"members": []}));
    for (permission, reason) in [
        ("write:Catalog", "deny_no_permission"),
        ("manage:Roles", "allow"),
    ] {
        let why = ok(
            &get(
                &app,
                &format!("/tenants/acme/explain?subject=dan&permission={permission}"),
                OLGA,
            )
            .await,
            StatusCode::OK,
        );
        assert_eq!(why["reason"], reason, "{why}");
    }

    // With grants he holds, he does all of it.
    let made = create_role(
        &app,
        "acme",
        DAN,
        json!({"slug": "catalog-reader", "permissions": ["read:Catalog"]}),
    )
    .await;
    assert_eq!(made["permissions"], json!(["read:Catalog"]));
    create_role(
        &app,
        "acme",
        DAN,
        json!({"slug": "sub-viewer", "parent": "viewer"}),
    )
    .await;
    create_role(
        &app,
        "acme",
        DAN,
        json!({"namespace": "eng", "slug": "eng-reader", "permissions": ["read:Code"]}),
    )
    .await;
    let reply = call(
        &app,
        Method::PUT,
        &format!("{reader_uri}/permissions/read:*"),
        DAN,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    let replaced = ok(
        &call(
            &app,
            Method::PUT,
            &format!("{reader_uri}/grants"),
            DAN,
            Some(json!({"permissions": ["read:Catalog", "read:Books.Rare"]})),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(
        replaced["permissions"],
        json!(["read:Books.Rare", "read:Catalog"])
    );
    let reply = call(
        &app,
        Method::PATCH,
        &reader_uri,
        DAN,
        Some(json!({"parent": "viewer"})),
    )
    .await;
    assert_eq!(ok(&reply, StatusCode::OK)["parent"], "viewer");
    for (role, subject) in [
        (&reader, "dan"),
        (&reader, "eve"),
        (&s.delegate, "eve"),
        (&s.viewer, "fay"),
    ] {
        let reply = call(
            &app,
            Method::POST,
            "/tenants/acme/assignments",
            DAN,
            Some(json!({"role_id": role, "subject_kind": "user", "subject": subject})),
        )
        .await;
        assert_eq!(ok(&reply, StatusCode::CREATED)["granted_by"], "dan");
    }
    let reply = call(
        &app,
        Method::PUT,
        "/tenants/acme/groups/readers/members/eve",
        DAN,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    let reply = call(
        &app,
        Method::PUT,
        "/tenants/acme/groups/no-roles/members/eve",
        DAN,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    let reply = call(
        &app,
        Method::PATCH,
        &format!("{roles}/{}", s.viewer),
        DAN,
        Some(json!({"is_default": true})),
    )
    .await;
    assert_eq!(ok(&reply, StatusCode::OK)["is_default"], true);
    let reply = call(
        &app,
        Method::PATCH,
        &reader_uri,
        DAN,
        Some(json!({"is_default": true, "parent": null})),
    )
    .await;
    let body = ok(&reply, StatusCode::OK);
    assert_eq!(
        (&body["is_default"], &body["parent"]),
        (&json!(true), &Value::Null)
    );
    // Taking away is never an escalation.
    let reply = call(
        &app,
        Method::DELETE,
        &format!("{reader_uri}/permissions/read:Catalog"),
        DAN,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    // But a role stronger than dan is not his to change, even harmlessly.
    let reply = call(
        &app,
        Method::PATCH,
        &strong_uri,
        DAN,
        Some(json!({"is_default": false, "name": "Strong"})),
    )
    .await;
    escalation(&reply);
}

#[tokio::test]
async fn a_delegated_administrator_cannot_take_away_or_delete_what_is_stronger() {
    let (app, t, s) = setup().await;
    t.assign(
        "acme",
        NewAssignment::new(&s.owner, SubjectKind::Group, "admins"),
    )
    .await
    .unwrap();
    t.add_member("acme", "admins", "olga").await.unwrap();
    let olga_owner = t
        .assignments(portcullis::store::AssignmentFilter {
            tenant: "acme".into(),
            subject: Some((SubjectKind::User, "olga".into())),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .remove(0)
        .id;
    let owner_uri = format!("/tenants/acme/roles/{}", s.owner);
    let before = t.store().fingerprint();
    let attempts: Vec<(Method, String)> = vec![
        (Method::DELETE, owner_uri.clone()),
        (Method::DELETE, format!("{owner_uri}/permissions/*:*")),
        (Method::DELETE, format!("{owner_uri}/actions/*")),
        (
            Method::DELETE,
            format!("/tenants/acme/assignments/{olga_owner}"),
        ),
        (
            Method::DELETE,
            "/tenants/acme/groups/admins/members/olga".into(),
        ),
        (Method::DELETE, "/tenants/acme".into()),
    ];
    for (method, uri) in &attempts {
        let reply = call(&app, method.clone(), uri, DAN, None).await;
        escalation(&reply);
    }
    let reply = call(
        &app,
        Method::PUT,
        &format!("{owner_uri}/grants"),
        DAN,
        Some(json!({"permissions": ["read:*"]})),
    )
    .await;
    escalation(&reply);
    assert_eq!(t.store().fingerprint(), before, "nothing changed");
    // The owner may do each of them.
    let reply = call(&app, Method::DELETE, &attempts[4].1, OLGA, None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    let reply = call(&app, Method::DELETE, "/tenants/acme", OLGA, None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert!(t.role("acme", &s.owner).await.unwrap().is_none());
}

#[tokio::test]
async fn the_same_rule_holds_for_a_confined_credential_and_for_actions() {
    let (app, t, s) = setup().await;
    // Cora's grants are her credential's application role: manage:Roles and read:*.
    let reply = call(
        &app,
        Method::POST,
        "/tenants/acme/roles",
        CORA,
        Some(json!({"slug": "w", "permissions": ["write:*"]})),
    )
    .await;
    escalation(&reply);
    let reply = call(
        &app,
        Method::POST,
        "/tenants/acme/assignments",
        CORA,
        Some(json!({"role_id": s.owner, "subject_kind": "user", "subject": "cora"})),
    )
    .await;
    escalation(&reply);
    create_role(
        &app,
        "acme",
        CORA,
        json!({"slug": "r", "permissions": ["read:Catalog"]}),
    )
    .await;

    // Erin holds manage:Roles, read:* and the actions reports:*.
    let erin_role = t
        .create_role(
            "acme",
            NewRole::new("", "reports-admin")
                .grant(perm("manage:Roles"))
                .grant(perm("read:*"))
                .grant(act("reports:*")),
        )
        .await
        .unwrap()
        .id;
    t.assign(
        "acme",
        NewAssignment::new(&erin_role, SubjectKind::User, "erin"),
    )
    .await
    .unwrap();
    let erin = &[("x-user", "erin")][..];
    let target = create_role(
        &app,
        "acme",
        erin,
        json!({"slug": "exporter", "actions": ["reports:export"]}),
    )
    .await;
    let base = format!("/tenants/acme/roles/{}", target["id"].as_str().unwrap());
    for (segment, status) in [
        ("actions/reports:delete", StatusCode::NO_CONTENT),
        ("actions/reports:*", StatusCode::NO_CONTENT),
        ("actions/reports:export:*", StatusCode::NO_CONTENT),
        ("actions/*", StatusCode::FORBIDDEN),
        ("actions/settings:*", StatusCode::FORBIDDEN),
        ("actions/settings:manage", StatusCode::FORBIDDEN),
        ("permissions/reports:export", StatusCode::FORBIDDEN),
    ] {
        let reply = call(&app, Method::PUT, &format!("{base}/{segment}"), erin, None).await;
        assert_eq!(reply.status, status, "{segment}: {}", reply.text());
    }
    let grants = ok(
        &get(&app, &format!("{base}/grants"), OLGA).await,
        StatusCode::OK,
    );
    assert_eq!(
        grants,
        json!({"permissions": [], "actions": ["reports:*", "reports:delete", "reports:export", "reports:export:*"]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_assignments_through_http_fill_a_full_role_exactly() {
    let (app, t, _) = setup().await;
    let limited = create_role(
        &app,
        "acme",
        OLGA,
        json!({"slug": "oncall", "max_members": 3}),
    )
    .await;
    let role_id = limited["id"].as_str().unwrap().to_owned();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let app = app.clone();
            let body =
                json!({"role_id": role_id, "subject_kind": "user", "subject": format!("u{i}")});
            tokio::spawn(async move {
                call(
                    &app,
                    Method::POST,
                    "/tenants/acme/assignments",
                    OLGA,
                    Some(body),
                )
                .await
            })
        })
        .collect();
    let mut created = 0;
    let mut full = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                problem(&reply, StatusCode::CONFLICT, "role_full");
                full += 1;
            }
            other => panic!("{other}: {}", reply.text()),
        }
    }
    assert_eq!((created, full), (3, 17));
    let held = ok(
        &get(
            &app,
            &format!("/tenants/acme/assignments?role_id={role_id}"),
            OLGA,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(held["assignments"].as_array().unwrap().len(), 3);
    let stored = t
        .assignments(portcullis::store::AssignmentFilter {
            tenant: "acme".into(),
            role_id: Some(role_id),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 3);
}

/// The default renderer's answer: RFC 9457 problem+json with `type`, `title`, `status`,
/// `detail` and the `field` at fault; the problem's code is not a member of the default body.
#[tokio::test]
async fn the_default_rendering_is_problem_json() {
    let t = Tenancy::new(MemoryStore::new());
    let s = seed(&t).await;
    let app = app_over(&t, false);
    let reply = call(
        &app,
        Method::POST,
        "/tenants/acme/roles",
        OLGA,
        Some(json!({"slug": "Bad"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert_eq!(body["type"], "about:blank");
    assert_eq!(body["title"], "Bad Request");
    assert_eq!(body["status"], 400);
    assert_eq!(body["field"], "slug");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("lowercase letter"),
        "{body}"
    );
    let reply = get(&app, "/tenants/acme/roles/rol_unknown", OLGA).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(reply.json()["detail"], "No such role.");
    // The conflicts differ by their detail only.
    create_role(&app, "acme", OLGA, json!({"slug": "a"})).await;
    let reply = call(
        &app,
        Method::POST,
        "/tenants/acme/roles",
        OLGA,
        Some(json!({"slug": "a"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.json()["detail"], "That role slug exists already.");
    let reply = call(
        &app,
        Method::PATCH,
        &format!(
            "/tenants/acme/roles/{}",
            t.role_by_slug("acme", "", "a").await.unwrap().unwrap().id
        ),
        OLGA,
        Some(json!({"parent": "a"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.json()["detail"],
        "The parent would make the roles a cycle."
    );
    let reply = call(
        &app,
        Method::POST,
        "/tenants/acme/assignments",
        DAN,
        Some(json!({"role_id": s.owner, "subject_kind": "user", "subject": "dan"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    let body = reply.json();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("do not hold it yourself"),
        "{body}"
    );
    // The gateway's 403 names the reason and what was required.
    let reply = get(&app, "/tenants/globex/roles", CORA).await;
    let body = reply.json();
    assert_eq!(body["reason"], "deny_other_tenant", "{body}");
    assert_eq!(body["required"]["permission"], "manage:Roles", "{body}");
    // Bodies and queries that do not deserialize are problems as well.
    let reply = call(
        &app,
        Method::POST,
        "/tenants/acme/roles",
        OLGA,
        Some(json!({"slug": "x", "colour": "red"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    assert!(
        reply.json()["detail"].as_str().unwrap().contains("colour"),
        "{}",
        reply.text()
    );
    let reply = get(&app, "/tenants/acme/roles?colour=red", OLGA).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_store_that_fails_answers_503_with_retry_after_never_2xx() {
    let store = portcullis::store::sqlite::SqliteStore::in_memory()
        .await
        .unwrap();
    let t = Tenancy::new(store.clone());
    let s = seed(&t).await;
    let assignment = t
        .assignments(portcullis::store::AssignmentFilter {
            tenant: "acme".into(),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .id
        .clone();
    for coded in [true, false] {
        let app = app_over(&t, coded);
        // Olga's answer in acme is cached now: her next checks need no store.
        ok(
            &get(&app, "/tenants/acme/roles", OLGA).await,
            StatusCode::OK,
        );
    }
    store.pool().close().await;
    for coded in [true, false] {
        let app = app_over(&t, coded);
        let unavailable = |reply: &Reply, what: &str| {
            assert_eq!(
                reply.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{what}: {}",
                reply.text()
            );
            assert_eq!(
                reply.header("content-type"),
                Some("application/problem+json"),
                "{what}"
            );
            assert_eq!(reply.header("retry-after"), Some("5"), "{what}");
            let body = reply.json();
            assert_eq!(body["status"], 503, "{what}");
            if coded {
                assert_eq!(body["code"], "unavailable", "{what}");
            }
        };
        let mut routes = every_route("acme", &s.viewer, &assignment);
        routes.extend(action_routes());
        for (method, uri, body) in routes {
            // Cora passes the gateway by her credential's own permissions (no store): the route
            // itself meets the closed store. Ada likewise for the action routes.
            let who = if uri.starts_with("/actions") {
                ADA
            } else {
                CORA
            };
            let reply = call(&app, method.clone(), &uri, who, body.clone()).await;
            unavailable(&reply, &format!("{method} {uri}"));
            if !uri.starts_with("/actions") {
                // Olga passes by her cached answer; nina, never seen, cannot be checked at all.
                let reply = call(&app, method.clone(), &uri, OLGA, body.clone()).await;
                unavailable(&reply, &format!("olga {method} {uri}"));
                let reply = call(&app, method.clone(), &uri, NINA, body.clone()).await;
                unavailable(&reply, &format!("nina {method} {uri}"));
            }
        }
    }
}

/// A role name is authority only for system roles: a delegate may make and hold a role named
/// like one an application checks, and it forges nothing; a system role's name is handed on
/// only by someone who holds it.
#[tokio::test]
async fn role_names_cannot_be_forged_or_handed_on_by_a_delegate() {
    let (app, t, s) = setup().await;
    let forged = create_role(
        &app,
        "acme",
        DAN,
        json!({"slug": "superadmin", "permissions": ["read:Catalog"]}),
    )
    .await;
    let reply = call(
        &app,
        Method::POST,
        "/tenants/acme/assignments",
        DAN,
        Some(json!({"role_id": forged["id"], "subject_kind": "user", "subject": "dan"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let needs = portcullis::Requirement::Roles(vec!["superadmin".into()].into());
    let acme = portcullis::authz::Scope::tenant("acme").unwrap();
    let dan = UserContext::new("dan", AuthMethod::Custom("headers"));
    assert_eq!(
        t.explain(&dan, &needs, &acme).await.reason(),
        portcullis::Reason::DenyMissingRoles
    );
    // A system role whose grants dan holds (read:*) but whose name he does not: refused.
    let auditor = t
        .create_role(
            "acme",
            NewRole::new("", "auditor")
                .system()
                .grant(perm("read:Audit")),
        )
        .await
        .unwrap();
    let before = t.store().fingerprint();
    let reply = call(
        &app,
        Method::POST,
        "/tenants/acme/assignments",
        DAN,
        Some(json!({"role_id": auditor.id, "subject_kind": "user", "subject": "nina"})),
    )
    .await;
    escalation(&reply);
    assert!(reply.text().contains("role auditor"), "{}", reply.text());
    assert_eq!(t.store().fingerprint(), before);
    // The owner holds `*:*`: every name.
    let reply = call(
        &app,
        Method::POST,
        "/tenants/acme/assignments",
        OLGA,
        Some(json!({"role_id": auditor.id, "subject_kind": "user", "subject": "nina"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let _ = s;
}

/// Management decisions never rest on another instance's stale cache: a grant attached through
/// one instance is seen by the other's escalation check at once (its answers on the request
/// path keep their TTL bound).
#[tokio::test]
async fn another_instances_write_is_seen_by_management_checks() {
    let store = MemoryStore::new();
    let a = Tenancy::new(store.clone());
    let b = Tenancy::new(store);
    let _ = seed(&a).await;
    let ops = a
        .create_role("acme", NewRole::new("", "ops").grant(perm("read:Ops")))
        .await
        .unwrap();
    let app_a = app_over(&a, true);
    // Instance A compiles acme now: dan holds read:* and may give `ops`.
    let assign =
        |who: &'static str| json!({"role_id": ops.id, "subject_kind": "user", "subject": who});
    let reply = call(
        &app_a,
        Method::POST,
        "/tenants/acme/assignments",
        DAN,
        Some(assign("nina")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    // Through B, the owner makes `ops` strong.
    b.attach_grant("acme", &ops.id, &perm("write:*"))
        .await
        .unwrap();
    // A's cached graph still says `ops` is weak; its management check must not believe it.
    let reply = call(
        &app_a,
        Method::POST,
        "/tenants/acme/assignments",
        DAN,
        Some(assign("dan")),
    )
    .await;
    escalation(&reply);
}

/// A right held through an expiring assignment is handed on only until it expires: never for
/// good, never through a group membership (which does not expire).
#[tokio::test]
async fn a_temporary_right_is_not_laundered_into_a_permanent_one() {
    let (app, t, s) = setup().await;
    let writer = t
        .create_role(
            "acme",
            NewRole::new("", "writer").grant(perm("write:Catalog")),
        )
        .await
        .unwrap();
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 3600;
    t.assign(
        "acme",
        NewAssignment::new(&writer.id, SubjectKind::User, "dan").expires_at(until),
    )
    .await
    .unwrap();
    let mine = create_role(
        &app,
        "acme",
        DAN,
        json!({"slug": "mine", "permissions": ["write:Catalog"]}),
    )
    .await;
    let before = t.store().fingerprint();
    for expires in [Value::Null, json!(until + 1)] {
        let reply = call(
            &app,
            Method::POST,
            "/tenants/acme/assignments",
            DAN,
            Some(json!({"role_id": mine["id"], "subject_kind": "user", "subject": "dan", "expires_at": expires})),
        )
        .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text());
        assert!(reply.text().contains("only until"), "{}", reply.text());
    }
    // A group holding `mine`: putting someone in it would give it for good.
    t.assign(
        "acme",
        NewAssignment::new(mine["id"].as_str().unwrap(), SubjectKind::Group, "writers"),
    )
    .await
    .unwrap();
    let before_group = t.store().fingerprint();
    let reply = call(
        &app,
        Method::PUT,
        "/tenants/acme/groups/writers/members/nina",
        DAN,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text());
    assert_eq!(t.store().fingerprint(), before_group);
    // Making it a default role would too.
    let reply = call(
        &app,
        Method::PATCH,
        &format!("/tenants/acme/roles/{}", mine["id"].as_str().unwrap()),
        DAN,
        Some(json!({"is_default": true})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text());
    // Until no later than his own: given.
    let reply = call(
        &app,
        Method::POST,
        "/tenants/acme/assignments",
        DAN,
        Some(json!({"role_id": mine["id"], "subject_kind": "user", "subject": "nina", "expires_at": until})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_ne!(t.store().fingerprint(), before);
    let _ = s;
}

/// Attaching, even a grant one holds, to a role stronger than oneself is a change to it.
#[tokio::test]
async fn a_delegate_cannot_change_a_stronger_role_by_attaching() {
    let (app, t, s) = setup().await;
    let before = t.store().fingerprint();
    let reply = call(
        &app,
        Method::PUT,
        &format!("/tenants/acme/roles/{}/permissions/read:Catalog", s.owner),
        DAN,
        None,
    )
    .await;
    escalation(&reply);
    assert_eq!(t.store().fingerprint(), before);
}
