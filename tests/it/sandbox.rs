//! Sandboxes end to end on a real engine.

use std::net::TcpListener;

use crate::docker_env;
use crate::harness::{container_of, docker, docker_objects, git, running_services};

#[test]
fn two_sandboxes_and_local_prod_run_side_by_side_then_leave_nothing() {
    let mut env = docker_env!();
    let prod = env.clone_repo("ktrdr-prod");
    env.kinfra(&prod, &["local-prod", "init"]).success();
    env.kinfra(&prod, &["local-prod", "up", "--no-secrets"])
        .success();

    env.kinfra(&prod, &["sandbox", "create", "alpha"]).success();
    env.kinfra(
        &prod,
        &[
            "sandbox",
            "create",
            "Beta Feature",
            "--branch",
            "feat/beta",
            "--slot",
            "4",
        ],
    )
    .success();
    let alpha = env.work.join("ktrdr--alpha");
    let beta = env.work.join("ktrdr--beta-feature");
    assert_eq!(
        git(&beta, &["branch", "--show-current"]).trim(),
        "feat/beta"
    );
    env.kinfra(&alpha, &["sandbox", "up", "--no-secrets"])
        .success();
    env.kinfra(&beta, &["sandbox", "up", "--no-secrets"])
        .success();

    let st = env.kinfra(&beta.join("backend"), &["sandbox", "status", "--json"]);
    st.success();
    let v = st.json();
    assert_eq!(v["state"], "running");
    assert_eq!(v["slot"], 4);
    assert_eq!(v["ports"]["KTRDR_API_PORT"], 8004);
    assert_eq!(v["ports"]["KTRDR_WORKER_PORT_1"], 5041);
    assert!(v["services"].as_array().expect("services").len() >= 9);
    // The API answers on the sandbox's own port.
    let body = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", 8004)).expect("connect 8004");
        s.write_all(b"GET /api/v1/health HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .expect("request");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("response");
        text
    };
    assert!(body.contains("200") && body.contains("healthy"), "{body}");

    let list = env.kinfra(&alpha, &["sandbox", "list", "--json"]);
    list.success();
    let rows = list.json()["instances"].as_array().expect("rows").clone();
    let find = |id: &str| {
        rows.iter()
            .find(|r| r["instance_id"] == id)
            .cloned()
            .expect(id)
    };
    assert_eq!(find("ktrdr-prod")["state"], "running");
    assert_eq!(find("ktrdr--alpha")["state"], "running");
    assert_eq!(find("ktrdr--alpha")["api_port"], 8001);
    assert_eq!(find("ktrdr--beta-feature")["api_port"], 8004);
    // Commands take a sandbox's name from anywhere (with or without the prefix).
    let st = env.kinfra(&env.work, &["sandbox", "status", "alpha", "--json"]);
    st.success();
    assert_eq!(st.json()["instance_id"], "ktrdr--alpha", "{st}");
    env.kinfra(
        &env.work,
        &[
            "sandbox",
            "logs",
            "--name",
            "ktrdr--beta-feature",
            "db",
            "-n",
            "1",
        ],
    )
    .success();
    env.kinfra(&env.work, &["sandbox", "status", "nope"])
        .code(4)
        .stderr_has("no sandbox named");
    env.kinfra(&env.work, &["local-prod", "status", "alpha"])
        .code(2)
        .stderr_has("take no name");
    let text = env.kinfra(&alpha, &["sandbox", "list"]);
    text.success()
        .stdout_has("ktrdr--alpha")
        .stdout_has("running");

    // Partial state is reported as such.
    let shape = crate::harness::shape();
    docker(&[
        "stop",
        "-t",
        "1",
        &container_of("ktrdr--alpha", shape.side_service),
    ]);
    let list = env.kinfra(&alpha, &["sandbox", "list", "--json"]);
    let rows = list.json()["instances"].as_array().expect("rows").clone();
    let alpha_row = rows
        .iter()
        .find(|r| r["instance_id"] == "ktrdr--alpha")
        .expect("alpha");
    assert_eq!(
        alpha_row["state"],
        format!(
            "partial {}/{}",
            shape.sandbox_services - 1,
            shape.sandbox_services
        ),
        "{list}"
    );

    // down, then destroy: nothing left.
    env.kinfra(&alpha, &["sandbox", "down"]).success();
    assert!(running_services("ktrdr--alpha").is_empty());
    env.kinfra(&alpha, &["sandbox", "destroy"])
        .success()
        .stderr_has("current directory was inside it");
    env.kinfra(&prod, &["sandbox", "destroy", "beta-feature"])
        .success();
    for (p, dir) in [("ktrdr--alpha", &alpha), ("ktrdr--beta-feature", &beta)] {
        assert!(docker_objects(p).is_empty(), "{p}: {:?}", docker_objects(p));
        assert!(!dir.exists(), "{} still exists", dir.display());
        assert!(env.registry()["instances"].get(p).is_none());
    }
    let worktrees = git(&prod, &["worktree", "list"]);
    assert_eq!(worktrees.lines().count(), 1, "{worktrees}");
    assert!(
        running_services("ktrdr-prod").len() >= crate::harness::shape().sandbox_services,
        "local-prod untouched"
    );
}

#[test]
fn destroy_refuses_to_lose_work_unless_forced() {
    let mut env = docker_env!();
    let repo = env.clone_repo("ktrdr-main");
    let wt = env.create_sandbox(&repo, "work");

    std::fs::write(wt.join("draft.txt"), "uncommitted").expect("write");
    let r = env.kinfra(&wt, &["sandbox", "destroy"]);
    r.code(5)
        .stderr_has("uncommitted changes")
        .stderr_has("draft.txt")
        .stderr_has("--force");
    assert!(wt.join("draft.txt").is_file());

    // A commit on no branch (a detached HEAD) would be lost with the worktree.
    git(&wt, &["checkout", "-q", "--detach"]);
    git(&wt, &["add", "draft.txt"]);
    git(&wt, &["commit", "-q", "-m", "local only"]);
    let r = env.kinfra(&repo, &["sandbox", "destroy", "work"]);
    r.code(5)
        .stderr_has("commits on no branch")
        .stderr_has("local only");
    assert!(wt.join("draft.txt").is_file());
    assert!(env.registry()["instances"]["ktrdr--work"].is_object());

    // Commits on the sandbox's branch stay with the branch: destroy goes ahead and
    // says so.
    let mine = env.create_sandbox(&repo, "mine");
    std::fs::write(mine.join("feature.txt"), "done").expect("write");
    git(&mine, &["add", "feature.txt"]);
    git(&mine, &["commit", "-q", "-m", "feature on its branch"]);
    let branch = git(&mine, &["symbolic-ref", "--short", "HEAD"])
        .trim()
        .to_string();
    env.kinfra(&repo, &["sandbox", "destroy", "mine"])
        .success()
        .stderr_has(&format!(
            "branch {branch} keeps 1 commit(s) that are on no remote"
        ));
    assert!(!mine.exists());
    assert!(git(&repo, &["log", "--format=%s", "-1", &branch]).contains("feature on its branch"));

    // --keep-worktree loses nothing: allowed, and the directory stays.
    let keep = env.create_sandbox(&repo, "keep");
    std::fs::write(keep.join("mine.txt"), "x").expect("write");
    env.kinfra(&repo, &["sandbox", "destroy", "keep", "--keep-worktree"])
        .success();
    assert!(keep.join("mine.txt").is_file() && !keep.join(".env.sandbox").exists());

    env.kinfra(&wt, &["sandbox", "destroy", "--force"])
        .success();
    assert!(!wt.exists());
    assert!(env.registry()["instances"].get("ktrdr--work").is_none());
}

#[test]
fn a_directory_kinfra_did_not_create_is_never_deleted() {
    let mut env = docker_env!();
    let repo = env.clone_repo("ktrdr-main");
    // A worktree the user made by hand, registered with init.
    let wt = env.work.join("ktrdr-hand");
    git(
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "hand",
            wt.to_str().expect("utf8"),
        ],
    );
    env.kinfra(&wt, &["sandbox", "init"]).success();
    let reg = env.registry();
    assert_eq!(reg["instances"]["ktrdr-hand"]["is_worktree"], true);
    assert_eq!(
        reg["instances"]["ktrdr-hand"]["parent_repo"],
        repo.display().to_string()
    );
    let r = env.kinfra(&wt, &["sandbox", "destroy", "--force"]);
    r.success().stderr_has("kinfra did not create it");
    assert!(wt.join(".git").is_file(), "hand-made worktree kept");
    // A clone registered as a sandbox stays too.
    let clone = env.clone_repo("ktrdr-clone");
    env.kinfra(&clone, &["sandbox", "init"]).success();
    env.kinfra(&clone, &["sandbox", "destroy"])
        .success()
        .stderr_has("clone");
    assert!(clone.join(".git").is_dir());
    // local-prod cannot be destroyed through `sandbox destroy`.
    env.kinfra(&clone, &["local-prod", "init"]).success();
    env.kinfra(&clone, &["sandbox", "destroy", "--force"])
        .code(2)
        .stderr_has("local-prod destroy");
    assert!(clone.join(".env.sandbox").is_file());
}

#[test]
fn up_on_a_running_instance_is_fine_and_busy_ports_are_named() {
    let mut env = docker_env!();
    let repo = env.clone_repo("ktrdr-main");
    env.kinfra(&repo, &["sandbox", "create", "p", "--slot", "6"])
        .success();
    let wt = env.work.join("ktrdr--p");
    env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
        .success();
    // Its own ports are not conflicts.
    env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
        .success();
    env.kinfra(&wt, &["sandbox", "down"]).success();

    // A port held by another process: exit 3, naming the port.
    let holder = TcpListener::bind(("0.0.0.0", 8006)).expect("bind 8006");
    env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
        .code(3)
        .stderr_has("8006")
        .stderr_has("KTRDR_API_PORT")
        .stderr_has("lsof -iTCP:8006 -sTCP:LISTEN");
    drop(holder);
    // A listener on ::1 only (where `localhost` resolves first on macOS) is found too.
    let v6 = TcpListener::bind(("::1", 8006)).expect("bind [::1]:8006");
    env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
        .code(3)
        .stderr_has("8006");
    drop(v6);

    // A port held by a container: the container is named.
    docker(&[
        "run",
        "-d",
        "--name",
        "kinfra-test-squatter",
        "-p",
        "5438:5438",
        kinfra::setup::demo::IMAGE,
        "sleep",
        "60",
    ]);
    let r = env.kinfra(&wt, &["sandbox", "up", "--no-secrets"]);
    docker(&["rm", "-f", "kinfra-test-squatter"]);
    r.code(3)
        .stderr_has("5438")
        .stderr_has("kinfra-test-squatter");
    assert!(
        running_services("ktrdr--p").is_empty(),
        "nothing started on conflict"
    );
}

#[test]
fn a_failed_gate_exits_2_and_leaves_nothing_running_and_prune_reconciles() {
    let mut env = docker_env!();
    let repo = env.clone_repo("ktrdr-main");
    env.kinfra(&repo, &["sandbox", "create", "broken"])
        .success();
    let wt = env.work.join("ktrdr--broken");
    std::fs::remove_file(wt.join("backend/www/api/v1/workers")).expect("rm");
    // The gate's time covers backend's health too (workers requires it): 3 s could
    // end under load before workers is tried, skipped instead of failed.
    let r = env.kinfra(&wt, &["sandbox", "up", "--no-secrets", "--timeout", "10"]);
    r.code(2)
        .stderr_has("workers    failed")
        .stderr_has("last log lines of backend")
        .stderr_has("startability gate failed");
    assert!(
        docker_objects("ktrdr--broken").is_empty(),
        "{:?}",
        docker_objects("ktrdr--broken")
    );
    assert!(
        env.registry()["instances"]["ktrdr--broken"].is_object(),
        "the slot is kept"
    );

    // A failing post-start step is reported, and the gate result is still shown.
    std::fs::write(
        wt.join("backend/www/api/v1/workers"),
        r#"{"workers":[1,2,3,4]}"#,
    )
    .expect("write");
    std::fs::write(
        wt.join("backend/bin/alembic"),
        "#!/bin/sh\necho 'migration 0002 failed: boom' >&2\nexit 1\n",
    )
    .expect("write");
    let r = env.kinfra(&wt, &["sandbox", "up", "--no-secrets"]);
    r.code(1)
        .stderr_has("post-start step database migrations failed")
        .stderr_has("boom")
        .stderr_has("workers    passed")
        .stderr_has("the stack is up, but its post-start step failed");
    env.kinfra(&wt, &["sandbox", "down", "--volumes"]).success();

    // A sandbox whose directory was deleted by hand, containers still running.
    let gone = env.create_sandbox(&repo, "gone");
    env.kinfra(&gone, &["sandbox", "up", "--no-secrets", "--no-wait"])
        .success();
    std::fs::remove_dir_all(&gone).expect("rm -rf");
    let list = env.kinfra(&repo, &["sandbox", "list", "--json"]);
    let rows = list.json()["instances"].as_array().expect("rows").clone();
    assert!(
        rows.iter()
            .any(|r| r["instance_id"] == "ktrdr--gone" && r["state"] == "directory missing")
    );
    let dry = env.kinfra(&repo, &["sandbox", "prune", "--dry-run"]);
    dry.success().stdout_has("would remove ktrdr--gone");
    assert!(!docker_objects("ktrdr--gone").is_empty());
    env.kinfra(&repo, &["sandbox", "prune"])
        .success()
        .stdout_has("removed ktrdr--gone");
    assert!(docker_objects("ktrdr--gone").is_empty());
    assert!(env.registry()["instances"].get("ktrdr--gone").is_none());
    let worktrees = git(&repo, &["worktree", "list"]);
    assert!(
        !worktrees.contains("ktrdr--gone"),
        "git still lists it:\n{worktrees}"
    );
    assert!(
        env.registry()["instances"]["ktrdr--broken"].is_object(),
        "prune keeps live entries"
    );

    // The freed slot is reused with fresh volumes (no stale database).
    env.kinfra(&repo, &["sandbox", "release", "ktrdr--broken"])
        .success();
    env.kinfra(&repo, &["sandbox", "create", "next"]).success();
    assert_eq!(env.registry()["instances"]["ktrdr--next"]["slot"], 1);
    env.kinfra(&repo, &["sandbox", "prune"])
        .success()
        .stdout_has("Nothing to prune");
}

#[test]
fn another_homes_project_of_the_same_name_is_never_touched() {
    let mut env = docker_env!();
    let prod = env.clone_repo("ktrdr-prod");
    env.kinfra(&prod, &["local-prod", "init"]).success();
    env.kinfra(&prod, &["local-prod", "up", "--no-secrets", "--no-wait"])
        .success();
    let before = docker_objects("ktrdr-prod");
    assert!(!before.is_empty());

    // A second kinfra home (the demo, a test, a colleague's) wants `ktrdr-prod` too.
    let other_home = env.base().join("other-home");
    let other = env.clone_repo("ktrdr-prod-2");
    let home = other_home.to_str().expect("utf8");
    let r = env.kinfra_env(&other, &["local-prod", "init"], &[("KINFRA_HOME", home)]);
    r.code(1)
        .stderr_has("Docker already has")
        .stderr_has(&prod.display().to_string());
    assert!(!other.join(".env.sandbox").exists());
    // Even with a hand-made .env.sandbox, up and down refuse instead of clobbering.
    std::fs::copy(prod.join(".env.sandbox"), other.join(".env.sandbox")).expect("copy");
    env.kinfra_env(
        &other,
        &["local-prod", "up", "--no-secrets"],
        &[("KINFRA_HOME", home)],
    )
    .code(1)
    .stderr_has("Docker already has");
    env.kinfra_env(&other, &["local-prod", "down"], &[("KINFRA_HOME", home)])
        .code(1);
    // Its status shows them as someone else's, never as this instance running.
    let st = env.kinfra_env(
        &other,
        &["local-prod", "status", "--json"],
        &[("KINFRA_HOME", home)],
    );
    st.success();
    assert_eq!(st.json()["state"], "foreign", "{st}");
    assert_eq!(st.json()["foreign"][0], prod.display().to_string(), "{st}");
    assert_eq!(
        st.json()["services"].as_array().map(Vec::len),
        Some(0),
        "{st}"
    );
    env.kinfra_env(&other, &["local-prod", "status"], &[("KINFRA_HOME", home)])
        .success()
        .stdout_has(&format!("containers from {}", prod.display()));
    // `kinfra demo` (its own home) meets the same name: it stops, touches nothing,
    // and never suggests removing what is probably the user's real local-prod.
    let demo = env.kinfra(&env.work, &["demo"]);
    demo.code(2).stderr_has("never touches");
    assert!(!demo.stderr.contains("docker rm"), "{demo}");
    // The real one's own status and list are unaffected.
    let mine = env.kinfra(&prod, &["local-prod", "status", "--json"]);
    assert_eq!(mine.json()["state"], "running", "{mine}");
    assert_eq!(
        mine.json()["foreign"].as_array().map(Vec::len),
        Some(0),
        "{mine}"
    );
    assert_eq!(docker_objects("ktrdr-prod"), before);
    assert_eq!(
        running_services("ktrdr-prod").len(),
        crate::harness::shape().local_prod_services
    );
}

#[test]
fn an_orphan_of_our_own_is_cleared_so_no_stale_database_is_inherited() {
    let mut env = docker_env!();
    let repo = env.clone_repo("ktrdr-again");
    env.kinfra(&repo, &["sandbox", "init"]).success();
    env.kinfra(&repo, &["sandbox", "up", "--no-secrets", "--no-wait"])
        .success();
    let db = container_of("ktrdr-again", "db");
    docker(&[
        "exec",
        &db,
        "sh",
        "-c",
        "echo old-password > /var/lib/postgresql/data/marker",
    ]);
    // A crash half-way through a destroy: entry and env file gone, containers left.
    let reg_path = env.registry_path();
    let mut reg = env.registry();
    reg["instances"]
        .as_object_mut()
        .expect("obj")
        .remove("ktrdr-again");
    std::fs::write(&reg_path, serde_json::to_string_pretty(&reg).expect("json")).expect("write");
    std::fs::remove_file(repo.join(".env.sandbox")).expect("rm");

    env.kinfra(&repo, &["sandbox", "init"])
        .success()
        .stderr_has("left over from an earlier ktrdr-again");
    env.kinfra(&repo, &["sandbox", "up", "--no-secrets", "--no-wait"])
        .success();
    let db = container_of("ktrdr-again", "db");
    let out = std::process::Command::new("docker")
        .args(["exec", &db, "cat", "/var/lib/postgresql/data/marker"])
        .output()
        .expect("docker exec");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("No such file"),
        "the old volume was inherited (marker read: {}, {err})",
        String::from_utf8_lossy(&out.stdout)
    );
    // The check above can fail only for the marker: the same exec reads other files.
    let pg = std::process::Command::new("docker")
        .args(["exec", &db, "cat", "/var/lib/postgresql/data/PG_VERSION"])
        .output()
        .expect("docker exec");
    assert!(
        pg.status.success(),
        "{}",
        String::from_utf8_lossy(&pg.stderr)
    );
}
