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
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::error::{AuthError, Requirement};

/// Renders an [`AuthError`] as a response. Plug your own into
/// [`AuthGateway::error_renderer`](crate::AuthGateway::error_renderer); the gateway uses it for
/// its own errors and hands it to the extractors and route layers through the request.
///
/// ```
/// use axum::response::{IntoResponse, Response};
/// use portcullis::{AuthError, ErrorRenderer};
///
/// struct PlainText;
/// impl ErrorRenderer for PlainText {
///     fn render(&self, error: &AuthError, realm: &str) -> Response {
///         // Keep the challenge: clients rely on it.
///         let mut response = portcullis::DefaultRenderer.render(error, realm);
///         *response.body_mut() = axum::body::Body::from(error.status().canonical_reason().unwrap_or(""));
///         response
///     }
/// }
/// ```
pub trait ErrorRenderer: Send + Sync + 'static {
    /// Builds the response for `error`; `realm` is the gateway's realm for challenges.
    fn render(&self, error: &AuthError, realm: &str) -> Response;
}

/// The default renderer: RFC 6750 challenges and RFC 9457 problem details.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRenderer;

#[derive(Serialize)]
struct Problem<'a, E: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: &'a str,
    #[serde(flatten)]
    extensions: E,
}

/// An RFC 9457 problem-details response (`type` `about:blank`, the status's reason as `title`)
/// with extension members from `extensions`, marked `no-store`.
pub(crate) fn problem_response<E: Serialize>(
    status: StatusCode,
    detail: &str,
    extensions: E,
) -> Response {
    let problem = Problem {
        kind: "about:blank",
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
        extensions,
    };
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Serialize)]
struct Denial<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    required: Option<RequiredBody<'a>>,
}

#[derive(Serialize)]
struct RequiredBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    permission: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a str>,
}

/// The `application/problem+json` media type.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl ErrorRenderer for DefaultRenderer {
    fn render(&self, error: &AuthError, realm: &str) -> Response {
        let status = error.status();
        let detail_owned;
        let (detail, reason, required) = match error {
            AuthError::MissingCredentials => ("Authentication is required.", None, None),
            AuthError::InvalidToken(_) => ("The credentials are invalid.", None, None),
            AuthError::InvalidRequest(why) => (*why, None, None),
            AuthError::Forbidden(requirement) => {
                detail_owned = format!("This request requires the {requirement}.");
                let required = match requirement {
                    Requirement::Permission(p) => Some(RequiredBody {
                        permission: Some(p.as_str()),
                        action: None,
                    }),
                    Requirement::Action(a) => Some(RequiredBody {
                        permission: None,
                        action: Some(a.as_str()),
                    }),
                    Requirement::Other(_) => None,
                };
                (detail_owned.as_str(), Some("deny_no_permission"), required)
            }
            AuthError::Unavailable => (
                "Authentication is temporarily unavailable; try again shortly.",
                None,
                None,
            ),
            AuthError::MissingGateway(what) => (*what, None, None),
        };
        let mut response = problem_response(status, detail, Denial { reason, required });
        let headers = response.headers_mut();
        if (status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST)
            && let Some(value) = challenge(realm, error.oauth_error_code())
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

fn challenge(realm: &str, error: Option<&str>) -> Option<HeaderValue> {
    let value = match error {
        None => format!("Bearer realm=\"{realm}\""),
        Some(code) => format!("Bearer realm=\"{realm}\", error=\"{code}\""),
    };
    HeaderValue::from_str(&value).ok()
}

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
}
