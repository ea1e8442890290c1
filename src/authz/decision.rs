//! What the seam answers: a [`Decision`].

use std::fmt;

use super::scope::Scope;
use crate::error::{AuthError, Denial, Reason, Requirement};

/// The grant that answered an allowed check, and the role that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    role: Option<Box<str>>,
    grant: Box<str>,
}

impl Granted {
    /// A grant, held by `role` (`None` for a set compiled without roles).
    pub fn new(role: Option<&str>, grant: &str) -> Self {
        Self {
            role: role.map(Into::into),
            grant: grant.into(),
        }
    }

    /// The role's name.
    pub fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }

    /// The grant as written (`read:Catalog`, `*:*`, `reports:*`).
    pub fn grant(&self) -> &str {
        &self.grant
    }
}

/// The answer to one check: allowed or not, the stable [`Reason`] code, where it was asked
/// and, when asked for, what matched.
///
/// `matched` is filled when an observer of the seam wants it (the audit trail does) or when
/// the check came through [`explain`](super::explain); working it out costs a second walk of
/// the grants, which a plain check does not pay.
///
/// ```
/// use portcullis::authz::{Decision, Scope};
/// use portcullis::Reason;
///
/// let denied = Decision::new(Reason::DenyOtherTenant, Scope::tenant("acme")?);
/// assert!(!denied.is_allowed());
/// assert_eq!(denied.reason().code(), "deny_other_tenant");
/// # Ok::<(), portcullis::authz::ScopeError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Decision {
    reason: Reason,
    scope: Scope,
    // Boxed: a plain check never fills it, and a small decision moves cheaply.
    matched: Option<Box<Granted>>,
}

impl Decision {
    /// A decision for `reason`, asked at `scope`.
    pub fn new(reason: Reason, scope: Scope) -> Self {
        Self {
            reason,
            scope,
            matched: None,
        }
    }

    /// Records what matched.
    pub fn with_match(mut self, matched: Granted) -> Self {
        self.matched = Some(Box::new(matched));
        self
    }

    /// Whether the check allows.
    pub fn is_allowed(&self) -> bool {
        self.reason.allows()
    }

    /// Why.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// Where the check was asked.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The grant and role that allowed it, when worked out (see the type's docs).
    pub fn matched(&self) -> Option<&Granted> {
        self.matched.as_deref()
    }

    /// `Ok` when allowed; otherwise the error to answer with: 403 with the reason code and the
    /// requirement, or 503 when a store could not be asked.
    pub fn into_result(self, required: &Requirement) -> Result<(), AuthError> {
        match self.reason {
            Reason::Allow => Ok(()),
            Reason::Unavailable => Err(AuthError::Unavailable),
            reason => Err(AuthError::Forbidden(
                Denial::new(reason).requiring(required.clone()),
            )),
        }
    }
}

impl fmt::Debug for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Decision");
        d.field("reason", &self.reason.code())
            .field("scope", &self.scope);
        if let Some(m) = &self.matched {
            d.field("role", &m.role()).field("grant", &m.grant());
        }
        d.finish()
    }
}
