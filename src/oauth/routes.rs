//! The OpenID login routes: `GET /auth/oauth/{provider}/authorize?return_to=/path` (303 to the
//! provider, sets the flow cookie) and `GET /auth/oauth/{provider}/callback` (303 to `return_to`
//! with a session cookie, or 4xx problem+json; the flow cookie is cleared either way).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;

use super::{OAuthError, OAuthLogin};
use crate::error::problem_response;
use crate::store::{ExternalIdentityStore, SessionStore, Store};

/// The prefix of the OpenID routes: give it to
/// [`AuthGateway::public_prefix`](crate::AuthGateway::public_prefix).
pub const OAUTH_PUBLIC_PREFIX: &str = "/auth/oauth/";

#[derive(Serialize)]
struct Empty {}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, detail) = match &self {
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
        };
        problem_response(status, detail, Empty {})
    }
}

async fn authorize<S: Store + SessionStore + ExternalIdentityStore>(
    State(login): State<Arc<OAuthLogin<S>>>,
    Path(provider): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, OAuthError> {
    let (url, cookie) = login
        .authorize(&provider, query.get("return_to").map(String::as_str))
        .await?;
    let location = HeaderValue::from_str(&url).map_err(|_| OAuthError::Unavailable)?;
    Ok((
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
    )
        .into_response())
}

async fn callback<S: Store + SessionStore + ExternalIdentityStore>(
    State(login): State<Arc<OAuthLogin<S>>>,
    Path(provider): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
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
        .await;
    let mut response = match outcome {
        Ok((return_to, session)) => match HeaderValue::from_str(&return_to) {
            Ok(location) => {
                let mut response = StatusCode::SEE_OTHER.into_response();
                response.headers_mut().insert(header::LOCATION, location);
                response.headers_mut().append(header::SET_COOKIE, session);
                response
            }
            Err(_) => OAuthError::InvalidCallback("return_to is malformed").into_response(),
        },
        Err(error) => {
            tracing::debug!(%error, "OpenID callback refused");
            error.into_response()
        }
    };
    // The flow cookie is single use: every answer deletes it.
    if let Ok(clear) = login.clear_cookie() {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

impl<S: Store + SessionStore + ExternalIdentityStore> OAuthLogin<S> {
    /// The OpenID routes; make [`OAUTH_PUBLIC_PREFIX`] a public prefix of the gateway.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/auth/oauth/{provider}/authorize", get(authorize::<S>))
            .route("/auth/oauth/{provider}/callback", get(callback::<S>))
            .with_state(self.clone())
    }
}
