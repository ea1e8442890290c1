//! Role files: `roles_from_toml` and `roles_from_yaml` on arbitrary text.
//!
//! The first byte picks the format (even: TOML, odd: YAML); the rest is the file (non-UTF-8 is
//! skipped: the loaders take `&str`).
//!
//! Properties, besides never panicking:
//! - parsing is deterministic;
//! - every grant of an accepted file re-parses from its `as_str()` to an equal grant;
//! - the role names of a file are distinct;
//! - a `RolePolicy` built from the roles accepts them exactly when every name is valid (1 to 64
//!   bytes of `[A-Za-z0-9_.:-]`, the documented rule: names are checked when roles join a policy),
//!   then holds each role as parsed and allows each of its grants;
//! - the roles, written back as a canonical TOML file, parse to the same roles.

#![no_main]

use std::fmt::Write as _;

use libfuzzer_sys::fuzz_target;
use portcullis::rbac::{
    ActionGrant, MAX_ROLE_NAME_LEN, Permission, Role, RoleError, RolePolicy, roles_from_toml,
    roles_from_yaml,
};

fn valid_role_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ROLE_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// A TOML basic string: every character that TOML does not allow raw is escaped.
fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push('\t'),
            c if c.is_control() => {
                let _ = write!(out, "\\U{:08X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.map(toml_string).collect();
    format!("[{}]", items.join(", "))
}

/// The roles as a canonical TOML role file.
fn to_toml(roles: &[Role]) -> String {
    let mut out = String::new();
    for role in roles {
        let _ = writeln!(out, "[roles.{}]", toml_string(role.name()));
        if let Some(description) = role.description() {
            let _ = writeln!(out, "description = {}", toml_string(description));
        }
        let permissions = toml_list(role.permissions().iter().map(Permission::as_str));
        let _ = writeln!(out, "permissions = {permissions}");
        let actions = toml_list(role.actions().iter().map(ActionGrant::as_str));
        let _ = writeln!(out, "actions = {actions}");
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&format, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let load = |text: &str| {
        if format % 2 == 0 {
            roles_from_toml(text)
        } else {
            roles_from_yaml(text)
        }
    };
    let parsed = load(text);
    assert_eq!(load(text), parsed, "parsing is deterministic");
    let Ok(roles) = parsed else {
        return;
    };

    for role in &roles {
        for p in role.permissions() {
            assert_eq!(Permission::parse(p.as_str()).as_ref(), Ok(p));
        }
        for a in role.actions() {
            assert_eq!(ActionGrant::parse(a.as_str()).as_ref(), Ok(a));
        }
    }
    let mut names: Vec<&str> = roles.iter().map(Role::name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names.len(),
        roles.len(),
        "a role file defines each role once"
    );

    let all_valid = roles.iter().all(|r| valid_role_name(r.name()));
    match RolePolicy::builder().roles(roles.clone()).build() {
        Ok(policy) => {
            assert!(all_valid, "a policy accepted an invalid role name");
            for role in &roles {
                assert_eq!(policy.role(role.name()), Some(role));
                let set = policy.permissions_for(&[role.name().to_owned()]);
                for p in role.permissions() {
                    assert!(
                        set.allows(p),
                        "role {:?} does not allow its own {p}",
                        role.name()
                    );
                }
            }
        }
        Err(RoleError::InvalidName(_)) => assert!(!all_valid, "a valid role name was refused"),
        Err(other) => panic!("building a policy from parsed roles failed: {other}"),
    }

    let canonical = to_toml(&roles);
    match roles_from_toml(&canonical) {
        Ok(again) => assert_eq!(again, roles, "the canonical TOML of the roles differs"),
        Err(e) => panic!("the canonical TOML of accepted roles is refused: {e}\n{canonical}"),
    }
});
