//! Writing entity permissions, with the rules Sentinel left out: only the owner or a tenant
//! administrator shares, unshares, changes visibility or moves; a grantee belongs to the
//! resource's tenant; every input is bounded and checked before the store is asked.

use super::{Acl, AclStore};
use crate::authz::Scope;
use crate::context::UserContext;
use crate::store::StoreError;
use crate::store::acl::{
    Access, AccessibleQuery, Registered, ResourceKey, ResourceRecord, ShareRecord, Visibility,
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
    /// too deep, a folder of another tenant, a folder that is not empty (named by the store's
    /// constant).
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
        Ok(self.store.register(&record).await?)
    }

    /// Deregisters a resource and its shares (the calling service's word); a folder must be
    /// emptied first.
    pub async fn deregister(&self, key: &ResourceKey) -> Result<(), AclError> {
        check_key(key)?;
        Ok(self.store.deregister(key).await?)
    }

    /// The resource, when `ctx` owns it or administers its tenant: what may manage it.
    async fn managed_by(
        &self,
        ctx: &UserContext,
        key: &ResourceKey,
    ) -> Result<ResourceRecord, AclError> {
        check_key(key)?;
        let record = self
            .store
            .resource(key)
            .await?
            .ok_or(AclError::NotFound(crate::store::acl::NO_RESOURCE))?;
        if ctx.tenant().is_some_and(|own| own != record.tenant) {
            return Err(AclError::Forbidden);
        }
        if record.owner == ctx.subject() || self.is_admin(ctx, &record.tenant).await {
            Ok(record)
        } else {
            Err(AclError::Forbidden)
        }
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
        Ok(self.store.share(&share).await?)
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
        self.managed_by(ctx, key).await?;
        Ok(self.store.unshare(key, grantee_kind, grantee).await?)
    }

    /// Changes who else may see `key`. Owner or tenant administrator only.
    pub async fn set_visibility(
        &self,
        ctx: &UserContext,
        key: &ResourceKey,
        visibility: Visibility,
    ) -> Result<ResourceRecord, AclError> {
        self.managed_by(ctx, key).await?;
        Ok(self.store.set_visibility(key, visibility).await?)
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
        self.managed_by(ctx, key).await?;
        if let Some(folder) = folder {
            check_key(folder)?;
            let may_edit = self.can(ctx, folder, Access::Edit).await?;
            if !may_edit.is_allowed() {
                return Err(AclError::Forbidden);
            }
        }
        Ok(self.store.move_to(key, folder).await?)
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
        check_key(&ResourceKey::new(service, kind, after.unwrap_or("x")))?;
        check_tenant(tenant)?;
        if limit == 0 || limit > MAX_PAGE {
            return Err(AclError::Invalid("limit"));
        }
        if ctx.tenant().is_some_and(|own| own != tenant) {
            return Ok(Accessible {
                ids: Vec::new(),
                full_access: false,
            });
        }
        if self.is_admin(ctx, tenant).await {
            return Ok(Accessible {
                ids: Vec::new(),
                full_access: true,
            });
        }
        let subject = ctx.subject();
        let groups = self.store.groups_of(tenant, subject).await?;
        let member = self.is_member(Some(ctx), tenant, subject, &groups).await?;
        let editor = member
            && match &self.editor {
                Some(required) => self.allowed_in(ctx, required, tenant).await,
                None => false,
            };
        let query = AccessibleQuery {
            tenant,
            service,
            kind,
            subject,
            groups: &groups,
            member,
            editor,
            access: wanted,
            after,
            limit,
        };
        Ok(Accessible {
            ids: self.store.accessible(&query).await?,
            full_access: false,
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
