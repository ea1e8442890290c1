//! Keys published by an identity provider at a JWKS URL (RFC 7517), fetched into a [`KeyRing`].
//!
//! A [`RemoteJwks`] owns a ring that a [`BearerStrategy`](crate::strategy::BearerStrategy)
//! verifies with. It is fetched when asked ([`RemoteJwks::refresh`]), on a timer
//! ([`RemoteJwks::spawn_refresher`]), and when a token names a `kid` the ring does not hold,
//! which is how a provider's key rotation reaches us: the provider publishes its new key, starts
//! signing with it, and the first request that carries the new `kid` brings the new document.
//!
//! - **One fetch per rotation.** Fetches are single-flight: however many requests see the new
//!   `kid` at once, one fetch runs and the others wait for it, then find the key in the ring.
//! - **No fetch storms.** After a fetch caused by an unknown `kid`, the next such fetch waits out
//!   a cool-down (10 s by default), so tokens with made-up key ids cannot make us hammer the
//!   provider. Within it the `kid` just looked for is refused as unknown (401); any other unknown
//!   `kid` gets 503, since we cannot tell yet whether its token is good: a real rotation that
//!   lands in the cool-down costs its clients a retry, never their tokens. A request dropped in
//!   the middle of its fetch counts as a failed fetch, so hanging up cannot buy a second one.
//! - **Fail closed, keep serving.** When the provider cannot be reached or answers nonsense, the
//!   ring keeps the keys it has (tokens they verify keep working) and a token naming an unknown
//!   `kid` is refused with 503, not 401, until a fetch succeeds.
//! - **Bounded.** The document is read up to 64 KiB (checked on `Content-Length` and again while
//!   reading), only its first 64 entries are read, redirects are not followed, and a fetch times
//!   out after 5 s. The URL must be `https`, except on a loopback host, and is logged without its
//!   user info and query.
//! - **Pinned.** Each published key is pinned to one algorithm by its type ([`Key::from_jwk`]);
//!   secret (`oct`) and encryption keys are skipped, and so are signing keys that share a `kid`.
//!   A key whose JWK is unchanged between two
//!   documents stays the same key object, so tokens it verified stay in the bearer cache; a key
//!   that is gone from the document leaves the ring at once.
//!
//! ```no_run
//! use std::time::Duration;
//! use portcullis::AuthGateway;
//! use portcullis::strategy::BearerStrategy;
//! use portcullis::token::{RemoteJwks, TokenRules};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let jwks = RemoteJwks::builder("https://login.example.com/.well-known/jwks.json").build()?;
//! jwks.refresh().await?;                             // the first document, before serving
//! let _refresher = jwks.spawn_refresher(Duration::from_secs(300));
//! let gateway = AuthGateway::new()
//!     .strategy(BearerStrategy::from_jwks(&jwks, TokenRules::new()
//!         .issuer("https://login.example.com")
//!         .audience("my-api")))
//!     .build()?;
//! # let _ = gateway; Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jsonwebtoken::Algorithm;

use super::jwk_set::{JwkSetError, Published, usable_keys};
use super::keyring::{KeyRing, MAX_KID_LEN};
use super::source::{FetchGate, KeySource};
use crate::error::AuthError;
use crate::future::MaybeReady;

/// Default time a fetch may take.
pub const DEFAULT_JWKS_TIMEOUT: Duration = Duration::from_secs(5);
/// Default pause before an unknown `kid` may fetch the document again.
pub const DEFAULT_JWKS_COOLDOWN: Duration = Duration::from_secs(10);
/// Default largest document read, in bytes.
pub const DEFAULT_JWKS_MAX_BYTES: usize = 64 * 1024;

/// Why a JWKS could not be fetched or used. The ring is unchanged in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The URL is not `https` (nor `http` on a loopback host), or cannot be parsed.
    #[error("the JWKS URL must be https (plain http only on a loopback host)")]
    InsecureUrl,
    /// The request failed (connection, timeout, TLS).
    #[error("the JWKS could not be fetched: {0}")]
    Transport(#[source] crate::error::BackendError),
    /// The provider answered with another status than 200.
    #[error("the JWKS endpoint answered {0}")]
    Status(u16),
    /// The document is larger than allowed.
    #[error("the JWKS document is larger than {0} bytes")]
    TooLarge(usize),
    /// The document is not a JWK set (`{"keys": [...]}`).
    #[error("the JWKS document is not a JWK set")]
    Malformed,
    /// The document holds no key this ring can use.
    #[error("the JWKS document holds no usable signing key")]
    NoUsableKey,
}

/// A JWKS URL and the ring its keys are fetched into. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct RemoteJwks {
    inner: Arc<Inner>,
}

struct Inner {
    url: reqwest::Url,
    http: reqwest::Client,
    ring: KeyRing,
    rsa_default: Algorithm,
    max_bytes: usize,
    fetches: AtomicU64,
    /// One fetch at a time, one per cool-down for unknown key ids.
    gate: FetchGate,
    /// The keys of the last document, with the JWK each came from (locked only to install a
    /// document, never across an `.await`).
    published: Mutex<Published>,
}

impl std::fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("url", &redacted(&self.inner.url))
            .field("ring", &self.inner.ring)
            .field("fetches", &self.fetches())
            .finish_non_exhaustive()
    }
}

/// Settings of a [`RemoteJwks`], from [`RemoteJwks::builder`].
#[derive(Clone)]
pub struct JwksBuilder {
    url: String,
    timeout: Duration,
    cooldown: Duration,
    max_bytes: usize,
    rsa_default: Algorithm,
}

impl std::fmt::Debug for JwksBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL is kept as given until `build`; it may carry credentials, so it is shown the
        // way `RemoteJwks` shows it, and not at all when it does not parse (its secret parts
        // cannot be told apart then).
        let url = reqwest::Url::parse(&self.url)
            .map(|url| redacted(&url))
            .unwrap_or_else(|_| "<unparsable URL>".to_owned());
        f.debug_struct("JwksBuilder")
            .field("url", &url)
            .field("timeout", &self.timeout)
            .field("cooldown", &self.cooldown)
            .field("max_bytes", &self.max_bytes)
            .field("rsa_default", &self.rsa_default)
            .finish()
    }
}

impl JwksBuilder {
    /// How long one fetch may take (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long after a fetch caused by an unknown `kid` the next such fetch may run
    /// (default 10 s).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Largest document read, in bytes (default 64 KiB).
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The algorithm of RSA keys whose JWK names none (default RS256).
    pub fn rsa_algorithm(mut self, alg: Algorithm) -> Self {
        self.rsa_default = alg;
        self
    }

    /// Checks the URL and makes the source; nothing is fetched yet.
    pub fn build(self) -> Result<RemoteJwks, JwksError> {
        let url = reqwest::Url::parse(&self.url).map_err(|_| JwksError::InsecureUrl)?;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        let secure = url.scheme() == "https" || (url.scheme() == "http" && loopback);
        if !secure || url.host().is_none() {
            return Err(JwksError::InsecureUrl);
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| JwksError::Transport(crate::error::BackendError::new("HTTP client", e)))?;
        Ok(RemoteJwks {
            inner: Arc::new(Inner {
                url,
                http,
                ring: KeyRing::new(),
                rsa_default: self.rsa_default,
                max_bytes: self.max_bytes,
                fetches: AtomicU64::new(0),
                gate: FetchGate::new(self.cooldown),
                published: Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl RemoteJwks {
    /// A source for the JWKS at `url`, with the defaults above.
    pub fn builder(url: impl Into<String>) -> JwksBuilder {
        JwksBuilder {
            url: url.into(),
            timeout: DEFAULT_JWKS_TIMEOUT,
            cooldown: DEFAULT_JWKS_COOLDOWN,
            max_bytes: DEFAULT_JWKS_MAX_BYTES,
            rsa_default: Algorithm::RS256,
        }
    }

    /// The ring the published keys are kept in (verify-only keys; nothing here can sign).
    pub fn ring(&self) -> KeyRing {
        self.inner.ring.clone()
    }

    /// How many times the document has been fetched (successfully or not).
    pub fn fetches(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// Fetches the document now and installs its keys; returns how many keys the ring holds.
    /// On any error the ring keeps the keys it had.
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        self.inner.gate.refresh(self.fetch_and_install()).await
    }

    /// Refreshes every `every` (at least a second) in a background task; errors are logged and
    /// the keys kept. Aborting the handle stops it.
    pub fn spawn_refresher(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        let every = every.max(Duration::from_secs(1));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await; // the first tick is immediate; the caller refreshed already
            loop {
                ticks.tick().await;
                if let Err(error) = this.refresh().await {
                    tracing::warn!(url = %redacted(&this.inner.url), %error, "JWKS refresh failed; keeping the current keys");
                }
            }
        })
    }

    async fn find_kid(&self, kid: &str) -> Result<bool, AuthError> {
        if kid.is_empty() || kid.len() > MAX_KID_LEN {
            return Ok(false);
        }
        let held = || self.inner.ring.snapshot().get(kid).is_some();
        let fetch = async {
            self.fetch_and_install()
                .await
                .map(|_| ())
                .map_err(|error| format!("{error} ({})", redacted(&self.inner.url)))
        };
        self.inner.gate.find(kid, held, fetch).await
    }

    async fn fetch_and_install(&self) -> Result<usize, JwksError> {
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let body = self.fetch().await?;
        let mut published = self
            .inner
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let next = usable_keys(&body, self.inner.rsa_default, &published).map_err(|e| match e {
            JwkSetError::Malformed => JwksError::Malformed,
            JwkSetError::NoUsableKey => JwksError::NoUsableKey,
        })?;
        self.inner
            .ring
            .install(next.values().map(|(_, key)| Arc::clone(key)));
        let count = next.len();
        *published = next;
        Ok(count)
    }

    async fn fetch(&self) -> Result<Vec<u8>, JwksError> {
        let transport = |e: reqwest::Error| {
            // Without the URL: it may carry credentials.
            JwksError::Transport(crate::error::BackendError::new("request", e.without_url()))
        };
        let mut response = self
            .inner
            .http
            .get(self.inner.url.clone())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport)?;
        if response.status() != http::StatusCode::OK {
            return Err(JwksError::Status(response.status().as_u16()));
        }
        let max = self.inner.max_bytes;
        if response
            .content_length()
            .is_some_and(|len| len > max as u64)
        {
            return Err(JwksError::TooLarge(max));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > max {
                return Err(JwksError::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

impl KeySource for RemoteJwks {
    fn find<'a>(&'a self, kid: &'a str) -> MaybeReady<'a, Result<bool, AuthError>> {
        if self.inner.ring.snapshot().get(kid).is_some() {
            return MaybeReady::ready(Ok(true));
        }
        MaybeReady::new(self.find_kid(kid))
    }
}

/// The URL without what may be secret in it (user info, query, fragment), for logs and `Debug`.
fn redacted(url: &reqwest::Url) -> String {
    format!(
        "{}://{}{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default(),
        url.path()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        let build = |url: &str| RemoteJwks::builder(url).build().map(|_| ());
        assert_eq!(build("https://idp.example.com/jwks"), Ok(()));
        assert_eq!(build("http://127.0.0.1:8080/jwks"), Ok(()));
        assert_eq!(build("http://[::1]:8080/jwks"), Ok(()));
        assert_eq!(build("http://localhost/jwks"), Ok(()));
        assert_eq!(
            build("http://idp.example.com/jwks"),
            Err(JwksError::InsecureUrl)
        );
        assert_eq!(
            build("http://127.0.0.1.example.com/jwks"),
            Err(JwksError::InsecureUrl)
        );
        assert_eq!(build("file:///etc/jwks.json"), Err(JwksError::InsecureUrl));
        assert_eq!(build("not a url"), Err(JwksError::InsecureUrl));
    }

    #[test]
    fn logs_never_show_credentials_in_the_url() {
        let url = "https://user:hunter2@idp.example.com:8443/jwks?token=s3cret#frag";
        let builder = RemoteJwks::builder(url);
        let jwks = builder.clone().build().unwrap_or_else(|e| panic!("{e}"));
        for shown in [format!("{builder:?}"), format!("{jwks:?}")] {
            assert!(
                shown.contains("https://idp.example.com:8443/jwks"),
                "{shown}"
            );
            assert!(
                !shown.contains("hunter2") && !shown.contains("s3cret") && !shown.contains("frag"),
                "{shown}"
            );
        }
        // A URL that does not parse cannot be split into safe and secret parts: none of it shows.
        let unparsable = format!(
            "{:?}",
            RemoteJwks::builder("https://user:hunter2@[bad/?token=s3cret")
        );
        assert!(
            !unparsable.contains("hunter2") && !unparsable.contains("s3cret"),
            "{unparsable}"
        );
    }
}
