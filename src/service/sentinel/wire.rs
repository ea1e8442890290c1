//! The JSON shapes of Sentinel's API, and reading request bodies as FastAPI would (422 for a
//! body of the wrong shape).

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::MAX_BODY_BYTES;
use crate::render::Problem;
use crate::service::body::{BodyError, json_within};
use crate::store::{Access, ResourceKey, ResourceRecord, ShareRecord, SubjectKind, Visibility};

/// A body of type `T`: 413 when too large, 422 when not JSON or not of `T`'s shape (unknown
/// fields are ignored, as pydantic does).
pub(super) struct Body422<T>(pub(super) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body422<T> {
    type Rejection = Response;

    async fn from_request(request: Request<Body>, _: &S) -> Result<Self, Response> {
        let value = match json_within(request, MAX_BODY_BYTES).await {
            Ok(value) => value,
            Err(BodyError::TooLarge) => {
                return Err(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("The body is larger than {MAX_BODY_BYTES} bytes."),
                )
                .into_response());
            }
            Err(other) => return Err(unprocessable(other.describe())),
        };
        serde_json::from_value(value)
            .map(Self)
            .map_err(|error| unprocessable(format!("The body does not fit: {error}")))
    }
}

/// 422, as FastAPI answers input it cannot validate.
pub(super) fn unprocessable(detail: impl Into<std::borrow::Cow<'static, str>>) -> Response {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", detail).into_response()
}

/// `view` or `edit`.
pub(super) fn access(text: &str) -> Option<Access> {
    match text {
        "view" => Some(Access::View),
        "edit" => Some(Access::Edit),
        _ => None,
    }
}

fn access_name(access: Access) -> &'static str {
    match access {
        Access::View => "view",
        Access::Edit => "edit",
    }
}

/// Sentinel's visibilities: `private` and `workspace` (the model's `tenant`).
pub(super) fn visibility(text: &str) -> Option<Visibility> {
    match text {
        "private" => Some(Visibility::Private),
        "workspace" => Some(Visibility::Tenant),
        _ => None,
    }
}

fn visibility_name(visibility: Visibility) -> &'static str {
    match visibility {
        Visibility::Private => "private",
        Visibility::Tenant => "workspace",
        Visibility::Public => "public",
    }
}

/// `user` or `group`.
pub(super) fn grantee_kind(text: &str) -> Option<SubjectKind> {
    match text {
        "user" => Some(SubjectKind::User),
        "group" => Some(SubjectKind::Group),
        _ => None,
    }
}

fn grantee_kind_name(kind: SubjectKind) -> &'static str {
    match kind {
        SubjectKind::User => "user",
        SubjectKind::Group => "group",
    }
}

/// Longest record handle taken from a path, in bytes.
const MAX_HANDLE_BYTES: usize = 1024;

/// The ACL record's `id`: an opaque handle of the resource's key, which the SDK reads from the
/// record and sends back in `/permissions/{id}/…` (it knows the resource by its key only).
pub(super) fn handle(key: &ResourceKey) -> String {
    let joined = format!("{}/{}/{}", key.service, key.kind, key.id);
    URL_SAFE_NO_PAD.encode(joined)
}

/// The key a handle names; `None` for anything [`handle`] does not make.
pub(super) fn key_of_handle(handle: &str) -> Option<ResourceKey> {
    if handle.len() > MAX_HANDLE_BYTES {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(handle).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.splitn(3, '/');
    let (service, kind, id) = (parts.next()?, parts.next()?, parts.next()?);
    Some(ResourceKey::new(service, kind, id))
}

/// Seconds since the epoch as RFC 3339 (`2026-12-06T07:10:00Z`).
pub(super) fn timestamp(seconds: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds.max(0).unsigned_abs());
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Display data of a user or group, for the enriched ACL.
#[derive(Clone, Debug, Default)]
pub(super) struct Names {
    pub(super) name: Option<String>,
    pub(super) email: Option<String>,
}

/// Looks up the display data of a user or group.
pub(super) type NameOf<'a> = &'a dyn Fn(SubjectKind, &str) -> Names;

/// A resource's ACL record, as Sentinel's `ResourceACLResponse`; with `names`, the enriched
/// form (each id's display data, looked up by the caller).
pub(super) fn acl_record(
    record: &ResourceRecord,
    shares: &[ShareRecord],
    names: Option<NameOf<'_>>,
) -> Value {
    let mut value = json!({
        "id": handle(&record.key),
        "service_name": record.key.service,
        "resource_type": record.key.kind,
        "resource_id": record.key.id,
        "workspace_id": record.tenant,
        "owner_id": record.owner,
        "visibility": visibility_name(record.visibility),
        "created_at": timestamp(record.created_at),
    });
    let shares: Vec<Value> = shares
        .iter()
        .map(|share| {
            let mut item = json!({
                "id": format!("{}:{}", grantee_kind_name(share.grantee_kind), share.grantee),
                "grantee_type": grantee_kind_name(share.grantee_kind),
                "grantee_id": share.grantee,
                "permission": access_name(share.access),
                "granted_by": share.granted_by,
                "granted_at": timestamp(share.granted_at),
            });
            if let (Some(names), Some(map)) = (names, item.as_object_mut()) {
                let grantee = names(share.grantee_kind, &share.grantee);
                let grantor = names(SubjectKind::User, &share.granted_by);
                map.insert("grantee_name".into(), json!(grantee.name));
                map.insert("grantee_email".into(), json!(grantee.email));
                map.insert("granted_by_name".into(), json!(grantor.name));
            }
            item
        })
        .collect();
    if let Some(map) = value.as_object_mut() {
        if let Some(names) = names {
            let owner = names(SubjectKind::User, &record.owner);
            map.insert("owner_name".into(), json!(owner.name));
            map.insert("owner_email".into(), json!(owner.email));
        }
        map.insert("shares".into(), Value::Array(shares));
    }
    value
}

/// `POST /roles/actions/register`.
#[derive(Deserialize)]
pub(super) struct RegisterActions {
    pub(super) service_name: String,
    pub(super) actions: Vec<crate::tenant::NewAction>,
}

/// `POST /roles/check-action`.
#[derive(Deserialize)]
pub(super) struct CheckAction {
    pub(super) service_name: String,
    pub(super) action: String,
    pub(super) workspace_id: String,
}

/// `GET /roles/user-actions`.
#[derive(Deserialize)]
pub(super) struct UserActions {
    pub(super) service_name: String,
    pub(super) workspace_id: String,
}

/// One item of `POST /permissions/check`.
#[derive(Deserialize)]
pub(super) struct CheckItem {
    pub(super) service_name: String,
    pub(super) resource_type: String,
    pub(super) resource_id: String,
    pub(super) action: String,
}

/// `POST /permissions/check`.
#[derive(Deserialize)]
pub(super) struct Checks {
    pub(super) checks: Vec<CheckItem>,
}

/// One answer of `POST /permissions/check`.
#[derive(Serialize)]
pub(super) struct CheckResult<'a> {
    pub(super) service_name: &'a str,
    pub(super) resource_type: &'a str,
    pub(super) resource_id: &'a str,
    pub(super) action: &'a str,
    pub(super) allowed: bool,
}

/// `POST /permissions/accessible`.
#[derive(Deserialize)]
pub(super) struct AccessibleQuery {
    pub(super) service_name: String,
    pub(super) resource_type: String,
    pub(super) action: String,
    pub(super) workspace_id: String,
    #[serde(default)]
    pub(super) limit: Option<i64>,
}

/// `POST /permissions/register`.
#[derive(Deserialize)]
pub(super) struct RegisterResource {
    pub(super) service_name: String,
    pub(super) resource_type: String,
    pub(super) resource_id: String,
    pub(super) workspace_id: String,
    pub(super) owner_id: String,
    #[serde(default = "workspace_visibility")]
    pub(super) visibility: String,
}

fn workspace_visibility() -> String {
    "workspace".into()
}

/// `POST` and `DELETE /permissions/{id}/share`.
#[derive(Deserialize)]
pub(super) struct Share {
    pub(super) grantee_type: String,
    pub(super) grantee_id: String,
    #[serde(default = "view")]
    pub(super) permission: String,
}

fn view() -> String {
    "view".into()
}

/// `PATCH /permissions/{id}/visibility`.
#[derive(Deserialize)]
pub(super) struct SetVisibility {
    pub(super) visibility: String,
}

/// `POST /auth/token`.
#[derive(Deserialize)]
pub(super) struct PasswordLogin {
    pub(super) email: String,
    pub(super) password: String,
    pub(super) workspace_id: String,
}

/// `GET /workspaces/{id}/members`.
#[derive(Deserialize)]
pub(super) struct MemberSearch {
    #[serde(default)]
    pub(super) q: Option<String>,
    #[serde(default)]
    pub(super) limit: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip_and_refuse_what_they_did_not_make() {
        let key = ResourceKey::new("docs", "document", "a/b c");
        assert_eq!(key_of_handle(&handle(&key)), Some(key));
        assert_eq!(key_of_handle("not base64 !"), None);
        assert_eq!(key_of_handle(&URL_SAFE_NO_PAD.encode("only/two")), None);
        assert_eq!(key_of_handle(&"A".repeat(MAX_HANDLE_BYTES + 4)), None);
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_796_540_400), "2026-12-06T07:00:00Z");
    }
}
