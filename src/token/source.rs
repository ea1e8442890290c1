//! The seam through which the bearer strategy finds keys it does not hold yet, and the gate that
//! keeps every such source to one fetch at a time and one fetch per cool-down.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::AuthError;
use crate::future::MaybeReady;

/// Finds keys the ring does not hold yet. The bearer strategy asks it when a token names an
/// unknown `kid`.
///
/// `RemoteJwks` (feature `jwks`) is the built-in source, and the built-in identity has one over
/// its store; a source of your own (keys in a database shared by several instances, say)
/// implements this.
pub trait KeySource: Send + Sync + 'static {
    /// Looks for `kid`: `Ok(true)` when the ring now holds it, `Ok(false)` when it is not to be
    /// had, [`AuthError::Unavailable`] when the source could not be asked (or not yet again).
    fn find<'a>(&'a self, kid: &'a str) -> MaybeReady<'a, Result<bool, AuthError>>;
}

/// The last fetch an unknown `kid` caused.
struct Miss {
    at: Instant,
    kid: Box<str>,
    /// Until the fetch is known to have succeeded, it counts as failed: a request dropped in the
    /// middle of its fetch leaves a failed miss behind, never a free pass to fetch again.
    failed: bool,
}

/// One fetch at a time, and after a fetch caused by an unknown `kid`, none for that reason until
/// the cool-down has passed.
///
/// Within the cool-down only the `kid` that was just looked for gets a definite answer ("not
/// there": 401); any other `kid`, and every `kid` after a failed fetch, gets 503: we cannot tell
/// yet whether its token is good, and a 401 would tell the client to throw it away. So tokens
/// with made-up key ids cost at most one fetch per cool-down, and a real rotation that lands
/// inside one costs its clients a retry, not their tokens.
pub(crate) struct FetchGate {
    cooldown: Duration,
    // Held across the fetch on purpose: this is the single flight. Only requests whose `kid`
    // the ring lacks (and refreshes) ever wait on it; known keys never touch it.
    last_miss: tokio::sync::Mutex<Option<Miss>>,
}

impl FetchGate {
    pub(crate) fn new(cooldown: Duration) -> Self {
        Self {
            cooldown,
            last_miss: tokio::sync::Mutex::new(None),
        }
    }

    /// Runs `fetch` with no other fetch under way. A success forgets an earlier failure; a
    /// failure makes unknown key ids wait out a cool-down (answered 503) before fetching again.
    // Only the JWKS source refreshes a whole document; without `jwks` nothing calls this.
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(crate) async fn refresh<T, E>(
        &self,
        fetch: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let mut last_miss = self.last_miss.lock().await;
        let outcome = fetch.await;
        match &outcome {
            Ok(_) => {
                if last_miss.as_ref().is_some_and(|miss| miss.failed) {
                    *last_miss = None;
                }
            }
            Err(_) => {
                *last_miss = Some(Miss {
                    at: Instant::now(),
                    kid: "".into(),
                    failed: true,
                });
            }
        }
        outcome
    }

    /// Answers whether `kid` is held (`held` looks in the ring), running `fetch` when it is not
    /// and the gate allows.
    pub(crate) async fn find<E: std::fmt::Display>(
        &self,
        kid: &str,
        held: impl Fn() -> bool,
        fetch: impl Future<Output = Result<(), E>>,
    ) -> Result<bool, AuthError> {
        if held() {
            return Ok(true);
        }
        let mut last_miss = self.last_miss.lock().await;
        if held() {
            return Ok(true); // the fetch we waited for brought it
        }
        if let Some(miss) = last_miss.as_ref()
            && miss.at.elapsed() < self.cooldown
        {
            return if !miss.failed && *miss.kid == *kid {
                Ok(false)
            } else {
                Err(AuthError::Unavailable)
            };
        }
        // Armed before the fetch, and as failed: see `Miss::failed`.
        *last_miss = Some(Miss {
            at: Instant::now(),
            kid: kid.into(),
            failed: true,
        });
        let outcome = fetch.await;
        // The cool-down runs from the end of the fetch: requests that queued behind a fetch
        // slower than the cool-down must take its outcome, not start one fetch each in turn
        // (eight waiters behind a frozen provider would otherwise wait eight timeouts).
        if let Some(miss) = last_miss.as_mut() {
            miss.at = Instant::now();
        }
        match outcome {
            Ok(()) => {
                if let Some(miss) = last_miss.as_mut() {
                    miss.failed = false;
                }
                Ok(held())
            }
            Err(error) => {
                tracing::warn!(%error, "fetching keys for an unknown key id failed");
                Err(AuthError::Unavailable)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    use super::*;

    struct Source {
        gate: FetchGate,
        fetches: AtomicU32,
        has_it: AtomicBool,
        fail: AtomicBool,
        stall: Duration,
    }

    impl Source {
        fn new(cooldown: Duration, stall: Duration) -> Arc<Self> {
            Arc::new(Self {
                gate: FetchGate::new(cooldown),
                fetches: AtomicU32::new(0),
                has_it: AtomicBool::new(false),
                fail: AtomicBool::new(false),
                stall,
            })
        }

        async fn find(&self, kid: &str) -> Result<bool, AuthError> {
            let held = || kid == "real" && self.has_it.load(Ordering::SeqCst);
            self.gate
                .find(kid, held, async {
                    self.fetches.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(self.stall).await;
                    if self.fail.load(Ordering::SeqCst) {
                        return Err("down");
                    }
                    self.has_it.store(true, Ordering::SeqCst);
                    Ok(())
                })
                .await
        }

        fn fetches(&self) -> u32 {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_fetch() {
        let source = Source::new(Duration::from_secs(10), Duration::from_millis(50));
        let asks: Vec<_> = (0..32)
            .map(|_| {
                let source = source.clone();
                tokio::spawn(async move { source.find("real").await })
            })
            .collect();
        for ask in asks {
            assert_eq!(ask.await.ok(), Some(Ok(true)));
        }
        assert_eq!(source.fetches(), 1);
    }

    #[tokio::test]
    async fn the_cool_down_spares_the_provider_and_then_lets_a_fetch_through() {
        let source = Source::new(Duration::from_millis(200), Duration::ZERO);
        assert_eq!(source.find("made-up-1").await, Ok(false));
        // The same kid: a definite no. Another kid: we cannot tell yet.
        assert_eq!(source.find("made-up-1").await, Ok(false));
        assert_eq!(source.find("made-up-2").await, Err(AuthError::Unavailable));
        assert_eq!(source.fetches(), 1);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(source.find("made-up-2").await, Ok(false));
        assert_eq!(source.fetches(), 2, "after the cool-down, a fetch again");
    }

    #[tokio::test]
    async fn a_failed_fetch_answers_unavailable_until_a_refresh_succeeds() {
        let source = Source::new(Duration::from_secs(10), Duration::ZERO);
        source.fail.store(true, Ordering::SeqCst);
        for _ in 0..3 {
            assert_eq!(source.find("real").await, Err(AuthError::Unavailable));
        }
        assert_eq!(source.fetches(), 1);
        source.fail.store(false, Ordering::SeqCst);
        let refreshed: Result<(), ()> = source.gate.refresh(async { Ok(()) }).await;
        assert_eq!(refreshed, Ok(()));
        assert_eq!(
            source.find("real").await,
            Ok(true),
            "the failure is forgotten"
        );
    }

    #[tokio::test]
    async fn requests_queued_behind_a_fetch_slower_than_the_cool_down_take_its_outcome() {
        // A provider that stalls past the cool-down and then fails: the eight requests that
        // waited for that fetch are answered from it, rather than each fetching in turn.
        let source = Source::new(Duration::from_millis(500), Duration::from_millis(600));
        source.fail.store(true, Ordering::SeqCst);
        let asks: Vec<_> = (0..8)
            .map(|n| {
                let source = source.clone();
                tokio::spawn(async move { source.find(&format!("made-up-{n}")).await })
            })
            .collect();
        for ask in asks {
            assert_eq!(ask.await.ok(), Some(Err(AuthError::Unavailable)));
        }
        assert_eq!(source.fetches(), 1);
    }

    #[tokio::test]
    async fn a_request_dropped_mid_fetch_does_not_let_the_next_one_fetch_at_once() {
        let source = Source::new(Duration::from_secs(10), Duration::from_secs(5));
        let first = {
            let source = source.clone();
            tokio::spawn(async move { source.find("made-up-1").await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        first.abort(); // a client hanging up, an HTTP/2 reset, a timeout layer
        let _ = first.await;
        assert_eq!(source.find("made-up-2").await, Err(AuthError::Unavailable));
        assert_eq!(source.fetches(), 1);
    }
}
