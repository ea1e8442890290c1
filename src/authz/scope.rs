//! Where a check is asked: a tenant (workspace) and a namespace path inside it.

use std::fmt;
use std::sync::Arc;

/// Longest tenant id, in bytes.
pub const MAX_TENANT_LEN: usize = 128;
/// Most segments in a namespace path.
pub const MAX_NAMESPACE_DEPTH: usize = 8;
/// Longest namespace segment, in bytes.
pub const MAX_SEGMENT_LEN: usize = 63;
/// Longest resource type, in bytes.
pub const MAX_RESOURCE_TYPE_LEN: usize = 64;
/// Longest resource id, in bytes.
pub const MAX_RESOURCE_ID_LEN: usize = 256;

/// Why a tenant id or namespace path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// A tenant id is empty, too long or has characters outside `[A-Za-z0-9_.:-]`.
    #[error("tenant id is invalid: 1 to 128 bytes of letters, digits, `_`, `.`, `:` or `-`")]
    InvalidTenant,
    /// A namespace path is not `segment/segment/…` with segments `^[a-z][a-z0-9-]{0,62}$`.
    #[error(
        "namespace path is invalid: segments of a lowercase letter then up to 62 of `a-z`, `0-9`, `-`, joined by `/`"
    )]
    InvalidNamespace,
    /// A namespace path is deeper than [`MAX_NAMESPACE_DEPTH`].
    #[error("namespace path is deeper than 8 segments")]
    NamespaceTooDeep,
    /// A namespace was given without a tenant.
    #[error("a namespace belongs to a tenant: name the tenant first")]
    NamespaceWithoutTenant,
    /// A resource type is not `^[a-z][a-z0-9_-]{0,63}$`, or a resource id is empty, longer than
    /// 256 bytes or has a byte outside printable ASCII.
    #[error(
        "resource is invalid: a type of a lowercase letter then up to 63 of `a-z`, `0-9`, `_`, `-`; an id of 1 to 256 printable ASCII characters"
    )]
    InvalidResource,
}

/// What a check is about inside its scope: a type of resource (`document`) and, optionally,
/// one of them (`42`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Resource {
    kind: Box<str>,
    id: Option<Box<str>>,
}

impl Resource {
    /// A resource type, and one resource of it when `id` is given.
    pub fn new(kind: &str, id: Option<&str>) -> Result<Self, ScopeError> {
        let kind_ok = !kind.is_empty()
            && kind.len() <= MAX_RESOURCE_TYPE_LEN
            && kind.as_bytes()[0].is_ascii_lowercase()
            && kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        let id_ok = id.is_none_or(|id| {
            !id.is_empty()
                && id.len() <= MAX_RESOURCE_ID_LEN
                && id.bytes().all(|b| b.is_ascii_graphic())
        });
        if !(kind_ok && id_ok) {
            return Err(ScopeError::InvalidResource);
        }
        Ok(Self {
            kind: kind.into(),
            id: id.map(Into::into),
        })
    }

    /// The resource type.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The resource's id, when the check is about one resource.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "{}:{id}", self.kind),
            None => f.write_str(&self.kind),
        }
    }
}

/// Where a check is asked: the whole application ([`Scope::global`]), a tenant, or a namespace
/// of a tenant (`engineering/platform/sre`). Cheap to clone.
///
/// ```
/// use portcullis::authz::Scope;
///
/// let at = Scope::tenant("acme")?.in_namespace("engineering/platform")?;
/// assert_eq!(at.tenant_id(), Some("acme"));
/// assert_eq!(at.namespace(), Some("engineering/platform"));
/// assert!(Scope::tenant("").is_err());
/// assert!(Scope::tenant("acme")?.in_namespace("Engineering").is_err());
/// # Ok::<(), portcullis::authz::ScopeError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Scope {
    // One allocation for a tenant's scope (made per request on a tenant's route), none for the
    // global one; a namespace is a second.
    tenant: Option<Arc<str>>,
    namespace: Option<Arc<str>>,
    resource: Option<Arc<Resource>>,
}

impl Scope {
    /// No tenant: the application as a whole.
    pub const fn global() -> Self {
        Self {
            tenant: None,
            namespace: None,
            resource: None,
        }
    }

    /// The global scope, borrowed (what the extractors and route layers ask in until a router
    /// names a tenant).
    pub(crate) fn global_ref() -> &'static Self {
        static GLOBAL: Scope = Scope::global();
        &GLOBAL
    }

    /// A tenant, by id.
    pub fn tenant(id: &str) -> Result<Self, ScopeError> {
        check_tenant(id)?;
        Ok(Self {
            tenant: Some(id.into()),
            namespace: None,
            resource: None,
        })
    }

    /// The same tenant, in a namespace path (`engineering/platform/sre`). A namespace needs a
    /// tenant: on the global scope this is [`ScopeError::NamespaceWithoutTenant`].
    pub fn in_namespace(mut self, path: &str) -> Result<Self, ScopeError> {
        check_namespace(path)?;
        if self.tenant.is_none() {
            return Err(ScopeError::NamespaceWithoutTenant);
        }
        self.namespace = Some(path.into());
        Ok(self)
    }

    /// The same scope, about a resource (see [`Resource`]); in any scope, the global one too.
    ///
    /// ```
    /// use portcullis::authz::Scope;
    ///
    /// let doc = Scope::tenant("acme")?.on("document", Some("42"))?;
    /// assert_eq!(doc.resource().map(|r| (r.kind(), r.id())), Some(("document", Some("42"))));
    /// assert!(Scope::global().on("Document", None).is_err());
    /// # Ok::<(), portcullis::authz::ScopeError>(())
    /// ```
    pub fn on(mut self, kind: &str, id: Option<&str>) -> Result<Self, ScopeError> {
        self.resource = Some(Arc::new(Resource::new(kind, id)?));
        Ok(self)
    }

    /// The resource, if the check is about one.
    pub fn resource(&self) -> Option<&Resource> {
        self.resource.as_deref()
    }

    /// The tenant and namespace, shared (a reference count each, no copy).
    pub(crate) fn place(&self) -> (Option<&Arc<str>>, Option<&Arc<str>>) {
        (self.tenant.as_ref(), self.namespace.as_ref())
    }

    /// The tenant id, if the check is about one.
    pub fn tenant_id(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// The namespace path, if the check is about one.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.tenant_id(), self.namespace()) {
            (None, _) => f.write_str("Scope::global")?,
            (Some(t), None) => write!(f, "Scope({t})")?,
            (Some(t), Some(n)) => write!(f, "Scope({t}/{n})")?,
        }
        match self.resource() {
            Some(resource) => write!(f, " on {resource:?}"),
            None => Ok(()),
        }
    }
}

fn check_tenant(id: &str) -> Result<(), ScopeError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_TENANT_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ScopeError::InvalidTenant)
    }
}

/// Checks a slug `^[a-z][a-z0-9-]{0,62}$` (a namespace segment; role slugs follow the same rule).
pub(crate) fn is_slug(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_SEGMENT_LEN
        && bytes[0].is_ascii_lowercase()
        && bytes[1..]
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_namespace(path: &str) -> Result<(), ScopeError> {
    // Bounded before splitting: a path longer than the deepest valid one is refused unread.
    if path.len() > MAX_NAMESPACE_DEPTH * (MAX_SEGMENT_LEN + 1) {
        return Err(ScopeError::InvalidNamespace);
    }
    let mut depth = 0;
    for segment in path.split('/') {
        depth += 1;
        if depth > MAX_NAMESPACE_DEPTH {
            return Err(ScopeError::NamespaceTooDeep);
        }
        if !is_slug(segment) {
            return Err(ScopeError::InvalidNamespace);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_and_namespaces_are_checked() {
        assert!(Scope::tenant("acme-01:eu_2.x").is_ok());
        for bad in ["", "a b", "ünï", &"t".repeat(129)] {
            assert_eq!(
                Scope::tenant(bad),
                Err(ScopeError::InvalidTenant),
                "{bad:?}"
            );
        }
        let acme = Scope::tenant("acme").unwrap_or_else(|e| panic!("{e}"));
        for good in [
            "a",
            "engineering/platform/sre",
            &"a".repeat(63),
            "a/b/c/d/e/f/g/h",
        ] {
            assert!(acme.clone().in_namespace(good).is_ok(), "{good:?}");
        }
        for bad in ["", "/a", "a/", "a//b", "A", "1a", "a_b", &"a".repeat(64)] {
            assert_eq!(
                acme.clone().in_namespace(bad),
                Err(ScopeError::InvalidNamespace),
                "{bad:?}"
            );
        }
        assert_eq!(
            acme.clone().in_namespace("a/b/c/d/e/f/g/h/i"),
            Err(ScopeError::NamespaceTooDeep)
        );
        assert_eq!(
            acme.in_namespace(&"a/".repeat(1000)),
            Err(ScopeError::InvalidNamespace)
        );
        assert_eq!(
            Scope::global().in_namespace("eng"),
            Err(ScopeError::NamespaceWithoutTenant)
        );
        assert_eq!(std::mem::size_of::<Scope>(), 40);
        assert!(Resource::new("document", Some("a/b:42@x")).is_ok());
        for (kind, id) in [
            ("", None),
            ("Doc", None),
            ("d", Some("")),
            ("d", Some("a b")),
        ] {
            assert_eq!(
                Resource::new(kind, id),
                Err(ScopeError::InvalidResource),
                "{kind:?} {id:?}"
            );
        }
        assert!(Resource::new("d", Some(&"x".repeat(257))).is_err());
    }
}
