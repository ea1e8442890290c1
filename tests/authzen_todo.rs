//! The OpenID AuthZEN interop "Todo" scenario against the model-backed PDP (issue #19): the
//! scenario's five users and four roles, and its rules, among them the owner-conditional ones
//! ("an editor may update a todo they own").
//!
//! The scenario's users are Rick (admin and evil_genius), Morty and Summer (editor), Beth and
//! Jerry (viewer); a subject is sent by the id its identity provider (Dex, connector `local`)
//! gives the user, and a todo's owner by e-mail address in `resource.properties.ownerID`.
//! Its rules: anyone may read users and todos; admins and editors may create todos; an
//! evil_genius, or an editor who owns the todo, may update it; an admin, or an editor who owns
//! it, may delete it.
//!
//! The interop project's decision file is not copied here (nothing fetched from another
//! project is committed): every question its runner asks is asked here, built from the rules
//! above over every subject, action and owner, answered one at a time and in batches, and the
//! answers are compared as the runner compares them (the exact JSON `{"decision":…}`). The
//! rules are written out below independently of the roles the PDP is given, so a PDP that
//! misreads its roles fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use portcullis::service::authzen::{self, Metadata};
use portcullis::service::pdp::ModelPdp;
use portcullis::service::sentinel::{SentinelApi, SentinelConfig};
use portcullis::store::roles::SubjectKind;
use portcullis::store::{ExternalIdentityStore, MemoryStore};
use portcullis::tenant::{NewAssignment, NewRole};
use serde_json::{Value, json};
use tower::ServiceExt;

const WORKSPACE: &str = "7d1f6a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
const IDP: &str = "http://dex.example.com";
const PASSWORD: &str = "violet-harbour-lantern-47";

/// (name, e-mail, identity-provider subject, roles).
const USERS: [(&str, &str, &str, &[&str]); 5] = [
    (
        "rick",
        "rick@the-citadel.com",
        "CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs",
        &["admin", "evil_genius"],
    ),
    (
        "morty",
        "morty@the-citadel.com",
        "CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs",
        &["editor"],
    ),
    (
        "summer",
        "summer@the-smiths.com",
        "CiRmZDI2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs",
        &["editor"],
    ),
    (
        "beth",
        "beth@the-smiths.com",
        "CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs",
        &["viewer"],
    ),
    (
        "jerry",
        "jerry@the-smiths.com",
        "CiRmZDQ2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs",
        &["viewer"],
    ),
];

/// The scenario's rules, as it states them.
fn expected(roles: &[&str], action: &str, owner: bool) -> bool {
    let has = |role| roles.contains(&role);
    match action {
        "can_read_user" | "can_read_todos" => true,
        "can_create_todo" => has("admin") || has("editor"),
        "can_update_todo" => has("evil_genius") || (has("editor") && owner),
        "can_delete_todo" => has("admin") || (has("editor") && owner),
        _ => false,
    }
}

/// The PDP's roles in the workspace: action grants, `:own` ones counting on owned todos only.
async fn pdp() -> Router {
    let api = SentinelApi::open(MemoryStore::new(), SentinelConfig::new("http://127.0.0.1"))
        .await
        .unwrap();
    api.create_workspace(WORKSPACE, "todo").await.unwrap();
    let tenancy = api.tenancy();
    let role = |slug: &str, actions: &[&str]| {
        let mut new = NewRole::new("", slug);
        new.actions = actions.iter().map(|a| (*a).to_owned()).collect();
        new
    };
    let read = ["can_read_user", "can_read_todos"];
    let roles = [
        role("viewer-todo", &read),
        role(
            "editor",
            &[
                &read[..],
                &[
                    "can_create_todo",
                    "can_update_todo:own",
                    "can_delete_todo:own",
                ],
            ]
            .concat(),
        ),
        role(
            "admin",
            &[&read[..], &["can_create_todo", "can_delete_todo"]].concat(),
        ),
        role("evil-genius", &["can_update_todo"]),
    ];
    let mut ids = std::collections::HashMap::new();
    for new in roles {
        let slug = new.slug.clone();
        // `editor` and `admin` exist as workspace roles; the Todo grants go on their own roles.
        let new = NewRole {
            slug: format!("todo-{slug}"),
            ..new
        };
        let made = tenancy.create_role(WORKSPACE, new).await.unwrap();
        ids.insert(slug, made.id);
    }
    for (name, email, subject, roles) in USERS {
        let user = api
            .identity()
            .register(email, &format!("{PASSWORD}-{name}"))
            .await
            .unwrap();
        api.identity()
            .store()
            .link_external(IDP, subject, &user.id, 0)
            .await
            .unwrap();
        for role in roles {
            let slug = match *role {
                "viewer" => "viewer-todo",
                "evil_genius" => "evil-genius",
                other => other,
            };
            tenancy
                .assign(
                    WORKSPACE,
                    NewAssignment::new(&ids[slug], SubjectKind::User, &user.id).granted_by("test"),
                )
                .await
                .unwrap();
        }
    }
    let pdp = ModelPdp::new(api, WORKSPACE).subjects_from(IDP);
    authzen::router(pdp, Metadata::new("http://127.0.0.1:8080").unwrap())
}

/// Every question of the scenario with its expected decision.
fn questions() -> Vec<(Value, bool)> {
    let mut asked = Vec::new();
    for (_, email, subject, roles) in USERS {
        let who = json!({"type": "identity", "id": subject});
        for (_, other, other_subject, _) in USERS {
            asked.push((
                json!({"subject": who, "action": {"name": "can_read_user"},
                       "resource": {"type": "user", "id": other_subject,
                                    "properties": {"userID": other}}}),
                true,
            ));
        }
        asked.push((
            json!({"subject": who, "action": {"name": "can_read_todos"},
                   "resource": {"type": "todo", "id": "todo-1"}}),
            expected(roles, "can_read_todos", false),
        ));
        asked.push((
            json!({"subject": who, "action": {"name": "can_create_todo"},
                   "resource": {"type": "todo", "id": "todo-1"}}),
            expected(roles, "can_create_todo", false),
        ));
        for action in ["can_update_todo", "can_delete_todo"] {
            for (at, (_, owner, _, _)) in USERS.iter().enumerate() {
                asked.push((
                    json!({"subject": who, "action": {"name": action},
                           "resource": {"type": "todo",
                                        "id": format!("7240d0db-8ff0-41ec-98b2-34a096273b9{at}"),
                                        "properties": {"ownerID": owner}}}),
                    expected(roles, action, *owner == email),
                ));
            }
        }
    }
    asked
}

async fn post(app: &Router, path: &str, body: &Value) -> (StatusCode, String) {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn every_single_evaluation_of_the_todo_scenario() {
    let app = pdp().await;
    let asked = questions();
    assert_eq!(asked.len(), 5 * (5 + 2 + 2 * 5));
    for (request, expected) in &asked {
        let (status, body) = post(&app, "/access/v1/evaluation", request).await;
        assert_eq!(status, StatusCode::OK, "{request}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["decision"], json!(expected), "{request} -> {body}");
        // Each verdict says why: owner-conditional allows say so.
        let reason = answer["context"]["reason"].as_str().unwrap();
        assert_eq!(
            reason.starts_with("allow"),
            *expected,
            "{request} -> {body}"
        );
    }
    // The owner-conditional grant is what allows Morty his own todo, and only his own.
    let (_, own) = post(&app, "/access/v1/evaluation", &asked[17 + 8].0).await;
    assert!(own.contains("allow_owner"), "{own}");
}

#[tokio::test]
async fn the_todo_scenario_in_batches_compared_as_the_runner_compares() {
    let app = pdp().await;
    let asked = questions();
    // One batch per subject, the subject given once as the default, as the runner sends them.
    for chunk in asked.chunks(17) {
        let subject = chunk[0].0["subject"].clone();
        let items: Vec<Value> = chunk
            .iter()
            .map(|(q, _)| json!({"action": q["action"], "resource": q["resource"]}))
            .collect();
        let body = json!({"subject": subject, "evaluations": items});
        let (status, text) = post(&app, "/access/v1/evaluations", &body).await;
        assert_eq!(status, StatusCode::OK);
        let wanted: Vec<Value> = chunk.iter().map(|(_, e)| json!({"decision": e})).collect();
        assert_eq!(text, json!({"evaluations": wanted}).to_string());
    }
}

#[tokio::test]
async fn an_owner_the_caller_names_cannot_lend_what_no_role_grants() {
    let app = pdp().await;
    // Beth owns the todo, but viewers hold no `:own` grant: owning it gives her nothing.
    let beth = USERS[3].2;
    let (_, body) = post(
        &app,
        "/access/v1/evaluation",
        &json!({"subject": {"type": "identity", "id": beth},
                "action": {"name": "can_delete_todo"},
                "resource": {"type": "todo", "id": "t", "properties": {"ownerID": "BETH@the-smiths.com"}}}),
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["decision"],
        false
    );
    // An unknown subject holds nothing, whoever it claims to own.
    let (_, body) = post(
        &app,
        "/access/v1/evaluation",
        &json!({"subject": {"type": "identity", "id": "nobody"},
                "action": {"name": "can_update_todo"},
                "resource": {"type": "todo", "id": "t", "properties": {"ownerID": "nobody"}}}),
    )
    .await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["decision"], false);
    assert_eq!(answer["context"]["reason"], "deny_no_roles");
}
