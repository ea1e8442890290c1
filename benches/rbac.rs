//! One permission check against compiled role sets of 10, 1,100 and 110,000 grants.
//!
//! `cargo bench --bench rbac`
//!
//! Each size is measured three ways in the same run: a check that a grant deep in the tree
//! allows, a check that nothing allows (the worst case for the compiled set: it walks to a dead
//! end), and the same checks by a linear scan over the grants with `Permission::covers` (the
//! baseline a naive implementation would use), so the figures can be read as ratios.
//!
//! Before anything is timed, each size's compiled set is checked against that linear scan
//! (`Permission::covers`, `ActionGrant::covers`) on 8,192 generated permission queries and 8,192
//! generated action queries, allows and denies mixed: grants themselves, scopes and actions below
//! them, siblings, other actions, parents, domains and services that do not exist, and `*`
//! requirements. The counts checked are printed.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use portcullis::rbac::{Action, ActionGrant, Permission, PermissionSet};

/// Generated queries per size, of each kind (permissions, actions).
const QUERIES: usize = 8_192;

/// splitmix64 with a fixed seed: the same queries every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A random scope segment at `depth`, from a range a little wider than the grants use.
fn segment(rng: &mut Rng, depth: usize, domains: usize) -> String {
    match depth {
        0 => format!("Domain{}", rng.below(domains + 2)),
        1 => format!("Entity{}", rng.below(7)),
        2 => format!("Field{}", rng.below(6)),
        _ => format!("Sub{}", rng.below(3)),
    }
}

/// A permission query near a random grant: half built to be allowed (the grant, one or two
/// levels below it), half built to be denied (a sibling, another action, the parent, a domain
/// past the last, a `*` requirement), though the reference decides.
fn permission_query(rng: &mut Rng, grants: &[Permission], domains: usize) -> Permission {
    let grant = &grants[rng.below(grants.len())];
    let (action, scope) = (grant.action(), grant.scope());
    let mut segments: Vec<String> = grant.segments().map(str::to_owned).collect();
    let depth = segments.len();
    let text = match rng.below(10) {
        0 | 1 => grant.as_str().to_owned(),
        2 | 3 => format!("{action}:{scope}.{}", segment(rng, depth, domains)),
        4 => format!(
            "{action}:{scope}.{}.{}",
            segment(rng, depth, domains),
            segment(rng, depth + 1, domains)
        ),
        5 => {
            segments[depth - 1] = segment(rng, depth - 1, domains);
            format!("{action}:{}", segments.join("."))
        }
        6 => {
            let others: Vec<&str> = ["read", "write", "delete"]
                .into_iter()
                .filter(|a| *a != action)
                .collect();
            format!("{}:{scope}", others[rng.below(others.len())])
        }
        7 if depth > 1 => format!("{action}:{}", segments[..depth - 1].join(".")),
        8 => match rng.below(3) {
            0 => format!("*:{scope}"),
            1 => format!("{action}:*"),
            _ => "*:*".to_owned(),
        },
        _ => {
            segments[0] = format!("Domain{}", domains + rng.below(8));
            format!("{action}:{}", segments.join("."))
        }
    };
    Permission::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// An action query near a random `serviceN:*` grant, allows and denies mixed.
fn action_query(rng: &mut Rng, domains: usize) -> Action {
    let d = rng.below(domains);
    let text = match rng.below(6) {
        0 => format!("service{d}:reports:export"),
        1 => format!("service{d}:sync"),
        2 => format!("service{d}"),
        3 => format!("service{d}x:sync"),
        4 => format!("service{}:sync", domains + rng.below(8)),
        _ => format!("servic{d}:sync"),
    };
    Action::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Checks the compiled set against the linear scan on generated queries; the counts are printed.
/// The scans (8,192 × 110,000 `covers` at the largest size) run on every core. Returns the
/// permission queries, every one of them checked.
fn check_against_scan(
    label: &str,
    set: &PermissionSet,
    permissions: &[Permission],
    actions: &[ActionGrant],
    domains: usize,
) -> Vec<Permission> {
    let mut rng = Rng(0x5EED_0014 ^ domains as u64);
    let queries: Vec<Permission> = (0..QUERIES)
        .map(|_| permission_query(&mut rng, permissions, domains))
        .collect();
    let action_queries: Vec<Action> = (0..QUERIES)
        .map(|_| action_query(&mut rng, domains))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = QUERIES.div_ceil(threads);
    let (allowed, can) = std::thread::scope(|scope| {
        let workers: Vec<_> = queries
            .chunks(chunk)
            .zip(action_queries.chunks(chunk))
            .map(|(queries, action_queries)| {
                scope.spawn(move || {
                    let mut allowed = 0;
                    for p in queries {
                        let expected = permissions.iter().any(|g| g.covers(p));
                        assert_eq!(
                            set.allows(p),
                            expected,
                            "{p} at {label}: the scan says {expected}"
                        );
                        allowed += usize::from(expected);
                    }
                    let mut can = 0;
                    for a in action_queries {
                        let expected = actions.iter().any(|g| g.covers(a));
                        assert_eq!(
                            set.allows_action(a),
                            expected,
                            "{a} at {label}: the scan says {expected}"
                        );
                        can += usize::from(expected);
                    }
                    (allowed, can)
                })
            })
            .collect();
        workers.into_iter().fold((0, 0), |(p, a), worker| {
            let (wp, wa) = worker
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (p + wp, a + wa)
        })
    });
    assert!(
        allowed * 4 >= QUERIES
            && allowed * 4 <= QUERIES * 3
            && can * 4 >= QUERIES
            && can * 4 <= QUERIES * 3,
        "at {label}: {allowed} permissions and {can} actions allowed of {QUERIES} each: not a mix"
    );
    eprintln!(
        "rbac {label:>6}: compiled set agrees with the linear scan on {QUERIES} permissions ({allowed} allow, {} deny) and {QUERIES} actions ({can} allow, {} deny)",
        QUERIES - allowed,
        QUERIES - can
    );
    queries
}

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
        let set = PermissionSet::compile(permissions.clone(), actions.clone());
        let mut spread = check_against_scan(label, &set, &permissions, &actions, domains);
        spread.sort();
        spread.dedup();
        eprintln!(
            "rbac {label:>6}: compiled_spread cycles through {} distinct checked permissions",
            spread.len()
        );
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
        // Checks spread over thousands of distinct permissions, one per iteration (wrapped by a
        // compare: a division would cost a fair part of a check).
        group.bench_function(BenchmarkId::new("compiled_spread", label), |b| {
            let mut i = 0;
            b.iter(|| {
                let allowed = set.allows(black_box(&spread[i]));
                i += 1;
                if i == spread.len() {
                    i = 0;
                }
                allowed
            })
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
