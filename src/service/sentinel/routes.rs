//! The routes of Sentinel's API: see [`SentinelApi::router`].

use axum::extract::{Path, Query, State};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Extension, Json, Router};
use http::StatusCode;
use serde_json::{Value, json};

use super::bearer::SentinelBearer;
use super::keys::{ServiceScope, check_service_name, require_service_key};
use super::wire::{self, Body422, Names};
use super::workspace::check_workspace_id;
use super::{MAX_CHECKS, SentinelApi, SentinelError, SentinelStore, TokenKind};
use crate::acl::{AclError, MAX_PAGE, NewResource};
use crate::authz::Scope;
use crate::context::UserContext;
use crate::gateway::AuthGateway;
use crate::rbac::Action;
use crate::render::{Problem, RenderProblemsLayer};
use crate::store::{ResourceKey, SubjectKind};
use crate::tenant::TenantError;

/// Most members listed by the member search (Sentinel clamps its `limit` to 1–50).
const MAX_MEMBER_SEARCH: usize = 50;

/// Most group members listed at once.
const MAX_GROUP_MEMBERS: usize = 1000;

type Answer = Result<Response, Refusal>;

/// A refusal, boxed so that every handler's error side stays one pointer wide.
struct Refusal(Box<Response>);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<Response> for Refusal {
    fn from(response: Response) -> Self {
        Self(Box::new(response))
    }
}

/// 422, as FastAPI answers input it cannot validate.
fn unprocessable(detail: impl Into<std::borrow::Cow<'static, str>>) -> Refusal {
    wire::unprocessable(detail).into()
}

impl<S: SentinelStore> SentinelApi<S> {
    /// Every route of the API, ready to serve (see the [module](super) for the rules):
    ///
    /// - without a key: `GET /.well-known/jwks.json`, `GET /health`, `POST /auth/token`
    ///   (`{email, password, workspace_id}` → a `sentinel:access` token);
    /// - with a service key: `GET /realm/whoami`, `POST /realm/m2m-token`, `RoleClient`'s
    ///   `/roles/…` and `PermissionClient`'s `/permissions/…` and `/workspaces/…`.
    ///
    /// Refusals are `application/problem+json`.
    pub fn router(&self) -> Router {
        let mut gateway = AuthGateway::new()
            .strategy(SentinelBearer::new(self.clone()))
            .optional()
            .without_enrichment()
            .authorizer(self.inner.acl.clone());
        if let Some(trail) = &self.inner.config.audit {
            gateway = gateway
                .observe(trail.clone())
                .audit_auth_failures(trail.clone());
        }
        let gateway = gateway.build();
        let keyed = Router::new()
            .route("/realm/whoami", get(whoami))
            .route("/realm/m2m-token", post(m2m_token::<S>))
            .route("/roles/actions/register", post(register_actions::<S>))
            .route("/roles/check-action", post(check_action))
            .route("/roles/user-actions", get(user_actions::<S>))
            .route("/permissions/check", post(check::<S>))
            .route("/permissions/accessible", post(accessible::<S>))
            .route("/permissions/register", post(register::<S>))
            .route(
                "/permissions/resource/{service}/{kind}/{id}",
                get(resource_acl::<S>).delete(deregister::<S>),
            )
            .route(
                "/permissions/resource/{service}/{kind}/{id}/enriched",
                get(enriched_acl::<S>),
            )
            .route(
                "/permissions/{handle}/share",
                post(share::<S>).delete(unshare::<S>),
            )
            .route("/permissions/{handle}/visibility", patch(visibility::<S>))
            .route("/workspaces/{workspace}/members", get(members::<S>))
            .route("/workspaces/{workspace}/groups", get(groups::<S>))
            .route(
                "/workspaces/{workspace}/groups/{group}/members",
                get(group_members::<S>),
            );
        let keyed = match gateway {
            Ok(layer) => keyed.route_layer(layer),
            // The gateway is built from parts that always fit; should that ever change, the
            // routes fail closed rather than run without it.
            Err(error) => {
                tracing::error!(%error, "the Sentinel API's gateway could not be built");
                Router::new().fallback(|| async {
                    Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "The service is misconfigured.",
                    )
                })
            }
        };
        let keyed = keyed.route_layer(middleware::from_fn_with_state(
            self.clone(),
            require_service_key::<S>,
        ));
        Router::new()
            .route("/.well-known/jwks.json", get(jwks::<S>))
            .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
            .route("/auth/token", post(password_token::<S>))
            .merge(keyed)
            .layer(RenderProblemsLayer)
            .with_state(self.clone())
    }
}

fn problem(
    status: StatusCode,
    code: &'static str,
    detail: impl Into<std::borrow::Cow<'static, str>>,
) -> Refusal {
    Problem::new(status, code, detail).into_response().into()
}

fn forbidden(detail: &'static str) -> Refusal {
    problem(StatusCode::FORBIDDEN, "forbidden", detail)
}

fn unavailable() -> Refusal {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "The store could not be asked; nothing changed. Try again.",
    )
}

fn acl_error(error: AclError) -> Refusal {
    match error {
        AclError::Invalid(what) => unprocessable(format!("invalid {what}")),
        AclError::NotFound(what) => problem(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("No such {what}."),
        ),
        AclError::Forbidden => forbidden("Only the owner or a workspace admin may do this."),
        AclError::NotAMember => {
            unprocessable("The grantee is not a member of the resource's workspace.")
        }
        AclError::Conflict(what) => problem(StatusCode::CONFLICT, "conflict", what),
        AclError::Unavailable => unavailable(),
    }
}

fn tenant_error(error: TenantError) -> Refusal {
    match error {
        TenantError::InvalidInput { message, .. } => unprocessable(message),
        TenantError::NotFound(what) => problem(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("No such {what}."),
        ),
        TenantError::Unavailable => unavailable(),
        other => problem(StatusCode::CONFLICT, "conflict", other.to_string()),
    }
}

fn sentinel_error(error: SentinelError) -> Refusal {
    match error {
        SentinelError::Invalid { field, message } => unprocessable(format!("{field}: {message}")),
        SentinelError::NotFound(what) => problem(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("No such {what}."),
        ),
        SentinelError::Tenant(error) => tenant_error(error),
        _ => unavailable(),
    }
}

/// The service named in a body or path must be the key's.
fn same_service(scope: &ServiceScope, named: &str) -> Result<(), Refusal> {
    check_service_name(named).map_err(sentinel_error)?;
    if *scope.0 == *named {
        Ok(())
    } else {
        Err(forbidden("The service key is for another service."))
    }
}

/// A token bound to a service (`svc`) must be presented by that service's key.
fn bound_to(ctx: &UserContext, scope: &ServiceScope) -> Result<(), Refusal> {
    match ctx.claims().get("svc") {
        None => Ok(()),
        Some(Value::String(svc)) if *svc == *scope.0 => Ok(()),
        Some(_) => Err(forbidden("The token was issued for another service.")),
    }
}

/// The workspace asked about must be the token's.
fn own_workspace(ctx: &UserContext, workspace: &str) -> Result<(), Refusal> {
    check_workspace_id(workspace).map_err(sentinel_error)?;
    if ctx.tenant() == Some(workspace) {
        Ok(())
    } else {
        Err(forbidden("The token is for another workspace."))
    }
}

/// A resource key from a request's parts, checked as the entity model checks keys.
fn resource_key(service: &str, kind: &str, id: &str) -> ResourceKey {
    ResourceKey::new(service, kind, id)
}

async fn jwks<S: SentinelStore>(State(api): State<SentinelApi<S>>) -> Json<Value> {
    Json(api.jwks())
}

async fn whoami(Extension(scope): Extension<ServiceScope>) -> Json<Value> {
    Json(json!({
        "service_name": &*scope.0,
        "effective_scope": &*scope.0,
        "realm": null,
    }))
}

async fn m2m_token<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    Extension(scope): Extension<ServiceScope>,
) -> Answer {
    let issued = api.issue_m2m(&scope.0).map_err(sentinel_error)?;
    Ok(Json(issued).into_response())
}

async fn password_token<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    Body422(login): Body422<wire::PasswordLogin>,
) -> Answer {
    check_workspace_id(&login.workspace_id).map_err(sentinel_error)?;
    let refused = || {
        problem(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "The e-mail address, the password or the workspace is not right.",
        )
    };
    let user = match api
        .inner
        .identity
        .verify_credentials(&login.email, &login.password, None)
        .await
    {
        Ok(user) => user,
        Err(crate::identity::IdentityError::Unavailable) => return Err(unavailable()),
        Err(crate::identity::IdentityError::Throttled { .. }) => {
            return Err(problem(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                "Too many attempts; wait before trying again.",
            ));
        }
        Err(_) => return Err(refused()),
    };
    // Not a member gets the same answer as a wrong password: the route tells no one who
    // belongs where.
    match api
        .issue(&user.id, &login.workspace_id, TokenKind::Access)
        .await
    {
        Ok(issued) => Ok(Json(json!({
            "access_token": issued.token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
        }))
        .into_response()),
        Err(SentinelError::NotFound(_)) => Err(refused()),
        Err(other) => Err(sentinel_error(other)),
    }
}

async fn register_actions<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    Extension(scope): Extension<ServiceScope>,
    Body422(body): Body422<wire::RegisterActions>,
) -> Answer {
    same_service(&scope, &body.service_name)?;
    let tenancy = &api.inner.tenancy;
    tenancy
        .register_actions(&body.service_name, &body.actions)
        .await
        .map_err(tenant_error)?;
    let registered = tenancy
        .actions(Some(&body.service_name))
        .await
        .map_err(tenant_error)?;
    let listed: Vec<Value> = registered
        .iter()
        .filter(|record| body.actions.iter().any(|a| a.action == record.action))
        .map(|record| {
            json!({
                "id": format!("{}:{}", record.service, record.action),
                "service_name": record.service,
                "action": record.action,
                "description": record.description,
                "created_at": wire::timestamp(record.registered_at),
            })
        })
        .collect();
    Ok((StatusCode::CREATED, Json(Value::Array(listed))).into_response())
}

async fn check_action(
    Extension(scope): Extension<ServiceScope>,
    ctx: UserContext,
    Body422(body): Body422<wire::CheckAction>,
) -> Answer {
    same_service(&scope, &body.service_name)?;
    bound_to(&ctx, &scope)?;
    own_workspace(&ctx, &body.workspace_id)?;
    let action =
        Action::parse(&body.action).map_err(|error| unprocessable(format!("action: {error}")))?;
    let decision = crate::tenant::check_action(&ctx, &action, &body.workspace_id)
        .await
        .map_err(|_| unprocessable("workspace_id: not a workspace"))?;
    if decision.reason() == crate::error::Reason::Unavailable {
        return Err(unavailable());
    }
    let roles: Vec<&str> = ctx
        .claims()
        .get("wrole")
        .and_then(Value::as_str)
        .filter(|_| decision.is_allowed())
        .into_iter()
        .collect();
    Ok(Json(json!({ "allowed": decision.is_allowed(), "roles": roles })).into_response())
}

async fn user_actions<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    Extension(scope): Extension<ServiceScope>,
    ctx: UserContext,
    Query(query): Query<wire::UserActions>,
) -> Answer {
    same_service(&scope, &query.service_name)?;
    bound_to(&ctx, &scope)?;
    own_workspace(&ctx, &query.workspace_id)?;
    let at = Scope::tenant(&query.workspace_id)
        .map_err(|_| unprocessable("workspace_id: not a workspace"))?;
    let actions = api
        .inner
        .tenancy
        .user_actions(&ctx, &at, Some(&query.service_name))
        .await
        .map_err(tenant_error)?;
    Ok(Json(json!({ "actions": actions })).into_response())
}

async fn check<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    Extension(scope): Extension<ServiceScope>,
    ctx: UserContext,
    Body422(body): Body422<wire::Checks>,
) -> Answer {
    bound_to(&ctx, &scope)?;
    if body.checks.len() > MAX_CHECKS {
        return Err(unprocessable(format!("checks: at most {MAX_CHECKS}")));
    }
    let mut asked = Vec::with_capacity(body.checks.len());
    for item in &body.checks {
        same_service(&scope, &item.service_name)?;
        let access =
            wire::access(&item.action).ok_or_else(|| unprocessable("action: `view` or `edit`"))?;
        asked.push((
            resource_key(&item.service_name, &item.resource_type, &item.resource_id),
            access,
        ));
    }
    let decisions = api.inner.acl.check(&ctx, &asked).await.map_err(acl_error)?;
    let mut results = Vec::with_capacity(decisions.len());
    for (item, decision) in body.checks.iter().zip(&decisions) {
        if decision.reason() == crate::error::Reason::Unavailable {
            return Err(unavailable());
        }
        results.push(wire::CheckResult {
            service_name: &item.service_name,
            resource_type: &item.resource_type,
            resource_id: &item.resource_id,
            action: &item.action,
            allowed: decision.is_allowed(),
        });
    }
    Ok(Json(json!({ "results": results })).into_response())
}

async fn accessible<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    Extension(scope): Extension<ServiceScope>,
    ctx: UserContext,
    Body422(body): Body422<wire::AccessibleQuery>,
) -> Answer {
    same_service(&scope, &body.service_name)?;
    bound_to(&ctx, &scope)?;
    own_workspace(&ctx, &body.workspace_id)?;
    let access =
        wire::access(&body.action).ok_or_else(|| unprocessable("action: `view` or `edit`"))?;
    let limit = match body.limit {
        None => MAX_PAGE,
        Some(limit) if (1..=MAX_PAGE as i64).contains(&limit) => limit as usize,
        Some(_) => return Err(unprocessable(format!("limit: 1 to {MAX_PAGE}"))),
    };
    let found = api
        .inner
        .acl
        .accessible(
            &ctx,
            &body.service_name,
            &body.resource_type,
            access,
            &body.workspace_id,
            limit,
            None,
        )
        .await
        .map_err(acl_error)?;
    Ok(Json(json!({
        "resource_ids": found.ids,
        "has_full_access": found.full_access,
    }))
    .into_response())
}

async fn register<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    Extension(scope): Extension<ServiceScope>,
    Body422(body): Body422<wire::RegisterResource>,
) -> Answer {
    same_service(&scope, &body.service_name)?;
    check_workspace_id(&body.workspace_id).map_err(sentinel_error)?;
    let visibility = wire::visibility(&body.visibility)
        .ok_or_else(|| unprocessable("visibility: `private` or `workspace`"))?;
    let key = resource_key(&body.service_name, &body.resource_type, &body.resource_id);
    let new =
        NewResource::new(key.clone(), &body.workspace_id, &body.owner_id).visibility(visibility);
    // The same owner again is no change (Sentinel's SDK registers on every create).
    api.inner.acl.register(new).await.map_err(acl_error)?;
    let record = api
        .inner
        .acl
        .store()
        .resource(&key)
        .await
        .map_err(|_| unavailable())?
        .ok_or_else(unavailable)?;
    Ok((
        StatusCode::CREATED,
        Json(wire::acl_record(&record, &[], None)),
    )
        .into_response())
}

async fn deregister<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    Extension(scope): Extension<ServiceScope>,
    Path((service, kind, id)): Path<(String, String, String)>,
) -> Answer {
    same_service(&scope, &service)?;
    api.inner
        .acl
        .deregister(&resource_key(&service, &kind, &id))
        .await
        .map_err(acl_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The record and shares of a resource of the key's service (the key's word suffices, as in
/// Sentinel: the service itself asks, to show its own sharing dialogs).
async fn record_and_shares<S: SentinelStore>(
    api: &SentinelApi<S>,
    scope: &ServiceScope,
    key: &ResourceKey,
) -> Result<(crate::store::ResourceRecord, Vec<crate::store::ShareRecord>), Refusal> {
    same_service(scope, &key.service)?;
    crate::acl::check_key(key).map_err(acl_error)?;
    let store = api.inner.acl.store();
    let record = store
        .resource(key)
        .await
        .map_err(|_| unavailable())?
        .ok_or_else(|| acl_error(AclError::NotFound("resource")))?;
    let shares = store.shares(key).await.map_err(|_| unavailable())?;
    Ok((record, shares))
}

async fn resource_acl<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    Extension(scope): Extension<ServiceScope>,
    Path((service, kind, id)): Path<(String, String, String)>,
) -> Answer {
    let key = resource_key(&service, &kind, &id);
    let (record, shares) = record_and_shares(&api, &scope, &key).await?;
    Ok(Json(wire::acl_record(&record, &shares, None)).into_response())
}

async fn enriched_acl<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    Extension(scope): Extension<ServiceScope>,
    Path((service, kind, id)): Path<(String, String, String)>,
) -> Answer {
    let key = resource_key(&service, &kind, &id);
    let (record, shares) = record_and_shares(&api, &scope, &key).await?;
    // Every user named once: the owner, the grantees and who granted.
    let mut users: Vec<&str> = vec![record.owner.as_str()];
    for share in &shares {
        if share.grantee_kind == SubjectKind::User {
            users.push(&share.grantee);
        }
        users.push(&share.granted_by);
    }
    users.sort_unstable();
    users.dedup();
    let mut emails = std::collections::HashMap::new();
    for user in users {
        let account = api
            .inner
            .identity
            .account(user)
            .await
            .map_err(|_| unavailable())?;
        if let Some(account) = account {
            emails.insert(user.to_owned(), account.email.clone());
        }
    }
    let names = |kind: SubjectKind, id: &str| match kind {
        SubjectKind::User => {
            let email = emails.get(id).cloned();
            Names {
                name: email.clone(),
                email,
            }
        }
        SubjectKind::Group => Names {
            name: Some(id.to_owned()),
            email: None,
        },
    };
    Ok(Json(wire::acl_record(&record, &shares, Some(&names))).into_response())
}

/// The resource a record handle names, of the key's service, with the caller bound to it.
fn handled(handle: &str, scope: &ServiceScope, ctx: &UserContext) -> Result<ResourceKey, Refusal> {
    let key =
        wire::key_of_handle(handle).ok_or_else(|| acl_error(AclError::NotFound("resource")))?;
    same_service(scope, &key.service)?;
    bound_to(ctx, scope)?;
    Ok(key)
}

fn grantee(body: &wire::Share) -> Result<SubjectKind, Refusal> {
    wire::grantee_kind(&body.grantee_type)
        .ok_or_else(|| unprocessable("grantee_type: `user` or `group`"))
}

async fn share<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    Extension(scope): Extension<ServiceScope>,
    ctx: UserContext,
    Path(handle): Path<String>,
    Body422(body): Body422<wire::Share>,
) -> Answer {
    let key = handled(&handle, &scope, &ctx)?;
    let kind = grantee(&body)?;
    let access = wire::access(&body.permission)
        .ok_or_else(|| unprocessable("permission: `view` or `edit`"))?;
    api.inner
        .acl
        .share(&ctx, &key, kind, &body.grantee_id, access)
        .await
        .map_err(acl_error)?;
    Ok((StatusCode::CREATED, Json(json!({"status": "ok"}))).into_response())
}

async fn unshare<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    Extension(scope): Extension<ServiceScope>,
    ctx: UserContext,
    Path(handle): Path<String>,
    Body422(body): Body422<wire::Share>,
) -> Answer {
    let key = handled(&handle, &scope, &ctx)?;
    let kind = grantee(&body)?;
    api.inner
        .acl
        .unshare(&ctx, &key, kind, &body.grantee_id)
        .await
        .map_err(acl_error)?;
    Ok(Json(json!({"status": "ok"})).into_response())
}

async fn visibility<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    Extension(scope): Extension<ServiceScope>,
    ctx: UserContext,
    Path(handle): Path<String>,
    Body422(body): Body422<wire::SetVisibility>,
) -> Answer {
    let key = handled(&handle, &scope, &ctx)?;
    let visibility = wire::visibility(&body.visibility)
        .ok_or_else(|| unprocessable("visibility: `private` or `workspace`"))?;
    let record = api
        .inner
        .acl
        .set_visibility(&ctx, &key, visibility)
        .await
        .map_err(acl_error)?;
    let shares = api
        .inner
        .acl
        .store()
        .shares(&key)
        .await
        .map_err(|_| unavailable())?;
    Ok(Json(wire::acl_record(&record, &shares, None)).into_response())
}

/// The e-mail address of each user, in order (`None` for an account that is gone).
async fn emails_of<S: SentinelStore>(
    api: &SentinelApi<S>,
    users: impl Iterator<Item = &str>,
) -> Result<Vec<Option<String>>, Refusal> {
    let mut emails = Vec::new();
    for user in users {
        let account = api
            .inner
            .identity
            .account(user)
            .await
            .map_err(|_| unavailable())?;
        emails.push(account.map(|a| a.email.clone()));
    }
    Ok(emails)
}

async fn members<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    Extension(scope): Extension<ServiceScope>,
    ctx: UserContext,
    Path(workspace): Path<String>,
    Query(search): Query<wire::MemberSearch>,
) -> Answer {
    bound_to(&ctx, &scope)?;
    own_workspace(&ctx, &workspace)?;
    let limit = search
        .limit
        .unwrap_or(MAX_MEMBER_SEARCH as i64)
        .clamp(1, MAX_MEMBER_SEARCH as i64) as usize;
    let wanted = search
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase);
    if wanted.as_ref().is_some_and(|q| q.len() > 256) {
        return Err(unprocessable("q: at most 256 bytes"));
    }
    let members = api.members(&workspace).await.map_err(sentinel_error)?;
    let emails = emails_of(&api, members.iter().map(|m| m.user_id.as_str())).await?;
    let listed: Vec<Value> = members
        .iter()
        .zip(emails)
        .filter(|(member, email)| match &wanted {
            None => true,
            Some(q) => {
                member.user_id.to_lowercase().contains(q)
                    || email.as_deref().is_some_and(|e| e.contains(q.as_str()))
            }
        })
        .take(limit)
        .map(|(member, email)| {
            json!({
                "user_id": member.user_id,
                "email": email,
                "name": email,
                "avatar_url": null,
                "role": member.role,
                "joined_at": wire::timestamp(member.joined_at),
            })
        })
        .collect();
    Ok(Json(Value::Array(listed)).into_response())
}

async fn groups<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    Extension(scope): Extension<ServiceScope>,
    ctx: UserContext,
    Path(workspace): Path<String>,
) -> Answer {
    bound_to(&ctx, &scope)?;
    own_workspace(&ctx, &workspace)?;
    let groups = api
        .inner
        .tenancy
        .groups(&workspace)
        .await
        .map_err(tenant_error)?;
    let listed: Vec<Value> = groups
        .iter()
        .map(|(group, since)| {
            json!({
                "id": group,
                "workspace_id": workspace,
                "name": group,
                "description": null,
                "created_by": null,
                "created_at": wire::timestamp(*since),
            })
        })
        .collect();
    Ok(Json(Value::Array(listed)).into_response())
}

async fn group_members<S: SentinelStore>(
    State(api): State<SentinelApi<S>>,
    Extension(scope): Extension<ServiceScope>,
    ctx: UserContext,
    Path((workspace, group)): Path<(String, String)>,
) -> Answer {
    bound_to(&ctx, &scope)?;
    own_workspace(&ctx, &workspace)?;
    let members = api
        .inner
        .tenancy
        .members(&workspace, &group)
        .await
        .map_err(tenant_error)?;
    let members: Vec<String> = members.into_iter().take(MAX_GROUP_MEMBERS).collect();
    let emails = emails_of(&api, members.iter().map(String::as_str)).await?;
    let listed: Vec<Value> = members
        .iter()
        .zip(emails)
        .map(|(user, email)| {
            json!({
                "user_id": user,
                "email": email,
                "name": email,
                "added_at": null,
            })
        })
        .collect();
    Ok(Json(Value::Array(listed)).into_response())
}
