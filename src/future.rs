//! A future that is usually ready at once: strategies and enrichers that need no I/O answer
//! without boxing, and only the ones that await pay for an allocation.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Either a value already at hand or a boxed future producing it.
///
/// ```
/// use portcullis::MaybeReady;
///
/// # async fn demo() {
/// assert_eq!(MaybeReady::ready(7).await, 7);
/// assert_eq!(MaybeReady::new(async { 8 }).await, 8);
/// # }
/// ```
pub struct MaybeReady<'a, T>(State<'a, T>);

enum State<'a, T> {
    Ready(Option<T>),
    Boxed(Pin<Box<dyn Future<Output = T> + Send + 'a>>),
}

impl<'a, T> MaybeReady<'a, T> {
    /// A value that is ready now (no allocation).
    pub fn ready(value: T) -> Self {
        Self(State::Ready(Some(value)))
    }

    /// A future to await (boxed).
    pub fn new(future: impl Future<Output = T> + Send + 'a) -> Self {
        Self(State::Boxed(Box::pin(future)))
    }

    /// The value when it is ready now, else `None` (the future is dropped unpolled).
    /// The value if it is ready now, else the future itself.
    pub(crate) fn now_or_later(self) -> Result<T, Self> {
        match self.0 {
            State::Ready(Some(value)) => Ok(value),
            state => Err(Self(state)),
        }
    }

    pub(crate) fn now(self) -> Option<T> {
        match self.0 {
            State::Ready(value) => value,
            State::Boxed(_) => None,
        }
    }
}

// The value is only ever moved out whole, never pinned in place, so the wrapper is Unpin
// whatever `T` is.
impl<T> Unpin for MaybeReady<'_, T> {}

impl<T> Future for MaybeReady<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // Both states are Unpin (an Option and a Pin<Box<_>>), so this is plain field access.
        let this = self.get_mut();
        match &mut this.0 {
            State::Ready(value) => match value.take() {
                Some(v) => Poll::Ready(v),
                None => Poll::Pending, // polled after completion: never resolves again
            },
            State::Boxed(future) => future.as_mut().poll(cx),
        }
    }
}

impl<T> std::fmt::Debug for MaybeReady<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            State::Ready(_) => f.write_str("MaybeReady::Ready"),
            State::Boxed(_) => f.write_str("MaybeReady::Boxed"),
        }
    }
}
