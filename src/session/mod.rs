//! Browser sessions: a cookie after a password login, checked by a gateway strategy, with CSRF
//! protection on unsafe methods, idle and absolute timeouts, and logout.
//!
//! - The cookie is `__Host-portcullis_session` (`Secure`, `Path=/`, no `Domain`), or
//!   `portcullis_session` without `Secure` only when [`SessionConfig::secure`] is off for plain-HTTP
//!   localhost development; always `HttpOnly` and `SameSite=Lax`. Its value is 256 random bits; the
//!   store keeps only their SHA-256.
//! - Sessions ride on the identity's revocation machinery: logout-all, a password change and
//!   disabling a user set the user's revoked-before cutoff, which ends every session begun before
//!   it; deleting the user ends them all; logout deletes the session. Every request resolves the
//!   user's *current* roles (cached a few seconds, voided by every change made through the
//!   identity): the roles stored with the session are a record of login, never what it grants.
//! - CSRF: a cookie-authenticated request with an unsafe method (anything but GET, HEAD, OPTIONS,
//!   TRACE) must come from an allowed origin: its `Origin` header is one of
//!   [`SessionConfig::allowed_origins`], or, without `Origin`, `Sec-Fetch-Site` says
//!   `same-origin`. Anything else is 403. The login route applies the same rule (login CSRF).
//! - Timeouts: idle (default 30 minutes; the last-seen time is written at most once a minute per
//!   session, never per request) and absolute (default 12 hours).

mod routes;
mod strategy;

pub use strategy::SessionStrategy;

use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::{HeaderValue, Method, header};

use crate::clock;
use crate::context::{AuthMethod, UserContext};
use crate::error::{AuthError, Denial, Reason, TokenRejection};
use crate::identity::{Identity, IdentityError};
use crate::secret;
use crate::store::{SessionRecord, SessionStore, Store};

/// Prefix of session tokens.
pub const SESSION_PREFIX: &str = "pss_";
/// Length of a session token.
pub const SESSION_TOKEN_LEN: usize = SESSION_PREFIX.len() + secret::SECRET_CHARS;
/// How often at most a session's last-seen time is written.
pub const TOUCH_EVERY: i64 = 60;

/// Bound of the cache of checked sessions, in bytes.
pub const SESSION_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// Session behaviour.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// `Secure` cookies with the `__Host-` prefix (default). Turn off only for plain-HTTP
    /// localhost development, where browsers refuse `Secure` cookies.
    pub secure: bool,
    /// A session unused this long ends (default 30 minutes).
    pub idle_timeout: Duration,
    /// A session ends this long after login whatever its use (default 12 hours).
    pub absolute_timeout: Duration,
    /// Origins (`scheme://host[:port]`) allowed to send unsafe cookie-authenticated requests.
    pub allowed_origins: Vec<String>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            secure: true,
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            allowed_origins: Vec::new(),
        }
    }
}

/// The session service over the identity and its store.
pub struct Sessions<S: Store> {
    identity: Arc<Identity<S>>,
    config: SessionConfig,
    cache: moka::sync::Cache<[u8; 32], Arc<SessionRecord>, foldhash::fast::RandomState>,
    /// Where logouts are told to the other instances, once shared.
    changes: std::sync::OnceLock<crate::cluster::ChangeFeed>,
}

impl<S: Store> std::fmt::Debug for Sessions<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: Store + SessionStore> Sessions<S> {
    /// Sessions for `identity`.
    pub fn new(identity: Arc<Identity<S>>, config: SessionConfig) -> Arc<Self> {
        let cache = moka::sync::Cache::builder()
            .max_capacity(SESSION_CACHE_BYTES)
            .weigher(|_: &[u8; 32], record: &Arc<SessionRecord>| {
                let roles: usize = record.roles.iter().map(|r| r.len() + 24).sum();
                u32::try_from(record.user_id.len() + record.email.len() + roles + 160)
                    .unwrap_or(u32::MAX)
            })
            .time_to_live(Duration::from_secs(TOUCH_EVERY as u64))
            .build_with_hasher(foldhash::fast::RandomState::default());
        Arc::new(Self {
            identity,
            config,
            cache,
            changes: std::sync::OnceLock::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The cookie's name.
    pub fn cookie_name(&self) -> &'static str {
        if self.config.secure {
            "__Host-portcullis_session"
        } else {
            "portcullis_session"
        }
    }

    /// Starts a session after a password check with every rule of the identity's login.
    /// Returns the `Set-Cookie` value.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<HeaderValue, IdentityError> {
        let user = self
            .identity
            .verify_credentials(email, password, client)
            .await?;
        self.start(&user).await
    }

    /// Starts a session for a user another way already proved (an OpenID login). Returns the
    /// `Set-Cookie` value.
    pub async fn start(
        &self,
        user: &crate::store::UserRecord,
    ) -> Result<HeaderValue, IdentityError> {
        if user.disabled {
            return Err(IdentityError::BadCredentials);
        }
        let user = user.clone();
        let issued = secret::issue(SESSION_PREFIX).map_err(|_| IdentityError::Unavailable)?;
        let now = self.identity.clock_now();
        let record = SessionRecord {
            digest: issued.digest,
            user_id: user.id,
            email: user.email,
            roles: user.roles,
            created_at_us: clock::system_now_us(),
            last_seen_at: now,
            expires_at: now.saturating_add(self.config.absolute_timeout.as_secs() as i64),
        };
        self.identity.store().insert_session(&record).await?;
        self.cookie(&issued.secret, self.config.absolute_timeout.as_secs())
    }

    /// The gateway strategy for these sessions.
    pub fn strategy(self: &Arc<Self>) -> SessionStrategy<S> {
        SessionStrategy::new(self.clone())
    }

    /// Ends the session whose cookie the request carries. Returns the clearing `Set-Cookie`.
    pub async fn logout(&self, request: &Parts) -> Result<HeaderValue, IdentityError> {
        if let Some(token) = self.token_of(request) {
            let key = secret::digest(token);
            self.identity.store().delete_session(&key).await?;
            self.cache.invalidate(&key);
            let change = crate::cluster::Change::SessionEnded {
                digest: secret::hex(&key),
            };
            crate::cluster::publish_in(&self.changes, change).await;
        }
        self.cookie("", 0)
    }

    /// Shares logouts with the other instances through `feed` (see `cluster`): a session
    /// ended elsewhere is forgotten here as soon as the feed delivers it (every session is,
    /// when the feed may have missed a change), and one ended here is published, named by the
    /// digest of its cookie (never the cookie). One feed per service; a second call is ignored.
    pub fn share_changes(self: &Arc<Self>, feed: &crate::cluster::ChangeFeed)
    where
        S: 'static,
    {
        use crate::cluster::Change;
        crate::cluster::join(&self.changes, feed, self, |sessions, change| match change {
            Change::SessionEnded { digest } => match secret::unhex32(digest) {
                Some(key) => sessions.cache.invalidate(&key),
                None => sessions.cache.invalidate_all(),
            },
            Change::Everything => sessions.cache.invalidate_all(),
            _ => {}
        });
    }

    fn cookie(&self, value: &str, max_age: u64) -> Result<HeaderValue, IdentityError> {
        let secure = if self.config.secure { "; Secure" } else { "" };
        let text = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
            self.cookie_name()
        );
        HeaderValue::from_str(&text).map_err(|_| IdentityError::Unavailable)
    }

    /// The session token in the request's cookies, if any (malformed values count as absent).
    pub(crate) fn token_of<'a>(&self, request: &'a Parts) -> Option<&'a str> {
        let name = self.cookie_name();
        request
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// Whether an unsafe request comes from an allowed origin (CSRF protection).
    pub(crate) fn same_origin(&self, request: &Parts) -> bool {
        if matches!(
            request.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        ) {
            return true;
        }
        match request
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
        {
            Some(origin) => self.config.allowed_origins.iter().any(|o| o == origin),
            None => request
                .headers
                .get("sec-fetch-site")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v == "same-origin"),
        }
    }

    fn context_of(record: &SessionRecord, roles: &[String]) -> UserContext {
        UserContext::new(record.user_id.clone(), AuthMethod::Session)
            .with_email(record.email.clone())
            .with_roles(roles.iter().cloned())
    }

    /// Checks a session cookie: `None` when the request has none.
    pub(crate) async fn authenticate(
        &self,
        request: &Parts,
    ) -> Option<Result<UserContext, AuthError>> {
        let token = self.token_of(request)?;
        Some(self.check(request, token).await)
    }

    async fn check(&self, request: &Parts, token: &str) -> Result<UserContext, AuthError> {
        if !secret::has_shape(token, SESSION_PREFIX) {
            return Err(AuthError::InvalidToken(TokenRejection::Malformed));
        }
        if !self.same_origin(request) {
            return Err(AuthError::Forbidden(Denial::new(Reason::DenyCrossOrigin)));
        }
        let key = secret::digest(token);
        let store = self.identity.store();
        let cached = self.cache.get(&key);
        let from_store = cached.is_none();
        let record = match cached {
            Some(record) => record,
            None => match store.session(&key).await {
                Ok(Some(record)) => Arc::new(record),
                Ok(None) => return Err(AuthError::InvalidToken(TokenRejection::UnknownKey)),
                Err(error) => {
                    tracing::warn!(%error, "session store unavailable: refusing the request");
                    return Err(AuthError::Unavailable);
                }
            },
        };
        let now = self.identity.clock_now();
        let idle = self.config.idle_timeout.as_secs() as i64;
        if record.expires_at <= now || record.last_seen_at + idle <= now {
            self.cache.invalidate(&key);
            return Err(AuthError::InvalidToken(TokenRejection::Expired));
        }
        // The owner's standing now, not as it was at login: a disabled, deleted or demoted user's
        // session changes with them on the next request.
        let Some(roles) = self
            .identity
            .live_roles(&record.user_id, record.created_at_us)
            .await?
        else {
            self.cache.invalidate(&key);
            return Err(AuthError::InvalidToken(TokenRejection::Revoked));
        };
        let touched = now - record.last_seen_at >= TOUCH_EVERY;
        let record = if touched {
            match store.touch_session(&key, now).await {
                Ok(()) => {}
                // Ended since it was cached (logged out on another instance): over here too.
                Err(crate::store::StoreError::NotFound(_)) => {
                    self.cache.invalidate(&key);
                    return Err(AuthError::InvalidToken(TokenRejection::Revoked));
                }
                Err(error) => {
                    tracing::warn!(%error, "session store unavailable: refusing the request");
                    return Err(AuthError::Unavailable);
                }
            }
            Arc::new(SessionRecord {
                last_seen_at: now,
                ..(*record).clone()
            })
        } else {
            record
        };
        // Cached when read or touched, never again on a hit: a hit must not extend the time
        // the entry is trusted without the store.
        if from_store || touched {
            self.cache.insert(key, record.clone());
        }
        Ok(Self::context_of(&record, &roles))
    }

    /// Drops sessions past their absolute expiry or idle timeout from the store; returns how
    /// many. Run it with the identity's maintenance.
    pub async fn purge(&self) -> Result<u64, IdentityError> {
        let now = self.identity.clock_now();
        let idle = self.config.idle_timeout.as_secs() as i64;
        Ok(self
            .identity
            .store()
            .purge_sessions(now, now.saturating_sub(idle))
            .await?)
    }
}
