//! Verification keys from a JWK set on disk, reloaded while serving.
//!
//! Where keys are handed out by configuration management rather than fetched from a URL (a
//! partner's public keys, the keys of an issuer on a network the gateway cannot reach), a
//! [`KeyFile`] reads a JWK set (`{"keys": [...]}`) from a file into a [`KeyRing`] and swaps the
//! ring's keys in one store when the file changes: on a call ([`KeyFile::reload`]) or when a
//! watcher sees the file's size or modification time change ([`KeyFile::watch`]). The keys are
//! read by the rules of [`RemoteJwks`](crate::token) (pinned algorithms; secret, encryption and
//! duplicated keys skipped; at most 64 KiB and 64 entries), and only public keys are ever taken:
//! the ring verifies, it never signs.
//!
//! A file that cannot be read, is too large, is not a JWK set or holds no usable key is refused
//! whole: the keys already in the ring keep verifying, and the refusal is logged at `error`.
//! A key gone from a good new file leaves the ring at once, and the tokens it verified leave
//! the bearer cache with it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jsonwebtoken::Algorithm;

use super::jwk_set::{JwkSetError, Published, usable_keys};
use super::keyring::KeyRing;
use crate::file_watch::{self, Stamp, stamp_of};

/// Largest key file read, in bytes (as for a fetched JWKS).
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Why a key file was refused. The ring is unchanged in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file could not be read.
    #[error("key file {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// What the system said.
        reason: String,
    },
    /// The file is larger than 64 KiB.
    #[error("key file {0}: larger than 64 KiB")]
    TooLarge(String),
    /// The file is not a JWK set (`{"keys": [...]}`).
    #[error("key file {0}: not a JWK set")]
    Malformed(String),
    /// The file holds no usable public signing key.
    #[error("key file {0}: no usable public signing key")]
    NoUsableKey(String),
}

/// A JWK set file and the ring its keys are read into (see the [module docs](self)). Cheap to
/// clone; clones share everything.
///
/// ```
/// use portcullis::strategy::BearerStrategy;
/// use portcullis::token::{Key, KeyFile, TokenRules};
///
/// let partner = Key::generate_ed25519("2026-12")?;
/// let path = std::env::temp_dir().join(format!("partner-keys-{}.json", std::process::id()));
/// std::fs::write(&path, serde_json::json!({ "keys": [partner.jwk()] }).to_string())?;
///
/// let keys = KeyFile::open(&path)?;
/// assert_eq!(keys.ring().snapshot().kids(), ["2026-12"]);
/// let bearer = BearerStrategy::new(keys.ring(), TokenRules::new().issuer("https://partner.example").audience("api"));
/// # let _ = bearer;
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct KeyFile {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    ring: KeyRing,
    rsa_default: Algorithm,
    /// Held through a whole install (the file read included), so two cannot install out of
    /// order.
    installing: Mutex<()>,
    /// What was installed last, and the file's stamp then. Locked briefly, never across I/O:
    /// the watcher reads it on the runtime's threads.
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    published: Published,
    stamp: Stamp,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile")
            .field("path", &self.inner.path)
            .field("ring", &self.inner.ring)
            .finish()
    }
}

impl KeyFile {
    /// Reads the JWK set at `path` into a new ring; refused unless it holds a usable key. RSA
    /// keys that name no `alg` are taken as RS256.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, KeyFileError> {
        let file = Self {
            inner: Arc::new(Inner {
                path: path.into(),
                ring: KeyRing::new(),
                rsa_default: Algorithm::RS256,
                installing: Mutex::new(()),
                state: Mutex::new(State::default()),
            }),
        };
        file.install()?;
        Ok(file)
    }

    /// The ring the file's keys are in: give it to a
    /// [`BearerStrategy`](crate::strategy::BearerStrategy).
    pub fn ring(&self) -> KeyRing {
        self.inner.ring.clone()
    }

    /// Reads the file again and swaps the ring's keys for its keys, or keeps the keys there
    /// and says why (`Err`, also logged at `error`). Returns how many keys the ring holds.
    pub fn reload(&self) -> Result<usize, KeyFileError> {
        self.install().inspect_err(|error| {
            tracing::error!(target: "portcullis::token", %error, "key file refused; the keys loaded before keep verifying");
        })
    }

    /// Checks the file every `every` (its size and modification time) and reloads it when it
    /// changed, on a task of the current Tokio runtime; stop it by aborting the handle.
    pub fn watch(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let (seen, file) = (self.clone(), self.clone());
        file_watch::poll(
            self.inner.path.clone(),
            every,
            move || {
                seen.inner
                    .state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .stamp
            },
            move || {
                let _ = file.reload();
            },
        )
    }

    fn install(&self) -> Result<usize, KeyFileError> {
        let inner = &*self.inner;
        let _one_at_a_time = inner
            .installing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Taken before the read, so a write finishing after it is still a change; remembered
        // even when the file is refused, so a watcher waits for the next change rather than
        // logging the same refusal every tick.
        let stamp = stamp_of(&inner.path);
        let previous = {
            let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.stamp = stamp;
            state.published.clone()
        };
        let shown = || inner.path.display().to_string();
        let body = read_bounded(&inner.path)?;
        let next = usable_keys(&body, inner.rsa_default, &previous).map_err(|e| match e {
            JwkSetError::Malformed => KeyFileError::Malformed(shown()),
            JwkSetError::NoUsableKey => KeyFileError::NoUsableKey(shown()),
        })?;
        inner
            .ring
            .install(next.values().map(|(_, key)| Arc::clone(key)));
        let count = next.len();
        inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .published = next;
        Ok(count)
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    use std::io::Read as _;

    let unreadable = |e: std::io::Error| KeyFileError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut body = Vec::new();
    std::fs::File::open(path)
        .map_err(unreadable)?
        .take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(unreadable)?;
    if body.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(KeyFileError::TooLarge(path.display().to_string()));
    }
    Ok(body)
}
