//! A role policy that can be replaced while requests are served.
//!
//! [`LiveRoles`] holds the current [`RolePolicy`] behind an [`ArcSwap`]: a request loads it once
//! (no lock, no I/O) and resolves its roles against that one policy from start to end, so no
//! request ever sees half of an old policy and half of a new one. A new policy replaces the old
//! one in one store, on a call ([`replace`](LiveRoles::replace), [`reload`](LiveRoles::reload))
//! or when the role file changes ([`watch`](LiveRoles::watch)). A policy has a new id each time
//! it is built, so the permission sets that credential caches remember in their contexts are
//! resolved again on their next request: a grant taken out of the file stops allowing at once.
//!
//! A new file that cannot be read, is too large or does not parse is refused as a whole: the
//! policy already serving keeps serving, and the refusal is logged at `error` with the file and
//! the reason (the watcher tries again when the file changes again).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;

use super::file::read_role_file;
use super::role::{Role, RoleError, RolePolicy};
use crate::file_watch::{self, Stamp, stamp_of};

type Build = dyn Fn(Vec<Role>) -> Result<RolePolicy, RoleError> + Send + Sync;

/// A [`RolePolicy`] that can be swapped atomically while it serves (see the
/// [module docs](self)). Clones share the policy. As the gateway's enricher, give it to
/// [`AuthGateway::enricher`](crate::AuthGateway::enricher).
///
/// ```
/// use portcullis::rbac::{LiveRoles, Role, RolePolicy};
///
/// let live = LiveRoles::new(RolePolicy::default());
/// assert!(live.current().role("customer").is_none());
/// live.replace(RolePolicy::builder().role(Role::new("customer").grant("read:Catalog")?).build()?);
/// assert!(live.current().role("customer").is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LiveRoles {
    current: Arc<ArcSwap<RolePolicy>>,
    file: Option<Arc<RoleFileSource>>,
}

/// Where a file-backed policy comes from, and what of it was loaded last.
struct RoleFileSource {
    path: PathBuf,
    build: Box<Build>,
    /// Held through a whole reload (file I/O and the build), so two cannot install their files
    /// out of order.
    reloading: Mutex<()>,
    /// The file's length and modification time when last read (taken before reading, so a
    /// change that lands while the file is read is seen on the next tick), and the SHA-256 of
    /// what was read, so a watcher rebuilds only for a real change. Locked briefly, never
    /// across I/O: the watcher reads it on the runtime's threads.
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    stamp: Stamp,
    digest: Option<[u8; 32]>,
}

impl std::fmt::Debug for LiveRoles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveRoles")
            .field("policy", &**self.current.load())
            .field("file", &self.file.as_ref().map(|s| &s.path))
            .finish()
    }
}

impl LiveRoles {
    /// Serves `policy` until it is replaced.
    pub fn new(policy: RolePolicy) -> Self {
        Self {
            current: Arc::new(ArcSwap::from_pointee(policy)),
            file: None,
        }
    }

    /// Serves the roles of the file at `path` (`.toml`, `.yaml` or `.yml`) beside the built-in
    /// ones, as `RolePolicy::builder().roles(roles_from_file(path)?).build()` would; refused
    /// when the file cannot be read or parsed.
    pub fn from_file(path: impl Into<PathBuf>) -> Result<Self, RoleError> {
        Self::from_file_with(path, |roles| RolePolicy::builder().roles(roles).build())
    }

    /// [`from_file`](Self::from_file) with your own way to make a policy of the file's roles
    /// (without the built-in roles, with roles of your code beside them…), used again at each
    /// reload.
    pub fn from_file_with<F>(path: impl Into<PathBuf>, build: F) -> Result<Self, RoleError>
    where
        F: Fn(Vec<Role>) -> Result<RolePolicy, RoleError> + Send + Sync + 'static,
    {
        let source = RoleFileSource {
            path: path.into(),
            build: Box::new(build),
            reloading: Mutex::new(()),
            seen: Mutex::new(Seen::default()),
        };
        let (loaded, stamp) = source.load();
        let (policy, digest) = loaded?;
        *source.seen.lock().unwrap_or_else(PoisonError::into_inner) = Seen {
            stamp,
            digest: Some(digest),
        };
        Ok(Self {
            current: Arc::new(ArcSwap::from_pointee(policy)),
            file: Some(Arc::new(source)),
        })
    }

    /// The policy serving now. Requests started before a swap finish with the policy they
    /// loaded.
    pub fn current(&self) -> Arc<RolePolicy> {
        self.current.load_full()
    }

    /// Runs `f` with the policy serving now, without touching its reference count (the
    /// request path's way: an `ArcSwap` guard).
    pub(crate) fn with_current<R>(&self, f: impl FnOnce(&RolePolicy) -> R) -> R {
        f(&self.current.load())
    }

    /// Serves `policy` from now on (for a file-backed policy, until the file changes and is
    /// reloaded).
    pub fn replace(&self, policy: RolePolicy) {
        self.current.store(Arc::new(policy));
        tracing::info!(target: "portcullis::rbac", "role policy replaced");
    }

    /// Reads the role file again and serves it, or keeps serving the current policy and says
    /// why (`Err`, also logged at `error`). `Ok(false)` when the file's content has not changed
    /// (nothing is rebuilt); an error when this policy was not made from a file.
    pub fn reload(&self) -> Result<bool, RoleError> {
        let Some(source) = &self.file else {
            return Err(RoleError::File(
                "this role policy has no file to reload".into(),
            ));
        };
        let _one_at_a_time = source
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (loaded, stamp) = source.load();
        let mut seen = source.seen.lock().unwrap_or_else(PoisonError::into_inner);
        // Remembered also when the file is refused, so a watcher does not log the same
        // refusal every tick, and taken before the read, so a write finishing after it is
        // still a change.
        seen.stamp = stamp;
        match loaded {
            Ok((_, digest)) if Some(digest) == seen.digest => Ok(false),
            Ok((policy, digest)) => {
                self.current.store(Arc::new(policy));
                seen.digest = Some(digest);
                drop(seen);
                tracing::info!(target: "portcullis::rbac", file = %source.path.display(), "role file reloaded");
                Ok(true)
            }
            Err(error) => {
                drop(seen);
                tracing::error!(target: "portcullis::rbac", file = %source.path.display(), %error, "role file refused; the roles loaded before keep serving");
                Err(error)
            }
        }
    }

    /// Checks the role file every `every` (its length and modification time, then its content)
    /// and reloads it when it changed, on a task of the current Tokio runtime; stop it by
    /// aborting the handle. Nothing is spawned (`None`) when this policy has no file.
    pub fn watch(&self, every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        let source = self.file.clone()?;
        let live = self.clone();
        Some(file_watch::poll(
            source.path.clone(),
            every,
            move || {
                source
                    .seen
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .stamp
            },
            move || {
                let _ = live.reload();
            },
        ))
    }
}

impl RoleFileSource {
    /// The policy of the file as it is now and the SHA-256 of its text, with the file's stamp
    /// taken before it was read.
    fn load(&self) -> (Result<(RolePolicy, [u8; 32]), RoleError>, Stamp) {
        let stamp = stamp_of(&self.path);
        let loaded = read_role_file(&self.path).and_then(|(roles, text)| {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
            let mut sha256 = [0u8; 32];
            sha256.copy_from_slice(digest.as_ref());
            Ok(((self.build)(roles)?, sha256))
        });
        (loaded, stamp)
    }
}
