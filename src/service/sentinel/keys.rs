//! Service keys: `X-Service-Key: sk_…`, each scoped to one service.
//!
//! A key is an API key of its own prefix (so neither kind is ever taken for the other: the
//! prefix is part of what is hashed) whose owner is the service it speaks for, marked with
//! the [`SERVICE_SCOPE`] scope. It is shown once and stored as its SHA-256 digest, checked in
//! constant time, and refused from the very next request once revoked.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, StatusCode};
use serde::Serialize;

use super::{SentinelApi, SentinelError, SentinelStore};
use crate::api_key::NewApiKey;
use crate::error::AuthError;
use crate::render::Problem;

/// What service keys start with (Sentinel's form).
pub(super) const PREFIX: &str = "sk_";

/// The scope that marks an API key as a service key.
pub(super) const SERVICE_SCOPE: &str = "portcullis:service";

pub(super) static SERVICE_KEY: HeaderName = HeaderName::from_static("x-service-key");

/// A service name: a lowercase letter then `a-z`, `0-9`, `-`, `_`, at most 64 bytes (what the
/// tenant and entity models take).
pub(super) fn check_service_name(name: &str) -> Result<(), SentinelError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    ok.then_some(()).ok_or(SentinelError::Invalid {
        field: "service_name",
        message: "a lowercase letter then up to 63 of `a-z`, `0-9`, `-`, `_`".into(),
    })
}

/// A freshly made service key: the only time its secret is seen.
#[derive(Clone, Serialize)]
#[non_exhaustive]
pub struct CreatedServiceKey {
    /// The whole key (`sk_…`): give it to the service, then forget it.
    pub key: String,
    /// Its public id (for revoking it).
    pub id: String,
    /// The service it speaks for.
    pub service: String,
}

impl std::fmt::Debug for CreatedServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedServiceKey")
            .field("id", &self.id)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// The service the request's key speaks for (put in the request's extensions by the key
/// layer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ServiceScope(pub(super) Arc<str>);

impl<S: SentinelStore> SentinelApi<S> {
    /// Makes a key for `service`, named `name` for the lists.
    pub async fn create_service_key(
        &self,
        service: &str,
        name: &str,
    ) -> Result<CreatedServiceKey, SentinelError> {
        check_service_name(service)?;
        let created = self
            .inner
            .keys
            .create(
                service,
                NewApiKey {
                    name: name.to_owned(),
                    scopes: vec![SERVICE_SCOPE.to_owned()],
                    ..NewApiKey::default()
                },
            )
            .await?;
        Ok(CreatedServiceKey {
            key: created.key,
            id: created.view.id,
            service: service.to_owned(),
        })
    }

    /// Revokes the key `id` of `service`: refused from the next request on.
    pub async fn revoke_service_key(&self, service: &str, id: &str) -> Result<(), SentinelError> {
        Ok(self.inner.keys.revoke(id, Some(service)).await?)
    }

    /// The service `key` speaks for, or why not.
    pub(super) async fn service_of(&self, key: &str) -> Result<ServiceScope, AuthError> {
        let ctx = self.inner.keys.check(key).await?;
        if !ctx.has_scope(SERVICE_SCOPE) {
            return Err(AuthError::MissingCredentials);
        }
        Ok(ServiceScope(Arc::from(ctx.subject())))
    }
}

/// The key layer: no key, two keys or a key that is not a live service key is 401 before any
/// other check (the SDK sends one on every call).
pub(crate) async fn require_service_key<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    mut request: Request,
    next: Next,
) -> Response {
    let mut values = request.headers().get_all(&SERVICE_KEY).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return unauthorized("A service key is required (X-Service-Key).");
    };
    let Ok(key) = value.to_str() else {
        return unauthorized("The service key is not valid.");
    };
    match api.service_of(key).await {
        Ok(scope) => {
            request.extensions_mut().insert(scope);
            next.run(request).await
        }
        Err(AuthError::Unavailable) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service keys cannot be checked now; try again.",
        )
        .into_response(),
        Err(_) => unauthorized("The service key is not valid."),
    }
}

fn unauthorized(detail: &'static str) -> Response {
    Problem::new(StatusCode::UNAUTHORIZED, "invalid_service_key", detail).into_response()
}
