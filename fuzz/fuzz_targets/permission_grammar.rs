//! The permission and action grammar: `Permission::parse`, `Action::parse`, `ActionGrant::parse`,
//! and the compiled `PermissionSet` against the reference `covers`.
//!
//! The input is UTF-8 text (anything else is skipped), one candidate per line (at most 12).
//!
//! Properties, for every candidate:
//! - each parser accepts exactly what the grammar in `src/rbac/grammar.rs`'s documentation
//!   describes (an independent re-implementation here), and never panics;
//! - a parsed value's `as_str()` (and `Display`, and its JSON form) re-parses to an equal value;
//! - a permission covers itself, `*:*` covers every permission, and `covers` is transitive;
//! - `covers` answers as the documented matching rules say;
//! - a `PermissionSet` compiled from all the candidates allows exactly what some grant covers, for
//!   the candidates and for requirements derived from them (deeper, shallower, wildcarded), and
//!   likewise for actions.

#![no_main]

use libfuzzer_sys::fuzz_target;
// The const grammar behind the macros: hidden from the docs, but what this target checks.
use portcullis::__private::{
    ActionGrantShape, check_action_grant, check_action_name, check_permission,
};
use portcullis::rbac::{
    Action, ActionGrant, MAX_ACTION_LEN, MAX_ACTION_NAME_LEN, MAX_SCOPE_DEPTH, MAX_SCOPE_LEN,
    Permission, PermissionSet,
};

const MAX_CANDIDATES: usize = 12;

// ---- the reference grammar, written from the documentation ----

fn ref_perm_action(action: &str) -> bool {
    if action == "*" {
        return true;
    }
    let mut bytes = action.bytes();
    action.len() <= MAX_ACTION_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn ref_segment(segment: &str) -> bool {
    let mut bytes = segment.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn ref_scope(scope: &str) -> bool {
    if scope == "*" {
        return true;
    }
    let segments: Vec<&str> = scope.split('.').collect();
    scope.len() <= MAX_SCOPE_LEN
        && segments.len() <= MAX_SCOPE_DEPTH
        && segments.iter().all(|s| ref_segment(s))
}

fn ref_permission(text: &str) -> bool {
    match text.split_once(':') {
        Some((action, scope)) => ref_perm_action(action) && ref_scope(scope),
        None => false,
    }
}

fn ref_action_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_ACTION_NAME_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b':' | b'-')
        })
}

fn ref_action_grant(text: &str) -> bool {
    text == "*" || ref_action_name(text) || text.strip_suffix(":*").is_some_and(ref_action_name)
}

/// The documented matching rule: a `*` action or scope in a grant covers any; a scope covers every
/// scope below it; in a requirement a `*` is literal.
fn ref_covers(grant: &str, required: &str) -> bool {
    let (Some((ga, gs)), Some((ra, rs))) = (grant.split_once(':'), required.split_once(':')) else {
        return false;
    };
    let action_ok = ga == "*" || ga == ra;
    let scope_ok = gs == "*"
        || (rs != "*" && {
            let (g, r): (Vec<&str>, Vec<&str>) = (gs.split('.').collect(), rs.split('.').collect());
            g.len() <= r.len() && g.iter().zip(&r).all(|(a, b)| a == b)
        });
    action_ok && scope_ok
}

fn ref_grant_covers(grant: &str, action: &str) -> bool {
    match grant.strip_suffix('*') {
        Some("") => true,
        Some(prefix) => action.starts_with(prefix),
        None => grant == action,
    }
}

// ---- per-candidate checks ----

fn check_permission_text(text: &str) -> Option<Permission> {
    let parsed = Permission::parse(text);
    assert_eq!(
        parsed.is_ok(),
        ref_permission(text),
        "Permission::parse({text:?}) = {parsed:?} disagrees with the grammar"
    );
    assert_eq!(
        check_permission(text).is_ok(),
        parsed.is_ok(),
        "check_permission and Permission::parse disagree on {text:?}"
    );
    let json = serde_json::Value::String(text.to_owned());
    assert_eq!(
        serde_json::from_value::<Permission>(json).is_ok(),
        parsed.is_ok(),
        "deserializing and parsing disagree on {text:?}"
    );
    let permission = parsed.ok()?;
    assert_eq!(permission.as_str(), text);
    assert_eq!(permission.to_string(), text);
    assert_eq!(check_permission(text), Ok(permission.action().len()));
    assert_eq!(
        format!("{}:{}", permission.action(), permission.scope()),
        text
    );
    assert_eq!(
        Permission::parse(permission.as_str()).as_ref(),
        Ok(&permission)
    );
    assert_eq!(text.parse::<Permission>().as_ref(), Ok(&permission));
    let json = serde_json::to_string(&permission).expect("a permission serialises");
    let back: Permission = serde_json::from_str(&json).expect("its JSON deserialises");
    assert_eq!(back, permission);
    assert_eq!(permission.is_any_action(), permission.action() == "*");
    assert_eq!(permission.is_any_scope(), permission.scope() == "*");
    if !permission.is_any_scope() {
        assert_eq!(
            permission.segments().collect::<Vec<_>>().join("."),
            permission.scope()
        );
    } else {
        assert_eq!(permission.segments().count(), 0);
    }
    assert!(permission.covers(&permission), "{text} must cover itself");
    let everything = Permission::parse("*:*").expect("*:* parses");
    assert!(everything.covers(&permission), "*:* must cover {text}");
    Some(permission)
}

fn check_action_text(text: &str) -> (Option<Action>, Option<ActionGrant>) {
    let action = Action::parse(text);
    assert_eq!(
        action.is_ok(),
        ref_action_name(text),
        "Action::parse({text:?}) = {action:?} disagrees with the grammar"
    );
    assert_eq!(check_action_name(text).is_ok(), action.is_ok());
    if let Ok(action) = &action {
        assert_eq!(action.as_str(), text);
        assert_eq!(action.to_string(), text);
        assert_eq!(Action::parse(action.as_str()).as_ref(), Ok(action));
    }

    let grant = ActionGrant::parse(text);
    assert_eq!(
        grant.is_ok(),
        ref_action_grant(text),
        "ActionGrant::parse({text:?}) = {grant:?} disagrees with the grammar"
    );
    match (check_action_grant(text), &grant) {
        (Ok(ActionGrantShape::Everything), Ok(_)) => assert_eq!(text, "*"),
        (Ok(ActionGrantShape::Exact), Ok(_)) => assert!(ref_action_name(text)),
        (Ok(ActionGrantShape::Prefix(n)), Ok(_)) => {
            assert_eq!(n, text.len() - 1, "the prefix is all but the `*`");
            assert!(text.ends_with(":*"));
        }
        (Err(_), Err(_)) => {}
        (shape, grant) => panic!("check_action_grant {shape:?} vs ActionGrant::parse {grant:?}"),
    }
    if let Ok(grant) = &grant {
        assert_eq!(grant.as_str(), text);
        assert_eq!(grant.to_string(), text);
        assert_eq!(ActionGrant::parse(grant.as_str()).as_ref(), Ok(grant));
        let json = serde_json::to_string(grant).expect("a grant serialises");
        let back: ActionGrant = serde_json::from_str(&json).expect("its JSON deserialises");
        assert_eq!(&back, grant);
        if let Ok(action) = &action {
            assert!(grant.covers(action), "an exact grant covers its own action");
        }
    }
    (action.ok(), grant.ok())
}

/// Requirements near a permission: one segment deeper, one shallower, wildcarded either side.
fn derived_requirements(permission: &Permission) -> Vec<Permission> {
    let (action, scope) = (permission.action(), permission.scope());
    let mut texts = vec![
        format!("{action}:{scope}.Deeper"),
        format!("{action}:*"),
        format!("*:{scope}"),
        format!("other:{scope}"),
    ];
    if let Some((parent, _)) = scope.rsplit_once('.') {
        texts.push(format!("{action}:{parent}"));
        texts.push(format!("{action}:{parent}x"));
    }
    texts
        .iter()
        .filter_map(|t| Permission::parse(t).ok())
        .collect()
}

/// Actions near an action grant: below its prefix, the prefix itself, a longer first word.
fn derived_actions(grant: &ActionGrant) -> Vec<Action> {
    let text = grant.as_str();
    let base = text.strip_suffix(":*").unwrap_or(text);
    [
        format!("{base}:x"),
        base.to_owned(),
        format!("{base}x:y"),
        format!("{base}:x:y"),
        "zz:unrelated".to_owned(),
    ]
    .iter()
    .filter_map(|t| Action::parse(t).ok())
    .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // the parsers take &str: non-UTF-8 never reaches them
    };
    let mut permissions = Vec::new();
    let mut actions = Vec::new();
    let mut grants = Vec::new();
    for candidate in text.split('\n').take(MAX_CANDIDATES) {
        if let Some(p) = check_permission_text(candidate) {
            permissions.push(p);
        }
        let (action, grant) = check_action_text(candidate);
        actions.extend(action);
        grants.extend(grant);
    }

    // `covers` against the reference rule, and transitivity.
    for a in &permissions {
        for b in &permissions {
            assert_eq!(
                a.covers(b),
                ref_covers(a.as_str(), b.as_str()),
                "{a} covers {b}?"
            );
            if a.covers(b) {
                for c in &permissions {
                    if b.covers(c) {
                        assert!(a.covers(c), "{a} covers {b} covers {c}, but not {c}");
                    }
                }
            }
        }
    }

    // The compiled set agrees with the reference definition, for the candidates and for
    // requirements around them.
    let mut requirements: Vec<Permission> = permissions.clone();
    for p in &permissions {
        requirements.extend(derived_requirements(p));
    }
    let set = PermissionSet::compile(permissions.iter().cloned(), grants.iter().cloned());
    for required in &requirements {
        let want = permissions.iter().any(|g| g.covers(required));
        assert_eq!(
            set.allows(required),
            want,
            "set of {permissions:?} allows {required}?"
        );
        for grant in &permissions {
            let single = PermissionSet::compile([grant.clone()], []);
            assert_eq!(
                single.allows(required),
                grant.covers(required),
                "{grant} allows {required}?"
            );
        }
    }
    let mut wanted_actions = actions.clone();
    for g in &grants {
        wanted_actions.extend(derived_actions(g));
    }
    for action in &wanted_actions {
        let want = grants.iter().any(|g| g.covers(action));
        assert_eq!(
            set.allows_action(action),
            want,
            "set of {grants:?} allows {action}?"
        );
        for g in &grants {
            assert_eq!(
                g.covers(action),
                ref_grant_covers(g.as_str(), action.as_str()),
                "{g} covers {action}?"
            );
        }
    }
    let mut sorted = permissions.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(set.permissions(), sorted.as_slice());
});
