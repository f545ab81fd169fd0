//! A project onboarded with devops-ai's Python `kinfra` (`.devops-ai/infra.toml`,
//! its compose file as devops-ai's `init` rewrote it) works with this kinfra
//! unchanged, and its compose file is never edited.

use crate::docker_env;
use crate::harness::{container_of, docker, project};

const COMPOSE: &str = r#"services:
  api:
    image: busybox:1.35
    command: ["sh", "-c", "mkdir -p /www/api/v1 && echo ok > /www/api/v1/health && exec httpd -f -p 8080 -h /www"]
    environment:
      APP_ENV: ${APP_ENV:-unset}
    ports:
      - "${SHOP_WEB_PORT:-31080}:8080"
    stop_grace_period: 1s
"#;

const INFRA: &str = r#"[project]
name = "shop"
prefix = "shop"

[sandbox]
compose_file = "compose.yml"

[sandbox.ports]
SHOP_WEB_PORT = 31080

[sandbox.health]
endpoint = "/api/v1/health"
port_var = "SHOP_WEB_PORT"
timeout = 60

[sandbox.env]
APP_ENV = "sandbox"

[sandbox.files]
"config.yaml" = "config.example.yaml"
"#;

#[test]
fn a_devops_ai_project_runs_from_its_infra_toml() {
    let env = docker_env!();
    let repo = project(
        &env,
        "shop",
        &[
            ("compose.yml", COMPOSE),
            (".devops-ai/infra.toml", INFRA),
            ("config.example.yaml", "debug: true\n"),
        ],
    );
    env.kinfra(&repo, &["stack", "check"])
        .success()
        .stdout_has("devops-ai's, read as kinfra's");
    env.kinfra(&repo, &["sandbox", "create", "one"])
        .success()
        .stderr_has("infra.toml");
    let wt = repo.parent().expect("parent").join("shop--one");
    assert_eq!(
        std::fs::read_to_string(wt.join("config.yaml")).expect("carried"),
        "debug: true\n"
    );
    // Slot 1 is base + 1, as devops-ai numbers it; its health URL is the gate.
    let r = env.kinfra(&wt, &["sandbox", "up"]);
    r.success().stderr_has("health");
    let id = container_of("shop--one", "api");
    assert!(docker(&["port", &id, "8080"]).contains(":31081"));
    let envs = docker(&[
        "inspect",
        "--format",
        "{{range .Config.Env}}{{println .}}{{end}}",
        &id,
    ]);
    assert!(envs.contains("APP_ENV=sandbox"), "{envs}");
    assert_eq!(
        std::fs::read_to_string(wt.join("compose.yml")).expect("read"),
        COMPOSE,
        "the compose file is never edited"
    );
    env.kinfra(&wt, &["sandbox", "destroy", "--force"])
        .success();
}
