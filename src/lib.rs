//! # portcullis
//!
//! Authentication and authorization in front of axum services.
//!
//! A tower layer ([`AuthLayer`], built by [`AuthGateway`]) runs pluggable [strategies](strategy)
//! to one [`UserContext`]; [RBAC](rbac) enriches it with a compiled permission set; extractors
//! such as [`RequirePermission`] and [`RequireAction`] (or the route layers
//! [`require_permission`] and [`require_action`]) enforce access per route.
//!
//! ```
//! use axum::{Router, routing::{get, post}};
//! use portcullis::{AuthGateway, RequirePermission, UserContext, permission};
//! use portcullis::strategy::BearerStrategy;
//! use portcullis::token::{Key, KeyRing, TokenRules};
//!
//! permission!(WriteReview = "write:Catalog.Review");
//!
//! async fn me(user: UserContext) -> String { user.subject().to_owned() }
//! async fn review(RequirePermission(user, ..): RequirePermission<WriteReview>) -> String {
//!     format!("thanks, {}", user.subject())
//! }
//!
//! let ring = KeyRing::single(Key::generate_ed25519("2026-11")?);
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/books/{id}/reviews", post(review))
//!     .layer(
//!         AuthGateway::new()
//!             .strategy(BearerStrategy::new(ring, TokenRules::new().issuer("me").audience("api")))
//!             .build()?,
//!     );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where to start
//!
//! - [`AuthGateway`]: builds the [`AuthLayer`] that authenticates every request (strategies in
//!   order, then enrichment) and puts a [`UserContext`] into it.
//! - [`strategy`]: the [`Strategy`](strategy::Strategy) trait and the
//!   [`BearerStrategy`](strategy::BearerStrategy); the services hand out their own
//!   ([`ApiKeyStrategy`](api_key::ApiKeyStrategy), [`SessionStrategy`](session::SessionStrategy)).
//! - [`token`]: the [`KeyRing`](token::KeyRing) every first-party token is signed and verified
//!   with, [`TokenRules`](token::TokenRules) for the claims you accept.
//! - [`rbac`]: permissions, actions and the [`RolePolicy`](rbac::RolePolicy) that compiles roles
//!   into a [`PermissionSet`](rbac::PermissionSet); [`Enricher`] to plug in your own.
//! - [`RequirePermission`], [`RequireAction`], [`require_permission`], [`require_action`]:
//!   per-route checks, declared with [`permission!`] and [`action!`].
//! - [`authz`]: the one decision point every check goes through ([`Authorizer`](authz::Authorizer),
//!   [`Decision`](authz::Decision) with a reason code, observers, where a route's checks are
//!   asked); [`tenant`]: roles per tenant and namespace, stored, with inheritance, assignments,
//!   expiry and their management routes, as an authorizer; [`actors`]: spanforge's standard role
//!   matrix and actor manifests.
//! - [`AuthError`] and [`ErrorRenderer`]: what failed and how it is answered (401 with a
//!   challenge, 403 with what was required, 503 when a store cannot answer).
//! - Services with their own routes: [`identity`] (accounts, passwords, refresh tokens),
//!   [`session`] (browser cookies), [`api_key`], `oauth` (OpenID login, feature `oauth2`);
//!   their storage traits and backends are in [`store`], revocation in [`revocation`].
//!
//! The README's *Layout* section maps the modules to their layers (imports only point down).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod acl;
pub mod actors;
pub mod api_key;
pub mod audit;
pub mod authz;
pub mod clock;
pub mod cluster;
mod context;
mod enrich;
mod enrich_fn;
mod error;
pub mod extract;
mod file_watch;
mod fresh_cache;
mod future;
mod gateway;
pub mod identity;
#[cfg(feature = "oauth2")]
pub mod oauth;
pub mod password;
pub mod rbac;
mod render;
mod require;
pub mod revocation;
mod secret;
#[cfg(feature = "service")]
pub mod service;
pub mod session;
pub mod store;
pub mod strategy;
pub mod tenant;
pub mod token;

pub use context::{AuthMethod, UserContext};
pub use enrich::Enricher;
pub use enrich_fn::{EnricherFn, enricher_fn};
pub use error::{AuthError, Denial, EntityAccess, Reason, Requirement, TokenRejection};
pub use extract::{RequireAction, RequirePermission};
pub use future::MaybeReady;
pub use gateway::{AuthGateway, AuthLayer, AuthMode, AuthService, GatewayError, ResponseFuture};
pub use render::{AuthRejection, DefaultRenderer, ErrorRenderer, PROBLEM_JSON, Problem};
pub use require::{
    RequireFuture, RequireLayer, RequireService, require_action, require_permission,
};

/// What the [`permission!`] and [`action!`] macros expand to, and the const grammar behind them
/// (also the oracle of the fuzz and property tests). Not a public API: nothing here is covered by
/// semver.
#[doc(hidden)]
pub mod __private {
    pub use std::sync::LazyLock;

    pub use crate::rbac::grammar::{
        ActionGrantShape, check_action_grant, check_action_name, check_permission,
    };
    use crate::rbac::{Action, Permission};

    /// Builds a permission the macro has already checked at compile time.
    #[allow(clippy::expect_used)]
    pub fn checked_permission(text: &'static str) -> Permission {
        // Not input-dependent: `permission!` rejects a malformed literal at compile time with the
        // same grammar, so this cannot fail.
        Permission::parse(text).expect("checked at compile time by permission!")
    }

    /// Builds an action the macro has already checked at compile time.
    #[allow(clippy::expect_used)]
    pub fn checked_action(text: &'static str) -> Action {
        // Not input-dependent: `action!` checked this literal at compile time.
        Action::parse(text).expect("checked at compile time by action!")
    }
}

/// The README's examples, compiled as doctests so they cannot rot (with every feature on, as CI
/// runs them).
#[cfg(all(
    doctest,
    feature = "sqlite",
    feature = "oauth2",
    feature = "jwks",
    feature = "service"
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
