//! Issue 33's engine-wide hazards on small busybox projects: a Traefik (a fake: its
//! command line carries the flags) that would see every instance's containers is
//! limited to its own in each sandbox's copy, its own constraint kept; any other
//! Docker-socket mounter is named; a built image with a fixed tag is each sandbox's
//! own, so each runs its own code and destroy removes only its own; a host path
//! outside the repository is named, and `[isolate] host_paths` gives each sandbox
//! its own directory, the original untouched. The compose file is never edited.

use crate::docker_env;
use crate::harness::{container_of, docker, project};

const WATCHERS: &str = r#"services:
  proxy:
    image: busybox:1.35
    command: ["sh", "-c", "exec sleep 3600", "--providers.docker=true", "--providers.docker.constraints=Label(`team`,`shop`)"]
    ports: ["18871:80"]
    volumes: ["/var/run/docker.sock:/var/run/docker.sock:ro"]
    stop_grace_period: 1s
  plain:
    image: busybox:1.35
    command: ["sh", "-c", "exec sleep 3600", "--providers.docker"]
    stop_grace_period: 1s
  watcher:
    image: busybox:1.35
    command: ["sleep", "3600"]
    volumes: ["/var/run/docker.sock:/var/run/docker.sock"]
    stop_grace_period: 1s
"#;

#[test]
fn a_docker_discovering_proxy_sees_only_its_own_instance() {
    let env = docker_env!();
    let repo = project(&env, "engwatch", &[("compose.yaml", WATCHERS)]);
    env.kinfra(&repo, &["sandbox", "create", "a"])
        .success()
        .stderr_has("service proxy: its Docker provider sees only this instance's containers")
        .stderr_has(
            "service watcher mounts the Docker socket: it sees every instance's containers",
        );
    env.kinfra(&repo, &["sandbox", "create", "b"]).success();
    let check = env.kinfra(&repo, &["stack", "check"]);
    assert!(
        check
            .stdout
            .contains("service watcher mounts the Docker socket"),
        "{check}"
    );
    for n in ["a", "b"] {
        let wt = env.work.join(format!("engwatch--{n}"));
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
            .success();
    }
    for (n, other) in [("a", "b"), ("b", "a")] {
        let id = format!("engwatch--{n}");
        let args =
            |svc: &str| docker(&["inspect", "-f", "{{json .Args}}", &container_of(&id, svc)]);
        let proxy = args("proxy");
        assert!(
            proxy.contains(&format!(
                "--providers.docker.constraints=(Label(`team`,`shop`)) \u{26}\u{26} Label(`com.docker.compose.project`,`{id}`)"
            )) || proxy.contains(&format!(
                "--providers.docker.constraints=(Label(`team`,`shop`)) \\u0026\\u0026 Label(`com.docker.compose.project`,`{id}`)"
            )),
            "{id}: the project's constraint is kept and its own added: {proxy}"
        );
        let plain = args("plain");
        assert!(
            plain.contains(&format!(
                "--providers.docker.constraints=Label(`com.docker.compose.project`,`{id}`)"
            )),
            "{id}: {plain}"
        );
        assert!(
            !proxy.contains(&format!("engwatch--{other}"))
                && !plain.contains(&format!("engwatch--{other}")),
            "{id} names only itself"
        );
    }
    let text = std::fs::read_to_string(repo.join("compose.yaml")).expect("test io");
    assert_eq!(text, WATCHERS, "the compose file is never edited");
    for n in ["a", "b"] {
        env.kinfra(&repo, &["sandbox", "destroy", n, "--force"])
            .success();
    }
}

const BUILT: &str = r#"services:
  app:
    build: .
    image: engimg-app:latest
    command: ["sleep", "3600"]
    ports: ["18872:80"]
    stop_grace_period: 1s
  worker:
    image: engimg-app:latest
    command: ["sleep", "3600"]
    stop_grace_period: 1s
"#;

#[test]
fn a_built_image_with_a_fixed_tag_is_each_sandboxs_own() {
    let env = docker_env!();
    let repo = project(
        &env,
        "engimg",
        &[
            ("compose.yaml", BUILT),
            ("Dockerfile", "FROM busybox:1.35\nCOPY code.txt /code\n"),
            ("code.txt", "version a\n"),
        ],
    );
    let images = || docker(&["images", "--format", "{{.Repository}}"]);
    env.kinfra(&repo, &["sandbox", "create", "a"])
        .success()
        .stderr_has("built image \"engimg-app:latest\" is this instance's own \"engimg--a-app\"");
    env.kinfra(&repo, &["sandbox", "create", "b"]).success();
    // Sandbox b's worktree has other code.
    std::fs::write(env.work.join("engimg--b").join("code.txt"), "version b\n").expect("test io");
    for n in ["a", "b"] {
        let wt = env.work.join(format!("engimg--{n}"));
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
            .success();
    }
    for n in ["a", "b"] {
        let id = format!("engimg--{n}");
        for svc in ["app", "worker"] {
            let code = docker(&["exec", &container_of(&id, svc), "cat", "/code"]);
            assert_eq!(
                code.trim(),
                format!("version {n}"),
                "{id} {svc} runs its own code"
            );
        }
    }
    assert!(
        !images().lines().any(|i| i == "engimg-app"),
        "the project's tag is never built by a sandbox: {}",
        images()
    );
    env.kinfra(&repo, &["sandbox", "destroy", "a", "--force"])
        .success()
        .stderr_has("1 image(s) it built");
    let have = images();
    assert!(
        !have.lines().any(|i| i == "engimg--a-app") && have.lines().any(|i| i == "engimg--b-app"),
        "{have}"
    );
    env.kinfra(&repo, &["sandbox", "destroy", "b", "--force"])
        .success();
    assert!(!images().lines().any(|i| i == "engimg--b-app"));
}

#[test]
fn host_paths_outside_the_repository_are_named_or_each_sandboxs_own() {
    let env = docker_env!();
    let own = env.base().join("engpath-data");
    let shared = env.base().join("engpath-shared");
    for d in [&own, &shared] {
        std::fs::create_dir_all(d).expect("test io");
        std::fs::write(d.join("marker"), "the original\n").expect("test io");
    }
    let compose = format!(
        "services:\n  app:\n    image: busybox:1.35\n    command: [\"sh\", \"-c\", \"hostname >> /data/who; exec sleep 3600\"]\n    ports: [\"18873:80\"]\n    volumes: [\"{}:/data\", \"{}:/shared\"]\n    stop_grace_period: 1s\n",
        own.display(),
        shared.display()
    );
    let toml = format!(
        "name = \"engpath\"\ncompose_file = \"compose.yaml\"\n\n[isolate]\nhost_paths = [\"{}\"]\n",
        own.display()
    );
    let repo = project(
        &env,
        "engpath",
        &[("compose.yaml", &compose), ("kinfra.toml", &toml)],
    );
    env.kinfra(&repo, &["sandbox", "create", "a"])
        .success()
        .stderr_has(&format!(
            "service app writes the host path {}, outside the repository: every instance shares it",
            shared.display()
        ))
        .stderr_has(&format!(
            "service app: host path {} is this instance's own",
            own.display()
        ));
    env.kinfra(&repo, &["sandbox", "create", "b"]).success();
    let check = env.kinfra(&repo, &["stack", "check"]);
    assert!(
        check
            .stdout
            .contains(&format!("writes the host path {}", shared.display())),
        "{check}"
    );
    for n in ["a", "b"] {
        let wt = env.work.join(format!("engpath--{n}"));
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
            .success();
    }
    for n in ["a", "b"] {
        let id = format!("engpath--{n}");
        let c = container_of(&id, "app");
        // The container's own command writes it: `up` saw it running, the line may
        // come a moment later (later still under load).
        crate::harness::eventually(&format!("{id} wrote /data/who"), || {
            crate::harness::docker_command()
                .args(["exec", &c, "cat", "/data/who"])
                .output()
                .is_ok_and(|o| o.status.success() && o.stdout.ends_with(b"\n"))
        });
        let who = docker(&["exec", &c, "cat", "/data/who"]);
        let host = docker(&["exec", &c, "hostname"]);
        assert_eq!(who.trim(), host.trim(), "{id} writes its own directory");
        let dir = env
            .kinfra_home
            .join("sandbox/paths")
            .join(&id)
            .join(own.strip_prefix("/").expect("test io"));
        assert!(dir.join("who").is_file(), "{}", dir.display());
    }
    assert_eq!(
        std::fs::read_dir(&own).expect("test io").count(),
        1,
        "the original is untouched (only its marker)"
    );
    assert_eq!(
        std::fs::read_to_string(own.join("marker")).expect("test io"),
        "the original\n"
    );
    for n in ["a", "b"] {
        env.kinfra(&repo, &["sandbox", "destroy", n, "--force"])
            .success();
    }
}
