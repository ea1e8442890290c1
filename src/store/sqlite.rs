//! The embedded default store: SQLite through sqlx, with the schema migrated on open.
//!
//! The database runs in WAL mode (readers never wait for the writer), with foreign keys on, a 5 s
//! busy timeout and `synchronous = NORMAL` (durable at every checkpoint, safe against corruption).
//! Signing keys are stored unencrypted, as PKCS#8: protect the database file like a key file.

use std::path::Path;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::StoreError;
use super::sql::{Dialect, Statements, sql_store, unavailable};
use super::sql_acl::sql_acl_store;
use super::sql_roles::sql_role_store;

static STATEMENTS: LazyLock<Statements> = LazyLock::new(|| Statements::new(Dialect::Sqlite));

/// A store in an SQLite database.
///
/// ```no_run
/// # async fn demo() -> Result<(), portcullis::store::StoreError> {
/// let store = portcullis::store::sqlite::SqliteStore::open("portcullis.db").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    sql: &'static Statements,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    /// Every connection to the database file finds the tables: no schema to name.
    fn schema_of_tables(&self) -> Option<&str> {
        None
    }

    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        Self::migrated(pool).await
    }

    /// A private in-memory database (one connection, so every query sees the same data): for
    /// tests and throw-away demos.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(unavailable)?
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        Self::migrated(pool).await
    }

    /// Wraps an existing pool and migrates its database.
    pub async fn from_pool(pool: SqlitePool) -> Result<Self, StoreError> {
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> Result<Self, StoreError> {
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(super::BackendError::new("migration", e)))?;
        Ok(Self {
            pool,
            sql: &STATEMENTS,
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

sql_store!(SqliteStore, sqlx::Sqlite);
sql_role_store!(SqliteStore, sqlx::Sqlite);
sql_acl_store!(SqliteStore, sqlx::Sqlite);

impl super::AccessFilter {
    /// Writes the filter's condition on `column` (your table's column holding the resource
    /// id: an identifier or `table.column` of your code, never user input) into `builder`,
    /// binding its values: `EXISTS (…)`, tested row by row, so a query paging in its own order
    /// stops after its page (the accessible set is never worked out whole).
    /// An invalid column name is refused, and nothing is written.
    ///
    /// ```no_run
    /// # async fn list(acl: &portcullis::acl::Acl<portcullis::store::sqlite::SqliteStore>, ctx: &portcullis::UserContext, pool: &sqlx::SqlitePool) -> Result<(), Box<dyn std::error::Error>> {
    /// use portcullis::store::Access;
    /// let filter = acl.filter(ctx, "docs", "document", Access::View, "acme").await?;
    /// let mut query = sqlx::QueryBuilder::new("SELECT id, title FROM documents WHERE ");
    /// filter.push_sqlite("id", &mut query)?;
    /// query.push(" ORDER BY id LIMIT ").push_bind(20_i64);
    /// let rows = query.build().fetch_all(pool).await?;
    /// # let _ = rows; Ok(()) }
    /// ```
    pub fn push_sqlite<'a>(
        &self,
        column: &str,
        builder: &mut sqlx::QueryBuilder<'a, sqlx::Sqlite>,
    ) -> Result<(), StoreError> {
        let (sql, binds) = super::sql_acl::access_filter_sql(Dialect::Sqlite, column, self)?;
        super::sql_acl::push_filter!(builder, sql, binds);
        Ok(())
    }
}
