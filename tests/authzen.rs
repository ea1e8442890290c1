//! The AuthZEN 1.0 API over HTTP: what the specification and its certification scenario ask of
//! a PDP's wire (the metadata, one question, a batch with defaults and its three semantics,
//! 400 for every malformed request, an invalid item answered in its place, `X-Request-ID`
//! echoed), against a fixture PDP whose rule is trivial, so that only the wire is tested.
#![cfg(feature = "service")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use common::{Reply, send};
use http::{Method, Request, StatusCode};
use portcullis::service::authzen::{self, Evaluation, Metadata, Pdp, Verdict};
use serde_json::{Value, json};

/// Allows `read`, and anything on a resource whose `owner` property is the subject; counts
/// the questions it was asked.
#[derive(Clone, Default)]
struct ReadOrOwn {
    asked: Arc<AtomicUsize>,
}

impl Pdp for ReadOrOwn {
    async fn evaluate(&self, question: &Evaluation<'_>) -> Verdict {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let owner = question
            .resource
            .properties
            .get("owner")
            .and_then(Value::as_str);
        if question.action.name == "read" {
            Verdict::allow().with_reason("allow_read")
        } else if owner == Some(question.subject.id.as_str()) {
            Verdict::allow().with_reason("allow_owner")
        } else {
            Verdict::deny().with_reason("deny_not_owner")
        }
    }
}

fn app() -> (Router, ReadOrOwn) {
    let pdp = ReadOrOwn::default();
    let metadata = Metadata::new("https://pdp.example.com").unwrap();
    (authzen::router(pdp.clone(), metadata), pdp)
}

fn post(path: &str, body: &Value) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn question(subject: &str, action: &str, resource: Value) -> Value {
    json!({
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        "resource": resource,
    })
}

fn doc(id: &str, owner: &str) -> Value {
    json!({"type": "doc", "id": id, "properties": {"owner": owner}})
}

/// The `evaluations` array exactly as sent on the wire.
fn raw_evaluations(reply: &Reply) -> String {
    let text = String::from_utf8(reply.body.clone()).unwrap();
    let start = text.find("\"evaluations\":").expect("an evaluations array") + 14;
    let end = text.rfind('}').unwrap();
    text[start..end].to_owned()
}

#[tokio::test]
async fn the_metadata_names_the_endpoints_where_the_specification_puts_it() {
    let get_json = |app: Router, path: &str| {
        let request = Request::get(path).body(Body::empty()).unwrap();
        async move { send(&app, request).await }
    };
    // At the host's root, the router serves it.
    let (app, _) = app();
    let reply = get_json(app, "/.well-known/authzen-configuration").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!({
            "policy_decision_point": "https://pdp.example.com",
            "access_evaluation_endpoint": "https://pdp.example.com/access/v1/evaluation",
            "access_evaluations_endpoint": "https://pdp.example.com/access/v1/evaluations",
        })
    );
    // Under a path, the well-known segment goes between the host and that path (RFC 8615 as
    // the specification applies it), so the document is mounted at the root apart.
    let nested = Metadata::new("https://example.com/authz/").unwrap();
    assert_eq!(
        nested.well_known_path(),
        "/.well-known/authzen-configuration/authz"
    );
    let site = Router::new()
        .nest(
            "/authz",
            authzen::router(ReadOrOwn::default(), nested.clone()),
        )
        .merge(authzen::metadata_router(&nested));
    let reply = get_json(site.clone(), "/.well-known/authzen-configuration/authz").await;
    assert_eq!(
        reply.json()["access_evaluation_endpoint"],
        "https://example.com/authz/access/v1/evaluation"
    );
    let reply = get_json(site.clone(), "/authz/.well-known/authzen-configuration").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let asked = send(
        &site,
        post(
            "/authz/access/v1/evaluation",
            &question("ada", "read", doc("1", "bob")),
        ),
    )
    .await;
    assert_eq!(asked.json()["decision"], true);
    // https, or http on a loopback host only; a host, and no user, query or fragment.
    for good in [
        "https://pdp.example.com",
        "http://127.0.0.1:8080",
        "http://localhost/pdp",
    ] {
        assert!(Metadata::new(good).is_ok(), "{good}");
    }
    for bad in [
        "pdp.example.com",
        "https://",
        "https://pdp?x=1",
        "https://pdp#top",
        "https://ada@pdp",
        "http://pdp.example.com",
        "ftp://pdp",
        "https://p dp",
    ] {
        assert!(Metadata::new(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn one_question_gets_its_decision_and_the_pdps_context() {
    let (app, _) = app();
    let allowed = send(
        &app,
        post(
            "/access/v1/evaluation",
            &question("ada", "edit", doc("1", "ada")),
        ),
    )
    .await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(
        allowed.json(),
        json!({"decision": true, "context": {"reason": "allow_owner"}})
    );
    // A denial is an answer, not an HTTP error.
    let denied = send(
        &app,
        post(
            "/access/v1/evaluation",
            &question("bob", "edit", doc("1", "ada")),
        ),
    )
    .await;
    assert_eq!(denied.status, StatusCode::OK);
    assert_eq!(denied.json()["decision"], false);
    assert_eq!(denied.json()["context"]["reason"], "deny_not_owner");
}

#[tokio::test]
async fn every_malformed_request_is_400_naming_the_field() {
    let (app, pdp) = app();
    let whole = question("ada", "read", doc("1", "ada"));
    let mut cases: Vec<(Request<Body>, &str)> = Vec::new();
    for (broken, field) in [
        (
            json!({"action": {"name": "read"}, "resource": {"type": "d", "id": "1"}}),
            "subject",
        ),
        (
            json!({"subject": "ada", "action": {"name": "read"}, "resource": {"type": "d", "id": "1"}}),
            "subject",
        ),
        (
            json!({"subject": {"id": "ada"}, "action": {"name": "read"}, "resource": {"type": "d", "id": "1"}}),
            "subject.type",
        ),
        (
            json!({"subject": {"type": "user", "id": "ada"}, "action": {"name": 123}, "resource": {"type": "d", "id": "1"}}),
            "action.name",
        ),
        (
            json!({"subject": {"type": "user", "id": "ada"}, "action": {"name": "read"}, "resource": {"type": "d"}}),
            "resource.id",
        ),
    ] {
        cases.push((post("/access/v1/evaluation", &broken), field));
    }
    let raw = |content_type: &str, body: &str| {
        Request::post("/access/v1/evaluation")
            .header("content-type", content_type)
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    cases.push((raw("text/plain", &whole.to_string()), ""));
    cases.push((raw("application/json", "{\"subject\": "), ""));
    cases.push((raw("application/json", ""), ""));
    cases.push((raw("application/json", "[1, 2]"), ""));
    cases.push((
        Request::post("/access/v1/evaluation")
            .body(Body::from(whole.to_string()))
            .unwrap(),
        "",
    ));
    for (request, field) in cases {
        let reply = send(&app, request).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{field}: {:?}",
            reply.json()
        );
        assert_eq!(
            reply.headers["content-type"], "application/problem+json",
            "{field}"
        );
        let detail = reply.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.starts_with(field), "{field}: {detail}");
    }
    // The same on the batch endpoint, and nothing was asked of the PDP.
    let reply = send(
        &app,
        post(
            "/access/v1/evaluations",
            &json!({"subject": {"type": "user"}}),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(pdp.asked.load(Ordering::SeqCst), 0);
    // And a body past the bound is refused before it is read whole.
    let huge = json!({"padding": "x".repeat(authzen::MAX_BODY_BYTES)});
    let reply = send(&app, post("/access/v1/evaluation", &huge)).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Or before a byte is read, when the declared length is over.
    let mut declared = post("/access/v1/evaluation", &json!({}));
    declared
        .headers_mut()
        .insert("content-length", (authzen::MAX_BODY_BYTES + 1).into());
    assert_eq!(
        send(&app, declared).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let reply = send(
        &app,
        Request::builder()
            .method(Method::GET)
            .uri("/access/v1/evaluation")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_batch_applies_its_defaults_and_answers_each_item_with_its_decision_alone() {
    let (app, _) = app();
    let batch = json!({
        "subject": {"type": "user", "id": "ada"},
        "action": {"name": "edit"},
        "evaluations": [
            {"resource": doc("1", "ada")},
            {"resource": doc("2", "bob")},
            {"subject": {"type": "user", "id": "bob"}, "resource": doc("2", "bob")},
            {"action": {"name": "read"}, "resource": doc("3", "carol")},
        ],
    });
    let reply = send(&app, post("/access/v1/evaluations", &batch)).await;
    assert_eq!(reply.status, StatusCode::OK);
    // Exactly these bytes: a client comparing answers as text (the interop runner) must match.
    assert_eq!(
        raw_evaluations(&reply),
        r#"[{"decision":true},{"decision":false},{"decision":true},{"decision":true}]"#
    );
    assert!(reply.json().get("decision").is_none());
    // Asked for, each verdict's context comes too.
    let mut with_context = batch.clone();
    with_context["options"] = json!({"portcullis_context": true});
    let reply = send(&app, post("/access/v1/evaluations", &with_context)).await;
    assert_eq!(
        reply.json()["evaluations"][1],
        json!({"decision": false, "context": {"reason": "deny_not_owner"}})
    );
}

#[tokio::test]
async fn the_three_semantics_stop_where_they_should_and_ask_no_further() {
    let items = json!([
        {"resource": doc("1", "ada")},
        {"resource": doc("2", "bob")},
        {"resource": doc("3", "ada")},
    ]);
    for (semantic, expected, asked) in [
        (
            "execute_all",
            r#"[{"decision":true},{"decision":false},{"decision":true}]"#,
            3,
        ),
        (
            "deny_on_first_deny",
            r#"[{"decision":true},{"decision":false}]"#,
            2,
        ),
        ("permit_on_first_permit", r#"[{"decision":true}]"#, 1),
    ] {
        let (app, pdp) = app();
        let batch = json!({
            "subject": {"type": "user", "id": "ada"},
            "action": {"name": "edit"},
            "options": {"evaluations_semantic": semantic},
            "evaluations": items,
        });
        let reply = send(&app, post("/access/v1/evaluations", &batch)).await;
        assert_eq!(reply.status, StatusCode::OK, "{semantic}");
        assert_eq!(raw_evaluations(&reply), expected, "{semantic}");
        assert_eq!(pdp.asked.load(Ordering::SeqCst), asked, "{semantic}");
    }
}

#[tokio::test]
async fn an_invalid_item_is_denied_in_its_place_and_the_rest_are_answered() {
    let (app, _) = app();
    let batch = json!({
        "subject": {"type": "user", "id": "ada"},
        "action": {"name": "edit"},
        "evaluations": [{}, {"resource": doc("1", "ada")}],
    });
    let reply = send(&app, post("/access/v1/evaluations", &batch)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let answers = &reply.json()["evaluations"];
    assert_eq!(answers[0]["decision"], false);
    assert_eq!(answers[0]["context"]["error"]["status"], 400);
    assert!(
        answers[0]["context"]["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("evaluations[0].resource")
    );
    assert_eq!(answers[1], json!({"decision": true}));
    // Without items, the batch endpoint answers the top-level question.
    let single = question("ada", "read", doc("1", "bob"));
    let reply = send(&app, post("/access/v1/evaluations", &single)).await;
    assert_eq!(reply.json()["decision"], true);
}

#[tokio::test]
async fn the_request_id_comes_back_on_answers_and_refusals() {
    let (app, _) = app();
    for body in [question("ada", "read", doc("1", "ada")), json!({})] {
        let mut request = post("/access/v1/evaluation", &body);
        request
            .headers_mut()
            .insert("x-request-id", "req-42".parse().unwrap());
        let reply = send(&app, request).await;
        assert_eq!(reply.headers["x-request-id"], "req-42", "{}", reply.status);
    }
    // Whatever it holds, and on the router's own refusals too (a wrong method).
    let long = "r".repeat(4000);
    let latin = http::HeaderValue::from_bytes(b"caf\xe9").unwrap();
    for id in [http::HeaderValue::from_str(&long).unwrap(), latin] {
        let mut request = Request::get("/access/v1/evaluation")
            .body(Body::empty())
            .unwrap();
        request.headers_mut().insert("x-request-id", id.clone());
        let reply = send(&app, request).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(reply.headers["x-request-id"], id);
    }
}
