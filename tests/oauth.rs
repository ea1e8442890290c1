//! The OpenID login against an OpenID provider on loopback that the test can make misbehave: real
//! HTTP, real discovery, real JWKS and ES256 signatures, PKCE checked by the provider. Every
//! failure must answer 4xx, set no session and clear the flow cookie.
#![cfg(feature = "oauth2")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use common::send;
use http::{HeaderMap, Request, StatusCode};
use portcullis::identity::{IDENTITY_PUBLIC_PATHS, Identity, IdentityConfig};
use portcullis::oauth::{BrowserErrors, OAUTH_PUBLIC_PREFIX, OAuthLogin, OidcProvider};
use portcullis::session::{SessionConfig, Sessions};
use portcullis::store::MemoryStore;
use portcullis::token::{Algorithm, Key, KeyRing, TokenClaims, TokenIssuer};
use portcullis::{AuthGateway, UserContext};
use serde_json::{Value, json};

const CLIENT_ID: &str = "portcullis-app";
const CLIENT_SECRET: &str = "app secret for the test provider";
const REDIRECT: &str = "http://127.0.0.1/auth/oauth/test/callback";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Misbehave {
    None,
    WrongNonce,
    WrongIssuer,
    WrongAudience,
    UserInfoSubject,
    Deny,
    IssParam,
    /// Takes an authorization code more than once (RFC 6749 §4.1.2 says it must not).
    ReusableCodes,
}

#[derive(Default, Clone)]
struct Pending {
    nonce: String,
    challenge: String,
}

struct Idp {
    issuer: String,
    ring: KeyRing,
    mode: Mutex<Misbehave>,
    codes: Mutex<HashMap<String, Pending>>,
    subject: Mutex<String>,
    email: Mutex<String>,
    /// The `email_verified` claim, left out when `None`.
    email_verified: Mutex<Option<bool>>,
}

type Shared = Arc<Idp>;

async fn discovery(State(idp): State<Shared>) -> axum::Json<Value> {
    let i = &idp.issuer;
    axum::Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(idp): State<Shared>) -> axum::Json<Value> {
    let keys = idp.ring.snapshot();
    let jwk = keys.signing_key().and_then(|k| k.jwk()).unwrap();
    axum::Json(json!({ "keys": [jwk] }))
}

async fn authorize(
    State(idp): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    assert_eq!(
        q.get("code_challenge_method").map(String::as_str),
        Some("S256"),
        "PKCE S256 is always used"
    );
    assert_eq!(q.get("client_id").map(String::as_str), Some(CLIENT_ID));
    let redirect = q.get("redirect_uri").unwrap();
    let state = q.get("state").unwrap();
    let mode = *idp.mode.lock().unwrap();
    if mode == Misbehave::Deny {
        return Redirect::to(&format!("{redirect}?error=access_denied&state={state}"))
            .into_response();
    }
    let code = format!("code-{}", idp.codes.lock().unwrap().len());
    idp.codes.lock().unwrap().insert(
        code.clone(),
        Pending {
            nonce: q.get("nonce").cloned().unwrap_or_default(),
            challenge: q.get("code_challenge").cloned().unwrap(),
        },
    );
    let iss = if mode == Misbehave::IssParam {
        "https://evil.example".to_owned()
    } else {
        idp.issuer.clone()
    };
    let iss: String = url_encode(&iss);
    Redirect::to(&format!("{redirect}?code={code}&state={state}&iss={iss}")).into_response()
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn token(
    State(idp): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding.
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = format!(
        "Basic {}",
        b64.encode(format!("{}:{}", encode(CLIENT_ID), encode(CLIENT_SECRET)))
    );
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(basic.as_str())
        || (form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET));
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let reusable = *idp.mode.lock().unwrap() == Misbehave::ReusableCodes;
    let Some(pending) = form.get("code").and_then(|c| {
        let mut codes = idp.codes.lock().unwrap();
        if reusable {
            codes.get(c).cloned()
        } else {
            codes.remove(c)
        }
    }) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    if base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref()) != pending.challenge
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant", "error_description": "PKCE"})),
        )
            .into_response();
    }
    let mode = *idp.mode.lock().unwrap();
    let issuer = if mode == Misbehave::WrongIssuer {
        "https://evil.example".to_owned()
    } else {
        idp.issuer.clone()
    };
    let audience = if mode == Misbehave::WrongAudience {
        "someone-else"
    } else {
        CLIENT_ID
    };
    let nonce = if mode == Misbehave::WrongNonce {
        "not-the-nonce".to_owned()
    } else {
        pending.nonce
    };
    let subject = idp.subject.lock().unwrap().clone();
    let mut claims = TokenClaims::new(subject)
        .claim("nonce", nonce.into())
        .claim("email", idp.email.lock().unwrap().clone().into());
    if let Some(verified) = *idp.email_verified.lock().unwrap() {
        claims = claims.claim("email_verified", verified.into());
    }
    let id_token = TokenIssuer::new(idp.ring.clone())
        .issuer(issuer)
        .audience(audience)
        .issue(&claims)
        .unwrap();
    axum::Json(json!({"access_token": "provider-access-token", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}))
        .into_response()
}

async fn userinfo(State(idp): State<Shared>) -> axum::Json<Value> {
    let mode = *idp.mode.lock().unwrap();
    let sub = if mode == Misbehave::UserInfoSubject {
        "someone-else".to_owned()
    } else {
        idp.subject.lock().unwrap().clone()
    };
    let mut info = json!({"sub": sub, "email": idp.email.lock().unwrap().clone()});
    if let Some(verified) = *idp.email_verified.lock().unwrap() {
        info["email_verified"] = verified.into();
    }
    axum::Json(info)
}

async fn start_idp() -> Shared {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let idp = Arc::new(Idp {
        issuer,
        ring: KeyRing::single(Key::generate_ecdsa("idp-key", Algorithm::ES256).unwrap()),
        mode: Mutex::new(Misbehave::None),
        codes: Mutex::new(HashMap::new()),
        subject: Mutex::new("idp-user-1".into()),
        email: Mutex::new("oidc.user@example.com".into()),
        email_verified: Mutex::new(Some(true)),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo))
        .with_state(idp.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    idp
}

struct T {
    app: Router,
    idp: Shared,
    identity: Arc<Identity<MemoryStore>>,
    http: openidconnect::reqwest::Client,
}

async fn setup(link_by_email: bool) -> T {
    setup_with(link_by_email, None).await
}

/// [`setup`] with the routes answering browsers as `errors` says (`None`: `router()`'s default).
async fn setup_with(link_by_email: bool, errors: Option<BrowserErrors>) -> T {
    let idp = start_idp().await;
    let store = MemoryStore::new();
    let config = IdentityConfig::default();
    let identity = common::fast_identity(store, config).await;
    let sessions = Sessions::new(
        identity.clone(),
        SessionConfig {
            secure: false,
            ..SessionConfig::default()
        },
    );
    let mut provider = OidcProvider::new(
        "test",
        idp.issuer.clone(),
        CLIENT_ID,
        Some(CLIENT_SECRET.into()),
        REDIRECT,
    );
    provider.link_by_verified_email = link_by_email;
    let login = OAuthLogin::new(identity.clone(), sessions.clone(), vec![provider.into()]).unwrap();
    let gateway = AuthGateway::new()
        .strategy(sessions.strategy())
        .public_paths(IDENTITY_PUBLIC_PATHS)
        .public_prefix(OAUTH_PUBLIC_PREFIX)
        .build()
        .unwrap();
    let routes = match errors {
        None => login.router(),
        Some(errors) => login.router_with(errors).unwrap(),
    };
    let app = Router::new()
        .route("/me", get(|u: UserContext| async move { axum::Json(u) }))
        .merge(routes)
        .layer(gateway);
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    T {
        app,
        idp,
        identity,
        http,
    }
}

/// What a browser would carry through one login: the flow cookie and the callback URL.
struct Started {
    flow_cookie: String,
    callback: String,
}

/// What a browser does to start a login: ask `app` to authorize at `path`, follow the redirect to
/// the provider over real HTTP, and stop at the provider's redirect back. Returns the flow cookie
/// and the callback's path.
async fn drive(
    app: &Router,
    http: &openidconnect::reqwest::Client,
    path: &str,
    provider_base: &str,
) -> Started {
    let reply = send(app, Request::get(path).body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    let set = reply.header("set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Max-Age=600"),
        "{set}"
    );
    let flow_cookie = set.split(';').next().unwrap().to_owned();
    let location = reply.header("location").unwrap().to_owned();
    assert!(location.starts_with(provider_base), "{location}");
    let answer = http.get(&location).send().await.unwrap();
    let callback = answer
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    Started {
        flow_cookie,
        callback,
    }
}

impl T {
    async fn start(&self, return_to: &str) -> Started {
        let path = format!("/auth/oauth/test/authorize?return_to={return_to}");
        drive(&self.app, &self.http, &path, &self.idp.issuer).await
    }

    async fn finish(&self, started: &Started, cookie: Option<&str>) -> common::Reply {
        self.finish_accepting(started, cookie, None).await
    }

    /// [`finish`](Self::finish) with an `Accept` header.
    async fn finish_accepting(
        &self,
        started: &Started,
        cookie: Option<&str>,
        accept: Option<&str>,
    ) -> common::Reply {
        let path = started
            .callback
            .strip_prefix("http://127.0.0.1")
            .unwrap()
            .to_owned();
        let mut request = Request::get(path);
        if let Some(c) = cookie {
            request = request.header("cookie", c);
        }
        if let Some(a) = accept {
            request = request.header("accept", a);
        }
        send(&self.app, request.body(Body::empty()).unwrap()).await
    }
}

fn session_cookie(reply: &common::Reply) -> Option<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("portcullis_session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

fn flow_cleared(reply: &common::Reply) -> bool {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.starts_with("portcullis_oauth=;") && v.contains("Max-Age=0"))
}

#[tokio::test]
async fn a_whole_login_and_a_second_one_reach_the_same_account() {
    let t = setup(false).await;
    let started = t.start("/books").await;
    let done = t.finish(&started, Some(&started.flow_cookie)).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text());
    assert_eq!(done.header("location"), Some("/books"));
    assert!(flow_cleared(&done));
    let session = session_cookie(&done).expect("a session cookie");
    let me = send(
        &t.app,
        Request::get("/me")
            .header("cookie", &session)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["method"], "session");
    assert_eq!(me.json()["email"], "oidc.user@example.com");
    let first_user = me.json()["subject"].clone();

    let again = t.start("/").await;
    let done = t.finish(&again, Some(&again.flow_cookie)).await;
    let session = session_cookie(&done).unwrap();
    let me = send(
        &t.app,
        Request::get("/me")
            .header("cookie", &session)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        me.json()["subject"],
        first_user,
        "identified by (issuer, subject)"
    );

    // The account has no password: no password opens it.
    let login = t
        .identity
        .login("oidc.user@example.com", "any password at all", None)
        .await;
    assert!(login.is_err());
}

#[tokio::test]
async fn replayed_and_forged_callbacks_are_refused() {
    let t = setup(false).await;
    let started = t.start("/").await;
    assert!(session_cookie(&t.finish(&started, Some(&started.flow_cookie)).await).is_some());
    let replay = t.finish(&started, Some(&started.flow_cookie)).await;
    assert_eq!(
        replay.status,
        StatusCode::BAD_REQUEST,
        "a replayed callback"
    );
    assert!(session_cookie(&replay).is_none() && flow_cleared(&replay));

    let other = t.start("/").await;
    let no_cookie = t.finish(&other, None).await;
    assert_eq!(
        no_cookie.status,
        StatusCode::BAD_REQUEST,
        "a callback in another browser (login CSRF)"
    );
    let forged = format!("{}x", other.flow_cookie);
    assert_eq!(
        t.finish(&other, Some(&forged)).await.status,
        StatusCode::BAD_REQUEST,
        "a forged flow cookie"
    );
    let tampered = Started {
        flow_cookie: other.flow_cookie.clone(),
        callback: other.callback.replace("state=", "state=x"),
    };
    let reply = t.finish(&tampered, Some(&other.flow_cookie)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "a tampered state");
    assert!(session_cookie(&reply).is_none());

    // Someone else's flow cookie with this callback: the states differ.
    let third = t.start("/").await;
    let crossed = t.finish(&third, Some(&other.flow_cookie)).await;
    assert_eq!(crossed.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_misbehaving_provider_creates_no_session() {
    let logs = common::Captured::global();
    let t = setup(false).await;
    // Each case names what must have refused it: a 401 for another reason would not do.
    for (mode, status, because) in [
        (
            Misbehave::WrongNonce,
            StatusCode::UNAUTHORIZED,
            "nonce mismatch",
        ),
        (
            Misbehave::WrongIssuer,
            StatusCode::UNAUTHORIZED,
            "Invalid issuer",
        ),
        (
            Misbehave::WrongAudience,
            StatusCode::UNAUTHORIZED,
            "Invalid audiences",
        ),
        (
            Misbehave::UserInfoSubject,
            StatusCode::UNAUTHORIZED,
            "UserInfo",
        ),
        (
            Misbehave::Deny,
            StatusCode::UNAUTHORIZED,
            "the provider refused the sign-in",
        ),
        (
            Misbehave::IssParam,
            StatusCode::BAD_REQUEST,
            "the iss parameter names another issuer",
        ),
    ] {
        *t.idp.mode.lock().unwrap() = mode;
        let before = logs.text().len();
        let started = t.start("/").await;
        let reply = t.finish(&started, Some(&started.flow_cookie)).await;
        assert_eq!(reply.status, status, "{mode:?}: {}", reply.text());
        let new_logs = logs.text()[before..].to_owned();
        assert!(
            new_logs.contains(because),
            "{mode:?} was refused for another reason: {new_logs}"
        );
        assert!(
            session_cookie(&reply).is_none(),
            "{mode:?} created a session"
        );
        assert!(flow_cleared(&reply), "{mode:?} left the flow cookie");
    }
}

#[tokio::test]
async fn return_to_must_be_relative_and_providers_must_exist() {
    let t = setup(false).await;
    for bad in [
        "https://evil.example/",
        "//evil.example/x",
        "/%5Cevil.example",
    ] {
        let reply = send(
            &t.app,
            Request::get(format!("/auth/oauth/test/authorize?return_to={bad}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let reply = send(
        &t.app,
        Request::get("/auth/oauth/nope/authorize")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

impl T {
    /// A whole login by the provider's current user, in one browser; the callback's answer.
    async fn login(&self) -> common::Reply {
        let started = self.start("/").await;
        self.finish(&started, Some(&started.flow_cookie)).await
    }

    /// The user whose session `reply` started, as `/me` shows it.
    async fn me(&self, reply: &common::Reply) -> Value {
        let session = session_cookie(reply)
            .unwrap_or_else(|| panic!("no session: {} {}", reply.status, reply.text()));
        send(
            &self.app,
            Request::get("/me")
                .header("cookie", &session)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .json()
    }
}

#[tokio::test]
async fn linking_by_verified_email_only_when_configured() {
    for link in [false, true] {
        let t = setup(link).await;
        // An account made by a first OpenID sign-in: it has no password.
        let first = t.me(&t.login().await).await;
        assert_eq!(first["email"], "oidc.user@example.com");
        // Another subject whose verified address is the same.
        *t.idp.subject.lock().unwrap() = "idp-user-2".into();
        let second = t.me(&t.login().await).await;
        let linked = second["subject"] == first["subject"];
        assert_eq!(linked, link, "link_by_verified_email = {link}");
        if !link {
            assert!(
                second["email"].as_str().unwrap().ends_with("@oidc.invalid"),
                "addresses are unique: {second}"
            );
        }
    }
}

#[tokio::test]
async fn linking_needs_the_provider_to_say_the_address_is_verified() {
    let t = setup(true).await;
    let first = t.me(&t.login().await).await;
    for (subject, verified) in [("says-unverified", Some(false)), ("says-nothing", None)] {
        *t.idp.subject.lock().unwrap() = subject.into();
        *t.idp.email_verified.lock().unwrap() = verified;
        let other = t.me(&t.login().await).await;
        assert_ne!(
            other["subject"], first["subject"],
            "email_verified = {verified:?} was linked"
        );
        assert!(
            other["email"].as_str().unwrap().ends_with("@oidc.invalid"),
            "{other}"
        );
    }
}

#[tokio::test]
async fn an_unverified_password_account_does_not_capture_an_openid_login() {
    use portcullis::store::{ExternalIdentityStore, UserStore};
    let t = setup(true).await;
    // Someone registers the victim's address with a password of their own: nothing verifies it.
    t.identity
        .register("victim@example.com", "the squatter's own password")
        .await
        .unwrap();
    let store = t.identity.store();
    let before = store
        .user_by_email("victim@example.com")
        .await
        .unwrap()
        .unwrap();
    // The victim's first OpenID sign-in, the provider vouching for the address.
    *t.idp.subject.lock().unwrap() = "victim-at-the-provider".into();
    *t.idp.email.lock().unwrap() = "victim@example.com".into();
    for attempt in 1..=2 {
        let reply = t.login().await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text());
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json")
        );
        let detail = reply.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains("sign in with its password"), "{detail}");
        assert!(!detail.contains("victim"), "the answer names no address");
        assert!(session_cookie(&reply).is_none(), "attempt {attempt}");
        assert!(flow_cleared(&reply), "attempt {attempt}");
        let linked = store
            .linked_user(&t.idp.issuer, "victim-at-the-provider")
            .await
            .unwrap();
        assert_eq!(linked, None, "attempt {attempt}: no link was made");
        let after = store
            .user_by_email("victim@example.com")
            .await
            .unwrap()
            .unwrap();
        assert!(after == before, "attempt {attempt}: the account changed");
    }
}

/// What Chromium sends when it navigates.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";

impl T {
    /// A callback whose `state` was tampered with, in the browser that started the login.
    async fn tampered_callback(&self, accept: Option<&str>) -> common::Reply {
        let started = self.start("/").await;
        let tampered = Started {
            flow_cookie: started.flow_cookie.clone(),
            callback: started.callback.replace("state=", "state=x"),
        };
        self.finish_accepting(&tampered, Some(&started.flow_cookie), accept)
            .await
    }
}

#[tokio::test]
async fn a_failed_callback_shows_a_browser_an_html_page() {
    let t = setup_with(
        false,
        Some(BrowserErrors::Page(r#"/sign-in?a=1&b="<x>""#.into())),
    )
    .await;
    let reply = t.tampered_callback(Some(BROWSER_ACCEPT)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.header("vary"), Some("accept"));
    assert_eq!(
        reply.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
    let page = reply.text();
    assert!(page.contains("state does not match"), "the detail: {page}");
    assert!(
        page.contains(r#"href="/sign-in?a=1&amp;b=&quot;&lt;x&gt;&quot;""#),
        "the link back, escaped: {page}"
    );
    assert!(!page.contains("<x>"), "nothing unescaped: {page}");
    assert!(session_cookie(&reply).is_none() && flow_cleared(&reply));

    // The default page links to the site's root.
    let t = setup(false).await;
    let reply = t.tampered_callback(Some(BROWSER_ACCEPT)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.text().contains(r#"href="/""#), "{}", reply.text());
    assert!(session_cookie(&reply).is_none() && flow_cleared(&reply));

    // The status is kept for every kind of failure: a provider's refusal, an address that
    // belongs to a password account, and failures of the start route.
    *t.idp.mode.lock().unwrap() = Misbehave::Deny;
    let started = t.start("/").await;
    let reply = t
        .finish_accepting(&started, Some(&started.flow_cookie), Some(BROWSER_ACCEPT))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.text().contains("The provider refused the sign-in."));
    assert!(session_cookie(&reply).is_none() && flow_cleared(&reply));
    *t.idp.mode.lock().unwrap() = Misbehave::None;

    let t = setup(true).await;
    t.identity
        .register("oidc.user@example.com", "a local account's password")
        .await
        .unwrap();
    let started = t.start("/").await;
    let reply = t
        .finish_accepting(&started, Some(&started.flow_cookie), Some(BROWSER_ACCEPT))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(reply.text().contains("sign in with its password"));
    assert!(session_cookie(&reply).is_none() && flow_cleared(&reply));

    for (path, status) in [
        ("/auth/oauth/nope/authorize", StatusCode::NOT_FOUND),
        (
            "/auth/oauth/test/authorize?return_to=https://evil.example/",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let reply = send(
            &t.app,
            Request::get(path)
                .header("accept", BROWSER_ACCEPT)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, status, "{path}");
        assert_eq!(
            reply.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn api_clients_keep_getting_problem_json() {
    for errors in [None, Some(BrowserErrors::Redirect("/sign-in".into()))] {
        let t = setup_with(false, errors.clone()).await;
        for accept in [
            None,
            Some("application/json"),
            Some("*/*"),
            Some("application/json, text/html"),
        ] {
            let reply = t.tampered_callback(accept).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{errors:?} {accept:?}"
            );
            assert_eq!(
                reply.header("content-type"),
                Some("application/problem+json"),
                "{errors:?} {accept:?}"
            );
            assert_eq!(reply.header("cache-control"), Some("no-store"));
            let problem = reply.json();
            assert_eq!(problem["status"], 400);
            assert_eq!(problem["title"], "Bad Request");
            assert_eq!(problem["detail"], "state does not match");
            assert!(session_cookie(&reply).is_none() && flow_cleared(&reply));
        }
    }
}

#[tokio::test]
async fn a_configured_error_page_gets_the_browser_with_a_code() {
    let t = setup_with(
        false,
        Some(BrowserErrors::Redirect("/sign-in?lang=en".into())),
    )
    .await;
    let reply = t.tampered_callback(Some(BROWSER_ACCEPT)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert_eq!(
        reply.header("location"),
        Some("/sign-in?lang=en&error=invalid_callback")
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(session_cookie(&reply).is_none() && flow_cleared(&reply));

    *t.idp.mode.lock().unwrap() = Misbehave::Deny;
    let started = t.start("/").await;
    let reply = t
        .finish_accepting(&started, Some(&started.flow_cookie), Some(BROWSER_ACCEPT))
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(
        reply.header("location"),
        Some("/sign-in?lang=en&error=access_denied")
    );
    assert!(session_cookie(&reply).is_none() && flow_cleared(&reply));

    // A successful sign-in still goes to return_to.
    *t.idp.mode.lock().unwrap() = Misbehave::None;
    let started = t.start("/books").await;
    let reply = t
        .finish_accepting(&started, Some(&started.flow_cookie), Some(BROWSER_ACCEPT))
        .await;
    assert_eq!(reply.header("location"), Some("/books"));
    assert!(session_cookie(&reply).is_some());

    // Only relative paths: an absolute URL would make every failure an open redirect.
    let login = {
        let sessions = Sessions::new(t.identity.clone(), SessionConfig::default());
        OAuthLogin::new(t.identity.clone(), sessions, vec![]).unwrap()
    };
    for bad in ["https://evil.example/", "//evil.example/", "/sign-in#x"] {
        assert!(
            login
                .router_with(BrowserErrors::Redirect(bad.into()))
                .is_err(),
            "{bad}"
        );
    }
    assert!(
        login
            .router_with(BrowserErrors::Page("https://evil.example/".into()))
            .is_err()
    );
}

/// A GitHub stand-in on loopback: the OAuth endpoints (PKCE checked) and `/user`, `/user/emails`.
struct FakeGitHub {
    base: String,
    codes: Mutex<HashMap<String, String>>,
    emails: Mutex<Value>,
    broken_api: Mutex<bool>,
}

async fn gh_authorize(
    State(gh): State<Arc<FakeGitHub>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    assert_eq!(
        q.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    let code = format!("gh-code-{}", gh.codes.lock().unwrap().len());
    gh.codes
        .lock()
        .unwrap()
        .insert(code.clone(), q.get("code_challenge").cloned().unwrap());
    let redirect = q.get("redirect_uri").unwrap();
    Redirect::to(&format!(
        "{redirect}?code={code}&state={}",
        q.get("state").unwrap()
    ))
    .into_response()
}

async fn gh_token(
    State(gh): State<Arc<FakeGitHub>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    use base64::Engine;
    let challenge = form
        .get("code")
        .and_then(|c| gh.codes.lock().unwrap().remove(c));
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    if challenge != Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    axum::Json(json!({"access_token": "gho_test", "token_type": "bearer", "scope": "read:user,user:email"})).into_response()
}

async fn gh_user(State(gh): State<Arc<FakeGitHub>>, headers: HeaderMap) -> Response {
    assert_eq!(
        headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some("Bearer gho_test")
    );
    if *gh.broken_api.lock().unwrap() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    axum::Json(json!({"id": 583231, "login": "octocat", "email": null})).into_response()
}

async fn gh_emails(State(gh): State<Arc<FakeGitHub>>) -> axum::Json<Value> {
    axum::Json(gh.emails.lock().unwrap().clone())
}

async fn github_app() -> (T, Arc<FakeGitHub>) {
    use portcullis::oauth::GitHubProvider;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let gh = Arc::new(FakeGitHub {
        base: base.clone(),
        codes: Mutex::new(HashMap::new()),
        emails: Mutex::new(json!([
            {"email": "octo@old.example", "primary": false, "verified": true},
            {"email": "octocat@example.com", "primary": true, "verified": true},
        ])),
        broken_api: Mutex::new(false),
    });
    let server = Router::new()
        .route("/login/oauth/authorize", get(gh_authorize))
        .route("/login/oauth/access_token", post(gh_token))
        .route("/user", get(gh_user))
        .route("/user/emails", get(gh_emails))
        .with_state(gh.clone());
    tokio::spawn(async move { axum::serve(listener, server).await.unwrap() });

    let mut t = setup(false).await;
    let mut github = GitHubProvider::new(
        "gh-client",
        "gh secret",
        "http://127.0.0.1/auth/oauth/github/callback",
    );
    github.authorize_url = format!("{base}/login/oauth/authorize");
    github.token_url = format!("{base}/login/oauth/access_token");
    github.api_base = base;
    let sessions = Sessions::new(
        t.identity.clone(),
        SessionConfig {
            secure: false,
            ..SessionConfig::default()
        },
    );
    let login = OAuthLogin::new(t.identity.clone(), sessions.clone(), vec![github.into()]).unwrap();
    t.app = Router::new()
        .route("/me", get(|u: UserContext| async move { axum::Json(u) }))
        .merge(login.router())
        .layer(
            AuthGateway::new()
                .strategy(sessions.strategy())
                .public_prefix(OAUTH_PUBLIC_PREFIX)
                .build()
                .unwrap(),
        );
    (t, gh)
}

impl T {
    async fn github_login(&self, gh: &FakeGitHub) -> common::Reply {
        let started = drive(
            &self.app,
            &self.http,
            "/auth/oauth/github/authorize?return_to=/me",
            &gh.base,
        )
        .await;
        self.finish(&started, Some(&started.flow_cookie)).await
    }
}

#[tokio::test]
async fn github_login_uses_the_user_api_and_the_primary_verified_address() {
    let (t, gh) = github_app().await;
    let done = t.github_login(&gh).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text());
    let session = session_cookie(&done).unwrap();
    let me = send(
        &t.app,
        Request::get("/me")
            .header("cookie", &session)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(me.json()["email"], "octocat@example.com");
    let linked = portcullis::store::ExternalIdentityStore::linked_user(
        t.identity.store(),
        "https://github.com",
        "583231",
    )
    .await
    .unwrap();
    assert_eq!(
        linked.as_deref(),
        me.json()["subject"].as_str(),
        "identified by GitHub's numeric id"
    );

    // No verified primary address: a new account with no usable address, never someone else's.
    let (t2, gh2) = github_app().await;
    *gh2.emails.lock().unwrap() =
        json!([{"email": "victim@example.com", "primary": true, "verified": false}]);
    t2.identity
        .register("victim@example.com", "the victim's own password")
        .await
        .unwrap();
    let done = t2.github_login(&gh2).await;
    let session = session_cookie(&done).unwrap();
    let me = send(
        &t2.app,
        Request::get("/me")
            .header("cookie", &session)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(
        me.json()["email"]
            .as_str()
            .unwrap()
            .ends_with("@oidc.invalid"),
        "{}",
        me.text()
    );

    // The API failing: 401, no session.
    *gh2.broken_api.lock().unwrap() = true;
    let (t3, gh3) = (t2, gh2);
    let refused = t3.github_login(&gh3).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(session_cookie(&refused).is_none() && flow_cleared(&refused));
}

#[tokio::test]
async fn instances_sharing_a_state_key_accept_each_others_flows() {
    let t = setup(false).await;
    let sessions = Sessions::new(
        t.identity.clone(),
        SessionConfig {
            secure: false,
            ..SessionConfig::default()
        },
    );
    let provider = || -> portcullis::oauth::ProviderConfig {
        OidcProvider::new(
            "test",
            t.idp.issuer.clone(),
            CLIENT_ID,
            Some(CLIENT_SECRET.into()),
            REDIRECT,
        )
        .into()
    };
    let key = [7u8; 32];
    let app_of = |login: Arc<OAuthLogin<MemoryStore>>| {
        login.router().layer(
            AuthGateway::new()
                .strategy(sessions.strategy())
                .public_prefix(OAUTH_PUBLIC_PREFIX)
                .build()
                .unwrap(),
        )
    };
    let a = app_of(
        OAuthLogin::with_state_key(t.identity.clone(), sessions.clone(), vec![provider()], &key)
            .unwrap(),
    );
    let b = app_of(
        OAuthLogin::with_state_key(t.identity.clone(), sessions.clone(), vec![provider()], &key)
            .unwrap(),
    );
    let stranger =
        app_of(OAuthLogin::new(t.identity.clone(), sessions.clone(), vec![provider()]).unwrap());
    assert!(
        OAuthLogin::with_state_key(
            t.identity.clone(),
            sessions.clone(),
            vec![provider()],
            &[1; 16]
        )
        .is_err(),
        "short keys refused"
    );

    for (finisher, want) in [
        (&b, StatusCode::SEE_OTHER),
        (&stranger, StatusCode::BAD_REQUEST),
    ] {
        let started = drive(&a, &t.http, "/auth/oauth/test/authorize", &t.idp.issuer).await;
        let path = started
            .callback
            .strip_prefix("http://127.0.0.1")
            .unwrap()
            .to_owned();
        let done = send(
            finisher,
            Request::get(path)
                .header("cookie", &started.flow_cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(done.status, want, "{}", done.text());
    }
}

/// Used states remembered for every instance, as a shared store does (the Redis one is tested
/// in `cluster_redis.rs`); `down` makes it fail.
#[derive(Default)]
struct SharedStates {
    used: Mutex<std::collections::HashSet<String>>,
    down: std::sync::atomic::AtomicBool,
}

impl portcullis::cluster::FirstUse for SharedStates {
    fn first_use<'a>(
        &'a self,
        value: &'a str,
        _ttl: std::time::Duration,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<bool, portcullis::cluster::FirstUseError>>
                + Send
                + 'a,
        >,
    > {
        Box::pin(async move {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(portcullis::cluster::FirstUseError("down".into()));
            }
            Ok(self.used.lock().unwrap().insert(value.to_owned()))
        })
    }
}

/// Two instances of one application (one store, one flow-cookie key) behind a load balancer,
/// sharing their used states through `shared` when given.
async fn two_instances(shared: Option<Arc<SharedStates>>) -> (T, T) {
    let idp = start_idp().await;
    let identity = common::fast_identity(MemoryStore::new(), IdentityConfig::default()).await;
    let key = [7u8; 32];
    let mut apps = Vec::new();
    for _ in 0..2 {
        let sessions = Sessions::new(
            identity.clone(),
            SessionConfig {
                secure: false,
                ..SessionConfig::default()
            },
        );
        let provider = OidcProvider::new(
            "test",
            idp.issuer.clone(),
            CLIENT_ID,
            Some(CLIENT_SECRET.into()),
            REDIRECT,
        );
        let login = OAuthLogin::with_state_key(
            identity.clone(),
            sessions.clone(),
            vec![provider.into()],
            &key,
        )
        .unwrap();
        if let Some(shared) = &shared {
            login.share_used_states(shared.clone());
        }
        let gateway = AuthGateway::new()
            .strategy(sessions.strategy())
            .public_prefix(OAUTH_PUBLIC_PREFIX)
            .build()
            .unwrap();
        apps.push(Router::new().merge(login.router()).layer(gateway));
    }
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let b = T {
        app: apps.pop().unwrap(),
        idp: idp.clone(),
        identity: identity.clone(),
        http: http.clone(),
    };
    let a = T {
        app: apps.pop().unwrap(),
        idp,
        identity,
        http,
    };
    (a, b)
}

#[tokio::test]
async fn a_callback_replayed_to_another_instance_is_refused_when_used_states_are_shared() {
    let shared = Arc::new(SharedStates::default());
    let (a, b) = two_instances(Some(shared.clone())).await;
    // A provider that takes a code twice: only the used state stands in the replay's way.
    *a.idp.mode.lock().unwrap() = Misbehave::ReusableCodes;
    let started = a.start("/").await;
    assert!(session_cookie(&a.finish(&started, Some(&started.flow_cookie)).await).is_some());
    let replay = b.finish(&started, Some(&started.flow_cookie)).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "replayed on B");
    assert!(session_cookie(&replay).is_none());
    // A flow started on A finishes on B: the load balancer may send the callback anywhere.
    let elsewhere = a.start("/").await;
    assert!(session_cookie(&b.finish(&elsewhere, Some(&elsewhere.flow_cookie)).await).is_some());
    // The shared store down: callbacks are refused, not let through unchecked.
    shared.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let later = a.start("/").await;
    let refused = b.finish(&later, Some(&later.flow_cookie)).await;
    assert!(session_cookie(&refused).is_none());
    assert_ne!(refused.status, StatusCode::OK);
}

#[tokio::test]
async fn without_shared_used_states_each_instance_only_knows_its_own() {
    // What the shared store is for: unshared, instance B cannot know that A took the state, and
    // only the provider's one-time code stands between a replay and a second session. With a
    // provider that takes codes twice, the replay gets one.
    let (a, b) = two_instances(None).await;
    *a.idp.mode.lock().unwrap() = Misbehave::ReusableCodes;
    let started = a.start("/").await;
    assert!(session_cookie(&a.finish(&started, Some(&started.flow_cookie)).await).is_some());
    let replay_here = a.finish(&started, Some(&started.flow_cookie)).await;
    assert_eq!(replay_here.status, StatusCode::BAD_REQUEST);
    let replay_there = b.finish(&started, Some(&started.flow_cookie)).await;
    assert!(session_cookie(&replay_there).is_some(), "B took the replay");
    let _ = &b.identity;
}
