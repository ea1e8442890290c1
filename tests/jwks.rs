//! Keys from a provider's JWKS URL, against a real HTTP server on loopback that can rotate its
//! keys, fail, stall and serve nonsense: rotation costs one fetch however many requests see the
//! new `kid`, made-up key ids cannot make us hammer the provider, a key gone from the document is
//! refused at once, no bad document changes the ring, and the endpoint as a real process killed,
//! frozen and restarted under load is survived.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::*;
use http::StatusCode;
use jsonwebtoken::Algorithm;
use portcullis::AuthGateway;
use portcullis::strategy::BearerStrategy;
use portcullis::token::{JwksError, Key, KeyRing, RemoteJwks, TokenClaims, TokenIssuer};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the provider's JWKS endpoint answers.
#[derive(Clone)]
enum Serve {
    Document(Value),
    Status(StatusCode),
    Body(&'static str),
    Redirect(&'static str),
    Stall(Duration),
}

#[derive(Clone)]
struct Provider {
    serve: Arc<Mutex<Serve>>,
    hits: Arc<AtomicU64>,
    url: String,
}

impl Provider {
    async fn start(first: Serve) -> Self {
        let serve = Arc::new(Mutex::new(first));
        let hits = Arc::new(AtomicU64::new(0));
        let state = (serve.clone(), hits.clone());
        let app = Router::new()
            .route("/jwks", get(jwks_endpoint))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            serve,
            hits,
            url: format!("http://{addr}/jwks"),
        }
    }

    fn serve(&self, what: Serve) {
        *self.serve.lock().unwrap() = what;
    }

    fn publish(&self, keys: &[&Key]) {
        let keys: Vec<Value> = keys.iter().map(|k| k.jwk().unwrap()).collect();
        self.serve(Serve::Document(json!({ "keys": keys })));
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn jwks_endpoint(
    State((serve, hits)): State<(Arc<Mutex<Serve>>, Arc<AtomicU64>)>,
) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    let what = serve.lock().unwrap().clone();
    match what {
        Serve::Document(doc) => axum::Json(doc).into_response(),
        Serve::Status(status) => status.into_response(),
        Serve::Body(text) => text.into_response(),
        Serve::Redirect(to) => (StatusCode::FOUND, [("location", to)]).into_response(),
        Serve::Stall(pause) => {
            tokio::time::sleep(pause).await;
            axum::Json(json!({"keys": []})).into_response()
        }
    }
}

fn signing_key(kid: &str) -> Key {
    Key::generate_ecdsa(kid, Algorithm::ES256).unwrap()
}

/// A token as the provider signs it with `key`.
fn token_of(key: &Key) -> String {
    TokenIssuer::new(KeyRing::single(key.clone()))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .issue(&TokenClaims::new("alice").roles(["viewer"]))
        .unwrap()
}

fn app_over(jwks: &RemoteJwks) -> Router {
    routes().layer(
        AuthGateway::new()
            .strategy(BearerStrategy::from_jwks(jwks, rules()))
            .realm("test")
            .error_renderer(ReasonRenderer)
            .build()
            .unwrap(),
    )
}

/// A provider publishing `keys`, a source that fetched them once, and an app over it.
async fn serving(keys: &[&Key]) -> (Provider, RemoteJwks, Router) {
    let provider = Provider::start(Serve::Document(json!({"keys": []}))).await;
    provider.publish(keys);
    let jwks = RemoteJwks::builder(&provider.url).build().unwrap();
    jwks.refresh().await.unwrap();
    let app = app_over(&jwks);
    (provider, jwks, app)
}

#[tokio::test]
async fn rotation_costs_one_fetch_however_many_requests_see_the_new_kid() {
    let (old, new) = (signing_key("2026-11"), signing_key("2026-12"));
    let (provider, jwks, app) = serving(&[&old]).await;
    let old_token = token_of(&old);
    assert_eq!(
        get_as(&app, "/me", Some(&old_token)).await.status,
        StatusCode::OK
    );
    assert_eq!((provider.hits(), jwks.fetches()), (1, 1));

    // The provider publishes its next key and signs with it; 64 requests carry it at once.
    provider.publish(&[&old, &new]);
    let new_token = token_of(&new);
    let requests: Vec<_> = (0..64)
        .map(|_| {
            let (app, token) = (app.clone(), new_token.clone());
            tokio::spawn(async move { get_as(&app, "/me", Some(&token)).await.status })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(
        provider.hits(),
        2,
        "one fetch for the rotation, not one per request"
    );
    assert_eq!(jwks.fetches(), 2);
    assert_eq!(jwks.ring().snapshot().kids(), ["2026-11", "2026-12"]);
    // Tokens of the old key keep working while it is published; nothing else is fetched.
    assert_eq!(
        get_as(&app, "/me", Some(&old_token)).await.status,
        StatusCode::OK
    );
    assert_eq!(provider.hits(), 2);
}

#[tokio::test]
async fn made_up_key_ids_cannot_make_us_hammer_the_provider() {
    let key = signing_key("real");
    let (provider, _, app) = serving(&[&key]).await;
    let made_up = |i: u32| {
        forge(
            json!({"alg": "ES256", "kid": format!("made-up-{i}")}),
            claims("mallory", &["admin"]),
            &encoding_key(Algorithm::ES256),
            Algorithm::ES256,
        )
    };
    // The first made-up kid fetches once and is refused as unknown.
    let reply = get_as(&app, "/me", Some(&made_up(0))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.reason(), Some("unknown_key"));
    // The rest wait out the cool-down: no fetch, and no verdict on keys nobody looked for (503).
    for i in 1..50 {
        let reply = get_as(&app, "/me", Some(&made_up(i))).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{i}");
    }
    let reply = get_as(&app, "/me", Some(&made_up(0))).await;
    assert_eq!(
        reply.reason(),
        Some("unknown_key"),
        "the kid just looked for"
    );
    assert_eq!(provider.hits(), 2);
    // The real key still works throughout.
    assert_eq!(
        get_as(&app, "/me", Some(&token_of(&key))).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn after_the_cool_down_an_unknown_kid_fetches_again() {
    let (key, next) = (signing_key("now"), signing_key("next"));
    let provider = Provider::start(Serve::Status(StatusCode::NOT_FOUND)).await;
    provider.publish(&[&key]);
    let jwks = RemoteJwks::builder(&provider.url)
        .cooldown(Duration::from_millis(200))
        .build()
        .unwrap();
    jwks.refresh().await.unwrap();
    let app = app_over(&jwks);
    let early = token_of(&next);
    assert_eq!(
        get_as(&app, "/me", Some(&early)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The provider publishes the key late; after the cool-down its tokens get through.
    provider.publish(&[&key, &next]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        get_as(&app, "/me", Some(&early)).await.status,
        StatusCode::OK
    );
    assert_eq!(provider.hits(), 3);
}

#[tokio::test]
async fn a_key_gone_from_the_document_is_refused_at_once() {
    let (a, b) = (signing_key("a"), signing_key("b"));
    let (provider, jwks, app) = serving(&[&a, &b]).await;
    let token = token_of(&a);
    for _ in 0..2 {
        // The second request is answered by the verified-token cache.
        assert_eq!(
            get_as(&app, "/me", Some(&token)).await.status,
            StatusCode::OK
        );
    }
    // Key `a` is withdrawn (compromised, say): the next refresh drops it from the ring.
    provider.publish(&[&b]);
    assert_eq!(jwks.refresh().await, Ok(1));
    let reply = get_as(&app, "/me", Some(&token)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.reason(), Some("unknown_key"));
    assert_eq!(
        get_as(&app, "/me", Some(&token_of(&b))).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_unchanged_key_stays_the_same_key_and_changed_material_ends_its_tokens() {
    let key = signing_key("k");
    let (provider, jwks, app) = serving(&[&key]).await;
    let token = token_of(&key);
    assert_eq!(
        get_as(&app, "/me", Some(&token)).await.status,
        StatusCode::OK
    );
    let before = jwks.ring().snapshot().get("k").cloned().unwrap();
    jwks.refresh().await.unwrap();
    let after = jwks.ring().snapshot().get("k").cloned().unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&before, &after),
        "an unchanged JWK keeps its key object, so its tokens stay in the bearer cache"
    );
    // The provider publishes other material under the same kid: remembered tokens must go.
    provider.publish(&[&signing_key("k")]);
    jwks.refresh().await.unwrap();
    let reply = get_as(&app, "/me", Some(&token)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.reason(), Some("bad_signature"));
}

#[tokio::test]
async fn an_encryption_key_sharing_a_kid_never_hides_the_signing_key() {
    let key = signing_key("shared");
    let mut encryption = signing_key("shared").jwk().unwrap();
    encryption["use"] = "enc".into();
    let provider = Provider::start(Serve::Status(StatusCode::NOT_FOUND)).await;
    let jwks = RemoteJwks::builder(&provider.url).build().unwrap();
    for order in [
        json!({"keys": [encryption.clone(), key.jwk().unwrap()]}),
        json!({"keys": [key.jwk().unwrap(), encryption.clone()]}),
    ] {
        provider.serve(Serve::Document(order));
        assert_eq!(jwks.refresh().await, Ok(1));
        let app = app_over(&jwks);
        assert_eq!(
            get_as(&app, "/me", Some(&token_of(&key))).await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn a_provider_that_is_down_keeps_known_keys_and_fails_closed_on_unknown_ones() {
    let (known, unseen) = (signing_key("known"), signing_key("unseen"));
    let (provider, jwks, app) = serving(&[&known]).await;
    provider.serve(Serve::Status(StatusCode::INTERNAL_SERVER_ERROR));

    assert_eq!(
        get_as(&app, "/me", Some(&token_of(&known))).await.status,
        StatusCode::OK
    );
    // We cannot tell whether a token of an unseen key is good: 503, never 200, and not 401
    // (which would tell the client to throw a possibly good token away).
    for _ in 0..3 {
        let reply = get_as(&app, "/me", Some(&token_of(&unseen))).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.text()
        );
    }
    assert_eq!(
        provider.hits(),
        2,
        "the failed fetch is not retried inside the cool-down"
    );
    assert_eq!(jwks.refresh().await, Err(JwksError::Status(500)));
    assert_eq!(jwks.ring().snapshot().kids(), ["known"]);
}

/// Serves one chunked response with no `Content-Length`, larger than `bytes`, then closes.
async fn chunked_server(bytes: usize) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            // Read the request first: closing a socket with unread data resets the connection.
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            let _ = socket.write_all(head.as_bytes()).await;
            let chunk = format!("{:x}\r\n{}\r\n", 1024, " ".repeat(1024));
            for _ in 0..bytes / 1024 + 2 {
                if socket.write_all(chunk.as_bytes()).await.is_err() {
                    break;
                }
            }
            let _ = socket.write_all(b"0\r\n\r\n").await;
        }
    });
    addr
}

#[tokio::test]
async fn no_bad_document_changes_the_ring() {
    let good = signing_key("good");
    let provider = Provider::start(Serve::Status(StatusCode::NOT_FOUND)).await;
    provider.publish(&[&good]);
    let jwks = RemoteJwks::builder(&provider.url)
        .timeout(Duration::from_millis(300))
        .max_bytes(4096)
        .build()
        .unwrap();
    jwks.refresh().await.unwrap();

    let oct = json!({"kty": "oct", "kid": "s", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"});
    let mut mislabelled = signing_key("m").jwk().unwrap();
    mislabelled["alg"] = "RS256".into();
    let mut encryption = signing_key("enc").jwk().unwrap();
    encryption["use"] = "enc".into();
    let twin_a = signing_key("twin").jwk().unwrap();
    let twin_b = signing_key("twin").jwk().unwrap();
    let big = json!({"keys": [], "padding": "x".repeat(5000)});
    type Expected = fn(&JwksError) -> bool;
    let cases: Vec<(&str, Serve, Expected)> = vec![
        ("not JSON", Serve::Body("<html>oops</html>"), |e| {
            *e == JwksError::Malformed
        }),
        (
            "no key list",
            Serve::Document(json!({"keys": "all of them"})),
            |e| *e == JwksError::Malformed,
        ),
        (
            "only a secret key",
            Serve::Document(json!({"keys": [oct]})),
            |e| *e == JwksError::NoUsableKey,
        ),
        (
            "an EC key labelled RS256",
            Serve::Document(json!({"keys": [mislabelled]})),
            |e| *e == JwksError::NoUsableKey,
        ),
        (
            "an encryption key",
            Serve::Document(json!({"keys": [encryption]})),
            |e| *e == JwksError::NoUsableKey,
        ),
        (
            "one kid, two keys",
            Serve::Document(json!({"keys": [twin_a, twin_b]})),
            |e| *e == JwksError::NoUsableKey,
        ),
        ("over the size cap", Serve::Document(big), |e| {
            *e == JwksError::TooLarge(4096)
        }),
        ("a redirect", Serve::Redirect("/elsewhere"), |e| {
            *e == JwksError::Status(302)
        }),
        (
            "an error status",
            Serve::Status(StatusCode::SERVICE_UNAVAILABLE),
            |e| *e == JwksError::Status(503),
        ),
        (
            "a stall past the timeout",
            Serve::Stall(Duration::from_secs(3)),
            |e| matches!(e, JwksError::Transport(_)),
        ),
    ];
    for (name, serve, expected) in cases {
        provider.serve(serve);
        let outcome = jwks.refresh().await;
        assert!(outcome.as_ref().is_err_and(expected), "{name}: {outcome:?}");
        assert_eq!(
            jwks.ring().snapshot().kids(),
            ["good"],
            "{name} changed the ring"
        );
    }

    // A body streamed without Content-Length is cut off at the cap too.
    let addr = chunked_server(8192).await;
    let streamed = RemoteJwks::builder(format!("http://{addr}/jwks"))
        .max_bytes(4096)
        .build()
        .unwrap();
    assert_eq!(streamed.refresh().await, Err(JwksError::TooLarge(4096)));
    assert!(streamed.ring().snapshot().is_empty());
}

#[tokio::test]
async fn a_published_key_accepts_only_its_own_algorithm() {
    let key = signing_key("ec");
    let (provider, _, app) = serving(&[&key]).await;
    // Key confusion: HS256 keyed with the published public key's bytes, under its kid.
    let jwk = key.jwk().unwrap();
    let secret = format!(
        "{}{}",
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    let forged = forge(
        json!({"alg": "HS256", "kid": "ec"}),
        claims("mallory", &["admin"]),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        Algorithm::HS256,
    );
    let reply = get_as(&app, "/me", Some(&forged)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.reason(), Some("algorithm_mismatch"));
    assert_eq!(provider.hits(), 1, "a known kid never fetches");
}

#[tokio::test]
async fn the_refresher_picks_up_new_documents() {
    let (a, b) = (signing_key("a"), signing_key("b"));
    let (provider, jwks, _) = serving(&[&a]).await;
    // Periods under a second are raised to one (a zero period would make tokio panic).
    let refresher = jwks.spawn_refresher(Duration::ZERO);
    provider.publish(&[&b]);
    for _ in 0..150 {
        if jwks.ring().snapshot().kids() == ["b"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(jwks.ring().snapshot().kids(), ["b"]);
    refresher.abort();
}

/// The provider's JWKS endpoint as a process of its own (python3's `http.server` over a
/// directory holding `jwks.json`), which can be killed, frozen and started again.
struct ProviderProcess {
    dir: std::path::PathBuf,
    port: u16,
    child: Option<std::process::Child>,
}

impl ProviderProcess {
    fn new(keys: &[&Key]) -> Self {
        let dir = std::env::temp_dir().join(format!("portcullis-jwks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let provider = Self {
            dir,
            port,
            child: None,
        };
        provider.publish(keys);
        provider
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/jwks.json", self.port)
    }

    fn publish(&self, keys: &[&Key]) {
        let keys: Vec<Value> = keys.iter().map(|k| k.jwk().unwrap()).collect();
        let staged = self.dir.join("jwks.json.new");
        std::fs::write(&staged, json!({ "keys": keys }).to_string()).unwrap();
        std::fs::rename(staged, self.dir.join("jwks.json")).unwrap();
    }

    async fn start(&mut self) {
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 serves the JWKS endpoint");
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the JWKS endpoint did not start");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let done = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        assert!(done.success());
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A frozen process is woken first, so that it can be reaped.
            let _ = std::process::Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for ProviderProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Requests `token` on `app` from `tasks` tasks at once for `period`; every status seen with its
/// count, whether each 503 carried `Retry-After`, and the slowest answer.
async fn hammer(
    app: &Router,
    token: &str,
    tasks: usize,
    period: Duration,
) -> (std::collections::BTreeMap<u16, usize>, bool, Duration) {
    let until = std::time::Instant::now() + period;
    let mut running = Vec::new();
    for _ in 0..tasks {
        let (app, token) = (app.clone(), token.to_owned());
        running.push(tokio::spawn(async move {
            // At least one request each, however late a busy machine starts the task.
            let mut seen = Vec::new();
            loop {
                let started = std::time::Instant::now();
                let reply = get_as(&app, "/me", Some(&token)).await;
                let retry_after = reply.headers.contains_key(http::header::RETRY_AFTER);
                seen.push((reply.status.as_u16(), retry_after, started.elapsed()));
                if std::time::Instant::now() >= until {
                    break;
                }
            }
            seen
        }));
    }
    let (mut statuses, mut every_503_says_when, mut slowest) =
        (std::collections::BTreeMap::new(), true, Duration::ZERO);
    for task in running {
        for (status, retry_after, took) in task.await.unwrap() {
            *statuses.entry(status).or_insert(0) += 1;
            every_503_says_when &= status != 503 || retry_after;
            slowest = slowest.max(took);
        }
    }
    (statuses, every_503_says_when, slowest)
}

/// Issue #18's faults for the key source, with a real process: the endpoint killed, frozen (a
/// fetch that never gets an answer) and started again, while requests run 32 at a time. Tokens
/// of keys already fetched are served throughout, never held up by a fetch in flight; a token
/// of a key not yet seen is 503 with `Retry-After` within the fetch timeout, never 200 and never
/// a hang; once the endpoint is back with the new key, that token is served, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_endpoint_process_killed_frozen_and_restarted_under_load() {
    let (known, unseen) = (signing_key("known"), signing_key("unseen"));
    let mut provider = ProviderProcess::new(&[&known]);
    provider.start().await;
    // Long next to what a busy machine adds to a request, so that "waited behind a fetch"
    // and "was slow" cannot be confused.
    let fetch_timeout = Duration::from_secs(2);
    let jwks = RemoteJwks::builder(provider.url())
        .timeout(fetch_timeout)
        .cooldown(Duration::from_millis(100))
        .build()
        .unwrap();
    jwks.refresh().await.unwrap();
    let app = app_over(&jwks);
    let (known_token, unseen_token) = (token_of(&known), token_of(&unseen));
    let period = Duration::from_millis(800);

    for phase in ["killed", "frozen"] {
        match phase {
            "killed" => provider.kill(),
            _ => {
                provider.start().await;
                provider.signal("-STOP");
            }
        }
        let (known_seen, unknown_seen) = tokio::join!(
            hammer(&app, &known_token, 24, period),
            hammer(&app, &unseen_token, 8, period),
        );
        let (statuses, _, slowest) = known_seen;
        assert_eq!(
            statuses.keys().collect::<Vec<_>>(),
            [&200],
            "{phase}: {statuses:?}"
        );
        assert!(
            slowest < fetch_timeout / 2,
            "{phase}: a known key's token waited {slowest:?} behind a fetch"
        );
        let (statuses, every_503_says_when, slowest) = unknown_seen;
        assert_eq!(
            statuses.keys().collect::<Vec<_>>(),
            [&503],
            "{phase}: {statuses:?}"
        );
        assert!(every_503_says_when, "{phase}: a 503 without Retry-After");
        // A request may arrive just as a fetch gives up and wait for the next one: two
        // timeouts at most.
        assert!(
            slowest < 2 * fetch_timeout + Duration::from_millis(500),
            "{phase}: an unknown key's token waited {slowest:?}"
        );
    }

    // Back, with the new key published: served without restarting anything.
    provider.kill();
    provider.publish(&[&known, &unseen]);
    provider.start().await;
    let back = std::time::Instant::now();
    loop {
        let reply = get_as(&app, "/me", Some(&unseen_token)).await;
        if reply.status == StatusCode::OK {
            break;
        }
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "the new key was not picked up after the endpoint came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (statuses, _, _) = hammer(&app, &known_token, 8, Duration::from_millis(200)).await;
    assert_eq!(statuses.keys().collect::<Vec<_>>(), [&200]);
}
