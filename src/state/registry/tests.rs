use super::*;

const PYTHON_SHAPE: &str = r#"{
  "version": 1,
  "local_prod": {"instance_id": "ktrdr-prod", "slot": 0, "path": "/home/u/ktrdr-prod",
                 "created_at": "2025-01-02T03:04:05.123456", "is_worktree": false, "parent_repo": null},
  "instances": {
    "ktrdr--feat": {"instance_id": "ktrdr--feat", "slot": 2, "path": "/home/u/ktrdr--feat",
                    "created_at": "2025-01-02T03:04:05", "is_worktree": true, "parent_repo": "/home/u/ktrdr"}
  }
}"#;

#[test]
fn reads_the_python_shape() {
    let c = Contents::parse(PYTHON_SHAPE.as_bytes(), Path::new("r.json")).unwrap();
    assert_eq!(c.local_prod.as_ref().unwrap().slot, 0);
    assert_eq!(
        c.instances["ktrdr--feat"].parent_repo.as_deref(),
        Some("/home/u/ktrdr")
    );
    assert_eq!(c.free_slot(10).unwrap(), 1);
    // Written back, every entry keeps exactly the six fields.
    let v: serde_json::Value = serde_json::to_value(&c).unwrap();
    let entry = v["instances"]["ktrdr--feat"].as_object().unwrap();
    assert_eq!(entry.len(), 6);
    assert!(v.get("kinfra").is_none());
}

#[test]
fn kinfra_records_live_beside_the_registry_and_the_legacy_key_moves_there() {
    let home = tempfile::tempdir().unwrap();
    let reg = Registry::new(&Home::at(home.path()));
    std::fs::create_dir_all(reg.path().parent().unwrap()).unwrap();
    // An earlier kinfra kept its records inside the shared file.
    std::fs::write(
            reg.path(),
            r#"{"version":1,"local_prod":null,"instances":{},"kinfra":{"created_worktrees":["/w/a"],"projects":{"a":"/w/a"}}}"#,
        )
        .unwrap();
    assert_eq!(reg.load().unwrap().kinfra.created_worktrees, vec!["/w/a"]);
    reg.update(|c| {
        c.kinfra.projects.insert("b".into(), "/w/b".into());
        Ok(())
    })
    .unwrap();
    let shared: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reg.path()).unwrap()).unwrap();
    assert!(shared.get("kinfra").is_none(), "{shared}");
    let k = reg.load().unwrap().kinfra;
    assert_eq!(k.created_worktrees, vec!["/w/a"]);
    assert_eq!(k.projects.len(), 2);
    // The Python tool rewrites the shared file: kinfra's records stay.
    std::fs::write(
        reg.path(),
        r#"{"version":1,"local_prod":null,"instances":{}}"#,
    )
    .unwrap();
    assert_eq!(reg.load().unwrap().kinfra, k);
    // A side file that does not parse is reported and left as it is.
    std::fs::write(reg.side_path(), "{oops").unwrap();
    assert!(matches!(
        reg.load(),
        Err(StateError::RegistryCorrupt { .. })
    ));
    let r = reg.update(|c| {
        c.kinfra.projects.clear();
        Ok(())
    });
    assert!(r.is_err());
    assert_eq!(std::fs::read_to_string(reg.side_path()).unwrap(), "{oops");
}

#[test]
fn devops_ais_ports_are_found_in_any_shape() {
    let v: serde_json::Value = serde_json::json!({"slots": {"3": {"slot_id": 3, "project": "shop",
            "ports": {"SHOP_WEB_PORT": 31083, "X": "junk"}}}, "other": [{"ports": {"a": 40000}}]});
    let mut out = BTreeMap::new();
    collect_ports(&v, "devops-ai", &mut out);
    assert_eq!(out.keys().copied().collect::<Vec<_>>(), [31083, 40000]);
    assert_eq!(out[&31083], "devops-ai shop slot 3");
}

#[test]
fn version_two_with_its_slot_pool_is_read_and_written_back_as_it_was() {
    let v2 = r#"{"version": 2,
 "local_prod": {"instance_id": "ktrdr-prod", "slot": 0, "path": "/home/dev/ktrdr-prod",
   "created_at": "2026-02-01T10:00:00+00:00", "is_worktree": false, "parent_repo": null},
 "instances": {},
 "slots": {"1": {"slot_id": 1, "infrastructure_path": "/home/dev/.ktrdr/sandboxes/slot-1",
   "profile": "light", "workers": {"backtest": 1, "training": 1},
   "ports": {"api": 8001, "db": 5433}, "claimed_by": "/home/dev/ktrdr-impl-genome-M1",
   "claimed_at": "2026-02-10T09:30:00+00:00", "status": "running"},
   "2": {"slot_id": 2, "infrastructure_path": "/x", "profile": "light", "workers": {},
   "ports": {"api": 8002, "db": 5434}, "claimed_by": null, "claimed_at": null, "status": "stopped"}}}"#;
    let c = Contents::parse(v2.as_bytes(), Path::new("r")).unwrap();
    assert_eq!(c.version, 2);
    assert_eq!(c.local_prod.as_ref().unwrap().instance_id, "ktrdr-prod");
    let pool = c.pool_ports();
    assert_eq!(
        pool.keys().copied().collect::<Vec<_>>(),
        [5433, 5434, 8001, 8002]
    );
    assert!(pool[&8002].starts_with("slot-2"));
    let back: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    let orig: serde_json::Value = serde_json::from_str(v2).unwrap();
    assert_eq!(back, orig, "every key kept, version 2 kept");
}

#[test]
fn refuses_extra_fields_unknown_versions_and_junk() {
    let extra = PYTHON_SHAPE.replace("\"slot\": 2,", "\"slot\": 2, \"x\": 1,");
    assert!(matches!(
        Contents::parse(extra.as_bytes(), Path::new("r")),
        Err(StateError::RegistryCorrupt { .. })
    ));
    let v3 = PYTHON_SHAPE.replace("\"version\": 1", "\"version\": 3");
    assert!(matches!(
        Contents::parse(v3.as_bytes(), Path::new("r")),
        Err(StateError::RegistryVersion { .. })
    ));
    assert!(matches!(
        Contents::parse(&PYTHON_SHAPE.as_bytes()[..50], Path::new("r")),
        Err(StateError::RegistryCorrupt { .. })
    ));
    let wrong_type = PYTHON_SHAPE.replace("\"slot\": 2", "\"slot\": \"2\"");
    assert!(Contents::parse(wrong_type.as_bytes(), Path::new("r")).is_err());
}

#[test]
fn keeps_unknown_top_level_keys() {
    let text = r#"{"version":1,"instances":{},"local_prod":null,"other_tool":{"a":1}}"#;
    let c = Contents::parse(text.as_bytes(), Path::new("r")).unwrap();
    let out = serde_json::to_string(&c).unwrap();
    assert!(out.contains(r#""other_tool":{"a":1}"#), "{out}");
}

#[test]
fn update_writes_atomically_and_failure_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let reg = Registry::new(&Home::at(home.path()));
    reg.update(|c| {
        c.kinfra.projects.insert("p".into(), "/x".into());
        Ok(())
    })
    .unwrap();
    let saved = std::fs::read_to_string(reg.path()).unwrap();
    let r: Result<()> = reg.update(|c| {
        c.kinfra.projects.clear();
        Err(StateError::NoHome { home_var: "X" })
    });
    assert!(r.is_err());
    assert_eq!(std::fs::read_to_string(reg.path()).unwrap(), saved);
}
