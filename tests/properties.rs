//! Property tests: the compiled permission set agrees with the simple reference matcher
//! (`Permission::covers` over every grant) on random grants and requests, and so does the action
//! matcher; the parser never panics and accepts exactly what the grammar's checker accepts.
#![allow(clippy::unwrap_used)]

// The const grammar behind `permission!`, hidden from the docs but the oracle here.
use portcullis::__private::check_permission;
use portcullis::rbac::{Action, ActionGrant, Permission, PermissionSet, Role, RolePolicy};
use proptest::prelude::*;

/// A small alphabet, so random grants and requests collide often enough to matter.
fn action() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        Just("read".to_owned()),
        Just("write".to_owned()),
        Just("delete".to_owned())
    ]
}

fn scope() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("*".to_owned()),
        6 => prop::collection::vec(prop_oneof![Just("A"), Just("B"), Just("C")], 1..=4).prop_map(|s| s.join(".")),
    ]
}

fn permission() -> impl Strategy<Value = Permission> {
    (action(), scope()).prop_map(|(a, s)| Permission::parse(&format!("{a}:{s}")).unwrap())
}

fn action_name() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![Just("a"), Just("b"), Just("c")], 1..=4)
        .prop_map(|s| s.join(":"))
}

fn action_grant() -> impl Strategy<Value = ActionGrant> {
    prop_oneof![
        1 => Just(ActionGrant::parse("*").unwrap()),
        4 => action_name().prop_map(|n| ActionGrant::parse(&n).unwrap()),
        4 => action_name().prop_map(|n| ActionGrant::parse(&format!("{n}:*")).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn compiled_permissions_agree_with_the_reference(
        grants in prop::collection::vec(permission(), 0..12),
        requests in prop::collection::vec(permission(), 1..12),
    ) {
        let set = PermissionSet::compile(grants.clone(), []);
        for required in &requests {
            let reference = grants.iter().any(|g| g.covers(required));
            prop_assert_eq!(set.allows(required), reference, "grants {:?} required {}", grants, required);
        }
    }

    /// Roles share one index of the policy's grants: a subject's set must answer with its own
    /// roles' grants, none of the others', and the grant `explain` names must be one of its
    /// roles' and cover the check.
    #[test]
    fn role_sets_agree_with_the_reference(
        roles in prop::collection::vec(
            (prop::collection::vec(permission(), 0..6), prop::collection::vec(action_grant(), 0..3)),
            1..90,
        ),
        held in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        requests in prop::collection::vec(permission(), 1..10),
        names in prop::collection::vec(action_name(), 1..5),
    ) {
        let policy = RolePolicy::builder()
            .without_builtins()
            .roles(roles.iter().enumerate().map(|(i, (p, a))| {
                Role::new(format!("r{i}")).with_grants(p.clone(), a.clone())
            }))
            .build()
            .unwrap();
        let held: Vec<usize> = held.iter().map(|i| i.index(roles.len())).collect();
        let set = policy.permissions_for(&held.iter().map(|i| format!("r{i}")).collect::<Vec<_>>());
        for required in &requests {
            let reference = held.iter().any(|&i| roles[i].0.iter().any(|g| g.covers(required)));
            prop_assert_eq!(set.allows(required), reference, "held {:?} required {}", held, required);
            match set.explain(required) {
                None => prop_assert!(!reference),
                Some(why) => {
                    let role: usize = why.role().unwrap()[1..].parse().unwrap();
                    let grant = Permission::parse(why.grant()).unwrap();
                    prop_assert!(held.contains(&role));
                    prop_assert!(roles[role].0.contains(&grant), "{} is r{}'s", grant, role);
                    prop_assert!(grant.covers(required));
                }
            }
        }
        for name in &names {
            let action = Action::parse(name).unwrap();
            let reference = held.iter().any(|&i| roles[i].1.iter().any(|g| g.covers(&action)));
            prop_assert_eq!(set.allows_action(&action), reference, "held {:?} action {}", held, name);
        }
    }

    #[test]
    fn compiled_actions_agree_with_the_reference(
        grants in prop::collection::vec(action_grant(), 0..8),
        names in prop::collection::vec(action_name(), 1..8),
    ) {
        let set = PermissionSet::compile([], grants.clone());
        for name in &names {
            let action = Action::parse(name).unwrap();
            let reference = grants.iter().any(|g| g.covers(&action));
            prop_assert_eq!(set.allows_action(&action), reference, "grants {:?} action {}", grants, name);
        }
    }

    #[test]
    fn the_parser_never_panics_and_agrees_with_the_checker(text in "\\PC{0,40}") {
        let parsed = Permission::parse(&text);
        prop_assert_eq!(parsed.is_ok(), check_permission(&text).is_ok());
        if let Ok(p) = parsed {
            prop_assert_eq!(p.as_str(), text.as_str());
            prop_assert_eq!(format!("{}:{}", p.action(), p.scope()), text);
        }
    }
}
