//! The management routes of the tenant role model: see [`Tenancy::router`].

use axum::extract::{FromRequest, FromRequestParts, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::manage::{MAX_PAGE, NewAction, NewAssignment, NewRole, RoleUpdate, TenantError};
use super::{Tenancy, TenantStore};
use crate::authz::{Decision, Granted, Scope, ScopeRule, Via};
use crate::context::{AuthMethod, UserContext};
use crate::error::Requirement;
use crate::rbac::{Action, ActionGrant, Permission};
use crate::render::{Problem, RenderProblemsLayer};
use crate::require::RequireLayer;
use crate::store::roles::{AssignmentFilter, Grant, RoleFilter, RoleRecord, SubjectKind};

/// Largest request body the routes accept (413 beyond): a role with every grant it may have
/// and its metadata fit well inside.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

impl From<TenantError> for Problem {
    fn from(error: TenantError) -> Self {
        let conflict =
            |code, detail: &'static str| Problem::new(StatusCode::CONFLICT, code, detail);
        match error {
            TenantError::InvalidInput { field, message } => {
                Problem::new(StatusCode::BAD_REQUEST, "invalid_input", message).with_field(field)
            }
            TenantError::NotFound("parent role") => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_input",
                "The parent is not a role of the same tenant and namespace.",
            )
            .with_field("parent"),
            TenantError::NotFound(what) => Problem::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("No such {what}."),
            ),
            TenantError::Duplicate(what) => Problem::new(
                StatusCode::CONFLICT,
                "duplicate",
                format!("That {what} exists already."),
            ),
            TenantError::Cycle => conflict("cycle", "The parent would make the roles a cycle."),
            TenantError::TooDeep => conflict(
                "too_deep",
                "The role hierarchy would be deeper than 16 roles.",
            ),
            TenantError::SystemRole => conflict("system_role", "A system role cannot be changed."),
            TenantError::RoleFull => {
                conflict("role_full", "The role has as many members as it may have.")
            }
            TenantError::HasChildren => conflict(
                "has_children",
                "Other roles inherit from this role; change them first.",
            ),
            // As the gateway's and the identity routes' 503: a client's retry logic sees it.
            TenantError::Unavailable => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Temporarily unavailable; try again shortly.",
            )
            .with_header(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("5"),
            ),
        }
    }
}

impl IntoResponse for TenantError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

/// A route's failure: the engine's, or a refusal of the route's own.
enum Failure {
    Engine(TenantError),
    Forbidden(String),
}

impl From<TenantError> for Failure {
    fn from(error: TenantError) -> Self {
        Self::Engine(error)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Self::Engine(error) => error.into_response(),
            Self::Forbidden(why) => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", why).into_response()
            }
        }
    }
}

type Answer = Result<Response, Failure>;

/// The problem for an extractor's rejection: the routes answer problem+json for a body, query
/// or path segment that does not deserialize as for any other bad input.
fn rejected(status: StatusCode, text: String) -> Problem {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            status,
            "body_too_large",
            format!("The body is larger than {} KiB.", MAX_BODY_BYTES / 1024),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Problem::new(
            status,
            "unsupported_media_type",
            "The body must be application/json.",
        ),
        // An unknown field, a wrong type, broken JSON (axum says 422 or 400): bad input.
        status if status.is_client_error() => {
            Problem::new(StatusCode::BAD_REQUEST, "invalid_input", text)
        }
        status => Problem::new(status, "internal_error", text),
    }
}

/// [`Json`] with its rejection as a problem.
struct Payload<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Payload<T> {
    type Rejection = Problem;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(e) => Err(rejected(e.status(), e.body_text())),
        }
    }
}

/// [`Query`] with its rejection as a problem.
struct Params<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Problem> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(e) => Err(rejected(e.status(), e.body_text())),
        }
    }
}

/// [`Path`] with its rejection as a problem (a segment that is not UTF-8 once decoded).
struct Segments<T>(T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Segments<T> {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Problem> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(e) => Err(rejected(e.status(), e.body_text())),
        }
    }
}

fn scope_of(tenant: &str, namespace: &str) -> Result<Scope, TenantError> {
    let invalid = |e: crate::authz::ScopeError| TenantError::InvalidInput {
        field: "namespace",
        message: e.to_string(),
    };
    let scope = Scope::tenant(tenant).map_err(|e| TenantError::InvalidInput {
        field: "tenant",
        message: e.to_string(),
    })?;
    if namespace.is_empty() {
        Ok(scope)
    } else {
        scope.in_namespace(namespace).map_err(invalid)
    }
}

/// Refuses unless the caller holds every grant and role name at the namespace (see
/// `holding`); answers until when they hold it all (`None`: without end).
async fn must_hold<S: TenantStore>(
    t: &Tenancy<S>,
    ctx: &UserContext,
    tenant: &str,
    namespace: &str,
    grants: &[Grant],
    roles: &[String],
) -> Result<Option<i64>, Failure> {
    let at = scope_of(tenant, namespace)?;
    let holding = t.holding(ctx, &at, grants, roles).await?;
    match holding.lacks {
        None => Ok(holding.until),
        Some(what) => Err(Failure::Forbidden(format!(
            "you cannot hand on {what}: you do not hold it yourself"
        ))),
    }
}

/// Refuses what would be given without end when the caller holds it only until `until`.
fn for_good(until: Option<i64>) -> Result<(), Failure> {
    match until {
        None => Ok(()),
        Some(at) => Err(Failure::Forbidden(format!(
            "you hold this only until {at}: you cannot give it without end"
        ))),
    }
}

/// Refuses unless the caller holds everything role `id` gives (its parents' grants and names
/// included): nobody changes, takes away or deletes a role stronger than their own rights (a
/// delegated administrator cannot strip the owner). Answers the role and until when the caller
/// holds what it gives.
async fn must_hold_role<S: TenantStore>(
    t: &Tenancy<S>,
    ctx: &UserContext,
    tenant: &str,
    id: &str,
) -> Result<(RoleRecord, Option<i64>), Failure> {
    let role = t
        .role(tenant, id)
        .await?
        .ok_or(TenantError::NotFound("role"))?;
    let (grants, names) = t.gives(tenant, &role.id).await?;
    let until = must_hold(t, ctx, tenant, &role.namespace, &grants, &names).await?;
    Ok((role, until))
}

#[derive(Serialize)]
struct RoleView {
    #[serde(flatten)]
    role: RoleRecord,
    permissions: Vec<String>,
    actions: Vec<String>,
}

fn view(role: RoleRecord, grants: Vec<Grant>) -> RoleView {
    let GrantsBody {
        permissions,
        actions,
    } = split(grants);
    RoleView {
        role,
        permissions,
        actions,
    }
}

/// Grants as the routes show them: permissions and actions apart.
fn split(grants: Vec<Grant>) -> GrantsBody {
    let mut body = GrantsBody::default();
    for grant in grants {
        match grant {
            Grant::Permission(p) => body.permissions.push(p.as_str().to_owned()),
            Grant::Action(a) => body.actions.push(a.as_str().to_owned()),
        }
    }
    body
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleQuery {
    namespace: Option<String>,
    namespace_prefix: Option<String>,
    system: Option<bool>,
    default: Option<bool>,
    parent: Option<String>,
    search: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn list_roles<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    Segments(tenant): Segments<String>,
    Params(q): Params<RoleQuery>,
) -> Answer {
    let filter = RoleFilter {
        tenant,
        namespace: q.namespace,
        namespace_prefix: q.namespace_prefix,
        system: q.system,
        default: q.default,
        parent: q.parent,
        search: q.search,
        limit: q.limit.unwrap_or(100).min(MAX_PAGE),
        offset: q.offset.unwrap_or(0),
    };
    let total = t.count_roles(filter.clone()).await?;
    let roles = t.list_roles(filter).await?;
    Ok(Json(serde_json::json!({ "roles": roles, "total": total })).into_response())
}

async fn create_role<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    ctx: UserContext,
    Segments(tenant): Segments<String>,
    Payload(new): Payload<NewRole>,
) -> Answer {
    t.sync(&tenant).await?;
    // What the role would give: its own grants and everything its parent gives. (Its own name
    // is new: nobody holds it until it is given, and giving it is checked then.)
    let mut grants = super::manage::parsed_grants(&new)?;
    let mut names = Vec::new();
    if let Some(parent) = &new.parent
        && let Some(parent) = t.role_by_slug(&tenant, &new.namespace, parent).await?
    {
        let (more, parents) = t.gives(&tenant, &parent.id).await?;
        grants.extend(more);
        names = parents;
    }
    let until = must_hold(&t, &ctx, &tenant, &new.namespace, &grants, &names).await?;
    if new.is_default {
        // Given to every credential of the tenant on first sight, for good.
        for_good(until)?;
    }
    let role = t.create_role(&tenant, new).await?;
    let grants = t.role_grants(&tenant, &role.id).await?;
    Ok((StatusCode::CREATED, Json(view(role, grants))).into_response())
}

async fn get_role<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    Segments((tenant, id)): Segments<(String, String)>,
) -> Answer {
    let role = t
        .role(&tenant, &id)
        .await?
        .ok_or(TenantError::NotFound("role"))?;
    let grants = t.role_grants(&tenant, &id).await?;
    Ok(Json(view(role, grants)).into_response())
}

async fn update_role<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    ctx: UserContext,
    Segments((tenant, id)): Segments<(String, String)>,
    Payload(change): Payload<RoleUpdate>,
) -> Answer {
    t.sync(&tenant).await?;
    let (role, mut until) = must_hold_role(&t, &ctx, &tenant, &id).await?;
    if let Some(Some(parent)) = &change.parent
        && let Some(parent) = t.role_by_slug(&tenant, &role.namespace, parent).await?
    {
        let (grants, names) = t.gives(&tenant, &parent.id).await?;
        let parent_until = must_hold(&t, &ctx, &tenant, &role.namespace, &grants, &names).await?;
        until = match (until, parent_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    if change.is_default == Some(true) {
        // A default role is given to every credential of the tenant on first sight, for good.
        for_good(until)?;
    }
    Ok(Json(t.update_role(&tenant, &id, change).await?).into_response())
}

async fn delete_role<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    ctx: UserContext,
    Segments((tenant, id)): Segments<(String, String)>,
) -> Answer {
    t.sync(&tenant).await?;
    must_hold_role(&t, &ctx, &tenant, &id).await?;
    t.delete_role(&tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
struct GrantsBody {
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    actions: Vec<String>,
}

async fn get_grants<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    Segments((tenant, id)): Segments<(String, String)>,
) -> Answer {
    Ok(Json(split(t.role_grants(&tenant, &id).await?)).into_response())
}

async fn set_grants<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    ctx: UserContext,
    Segments((tenant, id)): Segments<(String, String)>,
    Payload(body): Payload<GrantsBody>,
) -> Answer {
    let new = NewRole {
        permissions: body.permissions,
        actions: body.actions,
        ..NewRole::default()
    };
    let grants = super::manage::parsed_grants(&new)?;
    t.sync(&tenant).await?;
    // What it gives now (nobody rewrites a stronger role) and what it will give.
    let (role, _) = must_hold_role(&t, &ctx, &tenant, &id).await?;
    must_hold(&t, &ctx, &tenant, &role.namespace, &grants, &[]).await?;
    t.set_grants(&tenant, &id, &grants).await?;
    get_grants(State(t), Segments((tenant, id))).await
}

fn permission_grant(text: &str) -> Result<Grant, TenantError> {
    Permission::parse(text)
        .map(Grant::Permission)
        .map_err(|e| TenantError::InvalidInput {
            field: "permission",
            message: e.to_string(),
        })
}

fn action_grant(text: &str) -> Result<Grant, TenantError> {
    ActionGrant::parse(text)
        .map(Grant::Action)
        .map_err(|e| TenantError::InvalidInput {
            field: "action",
            message: e.to_string(),
        })
}

async fn attach<S: TenantStore>(
    t: Tenancy<S>,
    ctx: UserContext,
    tenant: String,
    id: String,
    grant: Grant,
) -> Answer {
    t.sync(&tenant).await?;
    let (role, _) = must_hold_role(&t, &ctx, &tenant, &id).await?;
    must_hold(
        &t,
        &ctx,
        &tenant,
        &role.namespace,
        std::slice::from_ref(&grant),
        &[],
    )
    .await?;
    t.attach_grant(&tenant, &id, &grant).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn attach_permission<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    ctx: UserContext,
    Segments((tenant, id, grant)): Segments<(String, String, String)>,
) -> Answer {
    let grant = permission_grant(&grant)?;
    attach(t, ctx, tenant, id, grant).await
}

async fn attach_action<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    ctx: UserContext,
    Segments((tenant, id, grant)): Segments<(String, String, String)>,
) -> Answer {
    let grant = action_grant(&grant)?;
    attach(t, ctx, tenant, id, grant).await
}

async fn detach_permission<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    ctx: UserContext,
    Segments((tenant, id, grant)): Segments<(String, String, String)>,
) -> Answer {
    t.sync(&tenant).await?;
    must_hold_role(&t, &ctx, &tenant, &id).await?;
    t.detach_grant(&tenant, &id, &permission_grant(&grant)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn detach_action<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    ctx: UserContext,
    Segments((tenant, id, grant)): Segments<(String, String, String)>,
) -> Answer {
    t.sync(&tenant).await?;
    must_hold_role(&t, &ctx, &tenant, &id).await?;
    t.detach_grant(&tenant, &id, &action_grant(&grant)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn children<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    Segments((tenant, id)): Segments<(String, String)>,
) -> Answer {
    let role = t
        .role(&tenant, &id)
        .await?
        .ok_or(TenantError::NotFound("role"))?;
    let roles = t.child_roles(&tenant, &role.namespace, &role.slug).await?;
    Ok(Json(serde_json::json!({ "roles": roles })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignmentQuery {
    role_id: Option<String>,
    subject_kind: Option<SubjectKind>,
    subject: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn list_assignments<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    Segments(tenant): Segments<String>,
    Params(q): Params<AssignmentQuery>,
) -> Answer {
    let subject = match (q.subject_kind, q.subject) {
        (Some(kind), Some(id)) => Some((kind, id)),
        (None, Some(id)) => Some((SubjectKind::User, id)),
        (Some(_), None) => {
            return Err(TenantError::InvalidInput {
                field: "subject",
                message: "subject_kind needs a subject".into(),
            }
            .into());
        }
        (None, None) => None,
    };
    let filter = AssignmentFilter {
        tenant,
        role_id: q.role_id,
        subject,
        limit: q.limit.unwrap_or(100),
        offset: q.offset.unwrap_or(0),
    };
    let assignments = t.assignments(filter).await?;
    Ok(Json(serde_json::json!({ "assignments": assignments })).into_response())
}

async fn assign<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    ctx: UserContext,
    Segments(tenant): Segments<String>,
    Payload(mut new): Payload<NewAssignment>,
) -> Answer {
    t.sync(&tenant).await?;
    let (_, until) = must_hold_role(&t, &ctx, &tenant, &new.role_id).await?;
    // Nobody gives for longer than they hold: a right held through an expiring assignment is
    // handed on only until then.
    if let Some(held_until) = until
        && new.expires_at.is_none_or(|at| at > held_until)
    {
        return Err(Failure::Forbidden(format!(
            "you hold this role's rights only until {held_until}: give it with an expires_at no later"
        )));
    }
    new.granted_by = ctx.subject().to_owned();
    let made = t.assign(&tenant, new).await?;
    Ok((StatusCode::CREATED, Json(made)).into_response())
}

async fn get_assignment<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    Segments((tenant, id)): Segments<(String, String)>,
) -> Answer {
    let found = t
        .assignment(&tenant, &id)
        .await?
        .ok_or(TenantError::NotFound("assignment"))?;
    Ok(Json(found).into_response())
}

async fn unassign<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    ctx: UserContext,
    Segments((tenant, id)): Segments<(String, String)>,
) -> Answer {
    let held = t
        .assignment(&tenant, &id)
        .await?
        .ok_or(TenantError::NotFound("assignment"))?;
    t.sync(&tenant).await?;
    must_hold_role(&t, &ctx, &tenant, &held.role_id).await?;
    t.unassign(&tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn members<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    Segments((tenant, group)): Segments<(String, String)>,
) -> Answer {
    let members = t.members(&tenant, &group).await?;
    Ok(Json(serde_json::json!({ "members": members })).into_response())
}

/// Refuses unless the caller holds everything the group's live assignments give: a member holds
/// what its group holds, so putting someone in a group gives them each of its roles (`giving`:
/// for as long as the membership lasts, which is without end, so it must be held for good).
async fn must_hold_group<S: TenantStore>(
    t: &Tenancy<S>,
    ctx: &UserContext,
    tenant: &str,
    group: &str,
    giving: bool,
) -> Result<(), Failure> {
    t.sync(tenant).await?;
    let now = t.now();
    let mut offset = 0;
    loop {
        let page = t
            .assignments(AssignmentFilter {
                tenant: tenant.to_owned(),
                role_id: None,
                subject: Some((SubjectKind::Group, group.to_owned())),
                limit: MAX_PAGE,
                offset,
            })
            .await?;
        for held in page.iter().filter(|a| a.is_live(now)) {
            if t.role(tenant, &held.role_id).await?.is_none() {
                continue;
            }
            let (_, until) = must_hold_role(t, ctx, tenant, &held.role_id).await?;
            if giving {
                for_good(until)?;
            }
        }
        if page.len() < MAX_PAGE as usize {
            return Ok(());
        }
        offset += MAX_PAGE;
    }
}

async fn add_member<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    ctx: UserContext,
    Segments((tenant, group, subject)): Segments<(String, String, String)>,
) -> Answer {
    must_hold_group(&t, &ctx, &tenant, &group, true).await?;
    t.add_member(&tenant, &group, &subject).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove_member<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    ctx: UserContext,
    Segments((tenant, group, subject)): Segments<(String, String, String)>,
) -> Answer {
    must_hold_group(&t, &ctx, &tenant, &group, false).await?;
    t.remove_member(&tenant, &group, &subject).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Question {
    permission: Option<String>,
    action: Option<String>,
    #[serde(default)]
    namespace: String,
    subject: Option<String>,
}

impl Question {
    fn requirement(&self) -> Result<Requirement, TenantError> {
        let invalid = |field, message: String| TenantError::InvalidInput { field, message };
        match (&self.permission, &self.action) {
            (Some(p), None) => Permission::parse(p)
                .map(Requirement::Permission)
                .map_err(|e| invalid("permission", e.to_string())),
            (None, Some(a)) => Action::parse(a)
                .map(Requirement::Action)
                .map_err(|e| invalid("action", e.to_string())),
            _ => Err(invalid(
                "permission",
                "give one of permission or action".into(),
            )),
        }
    }
}

async fn who_can<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    Segments(tenant): Segments<String>,
    Params(q): Params<Question>,
) -> Answer {
    let required = q.requirement()?;
    let holders = t.who_can(&required, &tenant, &q.namespace).await?;
    Ok(Json(serde_json::json!({ "holders": holders })).into_response())
}

#[derive(Serialize)]
struct GrantedView<'a> {
    role: Option<&'a str>,
    grant: &'a str,
    path: Vec<&'a str>,
    namespace: Option<&'a str>,
    via: Option<serde_json::Value>,
}

fn granted_view(g: &Granted) -> GrantedView<'_> {
    let via = g.how().map(|via| match via {
        Via::Credential => serde_json::json!({ "kind": "credential" }),
        Via::Assignment { id, expires_at } => {
            serde_json::json!({ "kind": "assignment", "id": &**id, "expires_at": expires_at })
        }
        Via::Group {
            group,
            id,
            expires_at,
        } => serde_json::json!({
            "kind": "group", "group": &**group, "id": &**id, "expires_at": expires_at
        }),
    });
    GrantedView {
        role: g.role(),
        grant: g.grant(),
        path: g.path().iter().map(|s| &**s).collect(),
        namespace: g.namespace(),
        via,
    }
}

/// A decision as the explain route shows it.
fn decision_json(decision: &Decision) -> serde_json::Value {
    serde_json::json!({
        "allowed": decision.is_allowed(),
        "reason": decision.reason().code(),
        "matched": decision.matched().map(granted_view),
        "near_miss": decision.near_miss().map(granted_view),
    })
}

async fn explain<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    Segments(tenant): Segments<String>,
    Params(q): Params<Question>,
) -> Answer {
    let required = q.requirement()?;
    let Some(subject) = &q.subject else {
        return Err(TenantError::InvalidInput {
            field: "subject",
            message: "name the subject to explain".into(),
        }
        .into());
    };
    if subject.is_empty() || subject.len() > 256 || !subject.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TenantError::InvalidInput {
            field: "subject",
            message: "1 to 256 printable ASCII characters".into(),
        }
        .into());
    }
    // The subject's own login (a credential of no tenant): what the tenant's assignments give.
    let ctx = UserContext::new(subject.as_str(), AuthMethod::Custom("explain"));
    let at = scope_of(&tenant, &q.namespace)?;
    let decision = t.explain(&ctx, &required, &at).await;
    if decision.reason() == crate::error::Reason::Unavailable {
        return Err(TenantError::Unavailable.into());
    }
    Ok(Json(decision_json(&decision)).into_response())
}

async fn delete_tenant<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    ctx: UserContext,
    Segments(tenant): Segments<String>,
) -> Answer {
    // Everything of the tenant goes: only someone who holds everything any of its roles gives.
    t.sync(&tenant).await?;
    let (grants, names) = t.tenant_gives(&tenant).await?;
    must_hold(&t, &ctx, &tenant, "", &grants, &names).await?;
    t.delete_tenant(&tenant).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceQuery {
    service: Option<String>,
}

async fn list_actions<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    Params(q): Params<ServiceQuery>,
) -> Answer {
    let actions = t.actions(q.service.as_deref()).await?;
    Ok(Json(serde_json::json!({ "actions": actions })).into_response())
}

async fn register_actions<S: TenantStore>(
    State(t): State<Tenancy<S>>,
    Segments(service): Segments<String>,
    Payload(actions): Payload<Vec<NewAction>>,
) -> Answer {
    t.register_actions(&service, &actions).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

impl<S: TenantStore> Tenancy<S> {
    /// The management routes, to merge into an application router behind the gateway. Every
    /// route requires `admin`: in the path's tenant for the tenant routes, for the application
    /// for the action routes.
    ///
    /// | route | answer |
    /// |---|---|
    /// | `GET /tenants/{tenant}/roles?namespace&namespace_prefix&system&default&parent&search&limit&offset` | `{roles, total}` |
    /// | `POST /tenants/{tenant}/roles` [`NewRole`] | 201, the role with its grants |
    /// | `GET /tenants/{tenant}/roles/{id}` | the role with its grants |
    /// | `PATCH /tenants/{tenant}/roles/{id}` [`RoleUpdate`] | the role |
    /// | `DELETE /tenants/{tenant}/roles/{id}` | 204 |
    /// | `GET`, `PUT /tenants/{tenant}/roles/{id}/grants` `{permissions, actions}` | the grants; `PUT` replaces them |
    /// | `PUT`, `DELETE /tenants/{tenant}/roles/{id}/permissions/{permission}` | 204: attach, detach |
    /// | `PUT`, `DELETE /tenants/{tenant}/roles/{id}/actions/{action}` | 204 |
    /// | `GET /tenants/{tenant}/roles/{id}/children` | the roles inheriting from it |
    /// | `GET /tenants/{tenant}/assignments?role_id&subject_kind&subject&limit&offset` | `{assignments}` |
    /// | `POST /tenants/{tenant}/assignments` [`NewAssignment`] | 201 (`granted_by` is the caller) |
    /// | `GET`, `DELETE /tenants/{tenant}/assignments/{id}` | the assignment; 204 |
    /// | `GET /tenants/{tenant}/groups/{group}/members` | `{members}` |
    /// | `PUT`, `DELETE /tenants/{tenant}/groups/{group}/members/{subject}` | 204 |
    /// | `GET /tenants/{tenant}/who-can?permission=…` (or `action=…`) `&namespace=…` | `{holders}` |
    /// | `GET /tenants/{tenant}/explain?subject=…&permission=…` (or `action=…`) `&namespace=…` | the decision for that subject's login |
    /// | `DELETE /tenants/{tenant}` | 204: everything of the tenant |
    /// | `GET /actions?service=…` | `{actions}` |
    /// | `POST /actions/{service}` `[{action, description}]` | 204 |
    ///
    /// Every tenant route requires the administrator permission *in that tenant* (so a tenant's
    /// own administrators manage it, and nobody else's); the action routes require it for the
    /// application. Nobody hands on what they do not hold: putting a grant on a role, giving a role
    /// (with everything it inherits), re-parenting one, making one a default role, or putting a
    /// subject in a group (which gives it the group's roles) is refused (403) unless the caller
    /// holds each grant at that namespace; and nobody changes, strips, takes away (unassigns,
    /// removes from its group) or deletes a role stronger than themselves: the caller must hold
    /// everything it gives, and deleting the tenant needs everything any of its roles gives. So
    /// a delegated administrator can neither raise anyone above their own rights nor remove
    /// the owner. Errors are problem+json (or the gateway's renderer): 400
    /// invalid input (a missing parent too, and a body, query or path segment that does not
    /// deserialize, an unknown field included), 403, 404, 409 duplicate, cycle, too deep, full
    /// role, system role, role with children, 413 for a body over [`MAX_BODY_BYTES`], 415 for a
    /// body that is not `application/json`; 503 with `Retry-After` when the store cannot answer.
    ///
    /// ```
    /// use axum::Router;
    /// use portcullis::rbac::Permission;
    /// use portcullis::store::MemoryStore;
    /// use portcullis::tenant::Tenancy;
    ///
    /// let tenancy = Tenancy::new(MemoryStore::new());
    /// let admin: Router = tenancy.router(Permission::parse("manage:Roles")?);
    /// # Ok::<(), portcullis::rbac::GrammarError>(())
    /// ```
    pub fn router(&self, admin: Permission) -> Router {
        let in_tenant = RequireLayer::requiring(Requirement::Permission(admin.clone()))
            .in_scope(ScopeRule::tenant_from_path("tenant"));
        let tenants = Router::new()
            .route(
                "/tenants/{tenant}",
                axum::routing::delete(delete_tenant::<S>),
            )
            .route(
                "/tenants/{tenant}/roles",
                get(list_roles::<S>).post(create_role::<S>),
            )
            .route(
                "/tenants/{tenant}/roles/{id}",
                get(get_role::<S>)
                    .patch(update_role::<S>)
                    .delete(delete_role::<S>),
            )
            .route(
                "/tenants/{tenant}/roles/{id}/grants",
                get(get_grants::<S>).put(set_grants::<S>),
            )
            .route(
                "/tenants/{tenant}/roles/{id}/permissions/{grant}",
                put(attach_permission::<S>).delete(detach_permission::<S>),
            )
            .route(
                "/tenants/{tenant}/roles/{id}/actions/{grant}",
                put(attach_action::<S>).delete(detach_action::<S>),
            )
            .route("/tenants/{tenant}/roles/{id}/children", get(children::<S>))
            .route(
                "/tenants/{tenant}/assignments",
                get(list_assignments::<S>).post(assign::<S>),
            )
            .route(
                "/tenants/{tenant}/assignments/{id}",
                get(get_assignment::<S>).delete(unassign::<S>),
            )
            .route(
                "/tenants/{tenant}/groups/{group}/members",
                get(members::<S>),
            )
            .route(
                "/tenants/{tenant}/groups/{group}/members/{subject}",
                put(add_member::<S>).delete(remove_member::<S>),
            )
            .route("/tenants/{tenant}/who-can", get(who_can::<S>))
            .route("/tenants/{tenant}/explain", get(explain::<S>))
            .route_layer(in_tenant);
        let actions = Router::new()
            .route("/actions", get(list_actions::<S>))
            .route("/actions/{service}", post(register_actions::<S>))
            .route_layer(RequireLayer::requiring(Requirement::Permission(admin)).in_global_scope());
        tenants
            .merge(actions)
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
            .route_layer(RenderProblemsLayer)
            .with_state(self.clone())
    }
}
