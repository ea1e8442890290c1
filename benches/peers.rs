//! The same RBAC model checked by portcullis, by casbin-rs and by cedar-policy, in one run.
//!
//! `cargo bench --bench peers`
//!
//! The model: one subject holding one role whose grants are `domains × 10` permissions (a
//! domain-wide `read`, `write` on 5 entities, `delete` on 4 entity fields), where a grant on a
//! scope covers everything below it. Checks target the last domain: an allow three levels down
//! (`delete:DomainN.Entity3.Field3.Sub`) and a deny (`delete:DomainN.Entity3.Field2`).
//!
//! - portcullis: the compiled `PermissionSet`.
//! - casbin-rs: an RBAC model whose matcher gives the same coverage
//!   (`r.obj == p.obj || keyMatch(r.obj, p.obj + ".*")`), one policy line per grant.
//! - cedar-policy: one `permit` per grant, `resource in Scope::"…"`, with the request's scope
//!   and its ancestors as entities (so `in` gives the same coverage).
//!
//! All three are checked to agree on both requests before anything is timed.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::str::FromStr;
use std::time::Duration;

use casbin::prelude::*;
use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use portcullis::rbac::{Permission, PermissionSet};

const MODEL: &str = r#"
[request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[role_definition]
g = _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub) && (r.obj == p.obj || keyMatch(r.obj, p.obj + ".*")) && r.act == p.act
"#;

/// (action, scope) per grant.
fn grants(domains: usize) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(domains * 10);
    for d in 0..domains {
        out.push(("read".into(), format!("Domain{d}")));
        for e in 0..5 {
            out.push(("write".into(), format!("Domain{d}.Entity{e}")));
        }
        for f in 0..4 {
            out.push(("delete".into(), format!("Domain{d}.Entity{f}.Field{f}")));
        }
    }
    out
}

fn cedar_entities(scopes: &[&str]) -> Entities {
    let mut list = vec![
        serde_json::json!({"uid": {"type": "User", "id": "alice"}, "attrs": {}, "parents": [{"type": "Role", "id": "r"}]}),
        serde_json::json!({"uid": {"type": "Role", "id": "r"}, "attrs": {}, "parents": []}),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for scope in scopes {
        let segments: Vec<&str> = scope.split('.').collect();
        for depth in 1..=segments.len() {
            let id = segments[..depth].join(".");
            if !seen.insert(id.clone()) {
                continue;
            }
            let parents: Vec<serde_json::Value> = if depth > 1 {
                vec![serde_json::json!({"type": "Scope", "id": segments[..depth - 1].join(".")})]
            } else {
                vec![]
            };
            list.push(serde_json::json!({"uid": {"type": "Scope", "id": id}, "attrs": {}, "parents": parents}));
        }
    }
    Entities::from_json_value(serde_json::Value::Array(list), None)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn cedar_request(action: &str, scope: &str) -> Request {
    let uid = |text: String| EntityUid::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    Request::new(
        uid(r#"User::"alice""#.into()),
        uid(format!(r#"Action::"{action}""#)),
        uid(format!(r#"Scope::"{scope}""#)),
        Context::empty(),
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("peers");
    for (label, domains) in [("10", 1usize), ("1100", 110), ("110000", 11_000)] {
        let grants = grants(domains);
        let last = domains - 1;
        let allow_scope = format!("Domain{last}.Entity3.Field3.Sub");
        let deny_scope = format!("Domain{last}.Entity3.Field2");

        // portcullis
        let set = PermissionSet::compile(
            grants.iter().map(|(a, s)| {
                Permission::parse(&format!("{a}:{s}")).unwrap_or_else(|e| panic!("{e}"))
            }),
            [],
        );
        let allow =
            Permission::parse(&format!("delete:{allow_scope}")).unwrap_or_else(|e| panic!("{e}"));
        let deny =
            Permission::parse(&format!("delete:{deny_scope}")).unwrap_or_else(|e| panic!("{e}"));

        // casbin
        let enforcer = runtime.block_on(async {
            let model = DefaultModel::from_str(MODEL)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let mut e = Enforcer::new(model, MemoryAdapter::default())
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let rules = grants
                .iter()
                .map(|(a, s)| vec!["r".to_owned(), s.clone(), a.clone()])
                .collect();
            e.add_policies(rules)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            e.add_grouping_policy(vec!["alice".to_owned(), "r".to_owned()])
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            e
        });

        // cedar
        let text: String = grants
            .iter()
            .map(|(a, s)| format!("permit(principal in Role::\"r\", action == Action::\"{a}\", resource in Scope::\"{s}\");\n"))
            .collect();
        let policies = PolicySet::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        let entities = cedar_entities(&[&allow_scope, &deny_scope]);
        let authorizer = Authorizer::new();
        let allow_request = cedar_request("delete", &allow_scope);
        let deny_request = cedar_request("delete", &deny_scope);

        // The three must agree before anything is timed.
        let casbin_says = |scope: &str| {
            enforcer
                .enforce(("alice", scope, "delete"))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let cedar_says = |r: &Request| {
            authorizer.is_authorized(r, &policies, &entities).decision() == Decision::Allow
        };
        assert!(
            set.allows(&allow) && casbin_says(&allow_scope) && cedar_says(&allow_request),
            "allow at {label}"
        );
        assert!(
            !set.allows(&deny) && !casbin_says(&deny_scope) && !cedar_says(&deny_request),
            "deny at {label}"
        );

        let big = domains > 1_000;
        group.sample_size(if big { 10 } else { 50 });
        group
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(if big { 5 } else { 2 }));
        group.bench_with_input(BenchmarkId::new("portcullis_deny", label), &deny, |b, p| {
            b.iter(|| set.allows(black_box(p)))
        });
        group.bench_with_input(
            BenchmarkId::new("casbin_deny", label),
            &deny_scope,
            |b, s| b.iter(|| enforcer.enforce(("alice", black_box(s.as_str()), "delete"))),
        );
        group.bench_with_input(
            BenchmarkId::new("cedar_deny", label),
            &deny_request,
            |b, r| b.iter(|| authorizer.is_authorized(black_box(r), &policies, &entities)),
        );
        group.bench_with_input(
            BenchmarkId::new("portcullis_allow", label),
            &allow,
            |b, p| b.iter(|| set.allows(black_box(p))),
        );
        group.bench_with_input(
            BenchmarkId::new("casbin_allow", label),
            &allow_scope,
            |b, s| b.iter(|| enforcer.enforce(("alice", black_box(s.as_str()), "delete"))),
        );
        group.bench_with_input(
            BenchmarkId::new("cedar_allow", label),
            &allow_request,
            |b, r| b.iter(|| authorizer.is_authorized(black_box(r), &policies, &entities)),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
