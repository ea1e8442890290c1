//! Writing entity permissions, with the rules Sentinel left out: only the owner or a tenant
//! administrator shares, unshares, changes visibility or moves; a grantee belongs to the
//! resource's tenant; every input is bounded and checked before the store is asked.

use super::{Acl, AclStore};
use crate::authz::Scope;
use crate::context::UserContext;
use crate::store::StoreError;
use crate::store::acl::{
    Access, AccessFilter, AccessibleQuery, ExpectedOwner, Reach, Registered, ResourceKey,
    ResourceRecord, ShareRecord, Visibility,
};
use crate::store::roles::SubjectKind;

/// Most questions in one [`Acl::check`] (Sentinel's limit).
pub const MAX_CHECKS: usize = 100;
/// Most ids one [`Acl::accessible`] page returns.
pub const MAX_PAGE: usize = 10_000;
/// Longest subject, group or service name, in bytes.
const MAX_NAME_BYTES: usize = 256;

/// Why an entity permission call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AclError {
    /// An input is malformed or too large (named); nothing was asked of the store.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// The resource (or the folder named) is not registered.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// Only the resource's owner or an administrator of its tenant may do this.
    #[error("only the owner or a tenant administrator may do this")]
    Forbidden,
    /// The grantee is not a member of the resource's tenant.
    #[error("the grantee is not a member of the resource's tenant")]
    NotAMember,
    /// The write conflicts with what is stored: another owner, a folder cycle, a folder chain
    /// too deep, a folder of another tenant, a folder that is not empty, a resource shared with
    /// as many grantees as it may hold, or a resource registered
    /// again to someone else between the check of the caller's right and the write (named by
    /// the store's constant; nothing changed).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The store could not be asked: nothing changed (fail closed).
    #[error("store unavailable")]
    Unavailable,
}

impl From<StoreError> for AclError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(what) => Self::Conflict(what),
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Unavailable(source) => {
                tracing::warn!(error = %source, "entity permission store unavailable");
                Self::Unavailable
            }
        }
    }
}

/// A resource to register: its key, tenant and owner; `tenant` visibility and no folder unless
/// said.
#[derive(Clone, Debug)]
pub struct NewResource {
    key: ResourceKey,
    tenant: String,
    owner: String,
    visibility: Visibility,
    parent: Option<ResourceKey>,
}

impl NewResource {
    /// `key` in `tenant`, owned by `owner`.
    pub fn new(key: ResourceKey, tenant: &str, owner: &str) -> Self {
        Self {
            key,
            tenant: tenant.to_owned(),
            owner: owner.to_owned(),
            visibility: Visibility::Tenant,
            parent: None,
        }
    }

    /// Who else may see it.
    pub fn visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// The folder it is in (a resource of the same tenant).
    pub fn inside(mut self, parent: ResourceKey) -> Self {
        self.parent = Some(parent);
        self
    }
}

fn check_name(name: &str, what: &'static str) -> Result<(), AclError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(()).ok_or(AclError::Invalid(what))
}

/// A key's parts: a service and a type of a lowercase letter then `a-z`, `0-9`, `_`, `-`; an id
/// of printable ASCII (the scope's resource rules).
pub(crate) fn check_key(key: &ResourceKey) -> Result<(), AclError> {
    Scope::global()
        .on(&key.service, None)
        .map_err(|_| AclError::Invalid("service"))?;
    Scope::global()
        .on(&key.kind, Some(&key.id))
        .map_err(|_| AclError::Invalid("resource"))?;
    Ok(())
}

fn check_tenant(tenant: &str) -> Result<(), AclError> {
    Scope::tenant(tenant)
        .map(|_| ())
        .map_err(|_| AclError::Invalid("tenant"))
}

/// Who holds access to a resource, and why (for sharing dialogs): see [`Acl::who_can`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// A user or a group.
    pub kind: SubjectKind,
    /// The user's or group's id.
    pub id: String,
    /// The highest level it holds.
    pub access: Access,
    /// Why: `allow_owner`, `allow_share`, `allow_group`, or `allow_parent` (shared on a folder
    /// above).
    pub reason: crate::error::Reason,
    /// The resource whose owner or share gives it: the resource itself or a folder above it,
    /// `None` for a folder above that the caller may not view (who reaches the caller's
    /// resource is the caller's business; what is in someone else's folder is not).
    pub via: Option<ResourceKey>,
}

/// [`Acl::who_can`]'s answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WhoCan {
    /// The owner, then every grantee, each once with its highest level (nearest share first
    /// among equals), users before groups, by id.
    pub holders: Vec<Holder>,
    /// The widest visibility of the resource and the folders above it: `public` means every
    /// authenticated user may view it, `tenant` every member of its tenant.
    pub visibility: Visibility,
}

/// The ids one [`Acl::accessible`] page found, and whether the caller may skip filtering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accessible {
    /// Ids in id order (empty with `full_access`).
    pub ids: Vec<String>,
    /// The caller administers the tenant: every resource of the type is accessible.
    pub full_access: bool,
}

impl<S: AclStore> Acl<S> {
    /// Registers a resource (the calling service's word, as Sentinel's `register_resource`):
    /// the same owner again is [`Registered::Existing`]; another owner or tenant is
    /// [`AclError::Conflict`], never silently ignored.
    pub async fn register(&self, new: NewResource) -> Result<Registered, AclError> {
        check_key(&new.key)?;
        check_tenant(&new.tenant)?;
        check_name(&new.owner, "owner")?;
        if let Some(parent) = &new.parent {
            check_key(parent)?;
        }
        let record = ResourceRecord {
            key: new.key,
            tenant: new.tenant,
            owner: new.owner,
            visibility: new.visibility,
            parent: new.parent,
            created_at: self.clock.now(),
        };
        let service = record.key.service.clone();
        let registered = self.store.register(&record).await?;
        self.changed_in(&service).await;
        Ok(registered)
    }

    /// Deregisters a resource and its shares (the calling service's word); a folder must be
    /// emptied first.
    pub async fn deregister(&self, key: &ResourceKey) -> Result<(), AclError> {
        check_key(key)?;
        self.store.deregister(key).await?;
        self.changed_in(&key.service).await;
        Ok(())
    }

    /// The resource, when `ctx` owns it or administers its tenant: what may manage it. The
    /// write that follows hands the store this record's [`ExpectedOwner`], so a resource
    /// registered again to someone else in between is refused, not changed.
    ///
    /// A caller who may not even view the resource is told it is not found, exactly as for an
    /// id never registered (and a credential of another tenant too): the management calls are
    /// no oracle for which ids exist. Only a caller who may view it learns it is
    /// [`AclError::Forbidden`].
    async fn managed_by(
        &self,
        ctx: &UserContext,
        key: &ResourceKey,
    ) -> Result<ResourceRecord, AclError> {
        check_key(key)?;
        let hidden = AclError::NotFound(crate::store::acl::NO_RESOURCE);
        let record = self.store.resource(key).await?.ok_or(hidden.clone())?;
        if ctx.tenant().is_some_and(|own| own != record.tenant) {
            return Err(hidden);
        }
        if record.owner == ctx.subject() || self.is_admin(ctx, &record.tenant).await? {
            return Ok(record);
        }
        Err(if self.sees(ctx, key).await {
            AclError::Forbidden
        } else {
            hidden
        })
    }

    /// Whether `ctx` may view `key`, asked quietly (not a decision of the caller's: no
    /// observer is told). Fails closed.
    async fn sees(&self, ctx: &UserContext, key: &ResourceKey) -> bool {
        let Ok(at) = Scope::global().on(&key.kind, Some(&key.id)) else {
            return false;
        };
        self.decide_access(ctx, key, Access::View, &at, false)
            .await
            .is_allowed()
    }

    /// Shares `key` with a user or group of its tenant; sharing again replaces the level.
    /// Owner or tenant administrator only.
    pub async fn share(
        &self,
        ctx: &UserContext,
        key: &ResourceKey,
        grantee_kind: SubjectKind,
        grantee: &str,
        access: Access,
    ) -> Result<(), AclError> {
        check_name(grantee, "grantee")?;
        let record = self.managed_by(ctx, key).await?;
        let member = match grantee_kind {
            SubjectKind::User => {
                let groups = self.store.groups_of(&record.tenant, grantee).await?;
                self.is_member(None, &record.tenant, grantee, &groups)
                    .await?
            }
            SubjectKind::Group => !self
                .store
                .members(&record.tenant, grantee)
                .await?
                .is_empty(),
        };
        if !member {
            return Err(AclError::NotAMember);
        }
        let share = ShareRecord {
            key: key.clone(),
            grantee_kind,
            grantee: grantee.to_owned(),
            access,
            granted_by: ctx.subject().to_owned(),
            granted_at: self.clock.now(),
        };
        self.store.share(&share, ExpectedOwner::of(&record)).await?;
        self.changed_in(&key.service).await;
        Ok(())
    }

    /// Takes a share back; `false` if there was none. Owner or tenant administrator only.
    pub async fn unshare(
        &self,
        ctx: &UserContext,
        key: &ResourceKey,
        grantee_kind: SubjectKind,
        grantee: &str,
    ) -> Result<bool, AclError> {
        check_name(grantee, "grantee")?;
        let record = self.managed_by(ctx, key).await?;
        let removed = self
            .store
            .unshare(key, ExpectedOwner::of(&record), grantee_kind, grantee)
            .await?;
        self.changed_in(&key.service).await;
        Ok(removed)
    }

    /// Changes who else may see `key`. Owner or tenant administrator only.
    pub async fn set_visibility(
        &self,
        ctx: &UserContext,
        key: &ResourceKey,
        visibility: Visibility,
    ) -> Result<ResourceRecord, AclError> {
        let record = self.managed_by(ctx, key).await?;
        let record = self
            .store
            .set_visibility(key, ExpectedOwner::of(&record), visibility)
            .await?;
        self.changed_in(&key.service).await;
        Ok(record)
    }

    /// Moves `key` into `folder` (or to the top). Owner or tenant administrator of the resource,
    /// and able to edit the folder: nobody files their document into someone else's folder, or
    /// someone else's document anywhere.
    pub async fn move_to(
        &self,
        ctx: &UserContext,
        key: &ResourceKey,
        folder: Option<&ResourceKey>,
    ) -> Result<ResourceRecord, AclError> {
        let record = self.managed_by(ctx, key).await?;
        let into = match folder {
            Some(folder) => {
                check_key(folder)?;
                let hidden = AclError::NotFound(crate::store::acl::NO_FOLDER);
                // Read before the right is judged: the store then holds the move to this very
                // folder (its tenant and owner), not to whatever takes its id meanwhile.
                let target = self.store.resource(folder).await?.ok_or(hidden.clone())?;
                let may_edit = self.can(ctx, folder, Access::Edit).await?;
                if !may_edit.is_allowed() {
                    // A folder the caller cannot see is one that does not exist, to it.
                    return Err(if self.sees(ctx, folder).await {
                        AclError::Forbidden
                    } else {
                        hidden
                    });
                }
                Some(target)
            }
            None => None,
        };
        let record = self
            .store
            .move_to(
                key,
                ExpectedOwner::of(&record),
                folder.zip(into.as_ref().map(ExpectedOwner::of)),
            )
            .await?;
        self.changed_in(&key.service).await;
        Ok(record)
    }

    /// What `ctx` reaches of one type in `tenant` with `wanted`: nothing (a credential of
    /// another tenant), everything (a tenant administrator), or what the store must work out.
    async fn reach(
        &self,
        ctx: &UserContext,
        service: &str,
        kind: &str,
        wanted: Access,
        tenant: &str,
    ) -> Result<AccessFilter, AclError> {
        check_key(&ResourceKey::new(service, kind, "x"))?;
        check_tenant(tenant)?;
        let subject = ctx.subject();
        let groups = self.store.groups_of(tenant, subject).await?;
        let member = self.is_member(Some(ctx), tenant, subject, &groups).await?;
        let editor = self.is_editor(ctx, member, tenant).await?;
        let filter = AccessFilter::reachable(&AccessibleQuery {
            tenant,
            service,
            kind,
            subject,
            groups: &groups,
            member,
            editor,
            access: wanted,
            after: None,
            limit: 0,
        })
        .in_schema(self.store.tables_schema());
        Ok(if ctx.tenant().is_some_and(|own| own != tenant) {
            filter.reaching(Reach::Nothing)
        } else if self.is_admin(ctx, tenant).await? {
            filter.reaching(Reach::Everything)
        } else {
            filter
        })
    }

    /// The resources of one type in `tenant` that `ctx` reaches with `wanted`, a page of at most
    /// `limit` ids after `after` (the previous page's last id). A tenant administrator gets
    /// `full_access` and no ids: every resource is accessible, so the caller skips filtering.
    #[allow(clippy::too_many_arguments)] // Sentinel's call, plus paging
    pub async fn accessible(
        &self,
        ctx: &UserContext,
        service: &str,
        kind: &str,
        wanted: Access,
        tenant: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Accessible, AclError> {
        if limit == 0 || limit > MAX_PAGE {
            return Err(AclError::Invalid("limit"));
        }
        if let Some(after) = after {
            check_key(&ResourceKey::new(service, kind, after))?;
        }
        let filter = self.reach(ctx, service, kind, wanted, tenant).await?;
        let ids = match filter.reach {
            Reach::Nothing | Reach::Everything => Vec::new(),
            Reach::Reachable => {
                let query = AccessibleQuery {
                    after,
                    limit,
                    ..filter.as_query()
                };
                self.store.accessible(&query).await?
            }
        };
        Ok(Accessible {
            ids,
            full_access: filter.reach == Reach::Everything,
        })
    }

    /// The same set as a condition for the application's own SQL: its list endpoints filter
    /// and page inside the database (`AccessFilter::push_sqlite` / `push_postgres`), joining
    /// their own tables. A tenant administrator's filter keeps every registered resource of the
    /// type; a credential of another tenant's keeps none.
    pub async fn filter(
        &self,
        ctx: &UserContext,
        service: &str,
        kind: &str,
        wanted: Access,
        tenant: &str,
    ) -> Result<AccessFilter, AclError> {
        self.reach(ctx, service, kind, wanted, tenant).await
    }

    /// Who may reach `key` and why: its owner, the users and groups it (or a folder above it) is
    /// shared with, each with its highest level, and how widely it is visible. Tenant
    /// administrators are not listed (they reach everything in their tenant; the role model's
    /// `who_can` lists them). Owner or tenant administrator only: the list is itself private.
    pub async fn who_can(&self, ctx: &UserContext, key: &ResourceKey) -> Result<WhoCan, AclError> {
        use crate::error::Reason;
        let record = self.managed_by(ctx, key).await?;
        let mut holders = vec![Holder {
            kind: SubjectKind::User,
            id: record.owner.clone(),
            access: Access::Edit,
            reason: Reason::AllowOwner,
            via: Some(record.key.clone()),
        }];
        let mut visibility = record.visibility;
        let mut level = Some(record);
        let mut depth = 0;
        while let Some(current) = level.take() {
            let via = if depth == 0 || self.sees(ctx, &current.key).await {
                Some(current.key.clone())
            } else {
                None
            };
            for share in self.store.shares(&current.key).await? {
                let reason = match (depth, share.grantee_kind) {
                    (0, SubjectKind::User) => Reason::AllowShare,
                    (0, SubjectKind::Group) => Reason::AllowGroup,
                    _ => Reason::AllowParent,
                };
                let known = holders
                    .iter_mut()
                    .find(|h| h.kind == share.grantee_kind && h.id == share.grantee);
                match known {
                    // A nearer share (or the owner) of at least this level stands.
                    Some(held) if held.access >= share.access => {}
                    Some(held) => {
                        held.access = share.access;
                        held.reason = reason;
                        held.via = via.clone();
                    }
                    None => holders.push(Holder {
                        kind: share.grantee_kind,
                        id: share.grantee,
                        access: share.access,
                        reason,
                        via: via.clone(),
                    }),
                }
            }
            visibility = widest(visibility, current.visibility);
            depth += 1;
            if depth > crate::store::acl::MAX_FOLDER_DEPTH {
                break;
            }
            if let Some(parent) = &current.parent {
                level = self.store.resource(parent).await?;
            }
        }
        holders[1..].sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
        Ok(WhoCan {
            holders,
            visibility,
        })
    }

    /// Every share of `key`, for a sharing dialog. Owner or tenant administrator only.
    pub async fn shares(
        &self,
        ctx: &UserContext,
        key: &ResourceKey,
    ) -> Result<Vec<ShareRecord>, AclError> {
        self.managed_by(ctx, key).await?;
        Ok(self.store.shares(key).await?)
    }
}

/// The wider of two visibilities.
fn widest(a: Visibility, b: Visibility) -> Visibility {
    let rank = |v| match v {
        Visibility::Private => 0,
        Visibility::Tenant => 1,
        Visibility::Public => 2,
    };
    if rank(b) > rank(a) { b } else { a }
}
