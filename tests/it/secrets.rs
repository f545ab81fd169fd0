//! 1Password through a fake `op`: secrets reach the containers and nothing else.

use crate::docker_env;
use crate::harness::{container_of, docker, snapshot};

const PASSWORD: &str = "s3cr3t-db-pw-0xKINFRA";
const JWT: &str = "jwt-secret-0xKINFRA";

#[test]
fn secrets_reach_containers_and_nowhere_else() {
    let mut env = docker_env!();
    let repo = env.clone_repo("ktrdr-main");
    let wt = env.create_sandbox(&repo, "sec");

    // Not signed in: a clear warning, the stack still starts on defaults.
    let r = env.kinfra(&wt, &["sandbox", "up", "--no-wait"]);
    r.success()
        .stderr_has("not signed in")
        .stderr_has("--no-secrets");

    // Signed in, item missing: a clear warning naming the item.
    env.op_sign_in();
    let r = env.kinfra(&wt, &["sandbox", "up", "--no-wait"]);
    r.success()
        .stderr_has("ktrdr-sandbox-dev")
        .stderr_has("insecure defaults");

    // With the item: values reach the containers' environment.
    env.op_item(
        "ktrdr-sandbox-dev",
        &[("db_password", PASSWORD), ("jwt_secret", JWT)],
    );
    let up = env.kinfra(&wt, &["sandbox", "up"]);
    up.success().stderr_has("2 secret(s) loaded");
    let envs = docker(&[
        "inspect",
        "--format",
        "{{range .Config.Env}}{{println .}}{{end}}",
        &container_of("ktrdr--sec", "backend"),
    ]);
    let shape = crate::harness::shape();
    let has = |line: String| envs.lines().any(|l| l == line);
    assert!(
        has(format!("{}={PASSWORD}", shape.db_password_var)),
        "{envs}"
    );
    assert!(has(format!("{}={JWT}", shape.jwt_var)), "{envs}");

    // …and appear in no output and on no file kinfra wrote.
    let status = env.kinfra(&wt, &["sandbox", "status", "--json"]);
    let list = env.kinfra(&wt, &["sandbox", "list", "--json"]);
    for run in [&up, &status, &list] {
        for s in [PASSWORD, JWT] {
            assert!(
                !run.stdout.contains(s) && !run.stderr.contains(s),
                "secret printed\n{run}"
            );
        }
    }
    for dir in [&wt, &env.kinfra_home] {
        for (path, bytes) in snapshot(dir) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(PASSWORD) && !text.contains(JWT),
                "secret on disk in {}",
                path.display()
            );
        }
    }

    // --no-secrets never calls op.
    let calls_before = env.op_calls();
    env.kinfra(&wt, &["sandbox", "down"]).success();
    env.kinfra(&wt, &["sandbox", "up", "--no-secrets", "--no-wait"])
        .success();
    assert_eq!(env.op_calls(), calls_before);
    let envs = docker(&[
        "inspect",
        "--format",
        "{{range .Config.Env}}{{println .}}{{end}}",
        &container_of("ktrdr--sec", "backend"),
    ]);
    assert!(
        envs.contains(&format!(
            "{}={}",
            crate::harness::shape().db_password_var,
            crate::harness::shape().default_db_password
        )),
        "{envs}"
    );
}

#[test]
fn local_prod_never_falls_back_silently_and_the_app_integration_works() {
    let mut env = docker_env!();
    let prod = env.clone_repo("ktrdr-prod");
    env.kinfra(&prod, &["local-prod", "init"]).success();

    // Not signed in: local-prod refuses (no terminal to ask), nothing starts.
    env.kinfra(&prod, &["local-prod", "up", "--no-wait"])
        .code(7)
        .stderr_has("ktrdr-local-prod")
        .stderr_has("not signed in")
        .stderr_has("--no-secrets");
    assert!(crate::harness::running_services("ktrdr-prod").is_empty());

    // The desktop app's integration: `op whoami` says no, the item is readable.
    std::fs::create_dir_all(env.op_dir()).expect("mkdir");
    std::fs::write(env.op_dir().join("desktop_app"), "").expect("write");
    env.op_item("ktrdr-local-prod", &[("db_password", PASSWORD)]);
    let whoami = std::process::Command::new(env.bin.join("op"))
        .arg("whoami")
        .env("FAKE_OP_DIR", env.op_dir())
        .output()
        .expect("op whoami");
    assert!(!whoami.status.success(), "the fake must say not signed in");
    env.kinfra(&prod, &["local-prod", "up", "--no-wait"])
        .success()
        .stderr_has("1 secret(s) loaded");
    let envs = docker(&[
        "inspect",
        "--format",
        "{{range .Config.Env}}{{println .}}{{end}}",
        &container_of("ktrdr-prod", "db"),
    ]);
    assert!(
        envs.contains(&format!("POSTGRES_PASSWORD={PASSWORD}")),
        "{envs}"
    );
    env.kinfra(&prod, &["local-prod", "down"]).success();
}

#[test]
fn setup_never_offers_a_duplicate_item_when_op_is_not_signed_in() {
    // Docker lock: setup registers a local-prod, whose project name other tests use.
    let env = docker_env!();
    // The item exists, but op is not signed in: not "missing", so never created.
    env.op_item("ktrdr-local-prod", &[("db_password", PASSWORD)]);
    let dest = env.work.join("prod");
    let r = env.setup(
        &env.work,
        &[
            "--non-interactive",
            "--demo",
            "--create-item",
            "--skip-shared",
            &format!("--path={}", dest.display()),
        ],
        &[],
    );
    r.success().stderr_has("not signed in");
    assert!(
        !env.op_calls().contains("item create"),
        "an item was created although one exists:\n{}",
        env.op_calls()
    );
}

// ---------------------------------------------------------------------------------
// Secrets given by reference (`[sandbox.secrets]`): every kind, byte for byte into a
// real container, 1Password asked once per item, kept values reused, never printed.

/// Both ways a compose file hands a variable on: `KEY: ${KEY}` and a bare `- KEY`.
const REF_COMPOSE: &str = r#"services:
  app:
    image: busybox:1.35
    command: ["sh", "-c", "exec sleep 3600"]
    environment:
      - BCRYPT=${BCRYPT}
      - QUOTED=${QUOTED}
      - PEM
      - PW_A
      - PW_B=${PW_B}
      - PW_C
      - BAO_KEY
      - PG_URL=${PG_URL}
    stop_grace_period: 1s
"#;

const REF_TOML: &str = r#"name = "secb"
compose_file = "compose.yaml"

[sandbox.secrets]
BCRYPT = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"
PG_URL = "postgres://app:pa$$w0rd@db:5432/app"
QUOTED = "$SECB_QUOTED"
PEM = "dotenv://conf/keys.env#PEM_KEY"
PW_A = "op://secb-vault/secb-one/alpha"
PW_B = "op://secb-vault/secb-one/beta"
PW_C = "op://secb-vault/secb-two/gamma"
BAO_KEY = "bao://secret/secb/dev#api-key"
"#;

const QUOTED: &str = "it's \"quoted\" \\back\\slash ${HOME} $$ $1 `x`";
const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw\nggSjAgEAAoIBAQC7 $x \"q\" \\n-not-a-newline\n-----END PRIVATE KEY-----";
const PW_A: &str = "op-$alpha'\"\\0xSECB";
const PW_B: &str = "op-beta\nsecond line of beta 0xSECB";
const PW_C: &str = "ünïcödé ✓ $gamma 0xSECB";
const BAO_VALUE: &str = "bao-$key\"'\\\nsecond line of bao 0xSECB";
const BAO_TOKEN: &str = "s.secb-test-token";

/// PEM as a dotenv file writes it: double-quoted, `"` and `\` escaped, real newlines.
fn pem_dotenv() -> String {
    format!(
        "# keys\nOTHER=1\nPEM_KEY=\"{}\"\nAFTER=2\n",
        PEM.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

/// A stand-in for OpenBao's KV v2 HTTP API (GET /v1/MOUNT/data/PATH, token in
/// X-Vault-Token, `{"data":{"data":{…},"metadata":{…}}}`): counts the reads.
struct BaoStandIn {
    addr: String,
    reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn bao_stand_in(secrets: Vec<(&'static str, serde_json::Value)>) -> BaoStandIn {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = format!("http://{}", listener.local_addr().expect("addr"));
    let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = reads.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut token = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("x-vault-token")
                {
                    token = v.trim().to_string();
                }
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, extra, body) = if token != BAO_TOKEN {
                (
                    "403 Forbidden",
                    String::new(),
                    r#"{"errors":["permission denied"]}"#.to_string(),
                )
            } else if path == "/v1/secret/data/moved" {
                (
                    "307 Temporary Redirect",
                    "Location: /v1/secret/data/secb/dev\r\n".to_string(),
                    String::new(),
                )
            } else if let Some((_, data)) = secrets.iter().find(|(p, _)| path == format!("/v1/{p}"))
            {
                (
                    "200 OK",
                    String::new(),
                    serde_json::json!({"request_id": "r1", "lease_id": "", "renewable": false,
                        "lease_duration": 0, "data": {"data": data,
                        "metadata": {"created_time": "2026-01-01T00:00:00Z", "version": 1}}})
                    .to_string(),
                )
            } else {
                (
                    "404 Not Found",
                    String::new(),
                    r#"{"errors":[]}"#.to_string(),
                )
            };
            let mut s = stream;
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    BaoStandIn { addr, reads }
}

/// `VAR`'s value inside the container as its main process got it, as bytes: the
/// NUL-separated `/proc/1/environ` (busybox has no `printenv` applet; nothing here
/// trims or re-encodes, so a lost or added byte fails).
fn printenv(container: &str, var: &str) -> Vec<u8> {
    let out = crate::harness::docker_command()
        .args(["exec", container, "cat", "/proc/1/environ"])
        .output()
        .expect("docker exec");
    assert!(out.status.success(), "environ: {out:?}");
    let prefix = format!("{var}=");
    let mut found = out
        .stdout
        .split(|b| *b == 0)
        .filter(|e| e.starts_with(prefix.as_bytes()))
        .map(|e| e[prefix.len()..].to_vec());
    let v = found
        .next()
        .unwrap_or_else(|| panic!("{var} not in the container"));
    assert!(found.next().is_none(), "{var} twice");
    v
}

#[test]
fn references_of_every_kind_reach_the_container_byte_for_byte_asked_once_and_kept() {
    let env = docker_env!();
    let repo = crate::harness::project(
        &env,
        "secb",
        &[
            ("compose.yaml", REF_COMPOSE),
            ("conf/keys.env", &pem_dotenv()),
        ],
    );
    std::fs::write(repo.join("kinfra.toml"), REF_TOML).expect("write");
    env.kinfra(&repo, &["sandbox", "create", "one"]).success();
    let wt = repo.parent().expect("parent").join("secb--one");
    env.op_sign_in();
    env.op_item_in("secb-vault", "secb-one", &[("alpha", PW_A), ("beta", PW_B)]);
    env.op_item_in("secb-vault", "secb-two", &[("gamma", PW_C)]);
    let bao = bao_stand_in(vec![(
        "secret/data/secb/dev",
        serde_json::json!({"api-key": BAO_VALUE, "other": "x"}),
    )]);
    let vars = [
        ("LC_ALL", "C"),
        ("LANG", "C"),
        ("SECB_QUOTED", QUOTED),
        ("BAO_ADDR", bao.addr.as_str()),
        ("BAO_TOKEN", BAO_TOKEN),
        ("NO_PROXY", "127.0.0.1"),
    ];

    // First start: 1Password once per item (2 items for 3 references), OpenBao once.
    let up = env.kinfra_env(&wt, &["sandbox", "up", "--no-wait"], &vars);
    up.success();
    let calls = env.op_calls();
    let item_gets: Vec<&str> = calls
        .lines()
        .filter(|l| l.starts_with("item get"))
        .collect();
    assert_eq!(
        item_gets,
        [
            "item get secb-one --vault secb-vault --format json",
            "item get secb-two --vault secb-vault --format json"
        ],
        "{calls}"
    );
    assert!(!calls.contains("read"), "op read per field: {calls}");
    assert_eq!(bao.reads.load(std::sync::atomic::Ordering::SeqCst), 1);

    // Byte for byte, under LC_ALL=C: `$`, quotes, backslashes, newlines, non-ASCII.
    let c = container_of("secb--one", "app");
    let expected = [
        (
            "BCRYPT",
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        ),
        ("PG_URL", "postgres://app:pa$$w0rd@db:5432/app"),
        ("QUOTED", QUOTED),
        ("PEM", PEM),
        ("PW_A", PW_A),
        ("PW_B", PW_B),
        ("PW_C", PW_C),
        ("BAO_KEY", BAO_VALUE),
    ];
    for (var, want) in expected {
        assert_eq!(
            String::from_utf8_lossy(&printenv(&c, var)),
            want,
            "{var} changed on its way"
        );
    }

    // Kept: under KINFRA_HOME, mode 0600, never in the worktree; status names each
    // reference, never a value.
    let kept = env.kinfra_home.join("sandbox/secrets/secb--one.json");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&kept)
        .expect("kept file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "kept file mode {mode:o}");
    for (path, bytes) in snapshot(&wt) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("0xSECB"),
            "a value in the worktree: {}",
            path.display()
        );
    }
    let status = env.kinfra(&wt, &["secrets", "status", "--json"]);
    status.success();
    let s: serde_json::Value = serde_json::from_str(&status.stdout).expect("json");
    let refs = s["references"].as_array().expect("references");
    assert_eq!(refs.len(), 8, "{s}");
    let by_var = |v: &str| refs.iter().find(|r| r["var"] == v).expect("listed").clone();
    assert_eq!(by_var("PW_A")["kind"], "op");
    assert_eq!(by_var("PW_A")["cached"], true);
    assert!(by_var("PW_A")["since"].is_string());
    assert_eq!(by_var("BAO_KEY")["kind"], "bao");
    assert_eq!(by_var("PEM")["kind"], "dotenv");
    assert_eq!(by_var("QUOTED")["kind"], "env");
    assert_eq!(by_var("BCRYPT")["kind"], "literal");
    assert_eq!(by_var("BCRYPT")["cached"], false);

    // Second start: nothing asked again, the same bytes arrive.
    let up2 = env.kinfra_env(&wt, &["sandbox", "up", "--no-wait"], &[("LC_ALL", "C")]);
    up2.success().stderr_has("6 secret(s) reused");
    assert_eq!(env.op_calls(), calls, "op asked again");
    assert_eq!(bao.reads.load(std::sync::atomic::Ordering::SeqCst), 1);
    let c = container_of("secb--one", "app");
    assert_eq!(printenv(&c, "PW_B"), PW_B.as_bytes());

    // Never printed: not by up, compose -- config, env, status, nor the MCP answer.
    let config = env.kinfra(&wt, &["sandbox", "compose", "--", "config"]);
    config.success().stdout_has("***");
    let env_json = env.kinfra(&wt, &["env", "--json"]);
    let sandbox_status = env.kinfra(&wt, &["sandbox", "status", "--json"]);
    for run in [&up, &up2, &status, &config, &env_json, &sandbox_status] {
        for line in expected
            .iter()
            .filter(|(v, _)| !matches!(*v, "BCRYPT" | "PG_URL"))
            .flat_map(|(_, want)| want.lines())
            .filter(|l| l.chars().count() >= 8)
        {
            assert!(
                !run.stdout.contains(line) && !run.stderr.contains(line),
                "{line:?} printed\n{run}"
            );
        }
        assert!(
            !run.stdout.contains("0xSECB") && !run.stderr.contains("0xSECB"),
            "{run}"
        );
    }

    // A changed reference resolves again (that item alone); the others stay kept.
    let before_kept = std::fs::read(&kept).expect("kept");
    std::fs::write(
        repo.join("kinfra.toml"),
        REF_TOML.replace("secb-two/gamma", "secb-two/delta"),
    )
    .expect("write");
    env.op_item_in(
        "secb-vault",
        "secb-two",
        &[("gamma", PW_C), ("delta", "delta-0xSECB")],
    );
    env.kinfra(&wt, &["sandbox", "up", "--no-wait"]).success();
    let now = env.op_calls();
    assert_eq!(
        &now[calls.len()..],
        "item get secb-two --vault secb-vault --format json\n"
    );

    // Refresh while 1Password is signed out and OpenBao is gone: one failure naming
    // every blocked reference, nothing started, the kept values unchanged.
    std::fs::remove_file(env.op_dir().join("signed_in")).expect("sign out");
    let kept_now = std::fs::read(&kept).expect("kept");
    assert_ne!(kept_now, before_kept);
    env.kinfra(&wt, &["sandbox", "down"]).success();
    let r = env.kinfra(&wt, &["sandbox", "up", "--no-wait", "--refresh-secrets"]);
    r.code(7)
        .stderr_has("PW_A (op://secb-vault/secb-one/alpha), PW_B (op://secb-vault/secb-one/beta)")
        .stderr_has("PW_C (op://secb-vault/secb-two/delta)")
        .stderr_has("BAO_KEY (bao://secret/secb/dev#api-key)")
        .stderr_has("QUOTED (env://SECB_QUOTED)")
        .stderr_has("not signed in");
    assert!(
        crate::harness::running_services("secb--one").is_empty(),
        "{r}"
    );
    assert_eq!(std::fs::read(&kept).expect("kept"), kept_now);

    // Destroy removes the kept values.
    env.kinfra(&wt, &["sandbox", "destroy", "--force"])
        .success();
    assert!(!kept.exists(), "kept values outlived the instance");
}
