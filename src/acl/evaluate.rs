//! The evaluation of one access question over a resource's lineage, without I/O: Sentinel's
//! order, with folders. The caller has read the lineage and knows who the subject is in the
//! resource's tenant.

use crate::error::Reason;
use crate::store::acl::{Access, Lineage, ShareRecord, Visibility};
use crate::store::roles::SubjectKind;

/// Who asks, in the resource's tenant.
pub(crate) struct Asker<'a> {
    pub(crate) subject: &'a str,
    /// A member of the tenant: `tenant` visibility gives it `view`.
    pub(crate) member: bool,
    /// An editor of the tenant: `tenant` visibility gives it `edit` too.
    pub(crate) editor: bool,
    /// An administrator of the tenant.
    pub(crate) admin: bool,
}

/// What an explanation of an allowing answer shows: the ids from the resource up to the level
/// that allowed (one id when the resource itself did), and what allowed.
pub(crate) struct Outcome {
    pub(crate) path: Vec<String>,
    /// What allowed: `owner`, `admin`, `public`, `tenant`, or the share (`user:bob edit`).
    pub(crate) grant: String,
}

/// What allowed, before it is written out (most checks never ask).
#[derive(Clone, Copy)]
enum Cause<'a> {
    Nothing,
    Owner,
    Admin,
    Visible(&'static str),
    Share(&'a ShareRecord),
}

/// An evaluation's answer, with what allowed kept by reference: [`Verdict::outcome`] writes it
/// out for an explanation, so a check that wants only the answer allocates nothing.
pub(crate) struct Verdict<'a> {
    pub(crate) reason: Reason,
    /// The level that allowed (0: the resource itself).
    depth: usize,
    cause: Cause<'a>,
}

impl Verdict<'_> {
    fn deny(reason: Reason) -> Self {
        Self {
            reason,
            depth: 0,
            cause: Cause::Nothing,
        }
    }

    /// Refused because something the answer needed could not be read (fail closed).
    pub(crate) fn unavailable() -> Self {
        Self::deny(Reason::Unavailable)
    }

    /// The explanation, from the lineage it was judged on (empty for a refusal).
    pub(crate) fn outcome(&self, lineage: &[Lineage]) -> Outcome {
        let grant = match self.cause {
            Cause::Nothing => {
                return Outcome {
                    path: Vec::new(),
                    grant: String::new(),
                };
            }
            Cause::Owner => "owner".to_owned(),
            Cause::Admin => "admin".to_owned(),
            Cause::Visible(how) => how.to_owned(),
            Cause::Share(s) => format!("{}:{} {}", s.grantee_kind.as_str(), s.grantee, s.access),
        };
        Outcome {
            path: lineage
                .iter()
                .take(self.depth + 1)
                .map(|l| l.record.key.id.clone())
                .collect(),
            grant,
        }
    }
}

/// What a level's visibility gives the asker.
fn visible(visibility: Visibility, asker: &Asker<'_>, wanted: Access) -> Option<&'static str> {
    match visibility {
        Visibility::Public if wanted == Access::View => Some("public"),
        Visibility::Tenant if asker.member && (wanted == Access::View || asker.editor) => {
            Some("tenant")
        }
        _ => None,
    }
}

/// Decides `wanted` for `asker` over `lineage` (the resource first, then each folder above it,
/// each with its shares naming the asker or one of its groups). In order: no record; the
/// owner; a tenant administrator; the resource's visibility; a share to the asker while it is
/// a member of the tenant; a share to one of its groups; the same on each folder above (`allow_parent`); else refused.
pub(crate) fn judge<'a>(lineage: &'a [Lineage], asker: &Asker<'_>, wanted: Access) -> Verdict<'a> {
    let Some(first) = lineage.first() else {
        return Verdict::deny(Reason::DenyNoRecord);
    };
    let at = |reason, depth, cause| Verdict {
        reason,
        depth,
        cause,
    };
    if first.record.owner == asker.subject {
        return at(Reason::AllowOwner, 0, Cause::Owner);
    }
    if asker.admin {
        return at(Reason::AllowAdmin, 0, Cause::Admin);
    }
    for (depth, level) in lineage.iter().enumerate() {
        let here = |reason| {
            if depth == 0 {
                reason
            } else {
                Reason::AllowParent
            }
        };
        if let Some(how) = visible(level.record.visibility, asker, wanted) {
            return at(here(Reason::AllowVisibility), depth, Cause::Visible(how));
        }
        let share = |kind: SubjectKind| {
            level
                .shares
                .iter()
                .filter(|s| s.grantee_kind == kind && s.access.covers(wanted))
                .find(|s| kind == SubjectKind::Group || s.grantee == asker.subject)
        };
        // A share to the user counts while the user is a member of the tenant: someone who
        // left keeps none of what was shared with them there (nor their groups, which are
        // the tenant's).
        if let Some(s) = share(SubjectKind::User).filter(|_| asker.member) {
            return at(here(Reason::AllowShare), depth, Cause::Share(s));
        }
        if let Some(s) = share(SubjectKind::Group) {
            return at(here(Reason::AllowGroup), depth, Cause::Share(s));
        }
    }
    Verdict::deny(Reason::DenyNoPermission)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::acl::{ResourceKey, ResourceRecord};

    fn level(
        id: &str,
        owner: &str,
        visibility: Visibility,
        shares: &[(SubjectKind, &str, Access)],
    ) -> Lineage {
        let key = ResourceKey::new("docs", "document", id);
        Lineage {
            record: ResourceRecord {
                key: key.clone(),
                tenant: "acme".into(),
                owner: owner.into(),
                visibility,
                parent: None,
                created_at: 0,
            },
            shares: shares
                .iter()
                .map(|(kind, grantee, access)| ShareRecord {
                    key: key.clone(),
                    grantee_kind: *kind,
                    grantee: (*grantee).into(),
                    access: *access,
                    granted_by: "ada".into(),
                    granted_at: 0,
                })
                .collect(),
        }
    }

    fn bob(member: bool) -> Asker<'static> {
        Asker {
            subject: "bob",
            member,
            editor: false,
            admin: false,
        }
    }

    #[test]
    fn the_order_is_sentinels_with_folders_last() {
        use Access::{Edit, View};
        use SubjectKind::{Group, User};
        let private = level("d", "ada", Visibility::Private, &[]);
        assert_eq!(judge(&[], &bob(true), View).reason, Reason::DenyNoRecord);
        assert_eq!(
            judge(std::slice::from_ref(&private), &bob(true), View).reason,
            Reason::DenyNoPermission
        );
        let owned = level("d", "bob", Visibility::Private, &[]);
        assert_eq!(
            judge(&[owned], &bob(false), Edit).reason,
            Reason::AllowOwner
        );
        let admin = Asker {
            admin: true,
            ..bob(false)
        };
        assert_eq!(
            judge(std::slice::from_ref(&private), &admin, Edit).reason,
            Reason::AllowAdmin
        );
        // Public gives view to anyone authenticated, tenant visibility to members only, and
        // neither gives edit.
        let public = level("d", "ada", Visibility::Public, &[]);
        assert_eq!(
            judge(std::slice::from_ref(&public), &bob(false), View).reason,
            Reason::AllowVisibility
        );
        assert_eq!(
            judge(&[public], &bob(false), Edit).reason,
            Reason::DenyNoPermission
        );
        let open = level("d", "ada", Visibility::Tenant, &[]);
        assert_eq!(
            judge(std::slice::from_ref(&open), &bob(false), View).reason,
            Reason::DenyNoPermission
        );
        assert_eq!(
            judge(std::slice::from_ref(&open), &bob(true), View).reason,
            Reason::AllowVisibility
        );
        let editor = Asker {
            editor: true,
            ..bob(true)
        };
        assert_eq!(
            judge(std::slice::from_ref(&open), &bob(true), Edit).reason,
            Reason::DenyNoPermission
        );
        assert_eq!(
            judge(&[open], &editor, Edit).reason,
            Reason::AllowVisibility
        );
        // A view share is not an edit share; an edit share gives view.
        let viewed = level("d", "ada", Visibility::Private, &[(User, "bob", View)]);
        assert_eq!(
            judge(std::slice::from_ref(&viewed), &bob(true), View).reason,
            Reason::AllowShare
        );
        assert_eq!(
            judge(&[viewed], &bob(true), Edit).reason,
            Reason::DenyNoPermission
        );
        let edited = level("d", "ada", Visibility::Private, &[(User, "bob", Edit)]);
        assert_eq!(
            judge(&[edited], &bob(true), View).reason,
            Reason::AllowShare
        );
        // Someone else's share is not the asker's (the store sends only the asker's, but the
        // evaluation does not rely on it).
        let others = level("d", "ada", Visibility::Private, &[(User, "carl", Edit)]);
        assert_eq!(
            judge(&[others], &bob(true), View).reason,
            Reason::DenyNoPermission
        );
        // A share outlives nothing: the user left the tenant, the share gives nothing.
        let left = level("d", "ada", Visibility::Private, &[(User, "bob", Edit)]);
        assert_eq!(
            judge(&[left], &bob(false), View).reason,
            Reason::DenyNoPermission
        );
        let grouped = level("d", "ada", Visibility::Private, &[(Group, "team", Edit)]);
        assert_eq!(
            judge(&[grouped], &bob(true), Edit).reason,
            Reason::AllowGroup
        );
        // A folder above: its shares and its visibility, each as `allow_parent`, with the path.
        let folder = level("f", "ada", Visibility::Private, &[(Group, "team", Edit)]);
        let lineage = [private.clone(), folder];
        let inherited = judge(&lineage, &bob(true), Edit);
        assert_eq!(inherited.reason, Reason::AllowParent);
        let shown = inherited.outcome(&lineage);
        assert_eq!(shown.path, ["d", "f"]);
        assert_eq!(shown.grant, "group:team edit");
        let public_folder = level("f", "ada", Visibility::Public, &[]);
        assert_eq!(
            judge(&[private, public_folder], &bob(false), View).reason,
            Reason::AllowParent
        );
    }

    #[test]
    fn an_explanation_names_the_levels_and_what_allowed() {
        use Access::{Edit, View};
        use SubjectKind::User;
        let shown = |lineage: &[Lineage], asker: &Asker<'_>, wanted| {
            let outcome = judge(lineage, asker, wanted).outcome(lineage);
            (outcome.path, outcome.grant)
        };
        let shared = [level(
            "d",
            "ada",
            Visibility::Private,
            &[(User, "bob", View)],
        )];
        assert_eq!(
            shown(&shared, &bob(true), View),
            (vec!["d".to_owned()], "user:bob view".to_owned())
        );
        assert_eq!(shown(&shared, &bob(true), Edit), (vec![], String::new()));
        let owned = [level("d", "bob", Visibility::Private, &[])];
        assert_eq!(
            shown(&owned, &bob(false), Edit),
            (vec!["d".to_owned()], "owner".to_owned())
        );
        let under_public = [
            level("d", "ada", Visibility::Private, &[]),
            level("f", "ada", Visibility::Private, &[]),
            level("top", "ada", Visibility::Public, &[]),
        ];
        assert_eq!(
            shown(&under_public, &bob(false), View),
            (
                vec!["d".to_owned(), "f".to_owned(), "top".to_owned()],
                "public".to_owned()
            )
        );
    }
}
