//! A randomised model test: the same random operations (registrations, moves between folders,
//! visibility changes, shares, unshares, group memberships, role assignments) on the memory
//! store, SQLite and PostgreSQL (with `DATABASE_URL`), each through its own engine; after every
//! few operations every `can`, `accessible` and `who_can` answer must agree, as must every
//! operation's outcome. The memory store is the reference the SQL is held to.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "sqlite")]

mod common;

use portcullis::acl::{Acl, AclStore, NewResource};
use portcullis::clock::Clock;
use portcullis::rbac::Permission;
use portcullis::store::{Access, Grant, MemoryStore, ResourceKey, SubjectKind, Visibility};
use portcullis::tenant::{NewAssignment, NewRole, Tenancy, TenantStore};
use portcullis::{AuthMethod, Requirement, UserContext};

/// splitmix64 with a fixed seed: the same operations every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const TENANTS: [&str; 2] = ["acme", "globex"];
const USERS: [&str; 5] = ["u0", "u1", "u2", "u3", "u4"];
const GROUPS: [&str; 2] = ["g0", "g1"];
const VISIBILITIES: [Visibility; 3] = [Visibility::Private, Visibility::Tenant, Visibility::Public];
const ACCESSES: [Access; 2] = [Access::View, Access::Edit];

fn keys() -> Vec<ResourceKey> {
    let mut keys: Vec<ResourceKey> = (0..10)
        .map(|i| ResourceKey::new("docs", "document", &format!("r{i}")))
        .collect();
    keys.extend((0..4).map(|i| ResourceKey::new("docs", "folder", &format!("f{i}"))));
    keys
}

fn ctx(user: &str) -> UserContext {
    UserContext::new(user, AuthMethod::Bearer)
}

/// One backend's engines.
struct World<S: TenantStore + AclStore> {
    name: &'static str,
    tenancy: Tenancy<S>,
    acl: Acl<S>,
    member_role: Vec<String>,
}

async fn world<S: TenantStore + AclStore>(name: &'static str, store: S) -> World<S> {
    let tenancy = Tenancy::new(store.clone());
    let mut member_role = Vec::new();
    for tenant in TENANTS {
        let member = tenancy
            .create_role(tenant, NewRole::new("", "member"))
            .await
            .unwrap();
        let admin = tenancy
            .create_role(
                tenant,
                NewRole::new("", "admin").grant(Grant::Permission(
                    Permission::parse("manage:Documents").unwrap(),
                )),
            )
            .await
            .unwrap();
        tenancy
            .assign(
                tenant,
                NewAssignment::new(&admin.id, SubjectKind::User, "root"),
            )
            .await
            .unwrap();
        member_role.push(member.id);
    }
    // A fixed clock: registration times agree across backends.
    let acl = Acl::new(store)
        .over(tenancy.clone())
        .admins(Requirement::Permission(
            Permission::parse("manage:Documents").unwrap(),
        ))
        .with_clock(Clock::from_fn(|| 1_800_000_000))
        .cached(1 << 20, std::time::Duration::from_secs(3600))
        .watching(&tenancy);
    World {
        name,
        tenancy,
        acl,
        member_role,
    }
}

/// One random operation, as text (so every backend applies the very same one).
#[derive(Clone, Debug)]
enum Op {
    Register(
        ResourceKey,
        &'static str,
        &'static str,
        Visibility,
        Option<ResourceKey>,
    ),
    Deregister(ResourceKey),
    Visibility(ResourceKey, Visibility),
    Move(ResourceKey, Option<ResourceKey>),
    Share(ResourceKey, SubjectKind, &'static str, Access),
    Unshare(ResourceKey, SubjectKind, &'static str),
    Join(&'static str, &'static str, &'static str),
    Leave(&'static str, &'static str, &'static str),
    Assign(usize, &'static str),
}

fn random_op(rng: &mut Rng, keys: &[ResourceKey]) -> Op {
    let key = keys[rng.below(keys.len())].clone();
    let folders: Vec<ResourceKey> = keys[10..].to_vec();
    let grantee = |rng: &mut Rng| {
        if rng.below(3) == 0 {
            (SubjectKind::Group, rng.pick(&GROUPS))
        } else {
            (SubjectKind::User, rng.pick(&USERS))
        }
    };
    match rng.below(12) {
        0..=2 => {
            // Folders f0, f1 are acme's and f2, f3 globex's (registered first): most
            // registrations go inside one of their own tenant's.
            let t = rng.below(2);
            let parent = (rng.below(3) > 0).then(|| folders[2 * t + rng.below(2)].clone());
            Op::Register(
                key,
                TENANTS[t],
                rng.pick(&USERS),
                rng.pick(&VISIBILITIES),
                parent,
            )
        }
        3 => Op::Deregister(key),
        4 => Op::Visibility(key, rng.pick(&VISIBILITIES)),
        5 => Op::Move(
            key,
            (rng.below(3) > 0).then(|| folders[rng.below(folders.len())].clone()),
        ),
        6 | 7 => {
            let (kind, who) = grantee(rng);
            Op::Share(key, kind, who, rng.pick(&ACCESSES))
        }
        8 => {
            let (kind, who) = grantee(rng);
            Op::Unshare(key, kind, who)
        }
        9 => Op::Join(rng.pick(&TENANTS), rng.pick(&GROUPS), rng.pick(&USERS)),
        10 => Op::Leave(rng.pick(&TENANTS), rng.pick(&GROUPS), rng.pick(&USERS)),
        _ if rng.below(2) == 0 => Op::Join(rng.pick(&TENANTS), rng.pick(&GROUPS), rng.pick(&USERS)),
        _ => Op::Assign(rng.below(2), rng.pick(&USERS)),
    }
}

/// Applies `op` (as the administrator `root`, so the rules about who may share never block
/// the model: they have tests of their own) and describes the outcome.
async fn apply<S: TenantStore + AclStore>(w: &World<S>, op: &Op) -> String {
    let root = ctx("root");
    let outcome = match op {
        Op::Register(key, tenant, owner, visibility, parent) => {
            let mut new = NewResource::new(key.clone(), tenant, owner).visibility(*visibility);
            if let Some(parent) = parent {
                new = new.inside(parent.clone());
            }
            format!("{:?}", w.acl.register(new).await)
        }
        Op::Deregister(key) => format!("{:?}", w.acl.deregister(key).await),
        Op::Visibility(key, v) => format!("{:?}", w.acl.set_visibility(&root, key, *v).await),
        Op::Move(key, parent) => format!("{:?}", w.acl.move_to(&root, key, parent.as_ref()).await),
        Op::Share(key, kind, who, access) => {
            format!("{:?}", w.acl.share(&root, key, *kind, who, *access).await)
        }
        Op::Unshare(key, kind, who) => format!("{:?}", w.acl.unshare(&root, key, *kind, who).await),
        Op::Join(tenant, group, who) => {
            format!("{:?}", w.tenancy.add_member(tenant, group, who).await)
        }
        Op::Leave(tenant, group, who) => {
            format!("{:?}", w.tenancy.remove_member(tenant, group, who).await)
        }
        Op::Assign(tenant, who) => {
            let assignment = NewAssignment::new(&w.member_role[*tenant], SubjectKind::User, who);
            // Ids differ per backend; whether it was given does not.
            w.tenancy
                .assign(TENANTS[*tenant], assignment)
                .await
                .is_ok()
                .to_string()
        }
    };
    // No store-made id appears in these texts: a registration record's fields are all the
    // model's (its time from the fixed clock).
    outcome
}

/// Every answer a caller could get, as text.
async fn answers<S: TenantStore + AclStore>(w: &World<S>, keys: &[ResourceKey]) -> Vec<String> {
    let mut out = Vec::new();
    let mut callers: Vec<UserContext> = USERS.iter().map(|u| ctx(u)).collect();
    callers.push(ctx("root"));
    callers.push(ctx("u1").with_tenant("acme"));
    for who in &callers {
        let mut singly = Vec::new();
        for key in keys {
            for access in ACCESSES {
                let reason = w.acl.can(who, key, access).await.unwrap().reason();
                singly.push(reason);
                out.push(format!(
                    "can {} {} {access}: {reason}",
                    who.subject(),
                    key.id
                ));
            }
        }
        // The batch (one store round trip) answers each question as `can` does.
        let questions: Vec<_> = keys
            .iter()
            .flat_map(|key| ACCESSES.map(|access| (key.clone(), access)))
            .collect();
        let batch: Vec<_> = w
            .acl
            .check(who, &questions)
            .await
            .unwrap()
            .iter()
            .map(|d| d.reason())
            .collect();
        assert_eq!(
            batch,
            singly,
            "{}: check and can disagree for {}",
            w.name,
            who.subject()
        );
        for tenant in TENANTS {
            for kind in ["document", "folder"] {
                for access in ACCESSES {
                    let found = w
                        .acl
                        .accessible(who, "docs", kind, access, tenant, 1000, None)
                        .await
                        .unwrap();
                    // Two at a time, each page strictly after the previous one's last id:
                    // the same list.
                    let mut paged: Vec<String> = Vec::new();
                    loop {
                        let after = paged.last().cloned();
                        let page = w
                            .acl
                            .accessible(who, "docs", kind, access, tenant, 2, after.as_deref())
                            .await
                            .unwrap();
                        let done = page.ids.len() < 2;
                        paged.extend(page.ids);
                        if done {
                            break;
                        }
                    }
                    assert_eq!(
                        paged,
                        found.ids,
                        "{}: paging {} {tenant} {kind} {access}",
                        w.name,
                        who.subject()
                    );
                    out.push(format!(
                        "accessible {} {tenant} {kind} {access}: {:?} {}",
                        who.subject(),
                        found.ids,
                        found.full_access
                    ));
                }
            }
        }
    }
    for key in keys {
        let who = w.acl.who_can(&ctx("root"), key).await;
        out.push(format!("who_can {}: {who:?}", key.id));
    }
    out
}

/// Runs `ops` random operations from `seed` on both worlds, comparing as it goes; returns the
/// reason codes the reference gave (so a caller can check the model reached every rule).
async fn compare<A, B>(
    reference: &World<A>,
    other: &World<B>,
    ops: usize,
    seed: u64,
) -> std::collections::BTreeSet<String>
where
    A: TenantStore + AclStore,
    B: TenantStore + AclStore,
{
    let keys = keys();
    let mut rng = Rng(seed);
    let mut seen = std::collections::BTreeSet::new();
    let mut succeeded = 0;
    for (i, folder) in keys[10..].iter().enumerate() {
        let op = Op::Register(
            folder.clone(),
            TENANTS[i / 2],
            "u0",
            Visibility::Private,
            None,
        );
        assert_eq!(apply(other, &op).await, apply(reference, &op).await);
    }
    for step in 0..ops {
        let op = random_op(&mut rng, &keys);
        let want = apply(reference, &op).await;
        let got = apply(other, &op).await;
        assert_eq!(got, want, "{} step {step}: {op:?}", other.name);
        succeeded += usize::from(want.starts_with("Ok") || want == "true");
        if step % 5 == 4 || step + 1 == ops {
            let want = answers(reference, &keys).await;
            seen.extend(
                want.iter()
                    .filter_map(|a| a.rsplit(": ").next())
                    .filter(|r| r.starts_with("allow") || r.starts_with("deny"))
                    .map(str::to_owned),
            );
            let got = answers(other, &keys).await;
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g, w, "{} after step {step} ({op:?})", other.name);
            }
            assert_eq!(got.len(), want.len());
        }
    }
    assert!(
        succeeded > ops / 3,
        "only {succeeded} of {ops} operations took effect"
    );
    seen
}

/// The model reached every rule: not a comparison of two lists of refusals.
fn reached_every_rule(seen: &std::collections::BTreeSet<String>) {
    for reason in [
        "allow_owner",
        "allow_admin",
        "allow_visibility",
        "allow_share",
        "allow_group",
        "allow_parent",
        "deny_no_record",
        "deny_no_permission",
        "deny_other_tenant",
    ] {
        assert!(seen.contains(reason), "never reached {reason}: {seen:?}");
    }
}

#[tokio::test]
async fn sqlite_agrees_with_the_memory_store() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in [1, 2, 3] {
        let reference = world("memory", MemoryStore::new()).await;
        let sqlite = world(
            "sqlite",
            portcullis::store::sqlite::SqliteStore::in_memory()
                .await
                .unwrap(),
        )
        .await;
        seen.extend(compare(&reference, &sqlite, 150, seed).await);
    }
    reached_every_rule(&seen);
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_agrees_with_the_memory_store() {
    common::in_fresh_schema("acl_model", |store| async move {
        let reference = world("memory", MemoryStore::new()).await;
        let postgres = world("postgres", store).await;
        let seen = compare(&reference, &postgres, 200, 7).await;
        reached_every_rule(&seen);
    })
    .await;
}
