//! The vocabulary of failure: [`AuthError`], why a credential was refused ([`TokenRejection`])
//! and why a request was denied ([`Denial`]: a [`Reason`] code and the [`Requirement`]).
//!
//! These are plain types that every layer speaks: the token leaf's key sources fail with
//! [`AuthError::Unavailable`], its verifier refuses with a [`TokenRejection`], the model's
//! `UserContext::require_*` answers [`AuthError::Forbidden`]. So they sit at the bottom, beside
//! the leaves, importing only `rbac` (a [`Requirement`] names a permission or an action). How an
//! error becomes an HTTP response is the request path's business and lives in `render`, above
//! the model; the architecture map's `error (rendering)` is that module. (The map files
//! [`Requirement`] and the reason codes ([`Reason`]) under the `authz` seam; they live here
//! because [`AuthError::Forbidden`] carries them ([`Denial`]) and the leaves speak `AuthError`.
//! The seam re-exports them.)
//!
//! How the default renderer answers each error:
//!
//! | error | status | `WWW-Authenticate` |
//! |---|---|---|
//! | [`AuthError::MissingCredentials`] | 401 | `Bearer realm="…"` (no error code, RFC 6750 §3.1) |
//! | [`AuthError::InvalidToken`] | 401 | `Bearer realm="…", error="invalid_token"` |
//! | [`AuthError::InvalidRequest`] | 400 | `Bearer realm="…", error="invalid_request"` |
//! | [`AuthError::Forbidden`] | 403 | none; the body gives the reason code and what was required |
//! | [`AuthError::Unavailable`] | 503 | none; `Retry-After` |
//! | [`AuthError::MissingGateway`] | 500 | none; the body names the missing layer |
//!
//! Bodies are RFC 9457 `application/problem+json`. A body never says which check a bad credential
//! failed: the reason ([`TokenRejection`]) is logged at `debug` and kept for your own
//! [`ErrorRenderer`](crate::ErrorRenderer), never rendered by the default one.

use std::fmt;

use http::StatusCode;

use crate::rbac::{Action, Permission};
use serde::{Deserialize, Serialize};

/// Why a credential was refused. For logs and custom renderers only: the default renderer never
/// puts it in a response, so a client cannot probe which check its token failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenRejection {
    /// The credential is larger than the configured limit; nothing was parsed.
    TooLarge,
    /// Not three base64url segments, or characters outside the token alphabet.
    Malformed,
    /// The header names no key id, or one the key ring does not hold.
    UnknownKey,
    /// The header's `alg` is not the algorithm the key is pinned to.
    AlgorithmMismatch,
    /// The header carries `crit`, which this verifier does not process.
    CriticalHeader,
    /// The header's `typ` is not the configured one.
    WrongType,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is missing.
    MissingExpiry,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iss` is missing or not the configured issuer.
    WrongIssuer,
    /// `aud` is missing or does not name the configured audience.
    WrongAudience,
    /// `sub` is missing or empty, or another claim has the wrong type; this includes an `exp`,
    /// `nbf` or `iat` that is not a whole number of seconds between 0 and
    /// [`MAX_NUMERIC_DATE`](crate::token::MAX_NUMERIC_DATE).
    BadClaims,
    /// With [`TokenRules::max_lifetime`](crate::token::TokenRules::max_lifetime) set: `iat` is
    /// missing, or `exp - iat` is longer than allowed.
    LifetimeTooLong,
    /// The credential was revoked.
    Revoked,
}

impl TokenRejection {
    /// A short stable name, for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::UnknownKey => "unknown_key",
            Self::AlgorithmMismatch => "algorithm_mismatch",
            Self::CriticalHeader => "critical_header",
            Self::WrongType => "wrong_type",
            Self::BadSignature => "bad_signature",
            Self::MissingExpiry => "missing_expiry",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::BadClaims => "bad_claims",
            Self::LifetimeTooLong => "lifetime_too_long",
            Self::Revoked => "revoked",
        }
    }
}

impl fmt::Display for TokenRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a check requires: the typed question the decision seam
/// ([`Authorizer`](crate::authz::Authorizer)) answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Requirement {
    /// A permission (`write:Catalog.Review`).
    Permission(Permission),
    /// An action (`reports:export`).
    Action(Action),
    /// Every one of these roles, held globally or for the check's resource (spanforge's
    /// `authorize`: required roles against an actor's effective roles).
    Roles(Box<[String]>),
    /// Access to one resource (the check's [`Scope::on`](crate::authz::Scope::on)) of a
    /// service, answered by the entity permission engine ([`Acl`](crate::acl::Acl)) from its
    /// owner, visibility, shares and folders.
    Access(EntityAccess),
}

/// A level of access to a resource; `Edit` implies `View`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Read it.
    View,
    /// Change it (and read it).
    Edit,
}

impl Access {
    /// The stored text: `view`, `edit`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Edit => "edit",
        }
    }

    /// The access a text names.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "view" => Some(Self::View),
            "edit" => Some(Self::Edit),
            _ => None,
        }
    }

    /// Whether holding `self` gives `wanted`.
    pub fn covers(self, wanted: Access) -> bool {
        self >= wanted
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`Requirement::Access`] asks: a level of access to a resource of one service.
///
/// ```
/// use portcullis::{EntityAccess, Requirement};
/// use portcullis::store::Access;
///
/// let edit = Requirement::Access(EntityAccess::new("docs", Access::Edit));
/// assert_eq!(edit.to_string(), "edit on a docs resource");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityAccess {
    service: Box<str>,
    access: Access,
}

impl EntityAccess {
    /// `access` to a resource of `service`.
    pub fn new(service: &str, access: Access) -> Self {
        Self {
            service: service.into(),
            access,
        }
    }

    /// The service whose resource it is.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The level wanted.
    pub fn access(&self) -> Access {
        self.access
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Permission(p) => write!(f, "permission {p}"),
            Self::Action(a) => write!(f, "action {a}"),
            Self::Roles(roles) => write!(f, "roles {}", roles.join(", ")),
            Self::Access(a) => write!(f, "{} on a {} resource", a.access, a.service),
        }
    }
}

/// Why a check was answered as it was: a stable code for programs, logs and the audit trail.
///
/// The codes ([`code`](Self::code)) never change meaning once published; new ones are added as
/// new rules arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// `allow`: one of the subject's grants covers the requirement.
    Allow,
    /// `deny_no_roles`: the subject holds no role and no grant at all.
    DenyNoRoles,
    /// `deny_no_permission`: the subject's grants do not cover the requirement.
    DenyNoPermission,
    /// `deny_assignment_expired`: the role that would have granted it was assigned until a time
    /// that has passed.
    DenyAssignmentExpired,
    /// `deny_other_tenant`: the check is about a tenant the subject's credential is not for.
    DenyOtherTenant,
    /// `deny_not_in_namespace`: the subject's roles apply to other namespaces only.
    DenyNotInNamespace,
    /// `deny_missing_roles`: the check requires roles (spanforge's `authorize`) the subject does
    /// not hold, globally or for the resource.
    DenyMissingRoles,
    /// `deny_cross_origin`: a browser request from an origin the application does not allow
    /// (CSRF protection).
    DenyCrossOrigin,
    /// `error_unavailable`: a store the answer needs could not be asked; refused (fail closed).
    Unavailable,
    /// `allow_owner`: the subject owns the resource.
    AllowOwner,
    /// `allow_admin`: the subject administers the resource's tenant.
    AllowAdmin,
    /// `allow_visibility`: the resource (or a folder above it) is visible to the subject: public,
    /// or visible to its tenant's members.
    AllowVisibility,
    /// `allow_share`: the resource is shared with the subject.
    AllowShare,
    /// `allow_group`: the resource is shared with a group the subject belongs to.
    AllowGroup,
    /// `allow_parent`: a folder above the resource is shared with the subject or its group.
    AllowParent,
    /// `deny_no_record`: the resource is not registered.
    DenyNoRecord,
}

impl Reason {
    /// The stable code: `allow`, `deny_no_roles`, `deny_no_permission`, ….
    pub const fn code(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::DenyNoRoles => "deny_no_roles",
            Self::DenyNoPermission => "deny_no_permission",
            Self::DenyAssignmentExpired => "deny_assignment_expired",
            Self::DenyOtherTenant => "deny_other_tenant",
            Self::DenyNotInNamespace => "deny_not_in_namespace",
            Self::DenyMissingRoles => "deny_missing_roles",
            Self::DenyCrossOrigin => "deny_cross_origin",
            Self::Unavailable => "error_unavailable",
            Self::AllowOwner => "allow_owner",
            Self::AllowAdmin => "allow_admin",
            Self::AllowVisibility => "allow_visibility",
            Self::AllowShare => "allow_share",
            Self::AllowGroup => "allow_group",
            Self::AllowParent => "allow_parent",
            Self::DenyNoRecord => "deny_no_record",
        }
    }

    /// Whether the code allows.
    pub const fn allows(self) -> bool {
        matches!(
            self,
            Self::Allow
                | Self::AllowOwner
                | Self::AllowAdmin
                | Self::AllowVisibility
                | Self::AllowShare
                | Self::AllowGroup
                | Self::AllowParent
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why an authenticated request was refused: the reason code and, for a check, what it
/// required. Carried by [`AuthError::Forbidden`]; the 403 body shows both.
///
/// ```
/// use portcullis::{Denial, Reason, Requirement};
/// use portcullis::rbac::Permission;
///
/// let denial = Denial::new(Reason::DenyNoPermission)
///     .requiring(Requirement::Permission(Permission::parse("write:Catalog")?));
/// assert_eq!(denial.to_string(), "permission write:Catalog (deny_no_permission)");
/// # Ok::<(), portcullis::rbac::GrammarError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    reason: Reason,
    requirement: Option<Requirement>,
}

impl Denial {
    /// A refusal for `reason`.
    pub fn new(reason: Reason) -> Self {
        Self {
            reason,
            requirement: None,
        }
    }

    /// Names what the refused check required.
    pub fn requiring(mut self, requirement: Requirement) -> Self {
        self.requirement = Some(requirement);
        self
    }

    /// The reason code.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// What the refused check required, if it was a check.
    pub fn requirement(&self) -> Option<&Requirement> {
        self.requirement.as_ref()
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.requirement {
            Some(requirement) => write!(f, "{requirement} ({})", self.reason),
            None => f.write_str(self.reason.code()),
        }
    }
}

/// An authentication or authorization failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials were presented where they are required.
    #[error("authentication required")]
    MissingCredentials,
    /// A credential was presented and refused.
    #[error("invalid credentials ({0})")]
    InvalidToken(TokenRejection),
    /// The request is malformed in a way RFC 6750 calls `invalid_request` (two `Authorization`
    /// headers, a token in both header and query, …). The text describes the request's shape,
    /// never a credential's content.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// Authenticated, but not allowed.
    #[error("forbidden: {0}")]
    Forbidden(Denial),
    /// A store, cache or key source could not answer; the request is refused (fail closed).
    #[error("authentication temporarily unavailable")]
    Unavailable,
    /// The resource does not exist, or the caller may not learn that it does: a refused entity
    /// check that hides its refusals (so ids do not leak) answers as a missing resource would,
    /// with no reason code.
    #[error("not found")]
    NotFound,
    /// A portcullis extractor or route layer ran on a request that never went through the named
    /// layer: a programming error.
    #[error("portcullis: {0}")]
    MissingGateway(&'static str),
}

impl AuthError {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingCredentials | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MissingGateway(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The RFC 6750 error code, where one applies.
    pub fn oauth_error_code(&self) -> Option<&'static str> {
        match self {
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InvalidRequest(_) => Some("invalid_request"),
            _ => None,
        }
    }
}

/// What a backend (a database, an HTTP client) reported when it failed: a short description of
/// what was being done and, when the backend gave one, its own error (kept whole, as the [source](std::error::Error::source),
/// for logs that walk the chain).
///
/// ```
/// use portcullis::store::{BackendError, StoreError};
///
/// let error = StoreError::Unavailable(BackendError::from("test outage"));
/// assert_eq!(error.to_string(), "store unavailable: test outage");
/// ```
#[derive(Clone)]
pub struct BackendError {
    what: std::borrow::Cow<'static, str>,
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl BackendError {
    /// `what` failed because of `source`.
    pub fn new(
        what: impl Into<std::borrow::Cow<'static, str>>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            what: what.into(),
            source: Some(std::sync::Arc::new(source)),
        }
    }
}

impl From<&'static str> for BackendError {
    fn from(what: &'static str) -> Self {
        Self {
            what: what.into(),
            source: None,
        }
    }
}

impl From<String> for BackendError {
    fn from(what: String) -> Self {
        Self {
            what: what.into(),
            source: None,
        }
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

impl std::fmt::Debug for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendError")
            .field("what", &self.what)
            .field("source", &self.source)
            .finish()
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Equal when they say the same: two failures are never told apart by identity.
impl PartialEq for BackendError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for BackendError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(AuthError::MissingCredentials.status(), 401);
        assert_eq!(
            AuthError::InvalidToken(TokenRejection::Expired).status(),
            401
        );
        assert_eq!(AuthError::InvalidRequest("x").status(), 400);
        assert_eq!(AuthError::Unavailable.status(), 503);
    }
}
