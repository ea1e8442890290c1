//! The entity permission store's contract (Sentinel's `PermissionClient` model, seed 001):
//! resources of a tenant with an owner, a visibility and an optional parent folder, and shares
//! to users and groups. Group memberships are the tenant's groups
//! ([`AssignmentStore`](super::AssignmentStore)): one notion of a group for roles and shares.
//!
//! The store keeps the records and answers in one round trip what an evaluation needs (a
//! resource with its folders and the shares that name the subject); the rules (who may share,
//! what a visibility gives, the order of evaluation) are the engine's.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::StoreResult;
// The level of access is part of a check's requirement (`error`), which stores must not be
// imported by: it lives there and is shown here too.
use super::roles::SubjectKind;
pub use crate::error::Access;

/// How deep folders nest: a resource under more than this many folders is refused when
/// written, so an evaluation's walk up the folders is bounded.
pub const MAX_FOLDER_DEPTH: usize = 32;

/// Most shares one resource holds (users and groups together). A sharing dialog lists them
/// all and `who_can` walks them on every folder above, so they are bounded as any input is:
/// share with a group instead. Google Drive's limit is of the same order (600).
pub const MAX_SHARES: usize = 1_000;

/// [`StoreError::Conflict`](super::StoreError::Conflict): the resource is registered to another
/// owner or tenant.
pub const RESOURCE_TAKEN: &str = "resource owned by another";
/// [`StoreError::Conflict`](super::StoreError::Conflict): the new parent is the resource itself or
/// one of its descendants.
pub const FOLDER_CYCLE: &str = "folder cycle";
/// [`StoreError::Conflict`](super::StoreError::Conflict): the resource (or one below it) would
/// sit under more than [`MAX_FOLDER_DEPTH`] folders.
pub const FOLDER_TOO_DEEP: &str = "folder depth";
/// [`StoreError::Conflict`](super::StoreError::Conflict): the parent belongs to another tenant.
pub const FOLDER_OTHER_TENANT: &str = "folder of another tenant";
/// [`StoreError::Conflict`](super::StoreError::Conflict): the resource still has resources
/// inside it (deregister those first: nothing is orphaned or deleted behind the caller's back).
pub const RESOURCE_HAS_CHILDREN: &str = "resource has children";
/// [`StoreError::Conflict`](super::StoreError::Conflict): the resource (or the folder named) is no
/// longer the one the write was authorized against ([`ExpectedOwner`]): it was deregistered and
/// registered again to another owner or tenant in between. Nothing changed; ask again.
pub const RESOURCE_CHANGED: &str = "resource changed since it was checked";
/// [`StoreError::Conflict`](super::StoreError::Conflict): the resource holds [`MAX_SHARES`]
/// shares already (changing the level of one of them is still allowed).
pub const TOO_MANY_SHARES: &str = "too many shares";
/// [`StoreError::NotFound`](super::StoreError::NotFound): no such resource.
pub const NO_RESOURCE: &str = "resource";
/// [`StoreError::NotFound`](super::StoreError::NotFound): the parent named is not registered.
pub const NO_FOLDER: &str = "parent resource";

/// Who may see a resource besides its owner, its tenant's administrators and those it is
/// shared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Nobody else.
    Private,
    /// Every member of the resource's tenant may view it (Sentinel's `workspace`).
    #[serde(alias = "workspace")]
    Tenant,
    /// Every authenticated user may view it.
    Public,
}

impl Visibility {
    /// The stored text: `private`, `tenant`, `public`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Tenant => "tenant",
            Self::Public => "public",
        }
    }

    /// The visibility a text names (`workspace` is Sentinel's word for `tenant`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "private" => Some(Self::Private),
            "tenant" | "workspace" => Some(Self::Tenant),
            "public" => Some(Self::Public),
            _ => None,
        }
    }
}

/// A resource's identity: the service that owns its type, the type, and its id in that type.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceKey {
    /// The service (`docs`).
    pub service: String,
    /// The resource type (`document`).
    pub kind: String,
    /// The resource's id (`42`).
    pub id: String,
}

impl ResourceKey {
    /// The key of `id` of type `kind` in `service`.
    pub fn new(service: &str, kind: &str, id: &str) -> Self {
        Self {
            service: service.to_owned(),
            kind: kind.to_owned(),
            id: id.to_owned(),
        }
    }
}

/// A registered resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceRecord {
    /// Which resource.
    pub key: ResourceKey,
    /// The tenant it belongs to.
    pub tenant: String,
    /// Its owner (a user id).
    pub owner: String,
    /// Who else may see it.
    pub visibility: Visibility,
    /// The folder it is in (a resource of the same tenant), if any.
    pub parent: Option<ResourceKey>,
    /// When it was registered (seconds).
    pub created_at: i64,
}

/// A share: `grantee` (a user or a group of the resource's tenant) may `access` the resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShareRecord {
    /// Which resource.
    pub key: ResourceKey,
    /// A user or a group.
    pub grantee_kind: SubjectKind,
    /// The user's or group's id.
    pub grantee: String,
    /// What the share gives.
    pub access: Access,
    /// Who shared it.
    pub granted_by: String,
    /// When it was shared, or its level last changed (seconds).
    pub granted_at: i64,
}

/// The resource as a write's caller was authorized against it: its tenant and owner when the
/// rule (the owner, or an administrator of the tenant) was applied.
///
/// The rule is checked before the store is asked, so between the check and the write the
/// resource could be deregistered and registered again to someone else; a write that did not
/// look again would then change a stranger's resource on an authority that no longer holds. The
/// stores compare the record with this under the write's own lock and refuse with
/// [`RESOURCE_CHANGED`] when it differs: the owner is the rule's subject, the tenant the
/// administrator's, so together they are what the authority was granted on.
///
/// ```
/// use portcullis::store::acl::{ExpectedOwner, ResourceKey, ResourceRecord, Visibility};
///
/// let record = ResourceRecord {
///     key: ResourceKey::new("docs", "document", "42"),
///     tenant: "acme".into(),
///     owner: "ada".into(),
///     visibility: Visibility::Private,
///     parent: None,
///     created_at: 0,
/// };
/// assert_eq!(ExpectedOwner::of(&record), ExpectedOwner::new("acme", "ada"));
/// assert!(ExpectedOwner::new("acme", "ada").matches(&record));
/// assert!(!ExpectedOwner::new("acme", "bob").matches(&record));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpectedOwner<'a> {
    /// The tenant the resource belonged to.
    pub tenant: &'a str,
    /// Its owner.
    pub owner: &'a str,
}

impl<'a> ExpectedOwner<'a> {
    /// A resource of `tenant` owned by `owner`.
    pub const fn new(tenant: &'a str, owner: &'a str) -> Self {
        Self { tenant, owner }
    }

    /// What `record` holds.
    pub fn of(record: &'a ResourceRecord) -> Self {
        Self::new(&record.tenant, &record.owner)
    }

    /// Whether `record` still belongs to this tenant and owner.
    pub fn matches(&self, record: &ResourceRecord) -> bool {
        record.tenant == self.tenant && record.owner == self.owner
    }
}

/// What [`EntityStore::register`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Registered {
    /// The resource is new.
    Created,
    /// The same owner registered it in the same tenant before: nothing changed.
    Existing(Box<ResourceRecord>),
}

/// One level of a resource's lineage: the resource or one of its folders, with the shares on it
/// that name the subject or one of its groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lineage {
    /// The resource (first) or a folder above it.
    pub record: ResourceRecord,
    /// Its shares to the subject or the subject's groups.
    pub shares: Vec<ShareRecord>,
}

/// What evaluating a subject's access to one registered resource needs from the store
/// ([`EntityStore::facts`]): the lineage with the shares naming the subject or one of its groups
/// of the resource's tenant, those groups, and whether the subject is a member there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessFacts {
    /// The resource (first) and each folder above it, nearest first; never empty.
    pub lineage: Vec<Lineage>,
    /// The subject's groups in the resource's tenant, sorted.
    pub groups: Vec<String>,
    /// Whether the subject is a member of the resource's tenant by what is stored: one of its
    /// groups, or a live assignment to the user (as of the time asked).
    pub member: bool,
    /// When that membership may end: the first expiry among the live assignments that make the
    /// subject a member (`None` when a group does, or none expires, or it is no member).
    pub member_until: Option<i64>,
}

/// What [`EntityStore::accessible`] is asked: the resources of one type in one tenant that a
/// subject may reach with at least `access`.
#[derive(Clone, Debug)]
pub struct AccessibleQuery<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The service and type of the resources (the key's `id` is ignored).
    pub service: &'a str,
    /// The resource type.
    pub kind: &'a str,
    /// The subject (a user id).
    pub subject: &'a str,
    /// The subject's groups in the tenant.
    pub groups: &'a [String],
    /// Whether the subject is a member of the tenant: `tenant` visibility gives it `view`, and
    /// shares to it count (a user who left the tenant keeps none).
    pub member: bool,
    /// Whether the subject is one of the tenant's editors (`tenant` visibility gives it `edit`
    /// too).
    pub editor: bool,
    /// The access wanted.
    pub access: Access,
    /// Ids strictly after this one (the previous page's last), in id order.
    pub after: Option<&'a str>,
    /// At most this many ids.
    pub limit: usize,
}

/// The resources of one type in one tenant that a caller reaches with a level of access, as a
/// condition for the application's own SQL (its list endpoints filter and page inside the
/// database): made by [`Acl::filter`](crate::acl::Acl::filter), written into a query with
/// `push_sqlite` or `push_postgres` (the `sqlite` and `postgres` features).
#[derive(Clone, Debug)]
pub struct AccessFilter {
    pub(crate) reach: Reach,
    pub(crate) tenant: String,
    pub(crate) service: String,
    pub(crate) kind: String,
    pub(crate) subject: String,
    pub(crate) groups: Vec<String>,
    pub(crate) member: bool,
    pub(crate) editor: bool,
    pub(crate) access: Access,
    /// The schema of the store's tables, when the store names one
    /// ([`EntityStore::tables_schema`]).
    pub(crate) schema: Option<String>,
}

/// How far an [`AccessFilter`] reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Nothing (a credential of another tenant).
    Nothing,
    /// Every registered resource of the type in the tenant (its administrators).
    Everything,
    /// What the subject reaches: owned, visible, shared, or inside a folder that is.
    Reachable,
}

impl AccessFilter {
    /// Whether the caller administers the tenant: the filter keeps every registered resource
    /// of the type (callers may skip filtering altogether).
    pub fn full_access(&self) -> bool {
        self.reach == Reach::Everything
    }

    /// The filter a query's subject gets.
    pub(crate) fn reachable(query: &AccessibleQuery<'_>) -> Self {
        Self {
            reach: Reach::Reachable,
            tenant: query.tenant.to_owned(),
            service: query.service.to_owned(),
            kind: query.kind.to_owned(),
            subject: query.subject.to_owned(),
            groups: query.groups.to_vec(),
            member: query.member,
            editor: query.editor,
            access: query.access,
            schema: None,
        }
    }

    /// This filter naming the store's tables in `schema`.
    pub(crate) fn in_schema(mut self, schema: Option<&str>) -> Self {
        self.schema = schema.map(str::to_owned);
        self
    }

    /// This filter reaching `reach` instead.
    pub(crate) fn reaching(mut self, reach: Reach) -> Self {
        self.reach = reach;
        self
    }

    /// The query this filter stands for (paging fields unused).
    pub(crate) fn as_query(&self) -> AccessibleQuery<'_> {
        AccessibleQuery {
            tenant: &self.tenant,
            service: &self.service,
            kind: &self.kind,
            subject: &self.subject,
            groups: &self.groups,
            member: self.member,
            editor: self.editor,
            access: self.access,
            after: None,
            limit: 0,
        }
    }
}

/// Resources, their folders and their shares.
///
/// Every write is atomic: its checks (owner, tenant, folder cycle and depth) and its change are
/// one transaction, so two writers never build a cycle or a too-deep chain between them, and a
/// refused write changes nothing. The writes a caller is authorized for (visibility, moves,
/// shares) take the [`ExpectedOwner`] they were authorized against and compare it in that
/// transaction ([`RESOURCE_CHANGED`]).
pub trait EntityStore: Send + Sync {
    /// Registers a resource. The same owner registering the same resource in the same tenant
    /// again is [`Registered::Existing`] and changes nothing; another owner or tenant is
    /// [`RESOURCE_TAKEN`]. A parent must be registered ([`NO_FOLDER`]) in the same tenant
    /// ([`FOLDER_OTHER_TENANT`]), at most [`MAX_FOLDER_DEPTH`] folders deep
    /// ([`FOLDER_TOO_DEEP`]).
    fn register(
        &self,
        record: &ResourceRecord,
    ) -> impl Future<Output = StoreResult<Registered>> + Send;

    /// The resource, if registered.
    fn resource(
        &self,
        key: &ResourceKey,
    ) -> impl Future<Output = StoreResult<Option<ResourceRecord>>> + Send;

    /// Deregisters a resource and its shares; [`NO_RESOURCE`]; [`RESOURCE_HAS_CHILDREN`] while
    /// resources are inside it.
    fn deregister(&self, key: &ResourceKey) -> impl Future<Output = StoreResult<()>> + Send;

    /// Changes the resource's visibility and returns it as stored; [`NO_RESOURCE`];
    /// [`RESOURCE_CHANGED`] unless it is still `expected`'s.
    fn set_visibility(
        &self,
        key: &ResourceKey,
        expected: ExpectedOwner<'_>,
        visibility: Visibility,
    ) -> impl Future<Output = StoreResult<ResourceRecord>> + Send;

    /// Moves the resource into `parent` (or to the top with `None`); [`NO_RESOURCE`],
    /// [`NO_FOLDER`], [`FOLDER_OTHER_TENANT`], [`FOLDER_CYCLE`], and [`FOLDER_TOO_DEEP`]
    /// when the resource or anything inside it would sit too deep; [`RESOURCE_CHANGED`] unless
    /// the resource is still `expected`'s and the folder still the one the caller was allowed
    /// to file into (its tenant and owner, as given with it).
    fn move_to(
        &self,
        key: &ResourceKey,
        expected: ExpectedOwner<'_>,
        parent: Option<(&ResourceKey, ExpectedOwner<'_>)>,
    ) -> impl Future<Output = StoreResult<ResourceRecord>> + Send;

    /// Shares the resource; sharing again with the same grantee replaces the level, the
    /// grantor and the time (never a duplicate). [`NO_RESOURCE`]; [`RESOURCE_CHANGED`] unless
    /// the resource is still `expected`'s; [`TOO_MANY_SHARES`] for a new grantee of a resource
    /// with [`MAX_SHARES`] already.
    fn share(
        &self,
        share: &ShareRecord,
        expected: ExpectedOwner<'_>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Removes the share to this grantee; `false` if there was none. [`NO_RESOURCE`];
    /// [`RESOURCE_CHANGED`] unless the resource is still `expected`'s.
    fn unshare(
        &self,
        key: &ResourceKey,
        expected: ExpectedOwner<'_>,
        grantee_kind: SubjectKind,
        grantee: &str,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Every share of the resource, users first then groups, each by grantee.
    fn shares(
        &self,
        key: &ResourceKey,
    ) -> impl Future<Output = StoreResult<Vec<ShareRecord>>> + Send;

    /// The resource and each folder above it, nearest first, each with its shares to `subject`
    /// or one of `groups`, in one round trip; empty when the resource is not registered.
    fn lineage(
        &self,
        key: &ResourceKey,
        subject: &str,
        groups: &[String],
    ) -> impl Future<Output = StoreResult<Vec<Lineage>>> + Send;

    /// For each key, in order, what evaluating `subject`'s access to it needs
    /// ([`AccessFacts`], membership judged at `now`), or `None` for a key not registered: in one
    /// round trip for any number of keys (a batch check asks once).
    fn facts(
        &self,
        keys: &[ResourceKey],
        subject: &str,
        now: i64,
    ) -> impl Future<Output = StoreResult<Vec<Option<AccessFacts>>>> + Send;

    /// The ids of the resources the query's subject reaches with at least its access, in id
    /// order, without the tenant administrator's shortcut (the engine's): owned, public (for
    /// `view`), tenant-visible to a member (for `view`), or shared to the subject (while a
    /// member) or one of its groups, directly or on a folder above.
    fn accessible(
        &self,
        query: &AccessibleQuery<'_>,
    ) -> impl Future<Output = StoreResult<Vec<String>>> + Send;

    /// The schema the store's tables live in, for SQL that names them from another connection
    /// (an [`AccessFilter`] in the application's own queries, whose connections may search
    /// other schemas); `None` where any connection to the database finds them.
    fn tables_schema(&self) -> Option<&str> {
        None
    }
}
