//! spanforge's RBAC for actors: the [`STANDARD_ROLE_MATRIX`] of ten canonical actors, actor
//! manifests ([`ActorManifest`]: global roles and roles per resource) made from code, YAML or a
//! verified JWT, and a registry ([`Actors`]) whose [`authorize`](Actors::authorize) asks the
//! crate's decision seam whether an actor holds the roles a sensitive action requires.
//!
//! ```
//! use portcullis::actors::{ActorManifest, Actors};
//! use portcullis::authz::DecisionPoint;
//! use portcullis::Reason;
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let actors = Actors::new();
//! actors.register(ActorManifest::standard("release-bot", "deployer").unwrap())?;
//!
//! let decisions = DecisionPoint::default(); // or `layer.decision_point()` of your gateway
//! let deploy = actors.authorize(&decisions, "release-bot", Some("pipeline"), &["deployer"]).await?;
//! assert!(deploy.is_allowed());
//! let admin = actors.authorize(&decisions, "release-bot", None, &["admin"]).await?;
//! assert_eq!(admin.reason(), Reason::DenyMissingRoles);
//! # Ok::<(), portcullis::actors::ActorError>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Through the seam
//!
//! `authorize` builds the actor's [`UserContext`](crate::UserContext) (made once, when the
//! manifest is registered), a [`Requirement::Roles`](crate::Requirement::Roles) and a
//! [`Scope`](crate::authz::Scope) about the resource, and asks the
//! [`DecisionPoint`](crate::authz::DecisionPoint) it is given: the decision has a reason code
//! (`allow`, `deny_missing_roles`, `deny_no_roles`) and every observer of that seam sees it,
//! exactly as they see a check in a handler. spanforge's signed decision records are the audit
//! trail's job, as an observer of the seam; this module keeps none of its own.
//!
//! # What spanforge did that this does not
//!
//! - **No unverified token.** spanforge's `register_actor_from_jwt(token, verify=False)` decoded
//!   the payload and trusted it, and its `verify=True` was ignored. [`ActorManifest::from_jwt`]
//!   has no such switch: the token goes through the crate's
//!   [`TokenVerifier`](crate::token::TokenVerifier) (key chosen by `kid`, algorithm pinned per
//!   key, `exp` required, issuer and audience as the [`TokenRules`](crate::token::TokenRules)
//!   say) or it is refused.
//! - **No fallback key.** Tokens verify only with keys of the [`KeyRing`](crate::token::KeyRing)
//!   you pass; an empty ring verifies nothing.
//! - **Bounds.** Actor ids, role names, the number of roles and resources, YAML text and token
//!   size are all bounded, and the size is checked before parsing.
//!
//! # Names and slugs
//!
//! The matrix keeps spanforge's names, `service_account` included, and so do manifests, tokens
//! and [`standard_role_policy`] (role names may hold `_`). A tenant's role set names roles by
//! slugs `^[a-z][a-z0-9-]{0,62}$`, which may not: there the standard role is
//! `service-account` ([`StandardRole::slug`]; [`StandardRole::role`] is its matrix name). The
//! nine other roles have the same name and slug.
//!
//! # Layer
//!
//! Model layer: imports the `token` and `rbac` leaves and the model's `authz` and `context`,
//! nothing from the request path or the services.

mod manifest;
mod matrix;
mod registry;

pub use manifest::{ActorManifest, MANIFEST_METHOD};
pub use matrix::{
    STANDARD_ROLE_MATRIX, StandardRole, matrix_roles, standard_role_policy, standard_roles,
};
pub use registry::Actors;

use crate::error::TokenRejection;

/// Longest actor id, in bytes.
pub const MAX_ACTOR_ID_LEN: usize = 256;
/// Most roles an actor holds globally, and most per resource; also the most roles one
/// [`Actors::authorize`] may require.
pub const MAX_ACTOR_ROLES: usize = 256;
/// Most resources an actor holds roles for.
pub const MAX_ACTOR_RESOURCES: usize = 256;
/// Largest YAML manifest accepted, in bytes (64 KiB); a JWT's cap is its
/// [`TokenRules::max_token_bytes`](crate::token::TokenRules::max_token_bytes).
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;
/// Most actors an [`Actors`] registry holds unless told otherwise.
pub const DEFAULT_MAX_ACTORS: usize = 100_000;

/// Why a manifest, a registration or a question was refused.
///
/// Messages quote at most 80 characters of a refused name, and never a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActorError {
    /// An actor id is empty, longer than [`MAX_ACTOR_ID_LEN`] or has a byte outside printable
    /// ASCII (a space included).
    #[error("actor id is invalid: 1 to 256 bytes of printable ASCII, no spaces")]
    InvalidActorId,
    /// A role name is not a role name (1 to 64 bytes of letters, digits, `_`, `.`, `:`, `-`).
    #[error("role name {0:?} is invalid: 1 to 64 bytes of letters, digits, `_`, `.`, `:` or `-`")]
    InvalidRole(String),
    /// A resource is not a resource type (`^[a-z][a-z0-9_-]{0,63}$`).
    #[error(
        "resource {0:?} is invalid: a lowercase letter then up to 63 of `a-z`, `0-9`, `_`, `-`"
    )]
    InvalidResource(String),
    /// More than [`MAX_ACTOR_ROLES`] roles in one list.
    #[error("more than 256 roles in one list")]
    TooManyRoles,
    /// More than [`MAX_ACTOR_RESOURCES`] resources.
    #[error("roles for more than 256 resources")]
    TooManyResources,
    /// A YAML manifest is longer than [`MAX_MANIFEST_BYTES`]; nothing was parsed.
    #[error("manifest is over the 65536-byte limit")]
    TooLarge,
    /// A YAML manifest could not be parsed, lacks `actor_id`, or has an unknown key.
    #[error("manifest: {0}")]
    Yaml(String),
    /// The token was refused by verification (signature, key, algorithm, expiry, issuer,
    /// audience, size…).
    #[error("token refused: {0}")]
    Token(TokenRejection),
    /// A verified token's claim has the wrong shape (`roles` not an array of strings,
    /// `resource_roles` not an object of such arrays).
    #[error("token claim {0:?} has the wrong shape")]
    BadClaim(&'static str),
    /// The registry is full and the actor is new.
    #[error("the actor registry is full")]
    TooManyActors,
    /// `authorize` was asked to require no role at all, which every actor (registered or not)
    /// would meet.
    #[error("no role required: name at least one")]
    NoRolesRequired,
}
