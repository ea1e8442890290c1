//! The trail: an observer of the seam that turns each decision into a record and hands it to a
//! writer task, which seals records into the chain and appends them to a sink in batches, off
//! the request path.
//!
//! The hand-over is a bounded channel. When it is full (the sink slower than the traffic, or
//! down), the policy is explicit: a check that can wait (every check the seam makes in an async
//! context) waits for room up to [`TrailConfig::wait`] (half a second by default), counted in
//! [`TrailStats::waited`], so traffic faster than the sink is slowed to its pace rather than
//! refused; when no room comes within that bound, or for a check that cannot wait
//! ([`UserContext::require_permission`](crate::UserContext::require_permission)), an allow is
//! refused as unavailable (503, fail closed) and a denial stands unrecorded, both counted in
//! [`TrailStats::refused`]. Nothing is dropped silently: an allow that takes effect has its
//! record queued, and a queued record is retried until the sink takes it.
//!
//! Why wait at all, rather than refuse at once: a service whose writer falls a few milliseconds
//! behind (a PostgreSQL sink sharing cores with a burst of traffic) answered some of that burst
//! 503 while the writer was about to catch up. Clients that send their next request when the
//! last is answered (most of them) are slowed to the writer's pace instead, and none is
//! refused; a sink that is really down still answers 503 within the bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::chain::{SealError, Sealer};
use super::record::{AuditRecord, Encoder, Held, Outcome, bounded_text, hex};
use super::sink::{AuditSink, CheckpointSink, SinkError, resume_head};
use crate::authz::{DecisionEvent, DecisionObserver, PendingAdmission};
use crate::context::AuthMethod;
use crate::error::Reason;
use crate::token::KeyRing;

/// How a trail runs; [`TrailConfig::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct TrailConfig {
    chain: String,
    capacity: usize,
    batch: usize,
    checkpoint_every: u64,
    checkpoint_interval: Duration,
    max_retry_delay: Duration,
    wait: Duration,
}

impl TrailConfig {
    /// A trail writing chain `chain` (one per instance: name it after the instance), queueing
    /// up to 32,768 records, appending up to 1,000 at once, checkpointing every 1,000 records or
    /// 10 seconds, whichever comes first, and letting a decision wait up to 500 ms for room in
    /// a full queue.
    pub fn new(chain: &str) -> Self {
        Self {
            chain: chain.to_owned(),
            capacity: 32_768,
            batch: 1000,
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(10),
            // While the sink is down every decision waits on it (once the queue is full), so
            // a sink that comes back must be tried again soon: within a second.
            max_retry_delay: Duration::from_secs(1),
            wait: Duration::from_millis(500),
        }
    }

    /// How long a decision may wait for room in a full queue before it is refused (503): the
    /// latency a request may gain when the sink falls behind (decisions made together, such
    /// as a batch of entity checks, share one deadline). Zero refuses at once. The wait runs
    /// on Tokio's timer, so checks must be awaited on a Tokio runtime (as axum handlers are).
    ///
    /// Room freed while decisions wait goes to them first, so while any wait, a check that
    /// cannot ([`UserContext::require_permission`](crate::UserContext::require_permission))
    /// and a refused credential's record find no room: the former is refused, the latter
    /// counted in [`TrailStats::refused`] and not recorded.
    pub fn wait(mut self, bound: Duration) -> Self {
        self.wait = bound;
        self
    }

    /// How many records may wait for the writer before decisions must wait for room (see
    /// [`wait`](Self::wait)).
    pub fn capacity(mut self, records: usize) -> Self {
        self.capacity = records.max(1);
        self
    }

    /// Most records appended in one batch.
    pub fn batch(mut self, records: usize) -> Self {
        self.batch = records.max(1);
        self
    }

    /// Checkpoint after this many records, or this long, whichever comes first.
    pub fn checkpoint(mut self, every: u64, interval: Duration) -> Self {
        self.checkpoint_every = every.max(1);
        self.checkpoint_interval = interval;
        self
    }
}

/// Why a trail would not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// No signing key, or a bad chain name.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The sink could not be read.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The newest checkpoint vouches for more records than the sink holds: the trail's tail
    /// was cut (or the sink is another one). Writing on would hide it.
    #[error("audit chain {chain} holds {held} records but a checkpoint vouches for {vouched}")]
    Truncated {
        /// The chain.
        chain: String,
        /// Records held.
        held: u64,
        /// Records the checkpoint vouches for.
        vouched: u64,
    },
}

/// What a trail has done since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrailStats {
    /// Records appended to the sink.
    pub written: u64,
    /// Records the queue could not take: it was full (for a check that cannot wait) or stayed
    /// full for [`TrailConfig::wait`], or the writer had stopped. An allow among them was
    /// refused (503, fail closed); a denial stood, unrecorded.
    pub refused: u64,
    /// Decisions that found the queue full and waited for room (taken, refused, or abandoned
    /// when the request was dropped while it waited).
    pub waited: u64,
    /// Appends that failed and were retried.
    pub sink_failures: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    refused: AtomicU64,
    waited: AtomicU64,
    sink_failures: AtomicU64,
    checkpoints: AtomicU64,
}

enum Message {
    /// A record's canonical bytes (one allocation, freed on the writer's thread).
    Record(Vec<u8>),
    Flush(oneshot::Sender<()>),
}

/// The audit trail: plug it into a gateway with
/// [`AuthGateway::observe`](crate::AuthGateway::observe); every decision behind that gateway is
/// recorded, or refused when it cannot be.
#[derive(Clone)]
pub struct AuditTrail {
    queue: mpsc::Sender<Message>,
    counters: Arc<Counters>,
    wait: Duration,
}

impl std::fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTrail")
            .field("stats", &self.stats())
            .finish()
    }
}

impl AuditTrail {
    /// Starts a trail: continues `config`'s chain after the last record `sink` holds (refusing
    /// to when `checkpoints` vouches for more, [`StartError::Truncated`]), signing with `ring`'s
    /// signing key (refused without one), and spawns its writer on the current Tokio runtime.
    pub async fn start<S, C>(
        ring: KeyRing,
        sink: S,
        checkpoints: C,
        config: TrailConfig,
    ) -> Result<Self, StartError>
    where
        S: AuditSink,
        C: CheckpointSink,
    {
        let head = resume_head(&sink, &config.chain).await?;
        if let Some(newest) = checkpoints.newest(&config.chain).await?
            && newest.head.seq > head.seq
        {
            return Err(StartError::Truncated {
                chain: config.chain,
                held: head.seq,
                vouched: newest.head.seq,
            });
        }
        let sealer = Sealer::new(ring, head)?;
        let (queue, inbox) = mpsc::channel(config.capacity);
        let counters = Arc::new(Counters::default());
        let wait = config.wait;
        let writer = Writer {
            sealer,
            sink,
            checkpoints,
            config,
            counters: counters.clone(),
        };
        tokio::spawn(writer.run(inbox));
        Ok(Self {
            queue,
            counters,
            wait,
        })
    }

    /// Queues `record`; `false` when the queue is full (the caller must not let the decision
    /// take effect) or the writer has stopped.
    /// A record with a field over its bound is refused here, before its decision takes
    /// effect.
    pub fn record(&self, record: AuditRecord) -> bool {
        if record.check().is_err() {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.enqueue(record.canonical())
    }

    fn enqueue(&self, canonical: Vec<u8>) -> bool {
        match self.queue.try_send(Message::Record(canonical)) {
            Ok(()) => true,
            Err(_) => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Waits until every record queued before this call is in the sink.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    /// What the trail has done.
    pub fn stats(&self) -> TrailStats {
        let c = &self.counters;
        TrailStats {
            written: c.written.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            waited: c.waited.load(Ordering::Relaxed),
            sink_failures: c.sink_failures.load(Ordering::Relaxed),
            checkpoints: c.checkpoints.load(Ordering::Relaxed),
        }
    }
}

/// How often a busy writer drains the queue.
const POLL: Duration = Duration::from_millis(1);

/// What the writer holds between drains.
struct Batch {
    pending: Vec<super::chain::SealedRecord>,
    waiters: Vec<oneshot::Sender<()>>,
    since_checkpoint: u64,
    last_checkpoint: Instant,
}

impl Default for Batch {
    fn default() -> Self {
        Self {
            pending: Vec::new(),
            waiters: Vec::new(),
            since_checkpoint: 0,
            last_checkpoint: Instant::now(),
        }
    }
}

struct Writer<S, C> {
    sealer: Sealer,
    sink: S,
    checkpoints: C,
    config: TrailConfig,
    counters: Arc<Counters>,
}

impl<S: AuditSink, C: CheckpointSink> Writer<S, C> {
    /// Idle, the writer waits on the queue (the first record wakes it). Busy, it drains the
    /// queue every [`POLL`] instead: a sender then never has to wake it, which would cost each
    /// request a system call, and records are batched by time as well as by count. A drain
    /// that fills a whole batch goes straight on to the next.
    async fn run(mut self, mut inbox: mpsc::Receiver<Message>) {
        let mut batch = Batch::default();
        'idle: while let Some(first) = inbox.recv().await {
            self.take(first, &mut batch);
            loop {
                let mut taken = 0usize;
                let mut closed = false;
                let mut drained = false;
                while batch.pending.len() < self.config.batch {
                    match inbox.try_recv() {
                        Ok(message) => {
                            self.take(message, &mut batch);
                            taken += 1;
                        }
                        Err(mpsc::error::TryRecvError::Empty) => {
                            drained = true;
                            break;
                        }
                        Err(mpsc::error::TryRecvError::Disconnected) => {
                            closed = true;
                            break;
                        }
                    }
                }
                self.write(&mut batch).await;
                if closed {
                    break 'idle;
                }
                if taken == 0 && batch.pending.is_empty() {
                    continue 'idle;
                }
                if drained {
                    tokio::time::sleep(POLL).await;
                } else {
                    // A full batch left more waiting: take it now, pausing only to let the
                    // runtime's other tasks run (a sleep here would cap the writer's rate).
                    tokio::task::yield_now().await;
                }
            }
        }
        // Every sender is gone: write what is left and vouch for the final head.
        self.write(&mut batch).await;
        if batch.since_checkpoint > 0 {
            self.checkpoint().await;
        }
    }

    /// Seals a record into the batch, or queues a flush's answer.
    fn take(&mut self, message: Message, batch: &mut Batch) {
        match message {
            Message::Record(bytes) => match self.sealer.seal_canonical(&bytes) {
                Ok(sealed) => batch.pending.push(sealed),
                // The observer bounds every field and a started sealer has its key: this is a
                // key removed from the ring while running. Nothing unsigned is ever written;
                // say so loudly.
                Err(error) => {
                    tracing::error!(%error, "audit record could not be sealed");
                    self.counters.refused.fetch_add(1, Ordering::Relaxed);
                }
            },
            Message::Flush(done) => batch.waiters.push(done),
        }
    }

    /// Appends what is pending, checkpoints when due, and answers the flushes waiting.
    async fn write(&self, batch: &mut Batch) {
        if !batch.pending.is_empty() {
            self.append(&batch.pending).await;
            batch.since_checkpoint += batch.pending.len() as u64;
            batch.pending.clear();
        }
        let due = batch.since_checkpoint >= self.config.checkpoint_every
            || (batch.since_checkpoint > 0
                && batch.last_checkpoint.elapsed() >= self.config.checkpoint_interval);
        if due {
            if self.checkpoint().await {
                batch.since_checkpoint = 0;
            }
            batch.last_checkpoint = Instant::now();
        }
        for done in batch.waiters.drain(..) {
            let _ = done.send(());
        }
    }

    /// Appends the batch, retrying (with a pause growing from 50 ms to 1 s) until the sink
    /// takes it: a record sealed is a link of the chain, and losing it would break the chain
    /// for good.
    async fn append(&self, batch: &[super::chain::SealedRecord]) {
        let mut delay = Duration::from_millis(50);
        loop {
            match self.sink.append(batch).await {
                Ok(()) => {
                    self.counters
                        .written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    return;
                }
                Err(error) => {
                    self.counters.sink_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, records = batch.len(), "audit sink failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.config.max_retry_delay);
                }
            }
        }
    }

    async fn checkpoint(&self) -> bool {
        let now_ms = now_ms();
        let written = match self.sealer.checkpoint(now_ms) {
            Ok(checkpoint) => self.checkpoints.put(&checkpoint).await.map_err(|e| e.0),
            Err(error) => Err(error.to_string()),
        };
        match written {
            Ok(()) => {
                self.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(error) => {
                tracing::warn!(%error, "audit checkpoint not written; trying again later");
                false
            }
        }
    }
}

/// The event's record, as the writer will take it.
fn checked_bytes(event: &DecisionEvent<'_>) -> Vec<u8> {
    let bytes = encode_event(event);
    // The writer refuses bytes the reader does not accept, after the decision took effect:
    // the encoder must never write such bytes (held to it here in every test run).
    debug_assert!(AuditRecord::from_canonical(&bytes).is_some());
    bytes
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn bounded(text: &str) -> String {
    bounded_text(text)
}

fn auth_method(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::Bearer => "bearer",
        AuthMethod::ApiKey => "api_key",
        AuthMethod::Session => "session",
        AuthMethod::OAuth2 => "oauth2",
        AuthMethod::Identity => "identity",
        AuthMethod::Custom(name) => name,
    }
}

/// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), unless it is
/// malformed or all zeros (invalid by the specification).
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hexdigits = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let ok = hexdigits(version, 2)
        && version != "ff"
        && hexdigits(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hexdigits(parent, 16)
        && hexdigits(flags, 2);
    ok.then_some(trace)
}

/// Unique ids without a system call each: a random 64-bit prefix drawn once per process (per
/// kind of id) and a counter, as 32 hex digits. Record ids need uniqueness, not secrecy; and a
/// generated trace id only has to tell one request's records from another's.
struct Ids {
    prefix: u64,
    next: AtomicU64,
}

impl Ids {
    fn new() -> Self {
        let prefix = crate::secret::random_bytes::<8>()
            .map(u64::from_be_bytes)
            // Without randomness, the time in nanoseconds still keeps processes apart.
            .unwrap_or_else(|_| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        Self {
            prefix,
            next: AtomicU64::new(1),
        }
    }

    fn next(&self) -> String {
        hex(&self.next_bytes())
    }

    fn next_bytes(&self) -> [u8; 16] {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.prefix.to_be_bytes());
        bytes[8..].copy_from_slice(&n.to_be_bytes());
        bytes
    }
}

static RECORD_IDS: std::sync::LazyLock<Ids> = std::sync::LazyLock::new(Ids::new);
static TRACE_IDS: std::sync::LazyLock<Ids> = std::sync::LazyLock::new(Ids::new);

/// The request's trace id (from `traceparent`), or a fresh one.
fn trace_of(request: Option<crate::authz::RequestFacts<'_>>) -> String {
    traceparent_of(request)
        .map(str::to_owned)
        .unwrap_or_else(|| TRACE_IDS.next())
}

fn traceparent_of(request: Option<crate::authz::RequestFacts<'_>>) -> Option<&str> {
    request
        .and_then(|r| r.headers().get("traceparent"))
        .and_then(|v| v.to_str().ok())
        .and_then(trace_id_of)
}

/// The client's address, when the server recorded it (axum's `ConnectInfo`).
fn client_addr(request: Option<crate::authz::RequestFacts<'_>>) -> Option<std::net::IpAddr> {
    request.and_then(|r| {
        r.extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())
    })
}

fn client_of(request: Option<crate::authz::RequestFacts<'_>>) -> Option<String> {
    client_addr(request).map(|ip| ip.to_string())
}

/// The canonical bytes of the record of one decision, written straight from the event (see
/// [`Encoder`]): what the trail queues.
fn encode_event(event: &DecisionEvent<'_>) -> Vec<u8> {
    let decision = event.decision();
    let ctx = event.context();
    let request = event.request();
    let outcome = match decision.reason() {
        reason if reason.allows() => Outcome::Allow,
        Reason::Unavailable => Outcome::Error,
        _ => Outcome::Deny,
    };
    let mut record = Encoder::new(&RECORD_IDS.next_bytes(), now_ms());
    match traceparent_of(request) {
        Some(trace) => record.text(trace),
        None => record.hex16(&TRACE_IDS.next_bytes()),
    }
    record.text(ctx.subject());
    record.opt(decision.scope().tenant_id());
    record.opt(decision.scope().namespace());
    record.display(event.required());
    record.held(ctx.roles());
    record.outcome(outcome);
    record.text(decision.reason().code());
    record.opt(decision.matched().map(|m| m.grant()));
    record.opt(request.and_then(|r| r.route()));
    record.opt(request.map(|r| r.method().as_str()));
    let client = client_addr(request);
    record.opt_display(client.as_ref().map(|ip| ip as &dyn std::fmt::Display));
    record.text(auth_method(ctx.method()));
    record.finish()
}

/// The record of one decision, as the trail writes it.
pub fn record_of(event: &DecisionEvent<'_>) -> AuditRecord {
    let bytes = encode_event(event);
    // The encoder writes only what the reader accepts (the tests hold it to that); were it
    // ever not so, the record says so rather than vanishing.
    AuditRecord::from_canonical(&bytes).unwrap_or_else(|| AuditRecord {
        id: RECORD_IDS.next(),
        time_ms: now_ms(),
        trace_id: TRACE_IDS.next(),
        subject: bounded(event.context().subject()),
        tenant: None,
        namespace: None,
        required: "unencodable".to_owned(),
        held: Held::Roles(Vec::new()),
        outcome: Outcome::Error,
        reason: "error_unencodable".to_owned(),
        matched: None,
        route: None,
        method: None,
        client: None,
        auth_method: auth_method(event.context().method()).to_owned(),
    })
}

/// The record of a refused credential, made by the gateway before any route is matched: the
/// subject is unknown (`-`), `required` is `authentication`, the reason is the refusal's code
/// (`invalid_token:expired`, `invalid_request`, `error_unavailable`), `route` the request's path
/// (never its query, where a token may travel) and `auth_method` `unknown`.
pub(crate) fn record_of_failure(
    parts: &http::request::Parts,
    error: &crate::error::AuthError,
) -> AuditRecord {
    use crate::error::AuthError;
    let request = crate::authz::RequestFacts::of_parts(parts);
    let (outcome, reason) = match error {
        AuthError::InvalidToken(why) => (Outcome::Deny, format!("invalid_token:{}", why.as_str())),
        AuthError::InvalidRequest(_) => (Outcome::Deny, "invalid_request".to_owned()),
        AuthError::Unavailable => (Outcome::Error, Reason::Unavailable.code().to_owned()),
        AuthError::MissingCredentials => (Outcome::Deny, "missing_credentials".to_owned()),
        _ => (Outcome::Deny, "refused".to_owned()),
    };
    AuditRecord {
        id: RECORD_IDS.next(),
        time_ms: now_ms(),
        trace_id: trace_of(Some(request)),
        subject: "-".to_owned(),
        tenant: None,
        namespace: None,
        required: "authentication".to_owned(),
        held: Held::Roles(Vec::new()),
        outcome,
        reason,
        matched: None,
        route: Some(bounded(parts.uri.path())),
        method: Some(parts.method.as_str().to_owned()),
        client: client_of(Some(request)),
        auth_method: "unknown".to_owned(),
    }
}

impl DecisionObserver for AuditTrail {
    fn observe(&self, event: &DecisionEvent<'_>) {
        self.admit(event);
    }

    fn admit(&self, event: &DecisionEvent<'_>) -> bool {
        self.enqueue(checked_bytes(event))
    }

    fn admit_or_wait(&self, event: &DecisionEvent<'_>) -> Result<bool, PendingAdmission> {
        let bytes = checked_bytes(event);
        let full = match self.queue.try_send(Message::Record(bytes)) {
            Ok(()) => return Ok(true),
            Err(mpsc::error::TrySendError::Full(Message::Record(bytes))) => bytes,
            // The writer has stopped, or (never) a flush came back.
            Err(_) => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                return Ok(false);
            }
        };
        if self.wait.is_zero() {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        }
        self.counters.waited.fetch_add(1, Ordering::Relaxed);
        let (queue, counters) = (self.queue.clone(), self.counters.clone());
        // The deadline is set now, not when the wait is first polled: decisions admitted
        // together (a batch of entity checks) then wait one bound in all, not one each.
        let deadline = tokio::time::Instant::now() + self.wait;
        // A waiter takes its place in line when first polled; freed room goes to those in
        // line first (tokio's channel), ahead of later decisions trying without waiting.
        Err(PendingAdmission::new(async move {
            match tokio::time::timeout_at(deadline, queue.reserve()).await {
                Ok(Ok(room)) => {
                    room.send(Message::Record(full));
                    true
                }
                _ => {
                    counters.refused.fetch_add(1, Ordering::Relaxed);
                    false
                }
            }
        }))
    }

    fn wants_matches(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // fixed, valid inputs
mod tests {
    use super::*;
    use crate::authz::{Decision, RequestFacts, Scope};
    use crate::context::UserContext;
    use crate::error::Requirement;
    use crate::rbac::Permission;
    use http::{HeaderMap, HeaderValue, Method, Uri};

    /// What the event's record must hold, built field by field the slow way: the encoder that
    /// writes bytes straight from the event must agree with it byte for byte.
    fn expected(event: &DecisionEvent<'_>, id: &str, time_ms: i64, trace_id: &str) -> AuditRecord {
        let ctx = event.context();
        let decision = event.decision();
        let request = event.request();
        AuditRecord {
            id: id.to_owned(),
            time_ms,
            trace_id: trace_id.to_owned(),
            subject: bounded(ctx.subject()),
            tenant: decision.scope().tenant_id().map(bounded),
            namespace: decision.scope().namespace().map(bounded),
            required: bounded(&event.required().to_string()),
            held: Held::of(ctx.roles().iter().map(|r| bounded(r))),
            outcome: if decision.is_allowed() {
                Outcome::Allow
            } else {
                Outcome::Deny
            },
            reason: decision.reason().code().to_owned(),
            matched: decision.matched().map(|m| bounded(m.grant())),
            route: None,
            method: request.map(|r| r.method().to_string()),
            client: client_of(request),
            auth_method: auth_method(ctx.method()).to_owned(),
        }
    }

    fn check(
        ctx: &UserContext,
        required: &Requirement,
        decision: &Decision,
        request: Option<RequestFacts<'_>>,
    ) {
        let event = DecisionEvent {
            context: ctx,
            required,
            decision,
            request,
        };
        let record = record_of(&event);
        assert_eq!(record.check(), Ok(()));
        let want = expected(&event, &record.id, record.time_ms, &record.trace_id);
        assert_eq!(record, want);
        assert_eq!(encode_event(&event).len(), want.canonical().len());
        assert_eq!(AuditRecord::from_canonical(&want.canonical()), Some(want));
    }

    #[test]
    fn the_encoder_writes_what_a_record_built_field_by_field_writes() {
        let required = Requirement::Permission(Permission::parse("write:Books").unwrap());
        let scope = Scope::tenant("acme")
            .unwrap()
            .in_namespace("eu/sales")
            .unwrap();
        let allow = Decision::new(Reason::Allow, scope.clone())
            .with_match(crate::authz::Granted::new(Some("editor"), "write:Books"));
        let deny = Decision::new(Reason::DenyNoPermission, scope);

        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let mut extensions = http::Extensions::new();
        extensions.insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [10, 0, 0, 7],
            4242,
        ))));
        let (method, uri) = (Method::PUT, Uri::from_static("/books/1"));
        let request = RequestFacts::new(&method, &uri, &headers, &extensions);

        let plain =
            UserContext::new("ada", AuthMethod::Bearer).with_roles(["viewer", "editor", "viewer"]);
        let long = "x".repeat(super::super::record::MAX_FIELD_BYTES + 1);
        let oversized = UserContext::new(long.clone(), AuthMethod::Session).with_roles([
            long.as_str(),
            "b",
            "a",
        ]);
        let many = UserContext::new("bob", AuthMethod::ApiKey).with_roles(
            (0..40)
                .rev()
                .map(|n| format!("r{n}"))
                .chain(["r1".to_owned()]),
        );
        let exactly_max = UserContext::new("cy", AuthMethod::Bearer)
            .with_roles((0..super::super::record::MAX_LISTED_ROLES).map(|n| format!("r{n}")));

        for ctx in [&plain, &oversized, &many, &exactly_max] {
            for decision in [&allow, &deny] {
                check(ctx, &required, decision, Some(request));
                check(ctx, &required, decision, None);
            }
        }
        let traced = record_of(&DecisionEvent {
            context: &plain,
            required: &required,
            decision: &allow,
            request: Some(request),
        });
        assert_eq!(traced.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(traced.client.as_deref(), Some("10.0.0.7"));
        assert!(matches!(
            record_of(&DecisionEvent {
                context: &many,
                required: &required,
                decision: &allow,
                request: None,
            })
            .held,
            Held::Digest { count: 40, .. }
        ));
    }
}
