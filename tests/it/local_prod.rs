//! local-prod end to end, including the destroy incident that lost a week of work.

use crate::docker_env;
use crate::harness::{docker_objects, git, running_services, snapshot};

#[test]
fn local_prod_lifecycle_and_destroy_from_a_sandbox() {
    let mut env = docker_env!();
    let prod = env.clone_repo("ktrdr-prod");

    // init in a clone: slot 0, standard ports, eight workers.
    env.kinfra(&prod, &["local-prod", "init"]).success();
    let text = std::fs::read_to_string(prod.join(".env.sandbox")).expect("env");
    assert!(
        text.contains("SLOT_NUMBER=0\n") && text.contains("KTRDR_API_PORT=8000\n"),
        "{text}"
    );
    for (i, port) in crate::harness::shape().local_prod_workers.enumerate() {
        assert!(
            text.contains(&format!("KTRDR_WORKER_PORT_{}={port}\n", i + 1)),
            "{text}"
        );
    }
    assert!(
        text.contains("INSTANCE_ID=ktrdr-prod\n")
            && text.contains("COMPOSE_PROJECT_NAME=ktrdr-prod\n")
    );
    let reg = env.registry();
    assert_eq!(reg["local_prod"]["slot"], 0);
    assert_eq!(reg["local_prod"]["is_worktree"], false);
    assert_eq!(reg["local_prod"]["path"], prod.display().to_string());

    // A second init anywhere: the singleton is taken (exit 1, naming the path).
    let other = env.clone_repo("ktrdr-other");
    env.kinfra(&other, &["local-prod", "init"])
        .code(1)
        .stderr_has(&prod.display().to_string());

    // A worktree is refused: it must be a clone (exit 2).
    let wt = env.work.join("ktrdr-wt");
    git(
        &prod,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "wt",
            wt.to_str().expect("utf8"),
        ],
    );
    env.kinfra(&wt, &["local-prod", "init"])
        .code(2)
        .stderr_has("must be a clone");

    // up: gate passes; mcp-local (no profile) and the profile service run.
    env.kinfra(
        &prod,
        &["local-prod", "up", "--no-secrets", "--timeout", "90"],
    )
    .success()
    .stderr_has("backend    passed")
    .stderr_has("workers    passed");
    let running = running_services("ktrdr-prod");
    for svc in crate::harness::shape().local_prod_runs {
        assert!(
            running.contains(&svc.to_string()),
            "{svc} not running: {running:?}"
        );
    }
    // There is one local-prod: found from any directory, a sandbox's included.
    let anywhere = env.kinfra(&env.work, &["local-prod", "status", "--json"]);
    anywhere.success();
    assert_eq!(anywhere.json()["instance_id"], "ktrdr-prod", "{anywhere}");
    assert_eq!(
        anywhere.json()["path"],
        prod.display().to_string(),
        "{anywhere}"
    );
    env.kinfra(&env.work, &["local-prod", "logs", "backend", "-n", "1"])
        .success();
    let st = env.kinfra(&prod, &["local-prod", "status", "--json"]);
    st.success();
    assert_eq!(st.json()["state"], "running");
    assert_eq!(st.json()["slot"], 0);

    // down: the profile service stops too.
    env.kinfra(&prod, &["local-prod", "down"]).success();
    assert!(
        running_services("ktrdr-prod").is_empty(),
        "{:?}",
        running_services("ktrdr-prod")
    );
    env.kinfra(&prod, &["local-prod", "up", "--no-secrets", "--no-wait"])
        .success();

    // A sandbox with uncommitted work, beside it.
    let sb_create = env.kinfra(&prod, &["sandbox", "create", "precious"]);
    sb_create.success();
    let sandbox = env.work.join("ktrdr--precious");
    std::fs::write(sandbox.join("WORK_IN_PROGRESS.md"), "days of unpushed work").expect("write");
    git(&sandbox, &["add", "WORK_IN_PROGRESS.md"]);
    git(&sandbox, &["commit", "-q", "-m", "unpushed"]);
    std::fs::write(sandbox.join("uncommitted.txt"), "more").expect("write");
    let before = snapshot(&sandbox);

    // destroy, run from inside the sandbox, acts on the registered local-prod.
    let r = env.kinfra(&sandbox, &["local-prod", "destroy", "--force"]);
    r.success()
        .stderr_has(&format!("Destroying local-prod at {}", prod.display()));
    assert!(
        docker_objects("ktrdr-prod").is_empty(),
        "{:?}",
        docker_objects("ktrdr-prod")
    );
    assert!(!prod.join(".env.sandbox").exists());
    assert!(
        prod.join(".git").is_dir() && prod.join("docker-compose.sandbox.yml").is_file(),
        "clone intact"
    );
    assert!(env.registry()["local_prod"].is_null());
    assert_eq!(
        snapshot(&sandbox),
        before,
        "the sandbox must be byte-for-byte unchanged"
    );
    assert!(env.registry()["instances"]["ktrdr--precious"].is_object());

    // Destroy from inside local-prod works too.
    env.kinfra(&prod, &["local-prod", "init"]).success();
    env.kinfra(&prod, &["local-prod", "destroy"])
        .code(2)
        .stderr_has("--force");
    env.kinfra(&prod, &["local-prod", "destroy", "--force"])
        .success();
    assert!(env.registry()["local_prod"].is_null());
    assert!(prod.join(".git").is_dir());
    assert_eq!(snapshot(&sandbox), before);
}
