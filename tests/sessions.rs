//! Browser sessions through the real router: the cookie's attributes, CSRF protection on unsafe
//! methods and on login, logout, idle and absolute timeouts, and revocation through the identity.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use common::{Reply, send};
use http::{Request, StatusCode};
use portcullis::identity::{IDENTITY_PUBLIC_PATHS, Identity, IdentityConfig};
use portcullis::session::{SessionConfig, Sessions};
use portcullis::store::MemoryStore;
use portcullis::{AuthGateway, UserContext};

const PASSWORD: &str = "correct horse battery staple";
const ORIGIN: &str = "https://app.example.com";

struct T {
    app: Router,
    identity: Arc<Identity<MemoryStore>>,
    offset: Arc<AtomicI64>,
}

async fn setup(secure: bool) -> T {
    let offset = Arc::new(AtomicI64::new(0));
    let clock_offset = offset.clone();
    let config = IdentityConfig {
        clock: portcullis::clock::Clock::from_fn(move || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
                + clock_offset.load(Ordering::SeqCst)
        }),
        ..IdentityConfig::default()
    };
    let store = MemoryStore::new();
    let identity = common::fast_identity(store, config).await;
    identity.register("s@example.com", PASSWORD).await.unwrap();
    let sessions = Sessions::new(
        identity.clone(),
        SessionConfig {
            secure,
            allowed_origins: vec![ORIGIN.into()],
            ..SessionConfig::default()
        },
    );
    let gateway = AuthGateway::new()
        .strategy(identity.bearer())
        .strategy(sessions.strategy())
        .public_paths(IDENTITY_PUBLIC_PATHS)
        .public_path("/auth/session")
        .build()
        .unwrap();
    let app = Router::new()
        .route("/me", get(|u: UserContext| async move { axum::Json(u) }))
        .route(
            "/notes",
            post(|u: UserContext| async move { format!("note by {}", u.subject()) }),
        )
        .merge(sessions.router())
        .merge(identity.router())
        .layer(gateway);
    T {
        app,
        identity,
        offset,
    }
}

impl T {
    async fn login(&self, origin: Option<&str>, password: &str) -> Reply {
        let mut builder = Request::post("/auth/session").header("content-type", "application/json");
        if let Some(o) = origin {
            builder = builder.header("origin", o);
        }
        let body = serde_json::json!({"email": "s@example.com", "password": password});
        send(
            &self.app,
            builder.body(Body::from(body.to_string())).unwrap(),
        )
        .await
    }

    async fn cookie(&self) -> String {
        let reply = self.login(Some(ORIGIN), PASSWORD).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
        let set = reply.header("set-cookie").unwrap();
        set.split(';').next().unwrap().to_owned()
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        cookie: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("cookie", cookie);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        send(&self.app, builder.body(Body::empty()).unwrap()).await
    }

    fn advance(&self, by: Duration) {
        self.offset.fetch_add(by.as_secs() as i64, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn login_sets_a_hardened_cookie() {
    let t = setup(true).await;
    let reply = t.login(Some(ORIGIN), PASSWORD).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let set = reply.header("set-cookie").unwrap();
    assert!(set.starts_with("__Host-portcullis_session=pss_"), "{set}");
    for attribute in [
        "Path=/",
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Max-Age=43200",
    ] {
        assert!(set.contains(attribute), "{attribute} missing from {set}");
    }
    assert!(!set.contains("Domain"), "__Host- cookies carry no Domain");

    let wrong = t.login(Some(ORIGIN), "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.header("set-cookie").is_none(),
        "a failed login creates no session"
    );

    let me = t.call("GET", "/me", &t.cookie().await, &[]).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["method"], "session");
    assert_eq!(me.json()["roles"], serde_json::json!(["viewer"]));
}

#[tokio::test]
async fn plain_localhost_mode_drops_secure_and_the_prefix() {
    let t = setup(false).await;
    let set = t
        .login(Some(ORIGIN), PASSWORD)
        .await
        .header("set-cookie")
        .unwrap()
        .to_owned();
    assert!(
        set.starts_with("portcullis_session=pss_") && !set.contains("Secure"),
        "{set}"
    );
}

#[tokio::test]
async fn unsafe_methods_need_an_allowed_origin() {
    let t = setup(true).await;
    let cookie = t.cookie().await;
    let cases: [(&[(&str, &str)], StatusCode); 5] = [
        (&[], StatusCode::FORBIDDEN),
        (&[("origin", "https://evil.example")], StatusCode::FORBIDDEN),
        (
            &[("origin", "https://app.example.com.evil.example")],
            StatusCode::FORBIDDEN,
        ),
        (&[("origin", ORIGIN)], StatusCode::OK),
        (&[("sec-fetch-site", "same-origin")], StatusCode::OK),
    ];
    for (headers, want) in cases {
        let reply = t.call("POST", "/notes", &cookie, headers).await;
        assert_eq!(reply.status, want, "{headers:?}: {}", reply.text());
    }
    let cross_site = t
        .call(
            "POST",
            "/notes",
            &cookie,
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    // Safe methods need no origin.
    assert_eq!(
        t.call("GET", "/me", &cookie, &[]).await.status,
        StatusCode::OK
    );
    // Login itself is protected against login CSRF.
    assert_eq!(
        t.login(Some("https://evil.example"), PASSWORD).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(t.login(None, PASSWORD).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn logout_clears_and_ends_the_session() {
    let t = setup(true).await;
    let cookie = t.cookie().await;
    let out = t
        .call(
            "POST",
            "/auth/session/logout",
            &cookie,
            &[("origin", ORIGIN)],
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let cleared = out.header("set-cookie").unwrap();
    assert!(
        cleared.starts_with("__Host-portcullis_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(
        t.call("GET", "/me", &cookie, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn idle_and_absolute_timeouts() {
    let t = setup(true).await;
    let idle = t.cookie().await;
    t.advance(Duration::from_secs(29 * 60));
    assert_eq!(
        t.call("GET", "/me", &idle, &[]).await.status,
        StatusCode::OK,
        "used within the idle time"
    );
    t.advance(Duration::from_secs(29 * 60));
    assert_eq!(
        t.call("GET", "/me", &idle, &[]).await.status,
        StatusCode::OK,
        "the use moved the idle clock"
    );
    t.advance(Duration::from_secs(31 * 60));
    assert_eq!(
        t.call("GET", "/me", &idle, &[]).await.status,
        StatusCode::UNAUTHORIZED,
        "idle too long"
    );

    let busy = t.cookie().await;
    for _ in 0..(12 * 60 / 20) {
        t.advance(Duration::from_secs(20 * 60));
        let status = t.call("GET", "/me", &busy, &[]).await.status;
        if status == StatusCode::UNAUTHORIZED {
            return; // ended by the absolute timeout, however busy
        }
    }
    panic!("the session outlived its absolute timeout");
}

#[tokio::test]
async fn identity_revocation_ends_sessions() {
    let t = setup(true).await;
    let cookie = t.cookie().await;
    let user = t.identity.store().clone();
    let id = portcullis::store::UserStore::user_by_email(&user, "s@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    t.identity.logout_all(&id).await.unwrap();
    assert_eq!(
        t.call("GET", "/me", &cookie, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let after = t.cookie().await;
    assert_eq!(
        t.call("GET", "/me", &after, &[]).await.status,
        StatusCode::OK,
        "a new login is a new session"
    );
    t.identity.set_disabled(&id, true).await.unwrap();
    assert_eq!(
        t.call("GET", "/me", &after, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Issue 13: a session once carried the roles of its login for 12 hours. It now acts with the
/// user's current roles from the next request, and a deleted user's sessions end at once.
#[tokio::test]
async fn sessions_follow_role_changes_and_deletion() {
    let t = setup(true).await;
    let cookie = t.cookie().await;
    let roles = |reply: Reply| reply.json()["roles"].clone();
    assert_eq!(
        roles(t.call("GET", "/me", &cookie, &[]).await),
        serde_json::json!(["viewer"])
    );
    let id = portcullis::store::UserStore::user_by_email(t.identity.store(), "s@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    t.identity.set_roles(&id, &["editor".into()]).await.unwrap();
    assert_eq!(
        roles(t.call("GET", "/me", &cookie, &[]).await),
        serde_json::json!(["editor"])
    );
    t.identity.set_roles(&id, &[]).await.unwrap();
    assert_eq!(
        roles(t.call("GET", "/me", &cookie, &[]).await),
        serde_json::json!([])
    );
    t.identity.delete_user(&id).await.unwrap();
    assert_eq!(
        t.call("GET", "/me", &cookie, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn bad_cookies_are_refused() {
    let t = setup(true).await;
    let cookie = t.cookie().await;
    let (name, value) = cookie.split_once('=').unwrap();
    let tampered = format!("{name}={}x", &value[..value.len() - 1]);
    // (Trailing white space after the header value is optional white space in HTTP and is dropped,
    // so it is not a different cookie.)
    let spaced = format!("{name}={} {}", &value[..10], &value[10..]);
    for bad in [
        format!("{name}=pss_short"),
        format!("{name}=garbage"),
        tampered,
        spaced,
    ] {
        let reply = t.call("GET", "/me", &bad, &[]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{bad}");
    }
    // Another cookie of the same site is not a session.
    assert_eq!(
        t.call("GET", "/me", "theme=dark", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}
