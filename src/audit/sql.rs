//! The trail in SQLite and PostgreSQL: records appended in one transaction per batch to an
//! append-only table (triggers refuse UPDATE and DELETE, and TRUNCATE on PostgreSQL), checkpoints
//! to a table of their own (put it in another database for a real second place), and the
//! auditor's queries: by trace, subject, tenant, outcome and time, paged; a chain's records in
//! order for [`verify_stored`].
//!
//! Each record's fields are columns (no JSON copy that could disagree with them), and a record
//! read back is rebuilt from them: editing any column breaks that record's signature.

use std::future::Future;

use super::chain::{Checkpoint, Head, SealedRecord};
use super::record::{AuditRecord, Held, Outcome};
use super::sink::SinkError;

/// Rows per INSERT statement (20 binds each: 2,000 binds, under SQLite's and PostgreSQL's
/// limits).
const ROWS_PER_INSERT: usize = 100;

/// Most records one query page returns.
pub const MAX_AUDIT_PAGE: usize = 1000;

/// What to list (every condition given must hold), newest last, at most `limit` after `after`.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only this trace.
    pub trace_id: Option<String>,
    /// Only this subject.
    pub subject: Option<String>,
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Only this outcome.
    pub outcome: Option<Outcome>,
    /// From this time on (milliseconds, inclusive).
    pub from_ms: Option<i64>,
    /// Before this time (milliseconds, exclusive).
    pub until_ms: Option<i64>,
    /// After this record (the previous page's last: its time, chain and number).
    pub after: Option<(i64, String, u64)>,
    /// At most this many (up to [`MAX_AUDIT_PAGE`]).
    pub limit: usize,
}

impl AuditQuery {
    /// Records of one trace (W3C trace id), in time order.
    pub fn for_trace(trace_id: &str) -> Self {
        Self {
            trace_id: Some(trace_id.to_owned()),
            limit: MAX_AUDIT_PAGE,
            ..Self::default()
        }
    }

    /// The cursor that continues after `page`'s last record.
    pub fn after_page(mut self, page: &[SealedRecord]) -> Self {
        if let Some(last) = page.last() {
            self.after = Some((last.record.time_ms, last.chain.clone(), last.seq));
        }
        self
    }
}

/// A store of sealed records that answers an auditor's questions.
pub trait AuditLog: Send + Sync {
    /// The records `query` selects, ordered by time, chain and number.
    fn list(
        &self,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<Vec<SealedRecord>, SinkError>> + Send;

    /// Up to `limit` records of `chain` after number `after`, in order.
    fn chain_after(
        &self,
        chain: &str,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<SealedRecord>, SinkError>> + Send;
}

/// Verifies `chain` as stored in `log`, page by page, from its start up to `checkpoint` (and
/// beyond, to the last record held): the stored trail's integrity in one call.
pub async fn verify_stored<L: AuditLog>(
    log: &L,
    keys: &crate::token::KeySet,
    chain: &str,
    checkpoint: Option<&Checkpoint>,
) -> Result<Result<super::chain::Verified, super::chain::Broken>, SinkError> {
    let mut head = Head::genesis(chain);
    let mut total = 0;
    loop {
        let page = log.chain_after(chain, head.seq, MAX_AUDIT_PAGE).await?;
        // The checkpoint applies to the whole run: give it only with the last page, when the
        // records held are all seen (a shortfall is a cut tail), and check each page's links.
        let last_page = page.len() < MAX_AUDIT_PAGE;
        let vouching = if last_page { checkpoint } else { None };
        match super::chain::verify(keys, &head, &page, vouching) {
            Ok(verified) => {
                total += verified.records;
                head = verified.head;
            }
            Err(broken) => return Ok(Err(broken)),
        }
        if last_page {
            return Ok(Ok(super::chain::Verified {
                records: total,
                head,
            }));
        }
    }
}

/// Most records one [`export_verified`] writes.
pub const MAX_EXPORT: u64 = 1_000_000;

/// Writes the records `first..=last` of `chain` to `out` as JSON lines, only once the chain has
/// verified from its start through `last` (every link up to the range, so the range is the
/// chain's, not a well-formed excerpt of a forgery), and through `checkpoint` when given.
/// Returns how many lines were written, or the first broken link (then nothing is written).
pub async fn export_verified<L: AuditLog, W: std::io::Write>(
    log: &L,
    keys: &crate::token::KeySet,
    chain: &str,
    checkpoint: Option<&Checkpoint>,
    first: u64,
    last: u64,
    out: &mut W,
) -> Result<Result<u64, super::chain::Broken>, SinkError> {
    if first == 0 || last < first || last - first >= MAX_EXPORT {
        return Err(SinkError("export range out of bounds".into()));
    }
    let mut head = Head::genesis(chain);
    let mut chosen = Vec::new();
    loop {
        let page = log.chain_after(chain, head.seq, MAX_AUDIT_PAGE).await?;
        let end = page.len() < MAX_AUDIT_PAGE;
        let vouching = if end { checkpoint } else { None };
        match super::chain::verify(keys, &head, &page, vouching) {
            Ok(verified) => head = verified.head,
            Err(broken) => return Ok(Err(broken)),
        }
        chosen.extend(page.into_iter().filter(|r| (first..=last).contains(&r.seq)));
        if end {
            break;
        }
    }
    if head.seq < last {
        // The chain verified, but it is shorter than the range asked for.
        return Ok(Err(super::chain::Broken {
            seq: head.seq + 1,
            kind: super::chain::Break::Truncated { checkpoint: last },
        }));
    }
    for record in &chosen {
        serde_json::to_writer(&mut *out, record).map_err(|e| SinkError(e.to_string()))?;
        out.write_all(b"\n").map_err(|e| SinkError(e.to_string()))?;
    }
    Ok(Ok(chosen.len() as u64))
}

fn sink_error(error: sqlx::Error) -> SinkError {
    SinkError(error.to_string())
}

fn outcome_of(text: &str) -> Option<Outcome> {
    match text {
        "allow" => Some(Outcome::Allow),
        "deny" => Some(Outcome::Deny),
        "error" => Some(Outcome::Error),
        _ => None,
    }
}

const COLUMNS: &str = "chain, seq, prev, kid, signature, id, time_ms, trace_id, subject, tenant, \
    namespace, required, held, outcome, reason, matched, route, method, client, auth_method";

/// The row counts a multi-row INSERT is made with: full statements of [`ROWS_PER_INSERT`] rows,
/// then the rest of a batch in powers of two. A statement per possible count would be a hundred
/// statements, more than the driver's cache of prepared statements keeps beside the others, and
/// SQLite re-parsing a 2,000-placeholder INSERT costs more than its rows.
const CHUNK_SIZES: [usize; 8] = [ROWS_PER_INSERT, 64, 32, 16, 8, 4, 2, 1];

/// Which of [`CHUNK_SIZES`] the next INSERT of `remaining` (at least one) rows takes: the
/// largest that fits.
fn chunk_class(remaining: usize) -> usize {
    CHUNK_SIZES
        .iter()
        .position(|&n| n <= remaining)
        .unwrap_or(CHUNK_SIZES.len() - 1)
}

/// `INSERT … VALUES (?, …), …` for `rows` rows of every column.
fn insert_sql(rows: usize) -> String {
    let columns = COLUMNS.split(',').count();
    let row = format!("({})", vec!["?"; columns].join(", "));
    format!(
        "INSERT INTO portcullis_audit ({{COLUMNS}}) VALUES {}",
        vec![row.as_str(); rows].join(", ")
    )
}

const LIST: &str = "SELECT {COLUMNS} FROM portcullis_audit \
    WHERE (? IS NULL OR trace_id = ?) AND (? IS NULL OR subject = ?) \
    AND (? IS NULL OR tenant = ?) AND (? IS NULL OR outcome = ?) \
    AND (? IS NULL OR time_ms >= ?) AND (? IS NULL OR time_ms < ?) \
    AND (? IS NULL OR (time_ms, chain, seq) > (?, ?, ?)) \
    ORDER BY time_ms, chain, seq LIMIT ?";

macro_rules! sql_audit {
    ($store:ty, $db:ty, $numbered:expr) => {
        const _: () = {
            use sqlx::Row as _;

            type Row = <$db as sqlx::Database>::Row;

            fn statement(sql: &str) -> String {
                let sql = sql.replace("{COLUMNS}", COLUMNS);
                if $numbered {
                    crate::store::sql::numbered(&sql)
                } else {
                    sql
                }
            }

            fn record_of(row: &Row) -> Result<SealedRecord, SinkError> {
                let get = |e: sqlx::Error| sink_error(e);
                let held: String = row.try_get("held").map_err(get)?;
                let outcome: String = row.try_get("outcome").map_err(get)?;
                let seq: i64 = row.try_get("seq").map_err(get)?;
                Ok(SealedRecord {
                    chain: row.try_get("chain").map_err(get)?,
                    seq: u64::try_from(seq).map_err(|_| SinkError("negative seq".into()))?,
                    prev: row.try_get("prev").map_err(get)?,
                    kid: row.try_get("kid").map_err(get)?,
                    signature: row.try_get("signature").map_err(get)?,
                    record: AuditRecord {
                        id: row.try_get("id").map_err(get)?,
                        time_ms: row.try_get("time_ms").map_err(get)?,
                        trace_id: row.try_get("trace_id").map_err(get)?,
                        subject: row.try_get("subject").map_err(get)?,
                        tenant: row.try_get("tenant").map_err(get)?,
                        namespace: row.try_get("namespace").map_err(get)?,
                        required: row.try_get("required").map_err(get)?,
                        held: serde_json::from_str::<Held>(&held)
                            .map_err(|e| SinkError(format!("held: {e}")))?,
                        // An unknown outcome is a tampered row: read as an error outcome, whose
                        // signature then fails, rather than refusing to read the trail.
                        outcome: outcome_of(&outcome).unwrap_or(Outcome::Error),
                        reason: row.try_get("reason").map_err(get)?,
                        matched: row.try_get("matched").map_err(get)?,
                        route: row.try_get("route").map_err(get)?,
                        method: row.try_get("method").map_err(get)?,
                        client: row.try_get("client").map_err(get)?,
                        auth_method: row.try_get("auth_method").map_err(get)?,
                    },
                })
            }

            fn as_i64(n: u64) -> i64 {
                i64::try_from(n).unwrap_or(i64::MAX)
            }

            impl super::sink::AuditSink for $store {
                async fn append(&self, records: &[SealedRecord]) -> Result<(), SinkError> {
                    let mut tx = self.pool().begin().await.map_err(sink_error)?;
                    // Many rows per statement: a statement's round trip (through the driver's
                    // worker, or the network) costs more than its rows.
                    let mut rest = records;
                    while !rest.is_empty() {
                        let class = chunk_class(rest.len());
                        let (rows, after) = rest.split_at(CHUNK_SIZES[class].min(rest.len()));
                        rest = after;
                        // Few distinct statements (see `CHUNK_SIZES`), each's text made once
                        // per process, so the driver's statement cache keeps every one prepared.
                        static TEXTS: [std::sync::OnceLock<String>; CHUNK_SIZES.len()] =
                            [const { std::sync::OnceLock::new() }; CHUNK_SIZES.len()];
                        let sql = TEXTS[class].get_or_init(|| statement(&insert_sql(rows.len())));
                        let mut insert = sqlx::query(sql.as_str());
                        for sealed in rows {
                            let r = &sealed.record;
                            let held = serde_json::to_string(&r.held)
                                .map_err(|e| SinkError(e.to_string()))?;
                            insert = insert
                                .bind(sealed.chain.as_str())
                                .bind(as_i64(sealed.seq))
                                .bind(sealed.prev.as_str())
                                .bind(sealed.kid.as_str())
                                .bind(sealed.signature.as_str())
                                .bind(r.id.as_str())
                                .bind(r.time_ms)
                                .bind(r.trace_id.as_str())
                                .bind(r.subject.as_str())
                                .bind(r.tenant.as_deref())
                                .bind(r.namespace.as_deref())
                                .bind(r.required.as_str())
                                .bind(held)
                                .bind(r.outcome.as_str())
                                .bind(r.reason.as_str())
                                .bind(r.matched.as_deref())
                                .bind(r.route.as_deref())
                                .bind(r.method.as_deref())
                                .bind(r.client.as_deref())
                                .bind(r.auth_method.as_str());
                        }
                        insert.execute(&mut *tx).await.map_err(sink_error)?;
                    }
                    tx.commit().await.map_err(sink_error)
                }

                async fn last(&self, chain: &str) -> Result<Option<SealedRecord>, SinkError> {
                    let sql = statement(
                        "SELECT {COLUMNS} FROM portcullis_audit WHERE chain = ? \
                         ORDER BY seq DESC LIMIT 1",
                    );
                    let row = sqlx::query(&sql)
                        .bind(chain)
                        .fetch_optional(self.pool())
                        .await
                        .map_err(sink_error)?;
                    row.as_ref().map(record_of).transpose()
                }
            }

            impl super::sink::CheckpointSink for $store {
                async fn put(&self, checkpoint: &Checkpoint) -> Result<(), SinkError> {
                    let sql = statement(
                        "INSERT INTO portcullis_audit_checkpoints \
                         (chain, seq, link, time_ms, kid, signature) VALUES (?, ?, ?, ?, ?, ?) \
                         ON CONFLICT (chain, seq) DO NOTHING",
                    );
                    sqlx::query(&sql)
                        .bind(&checkpoint.head.chain)
                        .bind(as_i64(checkpoint.head.seq))
                        .bind(&checkpoint.head.link)
                        .bind(checkpoint.time_ms)
                        .bind(&checkpoint.kid)
                        .bind(&checkpoint.signature)
                        .execute(self.pool())
                        .await
                        .map_err(sink_error)?;
                    Ok(())
                }

                async fn newest(&self, chain: &str) -> Result<Option<Checkpoint>, SinkError> {
                    let sql = statement(
                        "SELECT chain, seq, link, time_ms, kid, signature \
                         FROM portcullis_audit_checkpoints WHERE chain = ? \
                         ORDER BY seq DESC LIMIT 1",
                    );
                    let Some(row) = sqlx::query(&sql)
                        .bind(chain)
                        .fetch_optional(self.pool())
                        .await
                        .map_err(sink_error)?
                    else {
                        return Ok(None);
                    };
                    let seq: i64 = row.try_get("seq").map_err(sink_error)?;
                    Ok(Some(Checkpoint {
                        head: Head {
                            chain: row.try_get("chain").map_err(sink_error)?,
                            seq: u64::try_from(seq)
                                .map_err(|_| SinkError("negative seq".into()))?,
                            link: row.try_get("link").map_err(sink_error)?,
                        },
                        time_ms: row.try_get("time_ms").map_err(sink_error)?,
                        kid: row.try_get("kid").map_err(sink_error)?,
                        signature: row.try_get("signature").map_err(sink_error)?,
                    }))
                }
            }

            impl AuditLog for $store {
                async fn list(&self, query: &AuditQuery) -> Result<Vec<SealedRecord>, SinkError> {
                    if query.limit == 0 || query.limit > MAX_AUDIT_PAGE {
                        return Err(SinkError("limit out of range".into()));
                    }
                    let sql = statement(LIST);
                    let outcome = query.outcome.map(Outcome::as_str);
                    let after = query.after.as_ref();
                    let rows = sqlx::query(&sql)
                        .bind(&query.trace_id)
                        .bind(&query.trace_id)
                        .bind(&query.subject)
                        .bind(&query.subject)
                        .bind(&query.tenant)
                        .bind(&query.tenant)
                        .bind(outcome)
                        .bind(outcome)
                        .bind(query.from_ms)
                        .bind(query.from_ms)
                        .bind(query.until_ms)
                        .bind(query.until_ms)
                        .bind(after.map(|a| a.0))
                        .bind(after.map(|a| a.0))
                        .bind(after.map(|a| a.1.as_str()))
                        .bind(after.map(|a| as_i64(a.2)))
                        .bind(as_i64(query.limit as u64))
                        .fetch_all(self.pool())
                        .await
                        .map_err(sink_error)?;
                    rows.iter().map(record_of).collect()
                }

                async fn chain_after(
                    &self,
                    chain: &str,
                    after: u64,
                    limit: usize,
                ) -> Result<Vec<SealedRecord>, SinkError> {
                    let sql = statement(
                        "SELECT {COLUMNS} FROM portcullis_audit WHERE chain = ? AND seq > ? \
                         ORDER BY seq LIMIT ?",
                    );
                    let rows = sqlx::query(&sql)
                        .bind(chain)
                        .bind(as_i64(after))
                        .bind(as_i64(limit.min(MAX_AUDIT_PAGE) as u64))
                        .fetch_all(self.pool())
                        .await
                        .map_err(sink_error)?;
                    rows.iter().map(record_of).collect()
                }
            }
        };
    };
}

#[cfg(feature = "sqlite")]
sql_audit!(crate::store::sqlite::SqliteStore, sqlx::Sqlite, false);
#[cfg(feature = "postgres")]
sql_audit!(crate::store::postgres::PostgresStore, sqlx::Postgres, true);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_batch_is_cut_into_the_few_statement_sizes_and_nothing_is_lost() {
        for batch in 1..=1_000 {
            let (mut rest, mut statements) = (batch, 0);
            while rest > 0 {
                let rows = CHUNK_SIZES[chunk_class(rest)];
                assert!(rows <= rest, "{rows} rows taken of {rest}");
                rest -= rows;
                statements += 1;
            }
            assert!(
                statements <= batch / ROWS_PER_INSERT + 7,
                "{batch}: {statements}"
            );
        }
    }
}
