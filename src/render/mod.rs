//! How an [`AuthError`] becomes an HTTP response: the [`ErrorRenderer`] seam, the
//! [`DefaultRenderer`] (RFC 6750 challenges, RFC 9457 problem details) and [`AuthRejection`], the
//! rejection every portcullis extractor returns.
//!
//! This is the request path's half of the old `error` module (the architecture map's
//! `error (rendering)`); the error types themselves live in `error`, low enough for the model and
//! the leaves to use without importing anything about HTTP responses. See `error` for the table of
//! statuses and challenges.

use std::fmt;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};

use crate::error::AuthError;

// The description every error becomes, and the default problem+json, beside the seam that renders
// it: one concern, so one top-level module (they name each other).
mod problem;

pub use problem::Problem;
pub(crate) use problem::{RenderProblemsLayer, keep_headers};

/// Renders errors as responses. Plug your own into
/// [`AuthGateway::error_renderer`](crate::AuthGateway::error_renderer); the gateway uses it for
/// its own errors, hands it to the extractors and route layers through the request, and the
/// routes the crate hands out (identity, sessions, API keys, OpenID) render their errors with it
/// too.
///
/// Every error becomes a [`Problem`] first, so [`render_problem`](Self::render_problem) alone
/// covers them all; a closure `Fn(&Problem) -> impl IntoResponse` is a renderer (see
/// [`Problem`]). [`render`](Self::render) sees the gateway's [`AuthError`] itself
/// (with its [`TokenRejection`](crate::TokenRejection), for logs) and defaults to rendering its problem. Both default to
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
    renderer: Option<Render>,
}

/// How the extractors find a gateway's renderer: borrowed for the life of the process, so that
/// a request carries it without a reference count (see [`AuthGateway::build`](crate::AuthGateway::build)).
pub(crate) type Render = &'static RenderWith;

/// The renderer and realm a gateway hands to its extractors through request extensions.
pub(crate) struct RenderWith {
    pub(crate) renderer: Arc<dyn ErrorRenderer>,
    pub(crate) realm: Box<str>,
    /// Whether `renderer` is one of the application's: the crate's routes then re-render their
    /// default answers with it.
    pub(crate) custom: bool,
}

impl AuthRejection {
    pub(crate) fn new(error: AuthError, renderer: Option<Render>) -> Self {
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
}
