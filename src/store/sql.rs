//! What the SQL backends share: the statements (written once, with `?` placeholders, numbered
//! for PostgreSQL), error mapping, and one implementation of every store trait, instantiated per
//! backend by `sql_store!`. Only runtime-checked queries are used, so building never needs a
//! database.

use std::borrow::Cow;

use super::BackendError;
use super::{StoreError, StoreResult};

/// Every statement the SQL stores run, in one backend's dialect.
pub(crate) struct Statements {
    pub(crate) create_user: Cow<'static, str>,
    pub(crate) user_by_email: Cow<'static, str>,
    pub(crate) user_by_id: Cow<'static, str>,
    pub(crate) set_password_hash: Cow<'static, str>,
    pub(crate) set_disabled: Cow<'static, str>,
    pub(crate) insert_refresh: Cow<'static, str>,
    pub(crate) consume_refresh: Cow<'static, str>,
    pub(crate) classify_refresh: Cow<'static, str>,
    pub(crate) revoke_family: Cow<'static, str>,
    pub(crate) revoke_user_families: Cow<'static, str>,
    pub(crate) revoke_token: Cow<'static, str>,
    pub(crate) is_token_revoked: Cow<'static, str>,
    pub(crate) set_revoked_before: Cow<'static, str>,
    pub(crate) revoked_before: Cow<'static, str>,
    pub(crate) purge_expired: Cow<'static, str>,
    pub(crate) record_failure: Cow<'static, str>,
    pub(crate) failures: Cow<'static, str>,
    pub(crate) clear_failures: Cow<'static, str>,
    pub(crate) insert_key: Cow<'static, str>,
    pub(crate) keys: Cow<'static, str>,
    pub(crate) retire_key: Cow<'static, str>,
    pub(crate) delete_key: Cow<'static, str>,
    pub(crate) insert_api_key: Cow<'static, str>,
    pub(crate) api_key: Cow<'static, str>,
    pub(crate) api_keys_of: Cow<'static, str>,
    pub(crate) all_api_keys: Cow<'static, str>,
    pub(crate) revoke_api_key: Cow<'static, str>,
    pub(crate) record_api_key_use: Cow<'static, str>,
    pub(crate) insert_session: Cow<'static, str>,
    pub(crate) session: Cow<'static, str>,
    pub(crate) touch_session: Cow<'static, str>,
    pub(crate) delete_session: Cow<'static, str>,
    pub(crate) link_external: Cow<'static, str>,
    pub(crate) linked_user: Cow<'static, str>,
    pub(crate) set_roles: Cow<'static, str>,
    /// Run in order in one transaction: the user's credentials, then the user.
    pub(crate) delete_user: [Cow<'static, str>; 5],
    pub(crate) purge_refresh: Cow<'static, str>,
    pub(crate) purge_revoked_families: Cow<'static, str>,
    pub(crate) release_failure: Cow<'static, str>,
    pub(crate) purge_failures: Cow<'static, str>,
    pub(crate) purge_sessions: Cow<'static, str>,
    /// Serialises key creation per owner where one statement alone would not (PostgreSQL's
    /// read-committed snapshots let two concurrent capped inserts both see room).
    pub(crate) lock_owner: Option<Cow<'static, str>>,
    /// The tenant role model's statements (`sql_roles.rs`, kept apart so this file stays about
    /// the identity).
    pub(crate) roles: super::sql_roles::RoleStatements,
    /// The entity permission store's statements (`sql_acl.rs`).
    pub(crate) acl: super::sql_acl::AclStatements,
}

/// The dialects differ in placeholders (`?` or `$n`) and in the two-argument maximum.
#[derive(Clone, Copy)]
pub(crate) enum Dialect {
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

impl Statements {
    pub(crate) fn new(dialect: Dialect) -> Self {
        let max = match dialect {
            Dialect::Sqlite => "MAX",
            Dialect::Postgres => "GREATEST",
        };
        let q = |sql: &'static str| -> Cow<'static, str> {
            match dialect {
                Dialect::Sqlite => Cow::Borrowed(sql),
                Dialect::Postgres => Cow::Owned(numbered(sql)),
            }
        };
        let with_max = |sql: &'static str| -> Cow<'static, str> {
            let sql = sql.replace("{MAX}", max);
            match dialect {
                Dialect::Sqlite => Cow::Owned(sql),
                Dialect::Postgres => Cow::Owned(numbered(&sql)),
            }
        };
        Self {
            create_user: q("INSERT INTO portcullis_users \
                (id, email, password_hash, roles, disabled, created_at, password_changed_at) \
                VALUES (?, ?, ?, ?, ?, ?, ?)"),
            user_by_email: q(
                "SELECT id, email, password_hash, roles, disabled, created_at, password_changed_at \
                FROM portcullis_users WHERE email = ?",
            ),
            user_by_id: q(
                "SELECT id, email, password_hash, roles, disabled, created_at, password_changed_at \
                FROM portcullis_users WHERE id = ?",
            ),
            set_password_hash: q(
                "UPDATE portcullis_users SET password_hash = ?, password_changed_at = ? WHERE id = ?",
            ),
            set_disabled: q("UPDATE portcullis_users SET disabled = ? WHERE id = ?"),
            insert_refresh: q("INSERT INTO portcullis_refresh_tokens \
                (digest, family, user_id, issued_at, expires_at, used) VALUES (?, ?, ?, ?, ?, FALSE)"),
            // One statement spends the token: under concurrency exactly one caller gets the row.
            consume_refresh: q("UPDATE portcullis_refresh_tokens SET used = TRUE \
                WHERE digest = ? AND used = FALSE AND expires_at > ? \
                AND family NOT IN (SELECT family FROM portcullis_revoked_families) \
                RETURNING family, user_id, issued_at, expires_at"),
            classify_refresh: q(
                "SELECT t.family, t.user_id, t.issued_at, t.expires_at, t.used, \
                EXISTS (SELECT 1 FROM portcullis_revoked_families r WHERE r.family = t.family) AS revoked \
                FROM portcullis_refresh_tokens t WHERE t.digest = ?",
            ),
            revoke_family: q(
                "INSERT INTO portcullis_revoked_families (family) VALUES (?) ON CONFLICT (family) DO NOTHING",
            ),
            revoke_user_families: q("INSERT INTO portcullis_revoked_families (family) \
                SELECT DISTINCT family FROM portcullis_refresh_tokens \
                WHERE user_id = ? AND COALESCE(family <> ?, TRUE) \
                ON CONFLICT (family) DO NOTHING"),
            revoke_token: with_max(
                "INSERT INTO portcullis_token_denylist (jti, expires_at) VALUES (?, ?) \
                ON CONFLICT (jti) DO UPDATE SET expires_at = \
                {MAX}(portcullis_token_denylist.expires_at, excluded.expires_at)",
            ),
            is_token_revoked: q("SELECT 1 FROM portcullis_token_denylist WHERE jti = ?"),
            set_revoked_before: with_max(
                "INSERT INTO portcullis_revoked_before (user_id, at_us) VALUES (?, ?) \
                ON CONFLICT (user_id) DO UPDATE SET at_us = {MAX}(portcullis_revoked_before.at_us, excluded.at_us)",
            ),
            revoked_before: q("SELECT at_us FROM portcullis_revoked_before WHERE user_id = ?"),
            purge_expired: q("DELETE FROM portcullis_token_denylist WHERE expires_at <= ?"),
            record_failure: q(
                "INSERT INTO portcullis_login_failures (key, count, last_at) VALUES (?, 1, ?) \
                ON CONFLICT (key) DO UPDATE SET \
                count = CASE WHEN portcullis_login_failures.last_at < ? THEN 1 \
                        ELSE portcullis_login_failures.count + 1 END, \
                last_at = excluded.last_at \
                RETURNING count, last_at",
            ),
            failures: q("SELECT count, last_at FROM portcullis_login_failures WHERE key = ?"),
            clear_failures: q("DELETE FROM portcullis_login_failures WHERE key = ?"),
            insert_key: q(
                "INSERT INTO portcullis_signing_keys (kid, alg, private_der, created_at, retired_at) \
                VALUES (?, ?, ?, ?, NULL)",
            ),
            keys: q(
                "SELECT kid, alg, private_der, created_at, retired_at FROM portcullis_signing_keys \
                ORDER BY created_at, kid",
            ),
            retire_key: q("UPDATE portcullis_signing_keys SET retired_at = ? WHERE kid = ?"),
            delete_key: q("DELETE FROM portcullis_signing_keys WHERE kid = ?"),
            // Inserted only while the owner has room: checked and written in one statement.
            insert_api_key: q("INSERT INTO portcullis_api_keys \
                (id, digest, display_prefix, owner, name, roles, scopes, tenant, created_at, expires_at, revoked_at, last_used_at, created_at_us) \
                SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? \
                WHERE (SELECT COUNT(*) FROM portcullis_api_keys WHERE owner = ? AND revoked_at IS NULL \
                       AND (expires_at IS NULL OR expires_at > ?)) < ?"),
            api_key: q("SELECT * FROM portcullis_api_keys WHERE id = ?"),
            api_keys_of: q(
                "SELECT * FROM portcullis_api_keys WHERE owner = ? ORDER BY created_at, id",
            ),
            all_api_keys: q(
                "SELECT * FROM portcullis_api_keys ORDER BY created_at, id LIMIT ? OFFSET ?",
            ),
            revoke_api_key: q(
                "UPDATE portcullis_api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
            ),
            record_api_key_use: with_max(
                "UPDATE portcullis_api_keys \
                SET last_used_at = {MAX}(COALESCE(last_used_at, ?), ?) WHERE id = ?",
            ),
            insert_session: q("INSERT INTO portcullis_sessions \
                (digest, user_id, email, roles, created_at_us, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)"),
            session: q("SELECT * FROM portcullis_sessions WHERE digest = ?"),
            touch_session: with_max(
                "UPDATE portcullis_sessions SET last_seen_at = {MAX}(last_seen_at, ?) WHERE digest = ?",
            ),
            delete_session: q("DELETE FROM portcullis_sessions WHERE digest = ?"),
            link_external: q(
                "INSERT INTO portcullis_external_identities (issuer, subject, user_id, created_at) \
                VALUES (?, ?, ?, ?)",
            ),
            linked_user: q(
                "SELECT user_id FROM portcullis_external_identities WHERE issuer = ? AND subject = ?",
            ),
            set_roles: q("UPDATE portcullis_users SET roles = ? WHERE id = ?"),
            delete_user: [
                q("DELETE FROM portcullis_refresh_tokens WHERE user_id = ?"),
                q("DELETE FROM portcullis_sessions WHERE user_id = ?"),
                q("DELETE FROM portcullis_api_keys WHERE owner = ?"),
                q("DELETE FROM portcullis_external_identities WHERE user_id = ?"),
                q("DELETE FROM portcullis_users WHERE id = ?"),
            ],
            purge_refresh: q("DELETE FROM portcullis_refresh_tokens WHERE expires_at <= ?"),
            purge_revoked_families: q("DELETE FROM portcullis_revoked_families \
                WHERE family NOT IN (SELECT family FROM portcullis_refresh_tokens)"),
            release_failure: q(
                "UPDATE portcullis_login_failures SET count = count - 1 WHERE key = ? AND count > 0",
            ),
            purge_failures: q("DELETE FROM portcullis_login_failures WHERE last_at < ?"),
            purge_sessions: q(
                "DELETE FROM portcullis_sessions WHERE expires_at <= ? OR last_seen_at <= ?",
            ),
            lock_owner: match dialect {
                Dialect::Sqlite => None, // writers are serialised by the database itself
                Dialect::Postgres => Some(q("SELECT pg_advisory_xact_lock(hashtext(?))")),
            },
            roles: super::sql_roles::RoleStatements::new(dialect),
            acl: super::sql_acl::AclStatements::new(dialect),
        }
    }
}

/// `?` placeholders to `$1, $2, …` (no statement here has a `?` inside a string literal).
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Maps a driver error; `conflict` names the unique key for a unique violation.
pub(crate) fn map_error(error: sqlx::Error, conflict: &'static str) -> StoreError {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
    {
        return StoreError::Conflict(conflict);
    }
    unavailable(error)
}

/// Any driver error as [`StoreError::Unavailable`], the driver's error kept as its source. sqlx
/// never puts bound values in its errors, so it carries no secret.
pub(crate) fn unavailable(error: sqlx::Error) -> StoreError {
    StoreError::Unavailable(BackendError::new("database", error))
}

/// For a unique violation on users: which key was taken.
pub(crate) fn user_conflict(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
    {
        let names_email =
            db.constraint().is_some_and(|c| c.contains("email")) || db.message().contains("email");
        return StoreError::Conflict(if names_email { "email" } else { "user id" });
    }
    unavailable(error)
}

/// `Ok` when a statement changed a row, [`StoreError::NotFound`]`(what)` when it found none.
pub(crate) fn found(rows_affected: u64, what: &'static str) -> StoreResult<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound(what))
    } else {
        Ok(())
    }
}

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("stored {what} is not in the expected form").into())
}

/// Implements every store trait for `$store` (a struct with a `pool` field and a `sql`
/// `&'static Statements` field) over the sqlx database `$db`.
macro_rules! sql_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use sqlx::Row as _;

            use $crate::store::sql::{corrupt, found, map_error, unavailable, user_conflict};
            use $crate::store::{
                ApiKeyRecord, ApiKeyStore, Consumed, ExternalIdentityStore, Failures, KeyStore,
                RefreshRecord, RefreshStore, RevocationStore, SessionRecord, SessionStore,
                StoreError, StoreResult, StoredKey, ThrottleStore, UserRecord, UserStore,
            };

            fn user_of(row: &<$db as sqlx::Database>::Row) -> StoreResult<UserRecord> {
                let roles: String = row.try_get("roles").map_err(unavailable)?;
                Ok(UserRecord {
                    id: row.try_get("id").map_err(unavailable)?,
                    email: row.try_get("email").map_err(unavailable)?,
                    password_hash: row.try_get("password_hash").map_err(unavailable)?,
                    roles: serde_json::from_str(&roles).map_err(|_| corrupt("roles"))?,
                    disabled: row.try_get("disabled").map_err(unavailable)?,
                    created_at: row.try_get("created_at").map_err(unavailable)?,
                    password_changed_at: row.try_get("password_changed_at").map_err(unavailable)?,
                })
            }

            fn refresh_of(
                row: &<$db as sqlx::Database>::Row,
                digest: &[u8; 32],
            ) -> StoreResult<RefreshRecord> {
                Ok(RefreshRecord {
                    digest: *digest,
                    family: row.try_get("family").map_err(unavailable)?,
                    user_id: row.try_get("user_id").map_err(unavailable)?,
                    issued_at: row.try_get("issued_at").map_err(unavailable)?,
                    expires_at: row.try_get("expires_at").map_err(unavailable)?,
                })
            }

            fn api_key_of(row: &<$db as sqlx::Database>::Row) -> StoreResult<ApiKeyRecord> {
                let list = |column: &str| -> StoreResult<Vec<String>> {
                    let text: String = row.try_get(column).map_err(unavailable)?;
                    serde_json::from_str(&text).map_err(|_| corrupt(column))
                };
                let digest: Vec<u8> = row.try_get("digest").map_err(unavailable)?;
                Ok(ApiKeyRecord {
                    id: row.try_get("id").map_err(unavailable)?,
                    digest: digest.try_into().map_err(|_| corrupt("api key digest"))?,
                    display_prefix: row.try_get("display_prefix").map_err(unavailable)?,
                    owner: row.try_get("owner").map_err(unavailable)?,
                    name: row.try_get("name").map_err(unavailable)?,
                    roles: list("roles")?,
                    scopes: list("scopes")?,
                    tenant: row.try_get("tenant").map_err(unavailable)?,
                    created_at: row.try_get("created_at").map_err(unavailable)?,
                    created_at_us: row.try_get("created_at_us").map_err(unavailable)?,
                    expires_at: row.try_get("expires_at").map_err(unavailable)?,
                    revoked_at: row.try_get("revoked_at").map_err(unavailable)?,
                    last_used_at: row.try_get("last_used_at").map_err(unavailable)?,
                })
            }

            fn failures_of(row: &<$db as sqlx::Database>::Row) -> StoreResult<Failures> {
                let count: i64 = row.try_get("count").map_err(unavailable)?;
                Ok(Failures {
                    count: u32::try_from(count).unwrap_or(u32::MAX),
                    last_at: row.try_get("last_at").map_err(unavailable)?,
                })
            }

            impl UserStore for $store {
                async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
                    let roles = serde_json::to_string(&user.roles).map_err(|_| corrupt("roles"))?;
                    sqlx::query(&self.sql.create_user)
                        .bind(&user.id)
                        .bind(&user.email)
                        .bind(&user.password_hash)
                        .bind(roles)
                        .bind(user.disabled)
                        .bind(user.created_at)
                        .bind(user.password_changed_at)
                        .execute(&self.pool)
                        .await
                        .map_err(user_conflict)?;
                    Ok(())
                }

                async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
                    let row = sqlx::query(&self.sql.user_by_email)
                        .bind(email)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    row.as_ref().map(user_of).transpose()
                }

                async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRecord>> {
                    let row = sqlx::query(&self.sql.user_by_id)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    row.as_ref().map(user_of).transpose()
                }

                async fn set_password_hash(
                    &self,
                    id: &str,
                    hash: &str,
                    changed_at: i64,
                ) -> StoreResult<()> {
                    let done = sqlx::query(&self.sql.set_password_hash)
                        .bind(hash)
                        .bind(changed_at)
                        .bind(id)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    found(done.rows_affected(), "user")
                }

                async fn set_disabled(&self, id: &str, disabled: bool) -> StoreResult<()> {
                    let done = sqlx::query(&self.sql.set_disabled)
                        .bind(disabled)
                        .bind(id)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    found(done.rows_affected(), "user")
                }

                async fn set_roles(&self, id: &str, roles: &[String]) -> StoreResult<()> {
                    let roles = serde_json::to_string(roles).map_err(|_| corrupt("roles"))?;
                    let done = sqlx::query(&self.sql.set_roles)
                        .bind(roles)
                        .bind(id)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    found(done.rows_affected(), "user")
                }

                async fn delete_user(&self, id: &str) -> StoreResult<()> {
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    let mut last = 0;
                    for statement in &self.sql.delete_user {
                        last = sqlx::query(statement)
                            .bind(id)
                            .execute(&mut *tx)
                            .await
                            .map_err(unavailable)?
                            .rows_affected();
                    }
                    if last == 0 {
                        // Nothing of an unknown user is deleted: roll back.
                        return Err(StoreError::NotFound("user"));
                    }
                    tx.commit().await.map_err(unavailable)
                }
            }

            impl RefreshStore for $store {
                async fn insert_refresh(&self, record: &RefreshRecord) -> StoreResult<()> {
                    sqlx::query(&self.sql.insert_refresh)
                        .bind(&record.digest[..])
                        .bind(&record.family)
                        .bind(&record.user_id)
                        .bind(record.issued_at)
                        .bind(record.expires_at)
                        .execute(&self.pool)
                        .await
                        .map_err(|e| map_error(e, "refresh token"))?;
                    Ok(())
                }

                async fn consume_refresh(
                    &self,
                    digest: &[u8; 32],
                    now: i64,
                ) -> StoreResult<Consumed> {
                    let spent = sqlx::query(&self.sql.consume_refresh)
                        .bind(&digest[..])
                        .bind(now)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    if let Some(row) = spent {
                        return Ok(Consumed::Fresh(refresh_of(&row, digest)?));
                    }
                    let Some(row) = sqlx::query(&self.sql.classify_refresh)
                        .bind(&digest[..])
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?
                    else {
                        return Ok(Consumed::Unknown);
                    };
                    let record = refresh_of(&row, digest)?;
                    let used: bool = row.try_get("used").map_err(unavailable)?;
                    let revoked: bool = row.try_get("revoked").map_err(unavailable)?;
                    Ok(if revoked {
                        Consumed::Revoked
                    } else if used {
                        Consumed::Reused(record)
                    } else if record.expires_at <= now {
                        Consumed::Expired
                    } else {
                        // Neither spent nor dead, yet the update found nothing: refuse without
                        // revoking anything.
                        Consumed::Unknown
                    })
                }

                async fn revoke_family(&self, family: &str) -> StoreResult<()> {
                    sqlx::query(&self.sql.revoke_family)
                        .bind(family)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    Ok(())
                }

                async fn revoke_user_families(
                    &self,
                    user_id: &str,
                    keep: Option<&str>,
                ) -> StoreResult<()> {
                    sqlx::query(&self.sql.revoke_user_families)
                        .bind(user_id)
                        .bind(keep)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    Ok(())
                }

                async fn purge_refresh(&self, now: i64) -> StoreResult<u64> {
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    let purged = sqlx::query(&self.sql.purge_refresh)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?
                        .rows_affected();
                    sqlx::query(&self.sql.purge_revoked_families)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    tx.commit().await.map_err(unavailable)?;
                    Ok(purged)
                }
            }

            impl RevocationStore for $store {
                async fn revoke_token(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
                    sqlx::query(&self.sql.revoke_token)
                        .bind(jti)
                        .bind(expires_at)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    Ok(())
                }

                async fn is_token_revoked(&self, jti: &str) -> StoreResult<bool> {
                    let row = sqlx::query(&self.sql.is_token_revoked)
                        .bind(jti)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    Ok(row.is_some())
                }

                async fn set_revoked_before(&self, user_id: &str, at_us: i64) -> StoreResult<()> {
                    sqlx::query(&self.sql.set_revoked_before)
                        .bind(user_id)
                        .bind(at_us)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    Ok(())
                }

                async fn revoked_before(&self, user_id: &str) -> StoreResult<Option<i64>> {
                    let row = sqlx::query(&self.sql.revoked_before)
                        .bind(user_id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    row.map(|r| r.try_get("at_us").map_err(unavailable))
                        .transpose()
                }

                async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
                    let done = sqlx::query(&self.sql.purge_expired)
                        .bind(now)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    Ok(done.rows_affected())
                }
            }

            impl ThrottleStore for $store {
                async fn record_failure(
                    &self,
                    key: &str,
                    now: i64,
                    window: i64,
                ) -> StoreResult<Failures> {
                    let row = sqlx::query(&self.sql.record_failure)
                        .bind(key)
                        .bind(now)
                        .bind(now.saturating_sub(window))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    failures_of(&row)
                }

                async fn failures(&self, key: &str) -> StoreResult<Option<Failures>> {
                    let row = sqlx::query(&self.sql.failures)
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    row.as_ref().map(failures_of).transpose()
                }

                async fn clear_failures(&self, key: &str) -> StoreResult<()> {
                    sqlx::query(&self.sql.clear_failures)
                        .bind(key)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    Ok(())
                }

                async fn release_failure(&self, key: &str) -> StoreResult<()> {
                    sqlx::query(&self.sql.release_failure)
                        .bind(key)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    Ok(())
                }

                async fn purge_failures(&self, before: i64) -> StoreResult<u64> {
                    let done = sqlx::query(&self.sql.purge_failures)
                        .bind(before)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    Ok(done.rows_affected())
                }
            }

            impl KeyStore for $store {
                async fn insert_key(&self, key: &StoredKey) -> StoreResult<()> {
                    sqlx::query(&self.sql.insert_key)
                        .bind(&key.kid)
                        .bind(&key.alg)
                        .bind(&key.private_der[..])
                        .bind(key.created_at)
                        .execute(&self.pool)
                        .await
                        .map_err(|e| map_error(e, "key id"))?;
                    if let Some(at) = key.retired_at {
                        self.retire_key(&key.kid, at).await?;
                    }
                    Ok(())
                }

                async fn keys(&self) -> StoreResult<Vec<StoredKey>> {
                    let rows = sqlx::query(&self.sql.keys)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    rows.iter()
                        .map(|row| {
                            Ok(StoredKey {
                                kid: row.try_get("kid").map_err(unavailable)?,
                                alg: row.try_get("alg").map_err(unavailable)?,
                                private_der: row.try_get("private_der").map_err(unavailable)?,
                                created_at: row.try_get("created_at").map_err(unavailable)?,
                                retired_at: row.try_get("retired_at").map_err(unavailable)?,
                            })
                        })
                        .collect()
                }

                async fn retire_key(&self, kid: &str, at: i64) -> StoreResult<()> {
                    let done = sqlx::query(&self.sql.retire_key)
                        .bind(at)
                        .bind(kid)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    found(done.rows_affected(), "key")
                }

                async fn delete_key(&self, kid: &str) -> StoreResult<()> {
                    let done = sqlx::query(&self.sql.delete_key)
                        .bind(kid)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    found(done.rows_affected(), "key")
                }
            }
            impl ApiKeyStore for $store {
                async fn insert_api_key(
                    &self,
                    key: &ApiKeyRecord,
                    max_live: u32,
                ) -> StoreResult<()> {
                    let roles = serde_json::to_string(&key.roles).map_err(|_| corrupt("roles"))?;
                    let scopes =
                        serde_json::to_string(&key.scopes).map_err(|_| corrupt("scopes"))?;
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    if let Some(lock) = &self.sql.lock_owner {
                        sqlx::query(lock)
                            .bind(&key.owner)
                            .execute(&mut *tx)
                            .await
                            .map_err(unavailable)?;
                    }
                    let done = sqlx::query(&self.sql.insert_api_key)
                        .bind(&key.id)
                        .bind(&key.digest[..])
                        .bind(&key.display_prefix)
                        .bind(&key.owner)
                        .bind(&key.name)
                        .bind(roles)
                        .bind(scopes)
                        .bind(&key.tenant)
                        .bind(key.created_at)
                        .bind(key.expires_at)
                        .bind(key.revoked_at)
                        .bind(key.last_used_at)
                        .bind(key.created_at_us)
                        .bind(&key.owner)
                        .bind(key.created_at)
                        .bind(i64::from(max_live))
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_error(e, "api key id"))?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::Conflict("api key limit"));
                    }
                    tx.commit().await.map_err(unavailable)
                }

                async fn api_key(&self, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
                    let row = sqlx::query(&self.sql.api_key)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    row.as_ref().map(api_key_of).transpose()
                }

                async fn api_keys_of(&self, owner: &str) -> StoreResult<Vec<ApiKeyRecord>> {
                    let rows = sqlx::query(&self.sql.api_keys_of)
                        .bind(owner)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    rows.iter().map(api_key_of).collect()
                }

                async fn all_api_keys(
                    &self,
                    limit: u32,
                    offset: u32,
                ) -> StoreResult<Vec<ApiKeyRecord>> {
                    let rows = sqlx::query(&self.sql.all_api_keys)
                        .bind(i64::from(limit))
                        .bind(i64::from(offset))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    rows.iter().map(api_key_of).collect()
                }

                async fn revoke_api_key(&self, id: &str, at: i64) -> StoreResult<()> {
                    let done = sqlx::query(&self.sql.revoke_api_key)
                        .bind(at)
                        .bind(id)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    found(done.rows_affected(), "api key")
                }

                async fn record_api_key_use(&self, uses: &[(String, i64)]) -> StoreResult<()> {
                    // One transaction for the batch: a flush is one round of writes, not one per use.
                    let mut tx = self.pool.begin().await.map_err(unavailable)?;
                    for (id, at) in uses {
                        sqlx::query(&self.sql.record_api_key_use)
                            .bind(*at)
                            .bind(*at)
                            .bind(id)
                            .execute(&mut *tx)
                            .await
                            .map_err(unavailable)?;
                    }
                    tx.commit().await.map_err(unavailable)
                }
            }
            impl SessionStore for $store {
                async fn insert_session(&self, session: &SessionRecord) -> StoreResult<()> {
                    let roles =
                        serde_json::to_string(&session.roles).map_err(|_| corrupt("roles"))?;
                    sqlx::query(&self.sql.insert_session)
                        .bind(&session.digest[..])
                        .bind(&session.user_id)
                        .bind(&session.email)
                        .bind(roles)
                        .bind(session.created_at_us)
                        .bind(session.last_seen_at)
                        .bind(session.expires_at)
                        .execute(&self.pool)
                        .await
                        .map_err(|e| map_error(e, "session"))?;
                    Ok(())
                }

                async fn session(&self, digest: &[u8; 32]) -> StoreResult<Option<SessionRecord>> {
                    let Some(row) = sqlx::query(&self.sql.session)
                        .bind(&digest[..])
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?
                    else {
                        return Ok(None);
                    };
                    let roles: String = row.try_get("roles").map_err(unavailable)?;
                    Ok(Some(SessionRecord {
                        digest: *digest,
                        user_id: row.try_get("user_id").map_err(unavailable)?,
                        email: row.try_get("email").map_err(unavailable)?,
                        roles: serde_json::from_str(&roles).map_err(|_| corrupt("roles"))?,
                        created_at_us: row.try_get("created_at_us").map_err(unavailable)?,
                        last_seen_at: row.try_get("last_seen_at").map_err(unavailable)?,
                        expires_at: row.try_get("expires_at").map_err(unavailable)?,
                    }))
                }

                async fn touch_session(&self, digest: &[u8; 32], at: i64) -> StoreResult<()> {
                    let done = sqlx::query(&self.sql.touch_session)
                        .bind(at)
                        .bind(&digest[..])
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound("session"));
                    }
                    Ok(())
                }

                async fn purge_sessions(&self, now: i64, idle_before: i64) -> StoreResult<u64> {
                    let done = sqlx::query(&self.sql.purge_sessions)
                        .bind(now)
                        .bind(idle_before)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    Ok(done.rows_affected())
                }

                async fn delete_session(&self, digest: &[u8; 32]) -> StoreResult<()> {
                    sqlx::query(&self.sql.delete_session)
                        .bind(&digest[..])
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    Ok(())
                }
            }
            impl ExternalIdentityStore for $store {
                async fn link_external(
                    &self,
                    issuer: &str,
                    subject: &str,
                    user_id: &str,
                    at: i64,
                ) -> StoreResult<()> {
                    sqlx::query(&self.sql.link_external)
                        .bind(issuer)
                        .bind(subject)
                        .bind(user_id)
                        .bind(at)
                        .execute(&self.pool)
                        .await
                        .map_err(|e| map_error(e, "external identity"))?;
                    Ok(())
                }

                async fn linked_user(
                    &self,
                    issuer: &str,
                    subject: &str,
                ) -> StoreResult<Option<String>> {
                    let row = sqlx::query(&self.sql.linked_user)
                        .bind(issuer)
                        .bind(subject)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    row.map(|r| r.try_get("user_id").map_err(unavailable))
                        .transpose()
                }
            }
        };
    };
}

pub(crate) use sql_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(numbered("a = ? AND b = ?"), "a = $1 AND b = $2");
        let pg = Statements::new(Dialect::Postgres);
        assert!(pg.record_failure.contains("$3") && !pg.record_failure.contains('?'));
        assert!(pg.revoke_token.contains("GREATEST("));
        let lite = Statements::new(Dialect::Sqlite);
        assert!(lite.revoke_token.contains("MAX(") && lite.revoke_token.contains('?'));
    }
}
