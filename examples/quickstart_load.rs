//! The servers behind `bench/quickstart-load.sh`: the quickstart app itself (SQLite, the built-in
//! identity's bearer tokens with their revocation checks, API keys with owner checks, RBAC, the
//! `RequirePermission` extractor), and beside it, in the same process and on the same books,
//! the `/books` handler with no gateway at all. Prints both ports; the script logs in over HTTP
//! and drives both with the same request.
//!
//! ```text
//! cargo run --release --example quickstart_load
//! ```

#[path = "quickstart/app.rs"]
mod app;
#[path = "quickstart/audit.rs"]
mod audit;

use std::net::{Ipv4Addr, SocketAddr};

use axum::ServiceExt;
use axum::extract::Request;
use axum::response::Response;

async fn serve<S>(app: S) -> Result<u16, Box<dyn std::error::Error>>
where
    S: tower_service::Service<Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        let service = ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app);
        if let Err(error) = axum::serve(listener, service).await {
            eprintln!("server stopped: {error}");
        }
    });
    Ok(port)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A fresh database each run, so that the demo accounts and the signing key are new.
    let path = std::env::temp_dir().join(format!("portcullis-load-{}.db", std::process::id()));
    let path = path
        .to_str()
        .ok_or("the temporary directory is not UTF-8")?;
    // AUDIT_SINK=discard: the app's trail seals and chains every decision as usual but keeps
    // nothing, so that BASELINE=noaudit measures the trail's cost in process, apart from its
    // store's.
    let recording = match std::env::var("AUDIT_SINK").as_deref() {
        Ok("discard") => audit::Recording::Discarded,
        _ => audit::Recording::Stored,
    };
    let (quickstart, books) = app::open_with(path, recording).await?;
    println!("APP_PORT={}", serve(quickstart).await?);
    println!("BARE_PORT={}", serve(app::bare_books(books)).await?);
    // The same app without its audit trail, on a database of its own (its own accounts and
    // signing key): what the trail costs (bench/quickstart-load.sh with BASELINE=noaudit).
    let quiet_path = format!("{path}-noaudit.db");
    let (quiet, _) = app::open_with(&quiet_path, audit::Recording::Off).await?;
    println!("NOAUDIT_PORT={}", serve(quiet).await?);
    println!("DB={path}");
    println!("ready");
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}
