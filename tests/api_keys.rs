//! API keys through the real router, on every store backend: creation shown once, use, the
//! refusals (unknown, revoked, expired, truncated, trailing space, oversized, duplicated), 403 for
//! a valid key without the permission, ownership, escalation, batching of last use, static keys,
//! and logs free of key material.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::{delete, get};
use common::{Captured, Reply, send};
use http::{Request, StatusCode};
use portcullis::api_key::{ApiKeyStrategy, ApiKeys, StaticKey};
use portcullis::identity::{IDENTITY_PUBLIC_PATHS, Identity, IdentityConfig};
use portcullis::store::{ApiKeyRecord, ApiKeyStore, MemoryStore, Store};
use portcullis::{AuthGateway, RequirePermission, UserContext, permission};
use serde_json::{Value, json};

permission!(ReadCatalog = "read:Catalog");
permission!(DeleteCatalog = "delete:Catalog");

const PASSWORD: &str = "correct horse battery staple";

struct App<S: Store + ApiKeyStore> {
    app: Router,
    keys: Arc<ApiKeys<S>>,
    store: S,
    identity: Arc<Identity<S>>,
}

fn sha256_hex(text: &str) -> String {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    hash.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

const STATIC_KEY: &str = "billing-service-static-key-0123456789";

async fn app<S: Store + ApiKeyStore>(store: S) -> App<S> {
    let config = IdentityConfig::default();
    let identity = common::fast_identity(store.clone(), config).await;
    let statik = StaticKey::parse("billing", &format!("sha256:{}", sha256_hex(STATIC_KEY)))
        .unwrap()
        .roles(["viewer"]);
    let keys = ApiKeys::builder(store.clone())
        .static_key(statik)
        .owners(identity.clone())
        .build();
    let gateway = AuthGateway::new()
        .strategy(identity.bearer())
        .strategy(ApiKeyStrategy::new(keys.clone()))
        .public_paths(IDENTITY_PUBLIC_PATHS)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/me", get(|u: UserContext| async move { axum::Json(u) }))
        .route(
            "/books",
            get(|_: RequirePermission<ReadCatalog>| async { "books" }),
        )
        .route(
            "/books/{id}",
            delete(|_: RequirePermission<DeleteCatalog>| async { StatusCode::NO_CONTENT }),
        )
        .merge(identity.router())
        .merge(keys.router())
        .layer(gateway);
    for (email, role) in [
        ("ed@example.com", "editor"),
        ("vi@example.com", "viewer"),
        ("ad@example.com", "admin"),
    ] {
        identity
            .register_with_roles(email, PASSWORD, &[role.to_owned()])
            .await
            .unwrap();
    }
    App {
        app,
        keys,
        store,
        identity,
    }
}

impl<S: Store + ApiKeyStore> App<S> {
    async fn token(&self, email: &str) -> String {
        self.identity
            .login(email, PASSWORD, None)
            .await
            .unwrap()
            .access_token
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        auth: Auth<'_>,
        body: Option<Value>,
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        match auth {
            Auth::None => {}
            Auth::Bearer(t) => builder = builder.header("authorization", format!("Bearer {t}")),
            Auth::Key(k) => builder = builder.header("x-api-key", k),
        }
        let body = match body {
            Some(v) => {
                builder = builder.header("content-type", "application/json");
                Body::from(serde_json::to_vec(&v).unwrap())
            }
            None => Body::empty(),
        };
        send(&self.app, builder.body(body).unwrap()).await
    }

    async fn create(&self, bearer: &str, body: Value) -> Reply {
        self.request("POST", "/auth/api-keys", Auth::Bearer(bearer), Some(body))
            .await
    }
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Bearer(&'a str),
    Key(&'a str),
}

async fn rules<S: Store + ApiKeyStore>(store: S) {
    let t = app(store).await;
    let editor = t.token("ed@example.com").await;

    // Created and shown once.
    let created = t.create(&editor, json!({"name": "ci deploys"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let body = created.json();
    let key = body["key"].as_str().unwrap().to_owned();
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(
        key.starts_with("pk_live_") && key.len() == 8 + 16 + 1 + 43,
        "{key}"
    );
    assert_eq!(body["display_prefix"], format!("pk_live_{id}"));
    assert_eq!(
        body["roles"],
        json!(["editor"]),
        "by default the creator's roles"
    );
    let listed = t
        .request("GET", "/auth/api-keys", Auth::Bearer(&editor), None)
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(
        !listed.text().contains(&key[25..]),
        "a list never shows the secret"
    );
    assert_eq!(listed.json()[0]["id"], id.as_str());
    let stored = t.store.api_key(&id).await.unwrap().unwrap();
    assert!(!format!("{stored:?}").contains(&key[25..]));

    // Used: authenticated as the owner with the key's roles; 403 beyond them.
    let me = t.request("GET", "/me", Auth::Key(&key), None).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        (me.json()["method"].as_str(), me.json()["roles"].clone()),
        (Some("api_key"), json!(["editor"]))
    );
    assert_eq!(
        t.request("GET", "/books", Auth::Key(&key), None)
            .await
            .status,
        StatusCode::OK
    );
    let forbidden = t.request("DELETE", "/books/1", Auth::Key(&key), None).await;
    assert_eq!(
        forbidden.status,
        StatusCode::FORBIDDEN,
        "a valid key without the permission"
    );

    // Refused with 401: unknown, truncated, trailing space, tampered, oversized, other scheme.
    let unknown = format!("pk_live_{}_{}", "0123456789abcdef", "A".repeat(43));
    let tampered = format!(
        "{}{}",
        &key[..key.len() - 1],
        if key.ends_with('A') { 'B' } else { 'A' }
    );
    let oversized = "k".repeat(300);
    for bad in [
        unknown.as_str(),
        &key[..key.len() - 1],
        &format!("{key} "),
        &tampered,
        &oversized,
        "pk_live_",
        "random",
    ] {
        let reply = t.request("GET", "/books", Auth::Key(bad), None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{bad:.30}");
        assert!(!reply.text().contains(bad), "the body never echoes the key");
    }
    let twice = Request::get("/books")
        .header("x-api-key", &key)
        .header("x-api-key", &key)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&t.app, twice).await.status, StatusCode::BAD_REQUEST);

    let anonymous = t.request("GET", "/auth/api-keys", Auth::None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // Last use is written in batches, not per request.
    assert_eq!(
        t.store.api_key(&id).await.unwrap().unwrap().last_used_at,
        None
    );
    assert_eq!(t.keys.flush_last_used().await.unwrap(), 1);
    assert!(
        t.store
            .api_key(&id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at
            .is_some()
    );

    // Ownership: another user cannot see or revoke it; its owner can, with immediate effect.
    let viewer = t.token("vi@example.com").await;
    let theirs = t
        .request(
            "DELETE",
            &format!("/auth/api-keys/{id}"),
            Auth::Bearer(&viewer),
            None,
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(
        t.request("GET", "/auth/api-keys", Auth::Bearer(&viewer), None)
            .await
            .json(),
        json!([])
    );
    let revoked = t
        .request(
            "DELETE",
            &format!("/auth/api-keys/{id}"),
            Auth::Bearer(&editor),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        t.request("GET", "/books", Auth::Key(&key), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "revoked at once"
    );

    // Expired keys are refused.
    let short = t
        .create(&editor, json!({"name": "short", "expires_in": 3600}))
        .await
        .json();
    let short_id = short["id"].as_str().unwrap();
    let mut record: ApiKeyRecord = t.store.api_key(short_id).await.unwrap().unwrap();
    record.id = "feedfacefeedface".into();
    record.expires_at = Some(record.created_at - 10);
    let expired_key = format!(
        "pk_live_feedfacefeedface_{}",
        &short["key"].as_str().unwrap()[25..]
    );
    record.digest = {
        let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, expired_key.as_bytes());
        hash.as_ref().try_into().unwrap()
    };
    t.store.insert_api_key(&record, 100).await.unwrap();
    assert_eq!(
        t.request("GET", "/books", Auth::Key(&expired_key), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // Escalation: only the creator's roles, never by an API key, sane input only.
    let escalate = t
        .create(&viewer, json!({"name": "x", "roles": ["admin"]}))
        .await;
    assert_eq!(escalate.status, StatusCode::FORBIDDEN);
    let viewer_key = t.create(&viewer, json!({"name": "mine"})).await.json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_key = t
        .request(
            "POST",
            "/auth/api-keys",
            Auth::Key(&viewer_key),
            Some(json!({"name": "y"})),
        )
        .await;
    assert_eq!(
        by_key.status,
        StatusCode::FORBIDDEN,
        "an API key cannot mint keys"
    );
    for bad in [
        json!({"name": ""}),
        json!({"name": "x".repeat(101)}),
        json!({"name": "x", "expires_in": 0}),
        json!({"name": "x", "expires_in": 40_000_000}),
    ] {
        let reply = t.create(&viewer, bad.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
    }

    // Administration.
    let admin = t.token("ad@example.com").await;
    let all = t
        .request("GET", "/admin/api-keys", Auth::Bearer(&admin), None)
        .await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(all.json().as_array().unwrap().len() >= 3);
    assert_eq!(
        t.request("GET", "/admin/api-keys", Auth::Bearer(&editor), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let viewer_id = &viewer_key[8..24];
    let admin_revoke = t
        .request(
            "DELETE",
            &format!("/admin/api-keys/{viewer_id}"),
            Auth::Bearer(&admin),
            None,
        )
        .await;
    assert_eq!(admin_revoke.status, StatusCode::NO_CONTENT);
    assert_eq!(
        t.request("GET", "/me", Auth::Key(&viewer_key), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // Static keys from configuration.
    let service = t.request("GET", "/me", Auth::Key(STATIC_KEY), None).await;
    assert_eq!(service.status, StatusCode::OK);
    assert_eq!(service.json()["subject"], "service:billing");
    assert_eq!(
        t.request("GET", "/books", Auth::Key(&STATIC_KEY[1..]), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

/// Defect 2 of issue 13: a key once kept answering 200 after its owner was disabled, logged out
/// everywhere, changed password or (now) was deleted, also on a cold instance; and a demoted
/// owner's keys kept the old roles for ever.
async fn keys_follow_their_owner<S: Store + ApiKeyStore>(store: S) {
    let t = app(store.clone()).await;
    // A second instance over the same store that has never seen the key (cold caches).
    let cold = app_sharing(&t).await;
    let key_of = |reply: Reply| reply.json()["key"].as_str().unwrap().to_owned();

    // Disabled owner.
    let editor = t.token("ed@example.com").await;
    let key = key_of(t.create(&editor, json!({"name": "a"})).await);
    assert_eq!(
        t.request("GET", "/books", Auth::Key(&key), None)
            .await
            .status,
        StatusCode::OK
    );
    let editor_id = t
        .identity
        .store()
        .user_by_email("ed@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    t.identity.set_disabled(&editor_id, true).await.unwrap();
    assert_eq!(
        t.request("GET", "/books", Auth::Key(&key), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        cold.request("GET", "/books", Auth::Key(&key), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    t.identity.set_disabled(&editor_id, false).await.unwrap();
    assert_eq!(
        t.request("GET", "/books", Auth::Key(&key), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "re-enabling brings no credential back"
    );

    // Logout-all.
    let editor = t.token("ed@example.com").await;
    let key = key_of(t.create(&editor, json!({"name": "b"})).await);
    assert_eq!(
        t.request("GET", "/books", Auth::Key(&key), None)
            .await
            .status,
        StatusCode::OK
    );
    t.request(
        "POST",
        "/auth/logout-all",
        Auth::Bearer(&editor),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        t.request("GET", "/books", Auth::Key(&key), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // Password change: keys made before it end, keys made after it work.
    let viewer = t.token("vi@example.com").await;
    let before = key_of(t.create(&viewer, json!({"name": "before"})).await);
    let changed = t
        .request(
            "POST",
            "/auth/password",
            Auth::Bearer(&viewer),
            Some(json!({"current_password": PASSWORD, "new_password": "another long passphrase"})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
    let fresh = changed.json()["access_token"].as_str().unwrap().to_owned();
    let after = key_of(t.create(&fresh, json!({"name": "after"})).await);
    assert_eq!(
        t.request("GET", "/books", Auth::Key(&before), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        cold.request("GET", "/books", Auth::Key(&before), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.request("GET", "/books", Auth::Key(&after), None)
            .await
            .status,
        StatusCode::OK
    );

    // Demotion: an admin's key loses what the admin loses, at once.
    let admin = t.token("ad@example.com").await;
    let key = key_of(t.create(&admin, json!({"name": "ops"})).await);
    assert_eq!(
        t.request("DELETE", "/books/1", Auth::Key(&key), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let admin_id = t
        .identity
        .store()
        .user_by_email("ad@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    t.identity
        .set_roles(&admin_id, &["viewer".into()])
        .await
        .unwrap();
    assert_eq!(
        t.request("DELETE", "/books/1", Auth::Key(&key), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    t.identity
        .set_roles(&admin_id, &["admin".into()])
        .await
        .unwrap();
    assert_eq!(
        t.request("DELETE", "/books/1", Auth::Key(&key), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );

    // Deletion.
    t.identity.delete_user(&admin_id).await.unwrap();
    assert_eq!(
        t.request("DELETE", "/books/1", Auth::Key(&key), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        cold.request("GET", "/books", Auth::Key(&key), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

/// A second app over the first one's store: another instance, with its own (empty) caches.
async fn app_sharing<S: Store + ApiKeyStore>(t: &App<S>) -> App<S> {
    let identity = common::fast_identity(t.store.clone(), IdentityConfig::default()).await;
    let keys = ApiKeys::builder(t.store.clone())
        .owners(identity.clone())
        .build();
    let gateway = AuthGateway::new()
        .strategy(identity.bearer())
        .strategy(ApiKeyStrategy::new(keys.clone()))
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/books",
            get(|_: RequirePermission<ReadCatalog>| async { "books" }),
        )
        .layer(gateway);
    App {
        app,
        keys,
        store: t.store.clone(),
        identity,
    }
}

#[tokio::test]
async fn keys_follow_their_owner_on_memory() {
    keys_follow_their_owner(MemoryStore::new()).await;
}

#[tokio::test]
async fn keys_follow_their_owner_on_sqlite() {
    keys_follow_their_owner(
        portcullis::store::sqlite::SqliteStore::in_memory()
            .await
            .unwrap(),
    )
    .await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn keys_follow_their_owner_on_postgres() {
    common::in_fresh_schema("portcullis_owners", keys_follow_their_owner).await;
}

/// Defect 3 of issue 13: 230,000 roles in one key were once accepted (28.8 MB in the database).
#[tokio::test]
async fn roles_scopes_and_keys_per_owner_are_bounded() {
    let t = app(MemoryStore::new()).await;
    let admin = t.token("ad@example.com").await;
    let huge = vec!["admin"; 230_000];
    let reply = t
        .create(&admin, json!({"name": "huge", "roles": huge}))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "refused before parsing"
    );
    let many: Vec<String> = (0..33).map(|i| format!("role{i}")).collect();
    let reply = t
        .create(&admin, json!({"name": "many", "roles": many, "scopes": []}))
        .await;
    // Refused either as more than the creator holds or as too many: never stored.
    assert!(matches!(
        reply.status,
        StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN
    ));
    let dupes = vec!["admin"; 500];
    let reply = t
        .create(&admin, json!({"name": "dupes", "roles": dupes}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(
        reply.json()["roles"],
        json!(["admin"]),
        "duplicates dropped"
    );
    let keys = ApiKeys::builder(MemoryStore::new())
        .max_keys_per_owner(3)
        .build();
    for i in 0..3 {
        keys.create(
            "owner",
            portcullis::api_key::NewApiKey {
                name: format!("k{i}"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let over = keys
        .create(
            "owner",
            portcullis::api_key::NewApiKey {
                name: "k4".into(),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(over.unwrap_err(), portcullis::api_key::ApiKeyError::TooMany);
    let direct = keys
        .create(
            "owner2",
            portcullis::api_key::NewApiKey {
                name: "big".into(),
                roles: (0..33).map(|i| format!("r{i}")).collect(),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(
        direct,
        Err(portcullis::api_key::ApiKeyError::InvalidInput { field: "roles", .. })
    ));
}

#[tokio::test]
async fn rules_on_memory() {
    rules(MemoryStore::new()).await;
}

#[tokio::test]
async fn rules_on_sqlite() {
    rules(
        portcullis::store::sqlite::SqliteStore::in_memory()
            .await
            .unwrap(),
    )
    .await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn rules_on_postgres() {
    common::in_fresh_schema("portcullis_keys", rules).await;
}

#[tokio::test]
async fn static_keys_from_the_environment_and_no_clear_text() {
    // (Setting a variable would need `unsafe` in edition 2024; the unset case is what can be tested.)
    let var = format!("PORTCULLIS_TEST_KEY_{}", std::process::id());
    assert!(
        StaticKey::parse("svc", &format!("$env:{var}")).is_err(),
        "unset variable"
    );
    assert!(
        StaticKey::parse("svc", "my-plain-key").is_err(),
        "clear text is refused"
    );
    assert!(StaticKey::parse("svc", "sha256:abc").is_err());
}

#[tokio::test]
async fn no_key_material_in_logs() {
    let captured = Captured::global();
    let t = app(MemoryStore::new()).await;
    let editor = t.token("ed@example.com").await;
    let key = t.create(&editor, json!({"name": "logged?"})).await.json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    t.request("GET", "/books", Auth::Key(&key), None).await;
    let wrong = format!("{}{}", &key[..key.len() - 2], "zz");
    let reply = t.request("GET", "/books", Auth::Key(&wrong), None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    t.request("GET", "/books", Auth::Key("pk_live_nonsense"), None)
        .await;
    let logs = captured.text();
    assert!(
        logs.contains("API key refused"),
        "the refusal is logged: {logs}"
    );
    for material in [
        key.as_str(),
        &wrong,
        &key[..24],
        "pk_live_nonsense",
        &key[25..],
    ] {
        assert!(!logs.contains(material), "key material reached the logs");
    }
}

#[tokio::test]
async fn query_keys_only_when_enabled_and_env_static_keys() {
    // `$env:` reads the key once at start-up and keeps only its digest (HOME is set wherever
    // cargo runs; setting a variable would need `unsafe` in edition 2024).
    let home = std::env::var("HOME").unwrap();
    let statik = StaticKey::parse("cron", "$env:HOME")
        .unwrap()
        .roles(["viewer"]);
    assert!(
        !format!("{statik:?}").contains(&home),
        "the key is not kept in clear text"
    );
    let plain = StaticKey::parse(
        "plain",
        &format!("sha256:{}", sha256_hex("plainkey0123456789")),
    )
    .unwrap();
    let keys = ApiKeys::builder(MemoryStore::new())
        .static_key(statik)
        .static_key(plain)
        .build();
    let route = || Router::new().route("/me", get(|u: UserContext| async move { axum::Json(u) }));
    let header_only = route().layer(
        AuthGateway::new()
            .strategy(ApiKeyStrategy::new(keys.clone()))
            .build()
            .unwrap(),
    );
    let with_query = route().layer(
        AuthGateway::new()
            .strategy(ApiKeyStrategy::new(keys).allow_query("api_key"))
            .build()
            .unwrap(),
    );

    let reply = send(
        &header_only,
        Request::get("/me")
            .header("x-api-key", &home)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["subject"], "service:cron");

    let query = || {
        Request::get("/me?api_key=plainkey0123456789")
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        send(&header_only, query()).await.status,
        StatusCode::UNAUTHORIZED,
        "query keys are off by default"
    );
    assert_eq!(
        send(&with_query, query()).await.status,
        StatusCode::OK,
        "and work when enabled"
    );
    let both = Request::get("/me?api_key=plainkey0123456789")
        .header("x-api-key", "plainkey0123456789")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(&with_query, both).await.status,
        StatusCode::BAD_REQUEST,
        "one place only"
    );
}

#[tokio::test]
async fn hostile_shapes_are_refused_and_static_keys_of_any_shape_work() {
    // A static key that happens to read like a generated one is still the static key.
    let shaped = format!("pk_live_0123456789abcdef_{}", "S".repeat(43));
    let statik = StaticKey::parse("shaped", &format!("sha256:{}", sha256_hex(&shaped)))
        .unwrap()
        .roles(["viewer"]);
    let keys = ApiKeys::builder(MemoryStore::new())
        .static_key(statik)
        .build();
    let app = Router::new()
        .route("/me", get(|u: UserContext| async move { axum::Json(u) }))
        .layer(
            AuthGateway::new()
                .strategy(ApiKeyStrategy::new(keys).allow_query("api_key"))
                .build()
                .unwrap(),
        );
    let reply = send(
        &app,
        Request::get("/me")
            .header("x-api-key", &shaped)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["subject"], "service:shaped");

    // A multi-byte character where the public id ends (raw bytes are allowed in a query):
    // refused as malformed, never a panic in the parser (found by the api_key fuzz target).
    let split = format!(
        "/me?api_key=pk_live_0123456789abcde\u{e9}{}",
        "A".repeat(43)
    );
    let request = Request::get(split.as_str()).body(Body::empty()).unwrap();
    assert_eq!(send(&app, request).await.status, StatusCode::UNAUTHORIZED);
}

/// A key in steady use is recognised by a keyed tag of the key rather than a SHA-256 per request
/// (issue 14). The tag of a record is taken only once the presented key matched its digest: a
/// wrong secret shown first to a cold instance must not become the tag, and once the right key
/// is cached, wrong secrets with its id stay refused, however many arrive at once.
#[tokio::test]
async fn a_wrong_secret_never_becomes_the_remembered_key() {
    let t = app(MemoryStore::new()).await;
    let editor = t.token("ed@example.com").await;
    let created = t.create(&editor, json!({"name": "tagged"})).await.json();
    let key = created["key"].as_str().unwrap().to_owned();
    let flip = |at: usize| {
        let mut bytes = key.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    let wrong = [flip(key.len() - 1), flip(key.len() - 20), flip(26)];

    let cold = app_sharing(&t).await;
    let status = |app: Router, k: String| async move {
        let request = Request::get("/books")
            .header("x-api-key", k)
            .body(Body::empty())
            .unwrap();
        send(&app, request).await.status
    };
    for bad in &wrong {
        assert_eq!(
            status(cold.app.clone(), bad.clone()).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(status(cold.app.clone(), key.clone()).await, StatusCode::OK);
    // Cached now: many requests in flight, the wrong secrets among the right one.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let app = cold.app.clone();
        let (presented, expected) = match i % 4 {
            3 => (key.clone(), StatusCode::OK),
            n => (wrong[n].clone(), StatusCode::UNAUTHORIZED),
        };
        tasks.spawn(async move { (status(app, presented).await, expected) });
    }
    while let Some(done) = tasks.join_next().await {
        let (got, expected) = done.unwrap();
        assert_eq!(got, expected);
    }
}
