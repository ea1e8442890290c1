//! The book catalog behind portcullis: its routes, handlers and demo accounts, and how the
//! gateway is put in front of them. `main.rs` serves it; `examples/quickstart_load.rs` serves the
//! very same app beside its `/books` handler with no gateway, to measure what the gateway costs.

#[path = "documents.rs"]
mod documents;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::audit::Recording;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use portcullis::acl::Acl;
use portcullis::acl::AclStore;
use portcullis::api_key::{ApiKeyStrategy, ApiKeys};
use portcullis::audit::{AuditSink, AuditTrail};
use portcullis::authz::ScopeRule;
use portcullis::cluster::ChangeFeed;
use portcullis::identity::{IDENTITY_PUBLIC_PATHS, Identity, IdentityConfig, IdentityError};
use portcullis::rbac::Permission;
use portcullis::store::sqlite::SqliteStore;
use portcullis::store::{ApiKeyStore, Store, SubjectKind};
use portcullis::tenant::{NewAssignment, NewRole, Tenancy, TenantError, TenantStore};
use portcullis::{
    AuthGateway, AuthService, RequireAction, RequirePermission, UserContext, action, permission,
    scope,
};
use serde::{Deserialize, Serialize};
use tower_layer::Layer;

permission!(ReadCatalog = "read:Catalog");
permission!(WriteReview = "write:Catalog.Review");
permission!(DeleteCatalog = "delete:Catalog");
action!(ExportReports = "reports:export");
// The organisation's routes ask their checks in the tenant named by the path.
scope!(InOrg = ScopeRule::tenant_from_path("org"));

/// A book of the catalog.
#[derive(Clone, Serialize)]
pub struct Book {
    id: u32,
    title: String,
    reviews: Vec<Review>,
}

/// A reader's review.
#[derive(Clone, Serialize)]
pub struct Review {
    by: String,
    text: String,
}

#[derive(Deserialize)]
struct NewReview {
    text: String,
}

/// The books, shared by every request.
pub type Catalog = Arc<Mutex<BTreeMap<u32, Book>>>;

fn lock(catalog: &Catalog) -> std::sync::MutexGuard<'_, BTreeMap<u32, Book>> {
    catalog
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn health() -> &'static str {
    "ok"
}

async fn me(user: UserContext) -> Json<UserContext> {
    Json(user)
}

async fn list_books(
    _: RequirePermission<ReadCatalog>,
    State(catalog): State<Catalog>,
) -> Json<Vec<Book>> {
    books(&catalog)
}

fn books(catalog: &Catalog) -> Json<Vec<Book>> {
    Json(lock(catalog).values().cloned().collect())
}

async fn add_review(
    RequirePermission(user, ..): RequirePermission<WriteReview>,
    State(catalog): State<Catalog>,
    Path(id): Path<u32>,
    Json(review): Json<NewReview>,
) -> Result<(StatusCode, Json<Book>), StatusCode> {
    review_book(&catalog, id, &user, review)
}

/// Adds a review to book `id` of `catalog`.
fn review_book(
    catalog: &Catalog,
    id: u32,
    user: &UserContext,
    review: NewReview,
) -> Result<(StatusCode, Json<Book>), StatusCode> {
    if review.text.is_empty() || review.text.len() > 2000 {
        return Err(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let mut books = lock(catalog);
    let book = books.get_mut(&id).ok_or(StatusCode::NOT_FOUND)?;
    book.reviews.push(Review {
        by: user.subject().to_owned(),
        text: review.text,
    });
    Ok((StatusCode::CREATED, Json(book.clone())))
}

async fn delete_book(
    _: RequirePermission<DeleteCatalog>,
    State(catalog): State<Catalog>,
    Path(id): Path<u32>,
) -> StatusCode {
    match lock(&catalog).remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

async fn export_reports(_: RequireAction<ExportReports>, State(catalog): State<Catalog>) -> String {
    let mut csv = String::from("id,title,reviews\n");
    for book in lock(&catalog).values() {
        csv.push_str(&format!(
            "{},{:?},{}\n",
            book.id,
            book.title,
            book.reviews.len()
        ));
    }
    csv
}

fn seed() -> Catalog {
    catalog_of(&[
        "The Left Hand of Darkness",
        "A Wizard of Earthsea",
        "The Dispossessed",
    ])
}

fn catalog_of(titles: &[&str]) -> Catalog {
    let books = titles
        .iter()
        .zip(1..)
        .map(|(title, id)| {
            (
                id,
                Book {
                    id,
                    title: (*title).to_owned(),
                    reviews: Vec::new(),
                },
            )
        })
        .collect();
    Arc::new(Mutex::new(books))
}

/// Each organisation's own books: the tenants of the demo.
pub type Orgs = Arc<BTreeMap<String, Catalog>>;

/// The demo's two organisations (tenants) and their books.
pub const ORGS: [(&str, &[&str]); 2] = [
    ("acme", &["Solaris", "Roadside Picnic"]),
    ("globex", &["Kindred", "Parable of the Sower", "Dawn"]),
];

async fn org_books(
    _: RequirePermission<ReadCatalog, InOrg>,
    State(orgs): State<Orgs>,
    Path(org): Path<String>,
) -> Result<Json<Vec<Book>>, StatusCode> {
    let catalog = orgs.get(&org).ok_or(StatusCode::NOT_FOUND)?;
    Ok(books(catalog))
}

async fn org_review(
    RequirePermission(user, ..): RequirePermission<WriteReview, InOrg>,
    State(orgs): State<Orgs>,
    Path((org, id)): Path<(String, u32)>,
    Json(review): Json<NewReview>,
) -> Result<(StatusCode, Json<Book>), StatusCode> {
    review_book(
        orgs.get(&org).ok_or(StatusCode::NOT_FOUND)?,
        id,
        &user,
        review,
    )
}

/// Who holds what in each organisation (created on first start): the editor is a librarian at
/// acme and a reader at globex, the viewer a reader at globex only, the admin administers both
/// (it may manage their roles through `/tenants/{org}/…`).
pub const MEMBERSHIPS: [(&str, &str, &str); 5] = [
    ("editor@example.com", "acme", "librarian"),
    ("editor@example.com", "globex", "reader"),
    ("viewer@example.com", "globex", "reader"),
    ("admin@example.com", "acme", "org-admin"),
    ("admin@example.com", "globex", "org-admin"),
];

/// Each organisation's roles (a hierarchy: an org-admin is a librarian is a reader) and the
/// demo's memberships; whatever exists already is left as it is.
async fn seed_orgs<S: Backend>(
    tenancy: &Tenancy<S>,
    store: &S,
) -> Result<(), Box<dyn std::error::Error>> {
    for (org, _) in ORGS {
        let roles = [
            ("reader", None, &["read:Catalog"][..]),
            ("librarian", Some("reader"), &["write:Catalog.Review"][..]),
            (
                "org-admin",
                Some("librarian"),
                &["manage:Roles", "delete:Catalog"][..],
            ),
        ];
        for (slug, parent, grants) in roles {
            if tenancy.role_by_slug(org, "", slug).await?.is_some() {
                continue;
            }
            let mut new = NewRole::new("", slug);
            new.parent = parent.map(str::to_owned);
            new.permissions = grants.iter().map(|g| (*g).to_owned()).collect();
            // Another instance starting at the same moment may have made it first.
            match tenancy.create_role(org, new).await {
                Ok(_) | Err(TenantError::Duplicate(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    for (email, org, slug) in MEMBERSHIPS {
        let (Some(user), Some(role)) = (
            store.user_by_email(email).await?,
            tenancy.role_by_slug(org, "", slug).await?,
        ) else {
            continue;
        };
        let assignment =
            NewAssignment::new(&role.id, SubjectKind::User, &user.id).granted_by("quickstart");
        match tenancy.assign(org, assignment).await {
            Ok(_) | Err(TenantError::Duplicate(_)) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// Demo accounts created on first start. Their passwords are public: this is a demo.
pub const DEMO_ACCOUNTS: [(&str, &str, &str); 3] = [
    ("viewer@example.com", "viewer-demo-password", "viewer"),
    ("editor@example.com", "editor-demo-password", "editor"),
    ("admin@example.com", "admin-demo-password", "admin"),
];

/// The app: the gateway around the router.
pub type App = AuthService<Router>;

/// What the app's state lives in: every store trait the app uses, the audit log and the
/// documents table. SQLite and PostgreSQL are both.
pub trait Backend:
    Store + ApiKeyStore + TenantStore + AclStore + AuditSink + documents::DocumentTable
{
}

impl<T> Backend for T where
    T: Store + ApiKeyStore + TenantStore + AclStore + AuditSink + documents::DocumentTable
{
}

/// Opens (or creates) the SQLite file at `path`, with its demo accounts, and builds the app:
/// every route behind the gateway, and the books it serves.
/// Also gives the audit trail, which the process flushes before it exits.
#[allow(dead_code)] // the load benchmark, which includes this file too, opens with a choice
pub async fn open(path: &str) -> Result<(App, Option<AuditTrail>), Box<dyn std::error::Error>> {
    let store = SqliteStore::open(path).await?;
    let (app, _books, trail) =
        build(store, path, crate::audit::CHAIN, Recording::Stored, None).await?;
    Ok((app, trail))
}

/// [`open`], with the audit trail stored, off or discarded (the load benchmark measures what
/// it costs).
#[allow(dead_code)] // only the load benchmark chooses
pub async fn open_with(
    path: &str,
    recording: Recording,
) -> Result<(App, Catalog), Box<dyn std::error::Error>> {
    // The embedded default: one SQLite file holds accounts, sessions, revocations, the signing
    // key (generated on first start) and the audit trail.
    let store = SqliteStore::open(path).await?;
    let (app, books, _trail) = build(store, path, crate::audit::CHAIN, recording, None).await?;
    Ok((app, books))
}

/// Where one instance of a cluster keeps its state and hears the others.
#[allow(dead_code)] // only main.rs runs a cluster
#[cfg(feature = "postgres")]
pub struct Cluster<'a> {
    /// The PostgreSQL database every instance shares.
    pub database_url: &'a str,
    /// The schema the quickstart's tables live in (several deployments can share a database).
    pub schema: &'a str,
    /// The Redis every instance shares, to hear each other's changes within milliseconds;
    /// without one, an instance sees another's changes when its caches expire (5 s for
    /// revocations, 30 s for API keys and documents).
    pub redis_url: Option<&'a str>,
    /// This instance's name, which names its audit chain (one writer per chain).
    pub instance: &'a str,
    /// Names the audit key and checkpoint files, as the SQLite path does on one instance.
    pub files: &'a str,
}

/// What a cluster instance runs: the app, and the subscription to the other instances'
/// changes, which must live as long as the app serves.
#[allow(dead_code)] // only main.rs runs a cluster
#[cfg(feature = "postgres")]
pub struct ClusterApp {
    /// The app.
    pub app: App,
    /// Its audit trail, which the process flushes before it exits.
    pub trail: Option<AuditTrail>,
    /// The changes shared over Redis; dropping it leaves the caches on their lifetimes.
    #[cfg(feature = "redis")]
    pub changes: Option<portcullis::cluster::redis::RedisChanges>,
}

/// Opens one instance of a cluster: the state in PostgreSQL (migrated, demo accounts created by
/// whichever instance starts first), changes shared over Redis. Start-up fails when Redis is
/// configured and cannot be reached: an instance that cannot hear the others would enforce
/// their revocations only when its caches expire.
#[allow(dead_code)] // only main.rs runs a cluster
#[cfg(feature = "postgres")]
pub async fn open_cluster(cluster: Cluster<'_>) -> Result<ClusterApp, Box<dyn std::error::Error>> {
    let store = portcullis::store::postgres::PostgresStore::connect_in_schema(
        cluster.database_url,
        cluster.schema,
    )
    .await?;
    let feed = ChangeFeed::new();
    #[cfg(feature = "redis")]
    let changes = match cluster.redis_url {
        Some(url) => Some(portcullis::cluster::redis::RedisChanges::start(url, &feed).await?),
        None => None,
    };
    #[cfg(not(feature = "redis"))]
    if cluster.redis_url.is_some() {
        return Err("REDIS_URL is set but this build has no `redis` feature: \
                    cargo run --example quickstart --features postgres,redis"
            .into());
    }
    let (app, _books, trail) = build(
        store,
        cluster.files,
        cluster.instance,
        Recording::Stored,
        Some(&feed),
    )
    .await?;
    Ok(ClusterApp {
        app,
        trail,
        #[cfg(feature = "redis")]
        changes,
    })
}

/// The app over `store`, its audit trail the chain `chain` (key and checkpoints in files named
/// after `files`); `feed`, when given, carries this instance's changes to the others and theirs
/// here.
async fn build<S: Backend>(
    store: S,
    files: &str,
    chain: &str,
    recording: Recording,
    feed: Option<&ChangeFeed>,
) -> Result<(App, Catalog, Option<AuditTrail>), Box<dyn std::error::Error>> {
    let identity = Arc::new(Identity::open(store.clone(), IdentityConfig::default()).await?);
    for (email, password, role) in DEMO_ACCOUNTS {
        match identity
            .register_with_roles(email, password, &[role.to_owned()])
            .await
        {
            Ok(_) => tracing::info!(role, "created demo account"),
            Err(IdentityError::EmailTaken) => {}
            Err(error) => return Err(error.into()),
        }
    }

    // Housekeeping every 10 minutes: expired revocations, refresh tokens and failure counters,
    // retired keys, keys rotated by another instance.
    identity.spawn_maintenance(std::time::Duration::from_secs(600));

    // API keys live in the same database; their last-use times are written once a minute.
    // Each key acts only while its owner's account does, and only with roles the owner still holds.
    let api_keys = ApiKeys::builder(store.clone())
        .owners(identity.clone())
        .build();
    api_keys.spawn_flusher(std::time::Duration::from_secs(60));

    // Organisations' roles and memberships live in the same database; every check asked in an
    // organisation (a tenant) is answered from them, and their administrators manage them at
    // /tenants/{org}/… with `manage:Roles` held in that organisation.
    let tenancy = Tenancy::new(store.clone());
    seed_orgs(&tenancy, &store).await?;

    // Documents are shared one by one (owner, visibility, shares to people and groups): the
    // entity permission engine answers those checks and hands every other one to the
    // organisations' roles. An org-admin (`manage:Roles` there) may manage every document of
    // the organisation. Its cache is exact: every share, and every membership change made
    // through the roles engine, is seen by the next request.
    let acl = Acl::new(store.clone())
        .over(tenancy.clone())
        .admins(portcullis::Requirement::Permission(Permission::parse(
            "manage:Roles",
        )?))
        .cached(16 << 20, std::time::Duration::from_secs(30))
        .watching(&tenancy);
    documents::seed(&store, &tenancy, &acl).await?;

    // Several instances: each tells the others what it changed (revocations, accounts, signing
    // keys, API keys, roles and memberships, shares), and forgets what they changed.
    if let Some(feed) = feed {
        identity.share_changes(feed);
        api_keys.share_changes(feed);
        tenancy.share_changes(feed);
        acl.share_changes(feed);
    }

    let mut gateway = AuthGateway::new();
    // Every decision goes to a signed, chained audit trail in the same database (audit.rs), and
    // so does every refused credential.
    let trail = crate::audit::start(files, chain, &store, recording).await?;
    if let Some(trail) = &trail {
        gateway = gateway
            .observe(trail.clone())
            .audit_auth_failures(trail.clone());
    }
    let gateway = gateway
        .strategy(identity.bearer())
        .strategy(ApiKeyStrategy::new(api_keys.clone()))
        .authorizer(acl.clone())
        .public_path("/health")
        .public_paths(IDENTITY_PUBLIC_PATHS)
        .realm("book-catalog")
        .build()?;

    let catalog = seed();
    let router = Router::new()
        .route("/health", get(health))
        .route("/me", get(me))
        .route("/books", get(list_books))
        .route("/books/{id}/reviews", post(add_review))
        .route("/books/{id}", delete(delete_book))
        .route("/reports/export", get(export_reports))
        .with_state(catalog.clone())
        .merge(orgs_router())
        .merge(documents::router(acl, store.clone()))
        .merge(tenancy.router(Permission::parse("manage:Roles")?))
        .merge(identity.router())
        .merge(api_keys.router());
    // Around the whole router rather than `router.layer(gateway)`, which axum applies to each
    // route: one service in front of the router costs about 1,400 instructions less per request
    // (axum boxes and clones each layered route per call), and a path that matches no route is
    // answered 401 without credentials too, so routes cannot be probed anonymously.
    Ok((gateway.layer(router), catalog, trail))
}

/// The organisations' routes, with their books.
fn orgs_router() -> Router {
    let orgs: Orgs = Arc::new(
        ORGS.iter()
            .map(|(org, titles)| ((*org).to_owned(), catalog_of(titles)))
            .collect(),
    );
    Router::new()
        .route("/orgs/{org}/books", get(org_books))
        .route("/orgs/{org}/books/{id}/reviews", post(org_review))
        .with_state(orgs)
}

/// `GET /books` with the same handler body and the same books, and no gateway in front: the
/// baseline the load benchmark compares the app with.
#[allow(dead_code)] // served by examples/quickstart_load.rs only
pub fn bare_books(catalog: Catalog) -> Router {
    Router::new()
        .route(
            "/books",
            get(|State(catalog): State<Catalog>| async move { books(&catalog) }),
        )
        .with_state(catalog)
}
