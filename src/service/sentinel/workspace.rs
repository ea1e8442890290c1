//! Workspaces: tenants with four system roles, and who is a member with which of them.

use serde_json::{Map, Value};

use super::{
    ADMIN_WORKSPACE, EDIT_WORKSPACE, SentinelApi, SentinelError, SentinelStore, WORKSPACE_ROLES,
};
use crate::store::roles::{AssignmentFilter, RoleFilter, SubjectKind};
use crate::tenant::{NewAssignment, NewRole, TenantError};

/// The metadata key of the `viewer` role that keeps the workspace's slug: the model has no
/// workspace record of its own, and the viewer role exists exactly as long as the workspace.
const SLUG_KEY: &str = "workspace_slug";

/// Most members listed at once.
pub(super) const MAX_MEMBERS_LISTED: u32 = 1000;

/// A member of a workspace: a user holding one of its workspace roles.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Member {
    /// The user's id.
    pub user_id: String,
    /// The highest workspace role held (`owner`, `admin`, `editor`, `viewer`).
    pub role: &'static str,
    /// When the earliest assignment still held was made (seconds since the epoch).
    pub joined_at: i64,
}

/// A fresh workspace id: a random UUID (version 4).
pub fn new_workspace_id() -> Result<String, SentinelError> {
    crate::secret::random_uuid().map_err(|_| SentinelError::Unavailable)
}

/// A workspace id must be a UUID (the SDK parses it as one), in its lowercase hyphenated form.
pub(super) fn check_workspace_id(id: &str) -> Result<(), SentinelError> {
    let bytes = id.as_bytes();
    let ok = bytes.len() == 36
        && bytes.iter().enumerate().all(|(at, &b)| match at {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        });
    ok.then_some(()).ok_or(SentinelError::Invalid {
        field: "workspace_id",
        message: "a UUID in lowercase hyphenated form".into(),
    })
}

impl<S: SentinelStore> SentinelApi<S> {
    /// Creates the workspace `id` (a UUID) named `slug`: its four workspace roles. Creating it
    /// again changes nothing.
    pub async fn create_workspace(&self, id: &str, slug: &str) -> Result<(), SentinelError> {
        check_workspace_id(id)?;
        let slug_ok = !slug.is_empty()
            && slug.len() <= 64
            && slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !slug_ok {
            return Err(SentinelError::Invalid {
                field: "slug",
                message: "1 to 64 of `a-z`, `0-9`, `-`, `_`".into(),
            });
        }
        let tenancy = &self.inner.tenancy;
        let mut parent: Option<&str> = None;
        for role in WORKSPACE_ROLES {
            if tenancy.role_by_slug(id, "", role).await?.is_none() {
                let mut new = NewRole::new("", role).name(role).system();
                new.parent = parent.map(str::to_owned);
                match role {
                    "viewer" => {
                        let mut metadata = Map::new();
                        metadata.insert(SLUG_KEY.into(), Value::String(slug.to_owned()));
                        new.metadata = metadata;
                    }
                    "editor" => new.permissions = vec![EDIT_WORKSPACE.into()],
                    "admin" => new.permissions = vec![ADMIN_WORKSPACE.into()],
                    _ => {}
                }
                match tenancy.create_role(id, new).await {
                    Ok(_) | Err(TenantError::Duplicate(_)) => {}
                    Err(other) => return Err(other.into()),
                }
            }
            parent = Some(role);
        }
        Ok(())
    }

    /// The workspace's slug; [`SentinelError::NotFound`] for a workspace never created.
    pub async fn workspace_slug(&self, id: &str) -> Result<String, SentinelError> {
        check_workspace_id(id)?;
        let viewer = self
            .inner
            .tenancy
            .role_by_slug(id, "", "viewer")
            .await?
            .ok_or(SentinelError::NotFound("workspace"))?;
        Ok(viewer
            .metadata
            .get(SLUG_KEY)
            .and_then(Value::as_str)
            .unwrap_or(id)
            .to_owned())
    }

    /// Makes `user` a member of the workspace with `role` (one of [`WORKSPACE_ROLES`]),
    /// replacing the workspace role they held.
    pub async fn set_member(
        &self,
        workspace: &str,
        user: &str,
        role: &str,
    ) -> Result<(), SentinelError> {
        if !WORKSPACE_ROLES.contains(&role) {
            return Err(SentinelError::Invalid {
                field: "role",
                message: format!("one of {}", WORKSPACE_ROLES.join(", ")),
            });
        }
        let tenancy = &self.inner.tenancy;
        let wanted = tenancy
            .role_by_slug(workspace, "", role)
            .await?
            .ok_or(SentinelError::NotFound("workspace"))?;
        let assigned = tenancy
            .assign(
                workspace,
                NewAssignment::new(&wanted.id, SubjectKind::User, user).granted_by("portcullis"),
            )
            .await;
        match assigned {
            // Held already: nothing to add.
            Ok(_) | Err(TenantError::Duplicate(_)) => {}
            Err(other) => return Err(other.into()),
        }
        // The other workspace roles the user held go: one role per member.
        for held in self.workspace_assignments(workspace, Some(user)).await? {
            if held.1 != role {
                tenancy.unassign(workspace, &held.0.id).await?;
            }
        }
        Ok(())
    }

    /// Ends `user`'s membership: every workspace role they hold there goes.
    pub async fn remove_member(&self, workspace: &str, user: &str) -> Result<(), SentinelError> {
        for held in self.workspace_assignments(workspace, Some(user)).await? {
            self.inner.tenancy.unassign(workspace, &held.0.id).await?;
        }
        Ok(())
    }

    /// The members of the workspace, by user id.
    pub async fn members(&self, workspace: &str) -> Result<Vec<Member>, SentinelError> {
        let mut members: Vec<Member> = Vec::new();
        for (assignment, role) in self.workspace_assignments(workspace, None).await? {
            let rank = rank(role);
            match members.iter_mut().find(|m| m.user_id == assignment.subject) {
                Some(member) => {
                    if rank > self::rank(member.role) {
                        member.role = role;
                    }
                    member.joined_at = member.joined_at.min(assignment.created_at);
                }
                None => members.push(Member {
                    user_id: assignment.subject,
                    role,
                    joined_at: assignment.created_at,
                }),
            }
        }
        members.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        Ok(members)
    }

    /// The highest workspace role `user` holds now, if any.
    pub async fn member_role(
        &self,
        workspace: &str,
        user: &str,
    ) -> Result<Option<&'static str>, SentinelError> {
        Ok(self
            .workspace_assignments(workspace, Some(user))
            .await?
            .into_iter()
            .map(|(_, role)| role)
            .max_by_key(|role| rank(role)))
    }

    /// The live, whole-workspace assignments of workspace roles (to `user`, or to every user),
    /// each with its role's slug.
    async fn workspace_assignments(
        &self,
        workspace: &str,
        user: Option<&str>,
    ) -> Result<Vec<(crate::store::roles::AssignmentRecord, &'static str)>, SentinelError> {
        check_workspace_id(workspace)?;
        let tenancy = &self.inner.tenancy;
        let roles = tenancy
            .list_roles(RoleFilter {
                tenant: workspace.to_owned(),
                namespace: Some(String::new()),
                limit: 1000,
                ..RoleFilter::default()
            })
            .await?;
        let slug_of = |role_id: &str| {
            roles
                .iter()
                .filter(|r| r.is_system && r.id == role_id)
                .find_map(|r| WORKSPACE_ROLES.iter().copied().find(|w| *w == r.slug))
        };
        let now = self.inner.identity.clock_now();
        let assignments = tenancy
            .assignments(AssignmentFilter {
                tenant: workspace.to_owned(),
                role_id: None,
                subject: user.map(|u| (SubjectKind::User, u.to_owned())),
                limit: MAX_MEMBERS_LISTED,
                offset: 0,
            })
            .await?;
        Ok(assignments
            .into_iter()
            .filter(|a| {
                a.subject_kind == SubjectKind::User && a.resource_type.is_none() && a.is_live(now)
            })
            .filter_map(|a| slug_of(&a.role_id).map(|role| (a, role)))
            .collect())
    }
}

/// A workspace role's rank: `viewer` 0 … `owner` 3.
fn rank(role: &str) -> usize {
    WORKSPACE_ROLES
        .iter()
        .position(|r| *r == role)
        .unwrap_or_default()
}
