//! Issue 33, second wave: what real projects fix besides ports and names. A network
//! with a fixed IPv6 subnet, static v6 addresses and a fixed bridge device name;
//! profiles switched on by interpolation in `.env`; a git-ignored override file
//! made from an `.example`. Each runs as two sandboxes side by side, each with its
//! own. The compose file is never edited.

use crate::docker_env;
use crate::harness::{docker, docker_objects, git, http_get, port_of, project};

fn exec(container: &str, args: &[&str]) -> String {
    let mut all = vec!["exec", container];
    all.extend_from_slice(args);
    docker(&all).trim().to_string()
}

fn container(project: &str, service: &str) -> String {
    crate::harness::container_of(project, service)
}

const DUAL: &str = r#"services:
  db:
    image: busybox:1.35
    command: ["sh", "-c", "hostname > /who && exec httpd -f -p 5432 -h /"]
    networks:
      back:
        ipv4_address: 172.31.77.10
        ipv6_address: fd12:3456:789a:1::10
    stop_grace_period: 1s
  web:
    image: busybox:1.35
    command: ["httpd", "-f", "-p", "80"]
    ports: ["18851:80"]
    networks: [back]
    stop_grace_period: 1s
networks:
  back:
    enable_ipv6: true
    driver_opts:
      com.docker.network.bridge.name: br-dual
    ipam:
      config:
        - subnet: 172.31.77.0/24
        - subnet: fd12:3456:789a:1::/64
          gateway: fd12:3456:789a:1::1
"#;

#[test]
fn ipv6_subnets_static_addresses_and_bridge_names_are_each_sandboxs_own() {
    let env = docker_env!();
    let repo = project(&env, "dual", &[("compose.yaml", DUAL)]);
    for n in ["a", "b"] {
        env.kinfra(&repo, &["sandbox", "create", n])
            .success()
            .stderr_has("IPv6 subnet fd12:3456:789a:1::/64 is this instance's own fd6b:6966:")
            .stderr_has("bridge device br-dual is this instance's own kf");
    }
    let mut seen = Vec::new();
    for n in ["a", "b"] {
        let id = format!("dual--{n}");
        let wt = env.work.join(&id);
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
            .success();
        let db = container(&id, "db");
        let web = container(&id, "web");
        // The static address moved into the instance's own range, and serves it.
        let addrs = exec(&db, &["ip", "-6", "addr", "show", "scope", "global"]);
        let v6 = addrs
            .split_whitespace()
            .skip_while(|w| *w != "inet6")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .unwrap_or_else(|| panic!("{id}: no v6 address in {addrs}"))
            .to_string();
        assert!(
            v6.starts_with("fd6b:6966:") && v6.ends_with("::10"),
            "{id}: {v6}"
        );
        let who = crate::harness::wget_in(&web, &format!("http://[{v6}]:5432/who"));
        assert_eq!(
            who,
            exec(&db, &["hostname"]),
            "{id}: {v6} is not its own db"
        );
        let bridge = docker(&[
            "network",
            "inspect",
            &format!("{id}_back"),
            "--format",
            "{{index .Options \"com.docker.network.bridge.name\"}}",
        ])
        .trim()
        .to_string();
        assert!(
            bridge.starts_with("kf") && bridge.len() == 15,
            "{id}: {bridge}"
        );
        seen.push((v6, bridge));
    }
    assert_ne!(seen[0].0, seen[1].0);
    assert_ne!(seen[0].1, seen[1].1);
    assert!(git(&repo, &["status", "--porcelain"]).trim().is_empty());
    assert_eq!(
        std::fs::read_to_string(repo.join("compose.yaml")).expect("read"),
        DUAL
    );
    for n in ["a", "b"] {
        env.kinfra(&repo, &["sandbox", "destroy", n, "--force"])
            .success();
        assert!(docker_objects(&format!("dual--{n}")).is_empty());
    }
    let reg = env.registry();
    assert!(
        reg.pointer("/kinfra/subnets/dual--a").is_none(),
        "the record goes with the instance: {reg}"
    );
}

const PROFILED: &str = r#"services:
  web:
    image: busybox:1.35
    command: ["sh", "-c", "echo web > /index.html && exec httpd -f -p 80 -h /"]
    ports: ["18852:80"]
    stop_grace_period: 1s
  search:
    image: busybox:1.35
    command: ["sh", "-c", "echo search > /index.html && exec httpd -f -p 81 -h /"]
    profiles: [elasticsearch]
    ports: ["18853:81"]
    stop_grace_period: 1s
  gpu:
    image: busybox:1.35
    command: ["sh", "-c", "echo gpu > /index.html && exec httpd -f -p 82 -h /"]
    profiles: [gpu]
    ports: ["18854:82"]
    stop_grace_period: 1s
"#;

#[test]
fn profiles_switched_on_by_interpolation_get_each_sandboxs_ports() {
    let env = docker_env!();
    // As RAGFlow's .env: the profiles are built from other variables, one with a
    // default that the environment would override.
    let dotenv = "DOC_ENGINE=${DOC_ENGINE:-elasticsearch}\nDEVICE=cpu\nCOMPOSE_PROFILES=${DOC_ENGINE},${DEVICE}\n";
    let repo = project(
        &env,
        "profiled",
        &[("compose.yaml", PROFILED), (".env", dotenv)],
    );
    let mut ports = Vec::new();
    for n in ["a", "b"] {
        env.kinfra(&repo, &["sandbox", "create", n]).success();
        let wt = env.work.join(format!("profiled--{n}"));
        let text = std::fs::read_to_string(wt.join(".env.sandbox")).expect("read");
        let (web, search) = (
            port_of(&text, "PORT_WEB_80"),
            port_of(&text, "PORT_SEARCH_81"),
        );
        assert!(web != 18852 && search != 18853, "{text}");
        assert!(
            !text.contains("PORT_GPU_82"),
            "gpu is not switched on: {text}"
        );
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
            .success();
        // No healthchecks: `up` is done once the containers run, and a server
        // listens a moment later (later still on a loaded machine).
        crate::harness::eventually(&format!("{n}: web on {web}"), || {
            http_get(web, "/").contains("web")
        });
        crate::harness::eventually(
            &format!("{n}: the interpolated profile's service on {search}"),
            || http_get(search, "/").contains("search"),
        );
        ports.push((web, search));
    }
    assert_ne!(ports[0], ports[1]);
    for n in ["a", "b"] {
        env.kinfra(&repo, &["sandbox", "destroy", n, "--force"])
            .success();
        assert!(docker_objects(&format!("profiled--{n}")).is_empty());
    }
}

const BASE: &str = r#"services:
  web:
    image: busybox:1.35
    command: ["sh", "-c", "cat /run/secrets/token > /index.html && echo $$GREETING >> /index.html && exec httpd -f -p 80 -h /"]
    stop_grace_period: 1s
"#;

/// Made from `compose.override.yaml.example`, git-ignored, as READMEs ask: it
/// publishes the port and names an env file and a secret, themselves ignored.
const OVERRIDE: &str = r#"services:
  web:
    ports: ["18855:80"]
    env_file: [config/web.env]
    secrets: [token]
secrets:
  token:
    file: ./secrets/token.txt
"#;

#[test]
fn an_ignored_override_file_and_what_it_names_are_carried_and_isolated() {
    let env = docker_env!();
    let repo = project(
        &env,
        "overridden",
        &[
            ("compose.yaml", BASE),
            ("compose.override.yaml.example", OVERRIDE),
            (
                ".gitignore",
                "compose.override.yaml\nconfig/web.env\nsecrets/\n",
            ),
        ],
    );
    std::fs::write(repo.join("compose.override.yaml"), OVERRIDE).expect("write");
    std::fs::create_dir_all(repo.join("config")).expect("mkdir");
    std::fs::write(repo.join("config/web.env"), "GREETING=hello-override\n").expect("write");
    std::fs::create_dir_all(repo.join("secrets")).expect("mkdir");
    std::fs::write(repo.join("secrets/token.txt"), "token-from-main\n").expect("write");
    let mut ports = Vec::new();
    for n in ["a", "b"] {
        let c = env.kinfra(&repo, &["sandbox", "create", n]);
        c.success()
            .stderr_has("carried compose.override.yaml from the main clone")
            .stderr_has("carried config/web.env from the main clone")
            .stderr_has("carried secrets/token.txt from the main clone");
        assert!(
            !c.stderr.contains("host ports are chosen at the first"),
            "{c}"
        );
        let wt = env.work.join(format!("overridden--{n}"));
        let text = std::fs::read_to_string(wt.join(".env.sandbox")).expect("read");
        let web = port_of(&text, "PORT_WEB_80");
        assert_ne!(web, 18855, "{text}");
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
            .success();
        // No health check: `up` is done once the container runs, and httpd listens
        // a moment later (seen empty under the lanes' load).
        crate::harness::eventually(&format!("{n}: web answers on {web}"), || {
            !http_get(web, "/").is_empty()
        });
        let body = http_get(web, "/");
        assert!(
            body.contains("token-from-main") && body.contains("hello-override"),
            "{n}: {body}"
        );
        ports.push(web);
    }
    assert_ne!(ports[0], ports[1]);
    // Nothing of the main clone changed.
    assert!(git(&repo, &["status", "--porcelain"]).trim().is_empty());
    assert_eq!(
        std::fs::read_to_string(repo.join("compose.override.yaml")).expect("read"),
        OVERRIDE
    );
    for n in ["a", "b"] {
        env.kinfra(&repo, &["sandbox", "destroy", n, "--force"])
            .success();
        assert!(docker_objects(&format!("overridden--{n}")).is_empty());
    }
}
