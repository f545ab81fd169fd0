//! Docker engines on other machines, reached over SSH: the "remote" is a second engine
//! in a network namespace with an sshd beside it (`scripts/remote-engine.sh`), so the
//! traffic stays on this machine (10.253.0.0/30) while every call goes through SSH.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{Env, docker_on, record_skip_because};

/// The rig's SSH address. Required: a run without it fails, unless
/// KINFRA_TEST_SKIP_REMOTE=1 says to skip on purpose.
fn remote_url() -> Option<String> {
    if let Ok(u) = std::env::var("KINFRA_TEST_REMOTE_URL")
        && !u.is_empty()
    {
        return Some(u);
    }
    if std::env::var("KINFRA_TEST_SKIP_REMOTE").is_ok_and(|v| v == "1") {
        record_skip_because("KINFRA_TEST_SKIP_REMOTE=1");
        return None;
    }
    if crate::harness::docker_skipped() {
        record_skip_because("KINFRA_SKIP_DOCKER=1");
        return None;
    }
    panic!(
        "the remote-engine tests need the SSH rig: `eval \"$(scripts/remote-engine.sh start)\"` \
         (root; scripts/test does it), or KINFRA_TEST_SKIP_REMOTE=1"
    );
}

/// The remote engine's socket, for the test's own look behind kinfra's back.
fn remote_socket() -> String {
    std::env::var("KINFRA_TEST_REMOTE_DOCKER_HOST").expect("KINFRA_TEST_REMOTE_DOCKER_HOST")
}

/// Ends the SSH connections kinfra left running for a test's home (it keeps one
/// per engine while instances there are up), pass or fail.
struct Connections(std::path::PathBuf);

impl Drop for Connections {
    fn drop(&mut self) {
        let Ok(dir) = std::fs::read_dir(&self.0) else {
            return;
        };
        for sock in dir.flatten().map(|d| d.path()) {
            if sock.extension().is_some_and(|e| e == "ctl") {
                let _ = std::process::Command::new("ssh")
                    .arg("-o")
                    .arg(format!("ControlPath={}", sock.display()))
                    .args(["-O", "exit", "unused"])
                    .output();
            }
        }
    }
}

/// The remote engine is one for all these tests: one at a time, each from a clean
/// engine (it is the tests' own: what an earlier failed run left goes first).
fn remote_env() -> Option<(Env, String, Connections, std::fs::File)> {
    let url = remote_url()?;
    // Across processes too (nextest runs each test in its own): each test wipes
    // the engine first, which would take another's containers from under it.
    let guard = crate::harness::machine_lock("remote-engine");
    let env = Env::with_docker()?;
    let sock = remote_socket();
    engine_answers(&sock);
    for c in docker_on(&sock, &["ps", "-aq"]).lines() {
        docker_on(&sock, &["rm", "-f", c]);
    }
    for v in docker_on(&sock, &["volume", "ls", "-q"]).lines() {
        docker_on(&sock, &["volume", "rm", v]);
    }
    docker_on(&sock, &["network", "prune", "-f"]);
    // Mirrors an earlier test left there (one whose engine was "gone" keeps its own).
    let home = std::env::var("KINFRA_TEST_REMOTE_HOME").expect("KINFRA_TEST_REMOTE_HOME");
    let _ = std::fs::remove_dir_all(Path::new(&home).join(".kinfra/mirrors"));
    let conns = Connections(env.kinfra_home.join("engines"));
    Some((env, url, conns, guard))
}

fn side_file(env: &Env) -> std::path::PathBuf {
    env.registry_path().with_file_name("kinfra.json")
}

fn engines_recorded(env: &Env) -> serde_json::Value {
    std::fs::read_to_string(side_file(env))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("engines").cloned())
        .unwrap_or(serde_json::Value::Null)
}

/// Rewrites the side file's JSON with `f` (standing in for state kinfra wrote).
fn edit_side_file(env: &Env, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(side_file(env)).expect("kinfra.json"))
            .expect("JSON");
    f(&mut v);
    let bytes = serde_json::to_vec_pretty(&v).expect("JSON");
    std::fs::write(side_file(env), bytes).expect("write kinfra.json");
}

#[test]
fn engines_are_added_checked_listed_and_removed_and_hostile_addresses_refused() {
    let Some((env, url, _conns, _g)) = remote_env() else {
        return;
    };
    let dir = env.base();
    let marker = dir.join("pwned");
    let m = marker.display().to_string();

    // Hostile names and addresses: refused as input (exit 2), nothing run, nothing recorded.
    for (name, bad) in [
        ("x", format!("ssh://-oProxyCommand=touch${{IFS}}{m}")),
        ("x", format!("ssh://u@-oProxyCommand=touch${{IFS}}{m}")),
        (
            "x",
            format!("ssh://-oProxyCommand=touch${{IFS}}{m}@10.253.0.2"),
        ),
        ("x", "ssh://u:password@10.253.0.2".to_string()),
        ("x", "tcp://10.253.0.2:2375".to_string()),
        ("x", "ssh://u@10.253.0.2/x y".to_string()),
        ("auto", url.clone()),
        ("../up", url.clone()),
        ("-h", url.clone()),
    ] {
        let r = env.kinfra(&dir, &["engine", "add", "--", name, &bad]);
        r.code(2).no_panic();
        assert!(!marker.exists(), "{bad} ran a command");
    }
    assert!(engines_recorded(&env).is_null());
    env.kinfra(&dir, &["engine", "list"])
        .success()
        .stdout_has("No engines");

    // A machine that does not answer: fast, exit 7 naming the engine, nothing recorded.
    let t = Instant::now();
    env.kinfra(
        &dir,
        &["engine", "add", "gone", "ssh://kinfrarem@10.253.0.1:2223"],
    )
    .code(7)
    .stderr_has("gone")
    .stderr_has("not reachable");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert!(engines_recorded(&env).is_null());

    // The rig's engine: checked (its Docker, memory) and recorded.
    let added = env.kinfra(&dir, &["engine", "add", "rem", &url, "--json"]);
    added.success();
    let a = added.json();
    assert_eq!(a["engine"]["url"], url.as_str());
    assert!(a["facts"]["memory_bytes"].as_u64().unwrap() > 0);
    // Where Docker is there, as its docker CLI says (the socket kinfra forwards).
    assert_eq!(
        engines_recorded(&env)["rem"]["docker_host"],
        remote_socket().as_str()
    );
    let home = a["engine"]["remote_home"].as_str().unwrap().to_string();
    assert_eq!(
        home,
        std::env::var("KINFRA_TEST_REMOTE_HOME").expect("KINFRA_TEST_REMOTE_HOME")
    );
    // It is the namespace's engine that answered, not this machine's.
    let there = docker_on(
        &remote_socket(),
        &["version", "--format", "{{.Server.Version}}"],
    );
    assert_eq!(a["facts"]["docker_version"], there.trim());
    env.kinfra(&dir, &["engine", "add", "rem", &url])
        .code(1)
        .stderr_has("already exists");

    let l = env.kinfra(&dir, &["engine", "list", "--json"]);
    l.success();
    let rows = l.json()["engines"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["name"], "rem");
    assert_eq!(rows[0]["reachable"], true);
    assert!(rows[0]["memory_bytes"].as_u64().unwrap() > 0);
    assert_eq!(rows[0]["instances"], serde_json::json!([]));
    env.kinfra(&dir, &["engine", "list"])
        .success()
        .stdout_has("reachable");

    // An instance placed there keeps it (rm refused, the record stays).
    edit_side_file(&env, |v| {
        v["placements"] = serde_json::json!({"rmt-held": "rem"});
    });
    env.kinfra(&dir, &["engine", "rm", "rem"])
        .code(1)
        .stderr_has("rmt-held");
    assert!(engines_recorded(&env)["rem"].is_object());
    edit_side_file(&env, |v| {
        v.as_object_mut().unwrap().remove("placements");
    });

    // A record tampered with is not used: no option reaches ssh from it.
    edit_side_file(&env, |v| {
        v["engines"]["evil"] = serde_json::json!({
            "url": format!("ssh://-oProxyCommand=touch${{IFS}}{m}@x"),
            "added_at": "2026-01-01T00:00:00Z"
        });
    });
    env.kinfra(&dir, &["engine", "list"]).code(2).no_panic();
    assert!(!marker.exists());
    env.kinfra(&dir, &["engine", "rm", "evil"]).success();

    env.kinfra(&dir, &["engine", "rm", "rem"])
        .success()
        .stderr_has("nothing on its machine was touched");
    env.kinfra(&dir, &["engine", "rm", "rem"]).code(4);
    assert!(
        engines_recorded(&env)
            .as_object()
            .is_none_or(|o| o.is_empty())
    );
}

/// The project's own web port; kinfra gives each sandbox its own from it.
const WEB: u16 = 17731;

fn shop_compose() -> String {
    format!(
        r#"services:
  web:
    image: busybox:1.35
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports:
      - "{WEB}:80"
    volumes:
      - ./site:/www:ro
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/index.html"]
      interval: 1s
      timeout: 2s
      retries: 20
"#
    )
}

/// The project's containers on the engine at `host` (ids).
fn containers_on(host: &str, project: &str) -> Vec<String> {
    docker_on(
        host,
        &[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
        ],
    )
    .lines()
    .map(String::from)
    .collect()
}

/// Whether anything accepts a connection on 127.0.0.1:port.
fn answers(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn a_sandbox_on_a_remote_engine_runs_from_the_mirror_and_is_served_here() {
    let Some((env, url, _conns, _g)) = remote_env() else {
        return;
    };
    let sock = remote_socket();
    let remote_home = std::env::var("KINFRA_TEST_REMOTE_HOME").expect("KINFRA_TEST_REMOTE_HOME");
    env.kinfra(&env.work, &["engine", "add", "rem", &url])
        .success();
    let repo = crate::harness::project(
        &env,
        "rmtshop",
        &[
            // A writable bind too: what containers write there is theirs.
            (
                "compose.yaml",
                &shop_compose().replace(
                    "      - ./site:/www:ro\n",
                    "      - ./site:/www:ro\n      - ./data:/data\n",
                ),
            ),
            ("data/seed", "seed\n"),
            ("site/index.html", "v1\n"),
            ("site/old.html", "old\n"),
        ],
    );
    env.kinfra(&repo, &["sandbox", "create", "a", "--on", "rem"])
        .success();
    let wt = env.work.join("rmtshop--a");
    let id = "rmtshop--a";
    let port = crate::harness::port_of(
        &std::fs::read_to_string(wt.join(".env.sandbox")).expect(".env.sandbox"),
        "PORT_WEB_80",
    );

    let up = env.kinfra(&wt, &["sandbox", "up"]);
    up.success()
        .stderr_has("Mirroring the code to rem")
        .stderr_has("Forwarding");
    // Served here, through the forwarded port, from the engine in the namespace.
    assert!(crate::harness::http_get(port, "/index.html").contains("v1"));
    assert!(!containers_on(&sock, id).is_empty());
    assert!(
        crate::harness::docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={id}")
        ])
        .trim()
        .is_empty(),
        "nothing of it on this machine's engine"
    );
    // The bind mount's source is the mirror under the remote user's home, never the
    // worktree (the "remote" shares this machine's files, so only this proves it).
    let cid = &containers_on(&sock, id)[0];
    let sources = docker_on(
        &sock,
        &[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Source}}\n{{end}}",
            cid,
        ],
    );
    let mirror = format!("{remote_home}/.kinfra/mirrors/{id}");
    let mut sources_seen: Vec<&str> = sources.lines().filter(|l| !l.is_empty()).collect();
    sources_seen.sort_unstable();
    assert_eq!(
        sources_seen,
        [format!("{mirror}/data"), format!("{mirror}/site")],
        "{sources}"
    );
    assert!(Path::new(&mirror).join("data/seed").exists(), "seeded");
    assert!(!sources.contains(&wt.display().to_string()));
    assert!(
        !Path::new(&mirror).join(".git").exists(),
        ".git is not mirrored"
    );

    // A container writes under its writable bind (the "remote" shares this
    // machine's files): neither the keeper's passes nor sync-code delete it.
    let written = Path::new(&mirror).join("data/db");
    std::fs::write(&written, "rows\n").expect("a container's write");
    // While it is up, an edit and a deletion reach the engine by themselves (the
    // 2 s target is a bench row; here within the harness's patience).
    std::fs::write(wt.join("site/index.html"), "v2\n").expect("edit");
    std::fs::remove_file(wt.join("site/old.html")).expect("delete");
    crate::harness::eventually("the edit is served", || {
        crate::harness::http_get(port, "/index.html").contains("v2")
    });
    // An edit of the same size within the same second as the one before: rsync's
    // quick check in whole seconds took it for unchanged, and it never arrived.
    let page = wt.join("site/index.html");
    let second = std::fs::metadata(&page)
        .and_then(|m| m.modified())
        .expect("mtime")
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let at = |nanos: u64| {
        std::time::UNIX_EPOCH + Duration::from_secs(second) + Duration::from_nanos(nanos)
    };
    let set_mtime = |nanos: u64| {
        std::fs::File::options()
            .write(true)
            .open(&page)
            .and_then(|f| f.set_modified(at(nanos)))
            .expect("set the mtime");
    };
    set_mtime(100);
    crate::harness::eventually("the mirror has v2 at its mtime", || {
        std::fs::metadata(Path::new(&mirror).join("site/index.html"))
            .and_then(|m| m.modified())
            .is_ok_and(|t| t == at(100))
    });
    std::fs::write(&page, "v3\n").expect("edit");
    set_mtime(200);
    crate::harness::eventually("the same-size edit in the same second is served", || {
        crate::harness::http_get(port, "/index.html").contains("v3")
    });
    std::fs::write(&page, "v2\n").expect("edit back");
    crate::harness::eventually("the deletion reaches the mirror", || {
        !Path::new(&mirror).join("site/old.html").exists()
    });
    env.kinfra(&wt, &["sandbox", "sync-code"])
        .success()
        .stderr_has("mirrored to rem");
    assert!(
        written.exists(),
        "the mirror deleted what a container wrote"
    );
    // An edit here under it still reaches the engine.
    std::fs::write(wt.join("data/seed"), "seed2\n").expect("edit under the writable bind");
    crate::harness::eventually("the edit under data/ reaches the mirror", || {
        std::fs::read_to_string(Path::new(&mirror).join("data/seed")).is_ok_and(|t| t == "seed2\n")
    });
    // The SSH connection drops (every session of the engine's user): the forward
    // comes back by itself.
    let killed = std::process::Command::new(rig_script())
        .arg("kill-ssh")
        .output()
        .expect("kill the rig's ssh sessions");
    assert!(killed.status.success(), "{killed:?}");
    crate::harness::eventually("the forward is back", || {
        crate::harness::http_get(port, "/index.html").contains("v2")
    });

    env.kinfra(&wt, &["url", "web"])
        .success()
        .stdout_has(&port.to_string());
    let list = env.kinfra(&repo, &["sandbox", "list", "--json"]).json();
    let row = &list["instances"][0];
    assert_eq!(row["engine"], "rem", "{list}");
    assert_eq!(row["state"], "running", "{list}");
    env.kinfra(&repo, &["sandbox", "list"])
        .success()
        .stdout_has("running @rem");
    env.kinfra(&wt, &["sandbox", "status"])
        .success()
        .stdout_has("on engine rem");
    env.kinfra(&env.work, &["engine", "rm", "rem"])
        .code(1)
        .stderr_has(id);

    // `--on auto`: the most memory room under each engine's budget. Both engines
    // have this machine's memory, so a tie stays here; a small budget here sends it there.
    env.kinfra_env(
        &repo,
        &["sandbox", "create", "b", "--on", "auto"],
        &[("KINFRA_MEMORY_BUDGET", "64M")],
    )
    .success()
    .stderr_has("--on auto: rem");
    env.kinfra(&repo, &["sandbox", "create", "c", "--on", "auto"])
        .success()
        .stderr_has("--on auto: this machine's engine");
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(side_file(&env)).expect("kinfra.json"))
            .expect("JSON");
    assert_eq!(side["placements"]["rmtshop--b"], "rem", "{side}");
    assert!(side["placements"].get("rmtshop--c").is_none(), "{side}");
    // One MCP session, local and remote instances in turn: the engine is each
    // call's, so a call on the remote one never sends a later local one's docker
    // commands there (nor the other way round).
    mcp_serves_both_engines(&env, &repo, &sock);

    // `up --on`: a sandbox placed on one engine is not moved by it; one not placed yet
    // (and never started here) is placed, then runs there.
    env.kinfra(&repo, &["sandbox", "up", "b", "--on", "auto"])
        .code(2)
        .stderr_has("placed on the engine rem");
    env.kinfra(&repo, &["sandbox", "up", "c", "--on", "rem", "--no-wait"])
        .success()
        .stderr_has("rmtshop--c placed on rem");
    assert!(!containers_on(&sock, "rmtshop--c").is_empty());

    // Placed on an engine whose record is gone (edited by hand): refused, and with
    // --force forgotten here, nothing sent anywhere (else nothing could remove it).
    edit_side_file(&env, |v| v["placements"]["rmtshop--b"] = "ghost".into());
    env.kinfra(&repo, &["sandbox", "destroy", "b"])
        .code(4)
        .stderr_has("ghost");
    env.kinfra(&repo, &["sandbox", "destroy", "b", "--force"])
        .success()
        .stderr_has("left there");
    assert!(env.registry()["instances"].get("rmtshop--b").is_none());
    env.kinfra(&repo, &["sandbox", "destroy", "c"]).success();

    // Destroy: the project and the mirror go on the engine, the port stops answering here.
    crate::harness::git(&wt, &["commit", "-qam", "v2"]);
    env.kinfra(&repo, &["sandbox", "destroy", "a"])
        .success()
        .stderr_has("code mirror removed");
    assert!(containers_on(&sock, id).is_empty());
    assert!(!Path::new(&mirror).exists());
    assert!(!answers(port), "the forward was left behind");
    env.kinfra(&env.work, &["engine", "rm", "rem"]).success();
}

/// One MCP session: a local sandbox (`rmtshop--c`, created, not started) and a
/// remote one (`rmtshop--a`, up on `rem`) in turn; `create` and `up` with `on`
/// (a new remote sandbox made and started through MCP, then destroyed); hostile
/// `on` values refused with nothing created.
fn mcp_serves_both_engines(env: &Env, repo: &Path, sock: &str) {
    let mut mcp = crate::mcp::Client::start(env, repo);
    let status = |mcp: &mut crate::mcp::Client, name: &str| {
        let (err, v) = mcp.call("status", serde_json::json!({ "name": name }));
        assert!(!err, "{name}: {v}");
        v
    };
    let local = status(&mut mcp, "c");
    assert_eq!(local["instance_id"], "rmtshop--c", "{local}");
    // The remote one: its state is the engine's (running there), not "absent here".
    let remote = status(&mut mcp, "a");
    assert_eq!(remote["instance_id"], "rmtshop--a", "{remote}");
    assert_eq!(remote["state"], "running", "{remote}");
    // The local one again: this machine's engine (nothing of it runs anywhere).
    let again = status(&mut mcp, "c");
    assert_eq!(again["state"], local["state"], "{again}");
    assert_ne!(again["state"], "running", "{again}");
    let (err, v) = mcp.call("list", serde_json::json!({}));
    assert!(!err, "{v}");
    let a = v["instances"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["instance_id"] == "rmtshop--a"))
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(
        (&a["engine"], &a["state"]),
        (&"rem".into(), &"running".into()),
        "{v}"
    );

    // Hostile `on`: refused by name, nothing created (no worktree, no registration).
    let before = env.registry()["instances"].clone();
    for (bad, says) in [
        ("ssh://kinfrarem@10.253.0.2:2222", "not an address"),
        ("kinfrarem@10.253.0.2", "not an address"),
        ("../rem", "not an engine name"),
        ("rem;touch /tmp/x", "not an engine name"),
        ("$(id)", "not an engine name"),
        ("nope", "nope"),
        ("local", "reserved"),
    ] {
        let (err, v) = mcp.call("create", serde_json::json!({"name": "m", "on": bad}));
        assert!(err, "{bad}: {v}");
        assert!(
            v["error"].as_str().unwrap_or_default().contains(says),
            "{bad}: {v}"
        );
        let (err, v) = mcp.call("up", serde_json::json!({"name": "c", "on": bad}));
        assert!(err, "{bad}: {v}");
        assert!(
            v["error"].as_str().unwrap_or_default().contains(says),
            "{bad}: {v}"
        );
    }
    let (err, v) = mcp.call(
        "create",
        serde_json::json!({"name": "m", "on": "rem", "data": "rmtshop--c"}),
    );
    assert!(err, "{v}");
    assert_eq!(
        env.registry()["instances"],
        before,
        "a refused `on` made something"
    );
    assert!(!repo.with_file_name("rmtshop--m").exists());
    assert!(containers_on(sock, "rmtshop--c").is_empty());

    // `create` with `on`, then `up`: made here, run there, served here.
    let (err, v) = mcp.call("create", serde_json::json!({"name": "m", "on": "rem"}));
    assert!(!err, "{v}");
    let (err, v) = mcp.call("up", serde_json::json!({"name": "m", "no_secrets": true}));
    assert!(!err, "{v}");
    assert!(!containers_on(sock, "rmtshop--m").is_empty());
    let wt = repo.with_file_name("rmtshop--m");
    let port = crate::harness::port_of(
        &std::fs::read_to_string(wt.join(".env.sandbox")).expect(".env.sandbox"),
        "PORT_WEB_80",
    );
    assert!(crate::harness::http_get(port, "/index.html").contains("v1"));
    // The local one in the same session afterwards: still this machine's engine.
    let c = status(&mut mcp, "c");
    assert_eq!(c["state"], local["state"], "{c}");
    assert!(
        crate::harness::docker(&[
            "ps",
            "-aq",
            "--filter",
            "label=com.docker.compose.project=rmtshop--m"
        ])
        .trim()
        .is_empty(),
        "nothing of the remote one on this machine's engine"
    );
    let (err, v) = mcp.call("destroy", serde_json::json!({"name": "m"}));
    assert!(!err, "{v}");
    assert!(containers_on(sock, "rmtshop--m").is_empty());
    assert!(!answers(port), "its forward was left behind");
    drop(mcp);
}

/// Starts the rig's engine again when dropped (a test that stops it, pass or fail).
struct EngineBack;

impl Drop for EngineBack {
    fn drop(&mut self) {
        let _ = std::process::Command::new(rig_script())
            .arg("start")
            .output();
    }
}

/// Waits until the rig's engine answers, starting it again (the rig's own
/// script) when it does not: a test that stopped it hands the next one an engine
/// that may still be shutting down. Fails after 90 s, saying why.
fn engine_answers(sock: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let up = std::process::Command::new("docker")
            .args(["-H", sock, "version", "--format", "{{.Server.Version}}"])
            .output()
            .is_ok_and(|o| o.status.success());
        if up {
            return;
        }
        let started = std::process::Command::new(rig_script())
            .arg("start")
            .output()
            .expect("run the rig's script");
        assert!(
            Instant::now() < deadline,
            "the remote rig's engine does not answer on {sock}: {started:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn rig_script() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/remote-engine.sh").to_string()
}

#[test]
fn an_engine_that_stops_answering_fails_fast_and_leaves_local_instances_alone() {
    let Some((env, url, _conns, _g)) = remote_env() else {
        return;
    };
    env.kinfra(&env.work, &["engine", "add", "rem", &url])
        .success();
    let repo = crate::harness::project(
        &env,
        "rmtfail",
        &[
            ("compose.yaml", &shop_compose()),
            ("site/index.html", "here\n"),
        ],
    );
    env.kinfra(&repo, &["sandbox", "create", "far", "--on", "rem"])
        .success();
    env.kinfra(&repo, &["sandbox", "create", "near"]).success();
    let (far, near) = (
        env.work.join("rmtfail--far"),
        env.work.join("rmtfail--near"),
    );
    let port_of = |dir: &Path| {
        crate::harness::port_of(
            &std::fs::read_to_string(dir.join(".env.sandbox")).expect(".env.sandbox"),
            "PORT_WEB_80",
        )
    };
    for wt in [&far, &near] {
        env.kinfra(wt, &["sandbox", "up"]).success();
    }
    let far_port = port_of(&far);
    assert!(crate::harness::http_get(far_port, "/index.html").contains("here"));

    // The engine's dockerd stops (its machine and sshd still answer).
    let _back = EngineBack;
    let stopped = std::process::Command::new(rig_script())
        .arg("stop-docker")
        .output()
        .expect("stop the rig's engine");
    assert!(stopped.status.success(), "{stopped:?}");

    for args in [&["sandbox", "status"][..], &["sandbox", "up"][..]] {
        let t = Instant::now();
        env.kinfra(&far, args)
            .code(7)
            .stderr_has("engine rem")
            .stderr_has("not reachable");
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{args:?}: {:?}",
            t.elapsed()
        );
    }
    // The local one is unaffected: its status, its port, the list.
    env.kinfra(&near, &["sandbox", "status"]).success();
    assert!(crate::harness::http_get(port_of(&near), "/index.html").contains("here"));
    let list = env.kinfra(&repo, &["sandbox", "list", "--json"]).json();
    let rows = list["instances"].as_array().expect("rows").clone();
    let state = |id: &str| {
        rows.iter()
            .find(|r| r["instance_id"] == id)
            .map(|r| r["state"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    assert_eq!(state("rmtfail--near"), "running", "{list}");
    assert!(state("rmtfail--far").contains("unreachable"), "{list}");

    // destroy needs the engine; --force forgets it here and says what may be left.
    env.kinfra(&repo, &["sandbox", "destroy", "far"]).code(7);
    env.kinfra(&repo, &["sandbox", "destroy", "far", "--force"])
        .success()
        .stderr_has("left there")
        .stderr_has("compose project rmtfail--far");
    assert!(env.registry()["instances"].get("rmtfail--far").is_none());
    assert!(!answers(far_port), "its forward was left behind");
    env.kinfra(&env.work, &["engine", "rm", "rem"]).success();
    env.kinfra(&repo, &["sandbox", "destroy", "near"]).success();
}

#[test]
fn impl_on_places_its_sandbox_on_the_engine_and_hostile_engines_are_refused() {
    let Some((env, url, _conns, _g)) = remote_env() else {
        return;
    };
    let sock = remote_socket();
    env.kinfra(&env.work, &["engine", "add", "rem", &url])
        .success();
    let repo = crate::harness::project(
        &env,
        "rmtflow",
        &[
            ("compose.yaml", &shop_compose()),
            ("site/index.html", "flow\n"),
            (
                "docs/designs/genome/implementation/M1_foundations.md",
                "# M1\n",
            ),
        ],
    );
    let before = env.registry()["instances"].clone();
    let marker = env.base().join("pwned");
    let m = marker.display().to_string();
    // Hostile or unknown engines: refused before anything is made.
    for (bad, code, says) in [
        (url.clone(), 2, "not an address"),
        (format!("-oProxyCommand=touch${{IFS}}{m}"), 2, "--on"),
        ("-oProxyCommand=sh".to_string(), 2, "not an engine name"),
        ("rem/../x".to_string(), 2, "not an engine name"),
        ("nope".to_string(), 4, "nope"),
    ] {
        env.kinfra(&repo, &["impl", "genome/M1", &format!("--on={bad}")])
            .code(code)
            .stderr_has(says)
            .no_panic();
    }
    assert!(!marker.exists());
    assert_eq!(env.registry()["instances"], before);
    let imp = env.work.join("rmtflow-impl-genome-m1");
    assert!(!imp.exists(), "a refused --on made the worktree");

    env.kinfra(&repo, &["impl", "genome/M1", "--on", "rem"])
        .success()
        .stderr_has("Mirroring the code to rem")
        .stderr_has("is up and ready");
    let id = imp
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name")
        .to_string();
    assert!(!containers_on(&sock, &id).is_empty(), "not on the engine");
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(side_file(&env)).expect("kinfra.json"))
            .expect("JSON");
    assert_eq!(side["placements"][id.as_str()], "rem", "{side}");
    let port = crate::harness::port_of(
        &std::fs::read_to_string(imp.join(".env.sandbox")).expect(".env.sandbox"),
        "PORT_WEB_80",
    );
    assert!(crate::harness::http_get(port, "/index.html").contains("flow"));
    env.kinfra(&repo, &["done", "genome/M1"]).success();
    assert!(containers_on(&sock, &id).is_empty());
    assert!(!answers(port), "its forward was left behind");
    env.kinfra(&env.work, &["engine", "rm", "rem"]).success();
}

/// Drops every SSH session of the rig's user (the engine's connection, its forwards,
/// Docker's own SSH calls in flight).
fn kill_ssh() {
    let killed = std::process::Command::new(rig_script())
        .arg("kill-ssh")
        .output()
        .expect("kill the rig's ssh sessions");
    assert!(killed.status.success(), "{killed:?}");
}

#[test]
fn ssh_killed_in_the_middle_of_up_fails_clearly_and_a_second_up_recovers() {
    let Some((env, url, _conns, _g)) = remote_env() else {
        return;
    };
    let sock = remote_socket();
    env.kinfra(&env.work, &["engine", "add", "rem", &url])
        .success();
    let repo = crate::harness::project(
        &env,
        "rmtcut",
        &[
            ("compose.yaml", &shop_compose()),
            ("site/index.html", "cut\n"),
        ],
    );
    env.kinfra(&repo, &["sandbox", "create", "a", "--on", "rem"])
        .success();
    let wt = env.work.join("rmtcut--a");
    let id = "rmtcut--a";
    let port = crate::harness::port_of(
        &std::fs::read_to_string(wt.join(".env.sandbox")).expect(".env.sandbox"),
        "PORT_WEB_80",
    );
    // Cut at several moments of `up`: while compose creates and starts the
    // containers over SSH (right after the code is mirrored), and later, while
    // the forwards are set up or the gate waits.
    for (round, delay_ms) in [(1, 150u64), (2, 700), (3, 1500)] {
        let paused = crate::harness::Paused::start(
            &env,
            crate::harness::BIN,
            &wt,
            &["sandbox", "up"],
            "up:recorded",
            &[],
        );
        let t = Instant::now();
        let cutter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(delay_ms));
            kill_ssh();
        });
        let (code, stderr) = paused.resume();
        cutter.join().expect("cutter");
        let took = t.elapsed();
        eprintln!("round {round} (cut after {delay_ms} ms): exit {code} in {took:?}\n{stderr}");
        assert!(!stderr.contains("panicked"), "round {round}: {stderr}");
        // Either it completed (the cut came when nothing needed the connection, or
        // the keeper brought it back) or it failed fast, saying what failed.
        if code != 0 {
            assert!(
                took < Duration::from_secs(60),
                "round {round}: a cut `up` took {took:?}:\n{stderr}"
            );
            assert!(
                stderr.contains("rem") || stderr.contains("ssh") || stderr.contains("SSH"),
                "round {round}: the error does not say the engine's connection failed:\n{stderr}"
            );
            // The connection made again, what this start created there is gone
            // (it started from a stopped sandbox: nothing of it was there before).
            assert!(
                containers_on(&sock, id).is_empty(),
                "round {round}: the failed start left its containers:\n{stderr}"
            );
        }
        // A second `up` recovers whatever the cut left, and the port is served here.
        env.kinfra(&wt, &["sandbox", "up"]).success();
        assert!(
            crate::harness::http_get(port, "/index.html").contains("cut"),
            "round {round}: not served after the second up"
        );
        assert_eq!(
            containers_on(&sock, id).len(),
            1,
            "round {round}: containers doubled or missing"
        );
        // The next round starts from a stopped sandbox.
        env.kinfra(&wt, &["sandbox", "down"]).success();
        assert!(!answers(port), "round {round}: down left the forward");
    }
    env.kinfra(&repo, &["sandbox", "destroy", "a"]).success();
    assert!(containers_on(&sock, id).is_empty());
    env.kinfra(&env.work, &["engine", "rm", "rem"]).success();
}

/// A project whose `kinfra.toml` fixes its port table (`port_scheme` "env", as
/// KTRDR's): sandbox N gets 17760 + N. Its data is one named volume.
const FIXED_TOML: &str = r#"name = "rmtdata"
compose_file = "compose.yaml"

[[ports]]
key = "RD_WEB_PORT"
local_prod = 17760
base = 17760
step = 1
"#;

const ROWS_COMPOSE: &str = r#"services:
  web:
    image: busybox:1.35
    command: ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports:
      - "${RD_WEB_PORT:-17760}:80"
    volumes:
      - rows:/rows
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/index.html"]
      interval: 1s
      timeout: 2s
      retries: 20
volumes:
  rows:
"#;

/// What the engine at `host` holds of `project`: its containers and volumes.
fn left_on(host: &str, project: &str) -> (Vec<String>, Vec<String>) {
    let label = format!("label=com.docker.compose.project={project}");
    let volumes = docker_on(host, &["volume", "ls", "-q", "--filter", &label])
        .lines()
        .map(String::from)
        .collect();
    (containers_on(host, project), volumes)
}

/// The rows in a sandbox's data volume on the engine at `host` (read by a helper
/// container there, as the sandbox's own service would).
fn rows_of(host: &str, id: &str) -> String {
    docker_on(
        host,
        &[
            "run",
            "--rm",
            "-v",
            &format!("{id}_rows:/r:ro"),
            "busybox:1.35",
            "cat",
            "/r/rows",
        ],
    )
}

fn port_in(dir: &Path, key: &str) -> u16 {
    crate::harness::port_of(
        &std::fs::read_to_string(dir.join(".env.sandbox")).expect(".env.sandbox"),
        key,
    )
}

/// Data on another machine's engine: a snapshot of a remote sandbox is made and
/// listed there (ENGINE shown, in --json and MCP too); sandboxes made from it and
/// from the sandbox itself copy inside that engine and read its rows; a source on
/// another engine than the new sandbox's is refused with nothing made; a snapshot
/// record naming an engine kinfra does not know, or an address, is refused and
/// never dialled; an engine that does not answer still lists its snapshots. The
/// stack fixes its port table, so this is also a remote start of such a stack (its
/// ports free on both machines), and its refusal when one is not.
#[test]
fn data_branches_within_a_remote_engine_and_never_across() {
    let Some((env, url, _conns, _g)) = remote_env() else {
        return;
    };
    let sock = remote_socket();
    env.kinfra(&env.work, &["engine", "add", "rem", &url])
        .success();
    let repo = crate::harness::project(
        &env,
        "rmtdata",
        &[("compose.yaml", ROWS_COMPOSE), ("kinfra.toml", FIXED_TOML)],
    );
    let wt = |n: &str| env.work.join(format!("rmtdata--{n}"));

    // A fixed port table on the remote engine: its port free on both machines, so
    // it starts there and is served here.
    env.kinfra(&repo, &["sandbox", "create", "a", "--on", "rem"])
        .success();
    let port_a = port_in(&wt("a"), "RD_WEB_PORT");
    assert_eq!(port_a, 17761, "the table's port for slot 1");
    env.kinfra(&wt("a"), &["sandbox", "up"])
        .success()
        .stderr_has("Mirroring the code to rem");
    assert!(crate::harness::http_get(port_a, "/index.html").contains("ok"));
    let cid = containers_on(&sock, "rmtdata--a")[0].clone();
    docker_on(
        &sock,
        &[
            "exec",
            &cid,
            "sh",
            "-c",
            "printf '1\\n2\\n3\\n' > /rows/rows",
        ],
    );

    // Saved there: its volumes on that engine, none here; its record says where.
    env.kinfra(&repo, &["snapshot", "save", "base", "--from", "a"])
        .success()
        .stderr_has("Saved snapshot base");
    let snap_label = "label=dev.kinfra.snapshot=base";
    assert!(
        !docker_on(&sock, &["volume", "ls", "-q", "--filter", snap_label])
            .trim()
            .is_empty()
    );
    assert!(
        crate::harness::docker(&["volume", "ls", "-q", "--filter", snap_label])
            .trim()
            .is_empty(),
        "a remote sandbox's snapshot landed on this machine's engine"
    );
    let listed = env.kinfra(&repo, &["snapshot", "list", "--json"]).json();
    let base = &listed["snapshots"][0];
    assert_eq!(
        (&base["name"], &base["engine"], &base["reachable"]),
        (&"base".into(), &"rem".into(), &true.into()),
        "{listed}"
    );
    assert_eq!(
        base["volumes"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    env.kinfra(&repo, &["snapshot", "list"])
        .success()
        .stdout_has("ENGINE")
        .stdout_has("rem");
    // MCP's snapshot_list is the same document.
    let mut mcp = crate::mcp::Client::start(&env, &repo);
    let (err, v) = mcp.call("snapshot_list", serde_json::json!({}));
    assert!(!err, "{v}");
    assert_eq!(v["snapshots"][0]["engine"], "rem", "{v}");
    drop(mcp);
    docker_on(&sock, &["exec", &cid, "sh", "-c", "echo 4 >> /rows/rows"]);

    // Copies inside that engine: from the snapshot (its 3 rows) and from the running
    // sandbox (all 4); `--on auto` with --data follows the data.
    env.kinfra(
        &repo,
        &["sandbox", "create", "b", "--data", "base", "--on", "rem"],
    )
    .success()
    .stderr_has("Copied its data from snapshot base");
    env.kinfra(
        &repo,
        &["sandbox", "create", "c", "--data", "a", "--on", "auto"],
    )
    .success()
    .stderr_has("--on auto with --data: the engine rem");
    assert_eq!(rows_of(&sock, "rmtdata--b"), "1\n2\n3\n");
    assert_eq!(rows_of(&sock, "rmtdata--c"), "1\n2\n3\n4\n");
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(side_file(&env)).expect("kinfra.json"))
            .expect("JSON");
    assert_eq!(side["placements"]["rmtdata--b"], "rem", "{side}");
    assert_eq!(side["placements"]["rmtdata--c"], "rem", "{side}");
    assert_eq!(side["snapshots"]["rmtdata/base"]["engine"], "rem", "{side}");
    // Compose takes the copy's volume as its own: b starts on it, served here.
    env.kinfra(&wt("b"), &["sandbox", "up"]).success();
    let port_b = port_in(&wt("b"), "RD_WEB_PORT");
    assert!(crate::harness::http_get(port_b, "/index.html").contains("ok"));
    let cid_b = containers_on(&sock, "rmtdata--b")[0].clone();
    assert_eq!(
        docker_on(&sock, &["exec", &cid_b, "cat", "/rows/rows"]),
        "1\n2\n3\n"
    );

    // A source on another engine than the new sandbox's: refused, naming both,
    // with nothing made (no worktree, registration, placement, container or volume
    // on either engine).
    env.kinfra(&repo, &["sandbox", "create", "l"]).success();
    let registered = env.registry()["instances"].clone();
    let placements = |env: &Env| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(
            &std::fs::read_to_string(side_file(env)).expect("kinfra.json"),
        )
        .expect("JSON")["placements"]
            .clone()
    };
    let placed = placements(&env);
    for args in [
        &["sandbox", "create", "x", "--data", "base"][..],
        &["sandbox", "create", "x", "--data", "a"][..],
        &["sandbox", "create", "x", "--data", "l", "--on", "rem"][..],
    ] {
        env.kinfra(&repo, args)
            .code(2)
            .stderr_has("copying between engines is not supported yet")
            .stderr_has("engine rem")
            .stderr_has("this machine's engine")
            .no_panic();
        assert!(!wt("x").exists(), "{args:?} made the worktree");
        assert_eq!(env.registry()["instances"], registered, "{args:?}");
        assert_eq!(placements(&env), placed, "{args:?}");
        let nothing = (Vec::<String>::new(), Vec::<String>::new());
        assert_eq!(left_on(&sock, "rmtdata--x"), nothing, "{args:?}");
        let here = (
            crate::harness::docker(&[
                "ps",
                "-aq",
                "--filter",
                "label=com.docker.compose.project=rmtdata--x",
            ]),
            crate::harness::docker(&[
                "volume",
                "ls",
                "-q",
                "--filter",
                "label=com.docker.compose.project=rmtdata--x",
            ]),
        );
        assert_eq!(here, (String::new(), String::new()), "{args:?}");
    }
    // Nor is a local sandbox's data replaced from a remote snapshot.
    env.kinfra(&wt("l"), &["sandbox", "reset", "--data", "base", "--yes"])
        .code(2)
        .stderr_has("copying between engines is not supported yet");
    // The engine keeps its snapshot while one is recorded there.
    env.kinfra(&env.work, &["engine", "rm", "rem"])
        .code(1)
        .stderr_has("snapshot rmtdata/base");

    // A hand-edited record naming an engine kinfra did not record, or an address:
    // refused, never dialled.
    let marker = env.base().join("pwned");
    let record = "rmtdata/base";
    for bad in [
        "ghost".to_string(),
        "ssh://kinfrarem@10.253.0.2:2222".to_string(),
        format!("-oProxyCommand=touch {}", marker.display()),
    ] {
        edit_side_file(&env, |v| {
            v["snapshots"][record]["engine"] = bad.clone().into();
        });
        env.kinfra(
            &repo,
            &["sandbox", "create", "y", "--data", "base", "--on", "rem"],
        )
        .code(6)
        .stderr_has("kinfra will not use")
        .no_panic();
        env.kinfra(&repo, &["snapshot", "rm", "base"])
            .code(6)
            .stderr_has("kinfra will not use");
        assert!(!wt("y").exists());
    }
    assert!(!marker.exists(), "a record's engine was dialled");
    edit_side_file(&env, |v| v["snapshots"][record]["engine"] = "rem".into());

    // An engine that does not answer (its address moved to a closed port): its
    // snapshot is listed as unreachable, from its record, which stays as it was.
    let good = engines_recorded(&env)["rem"]["url"].clone();
    edit_side_file(&env, |v| {
        v["engines"]["rem"]["url"] = "ssh://kinfrarem@10.253.0.2:2223".into();
    });
    let listed = env.kinfra(&repo, &["snapshot", "list", "--json"]).json();
    let base = &listed["snapshots"][0];
    assert_eq!(
        (&base["name"], &base["engine"], &base["reachable"]),
        (&"base".into(), &"rem".into(), &false.into()),
        "{listed}"
    );
    assert!(
        base["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not reachable"),
        "{listed}"
    );
    env.kinfra(&repo, &["snapshot", "list"])
        .success()
        .stdout_has("rem (unreachable)");
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(side_file(&env)).expect("kinfra.json"))
            .expect("JSON");
    assert_eq!(side["snapshots"][record]["engine"], "rem", "{side}");
    edit_side_file(&env, |v| v["engines"]["rem"]["url"] = good.clone());

    // Fixed ports must be free on both machines: one held on the engine's machine
    // (a listener there, not a container's published port), then one held here.
    env.kinfra(&repo, &["sandbox", "create", "g", "--on", "rem"])
        .success();
    let port_g = port_in(&wt("g"), "RD_WEB_PORT");
    let p = port_g.to_string();
    let holder = docker_on(
        &sock,
        &[
            "run",
            "-d",
            "--network",
            "host",
            "busybox:1.35",
            "httpd",
            "-f",
            "-p",
            &p,
        ],
    );
    env.kinfra(&wt("g"), &["sandbox", "up"])
        .code(3)
        .stderr_has(&p)
        .stderr_has("on the machine of the engine rem");
    assert!(containers_on(&sock, "rmtdata--g").is_empty());
    docker_on(&sock, &["rm", "-f", holder.trim()]);
    let here = std::net::TcpListener::bind(("127.0.0.1", port_g)).expect("hold the port here");
    env.kinfra(&wt("g"), &["sandbox", "up"])
        .code(3)
        .stderr_has(&p)
        .stderr_has("on this machine");
    assert!(containers_on(&sock, "rmtdata--g").is_empty());
    drop(here);

    // Removed on its engine, with its record.
    env.kinfra(&repo, &["snapshot", "rm", "base"]).success();
    assert!(
        docker_on(&sock, &["volume", "ls", "-q", "--filter", snap_label])
            .trim()
            .is_empty()
    );
    assert!(
        env.kinfra(&repo, &["snapshot", "list", "--json"]).json()["snapshots"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    for n in ["a", "b", "c", "g", "l"] {
        env.kinfra(&repo, &["sandbox", "destroy", n]).success();
    }
    env.kinfra(&env.work, &["engine", "rm", "rem"]).success();
}

/// Puts `docker` and `ssh` first on the test's PATH, each writing one line per call
/// to the returned log (`docker DOCKER_HOST=… ARGS`, `ssh ARGS`) before running
/// the real program: what kinfra, compose and Docker's SSH transport start.
fn log_calls(env: &Env) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let log = env.base().join("calls.log");
    for (tool, line) in [
        ("docker", "docker DOCKER_HOST=${DOCKER_HOST:-} $*"),
        ("ssh", "ssh $*"),
    ] {
        let real = String::from_utf8(
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .expect("command -v")
                .stdout,
        )
        .expect("utf-8");
        let real = real.trim();
        assert!(real.starts_with('/'), "no {tool} on PATH: {real:?}");
        let script = env.bin.join(tool);
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"{line}\" >> '{}'\nexec '{real}' \"$@\"\n",
                log.display()
            ),
        )
        .expect("write the wrapper");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    log
}

/// The pid of the engine's SSH connection kinfra keeps (`ssh -O check`), if up.
fn master_pid(ctl: &Path) -> Option<i32> {
    let out = std::process::Command::new("ssh")
        .arg("-o")
        .arg(format!("ControlPath={}", ctl.display()))
        .args(["-O", "check", "unused"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    text.split("pid=")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Ends the engine's connection by its pid (the rig's other sessions stay).
fn kill_master(ctl: &Path) {
    let pid = master_pid(ctl).expect("the engine's connection is up");
    let killed = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(killed.success());
    crate::harness::eventually("the connection ends", || master_pid(ctl) != Some(pid));
}

/// The Docker root of the engine at `host` (which engine answered).
fn docker_root(host: &str) -> String {
    docker_on(host, &["info", "--format", "{{.DockerRootDir}}"])
        .trim()
        .to_string()
}

#[test]
fn docker_calls_go_through_the_engines_forwarded_socket_which_comes_back_when_dropped() {
    use std::os::unix::fs::PermissionsExt;
    let Some((env, url, _conns, _g)) = remote_env() else {
        return;
    };
    let sock = remote_socket();
    env.kinfra(&env.work, &["engine", "add", "rem", &url])
        .success();
    let repo = crate::harness::project(
        &env,
        "rmtsock",
        &[
            ("compose.yaml", &shop_compose()),
            ("site/index.html", "sock\n"),
        ],
    );
    env.kinfra(&repo, &["sandbox", "create", "a", "--on", "rem"])
        .success();
    let wt = env.work.join("rmtsock--a");
    let port = crate::harness::port_of(
        &std::fs::read_to_string(wt.join(".env.sandbox")).expect(".env.sandbox"),
        "PORT_WEB_80",
    );
    let log = log_calls(&env);
    env.kinfra(&wt, &["sandbox", "up"]).success();
    assert!(crate::harness::http_get(port, "/index.html").contains("sock"));

    // The forwarded socket: only its owner may use it, in a directory only its
    // owner may enter, and it is the engine's Docker there (not this machine's).
    let engines = env.kinfra_home.join("engines");
    let local = engines.join("rem.docker.sock");
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&engines), 0o700);
    assert_eq!(mode(&local), 0o600);
    let local_host = format!("unix://{}", local.display());
    assert_eq!(docker_root(&local_host), docker_root(&sock));
    assert_ne!(
        docker_root(&local_host),
        crate::harness::docker(&["info", "--format", "{{.DockerRootDir}}"]).trim()
    );

    // Every docker call went there (compose's too), and no ssh call logged in on
    // its own: Docker's SSH transport (`dial-stdio`) was not used, and every ssh
    // kinfra ran went through the engine's one connection.
    let check_calls = |what: &str| {
        let calls = std::fs::read_to_string(&log).unwrap_or_default();
        let docker: Vec<&str> = calls.lines().filter(|l| l.starts_with("docker ")).collect();
        assert!(
            !docker.is_empty(),
            "{what}: no docker call logged:\n{calls}"
        );
        for l in &docker {
            assert!(
                l.starts_with(&format!("docker DOCKER_HOST={local_host} ")),
                "{what}: a docker call not through the socket: {l}\n{calls}"
            );
        }
        let logins: Vec<&str> = calls
            .lines()
            .filter(|l| l.starts_with("ssh ") && !l.contains(" -O ") && !l.contains("ControlPath="))
            .collect();
        assert!(logins.is_empty(), "{what}: SSH logins: {logins:?}\n{calls}");
        assert!(!calls.contains("dial-stdio"), "{what}:\n{calls}");
    };
    check_calls("up");

    // The connection dropped while up: the keeper makes it again, with the socket
    // and the port, and no command is needed for it.
    let ctl = engines.join("rem.ctl");
    kill_master(&ctl);
    crate::harness::eventually("the socket answers again", || {
        std::process::Command::new("docker")
            .args(["-H", &local_host, "version"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    crate::harness::eventually("the port is served again", || {
        crate::harness::http_get(port, "/index.html").contains("sock")
    });

    // Dropped while nothing keeps it (down): the next command makes it again, and
    // its calls still go through the socket, with no login of their own.
    env.kinfra(&wt, &["sandbox", "down"]).success();
    kill_master(&ctl);
    std::fs::write(&log, "").expect("empty the log");
    env.kinfra(&wt, &["sandbox", "status"]).success();
    assert!(master_pid(&ctl).is_some(), "status made no connection");
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    let masters = calls.lines().filter(|l| l.contains(" -M ")).count();
    assert_eq!(masters, 1, "one connection made:\n{calls}");
    std::fs::write(&log, "").expect("empty the log");
    env.kinfra(&wt, &["sandbox", "up"]).success();
    check_calls("up after a dropped connection");
    assert!(crate::harness::http_get(port, "/index.html").contains("sock"));

    env.kinfra(&repo, &["sandbox", "destroy", "a"]).success();
    assert!(containers_on(&sock, "rmtsock--a").is_empty());
    env.kinfra(&env.work, &["engine", "rm", "rem"]).success();
}

#[test]
fn a_hand_edited_docker_socket_is_refused_and_never_dialled_here() {
    let Some((env, url, _conns, _g)) = remote_env() else {
        return;
    };
    env.kinfra(&env.work, &["engine", "add", "rem", &url])
        .success();
    let repo = crate::harness::project(
        &env,
        "rmtedit",
        &[
            ("compose.yaml", &shop_compose()),
            ("site/index.html", "edit\n"),
        ],
    );
    env.kinfra(&repo, &["sandbox", "create", "a", "--on", "rem"])
        .success();
    let wt = env.work.join("rmtedit--a");
    let ctl = env.kinfra_home.join("engines/rem.ctl");
    let end_connection = || {
        if master_pid(&ctl).is_some() {
            kill_master(&ctl);
        }
    };
    let set = |v: &str| {
        edit_side_file(&env, |j| {
            j["engines"]["rem"]["docker_host"] = serde_json::json!(v);
        });
    };
    let marker = env.base().join("pwned");
    let m = marker.display().to_string();
    // Not a plain absolute path: refused before anything runs (exit 2, naming the
    // engine and what to do), whatever the command.
    for bad in [
        format!("unix:///tmp/x;touch {m}"),
        format!("unix:///tmp/$(touch {m})"),
        format!("unix:///tmp/`touch {m}`"),
        "unix://relative/docker.sock".to_string(),
        "unix:///var/run/../../tmp/docker.sock".to_string(),
        "unix:///tmp/a:127.0.0.1:22".to_string(),
        "unix:///tmp/a b.sock".to_string(),
        "unix:///tmp/x\n-oProxyCommand=sh".to_string(),
        format!("-oProxyCommand=touch {m}"),
        format!("tcp://x;touch {m}"),
    ] {
        end_connection();
        set(&bad);
        for args in [&["sandbox", "status"][..], &["sandbox", "up"][..]] {
            env.kinfra(&wt, args)
                .code(2)
                .stderr_has("records Docker at")
                .stderr_has("docker_host")
                .no_panic();
        }
        assert!(!marker.exists(), "{bad:?} ran a command");
        assert!(master_pid(&ctl).is_none(), "{bad:?}: a connection was made");
    }

    // A plain path that is no Docker there: only ever the far end of the forward,
    // never dialled here. A socket only this machine's root may reach (the test's
    // directory is 0700): had kinfra dialled it here, it would have answered.
    let trap_dir = env.base().join("trap");
    std::fs::create_dir(&trap_dir).expect("mkdir");
    let trap = trap_dir.join("docker.sock");
    let listener = std::os::unix::net::UnixListener::bind(&trap).expect("bind the trap");
    listener.set_nonblocking(true).expect("nonblocking");
    end_connection();
    set(&format!("unix://{}", trap.display()));
    env.kinfra(&wt, &["sandbox", "status"])
        .success()
        .stderr_has("could not reach Docker on rem through its forwarded socket");
    assert!(
        listener.accept().is_err(),
        "the recorded socket was dialled on this machine"
    );

    // Not found yet (the field removed): found again at the next connection.
    end_connection();
    edit_side_file(&env, |j| {
        j["engines"]["rem"]
            .as_object_mut()
            .expect("engine")
            .remove("docker_host");
    });
    env.kinfra(&wt, &["sandbox", "status"]).success();
    assert_eq!(
        engines_recorded(&env)["rem"]["docker_host"],
        remote_socket().as_str()
    );
    env.kinfra(&repo, &["sandbox", "destroy", "a"]).success();
    env.kinfra(&env.work, &["engine", "rm", "rem"]).success();
}
