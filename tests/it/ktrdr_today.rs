//! KTRDR's tree as it is today (commit 2c5c7173, its compose file as shipped) under
//! kinfra's built-in description, and the kinfra.toml keys that description needs:
//! literal variables and secrets per kind, by field and by reference.

use std::collections::BTreeMap;
use std::path::Path;

use crate::docker_env;
use crate::harness::{container_of, docker, git, project};

const TODAY: &str = include_str!("../fixtures/ktrdr-2c5c7173/docker-compose.sandbox.yml");
const PASSWORD: &str = "pw-0xTODAY-db";
const JWT: &str = "jwt-0xTODAY-signing";
const FRED: &str = "fred-0xTODAY-key";
const PROD_PASSWORD: &str = "pw-0xTODAY-prod";

fn env_file(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(dir.join(".env.sandbox"))
        .expect(".env.sandbox")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The instance's own host ports, from its `.env.sandbox` (fixed shared ports left
/// out: they are everyone's).
fn own_ports(dir: &Path) -> BTreeMap<String, u16> {
    env_file(dir)
        .into_iter()
        .filter(|(k, _)| k.ends_with("_PORT") || k.contains("_PORT_"))
        .filter(|(k, _)| {
            ![
                "KTRDR_JAEGER_UI_PORT",
                "KTRDR_GRAFANA_PORT",
                "KTRDR_PROMETHEUS_PORT",
            ]
            .contains(&k.as_str())
        })
        .map(|(k, v)| (k, v.parse().expect("a port")))
        .collect()
}

/// The lines of `compose config` output that set `var`.
fn settings<'a>(config: &'a str, var: &str) -> Vec<&'a str> {
    config
        .lines()
        .filter(|l| {
            l.trim_start().starts_with(&format!("{var}:")) || l.contains(&format!("{var}="))
        })
        .collect()
}

#[test]
fn todays_ktrdr_tree_runs_on_its_built_in_description() {
    let env = docker_env!();
    let repo = project(
        &env,
        "ktrdr-today",
        &[("docker-compose.sandbox.yml", TODAY)],
    );
    // The machine's own externals are this test's to make and remove.
    for (kind, name) in [
        ("network", "devops-ai-observability"),
        ("volume", "ktrdr-agent-claude-auth"),
    ] {
        let _ = std::process::Command::new("docker")
            .args([kind, "rm", name])
            .output();
    }
    let _ = std::process::Command::new("docker")
        .args(["rmi", "timescale/timescaledb:latest-pg16"])
        .output();

    // stack check names today's description; the missing externals are errors it
    // can fix, and once they exist the tree is clean.
    let r = env.kinfra(&repo, &["stack", "check"]);
    r.code(2)
        .stdout_has("today's tree")
        .stdout_has("docker network create devops-ai-observability")
        .stdout_has("docker volume create ktrdr-agent-claude-auth");
    env.kinfra(&repo, &["stack", "check", "--create"]).success();
    // The one image it pulls is named until the machine has it (here a stand-in:
    // nothing can be pulled); the agents' image has a prepare step.
    env.kinfra(&repo, &["stack", "check"])
        .success()
        .stdout_has("timescale/timescaledb:latest-pg16, which has no build section");
    docker(&["tag", "busybox:1.35", "timescale/timescaledb:latest-pg16"]);
    let r = env.kinfra(&repo, &["stack", "check"]);
    r.success()
        .stdout_has("0 error(s), 0 warning(s)")
        .stdout_has("shared by every instance on purpose: networks devops-ai-observability");

    // local-prod and two sandboxes: disjoint ports, the agents' included.
    env.kinfra(&repo, &["local-prod", "init"])
        .success()
        .stderr_has("today's tree");
    let a = env.create_sandbox(&repo, "a");
    let b = env.create_sandbox(&repo, "b");
    let mut seen: BTreeMap<u16, String> = BTreeMap::new();
    for dir in [&repo, &a, &b] {
        let ports = own_ports(dir);
        for key in [
            "KTRDR_DESIGN_AGENT_PORT",
            "KTRDR_ASSESSMENT_AGENT_PORT",
            "KTRDR_API_PORT",
        ] {
            assert!(
                ports.contains_key(key),
                "{key} missing in {}",
                dir.display()
            );
        }
        for (k, p) in ports {
            if let Some(first) = seen.insert(p, format!("{} {k}", dir.display())) {
                panic!("port {p} twice: {first} and {} {k}", dir.display());
            }
        }
    }
    assert_eq!(own_ports(&repo)["KTRDR_DESIGN_AGENT_PORT"], 5010);
    assert_eq!(env_file(&repo)["KTRDR_ENV"], "production");
    assert_eq!(env_file(&a)["KTRDR_ENV"], "development");
    assert_eq!(env_file(&a)["KTRDR_JAEGER_UI_PORT"], "46686");

    // The 1Password values reach the variables today's compose file reads.
    env.op_sign_in();
    env.op_item(
        "ktrdr-sandbox-dev",
        &[
            ("db_password", PASSWORD),
            ("jwt_secret", JWT),
            ("fred_api_key", FRED),
        ],
    );
    env.op_item(
        "ktrdr-local-prod",
        &[("db_password", PROD_PASSWORD), ("jwt_secret", JWT)],
    );
    let r = env.kinfra(&a, &["sandbox", "compose", "--", "config"]);
    r.success().stderr_has("3 secret(s) loaded");
    for var in [
        "KTRDR_DB_PASSWORD",
        "POSTGRES_PASSWORD",
        "KTRDR_AUTH_JWT_SECRET",
        "KTRDR_FRED_API_KEY",
    ] {
        let lines = settings(&r.stdout, var);
        assert!(!lines.is_empty(), "{var} not in config\n{r}");
        for l in lines {
            assert!(l.contains("***"), "{var} is not the item's value: {l}\n{r}");
        }
    }
    let r2 = env.kinfra(&repo, &["local-prod", "compose", "--", "config"]);
    r2.success().stderr_has("2 secret(s) loaded");
    for l in settings(&r2.stdout, "KTRDR_DB_PASSWORD") {
        assert!(l.contains("***"), "local-prod: {l}\n{r2}");
    }
    // local-prod's item has no FRED key, and none is asked of it.
    for l in settings(&r2.stdout, "KTRDR_FRED_API_KEY") {
        assert!(!l.contains("***"), "local-prod got a FRED key: {l}");
    }
    for run in [&r, &r2] {
        for s in [PASSWORD, JWT, FRED, PROD_PASSWORD] {
            assert!(
                !run.stdout.contains(s) && !run.stderr.contains(s),
                "secret printed\n{run}"
            );
        }
    }
    assert!(
        env.op_calls().contains("item get ktrdr-local-prod"),
        "{}",
        env.op_calls()
    );

    for wt in [&a, &b] {
        env.kinfra(wt, &["sandbox", "destroy", "--force"]).success();
    }
    env.kinfra(&repo, &["local-prod", "destroy", "--force"])
        .success();
    // Another run's demo of today's tree may use them: left if in use.
    for (kind, name) in [
        ("network", "devops-ai-observability"),
        ("volume", "ktrdr-agent-claude-auth"),
    ] {
        let _ = std::process::Command::new("docker")
            .args([kind, "rm", name])
            .output();
    }
    docker(&["rmi", "timescale/timescaledb:latest-pg16"]);
}

const SHOP_COMPOSE: &str = r#"services:
  web:
    image: busybox:1.35
    command: ["sh", "-c", "exec sleep 3600"]
    environment:
      APP_NAME: ${APP_NAME:-unset}
      APP_ENV: ${APP_ENV:-unset}
      API_KEY: ${API_KEY:-insecure}
      HOST_TOKEN: ${HOST_TOKEN:-insecure}
      DEV_PW: ${DEV_PW:-insecure}
    ports:
      - "${SHOP_PORT:-8080}:8080"
    stop_grace_period: 1s
"#;

const SHOP_TOML: &str = r#"name = "shop"
compose_file = "compose.yaml"

[[ports]]
key = "SHOP_PORT"
local_prod = 31080
base = 31080
step = 1

[env]
APP_NAME = "shop"

[sandbox.env]
APP_ENV = "sandbox"

[sandbox.secrets]
API_KEY = "op://dev-vault/shop-dev/api-key"
HOST_TOKEN = "$SHOP_HOST_TOKEN"
DEV_PW = "dev-only-pw"
"#;

#[test]
fn literal_variables_and_secrets_by_reference_reach_the_containers() {
    let env = docker_env!();
    // The description is untracked in the main clone: it serves every worktree,
    // the same for `create` and for `up` inside the worktree.
    let repo = project(&env, "shop", &[("compose.yaml", SHOP_COMPOSE)]);
    std::fs::write(repo.join("kinfra.toml"), SHOP_TOML).expect("write");
    git(&repo, &["status", "--short"]);
    env.kinfra(&repo, &["sandbox", "create", "one"]).success();
    let wt = repo.parent().expect("parent").join("shop--one");
    let port = env_file(&wt)["SHOP_PORT"].clone();
    assert_eq!(port, "31081", "create took the main clone's description");
    assert_eq!(env_file(&wt)["APP_ENV"], "sandbox");

    env.op_sign_in();
    env.op_item_in("dev-vault", "shop-dev", &[("api-key", "key-0xSHOP-ref")]);
    let up = env.kinfra_env(
        &wt,
        &["sandbox", "up", "--no-wait"],
        &[("SHOP_HOST_TOKEN", "host-0xSHOP-token")],
    );
    up.success();
    let id = container_of("shop--one", "web");
    let envs = docker(&[
        "inspect",
        "--format",
        "{{range .Config.Env}}{{println .}}{{end}}",
        &id,
    ]);
    for want in [
        "APP_NAME=shop",
        "APP_ENV=sandbox",
        "API_KEY=key-0xSHOP-ref",
        "HOST_TOKEN=host-0xSHOP-token",
        "DEV_PW=dev-only-pw",
    ] {
        assert!(envs.contains(want), "{want} missing:\n{envs}");
    }
    // `up` in the worktree published what `create` recorded.
    let published = docker(&["port", &id, "8080"]);
    assert!(published.contains(&format!(":{port}")), "{published}");
    assert!(
        env.op_calls()
            .contains("item get shop-dev --vault dev-vault --format json")
    );
    for s in ["key-0xSHOP-ref", "host-0xSHOP-token"] {
        assert!(!up.stdout.contains(s) && !up.stderr.contains(s), "{up}");
    }

    // The resolved values are kept: a later `up` reuses them (the host variable is
    // gone, 1Password is not asked again).
    let calls = env.op_calls().lines().count();
    let up = env.kinfra(&wt, &["sandbox", "up", "--no-wait"]);
    up.success().stderr_has("2 secret(s) reused");
    assert_eq!(env.op_calls().lines().count(), calls, "op asked again");
    // Resolving again without the host variable: refused before anything starts,
    // naming the reference.
    let up = env.kinfra(&wt, &["sandbox", "up", "--no-wait", "--refresh-secrets"]);
    up.code(7)
        .stderr_has("HOST_TOKEN (env://SHOP_HOST_TOKEN)")
        .stderr_has("SHOP_HOST_TOKEN is not set");
    env.kinfra(&wt, &["sandbox", "destroy", "--force"])
        .success();
}

#[test]
fn a_local_prod_made_on_the_m6_tree_follows_todays_description() {
    let env = docker_env!();
    let m6 = include_str!("../../compose/demo/docker-compose.sandbox.yml");
    let repo = project(&env, "ktrdr-moving", &[("docker-compose.sandbox.yml", m6)]);
    env.kinfra(&repo, &["local-prod", "init"])
        .success()
        .stderr_has("M6 tree");
    let before = env_file(&repo);
    assert!(before.contains_key("KTRDR_WORKER_PORT_8"));
    // The clone moves on to today's tree.
    std::fs::write(repo.join("docker-compose.sandbox.yml"), TODAY).expect("write");

    // Its file lacks today's keys: not corruption (exit 6), the slot's values.
    let s = env.kinfra(&repo, &["local-prod", "status", "--json"]);
    s.success();
    let r = env.kinfra(&repo, &["local-prod", "sync"]);
    r.success()
        .stderr_has("the description changed since this instance last ran")
        .stderr_has("M6 tree")
        .stderr_has("added KTRDR_DESIGN_AGENT_PORT=5010")
        .stderr_has("added KTRDR_ENV=production")
        .stderr_has("dropped KTRDR_WORKER_PORT_8")
        .stderr_has("KTRDR_JAEGER_UI_PORT: 16686 -> 46686");
    let after = env_file(&repo);
    assert_eq!(after["KTRDR_API_PORT"], before["KTRDR_API_PORT"]);
    assert_eq!(after["CREATED_AT"], before["CREATED_AT"]);
    assert!(!after.contains_key("KTRDR_GRAFANA_PORT") || after["KTRDR_GRAFANA_PORT"] == "43000");
    env.kinfra(&repo, &["local-prod", "sync"])
        .success()
        .stderr_has("nothing to change");
    // Under the description it now follows, a key removed by hand is an edit.
    let text = std::fs::read_to_string(repo.join(".env.sandbox")).expect("read");
    let edited: String = text
        .lines()
        .filter(|l| !l.starts_with("KTRDR_DB_PORT="))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(repo.join(".env.sandbox"), &edited).expect("write");
    env.kinfra(&repo, &["local-prod", "status"])
        .code(6)
        .stderr_has("KTRDR_DB_PORT is missing");
    assert_eq!(
        std::fs::read_to_string(repo.join(".env.sandbox")).expect("read"),
        edited
    );
}
