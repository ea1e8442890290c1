use super::*;
use crate::AuthMethod;
use crate::rbac::Permission;

fn required(text: &str) -> Requirement {
    Requirement::Permission(Permission::parse(text).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn the_role_policy_answers_from_the_context_with_reason_codes() {
    let policy = RolePolicy::default();
    let editor = UserContext::new("u", AuthMethod::Bearer)
        .with_roles(["editor"])
        .with_permissions(policy.permissions_for(&["editor".to_owned()]));
    let nobody = UserContext::new("u", AuthMethod::Bearer);
    let unknown = UserContext::new("u", AuthMethod::Bearer).with_roles(["ghost"]);
    let global = Scope::global();
    let ask = |ctx: &UserContext, text: &str| {
        let req = required(text);
        policy
            .decide(Question::new(ctx, &req, &global))
            .now()
            .map(|d| d.reason())
    };
    assert_eq!(ask(&editor, "write:Catalog"), Some(Reason::Allow));
    assert_eq!(
        ask(&editor, "delete:Catalog"),
        Some(Reason::DenyNoPermission)
    );
    assert_eq!(ask(&nobody, "read:Catalog"), Some(Reason::DenyNoRoles));
    assert_eq!(
        ask(&unknown, "read:Catalog"),
        Some(Reason::DenyNoPermission)
    );
}

#[test]
fn a_plain_check_does_not_work_out_what_matched() {
    let policy = RolePolicy::default();
    let ctx = UserContext::new("u", AuthMethod::Bearer)
        .with_permissions(policy.permissions_for(&["viewer".to_owned()]));
    let req = required("read:Catalog");
    let global = Scope::global();
    let plain = policy.decide(Question::new(&ctx, &req, &global)).now();
    assert_eq!(plain.as_ref().map(Decision::matched), Some(None));
    let explained = policy
        .decide(Question::new(&ctx, &req, &global).explained())
        .now();
    let matched = explained.as_ref().and_then(Decision::matched);
    assert_eq!(
        matched.map(|m| (m.role(), m.grant())),
        Some((Some("viewer"), "read:*"))
    );
}

#[test]
fn reason_codes_are_stable() {
    let codes = [
        (Reason::Allow, "allow"),
        (Reason::DenyNoRoles, "deny_no_roles"),
        (Reason::DenyNoPermission, "deny_no_permission"),
        (Reason::DenyAssignmentExpired, "deny_assignment_expired"),
        (Reason::DenyOtherTenant, "deny_other_tenant"),
        (Reason::DenyNotInNamespace, "deny_not_in_namespace"),
        (Reason::DenyMissingRoles, "deny_missing_roles"),
        (Reason::DenyCrossOrigin, "deny_cross_origin"),
        (Reason::Unavailable, "error_unavailable"),
    ];
    for (reason, code) in codes {
        assert_eq!(reason.code(), code);
        assert_eq!(reason.allows(), code == "allow");
    }
}
