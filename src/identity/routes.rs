//! The identity's HTTP routes.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /auth/register` | `{email, password}` | 201 `{id, email, roles}` |
//! | `POST /auth/login` | `{email, password}` | 200 `{access_token, token_type, expires_in, refresh_token}` |
//! | `POST /auth/refresh` | `{refresh_token}` | 200, a new pair (the old refresh token is spent) |
//! | `POST /auth/logout` | — (bearer) | 204 |
//! | `POST /auth/logout-all` | — (bearer) | 204 |
//! | `POST /auth/password` | `{current_password, new_password}` (bearer) | 200 `{access_token, …}` |
//! | `GET /.well-known/jwks.json` | — | the public keys |
//!
//! Bad input is 400 `application/problem+json` naming the field at fault; a body over
//! [`MAX_BODY_BYTES`] is 413 before it is parsed; bad credentials are 401 (identical for unknown
//! user, wrong password and disabled account); throttled is 429 with `Retry-After`; a store or
//! hasher that cannot answer is 503. Behind a gateway with its own
//! [`ErrorRenderer`](crate::ErrorRenderer), that renderer answers these errors instead (see
//! [`Problem`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value};

use super::{Identity, IdentityError};
use crate::context::{AuthMethod, UserContext};
use crate::render::{Problem, RenderProblemsLayer};
use crate::store::Store;

/// Largest request body the identity routes read, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The identity routes that need no credentials: give them to
/// [`AuthGateway::public_paths`](crate::AuthGateway::public_paths).
pub const IDENTITY_PUBLIC_PATHS: [&str; 4] = [
    "/auth/register",
    "/auth/login",
    "/auth/refresh",
    "/.well-known/jwks.json",
];

impl From<IdentityError> for Problem {
    /// The problem the identity routes answer for `error`.
    ///
    /// | error | status | code |
    /// |---|---|---|
    /// | [`InvalidInput`](IdentityError::InvalidInput) | 400 | `invalid_input` (names the field) |
    /// | [`EmailTaken`](IdentityError::EmailTaken) | 409 | `email_taken` |
    /// | [`BadCredentials`](IdentityError::BadCredentials) | 401 | `bad_credentials` |
    /// | [`NotFound`](IdentityError::NotFound) | 404 | `not_found` |
    /// | [`BadRefreshToken`](IdentityError::BadRefreshToken) | 401 | `bad_refresh_token` |
    /// | [`Throttled`](IdentityError::Throttled) | 429 | `throttled` (with `Retry-After`) |
    /// | [`Unavailable`](IdentityError::Unavailable) | 503 | `unavailable` (with `Retry-After`) |
    fn from(error: IdentityError) -> Self {
        match error {
            IdentityError::InvalidInput { field, message } => {
                Problem::new(StatusCode::BAD_REQUEST, "invalid_input", message).with_field(field)
            }
            IdentityError::EmailTaken => Problem::new(
                StatusCode::CONFLICT,
                "email_taken",
                "This e-mail address is already registered.",
            )
            .with_field("email"),
            IdentityError::BadCredentials => Problem::new(
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "The e-mail address or password is incorrect.",
            ),
            IdentityError::NotFound => {
                Problem::new(StatusCode::NOT_FOUND, "not_found", "No such user.")
            }
            IdentityError::BadRefreshToken => Problem::new(
                StatusCode::UNAUTHORIZED,
                "bad_refresh_token",
                "The refresh token is invalid or expired.",
            )
            .with_field("refresh_token"),
            IdentityError::Throttled(seconds) => {
                let problem = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "throttled",
                    "Too many failed attempts; try again later.",
                );
                match HeaderValue::from_str(&seconds.max(1).to_string()) {
                    Ok(value) => problem.with_header(header::RETRY_AFTER, value),
                    Err(_) => problem,
                }
            }
            IdentityError::Unavailable => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Temporarily unavailable; try again shortly.",
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("5")),
        }
    }
}

impl IntoResponse for IdentityError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

/// A JSON object body, size-capped before parsing, with string fields read by name so an error
/// names the field and never echoes a value.
struct JsonObject(Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = Response;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "The body must be application/json.",
            )
            .into_response());
        }
        let bytes: Bytes = match axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return Err(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "The body is larger than 16 KiB.",
                )
                .into_response());
            }
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            _ => Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "The body must be a JSON object.",
            )
            .into_response()),
        }
    }
}

impl JsonObject {
    fn string(&self, field: &'static str) -> Result<&str, IdentityError> {
        match self.0.get(field) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(IdentityError::InvalidInput {
                field,
                message: "must be a string".into(),
            }),
            None => Err(IdentityError::InvalidInput {
                field,
                message: "is required".into(),
            }),
        }
    }
}

fn tokens(pair: super::TokenPair) -> Response {
    let mut response = axum::Json(pair).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Only contexts made by the identity's own strategy may manage identity sessions: a token from
/// another issuer with the same `sub` must not log this user out or change their password.
fn own_context(ctx: &UserContext) -> Result<(), IdentityError> {
    if ctx.method() == AuthMethod::Identity {
        Ok(())
    } else {
        Err(IdentityError::BadCredentials)
    }
}

async fn register<S: Store>(
    State(identity): State<Arc<Identity<S>>>,
    body: JsonObject,
) -> Result<Response, IdentityError> {
    let account = identity
        .register(body.string("email")?, body.string("password")?)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(account)).into_response())
}

/// The peer address from axum's `ConnectInfo`, when the server provides it. Forwarded headers
/// are ignored on purpose: they are set by the client unless a trusted proxy rewrites them.
struct ClientAddr(Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

async fn login<S: Store>(
    State(identity): State<Arc<Identity<S>>>,
    ClientAddr(client): ClientAddr,
    body: JsonObject,
) -> Result<Response, IdentityError> {
    let pair = identity
        .login(body.string("email")?, body.string("password")?, client)
        .await?;
    Ok(tokens(pair))
}

async fn refresh<S: Store>(
    State(identity): State<Arc<Identity<S>>>,
    ClientAddr(client): ClientAddr,
    body: JsonObject,
) -> Result<Response, IdentityError> {
    Ok(tokens(
        identity
            .refresh(body.string("refresh_token")?, client)
            .await?,
    ))
}

async fn logout<S: Store>(
    State(identity): State<Arc<Identity<S>>>,
    ctx: UserContext,
) -> Result<StatusCode, IdentityError> {
    own_context(&ctx)?;
    identity.logout(&ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn logout_all<S: Store>(
    State(identity): State<Arc<Identity<S>>>,
    ctx: UserContext,
) -> Result<StatusCode, IdentityError> {
    own_context(&ctx)?;
    identity.logout_all(ctx.subject()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn change_password<S: Store>(
    State(identity): State<Arc<Identity<S>>>,
    ClientAddr(client): ClientAddr,
    ctx: UserContext,
    body: JsonObject,
) -> Result<Response, IdentityError> {
    own_context(&ctx)?;
    let pair = identity
        .change_password(
            &ctx,
            body.string("current_password")?,
            body.string("new_password")?,
            client,
        )
        .await?;
    Ok(tokens(pair))
}

async fn jwks<S: Store>(State(identity): State<Arc<Identity<S>>>) -> Response {
    let mut response = axum::Json(identity.jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

impl<S: Store> Identity<S> {
    /// The identity's routes, to merge into the application's router. Layer the gateway (with
    /// [`bearer`](Self::bearer) among its strategies and [`IDENTITY_PUBLIC_PATHS`] public) over
    /// the merged router.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/auth/register", post(register::<S>))
            .route("/auth/login", post(login::<S>))
            .route("/auth/refresh", post(refresh::<S>))
            .route("/auth/logout", post(logout::<S>))
            .route("/auth/logout-all", post(logout_all::<S>))
            .route("/auth/password", post(change_password::<S>))
            .route("/.well-known/jwks.json", get(jwks::<S>))
            // Errors in the gateway's renderer, when the application configured one.
            .route_layer(RenderProblemsLayer)
            .with_state(self.clone())
    }
}
