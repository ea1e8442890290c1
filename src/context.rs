//! `UserContext`: who the caller is and what they may do.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::rbac::{Action, Permission, PermissionSet};
use crate::render::Render;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// A bearer JWT in the `Authorization` header (or, when enabled, the query).
    Bearer,
    /// An API key.
    ApiKey,
    /// A browser session cookie.
    Session,
    /// An OAuth2 / OIDC login.
    OAuth2,
    /// The built-in identity (email and password).
    Identity,
    /// A strategy of your own.
    Custom(&'static str),
}

/// The authenticated caller, as the gateway puts it into the request.
///
/// Strategies build it from a credential; the gateway then fills in
/// [`permissions`](Self::permissions) from the roles (RBAC enrichment). Use it as an extractor
/// (`UserContext` answers 401 when absent, `Option<UserContext>` never rejects).
///
/// Its `Debug` output never contains a token, and shows the e-mail address and claim values only
/// as "redacted", so a context can be logged.
///
/// ```
/// use portcullis::{AuthMethod, UserContext};
///
/// let ctx = UserContext::new("user-1", AuthMethod::Bearer).with_roles(["viewer", "editor", "viewer"]);
/// assert_eq!(ctx.roles(), ["editor", "viewer"]); // sorted, duplicates removed
/// assert!(!format!("{ctx:?}").contains("eyJ"));
/// ```
#[derive(Clone)]
pub struct UserContext {
    // Shared so that extractors hand out clones for the cost of a reference count.
    data: Arc<ContextData>,
    // Apart from the rest: enrichment sets it on every request, and a context shared with a
    // cache (the bearer and API key strategies keep theirs) must not be copied whole for that.
    permissions: Permissions,
    // The renderer of the gateway that let the request in, so that the context is the one
    // request extension the gateway inserts (inserting costs an allocation and a hash-map
    // insert each); extractors answer their rejections with it.
    render: Option<Render>,
    // The decision seam of that gateway (`authz::Seam`), for the checks a context makes itself
    // (`require_*`, `authorize`, defined in `authz`). Type-erased because the seam asks about
    // contexts: naming it here would make the two modules import each other.
    seam: Option<&'static (dyn Any + Send + Sync)>,
}

/// A compiled permission set remembered with the id of the role policy that compiled it.
#[derive(Clone)]
struct Resolved {
    policy: u64,
    set: Arc<PermissionSet>,
}

/// The empty set every new context starts with, shared rather than allocated per context.
fn no_permissions() -> &'static Arc<PermissionSet> {
    static EMPTY: std::sync::OnceLock<Arc<PermissionSet>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| Arc::new(PermissionSet::empty()))
}

/// Where a context's compiled permissions are. Only `Own` holds a reference count: a context
/// that a credential cache hands out again, enriched from what its shared data remembers, is
/// cloned and dropped on every request without touching a count that every core shares.
#[derive(Clone)]
enum Permissions {
    /// None yet.
    Nothing,
    /// The set remembered in the shared data (`ContextData::resolved`).
    Remembered,
    /// A set given to this handle.
    Own(Arc<PermissionSet>),
}

#[derive(Clone, Serialize)]
struct ContextData {
    subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    roles: Vec<String>,
    method: AuthMethod,
    scopes: Vec<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    claims: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_at: Option<u64>,
    #[serde(skip)]
    issued_at_us: Option<u64>,
    #[serde(skip)]
    carried_permissions: Vec<Permission>,
    /// Roles held only for one resource (spanforge's actor manifests): resource → roles, sorted.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    resource_roles: BTreeMap<String, Vec<String>>,
    /// The first role policy's answer for these roles (and carried permissions), kept with the
    /// data it was computed from: a context that a cache hands out again (bearer, API key)
    /// resolves its permissions with a comparison and a reference count, not by hashing its
    /// role names on every request. Any change to the data starts it afresh.
    #[serde(skip)]
    resolved: std::sync::OnceLock<Resolved>,
    /// The last answer a decision engine compiled for this credential (see [`Memo`]).
    #[serde(skip)]
    memo: MemoSlot,
}

/// A decision engine's last compiled answer for one credential at one place (the tenant
/// engine's, at a tenant and namespace), kept in the data a credential cache shares between
/// requests: the next request of the credential finds it with one atomic load and three short
/// comparisons instead of hashing three strings into a shared map. Type-erased because engines
/// ask about contexts (naming them here would make the modules import each other); the engine
/// that stored it judges whether it is still fresh.
pub(crate) struct Memo {
    /// Which engine (a number no other engine of the process has): never an address, which a
    /// dropped engine's successor could reuse.
    pub(crate) engine: u64,
    pub(crate) tenant: Arc<str>,
    pub(crate) namespace: Option<Arc<str>>,
    pub(crate) answer: Arc<dyn Any + Send + Sync>,
}

/// Holds at most one [`Memo`]; a copy of the data starts empty (what it remembers was computed
/// from data that may now change).
#[derive(Default)]
struct MemoSlot(arc_swap::ArcSwapOption<Memo>);

impl Clone for MemoSlot {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl UserContext {
    /// A context for `subject`, with no roles and no permissions yet.
    pub fn new(subject: impl Into<String>, method: AuthMethod) -> Self {
        let data = ContextData {
            subject: subject.into(),
            tenant: None,
            email: None,
            roles: Vec::new(),
            method,
            scopes: Vec::new(),
            claims: Map::new(),
            token_id: None,
            expires_at: None,
            issued_at: None,
            issued_at_us: None,
            carried_permissions: Vec::new(),
            resource_roles: BTreeMap::new(),
            resolved: std::sync::OnceLock::new(),
            memo: MemoSlot::default(),
        };
        Self {
            data: Arc::new(data),
            permissions: Permissions::Nothing,
            render: None,
            seam: None,
        }
    }

    fn data_mut(&mut self) -> &mut ContextData {
        // The permissions stay what they were; what the data remembers starts afresh, since
        // whatever changes may change what the roles resolve to.
        if matches!(self.permissions, Permissions::Remembered) {
            self.permissions = Permissions::Own(self.permissions_arc().clone());
        }
        let data = Arc::make_mut(&mut self.data);
        data.resolved = std::sync::OnceLock::new();
        data.memo = MemoSlot::default();
        data
    }

    /// The engine's memo (see [`Memo`]), if one is kept: no lock, no reference count.
    pub(crate) fn memo(&self) -> arc_swap::Guard<Option<Arc<Memo>>> {
        self.data.memo.0.load()
    }

    /// Keeps `memo` for the next request of this credential (replacing any other).
    pub(crate) fn remember(&self, memo: Memo) {
        self.data.memo.0.store(Some(Arc::new(memo)));
    }

    /// Takes the permissions that `policy` (by its id) resolved these roles to before, if it
    /// did: no look-up and no reference count.
    pub(crate) fn use_resolved(&mut self, policy: u64) -> bool {
        let known = self.data.resolved.get().is_some_and(|r| r.policy == policy);
        if known {
            self.permissions = Permissions::Remembered;
        }
        known
    }

    /// Sets the permissions that `policy` resolved these roles to, and remembers them for every
    /// clone of this context that shares its data (only the first policy to ask is remembered).
    pub(crate) fn set_resolved(&mut self, policy: u64, set: Arc<PermissionSet>) {
        self.permissions = match self.data.resolved.set(Resolved {
            policy,
            set: set.clone(),
        }) {
            Ok(()) => Permissions::Remembered,
            Err(_) => Permissions::Own(set),
        };
    }

    /// The renderer of the gateway that admitted the request, if one did.
    pub(crate) fn render(&self) -> Option<Render> {
        self.render
    }

    /// Carries the gateway's renderer to the extractors.
    /// The seam of the gateway that admitted the request (see the field).
    pub(crate) fn seam_erased(&self) -> Option<&'static (dyn Any + Send + Sync)> {
        self.seam
    }

    /// Carries the gateway's decision seam to the checks.
    pub(crate) fn set_seam(&mut self, seam: &'static (dyn Any + Send + Sync)) {
        self.seam = Some(seam);
    }

    pub(crate) fn set_render(&mut self, render: Render) {
        self.render = Some(render);
    }

    /// Whether both are handles to one and the same context (not merely equal ones).
    #[cfg(test)]
    pub(crate) fn is_same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
            && Arc::ptr_eq(self.permissions_arc(), other.permissions_arc())
    }

    /// Sets the tenant (workspace).
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.data_mut().tenant = Some(tenant.into());
        self
    }

    /// Sets the e-mail address.
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.data_mut().email = Some(email.into());
        self
    }

    /// Sets the roles; they are kept sorted and free of duplicates.
    pub fn with_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.data_mut().roles = roles.into_iter().map(Into::into).collect();
        let data = self.data_mut();
        data.roles.sort_unstable();
        data.roles.dedup();
        self
    }

    /// Sets the OAuth scopes; they are kept sorted and free of duplicates.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.data_mut().scopes = scopes.into_iter().map(Into::into).collect();
        let data = self.data_mut();
        data.scopes.sort_unstable();
        data.scopes.dedup();
        self
    }

    /// Keeps a claim from the credential.
    pub fn with_claim(mut self, name: impl Into<String>, value: Value) -> Self {
        self.data_mut().claims.insert(name.into(), value);
        self
    }

    /// Sets the credential's id (a JWT `jti`).
    pub fn with_token_id(mut self, id: impl Into<String>) -> Self {
        self.data_mut().token_id = Some(id.into());
        self
    }

    /// Sets when the credential expires, in seconds since the Unix epoch.
    pub fn with_expiry(mut self, expires_at: u64) -> Self {
        self.data_mut().expires_at = Some(expires_at);
        self
    }

    /// Sets when the credential was issued, in seconds since the Unix epoch.
    pub fn with_issued_at(mut self, issued_at: u64) -> Self {
        self.data_mut().issued_at = Some(issued_at);
        self
    }

    /// Sets when the credential was issued, in microseconds (finer than `iat`, for ordering
    /// against a revocation cutoff made in the same second).
    pub fn with_issued_at_us(mut self, issued_at_us: u64) -> Self {
        self.data_mut().issued_at_us = Some(issued_at_us);
        self
    }

    /// Permissions the credential itself carries. The gateway adds them to the role permissions
    /// only when configured to trust them.
    pub fn with_carried_permissions(mut self, permissions: Vec<Permission>) -> Self {
        self.data_mut().carried_permissions = permissions;
        self
    }

    /// Roles the caller holds only for one resource (spanforge's `resource_roles`: `claims` →
    /// `[claims_writer]`); a check about that resource ([`Scope::on`](crate::authz::Scope::on))
    /// counts them beside the global roles when it requires roles
    /// ([`Requirement::Roles`](crate::Requirement::Roles)). Kept sorted and free of duplicates.
    pub fn with_resource_roles<I, S>(mut self, resource: impl Into<String>, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut roles: Vec<String> = roles.into_iter().map(Into::into).collect();
        roles.sort_unstable();
        roles.dedup();
        self.data_mut()
            .resource_roles
            .insert(resource.into(), roles);
        self
    }

    /// The roles held for `resource` alone, sorted (see
    /// [`with_resource_roles`](Self::with_resource_roles)).
    pub fn resource_roles(&self, resource: &str) -> &[String] {
        self.data
            .resource_roles
            .get(resource)
            .map_or(&[], Vec::as_slice)
    }

    /// Every resource the caller holds roles for, with those roles.
    pub fn all_resource_roles(&self) -> &BTreeMap<String, Vec<String>> {
        &self.data.resource_roles
    }

    /// Sets the compiled permissions (what enrichment does).
    pub fn with_permissions(mut self, permissions: Arc<PermissionSet>) -> Self {
        self.permissions = Permissions::Own(permissions);
        self
    }

    /// Sets the compiled permissions in place: what an [`Enricher`](crate::Enricher) of
    /// your own does with the context it is handed (see [`enricher_fn`](crate::enricher_fn)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use portcullis::{AuthMethod, UserContext};
    /// use portcullis::rbac::{Permission, PermissionSet};
    ///
    /// let read = Permission::parse("read:Catalog")?;
    /// let mut ctx = UserContext::new("svc-indexer", AuthMethod::ApiKey);
    /// ctx.set_permissions(Arc::new(PermissionSet::compile([read.clone()], [])));
    /// assert!(ctx.has_permission(&read));
    /// # Ok::<(), portcullis::rbac::GrammarError>(())
    /// ```
    pub fn set_permissions(&mut self, permissions: Arc<PermissionSet>) {
        self.permissions = Permissions::Own(permissions);
    }

    /// The subject (user or service) id.
    pub fn subject(&self) -> &str {
        &self.data.subject
    }

    /// The tenant (workspace) id, if the credential names one.
    pub fn tenant(&self) -> Option<&str> {
        self.data.tenant.as_deref()
    }

    /// The e-mail address, if known.
    pub fn email(&self) -> Option<&str> {
        self.data.email.as_deref()
    }

    /// The roles, sorted.
    pub fn roles(&self) -> &[String] {
        &self.data.roles
    }

    /// Whether the caller has the role.
    pub fn has_role(&self, role: &str) -> bool {
        self.data
            .roles
            .binary_search_by(|r| r.as_str().cmp(role))
            .is_ok()
    }

    /// The compiled permissions.
    #[inline]
    pub fn permissions(&self) -> &PermissionSet {
        self.permissions_arc()
    }

    /// The compiled permissions, shared.
    #[inline]
    pub fn permissions_arc(&self) -> &Arc<PermissionSet> {
        match &self.permissions {
            Permissions::Own(set) => set,
            Permissions::Remembered => match self.data.resolved.get() {
                Some(resolved) => &resolved.set,
                None => no_permissions(),
            },
            Permissions::Nothing => no_permissions(),
        }
    }

    /// How the caller authenticated.
    pub fn method(&self) -> AuthMethod {
        self.data.method
    }

    /// The OAuth scopes, sorted.
    pub fn scopes(&self) -> &[String] {
        &self.data.scopes
    }

    /// Whether the credential carries the scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.data
            .scopes
            .binary_search_by(|s| s.as_str().cmp(scope))
            .is_ok()
    }

    /// The claims kept from the credential.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.data.claims
    }

    /// The credential's id (`jti`), if any.
    pub fn token_id(&self) -> Option<&str> {
        self.data.token_id.as_deref()
    }

    /// When the credential expires, if it does.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.data
            .expires_at
            // A credential may name a time past what SystemTime holds: then no time is known.
            .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
    }

    /// When the credential was issued, in seconds since the Unix epoch, if known.
    pub fn issued_at(&self) -> Option<u64> {
        self.data.issued_at
    }

    /// When the credential was issued, in microseconds: the precise time when the credential says
    /// it, else the start of its `iat` second (the earliest it can have been issued).
    pub fn issued_at_us(&self) -> Option<u64> {
        self.data
            .issued_at_us
            .or_else(|| self.data.issued_at.map(|s| s.saturating_mul(1_000_000)))
    }

    /// Permissions the credential carried (see [`with_carried_permissions`](Self::with_carried_permissions)).
    pub fn carried_permissions(&self) -> &[Permission] {
        &self.data.carried_permissions
    }

    /// Whether the context's permission set covers the permission: a look at the set, for
    /// showing or hiding parts of a page, not an access decision (no reason code, no observer).
    /// Access checks go through the seam: the extractors, the route layers,
    /// [`require_permission`](Self::require_permission) and [`authorize`](Self::authorize).
    #[inline]
    pub fn has_permission(&self, permission: &Permission) -> bool {
        self.permissions().allows(permission)
    }

    /// Whether the context's permission set grants the action: a look at the set, not an
    /// access decision (see [`has_permission`](Self::has_permission)).
    #[inline]
    pub fn can(&self, action: &Action) -> bool {
        self.permissions().allows_action(action)
    }
}

impl Serialize for UserContext {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            #[serde(flatten)]
            data: &'a ContextData,
            permissions: &'a PermissionSet,
        }
        View {
            data: &self.data,
            permissions: self.permissions(),
        }
        .serialize(serializer)
    }
}

impl fmt::Debug for UserContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let claim_names: Vec<&str> = self.data.claims.keys().map(String::as_str).collect();
        f.debug_struct("UserContext")
            .field("subject", &self.data.subject)
            .field("tenant", &self.data.tenant)
            .field("email", &self.data.email.as_ref().map(|_| "redacted"))
            .field("roles", &self.data.roles)
            .field("permissions", self.permissions())
            .field("method", &self.data.method)
            .field("scopes", &self.data.scopes)
            .field("claims", &claim_names)
            .field("token_id", &self.data.token_id)
            .field("expires_at", &self.data.expires_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_email_and_claim_values() {
        let ctx = UserContext::new("u1", AuthMethod::Bearer)
            .with_email("alice@example.com")
            .with_claim("secret_thing", Value::String("hunter2".into()));
        let text = format!("{ctx:?}");
        assert!(!text.contains("alice@example.com"));
        assert!(!text.contains("hunter2"));
        assert!(text.contains("secret_thing"));
    }

    #[test]
    fn roles_and_scopes_sorted_for_binary_search() {
        let ctx = UserContext::new("u1", AuthMethod::Bearer)
            .with_roles(["viewer", "admin"])
            .with_scopes(["write", "read", "read"]);
        assert!(ctx.has_role("admin") && ctx.has_role("viewer") && !ctx.has_role("editor"));
        assert_eq!(ctx.scopes(), ["read", "write"]);
        assert!(ctx.has_scope("write") && !ctx.has_scope("delete"));
    }
}
