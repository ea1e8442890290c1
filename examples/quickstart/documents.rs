//! The organisations' documents, shared Google Drive-style: each has an owner, a visibility
//! (private, the organisation's members, or public) and shares to users and groups. Who may see
//! or edit one is the entity permission engine's answer (`portcullis::acl`); the list endpoint
//! pages inside SQLite, joining the documents table with the caller's accessible set.
//!
//! | route | needs |
//! |---|---|
//! | `GET /orgs/{org}/documents?after=&limit=` | any account: the documents it may see, a page at a time |
//! | `GET /orgs/{org}/documents/{id}` | `view` on the document (else 404, as a missing one) |
//! | `PUT /orgs/{org}/documents/{id}` | `edit` on the document (else 404) |
//! | `POST /orgs/{org}/documents/{id}/shares` | the document's owner or an org-admin |

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use portcullis::UserContext;
use portcullis::acl::{AccessDef, Acl, AclError, NewResource, RequireAccess};
use portcullis::authz::{ScopeLayer, ScopeRule};
use portcullis::store::sqlite::SqliteStore;
use portcullis::store::{Access, ResourceKey, SubjectKind, UserStore, Visibility};
use portcullis::tenant::Tenancy;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

/// The documents' service and type in the permission engine.
const SERVICE: &str = "docs";
const KIND: &str = "document";

/// Reading one document: `view`, a refusal answered as a missing document.
pub struct ViewDocument;
impl AccessDef for ViewDocument {
    const SERVICE: &'static str = SERVICE;
    const KIND: &'static str = KIND;
    const PARAM: &'static str = "id";
    const ACCESS: Access = Access::View;
}

/// Changing one: `edit`.
pub struct EditDocument;
impl AccessDef for EditDocument {
    const SERVICE: &'static str = SERVICE;
    const KIND: &'static str = KIND;
    const PARAM: &'static str = "id";
    const ACCESS: Access = Access::Edit;
}

/// A demo document: (id, organisation, title, owner's e-mail, visibility, a share to a group of
/// the organisation).
type DemoDocument = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Visibility,
    Option<(&'static str, Access)>,
);

/// The demo's documents (created on first start).
pub const DOCUMENTS: [DemoDocument; 5] = [
    (
        "acme-handbook",
        "acme",
        "Employee handbook",
        "editor@example.com",
        Visibility::Public,
        None,
    ),
    (
        "acme-minutes",
        "acme",
        "Board minutes",
        "admin@example.com",
        Visibility::Tenant,
        None,
    ),
    (
        "acme-notes",
        "acme",
        "Editor's notes",
        "editor@example.com",
        Visibility::Private,
        None,
    ),
    (
        "acme-roadmap",
        "acme",
        "Product roadmap",
        "admin@example.com",
        Visibility::Private,
        Some(("librarians", Access::View)),
    ),
    (
        "globex-plan",
        "globex",
        "Globex plan",
        "admin@example.com",
        Visibility::Tenant,
        None,
    ),
];

/// The group of acme the editor belongs to (the roadmap is shared with it).
pub const GROUPS: [(&str, &str, &str); 1] = [("acme", "librarians", "editor@example.com")];

#[derive(Clone)]
struct Docs {
    acl: Acl<SqliteStore>,
    pool: SqlitePool,
}

#[derive(Serialize, sqlx::FromRow)]
struct Document {
    id: String,
    title: String,
    body: String,
}

/// Creates the documents table and the demo's documents, groups and shares; whatever exists
/// already is left as it is.
pub async fn seed(
    store: &SqliteStore,
    tenancy: &Tenancy<SqliteStore>,
    acl: &Acl<SqliteStore>,
) -> Result<(), Box<dyn std::error::Error>> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS quickstart_documents \
         (id TEXT PRIMARY KEY NOT NULL, org TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL)",
    )
    .execute(store.pool())
    .await?;
    for (org, group, email) in GROUPS {
        if let Some(user) = store.user_by_email(email).await? {
            tenancy.add_member(org, group, &user.id).await?;
        }
    }
    for (id, org, title, owner, visibility, share) in DOCUMENTS {
        let Some(owner) = store.user_by_email(owner).await? else {
            continue;
        };
        let key = ResourceKey::new(SERVICE, KIND, id);
        acl.register(NewResource::new(key.clone(), org, &owner.id).visibility(visibility))
            .await?;
        sqlx::query(
            "INSERT OR IGNORE INTO quickstart_documents (id, org, title, body) VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(org)
        .bind(title)
        .bind(format!("The text of {title}."))
        .execute(store.pool())
        .await?;
        if let Some((group, access)) = share {
            let as_owner = UserContext::new(owner.id.clone(), portcullis::AuthMethod::Bearer);
            acl.share(&as_owner, &key, SubjectKind::Group, group, access)
                .await?;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct Page {
    after: Option<String>,
    limit: Option<u32>,
}

#[derive(Serialize)]
struct Listed {
    documents: Vec<Document>,
    /// Pass as `after` for the next page; absent on the last.
    next: Option<String>,
}

/// The documents of `org` the caller may see, in id order, a page at a time: filtered and paged
/// inside SQLite (the accessible set joined as a condition), never fetched whole then filtered.
async fn list(
    user: UserContext,
    State(docs): State<Docs>,
    Path(org): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<Listed>, (StatusCode, String)> {
    let limit = i64::from(page.limit.unwrap_or(20).clamp(1, 100));
    let filter = docs
        .acl
        .filter(&user, SERVICE, KIND, Access::View, &org)
        .await
        .map_err(refused)?;
    let mut query =
        sqlx::QueryBuilder::new("SELECT id, title, body FROM quickstart_documents WHERE org = ");
    query.push_bind(&org).push(" AND ");
    filter
        .push_sqlite("id", &mut query)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if let Some(after) = &page.after {
        query.push(" AND id > ").push_bind(after);
    }
    query.push(" ORDER BY id LIMIT ").push_bind(limit + 1);
    let mut documents: Vec<Document> =
        query
            .build_query_as()
            .fetch_all(&docs.pool)
            .await
            .map_err(|_| {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database unavailable".to_owned(),
                )
            })?;
    let more = documents.len() > limit as usize;
    documents.truncate(limit as usize);
    let next = more
        .then(|| documents.last().map(|d| d.id.clone()))
        .flatten();
    Ok(Json(Listed { documents, next }))
}

async fn read(
    doc: RequireAccess<ViewDocument>,
    State(docs): State<Docs>,
) -> Result<Json<Document>, StatusCode> {
    let found = sqlx::query_as("SELECT id, title, body FROM quickstart_documents WHERE id = ?")
        .bind(doc.id())
        .fetch_optional(&docs.pool)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    found.map(Json).ok_or(StatusCode::NOT_FOUND)
}

#[derive(Deserialize)]
struct NewBody {
    body: String,
}

async fn write(
    doc: RequireAccess<EditDocument>,
    State(docs): State<Docs>,
    Json(new): Json<NewBody>,
) -> Result<StatusCode, StatusCode> {
    if new.body.len() > 64 * 1024 {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    sqlx::query("UPDATE quickstart_documents SET body = ? WHERE id = ?")
        .bind(&new.body)
        .bind(doc.id())
        .execute(&docs.pool)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct NewShare {
    grantee_kind: SubjectKind,
    grantee: String,
    access: Access,
}

async fn share(
    user: UserContext,
    State(docs): State<Docs>,
    Path((_org, id)): Path<(String, String)>,
    Json(new): Json<NewShare>,
) -> Result<StatusCode, (StatusCode, String)> {
    let key = ResourceKey::new(SERVICE, KIND, &id);
    docs.acl
        .share(&user, &key, new.grantee_kind, &new.grantee, new.access)
        .await
        .map_err(refused)?;
    Ok(StatusCode::CREATED)
}

/// An engine refusal as an answer.
fn refused(error: AclError) -> (StatusCode, String) {
    let status = match &error {
        AclError::Invalid(_) | AclError::NotAMember => StatusCode::BAD_REQUEST,
        AclError::NotFound(_) => StatusCode::NOT_FOUND,
        AclError::Forbidden => StatusCode::FORBIDDEN,
        AclError::Conflict(_) => StatusCode::CONFLICT,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, error.to_string())
}

/// The documents' routes; their checks are asked in the organisation the path names.
pub fn router(acl: Acl<SqliteStore>, pool: SqlitePool) -> Router {
    Router::new()
        .route("/orgs/{org}/documents", get(list))
        .route("/orgs/{org}/documents/{id}", get(read).put(write))
        .route("/orgs/{org}/documents/{id}/shares", post(share))
        .route_layer(ScopeLayer::new(ScopeRule::tenant_from_path("org")))
        .with_state(Docs { acl, pool })
}
