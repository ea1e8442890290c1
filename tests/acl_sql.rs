//! The in-database filter: an application's own table, filtered and paged by the accessible set
//! inside SQLite and PostgreSQL, gives exactly what `accessible` lists on the memory store (the
//! reference, written independently of the SQL), for owners, members, group members, folder
//! inheritance, administrators, strangers and other tenants' credentials.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "sqlite")]

mod common;

use portcullis::acl::{Acl, NewResource};
use portcullis::rbac::Permission;
use portcullis::store::{Access, Grant, ResourceKey, SubjectKind, Visibility};
use portcullis::tenant::{NewAssignment, NewRole, Tenancy, TenantStore};
use portcullis::{AuthMethod, Requirement, UserContext};

fn doc(id: &str) -> ResourceKey {
    ResourceKey::new("docs", "document", id)
}

fn folder(id: &str) -> ResourceKey {
    ResourceKey::new("docs", "folder", id)
}

/// Members ada, bob (roles), carl (group `team`); root administers; documents d00..d23, some in
/// folders of another type, with every kind of visibility and share; a document of globex.
async fn seed<S: TenantStore + portcullis::acl::AclStore>(store: &S) -> Acl<S> {
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
    let acl = Acl::new(store.clone())
        .over(tenancy.clone())
        .admins(Requirement::Permission(
            Permission::parse("manage:Documents").unwrap(),
        ));
    let ada = UserContext::new("ada", AuthMethod::Bearer);
    for (id, visibility) in [
        ("shared", Visibility::Private),
        ("open", Visibility::Tenant),
        ("inner", Visibility::Private),
    ] {
        let parent = (id == "inner").then(|| folder("shared"));
        let mut new = NewResource::new(folder(id), "acme", "ada").visibility(visibility);
        if let Some(parent) = parent {
            new = new.inside(parent);
        }
        acl.register(new).await.unwrap();
    }
    acl.share(
        &ada,
        &folder("shared"),
        SubjectKind::Group,
        "team",
        Access::Edit,
    )
    .await
    .unwrap();
    for i in 0..24 {
        let id = format!("d{i:02}");
        let visibility = match i % 4 {
            0 => Visibility::Private,
            1 => Visibility::Tenant,
            2 => Visibility::Public,
            _ => Visibility::Private,
        };
        let owner = if i % 7 == 0 { "bob" } else { "ada" };
        let mut new = NewResource::new(doc(&id), "acme", owner).visibility(visibility);
        match i % 5 {
            0 => new = new.inside(folder("shared")),
            1 => new = new.inside(folder("open")),
            2 => new = new.inside(folder("inner")),
            _ => {}
        }
        acl.register(new).await.unwrap();
        if i % 3 == 0 {
            let owner_ctx = UserContext::new(owner, AuthMethod::Bearer);
            let (grantee, access) = if i % 2 == 0 {
                ("bob", Access::View)
            } else {
                ("ada", Access::Edit)
            };
            if grantee != owner {
                acl.share(&owner_ctx, &doc(&id), SubjectKind::User, grantee, access)
                    .await
                    .unwrap();
            }
        }
    }
    acl.register(NewResource::new(doc("g1"), "globex", "ada").visibility(Visibility::Public))
        .await
        .unwrap();
    // Dan was a member, was given two private documents directly, and left: shares to a user
    // count only while the user is a member (a former member sees what any stranger sees).
    let dan = tenancy
        .assign(
            "acme",
            NewAssignment::new(&member.id, SubjectKind::User, "dan"),
        )
        .await
        .unwrap();
    for (id, access) in [("d03", Access::Edit), ("d11", Access::View)] {
        acl.share(&ada, &doc(id), SubjectKind::User, "dan", access)
            .await
            .unwrap();
    }
    tenancy.unassign("acme", &dan.id).await.unwrap();
    acl
}

fn callers() -> Vec<UserContext> {
    let user = |id: &str| UserContext::new(id, AuthMethod::Bearer);
    vec![
        user("ada"),
        user("bob"),
        user("carl"),
        user("root"),
        user("zed"),
        user("dan"),
        user("ada").with_tenant("globex"),
        user("bob").with_tenant("acme"),
    ]
}

/// Every document id of acme (what a full-access filter keeps), sorted.
fn all_ids() -> Vec<String> {
    (0..24).map(|i| format!("d{i:02}")).collect()
}

async fn expected<S: portcullis::acl::AclStore>(
    acl: &Acl<S>,
    who: &UserContext,
    access: Access,
) -> Vec<String> {
    let found = acl
        .accessible(who, "docs", "document", access, "acme", 10_000, None)
        .await
        .unwrap();
    if found.full_access {
        all_ids()
    } else {
        found.ids
    }
}

#[tokio::test]
async fn the_filter_in_sqlite_keeps_exactly_the_accessible_set() {
    let store = portcullis::store::sqlite::SqliteStore::in_memory()
        .await
        .unwrap();
    let acl = seed(&store).await;
    let reference = seed(&portcullis::store::MemoryStore::new()).await;
    let pool = store.pool();
    sqlx::query("CREATE TABLE documents (id TEXT PRIMARY KEY, title TEXT NOT NULL)")
        .execute(pool)
        .await
        .unwrap();
    for id in all_ids()
        .iter()
        .chain([&"g1".to_owned(), &"unregistered".to_owned()])
    {
        sqlx::query("INSERT INTO documents (id, title) VALUES (?, ?)")
            .bind(id)
            .bind(format!("Title of {id}"))
            .execute(pool)
            .await
            .unwrap();
    }
    for who in callers() {
        for access in [Access::View, Access::Edit] {
            let want = expected(&reference, &who, access).await;
            assert_eq!(
                expected(&acl, &who, access).await,
                want,
                "accessible on SQLite"
            );
            let filter = acl
                .filter(&who, "docs", "document", access, "acme")
                .await
                .unwrap();
            let mut query = sqlx::QueryBuilder::new("SELECT id FROM documents WHERE ");
            filter.push_sqlite("documents.id", &mut query).unwrap();
            query.push(" ORDER BY id");
            let got: Vec<String> = query.build_query_scalar().fetch_all(pool).await.unwrap();
            assert_eq!(got, want, "{} {access}", who.subject());
            // Paged inside the database: the second page of three.
            let mut page = sqlx::QueryBuilder::new("SELECT id FROM documents WHERE ");
            filter.push_sqlite("id", &mut page).unwrap();
            page.push(" ORDER BY id LIMIT 3 OFFSET 3");
            let got: Vec<String> = page.build_query_scalar().fetch_all(pool).await.unwrap();
            let want_page: Vec<String> = want.iter().skip(3).take(3).cloned().collect();
            assert_eq!(got, want_page, "page of {} {access}", who.subject());
        }
    }
    // The former member's shares are gone from every answer, the reference's included.
    let dan = UserContext::new("dan", AuthMethod::Bearer);
    let dans = expected(&reference, &dan, Access::View).await;
    assert!(!dans.contains(&"d03".to_owned()) && !dans.contains(&"d11".to_owned()));
    assert!(expected(&reference, &dan, Access::Edit).await.is_empty());
    // Someone could be seen: the comparison is not between two empty lists.
    assert!(
        expected(&reference, &callers()[2], Access::Edit)
            .await
            .len()
            > 3
    );
    // A column is code, never input: anything else is refused before any SQL is written.
    let filter = acl
        .filter(&callers()[0], "docs", "document", Access::View, "acme")
        .await
        .unwrap();
    let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT id FROM documents WHERE ");
    assert!(filter.push_sqlite("id) OR (1=1", &mut query).is_err());
    assert_eq!(query.sql(), "SELECT id FROM documents WHERE ");
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn the_filter_in_postgres_keeps_exactly_the_accessible_set() {
    common::in_fresh_schema("acl_filter", |store| async move {
        let acl = seed(&store).await;
        let reference = seed(&portcullis::store::MemoryStore::new()).await;
        let pool = store.pool();
        sqlx::query("CREATE TABLE documents (id TEXT PRIMARY KEY, title TEXT NOT NULL)")
            .execute(pool)
            .await
            .unwrap();
        // The application's own pool searches only its default schema, not the store's: the
        // filter must name the store's tables by their schema to find them.
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(pool)
            .await
            .unwrap();
        let app = sqlx::PgPool::connect(&std::env::var("DATABASE_URL").unwrap())
            .await
            .unwrap();
        let documents = format!("{schema}.documents");
        for id in all_ids()
            .iter()
            .chain([&"g1".to_owned(), &"unregistered".to_owned()])
        {
            sqlx::query("INSERT INTO documents (id, title) VALUES ($1, $2)")
                .bind(id)
                .bind(format!("Title of {id}"))
                .execute(pool)
                .await
                .unwrap();
        }
        for who in callers() {
            for access in [Access::View, Access::Edit] {
                let want = expected(&reference, &who, access).await;
                assert_eq!(
                    expected(&acl, &who, access).await,
                    want,
                    "accessible on PostgreSQL"
                );
                let filter = acl
                    .filter(&who, "docs", "document", access, "acme")
                    .await
                    .unwrap();
                let mut query =
                    sqlx::QueryBuilder::new(format!("SELECT id FROM {documents} WHERE "));
                filter.push_postgres("id", &mut query).unwrap();
                query
                    .push(" ORDER BY id COLLATE \"C\" LIMIT ")
                    .push_bind(100_i64);
                let got: Vec<String> = query.build_query_scalar().fetch_all(&app).await.unwrap();
                assert_eq!(got, want, "{} {access}", who.subject());
            }
        }
        app.close().await;
    })
    .await;
}
