//! A project that is not KTRDR, described by its own `kinfra.toml`: env-variable
//! ports, two gate checks (http, JSON length at a pointer), a post-start script from
//! the repository, a secret through the fake `op`, files carried into every new
//! worktree. Two sandboxes side by side, with the project's own port held.

use std::path::{Path, PathBuf};

use crate::docker_env;
use crate::harness::{Env, docker, docker_objects, git, project};

const COMPOSE: &str = r#"services:
  web:
    image: busybox:1.35
    command: ["sh", "-c", "cp -r /site/. /www/ && exec httpd -f -p 8080 -h /www"]
    environment:
      SHOP_TOKEN: ${SHOP_TOKEN:-insecure}
    ports:
      - "${SHOP_WEB_PORT:-8080}:8080"
    volumes:
      - ./site:/site:ro
      - shop_data:/www
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 1s
      timeout: 2s
      retries: 30
volumes:
  shop_data:
"#;

const KINFRA_TOML: &str = r#"name = "Shop"
compose_file = "compose.yaml"
max_slot = 4

[[ports]]
key = "SHOP_WEB_PORT"
local_prod = 18080
base = 18080
step = 1

[[links]]
label = "web"
port = "SHOP_WEB_PORT"
url = "http://localhost:{port}/"

[[secrets]]
field = "token"
var = "SHOP_TOKEN"

[[gate]]
name = "web"
service = "web"
http = { port = "SHOP_WEB_PORT" }

[[gate]]
name = "items"
service = "web"
requires = "web"
json_length = { port = "SHOP_WEB_PORT", path = "/api/items", pointer = "/items", min = 2 }

[[carry]]
from = ".env.local"

[[carry]]
from = "config/settings.example.json"
to = "config/settings.json"

[post_start]
name = "seed"
service = "web"
script = "scripts/seed.sh"
"#;

/// A bare origin holding the shop project, and a clone of it at `work/shop`.
fn shop(env: &Env) -> PathBuf {
    project(
        env,
        "shop",
        &[
            ("compose.yaml", COMPOSE),
            ("kinfra.toml", KINFRA_TOML),
            ("site/index.html", "<h1>shop</h1>\n"),
            ("config/settings.example.json", "{\"example\": true}\n"),
            ("site/api/items", "{\"items\": [1]}\n"),
            // Seeding adds the second item the gate's JSON check waits for.
            (
                "scripts/seed.sh",
                "echo '{\"items\": [1, 2]}' > /www/api/items && echo seeded\n",
            ),
        ],
    )
}

fn worktree(repo: &Path, name: &str) -> PathBuf {
    repo.parent()
        .expect("shop project")
        .join(format!("shop--{name}"))
}

#[test]
fn a_project_described_by_its_kinfra_toml_runs_two_sandboxes() {
    let env = docker_env!();
    let repo = shop(&env);

    // A description with an unknown key is refused, naming the file and the line.
    let good = std::fs::read_to_string(repo.join("kinfra.toml")).unwrap();
    std::fs::write(repo.join("kinfra.toml"), format!("{good}\nwebb_port = 1\n")).unwrap();
    env.kinfra(&repo, &["sandbox", "list"])
        .code(2)
        .stderr_has("kinfra.toml")
        .stderr_has("line")
        .stderr_has("webb_port")
        .stderr_has("docs/STACKS.md");
    std::fs::write(repo.join("kinfra.toml"), &good).unwrap();

    // The developer's own stack holds the project's local-prod port; an untracked
    // local file waits in the main clone to be carried along.
    let _held = std::net::TcpListener::bind(("127.0.0.1", 18080)).expect("hold 18080");
    std::fs::write(repo.join(".env.local"), "LOCAL=1\n").unwrap();

    // Its names, its slots (max 4), its ports.
    env.kinfra(&repo, &["sandbox", "create", "a", "--slot", "5"])
        .code(2)
        .stderr_has("slots 1 to 4");
    env.kinfra(&repo, &["sandbox", "create", "a"]).success();
    env.kinfra(&repo, &["sandbox", "create", "b"]).success();
    let (a, b) = (worktree(&repo, "a"), worktree(&repo, "b"));
    for wt in [&a, &b] {
        assert_eq!(
            std::fs::read_to_string(wt.join(".env.local")).unwrap(),
            "LOCAL=1\n",
            "untracked file carried from the main clone"
        );
        assert_eq!(
            std::fs::read_to_string(wt.join("config/settings.json")).unwrap(),
            "{\"example\": true}\n",
            "tracked example copied"
        );
    }
    // A carried file is the worktree's own: never overwritten, and not lost work.
    std::fs::write(a.join("config/settings.json"), "{\"mine\": 1}\n").unwrap();
    let env_a = std::fs::read_to_string(a.join(".env.sandbox")).unwrap();
    assert!(env_a.contains("SHOP_WEB_PORT=18081\n"), "{env_a}");
    assert!(env_a.contains("COMPOSE_PROJECT_NAME=shop--a\n"), "{env_a}");
    assert!(
        std::fs::read_to_string(b.join(".env.sandbox"))
            .unwrap()
            .contains("SHOP_WEB_PORT=18082\n")
    );

    // Secrets from its own 1Password item; the gate waits for the seeded data.
    env.op_sign_in();
    env.op_item("shop-sandbox-dev", &[("token", "t0ken-a")]);
    for wt in [&a, &b] {
        env.kinfra(wt, &["sandbox", "up"])
            .success()
            .stderr_has("1 secret(s) loaded")
            .stderr_has("Running post-start step: seed")
            .stderr_has("items")
            .stderr_has("is up and ready");
    }
    let token = docker(&[
        "exec",
        &crate::harness::container_of("shop--a", "web"),
        "sh",
        "-c",
        "echo $SHOP_TOKEN",
    ]);
    assert_eq!(token.trim(), "t0ken-a");
    env.kinfra(&a, &["url", "web"])
        .success()
        .stdout_has("http://localhost:18081/");
    let list = env.kinfra(&repo, &["sandbox", "list", "--json"]).json();
    let states: Vec<&str> = list["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["running", "running"], "{list}");

    // b's carried files are what kinfra copied: not work. a's changed settings are.
    env.kinfra(&b, &["sandbox", "destroy", "-y"]).success();
    env.kinfra(&a, &["sandbox", "destroy", "-y"])
        .code(5)
        .stderr_has("config/settings.json");
    assert!(a.join("config/settings.json").is_file());
    env.kinfra(&a, &["sandbox", "destroy", "-y", "--force"])
        .success();
    for wt in [&a, &b] {
        assert!(!wt.exists());
    }
    assert!(docker_objects("shop--a").is_empty() && docker_objects("shop--b").is_empty());
}

#[test]
fn stack_init_drafts_a_description_and_stack_check_names_each_problem() {
    let env = docker_env!();
    // The shop project's own description passes.
    let repo = shop(&env);
    env.kinfra(&repo, &["stack", "check"])
        .success()
        .stdout_has("0 error(s)");
    // A project written for one instance only.
    let dir = env.work.join("solo");
    std::fs::create_dir_all(&dir).expect("mkdir");
    git(&dir, &["init", "-q"]);
    let net = format!("kinfra-test-ext-{}", std::process::id());
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "services:\n  web:\n    image: busybox:1.35\n    container_name: solo-web\n    ports:\n      - \"8080:80\"\n      - \"${{API_PORT:-9000}}:9000\"\n    environment:\n      KEY: ${{NEEDED}}\nnetworks:\n  ext:\n    external: true\n    name: {net}\n"
        ),
    )
    .expect("write");
    env.kinfra(&dir, &["stack", "init"])
        .success()
        .stderr_has("wrote");
    let draft = std::fs::read_to_string(dir.join("kinfra.toml")).expect("kinfra.toml");
    assert!(
        draft.contains("compose_file = \"docker-compose.yml\""),
        "{draft}"
    );
    assert!(
        draft.contains("key = \"API_PORT\"") && draft.contains("local_prod = 9000"),
        "{draft}"
    );
    assert!(draft.contains("fixed host port \"8080:80\""), "{draft}");
    // Never overwritten.
    env.kinfra(&dir, &["stack", "init"])
        .code(2)
        .stderr_has("left as it is");
    let r = env.kinfra(&dir, &["stack", "check"]);
    r.code(2)
        .stdout_has("\"8080:80\" is fixed")
        .stdout_has("container_name \"solo-web\"")
        .stdout_has("reads NEEDED, which nothing sets")
        .stdout_has(&format!("external network {net} does not exist"));
    // --create makes the missing network (asked at a terminal otherwise).
    env.kinfra(&dir, &["stack", "check", "--create"])
        .code(2)
        .stderr_has(&format!("created network {net}"));
    assert!(
        !docker(&["network", "ls", "-q", "--filter", &format!("name=^{net}$")])
            .trim()
            .is_empty()
    );
    env.kinfra(&dir, &["stack", "check"])
        .code(2)
        .stdout_has("2 error(s)");
    // `up` says the same before compose meets it.
    env.kinfra(&dir, &["sandbox", "init"]).success();
    let up = env.kinfra(&dir, &["sandbox", "up", "--no-secrets", "--no-wait"]);
    up.stderr_has("container_name \"solo-web\"");
    let _ = env.kinfra(&dir, &["sandbox", "down"]);
    docker(&["network", "rm", &net]);
}
