use axum::body::Body;
use http::Request;
use tower::ServiceExt;

use super::*;
use crate::store::MemoryStore;

pub(super) const WS: &str = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";

pub(super) async fn api() -> SentinelApi<MemoryStore> {
    let api = SentinelApi::open(MemoryStore::new(), SentinelConfig::new("http://127.0.0.1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    api.create_workspace(WS, "acme")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    api
}

#[tokio::test]
async fn a_members_token_is_taken() {
    let api = api().await;
    let bob = api
        .identity()
        .register("bob@example.com", "violet-harbour-lantern-47")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    api.set_member(WS, &bob.id, "editor")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let key = api
        .create_service_key("docs", "docs")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let token = api
        .issue(&bob.id, WS, TokenKind::Access)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let request = Request::get(format!(
        "/roles/user-actions?service_name=docs&workspace_id={WS}"
    ))
    .header("x-service-key", &key.key)
    .header("authorization", format!("Bearer {}", token.token))
    .body(Body::empty())
    .unwrap_or_else(|e| panic!("{e}"));
    let response = api
        .router()
        .oneshot(request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = response.status();
    let headers = format!("{:?}", response.headers());
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    assert_eq!(status, 200, "{headers} {}", String::from_utf8_lossy(&body));
}
