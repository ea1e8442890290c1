//! The book catalog behind portcullis: its routes, handlers and demo accounts, and how the
//! gateway is put in front of them. `main.rs` serves it; `examples/quickstart_load.rs` serves the
//! very same app beside its `/books` handler with no gateway, to measure what the gateway costs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use portcullis::api_key::{ApiKeyStrategy, ApiKeys};
use portcullis::identity::{IDENTITY_PUBLIC_PATHS, Identity, IdentityConfig, IdentityError};
use portcullis::store::sqlite::SqliteStore;
use portcullis::{
    AuthGateway, AuthService, RequireAction, RequirePermission, UserContext, action, permission,
};
use serde::{Deserialize, Serialize};
use tower_layer::Layer;

permission!(ReadCatalog = "read:Catalog");
permission!(WriteReview = "write:Catalog.Review");
permission!(DeleteCatalog = "delete:Catalog");
action!(ExportReports = "reports:export");

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
    if review.text.is_empty() || review.text.len() > 2000 {
        return Err(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let mut books = lock(&catalog);
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
    let titles = [
        "The Left Hand of Darkness",
        "A Wizard of Earthsea",
        "The Dispossessed",
    ];
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

/// Demo accounts created on first start. Their passwords are public: this is a demo.
pub const DEMO_ACCOUNTS: [(&str, &str, &str); 3] = [
    ("viewer@example.com", "viewer-demo-password", "viewer"),
    ("editor@example.com", "editor-demo-password", "editor"),
    ("admin@example.com", "admin-demo-password", "admin"),
];

/// The app: the gateway around the router.
pub type App = AuthService<Router>;

/// Opens (or creates) the SQLite file at `path`, with its demo accounts, and builds the app:
/// every route behind the gateway, and the books it serves.
pub async fn open(path: &str) -> Result<(App, Catalog), Box<dyn std::error::Error>> {
    // The embedded default: one SQLite file holds accounts, sessions, revocations and the signing
    // key (generated on first start).
    let store = SqliteStore::open(path).await?;
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

    let gateway = AuthGateway::new()
        .strategy(identity.bearer())
        .strategy(ApiKeyStrategy::new(api_keys.clone()))
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
        .merge(identity.router())
        .merge(api_keys.router());
    // Around the whole router rather than `router.layer(gateway)`, which axum applies to each
    // route: one service in front of the router costs about 1,400 instructions less per request
    // (axum boxes and clones each layered route per call), and a path that matches no route is
    // answered 401 without credentials too, so routes cannot be probed anonymously.
    Ok((gateway.layer(router), catalog))
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
