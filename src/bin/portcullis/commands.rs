//! What each command does, over whichever store the configuration names.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use portcullis::audit::{
    AuditLog, AuditSink, AuditTrail, CheckpointSink, JsonLinesSink, TrailConfig,
};
use portcullis::service::sentinel::{SentinelApi, SentinelConfig, SentinelStore, TokenKind};
use portcullis::store::roles::{RoleFilter, SubjectKind};
use portcullis::store::{Access, ExternalIdentityStore, ResourceKey, UserStore, Visibility};
use portcullis::tenant::{NewAction, NewAssignment, NewRole};
use portcullis::token::{Algorithm, Key, KeyRing};
use portcullis::{AuthMethod, UserContext};
use serde_json::{Value, json};

use crate::config::{Audit, Config, Database};
use crate::{
    ActionsCommand, AuditCommand, Command, GroupCommand, KeysCommand, MemberCommand,
    ResourceCommand, RoleCommand, ServiceKeyCommand, TokenCommand, UserCommand, WorkspaceCommand,
};

pub type Failure = Box<dyn std::error::Error>;

/// Everything a store must be for the service.
pub trait Backend: SentinelStore + ExternalIdentityStore + AuditSink + AuditLog + Clone {}

impl<T> Backend for T where T: SentinelStore + ExternalIdentityStore + AuditSink + AuditLog + Clone {}

/// Opens the configured store and runs `command` over it.
pub async fn run(config: Config, command: Command) -> Result<ExitCode, Failure> {
    if let Command::CheckConfig = command {
        println!("{config:#?}");
        return Ok(ExitCode::SUCCESS);
    }
    match &config.database {
        Database::Sqlite(path) => {
            let store = portcullis::store::sqlite::SqliteStore::open(path).await?;
            over(store, config, command).await
        }
        #[cfg(feature = "postgres")]
        Database::Postgres(url, schema) => {
            let store =
                portcullis::store::postgres::PostgresStore::connect_in_schema(url, schema).await?;
            over(store, config, command).await
        }
        #[cfg(not(feature = "postgres"))]
        Database::Postgres(..) => Err("this build has no `postgres` feature".into()),
    }
}

/// The audit trail's HMAC key, made on first start (32 random bytes, readable by the owner
/// only). There is no default key: without the file (or with a broken one) nothing starts.
pub fn audit_ring(audit: &Audit) -> Result<KeyRing, Failure> {
    let path = &audit.key;
    if !path.exists() {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| e.to_string())?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path)?.write_all(&secret)?;
    }
    let secret = std::fs::read(path)?;
    if secret.len() != 32 {
        return Err(format!("{} must hold a 32-byte HMAC key", path.display()).into());
    }
    Ok(KeyRing::single(Key::hmac(
        "audit-1",
        Algorithm::HS256,
        &secret,
    )?))
}

async fn over<S: Backend>(store: S, config: Config, command: Command) -> Result<ExitCode, Failure> {
    if let Command::Audit(AuditCommand::Verify) = command {
        return verify_audit(&store, &config).await;
    }
    let serving = matches!(command, Command::Serve);
    let trail = match (&config.audit, serving) {
        (Some(audit), true) => Some(
            AuditTrail::start(
                audit_ring(audit)?,
                store.clone(),
                JsonLinesSink::new(&audit.checkpoints),
                TrailConfig::new(&config.instance).checkpoint(10_000, Duration::from_secs(1)),
            )
            .await?,
        ),
        _ => None,
    };
    let mut sentinel = SentinelConfig::new(&config.issuer);
    sentinel.audit = trail.clone();
    let api = SentinelApi::open(store.clone(), sentinel).await?;
    // Several instances: every change made here (by `serve`, or by an administration command
    // while instances run) is heard by the others at once, and theirs here.
    #[cfg(feature = "redis")]
    let shared = match &config.redis {
        Some(url) => {
            let feed = portcullis::cluster::ChangeFeed::new();
            let changes = portcullis::cluster::redis::RedisChanges::start(url, &feed).await?;
            api.share_changes(&feed);
            Some((feed, changes))
        }
        None => None,
    };
    let out = |value: Value| println!("{value}");
    match command {
        Command::Serve => return crate::serve::serve(api, config, trail).await,
        Command::CheckConfig | Command::Audit(_) => {}
        Command::Workspace(WorkspaceCommand::Create { id, slug }) => {
            let id = match id {
                Some(id) => id,
                None => portcullis::service::sentinel::new_workspace_id()?,
            };
            api.create_workspace(&id, &slug).await?;
            out(json!({"workspace": id, "slug": slug}));
        }
        Command::User(user) => match user {
            UserCommand::Add { email } => {
                let password = password()?;
                let account = api.identity().register(&email, &password).await?;
                out(json!({"user": account.id, "email": account.email}));
            }
            UserCommand::Disable { user } => {
                let id = user_id(&store, &user).await?;
                api.identity().set_disabled(&id, true).await?;
                out(json!({"user": id, "disabled": true}));
            }
            UserCommand::Enable { user } => {
                let id = user_id(&store, &user).await?;
                api.identity().set_disabled(&id, false).await?;
                out(json!({"user": id, "disabled": false}));
            }
            UserCommand::Delete { user } => {
                let id = user_id(&store, &user).await?;
                api.identity().delete_user(&id).await?;
                out(json!({"user": id, "deleted": true}));
            }
        },
        Command::Member(member) => match member {
            MemberCommand::Set {
                workspace,
                user,
                role,
            } => {
                let id = user_id(&store, &user).await?;
                api.set_member(&workspace, &id, &role).await?;
                out(json!({"workspace": workspace, "user": id, "role": role}));
            }
            MemberCommand::Remove { workspace, user } => {
                let id = user_id(&store, &user).await?;
                api.remove_member(&workspace, &id).await?;
                out(json!({"workspace": workspace, "user": id, "removed": true}));
            }
            MemberCommand::List { workspace } => {
                for member in api.members(&workspace).await? {
                    out(json!({"user": member.user_id, "role": member.role,
                               "joined_at": member.joined_at}));
                }
            }
        },
        Command::Group(group) => match group {
            GroupCommand::Add {
                workspace,
                group,
                user,
            } => {
                let id = user_id(&store, &user).await?;
                api.tenancy().add_member(&workspace, &group, &id).await?;
                out(json!({"workspace": workspace, "group": group, "user": id}));
            }
            GroupCommand::Remove {
                workspace,
                group,
                user,
            } => {
                let id = user_id(&store, &user).await?;
                api.tenancy().remove_member(&workspace, &group, &id).await?;
                out(json!({"workspace": workspace, "group": group, "user": id, "removed": true}));
            }
        },
        Command::Role(role) => match role {
            RoleCommand::Create {
                workspace,
                slug,
                parent,
                actions,
                permissions,
            } => {
                let mut new = NewRole::new("", &slug);
                new.parent = parent;
                new.actions = actions;
                new.permissions = permissions;
                let made = api.tenancy().create_role(&workspace, new).await?;
                out(json!({"role": made.id, "slug": made.slug}));
            }
            RoleCommand::List { workspace } => {
                let filter = RoleFilter {
                    tenant: workspace.clone(),
                    limit: 1000,
                    ..RoleFilter::default()
                };
                for role in api.tenancy().list_roles(filter).await? {
                    let grants = api.tenancy().role_grants(&workspace, &role.id).await?;
                    let grants: Vec<String> = grants.iter().map(ToString::to_string).collect();
                    out(
                        json!({"role": role.id, "slug": role.slug, "parent": role.parent,
                               "system": role.is_system, "grants": grants}),
                    );
                }
            }
        },
        Command::Assign(assign) => {
            let role = api
                .tenancy()
                .role_by_slug(&assign.workspace, "", &assign.role)
                .await?
                .ok_or("no such role in the workspace")?;
            let (kind, subject) = match (assign.user, assign.group) {
                (Some(user), _) => (SubjectKind::User, user_id(&store, &user).await?),
                (None, Some(group)) => (SubjectKind::Group, group),
                (None, None) => return Err("--user or --group".into()),
            };
            let mut new = NewAssignment::new(&role.id, kind, &subject).granted_by("portcullis-cli");
            if let Some(seconds) = assign.expires_in {
                let now = api.identity().clock_now();
                new = new.expires_at(now.saturating_add(i64::try_from(seconds)?));
            }
            let made = api.tenancy().assign(&assign.workspace, new).await?;
            out(json!({"assignment": made.id, "role": assign.role, "subject": subject}));
        }
        Command::Actions(actions) => match actions {
            ActionsCommand::List { service } => {
                for action in api.tenancy().actions(service.as_deref()).await? {
                    out(json!({"service": action.service, "action": action.action,
                               "description": action.description}));
                }
            }
            ActionsCommand::Register { service, actions } => {
                let new: Vec<NewAction> = actions
                    .into_iter()
                    .map(|action| NewAction {
                        action,
                        description: None,
                    })
                    .collect();
                api.tenancy().register_actions(&service, &new).await?;
                out(json!({"service": service, "registered": new.len()}));
            }
        },
        Command::Resource(resource) => resource_command(&api, &store, resource).await?,
        Command::ServiceKey(key) => match key {
            ServiceKeyCommand::Create { service, name } => {
                let made = api.create_service_key(&service, &name).await?;
                out(json!({"service": made.service, "id": made.id, "key": made.key}));
            }
            ServiceKeyCommand::Revoke { service, id } => {
                api.revoke_service_key(&service, &id).await?;
                out(json!({"service": service, "id": id, "revoked": true}));
            }
        },
        Command::Token(TokenCommand::Issue {
            user,
            workspace,
            service,
        }) => {
            let id = user_id(&store, &user).await?;
            let kind = match service {
                Some(service) => TokenKind::Authz {
                    service,
                    idp_subject: id.clone(),
                },
                None => TokenKind::Access,
            };
            let issued = api.issue(&id, &workspace, kind).await?;
            out(json!({"token": issued.token, "expires_in": issued.expires_in}));
        }
        Command::Keys(KeysCommand::Rotate) => {
            let kid = api.identity().rotate_key().await?;
            out(json!({"signing_key": kid}));
        }
        Command::Keys(KeysCommand::Prune) => {
            let pruned = api.identity().prune_keys().await?;
            out(json!({"pruned": pruned}));
        }
    }
    // The engines publish some changes from tasks of their own, which a process about to exit
    // may never run: one change naming everything, awaited, makes sure the instances hear.
    #[cfg(feature = "redis")]
    if let Some((feed, _changes)) = shared {
        feed.publish(portcullis::cluster::Change::Everything).await;
    }
    Ok(ExitCode::SUCCESS)
}

async fn resource_command<S: Backend>(
    api: &SentinelApi<S>,
    store: &S,
    command: ResourceCommand,
) -> Result<(), Failure> {
    let key = |r: &crate::ResourceArgs| ResourceKey::new(&r.service, &r.kind, &r.id);
    let grantee = |user: Option<String>, group: Option<String>| async move {
        match (user, group) {
            (Some(user), _) => Ok::<_, Failure>((SubjectKind::User, user_id(store, &user).await?)),
            (None, Some(group)) => Ok((SubjectKind::Group, group)),
            (None, None) => Err("--user or --group".into()),
        }
    };
    match command {
        ResourceCommand::Register {
            resource,
            workspace,
            owner,
            visibility,
        } => {
            let visibility = match visibility.as_str() {
                "private" => Visibility::Private,
                "workspace" => Visibility::Tenant,
                _ => return Err("--visibility: private or workspace".into()),
            };
            let owner = user_id(store, &owner).await?;
            let new = portcullis::acl::NewResource::new(key(&resource), &workspace, &owner)
                .visibility(visibility);
            api.acl().register(new).await?;
            println!("{}", json!({"registered": resource.id, "owner": owner}));
        }
        ResourceCommand::Share {
            resource,
            actor,
            user,
            group,
            permission,
        } => {
            let access = match permission.as_str() {
                "view" => Access::View,
                "edit" => Access::Edit,
                _ => return Err("--permission: view or edit".into()),
            };
            let actor = acting_as(store, &actor).await?;
            let (kind, grantee) = grantee(user, group).await?;
            api.acl()
                .share(&actor, &key(&resource), kind, &grantee, access)
                .await?;
            println!(
                "{}",
                json!({"shared": resource.id, "with": grantee, "permission": permission})
            );
        }
        ResourceCommand::Unshare {
            resource,
            actor,
            user,
            group,
        } => {
            let actor = acting_as(store, &actor).await?;
            let (kind, grantee) = grantee(user, group).await?;
            api.acl()
                .unshare(&actor, &key(&resource), kind, &grantee)
                .await?;
            println!("{}", json!({"unshared": resource.id, "with": grantee}));
        }
    }
    Ok(())
}

/// The user named by id or e-mail address.
async fn user_id<S: UserStore>(store: &S, user: &str) -> Result<String, Failure> {
    if user.contains('@') {
        let email = portcullis::identity::normalize_email(user)?;
        let found = store.user_by_email(&email).await?;
        return Ok(found.ok_or("no account with that e-mail address")?.id);
    }
    let found = store.user_by_id(user).await?;
    Ok(found.ok_or("no account with that id")?.id)
}

/// The administrator acting as `user`, for calls that check who asks (sharing).
async fn acting_as<S: UserStore>(store: &S, user: &str) -> Result<UserContext, Failure> {
    Ok(UserContext::new(
        user_id(store, user).await?,
        AuthMethod::Custom("portcullis-cli"),
    ))
}

/// The password for a new account: PORTCULLIS_PASSWORD, or the first line of standard input.
fn password() -> Result<String, Failure> {
    if let Ok(password) = std::env::var("PORTCULLIS_PASSWORD") {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err("give the password in PORTCULLIS_PASSWORD or on standard input".into());
    }
    Ok(password)
}

async fn verify_audit<S: Backend>(store: &S, config: &Config) -> Result<ExitCode, Failure> {
    let audit = config
        .audit
        .as_ref()
        .ok_or("the audit trail is turned off")?;
    if !Path::new(&audit.key).exists() {
        return Err(format!("no audit key at {}", audit.key.display()).into());
    }
    let ring = audit_ring(audit)?;
    let chain = &config.instance;
    let checkpoint = JsonLinesSink::new(&audit.checkpoints).newest(chain).await?;
    match portcullis::audit::verify_stored(store, &ring.snapshot(), chain, checkpoint.as_ref())
        .await?
    {
        Ok(verified) => {
            println!(
                "{}",
                json!({"chain": chain, "records": verified.records, "verified": true,
                       "checkpoint": checkpoint.as_ref().map(|c| c.head.seq)})
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!(
                "{}",
                json!({"chain": chain, "verified": false, "broken_at": broken.seq,
                       "why": format!("{:?}", broken.kind)})
            );
            Ok(ExitCode::from(1))
        }
    }
}
