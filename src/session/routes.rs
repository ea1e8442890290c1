//! The session routes: `POST /auth/session` (password login to a cookie, 204) and
//! `POST /auth/session/logout` (204, clears the cookie). Errors are problem+json, or what the
//! gateway's own [`ErrorRenderer`](crate::ErrorRenderer) answers when one is configured.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{StatusCode, header};
use serde::Deserialize;

use super::Sessions;
use crate::context::{AuthMethod, UserContext};
use crate::identity::IdentityError;
use crate::render::{Problem, RenderProblemsLayer};
use crate::store::{SessionStore, Store};

/// Largest login body read, in bytes.
const MAX_BODY: usize = 16 * 1024;

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

async fn login<S: Store + SessionStore>(
    State(sessions): State<Arc<Sessions<S>>>,
    request: Request,
) -> Result<Response, Response> {
    let (parts, body) = request.into_parts();
    if !sessions.same_origin(&parts) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "cross_origin",
            "Sign-in must come from an allowed origin.",
        )
        .into_response());
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "The body is too large.",
        )
        .into_response()
    })?;
    let credentials: Credentials = serde_json::from_slice(&bytes).map_err(|_| {
        IdentityError::InvalidInput {
            field: "body",
            message: "must be {\"email\", \"password\"}".into(),
        }
        .into_response()
    })?;
    let client = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|axum::extract::ConnectInfo(addr)| addr.ip());
    let cookie = sessions
        .login(&credentials.email, &credentials.password, client)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

async fn logout<S: Store + SessionStore>(
    State(sessions): State<Arc<Sessions<S>>>,
    ctx: UserContext,
    request: Request,
) -> Result<Response, IdentityError> {
    if ctx.method() != AuthMethod::Session {
        return Err(IdentityError::BadCredentials);
    }
    let (parts, _) = request.into_parts();
    let cookie = sessions.logout(&parts).await?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

impl<S: Store + SessionStore> Sessions<S> {
    /// The session routes; `/auth/session` must be a public path of the gateway.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/auth/session", post(login::<S>))
            .route("/auth/session/logout", post(logout::<S>))
            // Errors in the gateway's renderer, when the application configured one.
            .route_layer(RenderProblemsLayer)
            .with_state(self.clone())
    }
}
