//! The identity test app: the identity routes and two protected routes behind the gateway, a
//! fast hasher, a clock the tests can move, and a store that can be made to fail.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use http::{Request, StatusCode};
use portcullis::identity::{IDENTITY_PUBLIC_PATHS, Identity, IdentityConfig};
use portcullis::password::HashParams;
use portcullis::store::{
    Consumed, Failures, KeyStore, MemoryStore, RefreshRecord, RefreshStore, RevocationStore, Store,
    StoreError, StoreResult, StoredKey, ThrottleStore, UserRecord, UserStore,
};
use portcullis::{AuthGateway, RequirePermission, UserContext, permission};
use serde_json::Value;

/// The parts of a finished session a client still holds: both must be refused.
pub async fn assert_session_over<S: Store>(t: &TestApp<S>, pair: &Value) {
    assert_eq!(
        t.get("/me", pair["access_token"].as_str()).await.status,
        StatusCode::UNAUTHORIZED,
        "access token"
    );
    let refresh = t
        .post(
            "/auth/refresh",
            serde_json::json!({"refresh_token": pair["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED, "refresh token");
}

permission!(pub ReadCatalog = "read:Catalog");

pub const FAST: HashParams = crate::common::FAST_HASH;

pub struct TestApp<S: Store> {
    pub app: Router,
    pub identity: Arc<Identity<S>>,
    pub store: S,
    pub offset: Arc<AtomicI64>,
    pub fail: Arc<AtomicBool>,
}

pub use crate::common::{Captured, Reply, send};

pub async fn post_to(app: &Router, path: &str, body: Value, bearer: Option<&str>) -> Reply {
    let mut builder = Request::post(path).header("content-type", "application/json");
    if let Some(token) = bearer {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    send(
        app,
        builder
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap(),
    )
    .await
}

async fn me(user: UserContext) -> axum::Json<UserContext> {
    axum::Json(user)
}

async fn books(_: RequirePermission<ReadCatalog>) -> &'static str {
    "books"
}

pub fn test_clock(offset: Arc<AtomicI64>) -> portcullis::identity::Clock {
    portcullis::clock::Clock::from_fn(move || {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        now + offset.load(Ordering::SeqCst)
    })
}

impl TestApp<MemoryStore> {
    pub async fn memory() -> Self {
        Self::over(MemoryStore::new(), Arc::new(AtomicBool::new(false))).await
    }
}

impl TestApp<FailingStore> {
    pub async fn failing() -> Self {
        let fail = Arc::new(AtomicBool::new(false));
        Self::over(
            FailingStore {
                inner: MemoryStore::new(),
                fail: fail.clone(),
                hold: Arc::default(),
                held: Arc::default(),
                release: Arc::default(),
            },
            fail,
        )
        .await
    }
}

impl<S: Store> TestApp<S> {
    pub async fn over(store: S, fail: Arc<AtomicBool>) -> Self {
        Self::configured(store, fail, |_| {}).await
    }

    /// Like [`over`](Self::over), with the identity's configuration changed by `tweak`.
    pub async fn configured(
        store: S,
        fail: Arc<AtomicBool>,
        tweak: impl FnOnce(&mut IdentityConfig),
    ) -> Self {
        let offset = Arc::new(AtomicI64::new(0));
        let mut config = IdentityConfig {
            clock: test_clock(offset.clone()),
            ..IdentityConfig::default()
        };
        tweak(&mut config);
        // The real start-up path with a fast hasher; the OWASP default is asserted in its own test.
        let identity = crate::common::fast_identity(store.clone(), config).await;
        let gateway = AuthGateway::new()
            .strategy(identity.bearer())
            .public_paths(IDENTITY_PUBLIC_PATHS)
            .build()
            .unwrap();
        let app = Router::new()
            .route("/me", get(me))
            .route("/books", get(books))
            .merge(identity.router())
            .layer(gateway);
        Self {
            app,
            identity,
            store,
            offset,
            fail,
        }
    }

    pub fn advance(&self, by: Duration) {
        self.offset.fetch_add(by.as_secs() as i64, Ordering::SeqCst);
    }

    pub async fn post(&self, path: &str, body: Value, bearer: Option<&str>) -> Reply {
        post_to(&self.app, path, body, bearer).await
    }

    pub async fn raw_post(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let request = Request::post(path)
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        send(&self.app, request).await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        let mut builder = Request::get(path);
        if let Some(token) = bearer {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        send(&self.app, builder.body(Body::empty()).unwrap()).await
    }

    pub async fn register(&self, email: &str, password: &str) {
        let reply = self
            .post(
                "/auth/register",
                serde_json::json!({"email": email, "password": password}),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/auth/login",
            serde_json::json!({"email": email, "password": password}),
            None,
        )
        .await
    }

    /// A refresh sent from `ip` (the TCP peer, as `ConnectInfo` gives it).
    pub async fn refresh_from(&self, refresh_token: &Value, ip: &str) -> Reply {
        let body = serde_json::json!({"refresh_token": refresh_token});
        let mut request = Request::post("/auth/refresh")
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap();
        let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(addr));
        send(&self.app, request).await
    }

    pub async fn login_from(&self, email: &str, password: &str, ip: &str) -> Reply {
        self.login_from_with_header(email, password, ip, ("x-unused", ""))
            .await
    }

    pub async fn login_from_with_header(
        &self,
        email: &str,
        password: &str,
        ip: &str,
        header: (&str, &str),
    ) -> Reply {
        let body = serde_json::json!({"email": email, "password": password});
        let mut request = Request::post("/auth/login")
            .header("content-type", "application/json")
            .header(header.0, header.1)
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap();
        let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(addr));
        send(&self.app, request).await
    }
}

/// A memory store whose revocation reads fail while `fail` is set: the store outage the bearer
/// strategy must answer with 503.
#[derive(Clone)]
pub struct FailingStore {
    inner: MemoryStore,
    fail: Arc<AtomicBool>,
    /// When set, the next denylist read takes its answer, then waits for `release` before
    /// returning it: a cache fill in flight while something else happens.
    pub hold: Arc<AtomicBool>,
    /// Signalled when a held read has its (soon stale) answer.
    pub held: Arc<tokio::sync::Notify>,
    /// Lets the held read return.
    pub release: Arc<tokio::sync::Notify>,
}

impl FailingStore {
    fn check(&self) -> StoreResult<()> {
        if self.fail.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("test outage".into()))
        } else {
            Ok(())
        }
    }
}

impl UserStore for FailingStore {
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        self.inner.create_user(user).await
    }
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        self.inner.user_by_email(email).await
    }
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRecord>> {
        self.inner.user_by_id(id).await
    }
    async fn set_password_hash(&self, id: &str, hash: &str, at: i64) -> StoreResult<()> {
        self.inner.set_password_hash(id, hash, at).await
    }
    async fn set_disabled(&self, id: &str, disabled: bool) -> StoreResult<()> {
        self.inner.set_disabled(id, disabled).await
    }
    async fn set_roles(&self, id: &str, roles: &[String]) -> StoreResult<()> {
        self.inner.set_roles(id, roles).await
    }
    async fn delete_user(&self, id: &str) -> StoreResult<()> {
        self.inner.delete_user(id).await
    }
}

impl RefreshStore for FailingStore {
    async fn insert_refresh(&self, record: &RefreshRecord) -> StoreResult<()> {
        self.inner.insert_refresh(record).await
    }
    async fn consume_refresh(&self, digest: &[u8; 32], now: i64) -> StoreResult<Consumed> {
        self.inner.consume_refresh(digest, now).await
    }
    async fn revoke_family(&self, family: &str) -> StoreResult<()> {
        self.inner.revoke_family(family).await
    }
    async fn revoke_user_families(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
        self.inner.revoke_user_families(user_id, keep).await
    }
    async fn purge_refresh(&self, now: i64) -> StoreResult<u64> {
        self.inner.purge_refresh(now).await
    }
}

impl RevocationStore for FailingStore {
    async fn revoke_token(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
        self.check()?;
        self.inner.revoke_token(jti, expires_at).await
    }
    async fn is_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        self.check()?;
        let answer = self.inner.is_token_revoked(jti).await;
        if self.hold.swap(false, Ordering::SeqCst) {
            self.held.notify_one();
            self.release.notified().await;
        }
        answer
    }
    async fn set_revoked_before(&self, user_id: &str, at: i64) -> StoreResult<()> {
        self.check()?;
        self.inner.set_revoked_before(user_id, at).await
    }
    async fn revoked_before(&self, user_id: &str) -> StoreResult<Option<i64>> {
        self.check()?;
        self.inner.revoked_before(user_id).await
    }
    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        self.inner.purge_expired(now).await
    }
}

impl ThrottleStore for FailingStore {
    async fn record_failure(&self, key: &str, now: i64, window: i64) -> StoreResult<Failures> {
        self.inner.record_failure(key, now, window).await
    }
    async fn failures(&self, key: &str) -> StoreResult<Option<Failures>> {
        self.inner.failures(key).await
    }
    async fn clear_failures(&self, key: &str) -> StoreResult<()> {
        self.inner.clear_failures(key).await
    }
    async fn release_failure(&self, key: &str) -> StoreResult<()> {
        self.inner.release_failure(key).await
    }
    async fn purge_failures(&self, before: i64) -> StoreResult<u64> {
        self.inner.purge_failures(before).await
    }
}

impl KeyStore for FailingStore {
    async fn insert_key(&self, key: &StoredKey) -> StoreResult<()> {
        self.inner.insert_key(key).await
    }
    async fn keys(&self) -> StoreResult<Vec<StoredKey>> {
        self.inner.keys().await
    }
    async fn retire_key(&self, kid: &str, at: i64) -> StoreResult<()> {
        self.inner.retire_key(kid, at).await
    }
    async fn delete_key(&self, kid: &str) -> StoreResult<()> {
        self.inner.delete_key(kid).await
    }
}
