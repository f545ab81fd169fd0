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
    assert!(envs.contains(&format!("DB_PASSWORD={PASSWORD}")), "{envs}");
    assert!(envs.contains(&format!("JWT_SECRET={JWT}")), "{envs}");

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
        envs.contains("DB_PASSWORD=ktrdr-insecure-default"),
        "{envs}"
    );
}
