//! Sentinel's wire API (seeds 000 and 001), so that services written against its Python SDK
//! (`sentinel-auth-sdk` 0.20.1: `RoleClient`, `PermissionClient`, the `Sentinel` middleware)
//! work against portcullis unchanged, answered by the crate's own model.
//!
//! ```
//! use portcullis::identity::{Identity, IdentityConfig};
//! use portcullis::service::sentinel::{SentinelApi, SentinelConfig};
//! use portcullis::store::MemoryStore;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let store = MemoryStore::new();
//! let api = SentinelApi::open(store, SentinelConfig::new("https://authz.example.com")).await?;
//! let workspace = "0b6a2f7e-8d7c-4a59-9f3e-2d1c0b9a8f7e";
//! api.create_workspace(workspace, "acme").await?;
//! let key = api.create_service_key("docs", "docs backend").await?;
//! assert!(key.key.starts_with("sk_"));
//! let app: axum::Router = api.router();
//! # let _ = app;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What maps to what
//!
//! - A **workspace** is a tenant whose id is a UUID. Its members hold one of four system roles
//!   there, made by [`SentinelApi::create_workspace`]: `viewer`, `editor` (inherits `viewer`,
//!   and edits what the workspace may view), `admin` (inherits `editor`, administers the
//!   workspace's resources) and `owner` (inherits `admin`). Other roles of the workspace give
//!   service actions (`RoleClient.check_action`); they do not make a member.
//! - A **service key** (`X-Service-Key`, `sk_…`) is an API key scoped to one service: shown
//!   once, stored as its SHA-256 digest, compared in constant time, revocable at once
//!   ([`SentinelApi::create_service_key`]). Every route of the API wants one (401 without);
//!   a service name in a body or path must be the key's (403 otherwise), so one service
//!   never reads or writes another's resources or actions.
//! - A **user token** is what Sentinel issues: RS256 with a `kid`, keys published at
//!   `/.well-known/jwks.json`, audience `sentinel:access` (or `sentinel:authz` with `svc` and
//!   `idp_sub`), claims `sub`, `email`, `name`, `wid`, `wslug`, `wrole`, `groups`
//!   ([`SentinelApi::issue`]; `POST /auth/token` with a password of the built-in identity).
//!   Machine tokens (`sentinel:m2m`) come from `POST /realm/m2m-token`.
//! - **Entity permissions** are the [`Acl`] engine's, over the workspace roles: `edit` for
//!   `editor` on what the workspace may view, everything for `admin` and `owner`.
//!
//! # Where Sentinel is not followed
//!
//! Its defects are not repeated:
//!
//! - **Token binding is checked.** A token naming a service (`svc`) is refused with 403 by a
//!   key of another service; Sentinel documents the rule and never checks it.
//! - **A token never outlives its membership.** Each request with a user token asks (from a
//!   cache voided by every change) whether the user still holds a workspace role there and
//!   whether the account is still enabled, and refuses the token (401) when not, instead of
//!   trusting `wrole` until the token expires. `wrole` is informative: what a user may do is
//!   always what the workspace says now.
//! - **Unsharing and visibility changes need the owner or a workspace admin**, as sharing does;
//!   Sentinel checks only the service key there. Sharing twice updates the level (Sentinel
//!   answers 500), and group shares match group memberships as stored, never a token's claim.
//! - **Bad input changes nothing** and is answered 422 (as FastAPI does), every list bounded:
//!   at most [`MAX_CHECKS`] checks, [`MAX_BODY_BYTES`] of body.
//!
//! Names are as strict as the model's: a service name or resource type is a lowercase letter
//! then `a-z`, `0-9`, `-`, `_` (Sentinel also allows `.`), at most 64 bytes.
//!
//! What the wire does not say is filled in from the model: the display `name` of a user is
//! their e-mail address (the built-in identity keeps no other), `wslug` is the workspace's
//! slug as created, and the record ids of the ACL (`/permissions/{id}/share`) are opaque
//! handles of the resource's key.

mod bearer;
mod keys;
mod routes;
mod tokens;
mod wire;
mod workspace;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;

pub use keys::CreatedServiceKey;
pub(crate) use keys::require_service_key;
pub use tokens::{IssuedToken, TokenKind};
pub use workspace::{Member, new_workspace_id};

use crate::acl::{Acl, AclStore};
use crate::api_key::ApiKeys;
use crate::error::Requirement;
use crate::identity::{Identity, IdentityConfig, IdentityError};
use crate::rbac::Permission;
use crate::store::{ApiKeyStore, Store};
use crate::tenant::{Tenancy, TenantError, TenantStore};
use crate::token::TokenIssuer;

/// Most checks in one `POST /permissions/check` (Sentinel's bound).
pub const MAX_CHECKS: usize = crate::acl::MAX_CHECKS;

/// Largest request body, in bytes (413 beyond).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Everything the API needs, from one backend: accounts and signing keys, tenant roles, entity
/// permissions and API keys (the crate's SQLite, PostgreSQL and memory stores are).
pub trait SentinelStore: Store + TenantStore + AclStore + ApiKeyStore + Sync {}

impl<T> SentinelStore for T where T: Store + TenantStore + AclStore + ApiKeyStore + Sync {}

/// Bound of the entity permission cache, in bytes.
const ACL_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// The workspace roles, lowest first, each inheriting the one before.
pub const WORKSPACE_ROLES: [&str; 4] = ["viewer", "editor", "admin", "owner"];

/// The permission the `editor` role grants: edit what the workspace may view.
const EDIT_WORKSPACE: &str = "edit:Workspace";
/// The permission the `admin` role grants: administer every resource of the workspace.
const ADMIN_WORKSPACE: &str = "admin:Workspace";

/// How the API is set up.
#[derive(Clone, Debug)]
pub struct SentinelConfig {
    /// The `iss` of issued tokens: the service's public address.
    pub issuer: String,
    /// Lifetime of user tokens (`sentinel:access`, `sentinel:authz`); 15 minutes by default.
    pub user_token_ttl: Duration,
    /// Lifetime of machine tokens (`sentinel:m2m`); 1 hour by default.
    pub m2m_token_ttl: Duration,
    /// The identity's configuration (its signing algorithm is RS256 whatever is set here: the
    /// SDK verifies nothing else).
    pub identity: IdentityConfig,
    /// Where every decision of the routes is recorded (and refused when it cannot be), and
    /// authentication failures too; none by default.
    pub audit: Option<crate::audit::AuditTrail>,
}

impl SentinelConfig {
    /// Defaults for a service at `issuer`.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            user_token_ttl: Duration::from_secs(15 * 60),
            m2m_token_ttl: Duration::from_secs(60 * 60),
            identity: IdentityConfig::default(),
            audit: None,
        }
    }
}

/// Why a management call of the API failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SentinelError {
    /// Input that cannot be taken (named).
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The user or workspace is unknown, or the user is not a member of it.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The identity refused (bad password, disabled account…).
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The tenant model refused.
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// Service keys refused.
    #[error(transparent)]
    Keys(#[from] crate::api_key::ApiKeyError),
    /// A token could not be signed.
    #[error("a token could not be signed")]
    Signing,
    /// A store could not be asked: nothing changed.
    #[error("store unavailable")]
    Unavailable,
}

/// Sentinel's API over the crate's model: see the [module](self).
pub struct SentinelApi<S: SentinelStore> {
    inner: Arc<Inner<S>>,
}

impl<S: SentinelStore> Clone for SentinelApi<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<S: SentinelStore> std::fmt::Debug for SentinelApi<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelApi")
            .field("issuer", &self.inner.config.issuer)
            .finish_non_exhaustive()
    }
}

struct Inner<S: SentinelStore> {
    config: SentinelConfig,
    identity: Arc<Identity<S>>,
    tenancy: Tenancy<S>,
    acl: Acl<S>,
    keys: Arc<ApiKeys<S>>,
    access: TokenIssuer,
    authz: TokenIssuer,
    m2m: TokenIssuer,
}

impl<S: SentinelStore> SentinelApi<S> {
    /// Opens the API over `store`: loads (or makes, on first start) the RS256 signing key, and
    /// builds the engines.
    pub async fn open(store: S, config: SentinelConfig) -> Result<Self, SentinelError> {
        let mut identity_config = config.identity.clone();
        identity_config.signing_algorithm = Algorithm::RS256;
        identity_config.issuer = config.issuer.clone();
        let identity = Arc::new(Identity::open(store.clone(), identity_config).await?);
        let tenancy = Tenancy::new(store.clone());
        let permission = |text: &str| {
            Permission::parse(text)
                .map(Requirement::Permission)
                .map_err(|e| SentinelError::Invalid {
                    field: "permission",
                    message: e.to_string(),
                })
        };
        // Entity facts cached, bounded by bytes: every write through this API (and, with
        // `share_changes`, through any instance) voids what it touched at once; the TTL bounds
        // only writes made behind the service's back.
        let acl = Acl::new(store.clone())
            .cached(ACL_CACHE_BYTES, crate::tenant::DEFAULT_CACHE_TTL)
            .over(tenancy.clone())
            .watching(&tenancy)
            .admins(permission(ADMIN_WORKSPACE)?)
            .editors(permission(EDIT_WORKSPACE)?);
        let keys = ApiKeys::builder(store.clone())
            .prefix(keys::PREFIX)?
            .build();
        let ring = identity.key_ring().clone();
        let issuer = |audience: &str, ttl: Duration| {
            TokenIssuer::new(ring.clone())
                .issuer(config.issuer.clone())
                .audience(audience)
                .ttl(ttl)
        };
        let access = issuer(tokens::ACCESS_AUDIENCE, config.user_token_ttl);
        let authz = issuer(tokens::AUTHZ_AUDIENCE, config.user_token_ttl);
        let m2m = issuer(tokens::M2M_AUDIENCE, config.m2m_token_ttl);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                identity,
                tenancy,
                acl,
                keys,
                access,
                authz,
                m2m,
            }),
        })
    }

    /// The built-in identity: accounts, passwords, the signing keys.
    pub fn identity(&self) -> &Arc<Identity<S>> {
        &self.inner.identity
    }

    /// The tenant model: workspaces' roles, memberships, groups and actions.
    pub fn tenancy(&self) -> &Tenancy<S> {
        &self.inner.tenancy
    }

    /// The entity permission engine.
    pub fn acl(&self) -> &Acl<S> {
        &self.inner.acl
    }

    /// Shares this instance's changes with the others through `feed` (see
    /// [`cluster`](crate::cluster)), and hears theirs: revoked keys and tokens, removed members,
    /// changed roles, shares and signing keys are enforced by every instance within the feed's
    /// delay instead of its caches' lifetimes.
    pub fn share_changes(&self, feed: &crate::cluster::ChangeFeed) {
        self.inner.identity.share_changes(feed);
        self.inner.tenancy.share_changes(feed);
        self.inner.acl.share_changes(feed);
        self.inner.keys.share_changes(feed);
    }

    /// The audit trail the API's decisions go to, if any.
    pub fn audit(&self) -> Option<&crate::audit::AuditTrail> {
        self.inner.config.audit.as_ref()
    }

    /// The public keys as a JWKS document (what `/.well-known/jwks.json` serves).
    pub fn jwks(&self) -> serde_json::Value {
        self.inner.identity.jwks()
    }
}
