//! OAuth2 / OpenID Connect login, with the `openidconnect` crate doing the protocol.
//!
//! The flow is the authorization code flow with PKCE (S256). What is ours is the binding to the
//! browser and the decisions around the protocol:
//!
//! - `state`, `nonce`, the PKCE verifier and `return_to` travel in a short-lived (10 minutes),
//!   HMAC-signed, `HttpOnly`, `SameSite=Lax` cookie, so a callback is accepted only in the browser
//!   that started it (login CSRF, the NinjaStack weakness), and only once: the cookie is cleared by
//!   every callback answer and a used `state` is remembered until it would have expired anyway.
//! - Discovery: the provider's metadata must name exactly the configured issuer; the ID token is
//!   checked as OIDC Core 3.1.3.7 asks (signature by the provider's JWKS, `iss`, `aud`, `exp`,
//!   `nonce`, and `at_hash` when present); UserInfo's `sub` must equal the ID token's; the RFC 9207
//!   `iss` callback parameter, when present, must equal the issuer.
//! - Users are identified by (issuer, subject). A first login links to an existing local account by
//!   e-mail only when [`OidcProvider::link_by_verified_email`] is on, the provider says the
//!   address is verified, and the local account has no password (it was itself made by an OpenID
//!   sign-in). An account with a password is never linked this way: the built-in identity does not
//!   verify addresses, so whoever registered it may have used someone else's address to capture
//!   that person's later OpenID sign-ins (and kept the password to get back in). Such a sign-in is
//!   refused with [`OAuthError::AccountExists`] (409): the person signs in with the password, and
//!   no second account is made, as addresses are unique. Without linking, or without a verified
//!   address, a first login creates a new account (with no password).
//! - `return_to` accepts relative paths only (`/…`, never `//…` or backslashes).
//! - Every callback error answers 4xx and creates no session. API clients get problem+json; a
//!   browser (its `Accept` ranks `text/html` first) gets, as [`BrowserErrors`] says, a small HTML
//!   page with the same status and detail, or a 303 to the application's sign-in page with an
//!   `error=` code ([`OAuthError::code`]), rather than a raw JSON document.

mod routes;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope,
};
use serde::{Deserialize, Serialize};

pub use routes::{BrowserErrors, OAUTH_PUBLIC_PREFIX};

use crate::identity::{Identity, IdentityError, normalize_email};
use crate::password::PasswordHasher;
use crate::session::Sessions;
use crate::store::{ExternalIdentityStore, SessionStore, Store, StoreError, UserRecord};

/// How long a started login may take before its callback is refused.
pub const FLOW_TTL: Duration = Duration::from_secs(600);

/// Bound of the memory of used flow states, in bytes.
const USED_STATES_BYTES: u64 = 8 * 1024 * 1024;
/// Largest state cookie accepted, in bytes.
const MAX_FLOW_COOKIE: usize = 4096;

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// One OpenID provider (Google, Keycloak, Auth0, any issuer with discovery).
#[derive(Clone)]
pub struct OidcProvider {
    /// The name in the routes (`/auth/oauth/{name}/…`): `[a-z0-9-]`, 1 to 32 characters.
    pub name: String,
    /// The issuer; discovery must name exactly this.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// The client secret (none for public clients).
    pub client_secret: Option<String>,
    /// The redirect URI registered at the provider (`…/auth/oauth/{name}/callback`).
    pub redirect_uri: String,
    /// Scopes beyond `openid` (default `email`, `profile`).
    pub scopes: Vec<String>,
    /// Link a first login to an existing account with the same e-mail address, when the
    /// provider says the address is verified and that account has no password (it was made by
    /// an OpenID sign-in); a first login whose address belongs to an account with a password is
    /// refused with [`OAuthError::AccountExists`] (default off).
    pub link_by_verified_email: bool,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl OidcProvider {
    /// A provider with the default scopes and no e-mail linking.
    pub fn new(
        name: impl Into<String>,
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Option<String>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret,
            redirect_uri: redirect_uri.into(),
            scopes: vec!["email".into(), "profile".into()],
            link_by_verified_email: false,
        }
    }

    /// Google's OpenID provider.
    pub fn google(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        Self::new(
            "google",
            "https://accounts.google.com",
            client_id,
            Some(client_secret.into()),
            redirect_uri,
        )
    }
}

/// GitHub: OAuth2 with PKCE and its user API (GitHub has no OpenID discovery or ID tokens).
/// Users are identified by ([`GITHUB_ISSUER`], their numeric id); the e-mail address is the
/// primary verified one from `/user/emails`.
#[derive(Clone)]
pub struct GitHubProvider {
    /// The name in the routes (default `github`).
    pub name: String,
    /// The OAuth app's client id.
    pub client_id: String,
    /// The OAuth app's client secret.
    pub client_secret: String,
    /// The registered callback URL (`…/auth/oauth/github/callback`).
    pub redirect_uri: String,
    /// The authorization endpoint (GitHub's by default).
    pub authorize_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// The REST API's base URL.
    pub api_base: String,
    /// Link a first login to an existing account with the same verified e-mail address, under
    /// the rules of [`OidcProvider::link_by_verified_email`].
    pub link_by_verified_email: bool,
}

impl std::fmt::Debug for GitHubProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubProvider")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// The identity key under which GitHub users are linked.
pub const GITHUB_ISSUER: &str = "https://github.com";

impl GitHubProvider {
    /// GitHub with its public endpoints.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        Self {
            name: "github".into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_uri: redirect_uri.into(),
            authorize_url: "https://github.com/login/oauth/authorize".into(),
            token_url: "https://github.com/login/oauth/access_token".into(),
            api_base: "https://api.github.com".into(),
            link_by_verified_email: false,
        }
    }
}

/// A provider of either kind.
#[derive(Debug, Clone)]
pub enum ProviderConfig {
    /// Any OpenID provider with discovery.
    Oidc(OidcProvider),
    /// GitHub.
    GitHub(GitHubProvider),
}

impl From<OidcProvider> for ProviderConfig {
    fn from(provider: OidcProvider) -> Self {
        Self::Oidc(provider)
    }
}

impl From<GitHubProvider> for ProviderConfig {
    fn from(provider: GitHubProvider) -> Self {
        Self::GitHub(provider)
    }
}

impl ProviderConfig {
    fn name(&self) -> &str {
        match self {
            Self::Oidc(p) => &p.name,
            Self::GitHub(p) => &p.name,
        }
    }

    fn issuer(&self) -> &str {
        match self {
            Self::Oidc(p) => &p.issuer,
            Self::GitHub(_) => GITHUB_ISSUER,
        }
    }

    fn link_by_verified_email(&self) -> bool {
        match self {
            Self::Oidc(p) => p.link_by_verified_email,
            Self::GitHub(p) => p.link_by_verified_email,
        }
    }
}

type GitHubClient = oauth2::basic::BasicClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

fn github_client(config: &GitHubProvider) -> Result<GitHubClient, OAuthError> {
    let bad = |_| OAuthError::Unavailable;
    Ok(
        oauth2::basic::BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(config.client_secret.clone()))
            .set_auth_uri(oauth2::AuthUrl::new(config.authorize_url.clone()).map_err(bad)?)
            .set_token_uri(oauth2::TokenUrl::new(config.token_url.clone()).map_err(bad)?)
            .set_redirect_uri(RedirectUrl::new(config.redirect_uri.clone()).map_err(bad)?),
    )
}

/// Largest GitHub API answer read, in bytes.
const MAX_API_BYTES: usize = 256 * 1024;

/// Why a login could not be started or finished.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// No provider of that name.
    #[error("no such provider")]
    UnknownProvider,
    /// The callback is malformed, or does not belong to a login started in this browser (missing,
    /// forged, expired or replayed state).
    #[error("invalid callback: {0}")]
    InvalidCallback(&'static str),
    /// The provider refused the login (`error=access_denied`, …).
    #[error("the provider refused the sign-in")]
    Denied,
    /// The provider's answer failed a check (token exchange, ID token, UserInfo).
    #[error("the provider's answer was refused: {0}")]
    Untrusted(&'static str),
    /// The account is disabled, or linking is not allowed.
    #[error("sign-in refused")]
    Refused,
    /// E-mail linking is on and the provider's verified address belongs to a local account with
    /// a password: that account may have been registered by someone else, so it is not linked,
    /// and no second account is made for the same address.
    #[error("an account with this e-mail address already exists")]
    AccountExists,
    /// The provider or the store cannot be reached.
    #[error("temporarily unavailable")]
    Unavailable,
    /// A setting given to the routes is unusable (see
    /// [`OAuthLogin::router_with`]); never the answer to a request.
    #[error("misconfigured: {0}")]
    Misconfigured(&'static str),
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        tracing::warn!(%error, "store error during an OpenID login");
        Self::Unavailable
    }
}

impl From<IdentityError> for OAuthError {
    fn from(error: IdentityError) -> Self {
        match error {
            IdentityError::BadCredentials => Self::Refused,
            _ => Self::Unavailable,
        }
    }
}

/// What the flow cookie carries.
#[derive(Serialize, Deserialize)]
struct Flow {
    /// Provider name.
    p: String,
    /// `state`.
    s: String,
    /// `nonce`.
    n: String,
    /// PKCE verifier.
    v: String,
    /// Where to go afterwards.
    r: String,
    /// Expiry (seconds since the epoch).
    e: i64,
}

struct Provider {
    config: ProviderConfig,
    /// The discovered OpenID client (OpenID providers only).
    oidc: tokio::sync::OnceCell<Client>,
    /// The OAuth2 client (GitHub only).
    github: Option<GitHubClient>,
}

/// The OpenID login service: providers, the flow cookie, account resolution, sessions.
pub struct OAuthLogin<S: Store> {
    identity: Arc<Identity<S>>,
    sessions: Arc<Sessions<S>>,
    providers: HashMap<String, Provider>,
    key: hmac::Key,
    http: openidconnect::reqwest::Client,
    used_states: moka::sync::Cache<String, (), foldhash::fast::RandomState>,
    /// Where used states are remembered for every instance, when shared.
    shared_states: std::sync::OnceLock<Arc<dyn crate::cluster::FirstUse>>,
}

impl<S: Store> std::fmt::Debug for OAuthLogin<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&String> = self.providers.keys().collect();
        f.debug_struct("OAuthLogin")
            .field("providers", &names)
            .finish_non_exhaustive()
    }
}

/// Whether `path` may be a `return_to`: a relative path on this site.
pub(crate) fn safe_return_to(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 512
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl<S: Store + SessionStore + ExternalIdentityStore> OAuthLogin<S> {
    /// The service for `providers`, logging users into `sessions`, with a flow-cookie key made
    /// for this process. Provider names must be `[a-z0-9-]{1,32}` and unique. Each OpenID
    /// provider is discovered on its first use. Behind a load balancer, use
    /// [`with_state_key`](Self::with_state_key) so every instance accepts every flow cookie.
    pub fn new(
        identity: Arc<Identity<S>>,
        sessions: Arc<Sessions<S>>,
        providers: Vec<ProviderConfig>,
    ) -> Result<Arc<Self>, OAuthError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let key =
            hmac::Key::generate(hmac::HMAC_SHA256, &rng).map_err(|_| OAuthError::Unavailable)?;
        Self::build(identity, sessions, providers, key)
    }

    /// Like [`new`](Self::new), with the flow-cookie HMAC key given (at least 32 random bytes,
    /// shared by every instance of the application).
    pub fn with_state_key(
        identity: Arc<Identity<S>>,
        sessions: Arc<Sessions<S>>,
        providers: Vec<ProviderConfig>,
        key: &[u8],
    ) -> Result<Arc<Self>, OAuthError> {
        if key.len() < 32 {
            return Err(OAuthError::Unavailable);
        }
        Self::build(
            identity,
            sessions,
            providers,
            hmac::Key::new(hmac::HMAC_SHA256, key),
        )
    }

    /// Remembers used sign-in states in `store` as well as in this process, so that a
    /// callback replayed to another instance is refused there too (with
    /// [`RedisFirstUse`](crate::cluster::redis::RedisFirstUse), feature `redis`). When the
    /// store cannot answer, callbacks are refused (fail closed). One store per service; a
    /// second call is ignored.
    pub fn share_used_states(&self, store: Arc<dyn crate::cluster::FirstUse>) {
        let _ = self.shared_states.set(store);
    }

    fn build(
        identity: Arc<Identity<S>>,
        sessions: Arc<Sessions<S>>,
        providers: Vec<ProviderConfig>,
        key: hmac::Key,
    ) -> Result<Arc<Self>, OAuthError> {
        let mut map = HashMap::new();
        for config in providers {
            let name = config.name().to_owned();
            let name_ok = (1..=32).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !name_ok || map.contains_key(&name) {
                return Err(OAuthError::UnknownProvider);
            }
            let github = match &config {
                ProviderConfig::GitHub(g) => Some(github_client(g)?),
                ProviderConfig::Oidc(_) => None,
            };
            map.insert(
                name,
                Provider {
                    config,
                    oidc: tokio::sync::OnceCell::new(),
                    github,
                },
            );
        }
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Never follow redirects: an SSRF defence the openidconnect docs ask for.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|_| OAuthError::Unavailable)?;
        Ok(Arc::new(Self {
            identity,
            sessions,
            providers: map,
            key,
            http,
            // Weighed in bytes (a state is a fixed-size random string, but the bound is the
            // memory, whatever a future format makes of it).
            used_states: moka::sync::Cache::builder()
                .max_capacity(USED_STATES_BYTES)
                .weigher(|state: &String, _: &()| {
                    u32::try_from(state.len() + 64).unwrap_or(u32::MAX)
                })
                .time_to_live(FLOW_TTL)
                .build_with_hasher(foldhash::fast::RandomState::default()),
            shared_states: std::sync::OnceLock::new(),
        }))
    }

    fn cookie_name(&self) -> &'static str {
        if self.sessions.config().secure {
            "__Host-portcullis_oauth"
        } else {
            "portcullis_oauth"
        }
    }

    fn cookie(&self, value: &str, max_age: u64) -> Result<HeaderValue, OAuthError> {
        let secure = if self.sessions.config().secure {
            "; Secure"
        } else {
            ""
        };
        HeaderValue::from_str(&format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
            self.cookie_name()
        ))
        .map_err(|_| OAuthError::Unavailable)
    }

    /// The `Set-Cookie` value that deletes the flow cookie.
    pub(crate) fn clear_cookie(&self) -> Result<HeaderValue, OAuthError> {
        self.cookie("", 0)
    }

    async fn oidc_client<'a>(
        &'a self,
        provider: &'a Provider,
        config: &'a OidcProvider,
    ) -> Result<&'a Client, OAuthError> {
        provider
            .oidc
            .get_or_try_init(|| async {
                let issuer =
                    IssuerUrl::new(config.issuer.clone()).map_err(|_| OAuthError::Unavailable)?;
                // Discovery refuses metadata whose issuer is not exactly the configured one.
                let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
                    .await
                    .map_err(|error| {
                        tracing::warn!(provider = %config.name, %error, "OpenID discovery failed");
                        OAuthError::Unavailable
                    })?;
                let redirect = RedirectUrl::new(config.redirect_uri.clone())
                    .map_err(|_| OAuthError::Unavailable)?;
                Ok(CoreClient::from_provider_metadata(
                    metadata,
                    ClientId::new(config.client_id.clone()),
                    config.client_secret.clone().map(ClientSecret::new),
                )
                .set_redirect_uri(redirect))
            })
            .await
    }

    /// Starts a login: the provider's authorization URL and the flow cookie to set.
    pub async fn authorize(
        &self,
        provider: &str,
        return_to: Option<&str>,
    ) -> Result<(String, HeaderValue), OAuthError> {
        let provider = self
            .providers
            .get(provider)
            .ok_or(OAuthError::UnknownProvider)?;
        let return_to = match return_to {
            None => "/".to_owned(),
            Some(path) if safe_return_to(path) => path.to_owned(),
            Some(_) => {
                return Err(OAuthError::InvalidCallback(
                    "return_to must be a relative path",
                ));
            }
        };
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = match (&provider.config, &provider.github) {
            (ProviderConfig::Oidc(config), _) => {
                let client = self.oidc_client(provider, config).await?;
                let mut request = client
                    .authorize_url(
                        CoreAuthenticationFlow::AuthorizationCode,
                        CsrfToken::new_random,
                        Nonce::new_random,
                    )
                    .set_pkce_challenge(challenge);
                for scope in &config.scopes {
                    request = request.add_scope(Scope::new(scope.clone()));
                }
                let (url, state, nonce) = request.url();
                (url, state, nonce.secret().clone())
            }
            (ProviderConfig::GitHub(_), Some(client)) => {
                let (url, state) = client
                    .authorize_url(CsrfToken::new_random)
                    .add_scope(Scope::new("read:user".into()))
                    .add_scope(Scope::new("user:email".into()))
                    .set_pkce_challenge(challenge)
                    .url();
                (url, state, String::new())
            }
            (ProviderConfig::GitHub(_), None) => return Err(OAuthError::Unavailable),
        };
        let flow = Flow {
            p: provider.config.name().to_owned(),
            s: state.secret().clone(),
            n: nonce,
            v: verifier.secret().clone(),
            r: return_to,
            e: self.identity.clock_now() + FLOW_TTL.as_secs() as i64,
        };
        let payload = serde_json::to_vec(&flow).map_err(|_| OAuthError::Unavailable)?;
        let tag = hmac::sign(&self.key, &payload);
        let value = format!("{}.{}", b64(&payload), b64(tag.as_ref()));
        Ok((url.to_string(), self.cookie(&value, FLOW_TTL.as_secs())?))
    }

    fn flow_of(&self, cookie_header: Option<&str>) -> Result<Flow, OAuthError> {
        let missing = OAuthError::InvalidCallback("no sign-in was started in this browser");
        let value = cookie_header
            .into_iter()
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == self.cookie_name())
            .map(|(_, v)| v)
            .ok_or(missing)?;
        if value.len() > MAX_FLOW_COOKIE {
            return Err(OAuthError::InvalidCallback(
                "the sign-in state is malformed",
            ));
        }
        let forged = OAuthError::InvalidCallback("the sign-in state is not ours");
        let (payload, tag) = value.split_once('.').ok_or_else(|| forged.clone())?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| forged.clone())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| forged.clone())?;
        hmac::verify(&self.key, &payload, &tag).map_err(|_| forged.clone())?;
        let flow: Flow = serde_json::from_slice(&payload).map_err(|_| forged)?;
        if flow.e <= self.identity.clock_now() {
            return Err(OAuthError::InvalidCallback("the sign-in took too long"));
        }
        Ok(flow)
    }

    /// Finishes a login from the callback's query and the request's cookies; returns where to
    /// send the browser and the session cookie.
    pub async fn callback(
        &self,
        provider_name: &str,
        query: &HashMap<String, String>,
        cookie_header: Option<&str>,
    ) -> Result<(String, HeaderValue), OAuthError> {
        let provider = self
            .providers
            .get(provider_name)
            .ok_or(OAuthError::UnknownProvider)?;
        let flow = self.flow_of(cookie_header)?;
        if flow.p != provider.config.name() {
            return Err(OAuthError::InvalidCallback(
                "the sign-in was started for another provider",
            ));
        }
        let state = query
            .get("state")
            .ok_or(OAuthError::InvalidCallback("state is missing"))?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            state.as_bytes(),
            flow.s.as_bytes(),
        )) {
            return Err(OAuthError::InvalidCallback("state does not match"));
        }
        // Single use: the first callback with this state consumes it, atomically (two callbacks
        // in flight at once cannot both pass), here and, when shared, on every instance.
        let already = OAuthError::InvalidCallback("this sign-in was already completed");
        if !self
            .used_states
            .entry(flow.s.clone())
            .or_insert(())
            .is_fresh()
        {
            return Err(already);
        }
        if let Some(shared) = self.shared_states.get() {
            match shared.first_use(&flow.s, FLOW_TTL).await {
                Ok(true) => {}
                Ok(false) => return Err(already),
                Err(error) => {
                    tracing::warn!(%error, "used sign-in states cannot be checked: refusing");
                    return Err(OAuthError::Unavailable);
                }
            }
        }
        if let Some(iss) = query.get("iss")
            && iss.as_str() != provider.config.issuer()
        {
            return Err(OAuthError::InvalidCallback(
                "the iss parameter names another issuer",
            ));
        }
        if query.contains_key("error") {
            return Err(OAuthError::Denied);
        }
        let code = AuthorizationCode::new(
            query
                .get("code")
                .ok_or(OAuthError::InvalidCallback("code is missing"))?
                .clone(),
        );
        let verifier = PkceCodeVerifier::new(flow.v.clone());
        let found = match (&provider.config, &provider.github) {
            (ProviderConfig::Oidc(config), _) => {
                let client = self.oidc_client(provider, config).await?;
                self.finish_oidc(provider_name, client, code, verifier, &flow.n)
                    .await?
            }
            (ProviderConfig::GitHub(config), Some(client)) => {
                self.finish_github(provider_name, config, client, code, verifier)
                    .await?
            }
            (ProviderConfig::GitHub(_), None) => return Err(OAuthError::Unavailable),
        };
        let user = self.resolve(&provider.config, &found).await?;
        let session = self.sessions.start(&user).await?;
        Ok((flow.r, session))
    }

    async fn finish_oidc(
        &self,
        provider_name: &str,
        client: &Client,
        code: AuthorizationCode,
        pkce: PkceCodeVerifier,
        nonce: &str,
    ) -> Result<Found, OAuthError> {
        let untrusted = untrusted(provider_name);
        let token = client
            .exchange_code(code)
            .map_err(|e| untrusted("token exchange", e.to_string()))?
            .set_pkce_verifier(pkce)
            .request_async(&self.http)
            .await
            .map_err(|e| untrusted("token exchange", e.to_string()))?;
        let id_token = token
            .extra_fields()
            .id_token()
            .ok_or_else(|| untrusted("no ID token", "missing".into()))?;
        let verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &Nonce::new(nonce.to_owned()))
            .map_err(|e| untrusted("ID token", e.to_string()))?;
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token
                .signing_alg()
                .map_err(|e| untrusted("at_hash", e.to_string()))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|e| untrusted("at_hash", e.to_string()))?;
            let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
                .map_err(|e| untrusted("at_hash", e.to_string()))?;
            if actual != *expected {
                return Err(OAuthError::Untrusted("at_hash"));
            }
        }
        let subject = claims.subject().clone();
        let mut email = claims.email().map(|e| e.as_str().to_owned());
        let mut verified = claims.email_verified().unwrap_or(false);
        if let Ok(request) = client.user_info(token.access_token().clone(), Some(subject.clone())) {
            let info: openidconnect::core::CoreUserInfoClaims = request
                .request_async(&self.http)
                .await
                .map_err(|e| untrusted("UserInfo", e.to_string()))?;
            if info.subject() != &subject {
                return Err(OAuthError::Untrusted("UserInfo subject"));
            }
            if email.is_none() {
                email = info.email().map(|e| e.as_str().to_owned());
                verified = info.email_verified().unwrap_or(false);
            }
        }
        Ok(Found {
            subject: subject.as_str().to_owned(),
            email,
            verified,
        })
    }

    async fn github_api(
        &self,
        provider_name: &str,
        url: String,
        token: &str,
    ) -> Result<serde_json::Value, OAuthError> {
        let untrusted = untrusted(provider_name);
        let response = self
            .http
            .get(url)
            .bearer_auth(token)
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "portcullis")
            .send()
            .await
            .map_err(|e| untrusted("GitHub API", e.to_string()))?;
        if !response.status().is_success() {
            return Err(untrusted(
                "GitHub API",
                format!("status {}", response.status()),
            ));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| untrusted("GitHub API", e.to_string()))?;
        if body.len() > MAX_API_BYTES {
            return Err(untrusted("GitHub API", "answer too large".into()));
        }
        serde_json::from_slice(&body).map_err(|e| untrusted("GitHub API", e.to_string()))
    }

    async fn finish_github(
        &self,
        provider_name: &str,
        config: &GitHubProvider,
        client: &GitHubClient,
        code: AuthorizationCode,
        pkce: PkceCodeVerifier,
    ) -> Result<Found, OAuthError> {
        let untrusted = untrusted(provider_name);
        let token = client
            .exchange_code(code)
            .set_pkce_verifier(pkce)
            .request_async(&self.http)
            .await
            .map_err(|e| untrusted("token exchange", e.to_string()))?;
        let access = token.access_token().secret();
        let base = config.api_base.trim_end_matches('/');
        let user = self
            .github_api(provider_name, format!("{base}/user"), access)
            .await?;
        let subject = match user.get("id").and_then(serde_json::Value::as_u64) {
            Some(id) => id.to_string(),
            None => return Err(untrusted("GitHub user", "no numeric id".into())),
        };
        let emails = self
            .github_api(provider_name, format!("{base}/user/emails"), access)
            .await?;
        let primary = emails.as_array().into_iter().flatten().find(|e| {
            e.get("primary").and_then(serde_json::Value::as_bool) == Some(true)
                && e.get("verified").and_then(serde_json::Value::as_bool) == Some(true)
        });
        let email = primary
            .and_then(|e| e.get("email"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        Ok(Found {
            subject,
            verified: email.is_some(),
            email,
        })
    }

    async fn resolve(
        &self,
        provider: &ProviderConfig,
        found: &Found,
    ) -> Result<UserRecord, OAuthError> {
        let store = self.identity.store();
        let issuer = provider.issuer();
        if let Some(id) = store.linked_user(issuer, &found.subject).await? {
            return store.user_by_id(&id).await?.ok_or(OAuthError::Refused);
        }
        let email = found.email.as_deref().and_then(|e| normalize_email(e).ok());
        if provider.link_by_verified_email()
            && found.verified
            && let Some(address) = &email
            && let Some(user) = store.user_by_email(address).await?
        {
            // Linking gives the account to whoever holds this address at the provider. That is
            // sound only for an account nobody can open with a password: the built-in identity
            // never verifies addresses, so a password account may have been registered with this
            // address by someone else, waiting to capture its owner's first OpenID sign-in.
            if !has_no_password(&user) {
                return Err(OAuthError::AccountExists);
            }
            store
                .link_external(issuer, &found.subject, &user.id, self.identity.clock_now())
                .await?;
            return Ok(user);
        }
        // A new account, with no password. Its address is the verified one when it is free.
        let address = match email {
            Some(address) if found.verified && store.user_by_email(&address).await?.is_none() => {
                address
            }
            _ => format!(
                "{}@oidc.invalid",
                crate::secret::random_id::<16>().map_err(|_| OAuthError::Unavailable)?
            ),
        };
        let user = self
            .identity
            .create_account(
                address,
                PasswordHasher::NO_PASSWORD.into(),
                self.identity.config().default_roles.clone(),
            )
            .await?;
        let now = self.identity.clock_now();
        store
            .link_external(issuer, &found.subject, &user.id, now)
            .await?;
        Ok(user)
    }
}

/// Whether `user` has no password: the marker an OpenID sign-in stores for the accounts it
/// makes. Anything else counts as a password, even a value this crate could not verify, since
/// an application may check it by other means.
fn has_no_password(user: &UserRecord) -> bool {
    user.password_hash == PasswordHasher::NO_PASSWORD
}

/// Who the provider says signed in.
struct Found {
    subject: String,
    email: Option<String>,
    verified: bool,
}

/// Logs why a provider's answer was refused (never a token) and names the failed check.
fn untrusted(provider: &str) -> impl Fn(&'static str, String) -> OAuthError + '_ {
    move |what, error| {
        tracing::warn!(%provider, %error, "{what}");
        OAuthError::Untrusted(what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_rules() {
        for ok in ["/", "/books", "/books?x=1#y"] {
            assert!(safe_return_to(ok), "{ok}");
        }
        for bad in [
            "",
            "books",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "/a\nb",
            &format!("/{}", "a".repeat(600)),
        ] {
            assert!(!safe_return_to(bad), "{bad:?}");
        }
    }
}
