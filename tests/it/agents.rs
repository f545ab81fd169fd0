//! What agents use besides MCP: Claude Code's worktree hooks (fed recorded payloads
//! of each shape, stdin left open), and the verbs `url`, `env` and `wait`.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::docker_env;
use crate::harness::{BIN, Env, git};

/// Runs a hook with `payload` on stdin and stdin kept open: the hook must read one
/// object and finish without waiting for the end of input.
fn hook(env: &Env, cwd: &Path, which: &str, payload: serde_json::Value) -> (i32, String, String) {
    let mut cmd = env.command(BIN, cwd, &["hook", which], &[]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kinfra hook");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(payload.to_string().as_bytes())
        .expect("write");
    stdin.flush().expect("flush");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("`kinfra hook {which}` waited for the end of its input");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stdin);
    let out = child.wait_with_output().expect("output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn claude_worktree_hooks_make_and_remove_sandboxes_without_losing_work() {
    let mut env = docker_env!();
    let repo = env.clone_repo("ktrdr");

    // install: merged into the settings, everything else kept, idempotent.
    std::fs::create_dir_all(repo.join(".claude")).unwrap();
    let settings = repo.join(".claude/settings.local.json");
    std::fs::write(&settings, r#"{"permissions": {"allow": ["Bash(ls)"]}}"#).unwrap();
    env.kinfra(&repo, &["hook", "install"])
        .success()
        .stderr_has("Added kinfra's worktree hooks");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(s["permissions"]["allow"][0], "Bash(ls)");
    assert_eq!(
        s["hooks"]["WorktreeCreate"][0]["hooks"][0]["command"],
        "kinfra hook worktree-create"
    );
    assert_eq!(
        s["hooks"]["WorktreeRemove"][0]["hooks"][0]["command"],
        "kinfra hook worktree-remove"
    );
    env.kinfra(&repo, &["hook", "install"])
        .success()
        .stderr_has("already has");
    std::fs::write(&settings, "{broken").unwrap();
    env.kinfra(&repo, &["hook", "install"])
        .code(2)
        .stderr_has("left as it is");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), "{broken");
    std::fs::remove_dir_all(repo.join(".claude")).unwrap();

    // WorktreeCreate, as one build sends it: stdout is the path and nothing else.
    let (code, out, err) = hook(
        &env,
        &env.work,
        "worktree-create",
        json!({"session_id": "abc", "transcript_path": "/tmp/t.jsonl", "hook_event_name": "WorktreeCreate", "cwd": repo, "name": "hooked"}),
    );
    assert_eq!(code, 0, "{err}");
    let wt = repo.parent().unwrap().join("ktrdr--hooked");
    assert_eq!(
        out,
        format!("{}\n", wt.display()),
        "stdout: the path only\n{err}"
    );
    assert!(wt.join(".env.sandbox").is_file());
    assert!(
        err.contains("Creating worktree"),
        "progress on stderr: {err}"
    );

    // Another build's spelling, from a given commit.
    let base = git(&repo, &["rev-parse", "HEAD~0"]).trim().to_string();
    let (code, out, err) = hook(
        &env,
        &repo,
        "worktree-create",
        json!({"worktree_name": "hooked-2", "base_commit": base, "cwd": repo}),
    );
    assert_eq!(code, 0, "{err}");
    let wt2 = std::path::PathBuf::from(out.trim());
    assert_eq!(git(&wt2, &["rev-parse", "HEAD"]).trim(), base);
    assert_eq!(git(&wt2, &["branch", "--show-current"]).trim(), "hooked-2");

    // The agent verbs on the hooked sandbox.
    let api = env.kinfra(&wt, &["url", "api"]);
    api.success();
    assert!(
        api.stdout.trim().starts_with("http://localhost:")
            && api.stdout.trim().ends_with("/api/v1"),
        "{api}"
    );
    env.kinfra(&wt, &["url", "nosuch"])
        .code(2)
        .stderr_has("known: api, database");
    env.kinfra(&wt, &["env"])
        .success()
        .stdout_has("export COMPOSE_PROJECT_NAME='ktrdr--hooked'")
        .stdout_has("export SLOT_NUMBER='");
    let j = env.kinfra(&wt, &["env", "--json"]).json();
    assert_eq!(j["COMPOSE_PROJECT_NAME"], "ktrdr--hooked");
    // Not started: `wait` fails with the gate's exit code, naming the checks.
    env.kinfra(&wt, &["wait", "--timeout", "1"])
        .code(2)
        .stderr_has("startability gate failed");
    env.kinfra(&wt, &["sandbox", "up", "--no-secrets", "--no-wait"])
        .success();
    let w = env.kinfra(&wt, &["wait", "--timeout", "60", "--json"]);
    w.success().stderr_has("is ready");
    assert!(
        w.json()["results"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "{w}"
    );
    env.kinfra(&wt, &["sandbox", "down"]).success();

    // WorktreeRemove: refused while the worktree holds uncommitted work (exit 5)…
    std::fs::write(wt.join("wip.txt"), "unsaved thoughts").unwrap();
    let (code, out, err) = hook(
        &env,
        &repo,
        "worktree-remove",
        json!({"hook_event_name": "WorktreeRemove", "worktree_path": wt, "cwd": repo}),
    );
    assert_eq!(code, 5, "{err}");
    assert_eq!(out, "");
    assert!(wt.join("wip.txt").is_file());
    // …and done once it is safe; stdout stays empty.
    std::fs::remove_file(wt.join("wip.txt")).unwrap();
    let (code, out, err) = hook(&env, &repo, "worktree-remove", json!({"worktree_path": wt}));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "");
    assert!(!wt.exists());
    assert!(env.registry()["instances"].get("ktrdr--hooked").is_none());
    // A worktree kinfra did not make is not its to remove.
    let foreign = env.work.join("not-kinfras");
    std::fs::create_dir_all(&foreign).unwrap();
    let (code, _, err) = hook(
        &env,
        &repo,
        "worktree-remove",
        json!({"worktree_path": foreign}),
    );
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("no kinfra sandbox is registered there") && foreign.is_dir(),
        "{err}"
    );
    // Bad input: a clear error, nothing done.
    let (code, _, err) = hook(&env, &repo, "worktree-create", json!({"cwd": repo}));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no worktree name"), "{err}");
    env.kinfra(&wt2, &["sandbox", "destroy", "-y"]).success();
}

#[test]
fn the_machine_budget_refuses_or_queues_a_start() {
    let mut env = docker_env!();
    let repo = env.clone_repo("ktrdr");
    let a = env.create_sandbox(&repo, "bud-a");
    let b = env.create_sandbox(&repo, "bud-b");
    // A passes its gate: what its containers use is recorded (by a detached
    // measurement, within seconds: `up` does not wait for the engine's first
    // sample), and listed.
    env.kinfra(&a, &["sandbox", "up", "--no-secrets"]).success();
    let recorded = |list: &serde_json::Value| {
        list["instances"].as_array().is_some_and(|rows| {
            rows.iter()
                .any(|r| r["instance_id"] == "ktrdr--bud-a" && r["memory"].as_u64().is_some())
        })
    };
    let started = Instant::now();
    let mut list = env.kinfra(&repo, &["sandbox", "list", "--json"]).json();
    while !recorded(&list) && started.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(200));
        list = env.kinfra(&repo, &["sandbox", "list", "--json"]).json();
    }
    let row = |id: &str| {
        list["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["instance_id"] == id)
            .cloned()
            .unwrap()
    };
    assert!(
        row("ktrdr--bud-a")["memory"]
            .as_u64()
            .is_some_and(|m| m > 0),
        "{list}"
    );
    assert!(row("ktrdr--bud-b")["memory"].is_null(), "{list}");
    env.kinfra(&repo, &["sandbox", "list"])
        .success()
        .stdout_has("MEMORY")
        .stdout_has(" MiB");

    // One stack allowed: B is refused, naming A and what it uses; nothing of B starts.
    let one = [("KINFRA_MAX_RUNNING", "1")];
    env.kinfra_env(&b, &["sandbox", "up", "--no-secrets"], &one)
        .code(7)
        .stderr_has("no room to start ktrdr--bud-b")
        .stderr_has("ktrdr--bud-a (")
        .stderr_has("--wait");
    assert!(crate::harness::docker_objects("ktrdr--bud-b").is_empty());
    env.kinfra_env(
        &b,
        &["sandbox", "up", "--no-secrets"],
        &[("KINFRA_MAX_RUNNING", "two")],
    )
    .code(2)
    .stderr_has("KINFRA_MAX_RUNNING");

    // --wait queues, and starts once A goes down.
    let mut cmd = env.command(
        BIN,
        &b,
        &["sandbox", "up", "--no-secrets", "--wait"],
        &[
            ("KINFRA_MAX_RUNNING", "1"),
            ("KINFRA_BUDGET_POLL_MS", "200"),
        ],
    );
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("up --wait");
    // Its stderr read as it comes: B is known to be queued once it says so (no
    // sleep stands in for that), and the whole of it is checked at the end.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut err = String::new();
    while !err.contains("waiting for room") {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("B never said it waits for room ({e}): {err}"));
        err.push_str(&line);
        err.push('\n');
    }
    assert!(
        crate::harness::running_services("ktrdr--bud-b").is_empty(),
        "B waits while A runs"
    );
    env.kinfra(&a, &["sandbox", "down"]).success();
    let status = child.wait().expect("wait");
    reader.join().expect("stderr reader");
    err.extend(rx.try_iter().map(|l| l + "\n"));
    assert!(status.success(), "{err}");
    assert!(!crate::harness::running_services("ktrdr--bud-b").is_empty());

    // B's own recorded use is over a small budget: refused with the numbers.
    env.kinfra(&b, &["sandbox", "down"]).success();
    env.kinfra_env(
        &b,
        &["sandbox", "up", "--no-secrets"],
        &[("KINFRA_MEMORY_BUDGET", "1K")],
    )
    .code(7)
    .stderr_has("last time");
    for wt in [&a, &b] {
        env.kinfra(wt, &["sandbox", "destroy", "-y"]).success();
    }
}

/// Sets a file's modification time `secs_ago` seconds back (time passing, for the
/// idle test: "used an hour ago" without waiting an hour).
fn age(path: &Path, secs_ago: u64) {
    let when = std::time::SystemTime::now() - Duration::from_secs(secs_ago);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(when))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[test]
fn make_room_stops_the_least_recently_used_idle_sandbox() {
    let env = docker_env!();
    let compose = "services:\n  web:\n    image: busybox:1.35\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports:\n      - \"18696:80\"\n    stop_grace_period: 1s\n";
    let repo = crate::harness::project(&env, "room", &[("compose.yaml", compose)]);
    let ids = ["room--a", "room--b", "room--c"];
    let dir = |id: &str| env.work.join(id);
    for n in ["a", "b", "c"] {
        env.kinfra(&repo, &["sandbox", "create", n]).success();
    }
    // Each started once: its memory recorded (a detached measurement, within seconds).
    for id in ids {
        env.kinfra(&dir(id), &["sandbox", "up"]).success();
    }
    // Room for two of the three stacks: a count, not memory (busybox's few hundred
    // KiB, measured again after every start, moved by more than any margin a
    // memory budget could leave and let the third fit; the planner's memory
    // arithmetic has its unit tests, and bench row 17 runs it on real stacks).
    let small = [("KINFRA_MAX_RUNNING", "2")];
    env.kinfra(&dir("room--c"), &["sandbox", "down"]).success();
    let lock = |id: &str| env.kinfra_home.join(format!("sandbox/locks/{id}.lock"));
    let runs = |id: &str| !crate::harness::running_services(id).is_empty();
    // a used an hour ago, b half an hour ago: a is the least recently used.
    age(&lock("room--a"), 3600);
    age(&lock("room--b"), 1800);

    // Without the flag and no terminal: refused, the hint naming --make-room; nothing stopped.
    env.kinfra_env(&dir("room--c"), &["sandbox", "up"], &small)
        .code(7)
        .stderr_has("no room to start room--c")
        .stderr_has("--make-room");
    assert!(runs("room--a") && runs("room--b") && !runs("room--c"));

    // --make-room: a stops (and is named), b stays, c starts.
    env.kinfra_env(&dir("room--c"), &["sandbox", "up", "--make-room"], &small)
        .success()
        .stderr_has("Stopping room--a (idle 60 min")
        .stderr_has("stopped room--a")
        .stderr_has("to make room for room--c");
    assert!(!runs("room--a") && runs("room--b") && runs("room--c"));
    let list = env.kinfra(&repo, &["sandbox", "list", "--json"]).json();
    assert_eq!(
        list["instances"].as_array().map(Vec::len),
        Some(3),
        "{list}"
    );
    assert!(dir("room--a").is_dir(), "a stopped, nothing of it removed");

    // Used just now, by a request through the router (its record) or a command
    // (its lock file written now: c's `up` began seconds ago, more than the 10 s
    // on a loaded machine): neither is idle, nothing is stopped, refused.
    std::fs::create_dir_all(env.kinfra_home.join("router")).expect("router dir");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    std::fs::write(
        env.kinfra_home.join("router/seen.json"),
        format!("{{\"room--b\": {now_ms}}}"),
    )
    .expect("seen");
    age(&lock("room--b"), 3600);
    age(&lock("room--c"), 0);
    let refused = env.kinfra_env(&dir("room--a"), &["sandbox", "up", "--make-room"], &small);
    refused
        .code(7)
        .stderr_has("no room to start room--a")
        .stderr_has("no idle sandbox could make room");
    // --make-room was passed: the hint does not offer it again.
    assert!(!refused.stderr.contains("pass --make-room"), "{refused}");
    assert!(runs("room--b") && runs("room--c") && !runs("room--a"));
    // c's command an hour ago: c goes, b (asked for by name just now) stays.
    age(&lock("room--c"), 3600);
    env.kinfra_env(&dir("room--a"), &["sandbox", "up", "--make-room"], &small)
        .success()
        .stderr_has("stopped room--c");
    assert!(runs("room--a") && runs("room--b") && !runs("room--c"));
    // A seen.json that is not the router's counts as no record (never a panic):
    // b's last use is its command an hour ago, so b goes (a's `up` was just now).
    std::fs::write(env.kinfra_home.join("router/seen.json"), "[1, 2").expect("seen");
    env.kinfra_env(&dir("room--c"), &["sandbox", "up", "--make-room"], &small)
        .success()
        .stderr_has("stopped room--b");
    assert!(runs("room--a") && !runs("room--b") && runs("room--c"));
    for id in ids {
        env.kinfra(&dir(id), &["sandbox", "destroy", "-y", "--force"])
            .success();
    }
}
