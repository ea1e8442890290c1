//! The API-key management routes.
//!
//! | route | who | answer |
//! |---|---|---|
//! | `POST /auth/api-keys` `{name, roles?, scopes?, expires_in?}` | a logged-in user | 201 with the key, shown this once |
//! | `GET /auth/api-keys` | a logged-in user | their keys (never a secret) |
//! | `DELETE /auth/api-keys/{id}` | a logged-in user | 204; another user's key is 404 |
//! | `GET /admin/api-keys?limit&offset` | permission `manage:ApiKeys` | every key |
//! | `DELETE /admin/api-keys/{id}` | permission `manage:ApiKeys` | 204 |
//!
//! A key can carry only roles and scopes its creator holds, and an API key cannot create keys.
//! Errors are problem+json, or what the gateway's own [`ErrorRenderer`](crate::ErrorRenderer)
//! answers when one is configured (see [`Problem`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;

use super::{ApiKeyError, ApiKeys, NewApiKey};
use crate::context::{AuthMethod, UserContext};
use crate::extract::RequirePermission;
use crate::render::{Problem, RenderProblemsLayer};
use crate::store::ApiKeyStore;

crate::permission!(
    /// The permission the administrator routes require (`manage:ApiKeys`).
    pub ManageApiKeys = "manage:ApiKeys"
);

/// Longest lifetime a key may be given: one year.
/// Largest request body the key routes accept (413 beyond).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

const MAX_LIFETIME: Duration = Duration::from_secs(366 * 24 * 3600);

impl From<ApiKeyError> for Problem {
    /// The problem the key routes answer for `error`: 400 `invalid_input` (naming the field),
    /// 403 `forbidden`, 409 `too_many`, 404 `not_found`, 503 `unavailable`.
    fn from(error: ApiKeyError) -> Self {
        match error {
            ApiKeyError::InvalidInput { field, message } => {
                Problem::new(StatusCode::BAD_REQUEST, "invalid_input", message).with_field(field)
            }
            ApiKeyError::Forbidden(why) => Problem::new(StatusCode::FORBIDDEN, "forbidden", why),
            ApiKeyError::TooMany => Problem::new(
                StatusCode::CONFLICT,
                "too_many",
                "Too many API keys: revoke one first.",
            ),
            ApiKeyError::NotFound => {
                Problem::new(StatusCode::NOT_FOUND, "not_found", "No such API key.")
            }
            ApiKeyError::Unavailable => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Temporarily unavailable; try again shortly.",
            ),
        }
    }
}

impl IntoResponse for ApiKeyError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    roles: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
    /// Lifetime in seconds.
    expires_in: Option<u64>,
}

async fn create<S: ApiKeyStore + Clone + 'static>(
    State(keys): State<Arc<ApiKeys<S>>>,
    ctx: UserContext,
    Json(body): Json<CreateBody>,
) -> Result<Response, ApiKeyError> {
    if ctx.method() == AuthMethod::ApiKey {
        return Err(ApiKeyError::Forbidden("an API key cannot create API keys"));
    }
    let roles = body.roles.unwrap_or_else(|| ctx.roles().to_vec());
    if !roles.iter().all(|r| ctx.has_role(r)) {
        return Err(ApiKeyError::Forbidden(
            "a key can carry only roles its creator holds",
        ));
    }
    let scopes = body.scopes.unwrap_or_else(|| ctx.scopes().to_vec());
    if !scopes.iter().all(|s| ctx.has_scope(s)) {
        return Err(ApiKeyError::Forbidden(
            "a key can carry only scopes its creator holds",
        ));
    }
    let expires_in = match body.expires_in {
        None => None,
        Some(0) => {
            return Err(ApiKeyError::InvalidInput {
                field: "expires_in",
                message: "must be positive".into(),
            });
        }
        Some(s) if Duration::from_secs(s) > MAX_LIFETIME => {
            return Err(ApiKeyError::InvalidInput {
                field: "expires_in",
                message: "at most one year".into(),
            });
        }
        Some(s) => Some(Duration::from_secs(s)),
    };
    let new = NewApiKey {
        name: body.name,
        roles,
        scopes,
        tenant: ctx.tenant().map(str::to_owned),
        expires_in,
    };
    let created = keys.create(ctx.subject(), new).await?;
    let mut response = (StatusCode::CREATED, Json(created)).into_response();
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

async fn list_own<S: ApiKeyStore + Clone + 'static>(
    State(keys): State<Arc<ApiKeys<S>>>,
    ctx: UserContext,
) -> Result<Response, ApiKeyError> {
    Ok(Json(keys.list(ctx.subject()).await?).into_response())
}

async fn revoke_own<S: ApiKeyStore + Clone + 'static>(
    State(keys): State<Arc<ApiKeys<S>>>,
    ctx: UserContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiKeyError> {
    keys.revoke(&id, Some(ctx.subject())).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Page {
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn list_all<S: ApiKeyStore + Clone + 'static>(
    State(keys): State<Arc<ApiKeys<S>>>,
    _: RequirePermission<ManageApiKeys>,
    Query(page): Query<Page>,
) -> Result<Response, ApiKeyError> {
    Ok(Json(
        keys.list_all(page.limit.unwrap_or(100), page.offset.unwrap_or(0))
            .await?,
    )
    .into_response())
}

async fn revoke_any<S: ApiKeyStore + Clone + 'static>(
    State(keys): State<Arc<ApiKeys<S>>>,
    _: RequirePermission<ManageApiKeys>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiKeyError> {
    keys.revoke(&id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl<S: ApiKeyStore + Clone + 'static> ApiKeys<S> {
    /// The management routes, to merge into an application router behind the gateway.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/auth/api-keys", get(list_own::<S>).post(create::<S>))
            .route("/auth/api-keys/{id}", delete(revoke_own::<S>))
            .route("/admin/api-keys", get(list_all::<S>))
            .route("/admin/api-keys/{id}", delete(revoke_any::<S>))
            // A key request is a few hundred bytes: refuse megabytes before they are parsed.
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
            // Errors in the gateway's renderer, when the application configured one.
            .route_layer(RenderProblemsLayer)
            .with_state(self.clone())
    }
}
