//! Extractors that enforce access in handler signatures, and the macros that declare what they
//! require.
//!
//! | extractor | no context | context without the grant |
//! |---|---|---|
//! | [`UserContext`] | 401 | — |
//! | `Option<UserContext>` | `None` | — |
//! | [`RequirePermission<P>`] | 401 | 403 naming `P` and the reason code |
//! | [`RequireAction<A>`] | 401 | 403 naming `A` and the reason code |
//!
//! The checks are asked of the decision seam ([`authz`](crate::authz)): the gateway's
//! authorizer answers, its observers see the decision, and an authorizer that could not ask its
//! store answers 503.
//!
//! Used on a router without the gateway's [`AuthLayer`](crate::AuthLayer), each of them answers
//! 500 with a message naming the missing layer and logs it at `error`: a missing layer is a
//! programming error, and must never look like an anonymous request.
//!
//! ```
//! use axum::{Router, routing::{get, post}};
//! use portcullis::{RequireAction, RequirePermission, UserContext, action, permission};
//!
//! permission!(pub WriteReview = "write:Catalog.Review");
//! action!(pub ExportReports = "reports:export");
//!
//! async fn review(RequirePermission(user, ..): RequirePermission<WriteReview>) -> String {
//!     format!("review by {}", user.subject())
//! }
//! async fn export(_: RequireAction<ExportReports>) -> &'static str { "csv…" }
//!
//! let app: Router = Router::new()
//!     .route("/books/{id}/reviews", post(review))
//!     .route("/reports/export", get(export));
//! ```

use std::fmt;
use std::marker::PhantomData;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::Extensions;
use http::request::Parts;

use crate::authz::{FromRouter, RequestFacts, Scope, ScopeDef, ScopeRule, rule_of};
use crate::context::UserContext;
use crate::error::{AuthError, Requirement};
use crate::rbac::{Action, Permission};
use crate::render::{AuthRejection, Render};

/// What a handler or route layer answers when the gateway layer is missing.
pub(crate) const MISSING_LAYER: &str = "a portcullis extractor or route layer ran on a request that did not pass \
     through portcullis::AuthLayer; add `.layer(AuthGateway::new()...build()?)` to the router \
     (with `route_layer`, the gateway must be layered outside it)";

/// The caller's context from the request, or the rejection to answer with.
pub(crate) fn context_from(extensions: &Extensions) -> Result<UserContext, AuthRejection> {
    match extensions.get::<UserContext>() {
        Some(ctx) => Ok(ctx.clone()),
        None => match extensions.get::<Render>() {
            Some(render) => Err(AuthRejection::new(
                AuthError::MissingCredentials,
                Some(render),
            )),
            None => Err(missing_layer()),
        },
    }
}

pub(crate) fn missing_layer() -> AuthRejection {
    tracing::error!("{MISSING_LAYER}");
    AuthRejection::new(AuthError::MissingGateway(MISSING_LAYER), None)
}

/// The renderer of the gateway that saw the request: the context carries it, and a request that
/// passed without one has it as an extension of its own.
fn render_of(extensions: &Extensions) -> Option<Render> {
    match extensions.get::<UserContext>() {
        // A context made inside the gateway (a middleware of one's own) carries no renderer.
        Some(ctx) => ctx.render().or_else(|| extensions.get::<Render>().copied()),
        None => extensions.get::<Render>().copied(),
    }
}

/// The rejection for `error`, rendered by the gateway that saw the request.
pub(crate) fn rejection(extensions: &Extensions, error: AuthError) -> AuthRejection {
    AuthRejection::new(error, render_of(extensions))
}

/// Asks the decision seam of `ctx`'s gateway about `required` for this request, where the
/// route's [`ScopeLayer`](crate::authz::ScopeLayer) says (else globally). Most authorizers
/// answer at once, and then nothing is awaited.
async fn decide(
    ctx: &UserContext,
    required: &Requirement,
    declared: Option<&ScopeRule>,
    parts: &mut Parts,
) -> Result<(), AuthRejection> {
    // The extractor's own scope first, else the router's.
    let from_router = match declared {
        Some(_) => None,
        None => rule_of(parts),
    };
    let scoped = match declared.or(from_router.as_deref()) {
        None => None,
        Some(rule) => Some(
            rule.resolve(ctx, parts)
                .map_err(|error| rejection(&parts.extensions, error))?,
        ),
    };
    let at = scoped.as_ref().unwrap_or(Scope::global_ref());
    let facts = RequestFacts::of_parts(parts);
    let asked = ctx.seam().decide(ctx, required, at, Some(facts));
    let decision = match asked.now_or_later() {
        Ok(decision) => decision,
        Err(later) => later.await,
    };
    decision
        .into_result(required)
        .map_err(|error| rejection(&parts.extensions, error))
}

impl<S: Send + Sync> FromRequestParts<S> for UserContext {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        context_from(&parts.extensions)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for UserContext {
    type Rejection = AuthRejection;

    /// `None` for an anonymous request that passed an optional gateway or a public path; still
    /// 500 when the gateway layer is missing.
    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match context_from(&parts.extensions) {
            Ok(ctx) => Ok(Some(ctx)),
            Err(rejection) if matches!(rejection.error(), AuthError::MissingCredentials) => {
                Ok(None)
            }
            Err(rejection) => Err(rejection),
        }
    }
}

/// A permission known at compile time; declare one with [`permission!`](crate::permission).
pub trait PermissionDef: Send + Sync + 'static {
    /// The permission as written.
    const TEXT: &'static str;
    /// The parsed permission.
    fn permission() -> &'static Permission;
    /// The permission as the requirement the decision seam is asked.
    fn requirement() -> &'static Requirement;
}

/// An action known at compile time; declare one with [`action!`](crate::action).
pub trait ActionDef: Send + Sync + 'static {
    /// The action name.
    const TEXT: &'static str;
    /// The parsed action.
    fn action() -> &'static Action;
    /// The action as the requirement the decision seam is asked.
    fn requirement() -> &'static Requirement;
}

/// Extracts the caller's context after checking that it holds the permission `P`: 401 without
/// a context, 403 without the permission.
///
/// The check is asked where `W` says ([`FromRouter`] by default: where the router's
/// [`ScopeLayer`](crate::authz::ScopeLayer) says, else globally); a scope declared with
/// [`scope!`](crate::scope) scopes this one extractor with no layer at all.
pub struct RequirePermission<P: PermissionDef, W: ScopeDef = FromRouter>(
    pub UserContext,
    pub PhantomData<(P, W)>,
);

/// Extracts the caller's context after checking that it may perform the action `A`: 401 without
/// a context, 403 without the action.
///
/// Where it is asked: as for [`RequirePermission`].
pub struct RequireAction<A: ActionDef, W: ScopeDef = FromRouter>(
    pub UserContext,
    pub PhantomData<(A, W)>,
);

impl<P: PermissionDef, W: ScopeDef> RequirePermission<P, W> {
    /// The caller's context.
    pub fn context(&self) -> &UserContext {
        &self.0
    }

    /// The caller's context, owned.
    pub fn into_context(self) -> UserContext {
        self.0
    }
}

impl<A: ActionDef, W: ScopeDef> RequireAction<A, W> {
    /// The caller's context.
    pub fn context(&self) -> &UserContext {
        &self.0
    }

    /// The caller's context, owned.
    pub fn into_context(self) -> UserContext {
        self.0
    }
}

impl<P: PermissionDef, W: ScopeDef> std::ops::Deref for RequirePermission<P, W> {
    type Target = UserContext;
    fn deref(&self) -> &UserContext {
        &self.0
    }
}

impl<A: ActionDef, W: ScopeDef> std::ops::Deref for RequireAction<A, W> {
    type Target = UserContext;
    fn deref(&self) -> &UserContext {
        &self.0
    }
}

impl<P: PermissionDef, W: ScopeDef> fmt::Debug for RequirePermission<P, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequirePermission")
            .field(&P::TEXT)
            .field(&self.0)
            .finish()
    }
}

impl<A: ActionDef, W: ScopeDef> fmt::Debug for RequireAction<A, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequireAction")
            .field(&A::TEXT)
            .field(&self.0)
            .finish()
    }
}

impl<S: Send + Sync, P: PermissionDef, W: ScopeDef> FromRequestParts<S>
    for RequirePermission<P, W>
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ctx = context_from(&parts.extensions)?;
        decide(&ctx, P::requirement(), W::rule(), parts).await?;
        Ok(Self(ctx, PhantomData))
    }
}

impl<S: Send + Sync, A: ActionDef, W: ScopeDef> FromRequestParts<S> for RequireAction<A, W> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ctx = context_from(&parts.extensions)?;
        decide(&ctx, A::requirement(), W::rule(), parts).await?;
        Ok(Self(ctx, PhantomData))
    }
}

/// Declares a permission type for [`RequirePermission`]; a malformed permission is a compile
/// error.
///
/// ```
/// portcullis::permission!(pub WriteReview = "write:Catalog.Review");
/// use portcullis::extract::PermissionDef;
/// assert_eq!(WriteReview::permission().scope(), "Catalog.Review");
/// ```
///
/// ```compile_fail,E0080
/// portcullis::permission!(Broken = "write:Catalog.*");
/// ```
#[macro_export]
macro_rules! permission {
    ($(#[$meta:meta])* $vis:vis $name:ident = $text:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;

        const _: () = {
            if let ::core::result::Result::Err(error) = $crate::__private::check_permission($text) {
                ::core::panic!("{}", error.message());
            }
        };

        impl $crate::extract::PermissionDef for $name {
            const TEXT: &'static str = $text;
            fn permission() -> &'static $crate::rbac::Permission {
                static PARSED: $crate::__private::LazyLock<$crate::rbac::Permission> =
                    $crate::__private::LazyLock::new(|| {
                        $crate::__private::checked_permission($text)
                    });
                &PARSED
            }
            fn requirement() -> &'static $crate::Requirement {
                static REQUIRED: $crate::__private::LazyLock<$crate::Requirement> =
                    $crate::__private::LazyLock::new(|| {
                        $crate::Requirement::Permission(
                            <$name as $crate::extract::PermissionDef>::permission().clone(),
                        )
                    });
                &REQUIRED
            }
        }
    };
}

/// Declares an action type for [`RequireAction`]; a malformed action name is a compile error.
///
/// ```
/// portcullis::action!(pub ExportReports = "reports:export");
/// use portcullis::extract::ActionDef;
/// assert_eq!(ExportReports::action().as_str(), "reports:export");
/// ```
///
/// ```compile_fail,E0080
/// portcullis::action!(Broken = "Reports:Export");
/// ```
#[macro_export]
macro_rules! action {
    ($(#[$meta:meta])* $vis:vis $name:ident = $text:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;

        const _: () = {
            if let ::core::result::Result::Err(error) = $crate::__private::check_action_name($text) {
                ::core::panic!("{}", error.message());
            }
        };

        impl $crate::extract::ActionDef for $name {
            const TEXT: &'static str = $text;
            fn action() -> &'static $crate::rbac::Action {
                static PARSED: $crate::__private::LazyLock<$crate::rbac::Action> =
                    $crate::__private::LazyLock::new(|| {
                        $crate::__private::checked_action($text)
                    });
                &PARSED
            }
            fn requirement() -> &'static $crate::Requirement {
                static REQUIRED: $crate::__private::LazyLock<$crate::Requirement> =
                    $crate::__private::LazyLock::new(|| {
                        $crate::Requirement::Action(
                            <$name as $crate::extract::ActionDef>::action().clone(),
                        )
                    });
                &REQUIRED
            }
        }
    };
}
