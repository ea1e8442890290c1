//! Changes over Redis pub/sub (feature `redis`).
//!
//! Every instance publishes its changes on one channel and subscribes to it. Pub/sub keeps
//! nothing for a subscriber that is away, so the subscriber treats every gap as a possible
//! miss: when its connection drops, and again once it is subscribed anew, it delivers
//! [`Change::Everything`] and its instance reads the store afresh. A connection that stays open
//! but goes silent (a network cut without a reset) is caught by a ping every second that must be
//! answered within a second. While it is away, it drops everything cached every 100 ms: what the
//! instance reads from its store meanwhile is cached that long at most, so a change made
//! elsewhere during an outage is enforced here within about 100 ms, not the caches' lifetimes
//! (the store is read more often during an outage; that is the price).
//!
//! **Start-up:** [`RedisChanges::start`] connects and subscribes before it returns, and fails if
//! Redis cannot be reached within its connection timeout (5 s): an instance configured for a
//! cluster refuses to start half-connected, where it would enforce other instances' changes only
//! when its caches expire. Once started, outages are survived: publishing fails (counted, the
//! change is in the store already) and the subscriber reconnects with a growing pause (50 ms up to
//! 2 s), dropping everything cached each time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Change, ChangeFeed, Publish, PublishError};

/// The channel changes travel on, unless another is chosen.
pub const DEFAULT_CHANNEL: &str = "portcullis:changes";

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the subscription is pinged, and how long an answer may take.
const PING_EVERY: Duration = Duration::from_secs(1);
/// The pauses between reconnection attempts.
const FIRST_RETRY: Duration = Duration::from_millis(50);
const LAST_RETRY: Duration = Duration::from_secs(2);
/// How long a subscription must have lived for its loss to be retried at once.
const STABLE: Duration = Duration::from_secs(5);
/// While unsubscribed, how often everything cached is dropped (so an outage bounds staleness to
/// this, not to the caches' lifetimes).
const AWAY_CLEAR: Duration = Duration::from_millis(100);

/// Why the feed could not start.
#[derive(Debug, thiserror::Error)]
#[error("redis changes: {0}")]
pub struct RedisChangesError(String);

/// A [`ChangeFeed`]'s transport over Redis (see the [module docs](self)). Keep it for as long
/// as the instance serves: dropping it stops the subscriber and disconnects the feed, leaving
/// the instance's caches on their lifetimes alone.
#[must_use = "dropping it disconnects the feed at once"]
pub struct RedisChanges {
    subscriber: tokio::task::JoinHandle<()>,
    subscribed: Arc<AtomicBool>,
    feed: ChangeFeed,
}

impl std::fmt::Debug for RedisChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisChanges")
            .field("subscribed", &self.is_subscribed())
            .finish_non_exhaustive()
    }
}

impl Drop for RedisChanges {
    fn drop(&mut self) {
        self.subscriber.abort();
        self.subscribed.store(false, Ordering::SeqCst);
        self.feed.disconnect();
        tracing::warn!(target: "portcullis::cluster", "redis changes stopped; other instances' changes are seen when cached answers expire");
    }
}

struct Publisher {
    connection: ConnectionManager,
    channel: String,
}

impl Publish for Publisher {
    fn publish<'a>(
        &'a self,
        bytes: &'a [u8],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), PublishError>> + Send + 'a>>
    {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            connection
                .publish::<_, _, i64>(&self.channel, bytes)
                .await
                .map(|_| ())
                .map_err(|e| PublishError(e.to_string()))
        })
    }
}

impl RedisChanges {
    /// Connects to the Redis at `url` on [`DEFAULT_CHANNEL`], subscribes `feed` and makes it
    /// publish there.
    pub async fn start(url: &str, feed: &ChangeFeed) -> Result<Self, RedisChangesError> {
        Self::start_on(url, DEFAULT_CHANNEL, feed).await
    }

    /// [`start`](Self::start) on another channel (instances of other deployments sharing one
    /// Redis).
    pub async fn start_on(
        url: &str,
        channel: &str,
        feed: &ChangeFeed,
    ) -> Result<Self, RedisChangesError> {
        let (client, connection) = connect(url).await?;
        // The first subscription, before serving: an instance that cannot hear the others
        // does not start.
        let first = subscribe(&client, channel)
            .await
            .map_err(|e| RedisChangesError(format!("subscribing failed: {e}")))?;
        feed.connect(Arc::new(Publisher {
            connection,
            channel: channel.to_owned(),
        }));
        let subscribed = Arc::new(AtomicBool::new(true));
        let subscriber = tokio::spawn(listen(
            client,
            channel.to_owned(),
            feed.clone(),
            first,
            subscribed.clone(),
        ));
        Ok(Self {
            subscriber,
            subscribed,
            feed: feed.clone(),
        })
    }

    /// Whether the subscription is up now (when it is not, every cache was just dropped and the
    /// subscriber is reconnecting).
    pub fn is_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::SeqCst)
    }
}

type Split = (redis::aio::PubSubSink, redis::aio::PubSubStream);

/// A client for `url` and a connection manager over it: connecting bounded by
/// [`CONNECT_TIMEOUT`], each command by [`PUBLISH_TIMEOUT`](super::PUBLISH_TIMEOUT), reconnecting
/// on its own with pauses up to [`LAST_RETRY`].
async fn connect(url: &str) -> Result<(redis::Client, ConnectionManager), RedisChangesError> {
    let fail = |e: redis::RedisError| RedisChangesError(e.to_string());
    let client = redis::Client::open(url).map_err(fail)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(super::PUBLISH_TIMEOUT))
        .set_max_delay(LAST_RETRY);
    let connection = tokio::time::timeout(
        CONNECT_TIMEOUT,
        client.get_connection_manager_with_config(config),
    )
    .await
    .map_err(|_| RedisChangesError("connecting timed out".into()))?
    .map_err(fail)?;
    Ok((client, connection))
}

async fn subscribe(client: &redis::Client, channel: &str) -> Result<Split, redis::RedisError> {
    // Bounded as a whole: a server that accepts the connection but never answers must not
    // hold the subscriber (redis-rs puts no timeout on pub/sub commands).
    let attempt = async {
        let (mut sink, stream) = client.get_async_pubsub().await?.split();
        sink.subscribe(channel).await?;
        Ok((sink, stream))
    };
    tokio::time::timeout(CONNECT_TIMEOUT, attempt)
        .await
        .map_err(|_| redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))?
}

/// [`subscribe`], dropping everything cached every [`AWAY_CLEAR`] while it tries.
async fn subscribe_away(
    client: &redis::Client,
    channel: &str,
    feed: &ChangeFeed,
) -> Result<Split, redis::RedisError> {
    let attempt = subscribe(client, channel);
    tokio::pin!(attempt);
    let mut clear = tokio::time::interval(AWAY_CLEAR);
    clear.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    clear.tick().await;
    loop {
        tokio::select! {
            done = &mut attempt => return done,
            _ = clear.tick() => feed.deliver(&Change::Everything),
        }
    }
}

/// Delivers what arrives until the subscription breaks, then reconnects; every gap drops
/// everything cached.
async fn listen(
    client: redis::Client,
    channel: String,
    feed: ChangeFeed,
    first: Split,
    subscribed: Arc<AtomicBool>,
) {
    let mut current = Some(first);
    let mut pause = FIRST_RETRY;
    loop {
        let split = match current.take() {
            Some(split) => split,
            None => match subscribe_away(&client, &channel, &feed).await {
                Ok(split) => {
                    // Anything published while we were away is lost to us.
                    feed.deliver(&Change::Everything);
                    tracing::info!(target: "portcullis::cluster", "redis subscription back; cached state dropped");
                    split
                }
                Err(error) => {
                    tracing::warn!(target: "portcullis::cluster", %error, "redis subscription failed; retrying");
                    away(&feed, pause).await;
                    pause = (pause * 2).min(LAST_RETRY);
                    continue;
                }
            },
        };
        subscribed.store(true, Ordering::SeqCst);
        let since = tokio::time::Instant::now();
        receive(split, &feed).await;
        subscribed.store(false, Ordering::SeqCst);
        feed.deliver(&Change::Everything);
        tracing::warn!(target: "portcullis::cluster", "redis subscription lost; cached state dropped, reconnecting");
        // A subscription that lived a while is retried at once; one dropped as soon as it was
        // made (a server or proxy that keeps cutting it) waits a growing pause, so the
        // subscriber never spins.
        if since.elapsed() >= STABLE {
            pause = FIRST_RETRY;
        } else {
            away(&feed, pause).await;
            pause = (pause * 2).min(LAST_RETRY);
        }
    }
}

/// Waits `pause` without a subscription, dropping everything cached every [`AWAY_CLEAR`]: what
/// the instance read from its store in the meantime cannot be proved fresh for long either.
async fn away(feed: &ChangeFeed, pause: Duration) {
    let until = tokio::time::Instant::now() + pause;
    loop {
        let now = tokio::time::Instant::now();
        if now >= until {
            return;
        }
        tokio::time::sleep((until - now).min(AWAY_CLEAR)).await;
        feed.deliver(&Change::Everything);
    }
}

/// Delivers messages until the stream ends or a ping goes unanswered.
async fn receive((mut sink, mut stream): Split, feed: &ChangeFeed) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => feed.deliver(&Change::decode(message.get_payload_bytes())),
                None => return,
            },
            _ = ping.tick() => {
                let answered = tokio::time::timeout(PING_EVERY, sink.ping::<redis::Value>()).await;
                if !matches!(answered, Ok(Ok(_))) {
                    return;
                }
            }
        }
    }
}

/// One-time values remembered in Redis for every instance (see [`FirstUse`]): `SET key NX PX`,
/// atomic, under the SHA-256 of the value (the values are secrets of a flow in progress). Fails
/// closed: when Redis cannot answer within [`PUBLISH_TIMEOUT`](super::PUBLISH_TIMEOUT), the use
/// is refused.
#[derive(Clone)]
pub struct RedisFirstUse {
    connection: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisFirstUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFirstUse")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisFirstUse {
    /// Connects to the Redis at `url`; keys are `portcullis:used:<sha256>`, or start with
    /// `prefix` given by [`with_prefix`](Self::with_prefix).
    pub async fn connect(url: &str) -> Result<Self, RedisChangesError> {
        let (_, connection) = connect(url).await?;
        Ok(Self {
            connection,
            prefix: "portcullis:used:".into(),
        })
    }

    /// Keys start with `prefix` (deployments sharing one Redis).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

impl super::FirstUse for RedisFirstUse {
    fn first_use<'a>(
        &'a self,
        value: &'a str,
        ttl: Duration,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<bool, super::FirstUseError>> + Send + 'a>,
    > {
        Box::pin(async move {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes());
            let key = format!("{}{}", self.prefix, crate::secret::hex(digest.as_ref()));
            let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let mut connection = self.connection.clone();
            let mut command = redis::cmd("SET");
            command.arg(&key).arg(1).arg("NX").arg("PX").arg(millis);
            let set = command.query_async::<Option<String>>(&mut connection);
            match tokio::time::timeout(super::PUBLISH_TIMEOUT, set).await {
                Ok(Ok(answer)) => Ok(answer.is_some()),
                Ok(Err(error)) => Err(super::FirstUseError(error.to_string())),
                Err(_) => Err(super::FirstUseError("redis did not answer in time".into())),
            }
        })
    }
}
