//! `portcullis`: the central authorization service (Sentinel's wire API, OpenID AuthZEN) and
//! its administration.
//!
//! ```text
//! portcullis serve                                   # SQLite in ./portcullis.db, 127.0.0.1:7878
//! portcullis workspace create --slug acme
//! portcullis service-key create --service docs       # prints the key once
//! ```
//!
//! Configuration: `--config FILE` (or `portcullis.toml` when present), then `PORTCULLIS_*`
//! variables; see `portcullis --help`.

#![forbid(unsafe_code)]

mod commands;
mod config;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// The central authorization service and its administration.
///
/// Configuration comes from a TOML file (`--config`, or ./portcullis.toml when there is one),
/// then from the environment, which wins: PORTCULLIS_LISTEN (127.0.0.1:7878),
/// PORTCULLIS_ISSUER (http://LISTEN), PORTCULLIS_DATABASE (sqlite://portcullis.db, or
/// postgres://…), PORTCULLIS_SCHEMA (PostgreSQL schema, portcullis), PORTCULLIS_REDIS (several instances), PORTCULLIS_INSTANCE (the audit chain's
/// name), PORTCULLIS_AUTHZEN_WORKSPACE (turns on the AuthZEN endpoints). Everything is checked
/// before anything starts.
///
/// Administration commands print JSON, one object per line. Users may be named by id or by
/// e-mail address.
#[derive(Parser, Debug)]
#[command(name = "portcullis", version, max_term_width = 100)]
struct Cli {
    /// The configuration file.
    #[arg(long, global = true, env = "PORTCULLIS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs the service until SIGINT or SIGTERM, then flushes the audit trail.
    Serve,
    /// Checks the configuration and prints it (no secrets are in it).
    CheckConfig,
    /// Workspaces: tenants with the roles viewer, editor, admin, owner.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Accounts of the built-in identity.
    #[command(subcommand)]
    User(UserCommand),
    /// Who is a member of a workspace, with which workspace role.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Groups of a workspace (what group shares and group assignments reach).
    #[command(subcommand)]
    Group(GroupCommand),
    /// Roles of a workspace that grant actions and permissions.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Gives a role of a workspace to a user or a group.
    Assign(AssignArgs),
    /// Actions services declare.
    #[command(subcommand)]
    Actions(ActionsCommand),
    /// Resources of the entity permission engine, and their shares.
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// Service keys (`X-Service-Key`), each for one service.
    #[command(subcommand, name = "service-key")]
    ServiceKey(ServiceKeyCommand),
    /// User tokens, as the service issues them (for scripts and tests).
    #[command(subcommand)]
    Token(TokenCommand),
    /// The RS256 keys that sign tokens.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand, Debug)]
enum WorkspaceCommand {
    /// Creates a workspace (again: no change).
    Create {
        /// Its id, a UUID (a new one when not given).
        #[arg(long)]
        id: Option<String>,
        /// Its slug (`wslug` in tokens).
        #[arg(long)]
        slug: String,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Creates an account; the password is read from PORTCULLIS_PASSWORD or the first line of
    /// standard input.
    Add {
        /// The e-mail address.
        #[arg(long)]
        email: String,
    },
    /// Disables an account: its tokens stop working at once.
    Disable {
        /// The user.
        #[arg(long)]
        user: String,
    },
    /// Enables a disabled account (its old tokens stay ended).
    Enable {
        /// The user.
        #[arg(long)]
        user: String,
    },
    /// Deletes an account: its tokens stop working at once.
    Delete {
        /// The user.
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand, Debug)]
enum MemberCommand {
    /// Makes a user a member with a workspace role (replacing the one they held).
    Set {
        /// The workspace id.
        #[arg(long)]
        workspace: String,
        /// The user.
        #[arg(long)]
        user: String,
        /// viewer, editor, admin or owner.
        #[arg(long)]
        role: String,
    },
    /// Ends a membership: the user's tokens for the workspace stop working at once.
    Remove {
        /// The workspace id.
        #[arg(long)]
        workspace: String,
        /// The user.
        #[arg(long)]
        user: String,
    },
    /// Lists the members.
    List {
        /// The workspace id.
        #[arg(long)]
        workspace: String,
    },
}

#[derive(Subcommand, Debug)]
enum GroupCommand {
    /// Adds a user to a group.
    Add {
        /// The workspace id.
        #[arg(long)]
        workspace: String,
        /// The group id.
        #[arg(long)]
        group: String,
        /// The user.
        #[arg(long)]
        user: String,
    },
    /// Removes a user from a group.
    Remove {
        /// The workspace id.
        #[arg(long)]
        workspace: String,
        /// The group id.
        #[arg(long)]
        group: String,
        /// The user.
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand, Debug)]
enum RoleCommand {
    /// Creates a role.
    Create {
        /// The workspace id.
        #[arg(long)]
        workspace: String,
        /// `^[a-z][a-z0-9-]{0,62}$`.
        #[arg(long)]
        slug: String,
        /// The role it inherits from.
        #[arg(long)]
        parent: Option<String>,
        /// An action it grants (`reports:export`, `reports:*`, `todo:update:own`); repeatable.
        #[arg(long = "action")]
        actions: Vec<String>,
        /// A permission it grants (`read:Catalog`); repeatable.
        #[arg(long = "permission")]
        permissions: Vec<String>,
    },
    /// Lists the roles.
    List {
        /// The workspace id.
        #[arg(long)]
        workspace: String,
    },
}

#[derive(Args, Debug)]
struct AssignArgs {
    /// The workspace id.
    #[arg(long)]
    workspace: String,
    /// The role's slug.
    #[arg(long)]
    role: String,
    /// The user.
    #[arg(long, conflicts_with = "group", required_unless_present = "group")]
    user: Option<String>,
    /// The group.
    #[arg(long)]
    group: Option<String>,
    /// Seconds until the assignment stops granting.
    #[arg(long)]
    expires_in: Option<u64>,
}

#[derive(Subcommand, Debug)]
enum ActionsCommand {
    /// Lists registered actions.
    List {
        /// Of this service only.
        #[arg(long)]
        service: Option<String>,
    },
    /// Registers actions of a service.
    Register {
        /// The service.
        #[arg(long)]
        service: String,
        /// The actions.
        #[arg(required = true)]
        actions: Vec<String>,
    },
}

#[derive(Args, Debug)]
struct ResourceArgs {
    /// The service that owns the resource type.
    #[arg(long)]
    service: String,
    /// The resource type.
    #[arg(long = "type")]
    kind: String,
    /// The resource id.
    #[arg(long)]
    id: String,
}

#[derive(Subcommand, Debug)]
enum ResourceCommand {
    /// Registers a resource.
    Register {
        #[command(flatten)]
        resource: ResourceArgs,
        /// The workspace id.
        #[arg(long)]
        workspace: String,
        /// The owner.
        #[arg(long)]
        owner: String,
        /// private or workspace.
        #[arg(long, default_value = "workspace")]
        visibility: String,
    },
    /// Shares a resource, as its owner or a workspace admin (`--as`).
    Share {
        #[command(flatten)]
        resource: ResourceArgs,
        /// Who shares: the owner or an admin of the resource's workspace.
        #[arg(long = "as")]
        actor: String,
        /// The user to share with.
        #[arg(long, conflicts_with = "group", required_unless_present = "group")]
        user: Option<String>,
        /// The group to share with.
        #[arg(long)]
        group: Option<String>,
        /// view or edit.
        #[arg(long, default_value = "view")]
        permission: String,
    },
    /// Ends a share, as the owner or a workspace admin (`--as`).
    Unshare {
        #[command(flatten)]
        resource: ResourceArgs,
        /// Who unshares.
        #[arg(long = "as")]
        actor: String,
        /// The user.
        #[arg(long, conflicts_with = "group", required_unless_present = "group")]
        user: Option<String>,
        /// The group.
        #[arg(long)]
        group: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum ServiceKeyCommand {
    /// Makes a key for a service and prints it, once.
    Create {
        /// The service (a lowercase letter, then a-z, 0-9, -, _).
        #[arg(long)]
        service: String,
        /// A name for lists.
        #[arg(long, default_value = "service key")]
        name: String,
    },
    /// Revokes a key: refused from the next request.
    Revoke {
        /// The service.
        #[arg(long)]
        service: String,
        /// The key's public id.
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Issues a user token for a member of a workspace.
    Issue {
        /// The user.
        #[arg(long)]
        user: String,
        /// The workspace id.
        #[arg(long)]
        workspace: String,
        /// Bind it to a service (`sentinel:authz`, `svc`); else a `sentinel:access` token.
        #[arg(long)]
        service: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// A new key signs from now on; the old ones keep verifying until pruned.
    Rotate,
    /// Deletes keys retired longer ago than a token lives.
    Prune,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Verifies this instance's chain: every record's seal, number and link, up to the newest
    /// checkpoint. Exits 1 when broken.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(problems) => {
            eprintln!("portcullis: the configuration is not usable:");
            for problem in problems {
                eprintln!("  - {problem}");
            }
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("portcullis: no runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(config, cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("portcullis: {error}");
            ExitCode::FAILURE
        }
    }
}
