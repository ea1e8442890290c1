//! [`Problem`]: one description of every error the crate answers, so that one
//! [`ErrorRenderer`] can render them all (documented on the type: the module is private).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, header};
use pin_project_lite::pin_project;
use serde::Serialize;
use tower_layer::Layer;
use tower_service::Service;

use super::{ErrorRenderer, PROBLEM_JSON, Render};
use crate::error::{AuthError, Requirement};

/// An error the crate answers, described for a renderer.
///
/// The gateway's errors ([`AuthError`]) and the errors of the routes the crate hands out
/// ([`Identity::router`](crate::identity::Identity::router),
/// [`ApiKeys::router`](crate::api_key::ApiKeys::router), the session and OpenID routes) all
/// become a [`Problem`]: a status, a stable machine code, a human detail, the field at fault,
/// and the headers that carry protocol meaning (`WWW-Authenticate`, `Retry-After`). Without a
/// custom renderer a problem is answered as RFC 9457 `application/problem+json`
/// ([`Problem::problem_json`]); with one set by
/// [`AuthGateway::error_renderer`](crate::AuthGateway::error_renderer), its
/// [`render_problem`](ErrorRenderer::render_problem) answers instead, on the gateway, in the
/// extractors and on every handed-out route behind that gateway.
///
/// A closure taking `&Problem` is a renderer (annotate the argument's type, as for tower-http's
/// closure callbacks):
///
/// ```
/// use axum::{Router, routing::get};
/// use http::header::CONTENT_TYPE;
/// use portcullis::{AuthGateway, Problem};
/// use portcullis::strategy::BearerStrategy;
/// use portcullis::token::{Key, KeyRing, TokenRules};
///
/// let ring = KeyRing::single(Key::generate_ed25519("k1")?);
/// let gateway = AuthGateway::new()
///     .strategy(BearerStrategy::new(ring, TokenRules::new().issuer("me").audience("api")))
///     .error_renderer(|problem: &Problem| {
///         (problem.status(), [(CONTENT_TYPE, "text/plain")], format!("{}: {}", problem.code(), problem.detail()))
///     })
///     .build()?;
/// let app: Router = Router::new().route("/", get(|| async { "hi" })).layer(gateway);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Whatever a renderer answers, the headers the crate set for the protocol's sake and the
/// renderer did not set itself (a challenge, `Retry-After`, a cookie being cleared,
/// `Cache-Control: no-store`) are added to its response: a custom body must not break a client's
/// retry logic or leave a cookie behind.
///
/// ```
/// use http::StatusCode;
/// use portcullis::Problem;
///
/// let problem = Problem::new(StatusCode::BAD_REQUEST, "invalid_input", "must be a string")
///     .with_field("email");
/// assert_eq!(problem.title(), "Bad Request");
/// assert_eq!(problem.field(), Some("email"));
/// ```
#[derive(Clone)]
pub struct Problem {
    status: StatusCode,
    code: &'static str,
    detail: Cow<'static, str>,
    field: Option<&'static str>,
    reason: Option<&'static str>,
    required: Option<Requirement>,
    headers: HeaderMap,
    error: Option<AuthError>,
}

impl Problem {
    /// A problem with a status, a stable `code` (snake_case, for programs) and a `detail` (for
    /// people).
    pub fn new(
        status: StatusCode,
        code: &'static str,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
            reason: None,
            required: None,
            headers: HeaderMap::new(),
            error: None,
        }
    }

    /// Names the request field at fault.
    pub fn with_field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    /// Adds a header that must reach the client whatever the renderer does (`Retry-After`, a
    /// challenge).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// The problem a gateway or an extractor answers for `error`, with the challenge for
    /// `realm` where RFC 6750 asks for one.
    ///
    /// | error | code |
    /// |---|---|
    /// | [`MissingCredentials`](AuthError::MissingCredentials) | `missing_credentials` |
    /// | [`InvalidToken`](AuthError::InvalidToken) | `invalid_token` |
    /// | [`InvalidRequest`](AuthError::InvalidRequest) | `invalid_request` |
    /// | [`Forbidden`](AuthError::Forbidden) | `forbidden` |
    /// | [`Unavailable`](AuthError::Unavailable) | `unavailable` |
    /// | [`NotFound`](AuthError::NotFound) | `not_found` |
    /// | [`MissingGateway`](AuthError::MissingGateway) | `missing_gateway` |
    pub fn from_auth_error(error: &AuthError, realm: &str) -> Self {
        let status = error.status();
        let mut problem = match error {
            AuthError::MissingCredentials => {
                Self::new(status, "missing_credentials", "Authentication is required.")
            }
            AuthError::InvalidToken(_) => {
                Self::new(status, "invalid_token", "The credentials are invalid.")
            }
            AuthError::InvalidRequest(why) => Self::new(status, "invalid_request", *why),
            AuthError::Forbidden(denial) => {
                let detail = match denial.requirement() {
                    Some(requirement) => format!("This request requires the {requirement}."),
                    None => format!("This request is refused ({}).", denial.reason()),
                };
                let mut problem = Self::new(status, "forbidden", detail);
                problem.reason = Some(denial.reason().code());
                problem.required = denial.requirement().cloned();
                problem
            }
            AuthError::Unavailable => Self::new(
                status,
                "unavailable",
                "Authentication is temporarily unavailable; try again shortly.",
            ),
            AuthError::MissingGateway(what) => Self::new(status, "missing_gateway", *what),
            // Exactly what a missing resource answers: nothing tells a refusal from absence.
            AuthError::NotFound => Self::new(status, "not_found", "The resource does not exist."),
        };
        if (status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST)
            && let Some(value) = challenge(realm, error.oauth_error_code())
        {
            problem.headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            problem
                .headers
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        problem.error = Some(error.clone());
        problem
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The status's reason phrase (`Forbidden`), the `title` of the default body.
    pub fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }

    /// A short stable name for the kind of error (`bad_credentials`, `not_found`, …).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// What went wrong, in words. Never a credential's content, nor why it failed.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The request field at fault, when one is.
    pub fn field(&self) -> Option<&'static str> {
        self.field
    }

    /// The reason code of a denial (`deny_no_permission`).
    pub fn reason(&self) -> Option<&'static str> {
        self.reason
    }

    /// What a denied request lacked.
    pub fn required(&self) -> Option<&Requirement> {
        self.required.as_ref()
    }

    /// The headers that carry protocol meaning; kept on whatever a renderer answers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The gateway's error this problem describes, if it is one (its
    /// [`TokenRejection`](crate::TokenRejection) is there for logs, never for a body).
    pub fn auth_error(&self) -> Option<&AuthError> {
        self.error.as_ref()
    }

    /// The default answer: RFC 9457 `application/problem+json` (`type` `about:blank`, the
    /// status's reason as `title`), marked `no-store`, with the problem's headers.
    pub fn problem_json(&self) -> Response {
        let required = match &self.required {
            Some(Requirement::Permission(p)) => Some(RequiredBody {
                permission: Some(p.as_str()),
                action: None,
                roles: None,
                access: None,
            }),
            Some(Requirement::Action(a)) => Some(RequiredBody {
                permission: None,
                action: Some(a.as_str()),
                roles: None,
                access: None,
            }),
            Some(Requirement::Roles(roles)) => Some(RequiredBody {
                permission: None,
                action: None,
                roles: Some(roles),
                access: None,
            }),
            Some(Requirement::Access(a)) => Some(RequiredBody {
                permission: None,
                action: None,
                roles: None,
                access: Some(a.access().as_str()),
            }),
            None => None,
        };
        let body = Body {
            kind: "about:blank",
            title: self.title(),
            status: self.status.as_u16(),
            detail: &self.detail,
            field: self.field,
            reason: self.reason,
            required,
            code: self.code,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for (name, value) in &self.headers {
            headers.insert(name, value.clone());
        }
        response
    }
}

impl fmt::Debug for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Problem")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("detail", &self.detail)
            .field("field", &self.field)
            .finish_non_exhaustive()
    }
}

impl From<&AuthError> for Problem {
    /// As [`Problem::from_auth_error`] with the default realm, `portcullis`.
    fn from(error: &AuthError) -> Self {
        Self::from_auth_error(error, "portcullis")
    }
}

impl IntoResponse for Problem {
    /// [`problem_json`](Problem::problem_json); on a route the crate hands out, the gateway's
    /// renderer (when one is configured) renders it instead.
    fn into_response(self) -> Response {
        let mut response = self.problem_json();
        response.extensions_mut().insert(Rerender(Arc::new(self)));
        response
    }
}

/// The default body. Field order and the absent members are what clients have seen so far:
/// keep them byte for byte, and add new members only at the end (`code`, the problem's stable
/// machine code, came last, so that clients can tell a `cycle` from a `duplicate` without
/// reading the detail).
#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    required: Option<RequiredBody<'a>>,
    code: &'static str,
}

#[derive(Serialize)]
struct RequiredBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    permission: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<&'a [String]>,
    /// A resource's access level (`view`, `edit`); the service is the server's business.
    #[serde(skip_serializing_if = "Option::is_none")]
    access: Option<&'static str>,
}

fn challenge(realm: &str, error: Option<&str>) -> Option<HeaderValue> {
    let value = match error {
        None => format!("Bearer realm=\"{realm}\""),
        Some(code) => format!("Bearer realm=\"{realm}\", error=\"{code}\""),
    };
    HeaderValue::from_str(&value).ok()
}

/// Adds to `response` every header of `from` it does not set itself, except those describing
/// the body (which is the renderer's).
pub(crate) fn keep_headers(response: &mut Response, from: &HeaderMap) {
    let headers = response.headers_mut();
    for name in from.keys() {
        if name == header::CONTENT_TYPE
            || name == header::CONTENT_LENGTH
            || headers.contains_key(name)
        {
            continue;
        }
        for value in from.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
    }
}

impl<F, R> ErrorRenderer for F
where
    F: Fn(&Problem) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    fn render_problem(&self, problem: &Problem) -> Response {
        self(problem).into_response()
    }
}

/// Marks a response as a crate route's default rendering of a problem, for [`RenderProblems`]
/// to re-render with the gateway's renderer.
#[derive(Clone)]
struct Rerender(Arc<Problem>);

/// Layered on every router the crate hands out: renders their problems with the renderer the
/// gateway put in the request, when it is not the default one.
///
/// The handlers keep returning their error types (which answer the default problem+json on
/// their own, say in a unit test without a gateway); only this layer needs to know about
/// renderers.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RenderProblemsLayer;

impl<S> Layer<S> for RenderProblemsLayer {
    type Service = RenderProblems<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RenderProblems { inner }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RenderProblems<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for RenderProblems<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RenderProblemsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let render = request
            .extensions()
            .get::<Render>()
            .filter(|with| with.custom)
            .copied();
        RenderProblemsFuture {
            future: self.inner.call(request),
            render,
        }
    }
}

pin_project! {
    pub(crate) struct RenderProblemsFuture<F> {
        #[pin]
        future: F,
        render: Option<Render>,
    }
}

impl<F, E> Future for RenderProblemsFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.future.poll(cx) {
            Poll::Ready(Ok(response)) => response,
            other => return other,
        };
        let Some(Rerender(problem)) = response.extensions_mut().remove::<Rerender>() else {
            return Poll::Ready(Ok(response));
        };
        let Some(with) = this.render.take() else {
            return Poll::Ready(Ok(response));
        };
        let mut rendered = with.renderer.render_problem(&problem);
        // The original carries the problem's headers and whatever the handler added after
        // rendering (a cookie being cleared, `Vary`).
        keep_headers(&mut rendered, response.headers());
        Poll::Ready(Ok(rendered))
    }
}
