//! What runs beside an instance's compose stack: a shared service started once for
//! every instance, prepare steps before compose, local-prod's host services, and
//! the consent the repository's host commands need.

use std::path::{Path, PathBuf};

use crate::docker_env;
use crate::harness::{Env, docker, project};

const APP: &str = r#"services:
  app:
    image: busybox:1.35
    command: ["sh", "-c", "exec sleep 3600"]
    ports:
      - "${APP_PORT:-8080}:8080"
    stop_grace_period: 1s
"#;

const OBS: &str = r#"services:
  collector:
    image: busybox:1.35
    command: ["sh", "-c", "exec sleep 3600"]
    stop_grace_period: 1s
"#;

fn toml(extra: &str) -> String {
    format!(
        "name = \"beside\"\ncompose_file = \"compose.yaml\"\n\n[[ports]]\nkey = \"APP_PORT\"\nlocal_prod = 31480\nbase = 31480\nstep = 1\n{extra}"
    )
}

fn wt(repo: &Path, name: &str) -> PathBuf {
    repo.parent()
        .expect("parent")
        .join(format!("beside--{name}"))
}

fn shared_containers(project: &str) -> Vec<String> {
    docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn a_shared_service_starts_once_for_two_sandboxes() {
    let env = docker_env!();
    let text = toml(
        "\n[[shared]]\nname = \"obs\"\ncompose_file = \"shared/obs.yaml\"\nproject = \"kinfra-test-obs\"\n",
    );
    let repo = project(
        &env,
        "beside",
        &[
            ("compose.yaml", APP),
            ("shared/obs.yaml", OBS),
            ("kinfra.toml", &text),
        ],
    );
    env.kinfra(&repo, &["shared", "status"])
        .success()
        .stdout_has("not started");
    env.kinfra(&repo, &["sandbox", "create", "a"]).success();
    let up = env.kinfra(&wt(&repo, "a"), &["sandbox", "up", "--no-wait"]);
    up.success()
        .stderr_has("Starting shared service obs")
        .stderr_has("was not running: started it");
    // One command from nothing to a running sandbox.
    let up = env.kinfra(&repo, &["sandbox", "create", "b", "--up"]);
    up.success().stderr_has("beside--b is up and ready");
    assert!(!up.stderr.contains("Starting shared service"), "{up}");
    assert_eq!(shared_containers("kinfra-test-obs").len(), 1);
    env.kinfra(&wt(&repo, "b"), &["sandbox", "status"])
        .success()
        .stdout_has("shared services")
        .stdout_has("running (1)");
    // An instance's down leaves it for the others.
    env.kinfra(&wt(&repo, "a"), &["sandbox", "down"]).success();
    assert_eq!(shared_containers("kinfra-test-obs").len(), 1);
    let s = env.kinfra(&repo, &["shared", "status", "--json"]);
    assert_eq!(s.success().json()[0]["running"], 1);
    env.kinfra(&repo, &["shared", "down"])
        .success()
        .stderr_has("stopped obs");
    assert!(shared_containers("kinfra-test-obs").is_empty());
    env.kinfra(&repo, &["shared", "up", "nope"])
        .code(2)
        .stderr_has("it declares: obs");
    for n in ["a", "b"] {
        env.kinfra(&wt(&repo, n), &["sandbox", "destroy", "--force"])
            .success();
    }
}

#[test]
fn prepare_steps_build_a_missing_image_and_stop_a_start_when_they_fail() {
    let env = docker_env!();
    let _ = std::process::Command::new("docker")
        .args(["rmi", "-f", "kinfra-test-prep:dev"])
        .output();
    let compose = APP.replace("busybox:1.35", "kinfra-test-prep:dev");
    let text = toml(
        "\n[[prepare]]\nname = \"app image\"\nimage = \"kinfra-test-prep:dev\"\ndockerfile = \"docker/Dockerfile.app\"\n\n[[prepare]]\nname = \"marker\"\ncommand = [\"sh\", \"-c\", \"echo prepared > prepared.txt\"]\n",
    );
    let repo = project(
        &env,
        "beside",
        &[
            ("compose.yaml", &compose),
            (
                "docker/Dockerfile.app",
                "FROM busybox:1.35\nRUN echo built > /built\n",
            ),
            ("kinfra.toml", &text),
        ],
    );
    env.kinfra(&repo, &["sandbox", "create", "p"]).success();
    let w = wt(&repo, "p");

    // The command step is the repository's: not run until allowed, nothing started.
    let r = env.kinfra(&w, &["sandbox", "up", "--no-wait"]);
    r.code(2)
        .stderr_has("not been allowed")
        .stderr_has("echo prepared > prepared.txt")
        .stderr_has("kinfra stack allow");
    assert!(!w.join("prepared.txt").exists());
    assert!(
        docker(&[
            "ps",
            "-aq",
            "--filter",
            "label=com.docker.compose.project=beside--p"
        ])
        .trim()
        .is_empty()
    );
    env.kinfra(&w, &["stack", "allow", "--show"])
        .success()
        .stdout_has("not allowed");
    env.kinfra(&w, &["stack", "allow"]).success();

    let r = env.kinfra(&w, &["sandbox", "up", "--no-wait"]);
    r.success()
        .stderr_has("building kinfra-test-prep:dev (missing)");
    assert_eq!(
        std::fs::read_to_string(w.join("prepared.txt"))
            .expect("marker")
            .trim(),
        "prepared"
    );
    let r = env.kinfra(&w, &["sandbox", "up", "--no-wait"]);
    r.success();
    assert!(!r.stderr.contains("building"), "built twice\n{r}");

    // A change to the commands asks again.
    let changed = text.replace("echo prepared", "echo changed");
    std::fs::write(w.join("kinfra.toml"), changed).expect("write");
    env.kinfra(&w, &["sandbox", "up", "--no-wait"])
        .code(2)
        .stderr_has("echo changed");
    std::fs::write(w.join("kinfra.toml"), &text).expect("write");

    // A build that fails stops the start before anything is created.
    env.kinfra(&w, &["sandbox", "down"]).success();
    docker(&["rmi", "-f", "kinfra-test-prep:dev"]);
    std::fs::write(
        w.join("docker/Dockerfile.app"),
        "FROM busybox:1.35\nRUN exit 3\n",
    )
    .expect("write");
    let r = env.kinfra(&w, &["sandbox", "up", "--no-wait"]);
    r.code(1)
        .stderr_has("prepare step \"app image\" failed")
        .stderr_has("nothing was started");
    assert!(
        docker(&[
            "ps",
            "-aq",
            "--filter",
            "label=com.docker.compose.project=beside--p"
        ])
        .trim()
        .is_empty()
    );
    env.kinfra(&w, &["sandbox", "destroy", "--force"]).success();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn alive(pid: &str) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn local_prods_host_services_start_show_and_stop() {
    let env = Env::new();
    let port = free_port();
    let text = toml(&format!(
        "\n[[host]]\nname = \"web-host\"\ncommand = [\"python3\", \"-m\", \"http.server\", \"{port}\", \"--bind\", \"127.0.0.1\"]\ndir = \"hostsvc\"\nport = {port}\nhealth = \"/\"\nenv = {{ PYTHONPATH = \"{{clone}}\" }}\n"
    ));
    let repo = project(
        &env,
        "beside",
        &[
            ("compose.yaml", APP),
            ("hostsvc/index.html", "host\n"),
            ("kinfra.toml", &text),
        ],
    );
    env.kinfra(&repo, &["local-prod", "init"]).success();
    env.kinfra(&repo, &["local-prod", "host", "start"])
        .code(2)
        .stderr_has("python3 -m http.server");
    env.kinfra(&repo, &["stack", "allow"]).success();
    env.kinfra(&repo, &["local-prod", "host", "start"])
        .success()
        .stderr_has("started web-host");
    // It outlives the command that started it, and answers.
    let st = env.kinfra(&repo, &["local-prod", "host", "status", "--json"]);
    let v = st.success().json();
    assert_eq!(v[0]["healthy"], true, "{st}");
    let pid = v[0]["pid"].as_u64().expect("pid").to_string();
    assert!(alive(&pid));
    assert!(
        env.kinfra_home
            .join("host/beside-prod/web-host.pid")
            .is_file()
    );
    assert!(repo.join("logs/web-host.log").is_file());
    env.kinfra(&repo, &["local-prod", "status"])
        .success()
        .stdout_has("host services")
        .stdout_has("running (pid");
    // A second start leaves it alone.
    env.kinfra(&repo, &["local-prod", "host", "start"])
        .success()
        .stderr_has("running already");
    env.kinfra(&repo, &["local-prod", "host", "stop"])
        .success()
        .stderr_has("stopped web-host");
    for _ in 0..50 {
        if !alive(&pid) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!alive(&pid), "the host service still runs");
    env.kinfra(&repo, &["local-prod", "host", "status"])
        .success()
        .stdout_has("stopped");

    // Its port held by something else: named, exit 3, nothing started.
    let holder = std::net::TcpListener::bind(("127.0.0.1", port)).expect("hold the port");
    env.kinfra(&repo, &["local-prod", "host", "start"])
        .code(3)
        .stderr_has(&format!("port {port}"));
    drop(holder);
    assert!(
        !env.kinfra_home
            .join("host/beside-prod/web-host.pid")
            .exists()
    );
}
