//! Which claim carries which part of a [`UserContext`](crate::UserContext).

/// Names of the claims that map to the context. The defaults are `roles`, `permissions`, `tid`,
/// `scope` and `email`; identity providers differ (Keycloak nests roles, Azure AD uses `tid` and
/// `roles`, Auth0 uses `permissions`), so each name can be changed.
///
/// ```
/// use portcullis::token::ClaimNames;
///
/// let names = ClaimNames::default().roles("groups").tenant("org_id");
/// assert_eq!(names.roles_claim(), "groups");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    pub(crate) roles: String,
    pub(crate) permissions: String,
    pub(crate) tenant: String,
    pub(crate) scope: String,
    pub(crate) email: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            roles: "roles".into(),
            permissions: "permissions".into(),
            tenant: "tid".into(),
            scope: "scope".into(),
            email: "email".into(),
        }
    }
}

impl ClaimNames {
    /// The claim holding the role list (an array of strings).
    pub fn roles(mut self, name: impl Into<String>) -> Self {
        self.roles = name.into();
        self
    }

    /// The claim holding permission grants (an array of `action:scope` strings).
    pub fn permissions(mut self, name: impl Into<String>) -> Self {
        self.permissions = name.into();
        self
    }

    /// The claim holding the tenant (workspace) id.
    pub fn tenant(mut self, name: impl Into<String>) -> Self {
        self.tenant = name.into();
        self
    }

    /// The claim holding OAuth scopes (a space-separated string or an array).
    pub fn scope(mut self, name: impl Into<String>) -> Self {
        self.scope = name.into();
        self
    }

    /// The claim holding the e-mail address.
    pub fn email(mut self, name: impl Into<String>) -> Self {
        self.email = name.into();
        self
    }

    /// The roles claim's name.
    pub fn roles_claim(&self) -> &str {
        &self.roles
    }

    /// The permissions claim's name.
    pub fn permissions_claim(&self) -> &str {
        &self.permissions
    }

    /// The tenant claim's name.
    pub fn tenant_claim(&self) -> &str {
        &self.tenant
    }

    /// The scope claim's name.
    pub fn scope_claim(&self) -> &str {
        &self.scope
    }

    /// The e-mail claim's name.
    pub fn email_claim(&self) -> &str {
        &self.email
    }
}
