//! The PostgreSQL store, through sqlx, with the schema migrated on connect.
//!
//! Signing keys are stored unencrypted, as PKCS#8: restrict access to the tables like a key file.

use std::sync::LazyLock;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::StoreError;
use super::sql::{Dialect, Statements, sql_store, unavailable};
use super::sql_acl::sql_acl_store;
use super::sql_roles::sql_role_store;

static STATEMENTS: LazyLock<Statements> = LazyLock::new(|| Statements::new(Dialect::Postgres));

/// How long a request may wait for a connection (sqlx's default is 30 s). While the database is
/// down, sqlx keeps retrying to connect until then: past it the request is answered 503 with
/// `Retry-After` instead of hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// The pool [`PostgresStore::connect`] and [`PostgresStore::connect_in_schema`] make.
fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(ACQUIRE_TIMEOUT)
}

/// A store in a PostgreSQL database.
///
/// ```no_run
/// # async fn demo() -> Result<(), portcullis::store::StoreError> {
/// let store = portcullis::store::postgres::PostgresStore::connect("postgres://localhost/app").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    sql: &'static Statements,
    /// The schema the tables were migrated into (the connections' `current_schema()`), which
    /// an access filter names: the application's own pool may search elsewhere.
    schema: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresStore")
    }
}

/// Whether `name` may be used as a schema name without quoting: `^[a-z_][a-z0-9_]{0,62}$`.
fn valid_schema(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && name.len() <= 63
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl PostgresStore {
    /// Connects to `url` and migrates the database (in its default schema).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = pool_options().connect(url).await.map_err(unavailable)?;
        Self::migrated(pool).await
    }

    /// Connects to `url` with every connection using `schema` (created if missing), and migrates
    /// it: several applications, or parallel test runs, can share one database.
    pub async fn connect_in_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        if !valid_schema(schema) {
            return Err(StoreError::Unavailable(
                format!("invalid schema name {schema:?}").into(),
            ));
        }
        let base: PgConnectOptions = url.parse().map_err(unavailable)?;
        let setup = pool_options()
            .max_connections(1)
            .connect_with(base.clone())
            .await
            .map_err(unavailable)?;
        // The name was checked against a strict pattern above, so it can be interpolated.
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .execute(&setup)
            .await
            .map_err(unavailable)?;
        setup.close().await;
        let options = base.options([("search_path", schema)]);
        let pool = pool_options()
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        Self::migrated(pool).await
    }

    /// Wraps an existing pool and migrates its database. Give the pool a short
    /// `acquire_timeout` (the other constructors use 2 s): sqlx's default of 30 s makes every
    /// request wait that long while the database is down.
    pub async fn from_pool(pool: PgPool) -> Result<Self, StoreError> {
        Self::migrated(pool).await
    }

    async fn migrated(pool: PgPool) -> Result<Self, StoreError> {
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(super::BackendError::new("migration", e)))?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            pool,
            sql: &STATEMENTS,
            schema,
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn schema_of_tables(&self) -> Option<&str> {
        Some(&self.schema)
    }
}

sql_store!(PostgresStore, sqlx::Postgres);
sql_role_store!(PostgresStore, sqlx::Postgres);
sql_acl_store!(PostgresStore, sqlx::Postgres);

impl super::AccessFilter {
    /// Writes the filter's condition on `column` (your table's column holding the resource
    /// id: an identifier or `table.column` of your code, never user input) into `builder`,
    /// binding its values: `WHERE <column> IN (…)`, to page and join inside the database.
    /// An invalid column name is refused, and nothing is written.
    ///
    /// ```no_run
    /// # async fn list(acl: &portcullis::acl::Acl<portcullis::store::postgres::PostgresStore>, ctx: &portcullis::UserContext, pool: &sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
    /// use portcullis::store::Access;
    /// let filter = acl.filter(ctx, "docs", "document", Access::View, "acme").await?;
    /// let mut query = sqlx::QueryBuilder::new("SELECT id, title FROM documents WHERE ");
    /// filter.push_postgres("id", &mut query)?;
    /// query.push(" ORDER BY id LIMIT ").push_bind(20_i64);
    /// let rows = query.build().fetch_all(pool).await?;
    /// # let _ = rows; Ok(()) }
    /// ```
    pub fn push_postgres<'a>(
        &self,
        column: &str,
        builder: &mut sqlx::QueryBuilder<'a, sqlx::Postgres>,
    ) -> Result<(), StoreError> {
        let (sql, binds) = super::sql_acl::access_filter_sql(Dialect::Postgres, column, self)?;
        super::sql_acl::push_filter!(builder, sql, binds);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn schema_names() {
        for ok in ["app", "_x", "portcullis_test_12_ab"] {
            assert!(super::valid_schema(ok), "{ok}");
        }
        for bad in ["", "App", "1x", "a-b", "a;drop", "a b", &"a".repeat(64)] {
            assert!(!super::valid_schema(bad), "{bad}");
        }
    }
}
