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
//! | `GET /orgs/{org}/books` | `read:Catalog` in the organisation `org` (`acme`, `globex`) |
//! | `POST /orgs/{org}/books/{id}/reviews` | `write:Catalog.Review` in `org` |
//! | `/tenants/{org}/roles`, `/assignments`, `/who-can`, … | `manage:Roles` in `org` |
//! | `GET /orgs/{org}/documents` | any account: the documents it may see, paged in the database |
//! | `GET`, `PUT /orgs/{org}/documents/{id}` | `view`, `edit` on the document (else 404) |
//! | `POST /orgs/{org}/documents/{id}/shares` | the document's owner or an org-admin |
//!
//! In the organisations, what an account may do comes from that organisation's roles: the
//! editor is a librarian at acme and a reader at globex, the viewer a reader at globex, the admin
//! an org-admin of both (see `app::MEMBERSHIPS`).
//!
//! Accounts live in an SQLite file (`portcullis-quickstart.db`, or `PORTCULLIS_DB`): on first
//! start it gets a signing key and three demo accounts (viewer, editor, admin) whose passwords are
//! printed; log in at `POST /auth/login` and call the routes with the access token.
//!
//! **Several instances.** Built with `--features postgres,redis` and started with
//! `DATABASE_URL` (and `REDIS_URL`) set, the quickstart keeps everything in PostgreSQL (schema
//! `PORTCULLIS_SCHEMA`, default `quickstart`) and hears the other instances' changes over Redis,
//! so two copies on two ports are a cluster:
//!
//! ```text
//! export DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379
//! PORT=3000 cargo run --example quickstart --features postgres,redis &
//! PORT=3001 cargo run --example quickstart --features postgres,redis
//! ```
//!
//! A token revoked on one is refused by the other within milliseconds; failed logins count
//! against one lockout. Each instance writes its own audit chain (`quickstart-<port>`, or
//! `PORTCULLIS_INSTANCE`). Without Redis the instances still share every record, but one sees
//! another's revocations only when its caches expire (5 s), so configure both or neither; with
//! `REDIS_URL` set and Redis down, start-up fails rather than serving half-connected.
//! A build without the `postgres` feature ignores `DATABASE_URL`, says so, and runs on SQLite.
//!
//! Every decision is recorded in a signed, hash-chained audit trail in the same file; check it
//! with `cargo run --example audit_verify` (it prints how many records verified, or the first
//! broken link).
//!
//! The routes, handlers and the gateway in front of them are in `app.rs`; this file serves them.

mod app;
mod audit;

use std::net::{Ipv4Addr, SocketAddr};

use portcullis::audit::AuditTrail;

/// What must stay alive while the app serves (the subscription to the other instances).
type Running = Option<Box<dyn std::any::Any + Send>>;

/// The app on PostgreSQL (and Redis) when `DATABASE_URL` is set and the build can, else on the
/// SQLite file at `path`; with what the banner says about it.
async fn open(
    path: &str,
    port: u16,
) -> Result<(app::App, String, Running, Option<AuditTrail>), Box<dyn std::error::Error>> {
    let database_url = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());
    let redis_url = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty());
    #[cfg(feature = "postgres")]
    if let Some(database_url) = database_url {
        let schema = std::env::var("PORTCULLIS_SCHEMA").unwrap_or_else(|_| "quickstart".into());
        let instance =
            std::env::var("PORTCULLIS_INSTANCE").unwrap_or_else(|_| format!("quickstart-{port}"));
        let files = path.strip_suffix(".db").unwrap_or(path);
        let cluster = app::open_cluster(app::Cluster {
            database_url: &database_url,
            schema: &schema,
            redis_url: redis_url.as_deref(),
            instance: &instance,
            files,
        })
        .await?;
        let shared = match redis_url {
            Some(_) => "changes shared over Redis",
            None => {
                tracing::warn!(
                    "REDIS_URL is not set: other instances' revocations are seen when caches \
                     expire (5 s), not at once"
                );
                "no Redis: changes seen when caches expire"
            }
        };
        #[cfg(feature = "redis")]
        let running: Running = cluster
            .changes
            .map(|changes| Box::new(changes) as Box<dyn std::any::Any + Send>);
        #[cfg(not(feature = "redis"))]
        let running: Running = None;
        return Ok((
            cluster.app,
            format!("PostgreSQL schema {schema}, audit chain {instance}, {shared}"),
            running,
            cluster.trail,
        ));
    }
    #[cfg(not(feature = "postgres"))]
    if database_url.is_some() {
        tracing::warn!(
            "DATABASE_URL is set but this build has no `postgres` feature: running on SQLite \
             alone (cargo run --example quickstart --features postgres,redis runs on it)"
        );
    }
    if redis_url.is_some() {
        tracing::info!("REDIS_URL is used only with DATABASE_URL: one SQLite file is one instance");
    }
    let (app, trail) = app::open(path).await?;
    let _ = port;
    Ok((app, format!("SQLite file {path}"), None, trail))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,portcullis=debug".into()),
        )
        .init();

    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT must be a port number, not {p:?}"))?,
        Err(_) => 3000,
    };
    // Bound before the app opens: a cluster instance names its audit chain after its port.
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let address = listener.local_addr()?;
    let base = format!("http://{address}");

    // PORTCULLIS_DB moves the SQLite file (and, on PostgreSQL, names the audit key's files).
    let path = std::env::var("PORTCULLIS_DB").unwrap_or_else(|_| "portcullis-quickstart.db".into());
    let (app, database, _running, trail) = open(&path, address.port()).await?;

    println!("portcullis quickstart: the book catalog listens on {base} (database: {database})\n");
    println!("Demo accounts (created on first start):");
    for (email, password, role) in app::DEMO_ACCOUNTS {
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
        "  curl -i {base}/orgs/acme/books -H \"Authorization: Bearer $TOKEN\"   # editor is acme's librarian: 200"
    );
    println!(
        "  curl -i {base}/orgs/globex/books -H \"Authorization: Bearer $TOKEN\"   # and globex's reader: 200"
    );
    println!(
        "  curl -s {base}/orgs/acme/documents -H \"Authorization: Bearer $TOKEN\"   # what the editor may see: own, shared with a group, public"
    );
    println!(
        "\nviewer: reads only; editor: reads and reviews; admin: everything, including delete and export."
    );
    println!(
        "Organisations (tenants): acme and globex, each with its own books and roles (reader < librarian < org-admin)."
    );

    axum::serve(
        listener,
        axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
            SocketAddr,
        >(app),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    if let Some(trail) = trail {
        flush_before_exit(&trail).await;
    }
    Ok(())
}

/// Ctrl-C, or SIGTERM (what service managers and orchestrators send).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
                return;
            }
            Err(error) => tracing::warn!(%error, "SIGTERM cannot be caught; Ctrl-C still stops"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Every decision that took effect has its record queued; the writer may still hold some (a
/// burst, or a database that just came back). Exiting now would lose them, so wait for the
/// writer, within a bound, and say plainly if it could not finish.
async fn flush_before_exit(trail: &AuditTrail) {
    const BOUND: std::time::Duration = std::time::Duration::from_secs(30);
    match tokio::time::timeout(BOUND, trail.flush()).await {
        Ok(()) => tracing::info!(written = trail.stats().written, "audit trail flushed"),
        Err(_) => tracing::error!(
            written = trail.stats().written,
            "audit trail: records still unwritten after 30 s (is the database down?); they are \
             lost with this process"
        ),
    }
}
