//! The store conformance suite on PostgreSQL. Each test gets its own schema in the database named
//! by `DATABASE_URL` and drops it afterwards; without `DATABASE_URL` the tests say they were
//! skipped, and with it an unreachable server is a failure.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod conformance;

use portcullis::store::postgres::PostgresStore;

/// Drops the test's schema when the check is over, passed or failed (on its own thread and
/// runtime, since `Drop` cannot await).
struct Schema {
    url: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&url)
                    .await
                    .unwrap();
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            });
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop test schema {}", self.name);
        }
    }
}

async fn fresh() -> Option<(PostgresStore, Schema)> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!(
            "skipped: DATABASE_URL is not set (the Postgres conformance suite needs a server)"
        );
        return None;
    };
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).unwrap();
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("portcullis_test_{}_{suffix}", std::process::id());
    let store = PostgresStore::connect_in_schema(&url, &name)
        .await
        .unwrap_or_else(|e| panic!("DATABASE_URL is set but the server cannot be used: {e}"));
    Some((store, Schema { url, name }))
}

conformance!(fresh());

mod acl {
    use super::*;
    conformance!(@acl fresh());
}
