//! The service's configuration: a TOML file (optional), then the environment, then defaults;
//! checked whole before anything starts, every problem named with where it came from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file, as written (every key optional; unknown keys are refused, so a typo is an error,
/// not a silently ignored setting).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<String>,
    issuer: Option<String>,
    database: Option<String>,
    schema: Option<String>,
    redis: Option<String>,
    instance: Option<String>,
    audit: Option<AuditFile>,
    authzen: Option<AuthzenFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditFile {
    enabled: Option<bool>,
    key: Option<PathBuf>,
    checkpoints: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthzenFile {
    workspace: Option<String>,
    subjects_from: Option<String>,
    entities_of: Option<String>,
}

/// Where the state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file (created on first start).
    Sqlite(PathBuf),
    /// A PostgreSQL database (migrated on start), and the schema the tables live in.
    Postgres(String, String),
}

/// The audit trail's files.
#[derive(Debug, Clone)]
pub struct Audit {
    /// The 32-byte HMAC key sealing each record (made on first start, mode 0600).
    pub key: PathBuf,
    /// Where signed checkpoints of the chain's head go.
    pub checkpoints: PathBuf,
}

/// The AuthZEN endpoints' settings.
#[derive(Debug, Clone)]
pub struct Authzen {
    /// The workspace questions are asked in, unless `context.workspace_id` names another.
    pub workspace: String,
    /// The identity provider whose subjects AuthZEN subjects are.
    pub subjects_from: Option<String>,
    /// The service whose registered resources `view` and `edit` are asked about.
    pub entities_of: Option<String>,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where `serve` listens.
    pub listen: SocketAddr,
    /// The `iss` of issued tokens, and the public address of the service.
    pub issuer: String,
    /// The state.
    pub database: Database,
    /// The Redis that instances share their changes through, if several run.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // refused when configured
    pub redis: Option<String>,
    /// This instance's name: its audit chain (one writer per chain).
    pub instance: String,
    /// The audit trail, unless turned off.
    pub audit: Option<Audit>,
    /// The AuthZEN endpoints, when a workspace is configured for them.
    pub authzen: Option<Authzen>,
}

/// Reads `path` (when given, it must exist; else `portcullis.toml` if there is one), then the
/// environment (`PORTCULLIS_LISTEN`, `PORTCULLIS_ISSUER`, `PORTCULLIS_DATABASE`,
/// `PORTCULLIS_SCHEMA`, `PORTCULLIS_REDIS`, `PORTCULLIS_INSTANCE`, `PORTCULLIS_AUTHZEN_WORKSPACE`), and checks it.
pub fn load(path: Option<&Path>) -> Result<Config, Vec<String>> {
    let default = Path::new("portcullis.toml");
    let (file, source) = match path {
        Some(path) => (Some(read(path)?), path.display().to_string()),
        None if default.exists() => (Some(read(default)?), default.display().to_string()),
        None => (None, String::new()),
    };
    let file = file.unwrap_or_default();
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let pick = |var: &str, from_file: Option<String>, key: &str| match env(var) {
        Some(value) => Some((value, format!("${var}"))),
        None => from_file.map(|value| (value, format!("{key} in {source}"))),
    };
    let mut problems = Vec::new();

    let listen = match pick("PORTCULLIS_LISTEN", file.listen, "listen") {
        None => SocketAddr::from(([127, 0, 0, 1], 7878)),
        Some((text, from)) => text.parse().unwrap_or_else(|_| {
            problems.push(format!(
                "{from}: {text:?} is not an address like 127.0.0.1:7878"
            ));
            SocketAddr::from(([127, 0, 0, 1], 7878))
        }),
    };
    let issuer = match pick("PORTCULLIS_ISSUER", file.issuer, "issuer") {
        None => format!("http://{listen}"),
        Some((text, from)) => {
            let ok = url::Url::parse(&text).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.query().is_none()
            });
            if !ok {
                problems.push(format!("{from}: {text:?} is not an http(s) URL"));
            }
            text.trim_end_matches('/').to_owned()
        }
    };
    let database = match pick("PORTCULLIS_DATABASE", file.database, "database") {
        None => Database::Sqlite(PathBuf::from("portcullis.db")),
        Some((text, from)) => {
            if let Some(path) = text.strip_prefix("sqlite://") {
                Database::Sqlite(PathBuf::from(path))
            } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
                if !cfg!(feature = "postgres") {
                    problems.push(format!(
                        "{from}: PostgreSQL needs a build with the `postgres` feature"
                    ));
                }
                Database::Postgres(text, String::new())
            } else {
                problems.push(format!(
                    "{from}: the database must be sqlite://PATH or postgres://…"
                ));
                Database::Sqlite(PathBuf::from("portcullis.db"))
            }
        }
    };
    let schema = pick("PORTCULLIS_SCHEMA", file.schema, "schema");
    let database = match (database, schema) {
        (Database::Postgres(url, _), Some((schema, from))) => {
            let ok = !schema.is_empty()
                && schema.len() <= 63
                && schema
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                problems.push(format!("{from}: 1 to 63 of a-z, 0-9, _"));
            }
            Database::Postgres(url, schema)
        }
        (Database::Postgres(url, _), None) => Database::Postgres(url, "portcullis".into()),
        (sqlite, Some((_, from))) => {
            problems.push(format!("{from}: a schema is for PostgreSQL only"));
            sqlite
        }
        (sqlite, None) => sqlite,
    };
    let redis = pick("PORTCULLIS_REDIS", file.redis, "redis").map(|(text, from)| {
        if !cfg!(feature = "redis") {
            problems.push(format!(
                "{from}: Redis needs a build with the `redis` feature"
            ));
        } else if !text.starts_with("redis://") && !text.starts_with("rediss://") {
            problems.push(format!("{from}: {text:?} is not a redis:// URL"));
        }
        text
    });
    if redis.is_some() && matches!(database, Database::Sqlite(_)) {
        problems
            .push("redis is for several instances, which must share a PostgreSQL database".into());
    }
    let instance = match pick("PORTCULLIS_INSTANCE", file.instance, "instance") {
        None => "portcullis".to_owned(),
        Some((text, from)) => {
            let ok = !text.is_empty()
                && text.len() <= 64
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                problems.push(format!("{from}: 1 to 64 of a-z, A-Z, 0-9, -, _"));
            }
            text
        }
    };
    let stem = match &database {
        Database::Sqlite(path) => path.with_extension(""),
        Database::Postgres(..) => PathBuf::from(&instance),
    };
    let audit_file = file.audit.unwrap_or_default();
    let audit = audit_file.enabled.unwrap_or(true).then(|| Audit {
        key: audit_file
            .key
            .unwrap_or_else(|| stem.with_extension("audit-key")),
        checkpoints: audit_file
            .checkpoints
            .unwrap_or_else(|| stem.with_extension("audit-heads.jsonl")),
    });
    let authzen_file = file.authzen.unwrap_or_default();
    let authzen = match env("PORTCULLIS_AUTHZEN_WORKSPACE").or(authzen_file.workspace) {
        None => None,
        Some(workspace) => {
            if let Err(error) = portcullis::service::authzen::Metadata::new(&issuer) {
                problems.push(format!("issuer, for the AuthZEN metadata: {error}"));
            }
            if portcullis::authz::Scope::tenant(&workspace).is_err() {
                problems.push(format!(
                    "authzen.workspace: {workspace:?} is not a workspace id"
                ));
            }
            Some(Authzen {
                workspace,
                subjects_from: authzen_file.subjects_from,
                entities_of: authzen_file.entities_of,
            })
        }
    };
    if problems.is_empty() {
        Ok(Config {
            listen,
            issuer,
            database,
            redis,
            instance,
            audit,
            authzen,
        })
    } else {
        Err(problems)
    }
}

fn read(path: &Path) -> Result<File, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("{}: cannot be read: {e}", path.display())])?;
    if text.len() > 64 * 1024 {
        return Err(vec![format!("{}: larger than 64 KiB", path.display())]);
    }
    toml::from_str(&text).map_err(|e| vec![format!("{}: {}", path.display(), e.message())])
}
