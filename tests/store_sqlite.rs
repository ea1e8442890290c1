//! The store conformance suite on SQLite: a private in-memory database, and a WAL file in a fresh
//! directory (removed afterwards).
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used)]

mod conformance;

use portcullis::store::sqlite::SqliteStore;

/// Removes the test's database directory when the check is over, passed or failed.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fresh_dir() -> TempDir {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).unwrap();
    let name = format!(
        "portcullis-test-{}-{}",
        std::process::id(),
        u64::from_le_bytes(random)
    );
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

mod in_memory {
    use super::*;
    conformance!(async { Some((SqliteStore::in_memory().await.unwrap(), ())) });

    mod acl {
        use super::*;
        conformance!(@acl async { Some((SqliteStore::in_memory().await.unwrap(), ())) });
    }
}

mod file {
    use super::*;
    conformance!(async {
        let dir = fresh_dir();
        let store = SqliteStore::open(dir.0.join("store.db")).await.unwrap();
        Some((store, dir))
    });

    mod acl {
        use super::*;
        conformance!(@acl async {
            let dir = fresh_dir();
            let store = SqliteStore::open(dir.0.join("store.db")).await.unwrap();
            Some((store, dir))
        });
    }
}

#[tokio::test]
async fn data_survives_a_reopen() {
    use portcullis::store::{KeyStore, StoredKey};
    let dir = fresh_dir();
    let path = dir.0.join("store.db");
    let key = StoredKey {
        kid: "k".into(),
        alg: "EdDSA".into(),
        private_der: vec![9; 48],
        created_at: 1,
        retired_at: None,
    };
    SqliteStore::open(&path)
        .await
        .unwrap()
        .insert_key(&key)
        .await
        .unwrap();
    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(reopened.keys().await.unwrap(), vec![key]);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(reopened.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

/// A pool handed in by the application may leave foreign keys off: deleting a role or a tenant
/// must still take the grants and assignments, with no cascade to rely on.
mod without_foreign_keys {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    async fn store() -> SqliteStore {
        let options = "sqlite::memory:"
            .parse::<SqliteConnectOptions>()
            .unwrap()
            .foreign_keys(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .unwrap();
        let store = SqliteStore::from_pool(pool).await.unwrap();
        let on: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(on, 0, "the check needs foreign keys off");
        store
    }

    #[tokio::test]
    async fn deleting_a_role() {
        conformance::deleting_a_role(&store().await).await;
    }

    #[tokio::test]
    async fn deleting_a_tenant() {
        conformance::deleting_a_tenant(&store().await).await;
    }
}
