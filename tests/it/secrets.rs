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
