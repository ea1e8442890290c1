//! The seam through which the bearer strategy finds keys it does not hold yet.

use crate::error::AuthError;
use crate::future::MaybeReady;

/// Finds keys the ring does not hold yet. The bearer strategy asks it when a token names an
/// unknown `kid`.
///
/// `RemoteJwks` (feature `jwks`) is the built-in source; a source of your own (keys in a database shared by
/// several instances, say) implements this.
pub trait KeySource: Send + Sync + 'static {
    /// Looks for `kid`: `Ok(true)` when the ring now holds it, `Ok(false)` when it is not to be
    /// had, [`AuthError::Unavailable`] when the source could not be asked.
    fn find<'a>(&'a self, kid: &'a str) -> MaybeReady<'a, Result<bool, AuthError>>;
}
