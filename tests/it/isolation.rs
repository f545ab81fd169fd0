//! Isolation on real-world compose shapes, without configuration: a project that
//! fixes its container names, network and volume names and mounts an external
//! volume runs as two sandboxes side by side, each with its own containers, network
//! and data (the old names still resolve inside each); a project with a service on
//! the host's network is said to be so, and a second running instance is refused
//! before anything starts. The compose file is never edited.

use crate::docker_env;
use crate::harness::{assert_marked, docker, docker_objects, git, http_get, port_of, project};

const HAZARDS: &str = r#"services:
  db:
    image: busybox:1.35
    container_name: hazards-db
    command: ["sh", "-c", "hostname > /data/who && exec httpd -f -p 5432 -h /data"]
    volumes:
      - dbdata:/data
      - ext:/ext
    networks: [backnet]
    stop_grace_period: 1s
  web:
    image: busybox:1.35
    container_name: hazards-web
    command: ["httpd", "-f", "-p", "80"]
    ports:
      - "18811:80"
    networks: [backnet, teamnet]
    stop_grace_period: 1s
networks:
  backnet:
    name: hazards-shared-net
  teamnet:
    external: true
    name: hazards-team-net
volumes:
  dbdata:
    name: hazards-fixed-data
  ext:
    external: true
    name: hazards-team-data
"#;

fn exec(container: &str, args: &[&str]) -> String {
    let mut all = vec!["exec", container];
    all.extend_from_slice(args);
    docker(&all).trim().to_string()
}

fn container(project: &str, service: &str) -> String {
    crate::harness::container_of(project, service)
}

#[test]
fn fixed_names_and_external_volumes_become_each_sandboxs_own() {
    let env = docker_env!();
    let team = "hazards-team-data";
    docker(&["volume", "create", team]);
    docker(&["network", "create", "hazards-team-net"]);
    // The external volume holds the team's data: it must never be touched.
    let marked = {
        let out = std::process::Command::new("docker")
            .args([
                "run",
                "--rm",
                "-v",
                &format!("{team}:/m"),
                kinfra::setup::demo::IMAGE,
            ])
            .args([
                "sh",
                "-c",
                &format!("echo 'data of {team}' > /m/kinfra-marker"),
            ])
            .output()
            .expect("docker run");
        assert!(out.status.success());
        vec![team.to_string()]
    };
    let repo = project(&env, "hazards", &[("compose.yaml", HAZARDS)]);
    let c = env.kinfra(&repo, &["sandbox", "create", "a"]);
    c.success()
        .stderr_has("container_name \"hazards-db\" dropped")
        .stderr_has("network \"hazards-shared-net\" is this instance's own")
        .stderr_has("external volume \"hazards-team-data\": this instance gets its own")
        .stderr_has("external network \"hazards-team-net\" is shared by every instance");
    env.kinfra(&repo, &["sandbox", "create", "b"]).success();
    let check = env.kinfra(&repo, &["stack", "check"]);
    assert!(
        check
            .stdout
            .contains("container_name \"hazards-db\" is dropped")
            && check
                .stdout
                .contains("external volume hazards-team-data: each sandbox gets its own"),
        "{check}"
    );
    for n in ["a", "b"] {
        let wt = env.work.join(format!("hazards--{n}"));
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
            .success();
    }
    for n in ["a", "b"] {
        let id = format!("hazards--{n}");
        let db = container(&id, "db");
        let web = container(&id, "web");
        // The old container name resolves to this instance's own db, over its own
        // network, and serves this instance's own data.
        let who = crate::harness::wget_in(&web, "http://hazards-db:5432/who");
        assert_eq!(
            who,
            exec(&db, &["hostname"]),
            "{id}: hazards-db is another instance's"
        );
        let objects = docker_objects(&id);
        assert!(
            objects
                .iter()
                .any(|o| o == &format!("{id}_hazards-shared-net"))
                && objects
                    .iter()
                    .any(|o| o == &format!("{id}_hazards-fixed-data"))
                && objects.iter().any(|o| o == &format!("{id}_ext")),
            "{id}: {objects:?}"
        );
    }
    let nets = docker(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.lines().any(|n| n == "hazards-shared-net"), "{nets}");
    let vols = docker(&["volume", "ls", "--format", "{{.Name}}"]);
    assert!(!vols.lines().any(|v| v == "hazards-fixed-data"), "{vols}");
    assert!(git(&repo, &["status", "--porcelain"]).trim().is_empty());
    assert_eq!(
        std::fs::read_to_string(repo.join("compose.yaml")).expect("read"),
        HAZARDS
    );
    for n in ["a", "b"] {
        env.kinfra(&repo, &["sandbox", "destroy", n, "--force"])
            .success();
        assert!(docker_objects(&format!("hazards--{n}")).is_empty());
    }
    assert_marked(&marked, &"the team's external volume after two sandboxes");
    docker(&["volume", "rm", team]);
    docker(&["network", "rm", "hazards-team-net"]);
}

#[test]
fn a_host_network_service_is_named_and_a_second_running_instance_refused() {
    let env = docker_env!();
    let compose = "services:\n  agent:\n    image: busybox:1.35\n    network_mode: host\n    command: [\"sleep\", \"1000\"]\n    stop_grace_period: 1s\n  web:\n    image: busybox:1.35\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports: [\"18821:80\"]\n    stop_grace_period: 1s\n";
    let repo = project(&env, "hostnet", &[("compose.yaml", compose)]);
    env.kinfra(&repo, &["sandbox", "create", "a"])
        .success()
        .stderr_has("service agent uses network_mode: host");
    env.kinfra(&repo, &["sandbox", "create", "b"]).success();
    let check = env.kinfra(&repo, &["stack", "check"]);
    assert!(
        check
            .stdout
            .contains("service agent uses network_mode: host"),
        "{check}"
    );
    let a = env.work.join("hostnet--a");
    let b = env.work.join("hostnet--b");
    env.kinfra(&a, &["sandbox", "up", "--no-secrets"]).success();
    let r = env.kinfra(&b, &["sandbox", "up", "--no-secrets"]);
    r.code(2)
        .stderr_has("service agent uses network_mode: host")
        .stderr_has("hostnet--a");
    assert!(
        docker_objects("hostnet--b").is_empty(),
        "b started something\n{r}"
    );
    // Once a is down, b may run.
    env.kinfra(&a, &["sandbox", "down"]).success();
    env.kinfra(&b, &["sandbox", "up", "--no-secrets"]).success();
    for n in ["a", "b"] {
        env.kinfra(&repo, &["sandbox", "destroy", n, "--force"])
            .success();
    }
    assert!(docker_objects("hostnet--b").is_empty());
}

const ENVY: &str = r#"services:
  web:
    image: busybox:1.35
    command: ["sh", "-c", "mkdir -p /www && echo $$GREETING > /www/index.html && ls /site > /www/site.txt && exec httpd -f -p 80 -h /www"]
    env_file: [web.env]
    volumes:
      - "${PWD}/site:/site:ro"
    ports:
      - "18831:80"
    stop_grace_period: 1s
  extra:
    image: busybox:1.35
    command: ["httpd", "-f", "-p", "81"]
    profiles: [extra]
    ports:
      - "18832:81"
    stop_grace_period: 1s
"#;

#[test]
fn what_compose_reads_from_the_checkout_is_each_instances_own() {
    let env = docker_env!();
    let repo = project(
        &env,
        "envy",
        &[
            ("stack.yml", ENVY),
            (".gitignore", ".env\nweb.env\n"),
            ("site/tracked.txt", "in git\n"),
        ],
    );
    // Git-ignored, in the main clone only: the compose file's name and profiles
    // (as compose reads them from .env), and an env_file.
    std::fs::write(
        repo.join(".env"),
        "COMPOSE_FILE=stack.yml\nCOMPOSE_PROFILES=extra\n",
    )
    .expect("write");
    std::fs::write(repo.join("web.env"), "GREETING=hello-from-env-file\n").expect("write");
    std::fs::write(repo.join("site/main-only.txt"), "only in the main clone\n").expect("write");
    let mut ports = Vec::new();
    for n in ["a", "b"] {
        let c = env.kinfra(&repo, &["sandbox", "create", n]);
        c.success()
            .stderr_has("carried .env from the main clone")
            .stderr_has("carried web.env from the main clone");
        let wt = env.work.join(format!("envy--{n}"));
        let text = std::fs::read_to_string(wt.join(".env.sandbox")).expect("read");
        // The profile COMPOSE_PROFILES switches on has its port moved too.
        let (web, extra) = (
            port_of(&text, "PORT_WEB_80"),
            port_of(&text, "PORT_EXTRA_81"),
        );
        assert!(web != 18831 && extra != 18832, "{text}");
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
            .success();
        // No healthcheck: `up` is done once the containers run, and the page is
        // written by the container's own command a moment later.
        crate::harness::eventually(&format!("{n}: env_file read"), || {
            http_get(web, "/").contains("hello-from-env-file")
        });
        let site = http_get(web, "/site.txt");
        assert!(
            site.contains("tracked.txt") && !site.contains("main-only.txt"),
            "{n}: ${{PWD}} was not the worktree's: {site}"
        );
        // No healthcheck either: it answers once its server listens.
        crate::harness::eventually(
            &format!("{n}: the profiled service answers on {extra}"),
            || !http_get(extra, "/").is_empty(),
        );
        ports.push((web, extra));
    }
    assert_ne!(ports[0], ports[1]);
    // The main clone holds only what the test put there; the compose file untouched.
    assert_eq!(
        git(&repo, &["status", "--porcelain"]).trim(),
        "?? site/main-only.txt"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("stack.yml")).expect("read"),
        ENVY
    );
    for n in ["a", "b"] {
        env.kinfra(&repo, &["sandbox", "destroy", n]).success();
        assert!(docker_objects(&format!("envy--{n}")).is_empty());
    }
    // An env_file nobody has: named, with the example it can be made from.
    let needy = project(
        &env,
        "needy",
        &[
            (
                "compose.yaml",
                "services:\n  web:\n    image: busybox:1.35\n    env_file: [app.env]\n",
            ),
            ("app.env.example", "KEY=value\n"),
            (".gitignore", "app.env\n"),
        ],
    );
    env.kinfra(&needy, &["sandbox", "create", "x"])
        .success()
        .stderr_has("the compose file reads app.env")
        .stderr_has("cp app.env.example app.env");
    env.kinfra(&needy, &["sandbox", "destroy", "x", "--force"])
        .success();
    // No compose file at all: said so, with how to name one.
    let bare = project(&env, "bare", &[("README.md", "no stack here\n")]);
    env.kinfra(&bare, &["sandbox", "create", "x"])
        .code(2)
        .stderr_has("has no compose file")
        .stderr_has("COMPOSE_FILE");
    assert!(!env.work.join("bare--x").exists());
}

const TWINS: &str = r#"services:
  dns-cache:
    image: busybox:1.35
    command: ["httpd", "-f", "-p", "8080"]
    ports:
      - "53:53/tcp"
      - "53:53/udp"
      - "80:8080"
    stop_grace_period: 1s
"#;

#[test]
fn twins_share_one_number_and_low_ports_map_high_and_stable() {
    let env = docker_env!();
    let repo = project(&env, "twins", &[("compose.yaml", TWINS)]);
    let mut seen = Vec::new();
    for (n, slot) in [("a", 1u16), ("b", 2)] {
        env.kinfra(&repo, &["sandbox", "create", n]).success();
        let wt = env.work.join(format!("twins--{n}"));
        let text = std::fs::read_to_string(wt.join(".env.sandbox")).expect("read");
        let (tcp, udp) = (
            port_of(&text, "PORT_DNS_CACHE_53"),
            port_of(&text, "PORT_DNS_CACHE_53_UDP"),
        );
        // DNS, TURN and game servers need one number for both protocols.
        assert_eq!(tcp, udp, "{text}");
        let web = port_of(&text, "PORT_DNS_CACHE_8080");
        // A port under 1024 maps to 20000 + 10 × port + slot: high, readable, stable.
        assert_eq!(
            (web, tcp),
            (20000 + 800 + slot, 20000 + 530 + slot),
            "{text}"
        );
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
            .success();
        crate::harness::eventually(&format!("{n}: an answer on {web}"), || {
            http_get(web, "/").contains("HTTP/1.")
        });
        // `url` takes the service's name as written, and keeps both twins.
        let u = env.kinfra(&wt, &["url", "dns-cache:8080"]);
        u.success().stdout_has(&format!("localhost:{web}"));
        let all = env.kinfra(&wt, &["url", "--json"]).json();
        assert_eq!(all.as_object().map(|o| o.len()), Some(3), "{all}");
        let e = env.kinfra(&wt, &["env"]);
        assert_eq!(e.stdout.matches("COMPOSE_PROJECT_NAME").count(), 1, "{e}");
        seen.push((tcp, web));
    }
    assert_ne!(seen[0], seen[1]);
    for n in ["a", "b"] {
        env.kinfra(&repo, &["sandbox", "destroy", n, "--force"])
            .success();
    }
    // Stable: made again, a gets the same numbers (not the next free ones in order).
    env.kinfra(&repo, &["sandbox", "create", "a"]).success();
    let text = std::fs::read_to_string(env.work.join("twins--a/.env.sandbox")).expect("read");
    assert_eq!(
        (
            port_of(&text, "PORT_DNS_CACHE_53"),
            port_of(&text, "PORT_DNS_CACHE_8080")
        ),
        seen[0]
    );
    env.kinfra(&repo, &["sandbox", "destroy", "a", "--force"])
        .success();
}

#[test]
fn destroy_removes_the_images_a_sandbox_built_and_only_those() {
    let env = docker_env!();
    let compose = "services:\n  app:\n    build: .\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports: [\"18841:80\"]\n    stop_grace_period: 1s\n";
    let repo = project(
        &env,
        "built",
        &[
            ("compose.yaml", compose),
            ("Dockerfile", "FROM busybox:1.35\n"),
        ],
    );
    let images = || docker(&["images", "--format", "{{.Repository}}"]);
    for n in ["a", "b"] {
        env.kinfra(&repo, &["sandbox", "create", n]).success();
        let wt = env.work.join(format!("built--{n}"));
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
            .success();
    }
    let built = |n: &str| {
        images()
            .lines()
            .any(|i| i == format!("built--{n}-app") || i == format!("built--{n}_app"))
    };
    assert!(built("a") && built("b"), "{}", images());
    let d = env.kinfra(&repo, &["sandbox", "destroy", "a", "--force"]);
    d.success().stderr_has("1 image(s) it built");
    assert!(!built("a") && built("b"), "{}", images());
    assert!(
        images().lines().any(|i| i == "busybox"),
        "the base image stays"
    );
    env.kinfra(&repo, &["sandbox", "destroy", "b", "--force"])
        .success();
    assert!(!built("b"));
    // An image that only carries a sandbox's name (tagged by hand, never built
    // by it) is not the sandbox's: destroy leaves it and says so.
    env.kinfra(&repo, &["sandbox", "create", "c"]).success();
    docker(&["tag", "busybox:1.35", "built--c-app"]);
    env.kinfra(&repo, &["sandbox", "destroy", "c", "--force"])
        .success()
        .stderr_has("left alone: image(s) built--c-app");
    assert!(built("c"), "{}", images());
    docker(&["rmi", "built--c-app"]);
}

const SUBNETS: &str = r#"services:
  db:
    image: busybox:1.35
    command: ["sh", "-c", "hostname > /www/who; exec httpd -f -p 80 -h /www"]
    volumes: ["www:/www"]
    networks:
      back:
        ipv4_address: 172.28.0.10
    stop_grace_period: 1s
  web:
    image: busybox:1.35
    command: ["httpd", "-f", "-p", "80"]
    ports: ["18851:80"]
    networks: [back]
    stop_grace_period: 1s
networks:
  back:
    ipam:
      config:
        - subnet: 172.28.0.0/16
volumes:
  www:
"#;

#[test]
fn fixed_subnets_become_each_sandboxs_own() {
    let env = docker_env!();
    let repo = project(&env, "subnets", &[("compose.yaml", SUBNETS)]);
    let mut seen = Vec::new();
    for n in ["a", "b"] {
        env.kinfra(&repo, &["sandbox", "create", n])
            .success()
            .stderr_has("subnet 172.28.0.0/16 is this instance's own");
        let wt = env.work.join(format!("subnets--{n}"));
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
            .success();
        let id = format!("subnets--{n}");
        let net = format!("{id}_back");
        let subnet = docker(&[
            "network",
            "inspect",
            "--format",
            "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
            &net,
        ]);
        let subnet = subnet.trim().to_string();
        assert!(
            subnet.starts_with("10.20") && subnet.ends_with("/16"),
            "{net}: {subnet}"
        );
        // The static address moved with the subnet, and serves this instance's db.
        let db = container(&id, "db");
        let web = container(&id, "web");
        let ip = docker(&[
            "inspect",
            "--format",
            &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
            &db,
        ]);
        let base = subnet.trim_end_matches(".0.0/16");
        assert_eq!(ip.trim(), format!("{base}.0.10"), "{id}");
        // db has no health check (seen refused under load): waited for.
        let who = crate::harness::wget_in(&web, &format!("http://{}/who", ip.trim()));
        assert_eq!(who, exec(&db, &["hostname"]), "{id}");
        seen.push(subnet);
    }
    assert_ne!(seen[0], seen[1]);
    for n in ["a", "b"] {
        env.kinfra(&repo, &["sandbox", "destroy", n, "--force"])
            .success();
        assert!(docker_objects(&format!("subnets--{n}")).is_empty());
    }
    let state =
        std::fs::read_to_string(env.kinfra_home.join("sandbox/kinfra.json")).unwrap_or_default();
    assert!(
        !state.contains("subnets--a"),
        "the record went with the instance: {state}"
    );
}

#[test]
fn two_repositories_of_one_name_get_their_own_instance_names() {
    let env = docker_env!();
    let compose = "services:\n  web:\n    image: busybox:1.35\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports: [\"18861:80\"]\n";
    let first = project(&env, "app", &[("compose.yaml", compose)]);
    // Another repository called `app` (another owner's), cloned beside it.
    let other_origin = env.base().join("elsewhere/app.git");
    std::fs::create_dir_all(other_origin.parent().expect("parent")).expect("mkdir");
    let src = env.base().join("app-src");
    git(
        &env.base(),
        &[
            "clone",
            "-q",
            "--bare",
            src.to_str().expect("utf8"),
            other_origin.to_str().expect("utf8"),
        ],
    );
    git(
        &env.work,
        &[
            "clone",
            "-q",
            other_origin.to_str().expect("utf8"),
            "app-fork",
        ],
    );
    let second = env.work.join("app-fork");
    env.kinfra(&first, &["sandbox", "create", "a"]).success();
    // Not running: a service it lacks is named, with the compose file's services.
    for cmd in ["logs", "shell"] {
        env.kinfra(&env.work.join("app--a"), &["sandbox", cmd, "nope"])
            .code(2)
            .stderr_has("no service \"nope\"")
            .stderr_has("web");
    }
    let r = env.kinfra(&second, &["sandbox", "create", "a"]);
    r.success();
    let reg = env.registry();
    let ids: Vec<String> = reg["instances"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(ids.len(), 2, "{ids:?}\n{r}");
    assert!(ids.contains(&"app--a".to_string()), "{ids:?}");
    let theirs = ids.iter().find(|i| *i != "app--a").expect("second");
    assert!(
        theirs.starts_with("app-") && theirs.ends_with("--a"),
        "{theirs}"
    );
    // Stable: the second repository keeps its name for its next sandbox.
    env.kinfra(&second, &["sandbox", "create", "b"]).success();
    let prefix = theirs.trim_end_matches('a');
    assert!(
        env.registry()["instances"]
            .get(format!("{prefix}b"))
            .is_some(),
        "{}",
        env.registry()
    );
    for (repo, n) in [(&first, "a"), (&second, "a"), (&second, "b")] {
        env.kinfra(repo, &["sandbox", "destroy", n, "--force"])
            .success();
    }
    assert!(
        env.registry()["instances"]
            .as_object()
            .is_none_or(|o| o.is_empty())
    );
}

#[test]
fn slots_are_numbered_per_project_and_ports_stay_unique() {
    let env = docker_env!();
    let compose = "services:\n  web:\n    image: busybox:1.35\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports: [\"18871:80\"]\n";
    let toml =
        |name: &str| format!("name = \"{name}\"\ncompose_file = \"compose.yaml\"\nmax_slot = 2\n");
    let x = project(
        &env,
        "slotx",
        &[("compose.yaml", compose), ("kinfra.toml", &toml("slotx"))],
    );
    let y = project(
        &env,
        "sloty",
        &[("compose.yaml", compose), ("kinfra.toml", &toml("sloty"))],
    );
    for repo in [&x, &y] {
        for n in ["a", "b"] {
            env.kinfra(repo, &["sandbox", "create", n]).success();
        }
        // The project's two slots are its own; a third is refused naming them.
        env.kinfra(repo, &["sandbox", "create", "c"])
            .code(1)
            .no_panic();
    }
    let reg = env.registry();
    let slot = |id: &str| reg["instances"][id]["slot"].as_u64();
    assert_eq!(
        (slot("slotx--a"), slot("slotx--b")),
        (Some(1), Some(2)),
        "{reg}"
    );
    assert_eq!(
        (slot("sloty--a"), slot("sloty--b")),
        (Some(1), Some(2)),
        "{reg}"
    );
    // Ports stay unique across projects.
    let port = |id: &str| {
        let text = std::fs::read_to_string(env.work.join(id).join(".env.sandbox")).expect("read");
        port_of(&text, "PORT_WEB_80")
    };
    let all: std::collections::BTreeSet<u16> = ["slotx--a", "slotx--b", "sloty--a", "sloty--b"]
        .iter()
        .map(|i| port(i))
        .collect();
    assert_eq!(all.len(), 4, "{all:?}");
    // Env-scheme projects whose tables overlap: the second passes over the slot
    // whose port the first holds.
    let envtoml = |name: &str| {
        format!(
            "name = \"{name}\"\ncompose_file = \"compose.yaml\"\n[[ports]]\nkey = \"WEB_PORT\"\nlocal_prod = 18980\nbase = 18980\nstep = 1\n"
        )
    };
    let envcompose = "services:\n  web:\n    image: busybox:1.35\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports: [\"${WEB_PORT:-18980}:80\"]\n";
    let p = project(
        &env,
        "envp",
        &[
            ("compose.yaml", envcompose),
            ("kinfra.toml", &envtoml("envp")),
        ],
    );
    let q = project(
        &env,
        "envq",
        &[
            ("compose.yaml", envcompose),
            ("kinfra.toml", &envtoml("envq")),
        ],
    );
    env.kinfra(&p, &["sandbox", "create", "a"]).success();
    env.kinfra(&q, &["sandbox", "create", "a"]).success();
    let reg = env.registry();
    assert_eq!(reg["instances"]["envp--a"]["slot"], 1, "{reg}");
    assert_eq!(reg["instances"]["envq--a"]["slot"], 2, "{reg}");
    let text = std::fs::read_to_string(env.work.join("envq--a/.env.sandbox")).expect("read");
    assert_eq!(port_of(&text, "WEB_PORT"), 18982);
    for (repo, names) in [
        (&x, vec!["a", "b"]),
        (&y, vec!["a", "b"]),
        (&p, vec!["a"]),
        (&q, vec!["a"]),
    ] {
        for n in names {
            env.kinfra(repo, &["sandbox", "destroy", n, "--force"])
                .success();
        }
    }
}
