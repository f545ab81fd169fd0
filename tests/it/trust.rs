//! Trust: a failed start never costs data, one operation per instance at a time, and
//! a remote Docker endpoint is refused before anything starts.

use std::path::PathBuf;

use crate::docker_env;
use crate::harness::{
    BIN, Env, Paused, add_unstartable_service, assert_marked, docker_objects, git, mark_volumes,
    running_services,
};

/// A sandbox `ktrdr--NAME` that ran once (so its volumes exist), with a marker in
/// every volume, stopped again: its worktree and the marked volumes.
fn stopped_sandbox_with_data(env: &mut Env, name: &str) -> (PathBuf, Vec<String>) {
    let repo = env.clone_repo(&format!("ktrdr-{name}"));
    let wt = env.create_sandbox(&repo, name);
    env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
        .success();
    let vols = mark_volumes(&format!("ktrdr--{name}"));
    env.kinfra(&wt, &["sandbox", "down"]).success();
    (wt, vols)
}

#[test]
fn a_failed_start_keeps_every_volume_that_held_data() {
    let mut env = docker_env!();
    let repo = env.clone_repo("ktrdr-keep");
    let wt = env.create_sandbox(&repo, "data");
    env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
        .success();
    let vols = mark_volumes("ktrdr--data");

    // 1. The gate fails on a running instance (the backend's endpoint breaks).
    let workers = wt.join("backend/www/api/v1/workers");
    let workers_text = std::fs::read(&workers).expect("read");
    std::fs::remove_file(&workers).expect("rm");
    let r = env.kinfra(&wt, &["sandbox", "up", "--no-secrets", "--timeout", "3"]);
    r.code(2)
        .stderr_has("startability gate failed")
        .stderr_has("kept (data from before this start)")
        .stderr_has("--keep-on-failure")
        .stderr_has("logs SERVICE");
    assert_marked(&vols, &r);
    assert!(
        !r.stderr
            .contains("Removing the failed start's containers and volumes"),
        "{r}"
    );

    // 2. The gate fails after `down` (containers gone, volumes kept): the containers
    // this start created go, the volumes stay.
    env.kinfra(&wt, &["sandbox", "down"]).success();
    let r = env.kinfra(&wt, &["sandbox", "up", "--no-secrets", "--timeout", "3"]);
    r.code(2).stderr_has(&format!(
        "removed {} new container(s)",
        crate::harness::shape().sandbox_services
    ));
    assert_marked(&vols, &r);
    assert!(running_services("ktrdr--data").is_empty(), "{r}");

    // 3. Compose itself fails part-way: new containers go, old volumes stay.
    std::fs::write(&workers, &workers_text).expect("restore");
    add_unstartable_service(&wt);
    let r = env.kinfra(&wt, &["sandbox", "up", "--no-secrets", "--timeout", "30"]);
    r.code(1)
        .stderr_has("docker compose failed")
        .stderr_has("last log lines of unstartable");
    assert_marked(&vols, &r);
    assert!(running_services("ktrdr--data").is_empty(), "{r}");
    assert!(
        !docker_objects("ktrdr--data")
            .iter()
            .any(|o| o.contains("unstartable")),
        "the container this start created is removed: {:?}",
        docker_objects("ktrdr--data")
    );
    // The data is still there for the next good start, which shows compose's
    // progress (each container) under its step while compose works.
    git(&wt, &["checkout", "--", "docker-compose.sandbox.yml"]);
    let good = env.kinfra(&wt, &["sandbox", "up", "--no-secrets"]);
    good.success();
    let from = good.stderr.find("==> Starting containers").expect("step");
    let to = good
        .stderr
        .find("==> Running post-start")
        .expect("next step");
    let progress = &good.stderr[from..to];
    for svc in ["db", "backend", crate::harness::shape().side_service] {
        assert!(progress.contains(svc), "no progress for {svc}:\n{good}");
    }
    assert_marked(&vols, &"after a good start");
}

#[test]
fn a_failed_local_prod_start_keeps_its_database() {
    let mut env = docker_env!();
    let prod = env.clone_repo("ktrdr-prod");
    env.kinfra(&prod, &["local-prod", "init"]).success();
    env.kinfra(&prod, &["local-prod", "up", "--no-secrets"])
        .success();
    let vols = mark_volumes("ktrdr-prod");
    assert!(vols.iter().any(|v| v.contains("postgres_data")), "{vols:?}");

    std::fs::remove_file(prod.join("backend/www/api/v1/health")).expect("rm");
    let r = env.kinfra(
        &prod,
        &["local-prod", "up", "--no-secrets", "--timeout", "3"],
    );
    r.code(2)
        .stderr_has("postgres_data")
        .stderr_has("kept (data from before this start)");
    assert_marked(&vols, &r);

    // Volumes go only on purpose: `down --volumes` refuses without a terminal or --yes.
    let r = env.kinfra(&prod, &["local-prod", "down", "--volumes"]);
    r.code(2).stderr_has("--yes");
    assert_marked(&vols, &r);
    env.kinfra(&prod, &["local-prod", "down", "--volumes", "--yes"])
        .success();
    assert!(docker_objects("ktrdr-prod").is_empty());
}

#[test]
fn a_first_start_that_fails_removes_only_what_it_created() {
    let mut env = docker_env!();
    let repo = env.clone_repo("ktrdr-fresh");
    let wt = env.create_sandbox(&repo, "fresh");
    std::fs::remove_file(wt.join("backend/www/api/v1/workers")).expect("rm");
    env.kinfra(&wt, &["sandbox", "up", "--no-secrets", "--timeout", "3"])
        .code(2)
        .stderr_has("removed");
    // Every object was this command's: none is left, and the slot is kept.
    assert!(
        docker_objects("ktrdr--fresh").is_empty(),
        "{:?}",
        docker_objects("ktrdr--fresh")
    );
    assert!(env.registry()["instances"]["ktrdr--fresh"].is_object());
}

#[test]
fn two_commands_on_one_instance_take_turns() {
    let mut env = docker_env!();
    let (wt, vols) = stopped_sandbox_with_data(&mut env, "turns");

    // The first `up` holds the instance (stopped just after compose started it).
    let first = Paused::start(
        &env,
        BIN,
        &wt,
        &["sandbox", "up", "--no-secrets"],
        "up:started",
        &[],
    );
    let first_pid = first.child.id();
    // A second one waits for it, names it, and gives up after its bound (exit 1).
    let r = env.kinfra_env(
        &wt,
        &["sandbox", "up", "--no-secrets"],
        &[("KINFRA_LOCK_WAIT", "1")],
    );
    r.code(1)
        .stderr_has("is busy")
        .stderr_has(&format!("kinfra `up` (pid {first_pid})"));
    env.kinfra_env(&wt, &["sandbox", "down"], &[("KINFRA_LOCK_WAIT", "1")])
        .code(1)
        .stderr_has("is busy");
    // Read commands never wait.
    env.kinfra_env(&wt, &["sandbox", "status"], &[("KINFRA_LOCK_WAIT", "0")])
        .success();
    env.kinfra_env(&wt, &["sandbox", "list"], &[("KINFRA_LOCK_WAIT", "0")])
        .success();
    env.kinfra_env(
        &wt,
        &["sandbox", "logs", "-n", "1"],
        &[("KINFRA_LOCK_WAIT", "0")],
    )
    .success();

    // A second `up` that waits long enough runs after the first, on its stack. The
    // first is let go only once the second says it is waiting for it.
    let log = env.base().join("second-up.stderr");
    let mut second = env
        .command(BIN, &wt, &["sandbox", "up", "--no-secrets"], &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    let waiting = format!("waiting for kinfra `up` (pid {first_pid})");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains(&waiting)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the second up never waited:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, err) = first.resume();
    assert_eq!(code, 0, "first up failed:\n{err}");
    let status = second.wait().expect("second up");
    let second_err = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "second up failed:\n{second_err}");
    assert_marked(&vols, &second_err);
    assert_eq!(
        running_services("ktrdr--turns").len(),
        crate::harness::shape().sandbox_services,
        "{second_err}"
    );

    // A killed holder releases the lock at once.
    env.kinfra(&wt, &["sandbox", "down"]).success();
    Paused::start(
        &env,
        BIN,
        &wt,
        &["sandbox", "up", "--no-secrets"],
        "up:recorded",
        &[],
    )
    .kill();
    env.kinfra_env(
        &wt,
        &["sandbox", "up", "--no-secrets"],
        &[("KINFRA_LOCK_WAIT", "5")],
    )
    .success();
    assert_marked(&vols, &"after a killed up and a rerun");
}

#[test]
fn a_remote_docker_endpoint_is_refused_before_anything_starts() {
    let mut env = docker_env!();
    let repo = env.clone_repo("ktrdr-remote");
    let wt = env.create_sandbox(&repo, "far");
    // DOCKER_HOST on another machine (a documentation address: never dialled).
    let r = env.kinfra_env(
        &wt,
        &["sandbox", "up", "--no-secrets"],
        &[("DOCKER_HOST", "tcp://192.0.2.10:2376")],
    );
    r.code(7)
        .stderr_has("tcp://192.0.2.10:2376")
        .stderr_has("DOCKER_HOST")
        .stderr_has("not this machine")
        .stderr_has("docker context use default");
    // A selected context on another machine, in the docker CLI's own files.
    let docker_dir = env.home.join(".docker");
    let meta = docker_dir.join("contexts/meta/0123abcd");
    std::fs::create_dir_all(&meta).expect("mkdir");
    std::fs::write(
        meta.join("meta.json"),
        r#"{"Name":"build-box","Metadata":{},"Endpoints":{"docker":{"Host":"ssh://me@build-box.example","SkipTLSVerify":false}}}"#,
    )
    .expect("write");
    std::fs::write(
        docker_dir.join("config.json"),
        r#"{"currentContext":"build-box"}"#,
    )
    .expect("write");
    let cfg = docker_dir.display().to_string();
    env.kinfra_env(
        &wt,
        &["sandbox", "up", "--no-secrets"],
        &[("DOCKER_CONFIG", &cfg)],
    )
    .code(7)
    .stderr_has("ssh://me@build-box.example")
    .stderr_has("docker context build-box");
    assert!(running_services("ktrdr--far").is_empty());
    // A local endpoint spelled out works as before.
    std::fs::remove_file(docker_dir.join("config.json")).expect("rm");
    env.kinfra_env(
        &wt,
        &["sandbox", "up", "--no-secrets", "--no-wait"],
        &[("DOCKER_HOST", "unix:///var/run/docker.sock")],
    )
    .success();
}

#[test]
fn an_interrupted_start_is_undone_and_keeps_the_data() {
    let mut env = docker_env!();
    let (wt, vols) = stopped_sandbox_with_data(&mut env, "ctrlc");
    // Ctrl-C once compose has started the stack, before the gate.
    let mut p = Paused::start(
        &env,
        BIN,
        &wt,
        &["sandbox", "up", "--no-secrets"],
        "up:gate",
        &[],
    );
    // Resumed once kinfra has noted it: a gate whose checks all pass at once must
    // still undo the start (it finished "up and ready" under load before).
    p.interrupt();
    let (code, err) = p.resume();
    assert_eq!(code, 130, "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(err.contains("kept (data from before this start)"), "{err}");
    assert!(running_services("ktrdr--ctrlc").is_empty(), "{err}");
    assert_marked(&vols, &err);
}

#[test]
fn a_moved_local_prod_clone_never_costs_its_database() {
    let mut env = docker_env!();
    let prod = env.clone_repo("ktrdr-prod");
    env.kinfra(&prod, &["local-prod", "init"]).success();
    env.kinfra(&prod, &["local-prod", "up", "--no-secrets"])
        .success();
    let vols = mark_volumes("ktrdr-prod");
    // The user moves the clone while it runs: prune frees the registration and the
    // containers, and keeps local-prod's volumes.
    let moved = env.work.join("ktrdr-prod-moved");
    std::fs::rename(&prod, &moved).expect("mv");
    let r = env.kinfra(&env.work, &["sandbox", "prune"]);
    r.success().stdout_has("local-prod's volumes are kept");
    assert_marked(&vols, &r);
    assert!(running_services("ktrdr-prod").is_empty(), "{r}");
    assert!(env.registry()["local_prod"].is_null(), "{r}");
    // A new local-prod of the moved clone takes the data over.
    std::fs::remove_file(moved.join(".env.sandbox")).expect("rm");
    env.kinfra(&moved, &["local-prod", "init"])
        .success()
        .stderr_has("are kept");
    env.kinfra(&moved, &["local-prod", "up", "--no-secrets"])
        .success();
    assert_marked(&vols, &"after init and up in the moved clone");
    env.kinfra(&moved, &["sandbox", "prune"])
        .success()
        .stdout_has("Nothing to prune");
}

#[test]
fn a_person_at_a_terminal_confirms_what_loses_data() {
    let mut env = docker_env!();
    let prod = env.clone_repo("ktrdr-prod");
    env.kinfra(&prod, &["local-prod", "init"]).success();
    env.kinfra(&prod, &["local-prod", "up", "--no-secrets", "--no-wait"])
        .success();
    let vols = mark_volumes("ktrdr-prod");
    // `local-prod down --volumes` asks; "n" keeps everything.
    let (code, t) = env.in_pty(
        BIN,
        &prod,
        &["local-prod", "down", "--volumes"],
        // A stray word is asked again; "n" keeps everything.
        serde_json::json!([["remove its volumes", "maybe\r"], ["answer y or n", "n\r"]]),
    );
    assert_eq!(code, 1, "{t}");
    assert!(t.contains("Nothing was changed"), "{t}");
    assert_marked(&vols, &t);
    // `sandbox destroy` asks at a terminal too, naming the worktree; "n" keeps it.
    let wt = env.create_sandbox(&prod, "asked");
    let (code, t) = env.in_pty(
        BIN,
        &wt,
        &["sandbox", "destroy"],
        serde_json::json!([["Destroy sandbox ktrdr--asked", "n\r"]]),
    );
    assert_eq!(code, 1, "{t}");
    assert!(t.contains(&wt.display().to_string()), "{t}");
    assert!(wt.is_dir() && env.registry()["instances"]["ktrdr--asked"].is_object());
    // At a terminal compose's progress is one line redrawn in place.
    let (code, t) = env.in_pty(
        BIN,
        &wt,
        &["sandbox", "up", "--no-secrets", "--no-wait"],
        serde_json::json!([]),
    );
    assert_eq!(code, 0, "{t}");
    assert!(t.contains("compose: "), "{t}");
    // -y skips the question.
    let (code, t) = env.in_pty(
        BIN,
        &wt,
        &["sandbox", "destroy", "-y"],
        serde_json::json!([]),
    );
    assert_eq!(code, 0, "{t}");
    assert!(!wt.exists(), "{t}");
}
