//! Docker engines on other machines, reached over SSH: the "remote" is a second engine
//! in a network namespace with an sshd beside it (`scripts/remote-engine.sh`), so the
//! traffic stays on this machine (10.253.0.0/30) while every call goes through SSH.

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

/// The remote engine is one for all these tests: one at a time.
fn remote_env() -> Option<(Env, String, std::sync::MutexGuard<'static, ()>)> {
    static REMOTE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let url = remote_url()?;
    let guard = REMOTE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let env = Env::with_docker()?;
    Some((env, url, guard))
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
    let Some((env, url, _g)) = remote_env() else {
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
