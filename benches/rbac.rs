//! One permission check against compiled role sets of 10, 1,100 and 110,000 grants.
//!
//! `cargo bench --bench rbac`
//!
//! Each size is measured three ways in the same run: a check that a grant deep in the tree
//! allows, a check that nothing allows (the worst case for the compiled set: it walks to a dead
//! end), and the same checks by a linear scan over the grants with `Permission::covers` (the
//! baseline a naive implementation would use), so the figures can be read as ratios.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use portcullis::rbac::{Action, ActionGrant, Permission, PermissionSet};

/// `domains` domains × 11 grants each: a domain-wide read, a write on 5 entities, a delete on 4
/// entity fields, and an action prefix.
fn grants(domains: usize) -> (Vec<Permission>, Vec<ActionGrant>) {
    let mut permissions = Vec::with_capacity(domains * 10);
    let mut actions = Vec::with_capacity(domains);
    for d in 0..domains {
        let parse = |s: String| Permission::parse(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
        permissions.push(parse(format!("read:Domain{d}")));
        for e in 0..5 {
            permissions.push(parse(format!("write:Domain{d}.Entity{e}")));
        }
        for f in 0..4 {
            permissions.push(parse(format!("delete:Domain{d}.Entity{f}.Field{f}")));
        }
        actions
            .push(ActionGrant::parse(&format!("service{d}:*")).unwrap_or_else(|e| panic!("{e}")));
    }
    (permissions, actions)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("rbac_check");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (label, domains, size) in [
        ("10", 1usize, 10usize),
        ("1100", 100, 1_100),
        ("110000", 10_000, 110_000),
    ] {
        let (mut permissions, actions) = grants(domains);
        if size == 10 {
            // One domain makes 11 grants; drop one field grant the checks do not touch.
            permissions.retain(|p| p.as_str() != "delete:Domain0.Entity0.Field0");
        }
        assert_eq!(
            permissions.len() + actions.len(),
            size,
            "the grant count is what the label says"
        );
        let set = PermissionSet::compile(permissions.clone(), actions);
        let last = domains - 1;
        let hit = Permission::parse(&format!("delete:Domain{last}.Entity3.Field3.Sub"))
            .unwrap_or_else(|e| panic!("{e}"));
        let miss = Permission::parse(&format!("delete:Domain{last}.Entity3.Field2"))
            .unwrap_or_else(|e| panic!("{e}"));
        let action = Action::parse(&format!("service{last}:reports:export"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(set.allows(&hit) && !set.allows(&miss) && set.allows_action(&action));

        group.bench_with_input(BenchmarkId::new("compiled_allow", label), &hit, |b, p| {
            b.iter(|| set.allows(black_box(p)))
        });
        group.bench_with_input(BenchmarkId::new("compiled_deny", label), &miss, |b, p| {
            b.iter(|| set.allows(black_box(p)))
        });
        group.bench_with_input(
            BenchmarkId::new("compiled_action", label),
            &action,
            |b, a| b.iter(|| set.allows_action(black_box(a))),
        );
        group.bench_with_input(
            BenchmarkId::new("linear_scan_deny", label),
            &miss,
            |b, p| b.iter(|| permissions.iter().any(|g| g.covers(black_box(p)))),
        );
    }
    group.finish();

    let mut compile = c.benchmark_group("rbac_compile");
    compile
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (label, domains) in [("10", 1usize), ("1100", 100), ("110000", 10_000)] {
        let (permissions, actions) = grants(domains);
        compile.bench_function(label, |b| {
            b.iter(|| PermissionSet::compile(permissions.clone(), actions.clone()))
        });
    }
    compile.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
