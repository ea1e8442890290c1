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
//! Until built-in login exists, start-up prints a signed token for a demo viewer, editor and
//! admin, with curl lines to try each. The signing key is generated fresh at every start.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use portcullis::strategy::BearerStrategy;
use portcullis::token::{Key, KeyRing, TokenClaims, TokenIssuer, TokenRules};
use portcullis::{AuthGateway, RequireAction, RequirePermission, UserContext, action, permission};
use serde::{Deserialize, Serialize};

permission!(ReadCatalog = "read:Catalog");
permission!(WriteReview = "write:Catalog.Review");
permission!(DeleteCatalog = "delete:Catalog");
action!(ExportReports = "reports:export");

const ISSUER: &str = "http://127.0.0.1/quickstart";
const AUDIENCE: &str = "book-catalog";

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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,portcullis=debug".into()),
        )
        .init();

    // One key ring signs and verifies: the tokens printed below are checked with the same key.
    let ring = KeyRing::single(Key::generate_ed25519("quickstart-1")?);
    let rules = TokenRules::new().issuer(ISSUER).audience(AUDIENCE);
    let issuer = TokenIssuer::new(ring.clone())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .ttl(Duration::from_secs(60 * 60));

    let gateway = AuthGateway::new()
        .strategy(BearerStrategy::new(ring, rules))
        .public_path("/health")
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

    println!("portcullis quickstart: the book catalog listens on {base}\n");
    println!("  curl -i {base}/health                  # public: 200");
    println!("  curl -i {base}/books                   # no token: 401 with a Bearer challenge\n");
    for (name, roles) in [
        ("viewer", ["viewer"]),
        ("editor", ["editor"]),
        ("admin", ["admin"]),
    ] {
        let token = issuer.issue(&TokenClaims::new(format!("demo-{name}")).roles(roles))?;
        let env = name.to_uppercase();
        println!("# demo {name} (valid for one hour)");
        println!("{env}={token}");
        println!("  curl -i {base}/me -H \"Authorization: Bearer ${env}\"");
        println!("  curl -i {base}/books -H \"Authorization: Bearer ${env}\"");
        println!(
            "  curl -i -X POST {base}/books/1/reviews -H \"Authorization: Bearer ${env}\" -H 'content-type: application/json' -d '{{\"text\":\"Loved it\"}}'"
        );
        println!("  curl -i -X DELETE {base}/books/3 -H \"Authorization: Bearer ${env}\"");
        println!("  curl -i {base}/reports/export -H \"Authorization: Bearer ${env}\"\n");
    }
    println!(
        "viewer: reads only; editor: reads and reviews; admin: everything, including delete and export."
    );

    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
