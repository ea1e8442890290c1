//! The OpenID login routes: `GET /auth/oauth/{provider}/authorize?return_to=/path` (303 to the
//! provider, sets the flow cookie) and `GET /auth/oauth/{provider}/callback` (303 to `return_to`
//! with a session cookie; the flow cookie is cleared either way).
//!
//! A browser navigates to both routes, so a failure is answered in the form the request prefers:
//! problem+json for API clients (no `Accept`, `*/*`, or JSON ranked at least as high as HTML),
//! and for a browser (`Accept` ranking `text/html` first) what [`BrowserErrors`] says: a small
//! HTML page with the same status and detail, or a 303 to the application's sign-in page with an
//! `error=` code. Behind a gateway with its own [`ErrorRenderer`](crate::ErrorRenderer), that
//! renderer answers the API clients instead of the problem+json (see [`Problem`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::{OAuthError, OAuthLogin, safe_return_to};
use crate::render::{Problem, RenderProblemsLayer};
use crate::store::{ExternalIdentityStore, SessionStore, Store};

/// The prefix of the OpenID routes: give it to
/// [`AuthGateway::public_prefix`](crate::AuthGateway::public_prefix).
pub const OAUTH_PUBLIC_PREFIX: &str = "/auth/oauth/";

impl OAuthError {
    /// The status and the `detail` every answer to this error carries. The detail never says
    /// more than the variant does (no token, no address, no provider's message).
    fn status_and_detail(&self) -> (StatusCode, &'static str) {
        match self {
            OAuthError::UnknownProvider => (StatusCode::NOT_FOUND, "No such sign-in provider."),
            OAuthError::InvalidCallback(why) => (StatusCode::BAD_REQUEST, *why),
            OAuthError::Denied => (
                StatusCode::UNAUTHORIZED,
                "The provider refused the sign-in.",
            ),
            OAuthError::Untrusted(_) => (
                StatusCode::UNAUTHORIZED,
                "The provider's answer could not be trusted.",
            ),
            OAuthError::Refused => (StatusCode::FORBIDDEN, "This account cannot sign in."),
            OAuthError::AccountExists => (
                StatusCode::CONFLICT,
                "An account with this e-mail address already exists; sign in with its password.",
            ),
            OAuthError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is temporarily unavailable.",
            ),
            OAuthError::Misconfigured(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in is not configured correctly.",
            ),
        }
    }

    /// A short, stable code for the kind of failure: the `error=` value of a
    /// [`BrowserErrors::Redirect`], for the sign-in page to choose its message by.
    ///
    /// | error | code |
    /// |---|---|
    /// | [`UnknownProvider`](Self::UnknownProvider) | `unknown_provider` |
    /// | [`InvalidCallback`](Self::InvalidCallback) | `invalid_callback` |
    /// | [`Denied`](Self::Denied) | `access_denied` |
    /// | [`Untrusted`](Self::Untrusted) | `untrusted_provider` |
    /// | [`Refused`](Self::Refused) | `refused` |
    /// | [`AccountExists`](Self::AccountExists) | `account_exists` |
    /// | [`Unavailable`](Self::Unavailable) | `temporarily_unavailable` |
    /// | [`Misconfigured`](Self::Misconfigured) | `server_error` |
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::UnknownProvider => "unknown_provider",
            OAuthError::InvalidCallback(_) => "invalid_callback",
            OAuthError::Denied => "access_denied",
            OAuthError::Untrusted(_) => "untrusted_provider",
            OAuthError::Refused => "refused",
            OAuthError::AccountExists => "account_exists",
            OAuthError::Unavailable => "temporarily_unavailable",
            OAuthError::Misconfigured(_) => "server_error",
        }
    }
}

impl From<OAuthError> for Problem {
    /// The problem API clients get for `error`, with [`OAuthError::code`] as its code.
    fn from(error: OAuthError) -> Self {
        let (status, detail) = error.status_and_detail();
        Problem::new(status, error.code(), detail)
    }
}

impl IntoResponse for OAuthError {
    /// The problem+json answer (what API clients get), or the gateway's renderer's.
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

/// What the login routes answer a browser when a sign-in cannot start or finish. A request is a
/// browser's when its `Accept` header names `text/html` and ranks it above any JSON type (as
/// browsers do when they navigate: `text/html,application/xhtml+xml,…`); every other request
/// gets problem+json. Either way the status and the detail are the same, and a callback's answer
/// clears the flow cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrowserErrors {
    /// A small self-contained HTML page with the status, the problem's detail and a link to this
    /// path (the sign-in page). The default links to `/`.
    Page(String),
    /// `303 See Other` to this path with `error=<code>` added to its query (see
    /// [`OAuthError::code`]), for an application whose sign-in page shows the message itself.
    Redirect(String),
}

impl Default for BrowserErrors {
    fn default() -> Self {
        Self::Page("/".into())
    }
}

impl BrowserErrors {
    /// Checks the configured path: a relative path on this site, as `return_to` must be (an
    /// absolute URL would make the error answer an open redirect), and for a redirect without a
    /// fragment (which would swallow the `error=` parameter) and in ASCII (percent-encoded), as a
    /// `Location` header should be.
    fn check(&self) -> Result<(), OAuthError> {
        match self {
            Self::Page(path) if safe_return_to(path) => Ok(()),
            Self::Page(_) => Err(OAuthError::Misconfigured(
                "the sign-in page must be a relative path",
            )),
            Self::Redirect(path)
                if safe_return_to(path)
                    && path.is_ascii()
                    && !path.contains('#')
                    && HeaderValue::from_str(&redirect_target(path, "x")).is_ok() =>
            {
                Ok(())
            }
            Self::Redirect(_) => Err(OAuthError::Misconfigured(
                "the error page must be a relative, percent-encoded path without a fragment",
            )),
        }
    }
}

/// `path` with `error=code` added to its query.
fn redirect_target(path: &str, code: &str) -> String {
    let joint = if path.contains('?') { '&' } else { '?' };
    format!("{path}{joint}error={code}")
}

/// The weight (`q`) of one media range, 1 when absent; an unreadable weight counts as 0, so a
/// malformed header never turns an API client's answer into HTML.
fn weight<'a>(params: impl Iterator<Item = &'a str>) -> f32 {
    for param in params {
        if let Some((name, value)) = param.split_once('=')
            && name.trim().eq_ignore_ascii_case("q")
        {
            return match value.trim().parse::<f32>() {
                Ok(q) if (0.0..=1.0).contains(&q) => q,
                _ => 0.0,
            };
        }
    }
    1.0
}

/// Whether the request prefers an HTML page to problem+json: its `Accept` names `text/html` with
/// a weight above 0 and above that of any JSON type it names. Wildcards do not count: `*/*` is
/// what `curl` and `fetch` send, and they keep getting problem+json.
fn wants_html(headers: &HeaderMap) -> bool {
    let mut html: f32 = 0.0;
    let mut json: f32 = 0.0;
    let ranges = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for range in ranges {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        let q = weight(parts);
        if media.eq_ignore_ascii_case("text/html") {
            html = html.max(q);
        } else if media.eq_ignore_ascii_case("application/json")
            || media.eq_ignore_ascii_case("application/problem+json")
        {
            json = json.max(q);
        }
    }
    html > 0.0 && html > json
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML error page: status, detail, a link to `sign_in`. It loads nothing and runs nothing,
/// and its policy (`default-src 'none'`) says so: nothing injected could run either.
fn html_page(status: StatusCode, detail: &str, sign_in: &str) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sign-in failed</title></head>\n<body>\n<h1>Sign-in failed</h1>\n\
         <p id=\"detail\">{detail}</p>\n<p><a id=\"sign-in\" href=\"{sign_in}\">Back to sign-in</a></p>\n\
         <p><small>{code} {reason}</small></p>\n</body></html>\n",
        detail = escape_html(detail),
        sign_in = escape_html(sign_in),
        code = status.as_u16(),
        reason = escape_html(reason),
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The callback's URL carries the authorization code: no Referer takes it along.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The answer to a failed sign-in, in the form the request prefers.
fn failure(errors: &BrowserErrors, headers: &HeaderMap, error: OAuthError) -> Response {
    let mut response = if wants_html(headers) {
        let (status, detail) = error.status_and_detail();
        match errors {
            BrowserErrors::Page(sign_in) => html_page(status, detail, sign_in),
            BrowserErrors::Redirect(path) => {
                match HeaderValue::from_str(&redirect_target(path, error.code())) {
                    Ok(location) => {
                        let mut response = StatusCode::SEE_OTHER.into_response();
                        response.headers_mut().insert(header::LOCATION, location);
                        response
                    }
                    // Checked when the router was built; should it fail anyway, the page
                    // still answers with the right status.
                    Err(_) => html_page(status, detail, "/"),
                }
            }
        }
    } else {
        error.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The same URL answers differently by Accept: no cache may hand one form to the other.
    headers.insert(header::VARY, HeaderValue::from_static("accept"));
    response
}

/// The routes' state: the login service and how to answer browsers.
struct Routes<S: Store> {
    login: Arc<OAuthLogin<S>>,
    errors: Arc<BrowserErrors>,
}

impl<S: Store> Clone for Routes<S> {
    fn clone(&self) -> Self {
        Self {
            login: self.login.clone(),
            errors: self.errors.clone(),
        }
    }
}

async fn authorize<S: Store + SessionStore + ExternalIdentityStore>(
    State(routes): State<Routes<S>>,
    Path(provider): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let started = routes
        .login
        .authorize(&provider, query.get("return_to").map(String::as_str))
        .await
        .and_then(|(url, cookie)| {
            let location = HeaderValue::from_str(&url).map_err(|_| OAuthError::Unavailable)?;
            Ok((location, cookie))
        });
    match started {
        Ok((location, cookie)) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
        )
            .into_response(),
        Err(error) => failure(&routes.errors, &headers, error),
    }
}

async fn callback<S: Store + SessionStore + ExternalIdentityStore>(
    State(routes): State<Routes<S>>,
    Path(provider): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let login = &routes.login;
    let cookies: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let joined = cookies.join("; ");
    let outcome = login
        .callback(
            &provider,
            &query,
            Some(joined.as_str()).filter(|s| !s.is_empty()),
        )
        .await
        .and_then(|(return_to, session)| {
            let location = HeaderValue::from_str(&return_to)
                .map_err(|_| OAuthError::InvalidCallback("return_to is malformed"))?;
            Ok((location, session))
        });
    let mut response = match outcome {
        Ok((location, session)) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(header::LOCATION, location);
            response.headers_mut().append(header::SET_COOKIE, session);
            response
        }
        Err(error) => {
            tracing::debug!(%error, "OpenID callback refused");
            failure(&routes.errors, &headers, error)
        }
    };
    // The flow cookie is single use: every answer deletes it.
    if let Ok(clear) = login.clear_cookie() {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

impl<S: Store + SessionStore + ExternalIdentityStore> OAuthLogin<S> {
    /// The OpenID routes, answering a browser's failed sign-in with the default
    /// [`BrowserErrors::Page`] (linking to `/`); make [`OAUTH_PUBLIC_PREFIX`] a public prefix of
    /// the gateway.
    pub fn router(self: &Arc<Self>) -> Router {
        self.routes(BrowserErrors::default())
    }

    /// The OpenID routes, answering a browser's failed sign-in as `errors` says. Fails with
    /// [`OAuthError::Misconfigured`] when its path is not a relative path on this site (or, for
    /// a redirect, has a fragment).
    pub fn router_with(self: &Arc<Self>, errors: BrowserErrors) -> Result<Router, OAuthError> {
        errors.check()?;
        Ok(self.routes(errors))
    }

    fn routes(self: &Arc<Self>, errors: BrowserErrors) -> Router {
        Router::new()
            .route("/auth/oauth/{provider}/authorize", get(authorize::<S>))
            .route("/auth/oauth/{provider}/callback", get(callback::<S>))
            // API clients' errors in the gateway's renderer, when the application configured
            // one; browsers keep getting what `BrowserErrors` says.
            .route_layer(RenderProblemsLayer)
            .with_state(Routes {
                login: self.clone(),
                errors: Arc::new(errors),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::ACCEPT, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn browsers_get_html_and_api_clients_json() {
        for browser in [
            // Chromium's and Firefox's navigation headers.
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "TEXT/HTML",
            "application/json;q=0.5, text/html",
        ] {
            assert!(wants_html(&accept(&[browser])), "{browser}");
        }
        assert!(wants_html(&accept(&["application/xml", "text/html"])));
        for api in [
            "",
            "*/*",
            "text/*",
            "application/json",
            "application/problem+json",
            "application/json, text/html",
            "text/html;q=0.5, application/json",
            "text/html;q=0",
            "text/html;q=nonsense",
            "text/html;q=2",
            "text/htmlx",
        ] {
            assert!(!wants_html(&accept(&[api])), "{api:?}");
        }
        assert!(!wants_html(&HeaderMap::new()), "no Accept at all");
    }

    #[test]
    fn configured_paths_must_be_relative() {
        for ok in [
            BrowserErrors::default(),
            BrowserErrors::Page("/sign-in".into()),
            BrowserErrors::Redirect("/sign-in".into()),
            BrowserErrors::Redirect("/sign-in?lang=en".into()),
        ] {
            assert_eq!(ok.check(), Ok(()), "{ok:?}");
        }
        for bad in [
            BrowserErrors::Page("https://evil.example/".into()),
            BrowserErrors::Page("//evil.example".into()),
            BrowserErrors::Redirect("https://evil.example/".into()),
            BrowserErrors::Redirect("sign-in".into()),
            BrowserErrors::Redirect("/sign-in#top".into()),
            BrowserErrors::Redirect("/sign-in\u{e9}".into()),
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        assert_eq!(
            redirect_target("/sign-in?lang=en", "account_exists"),
            "/sign-in?lang=en&error=account_exists"
        );
    }

    #[test]
    fn the_page_escapes_what_it_shows() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
