//! What the seam answers: a [`Decision`].

use std::fmt;

use super::scope::Scope;
use crate::error::{AuthError, Denial, Reason, Requirement};

/// How the subject came to hold the role that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Via {
    /// The credential names the role (a token's `roles` claim, an API key's roles).
    Credential,
    /// A stored assignment to the subject itself.
    Assignment {
        /// The assignment's id.
        id: Box<str>,
        /// When it stops (or stopped) granting.
        expires_at: Option<i64>,
    },
    /// A stored assignment to a group the subject is a member of.
    Group {
        /// The group.
        group: Box<str>,
        /// The assignment's id.
        id: Box<str>,
        /// When it stops (or stopped) granting.
        expires_at: Option<i64>,
    },
}

/// The grant that answered an allowed check (or, for a near miss, would have), and the role
/// that holds it: with the tenant role model, also the whole path from the role the subject
/// holds down through its parents to the one with the grant, the namespace it is held at, and
/// how the subject holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    role: Option<Box<str>>,
    grant: Box<str>,
    path: Box<[Box<str>]>,
    namespace: Option<Box<str>>,
    via: Option<Via>,
}

impl Granted {
    /// A grant, held by `role` (`None` for a set compiled without roles).
    pub fn new(role: Option<&str>, grant: &str) -> Self {
        Self {
            role: role.map(Into::into),
            grant: grant.into(),
            path: Box::new([]),
            namespace: None,
            via: None,
        }
    }

    /// Records the role path: the role held first, then each parent down to the one with the
    /// grant (`["sre", "engineer"]`: `sre` is held and inherits the grant from `engineer`).
    pub fn with_path<I, S>(mut self, path: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        self.path = path.into_iter().map(Into::into).collect();
        self
    }

    /// Records the namespace the role is held at (`""` for the tenant's root).
    pub fn at_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Records how the subject holds the role.
    pub fn via(mut self, via: Via) -> Self {
        self.via = Some(via);
        self
    }

    /// The role path, when known (see [`with_path`](Self::with_path)); empty otherwise.
    pub fn path(&self) -> &[Box<str>] {
        &self.path
    }

    /// The namespace the role is held at, when known.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// How the subject holds the role, when known.
    pub fn how(&self) -> Option<&Via> {
        self.via.as_ref()
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
    near_miss: Option<Box<Granted>>,
}

impl Decision {
    /// A decision for `reason`, asked at `scope`.
    pub fn new(reason: Reason, scope: Scope) -> Self {
        Self {
            reason,
            scope,
            matched: None,
            near_miss: None,
        }
    }

    /// Records what would have allowed a denied check and why it did not: an expired
    /// assignment (`deny_assignment_expired`), a role held at another namespace
    /// (`deny_not_in_namespace`).
    pub fn with_near_miss(mut self, near: Granted) -> Self {
        self.near_miss = Some(Box::new(near));
        self
    }

    /// What would have allowed a denied check, when worked out (by
    /// [`explain`](super::explain)).
    pub fn near_miss(&self) -> Option<&Granted> {
        self.near_miss.as_deref()
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
            reason if reason.allows() => Ok(()),
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
        if let Some(m) = &self.near_miss {
            d.field("near_miss", m);
        }
        d.finish()
    }
}
