//! Registry: concurrency, corruption, the Python tool's shape. No Docker needed.

use std::collections::BTreeSet;

use crate::harness::Env;

#[test]
fn ten_parallel_inits_get_ten_slots_and_the_eleventh_is_refused() {
    let mut env = Env::new();
    let dirs: Vec<_> = (0..11)
        .map(|i| env.clone_repo(&format!("ktrdr-c{i}")))
        .collect();
    let env = &env;
    let runs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = dirs[..10]
            .iter()
            .map(|d| s.spawn(move || env.kinfra(d, &["sandbox", "init"])))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    for r in &runs {
        r.success();
    }
    let reg = env.registry();
    let instances = reg["instances"].as_object().expect("instances");
    assert_eq!(instances.len(), 10, "{reg:#}");
    let slots: BTreeSet<u64> = instances
        .values()
        .map(|e| e["slot"].as_u64().expect("slot"))
        .collect();
    assert_eq!(slots, (1..=10).collect());
    // Each .env.sandbox agrees with its registry slot and the ports table.
    for e in instances.values() {
        let path = std::path::Path::new(e["path"].as_str().expect("path"));
        let text = std::fs::read_to_string(path.join(".env.sandbox")).expect("env file");
        let slot = e["slot"].as_u64().expect("slot");
        assert!(text.contains(&format!("SLOT_NUMBER={slot}\n")), "{text}");
        assert!(
            text.contains(&format!("KTRDR_API_PORT={}\n", 8000 + slot)),
            "{text}"
        );
        assert!(
            text.contains(&format!("KTRDR_WORKER_PORT_1={}\n", 5011 + 10 * (slot - 1))),
            "{text}"
        );
        assert!(!text.contains("KTRDR_WORKER_PORT_5"), "{text}");
        assert_eq!(
            e.as_object().expect("entry").len(),
            6,
            "entry has exactly the six fields"
        );
    }
    let r = env.kinfra(&dirs[10], &["sandbox", "init"]);
    r.code(1)
        .stderr_has("all 10 sandbox slots are in use")
        .stderr_has("1=");
    assert!(!dirs[10].join(".env.sandbox").exists());
}

#[test]
fn a_corrupt_registry_is_left_byte_for_byte() {
    let mut env = Env::new();
    let dir = env.clone_repo("ktrdr-a");
    std::fs::create_dir_all(env.registry_path().parent().expect("parent")).expect("mkdir");
    for junk in [
        &b"{\"version\": 1, \"instances\": {"[..],
        &b"\xff\xfe not json"[..],
        &br#"{"version": 1, "local_prod": null, "instances": {"x": {"instance_id": "x", "slot": 1, "path": "/x", "created_at": "t", "is_worktree": false, "parent_repo": null, "extra": 1}}}"#[..],
        &br#"{"version": 1, "local_prod": null, "instances": {"x": {"instance_id": "x", "slot": "one", "path": "/x", "created_at": "t", "is_worktree": false, "parent_repo": null}}}"#[..],
    ] {
        std::fs::write(env.registry_path(), junk).expect("write");
        let r = env.kinfra(&dir, &["sandbox", "init"]);
        r.code(6).stderr_has("instances.json").stderr_has("left as it is").no_panic();
        assert_eq!(std::fs::read(env.registry_path()).expect("read"), junk);
        assert!(!dir.join(".env.sandbox").exists());
        env.kinfra(&dir, &["sandbox", "list"]).code(6);
        assert_eq!(std::fs::read(env.registry_path()).expect("read"), junk);
    }
    // The Python tool's later releases write version 2: named, explained, untouched.
    let v2 = br#"{"version": 2, "slots": {"1": null}, "instances": {}}"#;
    std::fs::write(env.registry_path(), v2).expect("write");
    for args in [&["sandbox", "init"][..], &["sandbox", "list"][..]] {
        env.kinfra(&dir, args)
            .code(6)
            .stderr_has("version 2")
            .stderr_has(&env.registry_path().display().to_string())
            .stderr_has("Python sandbox tool")
            .stderr_has("KINFRA_HOME");
    }
    assert_eq!(std::fs::read(env.registry_path()).expect("read"), v2);
    assert!(!dir.join(".env.sandbox").exists());
}

#[test]
fn kinfras_records_survive_the_python_tool_rewriting_the_registry() {
    let mut env = crate::docker_env!();
    let repo = env.clone_repo("ktrdr-coexist");
    let wt = env.create_sandbox(&repo, "mine");
    // What the Python tool writes back: its own keys only.
    let reg = env.registry();
    assert!(
        reg.get("kinfra").is_none(),
        "kinfra's records stay out of the shared file: {reg}"
    );
    let python_rewrite = serde_json::json!({
        "version": reg["version"],
        "local_prod": reg["local_prod"],
        "instances": reg["instances"],
    });
    std::fs::write(
        env.registry_path(),
        serde_json::to_string_pretty(&python_rewrite).expect("json"),
    )
    .expect("write");
    // kinfra still knows it created the worktree, so destroy removes it.
    env.kinfra(&repo, &["sandbox", "destroy", "mine"])
        .success()
        .stderr_has("worktree");
    assert!(!wt.exists(), "kinfra's own worktree was kept");
    assert!(env.registry()["instances"].get("ktrdr--mine").is_none());
}

#[test]
fn a_legacy_kinfra_key_is_read_and_moved_beside_the_registry() {
    let mut env = crate::docker_env!();
    let repo = env.clone_repo("ktrdr-legacy");
    let wt = env.create_sandbox(&repo, "old");
    // As an earlier kinfra left it: records inside the shared file, no side file.
    let side = env.registry_path().with_file_name("kinfra.json");
    let records: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&side).expect("side file")).expect("json");
    let mut reg = env.registry();
    reg["kinfra"] = serde_json::json!({
        "created_worktrees": records["created_worktrees"],
        "projects": records["projects"],
    });
    std::fs::write(env.registry_path(), reg.to_string()).expect("write");
    std::fs::remove_file(&side).expect("rm side file");
    env.kinfra(&repo, &["sandbox", "create", "new"]).success();
    assert!(env.registry().get("kinfra").is_none(), "the key moved");
    let moved = std::fs::read_to_string(&side).expect("side file written");
    assert!(moved.contains(&wt.display().to_string()), "{moved}");
    env.kinfra(&repo, &["sandbox", "destroy", "old"]).success();
    assert!(!wt.exists());
}

#[test]
fn the_python_tools_registry_is_read_and_kept_in_shape() {
    let mut env = Env::new();
    let dir = env.clone_repo("ktrdr-py");
    let python = format!(
        r#"{{
  "version": 1,
  "local_prod": {{"instance_id": "ktrdr-prod", "slot": 0, "path": "{gone}/ktrdr-prod", "created_at": "2025-03-01T10:00:00.123456", "is_worktree": false, "parent_repo": null}},
  "instances": {{
    "ktrdr--old": {{"instance_id": "ktrdr--old", "slot": 1, "path": "{gone}/ktrdr--old", "created_at": "2025-03-02T10:00:00", "is_worktree": true, "parent_repo": "{gone}/ktrdr"}}
  }}
}}"#,
        gone = env.base().join("gone").display()
    );
    std::fs::create_dir_all(env.registry_path().parent().expect("p")).expect("mkdir");
    std::fs::write(env.registry_path(), &python).expect("write");
    let list = env.kinfra(&dir, &["sandbox", "list", "--json"]);
    list.success();
    let v = list.json();
    let rows = v["instances"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["instance_id"], "ktrdr-prod");
    assert_eq!(rows[1]["slot"], 1);
    assert_eq!(rows[1]["state"], "directory missing");
    // A new init takes the lowest free slot and keeps the Python entries intact.
    env.kinfra(&dir, &["sandbox", "init"]).success();
    let reg = env.registry();
    assert_eq!(reg["instances"]["ktrdr-py"]["slot"], 2);
    assert_eq!(
        reg["instances"]["ktrdr--old"]["created_at"],
        "2025-03-02T10:00:00"
    );
    for e in reg["instances"].as_object().expect("o").values() {
        assert_eq!(e.as_object().expect("entry").len(), 6);
    }
}

#[test]
fn a_registry_behind_a_symlink_is_refused() {
    let mut env = Env::new();
    let dir = env.clone_repo("ktrdr-s");
    let elsewhere = env.base().join("elsewhere.json");
    std::fs::write(
        &elsewhere,
        r#"{"version":1,"local_prod":null,"instances":{}}"#,
    )
    .expect("write");
    std::fs::create_dir_all(env.registry_path().parent().expect("p")).expect("mkdir");
    std::os::unix::fs::symlink(&elsewhere, env.registry_path()).expect("symlink");
    env.kinfra(&dir, &["sandbox", "init"])
        .code(6)
        .stderr_has("symbolic link");
    assert_eq!(
        std::fs::read_to_string(&elsewhere).expect("read"),
        r#"{"version":1,"local_prod":null,"instances":{}}"#
    );
}
