//! The paths that only READ Docker's output (`list`, `status`), with a fake
//! `docker` on PATH answering `docker ps` with lines captured from a real engine
//! (20.10, a compose project with a healthy web server, a running and an exited
//! service): in the quick pass, no engine needed. The fake refuses every call that
//! is not a read, so these tests also show the paths stay read-only.

use crate::harness::Env;

/// `docker ps -a --no-trunc --format PS_FORMAT` of a real compose project
/// (`fast-cap` in /tmp/fastcap), with its project and directory as placeholders.
const CAPTURED: &str = "\
8c0df50c2a5508441237677ba1149266b7966cd2fc03ea864c40f9028ebd6a1b\tPROJECT\tjob\texited\tExited (3) 4 seconds ago\tPROJECT-job-1\t\tDIR
838f009b05aaa5a647507d985576c9af1a518957a441857679bcfef42b19d78b\tPROJECT\tdb\trunning\tUp 4 seconds\tPROJECT-db-1\t\tDIR
8c5a9d0412ceaef918a11a41308b49659ec49b996a1099577f22b05d51bad498\tPROJECT\tweb\trunning\tUp 4 seconds (healthy)\tPROJECT-web-1\t127.0.0.1:18931->80/tcp\tDIR
";

fn captured(project: &str, dir: &str) -> String {
    CAPTURED.replace("PROJECT", project).replace("DIR", dir)
}

#[test]
fn list_and_status_read_docker_ps_and_only_read() {
    let mut env = Env::new();
    let repo = env.clone_repo("ktrdr-fake");
    let other = env.clone_repo("ktrdr-fake-other");
    // What the engine holds: this sandbox's three containers, one more of its
    // project name started from another clone, and another project's.
    let dir = repo.display().to_string();
    let mut ps = captured("fd-one", &dir);
    ps.push_str(
        &captured("fd-one", &other.display().to_string())
            .lines()
            .nth(1)
            .map(|l| format!("{}\n", l.replacen("838f", "999f", 1)))
            .unwrap_or_default(),
    );
    ps.push_str(&captured("fd-two", &other.display().to_string()));
    // Registered while the engine holds nothing (init refuses a project name
    // that containers already carry), then the engine's answer changes.
    env.fake_docker("", false);
    env.kinfra(&repo, &["sandbox", "init", "--name", "fd-one"])
        .success();
    env.kinfra(&other, &["sandbox", "init", "--name", "fd-two"])
        .success();
    env.fake_docker(&ps, false);

    let r = env.kinfra(&repo, &["sandbox", "list", "--json"]);
    r.success();
    let rows = r.json()["instances"].clone();
    let row = |id: &str| {
        rows.as_array()
            .and_then(|a| a.iter().find(|x| x["instance_id"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("{id} is listed\n{r}"))
    };
    assert_eq!(row("fd-one")["state"], "partial 2/3", "{r}");
    assert_eq!(
        row("fd-one")["foreign"],
        serde_json::json!([other.display().to_string()]),
        "{r}"
    );
    assert_eq!(row("fd-two")["state"], "partial 2/3", "{r}");
    assert!(r.json()["docker_error"].is_null(), "{r}");
    env.kinfra(&repo, &["sandbox", "list"])
        .success()
        .stdout_has("partial 2/3 +foreign")
        .stdout_has(&format!("fd-one: containers from {}", other.display()));

    let r = env.kinfra(&repo, &["sandbox", "status", "--json"]);
    r.success();
    let s = r.json();
    assert_eq!(s["state"], "partial 2/3", "{r}");
    let services: Vec<(String, String, String)> = s["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|v| {
            (
                v["service"].as_str().unwrap_or("").to_string(),
                v["state"].as_str().unwrap_or("").to_string(),
                v["health"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    let want = [
        ("db", "running", "-"),
        ("job", "exited", "-"),
        ("web", "running", "healthy"),
    ];
    assert_eq!(
        services,
        want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())),
        "{r}"
    );
    env.kinfra(&repo, &["sandbox", "status"])
        .success()
        .stdout_has("fd-one (sandbox, slot 1): partial 2/3")
        .stdout_has("(not this instance's)")
        .stdout_has("running (healthy)");

    // Only reads reached docker: `docker ps`, and the leftover check of init.
    let calls = env.docker_calls();
    assert!(
        calls.lines().any(|c| c.starts_with("ps ")),
        "docker ps was asked\n{calls}"
    );
    for call in calls.lines() {
        assert!(
            ["ps ", "volume ls ", "network ls "]
                .iter()
                .any(|r| call.starts_with(r)),
            "a call that is not a read: {call}\n{calls}"
        );
    }
}

#[test]
fn list_says_when_docker_cannot_be_asked() {
    let mut env = Env::new();
    let repo = env.clone_repo("ktrdr-fake-down");
    env.fake_docker("", false);
    env.kinfra(&repo, &["sandbox", "init", "--name", "fd-down"])
        .success();
    env.fake_docker("", true);
    let r = env.kinfra(&repo, &["sandbox", "list", "--json"]);
    r.success();
    let j = r.json();
    assert_eq!(j["instances"][0]["state"], "unknown", "{r}");
    assert!(
        j["docker_error"]
            .as_str()
            .is_some_and(|e| e.contains("Docker")),
        "{r}"
    );
    env.kinfra(&repo, &["sandbox", "list"])
        .success()
        .stderr_has("states are unknown");
    // status needs the states: it fails, saying the engine is unreachable.
    let r = env.kinfra(&repo, &["sandbox", "status"]);
    assert_ne!(r.code, 0, "{r}");
    r.no_panic();
}

/// A sandbox named from outside its project is read with its own description, not
/// the current directory's: from the parent directory (no repository: the
/// built-in KTRDR description would apply), `status NAME` of a project with its own
/// `kinfra.toml` shows that project's services and none of KTRDR's.
#[test]
fn a_sandbox_named_from_outside_its_project_is_read_with_its_own_description() {
    let mut env = Env::new();
    let repo = crate::harness::project(
        &env,
        "own-desc",
        &[
            (
                "compose.yaml",
                "services:\n  web:\n    image: busybox:1.35\n    ports: [\"18080:80\"]\n",
            ),
            (
                "kinfra.toml",
                "name = \"own-desc\"\ncompose_file = \"compose.yaml\"\n",
            ),
        ],
    );
    env.fake_docker("", false);
    env.kinfra(&repo, &["sandbox", "init", "--name", "own-desc-one"])
        .success();
    let ps = captured("own-desc-one", &repo.display().to_string());
    env.fake_docker(&ps, false);
    let inside = env.kinfra(&repo, &["sandbox", "status", "--json"]);
    inside.success();
    let outside = env.kinfra(
        &env.base(),
        &["sandbox", "status", "own-desc-one", "--json"],
    );
    outside.success();
    assert_eq!(
        inside.json(),
        outside.json(),
        "inside:\n{inside}\noutside:\n{outside}"
    );
    // The same from another project's clone (a KTRDR one).
    let ktrdr = env.clone_repo("ktrdr-elsewhere");
    let there = env.kinfra(&ktrdr, &["sandbox", "status", "own-desc-one", "--json"]);
    there.success();
    assert_eq!(
        inside.json(),
        there.json(),
        "inside:\n{inside}\nthere:\n{there}"
    );
}
