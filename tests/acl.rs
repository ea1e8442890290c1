//! Entity permissions through the engine: Sentinel's evaluation order with folders, the rules
//! Sentinel left out (who may share, unshare, change visibility and move; grantees of the
//! tenant; a second share an update; group shares from stored memberships), tenants, the
//! accessible set, and revocation while checks run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::send;
use http::{Request, StatusCode};
use portcullis::acl::{AccessDef, Acl, AclError, NewResource, RequireAccess};
use portcullis::authz::{Authorizer, Question, Scope};
use portcullis::rbac::Permission;
use portcullis::store::{
    Access, AssignmentStore, Grant, MemoryStore, Registered, ResourceKey, SubjectKind, Visibility,
};
use portcullis::strategy::{Outcome, strategy_fn};
use portcullis::tenant::{NewAssignment, NewRole, Tenancy};
use portcullis::{AuthGateway, MaybeReady};
use portcullis::{AuthMethod, EntityAccess, Reason, Requirement, UserContext};

fn doc(id: &str) -> ResourceKey {
    ResourceKey::new("docs", "document", id)
}

fn user(id: &str) -> UserContext {
    UserContext::new(id, AuthMethod::Bearer)
}

fn manage() -> Requirement {
    Requirement::Permission(Permission::parse("manage:Documents").unwrap())
}

/// An engine over a memory store whose tenant `acme` has members `bob`, `carl` (in group
/// `team`) and `root` (an administrator: `manage:Documents`); `ada` owns what is registered.
async fn setup() -> (Acl<MemoryStore>, Tenancy<MemoryStore>, MemoryStore) {
    setup_with(true).await
}

/// The same, the engine caching (with a TTL of an hour, so only its generation can make a
/// change seen) and watching the tenant engine, or not caching at all.
async fn setup_with(cached: bool) -> (Acl<MemoryStore>, Tenancy<MemoryStore>, MemoryStore) {
    let store = MemoryStore::new();
    let tenancy = Tenancy::new(store.clone());
    let member = tenancy
        .create_role("acme", NewRole::new("", "member"))
        .await
        .unwrap();
    let admin = tenancy
        .create_role(
            "acme",
            NewRole::new("", "admin").grant(Grant::Permission(
                Permission::parse("manage:Documents").unwrap(),
            )),
        )
        .await
        .unwrap();
    for who in ["ada", "bob"] {
        tenancy
            .assign(
                "acme",
                NewAssignment::new(&member.id, SubjectKind::User, who),
            )
            .await
            .unwrap();
    }
    tenancy
        .assign(
            "acme",
            NewAssignment::new(&admin.id, SubjectKind::User, "root"),
        )
        .await
        .unwrap();
    tenancy.add_member("acme", "team", "carl").await.unwrap();
    let mut acl = Acl::new(store.clone())
        .over(tenancy.clone())
        .admins(manage());
    if cached {
        acl = acl
            .cached(1 << 20, std::time::Duration::from_secs(3600))
            .watching(&tenancy);
    }
    (acl, tenancy, store)
}

async fn reason(acl: &Acl<MemoryStore>, who: &UserContext, key: &ResourceKey, a: Access) -> Reason {
    acl.can(who, key, a).await.unwrap().reason()
}

#[tokio::test]
async fn evaluation_follows_sentinels_order_with_folders() {
    evaluation_order(true).await;
}

#[tokio::test]
async fn evaluation_follows_sentinels_order_with_folders_uncached() {
    evaluation_order(false).await;
}

async fn evaluation_order(cached: bool) {
    let (acl, _, _) = setup_with(cached).await;
    let (ada, bob, carl, root) = (user("ada"), user("bob"), user("carl"), user("root"));
    let stranger = user("zed");
    assert_eq!(
        reason(&acl, &bob, &doc("none"), Access::View).await,
        Reason::DenyNoRecord
    );
    acl.register(NewResource::new(doc("d"), "acme", "ada").visibility(Visibility::Private))
        .await
        .unwrap();
    assert_eq!(
        reason(&acl, &ada, &doc("d"), Access::Edit).await,
        Reason::AllowOwner
    );
    assert_eq!(
        reason(&acl, &root, &doc("d"), Access::Edit).await,
        Reason::AllowAdmin
    );
    assert_eq!(
        reason(&acl, &bob, &doc("d"), Access::View).await,
        Reason::DenyNoPermission
    );
    // Tenant visibility: members view, nobody edits by it, strangers see nothing.
    acl.set_visibility(&ada, &doc("d"), Visibility::Tenant)
        .await
        .unwrap();
    assert_eq!(
        reason(&acl, &bob, &doc("d"), Access::View).await,
        Reason::AllowVisibility
    );
    assert_eq!(
        reason(&acl, &carl, &doc("d"), Access::View).await,
        Reason::AllowVisibility,
        "a group member is a member"
    );
    assert_eq!(
        reason(&acl, &bob, &doc("d"), Access::Edit).await,
        Reason::DenyNoPermission
    );
    assert_eq!(
        reason(&acl, &stranger, &doc("d"), Access::View).await,
        Reason::DenyNoPermission
    );
    // Public: anyone authenticated may view.
    acl.set_visibility(&ada, &doc("d"), Visibility::Public)
        .await
        .unwrap();
    assert_eq!(
        reason(&acl, &stranger, &doc("d"), Access::View).await,
        Reason::AllowVisibility
    );
    acl.set_visibility(&ada, &doc("d"), Visibility::Private)
        .await
        .unwrap();
    // Shares: direct, then group; a view share is not an edit one.
    acl.share(&ada, &doc("d"), SubjectKind::User, "bob", Access::View)
        .await
        .unwrap();
    assert_eq!(
        reason(&acl, &bob, &doc("d"), Access::View).await,
        Reason::AllowShare
    );
    assert_eq!(
        reason(&acl, &bob, &doc("d"), Access::Edit).await,
        Reason::DenyNoPermission
    );
    acl.share(&ada, &doc("d"), SubjectKind::Group, "team", Access::Edit)
        .await
        .unwrap();
    assert_eq!(
        reason(&acl, &carl, &doc("d"), Access::Edit).await,
        Reason::AllowGroup
    );
    // Folders: what is shared on a folder applies to everything inside it.
    acl.register(NewResource::new(doc("folder"), "acme", "ada").visibility(Visibility::Private))
        .await
        .unwrap();
    acl.register(
        NewResource::new(doc("inner"), "acme", "ada")
            .visibility(Visibility::Private)
            .inside(doc("folder")),
    )
    .await
    .unwrap();
    acl.share(&ada, &doc("folder"), SubjectKind::User, "bob", Access::Edit)
        .await
        .unwrap();
    let decision = acl.can(&bob, &doc("inner"), Access::Edit).await.unwrap();
    assert_eq!(decision.reason(), Reason::AllowParent);
    assert_eq!(decision.scope().tenant_id(), Some("acme"));
    // Moved out of the folder, it no longer inherits.
    acl.move_to(&ada, &doc("inner"), None).await.unwrap();
    assert_eq!(
        reason(&acl, &bob, &doc("inner"), Access::View).await,
        Reason::DenyNoPermission
    );
}

#[tokio::test]
async fn only_the_owner_or_an_admin_manages_a_resource() {
    let (acl, _, store) = setup().await;
    let (ada, bob, root) = (user("ada"), user("bob"), user("root"));
    acl.register(NewResource::new(doc("d"), "acme", "ada").visibility(Visibility::Private))
        .await
        .unwrap();
    acl.share(&ada, &doc("d"), SubjectKind::User, "bob", Access::Edit)
        .await
        .unwrap();
    let before = store.fingerprint();
    // Bob may edit the document, but not decide who else sees it (Sentinel let him).
    assert_eq!(
        acl.share(&bob, &doc("d"), SubjectKind::Group, "team", Access::View)
            .await,
        Err(AclError::Forbidden)
    );
    assert_eq!(
        acl.unshare(&bob, &doc("d"), SubjectKind::User, "bob").await,
        Err(AclError::Forbidden)
    );
    assert_eq!(
        acl.set_visibility(&bob, &doc("d"), Visibility::Public)
            .await,
        Err(AclError::Forbidden)
    );
    assert_eq!(
        acl.move_to(&bob, &doc("d"), None).await,
        Err(AclError::Forbidden)
    );
    assert_eq!(acl.shares(&bob, &doc("d")).await, Err(AclError::Forbidden));
    assert_eq!(
        store.fingerprint(),
        before,
        "a refused write changed the store"
    );
    // A tenant administrator may.
    acl.set_visibility(&root, &doc("d"), Visibility::Tenant)
        .await
        .unwrap();
    assert!(
        acl.unshare(&root, &doc("d"), SubjectKind::User, "bob")
            .await
            .unwrap()
    );
    // Nobody files into a folder they cannot edit.
    acl.register(NewResource::new(doc("theirs"), "acme", "root").visibility(Visibility::Private))
        .await
        .unwrap();
    assert_eq!(
        acl.move_to(&ada, &doc("d"), Some(&doc("theirs"))).await,
        Err(AclError::NotFound("parent resource"))
    );
}

#[tokio::test]
async fn management_calls_are_no_oracle_for_which_ids_exist() {
    let (acl, _, store) = setup().await;
    let ada = user("ada");
    acl.register(NewResource::new(doc("secret"), "acme", "ada").visibility(Visibility::Private))
        .await
        .unwrap();
    acl.register(NewResource::new(doc("seen"), "acme", "ada").visibility(Visibility::Private))
        .await
        .unwrap();
    acl.share(&ada, &doc("seen"), SubjectKind::User, "bob", Access::View)
        .await
        .unwrap();
    let before = store.fingerprint();
    // Whoever may not view a resource gets the answer an id never registered gets, on every
    // management call: a member, a stranger, the owner's own login from another tenant.
    let hidden = Err::<(), _>(AclError::NotFound("resource"));
    for who in [user("bob"), user("zed"), user("ada").with_tenant("globex")] {
        for id in ["secret", "never-registered"] {
            let key = doc(id);
            let answers = [
                acl.share(&who, &key, SubjectKind::User, "bob", Access::Edit)
                    .await,
                acl.unshare(&who, &key, SubjectKind::User, "bob")
                    .await
                    .map(drop),
                acl.set_visibility(&who, &key, Visibility::Public)
                    .await
                    .map(drop),
                acl.move_to(&who, &key, None).await.map(drop),
                acl.shares(&who, &key).await.map(drop),
                acl.who_can(&who, &key).await.map(drop),
            ];
            for answer in answers {
                assert_eq!(answer, hidden, "{} on {id}", who.subject());
            }
        }
    }
    // Someone who may view it learns only that they may not manage it.
    assert_eq!(
        acl.share(
            &user("bob"),
            &doc("seen"),
            SubjectKind::User,
            "carl",
            Access::View
        )
        .await,
        Err(AclError::Forbidden)
    );
    assert_eq!(
        store.fingerprint(),
        before,
        "a refused call changed the store"
    );
    // Filing into a folder: one the caller cannot see is not found, one it sees but may not
    // edit is forbidden.
    acl.register(NewResource::new(doc("mine"), "acme", "bob").visibility(Visibility::Private))
        .await
        .unwrap();
    assert_eq!(
        acl.move_to(&user("bob"), &doc("mine"), Some(&doc("secret")))
            .await,
        Err(AclError::NotFound("parent resource"))
    );
    assert_eq!(
        acl.move_to(&user("bob"), &doc("mine"), Some(&doc("seen")))
            .await,
        Err(AclError::Forbidden)
    );
}

#[tokio::test]
async fn shares_go_to_members_and_a_second_share_updates_the_level() {
    let (acl, tenancy, _) = setup().await;
    let ada = user("ada");
    acl.register(NewResource::new(doc("d"), "acme", "ada").visibility(Visibility::Private))
        .await
        .unwrap();
    assert_eq!(
        acl.share(&ada, &doc("d"), SubjectKind::User, "zed", Access::View)
            .await,
        Err(AclError::NotAMember)
    );
    assert_eq!(
        acl.share(&ada, &doc("d"), SubjectKind::Group, "nobody", Access::View)
            .await,
        Err(AclError::NotAMember)
    );
    acl.share(&ada, &doc("d"), SubjectKind::User, "bob", Access::View)
        .await
        .unwrap();
    acl.share(&ada, &doc("d"), SubjectKind::User, "bob", Access::Edit)
        .await
        .unwrap();
    let shares = acl.shares(&ada, &doc("d")).await.unwrap();
    assert_eq!(shares.len(), 1);
    assert_eq!(shares[0].access, Access::Edit);
    assert_eq!(
        reason(&acl, &user("bob"), &doc("d"), Access::Edit).await,
        Reason::AllowShare
    );
    // Group shares follow the stored membership, not a token's claim.
    acl.share(&ada, &doc("d"), SubjectKind::Group, "team", Access::View)
        .await
        .unwrap();
    let carl = user("carl");
    assert_eq!(
        reason(&acl, &carl, &doc("d"), Access::View).await,
        Reason::AllowGroup
    );
    tenancy.remove_member("acme", "team", "carl").await.unwrap();
    assert_eq!(
        reason(&acl, &carl, &doc("d"), Access::View).await,
        Reason::DenyNoPermission
    );
    let claims_team = user("carl").with_claim("groups", serde_json::json!(["team"]));
    assert_eq!(
        reason(&acl, &claims_team, &doc("d"), Access::View).await,
        Reason::DenyNoPermission
    );
}

#[tokio::test]
async fn a_credential_of_another_tenant_is_refused_whatever_it_holds() {
    let (acl, _, _) = setup().await;
    acl.register(NewResource::new(doc("d"), "acme", "ada").visibility(Visibility::Public))
        .await
        .unwrap();
    // Even its owner's id, even public: a globex credential asks nothing of acme.
    let from_globex = user("ada").with_tenant("globex");
    assert_eq!(
        reason(&acl, &from_globex, &doc("d"), Access::View).await,
        Reason::DenyOtherTenant
    );
    // Nor does it learn that the id exists there.
    assert_eq!(
        acl.set_visibility(&from_globex, &doc("d"), Visibility::Private)
            .await,
        Err(AclError::NotFound("resource"))
    );
    let listed = acl
        .accessible(
            &from_globex,
            "docs",
            "document",
            Access::View,
            "acme",
            100,
            None,
        )
        .await
        .unwrap();
    assert!(listed.ids.is_empty() && !listed.full_access);
    // Asked through the seam at another tenant's scope, the same.
    let required = Requirement::Access(EntityAccess::new("docs", Access::View));
    let at = Scope::tenant("globex")
        .unwrap()
        .on("document", Some("d"))
        .unwrap();
    let decision = acl
        .decide(Question::new(&user("ada"), &required, &at))
        .await;
    assert_eq!(decision.reason(), Reason::DenyOtherTenant);
}

#[tokio::test]
async fn the_seam_routes_access_checks_to_the_engine_and_the_rest_to_roles() {
    let (acl, _, _) = setup().await;
    acl.register(NewResource::new(doc("d"), "acme", "ada").visibility(Visibility::Private))
        .await
        .unwrap();
    let required = Requirement::Access(EntityAccess::new("docs", Access::Edit));
    let at = Scope::global().on("document", Some("d")).unwrap();
    let owner = acl
        .decide(Question::new(&user("ada"), &required, &at).explained())
        .await;
    assert_eq!(owner.reason(), Reason::AllowOwner);
    assert_eq!(owner.matched().unwrap().grant(), "owner");
    // No resource id: nothing to allow.
    let untargeted = Scope::global().on("document", None).unwrap();
    assert_eq!(
        acl.decide(Question::new(&user("ada"), &required, &untargeted))
            .await
            .reason(),
        Reason::DenyNoRecord
    );
    // A role question goes to the tenant engine underneath.
    let acme = Scope::tenant("acme").unwrap();
    assert_eq!(
        acl.decide(Question::new(&user("root"), &manage(), &acme))
            .await
            .reason(),
        Reason::Allow
    );
    // And an access check never falls to roles: a token with every permission owns nothing.
    let god = user("god").with_permissions(
        portcullis::rbac::RolePolicy::default().permissions_for(&["admin".into()]),
    );
    assert_eq!(
        acl.decide(Question::new(&god, &required, &at))
            .await
            .reason(),
        Reason::DenyNoPermission
    );
}

#[tokio::test]
async fn accessible_lists_pages_and_gives_admins_full_access() {
    let (acl, _, _) = setup().await;
    let ada = user("ada");
    for id in ["a", "b", "c", "d"] {
        acl.register(NewResource::new(doc(id), "acme", "ada").visibility(Visibility::Private))
            .await
            .unwrap();
    }
    for id in ["a", "c", "d"] {
        acl.share(&ada, &doc(id), SubjectKind::User, "bob", Access::View)
            .await
            .unwrap();
    }
    let bob = user("bob");
    let page = |after: Option<&'static str>| {
        let (acl, bob) = (acl.clone(), bob.clone());
        async move {
            acl.accessible(&bob, "docs", "document", Access::View, "acme", 2, after)
                .await
                .unwrap()
        }
    };
    let first = page(None).await;
    assert_eq!(first.ids, ["a", "c"]);
    assert!(!first.full_access);
    assert_eq!(page(Some("c")).await.ids, ["d"]);
    let edit = acl
        .accessible(&bob, "docs", "document", Access::Edit, "acme", 100, None)
        .await
        .unwrap();
    assert!(edit.ids.is_empty());
    let root = acl
        .accessible(
            &user("root"),
            "docs",
            "document",
            Access::Edit,
            "acme",
            100,
            None,
        )
        .await
        .unwrap();
    assert!(root.full_access && root.ids.is_empty());
    assert_eq!(
        acl.accessible(&bob, "docs", "document", Access::View, "acme", 0, None)
            .await,
        Err(AclError::Invalid("limit"))
    );
}

#[tokio::test]
async fn registration_and_bad_input() {
    let (acl, _, _) = setup().await;
    let new = || NewResource::new(doc("d"), "acme", "ada");
    assert_eq!(acl.register(new()).await.unwrap(), Registered::Created);
    assert!(matches!(
        acl.register(new()).await.unwrap(),
        Registered::Existing(_)
    ));
    assert!(matches!(
        acl.register(NewResource::new(doc("d"), "acme", "bob"))
            .await,
        Err(AclError::Conflict(_))
    ));
    let bad = [
        ResourceKey::new("Docs", "document", "1"),
        ResourceKey::new("docs", "", "1"),
        ResourceKey::new("docs", "document", ""),
        ResourceKey::new("docs", "document", &"x".repeat(300)),
        ResourceKey::new("docs", "document", "has space"),
    ];
    for key in bad {
        assert!(
            matches!(
                acl.can(&user("ada"), &key, Access::View).await,
                Err(AclError::Invalid(_))
            ),
            "{key:?} was accepted"
        );
    }
    assert_eq!(
        acl.register(NewResource::new(doc("e"), "", "ada")).await,
        Err(AclError::Invalid("tenant"))
    );
    let checks: Vec<_> = (0..101)
        .map(|i| (doc(&i.to_string()), Access::View))
        .collect();
    assert_eq!(
        acl.check(&user("ada"), &checks).await,
        Err(AclError::Invalid("checks"))
    );
    let answers = acl
        .check(
            &user("ada"),
            &[(doc("d"), Access::Edit), (doc("none"), Access::View)],
        )
        .await
        .unwrap();
    let reasons: Vec<_> = answers.iter().map(|d| d.reason()).collect();
    assert_eq!(reasons, [Reason::AllowOwner, Reason::DenyNoRecord]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_check_allows_after_the_unshare_returned_while_checks_run() {
    let (acl, _, _) = setup().await;
    let ada = user("ada");
    for round in 0..20 {
        let key = doc(&format!("d{round}"));
        acl.register(NewResource::new(key.clone(), "acme", "ada").visibility(Visibility::Private))
            .await
            .unwrap();
        acl.share(&ada, &key, SubjectKind::User, "bob", Access::Edit)
            .await
            .unwrap();
        let revoked = Arc::new(AtomicBool::new(false));
        let checkers: Vec<_> = (0..4)
            .map(|_| {
                let (acl, revoked, key) = (acl.clone(), revoked.clone(), key.clone());
                tokio::spawn(async move {
                    let bob = user("bob");
                    for _ in 0..100 {
                        let after = revoked.load(Ordering::SeqCst);
                        let allowed = acl
                            .can(&bob, &key, Access::View)
                            .await
                            .unwrap()
                            .is_allowed();
                        assert!(!(after && allowed), "allowed after the unshare returned");
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        tokio::task::yield_now().await;
        acl.unshare(&ada, &key, SubjectKind::User, "bob")
            .await
            .unwrap();
        revoked.store(true, Ordering::SeqCst);
        for checker in checkers {
            checker.await.unwrap();
        }
    }
}

struct EditDocument;
impl AccessDef for EditDocument {
    const SERVICE: &'static str = "docs";
    const KIND: &'static str = "document";
    const PARAM: &'static str = "id";
    const ACCESS: Access = Access::Edit;
}

struct ViewDocumentOpenly;
impl AccessDef for ViewDocumentOpenly {
    const SERVICE: &'static str = "docs";
    const KIND: &'static str = "document";
    const PARAM: &'static str = "id";
    const ACCESS: Access = Access::View;
    const HIDE_REFUSALS: bool = false;
}

struct WrongParam;
impl AccessDef for WrongParam {
    const SERVICE: &'static str = "docs";
    const KIND: &'static str = "document";
    const PARAM: &'static str = "doc";
    const ACCESS: Access = Access::View;
}

/// Believes the `x-user` header.
fn header_strategy() -> impl portcullis::strategy::Strategy {
    strategy_fn("headers", |parts| {
        let user = parts.headers.get("x-user").and_then(|v| v.to_str().ok());
        MaybeReady::ready(match user {
            None => Outcome::NotMine,
            Some(user) => {
                Outcome::Authenticated(UserContext::new(user, AuthMethod::Custom("headers")))
            }
        })
    })
}

async fn guarded_app() -> (Router, Acl<MemoryStore>) {
    let (acl, _, _) = setup().await;
    acl.register(NewResource::new(doc("d"), "acme", "ada").visibility(Visibility::Private))
        .await
        .unwrap();
    acl.share(
        &user("ada"),
        &doc("d"),
        SubjectKind::User,
        "bob",
        Access::View,
    )
    .await
    .unwrap();
    let gateway = AuthGateway::new()
        .strategy(header_strategy())
        .authorizer(acl.clone())
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/docs/{id}/edit",
            get(|doc: RequireAccess<EditDocument>| async move {
                format!("{} {}", doc.id(), doc.reason())
            }),
        )
        .route(
            "/open/{id}",
            get(|doc: RequireAccess<ViewDocumentOpenly>| async move { doc.id().to_owned() }),
        )
        .route(
            "/wrong/{id}",
            get(|doc: RequireAccess<WrongParam>| async move { doc.id().to_owned() }),
        )
        .layer(gateway);
    (app, acl)
}

async fn get_as(app: &Router, path: &str, who: &str) -> (StatusCode, String) {
    let request = Request::get(path)
        .header("x-user", who)
        .body(Body::empty())
        .unwrap();
    let reply = send(app, request).await;
    (
        reply.status,
        String::from_utf8_lossy(&reply.body).into_owned(),
    )
}

#[tokio::test]
async fn a_route_guard_takes_the_id_from_the_path_and_hides_refusals() {
    let (app, _acl) = guarded_app().await;
    let (status, body) = get_as(&app, "/docs/d/edit", "ada").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "d allow_owner"));
    // Bob may view, not edit: a refusal answers exactly as a missing document does.
    let refused = get_as(&app, "/docs/d/edit", "bob").await;
    let missing = get_as(&app, "/docs/nope/edit", "bob").await;
    assert_eq!(refused.0, StatusCode::NOT_FOUND);
    assert_eq!(
        refused, missing,
        "a refusal told apart from a missing resource"
    );
    assert!(
        !refused.1.contains("deny"),
        "a hidden refusal carries its reason: {}",
        refused.1
    );
    // Told openly: 403 with the reason code.
    let (status, body) = get_as(&app, "/open/d", "zed").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("deny_no_permission"), "{body}");
    assert_eq!(get_as(&app, "/open/d", "bob").await.0, StatusCode::OK);
    // Nobody at all: 401, before any check.
    let anonymous = send(&app, Request::get("/open/d").body(Body::empty()).unwrap()).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    // A route naming a parameter it does not have is a programming error, never an allow.
    assert_eq!(
        get_as(&app, "/wrong/d", "ada").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn who_can_lists_owner_shares_and_folders_with_their_reasons() {
    use portcullis::acl::Holder;
    let (acl, _, _) = setup().await;
    let ada = user("ada");
    acl.register(NewResource::new(doc("folder"), "acme", "ada").visibility(Visibility::Tenant))
        .await
        .unwrap();
    acl.register(
        NewResource::new(doc("d"), "acme", "ada")
            .visibility(Visibility::Private)
            .inside(doc("folder")),
    )
    .await
    .unwrap();
    acl.share(&ada, &doc("d"), SubjectKind::User, "bob", Access::View)
        .await
        .unwrap();
    // Bob's edit on the folder outranks his view here; the team's is inherited.
    acl.share(&ada, &doc("folder"), SubjectKind::User, "bob", Access::Edit)
        .await
        .unwrap();
    acl.share(
        &ada,
        &doc("folder"),
        SubjectKind::Group,
        "team",
        Access::View,
    )
    .await
    .unwrap();
    let who = acl.who_can(&ada, &doc("d")).await.unwrap();
    let holder = |kind, id: &str, access, reason, via: &str| Holder {
        kind,
        id: id.into(),
        access,
        reason,
        via: Some(doc(via)),
    };
    assert_eq!(
        who.holders,
        [
            holder(
                SubjectKind::User,
                "ada",
                Access::Edit,
                Reason::AllowOwner,
                "d"
            ),
            holder(
                SubjectKind::User,
                "bob",
                Access::Edit,
                Reason::AllowParent,
                "folder"
            ),
            holder(
                SubjectKind::Group,
                "team",
                Access::View,
                Reason::AllowParent,
                "folder"
            ),
        ]
    );
    assert_eq!(
        who.visibility,
        Visibility::Tenant,
        "the folder's visibility reaches it"
    );
    // Each holder's level agrees with `can`.
    assert_eq!(
        reason(&acl, &user("bob"), &doc("d"), Access::Edit).await,
        Reason::AllowParent
    );
    // The list is private: a grantee does not see who else holds it.
    assert_eq!(
        acl.who_can(&user("bob"), &doc("d")).await,
        Err(AclError::Forbidden)
    );
    // Ada's document filed (by the service) in root's private folder, which root shares with
    // the team: Ada is told the team reaches her document, not which folder of root's gives it.
    // Root, who administers acme, is told the folder.
    let root = user("root");
    acl.register(NewResource::new(doc("roots"), "acme", "root").visibility(Visibility::Private))
        .await
        .unwrap();
    acl.share(
        &root,
        &doc("roots"),
        SubjectKind::Group,
        "team",
        Access::Edit,
    )
    .await
    .unwrap();
    acl.register(
        NewResource::new(doc("filed"), "acme", "ada")
            .visibility(Visibility::Private)
            .inside(doc("roots")),
    )
    .await
    .unwrap();
    let team = |who: &UserContext| {
        let acl = acl.clone();
        let who = who.clone();
        async move {
            acl.who_can(&who, &doc("filed"))
                .await
                .unwrap()
                .holders
                .into_iter()
                .find(|h| h.id == "team")
                .unwrap()
        }
    };
    let seen_by_ada = team(&ada).await;
    assert_eq!(
        (seen_by_ada.access, seen_by_ada.reason, seen_by_ada.via),
        (Access::Edit, Reason::AllowParent, None)
    );
    assert_eq!(team(&root).await.via, Some(doc("roots")));
}

#[tokio::test]
async fn a_cache_that_does_not_watch_the_tenant_engine_trusts_memberships_for_its_ttl() {
    // The reason `watching` exists: a membership taken away through the tenant engine is
    // invisible to a cache that is not told.
    let (_, tenancy, store) = setup_with(false).await;
    let unwatched = Acl::new(store.clone())
        .over(tenancy.clone())
        .cached(1 << 20, std::time::Duration::from_secs(3600));
    let watched = Acl::new(store.clone())
        .over(tenancy.clone())
        .cached(1 << 20, std::time::Duration::from_secs(3600))
        .watching(&tenancy);
    unwatched
        .register(NewResource::new(doc("d"), "acme", "ada").visibility(Visibility::Private))
        .await
        .unwrap();
    unwatched
        .share(
            &user("ada"),
            &doc("d"),
            SubjectKind::Group,
            "team",
            Access::View,
        )
        .await
        .unwrap();
    let carl = user("carl");
    for acl in [&unwatched, &watched] {
        assert_eq!(
            reason(acl, &carl, &doc("d"), Access::View).await,
            Reason::AllowGroup
        );
    }
    tenancy.remove_member("acme", "team", "carl").await.unwrap();
    assert_eq!(
        reason(&watched, &carl, &doc("d"), Access::View).await,
        Reason::DenyNoPermission
    );
    assert_eq!(
        reason(&unwatched, &carl, &doc("d"), Access::View).await,
        Reason::AllowGroup,
        "stale within its TTL, as documented"
    );
}

#[tokio::test]
async fn a_user_who_leaves_the_tenant_keeps_nothing_shared_with_them() {
    for cached in [true, false] {
        let (acl, tenancy, store) = setup_with(cached).await;
        let ada = user("ada");
        acl.register(NewResource::new(doc("d"), "acme", "ada").visibility(Visibility::Private))
            .await
            .unwrap();
        acl.share(&ada, &doc("d"), SubjectKind::User, "bob", Access::Edit)
            .await
            .unwrap();
        let bob = user("bob");
        assert_eq!(
            reason(&acl, &bob, &doc("d"), Access::Edit).await,
            Reason::AllowShare
        );
        let listed = |acl: Acl<MemoryStore>, bob: UserContext| async move {
            acl.accessible(&bob, "docs", "document", Access::View, "acme", 10, None)
                .await
                .unwrap()
                .ids
        };
        assert_eq!(listed(acl.clone(), bob.clone()).await, ["d"]);
        // Bob leaves acme: his only assignment there goes. The share is still stored, and
        // gives him nothing, at once (the cache watches the tenant engine).
        let held = store.assignments_of("acme", "bob").await.unwrap();
        for assignment in &held {
            tenancy.unassign("acme", &assignment.id).await.unwrap();
        }
        assert_eq!(acl.shares(&ada, &doc("d")).await.unwrap().len(), 1);
        assert_eq!(
            reason(&acl, &bob, &doc("d"), Access::View).await,
            Reason::DenyNoPermission
        );
        assert!(listed(acl.clone(), bob.clone()).await.is_empty());
        // Back in acme, the share counts again.
        tenancy
            .assign(
                "acme",
                NewAssignment::new(&held[0].role_id, SubjectKind::User, "bob"),
            )
            .await
            .unwrap();
        assert_eq!(
            reason(&acl, &bob, &doc("d"), Access::Edit).await,
            Reason::AllowShare
        );
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn an_unreadable_role_model_is_unavailable_not_a_stranger() {
    // The entities are readable; the roles that make root an administrator are not. Root is
    // neither refused as a stranger nor let in: told to try again, on every path that asks.
    let store = MemoryStore::new();
    let roles = portcullis::store::sqlite::SqliteStore::in_memory()
        .await
        .unwrap();
    let tenancy = Tenancy::new(roles.clone());
    let acl = Acl::new(store.clone()).over(tenancy).admins(manage());
    acl.register(NewResource::new(doc("d"), "acme", "ada").visibility(Visibility::Private))
        .await
        .unwrap();
    roles.pool().close().await;
    let root = user("root");
    assert_eq!(
        acl.can(&root, &doc("d"), Access::View)
            .await
            .unwrap()
            .reason(),
        Reason::Unavailable
    );
    assert_eq!(
        acl.set_visibility(&root, &doc("d"), Visibility::Public)
            .await,
        Err(AclError::Unavailable)
    );
    assert_eq!(
        acl.accessible(&root, "docs", "document", Access::View, "acme", 10, None)
            .await,
        Err(AclError::Unavailable)
    );
    // The owner needs no role to be read: her answers stand.
    let ada = user("ada");
    assert_eq!(
        acl.can(&ada, &doc("d"), Access::Edit)
            .await
            .unwrap()
            .reason(),
        Reason::AllowOwner
    );
    acl.set_visibility(&ada, &doc("d"), Visibility::Tenant)
        .await
        .unwrap();
}
