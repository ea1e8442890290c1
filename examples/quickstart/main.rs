//! A small book-catalog API behind portcullis.
//!
//! ```text
//! cargo run --example quickstart            # listens on 127.0.0.1:3000 (PORT changes it)
//! ```
//!
//! | route | needs |
//! |---|---|
//! | `GET /health` | nothing (public) |
//! | `GET /me` | any valid token: the caller's context as JSON |
//! | `GET /books` | permission `read:Catalog` |
//! | `POST /books/{id}/reviews` | permission `write:Catalog.Review` |
//! | `DELETE /books/{id}` | permission `delete:Catalog` |
//! | `GET /reports/export` | action `reports:export` |
//!
//! Accounts live in an SQLite file (`portcullis-quickstart.db`, or `PORTCULLIS_DB`): on first
//! start it gets a signing key and three demo accounts (viewer, editor, admin) whose passwords are
//! printed; log in at `POST /auth/login` and call the routes with the access token.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use portcullis::api_key::{ApiKeyStrategy, ApiKeys};
use portcullis::identity::{IDENTITY_PUBLIC_PATHS, Identity, IdentityConfig, IdentityError};
use portcullis::store::sqlite::SqliteStore;
use portcullis::{AuthGateway, RequireAction, RequirePermission, UserContext, action, permission};
use serde::{Deserialize, Serialize};

permission!(ReadCatalog = "read:Catalog");
permission!(WriteReview = "write:Catalog.Review");
permission!(DeleteCatalog = "delete:Catalog");
action!(ExportReports = "reports:export");

#[derive(Clone, Serialize)]
struct Book {
    id: u32,
    title: String,
    reviews: Vec<Review>,
}

#[derive(Clone, Serialize)]
struct Review {
    by: String,
    text: String,
}

#[derive(Deserialize)]
struct NewReview {
    text: String,
}

type Catalog = Arc<Mutex<BTreeMap<u32, Book>>>;

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
    Json(lock(&catalog).values().cloned().collect())
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
const DEMO_ACCOUNTS: [(&str, &str, &str); 3] = [
    ("viewer@example.com", "viewer-demo-password", "viewer"),
    ("editor@example.com", "editor-demo-password", "editor"),
    ("admin@example.com", "admin-demo-password", "admin"),
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,portcullis=debug".into()),
        )
        .init();

    // The embedded default: one SQLite file holds accounts, sessions, revocations and the signing
    // key (generated on first start). PORTCULLIS_DB moves it.
    let path = std::env::var("PORTCULLIS_DB").unwrap_or_else(|_| "portcullis-quickstart.db".into());
    let store = SqliteStore::open(&path).await?;
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

    let app = Router::new()
        .route("/health", get(health))
        .route("/me", get(me))
        .route("/books", get(list_books))
        .route("/books/{id}/reviews", post(add_review))
        .route("/books/{id}", delete(delete_book))
        .route("/reports/export", get(export_reports))
        .with_state(seed())
        .merge(identity.router())
        .merge(api_keys.router())
        .layer(gateway);

    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT must be a port number, not {p:?}"))?,
        Err(_) => 3000,
    };
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let base = format!("http://{}", listener.local_addr()?);

    println!("portcullis quickstart: the book catalog listens on {base} (database: {path})\n");
    println!("Demo accounts (created on first start):");
    for (email, password, role) in DEMO_ACCOUNTS {
        println!("  {role:<7} {email:<20} password: {password}");
    }
    println!("\nTry it:");
    println!("  curl -i {base}/health                          # public: 200");
    println!(
        "  curl -i {base}/books                           # no token: 401 with a Bearer challenge"
    );
    println!(
        "  curl -s -X POST {base}/auth/login -H 'content-type: application/json' \\\n       -d '{{\"email\":\"editor@example.com\",\"password\":\"editor-demo-password\"}}'"
    );
    println!("  TOKEN=<access_token from the answer>; REFRESH=<refresh_token>");
    println!("  curl -i {base}/books -H \"Authorization: Bearer $TOKEN\"     # editor reads: 200");
    println!(
        "  curl -i -X DELETE {base}/books/3 -H \"Authorization: Bearer $TOKEN\"   # editor cannot delete: 403"
    );
    println!(
        "  curl -s -X POST {base}/auth/refresh -H 'content-type: application/json' -d \"{{\\\"refresh_token\\\":\\\"$REFRESH\\\"}}\""
    );
    println!(
        "  curl -i -X POST {base}/auth/logout -H \"Authorization: Bearer $TOKEN\"   # 204; the token is dead"
    );
    println!(
        "\nviewer: reads only; editor: reads and reviews; admin: everything, including delete and export."
    );

    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
