//! The organisations' documents, shared Google Drive-style: each has an owner, a visibility
//! (private, the organisation's members, or public) and shares to users and groups. Who may see
//! or edit one is the entity permission engine's answer (`portcullis::acl`); the list endpoint
//! pages inside the database (SQLite, or PostgreSQL when the quickstart runs on it), joining the
//! documents table with the caller's accessible set.
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
use portcullis::acl::AclStore;
use portcullis::acl::{AccessDef, Acl, AclError, NewResource, RequireAccess};
use portcullis::authz::{ScopeLayer, ScopeRule};
use portcullis::store::sqlite::SqliteStore;
use portcullis::store::{
    Access, AccessFilter, ResourceKey, StoreError, SubjectKind, UserStore, Visibility,
};
use portcullis::tenant::{Tenancy, TenantStore};
use serde::{Deserialize, Serialize};

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
struct Docs<S> {
    acl: Acl<S>,
    table: S,
}

/// A document as the API shows it.
#[derive(Serialize, sqlx::FromRow)]
pub struct Document {
    id: String,
    title: String,
    body: String,
}

/// Why the documents table could not answer.
#[derive(Debug)]
pub enum TableError {
    /// The access filter could not be written (a bad column name: a bug of this file).
    Filter(StoreError),
    /// The database did not answer.
    Database(sqlx::Error),
}

impl From<sqlx::Error> for TableError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(error)
    }
}

/// The documents table in the database the app runs on: the same statements for SQLite and
/// PostgreSQL but for their placeholders, and the access filter written in each one's dialect.
pub trait DocumentTable: Clone + Send + Sync + 'static {
    /// Creates the table if it is missing.
    fn create(&self) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Adds a document unless one with its id exists.
    fn insert(
        &self,
        id: &str,
        org: &str,
        title: &str,
        body: &str,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Up to `limit` documents of `org` passing `filter`, after `after` in id order.
    fn page(
        &self,
        org: &str,
        filter: &AccessFilter,
        after: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Document>, TableError>> + Send;
    /// The document `id`.
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<Document>, sqlx::Error>> + Send;
    /// Replaces the text of document `id`.
    fn set_body(
        &self,
        id: &str,
        body: &str,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

const CREATE: &str = "CREATE TABLE IF NOT EXISTS quickstart_documents \
     (id TEXT PRIMARY KEY NOT NULL, org TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL)";
const LIST: &str = "SELECT id, title, body FROM quickstart_documents WHERE org = ";

/// One implementation per database: the pool's type and the placeholders differ, nothing else.
macro_rules! document_table {
    ($store:ty, $push:ident, $insert:literal, $get:literal, $set:literal) => {
        impl DocumentTable for $store {
            async fn create(&self) -> Result<(), sqlx::Error> {
                sqlx::query(CREATE).execute(self.pool()).await.map(|_| ())
            }

            async fn insert(
                &self,
                id: &str,
                org: &str,
                title: &str,
                body: &str,
            ) -> Result<(), sqlx::Error> {
                sqlx::query($insert)
                    .bind(id)
                    .bind(org)
                    .bind(title)
                    .bind(body)
                    .execute(self.pool())
                    .await
                    .map(|_| ())
            }

            async fn page(
                &self,
                org: &str,
                filter: &AccessFilter,
                after: Option<&str>,
                limit: i64,
            ) -> Result<Vec<Document>, TableError> {
                let mut query = sqlx::QueryBuilder::new(LIST);
                query.push_bind(org).push(" AND ");
                filter.$push("id", &mut query).map_err(TableError::Filter)?;
                if let Some(after) = after {
                    query.push(" AND id > ").push_bind(after);
                }
                query.push(" ORDER BY id LIMIT ").push_bind(limit);
                Ok(query.build_query_as().fetch_all(self.pool()).await?)
            }

            async fn get(&self, id: &str) -> Result<Option<Document>, sqlx::Error> {
                sqlx::query_as($get)
                    .bind(id)
                    .fetch_optional(self.pool())
                    .await
            }

            async fn set_body(&self, id: &str, body: &str) -> Result<(), sqlx::Error> {
                sqlx::query($set)
                    .bind(body)
                    .bind(id)
                    .execute(self.pool())
                    .await
                    .map(|_| ())
            }
        }
    };
}

document_table!(
    SqliteStore,
    push_sqlite,
    "INSERT OR IGNORE INTO quickstart_documents (id, org, title, body) VALUES (?, ?, ?, ?)",
    "SELECT id, title, body FROM quickstart_documents WHERE id = ?",
    "UPDATE quickstart_documents SET body = ? WHERE id = ?"
);

#[cfg(feature = "postgres")]
document_table!(
    portcullis::store::postgres::PostgresStore,
    push_postgres,
    "INSERT INTO quickstart_documents (id, org, title, body) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (id) DO NOTHING",
    "SELECT id, title, body FROM quickstart_documents WHERE id = $1",
    "UPDATE quickstart_documents SET body = $1 WHERE id = $2"
);

/// Creates the documents table and the demo's documents, groups and shares; whatever exists
/// already is left as it is.
pub async fn seed<S>(
    store: &S,
    tenancy: &Tenancy<S>,
    acl: &Acl<S>,
) -> Result<(), Box<dyn std::error::Error>>
where
    S: DocumentTable + UserStore + AclStore + TenantStore,
{
    store.create().await?;
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
        store
            .insert(id, org, title, &format!("The text of {title}."))
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
/// inside the database (the accessible set joined as a condition), never fetched whole then
/// filtered.
async fn list<S: AclStore + DocumentTable>(
    user: UserContext,
    State(docs): State<Docs<S>>,
    Path(org): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<Listed>, (StatusCode, String)> {
    let limit = i64::from(page.limit.unwrap_or(20).clamp(1, 100));
    let filter = docs
        .acl
        .filter(&user, SERVICE, KIND, Access::View, &org)
        .await
        .map_err(refused)?;
    let mut documents = docs
        .table
        .page(&org, &filter, page.after.as_deref(), limit + 1)
        .await
        .map_err(|error| match error {
            TableError::Filter(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            TableError::Database(e) => {
                tracing::warn!(error = %e, "documents: the database did not answer");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database unavailable".to_owned(),
                )
            }
        })?;
    let more = documents.len() > limit as usize;
    documents.truncate(limit as usize);
    let next = more
        .then(|| documents.last().map(|d| d.id.clone()))
        .flatten();
    Ok(Json(Listed { documents, next }))
}

async fn read<S: AclStore + DocumentTable>(
    doc: RequireAccess<ViewDocument>,
    State(docs): State<Docs<S>>,
) -> Result<Json<Document>, StatusCode> {
    let found = docs
        .table
        .get(doc.id())
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    found.map(Json).ok_or(StatusCode::NOT_FOUND)
}

#[derive(Deserialize)]
struct NewBody {
    body: String,
}

async fn write<S: AclStore + DocumentTable>(
    doc: RequireAccess<EditDocument>,
    State(docs): State<Docs<S>>,
    Json(new): Json<NewBody>,
) -> Result<StatusCode, StatusCode> {
    if new.body.len() > 64 * 1024 {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    docs.table
        .set_body(doc.id(), &new.body)
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

async fn share<S: AclStore + DocumentTable>(
    user: UserContext,
    State(docs): State<Docs<S>>,
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
pub fn router<S: AclStore + DocumentTable>(acl: Acl<S>, table: S) -> Router {
    Router::new()
        .route("/orgs/{org}/documents", get(list::<S>))
        .route("/orgs/{org}/documents/{id}", get(read::<S>).put(write::<S>))
        .route("/orgs/{org}/documents/{id}/shares", post(share::<S>))
        .route_layer(ScopeLayer::new(ScopeRule::tenant_from_path("org")))
        .with_state(Docs { acl, table })
}
