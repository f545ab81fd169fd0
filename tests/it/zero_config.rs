//! A compose project with no kinfra.toml at all: fixed host ports, a healthcheck, a
//! volume. kinfra learns it from compose's own model, gives every instance its own
//! ports (never the project's, never another instance's, never one held), runs two
//! sandboxes beside a process holding the project's ports, fails a broken one naming
//! its service with its data kept, and destroys without a trace.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;

use crate::docker_env;
use crate::harness::{Env, assert_marked, docker_objects, git, mark_volumes, project};

// The project's own ports: high enough to be free on a test machine, held by this
// test as a developer's plain `docker compose up` would hold them.
const WEB: u16 = 18480;
const DB: u16 = 18432;

fn compose() -> String {
    format!(
        r#"services:
  web:
    image: busybox:1.35
    command: ["sh", "-c", "echo \"hi from $$(hostname)\" > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports:
      - "{WEB}:80"
    volumes:
      - pages:/www
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/"]
      interval: 1s
      timeout: 2s
      retries: 20
  db:
    image: busybox:1.35
    command: ["httpd", "-f", "-p", "5432"]
    ports:
      - "127.0.0.1:{DB}:5432"
    stop_grace_period: 1s
volumes:
  pages:
"#
    )
}

/// `GET /` on localhost:port, the body (empty when nothing answers).
fn http_get(port: u16) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn env_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(".env.sandbox")).expect(".env.sandbox")
}

#[test]
fn a_project_without_configuration_runs_two_sandboxes_beside_its_own_ports() {
    let env = docker_env!();
    let repo = project(&env, "depot", &[("compose.yaml", &compose())]);
    // The developer's own stack holds the project's ports.
    let _web = TcpListener::bind(("127.0.0.1", WEB)).expect("hold the web port");
    let _db = TcpListener::bind(("127.0.0.1", DB)).expect("hold the db port");

    // create: worktree, slot and ports at once, named after the clone.
    env.kinfra(&repo, &["sandbox", "create", "a"])
        .success()
        .stdout_has(&format!("web:80     http://localhost:{}", WEB + 100));
    env.kinfra(&repo, &["sandbox", "create", "b"]).success();
    let (a, b) = (env.work.join("depot--a"), env.work.join("depot--b"));
    let (env_a, env_b) = (env_of(&a), env_of(&b));
    assert!(
        env_a.contains(&format!("PORT_WEB_80={}\n", WEB + 100))
            && env_a.contains(&format!("PORT_DB_5432={}\n", DB + 100)),
        "{env_a}"
    );
    assert!(
        env_b.contains(&format!("PORT_WEB_80={}\n", WEB + 200))
            && env_b.contains(&format!("PORT_DB_5432={}\n", DB + 200)),
        "{env_b}"
    );
    // The project's files are untouched: the copy compose runs is in kinfra's home.
    assert_eq!(git(&a, &["status", "--porcelain"]).trim(), "");
    assert!(
        std::fs::read_to_string(a.join("compose.yaml"))
            .expect("compose file")
            .contains(&format!("\"{WEB}:80\""))
    );

    // Both start beside the held ports; no 1Password item is asked for (none mapped).
    for wt in [&a, &b] {
        let up = env.kinfra(wt, &["sandbox", "up"]);
        up.success()
            .stderr_has("✓ web")
            .stderr_has("✓ db")
            .stderr_has("is up and ready");
        assert!(!up.stderr.contains("1Password"), "{}", up.stderr);
    }
    assert!(http_get(WEB + 100).contains("hi from"), "web of a answers");
    assert!(http_get(WEB + 200).contains("hi from"), "web of b answers");
    let list = env.kinfra(&repo, &["sandbox", "list", "--json"]).json();
    let rows = list["instances"].as_array().expect("instances");
    assert_eq!(rows.len(), 2, "{list}");
    for r in rows {
        assert_eq!(r["project"], "depot", "{list}");
        assert_eq!(r["state"], "running", "{list}");
    }
    env.kinfra(&a, &["url", "web"])
        .success()
        .stdout_has(&format!("http://localhost:{}", WEB + 100));

    // Ports stay what they were across starts.
    env.kinfra(&a, &["sandbox", "down"]).success();
    env.kinfra(&a, &["sandbox", "up"]).success();
    assert_eq!(env_of(&a), env_a);

    // A broken change in b: its web never turns healthy. The start fails naming the
    // service, and the volume that held data before is kept.
    let vols = mark_volumes("depot--b");
    env.kinfra(&b, &["sandbox", "down"]).success();
    let broken = compose().replace("\"http://127.0.0.1:80/\"]", "\"http://127.0.0.1:81/\"]");
    assert_ne!(broken, compose());
    std::fs::write(b.join("compose.yaml"), broken).expect("break b");
    // Docker calls it unhealthy after 20 failed checks, each a `docker exec`, slow
    // under load; the gate stops as soon as it does, so the bound costs nothing.
    env.kinfra(&b, &["sandbox", "up", "--timeout", "180"])
        .code(2)
        .stderr_has("✗ web")
        .stderr_has("unhealthy")
        .stderr_has("startability gate failed: web")
        .stderr_has("kept (data from before this start)");
    assert_marked(&vols, &"after the failed start of depot--b");

    // destroy leaves nothing: worktrees, containers, volumes, networks, the copies,
    // the recorded ports. Each had a resolved copy to remove, and objects in Docker.
    let copy = |id: &str| {
        env.kinfra_home
            .join("sandbox/compose")
            .join(format!("{id}.json"))
    };
    for id in ["depot--a", "depot--b"] {
        assert!(
            copy(id).is_file(),
            "{id} has a resolved copy before destroy"
        );
        assert!(
            !docker_objects(id).is_empty(),
            "{id} has Docker objects before destroy"
        );
    }
    env.kinfra(&a, &["sandbox", "destroy", "-y"]).success();
    env.kinfra(&b, &["sandbox", "destroy", "-y"])
        .code(5)
        .stderr_has("compose.yaml");
    env.kinfra(&repo, &["sandbox", "destroy", "b", "-y", "--force"])
        .success();
    for (wt, id) in [(&a, "depot--a"), (&b, "depot--b")] {
        assert!(!wt.exists(), "{} is gone", wt.display());
        assert!(docker_objects(id).is_empty(), "{:?}", docker_objects(id));
        assert!(!copy(id).exists(), "the resolved copy of {id} is gone");
    }
    let side =
        std::fs::read_to_string(env.kinfra_home.join("sandbox/kinfra.json")).expect("kinfra.json");
    assert!(!side.contains("depot--"), "{side}");
}

#[test]
fn a_zero_configuration_project_gets_the_same_model_from_both_compose_variants() {
    let env = docker_env!();
    // Ports written every way compose takes them, a service under a profile, and an
    // override file that a plain `docker compose up` would merge.
    let file = "services:\n  web:\n    image: busybox:1.35\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports:\n      - \"${WEB_PORT:-18580}:80\"\n      - target: 81\n        published: 18581\n      - \"82\"\n  tools:\n    image: busybox:1.35\n    profiles: [\"tools\"]\n    ports: [\"18590:90\"]\n";
    let over = "services:\n  web:\n    environment:\n      FROM_OVERRIDE: \"yes\"\n";
    let repo = project(
        &env,
        "zc",
        &[("compose.yaml", file), ("compose.override.yaml", over)],
    );
    env.kinfra(&repo, &["sandbox", "create", "m"]).success();
    let wt = env.work.join("zc--m");
    let e = env_of(&wt);
    assert!(e.contains("PORT_WEB_80=18680\n"), "{e}");
    assert!(e.contains("PORT_WEB_81=18681\n"), "{e}");
    // The ephemeral port (82) needs nothing; the profiled service does not run.
    assert!(
        !e.contains("PORT_WEB_82") && !e.contains("PORT_TOOLS"),
        "{e}"
    );
    env.kinfra(&wt, &["sandbox", "up"]).success();
    let web = crate::harness::container_of("zc--m", "web");
    let envs = crate::harness::docker(&["inspect", "-f", "{{.Config.Env}}", &web]);
    assert!(envs.contains("FROM_OVERRIDE=yes"), "{envs}");
    let published = crate::harness::docker(&["port", &web]);
    assert!(
        published.contains(":18680") && published.contains(":18681"),
        "{published}"
    );
    // No health check: `up` is done once the container runs, and httpd listens a
    // moment later (later still under load).
    crate::harness::eventually("web answers on 18680", || !http_get(18680).is_empty());
    assert!(!http_get(18680).is_empty(), "web answers on its own port");
    env.kinfra(&wt, &["sandbox", "destroy", "-y"]).success();
    assert!(docker_objects("zc--m").is_empty());
}

#[test]
fn stack_check_on_a_project_without_configuration_accepts_its_fixed_ports() {
    let env = Env::new();
    let repo = project(&env, "plain", &[("compose.yaml", &compose())]);
    env.kinfra(&repo, &["stack", "check"])
        .success()
        .stdout_has("0 error(s)");
}

#[test]
fn kinfra_setup_clones_any_repository_and_starts_its_local_prod() {
    let env = docker_env!();
    project(&env, "depot", &[("compose.yaml", &compose())]);
    let origin = env.base().join("origins/depot.git");
    let dest = env.work.join("depot-prod");
    let r = env.setup(
        &env.work,
        &[
            "--non-interactive",
            &format!("--repo-url={}", origin.display()),
            &format!("--path={}", dest.display()),
            "--start",
        ],
        &[],
    );
    // Before the clone nothing KTRDR is assumed; after it, the compose file speaks.
    r.success()
        .stderr_has("looked up after the clone")
        .stderr_has("the repository's stack: depot (learned from its compose file)")
        .stderr_has("nothing for uv to sync")
        .stderr_has("maps no secrets")
        .stderr_has("no shared directories")
        .stderr_has("local-prod is up and ready")
        // local-prod, production-like: the compose file's own ports.
        .stderr_has(&format!("web:80      http://localhost:{WEB}"));
    assert!(!r.stderr.contains("ktrdr"), "{r}");
    assert!(
        http_get(WEB).contains("hi from"),
        "local-prod's web answers"
    );
    assert_eq!(
        env.registry()["local_prod"]["instance_id"],
        "depot-prod",
        "{r}"
    );
    env.kinfra(&env.work, &["local-prod", "destroy", "--force"])
        .success();
    assert!(docker_objects("depot-prod").is_empty());
    assert!(dest.join("compose.yaml").is_file(), "the clone stays");
}

#[test]
fn a_compose_file_compose_cannot_read_is_a_clear_error_and_starts_nothing() {
    let env = docker_env!();
    let repo = project(
        &env,
        "broken",
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: busybox:1.35\n    ports: \"not a list\n",
        )],
    );
    // The worktree is made; its ports wait for a compose file compose can read.
    env.kinfra(&repo, &["sandbox", "create", "x"])
        .success()
        .stderr_has("host ports are chosen at the first `up`");
    let wt = env.work.join("broken--x");
    env.kinfra(&wt, &["sandbox", "up"])
        .code(2)
        .stderr_has("compose could not read")
        .stderr_has("compose.yaml")
        .stderr_has("hint:");
    assert!(docker_objects("broken--x").is_empty());
    env.kinfra(&wt, &["sandbox", "destroy", "-y"]).success();
    assert!(!wt.exists());
}

#[test]
fn a_repository_named_like_a_steering_variable_is_never_refused_for_a_prefix_kinfra_made_up() {
    // `docker-shop` would make the prefix DOCKER_SHOP, whose variables steer docker;
    // the project chose no prefix, so kinfra derives a safe one instead of refusing.
    let env = Env::new();
    let repo = project(&env, "docker-shop", &[("compose.yaml", &compose())]);
    env.kinfra(&repo, &["stack", "check"])
        .success()
        .stdout_has("0 error(s)");
    let env = docker_env!();
    let repo = project(&env, "docker-shop", &[("compose.yaml", &compose())]);
    env.kinfra(&repo, &["sandbox", "create", "a"]).success();
    let wt = env.work.join("docker-shop--a");
    let vars = env_of(&wt);
    assert!(vars.contains("_DOCKER_SHOP_SHARED_DIR="), "{vars}");
    assert!(!vars.contains("\nDOCKER_"), "{vars}");
    env.kinfra(&wt, &["sandbox", "destroy", "-y"]).success();
}

#[test]
fn up_prints_the_ports_of_services_the_compose_file_gained() {
    // `up` chooses a port for a service added since the last start; what it
    // prints is the instance it started, not the one it was asked to start.
    let env = docker_env!();
    let base = "services:\n  web:\n    image: busybox:1.35\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports:\n      - \"18590:80\"\n    stop_grace_period: 1s\n";
    let repo = project(&env, "gains", &[("compose.yaml", base)]);
    env.kinfra(&repo, &["sandbox", "create", "a"]).success();
    let wt = env.work.join("gains--a");
    env.kinfra(&wt, &["sandbox", "up"]).success();
    let grown = format!(
        "{base}  extra:\n    image: busybox:1.35\n    command: [\"httpd\", \"-f\", \"-p\", \"81\"]\n    ports:\n      - \"18591:81\"\n    stop_grace_period: 1s\n"
    );
    std::fs::write(wt.join("compose.yaml"), grown).expect("write compose file");
    let up = env.kinfra(&wt, &["sandbox", "up"]);
    up.success();
    let vars = env_of(&wt);
    let port = vars
        .lines()
        .find_map(|l| l.strip_prefix("PORT_EXTRA_81="))
        .unwrap_or_else(|| panic!("the new port recorded: {vars}"));
    assert!(
        up.stdout.contains(&format!("extra:81   localhost:{port}")),
        "the new service's port is printed\n{up}"
    );
    env.kinfra(&wt, &["sandbox", "down"]).success();
    env.kinfra(&wt, &["sandbox", "destroy", "-y", "--force"])
        .success();
}
