//! `AuthError` and how it becomes an HTTP response.
//!
//! | error | status | `WWW-Authenticate` |
//! |---|---|---|
//! | [`AuthError::MissingCredentials`] | 401 | `Bearer realm="…"` (no error code, RFC 6750 §3.1) |
//! | [`AuthError::InvalidToken`] | 401 | `Bearer realm="…", error="invalid_token"` |
//! | [`AuthError::InvalidRequest`] | 400 | `Bearer realm="…", error="invalid_request"` |
//! | [`AuthError::Forbidden`] | 403 | none; the body names what was required |
//! | [`AuthError::Unavailable`] | 503 | none; `Retry-After` |
//! | [`AuthError::MissingGateway`] | 500 | none; the body names the missing layer |
//!
//! Bodies are RFC 9457 `application/problem+json` (see [`Problem`]). A body never says which check a bad credential
//! failed: the reason ([`TokenRejection`]) is logged at `debug` and kept for your own
//! [`ErrorRenderer`], never rendered by the default one.

use std::fmt;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::problem::{Problem, keep_headers};
use crate::rbac::{Action, Permission};

/// Why a credential was refused. For logs and custom renderers only: the default renderer never
/// puts it in a response, so a client cannot probe which check its token failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenRejection {
    /// The credential is larger than the configured limit; nothing was parsed.
    TooLarge,
    /// Not three base64url segments, or characters outside the token alphabet.
    Malformed,
    /// The header names no key id, or one the key ring does not hold.
    UnknownKey,
    /// The header's `alg` is not the algorithm the key is pinned to.
    AlgorithmMismatch,
    /// The header carries `crit`, which this verifier does not process.
    CriticalHeader,
    /// The header's `typ` is not the configured one.
    WrongType,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is missing.
    MissingExpiry,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iss` is missing or not the configured issuer.
    WrongIssuer,
    /// `aud` is missing or does not name the configured audience.
    WrongAudience,
    /// `sub` is missing or empty, or another claim has the wrong type; this includes an `exp`,
    /// `nbf` or `iat` that is not a whole number of seconds between 0 and
    /// [`MAX_NUMERIC_DATE`](crate::token::MAX_NUMERIC_DATE).
    BadClaims,
    /// With [`TokenRules::max_lifetime`](crate::token::TokenRules::max_lifetime) set: `iat` is
    /// missing, or `exp - iat` is longer than allowed.
    LifetimeTooLong,
    /// The credential was revoked.
    Revoked,
}

impl TokenRejection {
    /// A short stable name, for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::UnknownKey => "unknown_key",
            Self::AlgorithmMismatch => "algorithm_mismatch",
            Self::CriticalHeader => "critical_header",
            Self::WrongType => "wrong_type",
            Self::BadSignature => "bad_signature",
            Self::MissingExpiry => "missing_expiry",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::BadClaims => "bad_claims",
            Self::LifetimeTooLong => "lifetime_too_long",
            Self::Revoked => "revoked",
        }
    }
}

impl fmt::Display for TokenRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a denied request lacked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// A permission (`write:Catalog.Review`).
    Permission(Permission),
    /// An action (`reports:export`).
    Action(Action),
    /// Something your own code decided, described in words.
    Other(String),
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Permission(p) => write!(f, "permission {p}"),
            Self::Action(a) => write!(f, "action {a}"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

/// An authentication or authorization failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials were presented where they are required.
    #[error("authentication required")]
    MissingCredentials,
    /// A credential was presented and refused.
    #[error("invalid credentials ({0})")]
    InvalidToken(TokenRejection),
    /// The request is malformed in a way RFC 6750 calls `invalid_request` (two `Authorization`
    /// headers, a token in both header and query, …). The text describes the request's shape,
    /// never a credential's content.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// Authenticated, but not allowed.
    #[error("forbidden: missing {0}")]
    Forbidden(Requirement),
    /// A store, cache or key source could not answer; the request is refused (fail closed).
    #[error("authentication temporarily unavailable")]
    Unavailable,
    /// A portcullis extractor or route layer ran on a request that never went through the named
    /// layer: a programming error.
    #[error("portcullis: {0}")]
    MissingGateway(&'static str),
}

impl AuthError {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingCredentials | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::MissingGateway(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The RFC 6750 error code, where one applies.
    pub fn oauth_error_code(&self) -> Option<&'static str> {
        match self {
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InvalidRequest(_) => Some("invalid_request"),
            _ => None,
        }
    }
}

/// Renders errors as responses. Plug your own into
/// [`AuthGateway::error_renderer`](crate::AuthGateway::error_renderer); the gateway uses it for
/// its own errors, hands it to the extractors and route layers through the request, and the
/// routes the crate hands out (identity, sessions, API keys, OpenID) render their errors with it
/// too.
///
/// Every error becomes a [`Problem`] first, so [`render_problem`](Self::render_problem) alone
/// covers them all; a closure `Fn(&Problem) -> impl IntoResponse` is a renderer (see
/// [`Problem`]). [`render`](Self::render) sees the gateway's [`AuthError`] itself
/// (with its [`TokenRejection`], for logs) and defaults to rendering its problem. Both default to
/// the problem+json that [`DefaultRenderer`] answers. Headers of the problem that your response
/// does not set (the challenge, `Retry-After`) are added to it.
///
/// ```
/// use axum::response::{IntoResponse, Response};
/// use portcullis::{ErrorRenderer, Problem};
///
/// struct PlainText;
/// impl ErrorRenderer for PlainText {
///     fn render_problem(&self, problem: &Problem) -> Response {
///         (problem.status(), problem.title()).into_response()
///     }
/// }
/// ```
pub trait ErrorRenderer: Send + Sync + 'static {
    /// Builds the response for the gateway's `error`; `realm` is the gateway's realm for
    /// challenges. Defaults to [`render_problem`](Self::render_problem) of
    /// [`Problem::from_auth_error`].
    fn render(&self, error: &AuthError, realm: &str) -> Response {
        let problem = Problem::from_auth_error(error, realm);
        let mut response = self.render_problem(&problem);
        keep_headers(&mut response, problem.headers());
        response
    }

    /// Builds the response for a problem (every error of the crate is one). Defaults to
    /// [`Problem::problem_json`].
    fn render_problem(&self, problem: &Problem) -> Response {
        problem.problem_json()
    }
}

/// The default renderer: RFC 6750 challenges and RFC 9457 problem details.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRenderer;

/// The `application/problem+json` media type.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl ErrorRenderer for DefaultRenderer {}

/// Checks that a realm can go inside a quoted-string without escaping.
pub(crate) fn valid_realm(realm: &str) -> bool {
    !realm.is_empty()
        && realm.len() <= 128
        && realm
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// An [`AuthError`] together with the renderer and realm of the gateway that saw the request:
/// the rejection type of every portcullis extractor.
#[derive(Clone)]
pub struct AuthRejection {
    error: AuthError,
    renderer: Option<Arc<RenderWith>>,
}

/// The renderer and realm a gateway hands to its extractors through request extensions.
pub(crate) struct RenderWith {
    pub(crate) renderer: Arc<dyn ErrorRenderer>,
    pub(crate) realm: Box<str>,
    /// Whether `renderer` is one of the application's: the crate's routes then re-render their
    /// default answers with it.
    pub(crate) custom: bool,
}

impl AuthRejection {
    pub(crate) fn new(error: AuthError, renderer: Option<Arc<RenderWith>>) -> Self {
        Self { error, renderer }
    }

    /// The underlying error.
    pub fn error(&self) -> &AuthError {
        &self.error
    }
}

impl fmt::Debug for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AuthRejection").field(&self.error).finish()
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for AuthRejection {}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match &self.renderer {
            Some(with) => with.renderer.render(&self.error, &with.realm),
            None => DefaultRenderer.render(&self.error, "portcullis"),
        }
    }
}

impl IntoResponse for AuthError {
    /// Renders with the [`DefaultRenderer`] and realm `portcullis`. Inside a gateway, prefer
    /// returning an [`AuthRejection`] from an extractor so your renderer is used.
    fn into_response(self) -> Response {
        DefaultRenderer.render(&self, "portcullis")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realm_rules() {
        assert!(valid_realm("portcullis"));
        assert!(valid_realm("Book catalog API"));
        assert!(!valid_realm(""));
        assert!(!valid_realm("a\"b"));
        assert!(!valid_realm("a\\b"));
        assert!(!valid_realm("a\nb"));
    }

    #[test]
    fn statuses() {
        assert_eq!(AuthError::MissingCredentials.status(), 401);
        assert_eq!(
            AuthError::InvalidToken(TokenRejection::Expired).status(),
            401
        );
        assert_eq!(AuthError::InvalidRequest("x").status(), 400);
        assert_eq!(AuthError::Unavailable.status(), 503);
    }
}
