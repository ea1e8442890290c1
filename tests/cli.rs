//! The `portcullis` binary as an operator runs it: configuration checked before anything
//! starts; the administration commands and `serve` on SQLite, answering Sentinel's API and
//! AuthZEN, with its audit trail verified after a SIGTERM; and on PostgreSQL with Redis, a
//! membership ended from the command line refused by two running instances at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");
const PASSWORD: &str = "violet-harbour-lantern-47";

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn random_name(prefix: &str) -> String {
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).unwrap();
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}_{}_{hex}", std::process::id())
}

fn fresh_dir() -> TempDir {
    let dir = std::env::temp_dir().join(random_name("portcullis-cli"));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// The binary with `env` and nothing of the caller's `PORTCULLIS_*`.
fn portcullis(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("PORTCULLIS_") {
            command.env_remove(name);
        }
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// Runs an administration command; its one line of JSON.
fn admin(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Value {
    let output = portcullis(dir, env).args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", text(&output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{}", text(&output)))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `serve`, stopped with SIGTERM when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut env = env.to_vec();
        env.push(("PORTCULLIS_LISTEN", &listen));
        let child = portcullis(dir, &env)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("serve-{port}.log"))).unwrap())
            .spawn()
            .unwrap();
        let mut server = Self {
            child,
            base: format!("http://{listen}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while http
            .get(format!("{}/health", server.base))
            .send()
            .await
            .is_err()
        {
            let log = std::fs::read_to_string(dir.join(format!("serve-{port}.log")));
            assert!(Instant::now() < deadline, "serve did not start: {log:?}");
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(dir.join(format!("serve-{port}.log")));
                panic!("serve exited ({status}): {log:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(url: &str, key: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("x-service-key", key)
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[test]
fn configuration_problems_are_all_named_and_nothing_starts() {
    let dir = fresh_dir();
    std::fs::write(
        dir.0.join("portcullis.toml"),
        "listen = \"127.0.0.1:1\"\nlisen = \"typo\"\n",
    )
    .unwrap();
    let output = portcullis(&dir.0, &[]).arg("serve").output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("unknown field `lisen`"),
        "{}",
        text(&output)
    );
    std::fs::remove_file(dir.0.join("portcullis.toml")).unwrap();
    let output = portcullis(
        &dir.0,
        &[
            ("PORTCULLIS_LISTEN", "everywhere"),
            ("PORTCULLIS_DATABASE", "mysql://db"),
            ("PORTCULLIS_ISSUER", "ftp://x"),
        ],
    )
    .arg("serve")
    .output()
    .unwrap();
    let said = text(&output);
    assert_eq!(output.status.code(), Some(2), "{said}");
    for named in [
        "$PORTCULLIS_LISTEN",
        "$PORTCULLIS_DATABASE",
        "$PORTCULLIS_ISSUER",
    ] {
        assert!(said.contains(named), "{said}");
    }
    assert!(!dir.0.join("portcullis.db").exists(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_from_the_command_line_on_sqlite() {
    let dir = fresh_dir();
    // Tokens name their issuer: the commands and the server must agree on it.
    let env: &[(&str, &str)] = &[
        ("PORTCULLIS_PASSWORD", PASSWORD),
        ("PORTCULLIS_ISSUER", "http://127.0.0.1"),
    ];
    let workspace = admin(&dir.0, env, &["workspace", "create", "--slug", "acme"])["workspace"]
        .as_str()
        .unwrap()
        .to_owned();
    let ws = workspace.as_str();
    let ada = admin(&dir.0, env, &["user", "add", "--email", "ada@example.com"])["user"]
        .as_str()
        .unwrap()
        .to_owned();
    admin(&dir.0, env, &["user", "add", "--email", "bob@example.com"]);
    admin(
        &dir.0,
        env,
        &[
            "member",
            "set",
            "--workspace",
            ws,
            "--user",
            "ada@example.com",
            "--role",
            "owner",
        ],
    );
    admin(
        &dir.0,
        env,
        &[
            "member",
            "set",
            "--workspace",
            ws,
            "--user",
            "bob@example.com",
            "--role",
            "viewer",
        ],
    );
    admin(
        &dir.0,
        env,
        &[
            "role",
            "create",
            "--workspace",
            ws,
            "--slug",
            "exporter",
            "--action",
            "reports:export",
        ],
    );
    admin(
        &dir.0,
        env,
        &[
            "assign",
            "--workspace",
            ws,
            "--role",
            "exporter",
            "--user",
            "ada@example.com",
        ],
    );
    let key = admin(
        &dir.0,
        env,
        &["service-key", "create", "--service", "reports"],
    )["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(key.starts_with("sk_"));
    let token = |user: &str| {
        admin(
            &dir.0,
            env,
            &["token", "issue", "--user", user, "--workspace", ws],
        )["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (ada_token, bob_token) = (token("ada@example.com"), token("bob@example.com"));
    // A bad command is refused with a reason and changes nothing.
    let refused = portcullis(&dir.0, env)
        .args([
            "member",
            "set",
            "--workspace",
            ws,
            "--user",
            "bob@example.com",
            "--role",
            "god",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("viewer, editor, admin, owner"),
        "{}",
        text(&refused)
    );

    let mut serve_env = env.to_vec();
    serve_env.push(("PORTCULLIS_AUTHZEN_WORKSPACE", ws));
    let mut server = Server::start(&dir.0, &serve_env).await;
    let check = |token: String| {
        let url = format!("{}/roles/check-action", server.base);
        let key = key.clone();
        async move {
            post(
                &url,
                &key,
                Some(&token),
                json!({
                    "service_name": "reports", "action": "reports:export", "workspace_id": ws,
                }),
            )
            .await
        }
    };
    assert_eq!(check(ada_token).await.1["allowed"], true);
    assert_eq!(check(bob_token).await.1["allowed"], false);
    let evaluation = format!("{}/access/v1/evaluation", server.base);
    let question = json!({"subject": {"type": "user", "id": ada},
                          "action": {"name": "reports:export"},
                          "resource": {"type": "report", "id": "q3"}});
    let (status, answer) = post(&evaluation, &key, None, question.clone()).await;
    assert_eq!(
        (status, &answer["decision"]),
        (200, &json!(true)),
        "{answer}"
    );
    assert_eq!(post(&evaluation, "sk_nope", None, question).await.0, 401);
    assert!(server.stop().success());

    // Every decision the service made is in its chain, sealed and linked.
    let verified = admin(&dir.0, env, &["audit", "verify"]);
    assert_eq!(verified["verified"], true, "{verified}");
    assert!(verified["records"].as_u64().unwrap() >= 3, "{verified}");
}

/// PostgreSQL (`DATABASE_URL`) and Redis (`REDIS_URL`) as CI provides them; a schema of this
/// run's own.
#[cfg(all(feature = "postgres", feature = "redis"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_membership_ended_from_the_command_line_ends_at_once_on_every_instance() {
    let (Ok(database), Ok(redis)) = (std::env::var("DATABASE_URL"), std::env::var("REDIS_URL"))
    else {
        eprintln!("skipped: DATABASE_URL and REDIS_URL are not both set");
        return;
    };
    let dir = fresh_dir();
    let schema = random_name("cli").to_lowercase();
    let env: &[(&str, &str)] = &[
        ("PORTCULLIS_DATABASE", &database),
        ("PORTCULLIS_SCHEMA", &schema),
        ("PORTCULLIS_REDIS", &redis),
        ("PORTCULLIS_PASSWORD", PASSWORD),
        ("PORTCULLIS_ISSUER", "http://portcullis.test"),
    ];
    let workspace = admin(&dir.0, env, &["workspace", "create", "--slug", "acme"])["workspace"]
        .as_str()
        .unwrap()
        .to_owned();
    let ws = workspace.as_str();
    admin(&dir.0, env, &["user", "add", "--email", "bob@example.com"]);
    admin(
        &dir.0,
        env,
        &[
            "member",
            "set",
            "--workspace",
            ws,
            "--user",
            "bob@example.com",
            "--role",
            "viewer",
        ],
    );
    let key = admin(&dir.0, env, &["service-key", "create", "--service", "docs"])["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = admin(
        &dir.0,
        env,
        &[
            "token",
            "issue",
            "--user",
            "bob@example.com",
            "--workspace",
            ws,
        ],
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut a_env = env.to_vec();
    a_env.push(("PORTCULLIS_INSTANCE", "a"));
    let mut b_env = env.to_vec();
    b_env.push(("PORTCULLIS_INSTANCE", "b"));
    let a = Server::start(&dir.0, &a_env).await;
    let b = Server::start(&dir.0, &b_env).await;
    let accessible = |base: String| {
        let (key, token) = (key.clone(), token.clone());
        async move {
            post(
                &format!("{base}/permissions/accessible"),
                &key,
                Some(&token),
                json!({
                    "service_name": "docs", "resource_type": "document", "action": "view",
                    "workspace_id": ws,
                }),
            )
            .await
            .0
        }
    };
    // Both instances have answered (and cached) Bob's membership.
    for _ in 0..3 {
        assert_eq!(accessible(a.base.clone()).await, 200);
        assert_eq!(accessible(b.base.clone()).await, 200);
    }
    admin(
        &dir.0,
        env,
        &[
            "member",
            "remove",
            "--workspace",
            ws,
            "--user",
            "bob@example.com",
        ],
    );
    let removed = Instant::now();
    for server in [&a, &b] {
        while accessible(server.base.clone()).await != 401 {
            // Far below the caches' 30 s: the change came over Redis.
            assert!(
                removed.elapsed() < Duration::from_secs(2),
                "still a member after 2 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    eprintln!(
        "membership ended on both instances {:?} after the command",
        removed.elapsed()
    );
    drop((a, b));
    let _ = free_schema(&database, &schema).await;
}

/// Drops the run's schema (best effort: a leftover schema only costs space).
#[cfg(all(feature = "postgres", feature = "redis"))]
async fn free_schema(database: &str, schema: &str) -> Result<(), Box<dyn std::error::Error>> {
    let store = portcullis::store::postgres::PostgresStore::connect(database).await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(store.pool())
        .await?;
    Ok(())
}
