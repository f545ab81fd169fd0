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
    // A version from a newer tool: named, explained, untouched.
    let v3 = br#"{"version": 3, "slots": {"1": null}, "instances": {}}"#;
    std::fs::write(env.registry_path(), v3).expect("write");
    for args in [&["sandbox", "init"][..], &["sandbox", "list"][..]] {
        env.kinfra(&dir, args)
            .code(6)
            .stderr_has("version 3")
            .stderr_has(&env.registry_path().display().to_string())
            .stderr_has("Python sandbox tool")
            .stderr_has("KINFRA_HOME");
    }
    assert_eq!(std::fs::read(env.registry_path()).expect("read"), v3);
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

/// A reader built as the Python tools' loader builds the registry: each instance
/// entry with exactly its six fields (an extra one is a TypeError: the whole file
/// "corrupt"), slot entries read key by key.
const PYTHON_READER: &str = r#"
import json, sys
from dataclasses import dataclass

@dataclass
class Instance:
    instance_id: str
    slot: int
    path: str
    created_at: str
    is_worktree: bool
    parent_repo: object

d = json.load(open(sys.argv[1]))
assert d["version"] == 2, d["version"]
if d.get("local_prod"):
    Instance(**d["local_prod"])
for v in d["instances"].values():
    Instance(**v)
for s in d["slots"].values():
    [s[k] for k in ("slot_id", "infrastructure_path", "profile", "workers", "ports", "claimed_by", "claimed_at", "status")]
print(len(d["instances"]), len(d["slots"]))
"#;

#[test]
fn a_version_two_registry_with_a_slot_pool_is_extended_and_still_loads_in_python() {
    let mut env = Env::new();
    let repo = env.clone_repo("ktrdr-pool");
    let v2 = serde_json::json!({"version": 2,
        "local_prod": {"instance_id": "ktrdr-prod", "slot": 0, "path": "/home/dev/ktrdr-prod",
            "created_at": "2026-02-01T10:00:00+00:00", "is_worktree": false, "parent_repo": null},
        "instances": {},
        "slots": {
            "1": {"slot_id": 1, "infrastructure_path": "/home/dev/.ktrdr/sandboxes/slot-1", "profile": "light",
                  "workers": {"backtest": 1, "training": 1}, "ports": {"api": 8001, "db": 5433},
                  "claimed_by": "/home/dev/ktrdr-impl-genome-M1", "claimed_at": "2026-02-10T09:30:00+00:00", "status": "running"},
            "2": {"slot_id": 2, "infrastructure_path": "/home/dev/.ktrdr/sandboxes/slot-2", "profile": "light",
                  "workers": {"backtest": 1, "training": 1}, "ports": {"api": 8002, "db": 5434},
                  "claimed_by": null, "claimed_at": null, "status": "stopped"}}});
    std::fs::create_dir_all(env.registry_path().parent().expect("dir")).expect("mkdir");
    std::fs::write(
        env.registry_path(),
        serde_json::to_vec_pretty(&v2).expect("json"),
    )
    .expect("write");
    let reader = env.base().join("python_reader.py");
    std::fs::write(&reader, PYTHON_READER).expect("write");
    let python = |expect: &str| {
        let out = std::process::Command::new("python3")
            .arg(&reader)
            .arg(env.registry_path())
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "the Python-shaped reader refused the registry: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expect);
    };
    python("0 2");
    // The pool is shown as the Python tool's, never as kinfra's.
    let list = env
        .kinfra(&repo, &["sandbox", "list", "--json"])
        .success()
        .json();
    let pooled: Vec<&serde_json::Value> = list["instances"]
        .as_array()
        .expect("array")
        .iter()
        .filter(|r| r["kind"] == "pool slot")
        .collect();
    assert_eq!(pooled.len(), 2, "{list}");
    assert_eq!(pooled[0]["instance_id"], "slot-1");
    assert_eq!(pooled[0]["api_port"], 8001);
    assert!(
        pooled[0]["project"]
            .as_str()
            .unwrap_or("")
            .contains("Python tool's slot pool")
    );
    // The pool's ports are taken, claimed or not: kinfra's sandbox skips slots 1 and 2.
    env.kinfra(&repo, &["sandbox", "create", "a"]).success();
    let reg = env.registry();
    assert_eq!(reg["version"], 2, "never version 1 over version 2: {reg}");
    assert_eq!(reg["slots"], v2["slots"], "the pool is kept as it was");
    assert_eq!(reg["local_prod"], v2["local_prod"]);
    assert_eq!(reg["instances"]["ktrdr--a"]["slot"], 3, "{reg}");
    python("1 2");
    // Names the Python tools use for their pooled slots are theirs.
    env.kinfra(&repo, &["sandbox", "create", "slot-4"])
        .code(2)
        .stderr_has("pooled slots");
    env.kinfra(&repo, &["sandbox", "destroy", "a"]).success();
    let reg = env.registry();
    assert_eq!(reg["version"], 2);
    assert_eq!(reg["slots"], v2["slots"]);
    assert!(
        reg["instances"].as_object().is_some_and(|o| o.is_empty()),
        "{reg}"
    );
    python("0 2");
}
