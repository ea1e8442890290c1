//! Sentinel's real Python SDK (`sentinel-auth-sdk` 0.20.1, from PyPI) against the service:
//! every `RoleClient` and `PermissionClient` call, the refusals, and the SDK's own check of
//! the tokens the service issues (tests/sentinel_sdk/sdk_calls.py). The Python environment is
//! made by tests/sentinel_sdk/venv.sh (once; it needs Python 3.12 and PyPI).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use portcullis::service::sentinel::{SentinelApi, SentinelConfig, TokenKind};
use portcullis::store::roles::SubjectKind;
use portcullis::store::sqlite::SqliteStore;
use portcullis::tenant::{NewAssignment, NewRole};
use serde_json::json;

const WORKSPACE: &str = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const OTHER_WORKSPACE: &str = "0a9b8c7d-6e5f-4a3b-9c1d-0e1f2a3b4c5d";
const GROUP: &str = "3c2b1a09-8f7e-4d6c-b5a4-392817161514";
const PASSWORD: &str = "violet-harbour-lantern-47";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_sdk_works_against_the_service() {
    let made = Command::new("bash")
        .arg(root().join("tests/sentinel_sdk/venv.sh"))
        .status()
        .expect("bash runs");
    assert!(
        made.success(),
        "the SDK's Python environment could not be made"
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let store = SqliteStore::in_memory().await.unwrap();
    let api = SentinelApi::open(store, SentinelConfig::new(&base_url))
        .await
        .unwrap();
    api.create_workspace(WORKSPACE, "acme").await.unwrap();
    api.create_workspace(OTHER_WORKSPACE, "globex")
        .await
        .unwrap();

    let mut users = serde_json::Map::new();
    let mut ids = std::collections::HashMap::new();
    for name in ["ada", "bob", "cy", "dan"] {
        let email = format!("{name}@example.com");
        let account = api.identity().register(&email, PASSWORD).await.unwrap();
        users.insert(name.into(), json!({"id": account.id, "email": email}));
        ids.insert(name, account.id);
    }
    api.set_member(WORKSPACE, &ids["ada"], "owner")
        .await
        .unwrap();
    api.set_member(WORKSPACE, &ids["bob"], "editor")
        .await
        .unwrap();
    api.set_member(WORKSPACE, &ids["cy"], "viewer")
        .await
        .unwrap();
    api.set_member(OTHER_WORKSPACE, &ids["dan"], "viewer")
        .await
        .unwrap();
    let tenancy = api.tenancy();
    let mut exporter = NewRole::new("", "exporter");
    exporter.actions = vec!["documents:export".into()];
    let exporter = tenancy.create_role(WORKSPACE, exporter).await.unwrap();
    tenancy
        .assign(
            WORKSPACE,
            NewAssignment::new(&exporter.id, SubjectKind::User, &ids["bob"]).granted_by("test"),
        )
        .await
        .unwrap();
    tenancy
        .add_member(WORKSPACE, GROUP, &ids["bob"])
        .await
        .unwrap();

    let docs = api
        .create_service_key("docs", "docs backend")
        .await
        .unwrap();
    let billing = api
        .create_service_key("billing", "billing backend")
        .await
        .unwrap();
    let token = |user: &'static str, workspace: &'static str, kind: TokenKind| {
        let api = api.clone();
        let id = ids[user].clone();
        async move { api.issue(&id, workspace, kind).await.unwrap().token }
    };
    let tokens = json!({
        "ada": token("ada", WORKSPACE, TokenKind::Access).await,
        "bob": token("bob", WORKSPACE, TokenKind::Access).await,
        "cy": token("cy", WORKSPACE, TokenKind::Access).await,
        "dan": token("dan", OTHER_WORKSPACE, TokenKind::Access).await,
        "bob_for_billing": token("bob", WORKSPACE, TokenKind::Authz {
            service: "billing".into(),
            idp_subject: ids["bob"].clone(),
        }).await,
    });
    let scenario = json!({
        "base_url": base_url,
        "keys": {"docs": docs.key, "billing": billing.key},
        "workspace": WORKSPACE,
        "other_workspace": OTHER_WORKSPACE,
        "group": GROUP,
        "users": users,
        "tokens": tokens,
    });
    let file = std::env::temp_dir().join(format!("portcullis-sdk-{}.json", std::process::id()));
    std::fs::write(&file, scenario.to_string()).unwrap();

    let app = api.router();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let python = target.join("sentinel-sdk-venv/bin/python");
    let script = root().join("tests/sentinel_sdk/sdk_calls.py");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("SCENARIO", &file)
            .output()
    })
    .await
    .unwrap()
    .expect("the SDK's Python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the SDK scenario failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("passed "), "{stdout}");
}
