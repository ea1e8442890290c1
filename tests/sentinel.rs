//! Sentinel's wire API across a credential's life (issue #19): a user token stops working
//! from the very next request when its owner leaves the workspace, is disabled or deleted,
//! also for requests already in flight once the change returned; a role change is seen at
//! once; a revoked service key is refused at once; a machine token or another service's key
//! is no user's; bad input is refused and changes nothing. The real SDK's run is in
//! tests/sentinel_sdk.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use portcullis::service::sentinel::{SentinelApi, SentinelConfig, TokenKind};
use portcullis::store::sqlite::SqliteStore;
use serde_json::{Value, json};
use tower::ServiceExt;

const WS: &str = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const OTHER_WS: &str = "0a9b8c7d-6e5f-4a3b-9c1d-0e1f2a3b4c5d";
const PASSWORD: &str = "violet-harbour-lantern-47";
const DOC: &str = "9e8d7c6b-5a49-4f38-a726-150413021100";

struct World {
    api: SentinelApi<SqliteStore>,
    app: Router,
    key: String,
    ada: String,
    bob: String,
}

async fn world() -> World {
    let store = SqliteStore::in_memory().await.unwrap();
    let api = SentinelApi::open(store, SentinelConfig::new("http://127.0.0.1"))
        .await
        .unwrap();
    api.create_workspace(WS, "acme").await.unwrap();
    api.create_workspace(OTHER_WS, "globex").await.unwrap();
    let ada = api
        .identity()
        .register("ada@example.com", PASSWORD)
        .await
        .unwrap()
        .id;
    let bob = api
        .identity()
        .register("bob@example.com", PASSWORD)
        .await
        .unwrap()
        .id;
    api.set_member(WS, &ada, "owner").await.unwrap();
    api.set_member(WS, &bob, "editor").await.unwrap();
    let key = api.create_service_key("docs", "docs").await.unwrap().key;
    let app = api.router();
    let world = World {
        api,
        app,
        key,
        ada,
        bob,
    };
    // Ada's document, visible to the workspace: Bob, an editor, may edit it.
    let (status, _) = world
        .call(
            "POST",
            "/permissions/register",
            None,
            Some(json!({
                "service_name": "docs", "resource_type": "document", "resource_id": DOC,
                "workspace_id": WS, "owner_id": world.ada, "visibility": "workspace",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    world
}

impl World {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_with_key(method, path, Some(&self.key), token, body)
            .await
    }

    async fn call_with_key(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header("x-service-key", key);
        }
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn token(&self, user: &str) -> String {
        self.api
            .issue(user, WS, TokenKind::Access)
            .await
            .unwrap()
            .token
    }

    /// Whether the token's holder may `action` the document, or the status when refused.
    async fn can(&self, token: &str, action: &str) -> Result<bool, StatusCode> {
        let (status, body) = self
            .call(
                "POST",
                "/permissions/check",
                Some(token),
                Some(json!({"checks": [{
                    "service_name": "docs", "resource_type": "document",
                    "resource_id": DOC, "action": action,
                }]})),
            )
            .await;
        if status != StatusCode::OK {
            return Err(status);
        }
        Ok(body["results"][0]["allowed"].as_bool().unwrap())
    }
}

#[tokio::test]
async fn a_token_ends_with_its_membership_even_for_requests_in_flight() {
    let w = world().await;
    let token = w.token(&w.bob).await;
    assert_eq!(w.can(&token, "edit").await, Ok(true));
    // Many requests in flight while Bob is removed: each is answered (allowed or refused
    // whole, never an error), and every request made once the removal returned is refused.
    let w = std::sync::Arc::new(w);
    let mut in_flight = Vec::new();
    for _ in 0..32 {
        let (w, token) = (w.clone(), token.clone());
        in_flight.push(tokio::spawn(async move { w.can(&token, "view").await }));
    }
    w.api.remove_member(WS, &w.bob).await.unwrap();
    for answer in in_flight {
        let answer = answer.await.unwrap();
        assert!(
            matches!(answer, Ok(true) | Err(StatusCode::UNAUTHORIZED)),
            "{answer:?}"
        );
    }
    for _ in 0..8 {
        assert_eq!(w.can(&token, "view").await, Err(StatusCode::UNAUTHORIZED));
    }
    // No new token either.
    assert!(w.api.issue(&w.bob, WS, TokenKind::Access).await.is_err());
}

#[tokio::test]
async fn a_role_change_is_seen_by_the_next_request() {
    let w = world().await;
    let token = w.token(&w.bob).await;
    assert_eq!(w.can(&token, "edit").await, Ok(true));
    w.api.set_member(WS, &w.bob, "viewer").await.unwrap();
    // The token still says `editor`; the workspace says `viewer`, and the workspace decides.
    assert_eq!(w.can(&token, "edit").await, Ok(false));
    assert_eq!(w.can(&token, "view").await, Ok(true));
}

#[tokio::test]
async fn a_disabled_or_deleted_owner_ends_the_token() {
    let w = world().await;
    let bob = w.token(&w.bob).await;
    let ada = w.token(&w.ada).await;
    w.api.identity().set_disabled(&w.bob, true).await.unwrap();
    assert_eq!(w.can(&bob, "view").await, Err(StatusCode::UNAUTHORIZED));
    // Enabled again: the tokens from before stay ended (disabling cut them off); a new one
    // works.
    w.api.identity().set_disabled(&w.bob, false).await.unwrap();
    assert_eq!(w.can(&bob, "view").await, Err(StatusCode::UNAUTHORIZED));
    assert_eq!(w.can(&w.token(&w.bob).await, "view").await, Ok(true));
    w.api.identity().delete_user(&w.ada).await.unwrap();
    assert_eq!(w.can(&ada, "view").await, Err(StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn a_revoked_service_key_is_refused_at_once() {
    let w = world().await;
    let token = w.token(&w.bob).await;
    let spare = w.api.create_service_key("docs", "spare").await.unwrap();
    let whoami = |key: String| {
        let w = &w;
        async move {
            w.call_with_key("GET", "/realm/whoami", Some(&key), None, None)
                .await
                .0
        }
    };
    assert_eq!(whoami(spare.key.clone()).await, StatusCode::OK);
    w.api.revoke_service_key("docs", &spare.id).await.unwrap();
    assert_eq!(whoami(spare.key.clone()).await, StatusCode::UNAUTHORIZED);
    // Another service cannot revoke docs' key.
    assert!(
        w.api
            .revoke_service_key("billing", "0000000000000000")
            .await
            .is_err()
    );
    // The other key still works; so does the user's token with it.
    assert_eq!(w.can(&token, "view").await, Ok(true));
    // A user API key is never a service key, nor is a key of the right shape but unknown.
    let (status, _) = w
        .call_with_key(
            "GET",
            "/realm/whoami",
            Some("sk_0123456789abcdef_nope"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = w
        .call_with_key("GET", "/realm/whoami", None, None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_machine_token_or_a_stranger_s_token_is_no_user() {
    let w = world().await;
    let (status, m2m) = w.call("POST", "/realm/m2m-token", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let m2m = m2m["token"].as_str().unwrap().to_owned();
    assert_eq!(w.can(&m2m, "view").await, Err(StatusCode::UNAUTHORIZED));
    // A token signed by another deployment's key (same claims, same issuer name).
    let elsewhere = SentinelApi::open(
        SqliteStore::in_memory().await.unwrap(),
        SentinelConfig::new("http://127.0.0.1"),
    )
    .await
    .unwrap();
    elsewhere.create_workspace(WS, "acme").await.unwrap();
    let mallory = elsewhere
        .identity()
        .register("mallory@example.com", PASSWORD)
        .await
        .unwrap()
        .id;
    elsewhere.set_member(WS, &mallory, "owner").await.unwrap();
    let forged = elsewhere
        .issue(&mallory, WS, TokenKind::Access)
        .await
        .unwrap();
    assert_eq!(
        w.can(&forged.token, "edit").await,
        Err(StatusCode::UNAUTHORIZED)
    );
}

#[tokio::test]
async fn password_tokens_are_for_members_and_say_nothing_else() {
    let w = world().await;
    let login = |email: &str, password: &str, workspace: &str| json!({"email": email, "password": password, "workspace_id": workspace});
    let (status, body) = w
        .call_with_key(
            "POST",
            "/auth/token",
            None,
            None,
            Some(login("bob@example.com", PASSWORD, WS)),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(w.can(token, "edit").await, Ok(true));
    let (wrong, wrong_body) = w
        .call_with_key(
            "POST",
            "/auth/token",
            None,
            None,
            Some(login("bob@example.com", "not-the-password-1", WS)),
        )
        .await;
    let (stranger, stranger_body) = w
        .call_with_key(
            "POST",
            "/auth/token",
            None,
            None,
            Some(login("bob@example.com", PASSWORD, OTHER_WS)),
        )
        .await;
    assert_eq!(wrong, StatusCode::UNAUTHORIZED);
    assert_eq!((stranger, stranger_body), (wrong, wrong_body));
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let w = world().await;
    let token = w.token(&w.ada).await;
    let acl = format!("/permissions/resource/docs/document/{DOC}");
    let before = w.call("GET", &acl, None, None).await;
    assert_eq!(before.0, StatusCode::OK);
    let handle = before.1["id"].as_str().unwrap().to_owned();
    let share = format!("/permissions/{handle}/share");
    for body in [
        json!({"grantee_type": "robot", "grantee_id": w.bob, "permission": "view"}),
        json!({"grantee_type": "user", "grantee_id": w.bob, "permission": "own"}),
        json!({"grantee_type": "user"}),
        json!([1, 2, 3]),
    ] {
        let (status, _) = w.call("POST", &share, Some(&token), Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // A grantee who is not a member of the workspace.
    let (status, _) = w
        .call(
            "POST",
            &share,
            Some(&token),
            Some(json!({"grantee_type": "user", "grantee_id": "a-stranger"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Too large a body, before it is read.
    let huge = "x".repeat(300 * 1024);
    let (status, _) = w
        .call(
            "POST",
            &share,
            Some(&token),
            Some(json!({"grantee_type": "user", "grantee_id": huge})),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // A handle that names nothing, a path of another service.
    let (status, _) = w
        .call(
            "POST",
            "/permissions/%21%21/share",
            Some(&token),
            Some(json!({"grantee_type": "user", "grantee_id": w.bob})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = w
        .call(
            "GET",
            &format!("/permissions/resource/billing/invoice/{DOC}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(w.call("GET", &acl, None, None).await, before);
}
